"""The built-in venue as a stage: the simulator's day, published over MoldUDP64/UDP.

It generates the day in its own process, says it is ready, waits for the pipeline's GO word
(every other stage is in its loop by then, so no packet waits on a compiler), publishes at
the configured rate, and ends the session.
"""

from __future__ import annotations

import time

from ..venue import Simulator
from ..venue.publisher import UdpPublisher
from .agent import AgentState
from .counters import Control, Counters, VenueCounter

V = VenueCounter


def main(spec, counters: Counters) -> None:
    """Entry point of the venue process (tickpath.engine.agent)."""
    p = spec.params
    control, sect = counters.section("control"), counters.section("venue")
    blocks = Simulator(symbols=int(p["symbols"]), messages=int(p["messages"]),
                       seed=int(p["seed"])).blocks()
    with UdpPublisher(p["host"], int(p["port"]), session=p["session"],
                      iface_ip=p.get("iface_ip"), max_payload=int(p["max_payload"])) as pub:
        pub.warm_up()
        sect[V.STATE] = AgentState.RUNNING
        end = time.monotonic() + float(p.get("go_timeout_s", 300))
        while not control[Control.GO] and not control[Control.STOP]:
            if time.monotonic() > end:
                raise TimeoutError("the venue waited too long for the pipeline's GO")
            time.sleep(0.002)
        if control[Control.STOP]:
            return

        def progress(n: int) -> None:
            sect[V.MESSAGES] = n
            sect[V.PACKETS] = pub.packets
            sect[V.BEAT_NS] = time.clock_gettime_ns(time.CLOCK_REALTIME)

        pub.publish([blocks], rate=p.get("rate"),
                    should_stop=lambda: bool(control[Control.STOP]), progress=progress)
        pub.end_session()
        progress(pub.messages)
        sect[V.WORK_CYCLES] = pub.packets
    sect[V.DONE] = 1
