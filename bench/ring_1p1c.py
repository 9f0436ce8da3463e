"""One producer, one consumer, two processes on two cores: tickpath's shared-memory SPSC ring
against a compiled pipe and eventfd hand-off and against ``multiprocessing.Queue`` and
``os.pipe`` from Python, in the same run.

    .venv/bin/python bench/ring_1p1c.py [--records 200000] [--rate 50000] [--rounds 20]
        [--throughput-records 20000000] [--baseline-records 20000] [--baseline-rate 4000]
        [--kernel pipe,eventfd] [--kernel-throughput-records 2000000]
        [--capacity 1024] [--slot-size 64] [--cores 0,1] [--pause] [--json OUT]

The measuring lives in :mod:`tickpath.ring.bench` (what is measured and how is in its
docstring); ``tickpath bench ring`` runs the same thing with a table. This script prints the
figures as plain text, ratios against ``multiprocessing.Queue`` and the compiled pipe.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
from pathlib import Path

from tickpath.ring.bench import (
    KERNEL,
    MODES,
    RingBenchConfig,
    fmt_ns,
    rows_note,
    run_ring_bench,
    transports,
)


def main() -> None:
    d = RingBenchConfig()
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=d.records, help="paced records per ring mode")
    ap.add_argument("--rate", type=float, default=d.rate, help="paced ring records per second")
    ap.add_argument("--rounds", type=int, default=d.rounds, help="interleaved blocks per ring mode")
    ap.add_argument("--throughput-records", type=int, default=d.throughput_records,
                    help="unpaced records per ring mode")
    ap.add_argument("--throughput-rounds", type=int, default=d.throughput_rounds)
    ap.add_argument("--baseline-records", type=int, default=d.baseline_records)
    ap.add_argument("--baseline-rate", type=float, default=d.baseline_rate,
                    help="paced baseline records per second (sleep-paced)")
    ap.add_argument("--baseline-throughput-records", type=int,
                    default=d.baseline_throughput_records)
    ap.add_argument("--kernel", default=",".join(KERNEL),
                    help="compiled kernel hand-offs beside the ring (pipe,eventfd; empty: none)")
    ap.add_argument("--kernel-throughput-records", type=int,
                    default=d.kernel_throughput_records,
                    help="unpaced records per compiled hand-off")
    ap.add_argument("--capacity", type=int, default=d.capacity)
    ap.add_argument("--slot-size", type=int, default=d.slot_size)
    ap.add_argument("--cores", default=None, help="producer,consumer cores (default: the "
                    "first two this process may use)")
    ap.add_argument("--modes", default=",".join(MODES), help="ring modes to run (slot,cursor)")
    ap.add_argument("--pause", action="store_true", help="pause on each empty poll")
    ap.add_argument("--json", type=Path, default=None, help="write the results here")
    args = ap.parse_args()

    cfg = RingBenchConfig(
        records=args.records, rate=args.rate, rounds=args.rounds,
        throughput_records=args.throughput_records, throughput_rounds=args.throughput_rounds,
        baseline_records=args.baseline_records, baseline_rate=args.baseline_rate,
        baseline_throughput_records=args.baseline_throughput_records,
        kernel=tuple(k for k in args.kernel.split(",") if k),
        kernel_throughput_records=args.kernel_throughput_records,
        capacity=args.capacity, slot_size=args.slot_size, pause=args.pause,
        cores=[int(c) for c in args.cores.split(",")] if args.cores else None,
        modes=tuple(m for m in args.modes.split(",") if m))
    results = run_ring_bench(cfg, status=lambda s: print(s, file=sys.stderr))
    meta = results["meta"]
    cores = meta["cores"]
    if cores[0] is None:
        print("only one core available: the two ends share it (numbers mean little)",
              file=sys.stderr)

    base = results["mp_queue"]
    cpipe = results.get("pipe_compiled")
    width = max(len(label) for _, label, _ in transports(results))
    print(f"ring_1p1c: {platform.machine()}, {os.cpu_count()} CPUs, producer on core "
          f"{cores[0]}, consumer on core {cores[1]}, TSC {meta['tsc_hz'] / 1e9:.4f} GHz "
          f"({'invariant' if meta['tsc_invariant'] else 'NOT invariant'}); ring "
          f"{args.capacity} x {args.slot_size} B, paced at {args.rate:,.0f}/s; Python "
          f"baselines sleep-paced at {args.baseline_rate:,.0f}/s")
    print(f"{'transport':{width}} {'records':>8} {'p50':>9} {'p90':>9} {'p99':>9} "
          f"{'p99.9*':>9} {'max*':>9} {'msgs/s':>13} {'p50 vs mpQ':>10} {'msg/s vs mpQ':>12}"
          + (f" {'p50 vs pipe C':>13}" if cpipe else ""))
    for _, label, r in transports(results):
        print(f"{label:{width}} {r['count']:8d} {fmt_ns(r['p50_ns']):>9} "
              f"{fmt_ns(r['p90_ns']):>9} {fmt_ns(r['p99_ns']):>9} {fmt_ns(r['p999_ns']):>9} "
              f"{fmt_ns(r['max_ns']):>9} {r['msgs_per_s']:13,.0f} "
              f"{base['p50_ns'] / r['p50_ns']:9.0f}x {r['msgs_per_s'] / base['msgs_per_s']:11.0f}x"
              + (f" {cpipe['p50_ns'] / r['p50_ns']:12.1f}x" if cpipe else ""))
    print(rows_note(results))
    print("* p99.9 and max include the VM's stalls (timer ticks, host steals), not the ring's")
    for key, _, r in transports(results):
        if "block_p50_ns" in r:  # the interleaved compiled runs: the host's moves show here
            name = f"ring ({r['wait_on']})" if "wait_on" in r else key
            print(f"{name} median per block, ns: "
                  + " ".join(f"{x:.0f}" for x in r["block_p50_ns"]))
    sw = results["ring"]["involuntary_switches"]
    print(f"involuntary context switches during the paced compiled runs: producer "
          f"{sw['producer']}, consumer {sw['consumer']} (other work on these cores shows here)")
    if args.json is not None:
        meta["args"] = {k: (str(v) if isinstance(v, Path) else v) for k, v in vars(args).items()}
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps(results, indent=2, default=float))
        print(f"wrote {args.json}", file=sys.stderr)


if __name__ == "__main__":
    main()
