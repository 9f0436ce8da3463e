"""The full-snapshot handler's compiled step: one MDP3 packet of SnapshotFullRefresh52 ->
sequenced -> each message checked whole -> its instrument's book replaced; and its
implementation of the transports' seam (:func:`tickpath.wire.handler.on_datagram`).

Sequencing is by the packet's MsgSeqNum on this channel: a number already taken is a
duplicate (skipped), a jump is a gap, counted and passed over, never recovered: the next
snapshot of each instrument repairs its book. Each message is framed and its entries copied
into scratch arrays, then handed to the depth-book kernel that the incremental handler's
snapshot recovery uses (:func:`tickpath.book.depth.depth_snapshot`), which checks every entry
before it writes and replaces both books of the instrument or leaves them as they were. A
refused message is counted by reason, the last one's reason, offset, MsgSeqNum and template
kept; the packet's other messages are taken all the same (each is self-contained), except
after a MsgSize that cannot be stepped over.
"""

from __future__ import annotations

from collections import namedtuple

import numpy as np
from numba import njit

from ...book.depth import depth_snapshot
from ...codec.sbe.fields import get_i8, get_i32, get_i64, get_u8, get_u16, get_u32, get_u64
from ...telemetry.nclock import realtime_ns
from ...wire import handler as seam
from ..mdp3 import instruments as T
from .layout import (
    FIRST_REASON,
    I_RPT_SEQ,
    I_SENT,
    I_SNAP_SEQ,
    I_SNAPSHOTS,
    SN_ENTRY,
    SN_LAST_SEQ,
    SN_LEVEL,
    SN_ORDERS,
    SN_PX,
    SN_READ_BLOCK,
    SN_RPT,
    SN_SEC,
    SN_SIZE,
    SN_TYPE,
    SNAPSHOT52,
    Counter,
    Refusal,
)

GO_ON = seam.GO_ON

_LAST_SEQ, _PACKETS, _DUPLICATES = int(Counter.LAST_SEQ), int(Counter.PACKETS), \
    int(Counter.DUPLICATES)
_GAPS, _GAP_PACKETS, _DATAGRAMS = int(Counter.GAPS), int(Counter.GAP_PACKETS), \
    int(Counter.DATAGRAMS)
_MESSAGES, _SNAPSHOTS, _REFUSED = int(Counter.MESSAGES), int(Counter.SNAPSHOTS), \
    int(Counter.REFUSED)
_SAMPLES, _INSTRUMENTS = int(Counter.SAMPLES), int(Counter.INSTRUMENTS)
_L_REASON, _L_OFFSET, _L_SEQ, _L_TID, _L_DETAIL = (
    int(Counter.LAST_REASON), int(Counter.LAST_OFFSET), int(Counter.LAST_SEQ_REFUSED),
    int(Counter.LAST_TEMPLATE), int(Counter.LAST_DETAIL))
_FIRST_REASON = int(FIRST_REASON)
(_SHORT_PACKET, _BAD_SIZE, _TRUNCATED, _FOREIGN, _UNEXPECTED, _SHORT_BLOCK, _OVERRUN,
 _SHORT_ENTRY, _TOO_MANY, _FULL, _BOOK) = (int(r) for r in list(Refusal)[1:])
_HEADER = 12  # MsgSeqNum u32, SendingTime u64
_PREFIX = 2  # MsgSize
_SBE = 8  # blockLength, templateId, schemaId, version
_SCHEMA_ID = 1

#: The handler's state, as the receive loops carry it (built by
#: :class:`tickpath.feed.mdp3_full.FullRefreshFeed`); numba dispatches the seam on this type.
FullRefreshState = namedtuple("FullRefreshState", [
    "chan",  # counters and the last refusal (layout.Counter, then one word per reason)
    "inst", "table",  # per-instrument columns (layout I_*), SecurityID -> row
    "px", "qty", "nord", "limits", "dstats",  # the depth books (tickpath.book.depth)
    "types", "levels", "prices", "sizes", "orders",  # scratch: one message's entries
    "lat", "ker", "snt",  # latency samples: SendingTime -> books, -> receive stamp; SendingTime
])


@njit(cache=True, nogil=True, _nrt=False)
def refuse(chan, reason, offset, seq, tid, detail):
    """Count a refusal and keep it as the last one."""
    chan[_REFUSED] += 1
    chan[_FIRST_REASON + reason - 1] += 1
    chan[_L_REASON] = reason
    chan[_L_OFFSET] = offset
    chan[_L_SEQ] = seq
    chan[_L_TID] = tid
    chan[_L_DETAIL] = detail


