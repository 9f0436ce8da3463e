"""Throwing a pipeline's kill switch from outside: finding running pipelines by their counters
(none, one, several, by name or pid), ``tickpath kill`` on a running pipeline and with none
of that name, SIGUSR1 to the owner, and the configured kill file; the risk counters then
show the refusals. The new [risk] keys and their errors."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from tickpath.engine.config import ConfigError, from_dict, load
from tickpath.engine.counters import Control, Counters
from tickpath.engine.pipeline import run_pipeline
from tickpath.engine.running import (
    AmbiguousPipeline,
    PipelineNotFound,
    find_pipeline,
    running_pipelines,
    throw_kill,
)
from tickpath.gateway.journal import Kind, read_records
from tickpath.risk import KillReason, kill, kill_note, kill_reason, limits_from
from tickpath.risk.layout import Limit

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "pipeline.toml"


def _dead_pid() -> int:
    p = subprocess.Popen([sys.executable, "-c", "pass"])
    p.wait()
    return p.pid


def _make(directory: Path, name: str, pid: int) -> Counters:
    return Counters.create(f"tp-{name}-{pid}-{uuid.uuid4().hex[:6]}-counters",
                           directory=directory)


def test_finding_running_pipelines_by_their_counters(tmp_path):
    with pytest.raises(PipelineNotFound, match="no pipeline is running"):
        find_pipeline(None, tmp_path)
    dead = _make(tmp_path, "gone", _dead_pid())  # its owner died: not running
    (tmp_path / "tp-x-md").write_bytes(b"")  # not a counters file
    assert running_pipelines(tmp_path) == []
    a = _make(tmp_path, "alpha-2", os.getpid())  # names may hold dashes and digits
    found = find_pipeline(None, tmp_path)  # one running: no name needed
    assert (found.name, found.pid, found.counters) == ("alpha-2", os.getpid(), a.name)
    b = _make(tmp_path, "beta", os.getppid())
    with pytest.raises(AmbiguousPipeline, match="2 pipelines are running.*alpha-2.*beta"):
        find_pipeline(None, tmp_path)
    assert find_pipeline("beta", tmp_path).counters == b.name
    assert find_pipeline(str(os.getppid()), tmp_path).counters == b.name
    assert find_pipeline(a.name, tmp_path).name == "alpha-2"
    with pytest.raises(PipelineNotFound, match="no running pipeline is named 'gamma'"):
        find_pipeline("gamma", tmp_path)
    a2 = _make(tmp_path, "alpha-2", os.getpid())
    with pytest.raises(AmbiguousPipeline, match="2 running pipelines match 'alpha-2'"):
        find_pipeline("alpha-2", tmp_path)
    # thrown by name and file, with a note; a second throw keeps the first; reset
    res = throw_kill(a2.name, note="halt", directory=tmp_path)
    assert res.changed and res.reason == KillReason.MANUAL and res.note == "halt"
    ctl = a2.section("control")
    assert ctl[Control.KILL] == KillReason.MANUAL and kill_note(ctl) == "halt"
    assert a.section("control")[Control.KILL] == 0
    assert not throw_kill(a2.name, note="again", directory=tmp_path).changed
    assert kill_note(ctl) == "halt"
    assert throw_kill(a2.name, reset=True, directory=tmp_path).changed
    assert ctl[Control.KILL] == 0
    for c in (dead, a, b, a2):
        c.close()


def test_risk_config_keys_defaults_and_errors(tmp_path):
    cfg = from_dict({})
    r = cfg["risk"]
    assert (r["max_open_notional"], r["max_total_open_notional"], r["max_loss"],
            r["duplicate_window_us"], r["reject_storm"], r["reject_storm_window_ms"],
            r["kill_file"]) == (1e7, 5e7, 1e6, 1000, 50, 1000, "")
    lim = limits_from(r)
    assert lim[Limit.MAX_LOSS] == 10**10 and lim[Limit.STORM_WINDOW_NS] == 10**9
    assert lim[Limit.DUPLICATE_WINDOW_NS] == 10**6 and lim[Limit.STORM_REJECTS] == 50
    for bad, words in [({"reject_storm": 0}, "risk.reject_storm = 0: must be 1..4096"),
                       ({"reject_storm": 5000}, "risk.reject_storm = 5000"),
                       ({"reject_storm_window_ms": 0}, "reject_storm_window_ms = 0: must be > 0"),
                       ({"max_loss": -1.0}, "risk.max_loss = -1.0: must be >= 0"),
                       ({"duplicate_window_us": -1}, "duplicate_window_us = -1"),
                       ({"kill_file": str(tmp_path)}, "is a directory"),
                       ({"kill_file": str(tmp_path / "no" / "KILL")}, "does not exist"),
                       ({"kill_file": 3}, "risk.kill_file: expected str")]:
        with pytest.raises(ConfigError, match=words.replace("(", r"\(").replace(".", r"\.")):
            from_dict({"risk": bad})
    assert from_dict({"risk": {"kill_file": str(tmp_path / "KILL")}})


def test_tickpath_kill_with_no_such_pipeline_running_says_so():
    proc = subprocess.run([sys.executable, "-m", "tickpath.cli", "kill",
                           f"none-{uuid.uuid4().hex[:8]}"], capture_output=True, text=True,
                          timeout=60)
    assert proc.returncode == 1
    assert "no running pipeline is named" in proc.stderr


def _small(tmp_path: Path) -> dict:
    d = load(EXAMPLE).as_dict()
    d["pipeline"].update(name=f"k{uuid.uuid4().hex[:6]}", duration_s=60.0)
    # a venue that keeps publishing until the test is done with it
    d["simulator"].update(messages=2_000_000, rate=10_000.0, symbols=20)
    d["stages"] = {"venue": {"core": -1, "idle": "backoff"},
                   "feed": {"core": -1, "idle": "busy_spin"},
                   "strategy": {"core": -1, "idle": "backoff"}}
    del d["stages.venue"], d["stages.feed"], d["stages.strategy"]
    d["risk"]["kill_file"] = str(tmp_path / "KILL")
    d["gateway"].update(journal=str(tmp_path / "orders.journal"), fsync="never")
    return d


def _new_orders_since(tmp_path: Path, t_ns: int) -> int:
    """Enter and Replace messages sent after ``t_ns``, from the order journal (written before
    each send): a kill may still pull quotes (Cancels, Mass Cancel), never place one."""
    recs = read_records(tmp_path / "orders.journal")
    new = recs[(recs["kind"] == Kind.ENTER) | (recs["kind"] == Kind.REPLACE)]
    return int((new["now_ns"] > t_ns).sum())


def test_kill_cli_sigusr1_and_kill_file_each_throw_a_running_pipeline_s_switch(tmp_path):
    """One run, in turn: `tickpath kill NAME` (reason manual, with its note) -> no new
    order leaves (the stage sends a Mass Cancel, the maker pulls its quotes, risk refuses
    what was past it) -> `tickpath kill NAME --reset` -> orders flow again -> SIGUSR1 to the
    owner (reason signal) -> reset -> the kill file appears (reason file)."""
    cfg = from_dict(_small(tmp_path))
    name = cfg["pipeline"]["name"]
    seen: dict[str, object] = {"phase": 0}

    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "tickpath.cli", "kill", name, *args],
                              capture_output=True, text=True, timeout=60)

    def tick(p) -> None:
        seen["ticks"] = seen.get("ticks", 0) + 1
        c = p.counters.snapshot()
        ctl = p.counters.section("control")
        orders = c["strategy"]["orders"]
        ph = seen["phase"]
        if ph == 0 and orders >= 5:
            seen["cli"] = cli("--reason", "test halt")
            seen["by_cli"] = (kill_reason(ctl), kill_note(ctl))
            seen["killed_ns"] = time.clock_gettime_ns(time.CLOCK_REALTIME)  # on by now
            seen["killed_at_tick"] = seen["ticks"]
            seen["phase"] = 1
        elif ph == 1 and seen["ticks"] >= seen["killed_at_tick"] + 6:
            seen["orders_while_killed"] = _new_orders_since(tmp_path, seen["killed_ns"])
            seen["reset"] = cli("--reset")
            seen["after_reset"] = kill_reason(ctl)
            seen["phase"], seen["orders_at_reset"] = 2, orders
        elif ph == 2 and orders > seen["orders_at_reset"] + 5:
            os.kill(os.getpid(), signal.SIGUSR1)  # handled: the switch, not the process
            seen["phase"] = 3
        elif ph == 3 and kill_reason(ctl) is not None:
            seen["by_signal"] = kill_reason(ctl)
            kill(ctl, on=False)
            (tmp_path / "KILL").write_text("")
            seen["phase"] = 4
        elif ph == 4 and kill_reason(ctl) is not None:
            seen["by_file"] = kill_reason(ctl)
            seen["phase"] = 5
            os.kill(os.getpid(), signal.SIGTERM)  # stops the run cleanly

    rep = run_pipeline(cfg, on_tick=tick, tick_s=0.05, status=lambda m: None)
    assert rep.ok, rep.errors
    assert seen["phase"] == 5 and rep.stopped_by == "signal", (seen, rep.stopped_by)
    assert seen["cli"].returncode == 0, seen["cli"].stderr
    assert f"kill switch of {name}" in seen["cli"].stdout and "thrown" in seen["cli"].stdout
    assert seen["by_cli"] == (KillReason.MANUAL, "test halt")
    # an order decided after the switch was on is refused: none leaves
    assert seen["orders_while_killed"] == 0
    assert seen["reset"].returncode == 0 and "reset" in seen["reset"].stdout
    assert seen["after_reset"] is None
    assert seen["by_signal"] == KillReason.SIGNAL and seen["by_file"] == KillReason.FILE
    assert rep.killed == "file" and rep.meta()["killed"] == "file"
    assert rep.counters["control"]["kill"] == KillReason.FILE
    said = " | ".join(rep.notes)
    for text in ("kill switch thrown (manual: test halt)", "kill switch reset",
                 "kill switch thrown (signal)", "kill switch thrown (file: file KILL)"):
        assert text in said, said
    assert signal.getsignal(signal.SIGUSR1) == signal.SIG_DFL  # given back


def test_a_kill_file_there_at_start_lets_no_order_out(tmp_path):
    d = _small(tmp_path)
    d["simulator"].update(messages=5_000, rate=0.0)
    (tmp_path / "KILL").write_text("")
    rep = run_pipeline(from_dict(d), tick_s=0.05, status=lambda m: None)
    assert rep.ok and rep.stopped_by == "end of session", (rep.errors, rep.stopped_by)
    c = rep.counters
    assert c["strategy"]["orders"] == 0 and c["venue"]["orders_in"] <= 1  # a Mass Cancel
    assert _new_orders_since(tmp_path, 0) == 0
    assert c["risk"]["passed"] == 0 and rep.killed == "file"
