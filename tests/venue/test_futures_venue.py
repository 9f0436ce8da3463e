"""The futures venue publishing CME MDP 3.0: a deterministic day whose every packet decodes
with the project's SBE decoder, whose sequence numbers and RptSeq run without a hole, whose
stream a plain-Python CME receiver (``mdp3_model``) and the project's MDP3 feed handler both
turn into exactly the venue's own books, whose snapshot loop matches the stream at its
LastMsgSeqNumProcessed, whose index future follows its equity basket, and whose pcap writer
drops what it is told to."""

from __future__ import annotations

import hashlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reference.mdp3_receiver import DEPTH, SIDE, Model, decode_day
from tickpath.feed.mdp3 import Mdp3Feed
from tickpath.venue import Simulator
from tickpath.venue.futures import (
    DEFAULT_FUTURES,
    INCREMENTAL,
    MIN_PAYLOAD,
    SNAPSHOT,
    FutureSpec,
    FuturesSimulator,
    msg_seq_num,
)
from tickpath.venue.futures_records import DAY_EPOCH_NS, FUT_FLOW, SNAPSHOT_CHUNK, T_OPEN
from tickpath.wire.pcap import read_udp

MESSAGES = 30_000
SEED = 11
EVERY = 150  # a snapshot loop every 150 incremental packets


@pytest.fixture(scope="module")
def day():
    fut = FuturesSimulator(None, messages=MESSAGES, seed=SEED, snapshot_every=EVERY)
    packets = fut.packet_list()
    return fut, packets, decode_day(packets)


@pytest.fixture(scope="module")
def index_day():
    """The index future on a basket of 60 equities, each day a few hundred thousand
    messages."""
    eq = Simulator(symbols=60, messages=400_000, seed=4)
    fut = FuturesSimulator(eq, messages=40_000, seed=4, snapshot_every=0)
    packets = fut.packet_list()
    return fut, eq, decode_day(packets)


def _digest(fut: FuturesSimulator, chunk_bytes: int) -> str:
    """The day's packets, each with its kind, hashed in order."""
    h = hashlib.sha256()
    for ch in fut.packets(chunk_bytes):
        for k in range(ch.kinds.shape[0]):
            pk = ch.packet(k)
            h.update(bytes([int(ch.kinds[k])]) + len(pk).to_bytes(4, "little") + pk.tobytes())
    return h.hexdigest()


def test_same_seed_same_bytes_whatever_the_chunks():
    eq = Simulator(symbols=20, messages=50_000, seed=2)
    fut = FuturesSimulator(eq, messages=8_000, seed=3, snapshot_every=40)
    first = _digest(fut, 1 << 16)
    assert _digest(fut, 8 << 20) == first  # a replay, other chunk sizes: the same day
    again = FuturesSimulator(Simulator(symbols=20, messages=50_000, seed=2), messages=8_000,
                             seed=3, snapshot_every=40)
    assert _digest(again, 1 << 17) == first
    other = FuturesSimulator(Simulator(symbols=20, messages=50_000, seed=2), messages=8_000,
                             seed=4, snapshot_every=40)
    assert _digest(other, 1 << 17) != first


def test_every_packet_decodes_and_the_day_is_exact(day):
    fut, packets, decoded = day
    counts: dict[int, int] = {}
    incremental = snapshot = 0
    for (kind, payload), (_, d) in zip(packets, decoded, strict=True):
        assert len(payload) <= fut.max_payload
        assert d["messages"], "a packet with no message"
        end = 12
        for m in d["messages"]:
            assert m["offset"] == end + 2  # MsgSize, then the message: nothing in between
            end = m["offset"] + m["size"]
            assert m["header"]["schemaId"] == 1 and m["header"]["version"] == 13
            t = m["header"]["templateId"]
            if kind == INCREMENTAL:
                counts[t] = counts.get(t, 0) + 1
                incremental += 1
                assert t in (30, 46, 47, 48, 54)
            else:
                snapshot += 1
                assert t in (52, 53, 54)
        assert end == len(payload)
    assert incremental == MESSAGES == fut.messages_generated
    assert counts == fut.counts_by_template
    assert snapshot == fut.stats()["snapshot_messages"]
    n = len(fut.specs)
    assert counts[54] == n and counts[30] == 3 * n  # definitions; PreOpen, open, Close
    assert min(counts[46], counts[47], counts[48]) > 1000
    several = [len(d["messages"]) for k, d in decoded if k == INCREMENTAL]
    assert np.mean(several) > 5  # several messages a packet


