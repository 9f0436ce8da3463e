"""``ItchHandler``: ITCH 5.0 blocks in, exact books out (decoder + ``BookStore``).

It takes bytes in batches (a file chunk, a MoldUDP64 packet), decodes them into a preallocated
event buffer with the compiled decoder, and applies the events to the books in the same batch.
"""

from __future__ import annotations

import numpy as np

from ...book import BookStore
from ...codec.itch50 import decode as dec
from ...codec.itch50.layout import EVENT_DTYPE, LENGTHS
from ..moldudp64 import MoldSession
from ..moldudp64._kernels import NEW


class ItchError(ValueError):
    """Malformed ITCH input, with the stream offset of the bad block and the reason."""

    def __init__(self, reason: str, offset: int, detail: str = "") -> None:
        self.offset = offset
        self.reason = reason
        super().__init__(f"malformed ITCH input at offset {offset}: {reason}{detail}")


class ItchHandler:
    """Decode ITCH 5.0 blocks and keep every book.

    ``errors="raise"`` stops at the first malformed block or refused message with an error
    naming its offset; ``"skip"`` counts it (``malformed`` here, ``rejected`` in the books) and
    goes on. Either way the books never hold half a message.
    """

    def __init__(self, books: BookStore | None = None, batch: int = 1 << 14,
                 errors: str = "raise") -> None:
        self.books = books if books is not None else BookStore(errors=errors)
        self.errors = errors
        self.events = np.zeros(batch, EVENT_DTYPE)
        self.malformed = 0
        self.malformed_log: list[ItchError] = []
        self.messages = 0

    def _bad(self, buf: np.ndarray, off: int, end: int, base: int, status: int) -> int:
        """Report a malformed block at ``buf[off]``; return where to resume (past it)."""
        n = int(buf[off]) << 8 | int(buf[off + 1]) if off + 1 < end else 0
        t = int(buf[off + 2]) if off + 2 < end else -1
        detail = ""
        if status == dec.UNKNOWN_TYPE:
            detail = f" (type byte 0x{t:02x} {chr(t)!r}, block length {n})"
        elif status == dec.LENGTH_MISMATCH:
            want = int(LENGTHS[t]) if t >= 0 else 0
            detail = f" (type {chr(t)!r} is {want} bytes, block says {n})"
        err = ItchError(dec.STATUS_TEXT[status], base + off, detail)
        if self.errors == "raise":
            raise err
        self.malformed += 1
        if len(self.malformed_log) < 100:
            self.malformed_log.append(err)
        return off + 2 + n if n else end  # a zero-length block: nothing sane follows

    def on_blocks(self, buf: np.ndarray, start: int, end: int, base: int = 0) -> int:
        """Decode and apply the whole blocks in ``buf[start:end]``; return the offset of the
        first byte not consumed (a partial block at the end is left for the next call)."""
        ev = self.events
        p = start
        while p < end:
            n, st, nxt = dec.decode_batch(buf, p, end, LENGTHS, ev, 0, base)
            if n:
                self.books.apply(ev, n)
                self.messages += n
            p = int(nxt)
            if st == dec.OK:
                break
            if st == dec.OUT_FULL:
                continue
            if st == dec.NEED_MORE:
                return p
            p = self._bad(buf, p, end, base, st)
        return p

    def on_packet(self, session: MoldSession, buf: np.ndarray, n: int, base: int = 0) -> int:
        """Sequence and apply one MoldUDP64 packet in ``buf[:n]``; return new messages."""
        verdict, off, count = session.accept(buf, 0, n)
        if verdict != NEW:
            return 0
        before = self.messages
        p = self.on_blocks(buf, int(off), n, base)
        if p != n:  # accept() checked that the blocks add up, so this is a cut block
            self._bad(buf, p, n, base, dec.NEED_MORE)
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
