"""Replay of Databento DBN files (plain or zstd) into tickpath's books.

The schema in the file's metadata picks the books: ``mbo`` order-by-order books, ``mbp-1``
and ``mbp-10`` price levels, ``trades`` counted with no books, ``definition`` symbols for
instrument ids. Any other schema is refused with :class:`UnsupportedSchema` before a record
is read.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..book.export import write_books_json
from ..codec.dbn import DbnReader, UnsupportedSchema, metadata_symbols, read_definitions
from ..codec.dbn.records import RTYPE_NAMES
from ..feed.dbn import DbnLevelBooks, DbnMboFeed, DbnTradeCounts

#: the keys of each book written by :func:`write_books_atomic`
DBN_KEYS = ("instrument_id", "publisher_id", "symbol", "bids", "asks")
SUPPORTED = ("mbo (order-by-order books), mbp-1 and mbp-10 (price levels), definition "
             "(symbols for instrument ids), trades (counted, no books)")


@dataclass
class DbnReplayReport:
    path: str
    schema: str
    dataset: str
    version: int
    compressed: bool
    records: int
    bytes: int  # of the (decompressed) stream
    seconds: float
    counts_by_action: dict[str, int] = field(default_factory=dict)
    counters: dict[str, Any] = field(default_factory=dict)
    #: records of other types passed over, by rtype name
    other_records: dict[str, int] = field(default_factory=dict)
    #: "orders", "levels" or "" (trades, definitions: no books)
    books: str = ""
    #: instrument definitions read (schema definition)
    definitions: int = 0

    @property
    def records_per_s(self) -> float:
        return self.records / self.seconds if self.seconds > 0 else 0.0


Feed = DbnMboFeed | DbnLevelBooks | DbnTradeCounts


def replay_dbn(path: str | Path, *, errors: str = "raise", max_orders: int = 1 << 22,
               max_instruments: int = 1 << 18, definitions: str | Path | None = None,
               chunk_bytes: int = 8 << 20,
               progress: Callable[[int, int], None] | None = None,
               ) -> tuple[Feed | None, DbnReplayReport, dict[int, str]]:
    """Build the books of a DBN file. Streams it; never loads it whole.

    Returns ``(feed, report, symbols)``: the books' owner (None for a definition file), a
    report, and instrument_id -> symbol (from the metadata's symbology mappings, then the
    ``definitions`` file's or this file's definitions, which win). ``progress(done, total)``
    is called per chunk with file bytes read (compressed for zstd) and the file size.

    Raises :class:`~tickpath.codec.dbn.UnsupportedSchema` for a schema that holds no book
    tickpath builds, :class:`~tickpath.codec.dbn.DbnError` for a damaged or cut file (with
    its offset), :class:`~tickpath.feed.dbn.DbnBookError` for a refused record with
    ``errors="raise"``."""
    total = os.path.getsize(path)
    with DbnReader(path, chunk_bytes) as reader:
        schema = reader.schema
        if schema not in ("mbo", "mbp-1", "mbp-10", "trades", "definition"):
            what = "a mix of schemas" if schema is None else f"schema {schema!r}"
            raise UnsupportedSchema(path, f"{what} is not turned into books; supported: "
                                    f"{SUPPORTED}")
        symbols = metadata_symbols(reader.metadata)
        if definitions is not None:
            symbols.update(read_definitions(definitions))
        feed: Feed | None
        if schema == "mbo":
            feed = DbnMboFeed(max_orders=max_orders, max_instruments=max_instruments,
                              errors=errors, symbols=symbols)
        elif schema in ("mbp-1", "mbp-10"):
            feed = DbnLevelBooks(1 if schema == "mbp-1" else 10, max_instruments, symbols)
        elif schema == "trades":
            feed = DbnTradeCounts()
        else:
            feed = None
        rtype, dtype = reader.record_dtype(schema)
        t0 = time.perf_counter()
        n_defs = 0
        for batch in reader.batches(rtype, dtype):
            if feed is None:
                recs = batch.records
                for iid, sym in zip(recs["instrument_id"].tolist(),
                                    recs["raw_symbol"].tolist(), strict=True):
                    symbols[int(iid)] = sym.decode("ascii", "replace")
                n_defs += recs.shape[0]
            else:
                feed.on_batch(batch)
            if progress is not None:
                progress(reader.position(), total)
        seconds = time.perf_counter() - t0
        counts = reader.rtype_counts
        other = {RTYPE_NAMES.get(t, str(t)): int(n) for t, n in enumerate(counts.tolist())
                 if n and t != rtype}
        report = DbnReplayReport(
            path=str(path), schema=schema, dataset=reader.dataset, version=reader.version,
            compressed=reader.compressed, records=int(counts[rtype]),
            bytes=reader.stream_bytes, seconds=seconds,
            counts_by_action=feed.counts_by_action() if feed is not None else {},
            counters=feed.counters() if feed is not None else {"instruments": len(symbols)},
            other_records=other,
            books={"mbo": "orders", "mbp-1": "levels", "mbp-10": "levels"}.get(schema, ""),
            definitions=n_defs)
    if isinstance(feed, DbnMboFeed | DbnLevelBooks):
        feed.symbols = symbols
    return feed, report, symbols


def write_books_atomic(books: list[dict[str, Any]], path: str | Path) -> int:
    """Write the books as JSON lines (``DBN_KEYS``) under a temporary name beside ``path``,
    renamed to ``path`` once whole: a reader never sees half a file. Returns the count."""
    p = Path(path)
    tmp = p.with_name(f".{p.name}.{os.getpid()}.tmp")
    try:
        n = write_books_json(books, tmp, DBN_KEYS)
        os.replace(tmp, p)
    finally:
        if tmp.exists():
            tmp.unlink()
    return n
