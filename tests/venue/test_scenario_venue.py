"""The scenario venue on loopback: an index future (MDP3) and its basket's stocks (ITCH) on
one venue, the two days in step. The basket the future follows is the one the ITCH feed
publishes (rebuilt here from the received packets by the project's ITCH handler); the rate
announcement moves the ITCH basket and the future's fair value with it, and multiplies
both feeds' message rate during its burst (by an injected clock); without an announcement
the ITCH feed carries exactly the equity simulator's day, and the streams do not depend on
where turns end."""

from __future__ import annotations

import itertools
import socket

import numpy as np
import pytest
from soup_client import SoupClient, pump

from tickpath.feed.itch import ItchHandler
from tickpath.feed.mdp3 import Mdp3Feed
from tickpath.feed.moldudp64.layout import END_OF_SESSION, HEADER_LEN
from tickpath.venue import Simulator
from tickpath.venue.futures import FuturesSimulator
from tickpath.venue.futures_flow import FL_BASKET
from tickpath.venue.futures_live import write_flow
from tickpath.venue.futures_orders import PacketWriter
from tickpath.venue.futures_records import S_PHASE, T_CLOSE, T_OPEN
from tickpath.venue.scenario import Announcement, ScenarioVenue
from tickpath.venue.scenario_flow import SY_NEXT, SY_STEP

SYMBOLS, MESSAGES, SEED = 12, 300_000, 3
MINUTE = 60 * 10**9
E9 = 10**9


def _socket() -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    s.bind(("127.0.0.1", 0))
    s.setblocking(False)
    return s


class Feeds:
    """The venue's two feeds as received: ITCH (MoldUDP64) message blocks by sequence
    number, MDP3 incremental messages by MsgSeqNum (lines A and B share the port: the
    second copy is dropped here, and fed to a real ``Mdp3Feed``, which arbitrates)."""

    def __init__(self) -> None:
        self.itch_sock, self.mdp3_sock = _socket(), _socket()
        self.blocks: dict[int, bytes] = {}
        self.mdp3: dict[int, list[bytes]] = {}
        self.handler = Mdp3Feed(errors="raise", late_join="natural")

    def dests(self) -> dict:
        return {"itch": ("127.0.0.1", self.itch_sock.getsockname()[1]),
                "mdp3": ("127.0.0.1", self.mdp3_sock.getsockname()[1])}

    def read(self) -> None:
        for pkt in _drain(self.itch_sock):
            seq, count = int.from_bytes(pkt[10:18], "big"), int.from_bytes(pkt[18:20], "big")
            if count in (0, END_OF_SESSION):
                continue
            p = HEADER_LEN
            for k in range(count):
                n = 2 + int.from_bytes(pkt[p:p + 2], "big")
                self.blocks[seq + k] = pkt[p:p + n]
                p += n
        for pkt in _drain(self.mdp3_sock):
            buf = np.frombuffer(pkt, np.uint8).copy()
            self.handler.on_datagram(buf, buf.size)
            seq = int.from_bytes(pkt[:4], "little")
            msgs, p = [], 12
            while p < len(pkt):
                n = int.from_bytes(pkt[p:p + 2], "little")
                msgs.append(pkt[p:p + n])
                p += n
            self.mdp3.setdefault(seq, msgs)

    def itch(self) -> list[bytes]:
        assert sorted(self.blocks) == list(range(1, len(self.blocks) + 1)), "ITCH gap"
        return [self.blocks[s] for s in range(1, len(self.blocks) + 1)]

    def mdp3_messages(self) -> list[bytes]:
        assert sorted(self.mdp3) == list(range(1, len(self.mdp3) + 1)), "MDP3 gap"
        return [m for s in range(1, len(self.mdp3) + 1) for m in self.mdp3[s]]

    def future_mid(self, symbol: str) -> float | None:
        book = next((b for b in self.handler.books() if b["symbol"] == symbol), None)
        if book is None or not book["bids"] or not book["asks"]:
            return None
        return (book["bids"][0][0] + book["asks"][0][0]) / 2

    def close(self) -> None:
        self.itch_sock.close()
        self.mdp3_sock.close()


def _drain(sock: socket.socket) -> list[bytes]:
    out = []
    while True:
        try:
            out.append(sock.recv(65536))
        except BlockingIOError:
            return out


def _masked(block: bytes) -> bytes:
    """An ITCH block without its timestamp (the publisher stamps the send time there)."""
    return block[:7] + bytes(6) + block[13:]


