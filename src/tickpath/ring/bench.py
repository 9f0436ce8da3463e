"""One producer, one consumer, two processes on two cores: the shared-memory SPSC ring against
``multiprocessing.Queue`` and ``os.pipe``, measured in the same run.

:func:`run_ring_bench` is what ``tickpath bench ring`` and ``bench/ring_1p1c.py`` call; it
returns ``{"ring": {...}, "ring_<mode>": {...}, "mp_queue": {...}, "pipe": {...}, "meta": {...}}``,
every transport with ``p50_ns``, ``p99_ns`` and ``msgs_per_s`` (and p90, p99.9, max, counts, and
ratios against both baselines).

Latency (one way, paced). The producer stamps each record just before publishing it and the
consumer takes the difference as soon as it sees the record. The ring's ends are compiled
loops that stamp with the TSC (``rdtsc`` on the producer, ``rdtscp`` on the consumer, so the
consumer's read waits for the load that found the record; the TSC must be invariant and shared
by the cores), converted to ns with the calibrated rate. Records are spaced ``1/rate`` apart,
each spacing starting when the previous record was published, so a stall never turns into a
burst: the ring stays empty and what is measured is latency, not queueing. The baselines send
``time.monotonic_ns()`` as a Python int and the consumer reads the same clock on receipt; their
producer sleeps between records (a spinning producer starves ``multiprocessing.Queue``'s
feeder thread of the GIL and measures that instead).

Ring modes: ``slot`` (the consumer spins on the sequence word inside the next slot) and
``cursor`` (it spins on the producer's position). The modes asked for run interleaved in the
same two processes, ``rounds`` blocks of each in turn (plus one warm-up round, discarded),
because a VM's host may move the two vCPUs closer or further apart by itself every few seconds
and a one-way trip then changes by 3x; interleaving makes the modes see the same host. The
per-block medians are returned so the host's moves show. ``"ring"`` is the ring's default mode
(or the first mode asked for); any other sits beside it as ``"ring_<mode>"``.

Throughput (unpaced): the producer publishes one record per claim as fast as the ring lets it,
the consumer takes batches of up to 256; msgs/s = records / (consumer's last receipt -
producer's first send), over interleaved blocks as above. For ``mp.Queue``: one ``put`` /
``get`` per record; for the pipe one 8-byte ``write`` per record, the reader reading whatever
is there (up to 64 KiB) per call.

Each process collects, freezes and disables the garbage collector before timing; the loops are
compiled before the children fork (only the four ring loops, with the exact argument types of
the timed runs). The consumer spins without ``pause`` by default. p99.9 and max carry the host's
stalls (timer ticks, steals) on a VM; they are the host's, not the ring's.
"""

from __future__ import annotations

import gc
import mmap
import multiprocessing as mp
import os
import platform
import resource
import struct
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np
from numba import njit

from ..telemetry import nclock
from ..telemetry.histogram import histogram_of
from . import spsc
from .atomics import cpu_relax, load_acquire, store_release
from .ring import DEFAULT_WAIT_ON, SpscRing

_CTX = mp.get_context("fork")  # the parent compiles; the children inherit the machine code
MODES = ("slot", "cursor")

#: keys of the result that are transports (the rest is "meta")
BASELINES = ("mp_queue", "pipe")
LABELS = {"mp_queue": "multiprocessing.Queue", "pipe": "os.pipe"}


