"""What the operating system (and a hypervisor) takes from a pinned core: ``tickpath tune jitter``.

A compiled loop reads a clock back to back on one core for a fixed time. Between two reads
nothing but the loop runs, so a gap much longer than one read (a few ns) is time the core spent
elsewhere: a timer tick, an interrupt, a kernel thread, a vCPU stall. Every gap above a threshold
is an *interruption*; its start and length go into preallocated arrays, and a fixed bucket
histogram plus the count, the total and the worst are kept in the loop itself, so they stay
exact even when the arrays fill up (further gaps are counted as ``overflow``, and only the
percentiles, taken from the recorded lengths, lose them).

The idea is that of ``sysjitter`` (OpenOnload) and ``hiccups``: run it on an isolated core and on
a housekeeping core side by side, and the difference is what isolation buys on this host.

Clock: the TSC (plain ``rdtsc``, about 10 ns a read) when it is invariant, else CLOCK_MONOTONIC
through the vDSO (about 20-30 ns a read); both from :mod:`tickpath.telemetry.nclock`.

    kernel  _spin(...)       nopython, nogil; never returns to Python during the run
    owner   measure(...)     validates, pins, warms, disables the GC, runs, labels the result
            measure_cores()  one core after the other
"""

from __future__ import annotations

import gc
import math
import os
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from numba import njit

from ..telemetry.histogram import histogram_of
from ..telemetry.nclock import TSC_SOURCE, monotonic_ns, rdtsc, tsc_hz, tsc_invariant
from .host import format_cpulist, parse_cpulist

#: Upper edges of the interruption-length buckets in ns; the last bucket is open.
BUCKET_EDGES_NS = (1_000, 2_000, 5_000, 10_000, 20_000, 50_000, 100_000, 1_000_000, 10_000_000)
BUCKET_LABELS = ("<1 µs", "1-2 µs", "2-5 µs", "5-10 µs", "10-20 µs", "20-50 µs", "50-100 µs",
                 "100-1000 µs", "1-10 ms", ">10 ms")
PERCENTILES = (("p50", 50.0), ("p99", 99.0), ("p999", 99.9))

#: Gaps whose start and length are kept; later ones are only counted (and bucketed).
DEFAULT_CAPACITY = 1 << 20

# the kernel's results, in clock units (out[...])
_RECORDED, _OVERFLOW, _TOTAL_GAP, _WORST, _SPAN, _READS = range(6)

_SYS_CPU = Path("/sys/devices/system/cpu")


@njit(nogil=True, cache=True)
def _spin(use_tsc, duration, threshold, edges, gap_at, gap_len, buckets, out):
    """Read the clock back to back for ``duration`` clock units; record gaps over ``threshold``.

    ``gap_at[i]`` is where gap i began (units since the start), ``gap_len[i]`` its length;
    ``buckets[k]`` counts gaps with ``edges[k-1] <= length < edges[k]`` (all gaps, recorded or
    not). Results go to ``out`` (see the ``_RECORDED`` .. ``_READS`` indices).
    """
    capacity = gap_at.shape[0]
    nedges = edges.shape[0]
    recorded = 0
    overflow = 0
    total_gap = 0
    worst = 0
    reads = 0
    t0 = rdtsc() if use_tsc else monotonic_ns()
    end = t0 + duration
    prev = t0
    now = t0
    while now < end:
        now = rdtsc() if use_tsc else monotonic_ns()
        reads += 1
        d = now - prev
        if d > threshold:
            if recorded < capacity:
                gap_at[recorded] = prev - t0
                gap_len[recorded] = d
                recorded += 1
            else:
                overflow += 1
            total_gap += d
            if d > worst:
                worst = d
            k = 0
            while k < nedges and d >= edges[k]:
                k += 1
            buckets[k] += 1
        prev = now
    out[_RECORDED] = recorded
    out[_OVERFLOW] = overflow
    out[_TOTAL_GAP] = total_gap
    out[_WORST] = worst
    out[_SPAN] = now - t0
    out[_READS] = reads


