"""The MDP 3.0 feed handler's tables: the channel's counters, the per-instrument columns, and
what the handler does with each template id.

Two template families share the channel: the legacy ones (schema versions up to 8: 27, 32,
38, 42, 43, 44; prices with exponent -7) and today's (version 9 on: 46-56; PRICE9, exponent
-9). Within a kind (a book update, a trade summary, a snapshot ...) both families lay out the
fields the handler reads at the same offsets; :func:`_same_layout` checks that against the
generated schema modules when this module is imported, so the compiled step reads one set of
offsets and a schema change that breaks the assumption fails loudly, not silently.
"""

from __future__ import annotations

import numpy as np

from ...codec.mdp3 import schema_v9 as V9
from ...codec.mdp3 import schema_v13 as V13

SCHEMA_ID = 1  # MDP 3.0 market data; iLink 3 and the TCP recovery service use others

# -- packet ---------------------------------------------------------------------------------
PACKET_HEADER = 12  # MsgSeqNum u32, SendingTime u64 (UTC ns since the epoch)
SIZE_PREFIX = 2  # each message: MsgSize u16 (counting itself), then the SBE header
SBE_HEADER = V13.HEADER_SIZE

# -- channel counters and state (int64 array ``chan``) ---------------------------------------
(LAST_SEQ,  # MsgSeqNum of the last incremental packet taken (0: none yet)
 PACKETS,  # incremental packets taken
 DUPLICATES,  # packets already taken from the other line (A/B arbitration) or replayed
 GAPS,  # packet gaps (MsgSeqNum jumped past LAST_SEQ + 1)
 GAP_PACKETS,  # packets missed in them
 MESSAGES,  # messages walked
 ENTRIES,  # book entries applied
 UNKNOWN_TEMPLATES,  # messages of a template id this handler does not know (skipped by size)
 FOREIGN,  # messages of another schema id (skipped by size)
 MALFORMED,  # messages refused by their framing (truncated, group past the end ...)
 REFUSED,  # entries a book refused (that instrument goes stale)
 RPT_GAPS,  # RptSeq gaps: one instrument stale
 RECOVERIES,  # stale instruments made live again by a snapshot
 RECOVERY_NS,  # time they spent stale, summed
 SNAPSHOTS,  # snapshot messages applied
 SNAPSHOTS_SKIPPED,  # snapshot messages not needed (instrument live) or too old to fit
 CHANNEL_RESETS,
 DEFINITIONS,  # instrument definitions taken
 TRADES,  # trade summary entries
 STALE_NOW,  # instruments stale at this moment
 BUF_FIRST_SEQ,  # recovery buffer: MsgSeqNum of its first packet (0: empty)
 BUF_PACKETS,  # packets in it
 BUF_BYTES,  # bytes used
 BUF_OVERFLOWS,  # times it filled (the stale instruments then need a later snapshot)
 ERROR_CODE,  # the last refusal: what (ERR_*), where (offset in its datagram), which seq
 ERROR_OFFSET,
 ERROR_SEQ,
 ERROR_TEMPLATE,
 ERRORS,  # refusals counted (MALFORMED + FOREIGN + UNKNOWN_TEMPLATES + REFUSED, when skipping)
 RAISE,  # policy word: 1 = stop at the first refusal (SETTLE), 0 = count and skip
 LATE_JOIN,  # policy word: LATE_JOIN_* for an instrument first seen on the incremental feed
 SAMPLES,  # latency samples recorded
 DATAGRAMS,  # datagrams seen, all kinds
 SNAPSHOT_PACKETS,  # snapshot-loop packets seen
 PRICE_EXPONENT,  # exponent of the prices in the books (-7 legacy, -9 today; 0: none yet)
 INSTRUMENTS,  # instruments seen (rows of ``inst`` in use)
 ORDER_ENTRIES,  # order (MBO) entries applied
 ROOM,  # policy word: orders and levels the order books must have free after a datagram
 #        (more than one datagram can add); fewer -> SETTLE for the owner to grow them (0: off)
 GROW,  # set with that SETTLE
 ERROR_DETAIL,  # with ERR_BOOK_REFUSED: the book's status (tickpath.book.mdp3.STATUS_TEXT)
 ERROR_SECURITY,  # ... and the SecurityID of the entry
 NO_ORDERS,  # policy word: 1 = keep price levels only (order entries and snapshots skipped)
 SEEN_FROM,  # every incremental packet from this MsgSeqNum on was received (the first one,
 #             or the one after the last gap)
 N_CHAN) = range(44)

