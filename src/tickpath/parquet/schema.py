"""The Parquet tables' schemas (Arrow), and the conversion of a batch of book rows
(:mod:`tickpath.book.rows`) into an Arrow table: whole columns at a time, numpy and pyarrow
only, never a Python object per row. docs/parquet.md documents every column.

Codes become dictionary-encoded strings (``type`` 'A', ``kind`` 'add', ``side`` 'B'), with
null where the feed has none; a zero that means "absent" (an empty book side, the new
reference of anything but a replace, the match number of anything but an execution) becomes
null too, so aggregates skip it.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

#: ITCH message type -> the event's kind, in the words of the tables
KINDS: dict[str, str] = {
    "A": "add", "F": "add", "E": "execute", "C": "execute", "X": "cancel", "D": "delete",
    "U": "replace", "P": "trade", "Q": "cross",
}
#: the scale of every price column: Price(4), 1/10,000 of a dollar. Prices are int32 (ITCH's
#: highest, 200,000.0000, is 2e9) and sizes int64: signed, so a spread or a difference is
#: plain arithmetic in any reader (unsigned columns make DuckDB refuse a negative result)
PRICE_SCALE = 10_000

_DICT = pa.dictionary(pa.int8(), pa.string())


def _codes(values: str) -> tuple[np.ndarray, pa.Array]:
    """A byte -> dictionary index table (-1: null) and the dictionary, for ``values``."""
    lut = np.full(256, -1, np.int8)
    for i, c in enumerate(values):
        lut[ord(c)] = i
    return lut, pa.array(list(values), pa.string())


_TYPE_LUT, _TYPE_DICT = _codes("AFECXDUPQ")
_WORDS = sorted(set(KINDS.values()))
_KIND_LUT = np.full(256, -1, np.int8)
for _t, _w in KINDS.items():
    _KIND_LUT[ord(_t)] = _WORDS.index(_w)
_KIND_DICT = pa.array(_WORDS, pa.string())
_SIDE_LUT, _SIDE_DICT = _codes("BS")
_AGGRESSOR_LUT = np.full(256, -1, np.int8)  # the side opposite the resting order's
_AGGRESSOR_LUT[ord("B")] = 1
_AGGRESSOR_LUT[ord("S")] = 0


def _dict(codes: np.ndarray, lut: np.ndarray, dictionary: pa.Array) -> pa.DictionaryArray:
    idx = lut[codes]
    null = idx < 0
    return pa.DictionaryArray.from_arrays(pa.array(idx, mask=null if null.any() else None),
                                          dictionary)


def _col(rows: np.ndarray, name: str, dtype: np.dtype | type, null_zero: bool = False) -> pa.Array:
    v = np.ascontiguousarray(rows[name], dtype=dtype)
    if null_zero:
        zero = v == 0
        if zero.any():
            return pa.array(v, mask=zero)
    return pa.array(v)


def _schema(*fields: tuple[str, pa.DataType, bool]) -> pa.Schema:
    """Columns as (name, type, nullable): a column never null is a required Parquet field,
    which spares the writer its definition levels."""
    return pa.schema([pa.field(n, t, nullable=null) for n, t, null in fields])


EVENTS = _schema(
    ("time_ns", pa.int64(), False), ("locate", pa.uint16(), False), ("type", _DICT, False),
    ("kind", _DICT, False), ("side", _DICT, True), ("price", pa.int32(), False),
    ("shares", pa.int64(), False), ("ref", pa.uint64(), False), ("new_ref", pa.uint64(), True),
    ("match", pa.uint64(), True), ("offset", pa.int64(), False),
)

TOP = _schema(
    ("time_ns", pa.int64(), False), ("locate", pa.uint16(), False),
    ("bid_price", pa.int32(), True), ("bid_shares", pa.int64(), True),
    ("ask_price", pa.int32(), True), ("ask_shares", pa.int64(), True),
    ("offset", pa.int64(), False),
)

TRADES = _schema(
    ("time_ns", pa.int64(), False), ("locate", pa.uint16(), False), ("type", _DICT, False),
    ("kind", _DICT, False), ("price", pa.int32(), False), ("shares", pa.int64(), False),
    ("resting_side", _DICT, True), ("aggressor", _DICT, True), ("match", pa.uint64(), False),
    ("printable", pa.bool_(), False), ("ref", pa.uint64(), True), ("offset", pa.int64(), False),
)

SCHEMAS: dict[str, pa.Schema] = {"events": EVENTS, "top": TOP, "trades": TRADES}

#: How the writer encodes the row tables, chosen by measurement (BENCHMARKS.md, "Parquet
#: out"): a dictionary only for the columns of a few distinct values (instrument, codes), and
#: every other integer column delta-encoded (DELTA_BINARY_PACKED: times and offsets only grow,
#: references and match numbers nearly so, prices and sizes move by small steps), with no
#: compression on top. That writes files about as small as snappy over plain values, and
#: the writer is about 1.5x faster. Min/max statistics (what lets a reader skip row groups)
#: on time and instrument only.
_CODES = ("locate", "type", "kind", "side", "resting_side", "aggressor")
COMPRESSION = "none"


def writer_options(table: str) -> dict[str, object]:
    """``pyarrow.parquet.ParquetWriter`` keywords for one of the row tables."""
    schema = SCHEMAS[table]
    dictionary = [c for c in schema.names if c in _CODES]
    delta = {f.name: "DELTA_BINARY_PACKED" for f in schema
             if pa.types.is_integer(f.type) and f.name not in dictionary}
    return {"compression": COMPRESSION, "use_dictionary": dictionary,
            "write_statistics": ["time_ns", "locate"], "column_encoding": delta}


def events_table(rows: np.ndarray) -> pa.Table:
    """``EVENT_ROW`` records as an ``EVENTS`` table."""
    t = rows["type"]
    cols = [
        _col(rows, "time_ns", np.int64), _col(rows, "locate", np.uint16),
        _dict(t, _TYPE_LUT, _TYPE_DICT), _dict(t, _KIND_LUT, _KIND_DICT),
        _dict(rows["side"], _SIDE_LUT, _SIDE_DICT), _col(rows, "price", np.int32),
        _col(rows, "shares", np.int64), _col(rows, "ref", np.uint64),
        _col(rows, "new_ref", np.uint64, null_zero=True),
        pa.array(np.ascontiguousarray(rows["match"]), mask=(t != ord("E")) & (t != ord("C"))),
        _col(rows, "offset", np.int64),
    ]
    return pa.Table.from_arrays(cols, schema=EVENTS)


def top_table(rows: np.ndarray) -> pa.Table:
    """``TOP_ROW`` records as a ``TOP`` table (an empty side: null price and size)."""
    cols = [
        _col(rows, "time_ns", np.int64), _col(rows, "locate", np.uint16),
        _col(rows, "bid_price", np.int32, null_zero=True),
        _col(rows, "bid_shares", np.int64, null_zero=True),
        _col(rows, "ask_price", np.int32, null_zero=True),
        _col(rows, "ask_shares", np.int64, null_zero=True), _col(rows, "offset", np.int64),
    ]
    return pa.Table.from_arrays(cols, schema=TOP)


def trades_table(rows: np.ndarray) -> pa.Table:
    """``TRADE_ROW`` records as a ``TRADES`` table."""
    t = rows["type"]
    side = rows["resting_side"]
    cols = [
        _col(rows, "time_ns", np.int64), _col(rows, "locate", np.uint16),
        _dict(t, _TYPE_LUT, _TYPE_DICT), _dict(t, _KIND_LUT, _KIND_DICT),
        _col(rows, "price", np.int32), _col(rows, "shares", np.int64),
        _dict(side, _SIDE_LUT, _SIDE_DICT), _dict(side, _AGGRESSOR_LUT, _SIDE_DICT),
        _col(rows, "match", np.uint64), pa.array(rows["printable"] == ord("Y")),
        _col(rows, "ref", np.uint64, null_zero=True), _col(rows, "offset", np.int64),
    ]
    return pa.Table.from_arrays(cols, schema=TRADES)


TO_TABLE = {"events": events_table, "top": top_table, "trades": trades_table}
