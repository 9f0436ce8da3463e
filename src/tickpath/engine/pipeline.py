"""A pipeline assembled from configuration: venue -> feed stage -> ring -> strategy stage.

The owner (this process) creates the shared memory every stage attaches to (counters, the
hand-off ring, the stamp rows), chooses where the venue's order entry listens (the strategy
stage logs in there over SoupBinTCP and sends OUCH), starts each stage as an agent process
(:mod:`tickpath.engine.agent`), waits until all are in their loops, lets the venue publish,
observes the counters while they run, and stops them through the control section's STOP word
(on Ctrl-C, SIGTERM, the simulator's end of session, or a duration). Whatever happens, it
removes what it made: /dev/shm files, the order journal it chose, and (in
:func:`tickpath.apps.budget.run_budget`) the namespaces.

The owner also throws the kill switch (the control section's ``kill`` word; every order is
refused from the next check on, the pipeline keeps running): on SIGUSR1, and when the file
``risk.kill_file`` exists (looked for at start and at every observer tick, ``tick_s``: 0.25 s
under ``tickpath run``). ``tickpath kill`` throws it from another process
(:mod:`tickpath.engine.running`).
"""

from __future__ import annotations

import os
import re
import signal
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..ring import SpscRing
from ..ring.mapping import unmap
from ..risk import KillReason, kill, kill_note, kill_reason
from ..strategy.records import SLOT_SIZE
from ..telemetry.stamps import N_BOUNDARIES, STAMPS
from .agent import Agent, AgentSpec, AgentState, busy_ratio, wait_for
from .config import PipelineConfig, load
from .counters import DIRECTORY, Control, Counters, create_array
from .counters import Agent as AgentWord

FEED_GROUP, FEED_PORT = "233.54.12.1", 26400  # over a veth pair (tickpath.wire.netns)
ORDER_PORT = 26401  # the venue's order entry over a veth pair (its namespace is its own)
RETRANSMIT_PORT = 26402  # its MoldUDP64 re-request server (UDP), over a veth pair
GLIMPSE_PORT = 26403  # its snapshot service (TCP), over a veth pair

#: idle strategies that keep a stage runnable while it waits (it holds its core)
SPINNING_IDLES = ("noop", "busy_spin", "spin_yield")
_IDLE_PARAMS = ("spins", "yields", "min_park_ns", "max_park_ns")


@dataclass
class StagePlace:
    """Where a stage runs and how it waits."""

    core: int | None
    idle: str
    realtime: int | None
    idle_params: dict[str, int]
    spins: bool  # holds its core while it waits (counted against the cores)
    shares_with: str | None = None  # the stage whose core it was given (auto placement)


@dataclass
class Placement:
    stages: dict[str, StagePlace]
    cores: list[int]  # the cores this process may use
    notes: list[str]

    def as_dict(self) -> dict[str, Any]:
        return {n: {"core": s.core, "idle": s.idle, "spins": s.spins}
                for n, s in self.stages.items()}

    def describe(self) -> str:
        parts = []
        for n, s in self.stages.items():
            where = "unpinned" if s.core is None else f"core {s.core}"
            parts.append(f"{n} {where} ({s.idle})")
        return "placement: " + ", ".join(parts)


