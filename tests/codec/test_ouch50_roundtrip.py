"""OUCH 5.0: round trips of every message type, the compiled encoders and decoder against the
plain-Python view, options, and fuzzing (malformed input is refused with offset and reason)."""

from __future__ import annotations

import random
import re

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tickpath.codec import ouch50, soupbintcp
from tickpath.codec.ouch50.decode import (
    BAD_OPTION,
    LENGTH_MISMATCH,
    OK,
    OPTION_WIDTH,
    TRUNCATED,
    UNKNOWN_TYPE,
    check_message,
    decode_outbound,
)
from tickpath.codec.ouch50.layout import (
    IN_APPENDAGE,
    IN_LENGTHS,
    OPTION_WIDTHS,
    OUT_APPENDAGE,
    OUT_DTYPE,
    OUT_LENGTHS,
    TABLES,
)

CASES = [(d, t) for d, table in TABLES.items() for t in sorted(table)]
ARRAYS = {"inbound": (IN_LENGTHS, IN_APPENDAGE), "outbound": (OUT_LENGTHS, OUT_APPENDAGE)}


def random_values(msg, rng: random.Random) -> dict:
    values = {}
    for f in msg.fields:
        if f.name in ("type", "appendage_length"):
            continue
        if f.kind == "alpha":
            values[f.name] = "".join(rng.choice("ABCXYZ019 ") for _ in range(f.width))
        else:
            values[f.name] = rng.getrandbits(8 * f.width)
    return values


def random_options(rng: random.Random) -> dict:
    out = {}
    for o in rng.sample(list(ouch50.OPTIONS.values()), rng.randint(0, 4)):
        if o.kind == "alpha":
            out[o.name] = "".join(rng.choice("ABLMY ") for _ in range(o.width))
        elif o.kind == "sprice":
            out[o.name] = rng.randint(-(1 << 31), (1 << 31) - 1)
        else:
            out[o.name] = rng.getrandbits(8 * o.width)
    return out


@pytest.mark.parametrize("direction, type_", CASES)
def test_round_trip_every_type(direction, type_):
    rng = random.Random(f"{direction}{type_}")
    msg = TABLES[direction][type_]
    for _ in range(20):
        values = random_values(msg, rng)
        opts = random_options(rng) if msg.appendage != "none" else {}
        raw = ouch50.encode(direction, type_, opts, **values)
        assert len(raw) == msg.length + len(ouch50.encode_options(opts))
        got = ouch50.fields(raw, direction)
        assert got.pop("type") == type_
        if msg.appendage != "none":
            assert got.pop("appendage_length") == len(raw) - msg.length
            assert got.pop("options") == opts
        assert got == values
        lengths, appendage = ARRAYS[direction]
        status, *_ = check_message(np.frombuffer(raw, np.uint8), 0, len(raw), lengths,
                                   appendage, OPTION_WIDTHS)
        assert status == OK


@pytest.mark.parametrize("direction, type_",
                         [(d, t) for d, t in CASES if TABLES[d][t].appendage == "optional"])
def test_optional_appendage_may_be_left_out(direction, type_):
    msg = TABLES[direction][type_]
    values = random_values(msg, random.Random(1))
    raw = ouch50.encode(direction, type_, appendage=False, **values)
    assert len(raw) == msg.length - 2
    got = ouch50.fields(raw, direction)
    assert "appendage_length" not in got and "options" not in got


def test_appendage_required_elsewhere():
    with pytest.raises(ValueError, match="always carries"):
        ouch50.encode("inbound", "O", appendage=False)
    raw = ouch50.encode("inbound", "O")[:-2]
    with pytest.raises(ouch50.OuchError, match="shorter than its fixed part of 47") as e:
        ouch50.fields(raw, "inbound")
    assert e.value.offset == 0