LATE_JOIN_SNAPSHOT = 0  # wait for the snapshot loop (CME's recovery)
LATE_JOIN_NATURAL = 1  # start from the first message seen (a capture with no snapshot loop)

# refusal codes (texts in ERROR_TEXT)
ERR_NONE = 0
ERR_TRUNCATED = 1
ERR_SHORT_BLOCK = 2
ERR_GROUP_OVERRUN = 3
ERR_UNKNOWN_TEMPLATE = 4
ERR_FOREIGN_SCHEMA = 5
ERR_BAD_SIZE = 6
ERR_BOOK_REFUSED = 7
ERR_SHORT_ENTRY = 8
ERR_INSTRUMENTS_FULL = 9
ERR_SHORT_PACKET = 10

ERROR_TEXT = {
    ERR_TRUNCATED: "message runs past the end of the packet",
    ERR_SHORT_BLOCK: "blockLength is smaller than the schema's for this template",
    ERR_GROUP_OVERRUN: "repeating group (numInGroup x blockLength) runs past the message",
    ERR_UNKNOWN_TEMPLATE: "unknown template id",
    ERR_FOREIGN_SCHEMA: "message of another schema id",
    ERR_BAD_SIZE: "MsgSize smaller than the size prefix and SBE header",
    ERR_BOOK_REFUSED: "a book refused an entry (the instrument is stale until a snapshot)",
    ERR_SHORT_ENTRY: "group entry blockLength is smaller than the schema's",
    ERR_INSTRUMENTS_FULL: "instrument table full (raise max_instruments)",
    ERR_SHORT_PACKET: "datagram shorter than the 12-byte packet header",
}

# -- instruments (int64 array ``inst[n, N_INST]``) -------------------------------------------
(I_SECURITY_ID,
 I_STATE,  # S_* below
 I_RPT_SEQ,  # last RptSeq applied
 I_SEQ_DONE,  # MsgSeqNum of the last packet whose entries for it are applied (MBO has no RptSeq)
 I_ENTRIES,  # entries applied
 I_RPT_GAPS,
 I_RECOVERIES,
 I_STALE_SINCE,  # epoch ns it went stale (0: live)
 I_LAST_PX, I_LAST_QTY, I_VOLUME, I_TRADES,  # from the trade summaries
 I_STATUS,  # SecurityTradingStatus from the last status or definition message
 I_DEPTH, I_IMPLIED_DEPTH,  # from the definition's market depths (GBX, GBI)
 I_DISPLAY_FACTOR,  # Decimal9 mantissa (x 1e-9) from the definition (0: none)
 I_MIN_TICK,  # MinPriceIncrement mantissa (the definition's price exponent)
 I_CHUNKS_DONE,  # MBO snapshot: chunks loaded in the current snapshot
 I_SNAP_SEQ,  # LastMsgSeqNumProcessed of the snapshot it was loaded from
 I_NEED,  # while stale: the snapshots still needed (NEED_* bits)
 I_USES_MBO,  # 1 once an order entry for it was seen: recovery then needs the order snapshot
 I_REPLAY,  # 1 while its buffered packets are replayed after its snapshots
 N_INST) = range(23)

NEED_LEVELS = 1  # a price-level snapshot (38/52)
NEED_ORDERS = 2  # an order snapshot, all its chunks (44/53)

S_UNKNOWN = 0  # never seen
S_LIVE = 1
S_STALE = 2  # a gap, a reset or a refused entry: waiting for the snapshot loop

SYMBOL_LEN = 20  # Symbol is char[20] in every definition template

# -- the hand-off to the strategy (feed.mdp3.tap) ------------------------------------------
# counters, policy and state of the hand-off (int64 array ``tapc``); words 1 and 2 are the
# ones every feed's tap counts into (tickpath.feed.tap.TAP_PUBLISHED, TAP_FULL)
(TAP_SERIAL,  # state: packets noted so far (the mark a touched instrument carries)
 TAP_PUBLISHED,  # records handed to the ring
 TAP_FULL,  # records not handed on: the ring stayed full (drop policy, or block timed out)
 TAP_INEXACT,  # prices that are not a whole number of OUCH units (published floored)
 TAP_UNDEFINED,  # book and trade records not published: no definition (DisplayFactor) yet
 TAP_TRADES_LOST,  # trades not noted: a packet held more than the trade buffer's rows
 TAP_LOCATE_BASE,  # policy: the locate of instrument row 0 (a row's locate is base + row)
 TAP_TRADES_N,  # state: trades noted in the current packet (rows of ``trades``)
 TAP_TOUCHED_N,  # state: instruments touched by the current packet (entries of ``touched``)
 TAP_RESYNC,  # state: 1 after a book or status record was dropped: the next turn compares
 #             every instrument, not only the touched ones
 TAP_MESSAGES0,  # state: chan[MESSAGES] when the current packet began
 TAP_T_PARSED,  # state: the current packet's parsed stamp (0: not sequenced)
 N_TAP) = range(13)

