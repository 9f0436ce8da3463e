"""``OrderBooks``: owns the MDP3 order-by-order arrays, applies entries, grows, answers queries."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from . import mbo as k
from .mdp3 import (
    ACTION_NAMES,
    LEVELS_FULL,
    OK,
    ORDERS_FULL,
    PRICE_NULL,
    STATUS_NAMES,
    STATUS_TEXT,
    UINT64_NULL,
    entry_byte,
    entry_text,
    put_row,
)
from .store import BookError

_FIELDS = "(order_id, priority, price, qty, inst, entry_type, action)"


class OrderBookError(BookError):
    """An order entry (or snapshot chunk) the books refused. The books are unchanged by it."""

    def __init__(self, status: int, inst: int, entry_type: int, action: int | None,
                 order_id: int, price: int, qty: int, offset: int | None = None,
                 what: str = "entry") -> None:
        where = f" at {what} {offset}" if offset is not None else ""
        act = "" if action is None else f" {ACTION_NAMES.get(action, action)}"
        px = "null" if price == PRICE_NULL else str(price)
        ValueError.__init__(
            self, f"order book refused{where}: instrument {inst}, type "
                  f"{entry_text(entry_type)}{act}, OrderID {order_id}, price {px}, qty {qty}: "
                  f"{STATUS_TEXT[status]}")
        self.status = status
        self.reason = STATUS_NAMES[status]
        self.offset = offset
        self.event = None
        self.inst = inst
        self.order_id = order_id


class OrderBooks:
    """Order-by-order MDP3 books (MBO) for instruments indexed ``0..n_instruments-1``.

    ``max_orders`` bounds the orders live at once; the hash table has twice as many slots as
    the records it may hold. It starts at ``initial_orders`` and doubles when full, up to
    ``max_orders``. ``max_levels`` bounds live price levels over all books (defaults to
    ``max_orders``); the level pool grows the same way. Growth happens here, between kernel
    calls, never inside compiled code. A full table first sheds the stale records cleared
    instruments left (``mbo_compact``), then grows; running out is reported, never a crash.

    The state arrays (``orders``, ``mask``, ``levels``, ``free``, ``books``, ``stats_array``,
    ``capacity``) are what the kernels of :mod:`tickpath.book.mbo` take. A compiled handler
    that calls them itself handles ``ORDERS_FULL`` / ``LEVELS_FULL`` by returning to Python,
    which calls :meth:`make_room` and goes on with the arrays it then finds here.

    ``errors``: ``"raise"`` raises :class:`OrderBookError` at the first refused entry;
    ``"skip"`` counts it (``stats()["refused"]``), keeps the last hundred in ``rejections``
    and goes on.
    """

    def __init__(self, max_orders: int = 1 << 20, errors: str = "raise",
                 n_instruments: int = 1 << 16, max_levels: int | None = None,
                 initial_orders: int = 1 << 16) -> None:
        if errors not in ("raise", "skip"):
            raise ValueError(f"errors must be 'raise' or 'skip', not {errors!r}")
        if max_orders < 1 or n_instruments < 1 or initial_orders < 1:
            raise ValueError("max_orders, n_instruments and initial_orders must be positive")
        if n_instruments >= 1 << 31:
            raise ValueError("n_instruments must fit in int32")
        self.errors = errors
        self.max_orders = int(max_orders)
        self.max_levels = int(max_levels or self.max_orders)
        self.n_instruments = int(n_instruments)
        self.capacity = min(self.max_orders, int(initial_orders))
        self.orders = self._table(self.capacity)
        self.mask = self.orders.shape[0] - 1
        n_levels = min(self.max_levels, int(initial_orders))
        self.levels = np.zeros(n_levels, k.LEVEL_DTYPE)
        self.free = np.arange(n_levels - 1, -1, -1, dtype=np.int32)  # a stack: pop from the end
        self.books = np.zeros((self.n_instruments, k.N_BOOK_COLS), np.int64)
        self.books[:, k.BookCol.HEAD_BID] = k.NO_LEVEL
        self.books[:, k.BookCol.HEAD_ASK] = k.NO_LEVEL
        # every instrument starts with its own epoch, so no record is live for another
        self.books[:, k.BookCol.EPOCH] = np.arange(self.n_instruments)
        self.stats_array = np.zeros(k.N_MBO_STATS, np.int64)
        self.stats_array[k.MboStat.FREE_TOP] = n_levels
        self.stats_array[k.MboStat.NEXT_EPOCH] = self.n_instruments
        self.rejections: list[OrderBookError] = []
        self._one = np.zeros(1, k.MBO_ENTRY_DTYPE)
        self._walk = np.zeros((64, 3), np.int64)

    @staticmethod
    def _table(capacity: int) -> np.ndarray:
        slots = 1 << max(4, (2 * capacity - 1).bit_length())
        table = np.zeros(slots, k.ORDER_DTYPE)
        table["id"] = k.EMPTY_ID
        return table

    def _inst(self, inst: int) -> int:
        i = int(inst)
        if not 0 <= i < self.n_instruments:
            raise KeyError(f"instrument {i} is outside 0..{self.n_instruments - 1}")
        return i

    # -- room -------------------------------------------------------------------------------

    def _stat(self, s: k.MboStat) -> int:
        return int(self.stats_array[s])

    def compact(self) -> int:
        """Drop the stale records of cleared instruments from the table. Returns how many."""
        if self._stat(k.MboStat.STALE_ORDERS) == 0:
            return 0
        return int(k.mbo_compact(self.orders, self.mask, self.levels, self.books,
                                 self.stats_array))

    def _room_for(self, live_after: int) -> bool:
        """Make the table hold ``live_after`` live orders and no stale record: compact in
        place when they fit in its capacity, else grow by doubling (the rehash leaves the
        stale records behind). False beyond ``max_orders``."""
        if live_after > self.max_orders:
            return False
        cap = self.capacity
        while cap < live_after:
            cap = min(self.max_orders, 2 * cap)
        if cap == self.capacity:
            self.compact()
            return True
        table = self._table(cap)
        k.mbo_rehash(self.orders, self.levels, self.books, table, table.shape[0] - 1)
        self.orders, self.mask, self.capacity = table, table.shape[0] - 1, cap
        self.stats_array[k.MboStat.STALE_ORDERS] = 0
        return True

    def _grow_levels(self, need: int) -> bool:
        """A pool of at least ``need`` levels, doubling; False at ``max_levels``."""
        n = self.levels.shape[0]
        if need > self.max_levels:
            return False
        m = n
        while m < need:
            m = min(self.max_levels, 2 * m)
        if m == n:
            return False
        levels = np.zeros(m, k.LEVEL_DTYPE)
        levels[:n] = self.levels
        top = self._stat(k.MboStat.FREE_TOP)
        free = np.empty(m, np.int32)
        # new levels go under the existing free ones; indices already handed out stay valid
        free[:m - n] = np.arange(m - 1, n - 1, -1, dtype=np.int32)
        free[m - n:m - n + top] = self.free[:top]
        self.levels, self.free = levels, free
        self.stats_array[k.MboStat.FREE_TOP] = top + m - n
        return True

    def make_room(self, status: int) -> bool:
        """After ``ORDERS_FULL`` or ``LEVELS_FULL`` from an incremental entry: compact and/or
        grow so that one more order or level fits. False when ``max_orders`` / ``max_levels``
        is reached (the entry must then be refused)."""
        if status == ORDERS_FULL:
            return self._room_for(self._stat(k.MboStat.LIVE_ORDERS) + 1)
        if status == LEVELS_FULL:
            return self._grow_levels(self.levels.shape[0] + 1)
        return False

    def reserve(self, room: int) -> bool:
        """Make room for ``room`` more orders and ``room`` more levels than live now (a
        compiled caller that cannot stop mid-batch asks for this between batches): compact
        and/or grow. False when ``max_orders`` or ``max_levels`` stops it."""
        ok = self._room_for(self._stat(k.MboStat.LIVE_ORDERS) + room)
        if self._stat(k.MboStat.FREE_TOP) < room:
            ok = self._grow_levels(self.levels.shape[0] + room) and ok
        return ok

    # -- applying ---------------------------------------------------------------------------

    def _refuse(self, err: OrderBookError) -> None:
        self.stats_array[k.MboStat.REFUSED] += 1
        if self.errors == "raise":
            raise err
        if len(self.rejections) >= 100:
            del self.rejections[0]
        self.rejections.append(err)

    def apply(self, inst: int, entry_type: int | str, action: int, order_id: int,
              priority: int = UINT64_NULL, price: int = PRICE_NULL, qty: int = 0) -> bool:
        """Apply one entry (the fields of an MDIncrementalRefreshOrderBook47 entry). Returns
        True when applied, False when refused under ``errors="skip"``."""
        e = self._one
        put_row(e, 0, (order_id, priority, price, qty, inst, entry_byte(entry_type), action),
             _FIELDS)
        return self.apply_entries(e) == 1

    def apply_entries(self, entries: np.ndarray, n: int | None = None, start: int = 0) -> int:
        """Apply ``entries[start:n]`` (``MBO_ENTRY_DTYPE``). Returns the number applied; a
        refusal names the entry's index as its offset."""
        end = entries.shape[0] if n is None else n
        applied = 0
        while start < end:
            idx, st = k.mbo_apply_batch(entries, start, end, self.orders, self.mask,
                                        self.levels, self.free, self.books, self.stats_array,
                                        self.capacity)
            applied += idx - start
            if st == OK:
                break
            if self.make_room(st):
                start = idx  # resume at the entry that found the table full
                continue
            e = entries[idx]
            self._refuse(OrderBookError(
                int(st), int(e["inst"]), int(e["entry_type"]), int(e["action"]), int(e["id"]),
                int(e["price"]), int(e["qty"]),
                offset=int(idx) if entries is not self._one else None))
            start = idx + 1
        return applied

    @staticmethod
    def entries(rows: Sequence[Sequence[Any]]) -> np.ndarray:
        """An ``MBO_ENTRY_DTYPE`` array from ``(inst, entry_type, action, order_id, priority,
        price, qty)`` rows (entry types as ``'0'`` or 48)."""
        out = np.zeros(len(rows), k.MBO_ENTRY_DTYPE)
        for j, (inst, t, action, oid, prio, price, qty) in enumerate(rows):
            put_row(out, j, (oid, prio, price, qty, inst, entry_byte(t), action), _FIELDS)
        return out

    def clear(self, inst: int) -> None:
        """Empty one instrument's book (snapshot start, channel reset)."""
        k.mbo_clear(self.levels, self.free, self.books, self.stats_array, self._inst(inst))

    def load_snapshot(self, inst: int, orders: Sequence[Sequence[Any]],
                      first: bool = True) -> bool:
        """Load one chunk of a SnapshotFullRefreshOrderBook53: ``orders`` as ``(order_id,
        priority, price, qty, entry_type)``. ``first`` (CurrentChunk 1) replaces the
        instrument's book; later chunks add to it. All or nothing: returns True when loaded,
        False when refused under ``errors="skip"``."""
        i = self._inst(inst)
        n = len(orders)
        ids = np.zeros(n, np.uint64)
        prios = np.zeros(n, np.uint64)
        prices = np.zeros(n, np.int64)
        qtys = np.zeros(n, np.int64)
        types = np.zeros(n, np.uint8)
        for j, (oid, prio, price, qty, t) in enumerate(orders):
            ids[j], prios[j], prices[j], qtys[j], types[j] = oid, prio, price, qty, entry_byte(t)
        while True:
            st, at = k.mbo_snapshot(self.orders, self.mask, self.levels, self.free, self.books,
                                    self.stats_array, self.capacity, i, first, n, ids, prios,
                                    prices, qtys, types)
            if st == OK:
                return True
            if st == LEVELS_FULL:
                # the kernel counted every distinct price of the chunk as a new level
                own = int(self.books[i, k.BookCol.LEVELS]) if first else 0
                if self._grow_levels(self._stat(k.MboStat.LIVE_LEVELS) - own
                                     + self._distinct(types, prices)):
                    continue
            elif st == ORDERS_FULL and self._snapshot_room(i, first, n):
                first = False  # _snapshot_room cleared the instrument to make the room
                continue
            break
        if at >= 0:
            err = OrderBookError(int(st), i, int(types[at]), None, int(ids[at]),
                                 int(prices[at]), int(qtys[at]), offset=int(at),
                                 what="snapshot entry")
        else:
            err = OrderBookError(int(st), i, 0, None, 0, PRICE_NULL, 0, what="snapshot")
        self._refuse(err)
        return False

    @staticmethod
    def _distinct(types: np.ndarray, prices: np.ndarray) -> int:
        return len(set(zip(types.tolist(), prices.tolist(), strict=True)))

    def _snapshot_room(self, i: int, first: bool, n: int) -> bool:
        """Make room for a chunk of ``n`` that passed every other check (ORDERS_FULL comes
        last). The instrument's own orders leave with ``first``, so when the chunk fits only
        once they are gone, the instrument is cleared here (the kernel would have cleared it
        anyway) and the caller retries the chunk as a later one."""
        live = self._stat(k.MboStat.LIVE_ORDERS)
        own = int(self.books[i, k.BookCol.ORDERS]) if first else 0
        if live - own + n > self.max_orders:
            return False  # does not fit even then: refuse, nothing changed
        if first:
            self.clear(i)
        return self._room_for(live - own + n)

    # -- queries ----------------------------------------------------------------------------

    def _side(self, inst: int, side: int) -> list[list[int]]:
        n_lv = int(self.books[inst, k.BookCol.LEVELS])
        walk = self._walk if n_lv <= self._walk.shape[0] else np.zeros((n_lv, 3), np.int64)
        n = k.mbo_levels(self.levels, self.books, inst, side, walk)
        return [[int(p), int(q), int(c)] for p, q, c in walk[:n]]

    def book(self, inst: int) -> dict[str, list[list[int]]]:
        """One instrument's levels ``{"bids": [[price, qty, orders], ...], "asks": [...]}``,
        best first."""
        i = self._inst(inst)
        return {"bids": self._side(i, k.BID), "asks": self._side(i, k.ASK)}

    def best(self, inst: int) -> tuple[list[int] | None, list[int] | None]:
        """(best bid, best offer) as [price, qty, orders] or None."""
        b = self.book(inst)
        return (b["bids"][0] if b["bids"] else None, b["asks"][0] if b["asks"] else None)

    def _order_dict(self, slot: int) -> dict[str, Any]:
        o = self.orders[slot]
        lv = self.levels[int(o["level"])]
        return {"order_id": int(o["id"]), "inst": int(lv["inst"]),
                "side": "0" if int(o["side"]) == k.BID else "1", "price": int(lv["price"]),
                "qty": int(o["qty"]), "priority": int(o["priority"])}

    def orders_of(self, inst: int) -> list[dict[str, Any]]:
        """The live orders of one instrument in book order: bids then offers, each by price
        best first, then by MDOrderPriority (lowest first, as CME ranks them). A pass over the
        whole table: for inspection, not the feed."""
        i = self._inst(inst)
        out = np.zeros(int(self.books[i, k.BookCol.ORDERS]), np.int64)
        n = k.mbo_orders_of(self.orders, self.levels, self.books, i, out)
        found = [self._order_dict(int(s)) for s in out[:n]]
        found.sort(key=lambda o: (o["side"], -o["price"] if o["side"] == "0" else o["price"],
                                  o["priority"], o["order_id"]))
        return found

    def order(self, order_id: int) -> dict[str, Any] | None:
        """A live order by OrderID, or None."""
        oid = int(order_id)
        if not 0 <= oid < UINT64_NULL:
            return None
        i = k.find(self.orders, self.mask, np.uint64(oid))
        if i < 0 or not k.is_live(self.orders, self.levels, self.books, i):
            return None
        return self._order_dict(int(i))

    def instrument_stats(self, inst: int) -> dict[str, int]:
        """Per-instrument counters: live orders and levels, entries, clears, snapshot orders."""
        i = self._inst(inst)
        cols = (k.BookCol.ORDERS, k.BookCol.LEVELS, k.BookCol.ENTRIES, k.BookCol.CLEARS,
                k.BookCol.SNAPSHOT_ORDERS)
        return {c.name.lower(): int(self.books[i, c]) for c in cols}

    def stats(self) -> dict[str, int]:
        """Live orders and levels, entries applied per action, resets, clears, snapshots,
        compactions, refusals, high-water marks, table capacity."""
        hidden = (k.MboStat.FREE_TOP, k.MboStat.NEXT_EPOCH)
        s = {c.name.lower(): int(self.stats_array[c]) for c in k.MboStat if c not in hidden}
        s["capacity"] = self.capacity
        s["level_pool"] = int(self.levels.shape[0])
        s["instruments_with_orders"] = int(np.count_nonzero(self.books[:, k.BookCol.ORDERS]))
        return s
