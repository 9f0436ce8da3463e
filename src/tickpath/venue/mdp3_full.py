"""The futures full-snapshot channel, venue side: after every step of the futures engine, a
SnapshotFullRefresh52 of each instrument whose book the step changed (docs/mdp3-snapshots.md).

:class:`FullRefreshGenerator` takes the MDP3 packets the venue publishes (``PacketChunk``s,
as :class:`~tickpath.venue.mdp3_publisher.Mdp3Publisher` sends them), keeps a replica of
every instrument's depth-10 book with the depth-book kernels of :mod:`tickpath.book.depth`
(the same the feed handler uses), and at the end of every event (the message that carries
MatchEventIndicator EndOfEvent: the engine writes one event per step, the generated flow's
and a client order's alike) writes, for each instrument whose price levels that event
changed, a 52 of its whole book with the snapshot loop's encoder
(:func:`~tickpath.venue.mdp3_encode.put_snapshot52`). LastMsgSeqNumProcessed is the
MsgSeqNum of the incremental packet that carries the event's last message; RptSeq the
instrument's last (book and trade entries). The snapshots go into packets of their own kind
(``FULL_SNAPSHOT``), numbered 1, 2, 3 ... on this channel and never restarted.

The loop over packets is one compiled call (:func:`full_run`); it comes back to Python when
the output buffer might not hold the next message's snapshots (drain it, call again: it
resumes at that message), or on a packet it cannot read (a ``ValueError`` naming the
packet's MsgSeqNum and the offset): the venue's own stream, so a bug, not data.

    gen = FullRefreshGenerator()
    for chunk in gen.run(incremental_chunk):   # PacketChunks of 52s: send or copy
        ...
    full_snapshots_of(fut)                      # a whole day's channel, in memory
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np
from numba import njit

from ..book.depth import N_BOOKS, N_DEPTH_STATS, depth_apply, depth_clear
from ..book.mdp3 import STATUS_TEXT
from ..codec.mdp3 import schema_v13 as S
from ..codec.mdp3.offsets import (
    BK_ACTION,
    BK_LEVEL,
    BK_ORDERS,
    BK_PX,
    BK_RPT,
    BK_SEC,
    BK_SIZE,
    BK_TYPE,
    DF_SEC,
    TS_RPT,
    TS_SEC,
)
from ..codec.sbe.fields import get_i32, get_i64, get_u8, get_u16, get_u32, get_u64
from ..feed.mdp3 import instruments as T
from .futures import PacketChunk
from .futures_records import (
    DEPTH,
    FULL_SNAPSHOT,
    N_FUT_SCALARS,
    N_PW,
    PW_NPK,
    PW_OPEN,
    PW_POS,
    S_SNAP_SEQ,
    SNAPSHOT,
)
from .mdp3_encode import (
    B52_E,
    B52_FIXED,
    B52_MAX,
    MSG_SIZE,
    PACKET_HEADER,
    begin_msg,
    close_packet,
    put_snapshot52,
    put_snapshot52_entry,
)

__all__ = ["FullRefreshGenerator", "full_run", "full_snapshots_of"]

# full_run's exits
DONE = 0  # every packet consumed
OUT_FULL = 1  # the output might not hold the next message's snapshots: drain, call again
REFUSED = 2  # the replica refused an entry (book status in ``detail``)
BAD_PACKET = 3  # a packet or message that does not frame (``detail``: BAD_* below)
BAD_SHORT, BAD_SIZE = 1, 2
BAD_TEXT = {BAD_SHORT: "packet shorter than its 12-byte header",
            BAD_SIZE: "MsgSize out of bounds (under the SBE header, or past the packet)"}

# tally words
MESSAGES, EVENTS, SNAPSHOTS, BYTES, PACKETS = range(5)
# per-instrument columns (int64 ``inst``): the first two are the table's (feed.mdp3.layout)
C_SEC, C_STATE, C_RPT, C_TIME, C_DIRTY = range(5)
N_COLS = 5
# state words (int64 ``st``): instruments known, dirty ones, the last packet's MsgSeqNum
ST_COUNT, ST_NDIRTY = 0, 1
N_ST = 2

_H = S.HEADER_SIZE
_END = 1 << S.MATCH_EVENT_INDICATOR_END_OF_EVENT_BIT
_MEI = S.MD_INCREMENTAL_REFRESH_BOOK46_MATCH_EVENT_INDICATOR_OFFSET  # 46, 47, 48 alike
_BL46 = S.MD_INCREMENTAL_REFRESH_BOOK46_BLOCK_LENGTH
_BL48 = S.MD_INCREMENTAL_REFRESH_TRADE_SUMMARY48_BLOCK_LENGTH
_INT32_NULL = 2147483647
_EMPTY_BOOK = 74  # 'J'


@njit(cache=True, nogil=True)
def write_full52(out, pw, obounds, okinds, ocounts, oscal, px, qty, nord, inst, ii, last_seq,
                 tot_reports, last_update, max_payload):
    """The 52 of instrument row ``ii``: its replica book, bids then offers, best first
    (levels 1..c of each side, as the depth kernels keep them dense). Returns its bytes
    (MsgSize included)."""
    d = px.shape[2]
    nb = 0
    while nb < d and qty[ii, 0, nb] != 0:
        nb += 1
    na = 0
    while na < d and qty[ii, 1, na] != 0:
        na += 1
    size = B52_FIXED + (nb + na) * B52_E
    transact = inst[ii, C_TIME]
    h = begin_msg(out, pw, obounds, okinds, ocounts, oscal, size, FULL_SNAPSHOT, transact,
                  max_payload)
    e = put_snapshot52(out, h, last_seq, tot_reports, inst[ii, C_SEC], inst[ii, C_RPT],
                       transact, last_update, nb + na)
    for side in range(2):
        for q in range(nb if side == 0 else na):
            e = put_snapshot52_entry(out, e, px[ii, side, q], qty[ii, side, q],
                                     nord[ii, side, q], q + 1, side)
    return size


@njit(cache=True, nogil=True)
def _mark(inst, dirty, st, ii, rpt, transact):
    inst[ii, C_RPT] = rpt
    inst[ii, C_TIME] = transact
    if inst[ii, C_DIRTY] == 0:
        inst[ii, C_DIRTY] = 1
        dirty[st[ST_NDIRTY]] = ii
        st[ST_NDIRTY] += 1


@njit(cache=True, nogil=True)
def _book46(buf, root, mend, px, qty, nord, limits, dstats, table, inst, dirty, st, transact):
    """A 46's price-level entries, applied to the replica; ``(status, entry)``."""
    g = root + _BL46
    ebl = np.int64(get_u16(buf, g))
    n = np.int64(get_u8(buf, g + 2))
    e0 = g + 3
    if e0 + n * ebl > mend:
        return np.int64(-1), np.int64(0)
    for k in range(n):
        e = e0 + k * ebl
        ii, st[ST_COUNT] = T.find_or_add(table, inst, st[ST_COUNT], np.int64(get_i32(buf, e + BK_SEC)))
        if ii < 0:
            return np.int64(-2), k
        typ = np.int64(get_u8(buf, e + BK_TYPE))
        if typ == _EMPTY_BOOK:
            depth_clear(px, qty, nord, dstats, ii)
        else:
            size = np.int64(get_i32(buf, e + BK_SIZE))
            no = np.int64(get_i32(buf, e + BK_ORDERS))
            r = depth_apply(px, qty, nord, limits, dstats, ii, typ,
                            np.int64(get_u8(buf, e + BK_ACTION)), np.int64(get_u8(buf, e + BK_LEVEL)),
                            get_i64(buf, e + BK_PX), 0 if size == _INT32_NULL else size,
                            0 if no == _INT32_NULL else no)
            if r != 0:
                return np.int64(r), k
        _mark(inst, dirty, st, ii, np.int64(get_u32(buf, e + BK_RPT)), transact)
    return np.int64(0), np.int64(0)


