"""A venue's time of day: UTC epoch nanoseconds to and from "ns since local midnight".

ITCH 5.0 stamps every message with nanoseconds since midnight, and that midnight is the
exchange's own, in its local time: NASDAQ's is America/New_York, US Eastern time with daylight
saving (UTC-5 in winter, UTC-4 in summer). The path's clock is CLOCK_REALTIME, UTC nanoseconds
since the epoch (:mod:`tickpath.telemetry.stamps`). Reading an ITCH stamp as a UTC time of day
puts every latency 4 or 5 hours off; this module converts between the two for a given zone.

"Since local midnight" here is the local wall clock's reading as nanoseconds, in
``[0, NS_PER_DAY)``: ``(utc_ns + offset) mod NS_PER_DAY``. On the two days a year the clock
changes that is not the time elapsed since midnight (the spring day has 23 hours, the autumn
day 25, and on the autumn day the readings 01:00-02:00 occur twice); venues trade on neither
night, and a clock reading is what a venue that stamps local time produces.

Why a table. Compiled (numba nopython) code cannot call :mod:`zoneinfo`, so :class:`FeedTime`
probes zoneinfo once, in Python, and writes the zone's UTC offsets over a window of a few years
as a small int64 array, one row per offset in force::

    table[i] = (utc_ns at which this offset starts, offset_ns)     rows sorted by start

Row 0 starts at the window's start, each later row at a transition (a daylight-saving change).
The compiled kernels (:func:`utc_offset`, :func:`since_midnight`, :func:`to_epoch`,
:func:`elapsed_since`) are free ``@njit`` functions over that table and int64 scalars; they
never allocate or raise. Outside the window they use the first row (before it) or the last row
(after it), which is wrong once a transition lies out there; :class:`FeedTime`'s methods raise
``ValueError`` instead, and a long-running process rebuilds the table (a new :class:`FeedTime`
around the current time) well before the window ends.
"""

from __future__ import annotations

import time
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
from numba import njit

from .stamps import NS_PER_DAY

#: NASDAQ's zone, whose midnight ITCH timestamps count from
NASDAQ_ZONE = "America/New_York"

_NS = 1_000_000_000
_HOUR_S = 3600
_YEAR_S = 366 * 86_400
_INT64_MAX = np.iinfo(np.int64).max
_HALF_DAY = NS_PER_DAY // 2


# ---------------------------------------------------------------- compiled kernels


@njit(cache=True, nogil=True)
def _row(table, utc_ns):
    """Index of the row in force at ``utc_ns``: the last row starting at or before it, row 0
    for instants before the first row."""
    lo = 0
    hi = table.shape[0]
    while hi - lo > 1:  # invariant: table[lo] starts <= utc_ns (or lo == 0), table[hi] after
        mid = (lo + hi) // 2
        if table[mid, 0] <= utc_ns:
            lo = mid
        else:
            hi = mid
    return lo


@njit(cache=True, nogil=True)
def utc_offset(table, utc_ns):
    """The zone's UTC offset (ns, local minus UTC) in force at ``utc_ns`` (UTC epoch ns)."""
    return table[_row(table, np.int64(utc_ns)), 1]


@njit(cache=True, nogil=True)
def since_midnight(table, utc_ns):
    """The local wall clock's time of day at ``utc_ns``, in ns since local midnight, as a
    venue stamps an ITCH message it sends at ``utc_ns``. Always in ``[0, NS_PER_DAY)``."""
    t = np.int64(utc_ns)
    return (t + table[_row(table, t), 1]) % NS_PER_DAY  # floor mod: before 1970 too


