"""``tickpath bench stacks``: the traditional stack against the optimized one, factor by
factor, in a calm market and through a burst, over a veth pair.

One simulated day, published by the venue in the "exchange" namespace (pinned to core 0) in
three phases: calm (``rate`` messages/s), a burst (``rate * factor`` for ``burst_s``), calm
again. Each row receives it in the "host" namespace (pinned to core 1) as one of the stacks:

==========  ===========  ========  ==================================================
transport   feed         code      what it is
==========  ===========  ========  ==================================================
socket      snapshot     python    a kernel socket and the full-book snapshot feed,
                                   decoded in plain Python: what a Python user writes
recv        snapshot     compiled  the same socket woken per datagram, compiled code
recv        incremental  compiled  the incremental ITCH feed instead of snapshots
busypoll,   incremental  compiled  the kernel's slow path bypassed (a spinning
packet,                            ``recvmmsg``, an AF_PACKET ring, AF_XDP)
xdp
==========  ===========  ========  ==================================================

The snapshot feed (docs/snapshot-feed.md) carries the same market as the incremental one:
one Book Snapshot per ITCH message that changes a book, paced so each phase lasts as long on
both feeds. Per row and phase: send stamp -> book latency (p50, p99, p99.9, max), datagrams
the venue sent that never reached the book, the time-weighted mean staleness of the book
(at each moment, how long the oldest change the venue has sent is already waiting; 0 when
the book has everything sent), bytes on the wire, and the CPU of the receiving core and of
the venue's (user, system, softirq, from /proc/stat); per row: the receiving process's CPU
time and context switches.
"""

from __future__ import annotations

import json
import os
import resource
import select
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np

GROUP, PORT = "233.54.12.21", 26600


def cores() -> tuple[int, int]:
    """The venue's core and the receiver's: the first two this process may run on (one core:
    both on it)."""
    allowed = sorted(os.sched_getaffinity(0))
    return allowed[0], allowed[1] if len(allowed) > 1 else allowed[0]

PHASES = ("calm", "burst", "after")
#: a venue sends what happened since its last packet: at most this long's worth in one
BATCH_S = 10e-6
_STALE_GRID_NS = 5_000  # staleness is sampled every 5 µs of the phase
SAMPLES = 1 << 22  # latency samples a receiver keeps (a datagram each)
READY_S = 180.0  # the longest a receiver may take to start (a cold cache compiles first)


@dataclass(frozen=True)
class Stack:
    """One row: how the host receives (``transport``), which feed, in what ``code``."""

    transport: str
    feed: str  # snapshot | incremental
    code: str  # python | compiled

    @property
    def name(self) -> str:
        return f"{self.transport} / {self.feed} / {self.code}"


TRADITIONAL = (Stack("socket", "snapshot", "python"), Stack("recv", "snapshot", "compiled"),
               Stack("recv", "incremental", "compiled"))
OPTIMIZED = ("busypoll", "packet", "xdp")


@dataclass(frozen=True)
class Profile:
    """The day's pace: ``calm_s`` at ``rate`` messages/s, ``burst_s`` at ``rate * factor``,
    ``after_s`` at ``rate`` again."""

    rate: float = 5_000.0
    factor: float = 100.0
    calm_s: float = 2.0
    burst_s: float = 0.5
    after_s: float = 2.0

    def messages(self) -> tuple[int, int, int]:
        """Messages of generated flow in each phase."""
        return (int(self.rate * self.calm_s), int(self.rate * self.factor * self.burst_s),
                int(self.rate * self.after_s))

    def rates(self) -> tuple[float, float, float]:
        return self.rate, self.rate * self.factor, self.rate


# ------------------------------------------------------------------------------- the venue

def block_starts(blocks: np.ndarray) -> np.ndarray:
    """Offsets of every length-prefixed block in ``blocks`` (and the end, last)."""
    raw = blocks.tobytes()
    n = len(raw)
    out = []
    p = 0
    while p < n:
        out.append(p)
        p += 2 + (raw[p] << 8 | raw[p + 1])
    out.append(n)
    return np.asarray(out, np.int64)


