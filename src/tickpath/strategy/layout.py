"""The strategy room's state, declared once as data: the intents a strategy writes, the order
updates it is told about, and the words of its context.

**Intents** (:data:`INTENT_DTYPE`): what a strategy asks the egress to do, one row each, in a
preallocated array (the outbox). A strategy never sends bytes: it writes rows through
:func:`tickpath.strategy.context.place` and friends, and the stage that owns egress drains them
in order (risk check -> order state -> encode -> send) after each callback::

    field       PLACE           CANCEL          REPLACE           CANCEL_ALL
    action      1               2               3                 4
    instrument  ITCH locate     (the order's)   (the order's)     locate, -1: every one
    symbol      8 symbol bytes, big-endian (as the books keep them)
    side        ord('B'|'S')    -               -                 -
    qty         shares          -               new shares        -
    price       Price(4)        -               new Price(4)      -
    tif         OUCH TIF byte   -               -                 -
    slot        -               order slot      order slot        -
    trigger     MoldUDP64 sequence number of the message the decision answered
    result      set by the egress: the order's slot, or -(reason) when refused

**Order updates**: ``updates[k] = (slot, event)`` rows queued by whatever changes an order's
state (the egress, the gateway, a simulated venue) and delivered to the strategy's
``on_order_update`` after the current callback. Events are :class:`OrderEvent`.

**Context words** (:class:`CtxWord`): one int64 array of the context, the clock the strategy
sees, the feed's freshness, the outbox and update counts.

**Top of book** (:data:`TOP_COLUMNS` per locate): what the last book record said.
"""

from __future__ import annotations

import enum

import numpy as np


class Action(enum.IntEnum):
    PLACE = 1
    CANCEL = 2
    REPLACE = 3
    CANCEL_ALL = 4


class OrderEvent(enum.IntEnum):
    """What ``on_order_update(strategy, ctx, slot, event)`` is told happened to an order."""

    ACCEPTED = 1
    EXECUTED = 2  # some or all of it (``leaves`` says which)
    CANCELED = 3
    REJECTED = 4
    REPLACED = 5  # ``slot`` is the new order's row; its ``replaces`` names the old user_ref


INTENT_DTYPE = np.dtype([
    ("action", np.int64), ("instrument", np.int64), ("symbol", np.int64), ("side", np.int64),
    ("qty", np.int64), ("price", np.int64), ("tif", np.int64), ("slot", np.int64),
    ("trigger", np.int64), ("result", np.int64),
])

# intent results (negative: refused before anything was sent)
REFUSED_RISK = -1  # the pre-trade check said no (the risk counters say why)
REFUSED_FULL = -2  # the order table has no free slot for it
REFUSED_STATE = -3  # cancel/replace of an order that is no longer working
REFUSED_SEND = -4  # the bytes did not go out
REFUSED_BAD = -5  # quantity, side, instrument or price out of range (the gateway's check)


class CtxWord(enum.IntEnum):
    """Words of the context's ``words`` array."""

    NOW_NS = 0  # the strategy's clock: CLOCK_REALTIME live, the venue's time in a backtest
    LAST_DATA_NS = 1  # when the last record arrived (its receive stamp, or venue time)
    STALE = 2  # 1: the feed is stale (quiet for longer than STALE_AFTER_NS, or said so)
    STALE_AFTER_NS = 3  # quiet this long = stale (0: never by time)
    TRIGGER = 4  # sequence number of the record being handled
    OURS_IN_BOOK = 5  # 1: our own orders are in the feed's book (live); 0: not (backtest)
    KILL_INDEX = 6  # which word of ``control`` is the kill switch
    INTENTS = 7  # intents in the outbox
    INTENTS_LOST = 8  # intents refused: the outbox was full
    UPDATES = 9  # order updates queued
    UPDATES_LOST = 10  # updates refused: the queue was full
    TIMER_NS = 11  # on_timer interval (0: never)
    NEXT_TIMER_NS = 12  # when on_timer is next due
    ALL_INEXACT = 13  # 1: no book is known to be exact (a feed-wide gap open, recovering)
    SENT_NS = 14  # the venue's send stamp of the record being handled (0: not known)


N_CTX_WORDS = 16

# top-of-book columns (ctx.top[locate, column])
TOP_BID, TOP_BID_SHARES, TOP_ASK, TOP_ASK_SHARES = range(4)
TOP_INEXACT = 4  # 1: this instrument's book is not known to be exact (the feed said so)
TOP_COLUMNS = 5

BUY, SELL = 66, 83  # ord('B'), ord('S')
TIF_DAY = 48  # OUCH time in force '0': day
