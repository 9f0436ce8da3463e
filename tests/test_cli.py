"""The `tickpath` command end to end, as a user runs it."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tickpath import Simulator

EXE = [sys.executable, "-m", "tickpath.cli"]


def run(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run([*EXE, *args], capture_output=True, text=True, check=check,
                          timeout=600)


@pytest.fixture(scope="module")
def day(tmp_path_factory) -> tuple[Path, Simulator]:
    path = tmp_path_factory.mktemp("cli") / "day.itch"
    r = run("sim", "--write", str(path), "--messages", "20000", "--symbols", "30", "--seed", "5")
    assert "wrote 20,000 messages" in r.stdout
    return path, Simulator(symbols=30, messages=20_000, seed=5)


def test_replay_books_json_matches_simulator(day, tmp_path):
    path, sim = day
    out = tmp_path / "books.jsonl"
    r = run("replay", str(path), "--books-json", str(out), "--no-progress")
    assert "M msg/s" in r.stdout and "messages by type" in r.stdout
    # the rate is the replay's own: loading the compiled code is reported beside it
    assert "loading the compiled code:" in r.stdout
    got = {}
    for line in out.read_text().splitlines():
        b = json.loads(line)
        assert set(b) == {"locate", "symbol", "bids", "asks"}
        got[b["locate"]] = b
    sim.blocks()
    assert got == sim.books()


def test_replay_depth_and_symbol(day, tmp_path):
    path, sim = day
    sim.blocks()
    symbol = next(iter(sim.books().values()))["symbol"]
    out = tmp_path / "top.jsonl"
    r = run("replay", str(path), "--books-json", str(out), "--depth", "2", "--symbol", symbol,
            "--no-progress")
    assert symbol in r.stdout
    assert all(len(json.loads(x)["bids"]) <= 2 for x in out.read_text().splitlines())


def test_replay_errors_are_clear(tmp_path):
    r = run("replay", str(tmp_path / "missing.itch"), check=False)
    assert r.returncode == 2 and "does not exist" in r.stderr
    bad = tmp_path / "bad.itch"
    bad.write_bytes(b"\x00\x05Zabcd")
    r = run("replay", str(bad), "--no-progress", check=False)
    assert r.returncode == 1
    assert "offset 0" in r.stderr and "unknown message type" in r.stderr


def test_sim_pcap(tmp_path):
    pcap = tmp_path / "feed.pcap"
    r = run("sim", "--pcap", str(pcap), "--messages", "2000", "--symbols", "5")
    assert "packets" in r.stdout and pcap.stat().st_size > 2000


def test_demo_books_equal(tmp_path):
    out = tmp_path / "demo.json"
    r = run("demo", "--books", "--messages", "20000", "--symbols", "20", "--rate", "50000",
            "--json", str(out))
    rep = json.loads(out.read_text())
    assert rep["books_equal"] is True, r.stdout
    assert rep["messages_received"] == 20_000
    assert rep["latency_us"]["count"] > 0


def test_listen_receives_a_published_feed(tmp_path):
    """`tickpath listen` and `tickpath sim` as two processes on loopback."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        port = str(s.getsockname()[1])
    listener = subprocess.Popen([*EXE, "listen", "--port", port, "--duration", "60"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        # the listener compiles (or loads) its kernels first; publish until it has joined
        import time

        deadline = time.monotonic() + 120
        while listener.poll() is None and time.monotonic() < deadline:
            run("sim", "--messages", "3000", "--symbols", "5", "--port", port, "--rate",
                "30000")
            try:
                out, err = listener.communicate(timeout=5)
                break
            except subprocess.TimeoutExpired:
                continue
        else:
            out, err = listener.communicate(timeout=5)
    finally:
        if listener.poll() is None:
            listener.kill()
            listener.communicate()
    assert listener.returncode == 0, err
    # a new session name at every start of the venue ('T' and its start time in base 36)
    assert "msgs" in out and re.search(r"session T[0-9A-Z]{9}\b", out), out


def test_wire_check_lists_every_transport():
    r = run("wire", "check")
    for name in ("socket", "busypoll", "packet", "xdp"):
        assert name in r.stdout


def test_bad_transport_is_refused_with_reason():
    r = run("listen", "--transport", "xdp:turbo", "--duration", "1", check=False)
    assert r.returncode == 2
    assert "unknown xdp option 'turbo'" in r.stderr and "copy or zc" in r.stderr
    r = run("listen", "--transport", "carrier-pigeon", "--duration", "1", check=False)
    assert r.returncode == 2 and "unknown transport" in r.stderr and "busypoll" in r.stderr


def test_demo_busypoll_books_equal(tmp_path):
    out = tmp_path / "demo.json"
    run("demo", "--books", "--messages", "20000", "--symbols", "20", "--rate", "50000",
        "--transport", "busypoll", "--json", str(out))
    rep = json.loads(out.read_text())
    assert rep["books_equal"] is True and rep["messages_received"] == 20_000


def test_venue_mdp3_pcap_replays_into_the_venue_books(tmp_path):
    """`tickpath venue --feed mdp3 --pcap` writes lines A, B and the snapshot loop, with a
    gap on both lines; `tickpath replay --feed mdp3` recovers it from the loop and ends with
    the venue's own books."""
    from tickpath.venue.futures import FuturesSimulator

    cap = tmp_path / "futures.pcap"
    r = run("venue", "--feed", "mdp3", "--messages", "3000", "--symbols", "20", "--seed", "6",
            "--snapshot-every", "20", "--gap", "60:62", "--drop-a", "5", "--pcap", str(cap))
    assert "wrote 3,000 MDP3 messages" in r.stdout and "snapshot-loop packets" in r.stdout
    out = tmp_path / "books.jsonl"
    r = run("replay", "--feed", "mdp3", str(cap), "--late-join", "snapshot", "--books-json",
            str(out), "--no-progress")
    got = [json.loads(line) for line in out.read_text().splitlines()]
    fut = FuturesSimulator(Simulator(symbols=20, messages=3000, seed=6), messages=3000, seed=6,
                           snapshot_every=20)
    fut.packet_list()
    assert got == fut.books()
    r = run("venue", "--feed", "mdp3", "--gap", "9", "--pcap", str(cap), check=False)
    assert r.returncode == 2 and "FIRST:LAST" in r.stderr
    r = run("venue", "--feed", "fix", check=False)
    assert r.returncode == 2 and "itch or mdp3" in r.stderr


def test_replay_skip_reports_the_bytes_lost(tmp_path):
    raw = Simulator(symbols=5, messages=2001, seed=7).blocks().tobytes()
    bad = tmp_path / "bad.itch"
    bad.write_bytes(raw[:137] + b"\x00\x00" + raw[137:])  # a zero length between two blocks
    r = run("replay", str(bad), "--no-progress", check=False)
    assert r.returncode == 1 and "offset 137" in r.stderr and "end of the session" in r.stderr
    r = run("replay", str(bad), "--no-progress", "--errors", "skip")
    assert "2,001 messages" in r.stdout
    assert "lost 2 bytes" in r.stdout and "137-139" in r.stdout


def test_listen_itch_late_join_needs_the_service_it_names():
    for args, want in ((["--late-join", "replay"], "replay (with --retransmit)"),
                       (["--late-join", "snapshot"], "snapshot (with --glimpse)"),
                       (["--glimpse", "nohost"], "--glimpse")):
        r = run("listen", *args, check=False)
        assert r.returncode == 2 and want in " ".join((r.stdout + r.stderr).split()), args
