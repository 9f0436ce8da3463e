"""check_new_order: every check at its boundary (just inside passes, just outside is refused
with its reason), the order of the checks, no state left by a refusal, duplicate orders and
self-trade prevention over the instrument's open-order list, the loss limit throwing the
kill switch with its reason."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tickpath.engine.counters import Control
from tickpath.gateway.layout import OrderState, Total
from tickpath.risk import KillReason, Reject, kill, kill_reason
from tickpath.risk.new_order import check_new_order

from .gateway_tables import NOW, B, Ours, S

BID, ASK = 1_000_000, 1_000_200  # $100.00 / $100.02, mid $100.01
MID = (BID + ASK) // 2


def chk(o: Ours, side=B, qty=100, price=BID, inst=1, bid=BID, ask=ASK, now=NOW,
        exact=1) -> int:
    return int(check_new_order(inst, side, qty, price, bid, ask, exact, now, o.limits,
                               o.orders, o.positions, o.totals, o.rate, o.control, o.counts))


def refused_without_trace(o: Ours, why: Reject, **order) -> None:
    before = o.snapshot()
    assert chk(o, **order) == why
    after = o.snapshot()
    assert all(np.array_equal(a, b) for a, b in zip(before, after, strict=True)), "a refusal left state"


def test_a_plain_order_passes_and_is_counted_in_the_rate_window():
    o = Ours()
    assert chk(o) == 0
    assert o.counts[Reject.CHECKED] == o.counts[Reject.PASSED] == 1
    assert o.rate[1] == 1 and o.rate[0] == NOW


def test_kill_switch_refuses_whatever_the_reason():
    o = Ours()
    for reason in (KillReason.MANUAL, KillReason.SIGNAL, KillReason.REJECT_STORM):
        o.control[Control.KILL] = reason
        refused_without_trace(o, Reject.KILLED)
    o.control[Control.KILL] = 0
    assert chk(o) == 0


def test_order_size_boundary():
    o = Ours(max_order_size=500)
    assert chk(o, qty=500) == 0
    refused_without_trace(o, Reject.ORDER_SIZE, qty=501)
    refused_without_trace(o, Reject.ORDER_SIZE, qty=0)
    refused_without_trace(o, Reject.ORDER_SIZE, qty=-1)


def test_unknown_instrument_and_no_book():
    o = Ours()
    refused_without_trace(o, Reject.UNKNOWN_INSTRUMENT, inst=16)
    refused_without_trace(o, Reject.UNKNOWN_INSTRUMENT, inst=-1)
    refused_without_trace(o, Reject.NO_BOOK, bid=0, ask=0)
    refused_without_trace(o, Reject.STALE_BOOK, exact=0)  # the feed has a gap open
    assert chk(o, bid=BID, ask=0) == 0  # one side is a reference
    assert chk(o, side=S, price=ASK, bid=0, ask=ASK) == 0


def test_collar_boundary():
    o = Ours(collar_bps=100)  # 1% of the mid, $100.01: $1.0001
    edge = MID * 100 // 10_000
    assert chk(o, price=MID - edge) == 0
    refused_without_trace(o, Reject.COLLAR, price=MID - edge - 1)
    assert chk(o, side=S, price=MID + edge) == 0
    refused_without_trace(o, Reject.COLLAR, side=S, price=MID + edge + 1)


def test_position_counts_fills_and_every_open_order_on_the_same_side():
    o = Ours(max_position=1000)
    o.fill(1, 300, BID)  # long 300
    o.open(1, B, 400, BID - 100)  # worst case 700 before this order
    o.open(1, S, 900, ASK + 100)  # the other side never makes a buy worse
    assert chk(o, qty=300) == 0  # 300 + 400 + 300 = 1000: at the limit
    refused_without_trace(o, Reject.POSITION, qty=301)
    # a sell: -(open sells) - qty from +300: 300 - 900 - 400 = -1000 in, -1001 out
    assert chk(o, side=S, qty=400, price=ASK) == 0
    refused_without_trace(o, Reject.POSITION, side=S, qty=401, price=ASK)


def test_open_exposure_per_instrument_then_in_total():
    # $10,000 of open orders per instrument, $25,000 in all
    o = Ours(max_open_notional=10_000.0, max_total_open_notional=25_000.0)
    o.open(1, B, 50, BID)  # $5,000 open on instrument 1
    assert chk(o, qty=50, price=BID) == 0  # $5,000 more: exactly $10,000
    refused_without_trace(o, Reject.OPEN_EXPOSURE, qty=51, price=BID)
    o.open(2, S, 100, BID)  # $10,000 on 2: $15,000 in all
    o.open(3, S, 50, BID)  # $5,000 on 3: $20,000 in all
    assert chk(o, inst=4, qty=50, price=BID) == 0  # $25,000: at the total
    refused_without_trace(o, Reject.TOTAL_OPEN_EXPOSURE, inst=4, qty=51, price=BID)


def test_notional_of_the_worst_case_position():
    o = Ours(max_notional=20_000.0)  # 200 shares at $100
    o.fill(1, 100, BID)
    assert chk(o, qty=100, price=BID) == 0
    refused_without_trace(o, Reject.NOTIONAL, qty=101, price=BID)


def test_rate_boundary_and_a_new_window():
    o = Ours(max_orders_per_s=3)
    assert [chk(o, now=NOW + k) for k in range(3)] == [0, 0, 0]
    refused_without_trace(o, Reject.RATE, now=NOW + 999_999_999)
    assert chk(o, now=NOW + 1_000_000_000) == 0  # a new window


def test_rate_zero_refuses_without_moving_the_window():
    o = Ours(max_orders_per_s=0)
    refused_without_trace(o, Reject.RATE)


def test_loss_limit_refuses_and_throws_the_switch_with_its_reason():
    o = Ours(max_loss=1000.0)  # P&L may go down to -$1,000.0000
    o.totals[Total.CASH] = -20_000_000
    o.totals[Total.MARKED] = 10_000_000  # P&L -$1,000: not below the limit
    assert chk(o) == 0 and kill_reason(o.control) is None
    o.totals[Total.MARKED] -= 1  # -$1,000.0001
    assert chk(o) == Reject.LOSS_LIMIT
    assert kill_reason(o.control) == KillReason.LOSS_LIMIT
    assert o.control[Control.KILL_NS] == NOW
    assert chk(o) == Reject.KILLED  # from now on, whatever P&L does
    assert o.counts[Reject.LOSS_LIMIT] == 1 and o.counts[Reject.KILLED] == 1


def test_a_switch_already_thrown_keeps_its_first_reason():
    o = Ours(max_loss=0.0)
    kill(o.control, reason=KillReason.SIGNAL, note="ops")
    o.totals[Total.CASH] = -1
    assert chk(o) == Reject.KILLED and kill_reason(o.control) == KillReason.SIGNAL


def test_duplicate_of_a_pending_new_order_at_any_age():
    o = Ours(duplicate_window_us=1000)
    o.open(1, B, 100, BID, OrderState.PENDING_NEW, sent_ns=NOW - 10**12)
    refused_without_trace(o, Reject.DUPLICATE, qty=100, price=BID)
    # not identical: another price, quantity, side or instrument
    assert chk(o, qty=101) == 0
    assert chk(o, price=BID - 100) == 0
    assert chk(o, inst=2) == 0
    assert chk(o, side=S, price=ASK) == 0


@pytest.mark.parametrize("state", [OrderState.ACCEPTED, OrderState.PARTIAL,
                                   OrderState.CANCEL_PENDING])
def test_duplicate_of_an_accepted_order_only_within_the_window(state):
    o = Ours(duplicate_window_us=1000)  # 1 ms
    o.open(1, B, 100, BID, state, sent_ns=NOW - 999_999)
    refused_without_trace(o, Reject.DUPLICATE)
    o2 = Ours(duplicate_window_us=1000)
    o2.open(1, B, 100, BID, state, sent_ns=NOW - 1_000_000)
    assert chk(o2) == 0


def test_self_trade_a_buy_at_or_above_our_own_sell():
    o = Ours()
    o.open(1, S, 100, BID + 100)
    o.open(1, B, 100, BID - 500)  # our own buys do not matter to a buy
    o.open(1, S, 100, ASK)
    assert chk(o, price=BID + 99) == 0  # below every sell of ours
    refused_without_trace(o, Reject.SELF_TRADE, price=BID + 100)  # at the lowest sell
    refused_without_trace(o, Reject.SELF_TRADE, price=ASK)
    assert chk(o, inst=2, price=ASK) == 0  # another instrument's sells do not count


def test_self_trade_a_sell_at_or_below_our_own_buy():
    o = Ours()
    o.open(1, B, 100, ASK - 100)
    assert chk(o, side=S, price=ASK - 99) == 0
    refused_without_trace(o, Reject.SELF_TRADE, side=S, price=ASK - 100)


def test_self_trade_counts_a_pending_replace_s_new_price():
    o = Ours()
    o.open(1, S, 100, ASK + 500, OrderState.REPLACE_PENDING, pending_price=BID)
    refused_without_trace(o, Reject.SELF_TRADE, price=BID)
    assert chk(o, price=BID - 1) == 0


def test_closed_orders_left_in_a_list_do_not_count():
    o = Ours()
    slot = o.open(1, S, 100, BID)
    o.orders[slot]["state"] = OrderState.FILLED  # done, though still linked
    assert chk(o, price=BID) == 0


def test_a_damaged_list_does_not_hold_the_check():
    o = Ours()
    a = o.open(1, S, 100, ASK + 100)
    b = o.open(1, S, 100, ASK + 200)
    o.orders[a]["next_open"] = b  # a cycle: b -> a -> b
    assert chk(o, price=BID) == 0  # walked a bounded number of steps
    o.positions[1]["open_head"] = 10_000  # outside the table
    assert chk(o, price=BID, now=NOW + 1) == 0


def test_the_order_of_the_checks():
    """Each order breaks every limit from some point on; the reason is the earliest."""
    o = Ours(max_order_size=100, collar_bps=10, max_position=150, max_open_notional=20_000.0,
             max_total_open_notional=30_000.0, max_notional=15_000.0, max_orders_per_s=0,
             max_loss=1.0)
    o.open(1, S, 100, BID)  # self-trade for a buy at BID; open notional $10,000
    o.open(1, B, 100, BID, OrderState.PENDING_NEW)  # duplicate of (B, 100, BID)
    o.open(2, B, 100, BID)  # total open $30,000
    o.totals[Total.CASH] = -10_001  # P&L below -$1
    ctl = o.control
    steps = [
        (Reject.KILLED, lambda: ctl.__setitem__(Control.KILL, 0)),
        (Reject.LOSS_LIMIT, lambda: (ctl.__setitem__(Control.KILL, 0),
                                     o.totals.__setitem__(Total.CASH, 0))),
    ]
    ctl[Control.KILL] = KillReason.MANUAL
    for want, fix in steps:
        assert chk(o, qty=200, price=BID // 2) == want
        fix()
    assert chk(o, qty=200, price=BID // 2) == Reject.ORDER_SIZE
    assert chk(o, qty=100, price=BID // 2, inst=20) == Reject.UNKNOWN_INSTRUMENT
    assert chk(o, qty=100, price=BID // 2, bid=0, ask=0) == Reject.NO_BOOK
    assert chk(o, qty=100, price=BID // 2) == Reject.COLLAR
    assert chk(o, qty=100, price=BID) == Reject.POSITION  # 100 open + 100 > 150
    o.limits[1] = 1000
    assert chk(o, qty=100, price=BID) == Reject.OPEN_EXPOSURE  # $20,000 + $10,000
    o.limits[6] = 10**12
    assert chk(o, qty=100, price=BID) == Reject.TOTAL_OPEN_EXPOSURE  # $30,000 + $10,000
    o.limits[7] = 10**12
    assert chk(o, qty=100, price=BID) == Reject.NOTIONAL  # 200 x $100 > $15,000
    o.limits[2] = 10**12
    assert chk(o, qty=100, price=BID) == Reject.DUPLICATE  # before self-trade
    assert chk(o, qty=99, price=BID) == Reject.SELF_TRADE
    assert chk(o, qty=99, price=BID - 100) == Reject.RATE
    assert o.counts[Reject.CHECKED] == 13 and o.counts[Reject.PASSED] == 0


@settings(max_examples=200, deadline=None)
@given(side=st.sampled_from([B, S]), qty=st.integers(-5, 1500),
       price=st.integers(900_000, 1_100_000), fill=st.integers(-800, 800),
       open_same=st.integers(0, 800), now=st.integers(0, 3 * 10**9))
def test_a_refusal_never_leaves_state_and_a_pass_only_counts(side, qty, price, fill,
                                                               open_same, now):
    o = Ours(max_orders_per_s=2, max_open_notional=150_000.0)
    o.fill(1, fill, BID)
    if open_same:
        o.open(1, side, open_same, BID - 300 if side == B else ASK + 300)
    o.rate[:] = (0, 2)
    before = o.snapshot()
    why = chk(o, side=side, qty=qty, price=price, now=NOW + now)
    after = o.snapshot()
    same = [np.array_equal(a, b) for a, b in zip(before, after, strict=True)]
    if why:
        assert all(same)
    else:  # only the rate window moved: a fresh window, one order in it
        assert same[1:] == [True] * 4 and tuple(after[0]) == (NOW + now, 1)
    assert o.counts[Reject.CHECKED] == 1 and o.counts[why if why else Reject.PASSED] == 1
