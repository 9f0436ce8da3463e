"""Properties of client orders in the futures venue: any mix of accounts' orders, cancels,
replaces and mass cancels interleaved with the generated flow keeps the venue's books
consistent, and a real ``Mdp3Feed`` reading the one MDP3 stream (incrementals and snapshot
loops) holds exactly the venue's books, with no sequence or RptSeq gap."""

from __future__ import annotations

import numpy as np
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tickpath.codec import ouch50, soupbintcp
from tickpath.feed.mdp3 import Mdp3Feed
from tickpath.venue.futures import FuturesSimulator
from tickpath.venue.futures_live import write_flow
from tickpath.venue.futures_orders import FuturesOrders, PacketWriter

SYMBOLS = ("TPZ6", "TCLF7")

action = st.one_of(
    st.tuples(st.just("flow"), st.integers(1, 300)),
    st.tuples(st.just("order"), st.integers(0, 1), st.sampled_from(SYMBOLS),
              st.sampled_from("BS"), st.integers(1, 40), st.integers(-4, 6),
              st.sampled_from("03")),
    st.tuples(st.just("cancel"), st.integers(0, 1), st.integers(0, 50), st.integers(0, 3)),
    st.tuples(st.just("replace"), st.integers(0, 1), st.integers(0, 50), st.integers(-3, 3),
              st.integers(1, 40)),
    st.tuples(st.just("mass"), st.integers(0, 1), st.sampled_from(SYMBOLS + ("",))),
)


def _in(type_: str, **fields) -> np.ndarray:
    return np.frombuffer(soupbintcp.unsequenced(ouch50.encode("inbound", type_, **fields)),
                         np.uint8)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(1, 1000), actions=st.lists(action, min_size=1, max_size=40))
def test_client_orders_keep_the_books_and_the_feed_whole(seed, actions):
    fut = FuturesSimulator(None, messages=30_000, seed=seed, snapshot_every=25, client_slots=8)
    writer = PacketWriter(1 << 20)
    orders = FuturesOrders(fut, 2, writer)
    feed = Mdp3Feed(errors="raise", late_join="natural")
    fut._reset()
    urn = [0, 0]

    def publish() -> None:
        for ch in orders.take_packets():
            for k in range(ch.kinds.shape[0]):
                pk = ch.packet(k).copy()
                feed.on_datagram(pk, pk.size)

    def apply(account: int, data: np.ndarray) -> None:
        status, off, _ = orders.apply(account, data, 0, data.size, 1)
        assert (status, off) == (0, data.size)
        for _, packet in orders.drain_outbox():  # every answer decodes
            ouch50.fields(packet[3:], "outbound")

    write_flow(fut, writer, 1_000)
    publish()
    for act in actions:
        if act[0] == "flow":
            write_flow(fut, writer, act[1])
            orders.drain_outbox()
        elif act[0] == "order":
            _, acct, sym, side, qty, ticks, tif = act
            i = fut.symbols.index(sym)
            rec = fut._inst[i]
            ref = rec["bb"] if side == "B" else rec["ba"]
            if not 0 <= ref < 4096:
                ref = rec["last"]
            j = int(ref) - ticks if side == "B" else int(ref) + ticks
            price = (int(rec["lo_px"]) + j * int(rec["tick_px"])) // int(rec["ouch_px"])
            urn[acct] += 1
            apply(acct, _in("O", user_ref_num=urn[acct], side=side, quantity=qty, symbol=sym,
                            price=price, time_in_force=tif, display="Y", capacity="A",
                            intermarket_sweep_eligibility="N", cross_type="N",
                            cl_ord_id="P"))
        elif act[0] == "mass":
            urn[act[1]] += 1
            left = [o for o in orders.orders(act[1]) if act[2] and o["symbol"] != act[2]]
            apply(act[1], _in("C", user_ref_num=urn[act[1]], firm="", symbol=act[2]))
            assert orders.orders(act[1]) == left
        else:
            mine = orders.orders(act[1])
            if not mine:
                continue
            o = mine[act[2] % len(mine)]
            if act[0] == "cancel":
                apply(act[1], _in("X", user_ref_num=o["user_ref_num"],
                                  quantity=min(act[3], o["qty"] - 1)))
            else:
                i = fut.symbols.index(o["symbol"])
                step = int(fut._inst[i]["tick_px"]) // int(fut._inst[i]["ouch_px"])
                urn[act[1]] += 1
                apply(act[1], _in("U", orig_user_ref_num=o["user_ref_num"],
                                  user_ref_num=urn[act[1]], quantity=act[4],
                                  price=o["price"] + act[3] * step, time_in_force="0",
                                  display="Y", intermarket_sweep_eligibility="N",
                                  cl_ord_id="R"))
        fut.check()
    publish()
    c = feed.counters()
    assert c["gaps"] == 0 and c["rpt_gaps"] == 0 and c["malformed"] == 0
    mine = {b["symbol"]: b for b in feed.books()}
    by_order = {b["symbol"]: b for b in feed.order_books()}
    for book in fut.books():
        assert mine[book["symbol"]]["bids"] == book["bids"]
        assert mine[book["symbol"]]["asks"] == book["asks"]
        assert by_order[book["symbol"]]["bids"][:10] == book["bids"]
        assert by_order[book["symbol"]]["asks"][:10] == book["asks"]
    for o in orders.orders():
        assert o["qty"] > 0
