"""Compiled MDP 3.0 (schema 1, version 13) writers: packets, and the messages the futures venue
sends, written with the generated encoders of :mod:`tickpath.codec.mdp3.schema_v13`.

A packet is CME's binary packet header and whole messages, each framed by its size::

    0          4                 12    14             22            MsgSize
    +----------+-----------------+-----+--------------+--------------+---- ...
    | MsgSeqNum| SendingTime     |Msg- | SBE header   | root block,  | next message
    | u32      | u64 UTC ns      |Size | blockLength, | groups       |
    |          |                 | u16 | templateId,  |              |
    |          |                 |     | schemaId 1,  |              |
    |          |                 |     | version 13   |              |
    +----------+-----------------+-----+--------------+--------------+---- ...

MsgSize counts itself. A packet holds as many messages as fit in ``max_payload`` bytes; a
message never spans packets. Packets of the incremental stream and of the snapshot loop are
never mixed, and each kind numbers its own packets (``pw`` and ``scal`` hold the state).
Bytes a writer does not set (SBE padding) stay as the chunk buffer was allocated: zero.
"""

from __future__ import annotations

from numba import njit

from ..codec.mdp3 import schema_v13 as S
from ..codec.sbe.fields import put_u16, put_u32, put_u64
from .futures_book import G_OPS, G_TR
from .futures_records import (
    DEPTH,
    INCREMENTAL,
    PW_KIND,
    PW_MSGS,
    PW_NPK,
    PW_OPEN,
    PW_POS,
    PW_SEQ,
    S_LAST_SEQ,
    S_SEQ,
    S_SINCE_LOOP,
    S_SNAP_SEQ,
    SNAPSHOT_CHUNK,
    TRADE_DATE,
)

kernel = njit(cache=True, nogil=True, error_model="numpy", _nrt=False)

#: Binary packet header: MsgSeqNum u32, SendingTime u64.
PACKET_HEADER = 12
SENDING_TIME_OFFSET = 4
#: MsgSize u16 before every message.
MSG_SIZE = 2

_H = S.HEADER_SIZE
# MDIncrementalRefreshBook46
B46_FIXED = (MSG_SIZE + _H + S.MD_INCREMENTAL_REFRESH_BOOK46_BLOCK_LENGTH
             + S.MD_INCREMENTAL_REFRESH_BOOK46_NO_MD_ENTRIES_HEADER_SIZE
             + S.MD_INCREMENTAL_REFRESH_BOOK46_NO_ORDER_ID_ENTRIES_HEADER_SIZE)
B46_MD = S.MD_INCREMENTAL_REFRESH_BOOK46_NO_MD_ENTRIES_BLOCK_LENGTH
B46_OE = S.MD_INCREMENTAL_REFRESH_BOOK46_NO_ORDER_ID_ENTRIES_BLOCK_LENGTH
# MDIncrementalRefreshOrderBook47
B47_FIXED = (MSG_SIZE + _H + S.MD_INCREMENTAL_REFRESH_ORDER_BOOK47_BLOCK_LENGTH
             + S.MD_INCREMENTAL_REFRESH_ORDER_BOOK47_NO_MD_ENTRIES_HEADER_SIZE)
B47_E = S.MD_INCREMENTAL_REFRESH_ORDER_BOOK47_NO_MD_ENTRIES_BLOCK_LENGTH
# MDIncrementalRefreshTradeSummary48
B48_FIXED = (MSG_SIZE + _H + S.MD_INCREMENTAL_REFRESH_TRADE_SUMMARY48_BLOCK_LENGTH
             + S.MD_INCREMENTAL_REFRESH_TRADE_SUMMARY48_NO_MD_ENTRIES_HEADER_SIZE
             + S.MD_INCREMENTAL_REFRESH_TRADE_SUMMARY48_NO_ORDER_ID_ENTRIES_HEADER_SIZE)
B48_E = S.MD_INCREMENTAL_REFRESH_TRADE_SUMMARY48_NO_MD_ENTRIES_BLOCK_LENGTH
B48_OE = S.MD_INCREMENTAL_REFRESH_TRADE_SUMMARY48_NO_ORDER_ID_ENTRIES_BLOCK_LENGTH
# SecurityStatus30
B30 = MSG_SIZE + _H + S.SECURITY_STATUS30_BLOCK_LENGTH
# SnapshotFullRefresh52
B52_FIXED = (MSG_SIZE + _H + S.SNAPSHOT_FULL_REFRESH52_BLOCK_LENGTH
             + S.SNAPSHOT_FULL_REFRESH52_NO_MD_ENTRIES_HEADER_SIZE)
B52_E = S.SNAPSHOT_FULL_REFRESH52_NO_MD_ENTRIES_BLOCK_LENGTH
B52_MAX = B52_FIXED + 2 * DEPTH * B52_E
# SnapshotFullRefreshOrderBook53
B53_FIXED = (MSG_SIZE + _H + S.SNAPSHOT_FULL_REFRESH_ORDER_BOOK53_BLOCK_LENGTH
             + S.SNAPSHOT_FULL_REFRESH_ORDER_BOOK53_NO_MD_ENTRIES_HEADER_SIZE)
