"""A stage's order entry over the SoupBinTCP/OUCH session, all compiled: the strategy's intents
out through pre-trade risk, the venue's answers back in as order updates.

Out (:func:`send_intents`): each intent of the context's outbox, in order. A new order or a
replace passes :func:`tickpath.risk.new_order.check_new_order` (against our orders, positions
and P&L in the gateway's tables, which the session keeps) and is then sent by the gateway's
compiled sends (:func:`tickpath.gateway.session.send_enter` and friends: journal first, order
state, OUCH bytes built in place, ``send`` on the session's non-blocking TCP socket). The
check and the send alternate per intent, because the check of the next order must see the
exposure of the one before. Cancels are never refused by risk: they take risk off, and a kill
must not stop them. An intent's ``result`` is the order's slot or why it was refused
(:mod:`tickpath.strategy.layout`). The intents of one drain go out together: every send but the last
carries MSG_MORE, so the kernel holds them and the last takes them all in one segment (then
:func:`tickpath.gateway.session.push`, in case the last was not sent).

In (:func:`pump`): one duty cycle of the session (:func:`tickpath.gateway.session.session_poll`:
a non-blocking ``recv``, the venue's messages decoded, journaled and applied to the order
tables; heartbeats). Each order the poll changed is queued for the strategy's
``on_order_update``; a venue reject counts toward a reject storm and an execution re-checks
the loss limit (:mod:`tickpath.risk.kill_switch`), either of which throws the kill switch.
Marks for P&L come from the books the strategy sees (:func:`mark`).

A session status below zero (the venue went away, went silent, ended the session, sent bytes
that do not decode) is returned to the stage's owner in Python, which reconnects or stops
(:meth:`tickpath.gateway.session.OrderSession.handle`).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ..gateway import orders as K
from ..gateway.layout import OrderState, Total
from ..gateway.session import (
    JOURNAL_FAILED,
    NOT_CONNECTED,
    SEND_FAILED,
    S,
    push,
    send_cancel,
    send_enter,
    send_replace,
    session_poll,
)
from ..risk.kill_switch import check_loss, note_reject
from ..risk.new_order import check_new_order
from ..strategy.context import book_exact, push_update
from ..strategy.layout import (
    REFUSED_BAD,
    REFUSED_FULL,
    REFUSED_RISK,
    REFUSED_SEND,
    REFUSED_STATE,
    TOP_ASK,
    TOP_BID,
    Action,
    CtxWord,
    OrderEvent,
)
from ..telemetry.nclock import realtime_ns

_PLACE, _CANCEL, _REPLACE, _CANCEL_ALL = (int(a) for a in Action)
_INTENTS = int(CtxWord.INTENTS)
_ACCEPTED_EV, _EXECUTED_EV, _CANCELED_EV, _REJECTED_EV, _REPLACED_EV = (
    int(OrderEvent[n]) for n in ("ACCEPTED", "EXECUTED", "CANCELED", "REJECTED", "REPLACED"))
_PENDING_NEW, _ACCEPTED, _PARTIAL = (int(OrderState[n]) for n in
                                     ("PENDING_NEW", "ACCEPTED", "PARTIAL"))
_UPDATES = int(S.UPDATES)
_MORE = int(S.MORE)
_NEXT_REF = int(Total.NEXT_USER_REF)
_A, _E, _C, _D, _J, _U = (ord(c) for c in "AECDJU")
_NOT_CONNECTED, _JOURNAL_FAILED, _SEND_FAILED = NOT_CONNECTED, JOURNAL_FAILED, SEND_FAILED

#: counts[] words of send_intents
SENT, SEND_ERRORS, REFUSED, FIRST_CHECK_NS = 0, 1, 2, 3
N_COUNTS = 4


@njit(cache=True, nogil=True, _nrt=False)
def zero(counts):
    for c in range(counts.shape[0]):
        counts[c] = 0


@njit(cache=True, nogil=True, _nrt=False)
def _refusal(status):
    """An intent's result for a send status < 0."""
    if status == K.TABLE_FULL or status == K.REF_EXHAUSTED:
        return REFUSED_FULL
    if status == _SEND_FAILED or status == _NOT_CONNECTED or status == _JOURNAL_FAILED:
        return REFUSED_SEND
    if status == K.BAD_ORDER:
        return REFUSED_BAD
    return REFUSED_STATE


@njit(cache=True, nogil=True, _nrt=False)
def _working(orders, slot):
    s = orders[slot]["state"]
    return s == _PENDING_NEW or s == _ACCEPTED or s == _PARTIAL


@njit(cache=True, nogil=True, _nrt=False)
def _cancel(ctx, g, slot, now, counts):
    s = send_cancel(g, g.orders[slot]["user_ref"], 0, now)
    if s >= 0:
        counts[SENT] += 1
    elif s == _SEND_FAILED or s == _JOURNAL_FAILED:
        counts[SEND_ERRORS] += 1
    return s


@njit(cache=True, nogil=True, _nrt=False)
def _cancel_instrument(ctx, g, i, now, counts):
    slot = np.int64(g.positions[i]["open_head"])
    while slot >= 0:
        nxt = np.int64(g.orders[slot]["next_open"])
        if _working(g.orders, slot):
            _cancel(ctx, g, slot, now, counts)
        slot = nxt


@njit(cache=True, nogil=True, _nrt=False)
def _checked(ctx, counts, why):
    if counts[FIRST_CHECK_NS] == 0:
        counts[FIRST_CHECK_NS] = realtime_ns()
    if why != 0:
        counts[REFUSED] += 1
    return why


