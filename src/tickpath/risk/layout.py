"""Pre-trade risk: the limits, the per-instrument state and the reject reasons, as data.

``limits`` is an int64 array indexed by :class:`Limit`; ``position`` an int64 array indexed by
stock locate (shares, + long / - short, as if every order sent had filled: with no fills
coming back yet, the worst case); ``rate`` two int64 words (:data:`RATE_WINDOW_START`,
:data:`RATE_COUNT`). Rejects are counted by reason into an int64 array indexed by
:class:`Reject` (the ``risk`` section of the pipeline's shared counters).
"""

from __future__ import annotations

import enum

import numpy as np

from ..book.records import MAX_LOCATE


class Limit(enum.IntEnum):
    MAX_ORDER_SIZE = 0  # shares per order
    MAX_POSITION = 1  # |shares| per instrument after the order
    MAX_NOTIONAL = 2  # |position| x price per instrument, in Price(4) units (dollars x 10^4)
    COLLAR_BPS = 3  # order price within this many basis points of the book's reference
    MAX_ORDERS_PER_S = 4  # orders passed per one-second window
    WINDOW_NS = 5  # the rate window (1 s)


N_LIMITS = len(Limit)


class Reject(enum.IntEnum):
    """Counters of the risk section: orders checked, passed, and refused by reason."""

    CHECKED = 0
    PASSED = 1
    KILLED = 2  # the kill switch is on
    ORDER_SIZE = 3
    POSITION = 4
    NOTIONAL = 5
    COLLAR = 6
    RATE = 7
    NO_BOOK = 8  # no reference price to collar against


REASONS = tuple(r for r in Reject if r >= Reject.KILLED)
RATE_WINDOW_START, RATE_COUNT = 0, 1
#: the kill switch: this word of the pipeline's control section (engine.counters.Control.KILL
#: is defined from it), 1 = refuse every order
KILL_WORD = 1


def limits_array(max_order_size: int, max_position: int, max_notional: float,
                 collar_bps: int, max_orders_per_s: int) -> np.ndarray:
    """The limits as the kernel takes them; ``max_notional`` in dollars."""
    out = np.zeros(N_LIMITS, np.int64)
    out[Limit.MAX_ORDER_SIZE] = max_order_size
    out[Limit.MAX_POSITION] = max_position
    out[Limit.MAX_NOTIONAL] = int(round(max_notional * 10_000))
    out[Limit.COLLAR_BPS] = collar_bps
    out[Limit.MAX_ORDERS_PER_S] = max_orders_per_s
    out[Limit.WINDOW_NS] = 1_000_000_000
    return out


def new_state() -> tuple[np.ndarray, np.ndarray]:
    """(position by locate, rate window) at start of day."""
    return np.zeros(MAX_LOCATE, np.int64), np.zeros(2, np.int64)
