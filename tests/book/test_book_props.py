"""BookStore against the reference book on random and adversarial ITCH streams.

Each stream is built with ``message.encode``, cut into batches, decoded with ``decode_batch``
and applied with ``errors="skip"``; after every batch everything the store answers (books,
best bid/offer, order lookups, counters, the reasons and offsets of rejections) must equal the
reference. Small ``max_orders`` make the hash table wrap and exercise backward-shift deletion.
"""

from __future__ import annotations

import os
import random

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reference.book import ReferenceBook
from reference.harness import (
    Scenario,
    StreamBuilder,
    assert_same,
    feed,
    new_store,
    ops,
    scenarios,
)

# NUMBA_DISABLE_JIT runs (test_book_nojit.py) use fewer examples
EXAMPLES = int(os.environ.get("TICKPATH_TEST_EXAMPLES", "0"))
SETTINGS = settings(max_examples=EXAMPLES or 120, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def run_stream(sc: Scenario, op_list, cuts):
    """Build, apply and compare ``op_list`` in batches of the sizes in ``cuts`` (then 7)."""
    store = new_store(sc.max_orders, sc.max_levels, errors="skip",
                      initial_orders=sc.initial_orders)
    ref = ReferenceBook(sc.max_orders, sc.max_levels)
    b = StreamBuilder(sc, ref, store.mask)
    base = 0
    refused: list[int] = []  # stream offsets of the refused messages
    i = 0
    cut = iter(cuts)
    while i < len(op_list):
        size = next(cut, 7)
        msgs, reasons = [], []
        for op in op_list[i:i + size]:
            m = b.step(op)  # built from the reference's state after the previous message
            msgs.append(m)
            reasons.append(ref.apply(m[0], **m[1]))
        used, offs = feed(store, msgs, base)
        refused += [o for o, r in zip(offs, reasons, strict=True) if r is not None]
        assert_same(store, ref, sc.locates, b.seen)
        assert [e.offset for e in store.rejections] == refused[:len(store.rejections)]
        base += used
        i += size
    return store, ref


@SETTINGS
@given(sc=scenarios(), op_list=ops(10, 300), cuts=st.lists(st.integers(1, 60), max_size=40))
def test_random_streams_match_reference(sc, op_list, cuts):
    run_stream(sc, op_list, cuts)


@settings(SETTINGS, max_examples=EXAMPLES or 12)
@given(sc=scenarios(), seed=st.integers(0, (1 << 32) - 1))
def test_long_random_streams_match_reference(sc, seed):
    """Hypothesis keeps its lists short; these streams are long enough to fill the tables,
    churn them and reuse references many times over."""
    rnd = random.Random(seed)
    n = 1500
    op_list = [(rnd.randrange(100), rnd.getrandbits(32), rnd.getrandbits(32),
                rnd.getrandbits(32)) for _ in range(n)]
    cuts = [rnd.randrange(1, 120) for _ in range(n // 20)]
    store, ref = run_stream(sc, op_list, cuts)
    assert ref.counts["events"] == n
