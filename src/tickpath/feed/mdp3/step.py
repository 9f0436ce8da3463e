"""The MDP 3.0 feed handler's compiled step: one datagram -> arbitrated, sequenced, decoded in
place -> books, and its implementation of the transports' seam.

A datagram is a packet: MsgSeqNum (u32), SendingTime (u64, UTC ns since the epoch), then
messages, each a MsgSize (u16, counting itself) and an SBE message (8-byte header, root block,
repeating groups). Fields are read where they lie with the generated flyweight accessors of
:mod:`tickpath.codec.mdp3`; nothing is copied out that the books do not use.

Which feed a packet came from is read from what it carries, so one receive loop can take the
incremental A and B lines and the snapshot loop together (as a capture of a channel holds
them): a packet of snapshot messages belongs to the snapshot loop (its own sequence numbers);
one that holds only instrument definitions and does not continue the incremental sequence
belongs to the definition loop; anything else is incremental.

Incremental packets are arbitrated by MsgSeqNum: the first copy of a number is taken, the
other line's copy counted as a duplicate. A jump in MsgSeqNum is a packet gap: every instrument
goes stale. Each book entry carries its instrument's RptSeq: a jump there makes only that
instrument stale. A stale instrument's entries are not applied; the packets are kept in the
recovery buffer until the snapshot loop brings a snapshot (and, for an instrument with order
books, the order snapshot) that fits; it is loaded, the buffered packets after it replayed
for that instrument, and it is live again. Counted and timed (``chan``: see :mod:`.layout`).

Every message is checked whole (header, blockLength against the schema's, each group's
entries inside the message) before any book is touched; a refusal is counted and skipped, or,
when the owner asked to stop at the first one, recorded (code, offset, MsgSeqNum) and the step
returns SETTLE for the owner to raise.

The hand-off: with a ring (``tap_*``, the arrays of :mod:`tickpath.feed.tap`; ``tap_on``
``(1,)``, a constant of the state's type: without one ``()``, and the step compiles without
the hand-off), the appliers note the trades they sequence and the instruments whose top or state may have
moved, and :func:`deliver` publishes, after the packet, the strategy's records of them
(:mod:`tickpath.feed.mdp3.tap`: trades, outright tops, exact/not exact), stamped.
"""

from __future__ import annotations

from collections import namedtuple

import numpy as np
from numba import njit

from ...book.mbo import MboStat
from ...codec.mdp3.offsets import (  # the fields the step reads
    BK_ACTION,
    BK_ENTRY,
    BK_LEVEL,
    BK_ORDERS,
    BK_PX,
    BK_RPT,
    BK_SEC,
    BK_SIZE,
    BK_TYPE,
    BO_ACTION,
    BO_ENTRY,
    BO_ID,
    BO_PRIORITY,
    BO_QTY,
    BO_REF,
    DF_DEPTH,
    DF_FACTOR,
    DF_FEED_TYPE,
    DF_SEC,
    DF_STATUS,
    DF_SYMBOL,
    DF_TICK,
    OB_ACTION,
    OB_ENTRY,
    OB_ID,
    OB_PRIORITY,
    OB_PX,
    OB_QTY,
    OB_SEC,
    OB_TYPE,
    SN_ENTRY,
    SN_LAST_SEQ,
    SN_LEVEL,
    SN_ORDERS,
    SN_PX,
    SN_RPT,
    SN_SEC,
    SN_SIZE,
    SN_TYPE,
    SO_CHUNK,
    SO_CHUNKS,
    SO_ENTRY,
    SO_ID,
    SO_LAST_SEQ,
    SO_PRIORITY,
    SO_PX,
    SO_QTY,
    SO_SEC,
    SO_TYPE,
    ST_SEC,
    ST_STATUS,
    TS_AGGRESSOR,
    TS_ENTRY,
    TS_PX,
    TS_RPT,
    TS_SEC,
    TS_SIZE,
)
from ...codec.sbe.fields import get_i8, get_i32, get_i64, get_u8, get_u16, get_u32, get_u64
from ...telemetry.nclock import realtime_ns
from ...wire import handler as seam
from . import books as B
from . import instruments as T
from . import tap as P
from .layout import (
    BUF_BYTES,
    BUF_FIRST_SEQ,
    BUF_OVERFLOWS,
    BUF_PACKETS,
    CHANNEL_RESETS,
    DATAGRAMS,
    DEFINITIONS,
    DUPLICATES,
    ENTRIES,
    ERR_BAD_SIZE,
    ERR_BOOK_REFUSED,
    ERR_FOREIGN_SCHEMA,
    ERR_GROUP_OVERRUN,
    ERR_INSTRUMENTS_FULL,
    ERR_NONE,
    ERR_SHORT_BLOCK,
    ERR_SHORT_ENTRY,
    ERR_SHORT_PACKET,
    ERR_TRUNCATED,
    ERR_UNKNOWN_TEMPLATE,
    ERROR_CODE,
    ERROR_DETAIL,
    ERROR_OFFSET,
    ERROR_SECURITY,
    ERROR_SEQ,
    ERROR_TEMPLATE,
    ERRORS,
    FOREIGN,
    GAP_PACKETS,
    GAPS,
    GROW,
    I_CHUNKS_DONE,
    I_DEPTH,
    I_DISPLAY_FACTOR,
    I_ENTRIES,
    I_IMPLIED_DEPTH,
    I_LAST_PX,
    I_LAST_QTY,
    I_MIN_TICK,
    I_NEED,
    I_RECOVERIES,
    I_REPLAY,
    I_RPT_GAPS,
    I_RPT_SEQ,
    I_SECURITY_ID,
    I_SEQ_DONE,
    I_SNAP_SEQ,
    I_STALE_SINCE,
    I_STATE,
    I_STATUS,
    I_TRADES,
    I_USES_MBO,
    I_VOLUME,
    INSTRUMENTS,
    K_BOOK,
    K_DEFINITION,
    K_ORDER_BOOK,
    K_ORDER_SNAPSHOT,
    K_RESET,
    K_SEQ_ONLY,
    K_SNAPSHOT,
    K_STATUS,
    K_TRADE,
    K_UNKNOWN,
    KIND,
    LAST_SEQ,
    LATE_JOIN,
    LATE_JOIN_NATURAL,
    MALFORMED,
    MESSAGES,
    MIN_BLOCK,
    MIN_VERSION,
    NEED_LEVELS,
    NEED_ORDERS,
    NO_ORDERS,
    ORDER_ENTRIES,
    PACKET_HEADER,
    PACKETS,
    PRICE_EXPONENT,
    PX_EXP,
    RAISE,
    READ_BLOCK,
    RECOVERIES,
    RECOVERY_NS,
    REFUSED,
    ROOM,
    RPT_GAPS,
    S_LIVE,
    S_STALE,
    S_UNKNOWN,
    SAMPLES,
    SBE_HEADER,
    SCHEMA_ID,
    SEEN_FROM,
    SEQ_ENTRY,
    SEQ_RPT_OFF,
    SEQ_SEC_OFF,
    SIZE_PREFIX,
    SNAPSHOT_PACKETS,
    SNAPSHOTS,
    SNAPSHOTS_SKIPPED,
    STALE_NOW,
    SYMBOL_LEN,
    TAP_RESYNC,
    TAP_T_PARSED,
    TAP_TOUCHED_N,
    TAP_TRADES_N,
    TRADES,
    UNKNOWN_TEMPLATES,
)

