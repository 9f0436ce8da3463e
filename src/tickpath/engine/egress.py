"""The egress of a strategy: drain the context's intents -> pre-trade risk -> order state ->
OUCH 5.0 bytes -> the sender.

A stage drains in two passes so its stamps keep their meaning: :func:`check_intents` (every
new order and replace through :func:`tickpath.risk.check.check_order`; cancels always pass:
they take risk off, and a kill switch must never stop them) and then :func:`send_intents`
(the order table row, the codec's compiled encoder, :func:`egress_send`). Each intent's
``result`` says what became of it (:mod:`tickpath.strategy.layout`).

``confirm``: the UDP sink answers nothing, so with ``confirm`` the egress books the venue's
answer itself as the order goes out (accepted, canceled, replaced), which keeps the order
table, and the strategy's view of its quotes, moving. An order session (SoupBinTCP/OUCH, with
the gateway's kernels booking the venue's messages) replaces :func:`egress_send` and runs
without ``confirm``.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ..codec.ouch50 import cl_ord_id_bytes, encode_enter_order
from ..codec.ouch50.encode import encode_cancel_order, encode_replace_order
from ..gateway.layout import OrderState
from ..risk.check import check_order
from ..strategy.context import push_update
from ..strategy.layout import (
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
from ..strategy.orderstate import (
    accepted,
    cancel_sent,
    canceled,
    free_slot,
    next_user_ref,
    open_order,
    rejected,
    replace_sent,
    replaced,
)
from ..wire.libc import send

_DISPLAY_Y, _CAPACITY_P, _ISO_N, _CROSS_N = (ord(c) for c in "YPNN")
_PLACE, _CANCEL, _REPLACE, _CANCEL_ALL = (int(a) for a in Action)
_INTENTS = int(CtxWord.INTENTS)
_ACCEPTED_EV, _CANCELED_EV, _REJECTED_EV, _REPLACED_EV = (
    int(OrderEvent[n]) for n in ("ACCEPTED", "CANCELED", "REJECTED", "REPLACED"))
_PENDING_NEW, _ACCEPTED, _PARTIAL = (int(OrderState[n]) for n in
                                     ("PENDING_NEW", "ACCEPTED", "PARTIAL"))


def cl_ord_id_template() -> np.ndarray:
    """The stage's 14-byte ClOrdID buffer: ``TP`` + 12 digits written per order."""
    return cl_ord_id_bytes("TP000000000000")


@njit(cache=True, nogil=True, inline="always")
def cl_ord_id_digits(cl_ord_id, userref):
    """Write UserRefNum as the 12 digits after the ``TP`` prefix of ``cl_ord_id`` (14 bytes,
    prepared once by :func:`cl_ord_id_template`): each order's ClOrdID is unique in the
    session and says which UserRefNum it was sent under."""
    v = userref
    for k in range(12):
        cl_ord_id[13 - k] = 48 + v % 10
        v //= 10


@njit(cache=True, nogil=True)
def enter_order_tif(buf, userref, side, qty, stock, price, tif, cl_ord_id):
    """OUCH 5.0 Enter Order at ``buf[0:47]`` through the codec's compiled encoder: time in
    force ``tif``, displayed (``Y``), principal (``P``), not an intermarket sweep (``N``),
    continuous market (CrossType ``N``), ClOrdID ``TP`` + UserRefNum as 12 digits, no
    options. ``stock`` is ITCH's 8 symbol bytes as a big-endian integer. Returns the length."""
    cl_ord_id_digits(cl_ord_id, userref)
    return encode_enter_order(buf, 0, userref, side, qty, stock, price, tif, _DISPLAY_Y,
                              _CAPACITY_P, _ISO_N, _CROSS_N, cl_ord_id)


@njit(cache=True, nogil=True)
def replace_order(buf, orig_ref, new_ref, qty, price, tif, cl_ord_id):
    """OUCH 5.0 Replace Order at ``buf[0:40]``: ``orig_ref`` becomes ``new_ref`` with ``qty``
    at ``price``; displayed, not an intermarket sweep; ClOrdID from ``new_ref``."""
    cl_ord_id_digits(cl_ord_id, new_ref)
    return encode_replace_order(buf, 0, orig_ref, new_ref, qty, price, tif, _DISPLAY_Y, _ISO_N,
                                cl_ord_id)


@njit(cache=True, nogil=True)
def cancel_order(buf, ref):
    """OUCH 5.0 Cancel Order at ``buf[0:11]``: all of ``ref``'s remaining shares."""
    return encode_cancel_order(buf, 0, ref, 0)


@njit(cache=True, nogil=True, _nrt=False)
def egress_send(fd, buf, length):
    """Hand ``buf[:length]`` to the venue: today one UDP datagram on the connected socket
    ``fd``. The one place bytes leave; an order session replaces it. True when it went."""
    return send(fd, buf.ctypes.data, length, 0) == length


