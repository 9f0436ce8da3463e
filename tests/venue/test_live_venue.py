"""The live venue on loopback: client orders appear on the MoldUDP64/ITCH feed (read from a
real UDP socket), the day ends on both the feed and the order-entry sessions, and Wireshark's
SoupBinTCP dissector (tshark) agrees with the packets the server sent."""

from __future__ import annotations

import shutil
import socket
import subprocess
import threading
import time
from pathlib import Path

import numpy as np
import pytest
from soup_client import SoupClient, enter, pump

from tickpath.codec import ouch50
from tickpath.codec.itch50.decode import OK, decode_batch
from tickpath.codec.itch50.layout import EVENT_DTYPE, LENGTHS
from tickpath.feed.itch.glimpse import fetch_snapshot
from tickpath.feed.moldudp64.layout import END_OF_SESSION, HEADER_LEN
from tickpath.venue.live import LiveVenue
from tickpath.venue.records import MAX_FILLS
from tickpath.venue.retransmit import request_packet

ACCOUNTS = ["ALICE:pw1", "BOB:pw2"]


class Feed:
    """A UDP receiver for the venue's MoldUDP64 packets."""

    def __init__(self) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.setblocking(False)
        self.port = self.sock.getsockname()[1]
        self.events: list[np.void] = []
        self.ended = False

    def read(self) -> None:
        while True:
            try:
                pkt = self.sock.recv(65536)
            except BlockingIOError:
                return
            count = int.from_bytes(pkt[18:20], "big")
            if count == END_OF_SESSION:
                self.ended = True
                continue
            blocks = np.frombuffer(pkt[HEADER_LEN:], np.uint8)
            out = np.zeros(count, EVENT_DTYPE)
            n, status, _ = decode_batch(blocks, 0, blocks.size, LENGTHS, out, 0, 0)
            assert status == OK and n == count
            self.events.extend(out)

    def find(self, type_: str, ref: int) -> list[np.void]:
        return [e for e in self.events if e["type"] == ord(type_) and e["ref"] == ref]


@pytest.fixture
def live():
    feed = Feed()
    venue = LiveVenue(symbols=4, messages=100_000, seed=9, feed_port=feed.port,
                      accounts=ACCOUNTS, quiet=True, opening_messages=400, rate=None)
    venue.start()
    yield venue, feed
    venue.close()
    feed.sock.close()


def _turn(venue: LiveVenue, feed: Feed):
    def turn() -> None:
        venue.turn()
        feed.read()
    return turn


def test_client_orders_on_the_itch_feed(live):
    venue, feed = live
    a = SoupClient(venue.orders_port)
    b = SoupClient(venue.orders_port)
    a.login("ALICE", "pw1")
    b.login("BOB", "pw2")
    turn = _turn(venue, feed)
    pump(turn, [a, b], lambda: "A" in a.types() and "A" in b.types())
    book = venue.sim.books()[1]
    sym = venue.sim.symbols[0]
    price = book["asks"][0][0] - 100 if book["asks"][0][0] - book["bids"][0][0] > 100 \
        else book["bids"][0][0]
    enter(a, 1, "B", 200, sym, price)
    pump(turn, [a], lambda: any(m["type"] == "A" for m in a.messages()))
    ref = next(m for m in a.messages() if m["type"] == "A")["order_reference_number"]
    pump(turn, [a], lambda: bool(feed.find("A", ref)))
    add, = feed.find("A", ref)
    assert (add["price"], add["shares"], chr(add["side"]), add["locate"]) == (price, 200, "B", 1)
    # Bob sells into it: the E on the feed names our order
    enter(b, 1, "S", 10_000, sym, price, tif="3")
    pump(turn, [a, b], lambda: bool(feed.find("E", ref)))
    ex, = feed.find("E", ref)
    ours = next(m for m in a.messages() if m["type"] == "E")
    assert ex["match"] == ours["match_number"] and ex["shares"] == ours["quantity"] == 200
    st = venue.stats()
    assert st["orders_in"] == 2 and st["executions"] >= 1 and st["sessions"] == 2
    # the end of the day on both sides
    venue.end()
    pump(feed.read, [a, b], lambda: feed.ended and a.closed and b.closed)
    assert a.types().endswith("Z") and b.types().endswith("Z")
    assert [chr(e["type"]) + chr(e["flag"]) for e in feed.events[-3:]] == ["SM", "SE", "SC"]
    a.close()
    b.close()


def test_run_is_bounded_by_count_and_time():
    feed = Feed()
    with LiveVenue(symbols=3, messages=50_000, seed=2, feed_port=feed.port, rate=None,
                   opening_messages=100) as venue:
        st = venue.run(messages=500)
        # whole steps of the engine: at most one step's messages past the count
        assert 600 <= st["generated_published"] < 600 + MAX_FILLS
        first = st["generated_published"]
        st = venue.run(duration_s=0.05)
        assert st["generated_published"] > first
        venue.end()
    time.sleep(0.05)
    feed.read()
    assert feed.ended
    feed.sock.close()


