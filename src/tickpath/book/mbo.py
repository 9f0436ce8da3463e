"""Compiled kernels for CME MDP 3.0 order-by-order books (market by order, template 47 and
snapshot 53).

State (the arrays ``OrderBooks`` owns; a compiled feed handler passes them straight in)::

    orders  ORDER_DTYPE  (2**k,)   hash table OrderID -> order; ``mask`` = 2**k - 1
    levels  LEVEL_DTYPE  (m,)      price levels, one pool for every instrument and side
    free    int32 (m,)             stack of free level indices, ``stats[FREE_TOP]`` deep
    books   int64 (n, 8)           per instrument (columns in :class:`BookCol`): best level of
                                   each side, epoch, live orders and levels, counters
    stats   int64 (N_MBO_STATS,)   counters and the table's fill, indices in :class:`MboStat`
    capacity                       orders the table may hold (live + stale), half its slots

Orders live in an open-addressing table keyed by OrderID (Fibonacci hashing, linear probing,
backward-shift deletion: no tombstones). A record holds id, priority, displayed quantity,
side, its level's index and an epoch; price and instrument are the level's. Each side of an
instrument is a doubly linked list of levels, best first (bids descending, offers ascending),
as in the ITCH books of ``apply.py``.

Clearing an instrument (snapshot start, channel reset, 'J') frees its levels and gives it a
new epoch; its orders stay in the table as *stale* records (an order is live only while its
epoch equals its instrument's, found through its level). A snapshot of thousands of
instruments thus costs what their levels cost, not a pass over the table per instrument,
and no add or delete pays for the upkeep of per-instrument order lists. Stale records count
against ``capacity`` until a New or a snapshot reuses their OrderID or ``mbo_compact`` drops
them (``ORDERS_FULL`` tells the owner when; ``OrderBooks`` compacts, then grows). Epochs are
32 bits and come from one counter, so a stale record can be taken for live only after 2**32
clears.

Every kernel validates all its input before it writes anything: a refusal returns a status
from :mod:`tickpath.book.mdp3` and changes nothing, counters included. The kernels allocate
nothing (``_nrt=False``); ``mbo_apply`` is inlined into its callers.
"""

from __future__ import annotations

import enum

import numpy as np
from numba import njit

from ..ring.intrinsics import prefetch, prefetch2
from .mdp3 import (
    BAD_ACTION,
    BAD_COUNT,
    BAD_ENTRY_TYPE,
    BAD_INSTRUMENT,
    BAD_PRICE,
    BAD_SIZE,
    CHANGE,
    DUPLICATE_ID,
    INSTRUMENT_MISMATCH,
    INT32_NULL,
    LEVELS_FULL,
    NEW,
    OK,
    ORDERS_FULL,
    PRICE_NULL,
    RESERVED_ID,
    SIDE_MISMATCH,
    UNKNOWN_ID,
)

#: Hash slot marker: no order. It is also the SBE null of OrderID, refused as an id.
EMPTY_ID = np.uint64(0xFFFF_FFFF_FFFF_FFFF)
NO_LEVEL = -1
BID, ASK = 0, 1

ORDER_DTYPE = np.dtype(
    [
        ("id", np.uint64),
        ("priority", np.uint64),
        ("qty", np.int32),
        ("level", np.int32),
        ("epoch", np.uint32),
        ("side", np.uint8),
    ],
    align=True,
)  # 32 bytes: two to a cache line

LEVEL_DTYPE = np.dtype(
    [
        ("price", np.int64),
        ("qty", np.int64),
        ("orders", np.int32),
        ("inst", np.int32),
        ("next", np.int32),
        ("prev", np.int32),
    ],
    align=True,
)

#: One entry of an incremental update, for batches (``mbo_apply_batch``)
MBO_ENTRY_DTYPE = np.dtype(
    [
        ("id", np.uint64),
        ("priority", np.uint64),
        ("price", np.int64),
        ("qty", np.int32),
        ("inst", np.int32),
        ("entry_type", np.uint8),
        ("action", np.uint8),
    ],
    align=True,
)


