"""The venue's GLIMPSE-style snapshot service, read by the snapshot client, on loopback: a
snapshot taken mid-day plus the feed from its sequence number on rebuilds the venue's books
exactly (a late join); the snapshot itself is the venue's books at that sequence number, every
order by reference; the messages are the ITCH the handler knows, and a bad login is refused."""

from __future__ import annotations

import threading
import time

import numpy as np
import pytest
from mold_line import Line

from tickpath import ItchHandler
from tickpath.feed.itch.glimpse import GlimpseError, fetch_snapshot
from tickpath.feed.moldudp64 import MoldSession
from tickpath.venue.glimpse import end_of_snapshot, snapshot_messages
from tickpath.venue.live import LiveVenue


def _books(handler: ItchHandler) -> dict[int, dict]:
    return {b["locate"]: b for b in handler.books.books()}


def _late_join(snap, packets: list[bytes]) -> tuple[ItchHandler, MoldSession]:
    """A late joiner: the snapshot, then the feed from its sequence number on (the earlier
    packets it holds are skipped as already in the snapshot)."""
    late = ItchHandler()
    late.on_blocks(snap.blocks, 0, snap.blocks.shape[0])
    session = MoldSession(expected=snap.next_seq)
    for p in packets:
        buf = np.frombuffer(p, np.uint8)
        late.on_packet(session, buf, buf.shape[0])
    return late, session


def _fetch(venue: LiveVenue, **kw):
    """Read a snapshot in a thread while the venue's loop turns (it answers the login)."""
    box: dict = {}

    def read() -> None:
        try:
            box["snap"] = fetch_snapshot("127.0.0.1", venue.snapshot_port, timeout_s=10, **kw)
        except Exception as e:  # handed to the test thread
            box["error"] = e

    t = threading.Thread(target=read, daemon=True)
    t.start()
    end = time.monotonic() + 15
    while t.is_alive() and time.monotonic() < end:
        venue.turn(0)
        time.sleep(0.0005)
    t.join(1)
    if "error" in box:
        raise box["error"]
    return box["snap"]


def test_a_late_joiner_rebuilds_the_venues_books_from_a_snapshot_and_the_feed():
    a = Line()
    with LiveVenue(symbols=6, messages=30_000, seed=5, rate=None, feed_port=a.port,
                   sender="sendto", snapshot_port=0) as venue:
        venue.start()
        venue.run(messages=4000)
        at = venue.publisher.seq
        want_then = venue.sim.books()
        live_refs = sorted(int(r) for r in venue.sim._orders["ref"][
            venue.sim._live[np.concatenate([
                np.arange(s, s + n) for s, n in zip(venue.sim._inst["live_start"],
                                                     venue.sim._inst["n_live"], strict=True)])]])
        snap = _fetch(venue)
        assert snap.next_seq == at and venue.stats()["glimpse_snapshots"] == 1
        venue.run(messages=4000)
        venue.end()
        packets = a.take(venue.stats()["feed_packets"])
        want_end = venue.sim.books()

    # the snapshot alone: the venue's books when it was taken, every order by reference
    alone = ItchHandler()
    alone.on_blocks(snap.blocks, 0, snap.blocks.shape[0])
    assert _books(alone) == want_then
    assert sorted(o for o in live_refs if alone.books.order(o) is not None) == live_refs
    assert snap.messages == 6 * 2 + len(live_refs)  # R and H per symbol, an A per order

    # late join: the snapshot, then the feed from its sequence number on (the earlier
    # packets the receiver holds are skipped as already in the snapshot)
    late, session = _late_join(snap, packets)
    assert session.stats()["gaps"] == 0
    assert late.books.stats()["rejected"] == 0
    assert _books(late) == want_end


def test_snapshot_messages_end_with_the_sequence_number_and_bad_logins_are_refused():
    with LiveVenue(symbols=3, messages=5_000, seed=2, rate=None, feed_port=Line().port,
                   sender="sendto", snapshot_port=0) as venue:
        venue.glimpse.accounts = {"SNAP": "pw"}
        venue.start()
        msgs = snapshot_messages(venue.sim, venue.publisher.seq)
        assert msgs[-1] == end_of_snapshot(venue.publisher.seq)
        assert [m[:1] for m in msgs[:6]] == [b"R"] * 3 + [b"H"] * 3
        assert {m[:1] for m in msgs[6:-1]} <= {b"A"} and len(msgs[-1]) == 21
        with pytest.raises(GlimpseError, match="login rejected \\('A'\\)"):
            _fetch(venue, username="SNAP", password="nope")
        snap = _fetch(venue, username="snap", password="pw")
        assert snap.messages == len(msgs) - 1 and snap.session == venue.glimpse.session
        st = venue.stats()
        assert st["glimpse_logins_rejected"] == 1 and st["glimpse_snapshots"] == 1
    with pytest.raises(ValueError, match="20 digits"):
        end_of_snapshot(10**20)


def test_a_turn_ends_with_everything_the_engine_did_published():
    """An order read by the turn's last poll of order entry (it arrived while the turn was
    generating flow) is on the feed before the turn returns, so a snapshot taken at the
    next turn agrees with the feed's sequence number; the late joiner's books come out
    equal to the venue's with client orders trading."""
    from soup_client import SoupClient, enter, pump

    a = Line()
    with LiveVenue(symbols=4, messages=40_000, seed=6, rate=None, feed_port=a.port,
                   sender="sendto", snapshot_port=0, accounts=["ALICE:pw"]) as venue:
        venue.start()
        c = SoupClient(venue.orders_port)
        c.login("ALICE", "pw")
        pump(lambda: venue.turn(0), [c], lambda: "A" in c.types())
        loc, book = next((k, b) for k, b in venue.sim.books().items() if b["bids"])
        sym, bid = venue.sim.symbols[loc - 1], book["bids"][0][0]
        generate = venue._generate

        def generate_while_an_order_arrives(most: int) -> int:
            done = generate(most)
            if not c.sent_during_generate:
                c.sent_during_generate = True
                enter(c, 1, "B", 300, sym, bid)
                import select
                select.select([venue.server.sockets()[-1]], [], [], 5)  # it is there
            return done

        c.sent_during_generate = False
        venue._generate = generate_while_an_order_arrives
        venue.turn(64)
        venue._generate = generate
        assert venue.stats()["orders_in"] == 1 and venue._client_itch == []
        snap = _fetch(venue)
        for _ in range(20):
            venue.turn(256)
        venue.end()
        packets = a.take(venue.stats()["feed_packets"])
        want = venue.sim.books()
    late, _ = _late_join(snap, packets)
    assert late.books.stats()["rejected"] == 0 and _books(late) == want
