"""The ITCH feed handler's compiled step: one MoldUDP64 datagram -> sequenced -> decoded ->
books, and its implementation of the transports' seam (:func:`tickpath.wire.handler.on_datagram`).

A transport's compiled receive loop calls ``on_datagram(state, buf, start, size, rx_ns)`` for
each datagram where it landed; for an :class:`ItchState` numba picks :func:`deliver` here, so a
hot feed stage never returns to the interpreter between packets and no transport knows ITCH.

The hand-off (the "tap", :mod:`tickpath.feed.tap`): given an SPSC ring (``tap_hdr``,
``tap_words`` from :class:`tickpath.ring.SpscRing`) and its wait settings (``tap_wait``,
:data:`~tickpath.feed.tap.TAP_WAIT_WORDS` int64 words: the wait strategy's params, then its
code and the claim timeout), ``deliver``
stamps the boundaries (received, parsed, decoded, booked, enqueued; CLOCK_REALTIME epoch ns)
and publishes, per datagram, one record per trade it printed (E, C, P: price, shares, aggressor
side) and then one top-of-book record per instrument it changed, in the order of first change
(:mod:`tickpath.strategy.records`). The trades and the changed instruments are noted while the
books apply (``trades``, ``changed`` and ``seen``, preallocated in the state): the books are
applied in runs split at each execution, so an E's price and side are read from its resting
order just before the execution removes it. A datagram holding a message the books refuse
returns SETTLE; once the owner has settled it (:meth:`tickpath.feed.itch.ItchFeed.settle`),
the instruments and trades of its good messages are published all the same. Without a ring
(0-length arrays) it only keeps the books: one compare.
"""

from __future__ import annotations

from collections import namedtuple

import numpy as np
from numba import njit

from ...book.apply import OK as BOOK_OK
from ...book.apply import apply_batch, find
from ...book.records import BID
from ...codec.itch50.decode import OK as DECODE_OK
from ...codec.itch50.decode import be16, be64, decode_batch
from ...codec.itch50.layout import LENGTHS
from ...strategy import records as R
from ...telemetry.feedtime import to_epoch
from ...telemetry.nclock import realtime_ns
from ...wire import handler as seam
from ..moldudp64 import _recovery as mr
from ..moldudp64._kernels import AHEAD, NEW, OTHER, accept, accept_next
from ..moldudp64.layout import COUNT_OFFSET, RECOVERING, SEQUENCE_OFFSET, STALE, TOLD_SILENT
from ..moldudp64.layout import Counter as MoldCounter
from ..moldudp64.layout import Counter as _Mold
from ..moldudp64.layout import Recovery as _Rec
from ..tap import TAP_FULL as TAP_FULL  # re-exported: the feed array's words (feed.tap)
from ..tap import TAP_PUBLISHED as TAP_PUBLISHED
from ..tap import TAP_TIMEOUT_NS as TAP_TIMEOUT_NS
from ..tap import TAP_WAIT_CODE as TAP_WAIT_CODE
from ..tap import TAP_WAIT_WORDS as TAP_WAIT_WORDS
from ..tap import publish_record

_LENGTHS = LENGTHS  # a module global: numba freezes it into the code as a constant

# What the step tells the receive loop (the seam's statuses)
GO_ON = seam.GO_ON
END_OF_SESSION = seam.END_OF_SESSION
SETTLE = seam.SETTLE  # the books refused an event: the owner settles it, then polls again
_HELD_ON = -2  # deliver's own status: the packet is ahead of the expected sequence number
_OTHER_SESSION = -4  # deliver's own status: the packet is another session's
BEHIND = -100  # apply_datagram's book status for such a packet (no book status is negative)
ELSEWHERE = -101  # ... and for another session's packet
_STATE = int(_Rec.STATE)
_TOLD = int(_Rec.TOLD)
_POLL_FD = int(_Rec.POLL_FD)
_STALE_MSGS = int(_Rec.STALE_MESSAGES)
_SILENT = int(_Rec.SILENT)
_GAVE_UP_FULL = int(_Rec.GAVE_UP_FULL)
#: answers read from the request socket per turn at most (the feed gets its turn back)
ANSWERS_PER_TURN = 64
_EOS = int(MoldCounter.END_OF_SESSION)
_EXPECTED = int(_Mold.EXPECTED)
_MOLD_MESSAGES = int(_Mold.MESSAGES)

