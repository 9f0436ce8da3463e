"""Locked and crossed books, counted per instrument (``instrument_stats``).

``PerInstrument.LOCKED``/``CROSSED`` count "updates after which the book was locked (best
bid == best ask) / crossed (best bid > best ask)": every accepted book message of the
instrument (A F E C X D U), including those that take orders out of a locked or crossed book.
The random-stream tests compare these counters too; here they are checked by hand.
"""

from __future__ import annotations

import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reference.book import ReferenceBook
from reference.harness import (
    A,
    Both,
    D,
    E,
    Scenario,
    StreamBuilder,
    U,
    X,
    assert_same,
    feed,
    new_store,
)

EXAMPLES = int(os.environ.get("TICKPATH_TEST_EXAMPLES", "0"))


def test_locked_and_crossed_per_instrument():
    b = Both(max_orders=64, locates=(1, 2, 3))
    b.run([A(1, "B", 10, 100), A(2, "S", 10, 101), A(20, "B", 1, 50, loc=2)])
    assert b.store.instrument_stats(1)["locked"] == 0
    b.run([A(3, "S", 5, 100)])  # best ask 100 == best bid 100
    assert (b.store.instrument_stats(1)["locked"], b.store.instrument_stats(1)["crossed"]) == (1, 0)
    b.run([A(4, "B", 5, 99)])  # still locked after this update
    assert b.store.instrument_stats(1)["locked"] == 2
    b.run([A(5, "B", 5, 102)])  # bid 102 > ask 100
    assert b.store.instrument_stats(1)["crossed"] == 1
    b.run([U(5, 6, 5, 100)])  # back to locked, by a replace
    assert (b.store.instrument_stats(1)["locked"], b.store.instrument_stats(1)["crossed"]) == (3, 1)
    b.run([A(21, "S", 1, 51, loc=2), A(30, "S", 1, 10, loc=3)])  # other books never touched
    assert b.store.instrument_stats(2)["locked"] == b.store.instrument_stats(2)["crossed"] == 0
    b.run([A(31, "B", 1, 11, loc=3)])
    assert b.store.instrument_stats(3)["crossed"] == 1
    assert b.store.instrument_stats(1)["crossed"] == 1
    s = b.store.stats()
    assert (s["locked_updates"], s["crossed_updates"]) == (3, 2)


@settings(max_examples=EXAMPLES or 60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(op_list=st.lists(st.tuples(st.sampled_from([0, 7, 20, 29, 63, 66, 72]),
                                  st.integers(0, 1 << 20), st.integers(0, 1 << 20),
                                  st.integers(0, 1 << 20)), min_size=1, max_size=150),
       locates=st.lists(st.integers(0, 5), min_size=1, max_size=3, unique=True),
       span=st.sampled_from([0, 1, 3, 10]))
def test_lock_cross_counts_match_reference_for_adds_and_replaces(op_list, locates, span):
    sc = Scenario(locates=locates, price_lo=100, price_hi=100 + span, split=False,
                  ref_mode="seq", shift=0, ref_start=1, max_orders=128, max_levels=None)
    b = Both(max_orders=128, locates=locates)
    builder = StreamBuilder(sc, b.ref, b.store.mask)
    msgs = []
    for op in op_list:
        m = builder.step(op)
        b.ref.apply(m[0], **m[1])
        msgs.append(m)
    feed(b.store, msgs)
    b.locates |= set(locates)
    assert_same(b.store, b.ref, locates, builder.seen)


@pytest.mark.parametrize(("take", "locked", "crossed"), [
    (D(1), 1, 1), (E(1, 1), 0, 2), (X(1, 1), 0, 2), (E(3, 1), 0, 2), (E(3, 5), 0, 1)],
    ids=["D", "E", "X", "E-ask", "E-all-asks"])
def test_lock_cross_counted_after_executions_cancels_deletes(take, locked, crossed):
    book = [A(1, "B", 5, 101), A(2, "B", 5, 100), A(3, "S", 5, 100)]  # bid 101 > ask 100
    store = new_store(16)
    ref = ReferenceBook(16)
    for t, f in book:
        assert ref.apply(t, **f) is None
    used, _ = feed(store, book)
    assert store.instrument_stats(1) == ref.instrument_stats(1)  # agree so far: crossed once
    assert ref.apply(take[0], **take[1]) is None
    feed(store, [take], used)
    # after D(1) the book is locked at 100; after E/X of one share it is still crossed;
    # with no asks left it is neither
    assert store.instrument_stats(1) == ref.instrument_stats(1)
    assert (store.instrument_stats(1)["locked"], store.instrument_stats(1)["crossed"]) == (
        locked, crossed)