# per-instrument columns of the hand-off (int64 array ``tinst[n, N_TI]``)
(TI_MARK,  # TAP_SERIAL of the last packet that touched it
 TI_BID, TI_BID_QTY, TI_ASK, TI_ASK_QTY,  # outright top last published (mantissas; 0: empty)
 TI_TOLD,  # 1: the strategy was last told the book is not exact (0: exact, its default)
 TI_FACTOR, TI_EXP,  # the DisplayFactor mantissa and price exponent the conversion is for
 TI_MUL, TI_DIV,  # OUCH price = floor(mantissa / DIV) * MUL (exact when DIV divides it; 0: none)
 N_TI) = range(11)

# columns of ``trades`` (one row per trade summary entry of the current packet)
TR_ROW, TR_PX, TR_EXP, TR_QTY, TR_SIDE = range(5)
N_TR = 5

# -- templates ------------------------------------------------------------------------------
(K_UNKNOWN, K_IGNORED, K_HEARTBEAT, K_RESET, K_BOOK, K_ORDER_BOOK, K_TRADE, K_SEQ_ONLY,
 K_SNAPSHOT, K_ORDER_SNAPSHOT, K_DEFINITION, K_STATUS) = range(12)

KIND_NAME = ["unknown", "ignored", "heartbeat", "channel reset", "book", "order book", "trade",
             "statistics", "snapshot", "order snapshot", "definition", "status"]

#: template id -> kind; the price exponent of its family. The root blockLength a message may
#: have (SBE's version rule): a message of the schema version the handler was generated from
#: (MIN_VERSION) or newer has at least that schema's blockLength (MIN_BLOCK; a newer sender
#: may append fields, skipped by blockLength); an older one may be shorter, but must hold
#: every root field the handler reads (READ_BLOCK).
KIND = np.zeros(256, np.int8)
MIN_BLOCK = np.zeros(256, np.int64)
MIN_VERSION = np.zeros(256, np.int64)
READ_BLOCK = np.zeros(256, np.int64)
PX_EXP = np.zeros(256, np.int64)
#: for K_SEQ_ONLY templates: where SecurityID and RptSeq sit in a NoMDEntries entry, and the
#: entry's size in the schema
SEQ_SEC_OFF = np.zeros(256, np.int64)
SEQ_RPT_OFF = np.zeros(256, np.int64)
SEQ_ENTRY = np.zeros(256, np.int64)


def _read_block(mod, name: str, fields: tuple[str, ...]) -> int:
    """Bytes of the root block up to the end of the last of ``fields``."""
    return max((getattr(mod, f"{name}_{f}_OFFSET") + getattr(mod, f"{name}_{f}_SIZE")
                for f in fields), default=0)


#: the root fields each kind reads
_READS = {
    K_SNAPSHOT: ("LAST_MSG_SEQ_NUM_PROCESSED", "SECURITY_ID", "RPT_SEQ"),
    K_ORDER_SNAPSHOT: ("LAST_MSG_SEQ_NUM_PROCESSED", "SECURITY_ID", "NO_CHUNKS",
                       "CURRENT_CHUNK"),
    K_DEFINITION: ("SYMBOL", "SECURITY_ID", "MD_SECURITY_TRADING_STATUS",
                   "MIN_PRICE_INCREMENT", "DISPLAY_FACTOR"),
    K_STATUS: ("SECURITY_ID", "SECURITY_TRADING_STATUS"),
}


def _kind(mod, name: str, kind: int, exponent: int = 0) -> None:
    tid = getattr(mod, f"{name}_ID")
    KIND[tid] = kind
    MIN_BLOCK[tid] = getattr(mod, f"{name}_BLOCK_LENGTH")
    MIN_VERSION[tid] = mod.SCHEMA_VERSION
    READ_BLOCK[tid] = _read_block(mod, name, _READS.get(kind, ()))
    PX_EXP[tid] = exponent
    if kind == K_SEQ_ONLY:
        SEQ_SEC_OFF[tid] = getattr(mod, f"{name}_NO_MD_ENTRIES_SECURITY_ID_OFFSET")
        SEQ_RPT_OFF[tid] = getattr(mod, f"{name}_NO_MD_ENTRIES_RPT_SEQ_OFFSET")
        SEQ_ENTRY[tid] = getattr(mod, f"{name}_NO_MD_ENTRIES_BLOCK_LENGTH")


