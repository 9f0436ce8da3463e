"""The fused pass (``book/blocks.py``, what ``ItchHandler.on_blocks`` runs, with and without
rows for export) against the two-pass one (``decode_batch`` then ``BookStore.apply``, what
packets run), on the same bytes: references that collide in the order table's window,
duplicates, refusals, tables that grow or run out, malformed blocks, cut at every kind of
chunk boundary."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from reference.harness import A, D, E, R, U, X, frame
from tickpath.book import BookError, BookStore
from tickpath.book.apply import OK as BOOK_OK
from tickpath.book.row_buffers import RowBuffers
from tickpath.codec.itch50.decode import OUT_FULL, decode_batch
from tickpath.codec.itch50.layout import EVENT_DTYPE, LENGTHS
from tickpath.feed.itch import ItchError, ItchHandler

W = 32  # the window of a store with room for 16 orders (records.py)


class _TwoPass:
    """A row sink that writes no rows and keeps the fused pass's contract the two-pass way:
    ``decode_batch`` into an event buffer, then ``BookStore.apply``."""

    def __init__(self) -> None:
        self.events = np.zeros(8, EVENT_DTYPE)

    def apply_blocks(self, books: BookStore, buf: np.ndarray, start: int, end: int, base: int,
                     scratch: np.ndarray) -> tuple[int, int, int, int]:
        taken, p = 0, start
        while True:
            n, st, p = decode_batch(buf, p, end, LENGTHS, self.events, 0, base)
            books.apply(self.events, n)
            taken += n
            if st != OUT_FULL:
                return taken, int(st), BOOK_OK, int(p)


def _handler(errors: str, two_pass: bool, max_levels: int, rows: bool = False) -> ItchHandler:
    books = BookStore(max_orders=256, initial_orders=16, max_levels=max_levels, errors=errors)
    h = ItchHandler(books, batch=8, errors=errors)
    if two_pass:
        h.rows = _TwoPass()
    elif rows:  # the fused pass that writes rows, into tiny arrays handed on and dropped
        h.rows = RowBuffers(("events", "top", "trades"), lambda t, r, done: done(), rows=5)
    return h


def _feed(h: ItchHandler, data: bytes, chunk: int) -> None:
    """``data`` in chunks of ``chunk`` bytes, keeping the unconsumed tail as a reader does."""
    carry = np.zeros(0, np.uint8)
    base = 0
    for at in range(0, max(1, len(data)), chunk):
        piece = np.frombuffer(data[at:at + chunk], np.uint8)
        buf = np.concatenate([carry, piece])
        final = at + chunk >= len(data)
        used = h.on_blocks(buf, 0, buf.shape[0], base, final=final)
        base += used
        carry = buf[used:].copy()


def _outcome(h: ItchHandler) -> tuple:
    b = h.books
    b.check()
    return (h.messages, h.malformed, [(r.offset, r.resumed) for r in h.lost], h.end_of_session,
            b.stats(), b.counts_by_type(), list(b.books()),
            [(e.status, e.offset) for e in b.rejections])


_BAD_BLOCKS = [b"\x00\x05ABCDE", b"\x00\x24Z" + b"x" * 35, b"\x00\x10A" + b"y" * 15]


@st.composite
def streams(draw) -> bytes:
    """Order messages on references that mostly increase, some sharing one window slot
    (ref + k*W), some live already, unknown or extreme; now and then a malformed block."""
    out = [frame([R("AAA", 1), R("BBB", 2)])[0]]
    live: list[int] = []
    nxt = 1
    for _ in range(draw(st.integers(1, 120))):
        kind = draw(st.integers(0, 9))
        loc = draw(st.sampled_from([1, 2]))
        price = draw(st.sampled_from([990, 1000, 1010, 1020]))
        if kind <= 3 or not live:
            how = draw(st.integers(0, 9))
            if how <= 4:
                ref, nxt = nxt, nxt + 1
            elif how <= 7:
                ref = draw(st.integers(1, 3)) + W * draw(st.integers(0, 6))
            elif how == 8 and live:
                ref = draw(st.sampled_from(live))
            else:
                ref = draw(st.sampled_from([0, 2**63 - 1, 2**63 + 1, 2**64 - 2]))
            shares = draw(st.sampled_from([0, 100, 100, 300]))
            msg = A(ref, draw(st.sampled_from("BS")), shares, price, loc)
            live.append(ref)
        else:
            ref = draw(st.sampled_from(live)) if draw(st.integers(0, 9)) else 999_999
            if kind == 4:
                msg = D(ref, loc)
            elif kind == 5:
                msg = X(ref, draw(st.sampled_from([0, 50, 100, 500])), loc)
            elif kind == 6:
                msg = E(ref, draw(st.sampled_from([50, 100, 300])), loc)
            else:
                new = nxt if draw(st.booleans()) else 1 + W * draw(st.integers(0, 6))
                nxt += 1
                msg = U(ref, new, 100, price, loc)
                live.append(new)
        out.append(frame([msg])[0])
        if draw(st.integers(0, 60)) == 0:
            out.append(draw(st.sampled_from(_BAD_BLOCKS)))
    return b"".join(out)


SETTINGS = settings(max_examples=60, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@SETTINGS
@given(data=streams(), chunk=st.sampled_from([1, 7, 40, 1 << 20]),
       max_levels=st.sampled_from([4, 256]), rows=st.booleans())
def test_fused_pass_agrees_with_two_passes(data, chunk, max_levels, rows):
    fused = _handler("skip", False, max_levels, rows)
    two = _handler("skip", True, max_levels)
    _feed(fused, data, chunk)
    _feed(two, data, len(data) or 1)  # the two-pass side whole
    assert _outcome(fused) == _outcome(two)


@SETTINGS
@given(data=streams(), chunk=st.sampled_from([1, 7, 40]))
def test_fused_pass_stops_at_the_same_error(data, chunk):
    errors, books = [], []
    for two_pass, rows in ((False, False), (False, True), (True, False)):
        h = _handler("raise", two_pass, 256, rows)
        try:
            _feed(h, data, chunk)
            errors.append(None)
        except (BookError, ItchError) as e:
            errors.append((type(e), str(e)))
        h.books.check()
        books.append(list(h.books.books()))
    assert errors[0] == errors[1] == errors[2]
    assert books[0] == books[1] == books[2]


@pytest.mark.parametrize("rows", [False, True])
def test_a_raised_refusal_counts_the_messages_before_it(rows):
    msgs = [R("AAA", 1), A(1, "B", 100, 990, 1), A(2, "S", 100, 1010, 1), D(99, 1),
            A(3, "B", 100, 980, 1)]
    h = _handler("raise", False, 256, rows)
    with pytest.raises(BookError, match="unknown order reference"):
        _feed(h, frame(msgs)[0], 1 << 20)
    assert h.messages == 3  # R and the two adds; not the refused delete, nor what follows


def test_growth_resumes_at_the_message_that_found_the_table_full():
    """An add that finds the order table full grows it (window and overflow remade, newest
    reference first) and is applied; none is lost or applied twice."""
    refs = list(range(1, 40)) + [3 + 2 * W, 3 + 3 * W, 5 + 2 * W]
    msgs = [R("AAA", 1)] + [A(r, "B" if r % 2 else "S", 100, 1000 + r % 7, 1) for r in refs]
    data = frame(msgs)[0]
    h = _handler("raise", False, 256)
    _feed(h, data, 33)
    assert h.messages == len(msgs)
    b = h.books
    assert b.capacity == 64 and b.stats()["live_orders"] == len(refs)
    b.check()
    for r in refs:
        assert b.order(r) is not None, r


@pytest.mark.parametrize("refs", [[2**64 - 2, 1, 2], [5, 5 + W, 5 + 2 * W]])
def test_huge_and_colliding_references(refs):
    msgs = [R("AAA", 1)] + [A(r, "S", 10, 500, 1) for r in refs] + [D(refs[0], 1),
                                                                   A(refs[0], "B", 10, 400, 1)]
    h = _handler("raise", False, 256)
    _feed(h, frame(msgs)[0], 1 << 20)
    assert h.books.stats()["live_orders"] == len(refs)
    assert h.books.order(refs[0])["side"] == "B"
    h.books.check()


def test_a_read_only_buffer_is_taken_through_a_copy_of_its_window():
    """Bytes (read-only) are copied, window only, not compiled for: the same books, the same
    offset returned, stream offsets in errors counted from the caller's buffer."""
    data = b"\x00" * 5 + frame([R("AAA", 1), A(1, "B", 100, 990, 1), A(2, "S", 100, 1010, 1)])[0]
    cut = len(data) - 3  # the last block cut: left for the next call
    ro = np.frombuffer(data, np.uint8)
    assert not ro.flags.writeable
    a, b = _handler("raise", False, 256), _handler("raise", False, 256)
    assert a.on_blocks(ro, 5, cut, base=100) == b.on_blocks(ro.copy(), 5, cut, base=100)
    assert a.messages == b.messages == 2 and list(a.books.books()) == list(b.books.books())
    bad = np.frombuffer(data[:5] + b"\x00\x03ZZZ", np.uint8)
    with pytest.raises(ItchError, match="at offset 105"):
        a.on_blocks(bad, 5, bad.shape[0], base=100, final=True)
