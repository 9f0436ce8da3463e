"""gzip BinaryFILE days: every inflater, in its own thread or not, gives the plain file's
books; progress counts compressed bytes; a truncated or damaged file is a clear error."""

from __future__ import annotations

import builtins
import gzip

import pytest
from typer.testing import CliRunner

from tickpath import Simulator, replay
from tickpath.cli import app
from tickpath.feed import binaryfile
from tickpath.feed.binaryfile import BlockReader, GzipFileError, gzip_module
from tickpath.feed.itch import ItchError, ItchHandler


@pytest.fixture(scope="module")
def day(tmp_path_factory):
    d = tmp_path_factory.mktemp("gz")
    sim = Simulator(symbols=30, messages=20_000, seed=5)
    plain, gz = d / "day.itch", d / "day.itch.gz"
    sim.write(plain)
    gz.write_bytes(gzip.compress(plain.read_bytes(), 6))
    return plain, gz


def _books(handler):
    return {b["locate"]: b for b in handler.books.books()}


@pytest.mark.parametrize("inflater", ["stdlib", "isal", "zlib-ng", "auto"])
@pytest.mark.parametrize("thread", [True, False])
def test_every_inflater_gives_the_plain_days_books(day, inflater, thread):
    if inflater in ("isal", "zlib-ng"):
        pytest.importorskip({"isal": "isal", "zlib-ng": "zlib_ng"}[inflater])
    plain, gz = day
    want, rep0 = replay(plain, max_orders=1 << 14)
    seen: list[tuple[int, int]] = []
    got, rep = replay(gz, chunk_bytes=8192, max_orders=1 << 14, inflater=inflater,
                      inflate_thread=thread, progress=lambda d, t: seen.append((d, t)))
    assert rep.messages == rep0.messages and rep.bytes == rep0.bytes
    assert _books(got) == _books(want)
    # progress: compressed bytes, never past the file's size, never backwards
    done = [d for d, _ in seen]
    assert done == sorted(done) and 0 < done[-1] <= gz.stat().st_size
    assert {t for _, t in seen} == {gz.stat().st_size}


