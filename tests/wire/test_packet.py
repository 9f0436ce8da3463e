"""The packet transport: AF_PACKET rings (TPACKET_V2 and V3), its BPF filter, and its loops.

* struct layouts and constants against a C program compiled with the kernel's headers;
* the BPF program, run by a small reference interpreter on crafted frames, accepted by the
  kernel, and filtering real traffic on loopback;
* the compiled loops on synthetic rings (no kernel): frame and block hand-back, wrap-around,
  resuming after an event the books refuse;
* a feed over a veth pair between two namespaces, V2 and V3: books equal the simulator's;
* malformed frames injected with a raw socket: counted by reason, books untouched;
* drops (a ring too small) reported from PACKET_STATISTICS; refusals with reasons.

Needs root (CAP_NET_RAW, network namespaces) for the kernel parts; those skip otherwise.
Everything waits on counts, bounded; nothing asserts on time.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import os
import shutil
import socket
import subprocess
import sys
import textwrap
import threading
import time

import numpy as np
import pytest

from tickpath import BookStore, ItchHandler, Simulator
from tickpath.apps.listener import FeedListener
from tickpath.codec.itch50.message import encode
from tickpath.feed.itch import ItchFeed
from tickpath.feed.moldudp64 import Counter, MoldSession, pack_packets
from tickpath.venue.publisher import UdpPublisher
from tickpath.wire import frames as F
from tickpath.wire import packet_layout as P
from tickpath.wire.netns import NetnsUnavailable, veth_pair
from tickpath.wire.netns import check as netns_check
from tickpath.wire.packet import (
    DEADLINE,
    END_OF_SESSION,
    N_RX,
    SETTLE,
    PacketRingReceiver,
    Rx,
    attach_filter,
    feed_filter,
    interface_for,
    poll_v2,
    poll_v3,
)
from tickpath.wire.pcap import udp_frame
from tickpath.wire.transports import check, open_receiver

GROUP, PORT = "233.54.12.1", 26400


# ============================================================================ layouts vs C

#: every integer constant of packet_layout, as the C expression that defines it
C_EXPR = {
    "SOL_PACKET": "SOL_PACKET", "PACKET_RX_RING": "PACKET_RX_RING",
    "PACKET_STATISTICS": "PACKET_STATISTICS", "PACKET_VERSION": "PACKET_VERSION",
    "PACKET_HDRLEN": "PACKET_HDRLEN", "PACKET_RESERVE": "PACKET_RESERVE",
    "PACKET_TIMESTAMP": "PACKET_TIMESTAMP", "PACKET_IGNORE_OUTGOING": "PACKET_IGNORE_OUTGOING",
    "TPACKET_V1": "TPACKET_V1", "TPACKET_V2": "TPACKET_V2", "TPACKET_V3": "TPACKET_V3",
    "PACKET_HOST": "PACKET_HOST", "PACKET_BROADCAST": "PACKET_BROADCAST",
    "PACKET_MULTICAST": "PACKET_MULTICAST", "PACKET_OTHERHOST": "PACKET_OTHERHOST",
    "PACKET_OUTGOING": "PACKET_OUTGOING",
    **{f"TP_STATUS_{s}": f"TP_STATUS_{s}" for s in (
        "KERNEL", "USER", "COPY", "LOSING", "CSUMNOTREADY", "VLAN_VALID", "BLK_TMO",
        "VLAN_TPID_VALID", "CSUM_VALID", "TS_SOFTWARE", "TS_RAW_HARDWARE")},
    "PACKET_TX_RING": "PACKET_TX_RING", "PACKET_LOSS": "PACKET_LOSS",
    "PACKET_QDISC_BYPASS": "PACKET_QDISC_BYPASS",
    **{f"TP_STATUS_{s}": f"TP_STATUS_{s}" for s in (
        "AVAILABLE", "SEND_REQUEST", "SENDING", "WRONG_FORMAT")},
    "TPACKET_ALIGNMENT": "TPACKET_ALIGNMENT",
    "SOCKADDR_LL_SIZE": "sizeof(struct sockaddr_ll)",
    **{f"SLL_{f.upper()}": f"offsetof(struct sockaddr_ll, sll_{f})" for f in (
        "family", "protocol", "ifindex", "hatype", "pkttype", "halen", "addr")},
    "TPACKET2_HDR_SIZE": "sizeof(struct tpacket2_hdr)",
    **{f"TP2_{f.upper()}": f"offsetof(struct tpacket2_hdr, tp_{f})" for f in (
        "status", "len", "snaplen", "mac", "net", "sec", "nsec", "vlan_tci", "vlan_tpid")},
    "TP2_SLL": "TPACKET_ALIGN(sizeof(struct tpacket2_hdr))",
    "TPACKET2_HDRLEN": "TPACKET2_HDRLEN",
    "TPACKET3_HDR_SIZE": "sizeof(struct tpacket3_hdr)",
    **{f"TP3_{f.upper()}": f"offsetof(struct tpacket3_hdr, tp_{f})" for f in (
        "next_offset", "sec", "nsec", "snaplen", "len", "status", "mac", "net")},
    **{f"TP3_{f.upper()}": f"offsetof(struct tpacket3_hdr, hv1.tp_{f})" for f in (
        "rxhash", "vlan_tci", "vlan_tpid")},
    "TP3_SLL": "TPACKET_ALIGN(sizeof(struct tpacket3_hdr))",
    "TPACKET3_HDRLEN": "TPACKET3_HDRLEN",
    "BLOCK_DESC_SIZE": "sizeof(struct tpacket_block_desc)",
    "BD_VERSION": "offsetof(struct tpacket_block_desc, version)",
    "BD_OFFSET_TO_PRIV": "offsetof(struct tpacket_block_desc, offset_to_priv)",
    **{f"BD_{f.upper()}": f"offsetof(struct tpacket_block_desc, hdr.bh1.{f})" for f in (
        "block_status", "num_pkts", "offset_to_first_pkt", "blk_len", "seq_num",
        "ts_first_pkt", "ts_last_pkt")},
    "TPACKET_REQ_SIZE": "sizeof(struct tpacket_req)",
    "TPACKET_REQ3_SIZE": "sizeof(struct tpacket_req3)",
    **{f"REQ_{f.upper()}": f"offsetof(struct tpacket_req, tp_{f})" for f in (
        "block_size", "block_nr", "frame_size", "frame_nr")},
    **{f"REQ3_{f.upper()}": f"offsetof(struct tpacket_req3, tp_{f})" for f in (
        "retire_blk_tov", "sizeof_priv", "feature_req_word")},
    "TPACKET_STATS_SIZE": "sizeof(struct tpacket_stats)",
    "TPACKET_STATS_V3_SIZE": "sizeof(struct tpacket_stats_v3)",
    **{f"ST_{f.upper()}": f"offsetof(struct tpacket_stats_v3, tp_{f})" for f in (
        "packets", "drops", "freeze_q_cnt")},
    "SO_ATTACH_FILTER": "SO_ATTACH_FILTER", "SO_DETACH_FILTER": "SO_DETACH_FILTER",
    "SO_LOCK_FILTER": "SO_LOCK_FILTER",
    "SOCK_FILTER_SIZE": "sizeof(struct sock_filter)",
    **{f"SF_{f.upper()}": f"offsetof(struct sock_filter, {f})" for f in ("code", "jt", "jf", "k")},
    "SOCK_FPROG_SIZE": "sizeof(struct sock_fprog)",
    "FPROG_LEN": "offsetof(struct sock_fprog, len)",
    "FPROG_FILTER": "offsetof(struct sock_fprog, filter)",
    **{n: n for n in (
        "BPF_MAXINSNS", "BPF_LD", "BPF_LDX", "BPF_ALU", "BPF_JMP", "BPF_RET", "BPF_W", "BPF_H",
        "BPF_B", "BPF_IMM", "BPF_ABS", "BPF_IND", "BPF_MSH", "BPF_JA", "BPF_JEQ", "BPF_JGT",
        "BPF_JSET", "BPF_K", "BPF_X", "SKF_AD_OFF", "SKF_AD_PKTTYPE", "SKF_AD_VLAN_TAG_PRESENT",
        "ETH_P_ALL", "ETH_P_IP", "ETH_P_8021Q", "ETH_P_8021AD", "ETH_HLEN")},
    "IP_MREQN_SIZE": "sizeof(struct ip_mreqn)",
    "IMR_MULTIADDR": "offsetof(struct ip_mreqn, imr_multiaddr)",
    "IMR_ADDRESS": "offsetof(struct ip_mreqn, imr_address)",
    "IMR_IFINDEX": "offsetof(struct ip_mreqn, imr_ifindex)",
}

#: frames.py's header constants, from the kernel's own header structs
C_FRAMES = {
    "ETH_HLEN": "sizeof(struct ethhdr)", "ETH_TYPE": "offsetof(struct ethhdr, h_proto)",
    "ETHERTYPE_IPV4": "ETH_P_IP", "ETHERTYPE_8021Q": "ETH_P_8021Q",
    "IPV4_MIN_HLEN": "sizeof(struct iphdr)", "IP_TOTAL_LENGTH": "offsetof(struct iphdr, tot_len)",
    "IP_FRAG": "offsetof(struct iphdr, frag_off)", "IP_PROTOCOL": "offsetof(struct iphdr, protocol)",
    "IP_SRC": "offsetof(struct iphdr, saddr)", "IP_DST": "offsetof(struct iphdr, daddr)",
    "IPPROTO_UDP": "IPPROTO_UDP", "UDP_HLEN": "sizeof(struct udphdr)",
    "UDP_SPORT": "offsetof(struct udphdr, source)", "UDP_DPORT": "offsetof(struct udphdr, dest)",
    "UDP_LENGTH": "offsetof(struct udphdr, len)",
}

C_HEAD = """
#include <stddef.h>
#include <stdio.h>
#include <sys/socket.h>
#include <linux/in.h>
#include <linux/if_packet.h>
#include <linux/if_ether.h>
#include <linux/filter.h>
#include <linux/ip.h>
#include <linux/udp.h>
int main(void) {
"""


def _c_values(tmp_path, exprs: dict[str, str]) -> dict[str, int]:
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler to read the system headers with")
    body = "".join(f'  printf("{n} %lld\\n", (long long)({e}));\n' for n, e in exprs.items())
    src = tmp_path / "layout.c"
    src.write_text(C_HEAD + body + "  return 0;\n}\n")
    exe = tmp_path / "layout"
    r = subprocess.run([cc, str(src), "-o", str(exe)], capture_output=True, text=True)
    assert r.returncode == 0, r.stderr
    out = subprocess.run([str(exe)], check=True, capture_output=True, text=True).stdout
    return {n: int(v) for n, v in (line.split() for line in out.splitlines())}


def test_packet_layout_matches_kernel_headers(tmp_path):
    ints = {n for n in dir(P) if n.isupper() and isinstance(getattr(P, n), int)}
    assert ints == set(C_EXPR), "every constant of packet_layout is checked against C"
    got = _c_values(tmp_path, C_EXPR)
    wrong = {n: (getattr(P, n), v) for n, v in got.items() if getattr(P, n) != v}
    assert not wrong
    assert len(got) == len(C_EXPR)


def test_frame_header_offsets_match_kernel_headers(tmp_path):
    got = _c_values(tmp_path, C_FRAMES)
    assert {n: getattr(F, n) for n in C_FRAMES} == got


def test_dtypes_agree_with_the_offsets():
    assert P.TPACKET2_HDR.itemsize == P.TPACKET2_HDR_SIZE
    assert P.TPACKET2_HDR.fields["snaplen"][1] == P.TP2_SNAPLEN
    assert P.TPACKET3_HDR.fields["status"][1] == P.TP3_STATUS
    assert P.BLOCK_DESC.fields["num_pkts"][1] == P.BD_NUM_PKTS
    assert P.TPACKET_REQ3.itemsize == P.TPACKET_REQ3_SIZE
    assert P.SOCK_FILTER.itemsize == P.SOCK_FILTER_SIZE
    assert P.tpacket_align(P.TPACKET2_HDR_SIZE) + P.SOCKADDR_LL_SIZE == P.TPACKET2_HDRLEN


# ==================================================================== the BPF program

def run_bpf(prog: np.ndarray, frame: bytes, pkttype: int = P.PACKET_HOST) -> int:
    """A reference classic-BPF interpreter for the instructions feed_filter uses: the return
    value (bytes to keep; 0 rejects). A load past the frame rejects, as in the kernel."""
    a = x = pc = 0
    while True:
        code, jt, jf, k = (int(v) for v in prog[pc])
        pc += 1
        cls, size, mode = code & 0x07, code & 0x18, code & 0xE0
        if cls == P.BPF_RET:
            return k
        if cls == P.BPF_LD:
            width = {P.BPF_W: 4, P.BPF_H: 2, P.BPF_B: 1}[size]
            off = k - (1 << 32) if k >= 1 << 31 else k
            if mode == P.BPF_ABS and off == P.SKF_AD_OFF + P.SKF_AD_PKTTYPE:
                a = pkttype
                continue
            off += x if mode == P.BPF_IND else 0
            assert mode in (P.BPF_ABS, P.BPF_IND)
            if off < 0 or off + width > len(frame):
                return 0
            a = int.from_bytes(frame[off:off + width], "big")
        elif cls == P.BPF_LDX:
            assert mode == P.BPF_MSH and size == P.BPF_B
            if k >= len(frame):
                return 0
            x = (frame[k] & 0x0F) * 4
        elif cls == P.BPF_JMP:
            op = code & 0xF0
            taken = a == k if op == P.BPF_JEQ else (a & k) != 0
            assert op in (P.BPF_JEQ, P.BPF_JSET)
            pc += jt if taken else jf
        else:
            raise AssertionError(f"unexpected instruction {code:#x}")


def _patch_ip(f: bytes, ver_ihl=None, total=None, frag=None, proto=None) -> bytes:
    """Rewrite IPv4 header fields of an untagged or once-tagged frame (checksum left as is:
    nothing on this path checks it)."""
    b = bytearray(f)
    p = 18 if f[12:14] == b"\x81\x00" else 14
    for off, width, value in ((0, 1, ver_ihl), (2, 2, total), (6, 2, frag), (9, 1, proto)):
        if value is not None:
            b[p + off:p + off + width] = value.to_bytes(width, "big")
    return bytes(b)


def _with_ip_options(f: bytes, words: int) -> bytes:
    p = 18 if f[12:14] == b"\x81\x00" else 14
    total = int.from_bytes(f[p + 2:p + 4], "big") + 4 * words
    g = f[:p + 20] + b"\x01" * (4 * words) + f[p + 20:]
    return _patch_ip(g, ver_ihl=0x40 | (5 + words), total=total)


def _frame(port=PORT, dst=GROUP, vlan=None, payload=b"p" * 30, **ip) -> bytes:
    return _patch_ip(udp_frame(payload, "10.9.9.1", dst, 999, port, vlan=vlan), **ip)


def _qinq(f: bytes) -> bytes:
    """An 802.1ad outer tag in front of the frame's 802.1Q tag."""
    return f[:12] + b"\x88\xa8\x00\x07" + f[12:]


@pytest.mark.parametrize("dst", [GROUP, "0.0.0.0"])
def test_filter_program_on_crafted_frames(dst):
    prog = feed_filter(PORT, dst)
    accept = [_frame(), _frame(vlan=12), _frame(frag=0x2000),  # a first fragment: counted later
              _with_ip_options(_frame(), 3), _with_ip_options(_frame(vlan=3), 10)]
    reject = [_frame(port=PORT + 1), _frame(vlan=12, port=PORT - 1), _frame(frag=0x0010),
              _frame(frag=0x2001), _frame(proto=6), _qinq(_frame(vlan=5)), _frame()[:36]]
    eth = _frame()
    reject += [eth[:12] + b"\x86\xdd" + eth[14:], eth[:12] + b"\x08\x06" + eth[14:]]
    for f in accept:
        assert run_bpf(prog, f) == 0xFFFFFFFF, f.hex()
        assert run_bpf(prog, f, P.PACKET_OUTGOING) == 0  # what the host sends is not the feed
    for f in reject:
        assert run_bpf(prog, f) == 0, f.hex()
    other_group = _frame(dst="233.54.12.2")
    assert run_bpf(prog, other_group) == (0 if dst == GROUP else 0xFFFFFFFF)


def test_filter_rejects_a_port_of_zero():
    with pytest.raises(ValueError, match="port"):
        feed_filter(0)


# ============================================================ kernel: needs CAP_NET_RAW

@pytest.fixture
def raw():
    try:
        socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0).close()
    except PermissionError:
        pytest.skip("AF_PACKET needs CAP_NET_RAW (run as root)")


