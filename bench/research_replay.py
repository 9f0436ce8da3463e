"""Many days on Ray (`tickpath research replay`) against the plain sequential loop of
single-process replays, in the same run.

    .venv/bin/python bench/research_replay.py [--days 8] [--messages 1000000] [--symbols 1000]
                                              [--runs 3] [--workers 1,2]

The simulator writes ``--days`` files of ``--messages`` each (different seeds; kept under
out/bench/ and reused while their parameters match). Each run replays all of them with
``--parquet`` semantics (the default tables, top and trades) three ways, in rotation so a slow
spell of this shared machine hits every row alike: the sequential loop in this process
(``for f in files: replay(f, parquet=...)``, compiled code already warm: what a Python user
writes), and :func:`tickpath.apps.research.replay_days` with each ``--workers`` count, a fresh
local Ray every time (its start-up, the workers' imports and loading numba's cache all count,
as they do for a user). The table gives medians of the wall time over ``--runs``, the
throughput over all days, the ratio to the sequential loop, and for Ray its start-up and the
task phase alone. Prints the machine's load before and after; writes
out/bench/research_replay-<messages>.json.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import shutil
import statistics
import sys
import time
from pathlib import Path

from tickpath.apps.replay import replay
from tickpath.apps.research import MAX_ORDERS, day_stem, replay_days
from tickpath.venue import Simulator

OUT = Path(__file__).resolve().parent.parent / "out" / "bench"


def load() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def day_files(days: int, messages: int, symbols: int) -> list[Path]:
    """``days`` simulated files, seeds 1001, 1002, ... (written once, then reused)."""
    OUT.mkdir(parents=True, exist_ok=True)
    files = []
    for seed in range(1001, 1001 + days):
        path = OUT / f"research-{messages}-{symbols}-{seed}.itch"
        if not path.exists():
            t0 = time.perf_counter()
            tmp = path.with_suffix(".part")
            Simulator(symbols=symbols, messages=messages, seed=seed).write(tmp)
            tmp.rename(path)
            print(f"simulator wrote {messages:,} messages to {path} in "
                  f"{time.perf_counter() - t0:.1f} s", file=sys.stderr)
        files.append(path)
    return files


def sequential(files: list[Path], out: Path) -> dict:
    """The baseline: one replay after another in this process."""
    t0 = time.perf_counter()
    rates = []
    for f in files:
        _, rep = replay(f, max_orders=MAX_ORDERS, parquet=out / day_stem(f))
        rates.append(rep.msgs_per_s)
    return {"wall": time.perf_counter() - t0, "day_rate": statistics.median(rates)}


def on_ray(files: list[Path], out: Path, workers: int) -> dict:
    """``tickpath research replay FILES --out OUT --workers N``, from ``ray.init`` to
    ``ray.shutdown``."""
    t0 = time.perf_counter()
    rep = replay_days(files, out, workers=workers)
    wall = time.perf_counter() - t0
    if rep.failed:
        raise RuntimeError(f"{[d.file for d in rep.failed]} failed: {rep.failed[0].error}")
    return {"wall": wall, "ray_start": rep.ray_start_seconds, "tasks": rep.seconds,
            "day_rate": statistics.median(d.msgs_per_s for d in rep.days)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--days", type=int, default=8)
    ap.add_argument("--messages", type=int, default=1_000_000)
    ap.add_argument("--symbols", type=int, default=1000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--workers", default="1,2", help="comma-separated worker counts")
    args = ap.parse_args()
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")
    counts = [int(x) for x in args.workers.split(",")]
    before = load()
    print(before, file=sys.stderr)
    files = day_files(args.days, args.messages, args.symbols)
    work = OUT / "research-out"
    shutil.rmtree(work, ignore_errors=True)
    # compile (or load numba's cache) in this process, and warm the page cache, off the clock
    replay(files[0], max_orders=MAX_ORDERS, parquet=work / "warm")
    for f in files:
        f.read_bytes()
    configs: dict[str, object] = {"sequential loop (1 process)": None}
    configs.update({f"Ray, --workers {n}": n for n in counts})
    samples: dict[str, list[dict]] = {name: [] for name in configs}
    names = list(configs)
    for run in range(args.runs):
        for name in names[run % len(names):] + names[:run % len(names)]:  # rotation
            shutil.rmtree(work, ignore_errors=True)
            gc.collect()
            n = configs[name]
            s = sequential(files, work) if n is None else on_ray(files, work, n)
            samples[name].append(s)
            print(f"run {run + 1}: {name}: {s['wall']:.2f} s", file=sys.stderr)
    shutil.rmtree(work, ignore_errors=True)
    after = load()
    total = args.days * args.messages

    def med(name: str, key: str) -> float | None:
        vals = [s[key] for s in samples[name] if key in s]
        return statistics.median(vals) if vals else None

    base = med(names[0], "wall")
    rows = []
    for name in names:
        wall = med(name, "wall")
        tasks = med(name, "tasks")
        rows.append({"row": name, "wall_s": wall, "msgs_per_s": total / wall,
                     "speedup": base / wall, "ray_start_s": med(name, "ray_start"),
                     "tasks_s": tasks, "tasks_speedup": base / tasks if tasks else None,
                     "day_msgs_per_s": med(name, "day_rate"),
                     "walls": [s["wall"] for s in samples[name]]})
    print(f"\n{args.days} days x {args.messages:,} messages ({args.symbols} instruments), "
          f"--parquet top,trades, median of {args.runs}; {os.cpu_count()} CPUs")
    print(f"{'':30} {'wall s':>7} {'M msg/s':>8} {'x seq':>6} {'Ray start s':>11} "
          f"{'tasks s':>8} {'x seq (tasks)':>13} {'M msg/s a day':>13}")
    for r in rows:
        opt = (f"{r['ray_start_s']:>11.2f} {r['tasks_s']:>8.2f} {r['tasks_speedup']:>13.2f}"
               if r["tasks_s"] else f"{'-':>11} {'-':>8} {'-':>13}")
        print(f"{r['row']:30} {r['wall_s']:>7.2f} {r['msgs_per_s'] / 1e6:>8.2f} "
              f"{r['speedup']:>6.2f} {opt} {r['day_msgs_per_s'] / 1e6:>13.2f}")
    print(f"before: {before}; after: {after}")
    import ray

    doc = {"days": args.days, "messages": args.messages, "symbols": args.symbols,
           "runs": args.runs, "rows": rows, "load_before": before, "load_after": after,
           "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
           "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, Python "
                      f"{platform.python_version()}, ray {ray.__version__}"}
    path = OUT / f"research_replay-{args.messages}.json"
    path.write_text(json.dumps(doc, indent=2) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
