"""``tickpath replay --errors skip`` finds the message boundaries again after a damaged length.

The day: 2,001 messages from the simulator (5 symbols, seed 7). Before boundary search, one
zero length at message 10 made the rest of the read chunk (the whole file) be dropped: 10
messages applied; a wrong length was skipped by its own value and every block after it was
misframed. Now the damaged block is the only one lost.
"""

from __future__ import annotations

import functools

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tickpath import Simulator
from tickpath.apps.replay import replay
from tickpath.codec.itch50 import decode as dec
from tickpath.codec.itch50.layout import LENGTHS
from tickpath.codec.itch50.resync import FOUND, NEED_MORE, NOT_FOUND, RUN, find_resync
from tickpath.feed.itch import ItchError

MESSAGES = 2001


@functools.cache
def the_day() -> tuple[bytes, list[int]]:
    raw = Simulator(symbols=5, messages=MESSAGES, seed=7).blocks().tobytes()
    offsets, p = [], 0
    while p < len(raw):
        offsets.append(p)
        p += 2 + int.from_bytes(raw[p:p + 2], "big")
    assert len(offsets) == MESSAGES
    return raw, offsets


@pytest.fixture
def day() -> tuple[bytes, list[int]]:
    return the_day()


def with_length(raw: bytes, at: int, length: int) -> bytes:
    return raw[:at] + length.to_bytes(2, "big") + raw[at + 2:]


def books_of(handler) -> list:
    return list(handler.books.books())


@pytest.mark.parametrize("length", [0, 0x0124, 5, 0xFFFF])
def test_one_corrupt_length_loses_one_message(day, tmp_path, length):
    """Message 10 (a Trading Action 'H', 25 bytes) with a bad length: the other 2,000 all
    decode and apply (nothing refers to an 'H'), and the report names the 27 bytes lost."""
    raw, offsets = day
    assert raw[offsets[10] + 2] == ord("H")
    path = tmp_path / "day.itch"
    path.write_bytes(with_length(raw, offsets[10], length))
    handler, rep = replay(path, errors="skip", chunk_bytes=4096)
    assert rep.messages == MESSAGES - 1 == 2000
    assert rep.malformed == 1 and rep.book_stats["rejected"] == 0
    assert rep.lost_bytes == 27 and rep.lost_ranges == 1
    assert [(r.offset, r.resumed) for r in rep.lost] == [(offsets[10], offsets[11])]
    assert rep.lost_messages == (1, 1)
    # the same books as the day without that message
    clean = tmp_path / "without.itch"
    clean.write_bytes(raw[:offsets[10]] + raw[offsets[11]:])
    assert books_of(handler) == books_of(replay(clean, errors="skip")[0])


def test_a_lost_add_order_refuses_its_delete(day, tmp_path):
    """Message 1003 is an Add Order (ref 517) deleted at message 1353: with its length damaged
    the other 2,000 decode, 1,999 apply and the Delete is refused (unknown reference)."""
    raw, offsets = day
    assert raw[offsets[1003] + 2] == ord("A")
    path = tmp_path / "day.itch"
    path.write_bytes(with_length(raw, offsets[1003], 0x0124))
    handler, rep = replay(path, errors="skip", chunk_bytes=1 << 12)
    assert rep.messages == 2000 and rep.malformed == 1
    assert rep.book_stats["rejected"] == 1
    (refusal,) = handler.books.rejections
    assert chr(int(refusal.event["type"])) == "D" and int(refusal.event["ref"]) == 517
    assert refusal.offset == offsets[1353] + 2
    assert rep.lost_bytes == 38 and rep.lost_messages == (1, 2)


def test_raise_stops_at_the_bad_length_with_offset_and_reason(day, tmp_path):
    raw, offsets = day
    path = tmp_path / "day.itch"
    path.write_bytes(with_length(raw, offsets[1003], 0x0124))
    with pytest.raises(ItchError) as info:
        replay(path)
    assert info.value.offset == offsets[1003]
    assert info.value.reason == dec.STATUS_TEXT[dec.LENGTH_MISMATCH]
    assert "type 'A' is 36 bytes, block says 292" in str(info.value)


def test_end_of_session_marker_ends_the_file(day, tmp_path):
    raw, _ = day
    path = tmp_path / "day.itch"
    path.write_bytes(raw + b"\x00\x00")
    _, rep = replay(path)
    assert rep.end_of_session and rep.messages == MESSAGES and rep.lost_bytes == 0


def test_garbage_inside_the_file_resumes_at_the_next_message(day, tmp_path):
    raw, offsets = day
    junk = bytes(np.random.default_rng(3).integers(0, 256, 5000, dtype=np.uint8))
    at = offsets[700]
    path = tmp_path / "day.itch"
    path.write_bytes(raw[:at] + junk + raw[at:])
    _, rep = replay(path, errors="skip", chunk_bytes=1 << 11)
    assert rep.messages == MESSAGES
    assert [(r.offset, r.resumed) for r in rep.lost] == [(at, at + len(junk))]


# -- the search itself --------------------------------------------------------------------------

def search(data: bytes, start: int = 0, final: bool = True, run: int = RUN) -> tuple[int, int]:
    st_, q = find_resync(np.frombuffer(data, np.uint8), start, len(data), LENGTHS, run, final)
    return int(st_), int(q)


def test_search_waits_for_a_whole_run_unless_final(day):
    raw, offsets = day
    head = raw[:offsets[3]]  # three good blocks: fewer than RUN
    assert search(b"\xee" + head, final=False) == (NEED_MORE, 1)
    assert search(b"\xee" + head, final=True) == (FOUND, 1)
    assert search(b"\xee" * 10, final=True) == (NOT_FOUND, 10)
    assert search(b"\xee" + raw[:offsets[RUN]], final=False) == (FOUND, 1)


@settings(max_examples=60, deadline=None)
@given(junk=st.binary(max_size=300), at=st.integers(0, MESSAGES - 2 * RUN - 1))
def test_search_after_junk_finds_the_next_boundary(junk, at):
    """Junk in front of real blocks: the search never resumes past the first real boundary
    (it may resume earlier only on a chain of RUN consistent blocks inside the junk)."""
    raw, offsets = the_day()
    data = junk + raw[offsets[at]:offsets[at + 2 * RUN]]
    status, q = search(data, final=False)
    assert status == FOUND and q <= len(junk)
