"""The instrument directory of a DBN replay: (publisher_id, instrument_id) -> book row.

Rows are handed out in the order instruments are first seen. The key is the pair because a
dataset that spans venues (consolidated equities) gives one instrument_id to the same symbol
on every venue, each with its own book. Kept in an open-addressing table (Fibonacci hashing,
linear probing) that compiled code probes per record; :class:`InstrumentDirectory` owns it.
"""

from __future__ import annotations

import numpy as np
from numba import njit

EMPTY_KEY = np.uint64(0xFFFF_FFFF_FFFF_FFFF)  # no real key: publisher_id is 16 bits
_GOLDEN = np.uint64(0x9E3779B97F4A7C15)


@njit(cache=True, nogil=True, _nrt=False, inline="always")
def instrument_key(publisher_id, instrument_id):
    """The directory's key of a record: publisher in the high half, instrument below."""
    return (np.uint64(publisher_id) << np.uint64(32)) | np.uint64(instrument_id)


@njit(cache=True, nogil=True, _nrt=False, inline="always")
def row_of(keys, rows, row_keys, count, limit, key):
    """The row of ``key``, a new one when it is new; -1 when ``limit`` rows are taken.

    ``keys`` (uint64) and ``rows`` (int32) are the hash table (a power of two, at least
    twice ``limit``), ``row_keys`` (uint64) the key of each row, ``count`` (int64[1]) the
    rows handed out."""
    mask = keys.shape[0] - 1
    i = np.int64((key * _GOLDEN) >> np.uint64(32)) & mask
    while True:
        k = keys[i]
        if k == key:
            return np.int64(rows[i])
        if k == EMPTY_KEY:
            break
        i = (i + 1) & mask
    n = count[0]
    if n >= limit:
        return -1
    keys[i] = key
    rows[i] = n
    row_keys[n] = key
    count[0] = n + 1
    return n


@njit(cache=True, nogil=True, _nrt=False, inline="always")
def forget_last(keys, row_keys, count, key):
    """Take back the row :func:`row_of` has just handed ``key`` (the last one): its record
    was refused. Safe with linear probing because no key went in after it."""
    mask = keys.shape[0] - 1
    i = np.int64((key * _GOLDEN) >> np.uint64(32)) & mask
    while keys[i] != key:
        i = (i + 1) & mask
    keys[i] = EMPTY_KEY
    n = count[0] - 1
    row_keys[n] = 0
    count[0] = n


class InstrumentDirectory:
    """Rows for up to ``max_instruments`` (publisher_id, instrument_id) pairs."""

    def __init__(self, max_instruments: int) -> None:
        if max_instruments < 1:
            raise ValueError("max_instruments must be positive")
        self.max_instruments = int(max_instruments)
        slots = 1 << max(4, (2 * self.max_instruments - 1).bit_length())
        self.keys = np.full(slots, EMPTY_KEY, np.uint64)
        self.rows = np.zeros(slots, np.int32)
        self.row_keys = np.zeros(self.max_instruments, np.uint64)
        self.count = np.zeros(1, np.int64)

    def __len__(self) -> int:
        return int(self.count[0])

    def pairs(self) -> list[tuple[int, int]]:
        """(publisher_id, instrument_id) of each row, in row order."""
        ks = self.row_keys[:len(self)].tolist()
        return [(k >> 32, k & 0xFFFF_FFFF) for k in ks]
