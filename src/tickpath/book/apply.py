"""Compiled book kernels: apply normalized ITCH events to the order-by-order books.

Every message is validated before anything is changed, so a rejected message leaves the books
exactly as they were. Kernels return status codes; ``BookStore`` turns them into errors.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ..ring.intrinsics import prefetch, prefetch2
from .records import ASK, BID, EMPTY_REF, NO_LEVEL

# The kernels allocate nothing, so they are compiled without numba's reference counting
# (_nrt=False): with it, every call that passes an array pays refcount updates. The helpers
# are inlined into apply_batch at numba's IR level (inline="always"): called, each passes
# half a dozen arrays as exploded structs, and on the benchmark file that calling cost made
# book building 1.7x slower. Array indices are unsigned (np.uint64) wherever the kernels
# index orders, levels, events or the free stack: numba emits no negative-index wraparound
# for them (apply alone 55.8 -> 48 ns per message on the benchmark day).

# status codes (texts in STATUS_TEXT)
OK = 0
UNKNOWN_REF = 1
DUPLICATE_REF = 2
OVER_EXECUTE = 3
BAD_SIDE = 4
ORDERS_FULL = 5
LEVELS_FULL = 6
LOCATE_MISMATCH = 7
BAD_SHARES = 8
RESERVED_REF = 9

STATUS_TEXT = {
    OK: "ok",
    UNKNOWN_REF: "unknown order reference",
    DUPLICATE_REF: "order reference already live",
    OVER_EXECUTE: "more shares than the order has open",
    BAD_SIDE: "buy/sell indicator is neither 'B' nor 'S'",
    ORDERS_FULL: "order table full (raise max_orders)",
    LEVELS_FULL: "price-level pool full (raise max_levels)",
    LOCATE_MISMATCH: "stock locate differs from the order's",
    BAD_SHARES: "zero shares",
    RESERVED_REF: "order reference 0xFFFFFFFFFFFFFFFF is reserved",
}

# Stat indices (mirrors records.Stat; plain ints for nopython code)
_LIVE_ORDERS, _LIVE_LEVELS, _FREE_TOP, _ADDS, _EXECS, _CANCELS, _DELETES, _REPLACES = range(8)
_REJECTED, _MAX_ORDERS, _MAX_LEVELS, _EVENTS, _OVERFLOW, _REF_TOP = range(8, 14)
# PerInstrument columns
_I_MSGS, _I_LOCKED, _I_CROSSED, _I_EXEC, _I_ORDERS, _I_DIR = range(6)

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)

# The order table (records.py): the window orders[0:W] indexed by reference modulo W, the
# overflow orders[W:2W] a hash table, W = mask + 1. Functions below take and return indices
# into the whole table.


@njit(cache=True, nogil=True, _nrt=False, inline="always")
def window_slot(ref, mask):
    """The window slot of ``ref``: its reference number modulo W."""
    return np.int64(ref & np.uint64(mask))


@njit(cache=True, nogil=True, _nrt=False, inline="always")
def slot_of(ref, mask):
    """Home of ``ref`` in the overflow table, counted from its start (Fibonacci hashing:
    spreads sequential and strided reference numbers alike)."""
    return np.int64((ref * _GOLDEN) >> np.uint64(32)) & mask


@njit(cache=True, nogil=True, _nrt=False, inline="always")
def find(orders, mask, ref):
    """Slot of ``ref`` or -1."""
    if ref == EMPTY_REF:  # the empty-slot marker is never a live order
        return -1
    d = window_slot(ref, mask)
    k = orders[np.uint64(d)]["ref"]
    if k == ref:
        return d
    w = mask + 1  # not in its window slot: the slot was taken when ref arrived, or ref is unknown
    i = slot_of(ref, mask)
    while True:
        k = orders[np.uint64(w + i)]["ref"]
        if k == ref:
            return w + i
        if k == EMPTY_REF:
            return -1
        i = (i + 1) & mask


@njit(cache=True, nogil=True, _nrt=False, inline="always")
def _insert_slot(orders, mask, stats, ref):
    """Where a new order ``ref`` goes: its window slot, or (taken) the overflow table."""
    d = window_slot(ref, mask)
    if orders[np.uint64(d)]["ref"] == EMPTY_REF:
        return d
    stats[_OVERFLOW] += 1
    w = mask + 1
    i = slot_of(ref, mask)
    while orders[np.uint64(w + i)]["ref"] != EMPTY_REF:
        i = (i + 1) & mask
    return w + i


@njit(cache=True, nogil=True, _nrt=False, inline="always")
def _erase(orders, mask, stats, i):
    w = mask + 1
    if i < w:  # a window slot: nothing probes past it
        orders[np.uint64(i)]["ref"] = EMPTY_REF
        return
    stats[_OVERFLOW] -= 1
    # backward-shift deletion keeps every probe chain unbroken without tombstones
    i -= w
    j = i
    while True:
        j = (j + 1) & mask
        k = orders[np.uint64(w + j)]["ref"]
        if k == EMPTY_REF:
            break
        h = slot_of(k, mask)
        if i <= j:
            stays = i < h <= j
        else:
            stays = h > i or h <= j
        if stays:
            continue
        o = orders[np.uint64(w + i)]
        s = orders[np.uint64(w + j)]
        o["ref"] = s["ref"]
        o["shares"] = s["shares"]
        o["level"] = s["level"]
        i = j
    orders[np.uint64(w + i)]["ref"] = EMPTY_REF


@njit(cache=True, nogil=True, _nrt=False, inline="always")
def is_new_ref(stats, ref):
    """True when ``ref`` is above every reference added so far: it cannot be live, so an add
    need not look for it (ITCH references increase through the day)."""
    return ref >= np.uint64(stats[_REF_TOP])


@njit(cache=True, nogil=True, _nrt=False, inline="always")
def seen_live(orders, mask, stats, ref):
    """Is ``ref``, not above every reference seen (``is_new_ref``), a live order? With the
    overflow empty only its window slot can hold it, so a stray huge reference, which keeps
    ``REF_TOP`` up, costs adds no probe of the overflow. (Called after ``is_new_ref`` in one
    ``and``: one helper with both checks and early returns made the fused replay pass 1.27x
    slower, measured: numba inlines at its IR level, and LLVM then optimized the pass worse.)"""
    if stats[_OVERFLOW] == 0:
        return orders[np.uint64(window_slot(ref, mask))]["ref"] == ref
    return find(orders, mask, ref) >= 0


@njit(cache=True, nogil=True, _nrt=False, inline="always")
def _note_ref(stats, ref):
    if ref >= np.uint64(stats[_REF_TOP]):
        stats[_REF_TOP] = np.int64(ref + np.uint64(1))


@njit(cache=True, nogil=True, _nrt=False, inline="always")
def _level_add(levels, free, heads, stats, locate, side, price, shares):
    """Add one order's shares at ``price``; returns the level index. A free level must exist."""
    prev = NO_LEVEL
    cur = heads[locate, side]
    if side == BID:
        while cur != NO_LEVEL and levels[np.uint64(cur)]["price"] > price:
            prev = cur
            cur = levels[np.uint64(cur)]["next"]
    else:
        while cur != NO_LEVEL and levels[np.uint64(cur)]["price"] < price:
            prev = cur
            cur = levels[np.uint64(cur)]["next"]
    if cur != NO_LEVEL and levels[np.uint64(cur)]["price"] == price:
        lv = levels[np.uint64(cur)]
        lv["shares"] += shares
        lv["orders"] += 1
        return cur
    top = stats[_FREE_TOP] - 1
    stats[_FREE_TOP] = top
    n = free[np.uint64(top)]
    lv = levels[np.uint64(n)]
    lv["price"] = price
    lv["shares"] = shares
    lv["orders"] = 1
    lv["locate"] = locate
    lv["side"] = side
    lv["next"] = cur
    lv["prev"] = prev
    if cur != NO_LEVEL:
        levels[np.uint64(cur)]["prev"] = n
    if prev != NO_LEVEL:
        levels[np.uint64(prev)]["next"] = n
    else:
        heads[locate, side] = n
    stats[_LIVE_LEVELS] += 1
    if stats[_LIVE_LEVELS] > stats[_MAX_LEVELS]:
        stats[_MAX_LEVELS] = stats[_LIVE_LEVELS]
    return n


