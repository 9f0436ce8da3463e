"""The optimized trading host of the central-bank scenario: both incremental feeds, kernel
bypass where the host has it, and the compiled index arbitrage in one loop.

A :class:`~tickpath.engine.run_to_completion.RunToCompletionStage` with a second feed: the
equities' ITCH feed on the configured transport (busy-polled socket, AF_PACKET ring or
AF_XDP), the future's MDP 3.0 channel on a busy-polled socket nested in the same loop; the
records of both through :mod:`tickpath.strategy.index_arb`, pre-trade risk and the OUCH /
SoupBinTCP order session, all compiled, one core.

Run by :mod:`tickpath.apps.scenario.run` in the host namespace: ``python -m
tickpath.apps.scenario.fast_host '<json>'`` prints ``ready``, trades until the equities'
feed ends (and a grace for the last answers) or ``timeout_s``, writes its samples to ``out``
(npz) and prints one JSON line: :func:`tickpath.apps.scenario.host_report.summary`.
"""

from __future__ import annotations

import json
import os
import resource
import sys
import threading
import time
import uuid
from types import SimpleNamespace

import numpy as np

from ...engine.counters import Control, Counters, create_array
from ...engine.run_to_completion import RunToCompletionStage
from ...strategy import index_arb
from ...strategy.records import N_CARRIED
from ...telemetry.stamps import N_BOUNDARIES
from .host_report import summary, tick_to_trade_us

GRACE_S = 0.5  # after the feed's end: the last order answers
ROWS = 1 << 16  # order paths stamped
SAMPLES = 1 << 22  # basis samples kept (one per evaluation a record triggers)


def _stop_when_done(stage: RunToCompletionStage, timeout_s: float) -> None:
    """The owner's watch: STOP once the feed has ended (after a grace) or at the timeout."""
    control = stage.control
    end = time.monotonic() + timeout_s
    while time.monotonic() < end and not stage.ended:
        time.sleep(0.01)
    time.sleep(GRACE_S)
    control[int(Control.STOP)] = 1


def main(argv: list[str]) -> None:
    cfg = json.loads(argv[0])
    cpu = cfg.get("cpu")
    if cpu is not None and cpu in os.sched_getaffinity(0):
        os.sched_setaffinity(0, {cpu})
    tag = f"tp-scn-{uuid.uuid4().hex[:8]}"
    counters = Counters.create(f"{tag}-counters")
    rows_map, rows = create_array(f"{tag}-stamps", ROWS, N_BOUNDARIES)
    o, sp = cfg["orders"], cfg["strategy"]
    params = {
        "transport": cfg["transport"], "host": cfg["equities"]["group"],
        "port": int(cfg["equities"]["port"]), "iface_ip": cfg["iface_ip"],
        "futures": {"host": cfg["futures"]["group"], "port": int(cfg["futures"]["port"]),
                    "iface_ip": cfg["iface_ip"], "late_join": "natural"},
        "rows": f"{tag}-stamps", "row_every": 1,
        "strategy": "index_arb",
        "strategy_params": {**{k: sp[k] for k in ("future", "basket", "weights", "scale",
                                                  "threshold", "exit", "size",
                                                  "max_position")},
                            "samples": SAMPLES},
        "risk": cfg["risk"],
        "gateway": {"host": o["host"], "port": int(o["port"]), "username": o["username"],
                    "password": o["password"], "journal": o["journal"], "fsync": "never",
                    "stale_s": 10.0}}
    stage = None
    try:
        stage = RunToCompletionStage(SimpleNamespace(params=params), counters)
        # mapped by everything that uses them: their names go now, so a host killed
        # before its end leaves nothing in /dev/shm
        counters.unlink()
        os.unlink(f"/dev/shm/{tag}-stamps")
        stage.start()  # compiled (or loaded) and logged in before the day starts
        print("ready", flush=True)
        watch = threading.Thread(target=_stop_when_done,
                                 args=(stage, float(cfg["timeout_s"])), daemon=True)
        r0 = resource.getrusage(resource.RUSAGE_SELF)
        watch.start()
        stage.run()
        r1 = resource.getrusage(resource.RUSAGE_SELF)
        s, t = stage.trader.state, stage.trader
        rep = index_arb.report(s)
        fut = int(s.words[index_arb.FUT_LOCATE])
        top = t.ctx.top[fut] if fut >= 0 else np.zeros(4, np.int64)
        mark = (top[0] + top[2]) * 0.5
        snap = counters.snapshot()
        n_rows = int(snap["strategy"]["rows"])
        np.savez(cfg["out"], basis=index_arb.lateness(s).copy())
        out = summary(t.session, fut, mark, rep["fair"], {
            "host": "optimized", "opportunities": rep["opportunities"],
            "orders": int(snap["strategy"]["orders"]),
            "records": int(snap["strategy"]["records"]),
            "equity_messages": int(snap["feed"]["messages"]),
            "future_messages": int(stage.futures.feed.messages),
            "gaps": int(snap["feed"]["gaps"]) + int(stage.futures.feed.counters()["gaps"]),
            "cpu_s": round((r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime), 3),
            "ended": bool(stage.ended),
            **tick_to_trade_us(rows[:n_rows, 0], rows[:n_rows, N_CARRIED + 3])})
        print(json.dumps(out), flush=True)
    finally:
        if stage is not None:
            stage.close()
        else:  # built nothing: the names are still there
            counters.unlink()
            os.unlink(f"/dev/shm/{tag}-stamps")


if __name__ == "__main__":
    main(sys.argv[1:])
