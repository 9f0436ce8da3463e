"""Run to completion with a second feed: the stocks' ITCH and the future's MDP 3.0 each on a
busy-polled socket of its own, drained by one compiled loop (the MDP3 socket a pass nested
in the ITCH loop's turn), both feeds' records reaching the index arbitrage; and the loop
compiles and runs again from numba's cache (a nested loop must not be the same dispatcher
as the outer one)."""

from __future__ import annotations

import os
import socket
import sys
import time
import uuid
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from tickpath.engine.counters import Control, Counters, create_array
from tickpath.engine.run_to_completion import RunToCompletionStage, TwoFeedTrading
from tickpath.strategy import index_arb
from tickpath.telemetry.stamps import N_BOUNDARIES
from tickpath.venue import Simulator
from tickpath.venue.futures import FuturesSimulator
from tickpath.venue.futures_records import INCREMENTAL
from tickpath.venue.publisher import UdpPublisher

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from gateway.venue_script import ScriptedVenue  # noqa: E402  (tests/gateway)


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
def stage(tmp_path):
    tag = f"tp-test-{uuid.uuid4().hex[:8]}"
    counters = Counters.create(f"{tag}-counters")
    rows_map, _ = create_array(f"{tag}-stamps", 64, N_BOUNDARIES)
    venue = ScriptedVenue(username="TRADER", password="secret")
    eq_port, fut_port = _free_port(), _free_port()
    sim = Simulator(symbols=4, messages=3_000, seed=3)
    params = {
        "transport": "busypoll", "host": "127.0.0.1", "port": eq_port,
        "futures": {"host": "127.0.0.1", "port": fut_port, "late_join": "natural"},
        "rows": f"{tag}-stamps", "row_every": 1, "strategy": "index_arb",
        "strategy_params": {"future": "TPZ6", "basket": list(sim.symbols[:2]),
                            "weights": [0.5e-6, 0.5e-6], "scale": 45_000_000.0,
                            "threshold": 1 << 40, "max_position": 0},
        "risk": {"max_order_size": 10, "max_position": 10, "max_notional": 1e13,
                 "collar_bps": 100, "max_orders_per_s": 10},
        "gateway": {"host": "127.0.0.1", "port": venue.port, "username": "TRADER",
                    "password": "secret", "journal": str(tmp_path / "orders.journal"),
                    "fsync": "never"}}
    st = RunToCompletionStage(SimpleNamespace(params=params), counters)
    st.test_sim, st.test_ports = sim, (eq_port, fut_port)
    try:
        yield st
    finally:
        st.close()
        venue.close()
        counters.unlink()
        os.unlink(f"/dev/shm/{tag}-stamps")
        del rows_map


def test_both_feeds_records_reach_the_strategy_through_one_loop(stage):
    assert isinstance(stage.state, TwoFeedTrading)
    stage.start()  # compiles (or loads) the loop with its nested pass, logs in
    eq_port, fut_port = stage.test_ports
    fut = FuturesSimulator(None, messages=400, seed=5, snapshot_every=0)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx:
        for chunk in fut.packets():
            for k in range(chunk.kinds.shape[0]):
                if chunk.kinds[k] == INCREMENTAL:
                    tx.sendto(chunk.buf[chunk.bounds[k]:chunk.bounds[k + 1]].tobytes(),
                              ("127.0.0.1", fut_port))
    with UdpPublisher("127.0.0.1", eq_port) as pub:
        pub.publish([stage.test_sim.blocks()])
        pub.end_session()
    stage.control[int(Control.STOP)] = 0
    end = time.monotonic() + 10
    s = stage.trader.state
    while time.monotonic() < end:  # bounded: until both feeds' records were handled
        stage.rx.poll(stage.state, time.clock_gettime_ns(time.CLOCK_REALTIME) + 50_000_000, 0)
        if s.words[index_arb.FUT_LOCATE] >= 0 and s.words[index_arb.KNOWN] == 2:
            break
    f = int(s.words[index_arb.FUT_LOCATE])
    assert f == stage.futures.feed.locate_of(42001) >= 1 << 15  # the future, by its symbol
    assert s.words[index_arb.KNOWN] == 2  # both basket stocks' mids, from the ITCH feed
    top = stage.trader.ctx.top[f]
    assert 0 < top[0] < top[2]  # the future's two-sided top, in order-entry units
    assert stage.futures.feed.counters()["published"] > 0
    assert np.isfinite(index_arb.fair_value(s)) and index_arb.fair_value(s) > 0
