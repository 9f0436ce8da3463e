"""``tickpath bench tick-to-trade``: tick to trade measured inside (the stage stamps) and on
the wire (by the venue), for each topology and transport, the kernel-socket stack in the
same run.

Each row is one run of the whole line over a veth pair made (and deleted) here: the built-in
venue in one namespace publishes its day and takes orders; the trader (pipelined: feed stage
and strategy stage on two cores; run to completion: one loop on one core) in the other. The
venue's process captures its end of the pair with the kernel's stamps; afterwards
:func:`tickpath.venue.referee.pair_capture` pairs each Enter or Replace Order with the feed
packet its ClOrdID names. So the wire figure is measured by the venue, not by the trader:
from the feed packet leaving the venue's interface to the order arriving at it.

Inside: ``received`` (the trader's receive stamp) to ``order_out`` (after the order's send
call) from the stage stamps of the same run (:mod:`tickpath.telemetry.budget`).
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from ..engine.config import from_dict, read_toml
from ..engine.pipeline import resolve_transport, run_pipeline
from ..telemetry.histogram import summary_us
from ..venue.referee import pair_capture

__all__ = ["DEFAULT_ROWS", "run_tick_to_trade"]

#: (topology, transport): the best bypass transport here run to completion and pipelined,
#: then the kernel-socket stack (compiled recv) both ways; "best" is resolved per host
DEFAULT_ROWS = (("run_to_completion", "best"), ("pipelined", "best"),
                ("run_to_completion", "recv"), ("pipelined", "recv"))


def _best() -> str:
    from ..wire.transports import check

    ok = {c.name for c in check() if c.ok}
    for kind in ("xdp", "packet", "busypoll"):
        if kind in ok:
            return kind
    return "recv"


def _inside(rows: np.ndarray) -> dict[str, float]:
    if rows.shape[0] == 0:
        return {"count": 0}
    s = summary_us(rows["order_out"] - rows["received"])
    return {"count": s["count"], "p50_us": s["p50_us"], "p99_us": s["p99_us"]}


def _wire(pairs) -> dict[str, Any]:
    s = pairs.summary()
    out: dict[str, Any] = {"count": s["count"], "orders_seen": pairs.orders,
                           "feed_packets": pairs.feed_packets}
    if s["count"]:
        out.update(p50_us=s["p50_us"], p99_us=s["p99_us"], p999_us=s["p999_us"],
                   max_us=s["max_us"])
    if pairs.unpaired:
        out["unpaired"] = pairs.unpaired
    return out


def run_tick_to_trade(rows: tuple[tuple[str, str], ...] = DEFAULT_ROWS, *,
                      messages: int = 100_000, rate: float = 20_000, config: str | None = None,
                      pcap: str | os.PathLike | None = None, status=print) -> dict[str, Any]:
    """Run each ``(topology, transport)`` row and return the JSON document
    ``{"rows": [{"topology", "transport", "orders", "fills", "inside": {...}, "wire":
    {...}}, ...], ...}``. ``pcap``: keep the venue's captures (``STEM-TOPOLOGY-TRANSPORT
    .pcapng`` beside it); else they are read and removed."""
    from ..wire import netns

    netns.check()  # the venue's capture needs its own end of a veth pair: root and `ip`
    best = _best()
    out_rows: list[dict[str, Any]] = []
    notes: list[str] = []
    keep = Path(pcap) if pcap is not None else None
    with tempfile.TemporaryDirectory(prefix="tp-t2t-") as tmp:
        for topology, kind in rows:
            transport = best if kind == "best" else kind
            base = read_toml(config) if config else {}
            base.setdefault("simulator", {}).update(enabled=True, messages=int(messages),
                                                   rate=float(rate or 0))
            base.setdefault("transport", {})["kind"] = transport
            base.setdefault("pipeline", {}).update(duration_s=0.0, topology=topology)
            base.setdefault("telemetry", {}).setdefault("max_rows", max(1, 2 * messages))
            base.setdefault("gateway", {}).setdefault("fsync", "never")
            cfg = from_dict(base, config or "<tick-to-trade>")
            cfg["transport"]["kind"] = resolve_transport(transport)
            cap = (keep.with_name(f"{keep.stem}-{topology}-{transport}.pcapng") if keep
                   else Path(tmp) / f"{topology}-{transport}.pcapng")
            status(f"{topology}, {transport}: {messages:,} messages at {rate:,.0f}/s over a "
                   f"veth pair, the venue capturing its side")
            with netns.veth_pair() as pair:
                rep = run_pipeline(cfg, veth=pair, status=status, venue_capture=cap)
            if rep.errors:
                raise RuntimeError(f"{topology}/{transport}: the pipeline failed:\n"
                                   + "\n".join(rep.errors))
            from ..engine.pipeline import FEED_PORT, ORDER_PORT

            pairs = pair_capture(cap, FEED_PORT, ORDER_PORT)
            c = rep.counters
            out_rows.append({"topology": topology, "transport": transport,
                             "orders": int(c["strategy"]["orders"]),
                             "fills": int(c["strategy"]["fills"]),
                             "inside": _inside(rep.rows), "wire": _wire(pairs),
                             "placement": rep.placement})
            notes += [f"{topology}/{transport}: {n}" for n in rep.notes]
    return {"rows": out_rows, "messages": messages, "rate": rate,
            "date": dt.datetime.now(dt.UTC).isoformat(timespec="seconds"),
            "host": {"machine": platform.machine(), "cpus": len(os.sched_getaffinity(0)),
                     "kernel": platform.release()},
            "clock": "CLOCK_REALTIME ns; wire: the venue's kernel stamps on its veth end",
            "notes": notes}
