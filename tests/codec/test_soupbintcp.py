"""SoupBinTCP framing: every packet type round trips, a stream is cut into packets across
arbitrary reads, and malformed packets are refused with their offset and reason."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tickpath.codec import soupbintcp as soup
from tickpath.codec.soupbintcp.framing import put_header


def session_bytes() -> tuple[bytes, list[str]]:
    pkts = [soup.login_request("alice", "secret", "", 1), soup.login_accepted("S1", 42),
            soup.sequenced(b"\x01\x02"), soup.encode_packet("H"), soup.unsequenced(b"xyz"),
            soup.encode_packet("R"), soup.encode_packet("+", b"hello"),
            soup.login_rejected("S"), soup.encode_packet("Z"), soup.encode_packet("O")]
    return b"".join(pkts), list("LASHUR+JZO")


def test_every_packet_type_round_trips():
    data, types = session_bytes()
    got = soup.packets(data)
    assert [p.type for p in got] == types
    f = [soup.decode_packet(p) for p in got]
    assert f[0] == {"packet_type": "L", "name": "login_request", "username": "alice",
                    "password": "secret", "requested_session": "",
                    "requested_sequence_number": 1}
    assert f[1]["session"] == "S1" and f[1]["sequence_number"] == 42
    assert f[2]["message"] == b"\x01\x02" and f[4]["message"] == b"xyz"
    assert f[6]["text"] == "hello" and f[7]["reject_reason_code"] == "S"
    assert got[1].offset == 49 and got[1].name == "login_accepted"


@settings(max_examples=60, deadline=None)
@given(st.lists(st.integers(1, 40), min_size=1, max_size=30))
def test_framer_across_arbitrary_reads(cuts):
    data, types = session_bytes()
    f = soup.SoupFramer(max_packets=2)  # small: exercises the OUT_FULL resume too
    got, p = [], 0
    for c in cuts * 10:
        got += f.feed(data[p:p + c])
        p += c
        if p >= len(data):
            break
    got += f.feed(data[p:])
    assert [g.type for g in got] == types and f.pending == 0
    assert [g.offset for g in got] == [g.offset for g in soup.packets(data)]


def test_put_header_matches_encode_packet():
    buf = np.zeros(16, np.uint8)
    at = put_header(buf, 2, ord("U"), 5)
    buf[at:at + 5] = np.frombuffer(b"hello", np.uint8)
    assert bytes(buf[2:at + 5]) == soup.unsequenced(b"hello")


@pytest.mark.parametrize("data, offset, reason", [
    (b"\x00\x01H\x00\x00", 3, "packet length 0"),
    (b"\x00\x01H\x00\x02Q!", 3, "unknown SoupBinTCP packet type (type 'Q'"),
    (b"\x00\x02Hx", 0, "server_heartbeat has a length of 1"),
    (b"\x00\x05S12", 0, "truncated packet: 5 bytes"),
])
def test_malformed_streams_name_offset_and_reason(data, offset, reason):
    with pytest.raises(soup.SoupError, match=reason.replace("(", r"\(")) as e:
        soup.packets(data)
    assert e.value.offset == offset


def test_refusals_when_encoding():
    with pytest.raises(ValueError, match="46-byte payload"):
        soup.encode_packet("L", b"short")
    with pytest.raises(ValueError, match="longer than 6"):
        soup.login_request("toolongname", "pw")
    with pytest.raises(ValueError, match="unknown SoupBinTCP packet type"):
        soup.encode_packet("?")
