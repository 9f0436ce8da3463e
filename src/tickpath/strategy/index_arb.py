"""Index arbitrage: an index future against the live prices of its constituent stocks.

The fair value of the future is read from the basket's books as they stand::

    fair  = scale x sum_i weight_i x mid_i          (in the future's price units)
    rich  = future bid - fair                       (the future is dear: sell it)
    cheap = fair - future offer                     (the future is cheap: buy it)

``mid_i`` is stock i's midpoint, Price(4), from the ITCH records; the future's top comes from
the MDP 3.0 records (:mod:`tickpath.strategy.records`: the feed converts its prices to the
units the futures venue's order entry takes). An *opportunity* is the basis crossing the
threshold: ``rich > threshold`` or ``cheap > threshold`` after a view where it was not. On
each book change of the future or of a basket stock, with every stock's mid known (a stock
whose book has lost a side keeps its last mid), the future's book two-sided, every book
exact, and no order of ours in flight, the strategy

* sells ``size`` at the future's bid (IOC) while rich, buys at its offer while cheap, as long
  as the position stays within ``max_position`` contracts;
* flattens (IOC, at the touch) once the basis is back within ``exit`` of fair: the
  convergence the trade was for.

Legging risk, accounted for rather than hedged: the stock leg is not traded, so an open
future position is exposed to the basket. The strategy keeps that exposure
(``exposure()``: position x fair, in price units x contracts) beside P&L, and caps it with
``max_position``; the report shows both, never a hedged P&L the orders did not earn.

How late the strategy's view of the basis was: each evaluation triggered by a record keeps
``(sent, seen, basis, feed)``: the venue's send stamp of the record, the strategy's clock
when it was handled, the basis in price units x 1000, and which feed the record came from
(0: a stock's, 1: the future's); bounded (``samples`` rows, the first ones
kept), read by the owner after the run (``lateness()``).

Parameters (``new(params, ctx_info)``): ``future`` (its symbol, e.g. "TPZ6"), ``basket``
(stock symbols), ``weights`` (one float per stock, per Price(4) of its mid), ``scale`` (the
future's value for a basket of 1.0, in the future's price units), ``threshold`` (price units,
default 1 tick), ``exit`` (price units, half the threshold; the basis is a float, so 0 would
all but never flatten), ``size`` (contracts, 1), ``max_position`` (5),
``min_interval_us`` (between two orders, 0), ``samples`` (100000).
"""

from __future__ import annotations

from collections import namedtuple
from typing import Any

import numpy as np
from numba import njit

from ..book.records import MAX_LOCATE
from .api import implements, on_book, on_order_update, on_status
from .context import (
    ContextInfo,
    best_ask,
    best_bid,
    book_exact,
    feed_stale,
    first_open,
    intents_pending,
    killed,
    now_ns,
    place,
    position,
    sent_ns,
    trigger,
)
from .layout import BUY, SELL, OrderEvent
from .market_maker import in_flight, symbol_codes

#: the strategy's state
IndexArbState = namedtuple("IndexArbState", [
    "params",  # int64 (N_PARAMS,)
    "codes",  # int64 (n,): the basket's symbol codes
    "weights",  # float64 (n,)
    "member",  # int64 (MAX_LOCATE,): 0 not yet seen, k+1 basket stock k, FUTURE, NOT_OURS
    "mid",  # float64 (n,): each stock's last midpoint, Price(4) (0: not two-sided yet)
    "locates",  # int64 (n,): each stock's locate (-1: not seen yet)
    "words",  # int64 (N_WORDS,)
    "basis",  # float64 (3,): fair value and basis (future mid - fair) at the last
    #           evaluation, and the ``scale`` parameter
    "samples",  # int64 (samples, 4): sent, seen, basis x 1000, feed (0 stocks, 1 future)
])

THRESHOLD, EXIT, SIZE, MAX_POSITION, MIN_INTERVAL_NS, FUT_CODE, TIF = range(7)
N_PARAMS = 7
# words
FUT_LOCATE, OPPORTUNITIES, REGIME, LAST_ORDER_NS, N_SAMPLES, KNOWN, ORDERS, SKIPPED = range(8)
N_WORDS = 8
FAIR, BASIS, SCALE = range(3)  # of ``basis``
FUTURE, NOT_OURS = -1, -2
_IOC = ord("3")
_ACCEPTED = int(OrderEvent.ACCEPTED)
_DEFAULTS = {"threshold": None, "exit": None, "size": 1, "max_position": 5, "min_interval_us": 0,
             "samples": 100_000}
_KNOWN_KEYS = set(_DEFAULTS) | {"future", "basket", "weights", "scale", "tick"}


