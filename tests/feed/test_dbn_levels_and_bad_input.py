"""DBN MBP-1/MBP-10 into price levels; schemas without books; damaged and cut files; the
command line; a fuzzer over mutated files."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from dbn_files import PX, UNDEF, mapping, mbo, mbp, ohlcv, trade, write_dbn
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from tickpath.apps.dbn_replay import replay_dbn
from tickpath.cli import app
from tickpath.codec.dbn import DbnError, UnsupportedSchema, is_dbn
from tickpath.feed.dbn import DbnBookError


def _ten(base: int) -> list[tuple[int, int, int, int, int, int]]:
    return [((base - j) * PX, (base + 1 + j) * PX, 10 + j, 20 + j, 1 + j, 2 + j)
            for j in range(10)]


def test_mbp10_book_is_the_last_book_change_s_ten_levels(tmp_path):
    # the trade last: its levels are the book before the trade, not after it
    recs = [mbp(7, _ten(100)), mbp(9, _ten(50)), mbp(7, _ten(98), "C", "A", 99 * PX, 1),
            mbp(7, _ten(98)[:4], "T", "A", 99 * PX, 1)]
    feed, rep, _ = replay_dbn(write_dbn(tmp_path / "m.dbn.zst", "mbp-10", recs, zstd=True,
                                        mappings=[mapping("ESH6", 7)]))
    books = {b["instrument_id"]: b for b in feed.book_list()}
    assert books[7]["symbol"] == "ESH6"
    assert books[7]["bids"] == [[(98 - j) * PX, 10 + j, 1 + j] for j in range(10)]
    assert books[7]["asks"] == [[(99 + j) * PX, 20 + j, 2 + j] for j in range(10)]
    assert rep.counters["book_changes"] == 3
    assert len(books[9]["bids"]) == 10 and books[9]["bids"][0] == [50 * PX, 10, 1]
    assert rep.counts_by_action == {"A": 2, "C": 1, "T": 1}
    assert rep.counters["trades"] == 1 and rep.counters["instruments"] == 2
    assert feed.book_list(depth=2)[1]["asks"] == [[51 * PX, 20, 2], [52 * PX, 21, 3]]


def test_mbp1_top_of_book_and_an_emptied_side(tmp_path):
    recs = [mbp(7, [(100 * PX, 101 * PX, 5, 6, 1, 1)], ten=False),
            mbp(7, [(UNDEF, 102 * PX, 0, 3, 0, 1)], "C", "B", 100 * PX, 5, ten=False)]
    feed, rep, _ = replay_dbn(write_dbn(tmp_path / "t.dbn", "mbp-1", recs))
    assert feed.book_list() == [{"instrument_id": 7, "publisher_id": 1, "symbol": "",
                                 "bids": [], "asks": [[102 * PX, 3, 1]]}]
    assert rep.schema == "mbp-1" and rep.books == "levels"


def test_mbp1_a_trade_last_leaves_the_book_of_the_change_before_it(tmp_path):
    recs = [mbp(7, [(100 * PX, 101 * PX, 5, 6, 1, 1)], ten=False),
            mbp(8, [(50 * PX, 51 * PX, 1, 1, 1, 1)], "T", "B", 51 * PX, 1, ten=False),
            mbp(7, [(100 * PX, 101 * PX, 5, 6, 1, 1)], "T", "B", 101 * PX, 6, ten=False)]
    feed, rep, _ = replay_dbn(write_dbn(tmp_path / "t.dbn", "mbp-1", recs))
    assert feed.book_list() == [{"instrument_id": 7, "publisher_id": 1, "symbol": "",
                                 "bids": [[100 * PX, 5, 1]], "asks": [[101 * PX, 6, 1]]}]
    assert rep.counters["trades"] == 2 and rep.counters["instruments"] == 2


def test_trades_are_counted_with_no_books(tmp_path):
    path = write_dbn(tmp_path / "tr.dbn", "trades", [trade(7, PX, 1), trade(8, PX, 2)])
    feed, rep, _ = replay_dbn(path)
    assert rep.counts_by_action == {"T": 2} and rep.counters["instruments"] == 2
    assert rep.books == "" and feed.book_list() == []


def test_a_schema_without_books_is_refused_by_name(tmp_path):
    path = write_dbn(tmp_path / "bars.dbn", "ohlcv-1m", [ohlcv(7)])
    with pytest.raises(UnsupportedSchema, match=r"schema 'ohlcv-1m' is not turned into books; "
                                                r"supported: mbo .*mbp-1 and mbp-10"):
        replay_dbn(path)


def _day(n: int = 300) -> list[bytes]:
    return [mbo(7, i + 1, (100 + i % 5) * PX, 1 + i % 3, "A", "BA"[i % 2]) for i in range(n)]


def test_a_cut_plain_file_names_where(tmp_path):
    path = write_dbn(tmp_path / "cut.dbn", "mbo", _day())
    data = path.read_bytes()
    path.write_bytes(data[:-20])
    with pytest.raises(DbnError) as e:
        replay_dbn(path, chunk_bytes=4096)
    msg = str(e.value)
    assert "cut.dbn: the stream ends inside a record: 36 of its 56 bytes" in msg
    assert f"at byte {len(data) - 56:,} (after 299 whole records)" in msg


def test_a_cut_zstd_file_names_where(tmp_path):
    path = write_dbn(tmp_path / "cut.dbn.zst", "mbo", _day(3000), zstd=True)
    data = path.read_bytes()
    path.write_bytes(data[:len(data) // 2])
    with pytest.raises(DbnError, match=r"cut\.dbn\.zst: the zstd stream is cut: the file ends "
                                       r"inside a compressed frame .* at byte [\d,]+ of the "
                                       "compressed file"):
        replay_dbn(path)


@pytest.mark.parametrize("data, reason", [
    (b"", "shorter than the 8-byte prefix"),
    (b"ITCH\x00\x00\x00\x00", "not a DBN stream: it starts with b'ITC'"),
    (b"DBN\x09\x00\x00\x00\x00", "DBN version 9 is not supported"),
    (b"DBN\x03\xff\x00\x00\x00abc", "the stream ends inside the metadata (255 bytes"),
    (b"DBN\x03\x04\x00\x00\x00abcd", "unreadable metadata"),
])
def test_what_is_not_dbn_is_refused(tmp_path, data, reason):
    path = tmp_path / "x.dbn"
    path.write_bytes(data)
    with pytest.raises(DbnError, match=None) as e:
        replay_dbn(path)
    assert reason in str(e.value)


def test_a_bad_record_length_is_refused_with_its_offset(tmp_path):
    recs = _day(10)
    recs[4] = b"\x03" + recs[4][1:]  # 12 bytes: shorter than a record header
    path = write_dbn(tmp_path / "len.dbn", "mbo", recs)
    with pytest.raises(DbnError, match=r"bad record length 12 \(rtype 160\)"):
        replay_dbn(path)


def test_detection_by_name_and_content(tmp_path):
    plain = write_dbn(tmp_path / "a.bin", "mbo", _day(3))
    packed = write_dbn(tmp_path / "b.bin", "mbo", _day(3), zstd=True)
    other = tmp_path / "c.bin"
    other.write_bytes(b"\x00\x0cS" + bytes(20))
    assert is_dbn(plain) and is_dbn(packed) and not is_dbn(other)
    assert is_dbn(tmp_path / "missing.dbn.zst")


# -- the command line -----------------------------------------------------------------------

runner = CliRunner()


def test_cli_replays_mbo_into_books_json(tmp_path):
    path = write_dbn(tmp_path / "day.dbn.zst", "mbo", _day(40), zstd=True,
                     mappings=[mapping("ESH6", 7)])
    out = tmp_path / "books.jsonl"
    r = runner.invoke(app, ["replay", str(path), "--books-json", str(out), "--symbol", "ESH6",
                            "--depth", "2", "--no-progress"], catch_exceptions=False)
    assert r.exit_code == 0, r.output
    text = " ".join(r.output.split())  # as a terminal of any width would wrap it
    assert "40 records" in text and "records by action" in text
    assert "events (F_LAST) 40" in text and "40 live orders" in text
    books = [json.loads(line) for line in out.read_text().splitlines()]
    assert books[0]["symbol"] == "ESH6" and len(books[0]["bids"]) == 2
    assert not list(tmp_path.glob(".books.jsonl*"))  # the temporary name is gone


@pytest.mark.parametrize("make, feed, code, text", [
    (lambda p: write_dbn(p / "bars.dbn", "ohlcv-1m", [ohlcv(7)]), "dbn", 1,
     "schema 'ohlcv-1m' is not turned into books"),
    (lambda p: write_dbn(p / "t.bin", "trades", [trade(7, PX, 1)]), "itch", 0,
     "no books written"),
    (lambda p: write_dbn(p / "e.dbn", "mbo", [mbo(7, 5, PX, 1, "C", "B")]), "itch", 1,
     "order book refused record 0 at byte"),
])
def test_cli_bad_input_is_one_line_and_an_exit_code(tmp_path, make, feed, code, text):
    out = tmp_path / "books.jsonl"
    out.write_text("before\n")
    r = runner.invoke(app, ["replay", str(make(tmp_path)), "--books-json", str(out), "--feed",
                            feed, "--no-progress"], catch_exceptions=False)
    assert r.exit_code == code, r.output
    assert text in " ".join(r.output.split())
    assert out.read_text() == "before\n"  # nothing half-written, nothing replaced
    if code:
        assert r.output.count("\n") == 1 and "Traceback" not in r.output
        assert r.output.startswith("error: ") and "[red]" not in r.output


def test_cli_markup_in_a_file_name_is_printed_as_it_is(tmp_path):
    (tmp_path / "x[").mkdir()  # a path holding "[/bold]"
    bad = tmp_path / "x[" / "bold]y.dbn"
    bad.write_bytes(b"ITCH\x00\x00\x00\x00")
    r = runner.invoke(app, ["replay", str(bad), "--no-progress"], catch_exceptions=False,
                      terminal_width=400)
    assert r.exit_code == 1, r.output
    assert "[red]" not in r.output and "x[/bold]y.dbn: not a DBN stream" in r.output
    (tmp_path / "e[").mkdir()
    refused = tmp_path / "e[" / "]x.dbn"
    write_dbn(refused, "mbo", [mbo(7, 5, PX, 1, "C", "B")])
    r = runner.invoke(app, ["replay", str(refused), "--no-progress"], catch_exceptions=False,
                      terminal_width=400)
    assert r.exit_code == 1 and "[red]" not in r.output and "e[/]x.dbn:" in r.output


def test_cli_books_json_in_a_missing_folder_is_one_line(tmp_path):
    path = write_dbn(tmp_path / "ok.mbo.dbn", "mbo", _day(5))
    out = tmp_path / "nodir" / "b.jsonl"
    r = runner.invoke(app, ["replay", str(path), "--books-json", str(out), "--no-progress"],
                      catch_exceptions=False, terminal_width=400)
    assert r.exit_code == 1, r.output
    assert "error: cannot write the books to" in r.output and str(out) in r.output
    assert "[red]" not in r.output


def test_cli_a_folder_named_like_a_dbn_file_is_not_a_file(tmp_path):
    d = tmp_path / "d.dbn"
    d.mkdir()
    r = runner.invoke(app, ["replay", str(d), "--no-progress"], catch_exceptions=False,
                      terminal_width=400)
    assert r.exit_code == 2, r.output
    assert r.output == f"error: {d} is not a file\n"


def test_cli_a_cut_file_in_a_fresh_process(tmp_path):
    path = write_dbn(tmp_path / "cut.dbn.zst", "mbo", _day(3000), zstd=True)
    path.write_bytes(path.read_bytes()[:-9])
    out = tmp_path / "books.jsonl"
    r = subprocess.run([sys.executable, "-m", "tickpath.cli", "replay", str(path),
                        "--books-json", str(out)], capture_output=True, text=True, timeout=300)
    assert r.returncode == 1
    assert "Traceback" not in r.stderr and "the zstd stream is cut" in r.stderr
    assert not out.exists() and not list(tmp_path.glob(".books*"))


def test_cli_errors_skip_counts_refusals(tmp_path):
    path = write_dbn(tmp_path / "e.dbn", "mbo", [mbo(7, 5, PX, 1, "C", "B"),
                                                 mbo(7, 6, PX, 1, "A", "B")])
    r = runner.invoke(app, ["replay", str(path), "--errors", "skip", "--no-progress"],
                      catch_exceptions=False)
    text = " ".join(r.output.split())
    assert r.exit_code == 0 and "refused 1" in text and "1 live orders" in text


# -- fuzz: mutated files never raise anything but the errors that say what is wrong ---------

_SEED = None


def _seed_files(tmp_path_factory):
    global _SEED
    if _SEED is None:
        d = tmp_path_factory.mktemp("seed")
        recs = _day(60) + [mbo(7, 3, 100 * PX, 1, "C", "A"), mbo(9, 0, UNDEF, 0, "R", "N")]
        _SEED = [write_dbn(d / "a.dbn", "mbo", recs).read_bytes(),
                 write_dbn(d / "b.dbn", "mbp-10", [mbp(7, _ten(100))] * 3).read_bytes()]
    return _SEED


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])
@given(which=st.integers(0, 1), zstd=st.booleans(), errors=st.sampled_from(["raise", "skip"]),
       edits=st.lists(st.tuples(st.integers(0, 1 << 16), st.integers(0, 255),
                                st.sampled_from(["flip", "cut", "insert"])), max_size=4))
def test_fuzz_mutated_files_never_traceback(tmp_path_factory, which, zstd, errors, edits):
    data = bytearray(_seed_files(tmp_path_factory)[which])
    for pos, val, how in edits:
        pos %= len(data) + 1
        if how == "flip" and pos < len(data):
            data[pos] = val
        elif how == "cut":
            del data[pos:]
        else:
            data[pos:pos] = bytes([val]) * (val % 7 + 1)
        if not data:
            break
    blob = bytes(data)
    if zstd:
        import zstandard

        blob = zstandard.ZstdCompressor().compress(blob)
        if edits and edits[0][2] == "cut":
            blob = blob[:edits[0][0] % (len(blob) + 1)]
    path = tmp_path_factory.mktemp("fz") / "f.dbn"
    path.write_bytes(blob)
    try:
        replay_dbn(path, errors=errors, max_instruments=256, max_orders=4096,
                   chunk_bytes=4096)
    except (DbnError, DbnBookError):
        pass


def test_metadata_the_reader_panics_on_is_one_line(tmp_path, capfd):
    # a damaged length inside the metadata makes databento-dbn 0.72 panic ("mid > len")
    blob = bytes.fromhex("44424e0364000000474c42582e4d44503300000000000000040000003633a4ac"
                         "8718000085c438fb8718000000000000000001000047") + bytes(66)
    path = tmp_path / "p.dbn"
    path.write_bytes(blob)
    with pytest.raises(DbnError, match="unreadable metadata"):
        replay_dbn(path)
    assert "panicked" not in capfd.readouterr().err


def test_the_inflater_thread_ends_with_the_replay(tmp_path):
    import threading

    before = threading.active_count()
    path = write_dbn(tmp_path / "e.dbn.zst", "mbo", _day(5000) + [mbo(7, 10**9, PX, 1, "C", "B")]
                     + _day(5000), zstd=True)
    with pytest.raises(DbnBookError):
        replay_dbn(path, chunk_bytes=4096)  # stops early, the inflater still ahead
    feed, rep, _ = replay_dbn(path, errors="skip")
    assert rep.counters["refused"] > 0
    assert threading.active_count() == before


# -- the zstd reader thread ------------------------------------------------------------------


def _mbo_batches(reader):
    rtype, dt = reader.record_dtype("mbo")
    return reader.batches(rtype, dt)


def test_damaged_zstd_after_good_frames_hands_over_the_good_data_first(tmp_path):
    from tickpath.codec.dbn import DbnReader

    path = write_dbn(tmp_path / "g.dbn.zst", "mbo", _day(300), zstd=True)
    good = path.stat().st_size
    path.write_bytes(path.read_bytes() + b"garbage!")
    seen = 0
    with DbnReader(path, chunk_bytes=4096) as r, pytest.raises(DbnError) as e:
        for b in _mbo_batches(r):
            seen += b.records.shape[0]
    assert seen == 300
    assert "damaged zstd data" in str(e.value)
    assert f"at byte {good:,} of the compressed file" in str(e.value)
    with pytest.raises(DbnError, match=f"at byte {good:,} of the compressed file"):
        replay_dbn(path)


def _inflaters() -> list:
    import threading

    return [t for t in threading.enumerate() if t.name == "dbn-inflate" and t.is_alive()]


def test_a_reader_dropped_unclosed_stops_its_inflater(tmp_path, monkeypatch):
    import gc

    from tickpath.codec.dbn import DbnReader
    from tickpath.codec.dbn import reader as dbn_reader

    # small reads: the file is many of them, more than the inflater's queue holds, so the
    # thread is still there (waiting for room) when the reader is dropped
    monkeypatch.setattr(dbn_reader, "_COMPRESSED_READ", 1024)
    path = write_dbn(tmp_path / "big.dbn.zst", "mbo", _day(20000), zstd=True)
    before = len(_inflaters())
    r = DbnReader(path, chunk_bytes=4096)
    it = _mbo_batches(r)
    next(it)  # the inflater runs ahead, its queue full
    assert len(_inflaters()) == before + 1
    f = r._f
    del r, it
    gc.collect()
    assert len(_inflaters()) == before and f.closed


@pytest.mark.parametrize("how, what", [("garbage", "damaged zstd data"),
                                       ("cut", "the zstd stream is cut")])
def test_after_a_zstd_error_reading_on_does_not_wait(tmp_path, how, what):
    import threading

    from tickpath.codec.dbn import DbnReader

    path = write_dbn(tmp_path / "g.dbn.zst", "mbo", _day(3000), zstd=True)
    data = path.read_bytes()
    path.write_bytes(data + b"garbage!" if how == "garbage" else data[:-9])
    with DbnReader(path, chunk_bytes=4096) as r:
        with pytest.raises(DbnError, match=what):
            list(_mbo_batches(r))
        done = []

        def again() -> None:
            try:
                list(_mbo_batches(r))
            except DbnError as e:
                done.append(e)

        t = threading.Thread(target=again, daemon=True)
        t.start()
        t.join(30)  # a hang, not a time: it returns at once or never
        assert len(done) == 1 and what in str(done[0])
