"""`tickpath scenario central-bank` end to end on a veth pair: the venue trades the stocks
and the index future, both hosts trade the basis through its order entry, and the report
says how late each host's view of the basis was in each phase."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest

pytestmark = pytest.mark.net

SHORT = """
[market]
symbols = 24
basket = 8
[pace]
rate = 1000
calm_s = 0.6
burst_s = 0.2
factor = 50
after_s = 0.6
[strategy]
threshold_ticks = 2
exit_ticks = 1
[hosts]
optimized = "busypoll"   # the loop tests/engine compiled already: the cache serves it
"""


@pytest.fixture
def netns():
    """Skip where namespaces cannot be made (the scenario makes its own pair)."""
    from tickpath.wire.netns import NetnsUnavailable, check

    try:
        check()
    except NetnsUnavailable as e:
        pytest.skip(str(e))


def test_both_hosts_trade_the_basis_and_the_report_has_every_phase(netns, tmp_path):
    cfg = tmp_path / "scenario.toml"
    cfg.write_text(SHORT)
    out, md = tmp_path / "scenario.json", tmp_path / "scenario.md"
    proc = subprocess.run(
        [sys.executable, "-m", "tickpath.cli", "scenario", "central-bank", "--config",
         str(cfg), "--json", str(out), "--markdown", str(md), "--samples",
         str(tmp_path / "samples")], capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, proc.stderr[-3000:]
    doc = json.loads(out.read_text())
    assert set(doc["hosts"]) == {"optimized", "traditional"}
    for v in doc["venue"]:  # the announcement moved the basket; its burst carried more
        a, ph = v["announcement"], v["phases"]  # messages than the calm 3x as long
        assert v["windows"]["announced_ns"] and a["basket"] < a["basket_before"]
        assert ph["burst"]["itch_messages"] > 2 * ph["before"]["itch_messages"]
    for name, h in doc["hosts"].items():
        assert h["ended"], name  # each saw the venue's end of session
        assert h["evaluations"] > 0 and 0 <= h["fills"] <= h["orders"]
        assert h["basis_late"]["calm"]["count"] > 0 and h["basis_late"]["burst"]["count"] > 0
        rows = np.load(tmp_path / "samples" / f"{name}.npz")["basis"]
        assert rows.shape[1] == 4 and (rows[:, 1] >= rows[:, 0]).all()  # seen after sent
        assert set(np.unique(rows[:, 3])) == {0, 1}  # both feeds priced the basis
    opt = doc["hosts"]["optimized"]
    assert opt["equity_messages"] > 0 and opt["future_messages"] > 0
    assert "| optimized |" in md.read_text() and "| traditional |" in md.read_text()
