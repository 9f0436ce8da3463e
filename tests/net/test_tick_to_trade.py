"""`tickpath bench tick-to-trade` on real veth pairs: each row trades against the venue, and
the venue's own capture pairs every order it received with the feed packet that triggered
it (the ClOrdID names it), so the wire figure is the venue's measurement."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

pytestmark = pytest.mark.net


def test_tick_to_trade_rows_inside_and_on_the_wire(veth, tmp_path):  # veth: root and `ip`
    out = tmp_path / "t2t.json"
    proc = subprocess.run(
        [sys.executable, "-m", "tickpath.cli", "bench", "tick-to-trade", "--json", str(out),
         "--messages", "6000", "--rate", "10000", "--pcap", str(tmp_path / "venue.pcapng"),
         "--rows", "run_to_completion:busypoll,pipelined:recv"],
        capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    doc = json.loads(out.read_text())
    assert [(r["topology"], r["transport"]) for r in doc["rows"]] == [
        ("run_to_completion", "busypoll"), ("pipelined", "recv")]
    for r in doc["rows"]:
        w = r["wire"]
        assert r["orders"] > 0 and w["orders_seen"] > 0 and w["feed_packets"] > 0
        # every order names its trigger, and every trigger was a packet the venue sent
        # before the order arrived: all paired
        assert "unpaired" not in w, w
        assert w["count"] == w["orders_seen"] <= r["orders"]
        assert 0 < w["p50_us"] <= w["p99_us"] <= w["p999_us"]
        assert r["inside"]["count"] > 0 and r["inside"]["p50_us"] > 0
        cap = tmp_path / f"venue-{r['topology']}-{r['transport']}.pcapng"
        assert cap.stat().st_size > 0  # kept, as asked
