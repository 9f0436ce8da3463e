"""`tickpath replay --parquet`: the tables hold exactly what the books did, the books are the
same as without it, and bad targets are refused with nothing written."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from reference.parquet_rows import BOOK_TYPES, TRADE_TYPES, reference
from tickpath.apps.replay import replay
from tickpath.book.records import PerInstrument
from tickpath.feed.itch import ItchError
from tickpath.parquet import ParquetDirError, ParquetWriteError
from tickpath.parquet import writer as pw
from tickpath.wire.pcap import read_records, udp_payload

ALL = ("events", "top", "trades")


def _read(d: Path, name: str) -> dict[str, list]:
    return pq.read_table(d / f"{name}.parquet").to_pydict()


@pytest.fixture(scope="module")
def written(sim_day, tmp_path_factory):
    out = tmp_path_factory.mktemp("written") / "day"
    handler, rep = replay(sim_day[0], parquet=out, parquet_tables=ALL, parquet_rows=4096)
    return out, handler, rep


def test_event_counts_equal_the_handlers_counts_by_type(written):
    out, handler, rep = written
    ev = _read(out, "events")
    counts = rep.counts_by_type
    assert Counter(ev["type"]) == {t: counts[t] for t in BOOK_TYPES if counts.get(t)}
    tr = _read(out, "trades")
    assert Counter(tr["type"]) == {t: counts[t] for t in TRADE_TYPES if counts.get(t)}
    meta = json.loads((out / "_meta.json").read_text())
    assert meta["counts_by_type"] == counts and meta["messages"] == rep.messages == 20_000
    assert meta["tables"]["events"]["rows"] == len(ev["type"])
    groups = pq.ParquetFile(out / "events.parquet").metadata.num_row_groups
    assert meta["tables"]["events"]["row_groups"] == groups >= 1
    assert meta["source"] == str(Path(rep.path).resolve())


def test_events_carry_what_the_books_knew(written, sim_reference):
    out, _, _ = written
    ev = _read(out, "events")
    got = list(zip(ev["offset"], ev["type"], ev["side"], ev["price"], ev["shares"],
                   strict=True))
    want = [(o, t, chr(s), p, n) for o, t, s, p, n in sim_reference.events]
    assert got == want
    kinds = dict(zip(ev["type"], ev["kind"], strict=True))
    assert kinds == {"A": "add", "F": "add", "E": "execute", "C": "execute", "X": "cancel",
                     "D": "delete", "U": "replace"}
    assert all((r is None) == (t != "U") for t, r in zip(ev["type"], ev["new_ref"],
                                                          strict=True))


def test_top_is_every_change_of_the_books(written, sim_reference):
    out, handler, _ = written
    top = _read(out, "top")
    cols = ["time_ns", "locate", "bid_price", "bid_shares", "ask_price", "ask_shares",
            "offset"]
    got = [tuple(0 if v is None else v for v in row)
           for row in zip(*(top[c] for c in cols), strict=True)]
    assert got == sim_reference.top
    # the last row per instrument is its top at the end: the books' best bid and ask
    last = {row[1]: row for row in got}
    books = handler.books
    for loc, row in last.items():
        b, a = books.bbo(loc)
        assert row[2:6] == (b[0] if b else 0, b[1] if b else 0, a[0] if a else 0,
                            a[1] if a else 0)
    assert set(last) >= {int(x) for x in np.flatnonzero(
        books.inst[:, PerInstrument.ORDERS])}


def test_trades_equal_executions(written, sim_reference):
    out, handler, rep = written
    tr = _read(out, "trades")
    got = list(zip(tr["offset"], tr["locate"], tr["type"], tr["price"], tr["shares"],
                   tr["resting_side"], tr["printable"], strict=True))
    want = [(o, loc, t, p, n, chr(s) if s else None, pr)
            for o, loc, t, p, n, s, pr in sim_reference.trades]
    assert got == want
    execs = [i for i, t in enumerate(tr["type"]) if t in "EC"]
    assert len(execs) == rep.book_stats["executions"]
    per_locate: Counter[int] = Counter()
    for i in execs:
        per_locate[tr["locate"][i]] += tr["shares"][i]
    inst = handler.books.inst[:, PerInstrument.EXECUTED_SHARES]
    assert per_locate == {int(x): int(inst[x]) for x in np.flatnonzero(inst)}
    # the aggressor is the side opposite the resting order, none for a cross
    opposite = {"B": "S", "S": "B", None: None}
    assert all(a == opposite[r] for a, r in zip(tr["aggressor"], tr["resting_side"],
                                                 strict=True))
    # the same executions as the events table, message for message
    ev = _read(out, "events")
    ev_exec = {o: (p, n) for o, t, p, n in zip(ev["offset"], ev["type"], ev["price"],
                                                ev["shares"], strict=True) if t in "EC"}
    assert ev_exec == {tr["offset"][i]: (tr["price"][i], tr["shares"][i]) for i in execs}


def test_instruments_are_the_directory(written, sim_day):
    out, handler, _ = written
    ins = _read(out, "instruments")
    assert ins["symbol"] == sim_day[1].symbols
    assert dict(zip(ins["locate"], ins["symbol"], strict=True)) == handler.books.directory
    assert set(ins["market_category"]) <= set("QGS")
    assert all(n > 0 for n in ins["round_lot_size"])


def test_books_are_the_same_with_and_without_parquet(written, sim_day):
    _, handler, rep = written
    plain, rep2 = replay(sim_day[0])
    assert rep.counts_by_type == rep2.counts_by_type
    assert rep.book_stats == rep2.book_stats
    assert list(handler.books.books()) == list(plain.books.books())
    assert (handler.books.inst == plain.books.inst).all()


def test_default_tables_leave_events_out(sim_day, tmp_path):
    out = tmp_path / "day"
    out.mkdir()  # an empty directory is fine
    _, rep = replay(sim_day[0], parquet=out)
    assert sorted(os.listdir(out)) == ["_meta.json", "instruments.parquet", "top.parquet",
                                       "trades.parquet"]
    assert set(rep.parquet_rows) == {"top", "trades"}
    assert sorted(os.listdir(tmp_path)) == ["day"]  # no temporary directory left


def test_an_existing_directory_is_refused_and_nothing_written(sim_day, tmp_path):
    out = tmp_path / "day"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    with pytest.raises(ParquetDirError, match="exists and is not empty; remove it"):
        replay(sim_day[0], parquet=out)
    assert os.listdir(out) == ["keep.txt"]
    assert sorted(os.listdir(tmp_path)) == ["day"]


def test_a_failed_replay_leaves_no_directory(sim_day, tmp_path):
    bad = tmp_path / "bad.itch"
    data = bytearray(sim_day[0].read_bytes())
    p = 0
    for _ in range(15_000):  # far enough in that rows were handed to the writer
        p += 2 + int.from_bytes(data[p:p + 2], "big")
    data[p:p + 2] = b"\x01\x23"  # a block length that matches no type
    bad.write_bytes(bytes(data))
    with pytest.raises(ItchError):
        replay(bad, parquet=tmp_path / "day", parquet_rows=1024)
    assert sorted(os.listdir(tmp_path)) == ["bad.itch"]


def test_a_write_error_names_the_file(sim_day, tmp_path, monkeypatch):
    def fail(rows):
        raise OSError(28, "No space left on device")

    monkeypatch.setitem(pw.TO_TABLE, "trades", fail)
    out = tmp_path / "day"
    with pytest.raises(ParquetWriteError, match=r"day/trades\.parquet failed: .*No space"):
        replay(sim_day[0], parquet=out, parquet_rows=256)
    assert sorted(os.listdir(tmp_path)) == []


@pytest.mark.parametrize("rows", [256, 64])
def test_a_writer_bug_is_raised_never_a_silent_or_hung_replay(sim_day, tmp_path, monkeypatch,
                                                             rows):
    """Any exception in the writer thread (not only a write error) reaches the replay, which
    renames nothing into place; with arrays small enough to need the writer's done() the
    replay does not wait for ever."""
    def bug(rows):
        raise TypeError("a bug in the conversion")

    monkeypatch.setitem(pw.TO_TABLE, "top", bug)
    with pytest.raises(RuntimeError, match=r"Parquet writer failed on top\.parquet: TypeError"):
        replay(sim_day[0], parquet=tmp_path / "day", parquet_rows=rows)
    assert sorted(os.listdir(tmp_path)) == []


def test_the_working_directory_is_refused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ParquetDirError, match="working directory"):
        pw.check_target(".")
    assert pw.check_target("day") == tmp_path / "day"


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "tickpath.cli", *args], capture_output=True,
                          text=True, timeout=300)


def test_cli_writes_and_refuses(sim_day, tmp_path):
    out = tmp_path / "day"
    r = _cli("replay", str(sim_day[0]), "--parquet", str(out), "--parquet-tables", "all",
             "--no-progress")
    assert r.returncode == 0, r.stderr
    assert "wrote Parquet to" in r.stdout
    assert sorted(os.listdir(out)) == ["_meta.json", "events.parquet", "instruments.parquet",
                                       "top.parquet", "trades.parquet"]
    before = {p: p.stat().st_mtime_ns for p in out.iterdir()}
    r = _cli("replay", str(sim_day[0]), "--parquet", str(out), "--no-progress")
    assert r.returncode == 2
    assert "exists and is not empty" in r.stderr and "rm -r" in r.stderr
    assert {p: p.stat().st_mtime_ns for p in out.iterdir()} == before
    r = _cli("replay", str(sim_day[0]), "--parquet", str(tmp_path / "x"), "--parquet-tables",
             "events,quotes", "--no-progress")
    assert r.returncode == 2 and "--parquet-tables" in r.stderr
    r = _cli("replay", str(sim_day[0]), "--feed", "mdp3", "--parquet", str(tmp_path / "x"),
             "--no-progress")
    assert r.returncode == 2 and "not supported yet" in r.stderr
    assert not (tmp_path / "x").exists()
    # a DBN file (found by its name) and a LOBSTER pair: refused before either is read
    dbn = tmp_path / "day.dbn"
    dbn.write_bytes(b"DBN\x02")
    lob = tmp_path / "AAPL_2012-06-21_34200000_57600000_message_1.csv"
    lob.write_text("34200.0,1,1,100,1000000,1\n")
    for f in (dbn, lob):
        r = _cli("replay", str(f), "--parquet", str(tmp_path / "x"), "--no-progress")
        assert r.returncode == 2 and "not supported yet" in r.stderr, r.stderr
        assert not (tmp_path / "x").exists()


def _real_itch_file(shared_data: Path, path: Path) -> int:
    """Every real ITCH message of the captures, as one BinaryFILE: the blocks of each
    MoldUDP64 packet back to back (the packets' own framing). Returns the message count."""
    root = shared_data / "nasdaq-itch50"
    blocks, count = [], 0
    for pcap in sorted(root.glob("*/*.pcap")):
        for rec in read_records(pcap):
            got = udp_payload(rec.frame, rec.linktype)
            data = bytes(got[0])
            blocks.append(data[20:])
            count += int.from_bytes(data[18:20], "big")
    if not count:
        pytest.skip(f"no ITCH 5.0 captures under {root}")
    path.write_bytes(b"".join(blocks))
    return count


def test_real_itch_messages_replay_to_parquet(shared_data, tmp_path):
    """Real messages of three venues and days: the adds and trades apply, most executions,
    cancels and deletes name orders these captures never added (refused, counted, no row)."""
    src = tmp_path / "real.itch"
    n = _real_itch_file(shared_data, src)
    out = tmp_path / "day"
    handler, rep = replay(src, parquet=out, parquet_tables=ALL, errors="skip")
    assert rep.messages == n and rep.malformed == 0
    counts = rep.counts_by_type
    ev, tr = _read(out, "events"), _read(out, "trades")
    assert Counter(ev["type"]) == {t: counts[t] for t in BOOK_TYPES if counts.get(t)}
    assert Counter(tr["type"]) == {t: counts[t] for t in TRADE_TYPES if counts.get(t)}
    assert {"A", "F"} <= set(ev["type"]) and {"P", "Q"} <= set(tr["type"])
    assert rep.book_stats["rejected"] > 0  # the captures' executions of unknown orders
    ref = reference(src)
    assert len(ev["type"]) == len(ref.events)
    top = _read(out, "top")
    last = {}
    for i, loc in enumerate(top["locate"]):
        last[loc] = (top["bid_price"][i], top["ask_price"][i])
    for loc, (bid, ask) in last.items():
        b, a = handler.books.bbo(loc)
        assert (bid, ask) == (b[0] if b else None, a[0] if a else None)


def test_batches_are_gathered_into_row_groups(tmp_path):
    from tickpath.book.rows import TOP_ROW
    from tickpath.parquet import ParquetDay, itch_instruments

    day = ParquetDay(tmp_path / "day", ("top",), row_group_rows=1000)
    released = []
    for i in range(7):  # 7 batches of 300 rows: row groups of 1,200, 900 (the rest)
        rows = np.zeros(300, TOP_ROW)
        rows["time_ns"] = np.arange(300) + 300 * i
        rows["locate"] = 1
        day.sink("top", rows, lambda i=i: released.append(i))
    out = day.finish(itch_instruments([]), {})
    f = pq.ParquetFile(out / "top.parquet")
    assert [f.metadata.row_group(g).num_rows for g in range(f.metadata.num_row_groups)] == \
        [1200, 900]
    assert pq.read_table(out / "top.parquet")["time_ns"].to_pylist() == list(range(2100))
    assert released == list(range(7))
    assert json.loads((out / "_meta.json").read_text())["tables"]["top"] == {
        "file": "top.parquet", "rows": 2100, "row_groups": 2}


def test_a_failed_last_row_group_is_reported_not_hung(tmp_path, monkeypatch):
    from tickpath.book.rows import TOP_ROW
    from tickpath.parquet import ParquetDay, itch_instruments

    def full(self, table, pending):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(ParquetDay, "_write", full)
    with pytest.raises(ParquetWriteError, match=r"top\.parquet failed"):
        with ParquetDay(tmp_path / "day", ("top",)) as day:
            day.sink("top", np.zeros(10, TOP_ROW), lambda: None)
            day.finish(itch_instruments([]), {})
    assert os.listdir(tmp_path) == []


def test_an_abort_gives_queued_batches_back_unwritten(tmp_path, monkeypatch):
    """Leaving by an exception: every queued batch is released (the replay's arrays come
    back), none is written after the abort, and nothing is left on disk."""
    import threading

    from tickpath.book.rows import TOP_ROW
    from tickpath.parquet import ParquetDay

    gate, inside = threading.Event(), threading.Event()
    taken = []
    real_take = ParquetDay._take

    def slow_take(self, table, rows, done):  # the writer busy with the first batch
        inside.set()
        gate.wait(10)
        taken.append(len(rows))
        real_take(self, table, rows, done)

    monkeypatch.setattr(ParquetDay, "_take", slow_take)
    released = []
    with pytest.raises(KeyboardInterrupt):
        with ParquetDay(tmp_path / "day", ("top",), row_group_rows=10) as day:
            for i in range(5):
                day.sink("top", np.zeros(10, TOP_ROW), lambda i=i: released.append(i))
            assert inside.wait(10)
            threading.Timer(0.05, gate.set).start()
            raise KeyboardInterrupt
    assert sorted(released) == list(range(5))
    assert taken == [10]  # only the batch the writer held when the abort came
    assert os.listdir(tmp_path) == []
