"""The feed stage's compiled step: one MoldUDP64 datagram -> sequenced -> decoded -> books.

A transport's compiled receive loop calls ``on_datagram`` for each datagram where it landed,
so a hot feed stage never returns to the interpreter between packets.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ..book.apply import OK as BOOK_OK
from ..book.apply import apply_batch
from ..codec.itch50.decode import OK as DECODE_OK
from ..codec.itch50.decode import decode_batch
from ..codec.itch50.layout import LENGTHS
from ..feed.moldudp64._kernels import NEW, accept
from ..feed.moldudp64.layout import Counter as MoldCounter
from ..telemetry.nclock import realtime_ns

_LENGTHS = LENGTHS.copy()  # a module global: numba freezes it into the code as a constant

# What a receive loop does after handing on a datagram (the loops' exit codes share these)
GO_ON = -1
END_OF_SESSION = 1
BOOK = 2  # the books refused an event: the owner settles it, then calls the loop again
_EOS = int(MoldCounter.END_OF_SESSION)
# receive-loop counters that ``deliver`` writes (indices of wire.busypoll.Rx)
_RX_PACKETS, _RX_BYTES, _RX_SAMPLES, _RX_EVENT_AT, _RX_EVENTS, _RX_LAST = 0, 1, 4, 7, 8, 9

# Feed counters (int64 array) written by the compiled step
MALFORMED = 0  # datagrams whose message blocks did not decode (the rest of the datagram skipped)
N_FEED_COUNTERS = 4


@njit(cache=True, nogil=True)
def on_datagram(buf, start, end, session, mold, events, orders, mask, levels, free, heads,
                stats, inst, symbols, type_counts, capacity, feed):
    """Sequence, decode and apply the MoldUDP64 datagram in ``buf[start:end]``.

    Returns ``(status, applied, decoded)``: the book status (OK, or why event ``applied`` was
    refused: the caller settles it and applies ``events[applied + 1:decoded]``), the events
    applied, and the events decoded (0 for a duplicate, heartbeat or bad datagram).
    """
    verdict, off, count = accept(buf, start, end, session, mold)
    if verdict != NEW:
        return BOOK_OK, 0, 0
    n, st, nxt = decode_batch(buf, off, end, _LENGTHS, events, 0, 0)
    if st != DECODE_OK:
        feed[MALFORMED] += 1
    idx, ast = apply_batch(events, 0, n, orders, mask, levels, free, heads, stats, inst,
                           symbols, type_counts, capacity)
    return ast, idx, n


@njit(cache=True, nogil=True)
def stamp_latency(events, now_ns, rx_ns, lat, ker, samples):
    """Record one datagram's send -> books and send -> kernel receive times (ns since
    midnight arithmetic, as ITCH timestamps count). Returns the new sample count."""
    if samples >= lat.shape[0]:
        return samples
    day = np.int64(86_400_000_000_000)
    sent = np.int64(events[0]["timestamp"])
    lat[samples] = ((now_ns % day) - sent) % day
    ker[samples] = ((rx_ns % day) - sent) % day if rx_ns > 0 else 0
    return samples + 1


@njit(cache=True, nogil=True)
def deliver(buf, start, size, rx_ns, session, mold, events, orders, mask, levels, free, heads,
            stats, inst, symbols, type_counts, capacity, feed, rx, lat, ker):
    """A transport's compiled loop hands on one datagram found at ``buf[start:start+size]``
    (received at ``rx_ns``, 0 if unknown): count it, apply it, stamp its latency. Returns
    GO_ON, END_OF_SESSION, or BOOK (with the refused event's index and the events decoded
    left in ``rx`` for the owner)."""
    rx[_RX_PACKETS] += 1
    rx[_RX_BYTES] += size
    rx[_RX_LAST] = rx_ns if rx_ns > 0 else realtime_ns()
    st, applied, nev = on_datagram(buf, start, start + size, session, mold, events, orders,
                                   mask, levels, free, heads, stats, inst, symbols,
                                   type_counts, capacity, feed)
    if st != BOOK_OK:
        rx[_RX_EVENT_AT] = applied
        rx[_RX_EVENTS] = nev
        return BOOK
    if nev > 0:
        rx[_RX_SAMPLES] = stamp_latency(events, realtime_ns(), rx_ns, lat, ker,
                                        rx[_RX_SAMPLES])
    if mold[_EOS] > 0:
        return END_OF_SESSION
    return GO_ON