GO_ON = seam.GO_ON
_O_LIVE, _O_STALE, _O_FREE_TOP = int(MboStat.LIVE_ORDERS), int(MboStat.STALE_ORDERS), \
    int(MboStat.FREE_TOP)
SETTLE = seam.SETTLE

# module globals: numba freezes them into the code as constants
_KIND = KIND
_MIN_BLOCK = MIN_BLOCK
_MIN_VERSION = MIN_VERSION
_READ_BLOCK = READ_BLOCK
_PX_EXP = PX_EXP
_SEQ_SEC = SEQ_SEC_OFF
_SEQ_RPT = SEQ_RPT_OFF
_SEQ_ENTRY = SEQ_ENTRY

INT32_NULL = 2147483647

_BID, _OFFER, _IBID, _IOFFER, _EMPTY_BOOK = 48, 49, 69, 70, 74  # '0' '1' 'E' 'F' 'J'

#: The handler's state, as the receive loops carry it: every array the step touches. Built by
#: :class:`tickpath.feed.mdp3.Mdp3Feed`; numba dispatches the seam on this type.
Mdp3State = namedtuple("Mdp3State", [
    "chan",  # channel counters and policy words (layout: LAST_SEQ ... N_CHAN)
    "inst", "table", "symbols",  # per-instrument columns, SecurityID -> row, symbols
    "px", "qty", "nord", "limits", "dstats",  # price-level books (book.depth)
    "orders", "mask", "levels", "free", "obooks", "ostats", "capacity",  # order books (book.mbo)
    "rbuf", "rpk",  # recovery buffer: packet bytes, and (offset, size, MsgSeqNum) per packet
    "applied",  # scratch: which entries of the current book message were applied
    "lat", "ker",  # latency samples: SendingTime -> books, SendingTime -> kernel receive
    "tap_on",  # (1,) with a ring, () without: a constant of the type (feed.mdp3.tap.tapped)
    "tap_hdr", "tap_words", "tap_wait",  # the hand-off ring (0-length arrays: none; feed.tap)
    "tapc", "tinst", "touched", "trades",  # the hand-off's counters and what a packet noted
    #                                         (feed.mdp3.tap; 0 rows without a ring)
])


@njit(cache=True, nogil=True, _nrt=False, inline="always")
def _refuse(chan, code, offset, seq, tid):
    """Record a refusal; True when the owner asked to stop at it."""
    chan[ERRORS] += 1
    chan[ERROR_CODE] = code
    chan[ERROR_OFFSET] = offset
    chan[ERROR_SEQ] = seq
    chan[ERROR_TEMPLATE] = tid
    return chan[RAISE] != 0


@njit(cache=True, nogil=True, _nrt=False, inline="always")
def _go_stale(state, ii, now, need):
    chan, inst = state.chan, state.inst
    P.touch(state, ii)
    if inst[ii, I_STATE] != S_STALE:
        inst[ii, I_STATE] = S_STALE
        inst[ii, I_STALE_SINCE] = now if now > 0 else realtime_ns()
        chan[STALE_NOW] += 1
    inst[ii, I_NEED] = need | (NEED_ORDERS if inst[ii, I_USES_MBO] != 0 else 0)
    inst[ii, I_CHUNKS_DONE] = 0


@njit(cache=True, nogil=True, _nrt=False, inline="always")
def _book_refused(state, ii, status, now, need):
    """A book refused an entry: counted, the instrument stale (its book no longer matches
    the venue's; in a late join with no snapshot loop it stays live, best effort). True
    when the owner asked to stop at the first refusal."""
    chan = state.chan
    chan[REFUSED] += 1
    chan[ERROR_DETAIL] = status
    chan[ERROR_SECURITY] = state.inst[ii, I_SECURITY_ID]
    if chan[LATE_JOIN] != LATE_JOIN_NATURAL:
        _go_stale(state, ii, now, need)
    return chan[RAISE] != 0


@njit(cache=True, nogil=True, _nrt=False, inline="always")
def _instrument(state, sec):
    """The row of security id ``sec`` (added as unknown when new), or -1 when full."""
    chan = state.chan
    ii, n = T.find_or_add(state.table, state.inst, chan[INSTRUMENTS], np.int64(sec))
    chan[INSTRUMENTS] = n
    return ii


