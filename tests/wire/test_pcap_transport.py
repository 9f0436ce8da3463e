"""The pcap transport (tickpath.wire.pcapfile): captures replayed through the feed stage.

Referees: the simulator's own books; the streaming reader and its pure-Python frame parser
(tickpath.wire.pcap.read_udp) for every frame the compiled walk hands on; the Ethernet
parser (frames.udp_payload_at) for the other link types; the Python receiver path for the
compiled replay loop (the same counters and books). Pacing is checked by order (never before
the recorded offset), never by speed.
"""

from __future__ import annotations

import io
import os
import struct
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from tickpath import BookStore, ItchHandler, Simulator
from tickpath.apps.listener import FeedListener
from tickpath.codec.itch50.message import encode
from tickpath.feed.itch import ItchFeed
from tickpath.feed.moldudp64 import Counter, MoldSession, pack_packets
from tickpath.wire import frames as F
from tickpath.wire import pcapwalk as W
from tickpath.wire.handler import END_OF_SESSION, SETTLE
from tickpath.wire.pcap import (
    LINKTYPE_ETHERNET,
    LINKTYPE_IPV4,
    LINKTYPE_LINUX_SLL,
    LINKTYPE_LINUX_SLL2,
    LINKTYPE_NULL,
    LINKTYPE_RAW,
    PcapngWriter,
    PcapWriter,
    read_records,
    read_udp,
    udp_frame,
    udp_payload,
)
from tickpath.wire.pcapfile import PcapReceiver, parse_spec
from tickpath.wire.pcapwalk import DEADLINE, END_OF_FILE, Rx
from tickpath.wire.transports import TRANSPORTS, check, open_receiver

GROUP, PORT = "233.54.12.1", 26400
MESSAGES, SYMBOLS, SEED = 20_000, 20, 11
NS = 1_000_000_000


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    """One simulated session as pcap and as pcapng (the same records), and its books."""
    d = tmp_path_factory.mktemp("session")
    sim = Simulator(symbols=SYMBOLS, messages=MESSAGES, seed=SEED)
    sim.write_pcap(d / "s.pcap", dst=(GROUP, PORT))
    with PcapngWriter(d / "s.pcapng") as w:
        for rec in read_records(d / "s.pcap"):
            w.write(rec.frame, rec.ts_ns)
    return d / "s.pcap", d / "s.pcapng", sim.books()


