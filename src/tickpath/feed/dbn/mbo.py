"""DBN MBO records into tickpath's order-by-order books (:class:`tickpath.book.OrderBooks`).

The compiled adapter :func:`dbn_mbo_apply_batch` turns each record into one call of the book
kernel ``mbo_apply`` (inlined), keyed by OrderID, one book per (publisher_id, instrument_id):

==========  =====================================================================
action      book change
==========  =====================================================================
``A`` add   New order at the back of its price level (side ``B`` bid, ``A`` ask)
``C``       cancel ``size``: the order's size shrinks by it, the order goes at zero;
            its place in the queue is kept
``M``       modify to ``price``/``size``: the order goes to the back of the (new) level
            when the price changes or the size grows, keeps its place otherwise; a
            Modify of an order not on the book is taken as an Add
``R``       clear: the instrument's book is emptied (a snapshot starts with one)
``T`` ``F`` trade / fill: counted, no book change (the fill's Cancel changes the book)
``N``       none: counted
==========  =====================================================================

Queue position is the book's ``priority``: a counter the adapter hands out in arrival order,
so orders of a level rank by it as the venue ranks them. ``F_LAST`` marks the end of an
event (counted); ``F_SNAPSHOT`` records (a clear, then the instrument's orders in queue
order) apply as any other. A refused record changes nothing.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit

from ...book import BookError, OrderBooks
from ...book import mbo as k
from ...book.mdp3 import (
    BAD_SIZE,
    CHANGE,
    DELETE,
    INSTRUMENT_MISMATCH,
    LEVELS_FULL,
    NEW,
    OK,
    ORDERS_FULL,
    SIDE_MISMATCH,
    UNKNOWN_ID,
)
from ...codec.dbn.reader import Batch
from ...codec.dbn.records import F_LAST, F_SNAPSHOT, F_TOB, UNDEF_PRICE
from ...ring.intrinsics import prefetch
from .instruments import InstrumentDirectory, forget_last, instrument_key, row_of
from .status import (
    BAD_SIDE,
    CANCEL_TOO_LARGE,
    DBN_STATUS_TEXT,
    INSTRUMENTS_FULL,
    N_COUNTS,
    TOP_OF_BOOK,
    UNKNOWN_ACTION,
    DbnCount,
)

_A, _C, _M, _R, _T, _F, _N = (ord(c) for c in "ACMRTFN")
_EVENTS, _SNAP, _AS_ADD, _NEXT, _LOST, _KEPT, _CHANGES = 256, 257, 258, 259, 260, 261, 262
_BID_BYTE, _ASK_BYTE = 48, 49  # the book kernel's entry types '0' and '1'
_J = 74  # the book kernel's "empty the book" entry type
_FAR = 16


@njit(cache=True, nogil=True, _nrt=False, inline="always")
def _entry_type(side):
    if side == 66:  # 'B'
        return _BID_BYTE
    if side == 65:  # 'A'
        return _ASK_BYTE
    return -1


@njit(cache=True, nogil=True, _nrt=False, inline="always")
def _apply_one(r, row, orders, mask, levels, free, books, stats, capacity, counts):
    """Apply one MBO record to the books at ``row``; returns OK or why it was refused
    (the books and counters then unchanged)."""
    action = np.int64(r["action"])
    flags = np.int64(r["flags"])
    oid = r["order_id"]
    price = r["price"]
    size = np.int64(r["size"])
    if action == _A or action == _M:
        et = _entry_type(r["side"])
        if et < 0:
            return BAD_SIDE
        if flags & F_TOB:
            return TOP_OF_BOOK
        slot = -1
        if action == _M and oid != k.EMPTY_ID:
            slot = k.find(orders, mask, oid)
            if slot >= 0 and not k.is_live(orders, levels, books, slot):
                slot = -1
        if slot < 0:  # an Add, or a Modify of an order the book does not have
            st = k.mbo_apply(orders, mask, levels, free, books, stats, capacity, row, et,
                             NEW, oid, np.uint64(counts[_NEXT]), price, size)
            if st != OK:
                return st
            counts[_NEXT] += 1
            if action == _M:
                counts[_AS_ADD] += 1
        else:
            o = orders[slot]
            lose = price != levels[o["level"]]["price"] or size > o["qty"]
            prio = np.uint64(counts[_NEXT]) if lose else o["priority"]
            st = k.mbo_apply(orders, mask, levels, free, books, stats, capacity, row, et,
                             CHANGE, oid, prio, price, size)
            if st != OK:
                return st
            if lose:
                counts[_NEXT] += 1
                counts[_LOST] += 1
            else:
                counts[_KEPT] += 1
        counts[_CHANGES] += 1
    elif action == _C:
        slot = -1 if oid == k.EMPTY_ID else k.find(orders, mask, oid)
        if slot < 0 or not k.is_live(orders, levels, books, slot):
            return UNKNOWN_ID
        o = orders[slot]
        lv = levels[o["level"]]
        if lv["inst"] != row:
            return INSTRUMENT_MISMATCH
        et = _entry_type(r["side"])
        if et < 0:  # a cancel names its order: the order's own side will do
            et = _BID_BYTE + np.int64(o["side"])
        elif et - _BID_BYTE != o["side"]:
            return SIDE_MISMATCH
        left = np.int64(o["qty"]) - size
        if size <= 0:
            return BAD_SIZE
        if left < 0:
            return CANCEL_TOO_LARGE
        if left == 0:
            st = k.mbo_apply(orders, mask, levels, free, books, stats, capacity, row, et,
                             DELETE, oid, o["priority"], price, size)
        else:
            st = k.mbo_apply(orders, mask, levels, free, books, stats, capacity, row, et,
                             CHANGE, oid, o["priority"], lv["price"], left)
        if st != OK:
            return st
        counts[_CHANGES] += 1
    elif action == _R:
        k.mbo_apply(orders, mask, levels, free, books, stats, capacity, row, _J, 0,
                    oid, np.uint64(0), price, size)
        counts[_CHANGES] += 1
    elif action != _T and action != _F and action != _N:
        return UNKNOWN_ACTION
    counts[action] += 1
    if flags & F_LAST:
        counts[_EVENTS] += 1
    if flags & F_SNAPSHOT:
        counts[_SNAP] += 1
    return OK


@njit(cache=True, nogil=True, _nrt=False)
def dbn_mbo_apply_batch(recs, start, end, keys, rows, row_keys, count, orders, mask, levels,
                        free, books, stats, capacity, counts):
    """Apply MBO records ``recs[start:end]`` (``records.MBO_DTYPE``) to the books. Returns
    ``(index, status)``: the first record not applied (``end`` when all were) and why.

    ``keys, rows, row_keys, count``: the instrument directory (rows up to the books' rows);
    ``orders ... capacity``: the state of :class:`tickpath.book.OrderBooks`; ``counts``
    (int64, ``status.N_COUNTS``): per-action and named counters. A refused record changed
    nothing, counters and the instrument directory included."""
    limit = books.shape[0]
    for i in range(start, end):
        f = i + _FAR
        if f < end:
            prefetch(orders, k.slot_of(recs[f]["order_id"], mask))
        r = recs[i]
        seen = count[0]
        key = instrument_key(r["publisher_id"], r["instrument_id"])
        row = row_of(keys, rows, row_keys, count, limit, key)
        if row < 0:
            return i, INSTRUMENTS_FULL
        st = _apply_one(r, row, orders, mask, levels, free, books, stats, capacity, counts)
        if st != OK:
            if count[0] > seen:  # a refused record does not add its instrument either
                forget_last(keys, row_keys, count, key)
            return i, st
    return end, OK


class DbnBookError(BookError):
    """A DBN record the books refused; the books are unchanged by it."""

    def __init__(self, status: int, index: int, offset: int, record: np.void,
                 kind: str = "order book") -> None:
        price = int(record["price"])
        px = "undefined" if price == UNDEF_PRICE else f"{price / 1e9:.9f}"
        ValueError.__init__(
            self, f"{kind} refused record {index:,} at byte {offset:,}: instrument "
                  f"{int(record['instrument_id'])} (publisher {int(record['publisher_id'])}), "
                  f"action {chr(int(record['action']))!r}, side {chr(int(record['side']))!r}, "
                  f"order_id {int(record['order_id'])}, price {px}, size "
                  f"{int(record['size'])}: {DBN_STATUS_TEXT.get(status, status)}")
        self.status = status
        self.reason = DBN_STATUS_TEXT.get(status, str(status))
        self.offset = offset
        self.event = None
        self.index = index


class DbnMboFeed:
    """Order-by-order books from DBN MBO records, one per (publisher_id, instrument_id).

    ``max_orders`` and ``max_instruments`` bound the books (they grow to ``max_orders``
    between batches, :class:`~tickpath.book.OrderBooks`). ``errors``: ``"raise"`` raises
    :class:`DbnBookError` at the first refused record (an unknown order cancelled, a side
    other than B/A, ...); ``"skip"`` counts it (``counters()["refused"]``), keeps the last
    hundred in ``rejections`` and goes on. ``symbols``: instrument_id -> symbol, for the
    books' names."""

    def __init__(self, max_orders: int = 1 << 22, max_instruments: int = 1 << 18,
                 errors: str = "raise", symbols: dict[int, str] | None = None) -> None:
        if errors not in ("raise", "skip"):
            raise ValueError(f"errors must be 'raise' or 'skip', not {errors!r}")
        self.errors = errors
        self.books = OrderBooks(max_orders=max_orders, errors="skip",
                                n_instruments=max_instruments,
                                initial_orders=min(max_orders, 1 << 16))
        self.directory = InstrumentDirectory(max_instruments)
        self.counts = np.zeros(N_COUNTS, np.int64)
        self.symbols = dict(symbols or {})
        self.rejections: list[DbnBookError] = []
        self.records = 0

    def on_batch(self, batch: Batch) -> int:
        """Apply one batch of MBO records. Returns the number applied."""
        recs = batch.records
        end = recs.shape[0]
        start = 0
        applied = 0
        d, b = self.directory, self.books
        while start < end:
            idx, st = dbn_mbo_apply_batch(recs, start, end, d.keys, d.rows, d.row_keys,
                                          d.count, b.orders, b.mask, b.levels, b.free,
                                          b.books, b.stats_array, b.capacity, self.counts)
            applied += idx - start
            if st == OK:
                break
            if st in (ORDERS_FULL, LEVELS_FULL) and b.make_room(st):
                start = idx  # the record found the table full: resume at it, now it fits
                continue
            self._refuse(int(st), batch, int(idx))
            start = idx + 1
        self.records += end
        return applied

    def _refuse(self, status: int, batch: Batch, i: int) -> None:
        rec = batch.records[i]
        err = DbnBookError(status, batch.first_index + i, batch.offset_of(i), rec)
        self.counts[DbnCount.REFUSED] += 1
        if self.errors == "raise":
            raise err
        # a skipped record still happened in the stream: its action and flags count
        self.counts[int(rec["action"])] += 1
        self.counts[DbnCount.EVENTS] += bool(int(rec["flags"]) & F_LAST)
        self.counts[DbnCount.SNAPSHOT] += bool(int(rec["flags"]) & F_SNAPSHOT)
        if len(self.rejections) >= 100:
            del self.rejections[0]
        self.rejections.append(err)

    # -- queries ----------------------------------------------------------------------------

    def counts_by_action(self) -> dict[str, int]:
        """Records by action character (``{"A": 10, "C": 4, ...}``), refused ones included."""
        return {chr(a): int(n) for a, n in enumerate(self.counts[:256]) if n}

    def counters(self) -> dict[str, Any]:
        """Records, events, snapshot records, trades and fills, refusals, priority outcomes
        of Modifies, instruments and live orders and levels."""
        c = self.counts
        st = self.books.stats()
        return {
            "records": self.records, "events": int(c[DbnCount.EVENTS]),
            "snapshot_records": int(c[DbnCount.SNAPSHOT]),
            "trades": int(c[ord("T")]), "fills": int(c[ord("F")]),
            "book_changes": int(c[DbnCount.BOOK_CHANGES]),
            "refused": int(c[DbnCount.REFUSED]),
            "modify_as_add": int(c[DbnCount.MODIFY_AS_ADD]),
            "priority_lost": int(c[DbnCount.PRIORITY_LOST]),
            "priority_kept": int(c[DbnCount.PRIORITY_KEPT]),
            "instruments": len(self.directory),
            "instruments_with_orders": st["instruments_with_orders"],
            "live_orders": st["live_orders"], "live_levels": st["live_levels"],
            "max_live_orders": st["max_live_orders"],
        }

    def _row(self, instrument_id: int, publisher_id: int | None) -> int:
        for row, (pub, iid) in enumerate(self.directory.pairs()):
            if iid == instrument_id and (publisher_id is None or pub == publisher_id):
                return row
        raise KeyError(f"no instrument {instrument_id} in the books")

    def book_list(self, depth: int | None = None) -> list[dict[str, Any]]:
        """Every book with a live order: ``{"instrument_id", "publisher_id", "symbol",
        "bids": [[price, size, orders], ...], "asks": [...]}``, best first, prices in
        1e-9 units, in the order instruments were first seen."""
        out = []
        with_orders = self.books.books[:len(self.directory), k.BookCol.ORDERS]
        pairs = self.directory.pairs()
        for row in np.flatnonzero(with_orders).tolist():
            pub, iid = pairs[row]
            bk = self.books.book(row)
            out.append({"instrument_id": iid, "publisher_id": pub,
                        "symbol": self.symbols.get(iid, ""),
                        "bids": bk["bids"][:depth], "asks": bk["asks"][:depth]})
        return out

    def queue(self, instrument_id: int, side: str, price: int,
              publisher_id: int | None = None) -> list[int]:
        """OrderIDs at one price level (``side`` ``"B"`` or ``"A"``), first in line first."""
        row = self._row(instrument_id, publisher_id)
        want = "0" if side == "B" else "1"
        return [o["order_id"] for o in self.books.orders_of(row)
                if o["side"] == want and o["price"] == price]
