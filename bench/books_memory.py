"""Memory of the ITCH books over a day: resident set size after each tenth of the day, the
bytes the book state holds, and the bytes per live order.

    .venv/bin/python bench/books_memory.py [--messages 8000000] [--symbols 2000]

The day is the simulator's (``sim_file`` of bench/replay_itch.py), replayed from disk in
8 MiB chunks (``tickpath.apps.replay``'s reader) in one process; after each tenth the
process's current RSS (``/proc/self/statm``), its peak (``ru_maxrss``) and the books' live
orders and levels are printed. Writes out/bench/books_memory.json.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np

from tickpath.book import BookStore
from tickpath.feed.itch import ItchHandler

OUT = Path(__file__).resolve().parent.parent / "out" / "bench"


def rss_mib() -> float:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--messages", type=int, default=8_000_000)
    ap.add_argument("--symbols", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    sys.path.insert(0, str(Path(__file__).parent))
    from replay_itch import sim_file

    path = sim_file(args.messages, args.symbols, args.seed)
    size = path.stat().st_size
    before = rss_mib()
    handler = ItchHandler(BookStore())
    books = handler.books
    state = {name: getattr(books, name).nbytes
             for name in ("orders", "levels", "free", "heads", "inst", "symbols", "stats_array")}
    rows = []
    chunk = 8 << 20
    buf = np.empty(chunk + 64, np.uint8)
    carry = 0
    done = 0
    tenth = size // 10
    next_mark = tenth
    with open(path, "rb") as f:
        while True:
            n = f.readinto(memoryview(buf)[carry:carry + chunk])
            end = carry + n
            final = n == 0
            used = handler.on_blocks(buf, 0, end, done - carry, final=final)
            done += n
            buf[:end - used] = buf[used:end]
            carry = end - used
            if done >= next_mark or (final and rows[-1]["messages"] != handler.messages):
                st = books.stats()
                rows.append({"bytes_read": done, "messages": handler.messages,
                             "live_orders": st["live_orders"], "live_levels": st["live_levels"],
                             "rss_mib": round(rss_mib(), 1)})
                next_mark += tenth
            if final:
                break
    st = books.stats()
    total = sum(state.values())
    result = {
        "date": time.strftime("%Y-%m-%d"),
        "file": {"path": str(path), "messages": handler.messages, "bytes": size},
        "rss_before_books_mib": round(before, 1),
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "book_state_bytes": state,
        "book_state_mib": round(total / 2**20, 1),
        "order_record_bytes": books.orders.dtype.itemsize,
        "level_record_bytes": books.levels.dtype.itemsize,
        "max_live_orders": st["max_live_orders"],
        "state_bytes_per_peak_live_order": round(total / max(1, st["max_live_orders"]), 1),
        "over_the_day": rows,
    }
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "books_memory.json").write_text(json.dumps(result, indent=2))
    print(f"{handler.messages:,} messages; book state {result['book_state_mib']} MiB "
          f"({', '.join(f'{k} {v / 2**20:.1f}' for k, v in state.items())} MiB); "
          f"records: order {result['order_record_bytes']} B, level "
          f"{result['level_record_bytes']} B")
    print(f"{'messages':>12}{'live orders':>13}{'levels':>9}{'RSS MiB':>9}")
    for r in rows:
        print(f"{r['messages']:>12,}{r['live_orders']:>13,}{r['live_levels']:>9,}"
              f"{r['rss_mib']:>9.1f}")
    print(f"RSS before the books {result['rss_before_books_mib']} MiB, peak "
          f"{result['peak_rss_mib']:.0f} MiB; book state per peak live order "
          f"{result['state_bytes_per_peak_live_order']} B")


if __name__ == "__main__":
    main()
