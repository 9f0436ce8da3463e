"""Atomic loads and stores with explicit memory ordering, for nopython code.

numba has no memory model of its own: an ordinary ``arr[i]`` read inside a loop may be hoisted
out of it (the loop then spins forever on a register), and ordinary stores may be reordered
or merged by LLVM. Two processes talking through shared memory need the compiler to keep
exactly the loads and stores the algorithm wrote, in the order it wrote them. These
intrinsics emit LLVM's atomic instructions, which give that guarantee:

=====================================  ==========================================  ==========
intrinsic                              LLVM                                        x86-64
=====================================  ==========================================  ==========
``load_acquire(arr, i)``               ``load atomic i64 ... acquire, align 8``    ``mov``
``store_release(arr, i, v)``           ``store atomic i64 ... release, align 8``   ``mov``
``load_relaxed(arr, i)``               ``load atomic i64 ... monotonic``           ``mov``
``store_relaxed(arr, i, v)``           ``store atomic i64 ... monotonic``          ``mov``
``fetch_add(arr, i, v)``               ``atomicrmw add ... seq_cst``               ``lock xadd``
``cpu_relax()``                        ``llvm.x86.sse2.pause``                     ``pause``
=====================================  ==========================================  ==========

``arr`` is a 1-D ``int64`` array (C-contiguous or not); ``i`` any integer. The element's
address is computed without bounds checks or negative-index wraparound, exactly like the
``prefetch`` intrinsic beside this module: the caller keeps ``0 <= i < len(arr)``. Every
element of an ``int64`` array whose data pointer is 8-byte aligned is 8-byte aligned; numpy's
own allocations and views over an ``mmap`` at an offset that is a multiple of 8 are, and that is
all :mod:`tickpath.ring.layout` ever creates. An aligned 8-byte access is single-copy atomic on
x86-64 and AArch64, which is what makes ``align 8`` on the atomic instructions honest.

Why the orderings are what they are:

* *acquire* on a load: no later load or store of this thread may be performed before it. The
  consumer reads the producer's position with acquire, then the slot: it cannot see a stale slot.
* *release* on a store: no earlier load or store may be performed after it. The producer fills
  a slot, then publishes its position with release: the slot is complete before the position
  says so. The consumer's release of its own position keeps its reads of the slot before the
  producer can see that slot free again.
* *monotonic* (relaxed): the access happens, untorn, and is not merged away or moved out of a
  loop, but orders nothing else. For counters that an observer reads and for a thread
  re-reading its own variable.

On x86-64 (TSO) all four load/store forms compile to a plain ``mov``: the hardware already keeps
loads in order and stores in order and never moves a store before an earlier load. What the
orderings buy there is the compiler's promise. On AArch64 acquire/release become ``ldar`` /
``stlr``. ``cpu_relax`` is a no-op on CPUs without SSE2 (the intrinsic is chosen at import time).

Fallbacks under ``NUMBA_DISABLE_JIT=1``: plain indexing (``arr[i]``, ``arr[i] = v``) and a
no-op ``cpu_relax``. That is safe enough there because each Python statement is a separate
call into numpy's C code: no compiler can reorder or hoist across them, and every element
access is one aligned 8-byte ``mov`` by numpy. Between threads of one process the GIL hand-off
is a full barrier. Between processes on x86-64 the hardware's TSO ordering is exactly the
acquire/release we need. Only between processes on a weakly ordered CPU (AArch64) would the
fallback be unsound, and the fallback ``fetch_add`` is a read then a write, atomic only under
the GIL (a single-writer ring never needs it). The fallbacks exist for stepping kernels in a
debugger, not for production.
"""

from __future__ import annotations

import platform

from llvmlite import ir
from numba.core import cgutils, config, types
from numba.extending import intrinsic

_I64 = ir.IntType(64)
_HAS_PAUSE = platform.machine().lower() in ("x86_64", "amd64", "i686", "x86")


def _int64_vector(arr) -> bool:
    return isinstance(arr, types.Array) and arr.ndim == 1 and arr.dtype == types.int64


