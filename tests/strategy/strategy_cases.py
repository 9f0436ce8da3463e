"""Helpers for the strategy tests: records as the feed writes them."""

from __future__ import annotations

import numpy as np

from tickpath.codec.itch50.layout import stock_code
from tickpath.strategy.records import BOOK, STATUS, TOP_DTYPE, TRADE


def code(symbol: str) -> int:
    return int(np.uint64(stock_code(symbol)).view(np.int64))


def book_record(locate: int, bid: int, bid_sh: int, ask: int, ask_sh: int,
                symbol: str = "ABCD", seq: int = 1) -> np.ndarray:
    """One book record's payload as int64 words (the ring's view of it)."""
    r = np.zeros(1, TOP_DTYPE)
    r["locate"], r["stock"], r["kind"], r["sequence"] = locate, code(symbol), BOOK, seq
    r["bid_price"], r["bid_shares"], r["ask_price"], r["ask_shares"] = bid, bid_sh, ask, ask_sh
    return r.view(np.int64).copy()


def status_record(locate: int, exact: bool, seq: int = 1) -> np.ndarray:
    """A STATUS record: ``locate``'s book (-1: every book) exact again, or not known to be."""
    r = np.zeros(1, TOP_DTYPE)
    r["locate"], r["kind"], r["sequence"] = locate, STATUS, seq
    r["bid_price"] = int(exact)
    return r.view(np.int64).copy()


def trade_record(locate: int, price: int, qty: int, aggressor: str, symbol: str = "ABCD",
                 seq: int = 1) -> np.ndarray:
    r = np.zeros(1, TOP_DTYPE)
    r["locate"], r["stock"], r["kind"], r["sequence"] = locate, code(symbol), TRADE, seq
    r["bid_price"], r["bid_shares"], r["ask_price"] = price, qty, ord(aggressor)
    return r.view(np.int64).copy()
