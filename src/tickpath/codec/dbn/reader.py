"""``DbnReader``: streams a DBN file (plain or zstd) as batches of records viewed as numpy arrays.

The metadata is decoded by ``databento_dbn.Metadata``; the records are never turned into
Python objects: each chunk of the decompressed stream is viewed in place with the record
dtype of :mod:`.records` (a file of one schema), or, when the chunk mixes record types, the
wanted ones are gathered side by side by the compiled :func:`.frame.gather_records` first.
The file is read in chunks (8 MiB of decompressed stream by default), never loaded whole.
"""

from __future__ import annotations

import io
import os
import queue
import sys
import tempfile
import threading
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import databento_dbn as dbn
import numpy as np
import zstandard

from . import frame
from .records import DBN_VERSIONS, SCHEMA_RECORDS, with_ts_out

ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
DEFAULT_CHUNK = 8 << 20
_COMPRESSED_READ = 1 << 20
_PREFIX = 8  # b"DBN", version, metadata length (u32 LE)


class _Inflater(threading.Thread):
    """Decompresses a zstd file ahead of the reader, in a thread of its own: zstd and the
    compiled book kernels both run without the GIL, so on two cores they overlap.

    Hands over, in order: decompressed pieces (bytes), then None at the end; or instead a
    ``("cut", offset, decompressed)`` when the file ends inside a frame (zstd's streaming
    reader would just stop there), or ``("damaged", offset, reason)`` with the offset of the
    failing frame's start, after what the frames before it gave. Frames follow one another
    (a file may hold several)."""

    def __init__(self, f: io.BufferedReader, ahead: int = 4) -> None:
        super().__init__(name="dbn-inflate", daemon=True)
        self._f = f
        self._q: queue.Queue[Any] = queue.Queue(maxsize=ahead)
        self._halt = threading.Event()
        self.position = f.tell()

    def _put(self, item: Any) -> bool:
        while not self._halt.is_set():
            try:
                self._q.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def run(self) -> None:
        zobj: Any = None
        fed = 0  # compressed bytes given to the current frame's decompressor
        made = 0
        frame_at = self._f.tell()  # file offset where the current frame starts
        try:
            while not self._halt.is_set():
                raw = self._f.read(_COMPRESSED_READ)
                if not raw:
                    if zobj is not None and fed and not zobj.eof:
                        self._put(("cut", self._f.tell(), made))
                    else:
                        self._put(None)
                    return
                at = self._f.tell() - len(raw)  # file offset of raw[0]
                out = []
                while raw:
                    if zobj is None or zobj.eof:
                        zobj = zstandard.ZstdDecompressor().decompressobj()
                        fed = 0
                        frame_at = at
                    try:
                        out.append(zobj.decompress(raw))
                    except zstandard.ZstdError as e:
                        # what the frames before this one gave is good: hand it over first
                        data = b"".join(out)
                        if not data or self._put(data):
                            self._put(("damaged", frame_at, str(e)))
                        return
                    fed += len(raw)
                    rest = zobj.unused_data if zobj.eof else b""
                    at += len(raw) - len(rest)
                    raw = rest
                self.position = self._f.tell()
                data = b"".join(out)
                if data:
                    made += len(data)
                    if not self._put(data):
                        return
        except BaseException as e:  # an I/O error: the reader raises it where it waits
            self._put(("damaged", self.position, f"{type(e).__name__}: {e}"))

    def take(self) -> Any:
        """The next item (waits for it)."""
        return self._q.get()

    def stop(self) -> None:
        """Stop early (the reader is closed before the end)."""
        self._halt.set()
        if threading.current_thread() is not self:
            self.join()


class DbnError(ValueError):
    """A DBN file tickpath cannot read: what is wrong, in which file, and where."""

    def __init__(self, path: str | Path, reason: str, offset: int | None = None,
                 records: int | None = None, of: str = "") -> None:
        at = ""
        if offset is not None:
            at = f" at byte {offset:,}{of}"
            if records is not None:
                at += f" (after {records:,} whole records)"
        super().__init__(f"{path}: {reason}{at}")
        self.path = str(path)
        self.reason = reason
        self.offset = offset
        self.records = records


class UnsupportedSchema(DbnError):
    """A DBN schema tickpath does not turn into books."""


