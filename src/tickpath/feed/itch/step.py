"""The ITCH feed handler's compiled step: one MoldUDP64 datagram -> sequenced -> decoded ->
books, and its implementation of the transports' seam (:func:`tickpath.wire.handler.on_datagram`).

A transport's compiled receive loop calls ``on_datagram(state, buf, start, size, rx_ns)`` for
each datagram where it landed; for an :class:`ItchState` numba picks :func:`deliver` here, so a
hot feed stage never returns to the interpreter between packets and no transport knows ITCH.

The hand-off (the "tap"): given an SPSC ring (``tap_hdr``, ``tap_words`` from
:class:`tickpath.ring.SpscRing`) and its wait settings (``tap_wait``, :data:`TAP_WAIT_WORDS`
int64 words: the wait strategy's params, then its code and the claim timeout), ``deliver``
stamps the boundaries (received, parsed, decoded, booked, enqueued; CLOCK_REALTIME epoch ns)
and publishes one top-of-book record (:mod:`tickpath.strategy.records`) per datagram that
changed a book. Without a ring (0-length arrays) it only keeps the books: one compare.
"""

from __future__ import annotations

from collections import namedtuple

import numpy as np
from numba import njit

from ...book.apply import OK as BOOK_OK
from ...book.apply import apply_batch
from ...codec.itch50.decode import OK as DECODE_OK
from ...codec.itch50.decode import decode_batch
from ...codec.itch50.layout import LENGTHS
from ...ring import spsc
from ...ring.wait import N_PARAMS
from ...strategy import records as R
from ...telemetry.feedtime import to_epoch
from ...telemetry.nclock import realtime_ns
from ...wire import handler as seam
from ..moldudp64._kernels import NEW, accept
from ..moldudp64.layout import Counter as MoldCounter

_LENGTHS = LENGTHS  # a module global: numba freezes it into the code as a constant

# What the step tells the receive loop (the seam's statuses)
GO_ON = seam.GO_ON
END_OF_SESSION = seam.END_OF_SESSION
SETTLE = seam.SETTLE  # the books refused an event: the owner settles it, then polls again
_EOS = int(MoldCounter.END_OF_SESSION)

# Feed counters and resume state (int64 array ``feed``) written by the compiled step
MALFORMED = 0  # datagrams whose message blocks did not decode (the rest of the datagram skipped)
TAP_PUBLISHED = 1  # top-of-book records handed to the ring
TAP_FULL = 2  # records not handed on: the ring stayed full (drop policy, or block timed out)
SAMPLES = 3  # latency samples recorded in ``lat``/``ker``
EVENT_AT = 4  # state, after SETTLE: index of the event the books refused
EVENTS = 5  # state, after SETTLE: events decoded in that datagram
N_FEED_COUNTERS = 6

#: The handler's state, as the receive loops carry it: every array the step touches. Built by
#: :class:`tickpath.feed.itch.ItchFeed` (``mask`` and ``capacity`` are the order table's, so
#: the state is rebuilt whenever the books grow). numba dispatches the seam on this type.
ItchState = namedtuple("ItchState", [
    "session", "mold",  # MoldUDP64: the session name, the session counters
    "events",  # decoded events of one datagram
    "orders", "mask", "levels", "free", "heads", "stats", "inst", "symbols", "type_counts",
    "capacity",  # the books (BookStore's arrays)
    "feed",  # counters and resume state above
    "lat", "ker",  # latency samples: send -> books, send -> receive stamp
    "tap_hdr", "tap_words", "tap_wait",  # the hand-off ring (0-length arrays: none)
    "clock",  # the feed's time zone (telemetry.feedtime table): ITCH stamps are local
])

# tap_wait: the wait strategy's params (ring.wait PARAM_*), then these
TAP_WAIT_CODE = N_PARAMS
TAP_TIMEOUT_NS = N_PARAMS + 1  # how long a full ring may block the feed (ns, >= 0: bounded,
#                                 so the feed gets back to its stop word)
TAP_WAIT_WORDS = N_PARAMS + 2


