"""Our orders, positions and totals built by hand, as the gateway's kernels would leave them
(tickpath.gateway.layout): each open order linked at the head of its instrument's list and
counted in the instrument's open shares and notional and in the totals."""

from __future__ import annotations

import numpy as np

from tickpath.gateway.layout import (
    OrderState,
    Total,
    new_orders,
    new_positions,
    new_totals,
)
from tickpath.risk import limits_array, new_rate

B, S = ord("B"), ord("S")
NOW = 10**18


class Ours:
    """The gateway's tables and the risk state around them, with the check as a method."""

    def __init__(self, **limits) -> None:
        base = dict(max_order_size=1000, max_position=1000, max_notional=1e9,
                    collar_bps=500, max_orders_per_s=1000, max_open_notional=1e9,
                    max_total_open_notional=1e9, max_loss=1e6, duplicate_window_us=1000,
                    reject_storm=5, reject_storm_window_ms=10)
        base.update(limits)
        self.limits = limits_array(**base)
        self.orders = new_orders(64)
        self.positions = new_positions(16)
        self.totals = new_totals()
        self.rate = new_rate()
        self.control = np.zeros(16, np.int64)
        from tickpath.risk import Reject

        self.counts = np.zeros(len(Reject), np.int64)
        self._next = 1

    def open(self, instrument: int, side: int, qty: int, price: int,
             state: OrderState = OrderState.ACCEPTED, sent_ns: int = NOW - 10**9,
             pending_price: int = 0) -> int:
        """Add one open order of ours; returns its slot."""
        ref = self._next
        self._next += 1
        slot = ref & (self.orders.shape[0] - 1)
        o, p = self.orders[slot], self.positions[instrument]
        o["user_ref"], o["instrument"], o["price"], o["qty"], o["leaves"] = (
            ref, instrument, price, qty, qty)
        o["side"], o["state"], o["sent_ns"], o["pending_price"] = (
            side, state, sent_ns, pending_price)
        head = p["open_head"]
        o["next_open"], o["prev_open"] = head, -1
        if head >= 0:
            self.orders[head]["prev_open"] = slot
        p["open_head"] = slot
        if side == B:
            p["open_buy"] += qty
            p["open_buy_notional"] += qty * price
        else:
            p["open_sell"] += qty
            p["open_sell_notional"] += qty * price
        self.totals[Total.OPEN_NOTIONAL] += qty * price
        self.totals[Total.OPEN_ORDERS] += 1
        return slot

    def fill(self, instrument: int, shares: int, price: int) -> None:
        """A fill of ``shares`` (signed: + bought) booked in the position and cash (not
        against an open order: the checks read only the sums)."""
        p = self.positions[instrument]
        p["position"] += shares
        p["cash"] -= shares * price
        self.totals[Total.CASH] -= shares * price

    def snapshot(self) -> tuple:
        return (self.rate.copy(), self.control.copy(), self.orders.copy(),
                self.positions.copy(), self.totals.copy())