B53_E = S.SNAPSHOT_FULL_REFRESH_ORDER_BOOK53_NO_MD_ENTRIES_BLOCK_LENGTH
B53_MAX = B53_FIXED + SNAPSHOT_CHUNK * B53_E

_BID_TYPE = S.MD_ENTRY_TYPE_BOOK_BID  # '0'; an offer is '1' = bid + side
_MEI_LAST_TRADE = 1 << S.MATCH_EVENT_INDICATOR_LAST_TRADE_MSG_BIT
_MEI_LAST_QUOTE = 1 << S.MATCH_EVENT_INDICATOR_LAST_QUOTE_MSG_BIT
_MEI_END = 1 << S.MATCH_EVENT_INDICATOR_END_OF_EVENT_BIT
_I32_NULL = S.MD_INCREMENTAL_REFRESH_BOOK46_NO_MD_ENTRIES_TRADEABLE_SIZE_NULL
_PRICE_NULL = S.SNAPSHOT_FULL_REFRESH52_HIGH_LIMIT_PRICE_NULL
_U8_NULL = S.SNAPSHOT_FULL_REFRESH52_NO_MD_ENTRIES_OPEN_CLOSE_SETTL_FLAG_NULL
_DATE_NULL = S.SNAPSHOT_FULL_REFRESH52_NO_MD_ENTRIES_TRADING_REFERENCE_DATE_NULL
_READY = S.SECURITY_TRADING_STATUS_READY_TO_TRADE

# ------------------------------------------------------------------------------ packets


@kernel
def close_packet(pw, bounds, kinds, counts, scal):
    """Close the open packet (if any): it becomes ``bounds[k]:bounds[k+1]`` of the chunk."""
    if pw[PW_OPEN] < 0:
        return
    k = pw[PW_NPK]
    bounds[k + 1] = pw[PW_POS]
    kinds[k] = pw[PW_KIND]
    counts[k] = pw[PW_MSGS]
    pw[PW_NPK] = k + 1
    pw[PW_OPEN] = -1
    if pw[PW_KIND] == INCREMENTAL:
        scal[S_LAST_SEQ] = pw[PW_SEQ]
        scal[S_SINCE_LOOP] += 1


@kernel
def begin_msg(buf, pw, bounds, kinds, counts, scal, size, kind, now_utc, max_payload):
    """Reserve ``size`` bytes (MsgSize included) for a message of a ``kind`` packet: in the
    open packet when it fits, else in a new one (its header gets the next MsgSeqNum of that
    kind and ``now_utc`` as SendingTime). Writes MsgSize; returns where the SBE header goes."""
    if pw[PW_OPEN] >= 0 and (pw[PW_KIND] != kind
                             or pw[PW_POS] + size - pw[PW_OPEN] > max_payload):
        close_packet(pw, bounds, kinds, counts, scal)
    if pw[PW_OPEN] < 0:
        p = pw[PW_POS]
        if kind == INCREMENTAL:
            seq = scal[S_SEQ]
            scal[S_SEQ] = seq + 1
        else:
            seq = scal[S_SNAP_SEQ]
            scal[S_SNAP_SEQ] = seq + 1
        put_u32(buf, p, seq)
        put_u64(buf, p + SENDING_TIME_OFFSET, now_utc)
        bounds[pw[PW_NPK]] = p
        pw[PW_OPEN] = p
        pw[PW_POS] = p + PACKET_HEADER
        pw[PW_MSGS] = 0
        pw[PW_KIND] = kind
        pw[PW_SEQ] = seq
    p = pw[PW_POS]
    pw[PW_POS] = p + size
    pw[PW_MSGS] += 1
    put_u16(buf, p, size)
    return p + MSG_SIZE


# ----------------------------------------------------------------------- incremental messages


