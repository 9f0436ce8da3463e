"""The equities snapshot feed, venue side: after every ITCH message that changes a book, that
instrument's Book Snapshot (docs/snapshot-feed.md).

:class:`SnapshotGenerator` takes the ITCH blocks the incremental feed publishes (length
prefixed, as :class:`~tickpath.venue.publisher.UdpPublisher` sends them) with the MoldUDP64
sequence number of their first message, keeps an order-by-order replica of every book with
:class:`~tickpath.book.BookStore`'s compiled kernels, and after each message of type A, F, E,
C, X, D or U writes the changed instrument's top ``depth`` levels a side as a Book Snapshot
block (:mod:`tickpath.codec.book_snapshot`) into its output buffer. The loop over messages is
one compiled call (:func:`snapshot_run`); it returns to Python only when the buffer is full
(drain it and go on), when the replica's tables must grow, or on a block that is not ITCH.

    gen = SnapshotGenerator(depth=10)
    for chunk in gen.run(blocks, first_seq):   # views of the output buffer: send or copy
        ...
    snapshot_blocks_of(sim.blocks(), depth=5)  # a whole day's snapshot feed, in memory
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from numba import njit

from ..book import BookStore
from ..book.apply import OK as BOOK_OK
from ..book.apply import apply_batch
from ..book.records import ASK, BID, NO_LEVEL
from ..codec.book_snapshot.encoder import put_header, put_level
from ..codec.book_snapshot.layout import (
    BLANK_STOCK,
    DEFAULT_DEPTH,
    HEADER_LEN,
    LEVEL_LEN,
    MAX_DEPTH,
    largest_message,
)
from ..codec.itch50.decode import OK as DECODE_OK
from ..codec.itch50.decode import OUT_FULL as EVENTS_FULL
from ..codec.itch50.decode import STATUS_TEXT as DECODE_TEXT
from ..codec.itch50.decode import be16, decode_batch
from ..codec.itch50.encoder import put16
from ..codec.itch50.layout import BOOK_TYPES, EVENT_DTYPE, LENGTHS

__all__ = ["SnapshotGenerator", "snapshot_blocks_of", "write_book"]

_LENGTHS = LENGTHS
#: by type byte: whether the message changes a book (A F E C X D U; P prints a trade of a
#: hidden order and changes none)
_CHANGES = np.zeros(256, np.bool_)
for _t in BOOK_TYPES:
    _CHANGES[ord(_t)] = True
_CHANGES.setflags(write=False)

# snapshot_run's exits
DONE = 0  # every block consumed
OUT_FULL = 1  # the output buffer has no room for another snapshot: drain it, call again
REFUSED = 2  # the replica refused event ``at`` (a table to grow, or a bad message): settle
BAD_BLOCK = 3  # a block that is not ITCH at ``p`` (the decoder's status in ``detail``)
# the tally's words
_MESSAGES, _SNAPSHOTS, _BYTES = 0, 1, 2


@njit(cache=True, nogil=True, _nrt=False)
def _side_count(levels, head, depth):
    n = 0
    cur = head
    while cur != NO_LEVEL and n < depth:
        n += 1
        cur = levels[cur]["next"]
    return n


@njit(cache=True, nogil=True)
def write_book(out, q, levels, heads, symbols, locate, tracking, timestamp, seq, depth):
    """Write the Book Snapshot block of ``locate`` (its top ``depth`` levels a side, walked
    from the replica's level lists) at ``out[q]``; returns the offset after it. The caller
    makes sure ``out`` has room for :func:`largest_message` and its length."""
    hb = heads[locate, BID]
    ha = heads[locate, ASK]
    nb = _side_count(levels, hb, depth)
    na = _side_count(levels, ha, depth)
    stock = symbols[locate]
    if stock == 0:
        stock = np.uint64(BLANK_STOCK)
    put16(out, q, HEADER_LEN + LEVEL_LEN * (nb + na))
    m = q + 2
    put_header(out, m, locate, tracking, timestamp, stock, seq, nb, na)
    r = _put_side(out, m + HEADER_LEN, levels, hb, nb)
    return _put_side(out, r, levels, ha, na)


@njit(cache=True, nogil=True, _nrt=False)
def _put_side(out, r, levels, cur, n):
    """``n`` levels of one side from level ``cur`` down its list, best first, at ``r``."""
    for _ in range(n):
        lv = levels[cur]
        put_level(out, r, lv["price"], lv["shares"], lv["orders"])
        r += LEVEL_LEN
        cur = lv["next"]
    return r


@njit(cache=True, nogil=True)
def snapshot_run(blocks, start, end, seq, events, orders, mask, levels, free, heads, stats,
                 inst, symbols, type_counts, capacity, depth, out, q, tally):
    """Apply the ITCH blocks ``blocks[start:end]`` (the first one's sequence number ``seq``)
    to the replica and write a Book Snapshot after each that changes a book, from
    ``out[q]``.

    Returns ``(exit, detail, p, seq, q, at)``: DONE; OUT_FULL (resume from block ``p``, its
    sequence number ``seq``); REFUSED (``events[at]``, the block at ``p``, was refused by the
    replica with book status ``detail``: the owner settles it); BAD_BLOCK (the block at
    ``p`` is not ITCH: decoder status ``detail``). ``q``: the end of what was written.
    ``tally``: messages applied, snapshots written and their bytes, counted up."""
    room = out.shape[0] - 2 - (HEADER_LEN + 2 * depth * LEVEL_LEN)
    zero = np.int64(0)  # one specialization of the decoder and the books, as the feed's
    p = np.int64(start)
    while p < end:
        n, st, nxt = decode_batch(blocks, p, end, _LENGTHS, events, zero, zero)
        for j in range(n):
            ev = events[j]
            at = np.int64(ev["offset"]) - 2  # this block's start
            change = _CHANGES[ev["type"]]
            if change and q > room:
                return OUT_FULL, zero, at, seq, q, np.int64(j)
            _, bst = apply_batch(events, j, j + 1, orders, mask, levels, free, heads, stats,
                                 inst, symbols, type_counts, capacity)
            if bst != BOOK_OK:
                return REFUSED, np.int64(bst), at, seq, q, np.int64(j)
            tally[_MESSAGES] += 1
            if change:
                r = write_book(out, q, levels, heads, symbols, np.int64(ev["locate"]),
                               ev["tracking"], ev["timestamp"], seq, depth)
                tally[_SNAPSHOTS] += 1
                tally[_BYTES] += r - q
                q = r
            seq += 1
        if st != DECODE_OK and st != EVENTS_FULL:
            return BAD_BLOCK, np.int64(st), np.int64(nxt), seq, q, zero
        p = np.int64(nxt)
    return DONE, zero, p, seq, q, zero


class SnapshotGenerator:
    """The snapshot feed's source: an L3 replica of the incremental feed's books and a
    Book Snapshot after every book change (module doc). ``depth``: levels a side, 1 to
    :data:`~tickpath.codec.book_snapshot.layout.MAX_DEPTH`. ``out_bytes``: the output
    buffer (a chunk of :meth:`run`). The replica starts with room for ``initial_orders``
    orders and grows up to ``max_orders``; a message it refuses raises its
    :class:`~tickpath.book.store.BookError` (the venue's own feed: a bug, not data)."""

    def __init__(self, depth: int = DEFAULT_DEPTH, *, max_orders: int = 1 << 22,
                 initial_orders: int = 1 << 16, batch: int = 1024,
                 out_bytes: int = 1 << 20) -> None:
        if not 1 <= depth <= MAX_DEPTH:
            raise ValueError(f"snapshot depth {depth} is outside 1..{MAX_DEPTH} levels a side")
        self.depth = int(depth)
        self.books = BookStore(max_orders=max_orders, initial_orders=initial_orders,
                               errors="raise")
        self.events = np.zeros(batch, EVENT_DTYPE)
        self.out = np.zeros(max(out_bytes, 4 * (2 + largest_message(depth))), np.uint8)
        #: ITCH messages applied, Book Snapshots written, their blocks' bytes (length
        #: prefixes included)
        self.tally = np.zeros(3, np.int64)

    def _call(self, blocks: np.ndarray, p: int, seq: int, q: int) -> tuple[int, ...]:
        b = self.books
        return snapshot_run(blocks, p, blocks.shape[0], seq, self.events, b.orders, b.mask,
                            b.levels, b.free, b.heads, b.stats_array, b.inst, b.symbols,
                            b.type_counts, b.capacity, self.depth, self.out, q, self.tally)

    def run(self, blocks: np.ndarray, first_seq: int) -> Iterator[np.ndarray]:
        """Apply ``blocks`` (uint8, whole length-prefixed ITCH blocks; the first one's
        sequence number ``first_seq``) and yield the Book Snapshot blocks they cause, as
        views of the output buffer, each valid until the next step of the iteration."""
        p, seq, q = 0, int(first_seq), 0
        while True:
            ex, detail, p, seq, q, at = (int(x) for x in self._call(blocks, p, seq, q))
            if ex == REFUSED:
                q = self._settle(at, seq, q)
                p += 2 + int(be16(blocks, np.uint64(p)))
                seq += 1
                continue
            if ex == BAD_BLOCK:
                raise ValueError(f"snapshot feed: the incremental feed's block at offset {p} "
                                 f"(sequence number {seq}) is not ITCH: "
                                 f"{DECODE_TEXT.get(detail, detail)}")
            if q:
                yield self.out[:q]
                q = 0
            if ex == DONE:
                return

    def _settle(self, at: int, seq: int, q: int) -> int:
        """The replica refused ``events[at]``: BookStore grows its tables and applies it, or
        raises; then its snapshot, if it changed a book. Returns the new end of output."""
        self.books.apply(self.events, at + 1, start=at)  # the tables may be new after this
        self.tally[_MESSAGES] += 1
        ev = self.events[at]
        if not _CHANGES[int(ev["type"])]:
            return q
        b = self.books
        r = int(write_book(self.out, q, b.levels, b.heads, b.symbols, np.int64(ev["locate"]),
                           ev["tracking"], ev["timestamp"], seq, self.depth))
        self.tally[_SNAPSHOTS] += 1
        self.tally[_BYTES] += r - q
        return r

    @property
    def messages(self) -> int:
        """ITCH messages applied to the replica."""
        return int(self.tally[_MESSAGES])

    @property
    def snapshots(self) -> int:
        """Book Snapshots written."""
        return int(self.tally[_SNAPSHOTS])

    @property
    def bytes(self) -> int:
        """Bytes of the Book Snapshot blocks written (2-byte length prefixes included)."""
        return int(self.tally[_BYTES])

    def blocks_of(self, blocks: np.ndarray, first_seq: int) -> np.ndarray:
        """:meth:`run`'s snapshots of ``blocks``, as one array of their own."""
        parts = [c.copy() for c in self.run(blocks, first_seq)]
        if not parts:
            return np.zeros(0, np.uint8)
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def warm_up(self) -> None:
        """Compile (or load) the generator on scratch state of the same types."""
        scratch = SnapshotGenerator(self.depth, max_orders=16, initial_orders=16, batch=4,
                                    out_bytes=0)
        scratch.blocks_of(np.zeros(0, np.uint8), 1)
        b = scratch.books
        write_book(scratch.out, 0, b.levels, b.heads, b.symbols, np.int64(0), np.uint16(0),
                   np.uint64(0), 1, scratch.depth)


def snapshot_blocks_of(blocks: np.ndarray, depth: int = DEFAULT_DEPTH,
                       first_seq: int = 1) -> np.ndarray:
    """The snapshot feed of a whole day of ITCH ``blocks`` (e.g. ``Simulator.blocks()``,
    whose first message is sequence number ``first_seq`` on the incremental feed), as one
    array of length-prefixed Book Snapshot blocks."""
    return SnapshotGenerator(depth).blocks_of(blocks, first_seq)
