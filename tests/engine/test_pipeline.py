"""The pipeline: the feed stage's hand-off, risk, order bytes, config checks, and whole runs
(loopback) through the Python API and the CLI, stopped by the session's end and by SIGTERM."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import numpy as np
import pytest

from tickpath.book import BookStore
from tickpath.codec.itch50.layout import stock_code
from tickpath.codec.itch50.message import encode
from tickpath.engine.config import ConfigError, from_dict, load
from tickpath.engine.counters import Control
from tickpath.engine.feed_stage import tap_wait
from tickpath.engine.pipeline import Pipeline, plan_placement, run_pipeline
from tickpath.feed.itch import ItchFeed, ItchHandler
from tickpath.feed.itch.step import TAP_FULL, TAP_PUBLISHED
from tickpath.feed.moldudp64 import MoldSession, pack_packets
from tickpath.gateway.journal import (
    Journal,
    JournalError,
    Kind,
    journal_session,
    read_records,
    recover,
    session_field,
)
from tickpath.gateway.layout import Total, new_orders, new_positions, new_totals
from tickpath.gateway.orders import SESSION_EXPIRED
from tickpath.ring import SpscRing
from tickpath.risk import Reject, limits_array, new_state
from tickpath.risk.check import check_order
from tickpath.strategy.records import SLOT_SIZE, TOP_DTYPE
from tickpath.telemetry.stamps import BOUNDARIES

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "pipeline.toml"


def _datagram(msgs: list[bytes], session: str = "TAPTEST", seq: int = 1):
    blocks = np.frombuffer(b"".join(len(m).to_bytes(2, "big") + m for m in msgs), np.uint8)
    pkt, bounds, _ = pack_packets(blocks, session, first_seq=seq)
    return pkt[:int(bounds[1])].copy()


def _deliver(feed, buf):
    return feed.on_datagram(buf, buf.shape[0], 0)


@pytest.fixture
def ring():
    r = SpscRing.create(f"tp-test-{uuid.uuid4().hex[:8]}", 2, SLOT_SIZE, policy="drop")
    yield r
    r.unlink()
    r.close()


def test_deliver_hands_the_top_of_the_changed_book_to_the_ring(ring):
    h = ItchHandler(BookStore(max_orders=64, errors="skip"), errors="skip")
    s = MoldSession()
    tap = (ring.header, ring.words, tap_wait("busy_spin", 0))
    handler = ItchFeed(h, s, tap=tap, max_samples=4)
    feed = handler.feed
    first = _datagram([
        encode("R", stock_locate=7, stock="ABCD"),
        encode("A", stock_locate=7, order_reference_number=1, buy_sell_indicator="B",
               shares=300, stock="ABCD", price=1_000_000),
        encode("A", stock_locate=7, order_reference_number=2, buy_sell_indicator="S",
               shares=200, stock="ABCD", price=1_000_500)])
    _deliver(handler, first)
    assert feed[TAP_PUBLISHED] == 1
    rec = ring.records(TOP_DTYPE)[0]
    assert (rec["locate"], rec["bid_price"], rec["bid_shares"], rec["ask_price"],
            rec["ask_shares"], rec["events"]) == (7, 1_000_000, 300, 1_000_500, 200, 3)
    assert np.uint64(rec["stock"]) == np.uint64(stock_code("ABCD"))
    stamps = [int(rec[b]) for b in BOUNDARIES[:6]]
    assert all(x > 0 for x in stamps) and stamps[1:] == sorted(stamps[1:])
    # a datagram that changes no book hands nothing on
    _deliver(handler, _datagram([encode("S", event_code="Q")], seq=4))
    assert feed[TAP_PUBLISHED] == 1
    # a full ring (capacity 2, drop policy) drops and counts, the books still apply
    for k in range(3):
        _deliver(handler, _datagram([encode("X", stock_locate=7, order_reference_number=1,
                                            cancelled_shares=10)], seq=5 + k))
    assert feed[TAP_PUBLISHED] == 2 and feed[TAP_FULL] == 2
    assert h.books.best_bid(7)[1] == 270
    # without a ring (0-length arrays) nothing is handed on
    bare = ItchFeed(h, s, max_samples=4)
    _deliver(bare, _datagram([encode("X", stock_locate=7, order_reference_number=1,
                                     cancelled_shares=10)], seq=8))
    assert bare.feed[TAP_PUBLISHED] == 0 and h.books.best_bid(7)[1] == 260


def test_risk_check_refuses_by_reason_and_keeps_no_state_for_refusals():
    limits = limits_array(max_order_size=500, max_position=600, max_notional=100.0,
                          collar_bps=100, max_orders_per_s=3)
    pos, rate = new_state()
    control = np.zeros(4, np.int64)
    counts = np.zeros(len(Reject), np.int64)
    B, S = ord("B"), ord("S")
    bid, ask, now = 100_000, 100_200, 10**18

    def chk(side, qty, price, b=bid, a=ask):
        return check_order(side, qty, price, 1, b, a, now, limits, pos, rate, control, counts)

    assert chk(B, 501, 100_000) == Reject.ORDER_SIZE
    assert chk(B, 100, 90_000) == Reject.COLLAR  # 10% off the mid
    assert chk(B, 100, 100_000, 0, 0) == Reject.NO_BOOK
    assert chk(B, 10, 100_000) == 0 and pos[1] == 10  # $10 x 10 = $100: at the limit
    assert chk(B, 1, 100_000) == Reject.NOTIONAL and pos[1] == 10
    assert chk(S, 10, 100_100) == 0 and pos[1] == 0
    limits[2] = 10**12
    assert chk(B, 100, 100_000) == 0  # the window's third
    assert chk(B, 100, 100_000) == Reject.RATE and pos[1] == 100
    rate[:] = 0
    assert chk(B, 500, 100_000) == 0 and chk(B, 200, 100_000) == Reject.POSITION
    control[Control.KILL] = 1
    assert chk(S, 1, 100_100) == Reject.KILLED
    assert counts[Reject.CHECKED] == 11 and counts[Reject.PASSED] == 4
    assert counts[Reject.POSITION] == counts[Reject.KILLED] == counts[Reject.RATE] == 1


@pytest.mark.parametrize("data, words", [
    ({"ring": {"capacity": 1000}}, "ring.capacity = 1000: must be a power of two"),
    ({"ring": {"sizes": 4}}, "unknown key ring.sizes"),
    ({"rings": {}}, "unknown section [rings]"),
    ({"stages": {"feed": {"idle": "nap"}}}, "stages.feed.idle = 'nap': must be one of"),
    ({"stages": {"feed": {"core": "one"}}}, "stages.feed.core: expected int, got str"),
    ({"strategy": {"size": 0}}, "strategy.size = 0: must be > 0"),
    ({"transport": {"kind": "carrier-pigeon"}}, "transport.kind"),
    ({"instruments": {"symbols": ["TOOLONGSYM"]}}, "instruments.symbols"),
    ({"simulator": {"enabled": False}}, "feed.port"),
    ({"stages": {"strategy": {"spins": -1}}}, "stages.strategy.spins = -1: must be >= 0"),
    ({"stages": {"feed": {"yields": 1.5}}}, "stages.feed.yields: expected int, got float"),
    ({"stages": {"venue": {"min_park_ns": 0}}}, "stages.venue.min_park_ns = 0: must be >= 1"),
    ({"stages": {"strategy": {"min_park_ns": 5000, "max_park_ns": 1000}}},
     "stages.strategy.max_park_ns = 1000: must be >= stages.strategy.min_park_ns (5000)"),
    ({"stages": {"feed": {"park_ns": 10}}}, "unknown key stages.feed.park_ns"),
    ({"pipeline": {"placement": "anywhere"}}, "pipeline.placement = 'anywhere': must be one"),
    ({"transport": {"kind": "xdp:turbo"}}, "unknown xdp option 'turbo'"),
    ({"transport": {"kind": "packet:v4"}}, "unknown packet ring 'v4'"),
    ({"transport": {"kind": "pcap:/tmp/x.pcap?pace=fast"}}, "cannot feed a pipeline"),
    ({"ring": {"block_timeout_us": -1}}, "ring.block_timeout_us = -1: must be >= 0"),
    ({"feed": {"silence_s": -1.0}}, "feed.silence_s = -1.0: must be >= 0"),
    ({"gateway": {"host": "orders.example"}}, "gateway.host = 'orders.example': must be an IPv4"),
    ({"gateway": {"port": 70000}}, "gateway.port = 70000: must be a TCP port"),
    ({"gateway": {"username": "TOOLONGNAME"}}, "gateway.username = 'TOOLONGNAME': must be 1-6"),
    ({"gateway": {"fsync": "sometimes"}}, "gateway.fsync = 'sometimes': must be one of"),
    ({"simulator": {"enabled": False}, "feed": {"port": 5000}}, "gateway.port: an external"),
])
def test_config_errors_name_the_key(data, words):
    with pytest.raises(ConfigError) as e:
        from_dict(data)
    assert words in str(e.value)


def test_transports_and_idle_parameters_the_config_takes():
    for kind in ("auto", "socket", "busypoll", "packet", "packet:v2", "packet:v3", "xdp",
                 "xdp:generic", "xdp:native,copy,queue=0", "xdp:zc"):
        assert from_dict({"transport": {"kind": kind}})["transport"]["kind"] == kind
    cfg = from_dict({"stages": {"strategy": {"idle": "backoff", "spins": 10, "yields": 0,
                                             "min_park_ns": 500, "max_park_ns": 500}}})
    s = cfg["stages.strategy"]
    assert (s["spins"], s["yields"], s["min_park_ns"], s["max_park_ns"]) == (10, 0, 500, 500)
    assert cfg.was_given("stages.strategy.spins") and not cfg.was_given("stages.venue.idle")


def test_auto_placement_gives_spinning_stages_cores_and_says_when_it_cannot():
    sim_off = {"simulator": {"enabled": False}, "feed": {"port": 26400},
               "gateway": {"port": 26401}}
    big = plan_placement(from_dict({}), cores=[0, 1, 2, 3])
    assert [big.stages[n].core for n in ("feed", "strategy", "venue")] == [3, 2, 1]
    assert big.stages["venue"].idle == big.stages["strategy"].idle == "busy_spin"
    assert not big.notes
    two = plan_placement(from_dict({}), cores=[0, 1])
    f, s, v = (two.stages[n] for n in ("feed", "strategy", "venue"))
    assert (f.core, s.core, v.core, v.idle, v.spins) == (1, 0, 0, "backoff", False)
    assert s.idle == "spin_yield"
    assert len(two.notes) == 1 and "venue shares core 0" in two.notes[0]
    # a venue told to spin where cores are short: said, not hidden
    spin = plan_placement(from_dict({"stages": {"venue": {"idle": "busy_spin"}}}), cores=[0, 1])
    assert any("3 stages spin" in n for n in spin.notes)
    one = plan_placement(from_dict(sim_off), cores=[5])
    assert one.stages["feed"].core == one.stages["strategy"].core == 5
    assert any("2 stages spin (feed, strategy) on 1 core" in n for n in one.notes)
    manual = plan_placement(from_dict({"pipeline": {"placement": "manual"},
                                       "stages": {"feed": {"core": 0},
                                                  "strategy": {"core": 0, "idle": "noop"}},
                                       **sim_off}), cores=[0, 1])
    assert any("feed and strategy both spin on core 0" in n for n in manual.notes)


def test_block_timeout_is_bounded_in_the_feed_too():
    assert tap_wait("busy_spin", 0)[-1] == 0
    with pytest.raises(ValueError, match="ring.block_timeout_us"):
        tap_wait("busy_spin", -1)


def test_remove_stale_files_takes_only_dead_owners_files(tmp_path):
    from tickpath.engine.pipeline import remove_stale_files

    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()  # a pid that was an owner's and is gone
    names = [f"tp-x-y-{dead.pid}-abc123-counters", f"tp-x-{dead.pid}-abc123-md",
             f"tp-x-{os.getpid()}-abc123-stamps",  # a live owner's
             f"tp-test-{dead.pid}-counters", "other"]  # not a pipeline's name
    for n in names:
        (tmp_path / n).write_bytes(b"x")
    removed = remove_stale_files(tmp_path)
    assert sorted(removed) == sorted(str(tmp_path / n) for n in names[:2])
    assert sorted(os.listdir(tmp_path)) == sorted(names[2:])


def test_order_entry_address_and_journal():
    """Port 0: a free port the built-in venue listens on; the journal is the run's own
    (removed at the end) unless one is configured (kept)."""
    p = Pipeline(from_dict({}), status=lambda m: None)
    p._specs()
    host, port = p.order_address
    assert host == "127.0.0.1" and port > 0 and p._own_journal
    p.close()
    cfg = from_dict({"gateway": {"port": 9999, "journal": "/tmp/x.journal"}})
    p = Pipeline(cfg, status=lambda m: None)
    specs = {s.name: s for s in p._specs()}
    assert p.order_address == ("127.0.0.1", 9999) and not p._own_journal
    assert specs["venue"].params["orders_port"] == 9999
    assert specs["strategy"].params["gateway"]["journal"] == "/tmp/x.journal"
    p.close()


def test_a_damaged_journal_is_refused_before_anything_starts(tmp_path):
    """A configured journal is resumed from (the strategy stage recovers it); one damaged
    before its last record is refused by the owner, naming the offset, and left as it was."""
    old = tmp_path / "orders.journal"
    with Journal(old, "never") as j:
        for name in ("DAY1", "DAY2"):
            assert journal_session(j.arrays, session_field(name), 1, 0) == 0
    damaged = bytearray(old.read_bytes())
    damaged[20] ^= 0xFF
    old.write_bytes(bytes(damaged))
    p = Pipeline(from_dict({"gateway": {"journal": str(old)}}), status=lambda m: None)
    with pytest.raises(JournalError, match="at offset 0: bad record"):
        p.start()
    p.close()
    assert old.read_bytes() == damaged  # untouched
    assert p.counters is None  # refused before anything was made


def test_example_config_loads():
    cfg = load(EXAMPLE)
    assert cfg["simulator"]["enabled"] and cfg["strategy"]["name"] == "market_maker"
    with pytest.raises(ConfigError, match="no pipeline config"):
        load(ROOT / "no-such.toml")


def _small(**over) -> dict:
    d = load(EXAMPLE).as_dict()
    d["pipeline"]["name"] = f"t{uuid.uuid4().hex[:6]}"
    d["simulator"].update(messages=20_000, rate=20_000.0, symbols=20)
    d["stages"] = {"venue": {"core": -1, "idle": "backoff"},
                   "feed": {"core": -1, "idle": "busy_spin"},
                   "strategy": {"core": -1, "idle": "backoff"}}
    del d["stages.venue"], d["stages.feed"], d["stages.strategy"]
    for k, v in over.items():
        d[k].update(v)
    return d


def test_pipeline_end_to_end_with_rejects_and_the_kill_switch(tmp_path):
    """The whole line trades against the built-in venue: quotes go out over the order
    session, the venue answers (accepted, executed, canceled, replaced), positions come from
    fills. The journal is the referee of what was sent; rebuilt from it, the order tables
    agree with what the strategy stage reported; the venue counted every message."""
    journal = tmp_path / "orders.journal"
    cfg = from_dict(_small(risk={"max_orders_per_s": 8},  # the first quotes, then refusals
                           gateway={"journal": str(journal), "fsync": "never"}))
    killed_at = {}

    def tick(p: Pipeline) -> None:
        snap = p.snapshot()
        # once the rate limit has refused some: then the kill switch
        if not killed_at and snap["strategy"]["orders"] >= 6 and snap["risk"]["rate"] > 0:
            p.counters.section("control")[Control.KILL] = 1
            killed_at["ns"] = time.clock_gettime_ns(time.CLOCK_REALTIME)

    p_files: list[str] = []
    orig_start = Pipeline.start

    def start(self, *a, **k):
        p_files.extend(self.files())
        return orig_start(self, *a, **k)

    Pipeline.start = start
    try:
        rep = run_pipeline(cfg, on_tick=tick, tick_s=0.05, status=lambda m: None)
    finally:
        Pipeline.start = orig_start
    assert rep.ok and rep.stopped_by == "end of session", rep.errors
    c = rep.counters
    assert c["feed"]["messages"] == c["venue"]["messages"] > 20_000  # the day and our orders
    # every completed path's stamps are in path order
    assert rep.rows.shape[0] > 0
    st = np.stack([rep.rows[b] for b in BOUNDARIES], axis=1)
    assert (st > 0).all() and (np.diff(st, axis=1) >= 0).all()
    # what was sent: the journal (written before each send), every message at the venue
    recs = read_records(journal)
    sent = recs[np.isin(recs["kind"], [Kind.ENTER, Kind.CANCEL, Kind.REPLACE,
                                       Kind.MASS_CANCEL])]
    assert c["strategy"]["orders"] + 1 == len(sent)  # the owner's Mass Cancel is the + 1
    # the venue read every one but those sent as the day closed (its last read may come
    # before them: the session's end races the trader's last cancels)
    assert 0 < c["venue"]["orders_in"] <= len(sent) <= c["venue"]["orders_in"] + 2
    symbols = {int.from_bytes(x.ljust(8).encode(), "big") for x in cfg["instruments"]["symbols"]}
    enters = sent[sent["kind"] == Kind.ENTER]
    assert (enters["qty"] == cfg["strategy"]["size"]).all() and (enters["price"] > 0).all()
    assert set(enters["symbol"].tolist()) <= symbols
    # every new UserRefNum the next one: enters, replacements and the mass cancel
    refs = sent[sent["kind"] != Kind.CANCEL]["user_ref"].tolist()
    assert refs == list(range(1, len(refs) + 1))
    # rebuilt from the journal, the tables say what the stage said
    orders, positions, totals = new_orders(), new_positions(), new_totals()
    recover(journal, orders, positions, totals)
    assert totals[Total.FILLS] == c["strategy"]["fills"]
    assert totals[Total.REJECTS] == c["strategy"]["venue_rejects"]
    assert int(np.abs(positions["position"]).sum()) == c["strategy"]["gross_position"]
    # the rate limit refused some; the kill switch stopped new orders at once and the owner
    # sent a Mass Cancel; after it (and what was in flight) only cancels
    assert c["risk"]["rate"] > 0 and c["strategy"]["rejects"] >= c["risk"]["rate"]
    assert killed_at
    after = sent[sent["now_ns"] > killed_at["ns"]]["kind"].tolist()
    assert Kind.MASS_CANCEL in after
    assert set(after[2:]) <= {Kind.CANCEL, Kind.MASS_CANCEL}
    assert p_files and not any(os.path.exists(f) for f in p_files)


def _cli(*args: str, **kw) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "tickpath.cli", "run", *args],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **kw)


def test_cli_run_stops_cleanly_on_sigterm(tmp_path):
    d = _small(simulator={"messages": 10_000_000, "rate": 5_000.0})
    name = d["pipeline"]["name"]
    lines = []
    for sec, keys in d.items():
        lines.append(f"[{sec}]")
        lines += [f"{k} = {json.dumps(v)}" for k, v in keys.items()]
    for stage, keys in d["stages"].items():
        lines.append(f"[stages.{stage}]")
        lines += [f"{k} = {json.dumps(v)}" for k, v in keys.items()]
    text = "\n".join(x for x in lines if not x.startswith("[stages]") and
                     not x.startswith(("venue =", "feed =", "strategy =")))
    cfg = tmp_path / "p.toml"
    cfg.write_text(text)
    proc = _cli(str(cfg), "--json")
    try:
        end = time.monotonic() + 120
        mine = []
        while time.monotonic() < end and proc.poll() is None:
            mine = [f for f in os.listdir("/dev/shm") if f.startswith(f"tp-{name}-")]
            if len(mine) == 3:
                break
            time.sleep(0.1)
        assert len(mine) == 3, proc.stderr.read() if proc.poll() is not None else mine
        from tickpath.engine.counters import Counters
        obs = Counters.attach([f for f in mine if f.endswith("counters")][0], readonly=True)
        while time.monotonic() < end and obs.snapshot()["feed"]["messages"] == 0:
            time.sleep(0.1)
        obs.close()
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.communicate()
    assert proc.returncode == 0, err
    meta = json.loads(out.strip().splitlines()[-1])
    assert meta["stopped_by"] == "signal" and meta["messages"] > 0
    assert not [f for f in os.listdir("/dev/shm") if f.startswith(f"tp-{name}-")]


def test_cli_run_example_config():
    proc = _cli(str(EXAMPLE), "--json", "--duration", "1")
    out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err
    meta = json.loads(out.strip().splitlines()[-1])
    assert meta["stopped_by"] in ("duration", "end of session") and meta["messages"] > 0
    assert not meta["errors"]




def test_run_to_completion_trades_from_one_loop_and_resumes_from_its_journal(tmp_path):
    """The same line with feed, strategy, risk and order entry in one loop: one trading
    stage beside the venue, the feed's counters published by it, orders answered by the
    venue, stamp rows in path order (the ring row is the in-process hand-off). Run again
    with the same journal, the stage resumes from it: the built-in venue's new day is a new
    order session, so the first run's open orders are closed, its fills stay booked and no
    UserRefNum is sent twice."""
    journal = tmp_path / "orders.journal"
    cfg = from_dict(_small(pipeline={"topology": "run_to_completion"},
                           gateway={"journal": str(journal), "fsync": "never"}))
    p = Pipeline(cfg, status=lambda m: None)
    assert [s.name for s in p._specs()] == ["venue", "strategy"]
    assert p._specs()[1].entry == "tickpath.engine.run_to_completion:main"
    p.close()
    rep = run_pipeline(cfg, tick_s=0.05, status=lambda m: None)
    assert rep.ok and rep.stopped_by == "end of session", rep.errors
    c = rep.counters
    assert c["feed"]["messages"] == c["venue"]["messages"] > 20_000 and c["feed"]["ended"]
    assert c["strategy"]["records"] == c["feed"]["published"] > 0
    assert c["strategy"]["orders"] > 0 and c["venue"]["orders_in"] > 0
    st = np.stack([rep.rows[b] for b in BOUNDARIES], axis=1)
    assert st.shape[0] > 0 and (st > 0).all() and (np.diff(st, axis=1) >= 0).all()
    orders, positions, totals = new_orders(), new_positions(), new_totals()
    recover(journal, orders, positions, totals)
    assert totals[Total.FILLS] == c["strategy"]["fills"]
    assert any("run to completion" in n for n in rep.notes) or os.cpu_count() > 2
    first = read_records(journal)
    open_at_end = int(totals[Total.OPEN_ORDERS])

    rep2 = run_pipeline(cfg, tick_s=0.05, status=lambda m: None)
    assert rep2.ok and rep2.stopped_by == "end of session", rep2.errors
    c2 = rep2.counters
    assert c2["strategy"]["orders"] > 0 and c2["venue"]["orders_in"] > 0
    assert any("resumed from order journal" in n for n in rep2.notes), rep2.notes
    if open_at_end:
        assert any("orders of the old session closed" in n for n in rep2.notes), rep2.notes
    recs = read_records(journal)
    assert np.array_equal(recs[:len(first)], first)  # appended to, never rewritten
    sessions = recs[recs["kind"] == Kind.SESSION]["session"].tolist()
    assert len(sessions) == 2 and sessions[0] != sessions[1]
    new = recs[len(first):]
    refs = new[np.isin(new["kind"], [Kind.ENTER, Kind.REPLACE, Kind.MASS_CANCEL])]["user_ref"]
    assert refs.min() == first["user_ref"].max() + 1
    orders2, positions2, totals2 = new_orders(), new_positions(), new_totals()
    recover(journal, orders2, positions2, totals2)
    assert totals2[Total.FILLS] == c2["strategy"]["fills"] >= totals[Total.FILLS]
    expired = orders2[orders2["reason"] == SESSION_EXPIRED]
    assert len(expired) >= open_at_end
    assert int(np.abs(positions2["position"]).sum()) == c2["strategy"]["gross_position"]


@pytest.mark.parametrize("topology", ["pipelined", "run_to_completion"])
def test_a_lossy_feed_is_repaired_by_the_venues_recovery_services(tmp_path, topology):
    """The built-in venue drops and reorders packets of its feed (simulator.faults); the feed
    stage asks the venue's re-request server for what is missing (its address filled in by
    the owner) and the books end exact: gaps opened and repaired, none given up, every
    message the venue published applied."""
    journal = tmp_path / "orders.journal"
    cfg = from_dict(_small(simulator={"faults": "loss=0.03,reorder=0.02,depth=2,seed=5"},
                           pipeline={"topology": topology},
                           gateway={"journal": str(journal), "fsync": "never"}))
    p = Pipeline(cfg, status=lambda m: None)
    specs = {s.name: s for s in p._specs()}
    fp = specs["feed" if topology == "pipelined" else "strategy"].params
    assert fp["retransmit"] and fp["glimpse"] and fp["silence_s"] == 2.0
    assert specs["venue"].params["recovery_ports"] and specs["venue"].params["faults"]
    p.close()
    rep = run_pipeline(cfg, tick_s=0.05, status=lambda m: None)
    assert rep.ok and rep.stopped_by == "end of session", rep.errors
    f = rep.counters["feed"]
    assert f["gaps_repaired"] > 0 and f["gaps_given_up"] == 0 and f["books_state"] == 0
    assert f["messages_received"] > 0
    assert f["messages"] == rep.counters["venue"]["messages"]
    assert rep.counters["strategy"]["orders"] > 0
