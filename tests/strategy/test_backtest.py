"""Backtests: the market maker over a generated day fills and books position and P&L
consistently; a queue model fill; a user strategy by module path over the real ITCH sample
(Nasdaq BX, 2023-08-22) fills from the real tape; the CLI, in a process that cannot import
that test strategy although the loops' cache index holds its type (tickpath.strategy.states)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from strategy_cases import book_record, trade_record

from tickpath.apps.backtest import backtest
from tickpath.strategy.context import new_context, place
from tickpath.strategy.dispatch import handle_record
from tickpath.strategy.simfill import fill_on_trade, venue_intents
from tickpath.venue import Simulator
from tickpath.wire.pcap import read_records, udp_payload

HERE = Path(__file__).resolve().parent
SRC = HERE.parents[1] / "src"


@pytest.fixture(scope="module")
def day(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("day") / "day.itch"
    Simulator(symbols=4, messages=30_000, seed=11).write(path)
    return path


def test_the_market_maker_over_a_generated_day(day):
    rep = backtest(day, "market_maker", {"edge": 100, "size": 100, "max_position": 300,
                                         "skew": 1})
    assert rep.records > rep.datagrams > 0 and rep.ring_full == 0
    assert rep.orders > 0 and rep.fills > 0 and rep.filled_shares > 0
    assert sum(p["bought"] + p["sold"] for p in rep.positions.values()) == rep.filled_shares
    for p in rep.positions.values():
        assert p["position"] == p["bought"] - p["sold"] and abs(p["position"]) <= 300
    # P&L: cash plus every position at its mark
    assert rep.pnl == sum(p["cash"] + p["position"] * p["mark"] for p in rep.positions.values())


def test_trading_only_the_configured_symbols(day):
    rep = backtest(day, "market_maker", {"edge": 100}, symbols=["MICU"])
    assert set(rep.positions) <= {"MICU"} and rep.orders > 0


def test_the_queue_ahead_is_used_up_before_a_print_fills_us():
    """Risk-averse queue: 300 shares rest at our bid when we join; prints at our price fill
    us only once they have used those up; a print through our price fills the rest."""
    from strategy_cases import code  # noqa: F401  (symbols by code)

    _, state = __import__("tickpath.strategy.loader", fromlist=["x"]).load_strategy("observe")
    ctx = new_context(ours_in_book=False)
    handle_record(state, ctx, book_record(3, 100_000, 300, 100_100, 200), 0, 1)
    place(ctx, 3, ord("B"), 100, 100_000, 48, 0)
    counts = np.zeros(6, np.int64)
    venue_intents(ctx, 1, counts)
    slot = int(ctx.positions[3]["open_head"])
    assert ctx.orders[slot]["ahead"] == 300  # only the top is known here: the top's shares

    def prints(price, qty, aggressor="S"):
        fill_on_trade(ctx, 3, price, qty, ord(aggressor), 2, counts)
        handle_record(state, ctx, trade_record(3, price, qty, aggressor), 0, 2)

    prints(100_000, 200)
    assert ctx.orders[slot]["ahead"] == 100 and ctx.orders[slot]["filled"] == 0
    prints(100_000, 150)  # 100 ahead used up, 50 for us
    assert ctx.orders[slot]["filled"] == 50 and ctx.orders[slot]["ahead"] == 0
    prints(100_000, 10, "B")  # a buyer took the offer side: not our queue
    assert ctx.orders[slot]["filled"] == 50
    prints(99_900, 1)  # through our price: the rest fills at ours
    assert ctx.orders[slot]["filled"] == 100 and ctx.positions[3]["position"] == 100
    assert ctx.positions[3]["cash"] == -100 * 100_000


def _sample_messages(folder: Path) -> list[bytes]:
    """Every ITCH message of the capture folder's packets, in time order."""
    msgs = []
    for f in sorted(folder.glob("*.pcap")):
        for rec in read_records(f):
            got = udp_payload(rec.frame, rec.linktype)
            if got is None:
                continue
            pl = bytes(got[0])
            off = 20  # MoldUDP64 header
            while off + 2 <= len(pl):
                n = int.from_bytes(pl[off:off + 2], "big")
                msgs.append(pl[off + 2:off + 2 + n])
                off += 2 + n
    return sorted(msgs, key=lambda m: int.from_bytes(m[5:11], "big"))


def test_a_user_strategy_over_the_real_itch_sample(shared_data, tmp_path):
    folder = shared_data / "nasdaq-itch50" / "Bx.Equities.TotalView.Itch.v5.0.20230822"
    msgs = _sample_messages(folder)
    assert len(msgs) > 50
    path = tmp_path / "bx.itch"
    path.write_bytes(b"".join(len(m).to_bytes(2, "big") + m for m in msgs))
    # no pre-trade check: it refuses orders in an instrument without a book, and the sample
    # holds no book beside its prints
    rep = backtest(path, "tape_follower", {"size": 1}, pre_trade=False)
    # the sample's executions reference orders it does not hold (refused, skipped), but its
    # non-cross trades print: AMZN at $135.14 then higher, which fills our offer at $135.14
    assert rep.records > 0 and rep.orders >= 1
    # (the sample has no stock directory message: positions are named by locate, AMZN's 523)
    assert rep.fills >= 1 and "523" in rep.positions
    amzn = rep.positions["523"]
    assert amzn["position"] == -1 and amzn["sold"] == 1 and amzn["cash"] == 1_351_400


def test_cli_backtest(day):
    r = subprocess.run([sys.executable, "-m", "tickpath.cli", "backtest", str(day),
                        "--params", '{"edge": 100, "size": 100}', "--symbols", "MICU,PAGO",
                        "--json"], capture_output=True, text=True, timeout=300,
                       env={"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin"})
    assert r.returncode == 0, r.stderr
    rep = json.loads(r.stdout)
    assert rep["orders"] > 0 and set(rep["positions"]) <= {"MICU", "PAGO"}
    bad = subprocess.run([sys.executable, "-m", "tickpath.cli", "backtest", str(day),
                          "--strategy", "nopkg.nostrat"], capture_output=True, text=True,
                         timeout=300, env={"PYTHONPATH": str(SRC), "PATH": "/usr/bin:/bin"})
    assert bad.returncode == 2 and "no module named 'nopkg.nostrat'" in bad.stderr
