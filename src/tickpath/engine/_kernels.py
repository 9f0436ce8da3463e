"""The feed stage's compiled step: one MoldUDP64 datagram -> sequenced -> decoded -> books.

A transport's compiled receive loop calls ``deliver`` for each datagram where it landed, so a
hot feed stage never returns to the interpreter between packets.

The hand-off (the "tap"): given an SPSC ring (``tap_hdr``, ``tap_words`` from
:class:`tickpath.ring.SpscRing`) and its wait settings (``tap_wait``, :data:`TAP_WAIT_WORDS`
int64 words: the wait strategy's params, then its code and the claim timeout), ``deliver``
stamps the boundaries (received, parsed, decoded, booked, enqueued; CLOCK_REALTIME epoch ns)
and publishes one top-of-book record (:mod:`tickpath.strategy.records`) per datagram that
changed a book. Without them (omitted, or 0-length arrays) the step is what it always was:
omitted arguments are pruned at compile time, a 0-length ring costs one compare.
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
from ..ring import spsc
from ..ring.wait import N_PARAMS
from ..strategy import records as R
from ..telemetry.nclock import realtime_ns
from ..telemetry.stamps import NS_PER_DAY

_LENGTHS = LENGTHS  # a module global: numba freezes it into the code as a constant

# What a receive loop does after handing on a datagram (the loops' exit codes share these)
GO_ON = -1
END_OF_SESSION = 1
BOOK = 2  # the books refused an event: the owner settles it, then calls the loop again
_EOS = int(MoldCounter.END_OF_SESSION)
# receive-loop counters that ``deliver`` writes (indices of wire.busypoll.Rx)
_RX_PACKETS, _RX_BYTES, _RX_SAMPLES, _RX_EVENT_AT, _RX_EVENTS, _RX_LAST = 0, 1, 4, 7, 8, 9

# Feed counters (int64 array) written by the compiled step
MALFORMED = 0  # datagrams whose message blocks did not decode (the rest of the datagram skipped)
TAP_PUBLISHED = 1  # top-of-book records handed to the ring
TAP_FULL = 2  # records not handed on: the ring stayed full (drop policy, or block timed out)
N_FEED_COUNTERS = 4

# tap_wait: the wait strategy's params (ring.wait PARAM_*), then these
TAP_WAIT_CODE = N_PARAMS
TAP_TIMEOUT_NS = N_PARAMS + 1  # how long a full ring may block the feed (ns, >= 0: bounded,
#                                 so the feed gets back to its stop word)
TAP_WAIT_WORDS = N_PARAMS + 2
_HALF_DAY = NS_PER_DAY // 2


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
    zero = np.int64(0)  # not the literal 0: a literal argument would compile another
    # specialization of the decoder and the books (seconds each) beside the int64 one
    n, st, nxt = decode_batch(buf, off, end, _LENGTHS, events, zero, zero)
    if st != DECODE_OK:
        feed[MALFORMED] += 1
    idx, ast = apply_batch(events, zero, n, orders, mask, levels, free, heads, stats, inst,
                           symbols, type_counts, capacity)
    return ast, idx, n


@njit(cache=True, nogil=True)
def on_datagram_timed(buf, start, end, session, mold, events, orders, mask, levels, free,
                      heads, stats, inst, symbols, type_counts, capacity, feed):
    """:func:`on_datagram` with the clock read between its steps: returns ``(status, applied,
    decoded, parsed_ns, decoded_ns)`` (the stamps are 0 when nothing new was decoded)."""
    verdict, off, count = accept(buf, start, end, session, mold)
    if verdict != NEW:
        return BOOK_OK, 0, 0, np.int64(0), np.int64(0)
    t_parsed = realtime_ns()
    zero = np.int64(0)  # one specialization, as in on_datagram
    n, st, nxt = decode_batch(buf, off, end, _LENGTHS, events, zero, zero)
    if st != DECODE_OK:
        feed[MALFORMED] += 1
    t_decoded = realtime_ns()
    idx, ast = apply_batch(events, zero, n, orders, mask, levels, free, heads, stats, inst,
                           symbols, type_counts, capacity)
    return ast, idx, n, t_parsed, t_decoded


@njit(cache=True, nogil=True)
def last_book_locate(events, n):
    """Stock locate of the last event among ``events[:n]`` that changes a book (A F E C X D
    U), or -1."""
    for k in range(n - 1, -1, -1):
        t = events[k]["type"]
        if t == 65 or t == 70 or t == 69 or t == 67 or t == 88 or t == 68 or t == 85:
            return np.int64(events[k]["locate"])
    return np.int64(-1)


@njit(cache=True, nogil=True)
def widen(since_midnight, now_ns):
    """A time of day (ns since midnight) as epoch ns on the day nearest ``now_ns``
    (telemetry.stamps.widen_midnight, compiled)."""
    t = now_ns - now_ns % NS_PER_DAY + since_midnight
    if t - now_ns > _HALF_DAY:
        t -= NS_PER_DAY
    elif now_ns - t > _HALF_DAY:
        t += NS_PER_DAY
    return t


@njit(cache=True, nogil=True, _nrt=False)  # the ring kernels are inlined: no refcounting
def publish_top(tap_hdr, tap_words, tap_wait, locate, events, nev, levels, heads, symbols,
                received, parsed, decoded, booked, feed):
    """Claim a slot, write the top of ``locate``'s book and the stamps so far, stamp
    ``enqueued`` and publish. Returns True when the record went into the ring."""
    seq = spsc.claim(tap_hdr, 1, tap_wait[TAP_WAIT_CODE], tap_wait, tap_wait[TAP_TIMEOUT_NS])
    if seq < 0:
        feed[TAP_FULL] += 1
        return False
    b = spsc.slot_base(tap_hdr, seq) + 1
    tap_words[b + R.LOCATE] = locate
    tap_words[b + R.STOCK] = np.int64(symbols[locate])
    hb = heads[locate, 0]
    ha = heads[locate, 1]
    tap_words[b + R.BID_PRICE] = np.int64(levels[hb]["price"]) if hb >= 0 else 0
    tap_words[b + R.BID_SHARES] = np.int64(levels[hb]["shares"]) if hb >= 0 else 0
    tap_words[b + R.ASK_PRICE] = np.int64(levels[ha]["price"]) if ha >= 0 else 0
    tap_words[b + R.ASK_SHARES] = np.int64(levels[ha]["shares"]) if ha >= 0 else 0
    tap_words[b + R.EVENTS] = nev
    s = b + R.STAMP0
    tap_words[s + 0] = widen(np.int64(events[0]["timestamp"]), received)
    tap_words[s + 1] = received
    tap_words[s + 2] = parsed
    tap_words[s + 3] = decoded
    tap_words[s + 4] = booked
    tap_words[s + 5] = realtime_ns()  # enqueued: the payload is written, publish is next
    spsc.publish(tap_hdr, tap_words, seq, 1)
    feed[TAP_PUBLISHED] += 1
    return True


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
            stats, inst, symbols, type_counts, capacity, feed, rx, lat, ker, tap_hdr=None,
            tap_words=None, tap_wait=None):
    """A transport's compiled loop hands on one datagram found at ``buf[start:start+size]``
    (received at ``rx_ns``, 0 if unknown): count it, apply it, stamp its latency, and, with a
    ring (``tap_*``, see the module docstring), hand the top of the changed book on. Returns
    GO_ON, END_OF_SESSION, or BOOK (with the refused event's index and the events decoded
    left in ``rx`` for the owner)."""
    rx[_RX_PACKETS] += 1
    rx[_RX_BYTES] += size
    received = rx_ns if rx_ns > 0 else realtime_ns()
    rx[_RX_LAST] = received
    if tap_hdr is None:  # pruned at compile time for callers that pass no ring
        st, applied, nev = on_datagram(buf, start, start + size, session, mold, events,
                                       orders, mask, levels, free, heads, stats, inst,
                                       symbols, type_counts, capacity, feed)
    elif tap_hdr.shape[0] == 0:
        st, applied, nev = on_datagram(buf, start, start + size, session, mold, events,
                                       orders, mask, levels, free, heads, stats, inst,
                                       symbols, type_counts, capacity, feed)
    else:
        st, applied, nev, t_parsed, t_decoded = on_datagram_timed(
            buf, start, start + size, session, mold, events, orders, mask, levels, free,
            heads, stats, inst, symbols, type_counts, capacity, feed)
        if st == BOOK_OK and nev > 0:
            t_booked = realtime_ns()
            loc = last_book_locate(events, nev)
            if loc >= 0:
                publish_top(tap_hdr, tap_words, tap_wait, loc, events, nev, levels, heads,
                            symbols, received, t_parsed, t_decoded, t_booked, feed)
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
