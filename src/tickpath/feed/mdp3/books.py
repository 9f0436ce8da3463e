"""The books as the MDP3 step calls them: thin inlined wrappers that pass the state's arrays
to the kernels of :mod:`tickpath.book.depth` (price levels) and :mod:`tickpath.book.mbo`
(orders), so the step reads as what it does to a book, not which arrays it passes."""

from __future__ import annotations

import numpy as np
from numba import njit

from ...book.depth import depth_apply, depth_clear
from ...book.mbo import mbo_apply, mbo_clear


@njit(cache=True, nogil=True, _nrt=False, inline="always")
def level_entry(state, ii, entry_type, action, level, price, size, orders):
    """One price-level entry (MDEntryType byte, MDUpdateAction, 1-based MDPriceLevel); a
    status, 0 when applied."""
    return depth_apply(state.px, state.qty, state.nord, state.limits, state.dstats, ii,
                       entry_type, action, level, price, size, orders)


@njit(cache=True, nogil=True, _nrt=False, inline="always")
def clear_levels(state, ii):
    depth_clear(state.px, state.qty, state.nord, state.dstats, ii)


@njit(cache=True, nogil=True, _nrt=False, inline="always")
def order_entry(state, ii, offer, order_id, priority, price, qty, action):
    """One order entry (New 0, Change/Update 1, Delete 2); a status, 0 when applied."""
    return mbo_apply(state.orders, state.mask, state.levels, state.free, state.obooks,
                     state.ostats, state.capacity, ii, np.int64(49 if offer else 48), action,
                     order_id, priority, price, qty)


@njit(cache=True, nogil=True, _nrt=False, inline="always")
def clear_orders(state, ii):
    mbo_clear(state.levels, state.free, state.obooks, state.ostats, ii)


@njit(cache=True, nogil=True, _nrt=False)
def set_depth(state, ii, depth, implied):
    """The definition's market depths bound the books (cut to the arrays' depth); levels
    beyond a smaller depth are dropped."""
    d = state.px.shape[2]
    depth = min(max(depth, 0), d)
    implied = min(max(implied, 0), d)
    state.limits[ii, 0] = depth
    state.limits[ii, 1] = implied
    for b in range(4):
        lim = depth if b < 2 else implied
        for k in range(lim, d):
            state.px[ii, b, k] = 0
            state.qty[ii, b, k] = 0
            state.nord[ii, b, k] = 0