@pytest.fixture(scope="module")
def retimed(session, tmp_path_factory):
    """The session restamped for a paced replay that takes well under a second: 10 µs
    apart, with one gap of 350 ms in the middle (longer than the listener's tick, so the
    compiled loop hands back at its deadline while it waits), as pcap and pcapng."""
    d = tmp_path_factory.mktemp("retimed")
    recs = list(read_records(session[0]))
    out = (d / "r.pcap", d / "r.pcapng")
    with PcapWriter(out[0]) as a, PcapngWriter(out[1]) as b:
        for k, rec in enumerate(recs):
            ts = 1_700_000_000 * NS + k * 10_000 + (350_000_000 if k >= len(recs) // 2 else 0)
            a.write(rec.frame, ts)
            b.write(rec.frame, ts)
    return out


def _handler() -> ItchHandler:
    return ItchHandler(BookStore(max_orders=1 << 16, errors="skip"), errors="skip")


def _replay(rx, handler=None):
    handler = handler or _handler()
    rep = FeedListener(rx, handler).run(duration=120, idle_timeout=rx.idle_timeout_s)
    return {b["locate"]: b for b in handler.books.books()}, rep


def _drain(rx) -> list[tuple[int, bytes]]:
    out = []
    for _ in range(1_000_000):
        got = rx.recv()
        if got is None:
            if rx.exhausted:
                return out
            continue
        out.append((got[1], got[0].tobytes()))
    raise AssertionError("the receiver never ran dry")


# pcapng blocks built by hand, in either byte order ``o`` ("<" or ">")


def _pad(b: bytes) -> bytes:
    return b + b"\x00" * (-len(b) % 4)


def ng_block(o: str, btype: int, body: bytes) -> bytes:
    body = _pad(body)
    return struct.pack(o + "II", btype, 12 + len(body)) + body + struct.pack(o + "I",
                                                                            12 + len(body))


def ng_opt(o: str, code: int, value: bytes) -> bytes:
    return struct.pack(o + "HH", code, len(value)) + _pad(value)


def ng_end(o: str) -> bytes:
    return struct.pack(o + "HH", 0, 0)


def shb(o: str) -> bytes:
    return ng_block(o, 0x0A0D0D0A, struct.pack(o + "IHHq", 0x1A2B3C4D, 1, 0, -1))


def idb(o: str, linktype: int, snaplen: int = 0, options: bytes = b"") -> bytes:
    return ng_block(o, 1, struct.pack(o + "HHI", linktype, 0, snaplen) + options)


def epb(o: str, iface: int, ts: int, data: bytes) -> bytes:
    head = struct.pack(o + "IIIII", iface, ts >> 32, ts & 0xFFFFFFFF, len(data), len(data))
    return ng_block(o, 6, head + data)


# ------------------------------------------------------------------------------ books


@pytest.mark.parametrize("kind", ["pcap", "pcapng"])
def test_session_replayed_gives_the_simulators_books(session, kind):
    path = session[0] if kind == "pcap" else session[1]
    with open_receiver(f"pcap:{path}", GROUP, PORT) as rx:
        assert rx.compiled  # FeedListener drives the compiled replay loop
        got, rep = _replay(rx)
        stats = rx.stats()
    assert got == session[2]
    assert rep.messages == MESSAGES and rep.ended and rep.session["gaps"] == 0
    n = sum(1 for _ in read_records(path))
    assert stats["packets"] == stats["frames"] == n
    assert stats["bytes"] == sum(len(p) for _, p, _ in read_udp(path))
    assert stats["malformed"] == stats["other_flows"] == 0


@pytest.mark.parametrize("kind", [0, 1], ids=["pcap", "pcapng"])
def test_recorded_pace_through_the_compiled_loop_gives_the_simulators_books(session, retimed,
                                                                            kind):
    with open_receiver(f"pcap:{retimed[kind]}?pace=recorded", GROUP, PORT) as rx:
        got, rep = _replay(rx)
        stats = rx.stats()
    assert got == session[2]
    assert rep.messages == MESSAGES and rep.ended and rep.session["gaps"] == 0
    assert stats["packets"] == stats["frames"] == rx.feed_frames
    assert stats["empty_polls"] >= 1  # the recorded gap was waited out, handing back meanwhile


def test_frames_are_views_into_the_mapping(session):
    with PcapReceiver(session[0], GROUP, PORT) as rx:
        view, ts = rx.recv()
        assert view.base is not None and np.shares_memory(view, rx.buf)
        assert view.flags.writeable  # a private mapping: the compiled stage's usual type
        first = next(read_udp(session[0]))
        assert (ts, view.tobytes()) == (first[0], bytes(first[1]))
        held = view
    assert held.tobytes() == bytes(first[1])  # a view held past close keeps the mapping


def test_the_walk_hands_on_what_the_reader_finds(session):
    for path in session[:2]:
        with PcapReceiver(path) as rx:  # any address, any port
            got = _drain(rx)
        assert got == [(ts, bytes(p)) for ts, p, _ in read_udp(path)]


# ------------------------------------------------------------------------------ pace


def _paced_file(path, offsets_ns, base=1_700_000_000 * NS):
    with PcapWriter(path) as w:
        for i, off in enumerate(offsets_ns):
            w.write(udp_frame(i.to_bytes(4, "big"), "10.0.0.1", GROUP, 1, PORT), base + off)


class VirtualClock:
    """Stands in for the receiver's ``time`` module: CLOCK_MONOTONIC moves only when the
    receiver sleeps, or by a nanosecond a read (its spin loop), so when a datagram is handed
    on is a fact of the schedule, not of how fast this machine runs."""

    def __init__(self) -> None:
        self.now = 1_000_000_000

    def monotonic_ns(self) -> int:
        self.now += 1
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += int(seconds * 1e9)


@pytest.mark.parametrize("pace, speed", [("recorded", 1.0), ("4x", 4.0), ("0.5x", 0.5)])
def test_paced_release_never_runs_ahead_and_keeps_order(tmp_path, monkeypatch, pace, speed):
    from tickpath.wire import pcapfile

    clock = VirtualClock()
    monkeypatch.setattr(pcapfile, "time", clock)
    rng = np.random.default_rng(1)
    gaps = rng.integers(0, 2_000_000, 40)  # up to 2 ms apart; one stamp going backwards
    offsets = np.cumsum(gaps)
    offsets[20] = offsets[19] - 500_000
    path = tmp_path / "paced.pcap"
    _paced_file(path, [int(o) for o in offsets])
    with PcapReceiver(path, GROUP, PORT, pace=pace) as rx:
        rx.settimeout(None)
        seen = []
        for _ in offsets:
            view, _ts = rx.recv()
            seen.append((int.from_bytes(view.tobytes(), "big"), clock.now))
        assert rx.recv() is None and rx.exhausted
    assert [i for i, _ in seen] == list(range(len(offsets)))  # file order
    start = seen[0][1]
    due = np.maximum.accumulate(offsets - offsets[0])  # a late stamp goes at once, in order
    for (_, t), d in zip(seen, due, strict=True):
        assert int(d / speed) <= t - start <= int(d / speed) + 1_000  # on time, never early


def test_paced_recv_gives_none_while_nothing_is_due(tmp_path):
    path = tmp_path / "gap.pcap"
    _paced_file(path, [0, 30_000_000])  # the second frame 30 ms after the first
    with PcapReceiver(path, GROUP, PORT, pace="recorded") as rx:
        rx.settimeout(0.001)
        assert rx.recv() is not None
        nones = 0
        for _ in range(10_000):
            got = rx.recv()
            if got is not None:
                break
            nones += 1
        assert got is not None and int.from_bytes(got[0].tobytes(), "big") == 1
        assert nones >= 1  # it waited in timeouts, handing back to the caller
        assert rx.stats()["packets"] == 2


def test_fast_pace_never_waits(tmp_path):
    path = tmp_path / "gap.pcap"
    _paced_file(path, [0, 3600 * NS, 7200 * NS])  # hours apart
    with PcapReceiver(path, GROUP, PORT) as rx:
        rx.settimeout(0)
        got = [rx.recv() for _ in range(3)]
        assert all(g is not None for g in got)
        assert [g[1] for g in got] == [1_700_000_000 * NS + k * 3600 * NS for k in range(3)]
        assert rx.recv() is None and rx.exhausted
        assert rx.idle_timeout_s == 1.0
    with PcapReceiver(path, GROUP, PORT, pace="2x") as rx:
        assert rx.idle_timeout_s == pytest.approx(1801.0)  # the longest paced gap, + 1 s


# ------------------------------------------------------ the compiled loop, synthetic captures
# Small captures built here (no simulator), so these also run as plain Python (see
# test_synthetic_loop_runs_as_plain_python).

BASE_NS = 1_700_000_000 * NS


def _adds(first: int, n: int) -> list[bytes]:
    """``n`` add-order messages with ITCH timestamp 0 (so a latency sample, send stamp 0,
    is the time of day the datagram reached the books)."""
    return [encode("A", stock_locate=1, order_reference_number=first + i,
                   buy_sell_indicator="B" if i % 2 else "S", shares=100 + i, stock="SYN",
                   price=10_000 + (i % 7) * 100) for i in range(n)]


def _synthetic(path, groups: list[list[bytes]], offsets_ns, ng: bool = False) -> None:
    """A capture of MoldUDP64 packets, one per group of messages, stamped BASE_NS + offset;
    no end-of-session packet."""
    seq = 1
    with (PcapngWriter if ng else PcapWriter)(path) as w:
        for msgs, off in zip(groups, offsets_ns, strict=True):
            blocks = np.frombuffer(b"".join(len(m).to_bytes(2, "big") + m for m in msgs),
                                   np.uint8)
            pkt, bounds, _ = pack_packets(blocks, "SYNTH", first_seq=seq)
            w.write(udp_frame(pkt[:int(bounds[1])].tobytes(), "10.0.0.1", GROUP, 1, PORT),
                    BASE_NS + int(off))
            seq += len(msgs)


def _drive(rx, handler, session, lat, deadline_s: float = 60.0) -> list[int]:
    """Call the loop as FeedListener does (settle a refused event, call again) until the end
    of the file; the exit codes seen."""
    feed = ItchFeed(handler, session, max_samples=lat.shape[0])
    codes = []
    for _ in range(10_000):
        deadline = time.clock_gettime_ns(time.CLOCK_REALTIME) + int(deadline_s * NS)
        code = rx.poll(feed.state, deadline, 0)
        codes.append(code)
        if code == SETTLE:
            feed.settle()
        elif code == END_OF_FILE:
            return codes
    raise AssertionError(f"the loop never reached the end of the file: {codes[-10:]}")


@pytest.mark.parametrize("ng", [False, True], ids=["pcap", "pcapng"])
def test_synthetic_refused_event_resumes(tmp_path, ng):
    """The first packet adds more orders than the books have room for: the loop stops
    (SETTLE) inside a batch of the index, the owner grows the table, and the loop goes on at
    the next packet; index batches of 3 rows make it cross refills too."""
    path = tmp_path / ("r.pcapng" if ng else "r.pcap")
    _synthetic(path, [_adds(1, 30), _adds(31, 3), _adds(34, 2), _adds(36, 4), _adds(40, 1)],
               [0, 1, 2, 3, 4], ng)
    handler = ItchHandler(BookStore(max_orders=1024, initial_orders=16, errors="skip"),
                          errors="skip")
    session = MoldSession()
    with PcapReceiver(path, GROUP, PORT, batch=3) as rx:
        codes = _drive(rx, handler, session, np.zeros(16, np.int64))
        stats = rx.stats()
        assert rx.exhausted
    assert codes[0] == SETTLE and codes[-1] == END_OF_FILE and END_OF_SESSION not in codes
    assert handler.books.stats()["live_orders"] == 40
    assert session.counters[Counter.GAPS] == 0 and session.counters[Counter.MESSAGES] == 40
    assert stats["packets"] == stats["frames"] == 5


@pytest.mark.parametrize("pace", ["recorded", "4x"])
def test_synthetic_recorded_pace_holds_back_and_keeps_order(tmp_path, pace):
    """Through the compiled loop, handing back at every 3 ms deadline: datagrams reach the
    books in file order, and the one recorded 100 ms (25 ms at 4x) after its predecessor is
    held back: the loop hands back, with only those before the gap delivered, before it
    goes. A stamp going backwards goes at once, after its predecessor."""
    rng = np.random.default_rng(2)
    gaps = rng.integers(0, 2_000_000, 30)
    gaps[20] = 100_000_000  # datagram 20 comes long after datagram 19
    offsets = np.cumsum(gaps)
    offsets[15] = offsets[14] - 500_000
    path = tmp_path / "paced.pcap"
    _synthetic(path, [_adds(1 + k, 1) for k in range(len(offsets))], offsets)
    handler = ItchHandler(BookStore(max_orders=1024, errors="skip"), errors="skip")
    session = MoldSession()
    feed = ItchFeed(handler, session, max_samples=64)
    delivered_at_deadline = []
    with PcapReceiver(path, GROUP, PORT, pace=pace) as rx:
        for _ in range(100_000):  # bounded; 3 ms a call
            deadline = time.clock_gettime_ns(time.CLOCK_REALTIME) + 3_000_000
            code = rx.poll(feed.state, deadline, 0)
            if code == DEADLINE:
                delivered_at_deadline.append(int(session.counters[Counter.MESSAGES]))
            elif code == END_OF_FILE:
                break
        n = feed.samples
    assert n == len(offsets) and session.counters[Counter.MESSAGES] == len(offsets)
    assert 20 in delivered_at_deadline  # held back at the gap, the 20 before it in
    # MoldUDP64 sequence numbers follow the file: no gap means the books saw file order
    assert session.counters[Counter.GAPS] == 0
    assert handler.books.stats()["live_orders"] == len(offsets)


def test_loop_counters_share_the_compiled_receivers_indices():
    from tickpath.wire import busypoll

    assert [(r.name, int(r)) for r in busypoll.Rx][:7] == [(r.name, int(r)) for r in Rx][:7]
    assert END_OF_FILE == busypoll.IDLE and DEADLINE == busypoll.DEADLINE


def test_synthetic_end_of_file_ends_the_listener(tmp_path):
    """A capture without an end-of-session packet: the compiled loop's END_OF_FILE stops
    FeedListener even with no idle timeout."""
    path = tmp_path / "open.pcapng"
    _synthetic(path, [_adds(1, 2), _adds(3, 2)], [0, 3600 * NS], ng=True)
    import threading

    reports = []
    with PcapReceiver(path, GROUP, PORT) as rx:
        handler = ItchHandler(BookStore(max_orders=1024, errors="skip"), errors="skip")
        lst = FeedListener(rx, handler, max_samples=16)
        # no duration and no idle timeout: only the end of the file can end the run
        t = threading.Thread(target=lambda: reports.append(lst.run()), daemon=True)
        t.start()
        t.join(120)  # a bound on a failure, not a measure of speed
        assert not t.is_alive(), "the listener did not stop at the end of the file"
    rep = reports[0]
    assert not rep.ended and rx.exhausted
    assert rep.packets == 2 and rep.messages == 4


def test_a_pipeline_tap_over_a_capture(tmp_path):
    """``tap`` reaches the feed stage: one top-of-book record per datagram, in the ring."""
    import uuid

    from tickpath.engine.feed_stage import tap_wait
    from tickpath.feed.itch.step import TAP_FULL, TAP_PUBLISHED
    from tickpath.ring import SpscRing
    from tickpath.strategy.records import SLOT_SIZE, TOP_DTYPE

    path = tmp_path / "tap.pcap"
    _synthetic(path, [_adds(1 + 2 * k, 2) for k in range(5)], range(5))
    ring = SpscRing.create(f"tp-pcap-{uuid.uuid4().hex[:8]}", 8, SLOT_SIZE, policy="drop")
    try:
        handler = ItchHandler(BookStore(max_orders=64, errors="skip"), errors="skip")
        tap = (ring.header, ring.words, tap_wait("busy_spin", 0))
        feed = ItchFeed(handler, MoldSession(), tap=tap, max_samples=8)
        with PcapReceiver(path, GROUP, PORT) as rx:
            code = rx.poll(feed.state, time.clock_gettime_ns(time.CLOCK_REALTIME) + 60 * NS, 0)
        assert code == END_OF_FILE
        assert feed.feed[TAP_PUBLISHED] == 5 and feed.feed[TAP_FULL] == 0
        recs = ring.records(TOP_DTYPE)[:5]
        assert set(recs["locate"]) == {1}
        assert list(recs["received"]) == [BASE_NS + k for k in range(5)]  # record stamps
    finally:
        ring.unlink()
        ring.close()


def test_synthetic_loop_runs_as_plain_python():
    """DESIGN.md: kernels run under NUMBA_DISABLE_JIT=1 too (steppable in a debugger): the
    synthetic tests above again, in a subprocess (numba reads the variable at import)."""
    here = Path(__file__).resolve()
    env = dict(os.environ, NUMBA_DISABLE_JIT="1")
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider",
         "-W", "ignore::RuntimeWarning", "-k", "synthetic and not plain_python", str(here)],
        env=env, capture_output=True, text=True, timeout=300, cwd=here.parents[2])
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "5 passed" in proc.stdout, proc.stdout[-2000:]