_LEGACY = [
    ("CHANNEL_RESET4", K_RESET, 0), ("ADMIN_HEARTBEAT12", K_HEARTBEAT, 0),
    ("ADMIN_LOGIN15", K_IGNORED, 0), ("ADMIN_LOGOUT16", K_IGNORED, 0),
    ("MD_INSTRUMENT_DEFINITION_FUTURE27", K_DEFINITION, -7),
    ("MD_INSTRUMENT_DEFINITION_SPREAD29", K_IGNORED, 0),
    ("SECURITY_STATUS30", K_STATUS, 0),
    ("MD_INCREMENTAL_REFRESH_BOOK32", K_BOOK, -7),
    ("MD_INCREMENTAL_REFRESH_DAILY_STATISTICS33", K_SEQ_ONLY, 0),
    ("MD_INCREMENTAL_REFRESH_LIMITS_BANDING34", K_SEQ_ONLY, 0),
    ("MD_INCREMENTAL_REFRESH_SESSION_STATISTICS35", K_SEQ_ONLY, 0),
    ("MD_INCREMENTAL_REFRESH_VOLUME37", K_SEQ_ONLY, 0),
    ("SNAPSHOT_FULL_REFRESH38", K_SNAPSHOT, -7),
    ("QUOTE_REQUEST39", K_IGNORED, 0),
    ("MD_INSTRUMENT_DEFINITION_OPTION41", K_IGNORED, 0),
    ("MD_INCREMENTAL_REFRESH_TRADE_SUMMARY42", K_TRADE, -7),
    ("MD_INCREMENTAL_REFRESH_ORDER_BOOK43", K_ORDER_BOOK, -7),
    ("SNAPSHOT_FULL_REFRESH_ORDER_BOOK44", K_ORDER_SNAPSHOT, -7),
]
_CURRENT = [
    ("MD_INCREMENTAL_REFRESH_BOOK46", K_BOOK, -9),
    ("MD_INCREMENTAL_REFRESH_ORDER_BOOK47", K_ORDER_BOOK, -9),
    ("MD_INCREMENTAL_REFRESH_TRADE_SUMMARY48", K_TRADE, -9),
    ("MD_INCREMENTAL_REFRESH_DAILY_STATISTICS49", K_SEQ_ONLY, 0),
    ("MD_INCREMENTAL_REFRESH_LIMITS_BANDING50", K_SEQ_ONLY, 0),
    ("MD_INCREMENTAL_REFRESH_SESSION_STATISTICS51", K_SEQ_ONLY, 0),
    ("SNAPSHOT_FULL_REFRESH52", K_SNAPSHOT, -9),
    ("SNAPSHOT_FULL_REFRESH_ORDER_BOOK53", K_ORDER_SNAPSHOT, -9),
    ("MD_INSTRUMENT_DEFINITION_FUTURE54", K_DEFINITION, -9),
    ("MD_INSTRUMENT_DEFINITION_OPTION55", K_IGNORED, 0),
    ("MD_INSTRUMENT_DEFINITION_SPREAD56", K_IGNORED, 0),
    ("MD_INSTRUMENT_DEFINITION_FIXED_INCOME57", K_IGNORED, 0),
    ("MD_INSTRUMENT_DEFINITION_REPO58", K_IGNORED, 0),
    ("SNAPSHOT_REFRESH_TOP_ORDERS59", K_IGNORED, 0),
    ("SECURITY_STATUS_WORKUP60", K_IGNORED, 0),
    ("SNAPSHOT_FULL_REFRESH_TCP61", K_IGNORED, 0),
    ("COLLATERAL_MARKET_VALUE62", K_IGNORED, 0),
    ("MD_INSTRUMENT_DEFINITION_FX63", K_IGNORED, 0),
    # the LongQty templates (64-69) carry quantities as int64 for a few products; their
    # RptSeq is kept so they never look like a gap, but their entries do not reach the books
    ("MD_INCREMENTAL_REFRESH_BOOK_LONG_QTY64", K_SEQ_ONLY, 0),
    ("MD_INCREMENTAL_REFRESH_TRADE_SUMMARY_LONG_QTY65", K_SEQ_ONLY, 0),
    ("MD_INCREMENTAL_REFRESH_VOLUME_LONG_QTY66", K_SEQ_ONLY, 0),
    ("MD_INCREMENTAL_REFRESH_SESSION_STATISTICS_LONG_QTY67", K_SEQ_ONLY, 0),
    ("SNAPSHOT_FULL_REFRESH_TCP_LONG_QTY68", K_IGNORED, 0),
    ("SNAPSHOT_FULL_REFRESH_LONG_QTY69", K_IGNORED, 0),
]
for _n, _k, _e in _LEGACY:
    _kind(V9, _n, _k, _e)
