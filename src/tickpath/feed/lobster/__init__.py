"""LOBSTER replay into tickpath's order-by-order books (``LobsterHandler``).

One instrument per file pair, held at stock locate 1 of a :class:`tickpath.book.BookStore`.
How the start-of-file book and the file's LEVEL-level window are handled: ``records.py`` and
docs/lobster.md.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ...book import BookError, BookStore
from ...book import apply as book_kernels
from ...book.records import ASK, BID
from ...codec.itch50.layout import EVENT_DTYPE, stock_code
from ...codec.lobster import LobsterError
from ...codec.lobster.layout import EMPTY_ASK_PRICE, EMPTY_BID_PRICE, EventType
from . import apply as k
from .records import LOCATE, MISMATCH_DTYPE, N_COUNTERS, Counter

__all__ = ["Counter", "LobsterHandler", "Mismatch", "first_book"]


class Mismatch(NamedTuple):
    """A (row, level, side) where the books differ from the orderbook file. Rows and levels
    count from 1; prices x 10000 as in the file; an empty level is the file's dummy price and
    size 0."""

    row: int
    level: int
    side: str  # "bid" or "ask"
    expected: tuple[int, int]  # (price, size) in the orderbook file
    got: tuple[int, int]  # (price, size) in the books


def first_book(first_row: np.ndarray, first_message: np.void) -> np.ndarray:
    """The book before the file's first event, in the orderbook layout: the first row with
    the first message's effect taken back (a submission's shares come off its level, a
    cancel's, delete's or execution's go back on). May hold one level a side more than the
    row (a level the first message emptied)."""
    n = first_row.shape[0] // 4
    sides: dict[int, dict[int, int]] = {ASK: {}, BID: {}}
    for j in range(n):
        for side, col in ((ASK, 0), (BID, 2)):
            p, s = int(first_row[4 * j + col]), int(first_row[4 * j + col + 1])
            if s:
                sides[side][p] = s
    t = int(first_message["type"])
    if t <= EventType.EXECUTE:
        side = BID if int(first_message["direction"]) == 1 else ASK
        p, s = int(first_message["price"]), int(first_message["size"])
        book = sides[side]
        book[p] = book.get(p, 0) + (-s if t == EventType.SUBMIT else s)
        if book[p] <= 0:
            del book[p]
    width = max(len(sides[ASK]), len(sides[BID]), n)
    out = np.zeros(4 * width, np.int64)
    out[0::4] = EMPTY_ASK_PRICE
    out[2::4] = EMPTY_BID_PRICE
    for j, p in enumerate(sorted(sides[ASK])):
        out[4 * j], out[4 * j + 1] = p, sides[ASK][p]
    for j, p in enumerate(sorted(sides[BID], reverse=True)):
        out[4 * j + 2], out[4 * j + 3] = p, sides[BID][p]
    return out


class LobsterHandler:
    """Replays LOBSTER message rows into order-by-order books through the compiled ITCH book
    kernels, optionally checking every row against the orderbook file.

    With the orderbook rows (:meth:`run`'s ``orderbook``), the book before the first event is
    seeded from them as synthetic orders, one per level, and levels that come into the
    file's window from below are set from them as they appear. Without, the books start
    empty and every delete, cancel or execution of an order the file never showed is counted
    in ``counters["unknown"]`` (rows in ``unknown_rows``), never dropped silently.

    ``errors``: ``"raise"`` raises :class:`tickpath.book.BookError` (with the row) at the
    first message the books refuse; ``"skip"`` counts it (``refused``, rows in
    ``refused_rows``) and goes on.
    """

    def __init__(self, symbol: str = "", *, errors: str = "raise", max_orders: int = 1 << 22,
                 initial_orders: int = 1 << 16, max_mismatches: int = 100,
                 max_unknown_rows: int = 100) -> None:
        self.books = BookStore(max_orders=max_orders, errors=errors,
                               initial_orders=initial_orders)
        self.errors = errors
        self.symbol = symbol
        if symbol:
            self.books.symbols[LOCATE] = stock_code(symbol[:8])
            self.books.inst[LOCATE, 5] = 1  # PerInstrument.DIRECTORY: the name is known
        self.counters_array = np.zeros(N_COUNTERS, np.int64)
        self._mismatches = np.zeros((max_mismatches, 7), np.int64)
        self._unknown = np.zeros(max_unknown_rows, np.int64)
        self._ev = np.zeros(1, EVENT_DTYPE)
        self.refused = 0
        self.refused_rows: list[BookError] = []
        self.rows = 0

    # -- running ----------------------------------------------------------------------------

    def _room(self) -> bool:
        b = self.books
        return b.capacity < b.max_orders or b.levels.shape[0] < b.max_levels

    def _grow(self) -> None:
        b = self.books
        b._grow_orders()
        b._grow_levels()

    def _check_ids(self, msgs: np.ndarray) -> None:
        bad = msgs["order_id"] >= (1 << 62)
        if bad.any():
            row = int(np.argmax(bad)) + 1
            raise LobsterError(None, f"order id {int(msgs['order_id'][row - 1])} is too large "
                               "(2^62 and above are the books' synthetic orders)", row,
                               "order_id (column 3)")

    def seed(self, row: np.ndarray) -> int:
        """Put the levels of one orderbook-layout row on the books as synthetic orders;
        returns the levels seeded."""
        b = self.books
        while True:
            st, n = k.seed_row(np.ascontiguousarray(row, np.int64), self._ev, b.orders,
                               b.mask, b.levels, b.free, b.heads, b.stats_array, b.inst,
                               b.symbols, b.capacity, self.counters_array)
            if st == book_kernels.OK:
                return int(n)
            if not self._room():
                raise BookError(book_kernels.STATUS_TEXT[int(st)], int(st))
            self._grow()

    def run(self, messages: np.ndarray, orderbook: np.ndarray | None = None, *,
            check: bool = False) -> None:
        """Replay every row of ``messages`` (``MESSAGE_DTYPE``). With ``orderbook`` (the same
        number of rows), seed the first book and set levels coming into view from it; with
        ``check`` also compare the books with every row (:attr:`mismatches`)."""
        self._check_ids(messages)
        n = messages.shape[0]
        if orderbook is not None:
            if orderbook.shape[0] != n:
                raise ValueError(f"{n:,} messages but {orderbook.shape[0]:,} orderbook rows")
            ob = np.ascontiguousarray(orderbook, np.int64)
            prev = (first_book(ob[0], messages[0]) if n else np.zeros(ob.shape[1], np.int64))
            self.seed(prev)
        else:
            if check:
                raise ValueError("check needs the orderbook rows")
            ob = np.zeros((0, 4), np.int64)
            prev = np.zeros(4, np.int64)
        reveal = orderbook is not None
        b = self.books
        start, skip = 0, False
        while start < n:
            idx, st = k.replay_rows(messages, start, n, skip, ob, prev, reveal, check,
                                    self._room(), self._ev, b.orders, b.mask, b.levels,
                                    b.free, b.heads, b.stats_array, b.inst, b.symbols,
                                    b.capacity, self.counters_array, self._mismatches,
                                    self._unknown)
            if st == book_kernels.OK:
                break
            if st == k.NEED_ROOM or ((st == book_kernels.ORDERS_FULL
                                      or st == book_kernels.LEVELS_FULL) and self._room()):
                self._grow()
                start = idx
                continue
            m = messages[idx]
            err = BookError(f"row {idx + 1:,} (type {int(m['type'])}, order id "
                            f"{int(m['order_id'])}, size {int(m['size'])}, price "
                            f"{int(m['price'])}): {book_kernels.STATUS_TEXT[int(st)]}", int(st))
            err.offset = idx + 1  # the row, from 1
            self.refused += 1
            if self.errors == "raise":
                raise err
            if len(self.refused_rows) < 100:
                self.refused_rows.append(err)
            start, skip = idx, True
        self.rows += n

    # -- results ----------------------------------------------------------------------------

    @property
    def counters(self) -> dict[str, int]:
        c = {x.name.lower(): int(self.counters_array[x]) for x in Counter}
        c["refused"] = self.refused
        return c

    @property
    def mismatches(self) -> list[Mismatch]:
        """The first mismatches found (up to ``max_mismatches``), in row order."""
        n = int(self.counters_array[Counter.MISMATCHES_KEPT])
        rec = self._mismatches[:n].copy().view(MISMATCH_DTYPE).ravel()
        return [Mismatch(int(r["row"]), int(r["level"]), "bid" if r["side"] == BID else "ask",
                         (int(r["expected_price"]), int(r["expected_size"])),
                         (int(r["got_price"]), int(r["got_size"]))) for r in rec]

    @property
    def unknown_rows(self) -> list[int]:
        """Rows (from 1) of the first deletes, cancels and executions whose order the file
        never showed and whose shares were on no synthetic order."""
        return [int(x) for x in self._unknown[:int(self.counters_array[Counter.UNKNOWN_KEPT])]]

    def depth(self, n: int | None = None) -> dict:
        """The book now: ``{"locate", "symbol", "bids": [[price, shares, orders], ...],
        "asks": [...]}``, best first (a synthetic order counts as one order)."""
        return self.books.depth(LOCATE, n)