@njit(cache=True, nogil=True)
def _trade48(buf, root, mend, table, inst):
    """A 48's entries move their instruments' RptSeq (a snapshot carries the last)."""
    g = root + _BL48
    ebl = np.int64(get_u16(buf, g))
    n = np.int64(get_u8(buf, g + 2))
    for k in range(n):
        e = g + 3 + k * ebl
        if e + ebl > mend:
            return
        ii = T.find(table, np.int64(get_i32(buf, e + TS_SEC)))
        if ii >= 0:
            inst[ii, C_RPT] = get_u32(buf, e + TS_RPT)


@njit(cache=True, nogil=True)
def full_run(src, bounds, kinds, k, p, px, qty, nord, limits, dstats, table, inst, dirty, st,
             out, pw, obounds, okinds, ocounts, oscal, max_payload, last_update, tally):
    """Walk the incremental packets ``k..`` of ``(src, bounds, kinds)`` (snapshot-loop packets
    skipped), from the message at ``p`` of packet ``k`` (0: its first), applying price-level
    entries to the replica and writing a 52 per changed instrument at each EndOfEvent.

    Returns ``(exit, k, p, detail)``: DONE; OUT_FULL (resume at packet ``k``, message
    ``p``); REFUSED (the replica refused an entry of the message at ``p``: book status
    ``detail``, -2 for a full instrument table); BAD_PACKET (``detail``: BAD_*)."""
    npk = kinds.shape[0]
    room = 2 + inst.shape[0]  # at most every instrument's snapshot after one message
    while k < npk:
        a = bounds[k]
        end = bounds[k + 1]
        if kinds[k] == SNAPSHOT:
            k += 1
            p = 0
            continue
        if end - a < PACKET_HEADER:
            return BAD_PACKET, k, np.int64(0), np.int64(BAD_SHORT)
        seq = np.int64(get_u32(src, a))
        if p == 0:
            p = a + PACKET_HEADER
        while p < end:
            if (pw[PW_POS] + room * (PACKET_HEADER + B52_MAX) > out.shape[0]
                    or pw[PW_NPK] + room > okinds.shape[0]):
                return OUT_FULL, k, p, np.int64(0)
            if p + MSG_SIZE > end:
                return BAD_PACKET, k, p, np.int64(BAD_SIZE)
            msize = np.int64(get_u16(src, p))
            mend = p + msize
            if msize < MSG_SIZE + _H or mend > end:
                return BAD_PACKET, k, p, np.int64(BAD_SIZE)
            root = p + MSG_SIZE + _H
            tid = get_u16(src, p + MSG_SIZE + 2)
            tally[MESSAGES] += 1
            end_of_event = False
            if tid == 46 or tid == 47 or tid == 48:
                transact = np.int64(get_u64(src, root))
                end_of_event = (get_u8(src, root + _MEI) & _END) != 0
                if tid == 46:
                    r, _ = _book46(src, root, mend, px, qty, nord, limits, dstats, table, inst,
                                   dirty, st, transact)
                    if r != 0:
                        return (BAD_PACKET, k, p, np.int64(BAD_SIZE)) if r == -1 else \
                            (REFUSED, k, p, r)
                elif tid == 48:
                    _trade48(src, root, mend, table, inst)
            elif tid == 54:
                _, st[ST_COUNT] = T.find_or_add(table, inst, st[ST_COUNT],
                                                np.int64(get_i32(src, root + DF_SEC)))
            if end_of_event:
                tally[EVENTS] += 1
                for q in range(st[ST_NDIRTY]):
                    ii = dirty[q]
                    b = write_full52(out, pw, obounds, okinds, ocounts, oscal, px, qty, nord,
                                     inst, ii, seq, st[ST_COUNT], last_update, max_payload)
                    inst[ii, C_DIRTY] = 0
                    tally[SNAPSHOTS] += 1
                    tally[BYTES] += b
                st[ST_NDIRTY] = 0
            p = mend
        k += 1
        p = 0
    return DONE, k, np.int64(0), np.int64(0)


