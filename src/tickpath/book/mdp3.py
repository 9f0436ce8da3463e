"""CME MDP 3.0 book vocabulary shared by the depth and order-by-order kernels.

The codes are the values on the wire (schema templates 46, 47, 52, 53): ``MDUpdateAction``
numbers, ``MDEntryType`` characters as bytes, and the SBE null values a decoder hands over
unchanged. The status codes form one namespace for both book kinds, so a feed handler can log
any refusal with :data:`STATUS_TEXT`.
"""

from __future__ import annotations

import numpy as np

# MDUpdateAction (tag 279)
NEW = 0
CHANGE = 1
DELETE = 2
DELETE_THRU = 3  # clear one side
DELETE_FROM = 4  # delete levels 1..MDPriceLevel
OVERLAY = 5

ACTION_NAMES = {NEW: "New", CHANGE: "Change", DELETE: "Delete", DELETE_THRU: "DeleteThru",
                DELETE_FROM: "DeleteFrom", OVERLAY: "Overlay"}

# MDEntryType (tag 269) as the byte on the wire
ENTRY_BID = ord("0")
ENTRY_OFFER = ord("1")
ENTRY_IMPLIED_BID = ord("E")
ENTRY_IMPLIED_OFFER = ord("F")
ENTRY_BOOK_RESET = ord("J")

ENTRY_NAMES = {ENTRY_BID: "bid", ENTRY_OFFER: "offer", ENTRY_IMPLIED_BID: "implied bid",
               ENTRY_IMPLIED_OFFER: "implied offer", ENTRY_BOOK_RESET: "book reset"}

# SBE null values
PRICE_NULL = (1 << 63) - 1  # PRICENULL9 mantissa
INT32_NULL = (1 << 31) - 1  # Int32NULL (MDEntrySize, NumberOfOrders, MDDisplayQty)
UINT64_NULL = (1 << 64) - 1  # uInt64NULL (OrderID in template 47, MDOrderPriority)

# Status codes returned by the kernels of depth.py and mbo.py
OK = 0
BAD_INSTRUMENT = 1
BAD_ACTION = 2
BAD_ENTRY_TYPE = 3
BAD_PRICE = 4
BAD_SIZE = 5
BAD_ORDERS = 6
NO_DEPTH = 7
BAD_LEVEL = 8
LEVEL_GAP = 9
EMPTY_LEVEL = 10
PRICE_MISMATCH = 11
DUPLICATE_LEVEL = 12
BAD_COUNT = 13
RESERVED_ID = 14
DUPLICATE_ID = 15
UNKNOWN_ID = 16
SIDE_MISMATCH = 17
INSTRUMENT_MISMATCH = 18
ORDERS_FULL = 19
LEVELS_FULL = 20

STATUS_TEXT = {
    OK: "ok",
    BAD_INSTRUMENT: "instrument index outside the books",
    BAD_ACTION: "MDUpdateAction not valid for this book",
    BAD_ENTRY_TYPE: "MDEntryType not valid for this book",
    BAD_PRICE: "null price",
    BAD_SIZE: "quantity null, zero or negative",
    BAD_ORDERS: "outright NumberOfOrders null, zero or negative",
    NO_DEPTH: "the instrument's book has depth 0 (set its depth first)",
    BAD_LEVEL: "MDPriceLevel outside 1..depth",
    LEVEL_GAP: "MDPriceLevel beyond the first empty level",
    EMPTY_LEVEL: "no price level there",
    PRICE_MISMATCH: "price differs from the level's",
    DUPLICATE_LEVEL: "snapshot has two entries for one level",
    BAD_COUNT: "entry count outside the arrays passed",
    RESERVED_ID: "OrderID 2**64-1 is the null value",
    DUPLICATE_ID: "OrderID already live",
    UNKNOWN_ID: "OrderID not live",
    SIDE_MISMATCH: "side differs from the order's",
    INSTRUMENT_MISMATCH: "instrument differs from the order's",
    ORDERS_FULL: "order table full (raise max_orders)",
    LEVELS_FULL: "price-level pool full (raise max_levels)",
}

#: status code -> its name here ("LEVEL_GAP")
STATUS_NAMES = {code: name for name, code in (
    ("OK", OK), ("BAD_INSTRUMENT", BAD_INSTRUMENT), ("BAD_ACTION", BAD_ACTION),
    ("BAD_ENTRY_TYPE", BAD_ENTRY_TYPE), ("BAD_PRICE", BAD_PRICE), ("BAD_SIZE", BAD_SIZE),
    ("BAD_ORDERS", BAD_ORDERS), ("NO_DEPTH", NO_DEPTH), ("BAD_LEVEL", BAD_LEVEL),
    ("LEVEL_GAP", LEVEL_GAP), ("EMPTY_LEVEL", EMPTY_LEVEL), ("PRICE_MISMATCH", PRICE_MISMATCH),
    ("DUPLICATE_LEVEL", DUPLICATE_LEVEL), ("BAD_COUNT", BAD_COUNT),
    ("RESERVED_ID", RESERVED_ID), ("DUPLICATE_ID", DUPLICATE_ID), ("UNKNOWN_ID", UNKNOWN_ID),
    ("SIDE_MISMATCH", SIDE_MISMATCH), ("INSTRUMENT_MISMATCH", INSTRUMENT_MISMATCH),
    ("ORDERS_FULL", ORDERS_FULL), ("LEVELS_FULL", LEVELS_FULL))}


def entry_byte(entry_type: int | str | bytes) -> int:
    """The MDEntryType byte of ``'0'``, ``b'0'`` or ``48``."""
    if isinstance(entry_type, (str, bytes)):
        if len(entry_type) != 1:
            raise ValueError(f"MDEntryType is one character, not {entry_type!r}")
        return ord(entry_type)
    return int(entry_type)


def entry_text(code: int) -> str:
    """``'0' (bid)`` for 48: how errors name an entry type."""
    name = ENTRY_NAMES.get(code)
    ch = repr(chr(code)) if 32 <= code < 127 else str(code)
    return f"{ch} ({name})" if name else ch


def put_row(arr: np.ndarray, j: int, row: tuple, names: str) -> None:
    """``arr[j] = row``, with an error naming the fields when a value does not fit."""
    try:
        arr[j] = row
    except (OverflowError, ValueError, TypeError) as exc:
        raise ValueError(f"entry {j} {names} = {row} does not fit {arr.dtype.descr}: "
                         f"{exc}") from None
