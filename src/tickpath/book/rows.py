"""The rows the books write while they apply events, for export (Parquet, see docs/parquet.md):
fixed-width numpy records, declared once, written by :func:`tickpath.book.apply_rows.
apply_batch_rows` into preallocated arrays and handed on in batches
(:class:`tickpath.book.row_buffers.RowBuffers`).

Three tables, each optional:

* ``events``: one row per applied book-changing message (ITCH A F E C X D U), with what the
  book knew about the order: the side and price of the order an E, X or D touched, the
  shares a D removed::

      time_ns | ref | new_ref | match | offset | price | shares | locate | type | side

* ``top``: one row per applied book-changing message after which the instrument's best bid,
  its size, best ask or its size differ from the row before for that instrument (the top
  changed; 0 for an empty side)::

      time_ns | offset | bid_shares | ask_shares | bid_price | ask_price | locate

* ``trades``: one row per execution or trade message applied (E, C, P, Q): price, shares,
  the resting order's side (E and C: the order's; P: its buy/sell indicator; Q: 0, a cross
  has none), match number and printable flag (E, P, Q: 'Y'; C: its own)::

      time_ns | ref | match | shares | offset | price | locate | type | resting_side | printable

``time_ns`` is the message's timestamp as the feed sends it (ITCH: ns since midnight, the
venue's local time); ``offset`` is where the message starts in the input stream; prices are
the feed's integers (ITCH Price(4): 1/10,000 dollar); ``type``, ``side`` and the flags are
the ASCII bytes of the feed ('A', 'B', 'Y', ...).
"""

from __future__ import annotations

import numpy as np

EVENT_ROW = np.dtype(
    [
        ("time_ns", np.uint64),
        ("ref", np.uint64),
        ("new_ref", np.uint64),  # U: the new reference; else 0
        ("match", np.uint64),  # E, C: the match number; else 0
        ("offset", np.uint64),
        ("price", np.uint32),
        ("shares", np.uint32),
        ("locate", np.uint16),
        ("type", np.uint8),
        ("side", np.uint8),
    ],
    align=True,
)

TOP_ROW = np.dtype(
    [
        ("time_ns", np.uint64),
        ("offset", np.uint64),
        ("bid_shares", np.uint64),
        ("ask_shares", np.uint64),
        ("bid_price", np.uint32),
        ("ask_price", np.uint32),
        ("locate", np.uint16),
    ],
    align=True,
)

TRADE_ROW = np.dtype(
    [
        ("time_ns", np.uint64),
        ("ref", np.uint64),
        ("match", np.uint64),
        ("shares", np.uint64),
        ("offset", np.uint64),
        ("price", np.uint32),
        ("locate", np.uint16),
        ("type", np.uint8),
        ("resting_side", np.uint8),
        ("printable", np.uint8),
    ],
    align=True,
)

#: table name -> its row dtype, in the order of the kernel's ``fill`` counters
TABLES: dict[str, np.dtype] = {"events": EVENT_ROW, "top": TOP_ROW, "trades": TRADE_ROW}
EVENTS, TOP, TRADES = 0, 1, 2
#: ``fill[DIRECTORY]``: stock directory messages noted (their stream offsets, ``directory``)
DIRECTORY = 3
N_FILL = 4
