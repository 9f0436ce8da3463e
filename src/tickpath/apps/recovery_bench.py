"""``tickpath bench recovery``: the ITCH feed under faults, over a veth pair, checked against
the venue's own books.

For each fault and run: two namespaces joined by a veth pair; in the host's, ``tickpath
listen`` (the ``socket`` transport unless told another, the venue's re-request server and
snapshot service given); in the exchange's, ``tickpath venue`` publishing the simulated day by multicast with
the fault put on its feed as packets leave (:mod:`tickpath.venue.faults`: this kernel has no
netem), serving re-requests and snapshots, lingering after its end of session for the last
re-requests. The listener's final books are compared with the simulator's books of the same
day (the live venue publishes exactly that day when nobody trades), and its recovery times
(gap seen -> books exact again) are gathered. Late start: the listener starts when 1/6, 2/6,
... 5/6 of the day is out (run by run) and loads a snapshot first. Venue restart: the venue is
killed (no end of session) when 1/6 .. 5/6 of its day is out and a new one starts the day
again on another MoldUDP64 session; the listener must drop the old books, follow the new
session and end with its books.

One row per fault: ``{"fault", "runs", "books_exact", "messages_lost", "recovery_p50_us",
"recovery_p99_us"}`` plus what explains them (gaps, re-requests, snapshots, stale runs).
"""

from __future__ import annotations

import json
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

GROUP, PORT = "233.54.12.7", 26500
GROUP_B = "233.54.12.8"  # line B: another group, the same port
RETRANSMIT_PORT, GLIMPSE_PORT = 26502, 26503


@dataclass(frozen=True)
class Fault:
    """A named fault: the plan on line A (``venue --faults-a``), how many messages the
    venue's history keeps, and whether the listener starts late."""

    name: str
    plan: str = ""
    history_keep: int = 1_000_000
    late_start: bool = False
    plan_b: str | None = None  # line B's plan ("": a clean line B; None: no line B)
    restart: bool = False  # the venue is killed at k/6 of its day (run k) and started again


#: a plan cutting the line for good at a packet of the run (a different one each run)
CUT = "cut"


def _plan(plan: str, run: int, seed: int) -> str:
    if plan == CUT:
        return f"blackout={300 + 397 * run}:1000000000"
    return f"{plan},seed={seed}" if plan else ""


FAULTS = (
    Fault("none"),
    Fault("loss 0.1%", "loss=0.001"),
    Fault("loss 1% + reordering 1%", "loss=0.01,reorder=0.01,depth=3"),
    Fault("loss 5%", "loss=0.05"),
    Fault("duplication 1% + reordering 2%", "duplicate=0.01,reorder=0.02,depth=5"),
    Fault("blackout of 200 packets (re-request)", "blackout=1000:1200"),
    Fault("blackout beyond the history (snapshot)", "blackout=1000:1400", history_keep=100),
    Fault("late start (snapshot)", late_start=True),  # 1/6 .. 5/6 of the day out
    Fault("line A cut at a packet of the run (A/B)", CUT, plan_b=""),
    Fault("line B cut at a packet of the run (A/B)", "", plan_b=CUT),
    Fault("loss 1% on each line (A/B)", "loss=0.01", plan_b="loss=0.01"),
    Fault("venue restart (new session)", restart=True),
)


def _books_of(path: Path) -> dict[int, dict]:
    out = {}
    for line in path.read_text().splitlines():
        b = json.loads(line)
        out[int(b["locate"])] = b
    return out


def _day_started(venue) -> None:
    """Wait for the venue's first line, printed as its day starts (its start-up, a cold
    cache's compile included, is not part of the day)."""
    import select

    ready, _, _ = select.select([venue.stdout], [], [], 120)
    if not ready or not venue.stdout.readline():
        raise RuntimeError(f"the venue did not start: {venue.stderr.read()[-2000:]}")


