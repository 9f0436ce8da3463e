"""Reference MDP3 order-by-order books: the semantics of ``tickpath.book.OrderBooks``, written
for reading rather than speed.

State is one dict, OrderID -> :class:`Order`. Price levels are never stored: they are
recomputed by grouping an instrument's orders of one side by price. Entries are checked
completely before anything changes; :meth:`ReferenceMbo.apply` returns None or the reason
(the name of the kernel's status code).

Rules, in the order they are checked:

* instrument outside 0..n-1: ``BAD_INSTRUMENT``; 'J' removes the instrument's orders;
  a type other than '0' '1': ``BAD_ENTRY_TYPE``; action outside 0..2: ``BAD_ACTION``;
  OrderID 2**64-1: ``RESERVED_ID``.
* New: ``BAD_PRICE`` (null), ``BAD_SIZE`` (qty <= 0 or >= 2**31-1), ``DUPLICATE_ID`` (live),
  ``ORDERS_FULL`` (``max_orders`` live), ``LEVELS_FULL`` (``max_levels`` live levels: the
  store wants a free level before it looks the price up).
* Change: ``UNKNOWN_ID``, ``INSTRUMENT_MISMATCH``, ``SIDE_MISMATCH``, ``BAD_PRICE``,
  ``BAD_SIZE``, and when the price moves, ``LEVELS_FULL`` if the live levels left after the
  order leaves its own (that level stays when others share it) reach ``max_levels``.
  Quantity and priority are replaced.
* Delete: ``UNKNOWN_ID``, ``INSTRUMENT_MISMATCH``, ``SIDE_MISMATCH``.

Snapshot chunks (:meth:`snapshot`): per entry ``BAD_ENTRY_TYPE``, ``RESERVED_ID``,
``BAD_PRICE``, ``BAD_SIZE``, ``DUPLICATE_ID`` (twice in the chunk, or live and not the
instrument's own order of a first chunk); then ``LEVELS_FULL`` when the live levels left
after a first chunk's clear plus the chunk's distinct (side, price) pairs exceed
``max_levels``, and ``ORDERS_FULL`` when the orders left plus the chunk exceed
``max_orders``. A first chunk replaces the instrument's orders.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

PRICE_NULL = (1 << 63) - 1
INT32_NULL = (1 << 31) - 1
RESERVED = (1 << 64) - 1


@dataclass
class Order:
    oid: int
    inst: int
    side: str  # '0' bid, '1' offer
    price: int
    qty: int
    priority: int


@dataclass
class ReferenceMbo:
    n: int
    max_orders: int | None = None
    max_levels: int | None = None  # None: same as max_orders (the store's default)
    orders: dict[int, Order] = field(default_factory=dict)
    counts: Counter = field(default_factory=Counter)
    rejections: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.max_levels is None:
            self.max_levels = self.max_orders

    # -- levels -----------------------------------------------------------------------------

    def level_keys(self) -> set[tuple[int, str, int]]:
        return {(o.inst, o.side, o.price) for o in self.orders.values()}

    def live_levels(self) -> int:
        return len(self.level_keys())

    def _shared(self, o: Order) -> bool:
        return sum(1 for x in self.orders.values()
                   if (x.inst, x.side, x.price) == (o.inst, o.side, o.price)) > 1

    # -- applying ---------------------------------------------------------------------------

    def _check(self, inst, t, action, oid, price, qty) -> str | None:
        if not 0 <= inst < self.n:
            return "BAD_INSTRUMENT"
        if t == "J":
            return None
        if t not in ("0", "1"):
            return "BAD_ENTRY_TYPE"
        if not 0 <= action <= 2:
            return "BAD_ACTION"
        if oid == RESERVED:
            return "RESERVED_ID"
        o = self.orders.get(oid)
        if action == 0:
            if price == PRICE_NULL:
                return "BAD_PRICE"
            if not 0 < qty < INT32_NULL:
                return "BAD_SIZE"
            if o is not None:
                return "DUPLICATE_ID"
            if self.max_orders is not None and len(self.orders) >= self.max_orders:
                return "ORDERS_FULL"
            if self.max_levels is not None and self.live_levels() >= self.max_levels:
                return "LEVELS_FULL"
            return None
        if o is None:
            return "UNKNOWN_ID"
        if o.inst != inst:
            return "INSTRUMENT_MISMATCH"
        if o.side != t:
            return "SIDE_MISMATCH"
        if action == 1:
            if price == PRICE_NULL:
                return "BAD_PRICE"
            if not 0 < qty < INT32_NULL:
                return "BAD_SIZE"
            if price != o.price and self.max_levels is not None:
                left = self.live_levels() - (0 if self._shared(o) else 1)
                if left >= self.max_levels:
                    return "LEVELS_FULL"
        return None

    def apply(self, inst: int, t: str, action: int, oid: int, priority: int = RESERVED,
              price: int = PRICE_NULL, qty: int = 0) -> str | None:
        reason = self._check(inst, t, action, oid, price, qty)
        if reason is not None:
            self.counts["refused"] += 1
            self.rejections.append(reason)
            return reason
        if t == "J":
            self.clear(inst)
            self.counts["book_resets"] += 1
            return None
        if action == 0:
            self.orders[oid] = Order(oid, inst, t, price, qty, priority)
            self.counts["new"] += 1
        elif action == 1:
            o = self.orders[oid]
            o.price, o.qty, o.priority = price, qty, priority
            self.counts["change"] += 1
        else:
            del self.orders[oid]
            self.counts["delete"] += 1
        self._high_water()
        return None

    def _high_water(self) -> None:
        c = self.counts
        c["max_live_orders"] = max(c["max_live_orders"], len(self.orders))
        c["max_live_levels"] = max(c["max_live_levels"], self.live_levels())

    def clear(self, inst: int) -> None:
        for oid in [o.oid for o in self.orders.values() if o.inst == inst]:
            del self.orders[oid]
        self.counts["clears"] += 1

    def snapshot(self, inst: int, first: bool, entries: list[tuple]) -> tuple[str, int] | None:
        """``entries``: (order_id, priority, price, qty, type). None or (reason, index)."""
        if not 0 <= inst < self.n:
            return "BAD_INSTRUMENT", -1
        ids: set[int] = set()
        pairs: set[tuple[str, int]] = set()
        for k, (oid, _prio, price, qty, t) in enumerate(entries):
            if t not in ("0", "1"):
                return "BAD_ENTRY_TYPE", k
            if oid == RESERVED:
                return "RESERVED_ID", k
            if price == PRICE_NULL:
                return "BAD_PRICE", k
            if not 0 < qty < INT32_NULL:
                return "BAD_SIZE", k
            if oid in ids:
                return "DUPLICATE_ID", k
            o = self.orders.get(oid)
            if o is not None and not (first and o.inst == inst):
                return "DUPLICATE_ID", k
            ids.add(oid)
            pairs.add((t, price))
        kept = [o for o in self.orders.values() if not (first and o.inst == inst)]
        levels_left = len({(o.inst, o.side, o.price) for o in kept})
        if self.max_levels is not None and levels_left + len(pairs) > self.max_levels:
            return "LEVELS_FULL", -1
        if self.max_orders is not None and len(kept) + len(entries) > self.max_orders:
            return "ORDERS_FULL", -1
        if first:
            self.clear(inst)
        for oid, prio, price, qty, t in entries:
            self.orders[oid] = Order(oid, inst, t, price, qty, prio)
        self.counts["snapshot_chunks"] += 1
        self.counts["snapshot_orders"] += len(entries)
        self._high_water()
        return None

    # -- queries (the shapes OrderBooks returns) --------------------------------------------

    def book(self, inst: int) -> dict[str, list[list[int]]]:
        out = {}
        for name, side in (("bids", "0"), ("asks", "1")):
            agg: dict[int, list[int]] = {}
            for o in self.orders.values():
                if o.inst == inst and o.side == side:
                    lv = agg.setdefault(o.price, [o.price, 0, 0])
                    lv[1] += o.qty
                    lv[2] += 1
            out[name] = sorted(agg.values(), key=lambda lv: lv[0], reverse=(side == "0"))
        return out

    def order(self, oid: int) -> dict | None:
        o = self.orders.get(oid)
        if o is None:
            return None
        return {"order_id": o.oid, "inst": o.inst, "side": o.side, "price": o.price,
                "qty": o.qty, "priority": o.priority}

    def orders_of(self, inst: int) -> list[dict]:
        mine = [self.order(o.oid) for o in self.orders.values() if o.inst == inst]
        bids = sorted((o for o in mine if o["side"] == "0"),
                      key=lambda o: (-o["price"], o["priority"], o["order_id"]))
        asks = sorted((o for o in mine if o["side"] == "1"),
                      key=lambda o: (o["price"], o["priority"], o["order_id"]))
        return bids + asks
