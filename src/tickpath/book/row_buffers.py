"""``RowBuffers``: the owner of the row arrays :func:`~tickpath.book.apply_rows.
apply_batch_rows` writes into, and of their hand-off in batches to a consumer (a background
Parquet writer).

Each wanted table has a small pool of preallocated arrays (``spare + 1`` of ``rows`` records;
65,536 and 3 by default: measured, arrays of 262,144 and a pool of 4 made the books 15% slower
with every table, from first-touch page faults and arrays too big to stay in cache).
The kernel fills the current one; before a batch of events that might not fit, the full part is
handed to ``sink(table, rows, done)`` and the next free array taken from the pool. The sink
calls ``done()`` once it no longer needs the array, which returns it to the pool. When the
consumer falls behind, taking a free array waits for one: back-pressure, never a drop, never a
resize in the loop.
"""

from __future__ import annotations

import queue
import time
from collections.abc import Callable, Iterable

import numpy as np

from ..codec.itch50.layout import LENGTHS, MESSAGES
from . import apply as k
from .apply_rows import ROWS_FULL, apply_batch_rows
from .blocks import apply_blocks_rows
from .records import MAX_LOCATE
from .rows import DIRECTORY, EVENTS, N_FILL, TABLES, TOP, TRADES
from .store import BookStore

#: ``sink(table, rows, done)``: take ``rows`` (a view of a pooled array); call ``done()`` when
#: finished with it
Sink = Callable[[str, np.ndarray, Callable[[], None]], None]

_R_LENGTH = MESSAGES["R"].length


class RowBuffers:
    """Apply events to a :class:`BookStore` while writing the rows of ``tables`` (a subset of
    ``events``, ``top``, ``trades``) and handing them to ``sink`` in batches of up to ``rows``.

    Also keeps the raw bytes of every ITCH stock directory message applied (``directory``:
    one ``(n, 39)`` uint8 array per batch that had any), for the instruments table.
    """

    def __init__(self, tables: Iterable[str], sink: Sink, rows: int = 1 << 16,
                 spare: int = 2) -> None:
        self.tables = tuple(t for t in TABLES if t in set(tables))
        unknown = set(tables) - set(TABLES)
        if unknown:
            raise ValueError(f"unknown row tables {sorted(unknown)}; known: {list(TABLES)}")
        if rows < 1:
            raise ValueError("rows must be positive")
        if spare < 1:  # a full array waits for a spare one: with none it would wait for ever
            raise ValueError(f"spare must be at least 1, not {spare}")
        self.rows = int(rows)
        self.sink = sink
        self._free: dict[str, queue.Queue[np.ndarray]] = {}
        self._cur: dict[str, np.ndarray | None] = {}
        for name, dtype in TABLES.items():
            if name in self.tables:
                pool: queue.Queue[np.ndarray] = queue.Queue()
                for _ in range(spare):
                    pool.put(np.zeros(self.rows, dtype))
                self._free[name] = pool
                self._cur[name] = np.zeros(self.rows, dtype)
            else:  # not wanted: the kernel is given None in its place
                self._cur[name] = None
        self.fill = np.zeros(N_FILL, np.int64)
        self.last_top = np.zeros((MAX_LOCATE, 4), np.int64)
        self._dir = np.zeros(1 << 14, np.int64)
        self.directory: list[np.ndarray] = []
        self.written = dict.fromkeys(TABLES, 0)  # rows handed to the sink, per table
        #: seconds spent waiting for a spare array (the consumer held them all)
        self.waited_s = 0.0

    def _hand_over(self, name: str, index: int) -> None:
        n = int(self.fill[index])
        if name not in self.tables or n == 0:
            return
        full = self._cur[name]
        pool = self._free[name]
        t0 = time.perf_counter()
        self._cur[name] = pool.get()  # waits while the consumer holds every spare array
        self.waited_s += time.perf_counter() - t0
        self.fill[index] = 0
        self.written[name] += n
        self.sink(name, full[:n], lambda: pool.put(full))

    def _make_room(self, need: int) -> None:
        for name, index in (("events", EVENTS), ("top", TOP), ("trades", TRADES)):
            cur = self._cur[name]
            if cur is not None and self.fill[index] + need > cur.shape[0]:
                self._hand_over(name, index)

    def _note_directory(self, buf: np.ndarray | None, base: int) -> None:
        n = int(self.fill[DIRECTORY])
        self.fill[DIRECTORY] = 0
        if n == 0 or buf is None:
            return
        at = self._dir[:n] - base
        if at.min() < 0 or at.max() + _R_LENGTH > buf.shape[0]:
            return  # (events not decoded from ``buf``: no bytes to keep)
        self.directory.append(buf[at[:, None] + np.arange(_R_LENGTH)])

    def apply(self, books: BookStore, events: np.ndarray, n: int,
              buf: np.ndarray | None = None, base: int = 0) -> int:
        """Apply ``events[:n]`` to ``books`` (refusals and growth as
        :meth:`BookStore.apply`), writing rows. ``buf``, ``base``: the bytes the events were
        decoded from and the stream offset of ``buf[0]``, to keep the directory messages'.
        Returns the number applied."""
        start = 0
        applied = 0
        while start < n:
            self._make_room(min(n - start, self.rows))
            if self._dir.shape[0] < n:
                self._dir = np.zeros(n, np.int64)
            idx, st = apply_batch_rows(
                events, start, n, books.orders, books.mask, books.levels, books.free,
                books.heads, books.stats_array, books.inst, books.symbols, books.type_counts,
                books.capacity, self._cur["events"], self._cur["top"], self._cur["trades"],
                self._dir, self.fill, self.last_top)
            applied += idx - start
            self._note_directory(buf, base)
            if st == k.OK:
                break
            start = idx if st == ROWS_FULL else books.settle(events, idx, st)
        return applied

    def apply_blocks(self, books: BookStore, buf: np.ndarray, start: int, end: int, base: int,
                     scratch: np.ndarray) -> tuple[int, int, int, int]:
        """Decode the blocks of ``buf[start:end]`` straight into ``books``, writing rows
        (:func:`tickpath.book.blocks.apply_blocks_rows`), handing full arrays on as it goes.
        Returns what :func:`~tickpath.book.blocks.apply_blocks` returns: messages applied,
        the decoder status, a book status other than OK for a refused message at the offset
        (in ``scratch[0]``, for the caller to settle), and the offset."""
        applied = 0
        p = start
        while True:
            self._make_room(1)
            n, st, bst, nxt = apply_blocks_rows(
                buf, p, end, LENGTHS, scratch, base, books.orders, books.mask, books.levels,
                books.free, books.heads, books.stats_array, books.inst, books.symbols,
                books.type_counts, books.capacity, self._cur["events"], self._cur["top"],
                self._cur["trades"], self._dir, self.fill, self.last_top)
            applied += n
            p = int(nxt)
            self._note_directory(buf, base)
            if bst != ROWS_FULL:
                return applied, int(st), int(bst), p

    def flush(self) -> None:
        """Hand every partly filled array to the sink (the end of the input)."""
        for name, index in (("events", EVENTS), ("top", TOP), ("trades", TRADES)):
            self._hand_over(name, index)