class BookCol(enum.IntEnum):
    """Columns of the per-instrument ``books`` array (one 64-byte row per instrument)."""

    HEAD_BID = 0  # best bid level, -1 when none
    HEAD_ASK = 1
    EPOCH = 2  # orders stamped with another epoch are stale
    ORDERS = 3  # live orders
    LEVELS = 4  # live levels
    ENTRIES = 5  # New/Change/Delete applied
    CLEARS = 6  # clears, 'J' resets and first snapshot chunks
    SNAPSHOT_ORDERS = 7  # orders loaded from snapshots


N_BOOK_COLS = len(BookCol)


class MboStat(enum.IntEnum):
    """Indices of the order books' int64 counters and table state."""

    LIVE_ORDERS = 0
    STALE_ORDERS = 1  # records of cleared instruments still in the table (state)
    LIVE_LEVELS = 2
    FREE_TOP = 3  # levels in the free stack (state)
    NEXT_EPOCH = 4  # the next epoch a clear hands out (state)
    NEW = 5
    CHANGE = 6
    DELETE = 7
    BOOK_RESETS = 8  # 'J' entries
    CLEARS = 9  # books emptied: mbo_clear, 'J', first snapshot chunks
    SNAPSHOT_CHUNKS = 10
    SNAPSHOT_ORDERS = 11
    COMPACTIONS = 12
    MAX_LIVE_ORDERS = 13  # high-water marks
    MAX_LIVE_LEVELS = 14
    REFUSED = 15  # counted by OrderBooks, not by the kernels


N_MBO_STATS = len(MboStat)

_LIVE, _STALE, _LEVELS, _FREE_TOP, _NEXT_EPOCH = 0, 1, 2, 3, 4
_NEW, _CHANGE, _DELETE, _RESETS, _CLEARS, _CHUNKS, _SNAP_ORDERS, _COMPACTIONS = range(5, 13)
_MAX_LIVE, _MAX_LEVELS = 13, 14
_C_EPOCH, _C_ORDERS, _C_LEVELS, _C_ENTRIES, _C_CLEARS, _C_SNAP = 2, 3, 4, 5, 6, 7

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_PRICE_NULL = np.int64(PRICE_NULL)
_EPOCH_MASK = np.int64(0xFFFF_FFFF)


@njit(cache=True, nogil=True, _nrt=False, inline="always")
def slot_of(oid, mask):
    """Home slot of OrderID ``oid`` (uint64): Fibonacci hashing spreads sequential and strided
    ids alike."""
    return np.int64((oid * _GOLDEN) >> np.uint64(32)) & mask


@njit(cache=True, nogil=True, _nrt=False, inline="always")
def find(orders, mask, oid):
    """Slot holding ``oid`` (live or stale) or -1. ``oid`` must not be ``EMPTY_ID``."""
    i = slot_of(oid, mask)
    while True:
        k = orders[i]["id"]
        if k == oid:
            return i
        if k == EMPTY_ID:
            return -1
        i = (i + 1) & mask


@njit(cache=True, nogil=True, _nrt=False, inline="always")
def is_live(orders, levels, books, i):
    """Is the record in slot ``i`` a live order (its epoch is its instrument's)?"""
    o = orders[i]
    return np.int64(o["epoch"]) == books[levels[o["level"]]["inst"], _C_EPOCH]


@njit(cache=True, nogil=True, _nrt=False, inline="always")
def _insert_slot(orders, mask, oid):
    i = slot_of(oid, mask)
    while orders[i]["id"] != EMPTY_ID:
        i = (i + 1) & mask
    return i


@njit(cache=True, nogil=True, _nrt=False, inline="always")
def _copy(dst, src):
    dst["id"] = src["id"]
    dst["priority"] = src["priority"]
    dst["qty"] = src["qty"]
    dst["level"] = src["level"]
    dst["epoch"] = src["epoch"]
    dst["side"] = src["side"]


@njit(cache=True, nogil=True, _nrt=False, inline="always")
def _erase(orders, mask, i):
    # backward-shift deletion keeps every probe chain unbroken without tombstones
    j = i
    while True:
        j = (j + 1) & mask
        k = orders[j]["id"]
        if k == EMPTY_ID:
            break
        h = slot_of(k, mask)
        if i <= j:
            stays = i < h <= j
        else:
            stays = h > i or h <= j
        if stays:
            continue
        _copy(orders[i], orders[j])
        i = j
    orders[i]["id"] = EMPTY_ID