@kernel
def _book46(buf, h, now_utc, rec, md, oe, ops, a, b, n_oe):
    """MDIncrementalRefreshBook46 at ``h`` from price-level entries ``ops[a:b]`` and the
    order entries bound to them (``n_oe`` in all). Returns the MatchEventIndicator's offset."""
    S.put_md_incremental_refresh_book46_header(buf, h)
    r = h + _H
    S.put_md_incremental_refresh_book46_transact_time(buf, r, now_utc)
    g = r + S.MD_INCREMENTAL_REFRESH_BOOK46_BLOCK_LENGTH
    S.put_md_incremental_refresh_book46_no_md_entries(buf, g, B46_MD, b - a)
    e = g + S.MD_INCREMENTAL_REFRESH_BOOK46_NO_MD_ENTRIES_HEADER_SIZE
    sid = rec["security_id"]
    for q in range(a, b):
        m = md[ops[q]]
        rec["rpt_seq"] += 1
        S.put_md_incremental_refresh_book46_no_md_entries_md_entry_px(buf, e, m["px"])
        S.put_md_incremental_refresh_book46_no_md_entries_md_entry_size(buf, e, m["qty"])
        S.put_md_incremental_refresh_book46_no_md_entries_security_id(buf, e, sid)
        S.put_md_incremental_refresh_book46_no_md_entries_rpt_seq(buf, e, rec["rpt_seq"])
        S.put_md_incremental_refresh_book46_no_md_entries_number_of_orders(buf, e, m["norders"])
        S.put_md_incremental_refresh_book46_no_md_entries_md_price_level(buf, e, m["level"])
        S.put_md_incremental_refresh_book46_no_md_entries_md_update_action(buf, e, m["action"])
        S.put_md_incremental_refresh_book46_no_md_entries_md_entry_type(buf, e,
                                                                        _BID_TYPE + m["side"])
        S.put_md_incremental_refresh_book46_no_md_entries_tradeable_size(buf, e, _I32_NULL)
        e += B46_MD
    S.put_md_incremental_refresh_book46_no_order_id_entries(buf, e, B46_OE, n_oe)
    e += S.MD_INCREMENTAL_REFRESH_BOOK46_NO_ORDER_ID_ENTRIES_HEADER_SIZE
    for q in range(a, b):
        m = md[ops[q]]
        for k in range(m["first_oe"], m["first_oe"] + m["n_oe"]):
            o = oe[k]
            S.put_md_incremental_refresh_book46_no_order_id_entries_order_id(buf, e,
                                                                             o["order_id"])
            S.put_md_incremental_refresh_book46_no_order_id_entries_md_order_priority(
                buf, e, o["priority"])
            S.put_md_incremental_refresh_book46_no_order_id_entries_md_display_qty(buf, e,
                                                                                   o["qty"])
            S.put_md_incremental_refresh_book46_no_order_id_entries_reference_id(buf, e,
                                                                                 q - a + 1)
            S.put_md_incremental_refresh_book46_no_order_id_entries_order_update_action(
                buf, e, o["action"])
            e += B46_OE
    return r + S.MD_INCREMENTAL_REFRESH_BOOK46_MATCH_EVENT_INDICATOR_OFFSET


@kernel
def _order_book47(buf, h, now_utc, rec, oe, ops, a, b):
    """MDIncrementalRefreshOrderBook47 at ``h`` from stand-alone order entries ``ops[a:b]``
    (OrderUpdateAction New/Update/Delete sent as MDUpdateAction New/Change/Delete)."""
    S.put_md_incremental_refresh_order_book47_header(buf, h)
    r = h + _H
    S.put_md_incremental_refresh_order_book47_transact_time(buf, r, now_utc)
    g = r + S.MD_INCREMENTAL_REFRESH_ORDER_BOOK47_BLOCK_LENGTH
    S.put_md_incremental_refresh_order_book47_no_md_entries(buf, g, B47_E, b - a)
    e = g + S.MD_INCREMENTAL_REFRESH_ORDER_BOOK47_NO_MD_ENTRIES_HEADER_SIZE
    sid = rec["security_id"]
    for q in range(a, b):
        o = oe[-ops[q] - 1]
        S.put_md_incremental_refresh_order_book47_no_md_entries_order_id(buf, e, o["order_id"])
        S.put_md_incremental_refresh_order_book47_no_md_entries_md_order_priority(
            buf, e, o["priority"])
        S.put_md_incremental_refresh_order_book47_no_md_entries_md_entry_px(buf, e, o["px"])
        S.put_md_incremental_refresh_order_book47_no_md_entries_md_display_qty(buf, e, o["qty"])
        S.put_md_incremental_refresh_order_book47_no_md_entries_security_id(buf, e, sid)
        S.put_md_incremental_refresh_order_book47_no_md_entries_md_update_action(buf, e,
                                                                                 o["action"])
        S.put_md_incremental_refresh_order_book47_no_md_entries_md_entry_type(
            buf, e, _BID_TYPE + o["side"])
        e += B47_E
    return r + S.MD_INCREMENTAL_REFRESH_ORDER_BOOK47_MATCH_EVENT_INDICATOR_OFFSET


