"""Crash and restart: a child process sending orders is killed (SIGKILL) mid-run; a new
session recovers orders, positions and totals from its journal, logs in asking for the
message after the last one journaled, and goes on. No UserRefNum is sent twice, and the
journal, the recovered state and the venue's record of what it received agree."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest

from tickpath.gateway.journal import Kind, read_records, recover
from tickpath.gateway.layout import OrderState, Total, new_orders, new_positions, new_totals
from tickpath.gateway.orders import SESSION_EXPIRED
from tickpath.gateway.session import LoginRejected

from .test_session import AAPL, no_order_lost_or_doubled, session, state, until
from .venue_script import ScriptedVenue

SRC = Path(__file__).resolve().parents[2] / "src"

CHILD = textwrap.dedent("""
    import sys, time
    from tickpath.gateway.session import OrderSession
    s = OrderSession("127.0.0.1", int(sys.argv[1]), "TRADER", "secret", journal=sys.argv[2],
                     capacity=256, instruments=16, heartbeat_s=0.05)
    s.connect()
    print("up", flush=True)
    while True:
        s.enter(3, "AAPL", "B", 10, 1_000_000)
        for _ in range(3):
            s.poll()
            time.sleep(0.001)
""")


def test_killed_mid_run_recovers_and_never_reuses_a_user_ref(tmp_path):
    venue = ScriptedVenue()
    path = tmp_path / "orders.journal"
    env = dict(os.environ, PYTHONPATH=f"{SRC}{os.pathsep}{os.environ.get('PYTHONPATH', '')}")
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(venue.port), str(path)],
                             env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 60  # a cold numba cache compiles first
        while len(venue.entered()) < 12:
            assert child.poll() is None, child.stderr.read()
            assert time.monotonic() < deadline, "the child sent too few orders"
            time.sleep(0.002)
        child.send_signal(signal.SIGKILL)
        child.wait(5)
        time.sleep(0.05)  # the venue sees the connection close; its answers stay in its log
        for ur in venue.entered()[:3]:
            venue.execute(ur, 4)  # fills while nobody is connected

        s = session(venue, tmp_path, journal=path)
        got = s.recover(path)
        recs = read_records(path)
        sent = recs[recs["kind"] == Kind.ENTER]["user_ref"]
        assert got.next_user_ref == int(sent.max()) + 1
        assert got.last_seq == int(recs[recs["kind"] == Kind.VENUE]["seq"].max(initial=0))
        assert got.session == venue.session
        s.connect()
        assert venue.logins[-1] == got.last_seq + 1
        assert venue.asked_sessions[-1] == venue.session  # the journal's session, by name
        until(s, lambda: s.totals[Total.LAST_SEQ] == len(venue.log))
        assert s.positions[AAPL]["position"] == 12
        for ur in venue.entered():
            assert state(s, ur) in (OrderState.ACCEPTED, OrderState.PARTIAL)
        # the one the child journaled but never sent (if the kill fell there) is in doubt
        assert set(int(r) for r in sent) - set(venue.entered()) == set(s.in_doubt())
        new = s.enter(AAPL, "AAPL", "S", 5, 1_001_000)
        assert new == got.next_user_ref
        until(s, lambda: state(s, new) == OrderState.ACCEPTED)
        no_order_lost_or_doubled(s, venue)
        s.close()
    finally:
        if child.poll() is None:
            child.kill()
        venue.close()


def test_a_new_venue_session_closes_the_old_sessions_orders(tmp_path):
    """The venue began a new day (a new session name) while we were away: the journal's
    session is refused as not available, the session logs in to the new one from sequence
    number 1, journals it, and closes the old day's open orders (canceled, reason 'T');
    fills stay booked, UserRefNums keep counting, and replaying the journal gives the same
    tables."""
    path = tmp_path / "orders.journal"
    day1 = ScriptedVenue(session="DAY1")
    s = session(day1, tmp_path, journal=path)
    s.connect()
    refs = [s.enter(AAPL, "AAPL", "B", 10, 1_000_000) for _ in range(3)]
    until(s, lambda: all(state(s, r) == OrderState.ACCEPTED for r in refs))
    day1.execute(refs[0], 4)
    day1.execute(refs[1], 10)
    until(s, lambda: state(s, refs[1]) == OrderState.FILLED)
    pending = s.replace(refs[2], 10, 1_001_000)  # the old day ends before it is answered
    day1.auto_respond = False
    s.cancel(refs[0])
    s.close()
    day1.close()

    day2 = ScriptedVenue(session="DAY2")
    try:
        s = session(day2, tmp_path, journal=path)
        got = s.recover(path)
        assert got.session == "DAY1" and got.last_seq > 0
        assert s.totals[Total.OPEN_ORDERS] == 2
        s.connect()
        assert day2.asked_sessions == ["DAY1", ""] and day2.logins[-1] == 1
        assert s.session == s.journaled_session == "DAY2"
        for r in (refs[0], refs[2], pending):
            o = s.order(r)
            assert o["state"] == OrderState.CANCELED and o["reason"] == SESSION_EXPIRED, r
        assert state(s, refs[1]) == OrderState.FILLED
        t, pos = s.totals, s.positions[AAPL]
        assert t[Total.OPEN_ORDERS] == 0 and t[Total.OPEN_NOTIONAL] == 0
        assert pos["open_buy"] == pos["open_buy_notional"] == 0 and pos["open_head"] == -1
        assert pos["position"] == 14 and t[Total.FILLS] == 2
        new = s.enter(AAPL, "AAPL", "S", 5, 1_002_000)
        assert new == pending + 1 == got.next_user_ref  # no UserRefNum is sent twice
        until(s, lambda: state(s, new) == OrderState.ACCEPTED)
        assert t[Total.LAST_SEQ] == len(day2.log)
        s.journal.sync()
        recs = read_records(path)
        names = [bytes(n).decode().strip() for n in recs[recs["kind"] == Kind.SESSION]["session"]]
        assert names == ["DAY1", "DAY2"]
        again = new_orders(256), new_positions(16), new_totals()
        assert recover(path, *again).session == "DAY2"
        for mine, replayed in zip((s.orders, s.positions, s.totals), again, strict=True):
            assert np.array_equal(mine, replayed)
        s.close()
    finally:
        day2.close()


def test_a_session_refused_for_another_reason_is_not_a_new_day(tmp_path):
    """Only 'S' (session not available) for the journal's session starts a new day; a bad
    password is an error, and nothing is closed or journaled."""
    path = tmp_path / "orders.journal"
    venue = ScriptedVenue(session="DAY1")
    try:
        s = session(venue, tmp_path, journal=path)
        s.connect()
        ur = s.enter(AAPL, "AAPL", "B", 10, 1_000_000)
        until(s, lambda: state(s, ur) == OrderState.ACCEPTED)
        s.close()
        before = path.read_bytes()
        venue.reject_login = "A"
        s = session(venue, tmp_path, journal=path)
        s.recover(path)
        with pytest.raises(LoginRejected):
            s.connect()
        assert state(s, ur) == OrderState.ACCEPTED
        s.close()
        assert path.read_bytes() == before
    finally:
        venue.close()
