"""Every ITCH 5.0 message layout against the specification's tables.

Two independent sources: a table transcribed by hand from the specification (Nasdaq
TotalView-ITCH 5.0, revision of 2026-02-19, section 1), and the same tables read from the
official PDF at test time with ``pdftotext -layout`` (skipped when the PDF or the tool is
absent). Fields are compared by position: offset, width and kind, plus the name.
"""

from __future__ import annotations

import re
import subprocess

import numpy as np
import pytest

from tickpath.codec.itch50.layout import EVENT_DTYPE, EVENT_MAP, LENGTHS, MESSAGES, wire_dtype

SPEC_PDFS = (
    "specs/Nasdaq.NsmEquities.TotalView.Itch.v5.0.20260219.pdf",
    "specs/NQTVITCHspecification.pdf",
)

# kind per spec "Value" column: Integer -> int (the 6-byte Timestamp -> ts), Alpha -> alpha,
# Price (4) -> price4, Price (8) -> price8; the Message Type byte is alpha.
_HEADER = (
    ("Message Type", 0, 1, "alpha"),
    ("Stock Locate", 1, 2, "int"),
    ("Tracking Number", 3, 2, "int"),
    ("Timestamp", 5, 6, "ts"),
)

# type -> (total length, body fields (spec name, offset, length, kind)); transcribed by hand.
SPEC: dict[str, tuple[int, tuple[tuple[str, int, int, str], ...]]] = {
    "S": (12, (("Event Code", 11, 1, "alpha"),)),
    "R": (39, (
        ("Stock", 11, 8, "alpha"), ("Market Category", 19, 1, "alpha"),
        ("Financial Status Indicator", 20, 1, "alpha"), ("Round Lot Size", 21, 4, "int"),
        ("Round Lots Only", 25, 1, "alpha"), ("Issue Classification", 26, 1, "alpha"),
        ("Issue Sub-Type", 27, 2, "alpha"), ("Authenticity", 29, 1, "alpha"),
        ("Short Sale Threshold Indicator", 30, 1, "alpha"), ("IPO Flag", 31, 1, "alpha"),
        ("LULD Reference Price Tier", 32, 1, "alpha"), ("ETP Flag", 33, 1, "alpha"),
        ("ETP Leverage Factor", 34, 4, "int"), ("Inverse Indicator", 38, 1, "alpha"),
    )),
    "H": (25, (
        ("Stock", 11, 8, "alpha"), ("Trading State", 19, 1, "alpha"),
        ("Reserved", 20, 1, "alpha"), ("Reason", 21, 4, "alpha"),
    )),
    "Y": (20, (("Stock", 11, 8, "alpha"), ("Reg SHO Action", 19, 1, "alpha"))),
    "L": (26, (
        ("MPID", 11, 4, "alpha"), ("Stock", 15, 8, "alpha"),
        ("Primary Market Maker", 23, 1, "alpha"), ("Market Maker Mode", 24, 1, "alpha"),
        ("Market Participant State", 25, 1, "alpha"),
    )),
    "V": (35, (
        ("Level 1", 11, 8, "price8"), ("Level 2", 19, 8, "price8"), ("Level 3", 27, 8, "price8"),
    )),
    "W": (12, (("Breached Level", 11, 1, "alpha"),)),
    "K": (28, (
        ("Stock", 11, 8, "alpha"), ("IPO Quotation Release Time", 19, 4, "int"),
        ("IPO Quotation Release Qualifier", 23, 1, "alpha"), ("IPO Price", 24, 4, "price4"),
    )),
    "J": (35, (
        ("Stock", 11, 8, "alpha"), ("Auction Collar Reference Price", 19, 4, "price4"),
        ("Upper Auction Collar Price", 23, 4, "price4"),
        ("Lower Auction Collar Price", 27, 4, "price4"),
        ("Auction Collar Extension", 31, 4, "int"),
    )),
    "h": (21, (
        ("Stock", 11, 8, "alpha"), ("Market Code", 19, 1, "alpha"),
        ("Operational Halt Action", 20, 1, "alpha"),
    )),
    "A": (36, (
        ("Order Reference Number", 11, 8, "int"), ("Buy/Sell Indicator", 19, 1, "alpha"),
        ("Shares", 20, 4, "int"), ("Stock", 24, 8, "alpha"), ("Price", 32, 4, "price4"),
    )),
    "F": (40, (
        ("Order Reference Number", 11, 8, "int"), ("Buy/Sell Indicator", 19, 1, "alpha"),
        ("Shares", 20, 4, "int"), ("Stock", 24, 8, "alpha"), ("Price", 32, 4, "price4"),
        ("Attribution", 36, 4, "alpha"),
    )),
    "E": (31, (
        ("Order Reference Number", 11, 8, "int"), ("Executed Shares", 19, 4, "int"),
        ("Match Number", 23, 8, "int"),
    )),
    "C": (36, (
        ("Order Reference Number", 11, 8, "int"), ("Executed Shares", 19, 4, "int"),
        ("Match Number", 23, 8, "int"), ("Printable", 31, 1, "alpha"),
        ("Execution Price", 32, 4, "price4"),
    )),
    "X": (23, (("Order Reference Number", 11, 8, "int"), ("Cancelled Shares", 19, 4, "int"))),
    "D": (19, (("Order Reference Number", 11, 8, "int"),)),
    "U": (35, (
        ("Original Order Reference Number", 11, 8, "int"),
        ("New Order Reference Number", 19, 8, "int"), ("Shares", 27, 4, "int"),
        ("Price", 31, 4, "price4"),
    )),
    "P": (44, (
        ("Order Reference Number", 11, 8, "int"), ("Buy/Sell Indicator", 19, 1, "alpha"),
        ("Shares", 20, 4, "int"), ("Stock", 24, 8, "alpha"), ("Price", 32, 4, "price4"),
        ("Match Number", 36, 8, "int"),
    )),
    "Q": (40, (
        ("Shares", 11, 8, "int"), ("Stock", 19, 8, "alpha"), ("Cross Price", 27, 4, "price4"),
        ("Match Number", 31, 8, "int"), ("Cross Type", 39, 1, "alpha"),
    )),
    "B": (19, (("Match Number", 11, 8, "int"),)),
    "I": (50, (
        ("Paired Shares", 11, 8, "int"), ("Imbalance Shares", 19, 8, "int"),
        ("Imbalance Direction", 27, 1, "alpha"), ("Stock", 28, 8, "alpha"),
        ("Far Price", 36, 4, "price4"), ("Near Price", 40, 4, "price4"),
        ("Current Reference Price", 44, 4, "price4"), ("Cross Type", 48, 1, "alpha"),
        ("Price Variation Indicator", 49, 1, "alpha"),
    )),
    "N": (20, (("Stock", 11, 8, "alpha"), ("Interest Flag", 19, 1, "alpha"))),
    "O": (48, (
        ("Stock", 11, 8, "alpha"), ("Open Eligibility Status", 19, 1, "alpha"),
        ("Minimum Allowable Price", 20, 4, "price4"),
        ("Maximum Allowable Price", 24, 4, "price4"),
        ("Near Execution Price", 28, 4, "price4"), ("Near Execution Time", 32, 8, "int"),
        ("Lower Price Range Collar", 40, 4, "price4"),
        ("Upper Price Range Collar", 44, 4, "price4"),
    )),
}

