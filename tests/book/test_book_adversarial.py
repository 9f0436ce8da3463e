"""Adversarial book shapes and reference numbers, each compared with the reference book.

Many orders at one price, deep books, replace chains, re-used references, executions that
exactly empty a level, interleaved instruments, and reference numbers aimed at the hash table:
multiples of large powers of two (one home slot for all), numbers whose probe chains wrap past
the table's end, sequential numbers.
"""

from __future__ import annotations

import os

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reference.harness import A, Both, C, D, E, F, R, U, X, refs_homing_at

EXAMPLES = int(os.environ.get("TICKPATH_TEST_EXAMPLES", "0"))
SETTINGS = settings(max_examples=EXAMPLES or 30, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])


@settings(SETTINGS, max_examples=EXAMPLES or 8)
@given(rnd=st.randoms(use_true_random=False), n=st.integers(1, 500))
def test_many_orders_at_one_price(rnd, n):
    b = Both(max_orders=512)
    b.run([R("ONE")])
    b.run([(A if i % 2 else F)(1000 + i, "B", 1 + i % 7, 5000) for i in range(n)]
          + [A(5000 + i, "S", 100, 5001) for i in range(min(n, 10))])
    assert b.store.best_bid(1) == (5000, sum(1 + i % 7 for i in range(n)), n)
    # take the orders out in a random order and way, in random batches
    live = {1000 + i: 1 + i % 7 for i in range(n)}
    msgs = []
    while live:
        ref = rnd.choice(sorted(live))
        left = live[ref]
        how = rnd.randrange(5)
        if how == 0 and left > 1:
            take = rnd.randrange(1, left)
            msgs.append(E(ref, take))
            live[ref] -= take
        elif how == 1:
            msgs.append(E(ref, left))  # exactly the open shares
            del live[ref]
        elif how == 2:
            msgs.append(C(ref, left, price=5000))
            del live[ref]
        elif how == 3:
            msgs.append(X(ref, left))
            del live[ref]
        else:
            msgs.append(D(ref))
            del live[ref]
        if len(msgs) >= rnd.randrange(1, 120):
            b.run(msgs)
            msgs = []
    b.run(msgs)
    assert b.store.best_bid(1) is None
    assert b.store.stats()["live_levels"] == 1  # the asks
    # no level leaked: the whole pool of 512 levels is usable again
    b.run([D(5000 + i) for i in range(min(n, 10))])
    b.run([A(9000 + i, "B" if i % 2 else "S", 1, 10 + 2 * i) for i in range(512)])
    assert b.store.stats()["live_levels"] == 512


def test_deep_books_interleaved_instruments():
    b = Both(max_orders=4096, locates=(1, 2))
    b.run([R("DEEP", 1), R("OTHER", 2)])
    msgs = []
    for i in range(1000):
        msgs.append(A(10 + i, "B", 100 + i, 100_000 - 7 * i, loc=1))
        msgs.append(A(20_000 + i, "S", 50 + i, 100_001 + 5 * i, loc=1))
        if i % 3 == 0:
            msgs.append(A(40_000 + i, "B" if i % 2 else "S", 10, 200 + i, loc=2))
    b.run(msgs)
    d = b.store.depth(1)
    assert len(d["bids"]) == 1000 and len(d["asks"]) == 1000
    assert d["bids"][0] == [100_000, 100, 1] and d["asks"][0] == [100_001, 50, 1]
    assert b.store.depth(1, 3)["bids"] == [[100_000, 100, 1], [99_993, 101, 1], [99_986, 102, 1]]
    # holes in the middle, then refill them at new prices between the old ones
    b.run([D(10 + i, loc=1) for i in range(0, 1000, 3)])
    b.run([U(20_000 + i, 60_000 + i, 3, 100_003 + 5 * i, loc=1) for i in range(1, 1000, 4)])
    b.run([E(10 + i, 100 + i, loc=1) for i in range(1, 1000, 3)])  # exactly empties each level
    b.run([A(70_000 + i, "B", 1, 99_999 - 7 * i, loc=1) for i in range(500)])


def test_replace_chain():
    b = Both(max_orders=64, locates=(3, 4))
    b.run([A(1, "S", 100, 2000, loc=3), A(2, "B", 100, 1990, loc=3), A(1 << 40, "S", 5, 7, loc=4)])
    ref = 1
    for k in range(300):
        new = ref + 1 if k % 2 else (k + 2) << 48
        b.run([U(ref, new, 1 + k % 50, 2000 + (k * 37) % 11 - 5, loc=3)])
        assert b.store.order(ref) is None
        assert b.store.order(new)["side"] == "S"
        ref = new
    # replace back onto a reference that was live earlier in the chain
    b.run([U(ref, 1, 9, 1995, loc=3)])
    assert b.store.order(1) == b.ref.order(1) and b.store.order(1)["shares"] == 9


