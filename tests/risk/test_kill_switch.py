"""What throws the kill switch from compiled code: a storm of venue rejects (a sliding window,
at its boundaries), the loss limit after fills; the reason and time recorded, the first
reason kept; the Python side's kill / reset / note."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from tickpath.engine.counters import Control
from tickpath.gateway.layout import Total, new_totals
from tickpath.risk import KillReason, kill, kill_note, kill_reason, limits_array, new_storm
from tickpath.risk.kill_switch import check_loss, note_reject, trip

MS = 1_000_000


def _limits(n=5, window_ms=10, max_loss=1000.0):
    return limits_array(100, 100, 1e6, 100, 100, reject_storm=n,
                        reject_storm_window_ms=window_ms, max_loss=max_loss)


def test_trip_records_reason_and_time_and_keeps_the_first():
    control = np.zeros(16, np.int64)
    assert trip(control, int(KillReason.REJECT_STORM), 123) == 1
    assert kill_reason(control) == KillReason.REJECT_STORM and control[Control.KILL_NS] == 123
    assert trip(control, int(KillReason.LOSS_LIMIT), 456) == 0
    assert kill_reason(control) == KillReason.REJECT_STORM and control[Control.KILL_NS] == 123


def test_storm_of_n_rejects_within_the_window_trips():
    limits, control = _limits(n=5, window_ms=10), np.zeros(16, np.int64)
    storm = new_storm(limits)
    t0 = 10**18
    for k in range(4):  # four rejects, however close: not a storm
        assert note_reject(storm, t0 + k, limits, control) == 0
    assert control[Control.KILL] == 0
    assert note_reject(storm, t0 + 10 * MS, limits, control) == 1  # 5 in exactly 10 ms
    assert kill_reason(control) == KillReason.REJECT_STORM
    assert control[Control.KILL_NS] == t0 + 10 * MS


def test_five_rejects_just_over_the_window_do_not_trip():
    limits, control = _limits(n=5, window_ms=10), np.zeros(16, np.int64)
    storm = new_storm(limits)
    t0 = 10**18
    for k in range(4):
        note_reject(storm, t0 + k, limits, control)
    assert note_reject(storm, t0 + 10 * MS + 1, limits, control) == 0
    assert control[Control.KILL] == 0
    # the window slides: the first has left it, the next four within 10 ms of the second do
    assert note_reject(storm, t0 + 1 + 10 * MS, limits, control) == 1


def test_one_reject_a_storm_when_configured_so():
    limits, control = _limits(n=1), np.zeros(16, np.int64)
    assert note_reject(new_storm(limits), 5, limits, control) == 1
    assert kill_reason(control) == KillReason.REJECT_STORM


@settings(max_examples=200, deadline=None)
@given(n=st.integers(1, 8), window=st.integers(1, 50),
       gaps=st.lists(st.integers(0, 30), min_size=1, max_size=60))
def test_storm_matches_a_plain_model(n, window, gaps):
    """Trips at the first reject that makes n rejects spanning at most ``window`` ns."""
    limits = limits_array(1, 1, 1.0, 1, 1, reject_storm=n, reject_storm_window_ms=1)
    limits[11] = window  # STORM_WINDOW_NS, finer than the config's ms
    storm, control = new_storm(limits), np.zeros(16, np.int64)
    t, times, want = 1000, [], None
    for i, g in enumerate(gaps):
        t += g
        times.append(t)
        if want is None and len(times) >= n and t - times[-n] <= window:
            want = i
        got = note_reject(storm, t, limits, control)
        assert got == (1 if want is not None and len(times) >= n and
                       t - times[-n] <= window else 0)
    assert (control[Control.KILL] != 0) == (want is not None)


def test_check_loss_after_fills_trips_below_the_limit_only():
    limits, control = _limits(max_loss=1000.0), np.zeros(16, np.int64)
    totals = new_totals()
    totals[Total.CASH], totals[Total.MARKED] = -15_000_000, 5_000_000  # -$1,000
    assert check_loss(totals, limits, control, 7) == 0 and control[Control.KILL] == 0
    totals[Total.MARKED] -= 1
    assert check_loss(totals, limits, control, 8) == 1
    assert kill_reason(control) == KillReason.LOSS_LIMIT and control[Control.KILL_NS] == 8


def test_kill_from_python_note_and_reset():
    control = np.zeros(16, np.int64)
    assert kill_reason(control) is None
    assert kill(control, note="fat finger on ABCD, desk 4 -- and more text")
    assert kill_reason(control) == KillReason.MANUAL
    assert kill_note(control) == "fat finger on ABCD, desk 4 -- an"  # 32 characters
    assert control[Control.KILL_NS] > 0
    assert not kill(control, reason=KillReason.FILE)  # already on: first reason kept
    assert kill_reason(control) == KillReason.MANUAL
    assert kill(control, on=False)
    assert kill_reason(control) is None and kill_note(control) == ""
    assert control[Control.KILL_NS] == 0
    assert not kill(control, on=False)
    control[Control.KILL] = 1  # a plain store of 1, as before reasons: manual
    assert kill_reason(control) == KillReason.MANUAL
    control[Control.KILL] = 99  # from a newer version: on all the same
    assert kill_reason(control) == KillReason.MANUAL
