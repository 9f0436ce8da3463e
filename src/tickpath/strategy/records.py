"""The record the feed stage hands the strategy stage: top of book after an update.

One record per datagram that changed a book, written by the feed stage's compiled step into a
slot of an SPSC ring (:mod:`tickpath.ring`) as int64 words, read by the strategy stage from the
same words. Slot = 16 words (128 bytes): the ring's sequence word, then this payload::

    word  field        what
    0     locate       ITCH stock locate of the book that changed (the datagram's last update)
    1     stock        the 8 symbol bytes, big-endian, as the books keep them
    2     bid_price    best bid after the update, Price(4) (0: no bid)
    3     bid_shares   shares at the best bid
    4     ask_price    best offer after the update (0: no offer)
    5     ask_shares   shares at the best offer
    6     events       ITCH messages in the datagram
    7     venue_sent   the stamps so far, epoch ns (telemetry.stamps BOUNDARIES 0..5)
    8     received
    9     parsed
    10    decoded
    11    booked
    12    enqueued     taken just before the record is published
    13-14 reserved
"""

from __future__ import annotations

import numpy as np

from ..telemetry.stamps import ENQUEUED

LOCATE, STOCK, BID_PRICE, BID_SHARES, ASK_PRICE, ASK_SHARES, EVENTS = range(7)
#: payload word of boundary k (k = VENUE_SENT .. ENQUEUED of telemetry.stamps)
STAMP0 = 7
N_CARRIED = ENQUEUED + 1  # boundaries the record carries: venue_sent .. enqueued
TOP_WORDS = 15
SLOT_SIZE = (TOP_WORDS + 1) * 8  # 128 bytes: seq word + payload

TOP_DTYPE = np.dtype([
    ("locate", np.int64), ("stock", np.int64), ("bid_price", np.int64),
    ("bid_shares", np.int64), ("ask_price", np.int64), ("ask_shares", np.int64),
    ("events", np.int64), ("venue_sent", np.int64), ("received", np.int64),
    ("parsed", np.int64), ("decoded", np.int64), ("booked", np.int64), ("enqueued", np.int64),
    ("reserved", np.int64, (2,)),
])
assert TOP_DTYPE.itemsize == TOP_WORDS * 8

# An order a strategy asks for: one row of ORDER_WORDS int64 words in the stage's order buffer
O_SIDE, O_QTY, O_PRICE, O_LOCATE, O_STOCK = range(5)  # side: ord('B') / ord('S')
ORDER_WORDS = 5
MAX_ORDERS_PER_DECISION = 8
