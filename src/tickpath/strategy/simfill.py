"""A simulated venue for backtests: where a strategy's intents go instead of the wire, and
how its orders fill from the tape.

Assumptions (the fill model), in the spirit of hftbacktest's risk-averse queue model:

- **Acceptance**: every order, cancel and replace the egress lets through is done at once (no
  latency, no venue reject). A replace is a new order: it joins the back of its level's queue.
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
- Fills book position, cash and P&L in the gateway's arrays (:mod:`tickpath.strategy.orderstate`);
  positions are marked at the last trade and at each book's mid.

Each function queues the order updates it causes (:func:`tickpath.strategy.context.push_update`)
for the strategy's ``on_order_update``.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .context import level_shares, push_update, working
from .layout import (
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
from .orderstate import (
    accepted,
    cancel_sent,
    canceled,
    executed,
    free_slot,
    mark,
    next_user_ref,
    open_order,
    replace_sent,
    replaced,
)

_PLACE, _CANCEL, _REPLACE, _CANCEL_ALL = (int(a) for a in Action)
_INTENTS = int(CtxWord.INTENTS)
_ACCEPTED_EV, _EXECUTED_EV, _CANCELED_EV, _REPLACED_EV = (
    int(OrderEvent[n]) for n in ("ACCEPTED", "EXECUTED", "CANCELED", "REPLACED"))
_BUY = 66


@njit(cache=True, nogil=True, _nrt=False)
def _fill(ctx, slot, qty, price, now, counts):
    q = executed(ctx.orders, ctx.positions, ctx.totals, slot, qty, price, now)
    if q > 0:
        counts[1] += 1
        counts[2] += q
        push_update(ctx, slot, _EXECUTED_EV)
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
def _cancel(ctx, slot, now, counts):
    if not working(ctx, slot):
        return False
    cancel_sent(ctx.orders, slot, now)
    canceled(ctx.orders, ctx.positions, ctx.totals, slot, now)
    push_update(ctx, slot, _CANCELED_EV)
    counts[3] += 1
    return True


@njit(cache=True, nogil=True, _nrt=False)
def venue_intents(ctx, now, counts):
    """Do every intent of the outbox not refused (``result`` >= 0), as a venue that accepts
    at once, then empty it. ``counts``: [0] orders accepted, [1] fills, [2] shares filled,
    [3] cancels, [4] replaces, [5] intents refused here."""
    orders, positions, totals = ctx.orders, ctx.positions, ctx.totals
    for k in range(ctx.words[_INTENTS]):
        r = ctx.intents[k]
        if r["result"] < 0:
            continue
        a = r["action"]
        if a == _PLACE:
            if not free_slot(orders, totals):
                r["result"] = REFUSED_FULL
                counts[5] += 1
                continue
            slot = open_order(orders, positions, totals, next_user_ref(totals),
                              r["instrument"], r["symbol"], r["side"], r["qty"], r["price"],
                              r["tif"], r["trigger"], now)
            accepted(orders, slot, orders[slot]["user_ref"], now)
            r["result"] = slot
            counts[0] += 1
            push_update(ctx, slot, _ACCEPTED_EV)
            _join(ctx, slot, now, counts)
        elif a == _CANCEL:
            if _cancel(ctx, r["slot"], now, counts):
                r["result"] = r["slot"]
            else:
                r["result"] = REFUSED_STATE
                counts[5] += 1
        elif a == _REPLACE:
            slot = r["slot"]
            if not working(ctx, slot) or not free_slot(orders, totals):
                r["result"] = REFUSED_STATE
                counts[5] += 1
                continue
            replace_sent(orders, slot, next_user_ref(totals), r["qty"], r["price"], now)
            new = replaced(orders, positions, totals, slot, now)
            r["result"] = new
            counts[4] += 1
            push_update(ctx, new, _REPLACED_EV)
            _join(ctx, new, now, counts)
        elif a == _CANCEL_ALL:
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
    ctx.words[_INTENTS] = 0


@njit(cache=True, nogil=True, _nrt=False)
def fill_on_trade(ctx, i, price, qty, aggressor, now, counts):
    """A print of ``qty`` at ``price`` in ``i``: fills our orders it trades through, and
    those at its price whose queue it exhausts (call before the queue model moves ``ahead``
    for the same print). Marks the position at the print."""
    mark(ctx.positions, ctx.totals, i, price)
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
        mark(ctx.positions, ctx.totals, i, (bid + ask) // 2)
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