# Feed counters and resume state (int64 array ``feed``) written by the compiled step
MALFORMED = 0  # datagrams whose message blocks did not decode (the rest of the datagram skipped)
# 1, 2: TAP_PUBLISHED, TAP_FULL (feed.tap: records handed to the ring, and dropped full)
SAMPLES = 3  # latency samples recorded in ``lat``/``ker``
EVENT_AT = 4  # state, after SETTLE: index of the event the books refused
EVENTS = 5  # state, after SETTLE: events decoded in that datagram
TRADES_N = 6  # state: trades noted in the current datagram (rows of ``trades``)
CHANGED_N = 7  # state: instruments changed by the current datagram (rows of ``changed``)
SERIAL = 8  # state: datagrams noted so far (the mark ``seen`` compares against)
SEQ0 = 9  # state: MoldUDP64 sequence number of the datagram's first new message
T_RECEIVED, T_PARSED, T_DECODED = 10, 11, 12  # state, after SETTLE: the datagram's stamps
N_FEED_COUNTERS = 13

# columns of ``trades`` (one row per execution of the datagram: at most one per event)
TR_LOCATE, TR_PRICE, TR_QTY, TR_SIDE, TR_SEQ, TR_EVENT = range(6)
TRADE_COLUMNS = 6
# columns of ``changed`` (one row per instrument, order of first change)
CH_LOCATE, CH_SEQ = 0, 1
_ROW_BITS = 24  # seen[locate] = serial << _ROW_BITS | row in ``changed``

#: The handler's state, as the receive loops carry it: every array the step touches. Built by
#: :class:`tickpath.feed.itch.ItchFeed` (``mask`` and ``capacity`` are the order table's, so
#: the state is rebuilt whenever the books grow). numba dispatches the seam on this type.
ItchState = namedtuple("ItchState", [
    "session", "mold",  # MoldUDP64: the session name, the session counters
    "events",  # decoded events of one datagram
    "orders", "mask", "levels", "free", "heads", "stats", "inst", "symbols", "type_counts",
    "capacity",  # the books (BookStore's arrays)
    "feed",  # counters and resume state above
    "lat", "ker", "snt",  # latency samples: send -> books, send -> receive stamp, send stamp
    "tap_hdr", "tap_words", "tap_wait",  # the hand-off ring (0-length arrays: none)
    "trades", "changed", "seen",  # what a datagram printed and changed (used with a ring)
    "clock",  # the feed's time zone (telemetry.feedtime table): ITCH stamps are local
    "rec", "held", "slots", "req", "ans", "rtime",  # MoldUDP64 gap recovery (MoldRecovery)
    "sessions",  # the retired session, a new session's first packet (MoldRecovery)
])


@njit(cache=True, nogil=True, _nrt=False)
def cut_at(mold, rec, feed, good, count, lost_bytes):
    """The packet just sequenced (``count`` new messages) has a block that does not decode
    after ``good`` good ones: those are applied, the rest is a gap to recover (counted with
    its bytes), never half a message."""
    feed[MALFORMED] += 1
    first = mold[_EXPECTED] - count
    mr.cut(rec, mold, first + good, count - good, lost_bytes, realtime_ns())


@njit(cache=True, nogil=True)
def apply_datagram(buf, start, end, session, mold, events, orders, mask, levels, free, heads,
                stats, inst, symbols, type_counts, capacity, feed, rec):
    """Sequence, decode and apply the MoldUDP64 datagram in ``buf[start:end]``.

    Returns ``(status, applied, decoded)``: the book status (OK, or why event ``applied`` was
    refused: the caller settles it and applies ``events[applied + 1:decoded]``), the events
    applied, and the events decoded (0 for a duplicate, heartbeat or bad datagram). A packet
    beyond the expected sequence number is not sequenced: status BEHIND (the books are behind
    it), for the caller to hold; another session's: ELSEWHERE. A block that does not decode
    cuts the packet there (:func:`cut_at`).
    """
    verdict, off, count = accept_next(buf, start, end, session, mold)
    if verdict != NEW:
        if verdict == AHEAD:
            return BEHIND, 0, 0
        return (ELSEWHERE if verdict == OTHER else BOOK_OK), 0, 0
    zero = np.int64(0)  # not the literal 0: a literal argument would compile another
    # specialization of the decoder and the books (seconds each) beside the int64 one
    n, st, nxt = decode_batch(buf, off, end, _LENGTHS, events, zero, zero)
    if st != DECODE_OK:
        cut_at(mold, rec, feed, n, count, end - nxt)
    idx, ast = apply_batch(events, zero, n, orders, mask, levels, free, heads, stats, inst,
                           symbols, type_counts, capacity)
    return ast, idx, n