@kernel
def _trade_summary48(buf, h, now_utc, rec, trades, fills, n_tr, n_fill):
    """MDIncrementalRefreshTradeSummary48 at ``h``: one entry per price traded, then every
    fill (aggressor and resting orders) as OrderID / LastQty."""
    S.put_md_incremental_refresh_trade_summary48_header(buf, h)
    r = h + _H
    S.put_md_incremental_refresh_trade_summary48_transact_time(buf, r, now_utc)
    g = r + S.MD_INCREMENTAL_REFRESH_TRADE_SUMMARY48_BLOCK_LENGTH
    S.put_md_incremental_refresh_trade_summary48_no_md_entries(buf, g, B48_E, n_tr)
    e = g + S.MD_INCREMENTAL_REFRESH_TRADE_SUMMARY48_NO_MD_ENTRIES_HEADER_SIZE
    sid = rec["security_id"]
    for q in range(n_tr):
        t = trades[q]
        rec["rpt_seq"] += 1
        S.put_md_incremental_refresh_trade_summary48_no_md_entries_md_entry_px(buf, e, t["px"])
        S.put_md_incremental_refresh_trade_summary48_no_md_entries_md_entry_size(buf, e,
                                                                                t["qty"])
        S.put_md_incremental_refresh_trade_summary48_no_md_entries_security_id(buf, e, sid)
        S.put_md_incremental_refresh_trade_summary48_no_md_entries_rpt_seq(buf, e,
                                                                          rec["rpt_seq"])
        S.put_md_incremental_refresh_trade_summary48_no_md_entries_number_of_orders(
            buf, e, t["norders"])
        S.put_md_incremental_refresh_trade_summary48_no_md_entries_aggressor_side(
            buf, e, t["aggressor"])
        S.put_md_incremental_refresh_trade_summary48_no_md_entries_md_update_action(buf, e, 0)
        S.put_md_incremental_refresh_trade_summary48_no_md_entries_md_trade_entry_id(
            buf, e, t["trade_id"])
        e += B48_E
    S.put_md_incremental_refresh_trade_summary48_no_order_id_entries(buf, e, B48_OE, n_fill)
    e += S.MD_INCREMENTAL_REFRESH_TRADE_SUMMARY48_NO_ORDER_ID_ENTRIES_HEADER_SIZE
    for q in range(n_fill):
        f = fills[q]
        S.put_md_incremental_refresh_trade_summary48_no_order_id_entries_order_id(
            buf, e, f["order_id"])
        S.put_md_incremental_refresh_trade_summary48_no_order_id_entries_last_qty(buf, e,
                                                                                 f["qty"])
        e += B48_OE
    return r + S.MD_INCREMENTAL_REFRESH_TRADE_SUMMARY48_MATCH_EVENT_INDICATOR_OFFSET


@kernel
def emit_step(buf, pw, bounds, kinds, counts, scal, rec, md, oe, ops, trades, fills, stg,
              now_utc, max_payload, tcount):
    """Write one step's staged output as incremental messages, in the order CME sends an
    event: the trade summary first, then the book updates in the order they happened
    (consecutive price-level entries share MDIncrementalRefreshBook46 messages up to the
    packet size, consecutive stand-alone order entries share MDIncrementalRefreshOrderBook47
    messages). The last book message gets LastQuoteMsg, the last message EndOfEvent.
    Returns the number of messages written."""
    n_msgs = 0
    last_mei = -1
    last_quote = -1
    max_msg = max_payload - PACKET_HEADER
    n_tr = stg[G_TR]
    if n_tr > 0:
        n_fill = 0
        for q in range(n_tr):
            n_fill += trades[q]["n_fill"]
        h = begin_msg(buf, pw, bounds, kinds, counts, scal,
                      B48_FIXED + n_tr * B48_E + n_fill * B48_OE, INCREMENTAL, now_utc,
                      max_payload)
        last_mei = _trade_summary48(buf, h, now_utc, rec, trades, fills, n_tr, n_fill)
        buf[last_mei] = _MEI_LAST_TRADE
        tcount[48] += 1
        n_msgs += 1
    nops = stg[G_OPS]
    q = 0
    while q < nops:
        r = q
        if ops[q] >= 0:
            size = B46_FIXED
            n_oe = 0
            while r < nops and ops[r] >= 0 and r - q < 255:
                add = B46_MD + B46_OE * md[ops[r]]["n_oe"]
                if r > q and (size + add > max_msg or n_oe + md[ops[r]]["n_oe"] > 255):
                    break
                size += add
                n_oe += md[ops[r]]["n_oe"]
                r += 1
            h = begin_msg(buf, pw, bounds, kinds, counts, scal, size, INCREMENTAL, now_utc,
                          max_payload)
            last_mei = _book46(buf, h, now_utc, rec, md, oe, ops, q, r, n_oe)
            tcount[46] += 1
        else:
            size = B47_FIXED
            while r < nops and ops[r] < 0 and r - q < 255:
                if r > q and size + B47_E > max_msg:
                    break
                size += B47_E
                r += 1
            h = begin_msg(buf, pw, bounds, kinds, counts, scal, size, INCREMENTAL, now_utc,
                          max_payload)
            last_mei = _order_book47(buf, h, now_utc, rec, oe, ops, q, r)
            tcount[47] += 1
        last_quote = last_mei
        n_msgs += 1
        q = r
    if last_quote >= 0:
        buf[last_quote] |= _MEI_LAST_QUOTE
    if last_mei >= 0:
        buf[last_mei] |= _MEI_END
        rec["last_time"] = now_utc
    return n_msgs


