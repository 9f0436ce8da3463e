"""Pre-trade risk: the limits, the per-instrument state and the reject reasons, as data.

``limits`` is an int64 array indexed by :class:`Limit`; ``position`` an int64 array indexed by
stock locate (shares, + long / - short, as if every order sent had filled: the state of the
first check, :func:`tickpath.risk.check.check_order`, which has no fills to go by); ``rate``
two int64 words (:data:`RATE_WINDOW_START`, :data:`RATE_COUNT`). Rejects are counted by
reason into an int64 array indexed by :class:`Reject` (the ``risk`` section of the pipeline's
shared counters).

The check that knows our orders and fills (:func:`tickpath.risk.new_order.check_new_order`)
reads the gateway's tables instead of ``position`` (:mod:`tickpath.gateway.layout`) and keeps
only the rate window of its own. The venue-reject storm detector keeps ``storm``
(:func:`new_storm`): ``[count, next, t_0 .. t_{N-1}]``, the receive times of the last N
venue rejects in a circle.

The kill switch is word :data:`KILL_WORD` of the pipeline's ``control`` section: 0 = off,
otherwise the :class:`KillReason` it was thrown for (so one atomic store throws it and says
why). Beside it :data:`KILL_NS_WORD` (when) and :data:`KILL_NOTE_WORD` .. +
:data:`KILL_NOTE_WORDS` (a short ASCII note, from ``tickpath kill --reason``).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from typing import Any

import numpy as np

from ..book.records import MAX_LOCATE


class Limit(enum.IntEnum):
    MAX_ORDER_SIZE = 0  # shares per order
    MAX_POSITION = 1  # |shares| per instrument after the order
    MAX_NOTIONAL = 2  # |position| x price per instrument, in Price(4) units (dollars x 10^4)
    COLLAR_BPS = 3  # order price within this many basis points of the book's reference
    MAX_ORDERS_PER_S = 4  # orders passed per one-second window
    WINDOW_NS = 5  # the rate window (1 s)
    # check_new_order and the trip kernels (appended: the numbers above never move)
    MAX_OPEN_NOTIONAL = 6  # open orders' notional per instrument, this order included, Price(4)
    MAX_TOTAL_OPEN_NOTIONAL = 7  # open orders' notional over every instrument, Price(4)
    MAX_LOSS = 8  # P&L below -MAX_LOSS (Price(4)) refuses and throws the kill switch
    DUPLICATE_WINDOW_NS = 9  # an identical open order sent less than this long ago: duplicate
    STORM_REJECTS = 10  # this many venue rejects ...
    STORM_WINDOW_NS = 11  # ... within this many ns throw the kill switch


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
    # check_new_order (appended: the counters' words above never move)
    LOSS_LIMIT = 9  # P&L below -max_loss (the switch is thrown too)
    OPEN_EXPOSURE = 10  # the instrument's open orders' notional would pass its limit
    TOTAL_OPEN_EXPOSURE = 11  # every instrument's open orders' notional would pass its limit
    DUPLICATE = 12  # identical to one of our open orders still pending or just sent
    SELF_TRADE = 13  # would cross one of our own open orders in the instrument
    UNKNOWN_INSTRUMENT = 14  # a locate outside the positions table
    STALE_BOOK = 15  # the instrument's book is not known to be exact (a feed gap open)


class KillReason(enum.IntEnum):
    """Why the kill switch is on: the value of the control section's ``kill`` word."""

    NONE = 0  # off
    MANUAL = 1  # tickpath.risk.kill(control), `tickpath kill`, or a plain store of 1
    SIGNAL = 2  # SIGUSR1 to the pipeline's owner
    FILE = 3  # the configured risk.kill_file exists
    LOSS_LIMIT = 4  # P&L below -risk.max_loss
    REJECT_STORM = 5  # risk.reject_storm venue rejects within risk.reject_storm_window_ms