@njit(cache=True, nogil=True)
def decode_datagram_timed(buf, start, end, session, mold, events, feed, rec):
    """Sequence and decode the MoldUDP64 datagram in ``buf[start:end]`` with the clock read
    between the steps: returns ``(decoded, parsed_ns, decoded_ns)`` (0 events and stamps for
    a duplicate, heartbeat or bad datagram; -1 events for a packet beyond the expected
    sequence number, not sequenced: the caller holds it; -2 for another session's). Sets
    ``feed[SEQ0]``."""
    verdict, off, count = accept_next(buf, start, end, session, mold)
    if verdict != NEW:
        if verdict == AHEAD:
            return np.int64(-1), np.int64(0), np.int64(0)
        return np.int64(-2 if verdict == OTHER else 0), np.int64(0), np.int64(0)
    t_parsed = realtime_ns()
    zero = np.int64(0)  # one specialization, as in apply_datagram
    n, st, nxt = decode_batch(buf, off, end, _LENGTHS, events, zero, zero)
    feed[SEQ0] = mold[_EXPECTED] - count
    if st != DECODE_OK:
        cut_at(mold, rec, feed, n, count, end - nxt)
    return n, t_parsed, realtime_ns()


@njit(cache=True, nogil=True, _nrt=False)
def is_book_change(t):
    """Whether an event of ITCH type ``t`` changes a book (A F E C X D U)."""
    return t == 65 or t == 70 or t == 69 or t == 67 or t == 88 or t == 68 or t == 85


@njit(cache=True, nogil=True, _nrt=False)
def next_trade(events, k, n):
    """Index of the first execution (E, C, P) among ``events[k:n]``, or ``n``."""
    for j in range(k, n):
        t = events[j]["type"]
        if t == 69 or t == 67 or t == 80:
            return j
    return n


@njit(cache=True, nogil=True, _nrt=False)
def note_trade(events, j, orders, mask, levels, trades, feed):
    """Note execution ``events[j]`` (E, C or P) in ``trades``, before the books apply it: an E
    trades at its resting order's price, a C at its own; the aggressor is the side opposite
    the resting order (P: its indicator). An E or C whose order is unknown notes nothing (the
    books will refuse it)."""
    ev = events[j]
    t = ev["type"]
    if t == 80:
        price = np.int64(ev["price"])
        resting = np.int64(ev["side"])
    else:
        i = find(orders, mask, ev["ref"])
        if i < 0:
            return
        lv = levels[orders[i]["level"]]
        price = np.int64(ev["price"]) if t == 67 else np.int64(lv["price"])
        resting = np.int64(66) if lv["side"] == BID else np.int64(83)
    r = feed[TRADES_N]
    if r >= trades.shape[0]:  # one row per event: only a buffer smaller than the events
        return
    trades[r, TR_LOCATE] = np.int64(ev["locate"])
    trades[r, TR_PRICE] = price
    trades[r, TR_QTY] = np.int64(ev["shares"])
    trades[r, TR_SIDE] = 83 if resting == 66 else 66
    trades[r, TR_SEQ] = feed[SEQ0] + j
    trades[r, TR_EVENT] = j
    feed[TRADES_N] = r + 1


@njit(cache=True, nogil=True, _nrt=False)
def note_changed(events, k, end, changed, seen, feed):
    """Note the instruments ``events[k:end]`` (applied) changed: a new one gets a row of
    ``changed`` (order of first change), a known one its sequence number moved on."""
    serial = feed[SERIAL]
    for j in range(k, end):
        ev = events[j]
        if not is_book_change(ev["type"]):
            continue
        loc = np.int64(ev["locate"])
        mark = seen[loc]
        if (mark >> _ROW_BITS) == serial:
            row = mark & ((1 << _ROW_BITS) - 1)
        else:
            row = feed[CHANGED_N]
            if row >= changed.shape[0]:
                continue
            seen[loc] = (serial << _ROW_BITS) | row
            changed[row, CH_LOCATE] = loc
            feed[CHANGED_N] = row + 1
        changed[row, CH_SEQ] = feed[SEQ0] + j