def _element_pointer(context, builder, arrty, arr, idxty, idx):
    ary = context.make_array(arrty)(context, builder, arr)
    i = context.cast(builder, idx, idxty, types.intp)
    return cgutils.get_item_pointer(context, builder, arrty, ary, [i], wraparound=False)


def _load_codegen(ordering):
    def codegen(context, builder, signature, args):
        ptr = _element_pointer(context, builder, signature.args[0], args[0],
                               signature.args[1], args[1])
        return builder.load_atomic(ptr, ordering, 8)

    return codegen


def _store_codegen(ordering):
    def codegen(context, builder, signature, args):
        arrty, idxty, valty = signature.args
        ptr = _element_pointer(context, builder, arrty, args[0], idxty, args[1])
        val = context.cast(builder, args[2], valty, types.int64)
        builder.store_atomic(val, ptr, ordering, 8)
        return context.get_dummy_value()

    return codegen


@intrinsic
def load_acquire(typingctx, arr, idx):
    """``arr[idx]`` as an acquire load (int64 arrays)."""
    if not (_int64_vector(arr) and isinstance(idx, types.Integer)):
        return None
    return types.int64(arr, idx), _load_codegen("acquire")


@intrinsic
def load_relaxed(typingctx, arr, idx):
    """``arr[idx]`` as a relaxed (monotonic) atomic load (int64 arrays)."""
    if not (_int64_vector(arr) and isinstance(idx, types.Integer)):
        return None
    return types.int64(arr, idx), _load_codegen("monotonic")


@intrinsic
def store_release(typingctx, arr, idx, val):
    """``arr[idx] = val`` as a release store (int64 arrays)."""
    if not (_int64_vector(arr) and isinstance(idx, types.Integer)
            and isinstance(val, types.Integer)):
        return None
    return types.void(arr, idx, val), _store_codegen("release")


@intrinsic
def store_relaxed(typingctx, arr, idx, val):
    """``arr[idx] = val`` as a relaxed (monotonic) atomic store (int64 arrays)."""
    if not (_int64_vector(arr) and isinstance(idx, types.Integer)
            and isinstance(val, types.Integer)):
        return None
    return types.void(arr, idx, val), _store_codegen("monotonic")


def _fetch_add_codegen(context, builder, signature, args):
    arrty, idxty, valty = signature.args
    ptr = _element_pointer(context, builder, arrty, args[0], idxty, args[1])
    val = context.cast(builder, args[2], valty, types.int64)
    return builder.atomic_rmw("add", ptr, val, "seq_cst")


@intrinsic
def fetch_add(typingctx, arr, idx, val):
    """Atomically add ``val`` to ``arr[idx]``; returns the previous value (sequentially
    consistent). Not needed by a single-writer ring; there for counters with several writers."""
    if not (_int64_vector(arr) and isinstance(idx, types.Integer)
            and isinstance(val, types.Integer)):
        return None
    return types.int64(arr, idx, val), _fetch_add_codegen


def _pause_codegen(context, builder, signature, args):
    if _HAS_PAUSE:
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ir.VoidType(), []),
                                            "llvm.x86.sse2.pause")
        builder.call(fn, [])
    return context.get_dummy_value()


@intrinsic
def cpu_relax(typingctx):
    """A spin-wait hint (x86 ``pause``): saves power and, when the awaited store lands, spares
    the pipeline flush a tight load loop would otherwise pay for mis-speculated loads."""
    return types.void(), _pause_codegen


if config.DISABLE_JIT:  # plain Python (NUMBA_DISABLE_JIT=1): see the module docstring

    def load_acquire(arr, idx):  # type: ignore[no-redef]  # noqa: F811
        return int(arr[idx])

    def load_relaxed(arr, idx):  # type: ignore[no-redef]  # noqa: F811
        return int(arr[idx])

    def store_release(arr, idx, val):  # type: ignore[no-redef]  # noqa: F811
        arr[idx] = val

    def store_relaxed(arr, idx, val):  # type: ignore[no-redef]  # noqa: F811
        arr[idx] = val

    def fetch_add(arr, idx, val):  # type: ignore[no-redef]  # noqa: F811
        old = int(arr[idx])
        arr[idx] = old + val
        return old

    def cpu_relax():  # type: ignore[no-redef]  # noqa: F811
        return None