def _restart(veth, venue, venue_cmd: list[str], run: int, day_s: float):
    """Kill ``venue`` (no end of session) once (run % 5 + 1) / 6 of its day is out, and start
    the day again on a new session. Returns the new venue's process."""
    import subprocess

    _day_started(venue)  # time the kill from the day's start
    time.sleep((run % 5 + 1) / 6 * day_s)
    venue.kill()
    venue.wait(10)
    cmd = list(venue_cmd)
    cmd[cmd.index("--session") + 1] = f"RESTART{run:03d}"
    return veth.popen(veth.exchange, *cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                      text=True)


def _one_run(veth, fault: Fault, run: int, *, symbols: int, messages: int, rate: float,
             want: dict[int, dict], work: Path, timeout_s: float,
             transport: str = "socket") -> dict[str, Any]:
    """One run of ``fault``: the listener's verdict and figures."""
    py = sys.executable
    books, summary, ready = (work / f"books-{run}.jsonl", work / f"summary-{run}.json",
                             work / f"ready-{run}")
    for f in (books, summary, ready):
        f.unlink(missing_ok=True)
    seed = 1000 + run
    plan = _plan(fault.plan, run, seed)
    venue_cmd = [py, "-m", "tickpath.cli", "venue", "--host", GROUP, "--port", str(PORT),
                 "--iface-ip", veth.exchange_ip, "--symbols", str(symbols), "--messages",
                 str(messages), "--seed", "7", "--rate", str(rate), "--sender", "sendto",
                 "--retransmit-port", str(RETRANSMIT_PORT), "--retransmit-host",
                 veth.exchange_ip, "--glimpse-port", str(GLIMPSE_PORT), "--history-keep",
                 str(fault.history_keep), "--linger",
                 # a late listener may come after the day: the venue serves it until it is
                 # done (stopped below), however long its start-up takes
                 str(timeout_s if fault.late_start else 1), "--session", "FIRST00001"]
    if plan:
        venue_cmd += ["--faults-a", plan]
    if fault.plan_b is not None:
        venue_cmd += ["--line-b", f"{GROUP_B}:{PORT}"]
        if fault.plan_b:
            venue_cmd += ["--faults-b", _plan(fault.plan_b, run, seed + 500)]
    listen_cmd = [py, "-m", "tickpath.cli", "listen", "--host", GROUP, "--port", str(PORT),
                  "--iface-ip", veth.host_ip, "--transport", transport, "--retransmit",
                  f"{veth.exchange_ip}:{RETRANSMIT_PORT}", "--glimpse",
                  f"{veth.exchange_ip}:{GLIMPSE_PORT}", "--late-join",
                  "snapshot" if fault.late_start else "replay", "--books-json", str(books),
                  "--json", str(summary), "--ready-file", str(ready), "--duration",
                  str(timeout_s)] + (["--line-b", GROUP_B] if fault.plan_b is not None else [])
    import subprocess

    procs: list[subprocess.Popen] = []
    try:
        if fault.late_start:
            venue = veth.popen(veth.exchange, *venue_cmd, stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
            procs.append(venue)
            _day_started(venue)
            # a different point of the day each run (run k of 5: k/6 of it out)
            time.sleep((run % 5 + 1) / 6 * messages / rate)
            listener = veth.popen(veth.host, *listen_cmd, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE, text=True)
            procs.append(listener)
        else:
            listener = veth.popen(veth.host, *listen_cmd, stdout=subprocess.DEVNULL,
                                  stderr=subprocess.PIPE, text=True)
            procs.append(listener)
            end = time.monotonic() + 120  # a cold cache compiles first
            while not ready.exists():
                if listener.poll() is not None or time.monotonic() > end:
                    raise RuntimeError(f"the listener did not start: "
                                       f"{listener.stderr.read() if listener.stderr else ''}")
                time.sleep(0.02)
            venue = veth.popen(veth.exchange, *venue_cmd, stdout=subprocess.PIPE
                               if fault.restart else subprocess.DEVNULL,
                               stderr=subprocess.PIPE, text=True)
            procs.append(venue)
            if fault.restart:
                venue = _restart(veth, venue, venue_cmd, run, messages / rate)
                procs.append(venue)
        listener.wait(timeout_s + 60)
        if fault.late_start and listener.returncode == 0:
            venue.terminate()  # lingering for a late listener, which is done
        venue.wait(60)
        if listener.returncode != 0 or not summary.exists():
            raise RuntimeError(f"the listener failed ({listener.returncode}): "
                               f"{listener.stderr.read()[-2000:]}")
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait(5)
    s = json.loads(summary.read_text())
    got = _books_of(books)
    rec = s["recovery"]
    # a restart counts only when the listener saw it (the kill came after the first packet)
    exact = got == want and bool(s["exact"]) and (
        not fault.restart or int(rec.get("sessions", 0)) >= 1)
    return {"exact": exact, "ended": bool(s["ended"]), "sessions": int(rec.get("sessions", 0)),
            "recovery_ns": s["recovery_ns"], "gaps": int(rec["gaps_opened"]),
            "requests": int(rec["requests"]), "snapshots": int(rec.get("snapshots", 0)),
            "stale": rec["state"] == "stale", "stale_messages": int(rec["stale_messages"]),
            "snapshot_errors": s["snapshot_errors"]}


def run_recovery_bench(runs: int = 3, messages: int = 100_000, rate: float = 50_000.0,
                       symbols: int = 20, faults: tuple[Fault, ...] = FAULTS,
                       status: Callable[[str], None] = print,
                       transport: str = "socket") -> list[dict[str, Any]]:
    """Every fault ``runs`` times, the listener on ``transport`` (a kernel-socket one:
    ``socket``, ``recv`` or ``busypoll``, which take line B too); returns the rows (the
    module docstring)."""
    from ..venue import Simulator
    from ..wire.netns import veth_pair

    sim = Simulator(symbols=symbols, messages=messages, seed=7)
    sim.blocks()
    # as the listener writes them (JSON: lists, int keys restored)
    want = {int(k): v for k, v in json.loads(json.dumps(sim.books())).items()}
    timeout_s = 40.0 + 3 * messages / rate  # (a restart: the day again, and a start)
    rows = []
    with tempfile.TemporaryDirectory(prefix="tp-recovery-") as d, veth_pair("10.198.0") as veth:
        work = Path(d)
        for fault in faults:
            results = []
            unseen = 0
            for r in range(runs):
                for _ in range(3):
                    res = _one_run(veth, fault, r, symbols=symbols, messages=messages,
                                   rate=rate, want=want, work=work, timeout_s=timeout_s,
                                   transport=transport)
                    # a kill before the venue's first packet (its process not yet scheduled
                    # on a busy host) is no restart to recover from: that run again
                    if not fault.restart or res["sessions"] >= 1:
                        break
                    unseen += 1
                results.append(res)
                status(f"{fault.name}, run {r + 1}/{runs}: books "
                       f"{'exact' if res['exact'] else 'NOT exact'}, {res['gaps']} gaps, "
                       f"{res['requests']} requests, {res['snapshots']} snapshots")
            times = np.array([t for x in results for t in x["recovery_ns"]], np.float64)
            rows.append({
                "fault": fault.name, "plan": fault.plan, "runs": runs, "transport": transport,
                "books_exact": sum(x["exact"] for x in results),
                # messages sequenced but never applied (the feed stale): 0 when exact
                "messages_lost": sum(0 if x["exact"] else x["stale_messages"]
                                     for x in results),
                "recovery_p50_us": float(np.percentile(times, 50) / 1e3) if times.size
                else None,
                "recovery_p99_us": float(np.percentile(times, 99) / 1e3) if times.size
                else None,
                "gaps": sum(x["gaps"] for x in results),
                "requests": sum(x["requests"] for x in results),
                "snapshots": sum(x["snapshots"] for x in results),
                "sessions": sum(x["sessions"] for x in results),
                "stale_runs": sum(x["stale"] for x in results),
                "restarts_unseen": unseen,
                "snapshot_errors": sum(len(x["snapshot_errors"]) for x in results)})
    return rows


__all__ = ["FAULTS", "Fault", "run_recovery_bench"]