def plan_placement(cfg: PipelineConfig, cores: list[int] | None = None) -> Placement:
    """Decide each stage's core and idle strategy, and say what the host cannot give.

    ``pipeline.placement = "manual"``: exactly what ``stages.*`` say. ``"auto"`` (default):
    a stage whose ``core`` is -1 gets a core of its own, the feed first, then the strategy,
    then the venue, highest-numbered core first (core 0 usually takes the most interrupts
    and housekeeping). When no core is left for the venue it shares the strategy's core
    and, unless ``stages.venue.idle`` was given, paces by sleeping (``backoff``) instead of
    spinning (it only has to stamp at its send call), while the strategy, unless its
    ``idle`` was given, waits with ``spin_yield`` so that the core goes to the venue as
    soon as it wakes; a spinning venue, or a strategy that does not yield, turns the ring
    hop into scheduler time slices (docs/engine.md has the measurements). A host with fewer cores
    than stages that spin gets a note: the latency it reports then includes the contention.
    The feed stage always counts as spinning (its receive loop polls); the strategy and the
    venue when their idle strategy is ``noop``, ``busy_spin`` or ``spin_yield``."""
    cores = sorted(os.sched_getaffinity(0)) if cores is None else sorted(cores)
    rtc = cfg["pipeline"]["topology"] == "run_to_completion"
    names = ["strategy"] if rtc else ["feed", "strategy"]  # rtc: one stage, the whole trader
    if cfg["simulator"]["enabled"]:
        names.append("venue")
    out: dict[str, StagePlace] = {}
    for n in names:
        s = cfg[f"stages.{n}"]
        out[n] = StagePlace(None if s["core"] < 0 else s["core"], s["idle"],
                            s["realtime"] or None, {k: s[k] for k in _IDLE_PARAMS}, False)
    notes: list[str] = []
    if cfg["pipeline"]["placement"] == "auto":
        free = [c for c in reversed(cores) if c not in {p.core for p in out.values()}]
        for n in names:
            if out[n].core is None and free:
                out[n].core = free.pop(0)
        for n, host in (("strategy", "feed"), ("venue", "strategy")):
            if n in out and host in out and out[n].core is None:
                out[n].core, out[n].shares_with = out[host].core, host
        v = out.get("venue")
        if v is not None and v.shares_with and not cfg.was_given("stages.venue.idle"):
            v.idle = "backoff"
        st = out["strategy"]
        if v is not None and v.shares_with == "strategy" and not rtc and \
                not cfg.was_given("stages.strategy.idle"):
            st.idle = "spin_yield"  # hands the core to the venue the moment it wakes
    for n, p in out.items():
        # a receive loop always polls: the feed's, and run to completion's trader
        p.spins = n == "feed" or (rtc and n == "strategy") or p.idle in SPINNING_IDLES
    if rtc and len(cores) <= 2:
        notes.append("run to completion: feed, strategy, risk and order entry run in one "
                     "loop on one core, which leaves the other core to the venue on this "
                     f"{len(cores)}-core host")
    spinning = [n for n, p in out.items() if p.spins]
    if len(spinning) > len(cores):
        notes.append(f"{len(spinning)} stages spin ({', '.join(spinning)}) on "
                     f"{len(cores)} core{'s' if len(cores) != 1 else ''}: they take turns on "
                     f"a core, and the latency measured includes that contention")
    else:
        by_core: dict[int, list[str]] = {}
        for n in spinning:
            if out[n].core is not None:
                by_core.setdefault(out[n].core, []).append(n)
        for core, ns in by_core.items():
            if len(ns) > 1:
                notes.append(f"{' and '.join(ns)} both spin on core {core}: they take turns, "
                             f"and the latency measured includes that contention")
    for n, p in out.items():
        if p.shares_with and not p.spins:
            notes.append(f"{len(cores)} core{'s' if len(cores) != 1 else ''} for "
                         f"{len(names)} stages: the {n} shares core {p.core} with the "
                         f"{p.shares_with} and waits by {p.idle} (not spinning)")
    return Placement(out, cores, notes)


@dataclass
class PipelineReport:
    transport: str
    seconds: float
    stopped_by: str
    counters: dict[str, dict[str, int]]
    rows: np.ndarray = field(repr=False)  # STAMPS, one per completed path (sampled)
    notes: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    placement: dict[str, Any] = field(default_factory=dict)
    order_entry: str = ""  # the venue's order entry, "host:port"
    killed: str | None = None  # the kill switch's reason at the end (None: off)

    @property
    def ok(self) -> bool:
        return not self.errors

    def meta(self) -> dict[str, Any]:
        c = self.counters
        return {"transport": self.transport, "seconds": round(self.seconds, 3),
                "stopped_by": self.stopped_by,
                "messages": c["feed"]["messages"], "sent": c["venue"]["messages"],
                "orders": c["strategy"]["orders"],
                "orders_at_venue": c["venue"].get("orders_in", 0),
                "fills": c["strategy"]["fills"], "venue_rejects": c["strategy"]["venue_rejects"],
                "pnl": c["strategy"]["pnl"] / 10_000, "order_entry": self.order_entry,
                "rejects": c["strategy"]["rejects"],
                "rejects_by_reason": {k: v for k, v in c["risk"].items()
                                      if k not in ("checked", "passed") and v},
                "dropped": c["feed"]["ring_full"], "gaps": c["feed"]["gap_messages"],
                "killed": self.killed,
                "rows": int(self.rows.shape[0]), "placement": self.placement,
                "notes": self.notes, "errors": self.errors}


