"""Clock reads for compiled code: ``clock_gettime`` and the time-stamp counter from nopython.

The path's one clock is CLOCK_REALTIME in nanoseconds (:mod:`tickpath.telemetry.clock` reads it
from Python). A stage that timestamps inside its jitted loop needs the same clock without going
back to the interpreter; this module gives it:

================  ===============================================================  ===========
read              what it is                                                       unit
================  ===============================================================  ===========
``realtime_ns``   libc ``clock_gettime(CLOCK_REALTIME)`` (the vDSO: no syscall)     ns
``monotonic_ns``  libc ``clock_gettime(CLOCK_MONOTONIC)``                           ns
``rdtsc``         the time-stamp counter, unordered (may run ahead of earlier work) TSC ticks
``rdtsc_fenced``  ``lfence; rdtsc``: waits for earlier instructions to finish        TSC ticks
``rdtscp``        ``rdtscp``: waits for earlier instructions; the TSC only          TSC ticks
================  ===============================================================  ===========

All are ``@njit(nogil=True, cache=True)`` functions, so they are called the same way from
nopython code and from Python (from Python each call also pays the dispatcher, 60-450 ns).

How ``clock_gettime`` is reached. ctypes looks up libc's ``clock_gettime`` and its address is
registered with LLVM under the name :data:`SYMBOL`; an intrinsic declares that external function,
keeps the ``struct timespec`` in a stack slot of the caller's entry block (no allocation, no
global buffer shared between threads) and returns ``tv_sec * 10**9 + tv_nsec``. Numba's own way of
calling a ctypes function object bakes its address into the machine code, which makes numba
refuse to cache every function that uses it ("uses dynamic globals"); going through a named
symbol keeps ``cache=True`` working, and the registration runs again on every import, before any
cached code is loaded. The return value of ``clock_gettime`` is not checked: for these two clock
ids on Linux it cannot fail.

The TSC reads use LLVM's ``llvm.x86.rdtsc`` / ``llvm.x86.rdtscp`` / ``llvm.x86.sse2.lfence``
intrinsics (no inline assembly, which numba's JIT cannot assemble). Ticks become nanoseconds
with :func:`tsc_hz`, calibrated once per process against CLOCK_MONOTONIC (about 0.1 s, cold).
Comparing TSC readings across cores or across power states is only meaningful when the TSC is
invariant (``constant_tsc`` and ``nonstop_tsc`` in /proc/cpuinfo, see :func:`tsc_invariant`).

Fallbacks. Under ``NUMBA_DISABLE_JIT=1`` every read is plain Python: the two clocks use
``time.clock_gettime_ns`` and the three TSC reads return ``time.perf_counter_ns()`` (nanoseconds,
not ticks; :func:`tsc_hz` then answers 1e9 so conversions stay right). On a machine without an
x86 TSC the compiled TSC reads return ``monotonic_ns()`` and :func:`tsc_hz` is 1e9 likewise;
:data:`TSC_SOURCE` names what the TSC reads really read.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import platform
import time
from functools import lru_cache
from pathlib import Path

from numba import njit
from numba.core import config

CLOCK_REALTIME: int = time.CLOCK_REALTIME
CLOCK_MONOTONIC: int = time.CLOCK_MONOTONIC
if (CLOCK_REALTIME, CLOCK_MONOTONIC) != (0, 1):
    raise ImportError("tickpath.telemetry.nclock assumes Linux clock ids (REALTIME 0, MONOTONIC 1)")

#: The LLVM symbol name under which libc's ``clock_gettime`` is registered.
SYMBOL = "tickpath_clock_gettime"

_CPUINFO = Path("/proc/cpuinfo")


def cpu_flags(cpuinfo: Path = _CPUINFO) -> frozenset[str]:
    """The CPU feature flags of the first processor in /proc/cpuinfo (empty if unreadable)."""
    try:
        with cpuinfo.open() as f:
            for line in f:
                key, _, value = line.partition(":")
                if key.strip() in ("flags", "Features"):
                    return frozenset(value.split())
    except OSError:
        pass
    return frozenset()


def _x86_tsc() -> bool:
    return (platform.machine().lower() in ("x86_64", "amd64")) and "tsc" in cpu_flags()


#: True when the compiled TSC reads execute ``rdtsc``/``rdtscp`` (x86-64 with a TSC, JIT on).
HAS_TSC: bool = _x86_tsc() and not config.DISABLE_JIT

#: What ``rdtsc()`` and friends actually read: "rdtsc", "monotonic_ns" or "perf_counter_ns".
TSC_SOURCE: str = ("perf_counter_ns" if config.DISABLE_JIT
                   else "rdtsc" if HAS_TSC else "monotonic_ns")


def tsc_invariant() -> bool:
    """True when the TSC ticks at a constant rate through frequency and sleep states.

    That is both ``constant_tsc`` and ``nonstop_tsc`` in /proc/cpuinfo. (Under a hypervisor
    the flags are what it exposes; KVM exposes them only when it keeps the TSC stable.)
    """
    flags = cpu_flags()
    return "constant_tsc" in flags and "nonstop_tsc" in flags


def _clock_gettime_address() -> int:
    for name in (None, ctypes.util.find_library("c"), "librt.so.1"):
        try:
            fn = ctypes.CDLL(name).clock_gettime
        except (OSError, AttributeError):
            continue
        addr = ctypes.cast(fn, ctypes.c_void_p).value
        if addr:
            return addr
    raise OSError("clock_gettime not found in the C library")


if config.DISABLE_JIT:  # plain Python: steppable in a debugger, no LLVM involved

    def _clock_gettime_ns(clk_id):
        return time.clock_gettime_ns(clk_id)

    def _rdtsc():
        return time.perf_counter_ns()

    def _rdtsc_fenced():
        return time.perf_counter_ns()

    def _rdtscp():
        return time.perf_counter_ns()

else:
    import llvmlite.binding as _llvm
    from llvmlite import ir
    from numba.core import cgutils, types
    from numba.extending import intrinsic

    _llvm.add_symbol(SYMBOL, _clock_gettime_address())

    _i32 = ir.IntType(32)
    _i64 = ir.IntType(64)
    _TIMESPEC = ir.LiteralStructType([_i64, _i64])  # struct timespec on 64-bit Linux

    def _clock_gettime_codegen(context, builder, signature, args):
        clk = context.cast(builder, args[0], signature.args[0], types.int32)
        ts = cgutils.alloca_once(builder, _TIMESPEC)  # entry block: one slot per caller
        fnty = ir.FunctionType(_i32, [_i32, _TIMESPEC.as_pointer()])
        fn = cgutils.get_or_insert_function(builder.module, fnty, SYMBOL)
        builder.call(fn, [clk, ts])
        sec = builder.load(cgutils.gep_inbounds(builder, ts, 0, 0))
        nsec = builder.load(cgutils.gep_inbounds(builder, ts, 0, 1))
        return builder.add(builder.mul(sec, _i64(1_000_000_000)), nsec)

    @intrinsic
    def _clock_gettime_ns(typingctx, clk_id):
        if not isinstance(clk_id, types.Integer):
            return None
        return types.int64(clk_id), _clock_gettime_codegen

    def _call(builder, name, ret):
        fn = cgutils.get_or_insert_function(builder.module, ir.FunctionType(ret, []), name)
        return builder.call(fn, [])

    def _rdtsc_codegen(context, builder, signature, args):
        return _call(builder, "llvm.x86.rdtsc", _i64)

    def _rdtsc_fenced_codegen(context, builder, signature, args):
        _call(builder, "llvm.x86.sse2.lfence", ir.VoidType())
        return _call(builder, "llvm.x86.rdtsc", _i64)

    def _rdtscp_codegen(context, builder, signature, args):
        pair = _call(builder, "llvm.x86.rdtscp", ir.LiteralStructType([_i64, _i32]))
        return builder.extract_value(pair, 0)

    if HAS_TSC:

        @intrinsic
        def _rdtsc(typingctx):
            return types.int64(), _rdtsc_codegen

        @intrinsic
        def _rdtsc_fenced(typingctx):
            return types.int64(), _rdtsc_fenced_codegen

        @intrinsic
        def _rdtscp(typingctx):
            return types.int64(), _rdtscp_codegen

    else:  # no x86 TSC: the monotonic clock stands in, in nanoseconds

        @njit(nogil=True, cache=True)
        def _rdtsc():
            return _clock_gettime_ns(1)

        _rdtsc_fenced = _rdtscp = _rdtsc


@njit(nogil=True, cache=True)
def realtime_ns():
    """CLOCK_REALTIME in nanoseconds since the epoch: the path's one clock."""
    return _clock_gettime_ns(0)


