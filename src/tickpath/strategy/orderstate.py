"""Our orders' bookkeeping in the gateway's arrays (:mod:`tickpath.gateway.layout`), as the
strategy stage's UDP egress (:mod:`tickpath.engine.egress`) still books it: a sent order's
row, its acceptance, fills, cancels and replaces, with the instrument's open-order list,
exposure, positions, cash and the totals kept as the layout's docstring says.

The same transitions are the gateway's kernels (:mod:`tickpath.gateway.orders`), which a live
order session and the backtest's simulated venue (:mod:`tickpath.strategy.simfill`) use; this
module goes once the egress books through them too. ``executed`` and ``mark`` have no caller
left. Every function allocates nothing and returns a small status or a slot.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ..gateway.layout import OrderState, Total

_NONE, _PENDING_NEW, _ACCEPTED, _PARTIAL, _FILLED, _CANCELED, _REJECTED, _CANCEL_PENDING, \
    _REPLACE_PENDING, _REPLACED = (int(s) for s in OrderState)
_CASH, _MARKED, _OPEN_NOTIONAL, _OPEN_ORDERS, _ORDERS, _FILLS, _REJECTS, _CANCELS, _NEXT_REF = (
    int(Total[n]) for n in ("CASH", "MARKED", "OPEN_NOTIONAL", "OPEN_ORDERS", "ORDERS", "FILLS",
                            "REJECTS", "CANCELS", "NEXT_USER_REF"))
_BUY = 66


@njit(cache=True, nogil=True, _nrt=False)
def is_open(state):
    return (state == _PENDING_NEW or state == _ACCEPTED or state == _PARTIAL
            or state == _CANCEL_PENDING or state == _REPLACE_PENDING)


@njit(cache=True, nogil=True, _nrt=False)
def slot_of(orders, user_ref):
    return np.int64(user_ref) & (orders.shape[0] - 1)


@njit(cache=True, nogil=True, _nrt=False)
def _exposure(positions, totals, o, shares):
    """Add ``shares`` (negative: take) of order ``o`` to its instrument's open exposure."""
    p = positions[o["instrument"]]
    notional = shares * o["price"]
    if o["side"] == _BUY:
        p["open_buy"] += shares
        p["open_buy_notional"] += notional
    else:
        p["open_sell"] += shares
        p["open_sell_notional"] += notional
    totals[_OPEN_NOTIONAL] += notional


@njit(cache=True, nogil=True, _nrt=False)
def _link(orders, positions, slot):
    o = orders[slot]
    p = positions[o["instrument"]]
    head = p["open_head"]
    o["prev_open"] = -1
    o["next_open"] = head
    if head >= 0:
        orders[head]["prev_open"] = slot
    p["open_head"] = slot


@njit(cache=True, nogil=True, _nrt=False)
def _unlink(orders, positions, slot):
    o = orders[slot]
    nxt = o["next_open"]
    prv = o["prev_open"]
    if nxt >= 0:
        orders[nxt]["prev_open"] = prv
    if prv >= 0:
        orders[prv]["next_open"] = nxt
    else:
        positions[o["instrument"]]["open_head"] = nxt
    o["next_open"] = -1
    o["prev_open"] = -1


@njit(cache=True, nogil=True, _nrt=False)
def _close(orders, positions, totals, slot, state, now):
    """The order leaves the open states: its exposure goes, it leaves the instrument's list."""
    o = orders[slot]
    _exposure(positions, totals, o, -o["leaves"])
    o["leaves"] = 0
    o["state"] = state
    o["update_ns"] = now
    _unlink(orders, positions, slot)
    totals[_OPEN_ORDERS] -= 1


@njit(cache=True, nogil=True, _nrt=False)
def next_user_ref(totals):
    """Take the next UserRefNum (never reused)."""
    ref = totals[_NEXT_REF]
    totals[_NEXT_REF] = ref + 1
    return ref


@njit(cache=True, nogil=True, _nrt=False)
def free_slot(orders, totals):
    """Whether the next UserRefNum's slot is free (no open order in it)."""
    return not is_open(orders[slot_of(orders, totals[_NEXT_REF])]["state"])


@njit(cache=True, nogil=True, _nrt=False)
def open_order(orders, positions, totals, user_ref, instrument, symbol, side, qty, price, tif,
               trigger, now):
    """A row for an order sent (PENDING_NEW) under ``user_ref``; returns its slot, or -1
    when the slot still holds an open order (the table is full: never overwritten)."""
    slot = slot_of(orders, user_ref)
    o = orders[slot]
    if is_open(o["state"]):
        return np.int64(-1)
    o["user_ref"] = user_ref
    o["instrument"] = instrument
    o["symbol"] = symbol
    o["price"] = price
    o["qty"] = qty
    o["leaves"] = qty
    o["filled"] = 0
    o["fill_notional"] = 0
    o["order_ref"] = 0
    o["trigger"] = trigger
    o["sent_ns"] = now
    o["update_ns"] = now
    o["replaces"] = 0
    o["replaced_by"] = 0
    o["pending_qty"] = 0
    o["pending_price"] = 0
    o["ahead"] = -1
    o["reason"] = 0
    o["side"] = side
    o["tif"] = tif
    o["state"] = _PENDING_NEW
    _link(orders, positions, slot)
    _exposure(positions, totals, o, qty)
    positions[instrument]["orders"] += 1
    totals[_OPEN_ORDERS] += 1
    totals[_ORDERS] += 1
    return slot