def _udp_on_lo(host: str = "127.0.0.1") -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((host, 0))
    return s


def test_kernel_filter_passes_only_the_feed_on_loopback(raw):
    """feed_filter on a plain AF_PACKET socket on lo: datagrams to the feed's address and
    port arrive once each (the host's outgoing copy is rejected), the rest never."""
    feed, other = _udp_on_lo(), _udp_on_lo()
    port = feed.getsockname()[1]
    ps = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
    tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        attach_filter(ps, feed_filter(port, "127.0.0.1"))  # the kernel's checker accepts it
        ps.bind(("lo", P.ETH_P_ALL))
        ps.settimeout(0.5)
        for i in range(3):
            tx.sendto(b"feed%d" % i, ("127.0.0.1", port))
            tx.sendto(b"other%d" % i, ("127.0.0.1", other.getsockname()[1]))
            tx.sendto(b"addr%d" % i, ("127.0.0.2", port))
        got = []
        with contextlib.suppress(TimeoutError):
            while len(got) < 10:
                got.append(F.parse(ps.recv(2048))[1:])
    finally:
        for s in (ps, tx, feed, other):
            s.close()
    assert len(got) == 3
    assert all(size == 5 for _off, size in got)


def test_receiver_refusals_say_what_is_missing(raw):
    with pytest.raises(OSError, match="no network interface named 'tp-nope0'") as e:
        PacketRingReceiver("tp-nope0", "127.0.0.1", 0)
    assert e.value.errno == errno.ENODEV and "busypoll" in str(e.value)
    with pytest.raises(OSError, match="no interface here has the address 192.0.2.77"):
        open_receiver("packet", GROUP, PORT, iface_ip="192.0.2.77")
    with pytest.raises(OSError, match="names no interface"):
        open_receiver("packet", "0.0.0.0", PORT)
    with pytest.raises(ValueError, match="packet:v3"):
        open_receiver("packet:v9", "127.0.0.1", 0)
    with pytest.raises(ValueError, match="version"):
        PacketRingReceiver("lo", "127.0.0.1", 0, version=1)
    assert interface_for("127.0.0.1") == "lo"
    assert [c.ok for c in check() if c.name == "packet"] == [True]


