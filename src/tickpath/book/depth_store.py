"""``DepthBooks``: owns the MDP3 depth-book arrays, applies entries, answers queries."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from . import depth as k
from .mdp3 import (
    ACTION_NAMES,
    OK,
    PRICE_NULL,
    STATUS_NAMES,
    STATUS_TEXT,
    entry_byte,
    entry_text,
    put_row,
)
from .store import BookError

#: MDPriceLevel is one byte on the wire; the snapshot kernel's checks assume no more
MAX_DEPTH = 127


class DepthBookError(BookError):
    """A depth-book entry (or snapshot) the books refused. The books are unchanged by it."""

    def __init__(self, status: int, inst: int, entry_type: int, action: int | None,
                 level: int, price: int, size: int, orders: int,
                 offset: int | None = None, what: str = "entry") -> None:
        ValueError.__init__(self, self._text(status, inst, entry_type, action, level, price,
                                             size, orders, offset, what))
        self.status = status
        self.reason = STATUS_NAMES[status]
        self.offset = offset
        self.event = None
        self.inst = inst

    @staticmethod
    def _text(status, inst, entry_type, action, level, price, size, orders, offset,
              what) -> str:
        where = f" at {what} {offset}" if offset is not None else ""
        act = "" if action is None else f" {ACTION_NAMES.get(action, action)}"
        px = "null" if price == PRICE_NULL else str(price)
        return (f"depth book refused{where}: instrument {inst}, type {entry_text(entry_type)}"
                f"{act}, level {level}, price {px}, size {size}, orders {orders}: "
                f"{STATUS_TEXT[status]}")


class DepthBooks:
    """Depth-limited MDP3 price-level books: an outright and an implied book per instrument.

    Instruments are indexed ``0..n_instruments-1`` by the caller (a feed handler maps its
    SecurityIDs). Every instrument starts with depth ``max_depth`` and implied depth
    ``max_implied_depth``; :meth:`set_depth` applies the security definition's (outright
    GBX MarketDepth, implied GBI). The state arrays (``px``, ``qty``, ``nord``, ``limits``,
    ``stats_array``) are what the kernels of :mod:`tickpath.book.depth` take; a compiled
    handler passes them straight to ``depth_apply``.

    ``errors``: ``"raise"`` raises :class:`DepthBookError` at the first refused entry;
    ``"skip"`` counts it (``stats()["refused"]``), keeps the last hundred in ``rejections`` and
    goes on.
    """

    def __init__(self, n_instruments: int, max_depth: int = 10, max_implied_depth: int = 2,
                 errors: str = "raise") -> None:
        if errors not in ("raise", "skip"):
            raise ValueError(f"errors must be 'raise' or 'skip', not {errors!r}")
        if n_instruments < 1:
            raise ValueError("n_instruments must be positive")
        if not 1 <= max_depth <= MAX_DEPTH or not 0 <= max_implied_depth <= MAX_DEPTH:
            raise ValueError(f"max_depth must be in 1..{MAX_DEPTH} and max_implied_depth in "
                             f"0..{MAX_DEPTH}, not {max_depth} and {max_implied_depth}")
        self.errors = errors
        self.n_instruments = int(n_instruments)
        self.max_depth = int(max_depth)
        self.max_implied_depth = int(max_implied_depth)
        d = max(self.max_depth, self.max_implied_depth)
        shape = (self.n_instruments, k.N_BOOKS, d)
        self.px = np.zeros(shape, np.int64)
        self.qty = np.zeros(shape, np.int64)
        self.nord = np.zeros(shape, np.int32)
        self.limits = np.empty((self.n_instruments, 2), np.int32)
        self.limits[:, 0] = self.max_depth
        self.limits[:, 1] = self.max_implied_depth
        self.stats_array = np.zeros(k.N_DEPTH_STATS, np.int64)
        self.rejections: list[DepthBookError] = []
        self._one = np.zeros(1, k.DEPTH_ENTRY_DTYPE)
        self._merged = np.zeros((2 * d, 3), np.int64)

    def _inst(self, inst: int) -> int:
        i = int(inst)
        if not 0 <= i < self.n_instruments:
            raise KeyError(f"instrument {i} is outside 0..{self.n_instruments - 1}")
        return i

    def set_depth(self, inst: int, depth: int, implied_depth: int) -> None:
        """The instrument's book depths (from its security definition). Levels beyond a
        smaller depth are dropped; 0 means the instrument has no such book."""
        i = self._inst(inst)
        if not 0 <= depth <= self.max_depth:
            raise ValueError(f"depth {depth} of instrument {i} is outside 0..{self.max_depth}")
        if not 0 <= implied_depth <= self.max_implied_depth:
            raise ValueError(f"implied depth {implied_depth} of instrument {i} is outside "
                             f"0..{self.max_implied_depth}")
        self.limits[i] = depth, implied_depth
        for b, lim in ((k.OUT_BID, depth), (k.OUT_OFFER, depth), (k.IMP_BID, implied_depth),
                       (k.IMP_OFFER, implied_depth)):
            self.px[i, b, lim:] = 0
            self.qty[i, b, lim:] = 0
            self.nord[i, b, lim:] = 0

    def depth_of(self, inst: int) -> tuple[int, int]:
        """(outright depth, implied depth) of one instrument."""
        i = self._inst(inst)
        return int(self.limits[i, 0]), int(self.limits[i, 1])

    # -- applying ---------------------------------------------------------------------------

    def _refuse(self, err: DepthBookError) -> None:
        self.stats_array[k.DepthStat.REFUSED] += 1
        if self.errors == "raise":
            raise err
        if len(self.rejections) >= 100:
            del self.rejections[0]
        self.rejections.append(err)

    def apply(self, inst: int, entry_type: int | str, action: int, level: int = 1,
              price: int = PRICE_NULL, size: int = 0, orders: int = 0) -> bool:
        """Apply one entry (the fields of an MDIncrementalRefreshBook46 entry). Returns True
        when applied, False when refused under ``errors="skip"``."""
        e = self._one
        row = (price, inst, size, orders, level, entry_byte(entry_type), action)
        put_row(e, 0, row, "(price, inst, size, orders, level, entry_type, action)")
        return self.apply_entries(e) == 1

    def apply_entries(self, entries: np.ndarray, n: int | None = None, start: int = 0) -> int:
        """Apply ``entries[start:n]`` (``DEPTH_ENTRY_DTYPE``). Returns the number applied;
        a refusal names the entry's index as its offset."""
        end = entries.shape[0] if n is None else n
        applied = 0
        while start < end:
            idx, st = k.depth_apply_batch(entries, start, end, self.px, self.qty, self.nord,
                                          self.limits, self.stats_array)
            applied += idx - start
            if st == OK:
                break
            e = entries[idx]
            self._refuse(DepthBookError(
                int(st), int(e["inst"]), int(e["entry_type"]), int(e["action"]),
                int(e["level"]), int(e["price"]), int(e["size"]), int(e["orders"]),
                offset=int(idx) if entries is not self._one else None))
            start = idx + 1
        return applied

    @staticmethod
    def entries(rows: Sequence[Sequence[Any]]) -> np.ndarray:
        """A ``DEPTH_ENTRY_DTYPE`` array from ``(inst, entry_type, action, level, price,
        size, orders)`` rows (entry types as ``'0'`` or 48)."""
        out = np.zeros(len(rows), k.DEPTH_ENTRY_DTYPE)
        for j, (inst, t, action, level, price, size, orders) in enumerate(rows):
            put_row(out, j, (price, inst, size, orders, level, entry_byte(t), action),
                 "(price, inst, size, orders, level, entry_type, action)")
        return out

    def clear(self, inst: int) -> None:
        """Empty both books of one instrument (snapshot start, channel reset)."""
        k.depth_clear(self.px, self.qty, self.nord, self.stats_array, self._inst(inst))

    def load_snapshot(self, inst: int, entries: Sequence[Sequence[Any]]) -> bool:
        """Replace both books of ``inst`` with a snapshot (SnapshotFullRefresh52 entries as
        ``(entry_type, level, price, size, orders)``; statistics entries are skipped).
        Returns True when loaded, False when refused under ``errors="skip"``."""
        n = len(entries)
        types = np.zeros(n, np.uint8)
        levels = np.zeros(n, np.int32)
        prices = np.zeros(n, np.int64)
        sizes = np.zeros(n, np.int64)
        orders = np.zeros(n, np.int64)
        for j, (t, level, price, size, nord) in enumerate(entries):
            types[j] = entry_byte(t)
            levels[j], prices[j], sizes[j], orders[j] = level, price, size, nord
        st, at = k.depth_snapshot(self.px, self.qty, self.nord, self.limits, self.stats_array,
                                  self._inst(inst), n, types, levels, prices, sizes, orders)
        if st == OK:
            return True
        if at >= 0:
            err = DepthBookError(int(st), int(inst), int(types[at]), None, int(levels[at]),
                                 int(prices[at]), int(sizes[at]), int(orders[at]),
                                 offset=int(at), what="snapshot entry")
        else:
            err = DepthBookError(int(st), int(inst), 0, None, 0, PRICE_NULL, 0, 0,
                                 what="snapshot")
        self._refuse(err)
        return False

    # -- queries ----------------------------------------------------------------------------

    def _levels(self, i: int, b: int) -> list[list[int]]:
        q = self.qty[i, b]
        n = int(np.count_nonzero(q))
        return [[int(self.px[i, b, j]), int(q[j]), int(self.nord[i, b, j])] for j in range(n)]

    def book(self, inst: int, which: str = "outright") -> dict[str, list[list[int]]]:
        """One instrument's book: ``{"bids": [[price, qty, orders], ...], "asks": [...]}``,
        best first, empty levels left out. ``which``: ``"outright"``, ``"implied"`` (orders
        are 0) or ``"merged"`` (outright + implied, same prices added; implied adds no
        orders)."""
        i = self._inst(inst)
        if which == "outright":
            return {"bids": self._levels(i, k.OUT_BID), "asks": self._levels(i, k.OUT_OFFER)}
        if which == "implied":
            return {"bids": self._levels(i, k.IMP_BID), "asks": self._levels(i, k.IMP_OFFER)}
        if which == "merged":
            out: dict[str, list[list[int]]] = {}
            for name, side in (("bids", 0), ("asks", 1)):
                n = k.depth_merged(self.px, self.qty, self.nord, i, side, self._merged)
                out[name] = [[int(p), int(q), int(c)] for p, q, c in self._merged[:n]]
            return out
        raise ValueError(f"which must be 'outright', 'implied' or 'merged', not {which!r}")

    def best(self, inst: int, which: str = "outright") -> tuple[list[int] | None, ...]:
        """(best bid, best offer) as [price, qty, orders] or None."""
        b = self.book(inst, which)
        return (b["bids"][0] if b["bids"] else None, b["asks"][0] if b["asks"] else None)

    def stats(self) -> dict[str, int]:
        """Entries applied per action, resets, clears, snapshots, refusals; books in use."""
        s = {c.name.lower(): int(self.stats_array[c]) for c in k.DepthStat}
        s["instruments_with_levels"] = int(np.count_nonzero(self.qty[:, :, 0].any(axis=1)))
        return s


__all__ = ["DepthBooks", "DepthBookError", "MAX_DEPTH"]