def test_msg_seq_num_contiguous_and_loops_restart(day):
    fut, packets, decoded = day
    inc = [d["msg_seq_num"] for k, d in decoded if k == INCREMENTAL]
    assert inc == list(range(1, len(inc) + 1))
    loops = []
    last_inc = 0
    for kind, d in decoded:
        if kind == INCREMENTAL:
            last_inc = d["msg_seq_num"]
            continue
        if d["msg_seq_num"] == 1:
            loops.append((last_inc, []))
        loops[-1][1].append(d)
    assert len(loops) == fut.stats()["loops"] >= MESSAGES // 15 // EVERY
    for last, pks in loops:
        assert [d["msg_seq_num"] for d in pks] == list(range(1, len(pks) + 1))
        kinds = [[m["header"]["templateId"] for m in d["messages"]] for d in pks]
        # definitions first, in packets of their own, then snapshots
        defs = [k for k in kinds if 54 in k]
        assert all(set(k) == {54} for k in defs) and kinds[:len(defs)] == defs
        assert sum(len(k) for k in defs) == len(fut.specs)
        for d in pks:
            for m in d["messages"]:
                if m["header"]["templateId"] in (52, 53):
                    assert m["LastMsgSeqNumProcessed"] == last
                    assert m["TotNumReports"] == len(fut.specs)


def test_rpt_seq_runs_one_by_one_per_instrument(day):
    fut, _, decoded = day
    seen: dict[int, list[int]] = {}
    for kind, d in decoded:
        if kind != INCREMENTAL:
            continue
        for m in d["messages"]:
            if m["header"]["templateId"] in (46, 48):
                for e in m["NoMDEntries"]:
                    seen.setdefault(e["SecurityID"], []).append(e["RptSeq"])
    assert set(seen) == {s.security_id for s in fut.specs}
    for rpt in seen.values():
        assert rpt == list(range(1, len(rpt) + 1))


def test_a_cme_receiver_rebuilds_the_venue_books_and_every_snapshot(day):
    """The plain-Python receiver checks every rule as it goes (see mdp3_model) and ends with
    the venue's books and orders; every snapshot equals the receiver's state at its
    LastMsgSeqNumProcessed."""
    fut, _, decoded = day
    model = Model()
    snapshots = orders = 0
    chunks: dict[int, list] = {}
    for kind, d in decoded:
        if kind == INCREMENTAL:
            model.apply(d)
            continue
        for m in d["messages"]:
            t = m["header"]["templateId"]
            if t == 52:
                sid = m["SecurityID"]
                assert m["RptSeq"] == model.rpt[sid]
                got = ([], [])
                for e in m["NoMDEntries"]:
                    side = got[SIDE[e["MDEntryType"]]]
                    assert e["MDPriceLevel"] == len(side) + 1
                    side.append([e["MDEntryPx"].mantissa, e["MDEntrySize"], e["NumberOfOrders"]])
                assert got == tuple(model.depth[sid])
                snapshots += 1
            elif t == 53:
                sid = m["SecurityID"]
                assert len(m["NoMDEntries"]) <= SNAPSHOT_CHUNK
                part = chunks.setdefault(sid, [])
                assert m["CurrentChunk"] == len(part) + 1
                part.append(m)
                if m["CurrentChunk"] == m["NoChunks"]:
                    entries = [e for c in chunks.pop(sid) for e in c["NoMDEntries"]]
                    got = [{"order_id": e["OrderID"], "priority": e["MDOrderPriority"],
                            "price": e["MDEntryPx"].mantissa, "qty": e["MDDisplayQty"],
                            "side": SIDE[e["MDEntryType"]]} for e in entries]
                    assert got == model.resting(sid)
                    orders += 1
    assert snapshots == orders == fut.stats()["loops"] * len(fut.specs)
    assert model.trades > 1000 and model.fills > model.trades
    assert model.books(fut.specs) == fut.books()
    for s in fut.specs:
        assert model.resting(s.security_id) == fut.orders(s.symbol)


