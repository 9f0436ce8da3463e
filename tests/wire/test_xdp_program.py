"""The assembled XDP program, run by the kernel itself (BPF_PROG_TEST_RUN) on crafted frames.

The verifier must accept it; its verdict on every frame must be the one its docstring
states (checked against a plain reading of the same rules), and no frame the user-space
parser would hand to the books may be passed to the kernel instead. A hypothesis fuzz bends
headers and truncates frames. Needs root (bpf(2)); an AF_XDP socket bound to ``lo`` gives
the XSKMAP an entry (no program is attached to ``lo``, so nothing is ever redirected)."""

from __future__ import annotations

import ipaddress
import os
import socket
import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tickpath.wire import frames as F
from tickpath.wire.pcap import udp_frame
from tickpath.wire.xdp_layout import XDP_PASS, XDP_REDIRECT

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="bpf(2) needs root")

EXAMPLES = int(os.environ.get("TICKPATH_TEST_EXAMPLES", "0")) or 300
SRC, PORT = "10.1.2.3", 26400
GROUP, UNICAST = "233.54.12.1", "10.9.8.7"
# last octets of 128 and more: the address word's top bit is set as the program loads it
HIGH_GROUP, HIGH_UNICAST = "239.1.1.200", "192.168.1.200"
ADDRESSES = [GROUP, UNICAST, HIGH_GROUP, HIGH_UNICAST]


@pytest.fixture(scope="module")
def programs():
    from tickpath.wire import bpf
    from tickpath.wire.xdp_program import PROGRAM_NAME, redirect_program
    from tickpath.wire.xsk import XskSocket

    fds = [bpf.create_xskmap(1)]
    with XskSocket(socket.if_nametoindex("lo"), 0, rx_size=64) as xsk:
        bpf.map_update_u32(fds[0], 0, xsk.fileno())
        progs = {}
        for dst in ADDRESSES:
            progs[dst] = bpf.load_xdp_program(redirect_program(fds[0], dst, PORT), PROGRAM_NAME)
            fds.append(progs[dst])
        yield lambda dst, frame: bpf.test_run(progs[dst], frame)
    for fd in fds:
        os.close(fd)


def expected(frame: bytes, dst: str) -> int:
    """The program's rules, read plainly (see tickpath.wire.xdp_program)."""
    if len(frame) < 14:
        return XDP_PASS
    etype, n = frame[12:14], 14
    if etype == b"\x81\x00":
        if len(frame) < 18 or frame[16:18] != b"\x08\x00":
            return XDP_PASS
        n = 18
    elif etype != b"\x08\x00":
        return XDP_PASS
    if len(frame) < n + 28:
        return XDP_PASS
    if frame[n + 16:n + 20] != socket.inet_aton(dst) or frame[n + 9] != 17:
        return XDP_PASS
    odd = frame[n] != 0x45 or struct.unpack_from("!H", frame, n + 6)[0] & 0x3FFF
    if odd:
        return XDP_REDIRECT if ipaddress.IPv4Address(dst).is_multicast else XDP_PASS
    return XDP_REDIRECT if struct.unpack_from("!H", frame, n + 22)[0] == PORT else XDP_PASS


def parser_ok(frame: bytes, dst: str) -> bool:
    buf = np.frombuffer(frame, np.uint8)
    why, _, _ = F.udp_payload_at(buf, 0, len(frame), int(ipaddress.IPv4Address(dst)), PORT)
    return why == F.OK


def patch(frame: bytes, offset: int, value: bytes) -> bytes:
    return frame[:offset] + value + frame[offset + len(value):]


@pytest.mark.parametrize("dst", ADDRESSES)
def test_feed_redirected_rest_passed(programs, dst):
    feed = udp_frame(b"x" * 40, SRC, dst, 1234, PORT)
    tagged = udp_frame(b"x" * 40, SRC, dst, 1234, PORT, vlan=7)
    assert programs(dst, feed) == XDP_REDIRECT
    assert programs(dst, tagged) == XDP_REDIRECT
    cases = {
        "other port": udp_frame(b"x" * 40, SRC, dst, 1234, PORT + 1),
        "other address": udp_frame(b"x" * 40, SRC, "233.54.12.2", 1234, PORT),
        "tcp": patch(feed, 14 + 9, b"\x06"),
        "arp": patch(feed, 12, b"\x08\x06"),
        "ipv6": patch(feed, 12, b"\x86\xdd"),
        "ethernet header only": feed[:14],
        "cut in the ip header": feed[:30],
        "cut in the udp header": feed[:14 + 20 + 7],
        "tag, then not ipv4": patch(tagged, 16, b"\x86\xdd"),
    }
    for what, frame in cases.items():
        assert programs(dst, frame) == XDP_PASS, what


@pytest.mark.parametrize("dst,verdict", [(GROUP, XDP_REDIRECT), (UNICAST, XDP_PASS)])
def test_fragments_and_options(programs, dst, verdict):
    """The group carries only the feed: its fragments and optioned headers go to the socket,
    where the parser counts and skips them; a unicast address carries other traffic too."""
    feed = udp_frame(b"x" * 40, SRC, dst, 1234, PORT)
    first_fragment = patch(feed, 14 + 6, b"\x20\x00")
    later_fragment = patch(feed, 14 + 6, b"\x00\x10")
    options = patch(feed, 14, b"\x46")
    for frame in (first_fragment, later_fragment, options):
        assert programs(dst, frame) == verdict
        assert not parser_ok(frame, dst) or frame is options


@settings(max_examples=EXAMPLES, deadline=None)
@given(dst=st.sampled_from(ADDRESSES), vlan=st.booleans(),
       port=st.sampled_from([PORT, PORT + 1]),
       edits=st.lists(st.tuples(st.integers(0, 60), st.integers(0, 255)), max_size=4),
       cut=st.one_of(st.none(), st.integers(0, 80)), size=st.integers(0, 64))
def test_fuzz_verdicts(programs, dst, vlan, port, edits, cut, size):
    frame = udp_frame(b"y" * size, SRC, dst, 1234, port, vlan=7 if vlan else None)
    for off, byte in edits:
        if off < len(frame):
            frame = patch(frame, off, bytes([byte]))
    if cut is not None:
        frame = frame[:cut]
    if len(frame) < 14:  # the kernel's test run wants at least an Ethernet header
        return
    verdict = programs(dst, frame)
    assert verdict == expected(frame, dst)
    if parser_ok(frame, dst):  # never keep the feed from the books
        assert verdict == XDP_REDIRECT