@njit(cache=True, nogil=True, _nrt=False)
def send_intents(ctx, g, now, limits, rate, control, risk_counts, counts):
    """Check and send every intent of ``ctx``'s outbox through the session ``g``, in order,
    then empty the outbox. ``counts`` (N_COUNTS words, zeroed by the caller): messages sent,
    send errors, intents refused, and the clock when the first check was done (the budget's
    ``checked`` stamp). Returns the messages sent."""
    orders = g.orders
    sent0 = counts[SENT]
    n = ctx.words[_INTENTS]
    for k in range(n):
        r = ctx.intents[k]
        # all but the last go out with MSG_MORE: the kernel holds them and sends them with
        # the last in one segment, one trip through the stacks instead of one per order
        g.state[_MORE] = 1 if k < n - 1 else 0
        a = r["action"]
        if a == _PLACE or a == _REPLACE:
            if a == _PLACE:
                i = r["instrument"]
                side = r["side"]
                if i < 0 or i >= ctx.top.shape[0]:  # no such instrument: nothing to read
                    r["result"] = REFUSED_BAD
                    counts[REFUSED] += 1
                    continue
            else:
                slot = r["slot"]
                if slot < 0 or slot >= orders.shape[0] or not _working(orders, slot):
                    r["result"] = REFUSED_STATE
                    counts[REFUSED] += 1
                    continue
                i = orders[slot]["instrument"]
                side = orders[slot]["side"]
            why = _checked(ctx, counts, check_new_order(
                i, side, r["qty"], r["price"], ctx.top[i, TOP_BID], ctx.top[i, TOP_ASK],
                1 if book_exact(ctx, i) else 0, now, limits, orders, g.positions, g.totals,
                rate, control, risk_counts))
            if why != 0:
                r["result"] = REFUSED_RISK
                continue
            if a == _PLACE:
                ur = send_enter(g, i, r["symbol"], side, r["qty"], r["price"], r["tif"],
                                r["trigger"], now)
            else:
                ur = send_replace(g, orders[r["slot"]]["user_ref"], r["qty"], r["price"], now,
                                  r["trigger"])
            if ur > 0:
                r["result"] = K.find(orders, ur)
                counts[SENT] += 1
            else:
                r["result"] = _refusal(ur)
                if ur == _SEND_FAILED or ur == _JOURNAL_FAILED:
                    counts[SEND_ERRORS] += 1
                else:
                    counts[REFUSED] += 1
                if a == _PLACE and ur == _SEND_FAILED:  # closed REJECTED here: say so
                    slot = K.find(orders, g.totals[_NEXT_REF] - 1)
                    if slot >= 0:
                        push_update(ctx, slot, np.int64(_REJECTED_EV))
        elif a == _CANCEL:
            slot = r["slot"]
            if slot < 0 or slot >= orders.shape[0] or not _working(orders, slot):
                r["result"] = REFUSED_STATE
                counts[REFUSED] += 1
                continue
            s = _cancel(ctx, g, slot, now, counts)
            r["result"] = slot if s >= 0 else _refusal(s)
        elif a == _CANCEL_ALL:
            i = r["instrument"]
            if i >= 0:
                _cancel_instrument(ctx, g, i, now, counts)
            else:  # every instrument: a cold path (a kill), so the scan is fine
                for j in range(g.positions.shape[0]):
                    if g.positions[j]["open_head"] >= 0:
                        _cancel_instrument(ctx, g, j, now, counts)
    ctx.words[_INTENTS] = 0
    push(g)  # the last intent may not have been sent: what was held goes now
    return counts[SENT] - sent0


@njit(cache=True, nogil=True, _nrt=False)
def take_updates(ctx, g, now, limits, storm, control):
    """Queue the orders the last session poll changed for ``on_order_update``; a reject
    feeds the storm detector, an execution the loss check. Returns how many were queued."""
    n = g.state[_UPDATES]
    q = 0
    for k in range(n):
        slot = g.updates[k, 0]
        t = g.updates[k, 1]
        ev = 0
        if t == _A:
            ev = _ACCEPTED_EV
        elif t == _E:
            ev = _EXECUTED_EV
            check_loss(g.totals, limits, control, now)
        elif t == _C or t == _D:
            ev = _CANCELED_EV
        elif t == _J:
            ev = _REJECTED_EV
            note_reject(storm, now, limits, control)
        elif t == _U:
            ev = _REPLACED_EV
        if ev != 0 and slot >= 0:
            push_update(ctx, slot, ev)
            q += 1
    return q


@njit(cache=True, nogil=True, _nrt=False)
def pump(ctx, g, now, limits, storm, control):
    """One duty cycle of the session: the venue's messages applied and their orders queued
    for the strategy. Returns the messages applied, or the session's status < 0."""
    got = session_poll(g, now)
    if got > 0:
        take_updates(ctx, g, now, limits, storm, control)
    return got


@njit(cache=True, nogil=True, _nrt=False)
def mark(g, i, bid, ask, limits, control, now):
    """Mark instrument ``i`` at its mid for P&L when we hold a position in it; a loss past
    the limit from the market moving throws the kill switch as one from a fill does."""
    if g.positions[i]["position"] != 0 and bid > 0 and ask > 0:
        K.set_mark(g.positions, g.totals, i, (bid + ask) // 2)
        check_loss(g.totals, limits, control, now)
