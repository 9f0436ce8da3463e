"""Checks of the order-by-order books' own consistency, and of locked and crossed books.

Cold path (tests, fuzzing, ``BookStore.check``): compiled so that a check after every message
of a fuzz input stays cheap, but allocating its scratch arrays as it goes.

ITCH books can be locked or crossed from valid input (the feed says what the venue did, and
crossed quotes happen around auctions and halts), so a crossed book is never refused: the
kernels count each update after which a book was locked or crossed
(``PerInstrument.LOCKED``/``CROSSED``), and :func:`crossing` says whether one is now.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .apply import find
from .records import ASK, BID, EMPTY_REF, NO_LEVEL

# check_books results (texts in CHECK_TEXT)
CONSISTENT = 0
BAD_LINKS = 1
BAD_ORDERING = 2
EMPTY_LEVEL = 3
LEVEL_TOTALS = 4
ORDER_LEVEL = 5
LIVE_COUNTS = 6
FREE_COUNT = 7
UNREACHABLE_ORDER = 8
INSTRUMENT_ORDERS = 9

CHECK_TEXT = {
    CONSISTENT: "consistent",
    BAD_LINKS: "a level's prev/next links disagree",
    BAD_ORDERING: "levels out of price order (or two at one price)",
    EMPTY_LEVEL: "a live level holds no shares or no orders",
    LEVEL_TOTALS: "a level's shares or order count differ from its orders'",
    ORDER_LEVEL: "an order points at a level not in its instrument's list of its side",
    LIVE_COUNTS: "live order, level or overflow counts differ from the books",
    FREE_COUNT: "free levels + live levels differ from the pool size",
    UNREACHABLE_ORDER: "an order cannot be found from its reference (hash chain broken)",
    INSTRUMENT_ORDERS: "an instrument's live order count differs from its orders",
}

# crossing() results
NOT_CROSSED = 0
LOCKED = 1
CROSSED = 2

_LIVE_ORDERS, _LIVE_LEVELS, _FREE_TOP, _OVERFLOW = 0, 1, 2, 12
_I_ORDERS = 4


@njit(cache=True, nogil=True)
def crossing(levels, heads, locate):
    """Whether the book of ``locate`` is locked (best bid == best ask), crossed (best bid >
    best ask) or neither, now."""
    b = heads[locate, BID]
    a = heads[locate, ASK]
    if b == NO_LEVEL or a == NO_LEVEL:
        return NOT_CROSSED
    bp = levels[b]["price"]
    ap = levels[a]["price"]
    if bp == ap:
        return LOCKED
    if bp > ap:
        return CROSSED
    return NOT_CROSSED


@njit(cache=True, nogil=True)
def check_books(orders, mask, levels, heads, stats, inst, locates):
    """Check the books of ``locates`` (a sorted int64 array holding every locate with live
    orders or levels) against each other and the counters. Returns CONSISTENT or the first
    fault found."""
    n_levels = levels.shape[0]
    owner = np.full(n_levels, -1, np.int64)  # locate * 2 + side of each level in a list
    shares = np.zeros(n_levels, np.int64)
    count = np.zeros(n_levels, np.int64)
    live_levels = 0
    for li in range(locates.shape[0]):
        loc = locates[li]
        for side in (BID, ASK):
            prev = NO_LEVEL
            cur = heads[loc, side]
            while cur != NO_LEVEL:
                if cur < 0 or cur >= n_levels or owner[cur] >= 0:
                    return BAD_LINKS
                lv = levels[cur]
                if lv["prev"] != prev:
                    return BAD_LINKS
                if prev != NO_LEVEL:
                    pp = levels[prev]["price"]
                    if (side == BID and lv["price"] >= pp) or (side == ASK and lv["price"] <= pp):
                        return BAD_ORDERING
                if lv["shares"] == 0 or lv["orders"] == 0:
                    return EMPTY_LEVEL
                owner[cur] = loc * 2 + side
                live_levels += 1
                prev = cur
                cur = lv["next"]
    per_inst = np.zeros(locates.shape[0], np.int64)  # live orders per entry of ``locates``
    live_orders = 0
    overflow = 0
    for i in range(orders.shape[0]):
        o = orders[i]
        if o["ref"] == EMPTY_REF:
            continue
        live_orders += 1
        lvl = o["level"]
        if lvl < 0 or lvl >= n_levels or owner[lvl] < 0:
            return ORDER_LEVEL
        lv = levels[lvl]
        if owner[lvl] != np.int64(lv["locate"]) * 2 + lv["side"]:
            return ORDER_LEVEL
        shares[lvl] += o["shares"]
        count[lvl] += 1
        per_inst[np.searchsorted(locates, np.int64(lv["locate"]))] += 1
        if find(orders, mask, o["ref"]) != i:
            return UNREACHABLE_ORDER
        if i > mask:
            overflow += 1
    for j in range(n_levels):
        if owner[j] >= 0 and (shares[j] != levels[j]["shares"] or count[j] != levels[j]["orders"]):
            return LEVEL_TOTALS
    if (live_orders != stats[_LIVE_ORDERS] or live_levels != stats[_LIVE_LEVELS]
            or overflow != stats[_OVERFLOW]):
        return LIVE_COUNTS
    if stats[_FREE_TOP] + live_levels != n_levels:
        return FREE_COUNT
    for li in range(locates.shape[0]):
        loc = locates[li]
        if inst[loc, _I_ORDERS] != per_inst[li]:
            return INSTRUMENT_ORDERS
    return CONSISTENT
