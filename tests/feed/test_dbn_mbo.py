"""DBN MBO files into the order-by-order books, checked against a pure-Python reference."""

from __future__ import annotations

import pytest
from dbn_files import (
    F_LAST,
    F_SNAPSHOT,
    PX,
    UNDEF,
    definition,
    mapping,
    mbo,
    symbol_mapping,
    write_dbn,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reference.dbn_book import ReferenceDbnBooks
from tickpath.apps.dbn_replay import replay_dbn
from tickpath.codec.dbn import read_definitions
from tickpath.feed.dbn import DbnBookError

# (iid, oid, price, size, action, side)
DAY = [
    (7, 1, 100, 10, "A", "B"), (7, 2, 100, 5, "A", "B"), (7, 3, 99, 4, "A", "B"),
    (7, 4, 102, 6, "A", "A"), (7, 5, 103, 8, "A", "A"), (9, 6, 50, 1, "A", "A"),
    (7, 1, 100, 3, "C", "B"),  # partial cancel: 7 left
    (7, 0, 102, 2, "T", "B"), (7, 4, 102, 2, "F", "A"), (7, 4, 102, 2, "C", "A"),
    (7, 5, 101, 8, "M", "A"),  # a new price
    (9, 7, 49, 3, "A", "B"), (9, 6, 50, 1, "C", "A"),
    (7, 3, 99, 4, "C", "B"),
]


def _records(rows, flags=F_LAST):
    return [mbo(i, o, p * PX, s, a, sd, flags, seq=n) for n, (i, o, p, s, a, sd)
            in enumerate(rows)]


def _reference(rows):
    ref = ReferenceDbnBooks()
    refused = []
    for n, (i, o, p, s, a, sd) in enumerate(rows):
        if ref.apply(1, i, a, sd, o, p * PX if p != UNDEF else UNDEF, s) is not None:
            refused.append(n)
    return ref, refused


def _same_books(feed, ref):
    got = {(b["publisher_id"], b["instrument_id"]): {"bids": b["bids"], "asks": b["asks"]}
           for b in feed.book_list()}
    want = {k: ref.book(k) for k in ref.keys_with_orders()}
    assert got == want
    for (pub, iid), bk in want.items():
        for name, side in (("bids", "B"), ("asks", "A")):
            for price, _, _ in bk[name]:
                assert feed.queue(iid, side, price, pub) == ref.queue((pub, iid), side, price)


@pytest.mark.parametrize("zstd", [False, True])
def test_final_books_match_the_reference(tmp_path, zstd):
    path = write_dbn(tmp_path / ("day.dbn.zst" if zstd else "day.dbn"), "mbo", _records(DAY),
                     zstd=zstd, mappings=[mapping("ESH6", 7), mapping("NQH6", 9)])
    feed, rep, symbols = replay_dbn(path)
    ref, refused = _reference(DAY)
    assert refused == []
    _same_books(feed, ref)
    assert feed.book_list()[0]["bids"] == [[100 * PX, 12, 2]]
    assert feed.book_list()[0]["asks"] == [[101 * PX, 8, 1], [102 * PX, 4, 1]]
    assert symbols == {7: "ESH6", 9: "NQH6"}
    assert [b["symbol"] for b in feed.book_list()] == ["ESH6", "NQH6"]
    assert rep.compressed is zstd and rep.schema == "mbo" and rep.records == len(DAY)
    assert rep.counts_by_action == {"A": 7, "C": 4, "M": 1, "T": 1, "F": 1}
    c = rep.counters
    assert c["events"] == len(DAY) and c["trades"] == 1 and c["fills"] == 1
    assert c["book_changes"] == len(DAY) - 2 and c["instruments"] == 2
    assert c["live_orders"] == 5 and c["refused"] == 0


def test_modify_keeps_or_loses_queue_priority(tmp_path):
    rows = [(7, 1, 100, 10, "A", "B"), (7, 2, 100, 10, "A", "B"), (7, 3, 100, 10, "A", "B")]
    cases = [
        ((7, 1, 100, 4, "M", "B"), [1, 2, 3]),  # size down: keeps its place
        ((7, 1, 100, 4, "M", "B"), [1, 2, 3]),  # nothing changes: keeps it
        ((7, 1, 100, 5, "M", "B"), [2, 3, 1]),  # size up: to the back
        ((7, 2, 101, 10, "M", "B"), [3, 1]),  # price away ...
        ((7, 2, 100, 10, "M", "B"), [3, 1, 2]),  # ... and back: behind those who stayed
        ((7, 3, 100, 2, "C", "B"), [3, 1, 2]),  # a partial cancel keeps the place
    ]
    for n, (row, queue) in enumerate(cases):
        rows.append(row)
        path = write_dbn(tmp_path / f"m{n}.dbn", "mbo", _records(rows))
        feed, rep, _ = replay_dbn(path)
        assert feed.queue(7, "B", 100 * PX) == queue, row
        ref, _ = _reference(rows)
        assert ref.queue((1, 7), "B", 100 * PX) == queue
    c = rep.counters
    assert (c["priority_kept"], c["priority_lost"]) == (2, 3)


def test_modify_of_an_unknown_order_is_an_add(tmp_path):
    path = write_dbn(tmp_path / "m.dbn", "mbo", _records([(7, 5, 100, 3, "M", "A")]))
    feed, rep, _ = replay_dbn(path)
    assert feed.book_list()[0]["asks"] == [[100 * PX, 3, 1]]
    assert rep.counters["modify_as_add"] == 1


def test_clear_empties_one_instrument_and_its_ids_come_back(tmp_path):
    rows = [(7, 1, 100, 10, "A", "B"), (7, 2, 101, 1, "A", "A"), (9, 3, 50, 2, "A", "B"),
            (7, 0, UNDEF, 0, "R", "N"), (7, 1, 98, 1, "A", "B")]
    recs = [mbo(i, o, p * PX if p != UNDEF else UNDEF, s, a, sd) for i, o, p, s, a, sd in rows]
    feed, rep, _ = replay_dbn(write_dbn(tmp_path / "r.dbn", "mbo", recs))
    books = {b["instrument_id"]: b for b in feed.book_list()}
    assert books[7]["bids"] == [[98 * PX, 1, 1]] and books[7]["asks"] == []
    assert books[9]["bids"] == [[50 * PX, 2, 1]]
    assert rep.counts_by_action["R"] == 1 and rep.counters["live_orders"] == 2


def test_a_snapshot_start_builds_the_book_in_queue_order(tmp_path):
    snap = F_SNAPSHOT
    recs = [mbo(7, 0, UNDEF, 0, "R", "N", snap),
            mbo(7, 11, 100 * PX, 5, "A", "B", snap), mbo(7, 12, 100 * PX, 6, "A", "B", snap),
            mbo(7, 13, 101 * PX, 1, "A", "A", snap | F_LAST),
            mbo(7, 14, 100 * PX, 2, "A", "B"), mbo(7, 11, 100 * PX, 5, "C", "B")]
    feed, rep, _ = replay_dbn(write_dbn(tmp_path / "s.dbn", "mbo", recs))
    assert feed.queue(7, "B", 100 * PX) == [12, 14]
    assert feed.book_list()[0]["bids"] == [[100 * PX, 8, 2]]
    assert rep.counters["snapshot_records"] == 4 and rep.counters["events"] == 3


def test_trades_and_fills_change_no_book(tmp_path):
    base = [(7, 1, 100, 10, "A", "B"), (7, 2, 101, 3, "A", "A")]
    extra = [(7, 0, 101, 3, "T", "B"), (7, 2, 101, 3, "F", "A"), (7, 0, 0, 0, "N", "N")]
    a, _, _ = replay_dbn(write_dbn(tmp_path / "a.dbn", "mbo", _records(base)))
    b, rep, _ = replay_dbn(write_dbn(tmp_path / "b.dbn", "mbo", _records(base + extra)))
    assert a.book_list() == b.book_list()
    assert rep.counters["trades"] == 1 and rep.counters["fills"] == 1
    assert rep.counters["book_changes"] == 2


def test_refused_record_raises_with_where_or_is_counted(tmp_path):
    rows = [(7, 1, 100, 10, "A", "B"), (7, 99, 100, 1, "C", "B"), (7, 1, 100, 11, "C", "B"),
            (7, 2, 100, 1, "A", "N"), (7, 1, 100, 4, "C", "B")]
    path = write_dbn(tmp_path / "e.dbn", "mbo", _records(rows))
    with pytest.raises(DbnBookError) as e:
        replay_dbn(path)
    assert "record 1 at byte" in str(e.value) and "OrderID not live" in str(e.value)
    feed, rep, _ = replay_dbn(path, errors="skip")
    ref, refused = _reference(rows)
    assert refused == [1, 2, 3]
    assert rep.counters["refused"] == 3 and len(feed.rejections) == 3
    assert "cancel size larger" in str(feed.rejections[1])
    assert "side is not" in str(feed.rejections[2])
    _same_books(feed, ref)
    assert rep.counts_by_action == {"A": 2, "C": 3} and rep.counters["events"] == 5


def test_a_refused_record_does_not_add_its_instrument(tmp_path):
    rows = [(7, 1, 100, 10, "A", "B"), (8, 99, 100, 1, "C", "B"), (9, 2, 100, 1, "A", "N"),
            (7, 1, 100, 4, "C", "B"), (9, 3, 100, 1, "A", "A")]
    path = write_dbn(tmp_path / "e.dbn", "mbo", _records(rows))
    feed, rep, _ = replay_dbn(path, errors="skip")
    assert rep.counters["refused"] == 2 and rep.counters["instruments"] == 2
    assert [(b["instrument_id"], len(b["asks"]) + len(b["bids"])) for b in feed.book_list()] \
        == [(7, 1), (9, 1)]


def test_mixed_records_and_ts_out(tmp_path):
    # a live capture: symbol mappings among the MBO records, every record with ts_out
    recs = [symbol_mapping(7, "ESH6", ts_out=1), mbo(7, 1, 100 * PX, 1, "A", "B", ts_out=5),
            symbol_mapping(9, "NQH6", ts_out=1), mbo(7, 2, 100 * PX, 2, "A", "B", ts_out=6)]
    feed, rep, _ = replay_dbn(write_dbn(tmp_path / "x.dbn", "mbo", recs, ts_out=True))
    assert feed.queue(7, "B", 100 * PX) == [1, 2]
    assert rep.other_records == {"symbol_mapping": 2} and rep.records == 2


def test_definitions_name_the_instruments(tmp_path):
    defs = write_dbn(tmp_path / "defs.dbn.zst", "definition",
                     [definition(7, "ESH6"), definition(9, "NQH6 C5000")], zstd=True)
    assert read_definitions(defs) == {7: "ESH6", 9: "NQH6 C5000"}
    feed, rep, symbols = replay_dbn(defs)
    assert feed is None and rep.definitions == 2 and symbols[9] == "NQH6 C5000"
    day = write_dbn(tmp_path / "d.dbn", "mbo", _records(DAY), mappings=[mapping("ESZ5", 7)])
    feed, _, symbols = replay_dbn(day, definitions=defs)
    assert symbols == {7: "ESH6", 9: "NQH6 C5000"}  # definitions win over the mappings
    assert [b["symbol"] for b in feed.book_list()] == ["ESH6", "NQH6 C5000"]


# -- property: random valid-ish streams, compiled books == reference ------------------------

@st.composite
def streams(draw):
    n = draw(st.integers(1, 120))
    rows = []
    live: dict[int, tuple[int, str]] = {}
    next_id = 1
    for _ in range(n):
        kind = draw(st.sampled_from("AAAACCMMRTFx"))
        iid = draw(st.sampled_from([3, 4, 5]))
        price = draw(st.integers(95, 105))
        if kind == "A" or not live and kind in "CM":
            rows.append((iid, next_id, price, draw(st.integers(1, 9)), "A",
                         draw(st.sampled_from("BA"))))
            live[next_id] = (iid, rows[-1][5])
            next_id += 1
        elif kind in "CM":
            oid = draw(st.sampled_from(sorted(live)))
            oi, side = live[oid]
            size = draw(st.integers(1, 10))
            rows.append((oi, oid, price, size, kind, side))
        elif kind == "R":
            rows.append((iid, 0, UNDEF, 0, "R", "N"))
        elif kind in "TF":
            rows.append((iid, 0, price, 1, kind, "A"))
        else:  # something the books refuse: an unknown order, an id live elsewhere
            rows.append(draw(st.sampled_from([(iid, 10_000, price, 1, "C", "B"),
                                               (iid, 1, price, 1, "A", "B")])))
    return rows


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                 HealthCheck.function_scoped_fixture])
@given(rows=streams(), zstd=st.booleans(), chunk=st.sampled_from([4096, 1 << 20]))
def test_property_compiled_books_equal_the_reference(tmp_path, rows, zstd, chunk):
    recs = [mbo(i, o, p * PX if p != UNDEF else UNDEF, s, a, sd, seq=n)
            for n, (i, o, p, s, a, sd) in enumerate(rows)]
    path = write_dbn(tmp_path / "p.dbn", "mbo", recs, zstd=zstd)
    feed, rep, _ = replay_dbn(path, errors="skip", chunk_bytes=chunk, max_instruments=64)
    ref, refused = _reference(rows)
    _same_books(feed, ref)
    assert rep.counters["refused"] == len(refused)
    assert [r.index for r in feed.rejections] == refused[-100:]
