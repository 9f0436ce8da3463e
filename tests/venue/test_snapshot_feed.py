"""The snapshot feed's venue side: after every ITCH message that changes a book, the Book
Snapshot of that instrument equals the top levels of tickpath's own BookStore at that
message; the replica grows, the output is drained in chunks, bad input is refused by offset;
the live venue publishes it on its own session and port, stamped at send, and counts bytes."""

from __future__ import annotations

import re
import socket
import time

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tickpath.book import BookStore
from tickpath.book.store import BookError
from tickpath.codec.book_snapshot import HEADER_LEN, MAX_DEPTH, parse, parse_blocks
from tickpath.codec.itch50 import BOOK_TYPES, EVENT_DTYPE, LENGTHS, encode
from tickpath.codec.itch50.decode import OK, decode_batch
from tickpath.feed.moldudp64.layout import END_OF_SESSION
from tickpath.feed.moldudp64.layout import HEADER_LEN as MOLD_HEADER
from tickpath.telemetry.feedtime import FeedTime, since_midnight
from tickpath.venue import Simulator
from tickpath.venue.live import LiveVenue
from tickpath.venue.publisher import FRAME_OVERHEAD, UdpPublisher
from tickpath.venue.snapshot_feed import SnapshotGenerator, snapshot_blocks_of
from tickpath.venue.snapshot_publisher import snapshot_session_name