def _sys_cpulist(name: str, root: Path = _SYS_CPU) -> set[int] | None:
    try:
        return parse_cpulist((root / name).read_text())
    except (OSError, ValueError):
        return None


def isolated_cores(root: Path = _SYS_CPU) -> set[int]:
    """Cores removed from the scheduler's balancing (``isolcpus=``), from sysfs."""
    return _sys_cpulist("isolated", root) or set()


def nohz_full_cores(root: Path = _SYS_CPU) -> set[int]:
    """Cores running without the periodic tick when busy (``nohz_full=``); empty when none."""
    return _sys_cpulist("nohz_full", root) or set()


@dataclass
class JitterReport:
    """One run of the jitter loop on one core. Lengths and times in nanoseconds."""

    core: int | None              # the core it was pinned to (None: not pinned)
    isolated: bool | None         # listed in /sys/devices/system/cpu/isolated (None: not pinned)
    nohz_full: bool | None        # listed in /sys/devices/system/cpu/nohz_full
    clock: str                    # "tsc" or "monotonic"
    threshold_ns: int             # gaps longer than this are interruptions
    seconds: float                # span of the loop, first read to last
    reads: int                    # clock reads in the loop
    interruptions: int            # gaps above the threshold (recorded + overflow)
    recorded: int                 # of which start and length were kept
    overflow: int                 # of which only counted: the arrays were full
    capacity: int                 # size of the arrays
    interrupted_ns: int           # sum of the interruptions' lengths
    share: float                  # interrupted_ns / span: fraction of the time taken away
    worst_ns: int                 # the longest interruption (0 when none)
    buckets: dict[str, int]       # interruptions by length, BUCKET_LABELS order; sums to count
    percentiles_ns: dict[str, int]  # p50/p99/p999/max of recorded lengths (HdrHistogram)
    tsc_hz: float | None = None   # the TSC rate used to convert ticks (clock "tsc")
    gap_at_ns: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64), repr=False)
    gap_ns: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64), repr=False)

    @property
    def read_ns(self) -> float:
        """Average time of one read outside interruptions: the loop's resolution."""
        quiet = self.seconds * 1e9 - self.interrupted_ns
        return quiet / max(self.reads - self.interruptions, 1)

    def as_dict(self, gaps: bool = False) -> dict:
        """Plain JSON-ready fields; ``gaps=True`` adds every recorded (start, length) pair."""
        d = asdict(self)
        d.pop("gap_at_ns")
        d.pop("gap_ns")
        d["read_ns"] = self.read_ns
        if gaps:
            d["gaps"] = np.stack([self.gap_at_ns, self.gap_ns], axis=1).tolist()
        return d


def _check_core(core: int | None) -> set[int]:
    allowed = os.sched_getaffinity(0)
    if core is None:
        return allowed
    if isinstance(core, bool) or not isinstance(core, (int, np.integer)):
        raise TypeError(f"core must be an integer core number or None, not {core!r}")
    if core < 0 or core not in allowed:
        raise ValueError(f"core {core} is not one this process may run on "
                         f"(allowed: {format_cpulist(allowed)}; host has {os.cpu_count()})")
    return allowed


def _resolve_clock(clock: str) -> bool:
    """True for the TSC, False for CLOCK_MONOTONIC."""
    if clock == "auto":
        return TSC_SOURCE == "rdtsc" and tsc_invariant()
    if clock == "tsc":
        if TSC_SOURCE != "rdtsc":
            raise ValueError(f"no TSC to read here (TSC reads fall back to {TSC_SOURCE}); "
                             "use clock='monotonic'")
        return True
    if clock == "monotonic":
        return False
    raise ValueError(f"clock must be 'auto', 'tsc' or 'monotonic', not {clock!r}")


