"""SpscRing: create, attach, observe, close, unlink, and the errors for everything else."""

from __future__ import annotations

import os

import numpy as np
import pytest

from tickpath.ring import RingError, RingLayoutError, SpscRing
from tickpath.ring import layout as L


def test_attach_sees_the_same_memory(make_ring):
    ring = make_ring(8, 64, policy="drop", wait_on="cursor")
    ring.offer([11, 12])
    other = SpscRing.attach(ring.name, capacity=8, slot_size=64)
    try:
        assert (other.capacity, other.slot_size, other.policy, other.wait_on) == \
            (8, 64, "drop", "cursor")
        assert not other.created and ring.created
        assert other.consume(4)[:, :2].tolist() == [[11, 12]]
        assert ring.counters()["consumer_position"] == 1  # the creator sees the release
    finally:
        other.close()


def test_name_taken(make_ring):
    ring = make_ring()
    with pytest.raises(FileExistsError, match="already exists"):
        SpscRing.create(ring.name, 8, 64)


def test_attach_missing(fresh_name):
    with pytest.raises(FileNotFoundError, match="no ring"):
        SpscRing.attach(fresh_name("missing"))


@pytest.mark.parametrize("name", ["", "a/b", "x\0y", "n" * 256])
def test_bad_names(name):
    with pytest.raises(ValueError, match="ring name"):
        SpscRing.create(name, 8, 64)


def test_bad_arguments(fresh_name):
    with pytest.raises(ValueError, match="power of two"):
        SpscRing.create(fresh_name(), 12, 64)
    with pytest.raises(ValueError, match="multiple of 8"):
        SpscRing.create(fresh_name(), 8, 60)
    with pytest.raises(ValueError, match="policy"):
        SpscRing.create(fresh_name(), 8, 64, policy="overwrite")
    with pytest.raises(ValueError, match="wait_on"):
        SpscRing.create(fresh_name(), 8, 64, wait_on="futex")


def _forge(make_ring, edit):
    """A ring whose header (or file) ``edit`` damages; returns its name."""
    ring = make_ring(8, 64)
    edit(ring)
    return ring.name


def test_wrong_magic(make_ring):
    name = _forge(make_ring, lambda r: r.header.__setitem__(L.MAGIC, 0x1234))
    with pytest.raises(RingLayoutError, match="wrong magic"):
        SpscRing.attach(name)


def test_magic_not_yet_written(make_ring):
    name = _forge(make_ring, lambda r: r.header.__setitem__(L.MAGIC, 0))
    with pytest.raises(RingLayoutError, match="no ring magic"):
        SpscRing.attach(name)


def test_wrong_version(make_ring):
    name = _forge(make_ring, lambda r: r.header.__setitem__(L.VERSION, 99))
    with pytest.raises(RingLayoutError, match="version 99"):
        SpscRing.attach(name)


def test_corrupt_derived_fields(make_ring):
    name = _forge(make_ring, lambda r: r.header.__setitem__(L.MASK, 3))
    with pytest.raises(RingLayoutError, match="corrupt header"):
        SpscRing.attach(name)


def test_file_size_mismatch(make_ring):
    name = _forge(make_ring, lambda r: os.truncate(r.path, L.total_size(8, 64) - 64))
    with pytest.raises(RingLayoutError, match="size mismatch"):
        SpscRing.attach(name)


def test_file_too_small_for_a_header(make_ring):
    name = _forge(make_ring, lambda r: os.truncate(r.path, 100))
    with pytest.raises(RingLayoutError, match="not a ring"):
        SpscRing.attach(name)


def test_expected_geometry_mismatch(make_ring):
    ring = make_ring(8, 64)
    with pytest.raises(RingLayoutError, match="capacity 8, expected 16"):
        SpscRing.attach(ring.name, capacity=16)
    with pytest.raises(RingLayoutError, match="slot size 64, expected 128"):
        SpscRing.attach(ring.name, slot_size=128)


def test_errors_are_ring_errors():
    assert issubclass(RingLayoutError, RingError) and issubclass(RingLayoutError, ValueError)


def test_observer_reads_counters_and_cannot_write(make_ring):
    ring = make_ring(4, 32, policy="drop")
    for i in range(6):
        ring.offer([i])
    ring.consume(1)
    ring.consume(1)  # two releases
    ring.consume(1, timeout=0)
    obs = SpscRing.attach(ring.name, readonly=True)
    try:
        before = ring.header.copy()
        c = obs.counters()
        assert c == {"producer_position": 4, "consumer_position": 3, "depth": 1, "full": 2,
                     "drops": 2, "empty_polls": 0, "batches": 3}
        assert obs.describe()["capacity"] == 4 and obs.describe()["policy"] == "drop"
        assert (ring.header == before).all()  # observing wrote nothing
        with pytest.raises(ValueError):
            obs.header[L.CONSUMER_POSITION] = 0
        with pytest.raises(RingError, match="read-only"):
            obs.offer([1])  # an observer cannot be a producer
        with pytest.raises(RingError, match="read-only"):
            obs.consume(1)
    finally:
        obs.close()


def test_close_and_unlink(make_ring):
    ring = make_ring()
    held = ring.words  # a view outlives close(): the mapping stays until it is dropped
    ring.close()
    ring.close()
    assert ring.closed and "closed" in repr(ring)
    held[0] = 5
    assert held[0] == 5
    del held
    other = SpscRing.attach(ring.name)
    other.unlink()
    other.unlink()  # idempotent
    assert not ring.path.exists()
    with pytest.raises(FileNotFoundError):
        SpscRing.attach(ring.name)
    # a mapped ring keeps working after its name is gone
    assert other.offer([1]) == 0
    other.close()


def test_context_manager_and_repr(make_ring):
    ring = make_ring(16, 128)
    assert repr(ring) == (f"SpscRing({ring.name!r}, capacity=16, slot_size=128, "
                          "policy='block', wait_on='slot')")
    with SpscRing.attach(ring.name) as other:
        assert other.payload_size == 120
        assert isinstance(other.records(np.dtype("<i8")), np.ndarray)
    assert other.closed


def test_interop_with_multiprocessing_shared_memory(make_ring):
    from multiprocessing import resource_tracker, shared_memory

    ring = make_ring(8, 64)
    ring.offer([42])
    shm = shared_memory.SharedMemory(ring.name)  # the same /dev/shm object
    try:
        resource_tracker.unregister(shm._name, "shared_memory")  # we do not own it
        words = np.frombuffer(shm.buf, dtype=np.int64)
        assert words[0] == L.MAGIC_VALUE
        assert words[L.HEADER_WORDS + 1] == 42
        del words
    finally:
        shm.close()
