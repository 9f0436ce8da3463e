"""Compiled kernels for CME MDP 3.0 depth books (market by price, template 46 and snapshot 52).

State, for ``n`` instruments indexed ``0..n-1`` by the caller and ``D`` levels at most::

    px    int64 (n, 4, D)   price mantissa, PRICE9 units (real price * 1e9)
    qty   int64 (n, 4, D)   quantity; 0 marks an empty level
    nord  int32 (n, 4, D)   number of orders (outright books; 0 in implied books)
    limits      (n, 2)      depth of the outright book [:, 0] and implied book [:, 1],
                            each 0..D (0: no such book); any integer dtype
    stats int64 (N_DEPTH_STATS,)  counters, indices in :class:`DepthStat`

The second axis is the book: 0 outright bid, 1 outright offer, 2 implied bid, 3 implied offer
(``MDEntryType`` '0', '1', 'E', 'F'). Each side is dense: levels ``1..c`` hold prices and the
rest are empty, as MDP3 keeps them (a deleted level shifts the ones below up, and the venue
refills the bottom with a New). ``MDPriceLevel`` is 1-based, so level ``L`` is index ``L-1``.

Every kernel validates all its input before it writes anything: a refused entry returns a
status from :mod:`tickpath.book.mdp3` and leaves the books and the counters exactly as they
were. The kernels allocate nothing (``_nrt=False``) and take only arrays and integers, so a
feed handler's compiled loop calls them directly; ``depth_apply`` is inlined into its callers.
"""

from __future__ import annotations

import enum

import numpy as np
from numba import njit

from .mdp3 import (
    BAD_ACTION,
    BAD_COUNT,
    BAD_ENTRY_TYPE,
    BAD_INSTRUMENT,
    BAD_LEVEL,
    BAD_ORDERS,
    BAD_PRICE,
    BAD_SIZE,
    CHANGE,
    DELETE,
    DELETE_FROM,
    DELETE_THRU,
    DUPLICATE_LEVEL,
    EMPTY_LEVEL,
    INT32_NULL,
    LEVEL_GAP,
    NEW,
    NO_DEPTH,
    OK,
    PRICE_MISMATCH,
    PRICE_NULL,
)

#: Books per instrument (second axis of the state arrays)
OUT_BID, OUT_OFFER, IMP_BID, IMP_OFFER = 0, 1, 2, 3
N_BOOKS = 4


class DepthStat(enum.IntEnum):
    """Indices of the depth books' int64 counters (the kernels count what they applied)."""

    NEW = 0  # entries applied, per MDUpdateAction
    CHANGE = 1
    DELETE = 2
    DELETE_THRU = 3
    DELETE_FROM = 4
    OVERLAY = 5
    BOOK_RESETS = 6  # 'J' entries (both books of the instrument cleared)
    CLEARS = 7  # depth_clear calls
    SNAPSHOTS = 8  # snapshots loaded
    SNAPSHOT_LEVELS = 9  # levels those snapshots held
    REFUSED = 10  # entries refused (counted by DepthBooks, not by the kernels)


N_DEPTH_STATS = len(DepthStat)
_BOOK_RESETS, _CLEARS, _SNAPSHOTS, _SNAPSHOT_LEVELS = 6, 7, 8, 9

#: One entry of an incremental update, for batches (``depth_apply_batch``)
DEPTH_ENTRY_DTYPE = np.dtype(
    [
        ("price", np.int64),
        ("inst", np.int32),
        ("size", np.int32),
        ("orders", np.int32),
        ("level", np.int16),
        ("entry_type", np.uint8),
        ("action", np.uint8),
    ],
    align=True,
)

_PRICE_NULL = np.int64(PRICE_NULL)


@njit(cache=True, nogil=True, _nrt=False, inline="always")
def book_of(entry_type):
    """Book index of an MDEntryType byte ('0' 0, '1' 1, 'E' 2, 'F' 3), else -1."""
    if entry_type == 48:
        return 0
    if entry_type == 49:
        return 1
    if entry_type == 69:
        return 2
    if entry_type == 70:
        return 3
    return -1