@njit(cache=True, nogil=True, _nrt=False)
def apply_noting(events, k, n, orders, mask, levels, free, heads, stats, inst, symbols,
                 type_counts, capacity, trades, changed, seen, feed):
    """Apply ``events[k:n]`` in runs split at each execution, noting trades and changed
    instruments. Returns ``(status, index)``: OK and ``n``, or why event ``index`` was
    refused (what came before it is applied and noted; a trade noted for it is taken back)."""
    j = next_trade(events, k, n)
    while True:
        idx, ast = apply_batch(events, k, j, orders, mask, levels, free, heads, stats, inst,
                               symbols, type_counts, capacity)
        note_changed(events, k, idx, changed, seen, feed)
        if ast != BOOK_OK:
            r = feed[TRADES_N]
            if r > 0 and trades[r - 1, TR_EVENT] == idx:
                feed[TRADES_N] = r - 1
            return ast, idx
        if j >= n:
            return ast, n
        note_trade(events, j, orders, mask, levels, trades, feed)
        k = j
        j = next_trade(events, j + 1, n)


@njit(cache=True, nogil=True, _nrt=False)
def start_noting(feed):
    """Start noting a new datagram's trades and changed instruments."""
    feed[SERIAL] += 1
    feed[TRADES_N] = 0
    feed[CHANGED_N] = 0


@njit(cache=True, nogil=True, _nrt=False)
def top_of(levels, heads, loc):
    """``(bid, bid shares, ask, ask shares)`` of instrument ``loc``'s book (0: empty side)."""
    hb = heads[loc, 0]
    ha = heads[loc, 1]
    bp = np.int64(levels[hb]["price"]) if hb >= 0 else np.int64(0)
    bs = np.int64(levels[hb]["shares"]) if hb >= 0 else np.int64(0)
    ap = np.int64(levels[ha]["price"]) if ha >= 0 else np.int64(0)
    a_s = np.int64(levels[ha]["shares"]) if ha >= 0 else np.int64(0)
    return bp, bs, ap, a_s


@njit(cache=True, nogil=True, _nrt=False)
def publish_datagram(tap_hdr, tap_words, tap_wait, events, nev, levels, heads, symbols, trades,
                     changed, received, parsed, decoded, booked, feed, clock):
    """Publish what the datagram noted: a record per trade, then the top of each changed
    book. Returns the records published."""
    # the venue's send stamp: an ITCH time of day in the feed's zone, as epoch ns
    sent = to_epoch(clock, np.int64(events[0]["timestamp"]), received)
    done = 0
    for r in range(feed[TRADES_N]):
        loc = trades[r, TR_LOCATE]
        done += publish_record(tap_hdr, tap_words, tap_wait, R.TRADE, loc,
                               np.int64(symbols[loc]), trades[r, TR_PRICE],
                               trades[r, TR_QTY], trades[r, TR_SIDE], np.int64(0), nev,
                               trades[r, TR_SEQ], sent, received, parsed, decoded, booked,
                               feed)
    for r in range(feed[CHANGED_N]):
        loc = changed[r, CH_LOCATE]
        bp, bs, ap, a_s = top_of(levels, heads, loc)
        done += publish_record(tap_hdr, tap_words, tap_wait, R.BOOK, loc,
                               np.int64(symbols[loc]), bp, bs, ap, a_s, nev,
                               changed[r, CH_SEQ], sent, received, parsed, decoded, booked,
                               feed)
    return done


@njit(cache=True, nogil=True)
def stamp_latency(events, now_ns, rx_ns, lat, ker, snt, samples, clock):
    """Record one datagram's send -> books and send -> kernel receive times, and its send
    stamp (epoch ns: latency over the run's time). The send stamp
    is the ITCH timestamp, ns since midnight in the feed's zone (``clock``: its offset table),
    read against the UTC clock. Returns the new sample count."""
    if samples >= lat.shape[0]:
        return samples
    sent = to_epoch(clock, np.int64(events[0]["timestamp"]), now_ns)  # widened once
    lat[samples] = now_ns - sent
    ker[samples] = rx_ns - sent if rx_ns > 0 else 0
    snt[samples] = sent
    return samples + 1


