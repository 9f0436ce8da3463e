"""``ParquetDay``: a directory of Parquet tables written by a background thread from batches
of book rows, made visible all at once.

::

    replay thread                          writer thread
    kernel fills a row array  --sink-->    queue  -> Arrow table (a copy, column by column)
    takes the next free array <--done--             array back to its pool at once
                                                    -> ParquetWriter, a row group per
                                                       ``row_group_rows`` rows gathered

Everything is written into a temporary directory beside the target (``.NAME.partial-PID``)
and renamed to the target at the end, so a replay that fails or is killed never leaves a
half-written target; a failed one removes its temporary directory (a killed one leaves it,
named as such). A target that exists and is not empty is refused before anything is written.
"""

from __future__ import annotations

import json
import os
import queue
import shutil
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ..telemetry.budget import jsonable
from .schema import SCHEMAS, TO_TABLE, writer_options

#: the tables of a day, as files
FILES = {"events": "events.parquet", "top": "top.parquet", "trades": "trades.parquet",
         "instruments": "instruments.parquet"}
META = "_meta.json"
#: compression of the instruments table (small): snappy, which every reader (DuckDB, pandas,
#: Spark, polars) reads; the row tables' encodings are in ``schema.writer_options``
COMPRESSION = "snappy"
#: rows per row group: the unit a reader skips or reads in parallel (DuckDB writes 122,880).
#: The books' batches (smaller, so their arrays stay few and warm in cache) are gathered up
#: to it; the last one is encoded after the replay ends, so a smaller one is a shorter wait
#: (measured: 1,048,576 left the replay waiting for the writer 0.1 s on 5 M messages)
ROW_GROUP_ROWS = 1 << 18


class ParquetDirError(ValueError):
    """The target directory cannot be used (it exists and is not empty, or is a file)."""


class ParquetWriteError(OSError):
    """Writing one of the files failed; the message names the file."""


def check_target(directory: str | Path) -> Path:
    """Refuse a target that exists and is not empty (or is not a directory)."""
    # absolute: "." or ".." has no name to put the temporary directory beside
    d = Path(directory).absolute()
    here = Path.cwd()
    if d.exists() and (d.resolve() == here.resolve() or d.resolve() in here.resolve().parents):
        # the directory is put in place by a rename at the end: not the one we stand in
        raise ParquetDirError(f"{directory} is the working directory or holds it; name a new "
                              "--parquet directory (it is created)")
    if d.exists():
        if not d.is_dir():
            raise ParquetDirError(f"{d} exists and is not a directory; remove it or choose "
                                  "another --parquet directory")
        if any(d.iterdir()):
            raise ParquetDirError(f"{d} exists and is not empty; remove it (rm -r {d}) or "
                                  "choose another --parquet directory")
    return d


