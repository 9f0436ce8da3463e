"""``tickpath scenario central-bank``: a rate announcement, 100x the messages, and two hosts
arbitraging an index future against its stocks, one on each stack. A simulation, and it says
so: its point is to make the story measurable on whatever host it runs on.

One venue (:class:`~tickpath.venue.scenario.ScenarioVenue`, the "exchange" namespace) trades
the stocks (ITCH 5.0, and beside it their Book Snapshot feed) and an index future on them (MDP
3.0, and beside it the SnapshotFullRefresh channel), its fair value the open price x the
basket's live value. After ``calm_s`` the announcement moves the basket's stocks by ``move``
and both feeds run ``factor`` times faster for ``burst_s``, then calm again. Two hosts (the
"host" namespace, over a veth pair) trade the same index arbitrage
(:mod:`tickpath.strategy.index_arb`; the traditional host's is the same rule written in
Python), each with its own account at the venue's futures order entry:

* **traditional** (:mod:`.legacy_host`): kernel sockets woken per datagram, the two
  full-snapshot feeds, plain Python;
* **optimized** (:mod:`.fast_host`): both incremental feeds, the stocks' on the best receive
  path this host has (an AF_PACKET ring, else a busy-polled socket), the future's on a
  busy-polled socket in the same loop, compiled strategy, risk and order session, run to
  completion on one core.

On 3 cores or more the hosts trade against one run of the venue, racing for the same
opportunities; on fewer each gets a run of its own (the same seeded day, announcement and
pace), since two spinning hosts and a venue on two cores would measure the scheduler. Per
host: opportunities seen, orders, fills, P&L in index points (marked at the future's last
mid) and the unhedged exposure (the stock leg is not traded), tick-to-trade (venue's send
stamp of the packet behind an order -> the order's send), and how late its view of the basis
was in each phase (for each evaluation: the strategy's clock - the venue's send stamp of the
datagram that triggered it).
"""

from __future__ import annotations

import json
import os
import select
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from ...telemetry.histogram import summary_us
from ..stacks_bench import usable
from .config import ScenarioConfig

GROUPS = {"itch": ("233.54.12.41", 26710), "itch_snapshots": ("233.54.12.42", 26711),
          "mdp3": ("233.54.12.43", 26712), "mdp3_snapshots": ("233.54.12.44", 26713),
          # line B of the futures' incremental channel: on its own group, which the
          # optimized host leaves alone (its line A is the one it reads)
          "mdp3_b": ("233.54.12.45", 26712)}
ORDERS_PORT = 26714
ACCOUNTS = {"optimized": ("FAST", "fast0001"), "traditional": ("SLOW", "slow0001")}
READY_S = 600.0  # the longest a side may take to start (a cold cache compiles first)
HOSTS = ("optimized", "traditional")
PHASES = ("calm", "burst", "after")
#: the optimized host's basis must never be later than this in the burst (the target)
TARGET_BURST_LATE_US = 50.0
#: calm is counted from this long after the opening books (published unpaced)
OPENING_SETTLE_NS = 250_000_000


def strategy_params(terms: dict[str, Any], cfg: ScenarioConfig) -> dict[str, Any]:
    """Both hosts' strategy parameters from the venue's index terms: the front index
    contract against the basket, prices in the futures' order-entry units (1e-4 of the
    conventional price, display price x DisplayFactor)."""
    f = terms["futures"][0]
    unit = f["display_factor"] * 1e4  # order-entry units per display unit
    tick = round(f["tick"] * unit)
    s = cfg.strategy
    return {"future": f["symbol"], "security_id": f["security_id"],
            "ouch_px": round(1e5 / f["display_factor"]), "basket": terms["symbols"],
            "weights": terms["weights"], "scale": f["open_price"] * unit, "tick": tick,
            "threshold": s.threshold_ticks * tick, "exit": s.exit_ticks * tick,
            "size": s.size, "max_position": s.max_position}


