"""Compiled order state: what we send and what the venue says, applied to the layout arrays.

Every kernel takes the arrays of :mod:`tickpath.gateway.layout` (``orders``, ``positions``,
``totals``) and scalars, returns a small integer, never raises and never allocates.

Our side (called when an order, cancel or replace is sent; the session journals first):

=========================================================  ==================================
kernel                                                     returns
=========================================================  ==================================
``order_new(orders, positions, totals, instrument,         the new ``user_ref`` (> 0), or
symbol, side, qty, price, tif, trigger, now_ns)``          TABLE_FULL / REF_EXHAUSTED /
                                                           BAD_ORDER (< 0)
``cancel_sent(orders, positions, totals, user_ref,         OK, or UNKNOWN / NOT_OPEN /
qty_left, now_ns)``                                        PENDING / BAD_ORDER
``replace_sent(orders, positions, totals, user_ref, qty,   the replacement's ``user_ref``,
price, now_ns)``                                           or a status < 0
``mass_cancel_sent(orders, positions, totals, instrument,  the request's ``user_ref``
now_ns)``                                                  (instrument -1: every instrument)
``reject_local(orders, positions, totals, user_ref,        OK: an order we could not send is
reason, now_ns)``                                          closed REJECTED (never resent)
``session_closed(orders, positions, totals, now_ns)``      the orders closed: the venue's
                                                           session they lived in is over
=========================================================  ==================================

The venue's side (``apply_outbound`` dispatches one decoded OUT_DTYPE record to them): each
returns OK or the reason it was not applied (UNKNOWN_REF, BAD_TRANSITION, BAD_QTY, IGNORED),
and ``apply_outbound`` counts every reason but OK in ``totals`` (``Total.UNKNOWN_REF`` ...).
A refused message changes nothing else.

Rules (the reference model in ``tests/reference/orders.py`` states them once more):

* **Open** orders are those in ``OPEN_STATES``; exactly they are linked into their
  instrument's open list and counted in ``OPEN_ORDERS`` and the open exposure
  (``open_buy``/``open_sell`` = sum of ``leaves``; notionals = sum of ``leaves x price``). A
  handler takes the order's exposure out, changes the order, and puts it back if still open.
* Accepted: PENDING_NEW -> ACCEPTED (the venue's quantity and price), or CANCELED when the
  Order State is 'D' (dead). A cancel or replace sent before the accept keeps its pending
  state; ``prior_state`` becomes ACCEPTED.
* Executed: an accepted open order; 0 shares or more than ``leaves`` is BAD_QTY. Books the
  fill: position, bought/sold, cash (a buy takes ``qty x price``), ``filled``,
  ``fill_notional``, and ``MARKED`` by the position change x the mark. ``leaves`` 0 ->
  FILLED (also while a cancel or replace is pending: the fill raced it and won).
* Canceled (and AIQ Canceled): decrements ``leaves`` (incremental). 0 left -> CANCELED; a
  pending cancel whose intended size left is reached returns to ``prior_state``.
* Rejected: an order never accepted -> REJECTED; a reserved replacement -> REJECTED and the
  original returns to ``prior_state``.
* Replaced: the original must be REPLACE_PENDING towards this replacement. The original
  becomes REPLACED (0 leaves, closed); the replacement row goes live with the venue's
  quantity ("total shares outstanding") and price, ACCEPTED (or CANCELED if dead).
* Cancel Reject: a pending cancel returns to ``prior_state``. Mass Cancel Response: an
  acknowledgement (the cancels themselves come as Canceled messages).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .layout import OrderState, Total

# statuses of the venue-side handlers (>= 0)
OK = 0
UNKNOWN_REF = 1
BAD_TRANSITION = 2
BAD_QTY = 3
IGNORED = 4

APPLY_TEXT = {OK: "ok", UNKNOWN_REF: "unknown UserRefNum", BAD_TRANSITION:
              "impossible for the order's state", BAD_QTY: "0 shares, or more than open",
              IGNORED: "no effect on orders"}

# statuses of our side (< 0; a user_ref is > 0)
TABLE_FULL = -1  # the slot of the next user_ref holds an open order
REF_EXHAUSTED = -2  # UserRefNum is 4 bytes
BAD_ORDER = -3  # quantity, side, instrument or price out of range
UNKNOWN = -4  # no order with that user_ref
NOT_OPEN = -5  # the order is done (or was never accepted, for a replace)
PENDING = -6  # a replace is already pending on it

SEND_TEXT = {TABLE_FULL: "order table full (the next UserRefNum's slot holds an open order)",
             REF_EXHAUSTED: "UserRefNum space exhausted (4 bytes)",
             BAD_ORDER: "bad order: quantity, side, instrument or price out of range",
             UNKNOWN: "no order with that UserRefNum", NOT_OPEN: "the order is not open",
             PENDING: "a replace is already pending on the order"}

_NONE = np.uint8(OrderState.NONE)
_PENDING_NEW = np.uint8(OrderState.PENDING_NEW)
_ACCEPTED = np.uint8(OrderState.ACCEPTED)
_PARTIAL = np.uint8(OrderState.PARTIAL)
_FILLED = np.uint8(OrderState.FILLED)
_CANCELED = np.uint8(OrderState.CANCELED)
_REJECTED = np.uint8(OrderState.REJECTED)
_CANCEL_PENDING = np.uint8(OrderState.CANCEL_PENDING)
_REPLACE_PENDING = np.uint8(OrderState.REPLACE_PENDING)
_REPLACED = np.uint8(OrderState.REPLACED)

_BUY = 66  # 'B'
_DEAD = 68  # Order State 'D'
#: the cancel reason of orders closed with their session: 'T', their time in force (the
#: session) expired
SESSION_EXPIRED = 84
MAX_USER_REF = 0xFFFFFFFF
MAX_QTY = 0xFFFFFFFF

_CASH, _MARKED, _OPEN_NOTIONAL, _OPEN_ORDERS = (Total.CASH, Total.MARKED,
                                                Total.OPEN_NOTIONAL, Total.OPEN_ORDERS)
_ORDERS, _FILLS, _REJECTS, _CANCELS = Total.ORDERS, Total.FILLS, Total.REJECTS, Total.CANCELS
_NEXT = Total.NEXT_USER_REF
_GROSS = Total.GROSS_POSITION


@njit(cache=True, nogil=True)
def is_open(state):
    return (state == _PENDING_NEW or state == _ACCEPTED or state == _PARTIAL
            or state == _CANCEL_PENDING or state == _REPLACE_PENDING)


@njit(cache=True, nogil=True)
def find(orders, user_ref):
    """The slot of ``user_ref``, or -1 (never sent, or its slot reused since)."""
    if user_ref <= 0:
        return -1
    slot = user_ref & (orders.shape[0] - 1)
    if orders[slot]["user_ref"] != user_ref:
        return -1
    return slot


@njit(cache=True, nogil=True)
def _slot_busy(orders, slot):
    st = orders[slot]["state"]
    # a reserved replacement (NONE with a user_ref) holds its slot until the venue answers
    return is_open(st) or (st == _NONE and orders[slot]["user_ref"] != 0)


@njit(cache=True, nogil=True)
def _expose(orders, positions, totals, slot, sign):
    """Add (sign 1) or take out (sign -1) the order's open shares and notional."""
    q = orders[slot]["leaves"] * sign
    n = q * orders[slot]["price"]
    inst = orders[slot]["instrument"]
    if orders[slot]["side"] == _BUY:
        positions[inst]["open_buy"] += q
        positions[inst]["open_buy_notional"] += n
    else:
        positions[inst]["open_sell"] += q
        positions[inst]["open_sell_notional"] += n
    totals[_OPEN_NOTIONAL] += n


