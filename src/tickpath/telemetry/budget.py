"""The latency budget of the path: one HdrHistogram per stage from rows of boundary stamps.

Input is an array of :data:`~tickpath.telemetry.stamps.STAMPS` rows (one int64 CLOCK_REALTIME
ns stamp per boundary, 0 where the boundary was not reached). For each stage of
:data:`~tickpath.telemetry.stamps.STAGES` the span ``to - from`` of every row that reached both
boundaries goes into that stage's histogram. Two end-to-end spans sit beside the stages:

* ``total``: from the first to the last boundary each row reached (rows with fewer than two
  boundaries do not count);
* ``tick_to_trade``: ``received`` to ``order_out``, the rows that led to an order.

A negative span (the later boundary stamped before the earlier one) is a clock anomaly:
it is counted under ``negative`` and kept out of the histogram, never clipped to zero and
never dropped silently. A span above the histogram's range is counted under ``over_range``
and recorded at the range's top, so percentiles stay honest about it.

::

    rows (n x 10 int64)  ->  Budget.from_stamps  ->  table() / to_json / to_csv / to_png
                              one HdrHistogram per stage, total, tick_to_trade

Percentiles are HdrHistogram's (3 significant digits: a reported value is within 0.1% of
the recorded one). matplotlib is imported only by :meth:`Budget.to_png`.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
from hdrh.histogram import HdrHistogram

from .stamps import BOUNDARIES, INDEX, N_BOUNDARIES, ORDER_OUT, RECEIVED, STAGES, STAMPS

#: histogram range: 0 .. 60 s in ns at 3 significant digits
HIGHEST_NS = 60_000_000_000
SIGNIFICANT_DIGITS = 3

#: percentiles reported per span, with the JSON key of each
PERCENTILES: tuple[tuple[float, str], ...] = (
    (50.0, "p50_ns"), (90.0, "p90_ns"), (99.0, "p99_ns"), (99.9, "p999_ns"),
)

#: the clock every boundary is stamped with (see telemetry/nclock.py and telemetry/stamps.py)
CLOCK: dict[str, str] = {
    "name": "CLOCK_REALTIME",
    "unit": "ns",
    "epoch": "unix",
    "read_by": "tickpath.telemetry.nclock.realtime_ns (compiled code), "
               "tickpath.telemetry.clock.now_ns (Python)",
    "note": "one clock for every boundary so stamps from different processes on one host "
            "subtract; the venue's ITCH stamp is widened from ns since midnight",
}

TOTAL_DESCRIPTION = "first to last boundary each path reached"
TICK_TO_TRADE_DESCRIPTION = "packet received to order bytes handed to the sender"


class StampsError(ValueError):
    """The rows are not STAMPS records (wrong fields or shape)."""


@dataclass
class Span:
    """One row of the budget: a span's histogram and what was left out of it, and why."""

    name: str
    start: str
    end: str
    description: str
    histogram: HdrHistogram = field(repr=False)
    negative: int = 0      #: rows where ``end`` was stamped before ``start`` (clock anomalies)
    over_range: int = 0    #: spans above HIGHEST_NS, recorded at the top of the range
    expected_interval_ns: int | None = None  #: coordinated-omission correction, if applied

    @property
    def count(self) -> int:
        """Spans recorded (negative ones excluded)."""
        return int(self.histogram.get_total_count())

    def percentile(self, p: float) -> int | None:
        """The value at percentile ``p`` in ns, None when nothing was recorded."""
        return int(self.histogram.get_value_at_percentile(p)) if self.count else None

    @property
    def max_ns(self) -> int | None:
        return int(self.histogram.get_max_value()) if self.count else None

    @property
    def min_ns(self) -> int | None:
        return int(self.histogram.get_min_value()) if self.count else None

    def as_dict(self) -> dict[str, Any]:
        d: dict[str, Any] = {"name": self.name, "from": self.start, "to": self.end,
                             "description": self.description}
        for p, key in PERCENTILES:
            d[key] = self.percentile(p)
        d.update(max_ns=self.max_ns, min_ns=self.min_ns, count=self.count,
                 negative=self.negative, over_range=self.over_range)
        if self.expected_interval_ns is not None:
            d["corrected_for_coordinated_omission_ns"] = self.expected_interval_ns
        return d


