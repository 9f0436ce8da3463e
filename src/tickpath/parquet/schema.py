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


EVENTS = pa.schema([
    ("time_ns", pa.int64()), ("locate", pa.uint16()), ("type", _DICT), ("kind", _DICT),
    ("side", _DICT), ("price", pa.int32()), ("shares", pa.int64()), ("ref", pa.uint64()),
    ("new_ref", pa.uint64()), ("match", pa.uint64()), ("offset", pa.int64()),
])

TOP = pa.schema([
    ("time_ns", pa.int64()), ("locate", pa.uint16()), ("bid_price", pa.int32()),
    ("bid_shares", pa.int64()), ("ask_price", pa.int32()), ("ask_shares", pa.int64()),
    ("offset", pa.int64()),
])

TRADES = pa.schema([
    ("time_ns", pa.int64()), ("locate", pa.uint16()), ("type", _DICT), ("kind", _DICT),
    ("price", pa.int32()), ("shares", pa.int64()), ("resting_side", _DICT),
    ("aggressor", _DICT), ("match", pa.uint64()), ("printable", pa.bool_()),
    ("ref", pa.uint64()), ("offset", pa.int64()),
])

SCHEMAS: dict[str, pa.Schema] = {"events": EVENTS, "top": TOP, "trades": TRADES}

#: columns worth a dictionary page (few distinct values); the rest are plain-encoded, which
#: costs the writer far less on columns that are nearly all distinct (times, references)
DICTIONARY_COLUMNS: dict[str, list[str]] = {
    "events": ["locate", "type", "kind", "side", "price", "shares"],
    "top": ["locate", "bid_price", "ask_price"],
    "trades": ["locate", "type", "kind", "resting_side", "aggressor", "price", "shares"],
}


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
