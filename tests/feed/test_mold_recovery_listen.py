"""Gap recovery through a transport: ``FeedListener`` with a re-request server on loopback.

The feed arrives on a kernel socket bound to 127.0.0.1, so the handler sends its Request
Packets from that socket and the answer comes back through the transport itself: the
``socket`` transport (a Python loop, idle turns from Python) and ``busypoll`` (a compiled
loop, idle turns from the loop).
"""

from __future__ import annotations

import select
import socket
import threading

import pytest
from test_mold_recovery import END, MSGS, PKTS, SESSION, RerequestServer, in_order

from reference.harness import snapshot
from tickpath.apps.listener import FeedListener
from tickpath.book import BookStore
from tickpath.feed.itch import ItchFeed, ItchHandler
from tickpath.feed.moldudp64 import MoldSession
from tickpath.wire.transports import open_receiver


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.parametrize("transport", ["socket", "busypoll"])
def test_listener_recovers_a_lost_packet_through_the_feed_socket(transport):
    server = RerequestServer(MSGS)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            if select.select([server.sock], [], [], 0.05)[0]:
                server.serve()

    port = free_port()
    rx = open_receiver(transport, "127.0.0.1", port)
    feed = ItchFeed(ItchHandler(BookStore(max_orders=1 << 10, errors="skip"), errors="skip"),
                    MoldSession(SESSION, expected=1), max_samples=64,
                    retransmit=server.address)
    lst = FeedListener(rx, feed)
    assert feed.recovery.mode == "feed socket"
    lst.warm_up()
    t = threading.Thread(target=serve, daemon=True)
    t.start()
    eos = SESSION.encode().ljust(10) + END.to_bytes(8, "big") + (0xFFFF).to_bytes(2, "big")
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx:
            for i, p in enumerate(PKTS):
                if i != 7:
                    tx.sendto(p, ("127.0.0.1", port))
            tx.sendto(eos, ("127.0.0.1", port))
        rep = lst.run(duration=30)
    finally:
        stop.set()
        t.join()
        rx.close()
        server.close()
    assert rep.ended
    assert rep.recovery["state"] == "exact" and rep.recovery["gaps_repaired"] == 1
    assert rep.recovery["requests"] >= 1 and server.requests[0][0] == 1 + sum(
        int.from_bytes(p[18:20], "big") for p in PKTS[:7])
    assert snapshot(feed.books) == in_order()
