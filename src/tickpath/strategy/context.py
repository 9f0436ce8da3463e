"""The context a strategy's callbacks read and write: ``ctx``, a namedtuple of arrays built
once by :func:`new_context`, and the small compiled functions over it.

Reading::

    now_ns(ctx)                        the strategy's clock (live: CLOCK_REALTIME; backtest:
                                       the venue's time)
    trigger(ctx)                       sequence number of the record being handled
    sent_ns(ctx)                       the venue's send stamp of that record (0: not known)
    best_bid(ctx, i) / best_ask(ctx, i)        Price(4), 0: empty side
    bid_shares(ctx, i) / ask_shares(ctx, i)    shares at the best
    micro_price(ctx, i)                size-weighted mid (0: a side is empty)
    market_top(ctx, i)                 (bid, shares, ask, shares) without our own orders
    ours_at(ctx, i, side, price)       shares of our open orders there
    depth(ctx, i, side, n, out)        up to n levels (price, shares, orders) best first into
                                       out (uint64 (n, 3)); side 0 bids, 1 offers. The full
                                       books where the strategy runs beside them (backtest),
                                       else the top (a pipeline's strategy stage sees records)
    level_shares(ctx, i, side, price)  shares resting at price (0: none; -1: not known)
    symbol(ctx, i)                     the 8 symbol bytes as an int64
    position(ctx, i) / cash(ctx, i) / pnl(ctx)  from fills (gateway.layout arrays)
    first_open(ctx, i) / next_open(ctx, slot)   walk our open orders of an instrument
    working(ctx, slot)                 the order may still trade and no cancel/replace is
                                       pending on it
    ctx.orders[slot]["price"] ...      any field of gateway.layout.ORDER_DTYPE (``ahead``:
                                       shares ahead of it in the queue, -1 unknown)
    feed_stale(ctx) / killed(ctx)
    book_exact(ctx, i)                 the feed has not said that i's book (or every book) may
                                       be wrong (a gap open, a snapshot loading)

Writing (intents; each returns the row written, or -1 when the outbox is full, counted)::

    place(ctx, instrument, side, qty, price, tif, trigger)
    cancel(ctx, slot)
    replace(ctx, slot, qty, price)
    cancel_all(ctx, instrument)        instrument -1: every instrument

The owner of a context (a stage, a backtest) feeds it with :func:`take_book`,
:func:`take_trade`, :func:`take_status`, drains ``ctx.intents`` (:func:`intents_pending`, :func:`clear_intents`)
and queues order updates with :func:`push_update`.
"""

from __future__ import annotations

from collections import namedtuple
from dataclasses import dataclass

import numpy as np
from numba import njit

from ..book.records import LEVEL_DTYPE, MAX_LOCATE
from ..gateway.layout import OrderState, Total, new_orders, new_positions, new_totals
from ..ring.atomics import load_relaxed
from .layout import (
    INTENT_DTYPE,
    N_CTX_WORDS,
    TOP_ASK,
    TOP_ASK_SHARES,
    TOP_BID,
    TOP_BID_SHARES,
    TOP_COLUMNS,
    TOP_INEXACT,
    Action,
    CtxWord,
)

#: The context: every array a callback may read or write (built once, see new_context).
Context = namedtuple("Context", [
    "top",  # int64 (MAX_LOCATE, TOP_COLUMNS): best bid, its shares, best offer, its shares,
    #         and 1 when the book is not known to be exact
    "symbols",  # int64 (MAX_LOCATE,): 8 symbol bytes by locate (as the records carry them)
    "levels", "heads",  # the books' level pool and heads (BookStore), or 0-length: top only
    "orders", "positions", "totals",  # ours (tickpath.gateway.layout)
    "intents",  # INTENT_DTYPE (capacity,): the outbox
    "updates",  # int64 (capacity, 2): (slot, OrderEvent) queued for on_order_update
    "words",  # int64 (N_CTX_WORDS,): CtxWord
    "control",  # int64: the control words (the kill switch at words[KILL_INDEX])
])


