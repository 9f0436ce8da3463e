"""The books as the MDP3 step calls them: wrappers that pass the state's arrays to the kernels
of :mod:`tickpath.book.depth` (price levels) and :mod:`tickpath.book.mbo` (orders), so the
step reads as what it does to a book, not which arrays it passes.

The kernels are inlined once each into a function of their own (``_level_entry``,
``_order_entry``) that the step calls with just the arrays it needs, rather than inlined at
every call site: the order kernel has three call sites and the level kernel two, and inlining
each copy made the handler's first compilation 2.5x longer (76 s against 30 s on a cold cache,
measured) for 10% of its throughput (25 against 22 M msg/s with price levels, bench/replay_mdp3.py).
The step's own appliers stay inlined: called, each would take the whole state, two dozen
arrays as separate arguments (16 against 25 M msg/s, measured).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ...book.depth import depth_apply, depth_clear
from ...book.mbo import mbo_apply, mbo_clear


@njit(cache=True, nogil=True, _nrt=False)
def _level_entry(px, qty, nord, limits, dstats, ii, entry_type, action, level, price, size,
                 orders):
    return depth_apply(px, qty, nord, limits, dstats, ii, entry_type, action, level, price,
                       size, orders)


@njit(cache=True, nogil=True, _nrt=False, inline="always")
def level_entry(state, ii, entry_type, action, level, price, size, orders):
    """One price-level entry (MDEntryType byte, MDUpdateAction, 1-based MDPriceLevel); a
    status, 0 when applied."""
    return _level_entry(state.px, state.qty, state.nord, state.limits, state.dstats, ii,
                        entry_type, action, level, price, size, orders)


@njit(cache=True, nogil=True, _nrt=False, inline="always")
def clear_levels(state, ii):
    depth_clear(state.px, state.qty, state.nord, state.dstats, ii)


@njit(cache=True, nogil=True, _nrt=False)
def _order_entry(orders, mask, levels, free, obooks, ostats, capacity, ii, entry_type, action,
                 order_id, priority, price, qty):
    return mbo_apply(orders, mask, levels, free, obooks, ostats, capacity, ii, entry_type,
                     action, order_id, priority, price, qty)


@njit(cache=True, nogil=True, _nrt=False, inline="always")
def order_entry(state, ii, offer, order_id, priority, price, qty, action):
    """One order entry (New 0, Change/Update 1, Delete 2); a status, 0 when applied."""
    return _order_entry(state.orders, state.mask, state.levels, state.free, state.obooks,
                        state.ostats, state.capacity, ii, np.int64(49 if offer else 48),
                        action, order_id, priority, price, qty)


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
