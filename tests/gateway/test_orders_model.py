"""The order kernels against the reference model (tests/reference/orders.py) over random
sequences of sends and venue messages: valid ones (accept, partial fills, replace chains,
fills racing a cancel or a replace) and impossible ones (unknown UserRefNums, messages the
order's state cannot take, overfills), which must be counted and change nothing else."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st
from tests.reference.orders import OPEN, ReferenceOrders

from tickpath.gateway import orders as K
from tickpath.gateway.layout import (
    OrderState,
    Total,
    new_orders,
    new_positions,
    new_totals,
)

CAPACITY, INSTRUMENTS = 8, 3
STATE = {"pending_new": OrderState.PENDING_NEW, "accepted": OrderState.ACCEPTED,
         "partial": OrderState.PARTIAL, "filled": OrderState.FILLED,
         "canceled": OrderState.CANCELED, "rejected": OrderState.REJECTED,
         "cancel_pending": OrderState.CANCEL_PENDING,
         "replace_pending": OrderState.REPLACE_PENDING, "replaced": OrderState.REPLACED,
         "reserved": OrderState.NONE}
SEND = {K.TABLE_FULL: "table_full", K.BAD_ORDER: "bad_order", K.UNKNOWN: "unknown",
        K.NOT_OPEN: "not_open", K.PENDING: "pending", K.OK: "ok"}
APPLY = {K.OK: "ok", K.UNKNOWN_REF: "unknown_ref", K.BAD_TRANSITION: "bad_transition",
         K.BAD_QTY: "bad_qty", K.IGNORED: "ignored"}

OPS = st.lists(st.tuples(
    st.sampled_from("NNNNxrrAAAAEEEEEECDJUUUIXSkm"),  # weights by repetition
    st.integers(0, 40), st.integers(0, 12), st.integers(0, 5), st.booleans()),
    max_size=70)


class Pair:
    def __init__(self) -> None:
        self.orders, self.positions = new_orders(CAPACITY), new_positions(INSTRUMENTS)
        self.totals = new_totals()
        self.model = ReferenceOrders(CAPACITY, INSTRUMENTS)
        self.now = 0

    def ref(self, i: int, op: str = "") -> int:
        # mostly an order the message fits (so sequences get far: fills, replace chains),
        # sometimes any ref at all (unknown ones, impossible transitions)
        m = self.model
        fits = {"A": ("pending_new",), "J": ("pending_new", "reserved"),
                "U": ("replace_pending",), "I": ("cancel_pending",)}.get(op, tuple(OPEN))
        good = sorted(r for r, o in m.orders.items()
                      if o.state in fits and (op not in "ECD" or m.accepted_open(o)))
        if i < 34 and good:
            return good[i % len(good)]
        return 1 + i % (m.next_ref + 1)

    def step(self, op: str, i: int, q: int, p: int, flag: bool) -> None:
        self.now += 1
        m, a = self.model, (self.orders, self.positions, self.totals)
        px = 100 + p * 25
        if op == "N":
            inst, side = i % INSTRUMENTS, "B" if flag else "S"
            got = K.order_new(*a, inst, 0x4142434420202020, ord(side), q, px, ord("0"), 7,
                              self.now)
            want = m.new(inst, side, q, px)
            assert (got if got > 0 else SEND[got]) == want
        elif op == "x":
            ref = self.ref(i)
            got = K.cancel_sent(*a, ref, q % 4, self.now)
            assert SEND[got] == m.cancel(ref, q % 4)
        elif op == "r":
            ref = self.ref(i)
            got = K.replace_sent(*a, ref, q, px, self.now)
            want = m.replace(ref, q, px)
            assert (got if got > 0 else SEND[got]) == want
        elif op == "m":
            inst = i % (INSTRUMENTS + 1) - 1
            assert K.mass_cancel_sent(*a, inst, self.now) == m.mass_cancel(inst)
        elif op == "k":
            inst = i % INSTRUMENTS
            K.set_mark(self.positions, self.totals, inst, px)
            m.set_mark(inst, px)
        else:
            ref, orig = self.ref(i, op), 0
            if op == "U":  # mostly the replacement the original asked for
                orig = ref
                o = m.get(orig)
                ref = o.replaced_by if o is not None and o.replaced_by and flag else \
                    self.ref(i + q)
            dead = flag and op in "AU" and q == 0
            qty = q if op in "AU" else q % 6
            got = K.apply_fields(*a, ord(op), ref, orig, qty, px, 99, ord("D" if dead else "L"),
                                 3, self.now)
            assert APPLY[got] == m.apply(op, ref, qty, px, orig, dead, 3), (op, ref)
        self.check()

    def check(self) -> None:
        k, m, pos, tot = self.orders, self.model, self.positions, self.totals
        live = {int(r) for r in k["user_ref"] if r}
        assert live == set(m.orders)
        for ref, o in m.orders.items():
            row = k[K.find(k, ref)]
            assert row["state"] == STATE[o.state], (ref, o)
            assert (row["leaves"], row["filled"], row["fill_notional"]) == \
                (o.leaves, o.filled, o.fill_notional), (ref, o)
            if o.state != "reserved":
                assert (row["qty"], row["price"]) == (o.qty, o.price)
            assert row["replaced_by"] == o.replaced_by and row["replaces"] == o.replaces
        for inst in range(INSTRUMENTS):
            walked, prev, slot = set(), -1, int(pos[inst]["open_head"])
            while slot >= 0:
                assert k[slot]["prev_open"] == prev
                walked.add(int(k[slot]["user_ref"]))
                prev, slot = slot, int(k[slot]["next_open"])
            assert walked == m.open_orders(inst)
            p, mp = pos[inst], m.pos(inst)
            assert (p["open_buy"], p["open_sell"], p["open_buy_notional"],
                    p["open_sell_notional"]) == m.exposure(inst)
            assert (p["position"], p["bought"], p["sold"], p["cash"], p["orders"], p["fills"],
                    p["rejects"]) == (mp.position, mp.bought, mp.sold, mp.cash, mp.orders,
                                      mp.fills, mp.rejects)
        assert tot[Total.CASH] == m.cash() and tot[Total.MARKED] == m.marked()
        assert tot[Total.OPEN_ORDERS] == sum(len(m.open_orders(i)) for i in range(INSTRUMENTS))
        assert tot[Total.OPEN_NOTIONAL] == sum(
            e[2] + e[3] for e in (m.exposure(i) for i in range(INSTRUMENTS)))
        assert (tot[Total.ORDERS], tot[Total.FILLS], tot[Total.REJECTS], tot[Total.CANCELS]) \
            == (m.counts["orders"], m.counts["fills"], m.counts["rejects"], m.counts["cancels"])
        assert tot[Total.NEXT_USER_REF] == m.next_ref
        assert (tot[Total.UNKNOWN_REF], tot[Total.BAD_TRANSITION], tot[Total.BAD_QTY],
                tot[Total.IGNORED]) == (m.faults["unknown_ref"], m.faults["bad_transition"],
                                        m.faults["bad_qty"], m.faults["ignored"])


@settings(max_examples=300, deadline=None)
@given(OPS)
def test_kernels_match_the_reference_model(ops):
    pair = Pair()
    # a few orders, most of them accepted, so short sequences get far too
    preamble = [("N", 0, 10, 1, True), ("N", 1, 8, 2, False), ("N", 2, 12, 3, True),
                ("N", 0, 6, 4, False), ("A", 0, 10, 1, False), ("A", 0, 8, 2, False),
                ("A", 0, 6, 4, False)]
    for op in preamble + ops:
        pair.step(*op)


def test_replace_chain_with_a_fill_racing_the_replace():
    a = (new_orders(16), new_positions(4), new_totals())
    o, pos, tot = a
    ref = K.order_new(*a, 1, 0, ord("B"), 500, 1000, 0, 0, 1)
    assert K.apply_fields(*a, ord("A"), ref, 0, 500, 1000, 77, ord("L"), 0, 2) == K.OK
    new = K.replace_sent(*a, ref, 500, 1010, 3)
    assert new == ref + 1
    # a fill on the original crosses the replace on the wire
    assert K.apply_fields(*a, ord("E"), ref, 0, 100, 1000, 0, 0, 0, 4) == K.OK
    assert K.apply_fields(*a, ord("U"), new, ref, 400, 1010, 78, ord("L"), 0, 5) == K.OK
    assert o[K.find(o, ref)]["state"] == OrderState.REPLACED
    row = o[K.find(o, new)]
    assert row["state"] == OrderState.ACCEPTED and row["leaves"] == 400
    assert pos[1]["open_buy"] == 400 and pos[1]["open_buy_notional"] == 400 * 1010
    assert pos[1]["position"] == 100 and pos[1]["cash"] == -100 * 1000
    K.set_mark(pos, tot, 1, 1100)
    assert tot[Total.CASH] + tot[Total.MARKED] == 100 * (1100 - 1000)
    # a second replace rejected: the live order goes back to ACCEPTED
    newer = K.replace_sent(*a, new, 300, 1020, 6)
    assert K.apply_fields(*a, ord("J"), newer, 0, 0, 0, 0, 0, 0x1D, 7) == K.OK
    assert o[K.find(o, new)]["state"] == OrderState.ACCEPTED
    assert tot[Total.OPEN_ORDERS] == 1 and np.all(tot[10:14] == 0)
