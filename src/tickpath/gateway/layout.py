"""The gateway's state, declared once as data: our orders, our positions, the totals.

Everything here is written by the gateway's compiled kernels (:mod:`tickpath.gateway.orders`)
from what the venue says (OUCH outbound messages) and what we sent, and read by strategies
(:mod:`tickpath.strategy`) and pre-trade risk (:mod:`tickpath.risk`).

**Orders** (:data:`ORDER_DTYPE`): one row per order we sent, at slot ``user_ref & (capacity -
1)`` of a power-of-two table (``user_ref`` is the OUCH UserRefNum, increasing through the
day). A new order whose slot still holds an open order (or a reserved replacement, below) is
refused (the table is full), never overwritten. A replace we send reserves the replacement's
row at once (state NONE, ``user_ref`` and ``replaces`` set, not open, no exposure); the
venue's Order Replaced makes it live. State machine::

    PENDING_NEW ─accepted─▶ ACCEPTED ─executed─▶ PARTIAL ─executed─▶ FILLED
         │                    │  │                  │
         └─rejected─▶ REJECTED │  └──cancel sent──▶ CANCEL_PENDING ─canceled─▶ CANCELED
                               └──replace sent──▶ REPLACE_PENDING ─replaced─▶ (a new row, the
                                                  old one REPLACED)

**Positions** (:data:`POSITION_DTYPE`): one row per instrument (ITCH stock locate), booked only
from fills (Order Executed), never from sends. ``cash`` is signed Price(4) x shares (a buy
takes cash, a sell brings it). Open-order exposure (``open_buy``/``open_sell`` and their
notionals) counts every order from the moment it is sent until the venue says it is done; an
instrument's open orders are a doubly linked list through the order table (``open_head``,
``next_open``/``prev_open``), so risk (self-trade prevention) and strategies (our quotes) walk
only the few that are open.

**Totals** (:class:`Total`): one int64 array. P&L in Price(4) units = ``CASH + MARKED``, where
``MARKED`` is the sum over instruments of position x mark, kept incrementally (a fill or a new
mark changes it by the difference), so no kernel walks every instrument.
"""

from __future__ import annotations

import enum

import numpy as np

from ..book.records import MAX_LOCATE


class OrderState(enum.IntEnum):
    NONE = 0  # an empty slot
    PENDING_NEW = 1  # sent, not yet accepted
    ACCEPTED = 2  # resting, nothing filled
    PARTIAL = 3  # resting, some filled
    FILLED = 4
    CANCELED = 5  # by us, by the venue (IOC remainder, self-trade prevention), or mass cancel
    REJECTED = 6
    CANCEL_PENDING = 7  # cancel sent, not yet confirmed
    REPLACE_PENDING = 8  # replace sent, not yet confirmed
    REPLACED = 9  # replaced by another row (``replaced_by``)


#: states in which an order may still trade (counts in open-order exposure)
OPEN_STATES = (OrderState.PENDING_NEW, OrderState.ACCEPTED, OrderState.PARTIAL,
               OrderState.CANCEL_PENDING, OrderState.REPLACE_PENDING)

