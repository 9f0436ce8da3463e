"""Reference order-by-order (L3) book: the semantics of ``tickpath.book.BookStore``, written
for reading rather than speed.

State is one dict, order reference -> :class:`Order`. Price levels are never stored: they are
recomputed by grouping the live orders of one instrument and side by price. A message is
checked completely before anything changes, so a refused message changes nothing but the
``rejected`` and ``events`` counters; :meth:`ReferenceBook.apply` returns the reason (the name
of the store's status code) instead of raising.

Input is one ITCH 5.0 message as the field names of ``tickpath.codec.itch50.layout`` (the same
keyword arguments ``message.encode`` takes), so the model does not depend on the decoder.

Rules, in the order they are checked:

* ``A``/``F`` add: ``RESERVED_REF`` (ref 2**64-1), ``BAD_SIDE`` (not 'B'/'S'), ``BAD_SHARES``
  (0), ``DUPLICATE_REF`` (ref live), ``ORDERS_FULL`` (``max_orders`` live),
  ``LEVELS_FULL`` (no free level in the pool, see :meth:`ReferenceBook._level_free`).
* ``E``/``C`` execute, ``X`` cancel, ``D`` delete: ``UNKNOWN_REF``, ``LOCATE_MISMATCH``, then
  for E/C/X ``BAD_SHARES`` (0) and ``OVER_EXECUTE`` (more than open). Taking all open shares
  removes the order.
* ``U`` replace: ``UNKNOWN_REF``, ``LOCATE_MISMATCH``, ``RESERVED_REF`` (new ref),
  ``DUPLICATE_REF`` (new ref live, the original included), ``BAD_SHARES``, ``LEVELS_FULL``.
  The original goes; the new ref is added on the same side and instrument.
* ``R`` stock directory: names the locate. Every other type is counted and ignored.

Locked/crossed counters follow the store's documentation: one count per book update (any
accepted A F E C X D U) after which that instrument's best bid equals (locked) or exceeds
(crossed) its best offer.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

RESERVED = (1 << 64) - 1
BOOK_TYPES = "AFECXDU"


@dataclass
class Order:
    ref: int
    locate: int
    side: str  # "B" or "S"
    price: int
    shares: int


@dataclass
class Instrument:
    messages: int = 0
    locked: int = 0
    crossed: int = 0
    executed_shares: int = 0
    directory: int = 0


@dataclass
class ReferenceBook:
    max_orders: int | None = None  # None: unbounded
    max_levels: int | None = None  # None: same as max_orders (the store's default)
    orders: dict[int, Order] = field(default_factory=dict)
    symbols: dict[int, str] = field(default_factory=dict)
    instruments: dict[int, Instrument] = field(default_factory=dict)
    counts: Counter = field(default_factory=Counter)  # adds, executions, ... rejected, events
    type_counts: Counter = field(default_factory=Counter)
    rejections: list[str] = field(default_factory=list)  # every reason, in order
    # live orders per (locate, side, price): a level exists while its count is positive
    _level_orders: Counter = field(default_factory=Counter)

    # -- applying ---------------------------------------------------------------------------

    def apply(self, type_: str, **f: object) -> str | None:
        """Apply one message. Returns None if accepted, else the reason it was refused."""
        self.counts["events"] += 1
        reason = self._check(type_, f)
        if reason is not None:
            self.counts["rejected"] += 1
            self.rejections.append(reason)
            return reason
        self._change(type_, f)
        self.type_counts[type_] += 1
        return None

    def _check(self, t: str, f: dict) -> str | None:
        loc = int(f.get("stock_locate", 0))
        if t in "AF":
            ref = int(f.get("order_reference_number", 0))
            if ref == RESERVED:
                return "RESERVED_REF"
            if f.get("buy_sell_indicator") not in ("B", "S"):
                return "BAD_SIDE"
            if int(f.get("shares", 0)) == 0:
                return "BAD_SHARES"
            if ref in self.orders:
                return "DUPLICATE_REF"
            if self.max_orders is not None and len(self.orders) >= self.max_orders:
                return "ORDERS_FULL"
            if not self._level_free(removing=None):
                return "LEVELS_FULL"
            return None
        if t in "ECXDU":
            ref_field = "original_order_reference_number" if t == "U" else "order_reference_number"
            o = self.orders.get(int(f.get(ref_field, 0)))
            if o is None:
                return "UNKNOWN_REF"
            if o.locate != loc:
                return "LOCATE_MISMATCH"
            if t in "ECX":
                n = int(f.get("executed_shares" if t in "EC" else "cancelled_shares", 0))
                if n == 0:
                    return "BAD_SHARES"
                if n > o.shares:
                    return "OVER_EXECUTE"
            if t == "U":
                new = int(f.get("new_order_reference_number", 0))
                if new == RESERVED:
                    return "RESERVED_REF"
                if new in self.orders:
                    return "DUPLICATE_REF"
                if int(f.get("shares", 0)) == 0:
                    return "BAD_SHARES"
                if not self._level_free(removing=o):
                    return "LEVELS_FULL"
        return None

    def _level_free(self, removing: Order | None) -> bool:
        """Is a level free in the shared pool for the add (after ``removing`` is gone)?

        The store validates before it changes anything and does not look up the new price
        first, so it wants a free level even when the price already has one; removing the only
        order of a level gives that level back first.
        """
        if self.max_levels is None and self.max_orders is None:
            return True
        cap = self.max_levels if self.max_levels is not None else self.max_orders
        live = self.live_levels()
        if removing is not None and self._level_orders[self._key(removing)] == 1:
            live -= 1
        return live < cap

    def _change(self, t: str, f: dict) -> None:
        loc = int(f.get("stock_locate", 0))
        if t == "R":
            self.symbols[loc] = str(f.get("stock", "")).rstrip(" \x00")
            self._inst(loc).directory = 1
            return
        if t not in BOOK_TYPES:
            return
        if t in "AF":
            ref = int(f["order_reference_number"])
            self._insert(Order(ref, loc, str(f["buy_sell_indicator"]), int(f.get("price", 0)),
                               int(f["shares"])))
            self.counts["adds"] += 1
        elif t in "ECX":
            o = self.orders[int(f["order_reference_number"])]
            n = int(f["executed_shares" if t in "EC" else "cancelled_shares"])
            o.shares -= n
            if o.shares == 0:
                self._remove(o)
            if t == "X":
                self.counts["cancels"] += 1
            else:
                self.counts["executions"] += 1
                self._inst(loc).executed_shares += n
        elif t == "D":
            self._remove(self.orders[int(f["order_reference_number"])])
            self.counts["deletes"] += 1
        elif t == "U":
            old = self.orders[int(f["original_order_reference_number"])]
            self._remove(old)
            self._insert(Order(int(f["new_order_reference_number"]), loc, old.side,
                               int(f.get("price", 0)), int(f["shares"])))
            self.counts["replaces"] += 1
        inst = self._inst(loc)
        inst.messages += 1
        bids = [p for (lo, s, p) in self._level_orders if lo == loc and s == "B"]
        asks = [p for (lo, s, p) in self._level_orders if lo == loc and s == "S"]
        if bids and asks:
            if max(bids) == min(asks):
                inst.locked += 1
            elif max(bids) > min(asks):
                inst.crossed += 1
        self.counts["max_live_orders"] = max(self.counts["max_live_orders"], len(self.orders))
        self.counts["max_live_levels"] = max(self.counts["max_live_levels"], self.live_levels())

    @staticmethod
    def _key(o: Order) -> tuple[int, str, int]:
        return (o.locate, o.side, o.price)

    def _insert(self, o: Order) -> None:
        self.orders[o.ref] = o
        self._level_orders[self._key(o)] += 1

    def _remove(self, o: Order) -> None:
        del self.orders[o.ref]
        self._level_orders[self._key(o)] -= 1
        if self._level_orders[self._key(o)] == 0:
            del self._level_orders[self._key(o)]

    def _inst(self, loc: int) -> Instrument:
        return self.instruments.setdefault(loc, Instrument())

    # -- queries (the shapes BookStore returns) -----------------------------------------------

    def live_levels(self) -> int:
        return len(self._level_orders)

    def levels(self, locate: int, side: str) -> list[list[int]]:
        """[price, shares, orders] of one side, best first, grouped from the live orders."""
        agg: dict[int, list[int]] = {}
        for o in self.orders.values():
            if o.locate == locate and o.side == side:
                lv = agg.setdefault(o.price, [o.price, 0, 0])
                lv[1] += o.shares
                lv[2] += 1
        return sorted(agg.values(), key=lambda lv: lv[0], reverse=(side == "B"))

    def depth(self, locate: int, n: int | None = None) -> dict:
        bids, asks = self.levels(locate, "B"), self.levels(locate, "S")
        if n is not None:
            bids, asks = bids[:n], asks[:n]
        return {"locate": locate, "symbol": self.symbols.get(locate, ""), "bids": bids,
                "asks": asks}

    def books(self, depth: int | None = None) -> list[dict]:
        """Every instrument with a live order, in locate order."""
        return [self.depth(loc, depth) for loc in sorted({o.locate for o in self.orders.values()})]

    def best_bid(self, locate: int) -> tuple[int, int, int] | None:
        lv = self.levels(locate, "B")
        return tuple(lv[0]) if lv else None  # type: ignore[return-value]

    def best_ask(self, locate: int) -> tuple[int, int, int] | None:
        lv = self.levels(locate, "S")
        return tuple(lv[0]) if lv else None  # type: ignore[return-value]

    def bbo(self, locate: int) -> tuple:
        return self.best_bid(locate), self.best_ask(locate)

    def order(self, ref: int) -> dict | None:
        o = self.orders.get(int(ref))
        if o is None:
            return None
        return {"ref": o.ref, "locate": o.locate, "symbol": self.symbols.get(o.locate, ""),
                "side": o.side, "shares": o.shares, "price": o.price}

    def instrument_stats(self, locate: int) -> dict[str, int]:
        inst = self.instruments.get(locate, Instrument())
        return {
            "messages": inst.messages,
            "locked": inst.locked,
            "crossed": inst.crossed,
            "executed_shares": inst.executed_shares,
            "orders": sum(1 for o in self.orders.values() if o.locate == locate),
            "directory": inst.directory,
        }

    def stats(self) -> dict[str, int]:
        c = self.counts
        return {
            "live_orders": len(self.orders),
            "live_levels": self.live_levels(),
            "adds": c["adds"],
            "executions": c["executions"],
            "cancels": c["cancels"],
            "deletes": c["deletes"],
            "replaces": c["replaces"],
            "rejected": c["rejected"],
            "max_live_orders": c["max_live_orders"],
            "max_live_levels": c["max_live_levels"],
            "events": c["events"],
            "instruments_with_orders": len({o.locate for o in self.orders.values()}),
            "locked_updates": sum(i.locked for i in self.instruments.values()),
            "crossed_updates": sum(i.crossed for i in self.instruments.values()),
        }

    def counts_by_type(self) -> dict[str, int]:
        return {t: n for t, n in self.type_counts.items() if n}

    @property
    def directory(self) -> dict[int, str]:
        return dict(self.symbols)