@njit(cache=True, nogil=True, _nrt=False, inline="always")
def _clear_book(px, qty, nord, inst, b):
    for j in range(px.shape[2]):
        px[inst, b, j] = 0
        qty[inst, b, j] = 0
        nord[inst, b, j] = 0


@njit(cache=True, nogil=True, _nrt=False, inline="always")
def _check_values(b, price, size, orders):
    if price == _PRICE_NULL:
        return BAD_PRICE
    if size <= 0 or size >= INT32_NULL:
        return BAD_SIZE
    if b < 2 and (orders <= 0 or orders >= INT32_NULL):
        return BAD_ORDERS
    return OK


@njit(cache=True, nogil=True, _nrt=False, inline="always")
def _write(px, qty, nord, inst, b, k, price, size, orders):
    px[inst, b, k] = price
    qty[inst, b, k] = size
    nord[inst, b, k] = orders if b < 2 else 0


@njit(cache=True, nogil=True, _nrt=False, inline="always")
def _move(px, qty, nord, inst, b, dst, src):
    px[inst, b, dst] = px[inst, b, src]
    qty[inst, b, dst] = qty[inst, b, src]
    nord[inst, b, dst] = nord[inst, b, src]


@njit(cache=True, nogil=True, _nrt=False, inline="always")
def _empty(px, qty, nord, inst, b, k):
    px[inst, b, k] = 0
    qty[inst, b, k] = 0
    nord[inst, b, k] = 0


@njit(cache=True, nogil=True, _nrt=False, inline="always")
def depth_apply(px, qty, nord, limits, stats, inst, entry_type, action, level, price, size,
                orders):
    """Validate, then apply one book entry. Returns a status; on refusal nothing changed.

    ``depth_apply(px, qty, nord, limits, stats, inst, entry_type, action, level, price, size,
    orders) -> int``: ``entry_type`` the MDEntryType byte, ``action`` the MDUpdateAction,
    ``level`` the 1-based MDPriceLevel, ``price`` the MDEntryPx mantissa, ``size`` the
    MDEntrySize, ``orders`` the NumberOfOrders (ignored for implied entries).

    Checked in this order: instrument index (BAD_INSTRUMENT), action 0..5 (BAD_ACTION);
    'J' then clears both books of the instrument whatever the other fields hold; type
    '0' '1' 'E' 'F' (BAD_ENTRY_TYPE); the book's depth > 0 (NO_DEPTH); DeleteThru then clears
    the side, ignoring level and price; level in 1..depth (BAD_LEVEL); then per action:

    * New: the level above is occupied (LEVEL_GAP), price not null (BAD_PRICE), size > 0
      (BAD_SIZE), outright orders > 0 (BAD_ORDERS). Levels from there down shift one place;
      the one at the depth falls off.
    * Change: the level is occupied (EMPTY_LEVEL), the price is the level's or null
      (PRICE_MISMATCH), size and orders as for New. Quantity and orders change, not price.
    * Delete: occupied, price the level's or null. Levels below shift up one.
    * DeleteFrom: level N occupied; levels 1..N go, the rest shift up N places.
    * Overlay: the level is occupied or the first empty one (LEVEL_GAP), values as for New;
      the level is replaced outright, price included.

    Prices are not checked for order within a side: within one event the venue may pass
    through states that are not ordered.
    """
    if inst < 0 or inst >= px.shape[0]:
        return BAD_INSTRUMENT
    if action < 0 or action > 5:
        return BAD_ACTION
    if entry_type == 74:  # 'J': empty book
        for b in range(4):
            _clear_book(px, qty, nord, inst, b)
        stats[_BOOK_RESETS] += 1
        return OK
    b = book_of(entry_type)
    if b < 0:
        return BAD_ENTRY_TYPE
    lim = np.int64(limits[inst, b >> 1])
    if lim <= 0:
        return NO_DEPTH
    if action == DELETE_THRU:
        _clear_book(px, qty, nord, inst, b)
        stats[DELETE_THRU] += 1
        return OK
    if level < 1 or level > lim:
        return BAD_LEVEL
    k = np.int64(level) - 1
    if action == NEW:
        if k > 0 and qty[inst, b, k - 1] == 0:
            return LEVEL_GAP
        st = _check_values(b, price, size, orders)
        if st != OK:
            return st
        for j in range(lim - 1, k, -1):
            _move(px, qty, nord, inst, b, j, j - 1)
        _write(px, qty, nord, inst, b, k, price, size, orders)
    elif action == CHANGE:
        if qty[inst, b, k] == 0:
            return EMPTY_LEVEL
        if price != _PRICE_NULL and price != px[inst, b, k]:
            return PRICE_MISMATCH
        st = _check_values(b, px[inst, b, k], size, orders)
        if st != OK:
            return st
        qty[inst, b, k] = size
        nord[inst, b, k] = orders if b < 2 else 0
    elif action == DELETE:
        if qty[inst, b, k] == 0:
            return EMPTY_LEVEL
        if price != _PRICE_NULL and price != px[inst, b, k]:
            return PRICE_MISMATCH
        for j in range(k, lim - 1):
            _move(px, qty, nord, inst, b, j, j + 1)
        _empty(px, qty, nord, inst, b, lim - 1)
    elif action == DELETE_FROM:
        if qty[inst, b, k] == 0:
            return EMPTY_LEVEL
        n = k + 1
        for j in range(lim - n):
            _move(px, qty, nord, inst, b, j, j + n)
        for j in range(lim - n, lim):
            _empty(px, qty, nord, inst, b, j)
    else:  # OVERLAY
        if k > 0 and qty[inst, b, k - 1] == 0:
            return LEVEL_GAP
        st = _check_values(b, price, size, orders)
        if st != OK:
            return st
        _write(px, qty, nord, inst, b, k, price, size, orders)
    stats[action] += 1
    return OK


