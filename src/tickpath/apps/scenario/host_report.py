"""What each trading host of the central-bank scenario reports, the same way for both: its
order session's figures (orders, fills, position, P&L marked at the future's last mid, the
unhedged exposure), its strategy's counts, and its samples.

P&L is in index points of the future (order-entry price units / 10,000) x contracts, from
the fills the venue reported; the stock leg is not traded, so the open position's exposure
to the basket is reported beside it (position x fair value, in points), never netted.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ...gateway.layout import Total
from ...telemetry.histogram import summary_us

#: the instrument the traditional host keeps the future's orders and position under (the
#: optimized host's is the MDP3 feed's locate for it, which its strategy learns)
FUTURE_LOCATE = 1 << 15
POINT = 10_000  # order-entry price units in one index point


def summary(session, locate: int, mark: float, fair: float,
            extra: dict[str, Any]) -> dict[str, Any]:
    """The host's line: ``extra`` (its own counts) with the session's figures for the
    future (kept under ``locate``); ``mark``: the future's last mid, ``fair``: the last
    fair value (order-entry units)."""
    t = session.totals
    pos = int(session.positions[locate]["position"]) if locate >= 0 else 0
    cash = int(t[Total.CASH])
    return {**extra, "fills": int(t[Total.FILLS]), "venue_rejects": int(t[Total.REJECTS]),
            "position": pos, "pnl_points": round((cash + pos * mark) / POINT, 2),
            "exposure_points": round(pos * fair / POINT, 2)}


def tick_to_trade_us(sent: np.ndarray, out: np.ndarray) -> dict[str, float | None]:
    """p50 / p99 / max of order sent - venue's send stamp of the packet behind it (µs,
    from the project's HdrHistogram summary)."""
    ok = (sent > 0) & (out > 0)
    s = summary_us(out[ok] - sent[ok])
    return {f"t2t_{k}": (round(s[k], 1) if k in s else None)
            for k in ("p50_us", "p99_us", "max_us")}
