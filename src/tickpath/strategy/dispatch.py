"""From a ring record to a strategy's callbacks: what a stage's loop (or a backtest) calls for
each record, for the order updates queued, and for the timer.

Each function is generic over the strategy's state type through the callbacks of
:mod:`tickpath.strategy.api`, so a loop calling them is specialized for that type and cached.
"""

from __future__ import annotations

from numba import njit

from . import records as R
from .api import on_book, on_order_update, on_status, on_timer, on_trade
from .context import set_now, take_book, take_status, take_trade
from .layout import CtxWord
from .queue import queue_on_book, queue_on_trade

_UPDATES, _TIMER, _NEXT_TIMER = (int(CtxWord[n]) for n in ("UPDATES", "TIMER_NS",
                                                           "NEXT_TIMER_NS"))
_SENT = int(CtxWord.SENT_NS)


@njit(cache=True, nogil=True, _nrt=False)
def handle_record(strategy, ctx, words, b, t_ns):
    """The record whose payload starts at ``words[b]`` (:mod:`tickpath.strategy.records`),
    arriving at ``t_ns``: the context learns it (top of book, the queue ahead of our orders,
    whether the books are exact), then ``on_trade``, ``on_book`` or ``on_status``."""
    i = words[b + R.LOCATE]
    set_now(ctx, t_ns)
    ctx.words[_SENT] = words[b + R.STAMP0]  # boundary 0: venue_sent
    kind = words[b + R.KIND]
    if kind == R.STATUS:
        take_status(ctx, i, words[b + R.STATUS_EXACT], t_ns)
        on_status(strategy, ctx, i)
    elif kind == R.TRADE:
        take_trade(ctx, i, words[b + R.STOCK], words[b + R.SEQUENCE], t_ns)
        price = words[b + R.TRADE_PRICE]
        qty = words[b + R.TRADE_QTY]
        side = words[b + R.TRADE_SIDE]
        queue_on_trade(ctx, i, price, qty, side)
        on_trade(strategy, ctx, i, price, qty, side)
    else:
        take_book(ctx, i, words[b + R.STOCK], words[b + R.BID_PRICE], words[b + R.BID_SHARES],
                  words[b + R.ASK_PRICE], words[b + R.ASK_SHARES], words[b + R.SEQUENCE],
                  t_ns)
        queue_on_book(ctx, i)
        on_book(strategy, ctx, i)


@njit(cache=True, nogil=True, _nrt=False)
def deliver_updates(strategy, ctx):
    """Hand the queued order updates to ``on_order_update`` (in order) and empty the queue.
    Returns how many. Updates queued while delivering are delivered too."""
    k = 0
    while k < ctx.words[_UPDATES]:
        on_order_update(strategy, ctx, ctx.updates[k, 0], ctx.updates[k, 1])
        k += 1
    ctx.words[_UPDATES] = 0
    return k


@njit(cache=True, nogil=True, _nrt=False)
def tick_timer(strategy, ctx, now_ns):
    """Move the clock to ``now_ns`` and call ``on_timer`` when the interval has passed (at
    most once a call). Returns True when it did."""
    set_now(ctx, now_ns)
    every = ctx.words[_TIMER]
    if every <= 0 or now_ns < ctx.words[_NEXT_TIMER]:
        return False
    on_timer(strategy, ctx, now_ns)
    nxt = ctx.words[_NEXT_TIMER] + every
    ctx.words[_NEXT_TIMER] = nxt if nxt > now_ns else now_ns + every
    return True