def pick_transport(want: str) -> tuple[str, dict[str, str]]:
    """The optimized host's ITCH transport: ``want``, or with "auto" the first this host
    runs of packet and busypoll; and why the others were left out."""
    ok, why = usable(["packet", "busypoll"] if want == "auto" else [want])
    if not ok:
        reasons = "; ".join(f"{t}: {r}" for t, r in why.items())
        raise RuntimeError(f"the optimized host has no transport here ({reasons}); "
                           f"`tickpath wire check` says what each needs")
    return ok[0], why


def _line(proc: subprocess.Popen, timeout: float, what: str, log: Path | None = None) -> str:
    """The next line ``proc`` prints, within ``timeout`` seconds (its stderr, or ``log``
    where it went, says why not)."""
    ready, _, _ = select.select([proc.stdout], [], [], timeout)
    line = proc.stdout.readline().strip() if ready else ""
    if not line:
        proc.kill()
        proc.wait()
        err = log.read_text() if log is not None else (proc.stderr.read() if proc.stderr
                                                         else "")
        raise RuntimeError(f"{what}: no answer within {timeout:g} s "
                           f"({err[-3000:] or 'no output'})")
    return line


def _run_once(pair, cfg: ScenarioConfig, hosts: tuple[str, ...], transport: str,
              tmp: Path, out_dir: Path, cores: list[int], status: Callable[[str], None]
              ) -> dict[str, Any]:
    """One run of the venue with ``hosts`` trading against it; their lines and samples
    (each host's ``<name>.npz`` in ``out_dir``)."""
    py = sys.executable
    p = cfg.pace
    messages = int(p.messages() * 1.2) + 2000 * cfg.market.symbols  # room for the opening
    vcfg = {"market": vars(cfg.market), "pace": vars(p), "move": cfg.announcement.move,
            "messages": messages, "futures_messages": int(messages * cfg.market.futures_share),
            "groups": GROUPS, "exchange_ip": pair.exchange_ip, "orders_port": ORDERS_PORT,
            "accounts": [f"{u}:{pw}" for u, pw in ACCOUNTS.values()], "cpu": cores[0],
            # the snapshot feeds only when the traditional host trades: publishing them is
            # the venue's work (and its core's softirq), which would slow the other feeds
            "snapshots": "traditional" in hosts}
    venue = pair.popen(pair.exchange, py, "-m", "tickpath.apps.scenario.venue_side",
                       json.dumps(vcfg), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True)
    procs: dict[str, subprocess.Popen] = {}
    try:
        hello = json.loads(_line(venue, READY_S, "the venue"))
        sp = strategy_params(hello["terms"], cfg)
        for k, name in enumerate(hosts):
            user, pw = ACCOUNTS[name]
            hcfg = {"cpu": cores[min(k + 1, len(cores) - 1)], "iface_ip": pair.host_ip,
                    "transport": transport, "strategy": sp,
                    "equities": dict(zip(("group", "port"),
                                         GROUPS["itch" if name == "optimized"
                                                else "itch_snapshots"], strict=True)),
                    "futures": dict(zip(("group", "port"),
                                        GROUPS["mdp3" if name == "optimized"
                                               else "mdp3_snapshots"], strict=True)),
                    "orders": {"host": pair.exchange_ip, "port": ORDERS_PORT,
                               "username": user, "password": pw,
                               "journal": str(tmp / f"{name}.journal")},
                    "risk": {"max_order_size": 1000, "max_position": 10 * sp["max_position"],
                             "max_notional": 1e13, "collar_bps": 2000,
                             "max_orders_per_s": 10_000},
                    "timeout_s": READY_S + 10 * (p.calm_s + p.burst_s + p.after_s),
                    "out": str(out_dir / f"{name}.npz")}
            module = "fast_host" if name == "optimized" else "legacy_host"
            # stderr to a file: a pipe nobody reads until the end would block a chatty host
            procs[name] = pair.popen(pair.host, py, "-m", f"tickpath.apps.scenario.{module}",
                                     json.dumps(hcfg), stdout=subprocess.PIPE,
                                     stderr=open(tmp / f"{name}.log", "w"), text=True)
        for name, proc in procs.items():
            if _line(proc, READY_S, f"the {name} host", tmp / f"{name}.log") != "ready":
                raise RuntimeError(f"the {name} host did not say ready")
        status(f"{' and '.join(hosts)} ready; the day starts: calm {p.calm_s:g} s at "
               f"{p.rate:,.0f} msgs/s, the announcement, x{p.factor:g} for {p.burst_s:g} s, "
               f"calm {p.after_s:g} s")
        venue.stdin.write("go\n")
        venue.stdin.flush()
        wait = READY_S + 10 * (p.calm_s + p.burst_s + p.after_s)
        vout, verr = venue.communicate(timeout=wait)
        if venue.returncode:
            raise RuntimeError(f"the venue failed: {verr[-3000:]}")
        out = {"venue": json.loads(vout.strip().splitlines()[-1]), "hosts": {}}
        for name, proc in procs.items():
            hout, _ = proc.communicate(timeout=wait)
            if proc.returncode:
                raise RuntimeError(f"the {name} host failed: "
                                   f"{(tmp / f'{name}.log').read_text()[-3000:]}")
            line = json.loads(hout.strip().splitlines()[-1])
            with np.load(out_dir / f"{name}.npz") as data:
                line["basis"] = data["basis"].copy()
            out["hosts"][name] = line
        return out
    finally:
        for proc in (venue, *procs.values()):
            if proc.poll() is None:
                proc.kill()
                proc.communicate()


