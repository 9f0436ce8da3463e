"""Shared-memory counters: layout, one line per section, observers, refusals, clean-up."""

from __future__ import annotations

import enum
import os
import uuid

import pytest

from tickpath.engine.counters import LINE_WORDS, Control, Counters, FeedCounter, pipeline_sections


@pytest.fixture
def name():
    n = f"tp-test-{uuid.uuid4().hex[:8]}"
    yield n
    try:
        os.unlink(f"/dev/shm/{n}")
    except FileNotFoundError:
        pass


def test_sections_start_on_lines_of_their_own(name):
    with Counters.create(name) as c:
        offsets = sorted(c.offsets.values())
        assert all(o % LINE_WORDS == 0 for o in offsets)
        for sec, labels in c.sections.items():  # no section runs into the next one's line
            end = c.offsets[sec] + len(labels)
            assert all(end <= o for o in offsets if o > c.offsets[sec])
        assert set(c.sections) == set(pipeline_sections())


def test_observer_reads_what_the_owner_writes(name):
    with Counters.create(name) as owner:
        obs = Counters.attach(name, readonly=True)
        owner.section("feed")[FeedCounter.PACKETS] = 42
        owner.section("control")[Control.KILL] = 1
        snap = obs.snapshot()
        assert snap["feed"]["packets"] == 42 and snap["control"]["kill"] == 1
        with pytest.raises(ValueError):  # read-only mapping
            obs.section("feed")[0] = 1
        obs.close()
    assert not os.path.exists(f"/dev/shm/{name}")  # the creator unlinks on exit


def test_refusals(name):
    with Counters.create(name):
        with pytest.raises(FileExistsError):
            Counters.create(name)
        other = {"x": enum.IntEnum("X", {"A": 0})}
        with pytest.raises(ValueError, match="layout"):
            Counters.attach(name, other)
    with pytest.raises(FileNotFoundError):
        Counters.attach(name)
    with pytest.raises(KeyError, match="no counter section"):
        Counters.create(name).section("nope")
