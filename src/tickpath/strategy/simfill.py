"""A simulated venue for backtests: where a strategy's intents go instead of the wire, and
how its orders fill from the tape.

The venue answers as a live one would, through the gateway's kernels
(:mod:`tickpath.gateway.orders`): an order is booked as sent (``order_new``) and then
Accepted (``on_accepted``); a cancel is sent (``cancel_sent``) and then Canceled
(``on_canceled``); a replace is sent (``replace_sent``, which reserves the replacement's row)
and then Replaced (``on_replaced``); a fill is an Order Executed (``on_executed``). So the
order table, positions and totals a strategy reads in a backtest move exactly as a live
order session's would for the same venue messages.

Assumptions (the fill model), in the spirit of hftbacktest's risk-averse queue model:

- **Acceptance**: every order, cancel and replace that risk lets through is answered at once
  (no latency, no venue reject; the venue's order reference is the UserRefNum). A replace is
  a new order: it joins the back of its level's queue. What the gateway's kernels refuse
  before sending (table full, bad order, an order not accepted-and-open) is refused here too.
- **Queue**: an order joins behind every share resting at its price when it is accepted
  (``ahead``, :mod:`tickpath.strategy.queue`); our orders are not in the feed's book, so they
  take no one's place. Only trades move it up; cancels in front of it do not (risk-averse).
- **Fills from trades**: a trade at a price worse for the resting side than ours (a print
  below our bid, above our offer) fills our whole order at our price; a trade at our price
  that takes our side fills what is left of its shares once the queue ahead is used up.
- **Fills from the book**: a book whose best offer falls to our bid (or best bid rises to our
  offer) fills our whole order at our price: the venue would have matched it against us.
- **Marketable orders** (a buy at or above the best offer): fill at once at the best offer's
  price, up to its shares; the rest rests.
- **Marks** (``set_mark``): the last trade, each book's mid, and a fill's price while an
  instrument has no mark yet (so a first fill is never valued at 0).

Each function queues the order updates it causes (:func:`tickpath.strategy.context.push_update`)
for the strategy's ``on_order_update``.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ..gateway.layout import OrderState
from ..gateway.orders import (
    BAD_ORDER,
    OK,
    REF_EXHAUSTED,
    TABLE_FULL,
    cancel_sent,
    find,
    on_accepted,
    on_canceled,
    on_executed,
    on_replaced,
    order_new,
    replace_sent,
    set_mark,
)
from .context import level_shares, push_update, working
from .layout import (
    REFUSED_BAD,
    REFUSED_FULL,
    REFUSED_STATE,
    TOP_ASK,
    TOP_ASK_SHARES,
    TOP_BID,
    TOP_BID_SHARES,
    Action,
    CtxWord,
    OrderEvent,
)

_PLACE, _CANCEL, _REPLACE, _CANCEL_ALL = (int(a) for a in Action)
_INTENTS = int(CtxWord.INTENTS)
_ACCEPTED_EV, _EXECUTED_EV, _CANCELED_EV, _REPLACED_EV = (
    int(OrderEvent[n]) for n in ("ACCEPTED", "EXECUTED", "CANCELED", "REPLACED"))
_ACCEPTED, _PARTIAL = int(OrderState.ACCEPTED), int(OrderState.PARTIAL)
_BUY = 66
_LIVE = 76  # OUCH Order State 'L'


@njit(cache=True, nogil=True, _nrt=False)
def _refused(status):
    """The intent result for a status < 0 of the gateway's send-side kernels."""
    if status == TABLE_FULL or status == REF_EXHAUSTED:
        return REFUSED_FULL
    if status == BAD_ORDER:
        return REFUSED_BAD
    return REFUSED_STATE


@njit(cache=True, nogil=True, _nrt=False)
def _fill(ctx, slot, qty, price, now, counts):
    """Order Executed: up to ``qty`` shares (never more than the order has open) at
    ``price``. Returns the shares booked."""
    o = ctx.orders[slot]
    q = min(qty, o["leaves"])
    if q <= 0:
        return np.int64(0)
    i = o["instrument"]
    if ctx.positions[i]["mark"] == 0:
        set_mark(ctx.positions, ctx.totals, i, price)
    if on_executed(ctx.orders, ctx.positions, ctx.totals, o["user_ref"], q, price, now) != OK:
        return np.int64(0)
    counts[1] += 1
    counts[2] += q
    # (np.int64: a constant event is typed as a literal, compiling push_update once per event)
    push_update(ctx, slot, np.int64(_EXECUTED_EV))
    return q


@njit(cache=True, nogil=True, _nrt=False)
def _join(ctx, slot, now, counts):
    """An order accepted: its place in the queue, and any fill it takes at once."""
    o = ctx.orders[slot]
    i = o["instrument"]
    buy = o["side"] == _BUY
    level = level_shares(ctx, i, 0 if buy else 1, o["price"])
    o["ahead"] = level if level >= 0 else -1
    opp = ctx.top[i, TOP_ASK] if buy else ctx.top[i, TOP_BID]
    opp_sh = ctx.top[i, TOP_ASK_SHARES] if buy else ctx.top[i, TOP_BID_SHARES]
    if opp > 0 and ((buy and o["price"] >= opp) or (not buy and o["price"] <= opp)):
        _fill(ctx, slot, opp_sh, opp, now, counts)


