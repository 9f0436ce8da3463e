"""DBN MBP-1 and MBP-10 records into price-level books.

An MBP record of a book change (add, cancel, modify, clear) carries its instrument's top
levels after that change (1 for MBP-1, 10 for MBP-10): the book after the record is exactly
those levels, so the compiled :func:`dbn_levels_apply_batch` copies them into a level table,
one row per (publisher_id, instrument_id). A trade record (``T``) carries the levels from
*before* the trade's effect (the change comes in the records that follow it), so its levels,
and those of a fill or none record, are not copied: such a record is only counted. A level
with an undefined price or a size of 0 is empty. The record's own action, side, price and
size say what changed (counted by action); nothing in a record can be refused, except an
instrument beyond ``max_instruments``.

State (``DbnLevelBooks``): ``px``, ``qty``, ``nord`` int64 ``(rows, 2, depth)``, side 0 the
bids and 1 the asks, level 0 the best.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numba import njit

from ...book.mdp3 import OK
from ...codec.dbn.reader import Batch
from ...codec.dbn.records import F_LAST, F_SNAPSHOT, UNDEF_PRICE
from .instruments import InstrumentDirectory, instrument_key, row_of
from .mbo import DbnBookError
from .status import INSTRUMENTS_FULL, N_COUNTS, DbnCount

_EVENTS, _SNAP, _CHANGES = 256, 257, 262
_R, _T, _F, _N = (ord(c) for c in "RTFN")
_UNDEF = np.int64(UNDEF_PRICE)


@njit(cache=True, nogil=True, _nrt=False, inline="always")
def _put_level(px, qty, nord, row, side, j, p, size, orders):
    """Level ``j`` of ``side`` as the record gives it; empty (all 0) for an undefined price
    or a size of 0."""
    q = np.int64(size)
    if p == _UNDEF or q == 0:
        px[row, side, j] = 0
        qty[row, side, j] = 0
        nord[row, side, j] = 0
    else:
        px[row, side, j] = p
        qty[row, side, j] = q
        nord[row, side, j] = orders


@njit(cache=True, nogil=True, _nrt=False)
def dbn_levels_apply_batch(start, end, publisher, instrument, action, flags, bid_px, ask_px,
                           bid_sz, ask_sz, bid_ct, ask_ct, keys, rows, row_keys, count, limit,
                           px, qty, nord, counts):
    """Copy the levels of records ``start:end`` into the table, except those of trade, fill
    and none records (a trade's levels are the book before it). Field arrays are the
    batch's columns (levels ``(n, L)``); ``limit`` the rows the table has now. Returns
    ``(index, status)``: ``end`` and OK, or the record whose instrument found no row."""
    depth = min(bid_px.shape[1], px.shape[2])
    for i in range(start, end):
        row = row_of(keys, rows, row_keys, count, limit,
                     instrument_key(publisher[i], instrument[i]))
        if row < 0:
            return i, INSTRUMENTS_FULL
        a = np.int64(action[i])
        counts[a] += 1
        if a == _T or a == _F or a == _N:
            depth_i = 0  # no book after it: the levels are those before the trade
        else:
            depth_i = depth
            counts[_CHANGES] += 1
        for j in range(depth_i):
            _put_level(px, qty, nord, row, 0, j, bid_px[i, j], bid_sz[i, j], bid_ct[i, j])
            _put_level(px, qty, nord, row, 1, j, ask_px[i, j], ask_sz[i, j], ask_ct[i, j])
        fl = np.int64(flags[i])
        if fl & F_LAST:
            counts[_EVENTS] += 1
        if fl & F_SNAPSHOT:
            counts[_SNAP] += 1
    return end, OK


class DbnLevelBooks:
    """Price-level books of ``depth`` levels a side from MBP-1 or MBP-10 records, one per
    (publisher_id, instrument_id); rows grow by doubling up to ``max_instruments``."""

    def __init__(self, depth: int, max_instruments: int = 1 << 18,
                 symbols: dict[int, str] | None = None) -> None:
        self.depth = int(depth)
        self.max_instruments = int(max_instruments)
        self.directory = InstrumentDirectory(self.max_instruments)
        self.counts = np.zeros(N_COUNTS, np.int64)
        self.symbols = dict(symbols or {})
        self.records = 0
        self._alloc(min(1024, self.max_instruments))

    def _alloc(self, rows: int) -> None:
        old = getattr(self, "px", None)
        shape = (rows, 2, self.depth)
        px, qty, nord = (np.zeros(shape, np.int64) for _ in range(3))
        if old is not None:
            n = old.shape[0]
            px[:n], qty[:n], nord[:n] = self.px, self.qty, self.nord
        self.px, self.qty, self.nord = px, qty, nord

    def on_batch(self, batch: Batch) -> int:
        """Apply one batch of MBP-1 / MBP-10 records. Returns the number applied."""
        r = batch.records
        lv = r["levels"]
        cols = (r["publisher_id"], r["instrument_id"], r["action"], r["flags"], lv["bid_px"],
                lv["ask_px"], lv["bid_sz"], lv["ask_sz"], lv["bid_ct"], lv["ask_ct"])
        end = r.shape[0]
        start = 0
        d = self.directory
        while start < end:
            idx, st = dbn_levels_apply_batch(start, end, *cols, d.keys, d.rows, d.row_keys,
                                             d.count, self.px.shape[0], self.px, self.qty,
                                             self.nord, self.counts)
            if st == OK:
                break
            if self.px.shape[0] >= self.max_instruments:
                raise DbnBookError(int(st), batch.first_index + int(idx),
                                   batch.offset_of(int(idx)), _as_mbo(r[int(idx)]),
                                   "price-level books")
            self._alloc(min(2 * self.px.shape[0], self.max_instruments))
            start = int(idx)
        self.records += end
        return end

    def counts_by_action(self) -> dict[str, int]:
        """Records by action character."""
        return {chr(a): int(n) for a, n in enumerate(self.counts[:256]) if n}

    def counters(self) -> dict[str, Any]:
        """Records, events, snapshot records, trades, instruments, levels held."""
        c = self.counts
        n = len(self.directory)
        return {"records": self.records, "events": int(c[DbnCount.EVENTS]),
                "snapshot_records": int(c[DbnCount.SNAPSHOT]),
                "trades": int(c[ord("T")]), "fills": int(c[ord("F")]),
                "book_changes": int(c[DbnCount.BOOK_CHANGES]), "refused": 0,
                "instruments": n,
                "instruments_with_levels": int(np.count_nonzero(
                    self.qty[:n, :, 0].any(axis=1))),
                "live_levels": int(np.count_nonzero(self.qty[:n]))}

    def book_list(self, depth: int | None = None) -> list[dict[str, Any]]:
        """Every book with a level: ``{"instrument_id", "publisher_id", "symbol", "bids":
        [[price, size, orders], ...], "asks": [...]}``, best first, prices in 1e-9 units."""
        out = []
        for row, (pub, iid) in enumerate(self.directory.pairs()):
            sides = []
            for s in (0, 1):
                q = self.qty[row, s]
                keep = np.flatnonzero(q)[:depth]
                sides.append([[int(self.px[row, s, j]), int(q[j]), int(self.nord[row, s, j])]
                              for j in keep.tolist()])
            if sides[0] or sides[1]:
                out.append({"instrument_id": iid, "publisher_id": pub,
                            "symbol": self.symbols.get(iid, ""),
                            "bids": sides[0], "asks": sides[1]})
        return out


def _as_mbo(rec: np.void) -> dict[str, int]:
    """The fields an error message names, from an MBP record (which has no order_id)."""
    return {"price": int(rec["price"]), "instrument_id": int(rec["instrument_id"]),
            "publisher_id": int(rec["publisher_id"]), "action": int(rec["action"]),
            "side": int(rec["side"]), "order_id": 0, "size": int(rec["size"])}
