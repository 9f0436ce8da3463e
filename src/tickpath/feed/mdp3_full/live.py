"""``FullRefreshFeed``: the compiled MDP3 full-snapshot handler a transport's receive loop
calls.

It owns what the compiled step (:mod:`.step`) needs: the channel's counters, the instrument
table, the depth books (the arrays of :mod:`tickpath.book.depth`), scratch for one message's
entries and the latency samples, and offers them to any transport as one
:data:`~tickpath.feed.mdp3_full.step.FullRefreshState`, as
:class:`~tickpath.feed.mdp3.Mdp3Feed` does; :class:`~tickpath.apps.listener.FeedListener`
drives either.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from ...book.depth import N_BOOKS, N_DEPTH_STATS
from ...book.mdp3 import STATUS_TEXT
from ..mdp3 import instruments as T
from .layout import (
    FIRST_REASON,
    I_RPT_SEQ,
    I_SECURITY_ID,
    I_SNAP_SEQ,
    I_SNAPSHOTS,
    N_COUNTERS,
    N_INST,
    REFUSAL_TEXT,
    Counter,
    Refusal,
)
from .step import FullRefreshState, step

#: Levels a side the venue sends (CME's GBX depth 10)
DEFAULT_DEPTH = 10


class FullRefreshFeed:
    """Books from SnapshotFullRefresh52 alone, as a transport's handler.

    ``max_instruments``: rows of the instrument table (a snapshot of a new SecurityID beyond
    it is refused); ``max_depth``: levels kept a side (a snapshot with a deeper level is
    refused, not cut: make it at least the venue's depth); ``max_samples``: latency samples
    kept (one per datagram that brought a snapshot)."""

    def __init__(self, *, max_instruments: int = 256, max_depth: int = DEFAULT_DEPTH,
                 max_samples: int = 1 << 16) -> None:
        if not 1 <= max_instruments <= 1 << 20:
            raise ValueError(f"max_instruments {max_instruments} is outside 1..{1 << 20}")
        if not 1 <= max_depth <= 127:
            raise ValueError(f"max_depth {max_depth} is outside 1..127 levels a side")
        n, d = int(max_instruments), int(max_depth)
        self.chan = np.zeros(N_COUNTERS, np.int64)
        self.inst = np.zeros((n, N_INST), np.int64)
        self.table = T.new_table(n)
        self.px = np.zeros((n, N_BOOKS, d), np.int64)
        self.qty = np.zeros((n, N_BOOKS, d), np.int64)
        self.nord = np.zeros((n, N_BOOKS, d), np.int32)
        self.limits = np.full((n, 2), d, np.int64)  # outright and implied books, all levels
        self.dstats = np.zeros(N_DEPTH_STATS, np.int64)
        e = N_BOOKS * d  # the most entries a snapshot of these books can hold
        self.types = np.zeros(e, np.uint8)
        self.levels = np.zeros(e, np.int64)
        self.prices = np.zeros(e, np.int64)
        self.sizes = np.zeros(e, np.int64)
        self.orders = np.zeros(e, np.int64)
        self.lat = np.zeros(max_samples, np.int64)
        self.ker = np.zeros(max_samples, np.int64)
        self.snt = np.zeros(max_samples, np.int64)  # each sample's SendingTime (epoch ns)
        self.state = FullRefreshState(self.chan, self.inst, self.table, self.px, self.qty,
                                      self.nord, self.limits, self.dstats, self.types,
                                      self.levels, self.prices, self.sizes, self.orders,
                                      self.lat, self.ker, self.snt)

    def settle(self, drain: Any = None) -> None:
        """Nothing to settle: the step never asks (a refusal is counted, no table grows)."""

    def on_datagram(self, buf: np.ndarray, size: int, rx_ns: int = 0) -> int:
        """One datagram from Python (the ``socket`` transport): the same compiled step the
        loops inline. Returns GO_ON."""
        return step(self.state, buf, 0, size, rx_ns)

    # -- the books ---------------------------------------------------------------------------

    def _row(self, security_id: int) -> int:
        ii = int(T.find(self.table, np.int64(security_id)))
        if ii < 0:
            raise KeyError(f"SecurityID {security_id}: no snapshot of it taken")
        return ii

    def _side(self, ii: int, b: int, n: int | None) -> list[list[int]]:
        q = self.qty[ii, b]
        k = int(np.count_nonzero(q))  # levels are dense: 1..k
        if n is not None:
            k = min(k, n)
        return [[int(self.px[ii, b, j]), int(q[j]), int(self.nord[ii, b, j])] for j in range(k)]

    def depth(self, security_id: int, n: int | None = None) -> dict[str, Any]:
        """The book of one instrument as its last snapshot gave it: ``{"security_id", "seq"
        (LastMsgSeqNumProcessed), "rpt_seq", "bids": [[price, qty, orders], ...] best first,
        "asks": ...}``; prices are PRICE9 mantissas. ``n``: at most that many levels."""
        ii = self._row(security_id)
        return {"security_id": int(security_id), "seq": int(self.inst[ii, I_SNAP_SEQ]),
                "rpt_seq": int(self.inst[ii, I_RPT_SEQ]), "bids": self._side(ii, 0, n),
                "asks": self._side(ii, 1, n)}

    def bbo(self, security_id: int) -> tuple[list[int] | None, list[int] | None]:
        """``(best bid, best offer)``, each ``[price, qty, orders]`` or None."""
        d = self.depth(security_id, 1)
        return (d["bids"][0] if d["bids"] else None, d["asks"][0] if d["asks"] else None)

    def books(self, n: int | None = None) -> Iterator[dict[str, Any]]:
        """Every instrument a snapshot was taken of, in order of first sight."""
        for ii in range(int(self.chan[Counter.INSTRUMENTS])):
            yield self.depth(int(self.inst[ii, I_SECURITY_ID]), n)

    def snapshots_of(self, security_id: int) -> int:
        """Snapshots taken of one instrument."""
        return int(self.inst[self._row(security_id), I_SNAPSHOTS])

    # -- observing ---------------------------------------------------------------------------

    @property
    def messages(self) -> int:
        """Messages walked in packets taken (taken or refused)."""
        return int(self.chan[Counter.MESSAGES])

    @property
    def snapshots(self) -> int:
        return int(self.chan[Counter.SNAPSHOTS])

    @property
    def samples(self) -> int:
        return min(int(self.chan[Counter.SAMPLES]), self.lat.shape[0])

    @property
    def ended(self) -> bool:
        """MDP3 has no end of session: never."""
        return False

    def session_stats(self) -> dict[str, int]:
        """The channel's sequencing counters: packets, duplicates, gaps, ..."""
        return {c.name.lower(): int(self.chan[c]) for c in Counter
                if c < Counter.LAST_REASON}

    def refusals(self) -> dict[str, int]:
        """Messages refused, in all and by reason (lower-case :class:`Refusal` names)."""
        out = {"refused": int(self.chan[Counter.REFUSED])}
        for r in Refusal:
            if r != Refusal.OK:
                out[r.name.lower()] = int(self.chan[FIRST_REASON + r - 1])
        return out

    def last_refusal(self) -> str | None:
        """The last refusal: why and where (offset in its datagram, MsgSeqNum), or None."""
        if not self.chan[Counter.REFUSED]:
            return None
        r = Refusal(int(self.chan[Counter.LAST_REASON]))
        text = REFUSAL_TEXT[r]
        if r == Refusal.BOOK_REFUSED:
            d = int(self.chan[Counter.LAST_DETAIL])
            text += f": {STATUS_TEXT.get(d, d)}"
        tid = int(self.chan[Counter.LAST_TEMPLATE])
        return (f"MDP3 message refused at offset {int(self.chan[Counter.LAST_OFFSET])} of its "
                f"datagram (MsgSeqNum {int(self.chan[Counter.LAST_SEQ_REFUSED])}"
                f"{f', template {tid}' if tid >= 0 else ''}): {text}")

    # -- compiling ahead ---------------------------------------------------------------------

    def scratch(self) -> FullRefreshFeed:
        """A small feed whose state has this one's exact numba type."""
        return FullRefreshFeed(max_instruments=1, max_depth=1, max_samples=1)

    def warm_up(self, receiver: Any = None) -> None:
        """Compile (or load) the Python-called step on scratch state; with a ``receiver``
        that has a compiled loop, that loop too, for this state's type."""
        s = self.scratch()
        s.on_datagram(np.zeros(64, np.uint8), 0, 0)
        if getattr(receiver, "compiled", False):
            receiver.warm_up(s.state)
