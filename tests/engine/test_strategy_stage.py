"""The strategy stage's loop, driven in this process through its owner, logged in to a
scripted venue over SoupBinTCP: quotes refused by risk are asked for again, the kill switch
cancels what rests (OUCH Mass Cancel) and places nothing new, and every record of a polled
batch carries one dequeued stamp."""

from __future__ import annotations

import os
import sys
import time
import uuid
from contextlib import contextmanager
from pathlib import Path

import numpy as np
import pytest

from tickpath.codec.itch50.layout import stock_code
from tickpath.engine.agent import AgentSpec
from tickpath.engine.counters import Control, Counters, create_array
from tickpath.engine.strategy_stage import KILLED, StrategyStage
from tickpath.ring import SpscRing
from tickpath.risk import Limit
from tickpath.strategy.records import N_CARRIED, SLOT_SIZE, TOP_DTYPE
from tickpath.telemetry.stamps import N_BOUNDARIES

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from gateway.venue_script import ScriptedVenue  # noqa: E402  (tests/gateway)

RISK = {"max_order_size": 1000, "max_position": 100_000, "max_notional": 1e7,
        "collar_bps": 500, "max_orders_per_s": 100_000}


@contextmanager
def _stage(tmp_path, strategy: str, params: dict, rings: int = 1):
    """A strategy stage over ``rings`` input rings, logged in to a scripted venue."""
    tag = f"tp-test-{uuid.uuid4().hex[:8]}"
    names = {"counters": f"{tag}-counters", "rows": f"{tag}-stamps"}
    ring_names = [f"{tag}-md{k}" for k in range(rings)]
    counters = Counters.create(names["counters"])
    made = [SpscRing.create(n, 256, SLOT_SIZE, policy="drop") for n in ring_names]
    rows_map, _ = create_array(names["rows"], 64, N_BOUNDARIES)
    venue = ScriptedVenue(username="TRADER", password="secret")
    spec = AgentSpec("strategy", "", names["counters"], idle="noop", params={
        "ring": ring_names[0], "more_rings": ring_names[1:], "strategy": strategy,
        "strategy_params": params, "risk": RISK,
        "rows": names["rows"], "row_every": 1,
        "gateway": {"host": "127.0.0.1", "port": venue.port, "username": "TRADER",
                    "password": "secret", "journal": str(tmp_path / "orders.journal"),
                    "fsync": "never"}})
    st = StrategyStage(spec, counters)
    st._connect()
    st.test_rings, st.test_venue = made, venue
    st.test_ring = made[0]
    try:
        yield st
    finally:
        st.close()
        venue.close()
        for ring in made:
            ring.unlink()
            ring.close()
        counters.unlink()
        os.unlink(f"/dev/shm/{names['rows']}")
        del rows_map


@pytest.fixture
def stage(tmp_path):
    with _stage(tmp_path, "market_maker", {"edge": 100, "size": 100, "symbols": [],
                                           "min_requote_us": 0}) as st:
        yield st


def _received(st: StrategyStage, n: int) -> list[dict]:
    """The first ``n`` messages the venue received (waiting for them, bounded)."""
    end = time.monotonic() + 5
    while len(st.test_venue.received) < n and time.monotonic() < end:
        time.sleep(0.001)
    return st.test_venue.received[:n]


def _offer(ring: SpscRing, locate: int, bid: int, ask: int, symbol: str = "ABCD") -> None:
    rec = np.zeros(1, TOP_DTYPE)
    rec["locate"], rec["stock"] = locate, np.uint64(stock_code(symbol)).view(np.int64)
    rec["bid_price"], rec["ask_price"] = bid, ask
    rec["bid_shares"] = rec["ask_shares"] = 100
    for k, name in enumerate(("venue_sent", "received", "parsed", "decoded", "booked",
                              "enqueued")):
        rec[name] = 1_000 + k
    assert ring.offer(rec.tobytes()) is not None


def _run(st: StrategyStage) -> dict[str, dict[str, int]]:
    """One pass of the loop as the stage's owner runs it (deadline already past: it returns
    after the batch it polled); a thrown kill switch is answered with a Mass Cancel."""
    if st._loop(0) == KILLED:
        st.session.mass_cancel()
        st._loop(0)
    assert all(r.counters()["depth"] == 0 for r in st.test_rings)
    return st.counters.snapshot()