@njit(cache=True, nogil=True, _nrt=False, inline="always")
def _sequence(state, ii, rpt, now, replay):
    """Whether an entry with RptSeq ``rpt`` for instrument ``ii`` is applied now: the next
    one is; an old one (replayed, or the other line's) is not; a jump makes the instrument
    stale (its entries wait in the recovery buffer for a snapshot)."""
    chan, inst = state.chan, state.inst
    st = inst[ii, I_STATE]
    if replay and inst[ii, I_REPLAY] == 0:
        return False
    if st == S_UNKNOWN:
        if chan[LATE_JOIN] == LATE_JOIN_NATURAL:
            inst[ii, I_STATE] = S_LIVE
            inst[ii, I_RPT_SEQ] = rpt
            P.touch(state, ii)  # live: the strategy is told
            return True
        _go_stale(state, ii, now, NEED_LEVELS)
        return False
    if st == S_STALE:
        return False
    last = inst[ii, I_RPT_SEQ]
    if rpt <= last:
        return False
    if rpt == last + 1:
        inst[ii, I_RPT_SEQ] = rpt
        return True
    chan[RPT_GAPS] += 1
    inst[ii, I_RPT_GAPS] += 1
    _go_stale(state, ii, now, NEED_LEVELS)
    return False


@njit(cache=True, nogil=True, _nrt=False, inline="always")
def _group(buf, g, mend, header, min_entry):
    """The repeating group whose dimension header starts at ``g``: ``(status, first entry,
    entry size, count)``. groupSize is blockLength u16 + numInGroup u8; groupSize8Byte puts
    numInGroup in its last byte."""
    if g + header > mend:
        return ERR_GROUP_OVERRUN, g, 0, 0
    ebl = np.int64(get_u16(buf, g))
    n = np.int64(get_u8(buf, g + header - 1))
    if n > 0 and ebl < min_entry:
        return ERR_SHORT_ENTRY, g, ebl, n
    if g + header + n * ebl > mend:
        return ERR_GROUP_OVERRUN, g, ebl, n
    return ERR_NONE, g + header, ebl, n


@njit(cache=True, nogil=True, _nrt=False, inline="always")
def _book(state, buf, root, bl, mend, seq, now, tid, replay):
    """MDIncrementalRefreshBook (32, 46): price levels, and (46) the order entries that
    reference them. Returns a refusal code (ERR_NONE: taken)."""
    st, e0, ebl, n = _group(buf, root + bl, mend, 3, BK_ENTRY)
    if st != ERR_NONE:
        return st
    g2 = e0 + n * ebl
    on = np.int64(0)
    o0 = g2
    obl = np.int64(0)
    if g2 < mend:  # NoOrderIDEntries (schema 9 on): MBO entries riding on the book message
        st, o0, obl, on = _group(buf, g2, mend, 8, BO_ENTRY)
        if st != ERR_NONE:
            return st
        if state.chan[NO_ORDERS] != 0:
            on = 0
    if n > state.applied.shape[0]:
        return ERR_GROUP_OVERRUN
    chan, inst = state.chan, state.inst
    exp = _PX_EXP[tid]
    for k in range(n):
        e = e0 + k * ebl
        ii = _instrument(state, get_i32(buf, e + BK_SEC))
        if ii < 0:
            return ERR_INSTRUMENTS_FULL
        ok = _sequence(state, ii, np.int64(get_u32(buf, e + BK_RPT)), now, replay)
        state.applied[k] = ok
        if not ok:
            continue
        chan[PRICE_EXPONENT] = exp
        typ = np.int64(get_u8(buf, e + BK_TYPE))
        if typ == _EMPTY_BOOK:
            B.clear_levels(state, ii)
            B.clear_orders(state, ii)
        else:
            size = np.int64(get_i32(buf, e + BK_SIZE))
            no = np.int64(get_i32(buf, e + BK_ORDERS))
            r = B.level_entry(state, ii, typ, np.int64(get_u8(buf, e + BK_ACTION)),
                              np.int64(get_u8(buf, e + BK_LEVEL)), get_i64(buf, e + BK_PX),
                              0 if size == INT32_NULL else size, 0 if no == INT32_NULL else no)
            if r != 0:
                state.applied[k] = False
                if _book_refused(state, ii, r, now, NEED_LEVELS):
                    return ERR_BOOK_REFUSED
                continue
        inst[ii, I_ENTRIES] += 1
        inst[ii, I_SEQ_DONE] = seq
        chan[ENTRIES] += 1
        P.touch(state, ii)
    for j in range(on):
        o = o0 + j * obl
        ref = np.int64(get_u8(buf, o + BO_REF))  # 1-based index of the entry it belongs to
        if ref < 1 or ref > n or not state.applied[ref - 1]:
            continue
        e = e0 + (ref - 1) * ebl
        typ = np.int64(get_u8(buf, e + BK_TYPE))
        if typ != _BID and typ != _OFFER:
            continue
        ii = T.find(state.table, np.int64(get_i32(buf, e + BK_SEC)))
        inst[ii, I_USES_MBO] = 1
        qty = np.int64(get_i32(buf, o + BO_QTY))
        r = B.order_entry(state, ii, typ == _OFFER, get_u64(buf, o + BO_ID),
                          get_u64(buf, o + BO_PRIORITY), get_i64(buf, e + BK_PX),
                          0 if qty == INT32_NULL else qty, np.int64(get_u8(buf, o + BO_ACTION)))
        if r != 0:
            if _book_refused(state, ii, r, now, NEED_LEVELS):
                return ERR_BOOK_REFUSED
        else:
            chan[ORDER_ENTRIES] += 1
    return ERR_NONE