@njit(cache=True, nogil=True)
def deliver(buf, start, size, rx_ns, session, mold, events, orders, mask, levels, free, heads,
            stats, inst, symbols, type_counts, capacity, feed, lat, ker, snt, tap_hdr, tap_words,
            tap_wait, trades, changed, seen, clock, rec):
    """One datagram found at ``buf[start:start+size]`` (received at ``rx_ns``, 0 if unknown,
    -1: taken from the reorder buffer or the request socket, no latency sample): apply it,
    stamp its latency, and, with a ring (``tap_*``, see the module docstring, 0-length:
    none), hand its trades and the top of each changed book on. Returns GO_ON,
    END_OF_SESSION, SETTLE (with the refused event's index and the events decoded left in
    ``feed`` for the owner), or, for a packet beyond the expected sequence number, which it
    leaves untouched for the session's recovery (:func:`recover`), ``_HELD_ON``
    (``_OTHER_SESSION`` for another session's packet: :func:`other_session`)."""
    received = rx_ns if rx_ns > 0 else realtime_ns()
    if tap_hdr.shape[0] == 0:
        st, applied, nev = apply_datagram(buf, start, start + size, session, mold, events,
                                          orders, mask, levels, free, heads, stats, inst,
                                          symbols, type_counts, capacity, feed, rec)
        if st < 0:  # (one compare on the fast path: no book status is negative)
            return _HELD_ON if st == BEHIND else _OTHER_SESSION
    else:
        nev, t_parsed, t_decoded = decode_datagram_timed(buf, start, start + size, session,
                                                         mold, events, feed, rec)
        if nev < 0:
            return _HELD_ON if nev == -1 else _OTHER_SESSION
        st = BOOK_OK
        applied = nev
        if nev > 0:
            start_noting(feed)
            st, applied = apply_noting(events, np.int64(0), nev, orders, mask, levels, free,
                                       heads, stats, inst, symbols, type_counts, capacity,
                                       trades, changed, seen, feed)
            if st == BOOK_OK:
                publish_datagram(tap_hdr, tap_words, tap_wait, events, nev, levels, heads,
                                 symbols, trades, changed, received, t_parsed, t_decoded,
                                 realtime_ns(), feed, clock)
            else:  # published once the owner has settled the refused message
                feed[T_RECEIVED] = received
                feed[T_PARSED] = t_parsed
                feed[T_DECODED] = t_decoded
    if st != BOOK_OK:
        feed[EVENT_AT] = applied
        feed[EVENTS] = nev
        return SETTLE
    if nev > 0 and rx_ns >= 0:
        feed[SAMPLES] = stamp_latency(events, realtime_ns(), rx_ns, lat, ker, snt, feed[SAMPLES],
                                      clock)
    if mold[_EOS] > 0 and rec[_STATE] != RECOVERING:  # not over while a hole is open
        return END_OF_SESSION
    return GO_ON


@njit(cache=True, nogil=True)
def deliver_state(state, buf, start, size, rx_ns):
    """:func:`deliver` with the state's arrays."""
    return deliver(buf, start, size, rx_ns, state.session, state.mold, state.events,
                   state.orders, state.mask, state.levels, state.free, state.heads,
                   state.stats, state.inst, state.symbols, state.type_counts, state.capacity,
                   state.feed, state.lat, state.ker, state.snt, state.tap_hdr, state.tap_words,
                   state.tap_wait, state.trades, state.changed, state.seen, state.clock,
                   state.rec)


@njit(cache=True, nogil=True)
def hold_packet(state, buf, start, size, now_ns):
    """Put a packet that is ahead of the expected sequence number in the reorder buffer
    (its header was checked by :func:`deliver`); a full buffer gives up on the gap."""
    s = np.uint64(start)
    seq = np.int64(be64(buf, s + np.uint64(SEQUENCE_OFFSET)))
    count = np.int64(be16(buf, s + np.uint64(COUNT_OFFSET)))
    if not mr.hold(buf, start, start + size, seq, count, state.rec, state.held, state.slots,
                   state.mold, now_ns):
        mr.give_up(state.rec, state.mold, _GAVE_UP_FULL)


@njit(cache=True, nogil=True)
def other_session(state, buf, start, size):
    """A packet of another session than the one followed (counted as a mismatch): one of a
    session followed before is dropped; another's is kept aside, and once that session is
    known to be the venue's new one (:func:`~tickpath.feed.moldudp64._recovery.
    stash_session`: packets of it in a row, or the followed session ended or silent) SETTLE
    asks the owner to follow it (:meth:`tickpath.feed.itch.ItchFeed.settle`: books emptied,
    the session followed from its first message, its packets handed back). Returns GO_ON or
    SETTLE."""
    if mr.stash_session(state.rec, state.mold, state.sessions, buf, start, size):
        return SETTLE
    return GO_ON


