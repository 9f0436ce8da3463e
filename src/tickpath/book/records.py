"""Order-book state, declared once as numpy records.

Orders live in an open-addressing hash table keyed by order reference number (linear probing,
backward-shift deletion, so no tombstones build up over a day of hundreds of millions of
references). Each order points at its price level. Levels come from one pool shared by every
instrument; each side of each book is a doubly linked list of levels, best price at the head::

    heads[locate, side] -> level -> level -> ...     (bids descending, asks ascending)
    order: ref | shares | price | level | locate | side

Best bid/offer is the head (O(1)); depth N walks N links; an order's level is one index away.
"""

from __future__ import annotations

import enum

import numpy as np

#: Hash slot marker: no order. That one reference number is refused as malformed.
EMPTY_REF = np.uint64(0xFFFF_FFFF_FFFF_FFFF)
NO_LEVEL = -1
BID, ASK = 0, 1
#: Locate codes are 16-bit: every possible instrument has a slot.
MAX_LOCATE = 1 << 16

ORDER_DTYPE = np.dtype(
    [
        ("ref", np.uint64),
        ("shares", np.uint32),
        ("price", np.uint32),
        ("level", np.int32),
        ("locate", np.uint16),
        ("side", np.uint8),
        ("pad", np.uint8),
    ],
    align=True,
)

LEVEL_DTYPE = np.dtype(
    [
        ("shares", np.uint64),
        ("price", np.uint32),
        ("orders", np.uint32),
        ("next", np.int32),
        ("prev", np.int32),
    ],
    align=True,
)


class Stat(enum.IntEnum):
    """Indices of the book store's int64 statistics array."""

    LIVE_ORDERS = 0
    LIVE_LEVELS = 1
    FREE_TOP = 2  # levels in the free stack (state)
    ADDS = 3
    EXECUTIONS = 4
    CANCELS = 5
    DELETES = 6
    REPLACES = 7
    REJECTED = 8  # messages refused (counted; the books untouched)
    MAX_LIVE_ORDERS = 9  # high-water mark
    MAX_LIVE_LEVELS = 10
    EVENTS = 11  # events seen by apply


N_STATS = len(Stat)


class PerInstrument(enum.IntEnum):
    """Columns of the per-instrument int64 counters ``inst[locate, column]``."""

    MESSAGES = 0  # book messages applied
    LOCKED = 1  # updates after which the book was locked (best bid == best ask)
    CROSSED = 2  # updates after which the book was crossed (best bid > best ask)
    EXECUTED_SHARES = 3  # displayed shares executed (E, C)
    ORDERS = 4  # live orders
    DIRECTORY = 5  # 1 once a stock directory message named this locate


N_PER_INSTRUMENT = len(PerInstrument)