@njit(cache=True, nogil=True, _nrt=False, inline="always")
def _level_add(levels, free, books, stats, inst, side, price, qty):
    """Add one order's quantity at ``price``; returns the level. A free level must exist."""
    prev = NO_LEVEL
    cur = books[inst, side]
    if side == BID:
        while cur != NO_LEVEL and levels[cur]["price"] > price:
            prev = cur
            cur = levels[cur]["next"]
    else:
        while cur != NO_LEVEL and levels[cur]["price"] < price:
            prev = cur
            cur = levels[cur]["next"]
    if cur != NO_LEVEL and levels[cur]["price"] == price:
        lv = levels[cur]
        lv["qty"] += qty
        lv["orders"] += 1
        return cur
    top = stats[_FREE_TOP] - 1
    stats[_FREE_TOP] = top
    n = free[top]
    lv = levels[n]
    lv["price"] = price
    lv["qty"] = qty
    lv["orders"] = 1
    lv["inst"] = inst
    lv["next"] = cur
    lv["prev"] = prev
    if cur != NO_LEVEL:
        levels[cur]["prev"] = n
    if prev != NO_LEVEL:
        levels[prev]["next"] = n
    else:
        books[inst, side] = n
    books[inst, _C_LEVELS] += 1
    stats[_LEVELS] += 1
    if stats[_LEVELS] > stats[_MAX_LEVELS]:
        stats[_MAX_LEVELS] = stats[_LEVELS]
    return n


@njit(cache=True, nogil=True, _nrt=False, inline="always")
def _level_take(levels, free, books, stats, inst, side, n, qty):
    """Take one order of ``qty`` off level ``n``, freeing the level when it was the last."""
    lv = levels[n]
    lv["qty"] -= qty
    lv["orders"] -= 1
    if lv["orders"] == 0:
        nxt = lv["next"]
        prv = lv["prev"]
        if nxt != NO_LEVEL:
            levels[nxt]["prev"] = prv
        if prv != NO_LEVEL:
            levels[prv]["next"] = nxt
        else:
            books[inst, side] = nxt
        free[stats[_FREE_TOP]] = n
        stats[_FREE_TOP] += 1
        stats[_LEVELS] -= 1
        books[inst, _C_LEVELS] -= 1


@njit(cache=True, nogil=True, _nrt=False, inline="always")
def _place(orders, i, levels, free, books, stats, inst, side, oid, priority, price, qty):
    """Write a new live order into slot ``i`` (empty, or stale with this id)."""
    lvl = _level_add(levels, free, books, stats, inst, side, price, qty)
    o = orders[i]
    o["id"] = oid
    o["priority"] = priority
    o["qty"] = qty
    o["level"] = lvl
    o["epoch"] = books[inst, _C_EPOCH]
    o["side"] = side
    stats[_LIVE] += 1
    if stats[_LIVE] > stats[_MAX_LIVE]:
        stats[_MAX_LIVE] = stats[_LIVE]
    books[inst, _C_ORDERS] += 1


@njit(cache=True, nogil=True, _nrt=False, inline="always")
def _clear(levels, free, books, stats, inst):
    for side in range(2):
        cur = books[inst, side]
        while cur != NO_LEVEL:
            nxt = levels[cur]["next"]
            free[stats[_FREE_TOP]] = cur
            stats[_FREE_TOP] += 1
            stats[_LEVELS] -= 1
            cur = nxt
        books[inst, side] = NO_LEVEL
    books[inst, _C_LEVELS] = 0
    n = books[inst, _C_ORDERS]
    stats[_LIVE] -= n
    stats[_STALE] += n
    books[inst, _C_ORDERS] = 0
    books[inst, _C_EPOCH] = stats[_NEXT_EPOCH] & _EPOCH_MASK
    stats[_NEXT_EPOCH] += 1
    books[inst, _C_CLEARS] += 1
    stats[_CLEARS] += 1


@njit(cache=True, nogil=True, _nrt=False, inline="always")
def _side_of(entry_type):
    if entry_type == 48:
        return BID
    if entry_type == 49:
        return ASK
    return -1


