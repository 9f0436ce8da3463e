"""Reference order state: the semantics of ``tickpath.gateway.orders``, written for reading.

Orders are dataclasses in a dict by user_ref; open orders, exposure and positions are
recomputed from them rather than kept incrementally (except cash, fills and marked P&L,
which are sums of events). The only thing shared with the kernels is the slot rule (a
user_ref lives at ``user_ref % capacity``; a slot whose order is open, or holds a replacement
waiting for the venue's answer, refuses a new order), since which old orders are forgotten
depends on it.

Statuses are the kernels' names as strings: ``"ok"``, ``"unknown_ref"``,
``"bad_transition"``, ``"bad_qty"``, ``"ignored"`` (venue side) and ``"table_full"``,
``"bad_order"``, ``"unknown"``, ``"not_open"``, ``"pending"`` (our side).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

OPEN = {"pending_new", "accepted", "partial", "cancel_pending", "replace_pending"}


@dataclass
class Order:
    user_ref: int
    instrument: int
    side: str
    qty: int
    price: int
    state: str = "pending_new"  # or "reserved": a replacement sent, not yet answered
    leaves: int = 0
    filled: int = 0
    fill_notional: int = 0
    prior: str = ""
    pending_qty: int = 0
    replaces: int = 0
    replaced_by: int = 0
    reason: int = 0


@dataclass
class Position:
    position: int = 0
    bought: int = 0
    sold: int = 0
    cash: int = 0
    mark: int = 0
    orders: int = 0
    fills: int = 0
    rejects: int = 0


@dataclass
class ReferenceOrders:
    capacity: int
    instruments: int
    orders: dict[int, Order] = field(default_factory=dict)
    positions: dict[int, Position] = field(default_factory=dict)
    next_ref: int = 1
    counts: Counter = field(default_factory=Counter)  # totals: orders fills rejects cancels
    faults: Counter = field(default_factory=Counter)

    # ---- helpers
    def pos(self, inst: int) -> Position:
        return self.positions.setdefault(inst, Position())

    def get(self, ref: int) -> Order | None:
        return self.orders.get(ref)

    def _slot_free(self, ref: int) -> bool:
        for o in self.orders.values():
            if o.user_ref % self.capacity == ref % self.capacity:
                return not (o.state in OPEN or o.state == "reserved")
        return True

    def _take_ref(self, ref: int) -> None:
        # the new order overwrites whatever old order shared its slot
        for old in [r for r in self.orders if r % self.capacity == ref % self.capacity]:
            del self.orders[old]

    def accepted_open(self, o: Order) -> bool:
        return o.state in ("accepted", "partial") or (
            o.state in ("cancel_pending", "replace_pending") and o.prior != "pending_new")

    # ---- our side
    def new(self, inst: int, side: str, qty: int, price: int) -> int | str:
        if qty <= 0 or price < 0 or not 0 <= inst < self.instruments:
            return "bad_order"
        ref = self.next_ref
        if not self._slot_free(ref):
            return "table_full"
        self._take_ref(ref)
        self.orders[ref] = Order(ref, inst, side, qty, price, leaves=qty)
        self.pos(inst).orders += 1
        self.counts["orders"] += 1
        self.next_ref += 1
        return ref

    def cancel(self, ref: int, qty_left: int) -> str:
        o = self.get(ref)
        if o is None:
            return "unknown"
        if o.state == "replace_pending":
            return "pending"
        if o.state not in OPEN:
            return "not_open"
        if qty_left < 0 or qty_left >= o.leaves:
            return "bad_order"
        if o.state != "cancel_pending":
            o.prior, o.state = o.state, "cancel_pending"
        o.pending_qty = qty_left
        return "ok"

    def replace(self, ref: int, qty: int, price: int) -> int | str:
        o = self.get(ref)
        if o is None:
            return "unknown"
        if o.state in ("cancel_pending", "replace_pending"):
            return "pending"
        if o.state not in ("accepted", "partial"):
            return "not_open"
        if qty <= 0 or price < 0:
            return "bad_order"
        new = self.next_ref
        if not self._slot_free(new):
            return "table_full"
        self._take_ref(new)
        self.orders[new] = Order(new, o.instrument, o.side, qty, price, state="reserved",
                                 replaces=ref)
        o.prior, o.state, o.pending_qty, o.replaced_by = o.state, "replace_pending", qty, new
        self.next_ref += 1
        return new

    def mass_cancel(self, inst: int) -> int:
        for o in self.orders.values():
            if inst >= 0 and o.instrument != inst:
                continue
            if o.state in ("pending_new", "accepted", "partial"):
                o.prior, o.state, o.pending_qty = o.state, "cancel_pending", 0
            elif o.state == "cancel_pending":
                o.pending_qty = 0
        self.next_ref += 1
        return self.next_ref - 1

    # ---- the venue's side
    def apply(self, t: str, ref: int, qty: int = 0, price: int = 0, orig: int = 0,
              dead: bool = False, reason: int = 0) -> str:
        handler = {"A": self._accepted, "E": self._executed, "C": self._canceled,
                   "D": self._canceled, "J": self._rejected, "U": self._replaced,
                   "I": self._cancel_reject}.get(t)
        if t == "X":
            return "ok"
        s = "ignored" if handler is None else handler(ref, qty, price, orig, dead, reason)
        if s != "ok":
            self.faults[s] += 1
        return s

    def _accepted(self, ref, qty, price, orig, dead, reason) -> str:
        o = self.get(ref)
        if o is None:
            return "unknown_ref"
        pending = o.state in ("cancel_pending", "replace_pending") and o.prior == "pending_new"
        if o.state != "pending_new" and not pending:
            return "bad_transition"
        if qty <= 0 and not dead:
            return "bad_qty"
        o.qty, o.leaves, o.price = qty, qty, price
        if dead:
            o.state, o.leaves = "canceled", 0
        elif pending:
            o.prior = "accepted"
        else:
            o.state = "accepted"
        return "ok"

    def _executed(self, ref, qty, price, orig, dead, reason) -> str:
        o = self.get(ref)
        if o is None:
            return "unknown_ref"
        if not self.accepted_open(o):
            return "bad_transition"
        if qty <= 0 or qty > o.leaves:
            return "bad_qty"
        o.leaves -= qty
        o.filled += qty
        o.fill_notional += qty * price
        p = self.pos(o.instrument)
        signed = qty if o.side == "B" else -qty
        p.position += signed
        if signed > 0:
            p.bought += qty
        else:
            p.sold += qty
        p.cash -= signed * price
        p.fills += 1
        self.counts["fills"] += 1
        if o.leaves == 0:
            o.state = "filled"
        elif o.state == "accepted":
            o.state = "partial"
        elif o.state in ("cancel_pending", "replace_pending"):
            o.prior = "partial"
        return "ok"

    def _canceled(self, ref, qty, price, orig, dead, reason) -> str:
        o = self.get(ref)
        if o is None:
            return "unknown_ref"
        if not self.accepted_open(o):
            return "bad_transition"
        if qty <= 0 or qty > o.leaves:
            return "bad_qty"
        o.leaves -= qty
        o.reason = reason
        self.counts["cancels"] += 1
        if o.leaves == 0:
            o.state = "canceled"
        elif o.state == "cancel_pending" and o.leaves <= o.pending_qty:
            o.state = o.prior
        return "ok"

    def _rejected(self, ref, qty, price, orig, dead, reason) -> str:
        o = self.get(ref)
        if o is None:
            return "unknown_ref"
        if o.state == "reserved":
            o.state, o.reason = "rejected", reason
            old = self.get(o.replaces)
            if old is not None and old.state == "replace_pending" and old.replaced_by == ref:
                old.state, old.replaced_by = old.prior, 0
            self.counts["rejects"] += 1
            self.pos(o.instrument).rejects += 1
            return "ok"
        if not (o.state == "pending_new" or (o.state in ("cancel_pending", "replace_pending")
                                             and o.prior == "pending_new")):
            return "bad_transition"
        o.state, o.leaves, o.reason = "rejected", 0, reason
        self.counts["rejects"] += 1
        self.pos(o.instrument).rejects += 1
        return "ok"

    def _replaced(self, ref, qty, price, orig, dead, reason) -> str:
        old, new = self.get(orig), self.get(ref)
        if old is None or new is None:
            return "unknown_ref"
        if (old.state != "replace_pending" or old.replaced_by != ref
                or old.prior == "pending_new" or new.state != "reserved"
                or new.replaces != orig):
            return "bad_transition"
        if qty <= 0 and not dead:
            return "bad_qty"
        old.state, old.leaves = "replaced", 0
        new.qty, new.leaves, new.price = qty, qty, price
        if dead:
            new.state, new.leaves = "canceled", 0
        else:
            new.state = "accepted"
        return "ok"

    def _cancel_reject(self, ref, qty, price, orig, dead, reason) -> str:
        o = self.get(ref)
        if o is None:
            return "unknown_ref"
        if o.state != "cancel_pending":
            return "bad_transition"
        o.state = o.prior
        return "ok"

    def set_mark(self, inst: int, price: int) -> None:
        self.pos(inst).mark = price

    # ---- what the kernels keep incrementally, recomputed
    def open_orders(self, inst: int) -> set[int]:
        return {r for r, o in self.orders.items() if o.instrument == inst and o.state in OPEN}

    def exposure(self, inst: int) -> tuple[int, int, int, int]:
        """open_buy, open_sell, open_buy_notional, open_sell_notional"""
        ob = os_ = nb = ns = 0
        for o in self.orders.values():
            if o.instrument == inst and o.state in OPEN:
                if o.side == "B":
                    ob += o.leaves
                    nb += o.leaves * o.price
                else:
                    os_ += o.leaves
                    ns += o.leaves * o.price
        return ob, os_, nb, ns

    def marked(self) -> int:
        return sum(p.position * p.mark for p in self.positions.values())

    def cash(self) -> int:
        return sum(p.cash for p in self.positions.values())
