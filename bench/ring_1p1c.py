"""One producer, one consumer, two processes on two cores: tickpath's shared-memory SPSC ring
against ``multiprocessing.Queue`` and ``os.pipe``, in the same run.

    .venv/bin/python bench/ring_1p1c.py [--records 200000] [--rate 50000] [--rounds 20]
        [--throughput-records 20000000] [--baseline-records 20000] [--baseline-rate 4000]
        [--capacity 1024] [--slot-size 64] [--cores 0,1] [--pause] [--json OUT]

Latency (one way, paced). The producer stamps each record just before publishing it and the
consumer takes the difference as soon as it sees the record. The ring's ends are compiled
loops that stamp with the TSC (``rdtsc`` on the producer, ``rdtscp`` on the consumer, so the
consumer's read waits for the load that found the record; the TSC here is invariant and shared
by the cores), converted to ns with the calibrated rate. Records are spaced ``1/rate`` apart,
each spacing starting when the previous record was published, so a stall never turns into a
burst: the ring stays empty and what is measured is latency, not queueing. The baselines send
``time.monotonic_ns()`` as a Python int and the consumer reads the same clock on receipt; their
producer sleeps between records (a spinning producer starves ``multiprocessing.Queue``'s
feeder thread of the GIL and measures that instead).

Both ring modes run: ``slot`` (the consumer spins on the sequence word inside the next slot)
and ``cursor`` (it spins on the producer's position). They run interleaved in the same two
processes, ``--rounds`` blocks of each in turn (plus one warm-up round, discarded), because
this VM's host moves the two vCPUs closer or further apart by itself every few seconds and
a one-way trip then changes by 3x; interleaving makes the two modes see the same host. The
per-block medians are printed so the host's moves show. ``"ring"`` in the JSON is the ring's
default mode; the other sits beside it as ``"ring_<mode>"``.

Throughput (unpaced): the producer publishes one record per claim as fast as the ring lets it,
the consumer takes batches of up to 256; msgs/s = records / (consumer's last receipt -
producer's first send), over interleaved blocks as above. For ``mp.Queue``: one ``put`` /
``get`` per record; for the pipe one 8-byte ``write`` per record, the reader reading whatever
is there (up to 64 KiB) per call.

Each process collects, freezes and disables the garbage collector before timing; the loops are
compiled before the children fork. The consumer spins without ``pause`` by default
(``--pause`` adds one per empty poll). On this VM p99.9 and max carry the host's stalls (timer
ticks of 10-20 µs, 1-8 ms steals); they are printed, but they are the host's, not the ring's.
"""

from __future__ import annotations

import argparse
import gc
import json
import mmap
import multiprocessing as mp
import os
import platform
import resource
import struct
import sys
import time
from pathlib import Path

import numpy as np
from numba import njit

from tickpath.ring import SpscRing, spsc
from tickpath.ring.atomics import cpu_relax, load_acquire, store_release
from tickpath.ring.ring import DEFAULT_WAIT_ON
from tickpath.telemetry import nclock
from tickpath.telemetry.histogram import histogram_of

_CTX = mp.get_context("fork")  # the parent compiles; the children inherit the machine code
MODES = ("slot", "cursor")

# ----------------------------------------------------------------------------- ring loops
# Stage loops allocate nothing, so they are compiled without reference counting (_nrt=False):
# the ring kernels are inlined into them, and with NRT on, each inlined call would add
# refcount updates of the two arrays it takes.


@njit(nogil=True, cache=True, _nrt=False)
def _wait_flag(flags, i):
    while load_acquire(flags, i) == 0:
        cpu_relax()