@njit(cache=True, nogil=True, _nrt=False, inline="always")
def mbo_apply(orders, mask, levels, free, books, stats, capacity, inst, entry_type, action,
              order_id, priority, price, qty):
    """Validate, then apply one order entry. Returns a status; on refusal nothing changed.

    ``mbo_apply(orders, mask, levels, free, books, stats, capacity, inst, entry_type, action,
    order_id, priority, price, qty) -> int``: ``entry_type`` the MDEntryType byte ('0' bid,
    '1' offer, 'J' clear the instrument), ``action`` the MDUpdateAction (New 0, Change 1,
    Delete 2), ``order_id`` and ``priority`` uint64, ``price`` the MDEntryPx mantissa,
    ``qty`` the MDDisplayQty.

    Checked in this order: instrument (BAD_INSTRUMENT); 'J' then clears the instrument's
    orders whatever the other fields hold; type (BAD_ENTRY_TYPE); action (BAD_ACTION); id not
    the null 2**64-1 (RESERVED_ID); then

    * New: price not null (BAD_PRICE), 0 < qty < 2**31-1 (BAD_SIZE), id not live
      (DUPLICATE_ID), room for it (ORDERS_FULL: live + stale records reached ``capacity``;
      reusing the stale record of the same id needs none), a free level (LEVELS_FULL).
    * Change: id live (UNKNOWN_ID), same instrument (INSTRUMENT_MISMATCH) and side
      (SIDE_MISMATCH), price and qty as for New, and a free level when the price moves off a
      level the order shares (LEVELS_FULL). Quantity and priority are replaced; a new price
      moves the order to that level.
    * Delete: id live, same instrument and side; price and qty are ignored.
    """
    if inst < 0 or inst >= books.shape[0]:
        return BAD_INSTRUMENT
    if entry_type == 74:  # 'J': empty book
        _clear(levels, free, books, stats, inst)
        stats[_RESETS] += 1
        return OK
    side = _side_of(entry_type)
    if side < 0:
        return BAD_ENTRY_TYPE
    if action < 0 or action > 2:
        return BAD_ACTION
    oid = np.uint64(order_id)
    if oid == EMPTY_ID:
        return RESERVED_ID
    i = find(orders, mask, oid)
    if action == NEW:
        if price == _PRICE_NULL:
            return BAD_PRICE
        if qty <= 0 or qty >= INT32_NULL:
            return BAD_SIZE
        if i >= 0:
            if is_live(orders, levels, books, i):
                return DUPLICATE_ID
        elif stats[_LIVE] + stats[_STALE] >= capacity:
            return ORDERS_FULL
        if stats[_FREE_TOP] == 0:
            return LEVELS_FULL
        if i >= 0:
            stats[_STALE] -= 1  # the stale record of this id becomes the live one
        else:
            i = _insert_slot(orders, mask, oid)
        _place(orders, i, levels, free, books, stats, inst, side, oid, np.uint64(priority),
               price, qty)
        stats[_NEW] += 1
        books[inst, _C_ENTRIES] += 1
        return OK
    if i < 0 or not is_live(orders, levels, books, i):
        return UNKNOWN_ID
    o = orders[i]
    n = o["level"]
    lv = levels[n]
    if lv["inst"] != inst:
        return INSTRUMENT_MISMATCH
    if o["side"] != side:
        return SIDE_MISMATCH
    if action == CHANGE:
        if price == _PRICE_NULL:
            return BAD_PRICE
        if qty <= 0 or qty >= INT32_NULL:
            return BAD_SIZE
        if price == lv["price"]:
            lv["qty"] += qty - o["qty"]
        else:
            # leaving a level it shares keeps that level, so the new price may need one
            if stats[_FREE_TOP] == 0 and lv["orders"] > 1:
                return LEVELS_FULL
            _level_take(levels, free, books, stats, inst, side, n, o["qty"])
            o["level"] = _level_add(levels, free, books, stats, inst, side, price, qty)
        o["qty"] = qty
        o["priority"] = np.uint64(priority)
        stats[_CHANGE] += 1
    else:  # DELETE
        _level_take(levels, free, books, stats, inst, side, n, o["qty"])
        _erase(orders, mask, i)
        stats[_LIVE] -= 1
        books[inst, _C_ORDERS] -= 1
        stats[_DELETE] += 1
    books[inst, _C_ENTRIES] += 1
    return OK


