"""Generation speed of the futures venue: a day of MDP 3.0 messages, in memory, chunk by chunk.

    .venv/bin/python bench/mdp3_venue.py [--messages 10000000] [--equity-messages 10000000]
                                         [--symbols 500] [--runs 3] [--json OUT]

Two rows: the futures alone (the index future's basket on its own walk), and with an equity
``Simulator`` of ``--equity-messages`` ITCH messages run alongside (the basket read from its
state, the equity engine stepped up to each futures step's clock; its time is inside the
row). Each run replays the whole day through ``FuturesSimulator.packets()`` and only sums the
bytes; the first call (compilation or cache load) is made before timing. Median and range of
``--runs`` runs.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time

from tickpath.venue import Simulator
from tickpath.venue.futures import FuturesSimulator


def run(fut: FuturesSimulator) -> tuple[float, int, int]:
    t = time.perf_counter()
    size = packets = 0
    for ch in fut.packets():
        size += ch.buf.size
        packets += ch.kinds.size
    return time.perf_counter() - t, size, packets


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--messages", type=int, default=10_000_000)
    ap.add_argument("--equity-messages", type=int, default=10_000_000)
    ap.add_argument("--symbols", type=int, default=500)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--json", default=None)
    a = ap.parse_args()
    rows = []
    for equities in (None, a.equity_messages):
        eq = Simulator(symbols=a.symbols, messages=equities, seed=a.seed) if equities else None
        fut = FuturesSimulator(eq, messages=a.messages, seed=a.seed)
        next(iter(fut.packets(1 << 16)))  # compile (or load the cache) before timing
        times = []
        for _ in range(a.runs):
            seconds, size, packets = run(fut)
            times.append(seconds)
        med = statistics.median(times)
        row = {"equity_messages": equities or 0, "messages": fut.messages_generated,
               "seconds_median": med, "seconds_min": min(times), "seconds_max": max(times),
               "msgs_per_s": fut.messages_generated / med, "packets": packets, "bytes": size,
               "snapshot_loops": fut.stats()["loops"],
               "snapshot_messages": fut.stats()["snapshot_messages"],
               "by_template": fut.counts_by_template}
        rows.append(row)
        print(f"equities {row['equity_messages']:>12,}: {row['messages']:,} MDP3 messages in "
              f"{med:.2f} s (min {min(times):.2f}, max {max(times):.2f}) = "
              f"{row['msgs_per_s'] / 1e6:.2f} M msg/s; {packets:,} packets, {size / 1e6:,.0f} MB, "
              f"{row['snapshot_loops']:,} snapshot loops ({row['snapshot_messages']:,} messages)")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(rows, f, indent=1)


if __name__ == "__main__":
    main()
