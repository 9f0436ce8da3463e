"""The pre-trade check from the orders sent alone, compiled: one order in, OK or the reason
it is refused. (:func:`tickpath.risk.new_order.check_new_order` is the one that reads our
orders and fills from the gateway's tables.)

Order of the checks, cheapest and most absolute first: kill switch, order size, a reference
price (no book: refused), price collar, position, notional, rate. Only an order that passes
changes state (position, the rate window's count): a refused order leaves none behind.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ..ring.atomics import load_relaxed
from .layout import KILL_WORD, RATE_COUNT, RATE_WINDOW_START, Limit, Reject

OK = 0
# plain ints for compiled code (the IntEnums name them for Python)
_CHECKED, _PASSED, _KILLED, _SIZE, _POSITION, _NOTIONAL, _COLLAR, _RATE, _NO_BOOK = (
    int(r) for r in (Reject.CHECKED, Reject.PASSED, Reject.KILLED, Reject.ORDER_SIZE,
                     Reject.POSITION, Reject.NOTIONAL, Reject.COLLAR, Reject.RATE,
                     Reject.NO_BOOK))
_L_SIZE, _L_POS, _L_NOTIONAL, _L_COLLAR, _L_RATE, _L_WINDOW = (
    int(x) for x in (Limit.MAX_ORDER_SIZE, Limit.MAX_POSITION, Limit.MAX_NOTIONAL,
                     Limit.COLLAR_BPS, Limit.MAX_ORDERS_PER_S, Limit.WINDOW_NS))
_KILL = KILL_WORD  # the control section's kill switch (the section is passed in)
_BUY = 66


@njit(cache=True, nogil=True, inline="always")
def check_order(side, qty, price, locate, bid, ask, now_ns, limits, position, rate, control,
                counts):
    """Check one order (``side`` b'B'/b'S', ``qty`` shares, ``price`` Price(4)) against the
    limits and the book's best ``bid``/``ask`` (0: none). Returns OK (0) or a
    :class:`~tickpath.risk.layout.Reject` reason, counted in ``counts``."""
    counts[_CHECKED] += 1
    why = np.int64(OK)
    if load_relaxed(control, _KILL) != 0:  # an atomic load: never hoisted out of the loop
        why = _KILLED
    elif qty <= 0 or qty > limits[_L_SIZE]:
        why = _SIZE
    else:
        if bid > 0 and ask > 0:
            ref = (bid + ask) // 2
        else:
            ref = bid if bid > 0 else ask
        signed = qty if side == _BUY else -qty
        new_pos = position[locate] + signed
        if ref <= 0:
            why = _NO_BOOK
        elif abs(price - ref) * 10_000 > limits[_L_COLLAR] * ref:
            why = _COLLAR
        elif abs(new_pos) > limits[_L_POS]:
            why = _POSITION
        elif abs(new_pos) * price > limits[_L_NOTIONAL]:
            why = _NOTIONAL
        else:
            if now_ns - rate[RATE_WINDOW_START] >= limits[_L_WINDOW]:
                rate[RATE_WINDOW_START] = now_ns
                rate[RATE_COUNT] = 0
            if rate[RATE_COUNT] >= limits[_L_RATE]:
                why = _RATE
            else:
                rate[RATE_COUNT] += 1
                position[locate] = new_pos
    if why == OK:
        counts[_PASSED] += 1
    else:
        counts[why] += 1
    return np.int64(why)