def _check_args(seconds: float, threshold_ns: int, capacity: int, clock: str) -> bool:
    """Refuse bad arguments with the reason; returns True for the TSC clock."""
    if isinstance(seconds, bool) or not isinstance(seconds, (int, float)) \
            or not math.isfinite(seconds) or seconds <= 0:
        raise ValueError(f"seconds must be a positive number, not {seconds!r}")
    if isinstance(threshold_ns, bool) or not isinstance(threshold_ns, (int, np.integer)) \
            or threshold_ns < 0:
        raise ValueError(f"threshold_ns must be an integer >= 0, not {threshold_ns!r}")
    if isinstance(capacity, bool) or not isinstance(capacity, (int, np.integer)) or capacity < 1:
        raise ValueError(f"capacity must be an integer >= 1, not {capacity!r}")
    return _resolve_clock(clock)


def _run(use_tsc: bool, duration: int, threshold: int, edges: np.ndarray, capacity: int):
    gap_at = np.empty(capacity, np.int64)
    gap_len = np.empty(capacity, np.int64)
    gap_at.fill(0)  # written now, so no page is first touched (faulted in) inside the loop
    gap_len.fill(0)
    buckets = np.zeros(len(BUCKET_LABELS), np.int64)
    out = np.zeros(6, np.int64)
    _spin(use_tsc, np.int64(duration), np.int64(threshold), edges, gap_at, gap_len, buckets, out)
    return gap_at, gap_len, buckets, out


def measure(core: int | None, seconds: float, threshold_ns: int = 1000, *,
            capacity: int = DEFAULT_CAPACITY, clock: str = "auto") -> JitterReport:
    """Spin on ``core`` for ``seconds`` and report every gap between reads over ``threshold_ns``.

    The calling thread is pinned to ``core`` for the run and its previous affinity restored
    afterwards (``core=None`` measures wherever the scheduler puts it). The garbage collector
    is off during the run, and the loop is compiled and warmed before it. Blocks for
    ``seconds`` plus, the first time in a process, the TSC calibration (0.1 s) and loading or
    compiling the loop.
    """
    allowed = _check_core(core)
    use_tsc = _check_args(seconds, threshold_ns, capacity, clock)
    hz = tsc_hz() if use_tsc else 1e9
    per_ns = hz / 1e9

    def units(ns: float) -> int:
        return int(math.ceil(ns * per_ns)) if use_tsc else int(ns)

    edges = np.array([units(e) for e in BUCKET_EDGES_NS], np.int64)
    duration, threshold = units(seconds * 1e9), units(threshold_ns)

    _run(use_tsc, units(1e5), threshold, edges, 1)  # compile or load from cache; warm the code

    gc_was_enabled = gc.isenabled()
    gc.collect()
    gc.freeze()
    gc.disable()
    if core is not None:
        os.sched_setaffinity(0, {int(core)})
    try:
        _run(use_tsc, units(1e5), threshold, edges, 1)  # settle on the core
        gap_at, gap_len, buckets, out = _run(use_tsc, duration, threshold, edges, capacity)
    finally:
        if core is not None:
            os.sched_setaffinity(0, allowed)
        gc.unfreeze()
        if gc_was_enabled:
            gc.enable()

    def to_ns(x):
        if isinstance(x, np.ndarray):
            return np.rint(x / per_ns).astype(np.int64)
        return int(round(x / per_ns))

    recorded = int(out[_RECORDED])
    lengths = to_ns(gap_len[:recorded]) if use_tsc else gap_len[:recorded].copy()
    starts = to_ns(gap_at[:recorded]) if use_tsc else gap_at[:recorded].copy()
    span_ns = to_ns(int(out[_SPAN]))
    interrupted = to_ns(int(out[_TOTAL_GAP]))
    pct: dict[str, int] = {}
    if recorded:
        h = histogram_of(lengths)
        pct = {name: int(h.get_value_at_percentile(p)) for name, p in PERCENTILES}
        pct["max"] = int(lengths.max())
    iso, nohz = isolated_cores(), nohz_full_cores()
    return JitterReport(
        core=None if core is None else int(core),
        isolated=None if core is None else int(core) in iso,
        nohz_full=None if core is None else int(core) in nohz,
        clock="tsc" if use_tsc else "monotonic",
        threshold_ns=int(threshold_ns),
        seconds=span_ns / 1e9,
        reads=int(out[_READS]),
        interruptions=recorded + int(out[_OVERFLOW]),
        recorded=recorded,
        overflow=int(out[_OVERFLOW]),
        capacity=int(capacity),
        interrupted_ns=interrupted,
        share=min(interrupted / span_ns, 1.0) if span_ns > 0 else 0.0,
        worst_ns=to_ns(int(out[_WORST])),
        buckets=dict(zip(BUCKET_LABELS, (int(b) for b in buckets), strict=True)),
        percentiles_ns=pct,
        tsc_hz=hz if use_tsc else None,
        gap_at_ns=starts,
        gap_ns=lengths,
    )


