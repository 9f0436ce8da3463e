"""The order-entry session against a scripted venue on loopback: login, orders both ways,
heartbeats, and every fault: rejected login, dropped connection, stale venue, gaps, replayed
duplicates, malformed messages, End of Session, a full journal disk. No order may be lost or
sent twice: checked against the journal and the venue's own record of what it received."""

from __future__ import annotations

import logging
import time

import numpy as np
import pytest
from numba import njit

from tickpath.codec.ouch50 import symbol_code
from tickpath.codec.soupbintcp import SoupFramer
from tickpath.gateway.journal import Kind, read_records
from tickpath.gateway.layout import OrderState, Total
from tickpath.gateway.session import (
    LoginRejected,
    OrderRefused,
    OrderSession,
    S,
    SessionError,
    push,
    send_enter,
    session_poll,
)
from tickpath.telemetry.nclock import realtime_ns

from .venue_script import ScriptedVenue

AAPL = 3


@pytest.fixture
def venue():
    v = ScriptedVenue()
    yield v
    v.close()


def session(venue, tmp_path, **kw) -> OrderSession:
    kw.setdefault("journal", tmp_path / "orders.journal")
    kw.setdefault("stale_s", 2.0)
    kw.setdefault("heartbeat_s", 0.05)
    return OrderSession("127.0.0.1", venue.port, kw.pop("username", "TRADER"),
                        kw.pop("password", "secret"), capacity=256, instruments=16, **kw)


def until(s: OrderSession, cond, timeout: float = 3.0) -> None:
    end = time.monotonic() + timeout
    while not cond():
        if time.monotonic() > end:
            raise AssertionError("condition not reached in time")
        s.poll()
        time.sleep(0.0005)


def state(s: OrderSession, ur: int) -> OrderState:
    return OrderState(int(s.order(ur)["state"]))


def no_order_lost_or_doubled(s: OrderSession, venue: ScriptedVenue) -> None:
    """Every order the venue received was journaled first, none arrived twice, and every
    journaled order reached the venue unless it is in doubt or was closed locally."""
    recs = read_records(s.journal.path)
    journaled = list(recs[recs["kind"] == Kind.ENTER]["user_ref"])
    local = set(recs[recs["kind"] == Kind.LOCAL_REJECT]["user_ref"])
    got = venue.entered()
    assert len(got) == len(set(got)), "an order reached the venue twice"
    assert set(got) <= set(journaled), "an order was sent without being journaled"
    assert set(journaled) - set(got) <= set(s.in_doubt()) | local
    assert len(journaled) == len(set(journaled))


def test_orders_fills_cancel_replace_and_heartbeats(venue, tmp_path):
    with session(venue, tmp_path) as s:
        s.connect()
        buy = s.enter(AAPL, "AAPL", "B", 100, 1_900_000)
        sell = s.enter(AAPL, "AAPL", "S", 50, 1_950_000)
        until(s, lambda: state(s, buy) == state(s, sell) == OrderState.ACCEPTED)
        venue.execute(buy, 40, 1_899_000)
        until(s, lambda: state(s, buy) == OrderState.PARTIAL)
        new = s.replace(buy, 100, 1_901_000)
        until(s, lambda: state(s, new) == OrderState.ACCEPTED)
        assert state(s, buy) == OrderState.REPLACED and s.order(new)["leaves"] == 60
        s.cancel(sell)
        until(s, lambda: state(s, sell) == OrderState.CANCELED)
        p = s.positions[AAPL]
        assert (p["position"], p["cash"]) == (40, -40 * 1_899_000)
        assert (p["open_buy"], p["open_sell"]) == (60, 0)
        assert p["open_buy_notional"] == 60 * 1_901_000
        assert s.totals[Total.LAST_SEQ] == len(venue.log) == 5
        assert s.totals[Total.OPEN_ORDERS] == 1
        # idle: we send Client Heartbeats, the venue's keep us from going stale
        hb = venue.client_heartbeats
        until(s, lambda: venue.client_heartbeats >= hb + 2 and s.state[S.HEARTBEATS_IN] >= 2)
        assert s.reconnects == 0
        no_order_lost_or_doubled(s, venue)
    assert venue.logouts == 1


