"""Order-book state, declared once as numpy records.

Orders live in one table of ``2 * W`` records (``W = mask + 1``, a power of two), in two halves:

* the *window* ``[0, W)``: an order's slot is its reference number modulo ``W``. ITCH order
  references are unique per day and increase as orders arrive, so the live orders of the
  last ``W`` references never collide, an add writes the slot after the last one, and the
  orders a message reaches are mostly recent ones, near each other in memory: one load finds
  an order, with no probe chain.
* the *overflow* ``[W, 2W)``: an open-addressing hash table (Fibonacci hashing, linear probing,
  backward-shift deletion, so no tombstones build up) for the few orders whose window slot
  was taken when they arrived: an order still live ``W`` references later, or references
  that do not increase (another feed, a test aiming collisions).

A lookup reads the window slot and, when the order is not there, the overflow (an order that
went to the overflow stays there after its window slot empties). An add whose reference is
above every reference seen (``Stat.REF_TOP``) cannot be a duplicate, so it skips even that;
nor can one whose window slot holds another order while the overflow is empty. The table
holds at most ``W / 2`` live orders, so the overflow is at most half full.

Each order points at its price level; the level holds the price, the instrument and the
side, so an order record is 16 bytes (four to a cache line). Levels come from one pool
shared by every instrument; each side of each book is a doubly linked list of levels, best
price at the head::

    heads[locate, side] -> level -> level -> ...     (bids descending, asks ascending)
    order: ref | shares | level        level: shares | price | orders | next | prev | locate | side

Best bid/offer is the head (O(1)); depth N walks N links; an order's level is one index away.
Orders of one level are in time priority by reference number (ITCH references increase;
a replace takes a new one, a partial execution keeps its own).
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
        ("level", np.int32),
    ],
    align=True,
)  # 16 bytes: locate, side and price are the level's

LEVEL_DTYPE = np.dtype(
    [
        ("shares", np.uint64),
        ("price", np.uint32),
        ("orders", np.uint32),
        ("next", np.int32),
        ("prev", np.int32),
        ("locate", np.uint16),
        ("side", np.uint8),
        ("pad", np.uint8),
    ],
    align=True,
)  # 32 bytes: two to a cache line


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
    OVERFLOW_ORDERS = 12  # live orders in the overflow table (their window slot was taken)
    REF_TOP = 13  # highest reference added + 1, as uint64 bits (state; 0: none yet)


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
