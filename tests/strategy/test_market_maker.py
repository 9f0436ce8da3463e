"""The market maker: quotes around the micro-price, skews against its inventory, requotes
when the wanted price moves by the threshold (and not before), pulls every quote when the
feed goes stale or the kill switch trips. Driven through the records and the context as a
stage drives it, with a tiny venue: each intent done at once (tickpath.strategy.simfill)."""

from __future__ import annotations

import numpy as np
from strategy_cases import book_record, status_record

from tickpath.gateway.orders import OK, on_executed
from tickpath.strategy.context import new_context
from tickpath.strategy.dispatch import deliver_updates, handle_record, tick_timer
from tickpath.strategy.layout import Action, CtxWord
from tickpath.strategy.loader import load_strategy
from tickpath.strategy.simfill import venue_intents

B, S = ord("B"), ord("S")


def _maker(**params):
    params.setdefault("min_requote_us", 0)  # the tests' clock stands still
    _, state = load_strategy("market_maker", {"edge": 100, "size": 100, **params})
    return state


def _book(state, ctx, bid, bid_sh, ask, ask_sh, loc=1, symbol="ABCD"):
    """One book record; returns the intents it produced (then lets the venue do them)."""
    handle_record(state, ctx, book_record(loc, bid, bid_sh, ask, ask_sh, symbol), 0, 1_000)
    return _venue(state, ctx)


def _venue(state, ctx):
    n = int(ctx.words[CtxWord.INTENTS])
    got = ctx.intents[:n].copy()
    venue_intents(ctx, 1_000, np.zeros(6, np.int64))
    deliver_updates(state, ctx)
    return got


def _quotes(ctx, loc=1):
    """Our working quotes of ``loc``: {side: (price, qty)}."""
    out = {}
    slot = int(ctx.positions[loc]["open_head"])
    while slot >= 0:
        o = ctx.orders[slot]
        out[chr(o["side"])] = (int(o["price"]), int(o["leaves"]))
        slot = int(o["next_open"])
    return out


def test_quotes_around_the_micro_price():
    s, ctx = _maker(), new_context(ours_in_book=False)
    # equal sizes: the mid
    got = _book(s, ctx, 100_000, 500, 100_400, 500)
    assert sorted(zip(got["side"], got["price"], strict=True)) == [(B, 100_100), (S, 100_300)]
    # a thin offer pulls the micro-price up toward it: both quotes move up
    s2, ctx2 = _maker(), new_context(ours_in_book=False)
    _book(s2, ctx2, 100_000, 900, 100_400, 100)  # micro = 100_360
    assert _quotes(ctx2) == {"B": (100_200, 100), "S": (100_400 + 100, 100)}


def test_never_quotes_through_the_other_side_and_only_its_symbols():
    s, ctx = _maker(edge=0, symbols=["ABCD"]), new_context(ours_in_book=False)
    _book(s, ctx, 100_000, 100, 100_100, 100)  # mid 100_050: round down/up, then clip
    assert _quotes(ctx) == {"B": (100_000, 100), "S": (100_100, 100)}
    assert len(_book(s, ctx, 50_000, 100, 50_100, 100, loc=2, symbol="WXYZ")) == 0


def test_skews_against_inventory():
    s, ctx = _maker(skew=2, max_position=1000), new_context(ours_in_book=False)
    _book(s, ctx, 100_000, 500, 100_400, 500)
    assert _quotes(ctx) == {"B": (100_100, 100), "S": (100_300, 100)}
    bid = int(ctx.positions[1]["open_head"])
    while chr(ctx.orders[bid]["side"]) != "B":
        bid = int(ctx.orders[bid]["next_open"])
    # the venue's Order Executed, as a live session applies it: long 100
    assert on_executed(ctx.orders, ctx.positions, ctx.totals, ctx.orders[bid]["user_ref"], 100,
                       100_100, 1_000) == OK
    assert ctx.positions[1]["position"] == 100
    _book(s, ctx, 100_000, 500, 100_400, 500)  # the same book
    # long: fair lower by 2 x 100 = 200, so both quotes sit lower (sell sooner, buy later)
    assert _quotes(ctx) == {"B": (99_900, 100), "S": (100_100, 100)}


def test_requotes_when_the_price_moves_by_the_threshold_and_not_before():
    s, ctx = _maker(requote_ticks=2), new_context(ours_in_book=False)
    _book(s, ctx, 100_000, 500, 100_400, 500)
    first = _quotes(ctx)
    assert len(_book(s, ctx, 100_100, 500, 100_500, 500)) == 0  # one tick: stay in the queue
    assert _quotes(ctx) == first
    got = _book(s, ctx, 100_200, 500, 100_600, 500)  # two ticks from the quotes: replace both
    assert list(got["action"]) == [Action.REPLACE] * 2
    assert _quotes(ctx) == {"B": (100_300, 100), "S": (100_500, 100)}
    assert ctx.totals[4] == 2  # orders: the two placed (a replace is no new order)


def test_max_position_stops_the_side_that_would_pass_it():
    s, ctx = _maker(max_position=100), new_context(ours_in_book=False)
    _book(s, ctx, 100_000, 500, 100_400, 500)
    slot = int(ctx.positions[1]["open_head"])
    while chr(ctx.orders[slot]["side"]) != "S":
        slot = int(ctx.orders[slot]["next_open"])
    assert on_executed(ctx.orders, ctx.positions, ctx.totals, ctx.orders[slot]["user_ref"], 100,
                       100_300, 1_000) == OK  # short 100
    got = _book(s, ctx, 100_000, 500, 100_400, 500)
    assert "S" not in _quotes(ctx) and "B" in _quotes(ctx)
    assert Action.PLACE not in list(got["action"]) or S not in list(got["side"])