def _counts_at(clocks: list[int], announce: tuple | None = None) -> list[int]:
    """How many ITCH messages the equity day has published by each session clock (steps
    stamped at or before it, the start of day included): the same seeded day, generated
    here up to each clock."""
    sim = Simulator(SYMBOLS, MESSAGES, SEED)
    if announce is not None:
        sim.announce(*announce)
    n = 2 * SYMBOLS + 3
    sim.open_day()
    buf = np.zeros(1 << 20, np.uint8)
    out = []
    for c in clocks:
        sim.hold_at(c)
        while (k := sim.generate_into(buf, 0, 4096)[1]) > 0:
            n += k
        out.append(n)
    return out


class Replica:
    """The equities' books rebuilt from the received ITCH by the project's handler, stepped
    message by message in feed order."""

    def __init__(self, blocks: list[bytes]) -> None:
        self.blocks, self.at = blocks, 0
        self.handler = ItchHandler(errors="raise")

    def to(self, count: int) -> None:
        """Apply the feed's messages up to the ``count``-th."""
        if count > self.at:
            buf = np.frombuffer(b"".join(self.blocks[self.at:count]), np.uint8)
            self.handler.on_blocks(buf, 0, buf.size)
            self.at = count

    def last_basket(self, terms, count: int) -> float | None:
        """B at the ``count``-th message, or at the last of the 2,000 before it when every
        basket stock had both sides."""
        b = None
        for k in range(max(self.at, count - 2000), count + 1, 50):
            self.to(k)
            b = self.basket(terms) or b
        self.to(count)
        return self.basket(terms) or b

    def basket(self, terms) -> float | None:
        """B from the replica's touches, as ``IndexTerms`` says; None while a side of a
        basket stock is empty (the venue then uses its last trade)."""
        mids = []
        for loc in terms.locates:
            bid, ask = self.handler.books.bbo(loc)
            if bid is None or ask is None:
                return None
            mids.append((bid[0] + ask[0]) / 2)
        return terms.basket(mids)


def _venue(feeds: Feeds, **kw) -> ScenarioVenue:
    opts = dict(symbols=SYMBOLS, messages=MESSAGES, seed=SEED, futures_messages=150_000,
                rate=None, basket_size=8, snapshot_every=0, **feeds.dests())
    opts.update(kw)
    return ScenarioVenue(**opts)


@pytest.fixture
def feeds():
    f = Feeds()
    yield f
    f.close()