@dataclass(frozen=True)
class ContextInfo:
    """What a strategy's ``new(params, ctx_info)`` may size its state by."""

    instruments: int = MAX_LOCATE  # locates run 0..instruments-1
    orders: int = 1 << 16  # rows of the order table
    mode: str = "live"  # "live" (a pipeline) or "backtest"


_NOW, _LAST, _STALE, _STALE_AFTER, _TRIGGER, _OURS, _KILL = (
    int(CtxWord[n]) for n in ("NOW_NS", "LAST_DATA_NS", "STALE", "STALE_AFTER_NS", "TRIGGER",
                              "OURS_IN_BOOK", "KILL_INDEX"))
_ALL_INEXACT, _SENT = int(CtxWord.ALL_INEXACT), int(CtxWord.SENT_NS)
_INTENTS, _INTENTS_LOST, _UPDATES, _UPDATES_LOST = (
    int(CtxWord[n]) for n in ("INTENTS", "INTENTS_LOST", "UPDATES", "UPDATES_LOST"))
_PLACE, _CANCEL, _REPLACE, _CANCEL_ALL = (int(a) for a in Action)
_CASH, _MARKED = int(Total.CASH), int(Total.MARKED)
_PENDING_NEW, _ACCEPTED, _PARTIAL = (int(OrderState[n]) for n in
                                     ("PENDING_NEW", "ACCEPTED", "PARTIAL"))
_NO_BOOKS_LEVELS = np.zeros(0, LEVEL_DTYPE)


def new_context(*, levels: np.ndarray | None = None, heads: np.ndarray | None = None,
                orders: np.ndarray | None = None, positions: np.ndarray | None = None,
                totals: np.ndarray | None = None, control: np.ndarray | None = None,
                kill_index: int = 1, max_intents: int = 256, max_updates: int = 256,
                stale_after_ns: int = 0, timer_ns: int = 0,
                ours_in_book: bool = True) -> Context:
    """A context. ``levels``/``heads``: a ``BookStore``'s arrays when the strategy runs beside
    the books (else only the top of each book is known, from the records). ``orders``,
    ``positions``, ``totals``: the gateway's arrays (new empty ones by default). ``control``:
    the control words holding the kill switch at ``kill_index``. ``ours_in_book``: whether
    the feed's books hold our own orders (live) or not (a backtest's simulated orders), which
    the queue model needs."""
    if levels is None or heads is None:
        levels, heads = _NO_BOOKS_LEVELS, np.zeros((0, 2), np.int32)
    ctx = Context(
        np.zeros((MAX_LOCATE, TOP_COLUMNS), np.int64), np.zeros(MAX_LOCATE, np.int64),
        levels, heads,
        new_orders() if orders is None else orders,
        new_positions() if positions is None else positions,
        new_totals() if totals is None else totals,
        np.zeros(max_intents, INTENT_DTYPE), np.zeros((max_updates, 2), np.int64),
        np.zeros(N_CTX_WORDS, np.int64),
        np.zeros(4, np.int64) if control is None else control)
    w = ctx.words
    w[CtxWord.STALE_AFTER_NS] = stale_after_ns
    w[CtxWord.TIMER_NS] = timer_ns
    w[CtxWord.OURS_IN_BOOK] = int(ours_in_book)
    w[CtxWord.KILL_INDEX] = kill_index
    return ctx


def with_books(ctx: Context, levels: np.ndarray, heads: np.ndarray) -> Context:
    """The same context over a book store's new arrays (after the books grew)."""
    return ctx._replace(levels=levels, heads=heads)


# ------------------------------------------------------------------ reading

@njit(cache=True, nogil=True, _nrt=False)
def now_ns(ctx):
    return ctx.words[_NOW]


@njit(cache=True, nogil=True, _nrt=False)
def trigger(ctx):
    return ctx.words[_TRIGGER]


@njit(cache=True, nogil=True, _nrt=False)
def sent_ns(ctx):
    return ctx.words[_SENT]


