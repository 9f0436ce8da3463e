"""Compiled record framing for DBN streams that mix record types.

A file of one schema holds records of one type and size, and :class:`~.reader.DbnReader`
views it in place. A stream that mixes them (a live capture: symbol mappings, system
messages, several schemas) goes through :func:`gather_records`, which walks the records by
their length byte and copies those of the wanted type side by side, so they can be viewed
with the record dtype all the same. Only the header's first two bytes are read here; every
field is read through the dtypes of :mod:`.records`.
"""

from __future__ import annotations

import numpy as np
from numba import njit

#: statuses of :func:`gather_records`
OK = 0
BAD_LENGTH = 1  # a length byte under the 16-byte header, or the wanted rtype with another size
OUT_FULL = 2  # ``out`` has no room for another record: view it and call again

HEADER_BYTES = 16


@njit(cache=True, nogil=True, _nrt=False)
def gather_records(buf, start, end, rtype, size, out, offsets, base, rtype_counts):
    """Walk the records of ``buf[start:end]`` and copy those of ``rtype`` (each ``size``
    bytes) into ``out`` (uint8, a multiple of ``size``), their stream offsets (``base`` +
    position) into ``offsets``; every record counts in ``rtype_counts[rtype]``.

    ``gather_records(buf, start, end, rtype, size, out, offsets, base, rtype_counts) ->
    (copied, position, status)``: ``position`` is where the walk stopped: ``end``, the start
    of a record that is not whole before ``end`` (the caller keeps it for the next bytes),
    or the record at fault (BAD_LENGTH) or that did not fit (OUT_FULL)."""
    pos = start
    n = 0
    cap = out.shape[0] // size
    while pos + 1 < end:
        length = np.int64(buf[pos]) * 4
        rt = buf[pos + 1]
        if length < HEADER_BYTES or (rt == rtype and length != size):
            return n, pos, BAD_LENGTH
        if pos + length > end:
            break
        if rt == rtype:
            if n >= cap:
                return n, pos, OUT_FULL
            o = n * size
            for j in range(size):
                out[o + j] = buf[pos + j]
            offsets[n] = base + pos
            n += 1
        rtype_counts[rt] += 1
        pos += length
    return n, pos, OK

