"""Parquet output: the tables of a replayed day (events, top of book, trades, instruments,
written by a background thread from the books' row batches) and latency stamp rows.
docs/parquet.md documents the files and the first DuckDB queries to run on them."""

from .instruments import itch_instruments
from .stamps import write_stamps
from .writer import FILES, ParquetDay, ParquetDirError, ParquetWriteError, check_target

__all__ = ["FILES", "ParquetDay", "ParquetDirError", "ParquetWriteError", "check_target",
           "itch_instruments", "write_stamps"]
