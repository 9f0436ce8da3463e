"""Replay of NASDAQ binary ITCH 5.0 files (plain or gzip) through the decoder and books."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from ..book import BookStore
from ..feed.binaryfile import DEFAULT_CHUNK, BlockReader, file_size
from ..feed.itch import ItchError, ItchHandler


@dataclass
class ReplayReport:
    path: str
    messages: int
    bytes: int
    seconds: float
    counts_by_type: dict[str, int] = field(default_factory=dict)
    book_stats: dict[str, int] = field(default_factory=dict)
    malformed: int = 0

    @property
    def msgs_per_s(self) -> float:
        return self.messages / self.seconds if self.seconds > 0 else 0.0


def replay(path: str | Path, handler: ItchHandler | None = None, *,
           chunk_bytes: int = DEFAULT_CHUNK, errors: str = "raise",
           max_orders: int = 1 << 21,
           progress: Callable[[int, int], None] | None = None) -> tuple[ItchHandler, ReplayReport]:
    """Build every book from a binary ITCH file. Streams it; never loads it whole.

    ``progress(done, total)`` is called once per chunk with bytes read from disk (compressed
    bytes for gzip) and the file size. Returns the handler (books inside) and a report.
    """
    if handler is None:
        handler = ItchHandler(BookStore(max_orders=max_orders, errors=errors), errors=errors)
    total = file_size(path)
    t0 = time.perf_counter()
    nbytes = 0
    with BlockReader(path, chunk_bytes) as reader:
        for buf, end, base in reader.chunks():
            upto = handler.on_blocks(buf, 0, end, base)
            reader.consumed(upto, end)
            nbytes = base + upto
            if progress is not None:
                progress(reader.compressed_position() or nbytes, total)
        if reader.leftover:
            err = ItchError("truncated message at end of file", nbytes,
                            f" ({reader.leftover} bytes left over)")
            if errors == "raise":
                raise err
            handler.malformed += 1
            handler.malformed_log.append(err)
    seconds = time.perf_counter() - t0
    report = ReplayReport(
        path=str(path),
        messages=handler.messages,
        bytes=nbytes,
        seconds=seconds,
        counts_by_type=handler.books.counts_by_type(),
        book_stats=handler.books.stats(),
        malformed=handler.malformed,
    )
    return handler, report