def _venue(argv: Sequence[str]) -> None:
    """Venue side, in the exchange namespace: publish the day in its phases, then print one
    JSON line (each phase's send window, messages, packets and bytes)."""
    from ..codec.book_snapshot.layout import SEQUENCE_OFFSET
    from ..venue import Simulator
    from ..venue.publisher import UdpPublisher
    from ..venue.snapshot_feed import snapshot_blocks_of

    cfg = json.loads(argv[0])
    prof = Profile(**cfg["profile"])
    counts = prof.messages()
    sim = Simulator(symbols=cfg["symbols"], messages=sum(counts), seed=cfg["seed"])
    itch = sim.blocks()
    starts = block_starts(itch)
    # ITCH message indices where the phases start (the simulator's count holds the start and
    # end of day: they go out with the first and the last calm)
    n_msgs = starts.shape[0] - 1
    cut = np.minimum(np.cumsum([0, *counts]), n_msgs)
    cut[-1] = n_msgs
    if cfg["feed"] == "snapshot":
        blocks = snapshot_blocks_of(itch, cfg["depth"])
        bstarts = block_starts(blocks)
        # the ITCH sequence number each snapshot reflects: its phase
        at = bstarts[:-1, None] + 2 + SEQUENCE_OFFSET + np.arange(8)
        seqs = blocks[at].copy().view(">u8").ravel().astype(np.int64)
        bounds = np.searchsorted(seqs, cut + 1)  # seq k is ITCH message k - 1
        bounds[-1] = seqs.shape[0]
    else:
        blocks, bstarts, bounds = itch, starts, cut
    pub = UdpPublisher(GROUP, PORT, session=cfg["session"], iface_ip=cfg["iface_ip"],
                       sender=cfg["sender"], max_payload=1400)
    pub.warm_up()
    phases = []
    durations = (prof.calm_s, prof.burst_s, prof.after_s)
    with pub:
        for name, rate, secs, i in zip(PHASES, prof.rates(), durations, range(3), strict=True):
            a, b = int(bounds[i]), int(bounds[i + 1])
            n = b - a
            chunk = blocks[bstarts[a]:bstarts[b]]
            # the same span of time on both feeds: a phase's messages spread over its length
            msg_rate = n / secs if secs > 0 else None
            per_packet = max(1, int(round(rate * BATCH_S)))
            p0, y0, f0 = pub.packets, pub.bytes, pub.frame_bytes
            cpu0 = _cpu_times()  # /proc/stat is the host's, whatever the namespace
            t0 = time.clock_gettime_ns(time.CLOCK_REALTIME)
            pub.publish([chunk], rate=msg_rate, per_packet=per_packet)
            t1 = time.clock_gettime_ns(time.CLOCK_REALTIME)
            cpu1 = _cpu_times()
            phases.append({"phase": name, "start_ns": t0, "end_ns": t1, "messages": n,
                           "packets": pub.packets - p0, "bytes": pub.bytes - y0,
                           "frame_bytes": pub.frame_bytes - f0,
                           "per_packet": per_packet, "rate": msg_rate,
                           "cpu_venue": cpu_shares(cpu0, cpu1, cfg["venue_core"]),
                           "cpu_host": cpu_shares(cpu0, cpu1, cfg["host_core"])})
        pub.end_session()
    print(json.dumps({"phases": phases}), flush=True)


# ---------------------------------------------------------------------------- the receiver

def _feed(stack: Stack, depth: int, samples: int):
    if stack.feed == "incremental":
        from ..book import BookStore
        from ..feed.itch import ItchFeed, ItchHandler
        from ..feed.moldudp64 import MoldSession

        return ItchFeed(ItchHandler(BookStore(max_orders=1 << 20, errors="skip"),
                                    errors="skip"), MoldSession(), max_samples=samples)
    if stack.code == "python":
        from ..feed.snapshot import PySnapshotFeed

        return PySnapshotFeed(max_depth=depth, max_samples=samples)
    from ..feed.snapshot import SnapshotFeed

    return SnapshotFeed(max_depth=depth, max_samples=samples)


