"""The simulated venue books its orders exactly as a live order session would: over random
intents, book changes and prints, a second set of gateway arrays is driven only by what a
live session does (the send-side kernels, then the venue's OUCH messages through
``apply_fields``), rebuilt from the order updates the simulated venue queued, and must end
identical to the backtest's (every order field but the queue estimate ``ahead``, positions,
totals). Nothing is ever left pending: the simulated venue answers every send at once."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from tickpath.gateway import orders as K
from tickpath.gateway.layout import OrderState, Total, new_orders, new_positions, new_totals
from tickpath.strategy.context import cancel, cancel_all, new_context, place, replace
from tickpath.strategy.layout import REFUSED_FULL, CtxWord, OrderEvent
from tickpath.strategy.simfill import fill_on_book, fill_on_trade, venue_intents

INSTRUMENTS = (1, 2)
CAPACITY = 16  # small, so a full table (REFUSED_FULL) happens too
TICK, BASE = 100, 100_000
FIELDS = [n for n in new_orders(2).dtype.names if n != "ahead"]
PENDING = {OrderState.PENDING_NEW, OrderState.CANCEL_PENDING, OrderState.REPLACE_PENDING}

OPS = st.lists(st.one_of(
    st.tuples(st.just("place"), st.sampled_from(INSTRUMENTS), st.sampled_from("BS"),
              st.integers(1, 5), st.integers(-3, 3)),
    st.tuples(st.just("cancel"), st.integers(0, 20)),
    st.tuples(st.just("replace"), st.integers(0, 20), st.integers(1, 5), st.integers(-3, 3)),
    st.tuples(st.just("cancel_all"), st.sampled_from((-1, *INSTRUMENTS))),
    st.tuples(st.just("book"), st.sampled_from(INSTRUMENTS), st.integers(-4, 4),
              st.integers(1, 6), st.integers(1, 3)),
    st.tuples(st.just("trade"), st.sampled_from(INSTRUMENTS), st.integers(-4, 4),
              st.integers(1, 6), st.sampled_from("BS")),
), max_size=60)


class Twin:
    """The gateway's arrays as a live session would keep them, from the same messages."""

    def __init__(self) -> None:
        self.a = (new_orders(CAPACITY), new_positions(), new_totals())

    def replay(self, ctx, now: int) -> None:
        orders, positions, totals = self.a
        for slot, event in ctx.updates[:ctx.words[CtxWord.UPDATES]]:
            row = ctx.orders[slot]
            ur = int(row["user_ref"])
            if event == OrderEvent.ACCEPTED:
                got = K.order_new(*self.a, row["instrument"], row["symbol"], row["side"],
                                  row["qty"], row["price"], row["tif"], row["trigger"], now)
                assert got == ur
                msg = (ord("A"), ur, 0, row["qty"], row["price"], row["order_ref"], ord("L"), 0)
            elif event == OrderEvent.REPLACED:
                old = int(row["replaces"])
                assert K.replace_sent(*self.a, old, row["qty"], row["price"], now) == ur
                msg = (ord("U"), ur, old, row["qty"], row["price"], row["order_ref"], ord("L"),
                       0)
            elif event == OrderEvent.CANCELED:
                assert K.cancel_sent(*self.a, ur, 0, now) == K.OK
                msg = (ord("C"), ur, 0, orders[slot]["leaves"], 0, 0, 0, 0)
            else:
                assert event == OrderEvent.EXECUTED
                q = row["filled"] - orders[slot]["filled"]
                px = (row["fill_notional"] - orders[slot]["fill_notional"]) // q
                msg = (ord("E"), ur, 0, q, px, 0, 0, 0)
            assert K.apply_fields(*self.a, *msg, now) == K.OK, msg
        ctx.words[CtxWord.UPDATES] = 0
        for i in INSTRUMENTS:  # marks are the owner's: the same marks, whatever their order
            if positions[i]["mark"] != ctx.positions[i]["mark"]:
                K.set_mark(positions, totals, i, ctx.positions[i]["mark"])

    def check(self, ctx) -> None:
        orders, positions, totals = self.a
        for f in FIELDS:
            assert np.array_equal(orders[f], ctx.orders[f]), f
        assert np.array_equal(positions, ctx.positions)
        assert np.array_equal(totals, ctx.totals)
        used = ctx.orders[ctx.orders["user_ref"] != 0]
        assert not any(int(s) in PENDING for s in used["state"])
        assert not np.any(used["state"] == OrderState.NONE)  # no replacement left reserved


def _open(ctx) -> list[int]:
    return [int(s) for s in np.flatnonzero(np.isin(ctx.orders["state"], (
        OrderState.ACCEPTED, OrderState.PARTIAL)))]


def _step(ctx, counts, op, now: int) -> None:
    kind = op[0]
    if kind == "place":
        _, i, side, q, off = op
        place(ctx, i, ord(side), q * 100, BASE + off * TICK, ord("0"), now)
    elif kind in ("cancel", "replace"):
        live = _open(ctx)
        if not live:
            return
        slot = live[op[1] % len(live)]
        if kind == "cancel":
            cancel(ctx, slot)
        else:
            replace(ctx, slot, op[2] * 100, BASE + op[3] * TICK)
    elif kind == "cancel_all":
        cancel_all(ctx, op[1])
    elif kind == "book":
        _, i, off, sh, spread = op
        ctx.top[i, :4] = (BASE + off * TICK, sh * 100, BASE + (off + spread) * TICK, sh * 100)
        fill_on_book(ctx, i, now, counts)
        return
    else:
        _, i, off, q, aggressor = op
        fill_on_trade(ctx, i, BASE + off * TICK, q * 100, ord(aggressor), now, counts)
        return
    venue_intents(ctx, now, counts)


@settings(max_examples=150, deadline=None)
@given(OPS)
def test_the_simulated_venue_books_as_a_live_session_would(ops):
    ctx = new_context(orders=new_orders(CAPACITY), ours_in_book=False)
    for i in INSTRUMENTS:
        ctx.top[i, :4] = (BASE - TICK, 500, BASE + TICK, 500)
    counts = np.zeros(6, np.int64)
    twin = Twin()
    for n, op in enumerate(ops):
        _step(ctx, counts, op, 1_000 + n)
        twin.replay(ctx, 1_000 + n)
        twin.check(ctx)
    t = ctx.totals
    assert (t[Total.FILLS], t[Total.CANCELS]) == (counts[1], counts[3])


def test_a_full_order_table_refuses_the_order_and_changes_nothing():
    ctx = new_context(orders=new_orders(2), ours_in_book=False)
    ctx.top[1, :4] = (BASE - TICK, 500, BASE + TICK, 500)
    counts = np.zeros(6, np.int64)
    for k in range(3):
        place(ctx, 1, ord("B"), 100, BASE - 2 * TICK, ord("0"), k)
    venue_intents(ctx, 5, counts)
    assert list(ctx.intents["result"][:3]) == [1, 0, REFUSED_FULL]
    assert counts[0] == 2 and counts[5] == 1
    assert ctx.positions[1]["open_buy"] == 200 and ctx.totals[Total.OPEN_ORDERS] == 2
