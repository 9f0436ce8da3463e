"""Cost of one clock read: compiled reads from tickpath.telemetry.nclock beside Python's own.

    .venv/bin/python bench/clock_read.py [--reads 2000000] [--python-reads 200000] [--runs 7]
                                         [--core 0] [--json OUT]

Each compiled read runs in a jitted loop of ``--reads`` reads (their values summed, so no
read can be dropped); the cost per read is the loop's time divided by the reads, the median of
``--runs`` runs (min and max beside it). Baseline, in the same run: ``time.clock_gettime_ns(CLOCK_REALTIME)`` from
a Python loop; the ratio column is the baseline's cost over each read's. Also shown: libc
``clock_gettime`` through ctypes called from Python, and called from numba the way numba calls
ctypes functions (which works, but stops numba caching the caller: "dynamic globals").
The garbage collector is off while timing. Reads from Python include the loop's own overhead.
"""

from __future__ import annotations

import argparse
import ctypes
import gc
import json
import os
import platform
import statistics
import sys
import time
import warnings
from pathlib import Path

import numpy as np
from numba import njit
from numba.core.errors import NumbaWarning

from tickpath.telemetry import nclock

_libc = ctypes.CDLL(None)
_cg = _libc.clock_gettime
_cg.argtypes = [ctypes.c_int, ctypes.c_void_p]
_cg.restype = ctypes.c_int


def _compiled_loop(read):
    @njit(nogil=True)
    def loop(n):
        s = 0
        for _ in range(n):
            s += read()
        return s

    return loop


@njit(nogil=True)
def loop_ctypes_numba(n, ts):
    s = 0
    for _ in range(n):
        _cg(0, ts.ctypes)
        s += ts[0] * 1_000_000_000 + ts[1]
    return s


def loop_python(n):
    read, clk = time.clock_gettime_ns, time.CLOCK_REALTIME
    s = 0
    for _ in range(n):
        s += read(clk)
    return s


def loop_python_ctypes(n):
    ts = (ctypes.c_int64 * 2)()
    ref = ctypes.byref(ts)
    s = 0
    for _ in range(n):
        _cg(0, ref)
        s += ts[0] * 1_000_000_000 + ts[1]
    return s


def per_read_ns(fn, n: int, runs: int) -> list[float]:
    fn(min(n, 1000))  # compile / warm
    out = []
    for _ in range(runs):
        t0 = time.perf_counter_ns()
        fn(n)
        out.append((time.perf_counter_ns() - t0) / n)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reads", type=int, default=2_000_000, help="reads per compiled run")
    ap.add_argument("--python-reads", type=int, default=200_000, help="reads per Python run")
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--core", type=int, default=None, help="pin to this core")
    ap.add_argument("--json", type=Path, default=None, help="write the results here")
    args = ap.parse_args()

    if args.core is not None:
        os.sched_setaffinity(0, {args.core})
    ts = np.zeros(2, np.int64)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", NumbaWarning)  # "cannot cache ... dynamic globals"
        loop_ctypes_numba(10, ts)
    cases = [
        # (name, how, unit, fn, reads)
        ("realtime_ns()", "numba, clock_gettime symbol", "ns",
         _compiled_loop(nclock.realtime_ns), args.reads),
        ("monotonic_ns()", "numba, clock_gettime symbol", "ns",
         _compiled_loop(nclock.monotonic_ns), args.reads),
        ("rdtsc()", f"numba, {nclock.TSC_SOURCE}", "ticks",
         _compiled_loop(nclock.rdtsc), args.reads),
        ("rdtsc_fenced()", f"numba, lfence+{nclock.TSC_SOURCE}", "ticks",
         _compiled_loop(nclock.rdtsc_fenced), args.reads),
        ("rdtscp()", "numba, rdtscp", "ticks", _compiled_loop(nclock.rdtscp), args.reads),
        ("clock_gettime via ctypes object", "numba (not cacheable)", "ns",
         lambda n: loop_ctypes_numba(n, ts), args.reads),
        ("time.clock_gettime_ns", "Python (baseline)", "ns", loop_python, args.python_reads),
        ("clock_gettime via ctypes", "Python", "ns", loop_python_ctypes, args.python_reads),
    ]
    hz = nclock.tsc_hz()
    gc.collect()
    gc.disable()
    results = []
    for name, how, unit, fn, n in cases:
        xs = per_read_ns(fn, n, args.runs)
        results.append({"read": name, "how": how, "unit": unit, "reads_per_run": n,
                        "runs": args.runs, "median_ns": statistics.median(xs),
                        "min_ns": min(xs), "max_ns": max(xs)})
    gc.enable()
    base = next(r["median_ns"] for r in results if r["read"] == "time.clock_gettime_ns")

    try:
        clocksource = Path("/sys/devices/system/clocksource/clocksource0/current_clocksource") \
            .read_text().strip()
    except OSError:
        clocksource = None
    host = {"machine": platform.machine(), "python": platform.python_version(),
            "cpus": os.cpu_count(), "core": args.core, "clocksource": clocksource,
            "tsc_source": nclock.TSC_SOURCE, "tsc_invariant": nclock.tsc_invariant(),
            "tsc_hz": hz}
    print(f"clock reads: {platform.machine()}, clocksource {clocksource}, TSC "
          f"{hz / 1e9:.4f} GHz ({nclock.TSC_SOURCE}, "
          f"{'invariant' if nclock.tsc_invariant() else 'NOT invariant'}), "
          f"median of {args.runs} runs")
    print(f"{'read':34} {'how':32} {'ns/read':>8} {'min':>7} {'max':>7} {'vs baseline':>11}")
    for r in results:
        ratio = base / r["median_ns"] if r["median_ns"] > 0 else float("inf")
        r["speedup_vs_baseline"] = ratio
        print(f"{r['read']:34} {r['how']:32} {r['median_ns']:8.1f} {r['min_ns']:7.1f} "
              f"{r['max_ns']:7.1f} {ratio:10.2f}x")
    if args.json is not None:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({"host": host, "results": results}, indent=2))
        print(f"wrote {args.json}", file=sys.stderr)


if __name__ == "__main__":
    main()
