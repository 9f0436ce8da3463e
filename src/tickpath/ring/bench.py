"""One producer, one consumer, two processes on two cores: the shared-memory SPSC ring against
a compiled kernel hand-off (pipe, eventfd) and against ``multiprocessing.Queue`` and ``os.pipe``
as Python writes them, measured in the same run.

:func:`run_ring_bench` is what ``tickpath bench ring`` and ``bench/ring_1p1c.py`` call; it
returns ``{"ring": {...}, "ring_<mode>": {...}, "pipe_compiled": {...}, "eventfd_compiled":
{...}, "mp_queue": {...}, "pipe": {...}, "meta": {...}}``, every transport with ``p50_ns``,
``p99_ns`` and ``msgs_per_s`` (and p90, p99.9, max, counts, and ratios against every
baseline: the two compiled hand-offs and the two Python ones).

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

Compiled kernel hand-offs (``pipe_compiled``, ``eventfd_compiled``): the like-for-like
baseline. Both ends are numba loops calling libc ``write`` / ``read`` directly
(:mod:`tickpath.ring.libc_io`), paced, stamped and converted exactly like the ring (same rate,
same blocks, interleaved with the ring's modes in the same two processes), so the one
difference is how the consumer learns of a record: it sleeps in a blocking ``read`` and the
kernel wakes it per message, where the ring's consumer spins on shared memory. ``pipe``: the
producer writes the 8-byte stamp into a pipe; the consumer reads up to 64 stamps per call.
``eventfd`` (created with ``eventfd(0, 0)``: blocking, counter semantics): an eventfd *adds*
the values written and a read returns the sum and clears it, so the stamp cannot travel in
it; the producer stores the stamp in a shared-memory slot per record, then writes 1 (the
doorbell); the consumer's read returns how many records were rung since its last read (1
unless it fell behind) and takes their stamps from the slots. Each consumer checks that
stamps strictly increase (in order, none stale or repeated) and that exactly the records sent
arrive. Bounded in time without a per-message cost: the producer's wait for the previous
block has a deadline; a pipe's reader gets end-of-file when the producer's end closes (the
parent closes its copies); and each blocked block is covered by a one-shot ``SIGALRM``
(``setitimer``) that interrupts ``read`` (EINTR) if the block overruns its deadline.

Ring modes: ``slot`` (the consumer spins on the sequence word inside the next slot) and
``cursor`` (it spins on the producer's position). The modes asked for run interleaved in the
same two processes, ``rounds`` blocks of each in turn (plus one warm-up round, discarded),
because a VM's host may move the two vCPUs closer or further apart by itself every few seconds
and a one-way trip then changes by 3x; interleaving makes the modes see the same host. The
per-block medians are returned so the host's moves show. ``"ring"`` is the ring's default mode
(or the first mode asked for); any other sits beside it as ``"ring_<mode>"``.

Throughput (unpaced): the producer publishes one record per claim as fast as the ring lets it,
the consumer takes batches of up to 256; msgs/s = records / (consumer's last receipt -
producer's first send), over interleaved blocks as above. For both pipes (compiled and
Python) one 8-byte ``write`` per record, the reader reading whatever is there (up to 64 KiB)
per call; for the eventfd one ``write`` of 1 per record (a doorbell, no payload; the counter
coalesces, so the reader wakes once per batch) until the counts read add up; for
``mp.Queue`` one ``put`` / ``get`` per record. The compiled hand-offs run their own, smaller
count (``kernel_throughput_records``): with a system call per record they are far slower
than the ring.

Each process collects, freezes and disables the garbage collector before timing; the loops are
compiled before the children fork (the four ring loops and the four kernel hand-off loops,
with the exact argument types of the timed runs). The ring's consumer spins without ``pause``
by default. p99.9 and max carry the host's stalls (timer ticks, steals) on a VM; they are the
host's, not the ring's. The involuntary context switches reported are the two children's over
the whole interleaved paced run (ring modes and hand-offs together).
"""

from __future__ import annotations

import gc
import mmap
import multiprocessing as mp
import os
import platform
import resource
import signal
import struct
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field

