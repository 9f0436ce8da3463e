"""LOBSTER pairs: check a message file against its orderbook file, or replay it into books."""

from __future__ import annotations

import json
import os
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..codec.lobster import (
    LobsterError,
    orderbook_path,
    parse_name,
    read_messages,
    read_orderbook,
)
from ..codec.lobster.read import count_rows
from ..feed.lobster import LobsterHandler, Mismatch


@dataclass
class LobsterReport:
    message_path: str
    orderbook_path: str | None
    rows: int
    levels: int | None
    seconds: float
    counters: dict[str, int]
    #: rows by LOBSTER event type (1..7)
    counts_by_type: dict[int, int] = field(default_factory=dict)
    mismatches: list[Mismatch] = field(default_factory=list)
    unknown_rows: list[int] = field(default_factory=list)
    refused_rows: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Every row checked matched, and no message was refused."""
        c = self.counters
        return c["mismatch_rows"] == 0 and c["refused"] == 0


def load_pair(message: str | Path, orderbook: str | Path) -> tuple[np.ndarray, np.ndarray]:
    """Both files, read in bulk; a pair whose row counts differ is refused before parsing."""
    n_msg, n_ob = count_rows(message), count_rows(orderbook)
    if n_msg != n_ob:
        raise LobsterError(None, f"the pair disagrees in length: {message} has {n_msg:,} rows, "
                                 f"{orderbook} has {n_ob:,} rows (row i of one file belongs "
                                 "to row i of the other)")
    return read_messages(message), read_orderbook(orderbook)


def _symbol(path: str | Path) -> str:
    parts = parse_name(path)
    return parts["ticker"][:8] if parts else ""


def _report(h: LobsterHandler, msgs: np.ndarray, message: str | Path,
            orderbook: str | Path | None, ob: np.ndarray | None, t0: float) -> LobsterReport:
    counts = np.bincount(msgs["type"].astype(np.int64), minlength=8)
    return LobsterReport(
        message_path=str(message), orderbook_path=None if orderbook is None else str(orderbook),
        rows=int(msgs.shape[0]), levels=None if ob is None else ob.shape[1] // 4,
        seconds=time.perf_counter() - t0, counters=h.counters,
        counts_by_type={t: int(counts[t]) for t in range(1, 8) if counts[t]},
        mismatches=h.mismatches, unknown_rows=h.unknown_rows,
        refused_rows=[str(e) for e in h.refused_rows])


def check_pair(message: str | Path, orderbook: str | Path, *, max_mismatches: int = 100
               ) -> tuple[LobsterHandler, LobsterReport]:
    """Replay ``message`` and compare the books after every row with ``orderbook``'s row, all
    its levels, both sides. A message the books refuse is counted, not raised."""
    t0 = time.perf_counter()
    msgs, ob = load_pair(message, orderbook)
    h = LobsterHandler(_symbol(message), errors="skip", max_mismatches=max_mismatches)
    h.run(msgs, ob, check=True)
    return h, _report(h, msgs, message, orderbook, ob, t0)


def replay_lobster(message: str | Path, orderbook: str | Path | None = None, *,
                   errors: str = "raise") -> tuple[LobsterHandler, LobsterReport]:
    """Replay a message file into books. The orderbook file (``orderbook``, default: the
    pair's name beside it, when it exists) seeds the first book and the levels that come
    into view; without it the books start empty and unknown orders are counted."""
    t0 = time.perf_counter()
    if orderbook is None:
        candidate = orderbook_path(message)
        orderbook = candidate if candidate.is_file() else None
    if orderbook is not None:
        msgs, ob = load_pair(message, orderbook)
    else:
        msgs, ob = read_messages(message), None
    h = LobsterHandler(_symbol(message), errors=errors)
    h.run(msgs, ob)
    return h, _report(h, msgs, message, orderbook, ob, t0)


def write_books_json_atomic(books: list[dict], path: str | Path) -> int:
    """Write one JSON object per book (``{"locate", "symbol", "bids", "asks"}``) to a
    temporary file beside ``path``, renamed to it at the end: never a half-written file."""
    p = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{p.name}.", suffix=".tmp", dir=p.parent or ".")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            for b in books:
                f.write(json.dumps({k: b[k] for k in ("locate", "symbol", "bids", "asks")},
                                   separators=(",", ":")))
                f.write("\n")
        os.replace(tmp, p)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return len(books)
