"""The index-arbitrage strategy on records as the ITCH and MDP 3.0 feeds write them."""

from __future__ import annotations

import numpy as np
import pytest
from strategy_cases import book_record, status_record

from tickpath.strategy import index_arb
from tickpath.strategy.context import new_context
from tickpath.strategy.dispatch import deliver_updates, handle_record
from tickpath.strategy.layout import CtxWord
from tickpath.strategy.loader import StrategyError, load_strategy
from tickpath.strategy.simfill import venue_intents

B, S = ord("B"), ord("S")
FUT = 40_000  # the future's locate, as the MDP3 feed's base puts it
# two stocks of equal weight: fair = 4500.00 x (mid_a / 1000000 + mid_b / 2000000) / 2
PARAMS = {"future": "TPZ6", "basket": ["AAA", "BBB"], "weights": [0.5 / 100_0000,
                                                                  0.5 / 200_0000],
          "scale": 4500_0000.0, "threshold": 2500, "exit": 500, "size": 1, "max_position": 2}


def _arb(**params):
    _, state = load_strategy("index_arb", {**PARAMS, **params})
    return state


def _rec(state, ctx, rec, sent=100, now=1_000):
    rec = rec.copy()
    rec[7] = sent  # the venue's send stamp (records' STAMP0)
    handle_record(state, ctx, rec, 0, now)
    n = int(ctx.words[CtxWord.INTENTS])
    got = ctx.intents[:n].copy()
    venue_intents(ctx, now, np.zeros(6, np.int64))
    deliver_updates(state, ctx)
    return got


def _market(state, ctx, fut_bid, fut_ask, a_mid=100_0000, b_mid=200_0000):
    _rec(state, ctx, book_record(1, a_mid - 100, 500, a_mid + 100, 500, "AAA"))
    _rec(state, ctx, book_record(2, b_mid - 100, 500, b_mid + 100, 500, "BBB"))
    return _rec(state, ctx, book_record(FUT, fut_bid, 10, fut_ask, 10, "TPZ6"))


def _position(ctx):
    return int(ctx.positions[FUT]["position"])


def test_fair_value_from_the_basket_and_no_order_inside_the_threshold():
    s, ctx = _arb(), new_context(ours_in_book=False)
    got = _market(s, ctx, 4500_0000 - 2500, 4500_0000 + 2500)
    assert index_arb.report(s)["fair"] == pytest.approx(4500_0000.0)
    assert index_arb.report(s)["basis"] == pytest.approx(0.0)
    assert len(got) == 0 and index_arb.report(s)["opportunities"] == 0


def test_sells_a_rich_future_at_its_bid_and_buys_a_cheap_one_at_its_offer():
    s, ctx = _arb(max_position=1), new_context(ours_in_book=False)
    got = _market(s, ctx, 4500_5000, 4500_7500)  # bid 5000 over fair: rich
    assert len(got) == 1 and got[0]["side"] == S and got[0]["price"] == 4500_5000
    assert got[0]["tif"] == ord("3") and got[0]["instrument"] == FUT
    assert _position(ctx) == -1  # this test's venue fills a marketable order at once
    assert index_arb.report(s)["opportunities"] == 1
    s, ctx = _arb(max_position=1), new_context(ours_in_book=False)
    got = _market(s, ctx, 4499_2500, 4499_5000)  # offer 5000 under fair: cheap
    assert len(got) == 1 and got[0]["side"] == B and got[0]["price"] == 4499_5000
    assert _position(ctx) == 1


def test_the_basket_moving_makes_the_opportunity_and_convergence_flattens():
    s, ctx = _arb(max_position=1), new_context(ours_in_book=False)
    assert len(_market(s, ctx, 4499_7500, 4500_2500)) == 0
    # the basket drops 0.2 %: fair 4491.00, the future's stale bid is 8.75 rich
    got = _rec(s, ctx, book_record(1, 99_8000 - 100, 500, 99_8000 + 100, 500, "AAA"))
    assert len(got) == 1 and got[0]["side"] == S and _position(ctx) == -1  # 4.25 rich
    got = _rec(s, ctx, book_record(2, 199_6000 - 100, 500, 199_6000 + 100, 500, "BBB"))
    assert index_arb.fair_value(s) == pytest.approx(4491_0000.0)
    assert len(got) == 0 and _position(ctx) == -1  # still rich, at the limit
    assert index_arb.exposure(s, -1) == pytest.approx(-4491_0000.0)
    # the future reprices to fair: within exit, so the short is bought back at the offer
    got = _rec(s, ctx, book_record(FUT, 4490_7500, 10, 4491_2500, 10, "TPZ6"))
    assert len(got) == 1 and got[0]["side"] == B and got[0]["qty"] == 1
    assert got[0]["price"] == 4491_2500 and _position(ctx) == 0


def test_the_position_stays_within_max_position():
    s, ctx = _arb(max_position=2), new_context(ours_in_book=False)
    _market(s, ctx, 4500_5000, 4500_7500)  # the fill's answer looks again: a second sale
    venue_intents(ctx, 1_000, np.zeros(6, np.int64))
    deliver_updates(s, ctx)
    assert _position(ctx) == -2
    got = _rec(s, ctx, book_record(FUT, 4500_5000, 10, 4500_7500, 10, "TPZ6"))
    assert len(got) == 0 and _position(ctx) == -2  # at the limit, still rich: nothing more


def test_nothing_while_a_book_is_not_exact_or_the_kill_switch_is_thrown():
    s, ctx = _arb(), new_context(ours_in_book=False)
    _market(s, ctx, 4500_0000 - 2500, 4500_0000 + 2500)
    _rec(s, ctx, status_record(1, False))
    assert len(_rec(s, ctx, book_record(FUT, 4500_5000, 10, 4500_7500, 10, "TPZ6"))) == 0
    assert index_arb.report(s)["opportunities"] == 1  # seen, not traded
    got = _rec(s, ctx, status_record(1, True))
    assert len(got) == 1 and got[0]["side"] == S  # exact again: the opportunity is taken
    s, ctx = _arb(), new_context(ours_in_book=False)
    ctx.control[int(ctx.words[CtxWord.KILL_INDEX])] = 1
    assert len(_market(s, ctx, 4500_5000, 4500_7500)) == 0


def test_lateness_samples_for_each_record_that_prices_the_basis():
    s, ctx = _arb(max_position=0), new_context(ours_in_book=False)
    _market(s, ctx, 4500_5000, 4500_7500)
    _rec(s, ctx, book_record(FUT, 4500_5000, 9, 4500_7500, 10, "TPZ6"), sent=900, now=1_250)
    rows = index_arb.lateness(s)
    assert rows.shape == (2, 4)  # the two future records (no fair value before them)
    assert tuple(rows[-1, :2]) == (900, 1_250) and rows[-1, 3] == 1  # the future's feed
    assert rows[-1, 2] == 6250 * 1000  # basis x 1000: mid 4500.6250 over fair 4500.0000
    assert index_arb.report(s)["orders"] == 0


def test_bad_params_are_refused_by_name():
    with pytest.raises(StrategyError, match="weights"):
        _arb(weights=[1.0])
    with pytest.raises(StrategyError, match="exit"):
        _arb(exit=2500)
    with pytest.raises(StrategyError, match="required"):
        load_strategy("index_arb", {"future": "TPZ6"})
    with pytest.raises(StrategyError, match="nope"):
        _arb(nope=1)
