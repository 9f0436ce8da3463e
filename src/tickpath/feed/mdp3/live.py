"""``Mdp3Feed``: the CME MDP 3.0 feed handler a transport's receive loop calls.

It owns what the compiled step (:mod:`.step`) needs: the channel's counters, the instrument
table, the price-level books (:mod:`tickpath.book.depth`), the order books
(:mod:`tickpath.book.mbo`), the recovery buffer and the latency samples, and offers them to any
transport as one :data:`~tickpath.feed.mdp3.step.Mdp3State`. The transports hand it datagrams
through :func:`tickpath.wire.handler.on_datagram` and never learn what a message is. Given a
ring (``tap``), the step hands the strategy the records the ITCH feed does
(:mod:`tickpath.strategy.records`; :mod:`tickpath.feed.mdp3.tap` says what and in which units).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...book.depth_store import DepthBooks
from ...book.mbo_store import OrderBooks
from ...book.mdp3 import STATUS_TEXT as BOOK_STATUS
from ...book.records import MAX_LOCATE
from ..tap import NO_TAP, scratch_tap
from . import layout as L
from .instruments import find, new_table
from .step import SETTLE, TS_ENTRY, Mdp3State, idle_step, step

#: orders and price levels kept free for the next datagram: a 1500-byte packet adds at most
#: 62 orders (24-byte order entries), a 9000-byte jumbo frame 375
ROOM = 1024

LATE_JOIN = {"snapshot": L.LATE_JOIN_SNAPSHOT, "natural": L.LATE_JOIN_NATURAL}

#: The locate of the feed's first instrument by default: ITCH locates are 1..N (NASDAQ uses
#: about 12,000), so futures from 32,768 on never meet them below MAX_LOCATE (65,536), and
#: 32,768 rows are left for futures.
LOCATE_BASE = 1 << 15
#: Trade summary entries one datagram can hold at most (the trade buffer never fills)
TRADE_ROWS = (1 << 16) // TS_ENTRY + 1

_COUNTERS = {
    "last_seq": L.LAST_SEQ, "packets": L.PACKETS, "duplicates": L.DUPLICATES,
    "gaps": L.GAPS, "gap_packets": L.GAP_PACKETS, "messages": L.MESSAGES,
    "entries": L.ENTRIES, "order_entries": L.ORDER_ENTRIES, "trades": L.TRADES,
    "unknown_templates": L.UNKNOWN_TEMPLATES, "foreign": L.FOREIGN, "malformed": L.MALFORMED,
    "refused": L.REFUSED, "rpt_gaps": L.RPT_GAPS, "stale_now": L.STALE_NOW,
    "recoveries": L.RECOVERIES, "recovery_ns": L.RECOVERY_NS, "snapshots": L.SNAPSHOTS,
    "snapshots_skipped": L.SNAPSHOTS_SKIPPED, "snapshot_packets": L.SNAPSHOT_PACKETS,
    "channel_resets": L.CHANNEL_RESETS, "definitions": L.DEFINITIONS,
    "instruments": L.INSTRUMENTS, "buffer_overflows": L.BUF_OVERFLOWS,
    "datagrams": L.DATAGRAMS, "errors": L.ERRORS,
}
_TAP_COUNTERS = {
    "published": L.TAP_PUBLISHED, "ring_full": L.TAP_FULL, "inexact_prices": L.TAP_INEXACT,
    "undefined": L.TAP_UNDEFINED, "trades_lost": L.TAP_TRADES_LOST,
}


class Mdp3Error(ValueError):
    """A message the handler refused, with where it was: the packet's MsgSeqNum and the
    offset of the message in its datagram."""

    def __init__(self, reason: str, seq: int, offset: int, template: int) -> None:
        self.reason, self.seq, self.offset, self.template = reason, seq, offset, template
        what = f" (template {template})" if template >= 0 else ""
        at = f"packet MsgSeqNum {seq}, " if seq >= 0 else ""
        super().__init__(f"MDP3: {reason}{what} at {at}offset {offset}")


class Mdp3Feed:
    """Arbitration, sequencing, recovery and books for one MDP 3.0 channel.

    ``errors``: ``"skip"`` counts a refused message (``counters()``: malformed, unknown
    templates, foreign schema, refused entries) and goes on; ``"raise"`` stops at the first
    one with :class:`Mdp3Error` naming it. ``late_join``: what an instrument first seen on the
    incremental feed does: ``"snapshot"`` waits for the snapshot loop (CME's recovery), and
    ``"natural"`` starts from the first message (a capture with no snapshot loop; its books are
    exact only for the levels updated since). ``recovery_bytes``/``recovery_packets`` bound
    the buffer of incremental packets kept while an instrument is stale. ``orders=False``
    keeps the price-level books only (order entries and order snapshots are skipped).

    ``tap``: ``(hdr, words, wait)`` of the SPSC ring the step hands the strategy its records
    (trades, outright tops, book states: :mod:`tickpath.feed.mdp3.tap`), the ``wait`` words
    as :func:`tickpath.feed.tap.tap_wait` builds them; None: no ring. Instrument row ``r``
    (the order instruments are first seen in: :meth:`row_of`) is locate ``locate_base + r``
    in the records; with a ring every locate must stay below ``MAX_LOCATE``, the strategy's
    instrument tables (:meth:`locate_of`).
    """

    def __init__(self, *, max_instruments: int = 4096, max_depth: int = 10,
                 max_implied_depth: int = 2, max_orders: int = 1 << 20,
                 errors: str = "skip", late_join: str = "snapshot",
                 recovery_bytes: int = 32 << 20, recovery_packets: int = 1 << 17,
                 max_samples: int = 1 << 16, orders: bool = True,
                 tap: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
                 locate_base: int = LOCATE_BASE) -> None:
        if errors not in ("raise", "skip"):
            raise ValueError(f"errors must be 'raise' or 'skip', not {errors!r}")
        if late_join not in LATE_JOIN:
            raise ValueError(f"late_join must be one of {sorted(LATE_JOIN)}, not {late_join!r}")
        if tap is not None and not (0 <= locate_base
                                    and locate_base + max_instruments <= MAX_LOCATE):
            raise ValueError(
                f"locate_base={locate_base} with max_instruments={max_instruments}: the "
                f"futures' locates {locate_base}..{locate_base + max_instruments - 1} must lie "
                f"in 0..{MAX_LOCATE - 1} (book.records.MAX_LOCATE, the strategy's tables); "
                f"lower locate_base or max_instruments")
        self.errors, self.late_join = errors, late_join
        self.max_instruments = int(max_instruments)
        self.chan = np.zeros(L.N_CHAN, np.int64)
        self.chan[L.RAISE] = errors == "raise"
        self.chan[L.LATE_JOIN] = LATE_JOIN[late_join]
        self.chan[L.NO_ORDERS] = not orders
        self.with_orders = orders
        self.inst = np.zeros((max_instruments, L.N_INST), np.int64)
        self.table = new_table(max_instruments)
        self.symbols = np.zeros((max_instruments, L.SYMBOL_LEN), np.uint8)
        self.levels = DepthBooks(max_instruments, max_depth=max_depth,
                                 max_implied_depth=max_implied_depth, errors="skip")
        self.orders = OrderBooks(max_orders=max_orders, errors="skip",
                                 n_instruments=max_instruments)
        self.chan[L.ROOM] = ROOM
        self.rbuf = np.zeros(recovery_bytes, np.uint8)
        self.rpk = np.zeros((recovery_packets, 3), np.int64)
        self.applied = np.zeros(256, np.bool_)
        self.lat = np.zeros(max_samples, np.int64)
        self.ker = np.zeros(max_samples, np.int64)
        # the hand-off: 0 rows without a ring, and ``tap_on`` (in ``state``) says which, as
        # part of the state's type: a feed without a ring compiles without the hand-off
        self.tap = tap if tap is not None else NO_TAP
        self.locate_base = int(locate_base)
        self.tapc = np.zeros(L.N_TAP, np.int64)
        self.tapc[L.TAP_LOCATE_BASE] = self.locate_base
        rows = max_instruments if tap is not None else 0
        self.tinst = np.zeros((rows, L.N_TI), np.int64)
        self.touched = np.zeros(rows, np.int64)
        self.trades = np.zeros((TRADE_ROWS if tap is not None else 0, L.N_TR), np.int64)
        self.error_log: list[Mdp3Error] = []
        self._state: Mdp3State | None = None

    @property
    def state(self) -> Mdp3State:
        """The arrays the compiled step works on."""
        if self._state is None:
            d, o = self.levels, self.orders
            self._state = Mdp3State(self.chan, self.inst, self.table, self.symbols,
                                    d.px, d.qty, d.nord, d.limits, d.stats_array,
                                    o.orders, o.mask, o.levels, o.free, o.books,
                                    o.stats_array, o.capacity, self.rbuf, self.rpk,
                                    self.applied, self.lat, self.ker,
                                    (1,) if self.tap is not NO_TAP else (), *self.tap, self.tapc,
                                    self.tinst, self.touched, self.trades)
        return self._state

    def settle(self) -> None:
        """After SETTLE: grow the order books when the step asked for room (a table
        reaching ``max_orders`` stops the asking: further orders are refused and counted),
        else raise the refusal the step recorded (``errors="raise"``)."""
        if self.chan[L.GROW]:
            self.chan[L.GROW] = 0
            if not self.orders.reserve(int(self.chan[L.ROOM])):
                self.chan[L.ROOM] = 0
            self._state = None  # the tables may have been replaced
            return
        raise self.last_error()

    def last_error(self) -> Mdp3Error:
        """The last refusal the step recorded, as an exception (not raised)."""
        c = self.chan
        code = int(c[L.ERROR_CODE])
        reason = L.ERROR_TEXT.get(code, f"refusal {code}")
        if code == L.ERR_BOOK_REFUSED:
            detail = int(c[L.ERROR_DETAIL])
            reason = (f"{reason}: {BOOK_STATUS.get(detail, detail)}, SecurityID "
                      f"{int(c[L.ERROR_SECURITY])}")
        return Mdp3Error(reason, int(c[L.ERROR_SEQ]), int(c[L.ERROR_OFFSET]),
                         int(c[L.ERROR_TEMPLATE]))

    def on_datagram(self, buf: np.ndarray, size: int, rx_ns: int = 0) -> int:
        """One datagram from Python (the ``socket`` transport, a test): the same compiled step
        the receive loops inline. Returns GO_ON; with ``errors="raise"`` a refusal raises."""
        code = step(self.state, buf, 0, size, rx_ns)
        if code == SETTLE:
            self.settle()
        return code

    def on_idle(self, now_ns: int = 0) -> int:
        """The idle turn from Python (the ``socket`` transport, when a receive timed out):
        records a full ring refused, handed on once it has room. Returns GO_ON."""
        return idle_step(self.state, now_ns)

    def close(self) -> None:
        """Nothing to close (the ring belongs to its creator)."""

    # -- observing -------------------------------------------------------------------------

    def counters(self) -> dict[str, int]:
        """The channel's counters, and the hand-off's (``published``, ``ring_full``,
        ``inexact_prices``, ``undefined``: records held back for want of a definition,
        ``trades_lost``)."""
        out = {k: int(self.chan[i]) for k, i in _COUNTERS.items()}
        out.update({k: int(self.tapc[i]) for k, i in _TAP_COUNTERS.items()})
        return out

    @property
    def messages(self) -> int:
        return int(self.chan[L.MESSAGES])

    @property
    def malformed(self) -> int:
        return int(self.chan[L.MALFORMED])

    @property
    def samples(self) -> int:
        return min(int(self.chan[L.SAMPLES]), self.lat.shape[0])

    @property
    def ended(self) -> bool:
        return False  # an MDP3 channel has no end-of-session message

    def session_stats(self) -> dict[str, int]:
        return self.counters()

    @property
    def price_exponent(self) -> int:
        """Exponent of the book prices (-9 for today's templates, -7 for the legacy ones; 0
        before any book entry)."""
        return int(self.chan[L.PRICE_EXPONENT])

    @property
    def count(self) -> int:
        """Instruments seen."""
        return int(self.chan[L.INSTRUMENTS])

    def symbol(self, row: int) -> str:
        return bytes(self.symbols[row]).split(b"\0", 1)[0].decode("latin-1").strip()

    def security_id(self, row: int) -> int:
        return int(self.inst[row, L.I_SECURITY_ID])

    def row_of(self, security_id: int) -> int | None:
        """The instrument row of a security id, or None when never seen."""
        r = int(find(self.table, security_id))
        return r if r >= 0 else None

    def locate_of(self, security_id: int) -> int | None:
        """The locate the records give a security id (``locate_base`` + its row), or None
        when never seen."""
        r = self.row_of(security_id)
        return None if r is None else self.locate_base + r

    def stale(self) -> list[int]:
        """Security ids of the instruments stale now."""
        return [self.security_id(r) for r in range(self.count)
                if self.inst[r, L.I_STATE] == L.S_STALE]

    def books(self, which: str = "outright") -> list[dict[str, Any]]:
        """Every instrument's price-level book (``which``: outright, implied or merged) as
        ``{"security_id", "symbol", "bids": [[price, qty, orders]], "asks": ...}``, prices
        as the schema's mantissas, best first; instruments in the order first seen."""
        out = []
        for r in range(self.count):
            b = self.levels.book(r, which)
            out.append({"security_id": self.security_id(r), "symbol": self.symbol(r),
                        "bids": b["bids"], "asks": b["asks"]})
        return out

    def order_books(self) -> list[dict[str, Any]]:
        """The order-by-order books aggregated to price levels, in :meth:`books`' shape."""
        out = []
        for r in range(self.count):
            if not self.inst[r, L.I_USES_MBO]:
                continue
            b = self.orders.book(r)
            out.append({"security_id": self.security_id(r), "symbol": self.symbol(r),
                        "bids": b["bids"], "asks": b["asks"]})
        return out

    # -- compiling ahead -------------------------------------------------------------------

    def scratch(self) -> Mdp3Feed:
        """A small feed whose state has this one's exact numba type (with a ring: one of its
        own, in memory)."""
        s = Mdp3Feed(max_instruments=4, max_orders=16, errors=self.errors,
                     late_join=self.late_join, recovery_bytes=256, recovery_packets=4,
                     max_samples=1, orders=self.with_orders,
                     tap=scratch_tap() if self.tap is not NO_TAP else None, locate_base=0)
        s.chan[L.ROOM] = 0  # its tables are tiny on purpose: never ask to grow them
        return s

    def warm_up(self, receiver=None) -> None:
        """Compile (or load from the cache) the step for this state's type on scratch state;
        with a ``receiver`` that has a compiled loop, that loop too."""
        s = self.scratch()
        s.errors = "skip"
        s.chan[L.RAISE] = 0
        s.on_datagram(np.zeros(64, np.uint8), 0, 0)
        s.on_idle(0)
        if getattr(receiver, "compiled", False):
            receiver.warm_up(s.state)
