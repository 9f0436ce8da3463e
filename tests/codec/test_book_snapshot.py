"""The Book Snapshot message: its layout table, the compiled writer against the plain-Python
one, the reader's checks, and the ITCH stamper writing its send time unchanged."""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tickpath.codec.book_snapshot import (
    FIELDS,
    HEADER_LEN,
    LEVEL_FIELDS,
    LEVEL_LEN,
    REFUSAL_TEXT,
    BookSnapshot,
    Refusal,
    encode,
    message_length,
    parse,
    parse_blocks,
)
from tickpath.codec.book_snapshot.decode import check
from tickpath.codec.book_snapshot.encoder import put_header, put_level
from tickpath.codec.itch50.encoder import restamp_blocks
from tickpath.codec.itch50.layout import LENGTHS, stock_code
from tickpath.telemetry.feedtime import FeedTime, since_midnight


def test_fields_tile_the_header_and_the_level():
    off = 0
    for f in FIELDS:
        assert f.offset == off, f.name
        off += f.width
    assert off == HEADER_LEN == 29
    off = 0
    for f in LEVEL_FIELDS:
        assert f.offset == off, f.name
        off += f.width
    assert off == LEVEL_LEN == 10
    assert message_length(10, 10) == 229


def test_header_is_itch_shaped_and_b_is_not_an_itch_type():
    names = [(f.name, f.offset, f.width) for f in FIELDS[:4]]
    assert names == [("message_type", 0, 1), ("stock_locate", 1, 2), ("tracking_number", 3, 2),
                     ("timestamp", 5, 6)]
    assert LENGTHS[ord("b")] == 0


def _compiled(snap: BookSnapshot) -> bytes:
    out = np.zeros(message_length(len(snap.bids), len(snap.asks)), np.uint8)
    # the u64 fields as uint64: a Python int past 2**63 does not fit numba's int64
    put_header(out, 0, snap.locate, snap.tracking, snap.timestamp,
               np.uint64(stock_code(snap.stock)), np.uint64(snap.seq), len(snap.bids),
               len(snap.asks))
    q = HEADER_LEN
    for price, shares, orders in [*snap.bids, *snap.asks]:
        put_level(out, q, price, shares, orders)
        q += LEVEL_LEN
    return out.tobytes()


_level = st.tuples(st.integers(0, 2**32 - 1), st.integers(1, 2**32 - 1), st.integers(0, 2**16 - 1))
_snapshots = st.builds(
    BookSnapshot, locate=st.integers(0, 2**16 - 1), seq=st.integers(0, 2**64 - 1),
    bids=st.lists(_level, max_size=12), asks=st.lists(_level, max_size=12),
    stock=st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ", max_size=8),
    tracking=st.integers(0, 2**16 - 1), timestamp=st.integers(0, 2**48 - 1))


@settings(max_examples=200, deadline=None)
@given(_snapshots)
def test_round_trip_compiled_and_python(snap):
    raw = encode(snap)
    assert raw == _compiled(snap)
    assert len(raw) == message_length(len(snap.bids), len(snap.asks))
    back = parse(raw)
    assert back == snap


def test_example_bytes():
    snap = BookSnapshot(locate=7, seq=0x0102, bids=[(1_000_000, 300, 2)], asks=[], stock="AB",
                        tracking=3, timestamp=0x0A0B0C0D0E0F)
    assert encode(snap).hex() == (
        "62" "0007" "0003" "0a0b0c0d0e0f" "4142202020202020" "0000000000000102" "01" "00"
        "000f4240" "0000012c" "0002")


def test_shares_and_orders_saturate():
    big = BookSnapshot(locate=1, seq=1, bids=[(100, 2**40, 70_000)])
    for raw in (encode(big), _compiled(big)):
        assert parse(raw).bids == [(100, 2**32 - 1, 2**16 - 1)]


def test_stamper_writes_the_send_time_and_nothing_else():
    snap = BookSnapshot(locate=9, seq=5, bids=[(200, 10, 1)], asks=[(300, 20, 2)], stock="XY",
                        tracking=4, timestamp=123)
    raw = encode(snap)
    blocks = np.frombuffer(len(raw).to_bytes(2, "big") + raw, np.uint8).copy()
    table = np.ascontiguousarray(FeedTime().table)
    now = 1_767_000_000_123_456_789
    assert restamp_blocks(blocks, 0, blocks.size, since_midnight(table, now)) == 1
    back = parse(blocks[2:].tobytes())
    assert back.timestamp == since_midnight(table, now)
    back.timestamp = snap.timestamp
    assert back == snap


@pytest.mark.parametrize("mutate, reason", [
    (lambda b: b[:28], Refusal.SHORT),
    (lambda b: b"A" + b[1:], Refusal.UNKNOWN_TYPE),
    (lambda b: b[:-1], Refusal.LENGTH),
    (lambda b: b[:27] + bytes([b[27] + 1]) + b[28:], Refusal.LENGTH),
])
def test_parse_refuses_with_reason_and_offset(mutate, reason):
    raw = mutate(encode(BookSnapshot(locate=1, seq=1, bids=[(200, 10, 1)], asks=[(300, 1, 1)])))
    with pytest.raises(ValueError, match=re.escape(f"offset 2: {REFUSAL_TEXT[reason]}")):
        parse(b"xx" + raw, 2, len(raw))


@pytest.mark.parametrize("snap, depth, locates, reason", [
    (BookSnapshot(1, 1, [(300, 1, 1), (200, 1, 1)], [(400, 1, 1)]), 2, 10, Refusal.OK),
    (BookSnapshot(1, 1, [(300, 1, 1), (200, 1, 1)], [(400, 1, 1)]), 1, 10, Refusal.TOO_DEEP),
    (BookSnapshot(12, 1, [(300, 1, 1)], []), 4, 12, Refusal.LOCATE),
    (BookSnapshot(1, 1, [(200, 1, 1), (300, 1, 1)], []), 4, 10, Refusal.BAD_LEVELS),
    (BookSnapshot(1, 1, [(300, 1, 1), (300, 1, 1)], []), 4, 10, Refusal.BAD_LEVELS),
    (BookSnapshot(1, 1, [], [(300, 1, 1), (200, 1, 1)]), 4, 10, Refusal.BAD_LEVELS),
    (BookSnapshot(1, 1, [(300, 0, 0)], []), 4, 10, Refusal.BAD_LEVELS),
    (BookSnapshot(1, 1, [(300, 1, 1)], [(200, 1, 1)]), 4, 10, Refusal.OK),  # crossed: a book
])
def test_compiled_check(snap, depth, locates, reason):
    raw = np.frombuffer(b"zz" + encode(snap), np.uint8)
    assert check(raw, 2, raw.size - 2, depth, locates) == reason


def test_parse_blocks_reads_a_run():
    snaps = [BookSnapshot(k, k, [(100 + k, 1, 1)], []) for k in range(3)]
    raw = b"".join(len(m).to_bytes(2, "big") + m for m in map(encode, snaps))
    assert parse_blocks(raw) == snaps
    with pytest.raises(ValueError, match="offset"):
        parse_blocks(raw[:-1])