# Where our snake_case name is not the spec's name spelled in snake_case.
NAME_ALIASES = {
    "Buy/Sell Indicator": "buy_sell_indicator",
    "Issue Sub-Type": "issue_sub_type",
    "Level 1": "level1",
    "Level 2": "level2",
    "Level 3": "level3",
    "MPID": "mpid",
}


def _snake(spec_name: str) -> str:
    return NAME_ALIASES.get(spec_name) or re.sub(r"[^a-z0-9]+", "_", spec_name.lower()).strip("_")


def _spec_rows(type_: str) -> list[tuple[str, int, int, str]]:
    return list(_HEADER) + list(SPEC[type_][1])


def test_every_specified_type_is_in_the_table_and_no_other():
    assert set(MESSAGES) == set(SPEC)
    assert len(SPEC) == 23


@pytest.mark.parametrize("type_", sorted(SPEC))
def test_offsets_widths_kinds_and_length(type_):
    msg = MESSAGES[type_]
    length, _ = SPEC[type_]
    assert msg.type == type_
    assert msg.length == length
    got = [(f.offset, f.width, f.kind) for f in msg.fields]
    want = [(off, width, kind) for _, off, width, kind in _spec_rows(type_)]
    assert got == want


@pytest.mark.parametrize("type_", sorted(SPEC))
def test_field_names_follow_the_spec(type_):
    got = [f.name for f in MESSAGES[type_].fields]
    want = [_snake(name) for name, *_ in _spec_rows(type_)]
    assert got == want


@pytest.mark.parametrize("type_", sorted(SPEC))
def test_spec_transcription_is_contiguous(type_):
    # a check of the hand transcription itself: fields tile the message with no gap
    rows = _spec_rows(type_)
    for (_, off, width, _), (_, nxt, _, _) in zip(rows, rows[1:], strict=False):
        assert off + width == nxt
    assert rows[-1][1] + rows[-1][2] == SPEC[type_][0]


