"""Books from the venue's snapshot service (GLIMPSE-style, over SoupBinTCP) in a live
listener, on loopback: a receiver that joins late loads the snapshot and follows the feed
from its sequence number; a gap the feed cannot repair (no re-request server, a blackout on
the line) leaves it stale until the next snapshot makes it exact again. Either way the final
books are the venue's, and the strategy's ring is told (the top of every book, then STATUS)."""

from __future__ import annotations

import threading
import time
import uuid

import numpy as np
import pytest

from tickpath.apps.listener import FeedListener
from tickpath.book import BookStore
from tickpath.engine.feed_stage import tap_wait
from tickpath.feed.itch import ItchFeed, ItchHandler
from tickpath.feed.itch.glimpse import GlimpseError, fetch_snapshot
from tickpath.feed.moldudp64 import MoldSession
from tickpath.feed.moldudp64.recovery import MoldRecovery
from tickpath.ring import SpscRing
from tickpath.strategy.records import BOOK, SLOT_SIZE, STATUS, STATUS_EXACT, TOP_DTYPE
from tickpath.venue.faults import FaultPlan
from tickpath.venue.live import LiveVenue
from tickpath.wire.transports import open_receiver


def _books(feed: ItchFeed) -> dict[int, dict]:
    return {b["locate"]: b for b in feed.books.books()}


def _free_udp_port() -> int:
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _run_venue(venue: LiveVenue, messages: int, snapshots: int = 0,
               then: int = 0) -> threading.Thread:
    """The venue's loop in a thread: turns until ``snapshots`` snapshots were served, then
    ``messages`` more of the day, then turns until ``then`` snapshots were served in all
    (each wait bounded), then its end."""
    def serve(n: int) -> None:
        end = time.monotonic() + 30
        while venue.stats()["glimpse_snapshots"] < n and time.monotonic() < end:
            venue.turn(0)
            time.sleep(0.0005)

    def day() -> None:
        serve(snapshots)
        venue.run(messages=messages)
        serve(then)
        venue.end()

    t = threading.Thread(target=day, daemon=True)
    t.start()
    return t


def test_a_late_joiner_loads_the_snapshot_and_follows_the_feed():
    port = _free_udp_port()
    with LiveVenue(symbols=6, messages=40_000, seed=8, rate=50_000, feed_port=port,
                   sender="sendto", snapshot_port=0) as venue:
        venue.start()
        venue.run(messages=3000)  # the day is under way before the receiver exists
        rx = open_receiver("socket", "127.0.0.1", port)
        feed = ItchFeed(ItchHandler(errors="skip"))
        lst = FeedListener(rx, feed, snapshot=("127.0.0.1", venue.snapshot_port),
                           late_join=True)
        lst.warm_up()
        t = _run_venue(venue, 5000, snapshots=1)
        with rx:
            rep = lst.run(duration=30)
        t.join(10)
        want = venue.sim.books()
    assert rep.ended and feed.exact and lst.snapshot_errors == []
    r = feed.recovery_stats()
    assert r["snapshots"] == 1 and r["snapshot_messages"] > 0
    assert feed.session_stats()["gaps"] == 0
    assert _books(feed) == want


def test_a_stale_feed_is_made_exact_again_by_a_snapshot_and_the_strategy_is_told():
    port = _free_udp_port()
    ring = SpscRing.create(f"tp-test-{uuid.uuid4().hex[:8]}", 1 << 17, SLOT_SIZE,
                           policy="drop")
    try:
        with LiveVenue(symbols=6, messages=40_000, seed=9, rate=50_000, feed_port=port,
                       sender="sendto", snapshot_port=0,
                       faults_a=FaultPlan(blackout=(150, 170))) as venue:
            venue.start()
            rx = open_receiver("socket", "127.0.0.1", port)
            feed = ItchFeed(ItchHandler(BookStore(errors="skip"), errors="skip"),
                            MoldSession(), tap=(ring.header, ring.words,
                                                tap_wait("busy_spin", 0)),
                            recovery=MoldRecovery(None, timeout_s=0.01, max_attempts=1))
            lst = FeedListener(rx, feed, snapshot=("127.0.0.1", venue.snapshot_port))
            lst.warm_up()
            t = _run_venue(venue, 20_000, then=1)  # the day is not over before the snapshot
            with rx:
                rep = lst.run(duration=30, tick_s=0.05)
            t.join(10)
            want = venue.sim.books()
            assert venue.stats()["a_blacked_out"] == 20
        r = feed.recovery_stats()
        assert rep.ended and feed.exact and lst.snapshot_errors == []
        assert r["gave_up"] == 1 and r["snapshots"] == 1 and r["gaps_repaired"] == 1
        assert _books(feed) == want
        recs = ring.records(TOP_DTYPE)[:int(ring.counters()["producer_position"])]
        kinds = recs["kind"]
        told = np.flatnonzero(kinds == STATUS)
        flag = TOP_DTYPE.names[STATUS_EXACT]
        assert [int(recs[i][flag]) for i in told] == [0, 1]
        # between going stale and exact again: the top of every book from the snapshot
        tops = recs[told[1] - 6:told[1]]
        assert (tops["kind"] == BOOK).all() and sorted(tops["locate"]) == list(range(1, 7))
        with pytest.raises(GlimpseError, match="cannot connect"):
            fetch_snapshot("127.0.0.1", _free_udp_port(), timeout_s=0.5)
    finally:
        ring.unlink()
        ring.close()


def test_a_late_join_whose_snapshot_fails_stays_stale_until_one_is_read():
    """The snapshot service cannot be reached at the start: the feed is stale (nothing
    applied, never taken for exact) and the snapshot is tried again; once one is read the
    books are the venue's."""
    from tickpath.feed.itch.glimpse import SnapshotRejoin

    port = _free_udp_port()
    with LiveVenue(symbols=4, messages=20_000, seed=3, rate=None, feed_port=port,
                   sender="sendto", snapshot_port=0) as venue:
        venue.start()
        feed = ItchFeed(ItchHandler(errors="skip"))
        r = SnapshotRejoin(("127.0.0.1", _free_udp_port()), late_join=True, timeout_s=0.5,
                           retry_s=0.0)
        assert not r.maybe(feed, first=True) and len(r.errors) == 1
        assert feed.recovery.state == "stale" and not feed.exact
        with open_receiver("socket", "127.0.0.1", port) as rx:
            rx.settimeout(2.0)
            venue.run(messages=2000)
            got = rx.recv()
            feed.on_datagram(got[0], got[0].shape[0], got[1])
            assert feed.messages == 0 and feed.recovery_stats()["stale_messages"] > 0
            r.address = ("127.0.0.1", venue.snapshot_port)
            t = _run_venue(venue, 2000, snapshots=1)
            assert r.maybe(feed)
            rx.settimeout(0.5)
            while (got := rx.recv()) is not None:
                feed.on_datagram(got[0], got[0].shape[0], got[1])
            t.join(10)
            want = venue.sim.books()
    assert feed.exact and r.rejoins == 1 and _books(feed) == want