@njit(cache=True, nogil=True)
def _link(orders, positions, totals, slot):
    inst = orders[slot]["instrument"]
    head = positions[inst]["open_head"]
    orders[slot]["prev_open"] = -1
    orders[slot]["next_open"] = head
    if head >= 0:
        orders[head]["prev_open"] = slot
    positions[inst]["open_head"] = slot
    totals[_OPEN_ORDERS] += 1


@njit(cache=True, nogil=True)
def _unlink(orders, positions, totals, slot):
    inst = orders[slot]["instrument"]
    prev = orders[slot]["prev_open"]
    nxt = orders[slot]["next_open"]
    if prev >= 0:
        orders[prev]["next_open"] = nxt
    else:
        positions[inst]["open_head"] = nxt
    if nxt >= 0:
        orders[nxt]["prev_open"] = prev
    orders[slot]["next_open"] = -1
    orders[slot]["prev_open"] = -1
    totals[_OPEN_ORDERS] -= 1


@njit(cache=True, nogil=True)
def _close(orders, positions, totals, slot, state, now_ns):
    """Leave the open states (exposure already taken out): unlink, 0 leaves."""
    orders[slot]["state"] = state
    orders[slot]["leaves"] = 0
    orders[slot]["update_ns"] = now_ns
    _unlink(orders, positions, totals, slot)