def test_pulls_every_quote_when_the_feed_goes_stale():
    s, ctx = _maker(), new_context(ours_in_book=False, stale_after_ns=5_000, timer_ns=1_000)
    _book(s, ctx, 100_000, 500, 100_400, 500)
    _book(s, ctx, 50_000, 500, 50_400, 500, loc=2)
    assert len(_quotes(ctx, 1)) == len(_quotes(ctx, 2)) == 2
    assert tick_timer(s, ctx, 2_000) and len(_venue(s, ctx)) == 0  # fresh: nothing
    tick_timer(s, ctx, 7_000)  # 6 us after the last record: stale
    got = _venue(s, ctx)
    assert sorted(got["instrument"]) == [1, 2] and set(got["action"]) == {Action.CANCEL_ALL}
    assert _quotes(ctx, 1) == _quotes(ctx, 2) == {}
    assert ctx.totals[7] == 4  # cancels
    # a new record makes the feed fresh again: quotes come back
    _book(s, ctx, 100_000, 500, 100_400, 500)
    assert len(_quotes(ctx, 1)) == 2


def test_pulls_quotes_while_a_book_is_not_known_exact_and_quotes_again_when_it_is():
    """A STATUS record saying every book may be wrong (a feed-wide gap) pulls every quote at
    once, and book changes place nothing until the one saying the books are exact again;
    an instrument's own status pulls only that instrument."""
    s, ctx = _maker(), new_context(ours_in_book=False)
    _book(s, ctx, 100_000, 500, 100_400, 500)
    _book(s, ctx, 50_000, 500, 50_400, 500, loc=2)
    handle_record(s, ctx, status_record(-1, False), 0, 2_000)
    got = _venue(s, ctx)
    assert sorted(got["instrument"]) == [1, 2] and set(got["action"]) == {Action.CANCEL_ALL}
    assert _quotes(ctx, 1) == _quotes(ctx, 2) == {}
    assert len(_book(s, ctx, 100_100, 500, 100_500, 500)) == 0  # nothing on a gapped book
    handle_record(s, ctx, status_record(-1, True), 0, 3_000)
    _venue(s, ctx)
    assert len(_quotes(ctx, 1)) == len(_quotes(ctx, 2)) == 2  # exact again: quoted at once
    handle_record(s, ctx, status_record(2, False), 0, 4_000)
    got = _venue(s, ctx)
    assert list(got["instrument"]) == [2] and _quotes(ctx, 2) == {}
    assert len(_quotes(ctx, 1)) == 2
    assert len(_book(s, ctx, 50_100, 500, 50_500, 500, loc=2)) == 0
    handle_record(s, ctx, status_record(2, True), 0, 5_000)
    _venue(s, ctx)
    assert len(_quotes(ctx, 2)) == 2


def test_pulls_and_places_nothing_once_the_kill_switch_trips():
    control = np.zeros(4, np.int64)
    s, ctx = _maker(), new_context(ours_in_book=False, control=control, timer_ns=1_000)
    _book(s, ctx, 100_000, 500, 100_400, 500)
    control[1] = 1
    tick_timer(s, ctx, 5_000)
    got = _venue(s, ctx)
    assert list(got["action"]) == [Action.CANCEL_ALL] and _quotes(ctx) == {}
    assert len(_book(s, ctx, 100_100, 500, 100_500, 500)) == 0  # nothing placed


def test_prices_off_the_market_without_its_own_quotes():
    """Live, the feed's books hold our own quotes: the maker takes them out of the top it
    prices from, so a quote that became the best bid does not pull the micro-price (and the
    next requote) toward itself; a side only we are on holds the quotes as they are."""
    s, ctx = _maker(), new_context(ours_in_book=True)
    _book(s, ctx, 100_000, 500, 100_400, 500)
    assert _quotes(ctx) == {"B": (100_100, 100), "S": (100_300, 100)}
    # our bid joins the book at 100_100 as the best bid, our offer at 100_300 as the best
    # offer: without them the market is what it was, so nothing moves
    assert len(_book(s, ctx, 100_100, 100, 100_300, 100)) == 0
    assert _quotes(ctx) == {"B": (100_100, 100), "S": (100_300, 100)}
    # others join both: the market is 100_100 x 400 (ours taken out) and 100_300 x 200, its
    # micro-price 100_233: the bid stays at 100_100, the offer goes to 100_400
    _book(s, ctx, 100_100, 500, 100_300, 300)
    assert _quotes(ctx) == {"B": (100_100, 100), "S": (100_400, 100)}


def test_requotes_an_instrument_at_most_once_per_interval():
    s, ctx = _maker(min_requote_us=1000), new_context(ours_in_book=False)
    handle_record(s, ctx, book_record(1, 100_000, 500, 100_400, 500, "ABCD"), 0, 1_000_000)
    _venue(s, ctx)
    assert _quotes(ctx) == {"B": (100_100, 100), "S": (100_300, 100)}
    # the market moves 0.5 ms later: throttled, the quotes stay
    handle_record(s, ctx, book_record(1, 101_000, 500, 101_400, 500, "ABCD"), 0, 1_500_000)
    assert len(_venue(s, ctx)) == 0 and _quotes(ctx)["B"] == (100_100, 100)
    # a change after the interval requotes
    handle_record(s, ctx, book_record(1, 101_000, 500, 101_400, 500, "ABCD"), 0, 2_100_000)
    _venue(s, ctx)
    assert _quotes(ctx) == {"B": (101_100, 100), "S": (101_300, 100)}