@njit(cache=True, nogil=True)
def to_epoch(table, since_midnight_ns, near_utc_ns):
    """The UTC epoch ns at which the local clock reads ``since_midnight_ns``, nearest
    ``near_utc_ns``: an ITCH stamp widened against the receiver's UTC clock.

    Each candidate uses the offset in force at the candidate instant, so across a change the
    answer is exact. On the autumn day a reading in the repeated hour has two instants, one
    hour apart: the nearer one wins, the earlier on a tie. A reading the spring change skips
    (02:00-03:00 in New York) is taken with the offset before the change, as ``datetime`` does
    for a nonexistent time (fold=0): 02:30 becomes 03:30 daylight time, so a venue whose clock
    changes a little late still measures right. Away from changes this is the instant within
    half a day of ``near_utc_ns``.
    """
    s = np.int64(since_midnight_ns)  # int64 throughout: uint64 mixed with int64 gives float
    near = np.int64(near_utc_ns)
    k = table.shape[0]
    # any reading recurs daily, so the nearest instant is within about a day: rows in force
    # within two days either side are enough
    first = _row(table, near - 2 * NS_PER_DAY)
    last = _row(table, near + 2 * NS_PER_DAY)
    if first == last:  # no change within two days (all but a few days a year): one offset,
        off = table[first, 1]  # the nearest of three days' readings, the earlier on a tie
        local = near + off
        t = local - local % NS_PER_DAY + s - off
        if t - near >= _HALF_DAY:
            t -= NS_PER_DAY
        elif near - t > _HALF_DAY:
            t += NS_PER_DAY
        return t
    best = np.int64(0)
    best_d = np.int64(-1)
    for i in range(first, last + 1):
        off = table[i, 1]
        # the UTC span where row i's offset gives the reading: its own rows' span, and after
        # a change that puts clocks forward, the skipped readings just past it
        end = _INT64_MAX
        if i + 1 < k:
            end = table[i + 1, 0]
            jump = table[i + 1, 1] - off
            if jump > 0:
                end += jump
                if i + 2 < k and table[i + 2, 0] < end:
                    end = table[i + 2, 0]
        local = near + off
        t0 = local - local % NS_PER_DAY + s - off  # the reading on near's local day, this offset
        for day in range(-1, 2):
            t = t0 + day * NS_PER_DAY
            if (i > 0 and t < table[i, 0]) or t >= end:
                continue
            d = t - near if t >= near else near - t
            if best_d < 0 or d < best_d or (d == best_d and t < best):
                best = t
                best_d = d
    if best_d < 0:  # unreachable for a table of real zones; stay total rather than raise
        off = table[_row(table, near), 1]
        local = near + off
        best = local - local % NS_PER_DAY + s - off
    return best


@njit(cache=True, nogil=True)
def elapsed_since(table, since_midnight_ns, utc_now_ns):
    """Nanoseconds from an ITCH stamp (local ns since midnight) to ``utc_now_ns``: ``utc_now_ns``
    minus the stamp widened by :func:`to_epoch` around it. Signed: a stamp from a clock a
    little ahead of the receiver's gives a small negative value, kept so that it shows."""
    now = np.int64(utc_now_ns)
    return now - to_epoch(table, since_midnight_ns, now)


# ---------------------------------------------------------------- owner


def _offset_s(zone: ZoneInfo, utc_s: int) -> int:
    """zoneinfo's UTC offset at a whole UTC second, in seconds."""
    delta = datetime.fromtimestamp(utc_s, zone).utcoffset()
    assert delta is not None
    return int(delta.total_seconds())


def build_table(zone: ZoneInfo, start_s: int, end_s: int) -> np.ndarray:
    """The offset table of ``zone`` over ``[start_s, end_s)`` (UTC epoch seconds), found by
    probing zoneinfo every hour and bisecting each change to its second (changes happen at
    whole seconds; two changes within one hour would be missed, and no zone has them)."""
    rows = [(start_s, _offset_s(zone, start_s))]
    prev_s, prev_off = start_s, rows[0][1]
    for probe_s in range(start_s + _HOUR_S, end_s + _HOUR_S, _HOUR_S):
        probe_s = min(probe_s, end_s)
        off = _offset_s(zone, probe_s)
        if off != prev_off:
            lo, hi = prev_s, probe_s  # offset at lo is the old one, at hi the new one
            while hi - lo > 1:
                mid = (lo + hi) // 2
                if _offset_s(zone, mid) == prev_off:
                    lo = mid
                else:
                    hi = mid
            rows.append((hi, off))
        prev_s, prev_off = probe_s, off
    table = np.array(rows, dtype=np.int64) * _NS
    return np.ascontiguousarray(table.reshape(-1, 2))


