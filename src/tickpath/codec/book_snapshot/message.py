"""Plain-Python Book Snapshot: build one message, read one back (tests, tools, cold paths;
the venue writes with :mod:`.encoder`, the compiled receiver reads with :mod:`.decode`)."""

from __future__ import annotations

import struct
from dataclasses import dataclass, field

from ..itch50.layout import stock_code, stock_symbol
from .layout import (
    HEADER_LEN,
    LEVEL_LEN,
    MAX_COUNT,
    MAX_ORDERS,
    MAX_SHARES,
    MESSAGE_TYPE,
    REFUSAL_TEXT,
    Refusal,
    message_length,
)

_HEADER = struct.Struct(">BHHHI8sQBB")  # the u48 timestamp as its high u16 and low u32
_LEVEL = struct.Struct(">IIH")
assert _HEADER.size == HEADER_LEN and _LEVEL.size == LEVEL_LEN

Level = tuple[int, int, int]  # price, shares, orders


@dataclass
class BookSnapshot:
    """One Book Snapshot: the instrument's levels, best first."""

    locate: int
    seq: int
    bids: list[Level] = field(default_factory=list)
    asks: list[Level] = field(default_factory=list)
    stock: str = ""
    tracking: int = 0
    timestamp: int = 0


def encode(snap: BookSnapshot) -> bytes:
    """The message for ``snap`` (shares and orders saturate, as the venue's writer does)."""
    if len(snap.bids) > MAX_COUNT or len(snap.asks) > MAX_COUNT:
        raise ValueError(f"a Book Snapshot holds at most {MAX_COUNT} levels a side, not "
                         f"{len(snap.bids)} bids and {len(snap.asks)} asks")
    ts = int(snap.timestamp)
    head = _HEADER.pack(MESSAGE_TYPE, snap.locate, snap.tracking, ts >> 32, ts & 0xFFFF_FFFF,
                        stock_code(snap.stock).to_bytes(8, "big"), snap.seq,
                        len(snap.bids), len(snap.asks))
    levels = b"".join(_LEVEL.pack(p, min(s, MAX_SHARES), min(o, MAX_ORDERS))
                      for p, s, o in [*snap.bids, *snap.asks])
    return head + levels


def parse(data: bytes | bytearray | memoryview, offset: int = 0,
          length: int | None = None) -> BookSnapshot:
    """The Book Snapshot of ``length`` bytes (default: the rest of ``data``) at ``offset``;
    a message that is not one (too short, another type, a length the level counts do not
    add up to) is refused with a ``ValueError`` naming the reason and the offset. The
    levels are read as they are: a receiver's checks of them are
    :func:`tickpath.codec.book_snapshot.decode.check`'s."""
    n = len(data) - offset if length is None else length
    if n < HEADER_LEN or offset + n > len(data):
        raise _refused(Refusal.SHORT, offset)
    t, loc, trk, ts_hi, ts_lo, stock, seq, nb, na = _HEADER.unpack_from(data, offset)
    if t != MESSAGE_TYPE:
        raise _refused(Refusal.UNKNOWN_TYPE, offset)
    if n != message_length(nb, na):
        raise _refused(Refusal.LENGTH, offset)
    levels = [_LEVEL.unpack_from(data, offset + HEADER_LEN + i * LEVEL_LEN)
              for i in range(nb + na)]
    return BookSnapshot(loc, seq, levels[:nb], levels[nb:],
                        stock_symbol(int.from_bytes(stock, "big")), trk,
                        ts_hi << 32 | ts_lo)


def _refused(reason: Refusal, offset: int) -> ValueError:
    return ValueError(f"Book Snapshot at offset {offset}: {REFUSAL_TEXT[reason]}")


def parse_blocks(blocks: bytes | bytearray | memoryview) -> list[BookSnapshot]:
    """Every Book Snapshot of length-prefixed blocks (a whole day's, from memory)."""
    out = []
    p = 0
    data = memoryview(blocks).cast("B")
    while p < len(data):
        if p + 2 > len(data):
            raise ValueError(f"block length cut at offset {p}")
        n = data[p] << 8 | data[p + 1]
        out.append(parse(data, p + 2, n))
        p += 2 + n
    return out
