"""The instruments table of an ITCH day: one row per stock directory message ('R'), every field
the directory gives, decoded a column at a time from the messages' raw bytes (kept by
:class:`tickpath.book.row_buffers.RowBuffers`).

Columns: ``locate``, ``symbol``, ``time_ns`` (the message's timestamp), ``tracking_number``,
then the directory's own fields under the specification's names (alpha fields as strings with
their padding stripped, integers as integers): ``market_category``,
``financial_status_indicator``, ``round_lot_size``, ``round_lots_only``,
``issue_classification``, ``issue_sub_type``, ``authenticity``,
``short_sale_threshold_indicator``, ``ipo_flag``, ``luld_reference_price_tier``,
``etp_flag``, ``etp_leverage_factor``, ``inverse_indicator``.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

from ..codec.itch50.layout import MESSAGES

_R = MESSAGES["R"]
_RENAME = {"stock_locate": "locate", "stock": "symbol", "timestamp": "time_ns"}
_INT_TYPES = {2: pa.uint16(), 4: pa.int64(), 6: pa.int64(), 8: pa.uint64()}


def _schema() -> pa.Schema:
    fields = []
    for f in _R.fields:
        if f.name == "message_type":
            continue
        name = _RENAME.get(f.name, f.name)
        typ = pa.string() if f.kind == "alpha" else _INT_TYPES[f.width]
        fields.append((name, typ))
    head = ["locate", "symbol", "time_ns"]  # the ones a reader looks for first
    fields.sort(key=lambda nf: head.index(nf[0]) if nf[0] in head else len(head))
    return pa.schema(fields)


INSTRUMENTS = _schema()


def _big_endian(raw: np.ndarray, offset: int, width: int) -> np.ndarray:
    v = np.zeros(raw.shape[0], np.uint64)
    for i in range(width):
        v = (v << np.uint64(8)) | raw[:, offset + i].astype(np.uint64)
    return v


def _alpha(raw: np.ndarray, offset: int, width: int) -> pa.Array:
    b = np.ascontiguousarray(raw[:, offset:offset + width]).view(f"S{width}").ravel()
    text = np.char.rstrip(np.char.decode(b, "latin-1"), " \x00")
    return pa.array(text.tolist() if text.size else [], pa.string())


def itch_instruments(blocks: list[np.ndarray]) -> pa.Table:
    """The instruments table from stock directory messages: ``blocks`` of ``(n, 39)`` uint8
    arrays, each row one 'R' message (type byte first)."""
    raw = np.concatenate(blocks) if blocks else np.zeros((0, _R.length), np.uint8)
    cols: dict[str, pa.Array] = {}
    for f in _R.fields:
        if f.name == "message_type":
            continue
        name = _RENAME.get(f.name, f.name)
        if f.kind == "alpha":
            cols[name] = _alpha(raw, f.offset, f.width)
        else:
            typ = INSTRUMENTS.field(name).type
            v = _big_endian(raw, f.offset, f.width)
            cols[name] = pa.array(v.astype(typ.to_pandas_dtype()), typ)
    return pa.Table.from_arrays([cols[n] for n in INSTRUMENTS.names], schema=INSTRUMENTS)
