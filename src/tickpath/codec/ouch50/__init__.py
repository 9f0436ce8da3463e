"""NASDAQ OUCH 5.0 order entry: layout tables, compiled encoders and decoder, the
plain-Python view, and :class:`OutboundDecoder`, which decodes the exchange's SoupBinTCP
stream into records in batches."""

from __future__ import annotations

import numpy as np

from ..soupbintcp.layout import PAYLOAD_LENGTHS
from .decode import (
    BAD_PACKET,
    NEED_MORE,
    OK,
    OUT_FULL,
    STATUS_TEXT,
    decode_stream,
    packet_start,
)
from .encode import (
    add_int_option,
    encode_cancel_order,
    encode_enter_order,
    encode_replace_order,
)
from .layout import (
    INBOUND,
    OPTION_WIDTHS,
    OPTIONS,
    OUT_APPENDAGE,
    OUT_DTYPE,
    OUT_LENGTHS,
    OUTBOUND,
    REJECT_REASONS,
    Field,
    Message,
    Option,
    cl_ord_id_bytes,
    symbol_code,
)
from .message import OuchError, encode, encode_options, fields, lookup, parse_options

__all__ = [
    "INBOUND", "OPTIONS", "OUTBOUND", "OUT_DTYPE", "REJECT_REASONS", "Field", "Message",
    "Option", "OuchError", "OutboundDecoder", "add_int_option", "cl_ord_id_bytes", "encode",
    "encode_cancel_order", "encode_enter_order", "encode_options", "encode_replace_order",
    "fields", "lookup", "parse_options", "symbol_code",
]


class OutboundDecoder:
    """Decodes the exchange -> client byte stream (SoupBinTCP packets carrying OUCH) into
    OUT_DTYPE records, a batch per call; keeps a partial packet for the next read.

    ``counts[ord(t)]`` counts SoupBinTCP packets by type (heartbeats, logins, data), each once,
    when it is handed over. A malformed packet or message raises :class:`OuchError` with its
    stream ``offset`` and ``reason``, and with what the call decoded before it:
    ``err.records`` (the good records, handed over and counted) and ``err.packet_offset``
    (where the bad packet starts). The decoder then holds the stream from the bad packet on:
    feeding again raises the same error (nothing is decoded or counted twice); :meth:`skip`
    drops the bad packet by its length prefix, and ``feed(b"")`` (or the next read) goes on
    after it. A fault inside an OUCH message leaves the SoupBinTCP framing intact, so skipping
    is sound; after a malformed packet (length 0, unknown packet type, wrong length for its
    type) the length prefix itself is suspect, and restarting the session is the safe way."""

    def __init__(self, max_records: int = 4096) -> None:
        self.records = np.zeros(max_records, OUT_DTYPE)
        self.counts = np.zeros(256, np.int64)
        self.skipped = 0  # bad packets dropped by skip()
        self._pending = b""
        self._base = 0  # stream offset of _pending[0]
        self._fault: int | None = None  # stream offset of the bad packet at _pending[0]

    def warm_up(self) -> None:
        """Compile (or load) the kernel with the exact types used, before a timed run."""
        buf = np.zeros(3, np.uint8)
        decode_stream(buf, 0, 0, PAYLOAD_LENGTHS, OUT_LENGTHS, OUT_APPENDAGE, OPTION_WIDTHS,
                      self.records, self.counts)
        packet_start(buf, 0, 0)

    def _take(self, n: int) -> np.ndarray:
        recs = self.records[:n].copy()
        recs["options_at"] = np.where(recs["options_at"] >= 0,
                                      recs["options_at"] + self._base, -1)
        return recs

    def feed(self, data: bytes | bytearray | memoryview) -> np.ndarray:
        """Decode what ``data`` completes; returns a copy of the records of this call.
        ``options_at`` in them counts from the first byte ever fed."""
        chunk = self._pending + bytes(data)
        buf = np.frombuffer(chunk, np.uint8)
        got = []
        p = 0
        while True:
            n, status, p_next = decode_stream(buf, p, buf.size, PAYLOAD_LENGTHS, OUT_LENGTHS,
                                              OUT_APPENDAGE, OPTION_WIDTHS, self.records,
                                              self.counts)
            got.append(self._take(n))
            if status == OUT_FULL:
                p = int(p_next)
                continue
            if status in (OK, NEED_MORE):
                p = int(p_next)
                break
            # keep the stream from the bad packet on: the records before it are handed over
            # with the error, and were counted once, so nothing is decoded twice
            bad = int(packet_start(buf, p, p_next))
            at, self._pending = self._base + int(p_next), chunk[bad:]
            self._base += bad
            self._fault = self._base
            hint = ("skip() drops the packet (its framing is intact), or restart the session"
                    if status != BAD_PACKET else
                    "restart the session (the packet's length prefix cannot be trusted; "
                    "skip() drops it by that length)")
            raise OuchError(at, STATUS_TEXT.get(int(status), f"status {status}") + "; " + hint,
                            np.concatenate(got) if len(got) > 1 else got[0], self._fault)
        self._pending = chunk[p:]
        self._base += p
        self._fault = None
        return np.concatenate(got) if len(got) > 1 else got[0]

    def skip(self) -> int:
        """Drop the bad packet the last :meth:`feed` raised on (by its length prefix, or the
        bytes held if fewer); returns how many bytes were dropped. Call ``feed(b"")`` to
        decode what was held after it."""
        if self._fault is None:
            raise RuntimeError("no bad packet to skip: skip() follows an OuchError from feed()")
        pend = self._pending
        size = 2 + int.from_bytes(pend[:2], "big") if len(pend) >= 2 else len(pend)
        size = min(size, len(pend))
        self._pending = pend[size:]
        self._base += size
        self._fault = None
        self.skipped += 1
        return size