class FullRefreshGenerator:
    """The full-snapshot channel's source (module doc): a depth-10 replica of the venue's
    books and a SnapshotFullRefresh52 per instrument changed, after every event.
    ``max_instruments``: instruments the replica holds; ``max_payload``: the largest packet
    (the venue's); ``out_bytes``: the output buffer (a chunk of :meth:`run`);
    ``last_update``: LastUpdateTime of the snapshots (the definitions', UTC ns)."""

    def __init__(self, *, max_instruments: int = 64, max_payload: int = 1400,
                 last_update: int = 0, out_bytes: int = 1 << 20) -> None:
        if max_payload < PACKET_HEADER + B52_MAX:
            raise ValueError(f"max_payload {max_payload}: a depth-{DEPTH} 52 needs "
                             f"{PACKET_HEADER + B52_MAX} bytes with the packet header")
        n = int(max_instruments)
        self.max_payload = int(max_payload)
        self.last_update = int(last_update)
        self.px = np.zeros((n, N_BOOKS, DEPTH), np.int64)
        self.qty = np.zeros((n, N_BOOKS, DEPTH), np.int64)
        self.nord = np.zeros((n, N_BOOKS, DEPTH), np.int32)
        self.limits = np.zeros((n, 2), np.int64)
        self.limits[:, 0] = DEPTH  # the outright book; the venue has no implied book
        self.dstats = np.zeros(N_DEPTH_STATS, np.int64)
        self.table = T.new_table(n)
        self.inst = np.zeros((n, N_COLS), np.int64)
        self.dirty = np.zeros(n, np.int64)
        self.st = np.zeros(N_ST, np.int64)
        size = max(int(out_bytes), 4 * (n + 2) * (PACKET_HEADER + B52_MAX))
        self.out = np.zeros(size, np.uint8)
        npk = size // (PACKET_HEADER + B52_FIXED) + 2
        self.obounds = np.zeros(npk + 1, np.int64)
        self.okinds = np.zeros(npk, np.uint8)
        self.ocounts = np.zeros(npk, np.int64)
        self.pw = np.zeros(N_PW, np.int64)
        self.pw[PW_OPEN] = -1
        self.oscal = np.zeros(N_FUT_SCALARS, np.int64)
        self.oscal[S_SNAP_SEQ] = 1  # this channel's MsgSeqNum, from 1, never restarted
        #: incremental messages walked, events ended, 52s written, their bytes (MsgSize
        #: included), packets closed
        self.tally = np.zeros(5, np.int64)

    def _take(self) -> PacketChunk | None:
        close_packet(self.pw, self.obounds, self.okinds, self.ocounts, self.oscal)
        n = int(self.pw[PW_NPK])
        if n == 0:
            return None
        self.tally[PACKETS] += n
        end = int(self.obounds[n])
        chunk = PacketChunk(self.out[:end], self.obounds[:n + 1], self.okinds[:n],
                            self.ocounts[:n])
        return chunk

    def _reset_out(self) -> None:
        self.pw[PW_POS] = 0
        self.pw[PW_NPK] = 0

    def run(self, chunk: PacketChunk) -> Iterator[PacketChunk]:
        """Apply ``chunk``'s incremental packets (its snapshot-loop packets are skipped) and
        yield the full-snapshot packets they cause, each a ``PacketChunk`` of views of the
        output buffer, valid until the next step of the iteration. The last packet is closed
        at the end of the chunk, so a step's snapshots leave with its packets."""
        k, p = 0, 0
        while True:
            ex, k, p, detail = (int(x) for x in full_run(
                chunk.buf, chunk.bounds, chunk.kinds, k, p, self.px, self.qty, self.nord,
                self.limits, self.dstats, self.table, self.inst, self.dirty, self.st, self.out,
                self.pw, self.obounds, self.okinds, self.ocounts, self.oscal, self.max_payload,
                self.last_update, self.tally))
            if ex in (REFUSED, BAD_PACKET):
                seq = int.from_bytes(chunk.packet(k)[:4].tobytes(), "little")
                off = p - int(chunk.bounds[k])
                why = (BAD_TEXT.get(detail, detail) if ex == BAD_PACKET else
                       "instrument table full (raise max_instruments)" if detail == -2 else
                       f"the replica refused an entry: {STATUS_TEXT.get(detail, detail)}")
                raise ValueError(f"full snapshots: incremental packet MsgSeqNum {seq}, offset "
                                 f"{off}: {why}")
            out = self._take()
            if out is not None:
                yield out
                self._reset_out()
            if ex == DONE:
                return

    def chunk_of(self, chunks: Iterable[PacketChunk]) -> PacketChunk:
        """:meth:`run` over ``chunks``, every packet as one ``PacketChunk`` of its own."""
        bufs, bounds, counts = [], [np.zeros(1, np.int64)], []
        base = 0
        for ch in chunks:
            for out in self.run(ch):
                bufs.append(out.buf.copy())
                bounds.append(out.bounds[1:] + base)
                counts.append(out.counts.copy())
                base += int(out.bounds[-1])
        buf = np.concatenate(bufs) if bufs else np.zeros(0, np.uint8)
        cnt = np.concatenate(counts) if counts else np.zeros(0, np.int64)
        return PacketChunk(buf, np.concatenate(bounds),
                           np.full(cnt.shape[0], FULL_SNAPSHOT, np.uint8), cnt)

    # -- observing ---------------------------------------------------------------------------

    @property
    def messages(self) -> int:
        """Incremental messages walked."""
        return int(self.tally[MESSAGES])

    @property
    def events(self) -> int:
        """Events ended (messages with EndOfEvent)."""
        return int(self.tally[EVENTS])

    @property
    def snapshots(self) -> int:
        """SnapshotFullRefresh52 messages written."""
        return int(self.tally[SNAPSHOTS])

    @property
    def bytes(self) -> int:
        """Bytes of those messages, MsgSize included (packet headers not)."""
        return int(self.tally[BYTES])

    @property
    def packets(self) -> int:
        """Full-snapshot packets closed."""
        return int(self.tally[PACKETS])

    def warm_up(self) -> None:
        """Compile (or load) the generator on scratch state of the same types."""
        scratch = FullRefreshGenerator(max_instruments=1, max_payload=self.max_payload,
                                       out_bytes=0)
        empty = PacketChunk(np.zeros(0, np.uint8), np.zeros(1, np.int64),
                            np.zeros(0, np.uint8), np.zeros(0, np.int64))
        for _ in scratch.run(empty):
            pass
        write_full52(scratch.out, scratch.pw, scratch.obounds, scratch.okinds, scratch.ocounts,
                     scratch.oscal, scratch.px, scratch.qty, scratch.nord, scratch.inst, 0, 0,
                     0, 0, self.max_payload)


def full_snapshots_of(fut, chunk_bytes: int = 8 << 20) -> PacketChunk:
    """A whole day of ``fut`` (a :class:`~tickpath.venue.futures.FuturesSimulator`, replayed
    from its seed) on the full-snapshot channel, in memory: one ``PacketChunk`` of every
    packet (kinds ``FULL_SNAPSHOT``), SendingTime the time of each packet's first event."""
    gen = FullRefreshGenerator(max_instruments=max(1, len(fut.specs)),
                               max_payload=fut.max_payload, last_update=fut._last_update)
    return gen.chunk_of(fut.packets(chunk_bytes))
