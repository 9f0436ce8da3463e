"""Reference order-by-order books for DBN MBO records, written for reading, not speed.

One dict of orders (OrderID -> instrument, side, price, size) and, per instrument and side,
price -> the OrderIDs resting there in queue order. The rules are Databento's actions:
Add joins the back of its level; Cancel takes ``size`` off (the order leaves at zero, keeps
its place otherwise); Modify moves the order to the back of its (new) level when the price
changes or the size grows, and keeps its place otherwise; a Modify of an unknown order is an
Add; clear ('R') empties the instrument; Trade, Fill and None change nothing. A record that
cannot apply (cancel of an unknown order, more than the order has, a side other than B/A,
an OrderID live elsewhere) returns a reason and changes nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

UNDEF = (1 << 63) - 1


@dataclass
class RefOrder:
    key: tuple[int, int]  # (publisher_id, instrument_id)
    side: str
    price: int
    size: int


@dataclass
class ReferenceDbnBooks:
    orders: dict[int, RefOrder] = field(default_factory=dict)
    levels: dict[tuple[tuple[int, int], str], dict[int, list[int]]] = field(
        default_factory=dict)

    def _queue(self, o: RefOrder) -> list[int]:
        return self.levels.setdefault((o.key, o.side), {}).setdefault(o.price, [])

    def _leave(self, oid: int) -> None:
        o = self.orders[oid]
        side = self.levels[(o.key, o.side)]
        side[o.price].remove(oid)
        if not side[o.price]:
            del side[o.price]

    def _add(self, key, oid, side, price, size) -> str | None:
        if side not in "BA" or len(side) != 1:
            return "BAD_SIDE"
        if price == UNDEF:
            return "BAD_PRICE"
        if not 0 < size < (1 << 31) - 1:
            return "BAD_SIZE"
        if oid in self.orders:
            return "DUPLICATE_ID"
        o = RefOrder(key, side, price, size)
        self.orders[oid] = o
        self._queue(o).append(oid)
        return None

    def apply(self, pub: int, iid: int, action: str, side: str, oid: int, price: int,
              size: int) -> str | None:
        key = (pub, iid)
        if action in "TFN":
            return None
        if action == "R":
            for oid_ in [i for i, o in self.orders.items() if o.key == key]:
                self._leave(oid_)
                del self.orders[oid_]
            return None
        if action == "A":
            return self._add(key, oid, side, price, size)
        o = self.orders.get(oid)
        if action == "M":
            if side not in "BA":
                return "BAD_SIDE"
            if o is None:
                return self._add(key, oid, side, price, size)
            if o.key != key:
                return "INSTRUMENT_MISMATCH"
            if o.side != side:
                return "SIDE_MISMATCH"
            if price == UNDEF:
                return "BAD_PRICE"
            if not 0 < size < (1 << 31) - 1:
                return "BAD_SIZE"
            if price != o.price or size > o.size:
                self._leave(oid)
                o.price, o.size = price, size
                self._queue(o).append(oid)
            else:
                o.size = size
            return None
        if action == "C":
            if o is None:
                return "UNKNOWN_ID"
            if o.key != key:
                return "INSTRUMENT_MISMATCH"
            if side in "BA" and len(side) == 1 and side != o.side:
                return "SIDE_MISMATCH"
            if size <= 0:
                return "BAD_SIZE"
            if size > o.size:
                return "CANCEL_TOO_LARGE"
            o.size -= size
            if o.size == 0:
                self._leave(oid)
                del self.orders[oid]
            return None
        return "UNKNOWN_ACTION"

    def book(self, key: tuple[int, int]) -> dict[str, list[list[int]]]:
        """{"bids": [[price, size, orders], ...], "asks": [...]}, best first."""
        out = {}
        for name, side, rev in (("bids", "B", True), ("asks", "A", False)):
            lv = self.levels.get((key, side), {})
            out[name] = [[p, sum(self.orders[i].size for i in q), len(q)]
                         for p, q in sorted(lv.items(), reverse=rev) if q]
        return out

    def queue(self, key: tuple[int, int], side: str, price: int) -> list[int]:
        return list(self.levels.get((key, side), {}).get(price, []))

    def keys_with_orders(self) -> set[tuple[int, int]]:
        return {o.key for o in self.orders.values()}