@njit(cache=True, nogil=True, _nrt=False)
def best_bid(ctx, i):
    return ctx.top[i, TOP_BID]


@njit(cache=True, nogil=True, _nrt=False)
def best_ask(ctx, i):
    return ctx.top[i, TOP_ASK]


@njit(cache=True, nogil=True, _nrt=False)
def bid_shares(ctx, i):
    return ctx.top[i, TOP_BID_SHARES]


@njit(cache=True, nogil=True, _nrt=False)
def ask_shares(ctx, i):
    return ctx.top[i, TOP_ASK_SHARES]


@njit(cache=True, nogil=True, _nrt=False)
def micro_price(ctx, i):
    """The size-weighted mid ``(bid * ask_shares + ask * bid_shares) / (bid_shares +
    ask_shares)``: nearer the side with less resting, which is the side likelier to go.
    0 when a side is empty."""
    b = ctx.top[i, TOP_BID]
    a = ctx.top[i, TOP_ASK]
    bs = ctx.top[i, TOP_BID_SHARES]
    a_s = ctx.top[i, TOP_ASK_SHARES]
    if b <= 0 or a <= 0 or bs + a_s <= 0:
        return np.int64(0)
    return (b * a_s + a * bs) // (bs + a_s)


@njit(cache=True, nogil=True, _nrt=False)
def ours_at(ctx, i, side, price):
    """Shares of our open orders on ``side`` (ord('B') / ord('S')) of ``i`` at ``price``."""
    n = np.int64(0)
    slot = np.int64(ctx.positions[i]["open_head"])
    while slot >= 0:
        o = ctx.orders[slot]
        if o["side"] == side and o["price"] == price:
            n += o["leaves"]
        slot = np.int64(o["next_open"])
    return n


@njit(cache=True, nogil=True, _nrt=False)
def market_top(ctx, i):
    """The top of ``i`` as the rest of the market makes it: ``(bid, bid_shares, ask,
    ask_shares)`` with our own resting orders taken out when the feed's books hold them
    (live). A side only we are on reads as empty (0, 0): what lies behind our order is not
    known from the top. A strategy that prices off the book it sees would otherwise chase
    its own quotes."""
    b = ctx.top[i, TOP_BID]
    bs = ctx.top[i, TOP_BID_SHARES]
    a = ctx.top[i, TOP_ASK]
    a_s = ctx.top[i, TOP_ASK_SHARES]
    if ctx.words[_OURS] != 0 and ctx.positions[i]["open_head"] >= 0:
        if b > 0:
            bs -= ours_at(ctx, i, 66, b)
            if bs <= 0:
                b, bs = np.int64(0), np.int64(0)
        if a > 0:
            a_s -= ours_at(ctx, i, 83, a)
            if a_s <= 0:
                a, a_s = np.int64(0), np.int64(0)
    return b, bs, a, a_s


@njit(cache=True, nogil=True, _nrt=False)
def depth(ctx, i, side, n, out):
    """Up to ``n`` levels of ``side`` (0 bids, 1 offers), best first, as (price, shares,
    orders) rows of ``out``; returns how many. Only the top (orders 0) without books."""
    if ctx.heads.shape[0] == 0:
        p = ctx.top[i, TOP_BID if side == 0 else TOP_ASK]
        if p <= 0 or n <= 0:
            return 0
        out[0, 0] = p
        out[0, 1] = ctx.top[i, TOP_BID_SHARES if side == 0 else TOP_ASK_SHARES]
        out[0, 2] = 0
        return 1
    k = 0
    cur = ctx.heads[i, side]
    while cur >= 0 and k < n:
        lv = ctx.levels[cur]
        out[k, 0] = lv["price"]
        out[k, 1] = lv["shares"]
        out[k, 2] = lv["orders"]
        k += 1
        cur = lv["next"]
    return k


