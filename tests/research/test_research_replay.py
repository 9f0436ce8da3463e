"""`tickpath research replay`: many days on a local Ray, each folder what the single-process
replay writes for that file, a failed file named while the others are written, bad plans
refused before Ray starts.

Ray's start-up costs seconds, so the command runs twice in all (module-scoped fixtures): once
on three good days, once with a truncated .gz among them."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from tickpath import Simulator
from tickpath.apps.replay import replay
from tickpath.apps.research import ResearchPlanError, day_stem, plan_days
from tickpath.parquet import FILES

pytest.importorskip("ray", reason="ray is not installed (pip install 'tickpath[research]')")

EXE = [sys.executable, "-m", "tickpath.cli", "research", "replay"]
ALL = ("events", "top", "trades")


def run(*args: str) -> subprocess.CompletedProcess:
    # offline: no usage statistics (Ray would try to report them)
    env = dict(os.environ, RAY_USAGE_STATS_ENABLED="0")
    return subprocess.run([*EXE, *args], capture_output=True, text=True, timeout=300, env=env)


@pytest.fixture(scope="module")
def days(tmp_path_factory) -> dict[str, Path]:
    """Three small days (different seeds; one gzip) and a truncated copy of the gzip one."""
    d = tmp_path_factory.mktemp("days")
    out = {}
    for seed, name in ((21, "mon.itch"), (22, "tue.itch"), (23, "wed.itch.gz")):
        Simulator(symbols=15, messages=6000 + 1000 * (seed - 21), seed=seed).write(d / name)
        out[day_stem(name)] = d / name
    whole = (d / "wed.itch.gz").read_bytes()
    (d / "cut.itch.gz").write_bytes(whole[:len(whole) // 2])
    out["cut"] = d / "cut.itch.gz"
    return out


@pytest.fixture(scope="module")
def good_run(days, tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    out = tmp_path_factory.mktemp("good") / "research"
    r = run(*(str(days[s]) for s in ("mon", "tue", "wed")), "--out", str(out),
            "--workers", "2", "--parquet-tables", "all")
    return out, r


@pytest.fixture(scope="module")
def failing_run(days, tmp_path_factory) -> tuple[Path, subprocess.CompletedProcess]:
    out = tmp_path_factory.mktemp("failing") / "research"
    r = run(str(days["mon"]), str(days["cut"]), str(days["wed"]), "--out", str(out),
            "--workers", "2", "--retries", "1")
    return out, r


@pytest.mark.parametrize("stem", ["mon", "tue", "wed"])
def test_each_folder_is_what_the_single_process_replay_writes(good_run, days, stem,
                                                              tmp_path):
    out, r = good_run
    assert r.returncode == 0, r.stderr
    ref = tmp_path / stem
    _, rep = replay(days[stem], parquet=ref, parquet_tables=ALL)
    got = out / stem
    assert sorted(p.name for p in got.iterdir()) == sorted(p.name for p in ref.iterdir())
    for name in FILES.values():
        a, b = pq.ParquetFile(got / name), pq.ParquetFile(ref / name)
        assert a.metadata.num_row_groups == b.metadata.num_row_groups, name
        ta, tb = a.read(), b.read()
        assert ta.schema == tb.schema, name
        assert ta.equals(tb), f"{name} differs from the single-process replay's"
    meta_got, meta_ref = (json.loads((p / "_meta.json").read_text()) for p in (got, ref))
    meta_got.pop("written")
    meta_ref.pop("written")
    assert meta_got == meta_ref
    assert meta_got["messages"] == rep.messages


def test_summary_and_table_name_every_day(good_run, days):
    out, r = good_run
    assert r.returncode == 0, r.stderr
    summary = json.loads((out / "_summary.json").read_text())
    assert summary["failed"] == [] and summary["files"] == 3
    assert summary["ray"]["workers"] == 2
    by_stem = {d["stem"]: d for d in summary["days"]}
    assert list(by_stem) == ["mon", "tue", "wed"]  # the order given
    for stem, d in by_stem.items():
        meta = json.loads((out / stem / "_meta.json").read_text())
        assert d["messages"] == meta["messages"] > 0
        assert d["rows"] == {t: meta["tables"][t]["rows"] for t in ALL}
        assert d["book_stats"] == meta["book_stats"]
        assert d["out"] == str(out.resolve() / stem) and d["error"] is None
        assert Path(d["file"]).name in r.stdout
    assert summary["messages"] == sum(d["messages"] for d in summary["days"])
    assert f"{summary['messages']:,} messages" in r.stdout
    # nothing but the days and the summary: no temporary folders left
    assert sorted(p.name for p in out.iterdir()) == ["_summary.json", "mon", "tue", "wed"]


def test_a_failed_file_is_named_and_the_others_are_written(failing_run, days):
    out, r = failing_run
    assert r.returncode == 1, r.stdout + r.stderr
    assert "cut.itch.gz" in r.stderr and "truncated" in r.stderr
    # a damaged file fails the same way every time: not tried again despite --retries 1
    assert "retrying" not in r.stderr
    # no folder, finished or partial, for the failed file
    assert sorted(p.name for p in out.iterdir()) == ["_summary.json", "mon", "wed"]
    summary = json.loads((out / "_summary.json").read_text())
    assert summary["failed"] == [str(days["cut"])]
    cut = next(d for d in summary["days"] if d["stem"] == "cut")
    assert cut["attempts"] == 1 and "GzipFileError" in cut["error"] and cut["out"] is None
    assert cut["input_error"] is True
    for stem in ("mon", "wed"):
        meta = json.loads((out / stem / "_meta.json").read_text())
        assert meta["messages"] > 0 and (out / stem / "top.parquet").is_file()


def test_two_files_with_one_stem_are_refused_before_anything_starts(days, tmp_path):
    other = tmp_path / "elsewhere"
    other.mkdir()
    twin = other / "mon.itch.gz"  # mon.itch and mon.itch.gz: both would write OUT/mon/
    twin.write_bytes(days["wed"].read_bytes())
    out = tmp_path / "out"
    r = run(str(days["mon"]), str(twin), "--out", str(out))
    assert r.returncode == 2
    assert "same stem" in r.stderr and "mon.itch.gz" in r.stderr
    assert not out.exists()


def test_an_out_dir_that_is_not_empty_is_refused(days, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    r = run(str(days["mon"]), "--out", str(out))
    assert r.returncode == 2 and "not empty" in r.stderr
    assert [p.name for p in out.iterdir()] == ["keep.txt"]


def test_day_stem_drops_gz_then_itch():
    assert day_stem("a/day.itch.gz") == day_stem("day.itch") == "day"
    # NASDAQ's, BX's and PSX's files of one date stay apart
    assert day_stem("01302019.NASDAQ_ITCH50.gz") == "01302019.NASDAQ_ITCH50"
    assert day_stem("01302019.BX_ITCH_50.gz") == "01302019.BX_ITCH_50"
    assert day_stem("S013019-v50.txt.gz") == "S013019-v50.txt"


def test_plan_refuses_missing_files_and_a_file_as_out(days, tmp_path):
    with pytest.raises(ResearchPlanError, match="no such file"):
        plan_days([days["mon"], tmp_path / "nope.itch"], tmp_path / "out")
    (tmp_path / "f").write_text("")
    with pytest.raises(ResearchPlanError, match="not a directory"):
        plan_days([days["mon"]], tmp_path / "f")
    assert plan_days([days["mon"], days["wed"]], tmp_path / "empty") == {
        "mon": days["mon"], "wed": days["wed"]}
    with pytest.raises(ResearchPlanError, match="cannot make the directory"):
        plan_days([days["mon"]], tmp_path / "f" / "under")  # before Ray ever starts


def test_a_day_s_earlier_attempt_is_cleared_before_it_runs_again(tmp_path):
    from tickpath.apps.research import _remove_partials

    (tmp_path / "mon").mkdir()  # renamed into place by a worker that died after it
    (tmp_path / "mon" / "top.parquet").write_text("")
    (tmp_path / ".mon.partial-123").mkdir()
    (tmp_path / "tue").mkdir()
    _remove_partials(tmp_path, "mon")
    assert sorted(os.listdir(tmp_path)) == ["tue"]


class _Ref:
    def __init__(self, outcome):
        self.outcome = outcome


class _FakeRay:
    """Ray's ``wait`` and ``get`` over scripted outcomes: the driver's loop without Ray."""

    def __init__(self):
        import ray

        self.exceptions = ray.exceptions

    def wait(self, refs, num_returns):
        return refs[:num_returns], refs[num_returns:]

    def get(self, ref):
        if isinstance(ref.outcome, BaseException):
            raise ref.outcome
        return ref.outcome


class _ScriptedTask:
    """``task.remote(...)``: attempt n of a stem gets ``script[stem][n - 1]``."""

    def __init__(self, script):
        self.script = script
        self.calls: list[tuple[str, int]] = []

    def remote(self, file, out, stem, tables, attempt, max_orders):
        self.calls.append((stem, attempt))
        what = self.script[stem][attempt - 1]
        if what == "ok":
            return _Ref({"file": file, "stem": stem, "out": f"{out}/{stem}", "attempts": attempt,
                         "messages": 10, "seconds": 1.0})
        if what == "error":
            return _Ref({"file": file, "stem": stem, "attempts": attempt,
                         "error": "ValueError: bad block at offset 12"})
        if what == "malformed":
            return _Ref({"file": file, "stem": stem, "attempts": attempt, "input_error": True,
                         "error": "ItchError: malformed ITCH input at offset 7"})
        (Path(out) / f".{stem}.partial-999").mkdir()  # what a killed worker leaves
        return _Ref(what)


def test_driver_retries_exceptions_not_crashes_and_clears_what_a_crash_left(tmp_path):
    from ray.exceptions import WorkerCrashedError

    from tickpath.apps.research import _run

    files = {s: tmp_path / f"{s}.itch" for s in ("flaky", "crashes", "broken", "malformed")}
    task = _ScriptedTask({"flaky": ["error", "ok"], "crashes": [WorkerCrashedError()],
                          "broken": ["error", "error"], "malformed": ["malformed"]})
    retried, ended = [], []
    res, _ = _run(_FakeRay(), task, files, tmp_path, ("top",), 1, 1 << 10, 2,
                  ended.append, retried.append)
    assert res["flaky"].ok and res["flaky"].attempts == 2
    # a dead worker was Ray's to retry (max_retries): no second attempt from the driver
    assert res["crashes"].error.startswith("WorkerCrashedError")
    assert res["broken"].attempts == 2 and "offset 12" in res["broken"].error
    # a malformed file is not tried again: every attempt would fail the same way
    assert res["malformed"].attempts == 1 and res["malformed"].input_error
    assert sorted(task.calls) == [("broken", 1), ("broken", 2), ("crashes", 1), ("flaky", 1),
                                  ("flaky", 2), ("malformed", 1)]
    assert sorted(d.stem for d in retried) == ["broken", "flaky"]
    assert sorted(d.stem for d in ended) == ["broken", "crashes", "flaky", "malformed"]
    assert not list(tmp_path.glob(".*.partial-*"))
    assert res["crashes"].file == str(files["crashes"])
