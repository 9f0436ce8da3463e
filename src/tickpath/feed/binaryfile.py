"""NASDAQ binary ITCH files (BinaryFILE): each message prefixed by its 2-byte big-endian
length; a zero length marks the end of the session.

Read in fixed-size chunks, plain or gzip, never the whole file: each chunk is handed on with
the partial block at its end carried into the next one.
"""

from __future__ import annotations

import gzip
import os
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import numpy as np

DEFAULT_CHUNK = 8 << 20


def open_binary(path: str | Path) -> BinaryIO:
    """Open a plain or gzip-compressed file (gzip is recognised by its magic, not its name)."""
    p = Path(path)
    if not p.exists():
        raise FileNotFoundError(f"ITCH file {str(p)!r} does not exist")
    with open(p, "rb") as f:
        magic = f.read(2)
    if magic == b"\x1f\x8b":
        return gzip.open(p, "rb")  # type: ignore[return-value]
    return open(p, "rb")


def file_size(path: str | Path) -> int:
    """Size on disk (compressed size for gzip: progress then tracks compressed bytes read)."""
    return os.path.getsize(path)


class BlockReader:
    """Chunks of a binary ITCH file as ``(buf, end, base)``: ``buf[:end]`` holds bytes at stream
    offset ``base`` onward. The consumer reports how far it got with :meth:`consumed`; the rest
    is carried to the front of the next chunk."""

    def __init__(self, path: str | Path, chunk_bytes: int = DEFAULT_CHUNK) -> None:
        self.path = str(path)
        self._f = open_binary(path)
        self._raw = self._f.fileobj if isinstance(self._f, gzip.GzipFile) else self._f
        self.buf = np.empty(chunk_bytes + 65536 + 2, np.uint8)  # room for one max block carry
        self.chunk_bytes = chunk_bytes
        self._carry = 0
        self._base = 0  # stream offset of buf[0]
        self.eof = False

    def compressed_position(self) -> int:
        try:
            return self._raw.tell()  # type: ignore[union-attr]
        except (OSError, ValueError, AttributeError):
            return 0

    def chunks(self) -> Iterator[tuple[np.ndarray, int, int]]:
        view = memoryview(self.buf)
        while not self.eof:
            n = self._f.readinto(view[self._carry:self._carry + self.chunk_bytes])  # type: ignore[attr-defined]
            if not n:
                self.eof = True
                return
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
        self._f.close()

    def __enter__(self) -> BlockReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
