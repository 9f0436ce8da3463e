"""MoldUDP64 session semantics (MoldSession.accept) and packing (pack_packets).

Packets here are built by hand from the specification (session, sequence number of the first
message, count, then 2-byte-length blocks), independently of ``pack_packets``. Each message is
an ITCH 'D' or 'A' whose order reference number is its own sequence number, so the blocks a
packet hands on can be checked message by message.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tickpath.codec.itch50.decode import OK, decode_batch
from tickpath.codec.itch50.layout import EVENT_DTYPE, LENGTHS
from tickpath.codec.itch50.message import encode
from tickpath.feed.moldudp64 import Counter, MoldSession, pack_packets, session_bytes
from tickpath.feed.moldudp64._kernels import BAD, NEW, OTHER, SKIP

SESSION = "SESSION001"


def msg(seq: int) -> bytes:
    """Message number ``seq``: alternately 19 and 36 bytes, carrying its own number."""
    if seq % 2:
        return encode("A", order_reference_number=seq, shares=seq % 1000, stock="SEQ")
    return encode("D", order_reference_number=seq)


def raw_packet(seq: int, n: int, session: str = SESSION, count: int | None = None,
               extra: bytes = b"") -> bytes:
    body = b"".join(len(m).to_bytes(2, "big") + m for m in (msg(s) for s in range(seq, seq + n)))
    head = session.encode().ljust(10) + seq.to_bytes(8, "big")
    return head + (n if count is None else count).to_bytes(2, "big") + body + extra


def packet(*args, **kw) -> np.ndarray:
    return np.frombuffer(raw_packet(*args, **kw), np.uint8)


def heartbeat(seq: int, session: str = SESSION) -> np.ndarray:
    return packet(seq, 0, session)


def end_of_session(seq: int, session: str = SESSION) -> np.ndarray:
    return packet(seq, 0, session, count=0xFFFF)


def handed_on(buf: np.ndarray, verdict: int, offset: int, count: int) -> list[int]:
    """Sequence numbers of the messages a NEW verdict hands on (decoded from the blocks)."""
    if verdict != NEW:
        return []
    out = np.zeros(count + 1, EVENT_DTYPE)
    got, status, end = decode_batch(buf, offset, buf.size, LENGTHS, out, 0, 0)
    assert (got, status, end) == (count, OK, buf.size)
    return [int(r) for r in out["ref"][:count]]


def counters(s: MoldSession) -> dict[str, int]:
    return {k: v for k, v in s.stats().items() if v}


# ------------------------------------------------------------------------------ sequencing


def test_in_order():
    s = MoldSession()
    got = []
    for seq, n in ((1, 3), (4, 1), (5, 4)):
        buf = packet(seq, n)
        v = s.accept(buf)
        assert (v[0], v[1], v[2]) == (NEW, 20, n)
        got += handed_on(buf, *v)
    assert got == list(range(1, 9))
    assert counters(s) == {"packets": 3, "messages": 8, "expected": 9}
    assert s.name == SESSION and s.expected == 9


def test_first_packet_fixes_session_and_expected():
    s = MoldSession()
    assert s.expected == 0 and s.name == ""
    assert s.accept(packet(1000, 2))[0] == NEW
    assert (s.name, s.expected) == (SESSION, 1002)
    assert counters(s) == {"packets": 1, "messages": 2, "expected": 1002}


def test_named_session_with_expected():
    s = MoldSession(SESSION, expected=5)
    assert s.accept(packet(5, 2))[:3] == (NEW, 20, 2)
    assert counters(s) == {"packets": 1, "messages": 2, "expected": 7}


def test_named_session_with_default_expected_counts_no_gap_at_seq_1():
    s = MoldSession(SESSION)
    assert s.accept(packet(1, 2))[:3] == (NEW, 20, 2)
    assert counters(s) == {"packets": 1, "messages": 2, "expected": 3}


def test_gap():
    s = MoldSession()
    s.accept(packet(1, 2))
    buf = packet(6, 2)
    v = s.accept(buf)
    assert v[:3] == (NEW, 20, 2)
    assert handed_on(buf, *v) == [6, 7]
    assert counters(s) == {"packets": 2, "messages": 4, "gaps": 1, "gap_messages": 3,
                           "expected": 8}
    # the late packet that filled the gap is now old: a duplicate, not new
    assert s.accept(packet(3, 3))[0] == SKIP
    assert s.stats()["duplicate_packets"] == 1 and s.stats()["duplicate_messages"] == 3


def test_duplicate_packet():
    s = MoldSession()
    s.accept(packet(1, 3))
    assert s.accept(packet(1, 3))[0] == SKIP
    assert counters(s) == {"packets": 2, "messages": 3, "duplicate_packets": 1,
                           "duplicate_messages": 3, "expected": 4}


def test_partial_overlap_skips_seen_messages():
    s = MoldSession()
    s.accept(packet(1, 3))  # 1, 2, 3 seen
    buf = packet(2, 4)  # 2, 3, 4, 5
    verdict, offset, count = s.accept(buf)
    assert (verdict, count) == (NEW, 2)
    assert offset == 20 + (2 + len(msg(2))) + (2 + len(msg(3)))
    assert handed_on(buf, verdict, offset, count) == [4, 5]
    assert counters(s) == {"packets": 2, "messages": 5, "duplicate_messages": 2, "expected": 6}


def test_packet_inside_a_larger_buffer():
    frame = np.frombuffer(b"\xaa" * 42 + raw_packet(7, 3) + b"\xbb" * 4, np.uint8)
    s = MoldSession()
    verdict, offset, count = s.accept(frame, 42, frame.size - 4)
    assert (verdict, offset, count) == (NEW, 62, 3)
    assert s.expected == 10


def test_heartbeat_without_gap():
    s = MoldSession()
    s.accept(packet(1, 2))
    assert s.accept(heartbeat(3))[0] == SKIP
    assert s.accept(heartbeat(2))[0] == SKIP  # an old heartbeat says nothing new
    assert counters(s) == {"packets": 3, "messages": 2, "heartbeats": 2, "expected": 3}


def test_heartbeat_with_gap():
    s = MoldSession()
    s.accept(packet(1, 2))
    assert s.accept(heartbeat(10))[0] == SKIP
    assert counters(s) == {"packets": 2, "messages": 2, "heartbeats": 1, "gaps": 1,
                           "gap_messages": 7, "expected": 10}
    buf = packet(10, 1)
    v = s.accept(buf)
    assert handed_on(buf, *v) == [10]
    assert s.stats()["gaps"] == 1


def test_heartbeat_first_sets_expected():
    s = MoldSession()
    assert s.accept(heartbeat(50))[0] == SKIP
    assert (s.expected, s.name) == (50, SESSION)
    assert s.accept(packet(50, 1))[:3] == (NEW, 20, 1)
    assert s.stats()["gaps"] == 0


def test_end_of_session():
    s = MoldSession()
    s.accept(packet(1, 2))
    assert s.accept(end_of_session(3))[0] == SKIP
    assert counters(s) == {"packets": 2, "messages": 2, "end_of_session": 1, "expected": 3}


def test_end_of_session_reveals_a_gap():
    s = MoldSession()
    s.accept(packet(1, 2))
    s.accept(end_of_session(9))
    assert counters(s) == {"packets": 2, "messages": 2, "end_of_session": 1, "gaps": 1,
                           "gap_messages": 6, "expected": 9}


# ------------------------------------------------------------------------------ malformed


@pytest.mark.parametrize("size", [0, 1, 10, 19])
def test_short_header(size):
    s = MoldSession()
    s.accept(packet(1, 1))
    verdict, offset, count = s.accept(packet(2, 1)[:size].copy())
    assert (verdict, offset, count) == (BAD, 0, 0)
    assert s.stats()["malformed"] == 1
    assert s.expected == 2  # nothing else moved
    assert s.stats()["messages"] == 1


@pytest.mark.parametrize("case", ["count too big", "count too small", "block overruns",
                                  "trailing bytes", "length byte cut"])
def test_blocks_not_adding_up(case):
    good = raw_packet(2, 3)
    if case == "count too big":
        data = raw_packet(2, 3, count=4)
    elif case == "count too small":
        data = raw_packet(2, 3, count=2)
    elif case == "block overruns":
        data = good[:-1]
    elif case == "trailing bytes":
        data = good + b"\x00"
    else:
        data = raw_packet(2, 3, count=4, extra=b"\x00")
    s = MoldSession()
    s.accept(packet(1, 1))
    assert s.accept(np.frombuffer(data, np.uint8))[0] == BAD
    assert s.stats()["malformed"] == 1
    assert s.expected == 2 and s.stats()["messages"] == 1 and s.stats()["gaps"] == 0
    # the good copy still goes through
    assert s.accept(np.frombuffer(good, np.uint8))[:3] == (NEW, 20, 3)


def test_malformed_first_packet_changes_nothing():
    s = MoldSession()
    assert s.accept(packet(500, 3, session="BOGUS", count=4))[0] == BAD
    assert s.accept(packet(1, 2))[:3] == (NEW, 20, 2)
    assert s.stats()["session_mismatch"] == 0


def test_other_session():
    s = MoldSession()
    s.accept(packet(1, 2))
    assert s.accept(packet(3, 2, session="OTHER"))[0] == OTHER
    assert s.accept(heartbeat(9, session="OTHER"))[0] == OTHER
    assert counters(s) == {"packets": 3, "messages": 2, "session_mismatch": 2, "expected": 3}
    assert s.accept(packet(3, 2))[:3] == (NEW, 20, 2)


def test_named_session_refuses_others_from_the_start():
    s = MoldSession("MINE", expected=1)
    assert s.accept(packet(1, 1, session="YOURS"))[0] == OTHER
    assert s.stats()["session_mismatch"] == 1 and s.name == "MINE"


def test_session_bytes():
    assert bytes(session_bytes("AB")) == b"AB        "
    assert bytes(session_bytes(b"0123456789")) == b"0123456789"
    with pytest.raises(ValueError):
        session_bytes("")
    with pytest.raises(ValueError):
        session_bytes("ELEVENCHARS")


# ------------------------------------------------------------------------------ packing


def _blocks(seqs) -> np.ndarray:
    return np.frombuffer(b"".join(len(m).to_bytes(2, "big") + m for m in map(msg, seqs)),
                         np.uint8).copy()


def _split(out, bounds, counts):
    """(session, seq, count, block bytes) per packet, parsed by hand."""
    res = []
    for i in range(len(counts)):
        p = bytes(out[bounds[i]:bounds[i + 1]])
        res.append((p[:10], int.from_bytes(p[10:18], "big"), int.from_bytes(p[18:20], "big"),
                    p[20:]))
    return res


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 120), st.integers(60, 1500), st.integers(1, 1 << 40),
       st.integers(1, 0xFFFE))
def test_pack_packets_properties(n, max_payload, first_seq, max_messages):
    blocks = _blocks(range(1, n + 1))
    out, bounds, counts = pack_packets(blocks, "PK", first_seq, max_payload, max_messages)
    parts = _split(out, bounds, counts)
    assert bounds[0] == 0 and bounds[-1] == out.size
    seq = first_seq
    for session, pseq, count, body in parts:
        assert session == b"PK        "
        assert pseq == seq and count >= 1 and count <= max_messages
        assert 20 + len(body) <= max_payload  # every block here fits (at most 38 + 20 bytes)
        seq += count
    assert seq - first_seq == n == int(counts.sum())
    assert b"".join(p[3] for p in parts) == bytes(blocks)
    # greedy: a packet closed early only because the next block would not fit
    for (_, _, count, body), nxt in zip(parts, parts[1:], strict=False):
        first_next = int.from_bytes(nxt[3][:2], "big") + 2
        assert count == max_messages or 20 + len(body) + first_next > max_payload


def test_pack_packets_round_trips_through_mold_session():
    blocks = _blocks(range(1, 201))
    out, bounds, counts = pack_packets(blocks, SESSION, 1, 300)
    s = MoldSession()
    got = []
    for i in range(len(counts)):
        buf = out[bounds[i]:bounds[i + 1]]
        got += handed_on(buf, *s.accept(buf))
    assert got == list(range(1, 201))
    assert counters(s) == {"packets": len(counts), "messages": 200, "expected": 201}


def test_pack_packets_oversized_block_goes_alone():
    big = encode("I")  # 50 bytes + 2
    blocks = np.frombuffer(b"".join(len(m).to_bytes(2, "big") + m
                                    for m in (msg(1), big, msg(2))), np.uint8)
    out, bounds, counts = pack_packets(blocks, "S", 1, max_payload=20 + 40)
    assert list(counts) == [1, 1, 1]
    assert bounds[2] - bounds[1] == 20 + 52


def test_pack_packets_empty():
    out, bounds, counts = pack_packets(np.zeros(0, np.uint8), "S")
    assert out.size == 0 and list(bounds) == [0] and counts.size == 0


def test_pack_packets_zero_length_messages():
    out, bounds, counts = pack_packets(np.zeros(8, np.uint8), "S", 1, max_payload=22)
    assert list(counts) == [1, 1, 1, 1]


# ------------------------------------------------------------------ property: a pure model


class Model:
    """The MoldUDP64 receiver rules in plain Python, counter for counter."""

    def __init__(self) -> None:
        self.session: bytes | None = None
        self.c = dict.fromkeys(Counter, 0)

    def accept(self, data: bytes) -> tuple[int, int, int]:
        c = self.c
        if len(data) < 20:
            c[Counter.MALFORMED] += 1
            return BAD, 0, 0
        c[Counter.PACKETS] += 1
        session, seq = data[:10], int.from_bytes(data[10:18], "big")
        count = int.from_bytes(data[18:20], "big")
        # the blocks must add up before the packet may change anything
        starts, p = [], 20
        if count != 0xFFFF:
            for _ in range(count):
                if p + 2 > len(data):
                    c[Counter.MALFORMED] += 1
                    return BAD, 0, 0
                starts.append(p)
                p += 2 + int.from_bytes(data[p:p + 2], "big")
            if p != len(data):
                c[Counter.MALFORMED] += 1
                return BAD, 0, 0
        if self.session is None:
            self.session = session
        elif session != self.session:
            c[Counter.SESSION_MISMATCH] += 1
            return OTHER, 0, 0
        if c[Counter.EXPECTED] == 0:
            c[Counter.EXPECTED] = seq
        expected = c[Counter.EXPECTED]
        if count in (0, 0xFFFF):  # both carry the next sequence number, like a heartbeat
            c[Counter.HEARTBEATS if count == 0 else Counter.END_OF_SESSION] += 1
            if seq > expected:
                c[Counter.GAPS] += 1
                c[Counter.GAP_MESSAGES] += seq - expected
                c[Counter.EXPECTED] = seq
            return SKIP, 0, 0
        if seq + count <= expected:
            c[Counter.DUPLICATE_PACKETS] += 1
            c[Counter.DUPLICATE_MESSAGES] += count
            return SKIP, 0, 0
        skip = max(0, expected - seq)
        c[Counter.DUPLICATE_MESSAGES] += skip
        if seq > expected:
            c[Counter.GAPS] += 1
            c[Counter.GAP_MESSAGES] += seq - expected
        c[Counter.EXPECTED] = seq + count
        c[Counter.MESSAGES] += count - skip
        return NEW, starts[skip], count - skip


@st.composite
def streams(draw):
    n = draw(st.integers(1, 40))
    first = draw(st.sampled_from([1, 2, 1000, 1 << 33]))
    sizes, left = [], n
    while left:
        k = draw(st.integers(1, min(left, 6)))
        sizes.append(k)
        left -= k
    starts = list(np.cumsum([first] + sizes[:-1]))
    pkts = [raw_packet(int(s), k) for s, k in zip(starts, sizes, strict=True)]
    op = st.one_of(
        st.integers(0, len(pkts) - 1).map(lambda i: pkts[i]),  # drops, repeats, reorders
        st.integers(first, first + n + 3).map(lambda s: raw_packet(s, 0)),  # heartbeat
        st.integers(first, first + n + 3).map(lambda s: raw_packet(s, 0, count=0xFFFF)),
        st.integers(0, len(pkts) - 1).map(lambda i: pkts[i][:-1]),  # cut short
        st.integers(0, 19).map(lambda k: b"\x00" * k),  # shorter than a header
        st.integers(0, len(pkts) - 1).map(lambda i: b"OTHER".ljust(10) + pkts[i][10:]),
    )
    # the stream opens with a real packet (see the xfail on malformed first packets)
    opening = draw(st.integers(0, len(pkts) - 1))
    return first, n, [pkts[opening]] + draw(st.lists(op, max_size=40))


@settings(max_examples=200, deadline=None)
@given(streams())
def test_random_streams_against_the_model(stream):
    first, n, ops = stream
    s, model = MoldSession(), Model()
    delivered: list[int] = []
    for data in ops:
        buf = np.frombuffer(data, np.uint8)
        v = s.accept(buf)
        assert tuple(int(x) for x in v) == model.accept(data)
        delivered += handed_on(buf, *v)
        assert s.stats() == {c.name.lower(): model.c[c] for c in Counter}
    st_ = s.stats()
    # each message handed on at most once, in sequence order
    assert delivered == sorted(set(delivered))
    assert all(first <= q < first + n for q in delivered)
    # everything between the first sequence number and expected was either handed on or missed
    start = int.from_bytes(ops[0][10:18], "big")
    assert st_["messages"] + st_["gap_messages"] == s.expected - start
    assert st_["messages"] == len(delivered)
