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
from tickpath.engine._kernels import TAP_FULL, TAP_PUBLISHED, deliver
from tickpath.engine.config import ConfigError, from_dict, load
from tickpath.engine.counters import Control
from tickpath.engine.feed_stage import tap_wait
from tickpath.engine.handler import ItchHandler
from tickpath.engine.pipeline import Pipeline, run_pipeline
from tickpath.engine.strategy_stage import enter_order_ouch50
from tickpath.feed.moldudp64 import MoldSession, pack_packets
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


def _deliver(h, s, buf, feed, tap):
    b = h.books
    rx = np.zeros(16, np.int64)
    lat = np.zeros(4, np.int64)
    return deliver(buf, 0, buf.shape[0], 0, s.session, s.counters, h.events, b.orders, b.mask,
                   b.levels, b.free, b.heads, b.stats_array, b.inst, b.symbols, b.type_counts,
                   b.capacity, feed, rx, lat, lat.copy(), *tap)


@pytest.fixture
def ring():
    r = SpscRing.create(f"tp-test-{uuid.uuid4().hex[:8]}", 2, SLOT_SIZE, policy="drop")
    yield r
    r.unlink()
    r.close()


def test_deliver_hands_the_top_of_the_changed_book_to_the_ring(ring):
    h = ItchHandler(BookStore(max_orders=64, errors="skip"), errors="skip")
    s = MoldSession()
    feed = np.zeros(4, np.int64)
    tap = (ring.header, ring.words, tap_wait("busy_spin", 0))
    first = _datagram([
        encode("R", stock_locate=7, stock="ABCD"),
        encode("A", stock_locate=7, order_reference_number=1, buy_sell_indicator="B",
               shares=300, stock="ABCD", price=1_000_000),
        encode("A", stock_locate=7, order_reference_number=2, buy_sell_indicator="S",
               shares=200, stock="ABCD", price=1_000_500)])
    _deliver(h, s, first, feed, tap)
    assert feed[TAP_PUBLISHED] == 1
    rec = ring.records(TOP_DTYPE)[0]
    assert (rec["locate"], rec["bid_price"], rec["bid_shares"], rec["ask_price"],
            rec["ask_shares"], rec["events"]) == (7, 1_000_000, 300, 1_000_500, 200, 3)
    assert np.uint64(rec["stock"]) == np.uint64(stock_code("ABCD"))
    stamps = [int(rec[b]) for b in BOUNDARIES[:6]]
    assert all(x > 0 for x in stamps) and stamps[1:] == sorted(stamps[1:])
    # a datagram that changes no book hands nothing on
    _deliver(h, s, _datagram([encode("S", event_code="Q")], seq=4), feed, tap)
    assert feed[TAP_PUBLISHED] == 1
    # a full ring (capacity 2, drop policy) drops and counts, the books still apply
    for k in range(3):
        _deliver(h, s, _datagram([encode("X", stock_locate=7, order_reference_number=1,
                                          cancelled_shares=10)], seq=5 + k), feed, tap)
    assert feed[TAP_PUBLISHED] == 2 and feed[TAP_FULL] == 2
    assert h.books.best_bid(7)[1] == 270
    # without a ring (0-length arrays, or the arguments left out) nothing is handed on
    none = (np.zeros(0, np.int64),) * 3
    _deliver(h, s, _datagram([encode("X", stock_locate=7, order_reference_number=1,
                                      cancelled_shares=10)], seq=8), feed, none)
    assert feed[TAP_PUBLISHED] == 2 and h.books.best_bid(7)[1] == 260


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


def test_ouch50_enter_order_bytes():
    buf = np.zeros(64, np.uint8)
    n = enter_order_ouch50(buf, 1234, ord("S"), 300, stock_code("ABCD"), 1_000_500)
    b = bytes(buf[:n])
    assert n == 47 and b[0:1] == b"O"
    assert int.from_bytes(b[1:5], "big") == 1234 and b[5:6] == b"S"
    assert int.from_bytes(b[6:10], "big") == 300 and b[10:18] == b"ABCD    "
    assert int.from_bytes(b[18:26], "big", signed=True) == 1_000_500
    assert b[26:31] == b"0YPNN" and b[31:45] == b"TP000000001234" and b[45:47] == b"\0\0"


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
])
def test_config_errors_name_the_key(data, words):
    with pytest.raises(ConfigError) as e:
        from_dict(data)
    assert words in str(e.value)


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


def _decode(order: bytes) -> tuple:
    return (order[0:1], int.from_bytes(order[1:5], "big"), order[5:6],
            int.from_bytes(order[6:10], "big"), order[10:18].decode().strip(),
            int.from_bytes(order[18:26], "big", signed=True), order[31:45])


def test_pipeline_end_to_end_with_rejects_and_the_kill_switch():
    cfg = from_dict(_small(risk={"max_position": 100}))  # one order of 100 each way
    killed_at = {}

    def tick(p: Pipeline) -> None:
        snap = p.snapshot()
        if not killed_at and snap["strategy"]["orders"] >= 20:
            p.counters.section("control")[Control.KILL] = 1
            killed_at["orders"] = int(p.counters.snapshot()["strategy"]["orders"])

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
    assert c["feed"]["messages"] == 20_000 and c["venue"]["messages"] == 20_000
    # every completed path's stamps are in path order
    assert rep.rows.shape[0] > 0
    st = np.stack([rep.rows[b] for b in BOUNDARIES], axis=1)
    assert (st > 0).all() and (np.diff(st, axis=1) >= 0).all()
    # orders: sent = reached the sink, and they are what the strategy meant
    assert c["strategy"]["orders"] == rep.orders_received == len(rep.orders) > 0
    symbols = set(cfg["instruments"]["symbols"])
    refs = []
    for o in rep.orders:
        typ, ref, side, qty, sym, price, clord = _decode(o)
        assert len(o) == 47 and typ == b"O" and side in (b"B", b"S")
        assert qty == cfg["strategy"]["size"] and sym in symbols and price > 0
        assert clord == b"TP" + str(ref).zfill(12).encode()
        refs.append(ref)
    assert refs == list(range(1, len(refs) + 1))
    # the position limit refused some, the kill switch stopped the flow at once
    assert c["risk"]["position"] > 0 and c["strategy"]["rejects"] >= c["risk"]["position"]
    assert killed_at and c["risk"]["killed"] > 0
    assert c["strategy"]["orders"] - killed_at["orders"] <= 2  # at most those in flight
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
