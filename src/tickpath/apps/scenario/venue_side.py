"""The venue side of the central-bank scenario, in the exchange namespace.

``python -m tickpath.apps.scenario.venue_side '<json>'``: builds the
:class:`~tickpath.venue.scenario.ScenarioVenue` (the stocks on ITCH, the futures on MDP 3.0,
and with ``snapshots`` the stocks' Book Snapshot feed and the futures' full-snapshot channel
beside them; order entry for each host's account), warms it, prints ``listening``, serves order entry (the hosts log in) until ``go`` comes on
its standard input, then runs
the day: calm, the announcement and its burst, calm again; ends both days and prints one JSON
line: the venue's stats and the phases' windows as epoch ns. The ``listening`` line carries
the index's terms (basket, weights, the index futures), which the hosts' strategy needs.
"""

from __future__ import annotations

import json
import os
import select
import sys
import time
from typing import Any

from ...venue.scenario import Announcement, ScenarioVenue


def _epoch(mono: float | None, mono0: float, real0: int) -> int | None:
    """A venue-clock (monotonic s) moment as epoch ns."""
    return None if mono is None else real0 + int((mono - mono0) * 1e9)


def main(argv: list[str]) -> None:
    cfg = json.loads(argv[0])
    cpu = cfg.get("cpu")
    if cpu is not None and cpu in os.sched_getaffinity(0):
        os.sched_setaffinity(0, {cpu})
    m, p = cfg["market"], cfg["pace"]
    g = cfg["groups"]
    ip = cfg["exchange_ip"]
    venue = ScenarioVenue(
        m["symbols"], int(cfg["messages"]), m["seed"],
        futures_messages=int(cfg["futures_messages"]), rate=p["rate"],
        announcement=Announcement(move=cfg["move"], after_s=p["calm_s"],
                                  rate_factor=p["factor"], burst_s=p["burst_s"]),
        itch=tuple(g["itch"]), mdp3=tuple(g["mdp3"]), mdp3_b=tuple(g["mdp3_b"]),
        basket_size=m["basket"],
        accounts=cfg["accounts"], orders_host=ip, futures_orders_port=cfg["orders_port"],
        iface_ip=ip,
        equities_options={"snapshot_feed": tuple(g["itch_snapshots"])}
        if cfg["snapshots"] else None,
        futures_options={"full_snapshots": tuple(g["mdp3_snapshots"])}
        if cfg["snapshots"] else None)
    with venue:
        venue.warm_up()
        t = venue.index_terms()
        print(json.dumps({"listening": venue.futures_orders_port, "terms": {
            "symbols": list(t.symbols), "weights": list(t.weights),
            "futures": [vars(f) for f in t.futures]}}), flush=True)
        # the hosts log in before the day starts: order entry is served until "go"
        while not select.select([sys.stdin], [], [], 0.001)[0]:
            venue.turn(0)
        if sys.stdin.readline().strip() != "go":
            return
        mono0, real0 = time.monotonic(), time.clock_gettime_ns(time.CLOCK_REALTIME)
        venue.start()
        started = _epoch(venue.start_wall, mono0, real0)
        venue.run(duration_s=p["calm_s"] + p["burst_s"] + p["after_s"])
        ended = time.clock_gettime_ns(time.CLOCK_REALTIME)
        venue.end()
        st: dict[str, Any] = venue.stats()
        a = st["announcement"] or {}
        st["windows"] = {"start_ns": started, "announced_ns": _epoch(a.get("at_s"), mono0, real0),
                         "burst_end_ns": _epoch(a.get("burst_end_s"), mono0, real0),
                         "end_ns": ended}
        print(json.dumps(st, default=str), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
