"""``ItchFeed``: the ITCH 5.0 over MoldUDP64 feed handler a transport's receive loop calls.

It owns what the compiled step needs (the MoldUDP64 session, the decoder's event buffer, the
books, the feed counters, latency samples and, in a pipeline, the hand-off ring) and offers
them to any transport as one :data:`~tickpath.feed.itch.step.ItchState`; the transport hands
each datagram to it through :func:`tickpath.wire.handler.on_datagram` and never learns what a
message is. When the step returns SETTLE (the books refused an event: a table to grow, a
message to raise on or skip), :meth:`ItchFeed.settle` does it in Python and the loop goes on.
"""

from __future__ import annotations

import time
from collections.abc import Callable

import numpy as np

from ...book import BookStore
from ...book.apply import OK as BOOK_OK
from ...book.records import MAX_LOCATE
from ...telemetry.feedtime import NASDAQ_ZONE, FeedTime
from ..moldudp64 import Counter as Mold
from ..moldudp64 import MoldSession
from ..moldudp64._recovery import follow_session, rejoined
from ..moldudp64.layout import RECOVERING, SESSION_PACKET, STALE, Recovery
from ..moldudp64.recovery import MoldRecovery
from ..tap import NO_TAP
from .glimpse import GlimpseSnapshot
from .handler import ItchHandler
from .step import (
    EVENT_AT,
    EVENTS,
    MALFORMED,
    N_FEED_COUNTERS,
    SAMPLES,
    SETTLE,
    T_DECODED,
    T_PARSED,
    T_RECEIVED,
    TRADE_COLUMNS,
    ItchState,
    apply_noting,
    idle_step,
    note_changed,
    publish_datagram,
    publish_tops,
    step,
    tell_status,
)

_DRAIN_WAIT_S = 1.0  # after a snapshot: the longest wait for the ring's reader


