"""Decode ITCH blocks straight into the books: one compiled pass over a file's bytes.

The two-pass way (``decode_batch`` fills an event array, then ``apply_batch`` walks it) writes
and reads back an 80-byte event per message and branches on the message type twice. Here each
block is decoded into a one-record scratch that stays in L1 and applied at once, and the
prefetches look ahead in the raw bytes: every order message (A F E C X D U) has its
reference at byte 11 and its locate at byte 1, so the blocks ``PREFETCH_FAR`` and
``PREFETCH_NEAR`` ahead are read for those alone. The framing checks are ``decode_batch``'s;
anything they refuse, and any message the books refuse, ends the call at that block, so the
caller (``ItchHandler``) reports or settles it and goes on. ``apply_blocks_rows`` is the same pass
writing rows for export.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ..codec.itch50.decode import (
    LENGTH_MISMATCH,
    NEED_MORE,
    OK,
    UNKNOWN_TYPE,
    be16,
    be64,
    decode_message,
)
from ..ring.intrinsics import prefetch, prefetch2
from .apply import OK as BOOK_OK
from .apply import PREFETCH_FAR, PREFETCH_NEAR, apply_one, window_slot
from .apply_rows import ROWS_FULL, apply_noting_rows, rows_room, store_fill
from .rows import DIRECTORY, EVENTS, TOP, TRADES

_EVENTS_STAT = 11  # records.Stat.EVENTS

_TWO = np.uint64(2)
_REF_END = np.uint64(2 + 11 + 8)  # length prefix, header, reference


@njit(cache=True, nogil=True, _nrt=False, inline="always")
def _is_order(t):
    return t == 65 or t == 70 or t == 69 or t == 67 or t == 88 or t == 68 or t == 85


@njit(cache=True, nogil=True, _nrt=False, inline="always")
def _next_block(buf, q, e):
    """The block after the one at ``q``; ``q`` itself when that one is cut or empty (the
    lookahead stops there: it only prefetches)."""
    if q + _TWO > e:
        return q
    n = be16(buf, q)
    if n == 0 or q + _TWO + n > e:
        return q
    return q + _TWO + n


@njit(cache=True, nogil=True, _nrt=False, inline="always")
def prefetch_blocks(buf, far, near, e, orders, mask, levels, heads):
    """The order slot and book heads of the block at ``far``; the level of the order at
    ``near``, whose slot is cached by now (usually its window slot), and its book's best
    levels. Returns the blocks after ``far`` and ``near``."""
    if far + _REF_END <= e and _is_order(buf[far + _TWO]):
        prefetch(orders, window_slot(be64(buf, far + np.uint64(13)), mask))
        prefetch2(heads, be16(buf, far + np.uint64(3)), 0)
    # (apply.py's prefetch_order_level does the same for decoded events; called here it made
    # the pass 1.25x slower, measured: numba inlines at its IR level, LLVM did worse)
    if near + _REF_END <= e and _is_order(buf[near + _TWO]):
        j = window_slot(be64(buf, near + np.uint64(13)), mask)
        if orders[j]["ref"] == be64(buf, near + np.uint64(13)):
            prefetch(levels, orders[j]["level"])
        loc = be16(buf, near + np.uint64(3))
        hb = heads[loc, 0]
        ha = heads[loc, 1]
        if hb >= 0:
            prefetch(levels, hb)
        if ha >= 0:
            prefetch(levels, ha)
    return _next_block(buf, far, e), _next_block(buf, near, e)


@njit(cache=True, nogil=True, _nrt=False, inline="always")
def lookahead(buf, p, e):
    """The blocks ``PREFETCH_FAR`` and ``PREFETCH_NEAR`` after ``p`` (or the last whole one)."""
    far = p
    for _ in range(PREFETCH_FAR):
        far = _next_block(buf, far, e)
    near = p
    for _ in range(PREFETCH_NEAR):
        near = _next_block(buf, near, e)
    return far, near


@njit(cache=True, nogil=True, _nrt=False, inline="always")
def frame_status(buf, p, e, lengths):
    """``decode_batch``'s checks of the block at ``p``: ``(status, length)``."""
    size = be16(buf, p)
    if p + _TWO + size > e:
        return NEED_MORE, size
    if size == 0:
        return LENGTH_MISMATCH, size
    want = lengths[buf[p + _TWO]]
    if want == 0:
        return UNKNOWN_TYPE, size
    if want != size:
        return LENGTH_MISMATCH, size
    return OK, size


