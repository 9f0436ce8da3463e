"""Finding the message boundaries again after a damaged block in a length-prefixed ITCH stream.

A stream of blocks (2-byte big-endian length, then one ITCH 5.0 message: a NASDAQ BinaryFILE,
or a MoldUDP64 body) carries no sync marker, so after a block whose length cannot be trusted
the only way back is to test offsets. An offset ``q`` is a *candidate* when the block there is
consistent: its length equals its type's fixed length (``layout.LENGTHS``, 0 for an unknown
type) and its timestamp is a time of day (under 24 h in ns, which the 6-byte field can exceed).
Decoding resumes at the first offset from which ``run`` consecutive blocks are consistent, each
starting where the previous one ends; at the end of the input (``final``) a shorter chain that
ends exactly there (or at a zero-length end-of-session block that ends it) counts too.

Random bytes pass one check about once in 2.4 million offsets (a known type byte: 23 in 256;
a length whose high byte is 0 and low byte that type's: 1 in 65536; a 6-byte timestamp under
24 h: 79 in 256); message bodies are less random than that, which is
why one check is not enough and ``run`` of them are asked for. What a false resync can do is spelled out in docs/replay.md.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .decode import be16, be48

#: Blocks that must agree before decoding resumes (the default of ``find_resync``'s ``run``).
RUN = 4
#: A time of day in ns: the largest valid ITCH timestamp is one below this.
DAY_NS = 86_400 * 1_000_000_000

# statuses of find_resync
FOUND = 0  # decoding resumes at the returned offset
NEED_MORE = 1  # undecided from the returned offset on: call again with more bytes from there
NOT_FOUND = 2  # (final) no boundary before the end: everything from start on is lost

# what consistent_at says about one block
_NO = 0
_YES = 1
_SHORT = 2  # the input ends before the block can be judged, or inside it


@njit(cache=True, nogil=True, _nrt=False)
def consistent_at(buf, q, end, lengths):
    """Whether the block at ``buf[q]`` is consistent (``_YES``), not (``_NO``), or cannot be
    judged before ``end`` (``_SHORT``)."""
    if q + 3 > end:
        return _SHORT
    n = np.int64(be16(buf, np.uint64(q)))
    want = np.int64(lengths[buf[q + 2]])
    if want == 0 or n != want:
        return _NO
    if q + 2 + n > end:
        return _SHORT
    if np.int64(be48(buf, np.uint64(q + 7))) >= DAY_NS:
        return _NO
    return _YES


@njit(cache=True, nogil=True, _nrt=False)
def chain_at(buf, q, end, lengths, run, final):
    """``_YES`` when ``run`` consistent blocks follow each other from ``buf[q]`` (or, with
    ``final``, at least one and they end exactly at ``end`` or at a zero-length block that
    does), ``_NO`` when one of them is not consistent, ``_SHORT`` when more input is needed."""
    p = q
    for k in range(run):
        c = consistent_at(buf, p, end, lengths)
        if c == _NO:
            return _NO
        if c == _SHORT:
            if not final:
                return _SHORT
            if k > 0 and (p == end or (p + 2 == end and buf[p] == 0 and buf[p + 1] == 0)):
                return _YES
            return _NO
        p += 2 + np.int64(be16(buf, np.uint64(p)))
    return _YES


@njit(cache=True, nogil=True, _nrt=False)
def find_resync(buf, start, end, lengths, run, final):
    """The first offset in ``buf[start:end]`` from which ``run`` consistent blocks follow.

    Returns ``(status, offset)``: FOUND and where to resume; NEED_MORE and the first offset
    not yet ruled out (the bytes before it are lost; call again with more input starting
    there); NOT_FOUND and ``end`` (only with ``final``: the rest of the input is lost).
    """
    for q in range(start, end):
        c = chain_at(buf, q, end, lengths, run, final)
        if c == _YES:
            return FOUND, q
        if c == _SHORT:
            return NEED_MORE, q
    if final:
        return NOT_FOUND, end
    return NEED_MORE, end
