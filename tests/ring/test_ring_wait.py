"""Wait strategies: chosen by name, parameters checked, each idle round runs from compiled
code (or plain Python under NUMBA_DISABLE_JIT)."""

from __future__ import annotations

import numpy as np
import pytest

from tickpath.ring import WAIT_STRATEGIES, wait_strategy
from tickpath.ring import wait as W


def test_names_and_codes():
    assert WAIT_STRATEGIES == {"noop": W.NOOP, "busy_spin": W.BUSY_SPIN,
                               "spin_yield": W.SPIN_YIELD, "backoff": W.BACKOFF}
    assert len(set(WAIT_STRATEGIES.values())) == 4
    ws = wait_strategy("Busy-Spin")
    assert (ws.name, ws.code) == ("busy_spin", W.BUSY_SPIN)
    assert ws.args[0] == W.BUSY_SPIN and ws.args[1].dtype == np.int64
    assert ws.params.shape == (W.N_PARAMS,)


def test_bad_names_and_parameters():
    with pytest.raises(ValueError, match="unknown wait strategy 'futex'.*busy_spin"):
        wait_strategy("futex")
    with pytest.raises(ValueError):
        wait_strategy("backoff", spins=-1)
    with pytest.raises(ValueError):
        wait_strategy("backoff", min_park_ns=0)
    with pytest.raises(ValueError):
        wait_strategy("backoff", min_park_ns=1000, max_park_ns=10)


def test_backoff_park_doubles_up_to_the_cap():
    p = wait_strategy("backoff", spins=3, yields=2, min_park_ns=1000, max_park_ns=10_000).params
    assert [int(W.park_ns(p, n)) for n in range(11)] == \
        [0, 0, 0, 0, 0, 1000, 2000, 4000, 8000, 10_000, 10_000]
    assert W.park_ns(p, 10**12) == 10_000  # a stage idle for a very long time


@pytest.mark.parametrize("name", list(WAIT_STRATEGIES))
def test_every_phase_of_every_strategy_runs(name):
    ws = wait_strategy(name, spins=2, yields=2, min_park_ns=1000, max_park_ns=4000)
    for n in range(8):  # spin, yield and park rounds
        W.idle(ws.code, ws.params, n)


def test_libc_calls():
    assert W.sched_yield() == 0
    assert W.nanosleep(1000) == 0
