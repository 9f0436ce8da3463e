"""Order entry on the futures venue, on loopback: OUCH 5.0 orders over SoupBinTCP go into the
futures books, the account hears Accepted / Executed / Canceled / Replaced / Rejected, and
the book changes and trades go out on MDP 3.0, where a real ``Mdp3Feed`` (reading the
published UDP packets, lines A and B) builds books that show them."""

from __future__ import annotations

import hashlib
import socket

import numpy as np
import pytest
from soup_client import SoupClient, enter, pump

from tickpath.feed.mdp3 import Mdp3Feed
from tickpath.venue.client_orders import INVALID_PRICE, INVALID_SIDE, INVALID_SYMBOL
from tickpath.venue.futures import FuturesSimulator
from tickpath.venue.futures_live import FuturesLiveVenue
from tickpath.venue.futures_orders import ouch_symbol

ACCOUNTS = ["ALICE:pw1", "BOB:pw2"]
SYM = "TPZ6"
PER = 10**7  # PRICE9 mantissa per OUCH price unit for TPZ6 (DisplayFactor 0.01)
TICK = 25 * 10**9 // PER  # one tick (0.25 point) as an OUCH price


class Feed:
    """Lines A and B (one loopback port) into a real MDP3 feed handler."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 16 << 20)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.setblocking(False)
        self.port = self.sock.getsockname()[1]
        self.handler = Mdp3Feed(errors="raise", late_join="natural")
        self.packets: list[bytes] = []

    def read(self) -> None:
        while True:
            try:
                pkt = self.sock.recv(65536)
            except BlockingIOError:
                return
            self.packets.append(pkt)
            buf = np.frombuffer(pkt, np.uint8).copy()
            self.handler.on_datagram(buf, buf.size)

    def book(self) -> dict:
        return next(b for b in self.handler.books() if b["symbol"] == SYM)

    def orders(self) -> dict:
        return next(b for b in self.handler.order_books() if b["symbol"] == SYM)

    def trades(self) -> int:
        return self.handler.counters()["trades"]


@pytest.fixture
def live():
    feed = Feed()
    fut = FuturesSimulator(None, messages=50_000, seed=11, snapshot_every=0, client_slots=32)
    venue = FuturesLiveVenue(fut=fut, a=("127.0.0.1", feed.port), accounts=ACCOUNTS,
                             quiet=True, opening_messages=1500, rate=None)
    venue.start()
    feed.read()
    a = SoupClient(venue.orders_port)
    a.login("ALICE", "pw1")

    def turn() -> None:
        venue.turn()
        feed.read()
    pump(turn, [a], lambda: "A" in a.types())
    yield venue, feed, a, turn
    a.close()
    venue.close()
    feed.sock.close()


def _answers(client: SoupClient, urn: int) -> list[dict]:
    return [m for m in client.messages() if m.get("user_ref_num") == urn]


def _wait(turn, client, urn, kind) -> dict:
    pump(turn, [client], lambda: any(m["type"] == kind for m in _answers(client, urn)))
    return next(m for m in _answers(client, urn) if m["type"] == kind)


def _level(side: list, px9: int) -> list | None:
    return next((lv for lv in side if lv[0] == px9), None)


def test_resting_order_on_the_mdp3_books_then_canceled(live):
    venue, feed, a, turn = live
    assert feed.book() == venue.fut.books()[0]  # the opening book arrived whole
    best_bid = feed.book()["bids"][0][0]
    price = best_bid // PER - 2 * TICK  # two ticks behind: the level exists or is new
    before = _level(feed.book()["bids"], price * PER) or [price * PER, 0, 0]
    rpt0 = int(venue.fut._inst[0]["rpt_seq"])
    enter(a, 1, "B", 7, SYM, price)
    acc = _wait(turn, a, 1, "A")
    assert (acc["symbol"], acc["price"], acc["quantity"]) == (ouch_symbol(SYM).decode(), price,
                                                              7)
    pump(turn, [a], lambda: _level(feed.book()["bids"], price * PER) != before)
    assert _level(feed.book()["bids"], price * PER) == [price * PER, before[1] + 7,
                                                         before[2] + 1]
    # order-by-order too: the level of the handler's order book counts our order
    assert _level(feed.orders()["bids"], price * PER) == [price * PER, before[1] + 7,
                                                           before[2] + 1]
    assert int(venue.fut._inst[0]["rpt_seq"]) == rpt0 + 1  # one event, one RptSeq
    assert feed.handler.counters()["rpt_gaps"] == 0 and feed.handler.counters()["gaps"] == 0
    # cancel: gone from the books
    a.order("X", user_ref_num=1, quantity=0)
    can = _wait(turn, a, 1, "C")
    assert (can["quantity"], can["reason"]) == (7, "U")
    pump(turn, [a], lambda: (_level(feed.book()["bids"], price * PER) or
                             [0, 0, 0])[1] == before[1])
    assert feed.book() == venue.fut.books()[0]
    venue.fut.check()


def test_marketable_order_trades_against_the_generated_book(live):
    venue, feed, a, turn = live
    bid = feed.book()["bids"][0]
    trades0 = feed.trades()
    # sell IOC at the best bid, more than it holds: the level is taken, the rest canceled
    enter(a, 1, "S", bid[1] + 3, SYM, bid[0] // PER, tif="3")
    ex = _wait(turn, a, 1, "E")
    assert (ex["quantity"], ex["price"], ex["liquidity_flag"]) == (bid[1], bid[0] // PER, "R")
    can = _wait(turn, a, 1, "C")
    assert (can["quantity"], can["reason"]) == (3, "I")
    pump(turn, [a], lambda: feed.trades() > trades0)
    assert feed.trades() == trades0 + 1  # one MDIncrementalRefreshTradeSummary48 entry
    assert _level(feed.book()["bids"], bid[0]) is None  # the level is gone
    assert feed.book() == venue.fut.books()[0]
    tr = [p for p in feed.packets[-4:] if _has_template(p, 48)]
    assert tr, "the trade summary went out on MDP3"
    venue.fut.check()


def test_partial_fill_reduces_the_level_and_replace_moves_it(live):
    venue, feed, a, turn = live
    ask = feed.book()["asks"][0]
    enter(a, 1, "B", 1, SYM, ask[0] // PER)  # takes one lot off the best offer's first order
    ex = _wait(turn, a, 1, "E")
    assert ex["quantity"] == 1
    pump(turn, [a], lambda: (_level(feed.book()["asks"], ask[0]) or [0, 0])[1] != ask[1])
    if ask[1] > 1:
        assert _level(feed.book()["asks"], ask[0])[1] == ask[1] - 1
    # rest a bid, then replace it one tick lower: old OrderID deleted, a new one entered
    price = feed.book()["bids"][0][0] // PER - 3 * TICK
    enter(a, 2, "B", 5, SYM, price)
    ref = _wait(turn, a, 2, "A")["order_reference_number"]
    a.order("U", orig_user_ref_num=2, user_ref_num=3, quantity=5, price=price - TICK,
            time_in_force="0", display="Y", intermarket_sweep_eligibility="N", cl_ord_id="R3")
    rep = _wait(turn, a, 3, "U")
    assert rep["order_reference_number"] != ref and rep["price"] == price - TICK
    pump(turn, [a], lambda: feed.book() == venue.fut.books()[0])
    mine = venue.orders.orders(0)
    assert [(o["price"], o["qty"], o["order_id"]) for o in mine] == [
        (price - TICK, 5, rep["order_reference_number"])]
    venue.fut.check()


def test_a_logged_in_client_finds_order_entry_compiled(live, new_signatures):
    """The futures venue shares the equities' order-entry server: the array type it hands
    the order kernels is the one their warm-up compiled, so a client's first heartbeat and
    orders after login compile (or load) nothing."""
    venue, feed, a, turn = live
    new_signatures()  # the mark: the venue has started and the client is logged in
    a.send(b"\x00\x01R")  # Client Heartbeat
    price = feed.book()["bids"][0][0] // PER - 3 * TICK
    enter(a, 1, "B", 5, SYM, price)
    a.order("U", orig_user_ref_num=1, user_ref_num=2, quantity=5, price=price - TICK,
            time_in_force="0", display="Y", intermarket_sweep_eligibility="N", cl_ord_id="R2")
    a.order("X", user_ref_num=2, quantity=0)
    _wait(turn, a, 2, "C")
    assert new_signatures() == {}


def test_rejects_off_tick_unknown_symbol_and_short_side(live):
    venue, feed, a, turn = live
    price = feed.book()["bids"][0][0] // PER
    enter(a, 1, "B", 1, SYM, price + 1)  # a hundredth of a point: off the 0.25 tick
    enter(a, 2, "B", 1, "NOPE", price)
    enter(a, 3, "T", 1, SYM, price)
    reasons = [_wait(turn, a, urn, "J")["reason"] for urn in (1, 2, 3)]
    assert reasons == [INVALID_PRICE, INVALID_SYMBOL, INVALID_SIDE]
    assert venue.orders.orders() == []
    assert feed.book() == venue.fut.books()[0]


def test_self_trade_prevention(live):
    venue, feed, a, turn = live
    bid = feed.book()["bids"][0]
    assert bid[2] < 16  # the generated orders ahead of ours take one fill each
    enter(a, 1, "B", 4, SYM, bid[0] // PER)  # joins the best bid, last in time
    _wait(turn, a, 1, "A")
    # selling the whole level trades the generated orders ahead, then meets our own bid
    enter(a, 2, "S", bid[1] + 4, SYM, bid[0] // PER, tif="3")
    can = _wait(turn, a, 2, "C")
    assert (can["quantity"], can["reason"]) == (4, "Q")
    executed = sum(m["quantity"] for m in _answers(a, 2) if m["type"] == "E")
    assert executed == bid[1]
    assert [(o["user_ref_num"], o["qty"]) for o in venue.orders.orders()] == [(1, 4)]
    pump(turn, [a], lambda: feed.book() == venue.fut.books()[0])
    assert feed.book()["bids"][0] == [bid[0], 4, 1]
    venue.fut.check()


def test_generated_flow_fills_a_resting_client_order():
    """Not quiet: the generated flow runs and trades against a client order at the touch."""
    feed = Feed()
    fut = FuturesSimulator(None, messages=40_000, seed=5, snapshot_every=50, client_slots=8)
    with FuturesLiveVenue(fut=fut, a=("127.0.0.1", feed.port), accounts=ACCOUNTS,
                          opening_messages=1500, rate=None) as venue:
        venue.start()
        feed.read()
        a = SoupClient(venue.orders_port)
        a.login("ALICE", "pw1")

        def turn() -> None:
            venue.turn(64)
            feed.read()
        pump(turn, [a], lambda: "A" in a.types())
        bid = venue.fut.books()[0]["bids"][0][0] // PER
        enter(a, 1, "B", 2, SYM, bid + TICK if venue.fut.books()[0]["asks"][0][0] // PER
              > bid + TICK else bid)
        pump(turn, [a], lambda: any(m["type"] in "EC" for m in _answers(a, 1)) or
             venue.generated > 30_000)
        ex = [m for m in _answers(a, 1) if m["type"] == "E"]
        assert ex and ex[0]["liquidity_flag"] == "A"
        venue.fut.check()
        venue.end()
        feed.read()
        assert feed.handler.counters()["rpt_gaps"] == 0
        assert feed.handler.counters()["malformed"] == 0
        a.close()
    feed.sock.close()


#: sha256 of that day's packets as the venue wrote them before it took orders
DAY_BEFORE_ORDER_ENTRY = "97d3ad4d001d14e31c8291bf68752dc1f4804f2bf87d8d461c7febee2e6baf42"


def test_the_generated_day_is_unchanged_by_client_slots():
    """The venue built for order entry, with no order entered, publishes the same bytes, and
    they are the bytes it published before order entry existed."""
    def day(slots: int) -> bytes:
        fut = FuturesSimulator(None, messages=6_000, seed=8, snapshot_every=40,
                               client_slots=slots)
        return b"".join(p for _, p in fut.packet_list())
    with_slots = day(16)
    assert with_slots == day(0)
    assert hashlib.sha256(with_slots).hexdigest() == DAY_BEFORE_ORDER_ENTRY


def _has_template(pkt: bytes, template: int) -> bool:
    p = 12  # MsgSeqNum(4) SendingTime(8); each message: MsgSize(2), SBE header (8)
    while p + 10 <= len(pkt):
        size = int.from_bytes(pkt[p:p + 2], "little")
        if int.from_bytes(pkt[p + 4:p + 6], "little") == template:
            return True
        p += max(size, 2)
    return False

