"""libc system calls for compiled receive loops.

Each function is registered with LLVM under a name of ours and called through an intrinsic,
so the compiled loop refers to it by symbol, not by a pointer baked into the code: numba can
then cache the loop on disk (a ctypes function object used directly would make it refuse).
Under NUMBA_DISABLE_JIT=1 the ctypes function is called as plain Python.
"""

from __future__ import annotations

import ctypes
import ctypes.util

from numba.core import config

_libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)

#: int recvmmsg(int fd, struct mmsghdr *vec, unsigned int vlen, int flags, struct timespec *t)
_recvmmsg = _libc.recvmmsg
_recvmmsg.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_uint, ctypes.c_int,
                      ctypes.c_void_p]
_recvmmsg.restype = ctypes.c_int
SYMBOL_RECVMMSG = "tickpath_recvmmsg"

if config.DISABLE_JIT:

    def recvmmsg(fd, vec, vlen, flags, timeout):
        return _recvmmsg(fd, vec or None, vlen, flags, timeout or None)

else:
    import llvmlite.binding as _llvm
    from llvmlite import ir
    from numba.core import cgutils, types
    from numba.extending import intrinsic

    _llvm.add_symbol(SYMBOL_RECVMMSG, ctypes.cast(_recvmmsg, ctypes.c_void_p).value)
    _i32 = ir.IntType(32)
    _i8p = ir.IntType(8).as_pointer()

    def _recvmmsg_codegen(context, builder, signature, args):
        fd, vec, vlen, flags, timeout = (
            context.cast(builder, v, t, types.int64)
            for v, t in zip(args, signature.args, strict=True))
        fnty = ir.FunctionType(_i32, [_i32, _i8p, _i32, _i32, _i8p])
        fn = cgutils.get_or_insert_function(builder.module, fnty, SYMBOL_RECVMMSG)
        r = builder.call(fn, [builder.trunc(fd, _i32), builder.inttoptr(vec, _i8p),
                              builder.trunc(vlen, _i32), builder.trunc(flags, _i32),
                              builder.inttoptr(timeout, _i8p)])
        return builder.sext(r, ir.IntType(64))

    @intrinsic
    def recvmmsg(typingctx, fd, vec, vlen, flags, timeout):
        """recvmmsg(fd, address of the mmsghdr vector, vlen, flags, address of a timespec
        or 0) -> datagrams received, or -1."""
        if not all(isinstance(a, types.Integer) for a in (fd, vec, vlen, flags, timeout)):
            return None
        return types.int64(fd, vec, vlen, flags, timeout), _recvmmsg_codegen
