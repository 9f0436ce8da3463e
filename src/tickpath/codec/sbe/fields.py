"""Compiled little-endian readers and writers over a ``uint8`` numpy buffer: the building blocks
of the generated SBE accessors.

``get_u8 .. get_u32`` and ``get_i8 .. get_i64`` return ``int64`` (sign-extended where signed),
``get_u64`` returns ``uint64``: numba turns ``uint64`` mixed with ``int64`` into ``float64``, so
only the one type that needs it is unsigned. ``put_*`` write the low bytes of the value (two's
complement for negative values). ``get_f32``/``get_f64`` reinterpret the bits (no conversion).

Indices are cast to ``uint64`` inside: numba then emits no negative-index wraparound, and LLVM
merges the byte loads of a field into one load (as in the ITCH decoder). Bounds are the
caller's job, as in every kernel of the project: an accessor reads where it is told.
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

_1 = np.uint64(1)
_2 = np.uint64(2)
_3 = np.uint64(3)
_4 = np.uint64(4)
_5 = np.uint64(5)
_6 = np.uint64(6)
_7 = np.uint64(7)
_8 = np.uint64(8)
_16 = np.uint64(16)
_24 = np.uint64(24)
_32 = np.uint64(32)
_40 = np.uint64(40)
_48 = np.uint64(48)
_56 = np.uint64(56)
_FF = np.uint64(0xFF)


@intrinsic
def _u64_as_f64(typingctx, bits):
    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.DoubleType())
    return types.float64(types.uint64), codegen


@intrinsic
def _f64_as_u64(typingctx, value):
    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], ir.IntType(64))
    return types.uint64(types.float64), codegen


@intrinsic
def _u32_as_f32(typingctx, bits):
    def codegen(context, builder, signature, args):
        return builder.bitcast(builder.trunc(args[0], ir.IntType(32)), ir.FloatType())
    return types.float32(types.uint64), codegen


@intrinsic
def _f32_as_u64(typingctx, value):
    def codegen(context, builder, signature, args):
        return builder.zext(builder.bitcast(args[0], ir.IntType(32)), ir.IntType(64))
    return types.uint64(types.float32), codegen


# ------------------------------------------------------------------------------------ readers


@njit(cache=True, nogil=True)
def _raw16(buf, i):
    j = np.uint64(i)
    return np.uint64(buf[j]) | (np.uint64(buf[j + _1]) << _8)


@njit(cache=True, nogil=True)
def _raw32(buf, i):
    j = np.uint64(i)
    return (np.uint64(buf[j]) | (np.uint64(buf[j + _1]) << _8)
            | (np.uint64(buf[j + _2]) << _16) | (np.uint64(buf[j + _3]) << _24))


@njit(cache=True, nogil=True)
def _raw64(buf, i):
    j = np.uint64(i)
    return (np.uint64(buf[j]) | (np.uint64(buf[j + _1]) << _8)
            | (np.uint64(buf[j + _2]) << _16) | (np.uint64(buf[j + _3]) << _24)
            | (np.uint64(buf[j + _4]) << _32) | (np.uint64(buf[j + _5]) << _40)
            | (np.uint64(buf[j + _6]) << _48) | (np.uint64(buf[j + _7]) << _56))


@njit(cache=True, nogil=True)
def get_u8(buf, i):
    return np.int64(buf[np.uint64(i)])


@njit(cache=True, nogil=True)
def get_i8(buf, i):
    return np.int64(np.int8(buf[np.uint64(i)]))


@njit(cache=True, nogil=True)
def get_u16(buf, i):
    return np.int64(_raw16(buf, i))


@njit(cache=True, nogil=True)
def get_i16(buf, i):
    return np.int64(np.int16(np.uint16(_raw16(buf, i))))


@njit(cache=True, nogil=True)
def get_u32(buf, i):
    return np.int64(_raw32(buf, i))


@njit(cache=True, nogil=True)
def get_i32(buf, i):
    return np.int64(np.int32(np.uint32(_raw32(buf, i))))


@njit(cache=True, nogil=True)
def get_u64(buf, i):
    return _raw64(buf, i)


@njit(cache=True, nogil=True)
def get_i64(buf, i):
    return np.int64(_raw64(buf, i))


@njit(cache=True, nogil=True)
def get_f32(buf, i):
    return _u32_as_f32(_raw32(buf, i))


@njit(cache=True, nogil=True)
def get_f64(buf, i):
    return _u64_as_f64(_raw64(buf, i))


# ------------------------------------------------------------------------------------ writers


@njit(cache=True, nogil=True)
def _put_raw(buf, i, v, n):
    j = np.uint64(i)
    x = np.uint64(v)
    for k in range(n):
        buf[j + np.uint64(k)] = np.uint8(x & _FF)
        x >>= _8


@njit(cache=True, nogil=True)
def put_u8(buf, i, v):
    buf[np.uint64(i)] = np.uint8(np.int64(v) & 0xFF)


@njit(cache=True, nogil=True)
def put_i8(buf, i, v):
    buf[np.uint64(i)] = np.uint8(np.int64(v) & 0xFF)


@njit(cache=True, nogil=True)
def put_u16(buf, i, v):
    _put_raw(buf, i, np.int64(v) & 0xFFFF, 2)


@njit(cache=True, nogil=True)
def put_i16(buf, i, v):
    _put_raw(buf, i, np.int64(v) & 0xFFFF, 2)


@njit(cache=True, nogil=True)
def put_u32(buf, i, v):
    _put_raw(buf, i, np.int64(v) & 0xFFFFFFFF, 4)


@njit(cache=True, nogil=True)
def put_i32(buf, i, v):
    _put_raw(buf, i, np.int64(v) & 0xFFFFFFFF, 4)


@njit(cache=True, nogil=True)
def put_u64(buf, i, v):
    _put_raw(buf, i, np.uint64(v), 8)


@njit(cache=True, nogil=True)
def put_i64(buf, i, v):
    _put_raw(buf, i, np.uint64(np.int64(v)), 8)


@njit(cache=True, nogil=True)
def put_f32(buf, i, v):
    _put_raw(buf, i, _f32_as_u64(np.float32(v)), 4)


@njit(cache=True, nogil=True)
def put_f64(buf, i, v):
    _put_raw(buf, i, _f64_as_u64(np.float64(v)), 8)


def get_chars(buf: np.ndarray, i: int, length: int) -> str:
    """A char array as text (Python side): latin-1, cut at the first NUL (SBE pads with NULs)."""
    raw = bytes(buf[i:i + length])
    return raw.split(b"\x00", 1)[0].decode("latin-1")


def put_chars(buf: np.ndarray, i: int, length: int, text: str | bytes) -> None:
    """Text into a char array (Python side), NUL-padded; longer text is refused, never cut."""
    raw = text.encode("latin-1") if isinstance(text, str) else bytes(text)
    if len(raw) > length:
        raise ValueError(f"{text!r} is longer than the {length}-byte char array")
    buf[i:i + length] = np.frombuffer(raw.ljust(length, b"\x00"), np.uint8)
