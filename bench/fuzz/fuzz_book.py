"""Fuzz target ``book``: event sequences through the compiled book kernels (``apply_batch``),
one event at a time, on tiny tables (8 orders, 6 price levels) so that full tables, hash
collisions, probe chains that wrap, level reuse and locked or crossed books come quickly.

Per event, compiled (``run_events``): a refused event leaves every book array byte-identical
(the order table, the level pool and its free stack, the rows of the locates used, the
counters); an accepted one leaves the books consistent (``tickpath.book.check.check_books``)
and, for a book event, counts the book as locked or crossed exactly when it is
(``tickpath.book.check.crossing``): never crossed silently. Every 4,096 inputs the rows of
the locates not used are checked untouched.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from tickpath.book.apply import OK, apply_batch, slot_of
from tickpath.book.check import CONSISTENT, CROSSED, LOCKED, check_books, crossing
from tickpath.book.records import (
    EMPTY_REF,
    LEVEL_DTYPE,
    MAX_LOCATE,
    N_PER_INSTRUMENT,
    N_STATS,
    ORDER_DTYPE,
)
from tickpath.codec.itch50.layout import EVENT_DTYPE

NAME = "book"
MAX_ORDERS = 8
N_LEVELS = 6
SLOTS = 16
LOCS = np.array([0, 1, 2, MAX_LOCATE - 1], np.int64)
_TYPES = np.frombuffer(b"AAAFEECXDDUURPS", np.uint8)
_SIDES = np.array([66, 83, 66, 83, 0, 65], np.uint8)
_SHARES = np.array([1, 2, 5, 100, 0, 0xFFFF_FFFF], np.uint64)
_PRICES = np.array([100, 101, 99, 102, 0, 0xFFFF_FFFF], np.uint64)


def _refs() -> np.ndarray:
    """Order references: four sharing one window slot and one overflow home slot, two sharing
    a window slot and homing at the overflow's last slot (their probe chain wraps), small
    ones, 0 and the reserved empty-slot marker (book/records.py: the order table)."""
    mask = np.int64(SLOTS - 1)
    by_slot: dict[tuple[int, int], list[int]] = {}
    for r in range(1, 8000):
        key = (r & SLOTS - 1, int(slot_of(np.uint64(r), mask)))
        by_slot.setdefault(key, []).append(r)
    same = next(v for v in by_slot.values() if len(v) >= 4)[:4]
    last = next(v for k, v in by_slot.items() if k[1] == SLOTS - 1 and len(v) >= 2)[:2]
    return np.array(sorted({1, 2, 3, *same, *last}) + [0, int(EMPTY_REF)], np.uint64)


REFS = _refs()
# violation codes of run_events
FINE, CHANGED_ON_REFUSAL, INCONSISTENT, CROSSED_SILENTLY, COUNTED_WRONGLY = range(5)
VIOLATION_TEXT = {
    CHANGED_ON_REFUSAL: "a refused event changed the books",
    INCONSISTENT: "the books are inconsistent after an accepted event",
    CROSSED_SILENTLY: "a book is locked or crossed and was not counted",
    COUNTED_WRONGLY: "a book was counted locked or crossed and is not",
}


@njit(cache=True, nogil=True)
def build_events(data, pos, out, types, refs, locs, sides, shares, prices):
    """Events from the fuzzer's bytes ``data[pos:]``, 6 bytes each (a byte past the end is
    0); returns how many were written into ``out``."""
    n = 0
    while pos < data.shape[0] and n < out.shape[0]:
        b = np.zeros(6, np.int64)
        for i in range(6):
            if pos + i < data.shape[0]:
                b[i] = data[pos + i]
        pos += 6
        ev = out[n]
        t = b[0] % (types.shape[0] + 1)
        ev["type"] = types[t] if t < types.shape[0] else b[5]
        ev["ref"] = refs[b[1] % refs.shape[0]]
        ev["new_ref"] = refs[b[2] % refs.shape[0]]
        ev["locate"] = locs[(b[3] >> 4) % locs.shape[0]]
        ev["side"] = sides[b[3] % sides.shape[0]]
        ev["shares"] = shares[b[4] % shares.shape[0]]
        ev["price"] = prices[(b[4] >> 4) % prices.shape[0]]
        ev["stock"] = b[5]
        ev["offset"] = n
        n += 1
    return n


@njit(cache=True, nogil=True)
def reset(orders, levels, free, heads, stats, inst, symbols, type_counts, locs):
    for i in range(orders.shape[0]):
        orders[i]["ref"] = EMPTY_REF
        orders[i]["shares"] = 0
        orders[i]["level"] = 0
    for i in range(levels.shape[0]):
        lv = levels[i]
        lv["price"] = 0
        lv["shares"] = 0
        lv["orders"] = 0
        lv["next"] = 0
        lv["prev"] = 0
        lv["locate"] = 0
        lv["side"] = 0
        free[i] = levels.shape[0] - 1 - i
    for li in range(locs.shape[0]):
        heads[locs[li], 0] = -1
        heads[locs[li], 1] = -1
        inst[locs[li], :] = 0
        symbols[locs[li]] = 0
    stats[:] = 0
    stats[2] = levels.shape[0]  # FREE_TOP
    type_counts[:] = 0


@njit(cache=True, nogil=True)
def _same(a, b):
    for i in range(a.shape[0]):
        if a[i] != b[i]:
            return False
    return True


@njit(cache=True, nogil=True)
def run_events(events, n, orders, mask, levels, free, heads, stats, inst, symbols, type_counts,
               capacity, locs):
    """Apply ``events[:n]`` one by one, checking each (see the module docstring). Returns
    ``(violation, index)``: FINE and ``n``, or what went wrong at which event."""
    o_bytes = orders.view(np.uint8)
    l_bytes = levels.view(np.uint8)
    o_before = np.empty_like(o_bytes)
    l_before = np.empty_like(l_bytes)
    f_before = np.empty_like(free)
    s_before = np.empty_like(stats)
    t_before = np.empty_like(type_counts)
    h_before = np.empty((locs.shape[0], 2), heads.dtype)
    i_before = np.empty((locs.shape[0], inst.shape[1]), inst.dtype)
    y_before = np.empty(locs.shape[0], symbols.dtype)
    for k in range(n):
        o_before[:] = o_bytes
        l_before[:] = l_bytes
        f_before[:] = free
        s_before[:] = stats
        t_before[:] = type_counts
        for li in range(locs.shape[0]):
            h_before[li, :] = heads[locs[li], :]
            i_before[li, :] = inst[locs[li], :]
            y_before[li] = symbols[locs[li]]
        loc = np.int64(events[k]["locate"])
        locked0 = inst[loc, 1]
        crossed0 = inst[loc, 2]
        idx, st = apply_batch(events, k, k + 1, orders, mask, levels, free, heads, stats, inst,
                              symbols, type_counts, capacity)
        if st != OK:
            same = (_same(o_bytes, o_before) and _same(l_bytes, l_before)
                    and _same(free, f_before) and _same(stats, s_before)
                    and _same(type_counts, t_before))
            for li in range(locs.shape[0]):
                for j in range(2):
                    same = same and heads[locs[li], j] == h_before[li, j]
                for j in range(inst.shape[1]):
                    same = same and inst[locs[li], j] == i_before[li, j]
                same = same and symbols[locs[li]] == y_before[li]
            if not same:
                return CHANGED_ON_REFUSAL, k
            continue
        if check_books(orders, mask, levels, heads, stats, inst, locs) != CONSISTENT:
            return INCONSISTENT, k
        t = events[k]["type"]
        if t == 65 or t == 70 or t == 69 or t == 67 or t == 88 or t == 68 or t == 85:
            c = crossing(levels, heads, loc)
            dl = inst[loc, 1] - locked0
            dc = inst[loc, 2] - crossed0
            if (c == LOCKED and dl != 1) or (c == CROSSED and dc != 1):
                return CROSSED_SILENTLY, k
            if dl + dc != (1 if c == LOCKED or c == CROSSED else 0):
                return COUNTED_WRONGLY, k
    return FINE, n


class _Books:
    def __init__(self) -> None:
        self.orders = np.zeros(2 * SLOTS, ORDER_DTYPE)  # the window and the overflow
        self.levels = np.zeros(N_LEVELS, LEVEL_DTYPE)
        self.free = np.zeros(N_LEVELS, np.int32)
        self.heads = np.full((MAX_LOCATE, 2), -1, np.int32)
        self.stats = np.zeros(N_STATS, np.int64)
        self.inst = np.zeros((MAX_LOCATE, N_PER_INSTRUMENT), np.int64)
        self.symbols = np.zeros(MAX_LOCATE, np.uint64)
        self.type_counts = np.zeros(256, np.int64)
        self.events = np.zeros(64, EVENT_DTYPE)
        self.inputs = 0
        self.outside = np.ones(MAX_LOCATE, bool)
        self.outside[LOCS] = False


_B: _Books | None = None


def setup() -> None:
    global _B
    _B = _Books()
    one_input(bytes(range(64)))


def one_input(data: bytes) -> None:
    b = _B
    assert b is not None, "setup() first"
    reset(b.orders, b.levels, b.free, b.heads, b.stats, b.inst, b.symbols, b.type_counts, LOCS)
    raw = np.frombuffer(data, np.uint8)
    n = build_events(raw, 0, b.events, _TYPES, REFS, LOCS, _SIDES, _SHARES, _PRICES)
    v, k = run_events(b.events, n, b.orders, np.int64(SLOTS - 1), b.levels, b.free, b.heads,
                      b.stats, b.inst, b.symbols, b.type_counts, np.int64(MAX_ORDERS), LOCS)
    if v != FINE:
        ev = b.events[int(k)]
        raise AssertionError(f"{VIOLATION_TEXT[int(v)]}: event {int(k)} type "
                             f"{chr(int(ev['type']))!r} ref={int(ev['ref'])} "
                             f"locate={int(ev['locate'])}")
    b.inputs += 1
    if b.inputs % 4096 == 0:
        out = b.outside
        assert (b.heads[out] == -1).all() and not b.inst[out].any() and not b.symbols[out].any()

