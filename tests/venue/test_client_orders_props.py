"""Client orders in the matching engine against the plain-Python model
(tests/reference/venue_orders.py): random requests from two accounts, interleaved with the
generated flow, give the same ITCH events, the same OUCH messages and the same books; the
engine's own consistency check holds throughout. Without client orders the generated day is
byte-identical to the day before client orders existed."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reference.venue_orders import Order, RefVenue
from tickpath.codec import ouch50, soupbintcp
from tickpath.codec.itch50.decode import OK, decode_batch
from tickpath.codec.itch50.layout import EVENT_DTYPE, LENGTHS
from tickpath.venue import Simulator
from tickpath.venue.client_orders import ClientOrders
from tickpath.venue.records import LADDER, S_NEXT_MATCH, S_NEXT_REF

SYMBOLS, MESSAGES, SEED, SLOTS = 3, 20_000, 5, 8


@pytest.mark.parametrize(("symbols", "messages", "seed", "digest"), [
    (7, 4000, 21, "387b6f11f0aefe91a93f63303dbccf075e85b62e98f4aa393bbaa25be4b55373"),
    (60, 50_000, 11, "48faf8de8dab5289c4ab09e760e22966d76b3924d552a4af5b6e7157d733d2c3"),
])
@pytest.mark.parametrize("slots", [0, 16])
def test_generated_day_unchanged(symbols, messages, seed, digest, slots):
    # the digests were taken before client orders were added to the engine
    sim = Simulator(symbols=symbols, messages=messages, seed=seed, client_slots=slots)
    assert hashlib.sha256(sim.blocks()).hexdigest() == digest
    sim.check()


def decode(blocks: np.ndarray) -> list[dict]:
    out = np.zeros(blocks.size // 14 + 1, EVENT_DTYPE)
    n, status, off = decode_batch(blocks, 0, blocks.size, LENGTHS, out, 0, 0)
    assert status == OK and off == blocks.size
    evs = []
    for e in out[:n]:
        evs.append({"type": chr(e["type"]), "locate": int(e["locate"]), "ref": int(e["ref"]),
                    "new_ref": int(e["new_ref"]), "side": chr(e["side"]),
                    "shares": int(e["shares"]), "price": int(e["price"]),
                    "match": int(e["match"])})
    return evs


def itch_tuple(e: dict) -> tuple:
    t = e["type"]
    if t == "A":
        return ("A", e["ref"], e["side"], e["shares"], e["price"])
    if t == "E":
        return ("E", e["ref"], e["shares"], e["match"])
    if t == "D":
        return ("D", e["ref"])
    if t == "X":
        return ("X", e["ref"], e["shares"])
    if t == "U":
        return ("U", e["ref"], e["new_ref"], e["shares"], e["price"])
    raise AssertionError(f"client actions do not publish {t!r}")


def snapshot(sim: Simulator) -> RefVenue:
    """The model, started from the engine's books, queue by queue in FIFO order."""
    ref = RefVenue(symbols=list(sim.symbols), lo=[int(x) for x in sim._inst["lo"]],
                   nlev=LADDER, next_ref=int(sim._scal[S_NEXT_REF]),
                   next_match=int(sim._scal[S_NEXT_MATCH]), slots=SLOTS)
    for i in range(len(sim.symbols)):
        for j in range(LADDER):
            o = int(sim._levels[i, j]["head"])
            while o >= 0:
                od = sim._orders[o]
                assert o < sim._live.shape[0], "the opening book has no client orders"
                ref.rest(Order(int(od["ref"]), od["side"] == 0, int(od["shares"]), j, i))
                o = int(od["next"])
    return ref


def engine_books(sim: Simulator) -> dict:
    out = {}
    for i in range(len(sim.symbols)):
        for j in np.flatnonzero(sim._levels[i]["count"] > 0):
            o, q = int(sim._levels[i, j]["head"]), []
            while o >= 0:
                q.append((int(sim._orders[o]["ref"]), int(sim._orders[o]["shares"])))
                o = int(sim._orders[o]["next"])
            out[(i, int(j))] = q
    return out


def model_books(ref: RefVenue) -> dict:
    return {k: [(o.ref, o.shares) for o in q] for k, q in ref.queues.items() if q}


def ouch_of(co: ClientOrders) -> list[tuple[int, dict]]:
    return [(k, ouch50.fields(pkt[3:], "outbound")) for k, pkt in co.drain_outbox()]


