"""Compiled MoldUDP64 kernels: accept a downstream packet, and pack message blocks into packets."""

from __future__ import annotations

import numpy as np
from numba import njit

from ...codec.itch50.decode import be16, be64
from ...codec.itch50.encoder import put16, put64
from .layout import (
    COUNT_OFFSET,
    END_OF_SESSION,
    HEADER_LEN,
    SEQUENCE_OFFSET,
    SESSION_LEN,
)

# accept() verdicts
NEW = 0  # process blocks from the returned offset
SKIP = 1  # nothing new: heartbeat, duplicate, end of session
BAD = 2  # malformed: counted, skipped
AHEAD = 3  # beyond the expected sequence number: nothing sequenced (accept_next only)
OTHER = 4  # another session's packet: counted (SESSION_MISMATCH), skipped; a live feed may
#            follow it as the venue's new session (tickpath.feed.itch.step.other_session)

# counter indices (mirrors layout.Counter; plain ints for nopython code)
_PACKETS, _MESSAGES, _HEARTBEATS, _EOS, _GAPS, _GAP_MSGS, _DUP_PKTS, _DUP_MSGS = range(8)
_MALFORMED, _SESSION_MISMATCH, _EXPECTED = 8, 9, 10


@njit(cache=True, nogil=True)
def check(buf, start, end, session, counters):
    """Check the packet in ``buf[start:end]``: the blocks add up and the session is ours (the
    first packet fixes it). Returns ``(verdict, sequence, count)``: NEW, BAD (malformed) or
    OTHER (another session), the last two counted."""
    s = np.uint64(start)
    e = np.uint64(end)
    if e - s < np.uint64(HEADER_LEN) or e < s:
        counters[_MALFORMED] += 1
        return BAD, np.int64(0), np.int64(0)
    counters[_PACKETS] += 1
    seq = np.int64(be64(buf, s + np.uint64(SEQUENCE_OFFSET)))
    count = np.int64(be16(buf, s + np.uint64(COUNT_OFFSET)))
    # check the blocks add up before acting on anything (session and sequence included)
    if count != END_OF_SESSION:
        p = s + np.uint64(HEADER_LEN)
        for _ in range(count):
            if p + np.uint64(2) > e:
                counters[_MALFORMED] += 1
                return BAD, seq, count
            p += np.uint64(2) + be16(buf, p)
        if p != e:
            counters[_MALFORMED] += 1
            return BAD, seq, count
    fresh = True
    for i in range(SESSION_LEN):
        if session[i] != 0:
            fresh = False
    if fresh:
        for i in range(SESSION_LEN):
            session[i] = buf[s + np.uint64(i)]
    else:
        for i in range(SESSION_LEN):
            if session[i] != buf[s + np.uint64(i)]:
                counters[_SESSION_MISMATCH] += 1
                return OTHER, seq, count
    return NEW, seq, count


@njit(cache=True, nogil=True)
def accept_next(buf, start, end, session, counters):
    """Sequence one packet in ``buf[start:end]`` without moving past a gap.

    Returns ``(verdict, offset, count)``: NEW with the ``count`` new blocks from ``offset``
    (the expected sequence number moves past them); SKIP (heartbeat, end of session,
    duplicate); BAD; OTHER (another session's packet); or AHEAD, with ``offset`` the
    packet's sequence number and ``count`` its message count: it starts beyond the expected
    sequence number (a heartbeat that announces one beyond it too) and nothing of it was
    sequenced, the caller holds it or moves on.
    """
    verdict, seq, count = check(buf, start, end, session, counters)
    if verdict != NEW:
        return verdict, start, 0
    if counters[_EXPECTED] == 0:  # join the stream where it is
        counters[_EXPECTED] = seq
    expected = counters[_EXPECTED]
    if seq > expected:
        return AHEAD, seq, count
    if count == END_OF_SESSION or count == 0:
        if count == 0:
            counters[_HEARTBEATS] += 1
        else:
            counters[_EOS] += 1
        return SKIP, start, 0
    if seq + count <= expected:
        counters[_DUP_PKTS] += 1
        counters[_DUP_MSGS] += count
        return SKIP, start, 0
    p = np.uint64(start) + np.uint64(HEADER_LEN)
    skip = expected - seq
    if skip > 0:  # partial overlap: skip the messages already seen
        counters[_DUP_MSGS] += skip
        for _ in range(skip):
            p += np.uint64(2) + be16(buf, p)
    counters[_EXPECTED] = seq + count
    counters[_MESSAGES] += count - skip
    return NEW, np.int64(p), count - skip


@njit(cache=True, nogil=True)
def accept(buf, start, end, session, counters):
    """Sequence one packet in ``buf[start:end]``, moving past gaps (no recovery: files, and a
    feed that has given up).

    ``session`` is a 10-byte array: all zeros until the first packet fixes it. Returns
    ``(verdict, offset, count)``: on NEW, the blocks of the new messages start at ``offset`` and
    ``count`` of them follow. A gap is counted and the expected sequence number moves past it.
    """
    verdict, off, count = accept_next(buf, start, end, session, counters)
    if verdict != AHEAD:
        return verdict, off, count
    seq = off
    counters[_GAPS] += 1
    counters[_GAP_MSGS] += seq - counters[_EXPECTED]
    counters[_EXPECTED] = seq
    counters[_PACKETS] -= 1  # checked a second time: counted once
    return accept_next(buf, start, end, session, counters)


@njit(cache=True, nogil=True)
def pack(blocks, start, end, session, seq, max_payload, max_messages, out, out_pos, bounds,
         counts):
    """Pack length-prefixed blocks ``blocks[start:end]`` into MoldUDP64 packets.

    Packets are written back to back into ``out`` from ``out_pos``; packet i spans
    ``out[bounds[i]:bounds[i+1]]`` and carries ``counts[i]`` messages. A packet closes when the
    next block would pass ``max_payload`` bytes (header included) or it holds ``max_messages``.
    Returns ``(packets, next_seq, blocks_offset, out_offset)``; stops early when ``out`` or
    ``bounds`` is full, so the caller can send and call again from the returned offsets.
    """
    p = start
    q = out_pos
    npk = 0
    bounds[0] = q
    maxpk = bounds.shape[0] - 1
    while p < end and npk < maxpk:
        first = be16(blocks, np.uint64(p))
        if q + HEADER_LEN + 2 + first > out.shape[0]:
            break
        h = q
        for i in range(SESSION_LEN):
            out[h + i] = session[i]
        put64(out, h + SEQUENCE_OFFSET, np.uint64(seq))
        q += HEADER_LEN
        m = 0
        while p < end and m < max_messages:
            n = 2 + np.int64(be16(blocks, np.uint64(p)))
            if m > 0 and (q - h + n > max_payload or q + n > out.shape[0]):
                break
            out[q:q + n] = blocks[p:p + n]
            q += n
            p += n
            m += 1
        put16(out, h + COUNT_OFFSET, m)
        counts[npk] = m
        seq += m
        npk += 1
        bounds[npk] = q
    return npk, seq, p, q


@njit(cache=True, nogil=True)
def write_header(out, pos, session, seq, count):
    """A bare header: a heartbeat (count 0) or end of session (count 0xFFFF)."""
    for i in range(SESSION_LEN):
        out[pos + i] = session[i]
    put64(out, pos + SEQUENCE_OFFSET, np.uint64(seq))
    put16(out, pos + COUNT_OFFSET, count)
    return pos + HEADER_LEN