@njit(cache=True, nogil=True)
def _clear(orders, slot):
    o = orders[slot]
    o["user_ref"] = 0
    o["instrument"] = 0
    o["symbol"] = 0
    o["price"] = 0
    o["qty"] = 0
    o["leaves"] = 0
    o["filled"] = 0
    o["fill_notional"] = 0
    o["order_ref"] = 0
    o["trigger"] = 0
    o["sent_ns"] = 0
    o["update_ns"] = 0
    o["replaces"] = 0
    o["replaced_by"] = 0
    o["pending_qty"] = 0
    o["pending_price"] = 0
    o["ahead"] = -1
    o["reason"] = 0
    o["next_open"] = -1
    o["prev_open"] = -1
    o["side"] = 0
    o["tif"] = 0
    o["state"] = _NONE
    o["prior_state"] = _NONE


@njit(cache=True, nogil=True)
def next_ref_status(orders, totals):
    """What :func:`order_new` (or a replace) would say about the next user_ref: the user_ref,
    or TABLE_FULL / REF_EXHAUSTED. Changes nothing (the session journals before it sends)."""
    ur = totals[_NEXT]
    if ur > MAX_USER_REF:
        return REF_EXHAUSTED
    if _slot_busy(orders, ur & (orders.shape[0] - 1)):
        return TABLE_FULL
    return ur


@njit(cache=True, nogil=True)
def check_new(orders, positions, totals, instrument, side, qty, price):
    """What :func:`order_new` would return, changing nothing (the session journals between
    the check and the change)."""
    if (qty <= 0 or qty > MAX_QTY or price < 0 or instrument < 0
            or instrument >= positions.shape[0] or side == 0):
        return BAD_ORDER
    return next_ref_status(orders, totals)


@njit(cache=True, nogil=True)
def order_new(orders, positions, totals, instrument, symbol, side, qty, price, tif,
              trigger, now_ns):
    """A new order is being sent: takes ``totals[NEXT_USER_REF]``, writes its row
    PENDING_NEW, links it open and counts its exposure. Returns the user_ref or a status < 0
    (nothing changed)."""
    ur = check_new(orders, positions, totals, instrument, side, qty, price)
    if ur < 0:
        return ur
    slot = ur & (orders.shape[0] - 1)
    _clear(orders, slot)
    o = orders[slot]
    o["user_ref"] = ur
    o["instrument"] = instrument
    o["symbol"] = symbol
    o["side"] = side
    o["qty"] = qty
    o["leaves"] = qty
    o["price"] = price
    o["tif"] = tif
    o["trigger"] = trigger
    o["sent_ns"] = now_ns
    o["update_ns"] = now_ns
    o["state"] = _PENDING_NEW
    _link(orders, positions, totals, slot)
    _expose(orders, positions, totals, slot, 1)
    positions[instrument]["orders"] += 1
    totals[_ORDERS] += 1
    totals[_NEXT] = ur + 1
    return ur


