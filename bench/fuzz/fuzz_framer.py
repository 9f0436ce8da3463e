"""Fuzz target ``framer``: BinaryFILE bytes through ``ItchHandler.on_blocks`` (the owner in
Python, the decoder and boundary search compiled), as a file reader feeds them.

Invariants: no exception in skip mode; the outcome does not depend on where the chunks were
cut; every byte is accounted for (decoded, lost, or the end-of-session marker); lost ranges are
ordered, disjoint and inside the input; in raise mode the first error is the first lost range
of skip mode. The decoded events go to a recorder (the handler's row sink, framing the bytes
with ``decode_batch``); the same bytes through a handler with small real books (framing in
the fused ``apply_blocks``, books refusing what they must) frame them alike, whole and cut.
"""

from __future__ import annotations

import numpy as np
from streams import Choices, mutated_stream

from tickpath.book import BookStore
from tickpath.book.apply import OK as BOOK_OK
from tickpath.codec.itch50.decode import OUT_FULL, decode_batch
from tickpath.codec.itch50.layout import EVENT_DTYPE, LENGTHS
from tickpath.feed.itch import ItchError, ItchHandler

NAME = "framer"


class _Recorder:
    """Stands in for the row writer: frames the blocks with ``decode_batch`` (the fused
    pass's contract, the two-pass way) and keeps the type and offset of every event, and the
    bytes of the blocks they came from (length prefix included); the books are left alone."""

    def __init__(self) -> None:
        self.events: list[tuple[int, int]] = []
        self.decoded_bytes = 0
        self._buffer = np.zeros(64, EVENT_DTYPE)

    def apply(self, books: BookStore, events: np.ndarray, n: int, buf: np.ndarray,
              base: int) -> int:
        ev = events[:n]
        self.events.extend(zip(ev["type"].tolist(), ev["offset"].tolist(), strict=True))
        self.decoded_bytes += int((LENGTHS[ev["type"]].astype(np.int64) + 2).sum())
        return n

    def apply_blocks(self, books: BookStore, buf: np.ndarray, start: int, end: int, base: int,
                     scratch: np.ndarray) -> tuple[int, int, int, int]:
        taken, p = 0, start
        while True:
            n, st, p = decode_batch(buf, p, end, LENGTHS, self._buffer, 0, base)
            taken += self.apply(books, self._buffer, n, buf, base)
            if st != OUT_FULL:
                return taken, int(st), BOOK_OK, int(p)


def _small_books(errors: str) -> BookStore:
    return BookStore(max_orders=64, initial_orders=64, errors=errors)


class _Counting(ItchHandler):
    def __init__(self, errors: str) -> None:
        super().__init__(_small_books(errors), batch=64, errors=errors)
        self.recorder = _Recorder()
        self.rows = self.recorder

    @property
    def decoded_bytes(self) -> int:
        return self.recorder.decoded_bytes


def _feed(h: ItchHandler, data: bytes, chunk: int) -> int:
    """Feed ``data`` in chunks of ``chunk`` bytes with the carry a file reader keeps; returns
    the bytes consumed."""
    carry = b""
    base = 0
    pos = 0
    while True:
        piece = data[pos:pos + chunk]
        pos += len(piece)
        final = pos >= len(data)
        # writable, as a file reader's chunks are (numba compiles read-only arrays apart)
        buf = np.frombuffer(bytearray(carry + piece), np.uint8)
        p = h.on_blocks(buf, 0, buf.size, base, final=final)
        assert 0 <= p <= buf.size
        carry = bytes(buf[p:])
        base += p
        if final:
            assert carry == b"", "final call left bytes"
            return base


def _outcome(h: _Counting) -> tuple:
    return (h.messages, h.malformed, [(r.offset, r.resumed, r.reason) for r in h.lost],
            h.lost_bytes, h.end_of_session, h.decoded_bytes, h.recorder.events)


def _framing(h: ItchHandler) -> tuple:
    return (h.messages, h.malformed, [(r.offset, r.resumed, r.reason) for r in h.lost],
            h.lost_bytes, h.end_of_session)


def setup() -> None:
    one_input(b"\x00" * 4)


def one_input(data: bytes) -> None:
    c = Choices(data)
    mode = c.byte()
    chunk = 7 + c.byte() * 5  # from 7 bytes: one call per byte is in tests/engine
    stream = mutated_stream(c, 2) if mode & 1 else c.rest()
    whole = _Counting("skip")
    assert _feed(whole, stream, max(1, len(stream))) == len(stream)
    cut = _Counting("skip")
    _feed(cut, stream, chunk)
    assert _outcome(cut) == _outcome(whole), "chunking changed the outcome"
    # every byte decoded, lost, or the end-of-session marker
    assert whole.decoded_bytes + whole.lost_bytes + 2 * whole.end_of_session == len(stream)
    last = 0
    for r in whole.lost:
        assert last <= r.offset < r.resumed <= len(stream)
        last = r.resumed
    assert len(whole.recorder.events) == whole.messages
    for size in (max(1, len(stream)), chunk):
        books = ItchHandler(_small_books("skip"), batch=64, errors="skip")
        _feed(books, stream, size)
        assert _framing(books) == _framing(whole), "the fused pass framed the bytes otherwise"
    # raise mode stops at the first malformed block, where skip mode lost bytes first
    strict = _Counting("raise")
    try:
        _feed(strict, stream, max(1, len(stream)))
    except ItchError as e:
        assert whole.lost and e.offset == whole.lost[0].offset
    else:
        assert not whole.lost
