"""DBN files for the tests, built with databento-dbn's own Metadata and record classes."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from pathlib import Path

import databento_dbn as dbn
import zstandard

F_LAST = dbn.F_LAST
F_SNAPSHOT = dbn.F_SNAPSHOT
UNDEF = dbn.UNDEF_PRICE
PX = 1_000_000_000  # one price unit in DBN's 1e-9 fixed point


@dataclass
class Interval:
    start_date: dt.date
    end_date: dt.date
    symbol: str


@dataclass
class Mapping:
    raw_symbol: str
    intervals: list[Interval] = field(default_factory=list)


def mapping(raw_symbol: str, instrument_id: int) -> Mapping:
    """A symbology mapping raw symbol -> instrument id over one day."""
    return Mapping(raw_symbol, [Interval(dt.date(2026, 1, 5), dt.date(2026, 1, 6),
                                         str(instrument_id))])


def metadata(schema: str | None, mappings: list[Mapping] | None = None,
             ts_out: bool = False, dataset: str = "GLBX.MDP3") -> bytes:
    md = dbn.Metadata(dataset=dataset, start=1_767_571_200_000_000_000,
                      stype_in=dbn.SType.RAW_SYMBOL, stype_out=dbn.SType.INSTRUMENT_ID,
                      schema=None if schema is None else dbn.Schema(schema),
                      symbols=[m.raw_symbol for m in mappings or []], partial=[],
                      not_found=[], mappings=mappings or [],
                      end=1_767_657_600_000_000_000, ts_out=ts_out)
    return bytes(md.encode())


def mbo(iid: int, oid: int, price: int, size: int, action: str, side: str,
        flags: int = F_LAST, pub: int = 1, seq: int = 0, ts_out: int | None = None) -> bytes:
    kw = {} if ts_out is None else {"ts_out": ts_out}
    return bytes(dbn.MBOMsg(publisher_id=pub, instrument_id=iid, ts_event=seq, order_id=oid,
                            price=price, size=size, action=dbn.Action(action),
                            side=dbn.Side(side), ts_recv=seq, flags=flags, sequence=seq, **kw))


def mbp(iid: int, levels: list[tuple[int, int, int, int, int, int]], action: str = "A",
        side: str = "B", price: int = UNDEF, size: int = 0, flags: int = F_LAST,
        pub: int = 1, ten: bool = True) -> bytes:
    """An MBP-10 record (``ten``) or an MBP-1 record: levels (bid_px, ask_px, bid_sz, ask_sz,
    bid_ct, ask_ct) best first; levels not given are empty."""
    pairs = [dbn.BidAskPair(*lv) for lv in levels]
    if ten:
        pairs += [dbn.BidAskPair() for _ in range(10 - len(pairs))]
    cls = dbn.MBP10Msg if ten else dbn.MBP1Msg
    return bytes(cls(publisher_id=pub, instrument_id=iid, ts_event=1, price=price, size=size,
                     action=dbn.Action(action), side=dbn.Side(side), depth=0, ts_recv=1,
                     flags=flags, levels=pairs if ten else pairs[0]))


def trade(iid: int, price: int, size: int, side: str = "A") -> bytes:
    return bytes(dbn.TradeMsg(publisher_id=1, instrument_id=iid, ts_event=1, price=price,
                              size=size, action=dbn.Action("T"), side=dbn.Side(side), depth=0,
                              ts_recv=1, flags=F_LAST))


def definition(iid: int, symbol: str) -> bytes:
    return bytes(dbn.InstrumentDefMsg(
        publisher_id=1, instrument_id=iid, ts_event=1, ts_recv=1,
        min_price_increment=PX // 4, display_factor=PX, raw_symbol=symbol, asset=symbol[:2],
        security_type="FUT", instrument_class=dbn.InstrumentClass.FUTURE,
        security_update_action=dbn.SecurityUpdateAction.ADD))


def ohlcv(iid: int) -> bytes:
    return bytes(dbn.OHLCVMsg(rtype=int(dbn.RType.OHLCV_1M), publisher_id=1,
                              instrument_id=iid, ts_event=1, open=PX, high=PX, low=PX,
                              close=PX, volume=1))


def symbol_mapping(iid: int, symbol: str, ts_out: int | None = None) -> bytes:
    kw = {} if ts_out is None else {"ts_out": ts_out}
    return bytes(dbn.SymbolMappingMsg(publisher_id=1, instrument_id=iid, ts_event=1,
                                      stype_in=dbn.SType.RAW_SYMBOL, stype_in_symbol=symbol,
                                      stype_out=dbn.SType.INSTRUMENT_ID,
                                      stype_out_symbol=str(iid), start_ts=0, end_ts=1, **kw))


def write_dbn(path: Path, schema: str | None, records: list[bytes], *, zstd: bool = False,
              mappings: list[Mapping] | None = None, ts_out: bool = False) -> Path:
    data = metadata(schema, mappings, ts_out) + b"".join(records)
    if zstd:
        data = zstandard.ZstdCompressor().compress(data)
    path.write_bytes(data)
    return path
