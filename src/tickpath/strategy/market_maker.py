"""The shipped market maker: two-sided quotes around the micro-price, skewed by inventory.

For each instrument it trades (``symbols``; an empty list trades every instrument), on every
book change it wants::

    fair   = micro-price (size-weighted mid) of the market without our own quotes
             - skew x position
    bid    = fair - edge, rounded down to the tick, never at or through the best offer
    offer  = fair + edge, rounded up to the tick, never at or through the best bid
    sizes  = size, less what would take |position| past max_position (0: no quote that side)

and gets there with the fewest intents, once none of its orders in the instrument waits for
the venue's answer (the answer requotes): a side with no working quote is placed; a quote
whose price is ``requote_ticks`` ticks or more from the wanted price is replaced (nearer moves
leave it its place in the queue); a quote whose side should be empty, and any extra quote on a
side, is canceled. A fill or cancel requotes the instrument at once (``on_order_update``).
When the feed is stale or the kill switch has tripped it places nothing and pulls every quote
it has (``cancel_all``), on the next book change or timer tick; when the feed says a book is
not known to be exact (``on_status``: a gap open, a snapshot loading) it pulls that
instrument's quotes (every instrument's, for a feed-wide gap) at once, and quotes again when
the book is exact. Position and P&L come from
fills (the gateway's arrays in the context); prices are Price(4) (1 = $0.0001).

Parameters (``new(params, ctx_info)``): ``symbols`` (list of str), ``edge`` (Price(4) from
fair, default 100), ``size`` (shares, 100), ``skew`` (Price(4) per share of position, 0),
``max_position`` (shares, 1000), ``requote_ticks`` (1), ``tick`` (Price(4), 100 = $0.01),
``min_requote_us`` (1000: an instrument is requoted at most once in this interval; 0: on
every change),
``tif`` (OUCH time in force byte as a character, "0": day).
"""

from __future__ import annotations

from collections import namedtuple
from typing import Any

import numpy as np
from numba import njit

from ..book.records import MAX_LOCATE
from ..codec.itch50.layout import stock_code
from ..gateway.layout import OrderState
from .api import implements, on_book, on_order_update, on_status, on_timer
from .context import (
    ContextInfo,
    book_exact,
    cancel,
    cancel_all,
    feed_stale,
    first_open,
    killed,
    market_top,
    next_open,
    now_ns,
    place,
    position,
    replace,
    trigger,
    working,
)
from .layout import BUY, SELL, OrderEvent

#: The market maker's state: its parameters, its instruments, and which locates are its own.
MarketMakerState = namedtuple("MarketMakerState", [
    "params",  # int64 (N_PARAMS,)
    "codes",  # int64: the configured symbols' codes (8 bytes, big-endian); empty: every one
    "mine",  # int8 (MAX_LOCATE,): 0 not yet seen, 1 ours, 2 not ours
    "active",  # int64 (MAX_LOCATE,): the locates found to be ours, in order; [-1]: count
    "last_ns",  # int64 (MAX_LOCATE,): when each instrument was last requoted
])

EDGE, SIZE, SKEW, MAX_POSITION, REQUOTE_TICKS, TICK, TIF, MIN_REQUOTE_NS = range(8)
N_PARAMS = 8
_DEFAULTS = {"edge": 100, "size": 100, "skew": 0, "max_position": 1000, "requote_ticks": 1,
             "tick": 100, "min_requote_us": 1000}
_KNOWN = set(_DEFAULTS) | {"symbols", "tif"}
_REPLACE_PENDING = int(OrderState.REPLACE_PENDING)
_PENDING_NEW = int(OrderState.PENDING_NEW)
_CANCEL_PENDING = int(OrderState.CANCEL_PENDING)
_EXECUTED, _CANCELED = int(OrderEvent.EXECUTED), int(OrderEvent.CANCELED)


def symbol_codes(symbols: list[str]) -> np.ndarray:
    """The instruments as the books' stock codes (int64 bit patterns of the 8 bytes)."""
    return np.array([stock_code(s) for s in symbols], np.uint64).view(np.int64)


