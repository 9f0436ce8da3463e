"""``tickpath budget``'s run: the whole pipeline against the built-in simulator on this
machine, over a veth pair where it can, its stamps returned for the latency budget
(:mod:`tickpath.telemetry.budget`)."""

from __future__ import annotations

from contextlib import nullcontext

import numpy as np

from ..engine.config import from_dict, read_toml
from ..engine.pipeline import resolve_transport, run_pipeline

__all__ = ["run_budget"]


def run_budget(config: str | None = None, *, transport: str = "auto", messages: int = 200_000,
               rate: float | None = 20_000, topology: str = "pipelined",
               status=print) -> tuple[np.ndarray, dict]:
    """Run the whole pipeline against the built-in simulator on this machine and return
    ``(rows, meta)``: one ``STAMPS`` row per completed path (market data in -> order out),
    and what ran (``transport``, ``messages``, ``orders``, ``rejects``, ``dropped``, ...).

    Over a veth pair between two namespaces made (and deleted) here when root and ``ip``
    allow, else over loopback. ``transport="auto"`` takes the best this host runs.
    ``topology``: ``pipelined`` or ``run_to_completion`` (:mod:`tickpath.engine`)."""
    from ..wire import netns

    base = read_toml(config) if config else {}
    base.setdefault("simulator", {}).update(enabled=True, messages=int(messages),
                                           rate=float(rate or 0))
    base.setdefault("transport", {})["kind"] = transport
    base.setdefault("telemetry", {}).setdefault("max_rows", max(1, 2 * int(messages)))
    base.setdefault("pipeline", {})["duration_s"] = 0.0
    base["pipeline"]["topology"] = topology
    cfg = from_dict(base, config or "<run_budget>")
    kind = resolve_transport(transport)
    cfg["transport"]["kind"] = kind
    try:
        netns.check()
        use_veth = True
    except netns.NetnsUnavailable as e:
        status(f"loopback: {e}")
        use_veth = False
    pair_cm = netns.veth_pair() if use_veth else nullcontext(None)
    with pair_cm as pair:
        status(f"running the pipeline: {messages:,} messages at "
               f"{'full speed' if not rate else f'{rate:,.0f} msgs/s'}, transport {kind}, "
               f"{'veth pair between namespaces' if pair else 'loopback'}")
        rep = run_pipeline(cfg, veth=pair, status=status)
    meta = rep.meta()
    meta.update(transport=kind, path="veth" if use_veth else "loopback", topology=topology)
    if rep.errors:
        raise RuntimeError("the pipeline failed:\n" + "\n".join(rep.errors))
    return rep.rows, meta
