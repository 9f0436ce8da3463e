"""The LOBSTER replay's state, declared once: counters, the mismatch record, synthetic orders.

A LOBSTER file starts mid-day on a book whose orders were never submitted in it, and holds
only the events inside its LEVEL-level window. What the messages cannot say is taken from the
orderbook file, as *synthetic orders*: one per (side, price), with a reference number no
LOBSTER order id can have::

    ref = SYNTHETIC | side << 32 | price        (side: BID 0, ASK 1, as the books have it)

They stand for shares whose orders the file never showed: the start of the day's book, and
levels that come into the window from below it. A delete, cancel or execution of an order id
never seen takes its shares from the synthetic order at its side and price.
"""

from __future__ import annotations

import enum

import numpy as np

#: bit 62 marks a synthetic reference (LOBSTER ids are far below it; the reader refuses more)
SYNTHETIC = np.uint64(1 << 62)
#: the one instrument of a file, as a stock locate in the books
LOCATE = 1


def synthetic_ref(side: int, price: int) -> int:
    """The reference number of the synthetic order at ``side`` (0 bid, 1 ask) and ``price``."""
    return (1 << 62) | (int(side) << 32) | int(price)


class Counter(enum.IntEnum):
    """Indices of the replay's int64 counters."""

    SEEDED_LEVELS = 0  # levels of the first book put on as synthetic orders
    SEED_HITS = 1  # unknown order ids whose shares came off a synthetic order
    UNKNOWN = 2  # unknown order ids with (some of) their shares found nowhere
    UNKNOWN_SHARES = 3  # the shares those messages could not take off
    REVEALS = 4  # levels set from the orderbook file as they came into the window from below
    RETIRED = 5  # orders taken off because their level came back into view with fewer shares
    ROWS_CHECKED = 6
    MISMATCH_ROWS = 7
    MISMATCH_CELLS = 8  # (level, side) pairs that differ, over all rows
    MISMATCHES_KEPT = 9  # records in the mismatch array
    UNKNOWN_KEPT = 10  # rows in the unknown-rows array


N_COUNTERS = len(Counter)

#: one (row, level, side) whose book differs from the orderbook file. Rows and levels count
#: from 1; side 0 bid, 1 ask; an empty level is reported as the file writes it (size 0).
MISMATCH_DTYPE = np.dtype(
    [
        ("row", np.int64),
        ("level", np.int64),
        ("side", np.int64),
        ("expected_price", np.int64),
        ("expected_size", np.int64),
        ("got_price", np.int64),
        ("got_size", np.int64),
    ]
)