def test_reuse_of_deleted_references():
    b = Both(max_orders=16, locates=(1, 2, 7))
    b.run([A(7, "B", 100, 500), A(8, "S", 100, 600)])
    b.run([D(7)])
    b.run([A(7, "S", 30, 650, loc=2)])  # same number, other instrument and side
    b.run([E(7, 30, loc=2)])
    b.run([U(8, 7, 5, 610)])  # a replace onto the number just executed away
    b.run([D(7), F(7, "B", 1, 1, loc=7), X(7, 1, loc=7), A(7, "B", 2, 2, loc=7)])
    assert b.store.order(7) == {"ref": 7, "locate": 7, "symbol": "", "side": "B", "shares": 2,
                                "price": 2}


def test_executions_that_exactly_empty_a_level():
    b = Both(max_orders=64)
    b.run([A(1, "B", 10, 100), A(2, "B", 20, 100), A(3, "B", 30, 99), A(4, "S", 5, 101)])
    b.run([E(1, 4)])
    assert b.store.best_bid(1) == (100, 26, 2)
    b.run([E(1, 6), C(2, 20, price=100)])
    assert b.store.best_bid(1) == (99, 30, 1)
    b.run([X(3, 30)])
    assert b.store.best_bid(1) is None and b.store.stats()["live_levels"] == 1
    b.run([E(4, 5)])
    assert list(b.store.books()) == [] and b.store.stats()["live_orders"] == 0
    b.run([A(1, "S", 1, 100)])  # the pool and table are usable again


@SETTINGS
@given(shift=st.sampled_from([32, 40, 44, 48, 52, 56, 60]), n=st.integers(2, 64),
       rnd=st.randoms(use_true_random=False))
def test_refs_that_are_multiples_of_large_powers_of_two(shift, n, rnd):
    """k << shift: with the store's hash (bits 32.. of ref * golden ratio) every multiple of
    2**48 lands in one home slot of a small table: one long probe chain."""
    b = Both(max_orders=64, locates=(1, 2))
    refs = [k << shift for k in range(1, n + 1) if (k << shift) < (1 << 64) - 1]
    b.run([A(r, "B" if r & (1 << shift) else "S", 1 + i, 100 + i % 5, loc=1 + i % 2)
           for i, r in enumerate(refs)])
    _churn(b, refs, rnd)


@SETTINGS
@given(n=st.integers(2, 64), slot=st.integers(0, 127), start=st.sampled_from([0, 1 << 40]),
       rnd=st.randoms(use_true_random=False))
def test_refs_that_share_one_home_slot(n, slot, start, rnd):
    b = Both(max_orders=64, locates=(1, 2))
    mask = b.store.mask
    refs = refs_homing_at({slot & mask}, mask, start, n)
    b.run([A(r, "B" if i % 3 else "S", 1 + i, 100 + i % 5, loc=1 + i % 2)
           for i, r in enumerate(refs)])
    _churn(b, refs, rnd)


@SETTINGS
@given(n=st.integers(2, 60), start=st.sampled_from([0, 1 << 32, (1 << 63) + 5]),
       rnd=st.randoms(use_true_random=False))
def test_probe_chains_that_wrap_past_the_table_end(n, start, rnd):
    b = Both(max_orders=64)
    mask = b.store.mask
    refs = refs_homing_at({mask - 1, mask}, mask, start, n)
    b.run([A(r, "S", 10, 50 + i % 3) for i, r in enumerate(refs)])
    _churn(b, refs, rnd)


@SETTINGS
@given(n=st.integers(2, 64), start=st.sampled_from([0, 1, 1 << 32, (1 << 64) - 70]),
       rnd=st.randoms(use_true_random=False))
def test_sequential_refs(n, start, rnd):
    b = Both(max_orders=64)
    refs = [r for r in range(start, start + n) if r < (1 << 64) - 1]
    b.run([A(r, "B", 10, 50 + r % 4) for r in refs])
    _churn(b, refs, rnd)


def _churn(b: Both, refs: list[int], rnd) -> None:
    """Delete, execute and replace in a random order, re-adding some, checking every step."""
    live = [r for r in refs if b.ref.order(r) is not None]
    rnd.shuffle(live)
    for i, r in enumerate(live):
        o = b.ref.orders[r]
        loc = o.locate
        step = i % 4
        if step == 0:
            b.run([D(r, loc)])
        elif step == 1:
            b.run([E(r, o.shares, loc)])
        elif step == 2:  # replace onto another number of the same chain, already gone
            gone = [g for g in refs if g not in b.ref.orders]
            b.run([U(r, rnd.choice(gone) if gone else r ^ 1, 3, 77, loc)])
        else:
            b.run([X(r, o.shares, loc), A(r, "S", 1, 60, 1 if loc != 1 else 2)])
    while b.ref.orders:
        r = rnd.choice(sorted(b.ref.orders))
        b.run([D(r, b.ref.orders[r].locate)])
    assert b.store.stats()["live_orders"] == 0 and list(b.store.books()) == []
    assert all(b.store.order(r) is None for r in refs)