class ItchFeed:
    """Session + decoder + books for one MoldUDP64/ITCH feed, as a transport's handler.

    ``tap``: ``(hdr, words, wait)`` of the SPSC ring the step publishes top-of-book records to
    (see :mod:`tickpath.feed.itch.step`), or None. ``max_samples``: latency samples kept.
    ``zone``: the time zone of the feed's timestamps (ITCH counts ns since midnight in the
    exchange's local time: NASDAQ's is US Eastern), used to read them against the UTC clock.
    ``retransmit``: the MoldUDP64 re-request server ``(host, port)``; ``recovery``: the
    recovery's state and bounds (:class:`~tickpath.feed.moldudp64.recovery.MoldRecovery`,
    built from ``retransmit`` when not given). A gap holds later packets, asks the server for
    the missing range and applies everything in sequence order; without a server, or when it
    cannot be served, the feed goes stale (:attr:`exact`, :meth:`recovery_stats`).

    A new MoldUDP64 session (the venue restarted: packets of it in a row, or one once the
    followed session ended or went silent; docs/itch-feed.md) empties the books and is
    followed from its first message (what is missing of it is asked for like any gap);
    packets of the sessions left behind are dropped from then on. A feed that sends
    nothing, not even a heartbeat, for ``recovery.silence_s`` is reported silent
    (:attr:`silent`; with a ring, a STATUS record: its books are not known to be exact).
    """

    def __init__(self, handler: ItchHandler | None = None, session: MoldSession | None = None,
                 *, tap: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
                 max_samples: int = 1 << 16, zone: str = NASDAQ_ZONE,
                 retransmit: tuple[str, int] | None = None,
                 recovery: MoldRecovery | None = None) -> None:
        self.handler = handler if handler is not None else ItchHandler(errors="skip")
        self.session = session if session is not None else MoldSession()
        self.recovery = recovery if recovery is not None else MoldRecovery(retransmit)
        self.tap = tap if tap is not None else NO_TAP
        self.feed = np.zeros(N_FEED_COUNTERS, np.int64)
        self.lat = np.zeros(max_samples, np.int64)
        self.ker = np.zeros(max_samples, np.int64)
        self.snt = np.zeros(max_samples, np.int64)  # each sample's send stamp (epoch ns)
        self.zone = zone
        self.clock = np.ascontiguousarray(FeedTime(zone).table)
        # what one datagram printed and changed: a row per event at most, so never full
        # (allocated only with a ring; the same types either way, so one compiled step)
        rows = self.handler.events.shape[0] if tap is not None else 0
        self.trades = np.zeros((rows, TRADE_COLUMNS), np.int64)
        self.changed = np.zeros((rows, 2), np.int64)
        self.seen = np.zeros(MAX_LOCATE if tap is not None else 0, np.int64)
        self._state: ItchState | None = None

    @property
    def books(self) -> BookStore:
        return self.handler.books

    @property
    def state(self) -> ItchState:
        """The arrays the compiled step works on (rebuilt after the books grow)."""
        if self._state is None:
            b, s = self.handler.books, self.session
            self._state = ItchState(s.session, s.counters, self.handler.events, b.orders,
                                    b.mask, b.levels, b.free, b.heads, b.stats_array, b.inst,
                                    b.symbols, b.type_counts, b.capacity, self.feed,
                                    self.lat, self.ker, self.snt, *self.tap, self.trades,
                                    self.changed, self.seen, self.clock, *self._rec_arrays())
        return self._state

    def _rec_arrays(self) -> tuple[np.ndarray, ...]:
        r = self.recovery
        return r.rec, r.held, r.slots, r.req, r.ans, r.rtime, r.sessions

    def attach(self, receiver) -> str:
        """Choose where Request Packets go from, for this ``receiver``: the feed's own kernel
        socket when it is bound to a unicast address or any (the answer, unicast back to it,
        arrives with the feed); otherwise a UDP socket of the handler's own, read between
        datagrams and on idle turns (a multicast-bound socket does not receive unicast, and
        the AF_PACKET / AF_XDP / DPDK filters pass only the feed's address). Returns the
        mode (``none`` without a server)."""
        from ...wire.socket import is_multicast

        rec = self.recovery
        if rec.retransmit is None:
            return rec.mode
        sock = getattr(receiver, "sock", None)
        if getattr(receiver, "name", "") in ("socket", "recv", "busypoll") and \
                sock is not None and not is_multicast(getattr(receiver, "host", "")):
            rec.use_feed_socket(sock)
        else:
            rec.open_socket()
        self._state = None  # the answer buffer may be new
        return rec.mode

    def on_idle(self, now_ns: int | None = None) -> int:
        """The idle turn from Python (the ``socket`` transport, when a receive timed out):
        re-requests and answers while a gap is open."""
        now = time.clock_gettime_ns(time.CLOCK_REALTIME) if now_ns is None else now_ns
        code = idle_step(self.state, now)
        if code == SETTLE:
            self.settle()
        return code

    def settle(self, drain: Callable[[], object] | None = None) -> None:
        """After SETTLE: follow a new session (:meth:`_follow_new_session`; ``drain``: as
        :meth:`_publish_tops`) or settle the refused event (:meth:`_settle_one`); while a gap
        is open, go on applying what the reorder buffer holds (which may settle again)."""
        rec = self.recovery.rec
        if rec[Recovery.NEW_SESSION] != 0:
            self._follow_new_session(drain)
            return
        self._settle_one()
        while int(rec[Recovery.STATE]) == RECOVERING:
            if idle_step(self.state, time.clock_gettime_ns(time.CLOCK_REALTIME)) != SETTLE:
                break
            if rec[Recovery.NEW_SESSION] != 0:  # an answer of another session
                self._follow_new_session(drain)
                return
            self._settle_one()

    def _settle_one(self) -> None:
        """After SETTLE: apply the refused event and the rest of its datagram in Python (grow
        the tables, raise or skip, as the books' ``errors`` say), then resume. With a ring,
        the rest is applied by the step's own kernel (noting trades and changed books, the
        refused message settled each time one is met) and the datagram's records published
        as the step would have."""
        books, events = self.handler.books, self.handler.events
        nev, at = int(self.feed[EVENTS]), int(self.feed[EVENT_AT])
        if self.tap is NO_TAP:
            books.apply(events, nev, start=at)
            self._state = None  # the tables may have been replaced
            return
        while True:
            if books.apply(events, at + 1, start=at):  # grown into room, then applied
                note_changed(events, at, at + 1, self.changed, self.seen, self.feed)
            st, at = apply_noting(events, at + 1, nev, books.orders, books.mask, books.levels,
                                  books.free, books.heads, books.stats_array, books.inst,
                                  books.symbols, books.type_counts, books.capacity,
                                  self.trades, self.changed, self.seen, self.feed)
            if st == BOOK_OK:
                break
        f = self.feed
        publish_datagram(*self.tap, events, nev, books.levels, books.heads, books.symbols,
                         self.trades, self.changed, f[T_RECEIVED], f[T_PARSED], f[T_DECODED],
                         time.clock_gettime_ns(time.CLOCK_REALTIME), f, self.clock)
        self._state = None  # the tables may have been replaced

    def _follow_new_session(self, drain: Callable[[], object] | None = None) -> None:
        """The venue started a new MoldUDP64 session: with a ring, the strategy gets an
        empty top for every instrument of the old books (the venue's restart dropped their
        orders); the books start empty; the session is followed from its first message and
        the packets that showed it are handed back in order (a gap before them is asked for
        as any)."""
        rec, stash = self.recovery.rec, self.recovery.sessions
        used = int(rec[Recovery.STASHED])
        packets, at = [], SESSION_PACKET
        while at < SESSION_PACKET + used:
            n = int(stash[at]) << 8 | int(stash[at + 1])
            packets.append(stash[at + 2:at + 2 + n].copy())
            at += 2 + n
        self._publish_tops(cleared=True, drain=drain)
        self.handler = self._fresh_handler()
        follow_session(rec, self.session.counters, self.session.session, stash)
        self._state = None
        for packet in packets:
            if step(self.state, packet, 0, packet.shape[0], -1) == SETTLE:
                self.settle(drain)
        tell_status(self.state)

    def _fresh_handler(self) -> ItchHandler:
        """A handler like this one's, with empty books."""
        old = self.handler
        books = type(old.books)(max_orders=old.books.max_orders,
                                max_levels=old.books.max_levels, errors=old.books.errors)
        return ItchHandler(books, batch=old.events.shape[0], errors=old.errors,
                           resync_run=old.resync_run)

    def _publish_tops(self, *, cleared: bool = False,
                      drain: Callable[[], object] | None = None) -> None:
        """With a ring: the top of every book (:func:`~tickpath.feed.itch.step.publish_tops`);
        when the ring fills, ``drain()`` empties it (a reader in this thread), or another
        process's reader is waited for (at most ``_DRAIN_WAIT_S``)."""
        state, loc, n = self.state, 0, self.handler.books.symbols.shape[0]
        end = time.monotonic() + _DRAIN_WAIT_S
        while True:
            loc = int(publish_tops(state, loc, cleared))
            if loc >= n or time.monotonic() > end:
                break
            if drain is not None:
                drain()
            else:
                time.sleep(0.0002)

    def await_snapshot(self) -> None:
        """A late join waiting for its snapshot: stale until :meth:`rejoin` (the session is
        followed, nothing applied), so a snapshot that cannot be read is tried again and the
        books are never taken for exact meanwhile."""
        rec = self.recovery.rec
        if rec[Recovery.STATE] != STALE:
            rec[Recovery.STATE] = STALE
            rec[Recovery.EXACT_UPTO] = 0

    def rejoin(self, snapshot: GlimpseSnapshot,
               drain: Callable[[], object] | None = None) -> None:
        """Rebuild the books from a snapshot (:func:`tickpath.feed.itch.glimpse.
        fetch_snapshot`) and follow the feed from its sequence number: a late join, or a
        stale feed made exact again. The feed meanwhile waits in the receiver's queue (the
        kernel's socket buffer, a transport's ring); what the snapshot already holds is
        skipped there as old. With a ring, the strategy gets the top of every book, then a
        STATUS record saying the books are exact (``drain``: :meth:`_publish_tops`)."""
        handler = self._fresh_handler()
        blocks = snapshot.blocks
        handler.on_blocks(blocks, 0, blocks.shape[0], final=True)
        self.handler = handler
        rejoined(self.recovery.rec, self.session.counters, self.recovery.rtime,
                 np.int64(snapshot.next_seq), np.int64(snapshot.messages),
                 np.int64(time.clock_gettime_ns(time.CLOCK_REALTIME)))
        self._state = None
        self._publish_tops(drain=drain)
        tell_status(self.state)

    def on_datagram(self, buf: np.ndarray, size: int, rx_ns: int = 0) -> int:
        """One datagram from Python (the ``socket`` transport, a call per datagram): the same
        compiled step the loops inline. Returns GO_ON or END_OF_SESSION (SETTLE is settled
        here)."""
        code = step(self.state, buf, 0, size, rx_ns)
        if code == SETTLE:
            self.settle()
        return code

    # -- observing -------------------------------------------------------------------------

    @property
    def samples(self) -> int:
        return min(int(self.feed[SAMPLES]), self.lat.shape[0])

    def session_stats(self) -> dict[str, int]:
        """The MoldUDP64 session's counters (packets, gaps, duplicates, ...)."""
        return self.session.stats()

    @property
    def ended(self) -> bool:
        return bool(self.session.counters[Mold.END_OF_SESSION])

    @property
    def malformed(self) -> int:
        """Datagrams whose blocks did not decode (the step's count)."""
        return int(self.feed[MALFORMED])

    @property
    def messages(self) -> int:
        return int(self.session.counters[Mold.MESSAGES])

    @property
    def exact(self) -> bool:
        """Whether the books are exact (no gap open, never given up on one)."""
        return self.recovery.exact

    @property
    def silent(self) -> bool:
        """Whether the feed has sent nothing for longer than ``recovery.silence_s``."""
        return self.recovery.silent

    def recovery_stats(self) -> dict[str, int | str]:
        """The gap recovery's state and counters (:class:`~tickpath.feed.moldudp64.layout.
        Recovery`), lower-case names, plus ``state`` and ``mode``."""
        return self.recovery.stats()

    def close(self) -> None:
        """Close the recovery's own socket, if it opened one."""
        self.recovery.close()

    # -- compiling ahead -------------------------------------------------------------------

    def scratch(self) -> ItchFeed:
        """A small feed whose state has this one's exact numba type (for a transport's
        ``warm_up``: its loop compiles for the type and consumes nothing of the real feed)."""
        books = type(self.handler.books)(max_orders=16, errors=self.handler.books.errors)
        tap = tuple(np.zeros(0, a.dtype) for a in self.tap) if self.tap is not NO_TAP else None
        return ItchFeed(ItchHandler(books, batch=16, errors=self.handler.errors),
                        MoldSession(), tap=tap, max_samples=1, zone=self.zone,
                        recovery=MoldRecovery(max_packets=1, max_bytes=1, max_samples=1))

    def warm_up(self, receiver=None) -> None:
        """Compile (or load from the cache) the decoder, the books and the Python-called step
        for these types, on scratch state; with a ``receiver`` that has a compiled loop, that
        loop too, for this state's type (it consumes no datagram of the real feed)."""
        self.handler.warm_up()
        s = self.scratch()
        s.on_datagram(np.zeros(64, np.uint8), 0, 0)
        s.on_idle(0)
        if getattr(receiver, "compiled", False):
            receiver.warm_up(s.state)