def as_matrix(rows: np.ndarray) -> np.ndarray:
    """STAMPS rows as an ``(n, N_BOUNDARIES)`` int64 matrix (a view when it can be).

    Accepts a structured array with the STAMPS fields, or an int64 matrix of that width."""
    rows = np.asarray(rows)
    if rows.dtype.names is not None:
        missing = [b for b in BOUNDARIES if b not in rows.dtype.names]
        if missing:
            raise StampsError(f"rows lack the boundary fields {missing}; expected the STAMPS "
                              f"dtype of tickpath.telemetry.stamps ({', '.join(BOUNDARIES)})")
        if rows.dtype == STAMPS and rows.ndim == 1 and rows.flags.c_contiguous:
            return rows.view(np.int64).reshape(-1, N_BOUNDARIES)
        return np.stack([rows[b].astype(np.int64).ravel() for b in BOUNDARIES], axis=1)
    if rows.ndim == 2 and rows.shape[1] == N_BOUNDARIES and rows.dtype.kind in "iu":
        return rows.astype(np.int64, copy=False)
    raise StampsError(f"rows must be STAMPS records or an (n, {N_BOUNDARIES}) integer matrix, "
                      f"got dtype {rows.dtype} and shape {rows.shape}")


def _histogram() -> HdrHistogram:
    return HdrHistogram(1, HIGHEST_NS, SIGNIFICANT_DIGITS)


def _span(name: str, start: str, end: str, description: str, spans: np.ndarray,
          expected_interval_ns: int | None = None) -> Span:
    """A Span from the raw differences of the rows that reached both ends."""
    h = _histogram()
    negative = int(np.count_nonzero(spans < 0))
    kept = spans[spans >= 0]
    over = int(np.count_nonzero(kept > HIGHEST_NS))
    # Recorded in bulk: one call per distinct value, not per sample.
    values, counts = np.unique(np.minimum(kept, HIGHEST_NS), return_counts=True)
    for v, c in zip(values.tolist(), counts.tolist(), strict=True):
        if expected_interval_ns:
            h.record_corrected_value(v, expected_interval_ns, c)
        else:
            h.record_value(v, c)
    return Span(name, start, end, description, h, negative, over, expected_interval_ns)


