"""Read LOBSTER message and orderbook files into numpy arrays, in bulk.

The files are parsed by numpy's C reader (``numpy.loadtxt``): no Python object per row. Only
when that parse fails, or the file holds blank lines, does a second pass walk the lines in
Python to name the first bad row and column (a cold path, for the error message alone).
Rows are numbered from 1, as a text editor shows the file's lines.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import numpy as np

from .layout import (
    EMPTY_PRICE_ABS,
    MAX_ORDER_ID,
    MAX_PRICE,
    MAX_SIZE,
    MESSAGE_COLUMNS,
    MESSAGE_DTYPE,
    ORDERBOOK_COLUMNS,
    EventType,
)

_NAME = re.compile(r"^(?P<ticker>[^_]+)_(?P<date>[^_]+)_(?P<start>\d+)_(?P<end>\d+)_"
                   r"(?P<kind>message|orderbook)_(?P<level>\d+)\.csv$")
# the columns as the file has them: time as decimal seconds, the rest integers
_RAW_MESSAGE = np.dtype([("time", np.float64), ("type", np.int64), ("order_id", np.int64),
                         ("size", np.int64), ("price", np.int64), ("direction", np.int64)])


class LobsterError(ValueError):
    """A LOBSTER file that cannot be read as one: names the file, and the row (from 1) and
    column where that is known."""

    def __init__(self, path: str | Path | None, reason: str, row: int | None = None,
                 column: str | None = None) -> None:
        self.path = None if path is None else str(path)
        self.row = row
        self.column = column
        where = ""
        if row is not None:
            where = f"row {row:,}"
            if column is not None:
                where += f", column {column}"
            where += ": "
        if self.path is None:
            super().__init__(f"{where}{reason}")
        else:
            super().__init__(f"{self.path}: {where}{reason}")


def parse_name(path: str | Path) -> dict[str, str] | None:
    """The parts of a LOBSTER file name (ticker, date, start, end, kind, level), or None when
    the name does not follow LOBSTER's pattern."""
    m = _NAME.match(Path(path).name)
    return m.groupdict() if m else None


def is_message_file(path: str | Path) -> bool:
    """True for a name like ``AAPL_2012-06-21_34200000_57600000_message_10.csv``."""
    return "_message_" in Path(path).name and Path(path).suffix == ".csv"


def orderbook_path(message_path: str | Path) -> Path:
    """The orderbook file that pairs with a message file (same name, ``_orderbook_``)."""
    p = Path(message_path)
    return p.with_name(p.name.replace("_message_", "_orderbook_", 1))


def _column_name(names: tuple[str, ...], index: int) -> str:
    """Column ``index`` (from 0) by name: ``price``, or ``ask_price 2`` in an orderbook."""
    if names is ORDERBOOK_COLUMNS:
        return f"{names[index % 4]} {index // 4 + 1} (column {index + 1})"
    return f"{names[index]} (column {index + 1})" if index < len(names) else f"{index + 1}"


def _first_bad(path: Path, ncols: int | None, names: tuple[str, ...],
               first_is_float: bool) -> LobsterError:
    """Walk the lines to find the first one numpy could not take (cold path)."""
    with open(path, encoding="ascii", errors="replace", newline="") as f:
        for row, line in enumerate(f, 1):
            text = line.rstrip("\r\n")
            if not text.strip():
                return LobsterError(path, "empty row (every row must hold one event)", row)
            cells = text.split(",")
            if ncols is not None and len(cells) != ncols:
                return LobsterError(path, f"{len(cells)} columns, expected {ncols}", row)
            ncols = len(cells)
            for i, cell in enumerate(cells):
                try:
                    if i == 0 and first_is_float:
                        v = float(cell)
                        if not np.isfinite(v):
                            raise ValueError
                    elif not -(1 << 63) <= int(cell) < (1 << 63):
                        return LobsterError(path, f"{cell.strip()} does not fit 64 bits", row,
                                            _column_name(names, i))
                except ValueError:
                    kind = "a number" if i == 0 and first_is_float else "an integer"
                    return LobsterError(path, f"{cell.strip()!r} is not {kind}", row,
                                        _column_name(names, i))
    return LobsterError(path, "cannot be parsed as CSV of numbers")


def count_rows(path: str | Path) -> int:
    """Rows in a file (its newline count, plus a last line without one), without parsing."""
    data = _exists(path, "LOBSTER").read_bytes()
    n = data.count(b"\n")
    if data and not data.endswith(b"\n"):
        n += 1
    return n


