"""The MDP3 feed handler on packets built from the v13 schema: books, order books, A/B
arbitration, RptSeq and packet gaps, snapshot recovery, channel reset, refusals."""

from __future__ import annotations

import struct

import numpy as np
import pytest
from mdp3_packets import (
    book,
    definition,
    heartbeat,
    level,
    order,
    order_snapshot,
    packet,
    reset,
    snapshot,
    trade,
)

from tickpath.feed.mdp3 import Mdp3Error, Mdp3Feed

E9 = 10 ** 9
ES, NQ = 101, 202


def feed_of(*packets, **kw) -> Mdp3Feed:
    f = Mdp3Feed(max_instruments=16, max_orders=1 << 10, **kw)
    for p in packets:
        f.on_datagram(p, p.shape[0])
    return f


def book_of(f: Mdp3Feed, sec: int, which: str = "outright") -> dict:
    return next(b for b in f.books(which) if b["security_id"] == sec)


def opening(seq0: int = 1) -> list[np.ndarray]:
    """Definitions, then a two-level book on each side of ES and one level of NQ."""
    return [
        packet(seq0, definition(ES, "TPZ6"), definition(NQ, "TQZ6", depth=5)),
        packet(seq0 + 1, book(level(ES, 1, "New", "Bid", 1, 100, 5, 2),
                              level(ES, 2, "New", "Bid", 2, 99, 7, 3),
                              level(ES, 3, "New", "Offer", 1, 101, 4, 1),
                              level(ES, 4, "New", "Offer", 2, 102, 9, 2))),
        packet(seq0 + 2, book(level(NQ, 1, "New", "Bid", 1, 200, 1, 1))),
    ]


def test_book_from_definitions_and_incrementals():
    f = feed_of(*opening(), late_join="natural")
    es = book_of(f, ES)
    assert es["symbol"] == "TPZ6"
    assert es["bids"] == [[100 * E9, 5, 2], [99 * E9, 7, 3]]
    assert es["asks"] == [[101 * E9, 4, 1], [102 * E9, 9, 2]]
    assert book_of(f, NQ)["bids"] == [[200 * E9, 1, 1]]
    assert f.levels.depth_of(f.row_of(NQ)) == (5, 2)
    c = f.counters()
    assert c["definitions"] == 2 and c["entries"] == 5 and c["malformed"] == 0
    assert f.price_exponent == -9


def test_change_delete_and_a_new_best_level():
    ps = opening() + [
        packet(4, book(level(ES, 5, "Change", "Bid", 1, 100, 8, 3),
                       level(ES, 6, "New", "Offer", 1, 100.5 and 101, 1, 1))),
    ]
    # a New at level 1 pushes the offers down; a Delete at level 2 pulls them back up
    ps.append(packet(5, book(level(ES, 7, "Delete", "Offer", 2, 101, 4, 1))))
    f = feed_of(*ps, late_join="natural")
    es = book_of(f, ES)
    assert es["bids"][0] == [100 * E9, 8, 3]
    assert es["asks"] == [[101 * E9, 1, 1], [102 * E9, 9, 2]]


def test_order_entries_ride_on_the_book_message():
    p = packet(2, book(level(ES, 1, "New", "Bid", 1, 100, 5, 2),
                       orders=(order(11, 1, "New", 2, priority=1),
                               order(12, 1, "New", 3, priority=2))))
    q = packet(3, book(level(ES, 2, "Change", "Bid", 1, 100, 3, 1),
                       orders=(order(11, 1, "Delete", 2),)))
    f = feed_of(packet(1, definition(ES, "TPZ6")), p, q, late_join="natural")
    assert book_of(f, ES)["bids"] == [[100 * E9, 3, 1]]
    assert f.order_books() == [{"security_id": ES, "symbol": "TPZ6",
                                "bids": [[100 * E9, 3, 1]], "asks": []}]


def test_price_levels_only_skips_the_order_entries():
    ps = [packet(1, definition(ES, "TPZ6")),
          packet(2, book(level(ES, 1, "New", "Bid", 1, 100, 5, 2),
                         orders=(order(11, 1, "New", 2), order(12, 1, "New", 3, 2))))]
    full, lean = feed_of(*ps, late_join="natural"), feed_of(*ps, late_join="natural",
                                                             orders=False)
    assert lean.books() == full.books() and lean.order_books() == []
    assert lean.counters()["order_entries"] == 0 and full.counters()["order_entries"] == 2


