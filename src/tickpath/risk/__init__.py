"""Pre-trade risk: order size, position and notional per instrument, a price collar against
the book, an order rate limit, and a kill switch in shared memory that stops order flow at
once. Layout in :mod:`.layout`, the compiled check in :mod:`.check`; rejects are counted by
reason (:class:`Reject`)."""

from __future__ import annotations

import numpy as np

from .layout import KILL_WORD, REASONS, Limit, Reject, limits_array, new_state

__all__ = ["REASONS", "Limit", "Reject", "kill", "limits_array", "new_state"]


def kill(control: np.ndarray, on: bool = True) -> None:
    """Throw (or reset) the kill switch in a pipeline's ``control`` counters section: the
    next risk check refuses every order."""
    control[KILL_WORD] = 1 if on else 0
