"""Replay throughput of ITCH 5.0: decode only, and decode + L3 books, against a pure-Python
baseline (MeatPy's ITCH 5.0 reader) measured in the same run.

    .venv/bin/python bench/replay_itch.py [--messages 20000000] [--symbols 2000] [--runs 5]

The simulator writes the file once (kept under out/bench/, reused while its parameters match).
Throughput is measured on the file's bytes in memory, so disk and page cache do not enter;
`tickpath replay` from disk is timed too. Prints a table and writes out/bench/replay_itch.json.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from tickpath.apps.replay import replay
from tickpath.book import BookStore
from tickpath.codec.itch50 import EVENT_DTYPE, LENGTHS
from tickpath.codec.itch50.decode import OK, OUT_FULL, decode_batch
from tickpath.feed.itch import ItchHandler
from tickpath.venue import Simulator

OUT = Path(__file__).resolve().parent.parent / "out" / "bench"


def sim_file(messages: int, symbols: int, seed: int) -> Path:
    path = OUT / f"sim-{messages}-{symbols}-{seed}.itch"
    if not path.exists():
        OUT.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        tmp = path.with_suffix(".part")
        Simulator(symbols=symbols, messages=messages, seed=seed).write(tmp)
        tmp.rename(path)
        print(f"simulator wrote {messages:,} messages to {path} in "
              f"{time.perf_counter() - t0:.1f} s", file=sys.stderr)
    return path


def decode_only(buf: np.ndarray, events: np.ndarray) -> int:
    """Decode the whole buffer in batches; returns messages decoded."""
    p, end, total = 0, buf.shape[0], 0
    while True:
        n, st, p = decode_batch(buf, p, end, LENGTHS, events, 0, 0)
        total += n
        if st == OK:
            return total
        if st != OUT_FULL:
            raise RuntimeError(f"decode stopped with status {st} at {p}")


def decode_and_books(buf: np.ndarray, max_orders: int) -> int:
    handler = ItchHandler(BookStore(max_orders=max_orders), batch=1 << 14)
    handler.on_blocks(buf, 0, buf.shape[0])
    return handler.messages


def timed(fn, *args) -> tuple[float, int]:
    gc.collect()
    gc.disable()
    try:
        t0 = time.perf_counter()
        n = fn(*args)
        return time.perf_counter() - t0, n
    finally:
        gc.enable()


def meatpy_rate(path: Path, limit: int) -> float:
    """Messages/s of MeatPy's pure-Python ITCH 5.0 reader over the first ``limit`` messages."""
    from meatpy.itch50.itch50_message_reader import ITCH50MessageReader

    t0 = time.perf_counter()
    n = 0
    for _ in ITCH50MessageReader().read_file(path):
        n += 1
        if n >= limit:
            break
    return n / (time.perf_counter() - t0)


def meatpy_books_rate(path: Path, limit: int) -> float:
    """Messages/s of MeatPy reading and building books: one ITCH50MarketProcessor per
    instrument (as MeatPy is used), each message handed to its instrument's processor."""
    import datetime

    from meatpy.itch50.itch50_market_processor import ITCH50MarketProcessor
    from meatpy.itch50.itch50_message_reader import ITCH50MessageReader

    day = datetime.datetime(2024, 1, 2)
    procs: dict[int, ITCH50MarketProcessor] = {}
    t0 = time.perf_counter()
    n = 0
    for msg in ITCH50MessageReader().read_file(path):
        n += 1
        if msg.type == b"R":
            procs[msg.stock_locate] = ITCH50MarketProcessor(msg.stock, day)
        proc = procs.get(getattr(msg, "stock_locate", -1))
        if proc is not None:
            proc.process_message(msg)
        if n >= limit:
            break
    return n / (time.perf_counter() - t0)


