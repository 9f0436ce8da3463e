"""NASDAQ binary ITCH files (BinaryFILE): each message prefixed by its 2-byte big-endian
length; a zero length marks the end of the session.

Read in fixed-size chunks, plain or gzip, never the whole file: each chunk is handed on with
the partial block at its end carried into the next one.

A gzip file is inflated in a thread of its own, ahead of the replay, into a few preallocated
chunk buffers (a bounded queue: at most ``INFLATE_BUFFERS`` chunks inflated ahead); the
inflaters release the GIL while they work, so inflating and book building overlap. The
inflater is ISA-L's (``isal.igzip``, about twice as fast as zlib here; BENCHMARKS.md), or
the standard library's ``gzip`` when isal is not installed.
"""

from __future__ import annotations

import gzip
import os
import queue
import threading
import zlib
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import BinaryIO

import numpy as np

DEFAULT_CHUNK = 8 << 20
#: chunks inflated ahead of the replay (the consumer holds none: it copies each out)
INFLATE_BUFFERS = 3


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


class _Inflater:
    """Inflates a gzip file in a thread of its own into ``INFLATE_BUFFERS`` chunk buffers.

    Free buffer indices go to the thread through ``free``; ``(index, bytes, compressed
    offset)`` come back through ``full``, then ``None`` at the end of the stream, or the
    exception the inflater raised."""

    def __init__(self, path: Path, chunk_bytes: int, inflater: str) -> None:
        self._f = gzip_module(inflater).open(path, "rb")
        # the compressed file under it (isal's and zlib-ng's readers are GzipFile subclasses)
        self._raw = getattr(self._f, "fileobj", None)
        self.bufs = [np.empty(chunk_bytes, np.uint8) for _ in range(INFLATE_BUFFERS)]
        self.free: queue.SimpleQueue[int | None] = queue.SimpleQueue()
        self.full: queue.SimpleQueue[tuple[int, int, int] | BaseException | None] = (
            queue.SimpleQueue())
        for i in range(INFLATE_BUFFERS):
            self.free.put(i)
        self._stop = False
        self._thread = threading.Thread(target=self._run, name=f"inflate {path.name}",
                                        daemon=True)
        self._thread.start()

    def _position(self) -> int:
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
                n = self._f.readinto(memoryview(self.bufs[i]))  # type: ignore[attr-defined]
                if not n:
                    self.full.put(None)
                    return
                self.full.put((i, n, self._position()))
        except BaseException as e:  # handed to the consumer, raised there
            self.full.put(e)

    def close(self) -> None:
        self._stop = True
        self.free.put(None)
        self._thread.join()
        self._f.close()


def file_size(path: str | Path) -> int:
    """Size on disk (compressed size for gzip: progress then tracks compressed bytes read)."""
    return os.path.getsize(path)


class BlockReader:
    """Chunks of a binary ITCH file as ``(buf, end, base)``: ``buf[:end]`` holds bytes at stream
    offset ``base`` onward. The consumer reports how far it got with :meth:`consumed`; the rest
    is carried to the front of the next chunk."""

    def __init__(self, path: str | Path, chunk_bytes: int = DEFAULT_CHUNK, *,
                 inflater: str = "auto", inflate_thread: bool = True) -> None:
        """``inflater``: see :func:`gzip_module`. ``inflate_thread=False`` inflates in the
        caller's thread instead (the comparison in bench/replay_gzip.py)."""
        self.path = str(path)
        p = Path(path)
        if not p.exists():
            raise FileNotFoundError(f"ITCH file {str(p)!r} does not exist")
        self.gzip = is_gzip(p)
        threaded = self.gzip and inflate_thread
        self._inflate = _Inflater(p, chunk_bytes, inflater) if threaded else None
        self._f = None if threaded else open_binary(p, inflater)
        self.buf = np.empty(chunk_bytes + 65536 + 2, np.uint8)  # room for one max block carry
        self.chunk_bytes = chunk_bytes
        self._carry = 0
        self._base = 0  # stream offset of buf[0]
        self._compressed = 0  # compressed bytes behind the chunks handed on (gzip)
        self.eof = False

    def compressed_position(self) -> int:
        """Compressed bytes read for the chunks handed on so far (0 for a plain file)."""
        return self._compressed

    def _gzip_chunks(self) -> Iterator[tuple[np.ndarray, int, int]]:
        assert self._inflate is not None
        while not self.eof:
            item = self._inflate.full.get()
            if item is None:
                self.eof = True
                return
            if isinstance(item, BaseException):
                self.eof = True
                raise self._gzip_error(item) from item
            i, n, self._compressed = item
            self.buf[self._carry:self._carry + n] = self._inflate.bufs[i][:n]
            self._inflate.free.put(i)
            yield self.buf, self._carry + n, self._base

    def _gzip_error(self, e: BaseException) -> BaseException:
        at = (f"after {self._compressed:,} of {file_size(self.path):,} compressed bytes "
              f"({self._base + self._carry:,} bytes inflated and handed on)")
        if isinstance(e, EOFError):
            return GzipFileError(f"{self.path}: the gzip stream ends before its end marker "
                                 f"(a truncated file?) {at}")
        if isinstance(e, (OSError, zlib.error)) or type(e).__name__ in ("IsalError", "error"):
            return GzipFileError(f"{self.path}: damaged gzip data {at}: {e}")
        return e

    def chunks(self) -> Iterator[tuple[np.ndarray, int, int]]:
        if self._inflate is not None:
            yield from self._gzip_chunks()
            return
        view = memoryview(self.buf)
        raw = getattr(self._f, "fileobj", None)
        while not self.eof:
            try:
                n = self._f.readinto(view[self._carry:self._carry + self.chunk_bytes])  # type: ignore[union-attr]
            except (EOFError, OSError, zlib.error) as e:
                self.eof = True
                if not self.gzip:
                    raise
                raise self._gzip_error(e) from e
            if not n:
                self.eof = True
                return
            if raw is not None:
                self._compressed = raw.tell()
            yield self.buf, self._carry + n, self._base

    def consumed(self, upto: int, end: int) -> None:
        """The consumer decoded ``buf[:upto]`` of a chunk that ended at ``end``."""
        rest = end - upto
        if rest:
            self.buf[:rest] = self.buf[upto:end]
        self._base += upto
        self._carry = rest

    def tail(self) -> tuple[np.ndarray, int, int]:
        """What is left after the last chunk, as ``(buf, end, base)``: ``buf[:end]`` (the
        bytes carried, maybe none) at stream offset ``base``."""
        return self.buf, self._carry, self._base

    @property
    def leftover(self) -> int:
        """Bytes left undecoded at end of file (a truncated last message)."""
        return self._carry

    def close(self) -> None:
        if self._inflate is not None:
            self._inflate.close()
        if self._f is not None:
            self._f.close()

    def __enter__(self) -> BlockReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