ORDER_DTYPE = np.dtype([
    ("user_ref", np.int64),  # OUCH UserRefNum (u32); 0 = empty slot
    ("instrument", np.int64),  # ITCH stock locate
    ("symbol", np.int64),  # the 8 symbol bytes, big-endian (as the books keep them)
    ("price", np.int64),  # Price(4); for a market order the market price flag
    ("qty", np.int64),  # shares as entered (or as replaced)
    ("leaves", np.int64),  # shares still open at the venue
    ("filled", np.int64),  # shares executed, cumulative
    ("fill_notional", np.int64),  # sum of executed shares x price (average = / filled)
    ("order_ref", np.int64),  # the venue's order reference number (Order Accepted)
    ("trigger", np.int64),  # MoldUDP64 sequence number of the packet that triggered it
    ("sent_ns", np.int64),  # CLOCK_REALTIME when it was sent
    ("update_ns", np.int64),  # when its state last changed
    ("replaces", np.int64),  # the user_ref this order replaced (0: none)
    ("replaced_by", np.int64),  # the user_ref that replaced it (0: none)
    ("pending_qty", np.int64),  # the quantity a pending replace asks for
    ("pending_price", np.int64),  # the price a pending replace asks for
    ("ahead", np.int64),  # estimated shares ahead of it in the venue's queue (-1: unknown)
    ("reason", np.int64),  # the venue's reject or cancel reason (0: none)
    ("next_open", np.int32),  # the instrument's next open order (slot), -1: the last
    ("prev_open", np.int32),  # the instrument's previous open order (slot), -1: the first
    ("side", np.uint8),  # ord('B') / ord('S')
    ("tif", np.uint8),  # OUCH time in force byte
    ("state", np.uint8),  # OrderState
    # the state a pending cancel or replace returns to when it ends without closing the
    # order (PENDING_NEW, ACCEPTED or PARTIAL; fills while pending move it to PARTIAL)
    ("prior_state", np.uint8),
    ("pad", np.uint8, (4,)),
])

POSITION_DTYPE = np.dtype([
    ("position", np.int64),  # shares, + long / - short, from fills only
    ("bought", np.int64),  # shares bought today
    ("sold", np.int64),
    ("cash", np.int64),  # Price(4) x shares: sells add, buys take
    ("open_buy", np.int64),  # shares in open buy orders
    ("open_sell", np.int64),
    ("open_buy_notional", np.int64),  # Price(4) x shares of open buy orders
    ("open_sell_notional", np.int64),
    ("mark", np.int64),  # the last mark price, Price(4) (0: none yet)
    ("orders", np.int64),  # orders sent
    ("fills", np.int64),  # executions
    ("rejects", np.int64),  # orders the venue rejected
    ("open_head", np.int64),  # first of this instrument's open orders (slot), -1: none
])


class Total(enum.IntEnum):
    """Words of the totals array."""

    CASH = 0  # sum of positions' cash
    MARKED = 1  # sum of position x mark
    OPEN_NOTIONAL = 2  # sum of open orders' notional, both sides, every instrument
    OPEN_ORDERS = 3  # orders in an open state
    ORDERS = 4  # orders sent
    FILLS = 5
    REJECTS = 6  # venue rejects, all day
    CANCELS = 7
    NEXT_USER_REF = 8  # the next UserRefNum to send (never reused, even after a restart)
    LAST_SEQ = 9  # the last SoupBinTCP sequence number applied
    # venue messages counted and not applied (:mod:`tickpath.gateway.orders`)
    UNKNOWN_REF = 10  # a UserRefNum we never sent (or whose slot was reused since)
    BAD_TRANSITION = 11  # a message the order's state cannot take (accepted twice, ...)
    BAD_QTY = 12  # a fill or cancel of 0 shares, or of more than the order has open
    IGNORED = 13  # messages with no effect on orders (system event, priority update, ...)
    GROSS_POSITION = 14  # sum of |position| over every instrument (kept at each fill)


N_TOTALS = 16


def new_orders(capacity: int = 1 << 16) -> np.ndarray:
    """An empty order table of ``capacity`` rows (a power of two)."""
    if capacity <= 0 or capacity & (capacity - 1):
        raise ValueError(f"order table capacity {capacity} is not a power of two")
    out = np.zeros(capacity, ORDER_DTYPE)
    out["next_open"] = out["prev_open"] = -1
    return out


def new_positions(instruments: int = MAX_LOCATE) -> np.ndarray:
    out = np.zeros(instruments, POSITION_DTYPE)
    out["open_head"] = -1
    return out


def new_totals() -> np.ndarray:
    out = np.zeros(N_TOTALS, np.int64)
    out[Total.NEXT_USER_REF] = 1
    return out


def pnl(totals: np.ndarray) -> int:
    """Profit and loss in Price(4) units (dollars x 10^4), cash plus marked positions."""
    return int(totals[Total.CASH] + totals[Total.MARKED])
