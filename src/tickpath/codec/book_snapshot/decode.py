"""Compiled Book Snapshot readers: check a whole message before anything reads it as a book
(:func:`check`), then field readers. Indices are unsigned, as in the ITCH decoder."""

from __future__ import annotations

import numpy as np
from numba import njit

from ..itch50.decode import be16, be32, be48, be64
from .layout import (
    ASK_COUNT_OFFSET,
    BID_COUNT_OFFSET,
    HEADER_LEN,
    LEVEL_LEN,
    LOCATE_OFFSET,
    MESSAGE_TYPE,
    ORDERS_OFFSET,
    PRICE_OFFSET,
    SEQUENCE_OFFSET,
    SHARES_OFFSET,
    STOCK_OFFSET,
    TIMESTAMP_OFFSET,
    Refusal,
)

_OK = int(Refusal.OK)
_SHORT = int(Refusal.SHORT)
_UNKNOWN_TYPE = int(Refusal.UNKNOWN_TYPE)
_LENGTH = int(Refusal.LENGTH)
_TOO_DEEP = int(Refusal.TOO_DEEP)
_LOCATE = int(Refusal.LOCATE)
_BAD_LEVELS = int(Refusal.BAD_LEVELS)
_U = np.uint64


@njit(cache=True, nogil=True)
def check(buf, p, n, max_depth, max_locates):
    """Check the ``n``-byte message at ``buf[p]`` (the caller made sure ``buf`` holds it):
    type, length against the level counts, each count within ``max_depth``, the locate below
    ``max_locates``, every level with shares and each side strictly best first. Returns a
    :class:`~tickpath.codec.book_snapshot.layout.Refusal` code (0: a book to take)."""
    p = _U(p)
    if n < HEADER_LEN:
        return _SHORT
    if buf[p] != MESSAGE_TYPE:
        return _UNKNOWN_TYPE
    nb = np.int64(buf[p + _U(BID_COUNT_OFFSET)])
    na = np.int64(buf[p + _U(ASK_COUNT_OFFSET)])
    if n != HEADER_LEN + LEVEL_LEN * (nb + na):
        return _LENGTH
    if nb > max_depth or na > max_depth:
        return _TOO_DEEP
    if np.int64(be16(buf, p + _U(LOCATE_OFFSET))) >= max_locates:
        return _LOCATE
    q = p + _U(HEADER_LEN)
    prev = _U(0)
    for i in range(nb):  # bids: prices strictly falling
        price = be32(buf, q + _U(PRICE_OFFSET))
        if be32(buf, q + _U(SHARES_OFFSET)) == 0 or (i > 0 and price >= prev):
            return _BAD_LEVELS
        prev = price
        q += _U(LEVEL_LEN)
    for i in range(na):  # asks: prices strictly rising
        price = be32(buf, q + _U(PRICE_OFFSET))
        if be32(buf, q + _U(SHARES_OFFSET)) == 0 or (i > 0 and price <= prev):
            return _BAD_LEVELS
        prev = price
        q += _U(LEVEL_LEN)
    return _OK


@njit(cache=True, nogil=True)
def locate_of(buf, p):
    return np.int64(be16(buf, _U(p) + _U(LOCATE_OFFSET)))


@njit(cache=True, nogil=True)
def timestamp_of(buf, p):
    return np.int64(be48(buf, _U(p) + _U(TIMESTAMP_OFFSET)))


@njit(cache=True, nogil=True)
def stock_of(buf, p):
    return be64(buf, _U(p) + _U(STOCK_OFFSET))


@njit(cache=True, nogil=True)
def sequence_of(buf, p):
    return np.int64(be64(buf, _U(p) + _U(SEQUENCE_OFFSET)))


@njit(cache=True, nogil=True)
def counts_of(buf, p):
    """``(bid levels, ask levels)`` of the message at ``buf[p]``."""
    p = _U(p)
    return np.int64(buf[p + _U(BID_COUNT_OFFSET)]), np.int64(buf[p + _U(ASK_COUNT_OFFSET)])


@njit(cache=True, nogil=True)
def level_of(buf, p, i):
    """``(price, shares, orders)`` of level ``i`` (bids first, then asks) of the message at
    ``buf[p]``."""
    q = _U(p) + _U(HEADER_LEN) + _U(i) * _U(LEVEL_LEN)
    return (be32(buf, q + _U(PRICE_OFFSET)), be32(buf, q + _U(SHARES_OFFSET)),
            be16(buf, q + _U(ORDERS_OFFSET)))