@pytest.mark.parametrize("type_", sorted(TABLES["outbound"]))
def test_compiled_decoder_agrees_with_the_python_view(type_):
    rng = random.Random(type_)
    msg = TABLES["outbound"][type_]
    rec = np.zeros(1, OUT_DTYPE)
    for _ in range(10):
        values = random_values(msg, rng)
        opts = random_options(rng) if msg.appendage != "none" else {}
        if msg.appendage != "none" and rng.random() < 0.3:
            opts["user_ref_idx"] = rng.randint(0, 255)
        raw = b"\xee" * 5 + ouch50.encode("outbound", type_, opts, **values)
        buf = np.frombuffer(raw, np.uint8)
        status, _ = decode_outbound(buf, 5, len(raw), OUT_LENGTHS, OUT_APPENDAGE,
                                    OPTION_WIDTHS, rec[0])
        assert status == OK
        r = rec[0]
        f = ouch50.fields(raw, "outbound", 5)
        assert chr(r["type"]) == type_ and r["timestamp"] == f["timestamp"]
        assert r["length"] == len(raw) - 5
        expect = {  # record field -> message field, where the message has it
            "user_ref_num": "next_user_ref_num" if type_ == "Q" else "user_ref_num",
            "orig_user_ref_num": "orig_user_ref_num",
            "quantity": "decrement_shares" if type_ == "D" else "quantity",
            "price": "execution_price" if type_ == "D" else "price",
            "order_reference_number": "order_reference_number", "match_number": "match_number",
        }
        for rk, mk in expect.items():
            if mk in f:
                assert int(r[rk]) == f[mk], (rk, mk)
        for rk in ("side", "time_in_force", "display", "capacity", "order_state",
                   "liquidity_flag", "event_code"):
            if rk in f:
                assert r[rk] == ord(f[rk]), rk
        if "reason" in f:
            want = f["reason"] if isinstance(f["reason"], int) else ord(f["reason"])
            assert r["reason"] == want
        if "symbol" in f:
            assert r["symbol"] == ouch50.symbol_code(f["symbol"])
        if "cl_ord_id" in f:
            assert bytes(r["cl_ord_id"]) == f["cl_ord_id"].encode()
        assert r["user_ref_idx"] == opts.get("user_ref_idx", -1)
        if msg.appendage != "none":
            assert r["options_at"] == 5 + msg.length
            assert r["options_len"] == f["appendage_length"]


def test_compiled_encoders_agree_with_the_python_encoder():
    buf = np.zeros(128, np.uint8)
    cid = ouch50.cl_ord_id_bytes("ORD-1")
    end = ouch50.encode_enter_order(buf, 7, 42, ord("S"), 300, ouch50.symbol_code("AAPL"),
                                    1_905_000, ord("3"), ord("N"), ord("P"), ord("Y"),
                                    ord("O"), cid)
    assert end == 7 + 47
    end = ouch50.add_int_option(buf, 7 + 45, end, 3, 4, 100)           # min_qty
    end = ouch50.add_int_option(buf, 7 + 45, end, 28, 1, 9)            # user_ref_idx
    want = ouch50.encode("inbound", "O", {"min_qty": 100, "user_ref_idx": 9},
                         user_ref_num=42, side="S", quantity=300, symbol="AAPL",
                         price=1_905_000, time_in_force="3", display="N", capacity="P",
                         intermarket_sweep_eligibility="Y", cross_type="O", cl_ord_id="ORD-1")
    assert bytes(buf[7:end]) == want
    end = ouch50.encode_replace_order(buf, 0, 42, 43, 200, 1_904_900, ord("0"), ord("Y"),
                                      ord("N"), cid)
    assert bytes(buf[:end]) == ouch50.encode(
        "inbound", "U", orig_user_ref_num=42, user_ref_num=43, quantity=200, price=1_904_900,
        time_in_force="0", display="Y", intermarket_sweep_eligibility="N", cl_ord_id="ORD-1")
    end = ouch50.encode_cancel_order(buf, 0, 43, 0)
    assert bytes(buf[:end]) == ouch50.encode("inbound", "X", user_ref_num=43, quantity=0)


