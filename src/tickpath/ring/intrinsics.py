"""LLVM intrinsics for nopython code that numba does not expose.

``prefetch(arr, i)`` asks the CPU to start loading ``arr[i]``'s cache line: a random lookup in
a table larger than the caches costs 150-250 ns here, and issuing it a dozen messages ahead
hides most of that.
"""

from __future__ import annotations

from llvmlite import ir
from numba.core import cgutils, config, types
from numba.extending import intrinsic


def _prefetch_codegen(context, builder, signature, args):
    arrty = signature.args[0]
    ary = context.make_array(arrty)(context, builder, args[0])
    idx = [context.cast(builder, v, t, types.intp)
           for v, t in zip(args[1:], signature.args[1:], strict=True)]
    ptr = cgutils.get_item_pointer(context, builder, arrty, ary, idx, wraparound=False)
    i8p = ir.IntType(8).as_pointer()
    i32 = ir.IntType(32)
    fnty = ir.FunctionType(ir.VoidType(), [i8p, i32, i32, i32])
    fn = cgutils.get_or_insert_function(builder.module, fnty, "llvm.prefetch.p0i8")
    # rw=0 (read), locality=3 (keep in all cache levels), cache type=1 (data)
    builder.call(fn, [builder.bitcast(ptr, i8p), i32(0), i32(3), i32(1)])
    return context.get_dummy_value()


@intrinsic
def prefetch(typingctx, arr, idx):
    """Prefetch the element ``arr[idx]`` of a 1-D array for reading."""
    if not (isinstance(arr, types.Array) and arr.ndim == 1 and isinstance(idx, types.Integer)):
        return None
    return types.void(arr, idx), _prefetch_codegen


@intrinsic
def prefetch2(typingctx, arr, i, j):
    """Prefetch the element ``arr[i, j]`` of a 2-D array for reading."""
    if not (isinstance(arr, types.Array) and arr.ndim == 2 and isinstance(i, types.Integer)
            and isinstance(j, types.Integer)):
        return None
    return types.void(arr, i, j), _prefetch_codegen


if config.DISABLE_JIT:  # plain-Python kernels (a debugger, NUMBA_DISABLE_JIT=1): a no-op

    def prefetch(arr, idx):  # type: ignore[no-redef]  # noqa: F811
        return None

    def prefetch2(arr, i, j):  # type: ignore[no-redef]  # noqa: F811
        return None