def _listen(argv: Sequence[str]) -> None:
    """Receiver side, in the host namespace: prints 'ready', receives until the venue's end
    of session, writes the samples (send stamp, latency) to ``out`` and prints one JSON
    line."""
    from ..wire.transports import open_receiver
    from .listener import FeedListener

    cfg = json.loads(argv[0])
    stack = Stack(**cfg["stack"])
    cpu = cfg["cpu"]
    if cpu in os.sched_getaffinity(0):
        os.sched_setaffinity(0, {cpu})
    feed = _feed(stack, cfg["depth"], cfg["samples"])
    rx = open_receiver(stack.transport, GROUP, PORT, iface_ip=cfg["iface_ip"])
    lst = FeedListener(rx, feed)
    lst.warm_up()
    print("ready", flush=True)
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    t0 = time.monotonic()
    rep = lst.run(duration=cfg["timeout_s"], idle_timeout=3.0)
    wall = time.monotonic() - t0
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    st = rx.stats()
    rx.close()
    np.savez(cfg["out"], sent=rep.sent_ns, lat=rep.latency_ns, ker=rep.kernel_ns)
    print(json.dumps({
        "messages": rep.messages, "samples": int(rep.latency_ns.size), "ended": rep.ended,
        "gap_messages": int(rep.session.get("gap_messages", 0)),
        "kernel_drops": int(st.get("drops", 0)),
        "user_s": r1.ru_utime - r0.ru_utime, "system_s": r1.ru_stime - r0.ru_stime,
        "wall_s": wall, "voluntary_switches": r1.ru_nvcsw - r0.ru_nvcsw,
        "involuntary_switches": r1.ru_nivcsw - r0.ru_nivcsw}), flush=True)


# ------------------------------------------------------------------------------ the figures

def _cpu_times() -> dict[int, np.ndarray]:
    """/proc/stat per core: user, nice, system, idle, iowait, irq, softirq, steal (ticks)."""
    out = {}
    with open("/proc/stat") as f:
        for line in f:
            if line.startswith("cpu") and line[3].isdigit():
                parts = line.split()
                out[int(parts[0][3:])] = np.array([int(x) for x in parts[1:9]], np.int64)
    return out


def cpu_shares(before: dict[int, np.ndarray], after: dict[int, np.ndarray],
               core: int) -> dict[str, float]:
    """Share of ``core``'s time between two /proc/stat reads: user, system, softirq (empty
    when /proc/stat does not list the core)."""
    if core not in before or core not in after:
        return {}
    d = after[core] - before[core]
    total = max(int(d.sum()), 1)
    return {"user": round(float(d[0] + d[1]) / total, 3), "system": round(float(d[2]) / total, 3),
            "softirq": round(float(d[6]) / total, 3)}


def staleness_ns(sent: np.ndarray, lat: np.ndarray, t0: int, t1: int) -> np.ndarray:
    """The book's staleness at every ``_STALE_GRID_NS`` from ``t0`` to ``t1``: how long the
    oldest datagram sent but not yet in the book has been waiting (0 when none is). The
    datagrams are applied in the order they were sent (one line, in order). Only datagrams
    that reached the book count: a lost one is in the drops, not here."""
    if t1 <= t0:
        return np.zeros(0, np.int64)
    if sent.size == 0:
        return np.zeros(np.arange(t0, t1, _STALE_GRID_NS).shape[0], np.int64)
    order = np.argsort(sent, kind="stable")
    s = sent[order]
    b = np.maximum.accumulate(s + lat[order])  # applied in order: none before the one ahead
    t = np.arange(t0, t1, _STALE_GRID_NS, dtype=np.int64)
    j = np.searchsorted(b, t, side="right")  # the first datagram not in the book at t
    waiting = j < s.shape[0]
    jj = np.minimum(j, s.shape[0] - 1)
    out = np.where(waiting & (s[jj] <= t), t - s[jj], 0)
    return out.astype(np.int64)


