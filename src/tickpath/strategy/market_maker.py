"""The shipped example: a market maker that quotes around the best bid and offer.

On every top-of-book update of an instrument it trades, it wants a bid ``edge`` below the best
bid and an offer ``edge`` above the best offer, ``size`` shares each, and sends a new order
for a side only when that price changed since its last quote there (no book, no quote). A
quote counts as made only once the stage has it past risk and sent (:func:`quoted`): an order
refused or not sent is asked for again on the next update, even at the same price. Prices
in Price(4) units (1 = $0.0001). Instruments are chosen by symbol (their 8 ITCH bytes);
an empty list trades every instrument. State: per stock locate, the last quoted prices and
whether the locate is one of ours (learnt the first time it is seen).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ..book.records import MAX_LOCATE
from ..codec.itch50.layout import stock_code
from .records import O_LOCATE, O_PRICE, O_QTY, O_SIDE, O_STOCK

EDGE, SIZE = 0, 1
N_PARAMS = 2
# state columns
_LAST_BID, _LAST_ASK, _MINE = 0, 1, 2  # _MINE: 0 not yet seen, 1 ours, 2 not ours


def params(edge: int, size: int) -> np.ndarray:
    out = np.zeros(N_PARAMS, np.int64)
    out[EDGE], out[SIZE] = edge, size
    return out


def new_state() -> np.ndarray:
    return np.zeros((MAX_LOCATE, 3), np.int64)


def symbol_codes(symbols: list[str]) -> np.ndarray:
    """The instruments as the books' stock codes (int64 bit patterns of the 8 bytes)."""
    return np.array([stock_code(s) for s in symbols], np.uint64).view(np.int64)


@njit(cache=True, nogil=True, inline="always")
def _mine(state, codes, locate, stock):
    m = state[locate, _MINE]
    if m == 0:
        m = 1 if codes.shape[0] == 0 else 2
        for k in range(codes.shape[0]):
            if codes[k] == stock:
                m = 1
        state[locate, _MINE] = m
    return m == 1


@njit(cache=True, nogil=True, inline="always")
def decide(locate, stock, bid, bid_shares, ask, ask_shares, p, state, codes, out):
    """Orders (rows of ``out``) for one top-of-book update; returns how many. Changes no
    quote state: the caller reports each order it sent with :func:`quoted`."""
    if bid <= 0 or ask <= 0 or not _mine(state, codes, locate, stock):
        return 0
    n = 0
    want_bid = bid - p[EDGE]
    want_ask = ask + p[EDGE]
    if want_bid > 0 and want_bid != state[locate, _LAST_BID]:
        out[n, O_SIDE] = 66
        out[n, O_QTY] = p[SIZE]
        out[n, O_PRICE] = want_bid
        out[n, O_LOCATE] = locate
        out[n, O_STOCK] = stock
        n += 1
    if want_ask != state[locate, _LAST_ASK]:
        out[n, O_SIDE] = 83
        out[n, O_QTY] = p[SIZE]
        out[n, O_PRICE] = want_ask
        out[n, O_LOCATE] = locate
        out[n, O_STOCK] = stock
        n += 1
    return n


@njit(cache=True, nogil=True, inline="always")
def quoted(state, locate, side, price):
    """Record that the order ``side`` (ord('B') / ord('S')) at ``price`` passed risk and was
    sent. Only then is the side quoted at that price: recording it in :func:`decide` would
    leave a refused or unsent quote unrepeated until the price moved."""
    if side == 66:
        state[locate, _LAST_BID] = price
    else:
        state[locate, _LAST_ASK] = price