def lateness_by_phase(basis: np.ndarray, windows: dict[str, int | None],
                      settle_ns: int = OPENING_SETTLE_NS) -> dict[str, dict[str, float]]:
    """How late the host's view of the basis was (seen - sent) for the evaluations whose
    triggering datagram was sent in each phase: calm (``settle_ns`` after the start to the
    announcement: the opening books go out unpaced, and the first milliseconds after them
    are the hosts catching up, not calm), burst (the announcement's burst), after."""
    t0, ta, tb, t1 = (windows[k] for k in ("start_ns", "announced_ns", "burst_end_ns",
                                            "end_ns"))
    calm0 = None if t0 is None else t0 + settle_ns
    cuts = {"calm": (calm0, ta), "burst": (ta, tb), "after": (tb, t1)}
    sent, late = basis[:, 0], basis[:, 1] - basis[:, 0]
    out = {}
    for phase, (a, b) in cuts.items():
        if a is None or b is None:
            out[phase] = {"count": 0}
            continue
        mine = (sent >= a) & (sent < b) & (sent > 0)
        out[phase] = summary_us(late[mine])
    return out


def run_scenario(cfg: ScenarioConfig, *, samples_dir: Path | None = None,
                 status: Callable[[str], None] = print) -> dict[str, Any]:
    """Run the scenario (module doc); returns ``{"hosts": {name: {...}}, "venue": [...],
    "config": ..., "together": bool, "transport": ..., ...}``. ``samples_dir``: keep each
    host's basis samples there (``<host>.npz``: ``basis``, int64 rows of venue sent, seen,
    basis x 1000 in order-entry units, feed 0 stocks / 1 future)."""
    from ...wire.netns import veth_pair

    allowed = sorted(os.sched_getaffinity(0))
    together = cfg.hosts.together == "yes" or (cfg.hosts.together == "auto"
                                               and len(allowed) >= 3)
    transport, left_out = pick_transport(cfg.hosts.optimized)
    for t, why in left_out.items():
        status(f"{t}: left out ({why})")
    runs = [HOSTS] if together else [(h,) for h in HOSTS]
    hosts: dict[str, Any] = {}
    venues = []
    with tempfile.TemporaryDirectory(prefix="tp-scenario-") as tmp, \
            veth_pair("10.196.0") as pair:
        for k, names in enumerate(runs):
            status(f"run {k + 1} of {len(runs)}: {' and '.join(names)} host"
                   f"{'s' if len(names) > 1 else ''} ({transport} for the optimized one)")
            out_dir = samples_dir if samples_dir is not None else Path(tmp)
            out_dir.mkdir(parents=True, exist_ok=True)
            got = _run_once(pair, cfg, names, transport, Path(tmp), out_dir, allowed, status)
            v = got["venue"]
            venues.append({"hosts": list(names), "windows": v["windows"], "phases": v["phases"],
                           "announcement": v["announcement"],
                           "itch_messages": v["itch"].get("messages"),
                           "mdp3_messages": v["mdp3"].get("messages")})
            for name, line in got["hosts"].items():
                basis = line.pop("basis")
                line["basis_late"] = lateness_by_phase(basis, v["windows"])
                line["evaluations"] = int(basis.shape[0])
                hosts[name] = line
    opt = hosts.get("optimized", {}).get("basis_late", {}).get("burst", {})
    return {"hosts": hosts, "venue": venues, "together": together, "transport": transport,
            "config": cfg.as_dict(), "cores": len(allowed),
            "target_burst_late_us": TARGET_BURST_LATE_US,
            "target_met": bool(opt.get("count")) and opt.get("max_us", 1e9)
            <= TARGET_BURST_LATE_US,
            "date": time.strftime("%Y-%m-%d"), "host": os.uname().nodename}