@njit(cache=True, nogil=True, _nrt=False)
def level_shares(ctx, i, side, price):
    """Shares resting at ``price`` on ``side`` (0 bids, 1 offers): 0 when no level is there,
    -1 when it cannot be known (no books, and the price is behind the top)."""
    if ctx.heads.shape[0] == 0:
        top = ctx.top[i, TOP_BID if side == 0 else TOP_ASK]
        if top <= 0:
            return np.int64(0)
        if price == top:
            return ctx.top[i, TOP_BID_SHARES if side == 0 else TOP_ASK_SHARES]
        better = price > top if side == 0 else price < top
        return np.int64(0) if better else np.int64(-1)
    cur = ctx.heads[i, side]
    while cur >= 0:
        lv = ctx.levels[cur]
        p = np.int64(lv["price"])
        if p == price:
            return np.int64(lv["shares"])
        if (side == 0 and p < price) or (side == 1 and p > price):
            return np.int64(0)
        cur = lv["next"]
    return np.int64(0)


@njit(cache=True, nogil=True, _nrt=False)
def symbol(ctx, i):
    return ctx.symbols[i]


@njit(cache=True, nogil=True, _nrt=False)
def position(ctx, i):
    return ctx.positions[i]["position"]


@njit(cache=True, nogil=True, _nrt=False)
def cash(ctx, i):
    return ctx.positions[i]["cash"]


@njit(cache=True, nogil=True, _nrt=False)
def pnl(ctx):
    """Cash plus marked positions, Price(4) x shares."""
    return ctx.totals[_CASH] + ctx.totals[_MARKED]


@njit(cache=True, nogil=True, _nrt=False)
def first_open(ctx, i):
    return np.int64(ctx.positions[i]["open_head"])


@njit(cache=True, nogil=True, _nrt=False)
def next_open(ctx, slot):
    return np.int64(ctx.orders[slot]["next_open"])


@njit(cache=True, nogil=True, _nrt=False)
def working(ctx, slot):
    s = ctx.orders[slot]["state"]
    return s == _PENDING_NEW or s == _ACCEPTED or s == _PARTIAL


@njit(cache=True, nogil=True, _nrt=False)
def feed_stale(ctx):
    return ctx.words[_STALE] != 0


@njit(cache=True, nogil=True, _nrt=False)
def book_exact(ctx, i):
    """Whether instrument ``i``'s book is known to be exact: False from a STATUS record
    saying a gap is open (for ``i`` or for every instrument) until the one saying it is
    repaired. Quote nothing on a book that is not."""
    return ctx.words[_ALL_INEXACT] == 0 and ctx.top[i, TOP_INEXACT] == 0


@njit(cache=True, nogil=True, _nrt=False)
def killed(ctx):
    return load_relaxed(ctx.control, ctx.words[_KILL]) != 0


# ------------------------------------------------------------------ intents

@njit(cache=True, nogil=True, _nrt=False)
def _intent(ctx, action, instrument, side, qty, price, tif, slot, trig):
    n = ctx.words[_INTENTS]
    if n >= ctx.intents.shape[0]:
        ctx.words[_INTENTS_LOST] += 1
        return np.int64(-1)
    r = ctx.intents[n]
    r["action"] = action
    r["instrument"] = instrument
    r["symbol"] = ctx.symbols[instrument] if instrument >= 0 else 0
    r["side"] = side
    r["qty"] = qty
    r["price"] = price
    r["tif"] = tif
    r["slot"] = slot
    r["trigger"] = trig
    r["result"] = 0
    ctx.words[_INTENTS] = n + 1
    return n


@njit(cache=True, nogil=True, _nrt=False)
def place(ctx, instrument, side, qty, price, tif, trigger):
    """Ask for a new order: ``side`` ord('B')/ord('S'), ``qty`` shares at ``price``
    (Price(4)), OUCH time in force byte ``tif``; ``trigger``: the sequence number it answers
    (usually ``trigger(ctx)``)."""
    # (np.int64: a constant action is typed as a literal, which would compile _intent once
    # per action)
    return _intent(ctx, np.int64(_PLACE), instrument, side, qty, price, tif, np.int64(-1),
                   trigger)


