"""libc ``read`` and ``write`` for compiled loops: the kernel hand-off the ring is compared with.

The ring benchmark's compiled baselines (a pipe, an eventfd) need a numba loop that blocks in
``read`` and one that calls ``write``, with no interpreter between messages. This is the
mechanism of :mod:`tickpath.wire.libc`, copied rather than imported because ``wire`` imports
``ring`` and never the other way round: each libc function is registered with LLVM under a name
of ours (``tickpath_ring_<name>``, distinct from ``wire``'s) and called through an intrinsic,
so the compiled loop refers to it by symbol rather than by an address baked into the code, and
numba can cache the loop on disk. The registration runs on every import, before any cached
code is loaded.

==========================  =========================================================
wrapper                     libc
==========================  =========================================================
``read(fd, arr, nbytes)``   ``ssize_t read(int, void *, size_t)`` into ``arr``'s data
``write(fd, arr, nbytes)``  ``ssize_t write(int, const void *, size_t)`` from ``arr``
``errno()``                 the calling thread's ``errno`` (``*__errno_location()``)
==========================  =========================================================

``arr`` is a 1-D numpy array (any dtype); the buffer pointer is taken from it inside the
intrinsic, so LLVM sees the array's memory handed to the call and keeps every store to it
before the call. The caller keeps ``nbytes <= arr.nbytes``. Results are int64 (-1 on error,
then ``errno()`` says why). Under ``NUMBA_DISABLE_JIT=1`` the wrappers are ``os.read`` /
``os.write`` and ``errno()`` is the errno of the last failed call.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno as _errno_mod
import os

from numba.core import config

#: the errno of a read interrupted by a signal (the ring bench's deadline alarm)
EINTR = _errno_mod.EINTR

_libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)


def symbol(name: str) -> str:
    """The LLVM symbol a compiled loop calls for libc's ``name``."""
    return f"tickpath_ring_{name}"


if config.DISABLE_JIT:  # plain Python: steppable in a debugger
    import numpy as np

    _last_errno = [0]

    def read(fd, arr, nbytes):
        try:
            data = os.read(int(fd), int(nbytes))
        except OSError as e:
            _last_errno[0] = e.errno
            return -1
        arr.view(np.uint8)[:len(data)] = np.frombuffer(data, np.uint8)
        return len(data)

    def write(fd, arr, nbytes):
        try:
            return os.write(int(fd), arr.view(np.uint8)[:int(nbytes)].tobytes())
        except OSError as e:
            _last_errno[0] = e.errno
            return -1

    def errno() -> int:
        """The errno of the last failed wrapped call."""
        return _last_errno[0]

else:
    import llvmlite.binding as _llvm
    from llvmlite import ir
    from numba.core import cgutils, types
    from numba.extending import intrinsic

    _I32, _I64 = ir.IntType(32), ir.IntType(64)
    _VOIDP = ir.IntType(8).as_pointer()

    def _register(name: str) -> None:
        _llvm.add_symbol(symbol(name), ctypes.cast(getattr(_libc, name), ctypes.c_void_p).value)

    for _name in ("read", "write", "__errno_location"):
        _register(_name)

    def _io_codegen(name: str):
        # ssize_t name(int fd, void *buf, size_t count)
        fnty = ir.FunctionType(_I64, [_I32, _VOIDP, _I64])

        def codegen(context, builder, signature, args):
            fdty, arrty, nty = signature.args
            fd = builder.trunc(context.cast(builder, args[0], fdty, types.int64), _I32)
            ary = context.make_array(arrty)(context, builder, args[1])
            buf = builder.bitcast(ary.data, _VOIDP)
            n = context.cast(builder, args[2], nty, types.int64)
            fn = cgutils.get_or_insert_function(builder.module, fnty, symbol(name))
            return builder.call(fn, [fd, buf, n])

        return codegen

    def _io_args_ok(fd, arr, nbytes) -> bool:
        return (isinstance(fd, types.Integer) and isinstance(arr, types.Array)
                and arr.ndim == 1 and isinstance(nbytes, types.Integer))

    # one named function per wrapper: numba names (and caches) an intrinsic by its function
    @intrinsic
    def read(typingctx, fd, arr, nbytes):
        """libc read(fd, arr's data, nbytes), called by symbol (see module doc)."""
        if not _io_args_ok(fd, arr, nbytes):
            return None
        return types.int64(fd, arr, nbytes), _io_codegen("read")

    @intrinsic
    def write(typingctx, fd, arr, nbytes):
        """libc write(fd, arr's data, nbytes), called by symbol (see module doc)."""
        if not _io_args_ok(fd, arr, nbytes):
            return None
        return types.int64(fd, arr, nbytes), _io_codegen("write")

    def _errno_codegen(context, builder, signature, args):
        fnty = ir.FunctionType(_I32.as_pointer(), [])
        fn = cgutils.get_or_insert_function(builder.module, fnty, symbol("__errno_location"))
        return builder.sext(builder.load(builder.call(fn, [])), _I64)

    @intrinsic
    def errno(typingctx):
        """The calling thread's errno, as int64 (read it right after a call returned -1)."""
        return types.int64(), _errno_codegen