# ------------------------------------------------------------------------------ malformed


def _bad_frames() -> list[tuple[bytes, str, int | None]]:
    """Frames that are not one whole datagram of the feed, the reason each is counted under,
    and the length on the wire when the record holds less (a snap length cut it)."""
    good = udp_frame(b"\x00" * 30, "10.0.0.1", GROUP, 1, PORT)
    ip = 14

    def patched(at, value):
        f = bytearray(good)
        f[at:at + len(value)] = value
        return bytes(f)

    return [
        (good[:10], "short_ethernet", None),
        (patched(12, b"\x08\x06"), "not_ipv4", None),  # ARP
        (good[:30], "short_ipv4", None),
        (good[:50], "short_ipv4", len(good)),  # cut by the snap length
        (patched(ip, b"\x65"), "bad_ipv4", None),  # version 6 in an IPv4 frame
        (patched(ip + 6, b"\x20\x00"), "fragment", None),  # more fragments
        (patched(ip + 9, b"\x06"), "not_udp", None),
        (patched(ip + 20 + 4, b"\x00\x04"), "bad_udp_length", None),
        (udp_frame(b"x", "10.0.0.1", "233.54.12.2", 1, PORT), "wrong_address", None),
        (udp_frame(b"x", "10.0.0.1", GROUP, 1, PORT + 1), "wrong_port", None),
    ]


