"""DepthBooks (MDP3 market-by-price books) against tests/reference/depth.py.

Random streams of entries, built from the reference's state so that most are valid and every
kind of refusal occurs, are cut into batches and applied with ``errors="skip"``; after every
batch the books (outright, implied, merged when ordered), the counters and the refusals (reason
and offset) must equal the reference's. Hand-written cases pin each action's edges.
"""

from __future__ import annotations

import os
import random

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from numba import njit

from reference.depth import INT32_NULL, PRICE_NULL, ReferenceDepth
from tickpath.book import DepthBookError, DepthBooks
from tickpath.book import depth as kd
from tickpath.book.mdp3 import STATUS_NAMES

# NUMBA_DISABLE_JIT runs (test_mdp3_books_nojit.py) use fewer examples
EXAMPLES = int(os.environ.get("TICKPATH_TEST_EXAMPLES", "0"))
SETTINGS = settings(max_examples=EXAMPLES or 150, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

NEW, CHANGE, DELETE, DELETE_THRU, DELETE_FROM, OVERLAY = range(6)
G = 1_000_000_000  # PRICE9: one unit of real price


# -- comparing ---------------------------------------------------------------------------------

def ordered(levels: list[list[int]], bid: bool) -> bool:
    ps = [lv[0] for lv in levels]
    return all((a > b) if bid else (a < b) for a, b in zip(ps, ps[1:], strict=False))


def assert_same(books: DepthBooks, ref: ReferenceDepth) -> None:
    for i in range(ref.n):
        for which in ("outright", "implied"):
            assert books.book(i, which) == ref.book(i, which), (i, which)
        r = ref.books[i]
        if all(ordered(r[b], b % 2 == 0) for b in range(4)):
            assert books.book(i, "merged") == ref.book(i, "merged"), i
        assert books.depth_of(i) == tuple(ref.depths[i])
    s = books.stats()
    for key in ("new", "change", "delete", "delete_thru", "delete_from", "overlay",
                "book_resets", "clears", "snapshots", "snapshot_levels", "refused"):
        assert s[key] == ref.counts[key], key
    assert [e.reason for e in books.rejections] == ref.rejections[-100:]


# -- random streams ------------------------------------------------------------------------------

TYPES = "01EF"


class DepthStream:
    """Turns integer tuples (what hypothesis draws and shrinks well) into operations chosen
    from the reference's state: entries (mostly valid, some refused), clears, snapshots and
    depth changes."""

    def __init__(self, ref: ReferenceDepth, base: int) -> None:
        self.ref = ref
        self.base = base  # prices: base + small steps, so levels share prices now and then

    def _price(self, x: int, b: int) -> int:
        return (self.base + (x % 9) - 4) * G // 4

    def _values(self, x: int, y: int) -> tuple[int, int]:
        return 1 + x % 500, 1 + y % 40

    def op(self, kind: int, a: int, b: int, c: int):
        ref = self.ref
        kind %= 100
        inst = a % ref.n
        t = "0011001101EF"[b % 12]  # implied entries a third as often
        bk = TYPES.index(t)
        side = ref.books[inst][bk]
        depth = ref.depths[inst][bk // 2]
        count = len(side)
        size, orders = self._values(c, c >> 9)
        if kind < 35 or (kind < 65 and not count):  # New: top to just past the last level
            level = 1 + (c >> 3) % max(1, min(count + 1, depth))
            if kind < 6 and depth:
                level = min(count + 1, depth)  # often the last level of a full side
            return "e", (inst, t, NEW, level, self._price(c >> 5, bk), size, orders)
        if kind < 50:  # Change: the level's price, or null
            level = 1 + (c >> 3) % count
            price = PRICE_NULL if c & 4 else side[level - 1][0]
            return "e", (inst, t, CHANGE, level, price, size, orders)
        if kind < 62:
            level = 1 if c & 8 else 1 + (c >> 3) % count
            price = PRICE_NULL if c & 4 else side[level - 1][0]
            return "e", (inst, t, DELETE, level, price, 0, 0)
        if kind < 65:
            level = count if c & 4 else 1 + (c >> 3) % count
            return "e", (inst, t, DELETE_FROM, level, PRICE_NULL, 0, 0)
        if kind < 66:
            return "e", (inst, t, DELETE_THRU, c % 3, PRICE_NULL, 0, 0)
        if kind < 73:  # Overlay: an occupied level or the first empty one
            level = 1 + (c >> 3) % max(1, min(count + 1, depth))
            return "e", (inst, t, OVERLAY, level, self._price(c >> 5, bk), size, orders)
        if kind < 74:
            return "e", (inst, "J", c % 6, 0, PRICE_NULL, 0, 0)
        if kind < 75:
            return "clear", inst
        if kind < 79:
            return "snapshot", (inst, self.snapshot(inst, c))
        if kind < 80:  # mostly books that exist; now and then none
            d = c % (ref.max_depth + 1) if c & 7 == 0 else 1 + c % ref.max_depth
            di = (c >> 4) % (ref.max_implied_depth + 1) if c & 7 == 0 else ref.max_implied_depth
            return "depth", (inst, d, di)
        return "e", self.bad(kind, inst, t, bk, side, depth, c)

    def snapshot(self, inst: int, c: int) -> list[tuple]:
        rnd = random.Random(c)
        entries = []
        for bk, t in enumerate(TYPES):
            depth = self.ref.depths[inst][bk // 2]
            n = rnd.randint(0, depth)
            prices = sorted(rnd.sample(range(-50, 50), n), reverse=(bk % 2 == 0))
            for lv, p in enumerate(prices, 1):
                entries.append((t, lv, p * G // 8, rnd.randint(1, 999), rnd.randint(1, 20)
                                if bk < 2 else INT32_NULL))
        if rnd.random() < 0.3:  # statistics entries ride along in template 52
            entries.append(("6", 127, 5 * G, INT32_NULL, INT32_NULL))
            entries.append(("2", 0, PRICE_NULL, 7, 0))
        rnd.shuffle(entries)
        if entries and rnd.random() < 0.3:  # spoil it
            j = rnd.randrange(len(entries))
            t, lv, p, s, o = entries[j]
            how = rnd.randrange(6)
            if how == 0:
                entries.append(entries[j])  # duplicate level
            elif how == 1:
                entries[j] = (t, lv + 5, p, s, o)  # gap, or beyond the depth
            elif how == 2:
                entries[j] = (t, lv, p, 0, o)
            elif how == 3:
                entries[j] = (t, lv, PRICE_NULL, s, o)
            elif how == 4:
                entries[j] = (t, 0, p, s, o)
            else:
                entries[j] = (t, lv, p, s, 0)  # outright without orders (implied: fine)
        return entries

    def bad(self, kind, inst, t, bk, side, depth, c):
        count = len(side)
        size, orders = self._values(c, c >> 9)
        price = self._price(c >> 5, bk)
        sub = (kind + c) % 14
        if sub == 0:
            return (inst, t, c % 6, depth + 1 + c % 3, price, size, orders)  # beyond depth
        if sub == 1:
            return (inst, t, c % 6, 0, price, size, orders)
        if sub == 2:
            return (inst, t, NEW if c & 1 else OVERLAY, count + 2, price, size, orders)  # gap
        if sub == 3:
            return (inst, t, (CHANGE, DELETE, DELETE_FROM)[c % 3], count + 1, price, size,
                    orders)  # empty level
        if sub == 4 and count:
            return (inst, t, CHANGE if c & 1 else DELETE, 1, side[0][0] + 1, size, orders)
        if sub == 5:
            return (inst, t, 6 + c % 250, 1, price, size, orders)
        if sub == 6:
            return (inst, "2xw\x00"[c % 4], NEW, 1, price, size, orders)
        if sub == 7:
            return (inst, t, NEW if c & 1 else OVERLAY, 1, PRICE_NULL, size, orders)
        if sub == 8:
            return (inst, t, (NEW, CHANGE, OVERLAY)[c % 3], 1, price,
                    (0, -5, INT32_NULL)[c % 3], orders)
        if sub == 9:
            return (inst, "01"[c & 1], (NEW, CHANGE, OVERLAY)[c % 3], 1, price, size,
                    (0, -1, INT32_NULL)[c % 3])
        if sub == 10:
            return (self.ref.n + c % 3, t, NEW, 1, price, size, orders)
        if sub == 11:
            return (-1 - c % 2, "J", NEW, 1, price, size, orders)
        return (inst, t, NEW, 1, price, size, orders)  # valid, to keep the books filling


def run_stream(n, max_depth, max_imp, depths, op_list, cuts, base=1000):
    books = DepthBooks(n, max_depth, max_imp, errors="skip")
    ref = ReferenceDepth(n, max_depth, max_imp)
    for i, (d, di) in enumerate(depths[:n]):
        books.set_depth(i, min(d, max_depth), min(di, max_imp))
        ref.set_depth(i, min(d, max_depth), min(di, max_imp))
    gen = DepthStream(ref, base)
    cut = iter(cuts)
    pending: list[tuple] = []

    def flush():
        if pending:
            arr = DepthBooks.entries(pending)
            applied = books.apply_entries(arr)
            assert applied + sum(1 for r in reasons if r) == len(pending)
            pending.clear()
            reasons.clear()
            assert_same(books, ref)

    reasons: list[str | None] = []
    size = next(cut, 5)
    for op in op_list:
        what, arg = gen.op(*op)
        if what == "e":
            reasons.append(ref.apply(*arg))
            pending.append(arg)
            if len(pending) >= size:
                flush()
                size = next(cut, 5)
            continue
        flush()
        if what == "clear":
            books.clear(arg)
            ref.clear(arg)
        elif what == "snapshot":
            inst, entries = arg
            want = ref.snapshot(inst, entries)
            if want is not None:
                ref.counts["refused"] += 1
                ref.rejections.append(want[0])
            assert books.load_snapshot(inst, entries) == (want is None)
            if want is not None:
                assert books.rejections[-1].offset == (want[1] if want[1] >= 0 else None)
        else:
            books.set_depth(*arg)
            ref.set_depth(*arg)
        assert_same(books, ref)
    flush()
    return books, ref


def ops(min_size=1, max_size=200):
    word = st.integers(0, (1 << 32) - 1)
    return st.lists(st.tuples(st.integers(0, 99), word, word, word), min_size=min_size,
                    max_size=max_size)


@SETTINGS
@given(n=st.integers(1, 3), max_depth=st.sampled_from([1, 2, 3, 5, 10]),
       max_imp=st.sampled_from([0, 1, 2, 3]),
       depths=st.lists(st.tuples(st.sampled_from([0, 1, 2, 5, 10, 10]),
                                 st.sampled_from([0, 1, 2, 2, 3])), min_size=3, max_size=3),
       op_list=ops(30, 300), cuts=st.lists(st.integers(1, 12), max_size=30))
def test_random_streams_match_reference(n, max_depth, max_imp, depths, op_list, cuts):
    run_stream(n, max_depth, max_imp, depths, op_list, cuts)


@settings(SETTINGS, max_examples=EXAMPLES or 10)
@given(seed=st.integers(0, (1 << 32) - 1))
def test_long_random_streams_match_reference(seed):
    """Long enough to fill every side, churn it and refill it many times over."""
    rnd = random.Random(seed)
    op_list = [(rnd.randrange(100), rnd.getrandbits(32), rnd.getrandbits(32),
                rnd.getrandbits(32)) for _ in range(1500)]
    books, ref = run_stream(2, 10, 2, [(10, 2), (rnd.randint(1, 10), rnd.randint(0, 2))],
                            op_list, [rnd.randint(1, 40) for _ in range(200)])
    assert sum(ref.counts[k] for k in ("new", "change", "delete", "overlay")) > 300


# -- hand-written edges ---------------------------------------------------------------------------

def full(depth=5, implied=2, n=2):
    """Books with instrument 0's outright sides full: bids 100, 99, ...; offers 101, 102, ..."""
    books = DepthBooks(n, max_depth=depth, max_implied_depth=implied)
    for j in range(depth):
        books.apply(0, "0", NEW, j + 1, (100 - j) * G, 10 + j, 1 + j)
        books.apply(0, "1", NEW, j + 1, (101 + j) * G, 20 + j, 2 + j)
    return books


def prices(books, inst=0, side="bids", which="outright"):
    return [lv[0] // G for lv in books.book(inst, which)[side]]


def test_new_at_the_last_level_of_a_full_side_pushes_that_level_off():
    books = full()
    books.apply(0, "0", NEW, 5, 95 * G + G // 2, 7, 1)
    assert prices(books) == [100, 99, 98, 97, 95]  # 96 fell off, 95.5 truncated by // G
    assert books.book(0)["bids"][4] == [95 * G + G // 2, 7, 1]
    books.apply(0, "0", NEW, 1, 101 * G, 1, 1)  # at the top: the last one falls off
    assert prices(books) == [101, 100, 99, 98, 97]
    assert books.book(0)["asks"] == full().book(0)["asks"]


def test_delete_at_level_one_of_a_full_side_leaves_the_last_level_empty():
    books = full()
    books.apply(0, "1", DELETE, 1, 101 * G)
    assert prices(books, side="asks") == [102, 103, 104, 105]
    assert books.qty[0, 1, 4] == 0 and books.px[0, 1, 4] == 0 and books.nord[0, 1, 4] == 0
    books.apply(0, "1", NEW, 5, 106 * G, 3, 1)  # the venue refills the bottom
    assert prices(books, side="asks") == [102, 103, 104, 105, 106]


@pytest.mark.parametrize("n", [1, 2, 4, 5])
def test_delete_from_removes_the_top_n_levels(n):
    books = full()
    books.apply(0, "0", DELETE_FROM, n)
    assert prices(books) == [100 - j for j in range(n, 5)]
    if n == 5:  # N = depth: the whole side
        assert books.book(0)["bids"] == []
    assert len(books.book(0)["asks"]) == 5


def test_delete_from_beyond_the_occupied_levels_is_refused():
    books = DepthBooks(1, 5, 2, errors="skip")
    books.apply(0, "0", NEW, 1, 5 * G, 1, 1)
    before = books.book(0)
    assert not books.apply(0, "0", DELETE_FROM, 2)
    assert books.rejections[-1].reason == "EMPTY_LEVEL"
    assert books.book(0) == before


def test_delete_thru_clears_one_side_and_j_clears_both_books():
    books = full()
    books.apply(0, "E", NEW, 1, 100 * G, 4)
    books.apply(0, "0", DELETE_THRU, 0)
    assert books.book(0)["bids"] == [] and len(books.book(0)["asks"]) == 5
    assert books.book(0, "implied")["bids"] == [[100 * G, 4, 0]]
    books.apply(0, "J", NEW, 0)
    assert books.book(0) == books.book(0, "implied") == {"bids": [], "asks": []}
    assert books.stats()["book_resets"] == 1


def test_change_keeps_the_price_overlay_replaces_it():
    books = full()
    books.apply(0, "0", CHANGE, 2, 99 * G, 55, 9)
    assert books.book(0)["bids"][1] == [99 * G, 55, 9]
    books.apply(0, "0", CHANGE, 2, PRICE_NULL, 56, 8)  # null price: no price check
    assert books.book(0)["bids"][1] == [99 * G, 56, 8]
    books.apply(0, "0", OVERLAY, 2, 98 * G + 1, 3, 1)
    assert books.book(0)["bids"][1] == [98 * G + 1, 3, 1]
    assert prices(books) == [100, 98, 98, 97, 96]  # nothing shifted
    books.errors = "skip"
    assert not books.apply(0, "0", CHANGE, 2, 99 * G, 1, 1)  # not the level's price
    assert books.rejections[-1].reason == "PRICE_MISMATCH"


def test_change_and_overlay_at_empty_levels():
    books = DepthBooks(1, 5, 2, errors="skip")
    books.apply(0, "1", NEW, 1, 7 * G, 1, 1)
    assert not books.apply(0, "1", CHANGE, 2, 8 * G, 1, 1)
    assert books.rejections[-1].reason == "EMPTY_LEVEL"
    assert not books.apply(0, "1", OVERLAY, 3, 9 * G, 1, 1)  # would leave level 2 empty
    assert books.rejections[-1].reason == "LEVEL_GAP"
    assert books.apply(0, "1", OVERLAY, 2, 8 * G, 2, 1)  # the first empty level: filled
    assert books.book(0)["asks"] == [[7 * G, 1, 1], [8 * G, 2, 1]]
    assert not books.apply(0, "1", NEW, 4, 9 * G, 1, 1)
    assert books.rejections[-1].reason == "LEVEL_GAP"


def test_implied_book_is_kept_apart_with_its_own_depth_and_no_orders():
    books = full(depth=5, implied=2)
    outright = books.book(0)
    books.apply(0, "E", NEW, 1, 100 * G, 5, 99)  # orders ignored on implied entries
    books.apply(0, "E", NEW, 2, 99 * G, 6)
    books.apply(0, "E", NEW, 1, 101 * G, 7)  # pushes 99 off the 2-deep implied book
    books.apply(0, "F", NEW, 1, 102 * G, 8)
    assert books.book(0) == outright
    assert books.book(0, "implied") == {"bids": [[101 * G, 7, 0], [100 * G, 5, 0]],
                                        "asks": [[102 * G, 8, 0]]}
    books.errors = "skip"
    assert not books.apply(0, "E", NEW, 3, 98 * G, 1)
    assert books.rejections[-1].reason == "BAD_LEVEL"
    books.set_depth(1, 5, 0)
    assert not books.apply(1, "F", NEW, 1, 98 * G, 1)
    assert books.rejections[-1].reason == "NO_DEPTH"


def test_merged_view_adds_equal_prices_and_takes_orders_from_outright_only():
    books = full(depth=3, implied=2)  # bids 100 99 98, offers 101 102 103
    books.apply(0, "E", NEW, 1, 100 * G, 5)
    books.apply(0, "E", NEW, 2, 97 * G, 6)
    books.apply(0, "F", NEW, 1, 100 * G + G // 2, 7)  # inside the outright offer
    books.apply(0, "F", NEW, 2, 102 * G, 8)
    m = books.book(0, "merged")
    assert m["bids"] == [[100 * G, 15, 1], [99 * G, 11, 2], [98 * G, 12, 3], [97 * G, 6, 0]]
    assert m["asks"] == [[100 * G + G // 2, 7, 0], [101 * G, 20, 2], [102 * G, 29, 3],
                         [103 * G, 22, 4]]
    assert books.best(0, "merged") == ([100 * G, 15, 1], [100 * G + G // 2, 7, 0])


@SETTINGS
@given(out=st.lists(st.integers(-30, 30), max_size=10, unique=True),
       imp=st.lists(st.integers(-30, 30), max_size=3, unique=True),
       side=st.sampled_from("01"), room=st.integers(1, 14))
def test_merged_view_matches_reference_on_ordered_books(out, imp, side, room):
    bid = side == "0"
    out = sorted(out, reverse=bid)
    imp = sorted(imp, reverse=bid)
    books = DepthBooks(1, 10, 3)
    ref = ReferenceDepth(1, 10, 3)
    entries = [(side, j + 1, p * G, 10 + j, 1 + j) for j, p in enumerate(out)]
    entries += [("E" if bid else "F", j + 1, p * G, 100 + j, 0) for j, p in enumerate(imp)]
    assert books.load_snapshot(0, entries) and ref.snapshot(0, entries) is None
    name = "bids" if bid else "asks"
    want = ref.book(0, "merged")[name]
    assert books.book(0, "merged")[name] == want
    # a smaller output keeps the best levels
    buf = np.zeros((room, 3), np.int64)
    n = kd.depth_merged(books.px, books.qty, books.nord, 0, 0 if bid else 1, buf)
    assert buf[:n].tolist() == want[:room]


def test_snapshot_replaces_both_books_and_skips_statistics():
    books = full()
    books.apply(0, "E", NEW, 1, 50 * G, 1)
    books.load_snapshot(0, [("1", 1, 7 * G, 3, 2), ("6", 127, 1, 1, 1), ("0", 2, 5 * G, 1, 1),
                            ("0", 1, 6 * G, 2, 1), ("F", 1, 8 * G, 9, INT32_NULL)])
    assert books.book(0) == {"bids": [[6 * G, 2, 1], [5 * G, 1, 1]], "asks": [[7 * G, 3, 2]]}
    assert books.book(0, "implied") == {"bids": [], "asks": [[8 * G, 9, 0]]}
    assert books.stats()["snapshots"] == 1 and books.stats()["snapshot_levels"] == 4


@pytest.mark.parametrize("entries,reason,at", [
    ([("0", 1, G, 1, 1), ("0", 3, G, 1, 1)], "LEVEL_GAP", 1),
    ([("0", 2, G, 1, 1)], "LEVEL_GAP", 0),
    ([("0", 1, G, 1, 1), ("1", 1, G, 1, 1), ("0", 1, 2 * G, 1, 1)], "DUPLICATE_LEVEL", 2),
    ([("E", 3, G, 1, 0)], "BAD_LEVEL", 0),
    ([("0", 1, G, 0, 1)], "BAD_SIZE", 0),
    ([("1", 1, G, 5, INT32_NULL)], "BAD_ORDERS", 0),
    ([("0", 1, PRICE_NULL, 5, 1)], "BAD_PRICE", 0),
])
def test_refused_snapshot_changes_nothing(entries, reason, at):
    books = full()
    before = [books.book(0, w) for w in ("outright", "implied")]
    with pytest.raises(DepthBookError, match=f"at snapshot entry {at}:") as info:
        books.load_snapshot(0, entries)
    assert info.value.reason == reason
    assert [books.book(0, w) for w in ("outright", "implied")] == before


def test_refusal_raises_names_the_entry_and_changes_nothing():
    books = full()
    arr = DepthBooks.entries([(0, "0", CHANGE, 1, 100 * G, 3, 1), (0, "1", NEW, 7, G, 1, 1)])
    before = books.px.copy(), books.qty.copy(), books.nord.copy()
    with pytest.raises(DepthBookError, match=r"at entry 1: instrument 0, type '1' \(offer\) "
                                             r"New, level 7.*MDPriceLevel outside") as info:
        books.apply_entries(arr)
    assert STATUS_NAMES[info.value.status] == "BAD_LEVEL"
    assert books.book(0)["bids"][0] == [100 * G, 3, 1]  # the entry before it was applied
    before[1][0, 0, 0] = 3
    assert all((a == b).all() for a, b in zip(before, (books.px, books.qty, books.nord),
                                              strict=True))
    assert books.stats()["refused"] == 1


def test_set_depth_truncates_and_bounds():
    books = full(depth=5)
    books.set_depth(0, 2, 1)
    assert prices(books) == [100, 99]
    with pytest.raises(ValueError, match="outside 0..5"):
        books.set_depth(0, 6, 1)
    with pytest.raises(KeyError):
        books.book(2)


@njit(cache=False)
def _handler_loop(px, qty, nord, limits, stats, types, actions, levels, prices, sizes, nords):
    # how a compiled feed handler calls the kernel: one entry at a time, statuses checked
    bad = 0
    for j in range(types.shape[0]):
        st = kd.depth_apply(px, qty, nord, limits, stats, 0, types[j], actions[j], levels[j],
                            prices[j], sizes[j], nords[j])
        if st != 0:
            bad += 1
    return bad


def test_kernel_called_from_compiled_code():
    books = DepthBooks(1, 3, 2)
    types = np.array([48, 48, 49, 69, 48, 88], np.uint8)
    actions = np.array([0, 0, 0, 0, 1, 0], np.uint8)
    levels = np.array([1, 1, 1, 1, 2, 1], np.int64)
    px = np.array([5, 6, 7, 6, 5, 1], np.int64) * G
    sizes = np.array([1, 2, 3, 4, 9, 1], np.int64)
    nords = np.array([1, 1, 1, 0, 2, 1], np.int64)
    bad = _handler_loop(books.px, books.qty, books.nord, books.limits, books.stats_array,
                        types, actions, levels, px, sizes, nords)
    assert bad == 1  # 'X' is no book entry type
    assert books.book(0) == {"bids": [[6 * G, 2, 1], [5 * G, 9, 2]], "asks": [[7 * G, 3, 1]]}
    assert books.book(0, "merged")["bids"] == [[6 * G, 6, 1], [5 * G, 9, 2]]