def test_the_feed_handler_rebuilds_the_venue_books(day):
    """The project's MDP3 handler (feed/mdp3), stopping at any refusal, ends with the venue's
    depth books and order books."""
    fut, packets, _ = day
    feed = Mdp3Feed(errors="raise")
    for _, payload in packets:
        buf = np.frombuffer(payload, np.uint8).copy()
        feed.on_datagram(buf, buf.size)
    c = feed.counters()
    assert c["gaps"] == c["rpt_gaps"] == c["refused"] == c["malformed"] == 0
    assert feed.books() == fut.books()
    assert feed.order_books() == fut.order_books()


def test_books_internally_consistent(day):
    fut, _, _ = day
    fut.check()
    books, full = fut.books(), fut.order_books()
    for b, o in zip(books, full, strict=True):
        assert b["bids"] == o["bids"][:DEPTH] and b["asks"] == o["asks"][:DEPTH]
        assert len(b["bids"]) == DEPTH and len(b["asks"]) == DEPTH
        assert b["bids"][0][0] < b["asks"][0][0]
        assert len(o["bids"]) + len(o["asks"]) > 2 * DEPTH  # orders beyond the top 10 too


def test_index_future_follows_the_basket(index_day):
    """TPZ6's fair value is 4500.00 x the basket (its value relative to the open). Once the
    opening half hour has passed (the equity books form, the basket moves to where they
    settle), TPZ6's mid stays within 0.05 % of the fair value in 99 % of samples and every
    trade within 0.1 % of the fair value of its moment; by then it has moved as far as the
    basket has. The basket at the end is the one the equity simulator's own books give."""
    fut, eq, decoded = index_day
    spec = next(s for s in fut.specs if s.symbol == "TPZ6")
    tr = fut.fair_trace()
    mine = tr[tr["security_id"] == spec.security_id]
    assert len(mine) > 1000
    np.testing.assert_allclose(mine["fair"], spec.open_price * 1e9 * mine["basket"], rtol=1e-12)
    settled = (mine["time"] > DAY_EPOCH_NS + T_OPEN + 30 * 60 * 10**9) \
        & (mine["bid"] > 0) & (mine["ask"] > 0)
    mid = (mine["bid"] + mine["ask"])[settled] / 2
    fair = mine["fair"][settled]
    assert np.percentile(np.abs(mid / fair - 1), 99) < 0.0005
    # the opening move: the basket moved, and the future as far
    move = mine["basket"][settled][0] - 1
    assert abs(move) > 0.001
    assert mid[0] / (spec.open_price * 1e9) - 1 == pytest.approx(move, abs=0.0005)
    times, prices = [], []
    for _, d in decoded:
        for m in d["messages"]:
            if m["header"]["templateId"] == 48:
                for e in m["NoMDEntries"]:
                    if e["SecurityID"] == spec.security_id:
                        times.append(m["TransactTime"])
                        prices.append(e["MDEntryPx"].mantissa)
    times_a = np.array(times)
    k = np.searchsorted(mine["time"], times_a, side="right") - 1
    late = times_a > DAY_EPOCH_NS + T_OPEN + 30 * 60 * 10**9
    assert late.sum() > 500
    ratio = np.array(prices)[late] / mine["fair"][k[late]]
    assert np.all(np.abs(ratio - 1) < 0.001), np.abs(ratio - 1).max()
    # the end of day: the basket from the equity simulator's own books
    books = eq.books()
    total = 0.0
    for i, w in zip(fut.basket, fut.basket_weights, strict=True):
        b = books[int(i) + 1]
        assert b["bids"] and b["asks"]
        total += w * (b["bids"][0][0] + b["asks"][0][0]) / 2
    assert fut.basket_value() == pytest.approx(total, rel=1e-12)