@dataclass
class RingBenchConfig:
    """What to run. Defaults are the full benchmark (about a minute on two free cores)."""

    records: int = 200_000              #: paced records per ring mode
    rate: float = 50_000                #: paced ring records per second
    rounds: int = 20                    #: interleaved latency blocks per ring mode
    throughput_records: int = 20_000_000  #: unpaced records per ring mode
    throughput_rounds: int = 5          #: interleaved throughput blocks per ring mode
    baseline_records: int = 20_000      #: paced records per baseline
    baseline_rate: float = 4_000        #: sleep-paced baseline records per second
    baseline_throughput_records: int = 200_000  #: unpaced records per baseline
    capacity: int = 1024                #: ring slots
    slot_size: int = 64                 #: bytes per slot
    cores: list[int | None] | None = None  #: producer, consumer cores (None: first two allowed)
    pause: bool = False                 #: ``pause`` on each empty poll of the paced consumer
    modes: tuple[str, ...] = field(default_factory=lambda: MODES)

    def check(self) -> None:
        """Raise ValueError naming the first setting that cannot run."""
        for name in ("records", "rounds", "throughput_records", "throughput_rounds",
                     "baseline_records", "baseline_throughput_records"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.records < self.rounds or self.throughput_records < self.throughput_rounds:
            raise ValueError("records must be at least rounds (and throughput_records at least "
                             "throughput_rounds): each round is one block of records")
        if self.rate <= 0 or self.baseline_rate <= 0:
            raise ValueError("rates must be positive (records per second)")
        bad = [m for m in self.modes if m not in MODES]
        if bad or not self.modes:
            raise ValueError(f"ring modes must be among {MODES}, got {list(self.modes)}")
        if self.cores is not None and len(self.cores) != 2:
            raise ValueError(f"cores is producer,consumer: two cores, got {self.cores}")


def pick_cores(cores: list[int | None] | None) -> list[int | None]:
    """The producer and consumer cores: as given, else the first two this process may use,
    else [None, None] (one core: both ends share it and the figures mean little)."""
    if cores is not None:
        return list(cores)
    allowed = sorted(os.sched_getaffinity(0))
    return list(allowed[:2]) if len(allowed) >= 2 else [None, None]


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
    """Run both ends as forked children. If one fails, the other would spin forever waiting
    for it, so it is terminated and the failure reported."""
    procs = {"consumer": _CTX.Process(target=consumer), "producer": _CTX.Process(target=producer)}
    for p in procs.values():
        p.start()
    try:
        while any(p.is_alive() for p in procs.values()):
            for name, p in procs.items():
                p.join(0.05)
                if p.exitcode not in (None, 0):
                    raise RuntimeError(f"benchmark {name} failed with exit code {p.exitcode}")
    finally:
        for p in procs.values():
            if p.is_alive():
                p.terminate()
                p.join()


def ring_cases(args: RingBenchConfig, cores: list[int | None], hz: float) -> dict[str, dict]:
    """Paced latency and unpaced throughput of the ring, every mode in ``args.modes``."""
    modes = tuple(args.modes)
    tag = f"tp-bench-{os.getpid()}"
    rings = {m: SpscRing.create(f"{tag}-{m}", args.capacity, args.slot_size, wait_on=m)
             for m in modes}
    try:
        views = {m: (r.header, r.words) for m, r in rings.items()}
        rounds = args.rounds + 1  # round 0 warms up and is discarded
        block = max(1, args.records // args.rounds)
        order = [(rnd, m) for rnd in range(rounds) for m in modes]
        lat = {m: _shared_i64(rounds * block) for m in modes}
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
        forder = [m for _ in range(n_blocks) for m in modes]
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
    for m in modes:
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


def mp_queue_case(args: RingBenchConfig, cores: list[int | None]) -> dict:
    """``multiprocessing.Queue``: sleep-paced latency, then unpaced throughput."""
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


def pipe_case(args: RingBenchConfig, cores: list[int | None]) -> dict:
    """``os.pipe`` with 8-byte records: sleep-paced latency, then unpaced throughput."""
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


def _compile(modes: tuple[str, ...]) -> None:
    """Compile (or load from cache) the four ring loops with the exact argument types the
    timed runs use (``on_slot`` is a run-time flag: one compile serves both modes)."""
    ring = SpscRing.create(f"tp-bench-warm-{os.getpid()}", 16, 64)
    try:
        hdr, words = ring.header, ring.words
        lat = _shared_i64(4)
        t = _shared_i64(4)
        flags = _shared_i64(4)
        for m in modes:
            ring_producer_paced(hdr, words, 4, 10, flags, 0)
            ring_consumer_latency(hdr, words, 4, m == "slot", False, lat, flags, 0)
            ring_producer_flood(hdr, words, 4, t[0:2], flags, 0)
            ring_consumer_flood(hdr, words, 4, m == "slot", t[0:2], flags, 0)
    finally:
        ring.close()
        ring.unlink()


def run_ring_bench(config: RingBenchConfig | None = None,
                   status: Callable[[str], None] | None = None) -> dict[str, dict]:
    """Run the ring (every mode in ``config.modes``) and both baselines; return the results
    (see the module docstring), ratios included, with the run's settings under ``"meta"``."""
    cfg = config or RingBenchConfig()
    cfg.check()
    say = status or (lambda s: None)
    cores = pick_cores(cfg.cores)
    hz = nclock.tsc_hz()
    say("compiling the ring loops (cached after the first run)")
    _compile(tuple(cfg.modes))
    say(f"ring: {cfg.records:,} paced + {cfg.throughput_records:,} unpaced records per mode")
    rings = ring_cases(cfg, cores, hz)
    main_mode = DEFAULT_WAIT_ON if DEFAULT_WAIT_ON in rings else cfg.modes[0]
    results: dict[str, dict] = {"ring": rings[main_mode]}
    results.update({f"ring_{m}": r for m, r in rings.items() if m != main_mode})
    say(f"multiprocessing.Queue: {cfg.baseline_records:,} paced + "
        f"{cfg.baseline_throughput_records:,} unpaced records")
    results["mp_queue"] = mp_queue_case(cfg, cores)
    say(f"os.pipe: {cfg.baseline_records:,} paced + {cfg.baseline_throughput_records:,} "
        "unpaced records")
    results["pipe"] = pipe_case(cfg, cores)
    for r in results.values():
        for b in BASELINES:
            r[f"ratio_p50_vs_{b}"] = results[b]["p50_ns"] / max(r["p50_ns"], 1)
            r[f"ratio_p99_vs_{b}"] = results[b]["p99_ns"] / max(r["p99_ns"], 1)
            r[f"ratio_msgs_per_s_vs_{b}"] = r["msgs_per_s"] / results[b]["msgs_per_s"]
    results["meta"] = {
        "machine": platform.machine(), "python": platform.python_version(),
        "cpus": os.cpu_count(), "cores": cores, "tsc_hz": hz,
        "tsc_source": nclock.TSC_SOURCE, "tsc_invariant": nclock.tsc_invariant(),
        "default_wait_on": DEFAULT_WAIT_ON, "ring_mode": main_mode,
        "config": {k: (list(v) if isinstance(v, tuple) else v) for k, v in asdict(cfg).items()},
    }
    return results


def transports(results: dict[str, dict]) -> list[tuple[str, str, dict]]:
    """(key, label, figures) of every transport in a result, ring modes first."""
    return [(k, LABELS.get(k, f"ring ({r.get('wait_on')})"), r)
            for k, r in results.items() if k != "meta"]


def fmt_ns(v: float) -> str:
    """A latency for people: ns below 10 µs, µs above."""
    return f"{v / 1000:,.1f} µs" if v >= 10_000 else f"{v:,.0f} ns"
