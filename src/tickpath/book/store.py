"""``BookStore``: owns the book state arrays, applies event batches, answers queries."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from ..codec.itch50.layout import MESSAGES, stock_symbol
from . import apply as k
from .records import (
    ASK,
    BID,
    EMPTY_REF,
    LEVEL_DTYPE,
    MAX_LOCATE,
    N_PER_INSTRUMENT,
    N_STATS,
    ORDER_DTYPE,
    PerInstrument,
    Stat,
)


class BookError(ValueError):
    """A message the books refused. The books are unchanged by it."""

    def __init__(self, reason: str, status: int, event: np.void | None = None,
                 offset: int | None = None) -> None:
        self.status = status
        self.offset = offset
        self.event = event
        where = f" at offset {offset}" if offset is not None else ""
        what = ""
        if event is not None:
            t = chr(int(event["type"]))
            name = MESSAGES[t].name if t in MESSAGES else "?"
            what = f" {t!r} ({name}) ref={int(event['ref'])} locate={int(event['locate'])}"
        super().__init__(f"book rejected message{what}{where}: {reason}")


class BookStore:
    """Order-by-order books for every instrument of a feed, keyed by stock locate.

    ``max_orders`` bounds the orders live at once (a full NASDAQ day peaks near two million);
    the order table (``records.py``) has a window of at least twice as many slots as the
    orders it holds, and an overflow table as large. It starts at ``initial_orders`` and
    doubles when full, up to ``max_orders``. Growth happens here, between batches, never
    inside the compiled loop. (Measured on an 8M-message day peaking at 388k live orders:
    room for 1M orders, a window of 2M references, left 2,283 orders in the overflow and ran
    5% faster than room for 512k, which left 29,754 there; room for 2M was no faster. Hence
    the default start of 1M: 64 MiB of orders.)
    ``max_levels`` bounds live price levels over all books (defaults to ``max_orders``); the
    level pool grows the same way. Running out of either is reported, never a crash.

    ``errors``: ``"raise"`` raises :class:`BookError` at the first refused message (replay of
    a file you expect to be clean); ``"skip"`` counts it in ``stats()['rejected']``, keeps the
    first 100 in ``rejections`` and goes on (a live feed must survive a bad message).
    """

    def __init__(self, max_orders: int = 1 << 22, max_levels: int | None = None,
                 errors: str = "raise", initial_orders: int = 1 << 20) -> None:
        if errors not in ("raise", "skip"):
            raise ValueError(f"errors must be 'raise' or 'skip', not {errors!r}")
        if max_orders < 1:
            raise ValueError("max_orders must be positive")
        if max_levels is not None and max_levels < 1:
            raise ValueError(f"max_levels must be positive, not {max_levels}")
        if initial_orders < 1:  # (growth doubles: from 0 it would never grow)
            raise ValueError(f"initial_orders must be positive, not {initial_orders}")
        self.errors = errors
        self.max_orders = int(max_orders)
        self.max_levels = int(max_levels or self.max_orders)
        self.capacity = min(self.max_orders, int(initial_orders))  # orders the table holds now
        self.orders = self._table(self.capacity)
        self.mask = (self.orders.shape[0] >> 1) - 1  # W - 1: the window's and the overflow's
        n_levels = min(self.max_levels, int(initial_orders))
        self.levels = np.zeros(n_levels, LEVEL_DTYPE)
        self.free = np.arange(n_levels - 1, -1, -1, dtype=np.int32)  # a stack: pop from the end
        self.heads = np.full((MAX_LOCATE, 2), -1, np.int32)
        self.stats_array = np.zeros(N_STATS, np.int64)
        self.stats_array[Stat.FREE_TOP] = n_levels
        self.inst = np.zeros((MAX_LOCATE, N_PER_INSTRUMENT), np.int64)
        self.symbols = np.zeros(MAX_LOCATE, np.uint64)
        self.type_counts = np.zeros(256, np.int64)
        self.rejections: list[BookError] = []
        self._walk = np.zeros((64, 3), np.uint64)

    @staticmethod
    def _table(capacity: int) -> np.ndarray:
        """A window of W >= 2 * capacity slots and an overflow table of W (records.py)."""
        window = 1 << max(4, (2 * capacity - 1).bit_length())
        table = np.zeros(2 * window, ORDER_DTYPE)
        table["ref"] = EMPTY_REF
        return table

    def _grow_orders(self) -> bool:
        if self.capacity >= self.max_orders:
            return False
        self.capacity = min(self.max_orders, max(1, 2 * self.capacity))
        table = self._table(self.capacity)
        k.rehash(self.orders, table, (table.shape[0] >> 1) - 1, self.stats_array)
        self.orders, self.mask = table, (table.shape[0] >> 1) - 1
        return True

    def _grow_levels(self) -> bool:
        n = self.levels.shape[0]
        if n >= self.max_levels:
            return False
        m = min(self.max_levels, max(1, 2 * n))
        levels = np.zeros(m, LEVEL_DTYPE)
        levels[:n] = self.levels
        top = int(self.stats_array[Stat.FREE_TOP])
        free = np.empty(m, np.int32)
        # new levels go under the existing free ones; indices already handed out stay valid
        free[:m - n] = np.arange(m - 1, n - 1, -1, dtype=np.int32)
        free[m - n:m - n + top] = self.free[:top]
        self.levels, self.free = levels, free
        self.stats_array[Stat.FREE_TOP] = top + m - n
        return True

    # -- applying ---------------------------------------------------------------------------

    def apply(self, events: np.ndarray, n: int | None = None, start: int = 0) -> int:
        """Apply ``events[start:n]`` (``EVENT_DTYPE`` records). Returns the number applied."""
        end = events.shape[0] if n is None else n
        applied = 0
        while start < end:
            idx, st = k.apply_batch(events, start, end, self.orders, self.mask, self.levels,
                                    self.free, self.heads, self.stats_array, self.inst,
                                    self.symbols, self.type_counts, self.capacity)
            applied += idx - start
            if st == k.OK:
                break
            start = self.settle(events, idx, st)
        return applied

    def settle(self, events: np.ndarray, idx: int, status: int) -> int:
        """A kernel stopped at ``events[idx]`` with book ``status``: grow the full table and
        return ``idx`` (apply it again), or refuse the event (raise :class:`BookError`, or
        count and log it with ``errors="skip"``) and return ``idx + 1``. Between batches,
        never inside the compiled loop; any kernel applying these books resumes from here."""
        if (status == k.ORDERS_FULL and self._grow_orders()) or (
                status == k.LEVELS_FULL and self._grow_levels()):
            return idx  # resume at the message that found the table full
        ev = events[idx]
        err = BookError(k.STATUS_TEXT[status], status, ev.copy(), int(ev["offset"]))
        self.stats_array[Stat.REJECTED] += 1
        self.stats_array[Stat.EVENTS] += 1
        if self.errors == "raise":
            raise err
        if len(self.rejections) < 100:
            self.rejections.append(err)
        return idx + 1

    # -- queries ----------------------------------------------------------------------------

    def _side(self, locate: int, side: int, depth: int) -> list[list[int]]:
        out: list[list[int]] = []
        if depth <= 0:
            return out
        if depth > self._walk.shape[0]:
            walk = np.zeros((depth, 3), np.uint64)
        else:
            walk = self._walk
        n = k.level_walk(self.levels, self.heads, locate, side, depth, walk)
        return [[int(p), int(s), int(c)] for p, s, c in walk[:n]]

    def _locate(self, instrument: int | str) -> int:
        if isinstance(instrument, str):
            return self.locate_of(instrument)
        loc = int(instrument)
        if not 0 <= loc < MAX_LOCATE:
            raise KeyError(f"stock locate {loc} is outside 0..{MAX_LOCATE - 1}")
        return loc

    def best_bid(self, instrument: int | str) -> tuple[int, int, int] | None:
        """(price, shares, orders) of the best bid, or None."""
        lv = self._side(self._locate(instrument), BID, 1)
        return tuple(lv[0]) if lv else None  # type: ignore[return-value]

    def best_ask(self, instrument: int | str) -> tuple[int, int, int] | None:
        """(price, shares, orders) of the best offer, or None."""
        lv = self._side(self._locate(instrument), ASK, 1)
        return tuple(lv[0]) if lv else None  # type: ignore[return-value]

    def bbo(self, instrument: int | str) -> tuple[tuple[int, int, int] | None, ...]:
        return self.best_bid(instrument), self.best_ask(instrument)

    def depth(self, instrument: int | str, n: int | None = None) -> dict[str, Any]:
        """The book of one instrument: levels [price, shares, orders], best first."""
        loc = self._locate(instrument)
        # all levels: a side cannot hold more than the live level count
        d = n if n is not None else max(1, int(self.stats_array[Stat.LIVE_LEVELS]))
        return {
            "locate": loc,
            "symbol": self.symbol(loc),
            "bids": self._side(loc, BID, d),
            "asks": self._side(loc, ASK, d),
        }

    def books(self, depth: int | None = None) -> Iterator[dict[str, Any]]:
        """Every instrument with a live order, in locate order."""
        for loc in np.flatnonzero(self.inst[:, PerInstrument.ORDERS] > 0):
            yield self.depth(int(loc), depth)

    def order(self, ref: int) -> dict[str, Any] | None:
        """A live order by reference number, or None."""
        ref = int(ref)
        if not 0 <= ref < int(EMPTY_REF):
            return None
        i = k.find(self.orders, self.mask, np.uint64(ref))
        if i < 0:
            return None
        o = self.orders[i]
        lv = self.levels[o["level"]]
        return {
            "ref": ref,
            "locate": int(lv["locate"]),
            "symbol": self.symbol(int(lv["locate"])),
            "side": "B" if lv["side"] == BID else "S",
            "shares": int(o["shares"]),
            "price": int(lv["price"]),
        }

    def symbol(self, locate: int) -> str:
        code = int(self.symbols[locate])
        return stock_symbol(code) if code else ""

    @property
    def directory(self) -> dict[int, str]:
        """locate -> symbol, from the stock directory messages seen."""
        locs = np.flatnonzero(self.inst[:, PerInstrument.DIRECTORY])
        return {int(loc): self.symbol(int(loc)) for loc in locs}

    def locate_of(self, symbol: str) -> int:
        want = symbol.strip().upper()
        for loc, sym in self.directory.items():
            if sym.upper() == want:
                return loc
        raise KeyError(f"symbol {symbol!r} is not in the instrument directory "
                       f"({len(self.directory)} instruments seen)")

    def instrument_stats(self, instrument: int | str) -> dict[str, int]:
        loc = self._locate(instrument)
        return {c.name.lower(): int(self.inst[loc, c]) for c in PerInstrument}

    def stats(self) -> dict[str, int]:
        s = {c.name.lower(): int(self.stats_array[c]) for c in Stat
             if c not in (Stat.FREE_TOP, Stat.REF_TOP)}
        s["instruments_with_orders"] = int(np.count_nonzero(self.inst[:, PerInstrument.ORDERS]))
        s["locked_updates"] = int(self.inst[:, PerInstrument.LOCKED].sum())
        s["crossed_updates"] = int(self.inst[:, PerInstrument.CROSSED].sum())
        return s

    def check(self) -> None:
        """Check the books against each other and the counters (cold path: tests, fuzzing);
        raises ``AssertionError`` naming the first fault."""
        from .check import CHECK_TEXT, CONSISTENT, check_books

        locates = np.flatnonzero(self.inst[:, PerInstrument.ORDERS]
                                 | (self.heads[:, 0] >= 0) | (self.heads[:, 1] >= 0))
        st = check_books(self.orders, self.mask, self.levels, self.heads, self.stats_array,
                         self.inst, locates.astype(np.int64))
        if st != CONSISTENT:
            raise AssertionError(f"books inconsistent: {CHECK_TEXT[int(st)]}")

    def crossed(self) -> dict[int, str]:
        """The instruments whose book is locked or crossed now: locate -> "locked" or
        "crossed" (valid ITCH input can do either; ``stats()`` counts the updates after which
        a book was)."""
        from .check import CROSSED, LOCKED, crossing

        out: dict[int, str] = {}
        both = np.flatnonzero((self.heads[:, 0] >= 0) & (self.heads[:, 1] >= 0))
        for loc in both:
            c = crossing(self.levels, self.heads, int(loc))
            if c == LOCKED or c == CROSSED:
                out[int(loc)] = "locked" if c == LOCKED else "crossed"
        return out

    def counts_by_type(self) -> dict[str, int]:
        return {chr(t): int(c) for t, c in enumerate(self.type_counts) if c}
