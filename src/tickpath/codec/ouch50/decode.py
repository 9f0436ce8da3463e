"""Compiled OUCH 5.0 checks and decoder.

One OUCH message is exactly one SoupBinTCP data packet's payload, so every kernel takes the
message's bounds ``[start, end)`` and checks that the message fills them: the fixed part, then
the Appendage Length, then exactly that many bytes of TagValue options. Options are walked
element by element (each must have a length of at least 1 and end inside the appendage; a
known tag must have its value width); an unknown tag is skipped by its length, as a later
revision of the specification may add tags.

Kernels return status codes (names in STATUS_TEXT) and the offset of the fault; they never
raise on data. :class:`tickpath.codec.ouch50.OutboundDecoder` turns them into ``OuchError``.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ..soupbintcp.framing import NEED_MORE as SOUP_NEED_MORE
from ..soupbintcp.framing import OK as SOUP_OK
from ..soupbintcp.framing import next_packet
from ..soupbintcp.layout import HEADER_LEN as SOUP_HEADER

OK = 0
EMPTY = 1            # no bytes at all: not even the type
UNKNOWN_TYPE = 2
TRUNCATED = 3        # shorter than the type's fixed part
LENGTH_MISMATCH = 4  # the Appendage Length disagrees with the bytes the message has
BAD_OPTION = 5       # a TagValue of length 0, or one running past the appendage
OPTION_WIDTH = 6     # a known tag whose value has another width than Appendix B's
OUT_FULL = 7         # the output array is full: drain it and call again from the offset
NEED_MORE = 8        # (stream) the last SoupBinTCP packet runs past the input
BAD_PACKET = 9       # (stream) a malformed SoupBinTCP packet

STATUS_TEXT = {
    OK: "ok",
    EMPTY: "empty message: not even a type byte",
    UNKNOWN_TYPE: "unknown message type",
    TRUNCATED: "message shorter than its type's fixed part",
    LENGTH_MISMATCH: "Appendage Length does not match the bytes after it (or bytes follow a "
                     "message that has no appendage)",
    BAD_OPTION: "malformed TagValue option (length 0, or it runs past the appendage)",
    OPTION_WIDTH: "option value has the wrong width for its tag",
    OUT_FULL: "record buffer full",
    NEED_MORE: "truncated SoupBinTCP packet: it runs past the end of the input",
    BAD_PACKET: "malformed SoupBinTCP packet",
}

USER_REF_IDX_TAG = 28

_NONE, _REQUIRED, _OPTIONAL = 0, 1, 2  # layout.APPENDAGE_CODES


@njit(cache=True, nogil=True)
def _be(buf, p, width):
    v = np.uint64(0)
    for i in range(width):
        v = (v << np.uint64(8)) | np.uint64(buf[p + i])
    return v


@njit(cache=True, nogil=True)
def scan_options(buf, p, end, widths):
    """Check the TagValue elements of ``buf[p:end]``. Returns ``(status, offset, count,
    user_ref_idx)``: the offset of the bad element, else ``end``; UserRefIdx or -1."""
    count = 0
    idx = -1
    while p < end:
        length = np.int64(buf[p])
        if length == 0 or p + 1 + length > end:
            return BAD_OPTION, p, count, idx
        tag = buf[p + 1]
        w = widths[tag]
        if w != 0 and length - 1 != w:
            return OPTION_WIDTH, p, count, idx
        if tag == USER_REF_IDX_TAG:
            idx = np.int64(buf[p + 2])
        count += 1
        p += 1 + length
    return OK, p, count, idx


@njit(cache=True, nogil=True)
def check_message(buf, start, end, lengths, appendage, widths):
    """Check the message in ``buf[start:end]`` against its type's table row. Returns
    ``(status, offset, options_at, options_len, user_ref_idx)``; ``offset`` names the faulty
    byte (the type byte, the Appendage Length, or the bad option). ``options_at`` is -1
    when the message has no Appendage Length."""
    if end <= start:
        return EMPTY, start, -1, 0, -1
    t = buf[start]
    fixed = np.int64(lengths[t])
    if fixed == 0:
        return UNKNOWN_TYPE, start, -1, 0, -1
    mode = appendage[t]
    size = end - start
    if mode == _NONE:
        if size < fixed:
            return TRUNCATED, start, -1, 0, -1
        if size > fixed:
            return LENGTH_MISMATCH, start + fixed, -1, 0, -1  # bytes after a fixed message
        return OK, start, -1, 0, -1
    if mode == _OPTIONAL and size == fixed - 2:
        return OK, start, -1, 0, -1  # sent without an Appendage Length
    if size < fixed:
        return TRUNCATED, start, -1, 0, -1
    at = start + fixed
    app = np.int64(_be(buf, at - 2, 2))
    if app != end - at:
        return LENGTH_MISMATCH, at - 2, at, app, -1
    status, off, _count, idx = scan_options(buf, at, end, widths)
    return status, (off if status != OK else start), at, app, idx


@njit(cache=True, nogil=True)
def decode_outbound(buf, start, end, lengths, appendage, widths, rec):
    """Check and decode the outbound message in ``buf[start:end]`` into ``rec`` (OUT_DTYPE).
    Returns ``(status, offset)``; on an error ``rec`` holds nothing meaningful."""
    status, off, opt_at, opt_len, idx = check_message(buf, start, end, lengths, appendage,
                                                      widths)
    if status != OK:
        return status, off
    t = buf[start]
    rec["type"] = t
    rec["timestamp"] = _be(buf, start + 1, 8)
    rec["length"] = end - start
    rec["options_at"] = opt_at
    rec["options_len"] = opt_len
    rec["user_ref_idx"] = idx
    rec["side"] = 0
    rec["time_in_force"] = 0
    rec["display"] = 0
    rec["capacity"] = 0
    rec["order_state"] = 0
    rec["reason"] = 0
    rec["liquidity_flag"] = 0
    rec["event_code"] = 0
    rec["user_ref_num"] = 0
    rec["orig_user_ref_num"] = 0
    rec["quantity"] = 0
    rec["symbol"] = 0
    rec["price"] = 0
    rec["order_reference_number"] = 0
    rec["match_number"] = 0
    for i in range(14):
        rec["cl_ord_id"][i] = 0
    b = start + 9  # after type and timestamp
    if t == 83:  # S system event
        rec["event_code"] = buf[b]
        return OK, start
    if t == 81:  # Q account query response: the next UserRefNum
        rec["user_ref_num"] = _be(buf, b, 4)
        return OK, start
    if t == 85:  # U replaced: the original UserRefNum comes first
        rec["orig_user_ref_num"] = _be(buf, b, 4)
        b += 4
    rec["user_ref_num"] = _be(buf, b, 4)
    b += 4
    if t == 65 or t == 85:  # A accepted, U replaced
        rec["side"] = buf[b]
        rec["quantity"] = _be(buf, b + 1, 4)
        rec["symbol"] = _be(buf, b + 5, 8)
        rec["price"] = _be(buf, b + 13, 8)
        rec["time_in_force"] = buf[b + 21]
        rec["display"] = buf[b + 22]
        rec["order_reference_number"] = _be(buf, b + 23, 8)
        rec["capacity"] = buf[b + 31]
        rec["order_state"] = buf[b + 34]
        for i in range(14):
            rec["cl_ord_id"][i] = buf[b + 35 + i]
    elif t == 69:  # E executed
        rec["quantity"] = _be(buf, b, 4)
        rec["price"] = _be(buf, b + 4, 8)
        rec["liquidity_flag"] = buf[b + 12]
        rec["match_number"] = _be(buf, b + 13, 8)
    elif t == 67:  # C canceled
        rec["quantity"] = _be(buf, b, 4)
        rec["reason"] = buf[b + 4]
    elif t == 68:  # D AIQ canceled: decrement shares, reason, prevented, price, flag
        rec["quantity"] = _be(buf, b, 4)
        rec["reason"] = buf[b + 4]
        rec["price"] = _be(buf, b + 9, 8)
        rec["liquidity_flag"] = buf[b + 17]
    elif t == 74:  # J rejected: a 2-byte numeric reason
        rec["reason"] = _be(buf, b, 2)
        for i in range(14):
            rec["cl_ord_id"][i] = buf[b + 2 + i]
    elif t == 66:  # B broken trade
        rec["match_number"] = _be(buf, b, 8)
        rec["reason"] = buf[b + 8]
        for i in range(14):
            rec["cl_ord_id"][i] = buf[b + 9 + i]
    elif t == 84:  # T priority update
        rec["price"] = _be(buf, b, 8)
        rec["display"] = buf[b + 8]
        rec["order_reference_number"] = _be(buf, b + 9, 8)
    elif t == 77:  # M modified
        rec["side"] = buf[b]
        rec["quantity"] = _be(buf, b + 1, 4)
    elif t == 82:  # R restated
        rec["reason"] = buf[b]
    elif t == 88:  # X mass cancel response: firm and symbol
        rec["symbol"] = _be(buf, b + 4, 8)
    # P cancel pending, I cancel reject, G / K order entry responses: UserRefNum only
    return OK, start


@njit(cache=True, nogil=True)
def decode_stream(buf, start, end, soup_lengths, lengths, appendage, widths, out, counts):
    """Decode the outbound OUCH messages of a SoupBinTCP byte stream from the exchange.

    Sequenced Data packets are decoded into ``out``; other packets are counted by type in
    ``counts`` (256 int64, indexed by packet type byte). Returns ``(n, status, offset)``:
    the offset where to resume (OK, NEED_MORE, OUT_FULL), or of the fault."""
    p = start
    n = 0
    while p < end:
        framed, t, length = next_packet(buf, p, end, soup_lengths)
        if framed == SOUP_NEED_MORE:
            return n, NEED_MORE, p
        if framed != SOUP_OK:
            return n, BAD_PACKET, p
        if t == 83:  # 'S' sequenced data: one OUCH message
            if n >= out.shape[0]:
                return n, OUT_FULL, p
            status, off = decode_outbound(buf, p + SOUP_HEADER, p + 2 + length, lengths,
                                          appendage, widths, out[n])
            if status != OK:
                return n, status, off
            n += 1
        counts[t] += 1
        p += 2 + length
    return n, OK, p


@njit(cache=True, nogil=True)
def packet_start(buf, start, fault):
    """Offset of the SoupBinTCP packet that holds byte ``fault``, walking whole packets from
    ``start`` (the packets before a fault :func:`decode_stream` reported are well formed).
    Returns ``fault`` itself when no packet boundary lies before it."""
    p = start
    while p + 2 <= fault:
        nxt = p + 2 + ((np.int64(buf[p]) << 8) | np.int64(buf[p + 1]))
        if nxt > fault:
            return p
        p = nxt
    return p if p <= fault else fault
