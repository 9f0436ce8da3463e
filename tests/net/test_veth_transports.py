"""Every transport over a real veth pair: the venue publishes multicast in the "exchange"
namespace, a receiver in the "host" namespace keeps the books; they must equal the
simulator's own."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap

import pytest

from tickpath.wire.transports import AVAILABLE

pytestmark = pytest.mark.net

GROUP, PORT = "233.54.12.1", 26400
MESSAGES, SYMBOLS, SEED = 20_000, 20, 9

LISTENER = textwrap.dedent("""
    import json, sys
    from tickpath import BookStore, ItchHandler, Simulator
    from tickpath.apps.listener import FeedListener
    from tickpath.wire.transports import open_receiver

    transport, group, port, iface_ip = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    messages, symbols, seed = map(int, sys.argv[5:8])
    handler = ItchHandler(BookStore(max_orders=1 << 16, errors="skip"), errors="skip")
    rx = open_receiver(transport, group, port, iface_ip=iface_ip)
    lst = FeedListener(rx, handler)
    lst.warm_up()
    print("ready", flush=True)
    rep = lst.run(duration=120, idle_timeout=10)
    stats = rx.stats() if hasattr(rx, "stats") else {}
    sim = Simulator(symbols=symbols, messages=messages, seed=seed)
    sim.blocks()
    got = {b["locate"]: b for b in handler.books.books()}
    print(json.dumps({"messages": rep.messages, "gaps": rep.session["gaps"],
                      "ended": rep.ended, "equal": got == sim.books(),
                      "samples": int(rep.latency_ns.size),
                      "malformed": stats.get("malformed", 0),
                      "truncated": stats.get("truncated", 0)}), flush=True)
""")


def books_over_veth(veth, transport: str, host: str, messages: int, symbols: int, seed: int,
                    *venue_args: str) -> tuple[dict, str]:
    """The simulator's session published by `tickpath sim` (with ``venue_args``) from the
    exchange namespace to ``host``, received by ``transport`` in the host namespace: the
    listener's JSON result, and what the venue printed."""
    args = [transport, host, str(PORT), veth.host_ip, str(messages), str(symbols), str(seed)]
    listener = veth.popen(veth.host, sys.executable, "-c", LISTENER, *args,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert listener.stdout.readline().strip() == "ready", listener.stderr.read()
        pub = veth.run(veth.exchange, sys.executable, "-m", "tickpath.cli", "sim",
                       "--host", host, "--port", str(PORT), "--iface-ip", veth.exchange_ip,
                       "--messages", str(messages), "--symbols", str(symbols), "--seed",
                       str(seed), *venue_args, capture_output=True, text=True, timeout=300)
        assert pub.returncode == 0, pub.stderr + pub.stdout
        out, err = listener.communicate(timeout=300)
    finally:
        if listener.poll() is None:
            listener.kill()
            listener.communicate()
    assert listener.returncode == 0, err
    return json.loads(out.strip().splitlines()[-1]), pub.stdout


@pytest.mark.parametrize("transport", AVAILABLE)
def test_books_over_veth(veth, transport):
    result, _ = books_over_veth(veth, transport, GROUP, MESSAGES, SYMBOLS, SEED,
                                "--rate", "50000")
    assert result["messages"] == MESSAGES
    assert result["gaps"] == 0 and result["ended"] and result["equal"]
    assert result["samples"] > 0


def test_wire_bench_rows(veth):
    """`tickpath wire bench`'s measurement on a small load: one row per transport and load,
    with the fields machines read."""
    from tickpath.apps.wirebench import run_wire_bench

    rows = run_wire_bench(list(AVAILABLE), paced_messages=2000, burst_messages=2000,
                          status=lambda s: None)
    assert [(r["transport"], r["load"]) for r in rows] == [
        (t, load) for load in ("paced", "burst") for t in AVAILABLE]
    for r in rows:
        for key in ("transport", "load", "sent", "received", "drops", "p50_us", "p90_us",
                    "p99_us", "p999_us", "max_us"):
            assert key in r
        assert r["received"] + r["drops"] == r["sent"] == 2000
        assert r["p50_us"] <= r["p99_us"] <= r["max_us"]


MDP3_LISTENER = textwrap.dedent("""
    import json, sys
    from tickpath.apps.listener import FeedListener
    from tickpath.feed.mdp3 import Mdp3Feed
    from tickpath.venue import Simulator
    from tickpath.venue.futures import FuturesSimulator
    from tickpath.wire.transports import open_receiver

    transport, group, port, iface_ip = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
    messages, symbols, seed = map(int, sys.argv[5:8])
    feed = Mdp3Feed(errors="raise", late_join="snapshot")
    rx = open_receiver(transport, group, port, iface_ip=iface_ip)
    lst = FeedListener(rx, feed)
    lst.warm_up()
    print("ready", flush=True)
    rep = lst.run(duration=120, idle_timeout=5)
    sim = FuturesSimulator(Simulator(symbols=symbols, messages=messages, seed=seed),
                           messages=messages, seed=seed)
    sim.packet_list()
    c = feed.counters()
    print(json.dumps({"messages": c["messages"], "duplicates": c["duplicates"],
                      "gaps": c["gaps"], "packets": c["packets"], "stale": c["stale_now"],
                      "equal": feed.books() == sim.books(),
                      "orders_equal": feed.order_books() == sim.order_books(),
                      "samples": int(rep.latency_ns.size)}), flush=True)
""")


#: the ways a frame reaches the handler that only these tests cross with MDP3 (a ring's frame
#: parsed by the loop, UMEM): the MDP3 handler meets each through the same seam, and every
#: transport is crossed with the ITCH handler above (each MDP3 loop is a cold compile). A
#: socket's payload reaches the MDP3 handler in the busy-polled two-feed run-to-completion
#: test (tests/engine), so it is not compiled a second time here.
MDP3_TRANSPORTS = [t for t in AVAILABLE if t in ("packet", "xdp")]


@pytest.mark.parametrize("transport", MDP3_TRANSPORTS)
def test_mdp3_books_over_veth(veth, transport):
    """The futures venue's MDP 3.0 channel (lines A and B and the snapshot loop, one group
    and port) through a transport into the MDP3 handler: both lines arbitrated, each
    instrument recovered from the snapshot loop after its late join, the books the venue's."""
    messages, symbols, seed, port = 20_000, 40, 4, 14310
    args = [transport, GROUP, str(port), veth.host_ip, str(messages), str(symbols), str(seed)]
    listener = veth.popen(veth.host, sys.executable, "-c", MDP3_LISTENER, *args,
                          stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert listener.stdout.readline().strip() == "ready", listener.stderr.read()
        pub = veth.run(veth.exchange, sys.executable, "-m", "tickpath.cli", "venue", "--feed",
                       "mdp3", "--host", GROUP, "--port", str(port), "--iface-ip",
                       veth.exchange_ip, "--messages", str(messages), "--symbols",
                       str(symbols), "--seed", str(seed), "--snapshot-every", "100",
                       "--rate", "50000",
                       capture_output=True, text=True, timeout=300)
        assert pub.returncode == 0, pub.stderr + pub.stdout
        out, err = listener.communicate(timeout=300)
    finally:
        if listener.poll() is None:
            listener.kill()
            listener.communicate()
    assert listener.returncode == 0, err
    r = json.loads(out.strip().splitlines()[-1])
    assert r["gaps"] == 0 and r["stale"] == 0 and r["duplicates"] == r["packets"]
    assert r["equal"] and r["orders_equal"] and r["samples"] > 0
