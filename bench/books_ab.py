"""ITCH decode and decode + L3 books: this tree against another commit, in the same run.

    .venv/bin/python bench/books_ab.py --against REV [--messages 8000000] [--symbols 2000]
                                       [--runs 5]

``REV`` is checked out (``git worktree``) under out/bench/trees/ and imported from there
with this virtualenv, so both sides run the same interpreter, numba and numpy on the same
file. Each run measures both trees, alternating which goes first, each in a fresh process.
Each tree compiles into a numba cache of its own made for this invocation (the first run
compiles, outside the timer; the others load): a cache beside the sources can hold a kernel
that inlined another file's old code, which numba does not notice when only that file
changed. Rates are messages over wall time of
the compiled loops on the file's bytes in memory; the ratio of medians is printed and
written to out/bench/books_ab.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "out" / "bench"

WORKER = Path(__file__).with_name("books_ab_worker.py")


def tree(rev: str) -> Path:
    """A checkout of ``rev`` under out/bench/trees/ (made once, reused)."""
    sha = subprocess.run(["git", "rev-parse", "--verify", f"{rev}^{{commit}}"], cwd=ROOT,
                         check=True, capture_output=True, text=True).stdout.strip()
    where = OUT / "trees" / sha[:12]
    if not where.exists():
        where.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run(["git", "worktree", "add", "--detach", str(where), sha], cwd=ROOT,
                       check=True, capture_output=True)
    return where


def measure(src: Path, path: Path, what: str, cache: str) -> dict:
    env = dict(os.environ, PYTHONPATH=str(src), NUMBA_CACHE_DIR=cache)
    r = subprocess.run([sys.executable, str(WORKER), str(path), what], env=env,
                       capture_output=True, text=True)
    if r.returncode:
        raise SystemExit(f"{what} in {src} failed:\n{r.stderr[-2000:]}")
    return json.loads(r.stdout.strip().splitlines()[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--against", required=True, help="git revision to compare with")
    ap.add_argument("--messages", type=int, default=8_000_000)
    ap.add_argument("--symbols", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()

    sys.path.insert(0, str(Path(__file__).parent))
    from replay_itch import sim_file

    path = sim_file(args.messages, args.symbols, args.seed)
    sides = {"this": ROOT / "src", args.against: tree(args.against) / "src"}
    rates: dict[str, dict[str, list[float]]] = {s: {"decode": [], "books": []} for s in sides}
    stats: dict[str, str] = {}  # a digest of the books at the end of the day
    rss: dict[str, float] = {}
    caches = {s: tempfile.mkdtemp(prefix="books-ab-numba-") for s in sides}
    for i in range(args.runs):
        order = list(sides) if i % 2 == 0 else list(reversed(sides))
        for what in ("decode", "books"):
            for s in order:
                r = measure(sides[s], path, what, caches[s])
                rates[s][what].append(r["messages"] / r["seconds"])
                if what == "books":
                    stats[s] = r["books"]
                    rss[s] = r["peak_rss_mib"]
        print(f"run {i + 1}: " + ", ".join(
            f"{s} decode {rates[s]['decode'][-1] / 1e6:.1f} books {rates[s]['books'][-1] / 1e6:.2f}"
            for s in sides), file=sys.stderr)
    for c in caches.values():
        shutil.rmtree(c, ignore_errors=True)
    a, b = sides
    if stats[a] != stats[b]:
        raise SystemExit(f"the two trees ended with different books ({stats[a]} against "
                         f"{stats[b]})")
    med = statistics.median
    result = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{platform.node()} {platform.machine()} {os.cpu_count()} cpus",
        "file": {"path": str(path), "messages": args.messages, "symbols": args.symbols},
        "runs": args.runs,
        "against": args.against,
        "rates": rates,
        "median": {s: {w: med(v) for w, v in rates[s].items()} for s in sides},
        "ratio": {w: med(rates[a][w]) / med(rates[b][w]) for w in ("decode", "books")},
        "peak_rss_mib": rss,
        "books_digest": stats[a],
    }
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "books_ab.json").write_text(json.dumps(result, indent=2))
    print(f"\n{args.messages:,} messages, {args.symbols} instruments, median of {args.runs}")
    print(f"{'M msg/s':22}{'this tree':>12}{args.against[:12]:>14}{'ratio':>8}")
    for w in ("decode", "books"):
        print(f"{w:22}{med(rates[a][w]) / 1e6:>12.2f}{med(rates[b][w]) / 1e6:>14.2f}"
              f"{result['ratio'][w]:>8.2f}")
    print(f"peak RSS MiB: this {rss[a]:.0f}, {args.against[:12]} {rss[b]:.0f}")


if __name__ == "__main__":
    main()
