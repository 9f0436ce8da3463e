"""The DuckDB queries of docs/parquet.md, run word for word (read out of the document) on a
replayed day and on latency stamp rows, and their answers checked against what tickpath
computed itself: the books, their counters, the latency budget."""

from __future__ import annotations

import re
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import numpy as np
import pytest

from tickpath.apps.replay import replay
from tickpath.book.records import PerInstrument
from tickpath.parquet import write_stamps
from tickpath.telemetry.budget import Budget, save_stamps
from tickpath.telemetry.stamps import BOUNDARIES, STAGES, STAMPS

duckdb = pytest.importorskip("duckdb", reason="duckdb (PyPI, the test extra) not installed")

DOC = Path(__file__).resolve().parents[2] / "docs" / "parquet.md"
QUERIES = re.findall(r"```sql\n(.*?)```", DOC.read_text(), re.S)
SPREAD, FINAL_TOP, TRADES, LATENCY = QUERIES  # in the document's order


@pytest.fixture(scope="module")
def day(sim_day, tmp_path_factory):
    """The simulated day replayed into ``<tmp>/day``; the queries run from ``<tmp>``."""
    where = tmp_path_factory.mktemp("duck")
    handler, _ = replay(sim_day[0], parquet=where / "day", parquet_tables=("top", "trades"))
    return where, handler, {loc: sym for loc, sym in handler.books.directory.items()}


def _run(where: Path, sql: str) -> list[tuple]:
    con = duckdb.connect()
    con.execute(f"SET file_search_path = '{where}'")
    return con.sql(sql).fetchall()


def test_the_document_has_the_four_queries():
    assert len(QUERIES) == 4
    assert "'day/top.parquet'" in SPREAD and "quantile_cont" in LATENCY


def test_spread_and_depth_over_the_day(day, sim_reference):
    where, _, symbol = day
    got = _run(where, SPREAD)
    want: dict[tuple[str, int], list] = defaultdict(list)
    for time_ns, loc, bp, bs, ap, a_s, _ in sim_reference.top:
        if bp and ap:
            want[(symbol[loc], time_ns // 3_600_000_000_000)].append((ap - bp, bs + a_s))
    assert [(s, h) for s, h, *_ in got] == sorted(want)
    for sym, hour, changes, mean_spread, max_spread, mean_depth in got:
        rows = want[(sym, hour)]
        assert changes == len(rows)
        assert mean_spread == pytest.approx(np.mean([s for s, _ in rows]) / 1e4)
        assert max_spread == pytest.approx(max(s for s, _ in rows) / 1e4)
        assert mean_depth == pytest.approx(np.mean([d for _, d in rows]))


def test_final_top_is_the_books(day):
    where, handler, symbol = day
    got = _run(where, FINAL_TOP)
    assert [r[0] for r in got] == sorted(r[0] for r in got)
    by_symbol = {r[0]: r[1:] for r in got}
    books = handler.books
    for loc in np.flatnonzero(books.inst[:, PerInstrument.ORDERS]):
        b, a = books.bbo(int(loc))
        assert by_symbol[symbol[int(loc)]] == (
            b[0] / 1e4 if b else None, b[1] if b else None,
            a[0] / 1e4 if a else None, a[1] if a else None)


def test_trade_count_and_volume_per_instrument(day, sim_reference):
    where, handler, symbol = day
    got = _run(where, TRADES)
    count: dict[str, int] = defaultdict(int)
    volume: dict[str, int] = defaultdict(int)
    notional: dict[str, int] = defaultdict(int)
    for _, loc, _t, price, shares, _, printable in sim_reference.trades:
        if printable:
            count[symbol[loc]] += 1
            volume[symbol[loc]] += shares
            notional[symbol[loc]] += price * shares
    executed = handler.books.inst[:, PerInstrument.EXECUTED_SHARES]
    assert len(got) == len({symbol[loc] for _, loc, *_ in sim_reference.trades})
    vols = [r[2] for r in got]
    assert vols == sorted(vols, reverse=True)
    for sym, trades, vol, vwap, exec_shares in got:
        loc = next(k for k, v in symbol.items() if v == sym)
        assert (trades, vol) == (count[sym], volume[sym])
        assert vwap == pytest.approx(notional[sym] / volume[sym] / 1e4)
        assert (exec_shares or 0) == int(executed[loc])  # the books' own counter


def _stamps(n: int = 2001, seed: int = 3) -> np.ndarray:
    """STAMPS rows with spans of a few hundred ns to tens of µs; a third of the paths end at
    the strategy's decision (no order), and a few have a clock anomaly in the ring stage."""
    rng = np.random.default_rng(seed)
    rows = np.zeros(n, STAMPS)
    t = 1_765_000_000_000_000_000 + np.cumsum(rng.integers(40_000, 60_000, n))
    for name in BOUNDARIES:
        rows[name] = t
        t = t + rng.lognormal(7.0, 0.8, n).astype(np.int64) + 1
    no_order = rng.random(n) < 1 / 3
    for name in ("checked", "order_out"):
        rows[name][no_order] = 0
    bad = rng.choice(n, 7, replace=False)
    rows["dequeued"][bad] = rows["enqueued"][bad] - 50  # dequeued before enqueued
    return rows


def test_latency_percentiles_per_stage(tmp_path):
    rows = _stamps()
    write_stamps(tmp_path / "stamps.parquet", rows, {"transport": "synthetic"})
    got = {r[0]: r[1:] for r in _run(tmp_path, LATENCY)}
    budget = Budget.from_stamps(rows)
    assert set(got) == {name for name, *_ in STAGES}
    for span in budget.stages:
        n, p50, p99 = got[span.name]
        a, b = rows[span.start], rows[span.end]
        spans = (b - a)[(a != 0) & (b != 0)]
        spans = spans[spans >= 0]
        assert n == span.count == spans.size  # the budget's histogram holds the same rows
        for q, duck in ((0.5, p50), (0.99, p99)):
            assert duck == pytest.approx(np.quantile(spans, q))  # interpolated
            # quantile_cont interpolates between the two samples around rank q (n - 1); the
            # budget's HdrHistogram takes a sample next to that rank, to 3 significant digits
            ordered = np.sort(spans)
            k = int(q * (spans.size - 1))
            assert ordered[k] <= duck <= ordered[k + 1]
            near = ordered[max(k - 2, 0):k + 3]
            assert near[0] * (1 - 1e-3) <= span.percentile(100 * q) <= near[-1] * (1 + 1e-3)
    assert budget.stages[[s[0] for s in STAGES].index("ring")].negative == 7


def test_budget_converts_saved_stamps_to_parquet(tmp_path):
    rows = _stamps(301)
    save_stamps(tmp_path / "rows.npy", rows, {"transport": "synthetic"})
    r = subprocess.run([sys.executable, "-m", "tickpath.cli", "budget", "--stamps",
                        str(tmp_path / "rows.npy"), "--parquet",
                        str(tmp_path / "stamps.parquet")], capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr
    assert "wrote 301 stamp rows" in r.stderr
    import pyarrow.parquet as pq

    t = pq.read_table(tmp_path / "stamps.parquet")
    assert t.column_names == list(BOUNDARIES)
    assert t.column("order_out").null_count == int((rows["order_out"] == 0).sum())
    assert b"synthetic" in t.schema.metadata[b"tickpath"]
    assert [r[0] for r in _run(tmp_path, LATENCY)] == sorted(name for name, *_ in STAGES)
