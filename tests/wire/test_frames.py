"""wire/frames.py: the compiled Ethernet/802.1Q/IPv4/UDP header parser on crafted frames.

Frames are built with tickpath.wire.pcap.udp_frame and then bent: tags, IP options, fragment
bits, other ethertypes and protocols, every truncation, length fields that lie. A hypothesis
fuzz checks the parser never reads or answers outside the frame, and agrees with pcap's
pure-Python ``udp_payload`` (an independent reading of the same headers).
"""

from __future__ import annotations

import ipaddress
import os
import struct
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tickpath.wire.frames import (
    N_REASONS,
    Reason,
    ipv4_udp_payload_at,
    parse,
    parse_ipv4,
    udp_payload_at,
)
from tickpath.wire.pcap import internet_checksum, udp_frame, udp_payload

EXAMPLES = int(os.environ.get("TICKPATH_TEST_EXAMPLES", "0")) or 400
SRC, GROUP, PORT = "10.1.2.3", "233.54.12.1", 26400
PAYLOAD = bytes(range(40))
GROUP_INT = int(ipaddress.IPv4Address(GROUP))


def frame(payload: bytes = PAYLOAD, **kw) -> bytes:
    return udp_frame(payload, SRC, GROUP, 1234, PORT, **kw)


def ip_at(f: bytes) -> int:
    return 18 if f[12:14] == b"\x81\x00" else 14


def patch_ip(f: bytes, **fields) -> bytes:
    """Rewrite IPv4 header fields (ver_ihl, total, frag, proto, dst) and its checksum."""
    b = bytearray(f)
    p = ip_at(f)
    if "ver_ihl" in fields:
        b[p] = fields["ver_ihl"]
    if "total" in fields:
        b[p + 2:p + 4] = fields["total"].to_bytes(2, "big")
    if "frag" in fields:
        b[p + 6:p + 8] = fields["frag"].to_bytes(2, "big")
    if "proto" in fields:
        b[p + 9] = fields["proto"]
    if "dst" in fields:
        b[p + 16:p + 20] = ipaddress.IPv4Address(fields["dst"]).packed
    ihl = (b[p] & 0x0F) * 4
    b[p + 10:p + 12] = b"\0\0"
    if 20 <= ihl and p + ihl <= len(b):
        b[p + 10:p + 12] = internet_checksum(bytes(b[p:p + ihl])).to_bytes(2, "big")
    return bytes(b)


def with_ip_options(f: bytes, words: int) -> bytes:
    """The same datagram with ``words`` 32-bit words of IPv4 options (NOPs, then END)."""
    p = ip_at(f)
    opts = b"\x01" * (words * 4 - 1) + b"\x00"
    total = int.from_bytes(f[p + 2:p + 4], "big") + len(opts)
    g = f[:p + 20] + opts + f[p + 20:]
    return patch_ip(g, ver_ihl=0x40 | (5 + words), total=total)


def patch_udp_length(f: bytes, length: int) -> bytes:
    p = ip_at(f)
    u = p + (f[p] & 0x0F) * 4
    return f[:u + 4] + length.to_bytes(2, "big") + f[u + 6:]


def payload_of(f: bytes, dst_ip: int = 0, dst_port: int = 0) -> tuple[Reason, bytes]:
    r, off, size = parse(f, dst_ip, dst_port)
    return r, f[off:off + size]


# ------------------------------------------------------------------------------- accepted

def test_plain_frame_gives_the_payload_in_place():
    f = frame()
    assert parse(f, GROUP_INT, PORT) == (Reason.OK, 42, len(PAYLOAD))
    assert payload_of(f)[1] == PAYLOAD


def test_one_8021q_tag_is_stepped_over():
    f = frame(vlan=101)
    assert parse(f, GROUP_INT, PORT) == (Reason.OK, 46, len(PAYLOAD))


@pytest.mark.parametrize("words", [1, 2, 5, 10])
def test_ip_options_move_the_udp_header(words):
    for vlan in (None, 7):
        f = with_ip_options(frame(vlan=vlan), words)
        r, got = payload_of(f, GROUP_INT, PORT)
        assert r == Reason.OK and got == PAYLOAD
        assert udp_payload(f)[0].tobytes() == PAYLOAD  # the reference agrees