@njit(cache=True, nogil=True, _nrt=False)
def depth_apply_batch(entries, start, end, px, qty, nord, limits, stats):
    """Apply ``entries[start:end]`` (``DEPTH_ENTRY_DTYPE``). Returns ``(index, status)``: the
    first entry not applied (``end`` when all were) and why it was refused."""
    for k in range(start, end):
        e = entries[k]
        st = depth_apply(px, qty, nord, limits, stats, np.int64(e["inst"]),
                         np.int64(e["entry_type"]), np.int64(e["action"]),
                         np.int64(e["level"]), e["price"], np.int64(e["size"]),
                         np.int64(e["orders"]))
        if st != OK:
            return k, st
    return end, OK


@njit(cache=True, nogil=True, _nrt=False)
def depth_clear(px, qty, nord, stats, inst):
    """Empty both books of ``inst`` (snapshot start, channel reset). Returns a status.

    ``depth_clear(px, qty, nord, stats, inst) -> int``"""
    if inst < 0 or inst >= px.shape[0]:
        return BAD_INSTRUMENT
    for b in range(4):
        _clear_book(px, qty, nord, inst, b)
    stats[_CLEARS] += 1
    return OK


@njit(cache=True, nogil=True, _nrt=False)
def depth_snapshot(px, qty, nord, limits, stats, inst, n, types, levels, prices, sizes,
                   orders):
    """Replace both books of ``inst`` with a snapshot's entries ``0..n-1`` (template 52).

    ``depth_snapshot(px, qty, nord, limits, stats, inst, n, types, levels, prices, sizes,
    orders) -> (status, index)``: parallel arrays of MDEntryType bytes, MDPriceLevel,
    MDEntryPx mantissas, MDEntrySize and NumberOfOrders. Entries of other types than '0' '1'
    'E' 'F' (the statistics a snapshot also carries) are skipped. Every book entry is checked
    first: depth (NO_DEPTH), level (BAD_LEVEL), values as for New, no two entries for one
    level (DUPLICATE_LEVEL), and each book's levels ``1..c`` with no gap (LEVEL_GAP, reported
    at the entry of the highest level). ``index`` is the entry at fault, -1 when none is.
    On refusal the books are unchanged; otherwise they hold exactly the snapshot.
    """
    if inst < 0 or inst >= px.shape[0]:
        return BAD_INSTRUMENT, -1
    if n < 0 or n > types.shape[0] or n > levels.shape[0] or n > prices.shape[0] or \
            n > sizes.shape[0] or n > orders.shape[0]:
        return BAD_COUNT, -1
    for k in range(n):
        b = book_of(types[k])
        if b < 0:
            continue
        lim = np.int64(limits[inst, b >> 1])
        if lim <= 0:
            return NO_DEPTH, k
        lv = np.int64(levels[k])
        if lv < 1 or lv > lim:
            return BAD_LEVEL, k
        st = _check_values(b, prices[k], sizes[k], orders[k])
        if st != OK:
            return st, k
        for j in range(k):
            if book_of(types[j]) == b and levels[j] == lv:
                return DUPLICATE_LEVEL, k
    for b in range(4):
        count = 0
        top = 0
        at = -1
        for k in range(n):
            if book_of(types[k]) == b:
                count += 1
                if levels[k] > top:
                    top = np.int64(levels[k])
                    at = k
        if top != count:  # distinct levels in 1..lim: count == top exactly when no gap
            return LEVEL_GAP, at
    for b in range(4):
        _clear_book(px, qty, nord, inst, b)
    loaded = 0
    for k in range(n):
        b = book_of(types[k])
        if b >= 0:
            _write(px, qty, nord, inst, b, np.int64(levels[k]) - 1, prices[k], sizes[k],
                   orders[k])
            loaded += 1
    stats[_SNAPSHOTS] += 1
    stats[_SNAPSHOT_LEVELS] += loaded
    return OK, -1


