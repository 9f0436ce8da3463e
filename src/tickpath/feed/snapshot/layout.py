"""What the snapshot feed's receivers keep and count, as data.

A receiver's book of an instrument is its last Book Snapshot (docs/snapshot-feed.md): per
stock locate, per side, the levels best first, each ``(price, shares, orders)``::

    levels[locate, side, i] = (price, shares, orders)     i < counts[locate, side]
    seqs[locate]   the incremental feed's sequence number the book reflects (0: none yet)
    stocks[locate] the stock field, as a big-endian integer
"""

from __future__ import annotations

import enum

BID, ASK = 0, 1
PRICE, SHARES, ORDERS = 0, 1, 2
LEVEL_WORDS = 3
#: every stock locate ITCH can name
MAX_LOCATES = 1 << 16

Level = tuple[int, int, int]  # price, shares, orders


class Counter(enum.IntEnum):
    """Indices of the compiled receiver's int64 ``feed`` array (counters and the last
    refusal)."""

    SNAPSHOTS = 0  # Book Snapshots taken as books
    REFUSED = 1  # messages refused (the instrument's book untouched)
    SHORT = 2  # ... by reason (codec.book_snapshot.layout.Refusal)
    UNKNOWN_TYPE = 3
    LENGTH = 4
    TOO_DEEP = 5
    LOCATE = 6
    BAD_LEVELS = 7
    SAMPLES = 8  # latency samples recorded in ``lat``/``ker``
    LAST_REASON = 9  # the last refusal: its Refusal code
    LAST_OFFSET = 10  # ... the offset of the message in its datagram
    LAST_SEQ = 11  # ... its MoldUDP64 sequence number on the snapshot feed


N_COUNTERS = len(Counter)
#: the counter of each Refusal code (Refusal.SHORT .. Refusal.BAD_LEVELS)
FIRST_REASON = Counter.SHORT