@njit(nogil=True, cache=True, _nrt=False)
def ring_producer_paced(hdr, words, n, gap_ticks, flags, block):
    """Publish ``n`` records ``gap_ticks`` apart: payload word 0 = index, word 1 = rdtsc.
    Waits first until the consumer has finished block ``block - 1`` (flags)."""
    if block > 0:
        _wait_flag(flags, block - 1)
    for i in range(n):
        t_next = nclock.rdtsc() + gap_ticks
        while nclock.rdtsc() < t_next:
            pass
        seq = spsc.try_claim(hdr, 1)
        while seq < 0:
            cpu_relax()
            seq = spsc.try_claim(hdr, 1)
        base = spsc.slot_base(hdr, seq)
        words[base + 1] = i
        words[base + 2] = nclock.rdtsc()
        spsc.publish(hdr, words, seq, 1)


@njit(nogil=True, cache=True, _nrt=False)
def ring_consumer_latency(hdr, words, n, on_slot, pause, lat, flags, block):
    """Take ``n`` records as soon as they appear; ``lat[i]`` = rdtscp() - stamp of record i.
    Sets flags[block] at the end. Returns the count of records out of order (0)."""
    got = 0
    bad = 0
    while got < n:
        if on_slot:
            k = spsc.poll_slot(hdr, words, 64)
        else:
            k = spsc.poll_cursor(hdr, 64)
        if k == 0:
            if pause:
                cpu_relax()
            continue
        now = nclock.rdtscp()
        seq = spsc.consumer_position(hdr)
        for j in range(k):
            base = spsc.slot_base(hdr, seq + j)
            if words[base + 1] != got:
                bad += 1
            lat[got] = now - words[base + 2]
            got += 1
        spsc.release(hdr, k)
    store_release(flags, block, 1)
    return bad


@njit(nogil=True, cache=True, _nrt=False)
def ring_producer_flood(hdr, words, n, t, flags, block):
    """Publish ``n`` records as fast as there is room; t[0] = rdtsc at the first."""
    if block > 0:
        _wait_flag(flags, block - 1)
    t[0] = nclock.rdtsc()
    for i in range(n):
        seq = spsc.try_claim(hdr, 1)
        while seq < 0:
            cpu_relax()
            seq = spsc.try_claim(hdr, 1)
        words[spsc.slot_base(hdr, seq) + 1] = i
        spsc.publish(hdr, words, seq, 1)


@njit(nogil=True, cache=True, _nrt=False)
def ring_consumer_flood(hdr, words, n, on_slot, t, flags, block):
    """Take ``n`` records in batches of up to 256; t[1] = rdtsc after the last. Returns the
    sum of the indices read (n(n-1)/2 when none was lost or repeated)."""
    got = 0
    total = 0
    while got < n:
        if on_slot:
            k = spsc.poll_slot(hdr, words, 256)
        else:
            k = spsc.poll_cursor(hdr, 256)
        if k == 0:
            cpu_relax()
            continue
        seq = spsc.consumer_position(hdr)
        for j in range(k):
            total += words[spsc.slot_base(hdr, seq + j) + 1]
        spsc.release(hdr, k)
        got += k
    t[1] = nclock.rdtsc()
    store_release(flags, block, 1)
    return total


# ----------------------------------------------------------------------------- processes


def _shared_i64(n: int) -> np.ndarray:
    """A zeroed int64 array in anonymous shared memory, visible to forked children."""
    return np.frombuffer(mmap.mmap(-1, max(8, n * 8)), dtype=np.int64)


def _quiet(core: int | None) -> None:
    if core is not None:
        os.sched_setaffinity(0, {core})
    gc.collect()
    gc.freeze()
    gc.disable()


def _run_pair(producer, consumer) -> None:
    procs = [_CTX.Process(target=consumer), _CTX.Process(target=producer)]
    for p in procs:
        p.start()
    for p in procs:
        p.join()
        if p.exitcode != 0:
            raise RuntimeError(f"benchmark child failed with exit code {p.exitcode}")


