"""`tickpath bench ring`: runs with tiny counts and writes the issue's JSON shape.

Only shape and sanity are checked (counts, positive figures): never speed."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from tickpath.ring.bench import RingBenchConfig

TINY = ["--records", "400", "--rounds", "2", "--throughput-records", "4000",
        "--throughput-rounds", "2", "--baseline-records", "40", "--baseline-rate", "2000",
        "--baseline-throughput-records", "400"]

needs_two_cores = pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2,
                                     reason="the benchmark pins its two ends to two cores")


@needs_two_cores
def test_bench_ring_json(tmp_path):
    out = tmp_path / "sub" / "ring.json"
    r = subprocess.run([sys.executable, "-m", "tickpath.cli", "bench", "ring", *TINY,
                        "--json", str(out)], capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    assert "multiprocessing.Queue" in r.stdout and "os.pipe" in r.stdout
    res = json.loads(out.read_text())
    assert {"ring", "mp_queue", "pipe"} <= set(res)
    assert set(res) == {"ring", "ring_cursor", "mp_queue", "pipe", "meta"}
    for key in ("ring", "ring_cursor", "mp_queue", "pipe"):
        fig = res[key]
        for k in ("p50_ns", "p99_ns", "msgs_per_s"):
            assert isinstance(fig[k], int | float) and fig[k] > 0, (key, k)
        assert fig["p50_ns"] <= fig["p99_ns"] <= fig["max_ns"]
        for b in ("mp_queue", "pipe"):
            assert fig[f"ratio_p50_vs_{b}"] > 0 and fig[f"ratio_msgs_per_s_vs_{b}"] > 0
    # round 0 of each mode is a discarded warm-up: 2 rounds of 200 are kept
    assert res["ring"]["count"] == 400 and res["ring"]["wait_on"] == "slot"
    assert res["ring_cursor"]["wait_on"] == "cursor"
    assert res["ring"]["throughput_records"] == 4000
    assert len(res["ring"]["block_p50_ns"]) == 2
    # the baselines drop their first tenth (start-up)
    assert res["mp_queue"]["count"] == res["pipe"]["count"] == 36
    assert res["pipe"]["throughput_records"] == 400
    assert res["pipe"]["ratio_p50_vs_pipe"] == 1
    assert res["meta"]["config"]["records"] == 400


@needs_two_cores
def test_bench_script_prints_the_same_figures(tmp_path):
    out = tmp_path / "ring.json"
    r = subprocess.run([sys.executable, "bench/ring_1p1c.py", *TINY, "--modes", "cursor",
                        "--json", str(out)], capture_output=True, text=True, timeout=600,
                       cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
    assert r.returncode == 0, r.stderr
    assert "ring (cursor)" in r.stdout and "p50 vs mpQ" in r.stdout
    res = json.loads(out.read_text())
    assert res["ring"]["wait_on"] == "cursor" and "ring_slot" not in res


@pytest.mark.parametrize("bad, word", [
    (dict(records=1, rounds=2), "records"),
    (dict(modes=("spin",)), "modes"),
    (dict(rate=0), "rates"),
    (dict(cores=[0]), "cores"),
])
def test_config_refuses_what_cannot_run(bad, word):
    with pytest.raises(ValueError, match=word):
        RingBenchConfig(**bad).check()


def test_cli_refuses_bad_settings():
    r = subprocess.run([sys.executable, "-m", "tickpath.cli", "bench", "ring", "--records",
                        "1", "--rounds", "5"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "records must be at least rounds" in r.stderr
