"""MoldUDP64 1.0 header and message-block layout against the specification.

Hand-transcribed from the "Downstream Packet Header" and "Downstream Packet Message Block"
tables of the MoldUDP64 Protocol Specification V1.00 (2009-07-07), and read again from the
official PDF with ``pdftotext -layout`` at test time (skipped when absent).
"""

from __future__ import annotations

import re
import subprocess

import pytest

from tickpath.feed.moldudp64 import layout

# (field, offset, length, value type) as the spec's header table states them
SPEC_HEADER = (("Session", 0, 10, "ANUM"), ("Sequence Number", 10, 8, "NUM"),
               ("Message Count", 18, 2, "NUM"))
SPEC_BLOCK_LENGTH_FIELD = 2  # "Message Length * 2 NUM"
SPEC_HEARTBEAT_COUNT = 0
SPEC_END_OF_SESSION_COUNT = 0xFFFF


def test_header_offsets_against_transcription():
    assert (layout.SESSION_OFFSET, layout.SESSION_LEN) == SPEC_HEADER[0][1:3]
    assert layout.SEQUENCE_OFFSET == SPEC_HEADER[1][1]
    assert layout.COUNT_OFFSET == SPEC_HEADER[2][1]
    assert layout.HEADER_LEN == sum(length for _, _, length, _ in SPEC_HEADER) == 20
    assert layout.BLOCK_HEADER_LEN == SPEC_BLOCK_LENGTH_FIELD
    assert layout.END_OF_SESSION == SPEC_END_OF_SESSION_COUNT


def test_default_payload_fits_an_ethernet_mtu():
    assert layout.DEFAULT_MAX_PAYLOAD + 20 + 8 <= 1500


def test_counter_enum_is_dense():
    assert [int(c) for c in layout.Counter] == list(range(len(layout.Counter)))
    assert layout.N_COUNTERS == len(layout.Counter)


_ROW = re.compile(r"^\s*(?P<name>[A-Za-z][A-Za-z ]*?)?\s+(?P<off>\d+|\*)\s+(?P<len>\d+|\*)\s+"
                  r"(?P<val>ANUM|NUM)\b")


@pytest.fixture(scope="module")
def spec_text(shared_data, pdftotext):
    pdf = shared_data / "specs" / "moldudp64.pdf"
    if not pdf.is_file():
        pytest.skip(f"specification PDF {pdf} is absent")
    return subprocess.run([pdftotext, "-layout", str(pdf), "-"], capture_output=True,
                          text=True, check=True).stdout


def _rows(text: str, title: str) -> list[tuple[str, str, str]]:
    """(offset, length, value) rows of the table following ``title``, up to the next title."""
    section = text.split(title, 1)[1]
    rows = []
    for line in section.splitlines():
        if rows and not line.strip():
            continue
        m = _ROW.match(line)
        if m:
            rows.append((m["off"], m["len"], m["val"]))
        elif rows and re.match(r"^\S", line):  # prose again: the table has ended
            break
    return rows


def test_header_against_the_pdf(spec_text):
    rows = _rows(spec_text, "Downstream Packet Header")
    assert rows == [(str(off), str(length), val) for _, off, length, val in SPEC_HEADER]
    assert rows[0][:2] == (str(layout.SESSION_OFFSET), str(layout.SESSION_LEN))
    assert int(rows[1][0]) == layout.SEQUENCE_OFFSET and int(rows[1][1]) == 8
    assert int(rows[2][0]) == layout.COUNT_OFFSET and int(rows[2][1]) == 2
    assert int(rows[2][0]) + int(rows[2][1]) == layout.HEADER_LEN


def test_message_block_against_the_pdf(spec_text):
    rows = _rows(spec_text, "Downstream Packet Message Block")
    assert rows[0] == ("*", str(layout.BLOCK_HEADER_LEN), "NUM")  # Message Length
    assert rows[1] == ("*", "*", "ANUM")  # Message Data
    assert "20 bytes from the" in spec_text  # first block starts right after the header


def test_heartbeat_and_end_of_session_counts_in_the_pdf(spec_text):
    flat = " ".join(spec_text.split())
    assert "Message Count of zero denotes a heartbeat" in flat
    assert "Message Count of 0xFFFF" in flat and "denotes end of session" in flat
    assert int("0xFFFF", 16) == layout.END_OF_SESSION
