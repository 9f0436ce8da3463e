"""Writing one field of a fixed-layout message from a Python value (cold path: the plain
encoders of every codec room; the hot paths have compiled encoders of their own)."""

from __future__ import annotations

from typing import Any


def put_field(out: bytearray, where: str, offset: int, width: int, kind: str,
              value: Any) -> None:
    """``value`` into ``out[offset:offset + width]``: ``alpha`` as latin-1 text (or bytes)
    right-padded with spaces, anything else as a big-endian unsigned integer; None is spaces
    or 0. ``where`` names the field in errors (``"A.stock"``): a value too long or too big
    for the field is refused, never cut."""
    if kind == "alpha":
        raw = b"" if value is None else (value.encode("latin-1") if isinstance(value, str)
                                         else bytes(value))
        if len(raw) > width:
            raise ValueError(f"{where}: {value!r} is longer than {width} bytes")
        out[offset:offset + width] = raw.ljust(width, b" ")
    else:
        iv = int(value or 0)
        if not 0 <= iv < 1 << (8 * width):
            raise ValueError(f"{where}: {iv} does not fit {width} bytes")
        out[offset:offset + width] = iv.to_bytes(width, "big")