def measure_cores(cores: Sequence[int] | None, seconds: float, threshold_ns: int = 1000, *,
                  capacity: int = DEFAULT_CAPACITY, clock: str = "auto",
                  on_core: Callable[[int], None] | None = None) -> list[JitterReport]:
    """:func:`measure` on each core in turn (default: every core this process may run on).

    Every core is checked before the first run starts; ``on_core(core)`` is called before each.
    """
    if cores is None:
        cores = sorted(os.sched_getaffinity(0))
    if not cores:
        raise ValueError("no cores to measure")
    for c in cores:  # refuse before spending time on the first one
        _check_core(c)
    _check_args(seconds, threshold_ns, capacity, clock)
    reports = []
    for c in cores:
        if on_core is not None:
            on_core(c)
        reports.append(measure(c, seconds, threshold_ns, capacity=capacity, clock=clock))
    return reports


def host_facts() -> dict[str, object]:
    """The host context a jitter result should be read with."""
    try:
        clocksource = (_SYS_CPU.parent / "clocksource/clocksource0/current_clocksource") \
            .read_text().strip()
    except OSError:
        clocksource = None
    return {
        "cpus": os.cpu_count(),
        "allowed": format_cpulist(os.sched_getaffinity(0)),
        "isolated": format_cpulist(isolated_cores()),
        "nohz_full": format_cpulist(nohz_full_cores()),
        "clocksource": clocksource,
        "tsc_source": TSC_SOURCE,
        "tsc_invariant": tsc_invariant(),
    }


def _us(ns: float) -> str:
    if ns >= 1_000_000:
        return f"{ns / 1e6:,.2f} ms"
    return f"{ns / 1e3:,.1f} µs"


def jitter_table(reports: Sequence[JitterReport]):
    """A rich table with one column per core, for the CLI."""
    from rich.table import Table

    iso = isolated_cores()
    title = "interruptions of a pinned spinning loop"
    title += (f" (isolated cores: {format_cpulist(iso)})" if iso
              else " (no isolated cores on this host)")
    t = Table(title=title)
    t.add_column("")
    for r in reports:
        t.add_column("unpinned" if r.core is None else f"core {r.core}", justify="right")

    def row(name: str, values: Iterable[str]) -> None:
        t.add_row(name, *values)

    row("isolated", ("-" if r.isolated is None else "yes" if r.isolated else "no"
                     for r in reports))
    row("clock", (f"{r.clock}, {r.read_ns:.0f} ns/read" for r in reports))
    row("seconds", (f"{r.seconds:.2f}" for r in reports))
    row(f"interruptions > {_us(reports[0].threshold_ns) if reports else ''}",
        (f"{r.interruptions:,}" + (f" ({r.overflow:,} not recorded)" if r.overflow else "")
         for r in reports))
    row("per second", (f"{r.interruptions / max(r.seconds, 1e-9):,.0f}" for r in reports))
    row("share of time", (f"{r.share * 100:.3f} %" for r in reports))
    row("worst", (_us(r.worst_ns) for r in reports))
    for name, _ in (*PERCENTILES, ("max", 0)):
        row(f"length {name}", (_us(r.percentiles_ns[name]) if r.percentiles_ns else "-"
                               for r in reports))
    for label in BUCKET_LABELS:
        if label == BUCKET_LABELS[0] and not any(r.buckets[label] for r in reports):
            continue
        row(label, (f"{r.buckets[label]:,}" for r in reports))
    return t