def _loadtxt(path: Path, dtype: np.dtype | type, ndmin: int) -> np.ndarray:
    """numpy's parse, without its warning on a file with no data (the callers refuse an
    empty message file, and count rows to name a blank one)."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "loadtxt: input contained no data", UserWarning)
        return np.loadtxt(path, delimiter=",", dtype=dtype, comments=None, ndmin=ndmin)


def _exists(path: str | Path, what: str) -> Path:
    p = Path(path)
    if not p.is_file():
        raise LobsterError(p, f"{what} file does not exist")
    return p


def read_messages(path: str | Path) -> np.ndarray:
    """The message file as a ``MESSAGE_DTYPE`` array, one record per row.

    Checked: 6 columns of numbers on every row; type 1..7; direction 1 or -1; and for the
    types that change the book (1..4) a positive size and price that fit the books' 32-bit
    fields and an order id >= 0; every order id below 2^62 (the books' synthetic orders);
    at least one row. Raises :class:`LobsterError` naming the file and the first bad row and
    column.
    """
    p = _exists(path, "LOBSTER message")
    if count_rows(p) == 0:
        raise LobsterError(p, "the message file is empty (a LOBSTER file has a row per event)")
    try:
        raw = _loadtxt(p, _RAW_MESSAGE, 1)
    except ValueError:
        raise _first_bad(p, 6, MESSAGE_COLUMNS, True) from None
    if raw.shape[0] != count_rows(p):
        raise _first_bad(p, 6, MESSAGE_COLUMNS, True)
    out = np.empty(raw.shape[0], MESSAGE_DTYPE)
    t = raw["time"]
    _check(p, ~np.isfinite(t) | (t < 0), "time", "time is not a number of seconds >= 0")
    out["time_ns"] = np.rint(t * 1e9).astype(np.int64)
    typ = raw["type"]
    _check(p, (typ < 1) | (typ > 7), "type", "event type is not 1..7")
    d = raw["direction"]
    _check(p, (d != 1) & (d != -1), "direction", "direction is neither 1 (buy) nor -1 (sell)")
    book = typ <= EventType.EXECUTE
    _check(p, book & (raw["size"] <= 0), "size", "size of a book event must be positive")
    _check(p, book & (raw["size"] > MAX_SIZE), "size", "size does not fit 32 bits")
    _check(p, book & (raw["price"] <= 0), "price", "price of a book event must be positive")
    _check(p, book & (raw["price"] > MAX_PRICE), "price",
           "price does not fit the books' 32-bit price field (above $429,496.7295)")
    _check(p, book & (raw["order_id"] < 0), "order_id", "order id is negative")
    _check(p, raw["order_id"] > MAX_ORDER_ID, "order_id",
           "order id is too large (2^62 and above are the books' synthetic orders)")
    out["type"] = typ
    out["direction"] = d
    out["order_id"] = raw["order_id"]
    out["size"] = raw["size"]
    out["price"] = raw["price"]
    return out


def read_orderbook(path: str | Path, levels: int | None = None) -> np.ndarray:
    """The orderbook file as an int64 array of shape ``(rows, 4 * levels)``, in the file's
    column order (ask price, ask size, bid price, bid size, per level).

    ``levels``: expected levels a side (default: the ``_LEVEL`` of the name, else the column
    count / 4). Checked: that column count on every row; sizes >= 0; a price is positive and
    fits 32 bits, or it is the empty-level value (+-9999999999) with size 0.
    """
    p = _exists(path, "LOBSTER orderbook")
    if levels is None:
        parts = parse_name(p)
        levels = int(parts["level"]) if parts else None
    ncols = None if levels is None else 4 * levels
    try:
        ob = _loadtxt(p, np.int64, 2)
    except ValueError:
        raise _first_bad(p, ncols, ORDERBOOK_COLUMNS, False) from None
    if ob.shape[0] != count_rows(p):
        raise _first_bad(p, ncols, ORDERBOOK_COLUMNS, False)
    if ob.shape[0] == 0:
        return np.zeros((0, ncols or 4), np.int64)
    if ncols is not None and ob.shape[1] != ncols:
        raise LobsterError(p, f"{ob.shape[1]} columns, expected {ncols} (4 x {levels} levels, "
                           "from the file name)", 1)
    if ob.shape[1] % 4:
        raise LobsterError(p, f"{ob.shape[1]} columns: not 4 per level", 1)
    prices = ob[:, 0::2]
    sizes = ob[:, 1::2]
    empty = np.abs(prices) == EMPTY_PRICE_ABS
    _check_cells(p, sizes < 0, 1, "size is negative")
    _check_cells(p, empty & (sizes != 0), 0, "an empty level (price +-9999999999) with size > 0")
    _check_cells(p, ~empty & ((prices <= 0) | (prices > MAX_PRICE)), 0,
                 "price is neither positive (32 bits) nor the empty-level value")
    _check_cells(p, ~empty & (sizes == 0), 1, "an occupied level with size 0")
    return ob


def _check(path: Path, bad: np.ndarray, column: str, reason: str) -> None:
    if bad.any():
        row = int(np.argmax(bad))
        i = MESSAGE_COLUMNS.index(column)
        raise LobsterError(path, reason, row + 1, _column_name(MESSAGE_COLUMNS, i))


def _check_cells(path: Path, bad: np.ndarray, offset: int, reason: str) -> None:
    """``bad`` is over every other column (prices: offset 0, sizes: offset 1)."""
    if bad.any():
        row, j = np.unravel_index(int(np.argmax(bad)), bad.shape)
        raise LobsterError(path, reason, int(row) + 1,
                           _column_name(ORDERBOOK_COLUMNS, 2 * int(j) + offset))
