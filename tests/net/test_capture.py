"""`tickpath wire capture` on a real veth pair: the venue publishes multicast in the
"exchange" namespace while two captures (pcap and pcapng) run in the "host" namespace; both
files, replayed through the pcap transport, must give the simulator's own books, and tshark
must read the pcapng's nanosecond stamps as ours."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time

import pytest

from tickpath import BookStore, ItchHandler, Simulator
from tickpath.apps.listener import FeedListener
from tickpath.wire.pcap import read_records
from tickpath.wire.pcapfile import PcapReceiver

pytestmark = pytest.mark.net

GROUP, PORT = "233.54.12.1", 26400
MESSAGES, SYMBOLS, SEED = 20_000, 20, 5


def _capture(veth, out):
    return veth.popen(veth.host, sys.executable, "-m", "tickpath.cli", "wire", "capture",
                      str(out), "--iface", veth.host_if, "--host", GROUP, "--port", str(PORT),
                      "--iface-ip", veth.host_ip, "--idle", "2", "--seconds", "120",
                      stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _replay(path):
    handler = ItchHandler(BookStore(max_orders=1 << 16, errors="skip"), errors="skip")
    with PcapReceiver(path, GROUP, PORT) as rx:
        rep = FeedListener(rx, handler).run(duration=120, idle_timeout=rx.idle_timeout_s)
        stats = rx.stats()
        stats["in_file"] = rx.feed_frames
    return {b["locate"]: b for b in handler.books.books()}, rep, stats


def test_capture_then_replay(veth, tmp_path, tshark):
    paths = [tmp_path / "feed.pcap", tmp_path / "feed.pcapng"]
    caps = [_capture(veth, p) for p in paths]
    try:
        for c in caps:  # the socket and its filter are in place once this line is out
            line = c.stderr.readline()
            assert line.startswith("capturing"), line + c.stderr.read()
        before = time.clock_gettime_ns(time.CLOCK_REALTIME)
        pub = veth.run(veth.exchange, sys.executable, "-m", "tickpath.cli", "sim",
                       "--host", GROUP, "--port", str(PORT), "--iface-ip", veth.exchange_ip,
                       "--messages", str(MESSAGES), "--symbols", str(SYMBOLS), "--seed",
                       str(SEED), "--rate", "50000", capture_output=True, text=True,
                       timeout=300)
        assert pub.returncode == 0, pub.stderr
        outs = [c.communicate(timeout=120) for c in caps]
        after = time.clock_gettime_ns(time.CLOCK_REALTIME)
    finally:
        for c in caps:
            if c.poll() is None:
                c.kill()
                c.communicate()
    for c, (out, err) in zip(caps, outs, strict=True):
        assert c.returncode == 0, err
        said = " ".join(out.split())  # the console wraps long lines (the path's length)
        assert "stopped by idle" in said and "kernel drops 0" in said, out

    sim = Simulator(symbols=SYMBOLS, messages=MESSAGES, seed=SEED)
    sim.blocks()
    want = sim.books()
    recs = {}
    for path in paths:
        recs[path.suffix] = list(read_records(path))
        got, rep, stats = _replay(path)
        assert rep.messages == MESSAGES and rep.ended and rep.session["gaps"] == 0
        assert got == want
        # every frame written is the feed's; the listener stops at the first of the
        # publisher's repeated end-of-session packets
        assert stats["in_file"] == len(recs[path.suffix])
        assert stats["packets"] == stats["frames"] == len(recs[path.suffix]) - 2
        assert stats["malformed"] == stats["other_flows"] == 0
        stamps = [r.ts_ns for r in recs[path.suffix]]
        assert before <= stamps[0] and stamps[-1] <= after  # the kernel's CLOCK_REALTIME
        assert stamps == sorted(stamps)
    # both captures saw the same frames (each socket stamps its own copy)
    assert [r.frame for r in recs[".pcap"]] == [r.frame for r in recs[".pcapng"]]

    res = subprocess.run([tshark, "-n", "-r", str(paths[1]), "-T", "fields", "-E",
                          "separator=|", "-e", "frame.time_epoch", "-e", "ip.dst", "-e",
                          "udp.dstport", "-e", "frame.len"],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    rows = [line.split("|") for line in res.stdout.splitlines()]
    assert len(rows) == len(recs[".pcapng"])
    for (t, dst, dport, length), rec in zip(rows, recs[".pcapng"], strict=True):
        sec, frac = t.split(".")
        assert int(sec) * 1_000_000_000 + int(frac.ljust(9, "0")) == rec.ts_ns
        assert (dst, int(dport), int(length)) == (GROUP, PORT, len(rec.frame))


INJECT = textwrap.dedent("""
    import socket, sys
    from tickpath.wire.pcap import read_records

    iface, path, tag = sys.argv[1], sys.argv[2], bytes.fromhex(sys.argv[3])
    s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
    s.bind((iface, 0))
    for n, rec in enumerate(read_records(path)):
        s.send(rec.frame[:12] + tag + rec.frame[12:])
    print(n + 1)
""")


def test_capture_puts_the_vlan_tag_back(veth, tmp_path, tshark):
    """Tagged frames of a recorded session sent onto the veth pair: the kernel takes the
    802.1Q tag out of the frame before AF_PACKET sees it, and the capture writes it back, so
    the file has the frames as they were on the wire (as tcpdump does)."""
    messages = 5_000
    sim = Simulator(symbols=SYMBOLS, messages=messages, seed=SEED)
    sim.write_pcap(tmp_path / "session.pcap", dst=(GROUP, PORT))
    path = tmp_path / "tagged.pcapng"
    cap = _capture(veth, path)
    try:
        line = cap.stderr.readline()
        assert line.startswith("capturing"), line + cap.stderr.read()
        sent = veth.run(veth.exchange, sys.executable, "-c", INJECT, veth.exchange_if,
                        str(tmp_path / "session.pcap"), "81000007", capture_output=True,
                        text=True, timeout=120)
        assert sent.returncode == 0, sent.stderr
        out, err = cap.communicate(timeout=120)
    finally:
        if cap.poll() is None:
            cap.kill()
            cap.communicate()
    assert cap.returncode == 0, err
    recs = list(read_records(path))
    assert len(recs) == int(sent.stdout)
    assert all(r.frame[12:16] == bytes.fromhex("81000007") for r in recs)
    assert all(r.orig_len == len(r.frame) for r in recs)
    got, rep, _stats = _replay(path)
    assert rep.messages == messages and rep.ended and got == sim.books()
    res = subprocess.run([tshark, "-n", "-r", str(path), "-T", "fields", "-e", "vlan.id",
                          "-e", "ip.dst"], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    assert set(res.stdout.splitlines()) == {f"7\t{GROUP}"}
