"""The venue's order-entry server on loopback: real sockets, SoupBinTCP 3.0 and OUCH 5.0,
driven by polling in this thread while a small client (soup_client.py) talks to it."""

from __future__ import annotations

import logging
import socket

import numpy as np
import pytest
from soup_client import SoupClient, enter, pump

from tickpath.codec import soupbintcp
from tickpath.venue import Simulator
from tickpath.venue.client_orders import ClientOrders
from tickpath.venue.order_entry import OrderEntryServer

ACCOUNTS = ["ALICE:pw1", "BOB:pw2", "CAROL:pw3"]


class Venue:
    """A simulator with an opening book, its client orders and the server, polled here."""

    def __init__(self, **server_kw) -> None:
        self.sim = Simulator(symbols=4, messages=200_000, seed=3, client_slots=32)
        self.sim.open_day()
        self.buf = np.zeros(1 << 20, np.uint8)
        self.sim.generate_into(self.buf, 0, 600)
        self.orders = ClientOrders(self.sim, len(ACCOUNTS))
        self.server = OrderEntryServer(self.orders, ACCOUNTS, **server_kw)
        self.sym = self.sim.symbols[0]
        self.clients: list[SoupClient] = []

    def book(self) -> dict:
        return self.sim.books()[1]

    def client(self, user: str = "ALICE", password: str = "pw1", seq: int = 1,
               session: str = "") -> SoupClient:
        c = SoupClient(self.server.port)
        c.login(user, password, session, seq)
        self.clients.append(c)
        pump(self.server.poll, [c], lambda: bool(c.packets) or c.closed)
        return c

    def wait(self, until) -> None:
        pump(self.server.poll, self.clients, until)

    def flow(self, messages: int) -> None:
        self.sim.generate_into(self.buf, 0, messages)
        self.server.poll()

    def close(self) -> None:
        for c in self.clients:
            c.close()
        self.server.close()


@pytest.fixture
def venue():
    v = Venue()
    yield v
    v.close()


def _types(c: SoupClient) -> list[str]:
    return [m["type"] for m in c.messages()]


def test_login_accepted_then_start_of_day(venue):
    c = venue.client()
    venue.wait(lambda: len(c.packets) >= 2)
    login = soupbintcp.decode_packet(c.packets[0])
    assert login["packet_type"] == "A" and login["session"] == "TICKPATH01"
    assert login["sequence_number"] == 1
    assert c.messages()[0]["type"] == "S" and c.messages()[0]["event_code"] == "S"
    assert venue.server.stats()["sessions"] == 1


@pytest.mark.parametrize(("user", "password", "session", "code"), [
    ("ALICE", "wrong", "", "A"), ("MALLOR", "pw1", "", "A"), ("ALICE", "pw1", "OTHER", "S")])
def test_login_rejected(venue, caplog, user, password, session, code):
    with caplog.at_level(logging.WARNING, "tickpath.venue.order_entry"):
        c = venue.client(user, password, session=session)
        venue.wait(lambda: c.closed)
    assert c.types() == "J" and c.packets[0].payload == code.encode()
    assert f"login rejected ({code!r})" in caplog.text
    assert venue.server.stats()["logins_rejected"] == 1


def test_second_session_for_an_account_is_refused(venue):
    venue.client()
    c2 = venue.client()
    venue.wait(lambda: c2.closed)
    assert c2.types() == "J" and c2.packets[0].payload == b"S"


def test_enter_accepted_then_executed_by_the_generated_flow(venue):
    c = venue.client()
    bb = venue.book()["bids"][0][0]
    enter(c, 1, "B", 100, venue.sym, bb)
    venue.wait(lambda: "A" in _types(c))
    acc = c.messages()[-1]
    assert (acc["user_ref_num"], acc["price"], acc["order_state"]) == (1, bb, "L")
    for _ in range(400):  # the generated flow trades until our order is hit
        if "E" in _types(c) or not venue.orders.orders():
            break
        venue.flow(200)
        c.read()
    venue.wait(lambda: "E" in _types(c))
    ex = [m for m in c.messages() if m["type"] == "E"]
    assert ex[0]["user_ref_num"] == 1 and ex[0]["liquidity_flag"] == "A"
    assert ex[0]["price"] == bb and sum(m["quantity"] for m in ex) <= 100
    assert venue.sim.stats()["client_fills"] >= 1
    venue.sim.check()


