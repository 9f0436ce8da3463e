"""Compiled MoldUDP64 gap recovery: the reorder buffer, the feed's state, Request Packets.

The arrays (allocated by :class:`tickpath.feed.moldudp64.recovery.MoldRecovery`):

- ``rec``: int64 words indexed by :class:`~tickpath.feed.moldudp64.layout.Recovery`.
- ``held``: the reorder buffer's bytes; packets are copied in back to back (a bump
  pointer, ``rec[HELD_BYTES]``), reset when the buffer empties and compacted when a packet
  does not fit behind the others.
- ``slots``: one row per held packet (``SLOT_SEQ``, ``SLOT_COUNT``, ``SLOT_OFF``,
  ``SLOT_LEN``), unordered; rows ``[0, rec[HELD])`` are live. Scanned linearly: it holds
  packets only while a gap is open, and is bounded.
- ``req``: the Request Packet at 0 and the server's ``sockaddr_in`` at ``REQUEST_ADDR``.
- ``rtime``: recovery times (gap seen -> books exact, ns), a ring of samples.

Nothing here knows ITCH: the handler's step applies what this layer says is next.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ...codec.itch50.encoder import put16, put64
from ...wire.libc import errno, recvfrom, sendto
from .layout import (
    CANDIDATE_SESSION,
    COUNT_OFFSET,
    END_OF_SESSION,
    EXACT,
    FOLLOW_AFTER,
    RECOVERING,
    REQUEST_ADDR,
    REQUEST_LEN,
    RETIRED_KEPT,
    SEQUENCE_OFFSET,
    SESSION_LEN,
    SESSION_PACKET,
    SLOT_COUNT,
    SLOT_LEN,
    SLOT_OFF,
    SLOT_SEQ,
    STALE,
    Counter,
    Recovery,
)

_MSG_DONTWAIT = 0x40

# Recovery words as plain ints for nopython code
_STATE = int(Recovery.STATE)
_OPENED = int(Recovery.GAPS_OPENED)
_REPAIRED = int(Recovery.GAPS_REPAIRED)
_GAVE_UP = int(Recovery.GAVE_UP)
_GAVE_UP_FULL = int(Recovery.GAVE_UP_FULL)
_GAVE_UP_TIMEOUT = int(Recovery.GAVE_UP_TIMEOUT)
_GAVE_UP_TOO_OLD = int(Recovery.GAVE_UP_TOO_OLD)
_REQUESTS = int(Recovery.REQUESTS)
_REQUESTED = int(Recovery.MESSAGES_REQUESTED)
_RECEIVED = int(Recovery.MESSAGES_RECEIVED)
_MSGS_HELD = int(Recovery.MESSAGES_HELD)
_PKTS_HELD = int(Recovery.PACKETS_HELD)
_HELD = int(Recovery.HELD)
_HELD_BYTES = int(Recovery.HELD_BYTES)
_BAD_BLOCKS = int(Recovery.BAD_BLOCKS)
_BAD_MSGS = int(Recovery.BAD_BLOCK_MESSAGES)
_BAD_BYTES = int(Recovery.BAD_BLOCK_BYTES)
_SEND_ERRORS = int(Recovery.SEND_ERRORS)
_LAST_ERRNO = int(Recovery.LAST_ERRNO)
_ANSWERS = int(Recovery.ANSWERS)
_SINCE = int(Recovery.GAP_SINCE_NS)
_REQ_NS = int(Recovery.REQUEST_NS)
_REQ_SEQ = int(Recovery.REQUEST_SEQ)
_ATTEMPTS = int(Recovery.ATTEMPTS)
_KNOWN_END = int(Recovery.KNOWN_END)
_EXACT_UPTO = int(Recovery.EXACT_UPTO)
_LAST_NS = int(Recovery.LAST_RECOVERY_NS)
_MAX_NS = int(Recovery.MAX_RECOVERY_NS)
_SAMPLES = int(Recovery.SAMPLES)
_TIMEOUT = int(Recovery.TIMEOUT_NS)
_MAX_ATTEMPTS = int(Recovery.MAX_ATTEMPTS)
_HISTORY = int(Recovery.HISTORY)
_MAX_REQUEST = int(Recovery.MAX_REQUEST)
_SEND_FD = int(Recovery.SEND_FD)
_POLL_FD = int(Recovery.POLL_FD)
_ADDR_LEN = int(Recovery.ADDR_LEN)
_SNAPSHOTS = int(Recovery.SNAPSHOTS)
_SNAPSHOT_MESSAGES = int(Recovery.SNAPSHOT_MESSAGES)
_SESSIONS = int(Recovery.SESSIONS)
_NEW_SESSION = int(Recovery.NEW_SESSION)
_SILENT = int(Recovery.SILENT)
_SILENCES = int(Recovery.SILENCES)
_SILENCE_NS = int(Recovery.SILENCE_NS)
_QUIET_SINCE = int(Recovery.QUIET_SINCE_NS)
_SEEN_PACKETS = int(Recovery.SEEN_PACKETS)
_CAND_PKTS = int(Recovery.CANDIDATE_PACKETS)
_CAND_MARK = int(Recovery.CANDIDATE_MARK)
_STASHED = int(Recovery.STASHED)
_STASHED_PKTS = int(Recovery.STASHED_PACKETS)

_EXPECTED = int(Counter.EXPECTED)
_MESSAGES = int(Counter.MESSAGES)
_GAPS = int(Counter.GAPS)
_GAP_MSGS = int(Counter.GAP_MESSAGES)
_DUP_PKTS = int(Counter.DUPLICATE_PACKETS)
_DUP_MSGS = int(Counter.DUPLICATE_MESSAGES)
_HEARTBEATS = int(Counter.HEARTBEATS)
_EOS = int(Counter.END_OF_SESSION)
_PACKETS = int(Counter.PACKETS)
_MISMATCH = int(Counter.SESSION_MISMATCH)


@njit(cache=True, nogil=True, _nrt=False)
def open_gap(rec, mold, now_ns, missing):
    """The feed stops being exact, ``missing`` messages short (counted in the session's
    GAP_MESSAGES as the old counter did; no-op when a gap is already open or it is
    stale)."""
    if rec[_STATE] != EXACT:
        return
    rec[_STATE] = RECOVERING
    rec[_SINCE] = now_ns
    rec[_OPENED] += 1
    rec[_REQ_SEQ] = -1
    rec[_ATTEMPTS] = 0
    mold[_GAPS] += 1
    mold[_GAP_MSGS] += missing


@njit(cache=True, nogil=True, _nrt=False)
def note_end(rec, end_seq):
    """A packet says messages up to ``end_seq`` (exclusive) exist."""
    if end_seq > rec[_KNOWN_END]:
        rec[_KNOWN_END] = end_seq


@njit(cache=True, nogil=True, _nrt=False)
def give_up(rec, mold, reason):
    """Stop recovering: the held packets are dropped and the feed is stale from here; the
    books keep what they had (exact up to ``rec[EXACT_UPTO]``) and need a snapshot."""
    if rec[_STATE] == STALE:
        return
    rec[_STATE] = STALE
    rec[_GAVE_UP] += 1
    rec[reason] += 1
    rec[_EXACT_UPTO] = mold[_EXPECTED] - 1
    rec[_HELD] = 0
    rec[_HELD_BYTES] = 0


@njit(cache=True, nogil=True, _nrt=False)
def _compact(rec, held, slots):
    """Move the live packets to the front of ``held``, in the order they lie there."""
    n = rec[_HELD]
    q = 0
    lo = -1  # offset of the packet moved last: the next is the lowest offset above it
    for _ in range(n):
        best = -1
        for i in range(n):
            o = slots[i, SLOT_OFF]
            if o > lo and (best < 0 or o < slots[best, SLOT_OFF]):
                best = i
        o = slots[best, SLOT_OFF]
        m = slots[best, SLOT_LEN]
        for k in range(m):  # forward copy: the target never passes the source
            held[q + k] = held[o + k]
        lo = o
        slots[best, SLOT_OFF] = q
        q += m
    rec[_HELD_BYTES] = q


@njit(cache=True, nogil=True, _nrt=False)
def hold(buf, start, end, seq, count, rec, held, slots, mold, now_ns):
    """Take a packet that starts beyond the expected sequence number (AHEAD): a gap opens;
    a heartbeat or end of session only tells how far the stream has gone; data is copied into
    the reorder buffer unless a held packet already covers it (the other line's copy).
    Returns False when the buffer is full (the caller gives up)."""
    open_gap(rec, mold, now_ns, seq - mold[_EXPECTED])
    if count == 0 or count == END_OF_SESSION:
        if count == 0:
            mold[_HEARTBEATS] += 1
        else:
            mold[_EOS] += 1
        note_end(rec, seq)
        return True
    note_end(rec, seq + count)
    n = rec[_HELD]
    for i in range(n):
        if slots[i, SLOT_SEQ] <= seq and seq + count <= slots[i, SLOT_SEQ] + slots[i, SLOT_COUNT]:
            mold[_DUP_PKTS] += 1
            mold[_DUP_MSGS] += count
            return True
    size = end - start
    if n >= slots.shape[0] or size > held.shape[0]:
        return False
    if rec[_HELD_BYTES] + size > held.shape[0]:
        _compact(rec, held, slots)
        if rec[_HELD_BYTES] + size > held.shape[0]:
            return False
    q = rec[_HELD_BYTES]
    for k in range(size):  # a loop, not a slice assignment: nothing may allocate here
        held[q + k] = buf[start + k]
    slots[n, SLOT_SEQ] = seq
    slots[n, SLOT_COUNT] = count
    slots[n, SLOT_OFF] = q
    slots[n, SLOT_LEN] = size
    rec[_HELD] = n + 1
    rec[_HELD_BYTES] = q + size
    rec[_PKTS_HELD] += 1
    return True


@njit(cache=True, nogil=True, _nrt=False)
def take_ready(rec, slots, expected):
    """The held packet that holds ``expected`` next, taken out of the buffer: returns
    ``(offset, length)`` in ``held``, or ``(-1, 0)``. Packets wholly before ``expected``
    (filled meanwhile) are dropped on the way. The bytes stay where they are until the buffer
    empties or is compacted, so the returned view is valid until the next ``hold``."""
    i = 0
    while i < rec[_HELD]:
        s = slots[i, SLOT_SEQ]
        c = slots[i, SLOT_COUNT]
        if s <= expected:
            off = slots[i, SLOT_OFF]
            size = slots[i, SLOT_LEN]
            last = rec[_HELD] - 1
            for k in range(4):
                slots[i, k] = slots[last, k]
            rec[_HELD] = last
            if last == 0:
                rec[_HELD_BYTES] = 0  # the view stays readable: nothing writes until hold()
            if s + c <= expected:
                continue  # every message already applied: the view is not needed
            return off, size
        i += 1
    return np.int64(-1), np.int64(0)


@njit(cache=True, nogil=True, _nrt=False)
def hole_end(rec, slots, expected):
    """One past the last message of the hole that starts at ``expected``: the first held
    packet's sequence number, or the stream's known end."""
    end = rec[_KNOWN_END]
    for i in range(rec[_HELD]):
        s = slots[i, SLOT_SEQ]
        if expected < s < end:
            end = s
    return end


@njit(cache=True, nogil=True, _nrt=False)
def close_if_exact(rec, slots, mold, rtime, now_ns):
    """After applying: the gap is closed when nothing is held and every message known to
    exist is applied. Records the recovery time. Returns True when it closed."""
    if rec[_STATE] != RECOVERING or rec[_HELD] > 0 or mold[_EXPECTED] < rec[_KNOWN_END]:
        return False
    rec[_STATE] = EXACT
    _repaired(rec, rtime, now_ns)
    rec[_REQ_SEQ] = -1
    rec[_ATTEMPTS] = 0
    return True


@njit(cache=True, nogil=True, _nrt=False)
def _repaired(rec, rtime, now_ns):
    """Count a gap repaired and record its recovery time (gap seen -> books exact)."""
    rec[_REPAIRED] += 1
    took = now_ns - rec[_SINCE]
    rec[_LAST_NS] = took
    if took > rec[_MAX_NS]:
        rec[_MAX_NS] = took
    if rtime.shape[0] > 0:
        rtime[rec[_SAMPLES] % rtime.shape[0]] = took
    rec[_SAMPLES] += 1


@njit(cache=True, nogil=True, _nrt=False)
def cut(rec, mold, bad_seq, lost_messages, lost_bytes, now_ns):
    """A block of the packet just sequenced did not decode: the messages from ``bad_seq`` on
    are lost in content though their sequence numbers arrived. The expected sequence number
    goes back to ``bad_seq`` and the rest is a gap like any other (asked for again; the other
    line's copy fills it too)."""
    rec[_BAD_BLOCKS] += 1
    rec[_BAD_MSGS] += lost_messages
    rec[_BAD_BYTES] += lost_bytes
    if rec[_STATE] == STALE:
        return
    note_end(rec, mold[_EXPECTED])
    mold[_MESSAGES] -= lost_messages  # they were counted as handed on
    mold[_EXPECTED] = bad_seq
    open_gap(rec, mold, now_ns, lost_messages)


@njit(cache=True, nogil=True, _nrt=False)
def due_request(rec, slots, mold, now_ns):
    """While a gap is open: the request to send now, ``(first, count)``, or count 0 (not
    due: the last one is younger than the timeout, or there is no hole at the expected
    sequence number). Gives up (count -1) when the hole is older than the server keeps or
    its requests ran out."""
    if rec[_STATE] != RECOVERING:
        return np.int64(0), np.int64(0)
    first = mold[_EXPECTED]
    end = hole_end(rec, slots, first)
    if end <= first:
        return np.int64(0), np.int64(0)
    if rec[_HISTORY] > 0 and rec[_KNOWN_END] - first > rec[_HISTORY]:
        give_up(rec, mold, _GAVE_UP_TOO_OLD)
        return first, np.int64(-1)
    if rec[_REQ_SEQ] != first:  # a new hole (or the old one partly filled): ask afresh
        rec[_REQ_SEQ] = first
        rec[_ATTEMPTS] = 0
    elif now_ns - rec[_REQ_NS] < rec[_TIMEOUT]:
        return np.int64(0), np.int64(0)
    if rec[_ATTEMPTS] >= rec[_MAX_ATTEMPTS]:
        give_up(rec, mold, _GAVE_UP_TIMEOUT)
        return first, np.int64(-1)
    rec[_ATTEMPTS] += 1
    rec[_REQ_NS] = now_ns
    return first, min(end - first, rec[_MAX_REQUEST])


@njit(cache=True, nogil=True, _nrt=False)
def write_request(req, session, first, count):
    """The Request Packet for ``count`` messages from ``first`` into ``req[0:20]``."""
    for i in range(SESSION_LEN):
        req[i] = session[i]
    put64(req, SEQUENCE_OFFSET, np.uint64(first))
    put16(req, COUNT_OFFSET, count)


@njit(cache=True, nogil=True, _nrt=False)
def send_request(rec, req, session, first, count):
    """Ask the server for ``count`` messages from ``first`` (counted; nothing is sent
    without a server). Returns True when a Request Packet went out."""
    if rec[_SEND_FD] < 0:
        return False
    write_request(req, session, first, count)
    base = req.ctypes.data
    r = sendto(rec[_SEND_FD], base, REQUEST_LEN, _MSG_DONTWAIT, base + REQUEST_ADDR,
               rec[_ADDR_LEN])
    if r != REQUEST_LEN:
        rec[_SEND_ERRORS] += 1
        rec[_LAST_ERRNO] = errno() if r < 0 else 0
        return False
    rec[_REQUESTS] += 1
    rec[_REQUESTED] += count
    return True


@njit(cache=True, nogil=True, _nrt=False)
def read_answer(rec, ans):
    """One datagram from the request socket into ``ans`` (own-socket mode), without waiting:
    its length, or 0 when there is none (or answers come with the feed)."""
    if rec[_POLL_FD] < 0 or ans.shape[0] == 0:
        return np.int64(0)
    r = recvfrom(rec[_POLL_FD], ans.ctypes.data, ans.shape[0], _MSG_DONTWAIT, 0, 0)
    if r <= 0:
        return np.int64(0)
    rec[_ANSWERS] += 1
    return r


@njit(cache=True, nogil=True, _nrt=False)
def note_received(rec, messages):
    """``messages`` filled a hole (the in-order packet came while a gap was open)."""
    rec[_RECEIVED] += messages


@njit(cache=True, nogil=True, _nrt=False)
def note_drained(rec, messages):
    rec[_MSGS_HELD] += messages


@njit(cache=True, nogil=True, _nrt=False)
def rejoined(rec, mold, rtime, next_seq, messages, now_ns):
    """The books were rebuilt from a snapshot that holds every message before ``next_seq``:
    exact again from there (held packets dropped: the feed after the snapshot comes in
    order from the receiver's queue). A gap that was open counts as repaired, its recovery
    time (gap seen -> snapshot loaded) recorded."""
    if rec[_STATE] != EXACT and rec[_SINCE] > 0:
        _repaired(rec, rtime, now_ns)
    rec[_STATE] = EXACT
    rec[_HELD] = 0
    rec[_HELD_BYTES] = 0
    rec[_REQ_SEQ] = -1
    rec[_ATTEMPTS] = 0
    if rec[_KNOWN_END] < next_seq:
        rec[_KNOWN_END] = next_seq
    rec[_SNAPSHOTS] += 1
    rec[_SNAPSHOT_MESSAGES] += messages
    mold[_EXPECTED] = next_seq


@njit(cache=True, nogil=True, _nrt=False)
def own_packets(mold):
    """Packets of the followed session so far (the others are counted as mismatches)."""
    return mold[_PACKETS] - mold[_MISMATCH]


@njit(cache=True, nogil=True, _nrt=False)
def _same_name(a, a_off, b, b_off):
    for i in range(SESSION_LEN):
        if a[a_off + i] != b[b_off + i]:
            return False
    return True


@njit(cache=True, nogil=True, _nrt=False)
def stash_session(rec, mold, sessions, buf, start, size):
    """A packet of another session than the one followed (counted as a mismatch). One of a
    session followed before is dropped (a session, once ended, sends no more). Any other is
    the candidate: its packets are kept in the stash (as many as fit; one too big is left to
    be asked for again) while they come in a row, none of the followed session between.
    Returns True when the owner is to follow it (``NEW_SESSION`` set): after FOLLOW_AFTER
    such packets, or at the first one when the followed session has ended or gone silent (a
    venue that restarted). A stray packet (another feed on the port, a corrupted name) is
    never followed."""
    for r in range(min(rec[_SESSIONS], RETIRED_KEPT)):
        if _same_name(sessions, r * SESSION_LEN, buf, start):
            return False
    own = own_packets(mold)
    if not (rec[_CAND_PKTS] > 0 and rec[_CAND_MARK] == own
            and _same_name(sessions, CANDIDATE_SESSION, buf, start)):
        for i in range(SESSION_LEN):  # a new candidate
            sessions[CANDIDATE_SESSION + i] = buf[start + i]
        rec[_CAND_PKTS] = 0
        rec[_STASHED] = 0
        rec[_STASHED_PKTS] = 0
    rec[_CAND_MARK] = own
    rec[_CAND_PKTS] += 1
    at = SESSION_PACKET + rec[_STASHED]
    if at + 2 + size <= sessions.shape[0]:
        sessions[at] = (size >> 8) & 0xFF
        sessions[at + 1] = size & 0xFF
        for k in range(size):
            sessions[at + 2 + k] = buf[start + k]
        rec[_STASHED] += 2 + size
        rec[_STASHED_PKTS] += 1
    if rec[_CAND_PKTS] >= FOLLOW_AFTER or mold[_EOS] > 0 or rec[_SILENT] != 0:
        rec[_NEW_SESSION] = 1
        return True
    return False


@njit(cache=True, nogil=True, _nrt=False)
def follow_session(rec, mold, session, sessions):
    """Follow the candidate session (:func:`stash_session`): the one followed is retired, the
    candidate expected from its first message (MoldUDP64 numbers each session from 1),
    whatever was held or asked for is dropped and the feed is exact (with books the owner
    has emptied). The candidate's packets were counted as mismatches: the ones in the stash
    are counted again as the owner hands them back."""
    slot = (rec[_SESSIONS] % RETIRED_KEPT) * SESSION_LEN
    for i in range(SESSION_LEN):
        sessions[slot + i] = session[i]
        session[i] = sessions[CANDIDATE_SESSION + i]
    rec[_NEW_SESSION] = 0
    rec[_SESSIONS] += 1
    rec[_STATE] = EXACT
    rec[_HELD] = 0
    rec[_HELD_BYTES] = 0
    rec[_REQ_SEQ] = -1
    rec[_ATTEMPTS] = 0
    rec[_KNOWN_END] = 1
    rec[_EXACT_UPTO] = 0
    mold[_EXPECTED] = 1
    mold[_EOS] = 0
    mold[_PACKETS] -= rec[_STASHED_PKTS]
    mold[_MISMATCH] -= rec[_CAND_PKTS]
    rec[_CAND_PKTS] = 0
    rec[_STASHED] = 0  # (the owner copied the stash out first)
    rec[_STASHED_PKTS] = 0
    rec[_SILENT] = 0
    rec[_SEEN_PACKETS] = own_packets(mold)


@njit(cache=True, nogil=True, _nrt=False)
def watch_silence(rec, mold, now_ns):
    """On an idle turn: the feed is silent once nothing of the followed session (data or
    heartbeat) has arrived for ``SILENCE_NS`` since its last packet; not before the first
    packet, nor after the end of session. Returns whether it is silent now."""
    p = own_packets(mold)
    if p != rec[_SEEN_PACKETS] or rec[_QUIET_SINCE] == 0:
        rec[_SEEN_PACKETS] = p
        rec[_QUIET_SINCE] = now_ns
        rec[_SILENT] = 0
    elif (rec[_SILENT] == 0 and rec[_SILENCE_NS] > 0 and p > 0 and mold[_EOS] == 0
          and now_ns - rec[_QUIET_SINCE] > rec[_SILENCE_NS]):
        rec[_SILENT] = 1
        rec[_SILENCES] += 1
    return rec[_SILENT] != 0


@njit(cache=True, nogil=True, _nrt=False)
def heard(rec, mold):
    """A silent feed heard from again (a packet of its session): no longer silent (the next
    idle turn starts timing the quiet afresh)."""
    if rec[_SILENT] != 0 and own_packets(mold) != rec[_SEEN_PACKETS]:
        rec[_SILENT] = 0
