"""tests/ring: the shared-memory SPSC ring (layout, kernels, owner, wait strategies)."""

from __future__ import annotations

import itertools
import os

import pytest

from tickpath.ring import SpscRing

_serial = itertools.count()


def unique_name(tag: str = "t") -> str:
    """A ring name no other test (or test run) uses: /dev/shm/tp-test-<pid>-<tag>-<n>."""
    return f"tp-test-{os.getpid()}-{tag}-{next(_serial)}"


@pytest.fixture
def fresh_name():
    """A function returning unused ring names (nothing is created)."""
    return unique_name


@pytest.fixture
def make_ring():
    """Create rings with unique names; every one is closed and unlinked after the test."""
    made: list[SpscRing] = []

    def make(capacity: int = 8, slot_size: int = 64, **kw) -> SpscRing:
        ring = SpscRing.create(unique_name(), capacity, slot_size, **kw)
        made.append(ring)
        return ring

    yield make
    for ring in made:
        ring.close()
        ring.unlink()