def new(params: dict[str, Any], ctx_info: ContextInfo | None = None) -> IndexArbState:
    """The state for ``params`` (see the module docstring); unknown keys and bad values are
    refused with the key's name."""
    unknown = set(params) - _KNOWN_KEYS
    if unknown:
        raise KeyError(f"unknown index arbitrage parameter(s) {', '.join(sorted(unknown))}; "
                       f"known: {', '.join(sorted(_KNOWN_KEYS))}")
    for k in ("future", "basket", "weights", "scale"):
        if k not in params:
            raise KeyError(f"index arbitrage parameter {k} is required")
    future = params["future"]
    if not (isinstance(future, str) and 1 <= len(future) <= 8):
        raise ValueError(f"index arbitrage parameter future = {future!r}: a symbol of 1-8 "
                         f"characters")
    basket = list(params["basket"])
    weights = [float(w) for w in params["weights"]]
    if not basket or not all(isinstance(s, str) and 1 <= len(s) <= 8 for s in basket):
        raise ValueError(f"index arbitrage parameter basket = {basket!r}: one or more ITCH "
                         f"symbols of 1-8 characters")
    if len(set(basket)) != len(basket) or future in basket:
        raise ValueError("index arbitrage parameter basket: symbols must be unique and not "
                         "the future's")
    if len(weights) != len(basket) or not all(w > 0 and np.isfinite(w) for w in weights):
        raise ValueError(f"index arbitrage parameter weights: one positive weight per basket "
                         f"stock ({len(basket)}), got {params['weights']!r}")
    scale = float(params["scale"])
    if not (scale > 0 and np.isfinite(scale)):
        raise ValueError(f"index arbitrage parameter scale = {params['scale']!r}: must be > 0")
    tick = params.get("tick", 1)
    p = {**_DEFAULTS, **{k: params[k] for k in _DEFAULTS if k in params}}
    if p["threshold"] is None:
        p["threshold"] = tick
    if p["exit"] is None and isinstance(p["threshold"], int):
        p["exit"] = p["threshold"] // 2
    for k, v in (*p.items(), ("tick", tick)):
        if isinstance(v, bool) or not isinstance(v, int):
            raise TypeError(f"index arbitrage parameter {k} = {v!r}: expected an integer")
    for k in ("size", "samples", "tick"):
        if (p[k] if k != "tick" else tick) <= 0:
            raise ValueError(f"index arbitrage parameter {k}: must be > 0")
    for k in ("threshold", "exit", "max_position", "min_interval_us"):
        if p[k] < 0:
            raise ValueError(f"index arbitrage parameter {k} = {p[k]}: must be >= 0")
    if p["exit"] >= p["threshold"] and p["threshold"] > 0:
        raise ValueError(f"index arbitrage parameter exit = {p['exit']}: must be below the "
                         f"threshold ({p['threshold']}), or the strategy flattens where it "
                         f"enters")
    arr = np.zeros(N_PARAMS, np.int64)
    arr[THRESHOLD], arr[EXIT], arr[SIZE] = p["threshold"], p["exit"], p["size"]
    arr[MAX_POSITION], arr[MIN_INTERVAL_NS] = p["max_position"], p["min_interval_us"] * 1000
    arr[FUT_CODE] = symbol_codes([future])[0]
    arr[TIF] = _IOC
    words = np.zeros(N_WORDS, np.int64)
    words[FUT_LOCATE] = -1
    words[LAST_ORDER_NS] = -(1 << 62)
    n = len(basket)
    return IndexArbState(arr, symbol_codes(basket), np.array(weights, np.float64),
                         np.zeros(MAX_LOCATE, np.int64), np.zeros(n, np.float64),
                         np.full(n, -1, np.int64), words, np.array([0.0, 0.0, scale]),
                         np.zeros((p["samples"], 4), np.int64))


@njit(cache=True, nogil=True, _nrt=False)
def _member(s, stock, i):
    """What instrument ``i`` (symbol code ``stock``) is to the strategy, learnt once."""
    m = s.member[i]
    if m != 0:
        return m
    m = NOT_OURS
    if stock == s.params[FUT_CODE]:
        m = FUTURE
        s.words[FUT_LOCATE] = i
    else:
        for k in range(s.codes.shape[0]):
            if s.codes[k] == stock:
                m = k + 1
                s.locates[k] = i
    s.member[i] = m
    return m


@njit(cache=True, nogil=True, _nrt=False)
def fair_value(s):
    """The future's fair value from the basket's last mids (0.0 while a stock has none)."""
    if s.words[KNOWN] < s.codes.shape[0]:
        return 0.0
    total = 0.0
    for k in range(s.codes.shape[0]):
        total += s.weights[k] * s.mid[k]
    return s.basis[SCALE] * total


@njit(cache=True, nogil=True, _nrt=False)
def _take_mid(s, ctx, k, i):
    b, a = best_bid(ctx, i), best_ask(ctx, i)
    was = s.mid[k] > 0.0
    if b > 0 and a > 0:
        s.mid[k] = (b + a) * 0.5
        if not was:
            s.words[KNOWN] += 1
    # a side gone empty keeps the last mid: the basket's value does not vanish with a side


