"""ItchHandler.on_blocks: truncated, unknown and mis-sized blocks, and chunked feeding.

Streams are built with ``message.encode`` as length-prefixed blocks; the books the handler
keeps are compared with tests/reference/book.py fed the good messages only.
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # tests/reference

from reference.book import ReferenceBook  # noqa: E402
from reference.harness import A, C, D, E, F, R, S, U, X, assert_same, new_store  # noqa: E402
from tickpath.book import BookError  # noqa: E402
from tickpath.codec.itch50 import decode as dec  # noqa: E402
from tickpath.codec.itch50.message import encode  # noqa: E402
from tickpath.feed.itch import ItchError, ItchHandler  # noqa: E402
from tickpath.feed.moldudp64 import MoldSession, pack_packets  # noqa: E402

GOOD = [
    R("AAPL", 1), R("MSFT", 2), S("O"),
    A(1, "B", 100, 1000), F(2, "S", 50, 1010, mpid="GSCO"), A(3, "B", 10, 999, loc=2),
    E(1, 30), X(2, 10), U(1, 4, 70, 1001), C(4, 5, price=1001), A(5, "S", 1, 2000, loc=2),
    D(3, loc=2), A(6, "B", 7, 998),
]
LOCATES = [1, 2]
REFS = [1, 2, 3, 4, 5, 6]


def message(msg) -> bytes:
    return encode(msg[0], **msg[1])


def block(msg) -> bytes:
    m = message(msg)
    return len(m).to_bytes(2, "big") + m


def blocks(msgs) -> bytes:
    return b"".join(block(m) for m in msgs)


def as_buf(raw: bytes) -> np.ndarray:
    return np.frombuffer(raw, np.uint8).copy()


def reference(msgs) -> ReferenceBook:
    ref = ReferenceBook(256)
    for t, f in msgs:
        ref.apply(t, **f)
    return ref


def handler(errors: str = "raise", batch: int = 64) -> ItchHandler:
    return ItchHandler(new_store(256, errors=errors), batch=batch, errors=errors)


def same(h: ItchHandler, ref: ReferenceBook, errors: str = "skip") -> None:
    assert_same(h.books, ref, LOCATES, REFS, rejections=errors == "skip")


# -- whole and truncated streams --------------------------------------------------------------

@pytest.mark.parametrize("batch", [1, 2, 5, 64])
def test_whole_stream_matches_reference(batch):
    h = handler(batch=batch)  # batch < messages: the event buffer fills and is drained
    raw = blocks(GOOD)
    assert h.on_blocks(as_buf(raw), 0, len(raw)) == len(raw)
    assert h.messages == len(GOOD) and h.malformed == 0
    same(h, reference(GOOD), "raise")


@pytest.mark.parametrize("cut", range(1, len(block(A(9, "S", 1, 1))) ))
def test_truncated_last_block_returns_its_offset(cut):
    raw = blocks(GOOD)
    last = block(A(9, "S", 1, 1))
    buf = as_buf(raw + last[:cut])
    h = handler()
    assert h.on_blocks(buf, 0, buf.size) == len(raw)
    assert h.malformed == 0
    same(h, reference(GOOD), "raise")
    assert h.books.order(9) is None


def test_truncated_block_with_start_and_base():
    raw = blocks(GOOD)
    lead = b"\xee" * 7  # bytes before ``start`` are not looked at
    buf = as_buf(lead + raw + block(D(6))[:5])
    h = handler()
    assert h.on_blocks(buf, len(lead), buf.size, base=1000) == len(lead) + len(raw)
    same(h, reference(GOOD), "raise")
    # the events carry stream offsets: base + buffer position of the type byte
    with pytest.raises(BookError) as info:
        h.on_blocks(as_buf(block(D(77))), 0, len(block(D(77))), base=5000)
    assert info.value.offset == 5002


# -- malformed blocks ---------------------------------------------------------------------------

def unknown_type_block() -> bytes:
    return (12).to_bytes(2, "big") + b"z" + bytes(11)  # 'z' is no ITCH 5.0 type


def short_block() -> bytes:  # an Add Order cut to 20 bytes, block length says 20
    return (20).to_bytes(2, "big") + message(A(8, "B", 1, 1))[:20]


def long_block() -> bytes:  # a Delete with 5 bytes of trailing junk, block length says 24
    return (24).to_bytes(2, "big") + message(D(1)) + b"junk!"


MALFORMED = {
    "unknown type": (unknown_type_block, dec.UNKNOWN_TYPE, "type byte 0x7a 'z'"),
    "length too short": (short_block, dec.LENGTH_MISMATCH, "type 'A' is 36 bytes, block says 20"),
    "length too long": (long_block, dec.LENGTH_MISMATCH, "type 'D' is 19 bytes, block says 24"),
}


@pytest.mark.parametrize("case", list(MALFORMED))
@pytest.mark.parametrize("base", [0, 1 << 33])
def test_malformed_block_raises_with_offset_and_reason(case, base):
    make, status, detail = MALFORMED[case]
    before, after = GOOD[:6], GOOD[6:]
    head = blocks(before)
    buf = as_buf(head + make() + blocks(after))
    h = handler("raise")
    with pytest.raises(ItchError) as info:
        h.on_blocks(buf, 0, buf.size, base)
    err = info.value
    assert err.offset == base + len(head)  # the bad block's length prefix
    assert err.reason == dec.STATUS_TEXT[status]
    assert f"at offset {base + len(head)}" in str(err)
    assert dec.STATUS_TEXT[status] in str(err) and detail in str(err)
    same(h, reference(before), "raise")  # the messages before it, and nothing else
    assert h.malformed == 0


@pytest.mark.parametrize("case", list(MALFORMED))
@pytest.mark.parametrize("batch", [1, 4, 64])
def test_malformed_block_skipped_and_decoding_resumes(case, batch):
    make, status, _ = MALFORMED[case]
    bad = make()
    raw = blocks(GOOD[:4]) + bad + blocks(GOOD[4:9]) + bad + bad + blocks(GOOD[9:])
    h = handler("skip", batch)
    assert h.on_blocks(as_buf(raw), 0, len(raw), final=True) == len(raw)
    # the two bad blocks side by side are one range: the boundary search passes both
    assert h.malformed == 2
    first = len(blocks(GOOD[:4]))
    second = first + len(bad) + len(blocks(GOOD[4:9]))
    assert [e.offset for e in h.malformed_log] == [first, second]
    assert all(e.reason == dec.STATUS_TEXT[status] for e in h.malformed_log)
    assert [(r.offset, r.resumed) for r in h.lost] == [(first, first + len(bad)),
                                                       (second, second + 2 * len(bad))]
    assert h.lost_bytes == 3 * len(bad) and h.lost_ranges == 2
    assert h.messages == len(GOOD)
    same(h, reference(GOOD))


def test_zero_length_block():
    head = blocks(GOOD[:5])
    raw = head + b"\x00\x00" + blocks(GOOD[5:])
    with pytest.raises(ItchError) as info:
        handler("raise").on_blocks(as_buf(raw), 0, len(raw))
    assert info.value.offset == len(head)
    assert info.value.reason == dec.STATUS_TEXT[dec.LENGTH_MISMATCH]
    assert "marks the end of the session" in str(info.value)
    # skip: counted, and decoding resumes at the next block (the two zero bytes are lost)
    h = handler("skip")
    assert h.on_blocks(as_buf(raw), 0, len(raw), final=True) == len(raw)
    assert h.malformed == 1 and not h.end_of_session
    assert [(r.offset, r.bytes, r.messages) for r in h.lost] == [(len(head), 2, (1, 1))]
    same(h, reference(GOOD))


@pytest.mark.parametrize("errors", ["raise", "skip"])
def test_zero_length_last_is_the_end_of_session(errors):
    raw = blocks(GOOD) + b"\x00\x00"
    h = handler(errors)
    assert h.on_blocks(as_buf(raw), 0, len(raw)) == len(raw) - 2  # undecided: more may come
    assert h.on_blocks(as_buf(raw[-2:]), 0, 2, len(raw) - 2, final=True) == 2
    assert h.end_of_session and h.malformed == 0 and h.messages == len(GOOD)


def test_refused_book_message_inside_a_stream():
    """A message the books refuse is not malformed: BookError (raise) or ``rejected`` (skip),
    and with skip the blocks after it still apply."""
    msgs = GOOD[:5] + [E(99, 1), A(2, "B", 1, 1)] + GOOD[5:]
    raw = blocks(msgs)
    offset = len(blocks(GOOD[:5])) + 2
    h = handler("raise")
    with pytest.raises(BookError) as info:
        h.on_blocks(as_buf(raw), 0, len(raw), base=100)
    assert info.value.offset == 100 + offset
    same(h, reference(GOOD[:5] + [E(99, 1)]), "raise")  # counted as rejected, nothing else
    h = handler("skip")
    assert h.on_blocks(as_buf(raw), 0, len(raw)) == len(raw)
    assert h.malformed == 0 and h.books.stats()["rejected"] == 2
    assert [e.offset for e in h.books.rejections] == [offset, offset + len(block(E(99, 1)))]
    same(h, reference(msgs))


# -- chunked feeding ----------------------------------------------------------------------------

def feed_chunks(h: ItchHandler, raw: bytes, cuts, final: bool = True) -> bytes:
    """Feed ``raw`` split at ``cuts`` the way a file reader does: each call sees the carried
    remainder plus the next chunk, ``base`` is the stream offset of the buffer's first byte;
    the last call says the input ends there when ``final``. Returns what is left over."""
    carry = b""
    base = 0
    points = [0, *sorted(set(cuts)), len(raw)]
    pairs = list(zip(points, points[1:], strict=False))
    for i, (a, b) in enumerate(pairs):
        buf = as_buf(carry + raw[a:b])
        p = h.on_blocks(buf, 0, buf.size, base, final=final and i == len(pairs) - 1)
        assert 0 <= p <= buf.size
        carry = bytes(buf[p:])
        base += p
    return carry


STREAM = GOOD[:7] + [E(99, 1)] + GOOD[7:]  # one refused message, to compare rejection offsets


def _outcome(h: ItchHandler, offsets: bool = True) -> tuple:
    b = h.books
    return (list(b.books()), b.stats(), b.counts_by_type(), b.directory,
            [b.order(r) for r in REFS],
            [(e.status, e.offset if offsets else None) for e in b.rejections],
            [(e.offset if offsets else None, e.reason) for e in h.malformed_log], h.messages,
            h.malformed)


def _whole_handler(raw: bytes) -> ItchHandler:
    h = handler("skip")
    assert h.on_blocks(as_buf(raw), 0, len(raw), final=True) == len(raw)
    return h


def _whole(raw: bytes) -> tuple:
    return _outcome(_whole_handler(raw))


def test_chunked_at_every_byte_boundary():
    raw = blocks(STREAM)
    want = _whole(raw)
    same_as = reference(STREAM)
    for k in range(len(raw) + 1):
        h = handler("skip")
        assert feed_chunks(h, raw, [k]) == b""
        assert _outcome(h) == want, k
    same(h, same_as)
    # and one byte at a time
    h = handler("skip", batch=3)
    assert feed_chunks(h, raw, range(len(raw))) == b""
    assert _outcome(h) == want


def test_chunked_with_malformed_blocks_at_every_boundary():
    raw = (blocks(STREAM[:3]) + unknown_type_block() + blocks(STREAM[3:9]) + short_block()
           + blocks(STREAM[9:]) + long_block())
    want = _whole(raw)
    assert want[-1] == 3
    for k in range(len(raw) + 1):
        h = handler("skip")
        assert feed_chunks(h, raw, [k]) == b""
        assert _outcome(h) == want, k


@settings(max_examples=60, deadline=None)
@given(cuts=st.lists(st.integers(0, len(blocks(STREAM))), max_size=30),
       batch=st.sampled_from([1, 2, 7, 64]), tail=st.integers(0, 20))
def test_chunked_at_random_boundaries_with_a_cut_tail(cuts, batch, tail):
    raw = blocks(STREAM)
    last = block(A(42, "S", 3, 3000))
    tail = min(tail, len(last) - 1)
    h = handler("skip", batch)
    # the partial block is left for more input
    assert feed_chunks(h, raw + last[:tail], cuts, final=False) == last[:tail]
    assert _outcome(h) == _whole(raw)


# -- MoldUDP64 packets --------------------------------------------------------------------------

def _packets(raw: bytes, max_payload: int = 120) -> list[np.ndarray]:
    out, bounds, _ = pack_packets(as_buf(raw), "TESTSESS", first_seq=1, max_payload=max_payload)
    return [out[a:b].copy() for a, b in zip(bounds, bounds[1:], strict=False)]


def test_on_packet_applies_each_packet_once():
    packets = _packets(blocks(STREAM))
    assert len(packets) > 3
    h = handler("skip")
    session = MoldSession()
    new = [h.on_packet(session, p, p.size) for p in packets]
    assert sum(new) == len(STREAM)
    # (offsets are per packet here: each packet is its own buffer, base 0)
    assert _outcome(h, offsets=False) == _outcome(_whole_handler(blocks(STREAM)), offsets=False)
    # a packet seen again (line B, a retransmission) changes nothing
    before = _outcome(h)
    assert h.on_packet(session, packets[1], packets[1].size) == 0
    assert _outcome(h) == before
    same(h, reference(STREAM))


def test_on_packet_with_a_malformed_block_inside():
    raw = blocks(GOOD[:4]) + unknown_type_block() + blocks(GOOD[4:])
    h = handler("skip")
    session = MoldSession()
    for p in _packets(raw, max_payload=1400):
        h.on_packet(session, p, p.size)
    assert h.malformed == 1
    same(h, reference(GOOD))