@njit(cache=True, nogil=True, _nrt=False, inline="always")
def _order_book(state, buf, root, bl, mend, seq, now, replay):
    """MDIncrementalRefreshOrderBook (43, 47): order-by-order entries. They carry no RptSeq:
    while an instrument's buffered packets are replayed, those after its order snapshot's
    LastMsgSeqNumProcessed apply."""
    st, e0, ebl, n = _group(buf, root + bl, mend, 3, OB_ENTRY)
    if st != ERR_NONE or state.chan[NO_ORDERS] != 0:
        return st
    chan, inst = state.chan, state.inst
    for k in range(n):
        e = e0 + k * ebl
        ii = _instrument(state, get_i32(buf, e + OB_SEC))
        if ii < 0:
            return ERR_INSTRUMENTS_FULL
        inst[ii, I_USES_MBO] = 1
        stt = inst[ii, I_STATE]
        if replay:
            if inst[ii, I_REPLAY] == 0 or seq <= inst[ii, I_SNAP_SEQ]:
                continue
        elif stt == S_UNKNOWN:
            if chan[LATE_JOIN] == LATE_JOIN_NATURAL:
                inst[ii, I_STATE] = S_LIVE
                P.touch(state, ii)
            else:
                _go_stale(state, ii, now, NEED_ORDERS)
                continue
        elif stt == S_STALE:
            continue
        typ = np.int64(get_u8(buf, e + OB_TYPE))
        if typ == _EMPTY_BOOK:
            B.clear_orders(state, ii)
            continue
        if typ != _BID and typ != _OFFER:
            continue
        qty = np.int64(get_i32(buf, e + OB_QTY))
        r = B.order_entry(state, ii, typ == _OFFER, get_u64(buf, e + OB_ID),
                          get_u64(buf, e + OB_PRIORITY), get_i64(buf, e + OB_PX),
                          0 if qty == INT32_NULL else qty, np.int64(get_u8(buf, e + OB_ACTION)))
        if r != 0:
            if _book_refused(state, ii, r, now, NEED_ORDERS):
                return ERR_BOOK_REFUSED
            continue
        inst[ii, I_SEQ_DONE] = seq
        chan[ORDER_ENTRIES] += 1
    return ERR_NONE


@njit(cache=True, nogil=True, _nrt=False, inline="always")
def _trade(state, buf, root, bl, mend, now, tid, replay):
    """MDIncrementalRefreshTradeSummary (42, 48): last price, size and volume; RptSeq. Each
    entry sequenced is noted for the strategy (not one replayed after a snapshot: those
    trades are history by then)."""
    st, e0, ebl, n = _group(buf, root + bl, mend, 3, TS_ENTRY)
    if st != ERR_NONE:
        return st
    # (the NoOrderIDEntries group after it names the resting orders filled; their book
    # changes come in the book messages, so it is only checked for its framing)
    g2 = e0 + n * ebl
    if g2 < mend:
        st, _, _, _ = _group(buf, g2, mend, 8, 0)
        if st != ERR_NONE:
            return st
    chan, inst = state.chan, state.inst
    for k in range(n):
        e = e0 + k * ebl
        ii = _instrument(state, get_i32(buf, e + TS_SEC))
        if ii < 0:
            return ERR_INSTRUMENTS_FULL
        if not _sequence(state, ii, np.int64(get_u32(buf, e + TS_RPT)), now, replay):
            continue
        size = np.int64(get_i32(buf, e + TS_SIZE))
        px = get_i64(buf, e + TS_PX)
        inst[ii, I_LAST_PX] = px
        inst[ii, I_LAST_QTY] = size
        inst[ii, I_VOLUME] += size
        inst[ii, I_TRADES] += 1
        chan[TRADES] += 1
        if not replay:
            P.note_trade(state, ii, px, _PX_EXP[tid], size,
                         np.int64(get_u8(buf, e + TS_AGGRESSOR)))
    return ERR_NONE


@njit(cache=True, nogil=True, _nrt=False, inline="always")
def _seq_only(state, buf, root, bl, mend, now, tid, replay):
    """Statistics, volume, limits: the books do not use them, but their entries advance
    their instrument's RptSeq, so they are sequenced like the rest."""
    st, e0, ebl, n = _group(buf, root + bl, mend, 3, _SEQ_RPT[tid] + 4)
    if st != ERR_NONE:
        return st
    for k in range(n):
        e = e0 + k * ebl
        ii = _instrument(state, get_i32(buf, e + _SEQ_SEC[tid]))
        if ii < 0:
            return ERR_INSTRUMENTS_FULL
        _sequence(state, ii, np.int64(get_u32(buf, e + _SEQ_RPT[tid])), now, replay)
    return ERR_NONE


@njit(cache=True, nogil=True, _nrt=False)
def _reset(state, now):
    """ChannelReset: every book is emptied and every RptSeq starts again. With a snapshot
    loop the instruments wait for it; joined late with none, they restart from empty."""
    chan, inst = state.chan, state.inst
    chan[CHANNEL_RESETS] += 1
    for ii in range(chan[INSTRUMENTS]):
        B.clear_levels(state, ii)
        B.clear_orders(state, ii)
        P.touch(state, ii)
        inst[ii, I_RPT_SEQ] = 0
        if chan[LATE_JOIN] == LATE_JOIN_NATURAL:
            if inst[ii, I_STATE] == S_STALE:
                chan[STALE_NOW] -= 1
            inst[ii, I_STATE] = S_LIVE
            inst[ii, I_STALE_SINCE] = 0
        else:
            _go_stale(state, ii, now, NEED_LEVELS)


