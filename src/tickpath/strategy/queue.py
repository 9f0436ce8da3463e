"""Where our resting orders stand in the venue's queue: the ``ahead`` column of the gateway's
order table, estimated from the feed as hftbacktest's risk-averse queue model does.

- First seen (``ahead`` is -1 and the order is working): ahead = the shares resting at its
  price, less its own when our orders are in the feed's book (live; not in a backtest).
- A trade at its price, on its side of the book: ahead falls by the trade's shares.
- A book change: ahead is capped at the level's shares (less ours, live); orders that leave
  the queue can be anywhere in it, so only the cap is safe (the risk-averse assumption: we
  never move up for a cancel).

A price whose level cannot be seen (a pipeline's strategy stage sees only the top) leaves
``ahead`` as it was.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .context import level_shares, working
from .layout import CtxWord

_OURS = int(CtxWord.OURS_IN_BOOK)
_BUY = 66


@njit(cache=True, nogil=True, _nrt=False)
def queue_on_book(ctx, i):
    """Set or cap ``ahead`` of each working order of instrument ``i`` after its book changed."""
    slot = np.int64(ctx.positions[i]["open_head"])
    ours = ctx.words[_OURS] != 0
    while slot >= 0:
        o = ctx.orders[slot]
        if working(ctx, slot):
            side = 0 if o["side"] == _BUY else 1
            level = level_shares(ctx, i, side, o["price"])
            if level >= 0:
                room = level - o["leaves"] if ours else level
                if room < 0:
                    room = 0
                if o["ahead"] < 0 or o["ahead"] > room:
                    o["ahead"] = room
        slot = np.int64(o["next_open"])


@njit(cache=True, nogil=True, _nrt=False)
def queue_on_trade(ctx, i, price, qty, aggressor):
    """A trade of ``qty`` at ``price``: the orders of ``i`` resting at that price on the side
    the aggressor took (a seller takes bids; unknown aggressor: both) move up."""
    slot = np.int64(ctx.positions[i]["open_head"])
    while slot >= 0:
        o = ctx.orders[slot]
        if o["price"] == price and o["ahead"] > 0 and working(ctx, slot) and (
                aggressor == 0 or (aggressor == _BUY) != (o["side"] == _BUY)):
            o["ahead"] = max(o["ahead"] - qty, 0)
        slot = np.int64(o["next_open"])
