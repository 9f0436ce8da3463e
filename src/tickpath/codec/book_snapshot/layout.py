"""Book Snapshot: tickpath's full price-level snapshot of one instrument's book, as data.

A message of the equities snapshot feed (docs/snapshot-feed.md). It is not an ITCH 5.0
message (its type, ``'b'``, is none of ITCH's), but its first 11 bytes are shaped like
ITCH's common header, so the venue's ITCH stamper (:mod:`tickpath.venue.stamping`) writes the
send time into it unchanged. Carried as MoldUDP64 message blocks on a session of its own.
Every number is big-endian::

    0     1        3          5            11            19                27   28   29
    +-----+--------+----------+------------+-------------+-----------------+----+----+------
    | 'b' | locate | tracking | timestamp  | stock       | sequence number | nb | na | levels
    | u8  | u16    | u16      | u48        | 8 alpha     | u64             | u8 | u8 | ...
    +-----+--------+----------+------------+-------------+-----------------+----+----+------

    level (10 bytes), nb bids best (highest) first, then na asks best (lowest) first:
    +-------------+-------------+---------+
    | price u32   | shares u32  | orders  |
    | Price(4)    |             | u16     |
    +-------------+-------------+---------+

The message is exactly ``HEADER_LEN + LEVEL_LEN * (nb + na)`` bytes. ``sequence number`` is the
MoldUDP64 sequence number, on the incremental feed, of the ITCH message after which the book
was as shown. A level's shares and orders saturate at their fields' maximum (a level never
holds that many on any real day; the replica's own counts are wider).
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

#: the message type byte: ``'b'`` (no ITCH 5.0 message has it)
MESSAGE_TYPE = ord("b")

TYPE_OFFSET = 0
LOCATE_OFFSET = 1
TRACKING_OFFSET = 3
TIMESTAMP_OFFSET = 5  # as ITCH's: the stamper rewrites these 6 bytes at send
STOCK_OFFSET = 11
SEQUENCE_OFFSET = 19
BID_COUNT_OFFSET = 27
ASK_COUNT_OFFSET = 28
HEADER_LEN = 29

# within a level
PRICE_OFFSET = 0
SHARES_OFFSET = 4
ORDERS_OFFSET = 8
LEVEL_LEN = 10

MAX_SHARES = 0xFFFF_FFFF  # a level's shares saturate here
MAX_ORDERS = 0xFFFF  # a level's order count saturates here
MAX_COUNT = 0xFF  # a side's level count is one byte
#: the deepest the venue writes: a two-sided book of 64 levels a side is 1,309 bytes, so it
#: fits one MoldUDP64 packet of 1,400 bytes with its header and block length
MAX_DEPTH = 64
DEFAULT_DEPTH = 10
#: the stock field of an instrument the directory never named: eight spaces
BLANK_STOCK = 0x2020_2020_2020_2020


@dataclass(frozen=True)
class Field:
    name: str
    offset: int  #: from the start of the message (the type byte)
    width: int
    kind: str  #: integer | alpha | price (ITCH Price(4): 4 implied decimals)
    meaning: str


FIELDS = (
    Field("message_type", TYPE_OFFSET, 1, "alpha", "'b': Book Snapshot"),
    Field("stock_locate", LOCATE_OFFSET, 2, "integer", "the instrument, as on the ITCH feed"),
    Field("tracking_number", TRACKING_OFFSET, 2, "integer",
          "the ITCH message's tracking number"),
    Field("timestamp", TIMESTAMP_OFFSET, 6, "integer",
          "ns since midnight New York time: the send time (stamped as the packet leaves)"),
    Field("stock", STOCK_OFFSET, 8, "alpha", "the symbol, space padded on the right"),
    Field("sequence_number", SEQUENCE_OFFSET, 8, "integer",
          "the incremental feed's MoldUDP64 sequence number of the ITCH message this book "
          "reflects"),
    Field("bid_levels", BID_COUNT_OFFSET, 1, "integer", "bid levels that follow"),
    Field("ask_levels", ASK_COUNT_OFFSET, 1, "integer", "ask levels that follow the bids"),
)

LEVEL_FIELDS = (
    Field("price", PRICE_OFFSET, 4, "price", "the level's price"),
    Field("shares", SHARES_OFFSET, 4, "integer", "displayed shares at the price"),
    Field("orders", ORDERS_OFFSET, 2, "integer", "displayed orders at the price"),
)


def message_length(bids: int, asks: int) -> int:
    """The length of a Book Snapshot with ``bids`` and ``asks`` levels."""
    return HEADER_LEN + LEVEL_LEN * (bids + asks)


def largest_message(depth: int) -> int:
    """The longest Book Snapshot of ``depth`` levels a side."""
    return message_length(depth, depth)


class Refusal(enum.IntEnum):
    """Why a receiver refused a message (0: it did not)."""

    OK = 0
    SHORT = 1  # shorter than the 29-byte header
    UNKNOWN_TYPE = 2  # not 'b'
    LENGTH = 3  # the level counts do not match the message's length (levels past its end)
    TOO_DEEP = 4  # a side has more levels than the receiver keeps
    LOCATE = 5  # a stock locate beyond the receiver's table
    BAD_LEVELS = 6  # a level with no shares, or a side not strictly best first


REFUSAL_TEXT = {
    Refusal.OK: "ok",
    Refusal.SHORT: "shorter than the Book Snapshot header (29 bytes)",
    Refusal.UNKNOWN_TYPE: "not a Book Snapshot (type 'b')",
    Refusal.LENGTH: "level counts do not match the message length",
    Refusal.TOO_DEEP: "more levels a side than this receiver keeps",
    Refusal.LOCATE: "stock locate beyond this receiver's table",
    Refusal.BAD_LEVELS: "a level with no shares, or prices not strictly best first",
}
