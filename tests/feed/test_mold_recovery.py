"""MoldUDP64 gap recovery in the ITCH feed handler (ItchFeed + MoldRecovery).

A small re-request server lives here (plain Python, UDP on 127.0.0.1): it keeps the
messages it published by sequence number and answers a Request Packet (session 10 bytes,
first sequence u64, count u16, big-endian) with one downstream packet of as many of them as
fit, unicast back to the asking socket. The tests drive it turn by turn (serve what was
asked, then give the handler its idle turn), so nothing depends on how long anything takes.

Books are compared with the books the same messages give in order (a fresh handler), so a
message applied twice, skipped or out of order shows as a difference.
"""

from __future__ import annotations

import random
import select
import socket

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reference.harness import snapshot
from tickpath.book import BookStore
from tickpath.codec.itch50.message import encode
from tickpath.feed.itch import ItchFeed, ItchHandler
from tickpath.feed.moldudp64 import MoldSession, pack_packets, session_bytes
from tickpath.feed.moldudp64 import _recovery as mr
from tickpath.feed.moldudp64.layout import (
    FOLLOW_AFTER,
    N_RECOVERY,
    RECOVERING,
    REQUEST_BUF,
    SLOT_COLUMNS,
    STALE,
    Counter,
    Recovery,
)
from tickpath.feed.moldudp64.recovery import MoldRecovery, parse_hostport

SESSION = "RECOVER001"
NS = 1_000_000_000


# -- a stream whose books depend on every message and on their order -------------------------

def stream(n: int, seed: int = 7) -> list[bytes]:
    """``n`` ITCH messages on three instruments: adds, executions, cancels, deletes and
    replaces of live orders (each valid only after the messages before it)."""
    rnd = random.Random(seed)
    out = [encode("R", stock_locate=loc, stock=f"S{loc}") for loc in (1, 2, 3)]
    live: dict[int, list] = {}
    ref = 1
    while len(out) < n:
        k = rnd.random()
        if k < 0.45 or len(live) < 3:
            loc, side = rnd.randint(1, 3), rnd.choice("BS")
            px = 10_000 + rnd.randint(-20, 20) * 100 + (0 if side == "B" else 5_000)
            sh = rnd.randint(1, 9) * 100
            out.append(encode("A", stock_locate=loc, order_reference_number=ref,
                              buy_sell_indicator=side, shares=sh, stock=f"S{loc}", price=px))
            live[ref] = [loc, side, sh, px]
            ref += 1
            continue
        r = rnd.choice(sorted(live))
        loc, side, sh, px = live[r]
        if k < 0.6:
            q = rnd.randint(1, sh)
            out.append(encode("E", stock_locate=loc, order_reference_number=r,
                              executed_shares=q, match_number=len(out)))
        elif k < 0.75:
            q = rnd.randint(1, sh)
            out.append(encode("X", stock_locate=loc, order_reference_number=r,
                              cancelled_shares=q))
        elif k < 0.85:
            out.append(encode("D", stock_locate=loc, order_reference_number=r))
            q = sh
        else:
            nsh, npx = rnd.randint(1, 9) * 100, px + rnd.randint(-3, 3) * 100
            out.append(encode("U", stock_locate=loc, original_order_reference_number=r,
                              new_order_reference_number=ref, shares=nsh, price=npx))
            del live[r]
            live[ref] = [loc, side, nsh, npx]
            ref += 1
            continue
        live[r][2] -= q
        if live[r][2] == 0:
            del live[r]
    return out


def blocks(msgs: list[bytes]) -> np.ndarray:
    return np.frombuffer(b"".join(len(m).to_bytes(2, "big") + m for m in msgs), np.uint8)


def packets(msgs: list[bytes], first: int = 1, max_payload: int = 140) -> list[bytes]:
    out, bounds, _ = pack_packets(blocks(msgs), SESSION, first, max_payload=max_payload)
    return [bytes(out[bounds[i]:bounds[i + 1]]) for i in range(len(bounds) - 1)]


def heartbeat(seq: int) -> bytes:
    return SESSION.encode().ljust(10) + seq.to_bytes(8, "big") + bytes(2)


def seq_of(pkt: bytes) -> tuple[int, int]:
    return int.from_bytes(pkt[10:18], "big"), int.from_bytes(pkt[18:20], "big")