@dataclass
class Batch:
    """Records of one type, as a structured array valid until the next batch is read.

    ``offsets`` holds each record's offset in the decompressed stream when the records were
    gathered from a mixed stream; otherwise record ``i`` starts at ``first_offset + i *
    stride`` (the record's size in the stream: ``ts_out`` makes it 8 bytes longer than the
    records handed on). ``first_index`` counts the records of this type before the batch."""

    records: np.ndarray
    first_offset: int
    first_index: int
    offsets: np.ndarray | None = None
    stride: int = 0

    def offset_of(self, i: int) -> int:
        """Offset in the decompressed stream of record ``i`` of the batch."""
        if self.offsets is not None:
            return int(self.offsets[i])
        return self.first_offset + i * (self.stride or self.records.dtype.itemsize)


@contextmanager
def _quiet_fd2() -> Iterator[None]:
    """Keep fd 2 quiet for a moment: databento-dbn's metadata decoder panics on some damaged
    lengths (0.72: "mid > len"), and Rust prints the panic on fd 2 before Python gets it as
    an exception, which the caller turns into a one-line error of its own."""
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with tempfile.TemporaryFile() as sink:
            os.dup2(sink.fileno(), 2)
            try:
                yield
            finally:
                os.dup2(saved, 2)
    finally:
        os.close(saved)


def is_dbn(path: str | Path) -> bool:
    """Is ``path`` a DBN stream (plain or zstd)? By suffix (``.dbn``, ``.dbn.zst``), else
    by content: ``b"DBN"`` at the start, or a zstd frame that starts with it."""
    p = Path(path)
    name = p.name.lower()
    if name.endswith(".dbn") or name.endswith(".dbn.zst"):
        return True
    try:
        with open(p, "rb") as f:
            head = f.read(4096)
    except OSError:
        return False
    if head[:3] == b"DBN":
        return True
    if head[:4] == ZSTD_MAGIC:
        try:
            return zstandard.ZstdDecompressor().decompressobj().decompress(head)[:3] == b"DBN"
        except zstandard.ZstdError:
            return False
    return False


