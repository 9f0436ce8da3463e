"""DBN trades (and other record kinds that carry no book) counted, never turned into books."""

from __future__ import annotations

from typing import Any

import numpy as np

from ...codec.dbn.reader import Batch
from ...codec.dbn.records import F_LAST, F_SNAPSHOT
from .status import N_COUNTS, DbnCount


class DbnTradeCounts:
    """Counts records by action, events (``F_LAST``) and instruments, in whole batches."""

    def __init__(self) -> None:
        self.counts = np.zeros(N_COUNTS, np.int64)
        self.instruments: set[int] = set()
        self.records = 0

    def on_batch(self, batch: Batch) -> int:
        """Count one batch (any record dtype with action, flags, publisher and instrument)."""
        r = batch.records
        self.counts[:256] += np.bincount(r["action"], minlength=256)[:256]
        flags = r["flags"]
        self.counts[DbnCount.EVENTS] += int(np.count_nonzero(flags & F_LAST))
        self.counts[DbnCount.SNAPSHOT] += int(np.count_nonzero(flags & F_SNAPSHOT))
        keys = (r["publisher_id"].astype(np.uint64) << np.uint64(32)) | r["instrument_id"]
        self.instruments.update(np.unique(keys).tolist())
        self.records += r.shape[0]
        return r.shape[0]

    def counts_by_action(self) -> dict[str, int]:
        """Records by action character."""
        return {chr(a): int(n) for a, n in enumerate(self.counts[:256]) if n}

    def counters(self) -> dict[str, Any]:
        """Records, events, trades, instruments."""
        c = self.counts
        return {"records": self.records, "events": int(c[DbnCount.EVENTS]),
                "snapshot_records": int(c[DbnCount.SNAPSHOT]), "trades": int(c[ord("T")]),
                "fills": int(c[ord("F")]), "book_changes": 0, "refused": 0,
                "instruments": len(self.instruments)}

    def book_list(self, depth: int | None = None) -> list[dict[str, Any]]:
        """No books: trades carry none."""
        return []