def test_mass_cancel(venue, tmp_path):
    with session(venue, tmp_path, firm="TPTH") as s:
        s.connect()
        refs = [s.enter(AAPL, "AAPL", "B", 10 + i, 1_000_000) for i in range(3)]
        until(s, lambda: all(state(s, r) == OrderState.ACCEPTED for r in refs))
        mc = s.mass_cancel(AAPL)
        assert mc == refs[-1] + 1
        assert all(state(s, r) == OrderState.CANCEL_PENDING for r in refs)
        until(s, lambda: all(state(s, r) == OrderState.CANCELED for r in refs))
        assert venue.received[-1]["type"] == "C" and venue.received[-1]["firm"] == "TPTH"
        assert s.totals[Total.OPEN_ORDERS] == 0 and s.positions[AAPL]["open_buy"] == 0


def test_warm_up_changes_nothing_and_leaves_nothing_to_compile_after_login(
        venue, tmp_path, new_signatures):
    """What the session calls from Python once logged in (the SESSION record, sends, polls,
    Mass Cancel) is compiled before the first login: a compile after it would stop the
    trader's reads and heartbeats. The warm-up itself journals, sends and changes nothing."""
    with session(venue, tmp_path, firm="TPTH") as s:
        state0, totals0 = s.state.copy(), s.totals.copy()
        s.warm_up()
        assert read_records(s.journal.path).size == 0 and venue.received == []
        assert (s.state == state0).all() and (s.totals == totals0).all()
        SoupFramer().feed(b"")  # the scripted venue's own reader, warm before the mark
        new_signatures()  # the mark
        s.connect()
        buy = s.enter(AAPL, "AAPL", "B", 100, 1_900_000)
        sell = s.enter(AAPL, "AAPL", "S", 50, 1_950_000)
        until(s, lambda: state(s, buy) == state(s, sell) == OrderState.ACCEPTED)
        venue.execute(buy, 40, 1_899_000)
        until(s, lambda: state(s, buy) == OrderState.PARTIAL)
        new = s.replace(buy, 100, 1_901_000)
        s.cancel(sell)
        until(s, lambda: state(s, new) == OrderState.ACCEPTED)
        s.mass_cancel(AAPL)
        until(s, lambda: state(s, new) == OrderState.CANCELED)
        assert new_signatures() == {}


@pytest.mark.parametrize(("code", "meaning"), [("A", "not authorized"),
                                               ("S", "session not available")])
def test_login_rejected_names_the_code(venue, tmp_path, code, meaning):
    venue.reject_login = code
    s = session(venue, tmp_path)
    with pytest.raises(LoginRejected, match=f"code '{code}': {meaning}"):
        s.connect()
    assert not s.connected
    s.close()


def test_bad_password_is_refused(venue, tmp_path):
    s = session(venue, tmp_path, password="wrong")
    with pytest.raises(LoginRejected, match="not authorized"):
        s.connect()
    s.close()


def test_dropped_connection_reconnects_from_the_next_sequence(venue, tmp_path, caplog):
    with session(venue, tmp_path) as s:
        s.connect()
        a = s.enter(AAPL, "AAPL", "B", 100, 1_000_000)
        until(s, lambda: state(s, a) == OrderState.ACCEPTED)
        venue.drop()
        venue.execute(a, 30)  # while we are away: comes with the replay
        with caplog.at_level(logging.WARNING):
            until(s, lambda: s.reconnects == 1)
        assert "connection closed by the venue; reconnecting from sequence 2" in caplog.text
        until(s, lambda: state(s, a) == OrderState.PARTIAL)
        assert venue.logins == [1, 2]
        b = s.enter(AAPL, "AAPL", "S", 10, 1_010_000)
        until(s, lambda: state(s, b) == OrderState.ACCEPTED)
        assert s.positions[AAPL]["position"] == 30
        no_order_lost_or_doubled(s, venue)