@njit(cache=True, nogil=True, _nrt=False, inline="always")
def mbo_prefetch(orders, mask, order_id):
    """Start loading ``order_id``'s home slot: call it a dozen entries ahead of
    ``mbo_apply`` (``mbo_prefetch(orders, mask, order_id) -> None``)."""
    prefetch(orders, slot_of(np.uint64(order_id), mask))


# How far ahead to prefetch: the hash slot and book row of entry k+FAR, then (once that slot
# is cached) the level of the order found there and the best level of its side at k+NEAR.
_FAR = 16
_NEAR = 8


@njit(cache=True, nogil=True, _nrt=False)
def mbo_apply_batch(entries, start, end, orders, mask, levels, free, books, stats, capacity):
    """Apply ``entries[start:end]`` (``MBO_ENTRY_DTYPE``). Returns ``(index, status)``: the
    first entry not applied (``end`` when all were) and why it was refused.

    ``mbo_apply_batch(entries, start, end, orders, mask, levels, free, books, stats,
    capacity) -> (int, int)``"""
    n_inst = books.shape[0]
    for k in range(start, end):
        f = k + _FAR
        if f < end:
            fe = entries[f]
            prefetch(orders, slot_of(fe["id"], mask))
            fi = fe["inst"]
            if 0 <= fi < n_inst:
                prefetch2(books, fi, 0)
        nr = k + _NEAR
        if nr < end:
            ne = entries[nr]
            j = slot_of(ne["id"], mask)
            if orders[j]["id"] == ne["id"]:  # usually the home slot: its level is next
                prefetch(levels, orders[j]["level"])
            ni = ne["inst"]
            s = ne["entry_type"] - 48
            if 0 <= ni < n_inst and 0 <= s <= 1:
                h = books[ni, s]
                if h >= 0:  # a New walks its side from the best level
                    prefetch(levels, h)
        e = entries[k]
        st = mbo_apply(orders, mask, levels, free, books, stats, capacity, np.int64(e["inst"]),
                       np.int64(e["entry_type"]), np.int64(e["action"]), e["id"],
                       e["priority"], e["price"], np.int64(e["qty"]))
        if st != OK:
            return k, st
    return end, OK


@njit(cache=True, nogil=True, _nrt=False)
def mbo_clear(levels, free, books, stats, inst):
    """Empty one instrument's book: its levels go back to the pool and its orders become
    stale (snapshot start, channel reset). Returns a status.

    ``mbo_clear(levels, free, books, stats, inst) -> int``"""
    if inst < 0 or inst >= books.shape[0]:
        return BAD_INSTRUMENT
    _clear(levels, free, books, stats, inst)
    return OK


