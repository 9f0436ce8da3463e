"""Replay of NASDAQ binary ITCH 5.0 files (plain or gzip) through the decoder and books."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ..book import BookStore
from ..feed.binaryfile import DEFAULT_CHUNK, BlockReader, file_size
from ..feed.itch import ItchHandler, LostRange


@dataclass
class ReplayReport:
    path: str
    messages: int
    bytes: int
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

    @property
    def lost_messages(self) -> tuple[int, int]:
        """The fewest and most messages the lost bytes held, over the ranges listed."""
        return (sum(r.messages[0] for r in self.lost), sum(r.messages[1] for r in self.lost))

    @property
    def msgs_per_s(self) -> float:
        return self.messages / self.seconds if self.seconds > 0 else 0.0


def replay(path: str | Path, handler: ItchHandler | None = None, *,
           chunk_bytes: int = DEFAULT_CHUNK, errors: str = "raise",
           max_orders: int = 1 << 21,
           progress: Callable[[int, int], None] | None = None,
           inflater: str = "auto", inflate_thread: bool = True,
           ) -> tuple[ItchHandler, ReplayReport]:
    """Build every book from a binary ITCH file. Streams it; never loads it whole.

    ``progress(done, total)`` is called once per chunk with bytes read from disk (compressed
    bytes for gzip) and the file size. Returns the handler (books inside) and a report.

    ``errors="raise"`` stops at the first malformed block (:class:`ItchError`, its offset and
    reason) or refused message (:class:`tickpath.book.BookError`). ``"skip"`` counts them and
    goes on: after a malformed block decoding resumes where the message boundaries are found
    again (:meth:`ItchHandler.on_blocks`), and the report says which bytes were lost.

    A gzip file is inflated in a thread of its own (``inflate_thread``) by ``inflater``
    (:func:`tickpath.feed.binaryfile.gzip_module`: ISA-L's when installed).
    """
    if handler is None:
        handler = ItchHandler(BookStore(max_orders=max_orders, errors=errors), errors=errors)
    total = file_size(path)
    t0 = time.perf_counter()
    nbytes = 0
    with BlockReader(path, chunk_bytes, inflater=inflater,
                     inflate_thread=inflate_thread) as reader:
        for buf, end, base in reader.chunks():
            upto = handler.on_blocks(buf, 0, end, base)
            reader.consumed(upto, end)
            nbytes = base + upto
            if progress is not None:
                progress(reader.compressed_position() or nbytes, total)
        buf, end, base = reader.tail()
        # the end of the file: a cut last block, a boundary search still open, or the
        # end-of-session marker are settled now
        nbytes = base + handler.on_blocks(buf, 0, end, base, final=True)
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
    )
    return handler, report
