"""SecurityID -> instrument index: an open-addressing table filled as instruments appear.

CME security ids are sparse 32-bit numbers; the books are indexed 0..n-1 in order of first
sight. The table has a power-of-two number of slots, at least twice the instruments, so a
probe ends within a few slots; it is preallocated and never grows inside the compiled step (a
full table is a refusal the owner reports).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .layout import I_SECURITY_ID, I_STATE, S_UNKNOWN

EMPTY = -1

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


def new_table(max_instruments: int) -> np.ndarray:
    """The slots for up to ``max_instruments`` ids: int64 ``[slots, 2]`` (security id,
    instrument index), all empty."""
    slots = 1
    while slots < 2 * max_instruments:
        slots <<= 1
    return np.full((slots, 2), EMPTY, np.int64)


@njit(cache=True, nogil=True, _nrt=False, inline="always")
def find(table, sec):
    """The instrument index of security id ``sec``, or -1."""
    mask = table.shape[0] - 1
    h = np.int64((np.uint64(sec & 0xFFFFFFFF) * _GOLDEN) >> np.uint64(40)) & mask
    while True:
        k = table[h, 0]
        if k == sec:
            return table[h, 1]
        if k == EMPTY:
            return np.int64(-1)
        h = (h + 1) & mask


@njit(cache=True, nogil=True, _nrt=False, inline="always")
def find_or_add(table, inst, count, sec):
    """``(index, count)``: the index of ``sec``, adding it (as unknown) when new; index -1 when
    the instrument table (``inst``'s rows) is full."""
    mask = table.shape[0] - 1
    h = np.int64((np.uint64(sec & 0xFFFFFFFF) * _GOLDEN) >> np.uint64(40)) & mask
    while True:
        k = table[h, 0]
        if k == sec:
            return table[h, 1], count
        if k == EMPTY:
            if count >= inst.shape[0]:
                return np.int64(-1), count
            table[h, 0] = sec
            table[h, 1] = count
            for c in range(inst.shape[1]):
                inst[count, c] = 0
            inst[count, I_SECURITY_ID] = sec
            inst[count, I_STATE] = S_UNKNOWN
            return count, count + 1
        h = (h + 1) & mask
