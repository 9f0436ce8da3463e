"""The transport <-> feed handler seam (tickpath.wire.handler): a handler that knows nothing
of ITCH plugs into a transport unchanged, every receiver counts the same way, and a second
process loads a receive loop from numba's cache instead of compiling it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections import namedtuple
from pathlib import Path

import numpy as np

from tickpath.wire import busypoll, packet, pcapwalk, xdp
from tickpath.wire import handler as seam
from tickpath.wire.pcap import PcapWriter, udp_frame
from tickpath.wire.pcapfile import PcapReceiver
from tickpath.wire.pcapwalk import END_OF_FILE

#: a handler of another feed: copies each datagram's bytes out, stops at b"END"
Echo = namedtuple("Echo", ["out", "ends", "count"])


@seam.implements(Echo)
def _echo(state, buf, start, size, rx_ns):
    k = state.count[0]
    p = state.ends[k - 1] if k > 0 else 0
    for i in range(size):
        state.out[p + i] = buf[start + i]
    state.ends[k] = p + size
    state.count[0] = k + 1
    if size == 3 and buf[start] == 69 and buf[start + 1] == 78 and buf[start + 2] == 68:
        return seam.END_OF_SESSION
    return seam.GO_ON


def _in_a_cache_of_its_own(tmp_path, name: str) -> None:
    """Run ``name`` in a new process whose numba cache is its own. numba's on-disk index of a
    loop names every state type it was compiled for, and loading the index imports them: a
    type only this test module defines must not land in the cache the package's own runs
    read (there, it would fail to import)."""
    code = (f"import sys, pathlib; sys.path.insert(0, {str(Path(__file__).parent)!r}); "
            f"import test_seam; test_seam.{name}(pathlib.Path({str(tmp_path)!r}))")
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "numba-cache"))
    out = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True,
                         text=True, timeout=600)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]


def test_a_handler_of_another_protocol_plugs_into_a_transport(tmp_path):
    _in_a_cache_of_its_own(tmp_path, "_another_protocol")


def _another_protocol(tmp_path):
    payloads = [bytes([i]) * (i + 1) for i in range(20)] + [b"END", b"after"]
    path = tmp_path / "other.pcap"
    with PcapWriter(path, nanosecond=True) as w:
        for k, p in enumerate(payloads):
            w.write(udp_frame(p, "10.0.0.1", "233.54.12.9", 1, 4000), 1_000 + k)
    state = Echo(np.zeros(4096, np.uint8), np.zeros(64, np.int64), np.zeros(1, np.int64))
    with PcapReceiver(path, "233.54.12.9", 4000) as rx:
        deadline = time.clock_gettime_ns(time.CLOCK_REALTIME) + 30_000_000_000
        assert rx.poll(state, deadline, 0) == seam.END_OF_SESSION
        assert rx.poll(state, deadline, 0) == END_OF_FILE
        stats = rx.stats()
    n = int(state.count[0])
    got = [state.out[a:b].tobytes() for a, b in zip([0, *state.ends[:n - 1]], state.ends[:n],
                                                     strict=True)]
    assert got == payloads
    assert stats["packets"] == len(payloads) and stats["bytes"] == sum(map(len, payloads))


def test_called_from_python_the_seam_finds_the_implementation(tmp_path):
    _in_a_cache_of_its_own(tmp_path, "_from_python")


def _from_python(tmp_path):
    state = Echo(np.zeros(16, np.uint8), np.zeros(4, np.int64), np.zeros(1, np.int64))
    buf = np.frombuffer(b"xxEND", np.uint8)
    assert seam.on_datagram(state, buf, 2, 3, 0) == seam.END_OF_SESSION
    assert state.out[:3].tobytes() == b"END"


#: a handler with work of its own between datagrams: counts its idle turns, ends after 50
Ticker = namedtuple("Ticker", ["turns", "datagrams", "last_ns"])


@seam.implements(Ticker)
def _tick_datagram(state, buf, start, size, rx_ns):
    state.datagrams[0] += 1
    return seam.GO_ON


@seam.implements_idle(Ticker)
def _tick_idle(state, now_ns):
    state.turns[0] += 1
    state.last_ns[0] = now_ns
    return seam.END_OF_SESSION if state.turns[0] >= 50 else seam.GO_ON


def test_idle_work_runs_between_datagrams(tmp_path):
    _in_a_cache_of_its_own(tmp_path, "_idle_work")


def _idle_work(tmp_path):
    """A busy-polled socket with nothing arriving: the loop gives the handler its idle turns
    and returns the status the handler's idle work chose. A handler without idle work (Echo)
    idles as before, to the deadline."""
    with busypoll.BusyPollReceiver("127.0.0.1", 0) as rx:
        state = Ticker(np.zeros(1, np.int64), np.zeros(1, np.int64), np.zeros(1, np.int64))
        deadline = time.clock_gettime_ns(time.CLOCK_REALTIME) + 30_000_000_000
        assert rx.poll(state, deadline, 0) == seam.END_OF_SESSION
        assert state.turns[0] == 50 and state.datagrams[0] == 0 and state.last_ns[0] > 0
        echo = Echo(np.zeros(16, np.uint8), np.zeros(4, np.int64), np.zeros(1, np.int64))
        soon = time.clock_gettime_ns(time.CLOCK_REALTIME) + 20_000_000
        assert rx.poll(echo, soon, 0) == seam.DEADLINE
    assert seam.on_idle(state, 5) == seam.END_OF_SESSION  # from Python too (51st turn)
    assert seam.on_idle(echo, 5) == seam.GO_ON


def test_every_receiver_counts_the_same_way():
    """The seam's common counters first, then those every loop numbers alike, so an owner
    reads any transport the same way."""
    common = [("PACKETS", seam.RX_PACKETS), ("BYTES", seam.RX_BYTES),
              ("LAST_PACKET_NS", seam.RX_LAST_NS), ("EMPTY_POLLS", 3), ("TRUNCATED", 4),
              ("NEXT", 5)]
    for mod in (busypoll, packet, xdp, pcapwalk):
        assert [(r.name, int(r)) for r in mod.Rx][:len(common)] == common, mod.__name__
        assert len(set(mod.Rx)) == mod.N_RX
    from tickpath.wire import dpdk  # the seam's three, then its own (bursts, held mbufs)

    assert [int(dpdk.Rx.PACKETS), int(dpdk.Rx.BYTES), int(dpdk.Rx.LAST_NS)] == [
        seam.RX_PACKETS, seam.RX_BYTES, seam.RX_LAST_NS]
    assert {busypoll.DEADLINE, busypoll.IDLE, busypoll.SETTLE} == {
        seam.DEADLINE, seam.IDLE, seam.SETTLE}


_LOAD = """
import json, time
t0 = time.monotonic()
from tickpath.feed.itch import ItchFeed
from tickpath.wire.busypoll import BusyPollReceiver, poll_loop
BusyPollReceiver.warm_up(ItchFeed().scratch().state)
print(json.dumps({"hits": sum(poll_loop.stats.cache_hits.values()),
                  "misses": sum(poll_loop.stats.cache_misses.values()),
                  "seconds": time.monotonic() - t0}))
"""


def test_a_second_process_loads_the_receive_loop_from_the_cache():
    """The loop specialized for the ITCH handler's state (the seam dispatches on a type, not
    on a function value, so numba can cache it): the first process may compile it, the next
    one only loads it."""
    runs = []
    for _ in range(2):
        out = subprocess.run([sys.executable, "-c", _LOAD], capture_output=True, text=True,
                             timeout=600, cwd=Path(__file__).parent)
        assert out.returncode == 0, out.stderr[-3000:]
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))
    assert runs[1]["hits"] >= 1 and runs[1]["misses"] == 0, runs
