"""The snapshot feed handler's compiled step: one MoldUDP64 datagram of Book Snapshots ->
sequenced -> each message checked whole -> the instrument's book replaced; and its
implementation of the transports' seam (:func:`tickpath.wire.handler.on_datagram`).

Sequencing is the MoldUDP64 kernels' :func:`~tickpath.feed.moldudp64._kernels.accept`: a gap
is counted and the feed moves past it, never recovered, since the next snapshot of each
instrument repairs its book (a snapshot feed needs no history). Each message is checked
before a byte of it is taken (:func:`tickpath.codec.book_snapshot.decode.check`): a refused
one is counted by reason, the last one's reason, offset and sequence number kept, and the
instrument's book left as it was; the datagram's other messages are taken all the same
(each is self-contained, and the MoldUDP64 framing was checked first).
"""

from __future__ import annotations

from collections import namedtuple

import numpy as np
from numba import njit

from ...codec.book_snapshot.decode import (
    check,
    counts_of,
    level_of,
    locate_of,
    sequence_of,
    stock_of,
    timestamp_of,
)
from ...codec.itch50.decode import be16
from ...telemetry.feedtime import to_epoch
from ...telemetry.nclock import realtime_ns
from ...wire import handler as seam
from ..moldudp64._kernels import NEW, accept
from ..moldudp64.layout import Counter as Mold
from .layout import ASK, BID, FIRST_REASON, ORDERS, PRICE, SHARES, Counter

GO_ON = seam.GO_ON
END_OF_SESSION = seam.END_OF_SESSION

_EXPECTED = int(Mold.EXPECTED)
_EOS = int(Mold.END_OF_SESSION)
_SNAPSHOTS = int(Counter.SNAPSHOTS)
_REFUSED = int(Counter.REFUSED)
_FIRST_REASON = int(FIRST_REASON)
_SAMPLES = int(Counter.SAMPLES)
_LAST_REASON = int(Counter.LAST_REASON)
_LAST_OFFSET = int(Counter.LAST_OFFSET)
_LAST_SEQ = int(Counter.LAST_SEQ)

#: The handler's state, as the receive loops carry it (built by
#: :class:`tickpath.feed.snapshot.SnapshotFeed`); numba dispatches the seam on this type.
SnapshotState = namedtuple("SnapshotState", [
    "session", "mold",  # MoldUDP64: the session name, the session counters
    "feed",  # counters and the last refusal (layout.Counter)
    "levels", "counts", "seqs", "stocks",  # the books (layout's module doc)
    "lat", "ker", "snt",  # latency samples: send -> books, send -> receive stamp, send stamp
    "clock",  # the feed's time zone (telemetry.feedtime table): the stamps are local
])


@njit(cache=True, nogil=True)
def take(buf, p, levels, counts, seqs, stocks):
    """Replace the book of the checked message at ``buf[p]`` with its levels."""
    loc = locate_of(buf, p)
    nb, na = counts_of(buf, p)
    for i in range(nb):
        price, shares, orders = level_of(buf, p, i)
        levels[loc, BID, i, PRICE] = price
        levels[loc, BID, i, SHARES] = shares
        levels[loc, BID, i, ORDERS] = orders
    for i in range(na):
        price, shares, orders = level_of(buf, p, nb + i)
        levels[loc, ASK, i, PRICE] = price
        levels[loc, ASK, i, SHARES] = shares
        levels[loc, ASK, i, ORDERS] = orders
    counts[loc, BID] = nb
    counts[loc, ASK] = na
    seqs[loc] = sequence_of(buf, p)
    stocks[loc] = stock_of(buf, p)


@njit(cache=True, nogil=True)
def refuse(feed, reason, offset, seq):
    """Count a refused message and keep it as the last refusal."""
    feed[_REFUSED] += 1
    feed[_FIRST_REASON + reason - 1] += 1
    feed[_LAST_REASON] = reason
    feed[_LAST_OFFSET] = offset
    feed[_LAST_SEQ] = seq


@njit(cache=True, nogil=True)
def deliver(buf, start, size, rx_ns, session, mold, feed, levels, counts, seqs, stocks, lat,
            ker, snt, clock):
    """One datagram at ``buf[start:start+size]`` (received at ``rx_ns``, 0 if unknown):
    sequence it, take each of its new snapshots that passes the checks, and record one
    latency sample (send stamp of its first snapshot taken -> now). Returns GO_ON or
    END_OF_SESSION."""
    verdict, off, count = accept(buf, start, start + size, session, mold)
    if verdict == NEW:
        seq0 = mold[_EXPECTED] - count
        max_depth = levels.shape[2]
        max_locates = levels.shape[0]
        p = np.uint64(off)
        stamp = np.int64(-1)
        for k in range(count):
            n = np.int64(be16(buf, p))
            m = p + np.uint64(2)
            reason = check(buf, m, n, max_depth, max_locates)
            if reason == 0:
                take(buf, m, levels, counts, seqs, stocks)
                feed[_SNAPSHOTS] += 1
                if stamp < 0:
                    stamp = timestamp_of(buf, m)
            else:
                refuse(feed, reason, np.int64(m) - start, seq0 + k)
            p = m + np.uint64(n)
        if stamp >= 0 and feed[_SAMPLES] < lat.shape[0]:
            now = realtime_ns()
            sent = to_epoch(clock, stamp, now)
            s = feed[_SAMPLES]
            lat[s] = now - sent
            ker[s] = rx_ns - sent if rx_ns > 0 else 0
            snt[s] = sent
            feed[_SAMPLES] = s + 1
    if mold[_EOS] > 0:
        return END_OF_SESSION
    return GO_ON


@seam.implements(SnapshotState)
def _on_datagram(state, buf, start, size, rx_ns):
    """The seam's implementation for :data:`SnapshotState` (numba picks it by the state's
    type)."""
    return deliver(buf, start, size, rx_ns, state.session, state.mold, state.feed,
                   state.levels, state.counts, state.seqs, state.stocks, state.lat, state.ker,
                   state.snt, state.clock)


@seam.implements_idle(SnapshotState)
def _on_idle(state, now_ns):
    """The idle turn: nothing to request (gaps are not recovered); once the session has
    ended, say so."""
    if state.mold[_EOS] > 0:
        return END_OF_SESSION
    return GO_ON


@njit(cache=True, nogil=True)
def step(state, buf, start, size, rx_ns):
    """The seam called once from Python (the ``socket`` transport) or from a test."""
    return seam.on_datagram(state, buf, start, size, rx_ns)