#: /dev/shm names a pipeline makes: tp-NAME-OWNERPID-TAG-{counters,md,stamps}
_SHM_NAME = re.compile(r"^tp-.+-(\d+)-[0-9a-f]{6}-(?:counters|md|stamps)$")


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    return True


def remove_stale_files(directory: str | os.PathLike = DIRECTORY) -> list[str]:
    """Remove the /dev/shm files of pipelines whose owner process is dead (killed before its
    clean-up: SIGKILL, OOM, a crash), recognised by their name, which carries the owner's pid.
    Returns the paths removed. A pid reused by a live process keeps its files (never a
    running pipeline's); a pipeline run from another pid namespace sharing /dev/shm would
    look dead, but removing a name does not disturb the processes that have it mapped."""
    removed = []
    for entry in os.scandir(directory):
        m = _SHM_NAME.match(entry.name)
        if m is None or _pid_alive(int(m.group(1))):
            continue
        try:
            os.unlink(entry.path)
        except FileNotFoundError:  # a stage of that pipeline removed it meanwhile
            continue
        removed.append(entry.path)
    return removed


def free_udp_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def free_tcp_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def resolve_transport(kind: str) -> str:
    """``auto``: the best receive transport this host runs (packet, else busypoll)."""
    if kind != "auto":
        return kind
    from ..wire.transports import check

    ok = {c.name for c in check() if c.ok}
    return "packet" if "packet" in ok else "busypoll"