def test_two_accounts_trade_and_both_hear_of_it(venue):
    a, b = venue.client(), venue.client("BOB", "pw2")
    bid = venue.book()["bids"][0]
    enter(a, 1, "B", 300, venue.sym, bid[0])
    venue.wait(lambda: "A" in _types(a))
    # Bob sells the whole level, generated orders first (they came first), then Alice's
    enter(b, 1, "S", bid[1] + 400, venue.sym, bid[0], tif="3")
    venue.wait(lambda: "E" in _types(a) and "C" in _types(b))
    ea = [m for m in a.messages() if m["type"] == "E"]
    eb = [m for m in b.messages() if m["type"] == "E"]
    assert ea == [{**ea[0], "quantity": 300, "liquidity_flag": "A", "price": bid[0]}]
    assert eb[-1]["match_number"] == ea[0]["match_number"]
    assert eb[-1]["liquidity_flag"] == "R" and sum(m["quantity"] for m in eb) == bid[1] + 300
    assert b.messages()[-1]["quantity"] == 100 and b.messages()[-1]["reason"] == "I"
    venue.sim.check()


def test_cancel_reduce_then_cancel(venue):
    c = venue.client()
    bb = venue.book()["bids"][0][0]
    enter(c, 1, "B", 500, venue.sym, bb - 300)
    c.order("X", user_ref_num=1, quantity=200)
    c.order("X", user_ref_num=1, quantity=0)
    c.order("X", user_ref_num=1, quantity=0)  # superfluous: ignored
    venue.wait(lambda: _types(c).count("C") == 2)
    cans = [m for m in c.messages() if m["type"] == "C"]
    assert [(m["quantity"], m["reason"]) for m in cans] == [(300, "U"), (200, "U")]
    assert "appendage_length" in cans[0]  # the request carried one, so the response does
    assert venue.orders.orders() == []


def test_replace_gets_a_new_reference_and_the_tail(venue):
    c = venue.client()
    bb = venue.book()["bids"][0][0]
    enter(c, 1, "B", 500, venue.sym, bb - 200)
    c.order("U", orig_user_ref_num=1, user_ref_num=2, quantity=400, price=bb - 100,
            time_in_force="0", display="Y", intermarket_sweep_eligibility="N", cl_ord_id="R2")
    venue.wait(lambda: "U" in _types(c))
    acc, rep = (m for m in c.messages() if m["type"] in "AU")
    assert rep["orig_user_ref_num"] == 1 and rep["user_ref_num"] == 2
    assert rep["order_reference_number"] != acc["order_reference_number"]
    assert (rep["quantity"], rep["price"], rep["order_state"]) == (400, bb - 100, "L")
    live, = venue.orders.orders()
    assert live["user_ref_num"] == 2 and live["ref"] == rep["order_reference_number"]


def test_ioc_remainder_canceled(venue):
    c = venue.client()
    bb = venue.book()["bids"][0][0]
    enter(c, 1, "B", 100, venue.sym, bb, tif="3")
    venue.wait(lambda: "C" in _types(c))
    assert _types(c)[-2:] == ["A", "C"] and c.messages()[-1]["reason"] == "I"
    assert venue.orders.orders() == []


def test_market_order_sweeps_and_cancels_the_rest(venue):
    c = venue.client()
    ask = venue.book()["asks"][0]
    enter(c, 1, "B", ask[1], venue.sym, 0x7FFFFFFF)
    venue.wait(lambda: sum(m.get("quantity", 0) for m in c.messages() if m["type"] == "E")
               == ask[1])
    acc = next(m for m in c.messages() if m["type"] == "A")
    assert acc["time_in_force"] == "3"  # accepted as IOC at the ladder's far end


def test_mass_cancel(venue):
    c = venue.client()
    bb = venue.book()["bids"][0][0]
    enter(c, 1, "B", 100, venue.sym, bb - 100)
    enter(c, 2, "B", 100, venue.sim.symbols[1], venue.sim.books()[2]["bids"][0][0] - 100)
    c.order("C", user_ref_num=3, firm="ABCD", symbol="")
    venue.wait(lambda: "X" in _types(c))
    assert _types(c)[-3:] == ["C", "C", "X"]
    assert venue.orders.orders() == [] and c.messages()[-1]["firm"] == "ABCD"


def test_self_match_prevention_cancels_the_incoming_rest(venue):
    c = venue.client()
    bid = venue.book()["bids"][0]
    enter(c, 1, "B", 100, venue.sym, bid[0])  # rests at the tail of the best bid
    enter(c, 2, "S", bid[1] + 500, venue.sym, bid[0])
    venue.wait(lambda: _types(c).count("C") == 1)
    last = c.messages()[-1]
    assert (last["type"], last["user_ref_num"], last["reason"], last["quantity"]) == (
        "C", 2, "Q", 500)
    executed = sum(m["quantity"] for m in c.messages() if m["type"] == "E")
    assert executed == bid[1]  # the generated orders ahead of ours, not ours
    assert venue.orders.orders()[0]["user_ref_num"] == 1


