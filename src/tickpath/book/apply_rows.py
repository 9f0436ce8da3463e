"""Applying ITCH events while writing rows (:mod:`tickpath.book.rows`): ``apply_noting_rows``
applies one event exactly as :func:`tickpath.book.apply.apply_one` does (inlined; the same
counters) and appends the rows the caller asked for into preallocated arrays. Two kernels
inline it: ``apply_batch_rows`` here, over decoded events (as ``apply_batch``), and
:func:`tickpath.book.blocks.apply_blocks_rows`, the fused pass a file's replay runs.

They are compiled functions of their own, so the books' own loops carry no trace of them: a
replay without export runs the same machine code as before. A table not wanted is passed as
None, so each set of tables compiles to its own code with the others' work pruned; what is
left costs the row writes, the top-of-book compare after each book message and, for the
events and trades tables, a lookup of the order an event touches before it changes.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .apply import OK, apply_one, find, prefetch_ahead
from .records import BID, Stat
from .rows import DIRECTORY, EVENTS, TOP, TRADES

#: status: a row array is full before ``events[index]`` (no book status has this value): the
#: owner hands the full arrays on and calls again from ``index``
ROWS_FULL = 100

_EVENTS_STAT = int(Stat.EVENTS)


def _types(letters: str) -> np.ndarray:
    """A table by type byte: True for the ITCH types in ``letters`` (a module global: numba
    freezes it into the code, one load instead of a chain of compares)."""
    table = np.zeros(256, np.bool_)
    table[[ord(c) for c in letters]] = True
    table.setflags(write=False)
    return table


_BOOK = _types("AFECXDU")  # changes a book
_TRADE = _types("ECPQ")  # a row of trades
_EXECUTION = _types("EC")  # executes a resting order
_TOUCHES_ORDER = _types("XDU")  # cancels, deletes or replaces one


@njit(cache=True, nogil=True, _nrt=False, inline="always")
def _note_top(levels, heads, loc, last_top, r, ev):
    """Write instrument ``loc``'s top now (bid, bid shares, ask, ask shares; 0 for an empty
    side) into row ``r`` and ``last_top[loc]``; returns 1 if it differs from what
    ``last_top[loc]`` held (the row counts), else 0. Branch-free: whether the top changed is
    a coin toss for the CPU's predictor, so the row is written either way and kept or not
    by the count (measured: the branch cost more than the stores)."""
    hb = heads[loc, 0]
    ha = heads[loc, 1]
    bp = np.int64(levels[np.uint64(max(hb, 0))]["price"]) if hb >= 0 else np.int64(0)
    bs = np.int64(levels[np.uint64(max(hb, 0))]["shares"]) if hb >= 0 else np.int64(0)
    ap = np.int64(levels[np.uint64(max(ha, 0))]["price"]) if ha >= 0 else np.int64(0)
    a_s = np.int64(levels[np.uint64(max(ha, 0))]["shares"]) if ha >= 0 else np.int64(0)
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


@njit(cache=True, nogil=True, _nrt=False, inline="always")
def _write_event(r, ev, t, o_side, o_price, o_shares):
    """An ``EVENT_ROW`` for book event ``ev`` (type ``t``); ``o_*``: the order it touched,
    as the book held it before."""
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


@njit(cache=True, nogil=True, _nrt=False, inline="always")
def _write_trade(r, ev, t, o_side, o_price):
    """A ``TRADE_ROW`` for execution or trade ``ev`` (type ``t``: E C P Q)."""
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


@njit(cache=True, nogil=True, _nrt=False, inline="always")
def rows_room(ev_rows, top_rows, trade_rows, directory, fill):
    """Events that can be applied before a row array is full (each writes at most one row
    per table): the room is checked once per run, not per row."""
    room = directory.shape[0] - fill[DIRECTORY]
    if ev_rows is not None:
        room = min(room, ev_rows.shape[0] - fill[EVENTS])
    if top_rows is not None:
        room = min(room, top_rows.shape[0] - fill[TOP])
    if trade_rows is not None:
        room = min(room, trade_rows.shape[0] - fill[TRADES])
    return max(room, 0)


@njit(cache=True, nogil=True, _nrt=False, inline="always")
def apply_noting_rows(ev, orders, mask, levels, free, heads, stats, inst, symbols, type_counts,
                      max_orders, ev_rows, top_rows, trade_rows, directory, last_top,
                      n_ev, n_top, n_tr, n_dir):
    """Apply event ``ev`` and append its rows at ``n_ev``, ``n_top``, ``n_tr`` and ``n_dir``
    (room checked by the caller). Returns ``(book status, n_ev, n_top, n_tr, n_dir)``: the
    counts moved on past the rows written, unchanged when the books refused the event.
    (One return at the end: early returns in a helper inlined into a pass have cost it.)"""
    t = ev["type"]
    # what the book knows of the order before the event changes it (E C X D U), looked up
    # only when a row needs it: the events table (E C X D U), trades (E C)
    o_price = np.uint32(0)
    o_shares = np.uint32(0)
    o_side = np.uint8(0)
    look_all = ev_rows is not None
    look_exec = ev_rows is not None or trade_rows is not None
    if (look_exec and _EXECUTION[t]) or (look_all and _TOUCHES_ORDER[t]):
        i = find(orders, mask, ev["ref"])
        if i >= 0:
            o = orders[np.uint64(i)]
            lv = levels[np.uint64(o["level"])]
            o_price = lv["price"]
            o_shares = o["shares"]
            o_side = np.uint8(66) if lv["side"] == BID else np.uint8(83)
    st = apply_one(ev, orders, mask, levels, free, heads, stats, inst, symbols, max_orders)
    if st == OK:
        type_counts[t] += 1
        book = _BOOK[t]
        loc = np.uint64(ev["locate"])
        if ev_rows is not None:
            if book:
                _write_event(ev_rows[np.uint64(n_ev)], ev, t, o_side, o_price, o_shares)
                n_ev += 1
        if top_rows is not None:
            if t == 65 or t == 70:
                # an add that did not land on its side's best level left the top as it was
                # (exact, and it skips the top's loads and stores for most adds)
                h = heads[loc, 0 if ev["side"] == 66 else 1]
                if h < 0 or levels[np.uint64(h)]["price"] == ev["price"]:
                    n_top += _note_top(levels, heads, loc, last_top, top_rows[np.uint64(n_top)],
                                       ev)
            elif book:
                n_top += _note_top(levels, heads, loc, last_top, top_rows[np.uint64(n_top)], ev)
        if trade_rows is not None:
            if _TRADE[t]:
                _write_trade(trade_rows[np.uint64(n_tr)], ev, t, o_side, o_price)
                n_tr += 1
        if t == 82:
            directory[np.uint64(n_dir)] = np.int64(ev["offset"])
            n_dir += 1
    return st, n_ev, n_top, n_tr, n_dir


@njit(cache=True, nogil=True, _nrt=False, inline="always")
def store_fill(fill, n_ev, n_top, n_tr, n_dir):
    fill[EVENTS] = n_ev
    fill[TOP] = n_top
    fill[TRADES] = n_tr
    fill[DIRECTORY] = n_dir


@njit(cache=True, nogil=True, _nrt=False)
def apply_batch_rows(events, start, end, orders, mask, levels, free, heads, stats, inst,
                     symbols, type_counts, max_orders, ev_rows, top_rows, trade_rows,
                     directory, fill, last_top):
    """Apply ``events[start:end]`` to the books and append rows: ``ev_rows``, ``top_rows``,
    ``trade_rows`` (each from ``fill[EVENTS|TOP|TRADES]`` on; None: that table is not
    wanted), and the stream
    offset of every stock directory message in ``directory`` (from ``fill[DIRECTORY]``).
    ``last_top[locate]`` holds the top each instrument's last ``top`` row showed.

    Returns ``(index, status)`` as ``apply_batch`` does: the first event not applied and why
    (a book status, or ROWS_FULL: a row array had no room left before that event; nothing of
    it was applied).

    A table not wanted is passed as None: numba compiles a specialization per set of
    tables (the type of an argument, so the ordinary dispatch, cached like any other), with
    the others' work pruned from the code."""
    # the counters live in locals while the loop runs (a store to ``fill`` per row would be
    # reloaded after every other store: LLVM cannot tell the arrays apart)
    n_ev = fill[EVENTS]
    n_top = fill[TOP]
    n_tr = fill[TRADES]
    n_dir = fill[DIRECTORY]
    room = rows_room(ev_rows, top_rows, trade_rows, directory, fill)
    stop = end
    status = OK
    if room < end - start:
        stop = start + room
        status = ROWS_FULL
    for k in range(start, stop):
        prefetch_ahead(events, k, stop, orders, mask, levels, heads)
        st, n_ev, n_top, n_tr, n_dir = apply_noting_rows(
            events[np.uint64(k)], orders, mask, levels, free, heads, stats, inst, symbols,
            type_counts, max_orders, ev_rows, top_rows, trade_rows, directory, last_top,
            n_ev, n_top, n_tr, n_dir)
        if st != OK:
            stats[_EVENTS_STAT] += k - start
            store_fill(fill, n_ev, n_top, n_tr, n_dir)
            return k, st
    stats[_EVENTS_STAT] += stop - start
    store_fill(fill, n_ev, n_top, n_tr, n_dir)
    return stop, status
