"""The feed stage: a transport's receive loop -> MoldUDP64 -> ITCH -> books -> hand-off ring.

Compiled transports (busypoll, packet) run their receive loop, which calls
``engine._kernels.deliver`` with the ring for every datagram and returns to this owner only
every ``tick_s`` (to publish counters and look at the stop word) or to settle an event the
books refused. The ``socket`` transport (the baseline) calls ``deliver`` from Python, one
call per datagram.
"""

from __future__ import annotations

import time

import numpy as np

from ..book import BookStore
from ..book.records import Stat
from ..feed.moldudp64 import Counter as Mold
from ..feed.moldudp64 import MoldSession
from ..ring import SpscRing
from ..ring.wait import WaitStrategy, wait_strategy
from ..wire.transports import open_receiver
from ._kernels import (
    BOOK,
    END_OF_SESSION,
    MALFORMED,
    N_FEED_COUNTERS,
    TAP_FULL,
    TAP_PUBLISHED,
    TAP_TIMEOUT_NS,
    TAP_WAIT_CODE,
    TAP_WAIT_WORDS,
    deliver,
)
from .agent import AgentState
from .counters import Control, Counters, FeedCounter
from .handler import ItchHandler

F = FeedCounter


def tap_wait(idle: str | WaitStrategy, timeout_ns: int) -> np.ndarray:
    """The ``tap_wait`` words ``deliver`` takes: wait strategy params, code, claim timeout
    (>= 0 ns; 0: a few idle rounds, then the record is dropped and counted). ``idle``: a
    strategy name (default parameters) or a configured ``WaitStrategy``."""
    if timeout_ns < 0:  # the claim would wait forever and never see the stop word
        raise ValueError(f"ring claim timeout {timeout_ns} ns: must be >= 0 "
                         f"(ring.block_timeout_us)")
    ws = wait_strategy(idle) if isinstance(idle, str) else idle
    out = np.zeros(TAP_WAIT_WORDS, np.int64)
    out[:ws.params.shape[0]] = ws.params
    out[TAP_WAIT_CODE] = ws.code
    out[TAP_TIMEOUT_NS] = timeout_ns
    return out


class FeedStage:
    def __init__(self, spec, counters: Counters) -> None:
        p = spec.params
        self.control = counters.section("control")
        self.sect = counters.section("feed")
        self.ring = SpscRing.attach(p["ring"])
        self.tap = (self.ring.header, self.ring.words,
                    tap_wait(spec.wait(), int(p.get("ring_timeout_ns", 0))))
        self.handler = ItchHandler(BookStore(max_orders=int(p.get("max_orders", 1 << 20)),
                                             errors="skip"), errors="skip")
        self.session = MoldSession()
        self.rx = open_receiver(p["transport"], p["host"], int(p["port"]),
                                iface_ip=p.get("iface_ip", "0.0.0.0"))
        self.compiled = bool(getattr(self.rx, "compiled", False))
        self.feed = np.zeros(N_FEED_COUNTERS, np.int64)
        self.lat = np.zeros(1 << 16, np.int64)  # the listener's own latency samples (unused)
        self.ker = np.zeros(1 << 16, np.int64)
        self.ended = False

    def publish_counters(self) -> None:
        s, m, rx = self.sect, self.session.counters, self.rx
        st = rx.stats()
        s[F.PACKETS] = st.get("packets", 0)
        s[F.BYTES] = st.get("bytes", 0)
        s[F.TRUNCATED] = st.get("truncated", 0)
        s[F.KERNEL_DROPS] = st.get("drops", 0)
        s[F.MESSAGES] = m[Mold.MESSAGES]
        s[F.GAPS] = m[Mold.GAPS]
        s[F.GAP_MESSAGES] = m[Mold.GAP_MESSAGES]
        s[F.DUPLICATE_PACKETS] = m[Mold.DUPLICATE_PACKETS]
        s[F.MALFORMED] = self.feed[MALFORMED] + m[Mold.MALFORMED]
        s[F.BOOK_REJECTS] = self.handler.books.stats_array[Stat.REJECTED]
        s[F.PUBLISHED] = self.feed[TAP_PUBLISHED]
        s[F.RING_FULL] = self.feed[TAP_FULL]
        s[F.ENDED] = int(self.ended)
        s[F.WORK_CYCLES] = st.get("packets", 0)
        s[F.IDLE_CYCLES] = st.get("empty_polls", 0)
        s[F.BEAT_NS] = time.clock_gettime_ns(time.CLOCK_REALTIME)

    def warm_up(self) -> None:
        self.handler.warm_up()
        if self.compiled:
            self.rx.warm_up(self.handler)
        else:  # compile deliver for these exact types on a scratch datagram
            from ..feed.moldudp64 import MoldSession as S

            buf = np.zeros(64, np.uint8)
            rx = np.zeros(16, np.int64)
            h = ItchHandler(BookStore(max_orders=16), batch=16)
            b = h.books
            deliver(buf, 0, 0, 0, S().session, S().counters, h.events, b.orders, b.mask,
                    b.levels, b.free, b.heads, b.stats_array, b.inst, b.symbols,
                    b.type_counts, b.capacity, np.zeros(N_FEED_COUNTERS, np.int64), rx,
                    self.lat, self.ker, np.zeros(0, np.int64), np.zeros(0, np.int64),
                    np.zeros(0, np.int64))

    def _settle(self, at: int, n: int) -> None:
        self.handler.books.apply(self.handler.events, n, start=at)

    def run(self, tick_s: float = 0.05) -> None:
        self.warm_up()
        self.sect[F.STATE] = AgentState.RUNNING
        stop = int(Control.STOP)
        if self.compiled:
            from ..wire.busypoll import Rx

            while not self.control[stop] and not self.ended:
                deadline = time.clock_gettime_ns(time.CLOCK_REALTIME) + int(tick_s * 1e9)
                code = self.rx.poll(self.handler, self.session, deadline, 0, self.lat,
                                    self.ker, self.feed, tap=self.tap)
                if code == BOOK:
                    self._settle(int(self.rx.rx[Rx.EVENT_AT]), int(self.rx.rx[Rx.EVENTS]))
                self.ended = code == END_OF_SESSION
                self.publish_counters()
        else:
            self._run_python(tick_s)
        self.publish_counters()

    def _run_python(self, tick_s: float) -> None:
        h, b, s, rx = self.handler, self.handler.books, self.session, self.rx
        rxc = np.zeros(16, np.int64)  # deliver's receive counters (samples, refused event)
        rx.settimeout(tick_s)
        hdr, words, tw = self.tap
        next_tick = time.monotonic() + tick_s
        while not self.control[int(Control.STOP)] and not self.ended:
            got = rx.recv()
            if got is not None:
                buf, rx_ns = got
                code = deliver(buf, 0, buf.shape[0], rx_ns, s.session, s.counters, h.events,
                               b.orders, b.mask, b.levels, b.free, b.heads, b.stats_array,
                               b.inst, b.symbols, b.type_counts, b.capacity, self.feed, rxc,
                               self.lat, self.ker, hdr, words, tw)
                if code == BOOK:
                    self._settle(int(rxc[7]), int(rxc[8]))
                self.ended = code == END_OF_SESSION
            if time.monotonic() >= next_tick:
                self.publish_counters()
                next_tick = time.monotonic() + tick_s

    def close(self) -> None:
        self.rx.close()
        self.ring.close()


def main(spec, counters: Counters) -> None:
    """Entry point of the feed stage process (tickpath.engine.agent)."""
    stage = FeedStage(spec, counters)
    try:
        stage.run()
    finally:
        stage.close()