@njit(cache=True, nogil=True, _nrt=False)
def accepted(orders, slot, order_ref, now):
    o = orders[slot]
    if o["state"] == _PENDING_NEW:
        o["state"] = _ACCEPTED
    o["order_ref"] = order_ref
    o["update_ns"] = now


@njit(cache=True, nogil=True, _nrt=False)
def rejected(orders, positions, totals, slot, reason, now):
    o = orders[slot]
    o["reason"] = reason
    positions[o["instrument"]]["rejects"] += 1
    totals[_REJECTS] += 1
    _close(orders, positions, totals, slot, _REJECTED, now)


@njit(cache=True, nogil=True, _nrt=False)
def executed(orders, positions, totals, slot, qty, price, now):
    """``qty`` shares of the order at ``slot`` executed at ``price``: position, cash, the
    marked value and the totals follow; FILLED (and out of the open list) at no leaves.
    Returns the shares booked (never more than its leaves)."""
    o = orders[slot]
    q = min(qty, o["leaves"])
    if q <= 0:
        return np.int64(0)
    p = positions[o["instrument"]]
    signed = q if o["side"] == _BUY else -q
    p["position"] += signed
    if o["side"] == _BUY:
        p["bought"] += q
    else:
        p["sold"] += q
    p["cash"] -= signed * price
    totals[_CASH] -= signed * price
    if p["mark"] == 0:
        p["mark"] = price
    totals[_MARKED] += signed * p["mark"]
    p["fills"] += 1
    totals[_FILLS] += 1
    o["filled"] += q
    o["fill_notional"] += q * price
    _exposure(positions, totals, o, -q)
    o["leaves"] -= q
    o["update_ns"] = now
    if o["leaves"] == 0:
        o["state"] = _FILLED
        _unlink(orders, positions, slot)
        totals[_OPEN_ORDERS] -= 1
    elif o["state"] == _ACCEPTED or o["state"] == _PENDING_NEW:
        o["state"] = _PARTIAL
    return q


@njit(cache=True, nogil=True, _nrt=False)
def mark(positions, totals, instrument, price):
    """A new mark price for ``instrument``: the marked total moves by position x change."""
    p = positions[instrument]
    totals[_MARKED] += p["position"] * (price - p["mark"])
    p["mark"] = price


@njit(cache=True, nogil=True, _nrt=False)
def cancel_sent(orders, slot, now):
    o = orders[slot]
    o["state"] = _CANCEL_PENDING
    o["update_ns"] = now


@njit(cache=True, nogil=True, _nrt=False)
def canceled(orders, positions, totals, slot, now):
    totals[_CANCELS] += 1
    _close(orders, positions, totals, slot, _CANCELED, now)


@njit(cache=True, nogil=True, _nrt=False)
def replace_sent(orders, slot, new_user_ref, qty, price, now):
    o = orders[slot]
    o["state"] = _REPLACE_PENDING
    o["replaced_by"] = new_user_ref
    o["pending_qty"] = qty
    o["pending_price"] = price
    o["update_ns"] = now


@njit(cache=True, nogil=True, _nrt=False)
def replaced(orders, positions, totals, slot, now):
    """The venue replaced the order at ``slot``: a new row (its ``replaced_by`` UserRefNum)
    takes the pending quantity and price, the old row is REPLACED. Returns the new slot, or
    -1 when its slot still holds an open order."""
    o = orders[slot]
    new_ref = o["replaced_by"]
    new = slot_of(orders, new_ref)
    if is_open(orders[new]["state"]):
        return np.int64(-1)
    instrument = o["instrument"]
    side = o["side"]
    tif = o["tif"]
    symbol = o["symbol"]
    trig = o["trigger"]
    qty = o["pending_qty"]
    price = o["pending_price"]
    old_ref = o["user_ref"]
    _close(orders, positions, totals, slot, _REPLACED, now)
    s = open_order(orders, positions, totals, new_ref, instrument, symbol, side, qty, price,
                   tif, trig, now)
    totals[_ORDERS] -= 1  # a replace is not a new order
    positions[instrument]["orders"] -= 1
    orders[s]["replaces"] = old_ref
    orders[s]["state"] = _ACCEPTED
    return s
