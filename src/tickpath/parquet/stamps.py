"""Latency stamp rows (:data:`tickpath.telemetry.stamps.STAMPS`) as a Parquet file: one int64
column per boundary, ns on CLOCK_REALTIME since the Unix epoch, null where the path did not
reach that boundary (the rows' 0), so a span ``decoded - parsed`` is null, and left out of
``quantile_cont``, exactly where the budget leaves it out of its histogram.

The run's facts (transport, messages, ...) go into the file's key-value metadata under
``tickpath`` as JSON. Written to a temporary name beside the target and renamed.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from ..telemetry.budget import as_matrix
from ..telemetry.stamps import BOUNDARIES
from .writer import COMPRESSION, ParquetWriteError

STAMPS_SCHEMA = pa.schema([(name, pa.int64()) for name in BOUNDARIES])


def stamps_table(rows: np.ndarray) -> pa.Table:
    """STAMPS rows (records, or an ``(n, 10)`` int64 matrix) as an Arrow table."""
    m = as_matrix(rows)
    cols = []
    for i in range(m.shape[1]):
        v = np.ascontiguousarray(m[:, i])
        zero = v == 0
        cols.append(pa.array(v, mask=zero) if zero.any() else pa.array(v))
    return pa.Table.from_arrays(cols, schema=STAMPS_SCHEMA)


def write_stamps(path: str | Path, rows: np.ndarray,
                 meta: Mapping[str, Any] | None = None) -> Path:
    """Write STAMPS rows to ``path`` (see the module docstring). Raises
    :class:`~tickpath.parquet.writer.ParquetWriteError` naming the file when writing fails."""
    path = Path(path)
    table = stamps_table(rows)
    facts = json.dumps(dict(meta or {}), default=str)
    table = table.replace_schema_metadata({"tickpath": facts})
    tmp = path.with_name(f".{path.name}.partial-{os.getpid()}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, tmp, compression=COMPRESSION)
        os.replace(tmp, path)
    except (OSError, pa.ArrowException) as e:
        tmp.unlink(missing_ok=True)
        raise ParquetWriteError(f"writing {path} failed: {e}") from e
    return path
