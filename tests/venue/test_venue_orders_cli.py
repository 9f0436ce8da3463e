"""``tickpath venue --orders-port ... --account USER:PASS``: the live venue with order entry,
from the command line (a quiet, short run), and the refusals of options that do not fit."""

from __future__ import annotations

import socket

from typer.testing import CliRunner

from tickpath.cli import app


def _free_udp_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_venue_with_order_entry_runs_and_ends():
    res = CliRunner().invoke(app, [
        "venue", "--symbols", "3", "--messages", "5000", "--port", str(_free_udp_port()),
        "--orders-port", "0", "--account", "ALICE:pw1", "--account", "BOB:pw2", "--quiet",
        "--duration", "0.2", "--sender", "sendto"])
    assert res.exit_code == 0, res.output
    out = " ".join(res.output.split())  # the console wraps long lines
    assert "order entry (OUCH 5.0 / SoupBinTCP 3.0)" in out and "2 account(s)" in out
    assert "sessions 0" in out


def test_venue_order_entry_refusals(tmp_path):
    r = CliRunner().invoke(app, ["venue", "--orders-port", "0"])
    assert r.exit_code == 2 and "--account" in r.output
    r = CliRunner().invoke(app, ["venue", "--orders-port", "0", "--account", "A:B", "--quiet"])
    assert r.exit_code == 2 and "--duration" in r.output
    r = CliRunner().invoke(app, ["venue", "--orders-port", "0", "--account", "A:B",
                                 "--pcap", str(tmp_path / "x.pcap")])
    assert r.exit_code == 2 and "live" in r.output
    r = CliRunner().invoke(app, ["venue", "--orders-port", "0", "--account", "nocolon"])
    assert r.exit_code == 2 and "USER:PASS" in r.output


def test_futures_venue_with_order_entry_runs_and_ends():
    res = CliRunner().invoke(app, [
        "venue", "--feed", "mdp3", "--symbols", "5", "--messages", "4000",
        "--port", str(_free_udp_port()), "--orders-port", "0", "--account", "ALICE:pw1",
        "--quiet", "--duration", "0.2", "--sender", "sendto"])
    assert res.exit_code == 0, res.output
    out = " ".join(res.output.split())
    assert "publishing MDP3" in out and "1 account(s)" in out and "TPZ6" in out
    assert "sessions 0" in out
    r = CliRunner().invoke(app, ["venue", "--feed", "mdp3", "--orders-port", "0"])
    assert r.exit_code == 2 and "--account" in r.output
