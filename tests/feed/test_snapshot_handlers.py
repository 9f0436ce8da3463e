"""The snapshot feed's receivers: the compiled SnapshotFeed and the plain-Python
PySnapshotFeed keep the same books as each other and as the venue, count gaps (the next
snapshot repairs them), refuse malformed messages by reason leaving the book untouched, agree
on any input (a differential fuzz), and run live over UDP through a real receiver."""

from __future__ import annotations

import struct
import threading

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tickpath.apps.listener import FeedListener
from tickpath.codec.book_snapshot import (
    REFUSAL_TEXT,
    BookSnapshot,
    Refusal,
    encode,
    parse_blocks,
)
from tickpath.feed.moldudp64 import pack_packets
from tickpath.feed.snapshot import PySnapshotFeed, SnapshotFeed
from tickpath.venue import Simulator
from tickpath.venue.live import LiveVenue
from tickpath.venue.snapshot_feed import snapshot_blocks_of
from tickpath.wire.handler import END_OF_SESSION, GO_ON
from tickpath.wire.transports import open_receiver

HANDLERS = [SnapshotFeed, PySnapshotFeed]


def _packets(blocks: np.ndarray, session: str = "SNAPS", first: int = 1,
             max_payload: int = 1400) -> list[np.ndarray]:
    out, bounds, counts = pack_packets(blocks, session, first, max_payload)
    return [out[bounds[k]:bounds[k + 1]].copy() for k in range(counts.size)]


def _eos(session: str, seq: int) -> np.ndarray:
    return np.frombuffer(session.ljust(10).encode() + struct.pack(">QH", seq, 0xFFFF),
                         np.uint8).copy()


def _feed(handler, packets) -> list[int]:
    return [handler.on_datagram(p, p.size, 0) for p in packets]


def _books(handler) -> dict[int, tuple]:
    return {b["locate"]: (b["symbol"], b["seq"] % 2**64, b["bids"], b["asks"])
            for b in handler.books()}


def _venue_books(sim: Simulator, depth: int) -> dict[int, tuple]:
    return {loc: (b["bids"][:depth], b["asks"][:depth]) for loc, b in sim.books().items()}


@pytest.fixture(scope="module")
def day():
    sim = Simulator(symbols=12, messages=20_000, seed=4)
    blocks = sim.blocks()
    return sim, snapshot_blocks_of(blocks, 10)


def test_both_end_with_the_venues_books(day):
    sim, snaps = day
    packets = _packets(snaps) + [_eos("SNAPS", 0)]
    packets[-1][10:18] = np.frombuffer(struct.pack(">Q", len(parse_blocks(snaps)) + 1), np.uint8)
    c, p = SnapshotFeed(), PySnapshotFeed()
    codes_c, codes_p = _feed(c, packets), _feed(p, packets)
    assert codes_c == codes_p == [GO_ON] * (len(packets) - 1) + [END_OF_SESSION]
    assert c.ended and p.ended
    assert _books(c) == _books(p)
    assert {k: v[2:] for k, v in _books(c).items()} == _venue_books(sim, 10)
    assert c.session_stats() == p.session_stats()
    assert c.refusals() == p.refusals() and c.refusals()["refused"] == 0
    assert c.snapshots == p.snapshots == c.messages == p.messages > 15_000
    assert c.samples == p.samples == len(packets) - 1
    for h in (c, p):
        loc = next(iter(_venue_books(sim, 10)))
        bids, asks = _venue_books(sim, 10)[loc]
        assert h.bbo(loc) == (tuple(bids[0]) if bids else None, tuple(asks[0]) if asks else None)
        assert h.depth(loc, 2)["bids"] == bids[:2]
    assert c.bbo(0) == p.bbo(0) == (None, None)


def test_gaps_are_counted_and_the_next_snapshot_repairs(day):
    sim, snaps = day
    packets = _packets(snaps)
    kept = [pk for k, pk in enumerate(packets) if k % 7 != 3]
    kept.insert(5, kept[4])  # a duplicate too
    c, p = SnapshotFeed(), PySnapshotFeed()
    _feed(c, kept)
    _feed(p, kept)
    s = c.session_stats()
    assert s == p.session_stats()
    assert s["gaps"] == len(range(3, len(packets) - 1, 7)) and s["duplicate_packets"] == 1
    assert _books(c) == _books(p)
    # each book is the last snapshot that arrived for it; those the gaps took were repaired
    # by a later one wherever a later one came
    last = {}
    for pk in kept:
        for snap in parse_blocks(pk[20:].tobytes()):
            last[snap.locate] = snap
    assert {k: v[2:] for k, v in _books(c).items()} == {
        loc: ([list(x) for x in v.bids], [list(x) for x in v.asks])
        for loc, v in last.items() if v.bids or v.asks}