def test_stale_venue_is_dropped_and_reconnected(venue, tmp_path, caplog):
    with session(venue, tmp_path, stale_s=0.25) as s:
        s.connect()
        a = s.enter(AAPL, "AAPL", "B", 100, 1_000_000)
        until(s, lambda: state(s, a) == OrderState.ACCEPTED)
        venue.heartbeats = False
        with caplog.at_level(logging.WARNING):
            until(s, lambda: s.reconnects >= 1)
        venue.heartbeats = True
        assert "venue silent for more than 0.25 s (stale)" in caplog.text
        assert venue.connections >= 2 and venue.logins[-1] == 2
        venue.execute(a, 100)
        until(s, lambda: state(s, a) == OrderState.FILLED)
        no_order_lost_or_doubled(s, venue)


def test_replayed_duplicates_are_skipped(venue, tmp_path):
    with session(venue, tmp_path) as s:
        s.connect()
        refs = [s.enter(AAPL, "AAPL", "B", 10, 1_000_000) for _ in range(3)]
        venue.execute(refs[0], 5)
        until(s, lambda: s.totals[Total.LAST_SEQ] == 4)
        before = (s.orders.copy(), s.positions.copy(), s.totals.copy())
        venue.replay_back = 3  # the venue starts three messages before what we ask
        venue.drop()
        until(s, lambda: s.reconnects == 1 and s.state[S.DUPLICATES] == 3)
        assert venue.logins[-1] == 5
        for x, y in zip(before, (s.orders, s.positions, s.totals), strict=True):
            assert np.array_equal(x, y)
        venue.execute(refs[1], 10)
        until(s, lambda: state(s, refs[1]) == OrderState.FILLED)
        assert s.totals[Total.FILLS] == 2


def test_a_gap_at_login_reconnects_asking_for_the_expected_sequence(venue, tmp_path, caplog):
    with session(venue, tmp_path) as s:
        s.connect()
        a = s.enter(AAPL, "AAPL", "B", 10, 1_000_000)
        until(s, lambda: s.totals[Total.LAST_SEQ] == 1)
        venue.drop()
        venue.execute(a, 2)  # while we are away
        venue.execute(a, 3)
        venue.gap_on_login, venue.gap_logins = 1, 1  # one login skips a message
        with caplog.at_level(logging.ERROR):
            until(s, lambda: s.reconnects == 1 and s.totals[Total.LAST_SEQ] == 3)
        assert "Login Accepted starts at sequence 3, we need 2" in caplog.text
        assert venue.logins[-2:] == [2, 2]
        assert s.order(a)["filled"] == 5


def test_a_venue_that_keeps_skipping_is_an_error(venue, tmp_path):
    s = session(venue, tmp_path, max_reconnects=1)
    venue.gap_on_login = 4
    with pytest.raises(SessionError, match=r"starts at sequence 5, we need 1: messages 1..4 "
                                           r"would be lost"):
        s.connect()
    s.close()


def test_malformed_message_is_an_error_naming_sequence_and_offset(venue, tmp_path):
    with session(venue, tmp_path) as s:
        s.connect()
        a = s.enter(AAPL, "AAPL", "B", 10, 1_000_000)
        until(s, lambda: s.totals[Total.LAST_SEQ] == 1)
        venue.push_malformed()
        with pytest.raises(SessionError, match=r"malformed OUCH message, sequence 2, at stream "
                                               r"offset (\d+): .*shorter than its type's fixed"
                           ) as err:
            until(s, lambda: False)
        # the stream: Login Accepted (33 bytes), Order Accepted (3 + 64), the heartbeats
        # before the bad packet (3 each), then its header (3): the OUCH message starts there
        want = 33 + 67 + 3 * int(s.state[S.HEARTBEATS_IN]) + 3
        assert f"offset {want}:" in str(err.value)
        assert s.totals[Total.LAST_SEQ] == 1 and state(s, a) == OrderState.ACCEPTED


def test_end_of_session(venue, tmp_path):
    with session(venue, tmp_path) as s:
        s.connect()
        venue.end_session()
        until(s, lambda: s.ended)
        assert not s.connected and s.poll() == 0