@pytest.fixture(scope="module")
def dirty(session, tmp_path_factory):
    """The session as pcapng with a bad frame before every frame of it; the counts wanted
    per reason, and the records cut by a snap length."""
    path = tmp_path_factory.mktemp("dirty") / "dirty.pcapng"
    bad = _bad_frames()
    want = dict.fromkeys((b[1] for b in bad), 0)
    cut = 0
    with PcapngWriter(path) as w:
        for k, rec in enumerate(read_records(session[0])):
            frame, reason, orig = bad[k % len(bad)]
            w.write(frame, rec.ts_ns, orig_len=orig)  # before every frame of the session
            w.write(rec.frame, rec.ts_ns)
            want[reason] += 1
            cut += orig is not None
    return path, want, cut


def test_malformed_frames_are_counted_and_never_reach_the_books(session, dirty):
    path, want, cut = dirty
    with PcapReceiver(path, GROUP, PORT) as rx:
        handler = _handler()
        got, rep = _replay(rx, handler)
        stats = rx.stats()
    assert got == session[2]
    assert rep.messages == MESSAGES and rep.ended and rep.session["gaps"] == 0
    assert rep.session["malformed"] == 0 and handler.malformed == 0
    for reason, n in want.items():
        assert stats[reason] == n, reason
    assert stats["truncated"] == cut
    assert stats["frames"] == stats["packets"] + sum(want.values())
    assert stats["malformed"] == sum(want[r] for r in ("short_ethernet", "short_ipv4",
                                                       "bad_ipv4", "fragment",
                                                       "bad_udp_length"))
    assert stats["other_flows"] == sum(want[r] for r in ("not_ipv4", "not_udp",
                                                         "wrong_address", "wrong_port"))


