"""``ItchHandler``: ITCH 5.0 blocks in, exact books out (decoder + ``BookStore``).

It takes bytes in batches. A file's chunks (``on_blocks``) are decoded straight into the books
in one compiled pass (:mod:`tickpath.book.blocks`), writing rows for export when asked; a
MoldUDP64 packet is decoded into a preallocated event buffer and the events applied to the
books in the same batch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from ...book import BookStore
from ...book.blocks import BOOK_OK, apply_blocks
from ...codec.itch50 import decode as dec
from ...codec.itch50 import resync as rs
from ...codec.itch50.layout import EVENT_DTYPE, LENGTHS
from ...codec.itch50.resync import RUN, find_resync
from ..binaryfile import CARRY_ROOM
from ..moldudp64 import MoldSession
from ..moldudp64._kernels import NEW

#: the longest ``resync_run``: the blocks a boundary search holds (each a 2-byte length and a
#: message of at most ``LENGTHS.max()`` bytes) fit in what a file's next chunk keeps for them
MAX_RESYNC_RUN = CARRY_ROOM // (2 + int(LENGTHS.max()))


class RowSink(Protocol):
    """What applies messages to the books while writing rows for export
    (:class:`tickpath.book.row_buffers.RowBuffers`): decoded events (a packet), or a file's
    blocks in one pass (the contract of :func:`tickpath.book.blocks.apply_blocks`)."""

    def apply(self, books: BookStore, events: np.ndarray, n: int, buf: np.ndarray,
              base: int) -> int: ...

    def apply_blocks(self, books: BookStore, buf: np.ndarray, start: int, end: int, base: int,
                     scratch: np.ndarray) -> tuple[int, int, int, int]: ...


class ItchError(ValueError):
    """Malformed ITCH input, with the stream offset of the bad block and the reason."""

    def __init__(self, reason: str, offset: int, detail: str = "") -> None:
        self.offset = offset
        self.reason = reason
        super().__init__(f"malformed ITCH input at offset {offset}: {reason}{detail}")


#: The shortest and longest blocks (length prefix included): bounds on the messages a lost
#: range held.
_MIN_BLOCK = 2 + int(min(x for x in LENGTHS if x))
_MAX_BLOCK = 2 + int(LENGTHS.max())


@dataclass(frozen=True)
class LostRange:
    """Bytes of a stream skipped with ``errors="skip"``: from the bad block at ``offset`` (its
    length prefix) up to ``resumed``, where decoding found the message boundaries again (or
    the end of the input). Stream offsets."""

    offset: int
    resumed: int
    reason: str

    @property
    def bytes(self) -> int:
        return self.resumed - self.offset

    @property
    def messages(self) -> tuple[int, int]:
        """The fewest and most whole messages these bytes can have held (the stream carries
        no sequence numbers, so the exact count is unknown)."""
        n = self.bytes
        return max(1, -(-n // _MAX_BLOCK)), max(1, n // _MIN_BLOCK)


class ItchHandler:
    """Decode ITCH 5.0 blocks and keep every book.

    ``errors="raise"`` stops at the first malformed block or refused message with an error
    naming its offset; ``"skip"`` counts it (``malformed`` here, ``rejected`` in the books) and
    goes on. Either way the books never hold half a message.

    Skipping a malformed block of a stream (:meth:`on_blocks`) does not trust its length: it
    finds the message boundaries again (:func:`tickpath.codec.itch50.resync.find_resync`,
    ``resync_run`` consistent blocks in a row) and records the bytes lost in ``lost`` (the
    first 100 :class:`LostRange`), ``lost_bytes`` and ``lost_ranges``. A zero length is the
    BinaryFILE end-of-session marker: last in the input it ends the stream
    (``end_of_session``), anywhere else it is malformed.

    ``messages`` counts the messages taken from the input: applied, or refused by the books
    and skipped; with ``errors="raise"`` the message raised on is not counted.
    """

    def __init__(self, books: BookStore | None = None, batch: int = 1 << 14,
                 errors: str = "raise", resync_run: int = RUN) -> None:
        self.books = books if books is not None else BookStore(errors=errors)
        self.errors = errors
        self.events = np.zeros(batch, EVENT_DTYPE)
        self._scratch = np.zeros(1, EVENT_DTYPE)  # the one message apply_blocks decodes
        self.malformed = 0
        self.malformed_log: list[ItchError] = []
        self.messages = 0
        if not 1 <= resync_run <= MAX_RESYNC_RUN:
            raise ValueError(f"resync_run must be 1 to {MAX_RESYNC_RUN}, not {resync_run} (the "
                             "blocks it holds must fit in front of a file's next chunk)")
        self.resync_run = int(resync_run)
        self.lost: list[LostRange] = []
        self.lost_bytes = 0
        self.lost_ranges = 0
        self.end_of_session = False
        self._lost_from = -1  # stream offset of the bad block while finding boundaries again
        self._lost_reason = ""
        #: None, or what applies the events instead of ``books.apply`` while writing rows
        #: for export (:class:`tickpath.book.row_buffers.RowBuffers`: ``apply(books, events,
        #: n, buf, base)``), set by the replay when asked for Parquet
        self.rows: RowSink | None = None

    def _report(self, buf: np.ndarray, off: int, end: int, base: int, status: int) -> str:
        """Report a malformed block at ``buf[off]`` (raise, or count and log it); returns its
        reason."""
        n = int(buf[off]) << 8 | int(buf[off + 1]) if off + 1 < end else 0
        t = int(buf[off + 2]) if off + 2 < end else -1
        reason = dec.STATUS_TEXT[status]
        detail = ""
        if status == dec.NEED_MORE:  # only with final: the input ends inside this block
            reason = "truncated message at end of file"
            detail = f" ({end - off} bytes left over)"
        elif n == 0 and off + 1 < end:
            detail = " (a zero length marks the end of the session, but more bytes follow it)"
        elif status == dec.UNKNOWN_TYPE:
            detail = f" (type byte 0x{t:02x} {chr(t)!r}, block length {n})"
        elif status == dec.LENGTH_MISMATCH:
            want = int(LENGTHS[t]) if t >= 0 else 0
            detail = f" (type {chr(t)!r} is {want} bytes, block says {n})"
        err = ItchError(reason, base + off, detail)
        if self.errors == "raise":
            raise err
        self.malformed += 1
        if len(self.malformed_log) < 100:
            self.malformed_log.append(err)
        return reason

    def _lose(self, offset: int, resumed: int, reason: str) -> None:
        self.lost_bytes += resumed - offset
        self.lost_ranges += 1
        if len(self.lost) < 100:
            self.lost.append(LostRange(offset, resumed, reason))

    def _resync(self, buf: np.ndarray, p: int, end: int, base: int, final: bool) -> int:
        """Look for the message boundaries again from ``buf[p]``; returns where to go on (the
        boundary found, or, still looking, the first byte to keep for the next call)."""
        st, q = find_resync(buf, p, end, LENGTHS, self.resync_run, final)
        q = int(q)
        if st == rs.NEED_MORE:
            return q
        self._lose(self._lost_from, base + q, self._lost_reason)
        self._lost_from = -1
        return q

    def _inconsistent(self, buf: np.ndarray, p: int, end: int, final: bool) -> int:
        """Status of an incomplete block at ``buf[p]`` that need not wait for more bytes:
        its type and length already disagree, or it is cut by the end of the input."""
        if p + 3 <= end:  # (n > 0 here: a zero length is never waiting for more)
            n = int(buf[p]) << 8 | int(buf[p + 1])
            want = int(LENGTHS[buf[p + 2]])
            if want == 0:
                return dec.UNKNOWN_TYPE
            if n != want:
                return dec.LENGTH_MISMATCH
        return dec.NEED_MORE if final else dec.OK

    def on_blocks(self, buf: np.ndarray, start: int, end: int, base: int = 0,
                  final: bool = False) -> int:
        """Decode and apply the whole blocks in ``buf[start:end]``; return the offset of the
        first byte not consumed (a partial block at the end, or bytes still being searched for
        a boundary, are left for the next call). ``base`` is the stream offset of ``buf[0]``.
        ``final``: no more input follows, so a cut block at the end is malformed (truncated)
        and a zero length ending the input is the end of the session."""
        if not buf.flags.writeable:  # (bytes, a read-only map): numba would compile the
            # whole pass again for a read-only array; a copy of the window costs far less
            return start + self.on_blocks(buf[start:end].copy(), 0, end - start, base + start,
                                          final)
        p = start
        if self._lost_from >= 0:
            p = self._resync(buf, p, end, base, final)
            if self._lost_from >= 0:
                return p
        while p < end:
            st, p = self._apply_blocks(buf, p, end, base)
            if st == dec.OK:
                break
            if st == dec.OUT_FULL:
                continue
            if st == dec.NEED_MORE:
                st = self._inconsistent(buf, p, end, final)
                if st == dec.OK:
                    return p
            elif st == dec.LENGTH_MISMATCH and p + 2 == end and buf[p] == 0 and buf[p + 1] == 0:
                if final:  # BinaryFILE's end-of-session marker, last in the input
                    self.end_of_session = True
                    return end
                return p
            reason = self._report(buf, p, end, base, st)
            self._lost_from, self._lost_reason = base + p, reason
            p = self._resync(buf, p + 1, end, base, final)
            if self._lost_from >= 0:
                return p
        return p

    def _apply_blocks(self, buf: np.ndarray, p: int, end: int, base: int) -> tuple[int, int]:
        """Decode and apply blocks from ``buf[p]`` in one compiled pass
        (:mod:`tickpath.book.blocks`, writing rows when ``rows`` is set) until the input ends
        or a block is malformed; returns ``(decoder status, offset)``
        like ``decode_batch``. A message the books refuse is settled here (the table grown,
        or the message raised or skipped) and the pass goes on."""
        b = self.books
        while True:
            if self.rows is None:
                n, st, bst, nxt = apply_blocks(
                    buf, p, end, LENGTHS, self._scratch, base, b.orders, b.mask, b.levels,
                    b.free, b.heads, b.stats_array, b.inst, b.symbols, b.type_counts,
                    b.capacity)
            else:
                n, st, bst, nxt = self.rows.apply_blocks(b, buf, p, end, base, self._scratch)
            self.messages += n
            p = int(nxt)
            if bst == BOOK_OK:
                return st, p
            if b.settle(self._scratch, 0, bst):  # refused and skipped: the next block
                self.messages += 1
                p += 2 + (int(buf[p]) << 8 | int(buf[p + 1]))

    def _skip_block(self, buf: np.ndarray, p: int, end: int, base: int, status: int) -> int:
        """Report a malformed block inside a packet whose blocks add up (MoldUDP64's ``accept``
        checked the lengths against the datagram): skip it by its own length."""
        n = int(buf[p]) << 8 | int(buf[p + 1]) if p + 1 < end else end
        reason = self._report(buf, p, end, base, status)
        nxt = min(end, p + 2 + n)
        self._lose(base + p, base + nxt, reason)
        return nxt

    def on_packet(self, session: MoldSession, buf: np.ndarray, n: int, base: int = 0) -> int:
        """Sequence and apply one MoldUDP64 packet in ``buf[:n]``; return new messages."""
        verdict, off, count = session.accept(buf, 0, n)
        if verdict != NEW:
            return 0
        before = self.messages
        ev = self.events
        p = int(off)
        while p < n:
            k, st, nxt = dec.decode_batch(buf, p, n, LENGTHS, ev, 0, base)
            if k:
                if self.rows is None:
                    self.books.apply(ev, k)
                else:
                    self.rows.apply(self.books, ev, k, buf, base)
                self.messages += k
            p = int(nxt)
            if st == dec.OK:
                break
            if st != dec.OUT_FULL:
                p = self._skip_block(buf, p, n, base, st)
        return self.messages - before

    def warm_up(self) -> None:
        """Compile the kernels for this handler's exact argument types on a scratch book, so
        the first live packet does not pay for compilation (cached on disk after the first
        run)."""
        from ...codec.itch50.message import encode
        from ..moldudp64 import pack_packets

        msgs = [encode("R", stock_locate=1, stock="WARM"),
                encode("A", stock_locate=1, order_reference_number=1, buy_sell_indicator="B",
                       shares=1, stock="WARM", price=1),
                encode("X", stock_locate=1, order_reference_number=1, cancelled_shares=1)]
        blocks = np.frombuffer(b"".join(len(m).to_bytes(2, "big") + m for m in msgs), np.uint8)
        pkt, bounds, _ = pack_packets(blocks, "WARMUP")
        scratch = ItchHandler(BookStore(max_orders=16, errors=self.errors), batch=16,
                              errors=self.errors)
        scratch.on_packet(MoldSession(), pkt, int(bounds[1]))
        # and the fused pass a rejoin replays the feed through, on a writable buffer like a
        # socket's (numba compiles read-only arrays separately)
        ItchHandler(BookStore(max_orders=16, errors=self.errors), batch=16,
                    errors=self.errors).on_blocks(blocks.copy(), 0, blocks.shape[0], final=True)