@njit(cache=True, nogil=True, _nrt=False)
def _definition(state, buf, root, bl, mend):
    """MDInstrumentDefinitionFuture (27, 54): symbol, status, tick, display factor, and the
    market depths (GBX outright, GBI implied) that bound the price-level books."""
    ii = _instrument(state, get_i32(buf, root + DF_SEC))
    if ii < 0:
        return ERR_INSTRUMENTS_FULL
    # groups: NoEvents, then NoMDFeedTypes (MDFeedType char[3], MarketDepth int8)
    st, e0, ebl, n = _group(buf, root + bl, mend, 3, 0)
    if st != ERR_NONE:
        return st
    st, f0, fbl, fn = _group(buf, e0 + n * ebl, mend, 3, DF_DEPTH + 1)
    if st != ERR_NONE:
        return st
    inst = state.inst
    for c in range(SYMBOL_LEN):
        state.symbols[ii, c] = buf[root + DF_SYMBOL + c]
    inst[ii, I_STATUS] = get_u8(buf, root + DF_STATUS)
    inst[ii, I_MIN_TICK] = get_i64(buf, root + DF_TICK)
    inst[ii, I_DISPLAY_FACTOR] = get_i64(buf, root + DF_FACTOR)
    depth = inst[ii, I_DEPTH]
    implied = inst[ii, I_IMPLIED_DEPTH]
    for k in range(fn):
        f = f0 + k * fbl
        d = np.int64(get_i8(buf, f + DF_DEPTH))
        if buf[f + DF_FEED_TYPE + 2] == 88:  # "GBX": the outright book
            depth = d
        elif buf[f + DF_FEED_TYPE + 2] == 73:  # "GBI": the implied book
            implied = d
    if depth != inst[ii, I_DEPTH] or implied != inst[ii, I_IMPLIED_DEPTH]:
        inst[ii, I_DEPTH] = depth
        inst[ii, I_IMPLIED_DEPTH] = implied
        B.set_depth(state, ii, depth, implied)
    state.chan[DEFINITIONS] += 1
    P.touch(state, ii)  # a symbol and a DisplayFactor for its records
    return ERR_NONE


@njit(cache=True, nogil=True, _nrt=False)
def _status(state, buf, root):
    """SecurityStatus (30): the trading status of one instrument (a group-wide status, with
    a null SecurityID, is not kept)."""
    sec = get_i32(buf, root + ST_SEC)
    if sec == INT32_NULL:
        return ERR_NONE
    ii = _instrument(state, sec)
    if ii < 0:
        return ERR_INSTRUMENTS_FULL
    state.inst[ii, I_STATUS] = get_u8(buf, root + ST_STATUS)
    return ERR_NONE


@njit(cache=True, nogil=True, _nrt=False)
def _snapshot(state, buf, root, bl, mend, now):
    """SnapshotFullRefresh (38, 52): one instrument's price levels as of MsgSeqNum
    LastMsgSeqNumProcessed and its RptSeq. Loaded only into an instrument that needs it and
    only when the recovery buffer reaches back to it (or the snapshot is at least as new as
    anything received). Returns ``(refusal, row recovered or -1)``."""
    st, e0, ebl, n = _group(buf, root + bl, mend, 3, SN_ENTRY)
    if st != ERR_NONE:
        return st, np.int64(-1)
    chan, inst = state.chan, state.inst
    ii = _instrument(state, get_i32(buf, root + SN_SEC))
    if ii < 0:
        return ERR_INSTRUMENTS_FULL, np.int64(-1)
    last_seq = np.int64(get_u32(buf, root + SN_LAST_SEQ))
    fits = _fits(chan, inst, ii, last_seq)
    if inst[ii, I_STATE] == S_UNKNOWN:
        _go_stale(state, ii, now, NEED_LEVELS)
    if inst[ii, I_STATE] != S_STALE or inst[ii, I_NEED] & NEED_LEVELS == 0 or not fits:
        chan[SNAPSHOTS_SKIPPED] += 1
        return ERR_NONE, np.int64(-1)
    B.clear_levels(state, ii)
    for k in range(n):
        e = e0 + k * ebl
        typ = np.int64(get_u8(buf, e + SN_TYPE))
        if typ != _BID and typ != _OFFER and typ != _IBID and typ != _IOFFER:
            continue  # statistics ride in the snapshot too (settlement, volume ...)
        size = np.int64(get_i32(buf, e + SN_SIZE))
        no = np.int64(get_i32(buf, e + SN_ORDERS))
        r = B.level_entry(state, ii, typ, np.int64(0), np.int64(get_i8(buf, e + SN_LEVEL)),
                          get_i64(buf, e + SN_PX), 0 if size == INT32_NULL else size,
                          0 if no == INT32_NULL else no)
        if r != 0:
            chan[REFUSED] += 1
            B.clear_levels(state, ii)
            return ERR_BOOK_REFUSED, np.int64(-1)
    inst[ii, I_RPT_SEQ] = get_u32(buf, root + SN_RPT)
    inst[ii, I_SNAP_SEQ] = last_seq
    inst[ii, I_SEQ_DONE] = last_seq
    inst[ii, I_NEED] &= ~NEED_LEVELS
    chan[SNAPSHOTS] += 1
    return ERR_NONE, ii


