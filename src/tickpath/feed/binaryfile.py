"""NASDAQ binary ITCH files (BinaryFILE): each message prefixed by its 2-byte big-endian
length; a zero length marks the end of the session.

Read in fixed-size chunks, plain or gzip, never the whole file: each chunk is handed on with
the partial block at the end of the one before put just in front of it.

The file is read (a gzip file inflated) in a thread of its own, ahead of the replay, into a
few preallocated chunk buffers (a bounded queue: at most ``READ_AHEAD`` chunks, the one the
replay holds included). Reading and inflating release the GIL, so they overlap with book
building, and the replay's own thread copies no chunk: each buffer keeps ``CARRY_ROOM`` bytes
free in front of its data for the unfinished block of the chunk before, the only bytes copied.
The inflater is ISA-L's (``isal.igzip``, about twice as fast as zlib here; BENCHMARKS.md), or
the standard library's ``gzip`` when isal is not installed.
"""

from __future__ import annotations

import gzip
import os
import queue
import threading
import weakref
import zlib
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import BinaryIO

import numpy as np

DEFAULT_CHUNK = 8 << 20
#: chunk buffers between the reading thread and the replay (the replay holds one of them)
READ_AHEAD = 3
#: room in front of each chunk for what the consumer left of the one before: an unfinished
#: block (a 2-byte length and at most 65,535 bytes), or the blocks a search for the message
#: boundaries holds until it has seen enough of them (``ItchHandler``'s ``resync_run``)
CARRY_ROOM = 2 + 65535


def gzip_module(inflater: str = "auto") -> ModuleType:
    """The gzip reader: ``"isal"`` (ISA-L's igzip), ``"zlib-ng"`` (zlib-ng's gzip_ng),
    ``"stdlib"`` (:mod:`gzip`), or ``"auto"``: isal when it imports, else the standard
    library."""
    if inflater in ("auto", "isal"):
        try:
            from isal import igzip
            return igzip
        except ImportError:
            if inflater == "isal":
                raise
    if inflater == "zlib-ng":
        from zlib_ng import gzip_ng
        return gzip_ng
    if inflater not in ("auto", "stdlib"):
        raise ValueError(f"inflater must be auto, isal, zlib-ng or stdlib, not {inflater!r}")
    return gzip


def is_gzip(path: str | Path) -> bool:
    """gzip is recognised by its magic bytes, not its name."""
    with open(path, "rb") as f:
        return f.read(2) == b"\x1f\x8b"


def open_binary(path: str | Path, inflater: str = "auto") -> BinaryIO:
    """Open a plain or gzip-compressed file (gzip is recognised by its magic, not its name)."""
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"ITCH file {str(p)!r} does not exist")
    if is_gzip(p):
        return gzip_module(inflater).open(p, "rb")  # type: ignore[return-value]
    return open(p, "rb")


class GzipFileError(ValueError):
    """A gzip file that ends early or whose compressed data is damaged; names the file and
    the compressed and inflated offsets reached."""


