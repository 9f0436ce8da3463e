"""The feed stage: a transport's receive loop -> the ITCH feed handler -> hand-off ring.

The stage owns an :class:`~tickpath.feed.itch.ItchFeed` whose state carries the hand-off ring,
and a receiver. A compiled transport runs its receive loop with that state
(:mod:`tickpath.wire.handler`); the loop returns to this owner only every ``tick_s`` (to
publish counters and look at the stop word) or when the handler asks to settle (the books
refused an event). The ``socket`` transport (the baseline) calls the handler's compiled step
from Python, one call per datagram.
"""

from __future__ import annotations

import time

import numpy as np

from ..book import BookStore
from ..book.records import Stat
from ..feed.itch import ItchFeed, ItchHandler
from ..feed.itch.glimpse import SnapshotRejoin
from ..feed.itch.step import (
    MALFORMED,
    TAP_FULL,
    TAP_PUBLISHED,
    TAP_TIMEOUT_NS,
    TAP_WAIT_CODE,
    TAP_WAIT_WORDS,
)
from ..feed.moldudp64 import Counter as Mold
from ..feed.moldudp64 import MoldSession
from ..feed.moldudp64.layout import Recovery
from ..feed.moldudp64.recovery import MoldRecovery, parse_hostport
from ..ring import SpscRing
from ..ring.wait import WaitStrategy, wait_strategy
from ..wire.handler import END_OF_SESSION, SETTLE
from ..wire.transports import open_receiver
from .agent import AgentState
from .counters import Control, Counters, FeedCounter

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


def publish_feed_counters(s: np.ndarray, feed: ItchFeed, rx, ended: bool) -> None:
    """The feed handler's and the receiver's counters into the ``feed`` section ``s``."""
    m, fc = feed.session.counters, feed.feed
    st = rx.stats()
    s[F.PACKETS] = st.get("packets", 0)
    s[F.BYTES] = st.get("bytes", 0)
    s[F.TRUNCATED] = st.get("truncated", 0)
    s[F.KERNEL_DROPS] = st.get("drops", 0)
    s[F.MESSAGES] = m[Mold.MESSAGES]
    s[F.GAPS] = m[Mold.GAPS]
    s[F.GAP_MESSAGES] = m[Mold.GAP_MESSAGES]
    s[F.DUPLICATE_PACKETS] = m[Mold.DUPLICATE_PACKETS]
    s[F.MALFORMED] = fc[MALFORMED] + m[Mold.MALFORMED]
    s[F.BOOK_REJECTS] = feed.handler.books.stats_array[Stat.REJECTED]
    s[F.PUBLISHED] = fc[TAP_PUBLISHED]
    s[F.RING_FULL] = fc[TAP_FULL]
    s[F.ENDED] = int(ended)
    r = feed.recovery.rec
    s[F.BOOKS_STATE] = r[Recovery.STATE]
    s[F.GAPS_REPAIRED] = r[Recovery.GAPS_REPAIRED]
    s[F.GAPS_GIVEN_UP] = r[Recovery.GAVE_UP]
    s[F.MESSAGES_REQUESTED] = r[Recovery.MESSAGES_REQUESTED]
    s[F.MESSAGES_RECEIVED] = r[Recovery.MESSAGES_RECEIVED]
    s[F.LAST_RECOVERY_NS] = r[Recovery.LAST_RECOVERY_NS]
    s[F.SESSIONS] = r[Recovery.SESSIONS]
    s[F.SILENT] = r[Recovery.SILENT]
    s[F.WORK_CYCLES] = st.get("packets", 0)
    s[F.IDLE_CYCLES] = st.get("empty_polls", 0)
    s[F.BEAT_NS] = time.clock_gettime_ns(time.CLOCK_REALTIME)


class FeedStage:
    def __init__(self, spec, counters: Counters) -> None:
        p = spec.params
        self.control = counters.section("control")
        self.sect = counters.section("feed")
        self.ring = SpscRing.attach(p["ring"])
        tap = (self.ring.header, self.ring.words,
               tap_wait(spec.wait(), int(p.get("ring_timeout_ns", 0))))
        books = BookStore(max_orders=int(p.get("max_orders", 1 << 20)), errors="skip")
        # retransmit = "HOST:PORT": the MoldUDP64 re-request server gaps are asked from
        server = parse_hostport(p["retransmit"]) if p.get("retransmit") else None
        # with a server the day is followed from its first message (the stage starts before
        # the venue publishes): a lost first packet is a gap like any other
        self.feed = ItchFeed(ItchHandler(books, errors="skip"),
                             MoldSession(expected=1 if server else 0), tap=tap,
                             recovery=MoldRecovery(server, silence_s=float(
                                 p.get("silence_s", 2.0))))
        self.handler, self.session = self.feed.handler, self.feed.session
        self.rx = open_receiver(p["transport"], p["host"], int(p["port"]),
                                iface_ip=p.get("iface_ip", "0.0.0.0"))
        self.feed.attach(self.rx)
        # glimpse = "HOST:PORT": the snapshot service a stale feed rebuilds its books from
        self.rejoin = SnapshotRejoin(parse_hostport(p["glimpse"]) if p.get("glimpse")
                                     else None)
        self.compiled = bool(getattr(self.rx, "compiled", False))
        self.ended = False

    def publish_counters(self) -> None:
        publish_feed_counters(self.sect, self.feed, self.rx, self.ended)

    def warm_up(self) -> None:
        """Compile (or load) the handler and the receive loop for the state's exact type."""
        self.feed.warm_up(self.rx)

    def run(self, tick_s: float = 0.05) -> None:
        self.warm_up()
        self.sect[F.STATE] = AgentState.RUNNING
        stop = int(Control.STOP)
        if self.compiled:
            while not self.control[stop] and not self.ended:
                deadline = time.clock_gettime_ns(time.CLOCK_REALTIME) + int(tick_s * 1e9)
                code = self.rx.poll(self.feed.state, deadline, 0)
                if code == SETTLE:
                    self.feed.settle()
                self.ended = code == END_OF_SESSION
                self.rejoin.maybe(self.feed)
                self.publish_counters()
        else:
            self._run_python(tick_s)
        self.publish_counters()

    def _run_python(self, tick_s: float) -> None:
        feed, rx = self.feed, self.rx
        rx.settimeout(tick_s)
        next_tick = time.monotonic() + tick_s
        while not self.control[int(Control.STOP)] and not self.ended:
            got = rx.recv()
            if got is not None:
                buf, rx_ns = got
                self.ended = feed.on_datagram(buf, buf.shape[0], rx_ns) == END_OF_SESSION
            else:  # re-requests and answers while a gap is open
                self.ended = feed.on_idle() == END_OF_SESSION
            if time.monotonic() >= next_tick:
                self.rejoin.maybe(self.feed)
                self.publish_counters()
                next_tick = time.monotonic() + tick_s

    def close(self) -> None:
        self.rx.close()
        self.ring.close()
        self.feed.close()


def main(spec, counters: Counters) -> None:
    """Entry point of the feed stage process (tickpath.engine.agent)."""
    stage = FeedStage(spec, counters)
    try:
        stage.run()
    finally:
        stage.close()
