"""Clock reads from compiled code (tickpath.telemetry.nclock): behaviour, never speed."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time

import numpy as np
import pytest
from numba import njit

from tickpath.telemetry import nclock


@njit(nogil=True)
def _monotonic_series(out):
    for i in range(out.shape[0]):
        out[i] = nclock.monotonic_ns()


@njit(nogil=True)
def _tsc_series(out):
    for i in range(out.shape[0]):
        out[i] = nclock.rdtscp()


@njit(nogil=True)
def _all_reads():
    return (nclock.realtime_ns(), nclock.monotonic_ns(), nclock.rdtsc(),
            nclock.rdtsc_fenced(), nclock.rdtscp())


def test_monotonic_never_goes_backwards_in_a_compiled_loop():
    out = np.zeros(100_000, np.int64)
    _monotonic_series(out)
    assert out[0] > 0
    assert np.all(np.diff(out) >= 0)
    assert out[-1] > out[0]


def test_realtime_matches_python_clock():
    before = time.time_ns()
    inside = _all_reads()[0]
    direct = nclock.realtime_ns()
    after = time.time_ns()
    slack = 5_000_000  # a few ms: a VM stall may fall between the reads
    assert before - slack <= inside <= after + slack
    assert before - slack <= direct <= after + slack


def test_monotonic_matches_python_clock():
    before = time.monotonic_ns()
    mono = nclock.monotonic_ns()
    after = time.monotonic_ns()
    assert before <= mono <= after


def test_every_read_is_an_int64_from_compiled_code():
    reads = _all_reads()
    assert all(isinstance(r, int) and r > 0 for r in reads)


@pytest.mark.skipif(nclock.TSC_SOURCE != "rdtsc", reason="no x86 TSC here")
def test_tsc_advances_and_its_rate_is_plausible():
    pinned = os.sched_getaffinity(0)
    os.sched_setaffinity(0, {min(pinned)})  # one core: no cross-core TSC comparisons
    try:
        out = np.zeros(10_000, np.int64)
        _tsc_series(out)
    finally:
        os.sched_setaffinity(0, pinned)
    assert np.all(np.diff(out) > 0)
    hz = nclock.tsc_hz()
    assert 1e8 < hz < 1e11
    assert nclock.tsc_hz() == hz  # calibrated once per process


def test_cpu_flags_and_invariance(tmp_path):
    info = tmp_path / "cpuinfo"
    info.write_text("processor\t: 0\nflags\t\t: fpu tsc constant_tsc nonstop_tsc rdtscp\n")
    assert {"tsc", "constant_tsc", "nonstop_tsc"} <= nclock.cpu_flags(info)
    assert nclock.cpu_flags(tmp_path / "absent") == frozenset()
    assert isinstance(nclock.tsc_invariant(), bool)
    assert nclock.tsc_info()["source"] == nclock.TSC_SOURCE


_NOJIT = """
import json, time
from tickpath.telemetry import nclock as c
t = time.time_ns()
print(json.dumps({"source": c.TSC_SOURCE, "hz": c.tsc_hz(), "rt": c.realtime_ns() - t,
                  "mono": [c.monotonic_ns(), c.monotonic_ns()],
                  "tsc": [c.rdtsc(), c.rdtsc_fenced(), c.rdtscp()]}))
"""


def test_reads_work_as_plain_python_without_the_jit():
    env = dict(os.environ, NUMBA_DISABLE_JIT="1")
    proc = subprocess.run([sys.executable, "-c", _NOJIT], env=env, capture_output=True,
                          text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr[-2000:]
    r = json.loads(proc.stdout)
    assert r["source"] == "perf_counter_ns" and r["hz"] == 1e9
    assert 0 <= r["rt"] < 5_000_000
    assert r["mono"][0] <= r["mono"][1]
    assert r["tsc"] == sorted(r["tsc"])
