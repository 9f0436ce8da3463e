"""A test strategy for tapes without two-sided books: after the first print of an instrument
it offers ``size`` shares at that print's price (a later print above it fills it)."""

from __future__ import annotations

from collections import namedtuple

import numpy as np

from tickpath.strategy.api import implements, on_trade
from tickpath.strategy.context import place, trigger

TapeState = namedtuple("TapeState", ["size", "done"])


def new(params, ctx_info):
    return TapeState(np.array([int(params.get("size", 1))], np.int64),
                     np.zeros(1 << 16, np.int8))


@implements(on_trade, TapeState)
def _trade(strategy, ctx, instrument, price, qty, aggressor_side):
    if strategy.done[instrument] == 0:
        strategy.done[instrument] = 1
        place(ctx, instrument, 83, strategy.size[0], price, 48, trigger(ctx))