def test_trade_summary_keeps_last_price_and_volume():
    from tickpath.feed.mdp3 import layout as L

    f = feed_of(*opening(), packet(4, trade(ES, 5, 101, 3)), packet(5, trade(ES, 6, 101, 2)),
                late_join="natural")
    r = f.row_of(ES)
    assert f.inst[r, L.I_LAST_PX] == 101 * E9 and f.inst[r, L.I_VOLUME] == 5
    assert f.counters()["trades"] == 2


def test_a_and_b_lines_are_arbitrated_by_msgseqnum():
    ps = opening()[1:]  # packets 2 and 3: book updates
    ps.append(packet(4, book(level(ES, 5, "Change", "Bid", 1, 100, 6, 2))))
    # line A lost packet 3; line B has everything; they interleave as they arrive
    f = feed_of(ps[0], ps[0], ps[1], ps[2], ps[2], late_join="natural")
    c = f.counters()
    assert c["packets"] == 3 and c["duplicates"] == 2 and c["gaps"] == 0
    assert f.books() == feed_of(*ps, late_join="natural").books()


def test_rptseq_gap_makes_only_that_instrument_stale():
    f = feed_of(*opening(), packet(4, book(level(ES, 7, "Change", "Bid", 1, 100, 6, 2))),
                packet(5, book(level(NQ, 2, "Change", "Bid", 1, 200, 4, 1))),
                late_join="natural")
    c = f.counters()
    assert c["rpt_gaps"] == 1 and f.stale() == [ES] and c["gaps"] == 0
    assert book_of(f, NQ)["bids"] == [[200 * E9, 4, 1]]
    assert book_of(f, ES)["bids"][0] == [100 * E9, 5, 2]  # untouched since the gap


def test_packet_gap_recovers_from_the_snapshot_loop():
    ps = opening()
    lost = packet(4, book(level(ES, 5, "Change", "Bid", 1, 100, 6, 2)))
    after = [packet(5, book(level(ES, 6, "Change", "Bid", 1, 100, 1, 1))),
             packet(6, book(level(NQ, 2, "Change", "Bid", 1, 200, 9, 1)))]
    f = feed_of(*ps, *after, late_join="natural")  # packet 4 lost on both lines
    c = f.counters()
    assert c["gaps"] == 1 and c["gap_packets"] == 1
    assert sorted(f.stale()) == [ES, NQ]
    # the snapshot loop, as it runs on: ES as of packet 4 (RptSeq 5), NQ as of packet 6
    # (RptSeq 2, its update in packet 6 included)
    snap = [packet(1, snapshot(ES, 4, 5, [("0", 1, 100, 6, 2), ("0", 2, 99, 7, 3),
                                          ("1", 1, 101, 4, 1), ("1", 2, 102, 9, 2)])),
            packet(2, snapshot(NQ, 6, 2, [("0", 1, 200, 9, 1)]))]
    for p in snap:
        f.on_datagram(p, p.shape[0])
    c = f.counters()
    assert f.stale() == [] and c["recoveries"] == 2 and c["snapshots"] == 2
    whole = feed_of(*ps, lost, *after, late_join="natural")
    assert f.books() == whole.books()
    # the buffer was replayed: both instruments have the updates after their snapshots
    assert book_of(f, ES)["bids"][0] == [100 * E9, 1, 1]
    assert book_of(f, NQ)["bids"][0] == [200 * E9, 9, 1]


def test_a_snapshot_older_than_the_buffer_is_not_used():
    ps = opening()
    f = feed_of(*ps, packet(5, book(level(ES, 6, "Change", "Bid", 1, 100, 1, 1))),
                late_join="natural")
    old = packet(1, snapshot(ES, 2, 4, [("0", 1, 100, 5, 2)]))  # as of packet 2: too old
    f.on_datagram(old, old.shape[0])
    assert ES in f.stale() and f.counters()["snapshots_skipped"] == 1


def test_late_join_waits_for_the_snapshot():
    f = feed_of(packet(7, book(level(ES, 9, "Change", "Bid", 1, 100, 6, 2))),
                late_join="snapshot")
    assert f.stale() == [ES] and book_of(f, ES)["bids"] == []
    s = packet(1, snapshot(ES, 6, 8, [("0", 1, 100, 5, 2)]))
    f.on_datagram(s, s.shape[0])
    # the buffered packet 7 (RptSeq 9) is replayed after the snapshot (RptSeq 8)
    assert f.stale() == [] and book_of(f, ES)["bids"] == [[100 * E9, 6, 2]]