def phase_rows(stack: Stack, phases: list[dict], sent: np.ndarray, lat: np.ndarray,
               ker: np.ndarray | None = None) -> list[dict[str, Any]]:
    """One row per phase: latency of the datagrams sent in it, what never arrived, the book's
    staleness while it lasted and until its last datagram was in the book; with ``ker``
    (send -> the receive stamp), the medians of the two parts: up to the stamp (the venue's
    send, veth, the kernel's receive path) and from it to the book (the wake-up or poll, the
    copy to user space, decoding and the book)."""
    from ..telemetry.histogram import summary_us

    rows = []
    for i, ph in enumerate(phases):
        t0, t1 = ph["start_ns"], ph["end_ns"]
        mine = (sent >= t0) & (sent <= t1)
        lat_ph = lat[mine]
        summ = summary_us(lat_ph)
        end = int(t1 + (lat_ph.max() if lat_ph.size else 0))
        if i + 1 < len(phases):  # what queues into the next phase is the next phase's
            end = min(end, int(phases[i + 1]["start_ns"]))
        stale = staleness_ns(sent, lat, t0, max(end, t0 + _STALE_GRID_NS))
        split: dict[str, float | None] = {"to_stamp_p50_us": None, "from_stamp_p50_us": None}
        if ker is not None:
            k = ker[mine]
            ok = k > 0
            if ok.any():
                split = {"to_stamp_p50_us": round(float(np.median(k[ok])) / 1e3, 2),
                         "from_stamp_p50_us": round(float(np.median(lat_ph[ok] - k[ok])) / 1e3,
                                                    2)}
        rows.append({
            **asdict(stack), "phase": ph["phase"],
            "p50_us": summ.get("p50_us"), "p99_us": summ.get("p99_us"),
            "p999_us": summ.get("p999_us"), "max_us": summ.get("max_us"),
            "drops": max(int(ph["packets"]) - int(mine.sum()), 0),
            "stale_us": round(float(stale.mean()) / 1e3, 2) if stale.size else None,
            "stale_max_us": round(float(stale.max()) / 1e3, 2) if stale.size else None,
            "bytes": int(ph["frame_bytes"]), "payload_bytes": int(ph["bytes"]),
            "packets": int(ph["packets"]), "messages": int(ph["messages"]),
            "seconds": round((t1 - t0) / 1e9, 3), **split, "cpu": ph["cpu_host"],
            "cpu_venue": ph["cpu_venue"]})
    return rows


# ------------------------------------------------------------------------------ the driver

def stacks_for(transports: Sequence[str]) -> list[Stack]:
    """The traditional rows, then the optimized ones this host can run (the rest are left out
    with the reason, as ``tickpath wire check`` gives it)."""
    return list(TRADITIONAL) + [Stack(t, "incremental", "compiled") for t in transports]


def usable(transports: Sequence[str]) -> tuple[list[str], dict[str, str]]:
    """Which of ``transports`` this host can run, and why not for the others."""
    from ..wire.transports import check

    found = {c.name: c for c in check()}
    ok, why = [], {}
    for t in transports:
        c = found.get(t.partition(":")[0])
        if c is None:
            raise ValueError(f"unknown transport {t!r}: choose from "
                             f"{', '.join(sorted(found))}")
        if c.ok:
            ok.append(t)
        else:
            why[t] = f"{c.detail}; {c.remedy}".strip("; ")
    return ok, why


