"""The xdp transport: AF_XDP socket, UMEM rings, the redirect program on a real interface.

* the compiled loop on hand-made rings: frames taken in order, chunks handed back on the
  FILL ring, 32-bit positions wrapping, a refused event resumed after; also as plain Python;
* over a veth pair (namespaces made and deleted here): malformed frames counted by reason and
  never in the books; a tagged frame parsed; the program gone when the receiver closes and
  when its process is killed; a stale tickpath program replaced, anyone else's refused;
* refusals that say what is missing.

Needs root for the kernel parts (they skip otherwise). Waits are bounded counts, never
assertions on time.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
from test_packet import _adds, _frame, _mold, _poll_all, inside

from tickpath import BookStore, ItchHandler
from tickpath.feed.itch import ItchFeed
from tickpath.feed.moldudp64 import MoldSession
from tickpath.wire import bpf, rtnetlink
from tickpath.wire import frames as F
from tickpath.wire import xdp_layout as X
from tickpath.wire.netns import NetnsUnavailable, veth_pair
from tickpath.wire.netns import check as netns_check
from tickpath.wire.transports import open_receiver
from tickpath.wire.xdp import (
    DEADLINE,
    N_RX,
    SETTLE,
    Rx,
    StaleProgram,
    XdpReceiver,
    poll_rx,
)
from tickpath.wire.xdp_program import PROGRAM_NAME, redirect_program
from tickpath.wire.xsk import N_GEO, Geo

GROUP, PORT = "233.54.12.1", 26400
root = pytest.mark.skipif(os.geteuid() != 0, reason="AF_XDP and bpf(2) need root")

# ------------------------------------------------------------------ the loop, hand-made rings


class Rings:
    """An RX ring and a FILL ring of ``n`` entries over a UMEM of ``2n`` 2 KiB chunks, laid
    out as the kernel lays them out (positions, then descriptors), in plain arrays."""

    def __init__(self, n: int = 8, start: int = 0) -> None:
        self.n, self.chunk = n, 2048
        self.umem = np.zeros(2 * n * self.chunk, np.uint8)
        self.rx = np.zeros(16 + 2 * n, np.uint64)  # prod, cons at words 0, 1; desc from 8
        self.fr = np.zeros(16 + n, np.uint64)
        self.rx32, self.fr32 = self.rx.view(np.uint32), self.fr.view(np.uint32)
        self.geo = np.zeros(N_GEO, np.int64)
        g = self.geo
        g[Geo.RX_PROD], g[Geo.RX_CONS], g[Geo.RX_DESC], g[Geo.RX_MASK] = 0, 1, 8, n - 1
        g[Geo.FR_PROD], g[Geo.FR_CONS], g[Geo.FR_FLAGS], g[Geo.FR_DESC] = 0, 1, 2, 8
        g[Geo.FR_MASK], g[Geo.CHUNK_SIZE], g[Geo.FD] = n - 1, self.chunk, -1
        self.state = np.zeros(N_RX, np.int64)
        self.reasons = np.zeros(F.N_REASONS, np.int64)
        self.prod = self.fprod = start  # free-running 32-bit positions
        self.rx32[0] = self.rx32[1] = self.fr32[0] = start
        self.state[Rx.NEXT] = self.state[Rx.FILL_NEXT] = start
        self.next_chunk = 0

    def post(self, frame: bytes) -> int:
        """The kernel's part: copy ``frame`` into a chunk (at a headroom, as copy mode
        does) and post its descriptor."""
        addr = (self.next_chunk % (2 * self.n)) * self.chunk + 256
        self.next_chunk += 1
        self.umem[addr:addr + len(frame)] = np.frombuffer(frame, np.uint8)
        j = self.prod & (self.n - 1)
        self.rx[8 + 2 * j] = addr
        self.rx32[(8 + 2 * j) * 2 + 2] = len(frame)
        self.prod = (self.prod + 1) & 0xFFFFFFFF
        self.rx32[0] = self.prod
        return addr

    def poll(self, handler, session, lat):
        feed = ItchFeed(handler, session, max_samples=lat.shape[0])
        return poll_rx(self.umem, self.rx32, self.rx, self.fr32, self.fr, self.geo,
                       int(np.uint32(0xE9360C01)), PORT, 0, 0, feed.state, self.state,
                       self.reasons)


def _handler():
    return ItchHandler(BookStore(max_orders=64, errors="skip"), errors="skip")


def test_loop_takes_frames_hands_chunks_back_and_wraps():
    rings = Rings(n=8, start=0xFFFFFFFA)  # positions wrap past 2**32 within the test
    handler, session = _handler(), MoldSession()
    lat = np.zeros(64, np.int64)
    packets = _mold([_adds(i * 10 + 1, 2) for i in range(12)], session="WRAP")
    addrs = []
    for batch in (packets[:5], packets[5:12]):
        addrs += [rings.post(_frame(payload=p)) for p in batch]
        rings.post(_frame(payload=batch[0], port=PORT + 1))  # not the feed: counted, skipped
        assert rings.poll(handler, session, lat) == DEADLINE
    s = rings.state
    assert s[Rx.PACKETS] == 12 and s[Rx.FRAMES] == 14
    assert rings.reasons[F.Reason.WRONG_PORT] == 2
    assert handler.books.stats()["live_orders"] == 24
    # every chunk went back on the FILL ring, in order, at its chunk's start
    assert rings.rx32[1] == rings.prod == s[Rx.NEXT] == (0xFFFFFFFA + 14) & 0xFFFFFFFF
    assert rings.fr32[0] == s[Rx.FILL_NEXT] == rings.rx32[1]
    back = [int(rings.fr[8 + ((0xFFFFFFFA + k) & 7)]) for k in range(6, 14)]
    posted = [a - 256 for a in addrs[5:]]
    assert set(posted) <= set(back)


def test_loop_stops_at_a_refused_event_and_resumes():
    rings = Rings(n=8)
    handler = ItchHandler(BookStore(max_orders=64, errors="raise"), errors="raise")
    session = MoldSession()
    lat = np.zeros(64, np.int64)
    first = _mold([_adds(1, 1), _adds(1, 1), _adds(2, 1)], session="DUP")
    for p in first:
        rings.post(_frame(payload=p))
    assert rings.poll(handler, session, lat) == SETTLE  # order 1 added twice: refused
    assert rings.state[Rx.FRAMES] == 2
    assert rings.poll(handler, session, lat) == DEADLINE  # the rest, after the owner settles
    assert rings.state[Rx.FRAMES] == 3 and handler.books.stats()["live_orders"] == 2


def test_loop_runs_as_plain_python(tmp_path):
    """NUMBA_DISABLE_JIT=1: the same loop, steppable in a debugger."""
    code = textwrap.dedent(f"""
        import sys; sys.path.insert(0, {os.path.dirname(__file__)!r})
        import numpy as np
        from test_xdp import Rings, _handler, _mold, _adds, _frame
        from tickpath.feed.moldudp64 import MoldSession
        r = Rings(n=4, start=0xFFFFFFFE)
        h = _handler()
        for p in _mold([_adds(1, 1), _adds(2, 1), _adds(3, 1)], session="NOJIT"):
            r.post(_frame(payload=p))
        r.poll(h, MoldSession(), np.zeros(8, np.int64))
        print(int(r.state[0]), h.books.stats()["live_orders"])
    """)
    env = {**os.environ, "NUMBA_DISABLE_JIT": "1"}
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == ["3", "3"]


# ------------------------------------------------------------------------ refusals, options


def test_refusals_name_what_is_missing(monkeypatch):
    with pytest.raises(ValueError, match="unknown xdp option 'fast'.*copy or zc"):
        open_receiver("xdp:fast", GROUP, PORT)
    with pytest.raises(ValueError, match="attach mode"):
        XdpReceiver("lo", GROUP, PORT, mode="turbo")
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    with pytest.raises(PermissionError, match="CAP_BPF.*packet transport"):
        XdpReceiver("lo", GROUP, PORT)


@root
def test_unknown_interface_is_named():
    with pytest.raises(OSError, match="no network interface named 'nope0'"):
        XdpReceiver("nope0", GROUP, PORT)


# ------------------------------------------------------------------------- over a veth pair


@pytest.fixture
def veth():
    if os.geteuid() != 0:
        pytest.skip("AF_XDP and bpf(2) need root")
    try:
        netns_check()
    except NetnsUnavailable as e:
        pytest.skip(str(e))
    with veth_pair(subnet="10.197.0") as pair:
        yield pair


def _state(pair) -> rtnetlink.XdpState:
    with inside(pair.host):
        return rtnetlink.xdp_state(socket.if_nametoindex(pair.host_if))


def _receiver(pair, **kw) -> XdpReceiver:
    with inside(pair.host):
        return XdpReceiver(pair.host_if, GROUP, PORT, iface_ip=pair.host_ip, **kw)


def _sender(pair) -> socket.socket:
    with inside(pair.exchange):
        tx = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
        tx.bind((pair.exchange_if, 0))
    return tx


def _poll_until(rx: XdpReceiver, handler, session, frames: int) -> None:
    for _ in range(100):  # bounded: 100 polls of 20 ms
        if rx.rx[Rx.FRAMES] >= frames:
            return
        _poll_all(rx, handler, session, ms=20)


@pytest.mark.net
def test_malformed_frames_are_counted_and_never_reach_the_books(veth):
    """Frames injected with a raw socket in the exchange namespace, each carrying a valid
    MoldUDP64 packet behind headers that are wrong. Those the program redirects (to the
    group: fragments, lying lengths, odd headers) are counted by reason; the rest (another
    port, address, protocol) go to the kernel; none reaches the books."""
    good = _mold([_adds(1, 1)], session="INJECT")[0]
    redirected = {
        F.Reason.FRAGMENT: _frame(payload=good, frag=0x2000),
        F.Reason.SHORT_IPV4: _frame(payload=good, total=20 + 8 + len(good) + 40),
        F.Reason.BAD_IPV4: _frame(payload=good, ver_ihl=0x65),
    }
    f = _frame(payload=good)
    redirected[F.Reason.BAD_UDP_LENGTH] = f[:38] + (8 + len(good) + 1).to_bytes(2, "big") + f[40:]
    passed = [f[:12] + b"\x86\xdd" + f[14:], _frame(payload=good, proto=6),
              _frame(payload=good, port=PORT + 1), _frame(payload=good, dst="233.54.12.9")]
    handler, session = _handler(), MoldSession()
    with _receiver(veth) as rx, _sender(veth) as tx:
        for frame in [*redirected.values(), *passed]:
            tx.send(frame)
        _poll_until(rx, handler, session, len(redirected))
        before = rx.stats()
        tx.send(f)  # the same packet in good headers
        _poll_until(rx, handler, session, len(redirected) + 1)
        after = rx.stats()
    for reason in redirected:
        assert before[reason.name.lower()] == 1, reason
    assert before["frames"] == len(redirected) and before["packets"] == 0
    assert before["not_ipv4"] == before["not_udp"] == before["wrong_port"] == 0
    assert after["packets"] == 1 and after["frames"] == len(redirected) + 1
    assert handler.books.stats()["live_orders"] == 1  # only the good frame's order
    assert after["drops"] == 0


@pytest.mark.net
def test_tagged_frame_is_parsed(veth):
    good = _mold([_adds(1, 1)], session="TAGGED")[0]
    handler, session = _handler(), MoldSession()
    with _receiver(veth) as rx, _sender(veth) as tx:
        tx.send(_frame(payload=good, vlan=5))
        _poll_until(rx, handler, session, 1)
        s = rx.stats()
    assert s["packets"] == 1 and s["malformed"] == 0
    assert handler.books.stats()["live_orders"] == 1


@pytest.mark.net
def test_program_is_detached_on_close(veth):
    rx = _receiver(veth)
    with rx:
        st = _state(veth)
        assert st.prog_id == rx.program.prog_id and st.mode == rx.mode
        assert bpf.prog_name_by_id(st.prog_id) == PROGRAM_NAME
        assert "AF_XDP on" in rx.describe()
    assert _state(veth).prog_id == 0


HOLDER = textwrap.dedent("""
    import sys, time
    from tickpath.wire.xdp import XdpReceiver
    rx = XdpReceiver(sys.argv[1], "233.54.12.1", 26400, iface_ip=sys.argv[2])
    print(rx.program.prog_id, flush=True)
    time.sleep(120)