MSGS = stream(240)
PKTS = packets(MSGS)
END = 1 + len(MSGS)


def new_feed(recovery: MoldRecovery | None = None) -> ItchFeed:
    books = BookStore(max_orders=1 << 10, errors="skip")
    return ItchFeed(ItchHandler(books, errors="skip"), MoldSession(expected=1), max_samples=16,
                    recovery=recovery if recovery is not None else MoldRecovery())


def give(feed: ItchFeed, pkt: bytes) -> int:
    return feed.on_datagram(np.frombuffer(pkt, np.uint8).copy(), len(pkt), 0)


def books_after(n_msgs: int) -> dict:
    """The books of the first ``n_msgs`` messages, given in order."""
    f = new_feed()
    for p in packets(MSGS[:n_msgs]):
        give(f, p)
    return snapshot(f.books)


IN_ORDER = None


def in_order() -> dict:
    global IN_ORDER
    if IN_ORDER is None:
        IN_ORDER = books_after(len(MSGS))
    return IN_ORDER


# -- the re-request server ---------------------------------------------------------------------

class RerequestServer:
    """Keeps ``msgs`` (sequence numbers from 1) and answers Request Packets per MoldUDP64:
    one downstream packet with as many of the asked-for messages as fit in ``max_payload``.
    ``history``: only the last that many messages are served; ``deaf``: requests to ignore
    (counted) before answering."""

    def __init__(self, msgs: list[bytes], session: str = SESSION, max_payload: int = 1400,
                 history: int | None = None, deaf: int = 0) -> None:
        self.msgs = msgs
        self.session = session_bytes(session).tobytes()
        self.max_payload = max_payload
        self.history = history
        self.deaf = deaf
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.setblocking(False)
        self.requests: list[tuple[int, int]] = []
        self.answered = 0

    @property
    def address(self) -> tuple[str, int]:
        return self.sock.getsockname()

    def answer(self, first: int, count: int) -> bytes | None:
        last = len(self.msgs)
        oldest = 1 if self.history is None else max(1, last - self.history + 1)
        if first < oldest or first > last or count == 0:
            return None
        body, n, size = b"", 0, 20
        for s in range(first, min(first + count, last + 1)):
            m = self.msgs[s - 1]
            if size + 2 + len(m) > self.max_payload and n:
                break
            body += len(m).to_bytes(2, "big") + m
            size += 2 + len(m)
            n += 1
        return self.session + first.to_bytes(8, "big") + n.to_bytes(2, "big") + body

    def serve(self, wait_for: int = 0) -> int:
        """Answer every request waiting; with ``wait_for``, until that many were seen in all
        (bounded wait: loopback delivers as the request is sent). Returns requests served."""
        done = 0
        while True:
            if len(self.requests) < wait_for:
                select.select([self.sock], [], [], 2.0)
            try:
                data, peer = self.sock.recvfrom(2048)
            except BlockingIOError:
                if len(self.requests) >= wait_for:
                    return done
                raise AssertionError(f"expected {wait_for} requests, got "
                                     f"{self.requests}") from None
            assert len(data) == 20 and data[:10] == self.session, data
            first, count = int.from_bytes(data[10:18], "big"), int.from_bytes(data[18:20], "big")
            self.requests.append((first, count))
            done += 1
            if self.deaf > 0:
                self.deaf -= 1
                continue
            pkt = self.answer(first, count)
            if pkt is not None:
                self.sock.sendto(pkt, peer)
                self.answered += 1

    def close(self) -> None:
        self.sock.close()


@pytest.fixture
def server():
    s = RerequestServer(MSGS)
    yield s
    s.close()


def with_server(server: RerequestServer, **kw) -> ItchFeed:
    """A feed whose requests go from its own socket (answers read by the handler)."""
    f = new_feed(MoldRecovery(server.address, timeout_s=30.0, **kw))
    f.recovery.open_socket()
    f._state = None
    return f


def pump(feed: ItchFeed, server: RerequestServer, turns: int = 200) -> None:
    """Serve requests and give the handler idle turns until it is exact (bounded)."""
    rec = feed.recovery.rec

    def done() -> bool:
        return feed.exact or feed.recovery.state == "stale"

    for _ in range(turns):
        if done():
            return
        server.serve(wait_for=int(rec[Recovery.REQUESTS]))
        for _ in range(100):  # answers on loopback are there as soon as they were sent
            if done() or int(rec[Recovery.ANSWERS]) >= server.answered:
                break
            select.select([feed.recovery.own], [], [], 0.05)
            feed.on_idle()
        feed.on_idle()