def test_the_future_follows_the_basket_the_itch_feed_publishes(feeds):
    with _venue(feeds) as venue:
        venue.start()
        feeds.read()
        fut = venue.fut
        seen = []  # (grid point of the future's last step, the basket it read, its book's mid)
        for _ in range(40):
            venue.turn(700)
            feeds.read()
            nxt, step = int(venue._sync[SY_NEXT]), int(venue._sync[SY_STEP])
            t = fut.clock
            grid = nxt - ((nxt - t) // step) * step  # the grid point it was written at
            seen.append((grid, float(fut._fl[FL_BASKET]), feeds.future_mid("TPZ6")))
        terms = venue.index_terms()
        assert venue.basket_value() == pytest.approx(fut.basket_value(), abs=0)
    # the terms are the venue's own: weights 1 / (n x opening price), so B(open) = 1
    assert terms.basket(terms.opening_prices) == pytest.approx(1.0, rel=1e-12)
    assert [f.symbol for f in terms.futures] == ["TPZ6", "TPH7"]
    replica = Replica(feeds.itch())
    checked = 0
    for (_, basket, _), count in zip(seen, _counts_at([g for g, _, _ in seen]), strict=True):
        replica.to(count)
        b = replica.basket(terms)
        if b is not None:
            assert b == pytest.approx(basket, rel=1e-12)  # the same numbers, the same sum
            checked += 1
    assert checked >= 30
    # the future's published book tracks its fair value, open price x B (PRICE9)
    tpz6 = terms.futures[0]
    tick = tpz6.tick * E9
    off = [abs(mid - tpz6.fair_price9(b)) / tick for _, b, mid in seen[10:] if mid is not None]
    assert len(off) >= 25 and np.median(off) <= 4 and max(off) <= 24


def test_the_announcement_moves_the_itch_basket_and_the_future(feeds):
    at = T_OPEN + 45 * MINUTE
    plan = Announcement(move=-0.015, at_clock=at, burst_s=0.0)
    with _venue(feeds, announcement=plan) as venue:
        venue.start()
        feeds.read()
        terms = venue.index_terms()
        turns = 0
        while venue.sim.announcement()["repricing"] or not venue.sim.announcement()["applied"]:
            venue.turn(500)
            feeds.read()
            turns += 1
            assert turns < 600, "the announcement never applied or never finished repricing"
        state = venue.sim.announcement()
        announce = (-0.015, venue.fut.basket.tolist(), at)
        just_before, now = _counts_at([state["clock"] - 1, venue.sim.clock], announce)
        replica = Replica(feeds.itch())
        assert len(replica.blocks) == now
        before = replica.last_basket(terms, just_before)  # just before the announcement
        after = replica.last_basket(terms, now)  # and once the stocks have repriced
        # repriced within a bounded number of ITCH messages
        assert now - just_before < 40_000
        assert after / before - 1 == pytest.approx(-0.015, abs=0.003)
        # the future's fair value moved with the ITCH basket it read
        assert float(venue.fut._fl[FL_BASKET]) / before - 1 == pytest.approx(-0.015, abs=0.003)
        # and its book follows within some more of its own messages
        tpz6 = terms.futures[0]
        for _ in range(60):
            venue.turn(500)
            feeds.read()
        mid = feeds.future_mid("TPZ6")
        fair = tpz6.fair_price9(float(venue.fut._fl[FL_BASKET]))
        assert abs(mid - fair) <= 8 * tpz6.tick * E9
        assert mid / tpz6.fair_price9(before) - 1 < -0.01
        st = venue.stats()["announcement"]
        assert st["clock"] >= at and st["repricing"] == 0 and st["reprice_steps"] > 0


def test_the_burst_multiplies_both_feeds_rate_by_the_factor():
    dt = 0.01
    calls = itertools.count()
    feeds = Feeds()
    plan = Announcement(move=-0.01, after_s=1.0, rate_factor=100.0, burst_s=0.05)
    with _venue(feeds, rate=4_000.0, announcement=plan,
                clock=lambda: next(calls) * dt) as venue:
        venue.start()
        st = venue.run(duration_s=1.25)  # calm, the burst at 1.0 s, calm again
    feeds.close()
    ph = st["phases"]
    # the venue's clock is the injected one: read every span as its calls (ticks), so the
    # test counts what the venue did per tick and never looks at the machine's time
    def ticks(span: float) -> int:
        return round(span / dt)

    assert ticks(st["announcement"]["at_s"]) in range(99, 103)  # the 100th tick, +2
    assert st["announcement"]["realtime_ns"] is not None
    assert ticks(ph["burst"]["venue_s"]) in (4, 5, 6)  # 5 ticks of burst, +-1
    per_tick = {p: {f: ph[p][f] / ticks(ph[p]["venue_s"]) for f in ("itch_messages",
                                                                    "mdp3_messages")}
                for p in ("before", "burst", "after")}
    calm, burst, after = per_tick["before"], per_tick["burst"], per_tick["after"]
    assert calm["itch_messages"] == pytest.approx(40, rel=0.1)  # 4,000 msgs/s x dt
    assert burst["itch_messages"] == pytest.approx(100 * 40, rel=0.1)
    assert after["itch_messages"] == pytest.approx(40, rel=0.25)
    # the futures keep step in session time: their rate rises with the equities'
    assert burst["mdp3_messages"] / calm["mdp3_messages"] == pytest.approx(100, rel=0.35)


def test_streams_do_not_depend_on_turns_and_equal_the_plain_day_before_the_announcement():
    at = T_OPEN + 10 * MINUTE
    got = []
    for turn in (450, 1900):
        feeds = Feeds()
        with _venue(feeds, announcement=Announcement(at_clock=at, burst_s=0.0)) as venue:
            venue.start()
            feeds.read()
            while venue.equities.generated_published < 30_000:
                venue.turn(turn)
                feeds.read()
            applied = venue.sim.announcement()["clock"]
            venue.end()
        feeds.read()
        got.append((feeds.itch(), feeds.mdp3_messages()))
        feeds.close()
    (itch_a, mdp3_a), (itch_b, mdp3_b) = got
    n = min(len(itch_a), len(itch_b)) - 3  # before the end of day
    assert [_masked(b) for b in itch_a[:n]] == [_masked(b) for b in itch_b[:n]]
    m = min(len(mdp3_a), len(mdp3_b)) - 3
    assert m > 10_000 and mdp3_a[:m] == mdp3_b[:m]
    # the ITCH day is the equity simulator's own until the announcement, then moves away
    plain = [_masked(b) for b in _blocks(Simulator(SYMBOLS, MESSAGES, SEED))]
    k, = _counts_at([applied - 1])
    assert k > 5_000
    assert [_masked(b) for b in itch_a[:k]] == plain[:k]
    assert [_masked(b) for b in itch_a[k:k + 100]] != plain[k:k + 100]


def test_without_an_announcement_the_itch_feed_is_the_simulators_day(feeds):
    with _venue(feeds) as venue:
        venue.run(messages=6_000)
        venue.end()
        assert venue.announcement() is None
    feeds.read()
    itch = [_masked(b) for b in feeds.itch()]
    plain = [_masked(b) for b in _blocks(Simulator(SYMBOLS, MESSAGES, SEED))]
    body = len(itch) - 3  # the end of day (S M, E, C) follows at once
    assert body > 6_000 and itch[:body] == plain[:body]


def _blocks(sim: Simulator) -> list[bytes]:
    """The day's length-prefixed blocks, one by one."""
    raw = sim.blocks().tobytes()
    out, p = [], 0
    while p < len(raw):
        n = 2 + int.from_bytes(raw[p:p + 2], "big")
        out.append(raw[p:p + n])
        p += n
    return out


def test_order_entry_on_both_venues(feeds):
    with _venue(feeds, accounts=["ALICE:pw1"]) as venue:
        venue.warm_up()
        feeds.read()
        assert not feeds.blocks and not feeds.mdp3  # compiled, nothing published
        venue.start()
        eq = SoupClient(venue.equity_orders_port)
        fu = SoupClient(venue.futures_orders_port)
        eq.login("ALICE", "pw1")
        fu.login("ALICE", "pw1")
        pump(lambda: venue.turn(64), [eq, fu], lambda: "A" in eq.types() and "A" in fu.types())
        assert venue.equity_orders_port != venue.futures_orders_port
        d = venue.destinations()
        assert d["itch"] == feeds.dests()["itch"] and d["mdp3"] == feeds.dests()["mdp3"]
        st = venue.stats()
        assert st["itch"]["sessions"] == 1 and st["mdp3"]["sessions"] == 1
        eq.close()
        fu.close()


def test_an_armed_announcement_and_a_clock_limit_change_nothing_until_they_act():
    plain = Simulator(SYMBOLS, 60_000, SEED).blocks()
    sim = Simulator(SYMBOLS, 60_000, SEED)
    sim.announce(-0.015, [0, 1, 2], at_clock=T_CLOSE)  # the day's steps end before 16:00
    assert np.array_equal(sim.blocks(), plain)
    assert sim.announcement()["applied"] is False
    # held at one clock after another: the same messages, wherever the day stops
    parts = [sim.open_day().copy()]
    buf = np.zeros(1 << 20, np.uint8)
    limit = T_OPEN
    while sim.body_remaining:
        limit += 3 * MINUTE
        sim.hold_at(limit)
        while (step := sim.generate_into(buf, 0, 999))[1]:
            parts.append(buf[:step[0]].copy())
            assert sim.clock <= limit
        assert sim.held or not sim.body_remaining
    parts.append(sim.close_day())
    assert np.array_equal(np.concatenate(parts), plain)


def test_bad_announcements_are_refused():
    with pytest.raises(ValueError, match="move"):
        Announcement(move=0.0)
    with pytest.raises(ValueError, match="not both"):
        Announcement(after_s=1.0, at_clock=T_OPEN)
    with pytest.raises(ValueError, match="rate_factor"):
        Announcement(rate_factor=0.5)
    sim = Simulator(SYMBOLS, 60_000, SEED)
    with pytest.raises(ValueError, match="instruments must be indices"):
        sim.announce(-0.01, [SYMBOLS], at_clock=T_OPEN)
    with pytest.raises(ValueError, match="clock"):
        sim.hold_at(-1)


def test_a_futures_day_held_at_clock_after_clock_is_the_same_day():
    def messages(packets: list[bytes]) -> list[bytes]:
        out = []
        for pkt in packets:
            p = 12  # after MsgSeqNum and SendingTime
            while p < len(pkt):
                n = int.from_bytes(pkt[p:p + 2], "little")
                out.append(pkt[p:p + n])
                p += n
        return out

    whole = FuturesSimulator(None, messages=6_000, seed=SEED, snapshot_every=0)
    want = messages([pkt for _, pkt in whole.packet_list()])
    fut = FuturesSimulator(None, messages=6_000, seed=SEED, snapshot_every=0)
    writer = PacketWriter(1 << 20)
    got: list[bytes] = []
    limit = T_OPEN
    while int(fut._scal[S_PHASE]) != 3:
        limit += 7 * MINUTE
        fut.hold_at(limit)
        write_flow(fut, writer, 1 << 30)
        assert fut.clock <= limit and (fut.held or int(fut._scal[S_PHASE]) == 3)
        chunk = writer.take(fut._scal)
        if chunk is not None:
            got += messages([chunk.packet(k).tobytes() for k in range(len(chunk.kinds))])
    assert got == want
