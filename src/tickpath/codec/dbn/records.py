"""Databento Binary Encoding (DBN) records as numpy dtypes, taken from ``databento-dbn`` itself.

The record layouts are the format's own: each record class of the ``databento_dbn`` package
declares its fields (``_dtypes``), and the dtypes here are built from those lists, so a new
release of the format's reader brings its layouts along. Only the two one-character fields
(``action``, ``side``) are viewed as ``uint8`` instead of ``S1`` (same offset, same byte) so
compiled kernels can compare them with ``ord('A')``; MBP's flat ``bid_px_00 ... ask_ct_09``
fields are viewed as one ``levels`` array of (bid_px, ask_px, bid_sz, ask_sz, bid_ct, ask_ct).

A DBN stream: ``b"DBN"``, the version byte, the metadata's length (u32, little-endian) and
the metadata, then records, each starting with a 16-byte header whose first byte is the
record's length in 4-byte words::

    MBO (rtype 0xA0), 56 bytes
     0       1       2               4                               8
    +-------+-------+---------------+-------------------------------+
    |length | rtype | publisher_id  |         instrument_id         |
    +-------+-------+---------------+-------------------------------+
    |                  ts_event (u64, ns since the epoch)           |  8
    |                  order_id (u64)                               | 16
    |                  price (i64, 1e-9 units; 2**63-1 undefined)   | 24
    |        size (u32)             | flags | chan  |action | side  | 32
    |                  ts_recv (u64)                                | 40
    |      ts_in_delta (i32)        |        sequence (u32)         | 48
    +---------------------------------------------------------------+ 56

With ``ts_out`` in the metadata every record carries 8 more bytes (the gateway's send time);
the reader hands the records on without them (``DbnReader.batches``).
"""

from __future__ import annotations

import databento_dbn as dbn
import numpy as np

#: Record flags (``flags`` byte)
F_LAST = int(dbn.F_LAST)  # last record of an event for its instrument
F_TOB = int(dbn.F_TOB)  # top-of-book record: replaces the side (not an order)
F_SNAPSHOT = int(dbn.F_SNAPSHOT)  # from a snapshot (replay or live start), not an event
F_MBP = int(dbn.F_MBP)
F_BAD_TS_RECV = int(dbn.F_BAD_TS_RECV)
F_MAYBE_BAD_BOOK = int(dbn.F_MAYBE_BAD_BOOK)

UNDEF_PRICE = int(dbn.UNDEF_PRICE)
DBN_VERSIONS = (1, 2, 3)

# rtypes (first byte after the length)
RTYPE_MBP_0 = int(dbn.RType.MBP_0)  # trades
RTYPE_MBP_1 = int(dbn.RType.MBP_1)
RTYPE_MBP_10 = int(dbn.RType.MBP_10)
RTYPE_MBO = int(dbn.RType.MBO)
RTYPE_DEFINITION = int(dbn.RType.INSTRUMENT_DEF)

#: rtype -> name, for reports ("mbo", "symbol_mapping", ...)
RTYPE_NAMES = {int(getattr(dbn.RType, n)): n.lower() for n in dir(dbn.RType)
               if n.isupper() and not n.startswith("OHLCV_DEPRECATED")}

_LEVEL_FIELDS = ("bid_px", "ask_px", "bid_sz", "ask_sz", "bid_ct", "ask_ct")


def _kernel_view(fields: list[tuple[str, str]], levels: int = 0) -> np.dtype:
    """The record's dtype with chars as bytes and MBP levels as one array field."""
    flat = np.dtype([(n, "u1" if t == "S1" else t) for n, t in fields])
    if levels == 0:
        return flat
    names, formats, offsets = [], [], []
    for n in flat.names:
        if n[:-3] in _LEVEL_FIELDS:
            continue
        names.append(n)
        formats.append(flat.fields[n][0])
        offsets.append(flat.fields[n][1])
    first = flat.fields["bid_px_00"][1]
    pair = np.dtype({"names": list(_LEVEL_FIELDS),
                     "formats": [flat.fields[f"{f}_00"][0] for f in _LEVEL_FIELDS],
                     "offsets": [flat.fields[f"{f}_00"][1] - first for f in _LEVEL_FIELDS],
                     "itemsize": flat.fields["bid_px_01"][1] - first if levels > 1 else
                     flat.itemsize - first})
    names.append("levels")
    formats.append((pair, (levels,)))
    offsets.append(first)
    return np.dtype({"names": names, "formats": formats, "offsets": offsets,
                     "itemsize": flat.itemsize})


MBO_DTYPE = _kernel_view(dbn.MBOMsg._dtypes)
MBP1_DTYPE = _kernel_view(dbn.MBP1Msg._dtypes, 1)
MBP10_DTYPE = _kernel_view(dbn.MBP10Msg._dtypes, 10)
TRADE_DTYPE = _kernel_view(dbn.TradeMsg._dtypes)
#: definitions by DBN version (the record grew in v2 and v3)
DEFINITION_DTYPES = {1: np.dtype(dbn.InstrumentDefMsgV1._dtypes),
                     2: np.dtype(dbn.InstrumentDefMsgV2._dtypes),
                     3: np.dtype(dbn.InstrumentDefMsg._dtypes)}


def with_ts_out(dtype: np.dtype) -> np.dtype:
    """``dtype`` followed by the 8-byte ``ts_out`` a stream with ``ts_out`` appends."""
    names = list(dtype.names) + ["ts_out"]
    formats = [dtype.fields[n][0] for n in dtype.names] + [np.dtype("u8")]
    offsets = [dtype.fields[n][1] for n in dtype.names] + [dtype.itemsize]
    return np.dtype({"names": names, "formats": formats, "offsets": offsets,
                     "itemsize": dtype.itemsize + 8})


#: schema name -> (rtype, dtype of version 1..3 or one for all) of the records it holds
SCHEMA_RECORDS: dict[str, tuple[int, dict[int, np.dtype]]] = {
    "mbo": (RTYPE_MBO, dict.fromkeys(DBN_VERSIONS, MBO_DTYPE)),
    "mbp-1": (RTYPE_MBP_1, dict.fromkeys(DBN_VERSIONS, MBP1_DTYPE)),
    "mbp-10": (RTYPE_MBP_10, dict.fromkeys(DBN_VERSIONS, MBP10_DTYPE)),
    "trades": (RTYPE_MBP_0, dict.fromkeys(DBN_VERSIONS, TRADE_DTYPE)),
    "definition": (RTYPE_DEFINITION, DEFINITION_DTYPES),
}

for _dt in (MBO_DTYPE, MBP1_DTYPE, MBP10_DTYPE, TRADE_DTYPE):
    assert _dt.itemsize % 4 == 0  # the length byte counts 4-byte words