def rec(feed: ItchFeed) -> dict:
    return {k: v for k, v in feed.recovery_stats().items() if v and k not in (
        "gap_since_ns", "request_ns", "last_recovery_ns", "max_recovery_ns", "timeout_ns",
        "max_attempts", "max_request", "send_fd", "poll_fd", "addr_len", "request_seq")}


# -- behaviour ---------------------------------------------------------------------------------

def test_in_order_stays_exact_and_asks_nothing(server):
    f = with_server(server)
    for p in PKTS:
        give(f, p)
    assert snapshot(f.books) == in_order()
    assert f.exact and server.requests == []
    assert f.recovery_stats()["gaps_opened"] == 0


def test_a_lost_packet_is_asked_for_and_the_books_come_out_exact(server):
    f = with_server(server)
    lost = 5
    for i, p in enumerate(PKTS):
        if i != lost:
            give(f, p)
        if i == lost + 1:  # the next packet opened the gap: held, and the hole asked for
            assert f.recovery.state == "recovering"
            assert f.recovery_stats()["held"] == 1
    pump(f, server)
    first, count = seq_of(PKTS[lost])
    assert server.requests[0] == (first, count)
    assert snapshot(f.books) == in_order()
    r = f.recovery_stats()
    assert r["state"] == "exact" and r["gaps_opened"] == 1 and r["gaps_repaired"] == 1
    assert r["messages_requested"] == count and r["messages_received"] == count
    assert r["samples"] == 1 and f.recovery.recovery_ns().shape == (1,)
    assert f.session.counters[Counter.EXPECTED] == END
    assert f.messages == len(MSGS)


def test_a_late_original_fills_the_gap_and_its_retransmission_is_a_duplicate(server):
    f = with_server(server)
    order = list(range(len(PKTS)))
    order[3], order[4] = order[4], order[3]  # 4 arrives before 3
    for i in order:
        give(f, PKTS[i])
    assert f.exact  # the late original repaired it before any answer
    pump(f, server)
    server.serve()
    for _ in range(5):
        f.on_idle()
    assert snapshot(f.books) == in_order()
    assert f.recovery_stats()["gaps_repaired"] == 1


def test_an_unanswered_request_is_sent_again_after_the_timeout():
    srv = RerequestServer(MSGS, deaf=1)
    try:
        f = with_server(srv)
        for i, p in enumerate(PKTS):
            if i != 2:
                give(f, p)
        srv.serve(wait_for=1)
        f.on_idle()  # not due yet: the timeout has not passed
        assert f.recovery_stats()["requests"] == 1
        f.on_idle(int(f.recovery.rec[Recovery.REQUEST_NS]) + 31 * NS)
        assert f.recovery_stats()["requests"] == 2
        pump(f, srv)
        assert srv.requests[0] == srv.requests[1] == seq_of(PKTS[2])
        assert snapshot(f.books) == in_order()
    finally:
        srv.close()


def test_no_answer_after_the_last_attempt_gives_up_stale():
    srv = RerequestServer(MSGS, deaf=10)
    try:
        f = new_feed(MoldRecovery(srv.address, timeout_s=1.0, max_attempts=3))
        f.recovery.open_socket()
        f._state = None
        for p in PKTS[:4]:
            give(f, p)
        before = snapshot(f.books)
        for p in PKTS[5:]:
            give(f, p)
        t = int(f.recovery.rec[Recovery.REQUEST_NS])
        for k in range(1, 4):
            f.on_idle(t + k * 2 * NS)
        r = f.recovery_stats()
        assert r["state"] == "stale" and r["gave_up"] == 1 and r["gave_up_timeout"] == 1
        assert r["requests"] == 3
        assert snapshot(f.books) == before  # frozen where they were exact
        assert r["exact_upto"] == seq_of(PKTS[4])[0] - 1
        give(f, heartbeat(END))
        give(f, PKTS[-1])  # a stale feed follows the session, applies nothing
        assert snapshot(f.books) == before
    finally:
        srv.close()


