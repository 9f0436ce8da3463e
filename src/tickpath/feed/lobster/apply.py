"""Compiled LOBSTER replay: message rows into the ITCH order-by-order books, row by row.

Each LOBSTER event becomes one ITCH book event (``tickpath.book.apply.apply_one``, the same
kernel the ITCH replay runs): type 1 an Add (``A``), 2 a Cancel (``X``), 3 a Delete (``D``),
4 an Execution (``E``); 5 (hidden execution), 6 (cross) and 7 (halt) leave the book as it is.
Around that, per row: an order id never seen takes its shares from the synthetic order at
its side and price (``records.py``); levels that came into the window from below are set
from the orderbook file (``reveal``); the book's top levels are compared with the row
(``compare``). Kernels return status codes; ``LobsterHandler`` turns them into errors.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ...book.apply import OK, apply_one, find
from ...book.records import ASK, BID, EMPTY_REF, NO_LEVEL
from .records import LOCATE, SYNTHETIC

#: the books need room for one row's worth of synthetic orders and levels first
NEED_ROOM = 100

_EMPTY = 9_999_999_999
# ITCH type and side codes of the book events
_A, _X, _D, _E = 65, 88, 68, 69
_B, _S = 66, 83
# counters (records.Counter)
_SEEDED, _SEED_HITS, _UNKNOWN, _UNKNOWN_SHARES, _REVEALS, _RETIRED = 0, 1, 2, 3, 4, 5
_ROWS_CHECKED, _MISMATCH_ROWS, _MISMATCH_CELLS, _MISMATCHES_KEPT, _UNKNOWN_KEPT = 6, 7, 8, 9, 10
# book stats indices (book.records.Stat)
_LIVE_ORDERS, _FREE_TOP = 0, 2


@njit(cache=True, nogil=True)
def _event(ev, t, side, ref, shares, price, row):
    """Write one ITCH book event into the scratch record ``ev``."""
    ev["type"] = t
    ev["side"] = _B if side == BID else _S
    ev["locate"] = LOCATE
    ev["ref"] = ref
    ev["shares"] = shares
    ev["price"] = price
    ev["offset"] = row


@njit(cache=True, nogil=True)
def _apply(ev, orders, mask, levels, free, heads, stats, inst, symbols, max_orders):
    # one call site for the inlined ITCH kernel: compiled once here, called from below
    return apply_one(ev, orders, mask, levels, free, heads, stats, inst, symbols, max_orders)


@njit(cache=True, nogil=True)
def synthetic(side, price):
    return SYNTHETIC | (np.uint64(side) << np.uint64(32)) | np.uint64(price)


@njit(cache=True, nogil=True)
def level_shares(levels, heads, side, price):
    """Shares at ``price`` on ``side`` of the file's instrument (0: no such level)."""
    cur = heads[LOCATE, side]
    while cur != NO_LEVEL:
        p = np.int64(levels[cur]["price"])
        if p == price:
            return np.int64(levels[cur]["shares"])
        if (side == BID and p < price) or (side == ASK and p > price):
            return np.int64(0)
        cur = levels[cur]["next"]
    return np.int64(0)


@njit(cache=True, nogil=True)
def _retire(ev, row, side, price, orders, mask, levels, free, heads, stats, inst, symbols,
            max_orders):
    """Take every real order at (side, price) off the books (cold: scans the table).

    Deleting slot ``i`` can shift a later entry of its probe chain into ``i``, so ``i`` is
    looked at again; entries only ever move back to slots at or after ``i``, or between
    slots already passed, so one pass finds them all."""
    n = 0
    i = 0
    while i < orders.shape[0]:  # the window, then the overflow table (book/records.py)
        o = orders[i]
        r = o["ref"]
        lv = levels[max(o["level"], 0)]
        if (r != EMPTY_REF and r < SYNTHETIC and lv["locate"] == LOCATE and lv["side"] == side
                and np.int64(lv["price"]) == price):
            _event(ev, _D, side, r, 0, price, row)
            _apply(ev, orders, mask, levels, free, heads, stats, inst, symbols, max_orders)
            n += 1
            continue
        i += 1
    return n


@njit(cache=True, nogil=True)
def set_level(ev, row, side, price, target, orders, mask, levels, free, heads, stats, inst,
              symbols, max_orders, counters):
    """Make the level at (side, price) hold ``target`` shares, through its synthetic order.

    A level that holds real orders and the wrong total has lost shares where the file does
    not look (cancels while the level was below the window: LOBSTER writes no message), and
    which of its orders lost them is unknown: the real orders are taken off and the synthetic
    order holds the level's ``target`` (their later messages find it there, as an unknown
    order's do). Returns a book status."""
    have = level_shares(levels, heads, side, price)
    if have == target:
        return OK
    ref = synthetic(side, price)
    i = find(orders, mask, ref)
    syn = np.int64(orders[i]["shares"]) if i >= 0 else np.int64(0)
    real = have - syn
    if real > 0:
        counters[_RETIRED] += _retire(ev, row, side, price, orders, mask, levels, free, heads,
                                      stats, inst, symbols, max_orders)
        real = 0
    want = target - real
    if want == syn:
        return OK
    if i >= 0:
        _event(ev, _D, side, ref, 0, price, row)
        st = _apply(ev, orders, mask, levels, free, heads, stats, inst, symbols, max_orders)
        if st != OK:
            return st
    if want > 0:
        _event(ev, _A, side, ref, want, price, row)
        st = _apply(ev, orders, mask, levels, free, heads, stats, inst, symbols, max_orders)
        if st != OK:
            return st
    return OK


