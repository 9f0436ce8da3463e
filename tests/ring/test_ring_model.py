"""Property test: the ring, driven by random operations in one thread, against a deque.

The model is a bounded FIFO (collections.deque) plus the counters the ring keeps. Every
operation's result, every value read and every counter must agree, under both full policies
and both consumer modes. (Concurrency is tests/concurrency's business; this checks the
bookkeeping: positions, wraparound, batch sizes, counts.)
"""

from __future__ import annotations

import os
from collections import deque

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tickpath.ring import spsc
from tickpath.ring.wait import wait_strategy

EXAMPLES = int(os.environ.get("TICKPATH_TEST_EXAMPLES", "0")) or 150
SPIN = wait_strategy("busy_spin")

ops = st.lists(st.one_of(
    st.tuples(st.just("put"), st.integers(0, 9)),
    st.tuples(st.just("take"), st.integers(1, 9)),
    st.tuples(st.just("try"), st.integers(1, 9)),
), max_size=60)


# make_ring hands out a new ring per call (all unlinked at the end), so one per example is fine
@settings(max_examples=EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=ops, capacity_log2=st.integers(1, 3), policy=st.sampled_from(["block", "drop"]),
       mode=st.sampled_from(["slot", "cursor"]))
def test_ring_matches_a_bounded_deque(make_ring, ops, capacity_log2, policy, mode):
    capacity = 1 << capacity_log2
    ring = make_ring(capacity, 24, policy=policy, wait_on=mode)
    h, w = ring.header, ring.words
    model: deque[int] = deque()
    count = {"full": 0, "drops": 0, "empty_polls": 0, "batches": 0}
    produced = consumed = 0
    next_value = 1000
    for op, k in ops:
        if op == "put":
            seq = spsc.claim(h, k, SPIN.code, SPIN.params, 0)
            if k < 1 or k > capacity:
                assert seq == spsc.BAD_COUNT
            elif capacity - len(model) >= k:
                assert seq == produced
                for i in range(k):
                    base = spsc.slot_base(h, seq + i)
                    w[base + 1] = next_value
                    w[base + 2] = -next_value
                    model.append(next_value)
                    next_value += 1
                spsc.publish(h, w, seq, k)
                produced += k
            else:
                count["full"] += 1
                if policy == "drop":
                    assert seq == spsc.FULL_STATUS
                    count["drops"] += k
                else:
                    assert seq == spsc.TIMEOUT
        elif op == "try":
            seq = spsc.try_claim(h, k)
            if k <= capacity - len(model):
                assert seq == produced  # nothing is reserved: the next claim gets it again
            else:
                assert seq == spsc.FULL_STATUS
        else:
            n = spsc.poll(h, w, k)
            assert n == min(k, len(model))
            if n == 0:
                count["empty_polls"] += 1
                continue
            seq = spsc.consumer_position(h)
            assert seq == consumed
            for i in range(n):
                base = spsc.slot_base(h, seq + i)
                expect = model.popleft()
                assert (w[base], w[base + 1], w[base + 2]) == (seq + i + 1, expect, -expect)
            spsc.release(h, n)
            consumed += n
            count["batches"] += 1
        c = ring.counters()
        assert (c["producer_position"], c["consumer_position"]) == (produced, consumed)
        assert c["depth"] == len(model)
        assert {key: c[key] for key in count} == count
    # drain: nothing left behind, nothing extra
    out = np.zeros((capacity, 2), np.int64)
    n = spsc.consume(h, w, out, capacity)
    assert out[:n, 0].tolist() == list(model)
    ring.close()