def test_a_full_reorder_buffer_gives_up_stale_never_a_wrong_book(server):
    f = with_server(server, max_packets=2)
    for p in PKTS[:6]:
        give(f, p)
    before = snapshot(f.books)
    for p in PKTS[7:12]:
        give(f, p)
    r = f.recovery_stats()
    assert r["state"] == "stale" and r["gave_up_full"] == 1
    assert r["stale_messages"] > 0
    pump(f, server)  # answers to the stale feed change nothing
    assert snapshot(f.books) == before


def test_a_hole_older_than_the_server_keeps_gives_up():
    srv = RerequestServer(MSGS)
    try:
        f = new_feed(MoldRecovery(srv.address, history=5))
        f.recovery.open_socket()
        f._state = None
        for i, p in enumerate(PKTS[:20]):
            if i != 3:
                give(f, p)
        r = f.recovery_stats()
        assert r["state"] == "stale" and r["gave_up_too_old"] == 1
    finally:
        srv.close()


def test_without_a_server_a_gap_waits_for_a_late_packet_then_goes_stale():
    f = new_feed(MoldRecovery(None, timeout_s=1.0, max_attempts=2))
    give(f, PKTS[0])
    give(f, PKTS[2])
    assert f.recovery.state == "recovering"
    give(f, PKTS[1])  # late, not lost
    assert f.exact and f.recovery_stats()["requests"] == 0
    give(f, PKTS[4])
    t = int(f.recovery.rec[Recovery.GAP_SINCE_NS])
    f.on_idle(t + 5 * NS)
    f.on_idle(t + 10 * NS)
    assert f.recovery.state == "stale" and f.recovery_stats()["requests"] == 0


def test_a_heartbeat_beyond_the_expected_sequence_opens_a_gap(server):
    f = with_server(server)
    for p in PKTS[:-2]:
        give(f, p)
    give(f, heartbeat(END))  # the last two packets never came: the heartbeat says so
    assert f.recovery.state == "recovering"
    pump(f, server)
    assert snapshot(f.books) == in_order()


def corrupt(pkt: bytes, block: int) -> bytes:
    """``pkt`` with the type byte of message ``block`` made unknown."""
    p, b = 20, bytearray(pkt)
    for _ in range(block):
        p += 2 + int.from_bytes(pkt[p:p + 2], "big")
    b[p + 2] = ord("z")
    return bytes(b)


def test_a_bad_block_applies_what_came_before_and_asks_for_the_rest(server):
    f = with_server(server)
    k = next(i for i, p in enumerate(PKTS) if seq_of(p)[1] >= 3)
    seq, count = seq_of(PKTS[k])
    for i, p in enumerate(PKTS[:k + 1]):
        give(f, corrupt(p, 1) if i == k else p)
    r = f.recovery_stats()
    assert r["bad_blocks"] == 1 and r["bad_block_messages"] == count - 1
    assert r["bad_block_bytes"] == len(PKTS[k]) - 20 - (2 + len(MSGS[seq - 1]))
    assert f.session.counters[Counter.EXPECTED] == seq + 1  # the good one before it applied
    assert server.serve(wait_for=1) == 1 and server.requests[0] == (seq + 1, count - 1)
    pump(f, server)
    for p in PKTS[k + 1:]:
        give(f, p)
    assert snapshot(f.books) == in_order()


def test_a_bad_block_without_a_server_leaves_the_feed_stale():
    f = new_feed(MoldRecovery(None, timeout_s=1.0, max_attempts=1))
    for i, p in enumerate(PKTS[:8]):
        give(f, corrupt(p, 0) if i == 6 else p)
    f.on_idle(int(f.recovery.rec[Recovery.GAP_SINCE_NS]) + 2 * NS)
    assert f.recovery.state == "stale"
    assert snapshot(f.books) == books_after(seq_of(PKTS[6])[0] - 1)


def test_end_of_session_waits_for_the_hole(server):
    f = with_server(server)
    for i, p in enumerate(PKTS):
        if i != 1:
            give(f, p)
    eos = SESSION.encode().ljust(10) + END.to_bytes(8, "big") + (0xFFFF).to_bytes(2, "big")
    assert give(f, eos) != 1  # END_OF_SESSION only once the books are exact
    pump(f, server)
    assert f.exact and f.ended
    assert snapshot(f.books) == in_order()


# -- any order, duplication and loss, with the server answering --------------------------------