def markdown(result: dict[str, Any]) -> str:
    """The per-host table, ready to paste."""
    lines = ["| host | opportunities | orders | fills | P&L (points) | exposure (points) | "
             "tick-to-trade p50 / p99 (µs) | basis late, burst p50 / p99 / max (µs) | "
             "calm p50 (µs) | CPU (s) |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for name in HOSTS:
        h = result["hosts"].get(name)
        if h is None:
            continue
        b, c = h["basis_late"]["burst"], h["basis_late"]["calm"]

        def us(d: dict[str, Any], k: str) -> str:
            v = d.get(k)
            return "-" if v is None else f"{v:,.1f}"
        lines.append(
            f"| {name} | {h['opportunities']} | {h['orders']} | {h['fills']} | "
            f"{h['pnl_points']:,.2f} | {h['exposure_points']:,.2f} | "
            f"{us(h, 't2t_p50_us')} / {us(h, 't2t_p99_us')} | "
            f"{us(b, 'p50_us')} / {us(b, 'p99_us')} / {us(b, 'max_us')} | "
            f"{us(c, 'p50_us')} | {h['cpu_s']} |")
    how = ("both against one run of the venue" if result["together"] else
           "each against its own run of the same day (fewer than 3 cores)")
    lines.append("")
    lines.append(f"Differs between rows: the stack only (traditional: kernel sockets, "
                 f"full-snapshot feeds, plain Python; optimized: {result['transport']} and a "
                 f"busy-polled socket, incremental feeds, compiled, one core); same strategy "
                 f"rule, venue, day and announcement; {how}.")
    return "\n".join(lines)


def main_cli(config: str | None, json_out: str | None, markdown_out: str | None,
             samples_dir: str | None = None, status: Callable[[str], None] = print
             ) -> dict[str, Any]:
    """What ``tickpath scenario central-bank`` runs: load, run, print and write."""
    from .config import load

    cfg = load(config)
    result = run_scenario(cfg, samples_dir=Path(samples_dir) if samples_dir else None,
                          status=status)
    table = markdown(result)
    status(table)
    if json_out:
        Path(json_out).write_text(json.dumps(result, indent=2, default=float))
    if markdown_out:
        Path(markdown_out).write_text(table + "\n")
    return result