def test_ethernet_padding_after_the_datagram_is_ignored():
    f = frame(b"ab") + b"\xee" * 20  # a short datagram padded to the Ethernet minimum
    assert payload_of(f) == (Reason.OK, b"ab")


def test_dont_fragment_flag_is_not_a_fragment():
    f = patch_ip(frame(), frag=0x4000)
    assert parse(f)[0] == Reason.OK


def test_udp_length_shorter_than_the_datagram_bounds_the_payload():
    f = patch_udp_length(frame(), 8 + 10)
    assert payload_of(f) == (Reason.OK, PAYLOAD[:10])


def test_empty_payload():
    assert parse(frame(b"")) == (Reason.OK, 42, 0)


def test_a_frame_anywhere_in_a_bigger_buffer():
    f = frame(vlan=3)
    buf = np.full(300, 0xAB, np.uint8)
    buf[100:100 + len(f)] = np.frombuffer(f, np.uint8)
    r, off, size = udp_payload_at(buf, 100, len(f), 0, 0)
    assert (r, off, size) == (Reason.OK, 146, len(PAYLOAD))
    assert buf[off:off + size].tobytes() == PAYLOAD


# ------------------------------------------------------------------------------- refused

def test_wrong_destination_address_and_port():
    f = frame()
    assert parse(f, GROUP_INT + 1, PORT)[0] == Reason.WRONG_ADDRESS
    assert parse(f, GROUP_INT, PORT + 1)[0] == Reason.WRONG_PORT
    assert parse(f, 0, 0)[0] == Reason.OK  # 0 accepts any


@pytest.mark.parametrize("frag", [0x2000, 0x0001, 0x1FFF, 0x2010, 0x6000 | 0x0040])
def test_fragments(frag):
    assert parse(patch_ip(frame(), frag=frag))[0] == Reason.FRAGMENT


@pytest.mark.parametrize("ethertype", [0x86DD, 0x0806, 0x88CC, 0x88A8, 0x9100, 0x0000])
def test_not_ipv4(ethertype):
    f = frame()
    g = f[:12] + ethertype.to_bytes(2, "big") + f[14:]
    assert parse(g)[0] == Reason.NOT_IPV4


def test_two_tags_are_not_followed():
    f = frame(vlan=5)
    g = f[:12] + b"\x81\x00\x00\x06" + f[12:]
    assert parse(g)[0] == Reason.NOT_IPV4


@pytest.mark.parametrize("proto", [1, 2, 6, 47, 132, 255])
def test_not_udp(proto):
    assert parse(patch_ip(frame(), proto=proto))[0] == Reason.NOT_UDP


@pytest.mark.parametrize("ver_ihl", [0x65, 0x45 & 0x0F, 0x44, 0x40, 0xF5])
def test_bad_ipv4_header(ver_ihl):
    assert parse(patch_ip(frame(), ver_ihl=ver_ihl))[0] == Reason.BAD_IPV4


def test_ip_total_length_lies():
    f = frame()
    total = 20 + 8 + len(PAYLOAD)
    assert parse(patch_ip(f, total=total + 1))[0] == Reason.SHORT_IPV4  # past the bytes
    assert parse(patch_ip(f, total=19))[0] == Reason.BAD_IPV4  # shorter than its header
    assert parse(patch_ip(f, total=27))[0] == Reason.BAD_UDP_LENGTH  # no room for UDP
    assert parse(patch_ip(f, total=28))[0] == Reason.BAD_UDP_LENGTH  # UDP length says 48


@pytest.mark.parametrize("length", [0, 1, 7, 8 + len(PAYLOAD) + 1, 0xFFFF])
def test_udp_length_lies(length):
    assert parse(patch_udp_length(frame(), length))[0] == Reason.BAD_UDP_LENGTH


@pytest.mark.parametrize("vlan", [None, 9])
def test_truncated_at_every_length(vlan):
    f = with_ip_options(frame(vlan=vlan), 2)
    l2 = ip_at(f)
    for cut in range(len(f)):
        r, off, size = parse(f[:cut])
        expected = Reason.SHORT_ETHERNET if cut < l2 else Reason.SHORT_IPV4
        assert (r, off, size) == (expected, 0, 0), cut
    assert parse(f)[0] == Reason.OK