class FeedTime:
    """A venue's local time of day for compiled code: the zone's offset table and the
    Python-side conversions, which check the window and call the compiled kernels.

    ``FeedTime()`` is NASDAQ's (America/New_York) over two years either side of now; pass
    ``around_ns`` (UTC epoch ns) for another time, as a replay of an old capture does. Hand
    :attr:`table` to compiled code with :func:`since_midnight`, :func:`to_epoch`,
    :func:`elapsed_since` and :func:`utc_offset`.
    """

    def __init__(self, zone: str = NASDAQ_ZONE, around_ns: int | None = None, years: int = 2):
        try:
            tz = ZoneInfo(zone)
        except (ZoneInfoNotFoundError, ValueError) as exc:
            raise ValueError(f"unknown time zone {zone!r}: expected an IANA name such as "
                             f"'America/New_York' or 'UTC' ({exc})") from exc
        if years < 1:
            raise ValueError(f"years must be at least 1, got {years}")
        if around_ns is None:
            around_ns = time.clock_gettime_ns(time.CLOCK_REALTIME)
        around_s = int(around_ns) // _NS
        start_s = around_s - years * _YEAR_S
        end_s = around_s + years * _YEAR_S
        #: the IANA zone name
        self.zone: str = zone
        #: (k, 2) int64, C-contiguous: (utc_ns this offset starts, offset_ns), sorted
        self.table: np.ndarray = build_table(tz, start_s, end_s)
        #: the window the table is exact over: ``[start_ns, end_ns)``, UTC epoch ns
        self.start_ns: int = start_s * _NS
        self.end_ns: int = end_s * _NS

    def __repr__(self) -> str:
        def iso(ns: int) -> str:
            return datetime.fromtimestamp(ns // _NS, UTC).strftime("%Y-%m-%d")
        return (f"FeedTime({self.zone!r}, {len(self.table)} offsets, "
                f"{iso(self.start_ns)}..{iso(self.end_ns)} UTC)")

    def covers(self, utc_ns: int) -> bool:
        """Whether ``utc_ns`` lies in the window the table is exact over."""
        return self.start_ns <= utc_ns < self.end_ns

    def _check(self, utc_ns: int, what: str) -> None:
        if not self.covers(utc_ns):
            raise ValueError(f"{what} {utc_ns} is outside the {self.zone} offset table's window "
                             f"[{self.start_ns}, {self.end_ns}) (UTC epoch ns): build a "
                             "FeedTime around it")

    @staticmethod
    def _check_reading(since_midnight_ns: int) -> None:
        if not 0 <= since_midnight_ns < NS_PER_DAY:
            raise ValueError(f"ns since midnight {since_midnight_ns} is not in "
                             f"[0, {NS_PER_DAY})")

    def utc_offset(self, utc_ns: int) -> int:
        """The UTC offset (ns, local minus UTC) in force at ``utc_ns``."""
        self._check(utc_ns, "instant")
        return int(utc_offset(self.table, utc_ns))

    def local_since_midnight(self, utc_ns: int) -> int:
        """The local time of day at ``utc_ns`` as ITCH stamps it (see :func:`since_midnight`)."""
        self._check(utc_ns, "instant")
        return int(since_midnight(self.table, utc_ns))

    def to_utc(self, since_midnight_ns: int, near_utc_ns: int) -> int:
        """The UTC epoch ns of a local time of day, nearest ``near_utc_ns`` (see
        :func:`to_epoch`)."""
        self._check_reading(since_midnight_ns)
        self._check(near_utc_ns, "near instant")
        t = int(to_epoch(self.table, since_midnight_ns, near_utc_ns))
        self._check(t, "widened instant")
        return t

    def elapsed_since(self, since_midnight_ns: int, utc_now_ns: int) -> int:
        """Signed ns from a local time-of-day stamp to ``utc_now_ns`` (see
        :func:`elapsed_since`)."""
        return utc_now_ns - self.to_utc(since_midnight_ns, utc_now_ns)
