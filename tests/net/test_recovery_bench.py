"""``tickpath bench recovery`` over a veth pair (root): a venue publishing by multicast with
faults on its feed, a listener in the other namespace recovering with re-requests and
snapshots; its books are checked against the venue's day."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from tickpath.apps.recovery_bench import FAULTS, run_recovery_bench
from tickpath.cli import app
from tickpath.wire.netns import NetnsUnavailable, check


def _netns_or_skip() -> None:
    try:
        check()
    except NetnsUnavailable as e:
        pytest.skip(str(e))


def test_lossy_late_and_cut_runs_end_with_exact_books():
    _netns_or_skip()
    faults = tuple(f for f in FAULTS if f.name in ("loss 1% + reordering 1%",
                                                     "late start (snapshot)",
                                                     "line A cut at a packet of the run (A/B)"))
    rows = run_recovery_bench(runs=1, messages=8000, rate=20_000, symbols=8, faults=faults,
                              status=lambda m: None)
    loss, late, cut = rows
    # line B carries on where line A was cut: nothing is missed, nothing asked for
    assert cut["books_exact"] == 1 and cut["gaps"] == 0 and cut["requests"] == 0
    assert loss["books_exact"] == late["books_exact"] == 1
    assert loss["messages_lost"] == late["messages_lost"] == 0
    assert loss["gaps"] > 0 and loss["requests"] > 0 and loss["recovery_p50_us"] is not None
    assert late["snapshots"] == 1 and late["stale_runs"] == 0


def test_a_venue_restart_and_a_cut_line_over_the_compiled_loop():
    """The venue killed partway through its day and started again on a new session: the
    listener (the compiled busypoll loop, both lines on its socket) drops the old books and
    ends with the new venue's; line A cut, line B carries on."""
    _netns_or_skip()
    faults = tuple(f for f in FAULTS if f.name in ("venue restart (new session)",
                                                     "line A cut at a packet of the run (A/B)"))
    rows = run_recovery_bench(runs=1, messages=8000, rate=20_000, symbols=8, faults=faults,
                              status=lambda m: None, transport="busypoll")
    cut, restart = rows
    assert cut["books_exact"] == 1 and cut["gaps"] == 0 and cut["requests"] == 0
    assert restart["books_exact"] == 1 and restart["sessions"] == 1
    assert restart["messages_lost"] == 0 and restart["transport"] == "busypoll"


def test_cli_refuses_a_fault_it_does_not_know(tmp_path):
    r = CliRunner().invoke(app, ["bench", "recovery", "--json", str(tmp_path / "x.json"),
                                 "--only", "earthquake"])
    assert r.exit_code == 2 and "matches no fault" in r.output
    assert not (tmp_path / "x.json").exists()
    assert json.dumps([f.name for f in FAULTS])  # the names the error lists
