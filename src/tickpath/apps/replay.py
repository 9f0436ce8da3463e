"""Replay of NASDAQ binary ITCH 5.0 files (plain or gzip) through the decoder and books."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..book import BookStore
from ..feed.binaryfile import DEFAULT_CHUNK, BlockReader, file_size
from ..feed.itch import ItchHandler, LostRange


@dataclass
class ReplayReport:
    path: str
    messages: int
    bytes: int
    #: the replay's own time: the compiled code already loaded (or compiled), see ``startup_s``
    seconds: float
    counts_by_type: dict[str, int] = field(default_factory=dict)
    book_stats: dict[str, int] = field(default_factory=dict)
    malformed: int = 0
    #: bytes skipped with errors="skip" while finding the message boundaries again
    lost_bytes: int = 0
    #: where: the first 100 ranges (stream offsets) and how many there were in all
    lost: list[LostRange] = field(default_factory=list)
    lost_ranges: int = 0
    #: the file ended with BinaryFILE's end-of-session marker (a zero-length block)
    end_of_session: bool = False
    #: with ``parquet``: the directory written, and the rows of each table
    parquet: Path | None = None
    parquet_rows: dict[str, int] = field(default_factory=dict)
    #: CPU seconds of the background thread that wrote the Parquet files
    parquet_writer_cpu_s: float = 0.0
    #: seconds the replay waited for a spare row array while the writer held them all
    parquet_wait_s: float = 0.0
    #: loading the kernels from numba's cache (compiling them on a cold one) before the
    #: replay: a fixed cost that would make a small file's rate meaningless
    startup_s: float = 0.0

    @property
    def lost_messages(self) -> tuple[int, int]:
        """The fewest and most messages the lost bytes held, over the ranges listed."""
        return (sum(r.messages[0] for r in self.lost), sum(r.messages[1] for r in self.lost))

    @property
    def msgs_per_s(self) -> float:
        return self.messages / self.seconds if self.seconds > 0 else 0.0


#: the row tables ``--parquet`` can write, and those it writes unless told otherwise: events
#: (a row per book message) is opt-in, it is what costs replay speed (BENCHMARKS.md)
ALL_PARQUET_TABLES = ("events", "top", "trades")
PARQUET_TABLES = ("top", "trades")


def replay(path: str | Path, handler: ItchHandler | None = None, *,
           chunk_bytes: int = DEFAULT_CHUNK, errors: str = "raise",
           max_orders: int = 1 << 21,
           progress: Callable[[int, int], None] | None = None,
           inflater: str = "auto", inflate_thread: bool = True,
           parquet: str | Path | None = None,
           parquet_tables: Iterable[str] = PARQUET_TABLES,
           parquet_rows: int = 1 << 16) -> tuple[ItchHandler, ReplayReport]:
    """Build every book from a binary ITCH file. Streams it; never loads it whole.

    ``progress(done, total)`` is called once per chunk with the bytes decoded so far
    (compressed bytes read, for gzip) and the file size. Returns the handler (books inside)
    and a report.

    ``errors="raise"`` stops at the first malformed block (:class:`ItchError`, its offset and
    reason) or refused message (:class:`tickpath.book.BookError`). ``"skip"`` counts them and
    goes on: after a malformed block decoding resumes where the message boundaries are found
    again (:meth:`ItchHandler.on_blocks`), and the report says which bytes were lost.

    The file is read ahead in a thread of its own (``inflate_thread``; False: in this one),
    which inflates a gzip file with ``inflater`` (:func:`tickpath.feed.binaryfile.gzip_module`:
    ISA-L's when installed).

    ``parquet``: a directory to write the day into as Parquet (docs/parquet.md): the tables
    ``parquet_tables`` (of ``events``, ``top``, ``trades``), ``instruments.parquet`` and
    ``_meta.json``. It must not exist or be empty
    (:class:`tickpath.parquet.ParquetDirError`, before anything is read); it appears only
    once the replay succeeded. The books write the rows from compiled code into arrays of
    ``parquet_rows`` records, handed in batches to a background writer thread.
    """
    if handler is None:
        handler = ItchHandler(BookStore(max_orders=max_orders, errors=errors), errors=errors)
    if parquet is None:
        return _replay(path, handler, chunk_bytes, progress, inflater, inflate_thread)
    from ..book.row_buffers import RowBuffers
    from ..parquet import ParquetDay, itch_instruments

    tables = tuple(parquet_tables)
    with ParquetDay(parquet, tables) as day:
        rows = RowBuffers(tables, day.sink, rows=parquet_rows)
        handler.rows = rows
        try:
            handler, report = _replay(path, handler, chunk_bytes, progress, inflater,
                                      inflate_thread)
            rows.flush()
        finally:
            handler.rows = None
        report.parquet = day.finish(itch_instruments(rows.directory), _meta(report))
        report.parquet_rows = {t: day.rows[t] for t in day.tables}
        report.parquet_writer_cpu_s = day.writer_cpu_s
        report.parquet_wait_s = rows.waited_s
    return handler, report


def _meta(report: ReplayReport) -> dict[str, object]:
    """What ``_meta.json`` says about the replay."""
    from .. import __version__

    return {
        "source": str(Path(report.path).resolve()),
        "feed": "itch",
        "tickpath_version": __version__,
        "written": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "time": "time_ns: the message's timestamp, ns since midnight, the venue's local time",
        "price_scale": 10_000,
        "messages": report.messages,
        "bytes": report.bytes,
        "counts_by_type": report.counts_by_type,
        "book_stats": report.book_stats,
        "malformed": report.malformed,
        "lost_bytes": report.lost_bytes,
        "end_of_session": report.end_of_session,
    }


def _load_kernels(handler: ItchHandler) -> float:
    """Run a few BinaryFILE blocks through a scratch handler of ``handler``'s types (and its
    row tables), so that numba loads, or compiles, every kernel the replay will call. Returns
    the seconds it took."""
    from ..codec.itch50.message import encode

    t0 = time.perf_counter()
    msgs = [encode("R", stock_locate=1, stock="WARM"),
            encode("A", stock_locate=1, order_reference_number=1, buy_sell_indicator="B",
                   shares=1, stock="WARM", price=1),
            encode("E", stock_locate=1, order_reference_number=1, executed_shares=1,
                   match_number=1)]
    # writable, like the reader's chunks: numba compiles read-only arrays separately
    blocks = np.frombuffer(b"".join(len(m).to_bytes(2, "big") + m for m in msgs),
                           np.uint8).copy()
    scratch = ItchHandler(BookStore(max_orders=16, errors=handler.errors), batch=16,
                          errors=handler.errors)
    if handler.rows is not None:
        from ..book.row_buffers import RowBuffers

        scratch.rows = RowBuffers(handler.rows.tables, lambda table, rows, done: done(),
                                  rows=16)
    scratch.on_blocks(blocks, 0, blocks.shape[0], 0, final=True)
    return time.perf_counter() - t0


def _replay(path: str | Path, handler: ItchHandler, chunk_bytes: int,
            progress: Callable[[int, int], None] | None, inflater: str,
            inflate_thread: bool) -> tuple[ItchHandler, ReplayReport]:
    total = file_size(path)
    startup = _load_kernels(handler)
    t0 = time.perf_counter()
    nbytes = 0
    with BlockReader(path, chunk_bytes, inflater=inflater,
                     inflate_thread=inflate_thread) as reader:
        for buf, start, end, base in reader.chunks():
            upto = handler.on_blocks(buf, start, end, base)
            reader.consumed(upto, end)
            nbytes = base + upto
            if progress is not None:
                progress(reader.compressed_position() or nbytes, total)
        buf, start, end, base = reader.tail()
        # the end of the file: a cut last block, a boundary search still open, or the
        # end-of-session marker are settled now
        nbytes = base + handler.on_blocks(buf, start, end, base, final=True)
    seconds = time.perf_counter() - t0
    report = ReplayReport(
        path=str(path),
        messages=handler.messages,
        bytes=nbytes,
        seconds=seconds,
        counts_by_type=handler.books.counts_by_type(),
        book_stats=handler.books.stats(),
        malformed=handler.malformed,
        lost_bytes=handler.lost_bytes,
        lost=list(handler.lost),
        lost_ranges=handler.lost_ranges,
        end_of_session=handler.end_of_session,
        startup_s=startup,
    )
    return handler, report