def test_compiled_and_python_paths_agree_on_a_dirty_file(dirty):
    results = []
    for compiled in (True, False):
        with PcapReceiver(dirty[0], GROUP, PORT) as rx:
            rx.compiled = compiled  # False: FeedListener's generic loop over recv()
            got, rep = _replay(rx)
            stats = rx.stats()
        stats.pop("empty_polls")
        results.append((got, stats, rep.messages, rep.packets, rep.session, rep.ended))
    assert results[0] == results[1]
    assert results[0][3] == results[0][1]["packets"] > 0


@settings(max_examples=200, deadline=None)
@given(st.binary(min_size=0, max_size=80), st.integers(0, 60), st.data())
def test_link_layers_without_ethernet_agree_with_the_ethernet_parser(tail, cut, draw):
    """SLL2, raw IPv4 and BSD loopback frames read through frames.ipv4_udp_payload_at give
    what the Ethernet parser gives for the same IPv4 packet behind an Ethernet header."""
    frame = bytearray(udp_frame(tail, "10.0.0.1", GROUP, 1, PORT))
    for _ in range(draw.draw(st.integers(0, 3))):
        i = draw.draw(st.integers(14, len(frame) - 1))
        frame[i] = draw.draw(st.integers(0, 255))
    frame = bytes(frame[:max(14, len(frame) - cut)])
    dst = int.from_bytes(bytes([233, 54, 12, 1]), "big")
    buf = np.frombuffer(bytearray(frame), np.uint8)
    r, off, size = F.udp_payload_at(buf, 0, buf.shape[0], dst, PORT)
    ip = frame[14:]
    heads = {W.LINK_SLL2: struct.pack("!HHIHBB8s", 0x0800, 0, 3, 1, 0, 6, b"\x02" * 8),
             W.LINK_RAW: b"", W.LINK_IPV4: b"", W.LINK_NULL: struct.pack("<I", 2)}
    for link, head in heads.items():
        if not head and ip[:1] and ip[0] >> 4 == 6:
            continue  # raw IP that looks like IPv6 is counted as not IPv4, by design
        b = np.frombuffer(bytearray(head + ip), np.uint8)
        shift = len(head) - 14
        got = W.frame_payload(b, 0, b.shape[0], link, dst, PORT)
        assert got == ((r, off + shift, size) if r == F.OK else (r, 0, 0)), link