class DbnReader:
    """Reads one DBN file: ``metadata`` (``databento_dbn.Metadata``), ``version``,
    ``schema`` (``"mbo"``, ... or None for a mixed stream), ``ts_out``; then
    :meth:`batches` of one record type. ``rtype_counts[rtype]`` counts every record read,
    of any type; ``position()`` is how far into the file (compressed bytes for zstd) it is.

    Raises :class:`DbnError` for what is not a DBN stream, a version other than 1..3,
    unreadable metadata, a damaged or cut zstd stream, a record length that does not fit
    its type, and a stream that ends inside a record, each with the offset in the
    (decompressed) stream."""

    def __init__(self, path: str | Path, chunk_bytes: int = DEFAULT_CHUNK) -> None:
        self.path = Path(path)
        self._f: io.BufferedReader = open(self.path, "rb")  # noqa: SIM115 (closed by close())
        self._inflater: _Inflater | None = None
        try:
            self.compressed = self._f.read(4) == ZSTD_MAGIC
            self._f.seek(0)
            self._pending = b""
            self._pend_pos = 0
            self._eof = False
            self._failure: DbnError | None = None
            self._buf = np.zeros(max(int(chunk_bytes), 1 << 12), np.uint8)
            self._have = 0
            self._base = 0  # stream offset of self._buf[0]
            self.rtype_counts = np.zeros(256, np.int64)
            self._read_metadata()
        except BaseException:
            self.close()
            raise

    # -- bytes in ---------------------------------------------------------------------------

    def position(self) -> int:
        """Bytes of the file read so far (compressed bytes for zstd)."""
        return self._inflater.position if self._inflater is not None else self._f.tell()

    @property
    def stream_bytes(self) -> int:
        """Bytes of the (decompressed) stream passed over so far, metadata included."""
        return self._base

    def _error(self, reason: str, offset: int | None = None, of: str = "") -> DbnError:
        """An error at ``offset`` of the decompressed stream (``of`` names another)."""
        return DbnError(self.path, reason, offset, int(self.rtype_counts.sum())
                        if offset is not None and not of else None, of)

    def _more_zstd(self) -> bool:
        """Take the next decompressed piece from the inflater into ``_pending``; False at
        the end of the file."""
        if self._eof:
            return False
        if self._inflater is None:
            self._inflater = _Inflater(self._f)
            self._inflater.start()
            # a reader dropped without close() must not leave the thread (and file) behind
            self._finalizer = weakref.finalize(self, _shut, self._inflater, self._f)
        item = self._inflater.take()
        if item is None:
            self._eof = True  # the inflater has ended: never wait on it again
            return False
        if isinstance(item, tuple):
            self._eof = True  # it ended on this: a later read must not wait on it
            what, at, detail = item
            # raised by _fill once the bytes before it are used: they are good
            if what == "cut":
                self._failure = self._error(
                    "the zstd stream is cut: the file ends inside a compressed frame "
                    f"(decompressed so far: {detail:,} bytes)", at, " of the compressed file")
            else:
                self._failure = self._error(f"damaged zstd data ({detail})", at,
                                            " of the compressed file")
            return False
        self._pending, self._pend_pos = item, 0
        return True

    def _fill(self) -> int:
        """Top up the buffer; returns the bytes added (0 at the end of the stream). Raises
        the zstd stream's error once every byte before it has been added."""
        cap = self._buf.shape[0]
        if self._have >= cap:
            return 0
        if not self.compressed:
            n = self._f.readinto(memoryview(self._buf)[self._have:cap])
            self._have += n or 0
            return n or 0
        added = 0
        while self._have < cap:
            if self._pend_pos >= len(self._pending) and not self._more_zstd():
                break
            take = min(cap - self._have, len(self._pending) - self._pend_pos)
            self._buf[self._have:self._have + take] = np.frombuffer(
                self._pending, np.uint8, take, self._pend_pos)
            self._have += take
            self._pend_pos += take
            added += take
        if not added and self._failure is not None:
            raise self._failure
        return added

    def _consume(self, n: int) -> None:
        rest = self._have - n
        if rest:
            self._buf[:rest] = self._buf[n:self._have]
        self._have = rest
        self._base += n

    def _need(self, n: int) -> bool:
        """At least ``n`` bytes buffered (growing the buffer when needed); False at EOF."""
        while self._have < n:
            if self._have == self._buf.shape[0]:
                # grow only as bytes arrive: a damaged length must not allocate gigabytes
                bigger = np.zeros(min(n, 2 * self._buf.shape[0]), np.uint8)
                bigger[:self._have] = self._buf[:self._have]
                self._buf = bigger
            if self._fill() == 0:
                return False
        return True

    # -- metadata ---------------------------------------------------------------------------

    def _read_metadata(self) -> None:
        if not self._need(_PREFIX):
            raise self._error(f"not a DBN stream: {self._have} bytes, shorter than the "
                              "8-byte prefix")
        head = bytes(self._buf[:_PREFIX])
        if head[:3] != b"DBN":
            raise self._error(f"not a DBN stream: it starts with {head[:3]!r}, not b'DBN'", 0)
        self.version = head[3]
        if self.version not in DBN_VERSIONS:
            raise self._error(f"DBN version {self.version} is not supported "
                              f"({', '.join(map(str, DBN_VERSIONS))} are)", 3)
        length = int.from_bytes(head[4:8], "little")
        if not self._need(_PREFIX + length):
            raise self._error(f"the stream ends inside the metadata ({length:,} bytes "
                              f"announced, {self._have - _PREFIX:,} there)", _PREFIX)
        try:
            with _quiet_fd2():
                self.metadata = dbn.Metadata.decode(bytes(self._buf[:_PREFIX + length]))
        except (KeyboardInterrupt, SystemExit):
            raise
        except BaseException as e:  # DBNError, and pyo3's PanicException (a BaseException)
            raise self._error(f"unreadable metadata ({e})", _PREFIX) from None
        self._consume(_PREFIX + length)
        schema = self.metadata.schema
        self.schema: str | None = None if schema is None else str(schema)
        self.ts_out = bool(self.metadata.ts_out)
        self.dataset = str(self.metadata.dataset)

    def record_dtype(self, schema: str) -> tuple[int, np.dtype]:
        """(rtype, dtype) of ``schema``'s records in this file's version. A stream with
        ``ts_out`` hands on the same records without it (:meth:`batches`), so the compiled
        books see one record type whatever the file (each type is a compile of its own)."""
        rtype, by_version = SCHEMA_RECORDS[schema]
        return rtype, by_version[self.version]

    def _records(self, raw: np.ndarray, n: int, size: int, dtype: np.dtype) -> np.ndarray:
        """``n`` records of ``size`` bytes in ``raw`` as ``dtype`` (a view; a copy without the
        trailing ``ts_out`` when the stream's records are longer)."""
        if size == dtype.itemsize:
            return raw.view(dtype)
        return np.ascontiguousarray(raw.reshape(n, size)[:, :dtype.itemsize]).view(
            dtype).reshape(n)

    # -- records ----------------------------------------------------------------------------

    def batches(self, rtype: int, dtype: np.dtype) -> Iterator[Batch]:
        """Every record of ``rtype`` (each ``dtype.itemsize`` bytes, plus ``ts_out``'s 8 in
        a stream that has it) in batches of up to a chunk, as ``dtype``. Records of other
        types are counted in ``rtype_counts`` and passed over."""
        size = with_ts_out(dtype).itemsize if self.ts_out else dtype.itemsize
        words = size // 4
        gathered = None
        offsets = None
        index = 0
        while True:
            more = self._fill()
            n = self._have // size
            used = 0
            if n:
                hdr = self._buf[:n * size].reshape(n, size)
                if (hdr[:, 0] == words).all() and (hdr[:, 1] == rtype).all():
                    self.rtype_counts[rtype] += n
                    yield Batch(self._records(self._buf[:n * size], n, size, dtype),
                                self._base, index, stride=size)
                    index += n
                    used = n * size
            if not used and self._have:
                if gathered is None:
                    gathered = np.zeros(self._buf.shape[0] // size * size + size, np.uint8)
                    offsets = np.zeros(gathered.shape[0] // size, np.int64)
                while True:
                    m, pos, st = frame.gather_records(self._buf, used, self._have, rtype, size,
                                                      gathered, offsets, self._base,
                                                      self.rtype_counts)
                    if m:
                        yield Batch(self._records(gathered[:m * size], m, size, dtype),
                                    int(offsets[0]), index, offsets[:m])
                        index += m
                    used = int(pos)
                    if st == frame.BAD_LENGTH:
                        length = int(self._buf[pos]) * 4
                        want = (f"; a record of this file's type (rtype {rtype}) is {size} "
                                "bytes" if int(self._buf[pos + 1]) == rtype else "")
                        raise self._error(f"bad record length {length} (rtype "
                                          f"{int(self._buf[pos + 1])}){want}: the file is "
                                          "damaged or not what its metadata says",
                                          self._base + used)
                    if st == frame.OK:
                        break
            self._consume(used)
            if more == 0 and used == 0:
                break
        if self._have:
            need = int(self._buf[0]) * 4 if self._have >= 1 else 0
            raise self._error(f"the stream ends inside a record: {self._have} of its "
                              f"{need} bytes are there (the file is cut short)", self._base)

    def close(self) -> None:
        """Stop the inflater thread, if any, and close the file."""
        if self._inflater is not None:
            self._finalizer()
        self._f.close()

    def __enter__(self) -> DbnReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _shut(inflater: _Inflater, f: io.BufferedReader) -> None:
    """Stop ``inflater`` and close its file (close(), or the reader garbage-collected)."""
    inflater.stop()
    f.close()


def metadata_symbols(metadata: Any) -> dict[int, str]:
    """instrument_id -> symbol from the metadata's symbology mappings (either direction
    between raw symbols and instrument ids; the last interval of a symbol wins)."""
    out: dict[int, str] = {}
    for key, intervals in (metadata.mappings or {}).items():
        for iv in intervals:
            sym = str(iv["symbol"])
            if sym.isdigit() and not str(key).isdigit():
                out[int(sym)] = str(key)
            elif str(key).isdigit() and not sym.isdigit():
                out[int(key)] = sym
    return out


def read_definitions(path: str | Path) -> dict[int, str]:
    """instrument_id -> raw_symbol from the instrument definitions of a DBN file (schema
    ``definition``; the last definition of an instrument wins)."""
    with DbnReader(path) as r:
        if r.schema not in ("definition", None):
            raise UnsupportedSchema(path, f"schema {r.schema!r} holds no instrument "
                                    "definitions (a definition file is wanted)")
        rtype, dt = r.record_dtype("definition")
        out: dict[int, str] = {}
        for b in r.batches(rtype, dt):
            ids = b.records["instrument_id"].tolist()
            syms = b.records["raw_symbol"].tolist()
            for i, s in zip(ids, syms, strict=True):
                out[int(i)] = s.decode("ascii", "replace")
        return out