def cold_and_warm(path: Path) -> dict[str, float]:
    """Wall time of `tickpath replay` on a small file: with an empty numba cache, then warm."""
    exe = Path(sys.executable).with_name("tickpath")
    with tempfile.TemporaryDirectory() as cache:
        env = dict(os.environ, NUMBA_CACHE_DIR=cache)
        out = {}
        for label in ("first_run_s", "warm_start_s"):
            t0 = time.perf_counter()
            subprocess.run([str(exe), "replay", str(path), "--no-progress"], env=env,
                           check=True, capture_output=True)
            out[label] = time.perf_counter() - t0
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--messages", type=int, default=20_000_000)
    ap.add_argument("--symbols", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--baseline-messages", type=int, default=500_000)
    args = ap.parse_args()

    path = sim_file(args.messages, args.symbols, args.seed)
    buf = np.fromfile(path, np.uint8)
    events = np.zeros(1 << 14, EVENT_DTYPE)
    max_orders = 1 << 22

    # compile outside the timed runs
    decode_only(buf[:0], events)
    small = Path(tempfile.mkdtemp()) / "warm.itch"
    Simulator(symbols=10, messages=2000, seed=1).write(small)
    decode_and_books(np.fromfile(small, np.uint8), 1024)

    dec, book, disk = [], [], []
    for i in range(args.runs):
        s, n = timed(decode_only, buf, events)
        dec.append(n / s)
        s, n = timed(decode_and_books, buf, max_orders)
        book.append(n / s)
        t0 = time.perf_counter()
        _, rep = replay(path, max_orders=max_orders)
        disk.append(rep.messages / (time.perf_counter() - t0))
        print(f"run {i + 1}: decode {dec[-1] / 1e6:.1f} M/s, decode+books {book[-1] / 1e6:.1f} "
              f"M/s, replay from file {disk[-1] / 1e6:.1f} M/s", file=sys.stderr)
    base = [meatpy_rate(path, args.baseline_messages) for _ in range(3)]
    base_books = [meatpy_books_rate(path, args.baseline_messages // 2) for _ in range(3)]
    med = statistics.median
    result = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{platform.node()} {platform.machine()} {os.cpu_count()} cpus",
        "file": {"path": str(path), "messages": n, "symbols": args.symbols,
                 "bytes": int(buf.shape[0])},
        "runs": args.runs,
        "decode_msgs_per_s": med(dec),
        "decode_books_msgs_per_s": med(book),
        "replay_file_msgs_per_s": med(disk),
        "baseline": "MeatPy ITCH50MessageReader (parse only, pure Python)",
        "baseline_msgs_per_s": med(base),
        "baseline_books": "MeatPy reader + one ITCH50MarketProcessor per instrument",
        "baseline_books_msgs_per_s": med(base_books),
        "ratio_decode": med(dec) / med(base),
        "ratio_decode_books": med(book) / med(base_books),
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        **cold_and_warm(small),
    }
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "replay_itch.json").write_text(json.dumps(result, indent=2))
    print(f"\n{n:,} messages, {args.symbols} instruments, median of {args.runs} runs")
    print(f"{'':28}{'M msg/s':>10}{'x MeatPy':>12}")
    print(f"{'decode only':28}{med(dec) / 1e6:>10.1f}{result['ratio_decode']:>12.0f}")
    print(f"{'decode + L3 books':28}{med(book) / 1e6:>10.1f}{result['ratio_decode_books']:>12.0f}")
    print(f"{'replay from file (books)':28}{med(disk) / 1e6:>10.1f}"
          f"{med(disk) / med(base_books):>12.0f}")
    print(f"{'MeatPy parse (baseline)':28}{med(base) / 1e6:>10.3f}")
    print(f"{'MeatPy parse + books':28}{med(base_books) / 1e6:>10.3f}")
    print("(decode is compared with MeatPy's parse, books with MeatPy's parse + books)")
    print(f"peak RSS {result['peak_rss_mib']:.0f} MiB; `tickpath replay` first run "
          f"{result['first_run_s']:.1f} s, warm {result['warm_start_s']:.1f} s")


if __name__ == "__main__":
    main()
