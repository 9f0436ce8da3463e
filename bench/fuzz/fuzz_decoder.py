"""Fuzz target ``decoder``: the compiled ITCH 5.0 decoder (``decode_batch``) and boundary
search (``find_resync``) on any bytes, and the plain-Python view (``message.fields``) of what
the decoder accepted.

Invariants: a known status, the returned offset inside ``[start, end]``, no event written past
the array handed in, OK only at ``end``; each event's offset points at a message of its type
whose header fields (locate, tracking, timestamp) the plain-Python view reads the same; the
decoded prefix decodes again to the same events; a boundary found by the search starts a
run of blocks the decoder accepts (``RUN`` of them, or up to the end).
"""

from __future__ import annotations

import numpy as np
from streams import Choices, mutated_stream

from tickpath.codec.itch50 import decode as dec
from tickpath.codec.itch50.layout import EVENT_DTYPE, LENGTHS
from tickpath.codec.itch50.message import fields
from tickpath.codec.itch50.resync import FOUND, NEED_MORE, NOT_FOUND, RUN, find_resync

NAME = "decoder"
_OUT = np.zeros(34, EVENT_DTYPE)
_AGAIN = np.zeros(32, EVENT_DTYPE)
_SENTINEL = np.zeros(2, EVENT_DTYPE)
_SENTINEL["type"] = 0xEE


def setup() -> None:
    one_input(b"\x01\x00\x00\x00")


def one_input(data: bytes) -> None:
    c = Choices(data)
    mode = c.byte()
    cap = c.byte() % 33
    base = c.byte() << 40 | c.byte()
    raw = mutated_stream(c, 1) if mode & 1 else c.rest()
    buf = np.frombuffer(raw, np.uint8)
    end = len(raw) - (mode >> 1) % 8 if mode & 16 else len(raw)
    end = max(0, end)
    start = min(end, (mode >> 5))
    out = _OUT[:cap + 2]
    out[cap:] = _SENTINEL
    count, status, offset = dec.decode_batch(buf, start, end, LENGTHS, out[:cap], 0, base)
    count, status, offset = int(count), int(status), int(offset)
    assert status in dec.STATUS_TEXT
    assert start <= offset <= end and 0 <= count <= cap
    assert (out[cap:] == _SENTINEL).all(), "wrote past the event array"
    if status == dec.OK:
        assert offset == end
    for ev in out[:count]:
        at = int(ev["offset"]) - base
        assert start + 2 <= at <= offset - int(LENGTHS[ev["type"]])
        view = fields(raw, at)
        assert ord(view["message_type"]) == int(ev["type"])
        assert (view["stock_locate"], view["tracking_number"], view["timestamp"]) == (
            int(ev["locate"]), int(ev["tracking"]), int(ev["timestamp"]))
    if count:
        n2, st2, off2 = dec.decode_batch(buf, start, offset, LENGTHS, _AGAIN, 0, base)
        assert (int(n2), int(st2), int(off2)) == (count, dec.OK, offset)
        assert (_AGAIN[:count] == out[:count]).all()
    for final in (False, True):
        st, q = find_resync(buf, start, end, LENGTHS, RUN, final)
        st, q = int(st), int(q)
        assert st in (FOUND, NEED_MORE, NOT_FOUND) and start <= q <= end
        assert st != NOT_FOUND or (final and q == end)
        if st == FOUND:
            n3, st3, off3 = dec.decode_batch(buf, q, end, LENGTHS, _AGAIN, 0, 0)
            n3, st3 = int(n3), int(st3)
            # a whole run decodes, or (final) every block up to the end or its end marker
            assert n3 >= RUN or (final and n3 >= 1 and (
                st3 == dec.OK or (int(off3) + 2 == end and raw[end - 2:end] == b"\x00\x00")))