@njit(cache=True, nogil=True, _nrt=False)
def apply_blocks(buf, start, end, lengths, scratch, base, orders, mask, levels, free, heads,
                 stats, inst, symbols, type_counts, max_orders):
    """Decode and apply the blocks of ``buf[start:end]`` (``base``: the stream offset of
    ``buf[0]``). Returns ``(applied, status, book_status, offset)``: messages applied; a
    decoder status (``decode.OK`` when every whole block was applied, else why the block at
    ``offset`` was not decoded, ``NEED_MORE`` for a cut last block); and a book status,
    not ``BOOK_OK`` when the books refused the message at ``offset`` (decoded into
    ``scratch[0]``, the books unchanged)."""
    p = np.uint64(start)
    e = np.uint64(end)
    ev = scratch[0]
    far, near = lookahead(buf, p, e)
    n = 0
    while p + _TWO <= e:
        far, near = prefetch_blocks(buf, far, near, e, orders, mask, levels, heads)
        fst, size = frame_status(buf, p, e, lengths)
        if fst != OK:
            stats[_EVENTS_STAT] += n
            return n, fst, BOOK_OK, p
        t = buf[p + _TWO]
        decode_message(buf, p + _TWO, ev)
        ev["offset"] = np.uint64(base) + p + _TWO
        st = apply_one(ev, orders, mask, levels, free, heads, stats, inst, symbols, max_orders)
        if st != BOOK_OK:
            stats[_EVENTS_STAT] += n
            return n, OK, st, p
        type_counts[t] += 1
        n += 1
        p += _TWO + size
    stats[_EVENTS_STAT] += n
    if p < e:
        return n, NEED_MORE, BOOK_OK, p
    return n, OK, BOOK_OK, p


@njit(cache=True, nogil=True, _nrt=False)
def apply_blocks_rows(buf, start, end, lengths, scratch, base, orders, mask, levels, free,
                      heads, stats, inst, symbols, type_counts, max_orders, ev_rows, top_rows,
                      trade_rows, directory, fill, last_top):
    """:func:`apply_blocks` writing rows as ``book/apply_rows.py``'s ``apply_batch_rows``
    does (the same ``apply_noting_rows``, inlined; a table not wanted passed as None).
    Returns what :func:`apply_blocks` returns; a book status of ``ROWS_FULL`` says a row array
    had no room for the block at ``offset`` (not applied): hand the full arrays on and call
    again from there."""
    n_ev = fill[EVENTS]
    n_top = fill[TOP]
    n_tr = fill[TRADES]
    n_dir = fill[DIRECTORY]
    room = rows_room(ev_rows, top_rows, trade_rows, directory, fill)
    p = np.uint64(start)
    e = np.uint64(end)
    ev = scratch[0]
    far, near = lookahead(buf, p, e)
    n = 0
    fst = OK
    bst = BOOK_OK
    while p + _TWO <= e:
        if n == room:
            bst = ROWS_FULL
            break
        far, near = prefetch_blocks(buf, far, near, e, orders, mask, levels, heads)
        fst, size = frame_status(buf, p, e, lengths)
        if fst != OK:
            break
        decode_message(buf, p + _TWO, ev)
        ev["offset"] = np.uint64(base) + p + _TWO
        bst, n_ev, n_top, n_tr, n_dir = apply_noting_rows(
            ev, orders, mask, levels, free, heads, stats, inst, symbols, type_counts,
            max_orders, ev_rows, top_rows, trade_rows, directory, last_top, n_ev, n_top, n_tr,
            n_dir)
        if bst != BOOK_OK:
            break
        n += 1
        p += _TWO + size
    stats[_EVENTS_STAT] += n
    store_fill(fill, n_ev, n_top, n_tr, n_dir)
    if fst == OK and bst == BOOK_OK and p < e:
        fst = NEED_MORE  # a cut last block (fewer than two bytes of it)
    return n, fst, bst, p