""")


@pytest.mark.net
def test_killed_process_leaves_no_program_and_a_live_one_is_not_replaced(veth):
    """The program hangs on a bpf_link: SIGKILL closes the process's descriptors and the
    kernel detaches it. While the holder lives, a second receiver is refused with its pid."""
    holder = veth.popen(veth.host, sys.executable, "-c", HOLDER, veth.host_if, veth.host_ip,
                        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = holder.stdout.readline()
        assert line.strip().isdigit(), holder.stderr.read()
        assert _state(veth).prog_id == int(line)
        with pytest.raises(StaleProgram, match=r"another tickpath receiver \(pid \d+\)"):
            _receiver(veth)
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.communicate(timeout=30)
    for _ in range(200):  # bounded: the kernel releases the link as the process goes
        if _state(veth).prog_id == 0:
            break
        time.sleep(0.01)
    assert _state(veth).prog_id == 0


def _attach_by_netlink(pair, name: str) -> int:
    """A program attached the old way (netlink), then every descriptor closed: it stays."""
    m = bpf.create_xskmap(1)
    p = bpf.load_xdp_program(redirect_program(m, GROUP, PORT), name)
    try:
        with inside(pair.host):
            rtnetlink.set_xdp_fd(socket.if_nametoindex(pair.host_if), p,
                                 X.XDP_FLAGS_SKB_MODE)
        return bpf.prog_info(p)[0]
    finally:
        os.close(p)
        os.close(m)


@pytest.mark.net
def test_stale_tickpath_program_is_replaced(veth, caplog):
    stale = _attach_by_netlink(veth, PROGRAM_NAME)
    assert _state(veth).prog_id == stale and _state(veth).mode == "generic"
    with _receiver(veth) as rx:
        assert rx.replaced == stale
        assert _state(veth).prog_id == rx.program.prog_id != stale
    assert "removed a stale tickpath XDP program" in caplog.text
    assert _state(veth).prog_id == 0


@pytest.mark.net
def test_someone_elses_program_is_refused_and_left_alone(veth):
    other = _attach_by_netlink(veth, "their_filter")
    try:
        with pytest.raises(StaleProgram, match=r"'their_filter'.*ip link set dev .* xdp off"):
            _receiver(veth)
        assert _state(veth).prog_id == other
    finally:
        with inside(veth.host):
            rtnetlink.set_xdp_fd(socket.if_nametoindex(veth.host_if), -1,
                                 X.XDP_FLAGS_SKB_MODE)
    assert _state(veth).prog_id == 0


@pytest.mark.net
def test_zero_copy_on_veth_is_refused_with_the_way_out(veth):
    with pytest.raises(OSError, match="no zero-copy.*copy mode"):
        _receiver(veth, copy=False)
    assert _state(veth).prog_id == 0  # nothing left behind by the failed start


def test_warm_up_compiles_the_variant_poll_runs():
    """After warm_up with a scratch feed's state, polling with the real feed's state (and a
    real ring's arrays) compiles nothing more: the scratch has the same types."""
    XdpReceiver.warm_up(ItchFeed(_handler()).scratch().state)
    n = len(poll_rx.signatures)
    Rings(n=4).poll(_handler(), MoldSession(), np.zeros(4, np.int64))
    assert len(poll_rx.signatures) == n, poll_rx.signatures


def test_deadline_is_seen_while_frames_keep_coming():
    """A batch that carries the frame count past a multiple of 256 (here from 1 to 301)
    makes the loop look at the clock before it polls the ring again: with the deadline
    passed it returns straight after the batch, without an empty poll."""
    rings = Rings(n=512)
    handler, session = _handler(), MoldSession()
    lat = np.zeros(8, np.int64)
    rings.post(_frame(payload=b"x", port=PORT + 1))
    assert rings.poll(handler, session, lat) == DEADLINE
    empty = int(rings.state[Rx.EMPTY_POLLS])
    for _ in range(300):
        rings.post(_frame(payload=b"x", port=PORT + 1))
    assert rings.poll(handler, session, lat) == DEADLINE
    assert rings.state[Rx.FRAMES] == 301
    assert rings.state[Rx.EMPTY_POLLS] == empty  # returned on the clock, not on an empty ring