@dataclass
class Budget:
    """The budget of one run: a Span per stage, the total and tick-to-trade, and the run's
    facts (``meta``: transport, messages, orders, rejects, dropped, whatever the run gave)."""

    stages: list[Span]
    total: Span
    tick_to_trade: Span
    rows: int
    meta: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_stamps(cls, rows: np.ndarray, meta: Mapping[str, Any] | None = None, *,
                    expected_interval_ns: int | None = None) -> Budget:
        """Build the budget from STAMPS rows.

        ``expected_interval_ns``: when the load was sent at a fixed rate, the interval
        between sends; the total and tick-to-trade histograms are then corrected for
        coordinated omission (HdrHistogram's ``record_corrected_value``). Stage histograms
        are never corrected: a stage's own samples are not paced."""
        m = as_matrix(rows)
        stages = []
        for name, a, b, what in STAGES:
            i, j = INDEX[a], INDEX[b]
            both = (m[:, i] != 0) & (m[:, j] != 0)
            stages.append(_span(name, a, b, what, m[both, j] - m[both, i]))

        present = m != 0
        n_present = present.sum(axis=1)
        first = np.argmax(present, axis=1)
        last = N_BOUNDARIES - 1 - np.argmax(present[:, ::-1], axis=1)
        keep = n_present >= 2
        idx = np.nonzero(keep)[0]
        total = _span("total", "first reached", "last reached", TOTAL_DESCRIPTION,
                      m[idx, last[keep]] - m[idx, first[keep]], expected_interval_ns)

        both = present[:, RECEIVED] & present[:, ORDER_OUT]
        t2t = _span("tick_to_trade", "received", "order_out", TICK_TO_TRADE_DESCRIPTION,
                    m[both, ORDER_OUT] - m[both, RECEIVED], expected_interval_ns)
        return cls(stages, total, t2t, int(m.shape[0]), dict(meta or {}))

    # ------------------------------------------------------------------ exports

    def share(self, span: Span) -> float | None:
        """A span's median as a fraction of the total's median (None when either is empty)."""
        p, t = span.percentile(50.0), self.total.percentile(50.0)
        return None if p is None or not t else p / t

    def as_dict(self) -> dict[str, Any]:
        """The JSON document: ``stages``, ``total``, ``transport``, ``messages`` (as the issue
        asks) and the rest of the run's facts, tick-to-trade and the clock."""
        stages = []
        for s in self.stages:
            d = s.as_dict()
            d["share_of_total_p50"] = self.share(s)
            stages.append(d)
        meta = dict(self.meta)
        out: dict[str, Any] = {
            "stages": stages,
            "total": self.total.as_dict(),
            "tick_to_trade": self.tick_to_trade.as_dict(),
            "transport": meta.pop("transport", None),
            "messages": meta.pop("messages", self.rows),
            "rows": self.rows,
            "clock": dict(CLOCK),
            "histogram": {"lowest_ns": 1, "highest_ns": HIGHEST_NS,
                          "significant_digits": SIGNIFICANT_DIGITS},
            "negative_spans": sum(s.negative for s in self.stages),
        }
        out.update(meta)
        return out

    def to_json(self, path: str | Path) -> Path:
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.as_dict(), indent=2, default=jsonable))
        return path

    def to_csv(self, path: str | Path) -> Path:
        """One line per stage, then ``total`` and ``tick_to_trade``."""
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        cols = ["name", "from", "to", "description", "count", "negative", "over_range",
                *(k for _, k in PERCENTILES), "max_ns", "min_ns", "share_of_total_p50"]
        with path.open("w", newline="") as f:
            w = csv.DictWriter(f, fieldnames=cols, extrasaction="ignore")
            w.writeheader()
            for s in [*self.stages, self.total, self.tick_to_trade]:
                d = s.as_dict()
                d["share_of_total_p50"] = self.share(s)
                w.writerow({k: ("" if d.get(k) is None else d[k]) for k in cols})
        return path

    def to_png(self, path: str | Path, title: str | None = None) -> Path:
        """Percentile distribution of every span that has samples, latency on a log axis."""
        import matplotlib

        matplotlib.use("Agg")  # files only: no display needed
        import matplotlib.pyplot as plt

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fig, ax = plt.subplots(figsize=(10, 6), dpi=100)
        colors = plt.get_cmap("tab10").colors
        drawn = 0
        # stages thin and coloured; the two end-to-end spans thick and black, told apart by dash
        styles = [(st, dict(color=colors[i % 10], linewidth=1.3)) for i, st in enumerate(self.stages)]
        styles += [(self.total, dict(color="black", linewidth=2.4)),
                   (self.tick_to_trade, dict(color="black", linewidth=2.4, linestyle="--"))]
        for st, style in styles:
            if not st.count:
                continue
            x, y = percentile_curve(st)
            ax.plot(x, np.maximum(y, 1), label=st.name, **style)
            drawn += 1
        ax.set_xscale("log")
        ax.set_yscale("log")
        ticks = [1, 2, 10, 100, 1_000, 10_000, 100_000]
        ax.set_xticks(ticks)
        ax.set_xticklabels(["0%", "50%", "90%", "99%", "99.9%", "99.99%", "99.999%"])
        ax.set_xlim(1, max(10.0, _nines_limit(self)))
        ax.set_xlabel("percentile")
        ax.set_ylabel("latency, ns (log)")
        ax.grid(True, which="both", alpha=0.3)
        transport = self.meta.get("transport")
        ax.set_title(title or f"tickpath latency budget ({self.rows:,} rows"
                              + (f", {transport}" if transport else "") + ")")
        if drawn:
            ax.legend(loc="upper left", fontsize=8)
        fig.tight_layout()
        fig.savefig(path, format="png")
        plt.close(fig)
        return path

    def table(self):
        """A rich Table: stage, what it is, p50 ns, p99 ns, share of the total median."""
        from rich.table import Table

        t = Table(title=f"latency budget: {self.rows:,} paths"
                        + (f" over {self.meta['transport']}" if self.meta.get("transport")
                           else ""),
                  caption="CLOCK_REALTIME ns; stage medians do not add up to the total's "
                          "median (each is its own distribution)")
        t.add_column("stage")
        t.add_column("what it is")
        t.add_column("p50 ns", justify="right")
        t.add_column("p99 ns", justify="right")
        t.add_column("% of total p50", justify="right")
        t.add_column("n", justify="right")
        for s in self.stages:
            share = self.share(s)
            note = f" [red]({s.negative:,} < 0)[/]" if s.negative else ""
            t.add_row(s.name, s.description, _ns(s.percentile(50.0)), _ns(s.percentile(99.0)),
                      "-" if share is None else f"{share:.0%}", f"{s.count:,}{note}")
        t.add_section()
        for s in (self.total, self.tick_to_trade):
            note = f" [red]({s.negative:,} < 0)[/]" if s.negative else ""
            t.add_row(f"[bold]{s.name}[/]", s.description, f"[bold]{_ns(s.percentile(50.0))}[/]",
                      f"[bold]{_ns(s.percentile(99.0))}[/]", "", f"{s.count:,}{note}")
        return t