class Pipeline:
    """Start, observe and stop one pipeline. Use as a context manager, or call
    :meth:`close` in a ``finally``: it removes every file and socket made here."""

    def __init__(self, cfg: PipelineConfig, *, veth=None,
                 status: Callable[[str], None] = print,
                 venue_capture: str | os.PathLike | None = None) -> None:
        self.cfg, self.veth, self.status = cfg, veth, status
        #: a pcapng the venue writes of every frame on its end of the veth pair (its own
        #: kernel stamps: the referee of tick to trade, tickpath.venue.referee)
        self.venue_capture = None if venue_capture is None else str(venue_capture)
        if self.venue_capture and veth is None:
            raise ValueError("a venue-side capture needs the veth pair (the venue's own "
                             "interface); on loopback it would see the trader's side too")
        self.transport = resolve_transport(cfg["transport"]["kind"])
        self.placement = plan_placement(cfg)
        tag = f"{cfg['pipeline']['name']}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
        self.names = {"counters": f"tp-{tag}-counters", "ring": f"tp-{tag}-md",
                      "rows": f"tp-{tag}-stamps"}
        self.counters: Counters | None = None
        self.ring: SpscRing | None = None
        self.rows_map = None
        #: the venue's order entry the strategy stage logs in to, and the order journal
        self.order_address: tuple[str, int] | None = None
        gw = cfg["gateway"]
        self.journal = Path(gw["journal"] or f"/tmp/tp-{tag}-orders.journal")
        self._own_journal = not gw["journal"]  # ours to remove at the end
        self.agents: list[Agent] = []
        self.notes: list[str] = []
        self.errors: list[str] = []
        self._t0 = 0.0
        self._status_q: Any = None
        kf = cfg["risk"].get("kill_file", "")
        #: a file whose existence throws the kill switch (risk.kill_file), or None
        self.kill_file = Path(kf) if kf else None
        self._kill_pending: KillReason | None = None  # asked for before the counters exist
        self._kill_seen: KillReason | None = None  # what the observer last reported

    # ------------------------------------------------------------------ start

    def _specs(self) -> list[AgentSpec]:
        cfg, v = self.cfg, self.veth
        feed, sim = cfg["feed"], cfg["simulator"]
        if v is not None:
            host, port, rx_ip = FEED_GROUP, FEED_PORT, v.host_ip
        else:
            host, rx_ip = feed["host"], feed["iface_ip"]
            port = feed["port"] or free_udp_port(host if host.startswith("127.") else
                                                 "0.0.0.0")
        self.feed_address = (host, port)

        def stage(name: str) -> dict[str, Any]:
            s = self.placement.stages[name]
            return {"core": s.core, "idle": s.idle, "realtime": s.realtime,
                    "idle_params": dict(s.idle_params)}

        gw = cfg["gateway"]
        if v is not None:
            self.order_address = (v.exchange_ip, gw["port"] or ORDER_PORT)
        else:
            self.order_address = (gw["host"], gw["port"] or free_tcp_port(gw["host"]))
        cname = self.names["counters"]
        specs = []
        # the built-in venue's recovery services (re-requests, snapshots), which the feed
        # uses unless the configuration names others
        retransmit, glimpse = feed["retransmit"], feed["glimpse"]
        rec_ports = None
        if sim["enabled"] and sim["recovery"]:
            vh = v.exchange_ip if v is not None else "127.0.0.1"
            rec_ports = (RETRANSMIT_PORT, GLIMPSE_PORT) if v is not None else (
                free_udp_port(vh), free_tcp_port(vh))
            retransmit = retransmit or f"{vh}:{rec_ports[0]}"
            glimpse = glimpse or f"{vh}:{rec_ports[1]}"
        if sim["enabled"]:
            specs.append(AgentSpec("venue", "tickpath.engine.venue_stage:main", cname,
                                   netns=v.exchange if v else None, **stage("venue"), params={
                                       "symbols": sim["symbols"], "messages": sim["messages"],
                                       "seed": sim["seed"], "rate": sim["rate"] or None,
                                       "max_payload": sim["max_payload"], "host": host,
                                       "port": port, "session": feed["session"],
                                       "iface_ip": v.exchange_ip if v else None,
                                       "orders_host": self.order_address[0],
                                       "orders_port": self.order_address[1],
                                       "accounts": [f"{gw['username']}:{gw['password']}"],
                                       "heartbeat_s": gw["heartbeat_s"],
                                       "capture": self.venue_capture,
                                       "capture_iface": v.exchange_if if v else None,
                                       "recovery_host": v.exchange_ip if v else "127.0.0.1",
                                       "recovery_ports": rec_ports,
                                       "faults": sim["faults"]}))
        ring = cfg["ring"]
        feed_params = {"transport": self.transport, "host": host, "port": port,
                       "iface_ip": rx_ip, "max_orders": feed["max_orders"],
                       "retransmit": retransmit, "glimpse": glimpse,
                       "silence_s": feed["silence_s"]}
        rtc = cfg["pipeline"]["topology"] == "run_to_completion"
        if not rtc:
            specs.append(AgentSpec("feed", "tickpath.engine.feed_stage:main", cname,
                                   netns=v.host if v else None, **stage("feed"), params={
                                       "ring": self.names["ring"], **feed_params,
                                       "ring_timeout_ns": ring["block_timeout_us"] * 1000}))
        st = cfg["strategy"]
        entry = "run_to_completion" if rtc else "strategy_stage"
        specs.append(AgentSpec("strategy", f"tickpath.engine.{entry}:main", cname,
                               netns=v.host if v else None, **stage("strategy"), params={
                                   **(feed_params if rtc else {}),
                                   "ring": self.names["ring"], "strategy": st["name"],
                                   "strategy_params": {"edge": st["edge"], "size": st["size"],
                                                       "symbols": cfg["instruments"]["symbols"]},
                                   "risk": dict(cfg["risk"]), "rows": self.names["rows"],
                                   "row_every": cfg["telemetry"]["row_every"],
                                   "gateway": {**gw, "host": self.order_address[0],
                                               "port": self.order_address[1],
                                               "journal": str(self.journal)}}))
        return specs

    def start(self, timeout: float = 180.0) -> None:
        """Create shared memory, start the stages, wait until each is in its loop (the
        strategy stage logged in to the venue's order entry), then let the venue go."""
        import multiprocessing as mp

        cfg = self.cfg
        if not self._own_journal and self.journal.exists() and self.journal.stat().st_size:
            from ..gateway.journal import check as journal_check

            # checked here, so a damaged journal is refused before anything starts
            _raw, records, torn = journal_check(self.journal)
            self.status(f"resuming from order journal {self.journal}: {records:,} records"
                        + (f" and a torn tail of {torn} bytes (cut off at the start)"
                           if torn else ""))
        stale = remove_stale_files()
        if stale:
            self.status(f"removed {len(stale)} /dev/shm file{'s' if len(stale) != 1 else ''} "
                        f"left by pipelines whose owner died: {', '.join(stale)}")
        self.counters = Counters.create(self.names["counters"])
        if self._kill_pending is not None:  # SIGUSR1 before there was a switch to throw
            self.throw_kill(self._kill_pending)
        self.poll_kill_file()  # a kill file there at start: not one order leaves
        self.ring = SpscRing.create(self.names["ring"], cfg["ring"]["capacity"], SLOT_SIZE,
                                    policy=cfg["ring"]["policy"])
        self.rows_map, self.rows = create_array(self.names["rows"],
                                                cfg["telemetry"]["max_rows"], N_BOUNDARIES)
        ctx = mp.get_context("spawn")
        self._status_q = ctx.Queue()
        specs = self._specs()
        for spec in specs:  # a stage that outlives this process removes them
            spec.files = self.files()
        self.agents = [Agent(s, self._status_q, ctx) for s in specs]
        self.status(f"starting {', '.join(a.spec.name for a in self.agents)} "
                    f"(transport {self.transport}, feed udp://{self.feed_address[0]}:"
                    f"{self.feed_address[1]}); {self.placement.describe()}")
        for note in self.placement.notes:
            self.notes.append(f"placement: {note}")
            self.status(f"note: placement: {note}")
        for a in self.agents:
            a.start()
        ctl = self.counters.section("control")

        def ready() -> bool:
            self._read_status()
            if self.errors:
                raise RuntimeError("a stage failed to start:\n" + "\n".join(self.errors))
            return all(self.counters.section(a.spec.name)[AgentWord.STATE]
                       == AgentState.RUNNING for a in self.agents)

        wait_for(ready, timeout, "the stages to compile and start", self.agents)
        ctl[Control.STARTED_NS] = time.clock_gettime_ns(time.CLOCK_REALTIME)
        ctl[Control.GO] = 1
        self._t0 = time.monotonic()

    # ------------------------------------------------------------------ kill switch

    def throw_kill(self, reason: KillReason = KillReason.MANUAL, note: str = "") -> bool:
        """Throw the kill switch for ``reason`` (kept for the start when the counters do not
        exist yet). Returns True if this call threw it. Safe from a signal handler: it only
        stores words."""
        if self.counters is None:
            self._kill_pending = reason
            return False
        return kill(self.counters.section("control"), True, reason, note)

    def kill_by_signal(self, signum: int = 0, frame: object = None) -> None:
        """The SIGUSR1 handler: throw the switch (reason SIGNAL)."""
        self.throw_kill(KillReason.SIGNAL)

    def poll_kill_file(self) -> bool:
        """Throw the switch (reason FILE) if ``risk.kill_file`` exists; True if it does."""
        if self.kill_file is None or self.counters is None or not self.kill_file.exists():
            return False
        self.throw_kill(KillReason.FILE, f"file {self.kill_file.name}"[:32])
        return True

    def kill_state(self) -> KillReason | None:
        """Why the switch is on now (None: off)."""
        return None if self.counters is None else kill_reason(self.counters.section("control"))

    def _watch_kill(self) -> None:
        """Say (once per change) when the switch went on or off, whoever moved it."""
        now = self.kill_state()
        if now == self._kill_seen:
            return
        self._kill_seen = now
        if now is None:
            text = "kill switch reset"
        else:
            note = kill_note(self.counters.section("control"))
            text = f"kill switch thrown ({now.name.lower()}" + (f": {note})" if note else ")")
            text += ": no new order leaves"
        self.notes.append(text)
        self.status(f"note: {text}")

    # ------------------------------------------------------------------ observe

    def _read_status(self) -> None:
        import queue

        while True:
            try:
                name, kind, text = self._status_q.get_nowait()
            except queue.Empty:
                return
            (self.notes if kind == "note" else self.errors).append(f"{name}: {text}")
            if kind == "note":
                self.status(f"note: {name}: {text}")

    def snapshot(self) -> dict[str, Any]:
        """Counters by stage, plus ring occupancy and busy ratios."""
        snap: dict[str, Any] = self.counters.snapshot()
        rc = self.ring.counters()
        snap["ring"] = {"depth": rc["depth"], "capacity": self.ring.capacity,
                        "full": rc["full"], "drops": rc["drops"]}
        for a in self.agents:
            snap[a.spec.name]["busy_ratio"] = busy_ratio(snap[a.spec.name])
        snap["placement"] = self.placement.as_dict()
        return snap

    def finished(self) -> str | None:
        """Why the pipeline should stop now, or None."""
        self._read_status()
        if self.errors:
            return "error"
        for a in self.agents:
            if not a.alive and a.exitcode not in (0, None):
                self.errors.append(f"{a.spec.name}: exited with code {a.exitcode}")
                return "error"
        c = self.counters
        d = self.cfg["pipeline"]["duration_s"]
        if d and time.monotonic() - self._t0 >= d:
            return "duration"
        if self.cfg["simulator"]["enabled"]:
            venue_done = c.section("venue")[c.sections["venue"]["DONE"]]
            fs = c.section("feed")
            feed_done = fs[c.sections["feed"]["ENDED"]] or \
                fs[AgentWord.STATE] in (AgentState.DONE, AgentState.FAILED)
            if venue_done and feed_done and self.ring.counters()["depth"] == 0:
                return "end of session"
        return None

    # ------------------------------------------------------------------ stop

    def stop(self, timeout: float = 10.0) -> None:
        """Set STOP, wait for every stage to leave its loop, end any that does not."""
        if self.counters is None:
            return
        self.counters.section("control")[Control.STOP] = 1
        end = time.monotonic() + timeout
        for a in self.agents:
            if not a.join(max(0.1, end - time.monotonic())):
                self.notes.append(f"{a.spec.name}: did not stop within {timeout:.0f} s; "
                                  f"terminated")
                a.terminate()
        self._read_status()

    def report(self, stopped_by: str) -> PipelineReport:
        n = int(self.counters.section("strategy")[self.counters.sections["strategy"]["ROWS"]])
        rows = np.ascontiguousarray(self.rows[:n]).view(STAMPS).reshape(-1)
        why = self.kill_state()
        return PipelineReport(self.transport, time.monotonic() - self._t0, stopped_by,
                              self.counters.snapshot(), rows.copy(), list(self.notes),
                              list(self.errors), self.placement.as_dict(),
                              ":".join(map(str, self.order_address or ("?", 0))),
                              None if why is None else why.name.lower())

    def close(self) -> None:
        """Remove everything made here (idempotent)."""
        for a in self.agents:
            a.terminate()
        if self._own_journal:
            self.journal.unlink(missing_ok=True)
        if self.ring is not None:
            self.ring.unlink()
            self.ring.close()
            self.ring = None
        if self.counters is not None:
            self.counters.unlink()
            self.counters = None
        if self.rows_map is not None:
            self.rows = None
            unmap(self.rows_map)
            self.rows_map = None
        try:
            os.unlink(f"/dev/shm/{self.names['rows']}")
        except FileNotFoundError:
            pass
        if self._status_q is not None:
            self._status_q.close()
            self._status_q = None

    def files(self) -> list[str]:
        """The /dev/shm files this pipeline made (for tests and clean-up checks)."""
        return [f"/dev/shm/{n}" for n in self.names.values()]

    def run(self, on_tick: Callable[[Pipeline], None] | None = None, tick_s: float = 0.25,
            stop_flag: Callable[[], bool] | None = None) -> PipelineReport:
        """Observe until :meth:`finished` says why, or ``stop_flag()``; then stop."""
        why = None
        try:
            while why is None:
                time.sleep(tick_s)
                self.poll_kill_file()
                self._watch_kill()
                if on_tick is not None:
                    on_tick(self)
                why = "signal" if stop_flag is not None and stop_flag() else self.finished()
        except KeyboardInterrupt:
            why = "signal"
        self.stop()
        self._watch_kill()
        return self.report(why)

    def __enter__(self) -> Pipeline:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


