"""``PySnapshotFeed``: the Book Snapshot feed handler as a Python user writes it.

The baseline of the snapshot feed's benchmarks: plain Python, no numba, no numpy in the
path (``struct.unpack_from`` per field group, a dict per instrument holding lists of
``(price, shares, orders)`` tuples). It keeps the same books, counters and latency samples
as the compiled :class:`~tickpath.feed.snapshot.SnapshotFeed`, with the same sequencing
(MoldUDP64 gaps counted and passed over, never recovered) and the same checks, so the two
can be compared message for message. :class:`~tickpath.apps.listener.FeedListener` drives it
through the Python socket path (the ``socket`` transport: ``on_datagram`` per datagram);
the compiled transports need a compiled state and refuse it.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Iterator
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np

from ...codec.book_snapshot.layout import DEFAULT_DEPTH, REFUSAL_TEXT, Refusal
from ...telemetry.feedtime import NASDAQ_ZONE
from .layout import MAX_LOCATES, Level

GO_ON = -1  # the transports' statuses (tickpath.wire.handler)
END_OF_SESSION = 1

_MOLD = struct.Struct(">10sQH")
_LEN = struct.Struct(">H")
_SNAP = struct.Struct(">BHHHI8sQBB")  # the 48-bit timestamp as a u16 and a u32
_LEVEL = struct.Struct(">IIH")
_DAY = 86_400 * 1_000_000_000
_COUNTERS = ("packets", "messages", "heartbeats", "end_of_session", "gaps", "gap_messages",
             "duplicate_packets", "duplicate_messages", "malformed", "session_mismatch",
             "expected")  # MoldSession.stats()'s keys


class PySnapshotFeed:
    """A plain-Python Book Snapshot receiver (module doc). ``max_depth``: levels a side a
    snapshot may have; ``max_locates``: the highest locate + 1 taken; ``max_samples``:
    latency samples kept (a preallocated array, as the compiled handler's); ``zone``: the
    stamps' time zone."""

    def __init__(self, *, max_depth: int = DEFAULT_DEPTH, max_locates: int = MAX_LOCATES,
                 max_samples: int = 1 << 16, zone: str = NASDAQ_ZONE) -> None:
        self.max_depth = max_depth
        self.max_locates = max_locates
        self.book: dict[int, dict[str, Any]] = {}  # locate -> bids, asks, seq, stock
        self.session: bytes | None = None
        self.counters = dict.fromkeys(_COUNTERS, 0)
        self.refused = {"refused": 0} | {r.name.lower(): 0 for r in Refusal if r}
        self.last: tuple[Refusal, int, int] | None = None  # reason, offset, sequence number
        self.snapshots = 0
        self.lat = np.zeros(max_samples, np.int64)
        self.ker = np.zeros(max_samples, np.int64)
        self.snt = np.zeros(max_samples, np.int64)  # each sample's send stamp (epoch ns)
        self._samples = 0
        self._tz = ZoneInfo(zone)
        self._midnight = self._next_midnight = 0

    @property
    def state(self) -> Any:
        raise TypeError("PySnapshotFeed is plain Python and has no compiled state: drive it "
                        "with the socket transport (or use SnapshotFeed)")

    def warm_up(self, receiver: Any = None) -> None:
        """Nothing to compile; a compiled ``receiver`` is refused (it would need a state)."""
        if getattr(receiver, "compiled", False):
            _ = self.state

    def settle(self, drain: Any = None) -> None:
        """Nothing to settle."""

    # -- the datagram ----------------------------------------------------------------------

    def on_datagram(self, buf: Any, size: int, rx_ns: int = 0) -> int:
        """One MoldUDP64 datagram ``buf[:size]`` (anything with the buffer protocol),
        received at ``rx_ns`` (0: unknown). Returns GO_ON or END_OF_SESSION."""
        c = self.counters
        if size < 20:
            c["malformed"] += 1
            return self._status()
        session, seq, count = _MOLD.unpack_from(buf, 0)
        c["packets"] += 1
        if count != 0xFFFF:  # the blocks must add up before anything is believed
            p = 20
            for _ in range(count):
                if p + 2 > size:
                    p = -1  # fewer blocks than the count says
                    break
                p += 2 + _LEN.unpack_from(buf, p)[0]
            if p != size:
                c["malformed"] += 1
                return self._status()
        if self.session is None:
            self.session = session
        elif session != self.session:
            c["session_mismatch"] += 1
            return self._status()
        if c["expected"] == 0:
            c["expected"] = seq
        if seq > c["expected"]:  # a gap: counted, passed over (the next snapshots repair it)
            c["gaps"] += 1
            c["gap_messages"] += seq - c["expected"]
            c["expected"] = seq
        if count == 0xFFFF:
            c["end_of_session"] += 1
            return self._status()
        if count == 0:
            c["heartbeats"] += 1
            return self._status()
        if seq + count <= c["expected"]:
            c["duplicate_packets"] += 1
            c["duplicate_messages"] += count
            return self._status()
        skip = c["expected"] - seq
        c["duplicate_messages"] += skip
        c["expected"] = seq + count
        c["messages"] += count - skip
        p = 20
        stamp = -1
        for k in range(count):
            n = _LEN.unpack_from(buf, p)[0]
            if k >= skip:
                ts = self._take(buf, p + 2, n, seq + k)
                if stamp < 0:
                    stamp = ts
            p += 2 + n
        if stamp >= 0 and self._samples < self.lat.shape[0]:
            now = time.clock_gettime_ns(time.CLOCK_REALTIME)
            sent = self._epoch(stamp, now)
            self.lat[self._samples] = now - sent
            self.ker[self._samples] = rx_ns - sent if rx_ns > 0 else 0
            self.snt[self._samples] = sent
            self._samples += 1
        return self._status()

    def _status(self) -> int:
        return END_OF_SESSION if self.counters["end_of_session"] else GO_ON

    def _take(self, buf: Any, m: int, n: int, seq: int) -> int:
        """Check the ``n``-byte message at ``buf[m]`` and make it its instrument's book;
        returns its stamp (-1: refused, the book untouched)."""
        if n < _SNAP.size:
            return self._refuse(Refusal.SHORT, m, seq)
        t, loc, _trk, ts_hi, ts_lo, stock, snap_seq, nb, na = _SNAP.unpack_from(buf, m)
        if t != 0x62:  # 'b'
            return self._refuse(Refusal.UNKNOWN_TYPE, m, seq)
        if n != _SNAP.size + _LEVEL.size * (nb + na):
            return self._refuse(Refusal.LENGTH, m, seq)
        if nb > self.max_depth or na > self.max_depth:
            return self._refuse(Refusal.TOO_DEEP, m, seq)
        if loc >= self.max_locates:
            return self._refuse(Refusal.LOCATE, m, seq)
        q = m + _SNAP.size
        bids = [_LEVEL.unpack_from(buf, q + i * _LEVEL.size) for i in range(nb)]
        q += nb * _LEVEL.size
        asks = [_LEVEL.unpack_from(buf, q + i * _LEVEL.size) for i in range(na)]
        for i, (price, shares, _orders) in enumerate(bids):  # prices strictly falling
            if shares == 0 or (i and price >= bids[i - 1][0]):
                return self._refuse(Refusal.BAD_LEVELS, m, seq)
        for i, (price, shares, _orders) in enumerate(asks):  # prices strictly rising
            if shares == 0 or (i and price <= asks[i - 1][0]):
                return self._refuse(Refusal.BAD_LEVELS, m, seq)
        self.book[loc] = {"bids": bids, "asks": asks, "seq": snap_seq,
                          "stock": stock.decode("ascii", "replace").rstrip(" \x00")}
        self.snapshots += 1
        return ts_hi << 32 | ts_lo

    def _refuse(self, reason: Refusal, offset: int, seq: int) -> int:
        self.refused["refused"] += 1
        self.refused[reason.name.lower()] += 1
        self.last = (reason, offset, seq)
        return -1

    def _epoch(self, stamp: int, now: int) -> int:
        """The UTC epoch ns of a New York time-of-day stamp, nearest ``now``: today's
        midnight in the zone (found again once a day) plus the stamp, a day either way if
        that is nearer."""
        if now >= self._next_midnight:
            day = datetime.fromtimestamp(now // 1_000_000_000, self._tz).date()
            midnight = datetime(day.year, day.month, day.day, tzinfo=self._tz)
            self._midnight = int(midnight.timestamp()) * 1_000_000_000
            self._next_midnight = self._midnight + _DAY  # (an hour off on a clock change)
        sent = self._midnight + stamp
        if sent - now > _DAY // 2:  # a stamp from just before midnight, read just after
            sent -= _DAY
        elif now - sent > _DAY // 2:
            sent += _DAY
        return sent

    # -- the books -------------------------------------------------------------------------

    def bbo(self, locate: int) -> tuple[Level | None, Level | None]:
        """``(best bid, best ask)`` of the last snapshot, each ``(price, shares, orders)`` or
        None."""
        b = self.book.get(locate)
        if b is None:
            return None, None
        return (b["bids"][0] if b["bids"] else None, b["asks"][0] if b["asks"] else None)

    def depth(self, locate: int, n: int | None = None) -> dict[str, Any]:
        """The book of one instrument, in :meth:`SnapshotFeed.depth`'s shape."""
        b = self.book.get(locate, {"bids": [], "asks": [], "seq": 0, "stock": ""})
        return {"locate": locate, "symbol": b["stock"], "seq": b["seq"],
                "bids": [list(lv) for lv in b["bids"][:n]],
                "asks": [list(lv) for lv in b["asks"][:n]]}

    def books(self, n: int | None = None) -> Iterator[dict[str, Any]]:
        """Every instrument whose last snapshot has a level, in locate order."""
        for loc in sorted(self.book):
            if self.book[loc]["bids"] or self.book[loc]["asks"]:
                yield self.depth(loc, n)

    # -- observing -------------------------------------------------------------------------

    @property
    def messages(self) -> int:
        return self.counters["messages"]

    @property
    def samples(self) -> int:
        return self._samples

    @property
    def ended(self) -> bool:
        return self.counters["end_of_session"] > 0

    def session_stats(self) -> dict[str, int]:
        return dict(self.counters)

    def refusals(self) -> dict[str, int]:
        return dict(self.refused)

    def last_refusal(self) -> str | None:
        if self.last is None:
            return None
        r, off, seq = self.last
        return (f"Book Snapshot refused at offset {off} of its datagram (sequence number "
                f"{seq}): {REFUSAL_TEXT[r]}")