def test_link_types_and_sections(tmp_path):
    """Every link type the reader knows, in a pcapng of two sections (little- and
    big-endian) with several interfaces and resolutions: the same datagrams, stamps and
    payloads as the reader's, and frames of an unknown link type counted, not fatal."""
    eth = udp_frame(b"feed-eth", "10.0.0.1", GROUP, 5, PORT, vlan=7)
    ip = udp_frame(b"feed-ip", "10.0.0.1", GROUP, 5, PORT)[14:]
    sll = struct.pack("!HHH8sH", 0, 1, 6, b"\x02" * 6 + b"\0\0", 0x0800) + ip
    sll2 = struct.pack("!HHIHBB8s", 0x0800, 0, 3, 1, 0, 6, b"\x02" * 8) + ip
    null = struct.pack("<I", 2) + ip
    le, be = "<", ">"
    data = shb(le) + idb(le, LINKTYPE_ETHERNET, 0, ng_opt(le, 9, b"\x09") + ng_end(le))
    data += idb(le, LINKTYPE_LINUX_SLL, 0, ng_opt(le, 9, bytes([0x80 | 20])))
    data += idb(le, LINKTYPE_LINUX_SLL2, 0, ng_opt(le, 14, struct.pack("<q", 100)))
    data += idb(le, 147)  # a user link type: not ours to parse
    data += epb(le, 0, 1_692_711_000_000_059_094, eth)
    data += epb(le, 1, 3 * (1 << 20) + (1 << 19), sll)
    data += epb(le, 2, 1_700_000_000_123_456, sll2)
    data += epb(le, 3, 5, eth)
    data += ng_block(le, 3, struct.pack("<I", len(eth)) + eth)  # simple packet block
    data += ng_block(le, 2, struct.pack("<HHIIII", 0, 0, 0, 77, len(eth), len(eth)) + eth)
    data += shb(be) + idb(be, LINKTYPE_RAW) + idb(be, LINKTYPE_IPV4) + idb(be, LINKTYPE_NULL)
    data += epb(be, 0, 1, ip) + epb(be, 1, 2, ip) + epb(be, 2, 3, null)
    path = tmp_path / "links.pcapng"
    path.write_bytes(data)
    with PcapReceiver(path, GROUP, PORT) as rx:
        got = _drain(rx)
        stats = rx.stats()
    want = []
    for r in read_records(path):
        found = udp_payload(r.frame, r.linktype) if r.linktype != 147 else None
        if found is not None and found[1][1] == GROUP and found[1][3] == PORT:
            want.append((r.ts_ns, bytes(found[0])))
    assert got == want and len(got) == 8
    assert stats["unsupported_link"] == 1 and stats["other_flows"] == 1
    assert stats["frames"] == 9


