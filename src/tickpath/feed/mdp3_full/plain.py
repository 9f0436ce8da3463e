"""``PyFullRefreshFeed``: the futures full-snapshot channel as a Python user reads it.

Plain Python (``struct.unpack_from`` per field, a dict per instrument holding lists of
``(price, size, orders)`` tuples), the futures counterpart of
:class:`~tickpath.feed.snapshot.plain.PySnapshotFeed`: what the traditional stack's code looks
like. Each datagram is an MDP 3.0 packet of SnapshotFullRefresh52 messages; sequencing by
MsgSeqNum (a gap is counted and passed over: the next snapshot of each instrument repairs its
book), each message checked whole before its instrument's book is replaced (outright bids
``'0'`` and offers ``'1'`` by MDPriceLevel; other entry types are skipped), a refused one
counted by reason with the last one's reason, offset and MsgSeqNum kept. Prices are the
schema's PRICE9 mantissas. The compiled handler of the same channel is
:class:`~tickpath.feed.mdp3_full.FullRefreshFeed`.
"""

from __future__ import annotations

import struct
import time
from typing import Any

import numpy as np

from .layout import (
    SN_LAST_SEQ,
    SN_LEVEL,
    SN_ORDERS,
    SN_PX,
    SN_READ_BLOCK,
    SN_RPT,
    SN_SEC,
    SN_SIZE,
    SN_TYPE,
    SNAPSHOT52,
)

GO_ON = -1  # the transports' status (tickpath.wire.handler)

_HEADER = struct.Struct("<IQ")  # MsgSeqNum, SendingTime
_SIZE = struct.Struct("<H")
_SBE = struct.Struct("<HHHH")  # blockLength, templateId, schemaId, version
_GROUP = struct.Struct("<HB")  # blockLength, numInGroup
_U32, _I32, _I64 = struct.Struct("<I"), struct.Struct("<i"), struct.Struct("<q")
_SCHEMA_ID = 1
_ENTRY = SN_TYPE + 1
_BID, _OFFER = ord("0"), ord("1")
REASONS = ("short_packet", "bad_size", "truncated", "foreign_schema", "unexpected_template",
           "short_block", "group_overrun", "short_entry", "bad_levels")


def _int64(x: int) -> int:
    """``x`` wrapped to int64, as numba's arithmetic wraps it."""
    return (x + (1 << 63)) % (1 << 64) - (1 << 63)


