"""The ITCH step hands the strategy every instrument a datagram changed and every trade it
printed: one record per trade (message order), then one per changed book (order of first
change), and a datagram holding a refused message still delivers what its good messages did."""

from __future__ import annotations

import uuid

import numpy as np
import pytest

from tickpath.book import BookStore
from tickpath.codec.itch50.message import encode
from tickpath.engine.feed_stage import tap_wait
from tickpath.feed.itch import ItchFeed, ItchHandler
from tickpath.feed.itch.step import TAP_FULL, TAP_PUBLISHED
from tickpath.feed.moldudp64 import MoldSession, pack_packets
from tickpath.ring import SpscRing
from tickpath.strategy.records import BOOK, SLOT_SIZE, TOP_DTYPE, TRADE


def _datagram(msgs: list[bytes], seq: int) -> np.ndarray:
    blocks = np.frombuffer(b"".join(len(m).to_bytes(2, "big") + m for m in msgs), np.uint8)
    pkt, bounds, _ = pack_packets(blocks, "RECTEST", first_seq=seq)
    assert bounds.shape[0] == 2  # one datagram
    return pkt[:int(bounds[1])].copy()


def _send(feed, buf: np.ndarray) -> None:
    feed.on_datagram(buf, buf.shape[0], 0)


def _add(loc, ref, side, shares, price):
    return encode("A", stock_locate=loc, order_reference_number=ref, buy_sell_indicator=side,
                  shares=shares, stock=f"S{loc}", price=price)


@pytest.fixture
def feed():
    ring = SpscRing.create(f"tp-test-{uuid.uuid4().hex[:8]}", 64, SLOT_SIZE, policy="drop")
    books = BookStore(max_orders=64, errors="skip")
    f = ItchFeed(ItchHandler(books, errors="skip"), MoldSession(),
                 tap=(ring.header, ring.words, tap_wait("busy_spin", 0)), max_samples=4)
    f.test_ring = ring
    try:
        yield f
    finally:
        ring.unlink()
        ring.close()


def _take(feed) -> np.ndarray:
    return feed.test_ring.records(TOP_DTYPE)[:int(feed.feed[TAP_PUBLISHED])].copy()


def test_a_datagram_changing_three_instruments_delivers_three_books(feed):
    msgs = [encode("R", stock_locate=k, stock=f"S{k}") for k in (3, 1, 2)]
    msgs += [_add(3, 1, "B", 100, 10_000), _add(1, 2, "S", 200, 20_100),
             _add(3, 3, "S", 50, 10_100), _add(2, 4, "B", 300, 30_000)]
    _send(feed, _datagram(msgs, 1))
    recs = _take(feed)
    assert list(recs["kind"]) == [BOOK] * 3
    assert list(recs["locate"]) == [3, 1, 2]  # order of first change
    assert (recs[0]["bid_price"], recs[0]["bid_shares"], recs[0]["ask_price"],
            recs[0]["ask_shares"]) == (10_000, 100, 10_100, 50)
    assert (recs[1]["bid_price"], recs[1]["ask_price"]) == (0, 20_100)
    # each book's sequence number: its last change in the datagram (seq 1 + message index)
    assert list(recs["sequence"]) == [1 + 5, 1 + 4, 1 + 6]
    assert (recs["events"] == 7).all() and (recs["received"] > 0).all()


def test_trades_come_first_with_price_size_and_aggressor(feed):
    _send(feed, _datagram([encode("R", stock_locate=5, stock="S5"),
                                _add(5, 1, "B", 300, 10_000), _add(5, 2, "S", 100, 10_100)],
                               1))
    before = int(feed.feed[TAP_PUBLISHED])
    msgs = [encode("E", stock_locate=5, order_reference_number=1, executed_shares=300,
                   match_number=9),  # the whole bid: the order is gone after this
            encode("C", stock_locate=5, order_reference_number=2, executed_shares=40,
                   match_number=10, printable="Y", execution_price=10_090),
            encode("P", stock_locate=5, order_reference_number=0, buy_sell_indicator="B",
                   shares=7, stock="S5", price=10_050, match_number=11)]
    _send(feed, _datagram(msgs, 4))
    recs = _take(feed)[before:]
    assert list(recs["kind"]) == [TRADE, TRADE, TRADE, BOOK]
    t = recs[:3]
    # trade words: price, qty, aggressor (a resting bid executed: a seller took it)
    assert list(t["bid_price"]) == [10_000, 10_090, 10_050]
    assert list(t["bid_shares"]) == [300, 40, 7]
    assert list(t["ask_price"]) == [ord("S"), ord("B"), ord("S")]
    assert list(t["sequence"]) == [4, 5, 6]
    b = recs[3]
    assert (b["locate"], b["bid_price"], b["ask_price"], b["ask_shares"]) == (5, 0, 10_100, 60)


def test_a_refused_message_still_delivers_the_good_instruments(feed):
    _send(feed, _datagram([encode("R", stock_locate=k, stock=f"S{k}") for k in (1, 2, 3)],
                               1))
    msgs = [_add(1, 1, "B", 100, 10_000),
            encode("X", stock_locate=2, order_reference_number=999, cancelled_shares=1),
            _add(3, 2, "S", 100, 30_000),
            encode("E", stock_locate=3, order_reference_number=2, executed_shares=10,
                   match_number=1)]
    _send(feed, _datagram(msgs, 4))  # the X is refused: unknown reference
    assert feed.books.stats()["rejected"] == 1
    recs = _take(feed)
    assert list(zip(recs["kind"], recs["locate"], strict=True)) == [(TRADE, 3), (BOOK, 1), (BOOK, 3)]
    assert recs[2]["ask_shares"] == 90 and (recs["received"] > 0).all()
    assert (recs["booked"] >= recs["decoded"]).all()


def test_a_full_ring_drops_and_counts_each_record():
    ring = SpscRing.create(f"tp-test-{uuid.uuid4().hex[:8]}", 2, SLOT_SIZE, policy="drop")
    try:
        f = ItchFeed(ItchHandler(BookStore(max_orders=64, errors="skip"), errors="skip"),
                     MoldSession(), tap=(ring.header, ring.words, tap_wait("busy_spin", 0)))
        msgs = [encode("R", stock_locate=k, stock=f"S{k}") for k in (1, 2, 3)]
        msgs += [_add(k, k, "B", 100, 10_000) for k in (1, 2, 3)]
        _send(f, _datagram(msgs, 1))
        assert f.feed[TAP_PUBLISHED] == 2 and f.feed[TAP_FULL] == 1
        assert f.books.best_bid(3)[1] == 100  # the books apply all the same
    finally:
        ring.unlink()
        ring.close()