@kernel
def emit_status(buf, pw, bounds, kinds, counts, scal, rec, names, now_utc, status, event,
                max_payload, tcount):
    """SecurityStatus30 for one instrument: ``status`` (SecurityTradingStatus) and
    ``event`` (SecurityTradingEvent); ``names`` holds its SecurityGroup then Asset (6 + 6
    bytes)."""
    h = begin_msg(buf, pw, bounds, kinds, counts, scal, B30, INCREMENTAL, now_utc, max_payload)
    S.put_security_status30_header(buf, h)
    r = h + _H
    S.put_security_status30_transact_time(buf, r, now_utc)
    for k in range(6):
        buf[r + S.SECURITY_STATUS30_SECURITY_GROUP_OFFSET + k] = names[k]
        buf[r + S.SECURITY_STATUS30_ASSET_OFFSET + k] = names[6 + k]
    S.put_security_status30_security_id(buf, r, rec["security_id"])
    S.put_security_status30_trade_date(buf, r, TRADE_DATE)
    S.put_security_status30_match_event_indicator(buf, r, _MEI_END)
    S.put_security_status30_security_trading_status(buf, r, status)
    S.put_security_status30_halt_reason(buf, r, S.HALT_REASON_GROUP_SCHEDULE)
    S.put_security_status30_security_trading_event(buf, r, event)
    tcount[30] += 1


@kernel
def emit_raw(buf, pw, bounds, kinds, counts, scal, msg, length, kind, now_utc, max_payload):
    """A prebuilt SBE message (header and body, ``msg[:length]``) into a ``kind`` packet."""
    h = begin_msg(buf, pw, bounds, kinds, counts, scal, MSG_SIZE + length, kind, now_utc,
                  max_payload)
    for k in range(length):
        buf[h + k] = msg[k]


# ---------------------------------------------------------------------------- snapshot loop


@kernel
def put_snapshot52(buf, h, last_seq, tot_reports, security_id, rpt_seq, transact, last_update,
                   n_entries):
    """SnapshotFullRefresh52's header and root block at ``h`` (the SBE header's position) and
    its NoMDEntries group header for ``n_entries`` entries; returns where the first entry
    goes (:func:`put_snapshot52_entry`). The snapshot loop and the full-snapshot channel
    (:mod:`tickpath.venue.mdp3_full`) both write 52 with these two."""
    S.put_snapshot_full_refresh52_header(buf, h)
    r = h + _H
    S.put_snapshot_full_refresh52_last_msg_seq_num_processed(buf, r, last_seq)
    S.put_snapshot_full_refresh52_tot_num_reports(buf, r, tot_reports)
    S.put_snapshot_full_refresh52_security_id(buf, r, security_id)
    S.put_snapshot_full_refresh52_rpt_seq(buf, r, rpt_seq)
    S.put_snapshot_full_refresh52_transact_time(buf, r, transact)
    S.put_snapshot_full_refresh52_last_update_time(buf, r, last_update)
    S.put_snapshot_full_refresh52_trade_date(buf, r, TRADE_DATE)
    S.put_snapshot_full_refresh52_md_security_trading_status(buf, r, _READY)
    S.put_snapshot_full_refresh52_high_limit_price(buf, r, _PRICE_NULL)
    S.put_snapshot_full_refresh52_low_limit_price(buf, r, _PRICE_NULL)
    S.put_snapshot_full_refresh52_max_price_variation(buf, r, _PRICE_NULL)
    g = r + S.SNAPSHOT_FULL_REFRESH52_BLOCK_LENGTH
    S.put_snapshot_full_refresh52_no_md_entries(buf, g, B52_E, n_entries)
    return g + S.SNAPSHOT_FULL_REFRESH52_NO_MD_ENTRIES_HEADER_SIZE


@kernel
def put_snapshot52_entry(buf, e, px, qty, norders, level, side):
    """One price level of a 52 at ``e``: side 0 bid ('0'), 1 offer ('1'); ``level`` is
    MDPriceLevel (1 = best). Returns where the next entry goes."""
    S.put_snapshot_full_refresh52_no_md_entries_md_entry_px(buf, e, px)
    S.put_snapshot_full_refresh52_no_md_entries_md_entry_size(buf, e, qty)
    S.put_snapshot_full_refresh52_no_md_entries_number_of_orders(buf, e, norders)
    S.put_snapshot_full_refresh52_no_md_entries_md_price_level(buf, e, level)
    S.put_snapshot_full_refresh52_no_md_entries_trading_reference_date(buf, e, _DATE_NULL)
    S.put_snapshot_full_refresh52_no_md_entries_open_close_settl_flag(buf, e, _U8_NULL)
    S.put_snapshot_full_refresh52_no_md_entries_settl_price_type(buf, e, 0)
    S.put_snapshot_full_refresh52_no_md_entries_md_entry_type(buf, e, _BID_TYPE + side)
    return e + B52_E