def test_a_pcap_of_an_unknown_link_type_is_refused(tmp_path):
    path = tmp_path / "usb.pcap"
    with PcapWriter(path, linktype=189) as w:
        w.write(b"x" * 20, 1)
    with pytest.raises(ValueError, match=r"offset 20: link type 189 is not supported"):
        PcapReceiver(path)


# ------------------------------------------------------------------------------ errors


def _corrupt(kind: str, session) -> tuple[bytes, int, str]:
    """(file bytes, offset named, words of the reason)."""
    raw = session[0].read_bytes()
    ng = session[1].read_bytes()
    first_len = struct.unpack_from("<I", raw, 24 + 8)[0]
    second = 24 + 16 + first_len
    if kind == "pcap-cut":
        return raw[:second + 16 + 5], second + 16, "truncated record"
    if kind == "pcap-header-cut":
        return raw[:second + 7], second, "truncated record header"
    if kind == "pcap-length":
        b = bytearray(raw)
        b[second + 8:second + 12] = struct.pack("<I", 1 << 30)
        return bytes(b), second, "record length 1073741824 exceeds"
    if kind == "magic":
        return b"\x00\x01\x02\x03" + raw[4:], 0, "bad magic"
    if kind == "empty":
        return b"", 0, "not a pcap or pcapng file"
    # pcapng: SHB, IDB, then EPBs; spoil the second EPB's trailing length
    shb_len = struct.unpack_from("<I", ng, 4)[0]
    idb_len = struct.unpack_from("<I", ng, shb_len + 4)[0]
    e1 = shb_len + idb_len
    e2 = e1 + struct.unpack_from("<I", ng, e1 + 4)[0]
    e2_len = struct.unpack_from("<I", ng, e2 + 4)[0]
    if kind == "pcapng-trailer":
        b = bytearray(ng)
        b[e2 + e2_len - 4:e2 + e2_len] = b"\xff\xff\xff\xff"
        return bytes(b), e2 + e2_len - 4, "trailing length 4294967295 differ"
    if kind == "pcapng-cut":
        return ng[:e2 + 40], e2 + 8, "truncated pcapng block (type 6)"
    b = bytearray(ng)  # "pcapng-length"
    b[e2 + 4:e2 + 8] = struct.pack("<I", 13)
    return bytes(b), e2, "bad pcapng block length 13"


@pytest.mark.parametrize("kind", ["pcap-cut", "pcap-header-cut", "pcap-length", "magic",
                                  "empty", "pcapng-trailer", "pcapng-cut", "pcapng-length"])
def test_a_corrupt_file_is_refused_with_the_offset(session, tmp_path, kind):
    data, offset, words = _corrupt(kind, session)
    path = tmp_path / "bad.cap"
    path.write_bytes(data)
    with pytest.raises(ValueError) as err:
        PcapReceiver(path, GROUP, PORT)
    assert f"{path}: offset {offset}: " in str(err.value) and words in str(err.value)
    if kind not in ("magic", "empty"):  # the streaming reader names the same place
        with pytest.raises(ValueError, match=f"offset {offset}: "):
            list(read_records(io.BytesIO(data)))


def test_corruption_met_by_the_compiled_loop_names_the_offset(session):
    """A mapping spoiled after the file was checked (here: written through the private
    mapping) is refused by the loop's owner with the offset, as at open."""
    raw = session[0].read_bytes()
    second = 24 + 16 + struct.unpack_from("<I", raw, 24 + 8)[0]
    with PcapReceiver(session[0], GROUP, PORT) as rx:
        rx.buf[second + 8:second + 12] = np.frombuffer(struct.pack("<I", 1 << 30), np.uint8)
        handler = _handler()
        with pytest.raises(ValueError, match=f"offset {second}: record length 1073741824 "):
            _drive(rx, handler, MoldSession(), np.zeros(4, np.int64))
        assert rx.stats()["packets"] == 1  # the record before it went through