@njit(cache=True, nogil=True)
def _in_order(state, buf, start, size, rx_ns, now_ns):
    """A datagram (from the feed or the request socket) while a gap is open: applied if it is
    next, held if ahead. Returns deliver's status (GO_ON for a held one)."""
    before = state.mold[_EXPECTED]
    code = deliver_state(state, buf, start, size, rx_ns)
    if code == _HELD_ON:
        hold_packet(state, buf, start, size, now_ns)
        return GO_ON
    if code == _OTHER_SESSION:
        return other_session(state, buf, start, size)
    if state.mold[_EXPECTED] > before:
        mr.note_received(state.rec, state.mold[_EXPECTED] - before)
    return code


@njit(cache=True, nogil=True)
def tend(state, now_ns):
    """The recovery's turn (after a datagram, and on the transport's idle turns): apply what
    the reorder buffer holds next, close the gap once the books are exact, send a request
    when one is due (or give up), and read answers from the request socket (own-socket mode,
    up to ANSWERS_PER_TURN). Returns GO_ON, SETTLE or END_OF_SESSION (once the session
    ended and no gap is open)."""
    rec = state.rec
    for _ in range(ANSWERS_PER_TURN):
        while rec[_STATE] == RECOVERING:
            off, n = mr.take_ready(rec, state.slots, state.mold[_EXPECTED])
            if off < 0:
                break
            before = state.mold[_EXPECTED]
            code = deliver_state(state, state.held, off, n, np.int64(-1))
            mr.note_drained(rec, max(state.mold[_EXPECTED] - before, 0))
            if code == SETTLE:
                return SETTLE
        mr.close_if_exact(rec, state.slots, state.mold, state.rtime, now_ns)
        if rec[_STATE] != RECOVERING:
            break
        first, count = mr.due_request(rec, state.slots, state.mold, now_ns)
        if count > 0:
            mr.send_request(rec, state.req, state.session, first, count)
        elif count < 0:
            break
        n = mr.read_answer(rec, state.ans)
        if n <= 0:
            break
        code = _in_order(state, state.ans, np.int64(0), n, np.int64(-1), now_ns)
        if code == SETTLE:
            return SETTLE
    if state.mold[_EOS] > 0 and rec[_STATE] != RECOVERING:
        return END_OF_SESSION
    return GO_ON


@njit(cache=True, nogil=True)
def stale_datagram(state, buf, start, size):
    """After giving up: the session is followed (sequence numbers, end of session), the books
    are left as they were (they need a snapshot) and the messages counted as not applied."""
    verdict, off, count = accept(buf, start, start + size, state.session, state.mold)
    if verdict == OTHER:
        return other_session(state, buf, start, size)
    if verdict == NEW:
        state.rec[_STALE_MSGS] += count
        state.mold[_MOLD_MESSAGES] -= count
    if state.mold[_EOS] > 0:
        return END_OF_SESSION
    return GO_ON


@njit(cache=True, nogil=True)
def recover(state, buf, start, size, rx_ns, ahead):
    """The session's slow path: a datagram while the feed is not exact, or one that opened a
    gap (``ahead``: deliver found it beyond the expected sequence number)."""
    now = realtime_ns()
    if state.rec[_STATE] == STALE:
        return stale_datagram(state, buf, start, size)
    if ahead:
        hold_packet(state, buf, start, size, now)
    else:
        code = _in_order(state, buf, start, size, rx_ns, now)
        if code == SETTLE:
            return SETTLE
    return tend(state, now)


@njit(cache=True, nogil=True, _nrt=False)
def tell_status(state):
    """With a ring: when the books went from exact to not (a gap open, given up, or the feed
    silent) or back, publish a STATUS record for every instrument
    (:mod:`tickpath.strategy.records`), after the records of what was applied before the
    change, so the strategy reads each book change in the state it was made in. A full ring:
    told at the next turn."""
    rec = state.rec
    mr.heard(rec, state.mold)
    now = rec[_STATE]
    if now == 0 and rec[_SILENT] != 0:
        now = TOLD_SILENT
    exact = now == 0
    if exact == (rec[_TOLD] == 0):
        return
    if state.tap_hdr.shape[0] == 0:
        rec[_TOLD] = now
        return
    t = realtime_ns()
    if publish_record(state.tap_hdr, state.tap_words, state.tap_wait, R.STATUS, np.int64(-1),
                      np.int64(0), np.int64(1 if exact else 0), np.int64(0), np.int64(0),
                      np.int64(0), np.int64(0), state.mold[_EXPECTED], t, t, t, t, t,
                      state.feed):
        rec[_TOLD] = now