@st.composite
def arrivals(draw):
    """Each packet 0, 1 or 2 times (lost, once, both lines), in any order; a heartbeat last."""
    copies = draw(st.lists(st.integers(0, 2), min_size=len(PKTS), max_size=len(PKTS)))
    seq = [i for i, c in enumerate(copies) for _ in range(c)]
    keys = draw(st.lists(st.floats(0, 1), min_size=len(seq), max_size=len(seq)))
    return [i for _, i in sorted(zip(keys, seq, strict=True))]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(order=arrivals())
def test_any_arrival_order_gives_the_in_order_books(order):
    server = RerequestServer(MSGS)
    f = with_server(server)
    try:
        for i in order:
            give(f, PKTS[i])
            server.serve()
        give(f, heartbeat(END))
        pump(f, server)
        assert f.exact, f.recovery_stats()
        assert snapshot(f.books) == in_order()
        assert f.messages == len(MSGS)  # every message applied exactly once
        assert f.books.counts_by_type() == in_order()["types"]
    finally:
        f.close()
        server.close()


# -- the kernels, on numpy arrays ----------------------------------------------------------------

def arrays(max_packets: int = 4, max_bytes: int = 256):
    r = np.zeros(N_RECOVERY, np.int64)
    r[Recovery.REQUEST_SEQ] = -1
    r[Recovery.TIMEOUT_NS] = 100
    r[Recovery.MAX_ATTEMPTS] = 2
    r[Recovery.MAX_REQUEST] = 0xFFFF
    r[Recovery.SEND_FD] = -1
    r[Recovery.POLL_FD] = -1
    mold = np.zeros(len(Counter), np.int64)
    mold[Counter.EXPECTED] = 1
    return (r, np.zeros(max_bytes, np.uint8), np.zeros((max_packets, SLOT_COLUMNS), np.int64),
            mold)


def u8(b: bytes) -> np.ndarray:
    return np.frombuffer(b, np.uint8).copy()


def test_kernel_hold_take_in_order_and_compact():
    r, held, slots, mold = arrays(max_packets=4, max_bytes=100)
    a, b = u8(b"A" * 40), u8(b"B" * 40)
    assert mr.hold(a, 0, 40, 5, 2, r, held, slots, mold, 10)
    assert r[Recovery.STATE] == RECOVERING and r[Recovery.KNOWN_END] == 7
    assert mr.hold(b, 0, 40, 8, 1, r, held, slots, mold, 11)
    assert mr.hold(a, 0, 40, 5, 2, r, held, slots, mold, 12)  # the other line's copy
    assert r[Recovery.HELD] == 2 and mold[Counter.DUPLICATE_PACKETS] == 1
    assert mr.hole_end(r, slots, 1) == 5
    assert tuple(mr.take_ready(r, slots, 1)) == (-1, 0)
    off, n = mr.take_ready(r, slots, 5)
    assert (off, n) == (0, 40) and bytes(held[off:off + n]) == b"A" * 40
    c = u8(b"C" * 50)  # 80 + 50 > 100: the live packet moves to the front first
    assert mr.hold(c, 0, 50, 10, 3, r, held, slots, mold, 13)
    assert r[Recovery.HELD_BYTES] == 90
    got = {int(slots[i, 0]): bytes(held[slots[i, 2]:slots[i, 2] + slots[i, 3]])
           for i in range(r[Recovery.HELD])}
    assert got == {8: b"B" * 40, 10: b"C" * 50}
    assert not mr.hold(u8(b"D" * 20), 0, 20, 20, 1, r, held, slots, mold, 14)  # full


def test_kernel_requests_due_timeout_and_give_up():
    r, held, slots, mold = arrays()
    mr.hold(u8(bytes(30)), 0, 30, 9, 1, r, held, slots, mold, 0)
    assert tuple(mr.due_request(r, slots, mold, 0)) == (1, 8)
    assert tuple(mr.due_request(r, slots, mold, 50)) == (0, 0)  # asked 50 ns ago
    assert tuple(mr.due_request(r, slots, mold, 100)) == (1, 8)
    assert mr.due_request(r, slots, mold, 200)[1] == -1  # two attempts: gave up
    assert r[Recovery.STATE] == STALE and r[Recovery.GAVE_UP_TIMEOUT] == 1
    assert r[Recovery.HELD] == 0 and r[Recovery.EXACT_UPTO] == 0


