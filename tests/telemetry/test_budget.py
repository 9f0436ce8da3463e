"""The latency budget from STAMPS rows: percentiles, missing boundaries, clock anomalies,
and the JSON / CSV / PNG exports and the `tickpath budget --stamps` command."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys

import numpy as np
import pytest

from tickpath.telemetry.budget import (
    Budget,
    StampsError,
    as_matrix,
    load_stamps,
    save_stamps,
)
from tickpath.telemetry.stamps import BOUNDARIES, STAGES, STAMPS

T0 = 1_760_000_000_000_000_000  # an epoch-ns start, as CLOCK_REALTIME stamps look
#: 0.1%: HdrHistogram at 3 significant digits reports within this of the recorded value
PRECISION = 1e-3


def rows_with_spans(spans: dict[str, np.ndarray], n: int) -> np.ndarray:
    """n STAMPS rows where stage ``name`` takes ``spans[name]`` (default 100 ns each)."""
    r = np.zeros(n, STAMPS)
    t = T0 + np.arange(n, dtype=np.int64) * 1_000_000
    r[BOUNDARIES[0]] = t
    for name, _a, b, _ in STAGES:
        t = t + spans.get(name, np.full(n, 100, dtype=np.int64))
        r[b] = t
    return r


def close(got: int, want: float) -> bool:
    return abs(got - want) <= max(1.0, want * PRECISION)


def test_percentiles_of_known_spans():
    n = 10_000
    ring = np.arange(1, n + 1, dtype=np.int64) * 10  # 10, 20, .. 100_000 ns: known ranks
    b = Budget.from_stamps(rows_with_spans({"ring": ring}, n))
    st = {s.name: s for s in b.stages}
    r = st["ring"]
    assert r.count == n and r.negative == 0
    for p in (50.0, 90.0, 99.0, 99.9):
        want = np.percentile(ring, p, method="inverted_cdf")
        assert close(r.percentile(p), want), (p, r.percentile(p), want)
    assert close(r.max_ns, 100_000) and r.min_ns == 10
    # constant stages are exact to HdrHistogram's bucket
    assert st["wire"].percentile(50.0) == 100 and st["egress"].percentile(99.0) == 100
    # total is the sum of the stages per row: 8 x 100 + ring
    tot = 800 + ring
    assert b.total.count == n
    assert close(b.total.percentile(50.0), np.percentile(tot, 50, method="inverted_cdf"))
    assert close(b.total.percentile(99.0), np.percentile(tot, 99, method="inverted_cdf"))
    # tick-to-trade leaves the wire stage out
    assert close(b.tick_to_trade.percentile(50.0), np.percentile(tot - 100, 50,
                                                                 method="inverted_cdf"))
    assert b.share(st["wire"]) == pytest.approx(100 / b.total.percentile(50.0))


def test_zero_span_is_a_sample():
    b = Budget.from_stamps(rows_with_spans({"decode": np.zeros(5, dtype=np.int64)}, 5))
    d = next(s for s in b.stages if s.name == "decode")
    assert d.count == 5 and d.percentile(50.0) == 0 and d.negative == 0


def test_missing_boundaries_leave_rows_out_of_stages_only():
    n = 100
    r = rows_with_spans({}, n)
    r["checked"][:40] = 0       # a risk stage that never ran for 40 rows
    r["order_out"][:60] = 0     # 60 decisions with no order
    r["venue_sent"][90:] = 0    # 10 rows without the venue stamp
    b = Budget.from_stamps(r)
    st = {s.name: s for s in b.stages}
    assert st["risk"].count == 60 and st["egress"].count == 40  # rows 60..99 have both
    assert st["wire"].count == 90 and st["parse"].count == n
    # total: first to last boundary present; rows 0..39 end at 'decided' (7 stages: 700 ns),
    # rows 60..89 run the whole path (900 ns)
    assert b.total.count == n
    assert b.total.min_ns == 700 and b.total.max_ns == 900
    # tick-to-trade: only rows with both received and order_out
    assert b.tick_to_trade.count == 40 and b.tick_to_trade.percentile(50.0) == 800
    j = b.as_dict()
    assert j["stages"][7]["count"] == 60


def test_row_with_one_boundary_has_no_total_and_empty_stage_reports_none():
    r = np.zeros(3, STAMPS)
    r["received"] = T0
    b = Budget.from_stamps(r)
    assert b.total.count == 0 and b.tick_to_trade.count == 0
    d = b.as_dict()
    assert d["total"]["p50_ns"] is None and d["stages"][0]["p99_ns"] is None
    assert all(s["share_of_total_p50"] is None for s in d["stages"])


def test_negative_spans_are_counted_not_hidden():
    n = 50
    ring = np.full(n, 300, dtype=np.int64)
    ring[:7] = -25  # dequeued stamped before enqueued: a clock anomaly
    b = Budget.from_stamps(rows_with_spans({"ring": ring}, n))
    st = {s.name: s for s in b.stages}
    assert st["ring"].negative == 7 and st["ring"].count == n - 7
    assert st["ring"].min_ns == 300
    d = b.as_dict()
    assert d["stages"][5]["negative"] == 7 and d["negative_spans"] == 7


def test_json_shape(tmp_path):
    meta = {"transport": "loopback", "messages": 1234, "orders": 3, "rejects": 1, "dropped": 0}
    b = Budget.from_stamps(rows_with_spans({}, 20), meta)
    out = b.to_json(tmp_path / "b.json")
    j = json.loads(out.read_text())
    assert {"stages", "total", "transport", "messages"} <= set(j)
    assert [s["name"] for s in j["stages"]] == [s[0] for s in STAGES]
    for s in j["stages"]:
        assert {"name", "p50_ns", "p99_ns"} <= set(s)
        assert isinstance(s["p50_ns"], int) and isinstance(s["p99_ns"], int)
    assert {"p50_ns", "p99_ns"} <= set(j["total"]) and j["total"]["p50_ns"] == 900
    assert j["transport"] == "loopback" and j["messages"] == 1234
    assert j["orders"] == 3 and j["rejects"] == 1 and j["dropped"] == 0
    assert j["clock"]["name"] == "CLOCK_REALTIME" and j["clock"]["unit"] == "ns"
    assert j["tick_to_trade"]["p50_ns"] == 800
    for key in ("count", "p90_ns", "p999_ns", "max_ns"):
        assert key in j["total"]


def test_csv_parses(tmp_path):
    b = Budget.from_stamps(rows_with_spans({"book": np.arange(1, 101, dtype=np.int64)}, 100))
    with b.to_csv(tmp_path / "b.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["name"] for r in rows] == [s[0] for s in STAGES] + ["total", "tick_to_trade"]
    book = rows[3]
    assert book["from"] == "decoded" and book["to"] == "booked"
    assert int(book["count"]) == 100 and int(book["p50_ns"]) == 50 and int(book["max_ns"]) == 100
    assert float(book["share_of_total_p50"]) > 0


def test_png_written(tmp_path):
    b = Budget.from_stamps(rows_with_spans({"ring": np.arange(1, 501, dtype=np.int64)}, 500),
                           {"transport": "loopback"})
    out = b.to_png(tmp_path / "sub" / "b.png")
    data = out.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 5_000


def test_png_of_empty_budget(tmp_path):
    b = Budget.from_stamps(np.zeros(0, STAMPS))
    assert b.to_png(tmp_path / "e.png").read_bytes()[:4] == b"\x89PNG"


def test_rows_of_the_wrong_kind_are_refused():
    with pytest.raises(StampsError, match="lack the boundary fields"):
        as_matrix(np.zeros(3, np.dtype([("received", np.int64)])))
    with pytest.raises(StampsError, match="integer matrix"):
        as_matrix(np.zeros((3, 4), np.int64))
    m = as_matrix(np.zeros((2, len(BOUNDARIES)), np.int64))
    assert m.shape == (2, len(BOUNDARIES))


def test_save_and_load_keep_rows_and_meta(tmp_path):
    r = rows_with_spans({}, 7)
    p = save_stamps(tmp_path / "s.npy", r, {"transport": "veth", "messages": 7})
    rows, meta = load_stamps(p)
    assert rows.dtype == STAMPS and np.array_equal(rows, r)
    assert meta == {"transport": "veth", "messages": 7}


def test_cli_budget_from_saved_stamps(tmp_path):
    n = 300
    r = rows_with_spans({"strategy": np.arange(1, n + 1, dtype=np.int64) * 7}, n)
    r["order_out"][::2] = 0
    r["decoded"][0] = r["parsed"][0] - 5  # one clock anomaly
    src = save_stamps(tmp_path / "rows.npy", r, {"transport": "loopback", "messages": 900,
                                                 "orders": 150})
    out = {k: tmp_path / f"b.{k}" for k in ("json", "csv", "png")}
    again = tmp_path / "copy.npy"
    res = subprocess.run([sys.executable, "-m", "tickpath.cli", "budget", "--stamps", str(src),
                          "--json", str(out["json"]), "--csv", str(out["csv"]),
                          "--png", str(out["png"]), "--save-stamps", str(again)],
                         capture_output=True, text=True, timeout=300,
                         env={**os.environ, "COLUMNS": "160"})
    assert res.returncode == 0, res.stderr
    assert "latency budget" in res.stdout and "tick_to_trade" in res.stdout
    assert "clock anomalies" in res.stderr
    j = json.loads(out["json"].read_text())
    assert j["transport"] == "loopback" and j["messages"] == 900 and j["orders"] == 150
    assert j["stages"][2]["negative"] == 1 and j["stages"][2]["count"] == n - 1
    assert j["tick_to_trade"]["count"] == n // 2
    assert out["csv"].read_text().startswith("name,from,to")
    assert out["png"].read_bytes()[:4] == b"\x89PNG"
    assert np.array_equal(np.load(again), r)


def test_cli_budget_refuses_a_bad_file(tmp_path):
    bad = tmp_path / "bad.npy"
    np.save(bad, np.zeros((3, 4)))
    res = subprocess.run([sys.executable, "-m", "tickpath.cli", "budget", "--stamps", str(bad)],
                         capture_output=True, text=True, timeout=300)
    assert res.returncode == 2 and "STAMPS" in res.stderr
