"""OrderBooks (MDP3 market-by-order books) against tests/reference/mbo.py.

Random streams of order entries, clears and snapshot chunks, built from the reference's state
so that most entries are valid and every kind of refusal occurs, are cut into batches and
applied with ``errors="skip"``. After every batch the books, each instrument's orders, order
lookups, the counters and the refusals must equal the reference's, and the table must be
sound (every record findable, stale records counted, levels linked in order and summing to
their orders). Small tables make the hash table wrap, grow, fill and compact.
"""

from __future__ import annotations

import os
import random
from dataclasses import dataclass, field

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from numba import njit

from reference.mbo import INT32_NULL, PRICE_NULL, RESERVED, ReferenceMbo
from tickpath.book import OrderBookError, OrderBooks
from tickpath.book import mbo as km
from tickpath.book.mdp3 import STATUS_NAMES

EXAMPLES = int(os.environ.get("TICKPATH_TEST_EXAMPLES", "0"))
SETTINGS = settings(max_examples=EXAMPLES or 120, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

NEW, CHANGE, DELETE = 0, 1, 2
N_INST = 4
_M64 = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15


def home(oid: int, mask: int) -> int:
    return ((oid * _GOLDEN) & _M64) >> 32 & mask


def homing_at(slots: set[int], mask: int, start: int = 0):
    """Order ids (from ``start`` up) whose home slot in a table of ``mask + 1`` is in
    ``slots``: long probe chains, and chains that wrap past the table's end."""
    oid = start
    while True:
        if home(oid, mask) in slots:
            yield oid
        oid += 1


# -- comparing ---------------------------------------------------------------------------------

STAT_KEYS = ("live_orders", "live_levels", "new", "change", "delete", "book_resets", "clears",
             "snapshot_chunks", "snapshot_orders", "refused", "max_live_orders",
             "max_live_levels")


def check_table(b: OrderBooks) -> None:
    """White-box soundness of the state arrays."""
    t, lv, books, s = b.orders, b.levels, b.books, b.stats_array
    used = np.flatnonzero(t["id"] != km.EMPTY_ID)
    live = [int(i) for i in used if km.is_live(t, lv, books, i)]
    assert len(live) == s[km.MboStat.LIVE_ORDERS]
    assert len(used) - len(live) == s[km.MboStat.STALE_ORDERS]
    assert len(used) <= b.capacity <= b.max_orders
    for i in used:  # every record is where a probe from its home finds it
        assert km.find(t, b.mask, t[i]["id"]) == i
    per_level: dict[int, list[int]] = {}
    for i in live:
        per_level.setdefault(int(t[i]["level"]), []).append(i)
    seen = set()
    for inst in range(books.shape[0]):
        for side in (0, 1):
            prev, cur, last = -1, int(books[inst, side]), None
            while cur != -1:
                L = lv[cur]
                assert int(L["prev"]) == prev and int(L["inst"]) == inst
                if last is not None:
                    assert (L["price"] < last) if side == 0 else (L["price"] > last)
                mine = per_level.get(cur, [])
                assert int(L["orders"]) == len(mine) > 0
                assert int(L["qty"]) == sum(int(t[i]["qty"]) for i in mine)
                assert all(int(t[i]["side"]) == side for i in mine)
                seen.add(cur)
                last, prev, cur = L["price"], cur, int(L["next"])
    assert seen == set(per_level)
    top = int(s[km.MboStat.FREE_TOP])
    assert len(seen) == s[km.MboStat.LIVE_LEVELS] == lv.shape[0] - top
    assert set(b.free[:top].tolist()).isdisjoint(seen)


def assert_same(b: OrderBooks, ref: ReferenceMbo, ids) -> None:
    for i in range(ref.n):
        assert b.book(i) == ref.book(i), i
        assert b.orders_of(i) == ref.orders_of(i), i
    for oid in ids:
        assert b.order(oid) == ref.order(oid), oid
    s = b.stats()
    assert s["live_orders"] == len(ref.orders)
    assert s["live_levels"] == ref.live_levels()
    for key in STAT_KEYS[2:]:
        assert s[key] == ref.counts[key], key
    assert [e.reason for e in b.rejections] == ref.rejections[-100:]
    check_table(b)


# -- random streams ------------------------------------------------------------------------------

@dataclass
class Scenario:
    max_orders: int
    max_levels: int | None
    initial_orders: int
    id_mode: str  # seq | pow2 | random | tail (home slots at the end of the first table)
    shift: int = 40
    prices: int = 6  # distinct prices per side


@dataclass
class MboStream:
    sc: Scenario
    ref: ReferenceMbo
    mask: int
    seen: list[int] = field(default_factory=list)
    dead: list[int] = field(default_factory=list)  # ids deleted or cleared: reusable
    _next: int = 1
    _prio: int = 0
    _tail: object = None

    def __post_init__(self) -> None:
        if self.sc.id_mode == "tail":
            last = set(range(self.mask - max(2, (self.mask + 1) // 8) + 1, self.mask + 1))
            self._tail = homing_at(last, self.mask, 1 << 20)

    def fresh(self, x: int) -> int:
        m = self.sc.id_mode
        self._next += 1
        if m == "pow2":
            oid = (self._next << self.sc.shift) & _M64
        elif m == "random":
            oid = (x * _GOLDEN + self._next) & _M64
        elif m == "tail":
            oid = next(self._tail)
        else:
            oid = self._next
        if oid == RESERVED:
            oid = 0
        self.seen.append(oid)
        return oid

    def prio(self) -> int:
        self._prio += 1
        return self._prio

    def price(self, side: str, x: int) -> int:
        # bids below offers, with an overlap now and then (a crossed book is no error here)
        j = x % self.sc.prices
        return (100 - j) * 250_000_000 if side == "0" else (99 + j) * 250_000_000

    def _live(self, x: int):
        live = list(self.ref.orders.values())
        return live[x % len(live)] if live else None

    def new(self, inst, side, x, oid=None):
        oid = self.fresh(x) if oid is None else oid
        return "e", (inst, side, NEW, oid, self.prio(), self.price(side, x >> 3),
                     1 + x % 97)

    def op(self, kind: int, a: int, b: int, c: int):
        kind %= 100
        inst = a % N_INST
        side = "01"[b & 1]
        o = self._live(c)
        if kind < 30 or (o is None and kind < 63):
            return self.new(inst, side, c)
        if kind < 35:
            oid = self.dead[c % len(self.dead)] if self.dead else None
            if oid is not None and oid in self.ref.orders:
                oid = None
            return self.new(inst, side, c, oid)
        if kind < 50:
            how = b % 3
            price = o.price if how == 0 else self.price(o.side, c >> 3)
            qty = 1 + (c >> 11) % 150 if how != 2 else o.qty
            return "e", (o.inst, o.side, CHANGE, o.oid, self.prio(), price, qty)
        if kind < 63:
            self.dead.append(o.oid)
            return "e", (o.inst, o.side, DELETE, o.oid, 0, PRICE_NULL, 0)
        if kind < 64:
            self.dead += [x.oid for x in self.ref.orders.values() if x.inst == inst]
            return "e", (inst, "J", c % 3, 0, 0, PRICE_NULL, 0)
        if kind < 65:
            self.dead += [x.oid for x in self.ref.orders.values() if x.inst == inst]
            return "clear", inst
        if kind < 71:
            return "snapshot", self.snapshot(inst, b, c)
        if kind < 84:
            return "e", self.bad(kind, inst, side, o, b, c)
        return self.new(inst, side, c)

    def snapshot(self, inst: int, b: int, c: int):
        rnd = random.Random(c)
        first = bool(b & 2)
        own = [x for x in self.ref.orders.values() if x.inst == inst] if first else []
        entries = []
        for _ in range(rnd.randint(0, 7)):
            side = rnd.choice("01")
            r = rnd.random()
            if r < 0.2 and own:
                oid = own.pop(rnd.randrange(len(own))).oid  # its own order, reloaded
            elif r < 0.35 and self.dead:
                oid = rnd.choice(self.dead)
                if oid in self.ref.orders or any(oid == e[0] for e in entries):
                    oid = self.fresh(rnd.getrandbits(32))
            else:
                oid = self.fresh(rnd.getrandbits(32))
            entries.append((oid, self.prio(), self.price(side, rnd.getrandbits(8)),
                            rnd.randint(1, 99), side))
        if entries and rnd.random() < 0.3:  # spoil it
            j = rnd.randrange(len(entries))
            oid, prio, price, qty, side = entries[j]
            how = rnd.randrange(6)
            other = [x.oid for x in self.ref.orders.values() if x.inst != inst]
            if how == 0:
                entries.append(entries[j])
            elif how == 1 and other:
                entries[j] = (rnd.choice(other), prio, price, qty, side)
            elif how == 2:
                entries[j] = (oid, prio, price, (0, -3, INT32_NULL)[rnd.randrange(3)], side)
            elif how == 3:
                entries[j] = (oid, prio, PRICE_NULL, qty, side)
            elif how == 4:
                entries[j] = (oid, prio, price, qty, "E")
            else:
                entries[j] = (RESERVED, prio, price, qty, side)
        if first:  # what it clears, whether or not it is accepted, may come back as dead ids
            self.dead += [x.oid for x in self.ref.orders.values() if x.inst == inst]
        return inst, first, entries

    def bad(self, kind, inst, side, o, b, c):
        sub = (kind + c) % 12
        price = self.price(side, c)
        unknown = self.dead[c % len(self.dead)] if self.dead and c & 1 else 0xDEAD_0000 + c
        if unknown in self.ref.orders:
            unknown = 0xBEEF_0000_0000 + c
        if o is None or sub == 0:
            return (inst, side, CHANGE if c & 2 else DELETE, unknown, 1, price, 5)
        if sub == 1:
            return (o.inst, "10"[int(o.side)], CHANGE if c & 2 else DELETE, o.oid, 1, price, 5)
        if sub == 2:
            return ((o.inst + 1 + c % (N_INST - 1)) % N_INST, o.side, CHANGE if c & 2
                    else DELETE, o.oid, 1, price, 5)
        if sub == 3:
            return (inst, side, NEW, o.oid, 1, price, 5)  # live id
        if sub == 4:
            return (inst, side, (NEW, CHANGE, DELETE)[c % 3], RESERVED, 1, price, 5)
        if sub == 5:
            return (o.inst, o.side, NEW if c & 2 else CHANGE, o.oid if c & 2 == 0 else
                    self.fresh(c), 1, PRICE_NULL, 5)
        if sub == 6:
            return (o.inst, o.side, NEW if c & 2 else CHANGE, o.oid if c & 2 == 0 else
                    self.fresh(c), 1, price, (0, -1, INT32_NULL)[c % 3])
        if sub == 7:
            return (inst, side, 3 + c % 253, o.oid, 1, price, 5)
        if sub == 8:
            return (inst, "2E\x00x"[c % 4], NEW, self.fresh(c), 1, price, 5)
        if sub == 9:
            return (N_INST + c % 3 if c & 1 else -1, side, NEW, self.fresh(c), 1, price, 5)
        return (inst, side, NEW, self.fresh(c), self.prio(), price, 1 + c % 9)  # valid


def scenarios():
    @st.composite
    def build(draw) -> Scenario:
        max_orders = draw(st.sampled_from([4, 8, 64, 64, 256]))
        return Scenario(
            max_orders=max_orders,
            max_levels=draw(st.sampled_from([None, None, 4, 12])),
            initial_orders=draw(st.sampled_from([1, 2, 8, 1 << 10])),
            id_mode=draw(st.sampled_from(["seq", "pow2", "random", "tail"])),
            shift=draw(st.sampled_from([32, 48, 63])),
            prices=draw(st.sampled_from([1, 3, 8])))

    return build()


def run_stream(sc: Scenario, op_list, cuts):
    b = OrderBooks(sc.max_orders, errors="skip", n_instruments=N_INST,
                   max_levels=sc.max_levels, initial_orders=sc.initial_orders)
    ref = ReferenceMbo(N_INST, sc.max_orders, sc.max_levels)
    gen = MboStream(sc, ref, b.mask)
    cut = iter(cuts)
    pending: list[tuple] = []
    offsets: list[int] = []  # in-batch offsets of the refused entries

    def flush():
        if pending:
            before = b.stats()["refused"]
            b.apply_entries(OrderBooks.entries(pending))
            k = b.stats()["refused"] - before
            assert k == len(offsets)
            assert [e.offset for e in b.rejections[len(b.rejections) - k:]] == offsets[-100:]
            pending.clear()
            offsets.clear()
            assert_same(b, ref, gen.seen)

    size = next(cut, 5)
    for op in op_list:
        what, arg = gen.op(*op)
        if what == "e":
            if ref.apply(*arg) is not None:
                offsets.append(len(pending))
            pending.append(arg)
            if len(pending) >= size:
                flush()
                size = next(cut, 5)
            continue
        flush()
        if what == "clear":
            b.clear(arg)
            ref.clear(arg)
        else:
            inst, first, entries = arg
            want = ref.snapshot(inst, first, entries)
            if want is not None:
                ref.counts["refused"] += 1
                ref.rejections.append(want[0])
            assert b.load_snapshot(inst, entries, first) == (want is None)
            if want is not None:
                assert b.rejections[-1].offset == (want[1] if want[1] >= 0 else None)
        assert_same(b, ref, gen.seen)
    flush()
    return b, ref


def ops(min_size=1, max_size=200):
    word = st.integers(0, (1 << 32) - 1)
    return st.lists(st.tuples(st.integers(0, 99), word, word, word), min_size=min_size,
                    max_size=max_size)


@SETTINGS
@given(sc=scenarios(), op_list=ops(20, 200), cuts=st.lists(st.integers(1, 15), max_size=30))
def test_random_streams_match_reference(sc, op_list, cuts):
    run_stream(sc, op_list, cuts)


@settings(SETTINGS, max_examples=EXAMPLES or 8)
@given(sc=scenarios(), seed=st.integers(0, (1 << 32) - 1))
def test_long_random_streams_match_reference(sc, seed):
    """Long enough to fill the tables, clear and compact them and reuse ids many times."""
    rnd = random.Random(seed)
    op_list = [(rnd.randrange(100), rnd.getrandbits(32), rnd.getrandbits(32),
                rnd.getrandbits(32)) for _ in range(1200)]
    run_stream(sc, op_list, [rnd.randint(1, 60) for _ in range(100)])


# -- hand-written cases ---------------------------------------------------------------------------

def books(**kw) -> OrderBooks:
    kw.setdefault("n_instruments", 8)
    kw.setdefault("initial_orders", 4)
    return OrderBooks(**kw)


def test_change_moves_price_and_priority_or_changes_quantity():
    b = books()
    b.apply(1, "0", NEW, 10, 5, 100, 3)
    b.apply(1, "0", NEW, 11, 6, 100, 4)
    b.apply(1, "0", NEW, 12, 7, 99, 1)
    b.apply(1, "0", CHANGE, 10, 5, 100, 1)  # quantity down, priority kept
    assert b.book(1)["bids"] == [[100, 5, 2], [99, 1, 1]]
    b.apply(1, "0", CHANGE, 10, 8, 99, 1)  # to another price: a new priority there
    assert b.book(1)["bids"] == [[100, 4, 1], [99, 2, 2]]
    assert [(o["order_id"], o["price"], o["priority"]) for o in b.orders_of(1)] == \
        [(11, 100, 6), (12, 99, 7), (10, 99, 8)]
    b.apply(1, "0", CHANGE, 11, 9, 98, 4)  # the only order of its level: the level goes
    assert b.book(1)["bids"] == [[99, 2, 2], [98, 4, 1]]
    b.apply(1, "0", DELETE, 12)
    assert b.book(1)["bids"] == [[99, 1, 1], [98, 4, 1]]


@pytest.mark.parametrize("entry,reason", [
    ((1, "1", CHANGE, 10, 1, 100, 1), "SIDE_MISMATCH"),
    ((2, "0", DELETE, 10, 1, 100, 1), "INSTRUMENT_MISMATCH"),
    ((1, "0", NEW, 10, 1, 100, 1), "DUPLICATE_ID"),
    ((1, "0", CHANGE, 99, 1, 100, 1), "UNKNOWN_ID"),
    ((1, "0", CHANGE, 10, 1, 100, 0), "BAD_SIZE"),
    ((1, "0", NEW, 11, 1, 100, -4), "BAD_SIZE"),
    ((1, "0", NEW, 11, 1, PRICE_NULL, 4), "BAD_PRICE"),
    ((1, "0", NEW, RESERVED, 1, 100, 4), "RESERVED_ID"),
    ((1, "E", NEW, 11, 1, 100, 4), "BAD_ENTRY_TYPE"),
    ((1, "0", 5, 11, 1, 100, 4), "BAD_ACTION"),
    ((8, "0", NEW, 11, 1, 100, 4), "BAD_INSTRUMENT"),
])
def test_refusals_change_nothing(entry, reason):
    b = books()
    b.apply(1, "0", NEW, 10, 1, 100, 3)
    before = b.orders.copy(), b.levels.copy(), b.books.copy(), b.stats_array.copy()
    with pytest.raises(OrderBookError, match=r"order book refused: instrument") as info:
        b.apply(*entry)
    assert info.value.reason == reason and STATUS_NAMES[info.value.status] == reason
    after = b.orders, b.levels, b.books, b.stats_array
    b.stats_array[km.MboStat.REFUSED] -= 1  # the class counts the refusal
    assert all((x == y).all() for x, y in zip(before, after, strict=True))


def test_table_grows_from_one_slot_to_max_orders():
    b = books(max_orders=5000, initial_orders=1, n_instruments=3, errors="skip")
    rows = [(i % 3, "01"[i & 1], NEW, 7 + 13 * i, i, 1000 + (i % 50) * (1 if i & 1 else -1),
             1 + i % 9) for i in range(5000)]
    assert b.apply_entries(OrderBooks.entries(rows)) == 5000
    assert b.capacity == 5000 and b.stats()["live_orders"] == 5000
    assert b.levels.shape[0] >= b.stats()["live_levels"]
    assert b.apply(0, "0", NEW, 1, 0, 5, 5) is False
    assert b.rejections[-1].reason == "ORDERS_FULL"
    ref = ReferenceMbo(3)
    for r in rows:
        ref.apply(*r)
    for i in range(3):
        assert b.book(i) == ref.book(i)
    check_table(b)


def test_full_table_raises_and_changes_nothing_then_takes_orders_after_deletes():
    b = books(max_orders=8, initial_orders=2)
    for i in range(8):
        b.apply(0, "0", NEW, i, i, 50 + i, 1)
    before = b.orders.copy()
    with pytest.raises(OrderBookError, match="order table full"):
        b.apply(0, "1", NEW, 100, 0, 60, 1)
    assert (b.orders == before).all()
    b.apply(0, "0", DELETE, 3)
    b.apply(0, "1", NEW, 100, 0, 60, 1)
    assert b.order(100)["price"] == 60


def test_level_pool_full():
    b = books(max_orders=64, max_levels=3, errors="skip")
    b.apply(0, "0", NEW, 1, 0, 10, 1)
    b.apply(0, "0", NEW, 2, 0, 11, 1)
    b.apply(1, "1", NEW, 3, 0, 12, 1)
    assert not b.apply(2, "1", NEW, 4, 0, 13, 1)  # any new price, anywhere
    assert not b.apply(0, "0", NEW, 5, 0, 10, 1)  # even an existing one: checked first
    assert [e.reason for e in b.rejections] == ["LEVELS_FULL"] * 2
    assert b.apply(0, "0", CHANGE, 1, 0, 9, 1)  # the only order of its level may move
    b.apply(0, "0", DELETE, 2)
    assert b.apply(2, "1", NEW, 4, 0, 13, 1)


def test_clear_makes_orders_stale_and_compaction_reclaims_them():
    b = books(max_orders=16, initial_orders=16, n_instruments=4)
    for i in range(12):
        b.apply(i % 2, "01"[i % 2], NEW, 1000 + i, i, 10 + i % 3, 2)
    b.clear(0)
    s = b.stats()
    assert s["live_orders"] == 6 and s["stale_orders"] == 6 and b.book(0) == {"bids": [],
                                                                                 "asks": []}
    assert b.order(1000) is None and b.order(1001)["inst"] == 1
    b.apply(2, "1", NEW, 1000, 1, 7, 7)  # the stale record of 1000 becomes the live order
    assert b.stats()["stale_orders"] == 5 and b.order(1000)["inst"] == 2
    for i in range(9):  # 6 live + 5 stale + 9 > 16: a compaction makes room, no growth
        b.apply(3, "0", NEW, 5000 + i, i, 1, 1)
    s = b.stats()
    assert s["compactions"] == 1 and s["stale_orders"] == 0 and s["live_orders"] == 16
    assert b.capacity == 16
    check_table(b)


def test_compaction_with_chains_that_wrap_past_the_table_end():
    b = books(max_orders=32, initial_orders=32, n_instruments=2)
    mask = b.mask
    ids = list(zip(range(24), homing_at({mask - 1, mask, 0}, mask, 1), strict=False))
    for j, oid in ids:
        b.apply(j % 2, "0", NEW, oid, j, 100 + j % 4, 1)
    used = np.flatnonzero(b.orders["id"] != km.EMPTY_ID)
    assert 0 in used and mask in used  # the chain runs over the end
    b.clear(0)
    assert km.mbo_compact(b.orders, b.mask, b.levels, b.books, b.stats_array) == 12
    check_table(b)
    kept = sorted(((-(100 + j % 4), j, oid) for j, oid in ids if j % 2))  # price, priority
    assert [o["order_id"] for o in b.orders_of(1)] == [oid for _, _, oid in kept]
    assert all(b.order(oid) is None for j, oid in ids if j % 2 == 0)


def test_snapshot_chunks_replace_then_add():
    b = books(errors="skip")
    b.apply(1, "0", NEW, 1, 1, 100, 5)
    b.apply(2, "0", NEW, 2, 1, 100, 5)
    assert b.load_snapshot(1, [(1, 7, 101, 3, "0"), (3, 8, 102, 4, "1")], first=True)
    assert b.load_snapshot(1, [(4, 9, 102, 1, "1")], first=False)
    assert b.book(1) == {"bids": [[101, 3, 1]], "asks": [[102, 5, 2]]}
    assert b.order(1)["priority"] == 7
    assert not b.load_snapshot(1, [(3, 1, 1, 1, "0")], first=False)  # already loaded
    assert b.rejections[-1].reason == "DUPLICATE_ID"
    assert not b.load_snapshot(1, [(5, 1, 1, 1, "0"), (2, 1, 1, 1, "0")], first=True)
    assert b.rejections[-1].reason == "DUPLICATE_ID" and b.rejections[-1].offset == 1
    assert b.book(1) == {"bids": [[101, 3, 1]], "asks": [[102, 5, 2]]}  # unchanged
    s = b.stats()
    assert s["snapshot_chunks"] == 2 and s["snapshot_orders"] == 3 and s["clears"] == 1


def test_snapshot_that_fits_only_once_the_instrument_is_cleared():
    b = books(max_orders=6, max_levels=64, initial_orders=6, n_instruments=2, errors="skip")
    for i in range(6):
        b.apply(i % 2, "0", NEW, i, i, 100 + i, 1)
    # instrument 0 holds 3 of 6: a first chunk of 3 fits, a later chunk of 1 does not
    assert not b.load_snapshot(0, [(10, 0, 5, 1, "1")], first=False)
    assert b.rejections[-1].reason == "ORDERS_FULL"
    assert not b.load_snapshot(0, [(10 + j, 0, 5, 1, "1") for j in range(4)], first=True)
    assert b.book(0)["bids"] == [[104, 1, 1], [102, 1, 1], [100, 1, 1]]  # unchanged
    assert b.load_snapshot(0, [(10 + j, 0, 5, 1, "1") for j in range(3)], first=True)
    assert b.book(0) == {"bids": [], "asks": [[5, 3, 3]]} and len(b.orders_of(1)) == 3
    assert b.stats()["clears"] == 1
    check_table(b)


def test_snapshot_grows_the_table_and_the_level_pool():
    b = books(max_orders=1000, initial_orders=2, n_instruments=1)
    chunk = [(i, i, 1000 - i, 1 + i % 5, "01"[i % 2]) for i in range(300)]
    assert b.load_snapshot(0, chunk, first=True)
    assert b.stats()["live_orders"] == 300 and b.stats()["live_levels"] == 300
    check_table(b)


def test_j_entry_clears_one_instrument():
    b = books()
    b.apply(0, "0", NEW, 1, 1, 5, 5)
    b.apply(1, "0", NEW, 2, 1, 5, 5)
    b.apply(0, "J", NEW, 0)
    assert b.book(0) == {"bids": [], "asks": []} and b.order(2)["inst"] == 1
    assert b.stats()["book_resets"] == 1


@njit(cache=False)
def _handler_loop(orders, mask, levels, free, books, stats, capacity, ids, sides, actions,
                  prices, qtys):
    # how a compiled feed handler calls the kernel: prefetch a few entries ahead, one call
    # per entry, statuses checked
    n = ids.shape[0]
    for j in range(n):
        if j + 4 < n:
            km.mbo_prefetch(orders, mask, ids[j + 4])
        st = km.mbo_apply(orders, mask, levels, free, books, stats, capacity, 0, sides[j],
                          actions[j], ids[j], np.uint64(j), prices[j], qtys[j])
        if st != 0:
            return j, st
    return n, 0


def test_kernel_called_from_compiled_code():
    b = books(max_orders=64, initial_orders=64)
    ids = np.array([5, 6, 7, 5, 6, 9], np.uint64)
    sides = np.array([48, 48, 49, 48, 48, 48], np.uint8)
    actions = np.array([0, 0, 0, 1, 2, 1], np.uint8)
    prices = np.array([10, 11, 12, 11, 0, 1], np.int64)
    qtys = np.array([1, 2, 3, 4, 0, 1], np.int64)
    n, st = _handler_loop(b.orders, b.mask, b.levels, b.free, b.books, b.stats_array,
                          b.capacity, ids, sides, actions, prices, qtys)
    assert (n, STATUS_NAMES[st]) == (5, "UNKNOWN_ID")
    assert b.book(0) == {"bids": [[11, 4, 1]], "asks": [[12, 3, 1]]}


def test_a_simulated_day_as_mdp3_order_entries_builds_the_venues_books():
    """The venue simulator's ITCH day turned into MDP3 order entries (adds New, partial
    executions and cancels Change, whole ones and deletes Delete, a replace Delete + New) must
    be accepted whole and end in the venue's own books."""
    from tickpath.codec.itch50 import EVENT_DTYPE, LENGTHS
    from tickpath.codec.itch50.decode import decode_batch
    from tickpath.venue import Simulator

    sim = Simulator(symbols=30, messages=30_000, seed=3)
    buf = sim.blocks()
    events = np.zeros(40_000, EVENT_DTYPE)
    n, _, _ = decode_batch(buf, 0, buf.shape[0], LENGTHS, events, 0, 0)
    live: dict[int, list[int]] = {}  # ref -> [locate, side byte, price9, shares]
    rows = []
    for ev in events[:n].tolist():
        t, side, loc, ref, new_ref, shares, price = (ev[0], ev[1], ev[4], ev[7], ev[8], ev[9],
                                                     ev[10])
        if t in (65, 70, 85):  # A F U
            if t == 85:
                loc, s, p, _ = live.pop(ref)
                rows.append((loc, s, DELETE, ref, 0, p, 0))
                ref = new_ref
            else:
                s = 48 if side == 66 else 49
            live[ref] = [loc, s, price * 100_000, shares]
            rows.append((loc, s, NEW, ref, len(rows), price * 100_000, shares))
        elif t in (69, 67, 88, 68):  # E C X D
            o = live[ref]
            o[3] = 0 if t == 68 else o[3] - shares
            if o[3] == 0:
                del live[ref]
                rows.append((o[0], o[1], DELETE, ref, 0, o[2], 0))
            else:
                rows.append((o[0], o[1], CHANGE, ref, len(rows), o[2], o[3]))
    b = OrderBooks(max_orders=1 << 12, n_instruments=64, initial_orders=64)
    entries = OrderBooks.entries(rows)
    assert b.apply_entries(entries) == len(rows) > 10_000
    venue = sim.books()
    assert sum(len(v["bids"]) + len(v["asks"]) for v in venue.values()) > 100
    for loc in range(64):
        want = venue.get(loc, {"bids": [], "asks": []})
        scaled = {s: [[p * 100_000, q, c] for p, q, c in want[s]] for s in ("bids", "asks")}
        assert b.book(loc) == scaled, loc
    check_table(b)
