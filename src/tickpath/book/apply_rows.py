"""The book kernel that also writes rows (:mod:`tickpath.book.rows`): ``apply_batch_rows``
applies events exactly as :func:`tickpath.book.apply.apply_batch` does (the same
``apply_one``, inlined; the same counters) and, after each applied event, appends the rows the
caller asked for into preallocated arrays.

It is a separate compiled function, so the books' own loop (``apply_batch``) carries no trace
of it: a replay without export runs the same machine code as before. Which tables are wanted
is a runtime flag here (one predictable branch per table and event); the cost is the row
writes and the top-of-book compare.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ..ring.intrinsics import prefetch, prefetch2
from .apply import OK, apply_one, find, slot_of
from .records import BID, Stat
from .rows import DIRECTORY, EVENTS, TOP, TRADES

#: status: a row array is full before ``events[index]`` (no book status has this value): the
#: owner hands the full arrays on and calls again from ``index``
ROWS_FULL = 100

_EVENTS_STAT = int(Stat.EVENTS)
_FAR = 16  # prefetch distances: as apply_batch
_NEAR = 8


@njit(cache=True, nogil=True, _nrt=False, inline="always")
def _note_top(levels, heads, loc, last_top, r, ev):
    """Write instrument ``loc``'s top now (bid, bid shares, ask, ask shares; 0 for an empty
    side) into row ``r`` and ``last_top[loc]``; returns 1 if it differs from what
    ``last_top[loc]`` held (the row counts), else 0. Branch-free: whether the top changed is
    a coin toss for the CPU's predictor, so the row is written either way and kept or not
    by the count (measured: the branch cost more than the stores)."""
    hb = heads[loc, 0]
    ha = heads[loc, 1]
    bp = np.int64(levels[max(hb, 0)]["price"]) if hb >= 0 else np.int64(0)
    bs = np.int64(levels[max(hb, 0)]["shares"]) if hb >= 0 else np.int64(0)
    ap = np.int64(levels[max(ha, 0)]["price"]) if ha >= 0 else np.int64(0)
    a_s = np.int64(levels[max(ha, 0)]["shares"]) if ha >= 0 else np.int64(0)
    changed = ((last_top[loc, 0] != bp) | (last_top[loc, 1] != bs) | (last_top[loc, 2] != ap)
               | (last_top[loc, 3] != a_s))
    last_top[loc, 0] = bp
    last_top[loc, 1] = bs
    last_top[loc, 2] = ap
    last_top[loc, 3] = a_s
    r["time_ns"] = ev["timestamp"]
    r["offset"] = ev["offset"]
    r["locate"] = ev["locate"]
    r["bid_price"] = np.uint32(bp)
    r["bid_shares"] = np.uint64(bs)
    r["ask_price"] = np.uint32(ap)
    r["ask_shares"] = np.uint64(a_s)
    return np.int64(1) if changed else np.int64(0)


@njit(cache=True, nogil=True, _nrt=False)
def apply_batch_rows(events, start, end, orders, mask, levels, free, heads, stats, inst,
                     symbols, type_counts, max_orders, ev_rows, top_rows, trade_rows,
                     directory, fill, last_top, want_events, want_top, want_trades):
    """Apply ``events[start:end]`` to the books and append rows: ``ev_rows``, ``top_rows``,
    ``trade_rows`` (each from ``fill[EVENTS|TOP|TRADES]`` on, when wanted), and the stream
    offset of every stock directory message in ``directory`` (from ``fill[DIRECTORY]``).
    ``last_top[locate]`` holds the top each instrument's last ``top`` row showed.

    Returns ``(index, status)`` as ``apply_batch`` does: the first event not applied and why
    (a book status, or ROWS_FULL: a row array had no room left before that event; nothing of
    it was applied)."""
    # the counters live in locals while the loop runs (a store to ``fill`` per row would be
    # reloaded after every other store: LLVM cannot tell the arrays apart); each event writes
    # at most one row per table, so the room is checked once, for the whole run
    n_ev = fill[EVENTS]
    n_top = fill[TOP]
    n_tr = fill[TRADES]
    n_dir = fill[DIRECTORY]
    room = directory.shape[0] - n_dir
    if want_events:
        room = min(room, ev_rows.shape[0] - n_ev)
    if want_top:
        room = min(room, top_rows.shape[0] - n_top)
    if want_trades:
        room = min(room, trade_rows.shape[0] - n_tr)
    stop = end
    status = OK
    if room < end - start:
        stop = start + max(room, 0)
        status = ROWS_FULL
    # the order an event touches is looked up first only when a row needs what the book
    # knew of it: the events table (E C X D U), trades (E C)
    look_all = want_events
    look_exec = want_events or want_trades
    for k in range(start, stop):
        f = k + _FAR
        if f < stop:
            fe = events[f]
            prefetch(orders, slot_of(fe["ref"], mask))
            prefetch2(heads, fe["locate"], 0)
        nr = k + _NEAR
        if nr < stop:
            ne = events[nr]
            j = slot_of(ne["ref"], mask)
            if orders[j]["ref"] == ne["ref"]:
                prefetch(levels, orders[j]["level"])
            loc = ne["locate"]
            hb = heads[loc, 0]
            ha = heads[loc, 1]
            if hb >= 0:
                prefetch(levels, hb)
            if ha >= 0:
                prefetch(levels, ha)
        ev = events[k]
        t = ev["type"]
        # what the book knows of the order before the event changes it (E C X D U)
        o_price = np.uint32(0)
        o_shares = np.uint32(0)
        o_side = np.uint8(0)
        if (look_exec and (t == 69 or t == 67)) or (
                look_all and (t == 88 or t == 68 or t == 85)):
            i = find(orders, mask, ev["ref"])
            if i >= 0:
                o = orders[i]
                o_price = o["price"]
                o_shares = o["shares"]
                o_side = np.uint8(66) if o["side"] == BID else np.uint8(83)
        st = apply_one(ev, orders, mask, levels, free, heads, stats, inst, symbols, max_orders)
        if st != OK:
            stats[_EVENTS_STAT] += k - start
            fill[EVENTS] = n_ev
            fill[TOP] = n_top
            fill[TRADES] = n_tr
            fill[DIRECTORY] = n_dir
            return k, st
        type_counts[t] += 1
        book = t == 65 or t == 70 or t == 69 or t == 67 or t == 88 or t == 68 or t == 85
        loc = np.int64(ev["locate"])
        if book and want_events:
            r = ev_rows[n_ev]
            r["time_ns"] = ev["timestamp"]
            r["ref"] = ev["ref"]
            r["new_ref"] = ev["new_ref"]
            r["match"] = ev["match"]
            r["offset"] = ev["offset"]
            r["locate"] = ev["locate"]
            r["type"] = t
            if t == 65 or t == 70:  # an add carries its own side, price and shares
                r["side"] = ev["side"]
                r["price"] = np.uint32(ev["price"])
                r["shares"] = np.uint32(ev["shares"])
            else:
                r["side"] = o_side
                # C trades at its own price, U rests at its new one; the rest at the order's
                r["price"] = np.uint32(ev["price"]) if t == 67 or t == 85 else o_price
                r["shares"] = o_shares if t == 68 else np.uint32(ev["shares"])
            n_ev += 1
        if book and want_top:
            n_top += _note_top(levels, heads, loc, last_top, top_rows[n_top], ev)
        if want_trades and (t == 69 or t == 67 or t == 80 or t == 81):
            r = trade_rows[n_tr]
            r["time_ns"] = ev["timestamp"]
            r["ref"] = ev["ref"]
            r["match"] = ev["match"]
            r["shares"] = ev["shares"]
            r["offset"] = ev["offset"]
            r["locate"] = ev["locate"]
            r["type"] = t
            if t == 69:  # at the resting order's price; always printable
                r["price"] = o_price
                r["resting_side"] = o_side
                r["printable"] = 89
            elif t == 67:
                r["price"] = np.uint32(ev["price"])
                r["resting_side"] = o_side
                r["printable"] = ev["flag"]
            else:  # P: its buy/sell indicator is the resting (non-displayed) order's; Q: none
                r["price"] = np.uint32(ev["price"])
                r["resting_side"] = ev["side"] if t == 80 else np.uint8(0)
                r["printable"] = 89
            n_tr += 1
        if t == 82:
            directory[n_dir] = np.int64(ev["offset"])
            n_dir += 1
    stats[_EVENTS_STAT] += stop - start
    fill[EVENTS] = n_ev
    fill[TOP] = n_top
    fill[TRADES] = n_tr
    fill[DIRECTORY] = n_dir
    return stop, status