def test_options_unknown_tags_are_skipped_by_length():
    raw = ouch50.encode("outbound", "E", user_ref_num=1)[:-2]
    app = bytes([3, 99, 0xAB, 0xCD]) + ouch50.encode_options({"user_ref_idx": 4})
    raw = raw + len(app).to_bytes(2, "big") + app
    f = ouch50.fields(raw, "outbound")
    assert f["options"] == {"tag_99": b"\xab\xcd", "user_ref_idx": 4}
    status, *_rest, idx = check_message(np.frombuffer(raw, np.uint8), 0, len(raw), OUT_LENGTHS,
                                        OUT_APPENDAGE, OPTION_WIDTHS)
    assert status == OK and idx == 4


@pytest.mark.parametrize("mutate, status, reason, where", [
    (lambda r: r[:20], TRUNCATED, "shorter than its fixed part", 0),
    (lambda r: b"!" + r[1:], UNKNOWN_TYPE, "unknown OUCH 5.0 outbound message type '!'", 0),
    (lambda r: r[:34] + b"\x00\x09" + r[36:], LENGTH_MISMATCH, "Appendage Length says 9", 34),
    (lambda r: r[:36] + b"\x00" + r[37:], BAD_OPTION, "length 0", 36),
    (lambda r: r[:36] + b"\x09" + r[37:], BAD_OPTION, "runs 4 bytes past", 36),
    (lambda r: r[:36] + b"\x03\x02AB", OPTION_WIDTH, "firm (tag 2) has a 2-byte value", 36),
])
def test_malformed_messages_name_offset_and_reason(mutate, status, reason, where):
    good = ouch50.encode("outbound", "E", {"firm": "LIME"}, user_ref_num=5, quantity=1)
    bad = mutate(good)
    if status == OPTION_WIDTH:  # keep the Appendage Length consistent with the new option
        bad = bad[:34] + (len(bad) - 36).to_bytes(2, "big") + bad[36:]
    got, off, *_ = check_message(np.frombuffer(bad, np.uint8), 0, len(bad), OUT_LENGTHS,
                                 OUT_APPENDAGE, OPTION_WIDTHS)
    assert got == status and off == where
    with pytest.raises(ouch50.OuchError, match=re.escape(reason)) as e:
        ouch50.fields(bad, "outbound")
    assert e.value.offset == where and str(where) in str(e.value)


def test_stream_error_names_the_stream_offset():
    dec = ouch50.OutboundDecoder()
    good = soupbintcp.sequenced(ouch50.encode("outbound", "P", user_ref_num=3))
    assert len(dec.feed(good)) == 1
    bad = soupbintcp.sequenced(ouch50.encode("outbound", "P", user_ref_num=3)[:-1])
    with pytest.raises(ouch50.OuchError, match=f"offset {len(good) + 3}: message shorter"):
        dec.feed(bad)
    with pytest.raises(ouch50.OuchError, match="offset 0: malformed SoupBinTCP packet"):
        ouch50.OutboundDecoder().feed(b"\x00\x05H....")


# ------------------------------------------------------------------ fuzz


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(direction=st.sampled_from(["inbound", "outbound"]), data=st.binary(max_size=120))
def test_fuzz_python_view_refuses_or_decodes(direction, data):
    """Any bytes: either a dict, or an OuchError inside the input naming offset and reason."""
    lengths, appendage = ARRAYS[direction]
    status, off, *_ = check_message(np.frombuffer(data, np.uint8), 0, len(data), lengths,
                                    appendage, OPTION_WIDTHS)
    try:
        ouch50.fields(data, direction)
    except ouch50.OuchError as e:
        assert 0 <= e.offset <= len(data) and e.reason
        assert status != OK and off == e.offset  # kernel and Python agree on where
    else:
        assert status == OK