@njit(nogil=True, cache=True)
def monotonic_ns():
    """CLOCK_MONOTONIC in nanoseconds (never steps; for intervals within one host)."""
    return _clock_gettime_ns(1)


@njit(nogil=True, cache=True)
def rdtsc():
    """The time-stamp counter, unordered: cheapest; may be read before earlier work is done."""
    return _rdtsc()


@njit(nogil=True, cache=True)
def rdtsc_fenced():
    """``lfence; rdtsc``: the time-stamp counter after all earlier instructions completed."""
    return _rdtsc_fenced()


@njit(nogil=True, cache=True)
def rdtscp():
    """``rdtscp``: the time-stamp counter after earlier instructions (the core id is dropped)."""
    return _rdtscp()


def _bracketed_pair(tries: int = 32) -> tuple[int, int]:
    """(monotonic ns, TSC) read as close together as this process manages."""
    best = None
    for _ in range(tries):
        a = time.clock_gettime_ns(CLOCK_MONOTONIC)
        t = rdtsc_fenced()
        b = time.clock_gettime_ns(CLOCK_MONOTONIC)
        if best is None or b - a < best[0]:
            best = (b - a, (a + b) // 2, t)
    return best[1], best[2]


def calibrate_tsc(seconds: float = 0.1) -> float:
    """Measure the TSC rate in Hz against CLOCK_MONOTONIC over ``seconds`` (blocking, cold).

    Each end is the TSC read between two monotonic reads, the tightest of several tries, so
    the error is a microsecond or so over the interval (1e-5 at 0.1 s).
    """
    if TSC_SOURCE != "rdtsc":
        return 1e9
    rdtsc_fenced()  # compiled (or loaded from cache) before timing
    m0, t0 = _bracketed_pair()
    time.sleep(seconds)
    m1, t1 = _bracketed_pair()
    return (t1 - t0) * 1e9 / (m1 - m0)


@lru_cache(maxsize=1)
def tsc_hz() -> float:
    """TSC ticks per second, calibrated once per process (1e9 when the TSC reads are ns)."""
    return calibrate_tsc()


def tsc_info() -> dict[str, object]:
    """What the TSC reads are on this host: source, invariance flags and rate."""
    flags = cpu_flags()
    return {
        "source": TSC_SOURCE,
        "invariant": tsc_invariant(),
        "flags": sorted(f for f in flags if "tsc" in f),
        "hz": tsc_hz(),
    }
