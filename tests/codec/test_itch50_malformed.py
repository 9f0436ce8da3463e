"""decode_batch on malformed input: each fault gives its status and the offset of the bad
block, the blocks before it are decoded; and a bounded fuzz that it never crashes and never
reports an offset outside the input."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from itch50_cases import STATUSES, TYPES, block, blocks, event_dict, messages, ref_decode

from tickpath.codec.itch50.decode import (
    LENGTH_MISMATCH,
    NEED_MORE,
    OK,
    OUT_FULL,
    STATUS_TEXT,
    UNKNOWN_TYPE,
    decode_batch,
)
from tickpath.codec.itch50.layout import EVENT_DTYPE, LENGTHS, MESSAGES
from tickpath.codec.itch50.message import encode

GOOD = [encode("A", order_reference_number=1, shares=100, stock="AAPL", price=1_000_000,
               buy_sell_indicator="B"),
        encode("E", order_reference_number=1, executed_shares=10, match_number=9)]
GOOD_LEN = sum(len(m) + 2 for m in GOOD)  # 38 + 33


def _run(data: bytes, start: int = 0, end: int | None = None, cap: int = 16):
    buf = np.frombuffer(data, np.uint8)
    out = np.zeros(cap, EVENT_DTYPE)
    count, status, offset = decode_batch(buf, start, len(data) if end is None else end,
                                         LENGTHS, out, 0, 0)
    return int(count), int(status), int(offset), out[:count]


def test_status_texts_cover_every_status():
    assert set(STATUS_TEXT) == STATUSES


def test_empty_range():
    assert _run(b"")[:3] == (0, OK, 0)
    assert _run(bytes(blocks(GOOD)), 5, 5)[:3] == (0, OK, 5)


@pytest.mark.parametrize("cut", range(1, 38))
def test_truncated_block_needs_more_at_its_start(cut):
    # the third block (an 'A', 38 bytes with its length) cut after `cut` bytes
    third = block(GOOD[0])
    data = bytes(blocks(GOOD)) + third[:cut]
    count, status, offset, _ = _run(data)
    assert (count, status, offset) == (2, NEED_MORE, GOOD_LEN)
    # feeding the rest resumes from the returned offset
    count, status, offset, _ = _run(bytes(blocks(GOOD)) + third, start=offset)
    assert (count, status, offset) == (1, OK, GOOD_LEN + 38)


def test_truncated_by_end_inside_a_larger_buffer():
    data = bytes(blocks(GOOD + GOOD))
    count, status, offset, _ = _run(data, 0, GOOD_LEN + 10)
    assert (count, status, offset) == (2, NEED_MORE, GOOD_LEN)


@pytest.mark.parametrize("bad_type", [b"Z", b"a", b"\x00", b"\xff"])
def test_unknown_type(bad_type):
    bad = bad_type + GOOD[0][1:]
    count, status, offset, _ = _run(bytes(blocks(GOOD + [bad] + GOOD)))
    assert (count, status, offset) == (2, UNKNOWN_TYPE, GOOD_LEN)


@pytest.mark.parametrize("delta", [-1, 1, 5])
def test_length_mismatch(delta):
    m = GOOD[0]
    bad = m + b"\x00" * delta if delta > 0 else m[:delta]
    count, status, offset, _ = _run(bytes(blocks(GOOD + [bad] + GOOD)))
    assert (count, status, offset) == (2, LENGTH_MISMATCH, GOOD_LEN)


def test_length_of_another_type():
    # an 'E' (31 bytes) announced with the 'A' length: the type decides
    bad = GOOD[1] + b"\x00" * 5
    assert _run(bytes(blocks([bad])))[:3] == (0, LENGTH_MISMATCH, 0)


def test_zero_length_block():
    data = bytes(blocks(GOOD)) + b"\x00\x00" + bytes(blocks(GOOD))
    count, status, offset, _ = _run(data)
    assert (count, status, offset) == (2, LENGTH_MISMATCH, GOOD_LEN)


def test_zero_length_block_at_the_very_end():
    assert _run(b"\x00\x00")[:3] == (0, LENGTH_MISMATCH, 0)


def test_single_trailing_byte_needs_more():
    data = bytes(blocks(GOOD)) + b"\x00"
    assert _run(data)[:3] == (2, NEED_MORE, GOOD_LEN)


def test_out_full_points_at_the_first_block_not_written():
    count, status, offset, _ = _run(bytes(blocks(GOOD + GOOD)), cap=3)
    assert (count, status, offset) == (3, OUT_FULL, GOOD_LEN + 38)
    assert _run(bytes(blocks(GOOD)), cap=0)[:3] == (0, OUT_FULL, 0)


def test_huge_length_does_not_read_past_the_end():
    data = bytes(blocks(GOOD)) + b"\xff\xff" + b"A" * 10
    assert _run(data)[:3] == (2, NEED_MORE, GOOD_LEN)


def test_events_before_the_fault_are_complete():
    bad = b"Z" + GOOD[0][1:]
    _, _, _, events = _run(bytes(blocks(GOOD + [bad])))
    assert [chr(e["type"]) for e in events] == ["A", "E"]
    assert int(events[0]["shares"]) == 100 and int(events[1]["match"]) == 9


# ----------------------------------------------------------------------------------- fuzz


def _check(data: bytes, start: int, end: int, cap: int, base: int) -> None:
    buf = np.frombuffer(data, np.uint8)
    out = np.zeros(cap + 2, EVENT_DTYPE)
    sentinel = out[cap:].copy()
    count, status, offset = decode_batch(buf, start, end, LENGTHS, out[:cap], 0, base)
    count, status, offset = int(count), int(status), int(offset)
    assert status in STATUSES
    assert start <= offset <= end
    assert 0 <= count <= cap
    assert (out[cap:] == sentinel).all()  # nothing written past the array handed in
    if status == OK:
        assert offset == end
    events = [event_dict(e) for e in out[:count]]
    for ev in events:
        assert base + start + 2 <= ev["offset"] <= base + offset - MESSAGES[chr(ev["type"])].length
    # the plain-Python model agrees on everything
    assert (events, status, offset) == ref_decode(data, start, end, cap, base)
    # the decoded prefix is itself well formed
    if count:
        again = np.zeros(count, EVENT_DTYPE)
        assert decode_batch(buf, start, offset, LENGTHS, again, 0, base)[:2] == (count, OK)


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=600), st.data())
def test_fuzz_random_bytes(data, draw):
    end = draw.draw(st.integers(0, len(data)))
    start = draw.draw(st.integers(0, end))
    cap = draw.draw(st.integers(0, 8))
    _check(data, start, end, cap, draw.draw(st.integers(0, 1 << 48)))


@settings(max_examples=150, deadline=None)
@given(st.lists(messages, max_size=12), st.data())
def test_fuzz_mutated_valid_streams(msgs, draw):
    data = bytearray(bytes(blocks([encode(t, **v) for t, v in msgs])))
    for _ in range(draw.draw(st.integers(0, 4))):
        if not data:
            break
        i = draw.draw(st.integers(0, len(data) - 1))
        data[i] = draw.draw(st.integers(0, 255))
    if data and draw.draw(st.booleans()):
        del data[draw.draw(st.integers(0, len(data) - 1)):]
    cap = draw.draw(st.integers(0, len(msgs) + 1))
    _check(bytes(data), 0, len(data), cap, 0)


@settings(max_examples=100, deadline=None)
@given(st.sampled_from(TYPES), st.integers(0, 0xFFFF), st.binary(max_size=64))
def test_fuzz_any_length_for_each_type(type_, length, body):
    data = length.to_bytes(2, "big") + type_.encode() + body
    _check(data, 0, len(data), 4, 0)
