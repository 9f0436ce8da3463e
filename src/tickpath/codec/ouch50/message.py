"""Plain-Python view and encoder of single OUCH 5.0 messages, driven by the layout table.

For tests, logs, error messages and cold paths (logins, mass cancels, the venue's responses).
The hot path uses ``decode.py`` and ``encode.py``.
"""

from __future__ import annotations

from typing import Any

from ..fields import put_field
from .layout import (
    NONE,
    OPTION_BY_NAME,
    OPTIONAL,
    OPTIONS,
    TABLES,
    Message,
)


class OuchError(ValueError):
    """A malformed OUCH message: ``offset`` is the faulty byte, ``reason`` what is wrong.
    From :class:`~tickpath.codec.ouch50.OutboundDecoder` also ``records`` (what the same call
    decoded before the fault) and ``packet_offset`` (where the bad packet starts); else None."""

    def __init__(self, offset: int, reason: str, records: Any = None,
                 packet_offset: int | None = None) -> None:
        super().__init__(f"OUCH 5.0 at offset {offset}: {reason}")
        self.offset = offset
        self.reason = reason
        self.records = records
        self.packet_offset = packet_offset


def lookup(direction: str, type_: str | int) -> Message:
    """The table row of a type letter in a direction ("inbound" / "outbound")."""
    if direction not in TABLES:
        raise ValueError(f"direction must be 'inbound' or 'outbound', got {direction!r}")
    t = chr(type_) if isinstance(type_, int) else type_
    try:
        return TABLES[direction][t]
    except KeyError:
        raise ValueError(f"unknown OUCH 5.0 {direction} message type {t!r}; known: "
                         f"{''.join(sorted(TABLES[direction]))}") from None


def _value(raw: bytes, kind: str) -> Any:
    if kind == "alpha":
        return raw.decode("latin-1")
    return int.from_bytes(raw, "big", signed=(kind == "sprice"))


def parse_options(data: bytes, start: int, end: int) -> dict[str, Any]:
    """The TagValue options in ``data[start:end]`` by name; an unknown tag N is kept as
    ``"tag_N"`` with its raw bytes. Raises OuchError at the first malformed element."""
    out: dict[str, Any] = {}
    p = start
    while p < end:
        length = data[p]
        if length == 0:
            raise OuchError(p, "TagValue option with length 0 (it must count at least its tag)")
        if p + 1 + length > end:
            raise OuchError(p, f"TagValue option of length {length} runs {p + 1 + length - end} "
                               f"bytes past the end of the appendage at {end}")
        tag = data[p + 1]
        raw = bytes(data[p + 2:p + 1 + length])
        opt = OPTIONS.get(tag)
        if opt is None:
            out[f"tag_{tag}"] = raw
        elif len(raw) != opt.width:
            raise OuchError(p, f"option {opt.name} (tag {tag}) has a {len(raw)}-byte value; "
                               f"Appendix B gives it {opt.width}")
        else:
            out[opt.name] = _value(raw, opt.kind)
        p += 1 + length
    return out


def encode_options(options: dict[str, Any]) -> bytes:
    """TagValue elements for ``{name: value}`` (alpha values are space-padded)."""
    out = bytearray()
    for name, v in options.items():
        opt = OPTION_BY_NAME.get(name)
        if opt is None:
            raise ValueError(f"unknown OUCH 5.0 option {name!r}; known: {sorted(OPTION_BY_NAME)}")
        if opt.kind == "alpha":
            raw = v.encode("latin-1") if isinstance(v, str) else bytes(v)
            if len(raw) > opt.width:
                raise ValueError(f"option {name}: {v!r} is longer than {opt.width} bytes")
            raw = raw.ljust(opt.width, b" ")
        else:
            raw = int(v).to_bytes(opt.width, "big", signed=(opt.kind == "sprice"))
        out += bytes([opt.width + 1, opt.tag]) + raw
    return bytes(out)


def fields(data: bytes | bytearray | memoryview, direction: str, start: int = 0,
           end: int | None = None) -> dict[str, Any]:
    """Every field of the message that fills ``data[start:end]`` (one SoupBinTCP payload):
    alpha fields as str with their padding, numbers as int, and ``options`` as a dict (absent
    when the message carries no Appendage Length)."""
    data = bytes(data)
    end = len(data) if end is None else end
    if end <= start:
        raise OuchError(start, "empty message: not even a type byte")
    try:
        msg = lookup(direction, data[start])
    except ValueError as e:
        raise OuchError(start, str(e)) from None
    size = end - start
    bare = msg.appendage == OPTIONAL and size == msg.length - 2
    if size < msg.length and not bare:
        without = (f" ({msg.length - 2} without the Appendage Length)"
                   if msg.appendage == OPTIONAL else "")
        raise OuchError(start, f"{msg.name} ({msg.type!r}) is {size} bytes, shorter than its "
                               f"fixed part of {msg.length}{without}")
    if msg.appendage == NONE and size != msg.length:
        raise OuchError(start + msg.length, f"{msg.name} ({msg.type!r}) has no appendage but "
                                            f"{size - msg.length} bytes follow its {msg.length}")
    out: dict[str, Any] = {}
    for f in msg.fields:
        if f.name == "appendage_length" and bare:
            continue
        raw = data[start + f.offset:start + f.offset + f.width]
        out[f.name] = _value(raw, f.kind)
    if msg.appendage != NONE and not bare:
        at = start + msg.length
        if out["appendage_length"] != end - at:
            raise OuchError(at - 2, f"{msg.name} Appendage Length says {out['appendage_length']}"
                                    f" bytes but {end - at} follow it")
        out["options"] = parse_options(data, at, end)
    return out


def encode(direction: str, type_: str, options: dict[str, Any] | None = None, *,
           appendage: bool = True, **values: Any) -> bytes:
    """One message from field values; absent fields are 0 or spaces. ``options`` become the
    appendage; ``appendage=False`` leaves the Appendage Length out (only where the
    specification allows it)."""
    msg = lookup(direction, type_)
    names = {f.name for f in msg.fields} - {"type", "appendage_length"}
    unknown = set(values) - names
    if unknown:
        raise ValueError(f"OUCH {direction} {msg.type!r} ({msg.name}) has no field(s) "
                         f"{sorted(unknown)}")
    app = encode_options(options or {})
    if not appendage:
        if msg.appendage != OPTIONAL:
            raise ValueError(f"{msg.name} always carries its Appendage Length")
        if app:
            raise ValueError("options need the Appendage Length")
    out = bytearray(msg.length)
    for f in msg.fields:
        if f.name == "type":
            out[0] = ord(msg.type)
            continue
        v = len(app) if f.name == "appendage_length" else values.get(f.name)
        put_field(out, f"{msg.type}.{f.name}", f.offset, f.width, f.kind, v)
    if not appendage:
        return bytes(out[:msg.length - 2])
    return bytes(out) + app
