"""The native calls the gateway's compiled code makes beyond :mod:`tickpath.wire.libc`:
libc ``write(fd, addr, len)``, ``fdatasync(fd)`` and ``setsockopt(fd, level, name, addr,
len)``, and zlib's ``crc32(crc, addr, len)``
(the journal's checksum: zlib's is table-sliced or carry-less-multiply accelerated, several
times faster than a byte-at-a-time loop). Registered and called by symbol the same way (so
callers cache on disk); plain ctypes / :func:`zlib.crc32` under NUMBA_DISABLE_JIT. Every
wrapper takes integers and returns int64 (-1 on error: read ``errno()``)."""

from __future__ import annotations

import ctypes
import ctypes.util
import zlib as _zlib

from numba.core import config

from ..wire.libc import errno, poll, recvfrom, send

__all__ = ["errno", "fdatasync", "poll", "recvfrom", "send", "setsockopt", "write",
           "zlib_crc32"]

_libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
_libz = ctypes.CDLL(ctypes.util.find_library("z") or "libz.so.1")
_SIGNATURES = {"write": ("ipl", "l"), "fdatasync": ("i", "i"), "crc32": ("lpi", "l"),
               "setsockopt": ("iiipi", "i")}
_CTYPES = {"i": ctypes.c_int, "p": ctypes.c_void_p, "l": ctypes.c_long}
_LIB = {"crc32": _libz}


def _cfunc(name: str):
    fn = getattr(_LIB.get(name, _libc), name)
    kinds, res = _SIGNATURES[name]
    fn.argtypes = [_CTYPES[k] for k in kinds]
    fn.restype = _CTYPES[res]
    return fn


if config.DISABLE_JIT:

    def write(fd: int, addr: int, length: int) -> int:
        return int(_cfunc("write")(int(fd), int(addr) or None, int(length)))

    def fdatasync(fd: int) -> int:
        return int(_cfunc("fdatasync")(int(fd)))

    def zlib_crc32(crc: int, addr: int, length: int) -> int:
        return _zlib.crc32(ctypes.string_at(int(addr), int(length)), int(crc))

    def setsockopt(fd: int, level: int, name: int, addr: int, length: int) -> int:
        return int(_cfunc("setsockopt")(int(fd), int(level), int(name), int(addr) or None,
                                        int(length)))

else:
    import llvmlite.binding as _llvm

    from ..wire.libc import symbol_call

    def _intrinsic(name: str):
        sym = f"tickpath_gateway_{name}"
        _llvm.add_symbol(sym, ctypes.cast(_cfunc(name), ctypes.c_void_p).value)
        kinds, res = _SIGNATURES[name]
        return symbol_call(name, sym, kinds, res)

    write = _intrinsic("write")
    fdatasync = _intrinsic("fdatasync")
    zlib_crc32 = _intrinsic("crc32")
    setsockopt = _intrinsic("setsockopt")