def test_reason_codes_are_dense():
    assert [int(r) for r in Reason] == list(range(N_REASONS))


# --------------------------------------------------------------------------------- fuzz

def _reference(f: bytes) -> bytes | None:
    """pcap.udp_payload, restricted to what this parser accepts (one 802.1Q tag at most)."""
    outer = f[12:14] if len(f) >= 14 else b""
    if outer in (b"\x88\xa8", b"\x91\x00") or (outer == b"\x81\x00" and f[16:18] in (
            b"\x81\x00", b"\x88\xa8", b"\x91\x00")):
        return None
    got = udp_payload(f)
    return None if got is None else got[0].tobytes()


def _check_bounds(f: bytes) -> Reason:
    buf = np.frombuffer(bytearray(b"\x55" * 16 + f + b"\xaa" * 16), np.uint8)
    r, off, size = udp_payload_at(buf, 16, len(f), 0, 0)
    assert 0 <= r < N_REASONS
    if r == Reason.OK:
        assert 16 <= off and size >= 0 and off + size <= 16 + len(f)
    else:
        assert off == 0 and size == 0
    return Reason(r)


@settings(max_examples=EXAMPLES, deadline=None)
@given(st.binary(max_size=128))
def test_fuzz_random_bytes(data):
    r = _check_bounds(data)
    ref = _reference(data)
    assert (r == Reason.OK) == (ref is not None)


_FIELDS = st.sampled_from([12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 36, 37,
                           38, 39, 40, 41])


@settings(max_examples=EXAMPLES, deadline=None)
@given(st.binary(max_size=64), st.sampled_from([None, 12]),
       st.lists(st.tuples(_FIELDS, st.integers(0, 255)), max_size=4),
       st.integers(0, 200), st.integers(0, 3))
def test_fuzz_mutated_frames_agree_with_the_reference(payload, vlan, edits, cut, words):
    f = bytearray(frame(payload, vlan=vlan))
    if words:
        f = bytearray(with_ip_options(bytes(f), words))
    for pos, value in edits:
        if pos < len(f):
            f[pos] = value
    f = bytes(f[:len(f) - cut]) if cut < len(f) else bytes(f)
    r = _check_bounds(f)
    ref = _reference(f)
    assert (r == Reason.OK) == (ref is not None), (r, f.hex())
    if ref is not None:
        assert payload_of(f)[1] == ref


# ---------------------------------------------------------------- the IPv4 entry point
# ipv4_udp_payload_at reads from the IPv4 header on (links without Ethernet's shape): the
# same answers as udp_payload_at gives for the IPv4 part of an Ethernet frame.


def test_ipv4_entry_point_gives_the_payload_in_place():
    f = frame()
    assert parse_ipv4(f[14:], GROUP_INT, PORT) == (Reason.OK, 28, len(PAYLOAD))
    g = with_ip_options(f, 3)[14:]
    r, off, size = parse_ipv4(g, GROUP_INT, PORT)
    assert r == Reason.OK and g[off:off + size] == PAYLOAD
    padded = f[14:] + b"\xee" * 9  # bytes after the total length are not the datagram's
    assert parse_ipv4(padded) == (Reason.OK, 28, len(PAYLOAD))


def test_ipv4_entry_point_anywhere_in_a_bigger_buffer():
    ip = frame()[14:]
    buf = np.full(200, 0xAB, np.uint8)
    buf[60:60 + len(ip)] = np.frombuffer(ip, np.uint8)
    r, off, size = ipv4_udp_payload_at(buf, 60, len(ip), GROUP_INT, PORT)
    assert (r, off, size) == (Reason.OK, 88, len(PAYLOAD))
    assert buf[off:off + size].tobytes() == PAYLOAD


