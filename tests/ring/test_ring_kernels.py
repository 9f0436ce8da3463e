"""The ring kernels in one process: wraparound, full and empty, policies, batches, counters.

Each test drives the compiled kernels from Python (under NUMBA_DISABLE_JIT=1 the same tests
run the kernels as plain Python: test_ring_nojit.py), in both consumer modes.
"""

from __future__ import annotations

import numpy as np
import pytest

from tickpath.ring import layout as L
from tickpath.ring import spsc
from tickpath.ring.wait import wait_strategy

MODES = ["slot", "cursor"]
SPIN = wait_strategy("busy_spin")


def put(ring, seq_values):
    """Claim len(values) slots with try_claim, write word 1 of each, publish once."""
    n = len(seq_values)
    seq = spsc.try_claim(ring.header, n)
    if seq < 0:
        return seq
    for k, v in enumerate(seq_values):
        ring.words[spsc.slot_base(ring.header, seq + k) + 1] = v
    spsc.publish(ring.header, ring.words, seq, n)
    return seq


def take(ring, max_n):
    """Poll up to max_n, read word 1 of each, release once."""
    n = spsc.poll(ring.header, ring.words, max_n)
    seq = spsc.consumer_position(ring.header)
    out = [int(ring.words[spsc.slot_base(ring.header, seq + k) + 1]) for k in range(n)]
    if n:
        spsc.release(ring.header, n)
    return out


@pytest.mark.parametrize("mode", MODES)
def test_wraparound_many_laps(make_ring, mode):
    ring = make_ring(4, 32, wait_on=mode)
    got = []
    for i in range(0, 103, 3):  # batches of 3 into 4 slots: every lap boundary is crossed
        assert put(ring, [i, i + 1, i + 2]) == i
        got += take(ring, 2)
        got += take(ring, 8)
    assert got == list(range(105))
    c = ring.counters()
    assert c["producer_position"] == c["consumer_position"] == 105 and c["depth"] == 0


@pytest.mark.parametrize("mode", MODES)
def test_sequence_words_carry_seq_plus_one(make_ring, mode):
    ring = make_ring(4, 16, wait_on=mode)
    assert (ring.slot_table[:, 0] == 0).all()  # never used
    for i in range(6):
        put(ring, [100 + i])
        take(ring, 1)
    # slots 0,1 hold records 4,5; slots 2,3 records 2,3
    assert ring.slot_table[:, 0].tolist() == [5, 6, 3, 4]
    assert ring.slot_table[:, 1].tolist() == [104, 105, 102, 103]


@pytest.mark.parametrize("mode", MODES)
def test_full_and_empty(make_ring, mode):
    ring = make_ring(4, 16, wait_on=mode)
    h, w = ring.header, ring.words
    assert spsc.poll(h, w, 10) == 0
    assert spsc.poll(h, w, 10) == 0
    assert ring.counters()["empty_polls"] == 2
    assert put(ring, [1, 2, 3]) == 0
    assert spsc.try_claim(h, 2) == spsc.FULL_STATUS  # only one slot left
    assert put(ring, [4]) == 3
    assert spsc.try_claim(h, 1) == spsc.FULL_STATUS
    assert ring.counters()["full"] == 0  # try_claim counts nothing
    assert spsc.poll(h, w, 10) == 4
    assert spsc.poll(h, w, 3) == 3
    spsc.release(h, 1)  # one slot back: room for exactly one
    assert spsc.try_claim(h, 1) == 4
    assert spsc.try_claim(h, 2) == spsc.FULL_STATUS


def test_claim_bad_counts(make_ring):
    ring = make_ring(4, 16)
    h = ring.header
    for n in (0, -1, 5):
        assert spsc.claim(h, n, SPIN.code, SPIN.params, 0) == spsc.BAD_COUNT
    assert spsc.claim(h, 4, SPIN.code, SPIN.params, 0) == 0


@pytest.mark.parametrize("mode", MODES)
def test_block_policy_times_out_and_counts_full_once(make_ring, mode):
    ring = make_ring(2, 16, wait_on=mode)
    h, w = ring.header, ring.words
    assert spsc.claim(h, 2, SPIN.code, SPIN.params, 0) == 0
    spsc.publish(h, w, 0, 2)
    for wait in ("noop", "busy_spin", "spin_yield", "backoff"):
        ws = wait_strategy(wait, spins=10, yields=5, min_park_ns=1000, max_park_ns=20_000)
        assert spsc.claim(h, 1, ws.code, ws.params, 2_000_000) == spsc.TIMEOUT
    c = ring.counters()
    assert (c["full"], c["drops"]) == (4, 0)  # one per claim, not one per spin
    assert c["producer_position"] == 2  # nothing published by the failed claims
    take(ring, 1)
    assert spsc.claim(h, 1, SPIN.code, SPIN.params, 0) == 2


