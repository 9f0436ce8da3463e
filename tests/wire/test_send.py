"""The senders on loopback and over socket pairs: every packet arrives byte-exact and in order,
stamped with the send time; sendmmsg batches; a full queue is waited out, never dropped; the
TX ring's frames match an independent frame builder and tshark's dissectors."""

from __future__ import annotations

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

from tickpath.feed.moldudp64 import HEADER_LEN, pack_packets
from tickpath.telemetry.feedtime import FeedTime
from tickpath.venue import Simulator
from tickpath.venue.publisher import UdpPublisher
from tickpath.wire import layout as L
from tickpath.wire.send import SendmmsgSender, SendtoSender, SocketSender, Tx
from tickpath.wire.stamping import NO_STAMP

SESSION = "TPSEND"
COMPILED = ("sendto", "sendmmsg")


def _day(messages: int = 3000, symbols: int = 10) -> np.ndarray:
    return Simulator(symbols=symbols, messages=messages, seed=3).blocks()


def _receiver(rcvbuf: int = 32 << 20) -> socket.socket:
    rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        rx.setsockopt(socket.SOL_SOCKET, L.SO_RCVBUFFORCE, rcvbuf)
    except OSError:
        rx.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    rx.bind(("127.0.0.1", 0))
    rx.settimeout(5)
    return rx


def _stamps(packet: bytes) -> list[int]:
    """The ITCH timestamps of every message in a MoldUDP64 packet."""
    out, p = [], HEADER_LEN
    while p + 2 <= len(packet):
        n = int.from_bytes(packet[p:p + 2], "big")
        out.append(int.from_bytes(packet[p + 2 + 5:p + 2 + 11], "big"))
        p += 2 + n
    return out


def _unstamped(packet: bytes) -> bytes:
    """The packet with every message's timestamp zeroed."""
    b, p = bytearray(packet), HEADER_LEN
    while p + 2 <= len(b):
        n = int.from_bytes(b[p:p + 2], "big")
        b[p + 2 + 5:p + 2 + 11] = bytes(6)
        p += 2 + n
    return bytes(b)


def _expected(blocks: np.ndarray, max_payload: int) -> list[bytes]:
    out, bounds, counts = pack_packets(blocks, SESSION, 1, max_payload)
    return [out[bounds[i]:bounds[i + 1]].tobytes() for i in range(counts.shape[0])]


_NEW_YORK = FeedTime()  # the venue stamps ITCH time: ns since midnight US/Eastern


def _within(stamp: int, t0: int, t1: int) -> bool:
    """``stamp`` (ns since midnight in New York) lies between the clock readings t0 and t1."""
    return t0 <= _NEW_YORK.to_utc(stamp, t0) <= t1