import numpy as np
from numba import njit

from ..telemetry import nclock
from ..telemetry.histogram import histogram_of
from . import libc_io, spsc
from .atomics import cpu_relax, load_acquire, store_release
from .ring import DEFAULT_WAIT_ON, SpscRing

_CTX = mp.get_context("fork")  # the parent compiles; the children inherit the machine code
MODES = ("slot", "cursor")

#: compiled kernel hand-offs run beside the ring, and their keys in the result
KERNEL = ("pipe", "eventfd")
KERNEL_KEYS = {"pipe": "pipe_compiled", "eventfd": "eventfd_compiled"}

#: keys of the result that every transport is compared with (compiled first, then Python)
BASELINES = ("pipe_compiled", "eventfd_compiled", "pipe", "mp_queue")
LABELS = {
    "pipe_compiled": "pipe, compiled read/write (kernel wake-up per message)",
    "eventfd_compiled": "eventfd, compiled read/write (kernel wake-up per message)",
    "pipe": "os.pipe (Python, sleep-paced)",
    "mp_queue": "multiprocessing.Queue (Python, sleep-paced)",
}


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
    kernel: tuple[str, ...] = field(default_factory=lambda: KERNEL)  #: compiled hand-offs
    kernel_throughput_records: int = 2_000_000  #: unpaced records per compiled hand-off
    capacity: int = 1024                #: ring slots
    slot_size: int = 64                 #: bytes per slot
    cores: list[int | None] | None = None  #: producer, consumer cores (None: first two allowed)
    pause: bool = False                 #: ``pause`` on each empty poll of the paced consumer
    modes: tuple[str, ...] = field(default_factory=lambda: MODES)

    def check(self) -> None:
        """Raise ValueError naming the first setting that cannot run."""
        for name in ("records", "rounds", "throughput_records", "throughput_rounds",
                     "baseline_records", "baseline_throughput_records",
                     "kernel_throughput_records"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1, got {getattr(self, name)}")
        if self.records < self.rounds or self.throughput_records < self.throughput_rounds \
                or self.kernel_throughput_records < self.throughput_rounds:
            raise ValueError("records must be at least rounds (and throughput_records and "
                             "kernel_throughput_records at least throughput_rounds): each "
                             "round is one block of records")
        if self.rate <= 0 or self.baseline_rate <= 0:
            raise ValueError("rates must be positive (records per second)")
        bad = [m for m in self.modes if m not in MODES]
        if bad or not self.modes:
            raise ValueError(f"ring modes must be among {MODES}, got {list(self.modes)}")
        bad = [k for k in self.kernel if k not in KERNEL]
        if bad or len(set(self.kernel)) != len(self.kernel):
            raise ValueError(f"kernel hand-offs must be distinct, among {KERNEL}, got "
                             f"{list(self.kernel)}")
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


# ----------------------------------------------------------------------------- kernel loops
# The compiled baseline: the same two compiled ends, but each record crosses through the kernel
# (libc write, then a read that sleeps until the kernel wakes it). Statuses, returned rather
# than raised (nothing here may go back to Python per message): 0, one of the K_* codes below,
# or a positive errno of a failed read/write (EINTR: the consumer's deadline alarm fired).

K_OK = 0
K_EOF = -1          #: read returned 0: every write end is closed (the producer is gone)
K_BAD_READ = -2     #: a read returned part of a record, or more records than were sent
K_NO_CONSUMER = -3  #: the consumer did not finish the previous block before the deadline
K_SHORT_WRITE = -4  #: write took fewer than 8 bytes


def kernel_status(code: int) -> str:
    """What a kernel loop's status code means, for an error message."""
    if code > 0:
        why = " (the deadline alarm: no record came)" if code == libc_io.EINTR else ""
        return f"{os.strerror(code)}{why}"
    return {K_OK: "ok", K_EOF: "end of file: the producer's end closed",
            K_BAD_READ: "a read returned a partial record or more records than were sent",
            K_NO_CONSUMER: "the consumer did not finish the previous block in time",
            K_SHORT_WRITE: "a write took fewer than 8 bytes"}.get(code, f"status {code}")


@njit(nogil=True, cache=True, _nrt=False)
def _wait_flag_until(flags, i, deadline):
    """Wait for flags[i]; False if the TSC passes ``deadline`` first."""
    while load_acquire(flags, i) == 0:
        if nclock.rdtsc() > deadline:
            return False
        cpu_relax()
    return True


@njit(nogil=True, cache=True, _nrt=False)
def _io_status(r):
    """The status of a failed read/write that returned ``r`` (<= 0)."""
    return libc_io.errno() if r < 0 else K_EOF


@njit(nogil=True, cache=True, _nrt=False)
def kernel_producer_paced(fd, buf, doorbell, slots, n, gap_ticks, flags, block, wait_ticks):
    """Send ``n`` records ``gap_ticks`` apart, paced as :func:`ring_producer_paced`.

    A pipe (``doorbell`` False): ``write(fd, rdtsc, 8)``. An eventfd (``doorbell`` True):
    ``slots[i] = rdtsc``, then ``write(fd, 1, 8)``: the eventfd adds what is written, so it
    carries the count and the stamp travels in shared memory. Waits first (at most
    ``wait_ticks``) until the consumer has finished block ``block - 1``. Returns a status."""
    if block > 0 and not _wait_flag_until(flags, block - 1, nclock.rdtsc() + wait_ticks):
        return K_NO_CONSUMER
    buf[0] = 1
    for i in range(n):
        t_next = nclock.rdtsc() + gap_ticks
        while nclock.rdtsc() < t_next:
            pass
        if doorbell:
            store_release(slots, i, nclock.rdtsc())
        else:
            buf[0] = nclock.rdtsc()
        r = libc_io.write(fd, buf, 8)
        if r != 8:
            return _io_status(r) if r <= 0 else K_SHORT_WRITE
    return K_OK


@njit(nogil=True, cache=True, _nrt=False)
def kernel_consumer_latency(fd, buf, doorbell, slots, n, lat, flags, block):
    """Block in ``read`` for each of ``n`` records; ``lat[i]`` = rdtscp() - stamp of record i.

    A pipe: read up to 64 stamps per call (more than one only when it fell behind, as the
    ring's consumer takes up to 64). An eventfd: the 8 bytes read are the number of records
    rung since the last read; their stamps are in ``slots``. Sets flags[block] at the end.
    Returns (records received, records whose stamp did not increase, reads that returned
    records, status): more records than reads means the consumer fell behind and caught up."""
    got = 0
    bad = 0
    reads = 0
    prev = 0  # TSC stamps are positive and only grow: a stale or repeated one shows
    while got < n:
        want = 8 if doorbell else 8 * min(buf.size, n - got)
        r = libc_io.read(fd, buf, want)
        if r <= 0:
            return got, bad, reads, _io_status(r)
        now = nclock.rdtscp()
        if doorbell:
            k = buf[0]
        else:
            k = r >> 3
            if r & 7:
                return got, bad, reads, K_BAD_READ
        if k < 1 or got + k > n:
            return got, bad, reads, K_BAD_READ
        reads += 1
        for j in range(k):
            stamp = load_acquire(slots, got) if doorbell else buf[j]
            if stamp <= prev:
                bad += 1
            prev = stamp
            lat[got] = now - stamp
            got += 1
    store_release(flags, block, 1)
    return got, bad, reads, K_OK


@njit(nogil=True, cache=True, _nrt=False)
def kernel_producer_flood(fd, buf, doorbell, n, t, flags, block, wait_ticks):
    """``n`` writes as fast as the kernel takes them: a pipe gets the 8-byte index ``i``, an
    eventfd the value 1. t[0] = rdtsc at the first. Returns a status."""
    if block > 0 and not _wait_flag_until(flags, block - 1, nclock.rdtsc() + wait_ticks):
        return K_NO_CONSUMER
    t[0] = nclock.rdtsc()
    for i in range(n):
        buf[0] = 1 if doorbell else i
        r = libc_io.write(fd, buf, 8)
        if r != 8:
            return _io_status(r) if r <= 0 else K_SHORT_WRITE
    return K_OK


@njit(nogil=True, cache=True, _nrt=False)
def kernel_consumer_flood(fd, buf, doorbell, n, t, flags, block):
    """Read until ``n`` records came: a pipe, whatever is there (up to ``buf``'s size) per call,
    summing the indices; an eventfd, the count rung since the last read. t[1] = rdtsc after
    the last. Returns (records, sum of the indices: n(n-1)/2 for a pipe, status)."""
    got = 0
    total = 0
    while got < n:
        want = 8 if doorbell else 8 * min(buf.size, n - got)
        r = libc_io.read(fd, buf, want)
        if r <= 0:
            return got, total, _io_status(r)
        if doorbell:
            k = buf[0]
        else:
            k = r >> 3
            if r & 7:
                return got, total, K_BAD_READ
            for j in range(k):
                total += buf[j]
        if k < 1 or got + k > n:
            return got, total, K_BAD_READ
        got += k
    t[1] = nclock.rdtsc()
    store_release(flags, block, 1)
    return got, total, K_OK


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


def _run_pair(producer, consumer, started: Callable[[], None] | None = None) -> None:
    """Run both ends as forked children. If one fails, the other would spin forever waiting
    for it, so it is terminated and the failure reported. ``started`` runs in the parent once
    both children exist (to close the parent's copies of descriptors they now own)."""
    procs = {"consumer": _CTX.Process(target=consumer), "producer": _CTX.Process(target=producer)}
    try:
        for p in procs.values():
            p.start()
        if started is not None:
            started()
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


@dataclass
class _Link:
    """One compiled kernel hand-off between the two children: a pipe (the 8-byte records
    travel in it) or an eventfd (a doorbell; stamps travel in ``slots``, shared memory)."""

    kind: str
    rfd: int
    wfd: int
    slots: np.ndarray

    @classmethod
    def open(cls, kind: str, n_slots: int) -> _Link:
        if kind == "pipe":
            r, w = os.pipe()
            return cls(kind, r, w, np.zeros(1, np.int64))
        # libc eventfd(0, 0): blocking, counter semantics (a read returns the sum and clears it)
        efd = os.eventfd(0, 0)
        return cls(kind, efd, efd, _shared_i64(n_slots))

    @property
    def doorbell(self) -> bool:
        return self.kind == "eventfd"

    def keep_only(self, fd: int) -> None:
        """In a child: close the pipe's other end, so that end's owner going away is seen
        (the reader gets end-of-file, the writer EPIPE)."""
        for other in {self.rfd, self.wfd} - {fd}:
            os.close(other)

    def close(self) -> None:
        """In the parent, once the children hold their ends (or if they never started).
        Once only: a descriptor number closed twice may by then name another file."""
        fds, self.rfd, self.wfd = {self.rfd, self.wfd} - {-1}, -1, -1
        for fd in fds:
            os.close(fd)


def _ignore_signal(signum, frame) -> None:
    return None


def _arm_alarm(seconds: float) -> None:
    """A one-shot SIGALRM after ``seconds`` (0 disarms). Python installs its handlers without
    SA_RESTART, so a ``read`` blocked when it fires returns EINTR and the compiled consumer
    returns: a bound on a blocked wait that costs nothing per message."""
    signal.setitimer(signal.ITIMER_REAL, seconds)


#: per-record time allowed to a compiled hand-off's unpaced run before its deadline alarm
_FLOOD_ALLOWANCE_S = 50e-6


def compiled_cases(args: RingBenchConfig, cores: list[int | None],
                   hz: float) -> dict[str, dict]:
    """Paced latency and unpaced throughput of the ring (every mode in ``args.modes``) and of
    the compiled kernel hand-offs (every one in ``args.kernel``), interleaved in the same two
    processes. Keys: the ring modes and the hand-off kinds."""
    modes = tuple(args.modes)
    kinds = tuple(args.kernel)
    cases = modes + kinds
    tag = f"tp-bench-{os.getpid()}"
    rings = {m: SpscRing.create(f"{tag}-{m}", args.capacity, args.slot_size, wait_on=m)
             for m in modes}
    links: list[_Link] = []
    # kernel failures, for the parent's message: side (1 producer, 2 consumer), case, status, got
    fail = _shared_i64(4)

    def failed(side: int, case: str, code: int, got: int, n: int) -> None:
        fail[:] = (side, cases.index(case), code, got)
        raise RuntimeError(f"{case}: {got} of {n} records, {kernel_status(code)}")

    def run(producer, consumer, these: dict[str, _Link]) -> None:
        try:
            _run_pair(producer, consumer, started=lambda: [k.close() for k in these.values()])
        except RuntimeError as e:
            if fail[0]:
                side = "producer" if fail[0] == 1 else "consumer"
                raise RuntimeError(f"{cases[fail[1]]} {side} stopped after {fail[3]} records: "
                                   f"{kernel_status(int(fail[2]))}") from e
            raise
        finally:
            for k in these.values():
                k.close()

    try:
        views = {m: (r.header, r.words) for m, r in rings.items()}
        rounds = args.rounds + 1  # round 0 warms up and is discarded
        block = max(1, args.records // args.rounds)
        order = [(rnd, c) for rnd in range(rounds) for c in cases]
        lat = {c: _shared_i64(rounds * block) for c in cases}
        flags = _shared_i64(len(order))
        status = _shared_i64(4)  # out-of-order count; involuntary switches: producer, consumer
        reads = _shared_i64(len(order))  # per kernel block: reads that returned records
        gap = int(hz / args.rate)
        paced = {k: _Link.open(k, block) for k in kinds}
        links.extend(paced.values())
        block_s = block / args.rate
        wait_ticks = int(hz * (30 + 4 * block_s))  # the producer's bound on the previous block
        alarm_s = 30 + 4 * block_s                 # the blocked consumer's bound on one block

        def producer():
            for k in paced.values():
                k.keep_only(k.wfd)
            _quiet(cores[0])
            buf = np.zeros(1, np.int64)
            before = resource.getrusage(resource.RUSAGE_SELF).ru_nivcsw
            for b, (_, c) in enumerate(order):
                if c in views:
                    ring_producer_paced(*views[c], block, gap, flags, b)
                    continue
                k = paced[c]
                code = kernel_producer_paced(k.wfd, buf, k.doorbell, k.slots, block, gap,
                                             flags, b, wait_ticks)
                if code != K_OK:
                    failed(1, c, code, 0, block)
            status[1] = resource.getrusage(resource.RUSAGE_SELF).ru_nivcsw - before

        def consumer():
            for k in paced.values():
                k.keep_only(k.rfd)
            signal.signal(signal.SIGALRM, _ignore_signal)
            _quiet(cores[1])
            buf = np.zeros(64, np.int64)
            before = resource.getrusage(resource.RUSAGE_SELF).ru_nivcsw
            for b, (rnd, c) in enumerate(order):
                out = lat[c][rnd * block:(rnd + 1) * block]
                if c in views:
                    status[0] += ring_consumer_latency(*views[c], block, c == "slot",
                                                       args.pause, out, flags, b)
                    continue
                k = paced[c]
                _arm_alarm(alarm_s)
                got, bad, reads[b], code = kernel_consumer_latency(k.rfd, buf, k.doorbell,
                                                                   k.slots, block, out, flags, b)
                _arm_alarm(0)
                status[0] += bad
                if code != K_OK or got != block:
                    failed(2, c, code, got, block)
            status[2] = resource.getrusage(resource.RUSAGE_SELF).ru_nivcsw - before

        run(producer, consumer, paced)
        if status[0]:
            raise RuntimeError(f"latency run saw {status[0]} records out of order")

        n_blocks = max(1, args.throughput_rounds)
        fblock = max(1, args.throughput_records // n_blocks)
        kblock = max(1, args.kernel_throughput_records // n_blocks)
        sizes = {c: (fblock if c in views else kblock) for c in cases}
        forder = [c for _ in range(n_blocks) for c in cases]
        fflags = _shared_i64(len(forder))
        ts = _shared_i64(2 * len(forder))
        sums = _shared_i64(len(forder))
        flood = {k: _Link.open(k, 1) for k in kinds}
        links.extend(flood.values())
        kflood_s = kblock * _FLOOD_ALLOWANCE_S
        fwait_ticks = int(hz * (30 + 4 * kflood_s))
        before = {m: r.counters() for m, r in rings.items()}

        def producer_flood():
            for k in flood.values():
                k.keep_only(k.wfd)
            _quiet(cores[0])
            buf = np.zeros(1, np.int64)
            for b, c in enumerate(forder):
                t = ts[2 * b:2 * b + 2]
                if c in views:
                    ring_producer_flood(*views[c], fblock, t, fflags, b)
                    continue
                k = flood[c]
                code = kernel_producer_flood(k.wfd, buf, k.doorbell, kblock, t, fflags, b,
                                             fwait_ticks)
                if code != K_OK:
                    failed(1, c, code, 0, kblock)

        def consumer_flood():
            for k in flood.values():
                k.keep_only(k.rfd)
            signal.signal(signal.SIGALRM, _ignore_signal)
            _quiet(cores[1])
            buf = np.zeros(8192, np.int64)  # 64 KiB: the pipe's whole buffer in one read
            for b, c in enumerate(forder):
                t = ts[2 * b:2 * b + 2]
                if c in views:
                    sums[b] = ring_consumer_flood(*views[c], fblock, c == "slot", t, fflags, b)
                    continue
                k = flood[c]
                _arm_alarm(30 + 4 * kflood_s)
                got, total, code = kernel_consumer_flood(k.rfd, buf, k.doorbell, kblock, t,
                                                         fflags, b)
                _arm_alarm(0)
                if code != K_OK or got != kblock:
                    failed(2, c, code, got, kblock)
                # the eventfd carries no payload: its count is the check
                sums[b] = kblock * (kblock - 1) // 2 if k.doorbell else total

        run(producer_flood, consumer_flood, flood)
        if any(int(sums[b]) != sizes[c] * (sizes[c] - 1) // 2 for b, c in enumerate(forder)):
            raise RuntimeError("throughput run lost or repeated records")
        after = {m: r.counters() for m, r in rings.items()}
    finally:
        for r in rings.values():
            r.close()
            r.unlink()
        for k in links:
            k.close()

    out = {}
    for c in cases:
        samples = (lat[c][block:] * (1e9 / hz)).astype(np.int64)
        per_block = np.median(samples.reshape(args.rounds, block), axis=1)
        secs = sum((ts[2 * b + 1] - ts[2 * b]) / hz for b, fc in enumerate(forder) if fc == c)
        res = _latency_summary(samples)
        res.update(msgs_per_s=sizes[c] * n_blocks / secs, throughput_records=sizes[c] * n_blocks,
                   block_p50_ns=[float(x) for x in per_block],
                   involuntary_switches={"producer": int(status[1]),
                                         "consumer": int(status[2])})
        if c in rings:
            m = c
            res.update(wait_on=m,
                       flood_full=after[m]["full"] - before[m]["full"],
                       flood_empty_polls=after[m]["empty_polls"] - before[m]["empty_polls"],
                       flood_batches=after[m]["batches"] - before[m]["batches"])
        else:  # 1.0 when every record had a wake-up of its own (rounds after the warm-up)
            n_reads = sum(int(reads[b]) for b, (rnd, oc) in enumerate(order)
                          if oc == c and rnd > 0)
            res.update(handoff=c, records_per_read=samples.size / max(n_reads, 1))
        out[c] = res
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


def _compile(modes: tuple[str, ...], kinds: tuple[str, ...]) -> None:
    """Compile (or load from cache) the four ring loops and the four kernel hand-off loops with
    the exact argument types the timed runs use (``on_slot`` and ``doorbell`` are run-time
    flags: one compile serves both modes, both hand-offs)."""
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
    for kind in kinds:  # one thread: 4 records fit in the pipe (or the counter) before reading
        link = _Link.open(kind, 4)
        try:
            one, many = np.zeros(1, np.int64), np.zeros(64, np.int64)
            flags = _shared_i64(4)
            for code in (kernel_producer_paced(link.wfd, one, link.doorbell, link.slots, 4, 10,
                                               flags, 0, 1),
                         kernel_consumer_latency(link.rfd, many, link.doorbell, link.slots, 4,
                                                 lat, flags, 0)[3],
                         kernel_producer_flood(link.wfd, one, link.doorbell, 4, t[0:2], flags,
                                               0, 1),
                         kernel_consumer_flood(link.rfd, many, link.doorbell, 4, t[0:2], flags,
                                               0)[2]):
                if code != K_OK:
                    raise RuntimeError(f"compiled {kind} hand-off: {kernel_status(code)}")
        finally:
            link.close()


def run_ring_bench(config: RingBenchConfig | None = None,
                   status: Callable[[str], None] | None = None) -> dict[str, dict]:
    """Run the ring (every mode in ``config.modes``), the compiled kernel hand-offs (every one
    in ``config.kernel``) and both Python baselines; return the results (see the module
    docstring), ratios included, with the run's settings under ``"meta"``."""
    cfg = config or RingBenchConfig()
    cfg.check()
    say = status or (lambda s: None)
    cores = pick_cores(cfg.cores)
    hz = nclock.tsc_hz()
    kinds = tuple(cfg.kernel)
    say("compiling the ring and kernel hand-off loops (cached after the first run)")
    _compile(tuple(cfg.modes), kinds)
    say(f"ring{''.join(f' + compiled {k}' for k in kinds)}, interleaved: {cfg.records:,} "
        f"paced records each, {cfg.throughput_records:,} unpaced per ring mode"
        + (f", {cfg.kernel_throughput_records:,} per hand-off" if kinds else ""))
    cases = compiled_cases(cfg, cores, hz)
    main_mode = DEFAULT_WAIT_ON if DEFAULT_WAIT_ON in cfg.modes else cfg.modes[0]
    results: dict[str, dict] = {"ring": cases[main_mode]}
    results.update({f"ring_{m}": cases[m] for m in cfg.modes if m != main_mode})
    results.update({KERNEL_KEYS[k]: cases[k] for k in kinds})
    say(f"os.pipe: {cfg.baseline_records:,} paced + {cfg.baseline_throughput_records:,} "
        "unpaced records")
    results["pipe"] = pipe_case(cfg, cores)
    say(f"multiprocessing.Queue: {cfg.baseline_records:,} paced + "
        f"{cfg.baseline_throughput_records:,} unpaced records")
    results["mp_queue"] = mp_queue_case(cfg, cores)
    for r in results.values():
        for b in baselines(results):
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


def baselines(results: dict[str, dict]) -> list[str]:
    """The baselines present in a result, in :data:`BASELINES` order."""
    return [b for b in BASELINES if b in results]


def transports(results: dict[str, dict]) -> list[tuple[str, str, dict]]:
    """(key, label, figures) of every transport in a result: ring modes, compiled hand-offs,
    Python baselines."""
    return [(k, LABELS.get(k, f"ring ({r.get('wait_on')}): compiled, consumer spins"), r)
            for k, r in results.items() if k != "meta"]


def rows_note(results: dict[str, dict]) -> str:
    """One line saying what differs between the rows of a result's table."""
    cfg = results["meta"]["config"]
    kernel = " and compiled pipe/eventfd" if any(KERNEL_KEYS[k] in results for k in KERNEL) \
        else ""
    wake = ("; the ring's consumer spins on shared memory, the compiled pipe/eventfd consumer "
            "sleeps in read() until the kernel wakes it per message") if kernel else ""
    return (f"Rows differ in: ring{kernel} rows are numba loops at both ends, paced at "
            f"{cfg['rate']:,.0f}/s on the TSC, stamped rdtsc -> rdtscp{wake}; the Python rows "
            f"run the interpreter per message, paced by time.sleep at "
            f"{cfg['baseline_rate']:,.0f}/s, stamped with time.monotonic_ns().")


def fmt_ns(v: float) -> str:
    """A latency for people: ns below 10 µs, µs above."""
    return f"{v / 1000:,.1f} µs" if v >= 10_000 else f"{v:,.0f} ns"
