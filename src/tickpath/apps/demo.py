"""The end-to-end demo: simulator -> MoldUDP64/UDP on loopback -> listener -> books, checked.

The venue publishes from a forked process (pinned to one core where there are two); this
process listens, then compares its books with the simulator's own.
"""

from __future__ import annotations

import multiprocessing as mp
import os
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from ..book import BookStore
from ..book.export import diff_books
from ..feed.itch import ItchHandler
from ..telemetry.histogram import summary_us
from ..venue import Simulator
from ..venue.publisher import DEFAULT_SENDER, SENDERS, UdpPublisher
from ..wire.transports import open_receiver
from .listener import FeedListener


@dataclass
class DemoReport:
    messages_sent: int
    messages_received: int
    seconds: float
    books_equal: bool
    instruments: int
    latency_us: dict[str, float]
    kernel_us: dict[str, float]
    session: dict[str, int]
    differences: list[str] = field(default_factory=list)
    sender: str = DEFAULT_SENDER  # what the venue sent with (tickpath.wire.send)

    def as_dict(self) -> dict[str, Any]:
        return {k: getattr(self, k) for k in self.__dataclass_fields__}


def _pin(cpu: int) -> None:
    try:
        if cpu in os.sched_getaffinity(0):
            os.sched_setaffinity(0, {cpu})
    except OSError:  # pinning is a refinement; the demo is still right without it
        pass


def _publish(blocks: np.ndarray, host: str, port: int, rate: float, cpu: int | None,
             go: Any, sender: str = DEFAULT_SENDER) -> None:
    if cpu is not None:
        _pin(cpu)
    with UdpPublisher(host, port, session="TPDEMO", sender=sender) as pub:
        pub.warm_up()
        go.wait(30)  # start when the listener is in its loop, not while it is still setting up
        pub.publish([blocks], rate=rate)
        pub.end_session()


def run_demo(messages: int = 300_000, symbols: int = 200, seed: int = 7,
             rate: float = 100_000, host: str = "127.0.0.1", transport: str = "socket",
             sender: str = DEFAULT_SENDER, status=print) -> DemoReport:
    """Publish ``messages`` simulated ITCH messages at ``rate`` msgs/s with ``sender`` and
    listen to them."""
    if sender not in SENDERS:
        raise ValueError(f"unknown sender {sender!r}: choose from {', '.join(SENDERS)}")
    if sender in ("packet", "xdp", "dpdk"):
        raise ValueError(f"the {sender} sender needs a real or veth interface: frames it "
                         f"injects on lo to 127.0.0.1 are not delivered; use sendmmsg, sendto "
                         f"or socket for the demo, or `tickpath wire bench --sender {sender}` "
                         f"(veth)")
    status(f"simulating {messages:,} messages over {symbols} instruments (seed {seed})")
    sim = Simulator(symbols=symbols, messages=messages, seed=seed)
    blocks = sim.blocks()
    expected = sim.books()
    handler = ItchHandler(BookStore(max_orders=max(1 << 16, messages), errors="skip"),
                          errors="skip")
    with open_receiver(transport, host, 0) as rx:
        listener = FeedListener(rx, handler)
        status("compiling the receive path (cached after the first run)")
        listener.warm_up()
        port = rx.sock.getsockname()[1]
        two_cores = len(os.sched_getaffinity(0)) >= 2
        ctx = mp.get_context("fork")
        go = ctx.Event()
        proc = ctx.Process(target=_publish, args=(blocks, host, port, rate,
                                                  0 if two_cores else None, go, sender),
                           daemon=True)
        if two_cores:
            _pin(1)
        status(f"publishing on udp://{host}:{port} at {rate:,.0f} msgs/s (sender {sender}); "
               f"listening")
        proc.start()
        report = listener.run(duration=max(30.0, 3 * messages / rate), idle_timeout=3.0,
                              on_ready=go.set)
        proc.join(timeout=10)
        if proc.is_alive():
            proc.terminate()
    got = {b["locate"]: b for b in handler.books.books()}
    diffs = diff_books(got, expected)
    return DemoReport(
        messages_sent=messages,
        messages_received=report.messages,
        seconds=report.seconds,
        books_equal=not diffs and len(got) == len(expected),
        instruments=len(expected),
        latency_us=summary_us(report.latency_ns),
        kernel_us=summary_us(report.kernel_ns),
        session=report.session,
        differences=diffs,
        sender=sender,
    )