@pytest.mark.parametrize("edit, reason", [
    ({"ver_ihl": 0x65}, Reason.BAD_IPV4),  # an IPv6 version nibble
    ({"ver_ihl": 0x44}, Reason.BAD_IPV4),
    ({"total": 19}, Reason.BAD_IPV4),
    ({"total": 20 + 8 + len(PAYLOAD) + 1}, Reason.SHORT_IPV4),
    ({"total": 27}, Reason.BAD_UDP_LENGTH),
    ({"frag": 0x2000}, Reason.FRAGMENT),
    ({"frag": 0x0001}, Reason.FRAGMENT),
    ({"proto": 6}, Reason.NOT_UDP),
    ({"dst": "233.54.12.2"}, Reason.WRONG_ADDRESS),
])
def test_ipv4_entry_point_refusals(edit, reason):
    f = patch_ip(frame(), **edit)
    assert parse_ipv4(f[14:], GROUP_INT, PORT) == (reason, 0, 0)
    assert parse(f, GROUP_INT, PORT) == (reason, 0, 0)  # the Ethernet entry agrees
    assert parse_ipv4(frame()[14:], GROUP_INT, PORT + 1)[0] == Reason.WRONG_PORT


def test_ipv4_entry_point_truncated_at_every_length():
    ip = with_ip_options(frame(), 2)[14:]
    for cut in range(len(ip)):
        assert parse_ipv4(ip[:cut]) == (Reason.SHORT_IPV4, 0, 0), cut
    assert parse_ipv4(ip)[0] == Reason.OK


@settings(max_examples=EXAMPLES, deadline=None)
@given(st.binary(max_size=96))
def test_fuzz_ipv4_entry_point_stays_inside_the_range(data):
    buf = np.frombuffer(bytearray(b"\x55" * 16 + data + b"\xaa" * 16), np.uint8)
    r, off, size = ipv4_udp_payload_at(buf, 16, len(data), 0, 0)
    assert 0 <= r < N_REASONS and r not in (Reason.SHORT_ETHERNET, Reason.NOT_IPV4)
    if r == Reason.OK:
        assert 16 + 28 <= off and size >= 0 and off + size <= 16 + len(data)
    else:
        assert off == 0 and size == 0


@settings(max_examples=EXAMPLES, deadline=None)
@given(st.binary(max_size=64), st.lists(st.tuples(_FIELDS, st.integers(0, 255)), max_size=4),
       st.integers(0, 200), st.integers(0, 3), st.sampled_from([0, GROUP_INT]),
       st.sampled_from([0, PORT, PORT + 1]))
def test_fuzz_ipv4_entry_point_agrees_with_the_ethernet_parser(payload, edits, cut, words,
                                                               dst_ip, dst_port):
    """Behind an untagged Ethernet header, both entry points give the same answer, with the
    same offsets, and the pure-Python reference agrees on what is a datagram."""
    f = bytearray(frame(payload))
    if words:
        f = bytearray(with_ip_options(bytes(f), words))
    for pos, value in edits:
        if 14 <= pos < len(f):  # the IPv4 and UDP headers only: the ethertype stays IPv4
            f[pos] = value
    f = bytes(f[:max(14, len(f) - cut)])
    buf = np.frombuffer(bytearray(f), np.uint8)
    want = udp_payload_at(buf, 0, len(f), dst_ip, dst_port)
    assert ipv4_udp_payload_at(buf, 14, len(f) - 14, dst_ip, dst_port) == want
    if dst_ip == dst_port == 0:
        assert (want[0] == Reason.OK) == (_reference(f) is not None)


# ------------------------------------------------------------------------- as plain Python

def test_parser_runs_as_plain_python():
    """DESIGN.md: kernels run under NUMBA_DISABLE_JIT=1 too (a subprocess: numba reads the
    variable when it is imported)."""
    here = Path(__file__).resolve()
    env = dict(os.environ, NUMBA_DISABLE_JIT="1", TICKPATH_TEST_EXAMPLES="20")
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider",
         "--hypothesis-seed=0", "-k", "not plain_python", str(here)],
        env=env, capture_output=True, text=True, timeout=300, cwd=here.parents[2])
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert " passed" in proc.stdout and " failed" not in proc.stdout


def test_struct_helpers_build_what_they_say():
    """The crafting helpers above are themselves right (so the tests test the parser)."""
    f = with_ip_options(frame(), 3)
    assert f[14] == 0x48 and struct.unpack("!H", f[16:18])[0] == 20 + 12 + 8 + len(PAYLOAD)
    assert internet_checksum(f[14:14 + 32]) == 0