@kernel
def emit_snapshot52(buf, pw, bounds, kinds, counts, scal, rec, levels, pub, pub_n, i,
                    tot_reports, last_update, now_utc, kind, max_payload):
    """SnapshotFullRefresh52 for instrument ``i``: its published book, bids then offers,
    best first, with MDPriceLevel; LastMsgSeqNumProcessed is the last incremental packet
    closed, RptSeq the instrument's last."""
    nb = pub_n[i, 0]
    na = pub_n[i, 1]
    h = begin_msg(buf, pw, bounds, kinds, counts, scal, B52_FIXED + (nb + na) * B52_E, kind,
                  now_utc, max_payload)
    e = put_snapshot52(buf, h, scal[S_LAST_SEQ], tot_reports, rec["security_id"],
                       rec["rpt_seq"], max(rec["last_time"], last_update), last_update,
                       nb + na)
    for side in range(2):
        for q in range(pub_n[i, side]):
            j = pub[i, side, q]
            lv = levels[i, j]
            e = put_snapshot52_entry(buf, e, rec["lo_px"] + j * rec["tick_px"], lv["qty"],
                                     lv["count"], q + 1, side)


@kernel
def emit_snapshot53(buf, pw, bounds, kinds, counts, scal, rec, levels, orders, i, tot_reports,
                    last_update, now_utc, kind, max_payload):
    """SnapshotFullRefreshOrderBook53 for instrument ``i``: every resting order, bids then
    offers, best price first and in time priority within a price, SNAPSHOT_CHUNK a message
    (NoChunks / CurrentChunk; one empty chunk for an empty book). Returns the messages."""
    nlev = levels.shape[1]
    total = rec["n_bid"] + rec["n_ask"]  # the client orders too
    n_chunks = max(1, (total + SNAPSHOT_CHUNK - 1) // SNAPSHOT_CHUNK)
    side = 0
    j = rec["bb"]
    o = levels[i, j]["head"] if j >= 0 else -1
    for c in range(n_chunks):
        k = min(SNAPSHOT_CHUNK, total - c * SNAPSHOT_CHUNK)
        h = begin_msg(buf, pw, bounds, kinds, counts, scal, B53_FIXED + k * B53_E, kind,
                      now_utc, max_payload)
        S.put_snapshot_full_refresh_order_book53_header(buf, h)
        r = h + _H
        S.put_snapshot_full_refresh_order_book53_last_msg_seq_num_processed(buf, r,
                                                                           scal[S_LAST_SEQ])
        S.put_snapshot_full_refresh_order_book53_tot_num_reports(buf, r, tot_reports)
        S.put_snapshot_full_refresh_order_book53_security_id(buf, r, rec["security_id"])
        S.put_snapshot_full_refresh_order_book53_no_chunks(buf, r, n_chunks)
        S.put_snapshot_full_refresh_order_book53_current_chunk(buf, r, c + 1)
        S.put_snapshot_full_refresh_order_book53_transact_time(
            buf, r, max(rec["last_time"], last_update))
        g = r + S.SNAPSHOT_FULL_REFRESH_ORDER_BOOK53_BLOCK_LENGTH
        S.put_snapshot_full_refresh_order_book53_no_md_entries(buf, g, B53_E, k)
        e = g + S.SNAPSHOT_FULL_REFRESH_ORDER_BOOK53_NO_MD_ENTRIES_HEADER_SIZE
        for _ in range(k):
            while o < 0:  # on to the next non-empty level: bids down, then offers up
                if side == 0:
                    j -= 1
                    while j >= 0 and levels[i, j]["count"] == 0:
                        j -= 1
                    if j < 0:
                        side = 1
                        j = rec["ba"]
                else:
                    j += 1
                    while j < nlev and levels[i, j]["count"] == 0:
                        j += 1
                if 0 <= j < nlev:
                    o = levels[i, j]["head"]
            od = orders[o]
            S.put_snapshot_full_refresh_order_book53_no_md_entries_order_id(buf, e,
                                                                           od["order_id"])
            S.put_snapshot_full_refresh_order_book53_no_md_entries_md_order_priority(
                buf, e, od["priority"])
            S.put_snapshot_full_refresh_order_book53_no_md_entries_md_entry_px(
                buf, e, rec["lo_px"] + j * rec["tick_px"])
            S.put_snapshot_full_refresh_order_book53_no_md_entries_md_display_qty(buf, e,
                                                                                 od["qty"])
            S.put_snapshot_full_refresh_order_book53_no_md_entries_md_entry_type(
                buf, e, _BID_TYPE + side)
            e += B53_E
            o = od["next"]
    return n_chunks



# ------------------------------------------------------------------------------ definitions

B54 = (_H + S.MD_INSTRUMENT_DEFINITION_FUTURE54_BLOCK_LENGTH
       + S.MD_INSTRUMENT_DEFINITION_FUTURE54_NO_EVENTS_HEADER_SIZE
       + 2 * S.MD_INSTRUMENT_DEFINITION_FUTURE54_NO_EVENTS_BLOCK_LENGTH
       + S.MD_INSTRUMENT_DEFINITION_FUTURE54_NO_MD_FEED_TYPES_HEADER_SIZE
       + 2 * S.MD_INSTRUMENT_DEFINITION_FUTURE54_NO_MD_FEED_TYPES_BLOCK_LENGTH
       + S.MD_INSTRUMENT_DEFINITION_FUTURE54_NO_INST_ATTRIB_HEADER_SIZE
       + S.MD_INSTRUMENT_DEFINITION_FUTURE54_NO_INST_ATTRIB_BLOCK_LENGTH
       + S.MD_INSTRUMENT_DEFINITION_FUTURE54_NO_LOT_TYPE_RULES_HEADER_SIZE
       + S.MD_INSTRUMENT_DEFINITION_FUTURE54_NO_LOT_TYPE_RULES_BLOCK_LENGTH)
#: (offset in the root block, or in a group entry, counted from the group's first entry)
#: of the char fields the owner writes in Python, after ``definition54``.
DEF54_FEED_TYPES_AT = (S.MD_INSTRUMENT_DEFINITION_FUTURE54_BLOCK_LENGTH
                       + S.MD_INSTRUMENT_DEFINITION_FUTURE54_NO_EVENTS_HEADER_SIZE
                       + 2 * S.MD_INSTRUMENT_DEFINITION_FUTURE54_NO_EVENTS_BLOCK_LENGTH
                       + S.MD_INSTRUMENT_DEFINITION_FUTURE54_NO_MD_FEED_TYPES_HEADER_SIZE)


@njit(cache=True)
def definition54(buf, h, tot_reports, last_update, security_id, appl_id, segment,
                 underlying, min_price_increment, display_factor, year, month, unit_qty,
                 reference_price, high_limit, low_limit, max_variation, increment_amount,
                 reference_date, activation, last_trade, depth, implied_depth, attributes):
    """The numeric fields and groups of MDInstrumentDefinitionFuture54 at ``h`` (SBE header
    position); prices and Decimal9 values as mantissas. The char fields (Symbol, Asset,
    SecurityGroup, ...) and MDFeedType are the caller's (Python side). Returns the length."""
    S.put_md_instrument_definition_future54_header(buf, h)
    r = h + _H
    S.put_md_instrument_definition_future54_match_event_indicator(buf, r, _MEI_END)
    S.put_md_instrument_definition_future54_tot_num_reports(buf, r, tot_reports)
    S.put_md_instrument_definition_future54_security_update_action(
        buf, r, S.SECURITY_UPDATE_ACTION_ADD)
    S.put_md_instrument_definition_future54_last_update_time(buf, r, last_update)
    S.put_md_instrument_definition_future54_md_security_trading_status(buf, r, _READY)
    S.put_md_instrument_definition_future54_appl_id(buf, r, appl_id)
    S.put_md_instrument_definition_future54_market_segment_id(buf, r, segment)
    S.put_md_instrument_definition_future54_underlying_product(buf, r, underlying)
    S.put_md_instrument_definition_future54_security_id(buf, r, security_id)
    S.put_md_instrument_definition_future54_maturity_month_year_year(buf, r, year)
    S.put_md_instrument_definition_future54_maturity_month_year_month(buf, r, month)
    S.put_md_instrument_definition_future54_maturity_month_year_day(buf, r, 255)
    S.put_md_instrument_definition_future54_maturity_month_year_week(buf, r, 255)
    S.put_md_instrument_definition_future54_match_algorithm(buf, r, 70)  # 'F': FIFO
    S.put_md_instrument_definition_future54_min_trade_vol(buf, r, 1)
    S.put_md_instrument_definition_future54_max_trade_vol(buf, r, 3000)
    S.put_md_instrument_definition_future54_min_price_increment(buf, r, min_price_increment)
    S.put_md_instrument_definition_future54_display_factor(buf, r, display_factor)
    S.put_md_instrument_definition_future54_main_fraction(buf, r, 255)
    S.put_md_instrument_definition_future54_sub_fraction(buf, r, 255)
    S.put_md_instrument_definition_future54_price_display_format(buf, r, 2)
    S.put_md_instrument_definition_future54_unit_of_measure_qty(buf, r, unit_qty)
    S.put_md_instrument_definition_future54_trading_reference_price(buf, r, reference_price)
    S.put_md_instrument_definition_future54_settl_price_type(
        buf, r, (1 << S.SETTL_PRICE_TYPE_FINAL_DAILY_BIT) | (1 << S.SETTL_PRICE_TYPE_ACTUAL_BIT))
    S.put_md_instrument_definition_future54_open_interest_qty(buf, r, _I32_NULL)
    S.put_md_instrument_definition_future54_cleared_volume(buf, r, _I32_NULL)
    S.put_md_instrument_definition_future54_high_limit_price(buf, r, high_limit)
    S.put_md_instrument_definition_future54_low_limit_price(buf, r, low_limit)
    S.put_md_instrument_definition_future54_max_price_variation(buf, r, max_variation)
    S.put_md_instrument_definition_future54_decay_quantity(buf, r, _I32_NULL)
    S.put_md_instrument_definition_future54_decay_start_date(buf, r, _DATE_NULL)
    S.put_md_instrument_definition_future54_original_contract_size(buf, r, _I32_NULL)
    S.put_md_instrument_definition_future54_contract_multiplier(buf, r, _I32_NULL)
    S.put_md_instrument_definition_future54_contract_multiplier_unit(buf, r, 127)
    S.put_md_instrument_definition_future54_flow_schedule_type(buf, r, 127)
    S.put_md_instrument_definition_future54_min_price_increment_amount(buf, r,
                                                                     increment_amount)
    S.put_md_instrument_definition_future54_user_defined_instrument(buf, r, 78)  # 'N'
    S.put_md_instrument_definition_future54_trading_reference_date(buf, r, reference_date)
    S.put_md_instrument_definition_future54_instrument_guid(
        buf, r, S.MD_INSTRUMENT_DEFINITION_FUTURE54_INSTRUMENT_GUID_NULL)
    g = r + S.MD_INSTRUMENT_DEFINITION_FUTURE54_BLOCK_LENGTH
    S.put_md_instrument_definition_future54_no_events(
        buf, g, S.MD_INSTRUMENT_DEFINITION_FUTURE54_NO_EVENTS_BLOCK_LENGTH, 2)
    e = g + S.MD_INSTRUMENT_DEFINITION_FUTURE54_NO_EVENTS_HEADER_SIZE
    S.put_md_instrument_definition_future54_no_events_event_type(buf, e,
                                                                 S.EVENT_TYPE_ACTIVATION)
    S.put_md_instrument_definition_future54_no_events_event_time(buf, e, activation)
    e += S.MD_INSTRUMENT_DEFINITION_FUTURE54_NO_EVENTS_BLOCK_LENGTH
    S.put_md_instrument_definition_future54_no_events_event_type(
        buf, e, S.EVENT_TYPE_LAST_ELIGIBLE_TRADE_DATE)
    S.put_md_instrument_definition_future54_no_events_event_time(buf, e, last_trade)
    e += S.MD_INSTRUMENT_DEFINITION_FUTURE54_NO_EVENTS_BLOCK_LENGTH
    S.put_md_instrument_definition_future54_no_md_feed_types(
        buf, e, S.MD_INSTRUMENT_DEFINITION_FUTURE54_NO_MD_FEED_TYPES_BLOCK_LENGTH, 2)
    e += S.MD_INSTRUMENT_DEFINITION_FUTURE54_NO_MD_FEED_TYPES_HEADER_SIZE
    S.put_md_instrument_definition_future54_no_md_feed_types_market_depth(buf, e, depth)
    e += S.MD_INSTRUMENT_DEFINITION_FUTURE54_NO_MD_FEED_TYPES_BLOCK_LENGTH
    S.put_md_instrument_definition_future54_no_md_feed_types_market_depth(buf, e,
                                                                          implied_depth)
    e += S.MD_INSTRUMENT_DEFINITION_FUTURE54_NO_MD_FEED_TYPES_BLOCK_LENGTH
    S.put_md_instrument_definition_future54_no_inst_attrib(
        buf, e, S.MD_INSTRUMENT_DEFINITION_FUTURE54_NO_INST_ATTRIB_BLOCK_LENGTH, 1)
    e += S.MD_INSTRUMENT_DEFINITION_FUTURE54_NO_INST_ATTRIB_HEADER_SIZE
    S.put_md_instrument_definition_future54_no_inst_attrib_inst_attrib_value(buf, e,
                                                                             attributes)
    e += S.MD_INSTRUMENT_DEFINITION_FUTURE54_NO_INST_ATTRIB_BLOCK_LENGTH
    S.put_md_instrument_definition_future54_no_lot_type_rules(
        buf, e, S.MD_INSTRUMENT_DEFINITION_FUTURE54_NO_LOT_TYPE_RULES_BLOCK_LENGTH, 1)
    e += S.MD_INSTRUMENT_DEFINITION_FUTURE54_NO_LOT_TYPE_RULES_HEADER_SIZE
    S.put_md_instrument_definition_future54_no_lot_type_rules_lot_type(buf, e, 2)  # round lot
    S.put_md_instrument_definition_future54_no_lot_type_rules_min_lot_size(buf, e, 10_000)
    e += S.MD_INSTRUMENT_DEFINITION_FUTURE54_NO_LOT_TYPE_RULES_BLOCK_LENGTH
    return e - h