@njit(cache=True, nogil=True, _nrt=False, inline="always")
def _level_take(levels, free, heads, stats, n, shares, whole_order):
    """Remove ``shares`` (and the order itself when ``whole_order``) from level ``n``."""
    lv = levels[np.uint64(n)]
    lv["shares"] -= shares
    if whole_order:
        lv["orders"] -= 1
        if lv["orders"] == 0:
            nxt = lv["next"]
            prv = lv["prev"]
            if nxt != NO_LEVEL:
                levels[np.uint64(nxt)]["prev"] = prv
            if prv != NO_LEVEL:
                levels[np.uint64(prv)]["next"] = nxt
            else:
                heads[lv["locate"], lv["side"]] = nxt
            free[np.uint64(stats[_FREE_TOP])] = n
            stats[_FREE_TOP] += 1
            stats[_LIVE_LEVELS] -= 1


@njit(cache=True, nogil=True, _nrt=False, inline="always")
def _add(orders, mask, levels, free, heads, stats, inst, ref, locate, side, price, shares):
    i = _insert_slot(orders, mask, stats, ref)
    lvl = _level_add(levels, free, heads, stats, locate, side, price, shares)
    o = orders[np.uint64(i)]
    o["ref"] = ref
    o["shares"] = shares
    o["level"] = lvl
    _note_ref(stats, ref)
    stats[_LIVE_ORDERS] += 1
    if stats[_LIVE_ORDERS] > stats[_MAX_ORDERS]:
        stats[_MAX_ORDERS] = stats[_LIVE_ORDERS]
    inst[locate, _I_ORDERS] += 1