@contextmanager
def stop_on_signals(on_kill: Callable[[int, Any], None] | None = None
                    ) -> Iterator[Callable[[], bool]]:
    """SIGTERM and SIGINT set a flag (returned as a callable) instead of killing us, so the
    owner stops its stages and removes its files; SIGUSR1 calls ``on_kill`` (the pipeline's
    kill switch) when given. The old handlers come back after."""
    hit = threading.Event()
    old = {}

    def handler(signum, frame) -> None:
        hit.set()

    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGTERM, signal.SIGINT):
            old[sig] = signal.signal(sig, handler)
        if on_kill is not None:
            old[signal.SIGUSR1] = signal.signal(signal.SIGUSR1, on_kill)
    try:
        yield hit.is_set
    finally:
        for sig, h in old.items():
            signal.signal(sig, h)


def run_pipeline(cfg: PipelineConfig, *, veth=None, on_tick=None, tick_s: float = 0.25,
                 status: Callable[[str], None] = print,
                 venue_capture: str | os.PathLike | None = None) -> PipelineReport:
    """Start, observe and stop a pipeline; SIGTERM/Ctrl-C stop it cleanly, SIGUSR1 throws its
    kill switch. ``venue_capture``: a pcapng of the venue's side of the veth pair."""
    p = Pipeline(cfg, veth=veth, status=status,
                 venue_capture=venue_capture)  # allocates nothing until start()
    with stop_on_signals(on_kill=p.kill_by_signal) as flag, p:
        try:
            p.start()
        except BaseException:
            p.stop(timeout=5)
            raise
        return p.run(on_tick=on_tick, tick_s=tick_s, stop_flag=flag)


