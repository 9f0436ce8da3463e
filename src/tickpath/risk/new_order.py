"""The pre-trade check that knows our orders and fills, compiled: one new order in, OK or the
reason it is refused out, counted.

It reads the gateway's tables (:mod:`tickpath.gateway.layout`: ``orders``, ``positions``,
``totals``), which the gateway's kernels keep, and writes only its own rate window, the
counts, and (loss limit) the kill switch. The order of the checks, cheapest and most absolute
first:

1. kill switch (the control word, an atomic load) -> KILLED
2. loss limit: P&L (``CASH + MARKED``) below ``-MAX_LOSS`` -> LOSS_LIMIT, and the switch is
   thrown (reason LOSS_LIMIT). Two loads, and it makes every later check moot, so it comes
   right after the switch.
3. order size: ``0 < qty <= MAX_ORDER_SIZE`` -> ORDER_SIZE
4. instrument within the positions table -> UNKNOWN_INSTRUMENT
4a. the book the reference price comes from is known to be exact (the feed has no gap open
   for it) -> STALE_BOOK: a collar or a quote against a book that may be wrong is no check
5. a reference price (mid, or the one side there is) -> NO_BOOK
6. collar: ``|price - ref| <= COLLAR_BPS`` of ref -> COLLAR
7. position from fills, worst case: ``|position + open same-side shares + this order|
   <= MAX_POSITION`` (as if every open order on this side and this one filled) -> POSITION
8. open-order exposure: the instrument's open buy + sell notional + this order's
   ``<= MAX_OPEN_NOTIONAL`` -> OPEN_EXPOSURE; then every instrument's (``OPEN_NOTIONAL``)
   + this order's ``<= MAX_TOTAL_OPEN_NOTIONAL`` -> TOTAL_OPEN_EXPOSURE
9. notional: that worst-case position x price ``<= MAX_NOTIONAL`` -> NOTIONAL
10. one walk of the instrument's open-order list (``open_head`` / ``next_open``), bounded by
    the table's size, for both:
    duplicate: an open order of ours with the same side, price and quantity that is still
    PENDING_NEW, or was sent less than ``DUPLICATE_WINDOW_NS`` ago -> DUPLICATE;
    self-trade: a buy at or above one of our open sells, or a sell at or below one of our
    open buys (a pending replace's new price counts too) -> SELF_TRADE
11. rate: orders passed per one-second window ``<= MAX_ORDERS_PER_S`` -> RATE

Only an order that passes changes state: the rate window counts it. The caller records each
passed order in the gateway's tables (open exposure, the open-order list) before checking the
next one, or the next check does not see it.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ..gateway.layout import OrderState, Total
from ..ring.atomics import load_relaxed
from .kill_switch import pnl_of, trip
from .layout import KILL_WORD, RATE_COUNT, RATE_WINDOW_START, KillReason, Limit, Reject

OK = 0
_CHECKED, _PASSED, _KILLED, _SIZE, _POSITION, _NOTIONAL, _COLLAR, _RATE, _NO_BOOK = (
    int(r) for r in (Reject.CHECKED, Reject.PASSED, Reject.KILLED, Reject.ORDER_SIZE,
                     Reject.POSITION, Reject.NOTIONAL, Reject.COLLAR, Reject.RATE,
                     Reject.NO_BOOK))
_LOSS, _OPEN, _TOTAL_OPEN, _DUP, _STP, _UNKNOWN, _STALE = (
    int(r) for r in (Reject.LOSS_LIMIT, Reject.OPEN_EXPOSURE, Reject.TOTAL_OPEN_EXPOSURE,
                     Reject.DUPLICATE, Reject.SELF_TRADE, Reject.UNKNOWN_INSTRUMENT,
                     Reject.STALE_BOOK))
_L_SIZE, _L_POS, _L_NOTIONAL, _L_COLLAR, _L_RATE, _L_WINDOW = (
    int(x) for x in (Limit.MAX_ORDER_SIZE, Limit.MAX_POSITION, Limit.MAX_NOTIONAL,
                     Limit.COLLAR_BPS, Limit.MAX_ORDERS_PER_S, Limit.WINDOW_NS))
_L_OPEN, _L_TOTAL_OPEN, _L_LOSS, _L_DUP_NS = (
    int(x) for x in (Limit.MAX_OPEN_NOTIONAL, Limit.MAX_TOTAL_OPEN_NOTIONAL, Limit.MAX_LOSS,
                     Limit.DUPLICATE_WINDOW_NS))
_OPEN_NOTIONAL = int(Total.OPEN_NOTIONAL)
_PENDING_NEW, _ACCEPTED, _PARTIAL, _CANCEL_PENDING, _REPLACE_PENDING = (
    int(s) for s in (OrderState.PENDING_NEW, OrderState.ACCEPTED, OrderState.PARTIAL,
                     OrderState.CANCEL_PENDING, OrderState.REPLACE_PENDING))
_KILL = KILL_WORD
_LOSS_LIMIT = int(KillReason.LOSS_LIMIT)
_BUY = 66


@njit(cache=True, nogil=True, _nrt=False, inline="always")
def _is_open(state):
    return (state == _PENDING_NEW or state == _ACCEPTED or state == _PARTIAL
            or state == _CANCEL_PENDING or state == _REPLACE_PENDING)


@njit(cache=True, nogil=True, _nrt=False)
def walk_open_orders(instrument, side, qty, price, now_ns, dup_window_ns, orders, positions):
    """Walk ``instrument``'s open orders once: (OK, DUPLICATE or SELF_TRADE) for a new order
    of ``side``/``qty``/``price`` (duplicate first when both). At most ``len(orders)`` steps,
    so a damaged list cannot hold the caller."""
    dup = False
    stp = False
    buy = side == _BUY
    slot = positions[instrument]["open_head"]
    steps = 0
    cap = orders.shape[0]
    while slot >= 0 and slot < cap and steps < cap:
        o = orders[slot]
        steps += 1
        if _is_open(o["state"]) and o["instrument"] == instrument:
            op = o["price"]
            if o["side"] == side:
                if op == price and o["qty"] == qty and (
                        o["state"] == _PENDING_NEW or now_ns - o["sent_ns"] < dup_window_ns):
                    dup = True
            else:
                pp = o["pending_price"] if o["state"] == _REPLACE_PENDING else 0
                if buy:  # our buy must stay below every open sell of ours
                    if op <= price or (pp > 0 and pp <= price):
                        stp = True
                elif op >= price or (pp > 0 and pp >= price):
                    stp = True
        slot = o["next_open"]
    if dup:
        return _DUP
    if stp:
        return _STP
    return OK


@njit(cache=True, nogil=True, _nrt=False)
def check_new_order(instrument, side, qty, price, bid, ask, exact, now_ns, limits, orders,
                    positions, totals, rate, control, counts):
    """Check one new order (``instrument`` a stock locate, ``side`` ord('B')/ord('S'),
    ``qty`` shares, ``price`` Price(4)) against ``limits``, the book's best ``bid``/``ask``
    (0: none; ``exact`` 0 when the feed says that book may be wrong) and our ``orders``/``positions``/``totals`` (the gateway's tables) at
    ``now_ns``. Returns OK (0) or a :class:`~tickpath.risk.layout.Reject` reason, counted in
    ``counts``; a loss-limit refusal throws the switch in ``control`` too. Only a pass
    changes ``rate``."""
    counts[_CHECKED] += 1
    why = np.int64(OK)
    if load_relaxed(control, _KILL) != 0:  # an atomic load: never hoisted out of a loop
        why = _KILLED
    elif pnl_of(totals) < -limits[_L_LOSS]:
        trip(control, _LOSS_LIMIT, now_ns)
        why = _LOSS
    elif qty <= 0 or qty > limits[_L_SIZE]:
        why = _SIZE
    elif instrument < 0 or instrument >= positions.shape[0]:
        why = _UNKNOWN
    elif exact == 0:
        why = _STALE
    else:
        if bid > 0 and ask > 0:
            ref = (bid + ask) // 2
        else:
            ref = bid if bid > 0 else ask
        p = positions[instrument]
        if side == _BUY:
            worst = p["position"] + p["open_buy"] + qty
        else:
            worst = p["position"] - p["open_sell"] - qty
        notional = qty * price
        if ref <= 0:
            why = _NO_BOOK
        elif abs(price - ref) * 10_000 > limits[_L_COLLAR] * ref:
            why = _COLLAR
        elif abs(worst) > limits[_L_POS]:
            why = _POSITION
        elif p["open_buy_notional"] + p["open_sell_notional"] + notional > limits[_L_OPEN]:
            why = _OPEN
        elif totals[_OPEN_NOTIONAL] + notional > limits[_L_TOTAL_OPEN]:
            why = _TOTAL_OPEN
        elif abs(worst) * price > limits[_L_NOTIONAL]:
            why = _NOTIONAL
        else:
            why = walk_open_orders(instrument, side, qty, price, now_ns,
                                   limits[_L_DUP_NS], orders, positions)
            if why == OK:
                fresh = now_ns - rate[RATE_WINDOW_START] >= limits[_L_WINDOW]
                sent = 0 if fresh else rate[RATE_COUNT]
                if sent >= limits[_L_RATE]:
                    why = _RATE
                else:  # written only on a pass (a refusal leaves the window as it was)
                    if fresh:
                        rate[RATE_WINDOW_START] = now_ns
                    rate[RATE_COUNT] = sent + 1
    if why == OK:
        counts[_PASSED] += 1
    else:
        counts[why] += 1
    return np.int64(why)