def _events(blocks: np.ndarray) -> np.ndarray:
    ev = np.zeros(blocks.size // 12 + 1, EVENT_DTYPE)
    n, status, _ = decode_batch(blocks, 0, blocks.size, LENGTHS, ev, 0, 0)
    assert status == OK
    return ev[:n]


def _check_every_step(blocks: np.ndarray, depth: int, snaps_raw: np.ndarray,
                      first_seq: int = 1) -> int:
    """Apply the day to a BookStore one message at a time; after each book change the next
    snapshot must be that instrument's top ``depth`` levels, and nothing else may come."""
    events = _events(blocks)
    snaps = iter(parse_blocks(snaps_raw))
    ref = BookStore(max_orders=1 << 16, initial_orders=1 << 12)
    changes = 0
    for i, ev in enumerate(events):
        ref.apply(events, i + 1, start=i)
        if chr(ev["type"]) not in BOOK_TYPES:
            continue
        changes += 1
        loc = int(ev["locate"])
        s = next(snaps)
        want = ref.depth(loc, depth)
        assert (s.seq, s.locate) == (first_seq + i, loc)
        assert (s.tracking, s.timestamp) == (int(ev["tracking"]), int(ev["timestamp"]))
        assert s.stock == want["symbol"]
        assert [list(lv) for lv in s.bids] == want["bids"], f"message {i}"
        assert [list(lv) for lv in s.asks] == want["asks"], f"message {i}"
    assert next(snaps, None) is None
    return changes


@pytest.fixture(scope="module")
def day() -> np.ndarray:
    return Simulator(symbols=6, messages=6000, seed=5).blocks()


@pytest.mark.parametrize("depth", [10, 3])
def test_every_snapshot_is_the_books_top(day, depth):
    changes = _check_every_step(day, depth, snapshot_blocks_of(day, depth))
    assert changes > 5000


@settings(max_examples=12, deadline=None)
@given(symbols=st.integers(1, 6), messages=st.integers(100, 2500),
       seed=st.integers(0, 2**31), depth=st.integers(1, MAX_DEPTH),
       first_seq=st.integers(1, 2**40))
def test_random_days_and_depths(symbols, messages, seed, depth, first_seq):
    blocks = Simulator(symbols=symbols, messages=messages + 2 * symbols + 6, seed=seed).blocks()
    _check_every_step(blocks, depth, snapshot_blocks_of(blocks, depth, first_seq), first_seq)


def test_trades_of_hidden_orders_and_other_messages_cause_none():
    msgs = [encode("S", event_code="O"),
            encode("R", stock_locate=3, stock="ABC"),
            encode("A", stock_locate=3, order_reference_number=1, buy_sell_indicator="B",
                   shares=100, stock="ABC", price=10_000),
            encode("P", stock_locate=3, order_reference_number=0, buy_sell_indicator="B",
                   shares=50, stock="ABC", price=10_100, match_number=1),
            encode("H", stock_locate=3, stock="ABC", trading_state="T"),
            encode("E", stock_locate=3, order_reference_number=1, executed_shares=40,
                   match_number=2),
            encode("D", stock_locate=3, order_reference_number=1)]
    blocks = np.frombuffer(b"".join(len(m).to_bytes(2, "big") + m for m in msgs), np.uint8)
    snaps = parse_blocks(snapshot_blocks_of(blocks, 5, first_seq=100))
    assert [(s.seq, s.stock, s.bids, s.asks) for s in snaps] == [
        (102, "ABC", [(10_000, 100, 1)], []),
        (105, "ABC", [(10_000, 60, 1)], []),
        (106, "ABC", [], [])]


def test_growth_chunks_and_split_input_give_the_same_feed(day):
    whole = snapshot_blocks_of(day, 7)
    gen = SnapshotGenerator(7, initial_orders=16, batch=7, out_bytes=0)
    chunks = [c.copy() for c in gen.run(day, 1)]
    assert len(chunks) > 100  # the smallest buffer: a few snapshots a chunk
    assert np.array_equal(np.concatenate(chunks), whole)
    assert gen.books.capacity > 16
    assert (gen.messages, gen.snapshots, gen.bytes) == (
        len(_events(day)), len(parse_blocks(whole)), whole.size)
    # the day handed over in pieces, each with its first message's sequence number
    offsets, p = [0], 0
    while p < day.size:
        p += 2 + (int(day[p]) << 8 | int(day[p + 1]))
        offsets.append(p)
    cuts = [0, 1, 997, 3000, len(offsets) - 1]
    gen = SnapshotGenerator(7)
    parts = [gen.blocks_of(day[offsets[a]:offsets[b]], 1 + a)
             for a, b in zip(cuts, cuts[1:], strict=False)]
    assert np.array_equal(np.concatenate(parts), whole)


def test_bad_input_is_refused_by_offset(day):
    bad = day[:200].copy()
    first = 2 + (int(bad[0]) << 8 | int(bad[1]))
    bad[first + 2] = ord("?")  # the second message's type
    with pytest.raises(ValueError, match=f"offset {first} \\(sequence number 2\\) is not ITCH: unknown"):
        snapshot_blocks_of(bad)
    with pytest.raises(ValueError, match="truncated"):
        snapshot_blocks_of(day[:first + 5])
    e = encode("E", stock_locate=1, order_reference_number=77, executed_shares=1)
    with pytest.raises(BookError, match="unknown order reference"):
        snapshot_blocks_of(np.frombuffer(len(e).to_bytes(2, "big") + e, np.uint8))
    for depth in (0, MAX_DEPTH + 1):
        with pytest.raises(ValueError, match="depth"):
            SnapshotGenerator(depth)


def test_session_names():
    assert snapshot_session_name("TICKPATH01") == "TICKPATH0S"
    assert snapshot_session_name("TEST") == "TESTS"
    assert snapshot_session_name("FEEDS") == "FEEDSS"
    assert snapshot_session_name("TICKPATH0S") == "TICKPATH0B"


class _Sink:
    """A UDP socket on loopback that keeps every datagram."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 << 20)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.setblocking(False)
        self.port = self.sock.getsockname()[1]
        self.packets: list[bytes] = []

    def read(self) -> None:
        while True:
            try:
                self.packets.append(self.sock.recv(65536))
            except BlockingIOError:
                return

    def until_end(self) -> None:
        end = time.monotonic() + 10
        while time.monotonic() < end:
            self.read()
            if self.packets and int.from_bytes(self.packets[-1][18:20], "big") == END_OF_SESSION:
                return
            time.sleep(0.005)

    def data(self) -> list[bytes]:
        return [p for p in self.packets if int.from_bytes(p[18:20], "big") not in (0, END_OF_SESSION)]

    def close(self) -> None:
        self.sock.close()


def _messages(packet: bytes) -> list[bytes]:
    out, p = [], MOLD_HEADER
    for _ in range(int.from_bytes(packet[18:20], "big")):
        n = int.from_bytes(packet[p:p + 2], "big")
        out.append(packet[p + 2:p + 2 + n])
        p += 2 + n
    return out


def test_publisher_counts_payload_bytes(day):
    sink = _Sink()
    try:
        with UdpPublisher("127.0.0.1", sink.port, session="BYTES", sender="sendto") as pub:
            pub.publish([day], rate=200_000)
            pub.end_session()
        sink.until_end()
        data = sink.data()
        assert pub.packets == len(data) and pub.bytes == sum(map(len, data))
        assert pub.frame_bytes == pub.bytes + FRAME_OVERHEAD * pub.packets
    finally:
        sink.close()


def test_live_venue_publishes_the_snapshot_feed():
    feed, snaps = _Sink(), _Sink()
    try:
        with LiveVenue(symbols=4, messages=4000, seed=3, feed_port=feed.port, rate=100_000,
                       snapshot_feed=("127.0.0.1", snaps.port), snapshot_depth=4,
                       feed_heartbeat_s=0) as venue:
            venue.start()
            venue.run()
            venue.end()
            st = venue.stats()
        feed.until_end()
        snaps.until_end()
        itch = [m for p in feed.data() for m in _messages(p)]
        data = snaps.data()
        got = [parse(m) for p in data for m in _messages(p)]
        assert all(p[:10] == b"TICKPATH0S" for p in snaps.packets)
        assert st["feed_messages"] == len(itch) == 4000
        assert st["feed_bytes"] == sum(map(len, feed.data()))
        assert st["snapshot_feed_messages"] == len(got)
        assert st["snapshot_feed_packets"] == len(data)
        assert st["snapshot_feed_bytes"] == sum(map(len, data))
        assert st["snapshot_feed_frame_bytes"] == st["snapshot_feed_bytes"] + 42 * len(data)
        # one snapshot per book change, in order, each naming its ITCH message
        changes = [k + 1 for k, m in enumerate(itch) if chr(m[0]) in BOOK_TYPES]
        assert [s.seq for s in got] == changes
        assert all(s.locate == int.from_bytes(itch[s.seq - 1][1:3], "big") for s in got)
        # the day's last books, as the venue's own
        last = {s.locate: s for s in got}
        books = venue.sim.books()
        for loc, s in last.items():
            want = books.get(loc, {"bids": [], "asks": []})
            assert [list(lv) for lv in s.bids] == want["bids"][:4]
            assert [list(lv) for lv in s.asks] == want["asks"][:4]
        # stamped at send: the time of day now, not the simulator's clock
        table = np.ascontiguousarray(FeedTime().table)
        now = since_midnight(table, time.clock_gettime_ns(time.CLOCK_REALTIME))
        assert all(abs(s.timestamp - now) < 600 * 10**9 for s in got)
        assert min(len(m) for p in data for m in _messages(p)) >= HEADER_LEN
    finally:
        feed.close()
        snaps.close()


def test_command_line_publishes_the_snapshot_feed(tmp_path):
    from typer.testing import CliRunner

    from tickpath.cli import app

    feed, snaps = _Sink(), _Sink()
    try:
        res = CliRunner().invoke(app, [
            "venue", "--symbols", "3", "--messages", "3000", "--port", str(feed.port),
            "--sender", "sendto", "--snapshot-feed", f"127.0.0.1:{snaps.port}",
            "--snapshot-depth", "5", "--orders-port", "0", "--account", "ALICE:pw1",
            "--quiet", "--duration", "0.2"])
        assert res.exit_code == 0, res.output
        out = " ".join(res.output.split())
        # the feed's session is new at every start: the snapshot feed's is it, S last
        feed_session = re.search(r"publishing to udp://\S+ session (\w+)", out).group(1)
        assert f"Book Snapshot feed on udp://127.0.0.1:{snaps.port} session " \
               f"{snapshot_session_name(feed_session)}, 5 levels a side" in out
        snaps.until_end()
        got = [parse(m) for p in snaps.data() for m in _messages(p)]
        assert f"snapshot_feed_messages {len(got):,}" in out and len(got) > 50
        assert 0 < max(len(s.bids) for s in got) <= 5
    finally:
        feed.close()
        snaps.close()
    for args, why in ((["--snapshot-feed", "nowhere"], "HOST:PORT"),
                      (["--snapshot-feed", "127.0.0.1:9", "--snapshot-depth", "65"], "1..64"),
                      (["--snapshot-feed", "127.0.0.1:9", "--pcap", str(tmp_path / "x")],
                       "live venue"),
                      (["--snapshot-feed", "127.0.0.1:9", "--feed", "mdp3"], "ITCH venue")):
        r = CliRunner().invoke(app, ["venue", *args])
        assert r.exit_code == 2 and why in " ".join(r.output.split()), r.output


def test_a_days_snapshot_feed_in_a_pcap_replays_into_the_venues_books(tmp_path):
    from tickpath.apps.listener import FeedListener
    from tickpath.feed.snapshot import SnapshotFeed
    from tickpath.venue.snapshot_publisher import write_snapshot_pcap
    from tickpath.wire.transports import open_receiver

    sim = Simulator(symbols=5, messages=4000, seed=8)
    path = tmp_path / "snap.pcap"
    n = write_snapshot_pcap(sim.chunks(1000), path, depth=4, dst=("233.54.12.2", 26410))
    assert n == len(parse_blocks(snapshot_blocks_of(Simulator(5, 4000, 8).blocks(), 4)))
    feed = SnapshotFeed(max_depth=4)
    with open_receiver(f"pcap:{path}", "233.54.12.2", 26410) as rx:
        rep = FeedListener(rx, feed).run(duration=30)
    assert rep.ended and rep.messages == feed.snapshots == n
    assert {b["locate"]: (b["bids"], b["asks"]) for b in feed.books()} == {
        loc: (b["bids"][:4], b["asks"][:4]) for loc, b in sim.books().items()}
