"""`tickpath budget --json OUT` end to end: the whole pipeline against the simulator over a
veth pair between two namespaces, through the CLI, with the best receive transport (auto).
Needs root and iproute2 (skips with the reason otherwise); asserts behaviour, never time."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tickpath.telemetry.stamps import STAGES
from tickpath.wire import netns

MESSAGES = 3000


def _veth_or_skip() -> None:
    try:
        netns.check()
    except netns.NetnsUnavailable as e:
        pytest.skip(f"needs a veth pair between namespaces: {e}")


# One transport: the budget's stages are the pipeline's whatever receives (every transport
# is crossed with the feed in tests/net; each pipeline here is a cold compile).
@pytest.mark.parametrize("transport", ["auto"])
def test_budget_json_over_veth(tmp_path, transport):
    _veth_or_skip()
    out = tmp_path / "budget.json"
    proc = subprocess.run(
        [sys.executable, "-m", "tickpath.cli", "budget", "--json", str(out), "--messages",
         str(MESSAGES), "--rate", "20000", "--transport", transport],
        capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    doc = json.loads(out.read_text())
    # the shape: stages in path order with name/p50_ns/p99_ns, total, transport,
    # messages
    assert [s["name"] for s in doc["stages"]] == [name for name, *_ in STAGES]
    for s in [*doc["stages"], doc["total"]]:
        assert isinstance(s["p50_ns"], int) and isinstance(s["p99_ns"], int)
        assert s["count"] > 0  # every stage has samples
    # the day's messages, and the ITCH of our own orders on the same feed
    assert doc["messages"] >= MESSAGES and doc["path"] == "veth"
    assert doc["transport"] in ("packet", "busypoll")
    # where each stage ran, and any shortage of cores, travel with the figures
    assert set(doc["placement"]) == {"venue", "feed", "strategy"}
    assert isinstance(doc["notes"], list)