def _datagram(messages: list[bytes], seq: int, session: str = "SNAPS") -> np.ndarray:
    body = b"".join(len(m).to_bytes(2, "big") + m for m in messages)
    head = session.ljust(10).encode() + struct.pack(">QH", seq, len(messages))
    return np.frombuffer(head + body, np.uint8).copy()


GOOD1 = encode(BookSnapshot(1, 100, [(300, 10, 1), (200, 5, 2)], [(400, 7, 1)], "ONE"))
GOOD2 = encode(BookSnapshot(2, 101, [(50, 1, 1)], [], "TWO"))


def _with(raw: bytes, offset: int, value: int) -> bytes:
    return raw[:offset] + bytes([value]) + raw[offset + 1:]


BAD = {
    Refusal.SHORT: GOOD1[:20],
    Refusal.UNKNOWN_TYPE: b"A" + GOOD1[1:],
    Refusal.LENGTH: _with(GOOD1, 27, 9),  # nine bids claimed: past the message's end
    Refusal.TOO_DEEP: encode(BookSnapshot(1, 102, [(300 - k, 1, 1) for k in range(5)], [])),
    Refusal.LOCATE: encode(BookSnapshot(40, 102, [(1, 1, 1)], [])),
    Refusal.BAD_LEVELS: encode(BookSnapshot(1, 102, [(200, 1, 1), (300, 1, 1)], [])),
}


@pytest.mark.parametrize("kind", HANDLERS)
@pytest.mark.parametrize("reason", list(BAD))
def test_malformed_snapshots_are_refused_the_book_untouched(kind, reason):
    h = kind(max_depth=4, max_locates=32)
    first = _datagram([GOOD1], 1)
    h.on_datagram(first, first.size, 0)
    before = h.depth(1)
    d = _datagram([BAD[reason], GOOD2], 2)
    assert h.on_datagram(d, d.size, 0) == GO_ON
    assert h.depth(1) == before  # untouched
    assert h.depth(2)["bids"] == [[50, 1, 1]]  # the datagram's good message is taken
    r = h.refusals()
    assert r["refused"] == 1 and r[reason.name.lower()] == 1
    assert h.last_refusal() == (f"Book Snapshot refused at offset 22 of its datagram "
                                f"(sequence number 2): {REFUSAL_TEXT[reason]}")
    assert h.snapshots == 2 and h.messages == 3


@pytest.mark.parametrize("kind", HANDLERS)
def test_a_block_past_the_datagram_refuses_the_whole_datagram(kind):
    h = kind()
    d = _datagram([GOOD2, GOOD1], 1)
    cut = d[:-3]  # the last block's length runs past the datagram's end
    h.on_datagram(cut, cut.size, 0)
    assert h.session_stats()["malformed"] == 1 and h.snapshots == 0 and h.messages == 0
    assert list(h.books()) == []
    h.on_datagram(d, d.size, 0)
    assert h.snapshots == 2


def _stream() -> list[bytes]:
    snaps = [encode(BookSnapshot(k % 5, 10 + k, [(1000 - j, 1 + j, 1) for j in range(k % 4)],
                                 [(2000 + j, 3, 2) for j in range(k % 3)], f"S{k % 5}"))
             for k in range(12)]
    return [_datagram(snaps[0:3], 1).tobytes(), _datagram(snaps[3:7], 4).tobytes(),
            _datagram(snaps[7:12], 8).tobytes()]


_mutation = st.tuples(st.integers(0, 2), st.integers(18, 400), st.integers(0, 255))


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(mutations=st.lists(_mutation, max_size=6), cut=st.lists(st.integers(0, 500), max_size=3),
       seq_shift=st.integers(-3, 3), depth=st.integers(1, 4))
