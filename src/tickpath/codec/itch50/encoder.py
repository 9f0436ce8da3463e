"""Compiled ITCH 5.0 encoders, used by the venue simulator and the tests.

``encode_event`` writes one message from a normalized event record (see ``layout.EVENT_DTYPE``)
for every type whose fields the event carries completely; the other types (stock directory,
trading action, NOII, ...) are rare and cold, and are encoded from Python by
:func:`tickpath.codec.itch50.message.encode`.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def put16(buf, p, v):
    buf[p] = (v >> 8) & 0xFF
    buf[p + 1] = v & 0xFF


@njit(cache=True, nogil=True)
def put32(buf, p, v):
    put16(buf, p, (v >> 16) & 0xFFFF)
    put16(buf, p + 2, v & 0xFFFF)


@njit(cache=True, nogil=True)
def put48(buf, p, v):
    put16(buf, p, (v >> 32) & 0xFFFF)
    put32(buf, p + 2, v & 0xFFFFFFFF)


@njit(cache=True, nogil=True)
def put64(buf, p, v):
    put32(buf, p, (v >> 32) & 0xFFFFFFFF)
    put32(buf, p + 4, v & 0xFFFFFFFF)


@njit(cache=True, nogil=True)
def _header(buf, p, t, locate, tracking, timestamp):
    buf[p] = t
    put16(buf, p + 1, locate)
    put16(buf, p + 3, tracking)
    put48(buf, p + 5, timestamp)


@njit(cache=True, nogil=True)
def encode_event(buf, p, ev):
    """Write the message for ``ev`` at ``buf[p]``; return its length, or 0 for a type that
    needs fields the event does not carry."""
    t = ev["type"]
    _header(buf, p, t, np.uint64(ev["locate"]), np.uint64(ev["tracking"]), ev["timestamp"])
    b = p + 11
    if t == 65 or t == 70:  # A, F
        put64(buf, b, ev["ref"])
        buf[b + 8] = ev["side"]
        put32(buf, b + 9, ev["shares"])
        put64(buf, b + 13, ev["stock"])
        put32(buf, b + 21, ev["price"])
        if t == 70:
            put32(buf, b + 25, np.uint64(ev["attribution"]))
            return 40
        return 36
    if t == 68:  # D
        put64(buf, b, ev["ref"])
        return 19
    if t == 69:  # E
        put64(buf, b, ev["ref"])
        put32(buf, b + 8, ev["shares"])
        put64(buf, b + 12, ev["match"])
        return 31
    if t == 88:  # X
        put64(buf, b, ev["ref"])
        put32(buf, b + 8, ev["shares"])
        return 23
    if t == 85:  # U
        put64(buf, b, ev["ref"])
        put64(buf, b + 8, ev["new_ref"])
        put32(buf, b + 16, ev["shares"])
        put32(buf, b + 20, ev["price"])
        return 35
    if t == 67:  # C
        put64(buf, b, ev["ref"])
        put32(buf, b + 8, ev["shares"])
        put64(buf, b + 12, ev["match"])
        buf[b + 20] = ev["flag"]
        put32(buf, b + 21, ev["price"])
        return 36
    if t == 80:  # P
        put64(buf, b, ev["ref"])
        buf[b + 8] = ev["side"]
        put32(buf, b + 9, ev["shares"])
        put64(buf, b + 13, ev["stock"])
        put32(buf, b + 21, ev["price"])
        put64(buf, b + 25, ev["match"])
        return 44
    if t == 81:  # Q
        put64(buf, b, ev["shares"])
        put64(buf, b + 8, ev["stock"])
        put32(buf, b + 16, ev["price"])
        put64(buf, b + 20, ev["match"])
        buf[b + 28] = ev["flag"]
        return 40
    if t == 66:  # B
        put64(buf, b, ev["match"])
        return 19
    if t == 83 or t == 87:  # S, W
        buf[b] = ev["flag"]
        return 12
    if t == 89 or t == 78:  # Y, N
        put64(buf, b, ev["stock"])
        buf[b + 8] = ev["flag"]
        return 20
    if t == 104:  # h operational halt: market code rides in side, the action in flag
        put64(buf, b, ev["stock"])
        buf[b + 8] = ev["side"]
        buf[b + 9] = ev["flag"]
        return 21
    return 0


@njit(cache=True, nogil=True)
def encode_blocks(events, n, buf, p):
    """Write ``events[:n]`` as length-prefixed blocks from ``buf[p]``; return the end offset,
    or -1 - i if event i has a type ``encode_event`` cannot write."""
    for i in range(n):
        m = encode_event(buf, p + 2, events[i])
        if m == 0:
            return -1 - i
        put16(buf, p, m)
        p += 2 + m
    return p


@njit(cache=True, nogil=True)
def restamp_blocks(buf, start, end, timestamp):
    """Overwrite the timestamp of every message in the blocks ``buf[start:end]`` (a venue
    stamping a packet with its send time). Returns the number of messages stamped."""
    p = start
    m = 0
    while p + 2 <= end:
        n = (np.int64(buf[p]) << 8) | np.int64(buf[p + 1])
        if p + 2 + n > end or n < 11:
            break
        put48(buf, p + 2 + 5, timestamp)
        p += 2 + n
        m += 1
    return m
