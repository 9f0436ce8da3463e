"""The MDP3 feed hands the strategy the records the ITCH feed does: a TRADE record per trade
summary entry, a BOOK record per instrument whose outright top moved, STATUS records around
a gap and the snapshot loop's repair, in OUCH's price units, with locates from locate_base
and the contract's OUCH symbol; a full ring drops, counts and catches up."""

from __future__ import annotations

import socket
import threading
import time
import uuid
from contextlib import contextmanager

import numba
import numpy as np
import pytest
from mdp3_packets import E9, book, definition, level, packet, snapshot, trade

from reference.mdp3_receiver import decode_day
from tickpath.book.records import MAX_LOCATE
from tickpath.codec.ouch50.layout import symbol_code
from tickpath.engine.agent import AgentSpec
from tickpath.engine.counters import Control, Counters, FeedCounter
from tickpath.engine.feed_stage import FeedStage
from tickpath.feed.mdp3 import Mdp3Feed
from tickpath.feed.mdp3.live import LOCATE_BASE
from tickpath.feed.tap import tap_wait
from tickpath.ring import SpscRing
from tickpath.strategy.records import BOOK, SLOT_SIZE, STATUS, TOP_DTYPE, TOP_WORDS, TRADE
from tickpath.venue.futures import INCREMENTAL, FuturesSimulator, msg_seq_num, sending_time

MESSAGES, SEED, EVERY = 4_000, 5, 50
ES, NQ, CL = 101, 202, 303


@pytest.fixture(scope="module")
def day():
    fut = FuturesSimulator(None, messages=MESSAGES, seed=SEED, snapshot_every=EVERY)
    packets = fut.packet_list()
    # PRICE9 mantissa per OUCH unit, by SecurityID: the venue's own conversion (order entry)
    per = {s.security_id: int(fut._inst[i]["ouch_px"]) for i, s in enumerate(fut.specs)}
    assert all(v == 10 ** 7 for v in per.values())  # DisplayFactor 0.01 for each contract
    return fut, packets, per


@contextmanager
def _ring(capacity: int):
    r = SpscRing.create(f"tp-test-{uuid.uuid4().hex[:8]}", capacity, SLOT_SIZE, policy="drop")
    try:
        yield r
    finally:
        r.unlink()
        r.close()


def _tap(ring: SpscRing):
    return ring.header, ring.words, tap_wait("busy_spin", 0)


def _drain(ring: SpscRing) -> np.ndarray:
    """What the ring holds, as records, consumed."""
    words = ring.consume(ring.capacity)[:, :TOP_WORDS]
    return np.ascontiguousarray(words).view(TOP_DTYPE)[:, 0].copy()


def _send(feed: Mdp3Feed, payload) -> np.ndarray:
    buf = np.frombuffer(bytes(payload), np.uint8).copy()
    feed.on_datagram(buf, buf.size)
    return buf


def _top(r) -> tuple[int, int, int, int]:
    return int(r["bid_price"]), int(r["bid_shares"]), int(r["ask_price"]), int(r["ask_shares"])


