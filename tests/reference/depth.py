"""Reference MDP3 depth books: the semantics of ``tickpath.book.DepthBooks``, written for
reading rather than speed.

Each instrument has four Python lists of ``[price, qty, orders]`` (outright bid, outright
offer, implied bid, implied offer), best first, never longer than the book's depth. Entries
are checked completely before anything changes; :meth:`ReferenceDepth.apply` returns None or
the reason (the name of the kernel's status code).

Rules, in the order they are checked:

* instrument outside 0..n-1: ``BAD_INSTRUMENT``; action outside 0..5: ``BAD_ACTION``;
* 'J' empties all four lists; a type other than '0' '1' 'E' 'F': ``BAD_ENTRY_TYPE``;
* the book's depth is 0: ``NO_DEPTH``; DeleteThru (3) empties the side;
* level outside 1..depth: ``BAD_LEVEL``;
* New (0): ``LEVEL_GAP`` if the list is shorter than level-1, then the values (``BAD_PRICE``
  null price, ``BAD_SIZE`` size <= 0 or >= 2**31-1, ``BAD_ORDERS`` likewise for outright
  orders); insert, cut the list to the depth.
* Change (1): ``EMPTY_LEVEL`` if the list is shorter than level, ``PRICE_MISMATCH`` when the
  price is not null and not the level's, values; quantity and orders replaced.
* Delete (2): ``EMPTY_LEVEL``, ``PRICE_MISMATCH``; the level is removed.
* DeleteFrom (4): ``EMPTY_LEVEL``; the first ``level`` levels are removed.
* Overlay (5): ``LEVEL_GAP`` if the list is shorter than level-1, values; the level is
  replaced (or appended when it was the first empty one).

Implied levels keep orders 0.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

PRICE_NULL = (1 << 63) - 1
INT32_NULL = (1 << 31) - 1
TYPES = {"0": 0, "1": 1, "E": 2, "F": 3}


@dataclass
class ReferenceDepth:
    n: int
    max_depth: int = 10
    max_implied_depth: int = 2
    books: list[list[list[list[int]]]] = field(default_factory=list)
    depths: list[list[int]] = field(default_factory=list)
    counts: Counter = field(default_factory=Counter)
    rejections: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.books = [[[], [], [], []] for _ in range(self.n)]
        self.depths = [[self.max_depth, self.max_implied_depth] for _ in range(self.n)]

    def set_depth(self, inst: int, depth: int, implied: int) -> None:
        self.depths[inst] = [depth, implied]
        for b in range(4):
            del self.books[inst][b][(depth, implied)[b // 2]:]

    def clear(self, inst: int) -> None:
        self.books[inst] = [[], [], [], []]
        self.counts["clears"] += 1

    @staticmethod
    def _values(b: int, price: int, size: int, orders: int) -> str | None:
        if price == PRICE_NULL:
            return "BAD_PRICE"
        if not 0 < size < INT32_NULL:
            return "BAD_SIZE"
        if b < 2 and not 0 < orders < INT32_NULL:
            return "BAD_ORDERS"
        return None

    def _check(self, inst: int, t: str, action: int, level: int, price: int, size: int,
               orders: int) -> str | None:
        if not 0 <= inst < self.n:
            return "BAD_INSTRUMENT"
        if not 0 <= action <= 5:
            return "BAD_ACTION"
        if t == "J":
            return None
        if t not in TYPES:
            return "BAD_ENTRY_TYPE"
        b = TYPES[t]
        depth = self.depths[inst][b // 2]
        if depth == 0:
            return "NO_DEPTH"
        if action == 3:
            return None
        if not 1 <= level <= depth:
            return "BAD_LEVEL"
        side = self.books[inst][b]
        if action in (0, 5):
            if len(side) < level - 1:
                return "LEVEL_GAP"
            return self._values(b, price, size, orders)
        if len(side) < level:
            return "EMPTY_LEVEL"
        if action in (1, 2) and price != PRICE_NULL and price != side[level - 1][0]:
            return "PRICE_MISMATCH"
        if action == 1:
            return self._values(b, side[level - 1][0], size, orders)
        return None

    def apply(self, inst: int, t: str, action: int, level: int, price: int = PRICE_NULL,
              size: int = 0, orders: int = 0) -> str | None:
        reason = self._check(inst, t, action, level, price, size, orders)
        if reason is not None:
            self.counts["refused"] += 1
            self.rejections.append(reason)
            return reason
        if t == "J":
            self.books[inst] = [[], [], [], []]
            self.counts["book_resets"] += 1
            return None
        b = TYPES[t]
        side = self.books[inst][b]
        depth = self.depths[inst][b // 2]
        nord = orders if b < 2 else 0
        if action == 0:
            side.insert(level - 1, [price, size, nord])
            del side[depth:]
        elif action == 1:
            side[level - 1][1:] = [size, nord]
        elif action == 2:
            del side[level - 1]
        elif action == 3:
            side.clear()
        elif action == 4:
            del side[:level]
        else:
            if level - 1 < len(side):
                side[level - 1] = [price, size, nord]
            else:
                side.append([price, size, nord])
        self.counts[("new", "change", "delete", "delete_thru", "delete_from",
                     "overlay")[action]] += 1
        return None

    def snapshot(self, inst: int, entries: list[tuple]) -> tuple[str, int] | None:
        """``entries``: (type, level, price, size, orders). Returns None or (reason, index)."""
        if not 0 <= inst < self.n:
            return "BAD_INSTRUMENT", -1
        seen: dict[tuple[int, int], int] = {}
        for k, (t, level, price, size, orders) in enumerate(entries):
            if t not in TYPES:
                continue
            b = TYPES[t]
            depth = self.depths[inst][b // 2]
            if depth == 0:
                return "NO_DEPTH", k
            if not 1 <= level <= depth:
                return "BAD_LEVEL", k
            reason = self._values(b, price, size, orders)
            if reason:
                return reason, k
            if (b, level) in seen:
                return "DUPLICATE_LEVEL", k
            seen[(b, level)] = k
        for b in range(4):
            levels = sorted(lv for bb, lv in seen if bb == b)
            if levels != list(range(1, len(levels) + 1)):
                # reported at the first entry holding the highest level
                return "LEVEL_GAP", seen[(b, levels[-1])]
        books: list[list[list[int]]] = [[], [], [], []]
        for b in range(4):
            for lv in sorted(lv for bb, lv in seen if bb == b):
                _, _, price, size, orders = entries[seen[(b, lv)]]
                books[b].append([price, size, orders if b < 2 else 0])
        self.books[inst] = books
        self.counts["snapshots"] += 1
        self.counts["snapshot_levels"] += len(seen)
        return None

    def book(self, inst: int, which: str = "outright") -> dict[str, list[list[int]]]:
        bk = self.books[inst]
        if which == "outright":
            return {"bids": [list(x) for x in bk[0]], "asks": [list(x) for x in bk[1]]}
        if which == "implied":
            return {"bids": [list(x) for x in bk[2]], "asks": [list(x) for x in bk[3]]}
        out = {}
        for name, side in (("bids", 0), ("asks", 1)):
            agg: dict[int, list[int]] = {}
            for price, qty, orders in bk[side] + bk[side + 2]:
                lv = agg.setdefault(price, [price, 0, 0])
                lv[1] += qty
                lv[2] += orders
            out[name] = sorted(agg.values(), key=lambda lv: lv[0], reverse=(side == 0))
        return out