@njit(cache=True, nogil=True, _nrt=False)
def _order_snapshot(state, buf, root, bl, mend, now):
    """SnapshotFullRefreshOrderBook (44, 53): one instrument's resting orders, in chunks;
    the instrument's order books are rebuilt from chunk 1 to chunk NoChunks."""
    st, e0, ebl, n = _group(buf, root + bl, mend, 3, SO_ENTRY)
    if st != ERR_NONE or state.chan[NO_ORDERS] != 0:
        return st, np.int64(-1)
    chan, inst = state.chan, state.inst
    ii = _instrument(state, get_i32(buf, root + SO_SEC))
    if ii < 0:
        return ERR_INSTRUMENTS_FULL, np.int64(-1)
    inst[ii, I_USES_MBO] = 1
    last_seq = np.int64(get_u32(buf, root + SO_LAST_SEQ))
    chunks = np.int64(get_u32(buf, root + SO_CHUNKS))
    chunk = np.int64(get_u32(buf, root + SO_CHUNK))
    fits = _fits(chan, inst, ii, last_seq)
    if inst[ii, I_STATE] == S_UNKNOWN:
        _go_stale(state, ii, now, NEED_LEVELS)
    if inst[ii, I_STATE] != S_STALE or inst[ii, I_NEED] & NEED_ORDERS == 0 or not fits:
        chan[SNAPSHOTS_SKIPPED] += 1
        return ERR_NONE, np.int64(-1)
    if chunk == 1:
        B.clear_orders(state, ii)
        inst[ii, I_CHUNKS_DONE] = 0
    elif chunk != inst[ii, I_CHUNKS_DONE] + 1:  # joined mid-snapshot: wait for chunk 1
        chan[SNAPSHOTS_SKIPPED] += 1
        return ERR_NONE, np.int64(-1)
    for k in range(n):
        e = e0 + k * ebl
        typ = np.int64(get_u8(buf, e + SO_TYPE))
        if typ != _BID and typ != _OFFER:
            continue
        r = B.order_entry(state, ii, typ == _OFFER, get_u64(buf, e + SO_ID),
                          get_u64(buf, e + SO_PRIORITY), get_i64(buf, e + SO_PX),
                          np.int64(get_i32(buf, e + SO_QTY)), np.int64(0))
        if r != 0:
            chan[REFUSED] += 1
            B.clear_orders(state, ii)
            inst[ii, I_CHUNKS_DONE] = 0
            return ERR_BOOK_REFUSED, np.int64(-1)
    inst[ii, I_CHUNKS_DONE] = chunk
    if chunk < chunks:
        return ERR_NONE, np.int64(-1)
    inst[ii, I_SNAP_SEQ] = last_seq
    inst[ii, I_NEED] &= ~NEED_ORDERS
    chan[SNAPSHOTS] += 1
    return ERR_NONE, ii


@njit(cache=True, nogil=True, _nrt=False, inline="always")
def _fits(chan, inst, ii, last_seq):
    """A snapshot as of packet ``last_seq`` fits an instrument when every incremental packet
    after it that could hold the instrument's entries is in the recovery buffer, was received
    without any (an instrument never seen: every packet since SEEN_FROM was), or is yet to
    come. (RptSeq guards the price levels anyway: a snapshot older than it fits makes the
    next entry a RptSeq gap; the order entries have no such guard.)"""
    last = chan[LAST_SEQ]
    if last == 0:
        return True
    if inst[ii, I_STATE] == S_UNKNOWN:
        return last_seq + 1 >= chan[SEEN_FROM]
    first = chan[BUF_FIRST_SEQ]
    if first > 0:
        return last_seq + 1 >= first
    return last_seq >= last


@njit(cache=True, nogil=True, _nrt=False, inline="always")
def _short_block(bl, tid, version):
    """SBE's version rule for the root block (see layout.MIN_BLOCK)."""
    if version >= _MIN_VERSION[tid]:
        return bl < _MIN_BLOCK[tid]
    return bl < _READ_BLOCK[tid]


@njit(cache=True, nogil=True, _nrt=False, inline="always")
def _frame(chan, buf, p, end):
    """The message whose MsgSize is at ``buf[p]``, checked for what every kind needs:
    ``(refusal, end of the message, root block, blockLength, template id, kind)``. The end
    is -1 when nothing after it can be framed (cut, or a MsgSize too small to step over).
    Counted here: messages, and the refusals of framing (malformed, unknown, foreign)."""
    if p + SIZE_PREFIX > end:
        chan[MALFORMED] += 1
        return ERR_TRUNCATED, np.int64(-1), p, np.int64(0), np.int64(-1), K_UNKNOWN
    msize = np.int64(get_u16(buf, p))
    mend = p + msize
    if msize < SIZE_PREFIX + SBE_HEADER or mend > end:
        chan[MALFORMED] += 1
        return (ERR_TRUNCATED if msize >= SIZE_PREFIX + SBE_HEADER else ERR_BAD_SIZE,
                np.int64(-1), p, np.int64(0), np.int64(-1), K_UNKNOWN)
    m = p + SIZE_PREFIX
    bl = np.int64(get_u16(buf, m))
    tid = np.int64(get_u16(buf, m + 2))
    kind = _KIND[tid] if tid < 256 else K_UNKNOWN
    chan[MESSAGES] += 1
    code = ERR_NONE
    if np.int64(get_u16(buf, m + 4)) != SCHEMA_ID:
        chan[FOREIGN] += 1
        code = ERR_FOREIGN_SCHEMA
    elif kind == K_UNKNOWN:
        chan[UNKNOWN_TEMPLATES] += 1
        code = ERR_UNKNOWN_TEMPLATE
    elif _short_block(bl, tid, np.int64(get_u16(buf, m + 6))):
        chan[MALFORMED] += 1
        code = ERR_SHORT_BLOCK
    elif m + SBE_HEADER + bl > mend:
        chan[MALFORMED] += 1
        code = ERR_TRUNCATED
    return code, mend, m + SBE_HEADER, bl, tid, kind


@njit(cache=True, nogil=True, _nrt=False, inline="always")
def _malformed_body(code):
    """A refusal of what follows the root block (a group), counted as malformed; the other
    refusals of an applier (a full instrument table, a book refusing an entry) are not."""
    return code == ERR_GROUP_OVERRUN or code == ERR_SHORT_ENTRY


@njit(cache=True, nogil=True, _nrt=False)
def walk(state, buf, start, end, seq, now, replay):
    """Every message of the packet in ``buf[start:end]`` (its header already read), applied.
    Returns GO_ON, or SETTLE after a refusal when the owner asked to stop at one."""
    chan = state.chan
    p = start + PACKET_HEADER
    while p < end:
        code, mend, root, bl, tid, kind = _frame(chan, buf, p, end)
        if mend < 0:
            if _refuse(chan, code, p - start, seq, -1):
                return SETTLE
            break
        if code == ERR_NONE:
            if kind == K_BOOK:
                code = _book(state, buf, root, bl, mend, seq, now, tid, replay)
            elif kind == K_ORDER_BOOK:
                code = _order_book(state, buf, root, bl, mend, seq, now, replay)
            elif kind == K_TRADE:
                code = _trade(state, buf, root, bl, mend, now, tid, replay)
            elif kind == K_SEQ_ONLY:
                code = _seq_only(state, buf, root, bl, mend, now, tid, replay)
            elif kind == K_RESET:
                if not replay:
                    _reset(state, now)
            elif kind == K_DEFINITION:
                if not replay:
                    code = _definition(state, buf, root, bl, mend)
            elif kind == K_STATUS:
                if not replay:
                    code = _status(state, buf, root)
            # K_HEARTBEAT, K_IGNORED: nothing to do; snapshots never reach here
            if _malformed_body(code):
                chan[MALFORMED] += 1
        if code != ERR_NONE and _refuse(chan, code, p - start, seq, tid):
            return SETTLE
        p = mend
    return GO_ON


