"""Agents: duty-cycle accounting, placement reports, a stage process started and stopped."""

from __future__ import annotations

import multiprocessing as mp
import os
import uuid

import numpy as np
import pytest
from numba import njit

from tickpath.engine import agent as A
from tickpath.engine.counters import Agent as W
from tickpath.engine.counters import Control, Counters
from tickpath.ring.wait import wait_strategy


@njit(cache=True)
def _turns(section, work, code, params):
    rounds = 0
    for w in work:
        rounds = A.duty_cycle(section, w, rounds, code, params)
    return rounds


def test_duty_cycle_counts_work_and_idle_turns():
    sec = np.zeros(4, np.int64)
    ws = wait_strategy("noop")
    rounds = _turns(sec, np.array([0, 0, 3, 0, 1, 0, 0, 0]), ws.code, ws.params)
    assert sec[W.WORK_CYCLES] == 2 and sec[W.IDLE_CYCLES] == 6 and rounds == 3
    assert A.busy_ratio(sec) == pytest.approx(2 / 8)
    assert A.busy_ratio({"work_cycles": 0, "idle_cycles": 0}) is None


def test_placement_refusals_are_reported_not_raised(monkeypatch):
    assert A.pin(None) is None
    assert "not available" in A.pin(10_000)
    allowed = os.sched_getaffinity(0)
    try:
        assert A.pin(min(allowed)) is None
        assert os.sched_getaffinity(0) == {min(allowed)}
    finally:  # the rest of the suite runs in this process: give it every core back
        os.sched_setaffinity(0, allowed)

    def refuse(*a):
        raise PermissionError(1, "Operation not permitted")

    monkeypatch.setattr(os, "sched_setscheduler", refuse)
    msg = A.set_realtime(10)
    assert "SCHED_FIFO" in msg and "refused" in msg
    assert A.set_realtime(None) is None


def test_agent_process_runs_pinned_and_stops_on_the_stop_word():
    name = f"tp-test-{uuid.uuid4().hex[:8]}"
    with Counters.create(name) as c:
        ctx = mp.get_context("spawn")
        q = ctx.Queue()
        bad_core = 10_000  # refused: the stage runs unpinned and says so
        a = A.Agent(A.AgentSpec("feed", "tickpath.engine.agent:idle_agent", name,
                                core=bad_core, idle="spin_yield"), q, ctx)
        a.start()
        try:
            sec = c.section("feed")
            A.wait_for(lambda: sec[W.STATE] == A.AgentState.RUNNING and sec[W.IDLE_CYCLES] > 0,
                       120, "the idle agent", [a])
            assert sec[W.WORK_CYCLES] == 0
            assert A.busy_ratio(sec) == 0.0
            c.section("control")[Control.STOP] = 1
            assert a.join(30)
            assert a.exitcode == 0 and sec[W.STATE] == A.AgentState.DONE
            stage, kind, text = q.get(timeout=5)
            assert (stage, kind) == ("feed", "note") and "core 10000" in text
        finally:
            a.terminate()


# An owner in a process of its own: it makes a pipeline's files, starts one stage through
# the real spawn path, prints the stage's pid and the files, and waits to be killed.
_OWNER = """
import multiprocessing as mp, sys, time
from tickpath.engine import agent as A
from tickpath.engine.counters import Counters, create_array
from tickpath.ring import SpscRing
tag = sys.argv[1]
names = [f"{tag}-counters", f"{tag}-md", f"{tag}-stamps"]
c = Counters.create(names[0])
SpscRing.create(names[1], 16, 128)
create_array(names[2], 4, 10)
ctx = mp.get_context("spawn")
a = A.Agent(A.AgentSpec("strategy", "tickpath.engine.agent:idle_agent", names[0],
                        idle="backoff", files=[f"/dev/shm/{n}" for n in names]),
            ctx.Queue(), ctx)
a.start()
sec = c.section("strategy")
A.wait_for(lambda: sec[0] == A.AgentState.RUNNING, 120, "the stage", [a])
print(a.process.pid, *names, flush=True)
time.sleep(600)
"""


def _ended(pid: int) -> bool:
    """Gone, or a zombie (re-parented to an init that may not reap it)."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] in ("Z", "X")
    except FileNotFoundError:
        return True


def test_a_stage_ends_and_removes_the_files_when_its_owner_is_killed():
    import signal
    import subprocess
    import sys
    import time

    tag = f"tp-owner-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    owner = subprocess.Popen([sys.executable, "-c", _OWNER, tag], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    stage_pid = None
    try:
        line = owner.stdout.readline()
        assert line, owner.stderr.read()
        stage_pid, *names = line.split()
        stage_pid = int(stage_pid)
        files = [f"/dev/shm/{n}" for n in names]
        assert all(os.path.exists(f) for f in files) and not _ended(stage_pid)
        owner.send_signal(signal.SIGKILL)  # no clean-up of its own
        owner.wait(10)
        end = time.monotonic() + 30
        while time.monotonic() < end and not (_ended(stage_pid) and
                                              not any(os.path.exists(f) for f in files)):
            time.sleep(0.05)
        assert _ended(stage_pid), "the stage outlived its owner"
        assert not [f for f in files if os.path.exists(f)]
    finally:
        if owner.poll() is None:
            owner.kill()
            owner.wait()
        if stage_pid is not None and not _ended(stage_pid):
            os.kill(stage_pid, signal.SIGKILL)
        for n in os.listdir("/dev/shm"):
            if n.startswith(tag):
                os.unlink(f"/dev/shm/{n}")


def test_sigterm_runs_the_stage_s_clean_up():
    """SIGTERM raises Terminated in the stage, so its finally blocks run (exit code 143)."""
    name = f"tp-test-{uuid.uuid4().hex[:8]}"
    with Counters.create(name) as c:
        ctx = mp.get_context("spawn")
        a = A.Agent(A.AgentSpec("feed", "tickpath.engine.agent:idle_agent", name,
                                idle="backoff"), ctx.Queue(), ctx)
        a.start()
        try:
            sec = c.section("feed")
            A.wait_for(lambda: sec[W.STATE] == A.AgentState.RUNNING, 120, "the stage", [a])
            a.process.terminate()
            assert a.join(30)
            assert a.exitcode == 128 + 15 and sec[W.STATE] == A.AgentState.FAILED
        finally:
            a.terminate()
