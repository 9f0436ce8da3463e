"""The ring's header and slots, byte by byte: offsets, cache-line separation, the diagram."""

from __future__ import annotations

import os
import re

import numpy as np
import pytest

from tickpath.ring import layout as L


def test_header_words_are_unique_and_inside_the_header():
    words = [f.word for f in L.FIELDS]
    assert len(set(words)) == len(words)
    assert len({f.name for f in L.FIELDS}) == len(L.FIELDS)
    assert all(0 <= w < L.HEADER_WORDS for w in words)
    assert L.HEADER_SIZE_BYTES == L.HEADER_WORDS * 8 == 1024


def test_positions_each_have_a_128_byte_line_of_their_own():
    assert L.LINE_BYTES == 128
    lines = {}
    for f in L.FIELDS:
        lines.setdefault(f.line, set()).add(f.writer)
    # no line is written by two different parties
    assert all(len(w) == 1 for w in lines.values()), lines
    # the two positions, and each side's private and counter lines, are distinct lines
    by_name = {f.name: f for f in L.FIELDS}
    hot = ["producer_position", "consumer_position", "cached_consumer", "cached_producer",
           "full", "empty_polls"]
    assert len({by_name[n].line for n in hot}) == len(hot)
    # and nothing else shares the two position lines
    for name in ("producer_position", "consumer_position"):
        line = by_name[name].line
        assert [f.name for f in L.FIELDS if f.line == line] == [name]
    # the positions are 128-byte aligned: not in one adjacent-line-prefetch pair
    assert by_name["producer_position"].offset % 128 == 0
    assert by_name["consumer_position"].offset % 128 == 0
    assert abs(by_name["producer_position"].offset - by_name["consumer_position"].offset) >= 128


def test_counters_sit_on_the_line_of_the_side_that_writes_them():
    by_name = {f.name: f for f in L.FIELDS}
    assert by_name["full"].line == by_name["drops"].line
    assert by_name["empty_polls"].line == by_name["batches"].line
    assert by_name["full"].writer == "producer" and by_name["empty_polls"].writer == "consumer"
    assert set(L.COUNTERS) == {"full", "drops", "empty_polls", "batches"}


def test_docstring_diagram_matches_the_table():
    doc = L.__doc__
    for f in L.FIELDS:
        row = re.search(rf"^\s+(\d+)\s+(\d+)\s.*\b{f.name.upper()}\b", doc, re.M)
        assert row, f"{f.name} missing from the diagram"
        assert (int(row.group(1)), int(row.group(2))) == (f.offset, f.word), f.name


def test_slot_geometry():
    assert L.slot_offset(0, 64) == 1024
    assert L.slot_offset(5, 64) == 1024 + 5 * 64
    assert L.slot_offset(0, 64) % 128 == 0
    assert L.total_size(1024, 64) == 1024 + 65536
    assert L.payload_size(64) == 56


@pytest.mark.parametrize("capacity,slot_size", [(0, 64), (3, 64), (1, 64), (1000, 64),
                                                (8, 12), (8, 8), (8, 0), (8, 65), (2.0, 64)])
def test_bad_geometry_is_refused(capacity, slot_size):
    with pytest.raises(ValueError):
        L.check_geometry(capacity, slot_size)


def test_created_ring_bytes(make_ring):
    ring = make_ring(16, 64, policy="drop", wait_on="cursor")
    h = ring.header
    assert h[L.MAGIC] == int.from_bytes(b"tickring", "little")
    assert bytes(ring._mm[:8]) == b"tickring"
    assert (h[L.VERSION], h[L.CAPACITY], h[L.SLOT_SIZE], h[L.SLOT_WORDS], h[L.MASK]) == \
        (1, 16, 64, 8, 15)
    assert (h[L.HEADER_SIZE], h[L.TOTAL_SIZE]) == (1024, 1024 + 16 * 64)
    assert (h[L.POLICY], h[L.WAIT_ON]) == (L.DROP, L.ON_CURSOR)
    assert h[L.CREATOR_PID] == os.getpid()
    assert os.path.getsize(ring.path) == 1024 + 16 * 64
    # the views cover exactly the slots, at the documented offsets
    assert ring.words.shape == (16 * 8,)
    base = ring.header.__array_interface__["data"][0]
    assert ring.words.__array_interface__["data"][0] - base == 1024
    assert ring.words.__array_interface__["data"][0] % 128 == 0
    assert ring.slots.shape == (16, 64) and ring.slot_table.shape == (16, 8)
    # a record view puts field 0 at byte 8 of each slot
    rec = ring.records(np.dtype([("a", "<i8"), ("b", "<u4")]))
    rec["a"][3] = 0x1122334455667788
    rec["b"][3] = 7
    assert ring.slot_table[3, 1] == 0x1122334455667788
    assert bytes(ring.slots[3, 16:20]) == (7).to_bytes(4, "little")
    assert ring.slot_table[3, 0] == 0  # the sequence word is untouched
    with pytest.raises(ValueError):
        ring.records(np.dtype((np.uint8, 57)))