@njit(cache=True, nogil=True, _nrt=False)
def cancel(ctx, slot):
    """Ask to cancel our order at ``slot``."""
    o = ctx.orders[slot]
    return _intent(ctx, np.int64(_CANCEL), np.int64(o["instrument"]), np.int64(o["side"]),
                   np.int64(0), np.int64(0), np.int64(0), slot, ctx.words[_TRIGGER])


@njit(cache=True, nogil=True, _nrt=False)
def replace(ctx, slot, qty, price):
    """Ask to replace our order at ``slot`` by one of ``qty`` shares at ``price``."""
    o = ctx.orders[slot]
    return _intent(ctx, np.int64(_REPLACE), np.int64(o["instrument"]), np.int64(o["side"]),
                   qty, price, np.int64(o["tif"]), slot, ctx.words[_TRIGGER])


@njit(cache=True, nogil=True, _nrt=False)
def cancel_all(ctx, instrument):
    """Ask to cancel every open order of ``instrument`` (-1: of every instrument)."""
    return _intent(ctx, np.int64(_CANCEL_ALL), instrument, np.int64(0), np.int64(0),
                   np.int64(0), np.int64(0), np.int64(-1), ctx.words[_TRIGGER])


# ------------------------------------------------------------------ the owner's side

@njit(cache=True, nogil=True, _nrt=False)
def take_book(ctx, i, stock, bid, bid_sh, ask, ask_sh, seq, t_ns):
    """A book record: the top of ``i`` after the change, the record's sequence number and
    arrival time (the feed is fresh again)."""
    ctx.top[i, TOP_BID] = bid
    ctx.top[i, TOP_BID_SHARES] = bid_sh
    ctx.top[i, TOP_ASK] = ask
    ctx.top[i, TOP_ASK_SHARES] = ask_sh
    ctx.symbols[i] = stock
    ctx.words[_TRIGGER] = seq
    ctx.words[_LAST] = t_ns
    ctx.words[_STALE] = 0


@njit(cache=True, nogil=True, _nrt=False)
def take_trade(ctx, i, stock, seq, t_ns):
    ctx.symbols[i] = stock
    ctx.words[_TRIGGER] = seq
    ctx.words[_LAST] = t_ns
    ctx.words[_STALE] = 0


@njit(cache=True, nogil=True, _nrt=False)
def take_status(ctx, i, exact, t_ns):
    """A STATUS record: instrument ``i``'s book (-1: every book) is exact again (``exact``
    1) or not known to be (0)."""
    flag = 0 if exact != 0 else 1
    if i < 0:  # kept apart from each book's own flag: each is cleared by its own record
        ctx.words[_ALL_INEXACT] = flag
    elif i < ctx.top.shape[0]:
        ctx.top[i, TOP_INEXACT] = flag
    ctx.words[_LAST] = t_ns
    ctx.words[_STALE] = 0


@njit(cache=True, nogil=True, _nrt=False)
def set_now(ctx, t_ns):
    """Move the strategy's clock to ``t_ns`` and say whether the feed has gone stale (quiet
    for longer than STALE_AFTER_NS since the last record; never before the first)."""
    ctx.words[_NOW] = t_ns
    after = ctx.words[_STALE_AFTER]
    last = ctx.words[_LAST]
    if after > 0 and last > 0 and t_ns - last > after:
        ctx.words[_STALE] = 1


@njit(cache=True, nogil=True, _nrt=False)
def intents_pending(ctx):
    return ctx.words[_INTENTS]


@njit(cache=True, nogil=True, _nrt=False)
def clear_intents(ctx):
    ctx.words[_INTENTS] = 0


@njit(cache=True, nogil=True, _nrt=False)
def push_update(ctx, slot, event):
    """Queue ``(slot, event)`` for the strategy's ``on_order_update``."""
    n = ctx.words[_UPDATES]
    if n >= ctx.updates.shape[0]:
        ctx.words[_UPDATES_LOST] += 1
        return
    ctx.updates[n, 0] = slot
    ctx.updates[n, 1] = event
    ctx.words[_UPDATES] = n + 1