def new(params: dict[str, Any], ctx_info: ContextInfo | None = None) -> MarketMakerState:
    """The state for ``params`` (see the module docstring); unknown keys and bad values are
    refused with the key's name."""
    unknown = set(params) - _KNOWN
    if unknown:
        raise KeyError(f"unknown market maker parameter(s) {', '.join(sorted(unknown))}; "
                       f"known: {', '.join(sorted(_KNOWN))}")
    p = {**_DEFAULTS, **{k: v for k, v in params.items() if k in _DEFAULTS}}
    for k, v in p.items():
        if isinstance(v, bool) or not isinstance(v, int):
            raise TypeError(f"market maker parameter {k} = {v!r}: expected an integer")
    for k in ("size", "tick", "requote_ticks"):
        if p[k] <= 0:
            raise ValueError(f"market maker parameter {k} = {p[k]}: must be > 0")
    for k in ("edge", "skew", "max_position", "min_requote_us"):
        if p[k] < 0:
            raise ValueError(f"market maker parameter {k} = {p[k]}: must be >= 0")
    tif = params.get("tif", "0")
    if not (isinstance(tif, str) and len(tif) == 1):
        raise ValueError(f"market maker parameter tif = {tif!r}: one OUCH character, e.g. '0'")
    symbols = list(params.get("symbols", []))
    if not all(isinstance(s, str) and 1 <= len(s) <= 8 for s in symbols):
        raise ValueError(f"market maker parameter symbols = {symbols!r}: ITCH symbols, 1-8 "
                         f"characters each")
    arr = np.zeros(N_PARAMS, np.int64)
    arr[EDGE], arr[SIZE], arr[SKEW] = p["edge"], p["size"], p["skew"]
    arr[MAX_POSITION], arr[REQUOTE_TICKS], arr[TICK] = (p["max_position"], p["requote_ticks"],
                                                        p["tick"])
    arr[TIF] = ord(tif)
    arr[MIN_REQUOTE_NS] = p["min_requote_us"] * 1000
    active = np.full(MAX_LOCATE + 1, -1, np.int64)
    active[-1] = 0
    return MarketMakerState(arr, symbol_codes(symbols), np.zeros(MAX_LOCATE, np.int8), active,
                            np.full(MAX_LOCATE, -(1 << 62), np.int64))


@njit(cache=True, nogil=True, _nrt=False)
def mine(s, stock, i):
    """Whether instrument ``i`` (symbol code ``stock``) is one this maker trades (learnt the
    first time it is seen)."""
    m = s.mine[i]
    if m == 0:
        m = 1 if s.codes.shape[0] == 0 else 2
        for k in range(s.codes.shape[0]):
            if s.codes[k] == stock:
                m = 1
        s.mine[i] = m
        if m == 1:
            n = s.active[s.active.shape[0] - 1]
            s.active[n] = i
            s.active[s.active.shape[0] - 1] = n + 1
    return m == 1


@njit(cache=True, nogil=True, _nrt=False)
def quote_side(s, ctx, i, side, want, qty):
    """Bring our quote on ``side`` of ``i`` to ``qty`` at ``want`` (qty 0: none) with the
    fewest intents. Returns the intents written."""
    p = s.params
    keep = np.int64(-1)
    n = 0
    slot = first_open(ctx, i)
    while slot >= 0:
        nxt = next_open(ctx, slot)
        o = ctx.orders[slot]
        if o["side"] == side:
            if o["state"] == _REPLACE_PENDING and keep < 0:
                keep = slot  # our quote, on its way to a new price: wait for it
            elif working(ctx, slot):
                if keep < 0 and qty > 0:
                    keep = slot
                else:
                    cancel(ctx, slot)
                    n += 1
        slot = nxt
    if qty <= 0:
        return n
    if keep < 0:
        place(ctx, i, side, qty, want, p[TIF], trigger(ctx))
        return n + 1
    o = ctx.orders[keep]
    if o["state"] != _REPLACE_PENDING and abs(o["price"] - want) >= p[REQUOTE_TICKS] * p[TICK]:
        replace(ctx, keep, qty, want)
        n += 1
    return n


