"""Byte offsets of the MDP3 fields tickpath reads and writes, from the production schema
(:mod:`schema_v13`), named once for the feed handler and the venue alike: within a repeating
group's entry (``BK_`` Book46 price-level entries, ``BO_`` Book46 order entries, ``OB_``
OrderBook47, ``TS_`` TradeSummary48, ``SN_`` SnapshotFullRefresh52, ``SO_`` its order-book
sibling 53), or within a message's root block (``DF_`` InstrumentDefinitionFuture54 and its
feed-types group, ``ST_`` SecurityStatus30). ``*_ENTRY`` is the bytes of an entry the feed
reads: legacy schemas' entries end there (``tickpath.feed.mdp3.layout`` checks that the two
schema families agree)."""

from __future__ import annotations

from . import schema_v13 as S

_BK = "MD_INCREMENTAL_REFRESH_BOOK46_NO_MD_ENTRIES_"
BK_PX = getattr(S, _BK + "MD_ENTRY_PX_OFFSET")
BK_SIZE = getattr(S, _BK + "MD_ENTRY_SIZE_OFFSET")
BK_SEC = getattr(S, _BK + "SECURITY_ID_OFFSET")
BK_RPT = getattr(S, _BK + "RPT_SEQ_OFFSET")
BK_ORDERS = getattr(S, _BK + "NUMBER_OF_ORDERS_OFFSET")
BK_LEVEL = getattr(S, _BK + "MD_PRICE_LEVEL_OFFSET")
BK_ACTION = getattr(S, _BK + "MD_UPDATE_ACTION_OFFSET")
BK_TYPE = getattr(S, _BK + "MD_ENTRY_TYPE_OFFSET")
BK_ENTRY = BK_TYPE + 1
_BO = "MD_INCREMENTAL_REFRESH_BOOK46_NO_ORDER_ID_ENTRIES_"
BO_ID = getattr(S, _BO + "ORDER_ID_OFFSET")
BO_PRIORITY = getattr(S, _BO + "MD_ORDER_PRIORITY_OFFSET")
BO_QTY = getattr(S, _BO + "MD_DISPLAY_QTY_OFFSET")
BO_REF = getattr(S, _BO + "REFERENCE_ID_OFFSET")
BO_ACTION = getattr(S, _BO + "ORDER_UPDATE_ACTION_OFFSET")
BO_ENTRY = BO_ACTION + 1
_OB = "MD_INCREMENTAL_REFRESH_ORDER_BOOK47_NO_MD_ENTRIES_"
OB_ID = getattr(S, _OB + "ORDER_ID_OFFSET")
OB_PRIORITY = getattr(S, _OB + "MD_ORDER_PRIORITY_OFFSET")
OB_PX = getattr(S, _OB + "MD_ENTRY_PX_OFFSET")
OB_QTY = getattr(S, _OB + "MD_DISPLAY_QTY_OFFSET")
OB_SEC = getattr(S, _OB + "SECURITY_ID_OFFSET")
OB_ACTION = getattr(S, _OB + "MD_UPDATE_ACTION_OFFSET")
OB_TYPE = getattr(S, _OB + "MD_ENTRY_TYPE_OFFSET")
OB_ENTRY = OB_TYPE + 1
_TS = "MD_INCREMENTAL_REFRESH_TRADE_SUMMARY48_NO_MD_ENTRIES_"
TS_PX = getattr(S, _TS + "MD_ENTRY_PX_OFFSET")
TS_SIZE = getattr(S, _TS + "MD_ENTRY_SIZE_OFFSET")
TS_SEC = getattr(S, _TS + "SECURITY_ID_OFFSET")
TS_RPT = getattr(S, _TS + "RPT_SEQ_OFFSET")
TS_AGGRESSOR = getattr(S, _TS + "AGGRESSOR_SIDE_OFFSET")
TS_ENTRY = getattr(S, _TS + "MD_UPDATE_ACTION_OFFSET") + 1
_SN = "SNAPSHOT_FULL_REFRESH52_"
SN_LAST_SEQ = getattr(S, _SN + "LAST_MSG_SEQ_NUM_PROCESSED_OFFSET")
SN_SEC = getattr(S, _SN + "SECURITY_ID_OFFSET")
SN_RPT = getattr(S, _SN + "RPT_SEQ_OFFSET")
SN_PX = getattr(S, _SN + "NO_MD_ENTRIES_MD_ENTRY_PX_OFFSET")
SN_SIZE = getattr(S, _SN + "NO_MD_ENTRIES_MD_ENTRY_SIZE_OFFSET")
SN_ORDERS = getattr(S, _SN + "NO_MD_ENTRIES_NUMBER_OF_ORDERS_OFFSET")
SN_LEVEL = getattr(S, _SN + "NO_MD_ENTRIES_MD_PRICE_LEVEL_OFFSET")
SN_TYPE = getattr(S, _SN + "NO_MD_ENTRIES_MD_ENTRY_TYPE_OFFSET")
SN_ENTRY = SN_TYPE + 1
_SO = "SNAPSHOT_FULL_REFRESH_ORDER_BOOK53_"
SO_LAST_SEQ = getattr(S, _SO + "LAST_MSG_SEQ_NUM_PROCESSED_OFFSET")
SO_SEC = getattr(S, _SO + "SECURITY_ID_OFFSET")
SO_CHUNKS = getattr(S, _SO + "NO_CHUNKS_OFFSET")
SO_CHUNK = getattr(S, _SO + "CURRENT_CHUNK_OFFSET")
SO_ID = getattr(S, _SO + "NO_MD_ENTRIES_ORDER_ID_OFFSET")
SO_PRIORITY = getattr(S, _SO + "NO_MD_ENTRIES_MD_ORDER_PRIORITY_OFFSET")
SO_PX = getattr(S, _SO + "NO_MD_ENTRIES_MD_ENTRY_PX_OFFSET")
SO_QTY = getattr(S, _SO + "NO_MD_ENTRIES_MD_DISPLAY_QTY_OFFSET")
SO_TYPE = getattr(S, _SO + "NO_MD_ENTRIES_MD_ENTRY_TYPE_OFFSET")
SO_ENTRY = SO_TYPE + 1
_DF = "MD_INSTRUMENT_DEFINITION_FUTURE54_"
DF_SYMBOL = getattr(S, _DF + "SYMBOL_OFFSET")
DF_SEC = getattr(S, _DF + "SECURITY_ID_OFFSET")
DF_STATUS = getattr(S, _DF + "MD_SECURITY_TRADING_STATUS_OFFSET")
DF_TICK = getattr(S, _DF + "MIN_PRICE_INCREMENT_OFFSET")
DF_FACTOR = getattr(S, _DF + "DISPLAY_FACTOR_OFFSET")
DF_FEED_TYPE = getattr(S, _DF + "NO_MD_FEED_TYPES_MD_FEED_TYPE_OFFSET")
DF_DEPTH = getattr(S, _DF + "NO_MD_FEED_TYPES_MARKET_DEPTH_OFFSET")
ST_SEC = S.SECURITY_STATUS30_SECURITY_ID_OFFSET
ST_STATUS = S.SECURITY_STATUS30_SECURITY_TRADING_STATUS_OFFSET
