"""The MDP 3.0 publisher on loopback: every incremental packet arrives once on line A and
once on line B, byte for byte the venue's but for SendingTime, which is the send time; the
snapshot loop goes to its own destination; the project's MDP3 handler arbitrates the lines
back into the venue's books."""

from __future__ import annotations

import socket
from contextlib import ExitStack

import numpy as np
import pytest

from tickpath.feed.mdp3 import Mdp3Feed
from tickpath.venue.futures import INCREMENTAL, SNAPSHOT, FuturesSimulator
from tickpath.venue.mdp3_publisher import Mdp3Publisher


def _receiver() -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 << 20)
    s.bind(("127.0.0.1", 0))
    s.settimeout(5.0)
    return s


def _drain(rx: socket.socket, n: int) -> list[bytes]:
    return [rx.recv(65536) for _ in range(n)]


def _unstamped(p: bytes) -> bytes:
    return p[:4] + bytes(8) + p[12:]


def _time(p: bytes) -> int:
    return int.from_bytes(p[4:12], "little")


@pytest.mark.parametrize("sender, rate", [("sendmmsg", None), ("sendto", 100_000)])
def test_lines_a_and_b_stamped_and_arbitrated_back_into_the_books(sender, rate):
    fut = FuturesSimulator(None, messages=4_000, seed=8, snapshot_every=30)
    packets = fut.packet_list()
    inc = [p for k, p in packets if k == INCREMENTAL]
    loop = [p for k, p in packets if k == SNAPSHOT]
    with _receiver() as rx, Mdp3Publisher(("127.0.0.1", rx.getsockname()[1]),
                                          sender=sender) as pub:
        pub.warm_up()
        rep = pub.publish(fut.packets(), rate=rate)
        got = _drain(rx, 2 * len(inc) + len(loop))
    assert rep.messages == fut.messages == 4_000 and rep.packets == len(inc)
    assert pub.snapshot_packets == len(loop)
    # restamped as they went: no packet keeps the venue's SendingTime, and the stamps run in
    # the order the packets were sent (one sending thread; loopback delivers in that order)
    venue_time = {_unstamped(p): _time(p) for _, p in packets}
    assert all(_time(g) != venue_time[_unstamped(g)] for g in got)
    stamps = [_time(g) for g in got]
    assert stamps == sorted(stamps)
    # each incremental packet twice (A, then B), unchanged but for SendingTime; the loop once
    incremental = set(map(_unstamped, inc))
    on_lines = sorted(_unstamped(g) for g in got if _unstamped(g) in incremental)
    assert on_lines == sorted(list(incremental) * 2)
    assert sorted(_unstamped(g) for g in got if _unstamped(g) not in incremental) \
        == sorted(map(_unstamped, loop))
    feed = Mdp3Feed(errors="raise")
    for g in got:
        buf = np.frombuffer(g, np.uint8).copy()
        feed.on_datagram(buf, buf.size)
    c = feed.counters()
    assert c["duplicates"] == len(inc) and c["gaps"] == 0
    assert feed.books() == fut.books() and feed.order_books() == fut.order_books()


def test_separate_destinations_and_the_venue_time_kept():
    fut = FuturesSimulator(None, messages=1_500, seed=2, snapshot_every=20)
    packets = fut.packet_list()
    inc = [p for k, p in packets if k == INCREMENTAL]
    loop = [p for k, p in packets if k == SNAPSHOT]
    with ExitStack() as stack:
        a, b, s = (stack.enter_context(_receiver()) for _ in range(3))
        pub = stack.enter_context(Mdp3Publisher(
            ("127.0.0.1", a.getsockname()[1]), ("127.0.0.1", b.getsockname()[1]),
            ("127.0.0.1", s.getsockname()[1])))
        pub.publish(fut.packets(), restamp=False)
        assert _drain(a, len(inc)) == inc  # the venue's own bytes, its SendingTime included
        assert _drain(b, len(inc)) == inc
        assert _drain(s, len(loop)) == loop
        for rx in (a, b, s):
            rx.settimeout(0.05)
            with pytest.raises(TimeoutError):
                rx.recv(65536)