@njit(cache=True, nogil=True, _nrt=False)
def depth_merged(px, qty, nord, inst, side, out):
    """The merged (outright + implied) side ``side`` (0 bid, 1 offer) of ``inst`` into
    ``out`` (int64, shape (m, 3): price, quantity, orders), best first. Returns the number of
    levels written.

    ``depth_merged(px, qty, nord, inst, side, out) -> int``. Levels with the same price add
    their quantities; implied levels add no orders. Both books must be ordered (as they are
    between MDP3 events). With ``m`` below the two books' occupied levels together, the worst
    levels are left out. -1 for a bad ``inst`` or ``side``.
    """
    if inst < 0 or inst >= px.shape[0] or side < 0 or side > 1:
        return -1
    m = out.shape[0]
    n = 0
    d = px.shape[2]
    for j in range(d):
        if qty[inst, side, j] == 0 or n >= m:
            break
        out[n, 0] = px[inst, side, j]
        out[n, 1] = qty[inst, side, j]
        out[n, 2] = nord[inst, side, j]
        n += 1
    ib = side + 2
    for j in range(d):
        q = qty[inst, ib, j]
        if q == 0:
            break
        p = px[inst, ib, j]
        pos = 0
        while pos < n:
            op = out[pos, 0]
            if op == p or (side == 0 and op < p) or (side == 1 and op > p):
                break
            pos += 1
        if pos < n and out[pos, 0] == p:
            out[pos, 1] += q
            continue
        if pos >= m:
            continue  # worse than every level there is room for
        last = n if n < m else m - 1
        for t in range(last, pos, -1):
            out[t, 0] = out[t - 1, 0]
            out[t, 1] = out[t - 1, 1]
            out[t, 2] = out[t - 1, 2]
        out[pos, 0] = p
        out[pos, 1] = q
        out[pos, 2] = 0
        if n < m:
            n += 1
    return n
