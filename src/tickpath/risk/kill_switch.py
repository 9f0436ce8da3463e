"""The kill switch's compiled side: throwing it from the hot path, and what throws it there.

* :func:`trip` throws the switch for a :class:`~tickpath.risk.layout.KillReason` (the first
  reason stays while it is on).
* :func:`check_loss` throws it when P&L (the gateway's ``CASH + MARKED``) is below
  ``-limits[MAX_LOSS]``: an engine calls it after applying fills or marks.
* :func:`note_reject` counts the venue's rejects in a sliding window and throws it on a storm:
  ``limits[STORM_REJECTS]`` rejects whose first and last are at most
  ``limits[STORM_WINDOW_NS]`` apart.

The switch is the control section's word :data:`~tickpath.risk.layout.KILL_WORD`, holding the
reason (0: off). It is written with a release store after its time word, so a reader that
sees the reason sees the time. Two writers throwing it in the same few nanoseconds (the
strategy stage and the pipeline's owner) may both store, and the later reason is the one
kept; the switch is on either way.
"""

from __future__ import annotations

from numba import njit

from ..gateway.layout import Total
from ..ring.atomics import load_relaxed, store_relaxed, store_release
from .layout import (
    KILL_NS_WORD,
    KILL_WORD,
    STORM_COUNT,
    STORM_NEXT,
    STORM_TIMES,
    KillReason,
    Limit,
)

_KILL, _KILL_NS = KILL_WORD, KILL_NS_WORD
_CASH, _MARKED = int(Total.CASH), int(Total.MARKED)
_L_LOSS, _L_STORM_N, _L_STORM_NS = (int(x) for x in (Limit.MAX_LOSS, Limit.STORM_REJECTS,
                                                      Limit.STORM_WINDOW_NS))
_LOSS_LIMIT, _REJECT_STORM = int(KillReason.LOSS_LIMIT), int(KillReason.REJECT_STORM)


@njit(cache=True, nogil=True, _nrt=False)
def trip(control, reason, now_ns):
    """Throw the kill switch in ``control`` (a pipeline's control section) for ``reason`` (a
    KillReason code, > 0) at ``now_ns``. Returns 1 if this call threw it, 0 if it was on
    already (its first reason and time are kept)."""
    if load_relaxed(control, _KILL) != 0:
        return 0
    store_relaxed(control, _KILL_NS, now_ns)
    store_release(control, _KILL, reason)
    return 1


@njit(cache=True, nogil=True, _nrt=False)
def pnl_of(totals):
    """P&L in Price(4) units: the gateway totals' ``CASH + MARKED``."""
    return totals[_CASH] + totals[_MARKED]


@njit(cache=True, nogil=True, _nrt=False)
def check_loss(totals, limits, control, now_ns):
    """Throw the switch (reason LOSS_LIMIT) if P&L is below ``-limits[MAX_LOSS]``. Returns 1
    when P&L is below the limit (the switch is then on, thrown now or before), else 0."""
    if pnl_of(totals) < -limits[_L_LOSS]:
        trip(control, _LOSS_LIMIT, now_ns)
        return 1
    return 0


@njit(cache=True, nogil=True, _nrt=False)
def note_reject(storm, now_ns, limits, control):
    """Count one venue reject received at ``now_ns`` in ``storm`` (:func:`new_storm`); when
    it makes ``limits[STORM_REJECTS]`` rejects at most ``limits[STORM_WINDOW_NS]`` apart,
    throw the switch (reason REJECT_STORM) and return 1, else 0."""
    n = min(limits[_L_STORM_N], storm.shape[0] - STORM_TIMES)
    if n <= 0:
        return 0
    i = storm[STORM_NEXT]
    if i >= n:  # a limit lowered under a live state: start the circle again
        i = 0
        storm[STORM_COUNT] = 0
    storm[STORM_TIMES + i] = now_ns
    i += 1
    if i == n:
        i = 0
    storm[STORM_NEXT] = i
    if storm[STORM_COUNT] < n:
        storm[STORM_COUNT] += 1
        if storm[STORM_COUNT] < n:
            return 0
    # the oldest of the last n is the one the next reject will overwrite
    if now_ns - storm[STORM_TIMES + i] <= limits[_L_STORM_NS]:
        trip(control, _REJECT_STORM, now_ns)
        return 1
    return 0