@njit(cache=True, nogil=True)
def check_cancel(orders, user_ref, qty_left):
    """What :func:`cancel_sent` would return, changing nothing."""
    slot = find(orders, user_ref)
    if slot < 0:
        return UNKNOWN
    st = orders[slot]["state"]
    if st == _REPLACE_PENDING:
        return PENDING
    if not is_open(st):
        return NOT_OPEN
    if qty_left < 0 or qty_left >= orders[slot]["leaves"]:
        return BAD_ORDER
    return OK


@njit(cache=True, nogil=True)
def cancel_sent(orders, positions, totals, user_ref, qty_left, now_ns):
    """A Cancel Order is being sent (``qty_left``: the intended size left, 0 = all): the
    order becomes CANCEL_PENDING. Sending it again while pending updates ``qty_left``."""
    s = check_cancel(orders, user_ref, qty_left)
    if s != OK:
        return s
    slot = find(orders, user_ref)
    st = orders[slot]["state"]
    if st != _CANCEL_PENDING:
        orders[slot]["prior_state"] = st
        orders[slot]["state"] = _CANCEL_PENDING
    orders[slot]["pending_qty"] = qty_left
    orders[slot]["update_ns"] = now_ns
    return OK


@njit(cache=True, nogil=True)
def check_replace(orders, totals, user_ref, qty, price):
    """What :func:`replace_sent` would return, changing nothing."""
    slot = find(orders, user_ref)
    if slot < 0:
        return UNKNOWN
    st = orders[slot]["state"]
    if st == _CANCEL_PENDING or st == _REPLACE_PENDING:
        return PENDING
    if st != _ACCEPTED and st != _PARTIAL:
        return NOT_OPEN
    if qty <= 0 or qty > MAX_QTY or price < 0:
        return BAD_ORDER
    return next_ref_status(orders, totals)


@njit(cache=True, nogil=True)
def replace_sent(orders, positions, totals, user_ref, qty, price, now_ns):
    """A Replace Order is being sent for an accepted open order: reserves the replacement's
    row (takes ``NEXT_USER_REF``), and the original becomes REPLACE_PENDING. Returns the
    replacement's user_ref or a status < 0 (nothing changed)."""
    ur = check_replace(orders, totals, user_ref, qty, price)
    if ur < 0:
        return ur
    slot = find(orders, user_ref)
    st = orders[slot]["state"]
    new = ur & (orders.shape[0] - 1)
    _clear(orders, new)
    n = orders[new]
    n["user_ref"] = ur
    n["instrument"] = orders[slot]["instrument"]
    n["symbol"] = orders[slot]["symbol"]
    n["side"] = orders[slot]["side"]
    n["tif"] = orders[slot]["tif"]
    n["trigger"] = orders[slot]["trigger"]
    n["qty"] = qty
    n["price"] = price
    n["replaces"] = user_ref
    n["sent_ns"] = now_ns
    n["update_ns"] = now_ns
    o = orders[slot]
    o["prior_state"] = st
    o["state"] = _REPLACE_PENDING
    o["pending_qty"] = qty
    o["pending_price"] = price
    o["replaced_by"] = ur
    o["update_ns"] = now_ns
    totals[_NEXT] = ur + 1
    return ur


@njit(cache=True, nogil=True)
def mass_cancel_sent(orders, positions, totals, instrument, now_ns):
    """A Mass Cancel Request is being sent: takes a user_ref (the request's), and every open
    order of ``instrument`` (-1: of every instrument) without a pending replace becomes
    CANCEL_PENDING (all shares). Returns the request's user_ref, or REF_EXHAUSTED."""
    ur = totals[_NEXT]
    if ur > MAX_USER_REF:
        return REF_EXHAUSTED
    lo, hi = instrument, instrument + 1
    if instrument < 0:
        lo, hi = 0, positions.shape[0]
    elif instrument >= positions.shape[0]:
        return BAD_ORDER
    for inst in range(lo, hi):
        slot = positions[inst]["open_head"]
        while slot >= 0:
            st = orders[slot]["state"]
            if st == _PENDING_NEW or st == _ACCEPTED or st == _PARTIAL:
                orders[slot]["prior_state"] = st
                orders[slot]["state"] = _CANCEL_PENDING
                orders[slot]["pending_qty"] = 0
                orders[slot]["update_ns"] = now_ns
            elif st == _CANCEL_PENDING:
                orders[slot]["pending_qty"] = 0
            slot = orders[slot]["next_open"]
    totals[_NEXT] = ur + 1
    return ur