class PyFullRefreshFeed:
    """A plain-Python SnapshotFullRefresh52 receiver (module doc); ``max_samples``: latency
    samples kept (SendingTime -> book, one per datagram that brought a snapshot)."""

    def __init__(self, *, max_samples: int = 1 << 16) -> None:
        self.book: dict[int, dict[str, Any]] = {}  # SecurityID -> bids, asks, seqs, sent
        self.counters = {"packets": 0, "datagrams": 0, "duplicates": 0, "gaps": 0,
                         "gap_packets": 0, "messages": 0, "snapshots": 0, "last_seq": 0}
        self.refused = dict.fromkeys(("refused", *REASONS), 0)
        self.last: tuple[str, int, int] | None = None  # reason, offset, MsgSeqNum
        self.lat = np.zeros(max_samples, np.int64)
        self.snt = np.zeros(max_samples, np.int64)
        self._samples = 0

    @property
    def samples(self) -> int:
        return self._samples

    def on_datagram(self, buf: Any, size: int, rx_ns: int = 0) -> int:
        """One datagram ``buf[:size]`` (anything with the buffer protocol). Returns GO_ON."""
        c = self.counters
        c["datagrams"] += 1
        if size < _HEADER.size:
            self._refuse("short_packet", 0, -1)
            return GO_ON
        seq, sent = _HEADER.unpack_from(buf, 0)
        last = c["last_seq"]
        if last and seq <= last:
            c["duplicates"] += 1
            return GO_ON
        if last and seq > last + 1:
            c["gaps"] += 1
            c["gap_packets"] += seq - last - 1
        c["last_seq"] = seq
        c["packets"] += 1
        taken = 0
        p = _HEADER.size
        while p < size:
            if p + 2 > size:
                self._refuse("truncated", p, seq)
                break
            msize = _SIZE.unpack_from(buf, p)[0]
            if msize < 2 + _SBE.size:
                self._refuse("bad_size", p, seq)
                break
            end = p + msize
            if end > size:
                self._refuse("truncated", p, seq)
                break
            c["messages"] += 1
            reason = self._take(buf, p + 2, end, seq, sent)
            if reason:
                self._refuse(reason, p, seq)
            else:
                taken += 1
            p = end
        c["snapshots"] += taken
        if taken and self._samples < self.lat.shape[0]:
            # int64 as the compiled handler keeps them: a damaged SendingTime wraps, never
            # raises (SendingTime is a u64 on the wire)
            now = time.clock_gettime_ns(time.CLOCK_REALTIME)
            self.lat[self._samples] = _int64(now - sent)
            self.snt[self._samples] = _int64(sent)
            self._samples += 1
        return GO_ON

    def _take(self, buf: Any, m: int, end: int, seq: int, sent: int) -> str:
        """Check the message at ``buf[m:end]`` (after MsgSize) and make it its instrument's
        book; returns the refusal's name, "" when taken."""
        bl, tid, schema, _version = _SBE.unpack_from(buf, m)
        root = m + _SBE.size
        if schema != _SCHEMA_ID:
            return "foreign_schema"
        if tid != SNAPSHOT52:
            return "unexpected_template"
        if bl < SN_READ_BLOCK:
            return "short_block"
        g = root + bl
        if g + _GROUP.size > end:
            return "truncated"
        ebl, n = _GROUP.unpack_from(buf, g)
        if n and ebl < _ENTRY:
            return "short_entry"
        if g + _GROUP.size + n * ebl > end:
            return "group_overrun"
        sides: dict[int, list[tuple[int, int, int, int]]] = {_BID: [], _OFFER: []}
        for k in range(n):
            e = g + _GROUP.size + k * ebl
            kind = buf[e + SN_TYPE]
            if kind in sides:
                sides[kind].append((buf[e + SN_LEVEL], _I64.unpack_from(buf, e + SN_PX)[0],
                                    _I32.unpack_from(buf, e + SN_SIZE)[0],
                                    _I32.unpack_from(buf, e + SN_ORDERS)[0]))
        books = {}
        for kind, rows in sides.items():
            rows.sort()
            # levels 1..n with no hole, sizes > 0, prices strictly worse level by level
            for i, (level, px, qty, _orders) in enumerate(rows):
                if level != i + 1 or qty <= 0 or (i and (px >= rows[i - 1][1] if kind == _BID
                                                          else px <= rows[i - 1][1])):
                    return "bad_levels"
            books[kind] = [(px, qty, orders) for _level, px, qty, orders in rows]
        sec = _I32.unpack_from(buf, root + SN_SEC)[0]
        self.book[sec] = {"bids": books[_BID], "asks": books[_OFFER], "sent": sent,
                          "last_seq": _U32.unpack_from(buf, root + SN_LAST_SEQ)[0],
                          "rpt_seq": _U32.unpack_from(buf, root + SN_RPT)[0]}
        return ""

    def _refuse(self, reason: str, offset: int, seq: int) -> None:
        self.refused["refused"] += 1
        self.refused[reason] += 1
        self.last = (reason, offset, seq)

    def bbo(self, security_id: int) -> tuple[tuple[int, int, int] | None,
                                             tuple[int, int, int] | None]:
        """``(best bid, best offer)`` of the last snapshot, each ``(price, size, orders)``
        or None."""
        b = self.book.get(security_id)
        if b is None:
            return None, None
        return (b["bids"][0] if b["bids"] else None), (b["asks"][0] if b["asks"] else None)
