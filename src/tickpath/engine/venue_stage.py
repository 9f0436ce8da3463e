"""The built-in venue as a stage: the simulator's market published over MoldUDP64/UDP, and
its order entry (SoupBinTCP 3.0 / OUCH 5.0) matching the trader's orders against it.

:class:`tickpath.venue.live.LiveVenue` does the work: order entry listens from the start (the
strategy stage logs in while the stages start); once the pipeline says GO, the day's flow is
generated as it is published at ``simulator.rate``, and the trader's orders are matched
between packets (their ITCH goes out in the next packet, their OUCH answers at once). Waits
between packets are ``select`` on the order-entry sockets with the time to the next due
message as the timeout, so an order is answered while the venue would otherwise sleep.
Each packet's ITCH timestamps are taken by the publisher just before its send call, so the
wire row of the budget starts at the send. At the end of the day the venue ends both
sessions and keeps answering order entry until the pipeline stops.
"""

from __future__ import annotations

import logging
import threading
import time

from ..venue.faults import FaultPlan
from ..venue.live import LiveVenue
from ..wire.capture import Capture
from ..wire.pcap import PcapngWriter
from .agent import AgentState
from .counters import Control, Counters, VenueCounter

log = logging.getLogger(__name__)
V = VenueCounter
_PROGRESS_NS = 50_000_000  # how often the venue's counters are published


def _recovery(p: dict) -> dict:
    """The live venue's recovery services from the stage's params: a re-request server and
    a snapshot service on ``recovery_host`` at ``recovery_ports`` (None: neither), and the
    faults put on its feed (``faults``: a :class:`~tickpath.venue.faults.FaultPlan`)."""
    out: dict = {}
    if p.get("faults"):  # faults on the feed as it leaves (the kernel has no netem)
        out["faults_a"] = FaultPlan.parse(p["faults"])
    ports = p.get("recovery_ports")
    if not ports:
        return out
    host = p.get("recovery_host") or "127.0.0.1"
    return {**out, "retransmit_port": int(ports[0]), "retransmit_host": host,
            "snapshot_port": int(ports[1]), "snapshot_host": host}


def main(spec, counters: Counters) -> None:
    """Entry point of the venue process (tickpath.engine.agent): the live venue from GO to
    the end of the day, then order entry until STOP (the module's docstring)."""
    p = spec.params
    control, sect = counters.section("control"), counters.section("venue")
    lv = LiveVenue(int(p["symbols"]), int(p["messages"]), int(p["seed"]), rate=p.get("rate"),
                   feed_host=p["host"], feed_port=int(p["port"]), session=p["session"],
                   accounts=list(p["accounts"]), orders_host=p["orders_host"],
                   orders_port=int(p["orders_port"]), max_payload=int(p["max_payload"]),
                   heartbeat_s=float(p.get("heartbeat_s", 1.0)), iface_ip=p.get("iface_ip"),
                   **_recovery(p))

    def progress() -> None:
        st = lv.stats()
        sect[V.MESSAGES] = st["feed_messages"]
        sect[V.PACKETS] = st["feed_packets"]
        sect[V.ORDERS_IN] = st.get("orders_in", 0)
        sect[V.EXECUTIONS] = st.get("executions", 0)
        sect[V.CLIENT_REJECTS] = st.get("rejects", 0)
        sect[V.SESSIONS] = st.get("sessions", 0)
        sect[V.BEAT_NS] = time.clock_gettime_ns(time.CLOCK_REALTIME)

    cap = _VenueCapture(p["capture_iface"], p["capture"]) if p.get("capture") else None
    try:
        lv.warm_up()  # compile (or load) before saying ready
        sect[V.STATE] = AgentState.RUNNING
        end = time.monotonic() + float(p.get("go_timeout_s", 300))
        while not control[Control.GO] and not control[Control.STOP]:
            if time.monotonic() > end:
                raise TimeoutError("the venue waited too long for the pipeline's GO")
            lv.turn(0)  # logins are answered while the other stages start
            time.sleep(0.001)
        if control[Control.STOP]:
            return
        lv.start()
        while not control[Control.STOP] and lv.sim.body_remaining > 0:
            lv.run(duration_s=_PROGRESS_NS / 1e9)
            progress()
        lv.end()
        progress()
        sect[V.WORK_CYCLES] = sect[V.PACKETS]
        sect[V.DONE] = 1
        while not control[Control.STOP]:  # answer what the trader still sends
            lv.turn(0)
            time.sleep(0.001)
            progress()
    finally:
        lv.close()
        if cap is not None:
            cap.close()


class _VenueCapture:
    """Every frame on the venue's interface, both ways, with the kernel's stamps, written to
    a pcapng by a thread of the venue's process (the referee of tick to trade:
    :mod:`tickpath.venue.referee`). The stamps are the kernel's, taken as each frame passes
    the interface, so when the thread reads them does not change them."""

    def __init__(self, iface: str, path: str) -> None:
        self.cap = Capture(iface)
        self.writer = PcapngWriter(path)
        self._stop = threading.Event()
        self.thread = threading.Thread(target=self.cap.run, args=(self.writer,), kwargs={
            "should_stop": self._stop.is_set, "tick_s": 0.05}, daemon=True)
        self.thread.start()

    def close(self) -> None:
        time.sleep(0.05)  # the last orders' frames reach the socket's queue
        self._stop.set()
        self.thread.join(timeout=5)
        self.writer.close()
        self.cap.close()
        if self.cap.kernel_drops():
            log.warning("venue capture: the kernel dropped %d frames (its queue was full): "
                        "their orders are not paired", self.cap.kernel_drops())