class _ReadAhead:
    """Reads ``f`` (a plain file, or a gzip reader that inflates) in a thread of its own into
    ``READ_AHEAD`` chunk buffers, each chunk at ``CARRY_ROOM`` onward.

    Free buffer indices go to the thread through ``free``; ``(index, bytes, compressed
    offset)`` come back through ``full``, then ``None`` at the end of the stream, or the
    exception the reader raised."""

    def __init__(self, f: BinaryIO, chunk_bytes: int, name: str) -> None:
        self._f = f
        # the compressed file under a gzip reader (isal's and zlib-ng's are GzipFile
        # subclasses); None for a plain file
        self._raw = getattr(f, "fileobj", None)
        self.bufs = [np.empty(CARRY_ROOM + chunk_bytes, np.uint8) for _ in range(READ_AHEAD)]
        self.free: queue.SimpleQueue[int | None] = queue.SimpleQueue()
        self.full: queue.SimpleQueue[tuple[int, int, int] | BaseException | None] = (
            queue.SimpleQueue())
        # the replay's thread takes one buffer; the rest are read ahead
        for i in range(READ_AHEAD):
            self.free.put(i)
        self._stop = False
        self._thread = threading.Thread(target=self._run, name=f"read {name}", daemon=True)
        self._thread.start()

    def _position(self) -> int:
        if self._raw is None:
            return 0
        try:
            return self._raw.tell()  # type: ignore[union-attr]
        except (AttributeError, OSError, ValueError):
            return 0

    def _run(self) -> None:
        try:
            while True:
                i = self.free.get()
                if i is None or self._stop:
                    return
                n = self._f.readinto(memoryview(self.bufs[i])[CARRY_ROOM:])  # type: ignore[attr-defined]
                if not n:
                    self.full.put(None)
                    return
                self.full.put((i, n, self._position()))
        except BaseException as e:  # handed to the consumer, raised there
            self.full.put(e)

    def close(self) -> None:
        if self._stop:
            return
        self._stop = True
        self.free.put(None)
        self._thread.join()
        self._f.close()


def file_size(path: str | Path) -> int:
    """Size on disk (compressed size for gzip: progress then tracks compressed bytes read)."""
    return os.path.getsize(path)


def _check_consumed(upto: int | None) -> None:
    if upto is None:
        raise RuntimeError("BlockReader: consumed() was not called for the last chunk")


