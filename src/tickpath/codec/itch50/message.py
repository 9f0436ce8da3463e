"""Plain-Python view and encoder of single ITCH 5.0 messages, driven by the layout table.

For debugging, error messages, tests and cold paths (the simulator's directory messages). The
hot path uses the compiled kernels in ``decode.py`` and ``encode.py``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..fields import put_field
from .layout import MESSAGES, Message, wire_dtype


def _lookup(type_: str | int) -> Message:
    t = chr(type_) if isinstance(type_, int) else type_
    try:
        return MESSAGES[t]
    except KeyError:
        raise ValueError(f"unknown ITCH 5.0 message type {t!r}") from None


def fields(data: bytes | memoryview | np.ndarray, offset: int = 0) -> dict[str, Any]:
    """Every field of the message at ``data[offset]`` as a dict (alpha fields as str, with
    their right padding kept, integers and prices as int)."""
    raw = bytes(data[offset:offset + 1])
    if not raw:
        raise ValueError(f"no ITCH message at offset {offset}: input ends there")
    msg = _lookup(raw[0])
    body = bytes(data[offset:offset + msg.length])
    if len(body) < msg.length:
        raise ValueError(
            f"truncated ITCH {msg.type!r} ({msg.name}) at offset {offset}: "
            f"{len(body)} of {msg.length} bytes"
        )
    out: dict[str, Any] = {}
    for f in msg.fields:
        chunk = body[f.offset:f.offset + f.width]
        if f.kind == "alpha":
            out[f.name] = chunk.decode("latin-1")
        else:
            out[f.name] = int.from_bytes(chunk, "big")
    return out


def encode(type_: str, **values: Any) -> bytes:
    """One message of ``type_`` from field values; absent fields are 0 (integers) or spaces
    (alpha). Alpha values are right-padded with spaces; too-long values are refused."""
    msg = _lookup(type_)
    unknown = set(values) - {f.name for f in msg.fields}
    if unknown:
        raise ValueError(f"ITCH {msg.type!r} ({msg.name}) has no field(s) {sorted(unknown)}")
    out = bytearray(msg.length)
    for f in msg.fields:
        if f.name == "message_type":
            out[0] = ord(msg.type)
            continue
        v = values.get(f.name)
        put_field(out, f"{msg.type}.{f.name}", f.offset, f.width, f.kind, v)
    return bytes(out)


def decode_fields(buf: np.ndarray, offsets: np.ndarray, type_: str) -> dict[str, np.ndarray]:
    """Every field of many messages of one type, vectorized: a big-endian structured dtype laid
    over each message (``offsets`` point at the type byte). Timestamps come back as uint64."""
    msg = _lookup(type_)
    offsets = np.asarray(offsets, dtype=np.int64)
    if offsets.size and (offsets.max() + msg.length > buf.size or offsets.min() < 0):
        raise ValueError(f"an offset of a {msg.type!r} message runs past the buffer")
    raw = buf[offsets[:, None] + np.arange(msg.length)]
    recs = np.ascontiguousarray(raw).view(wire_dtype(msg)).reshape(-1)
    out: dict[str, np.ndarray] = {}
    for f in msg.fields:
        col = recs[f.name]
        if f.kind == "ts":
            b = col.astype(np.uint64)
            out[f.name] = sum((b[:, i] << np.uint64(8 * (5 - i)) for i in range(6)),
                              start=np.zeros(len(b), np.uint64))
        elif f.kind == "alpha":
            out[f.name] = col
        else:
            out[f.name] = col.astype(np.uint64)
    return out