REASONS = tuple(r for r in Reject if r >= Reject.KILLED)
RATE_WINDOW_START, RATE_COUNT = 0, 1
#: the kill switch: this word of the pipeline's control section (engine.counters.Control.KILL
#: is defined from it); 0 = off, else the KillReason it was thrown for
KILL_WORD = 1
#: CLOCK_REALTIME when the switch was last thrown (Control.KILL_NS)
KILL_NS_WORD = 4
#: a short ASCII note on why (Control.KILL_NOTE0 ..), zero-padded
KILL_NOTE_WORD, KILL_NOTE_WORDS = 5, 4
#: storm state: [count, next, times...]
STORM_COUNT, STORM_NEXT, STORM_TIMES = 0, 1, 2
#: the most venue rejects a storm may be configured as (the state is preallocated)
MAX_STORM_REJECTS = 4096

_NS_PER_US, _NS_PER_MS = 1_000, 1_000_000


def limits_array(max_order_size: int, max_position: int, max_notional: float,
                 collar_bps: int, max_orders_per_s: int, *,
                 max_open_notional: float = 10_000_000.0,
                 max_total_open_notional: float = 50_000_000.0,
                 max_loss: float = 1_000_000.0, duplicate_window_us: int = 1_000,
                 reject_storm: int = 50, reject_storm_window_ms: int = 1_000) -> np.ndarray:
    """The limits as the kernels take them; money in dollars (kept as Price(4) units)."""
    if not 1 <= reject_storm <= MAX_STORM_REJECTS:
        raise ValueError(f"reject_storm = {reject_storm}: must be 1..{MAX_STORM_REJECTS}")
    out = np.zeros(N_LIMITS, np.int64)
    out[Limit.MAX_ORDER_SIZE] = max_order_size
    out[Limit.MAX_POSITION] = max_position
    out[Limit.MAX_NOTIONAL] = int(round(max_notional * 10_000))
    out[Limit.COLLAR_BPS] = collar_bps
    out[Limit.MAX_ORDERS_PER_S] = max_orders_per_s
    out[Limit.WINDOW_NS] = 1_000_000_000
    out[Limit.MAX_OPEN_NOTIONAL] = int(round(max_open_notional * 10_000))
    out[Limit.MAX_TOTAL_OPEN_NOTIONAL] = int(round(max_total_open_notional * 10_000))
    out[Limit.MAX_LOSS] = int(round(max_loss * 10_000))
    out[Limit.DUPLICATE_WINDOW_NS] = duplicate_window_us * _NS_PER_US
    out[Limit.STORM_REJECTS] = reject_storm
    out[Limit.STORM_WINDOW_NS] = reject_storm_window_ms * _NS_PER_MS
    return out


def new_state() -> tuple[np.ndarray, np.ndarray]:
    """(position by locate, rate window) at start of day."""
    return np.zeros(MAX_LOCATE, np.int64), np.zeros(2, np.int64)


def new_rate() -> np.ndarray:
    """The rate window alone (what :func:`~tickpath.risk.new_order.check_new_order` keeps)."""
    return np.zeros(2, np.int64)


def new_storm(limits: np.ndarray) -> np.ndarray:
    """The venue-reject storm detector's state for ``limits[STORM_REJECTS]`` rejects."""
    return np.zeros(STORM_TIMES + int(limits[Limit.STORM_REJECTS]), np.int64)


def limits_from(settings: Mapping[str, Any]) -> np.ndarray:
    """The limits from a pipeline's ``[risk]`` settings (keys as in docs/risk.md; the
    optional ones take :func:`limits_array`'s defaults when absent)."""
    optional = ("max_open_notional", "max_total_open_notional", "max_loss",
                "duplicate_window_us", "reject_storm", "reject_storm_window_ms")
    return limits_array(settings["max_order_size"], settings["max_position"],
                        settings["max_notional"], settings["collar_bps"],
                        settings["max_orders_per_s"],
                        **{k: settings[k] for k in optional if k in settings})
