"""Wait (idle) strategies: what a stage does when a ring gives it nothing to do.

The shape is Aeron/Agrona's idle strategy: the stage counts its consecutive idle rounds ``n``
(0 for the first, reset when work arrives) and calls ``idle(code, params, n)`` once per round.
Four strategies, chosen by name:

==============  ===========================================================================
name            each idle round
==============  ===========================================================================
``noop``        nothing: try again at once. The lowest latency (on this machine about 20 ns
                less per hand-over than ``busy_spin``); burns its core, and on a core with a
                hyperthread sibling takes issue slots from it. For a stage with a core of its
                own.
``busy_spin``   ``pause`` and try again. Burns its core too, but yields the pipeline to a
                sibling hyperthread and does not flood the other core with reads of the line
                it waits on.
``spin_yield``  ``pause`` for the first ``spins`` rounds, then ``sched_yield()`` on every
                round: the core goes to any other runnable thread, and straight back if none.
``backoff``     ``spins`` rounds of ``pause``, ``yields`` rounds of ``sched_yield()``, then
                ``nanosleep`` for ``min_park_ns``, doubling each round up to ``max_park_ns``.
                For stages that may idle for long and share cores.
==============  ===========================================================================

Everything runs in compiled code: ``sched_yield`` and ``nanosleep`` are libc's, reached the
way :mod:`tickpath.telemetry.nclock` reaches ``clock_gettime`` (an address registered with
LLVM under a fixed symbol name, so callers stay cacheable). A sleep of ``d`` ns lasts at least
``d`` plus the kernel's timer slack (50 µs by default for normal threads), so a parked stage
answers in tens of microseconds at best; spinning is what buys nanoseconds.

The parameters travel as a small ``int64`` array (:data:`PARAM_SPINS` ...) so a kernel takes
``(code, params)`` and a stage's strategy is chosen at start-up from configuration.

Under ``NUMBA_DISABLE_JIT=1`` ``sched_yield`` is :func:`os.sched_yield` and ``nanosleep`` is
:func:`time.sleep`.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import time
from dataclasses import dataclass, field

import numpy as np
from numba import njit
from numba.core import config

from .atomics import cpu_relax

NOOP = 3
BUSY_SPIN = 0
SPIN_YIELD = 1
BACKOFF = 2

#: Strategy name -> code passed to the kernels.
WAIT_STRATEGIES: dict[str, int] = {"noop": NOOP, "busy_spin": BUSY_SPIN,
                                   "spin_yield": SPIN_YIELD, "backoff": BACKOFF}

# Indices into the params array
PARAM_SPINS = 0
PARAM_YIELDS = 1
PARAM_MIN_PARK_NS = 2
PARAM_MAX_PARK_NS = 3
N_PARAMS = 4

DEFAULT_SPINS = 1000
DEFAULT_YIELDS = 100
DEFAULT_MIN_PARK_NS = 1_000
DEFAULT_MAX_PARK_NS = 1_000_000

YIELD_SYMBOL = "tickpath_sched_yield"
NANOSLEEP_SYMBOL = "tickpath_nanosleep"


def _libc_address(name: str) -> int:
    for lib in (None, ctypes.util.find_library("c")):
        try:
            fn = getattr(ctypes.CDLL(lib), name)
        except (OSError, AttributeError):
            continue
        addr = ctypes.cast(fn, ctypes.c_void_p).value
        if addr:
            return addr
    raise OSError(f"{name} not found in the C library")


if config.DISABLE_JIT:

    def sched_yield():
        os.sched_yield()
        return 0

    def nanosleep(ns):
        time.sleep(ns / 1e9)
        return 0

else:
    import llvmlite.binding as _llvm
    from llvmlite import ir
    from numba.core import cgutils, types
    from numba.extending import intrinsic

    _llvm.add_symbol(YIELD_SYMBOL, _libc_address("sched_yield"))
    _llvm.add_symbol(NANOSLEEP_SYMBOL, _libc_address("nanosleep"))

    _i32 = ir.IntType(32)
    _i64 = ir.IntType(64)
    _TIMESPEC = ir.LiteralStructType([_i64, _i64])

    def _yield_codegen(context, builder, signature, args):
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(_i32, []),
                                            YIELD_SYMBOL)
        return builder.sext(builder.call(fn, []), _i64)

    @intrinsic
    def _sched_yield(typingctx):
        return types.int64(), _yield_codegen

    def _nanosleep_codegen(context, builder, signature, args):
        ns = context.cast(builder, args[0], signature.args[0], types.int64)
        ts = cgutils.alloca_once(builder, _TIMESPEC)
        billion = _i64(1_000_000_000)
        builder.store(builder.sdiv(ns, billion), cgutils.gep_inbounds(builder, ts, 0, 0))
        builder.store(builder.srem(ns, billion), cgutils.gep_inbounds(builder, ts, 0, 1))
        fnty = ir.FunctionType(_i32, [_TIMESPEC.as_pointer(), _TIMESPEC.as_pointer()])
        fn = cgutils.get_or_insert_function(builder.module, fnty, NANOSLEEP_SYMBOL)
        rc = builder.call(fn, [ts, _TIMESPEC.as_pointer()(None)])
        return builder.sext(rc, _i64)

    @intrinsic
    def _nanosleep(typingctx, ns):
        if not isinstance(ns, types.Integer):
            return None
        return types.int64(ns), _nanosleep_codegen

    @njit(nogil=True, cache=True)
    def sched_yield():
        """libc ``sched_yield()`` from compiled code; returns its result (0)."""
        return _sched_yield()

    @njit(nogil=True, cache=True)
    def nanosleep(ns):
        """libc ``nanosleep`` for ``ns`` nanoseconds (a signal may end it early; returns -1 then)."""
        return _nanosleep(ns)


@njit(nogil=True, cache=True)
def park_ns(params, n):
    """How long ``backoff`` sleeps in idle round ``n`` (0 while it still spins or yields):
    ``min_park_ns`` doubled once per parked round, at most ``max_park_ns``."""
    k = n - params[PARAM_SPINS] - params[PARAM_YIELDS]
    if k < 0:
        return 0
    park = params[PARAM_MIN_PARK_NS]
    top = params[PARAM_MAX_PARK_NS]
    while k > 0 and park < top:
        park <<= 1
        k -= 1
    return min(park, top)


@njit(nogil=True, cache=True)
def idle(code, params, n):
    """One idle round number ``n`` (0, 1, 2, ... since work was last found) of strategy ``code``."""
    if code == NOOP:
        pass
    elif code == BUSY_SPIN:
        cpu_relax()
    elif code == SPIN_YIELD:
        if n < params[PARAM_SPINS]:
            cpu_relax()
        else:
            sched_yield()
    else:
        if n < params[PARAM_SPINS]:
            cpu_relax()
        elif n < params[PARAM_SPINS] + params[PARAM_YIELDS]:
            sched_yield()
        else:
            nanosleep(park_ns(params, n))


@dataclass(frozen=True, eq=False)
class WaitStrategy:
    """A named strategy and its parameters, ready to hand to the kernels as ``(code, params)``."""

    name: str
    code: int
    params: np.ndarray = field(repr=False)

    @property
    def args(self) -> tuple[int, np.ndarray]:
        return self.code, self.params


def wait_strategy(name: str = "busy_spin", *, spins: int = DEFAULT_SPINS,
                  yields: int = DEFAULT_YIELDS, min_park_ns: int = DEFAULT_MIN_PARK_NS,
                  max_park_ns: int = DEFAULT_MAX_PARK_NS) -> WaitStrategy:
    """The strategy called ``name``: ``noop``, ``busy_spin``, ``spin_yield`` or ``backoff``.

    ``spins`` / ``yields`` / ``min_park_ns`` / ``max_park_ns`` are used by the strategies
    that have those phases and ignored by the others."""
    key = name.replace("-", "_").lower()
    if key not in WAIT_STRATEGIES:
        raise ValueError(f"unknown wait strategy {name!r}; choose one of "
                         f"{', '.join(WAIT_STRATEGIES)}")
    if min(spins, yields) < 0 or min_park_ns < 1 or max_park_ns < min_park_ns:
        raise ValueError("wait strategy needs spins, yields >= 0 and "
                         "1 <= min_park_ns <= max_park_ns")
    params = np.array([spins, yields, min_park_ns, max_park_ns], dtype=np.int64)
    return WaitStrategy(key, WAIT_STRATEGIES[key], params)
