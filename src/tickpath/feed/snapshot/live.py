"""``SnapshotFeed``: the compiled Book Snapshot feed handler a transport's receive loop calls.

It owns what the compiled step (:mod:`.step`) needs: the MoldUDP64 session, per-locate books
(the last snapshot of each instrument), the counters and the latency samples, and offers them
to any transport as one :data:`~tickpath.feed.snapshot.step.SnapshotState`, as
:class:`~tickpath.feed.itch.ItchFeed` does; :class:`~tickpath.apps.listener.FeedListener`
drives either.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache
from typing import Any

import numpy as np

from ...codec.book_snapshot.layout import DEFAULT_DEPTH, MAX_COUNT, REFUSAL_TEXT, Refusal
from ...codec.itch50.layout import stock_symbol
from ...telemetry.feedtime import NASDAQ_ZONE, FeedTime
from ..moldudp64 import Counter as Mold
from ..moldudp64 import MoldSession
from .layout import (
    ASK,
    BID,
    FIRST_REASON,
    LEVEL_WORDS,
    MAX_LOCATES,
    N_COUNTERS,
    Counter,
    Level,
)
from .step import SnapshotState, step


@lru_cache(maxsize=8)
def _clock(zone: str) -> np.ndarray:
    """The zone's offset table (:class:`~tickpath.telemetry.feedtime.FeedTime`), built once
    a process: two years either side of its first use (building one takes tens of ms)."""
    table = np.ascontiguousarray(FeedTime(zone).table)
    table.setflags(write=False)
    return table


class SnapshotFeed:
    """Session + checks + books for one Book Snapshot feed, as a transport's handler.

    ``max_locates``: the books' table, indexed by stock locate (a snapshot of a locate at or
    beyond it is refused); ``max_depth``: levels kept a side (a snapshot with more is
    refused: make it at least the venue's depth). The table is ``max_locates * 2 *
    max_depth`` levels of 12 bytes (65,536 locates at depth 10: 15 MiB, touched only where
    instruments are). ``zone``: the time zone of the stamps (New York's, as ITCH).
    ``session``: the MoldUDP64 session to follow (default: the first one heard)."""

    def __init__(self, *, max_locates: int = MAX_LOCATES, max_depth: int = DEFAULT_DEPTH,
                 max_samples: int = 1 << 16, zone: str = NASDAQ_ZONE,
                 session: MoldSession | None = None) -> None:
        if not 1 <= max_locates <= MAX_LOCATES:
            raise ValueError(f"max_locates {max_locates} is outside 1..{MAX_LOCATES}")
        if not 1 <= max_depth <= MAX_COUNT:
            raise ValueError(f"max_depth {max_depth} is outside 1..{MAX_COUNT} levels a side")
        self.session = session if session is not None else MoldSession()
        self.feed = np.zeros(N_COUNTERS, np.int64)
        self.levels = np.zeros((max_locates, 2, max_depth, LEVEL_WORDS), np.uint32)
        self.counts = np.zeros((max_locates, 2), np.int64)
        self.seqs = np.zeros(max_locates, np.int64)
        self.stocks = np.zeros(max_locates, np.uint64)
        self.lat = np.zeros(max_samples, np.int64)
        self.ker = np.zeros(max_samples, np.int64)
        self.snt = np.zeros(max_samples, np.int64)  # each sample's send stamp (epoch ns)
        self.zone = zone
        self.clock = _clock(zone)
        self.state = SnapshotState(self.session.session, self.session.counters, self.feed,
                                   self.levels, self.counts, self.seqs, self.stocks, self.lat,
                                   self.ker, self.snt, self.clock)

    def settle(self, drain: Any = None) -> None:
        """Nothing to settle: the step never asks (no table grows, a refusal is counted)."""

    def on_datagram(self, buf: np.ndarray, size: int, rx_ns: int = 0) -> int:
        """One datagram from Python (the ``socket`` transport, a call per datagram): the same
        compiled step the loops inline. Returns GO_ON or END_OF_SESSION."""
        return step(self.state, buf, 0, size, rx_ns)

    # -- the books ---------------------------------------------------------------------------

    def _side(self, locate: int, side: int, n: int | None) -> list[list[int]]:
        k = int(self.counts[locate, side])
        if n is not None:
            k = min(k, n)
        return self.levels[locate, side, :k].astype(np.int64).tolist()

    def _locate(self, locate: int) -> int:
        loc = int(locate)
        if not 0 <= loc < self.levels.shape[0]:
            raise KeyError(f"stock locate {loc} is outside this feed's 0..{self.levels.shape[0] - 1}")
        return loc

    def bbo(self, locate: int) -> tuple[Level | None, Level | None]:
        """``(best bid, best ask)`` of the last snapshot, each ``(price, shares, orders)`` or
        None."""
        loc = self._locate(locate)
        b = self._side(loc, BID, 1)
        a = self._side(loc, ASK, 1)
        return (tuple(b[0]) if b else None, tuple(a[0]) if a else None)  # type: ignore[return-value]

    def depth(self, locate: int, n: int | None = None) -> dict[str, Any]:
        """The book of one instrument, as its last snapshot gave it: ``{"locate", "symbol",
        "seq", "bids": [[price, shares, orders], ...] best first, "asks": ...}`` (``n``: at
        most that many levels a side)."""
        loc = self._locate(locate)
        code = int(self.stocks[loc])
        return {"locate": loc, "symbol": stock_symbol(code) if code else "",
                "seq": int(self.seqs[loc]), "bids": self._side(loc, BID, n),
                "asks": self._side(loc, ASK, n)}

    def books(self, n: int | None = None) -> Iterator[dict[str, Any]]:
        """Every instrument whose last snapshot has a level, in locate order."""
        for loc in np.flatnonzero(self.counts.sum(axis=1)):
            yield self.depth(int(loc), n)

    # -- observing ---------------------------------------------------------------------------

    @property
    def messages(self) -> int:
        """Messages sequenced (new on the session), taken or refused."""
        return int(self.session.counters[Mold.MESSAGES])

    @property
    def snapshots(self) -> int:
        return int(self.feed[Counter.SNAPSHOTS])

    @property
    def samples(self) -> int:
        return min(int(self.feed[Counter.SAMPLES]), self.lat.shape[0])

    @property
    def ended(self) -> bool:
        return bool(self.session.counters[Mold.END_OF_SESSION])

    def session_stats(self) -> dict[str, int]:
        """The MoldUDP64 session's counters (packets, gaps, duplicates, ...)."""
        return self.session.stats()

    def refusals(self) -> dict[str, int]:
        """Messages refused, in all and by reason (lower-case :class:`Refusal` names)."""
        out = {"refused": int(self.feed[Counter.REFUSED])}
        for r in Refusal:
            if r != Refusal.OK:
                out[r.name.lower()] = int(self.feed[FIRST_REASON + r - 1])
        return out

    def last_refusal(self) -> str | None:
        """The last refused message: why, and where (offset in its datagram, sequence
        number), or None."""
        if not self.feed[Counter.REFUSED]:
            return None
        r = Refusal(int(self.feed[Counter.LAST_REASON]))
        return (f"Book Snapshot refused at offset {int(self.feed[Counter.LAST_OFFSET])} of its "
                f"datagram (sequence number {int(self.feed[Counter.LAST_SEQ])}): "
                f"{REFUSAL_TEXT[r]}")

    # -- compiling ahead ---------------------------------------------------------------------

    def scratch(self) -> SnapshotFeed:
        """A small feed whose state has this one's exact numba type."""
        return SnapshotFeed(max_locates=1, max_depth=1, max_samples=1, zone=self.zone)

    def warm_up(self, receiver: Any = None) -> None:
        """Compile (or load) the Python-called step on scratch state; with a ``receiver``
        that has a compiled loop, that loop too, for this state's type."""
        s = self.scratch()
        s.on_datagram(np.zeros(64, np.uint8), 0, 0)
        if getattr(receiver, "compiled", False):
            receiver.warm_up(s.state)
