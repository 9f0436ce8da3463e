"""The simulator's stream through the file path and the UDP path gives the simulator's books."""

from __future__ import annotations

import gzip
import threading

import numpy as np
import pytest

from tickpath import BookStore, ItchError, ItchHandler, Simulator, replay
from tickpath.apps.listener import FeedListener
from tickpath.venue.publisher import UdpPublisher
from tickpath.wire.transports import open_receiver


@pytest.fixture(scope="module")
def sim() -> Simulator:
    s = Simulator(symbols=40, messages=30_000, seed=11)
    s.blocks()
    return s


def _as_dict(books: BookStore) -> dict[int, dict]:
    return {b["locate"]: b for b in books.books()}


@pytest.mark.parametrize("suffix", [".itch", ".itch.gz"])
def test_file_replay_equals_simulator(tmp_path, sim, suffix):
    path = tmp_path / f"day{suffix}"
    sim.write(path)
    if suffix.endswith(".gz"):
        with open(path, "rb") as f:
            assert f.read(2) == b"\x1f\x8b"
    handler, rep = replay(path, chunk_bytes=4096, max_orders=1 << 14)
    assert rep.messages == sim.messages_generated
    assert _as_dict(handler.books) == sim.books()
    assert rep.book_stats["rejected"] == 0 and rep.malformed == 0


def test_truncated_file_names_offset(tmp_path, sim):
    raw = sim.blocks().tobytes()
    path = tmp_path / "cut.itch"
    path.write_bytes(raw[:-5])
    with pytest.raises(ItchError, match=r"offset \d+: truncated message at end of file"):
        replay(path, max_orders=1 << 14)
    handler, rep = replay(path, max_orders=1 << 14, errors="skip")
    assert rep.malformed == 1
    assert rep.messages == sim.messages_generated - 1


def test_gzip_detected_by_magic_not_name(tmp_path, sim):
    path = tmp_path / "noext"
    path.write_bytes(gzip.compress(sim.blocks().tobytes()))
    handler, rep = replay(path, max_orders=1 << 14)
    assert _as_dict(handler.books) == sim.books()


@pytest.mark.parametrize("transport", ["socket", "recv", "busypoll"])
def test_udp_loopback_equals_simulator(sim, transport):
    """Publisher and listener over a real UDP socket on loopback (paced so nothing drops)."""
    handler = ItchHandler(BookStore(max_orders=1 << 14, errors="skip"), errors="skip")
    handler.warm_up()
    with open_receiver(transport, "127.0.0.1", 0) as rx:
        port = rx.sock.getsockname()[1]
        ready = threading.Event()

        def publish() -> None:
            with UdpPublisher("127.0.0.1", port, session="TEST") as pub:
                pub.warm_up()
                ready.wait(10)
                pub.publish([sim.blocks()], rate=50_000)
                pub.end_session()

        t = threading.Thread(target=publish, daemon=True)
        t.start()
        rep = FeedListener(rx, handler).run(duration=60, idle_timeout=5, on_ready=ready.set)
        t.join(10)
    assert rep.ended
    assert rep.session["gaps"] == 0
    assert rep.messages == sim.messages_generated
    assert _as_dict(handler.books) == sim.books()
    # every packet was stamped by the venue at send time and measured after the books
    assert rep.latency_ns.size == rep.session["packets"] - rep.session["end_of_session"]
    assert np.all(rep.latency_ns > 0)
