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
BAD = 2  # malformed or another session: counted, skipped

# counter indices (mirrors layout.Counter; plain ints for nopython code)
_PACKETS, _MESSAGES, _HEARTBEATS, _EOS, _GAPS, _GAP_MSGS, _DUP_PKTS, _DUP_MSGS = range(8)
_MALFORMED, _SESSION_MISMATCH, _EXPECTED = 8, 9, 10


@njit(cache=True, nogil=True)
def accept(buf, start, end, session, counters):
    """Sequence one packet in ``buf[start:end]``.

    ``session`` is a 10-byte array: all zeros until the first packet fixes it. Returns
    ``(verdict, offset, count)``: on NEW, the blocks of the new messages start at ``offset`` and
    ``count`` of them follow. Gaps are counted (recovery is the caller's business) and the
    expected sequence number moves past them.
    """
    s = np.uint64(start)
    e = np.uint64(end)
    if e - s < np.uint64(HEADER_LEN) or e < s:
        counters[_MALFORMED] += 1
        return BAD, start, 0
    counters[_PACKETS] += 1
    seq = np.int64(be64(buf, s + np.uint64(SEQUENCE_OFFSET)))
    count = np.int64(be16(buf, s + np.uint64(COUNT_OFFSET)))
    # check the blocks add up before acting on anything (session and sequence included)
    if count != END_OF_SESSION:
        p = s + np.uint64(HEADER_LEN)
        for _ in range(count):
            if p + np.uint64(2) > e:
                counters[_MALFORMED] += 1
                return BAD, start, 0
            p += np.uint64(2) + be16(buf, p)
        if p != e:
            counters[_MALFORMED] += 1
            return BAD, start, 0
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
                return BAD, start, 0
    if counters[_EXPECTED] == 0:  # join the stream where it is
        counters[_EXPECTED] = seq
    expected = counters[_EXPECTED]
    if count == END_OF_SESSION or count == 0:
        # both carry the next sequence number: one beyond ours means messages we never saw
        if count == 0:
            counters[_HEARTBEATS] += 1
        else:
            counters[_EOS] += 1
        if seq > expected:
            counters[_GAPS] += 1
            counters[_GAP_MSGS] += seq - expected
            counters[_EXPECTED] = seq
        return SKIP, start, 0
    if seq + count <= expected:
        counters[_DUP_PKTS] += 1
        counters[_DUP_MSGS] += count
        return SKIP, start, 0
    p = s + np.uint64(HEADER_LEN)
    skip = 0
    if seq < expected:  # partial overlap: skip the messages already seen
        skip = expected - seq
        counters[_DUP_MSGS] += skip
        for _ in range(skip):
            p += np.uint64(2) + be16(buf, p)
    elif seq > expected:
        counters[_GAPS] += 1
        counters[_GAP_MSGS] += seq - expected
    counters[_EXPECTED] = seq + count
    counters[_MESSAGES] += count - skip
    return NEW, np.int64(p), count - skip


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