@njit(cache=True, nogil=True, _nrt=False)
def check_intents(ctx, now, limits, position, rate, control, risk_counts):
    """Pre-trade check of the outbox's new orders and replaces against the top of their
    book; a refused intent's ``result`` is REFUSED_RISK. Returns the intents refused."""
    refused = 0
    for k in range(ctx.words[_INTENTS]):
        r = ctx.intents[k]
        a = r["action"]
        if a == _PLACE or a == _REPLACE:
            i = r["instrument"]
            why = check_order(r["side"], r["qty"], r["price"], i, ctx.top[i, TOP_BID],
                              ctx.top[i, TOP_ASK], now, limits, position, rate, control,
                              risk_counts)
            if why != 0:
                r["result"] = REFUSED_RISK
                refused += 1
    return refused


@njit(cache=True, nogil=True, _nrt=False)
def _cancel_one(ctx, slot, msg, fd, confirm, now):
    o = ctx.orders[slot]
    length = cancel_order(msg, o["user_ref"])
    if not egress_send(fd, msg, length):
        return False
    cancel_sent(ctx.orders, slot, now)
    if confirm:
        canceled(ctx.orders, ctx.positions, ctx.totals, slot, now)
        push_update(ctx, slot, _CANCELED_EV)
    return True


@njit(cache=True, nogil=True, _nrt=False)
def _can_cancel(ctx, slot):
    s = ctx.orders[slot]["state"]
    return s == _PENDING_NEW or s == _ACCEPTED or s == _PARTIAL


@njit(cache=True, nogil=True, _nrt=False)
def _cancel_instrument(ctx, i, msg, fd, confirm, now, counts):
    slot = np.int64(ctx.positions[i]["open_head"])
    while slot >= 0:
        nxt = np.int64(ctx.orders[slot]["next_open"])
        if _can_cancel(ctx, slot):
            if _cancel_one(ctx, slot, msg, fd, confirm, now):
                counts[0] += 1
            else:
                counts[1] += 1
        slot = nxt


@njit(cache=True, nogil=True, _nrt=False)
def send_intents(ctx, msg, clord, fd, confirm, now, counts):
    """Book, encode and send every intent of the outbox not refused, in order, then empty
    it. ``counts[0]`` += messages sent, ``counts[1]`` += send errors, ``counts[2]`` +=
    intents refused here (table full, order no longer working)."""
    orders, positions, totals = ctx.orders, ctx.positions, ctx.totals
    for k in range(ctx.words[_INTENTS]):
        r = ctx.intents[k]
        if r["result"] < 0:
            continue
        a = r["action"]
        if a == _PLACE:
            if not free_slot(orders, totals):
                r["result"] = REFUSED_FULL
                counts[2] += 1
                continue
            ref = next_user_ref(totals)
            slot = open_order(orders, positions, totals, ref, r["instrument"], r["symbol"],
                              r["side"], r["qty"], r["price"], r["tif"], r["trigger"], now)
            length = enter_order_tif(msg, ref, r["side"], r["qty"], r["symbol"], r["price"],
                                     r["tif"], clord)
            if egress_send(fd, msg, length):
                r["result"] = slot
                counts[0] += 1
                if confirm:
                    accepted(orders, slot, np.int64(0), now)
                    push_update(ctx, slot, _ACCEPTED_EV)
            else:
                rejected(orders, positions, totals, slot, np.int64(0), now)
                push_update(ctx, slot, _REJECTED_EV)
                r["result"] = REFUSED_SEND
                counts[1] += 1
        elif a == _CANCEL:
            slot = r["slot"]
            if not _can_cancel(ctx, slot):
                r["result"] = REFUSED_STATE
                counts[2] += 1
            elif _cancel_one(ctx, slot, msg, fd, confirm, now):
                r["result"] = slot
                counts[0] += 1
            else:
                r["result"] = REFUSED_SEND
                counts[1] += 1
        elif a == _REPLACE:
            slot = r["slot"]
            if not _can_cancel(ctx, slot) or not free_slot(orders, totals):
                r["result"] = REFUSED_STATE
                counts[2] += 1
                continue
            ref = next_user_ref(totals)
            length = replace_order(msg, orders[slot]["user_ref"], ref, r["qty"], r["price"],
                                   orders[slot]["tif"], clord)
            if not egress_send(fd, msg, length):
                r["result"] = REFUSED_SEND
                counts[1] += 1
                continue
            counts[0] += 1
            replace_sent(orders, slot, ref, r["qty"], r["price"], now)
            r["result"] = slot
            if confirm:
                new = replaced(orders, positions, totals, slot, now)
                if new >= 0:
                    r["result"] = new
                    push_update(ctx, new, _REPLACED_EV)
        elif a == _CANCEL_ALL:
            i = r["instrument"]
            if i >= 0:
                _cancel_instrument(ctx, i, msg, fd, confirm, now, counts)
            else:  # every instrument: a cold path (a kill), so the scan is fine
                for j in range(positions.shape[0]):
                    if positions[j]["open_head"] >= 0:
                        _cancel_instrument(ctx, j, msg, fd, confirm, now, counts)
    ctx.words[_INTENTS] = 0