@pytest.mark.parametrize("mode", MODES)
def test_drop_policy_counts_every_dropped_record(make_ring, mode):
    ring = make_ring(4, 16, policy="drop", wait_on=mode)
    h, w = ring.header, ring.words
    payload = np.zeros(1, np.int64)
    results = []
    for i in range(10):
        payload[0] = i
        results.append(spsc.offer(h, w, payload, SPIN.code, SPIN.params, -1))
    assert results == [0, 1, 2, 3] + [spsc.FULL_STATUS] * 6
    assert spsc.claim(h, 3, SPIN.code, SPIN.params, -1) == spsc.FULL_STATUS
    c = ring.counters()
    assert (c["full"], c["drops"], c["producer_position"]) == (7, 9, 4)
    assert take(ring, 10) == [0, 1, 2, 3]  # the oldest kept, in order
    payload[0] = 99
    assert spsc.offer(h, w, payload, SPIN.code, SPIN.params, -1) == 4
    assert take(ring, 10) == [99]


@pytest.mark.parametrize("mode", MODES)
def test_batch_consume_releases_once(make_ring, mode):
    ring = make_ring(16, 32, wait_on=mode)
    h, w = ring.header, ring.words
    for i in range(10):
        put(ring, [i])
    assert spsc.poll(h, w, 8) == 8
    assert spsc.consumer_position(h) == 0  # polling moves nothing
    spsc.release(h, 8)
    c = ring.counters()
    assert (c["consumer_position"], c["batches"]) == (8, 1)
    out = np.zeros((4, 3), np.int64)
    assert spsc.consume(h, w, out, 4) == 2
    assert out[:2, 0].tolist() == [8, 9]
    assert ring.counters()["batches"] == 2
    assert spsc.consume(h, w, out, 4) == 0
    assert ring.counters()["batches"] == 2  # an empty consume releases nothing


def test_poll_modes_agree(make_ring):
    ring = make_ring(8, 16)
    h, w = ring.header, ring.words
    for batch, ready in (([1], 1), ([2, 3, 4], 4), ([5, 6], 6)):
        put(ring, batch)
        assert spsc.poll_slot(h, w, 100) == spsc.poll_cursor(h, 100) == ready
        assert spsc.poll_slot(h, w, 2) == spsc.poll_cursor(h, 2) == min(ready, 2)
    take(ring, 5)
    assert spsc.poll_slot(h, w, 100) == spsc.poll_cursor(h, 100) == 1


def test_cursor_mode_reads_the_producer_only_when_its_cache_is_short(make_ring):
    ring = make_ring(8, 16, wait_on="cursor")
    h, w = ring.header, ring.words
    put(ring, [1, 2, 3])
    assert spsc.poll(h, w, 1) == 1
    assert h[L.CACHED_PRODUCER] == 3
    put(ring, [4])
    assert spsc.poll(h, w, 2) == 2  # 3 cached >= 2: answered from the cache
    assert h[L.CACHED_PRODUCER] == 3
    assert spsc.poll(h, w, 10) == 4  # cache short of 10: the producer's line is read
    assert h[L.CACHED_PRODUCER] == 4
    assert take(ring, 10) == [1, 2, 3, 4]


def test_producer_reads_the_consumer_only_when_the_cache_says_full(make_ring):
    ring = make_ring(4, 16)
    h = ring.header
    put(ring, [1, 2, 3, 4])
    assert h[L.CACHED_CONSUMER] == 0
    take(ring, 2)
    assert h[L.CACHED_CONSUMER] == 0
    assert spsc.try_claim(h, 1) == 4
    assert h[L.CACHED_CONSUMER] == 2


@pytest.mark.parametrize("wait", ["noop", "busy_spin", "spin_yield", "backoff"])
def test_wait_poll_times_out_then_finds_records(make_ring, wait):
    ring = make_ring(4, 16)
    h, w = ring.header, ring.words
    ws = wait_strategy(wait, spins=10, yields=5, min_park_ns=1000, max_park_ns=50_000)
    assert spsc.wait_poll(h, w, 4, ws.code, ws.params, 1_000_000) == 0
    put(ring, [7, 8])
    assert spsc.wait_poll(h, w, 4, ws.code, ws.params, -1) == 2


def test_offer_and_consume_from_python(make_ring):
    ring = make_ring(4, 32)
    assert ring.offer([1, 2, 3]) == 0
    assert ring.offer(b"abc") == 1
    with pytest.raises(ValueError):
        ring.offer(list(range(4)))  # 32-byte slot: 3 payload words
    got = ring.consume(8)
    assert got.shape == (2, 3)
    assert got[0].tolist() == [1, 2, 3]
    assert got[1].tobytes()[:3] == b"abc"
    assert ring.consume(8).shape == (0, 3)
    assert ring.consume(8, timeout=0.002).shape == (0, 3)


def test_kernel_kind_matches_the_jit_setting():
    """Compiled dispatchers normally; plain, steppable Python functions under
    NUMBA_DISABLE_JIT=1 (test_ring_nojit.py runs this file that way)."""
    import types

    from numba.core import config

    from tickpath.ring import atomics, wait

    plain = (spsc.poll, spsc.claim, spsc.publish, wait.idle, atomics.load_acquire)
    if config.DISABLE_JIT:
        assert all(isinstance(f, types.FunctionType) for f in plain)
    else:
        assert not any(isinstance(f, types.FunctionType) for f in plain)
