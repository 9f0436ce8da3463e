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
    assert A.pin(min(os.sched_getaffinity(0))) is None

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