def test_kernel_request_packet_layout():
    req = np.zeros(REQUEST_BUF, np.uint8)
    mr.write_request(req, session_bytes(SESSION), 0x0102030405060708, 0x0A0B)
    assert bytes(req[:20]) == SESSION.encode() + bytes(range(1, 9)) + b"\x0a\x0b"


def test_kernel_close_records_the_recovery_time():
    r, held, slots, mold = arrays()
    rtime = np.zeros(2, np.int64)
    mr.open_gap(r, mold, 1_000, 4)
    mr.note_end(r, 5)
    assert not mr.close_if_exact(r, slots, mold, rtime, 2_000)  # 1..4 not applied yet
    mold[Counter.EXPECTED] = 5
    assert mr.close_if_exact(r, slots, mold, rtime, 2_500)
    assert r[Recovery.STATE] == 0 and rtime[0] == 1_500 and r[Recovery.SAMPLES] == 1


def test_retransmit_address_is_checked():
    assert parse_hostport("127.0.0.1:9000") == ("127.0.0.1", 9000)
    with pytest.raises(ValueError, match="HOST:PORT"):
        parse_hostport("9000")
    with pytest.raises(ValueError, match="not a UDP port"):
        MoldRecovery(("127.0.0.1", 0))


def test_the_strategy_is_told_in_stream_order_when_the_books_stop_and_start_being_exact(server):
    """With a ring: a STATUS record (every instrument, not exact) follows the records of what
    was applied before the gap, and one saying exact again follows the records of the
    repair; going stale says not exact once, and nothing is said while nothing changes."""
    import uuid

    from tickpath.engine.feed_stage import tap_wait
    from tickpath.feed.itch.step import TAP_PUBLISHED
    from tickpath.ring import SpscRing
    from tickpath.strategy.records import BOOK, SLOT_SIZE, STATUS, STATUS_EXACT, TOP_DTYPE

    ring = SpscRing.create(f"tp-test-{uuid.uuid4().hex[:8]}", 1 << 12, SLOT_SIZE,
                           policy="drop")
    try:
        books = BookStore(max_orders=1 << 10, errors="skip")
        f = ItchFeed(ItchHandler(books, errors="skip"), MoldSession(expected=1),
                     max_samples=16, tap=(ring.header, ring.words, tap_wait("busy_spin", 0)),
                     recovery=MoldRecovery(server.address, timeout_s=30.0))
        f.recovery.open_socket()
        f._state = None
        give(f, PKTS[0])
        give(f, PKTS[1])
        before = int(f.feed[TAP_PUBLISHED])
        give(f, PKTS[3])  # PKTS[2] lost: a gap
        pump(f, server)
        for p in PKTS[4:8]:
            give(f, p)
        recs = ring.records(TOP_DTYPE)
        kinds = [int(k) for k in recs["kind"]]
        status = [i for i, k in enumerate(kinds) if k == STATUS]
        assert len(status) == 2 and status[0] == before  # right after what came before
        down, up = recs[status[0]], recs[status[1]]
        assert down["locate"] == up["locate"] == -1
        assert (down[TOP_DTYPE.names[STATUS_EXACT]], up[TOP_DTYPE.names[STATUS_EXACT]]) == (0, 1)
        assert status[1] > status[0] + 1 and kinds[status[0] + 1] == BOOK  # the repair first
        assert f.exact
        # given up: told once that the books are not exact, then nothing more
        g = ItchFeed(ItchHandler(BookStore(max_orders=1 << 10, errors="skip"),
                                 errors="skip"), MoldSession(expected=1), max_samples=16,
                     tap=(ring.header, ring.words, tap_wait("busy_spin", 0)),
                     recovery=MoldRecovery(None, timeout_s=1.0, max_attempts=1))
        n0 = int(f.feed[TAP_PUBLISHED])
        give(g, PKTS[0])
        give(g, PKTS[2])
        t = int(g.recovery.rec[Recovery.GAP_SINCE_NS])
        g.on_idle(t + 5 * NS)
        g.on_idle(t + 10 * NS)
        assert g.recovery.state == "stale"
        give(g, PKTS[3])
        new = ring.records(TOP_DTYPE)[n0:]
        told = new[new["kind"] == STATUS]
        assert len(told) == 1 and told[0][TOP_DTYPE.names[STATUS_EXACT]] == 0
    finally:
        ring.unlink()
        ring.close()


# -- a new session (the venue restarted) and a silent feed ------------------------------------