@njit(cache=True, nogil=True, _nrt=False)
def mbo_snapshot(orders, mask, levels, free, books, stats, capacity, inst, first, n, ids,
                 priorities, prices, qtys, types):
    """Load one chunk of an order-book snapshot (template 53) for ``inst``.

    ``mbo_snapshot(orders, mask, levels, free, books, stats, capacity, inst, first, n, ids,
    priorities, prices, qtys, types) -> (status, index)``: entries ``0..n-1`` of parallel
    arrays (OrderID, MDOrderPriority, MDEntryPx, MDDisplayQty, MDEntryType byte). ``first``
    (CurrentChunk == 1) clears the instrument before loading; later chunks add to it.

    Checked for every entry before anything changes: type '0'/'1' (BAD_ENTRY_TYPE), id
    (RESERVED_ID), price (BAD_PRICE), qty (BAD_SIZE), no id twice in the chunk and none live
    (DUPLICATE_ID; with ``first``, the instrument's own live orders are not in the way). Then
    room: free levels for every distinct (side, price) of the chunk, counting the
    instrument's own levels when ``first`` frees them (LEVELS_FULL), and table room for ``n``
    more records than live + stale (ORDERS_FULL, checked last: every other check has passed
    when it is returned). ``index`` is the entry at fault, -1 when none is.
    """
    if inst < 0 or inst >= books.shape[0]:
        return BAD_INSTRUMENT, -1
    if n < 0 or n > ids.shape[0] or n > priorities.shape[0] or n > prices.shape[0] or \
            n > qtys.shape[0] or n > types.shape[0]:
        return BAD_COUNT, -1
    new_levels = 0
    for k in range(n):
        if _side_of(types[k]) < 0:
            return BAD_ENTRY_TYPE, k
        oid = np.uint64(ids[k])
        if oid == EMPTY_ID:
            return RESERVED_ID, k
        if prices[k] == _PRICE_NULL:
            return BAD_PRICE, k
        if qtys[k] <= 0 or qtys[k] >= INT32_NULL:
            return BAD_SIZE, k
        distinct = True
        for j in range(k):
            if np.uint64(ids[j]) == oid:
                return DUPLICATE_ID, k
            if types[j] == types[k] and prices[j] == prices[k]:
                distinct = False
        if distinct:
            new_levels += 1
        i = find(orders, mask, oid)
        if i >= 0 and is_live(orders, levels, books, i):
            if not first or levels[orders[i]["level"]]["inst"] != inst:
                return DUPLICATE_ID, k
    room = stats[_FREE_TOP]
    if first:
        room += books[inst, _C_LEVELS]
    if new_levels > room:
        return LEVELS_FULL, -1
    if stats[_LIVE] + stats[_STALE] + n > capacity:
        return ORDERS_FULL, -1
    if first:
        _clear(levels, free, books, stats, inst)
    for k in range(n):
        oid = np.uint64(ids[k])
        i = find(orders, mask, oid)
        if i >= 0:
            stats[_STALE] -= 1  # a stale record (live ones were refused above)
        else:
            i = _insert_slot(orders, mask, oid)
        _place(orders, i, levels, free, books, stats, inst, _side_of(types[k]), oid,
               np.uint64(priorities[k]), prices[k], qtys[k])
    stats[_CHUNKS] += 1
    stats[_SNAP_ORDERS] += n
    books[inst, _C_SNAP] += n
    return OK, -1


@njit(cache=True, nogil=True, _nrt=False)
def mbo_compact(orders, mask, levels, books, stats):
    """Drop every stale record from the table in place. Returns how many went.

    ``mbo_compact(orders, mask, levels, books, stats) -> int``. One pass over the table:
    backward-shift deletion only moves records toward their home slot, into the slot just
    erased or into slots already passed (which then hold only live records), so re-reading
    the erased slot before moving on visits every record."""
    removed = 0
    i = 0
    size = mask + 1
    while i < size:
        if orders[i]["id"] != EMPTY_ID and not is_live(orders, levels, books, i):
            _erase(orders, mask, i)
            removed += 1
            continue
        i += 1
    stats[_STALE] -= removed
    stats[_COMPACTIONS] += 1
    return removed


@njit(cache=True, nogil=True, _nrt=False)
def mbo_rehash(old, levels, books, new, new_mask):
    """Move every live order of table ``old`` into the empty table ``new`` (growth, cold
    path); stale records are left behind. Returns the number moved."""
    moved = 0
    for i in range(old.shape[0]):
        r = old[i]["id"]
        if r != EMPTY_ID and is_live(old, levels, books, i):
            _copy(new[_insert_slot(new, new_mask, r)], old[i])
            moved += 1
    return moved


@njit(cache=True, nogil=True)
def mbo_levels(levels, books, inst, side, out):
    """Copy the levels of one side (price, qty, orders), best first, into ``out`` (int64,
    (m, 3)). Returns the number copied (at most m)."""
    n = 0
    cur = books[inst, side]
    while cur != NO_LEVEL and n < out.shape[0]:
        lv = levels[cur]
        out[n, 0] = lv["price"]
        out[n, 1] = lv["qty"]
        out[n, 2] = lv["orders"]
        n += 1
        cur = lv["next"]
    return n


@njit(cache=True, nogil=True)
def mbo_orders_of(orders, levels, books, inst, out):
    """Slots of the live orders of ``inst`` into ``out`` (int64), in table order. Returns the
    count (at most ``out.shape[0]``). A pass over the whole table: for queries, not the feed."""
    n = 0
    for i in range(orders.shape[0]):
        if orders[i]["id"] != EMPTY_ID and levels[orders[i]["level"]]["inst"] == inst and \
                is_live(orders, levels, books, i):
            if n >= out.shape[0]:
                break
            out[n] = i
            n += 1
    return n
