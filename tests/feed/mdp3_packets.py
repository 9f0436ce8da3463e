"""MDP3 packets for the handler's tests, built with the SBE encoder from the generated v13
schema module: a 12-byte packet header, then each message behind its MsgSize."""

from __future__ import annotations

import struct
from typing import Any

import numpy as np

from tickpath.codec.mdp3 import schema_v13 as S
from tickpath.codec.sbe.decode import encode_message

E9 = 10 ** 9


def packet(seq: int, *messages: bytes, sending_ns: int = 0) -> np.ndarray:
    body = b"".join(struct.pack("<H", len(m) + 2) + m for m in messages)
    return np.frombuffer(struct.pack("<IQ", seq, sending_ns) + body, np.uint8).copy()


def definition(sec: int, symbol: str, depth: int = 10, implied: int = 2,
               factor: int = E9) -> bytes:
    """MDInstrumentDefinitionFuture54 (``factor``: DisplayFactor as a Decimal9 mantissa)."""
    return encode_message(S, 54, {
        "MatchEventIndicator": [], "SecurityUpdateAction": "Add", "LastUpdateTime": 0,
        "MDSecurityTradingStatus": "ReadyToTrade", "ApplID": 1, "MarketSegmentID": 1,
        "UnderlyingProduct": 5, "SecurityExchange": "XCME", "SecurityGroup": "TP",
        "Asset": "TP", "Symbol": symbol, "SecurityID": sec, "SecurityType": "FUT",
        "CFICode": "FFICSX", "MaturityMonthYear": {"year": 2026, "month": 12},
        "Currency": "USD", "SettlCurrency": "USD", "MatchAlgorithm": "F", "MinTradeVol": 1,
        "MaxTradeVol": 1000, "MinPriceIncrement": 25 * E9 // 100, "DisplayFactor": factor,
        "UnitOfMeasure": "IPNT", "SettlPriceType": [], "OpenInterestQty": None,
        "ClearedVolume": None, "HighLimitPrice": None, "LowLimitPrice": None,
        "MaxPriceVariation": None, "DecayQuantity": None, "DecayStartDate": None,
        "OriginalContractSize": None, "ContractMultiplier": None,
        "ContractMultiplierUnit": None, "FlowScheduleType": None, "MinPriceIncrementAmount":
        None, "UserDefinedInstrument": "N", "TradingReferenceDate": None,
        "NoEvents": [], "NoMDFeedTypes": [{"MDFeedType": "GBX", "MarketDepth": depth},
                                          {"MDFeedType": "GBI", "MarketDepth": implied}],
        "NoInstAttrib": [], "NoLotTypeRules": [],
    })


def level(sec: int, rpt: int, action: str, side: str, lvl: int, px: int, qty: int = 1,
          orders: int = 1) -> dict[str, Any]:
    """One NoMDEntries entry of template 46 (``px`` in whole points, PRICE9)."""
    return dict(MDEntryPx=px * E9, MDEntrySize=qty, SecurityID=sec, RptSeq=rpt,
                NumberOfOrders=orders, MDPriceLevel=lvl, MDUpdateAction=action,
                MDEntryType=side)


def order(oid: int, ref: int, action: str, qty: int, priority: int = 1) -> dict[str, Any]:
    """One NoOrderIDEntries entry of template 46, for the ``ref``-th (1-based) level entry."""
    return dict(OrderID=oid, MDOrderPriority=priority, MDDisplayQty=qty, ReferenceID=ref,
                OrderUpdateAction=action)


def book(*entries: dict[str, Any], orders: tuple[dict[str, Any], ...] = ()) -> bytes:
    return encode_message(S, 46, {"TransactTime": 1, "MatchEventIndicator": ["EndOfEvent"],
                                  "NoMDEntries": list(entries),
                                  "NoOrderIDEntries": list(orders)})


def trade(sec: int, rpt: int, px: int, qty: int, aggressor: str = "Buy") -> bytes:
    return encode_message(S, 48, {
        "TransactTime": 1, "MatchEventIndicator": ["EndOfEvent"],
        "NoMDEntries": [dict(MDEntryPx=px * E9, MDEntrySize=qty, SecurityID=sec, RptSeq=rpt,
                             NumberOfOrders=2, AggressorSide=aggressor, MDUpdateAction="New",
                             MDTradeEntryID=1)],
        "NoOrderIDEntries": []})


def snapshot(sec: int, last_seq: int, rpt: int,
             levels: list[tuple[str, int, int, int, int]]) -> bytes:
    """SnapshotFullRefresh52: ``levels`` as (side '0'/'1', level, px, qty, orders)."""
    side = {"0": "Bid", "1": "Offer"}
    return encode_message(S, 52, {
        "LastMsgSeqNumProcessed": last_seq, "TotNumReports": 1, "SecurityID": sec,
        "RptSeq": rpt, "TransactTime": 1, "LastUpdateTime": 1, "TradeDate": 20000,
        "MDSecurityTradingStatus": "ReadyToTrade", "HighLimitPrice": None,
        "LowLimitPrice": None, "MaxPriceVariation": None,
        "NoMDEntries": [dict(MDEntryPx=px * E9, MDEntrySize=q, NumberOfOrders=n,
                             MDPriceLevel=lv, TradingReferenceDate=None,
                             OpenCloseSettlFlag=None, SettlPriceType=[],
                             MDEntryType=side[s]) for s, lv, px, q, n in levels]})


def order_snapshot(sec: int, last_seq: int, orders: list[tuple[int, int, str, int, int]],
                   chunk: int = 1, chunks: int = 1) -> bytes:
    """SnapshotFullRefreshOrderBook53: ``orders`` as (id, priority, side '0'/'1', px, qty)."""
    side = {"0": "Bid", "1": "Offer"}
    return encode_message(S, 53, {
        "LastMsgSeqNumProcessed": last_seq, "TotNumReports": 1, "SecurityID": sec,
        "NoChunks": chunks, "CurrentChunk": chunk, "TransactTime": 1,
        "NoMDEntries": [dict(OrderID=i, MDOrderPriority=p, MDEntryPx=px * E9,
                             MDDisplayQty=q, MDEntryType=side[s]) for i, p, s, px, q in orders]})


def reset() -> bytes:
    return encode_message(S, 4, {"TransactTime": 1, "MatchEventIndicator": ["EndOfEvent"],
                                 "NoMDEntries": [{"ApplID": 1}]})


def heartbeat() -> bytes:
    return encode_message(S, 12, {})
