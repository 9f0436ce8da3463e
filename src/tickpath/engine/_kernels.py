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

_LENGTHS = LENGTHS.copy()  # a module global: numba freezes it into the code as a constant

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