@njit(cache=True, nogil=True, _nrt=False, inline="always")
def _first_kind(buf, start, end):
    """The kind of the packet's first message (K_UNKNOWN when it has none or is cut), and,
    when that is a definition, whether every message in it is one."""
    p = start + PACKET_HEADER
    if p + SIZE_PREFIX + SBE_HEADER > end:
        return K_UNKNOWN, False
    tid = np.int64(get_u16(buf, p + SIZE_PREFIX + 2))
    first = _KIND[tid] if tid < 256 else K_UNKNOWN
    if first != K_DEFINITION:
        return first, False
    while p + SIZE_PREFIX + SBE_HEADER <= end:
        msize = np.int64(get_u16(buf, p))
        tid = np.int64(get_u16(buf, p + SIZE_PREFIX + 2))
        if (_KIND[tid] if tid < 256 else K_UNKNOWN) != K_DEFINITION:
            return first, False
        if msize < SIZE_PREFIX + SBE_HEADER:
            break
        p += msize
    return first, True


@njit(cache=True, nogil=True, _nrt=False)
def _keep(state, buf, start, size, seq):
    """Copy an incremental packet into the recovery buffer (a stale instrument needs it
    after its snapshot). A full buffer is emptied and counted: the stale instruments then
    need a snapshot at least as new as this packet."""
    chan, rbuf, rpk = state.chan, state.rbuf, state.rpk
    k = chan[BUF_PACKETS]
    used = chan[BUF_BYTES]
    if k >= rpk.shape[0] or used + size > rbuf.shape[0]:
        chan[BUF_OVERFLOWS] += 1
        chan[BUF_PACKETS] = 0
        chan[BUF_BYTES] = 0
        chan[BUF_FIRST_SEQ] = 0
        return
    for i in range(size):
        rbuf[used + i] = buf[start + i]
    rpk[k, 0] = used
    rpk[k, 1] = size
    rpk[k, 2] = seq
    if k == 0:
        chan[BUF_FIRST_SEQ] = seq
    chan[BUF_PACKETS] = k + 1
    chan[BUF_BYTES] = used + size


@njit(cache=True, nogil=True, _nrt=False)
def _recovered(state, ii, now):
    """Instrument ``ii`` has every snapshot it needed: replay the buffered packets after
    them for it alone, and it is live."""
    chan, inst = state.chan, state.inst
    inst[ii, I_REPLAY] = 1
    inst[ii, I_STATE] = S_LIVE  # replayed entries are sequenced as a live instrument's
    for k in range(chan[BUF_PACKETS]):
        off = state.rpk[k, 0]
        walk(state, state.rbuf, off, off + state.rpk[k, 1], state.rpk[k, 2], now,
             np.bool_(True))
    inst[ii, I_REPLAY] = 0
    P.touch(state, ii)
    if inst[ii, I_STATE] == S_LIVE:  # (a gap inside the buffer leaves it stale)
        chan[STALE_NOW] -= 1
        chan[RECOVERIES] += 1
        chan[RECOVERY_NS] += (now if now > 0 else realtime_ns()) - inst[ii, I_STALE_SINCE]
        inst[ii, I_RECOVERIES] += 1
        inst[ii, I_STALE_SINCE] = 0
    else:  # it went stale again during the replay: that counted it once more
        chan[STALE_NOW] -= 1
    if chan[STALE_NOW] == 0:
        chan[BUF_PACKETS] = 0
        chan[BUF_BYTES] = 0
        chan[BUF_FIRST_SEQ] = 0


@njit(cache=True, nogil=True, _nrt=False)
def _snapshot_packet(state, buf, start, end, now):
    """A packet of the snapshot loop: each snapshot message loaded where it is needed."""
    chan = state.chan
    chan[SNAPSHOT_PACKETS] += 1
    seq = np.int64(get_u32(buf, start))
    p = start + PACKET_HEADER
    while p < end:
        code, mend, root, bl, tid, kind = _frame(chan, buf, p, end)
        if mend < 0:
            if _refuse(chan, code, p - start, seq, -1):
                return SETTLE
            break
        ii = np.int64(-1)
        if code == ERR_NONE:
            if kind == K_SNAPSHOT:
                chan[PRICE_EXPONENT] = _PX_EXP[tid]
                code, ii = _snapshot(state, buf, root, bl, mend, now)
            elif kind == K_ORDER_SNAPSHOT:
                code, ii = _order_snapshot(state, buf, root, bl, mend, now)
            elif kind == K_DEFINITION:
                code = _definition(state, buf, root, bl, mend)
            if _malformed_body(code):
                chan[MALFORMED] += 1
        if code != ERR_NONE:
            if _refuse(chan, code, p - start, seq, tid):
                return SETTLE
        elif ii >= 0 and state.inst[ii, I_NEED] == 0:
            _recovered(state, ii, now)
        p = mend
    return GO_ON