def run_config(path: str, **overrides: Any) -> PipelineReport:
    """Load ``path`` and run it (Python API of ``tickpath run``)."""
    return run_pipeline(load(path), **overrides)


def counters_table(snap: dict[str, Any]):
    """The live view of ``tickpath run``: one rich table of the stages' counters."""
    from rich.table import Table

    t = Table(title="tickpath pipeline", title_justify="left")
    for col in ("stage", "core", "state", "busy", "counters"):
        t.add_column(col)
    where = snap.get("placement", {})
    states = {s.value: s.name.lower() for s in AgentState}
    for name in ("venue", "feed", "strategy"):
        c = snap.get(name)
        if c is None:
            continue
        ratio = c.get("busy_ratio")
        shown = {k: v for k, v in c.items() if k not in ("state", "work_cycles", "idle_cycles",
                                                          "beat_ns", "busy_ratio") and v}
        core = where.get(name, {}).get("core")
        t.add_row(name, "-" if core is None else str(core), states.get(c["state"], "?"),
                  "-" if ratio is None else f"{100 * ratio:.1f}%",
                  "  ".join(f"{k} {v:,}" for k, v in shown.items()))
    r = snap["ring"]
    t.add_row("ring", "", "", f"{100 * r['depth'] / r['capacity']:.1f}% full",
              f"depth {r['depth']:,}/{r['capacity']:,}  full {r['full']:,}  drops {r['drops']:,}")
    risk = {k: v for k, v in snap["risk"].items() if v}
    k = snap["control"]["kill"]
    why = KillReason(k).name.lower() if k in KillReason._value2member_map_ else "?"
    t.add_row("risk", "", f"KILLED ({why})" if k else "", "",
              "  ".join(f"{k} {v:,}" for k, v in risk.items()))
    s = snap["strategy"]
    t.add_row("orders", "", "", "", f"sent {s['orders']:,}  fills {s['fills']:,}  venue rejects "
              f"{s['venue_rejects']:,}  reconnects {s['reconnects']:,}  P&L "
              f"${s['pnl'] / 10_000:,.2f}")
    return t