class ParquetDay:
    """Write the tables ``tables`` (of ``events``, ``top``, ``trades``) of one replay into
    ``directory``, plus ``instruments.parquet`` and ``_meta.json`` at :meth:`finish`.

    :meth:`sink` is the :class:`~tickpath.book.row_buffers.RowBuffers` sink: it queues a
    batch for the writer thread and returns at once. A write error stops the writer; it is
    raised (:class:`ParquetWriteError`, naming the file) by the next :meth:`sink` or by
    :meth:`finish`. Use as a context manager: leaving it by an exception removes the
    temporary directory.
    """

    def __init__(self, directory: str | Path, tables: Iterable[str],
                 row_group_rows: int = ROW_GROUP_ROWS) -> None:
        self.directory = check_target(directory)
        self.row_group_rows = int(row_group_rows)
        self._pending: dict[str, list[pa.Table]] = {}
        self.tables = tuple(t for t in SCHEMAS if t in set(tables))
        self.directory.parent.mkdir(parents=True, exist_ok=True)
        self.tmp = self.directory.parent / f".{self.directory.name}.partial-{os.getpid()}"
        if self.tmp.exists():  # a killed run of a process that had our pid
            shutil.rmtree(self.tmp)
        self.tmp.mkdir()
        self.rows = dict.fromkeys(self.tables, 0)
        self.row_groups = dict.fromkeys(self.tables, 0)
        self._writers: dict[str, pq.ParquetWriter] = {}
        self._queue: queue.Queue[tuple[str, np.ndarray, Callable[[], None]] | None] = \
            queue.Queue()
        self._error: Exception | None = None
        self._abandoned = False  # abort(): what is still queued is not written
        #: CPU seconds the writer thread used (known once it stopped)
        self.writer_cpu_s = 0.0
        self._thread = threading.Thread(target=self._run, name="parquet-writer", daemon=True)
        self._thread.start()

    # -- the writer thread ------------------------------------------------------------------

    def _path(self, table: str) -> Path:
        return self.tmp / FILES[table]

    def _write(self, table: str, pending: list[pa.Table]) -> None:
        """Write the gathered batches of ``table`` as one row group."""
        w = self._writers.get(table)
        if w is None:
            w = self._writers[table] = pq.ParquetWriter(
                self._path(table), SCHEMAS[table], **writer_options(table))
        whole = pa.concat_tables(pending)
        w.write_table(whole, row_group_size=max(1, whole.num_rows))
        self.rows[table] += whole.num_rows
        self.row_groups[table] += 1
        pending.clear()

    def _take(self, table: str, rows: np.ndarray, done: Callable[[], None]) -> None:
        try:
            batch = TO_TABLE[table](rows)
        finally:
            done()  # the Arrow table holds copies: the array goes back to its pool now
        pending = self._pending.setdefault(table, [])
        pending.append(batch)
        if sum(t.num_rows for t in pending) >= self.row_group_rows:
            self._write(table, pending)

    def _run(self) -> None:
        t0 = time.thread_time()
        try:
            self._loop()
        finally:
            self.writer_cpu_s = time.thread_time() - t0

    def _loop(self) -> None:
        while True:
            item = self._queue.get()
            table = "?"
            try:
                if item is None:  # the end: what is gathered becomes the last row groups
                    if self._error is None and not self._abandoned:
                        for table, pending in self._pending.items():
                            if pending:
                                self._write(table, pending)
                    return
                table, rows, done = item
                if self._error is None and not self._abandoned:
                    self._take(table, rows, done)
                else:
                    done()
            except (OSError, pa.ArrowException) as e:
                self._error = ParquetWriteError(
                    f"writing {self.directory / FILES.get(table, table)} failed: {e}")
                if item is None:
                    return
            except Exception as e:  # noqa: BLE001  (a bug, MemoryError: the replay hears of it)
                # kept for the replay's side (sink, finish raise it); the thread goes on
                # taking batches, each given back (done()), so the replay never waits for
                # ever and never renames a directory that lacks rows
                self._error = RuntimeError(
                    f"the Parquet writer failed on {FILES.get(table, table)}: "
                    f"{type(e).__name__}: {e}")
                if item is None:
                    return

    # -- the replay's side ------------------------------------------------------------------

    def sink(self, table: str, rows: np.ndarray, done: Callable[[], None]) -> None:
        """Queue one batch of ``table``'s rows; ``done()`` is called once written."""
        if self._error is not None:
            raise self._error
        self._queue.put((table, rows, done))

    def _stop(self) -> None:
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join()

    def finish(self, instruments: pa.Table, meta: Mapping[str, Any]) -> Path:
        """Wait for the writer, write the instruments table and ``_meta.json`` (``meta`` plus
        the rows and row groups of each table), and rename the directory into place."""
        self._stop()
        for w in self._writers.values():
            w.close()
        if self._error is not None:
            raise self._error
        for table in self.tables:  # a table with no rows is still a file, with its schema
            if table not in self._writers:
                self._guard(table, lambda t=table: pq.write_table(
                    SCHEMAS[t].empty_table(), self._path(t), **writer_options(t)))
        self._guard("instruments", lambda: pq.write_table(
            instruments, self._path("instruments"), compression=COMPRESSION))
        doc = dict(meta)
        doc["tables"] = {t: {"file": FILES[t], "rows": self.rows[t],
                             "row_groups": self.row_groups[t]} for t in self.tables}
        doc["tables"]["instruments"] = {"file": FILES["instruments"],
                                        "rows": instruments.num_rows}
        self._guard("_meta", lambda: (self.tmp / META).write_text(
            json.dumps(doc, indent=2, default=jsonable) + "\n"))
        check_target(self.directory)  # (someone may have filled it while we ran)
        if self.directory.exists():
            self.directory.rmdir()  # empty: the rename needs it gone or empty
        os.rename(self.tmp, self.directory)
        return self.directory

    def _guard(self, table: str, write: Callable[[], object]) -> None:
        try:
            write()
        except (OSError, pa.ArrowException) as e:
            name = FILES.get(table, META)
            raise ParquetWriteError(f"writing {self.directory / name} failed: {e}") from e

    def abort(self) -> None:
        """Stop the writer and remove the temporary directory (the target is untouched);
        batches still queued are given back unwritten."""
        self._abandoned = True
        self._stop()
        for w in self._writers.values():
            try:
                w.close()
            except (OSError, pa.ArrowException):
                pass
        shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self) -> ParquetDay:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is not None:
            self.abort()


