"""A test strategy: counts its callbacks in its state (one state type)."""

from __future__ import annotations

from collections import namedtuple

import numpy as np

from tickpath.strategy.api import implements, on_book, on_trade

CountingState = namedtuple("CountingState", ["calls", "last"])


def new(params, ctx_info):
    if "bad" in params:
        raise ValueError("bad is not a parameter of this strategy")
    return CountingState(np.zeros(4, np.int64), np.zeros(2, np.int64))


@implements(on_book, CountingState)
def _book(strategy, ctx, instrument):
    strategy.calls[0] += 1
    strategy.last[0] = instrument


@implements(on_trade, CountingState)
def _trade(strategy, ctx, instrument, price, qty, aggressor_side):
    strategy.calls[1] += qty
