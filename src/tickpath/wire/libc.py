"""libc system calls for compiled loops (receive, send, wake-ups).

Each function is registered with LLVM under a name of ours and called through an intrinsic,
so the compiled loop refers to it by symbol, not by a pointer baked into the code: numba can
then cache the loop on disk (a ctypes function object used directly would make it refuse).
Under NUMBA_DISABLE_JIT=1 the ctypes function is called as plain Python.

Every wrapper takes integers only (file descriptors, flags, lengths, and addresses from
``array.ctypes.data``) and returns the call's result as int64 (-1 on error; read errno with
``ctypes.get_errno()`` from Python if needed).

======================================  =====================================================
wrapper                                 libc
======================================  =====================================================
``recvmmsg(fd, vec, vlen, flags, ts)``  ``int recvmmsg(int, struct mmsghdr *, unsigned, int,
                                        struct timespec *)``
``sendmmsg(fd, vec, vlen, flags)``      ``int sendmmsg(int, struct mmsghdr *, unsigned, int)``
``send(fd, buf, len, flags)``           ``ssize_t send(int, const void *, size_t, int)``
``sendto(fd, buf, len, flags, addr,     ``ssize_t sendto(int, const void *, size_t, int,
addrlen)``                              const struct sockaddr *, socklen_t)``
``recvfrom(fd, buf, len, flags, addr,   ``ssize_t recvfrom(int, void *, size_t, int,
addrlen_ptr)``                          struct sockaddr *, socklen_t *)``
``poll(fds, nfds, timeout_ms)``         ``int poll(struct pollfd *, nfds_t, int)``
``errno()``                             the calling thread's ``errno`` (``*__errno_location()``)
======================================  =====================================================

``errno()`` lets a compiled loop tell a full queue (EAGAIN, ENOBUFS) from a real error right
after a call returned -1; under NUMBA_DISABLE_JIT it is ctypes' copy (``ctypes.get_errno()``),
which the wrappers above update because libc is loaded with ``use_errno=True``.
"""

from __future__ import annotations

import ctypes
import ctypes.util

from numba.core import config

_libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)

_I, _U, _P, _L = ctypes.c_int, ctypes.c_uint, ctypes.c_void_p, ctypes.c_long
# name -> (argument kinds, result kind); kinds: "i" int32, "p" pointer, "l" 64-bit integer
_SIGNATURES: dict[str, tuple[str, str]] = {
    "recvmmsg": ("ipiip", "i"),
    "sendmmsg": ("ipii", "i"),
    "send": ("ipli", "l"),
    "sendto": ("iplipi", "l"),
    "recvfrom": ("iplipp", "l"),
    "poll": ("pli", "i"),
    "sched_yield": ("", "i"),
}
_CTYPES = {"i": ctypes.c_int, "p": ctypes.c_void_p, "l": ctypes.c_long}


def _cfunc(name: str):
    fn = getattr(_libc, name)
    kinds, res = _SIGNATURES[name]
    fn.argtypes = [_CTYPES[k] for k in kinds]
    fn.restype = _CTYPES[res]
    return fn


def symbol(name: str) -> str:
    """The LLVM symbol a compiled loop calls for libc's ``name``."""
    return f"tickpath_{name}"


SYMBOL_RECVMMSG = symbol("recvmmsg")

if config.DISABLE_JIT:

    def _python(name: str):
        fn = _cfunc(name)
        kinds = _SIGNATURES[name][0]

        def call(*args):
            # a 0 address means NULL, which ctypes wants as None
            return int(fn(*(None if k == "p" and not a else int(a)
                            for k, a in zip(kinds, args, strict=True))))

        call.__name__ = name
        return call

    recvmmsg = _python("recvmmsg")
    sendmmsg = _python("sendmmsg")
    send = _python("send")
    sendto = _python("sendto")
    recvfrom = _python("recvfrom")
    poll = _python("poll")
    sched_yield = _python("sched_yield")

    def errno() -> int:
        """The errno the last wrapped call left (ctypes' copy of it)."""
        return ctypes.get_errno()

else:
    import llvmlite.binding as _llvm
    from llvmlite import ir
    from numba.core import cgutils, types
    from numba.extending import intrinsic

    _IR = {"i": ir.IntType(32), "p": ir.IntType(8).as_pointer(), "l": ir.IntType(64),
           "v": ir.VoidType()}

    def symbol_call(name: str, sym: str, kinds: str, res: str, before_typing=None):
        """An intrinsic ``name(*ints)`` calling the C function registered with LLVM as
        ``sym``, by that symbol (so the caller caches on disk). ``kinds``: one letter per
        argument, ``i`` int32, ``l`` 64-bit integer, ``p`` pointer (an integer address);
        ``res``: ``i``, ``l`` (returned as int64) or ``v`` (void). ``before_typing`` runs when
        a caller is compiled (to make sure the symbol is registered before it is linked)."""
        fnty = ir.FunctionType(_IR[res], [_IR[k] for k in kinds])

        def codegen(context, builder, signature, args):
            fn = cgutils.get_or_insert_function(builder.module, fnty, sym)
            vals = []
            for k, v, t in zip(kinds, args, signature.args, strict=True):
                v = context.cast(builder, v, t, types.int64)
                vals.append(builder.trunc(v, _IR["i"]) if k == "i" else
                            builder.inttoptr(v, _IR["p"]) if k == "p" else v)
            r = builder.call(fn, vals)
            if res == "v":
                return context.get_dummy_value()
            return builder.sext(r, ir.IntType(64)) if res == "i" else r

        def typer(typingctx, *args):
            if len(args) != len(kinds) or \
                    not all(isinstance(a, types.Integer) for a in args):
                return None
            if before_typing is not None:
                before_typing()
            return (types.none if res == "v" else types.int64)(*args), codegen

        # numba's intrinsic inspects the typer's parameters: give it one per argument
        params = ", ".join(f"a{i}" for i in range(len(kinds)))
        ns: dict[str, object] = {"_typer": typer}
        exec(f"def {name}(typingctx, {params}):\n    return _typer(typingctx, {params})", ns)
        return intrinsic(ns[name])

    def _intrinsic(name: str):
        _llvm.add_symbol(symbol(name), ctypes.cast(_cfunc(name), ctypes.c_void_p).value)
        kinds, res = _SIGNATURES[name]
        fn = symbol_call(name, symbol(name), kinds, res)
        fn.__doc__ = f"libc {name}, called by symbol from compiled code (see module doc)."
        return fn

    recvmmsg = _intrinsic("recvmmsg")
    sendmmsg = _intrinsic("sendmmsg")
    send = _intrinsic("send")
    sendto = _intrinsic("sendto")
    recvfrom = _intrinsic("recvfrom")
    poll = _intrinsic("poll")
    sched_yield = _intrinsic("sched_yield")

    _llvm.add_symbol(symbol("__errno_location"),
                     ctypes.cast(getattr(_libc, "__errno_location"), ctypes.c_void_p).value)

    def _errno_codegen(context, builder, signature, args):
        fnty = ir.FunctionType(_IR["i"].as_pointer(), [])
        fn = cgutils.get_or_insert_function(builder.module, fnty, symbol("__errno_location"))
        return builder.sext(builder.load(builder.call(fn, [])), ir.IntType(64))

    @intrinsic
    def errno(typingctx):
        """The calling thread's errno, as int64 (read it right after a call returned -1)."""
        return types.int64(), _errno_codegen