@njit(cache=True, nogil=True)
def seed_row(row, evs, orders, mask, levels, free, heads, stats, inst, symbols, max_orders,
             counters):
    """Put every level of one orderbook row (the file's layout, any number of levels) on the
    books as synthetic orders. Returns ``(status, levels seeded)``. ``evs``: a one-record
    ``EVENT_DTYPE`` scratch array."""
    ev = evs[0]
    n = 0
    for j in range(row.shape[0] // 4):
        for side in (ASK, BID):
            c = 4 * j + (0 if side == ASK else 2)
            p = row[c]
            s = row[c + 1]
            if s == 0:
                continue
            st = set_level(ev, -1, side, p, s, orders, mask, levels, free, heads, stats, inst,
                           symbols, max_orders, counters)
            if st != OK:
                return st, n
            n += 1
    counters[_SEEDED] += n
    return OK, n


@njit(cache=True, nogil=True)
def _reveal_side(prev, cur, side, k, add_price, ev, orders, mask, levels, free, heads,
                 stats, inst, symbols, max_orders, counters):
    """Levels of row ``cur`` beyond the worst level of the full row ``prev`` came into the
    window from below without a message: set them from the row."""
    col = 0 if side == ASK else 2
    n_prev = 0
    worst = np.int64(0)
    for j in range(prev.shape[0] // 4):
        if prev[4 * j + col + 1] == 0:
            break
        worst = prev[4 * j + col]
        n_prev += 1
    n_cur = cur.shape[0] // 4
    if n_prev < n_cur:
        return OK  # the window held every level of this side: nothing hides below it
    cur_worst = np.int64(0)
    for j in range(n_cur):
        p = cur[4 * j + col]
        s = cur[4 * j + col + 1]
        if s == 0:
            n_cur = j
            break
        cur_worst = p
        if (side == ASK and p <= worst) or (side == BID and p >= worst) or p == add_price:
            continue
        st = set_level(ev, k, side, p, s, orders, mask, levels, free, heads, stats, inst,
                       symbols, max_orders, counters)
        if st != OK:
            return st
        counters[_REVEALS] += 1
    # a level the books hold in the part that came into view, but the row does not show, is
    # one whose orders left while it was below the window: it goes
    full = n_cur == cur.shape[0] // 4
    while True:
        stale = np.int64(-1)
        node = heads[LOCATE, side]
        while node != NO_LEVEL:
            p = np.int64(levels[node]["price"])
            node = levels[node]["next"]
            if (side == ASK and p <= worst) or (side == BID and p >= worst):
                continue
            if full and ((side == ASK and p > cur_worst) or (side == BID and p < cur_worst)):
                break
            shown = False
            for j in range(n_cur):
                if cur[4 * j + col] == p:
                    shown = True
                    break
            if not shown:
                stale = p
                break
        if stale < 0:
            return OK
        st = set_level(ev, k, side, stale, 0, orders, mask, levels, free, heads, stats, inst,
                       symbols, max_orders, counters)
        if st != OK:
            return st
        counters[_REVEALS] += 1


@njit(cache=True, nogil=True)
def _compare(cur, k, levels, heads, counters, mismatches):
    """Compare the book's top levels with orderbook row ``cur`` (row ``k``, from 0)."""
    n_levels = cur.shape[0] // 4
    bad = False
    for side in (ASK, BID):
        col = 0 if side == ASK else 2
        node = heads[LOCATE, side]
        for j in range(n_levels):
            ep = cur[4 * j + col]
            es = cur[4 * j + col + 1]
            e_empty = es == 0 and (ep == _EMPTY or ep == -_EMPTY)
            if node != NO_LEVEL:
                gp = np.int64(levels[node]["price"])
                gs = np.int64(levels[node]["shares"])
                node = levels[node]["next"]
                if not e_empty and gp == ep and gs == es:
                    continue
            else:
                gp = np.int64(_EMPTY) if side == ASK else np.int64(-_EMPTY)
                gs = np.int64(0)
                if e_empty:
                    continue
            bad = True
            counters[_MISMATCH_CELLS] += 1
            m = counters[_MISMATCHES_KEPT]
            if m < mismatches.shape[0]:
                mismatches[m, 0] = k + 1
                mismatches[m, 1] = j + 1
                mismatches[m, 2] = side
                mismatches[m, 3] = ep
                mismatches[m, 4] = es
                mismatches[m, 5] = gp
                mismatches[m, 6] = gs
                counters[_MISMATCHES_KEPT] = m + 1
    counters[_ROWS_CHECKED] += 1
    if bad:
        counters[_MISMATCH_ROWS] += 1


@njit(cache=True, nogil=True)
def replay_rows(msgs, start, end, skip_first, ob, first_prev, reveal, compare, room, evs,
                orders, mask, levels, free, heads, stats, inst, symbols, max_orders, counters,
                mismatches, unknown_rows):
    """Replay message rows ``start..end`` (from 0). Returns ``(row, status)``: the first row
    not finished (``end`` when all were) and why.

    ``skip_first``: row ``start``'s message was refused before; do only its reveal and
    compare. ``ob``: the orderbook rows (``reveal`` / ``compare`` off: any 2-D array);
    ``first_prev``: the book before row 0 in the orderbook layout. ``room``: the tables can
    still grow, so stop (``NEED_ROOM``) before a row could find them full."""
    ev = evs[0]
    headroom = 2 * (ob.shape[1] // 4) + 2
    for k in range(start, end):
        if room and (max_orders - stats[_LIVE_ORDERS] < headroom
                     or stats[_FREE_TOP] < headroom):
            return k, NEED_ROOM
        m = msgs[k]
        t = m["type"]
        add_price = np.int64(-1)
        if t <= 4 and not (k == start and skip_first):
            side = BID if m["direction"] == 1 else ASK
            ref = np.uint64(m["order_id"])
            size = m["size"]
            price = m["price"]
            if t == 1:
                add_price = price
                _event(ev, _A, side, ref, size, price, k)
                st = _apply(ev, orders, mask, levels, free, heads, stats, inst, symbols,
                            max_orders)
                if st != OK:
                    return k, st
            elif find(orders, mask, ref) >= 0:
                i = find(orders, mask, ref)
                o_side = np.int64(levels[orders[i]["level"]]["side"])
                o_price = np.int64(levels[orders[i]["level"]]["price"])
                excess = np.int64(orders[i]["shares"]) - size if t == 3 else np.int64(0)
                have = level_shares(levels, heads, o_side, o_price) if excess > 0 else 0
                _event(ev, _X if t == 2 else (_D if t == 3 else _E), side, ref, size, price, k)
                st = _apply(ev, orders, mask, levels, free, heads, stats, inst, symbols,
                            max_orders)
                if st != OK:
                    return k, st
                if excess > 0:
                    # the order had fewer shares than the books held: a cancel came while its
                    # level was below the window; those shares belong to orders never seen.
                    # This cannot fail for room after the Delete, even with full tables: it
                    # adds one synthetic order only after taking off the Delete's order and
                    # every other order of the level (so the level too, when it must be new)
                    st = set_level(ev, k, o_side, o_price, have - size, orders, mask, levels,
                                   free, heads, stats, inst, symbols, max_orders, counters)
                    if st != OK:
                        return k, st
            else:
                # an order the file never showed: its shares sit in the synthetic order
                syn = synthetic(side, price)
                i = find(orders, mask, syn)
                have = np.int64(orders[i]["shares"]) if i >= 0 else np.int64(0)
                take = min(size, have)
                total = level_shares(levels, heads, side, price)
                if take < size and total >= size:
                    # the level holds the shares, but in real orders: some of them left while
                    # the level was below the window (no message): the synthetic order takes
                    # the level over, less this message's shares
                    st = set_level(ev, k, side, price, total - size, orders, mask, levels,
                                   free, heads, stats, inst, symbols, max_orders, counters)
                    if st != OK:
                        return k, st
                    take = size
                elif take > 0:
                    _event(ev, _E if t == 4 else _X, side, syn, take, price, k)
                    st = _apply(ev, orders, mask, levels, free, heads, stats, inst, symbols,
                                max_orders)
                    if st != OK:
                        return k, st
                if take == size:
                    counters[_SEED_HITS] += 1
                else:
                    counters[_UNKNOWN] += 1
                    counters[_UNKNOWN_SHARES] += size - take
                    u = counters[_UNKNOWN_KEPT]
                    if u < unknown_rows.shape[0]:
                        unknown_rows[u] = k + 1
                        counters[_UNKNOWN_KEPT] = u + 1
        if reveal:
            prev = first_prev if k == 0 else ob[k - 1]
            cur = ob[k]
            for side in (ASK, BID):
                st = _reveal_side(prev, cur, side, k, add_price, ev, orders, mask, levels,
                                  free, heads, stats, inst, symbols, max_orders, counters)
                if st != OK:
                    return k, st
        if compare:
            _compare(ob[k], k, levels, heads, counters, mismatches)
    return end, OK