@njit(cache=True, nogil=True, _nrt=False)
def _place(ctx, r, now, counts):
    """Enter Order, then the venue's Order Accepted. Returns the slot or a refusal (< 0)."""
    orders, positions, totals = ctx.orders, ctx.positions, ctx.totals
    ur = order_new(orders, positions, totals, r["instrument"], r["symbol"], r["side"],
                   r["qty"], r["price"], r["tif"], r["trigger"], now)
    if ur < 0:
        return _refused(ur)
    slot = find(orders, ur)
    on_accepted(orders, positions, totals, ur, r["qty"], r["price"], ur, _LIVE, now)
    counts[0] += 1
    push_update(ctx, slot, np.int64(_ACCEPTED_EV))
    _join(ctx, slot, now, counts)
    return slot


@njit(cache=True, nogil=True, _nrt=False)
def _cancel(ctx, slot, now, counts):
    """Cancel Order (all shares), then the venue's Order Canceled. Only an order the venue
    has accepted and that is open with nothing pending (ACCEPTED or PARTIAL)."""
    orders = ctx.orders
    st = orders[slot]["state"]
    if st != _ACCEPTED and st != _PARTIAL:
        return False
    ur = orders[slot]["user_ref"]
    if cancel_sent(orders, ctx.positions, ctx.totals, ur, 0, now) != OK:
        return False
    on_canceled(orders, ctx.positions, ctx.totals, ur, orders[slot]["leaves"], 0, now)
    push_update(ctx, slot, np.int64(_CANCELED_EV))
    counts[3] += 1
    return True


@njit(cache=True, nogil=True, _nrt=False)
def _replace(ctx, r, now, counts):
    """Replace Order (reserves the replacement's row), then the venue's Order Replaced: the
    replacement goes live with the new shares and price. Returns the new slot or a refusal."""
    orders, positions, totals = ctx.orders, ctx.positions, ctx.totals
    old = orders[r["slot"]]["user_ref"]
    ur = replace_sent(orders, positions, totals, old, r["qty"], r["price"], now)
    if ur < 0:
        return _refused(ur)
    on_replaced(orders, positions, totals, old, ur, r["qty"], r["price"], ur, _LIVE, now)
    new = find(orders, ur)
    counts[4] += 1
    push_update(ctx, new, np.int64(_REPLACED_EV))
    _join(ctx, new, now, counts)
    return new


@njit(cache=True, nogil=True, _nrt=False)
def venue_intents(ctx, now, counts):
    """Do every intent of the outbox not refused (``result`` >= 0), as a venue that answers
    at once, then empty it. ``counts``: [0] orders accepted, [1] fills, [2] shares filled,
    [3] cancels, [4] replaces, [5] intents refused here."""
    orders, positions = ctx.orders, ctx.positions
    for k in range(ctx.words[_INTENTS]):
        r = ctx.intents[k]
        if r["result"] < 0:
            continue
        a = r["action"]
        if a == _PLACE:
            res = _place(ctx, r, now, counts)
        elif a == _CANCEL:
            res = r["slot"] if _cancel(ctx, r["slot"], now, counts) else REFUSED_STATE
        elif a == _REPLACE:
            res = _replace(ctx, r, now, counts)
        elif a == _CANCEL_ALL:
            res = 0
            lo = r["instrument"]
            hi = lo + 1
            if lo < 0:
                lo = 0
                hi = positions.shape[0]
            for i in range(lo, hi):
                slot = np.int64(positions[i]["open_head"])
                while slot >= 0:
                    nxt = np.int64(orders[slot]["next_open"])
                    _cancel(ctx, slot, now, counts)
                    slot = nxt
        else:
            continue
        r["result"] = res
        if res < 0:
            counts[5] += 1
    ctx.words[_INTENTS] = 0


@njit(cache=True, nogil=True, _nrt=False)
def fill_on_trade(ctx, i, price, qty, aggressor, now, counts):
    """A print of ``qty`` at ``price`` in ``i``: fills our orders it trades through, and
    those at its price whose queue it exhausts (call before the queue model moves ``ahead``
    for the same print). Marks the position at the print."""
    set_mark(ctx.positions, ctx.totals, i, price)
    slot = np.int64(ctx.positions[i]["open_head"])
    while slot >= 0:
        nxt = np.int64(ctx.orders[slot]["next_open"])
        o = ctx.orders[slot]
        if working(ctx, slot):
            p = o["price"]
            buy = o["side"] == _BUY
            if (buy and price < p) or (not buy and price > p):
                _fill(ctx, slot, o["leaves"], p, now, counts)
            elif price == p and (aggressor == 0 or (aggressor == _BUY) != buy):
                ahead = o["ahead"] if o["ahead"] > 0 else 0
                left = qty - ahead
                if left > 0:
                    _fill(ctx, slot, left, p, now, counts)
        slot = nxt


@njit(cache=True, nogil=True, _nrt=False)
def fill_on_book(ctx, i, now, counts):
    """The book of ``i`` changed (its top is in the context): our orders it crossed fill at
    their price. Marks the position at the mid."""
    bid = ctx.top[i, TOP_BID]
    ask = ctx.top[i, TOP_ASK]
    if bid > 0 and ask > 0:
        set_mark(ctx.positions, ctx.totals, i, (bid + ask) // 2)
    slot = np.int64(ctx.positions[i]["open_head"])
    while slot >= 0:
        nxt = np.int64(ctx.orders[slot]["next_open"])
        o = ctx.orders[slot]
        if working(ctx, slot):
            p = o["price"]
            if o["side"] == _BUY:
                if ask > 0 and ask <= p:
                    _fill(ctx, slot, o["leaves"], p, now, counts)
            elif bid > 0 and bid >= p:
                _fill(ctx, slot, o["leaves"], p, now, counts)
        slot = nxt
