"""What the order journal's append costs per fsync policy: a compiled loop appending Enter
Order records (build, CRC-32, ``write``, and ``fdatasync`` as the policy says), one clock read
around each append, in the same run as the record build alone (no system call) and a
plain-Python ``os.write`` (+ ``os.fdatasync``) baseline.

    PYTHONPATH=src .venv/bin/python bench/gateway_journal.py [--records 2000] [--runs 5]
        [--interval-ms 1] [--dir DIR]

``--dir`` chooses the file system (the default is the system's temporary directory; on tmpfs
``fdatasync`` costs nothing, so name a directory on the disk that will hold the journal).
Each row prints the median over ``--runs`` runs of the per-run median and p99 (ns/record).
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from numba import njit

from tickpath.gateway import journal as Jm
from tickpath.telemetry.nclock import realtime_ns


@njit(cache=True, nogil=True)
def _append_loop(j, n, gap_ns, out):
    """``n`` Enter Order records, ``gap_ns`` apart (spinning), each append timed."""
    t_next = realtime_ns()
    for i in range(n):
        while realtime_ns() < t_next:
            pass
        t0 = realtime_ns()
        s = Jm.journal_enter(j, i + 1, 3, 0x4141504C20202020, 66, 100, 1_900_000, 48, i, t0)
        out[i] = realtime_ns() - t0
        if s != 0:
            return s
        t_next = t0 + gap_ns
    return 0


@njit(cache=True, nogil=True)
def _build_loop(buf, n, out):
    """The record build and checksum (zlib's CRC-32) alone (what an append costs before the system call)."""
    for i in range(n):
        t0 = realtime_ns()
        Jm._begin(buf, 1, 0, t0, i + 1, 0)
        Jm._put(buf, 32, 3, 8)
        Jm._put(buf, 56, 100, 8)
        Jm._put(buf, 0, Jm.crc32(buf, 4, Jm.RECORD), 4)
        out[i] = realtime_ns() - t0
    return 0


def _python_loop(fd: int, n: int, sync: bool, out: np.ndarray) -> None:
    rec = bytes(Jm.RECORD)
    for i in range(n):
        t0 = time.perf_counter_ns()
        os.write(fd, rec)
        if sync:
            os.fdatasync(fd)
        out[i] = time.perf_counter_ns() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=2000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--interval-ms", type=float, default=1.0)
    ap.add_argument("--gap-us", type=float, default=20.0,
                    help="time between appends (an order every 20 us by default)")
    ap.add_argument("--dir", default=tempfile.gettempdir())
    args = ap.parse_args()
    n, gap = args.records, int(args.gap_us * 1000)
    out = np.zeros(n, np.int64)
    rows: dict[str, list[tuple[float, float]]] = {}

    def record(name: str) -> None:
        rows.setdefault(name, []).append((float(np.median(out)), float(np.percentile(out, 99))))

    with tempfile.TemporaryDirectory(dir=args.dir) as d:
        path = Path(d) / "bench.journal"
        with Jm.Journal(path, "never") as j:  # compile / load, before timing
            _append_loop(j.arrays, 2, 0, out)
        _build_loop(np.zeros(Jm.RECORD, np.uint8), 2, out)
        gc.collect()
        gc.freeze()
        gc.disable()
        for _ in range(args.runs):
            _build_loop(np.zeros(Jm.RECORD, np.uint8), n, out)
            record("build + CRC-32 only (no system call)")
            for policy in ("never", "interval", "always"):
                path.unlink(missing_ok=True)
                with Jm.Journal(path, policy, interval_ms=args.interval_ms) as j:
                    s = _append_loop(j.arrays, n, gap, out)
                    if s:
                        raise Jm.append_error(path, s)
                label = f"interval ({args.interval_ms:g} ms)" if policy == "interval" else policy
                record(f"compiled append, {label}")
            for sync in (False, True):
                path.unlink(missing_ok=True)
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
                _python_loop(fd, n, sync, out)
                os.close(fd)
                record(f"Python os.write{' + os.fdatasync' if sync else ''} (baseline)")
        gc.enable()
    print(f"order journal append, {n} records x {args.runs} runs, {Jm.RECORD}-byte records, "
          f"one every {args.gap_us:g} us, in {args.dir} ({time.strftime('%Y-%m-%d')})")
    print(f"{'':48s} {'median ns':>10s} {'p99 ns':>10s}")
    base = statistics.median(m for m, _ in rows["compiled append, never"])
    for name, got in rows.items():
        med = statistics.median(m for m, _ in got)
        p99 = statistics.median(p for _, p in got)
        print(f"{name:48s} {med:10.0f} {p99:10.0f}   x{med / base:.2f} of 'never'")
    print("rows differ in the system calls each append makes (none / write / write + "
          "fdatasync, per record or per interval); the Python rows pay the interpreter too.")


if __name__ == "__main__":
    main()