def percentile_curve(span: Span, points: int = 200) -> tuple[np.ndarray, np.ndarray]:
    """(x, latency) of a span's percentile distribution, x = 1 / (1 - q) (1 is the median's
    left end, 100 is p99): the usual HdrHistogram plot, which spreads the tail out."""
    n = max(span.count, 1)
    top = min(np.log10(n), 6.0)  # beyond 1 - 1/n there is no sample to show
    k = np.linspace(0.0, top, points)
    q = 100.0 * (1.0 - 10.0 ** -k)
    y = np.array([span.histogram.get_value_at_percentile(float(p)) for p in q], dtype=float)
    return 10.0 ** k, y


def _nines_limit(b: Budget) -> float:
    n = max([s.count for s in [*b.stages, b.total, b.tick_to_trade]] + [1])
    return float(10 ** min(np.log10(n), 6.0))


def _ns(v: int | None) -> str:
    return "-" if v is None else f"{v:,}"


def jsonable(v: Any) -> Any:
    """``json.dumps``'s ``default``: numpy scalars and paths as plain JSON values."""
    if isinstance(v, np.integer):
        return int(v)
    if isinstance(v, np.floating):
        return float(v)
    if isinstance(v, Path):
        return str(v)
    raise TypeError(f"not JSON serializable: {type(v).__name__}")


def load_stamps(path: str | Path) -> tuple[np.ndarray, dict[str, Any]]:
    """STAMPS rows saved with :func:`save_stamps` (a .npy file) and the run's facts from the
    ``.meta.json`` beside it, if there is one."""
    path = Path(path)
    try:
        rows = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as e:
        raise StampsError(f"{path}: not a readable .npy array of STAMPS rows ({e})") from e
    as_matrix(rows)  # refuse the wrong shape here, naming the file's problem
    side = meta_path(path)
    meta = json.loads(side.read_text()) if side.exists() else {}
    return rows, meta


def save_stamps(path: str | Path, rows: np.ndarray, meta: Mapping[str, Any] | None = None) -> Path:
    """Save rows as .npy (and the run's facts as ``<name>.meta.json`` beside it)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("wb") as f:  # a file object: np.save would append .npy to another suffix
        np.save(f, np.asarray(rows), allow_pickle=False)
    if meta:
        meta_path(path).write_text(json.dumps(dict(meta), indent=2, default=jsonable))
    return path


def meta_path(stamps_path: str | Path) -> Path:
    p = Path(stamps_path)
    return p.with_name(p.name.removesuffix(".npy") + ".meta.json")