@njit(cache=True, nogil=True, _nrt=False, inline="always")
def _apply(state, buf, start, size, rx_ns):
    """One datagram at ``buf[start:start+size]`` (received at ``rx_ns``, 0 if unknown)
    applied to the books; with a ring, what the strategy must hear of is noted."""
    chan = state.chan
    chan[DATAGRAMS] += 1
    end = start + size
    if size < PACKET_HEADER:
        chan[MALFORMED] += 1
        if _refuse(chan, ERR_SHORT_PACKET, 0, -1, -1):
            return SETTLE
        return GO_ON
    now = np.int64(0)  # the clock is read where it is needed: a stale instrument, a sample
    first, only_defs = _first_kind(buf, start, end)
    if first == K_SNAPSHOT or first == K_ORDER_SNAPSHOT:
        P.mark_parsed(state)
        return _snapshot_packet(state, buf, start, end, now)
    seq = np.int64(get_u32(buf, start))
    last = chan[LAST_SEQ]
    if only_defs and last > 0 and seq != last + 1:  # the definition loop: its own numbers
        P.mark_parsed(state)
        return _snapshot_packet(state, buf, start, end, now)
    if last > 0 and seq <= last:
        chan[DUPLICATES] += 1
        return GO_ON
    if last == 0:
        chan[SEEN_FROM] = seq
    if last > 0 and seq > last + 1:
        chan[SEEN_FROM] = seq
        chan[GAPS] += 1
        chan[GAP_PACKETS] += seq - last - 1
        for ii in range(chan[INSTRUMENTS]):  # which instruments missed what is unknown
            if state.inst[ii, I_STATE] != S_UNKNOWN:
                _go_stale(state, ii, now, NEED_LEVELS)
    chan[LAST_SEQ] = seq
    chan[PACKETS] += 1
    P.mark_parsed(state)
    # (np.bool_: a constant True or False is typed as a literal, and numba would compile
    # walk once for each; it is the feed's largest kernel)
    code = walk(state, buf, start, end, seq, now, np.bool_(False))
    if chan[STALE_NOW] > 0:
        _keep(state, buf, start, size, seq)
    k = chan[SAMPLES]
    if k < state.lat.shape[0]:
        sent = np.int64(get_u64(buf, start + 4))
        t = realtime_ns()
        state.lat[k] = t - sent
        state.ker[k] = rx_ns - sent if rx_ns > 0 else 0
        chan[SAMPLES] = k + 1
    if code == GO_ON and chan[ROOM] > 0 and _short_of_room(state, chan[ROOM]):
        chan[GROW] = 1
        return SETTLE
    return code


@njit(cache=True, nogil=True, _nrt=False, inline="always")
def _short_of_room(state, room):
    """Whether the order books could fill up during the next datagram."""
    s = state.ostats
    return s[_O_LIVE] + s[_O_STALE] + room > state.capacity or s[_O_FREE_TOP] < room


@njit(cache=True, nogil=True, _nrt=False)
def apply_packet(state, buf, start, size, rx_ns):
    """:func:`_apply`, for a feed without a ring."""
    return _apply(state, buf, start, size, rx_ns)


@njit(cache=True, nogil=True, _nrt=False)
def deliver_tapped(state, buf, start, size, rx_ns):
    """:func:`_apply`, then the records of what it did
    (:func:`tickpath.feed.mdp3.tap.publish_packet`), stamped:

    * venue_sent: the packet's SendingTime (UTC ns, as the venue wrote it);
    * received: ``rx_ns`` (the transport's stamp), or the clock when the step begins;
    * parsed: the packet header read, arbitrated and sequenced (the gap check done);
    * decoded: the same moment: MDP3 messages are decoded where they lie as they are
      applied, with no decode pass of their own, so decode and books share the next row;
    * booked: every message of the packet applied (a snapshot-loop packet: the snapshots
      loaded and the buffered packets replayed);
    * enqueued: each record's, just before it is published.

    The records of what was applied are published before a SETTLE goes back."""
    received = rx_ns if rx_ns > 0 else realtime_ns()
    P.start_noting(state)
    code = _apply(state, buf, start, size, rx_ns)
    tapc = state.tapc
    if tapc[TAP_TRADES_N] > 0 or tapc[TAP_TOUCHED_N] > 0 or tapc[TAP_RESYNC] != 0:
        booked = realtime_ns()
        parsed = tapc[TAP_T_PARSED] if tapc[TAP_T_PARSED] > 0 else booked
        sent = np.int64(get_u64(buf, start + 4)) if size >= PACKET_HEADER else booked
        P.publish_packet(state, sent, received, parsed, parsed, booked)
    return code


@njit(cache=True, nogil=True, _nrt=False, inline="always")
def deliver(state, buf, start, size, rx_ns):
    """One datagram at ``buf[start:start+size]`` (received at ``rx_ns``, 0 if unknown):
    applied, and with a ring its records handed on (:func:`deliver_tapped`). Returns GO_ON
    or SETTLE. Whether there is a ring is a constant of the state's type
    (:func:`tickpath.feed.mdp3.tap.tapped`), so each kind of feed compiles to its own path."""
    if P.tapped(state):
        return deliver_tapped(state, buf, start, size, rx_ns)
    return apply_packet(state, buf, start, size, rx_ns)


@seam.implements(Mdp3State)
def _on_datagram(state, buf, start, size, rx_ns):
    """The seam's implementation for :data:`Mdp3State`."""
    return deliver(state, buf, start, size, rx_ns)


@seam.implements_idle(Mdp3State)
def _on_idle(state, now_ns):
    """The idle turn: book and status records a full ring refused, once it has room (a
    feed without a ring: nothing)."""
    if P.pending(state):
        P.resync(state, now_ns)
    return GO_ON


@njit(cache=True, nogil=True)
def step(state, buf, start, size, rx_ns):
    """The seam called once from Python (the ``socket`` transport, or a test)."""
    return seam.on_datagram(state, buf, start, size, rx_ns)


@njit(cache=True, nogil=True)
def idle_step(state, now_ns):
    """The idle turn called from Python (the ``socket`` transport between datagrams)."""
    return seam.on_idle(state, now_ns)