@njit(cache=True, nogil=True, _nrt=False)
def _all_exact(s, ctx):
    for k in range(s.locates.shape[0]):
        if not book_exact(ctx, s.locates[k]):
            return False
    return book_exact(ctx, s.words[FUT_LOCATE])


@njit(cache=True, nogil=True, _nrt=False)
def evaluate(s, ctx, instrument):
    """Price the basis and act on it (the module docstring); returns the intents written.
    ``instrument``: the record's that called (a lateness sample is kept), -1 for none."""
    f = s.words[FUT_LOCATE]
    if f < 0:
        return 0
    fair = fair_value(s)
    bid, ask = best_bid(ctx, f), best_ask(ctx, f)
    if fair <= 0.0 or bid <= 0 or ask <= 0:
        return 0
    basis = (bid + ask) * 0.5 - fair
    s.basis[FAIR], s.basis[BASIS] = fair, basis
    n = s.words[N_SAMPLES]
    if instrument >= 0 and n < s.samples.shape[0]:
        s.samples[n, 0] = sent_ns(ctx)
        s.samples[n, 1] = now_ns(ctx)
        s.samples[n, 2] = np.int64(basis * 1000.0)
        s.samples[n, 3] = 1 if instrument == f else 0
        s.words[N_SAMPLES] = n + 1
    p = s.params
    rich, cheap = bid - fair, fair - ask
    regime = 0
    if rich > p[THRESHOLD]:
        regime = 1
    elif cheap > p[THRESHOLD]:
        regime = -1
    if regime != 0 and regime != s.words[REGIME]:
        s.words[OPPORTUNITIES] += 1
    s.words[REGIME] = regime
    if killed(ctx) or feed_stale(ctx) or not _all_exact(s, ctx):
        return 0
    if intents_pending(ctx) > 0 or in_flight(ctx, f) or first_open(ctx, f) >= 0:
        return 0  # one order at a time: its answer (on_order_update) looks again
    now = now_ns(ctx)
    if now - s.words[LAST_ORDER_NS] < p[MIN_INTERVAL_NS]:
        s.words[SKIPPED] += 1
        return 0
    pos = position(ctx, f)
    side, qty, price = 0, np.int64(0), np.int64(0)
    if regime == 1 and pos > -p[MAX_POSITION]:
        side, qty, price = SELL, min(p[SIZE], p[MAX_POSITION] + pos), bid
    elif regime == -1 and pos < p[MAX_POSITION]:
        side, qty, price = BUY, min(p[SIZE], p[MAX_POSITION] - pos), ask
    elif regime == 0 and pos != 0 and abs(basis) <= p[EXIT]:
        if pos > 0:
            side, qty, price = SELL, pos, bid
        else:
            side, qty, price = BUY, -pos, ask
    if qty <= 0:
        return 0
    place(ctx, f, side, qty, price, p[TIF], trigger(ctx))
    s.words[LAST_ORDER_NS] = now
    s.words[ORDERS] += 1
    return 1


@implements(on_book, IndexArbState)
def _on_book(strategy, ctx, instrument):
    m = _member(strategy, ctx.symbols[instrument], instrument)
    if m == NOT_OURS:
        return
    if m > 0:
        _take_mid(strategy, ctx, m - 1, instrument)
    evaluate(strategy, ctx, instrument)


@implements(on_order_update, IndexArbState)
def _on_order_update(strategy, ctx, slot, event):
    # an IOC's answer (filled, canceled, rejected) frees the strategy to look at the basis
    # again; an acceptance changes nothing
    if event != _ACCEPTED and ctx.orders[slot]["instrument"] == strategy.words[FUT_LOCATE]:
        evaluate(strategy, ctx, -1)


@implements(on_status, IndexArbState)
def _on_status(strategy, ctx, instrument):
    # exact again: look at once (a book not exact stops orders in evaluate)
    evaluate(strategy, ctx, -1)


def exposure(state: IndexArbState, pos: int) -> float:
    """The unhedged exposure of ``pos`` contracts: position x the last fair value."""
    return float(pos) * float(state.basis[FAIR])


def lateness(state: IndexArbState) -> np.ndarray:
    """The kept samples: int64 (n, 4) rows of (venue sent, seen by the strategy, basis x
    1000, feed: 0 a stock's record, 1 the future's), in order."""
    return state.samples[:int(state.words[N_SAMPLES])]


def report(state: IndexArbState) -> dict[str, Any]:
    """The strategy's own counts: opportunities, orders, the last fair value and basis."""
    w = state.words
    return {"opportunities": int(w[OPPORTUNITIES]), "orders": int(w[ORDERS]),
            "throttled": int(w[SKIPPED]), "fair": float(state.basis[FAIR]),
            "basis": float(state.basis[BASIS]), "samples": int(w[N_SAMPLES])}
