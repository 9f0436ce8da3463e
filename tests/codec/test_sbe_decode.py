"""The interpretive SBE decoder and encoder (tickpath.codec.sbe.decode) on the small schema
written in sbe_cases: round trips, SBE's version rules, every refusal with its offset, and
fuzzing (random bytes, mutations and truncations never raise anything but SbeError)."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sbe_cases import toy_module, toy_schema

from tickpath.codec.sbe.decode import (
    Decimal,
    ForeignSchema,
    SbeError,
    UnknownTemplate,
    decode_header,
    decode_message,
    encode_message,
    to_float,
)


@pytest.fixture(scope="module")
def schema(tmp_path_factory):
    return toy_schema(tmp_path_factory.mktemp("dec"))


BOOK = {
    "TransactTime": 1_700_000_000_123_456_789,
    "Flags": ["LastTrade", "EndOfEvent"],
    "NoMDEntries": [
        {"MDEntryPx": Decimal(4_500_250_000_000, -9), "MDEntrySize": 7, "SecurityID": 42,
         "EntryType": "Offer", "Side": "Buy", "Reset": "J", "TradeableSize": 3},
        {"MDEntryPx": None, "MDEntrySize": None, "SecurityID": -1, "EntryType": "BookReset",
         "Side": None, "Reset": "J", "TradeableSize": None},
    ],
    "NoOrderIDEntries": [{"OrderID": (1 << 64) - 1, "Qty": -5}],
}

DEFINITION = {
    "Symbol": "ESZ4", "Price": Decimal(-12, -9),
    "Maturity": {"year": 2024, "month": None}, "EntryKind": "Offer", "Ratio": 0.5,
    "Extra": 9,
    "NoLegs": [{"LegID": 1, "NoLegFills": [{"FillQty": -2}, {"FillQty": 3}]},
               {"LegID": 2, "NoLegFills": []}],
    "Text": "hello",
}


def _strip(msg: dict) -> dict:
    return {k: v for k, v in msg.items() if k not in ("template", "header")}


def test_round_trip(schema):
    raw = encode_message(schema, 46, BOOK)
    msg, size = decode_message(schema, raw)
    assert size == len(raw) == 8 + 11 + 3 + 2 * 24 + 8 + 16
    assert msg["template"] == "Book46"
    assert msg["header"] == {"blockLength": 11, "templateId": 46, "schemaId": 91, "version": 3}
    assert _strip(msg) == BOOK
    assert msg["NoMDEntries"][0]["MDEntryPx"].to_decimal() == __import__("decimal").Decimal(
        "4500.25")
    assert to_float(msg["NoMDEntries"][0]["MDEntryPx"]) == 4500.25
    raw = encode_message(schema, "Definition7", DEFINITION)
    msg, size = decode_message(schema, np.frombuffer(b"\x00" * 5 + raw, np.uint8), 5)
    assert size == len(raw)
    assert _strip(msg) == DEFINITION
    msg, _ = decode_message(schema, encode_message(schema, 12, {}))
    assert _strip(msg) == {}


def test_module_schema_is_the_same(schema, tmp_path):
    mod = toy_module(tmp_path, "toy_for_decode")
    raw = encode_message(mod, 46, BOOK)
    assert raw == encode_message(schema, 46, BOOK)
    assert decode_message(mod, raw) == decode_message(schema, raw)
    assert decode_message(mod.SCHEMA, raw) == decode_message(schema, raw)


def test_compiled_accessors_read_what_the_encoder_wrote(schema, tmp_path):
    mod = toy_module(tmp_path, "toy_for_accessors")
    buf = np.frombuffer(encode_message(schema, 46, BOOK), np.uint8)
    root = mod.HEADER_SIZE
    assert mod.header_template_id(buf, 0) == 46
    assert mod.book46_transact_time(buf, root) == BOOK["TransactTime"]
    g = root + mod.header_block_length(buf, 0)
    block, n = mod.book46_no_md_entries(buf, g)
    assert (block, n) == (24, 2)
    e = g + mod.BOOK46_NO_MD_ENTRIES_HEADER_SIZE
    assert mod.book46_no_md_entries_md_entry_px(buf, e) == 4_500_250_000_000
    assert mod.book46_no_md_entries_md_entry_px(buf, e + block) == \
        mod.BOOK46_NO_MD_ENTRIES_MD_ENTRY_PX_NULL
    assert mod.book46_no_md_entries_entry_type(buf, e + block) == mod.ENTRY_TYPE_BOOK_RESET
    assert mod.book46_no_md_entries_tradeable_size(buf, e, 3) == 3


def test_versions(schema):
    """An older decoder skips what a newer sender appended; a field newer than the sender's
    version reads as absent; an older sender's shorter block is accepted if its fields fit."""
    newer = encode_message(schema, 7, DEFINITION, version=4, block_length=48)
    msg, size = decode_message(schema, newer)
    assert size == len(newer) and _strip(msg) == DEFINITION
    older = encode_message(schema, 7, DEFINITION, version=2, block_length=28)
    msg, _ = decode_message(schema, older)
    assert msg["Extra"] is None and msg["Symbol"] == "ESZ4" and msg["Text"] == "hello"
    # version 2's fields end at 28: a block of 27 is too small for them
    with pytest.raises(SbeError, match="blockLength 27 is smaller than the 28 bytes") as e:
        decode_message(schema, encode_message(schema, 7, DEFINITION, version=2, block_length=27))
    assert e.value.offset == 0
    # a group field with a sinceVersion above the message's version
    msg, _ = decode_message(schema, encode_message(schema, 46, BOOK, version=2))
    assert [x["TradeableSize"] for x in msg["NoMDEntries"]] == [None, None]
    with pytest.raises(SbeError, match="version 2, the schema's is 3"):
        decode_message(schema, encode_message(schema, 46, BOOK, version=2), exact_version=True)


