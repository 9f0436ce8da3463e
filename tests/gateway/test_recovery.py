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

from tickpath.gateway.journal import Kind, read_records
from tickpath.gateway.layout import OrderState, Total

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
        s.connect()
        assert venue.logins[-1] == got.last_seq + 1
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