def test_tshark_referee_soupbintcp(live, tmp_path: Path):
    tshark, dumpcap = shutil.which("tshark"), shutil.which("dumpcap")
    if tshark is None or dumpcap is None:
        pytest.skip("tshark/dumpcap are not installed (Debian: tshark)")
    venue, feed = live
    port = venue.orders_port
    pcap = tmp_path / "oe.pcapng"
    cap = subprocess.Popen([dumpcap, "-q", "-i", "lo", "-f", f"tcp port {port}", "-w", str(pcap)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        end = time.monotonic() + 30
        while not (pcap.exists() and pcap.stat().st_size > 0):
            if cap.poll() is not None or time.monotonic() > end:
                cap.kill()
                why = cap.communicate(timeout=10)[1]
                pytest.skip(f"dumpcap cannot capture on lo here: {why!r}")
            time.sleep(0.05)
        time.sleep(0.5)  # the capture filter is in place once the file has its header
        a = SoupClient(port)
        a.login("ALICE", "pw1")
        turn = _turn(venue, feed)
        pump(turn, [a], lambda: "S" in a.types())
        bid = venue.sim.books()[1]["bids"][0][0]
        sym = venue.sim.symbols[0]
        for k in range(1, 4):
            enter(a, k, "B", 100 * k, sym, bid - 100 * k)
        a.order("X", user_ref_num=2, quantity=0)
        enter(a, 4, "B", 100, sym, bid + 7)  # off the ladder: Rejected
        pump(turn, [a], lambda: a.types().count("S") == 6)
        venue.end()
        pump(feed.read, [a], lambda: a.closed)
        time.sleep(0.5)
    finally:
        cap.terminate()
        cap.wait(timeout=10)
    # tshark's OUCH dissector (4.x) would claim some 5.0 messages and hide their bytes
    res = subprocess.run([tshark, "-n", "-r", str(pcap), "--disable-protocol", "ouch",
                          "-d", f"tcp.port=={port},soupbintcp",
                          "-Y", f"soupbintcp && tcp.srcport=={port}", "-T", "fields",
                          "-E", "separator=|", "-E", "aggregator=;",
                          "-e", "soupbintcp.packet_length", "-e", "soupbintcp.packet_type",
                          "-e", "soupbintcp.message"],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    seen = []
    for line in res.stdout.splitlines():
        lengths, types, messages = line.split("|")
        msgs = iter(messages.split(";")) if messages else iter(())
        for length, t in zip(lengths.split(";"), types.split(";"), strict=True):
            t = t.strip("'")
            msg = bytes.fromhex(next(msgs).replace(":", "")) if t == "S" else None
            seen.append((int(length), t, msg))
    sent = [(len(p.payload) + 1, p.type, p.payload if p.type == "S" else None)
            for p in a.packets]
    assert seen == sent
    # the OUCH inside, by our decoder: accepted x4 less one reject, a cancel, the end of day
    kinds = [ouch50.fields(m, "outbound")["type"] for _, t, m in seen if t == "S"]
    assert kinds == ["S", "A", "A", "A", "C", "J", "S"]
    a.close()


def test_a_warmed_venue_compiles_nothing_once_clients_trade(new_signatures):
    """The venue stage warms up before it answers logins; after that, a client's heartbeats
    and orders, the day's flow, a re-request and a snapshot login must find every compiled
    function ready. One compiled at the first order after a login stops the venue's loop (no
    heartbeats) for seconds on a cold cache, and the client calls the venue stale."""
    feed = Feed()
    with LiveVenue(symbols=4, messages=20_000, seed=5, feed_port=feed.port, accounts=ACCOUNTS,
                   rate=None, opening_messages=400, retransmit_port=0,
                   snapshot_port=0) as venue:
        venue.warm_up()
        a, b = SoupClient(venue.orders_port), SoupClient(venue.orders_port)
        a.login("ALICE", "pw1")
        b.login("BOB", "pw2")
        turn = _turn(venue, feed)
        pump(turn, [a, b], lambda: len(a.messages()) >= 1 and len(b.messages()) >= 1)
        venue.start()
        pump(turn, [a, b], lambda: len(feed.events) > 0)  # the test's feed decoder, warm
        new_signatures()  # the mark: from here on only the venue could compile
        a.send(b"\x00\x01R")  # Client Heartbeat: the first inbound bytes after login
        book, sym = venue.sim.books()[1], venue.sim.symbols[0]
        bid = book["bids"][0][0]
        enter(a, 1, "B", 100, sym, bid)  # rests
        enter(a, 2, "B", 100, sym, 1)  # off the ladder: rejected
        a.order("U", orig_user_ref_num=1, user_ref_num=3, quantity=200, price=bid,
                time_in_force="0", display="Y", intermarket_sweep_eligibility="N",
                cl_ord_id="C3")
        a.order("X", user_ref_num=3, quantity=50)
        enter(a, 5, "B", 100, sym, 2_000_000_000, tif="3")  # a market order: trades
        enter(b, 1, "S", 100, sym, 2_000_000_000, tif="3")
        a.order("C", user_ref_num=6, firm="", symbol="")
        a.order("Q")
        pump(turn, [a, b], lambda: set("AJUCEXQ") <= {m["type"] for m in a.messages()})
        retx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        retx.sendto(request_packet(venue.publisher.session, 1, 4),
                    ("127.0.0.1", venue.retransmit_port))
        got: list = []
        snap = threading.Thread(target=lambda: got.append(
            fetch_snapshot("127.0.0.1", venue.snapshot_port)))
        snap.start()
        pump(turn, [a, b], lambda: not snap.is_alive()
             and venue.stats()["retransmit_answered"] > 0)
        venue.run(messages=2_000)
        venue.end()
        retx.close()
        for c in (a, b):
            c.close()
        assert got and venue.stats()["executions"] >= 1
        assert new_signatures() == {}
    feed.sock.close()
