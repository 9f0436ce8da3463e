"""NASDAQ OUCH 5.0 order entry: layout tables, compiled encoders and decoder, the
plain-Python view, and :class:`OutboundDecoder`, which decodes the exchange's SoupBinTCP
stream into records in batches."""

from __future__ import annotations

import numpy as np

from ..soupbintcp.layout import PAYLOAD_LENGTHS
from .decode import NEED_MORE, OK, OUT_FULL, STATUS_TEXT, decode_stream
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

    ``counts[ord(t)]`` counts SoupBinTCP packets by type (heartbeats, logins, data). A
    malformed packet or message raises :class:`OuchError` with its stream offset and reason:
    a TCP stream cannot be resynchronised after one, so the session must be restarted."""

    def __init__(self, max_records: int = 4096) -> None:
        self.records = np.zeros(max_records, OUT_DTYPE)
        self.counts = np.zeros(256, np.int64)
        self._pending = b""
        self._base = 0

    def warm_up(self) -> None:
        """Compile (or load) the kernel with the exact types used, before a timed run."""
        buf = np.zeros(3, np.uint8)
        decode_stream(buf, 0, 0, PAYLOAD_LENGTHS, OUT_LENGTHS, OUT_APPENDAGE, OPTION_WIDTHS,
                      self.records, self.counts)

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
            recs = self.records[:n].copy()
            recs["options_at"] = np.where(recs["options_at"] >= 0,
                                          recs["options_at"] + self._base, -1)
            got.append(recs)
            if status == OUT_FULL:
                p = int(p_next)
                continue
            if status in (OK, NEED_MORE):
                p = int(p_next)
                break
            raise OuchError(self._base + int(p_next),
                            STATUS_TEXT.get(int(status), f"status {status}")
                            + "; restart the session (a TCP stream cannot skip a bad packet)")
        self._pending = chunk[p:]
        self._base += p
        return np.concatenate(got) if len(got) > 1 else got[0]