@njit(cache=True, nogil=True, _nrt=False)
def in_flight(ctx, i):
    """Whether one of our orders in ``i`` waits for the venue's answer (new, cancel or
    replace sent). The feed may show the venue's change before the order session does: an
    order replaced at the venue is at its new price in the book while our table still has it
    pending at the old one, and pricing off that book would chase our own quotes."""
    slot = first_open(ctx, i)
    while slot >= 0:
        st = ctx.orders[slot]["state"]
        if st == _PENDING_NEW or st == _REPLACE_PENDING or st == _CANCEL_PENDING:
            return True
        slot = next_open(ctx, slot)
    return False


@njit(cache=True, nogil=True, _nrt=False)
def requote(s, ctx, i):
    """Quote instrument ``i`` as the module docstring says; returns the intents written."""
    if killed(ctx) or feed_stale(ctx) or not book_exact(ctx, i):
        if first_open(ctx, i) >= 0:
            cancel_all(ctx, i)
            return 1
        return 0
    if in_flight(ctx, i):
        return 0  # the venue's answer requotes (on_order_update); the book may show it first
    now = now_ns(ctx)
    if now - s.last_ns[i] < s.params[MIN_REQUOTE_NS]:
        return 0  # throttled: the next book change or fill after the interval requotes
    s.last_ns[i] = now
    # priced off the rest of the market: our own quotes in the book would pull the
    # micro-price toward them, and each requote would chase the last one
    bid, bid_sh, ask, ask_sh = market_top(ctx, i)
    if bid <= 0 or ask <= 0 or bid_sh + ask_sh <= 0:
        return 0  # a side empty, or only ours: hold the quotes until the market shows
    fair = (bid * ask_sh + ask * bid_sh) // (bid_sh + ask_sh)
    p = s.params
    tick = p[TICK]
    pos = position(ctx, i)
    center = fair - p[SKEW] * pos
    want_bid = ((center - p[EDGE]) // tick) * tick
    want_ask = -((-(center + p[EDGE])) // tick) * tick
    if want_bid > ask - tick:
        want_bid = ask - tick
    if want_ask < bid + tick:
        want_ask = bid + tick
    buy_qty = min(p[SIZE], p[MAX_POSITION] - pos)
    sell_qty = min(p[SIZE], p[MAX_POSITION] + pos)
    if want_bid <= 0:
        buy_qty = 0
    # (np.int64: each side as a constant would be a literal type, compiling quote_side twice)
    return (quote_side(s, ctx, i, np.int64(BUY), want_bid, buy_qty)
            + quote_side(s, ctx, i, np.int64(SELL), want_ask, sell_qty))


@implements(on_book, MarketMakerState)
def _on_book(strategy, ctx, instrument):
    if mine(strategy, ctx.symbols[instrument], instrument):
        requote(strategy, ctx, instrument)


@implements(on_order_update, MarketMakerState)
def _on_order_update(strategy, ctx, slot, event):
    if event == _EXECUTED or event == _CANCELED:
        i = ctx.orders[slot]["instrument"]
        if strategy.mine[i] == 1:
            strategy.last_ns[i] = -(1 << 62)  # a fill or a cancel requotes at once
            requote(strategy, ctx, i)


@implements(on_timer, MarketMakerState)
def _on_timer(strategy, ctx, now_ns):
    # pull quotes the moment the feed goes quiet or the kill switch trips, book changes or not
    if killed(ctx) or feed_stale(ctx):
        active = strategy.active
        for k in range(active[active.shape[0] - 1]):
            i = active[k]
            if first_open(ctx, i) >= 0:
                cancel_all(ctx, i)


@implements(on_status, MarketMakerState)
def _on_status(strategy, ctx, instrument):
    # a book not known to be exact: pull at once; exact again: quote now, not throttled
    if instrument >= 0:
        if instrument < strategy.mine.shape[0] and strategy.mine[instrument] == 1:
            strategy.last_ns[instrument] = -(1 << 62)
            requote(strategy, ctx, instrument)
        return
    active = strategy.active
    for k in range(active[active.shape[0] - 1]):
        i = active[k]
        strategy.last_ns[i] = -(1 << 62)
        requote(strategy, ctx, i)