def _book_top(b: dict, per: int) -> tuple[int, int, int, int]:
    """A book's top (``books()`` shape, PRICE9) in OUCH units; every price a whole unit."""
    out = []
    for side in (b["bids"], b["asks"]):
        if side:
            assert side[0][0] % per == 0
            out += [side[0][0] // per, side[0][1]]
        else:
            out += [0, 0]
    return tuple(out)


def _feed_top(feed: Mdp3Feed, locate: int, per: dict[int, int]) -> tuple[int, int, int, int]:
    row = locate - feed.locate_base
    b = feed.levels.book(row, "outright")
    return _book_top(b, per[feed.security_id(row)])


def _last(recs: np.ndarray, kind: int) -> dict[int, np.void]:
    """The last record of ``kind`` per locate."""
    return {int(r["locate"]): r for r in recs[recs["kind"] == kind]}


def test_the_venue_day_as_records(day):
    """Each BOOK record is the feed's outright top as the packet left it, each trade
    summary entry of the venue is a TRADE record (price, quantity, aggressor), in OUCH
    units and under the contract's OUCH symbol; sequence numbers never go back; the last
    top of each contract is the venue's."""
    fut, packets, per = day
    got = []
    with _ring(1 << 12) as ring:
        feed = Mdp3Feed(errors="raise", tap=_tap(ring))
        for kind, payload in packets:
            buf = _send(feed, payload)
            recs = _drain(ring)
            for r in recs[recs["kind"] == BOOK]:
                assert _top(r) == _feed_top(feed, int(r["locate"]), per)
            if recs.size:
                assert (recs["venue_sent"] == sending_time(buf)).all()
                if kind == INCREMENTAL:
                    assert (recs["sequence"] == msg_seq_num(buf)).all()
            got.append(recs)
        c = feed.counters()
    recs = np.concatenate(got)
    assert c["published"] == recs.size and c["ring_full"] == 0
    assert c["inexact_prices"] == c["undefined"] == c["trades_lost"] == 0
    assert (np.diff(recs["sequence"]) >= 0).all()
    s = recs[["received", "parsed", "decoded", "booked", "enqueued"]]
    assert (s["received"] > 0).all() and (s["received"] <= s["parsed"]).all()
    assert (s["parsed"] == s["decoded"]).all() and (s["decoded"] <= s["booked"]).all()
    assert (s["booked"] <= s["enqueued"]).all()

    # locates from LOCATE_BASE, in the order instruments were first seen; OUCH symbols
    locate = {sp.security_id: feed.locate_of(sp.security_id) for sp in fut.specs}
    assert sorted(locate.values()) == [LOCATE_BASE + k for k in range(len(fut.specs))]
    for sp in fut.specs:
        mine = recs[recs["locate"] == locate[sp.security_id]]
        assert mine.size and (mine["stock"] == np.int64(symbol_code(sp.symbol))).all()

    # the trades: every trade summary entry of the venue's day, in order
    want = []
    for kind, d in decode_day(packets):
        for m in d["messages"] if kind == INCREMENTAL else ():
            if m["header"]["templateId"] != 48:
                continue
            for e in m["NoMDEntries"]:
                sid = e["SecurityID"]
                assert e["MDEntryPx"].mantissa % per[sid] == 0
                want.append((locate[sid], e["MDEntryPx"].mantissa // per[sid], e["MDEntrySize"],
                             ord("B") if e["AggressorSide"] == "Buy" else ord("S"),
                             d["msg_seq_num"]))
    trades = recs[recs["kind"] == TRADE]
    assert len(want) == c["trades"] > 100
    assert [(int(t["locate"]), int(t["bid_price"]), int(t["bid_shares"]), int(t["ask_price"]),
             int(t["sequence"])) for t in trades] == want

    # the end of the day: the last top of each contract is the feed's and the venue's
    last = _last(recs, BOOK)
    for b in fut.books():
        loc = locate[b["security_id"]]
        assert _top(last[loc]) == _book_top(b, per[b["security_id"]]) \
            == _feed_top(feed, loc, per)
    assert all(int(r["bid_price"]) == 1 for r in _last(recs, STATUS).values())


def test_a_gap_says_not_exact_until_the_snapshot_loop_repairs_it(day):
    """Packets lost on both lines: every contract is told not exact at the packet after the
    gap, hears nothing while stale, and gets its repaired top then an exact STATUS once the
    snapshot loop brought it back; the books end as the venue's."""
    fut, packets, per = day
    lost = set(range(60, 66))
    got = []
    with _ring(1 << 12) as ring:
        feed = Mdp3Feed(errors="raise", tap=_tap(ring))
        for kind, payload in packets:
            buf = np.frombuffer(payload, np.uint8)
            if kind == INCREMENTAL and msg_seq_num(buf) in lost:
                continue
            _send(feed, payload)
            got.append(_drain(ring))
        c = feed.counters()
    recs = np.concatenate(got)
    assert c["gaps"] == 1 and c["gap_packets"] == len(lost) and c["stale_now"] == 0
    assert feed.books() == fut.books()
    locates = {feed.locate_of(sp.security_id) for sp in fut.specs}
    stale = np.flatnonzero((recs["kind"] == STATUS) & (recs["bid_price"] == 0)
                           & (recs["sequence"] == max(lost) + 1))
    assert {int(recs[k]["locate"]) for k in stale} == locates
    for loc in locates:
        at = next(k for k in stale if recs[k]["locate"] == loc)
        after = recs[at + 1:]
        after = after[after["locate"] == loc]
        back = next(k for k, r in enumerate(after) if r["kind"] == STATUS)
        assert after[back]["bid_price"] == 1  # exact again
        # meanwhile nothing of it, but its repaired top just before (same packet)
        assert back <= 1 and (back == 0 or after[0]["kind"] == BOOK)
        assert (back == 0 or after[0]["sequence"] == after[back]["sequence"])
    for b in fut.books():
        loc = feed.locate_of(b["security_id"])
        assert _top(_last(recs, BOOK)[loc]) == _book_top(b, per[b["security_id"]])


def test_a_full_ring_drops_counts_and_catches_up(day):
    """A ring nobody reads: the records it cannot take are counted, the books apply all the
    same; once it is read, the idle turn hands on each contract's latest top."""
    fut, packets, per = day
    with _ring(8) as ring:
        feed = Mdp3Feed(errors="raise", tap=_tap(ring))
        for _, payload in packets:
            _send(feed, payload)
        c = feed.counters()
        assert c["published"] == 8 and c["ring_full"] > 100
        assert feed.books() == fut.books()
        first = _drain(ring)
        assert first.size == 8
        caught = []
        for _ in range(10):
            feed.on_idle(0)
            more = _drain(ring)
            if more.size == 0:
                break
            caught.append(more)
        caught = np.concatenate(caught)
        assert feed.counters()["ring_full"] == c["ring_full"]  # room enough this time
    assert (caught["kind"] != TRADE).all()  # a dropped trade stays dropped
    last = _last(caught, BOOK)
    for b in fut.books():
        loc = feed.locate_of(b["security_id"])
        assert _top(last[loc]) == _book_top(b, per[b["security_id"]])


def test_units_symbols_locates_aggressor_and_what_is_held_back():
    """OUCH prices from the DisplayFactor (0.01: 4500 display is 45.0000), the symbol's
    first 8 bytes space-padded, locates from locate_base, the aggressor's side; a price
    that is no whole OUCH unit is floored and counted; an instrument with no definition
    is held back (counted) until one comes."""
    with _ring(64) as ring:
        feed = Mdp3Feed(max_instruments=16, late_join="natural", tap=_tap(ring),
                        locate_base=100)
        _send(feed, packet(1, definition(ES, "TPZ6", factor=E9 // 100),
                           definition(NQ, "TQLONGSYMBOL", factor=E9), sending_ns=77))
        r = _drain(ring)  # defined, not yet live: told not exact
        assert list(r["kind"]) == [STATUS, STATUS] and list(r["locate"]) == [100, 101]
        assert list(r["bid_price"]) == [0, 0] and list(r["venue_sent"]) == [77, 77]
        assert list(r["stock"]) == [symbol_code("TPZ6"), symbol_code("TQLONGSY")]
        _send(feed, packet(2, book(level(ES, 1, "New", "Bid", 1, 4500, 5, 2),
                                   level(ES, 2, "New", "Offer", 1, 4501, 4, 1))))
        r = _drain(ring)
        assert list(r["kind"]) == [BOOK, STATUS]  # its top, then: exact
        assert _top(r[0]) == (450_000, 5, 450_100, 4) and r[1]["bid_price"] == 1
        assert list(r["events"]) == [1, 1] and list(r["sequence"]) == [2, 2]
        _send(feed, packet(3, trade(ES, 3, 4501, 2, "Sell"), trade(ES, 4, 4501, 1, "NoAggressor"),
                           book(level(ES, 5, "Change", "Offer", 1, 4501, 1, 1))))
        r = _drain(ring)
        assert list(r["kind"]) == [TRADE, TRADE, BOOK]
        assert [_top(x) for x in r[:2]] == [(450_100, 2, ord("S"), 0), (450_100, 1, 0, 0)]
        assert _top(r[2]) == (450_000, 5, 450_100, 1) and (r["events"] == 3).all()
        # DisplayFactor 1: a mantissa of 200.000000001 is 200.0000 floored, and counted
        odd = dict(level(NQ, 1, "New", "Bid", 1, 200, 3, 1), MDEntryPx=200 * E9 + 1)
        _send(feed, packet(4, book(odd)))
        r = _drain(ring)
        assert _top(r[0]) == (2_000_000, 3, 0, 0) and r[0]["locate"] == 101
        assert feed.counters()["inexact_prices"] == 1
        # no definition: no DisplayFactor, no symbol, no record (a trade neither) ...
        _send(feed, packet(5, book(level(CL, 1, "New", "Offer", 1, 75, 9, 1)),
                           trade(CL, 2, 75, 1)))
        assert _drain(ring).size == 0 and feed.counters()["undefined"] == 2
        # ... until the definition brings them
        _send(feed, packet(6, definition(CL, "TCLF7", factor=E9 // 100)))
        r = _drain(ring)
        assert list(r["kind"]) == [BOOK] and r[0]["locate"] == 102
        assert _top(r[0]) == (0, 0, 7_500, 9) and r[0]["stock"] == symbol_code("TCLF7")
        assert feed.counters()["published"] == 10 and feed.counters()["ring_full"] == 0


def test_a_rptseq_gap_tells_only_that_contract_and_its_snapshot_repairs_it():
    with _ring(64) as ring:
        feed = Mdp3Feed(max_instruments=16, late_join="natural", tap=_tap(ring))
        _send(feed, packet(1, definition(ES, "TPZ6"), definition(NQ, "TQZ6")))
        _send(feed, packet(2, book(level(ES, 1, "New", "Bid", 1, 100, 5, 2),
                                   level(ES, 2, "New", "Offer", 1, 101, 4, 1))))
        _send(feed, packet(3, book(level(NQ, 1, "New", "Bid", 1, 200, 1, 1))))
        _drain(ring)
        es, nq = feed.locate_of(ES), feed.locate_of(NQ)
        _send(feed, packet(4, book(level(ES, 7, "Change", "Bid", 1, 100, 6, 2))))  # RptSeq 3-6 lost
        r = _drain(ring)
        assert [(x["kind"], x["locate"], x["bid_price"]) for x in r] == [(STATUS, es, 0)]
        _send(feed, packet(5, book(level(NQ, 2, "Change", "Bid", 1, 200, 4, 1))))
        r = _drain(ring)
        assert [(x["kind"], x["locate"]) for x in r] == [(BOOK, nq)]  # NQ goes on
        _send(feed, packet(1, snapshot(ES, 5, 8, [("0", 1, 100, 6, 2), ("1", 1, 101, 4, 1)])))
        r = _drain(ring)
        assert [(x["kind"], x["locate"]) for x in r] == [(BOOK, es), (STATUS, es)]
        assert _top(r[0]) == (1_000_000, 6, 1_010_000, 4) and r[1]["bid_price"] == 1
        assert list(r["sequence"]) == [5, 5]  # the books are as of the last packet taken


def test_a_contract_going_live_on_a_trade_is_told_exact():
    with _ring(64) as ring:
        feed = Mdp3Feed(max_instruments=16, late_join="natural", tap=_tap(ring))
        _send(feed, packet(1, definition(ES, "TPZ6", factor=E9 // 100)))
        assert list(_drain(ring)["bid_price"]) == [0]  # defined, not live yet
        _send(feed, packet(2, trade(ES, 1, 4500, 3, "Buy")))
        r = _drain(ring)
        assert list(r["kind"]) == [TRADE, STATUS] and r[1]["bid_price"] == 1
        assert _top(r[0]) == (450_000, 3, ord("B"), 0)


def test_locate_base_must_leave_every_locate_below_max_locate():
    with _ring(2) as ring:
        with pytest.raises(ValueError, match=r"locate_base=65000 with max_instruments=4096"):
            Mdp3Feed(tap=_tap(ring), locate_base=65_000)
        with pytest.raises(ValueError, match="locate_base=-1"):
            Mdp3Feed(tap=_tap(ring), locate_base=-1, max_instruments=4)
        f = Mdp3Feed(tap=_tap(ring), locate_base=MAX_LOCATE - 4, max_instruments=4)
        assert f.locate_base == MAX_LOCATE - 4
    bare = Mdp3Feed(locate_base=65_000)  # no ring: no records, no locates to give
    assert bare.tinst.shape[0] == 0 and bare.trades.shape[0] == 0


def test_scratch_state_has_the_feeds_type_with_and_without_a_ring():
    """Compiling ahead on scratch state fits the feed: whether it has a ring is part of the
    state's type (a constant the step compiles with)."""
    with _ring(2) as ring:
        tapped, bare = Mdp3Feed(tap=_tap(ring)), Mdp3Feed()
        assert numba.typeof(tapped.scratch().state) == numba.typeof(tapped.state)
        assert numba.typeof(bare.scratch().state) == numba.typeof(bare.state)
        assert numba.typeof(tapped.state) != numba.typeof(bare.state)
        tapped.scratch().warm_up()  # the scratch's own ring takes what it publishes


def test_without_a_ring_the_books_are_the_same_and_nothing_is_published(day):
    fut, packets, _ = day
    feed = Mdp3Feed(errors="raise")
    for _, payload in packets:
        _send(feed, payload)
    assert feed.books() == fut.books() and feed.counters()["published"] == 0


def _free_udp_port() -> int:
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    return port


def _run_stage(stage: FeedStage, counters: Counters, ring: SpscRing, packets, port: int
               ) -> np.ndarray:
    """Run the stage in a thread, send it ``packets`` over loopback, stop it; the records."""
    sect, control = counters.section("feed"), counters.section("control")
    runner = threading.Thread(target=stage.run, kwargs={"tick_s": 0.02})
    runner.start()
    got = []
    try:
        deadline = time.monotonic() + 120  # a first run compiles the step
        while sect[FeedCounter.STATE] == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx:
            for k, (_, payload) in enumerate(packets):
                tx.sendto(payload, ("127.0.0.1", port))
                if k % 8 == 7:
                    time.sleep(0.002)  # the Python loop's pace: no kernel drops
                got.append(_drain(ring))
        deadline = time.monotonic() + 10
        while sect[FeedCounter.PACKETS] < len(packets) and time.monotonic() < deadline:
            time.sleep(0.02)
            got.append(_drain(ring))
    finally:
        control[Control.STOP] = 1
        runner.join(10)
        stage.close()
    got.append(_drain(ring))
    return np.concatenate(got)


def test_feed_stage_runs_mdp3(day, tmp_path):
    """``feed = "mdp3"``: the feed stage receives the venue's packets (the incremental and
    the snapshot loop's on one port), hands the records on and publishes its counters."""
    fut, packets, per = day
    port = _free_udp_port()
    with Counters.create(f"tp-test-{uuid.uuid4().hex[:8]}", directory=tmp_path) as counters, \
            _ring(1 << 12) as ring:
        spec = AgentSpec("feed", "tickpath.engine.feed_stage:main", counters.name, params={
            "feed": "mdp3", "ring": ring.name, "transport": "socket", "host": "127.0.0.1",
            "port": port, "max_orders": 1 << 16, "max_instruments": 16})
        stage = FeedStage(spec, counters)
        recs = _run_stage(stage, counters, ring, packets, port)
        sect = counters.section("feed")
        assert sect[FeedCounter.PACKETS] == len(packets)
        assert sect[FeedCounter.PUBLISHED] == recs.size > 0
        assert sect[FeedCounter.RING_FULL] == 0
        assert sect[FeedCounter.MESSAGES] == stage.feed.messages
        assert sect[FeedCounter.GAPS] == sect[FeedCounter.MALFORMED] == 0
        assert sect[FeedCounter.BOOKS_STATE] == 0 and sect[FeedCounter.ENDED] == 0
    assert stage.feed.books() == fut.books()
    last = _last(recs, BOOK)
    for b in fut.books():
        loc = stage.feed.locate_of(b["security_id"])
        assert loc >= LOCATE_BASE
        assert _top(last[loc]) == _book_top(b, per[b["security_id"]])


def test_feed_stage_refuses_an_unknown_feed(tmp_path):
    with Counters.create(f"tp-test-{uuid.uuid4().hex[:8]}", directory=tmp_path) as counters, \
            _ring(2) as ring:
        spec = AgentSpec("feed", "tickpath.engine.feed_stage:main", counters.name,
                         params={"feed": "fix", "ring": ring.name})
        with pytest.raises(ValueError, match="feed = 'fix': choose from itch, mdp3"):
            FeedStage(spec, counters)
