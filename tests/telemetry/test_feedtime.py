"""A venue's local time of day (tickpath.telemetry.feedtime) against zoneinfo and datetime."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from numba import njit

from tickpath.telemetry import feedtime
from tickpath.telemetry.feedtime import (
    FeedTime,
    elapsed_since,
    since_midnight,
    to_epoch,
    utc_offset,
)
from tickpath.telemetry.stamps import NS_PER_DAY

try:
    ZoneInfo("America/New_York")
except ZoneInfoNotFoundError:  # pragma: no cover - depends on the host's tz database
    pytest.skip("no IANA time zone database (Debian: tzdata; or pip install tzdata)",
                allow_module_level=True)

NS = 1_000_000_000
HOUR = 3600 * NS
MINUTE = 60 * NS
NY = ZoneInfo("America/New_York")
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
#: the tests' fixed "now", so nothing depends on the wall clock
AROUND = 1_780_272_000 * NS  # 2026-06-01 00:00 UTC
#: zones beside New York: no daylight saving, half-hour offsets, southern hemisphere,
#: a half-hour daylight-saving change
OTHER_ZONES = ("UTC", "Europe/London", "Asia/Tokyo", "Asia/Kolkata", "Australia/Sydney",
               "America/St_Johns", "Australia/Lord_Howe")


def utc_ns(*args: int) -> int:
    """UTC epoch ns of a UTC calendar time."""
    return (datetime(*args, tzinfo=UTC) - EPOCH) // timedelta(seconds=1) * NS


def clock(h: int, m: int = 0, s: int = 0, ns: int = 0) -> int:
    """A wall-clock reading as ns since midnight."""
    return ((h * 60 + m) * 60 + s) * NS + ns


# ---------------------------------------------------------------- references


def ref_offset(tz: ZoneInfo, t: int) -> int:
    return datetime.fromtimestamp(t // NS, tz).utcoffset() // timedelta(microseconds=1) * 1000


def ref_since_midnight(tz: ZoneInfo, t: int) -> int:
    sec, ns = divmod(t, NS)
    local = datetime.fromtimestamp(sec, tz)
    return clock(local.hour, local.minute, local.second, ns)


def ref_to_epoch(tz: ZoneInfo, reading: int, near: int) -> int:
    """Every instant whose wall clock reads ``reading`` on the local days around ``near``, by
    datetime: fold=0 always (a skipped reading then takes the offset before the change, as
    PEP 495 says), fold=1 where the reading really occurs twice. The nearest, earlier on a tie."""
    sec, ns = divmod(reading, NS)
    h, rest = divmod(sec, 3600)
    m, s = divmod(rest, 60)
    day = datetime.fromtimestamp(near // NS, tz).date()
    found = set()
    for k in range(-2, 3):
        d = day + timedelta(days=k)
        for fold in (0, 1):
            local = datetime(d.year, d.month, d.day, h, m, s, tzinfo=tz, fold=fold)
            t = (local.astimezone(UTC) - EPOCH) // timedelta(seconds=1)
            if fold == 1:
                back = datetime.fromtimestamp(t, tz)
                if (back.hour, back.minute, back.second) != (h, m, s):
                    continue  # fold=1 of a skipped reading: not a real occurrence
            found.add(t * NS + ns)
    return min(found, key=lambda t: (abs(t - near), t))


@pytest.fixture(scope="module")
def ny() -> FeedTime:
    return FeedTime("America/New_York", around_ns=AROUND)


@pytest.fixture(scope="module")
def zones() -> dict[str, FeedTime]:
    return {z: FeedTime(z, around_ns=AROUND) for z in OTHER_ZONES}


# ---------------------------------------------------------------- the table


def test_table_layout_and_the_2026_changes(ny):
    t = ny.table
    assert t.dtype == np.int64 and t.ndim == 2 and t.shape[1] == 2
    assert t.flags.c_contiguous
    assert np.all(np.diff(t[:, 0]) > 0)
    assert t[0, 0] == ny.start_ns and ny.start_ns < AROUND < ny.end_ns
    assert ny.end_ns - ny.start_ns >= 4 * 365 * NS_PER_DAY
    assert ny.zone == "America/New_York"
    rows = {int(s): int(o) for s, o in t[1:]}
    assert rows[utc_ns(2026, 3, 8, 7)] == -4 * HOUR  # 02:00 EST -> 03:00 EDT
    assert rows[utc_ns(2026, 11, 1, 6)] == -5 * HOUR  # 02:00 EDT -> 01:00 EST
    assert len(rows) == 8  # two changes a year, four years
    assert set(rows.values()) == {-4 * HOUR, -5 * HOUR}
    assert "America/New_York" in repr(ny)


def test_default_is_nasdaq_around_now():
    ft = FeedTime()
    assert ft.zone == feedtime.NASDAQ_ZONE == "America/New_York"
    now = datetime.now(UTC)
    assert ft.covers((now - EPOCH) // timedelta(seconds=1) * NS)


def test_utc_is_the_identity():
    ft = FeedTime("UTC", around_ns=AROUND)
    assert ft.table.shape == (1, 2) and ft.table[0, 1] == 0
    for t in (AROUND, AROUND + 1, AROUND - 1, utc_ns(2026, 3, 8, 7), AROUND + NS_PER_DAY - 1):
        assert ft.utc_offset(t) == 0
        assert ft.local_since_midnight(t) == t % NS_PER_DAY
        assert ft.to_utc(t % NS_PER_DAY, t + 3 * HOUR) == t


def test_unknown_zone_and_bad_arguments_raise():
    with pytest.raises(ValueError, match="unknown time zone"):
        FeedTime("America/Atlantis")
    with pytest.raises(ValueError, match="years"):
        FeedTime(years=0)


# ---------------------------------------------------------------- winter, summer


def test_january_is_eastern_standard_time(ny):
    t = utc_ns(2026, 1, 15, 14, 30)  # the NASDAQ open, 09:30 EST
    assert ny.utc_offset(t) == -5 * HOUR
    assert ny.local_since_midnight(t) == clock(9, 30)
    assert ny.to_utc(clock(9, 30), t + 250_000) == t
    assert ny.elapsed_since(clock(9, 30), t + 4_321) == 4_321


def test_july_is_eastern_daylight_time(ny):
    t = utc_ns(2026, 7, 15, 13, 30)  # the NASDAQ open, 09:30 EDT
    assert ny.utc_offset(t) == -4 * HOUR
    assert ny.local_since_midnight(t) == clock(9, 30)
    assert ny.to_utc(clock(9, 30), t + 250_000) == t
    assert ny.elapsed_since(clock(9, 30), t + 4_321) == 4_321


def test_utc_time_of_day_is_hours_off(ny):
    """What the UTC reading gets wrong, and this gets right."""
    t = utc_ns(2026, 7, 15, 13, 30)
    stamp = ny.local_since_midnight(t)
    assert (t % NS_PER_DAY - stamp) % NS_PER_DAY == 4 * HOUR
    assert ny.elapsed_since(stamp, t + 9_000) == 9_000


def test_a_stamp_from_before_local_midnight_read_after_it(ny):
    stamp = clock(23, 59, 59, 999_999_000)  # 2026-01-15 23:59:59.999999 EST
    t = utc_ns(2026, 1, 16, 4, 59, 59) + 999_999_000
    now = t + 5 * MINUTE  # 00:04:59.999999 EST the next day
    assert ny.local_since_midnight(now) < stamp
    assert ny.to_utc(stamp, now) == t
    assert ny.elapsed_since(stamp, now) == 5 * MINUTE


def test_a_stamp_slightly_in_the_future_is_negative(ny):
    t = utc_ns(2026, 2, 2, 15)
    assert ny.elapsed_since(ny.local_since_midnight(t), t - 700) == -700


# ---------------------------------------------------------------- the two 2026 changes


def test_spring_forward_2026(ny):
    change = utc_ns(2026, 3, 8, 7)  # 02:00 EST becomes 03:00 EDT
    assert ny.utc_offset(change - 1) == -5 * HOUR
    assert ny.utc_offset(change) == -4 * HOUR
    assert ny.local_since_midnight(change - 1) == clock(2) - 1  # 01:59:59.999999999 EST
    assert ny.local_since_midnight(change) == clock(3)  # 03:00 EDT
    for t in (change - 1, change, change + 1, change - HOUR, change + HOUR):
        assert ny.to_utc(ny.local_since_midnight(t), t) == t


def test_fall_back_2026(ny):
    change = utc_ns(2026, 11, 1, 6)  # 02:00 EDT becomes 01:00 EST
    assert ny.utc_offset(change - 1) == -4 * HOUR
    assert ny.utc_offset(change) == -5 * HOUR
    assert ny.local_since_midnight(change - 1) == clock(2) - 1  # 01:59:59.999999999 EDT
    assert ny.local_since_midnight(change) == clock(1)  # 01:00 EST, the second time
    for t in (change - 1, change, change + 1, change - 2 * HOUR, change + HOUR):
        assert ny.to_utc(ny.local_since_midnight(t), t) == t


def test_the_23_hour_day_round_trips(ny):
    """2026-03-08, every 7 minutes and a bit, from the previous local evening to the next
    morning: widening the stamp against the send instant itself or up to 11 hours later gives
    the send instant back (the same reading is 23 or 24 hours away on the days around)."""
    start = utc_ns(2026, 3, 7, 23)
    for t in range(start, start + 36 * HOUR, 7 * MINUTE + 13 * NS + 17):
        stamp = ny.local_since_midnight(t)
        assert stamp == ref_since_midnight(NY, t)
        for lag in (0, 1, 250_000, HOUR, 11 * HOUR):
            assert ny.to_utc(stamp, t + lag) == t
            assert ny.elapsed_since(stamp, t + lag) == lag
        assert ny.to_utc(stamp, t - 11 * HOUR) == t


def test_the_25_hour_day_round_trips(ny):
    """2026-11-01: the readings 01:00-02:00 occur twice, an hour apart, so a stamp round-trips
    when read within half an hour of it; elsewhere within 11 hours."""
    start = utc_ns(2026, 10, 31, 23)
    for t in range(start, start + 36 * HOUR, 7 * MINUTE + 13 * NS + 17):
        stamp = ny.local_since_midnight(t)
        assert stamp == ref_since_midnight(NY, t)
        repeated = clock(1) <= stamp < clock(2) and utc_ns(2026, 11, 1) <= t < utc_ns(2026, 11, 2)
        lags = (0, 1, 29 * MINUTE) if repeated else (0, 1, HOUR, 11 * HOUR)
        for lag in lags:
            assert ny.to_utc(stamp, t + lag) == t
            assert ny.to_utc(stamp, t - lag) == t
            assert ny.elapsed_since(stamp, t + lag) == lag


def test_the_repeated_hour_picks_the_nearer_occurrence(ny):
    first = utc_ns(2026, 11, 1, 5, 30)  # 01:30 EDT
    second = utc_ns(2026, 11, 1, 6, 30)  # 01:30 EST
    assert ny.local_since_midnight(first) == ny.local_since_midnight(second) == clock(1, 30)
    assert ny.to_utc(clock(1, 30), first + 10 * MINUTE) == first
    assert ny.to_utc(clock(1, 30), second - 10 * MINUTE) == second
    assert ny.to_utc(clock(1, 30), second + 3 * HOUR) == second
    assert ny.to_utc(clock(1, 30), first - 3 * HOUR) == first
    assert ny.to_utc(clock(1, 30), first + 30 * MINUTE) == first  # a tie: the earlier
    # read at 01:45 EST, a stamp sent at 01:30 EDT cannot be told from one sent at 01:30 EST
    assert ny.elapsed_since(clock(1, 30), second + 15 * MINUTE) == 15 * MINUTE


def test_the_25_hour_day_reads_the_wall_clock(ny):
    """At 23:00 EST on 2026-11-01, 24 hours have passed since midnight, the clock reads 23:00."""
    t = utc_ns(2026, 11, 2, 4)
    assert ny.local_since_midnight(t) == clock(23)
    assert ny.to_utc(clock(23), t) == t


def test_a_skipped_reading_takes_the_offset_before_the_change(ny):
    """02:30 never shows on 2026-03-08; as datetime does (fold=0) it is read as EST, the same
    instant as 03:30 EDT, so a venue whose clock changes late still measures right."""
    t = utc_ns(2026, 3, 8, 7, 30)
    assert ny.to_utc(clock(2, 30), t + 2 * MINUTE) == t
    assert ny.to_utc(clock(3, 30), t + 2 * MINUTE) == t
    assert ny.to_utc(clock(2, 30), t) == ref_to_epoch(NY, clock(2, 30), t)
    assert ny.elapsed_since(clock(2, 0, 0, 5), utc_ns(2026, 3, 8, 7) + 900) == 895


# ---------------------------------------------------------------- the window


def test_outside_the_window_python_raises_compiled_uses_the_edge_rows(ny):
    before, after = ny.start_ns - 1, ny.end_ns
    for call in (lambda: ny.local_since_midnight(before), lambda: ny.utc_offset(after),
                 lambda: ny.to_utc(clock(9, 30), after),
                 lambda: ny.elapsed_since(clock(9, 30), before)):
        with pytest.raises(ValueError, match="outside"):
            call()
    with pytest.raises(ValueError, match="outside"):  # near inside, the answer just outside
        ny.to_utc(clock(19), ny.start_ns + 5 * MINUTE)  # start: 20:00 EDT
    assert utc_offset(ny.table, before) == ny.table[0, 1]
    assert utc_offset(ny.table, after + 10 * 365 * NS_PER_DAY) == ny.table[-1, 1]
    with pytest.raises(ValueError, match="since midnight"):
        ny.to_utc(NS_PER_DAY, AROUND)
    with pytest.raises(ValueError, match="since midnight"):
        ny.to_utc(-1, AROUND)


# ---------------------------------------------------------------- properties


_HALF_WIN = 2 * 365 * NS_PER_DAY
_window = st.integers(AROUND - _HALF_WIN, AROUND + _HALF_WIN)
_changes = ([utc_ns(y, 3, d, 7) for y, d in ((2025, 9), (2026, 8), (2027, 14))]
            + [utc_ns(y, 11, d, 6) for y, d in ((2024, 3), (2025, 2), (2026, 1), (2027, 7))])
#: instants anywhere in the window, or within two days of a New York change
instants = st.one_of(
    _window,
    st.builds(lambda c, d: c + d, st.sampled_from(_changes),
              st.integers(-2 * NS_PER_DAY, 2 * NS_PER_DAY)),
    st.builds(lambda c, d: c + d, st.sampled_from(_changes), st.integers(-3 * NS, 3 * NS)),
)
readings = st.one_of(st.integers(0, NS_PER_DAY - 1),
                     st.builds(lambda h, d: clock(h) + d, st.integers(0, 3),
                               st.integers(-NS, NS)).filter(lambda r: 0 <= r < NS_PER_DAY))
_settings = settings(max_examples=400, deadline=None,
                     suppress_health_check=[HealthCheck.function_scoped_fixture])


@_settings
@given(t=instants)
def test_offset_and_time_of_day_match_zoneinfo(ny, t):
    assert ny.utc_offset(t) == ref_offset(NY, t)
    assert ny.local_since_midnight(t) == ref_since_midnight(NY, t)


@_settings
@given(reading=readings, near=instants)
def test_to_utc_matches_datetime(ny, reading, near):
    assert ny.to_utc(reading, near) == ref_to_epoch(NY, reading, near)
    assert ny.elapsed_since(reading, near) == near - ref_to_epoch(NY, reading, near)


@_settings
@given(t=instants, lag=st.integers(-30 * MINUTE + 1, 30 * MINUTE - 1))
def test_round_trip_within_half_an_hour(ny, t, lag):
    """Half an hour either side is unambiguous even on the day the clock goes back."""
    stamp = ny.local_since_midnight(t)
    assert ny.to_utc(stamp, t + lag) == t
    assert ny.elapsed_since(stamp, t + lag) == lag


@_settings
@given(zone=st.sampled_from(OTHER_ZONES), t=_window, reading=st.integers(0, NS_PER_DAY - 1),
       near=_window)
def test_other_zones_match_zoneinfo(zones, zone, t, reading, near):
    ft, tz = zones[zone], ZoneInfo(zone)
    assert ft.utc_offset(t) == ref_offset(tz, t)
    assert ft.local_since_midnight(t) == ref_since_midnight(tz, t)
    assert ft.to_utc(reading, near) == ref_to_epoch(tz, reading, near)


@_settings
@given(zone=st.sampled_from(("Australia/Sydney", "Europe/London", "Australia/Lord_Howe")),
       which=st.integers(0, 20), d=st.integers(-NS_PER_DAY, NS_PER_DAY),
       reading=st.integers(0, NS_PER_DAY - 1))
def test_other_zones_around_their_changes(zones, zone, which, d, reading):
    ft = zones[zone]
    changes = ft.table[1:, 0]
    near = int(changes[which % len(changes)]) + d
    assert ft.local_since_midnight(near) == ref_since_midnight(ZoneInfo(zone), near)
    assert ft.to_utc(reading, near) == ref_to_epoch(ZoneInfo(zone), reading, near)


@_settings
@given(reading=st.integers(0, NS_PER_DAY - 1), near=_window)
def test_utc_widening_is_the_nearest_day(zones, reading, near):
    """In UTC a reading widens to the day that puts it nearest ``near`` (the earlier on a
    tie), as plain arithmetic modulo a day says."""
    got = zones["UTC"].to_utc(reading, near)
    day = near - near % NS_PER_DAY
    candidates = [day + k * NS_PER_DAY + reading for k in (-1, 0, 1)]
    assert got == min(candidates, key=lambda t: (abs(t - near), t))


# ---------------------------------------------------------------- compiled code


@njit(nogil=True)
def _latencies(table, stamps, received, out):
    for i in range(stamps.shape[0]):
        out[i] = elapsed_since(table, stamps[i], received[i])


@njit(nogil=True)
def _stamp_all(table, sent, out):
    for i in range(sent.shape[0]):
        out[i] = since_midnight(table, sent[i])


def test_compiled_loops_and_python_methods_agree(ny):
    rng = np.random.default_rng(7)
    sent = np.concatenate([
        rng.integers(ny.start_ns, ny.end_ns - NS_PER_DAY, 2000),
        np.array(_changes, np.int64)[:, None] + rng.integers(-3 * HOUR, 3 * HOUR, (7, 100)),
    ], axis=None).astype(np.int64)
    lag = rng.integers(-1000, 20 * MINUTE, sent.shape[0])
    stamps = np.empty_like(sent)
    _stamp_all(ny.table, sent, stamps)
    # ITCH's 6-byte timestamp decoded as unsigned must not turn the arithmetic into floats
    lat = np.empty_like(sent)
    _latencies(ny.table, stamps.astype(np.uint64), sent + lag, lat)
    assert np.array_equal(lat, lag)
    for t, s, r in zip(sent[::25].tolist(), stamps[::25].tolist(), (sent + lag)[::25].tolist(),
                       strict=True):
        assert ny.local_since_midnight(t) == s == since_midnight(ny.table, t)
        assert ny.utc_offset(t) == utc_offset(ny.table, t)
        assert ny.to_utc(s, r) == to_epoch(ny.table, s, r)
        assert ny.elapsed_since(s, r) == elapsed_since(ny.table, s, r) == r - t


_PROBE = """
import json, sys
import numpy as np
from tickpath.telemetry.feedtime import FeedTime, since_midnight, to_epoch, elapsed_since, utc_offset
ft = FeedTime("America/New_York", around_ns=int(sys.argv[1]))
out = []
for t, r, n in json.loads(sys.argv[2]):
    out.append([int(utc_offset(ft.table, t)), int(since_midnight(ft.table, t)),
                int(to_epoch(ft.table, r, n)), int(elapsed_since(ft.table, r, n))])