@settings(max_examples=200, deadline=None)
@given(type_=st.sampled_from(sorted(TABLES["outbound"])), cut=st.integers(0, 80),
       flip=st.integers(0, 255), pos=st.integers(0, 80))
def test_fuzz_mutated_messages(type_, cut, flip, pos):
    raw = bytearray(ouch50.encode("outbound", type_, {"firm": "ABCD"}
                                  if TABLES["outbound"][type_].appendage != "none" else {}))
    if pos < len(raw):
        raw[pos] ^= flip
    raw = bytes(raw[:max(cut, 1)]) if cut < len(raw) else bytes(raw)
    rec = np.zeros(1, OUT_DTYPE)
    status, off = decode_outbound(np.frombuffer(raw, np.uint8), 0, len(raw), OUT_LENGTHS,
                                  OUT_APPENDAGE, OPTION_WIDTHS, rec[0])
    try:
        ouch50.fields(raw, "outbound")
    except ouch50.OuchError as e:
        assert status != OK and off == e.offset
    else:
        assert status == OK


@settings(max_examples=100, deadline=None)
@given(st.lists(st.binary(max_size=60), max_size=8), st.integers(1, 50))
def test_fuzz_stream_in_pieces(chunks, step):
    """A stream of random packets fed in pieces: records, or an OuchError with an offset
    inside what was fed; never a crash or a read past the input."""
    stream = b"".join(soupbintcp.sequenced(c) if c else soupbintcp.encode_packet("H")
                      for c in chunks)
    dec = ouch50.OutboundDecoder(max_records=2)
    try:
        for i in range(0, len(stream), step):
            dec.feed(stream[i:i + step])
    except ouch50.OuchError as e:
        assert 0 <= e.offset < len(stream) and e.reason


def test_stream_error_hands_over_the_good_records_and_can_skip_the_bad_packet():
    """Records decoded before a bad packet come with the error, are counted once, and after
    skip() the decoder goes on with the packets behind it."""
    msg = [soupbintcp.sequenced(ouch50.encode("outbound", "P", user_ref_num=k)) for k in (1, 2)]
    bad = soupbintcp.sequenced(ouch50.encode("outbound", "P", user_ref_num=3)[:-1])
    after = soupbintcp.sequenced(ouch50.encode("outbound", "P", user_ref_num=4))
    hb = soupbintcp.encode_packet("H")
    dec = ouch50.OutboundDecoder(max_records=1)  # OUT_FULL on the way: records of two batches
    with pytest.raises(ouch50.OuchError) as e:
        dec.feed(msg[0] + hb + msg[1] + bad + after)
    start = len(msg[0] + hb + msg[1])
    assert list(e.value.records["user_ref_num"]) == [1, 2]
    assert e.value.packet_offset == start and e.value.offset == start + 3
    assert dec.counts[ord("S")] == 2 and dec.counts[ord("H")] == 1
    # feeding again: the same fault, nothing decoded or counted twice
    with pytest.raises(ouch50.OuchError) as again:
        dec.feed(b"")
    assert again.value.offset == e.value.offset and len(again.value.records) == 0
    assert dec.counts[ord("S")] == 2
    assert dec.skip() == len(bad) and dec.skipped == 1
    got = dec.feed(b"")
    assert list(got["user_ref_num"]) == [4] and dec.counts[ord("S")] == 3
    with pytest.raises(RuntimeError, match="no bad packet"):
        dec.skip()
    # a malformed packet: same hand-over, and the hint says the framing is suspect
    dec2 = ouch50.OutboundDecoder()
    with pytest.raises(ouch50.OuchError, match="restart the session") as e2:
        dec2.feed(msg[0] + b"\x00\x05H....")
    assert list(e2.value.records["user_ref_num"]) == [1]
    assert e2.value.packet_offset == e2.value.offset == len(msg[0])
