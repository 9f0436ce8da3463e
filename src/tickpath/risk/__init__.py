"""Pre-trade risk: order size, position and notional per instrument, a price collar against
the book, open-order exposure, duplicate orders, self-trade prevention, a loss limit, an
order rate limit, and a kill switch in shared memory that stops order flow at once.

Layout in :mod:`.layout`; the compiled checks in :mod:`.check` (``check_order``: from the
orders sent alone) and :mod:`.new_order` (``check_new_order``: from our orders and fills, the
gateway's tables); what throws the switch from compiled code in :mod:`.kill_switch` (loss
limit, venue-reject storm). Rejects are counted by reason (:class:`Reject`); the switch's word
holds the :class:`KillReason` it was thrown for. docs/risk.md describes it all.
"""

from __future__ import annotations

import time

import numpy as np

from .layout import (
    KILL_NOTE_WORD,
    KILL_NOTE_WORDS,
    KILL_NS_WORD,
    KILL_WORD,
    REASONS,
    KillReason,
    Limit,
    Reject,
    limits_array,
    limits_from,
    new_rate,
    new_state,
    new_storm,
)

__all__ = ["REASONS", "KillReason", "Limit", "Reject", "kill", "kill_note", "kill_reason",
           "limits_array", "limits_from", "new_rate", "new_state", "new_storm"]

NOTE_BYTES = 8 * KILL_NOTE_WORDS


def kill(control: np.ndarray, on: bool = True, reason: KillReason = KillReason.MANUAL,
         note: str = "") -> bool:
    """Throw (or, ``on=False``, reset) the kill switch in a pipeline's ``control`` counters
    section: the next risk check refuses every order. A switch already on keeps its first
    reason, time and note. ``note``: up to 32 ASCII characters on why (longer is cut).
    Returns True if this call changed the switch."""
    if not on:
        was = int(control[KILL_WORD]) != 0
        control[KILL_WORD] = 0  # first: the old reason's words below no longer count
        control[KILL_NS_WORD] = 0
        control[KILL_NOTE_WORD:KILL_NOTE_WORD + KILL_NOTE_WORDS] = 0
        return was
    if reason == KillReason.NONE:
        raise ValueError("a kill switch thrown needs a reason other than NONE")
    if int(control[KILL_WORD]) != 0:
        return False
    raw = note.encode("ascii", "replace")[:NOTE_BYTES].ljust(NOTE_BYTES, b"\0")
    control[KILL_NOTE_WORD:KILL_NOTE_WORD + KILL_NOTE_WORDS] = np.frombuffer(raw, np.int64)
    control[KILL_NS_WORD] = time.clock_gettime_ns(time.CLOCK_REALTIME)
    control[KILL_WORD] = int(reason)  # last (x86 keeps stores in order): the reason is whole
    return True


def kill_reason(control: np.ndarray) -> KillReason | None:
    """Why the switch is on (None: it is off). A value this version does not know reads as
    MANUAL: the switch is on all the same."""
    v = int(control[KILL_WORD])
    if v == 0:
        return None
    try:
        return KillReason(v)
    except ValueError:
        return KillReason.MANUAL


def kill_note(control: np.ndarray) -> str:
    """The note the switch was thrown with ('' when none)."""
    raw = np.ascontiguousarray(control[KILL_NOTE_WORD:KILL_NOTE_WORD + KILL_NOTE_WORDS])
    return raw.tobytes().rstrip(b"\0").decode("ascii", "replace")
