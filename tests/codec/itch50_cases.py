"""Helpers shared by the ITCH 5.0 codec tests: block buffers, the expected normalized event of
a message (straight from the layout table and EVENT_MAP), a plain-Python reference framing
decoder, and hypothesis strategies for field values."""

from __future__ import annotations

from typing import Any

import numpy as np
from hypothesis import strategies as st

from tickpath.codec.itch50.decode import LENGTH_MISMATCH, NEED_MORE, OK, OUT_FULL, UNKNOWN_TYPE
from tickpath.codec.itch50.layout import EVENT_DTYPE, EVENT_MAP, MESSAGES

TYPES = sorted(MESSAGES)
STATUSES = {OK, NEED_MORE, UNKNOWN_TYPE, LENGTH_MISMATCH, OUT_FULL}
PRINTABLE = "".join(chr(c) for c in range(0x20, 0x7F))


def block(msg: bytes) -> bytes:
    return len(msg).to_bytes(2, "big") + msg


def blocks(msgs: list[bytes]) -> np.ndarray:
    """Length-prefixed blocks (2-byte big-endian length + message) as a uint8 array."""
    return np.frombuffer(b"".join(block(m) for m in msgs), np.uint8).copy()


def expected_event(raw: bytes, offset: int) -> dict[str, int]:
    """The event the decoder must write for message ``raw`` found at stream ``offset``."""
    msg = MESSAGES[chr(raw[0])]
    ev = dict.fromkeys(EVENT_DTYPE.names, 0)
    ev["type"] = raw[0]
    ev["locate"] = int.from_bytes(raw[1:3], "big")
    ev["tracking"] = int.from_bytes(raw[3:5], "big")
    ev["timestamp"] = int.from_bytes(raw[5:11], "big")
    for ev_field, msg_field in EVENT_MAP[msg.type].items():
        f = msg.field(msg_field)
        ev[ev_field] = int.from_bytes(raw[f.offset:f.offset + f.width], "big")
    ev["offset"] = offset
    return ev


def event_dict(rec: np.void) -> dict[str, int]:
    return {name: int(rec[name]) for name in EVENT_DTYPE.names}


def ref_decode(data: bytes, start: int, end: int, cap: int, base: int = 0,
               ) -> tuple[list[dict[str, int]], int, int]:
    """Plain-Python model of ``decode_batch``: (events, status, offset)."""
    p = start
    events: list[dict[str, int]] = []
    while p + 2 <= end:
        n = int.from_bytes(data[p:p + 2], "big")
        if p + 2 + n > end:
            return events, NEED_MORE, p
        if n == 0:
            return events, LENGTH_MISMATCH, p
        msg = MESSAGES.get(chr(data[p + 2]))
        if msg is None:
            return events, UNKNOWN_TYPE, p
        if msg.length != n:
            return events, LENGTH_MISMATCH, p
        if len(events) >= cap:
            return events, OUT_FULL, p
        events.append(expected_event(data[p + 2:p + 2 + n], base + p + 2))
        p += 2 + n
    return events, (NEED_MORE if p < end else OK), p


def sample_values(type_: str, salt: int = 0) -> dict[str, Any]:
    """Deterministic values for every field of ``type_``: every byte distinct from its
    neighbours, so a field read at a wrong offset or width shows."""
    values: dict[str, Any] = {}
    for i, f in enumerate(MESSAGES[type_].fields[1:], start=1):
        if f.kind == "alpha":
            values[f.name] = "".join(chr(0x41 + (7 * i + 3 * k + salt) % 26) for k in range(f.width))
        else:
            raw = bytes(1 + (31 * i + 17 * k + salt) % 254 for k in range(f.width))
            values[f.name] = int.from_bytes(raw, "big")
    return values


def field_strategies(type_: str) -> dict[str, st.SearchStrategy[Any]]:
    out: dict[str, st.SearchStrategy[Any]] = {}
    for f in MESSAGES[type_].fields[1:]:
        if f.kind == "alpha":
            out[f.name] = st.text(PRINTABLE, min_size=f.width, max_size=f.width)
        else:
            out[f.name] = st.integers(0, (1 << (8 * f.width)) - 1)
    return out


def values_of(type_: str) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(field_strategies(type_))


#: (type, field values) for any message type
messages = st.sampled_from(TYPES).flatmap(lambda t: values_of(t).map(lambda v: (t, v)))