@njit(cache=True, nogil=True)
def apply_datagram(buf, start, end, session, mold, events, orders, mask, levels, free, heads,
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
def apply_datagram_timed(buf, start, end, session, mold, events, orders, mask, levels, free,
                      heads, stats, inst, symbols, type_counts, capacity, feed):
    """:func:`apply_datagram` with the clock read between its steps: returns ``(status, applied,
    decoded, parsed_ns, decoded_ns)`` (the stamps are 0 when nothing new was decoded)."""
    verdict, off, count = accept(buf, start, end, session, mold)
    if verdict != NEW:
        return BOOK_OK, 0, 0, np.int64(0), np.int64(0)
    t_parsed = realtime_ns()
    zero = np.int64(0)  # one specialization, as in apply_datagram
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


@njit(cache=True, nogil=True, _nrt=False)  # the ring kernels are inlined: no refcounting
def publish_top(tap_hdr, tap_words, tap_wait, locate, events, nev, levels, heads, symbols,
                received, parsed, decoded, booked, feed, clock):
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
    # the venue's send stamp: an ITCH time of day in the feed's zone, as epoch ns
    tap_words[s + 0] = to_epoch(clock, np.int64(events[0]["timestamp"]), received)
    tap_words[s + 1] = received
    tap_words[s + 2] = parsed
    tap_words[s + 3] = decoded
    tap_words[s + 4] = booked
    tap_words[s + 5] = realtime_ns()  # enqueued: the payload is written, publish is next
    spsc.publish(tap_hdr, tap_words, seq, 1)
    feed[TAP_PUBLISHED] += 1
    return True


@njit(cache=True, nogil=True)
def stamp_latency(events, now_ns, rx_ns, lat, ker, samples, clock):
    """Record one datagram's send -> books and send -> kernel receive times. The send stamp
    is the ITCH timestamp, ns since midnight in the feed's zone (``clock``: its offset table),
    read against the UTC clock. Returns the new sample count."""
    if samples >= lat.shape[0]:
        return samples
    sent = to_epoch(clock, np.int64(events[0]["timestamp"]), now_ns)  # widened once
    lat[samples] = now_ns - sent
    ker[samples] = rx_ns - sent if rx_ns > 0 else 0
    return samples + 1


@njit(cache=True, nogil=True)
def deliver(buf, start, size, rx_ns, session, mold, events, orders, mask, levels, free, heads,
            stats, inst, symbols, type_counts, capacity, feed, lat, ker, tap_hdr, tap_words,
            tap_wait, clock):
    """One datagram found at ``buf[start:start+size]`` (received at ``rx_ns``, 0 if unknown):
    apply it, stamp its latency, and, with a ring (``tap_*``, see the module docstring, 0-length:
    none), hand the top of the changed book on. Returns GO_ON, END_OF_SESSION, or SETTLE (with
    the refused event's index and the events decoded left in ``feed`` for the owner)."""
    received = rx_ns if rx_ns > 0 else realtime_ns()
    if tap_hdr.shape[0] == 0:
        st, applied, nev = apply_datagram(buf, start, start + size, session, mold, events,
                                          orders, mask, levels, free, heads, stats, inst,
                                          symbols, type_counts, capacity, feed)
    else:
        st, applied, nev, t_parsed, t_decoded = apply_datagram_timed(
            buf, start, start + size, session, mold, events, orders, mask, levels, free,
            heads, stats, inst, symbols, type_counts, capacity, feed)
        if st == BOOK_OK and nev > 0:
            t_booked = realtime_ns()
            loc = last_book_locate(events, nev)
            if loc >= 0:
                publish_top(tap_hdr, tap_words, tap_wait, loc, events, nev, levels, heads,
                            symbols, received, t_parsed, t_decoded, t_booked, feed, clock)
    if st != BOOK_OK:
        feed[EVENT_AT] = applied
        feed[EVENTS] = nev
        return SETTLE
    if nev > 0:
        feed[SAMPLES] = stamp_latency(events, realtime_ns(), rx_ns, lat, ker, feed[SAMPLES],
                                      clock)
    if mold[_EOS] > 0:
        return END_OF_SESSION
    return GO_ON


@seam.implements(ItchState)
def _on_datagram(state, buf, start, size, rx_ns):
    """The seam's implementation for :data:`ItchState` (numba picks it by the state's type)."""
    return deliver(buf, start, size, rx_ns, state.session, state.mold, state.events,
                   state.orders, state.mask, state.levels, state.free, state.heads,
                   state.stats, state.inst, state.symbols, state.type_counts, state.capacity,
                   state.feed, state.lat, state.ker, state.tap_hdr, state.tap_words,
                   state.tap_wait, state.clock)


@njit(cache=True, nogil=True)
def step(state, buf, start, size, rx_ns):
    """The seam called once from Python (the ``socket`` transport: a Python call per
    datagram, the baseline) or from a test."""
    return seam.on_datagram(state, buf, start, size, rx_ns)