NEW_SESSION = "RESTART002"
NEW_MSGS = stream(150, seed=11)


def new_packets(msgs: list[bytes] = NEW_MSGS) -> list[bytes]:
    out, bounds, _ = pack_packets(blocks(msgs), NEW_SESSION, 1, max_payload=140)
    return [bytes(out[bounds[i]:bounds[i + 1]]) for i in range(len(bounds) - 1)]


def books_of_new_session() -> dict:
    f = new_feed()
    for p in new_packets():
        give(f, p)
    return snapshot(f.books)


def test_a_new_session_empties_the_books_and_is_followed_from_its_first_message():
    """Half a day on one session, then the venue restarts with another: the books are the new
    session's alone; a late packet of the old session changes nothing."""
    f = new_feed()
    for p in PKTS[:len(PKTS) // 2]:
        give(f, p)
    for p in new_packets():
        give(f, p)
    assert snapshot(f.books) == books_of_new_session()
    assert f.exact and f.session.name == NEW_SESSION
    st = f.recovery_stats()
    assert st["sessions"] == 1 and st["retired_session"] == SESSION
    assert f.session.expected == 1 + len(NEW_MSGS)
    c = f.session_stats()
    assert c["session_mismatch"] == 0 and c["packets"] == len(PKTS) // 2 + len(new_packets())
    give(f, PKTS[len(PKTS) // 2])  # the old session's stray: dropped, counted
    assert snapshot(f.books) == books_of_new_session()
    assert f.session_stats()["session_mismatch"] == 1 and f.session.name == NEW_SESSION
    assert f.recovery_stats()["sessions"] == 1


def test_a_stray_packet_of_another_session_is_never_followed():
    """Another feed's packet (or a corrupted name) between the followed session's packets:
    counted, dropped, the books untouched; it takes FOLLOW_AFTER packets of another session
    in a row, none of the followed one between, to follow it."""
    f = new_feed()
    other = new_packets()
    for i, p in enumerate(PKTS):
        give(f, p)
        if i % 7 == 3:
            for q in other[:FOLLOW_AFTER - 1]:  # never enough in a row
                give(f, q)
    assert snapshot(f.books) == in_order() and f.exact and f.session.name == SESSION
    assert f.recovery_stats()["sessions"] == 0
    assert f.session_stats()["session_mismatch"] == (FOLLOW_AFTER - 1) * len(range(3, len(PKTS), 7))


def test_one_packet_is_enough_once_the_followed_session_ended_or_went_silent():
    ended = new_feed()
    for p in PKTS:
        give(ended, p)
    end = SESSION.encode().ljust(10) + END.to_bytes(8, "big") + b"\xff\xff"
    give(ended, end)
    give(ended, new_packets()[0])
    assert ended.session.name == NEW_SESSION and ended.session.expected > 1
    quiet = new_feed(MoldRecovery(silence_s=1.0))
    give(quiet, PKTS[0])
    quiet.on_idle(1_000 * NS)
    quiet.on_idle(1_002 * NS)
    assert quiet.silent
    give(quiet, new_packets()[0])
    assert quiet.session.name == NEW_SESSION and not quiet.silent


def test_sessions_followed_before_are_never_followed_again():
    """A -> B -> C, then packets of A (a stray of the first venue): dropped."""
    f = new_feed()
    give(f, PKTS[0])
    third, bounds, _ = pack_packets(blocks(MSGS[:40]), "THIRD00003", 1, max_payload=140)
    thirds = [bytes(third[bounds[i]:bounds[i + 1]]) for i in range(len(bounds) - 1)]
    for p in new_packets()[:FOLLOW_AFTER] + thirds[:FOLLOW_AFTER]:
        give(f, p)
    assert f.session.name == "THIRD00003" and f.recovery_stats()["sessions"] == 2
    for p in PKTS[1:1 + 2 * FOLLOW_AFTER] + new_packets()[FOLLOW_AFTER:3 * FOLLOW_AFTER]:
        give(f, p)
    assert f.session.name == "THIRD00003" and f.recovery_stats()["sessions"] == 2
    assert f.recovery_stats()["retired_session"] == NEW_SESSION


def test_a_new_session_joined_after_its_start_asks_for_its_beginning():
    """The new session's first packets were lost: its beginning is asked for from its own
    server like any gap, and the books come out exact."""
    server = RerequestServer(NEW_MSGS, session=NEW_SESSION)
    try:
        f = with_server(server)
        for p in PKTS[:5]:
            give(f, p)
        for p in new_packets()[3:]:
            give(f, p)
        assert not f.exact
        pump(f, server)
        assert f.exact and server.requests[0][0] == 1
        assert snapshot(f.books) == books_of_new_session()
    finally:
        server.close()


def test_a_stale_feed_follows_a_new_session_too():
    f = new_feed(MoldRecovery(None, timeout_s=1.0, max_attempts=1))
    give(f, PKTS[0])
    give(f, PKTS[2])
    t = int(f.recovery.rec[Recovery.GAP_SINCE_NS])
    f.on_idle(t + 5 * NS)
    assert f.recovery.state == "stale"
    for p in new_packets():
        give(f, p)
    assert f.exact and snapshot(f.books) == books_of_new_session()


def ring_feed(ring, recovery: MoldRecovery) -> ItchFeed:
    from tickpath.engine.feed_stage import tap_wait

    return ItchFeed(ItchHandler(BookStore(max_orders=1 << 10, errors="skip"), errors="skip"),
                    MoldSession(expected=1), max_samples=16,
                    tap=(ring.header, ring.words, tap_wait("busy_spin", 0)), recovery=recovery)


@pytest.fixture
def ring():
    import uuid

    from tickpath.ring import SpscRing
    from tickpath.strategy.records import SLOT_SIZE

    r = SpscRing.create(f"tp-test-{uuid.uuid4().hex[:8]}", 1 << 12, SLOT_SIZE, policy="drop")
    yield r
    r.unlink()
    r.close()


def test_the_strategy_sees_the_old_books_emptied_before_the_new_session(ring):
    from tickpath.feed.itch.step import TAP_PUBLISHED
    from tickpath.strategy.records import BOOK, TOP_DTYPE

    f = ring_feed(ring, MoldRecovery())
    for p in PKTS[:6]:
        give(f, p)
    n0 = int(f.feed[TAP_PUBLISHED])
    for p in new_packets()[:FOLLOW_AFTER]:
        give(f, p)
    new = ring.records(TOP_DTYPE)[n0:int(f.feed[TAP_PUBLISHED])]
    cleared = new[:3]
    assert list(cleared["kind"]) == [BOOK] * 3 and list(cleared["locate"]) == [1, 2, 3]
    names = TOP_DTYPE.names
    assert all(int(r[n]) == 0 for r in cleared for n in names[2:6])  # both sides empty
    assert f.exact and f.session.name == NEW_SESSION


def test_a_silent_feed_is_reported_until_it_is_heard_from(ring):
    """Nothing (not even a heartbeat) for longer than silence_s: silent, and the strategy
    is told its books are not known to be exact; the next packet ends it. Never silent
    before the first packet or after the end of session."""
    from tickpath.feed.itch.step import TAP_PUBLISHED
    from tickpath.strategy.records import STATUS, STATUS_EXACT, TOP_DTYPE

    f = ring_feed(ring, MoldRecovery(silence_s=1.0))
    t = 1_000 * NS
    f.on_idle(t)
    f.on_idle(t + 5 * NS)
    assert not f.silent  # nothing arrived yet
    give(f, PKTS[0])
    f.on_idle(t + 6 * NS)
    f.on_idle(t + 6 * NS + NS // 2)
    assert not f.silent
    f.on_idle(t + 8 * NS)
    assert f.silent and f.exact and f.recovery_stats()["silences"] == 1
    give(f, heartbeat(int(f.session.expected)))
    assert not f.silent
    recs = ring.records(TOP_DTYPE)[:int(f.feed[TAP_PUBLISHED])]
    told = recs[recs["kind"] == STATUS]
    assert [int(r[TOP_DTYPE.names[STATUS_EXACT]]) for r in told] == [0, 1]
    f.on_idle(t + 20 * NS)
    f.on_idle(t + 30 * NS)
    assert f.silent and f.recovery_stats()["silences"] == 2
    end = SESSION.encode().ljust(10) + int(f.session.expected).to_bytes(8, "big") + b"\xff\xff"
    give(f, end)
    f.on_idle(t + 40 * NS)
    f.on_idle(t + 50 * NS)
    assert not f.silent and f.recovery_stats()["silences"] == 2
