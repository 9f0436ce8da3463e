"""Compiled SoupBinTCP framing: find the packets in a TCP byte stream, write packet headers.

A TCP read may end in the middle of a packet; :func:`scan_packets` then stops before it with
``NEED_MORE`` and returns its offset, and the caller keeps those bytes for the next read.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .layout import HEADER_LEN, UNKNOWN, VARIABLE

OK = 0
NEED_MORE = 1       # the last packet runs past the end of the input: read more
EMPTY_PACKET = 2    # a length of 0: there is not even a type byte
UNKNOWN_TYPE = 3
LENGTH_MISMATCH = 4  # a fixed-size packet type with another length
OUT_FULL = 5        # the output array is full: drain it and call again from the offset

STATUS_TEXT = {
    OK: "ok",
    NEED_MORE: "truncated packet: it runs past the end of the input",
    EMPTY_PACKET: "packet length 0: a packet has at least its type byte",
    UNKNOWN_TYPE: "unknown SoupBinTCP packet type",
    LENGTH_MISMATCH: "packet length does not match its type's fixed length",
    OUT_FULL: "packet buffer full",
}


@njit(cache=True, nogil=True, inline="always")
def next_packet(buf, p, end, payload_lengths):
    """The packet whose length field is at ``buf[p]``, checked: ``(status, type, length)``
    with status OK, NEED_MORE, EMPTY_PACKET, UNKNOWN_TYPE or LENGTH_MISMATCH; on OK the packet
    is ``buf[p:p + 2 + length]`` and its payload starts at ``p + HEADER_LEN``. Every walker of
    a SoupBinTCP stream (here, and OUCH's) frames through this."""
    if end - p < 2:  # the length field itself is split
        return NEED_MORE, 0, 0
    length = (np.int64(buf[p]) << 8) | np.int64(buf[p + 1])
    if length == 0:
        return EMPTY_PACKET, 0, 0
    if p + 2 + length > end:
        return NEED_MORE, 0, length
    t = np.int64(buf[p + 2])
    want = payload_lengths[t]
    if want == UNKNOWN:
        return UNKNOWN_TYPE, t, length
    if want != VARIABLE and length - 1 != want:
        return LENGTH_MISMATCH, t, length
    return OK, t, length


@njit(cache=True, nogil=True)
def scan_packets(buf, start, end, payload_lengths, out):
    """Walk the packets of ``buf[start:end]`` into ``out`` (PACKET_DTYPE records).

    Returns ``(count, status, offset)``: ``offset`` is where the next packet starts (on OK and
    NEED_MORE), or where the bad packet starts (its length field) on an error."""
    p = start
    n = 0
    while p < end:
        status, t, length = next_packet(buf, p, end, payload_lengths)
        if status != OK:
            return n, status, p
        if n >= out.shape[0]:
            return n, OUT_FULL, p
        out[n]["type"] = t
        out[n]["payload_at"] = p + HEADER_LEN
        out[n]["payload_len"] = length - 1
        n += 1
        p += 2 + length
    return n, OK, p


@njit(cache=True, nogil=True)
def put_header(buf, p, packet_type, payload_len):
    """Write a packet header at ``buf[p]``; return where the payload goes (``p + 3``)."""
    length = payload_len + 1
    buf[p] = (length >> 8) & 0xFF
    buf[p + 1] = length & 0xFF
    buf[p + 2] = packet_type
    return p + HEADER_LEN