def test_without_isal_the_standard_library_inflates(day, monkeypatch):
    real_import = builtins.__import__

    def no_isal(name, *a, **k):
        if name == "isal" or name.startswith("isal."):
            raise ImportError("no isal here")
        return real_import(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", no_isal)
    assert gzip_module("auto") is gzip
    with pytest.raises(ImportError):
        gzip_module("isal")
    plain, gz = day
    got, _ = replay(gz, max_orders=1 << 14)
    want, _ = replay(plain, max_orders=1 << 14)
    assert _books(got) == _books(want)


@pytest.mark.parametrize("thread", [True, False])
def test_a_truncated_gzip_names_the_file(day, tmp_path, thread):
    _, gz = day
    cut = tmp_path / "cut.itch.gz"
    cut.write_bytes(gz.read_bytes()[: gz.stat().st_size // 2])
    with pytest.raises(GzipFileError, match=r"cut\.itch\.gz: the gzip stream ends before") as e:
        replay(cut, chunk_bytes=8192, max_orders=1 << 14, inflate_thread=thread)
    assert "compressed bytes" in str(e.value)
    r = CliRunner().invoke(app, ["replay", str(cut), "--no-progress"], catch_exceptions=False)
    assert r.exit_code == 1 and "Traceback" not in r.output


def test_damaged_gzip_data_is_an_error_with_offsets(day, tmp_path):
    _, gz = day
    raw = bytearray(gz.read_bytes())
    raw[len(raw) // 2: len(raw) // 2 + 64] = bytes(64)
    bad = tmp_path / "bad.itch.gz"
    bad.write_bytes(bytes(raw))
    with pytest.raises((GzipFileError, ValueError), match=r"bad\.itch\.gz"):
        replay(bad, max_orders=1 << 14)


@pytest.mark.parametrize("which", ["plain", "gzip"])
def test_closing_early_stops_the_reading_thread(day, which):
    path = day[0] if which == "plain" else day[1]
    with BlockReader(path, 4096) as r:
        next(iter(r.chunks()))
        thread = r._ahead._thread
    assert not thread.is_alive()
    assert binaryfile.READ_AHEAD >= 2


def _whole_blocks(buf, start, end) -> int:
    """Where the last whole block of ``buf[start:end]`` ends (a consumer's ``upto``)."""
    p = start
    while p + 2 <= end:
        n = int(buf[p]) << 8 | int(buf[p + 1])
        if p + 2 + n > end:
            break
        p += 2 + n
    return p


@pytest.mark.parametrize("which", ["plain", "gzip"])
@pytest.mark.parametrize(("thread", "chunk"), [(False, 1), (True, 5), (False, 37), (True, 37),
                                               (False, 4096), (True, 4096)])
def test_chunks_with_their_carries_are_the_stream(day, which, thread, chunk):
    """Every byte handed on once, in order, at the stream offsets given, whatever the chunk
    size (down to a byte: every block cut) and whether a thread reads ahead; a block cut by a
    chunk's end comes whole in front of the next chunk. (5 bytes with the thread: a chunk a
    byte would be 640,000 hand-offs between threads, and the carries are the same.)"""
    path = day[0] if which == "plain" else day[1]
    want = day[0].read_bytes()
    got = bytearray()
    with BlockReader(path, chunk, inflate_thread=thread) as r:
        for buf, start, end, base in r.chunks():
            assert base + start == len(got)  # buf[start] is the stream's next byte
            upto = _whole_blocks(buf, start, end)
            got += buf[start:upto].tobytes()
            r.consumed(upto, end)
        buf, start, end, base = r.tail()
        assert base + start == len(got) and end == start and r.leftover == 0
    assert bytes(got) == want


@pytest.mark.parametrize("thread", [True, False])
@pytest.mark.parametrize("chunk", [37, 4096])
def test_a_cut_last_block_is_the_tail(day, tmp_path, thread, chunk):
    cut = tmp_path / "cut.itch"
    whole = day[0].read_bytes()
    cut.write_bytes(whole[:-5])
    with BlockReader(cut, chunk, inflate_thread=thread) as r:
        done = 0
        for buf, start, end, base in r.chunks():
            upto = _whole_blocks(buf, start, end)
            done = base + upto
            r.consumed(upto, end)
        buf, start, end, base = r.tail()
        assert base + start == done and 0 < end - start == r.leftover < 60
        assert buf[start:end].tobytes() == whole[done:-5]


@pytest.mark.parametrize("thread", [True, False])
def test_a_cut_file_and_the_end_of_session_reach_the_replay(day, tmp_path, thread):
    """Read in the replay's thread or ahead, a cut last message is an error at its offset and
    a closing end-of-session marker is seen."""
    whole = day[0].read_bytes()
    cut = tmp_path / "cut.itch"
    cut.write_bytes(whole[:-5])
    with pytest.raises(ItchError, match="truncated"):
        replay(cut, max_orders=1 << 14, inflate_thread=thread, chunk_bytes=4096)
    eos = tmp_path / "eos.itch"
    eos.write_bytes(whole + b"\x00\x00")
    _, rep = replay(eos, max_orders=1 << 14, inflate_thread=thread, chunk_bytes=4096)
    assert rep.end_of_session and rep.bytes == len(whole) + 2


def test_a_chunk_not_consumed_is_an_error(day):
    with BlockReader(day[0], 4096) as r, pytest.raises(RuntimeError, match="consumed"):
        for _ in r.chunks():
            pass


def test_a_reader_dropped_unclosed_stops_its_thread(day):
    import gc

    r = BlockReader(day[0], 4096)
    next(iter(r.chunks()))
    thread = r._ahead._thread
    del r
    gc.collect()
    thread.join(timeout=5)
    assert not thread.is_alive()


def test_iterating_after_close_ends(day):
    with BlockReader(day[0], 4096) as r:
        it = r.chunks()
        buf, start, end, base = next(it)
        r.consumed(start, end)
    assert list(it) == []


def test_a_resync_run_longer_than_a_chunk_keeps_is_refused():
    from tickpath.feed.itch.handler import MAX_RESYNC_RUN

    ItchHandler(resync_run=MAX_RESYNC_RUN)
    with pytest.raises(ValueError, match="resync_run"):
        ItchHandler(resync_run=MAX_RESYNC_RUN + 1)
    with pytest.raises(ValueError, match="resync_run"):
        ItchHandler(resync_run=0)