@njit(cache=True, nogil=True)
def reject_local(orders, positions, totals, user_ref, reason, now_ns):
    """An order we could not hand to the venue (the send failed): REJECTED with ``reason``
    (negative: ours, not the venue's), closed. Its user_ref is never sent again."""
    slot = find(orders, user_ref)
    if slot < 0 or orders[slot]["state"] != _PENDING_NEW:
        return BAD_TRANSITION
    _expose(orders, positions, totals, slot, -1)
    orders[slot]["reason"] = reason
    _close(orders, positions, totals, slot, _REJECTED, now_ns)
    return OK


@njit(cache=True, nogil=True)
def session_closed(orders, positions, totals, now_ns):
    """The venue's session our open orders lived in is over (a new session began): every open
    order becomes CANCELED with reason SESSION_EXPIRED, a replacement still reserved for one
    is closed with it, and ``LAST_SEQ`` goes back to 0 (the new session numbers its messages
    from 1). Positions, cash and the day's counts stay: they come from fills. Returns the
    orders closed."""
    n = 0
    for inst in range(positions.shape[0]):
        slot = positions[inst]["open_head"]
        while slot >= 0:
            nxt = orders[slot]["next_open"]
            o = orders[slot]
            if o["state"] == _REPLACE_PENDING:
                new = find(orders, o["replaced_by"])
                if new >= 0 and orders[new]["state"] == _NONE:
                    orders[new]["state"] = _CANCELED
                    orders[new]["reason"] = SESSION_EXPIRED
                    orders[new]["update_ns"] = now_ns
                o["replaced_by"] = 0
            _expose(orders, positions, totals, slot, -1)
            o["reason"] = SESSION_EXPIRED
            _close(orders, positions, totals, slot, _CANCELED, now_ns)
            n += 1
            slot = nxt
    totals[Total.LAST_SEQ] = 0
    return n


@njit(cache=True, nogil=True)
def _accepted_open(orders, slot):
    """Open and accepted by the venue (fills and cancels may come)."""
    st = orders[slot]["state"]
    if st == _ACCEPTED or st == _PARTIAL:
        return True
    return ((st == _CANCEL_PENDING or st == _REPLACE_PENDING)
            and orders[slot]["prior_state"] != _PENDING_NEW)


@njit(cache=True, nogil=True)
def on_accepted(orders, positions, totals, user_ref, qty, price, order_ref, order_state,
                now_ns):
    """Order Accepted: PENDING_NEW -> ACCEPTED with the venue's quantity and price (or
    CANCELED when dead)."""
    slot = find(orders, user_ref)
    if slot < 0:
        return UNKNOWN_REF
    st = orders[slot]["state"]
    pending = ((st == _CANCEL_PENDING or st == _REPLACE_PENDING)
               and orders[slot]["prior_state"] == _PENDING_NEW)
    if st != _PENDING_NEW and not pending:
        return BAD_TRANSITION
    if qty <= 0 and order_state != _DEAD:
        return BAD_QTY
    _expose(orders, positions, totals, slot, -1)
    o = orders[slot]
    o["qty"] = qty
    o["leaves"] = qty
    o["price"] = price
    o["order_ref"] = order_ref
    o["update_ns"] = now_ns
    if order_state == _DEAD:
        _close(orders, positions, totals, slot, _CANCELED, now_ns)
        return OK
    if pending:
        o["prior_state"] = _ACCEPTED
    else:
        o["state"] = _ACCEPTED
    _expose(orders, positions, totals, slot, 1)
    return OK


