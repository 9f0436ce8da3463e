"""Replay speed with `--parquet` against the same replay without it, in the same run.

    .venv/bin/python bench/replay_parquet.py [--messages 5000000] [--symbols 2000] [--runs 5]
                                             [--only none,default,...]

The same simulated file (out/bench/, shared with bench/replay_itch.py) is replayed from disk
through `tickpath.apps.replay.replay`, without Parquet and with each set of tables, in
rotation (so a slow spell of this shared machine hits every row alike), `--runs` times each;
the table gives the median throughput and its ratio to the median without Parquet. Two
further rows split the cost: the books writing rows into arrays that are dropped at once
(the compiled capture alone), and the Parquet writer alone on those rows (one thread, no
replay). Prints the machine's load before and after, and writes out/bench/replay_parquet.json.
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
import tempfile
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from replay_itch import OUT, sim_file  # noqa: E402  (the same file as bench/replay_itch.py)
from tickpath.apps.replay import replay  # noqa: E402
from tickpath.book import BookStore  # noqa: E402
from tickpath.book.row_buffers import RowBuffers  # noqa: E402
from tickpath.feed.itch import ItchHandler  # noqa: E402

CONFIGS: dict[str, tuple[str, ...] | None] = {
    "no parquet": None,  # the baseline: always measured
    "top,trades (default)": ("top", "trades"),
    "trades": ("trades",),
    "top": ("top",),
    "events": ("events",),
    "events,top,trades (all)": ("events", "top", "trades"),
}

#: --only's names for the rows above
SHORT = dict(zip(("none", "default", "trades", "top", "events", "all"), CONFIGS, strict=True))


def load() -> str:
    return "load average " + " ".join(f"{x:.2f}" for x in os.getloadavg())


def timed_replay(path: Path, tables: tuple[str, ...] | None, out: Path) -> tuple[float, dict]:
    """Messages/s of one replay from the file (compile excluded: warmed up before), and the
    CPU the replay thread and the writer thread used, per message."""
    shutil.rmtree(out, ignore_errors=True)
    gc.collect()
    gc.disable()
    try:
        t0 = time.perf_counter()
        c0 = time.thread_time()
        if tables is None:
            _, rep = replay(path, max_orders=1 << 22)
        else:
            _, rep = replay(path, max_orders=1 << 22, parquet=out, parquet_tables=tables)
        cpu = time.thread_time() - c0
        wall = time.perf_counter() - t0
        rate = rep.messages / wall
    finally:
        gc.enable()
    size = {p.name: p.stat().st_size for p in out.iterdir()} if out.exists() else {}
    shutil.rmtree(out, ignore_errors=True)
    return rate, {"rows": rep.parquet_rows, "bytes": size,
                  "replay_cpu_ns_per_msg": cpu / rep.messages * 1e9,
                  "writer_cpu_ns_per_msg": rep.parquet_writer_cpu_s / rep.messages * 1e9,
                  # the replay thread's wall time beyond its CPU: waiting for a spare row
                  # array, and the rest (off the CPU: the other threads and processes)
                  "wall_ns_per_msg": wall / rep.messages * 1e9,
                  "array_wait_ns_per_msg": rep.parquet_wait_s / rep.messages * 1e9}


def capture_only(path: Path, tables: tuple[str, ...]) -> float:
    """Messages/s of the books writing rows whose arrays are handed back at once (no
    Parquet): what the compiled capture costs the replay thread by itself."""
    buf = np.fromfile(path, np.uint8)
    handler = ItchHandler(BookStore(max_orders=1 << 22))
    rows = RowBuffers(tables, lambda name, r, done: done())
    handler.rows = rows
    gc.collect()
    gc.disable()
    try:
        t0 = time.perf_counter()
        handler.on_blocks(buf, 0, buf.shape[0])
        rows.flush()
        return handler.messages / (time.perf_counter() - t0)
    finally:
        gc.enable()


def books_only(path: Path) -> float:
    buf = np.fromfile(path, np.uint8)
    handler = ItchHandler(BookStore(max_orders=1 << 22))
    gc.collect()
    gc.disable()
    try:
        t0 = time.perf_counter()
        handler.on_blocks(buf, 0, buf.shape[0])
        return handler.messages / (time.perf_counter() - t0)
    finally:
        gc.enable()


def writer_only(path: Path, tables: tuple[str, ...], out: Path) -> dict[str, float]:
    """Rows/s of the Parquet writer by itself, per table, on rows captured beforehand."""
    from tickpath.parquet import ParquetDay

    got: dict[str, list[np.ndarray]] = {t: [] for t in tables}
    handler = ItchHandler(BookStore(max_orders=1 << 22))
    rows = RowBuffers(tables, lambda name, r, done: (got[name].append(r.copy()), done()))
    handler.rows = rows
    buf = np.fromfile(path, np.uint8)
    handler.on_blocks(buf, 0, buf.shape[0])
    rows.flush()
    rates = {}
    for t in tables:
        shutil.rmtree(out, ignore_errors=True)
        day = ParquetDay(out, (t,))
        n = sum(len(r) for r in got[t])
        t0 = time.perf_counter()
        for r in got[t]:
            day.sink(t, r, lambda: None)
        day._stop()  # wait for the writer thread: its time only
        rates[t] = n / (time.perf_counter() - t0)
        day.abort()
    return rates


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--messages", type=int, default=5_000_000)
    ap.add_argument("--symbols", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--only", default="",
                    help="the table sets to measure beside no parquet, comma-separated, of "
                         + ", ".join(SHORT) + " (default: all)")
    args = ap.parse_args()
    if args.only:
        wanted = {w.strip() for w in args.only.split(",") if w.strip()}
        if wanted - set(SHORT):
            raise SystemExit(f"--only: unknown {sorted(wanted - set(SHORT))}; "
                             f"known: {', '.join(SHORT)}")
        for short, name in SHORT.items():
            if short not in wanted and name != "no parquet":
                del CONFIGS[name]

    path = sim_file(args.messages, args.symbols, args.seed)
    tmp = Path(tempfile.mkdtemp(prefix="replay-parquet-"))
    out = tmp / "day"
    load_before = load()
    print(f"{path} ({path.stat().st_size / 1e6:.0f} MB); {load_before}", file=sys.stderr)

    small = tmp / "warm.itch"  # compile outside the timed runs
    from tickpath import Simulator

    Simulator(symbols=10, messages=5000, seed=1).write(small)
    for tables in CONFIGS.values():
        timed_replay(small, tables, out)

    rates: dict[str, list[float]] = {name: [] for name in CONFIGS}
    facts: dict[str, dict] = {}
    cpu: dict[str, list[tuple[float, float]]] = {name: [] for name in CONFIGS}
    split: dict[str, list[float]] = {"books only (memory)": [],
                                     "books + capture, rows dropped (memory)": [],
                                     "books + capture of all three, dropped (memory)": []}
    for i in range(args.runs):
        for name, tables in CONFIGS.items():
            r, f = timed_replay(path, tables, out)
            rates[name].append(r)
            facts[name] = f
            cpu[name].append((f["replay_cpu_ns_per_msg"], f["writer_cpu_ns_per_msg"],
                              f["wall_ns_per_msg"], f["array_wait_ns_per_msg"]))
        split["books only (memory)"].append(books_only(path))
        split["books + capture, rows dropped (memory)"].append(
            capture_only(path, ("top", "trades")))
        split["books + capture of all three, dropped (memory)"].append(
            capture_only(path, ("events", "top", "trades")))
        print(f"run {i + 1}: " + ", ".join(f"{k} {v[-1] / 1e6:.2f}" for k, v in rates.items())
              + f" M msg/s; {load()}", file=sys.stderr)
    writer = writer_only(path, ("events", "top", "trades"), out)
    load_after = load()
    shutil.rmtree(tmp, ignore_errors=True)

    med = statistics.median
    base = med(rates["no parquet"])
    base_mem = med(split["books only (memory)"])
    result = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{platform.node()} {platform.machine()} {os.cpu_count()} cpus",
        "load_before": load_before, "load_after": load_after,
        "file": {"path": str(path), "messages": args.messages, "symbols": args.symbols},
        "runs": args.runs,
        "replay_msgs_per_s": {k: med(v) for k, v in rates.items()},
        "ratio_to_no_parquet": {k: med(v) / base for k, v in rates.items()},
        "cpu_ns_per_msg": {k: {"replay_thread": med([x[0] for x in v]),
                               "writer_thread": med([x[1] for x in v]),
                               "replay_wall": med([x[2] for x in v]),
                               "replay_waiting_for_arrays": med([x[3] for x in v])}
                           for k, v in cpu.items()},
        "split_msgs_per_s": {k: med(v) for k, v in split.items()},
        "split_ratio": {k: med(v) / base_mem for k, v in split.items()},
        "writer_rows_per_s": writer,
        "tables": facts,
    }
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "replay_parquet.json").write_text(json.dumps(result, indent=2))
    print(f"\n{args.messages:,} messages, {args.symbols} instruments, median of {args.runs} "
          f"runs ({load_before}; after: {load_after})")
    print(f"{'replay from file':28}{'M msg/s':>9}{'ratio':>7}{'rows':>12}{'MB':>7}"
          f"{'CPU ns/msg: replay':>20}{'writer':>8}{'array wait':>12}{'other wait':>12}")
    for name in CONFIGS:
        f = facts[name]
        rows = sum(f["rows"].values())
        mb = sum(f["bytes"].values()) / 1e6
        c = result["cpu_ns_per_msg"][name]
        other = c["replay_wall"] - c["replay_thread"] - c["replay_waiting_for_arrays"]
        print(f"{name:28}{med(rates[name]) / 1e6:>9.2f}{med(rates[name]) / base:>7.2f}"
              f"{rows:>12,}{mb:>7.1f}{c['replay_thread']:>20.0f}{c['writer_thread']:>8.0f}"
              f"{c['replay_waiting_for_arrays']:>12.0f}{other:>12.0f}")
    print("(array wait: the replay thread waiting for a spare row array; other wait: the rest of"
          " its wall time beyond its CPU: off the CPU, the other threads and processes)")
    print(f"\n{'where the cost is (file in memory)':44}{'M msg/s':>10}{'ratio':>8}")
    for name, v in split.items():
        print(f"{name:44}{med(v) / 1e6:>10.2f}{med(v) / base_mem:>8.2f}")
    print("Parquet writer alone, one thread: " + ", ".join(
        f"{t} {r / 1e6:.2f} M rows/s" for t, r in writer.items()))


if __name__ == "__main__":
    main()