def run_stacks_bench(profile: Profile = Profile(), *, transports: Sequence[str] = OPTIMIZED,
                     symbols: int = 20, depth: int = 10, seed: int = 7,
                     sender: str = "sendto", samples_dir: Path | None = None,
                     status: Callable[[str], None] = print) -> dict[str, Any]:
    """Every stack through the same day; returns ``{"rows": [...], "stacks": [...],
    "skipped": {...}, "profile": ..., ...}`` (the module docstring)."""
    from ..wire.netns import veth_pair

    ok, skipped = usable(transports)
    for t, why in skipped.items():
        status(f"{t}: left out ({why})")
    stacks = stacks_for(ok)
    total_s = profile.calm_s + profile.burst_s + profile.after_s
    timeout_s = 60.0 + 20 * total_s
    rows: list[dict[str, Any]] = []
    per_stack: list[dict[str, Any]] = []
    errors: dict[str, str] = {}
    keep = samples_dir is not None
    with tempfile.TemporaryDirectory(prefix="tp-stacks-") as tmp, veth_pair("10.197.0") as pair:
        where = samples_dir if keep else Path(tmp)
        where.mkdir(parents=True, exist_ok=True)
        for i, stack in enumerate(stacks):
            status(f"{stack.name}: {sum(profile.messages()):,} messages, calm {profile.rate:,.0f}"
                   f"/s, burst x{profile.factor:g} for {profile.burst_s:g} s")
            out = where / f"samples-{i}-{stack.transport}-{stack.feed}-{stack.code}.npz"
            try:
                res = _one(pair, stack, profile, symbols=symbols, depth=depth, seed=seed,
                           sender=sender, out=out, timeout_s=timeout_s)
            except (RuntimeError, subprocess.TimeoutExpired) as e:  # the other rows go on
                errors[stack.name] = str(e)[-2000:]
                status(f"{stack.name}: failed: {str(e)[-500:]}")
                continue
            with np.load(out) as data:
                rows += phase_rows(stack, res["venue"]["phases"], data["sent"], data["lat"],
                                   data["ker"])
            per_stack.append({**asdict(stack), **res["host"], "cpu_venue_core": res["cpu_venue"],
                              "cpu_host_core": res["cpu_host"],
                              "burst_start_ns": res["venue"]["phases"][1]["start_ns"],
                              "phases": res["venue"]["phases"],
                              # a full sample buffer would make later datagrams look dropped
                              "samples_full": res["host"]["samples"] >= SAMPLES,
                              "samples": str(out) if keep else None})
    return {"rows": rows, "stacks": per_stack, "skipped": skipped, "errors": errors,
            "profile": asdict(profile), "symbols": symbols, "depth": depth, "sender": sender,
            "seed": seed,
            "date": time.strftime("%Y-%m-%d"), "host": os.uname().nodename,
            "cores": os.cpu_count()}


def _one(pair, stack: Stack, profile: Profile, *, symbols: int, depth: int, seed: int,
         sender: str, out: Path, timeout_s: float) -> dict[str, Any]:
    py = sys.executable
    venue_core, host_core = cores()
    lcfg = {"stack": asdict(stack), "cpu": host_core, "depth": depth, "samples": SAMPLES,
            "iface_ip": pair.host_ip, "timeout_s": timeout_s, "out": str(out)}
    lst = pair.popen(pair.host, py, "-m", "tickpath.apps.stacks_bench", "listen",
                     json.dumps(lcfg), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                     text=True)
    try:
        ready, _, _ = select.select([lst.stdout], [], [], READY_S)
        line = lst.stdout.readline().strip() if ready else ""
        if line != "ready":
            raise RuntimeError(f"{stack.name}: the receiver failed: {lst.stderr.read()}")
        vcfg = {"profile": asdict(profile), "symbols": symbols, "seed": seed, "depth": depth,
                "feed": stack.feed, "session": "STACKS" + ("S" if stack.feed == "snapshot"
                                                           else "I"),
                "iface_ip": pair.exchange_ip, "sender": sender, "venue_core": venue_core,
                "host_core": host_core}
        before = _cpu_times()
        venue = pair.run(pair.exchange, "taskset", "-c", str(venue_core), py, "-m",
                         "tickpath.apps.stacks_bench", "venue", json.dumps(vcfg),
                         capture_output=True, text=True, timeout=timeout_s)
        if venue.returncode:
            raise RuntimeError(f"{stack.name}: the venue failed: {venue.stderr[-3000:]}")
        lout, lerr = lst.communicate(timeout=timeout_s)
        after = _cpu_times()
    finally:
        if lst.poll() is None:
            lst.kill()
            lst.communicate()
    if lst.returncode:
        raise RuntimeError(f"{stack.name}: the receiver failed: {lerr[-3000:]}")
    return {"venue": json.loads(venue.stdout.strip().splitlines()[-1]),
            "host": json.loads(lout.strip().splitlines()[-1]),
            "cpu_venue": cpu_shares(before, after, venue_core),
            "cpu_host": cpu_shares(before, after, host_core)}


if __name__ == "__main__":
    if len(sys.argv) > 2 and sys.argv[1] == "listen":
        _listen(sys.argv[2:])
    elif len(sys.argv) > 2 and sys.argv[1] == "venue":
        _venue(sys.argv[2:])
    else:
        raise SystemExit("usage: python -m tickpath.apps.stacks_bench listen|venue CONFIG_JSON "
                         "(used by `tickpath bench stacks`)")
