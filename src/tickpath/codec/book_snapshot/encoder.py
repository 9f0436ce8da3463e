"""Compiled Book Snapshot writers: the header, then one level at a time (the venue walks its
book and writes each level as it goes, :mod:`tickpath.venue.snapshot_feed`)."""

from __future__ import annotations

import numpy as np
from numba import njit

from ..itch50.encoder import put16, put32, put48, put64
from .layout import (
    ASK_COUNT_OFFSET,
    BID_COUNT_OFFSET,
    LOCATE_OFFSET,
    MAX_ORDERS,
    MAX_SHARES,
    MESSAGE_TYPE,
    ORDERS_OFFSET,
    PRICE_OFFSET,
    SEQUENCE_OFFSET,
    SHARES_OFFSET,
    STOCK_OFFSET,
    TIMESTAMP_OFFSET,
    TRACKING_OFFSET,
)


@njit(cache=True, nogil=True)
def put_header(out, p, locate, tracking, timestamp, stock, seq, bids, asks):
    """Write a Book Snapshot's 29-byte header at ``out[p]`` (``stock``: the 8 bytes as a
    big-endian integer, as ITCH events carry it)."""
    out[p] = MESSAGE_TYPE
    put16(out, p + LOCATE_OFFSET, np.int64(locate))
    put16(out, p + TRACKING_OFFSET, np.int64(tracking))
    put48(out, p + TIMESTAMP_OFFSET, np.int64(timestamp))
    put64(out, p + STOCK_OFFSET, np.uint64(stock))
    put64(out, p + SEQUENCE_OFFSET, np.uint64(seq))
    out[p + BID_COUNT_OFFSET] = bids
    out[p + ASK_COUNT_OFFSET] = asks


@njit(cache=True, nogil=True)
def put_level(out, p, price, shares, orders):
    """Write one 10-byte level at ``out[p]``; shares and orders saturate at their fields'
    maximum."""
    s = np.uint64(shares)
    o = np.uint64(orders)
    put32(out, p + PRICE_OFFSET, np.int64(price))
    put32(out, p + SHARES_OFFSET, np.int64(min(s, np.uint64(MAX_SHARES))))
    put16(out, p + ORDERS_OFFSET, np.int64(min(o, np.uint64(MAX_ORDERS))))
