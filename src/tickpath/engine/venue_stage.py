"""The built-in venue as a stage: the simulator's day, published over MoldUDP64/UDP.

It generates the day in its own process, says it is ready, waits for the pipeline's GO word
(every other stage is in its loop by then, so no packet waits on a compiler), publishes at
the configured rate, and ends the session.

How it waits for the next message's due time is its idle strategy (``stages.venue.idle``):

* ``noop`` / ``busy_spin``: the publisher paces the whole day itself
  (:meth:`tickpath.venue.publisher.UdpPublisher.publish` with ``rate``), spinning on the
  clock between packets. For a venue with a core of its own.
* ``backoff``: the stage paces: it sleeps until a message is due (timer slack set to
  ``min_park_ns``, so a sleep ends within microseconds of its deadline), then hands the
  publisher the messages due by then (one, unless a wake came late). Its core is free for
  another stage between sends: the pipeline's choice when cores are short.
* ``spin_yield``: as ``backoff``, but waits with ``sched_yield()`` instead of sleeping
  (runnable all the time; the core goes to any other runnable thread at once).

Either way each packet's ITCH timestamps are taken by the publisher just before its send
call, so the wire row of the budget starts at the send, whatever the pacing did before it.
A schedule that falls more than 1 ms behind (a stall) starts afresh rather than burst.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import time
from collections.abc import Callable, Iterator

import numpy as np
from numba import njit

from ..venue import Simulator
from ..venue.publisher import UdpPublisher
from .agent import AgentState
from .counters import Control, Counters, VenueCounter

V = VenueCounter
_REANCHOR_NS = 1_000_000  # behind schedule by more than this: start the schedule afresh
_PROGRESS_NS = 50_000_000  # how often the venue's counters are published
_PR_SET_TIMERSLACK = 29


@njit(cache=True, nogil=True)
def message_starts(blocks):
    """Offsets of the length-prefixed blocks in ``blocks``, plus the end (n + 1 entries)."""
    n = 0
    p = 0
    end = blocks.shape[0]
    while p + 2 <= end:
        p += 2 + ((np.int64(blocks[p]) << 8) | np.int64(blocks[p + 1]))
        n += 1
    out = np.empty(n + 1, np.int64)
    p = 0
    for i in range(n):
        out[i] = p
        p += 2 + ((np.int64(blocks[p]) << 8) | np.int64(blocks[p + 1]))
    out[n] = p
    return out


def set_timer_slack(ns: int) -> str | None:
    """Let this thread's sleeps end within ``ns`` of their deadline (the kernel's default
    slack is 50 µs); returns what went wrong, or None."""
    libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
    if libc.prctl(_PR_SET_TIMERSLACK, ctypes.c_ulong(max(1, int(ns))), 0, 0, 0) != 0:
        return f"timer slack refused ({os.strerror(ctypes.get_errno())}): sleeps run late"
    return None


def paced_by_stage(idle: str) -> bool:
    """Whether the stage paces (sleeping or yielding between sends) rather than the
    publisher (spinning)."""
    return idle in ("backoff", "spin_yield")


def paced_chunks(blocks: np.ndarray, rate: float, sleep: bool, should_stop: Callable[[], bool],
                 progress: Callable[[], None]) -> Iterator[np.ndarray]:
    """The messages of ``blocks``, each run yielded when it is due at ``rate`` messages/s:
    one message, or every message due by a wake that came late. Between yields it waits by
    sleeping (``sleep``) or by ``sched_yield``. Handed to the publisher as its chunks, so the
    publisher's loop (packing, stamps, send) runs once for the day, and the waits happen
    here, between its packets."""
    starts = message_starts(blocks)
    n = starts.shape[0] - 1
    period = 1e9 / rate
    clock = time.perf_counter_ns
    i = 0
    t0, base = clock(), 0
    next_progress = t0 + _PROGRESS_NS
    while i < n:
        due = t0 + int((i - base) * period)
        now = clock()
        if now - due > _REANCHOR_NS:
            t0, base, due = now, i, now
        while now < due:  # bounded: the wait ends at ``due``
            if sleep:
                time.sleep((due - now) / 1e9)
            else:
                os.sched_yield()
            now = clock()
        j = max(i + 1, min(n, base + int((now - t0) / period) + 1))  # all due by now
        yield blocks[starts[i]:starts[j]]
        i = j
        if now >= next_progress:
            progress()
            next_progress = now + _PROGRESS_NS
            if should_stop():
                return


def main(spec, counters: Counters) -> None:
    """Entry point of the venue process (tickpath.engine.agent)."""
    p = spec.params
    control, sect = counters.section("control"), counters.section("venue")
    blocks = Simulator(symbols=int(p["symbols"]), messages=int(p["messages"]),
                       seed=int(p["seed"])).blocks()
    rate = p.get("rate")
    stage_paced = bool(rate) and paced_by_stage(spec.idle)
    if stage_paced:
        message_starts(blocks[:0])  # compile (or load) before GO
        if spec.idle == "backoff":
            slack = spec.idle_params.get("min_park_ns", 1_000)
            if (note := set_timer_slack(slack)) is not None:
                raise OSError(note)
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

        def progress(n: int | None = None) -> None:
            sect[V.MESSAGES] = pub.messages if n is None else n
            sect[V.PACKETS] = pub.packets
            sect[V.BEAT_NS] = time.clock_gettime_ns(time.CLOCK_REALTIME)

        def stop() -> bool:
            return bool(control[Control.STOP])

        if stage_paced:
            pub.publish(paced_chunks(blocks, float(rate), spec.idle == "backoff", stop,
                                     progress), rate=None)
        else:
            pub.publish([blocks], rate=rate, should_stop=stop, progress=progress)
        pub.end_session()
        progress(pub.messages)
        sect[V.WORK_CYCLES] = pub.packets
    sect[V.DONE] = 1
