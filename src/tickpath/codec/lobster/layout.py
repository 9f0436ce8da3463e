"""LOBSTER's two CSV files (lobsterdata.com), declared once as data.

Source: LOBSTER's own documentation, the "Sample Files Readme" shipped with its free sample
files (version of 1 September 2013) and the output-structure page
(https://lobsterdata.com/info/DataStructure.php), which adds event type 6. Every fact below
(column order, codes, units, the dummy values of empty levels, the halt convention) is taken
from there.

A pair of files per ticker and day, with no header line, one row per event, row ``i`` of one
file belonging to row ``i`` of the other::

    TICKER_YYYY-MM-DD_STARTMS_ENDMS_message_LEVEL.csv     N rows x 6 columns
      time , type , order id , size , price , direction
      34200.004241176,1,16113575,18,5853300,1

    TICKER_YYYY-MM-DD_STARTMS_ENDMS_orderbook_LEVEL.csv   N rows x 4*LEVEL columns
      ask price 1, ask size 1, bid price 1, bid size 1, ask price 2, ... (the book after
      the event of the same row in the message file, LEVEL occupied levels a side)

- time: seconds after midnight, decimals down to nanoseconds.
- price: dollars x 10000 (``$91.14`` is ``911400``): ITCH's Price(4) unit.
- direction: 1 buy limit order, -1 sell limit order (for an execution: the side of the
  resting order; NASDAQ masks the side of hidden orders, so type 5 says little).
- a level is an occupied price, so two levels need not be one tick apart.
- an unoccupied level is written as price -9999999999 on the bid side, +9999999999 on the
  ask side, size 0 (the readme: "The extra bid and/or ask prices are set to -9999999999 and
  9999999999, respectively").
- a trading halt is a type 7 message with price -1, a resumption of quoting one with price
  0, the resumption of trading one with price 1; direction -1, the other fields 0; the
  orderbook row repeats the one before.
- the message file holds only the events inside the requested price range (LEVEL levels a
  side): what happens deeper is not in it.
"""

from __future__ import annotations

import enum

import numpy as np


class EventType(enum.IntEnum):
    """The message file's ``type`` column."""

    SUBMIT = 1  # submission of a new limit order
    CANCEL = 2  # cancellation: partial deletion of a limit order
    DELETE = 3  # deletion: total deletion of a limit order
    EXECUTE = 4  # execution of a visible limit order
    HIDDEN = 5  # execution of a hidden limit order (no visible book change)
    CROSS = 6  # a cross trade, e.g. an auction trade
    HALT = 7  # trading halt indicator (price: -1 halt, 0 quoting resumes, 1 trading resumes)


#: direction column
BUY, SELL = 1, -1
#: type 7's price column
HALT_START, QUOTING_RESUMES, TRADING_RESUMES = -1, 0, 1

#: price of an unoccupied level, bid side and ask side, size 0
EMPTY_BID_PRICE = -9_999_999_999
EMPTY_ASK_PRICE = 9_999_999_999
#: what the reader accepts as "empty" (either sign: some tools write the ask's on both sides)
EMPTY_PRICE_ABS = 9_999_999_999

MESSAGE_COLUMNS = ("time", "type", "order_id", "size", "price", "direction")
#: the orderbook file's four columns per level, in file order
ORDERBOOK_COLUMNS = ("ask_price", "ask_size", "bid_price", "bid_size")

#: One message as the reader returns it. ``time_ns``: nanoseconds after midnight (the file's
#: decimal seconds, rounded to the nanosecond: exact for up to 9 decimals).
MESSAGE_DTYPE = np.dtype(
    [
        ("time_ns", np.int64),
        ("order_id", np.int64),
        ("size", np.int64),
        ("price", np.int64),
        ("type", np.int8),
        ("direction", np.int8),
    ],
    align=True,
)

#: prices and sizes the books hold are 32-bit (ITCH's fields): larger ones are refused
MAX_PRICE = (1 << 32) - 1
MAX_SIZE = (1 << 32) - 1
#: order ids from 2^62 up are the books' synthetic orders (the first book): refused
MAX_ORDER_ID = (1 << 62) - 1