def test_refusals_name_the_offset(schema):
    raw = encode_message(schema, 46, BOOK)
    with pytest.raises(SbeError, match=r"truncated message header: 8 bytes needed, 5 left"):
        decode_message(schema, raw[:5])
    with pytest.raises(SbeError, match="the root block of Book46 needs 11 bytes, 3 left") as e:
        decode_message(schema, raw[:11])
    assert e.value.offset == 8
    with pytest.raises(SbeError, match="blockLength 10 is smaller than the 11 bytes") as e:
        decode_message(schema, b"\x0a" + raw[1:])
    assert e.value.offset == 0
    # numInGroup past the buffer: 200 entries of 24 bytes
    bad = bytearray(raw)
    bad[8 + 11 + 2] = 200
    with pytest.raises(SbeError, match=r"numInGroup 200 entries of 24 bytes run past the end "
                                       r"of the buffer") as e:
        decode_message(schema, bytes(bad))
    assert e.value.offset == 8 + 11 + 3
    bad = bytearray(raw)
    bad[8 + 11] = 10  # entry blockLength 10: the group's fields at version 3 need 22
    with pytest.raises(SbeError, match="group NoMDEntries: entry blockLength 10 is smaller"):
        decode_message(schema, bytes(bad))
    with pytest.raises(SbeError, match="NoOrderIDEntries: numInGroup 1 entries of 16 bytes "
                                       r"run past the end of the buffer \(15 bytes left\)"):
        decode_message(schema, raw[:-1])
    with pytest.raises(UnknownTemplate, match="unknown template id 99") as e:
        decode_message(schema, raw[:2] + (99).to_bytes(2, "little") + raw[4:])
    assert e.value.template_id == 99 and isinstance(e.value, SbeError)
    with pytest.raises(ForeignSchema, match="schema id 2 .template 46., the decoder's schema is "
                                            "91") as e:
        decode_message(schema, raw[:4] + (2).to_bytes(2, "little") + raw[6:], 0)
    assert isinstance(e.value, SbeError)
    assert decode_header(schema, raw)["schemaId"] == 91


def test_encoder_refusals(schema):
    with pytest.raises(ValueError, match=r"Book46.TransactTime is required"):
        encode_message(schema, 46, {"Flags": []})
    with pytest.raises(ValueError, match=r"has no field\(s\) \['Nope'\]"):
        encode_message(schema, 46, {**BOOK, "Nope": 1})
    with pytest.raises(ValueError, match="is not a value of enum EntryType"):
        encode_message(schema, 46, {**BOOK, "NoMDEntries": [{**BOOK["NoMDEntries"][0],
                                                              "EntryType": "Sideways"}]})
    with pytest.raises(ValueError, match="does not fit int32"):
        encode_message(schema, 46, {**BOOK, "NoOrderIDEntries": [{"OrderID": 1,
                                                                  "Qty": 1 << 40}]})
    with pytest.raises(ValueError, match="exponent -2, the type's is -9"):
        encode_message(schema, 7, {**DEFINITION, "Price": Decimal(1, -2)})
    with pytest.raises(ValueError, match="longer than 8 chars"):
        encode_message(schema, 7, {**DEFINITION, "Symbol": "TOO LONG!"})


# ------------------------------------------------------------------------------------- fuzz


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.binary(max_size=200))
def test_random_bytes_raise_only_sbe_error(schema, data):
    try:
        msg, size = decode_message(schema, data)
    except SbeError:
        return
    assert 0 < size <= len(data)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from([46, 7]), st.data())
def test_mutated_and_truncated_messages_raise_only_sbe_error(schema, template, data):
    raw = bytearray(encode_message(schema, template, BOOK if template == 46 else DEFINITION))
    for _ in range(data.draw(st.integers(0, 4))):
        raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(raw)))
    try:
        _, size = decode_message(schema, bytes(raw[:cut]))
    except SbeError as e:
        assert 0 <= e.offset <= len(raw)
        return
    assert size <= cut
