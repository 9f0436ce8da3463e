"""The libc calls the gateway's compiled code makes beyond :mod:`tickpath.wire.libc`:
``write(fd, addr, len)`` and ``fdatasync(fd)`` (the journal). Registered and called by
symbol the same way (so callers cache on disk); plain ctypes under NUMBA_DISABLE_JIT. Every
wrapper takes integers and returns int64 (-1 on error: read ``errno()``)."""

from __future__ import annotations

import ctypes
import ctypes.util

from numba.core import config

from ..wire.libc import errno, poll, recvfrom, send

__all__ = ["errno", "fdatasync", "poll", "recvfrom", "send", "write"]

_libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
_SIGNATURES = {"write": ("ipl", "l"), "fdatasync": ("i", "i")}
_CTYPES = {"i": ctypes.c_int, "p": ctypes.c_void_p, "l": ctypes.c_long}


def _cfunc(name: str):
    fn = getattr(_libc, name)
    kinds, res = _SIGNATURES[name]
    fn.argtypes = [_CTYPES[k] for k in kinds]
    fn.restype = _CTYPES[res]
    return fn


if config.DISABLE_JIT:

    def write(fd: int, addr: int, length: int) -> int:
        return int(_cfunc("write")(int(fd), int(addr) or None, int(length)))

    def fdatasync(fd: int) -> int:
        return int(_cfunc("fdatasync")(int(fd)))

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
