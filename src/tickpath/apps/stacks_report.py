"""What ``tickpath bench stacks`` shows: the seed's first table as Markdown (filled in with
this host's figures) and PNG plots of the latency distributions and of latency through the
burst."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

_COLUMNS = ("transport", "feed", "code", "phase", "p50 µs", "p99 µs", "p99.9 µs", "max µs",
            "drops", "stale µs", "MB on the wire", "host core busy")


def _us(v: float | None) -> str:
    return "–" if v is None else f"{v:,.1f}" if v < 100 else f"{v:,.0f}"


def table_rows(result: dict[str, Any]) -> list[list[str]]:
    """The rows of the table, as strings, in the result's order."""
    out = []
    for r in result["rows"]:
        cpu = r.get("cpu") or {}
        busy = sum(cpu.get(k, 0.0) for k in ("user", "system", "softirq"))
        out.append([r["transport"], r["feed"], r["code"], r["phase"], _us(r["p50_us"]),
                    _us(r["p99_us"]), _us(r["p999_us"]), _us(r["max_us"]), f"{r['drops']:,}",
                    _us(r["stale_us"]), f"{r['bytes'] / 1e6:,.2f}", f"{busy:.0%}"])
    return out


def markdown(result: dict[str, Any]) -> str:
    """The table as Markdown, with the line saying what differs between its rows."""
    p = result["profile"]
    lines = ["| " + " | ".join(_COLUMNS) + " |",
             "|" + "|".join("---" if i < 4 else "---:" for i in range(len(_COLUMNS))) + "|"]
    lines += ["| " + " | ".join(r) + " |" for r in table_rows(result)]
    lines.append("")
    lines.append(
        f"Rows differ in how the host receives (transport), what it receives (full-book "
        f"snapshots at depth {result['depth']} or the incremental ITCH feed) and in what code; "
        f"the venue, its day ({result['symbols']} symbols, seed {result.get('seed', 7)}), "
        f"its sender "
        f"({result['sender']}) and its pace are the same: calm {p['rate']:,.0f} msgs/s for "
        f"{p['calm_s']:g} s, a burst x{p['factor']:g} for {p['burst_s']:g} s, calm again for "
        f"{p['after_s']:g} s. Latency: the venue's send stamp -> the book; stale: the "
        f"time-weighted mean age of the oldest change sent but not yet in the book; drops: "
        f"datagrams sent that never reached the book; host core busy: user + system + "
        f"softirq of the receiving core.")
    lines += ["", split_markdown(result)]
    if result.get("skipped"):
        lines += ["", "Left out: " + "; ".join(f"{t} ({why})"
                                                for t, why in result["skipped"].items())]
    if result.get("errors"):
        lines += ["", "Failed: " + "; ".join(f"{t} ({why.splitlines()[-1] if why else ''})"
                                             for t, why in result["errors"].items())]
    return "\n".join(lines) + "\n"


def split_markdown(result: dict[str, Any]) -> str:
    """The seed's second table: each stack's median split at the receive stamp, calm and
    burst."""
    lines = ["| transport | feed | code | phase | send -> receive stamp p50 µs | "
             "receive stamp -> book p50 µs |", "|---|---|---|---|---:|---:|"]
    for r in result["rows"]:
        if r["phase"] == "after":
            continue
        lines.append(f"| {r['transport']} | {r['feed']} | {r['code']} | {r['phase']} | "
                     f"{_us(r.get('to_stamp_p50_us'))} | {_us(r.get('from_stamp_p50_us'))} |")
    lines += ["", "Up to the receive stamp: the venue's send system call, veth and the "
              "kernel's receive path (the stamp is the kernel's, or for the AF_PACKET and "
              "AF_XDP rings the frame's or the loop's). From it: the wake-up or the poll, the "
              "copy to user space, decoding and the book."]
    return "\n".join(lines)


def plots(result: dict[str, Any], where: Path) -> list[Path]:
    """Two PNGs in ``where``: each stack's latency distribution (log scale) and latency over
    the run's time around the burst. Needs the samples kept (``samples_dir``)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    where.mkdir(parents=True, exist_ok=True)
    stacks = [s for s in result["stacks"] if s.get("samples")]
    if not stacks:
        raise ValueError("no samples kept: run with samples_dir to plot")
    fig1, ax1 = plt.subplots(figsize=(9, 5))
    fig2, ax2 = plt.subplots(figsize=(9, 5))
    for s in stacks:
        data = np.load(s["samples"])
        lat = data["lat"] / 1e3
        sent = data["sent"]
        label = f"{s['transport']} / {s['feed']} / {s['code']}"
        if lat.size:
            x = np.sort(lat)
            ax1.plot(x, 1.0 - np.arange(x.size) / x.size, label=label)
            t0 = s.get("burst_start_ns") or int(sent.min())
            ax2.plot((sent - t0) / 1e9, lat, ".", markersize=1, label=label)
    ax1.set(xscale="log", yscale="log", xlabel="send stamp -> book (µs)",
            ylabel="share of datagrams slower", title="Latency, the whole run")
    ax2.set(yscale="log", xlabel="seconds from the burst's start (venue's send time)",
            ylabel="send stamp -> book (µs)", title="Latency through the burst")
    for ax in (ax1, ax2):
        ax.grid(True, which="both", alpha=0.3)
        ax.legend(fontsize=8, markerscale=8)
    out = [where / "stacks-latency.png", where / "stacks-over-time.png"]
    fig1.tight_layout()
    fig1.savefig(out[0], dpi=120)
    fig2.tight_layout()
    fig2.savefig(out[1], dpi=120)
    plt.close(fig1)
    plt.close(fig2)
    return out
