"""The futures venue's books: compiled kernels for the order books and the depth-10 book
published from them, CME-style.

Each instrument has a ladder of price levels (``levels[i, j]``: FIFO queue of its resting
orders, count and quantity) and a pool region of orders, as the equity engine in
``matching.py``. On top of it sits the *published* book: per side, the ladder indices of the
best ``DEPTH`` non-empty levels (``pub[i, side, :pub_n[i, side]]``, best first), which is what
a receiver of MDIncrementalRefreshBook46 holds. ``nlv[i, side]`` counts the side's non-empty
levels, so a level revealed below the top 10 is looked for only when one exists.

A book change is staged in two steps: the order entries of a level (``stage_oe``: New, Update,
Delete) and then ``publish_level``, which compares the level with the published book and
stages what CME sends: Change for a level in the top 10, New at its place for a new level
that ranks in the top 10 (the 10th then falls off, unannounced), Delete for a top-10 level
that emptied, followed by a New at level 10 for the level that moves up from below. The
order entries staged since the last publish are bound to that entry (they go in its
message's NoOrderIDEntries); for a level outside the top 10 they stand alone and go out as
MDIncrementalRefreshOrderBook47.

The step's output order is ``ops``: ``m >= 0`` is price-level entry ``md[m]`` with its order
entries, ``-(k + 1)`` is stand-alone order entry ``oe[k]``; counters live in ``stg``.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .futures_records import DEPTH

kernel = njit(cache=True, nogil=True, error_model="numpy", _nrt=False)

BUY, SELL = 0, 1
# MDUpdateAction / OrderUpdateAction
NEW, CHANGE, DELETE = 0, 1, 2
UPDATE = 1

# stg: counters of the staged step
G_MD, G_OE, G_OPS, G_TR, G_FILL, G_PEND = 0, 1, 2, 3, 4, 5
N_STAGE = 6


@kernel
def stage_reset(stg):
    for k in range(N_STAGE):
        stg[k] = 0


@kernel
def _link(levels, orders, i, o):
    """Append order ``o`` at the tail of its level: last in time priority."""
    od = orders[o]
    lv = levels[i, od["index"]]
    od["prev"] = lv["tail"]
    od["next"] = -1
    if lv["tail"] >= 0:
        orders[lv["tail"]]["next"] = o
    else:
        lv["head"] = o
    lv["tail"] = o
    lv["count"] += 1
    lv["qty"] += od["qty"]


@kernel
def _unlink(levels, orders, i, o):
    od = orders[o]
    lv = levels[i, od["index"]]
    if od["prev"] >= 0:
        orders[od["prev"]]["next"] = od["next"]
    else:
        lv["head"] = od["next"]
    if od["next"] >= 0:
        orders[od["next"]]["prev"] = od["prev"]
    else:
        lv["tail"] = od["prev"]
    lv["count"] -= 1
    lv["qty"] -= od["qty"]


@kernel
def insert_order(inst, levels, orders, live, nlv, i, side, j, qty, order_id, priority):
    """Rest a new order on instrument ``i`` at ladder index ``j``; return its pool slot. The
    caller keeps the book uncrossed and the instrument under its capacity."""
    rec = inst[i]
    o = live[rec["live_start"] + rec["n_live"]]
    od = orders[o]
    od["order_id"] = order_id
    od["priority"] = priority
    od["index"] = j
    od["qty"] = qty
    od["side"] = side
    od["live_pos"] = rec["n_live"]
    rec["n_live"] += 1
    link_order(inst, levels, orders, nlv, i, o)
    return o


@kernel
def take_off(inst, levels, orders, nlv, i, o):
    """Take order ``o`` out of its level's queue and the side's counts and bests (the pool
    bookkeeping is the caller's: ``delete_order`` for the generated flow's slots, the client
    slots' owner for theirs)."""
    od = orders[o]
    j = od["index"]
    side = np.int64(od["side"])
    _unlink(levels, orders, i, o)
    rec = inst[i]
    empty = levels[i, j]["count"] == 0
    if empty:
        nlv[i, side] -= 1
    if side == BUY:
        rec["n_bid"] -= 1
        if empty and j == rec["bb"]:
            if rec["n_bid"] == 0:
                rec["bb"] = -1
            else:
                k = j - 1
                while levels[i, k]["count"] == 0:
                    k -= 1
                rec["bb"] = k
    else:
        rec["n_ask"] -= 1
        if empty and j == rec["ba"]:
            if rec["n_ask"] == 0:
                rec["ba"] = levels.shape[1]
            else:
                k = j + 1
                while levels[i, k]["count"] == 0:
                    k += 1
                rec["ba"] = k


@kernel
def link_order(inst, levels, orders, nlv, i, o):
    """Queue order ``o`` (its fields set) last at its level and count it on its side."""
    od = orders[o]
    j = od["index"]
    side = np.int64(od["side"])
    if levels[i, j]["count"] == 0:
        nlv[i, side] += 1
    _link(levels, orders, i, o)
    rec = inst[i]
    if side == BUY:
        rec["n_bid"] += 1
        if j > rec["bb"]:
            rec["bb"] = j
    else:
        rec["n_ask"] += 1
        if j < rec["ba"]:
            rec["ba"] = j


@kernel
def delete_order(inst, levels, orders, live, nlv, i, o):
    """Take order ``o`` of the generated flow off the book (cancelled, filled or moved)."""
    od = orders[o]
    take_off(inst, levels, orders, nlv, i, o)
    rec = inst[i]
    last = rec["n_live"] - 1
    pos = od["live_pos"]
    moved = live[rec["live_start"] + last]
    live[rec["live_start"] + pos] = moved
    orders[moved]["live_pos"] = pos
    live[rec["live_start"] + last] = o
    od["live_pos"] = last
    rec["n_live"] = last


@kernel
def reduce_order(levels, orders, i, o, by):
    """Take ``by`` (fewer than it has) off order ``o``; it keeps its priority."""
    od = orders[o]
    od["qty"] -= by
    levels[i, od["index"]]["qty"] -= by


# ------------------------------------------------------------------------------- staging


@kernel
def stage_oe(oe, stg, order_id, priority, px, qty, action, side):
    """Stage an order entry, pending until the next ``publish_level`` binds it."""
    k = stg[G_OE]
    e = oe[k]
    e["order_id"] = order_id
    e["priority"] = priority
    e["px"] = px
    e["qty"] = qty
    e["action"] = action
    e["side"] = side
    e["md"] = -2
    stg[G_OE] = k + 1


@kernel
def _stage_md(md, ops, stg, side, action, level, px, qty, norders, first_oe, n_oe):
    m = stg[G_MD]
    e = md[m]
    e["side"] = side
    e["action"] = action
    e["level"] = level
    e["px"] = px
    e["qty"] = qty
    e["norders"] = norders
    e["first_oe"] = first_oe
    e["n_oe"] = n_oe
    stg[G_MD] = m + 1
    ops[stg[G_OPS]] = m
    stg[G_OPS] += 1
    return m


@kernel
def _bind_pending(oe, ops, stg, m):
    """Bind the pending order entries to price-level entry ``m``, or (m < 0) send them alone."""
    for k in range(stg[G_PEND], stg[G_OE]):
        oe[k]["md"] = m
        if m < 0:
            ops[stg[G_OPS]] = -(k + 1)
            stg[G_OPS] += 1
    stg[G_PEND] = stg[G_OE]


@kernel
def _better(side, a, b):
    """Is ladder index ``a`` a better price than ``b`` on ``side``?"""
    return a > b if side == BUY else a < b


@kernel
def publish_level(inst, levels, pub, pub_n, nlv, md, oe, ops, stg, i, side, j):
    """Level ``j`` of instrument ``i``'s ``side`` has changed (the pending order entries say
    how): stage the depth-10 book's entries for it and bind the pending order entries."""
    rec = inst[i]
    lv = levels[i, j]
    n = pub_n[i, side]
    k = -1
    for q in range(n):
        if pub[i, side, q] == j:
            k = q
            break
    first = stg[G_PEND]
    n_oe = stg[G_OE] - first
    px = rec["lo_px"] + j * rec["tick_px"]
    if lv["count"] > 0:
        if k >= 0:
            m = _stage_md(md, ops, stg, side, CHANGE, k + 1, px, lv["qty"], lv["count"],
                          first, n_oe)
            _bind_pending(oe, ops, stg, m)
            return
        # not published: a new level ranks somewhere; a level already deep stays deep
        r = 0
        while r < n and _better(side, pub[i, side, r], j):
            r += 1
        if r >= DEPTH:
            _bind_pending(oe, ops, stg, -1)
            return
        top = min(n, DEPTH - 1)  # the 10th falls off when the book is full
        for q in range(top, r, -1):
            pub[i, side, q] = pub[i, side, q - 1]
        pub[i, side, r] = j
        pub_n[i, side] = top + 1
        m = _stage_md(md, ops, stg, side, NEW, r + 1, px, lv["qty"], lv["count"], first, n_oe)
        _bind_pending(oe, ops, stg, m)
        return
    if k < 0:  # a level below the top 10 emptied
        _bind_pending(oe, ops, stg, -1)
        return
    m = _stage_md(md, ops, stg, side, DELETE, k + 1, px, 0, 0, first, n_oe)
    _bind_pending(oe, ops, stg, m)
    old_last = pub[i, side, n - 1]
    for q in range(k, n - 1):
        pub[i, side, q] = pub[i, side, q + 1]
    n -= 1
    pub_n[i, side] = n
    if nlv[i, side] > n:
        # the best level below the old 10th moves up into the book: New at level 10
        step = -1 if side == BUY else 1
        q = old_last + step
        while levels[i, q]["count"] == 0:
            q += step
        pub[i, side, n] = q
        pub_n[i, side] = n + 1
        nl = levels[i, q]
        _stage_md(md, ops, stg, side, NEW, n + 1, rec["lo_px"] + q * rec["tick_px"],
                  nl["qty"], nl["count"], stg[G_OE], 0)


# ------------------------------------------------------------------------------- checking


@njit(cache=True, nogil=True, error_model="numpy")
def check_books(inst, levels, orders, live, pub, pub_n, nlv, clients):
    """Check every instrument's ladder, queues, bests, slot region and published book
    against each other; client orders (``clients``, slot ``c`` at ``orders[live.shape[0] +
    c]``, ``owner`` -1 when free) count in the levels and sides too. Returns ``(status, instrument)`` (codes in ``FUT_CHECK_TEXT``).
    Allocates scratch: a test and debugging aid, not hot."""
    nlev = levels.shape[1]
    count = np.zeros(nlev, np.int64)
    qty = np.zeros(nlev, np.int64)
    for i in range(inst.shape[0]):
        rec = inst[i]
        start = rec["live_start"]
        count[:] = 0
        qty[:] = 0
        nb = 0
        na = 0
        top_bid = -1
        low_ask = nlev
        for k in range(rec["n_live"]):
            od = orders[live[start + k]]
            if od["live_pos"] != k or od["index"] < 0 or od["index"] >= nlev or od["qty"] <= 0:
                return 5, i
            count[od["index"]] += 1
            qty[od["index"]] += od["qty"]
            if od["side"] == BUY:
                nb += 1
                top_bid = max(top_bid, od["index"])
            else:
                na += 1
                low_ask = min(low_ask, od["index"])
        for c in range(clients.shape[0]):
            if clients[c]["owner"] < 0 or clients[c]["inst"] != i:
                continue
            od = orders[live.shape[0] + c]
            if od["index"] < 0 or od["index"] >= nlev or od["qty"] <= 0:
                return 5, i
            count[od["index"]] += 1
            qty[od["index"]] += od["qty"]
            if od["side"] == BUY:
                nb += 1
                top_bid = max(top_bid, od["index"])
            else:
                na += 1
                low_ask = min(low_ask, od["index"])
        if nb != rec["n_bid"] or na != rec["n_ask"]:
            return 6, i
        if top_bid >= low_ask:
            return 4, i
        if top_bid != rec["bb"] or low_ask != rec["ba"]:
            return 3, i
        for j in range(nlev):
            lv = levels[i, j]
            if lv["count"] != count[j] or lv["qty"] != qty[j]:
                return 1, i
            n = 0
            s = 0
            prev = -1
            o = lv["head"]
            while o >= 0 and n <= lv["count"]:
                od = orders[o]
                if od["prev"] != prev or od["index"] != j:
                    return 2, i
                if n > 0 and od["priority"] <= orders[prev]["priority"]:
                    return 2, i  # time priority runs head to tail
                n += 1
                s += od["qty"]
                prev = o
                o = od["next"]
            if n != lv["count"] or s != lv["qty"] or lv["tail"] != prev:
                return 2, i
        # the published book is exactly the best DEPTH non-empty levels of each side
        for side in range(2):
            seen = 0
            j = top_bid if side == BUY else low_ask
            step = -1 if side == BUY else 1
            while 0 <= j < nlev:
                if count[j] > 0:
                    if seen < DEPTH:
                        if seen >= pub_n[i, side] or pub[i, side, seen] != j:
                            return 7, i
                    seen += 1
                j += step
            if pub_n[i, side] != min(seen, DEPTH) or nlv[i, side] != seen:
                return 7, i
    return 0, -1