def test_a_snapshot_of_an_instrument_never_seen_fits_from_when_the_listener_joined():
    """ES has had no entry since the listener joined (packet 10): a snapshot as of packet
    11 holds everything; one as of packet 8 may miss packets 9 and the listener's first."""
    nq = [packet(10, book(level(NQ, 5, "Change", "Bid", 1, 200, 1, 1))),
          packet(11, book(level(NQ, 6, "Change", "Bid", 1, 200, 2, 1))),
          packet(12, book(level(NQ, 7, "Change", "Bid", 1, 200, 3, 1)))]
    f = feed_of(*nq, late_join="snapshot")
    old = packet(1, snapshot(ES, 8, 3, [("0", 1, 100, 5, 2)]))
    f.on_datagram(old, old.shape[0])
    assert ES in f.stale() and f.counters()["snapshots_skipped"] == 1
    fresh = packet(2, snapshot(ES, 11, 4, [("0", 1, 100, 6, 2)]))
    f.on_datagram(fresh, fresh.shape[0])
    assert ES not in f.stale() and book_of(f, ES)["bids"] == [[100 * E9, 6, 2]]
    nxt = packet(13, book(level(ES, 5, "Change", "Bid", 1, 100, 7, 2)))
    f.on_datagram(nxt, nxt.shape[0])
    assert book_of(f, ES)["bids"] == [[100 * E9, 7, 2]] and ES not in f.stale()


def test_order_book_recovers_with_its_order_snapshot():
    ps = [packet(1, definition(ES, "TPZ6")),
          packet(2, book(level(ES, 1, "New", "Bid", 1, 100, 5, 2),
                         orders=(order(11, 1, "New", 2), order(12, 1, "New", 3, 2))))]
    f = feed_of(*ps, packet(4, book(level(ES, 3, "Change", "Bid", 1, 100, 3, 1),
                                    orders=(order(11, 1, "Delete", 2),))),
                late_join="natural")
    assert f.stale() == [ES]
    lv = packet(1, snapshot(ES, 3, 2, [("0", 1, 100, 5, 2)]))
    f.on_datagram(lv, lv.shape[0])
    assert f.stale() == [ES]  # it has order books: the order snapshot is needed too
    ob = [packet(2, order_snapshot(ES, 3, [(11, 1, "0", 100, 2)], chunk=1, chunks=2)),
          packet(3, order_snapshot(ES, 3, [(12, 2, "0", 100, 3)], chunk=2, chunks=2))]
    for p in ob:
        f.on_datagram(p, p.shape[0])
    assert f.stale() == []
    assert book_of(f, ES)["bids"] == [[100 * E9, 3, 1]]
    assert f.order_books()[0]["bids"] == [[100 * E9, 3, 1]]


def test_channel_reset_empties_the_books_and_waits_for_snapshots():
    f = feed_of(*opening(), packet(4, reset()), late_join="snapshot")
    assert f.counters()["channel_resets"] == 1
    assert all(b["bids"] == [] and b["asks"] == [] for b in f.books())
    assert sorted(f.stale()) == [ES, NQ]
    g = feed_of(*opening(), packet(4, reset()),
                packet(5, book(level(ES, 1, "New", "Bid", 1, 98, 1, 1))), late_join="natural")
    assert g.stale() == [] and book_of(g, ES)["bids"] == [[98 * E9, 1, 1]]


# -- refusals -------------------------------------------------------------------------------

def _msg(tid: int = 46, *, bl: int = 11, schema: int = 1, version: int = 13,
         body: bytes = b"") -> bytes:
    return struct.pack("<HHHH", bl, tid, schema, version) + body


def _bad_cases() -> dict[str, tuple[np.ndarray, str]]:
    good = book(level(ES, 5, "Change", "Bid", 1, 100, 1, 1))
    cut = packet(4, good)[:-5]  # the message runs past the datagram
    short = bytearray(good)
    short[0:2] = struct.pack("<H", 7)  # blockLength 7 < the schema's 11
    over = bytearray(good)
    over[8 + 11 + 2] = 9  # numInGroup 9: nine 32-byte entries in a 62-byte message
    return {
        "truncated": (cut, "message runs past the end of the packet"),
        "short block": (packet(4, bytes(short)), "blockLength is smaller"),
        "group overrun": (packet(4, bytes(over)), "runs past the message"),
        "unknown template": (packet(4, _msg(99, body=b"\0" * 11)), "unknown template id"),
        "foreign schema": (packet(4, _msg(46, schema=8, body=b"\0" * 11)), "another schema"),
        "bad size": (np.frombuffer(packet(4)[:12].tobytes() + b"\x03\x00\x00", np.uint8),
                     "MsgSize smaller"),
        "short packet": (np.zeros(8, np.uint8), "shorter than the 12-byte packet header"),
    }


