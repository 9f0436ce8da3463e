"""The atomics intrinsics: values, typing, and (in the machine code) that a spinning load
stays inside its loop.

The assembly check is the reason the intrinsics exist: with a plain ``arr[i]`` LLVM may load
once before the loop and spin on a register forever. The control case shows the check can
tell the difference. Skipped under NUMBA_DISABLE_JIT (no machine code) and off x86-64.
"""

from __future__ import annotations

import platform
import re

import numpy as np
import pytest
from numba import njit
from numba.core import config
from numba.core.errors import TypingError

from tickpath.ring import spsc
from tickpath.ring.atomics import (
    cpu_relax,
    fetch_add,
    load_acquire,
    load_relaxed,
    store_relaxed,
    store_release,
)

needs_asm = pytest.mark.skipif(config.DISABLE_JIT or platform.machine() != "x86_64",
                               reason="needs compiled x86-64 code")


@njit
def _exercise(a):
    store_release(a, 0, 5)
    store_relaxed(a, 1, np.int32(-7))
    x = load_acquire(a, 0) + load_relaxed(a, 1)
    old = fetch_add(a, 2, 10)
    cpu_relax()
    return x, old


def test_values():
    a = np.array([0, 0, 32, 0], np.int64)
    assert _exercise(a) == (-2, 32)
    assert a.tolist() == [5, -7, 42, 0]
    b = np.arange(8, dtype=np.int64)[::2]  # a strided view works too
    assert _exercise(b) == (-2, 4)
    assert b.tolist() == [5, -7, 14, 6]


@pytest.mark.skipif(config.DISABLE_JIT, reason="typing is a compiled-mode matter")
def test_refuses_non_int64_arrays():
    @njit
    def f(a):
        return load_acquire(a, 0)

    with pytest.raises(TypingError):
        f(np.zeros(4, np.float64))
    with pytest.raises(TypingError):
        f(np.zeros(4, np.int32))
    with pytest.raises(TypingError):
        f(np.zeros((2, 2), np.int64))


# ---------------------------------------------------------------------------- assembly


def _native_asm(fn) -> list[str]:
    """The instructions and labels of ``fn``'s native body (not its CPython wrapper)."""
    text = fn.inspect_asm(fn.signatures[0])
    out, inside = [], False
    for line in text.splitlines():
        s = line.strip()
        if s.endswith(":") and s.startswith("_ZN"):
            if inside:
                break
            inside = "cpython" not in s
            continue
        if inside and s and (not s.startswith(".") or re.match(r"\.LBB\d+_\d+:", s)):
            out.append(s)
    return out


def _blocks(asm: list[str]) -> tuple[list[list[str]], dict[int, list[int]]]:
    """Split into basic blocks; return them and the control-flow edges between them."""
    blocks: list[list[str]] = [[]]
    for s in asm:
        if re.match(r"\.LBB\d+_\d+:", s) and blocks[-1]:
            blocks.append([])
        blocks[-1].append(s)
        if re.match(r"(j\w+|retq?)\b", s):
            blocks.append([])
    blocks = [b for b in blocks if b]
    label = {b[0][:-1]: i for i, b in enumerate(blocks) if b[0].endswith(":")}
    edges: dict[int, list[int]] = {}
    for i, b in enumerate(blocks):
        last = b[-1]
        out = []
        m = re.match(r"(j\w+)\s+(\.LBB\d+_\d+)$", last)
        if m:
            out.append(label[m.group(2)])
        if not (re.match(r"(jmp|retq?)\b", last)) and i + 1 < len(blocks):
            out.append(i + 1)  # falls through
        edges[i] = out
    return blocks, edges


def _reads_memory(ins: str) -> bool:
    """True for an instruction that loads from memory (AT&T syntax: source operand first)."""
    op, _, operands = ins.partition("\t")
    if "(" not in operands or op.startswith("lea"):
        return False
    if op.startswith("mov"):
        return "(" in operands.split(",")[0]  # a load, not a store
    return True  # cmp/test/add/inc/... with a memory operand read it


def _spins_without_reloading(fn) -> bool:
    """True when the machine code has a cycle that loads nothing from memory: a wait loop
    that could never see another core's store. False when every cycle loads something."""
    blocks, edges = _blocks(_native_asm(fn))
    loads = {i for i, b in enumerate(blocks) if any(_reads_memory(s) for s in b)}
    assert any(len(b) > 1 for b in blocks)
    for start in range(len(blocks)):
        if start in loads:
            continue
        seen, todo = set(), [j for j in edges[start] if j not in loads]
        while todo:
            j = todo.pop()
            if j == start:
                return True
            if j not in seen:
                seen.add(j)
                todo.extend(k for k in edges[j] if k not in loads)
    return False


@njit(nogil=True)
def _spin_acquire(a, i, v):
    n = 0
    while load_acquire(a, i) != v:
        cpu_relax()
        n += 1
    return n


@njit(nogil=True)
def _spin_acquire_no_pause(a, i, v):
    n = 0
    while load_acquire(a, i) != v:
        n += 1
    return n


@njit(nogil=True)
def _spin_plain(a, i, v):  # the bug the intrinsics prevent (a pause would hide it: LLVM
    n = 0                  # assumes the pause intrinsic may write memory)
    while a[i] != v:
        n += 1
    return n


@njit(nogil=True, _nrt=False)
def _consumer_slot(hdr, words, n):
    got = 0
    while got < n:
        k = spsc.poll_slot(hdr, words, 64)
        if k == 0:
            cpu_relax()
            continue
        spsc.release(hdr, k)
        got += k
    return got


@njit(nogil=True, _nrt=False)
def _consumer_cursor(hdr, words, n):
    got = 0
    while got < n:
        k = spsc.poll_cursor(hdr, 64)
        if k == 0:
            cpu_relax()
            continue
        spsc.release(hdr, k)
        got += k
    return got


@needs_asm
def test_acquire_load_stays_in_the_spin_loop():
    a = np.array([0, 1], np.int64)
    _spin_acquire(a, 1, 1)
    _spin_acquire_no_pause(a, 1, 1)
    assert not _spins_without_reloading(_spin_acquire)
    assert not _spins_without_reloading(_spin_acquire_no_pause)


@needs_asm
def test_control_plain_load_is_hoisted_out_of_the_loop():
    a = np.array([0, 1], np.int64)
    _spin_plain(a, 1, 1)
    assert _spins_without_reloading(_spin_plain)


@needs_asm
@pytest.mark.parametrize("consumer", [_consumer_slot, _consumer_cursor])
def test_ring_consumer_spin_reloads_the_shared_word(make_ring, consumer):
    ring = make_ring(8, 64)
    ring.offer([1])
    assert consumer(ring.header, ring.words, 1) == 1
    assert not _spins_without_reloading(consumer)
    # and no reference counting inside: the kernels are inlined and take no new references
    assert not any("NRT_" in s for s in _native_asm(consumer))
