"""`tickpath tune jitter`: the spinning loop and its report. Behaviour, never speed."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
from numba import njit
from numba.core.registry import CPUDispatcher

from tickpath.tune import jitter
from tickpath.tune.jitter import BUCKET_LABELS, JitterReport, measure, measure_cores

CORE = 0 if 0 in os.sched_getaffinity(0) else min(os.sched_getaffinity(0))


def _check_sane(r: JitterReport, threshold_ns: int) -> None:
    assert r.interruptions >= 0
    assert r.interruptions == r.recorded + r.overflow
    assert 0.0 <= r.share <= 1.0
    assert r.reads > 0 and r.seconds > 0
    assert sum(r.buckets.values()) == r.interruptions
    assert list(r.buckets) == list(BUCKET_LABELS)
    assert r.gap_ns.shape == (r.recorded,) and r.gap_at_ns.shape == (r.recorded,)
    if r.interruptions:
        assert r.worst_ns >= threshold_ns
        assert r.interrupted_ns >= r.worst_ns
    else:
        assert r.worst_ns == 0 and r.interrupted_ns == 0
    if r.recorded:
        assert np.all(r.gap_ns >= threshold_ns)
        assert np.all(np.diff(r.gap_at_ns) > 0)  # in time order, one after the other
        assert r.gap_at_ns[-1] <= r.seconds * 1e9
        assert r.percentiles_ns["max"] == int(r.gap_ns.max())
        assert r.percentiles_ns["p50"] <= r.percentiles_ns["p99"] <= r.percentiles_ns["p999"]
        assert r.worst_ns >= r.percentiles_ns["max"]
    else:
        assert r.percentiles_ns == {}


def test_short_run_on_core_0_is_sane():
    before = os.sched_getaffinity(0)
    r = measure(CORE, 0.2)
    assert os.sched_getaffinity(0) == before  # affinity restored
    assert r.core == CORE and r.threshold_ns == 1000
    assert 0.2 <= r.seconds < 1.0
    assert r.isolated == (CORE in jitter.isolated_cores())
    _check_sane(r, 1000)
    d = r.as_dict()
    json.dumps(d)
    assert "gap_ns" not in d and d["interruptions"] == r.interruptions
    assert len(r.as_dict(gaps=True)["gaps"]) == r.recorded


@pytest.mark.parametrize("clock", ["monotonic", "auto"])
def test_overflow_is_counted_when_the_arrays_fill(clock):
    r = measure(CORE, 0.02, threshold_ns=0, capacity=4, clock=clock)
    _check_sane(r, 0)
    assert r.recorded == 4 and r.capacity == 4
    assert r.overflow > 0
    assert r.interruptions == r.reads or r.interruptions > 1000  # nearly every read is a gap


def test_unpinned_and_several_cores():
    r = measure(None, 0.02)
    assert r.core is None and r.isolated is None
    _check_sane(r, 1000)
    reports = measure_cores([CORE, CORE], 0.02, threshold_ns=2000)
    assert [x.core for x in reports] == [CORE, CORE]
    for x in reports:
        _check_sane(x, 2000)
    table = jitter.jitter_table(reports)
    assert len(table.columns) == 3


def test_bad_arguments_are_refused_clearly():
    nope = max(os.cpu_count() or 1, *os.sched_getaffinity(0)) + 1000
    with pytest.raises(ValueError, match=f"core {nope} is not one this process may run on"):
        measure(nope, 0.01)
    with pytest.raises(ValueError, match="not one this process may run on"):
        measure(-1, 0.01)
    with pytest.raises(ValueError, match="not one this process may run on"):
        measure_cores([CORE, nope], 0.01)
    with pytest.raises(TypeError, match="core must be"):
        measure("0", 0.01)  # type: ignore[arg-type]
    for bad in (-1, 0, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="seconds must be a positive number"):
            measure(CORE, bad)
    with pytest.raises(ValueError, match="threshold_ns"):
        measure(CORE, 0.01, threshold_ns=-5)
    with pytest.raises(ValueError, match="capacity"):
        measure(CORE, 0.01, capacity=0)
    with pytest.raises(ValueError, match="clock must be"):
        measure(CORE, 0.01, clock="hpet")


def test_the_loop_is_compiled():
    measure(CORE, 0.01)
    assert isinstance(jitter._spin, CPUDispatcher) and jitter._spin.overloads  # machine code ran
    # a fresh, uncached compile of the same loop, to read its LLVM IR
    fresh = njit(nogil=True)(jitter._spin.py_func)
    use_tsc = jitter.TSC_SOURCE == "rdtsc"
    edges = np.array(jitter.BUCKET_EDGES_NS, np.int64)
    gaps = np.zeros(4, np.int64), np.zeros(4, np.int64)
    buckets, out = np.zeros(len(BUCKET_LABELS), np.int64), np.zeros(6, np.int64)
    fresh(use_tsc, np.int64(100_000), np.int64(0), edges, *gaps, buckets, out)
    assert out[5] > 0 and buckets.sum() == out[0] + out[1]
    ir = fresh.inspect_llvm(fresh.signatures[0])
    assert ("llvm.x86.rdtsc" in ir) == use_tsc
    assert "tickpath_clock_gettime" in ir
    assert "PyGILState_Ensure" not in ir and "PyObject_Call" not in ir  # no Python inside


def test_isolation_is_read_from_sysfs(tmp_path):
    (tmp_path / "isolated").write_text("1-2\n")
    assert jitter.isolated_cores(tmp_path) == {1, 2}
    assert jitter.nohz_full_cores(tmp_path) == set()  # file absent: none
    json.dumps(jitter.host_facts())


_NOJIT = """
import json
from tickpath.tune.jitter import measure
r = measure({core}, 0.002, threshold_ns=20_000, capacity=8)
print(json.dumps(r.as_dict()))
"""


def test_runs_as_plain_python_without_the_jit():
    env = dict(os.environ, NUMBA_DISABLE_JIT="1")
    proc = subprocess.run([sys.executable, "-c", _NOJIT.format(core=CORE)], env=env,
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr[-2000:]
    d = json.loads(proc.stdout)
    assert d["clock"] == "monotonic" and d["core"] == CORE
    assert d["reads"] > 0 and 0.0 <= d["share"] <= 1.0
    assert sum(d["buckets"].values()) == d["interruptions"] == d["recorded"] + d["overflow"]


def test_cli_jitter_table_json_and_refusals(tmp_path):
    from typer.testing import CliRunner

    from tickpath.tune.cli import app

    runner = CliRunner()
    out = tmp_path / "jitter.json"
    r = runner.invoke(app, ["jitter", "--seconds", "0.05", "--cores", f"{CORE},{CORE}",
                            "--threshold-ns", "2000", "--json", str(out)])
    assert r.exit_code == 0, r.output
    assert f"core {CORE}" in r.stdout and "share of time" in r.stdout
    doc = json.loads(out.read_text())
    assert [x["core"] for x in doc["runs"]] == [CORE]  # a CPU list names each core once
    assert doc["runs"][0]["threshold_ns"] == 2000 and "isolated" in doc["host"]
    r = runner.invoke(app, ["jitter", "--seconds", "0.02", "--cores", str(CORE), "--json"])
    assert r.exit_code == 0 and json.loads(r.stdout)["runs"][0]["core"] == CORE
    for args, hint in ((["--cores", "99999"], "--cores"), (["--seconds", "-1"], "--seconds"),
                       (["--threshold-ns", "-3"], "--threshold-ns"), (["--cores", "x"], "--cores"),
                       (["--clock", "hpet"], "--clock")):
        r = runner.invoke(app, ["jitter", *args])
        assert r.exit_code == 2 and hint in r.output and "spinning" not in r.output, args