def test_stale_user_ref_num_ignored_and_logged(venue, caplog):
    c = venue.client()
    bb = venue.book()["bids"][0][0]
    with caplog.at_level(logging.INFO, "tickpath.venue.order_entry"):
        enter(c, 5, "B", 100, venue.sym, bb - 100)
        enter(c, 5, "B", 100, venue.sym, bb - 100)
        enter(c, 4, "B", 100, venue.sym, bb - 100)
        c.order("Q")
        venue.wait(lambda: "Q" in _types(c))
    assert _types(c).count("A") == 1 and c.messages()[-1]["next_user_ref_num"] == 6
    assert "ignored as the specification says" in caplog.text


def test_reconnect_from_a_sequence_number(venue):
    c = venue.client()
    bb = venue.book()["bids"][0][0]
    for k in range(1, 4):
        enter(c, k, "B", 100, venue.sym, bb - 100 * k)
    venue.wait(lambda: _types(c).count("A") == 3)
    first = [p.payload for p in c.packets if p.type == "S"]
    c.close()
    venue.clients.remove(c)
    venue.wait(lambda: venue.server.accounts[0].conn is None)
    again = venue.client(seq=3)
    venue.wait(lambda: len(again.packets) >= 3)
    assert soupbintcp.decode_packet(again.packets[0])["sequence_number"] == 3
    assert [p.payload for p in again.packets[1:] if p.type == "S"] == first[2:]
    enter(again, 4, "B", 100, venue.sym, bb - 400)  # then live messages
    venue.wait(lambda: _types(again).count("A") == 3)
    # sequence 0: only new messages
    again.close()
    venue.clients.remove(again)
    venue.wait(lambda: venue.server.accounts[0].conn is None)
    fresh = venue.client(seq=0)
    venue.wait(lambda: bool(fresh.packets))
    assert soupbintcp.decode_packet(fresh.packets[0])["sequence_number"] == 6
    assert fresh.types() == "A"


def test_heartbeat_after_a_second_of_silence():
    v = Venue(heartbeat_s=1.0)
    try:
        c = v.client()
        v.wait(lambda: "H" in c.types())
        assert c.types().startswith("AS")
    finally:
        v.close()


def test_silent_client_dropped(caplog):
    v = Venue(timeout_s=0.2)
    try:
        with caplog.at_level(logging.WARNING, "tickpath.venue.order_entry"):
            c = v.client()
            v.wait(lambda: c.closed)
        assert "silent for" in caplog.text and "dropped" in caplog.text
        assert v.server.stats()["dropped"] == 1
    finally:
        v.close()


@pytest.mark.parametrize(("packet", "reason"), [
    (soupbintcp.unsequenced(b"W" + bytes(10)), "unknown message type"),
    (soupbintcp.unsequenced(b"X" + bytes(5)), "shorter than its type's fixed part"),
    (b"\x00\x00", "packet length 0"),
    (b"\x00\x01Q", "unknown SoupBinTCP packet type"),
    (soupbintcp.encode_packet("H"), "not one a client sends"),
])
def test_malformed_inbound_closes_with_a_logged_reason(venue, caplog, packet, reason):
    c = venue.client()
    bb = venue.book()["bids"][0][0]
    with caplog.at_level(logging.ERROR, "tickpath.venue.order_entry"):
        good = soupbintcp.unsequenced(b"")[:0]
        enter(c, 1, "B", 100, venue.sym, bb - 100)
        c.send(good + packet + soupbintcp.unsequenced(b"O" + bytes(46)))
        venue.wait(lambda: c.closed)
    assert reason in caplog.text and "account ALICE" in caplog.text
    offset = 49 + 50  # the login, then the good Enter Order (3 + 47)
    assert f"stream offset {offset}" in caplog.text or f"stream offset {offset + 3}" in caplog.text
    assert len(venue.orders.orders()) == 1  # the good order before it stands, nothing after


def test_end_of_session(venue):
    c = venue.client()
    venue.wait(lambda: len(c.packets) >= 2)
    venue.server.end_session()
    venue.wait(lambda: c.closed)
    assert c.types().endswith("SZ") and c.messages()[-1]["event_code"] == "E"
    late = venue.client()
    venue.wait(lambda: late.closed)
    assert late.types() == "J" and late.packets[0].payload == b"S"


def test_accepted_sockets_have_nodelay(venue):
    venue.client()
    conn = venue.server._conns[0]
    assert conn.sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