@pytest.mark.parametrize("sender", ["socket", *COMPILED])
@pytest.mark.parametrize("rate", [None, 200_000], ids=["burst", "paced"])
def test_every_packet_arrives_byte_exact_in_order_and_stamped(sender, rate):
    blocks = _day()
    want = _expected(blocks, 200)
    with _receiver() as rx, UdpPublisher("127.0.0.1", rx.getsockname()[1], session=SESSION,
                                         max_payload=200, sender=sender) as pub:
        pub.warm_up()
        t0 = time.clock_gettime_ns(time.CLOCK_REALTIME)
        rep = pub.publish([blocks], rate=rate)
        t1 = time.clock_gettime_ns(time.CLOCK_REALTIME)
        pub.end_session(repeat=1)
        got = [rx.recv(2048) for _ in range(len(want) + 1)]
        stats = pub.stats()
    assert rep.sender == sender and rep.packets == len(want)
    assert rep.messages == int(Simulator(symbols=10, messages=3000, seed=3).messages)
    assert [_unstamped(g) for g in got[:-1]] == [_unstamped(w) for w in want]
    assert got[-1][-2:] == b"\xff\xff"  # end of session after everything else
    for g in got[:-1]:
        stamps = _stamps(g)
        assert len(set(stamps)) == 1 and _within(stamps[0], t0, t1)  # one send time a packet
    assert stats["packets"] == len(want) + 1 and stats["messages"] == rep.messages
    if sender == "sendmmsg":  # bursts go 64 a call; paced, one packet a call
        assert stats["calls"] == (-(-len(want) // 64) if rate is None else len(want)) + 1
    else:
        assert stats["calls"] == len(want) + 1


def test_stamps_follow_send_order_when_paced():
    blocks = _day(2000)
    with _receiver() as rx, UdpPublisher("127.0.0.1", rx.getsockname()[1], session=SESSION,
                                         max_payload=64, sender="sendto") as pub:
        pub.publish([blocks], rate=100_000)
        n = pub.packets
        stamps = [_stamps(rx.recv(2048))[0] for _ in range(n)]
    assert stamps == sorted(stamps) and len(set(stamps)) == n


def test_heartbeat_and_restamp_off_send_bytes_untouched():
    blocks = _day(500)
    want = _expected(blocks, 1400)
    with _receiver() as rx, UdpPublisher("127.0.0.1", rx.getsockname()[1], session=SESSION,
                                         sender="sendmmsg") as pub:
        pub.heartbeat()
        pub.publish([blocks], restamp=False)
        hb = rx.recv(2048)
        got = [rx.recv(2048) for _ in want]
    assert hb[:10] == SESSION.ljust(10).encode() and hb[18:20] == b"\x00\x00"
    assert int.from_bytes(hb[10:18], "big") == 1
    assert got == want


def _pair() -> tuple[socket.socket, socket.socket]:
    """A connected datagram socket pair whose receive queue fills after a few datagrams
    (net.unix.max_dgram_qlen), so a sender meets EAGAIN for sure."""
    a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_DGRAM)
    a.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    return a, b


def _packets(n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    blocks = _day(n)
    out, bounds, counts = pack_packets(blocks, SESSION, 1, 64)
    return out, bounds, counts


@pytest.mark.parametrize("cls", [SocketSender, SendtoSender, SendmmsgSender])
def test_a_full_queue_is_waited_out_never_dropped(cls):
    out, bounds, counts = _packets(400)
    want = [out[bounds[i]:bounds[i + 1]].tobytes() for i in range(counts.shape[0])]
    a, b = _pair()
    if cls is SocketSender:
        a.setblocking(False)  # the baseline meets the full queue as BlockingIOError
    got: list[bytes] = []

    def drain() -> None:
        time.sleep(0.2)  # let the sender fill the queue first
        b.settimeout(5)
        while len(got) < len(want):
            got.append(b.recv(2048))

    t = threading.Thread(target=drain)
    t.start()
    with cls(a, None) as tx:
        tx.warm_up()
        tx.send(out, bounds, counts, counts.shape[0], None, NO_STAMP)
        t.join(30)
        assert tx.tx[Tx.WAITS] > 0 and tx.tx[Tx.PACKETS] == len(want)
    b.close()
    assert got == want


@pytest.mark.parametrize("cls", [SocketSender, SendtoSender, SendmmsgSender])
def test_a_peer_that_is_gone_stops_the_run_with_the_reason(cls):
    out, bounds, counts = _packets(300)
    a, b = _pair()
    b.close()
    with cls(a, None) as tx, pytest.raises(OSError, match="ECONNREFUSED|ENOTCONN") as e:
        tx.send(out, bounds, counts, counts.shape[0], None, NO_STAMP)
    assert f"{cls.name}: stopped after 0 of {counts.shape[0]} packets" in str(e.value)


def test_unknown_sender_is_refused_by_name():
    with pytest.raises(ValueError, match="unknown sender 'fast'.*sendmmsg"):
        UdpPublisher("127.0.0.1", 9, sender="fast")


def test_packet_sender_refuses_loopback_127_with_what_to_use():
    if os.geteuid() != 0:
        with pytest.raises(PermissionError, match="CAP_NET_RAW"):
            UdpPublisher("127.0.0.1", 9, sender="packet")
        return
    with pytest.raises(OSError, match="sendmmsg sender on loopback"):
        UdpPublisher("127.0.0.1", 9, sender="packet")


NOJIT = textwrap.dedent("""
    import socket, numpy as np
    from tickpath.feed.moldudp64 import pack_packets
    from tickpath.venue import Simulator
    from tickpath.wire.send import SendmmsgSender, SendtoSender
    from tickpath.venue.stamping import itch_stamper
    from tickpath.wire.packet_tx import build_frame
    from tickpath.wire.pcap import udp_frame
    out, bounds, counts = pack_packets(Simulator(symbols=3, messages=60, seed=1).blocks(),
                                       "NOJIT", 1, 64)
    n = counts.shape[0]
    for cls in (SendtoSender, SendmmsgSender):
        rx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        rx.bind(("127.0.0.1", 0))
        rx.settimeout(5)
        with cls(socket.socket(socket.AF_INET, socket.SOCK_DGRAM), rx.getsockname()) as tx:
            tx.send(out, bounds, counts, n, 1e6, itch_stamper())
        got = [rx.recv(2048) for _ in range(n)]
        assert [len(g) for g in got] == list(np.diff(bounds)), cls
    hdr = np.frombuffer(udp_frame(b"", "10.0.0.1", "10.0.0.2", 1, 2, udp_checksum=False)[:42],
                        np.uint8).copy()
    hdr[16:18] = 0; hdr[24:26] = 0; hdr[38:40] = 0
    ring = np.zeros(256, np.uint8)
    k = build_frame(ring, 0, hdr, out, 0, int(bounds[1]), 0)
    assert ring[:k].tobytes() == udp_frame(out[:bounds[1]], "10.0.0.1", "10.0.0.2", 1, 2,
                                           udp_checksum=False)
    print("ok")
""")


def test_kernels_run_without_the_jit():
    env = {**os.environ, "NUMBA_DISABLE_JIT": "1"}
    r = subprocess.run([sys.executable, "-c", NOJIT], env=env, capture_output=True, text=True,
                       timeout=120)
    assert r.returncode == 0 and r.stdout.strip() == "ok", r.stderr


# --------------------------------------------------------------- the TX ring's frames


def _template(src: str, dst: str, sport: int, dport: int) -> np.ndarray:
    from tickpath.wire.packet_tx import HEADERS
    from tickpath.wire.pcap import udp_frame

    hdr = np.frombuffer(udp_frame(b"", src, dst, sport, dport, udp_checksum=False)[:HEADERS],
                        np.uint8).copy()
    hdr[16:18] = 0  # IPv4 total length, identification, checksum; UDP length: per packet
    hdr[24:26] = 0
    hdr[38:40] = 0
    return hdr


def test_tx_frames_equal_an_independent_frame_builder():
    from tickpath.wire.packet_tx import build_frame
    from tickpath.wire.pcap import udp_frame

    out, bounds, counts = _packets(300)
    hdr = _template("10.1.2.3", "233.54.12.1", 40000, 26400)
    ring = np.zeros(2048, np.uint8)
    for i in range(counts.shape[0]):
        a, b = int(bounds[i]), int(bounds[i + 1])
        n = build_frame(ring, 32, hdr, out, a, b - a, i)
        assert ring[32:32 + n].tobytes() == udp_frame(out[a:b], "10.1.2.3", "233.54.12.1",
                                                      40000, 26400, ident=i,
                                                      udp_checksum=False)


@pytest.mark.referee
def test_tx_frames_dissect_cleanly_in_tshark(tshark, tmp_path):
    from tickpath.wire.packet_tx import build_frame
    from tickpath.wire.pcap import PcapWriter

    out, bounds, counts = _packets(300)
    hdr = _template("10.1.2.3", "233.54.12.1", 40000, 26400)
    ring = np.zeros(2048, np.uint8)
    path = tmp_path / "tx.pcap"
    with PcapWriter(path) as w:
        for i in range(counts.shape[0]):
            a, b = int(bounds[i]), int(bounds[i + 1])
            n = build_frame(ring, 0, hdr, out, a, b - a, i)
            w.write(ring[:n].copy(), 1_700_000_000_000_000_000 + i)
    r = subprocess.run([tshark, "-n", "-r", str(path), "-o", "ip.check_checksum:TRUE",
                        "-d", "udp.port==26400,moldudp64", "-T", "fields", "-E",
                        "separator=|", "-e", "ip.checksum.status", "-e", "udp.length",
                        "-e", "moldudp64.session", "-e", "moldudp64.sequence",
                        "-e", "moldudp64.count", "-e", "_ws.expert"],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    rows = [line.split("|") for line in r.stdout.splitlines()]
    assert len(rows) == counts.shape[0]
    seq = 1
    for i, (status, ulen, session, sequence, count, expert) in enumerate(rows):
        assert status == "1" and not expert  # checksum good, nothing malformed
        assert int(ulen) == 8 + int(bounds[i + 1] - bounds[i])
        assert session.strip() == SESSION and int(sequence) == seq
        assert int(count) == counts[i]
        seq += int(counts[i])


C = r"""
#include <poll.h>
#include <stddef.h>
#include <stdio.h>
#include <netinet/in.h>
#include <sys/socket.h>
int main(void) {
  printf("AF_INET %d\nSOCKADDR_IN_SIZE %zu\nSIN_FAMILY %zu\nSIN_PORT %zu\nSIN_ADDR %zu\n",
         AF_INET, sizeof(struct sockaddr_in), offsetof(struct sockaddr_in, sin_family),
         offsetof(struct sockaddr_in, sin_port), offsetof(struct sockaddr_in, sin_addr));
  printf("POLLFD_SIZE %zu\nPFD_FD %zu\nPFD_EVENTS %zu\nPFD_REVENTS %zu\nPOLLOUT %d\n",
         sizeof(struct pollfd), offsetof(struct pollfd, fd), offsetof(struct pollfd, events),
         offsetof(struct pollfd, revents), POLLOUT);
  printf("SO_SNDBUFFORCE %d\n", SO_SNDBUFFORCE);
  return 0;
}
"""


def test_send_layouts_match_system_headers(tmp_path):
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler to read the system headers with")
    (tmp_path / "s.c").write_text(C)
    subprocess.run([cc, str(tmp_path / "s.c"), "-o", str(tmp_path / "s")], check=True,
                   capture_output=True)
    out = subprocess.run([str(tmp_path / "s")], check=True, capture_output=True,
                         text=True).stdout
    got = dict(line.split() for line in out.splitlines())
    assert {k: getattr(L, k) for k in got} == {k: int(v) for k, v in got.items()}
    assert len(got) == 11
