"""The records the feed stage hands the strategy stage: a changed book, a trade, or a change
of a book's status (exact, or not known to be).

For each datagram that changed books or printed trades, the feed's compiled step writes one
record per trade (E, C, P executions, in message order) and then one record per instrument
whose book changed (in the order of first change), each into a slot of an SPSC ring
(:mod:`tickpath.ring`) as int64 words, read by the strategy stage from the same words. Trades
come first so that a consumer that tracks queue positions decrements on the prints and then
caps against the book they left. Slot = 16 words (128 bytes): the ring's sequence word, then
this payload::

    word  book record (KIND = BOOK)       trade record (KIND = TRADE)
    0     locate                          locate
    1     stock (8 symbol bytes, big-endian, as the books keep them)
    2     bid_price  best bid, Price(4)   price of the execution, Price(4)
    3     bid_shares                      shares executed
    4     ask_price  best offer           aggressor side: ord('B') buyer, ord('S') seller
    5     ask_shares                      0
    6     events     ITCH messages in the datagram
    7     venue_sent the stamps so far, epoch ns (telemetry.stamps BOUNDARIES 0..5)
    8     received
    9     parsed
    10    decoded
    11    booked
    12    enqueued   taken just before the record is published
    13    kind       BOOK (0), TRADE (1) or STATUS (2)
    14    sequence   MoldUDP64 sequence number of the message behind the record (a book's last
                     change in the datagram; the execution)

A book record's prices are 0 where the side is empty. A STATUS record says the books stopped
or started again being known exact: ``locate`` the instrument (-1: every instrument, as for
a MoldUDP64 gap, which may hide any instrument's messages), word 2 (``STATUS_EXACT``) 1 when
exact again, 0 when not; it comes in stream order with the others, so the records before it
were built on the books as they were.

Two feeds write these records, each into a ring of its own, in the same units, so one
strategy can trade an index future against stocks and send both sides' orders in OUCH:

* ITCH (:mod:`tickpath.feed.itch.step`): locates are ITCH's Stock Locate (1..N), ``stock``
  its 8 space-padded symbol bytes, prices Price(4) (1e-4 dollars), quantities shares,
  ``sequence`` MoldUDP64 sequence numbers, ``events`` ITCH messages.
* CME MDP 3.0 (:mod:`tickpath.feed.mdp3.tap`): locates are ``locate_base`` + the feed's
  instrument row (32,768 on by default, clear of ITCH's), ``stock`` the first 8 bytes of the
  definition's Symbol, space-padded (the contract's OUCH symbol, ``TPZ6    ``), prices the
  conventional price (display price x DisplayFactor) in the same 1e-4 units (an OUCH price
  at the futures venue: TPZ6 at 4500.25 index points is 45002500), quantities contracts,
  ``sequence`` the packet's MsgSeqNum (for a snapshot-loop packet's records, the last
  incremental one taken), ``events`` MDP3 messages in the packet, venue_sent its
  SendingTime. A book record is the outright book's level 1, published when it moved;
  STATUS records are per contract (never -1): not exact while it waits for the snapshot
  loop (a gap, a RptSeq jump, a channel reset, or not seen live yet), exact once repaired.
"""

from __future__ import annotations

import numpy as np

from ..telemetry.stamps import ENQUEUED

LOCATE, STOCK, BID_PRICE, BID_SHARES, ASK_PRICE, ASK_SHARES, EVENTS = range(7)
# the same words in a trade record
TRADE_PRICE, TRADE_QTY, TRADE_SIDE = BID_PRICE, BID_SHARES, ASK_PRICE
#: payload word of boundary k (k = VENUE_SENT .. ENQUEUED of telemetry.stamps)
STAMP0 = 7
N_CARRIED = ENQUEUED + 1  # boundaries the record carries: venue_sent .. enqueued
KIND = STAMP0 + N_CARRIED  # 13
SEQUENCE = KIND + 1  # 14
STATUS_EXACT = BID_PRICE
BOOK, TRADE, STATUS = 0, 1, 2
TOP_WORDS = 15
SLOT_SIZE = (TOP_WORDS + 1) * 8  # 128 bytes: seq word + payload

TOP_DTYPE = np.dtype([
    ("locate", np.int64), ("stock", np.int64), ("bid_price", np.int64),
    ("bid_shares", np.int64), ("ask_price", np.int64), ("ask_shares", np.int64),
    ("events", np.int64), ("venue_sent", np.int64), ("received", np.int64),
    ("parsed", np.int64), ("decoded", np.int64), ("booked", np.int64), ("enqueued", np.int64),
    ("kind", np.int64), ("sequence", np.int64),
])
assert TOP_DTYPE.itemsize == TOP_WORDS * 8
assert TOP_DTYPE.names.index("kind") == KIND and TOP_DTYPE.names.index("sequence") == SEQUENCE

