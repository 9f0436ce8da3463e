"""Nanoseconds per datagram of a compiled receive loop running a feed handler, from memory:
the pcap transport's replay loop over a mapped capture at fast pace, books kept, the whole
file per call, in one process with the garbage collector off. No network, no clock wait:
what is left is the loop and the handler's step.

    .venv/bin/python bench/pcap_loop_cost.py [--feed itch|mdp3] [--messages 1000000]
                                             [--calls 4] [--rounds 1] [--json PATH]

``--feed itch`` (the default): the ITCH handler on the equity simulator's day, one message a
datagram (the simulator's smallest packets), through ``PcapReceiver.poll``. ``--feed mdp3``:
the MDP3 handler on the futures venue's day (``FuturesSimulator.write_pcap``: each
incremental packet on lines A and B, and the snapshot loop), through
``tickpath.apps.mdp3_replay.replay_mdp3`` (its ``FeedListener`` settles in Python when the
handler asks); reports ns per datagram and per message. Either capture is written once under
out/bench/.

It runs against this tree and against older trees (``PYTHONPATH=<tree>/src``), so a
before/after is measured the same way: check the older commit out beside this one (``git
worktree add --detach /tmp/before <commit>``) and run this file with ``PYTHONPATH`` set to
each tree's src in turn, alternating. For ITCH it also speaks the API from before the
transport <-> handler seam (``5797a96``: the loops then took the handler's arrays as
arguments; give that tree a virtualenv of its own).
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import time
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "out" / "bench"


def capture(messages: int, symbols: int = 500, seed: int = 3) -> Path:
    from tickpath.feed.moldudp64 import HEADER_LEN
    from tickpath.venue import Simulator
    from tickpath.venue.records import MAX_BLOCK

    path = OUT / f"pcap-one-{messages}-{symbols}-{seed}.pcap"
    if not path.exists():
        OUT.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".part")
        Simulator(symbols=symbols, messages=messages, seed=seed).write_pcap(
            tmp, max_payload=HEADER_LEN + MAX_BLOCK)
        tmp.rename(path)
    return path


def mdp3_capture(messages: int, seed: int = 1) -> Path:
    from tickpath.venue.futures import FuturesSimulator

    path = OUT / f"mdp3-{messages}-{seed}.pcap"
    if not path.exists():
        OUT.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".part")
        FuturesSimulator(messages=messages, seed=seed).write_pcap(tmp)
        tmp.rename(path)
    return path


def _mdp3_poller(path: Path):
    """A function that replays the whole file once through ``replay_mdp3``; returns the
    (ns, datagrams, messages) of its run (the warm-up and the feed's setup are not timed)."""
    from tickpath.apps.mdp3_replay import replay_mdp3

    def once() -> tuple[int, int, int]:
        gc.collect()
        gc.disable()
        try:
            _, report = replay_mdp3(path)
        finally:
            gc.enable()
        return round(report.seconds * 1e9), report.datagrams, report.messages
    return once


def _poller(path: Path):
    """A function that replays the whole file once through the compiled loop; returns the
    (ns, datagrams handed to the handler). Speaks both the seam's API and the one before it."""
    import numpy as np

    from tickpath.book import BookStore
    from tickpath.wire.pcapfile import PcapReceiver

    far = time.clock_gettime_ns(time.CLOCK_REALTIME) + 3_600_000_000_000
    try:
        from tickpath.feed.itch import ItchFeed, ItchHandler
    except ImportError:  # before the seam: the loop took the handler's arrays
        from tickpath.engine.handler import ItchHandler

        from tickpath.feed.moldudp64 import MoldSession

        def once() -> tuple[int, int]:
            h = ItchHandler(BookStore(errors="skip"), errors="skip")
            lat = np.zeros(1 << 21, np.int64)
            with PcapReceiver(str(path), "0.0.0.0", 0) as rx:
                rx.warm_up(h)
                gc.disable()
                t = time.perf_counter_ns()
                rx.poll(h, MoldSession(), far, 0, lat, lat.copy(), np.zeros(4, np.int64))
                dt = time.perf_counter_ns() - t
                gc.enable()
                return dt, int(rx.rx[0])
        return once

    def once() -> tuple[int, int]:
        feed = ItchFeed(ItchHandler(BookStore(errors="skip"), errors="skip"),
                        max_samples=1 << 21)
        with PcapReceiver(str(path), "0.0.0.0", 0) as rx:
            rx.warm_up(feed.scratch().state)
            gc.disable()
            t = time.perf_counter_ns()
            rx.poll(feed.state, far, 0)
            dt = time.perf_counter_ns() - t
            gc.enable()
            return dt, int(rx.rx[0])
    return once


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--feed", choices=("itch", "mdp3"), default="itch")
    ap.add_argument("--messages", type=int, default=1_000_000)
    ap.add_argument("--calls", type=int, default=4, help="replays of the file per round")
    ap.add_argument("--rounds", type=int, default=1)
    ap.add_argument("--json", type=Path)
    a = ap.parse_args()
    if a.feed == "mdp3":
        once = _mdp3_poller(mdp3_capture(a.messages))
    else:
        itch_once = _poller(capture(a.messages))

        def once() -> tuple[int, int, int]:
            dt, n = itch_once()
            return dt, n, n  # one message a datagram
    per, per_msg = [], []
    for _ in range(a.rounds * a.calls):
        dt, n, m = once()
        per.append(dt / n)
        per_msg.append(dt / m)
    import tickpath

    out = {"tree": str(Path(tickpath.__file__).resolve().parents[2]), "feed": a.feed,
           "datagrams": n, "messages": m,
           "ns_per_datagram": [round(x, 1) for x in per],
           "median_ns": round(statistics.median(per), 1),
           "median_ns_per_message": round(statistics.median(per_msg), 1),
           "date": time.strftime("%Y-%m-%d %H:%M:%S")}
    print(json.dumps(out))
    if a.json:
        a.json.write_text(json.dumps(out, indent=2))


if __name__ == "__main__":
    main()