def test_missing_file_and_bad_specs(tmp_path):
    with pytest.raises(FileNotFoundError, match="pcap: no such file"):
        open_receiver(f"pcap:{tmp_path}/nope.pcap", GROUP, PORT)
    with pytest.raises(IsADirectoryError, match="is a directory"):
        PcapReceiver(tmp_path)
    for spec, words in [("pcap", "the pcap transport is pcap:PATH"),
                        ("pcap:", "the pcap transport is pcap:PATH"),
                        ("pcap:x.pcap?pace=slow", "bad pace 'slow'"),
                        ("pcap:x.pcap?pace=0x", "bad pace '0x'"),
                        ("pcap:x.pcap?pace=-2", "bad pace"),
                        ("pcap:x.pcap?dst=1.2.3:80", "bad dst"),
                        ("pcap:x.pcap?dst=1.2.3.4:70000", "bad dst"),
                        ("pcap:x.pcap?speed=2", "unknown option 'speed=2'"),
                        ("pcap:?pace=fast", "no file named")]:
        with pytest.raises(ValueError, match="pcap") as err:
            open_receiver(spec, GROUP, PORT)
        assert words in str(err.value), spec


def test_spec_options():
    assert parse_spec("pcap:/a/b.pcap") == parse_spec("pcap:/a/b.pcap?pace=fast")
    s = parse_spec("pcap:/a/b?c.pcapng?pace=recorded&dst=233.54.12.9:1")
    assert (s.path, s.speed, s.dst) == ("/a/b?c.pcapng", 1.0, ("233.54.12.9", 1))
    assert parse_spec("pcap:f?pace=2.5x").speed == 2.5
    assert parse_spec("pcap:f?pace=0.5").speed == 0.5
    assert parse_spec("pcap:f?dst=any").dst == ("0.0.0.0", 0)
    assert parse_spec("pcap:f?dst=:26400").dst == ("0.0.0.0", 26400)
    assert parse_spec("pcap:f?dst=10.1.2.3").dst == ("10.1.2.3", 0)


def test_a_capture_without_the_feed_is_refused_saying_what_to_do(session):
    with pytest.raises(ValueError, match="holds no UDP datagram to 233.54.12.1:9") as err:
        open_receiver(f"pcap:{session[0]}", GROUP, 9)
    assert "dst=any" in str(err.value)
    with open_receiver(f"pcap:{session[0]}?dst=:{PORT}", GROUP, 9) as rx:
        assert rx.feed_frames > 0


def test_registered_as_a_transport():
    assert "pcap" in TRANSPORTS
    row = [c for c in check() if c.name == "pcap"]
    assert len(row) == 1 and row[0].ok


# ------------------------------------------------------------------------------ real captures


def test_real_cme_pcapng_filters_one_feed(shared_data):
    path = shared_data / "cme-mdp3/pcaps/Mdp3.Sbe.v1.6/Cme.Mdp3.Sbe.v6.1.pcap"
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    want = [(ts, bytes(p)) for ts, p, a in read_udp(path, 14340) if a[1] == "224.0.31.64"]
    with PcapReceiver(path, "224.0.31.64", 14340) as rx:
        got = _drain(rx)
        stats = rx.stats()
    assert got == want and len(got) == 5_000  # line A only; line B is another address
    assert stats["wrong_address"] == 5_000 and stats["malformed"] == 0


def test_real_itch_captures_tagged_and_framed(shared_data):
    files = sorted((shared_data / "nasdaq-itch50").glob("*/*.pcap"))
    if not files:
        pytest.skip("no ITCH captures in the shared data")
    for path in files:
        with PcapReceiver(path) as rx:
            got = _drain(rx)
        assert got == [(ts, bytes(p)) for ts, p, _ in read_udp(path)], path


# ------------------------------------------------------------------------------ the CLI


def test_listen_replays_a_capture(session):
    from tickpath.cli import app

    res = CliRunner().invoke(app, ["listen", "--transport", f"pcap:{session[1]}",
                                   "--port", str(PORT), "--duration", "120"])
    assert res.exit_code == 0, res.output
    assert f"msgs {MESSAGES:,}" in res.output and "gaps 0" in res.output
    assert f"{MESSAGES:,} messages in" in res.output
    res = CliRunner().invoke(app, ["listen", "--transport", "pcap:/no/such.pcap"])
    assert res.exit_code == 2 and "no such file" in res.output
