"""The full-snapshot channel live on loopback: FuturesLiveVenue publishes it beside the MDP3
lines, FullRefreshFeed takes it through a transport and FeedListener, and ends with the
venue's books; the venue counts every channel's messages, packets and bytes; the command
line offers it; a day's channel in a pcap replays into the venue's books."""

from __future__ import annotations

import socket
import threading

import pytest

from tickpath.apps.listener import FeedListener
from tickpath.feed.mdp3_full import FullRefreshFeed
from tickpath.venue.futures import FuturesSimulator
from tickpath.venue.futures_live import FuturesLiveVenue
from tickpath.venue.mdp3_full import full_snapshots_of
from tickpath.venue.mdp3_full_publisher import write_full_snapshot_pcap
from tickpath.wire.transports import open_receiver


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _sink() -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    s.bind(("127.0.0.1", 0))
    return s


@pytest.mark.parametrize("transport", ["socket", "busypoll"])
def test_live_full_snapshots_end_with_the_venue_books(transport):
    port = _free_port()
    feed = FullRefreshFeed()
    with _sink() as lines, open_receiver(transport, "127.0.0.1", port) as rx:
        a = ("127.0.0.1", lines.getsockname()[1])
        venue = FuturesLiveVenue(messages=3_000, seed=6, equity_symbols=5,
                                 equity_messages=3_000, rate=30_000, a=a,
                                 snapshot_every=100, full_snapshots=("127.0.0.1", port))
        listener = FeedListener(rx, feed)
        listener.warm_up()
        errors: list[BaseException] = []

        def serve() -> None:
            try:
                venue.start()
                venue.run()
                venue.end()
            except BaseException as e:  # noqa: BLE001 - reported by the test below
                errors.append(e)

        with venue:
            t = threading.Thread(target=serve)
            t.start()
            rep = listener.run(duration=60, idle_timeout=2.0, until_end_of_session=False)
            t.join()
            st = venue.stats()
    assert not errors
    assert st["full_snapshot_messages"] == feed.snapshots == rep.messages > 1000
    assert st["full_snapshot_packets"] == feed.session_stats()["packets"]
    assert st["full_snapshot_frame_bytes"] == st["full_snapshot_bytes"] \
        + 42 * st["full_snapshot_packets"]
    assert st["feed_bytes"] > 0 and st["snapshot_bytes"] > 0
    assert feed.session_stats()["gaps"] == 0 and feed.refusals()["refused"] == 0
    got = {b["security_id"]: (b["bids"], b["asks"]) for b in feed.books()}
    want = {b["security_id"]: (b["bids"], b["asks"]) for b in venue.fut.books()}
    assert got == want
    # stamped at send: SendingTime is now (the venue's day is 2024-01-02), one sample a
    # datagram, each with its send stamp
    n = feed.samples
    assert n == rep.latency_ns.size > 0 and (rep.sent_ns[:n] > 1_750_000_000 * 10**9).all()


def test_command_line_offers_full_snapshots(tmp_path):
    from typer.testing import CliRunner

    from tickpath.cli import app

    with _sink() as lines, _sink() as full:
        full.settimeout(5)
        res = CliRunner().invoke(app, [
            "venue", "--feed", "mdp3", "--messages", "1500", "--symbols", "3",
            "--port", str(lines.getsockname()[1]), "--sender", "sendto",
            "--full-snapshots", f"127.0.0.1:{full.getsockname()[1]}"])
        assert res.exit_code == 0, res.output
        out = " ".join(res.output.split())
        assert f"full snapshots udp://127.0.0.1:{full.getsockname()[1]}" in out
        first = full.recv(65536)
        assert int.from_bytes(first[:4], "little") == 1
        assert int.from_bytes(first[14:16], "little") == 59  # blockLength of a 52
        assert int.from_bytes(first[16:18], "little") == 52
        assert "full_snapshot_messages" in out
    r = CliRunner().invoke(app, ["venue", "--feed", "mdp3", "--full-snapshots", "nowhere"])
    assert r.exit_code == 2 and "HOST:PORT" in " ".join(r.output.split()), r.output
    r = CliRunner().invoke(app, ["venue", "--feed", "mdp3", "--full-snapshots", "127.0.0.1:9",
                                 "--pcap", str(tmp_path / "x.pcap")])
    assert r.exit_code == 2 and "live" in " ".join(r.output.split()), r.output


def test_a_days_full_snapshots_in_a_pcap_replay_into_the_venue_books(tmp_path):
    fut = FuturesSimulator(None, messages=3_000, seed=12, snapshot_every=0)
    path = tmp_path / "full.pcap"
    n = write_full_snapshot_pcap(fut, path, dst=("224.0.31.23", 14330))
    assert n == full_snapshots_of(fut).kinds.shape[0]
    feed = FullRefreshFeed()
    with open_receiver(f"pcap:{path}", "224.0.31.23", 14330) as rx:
        FeedListener(rx, feed).run(duration=30, idle_timeout=1.0, until_end_of_session=False)
    assert feed.session_stats()["packets"] == n
    assert {b["security_id"]: (b["bids"], b["asks"]) for b in feed.books()} == {
        b["security_id"]: (b["bids"], b["asks"]) for b in fut.books()}