@njit(cache=True, nogil=True, _nrt=False)
def publish_tops(state, start, cleared):
    """With a ring: a BOOK record (the top of its book now; both sides empty when
    ``cleared``: the books are about to be dropped) for every instrument the books know from
    locate ``start`` on, e.g. after they were rebuilt from a snapshot. Returns the locate to
    go on from when the ring was full (its reader must drain it first), or the table's size
    when every top is out."""
    n = state.symbols.shape[0]
    if state.tap_hdr.shape[0] == 0:
        return n
    t = realtime_ns()
    levels, heads, symbols = state.levels, state.heads, state.symbols
    for loc in range(start, n):
        if symbols[loc] == 0:
            continue
        bp, bs, ap, a_s = top_of(levels, heads, loc)
        if cleared:
            bp = bs = ap = a_s = np.int64(0)
        if not publish_record(state.tap_hdr, state.tap_words, state.tap_wait, R.BOOK,
                              np.int64(loc), np.int64(symbols[loc]), bp, bs, ap, a_s,
                              np.int64(0), state.mold[_EXPECTED] - 1, t, t, t, t, t,
                              state.feed):
            return loc
    return n


_NOT_TRIED = -3  # the seam's own mark: deliver was not called (the feed is not exact)


@njit(cache=True, nogil=True)
def after_deliver(state, buf, start, size, rx_ns, code):
    """The seam's way off the fast path, one call site (so the loop's inlined fast path stays
    small): a datagram while the feed is not exact, one beyond the expected sequence number,
    or one a bad block cut (its rest asked for at once)."""
    if code == _NOT_TRIED:
        # (np.bool_: a constant is typed as a literal, compiling recover once per value)
        code = recover(state, buf, start, size, rx_ns, np.bool_(False))
    elif code == _HELD_ON:
        code = recover(state, buf, start, size, rx_ns, np.bool_(True))
    elif code == _OTHER_SESSION:
        code = other_session(state, buf, start, size)
    elif code == GO_ON:
        code = tend(state, realtime_ns())
    if code != SETTLE:  # after a settle the datagram's records come first: told next turn
        tell_status(state)
    return code


@seam.implements(ItchState)
def _on_datagram(state, buf, start, size, rx_ns):
    """The seam's implementation for :data:`ItchState` (numba picks it by the state's type):
    :func:`deliver` while the feed is exact, :func:`recover` from a gap on."""
    code = _NOT_TRIED
    if state.rec[_STATE] == 0:
        code = deliver(buf, start, size, rx_ns, state.session, state.mold, state.events,
                       state.orders, state.mask, state.levels, state.free, state.heads,
                       state.stats, state.inst, state.symbols, state.type_counts,
                       state.capacity, state.feed, state.lat, state.ker, state.snt, state.tap_hdr,
                       state.tap_words, state.tap_wait, state.trades, state.changed,
                       state.seen, state.clock, state.rec)
        if code >= GO_ON and state.rec[_STATE] == 0 and state.rec[_TOLD] == 0:
            return code  # (TOLD: a STATUS record a full ring refused, or the feed heard
            #               from after a silence, is told at once)
    return after_deliver(state, buf, start, size, rx_ns, code)


@seam.implements_idle(ItchState)
def _on_idle(state, now_ns):
    """The idle turn: re-requests and answers while a gap is open, a feed silent for too long
    noted (and told), and a STATUS record a full ring refused."""
    mr.watch_silence(state.rec, state.mold, now_ns)
    if state.rec[_STATE] != RECOVERING:
        tell_status(state)
        return GO_ON
    code = tend(state, now_ns)
    if code != SETTLE:
        tell_status(state)
    return code


@njit(cache=True, nogil=True)
def step(state, buf, start, size, rx_ns):
    """The seam called once from Python (the ``socket`` transport: a Python call per
    datagram, the baseline) or from a test."""
    return seam.on_datagram(state, buf, start, size, rx_ns)


@njit(cache=True, nogil=True)
def idle_step(state, now_ns):
    """The idle turn called from Python (the ``socket`` transport between datagrams)."""
    return seam.on_idle(state, now_ns)