@njit(cache=True, nogil=True)
def on_executed(orders, positions, totals, user_ref, qty, price, now_ns):
    """Order Executed: books the fill (position, cash, MARKED, average price) and reduces
    the order's open shares."""
    slot = find(orders, user_ref)
    if slot < 0:
        return UNKNOWN_REF
    if not _accepted_open(orders, slot):
        return BAD_TRANSITION
    if qty <= 0 or qty > orders[slot]["leaves"]:
        return BAD_QTY
    _expose(orders, positions, totals, slot, -1)
    o = orders[slot]
    inst = o["instrument"]
    p = positions[inst]
    o["leaves"] -= qty
    o["filled"] += qty
    o["fill_notional"] += qty * price
    o["update_ns"] = now_ns
    signed = qty if o["side"] == _BUY else -qty
    totals[_GROSS] -= abs(p["position"])
    p["position"] += signed
    totals[_GROSS] += abs(p["position"])
    if signed > 0:
        p["bought"] += qty
    else:
        p["sold"] += qty
    p["cash"] -= signed * price
    p["fills"] += 1
    totals[_CASH] -= signed * price
    totals[_MARKED] += signed * p["mark"]
    totals[_FILLS] += 1
    if o["leaves"] == 0:
        _close(orders, positions, totals, slot, _FILLED, now_ns)
        return OK
    st = o["state"]
    if st == _ACCEPTED:
        o["state"] = _PARTIAL
    elif st == _CANCEL_PENDING or st == _REPLACE_PENDING:
        o["prior_state"] = _PARTIAL
    _expose(orders, positions, totals, slot, 1)
    return OK


@njit(cache=True, nogil=True)
def on_canceled(orders, positions, totals, user_ref, qty, reason, now_ns):
    """Order Canceled (or AIQ Canceled): ``qty`` shares taken off the order (incremental)."""
    slot = find(orders, user_ref)
    if slot < 0:
        return UNKNOWN_REF
    if not _accepted_open(orders, slot):
        return BAD_TRANSITION
    if qty <= 0 or qty > orders[slot]["leaves"]:
        return BAD_QTY
    _expose(orders, positions, totals, slot, -1)
    o = orders[slot]
    o["leaves"] -= qty
    o["reason"] = reason
    o["update_ns"] = now_ns
    totals[_CANCELS] += 1
    if o["leaves"] == 0:
        _close(orders, positions, totals, slot, _CANCELED, now_ns)
        return OK
    if o["state"] == _CANCEL_PENDING and o["leaves"] <= o["pending_qty"]:
        o["state"] = o["prior_state"]  # the partial cancel we asked for is done
    _expose(orders, positions, totals, slot, 1)
    return OK


@njit(cache=True, nogil=True)
def on_rejected(orders, positions, totals, user_ref, reason, now_ns):
    """Rejected: an order the venue never accepted, or a replacement (whose original goes
    back to the state it had)."""
    slot = find(orders, user_ref)
    if slot < 0:
        return UNKNOWN_REF
    o = orders[slot]
    st = o["state"]
    if st == _NONE and o["replaces"] != 0:  # a reserved replacement
        o["state"] = _REJECTED
        o["reason"] = reason
        o["update_ns"] = now_ns
        old = find(orders, o["replaces"])
        if old >= 0 and orders[old]["state"] == _REPLACE_PENDING \
                and orders[old]["replaced_by"] == user_ref:
            orders[old]["state"] = orders[old]["prior_state"]
            orders[old]["replaced_by"] = 0
            orders[old]["update_ns"] = now_ns
        totals[_REJECTS] += 1
        positions[o["instrument"]]["rejects"] += 1
        return OK
    never_accepted = st == _PENDING_NEW or (
        (st == _CANCEL_PENDING or st == _REPLACE_PENDING) and o["prior_state"] == _PENDING_NEW)
    if not never_accepted:
        return BAD_TRANSITION
    _expose(orders, positions, totals, slot, -1)
    o["reason"] = reason
    _close(orders, positions, totals, slot, _REJECTED, now_ns)
    totals[_REJECTS] += 1
    positions[o["instrument"]]["rejects"] += 1
    return OK