def test_differential_fuzz(mutations, cut, seq_shift, depth):
    """Mutated datagrams (bytes from the message count on changed, datagrams cut short,
    sequence numbers moved): both handlers take and refuse the same, end with the same
    books and counters, and never raise."""
    stream = [bytearray(d) for d in _stream()]
    for which, off, val in mutations:
        if off < len(stream[which]):
            stream[which][off] = val
    for k, n in enumerate(cut):
        if n < len(stream[k]):
            del stream[k][n:]
    if len(stream[1]) >= 18:
        seq = int.from_bytes(stream[1][10:18], "big") + seq_shift
        stream[1][10:18] = max(seq, 0).to_bytes(8, "big")
    c = SnapshotFeed(max_depth=depth, max_locates=4)
    p = PySnapshotFeed(max_depth=depth, max_locates=4)
    for d in stream:
        a = np.frombuffer(bytes(d), np.uint8).copy()
        assert c.on_datagram(a, a.size, 0) == p.on_datagram(bytes(d), len(d), 0)
    assert c.session_stats() == p.session_stats()
    assert c.refusals() == p.refusals()
    assert _books(c) == _books(p)
    assert c.snapshots + c.refusals()["refused"] == c.messages


@settings(max_examples=300, deadline=None)
@given(data=st.binary(min_size=0, max_size=300), depth=st.integers(1, 3))
def test_compiled_decoder_fuzz(data, depth):
    """Any bytes after a valid-looking MoldUDP64 header: never a crash, every message taken
    or refused, and every book it keeps sorted, with shares, within its depth."""
    h = SnapshotFeed(max_depth=depth, max_locates=8)
    for raw in (data, b"SNAPS     " + struct.pack(">QH", 1, 3) + data):
        a = np.frombuffer(raw, np.uint8).copy()
        h.on_datagram(a, a.size, 0)
    assert h.snapshots + h.refusals()["refused"] == h.messages
    assert (h.counts <= depth).all()
    for b in h.books():
        prices = [lv[0] for lv in b["bids"]]
        assert prices == sorted(set(prices), reverse=True)
        prices = [lv[0] for lv in b["asks"]]
        assert prices == sorted(set(prices))
        assert all(lv[1] > 0 for lv in b["bids"] + b["asks"])


@pytest.mark.parametrize("transport, kind", [("busypoll", SnapshotFeed),
                                             ("socket", PySnapshotFeed)])
def test_live_over_udp(transport, kind):
    """A live venue's snapshot feed through a real receiver on loopback, driven by the
    listener: the same books as the venue's at the end of the day."""
    handler = kind(max_depth=6)
    with open_receiver(transport, "127.0.0.1", 0) as rx:
        port = rx.sock.getsockname()[1]
        sink = open_receiver("socket", "127.0.0.1", 0)  # the incremental feed, unread
        venue = LiveVenue(symbols=8, messages=12_000, seed=21,
                          feed_port=sink.sock.getsockname()[1], rate=60_000,
                          snapshot_feed=("127.0.0.1", port), snapshot_depth=6,
                          feed_heartbeat_s=0)
        venue.warm_up()
        ready = threading.Event()
        failed: list[BaseException] = []

        def serve() -> None:
            try:
                ready.wait(30)
                venue.start()
                venue.run()
                venue.end()
            except BaseException as e:  # shown by the test, not lost in the thread
                failed.append(e)

        t = threading.Thread(target=serve, daemon=True)
        t.start()
        lst = FeedListener(rx, handler)
        lst.warm_up()
        rep = lst.run(duration=60, idle_timeout=10, on_ready=ready.set)
        t.join(30)
        venue.close()
        sink.close()
    assert not failed, failed
    assert rep.ended and rep.session["gaps"] == 0
    st_ = venue.stats()
    assert rep.messages == st_["snapshot_feed_messages"] == handler.snapshots
    assert {k: v[2:] for k, v in _books(handler).items()} == _venue_books(venue.sim, 6)
    assert rep.latency_ns.size == handler.samples > 0 and np.all(rep.latency_ns > 0)


def test_the_python_baseline_refuses_a_compiled_transport():
    with open_receiver("busypoll", "127.0.0.1", 0) as rx:
        with pytest.raises(TypeError, match="plain Python.*socket transport"):
            FeedListener(rx, PySnapshotFeed()).warm_up()
