"""The central-bank scenario's settings and its arithmetic: defaults, a TOML changing some,
refusals naming the key, the strategy's units from the venue's terms, lateness by phase."""

from __future__ import annotations

import numpy as np
import pytest

from tickpath.apps.scenario.config import ScenarioConfig, from_dict, load
from tickpath.apps.scenario.run import lateness_by_phase, strategy_params

TERMS = {"symbols": ["AAA", "BBB"], "weights": [1e-6, 2e-6],
         "futures": [{"symbol": "TPZ6", "security_id": 42001, "open_price": 450_000,
                      "tick": 25, "display_factor": 0.01, "multiplier": 50.0}]}


def test_defaults_and_a_file_changing_some(tmp_path):
    assert load(None) == ScenarioConfig()
    f = tmp_path / "s.toml"
    f.write_text("[pace]\ncalm_s = 1\nfactor = 10\n[hosts]\noptimized = 'busypoll'\n")
    cfg = load(f)
    assert cfg.pace.calm_s == 1.0 and cfg.pace.factor == 10.0
    assert cfg.hosts.optimized == "busypoll" and cfg.market == ScenarioConfig().market


@pytest.mark.parametrize("data, needle", [
    ({"pace": {"rate": 0}}, "pace.rate"),
    ({"pace": {"nope": 1}}, "unknown key pace.nope"),
    ({"colour": {}}, "unknown section"),
    ({"strategy": {"exit_ticks": 3, "threshold_ticks": 3}}, "exit_ticks"),
    ({"hosts": {"optimized": "carrier-pigeon"}}, "hosts.optimized"),
    ({"market": {"symbols": "many"}}, "market.symbols"),
    ({"market": {"basket": 50, "symbols": 40}}, "market.basket"),
])
def test_bad_settings_are_refused_by_name(data, needle):
    with pytest.raises(ValueError, match=needle):
        from_dict(data)


def test_a_file_that_is_not_toml_is_refused_with_its_name(tmp_path):
    f = tmp_path / "bad.toml"
    f.write_text("[pace\n")
    with pytest.raises(ValueError, match="bad.toml: not valid TOML"):
        load(f)


def test_strategy_units_follow_the_futures_order_entry():
    sp = strategy_params(TERMS, ScenarioConfig())
    # 4500.00 index points = 45,000,000 in 1e-4 units; one tick (0.25 points) = 2,500
    assert sp["scale"] == pytest.approx(45_000_000) and sp["tick"] == 2500
    assert sp["threshold"] == 3 * 2500 and sp["exit"] == 2500
    assert sp["ouch_px"] == 10_000_000  # PRICE9 mantissa per order-entry unit
    assert sp["future"] == "TPZ6" and sp["basket"] == ["AAA", "BBB"]


def test_lateness_is_split_by_the_phase_the_datagram_was_sent_in():
    w = {"start_ns": 0, "announced_ns": 1_000_000, "burst_end_ns": 2_000_000,
         "end_ns": 3_000_000}
    sent = np.array([10, 500_000, 1_000_000, 1_500_000, 2_500_000, 0])
    rows = np.stack([sent, sent + np.array([5_000, 7_000, 20_000, 40_000, 9_000, 1]),
                     np.zeros(6, np.int64), np.zeros(6, np.int64)], axis=1)
    out = lateness_by_phase(rows, w, settle_ns=0)
    assert out["calm"]["count"] == 2 and out["burst"]["count"] == 2
    assert out["after"]["count"] == 1  # a row with no send stamp is left out
    assert out["burst"]["max_us"] == pytest.approx(40.0, rel=0.01)
    # calm counts from a while after the opening books: the first row is the opening's
    assert lateness_by_phase(rows, w, settle_ns=100)["calm"]["count"] == 1