def _drop_cap_net_raw() -> None:
    """In the child before exec: drop CAP_NET_RAW from the bounding set, so the program it
    runs (as root still) does not have it."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(24, 13, 0, 0, 0) != 0:  # PR_CAPBSET_DROP, CAP_NET_RAW (linux/prctl.h)
        raise OSError(ctypes.get_errno(), "prctl(PR_CAPBSET_DROP, CAP_NET_RAW)")


def test_without_cap_net_raw_the_refusal_names_the_capability_and_busypoll(raw):
    """Without CAP_NET_RAW (a subprocess that dropped it) opening the ring is refused with a
    PermissionError that says what is missing and what works instead; `wire check` agrees."""
    code = textwrap.dedent("""
        from tickpath.wire.packet import PacketRingReceiver
        from tickpath.wire.transports import check
        try:
            PacketRingReceiver("lo", "127.0.0.1", 0)
        except PermissionError as e:
            print("refused:", e)
        c = [c for c in check() if c.name == "packet"][0]
        print("check:", c.ok, c.detail, "|", c.remedy)
    """)
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       timeout=120, preexec_fn=_drop_cap_net_raw)
    assert r.returncode == 0, r.stderr[-2000:]
    assert "refused:" in r.stdout and "CAP_NET_RAW" in r.stdout and "busypoll" in r.stdout
    assert "check: False" in r.stdout and "CAP_NET_RAW" in r.stdout.split("check:")[1]


def _poll_all(rx: PacketRingReceiver, handler: ItchHandler | None = None,
              session: MoldSession | None = None, ms: int = 100) -> int:
    """Run the compiled loop over whatever is in the ring (until a short deadline)."""
    handler = handler or ItchHandler(BookStore(max_orders=64, errors="skip"), errors="skip")
    session = session or MoldSession()
    feed = ItchFeed(handler, session, max_samples=64)
    deadline = time.clock_gettime_ns(time.CLOCK_REALTIME) + ms * 1_000_000
    return rx.poll(feed.state, deadline, 0)


def _wait_kernel_packets(rx: PacketRingReceiver, n: int) -> dict[str, int]:
    for _ in range(200):  # bounded: 2 s at most
        s = rx.stats()
        if s["kernel_packets"] >= n:
            return s
        time.sleep(0.01)
    return rx.stats()


@pytest.mark.parametrize("version", [2, 3])
def test_drops_are_reported_when_the_ring_is_full(raw, version):
    """A ring of a few frames that nobody drains: the kernel's count of what it dropped
    comes out of stats(), and the frames that did fit are all taken afterwards."""
    sent = 64
    with PacketRingReceiver("lo", "127.0.0.1", 0, version=version, frames=8, frame_size=512,
                            block_size=4096) as rx:
        tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        for i in range(sent):
            tx.sendto(b"%05d" % i + b"x" * 200, ("127.0.0.1", rx.port))
        tx.close()
        s = _wait_kernel_packets(rx, sent)
        assert s["kernel_packets"] == sent
        assert s["drops"] > 0
        if version == 2:
            assert s["drops"] == sent - rx.frames
        else:
            assert s["freeze_q"] >= 1
        assert _poll_all(rx) == DEADLINE
        s = rx.stats()
    assert s["frames"] == sent - s["drops"]
    assert s["packets"] == s["frames"]  # the loop took every frame that fitted


def test_frames_bigger_than_a_ring_frame_are_counted_truncated(raw):
    with PacketRingReceiver("lo", "127.0.0.1", 0, frames=16, frame_size=256,
                            block_size=4096) as rx:
        tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        tx.sendto(b"y" * 1000, ("127.0.0.1", rx.port))
        tx.sendto(b"small", ("127.0.0.1", rx.port))
        tx.close()
        _wait_kernel_packets(rx, 2)
        _poll_all(rx)
        s = rx.stats()
    assert (s["truncated"], s["packets"], s["frames"]) == (1, 1, 2)


def test_warm_up_leaves_the_real_feed_in_the_ring(raw):
    handler = ItchHandler(BookStore(max_orders=64, errors="skip"), errors="skip")
    with PacketRingReceiver("lo", "127.0.0.1", 0, frames=16, block_size=4096 * 8) as rx:
        tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        tx.sendto(_mold([_adds(1, 1)], session="WARMED")[0], ("127.0.0.1", rx.port))
        tx.close()
        _wait_kernel_packets(rx, 1)
        PacketRingReceiver.warm_up(ItchFeed(handler).scratch().state)
        _poll_all(rx, handler)
        assert rx.stats()["packets"] == 1
    assert handler.books.stats()["live_orders"] == 1


def test_warm_up_without_a_usable_loopback(monkeypatch):
    """Where no ring can be opened on lo, the loops compile on anonymous memory instead."""
    import tickpath.wire.packet as packet

    def refuse(*args, **kw):
        raise OSError(errno.EADDRNOTAVAIL, "no lo here")

    monkeypatch.setattr(packet.PacketRingReceiver, "__init__", refuse)
    handler = ItchHandler(BookStore(max_orders=64, errors="skip"), errors="skip")
    packet.PacketRingReceiver.warm_up(ItchFeed(handler).scratch().state)


# ============================================================ synthetic rings (no kernel)

def _mold(groups: list[list[bytes]], session: str = "SYNTH", seq: int = 1) -> list[bytes]:
    """MoldUDP64 packets, one per group of ITCH messages, numbered from ``seq``."""
    out = []
    for msgs in groups:
        blocks = np.frombuffer(b"".join(len(m).to_bytes(2, "big") + m for m in msgs), np.uint8)
        pkt, bounds, _ = pack_packets(blocks, session, first_seq=seq)
        assert len(bounds) == 2
        out.append(pkt[:int(bounds[1])].tobytes())
        seq += len(msgs)
    return out


def _adds(first: int, n: int, locate: int = 1) -> list[bytes]:
    return [encode("A", stock_locate=locate, order_reference_number=first + i,
                   buy_sell_indicator="B" if i % 2 else "S", shares=100 + i, stock="SYN",
                   price=10_000 + (i % 7) * 100) for i in range(n)]


def _synthetic_frame(payload: bytes, **ip) -> bytes:
    return _frame(payload=payload, **ip)


def _put_v2(ring, i, frame_size, frame, pkttype=P.PACKET_MULTICAST, status=P.TP_STATUS_USER):
    base = i * frame_size
    mac = 80
    h = ring[base:base + P.TPACKET2_HDR_SIZE].view(P.TPACKET2_HDR)
    h[0] = (status, len(frame), len(frame), mac, mac + 14, 1_700_000_000 + i, 123, 0, 0)
    ring[base + P.TP2_SLL + P.SLL_PKTTYPE] = pkttype
    ring[base + mac:base + mac + len(frame)] = np.frombuffer(frame, np.uint8)


def _drive(rx_state, loop, ring, size, count, handler, session, lat):
    """Call a loop the way FeedListener does: settle refused events, call again."""
    reasons = np.zeros(F.N_REASONS, np.int64)
    feed = ItchFeed(handler, session, max_samples=lat.shape[0])
    codes = []
    for _ in range(20):
        code = loop(ring, ring.view(np.uint32), ring.view(np.uint16), size, count, 0, PORT, 0, 0,
                    feed.state, rx_state, reasons)
        codes.append(code)
        if code == SETTLE:
            feed.settle()
            continue
        if code in (DEADLINE, END_OF_SESSION):
            break
    return codes, reasons


def test_v2_loop_hands_frames_back_and_wraps():
    fs, nf = 256, 4
    ring = np.zeros(fs * nf, np.uint8)
    pkts = _mold([_adds(1, 2), _adds(3, 2), _adds(5, 1)])
    rx = np.zeros(N_RX, np.int64)
    rx[Rx.NEXT] = 2  # start near the end: frames 2, 3, then 0, 1
    _put_v2(ring, 2, fs, _synthetic_frame(pkts[0]))
    _put_v2(ring, 3, fs, _synthetic_frame(b"junk", frag=0x2000))
    _put_v2(ring, 0, fs, _synthetic_frame(pkts[1]), pkttype=P.PACKET_OUTGOING)
    _put_v2(ring, 1, fs, _synthetic_frame(pkts[2]))
    handler = ItchHandler(BookStore(max_orders=64, errors="skip"), errors="skip")
    session = MoldSession()
    codes, reasons = _drive(rx, poll_v2, ring, fs, nf, handler, session, np.zeros(8, np.int64))
    assert codes == [DEADLINE]
    assert all(ring[i * fs:i * fs + 4].view(np.uint32)[0] == P.TP_STATUS_KERNEL
               for i in range(nf))
    assert rx[Rx.NEXT] == 2 and rx[Rx.FRAMES] == 4 and rx[Rx.PACKETS] == 2
    assert rx[Rx.OUTGOING] == 1 and reasons[F.FRAGMENT] == 1
    assert rx[Rx.LAST_PACKET_NS] == (1_700_000_000 + 1) * 1_000_000_000 + 123
    # the outgoing copy of packet 2 was skipped: a gap of 2 messages; packet 3 is held until
    # the gap is recovered (no server here), so the books hold packet 1's 2 orders
    assert session.counters[Counter.GAPS] == 1 and session.counters[Counter.GAP_MESSAGES] == 2
    assert handler.books.stats()["live_orders"] == 2


def _put_v3_block(ring, b, block_size, frames, timed_out=False):
    base = b * block_size
    off = P.BLOCK_DESC_SIZE
    first = off
    for n, f in enumerate(frames):
        mac = 80
        step = P.tpacket_align(mac + len(f))
        h = ring[base + off:base + off + P.TPACKET3_HDR_SIZE].view(P.TPACKET3_HDR)
        h[0] = (step if n + 1 < len(frames) else 0, 1_700_000_000, n, len(f), len(f),
                P.TP_STATUS_USER, mac, mac + 14, 0, 0, 0)
        ring[base + off + P.TP3_SLL + P.SLL_PKTTYPE] = P.PACKET_MULTICAST
        ring[base + off + mac:base + off + mac + len(f)] = np.frombuffer(f, np.uint8)
        off += step
    d = ring[base:base + P.BLOCK_DESC_SIZE].view(P.BLOCK_DESC)
    d[0]["num_pkts"] = len(frames)
    d[0]["offset_to_first_pkt"] = first
    d[0]["block_status"] = P.TP_STATUS_USER | (P.TP_STATUS_BLK_TMO if timed_out else 0)


def test_v3_loop_walks_blocks_and_resumes_after_a_refused_event():
    """Three packets in one block, one in the next. The first packet adds more orders than
    the books have room for, so the loop stops mid-block (SETTLE), the owner grows the table,
    and the loop resumes at the next packet of the same block."""
    bs, nb = 4096, 3
    ring = np.zeros(bs * nb, np.uint8)
    pkts = _mold([_adds(1, 30), _adds(31, 3), _adds(34, 2), _adds(36, 4)])
    _put_v3_block(ring, 0, bs, [_synthetic_frame(p) for p in pkts[:3]])
    _put_v3_block(ring, 1, bs, [_synthetic_frame(pkts[3])], timed_out=True)
    handler = ItchHandler(BookStore(max_orders=1024, initial_orders=16, errors="skip"),
                          errors="skip")
    session = MoldSession()
    rx = np.zeros(N_RX, np.int64)
    codes, reasons = _drive(rx, poll_v3, ring, bs, nb, handler, session, np.zeros(8, np.int64))
    assert codes[0] == SETTLE and codes[-1] == DEADLINE
    assert rx[Rx.PACKETS] == 4 and rx[Rx.BLOCKS] == 2 and rx[Rx.BLOCKS_TIMED_OUT] == 1
    assert rx[Rx.NEXT] == 2 and rx[Rx.BATCH] == 0
    for b in range(2):
        assert ring[b * bs:b * bs + P.BLOCK_DESC_SIZE].view(P.BLOCK_DESC)[0]["block_status"] == 0
    assert handler.books.stats()["live_orders"] == 39 and session.counters[Counter.GAPS] == 0
    assert not reasons.any()


def test_ring_loops_run_as_plain_python():
    """DESIGN.md: kernels run under NUMBA_DISABLE_JIT=1 too (steppable in a debugger); the
    synthetic-ring tests again, in a subprocess (numba reads the variable at import)."""
    here = os.path.abspath(__file__)
    env = dict(os.environ, NUMBA_DISABLE_JIT="1")
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider",
         "-W", "ignore::RuntimeWarning", "-k", "v2_loop or v3_loop or warm_up_without", here],
        env=env, capture_output=True, text=True, timeout=300,
        cwd=os.path.dirname(os.path.dirname(os.path.dirname(here))))
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "3 passed" in proc.stdout


# ============================================================ over a veth pair (netns)

_CLONE_NEWNET = 0x40000000


@contextlib.contextmanager
def inside(ns: str):
    """Run the body in network namespace ``ns`` (this thread only); sockets made there stay
    there after it ends."""
    libc = ctypes.CDLL(None, use_errno=True)
    here = os.open("/proc/thread-self/ns/net", os.O_RDONLY)
    there = os.open(f"/run/netns/{ns}", os.O_RDONLY)
    try:
        if libc.setns(there, _CLONE_NEWNET) != 0:
            raise OSError(ctypes.get_errno(), f"setns into {ns}")
        yield
    finally:
        libc.setns(here, _CLONE_NEWNET)
        os.close(here)
        os.close(there)


@pytest.fixture
def veth():
    try:
        netns_check()
    except NetnsUnavailable as e:
        pytest.skip(str(e))
    with veth_pair(subnet="10.198.0") as pair:
        yield pair


@pytest.mark.net
@pytest.mark.parametrize("transport", ["packet", "packet:v3"])
def test_feed_over_veth_books_equal_the_simulator(veth, transport):
    sim = Simulator(symbols=20, messages=20_000, seed=5)
    blocks = sim.blocks()
    expected = sim.books()
    handler = ItchHandler(BookStore(max_orders=1 << 16, errors="skip"), errors="skip")
    handler.warm_up()
    with inside(veth.host):
        rx = open_receiver(transport, GROUP, PORT, iface_ip=veth.host_ip)
    with inside(veth.exchange):
        pub = UdpPublisher(GROUP, PORT, session="TPVETH", iface_ip=veth.exchange_ip)
    with rx, pub:
        assert rx.iface == veth.host_if and rx.version == (3 if transport.endswith("v3") else 2)
        rx.warm_up(ItchFeed(handler).scratch().state, rx.version)
        pub.warm_up()
        ready = threading.Event()

        def publish() -> None:
            ready.wait(30)
            pub.publish([blocks], rate=50_000)
            pub.end_session()

        t = threading.Thread(target=publish, daemon=True)
        t.start()
        rep = FeedListener(rx, handler).run(duration=60, idle_timeout=5, on_ready=ready.set)
        t.join(30)
        stats = rx.stats()
    got = {b["locate"]: b for b in handler.books.books()}
    assert rep.ended and rep.session["gaps"] == 0 and rep.messages == sim.messages_generated
    assert got == expected
    assert stats["drops"] == 0 and stats["malformed"] == 0 and stats["truncated"] == 0
    assert stats["packets"] == rep.session["packets"]
    # the receive stamp is the kernel's, on the venue's clock (CLOCK_REALTIME): every sample
    # has one, and it comes before the message was in the books
    assert rep.latency_ns.size > 0 and np.all(rep.kernel_ns > 0)
    assert np.all(rep.kernel_ns <= rep.latency_ns)
    if rx.version == 3:
        assert stats["blocks"] > 0


@pytest.mark.net
def test_malformed_frames_are_counted_by_reason_and_never_reach_the_books(veth):
    """Frames injected with a raw socket in the exchange namespace. Each carries a valid
    MoldUDP64 packet (an add order) behind headers that are wrong; none may reach the books.
    One receiver has the feed filter on, one has it off (every frame enters its ring)."""
    good = _mold([_adds(1, 1)], session="INJECT")[0]
    bad = {
        F.Reason.FRAGMENT: _frame(payload=good, frag=0x2000),
        F.Reason.SHORT_IPV4: _frame(payload=good, total=20 + 8 + len(good) + 40),
        F.Reason.BAD_IPV4: _frame(payload=good, ver_ihl=0x65),
    }
    f = _frame(payload=good)
    bad[F.Reason.BAD_UDP_LENGTH] = f[:38] + (8 + len(good) + 1).to_bytes(2, "big") + f[40:]
    unfiltered_only = {
        F.Reason.NOT_IPV4: f[:12] + b"\x86\xdd" + f[14:],
        F.Reason.NOT_UDP: _frame(payload=good, proto=6),
        F.Reason.WRONG_PORT: _frame(payload=good, port=PORT + 1),
        F.Reason.WRONG_ADDRESS: _frame(payload=good, dst="233.54.12.9"),
    }
    with inside(veth.host):
        filtered = PacketRingReceiver(veth.host_if, GROUP, PORT, iface_ip=veth.host_ip,
                                      frames=64, block_size=4096 * 4)
        unfiltered = PacketRingReceiver(veth.host_if, GROUP, PORT, iface_ip=veth.host_ip,
                                        frames=64, block_size=4096 * 4, bpf=False)
    with inside(veth.exchange):
        tx = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
        tx.bind((veth.exchange_if, 0))
    handlers = {}
    with filtered, unfiltered, tx:
        for frame in [*bad.values(), *unfiltered_only.values()]:
            tx.send(frame)
        for name, rx in (("filtered", filtered), ("unfiltered", unfiltered)):
            _wait_kernel_packets(rx, len(bad) if rx is filtered else len(bad) + 4)
            handlers[name] = (ItchHandler(BookStore(max_orders=64, errors="skip"),
                                          errors="skip"), MoldSession())
            _poll_all(rx, *handlers[name])
        before = {n: rx.stats() for n, rx in (("filtered", filtered),
                                               ("unfiltered", unfiltered))}
        tx.send(f)  # the same packet in good headers
        for name, rx in (("filtered", filtered), ("unfiltered", unfiltered)):
            _wait_kernel_packets(rx, 1)
            _poll_all(rx, *handlers[name])
        after = {n: rx.stats() for n, rx in (("filtered", filtered),
                                              ("unfiltered", unfiltered))}
    fs, us = before["filtered"], before["unfiltered"]
    assert fs["kernel_packets"] == len(bad)  # the filter let in only frames to the feed's port
    for reason in bad:
        assert fs[reason.name.lower()] == 1 and us[reason.name.lower()] == 1
    for reason in unfiltered_only:
        assert fs[reason.name.lower()] == 0 and us[reason.name.lower()] >= 1
    for name, (handler, session) in handlers.items():
        assert before[name]["packets"] == 0
        assert after[name]["packets"] == 1, name
        assert handler.books.stats()["live_orders"] == 1, name  # only the good frame's order
        assert session.counters[Counter.PACKETS] == 1


@pytest.mark.net
def test_tagged_frames_reach_the_ring(veth):
    """One 802.1Q tag: the kernel moves it out of the frame (tp_vlan_tci) before the ring
    sees it. 802.1ad + 802.1Q: the outer tag is moved, the inner stays in the frame and the
    filter's tagged branch passes it. Both are parsed to their payload."""
    good = _mold([_adds(1, 1), _adds(2, 1)], session="TAGGED")
    with inside(veth.host):
        rx = PacketRingReceiver(veth.host_if, GROUP, PORT, iface_ip=veth.host_ip, frames=64,
                                block_size=4096 * 4)
    with inside(veth.exchange):
        tx = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
        tx.bind((veth.exchange_if, 0))
    handler = ItchHandler(BookStore(max_orders=64, errors="skip"), errors="skip")
    with rx, tx:
        tx.send(_frame(payload=good[0], vlan=5))
        tx.send(_qinq(_frame(payload=good[1], vlan=6)))
        tx.send(_qinq(_frame(payload=good[1], vlan=6, port=PORT + 1)))
        _wait_kernel_packets(rx, 2)
        _poll_all(rx, handler)
        s = rx.stats()
    assert s["kernel_packets"] == 2 and s["packets"] == 2 and s["malformed"] == 0
    assert handler.books.stats()["live_orders"] == 2