@njit(cache=True, nogil=True, _nrt=False, inline="always")
def _remove(orders, mask, levels, free, heads, stats, inst, i, locate):
    o = orders[np.uint64(i)]
    _level_take(levels, free, heads, stats, o["level"], o["shares"], True)
    inst[locate, _I_ORDERS] -= 1
    stats[_LIVE_ORDERS] -= 1
    _erase(orders, mask, stats, i)


@njit(cache=True, nogil=True, _nrt=False, inline="always")
def _check_cross(levels, heads, inst, locate):
    b = heads[locate, np.uint64(BID)]
    a = heads[locate, np.uint64(ASK)]
    if b != NO_LEVEL and a != NO_LEVEL:
        bp = levels[np.uint64(b)]["price"]
        ap = levels[np.uint64(a)]["price"]
        if bp == ap:
            inst[locate, _I_LOCKED] += 1
        elif bp > ap:
            inst[locate, _I_CROSSED] += 1


@njit(cache=True, nogil=True, _nrt=False, inline="always")
def apply_one(ev, orders, mask, levels, free, heads, stats, inst, symbols, max_orders):
    """Validate, then apply one event. Returns a status code; on failure nothing changed."""
    t = ev["type"]
    locate = np.uint64(ev["locate"])
    if t == 65 or t == 70:  # A / F add order
        ref = ev["ref"]
        if ref == EMPTY_REF:
            return RESERVED_REF
        s = ev["side"]
        if s == 66:
            side = np.uint64(BID)
        elif s == 83:
            side = np.uint64(ASK)
        else:
            return BAD_SIDE
        if ev["shares"] == 0:
            return BAD_SHARES
        if not is_new_ref(stats, ref) and seen_live(orders, mask, stats, ref):
            return DUPLICATE_REF
        if stats[_LIVE_ORDERS] >= max_orders:
            return ORDERS_FULL
        if stats[_FREE_TOP] == 0:
            return LEVELS_FULL
        _add(orders, mask, levels, free, heads, stats, inst, ref, locate, side,
             np.uint32(ev["price"]), np.uint32(ev["shares"]))
        stats[_ADDS] += 1
        inst[locate, _I_MSGS] += 1
        _check_cross(levels, heads, inst, locate)
        return OK
    if t == 69 or t == 67 or t == 88 or t == 68:  # E, C executions; X cancel; D delete
        i = find(orders, mask, ev["ref"])
        if i < 0:
            return UNKNOWN_REF
        o = orders[np.uint64(i)]
        if levels[np.uint64(o["level"])]["locate"] != locate:
            return LOCATE_MISMATCH
        if t == 68:
            _remove(orders, mask, levels, free, heads, stats, inst, i, locate)
            stats[_DELETES] += 1
        else:
            n = ev["shares"]
            if n == 0:
                return BAD_SHARES
            if n > o["shares"]:
                return OVER_EXECUTE
            if n == o["shares"]:
                _remove(orders, mask, levels, free, heads, stats, inst, i, locate)
            else:
                o["shares"] -= np.uint32(n)
                _level_take(levels, free, heads, stats, o["level"], n, False)
            if t == 88:
                stats[_CANCELS] += 1
            else:
                stats[_EXECS] += 1
                inst[locate, _I_EXEC] += n
        inst[locate, _I_MSGS] += 1
        _check_cross(levels, heads, inst, locate)
        return OK
    if t == 85:  # U replace: same side and instrument, new reference, price and size
        i = find(orders, mask, ev["ref"])
        if i < 0:
            return UNKNOWN_REF
        o = orders[np.uint64(i)]
        old = levels[np.uint64(o["level"])]
        if old["locate"] != locate:
            return LOCATE_MISMATCH
        nref = ev["new_ref"]
        if nref == EMPTY_REF:
            return RESERVED_REF
        if not is_new_ref(stats, nref) and seen_live(orders, mask, stats, nref):
            return DUPLICATE_REF
        if ev["shares"] == 0:
            return BAD_SHARES
        # removing the old order frees its slot; a new level may be needed for the new price
        if stats[_FREE_TOP] == 0 and old["orders"] > 1:
            return LEVELS_FULL
        side = np.uint64(old["side"])
        _remove(orders, mask, levels, free, heads, stats, inst, i, locate)
        _add(orders, mask, levels, free, heads, stats, inst, nref, locate, side,
             np.uint32(ev["price"]), np.uint32(ev["shares"]))
        stats[_REPLACES] += 1
        inst[locate, _I_MSGS] += 1
        _check_cross(levels, heads, inst, locate)
        return OK
    if t == 82:  # R stock directory: the instrument directory
        symbols[locate] = ev["stock"]
        inst[locate, _I_DIR] = 1
    return OK