@pytest.mark.parametrize("case", list(_bad_cases()))
def test_bad_input_is_refused_with_where_and_the_books_untouched(case):
    bad, text = _bad_cases()[case]
    f = feed_of(*opening(), late_join="natural")
    before = f.books()
    f.on_datagram(bad, bad.shape[0])  # errors="skip": counted
    assert f.books() == before and f.counters()["errors"] == 1
    g = feed_of(*opening(), late_join="natural", errors="raise")
    with pytest.raises(Mdp3Error, match=text) as e:
        g.on_datagram(bad, bad.shape[0])
    assert "offset" in str(e.value)
    assert g.books() == before


def test_heartbeats_and_ignored_templates_take_a_sequence_number():
    f = feed_of(*opening(), packet(4, heartbeat()),
                packet(5, book(level(ES, 5, "Change", "Bid", 1, 100, 2, 1))),
                late_join="natural")
    assert f.counters()["gaps"] == 0 and book_of(f, ES)["bids"][0] == [100 * E9, 2, 1]


def test_the_order_table_grows_between_datagrams():
    f = Mdp3Feed(max_instruments=4, max_orders=1 << 16, late_join="natural")
    f.orders.__init__(max_orders=1 << 16, errors="skip", n_instruments=4, initial_orders=16)
    f._state = None
    f.on_datagram(*(lambda p: (p, p.shape[0]))(packet(1, definition(ES, "TPZ6"))))
    seq, rpt, oid = 2, 1, 1
    for px in range(100, 140):
        orders = tuple(order(oid + k, 1, "New", 1, priority=k) for k in range(20))
        p = packet(seq, book(level(ES, rpt, "New", "Bid", 1, px, 20, 20), orders=orders))
        f.on_datagram(p, p.shape[0])
        seq, rpt, oid = seq + 1, rpt + 1, oid + 20
    assert f.counters()["refused"] == 0
    assert f.orders.stats()["live_orders"] == 800
    assert f.order_books()[0]["bids"][0] == [139 * E9, 20, 20]


# -- fuzz -----------------------------------------------------------------------------------

_SEEDS = [p.tobytes() for p in opening()] + [
    packet(4, book(level(ES, 5, "Change", "Bid", 1, 100, 6, 2),
                   orders=(order(11, 1, "New", 2),))).tobytes(),
    packet(5, trade(ES, 6, 101, 3), heartbeat()).tobytes(),
    packet(1, snapshot(ES, 4, 5, [("0", 1, 100, 6, 2)])).tobytes(),
    packet(2, order_snapshot(ES, 4, [(11, 1, "0", 100, 2)])).tobytes(),
    packet(6, reset()).tobytes(),
]


def _mutations():
    from hypothesis import strategies as st

    def mutate(args):
        base, edits, cut = args
        b = bytearray(base)
        for pos, val in edits:
            b[pos % len(b)] = val
        return bytes(b[:max(0, len(b) - cut)])

    return st.tuples(st.sampled_from(_SEEDS),
                     st.lists(st.tuples(st.integers(0, 1 << 16), st.integers(0, 255)),
                              max_size=8),
                     st.integers(0, 40)).map(mutate)


@pytest.mark.parametrize("late_join", ["natural", "snapshot"])
def test_fuzzed_packets_are_counted_never_crash(late_join):
    from hypothesis import HealthCheck, given, settings
    from hypothesis import strategies as st

    @settings(max_examples=400, deadline=None, derandomize=True,
              suppress_health_check=[HealthCheck.too_slow])
    @given(st.lists(_mutations(), min_size=1, max_size=12))
    def run(datagrams):
        f = Mdp3Feed(max_instruments=8, max_orders=64, late_join=late_join,
                     recovery_bytes=4096, recovery_packets=8)
        for d in datagrams:
            # the datagram sits inside a larger buffer, as in a receive ring: reads must stay
            # within [start, start + size)
            ring = np.full(len(d) + 64, 0xEE, np.uint8)
            ring[32:32 + len(d)] = np.frombuffer(d, np.uint8)
            from tickpath.feed.mdp3.step import step
            step(f.state, ring, 32, len(d), 0)
        c = f.counters()
        assert c["datagrams"] == len(datagrams)
        assert 0 <= c["stale_now"] <= c["instruments"] <= 8
        for b in f.books("merged"):
            assert all(q > 0 for _, q, _ in b["bids"] + b["asks"])

    run()
