"""Replay of a gzip ITCH day against the same day uncompressed: what inflating costs, by
inflater and thread.

    .venv/bin/python bench/replay_gzip.py [--messages 4000000] [--symbols 1000] [--runs 5]

The simulator writes the day once (out/bench/, reused while its parameters match) and gzip
(level 6, as `gzip` does by default) compresses it beside. Every row is
`tickpath.apps.replay.replay` from disk, page cache warm, books built: the rows differ only
in the file read and how it is inflated. Each mode runs ``--runs`` times, interleaved, after
one warm-up run (compiles the kernels, fills the page cache); prints the median and the ratio
to the plain file's median, and writes out/bench/replay_gzip.json.
"""

from __future__ import annotations

import argparse
import gc
import gzip
import json
import os
import platform
import shutil
import statistics
import sys
import time
from pathlib import Path

from tickpath.apps.replay import replay
from tickpath.venue import Simulator

OUT = Path(__file__).resolve().parent.parent / "out" / "bench"

#: (label, file, inflater, inflate in its own thread)
MODES = [
    ("plain", "plain", "stdlib", True),
    ("gzip, stdlib zlib, replay thread (before)", "gz", "stdlib", False),
    ("gzip, stdlib zlib, own thread", "gz", "stdlib", True),
    ("gzip, zlib-ng, own thread", "gz", "zlib-ng", True),
    ("gzip, isal igzip, replay thread", "gz", "isal", False),
    ("gzip, isal igzip, own thread (chosen)", "gz", "isal", True),
]


def day(messages: int, symbols: int, seed: int) -> tuple[Path, Path]:
    plain = OUT / f"sim-{messages}-{symbols}-{seed}.itch"
    gz = plain.with_suffix(".itch.gz")
    if not plain.exists():
        OUT.mkdir(parents=True, exist_ok=True)
        tmp = plain.with_suffix(".part")
        Simulator(symbols=symbols, messages=messages, seed=seed).write(tmp)
        tmp.rename(plain)
    if not gz.exists():
        tmp = gz.with_suffix(".part")
        with open(plain, "rb") as src, gzip.open(tmp, "wb", compresslevel=6) as dst:
            shutil.copyfileobj(src, dst, 8 << 20)
        tmp.rename(gz)
    return plain, gz


def available(inflater: str) -> bool:
    try:
        __import__({"isal": "isal.igzip", "zlib-ng": "zlib_ng.gzip_ng"}.get(inflater, "gzip"))
        return True
    except ImportError:
        return False


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--messages", type=int, default=4_000_000)
    ap.add_argument("--symbols", type=int, default=1000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--runs", type=int, default=5)
    a = ap.parse_args()
    plain, gz = day(a.messages, a.symbols, a.seed)
    files = {"plain": plain, "gz": gz}
    load_before = os.getloadavg()[0]
    modes = [m for m in MODES if available(m[2])]
    times: dict[str, list[float]] = {m[0]: [] for m in modes}
    msgs = 0
    for _label, f, inflater, thread in modes:  # warm-up: compile, page cache
        replay(files[f], inflater=inflater, inflate_thread=thread)
    gc.collect()
    gc.freeze()
    gc.disable()
    for _ in range(a.runs):
        for label, f, inflater, thread in modes:
            t0 = time.perf_counter()
            _, rep = replay(files[f], inflater=inflater, inflate_thread=thread)
            times[label].append(time.perf_counter() - t0)
            msgs = rep.messages
    gc.enable()
    base = statistics.median(times["plain"])
    rows = []
    print(f"{msgs:,} messages; plain {plain.stat().st_size / 1e6:,.1f} MB, gzip "
          f"{gz.stat().st_size / 1e6:,.1f} MB; load average (1 min) before {load_before:.2f}, "
          f"after {os.getloadavg()[0]:.2f} on {os.cpu_count()} cores")
    print(f"{'mode':45} {'median s':>9} {'M msg/s':>8} {'x plain':>8}")
    for label, *_ in modes:
        med = statistics.median(times[label])
        rows.append({"mode": label, "median_s": med, "runs_s": times[label],
                     "ratio_to_plain": med / base, "msgs_per_s": msgs / med})
        print(f"{label:45} {med:9.3f} {msgs / med / 1e6:8.2f} {med / base:8.2f}")
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "replay_gzip.json").write_text(json.dumps({
        "date": time.strftime("%Y-%m-%d"), "machine": platform.platform(),
        "cpus": os.cpu_count(), "python": sys.version.split()[0], "messages": msgs,
        "load_before": load_before, "load_after": os.getloadavg()[0],
        "runs": a.runs, "rows": rows}, indent=2))


if __name__ == "__main__":
    main()
