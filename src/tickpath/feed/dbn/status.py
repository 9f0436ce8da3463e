"""Status codes and counters of the DBN handlers, beside the book kernels' own codes.

The order-by-order kernels' statuses (:mod:`tickpath.book.mdp3`, 0..20) pass through
unchanged; the codes here are the DBN adapter's own refusals. Counters live in one int64
array: indices 0..255 count records by their action byte, the named ones follow.
"""

from __future__ import annotations

import enum

from ...book.mdp3 import STATUS_TEXT

BAD_SIDE = 40
CANCEL_TOO_LARGE = 41
INSTRUMENTS_FULL = 42
TOP_OF_BOOK = 43
UNKNOWN_ACTION = 44

DBN_STATUS_TEXT = dict(STATUS_TEXT)
DBN_STATUS_TEXT.update({
    BAD_SIDE: "side is not 'B' or 'A'",
    CANCEL_TOO_LARGE: "cancel size larger than the order's size",
    INSTRUMENTS_FULL: "more instruments than the books hold (raise max_instruments)",
    TOP_OF_BOOK: "a top-of-book (F_TOB) record replaces a side, which these order books "
                 "do not do",
    UNKNOWN_ACTION: "action is not one of A C M R T F N",
})


class DbnCount(enum.IntEnum):
    """Named counters after the 256 per-action ones."""

    EVENTS = 256  # records with F_LAST: ends of events
    SNAPSHOT = 257  # records with F_SNAPSHOT
    MODIFY_AS_ADD = 258  # a Modify of an order not on the book, applied as an Add
    NEXT_PRIORITY = 259  # state: the queue position the next order to join a level takes
    PRIORITY_LOST = 260  # Modifies that sent the order to the back of its level
    PRIORITY_KEPT = 261
    BOOK_CHANGES = 262  # records that changed a book (Add, Cancel, Modify, clear)
    REFUSED = 263  # counted by the owner


N_COUNTS = 256 + len(DbnCount)