def same_ouch(got: list[tuple[int, dict]], want: list[tuple[int, dict]]) -> None:
    assert len(got) == len(want), (got, want)
    for (ka, a), (kb, b) in zip(got, want, strict=True):
        assert ka == kb, (a, b)
        assert {k: a[k] for k in b} == b, (a, b)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_client_orders_match_the_model(data):
    sim = Simulator(symbols=SYMBOLS, messages=MESSAGES, seed=SEED, client_slots=SLOTS)
    sim.open_day()
    buf = np.zeros(1 << 18, np.uint8)
    end, _ = sim.generate_into(buf, 0, 600)
    co = ClientOrders(sim, 2)
    ref = snapshot(sim)
    urns = {0: [], 1: []}
    for _ in range(data.draw(st.integers(1, 30), label="requests")):
        kind = data.draw(st.sampled_from(["enter"] * 5 + ["cancel", "replace"] * 2
                                         + ["mass", "query", "flow", "flow"]))
        a = data.draw(st.integers(0, 1), label="account")
        last = ref.last_urn.get(a, 0)
        urn = max(last, 1) if data.draw(st.integers(0, 9)) == 9 else last + 1  # sometimes stale
        if kind == "flow":
            end, k = sim.generate_into(buf, 0, data.draw(st.integers(35, 150)))
            for ev in decode(buf[:end]):
                ref.follow(ev, ev["locate"] - 1)
            same_ouch(ouch_of(co), ref.ouch)
            ref.ouch.clear()
            continue
        # SYMBOLS: an unknown symbol
        inst = data.draw(st.sampled_from([0, 0, 1, 2] * 3 + [SYMBOLS]))
        sym = sim.symbols[inst] if inst < SYMBOLS else "ZZZZZ"
        i = min(inst, SYMBOLS - 1)
        side = data.draw(st.sampled_from("BBBBSSSSTEX"), label="side")
        buy = side == "B"
        live = sorted((o.urn, o.inst, o.buy) for o in ref.by_ref.values() if o.owner == a)
        pool = [x[0] for x in live] * 4 + urns[a]
        target = data.draw(st.sampled_from(pool)) if pool else 1
        if kind == "replace":  # priced on the target's own ladder
            for urn_, inst_, buy_ in live:
                if urn_ == target:
                    i, buy = inst_, buy_
        # a passive price behind the own touch mostly, sometimes through the other side
        own = ref.best(i, buy)
        other = ref.best(i, not buy)
        mid = own if own is not None else (other if other is not None else LADDER // 2)
        k = data.draw(st.integers(-2, 4))
        price_kind = data.draw(st.sampled_from(["near"] * 12 + ["off", "market", "low"]))
        if price_kind == "near":
            j = mid - k if buy else mid + k
            price = ref.price(i, min(max(j, 0), LADDER - 1))
        elif price_kind == "off":
            price = ref.price(i, mid) + 50
        elif price_kind == "market":
            price = 0x7FFFFFFF
        else:
            price = ref.lo[i] - 100
        qty = data.draw(st.sampled_from([1, 100, 100, 300, 300, 700, 1500, 5000] * 2
                                         + [0, 1_000_000]))
        tif = data.draw(st.sampled_from("00003"))
        if kind == "enter":
            m = dict(user_ref_num=urn, side=side, quantity=qty,
                     symbol=sym.ljust(8), price=price, time_in_force=tif, display="Y",
                     capacity="A", intermarket_sweep_eligibility="N", cross_type="N",
                     cl_ord_id=f"C{urn}".ljust(14))
            ref.enter(a, m)
            raw = ouch50.encode("inbound", "O", **m)
        elif kind in ("cancel", "replace"):
            if kind == "cancel":
                m = dict(user_ref_num=target, quantity=data.draw(st.sampled_from([0, 50, 100])))
                ref.cancel(a, m)
                raw = ouch50.encode("inbound", "X", **m)
            else:
                m = dict(orig_user_ref_num=target, user_ref_num=urn, quantity=qty,
                         price=price, time_in_force=tif, display="Y",
                         intermarket_sweep_eligibility="N", cl_ord_id=f"R{urn}".ljust(14))
                ref.replace(a, m)
                raw = ouch50.encode("inbound", "U", **m)
        elif kind == "mass":
            m = dict(user_ref_num=urn, firm="ABCD",
                     symbol=data.draw(st.sampled_from(["", sim.symbols[0]])).ljust(8))
            ref.mass_cancel(a, m)
            raw = ouch50.encode("inbound", "C", **m)
        else:
            ref.account_query(a)
            raw = ouch50.encode("inbound", "Q")
        urns[a].append(urn)
        wire = np.frombuffer(soupbintcp.unsequenced(raw), np.uint8)
        status, off, _ = co.apply(a, wire, 0, wire.size, 7)
        assert (status, off) == (0, wire.size)
        got_itch = [itch_tuple(e) for e in decode(co.take_itch())]
        got_ouch = ouch_of(co)
        if kind == "mass":  # the engine walks its slots, the model its references
            assert sorted(got_itch) == sorted(ref.itch)
            assert len(got_ouch) == len(ref.ouch)
            same_ouch(sorted(got_ouch[:-1], key=lambda x: x[1]["user_ref_num"]),
                      sorted(ref.ouch[:-1], key=lambda x: x[1]["user_ref_num"]))
            same_ouch(got_ouch[-1:], ref.ouch[-1:])
        else:
            assert got_itch == ref.itch
            same_ouch(got_ouch, ref.ouch)
        ref.itch.clear()
        ref.ouch.clear()
        sim.check()
        assert engine_books(sim) == model_books(ref)
    assert len(co.orders()) == ref.live_clients()