def test_a_quote_refused_by_risk_is_asked_for_again_at_the_same_price(stage):
    stage.limits[Limit.MAX_ORDER_SIZE] = 50  # the maker's 100 shares are refused
    _offer(stage.test_ring, 1, 100_000, 100_200)
    c = _run(stage)
    assert c["strategy"]["orders"] == 0 and c["risk"]["order_size"] == 2
    stage.limits[Limit.MAX_ORDER_SIZE] = 1000
    _offer(stage.test_ring, 1, 100_000, 100_200)  # the same book
    c = _run(stage)
    assert c["strategy"]["orders"] == 2 and c["risk"]["passed"] == 2
    got = sorted((f["type"], f["side"], f["price"]) for f in _received(stage, 2))
    # around the micro-price (equal sizes: the mid, 100_100) +- the edge of 100
    assert got == [("O", "B", 100_000), ("O", "S", 100_200)]
    _offer(stage.test_ring, 1, 100_000, 100_200)  # quoted now: nothing new to send
    c = _run(stage)
    assert c["strategy"]["orders"] == 2 and c["strategy"]["records"] == 3


def test_the_kill_switch_cancels_what_rests_and_places_nothing(stage):
    _offer(stage.test_ring, 1, 100_000, 100_200)
    assert _run(stage)["strategy"]["orders"] == 2
    assert [f["type"] for f in _received(stage, 2)] == ["O", "O"]
    stage.counters.section("control")[Control.KILL] = 1
    _offer(stage.test_ring, 1, 100_100, 100_300)  # the book moved: no requote, a pull
    c = _run(stage)
    # the owner's Mass Cancel took both quotes; the maker's own pulls find them pending
    assert [f["type"] for f in _received(stage, 3)] == ["O", "O", "C"]
    assert c["strategy"]["orders"] == 2 and c["risk"]["killed"] == 0
    _offer(stage.test_ring, 1, 100_200, 100_400)
    assert _run(stage)["strategy"]["orders"] == 2  # nothing left to pull, nothing placed
    time.sleep(0.05)
    assert len(stage.test_venue.received) == 3


def test_every_record_of_a_batch_carries_the_batch_s_dequeued_stamp(stage):
    for locate in (1, 2, 3):
        _offer(stage.test_ring, locate, 100_000 + locate, 100_200 + locate)
    c = _run(stage)
    assert c["strategy"]["rows"] == 3 and c["strategy"]["orders"] == 6
    deq = stage.rows[:3, N_CARRIED]
    assert (deq == deq[0]).all() and deq[0] > 1_005
    # later boundaries of later records still move on: the work is in the strategy rows
    assert (stage.rows[:3, N_CARRIED + 1] >= deq).all()


def test_a_strategy_reads_two_feeds_rings_and_trades_the_future(tmp_path):
    # the stocks' records on the ITCH feed's ring, the future's on a second feed's ring
    params = {"future": "TPZ6", "basket": ["AAA", "BBB"], "weights": [0.5e-6, 0.25e-6],
              "scale": 4500_0000.0, "threshold": 2500, "exit": 500, "max_position": 1}
    with _stage(tmp_path, "index_arb", params, rings=2) as st:
        itch, futures = st.test_rings
        _offer(itch, 1, 99_9900, 100_0100, "AAA")
        _offer(itch, 2, 199_9900, 200_0100, "BBB")
        _offer(futures, 40_000, 4500_2500, 4500_5000, "TPZ6")  # fair 4500.00: within
        c = _run(st)
        assert c["strategy"]["records"] == 3 and c["strategy"]["orders"] == 0
        _offer(itch, 1, 99_5900, 99_6100, "AAA")  # the basket drops: the future is rich
        c = _run(st)
        assert c["strategy"]["orders"] == 1
        got = _received(st, 1)
        sent = [(f["type"], f["side"], f["price"], f["quantity"], f["time_in_force"])
                for f in got]
        assert sent == [("O", "S", 4500_2500, 1, "3")]  # IOC at the future's bid