def test_pcap_lines_drops_and_a_gap_recovered(tmp_path):
    fut = FuturesSimulator(None, messages=6_000, seed=9, snapshot_every=40)
    inc = [msg_seq_num(np.frombuffer(p, np.uint8)) for k, p in fut.packet_list()
           if k == INCREMENTAL]
    path = tmp_path / "day.pcap"
    drop_a, drop_b, gap = {3, 50, 51, 200}, {4, 52, 300}, (100, 110)
    n = fut.write_pcap(path, ("224.0.31.1", 14310), ("224.0.32.1", 15310),
                       ("224.0.31.22", 14320), drop_a=drop_a, drop_b=drop_b, gap=gap)
    lines: dict[int, list] = {14310: [], 15310: [], 14320: []}
    for _, payload, (_src, _dst, _sport, dport) in read_udp(path):
        lines[dport].append(bytes(payload))
    in_gap = set(range(gap[0], gap[1] + 1))
    seq_a = [int.from_bytes(p[:4], "little") for p in lines[14310]]
    seq_b = [int.from_bytes(p[:4], "little") for p in lines[15310]]
    assert seq_a == [s for s in inc if s not in drop_a | in_gap]
    assert seq_b == [s for s in inc if s not in drop_b | in_gap]
    assert n == {"a": len(seq_a), "b": len(seq_b), "snapshot": len(lines[14320])}
    assert dict(zip(seq_a, lines[14310], strict=True)).keys() >= {5, 99, 111}
    a, b = dict(zip(seq_a, lines[14310], strict=True)), dict(zip(seq_b, lines[15310],
                                                                 strict=True))
    assert all(a[s] == b[s] for s in a.keys() & b.keys())  # the same bytes on both lines
    # the handler takes each packet from whichever line has it, and the gap from the loop
    from tickpath.apps.mdp3_replay import replay_mdp3

    feed, _ = replay_mdp3(path, errors="raise", late_join="snapshot")
    c = feed.counters()
    assert c["gaps"] == 1 and c["gap_packets"] == len(in_gap)
    assert c["recoveries"] >= 2 * len(fut.specs) and c["stale_now"] == 0
    assert feed.books() == fut.books()
    assert feed.order_books() == fut.order_books()


def test_pcap_refuses_a_backward_gap(tmp_path):
    fut = FuturesSimulator(None, messages=500, seed=1)
    with pytest.raises(ValueError, match="first MsgSeqNum after last"):
        fut.write_pcap(tmp_path / "x.pcap", gap=(10, 5))


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(seed=st.integers(0, 2**64 - 1), messages=st.integers(13, 3_000),
       every=st.integers(0, 30), payload=st.integers(MIN_PAYLOAD, 1500),
       aggress=st.floats(0.0, 0.3))
def test_any_day_is_exact_and_consistent(seed, messages, every, payload, aggress):
    flow = dict(FUT_FLOW)
    flow["aggress"] = aggress
    flow["cancel"] = 1.0 - flow["add"] - flow["reduce"] - flow["move"] - aggress
    fut = FuturesSimulator(None, messages=messages, seed=seed, snapshot_every=every,
                           max_payload=payload, flow=flow)
    packets = fut.packet_list()
    assert fut.messages_generated == messages
    assert all(len(p) <= payload for _, p in packets)
    assert sum(1 for k, _ in packets if k == SNAPSHOT) >= (1 if every else 0)
    fut.check()
    for b, o in zip(fut.books(), fut.order_books(), strict=True):
        assert b["bids"] == o["bids"][:DEPTH] and b["asks"] == o["asks"][:DEPTH]


def test_refusals_name_the_problem():
    with pytest.raises(ValueError, match="too few"):
        FuturesSimulator(None, messages=12)
    with pytest.raises(ValueError, match="max_payload"):
        FuturesSimulator(None, max_payload=MIN_PAYLOAD - 1)
    with pytest.raises(ValueError, match="unique"):
        FuturesSimulator(None, instruments=(DEFAULT_FUTURES[0], DEFAULT_FUTURES[0]))
    with pytest.raises(ValueError, match="snapshot_every"):
        FuturesSimulator(None, snapshot_every=-1)
    with pytest.raises(ValueError, match="multiple of tick"):
        FutureSpec("X", 1, "index", open_price=1001, tick=25, display_factor=0.01, weight=1)
    with pytest.raises(ValueError, match="kind"):
        FutureSpec("X", 1, "spread", open_price=100_000, tick=25, display_factor=0.01,
                   weight=1)
    with pytest.raises(ValueError, match="action probabilities"):
        FuturesSimulator(None, flow={**FUT_FLOW, "add": 0.9})