print(json.dumps(out))
"""


def test_kernels_run_as_plain_python_too(ny):
    """Under NUMBA_DISABLE_JIT=1 (steppable in a debugger) the kernels give the same answers."""
    cases = []
    for c in _changes:
        for d in (-HOUR - 1, -1, 0, 1, 30 * MINUTE, HOUR):
            cases.append([c + d, clock(1, 30), c + d])
            cases.append([c + d, clock(2, 30), c + d])
    cases.append([AROUND, clock(23, 59), AROUND])
    env = dict(os.environ, NUMBA_DISABLE_JIT="1")
    res = subprocess.run([sys.executable, "-c", _PROBE, str(AROUND), json.dumps(cases)],
                         env=env, capture_output=True, text=True, check=True)
    plain = json.loads(res.stdout)
    compiled = [[int(utc_offset(ny.table, t)), int(since_midnight(ny.table, t)),
                 int(to_epoch(ny.table, r, n)), int(elapsed_since(ny.table, r, n))]
                for t, r, n in cases]
    assert plain == compiled


def test_reference_sanity():
    """The reference itself, on dates checked by hand."""
    assert ref_since_midnight(NY, utc_ns(2026, 1, 15, 14, 30)) == clock(9, 30)
    assert ref_to_epoch(NY, clock(9, 30), utc_ns(2026, 7, 15, 12)) == utc_ns(2026, 7, 15, 13, 30)
    assert date(2026, 3, 8).weekday() == date(2026, 11, 1).weekday() == 6  # both Sundays
