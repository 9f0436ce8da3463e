"""``tickpath bench stacks``: the staleness measure on made-up samples, and a short run of
every stack over a veth pair (root): three phases per row, the same day on both feeds."""

from __future__ import annotations

import json

import numpy as np
import pytest
from typer.testing import CliRunner

from tickpath.apps.stacks_bench import Profile, block_starts, run_stacks_bench, staleness_ns
from tickpath.apps.stacks_report import markdown, plots
from tickpath.cli import app
from tickpath.wire.netns import NetnsUnavailable, check


def test_staleness_is_the_age_of_the_oldest_change_not_yet_in_the_book():
    # sent at 0 and 10 µs, each 20 µs on the way (applied in order: the second at 30 µs)
    sent = np.array([0, 10_000], np.int64)
    lat = np.array([20_000, 20_000], np.int64)
    s = staleness_ns(sent, lat, 0, 40_000)  # every 5 µs from 0 to 35 µs
    assert s.tolist() == [0, 5_000, 10_000, 15_000, 10_000, 15_000, 0, 0]
    # a later datagram never overtakes an earlier one that is slow
    lat = np.array([30_000, 1_000], np.int64)
    s = staleness_ns(sent, lat, 0, 40_000)
    assert s.tolist() == [0, 5_000, 10_000, 15_000, 20_000, 25_000, 0, 0]
    assert staleness_ns(sent, lat, 10, 10).size == 0
    # nothing reached the book: no sample to be stale from (the drops say it)
    empty = np.zeros(0, np.int64)
    assert staleness_ns(empty, empty, 0, 20_000).tolist() == [0, 0, 0, 0]


def test_block_starts():
    blocks = np.frombuffer(b"\x00\x02ab\x00\x00\x00\x01c", np.uint8)
    assert block_starts(blocks).tolist() == [0, 4, 6, 9]


def test_cli_refuses_a_profile_that_is_not_one(tmp_path):
    r = CliRunner().invoke(app, ["bench", "stacks", "--json", str(tmp_path / "x.json"),
                                 "--burst-s", "0"])
    assert r.exit_code == 2 and "--burst-s 0: must be > 0" in r.output
    assert not (tmp_path / "x.json").exists()


def test_every_stack_sees_the_same_day_in_three_phases(tmp_path):
    try:
        check()
    except NetnsUnavailable as e:
        pytest.skip(str(e))
    prof = Profile(rate=2_000, factor=100, calm_s=0.3, burst_s=0.1, after_s=0.3)
    res = run_stacks_bench(prof, transports=("busypoll",), symbols=5, depth=5,
                           samples_dir=tmp_path / "samples", status=lambda m: None)
    rows = res["rows"]
    stacks = {(r["transport"], r["feed"], r["code"]) for r in rows}
    assert stacks == {("socket", "snapshot", "python"), ("recv", "snapshot", "compiled"),
                      ("recv", "incremental", "compiled"),
                      ("busypoll", "incremental", "compiled")}
    for phase in ("calm", "burst", "after"):
        mine = [r for r in rows if r["phase"] == phase]
        assert len(mine) == 4
        # the same day on each feed: the same messages and bytes in every row of a feed
        for feed in ("snapshot", "incremental"):
            same = {(r["messages"], r["bytes"]) for r in mine if r["feed"] == feed}
            assert len(same) == 1
        snap = next(r for r in mine if r["feed"] == "snapshot")
        inc = next(r for r in mine if r["feed"] == "incremental")
        assert snap["bytes"] > inc["bytes"]  # whole books against changes
    burst = [r for r in rows if r["phase"] == "burst"]
    calm = [r for r in rows if r["phase"] == "calm"]
    assert burst[0]["packets"] < burst[0]["messages"]  # a burst packs messages together
    assert calm[0]["packets"] == calm[0]["messages"]
    for s in res["stacks"]:
        if s["code"] == "compiled":  # a light load: every datagram reached the book
            assert s["kernel_drops"] == 0 and s["gap_messages"] == 0
    assert all(r["p50_us"] is not None and r["stale_us"] is not None for r in rows)
    md = markdown(res)
    first, rest = md.split("\n\n", 1)  # the first table: a line per row
    assert first.count("\n| ") == len(rows) and "Rows differ in" in rest
    assert "send -> receive stamp" in rest  # the second table: calm and burst per stack
    assert not res["errors"]
    out = plots(res, tmp_path / "png")
    assert all(p.stat().st_size > 0 for p in out)
    json.dumps(res)  # the JSON the CLI writes


def test_an_unknown_transport_is_refused_before_anything_runs(tmp_path):
    r = CliRunner().invoke(app, ["bench", "stacks", "--json", str(tmp_path / "x.json"),
                                 "--transports", "xpd"])
    assert r.exit_code == 2 and "unknown transport 'xpd'" in r.output
