"""The feed stage: a transport's receive loop -> a feed handler -> hand-off ring.

The stage owns a feed handler whose state carries the hand-off ring, and a receiver. The
``feed`` param chooses the handler: ``"itch"`` (the default), an
:class:`~tickpath.feed.itch.ItchFeed` (MoldUDP64 gap recovery, the snapshot rejoin), or
``"mdp3"``, a CME MDP 3.0 :class:`~tickpath.feed.mdp3.Mdp3Feed` (the A/B lines and the
snapshot loop arriving on the one receiver; its records' locates from ``locate_base``,
default :data:`~tickpath.feed.mdp3.live.LOCATE_BASE`). A compiled transport runs its receive
loop with that state (:mod:`tickpath.wire.handler`); the loop returns to this owner only every
``tick_s`` (to publish counters and look at the stop word) or when the handler asks to settle
(the books refused an event, or need room). The ``socket`` transport (the baseline) calls the
handler's compiled step from Python, one call per datagram.
"""

from __future__ import annotations

import time

import numpy as np

from ..book import BookStore
from ..book.records import Stat
from ..feed.itch import ItchFeed, ItchHandler
from ..feed.itch.glimpse import SnapshotRejoin
from ..feed.itch.step import MALFORMED
from ..feed.mdp3 import Mdp3Feed
from ..feed.mdp3 import layout as M
from ..feed.mdp3.live import LOCATE_BASE
from ..feed.moldudp64 import Counter as Mold
from ..feed.moldudp64 import MoldSession
from ..feed.moldudp64.layout import Recovery
from ..feed.moldudp64.recovery import MoldRecovery, parse_hostport
from ..feed.tap import TAP_FULL, TAP_PUBLISHED
from ..feed.tap import tap_wait as tap_wait  # re-exported: where the stages took it from
from ..ring import SpscRing
from ..wire.handler import END_OF_SESSION, SETTLE
from ..wire.transports import open_receiver
from .agent import AgentState
from .counters import Control, Counters, FeedCounter

F = FeedCounter


def receiver_counters(s: np.ndarray, rx) -> dict[str, int]:
    """The receiver's counters into the ``feed`` section ``s``; returns its stats."""
    st = rx.stats()
    s[F.PACKETS] = st.get("packets", 0)
    s[F.BYTES] = st.get("bytes", 0)
    s[F.TRUNCATED] = st.get("truncated", 0)
    s[F.KERNEL_DROPS] = st.get("drops", 0)
    return st


def publish_feed_counters(s: np.ndarray, feed: ItchFeed, rx, ended: bool) -> None:
    """The feed handler's and the receiver's counters into the ``feed`` section ``s``."""
    m, fc = feed.session.counters, feed.feed
    st = receiver_counters(s, rx)
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


def publish_mdp3_counters(s: np.ndarray, feed: Mdp3Feed, rx, ended: bool) -> None:
    """The MDP3 handler's and the receiver's counters into the ``feed`` section ``s``, where
    a word means the same: ``gap_messages`` counts the packets missed (MDP3's unit of a gap),
    ``duplicate_packets`` the other line's copies, ``book_rejects`` the entries a book
    refused, ``books_state`` 1 while an instrument is stale (waiting for the snapshot loop)
    and 0 when every one is live. The MoldUDP64 recovery's words stay 0."""
    c = feed.chan
    st = receiver_counters(s, rx)
    s[F.MESSAGES] = c[M.MESSAGES]
    s[F.GAPS] = c[M.GAPS]
    s[F.GAP_MESSAGES] = c[M.GAP_PACKETS]
    s[F.DUPLICATE_PACKETS] = c[M.DUPLICATES]
    s[F.MALFORMED] = c[M.MALFORMED]
    s[F.BOOK_REJECTS] = c[M.REFUSED]
    s[F.PUBLISHED] = feed.tapc[M.TAP_PUBLISHED]
    s[F.RING_FULL] = feed.tapc[M.TAP_FULL]
    s[F.ENDED] = int(ended)
    s[F.BOOKS_STATE] = 1 if c[M.STALE_NOW] > 0 else 0
    s[F.WORK_CYCLES] = st.get("packets", 0)
    s[F.IDLE_CYCLES] = st.get("empty_polls", 0)
    s[F.BEAT_NS] = time.clock_gettime_ns(time.CLOCK_REALTIME)


#: the handlers the ``feed`` param chooses from
FEEDS = ("itch", "mdp3")


class FeedStage:
    def __init__(self, spec, counters: Counters) -> None:
        p = spec.params
        self.kind = p.get("feed", "itch")
        if self.kind not in FEEDS:
            raise ValueError(f"feed = {self.kind!r}: choose from {', '.join(FEEDS)}")
        self.control = counters.section("control")
        self.sect = counters.section("feed")
        self.ring = SpscRing.attach(p["ring"])
        tap = (self.ring.header, self.ring.words,
               tap_wait(spec.wait(), int(p.get("ring_timeout_ns", 0))))
        self.rejoin = None
        self.ended = False
        if self.kind == "mdp3":
            self._mdp3(p, tap)
            return
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

    def _mdp3(self, p: dict, tap: tuple[np.ndarray, np.ndarray, np.ndarray]) -> None:
        """The CME MDP 3.0 handler, counting and skipping what it refuses (a live channel
        must survive a bad message), instruments waiting for the snapshot loop (``late_join``
        ``"snapshot"``, CME's recovery). ``line_b``: line B's multicast group on the same
        port, for the transports that take one."""
        self.feed = Mdp3Feed(max_instruments=int(p.get("max_instruments", 4096)),
                             max_orders=int(p.get("max_orders", 1 << 20)), errors="skip",
                             late_join=p.get("late_join", "snapshot"), tap=tap,
                             locate_base=int(p.get("locate_base", LOCATE_BASE)))
        extra = {"line_b": p["line_b"]} if p.get("line_b") else {}
        self.rx = open_receiver(p["transport"], p["host"], int(p["port"]),
                                iface_ip=p.get("iface_ip", "0.0.0.0"), **extra)
        self.compiled = bool(getattr(self.rx, "compiled", False))

    def publish_counters(self) -> None:
        if self.kind == "mdp3":
            publish_mdp3_counters(self.sect, self.feed, self.rx, self.ended)
        else:
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
                if self.rejoin is not None:
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
                if self.rejoin is not None:
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