@njit(cache=True, nogil=True, _nrt=False)
def take52(state, buf, root, bl, mend, seq, sent):
    """The SnapshotFullRefresh52 whose root block is at ``root`` (``bl`` bytes, the message
    ending at ``mend``): its entries checked and, when all pass, its instrument's books
    replaced. Returns ``(refusal, book status)``; (0, 0) when taken."""
    g = root + bl
    if g + 3 > mend:
        return _OVERRUN, 0
    ebl = np.int64(get_u16(buf, g))
    n = np.int64(get_u8(buf, g + 2))
    e0 = g + 3
    if n > 0 and ebl < SN_ENTRY:
        return _SHORT_ENTRY, 0
    if e0 + n * ebl > mend:
        return _OVERRUN, 0
    if n > state.types.shape[0]:
        return _TOO_MANY, 0
    for k in range(n):
        e = e0 + k * ebl
        state.types[k] = get_u8(buf, e + SN_TYPE)
        state.levels[k] = get_i8(buf, e + SN_LEVEL)
        state.prices[k] = get_i64(buf, e + SN_PX)
        state.sizes[k] = get_i32(buf, e + SN_SIZE)
        state.orders[k] = get_i32(buf, e + SN_ORDERS)
    chan, inst, table = state.chan, state.inst, state.table
    sec = np.int64(get_i32(buf, root + SN_SEC))
    ii = T.find(table, sec)
    new = ii < 0
    if new:  # a new instrument's row is used only once its first snapshot is taken
        ii = chan[_INSTRUMENTS]
        if ii >= inst.shape[0]:
            return _FULL, 0
    st, _ = depth_snapshot(state.px, state.qty, state.nord, state.limits, state.dstats, ii, n,
                           state.types, state.levels, state.prices, state.sizes, state.orders)
    if st != 0:
        return _BOOK, np.int64(st)
    if new:
        ii, chan[_INSTRUMENTS] = T.find_or_add(table, inst, chan[_INSTRUMENTS], sec)
    inst[ii, I_SNAP_SEQ] = get_u32(buf, root + SN_LAST_SEQ)
    inst[ii, I_RPT_SEQ] = get_u32(buf, root + SN_RPT)
    inst[ii, I_SNAPSHOTS] += 1
    inst[ii, I_SENT] = sent
    return 0, 0


@njit(cache=True, nogil=True, _nrt=False)
def walk(state, buf, start, end, seq, sent):
    """Every message of the packet ``buf[start:end]``; returns the snapshots taken."""
    chan = state.chan
    taken = 0
    p = start + _HEADER
    while p < end:
        if p + _PREFIX > end:
            refuse(chan, _TRUNCATED, p - start, seq, -1, 0)
            break
        msize = np.int64(get_u16(buf, p))
        if msize < _PREFIX + _SBE:
            refuse(chan, _BAD_SIZE, p - start, seq, -1, 0)
            break
        mend = p + msize
        if mend > end or p + _PREFIX + _SBE > end:
            refuse(chan, _TRUNCATED, p - start, seq, -1, 0)
            break
        m = p + _PREFIX
        bl = np.int64(get_u16(buf, m))
        tid = np.int64(get_u16(buf, m + 2))
        chan[_MESSAGES] += 1
        reason = 0
        detail = np.int64(0)
        if np.int64(get_u16(buf, m + 4)) != _SCHEMA_ID:
            reason = _FOREIGN
        elif tid != SNAPSHOT52:
            reason = _UNEXPECTED
        elif bl < SN_READ_BLOCK:
            reason = _SHORT_BLOCK
        elif m + _SBE + bl > mend:
            reason = _TRUNCATED
        else:
            reason, detail = take52(state, buf, m + _SBE, bl, mend, seq, sent)
        if reason == 0:
            chan[_SNAPSHOTS] += 1
            taken += 1
        else:
            refuse(chan, reason, p - start, seq, tid, detail)
        p = mend
    return taken


@njit(cache=True, nogil=True, _nrt=False)
def deliver(state, buf, start, size, rx_ns):
    """One datagram at ``buf[start:start+size]`` (received at ``rx_ns``, 0 if unknown):
    sequence it, take its snapshots, and record one latency sample when it brought any
    (SendingTime -> now, SendingTime -> receive stamp). Returns GO_ON."""
    chan = state.chan
    chan[_DATAGRAMS] += 1
    if size < _HEADER:
        refuse(chan, _SHORT_PACKET, 0, -1, -1, 0)
        return GO_ON
    seq = np.int64(get_u32(buf, start))
    last = chan[_LAST_SEQ]
    if last > 0 and seq <= last:
        chan[_DUPLICATES] += 1
        return GO_ON
    if last > 0 and seq > last + 1:
        chan[_GAPS] += 1
        chan[_GAP_PACKETS] += seq - last - 1
    chan[_LAST_SEQ] = seq
    chan[_PACKETS] += 1
    sent = np.int64(get_u64(buf, start + 4))
    taken = walk(state, buf, start, start + size, seq, sent)
    k = chan[_SAMPLES]
    if taken > 0 and k < state.lat.shape[0]:
        now = realtime_ns()
        state.lat[k] = now - sent
        state.ker[k] = rx_ns - sent if rx_ns > 0 else 0
        state.snt[k] = sent
        chan[_SAMPLES] = k + 1
    return GO_ON


@seam.implements(FullRefreshState)
def _on_datagram(state, buf, start, size, rx_ns):
    """The seam's implementation for :data:`FullRefreshState` (numba picks it by type)."""
    return deliver(state, buf, start, size, rx_ns)


@njit(cache=True, nogil=True)
def step(state, buf, start, size, rx_ns):
    """The seam called once from Python (the ``socket`` transport) or from a test."""
    return seam.on_datagram(state, buf, start, size, rx_ns)