def ring_cases(args, cores, hz: float) -> dict[str, dict]:
    tag = f"tp-bench-{os.getpid()}"
    rings = {m: SpscRing.create(f"{tag}-{m}", args.capacity, args.slot_size, wait_on=m)
             for m in MODES}
    try:
        views = {m: (r.header, r.words) for m, r in rings.items()}
        rounds = args.rounds + 1  # round 0 warms up and is discarded
        block = max(1, args.records // args.rounds)
        order = [(rnd, m) for rnd in range(rounds) for m in MODES]
        lat = {m: _shared_i64(rounds * block) for m in MODES}
        flags = _shared_i64(len(order))
        status = _shared_i64(4)  # out-of-order count; involuntary switches: producer, consumer
        gap = int(hz / args.rate)

        def producer():
            _quiet(cores[0])
            before = resource.getrusage(resource.RUSAGE_SELF).ru_nivcsw
            for b, (_, m) in enumerate(order):
                ring_producer_paced(*views[m], block, gap, flags, b)
            status[1] = resource.getrusage(resource.RUSAGE_SELF).ru_nivcsw - before

        def consumer():
            _quiet(cores[1])
            before = resource.getrusage(resource.RUSAGE_SELF).ru_nivcsw
            for b, (rnd, m) in enumerate(order):
                out = lat[m][rnd * block:(rnd + 1) * block]
                status[0] += ring_consumer_latency(*views[m], block, m == "slot", args.pause,
                                                   out, flags, b)
            status[2] = resource.getrusage(resource.RUSAGE_SELF).ru_nivcsw - before

        _run_pair(producer, consumer)
        if status[0]:
            raise RuntimeError(f"ring latency run saw {status[0]} records out of order")

        n_blocks = max(1, args.throughput_rounds)
        fblock = max(1, args.throughput_records // n_blocks)
        forder = [m for _ in range(n_blocks) for m in MODES]
        fflags = _shared_i64(len(forder))
        ts = _shared_i64(2 * len(forder))
        sums = _shared_i64(len(forder))
        before = {m: r.counters() for m, r in rings.items()}

        def producer_flood():
            _quiet(cores[0])
            for b, m in enumerate(forder):
                ring_producer_flood(*views[m], fblock, ts[2 * b:2 * b + 2], fflags, b)

        def consumer_flood():
            _quiet(cores[1])
            for b, m in enumerate(forder):
                sums[b] = ring_consumer_flood(*views[m], fblock, m == "slot",
                                              ts[2 * b:2 * b + 2], fflags, b)

        _run_pair(producer_flood, consumer_flood)
        if any(int(s) != fblock * (fblock - 1) // 2 for s in sums):
            raise RuntimeError("ring throughput run lost or repeated records")
        after = {m: r.counters() for m, r in rings.items()}
    finally:
        for r in rings.values():
            r.close()
            r.unlink()

    out = {}
    for m in MODES:
        samples = (lat[m][block:] * (1e9 / hz)).astype(np.int64)
        per_block = np.median(samples.reshape(args.rounds, block), axis=1)
        secs = sum((ts[2 * b + 1] - ts[2 * b]) / hz for b, fm in enumerate(forder) if fm == m)
        res = _latency_summary(samples)
        res.update(msgs_per_s=fblock * n_blocks / secs, throughput_records=fblock * n_blocks,
                   wait_on=m, block_p50_ns=[float(x) for x in per_block],
                   involuntary_switches={"producer": int(status[1]),
                                         "consumer": int(status[2])},
                   flood_full=after[m]["full"] - before[m]["full"],
                   flood_empty_polls=after[m]["empty_polls"] - before[m]["empty_polls"],
                   flood_batches=after[m]["batches"] - before[m]["batches"])
        out[m] = res
    return out


def mp_queue_case(args, cores) -> dict:
    n = args.baseline_records
    lat = _shared_i64(n)
    gap = 1.0 / args.baseline_rate
    q = _CTX.Queue()

    def producer():
        _quiet(cores[0])
        for _ in range(n):
            time.sleep(gap)
            q.put(time.monotonic_ns())

    def consumer():
        _quiet(cores[1])
        for i in range(n):
            v = q.get()
            lat[i] = time.monotonic_ns() - v

    _run_pair(producer, consumer)
    out = _latency_summary(lat[n // 10:].copy())

    m = args.baseline_throughput_records
    t = _shared_i64(2)
    q2 = _CTX.Queue()

    def producer_flood():
        _quiet(cores[0])
        t[0] = time.monotonic_ns()
        for i in range(m):
            q2.put(i)

    def consumer_flood():
        _quiet(cores[1])
        for _ in range(m):
            q2.get()
        t[1] = time.monotonic_ns()

    _run_pair(producer_flood, consumer_flood)
    out.update(msgs_per_s=m / ((t[1] - t[0]) / 1e9), throughput_records=m)
    return out


def pipe_case(args, cores) -> dict:
    n = args.baseline_records
    lat = _shared_i64(n)
    gap = 1.0 / args.baseline_rate
    rec = struct.Struct("<q")
    r, w = os.pipe()

    def producer():
        os.close(r)
        _quiet(cores[0])
        for _ in range(n):
            time.sleep(gap)
            os.write(w, rec.pack(time.monotonic_ns()))

    def consumer():
        os.close(w)
        _quiet(cores[1])
        for i in range(n):
            (v,) = rec.unpack(os.read(r, 8))
            lat[i] = time.monotonic_ns() - v

    _run_pair(producer, consumer)
    os.close(r)
    os.close(w)
    out = _latency_summary(lat[n // 10:].copy())

    m = args.baseline_throughput_records
    t = _shared_i64(2)
    r, w = os.pipe()

    def producer_flood():
        os.close(r)
        _quiet(cores[0])
        t[0] = time.monotonic_ns()
        for i in range(m):
            os.write(w, rec.pack(i))

    def consumer_flood():
        os.close(w)
        _quiet(cores[1])
        left = m * 8
        while left:
            left -= len(os.read(r, min(left, 65536)))
        t[1] = time.monotonic_ns()

    _run_pair(producer_flood, consumer_flood)
    os.close(r)
    os.close(w)
    out.update(msgs_per_s=m / ((t[1] - t[0]) / 1e9), throughput_records=m)
    return out


def _latency_summary(samples_ns: np.ndarray) -> dict:
    h = histogram_of(np.maximum(samples_ns, 1))
    return {"count": int(samples_ns.size),
            "p50_ns": h.get_value_at_percentile(50.0),
            "p90_ns": h.get_value_at_percentile(90.0),
            "p99_ns": h.get_value_at_percentile(99.0),
            "p999_ns": h.get_value_at_percentile(99.9),
            "max_ns": h.get_max_value(),
            "min_ns": int(samples_ns.min())}


def _compile_all() -> None:
    """Compile (or load from cache) every loop with the exact types the timed runs use."""
    ring = SpscRing.create(f"tp-bench-warm-{os.getpid()}", 16, 64)
    try:
        hdr, words = ring.header, ring.words
        lat = _shared_i64(4)
        t = _shared_i64(4)
        flags = _shared_i64(4)
        for on_slot in (True, False):
            ring_producer_paced(hdr, words, 4, 10, flags, 0)
            ring_consumer_latency(hdr, words, 4, on_slot, False, lat, flags, 0)
            ring_producer_flood(hdr, words, 4, t[0:2], flags, 0)
            ring_consumer_flood(hdr, words, 4, on_slot, t[0:2], flags, 0)
    finally:
        ring.close()
        ring.unlink()


def _fmt_ns(v: float) -> str:
    return f"{v / 1000:,.1f} µs" if v >= 10_000 else f"{v:,.0f} ns"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=200_000, help="paced records per ring mode")
    ap.add_argument("--rate", type=float, default=50_000, help="paced ring records per second")
    ap.add_argument("--rounds", type=int, default=20, help="interleaved blocks per ring mode")
    ap.add_argument("--throughput-records", type=int, default=20_000_000,
                    help="unpaced records per ring mode")
    ap.add_argument("--throughput-rounds", type=int, default=5)
    ap.add_argument("--baseline-records", type=int, default=20_000)
    ap.add_argument("--baseline-rate", type=float, default=4_000,
                    help="paced baseline records per second (sleep-paced)")
    ap.add_argument("--baseline-throughput-records", type=int, default=200_000)
    ap.add_argument("--capacity", type=int, default=1024)
    ap.add_argument("--slot-size", type=int, default=64)
    ap.add_argument("--cores", default=None, help="producer,consumer cores (default: the "
                    "first two this process may use)")
    ap.add_argument("--pause", action="store_true", help="pause on each empty poll")
    ap.add_argument("--json", type=Path, default=None, help="write the results here")
    args = ap.parse_args()

    allowed = sorted(os.sched_getaffinity(0))
    if args.cores:
        cores: list[int | None] = [int(c) for c in args.cores.split(",")]
    elif len(allowed) >= 2:
        cores = list(allowed[:2])
    else:
        cores = [None, None]
        print("only one core available: the two ends share it (numbers mean little)",
              file=sys.stderr)

    hz = nclock.tsc_hz()
    _compile_all()
    rings = ring_cases(args, cores, hz)
    results = {"ring": rings[DEFAULT_WAIT_ON]}
    results.update({f"ring_{m}": r for m, r in rings.items() if m != DEFAULT_WAIT_ON})
    results["mp_queue"] = mp_queue_case(args, cores)
    results["pipe"] = pipe_case(args, cores)

    base = results["mp_queue"]
    print(f"ring_1p1c: {platform.machine()}, {os.cpu_count()} CPUs, producer on core "
          f"{cores[0]}, consumer on core {cores[1]}, TSC {hz / 1e9:.4f} GHz "
          f"({'invariant' if nclock.tsc_invariant() else 'NOT invariant'}); ring "
          f"{args.capacity} x {args.slot_size} B, paced at {args.rate:,.0f}/s; baselines "
          f"sleep-paced at {args.baseline_rate:,.0f}/s")
    print(f"{'transport':22} {'records':>8} {'p50':>9} {'p90':>9} {'p99':>9} {'p99.9*':>9} "
          f"{'max*':>9} {'msgs/s':>13} {'p50 vs mpQ':>10} {'msg/s vs mpQ':>12}")
    for key, r in results.items():
        label = {"mp_queue": "multiprocessing.Queue", "pipe": "os.pipe"}.get(
            key, f"ring ({r.get('wait_on')})")
        print(f"{label:22} {r['count']:8d} {_fmt_ns(r['p50_ns']):>9} {_fmt_ns(r['p90_ns']):>9} "
              f"{_fmt_ns(r['p99_ns']):>9} {_fmt_ns(r['p999_ns']):>9} {_fmt_ns(r['max_ns']):>9} "
              f"{r['msgs_per_s']:13,.0f} {base['p50_ns'] / r['p50_ns']:9.0f}x "
              f"{r['msgs_per_s'] / base['msgs_per_s']:11.0f}x")
    print("* p99.9 and max include the VM's stalls (timer ticks, host steals), not the ring's")
    for m, r in rings.items():
        print(f"ring ({m}) median per block, ns: "
              + " ".join(f"{x:.0f}" for x in r["block_p50_ns"]))
    sw = rings[DEFAULT_WAIT_ON]["involuntary_switches"]
    print(f"involuntary context switches during the paced ring runs: producer {sw['producer']}, "
          f"consumer {sw['consumer']} (other work on these cores shows here)")
    if args.json is not None:
        meta = {"machine": platform.machine(), "python": platform.python_version(),
                "cpus": os.cpu_count(), "cores": cores, "tsc_hz": hz,
                "tsc_invariant": nclock.tsc_invariant(), "default_wait_on": DEFAULT_WAIT_ON,
                "args": {k: (str(v) if isinstance(v, Path) else v)
                         for k, v in vars(args).items()}}
        for r in results.values():
            r["ratio_p50_vs_mp_queue"] = base["p50_ns"] / r["p50_ns"]
            r["ratio_msgs_per_s_vs_mp_queue"] = r["msgs_per_s"] / base["msgs_per_s"]
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(json.dumps({**results, "meta": meta}, indent=2, default=float))
        print(f"wrote {args.json}", file=sys.stderr)


if __name__ == "__main__":
    main()