def test_lengths_table():
    want = np.zeros(256, np.uint16)
    for t, (length, _) in SPEC.items():
        want[ord(t)] = length
    assert LENGTHS.dtype == np.uint16 and LENGTHS.shape == (256,)
    np.testing.assert_array_equal(LENGTHS, want)


@pytest.mark.parametrize("type_", sorted(SPEC))
def test_wire_dtype_lies_over_the_message(type_):
    msg = MESSAGES[type_]
    dt = wire_dtype(msg)
    assert dt.itemsize == msg.length
    for name, off, width, kind in _spec_rows(type_):
        fdt, foff = dt.fields[_snake(name)][:2]
        assert foff == off
        assert fdt.itemsize == width
        if kind in ("int", "price4", "price8"):
            assert fdt.kind == "u" and fdt.byteorder in (">", "|")


def test_event_map_names_real_fields():
    assert set(EVENT_MAP) == set(MESSAGES)
    for t, mapping in EVENT_MAP.items():
        for ev_field, msg_field in mapping.items():
            assert ev_field in EVENT_DTYPE.names, (t, ev_field)
            f = MESSAGES[t].field(msg_field)
            # the event field must be wide enough for the message field
            assert EVENT_DTYPE[ev_field].itemsize >= f.width, (t, ev_field, msg_field)


# ------------------------------------------------------------------ the PDF, read at test time

_ROW = re.compile(
    r"^\s*(?P<name>\S.*?)?\s+(?P<off>\d{1,2})\s+(?P<len>\d{1,2})\s+"
    r"(?P<val>Integer|Alpha|Price\s*\(\s*[48]\s*\)|[“\"].[”\"])"
)


def _kind(value: str, offset: int, width: int) -> str:
    value = re.sub(r"\s", "", value)
    if value[0] in "“\"":
        return "alpha"  # the Message Type byte
    if value == "Integer":
        return "ts" if (offset, width) == (5, 6) else "int"
    if value == "Alpha":
        return "alpha"
    return {"Price(4)": "price4", "Price(8)": "price8"}[value]


def pdf_tables(text: str) -> dict[str, list[tuple[int, int, str]]]:
    """type -> [(offset, length, kind)] from the spec's text. A table starts at its
    ``Message Type 0 1 "X"`` row; names split over lines do not matter, only the numbers."""
    tables: dict[str, list[tuple[int, int, str]]] = {}
    current: list[tuple[int, int, str]] | None = None
    for line in text.splitlines():
        m = _ROW.match(line)
        if not m:
            continue
        off, width, value = int(m["off"]), int(m["len"]), m["val"]
        if (off, width) == (0, 1) and value[0] in "“\"":
            if value[1] in tables:
                pytest.fail(f"two tables for message type {value[1]!r} in the specification")
            current = tables[value[1]] = []
        if current is not None:
            current.append((off, width, _kind(value, off, width)))
    return tables


@pytest.fixture(scope="module", params=SPEC_PDFS, ids=["2026-02-19", "older-copy"])
def spec_tables(request, shared_data, pdftotext):
    pdf = shared_data / request.param
    if not pdf.is_file():
        pytest.skip(f"specification PDF {pdf} is absent")
    text = subprocess.run([pdftotext, "-layout", str(pdf), "-"], capture_output=True,
                          text=True, check=True).stdout
    return pdf_tables(text)


def test_pdf_has_every_type_we_know(spec_tables):
    # the older copy may predate the DLCR 'O' message; every type it has must be ours
    assert set(spec_tables) <= set(MESSAGES)
    assert set(MESSAGES) - set(spec_tables) <= {"O"}


@pytest.mark.parametrize("type_", sorted(SPEC))
def test_layout_against_the_pdf(spec_tables, type_):
    if type_ not in spec_tables:
        pytest.skip(f"message {type_!r} is not in this revision of the specification")
    rows = spec_tables[type_]
    msg = MESSAGES[type_]
    assert rows == [(f.offset, f.width, f.kind) for f in msg.fields]
    assert rows[-1][0] + rows[-1][1] == msg.length
    for (off, width, _), (nxt, _, _) in zip(rows, rows[1:], strict=False):
        assert off + width == nxt, f"{type_}: the PDF's fields at {off} and {nxt} do not tile"


@pytest.mark.parametrize("type_", sorted(SPEC))
def test_hand_transcription_against_the_pdf(spec_tables, type_):
    if type_ not in spec_tables:
        pytest.skip(f"message {type_!r} is not in this revision of the specification")
    assert spec_tables[type_] == [(off, w, k) for _, off, w, k in _spec_rows(type_)]