class BlockReader:
    """Chunks of a binary ITCH file as ``(buf, start, end, base)``: ``buf[start:end]`` holds
    the stream's next bytes, ``base`` is the stream offset of ``buf[0]``. The consumer reports
    how far it got with :meth:`consumed`; the rest is put in front of the next chunk."""

    def __init__(self, path: str | Path, chunk_bytes: int = DEFAULT_CHUNK, *,
                 inflater: str = "auto", inflate_thread: bool = True) -> None:
        """``inflater``: see :func:`gzip_module`. ``inflate_thread=False`` reads (and
        inflates) in the caller's thread instead (the comparison in bench/replay_gzip.py)."""
        self.path = str(path)
        p = Path(path)
        if not p.exists():
            raise FileNotFoundError(f"ITCH file {str(p)!r} does not exist")
        self.gzip = is_gzip(p)
        f = open_binary(p, inflater)
        self._ahead = _ReadAhead(f, chunk_bytes, p.name) if inflate_thread else None
        if self._ahead is not None:  # a reader dropped unclosed still stops its thread
            weakref.finalize(self, self._ahead.close)
        self._f = None if inflate_thread else f
        # in the caller's thread: one buffer, the unfinished block moved to its front
        self.buf = None if inflate_thread else np.empty(CARRY_ROOM + chunk_bytes, np.uint8)
        self.chunk_bytes = chunk_bytes
        self._carry = 0  # bytes of an unfinished block, left at the end of the last chunk
        # the chunk handed on last: (buffer, how far it was consumed (None: not said yet),
        # its end, its buffer's index)
        self._held: tuple[np.ndarray, int | None, int, int] | None = None
        self._base = 0  # stream offset of the next chunk's first byte
        self._compressed = 0  # compressed bytes behind the chunks handed on (gzip)
        self.eof = False

    def compressed_position(self) -> int:
        """Compressed bytes read for the chunks handed on so far (0 for a plain file)."""
        return self._compressed

    def _raise(self, e: BaseException) -> None:
        """Raise what the reader raised: a gzip file's failure as :class:`GzipFileError`."""
        if not self.gzip:
            raise e
        raise self._gzip_error(e) from e

    def _gzip_error(self, e: BaseException) -> BaseException:
        at = (f"after {self._compressed:,} of {file_size(self.path):,} compressed bytes "
              f"({self._base:,} bytes inflated and handed on)")
        if isinstance(e, EOFError):
            return GzipFileError(f"{self.path}: the gzip stream ends before its end marker "
                                 f"(a truncated file?) {at}")
        if isinstance(e, (OSError, zlib.error)) or type(e).__name__ in ("IsalError", "error"):
            return GzipFileError(f"{self.path}: damaged gzip data {at}: {e}")
        return e

    def _ahead_chunks(self) -> Iterator[tuple[np.ndarray, int, int, int]]:
        ahead = self._ahead
        assert ahead is not None
        while not self.eof:
            item = ahead.full.get()
            if item is None:
                self.eof = True
                return
            if isinstance(item, BaseException):
                self.eof = True
                self._raise(item)
            i, n, self._compressed = item
            buf = ahead.bufs[i]
            start = CARRY_ROOM - self._carry
            if self._held is not None:  # the last chunk's unfinished block, then its buffer back
                held, upto, end, k = self._held
                _check_consumed(upto)
                buf[start:CARRY_ROOM] = held[upto:end]
                ahead.free.put(k)
                self._held = None
            base = self._base - CARRY_ROOM  # buf[CARRY_ROOM] is the stream's next byte
            self._base += n
            self._held = (buf, None, CARRY_ROOM + n, i)
            yield buf, start, CARRY_ROOM + n, base

    def _inline_chunks(self) -> Iterator[tuple[np.ndarray, int, int, int]]:
        assert self._f is not None and self.buf is not None
        view = memoryview(self.buf)
        raw = getattr(self._f, "fileobj", None)
        while not self.eof:
            if self._held is not None:  # the unfinished block to the front of the buffer
                _, upto, end, _ = self._held
                _check_consumed(upto)
                self.buf[CARRY_ROOM - self._carry:CARRY_ROOM] = self.buf[upto:end]
                self._held = None
            try:
                n = self._f.readinto(view[CARRY_ROOM:CARRY_ROOM + self.chunk_bytes])  # type: ignore[union-attr]
            except Exception as e:  # (ISA-L's IsalError is no OSError)
                self.eof = True
                self._raise(e)
            if not n:  # the unfinished block, moved to the front, is what tail() gives
                self.eof = True
                self._held = (self.buf, CARRY_ROOM - self._carry, CARRY_ROOM, -1)
                return
            if raw is not None:
                self._compressed = raw.tell()
            base = self._base - CARRY_ROOM
            self._base += n
            self._held = (self.buf, None, CARRY_ROOM + n, -1)
            yield self.buf, CARRY_ROOM - self._carry, CARRY_ROOM + n, base

    def chunks(self) -> Iterator[tuple[np.ndarray, int, int, int]]:
        if self._ahead is not None:
            return self._ahead_chunks()
        return self._inline_chunks()

    def consumed(self, upto: int, end: int) -> None:
        """The consumer decoded the chunk last handed on up to ``buf[upto]`` (of its
        ``end``); the rest goes in front of the next chunk."""
        if self._held is None:
            raise RuntimeError("consumed() without a chunk handed on")
        buf, _, _, i = self._held
        if end - upto > CARRY_ROOM:
            raise ValueError(f"{end - upto:,} bytes left undecoded: more than the "
                             f"{CARRY_ROOM:,} a chunk keeps for the next one")
        self._carry = end - upto
        self._held = (buf, upto, end, i)

    def tail(self) -> tuple[np.ndarray, int, int, int]:
        """What is left after the last chunk, as ``(buf, start, end, base)`` (the bytes of an
        unfinished block, maybe none)."""
        if self._held is None:
            empty = np.zeros(0, np.uint8)
            return empty, 0, 0, self._base
        buf, upto, end, _ = self._held
        _check_consumed(upto)
        return buf, upto, end, self._base - end

    @property
    def leftover(self) -> int:
        """Bytes left undecoded at end of file (a truncated last message)."""
        return self._carry

    def close(self) -> None:
        self.eof = True  # a chunks() iterator resumed after this ends at once
        if self._ahead is not None:
            self._ahead.close()
        if self._f is not None:
            self._f.close()

    def __enter__(self) -> BlockReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