@njit(cache=True, nogil=True)
def on_replaced(orders, positions, totals, orig_user_ref, user_ref, qty, price, order_ref,
                order_state, now_ns):
    """Order Replaced: the original (REPLACE_PENDING towards ``user_ref``) becomes REPLACED;
    the reserved replacement goes live with ``qty`` (shares outstanding) at ``price``."""
    old = find(orders, orig_user_ref)
    new = find(orders, user_ref)
    if old < 0 or new < 0:
        return UNKNOWN_REF
    if (orders[old]["state"] != _REPLACE_PENDING or orders[old]["replaced_by"] != user_ref
            or orders[old]["prior_state"] == _PENDING_NEW
            or orders[new]["state"] != _NONE or orders[new]["replaces"] != orig_user_ref):
        return BAD_TRANSITION
    if qty <= 0 and order_state != _DEAD:
        return BAD_QTY
    _expose(orders, positions, totals, old, -1)
    _close(orders, positions, totals, old, _REPLACED, now_ns)
    n = orders[new]
    n["qty"] = qty
    n["leaves"] = qty
    n["price"] = price
    n["order_ref"] = order_ref
    n["update_ns"] = now_ns
    if order_state == _DEAD:
        n["leaves"] = 0
        n["state"] = _CANCELED
        return OK
    n["state"] = _ACCEPTED
    _link(orders, positions, totals, new)
    _expose(orders, positions, totals, new, 1)
    return OK


@njit(cache=True, nogil=True)
def on_cancel_reject(orders, positions, totals, user_ref, now_ns):
    """Cancel Reject: the pending cancel is off; the order returns to its prior state."""
    slot = find(orders, user_ref)
    if slot < 0:
        return UNKNOWN_REF
    if orders[slot]["state"] != _CANCEL_PENDING:
        return BAD_TRANSITION
    orders[slot]["state"] = orders[slot]["prior_state"]
    orders[slot]["update_ns"] = now_ns
    return OK


@njit(cache=True, nogil=True)
def set_mark(positions, totals, instrument, price):
    """A new mark price for ``instrument``: ``MARKED`` changes by position x the change."""
    p = positions[instrument]
    totals[_MARKED] += p["position"] * (price - p["mark"])
    p["mark"] = price


@njit(cache=True, nogil=True)
def apply_fields(orders, positions, totals, t, user_ref, orig_user_ref, qty, price,
                 order_ref, order_state, reason, now_ns):
    """One venue message by its fields (``t`` is the OUCH outbound type byte): dispatches
    to the handlers and counts every outcome but OK in ``totals``. Returns the status."""
    if t == 65:  # A
        s = on_accepted(orders, positions, totals, user_ref, qty, price, order_ref,
                        order_state, now_ns)
    elif t == 69:  # E
        s = on_executed(orders, positions, totals, user_ref, qty, price, now_ns)
    elif t == 67 or t == 68:  # C canceled, D AIQ canceled (decrement shares)
        s = on_canceled(orders, positions, totals, user_ref, qty, reason, now_ns)
    elif t == 74:  # J
        s = on_rejected(orders, positions, totals, user_ref, reason, now_ns)
    elif t == 85:  # U
        s = on_replaced(orders, positions, totals, orig_user_ref, user_ref, qty, price,
                        order_ref, order_state, now_ns)
    elif t == 73:  # I cancel reject
        s = on_cancel_reject(orders, positions, totals, user_ref, now_ns)
    elif t == 88:  # X mass cancel response: an acknowledgement
        s = OK
    else:
        s = IGNORED
    if s == UNKNOWN_REF:
        totals[Total.UNKNOWN_REF] += 1
    elif s == BAD_TRANSITION:
        totals[Total.BAD_TRANSITION] += 1
    elif s == BAD_QTY:
        totals[Total.BAD_QTY] += 1
    elif s == IGNORED:
        totals[Total.IGNORED] += 1
    return s


@njit(cache=True, nogil=True)
def apply_outbound(rec, orders, positions, totals, now_ns):
    """One decoded outbound record (OUT_DTYPE) applied; returns the status."""
    return apply_fields(orders, positions, totals, np.int64(rec["type"]),
                        np.int64(rec["user_ref_num"]), np.int64(rec["orig_user_ref_num"]),
                        np.int64(rec["quantity"]), np.int64(rec["price"]),
                        np.int64(rec["order_reference_number"]),
                        np.int64(rec["order_state"]), np.int64(rec["reason"]), now_ns)
