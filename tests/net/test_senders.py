"""Every sender over a real veth pair: the venue publishes a simulator session in burst from the
"exchange" namespace, a receiver in the "host" namespace keeps the books; they must equal the
simulator's own. The AF_PACKET TX ring's frames also go through the packet receiver, which
parses every header itself and counts anything malformed."""

from __future__ import annotations

import pytest
from test_veth_transports import books_over_veth  # the same venue and listener

pytestmark = pytest.mark.net

GROUP, PORT = "233.54.12.1", 26400
MESSAGES, SYMBOLS, SEED = 20_000, 20, 11


CASES = [
    ("socket", "busypoll", "group"),
    ("sendto", "busypoll", "group"),
    ("sendmmsg", "busypoll", "group"),
    ("packet", "packet", "group"),
    ("packet", "busypoll", "unicast"),  # the destination MAC from the neighbour table
    ("xdp", "packet", "group"),
    ("xdp", "xdp", "unicast"),
    # the venue on DPDK, stamping through the ITCH stamper; both ends on DPDK: two EALs, two
    # processes (the DPDK sender to another receiver adds only a cold compile)
    ("dpdk", "dpdk", "group"),
]


@pytest.mark.parametrize(("sender", "transport", "dest"), CASES,
                         ids=["-".join(c) for c in CASES])
def test_each_sender_delivers_books_equal_to_the_simulator(veth, sender, transport, dest):
    host = GROUP if dest == "group" else veth.host_ip
    result, venue = books_over_veth(veth, transport, host, MESSAGES, SYMBOLS, SEED,
                                    "--sender", sender)
    assert f"sender {sender}" in venue
    assert result["messages"] == MESSAGES
    assert result["gaps"] == 0 and result["ended"] and result["equal"]
    assert result["samples"] > 0
    assert result["malformed"] == 0 and result["truncated"] == 0


def test_wire_bench_records_the_sender(veth):
    from tickpath.apps.wirebench import run_wire_bench

    rows = run_wire_bench(["busypoll"], loads=("paced",), paced_messages=1000,
                          sender="socket,sendmmsg", status=lambda s: None)
    assert [(r["sender"], r["transport"]) for r in rows] == [("socket", "busypoll"),
                                                             ("sendmmsg", "busypoll")]
    assert all(r["received"] + r["drops"] == r["sent"] == 1000 for r in rows)
