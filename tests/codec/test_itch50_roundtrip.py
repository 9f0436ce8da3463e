"""ITCH 5.0 round trips: message.encode -> decode_batch / fields / decode_fields, and
decode_batch -> encode_event / encode_blocks, for every message type, on fixed and random
field values."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from itch50_cases import (
    TYPES,
    blocks,
    event_dict,
    expected_event,
    messages,
    ref_decode,
    sample_values,
    values_of,
)

from tickpath.codec.itch50.decode import OK, OUT_FULL, count_types, decode_batch
from tickpath.codec.itch50.encoder import encode_blocks, encode_event
from tickpath.codec.itch50.layout import EVENT_DTYPE, EVENT_MAP, LENGTHS, MESSAGES, stock_code
from tickpath.codec.itch50.message import decode_fields, encode, fields

#: encode.py: encode_event writes "every type whose fields the event carries completely":
#: the types whose every body field is mapped to an event field by EVENT_MAP
ENCODE_EVENT_TYPES = frozenset(
    t for t, m in MESSAGES.items() if {f.name for f in m.fields[4:]} <= set(EVENT_MAP[t].values()))


def _decode(buf: np.ndarray, start: int = 0, end: int | None = None, cap: int = 64,
            base: int = 0) -> tuple[np.ndarray, int, int]:
    end = buf.size if end is None else end
    out = np.zeros(cap, EVENT_DTYPE)
    count, status, offset = decode_batch(buf, start, end, LENGTHS, out, 0, base)
    return out[:count], int(status), int(offset)


def _with_type(type_: str, values: dict) -> dict:
    return {"message_type": type_, **values}


# ------------------------------------------------------------------------ every type, fixed


@pytest.mark.parametrize("type_", TYPES)
def test_encode_then_fields(type_):
    values = sample_values(type_)
    raw = encode(type_, **values)
    assert len(raw) == MESSAGES[type_].length
    assert raw[0] == ord(type_)
    assert fields(raw) == _with_type(type_, values)


@pytest.mark.parametrize("type_", TYPES)
def test_encode_then_decode_batch(type_):
    values = sample_values(type_)
    raw = encode(type_, **values)
    events, status, offset = _decode(blocks([raw]), base=1000)
    assert (status, offset, len(events)) == (OK, len(raw) + 2, 1)
    ev = event_dict(events[0])
    assert ev == expected_event(raw, 1002)
    # and spelled out from the field values, not from the bytes
    assert ev["type"] == ord(type_)
    assert ev["locate"] == values["stock_locate"]
    assert ev["tracking"] == values["tracking_number"]
    assert ev["timestamp"] == values["timestamp"]
    for ev_field, msg_field in EVENT_MAP[type_].items():
        v = values[msg_field]
        if MESSAGES[type_].field(msg_field).kind == "alpha":
            v = int.from_bytes(v.encode("latin-1"), "big")
        assert ev[ev_field] == v, (ev_field, msg_field)
    unmapped = set(EVENT_DTYPE.names) - set(EVENT_MAP[type_]) - {
        "type", "locate", "tracking", "timestamp", "offset"}
    assert all(ev[name] == 0 for name in unmapped)


@pytest.mark.parametrize("type_", TYPES)
def test_decode_batch_on_patterned_bytes(type_):
    # bytes not made by encode(): the decoder is checked against the table alone
    length = MESSAGES[type_].length
    raw = bytes([ord(type_)]) + bytes((37 * i + 11) & 0xFF for i in range(1, length))
    events, status, _ = _decode(blocks([raw]))
    assert status == OK
    assert event_dict(events[0]) == expected_event(raw, 2)
    got = fields(raw)
    for f in MESSAGES[type_].fields:
        chunk = raw[f.offset:f.offset + f.width]
        want = chunk.decode("latin-1") if f.kind == "alpha" else int.from_bytes(chunk, "big")
        assert got[f.name] == want


@pytest.mark.parametrize("type_", TYPES)
def test_decode_fields_matches_fields(type_):
    raws = [encode(type_, **sample_values(type_, salt)) for salt in range(5)]
    buf = blocks(raws)
    offsets = np.cumsum([2] + [len(r) + 2 for r in raws[:-1]])
    cols = decode_fields(buf, offsets, type_)
    for i, raw in enumerate(raws):
        one = fields(raw)
        for f in MESSAGES[type_].fields:
            v = cols[f.name][i]
            if f.kind == "alpha":
                assert bytes(v) == one[f.name].encode("latin-1"), f.name
            else:
                assert int(v) == one[f.name], f.name


def test_stock_code_is_the_event_stock():
    raw = encode("A", stock="AAPL", shares=1)
    events, _, _ = _decode(blocks([raw]))
    assert int(events[0]["stock"]) == stock_code("AAPL") == int.from_bytes(b"AAPL    ", "big")


def test_encode_pads_alpha_and_refuses_bad_values():
    raw = encode("A", stock="AB", buy_sell_indicator="S")
    assert fields(raw)["stock"] == "AB      "
    assert fields(raw)["buy_sell_indicator"] == "S"
    with pytest.raises(ValueError, match="longer"):
        encode("A", stock="TOOLONGSYM")
    with pytest.raises(ValueError, match="does not fit"):
        encode("A", shares=1 << 32)
    with pytest.raises(ValueError, match="no field"):
        encode("A", nonsense=1)
    with pytest.raises(ValueError, match="unknown ITCH"):
        encode("Z")


def test_fields_refuses_truncated_and_unknown():
    raw = encode("D", order_reference_number=7)
    with pytest.raises(ValueError, match="truncated"):
        fields(raw[:-1])
    with pytest.raises(ValueError, match="unknown"):
        fields(b"Z" + raw[1:])


# ------------------------------------------------------------------------ random field values


@settings(max_examples=300, deadline=None)
@given(messages)
def test_fields_roundtrip_random(msg):
    type_, values = msg
    assert fields(encode(type_, **values)) == _with_type(type_, values)


@settings(max_examples=150, deadline=None)
@given(st.lists(messages, min_size=1, max_size=40), st.binary(max_size=7),
       st.integers(0, 1 << 40))
def test_decode_batch_random_streams(msgs, junk, base):
    raws = [encode(t, **v) for t, v in msgs]
    body = blocks(raws)
    buf = np.concatenate([np.frombuffer(junk, np.uint8), body])  # decode starts after the junk
    events, status, offset = _decode(buf, len(junk), buf.size, cap=len(raws), base=base)
    assert (status, offset, len(events)) == (OK, buf.size, len(raws))
    want, _, _ = ref_decode(bytes(buf), len(junk), buf.size, len(raws), base)
    assert [event_dict(e) for e in events] == want


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(TYPES).flatmap(
    lambda t: st.tuples(st.just(t), st.lists(values_of(t), min_size=1, max_size=12))))
def test_decode_fields_random(case):
    type_, many = case
    raws = [encode(type_, **v) for v in many]
    buf = blocks(raws)
    offsets = np.cumsum([2] + [len(r) + 2 for r in raws[:-1]])
    cols = decode_fields(buf, offsets, type_)
    for i, values in enumerate(many):
        for name, v in values.items():
            got = cols[name][i]
            if isinstance(v, str):
                assert bytes(got) == v.encode("latin-1")
            else:
                assert int(got) == v


# ------------------------------------------------------------------------ encode_event


@settings(max_examples=200, deadline=None)
@given(st.sampled_from(sorted(ENCODE_EVENT_TYPES)).flatmap(
    lambda t: values_of(t).map(lambda v: (t, v))))
def test_encode_event_reproduces_the_message(msg):
    type_, values = msg
    raw = encode(type_, **values)
    events, status, _ = _decode(blocks([raw]))
    assert status == OK
    buf = np.full(64, 0xEE, np.uint8)
    n = encode_event(buf, 3, events[0])
    assert n == len(raw)
    assert bytes(buf[3:3 + n]) == raw
    assert (buf[:3] == 0xEE).all() and (buf[3 + n:] == 0xEE).all()


@pytest.mark.parametrize("type_", sorted(set(TYPES) - ENCODE_EVENT_TYPES))
def test_encode_event_declines_types_it_cannot_write(type_):
    events, _, _ = _decode(blocks([encode(type_, **sample_values(type_))]))
    assert encode_event(np.zeros(64, np.uint8), 0, events[0]) == 0


def test_encode_event_covers_every_completely_carried_type():
    # the book-changing types and the common one-code types at least
    assert set("AFDEXUCPQBSWYN") <= ENCODE_EVENT_TYPES
    covered = set()
    for t in TYPES:
        events, _, _ = _decode(blocks([encode(t, **sample_values(t))]))
        if encode_event(np.zeros(64, np.uint8), 0, events[0]):
            covered.add(t)
    assert covered == ENCODE_EVENT_TYPES


@settings(max_examples=100, deadline=None)
@given(st.lists(st.sampled_from(sorted(ENCODE_EVENT_TYPES)).flatmap(
    lambda t: values_of(t).map(lambda v: (t, v))), min_size=1, max_size=30))
def test_encode_blocks_reproduces_the_stream(msgs):
    buf = blocks([encode(t, **v) for t, v in msgs])
    events, status, _ = _decode(buf, cap=len(msgs))
    assert status == OK
    out = np.zeros(buf.size + 8, np.uint8)
    end = encode_blocks(events, len(events), out, 5)
    assert end == 5 + buf.size
    assert bytes(out[5:end]) == bytes(buf)


def test_encode_blocks_reports_the_first_event_it_cannot_write():
    raws = [encode("D", order_reference_number=1), encode("A", shares=5),
            encode("R", stock="X"), encode("D", order_reference_number=2)]
    events, _, _ = _decode(blocks(raws))
    assert encode_blocks(events, 4, np.zeros(256, np.uint8), 0) == -1 - 2


# ------------------------------------------------------------------------ batching


def test_out_full_then_resume():
    raws = [encode(t, **sample_values(t)) for t in TYPES]
    buf = blocks(raws)
    out = np.zeros(5, EVENT_DTYPE)
    got: list[dict] = []
    p = 0
    for _ in range(20):
        count, status, p = decode_batch(buf, p, buf.size, LENGTHS, out, 0, 0)
        got += [event_dict(e) for e in out[:count]]
        if status == OK:
            break
        assert status == OUT_FULL and count == 5
    assert p == buf.size
    assert got == ref_decode(bytes(buf), 0, buf.size, len(raws))[0]


def test_out_start_writes_after_existing_events():
    raws = [encode("D", order_reference_number=i) for i in range(3)]
    out = np.zeros(5, EVENT_DTYPE)
    count, status, _ = decode_batch(blocks(raws), 0, 3 * 21, LENGTHS, out, 2, 0)
    assert (count, status) == (3, OK)
    assert [int(r) for r in out["ref"]] == [0, 0, 0, 1, 2]


def test_count_types_counts_by_type():
    raws = [encode(t, **sample_values(t)) for t in TYPES for _ in range(2)]
    buf = blocks(raws)
    counts = np.zeros(256, np.int64)
    status, offset = count_types(buf, 0, buf.size, counts)
    assert (status, offset) == (OK, buf.size)
    assert {chr(i): int(c) for i, c in enumerate(counts) if c} == dict.fromkeys(TYPES, 2)