# How far ahead to prefetch: the window slot of event k+FAR, then (once that slot is cached)
# the level of the order found there at k+NEAR (measured: 16/8 against 8/4 to 64/16).
PREFETCH_FAR = 16
PREFETCH_NEAR = 8


@njit(cache=True, nogil=True, _nrt=False, inline="always")
def prefetch_order_level(orders, mask, levels, heads, ref, locate):
    """The level of order ``ref`` (when it sits in its window slot, as it usually does; that
    slot was prefetched earlier) and the best levels of ``locate``'s book: an add walks from
    there, and the cross check reads both."""
    j = window_slot(ref, mask)
    if orders[np.uint64(j)]["ref"] == ref:
        prefetch(levels, orders[np.uint64(j)]["level"])
    hb = heads[locate, 0]
    ha = heads[locate, 1]
    if hb >= 0:
        prefetch(levels, hb)
    if ha >= 0:
        prefetch(levels, ha)


@njit(cache=True, nogil=True, _nrt=False, inline="always")
def prefetch_ahead(events, k, end, orders, mask, levels, heads):
    """Before applying ``events[k]``: the order slot and instrument heads of the event
    ``PREFETCH_FAR`` ahead, and the order's level and the best levels of the one
    ``PREFETCH_NEAR`` ahead (every loop that applies a batch calls it, and the fused pass of
    ``blocks.py`` looks as far ahead, so the distances are tuned once)."""
    f = k + PREFETCH_FAR
    if f < end:
        fe = events[np.uint64(f)]
        prefetch(orders, window_slot(fe["ref"], mask))
        prefetch2(heads, fe["locate"], 0)
    nr = k + PREFETCH_NEAR
    if nr < end:
        ne = events[np.uint64(nr)]
        prefetch_order_level(orders, mask, levels, heads, ne["ref"], ne["locate"])


@njit(cache=True, nogil=True, _nrt=False)
def apply_batch(events, start, end, orders, mask, levels, free, heads, stats, inst, symbols,
                type_counts, max_orders):
    """Apply ``events[start:end]``. Returns ``(index, status)``: the index of the first event
    not applied (``end`` when all were) and why it was refused."""
    for k in range(start, end):
        prefetch_ahead(events, k, end, orders, mask, levels, heads)
        ev = events[np.uint64(k)]
        st = apply_one(ev, orders, mask, levels, free, heads, stats, inst, symbols, max_orders)
        if st != OK:
            stats[_EVENTS] += k - start
            return k, st
        type_counts[ev["type"]] += 1
    stats[_EVENTS] += end - start
    return end, OK


@njit(cache=True, nogil=True)
def level_walk(levels, heads, locate, side, depth, out):
    """Copy up to ``depth`` levels (price, shares, orders), best first, into ``out``."""
    n = 0
    cur = heads[locate, side]
    while cur != NO_LEVEL and n < depth:
        lv = levels[cur]
        out[n, 0] = lv["price"]
        out[n, 1] = lv["shares"]
        out[n, 2] = lv["orders"]
        n += 1
        cur = lv["next"]
    return n


@njit(cache=True, nogil=True)
def rehash(old, new, new_mask, stats):
    """Move every order of table ``old`` into the empty table ``new`` (growth, cold path),
    newest reference first so the window keeps the newest; recounts the overflow."""
    refs = np.empty(stats[_LIVE_ORDERS], np.uint64)
    n = 0
    for i in range(old.shape[0]):
        if old[i]["ref"] != EMPTY_REF:
            refs[n] = old[i]["ref"]
            n += 1
    order = np.argsort(refs[:n])
    stats[_OVERFLOW] = 0
    for k in range(n):
        r = refs[order[n - 1 - k]]
        i = find(old, (old.shape[0] >> 1) - 1, r)
        j = _insert_slot(new, new_mask, stats, r)
        o = new[j]
        s = old[i]
        o["ref"] = r
        o["shares"] = s["shares"]
        o["level"] = s["level"]