for _n, _k, _e in _CURRENT:
    _kind(V13, _n, _k, _e)
# template 36 (MDIncrementalRefreshTrade36) was dropped in schema 9 but is in older captures
# (v5, v6): entries carry SecurityID and RptSeq at the offsets of template 42's
KIND[36] = K_SEQ_ONLY
MIN_BLOCK[36] = 11
MIN_VERSION[36] = 5
SEQ_SEC_OFF[36] = V9.MD_INCREMENTAL_REFRESH_TRADE_SUMMARY42_NO_MD_ENTRIES_SECURITY_ID_OFFSET
SEQ_RPT_OFF[36] = V9.MD_INCREMENTAL_REFRESH_TRADE_SUMMARY42_NO_MD_ENTRIES_RPT_SEQ_OFFSET
SEQ_ENTRY[36] = 20


def _same_layout(legacy: str, current: str, fields: list[str]) -> None:
    """The compiled step reads one set of offsets for both families of a kind: check it."""
    for f in fields:
        a = getattr(V9, f"{legacy}_{f}_OFFSET")
        b = getattr(V13, f"{current}_{f}_OFFSET")
        if a != b:
            raise ImportError(f"MDP3 layout: {legacy}.{f} is at {a} but {current}.{f} at {b}")


_same_layout("MD_INCREMENTAL_REFRESH_BOOK32", "MD_INCREMENTAL_REFRESH_BOOK46",
             [f"NO_MD_ENTRIES_{f}" for f in ("MD_ENTRY_PX", "MD_ENTRY_SIZE", "SECURITY_ID",
                                              "RPT_SEQ", "NUMBER_OF_ORDERS", "MD_PRICE_LEVEL",
                                              "MD_UPDATE_ACTION", "MD_ENTRY_TYPE")])
_same_layout("MD_INCREMENTAL_REFRESH_TRADE_SUMMARY42", "MD_INCREMENTAL_REFRESH_TRADE_SUMMARY48",
             [f"NO_MD_ENTRIES_{f}" for f in ("MD_ENTRY_PX", "MD_ENTRY_SIZE", "SECURITY_ID",
                                              "RPT_SEQ", "AGGRESSOR_SIDE",
                                              "MD_UPDATE_ACTION")])
_same_layout("MD_INCREMENTAL_REFRESH_ORDER_BOOK43", "MD_INCREMENTAL_REFRESH_ORDER_BOOK47",
             [f"NO_MD_ENTRIES_{f}" for f in ("ORDER_ID", "MD_ORDER_PRIORITY", "MD_ENTRY_PX",
                                              "MD_DISPLAY_QTY", "SECURITY_ID",
                                              "MD_UPDATE_ACTION", "MD_ENTRY_TYPE")])
_same_layout("SNAPSHOT_FULL_REFRESH38", "SNAPSHOT_FULL_REFRESH52",
             ["LAST_MSG_SEQ_NUM_PROCESSED", "SECURITY_ID", "RPT_SEQ"]
             + [f"NO_MD_ENTRIES_{f}" for f in ("MD_ENTRY_PX", "MD_ENTRY_SIZE",
                                                "NUMBER_OF_ORDERS", "MD_PRICE_LEVEL",
                                                "MD_ENTRY_TYPE")])
_same_layout("SNAPSHOT_FULL_REFRESH_ORDER_BOOK44", "SNAPSHOT_FULL_REFRESH_ORDER_BOOK53",
             ["LAST_MSG_SEQ_NUM_PROCESSED", "SECURITY_ID", "NO_CHUNKS", "CURRENT_CHUNK"]
             + [f"NO_MD_ENTRIES_{f}" for f in ("ORDER_ID", "MD_ORDER_PRIORITY", "MD_ENTRY_PX",
                                                "MD_DISPLAY_QTY", "MD_ENTRY_TYPE")])
_same_layout("MD_INSTRUMENT_DEFINITION_FUTURE27", "MD_INSTRUMENT_DEFINITION_FUTURE54",
             ["SYMBOL", "SECURITY_ID", "MD_SECURITY_TRADING_STATUS", "MIN_PRICE_INCREMENT",
              "DISPLAY_FACTOR"])