def test_full_journal_disk_sends_nothing(venue, tmp_path):
    """The journal records the venue's session at login: a journal that cannot be written
    refuses the login itself, before any order could be sent."""
    with session(venue, tmp_path, journal="/dev/full") as s:
        with pytest.raises(Exception, match="No space left on device"):
            s.connect()
        assert not s.connected and s.journal.failed
        with pytest.raises(OrderRefused, match="not connected"):
            s.enter(AAPL, "AAPL", "B", 10, 1_000_000)
        assert venue.received == []
        assert s.totals[Total.NEXT_USER_REF] == 1 and s.totals[Total.ORDERS] == 0
        assert not s.orders["user_ref"].any()


@njit(nogil=True)
def _engine_loop(g, n, symbol, now_ns):
    """What an engine's stage does: send from compiled code, poll until the venue answered."""
    first = 0
    for i in range(n):
        # (int64s, not literal constants: each set of literals would compile send_enter again)
        ur = send_enter(g, np.int64(AAPL), symbol, np.int64(66), 10 + i, np.int64(1_000_000),
                        np.int64(48), i, now_ns + i)
        if ur < 0:
            return ur, 0
        first = ur if first == 0 else first
    applied = 0
    for _ in range(2_000_000):
        got = session_poll(g, realtime_ns())
        if got < 0:
            return got, applied
        applied += got
        if applied == n:
            break
    return first, applied


def test_compiled_entry_points_from_a_jitted_loop(venue, tmp_path):
    with session(venue, tmp_path) as s:
        s.connect()
        first, applied = _engine_loop(s.arrays, 5, symbol_code("AAPL"), realtime_ns())
        assert first == 1 and applied == 5
        assert [state(s, ur) for ur in range(1, 6)] == [OrderState.ACCEPTED] * 5
        assert venue.entered() == [1, 2, 3, 4, 5]
        assert [m["quantity"] for m in venue.received] == [10, 11, 12, 13, 14]
        # ClOrdID names the trigger (14 digits) when there is one, else the user_ref
        assert [m["cl_ord_id"].strip() for m in venue.received] == [
            "1", "00000000000001", "00000000000002", "00000000000003", "00000000000004"]


@njit(nogil=True)
def _poll_until_work(g):
    for _ in range(2_000_000):
        got = session_poll(g, realtime_ns())
        if got != 0:
            return got
    return 0


def test_each_poll_lists_the_orders_it_changed(venue, tmp_path):
    with session(venue, tmp_path) as s:
        s.connect()
        a = s.enter(AAPL, "AAPL", "B", 100, 1_900_000)
        assert _poll_until_work(s.arrays) == 1
        assert s.state[S.UPDATES] == 1
        slot = int(np.flatnonzero(s.orders["user_ref"] == a)[0])
        assert s.arrays.updates[0].tolist() == [slot, ord("A")]
        venue.execute(a, 40, 1_899_000)
        assert _poll_until_work(s.arrays) == 1
        assert s.arrays.updates[0, 1] == ord("E")


@njit(nogil=True)
def _two_held_then_pushed(g, symbol, now_ns):
    g.state[S.MORE] = 1
    a = send_enter(g, np.int64(AAPL), symbol, np.int64(66), np.int64(10), np.int64(1_000_000),
                   np.int64(48), np.int64(7), now_ns)
    b = send_enter(g, np.int64(AAPL), symbol, np.int64(83), np.int64(10), np.int64(1_100_000),
                   np.int64(48), np.int64(7), now_ns)
    return a, b, push(g), g.state[S.CORKED], g.state[S.MORE]


def test_orders_sent_with_more_are_held_then_pushed_together(venue, tmp_path):
    """Sends with ``state[MORE]`` carry MSG_MORE (the kernel holds them for one segment);
    push() sends what is held, and both orders reach the venue."""
    with session(venue, tmp_path) as s:
        s.connect()
        a, b, pushed, corked, more = _two_held_then_pushed(s.arrays, symbol_code("AAPL"),
                                                           realtime_ns())
        assert (a, b, pushed, corked, more) == (1, 2, 0, 0, 0)
        until(s, lambda: len(venue.entered()) == 2)
        assert venue.entered() == [1, 2]
