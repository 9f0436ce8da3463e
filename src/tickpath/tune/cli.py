"""``tickpath tune``: host tuning commands. Parses arguments and calls :mod:`tickpath.tune`."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table
from rich.text import Text
from typer.core import TyperCommand

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Host tuning: audit what stands between this host and a deterministic "
                       "low-latency path.")


@app.callback()
def _tune() -> None:
    """Host tuning: audit what stands between this host and a deterministic low-latency path."""


_STYLE = {"ok": "green", "warn": "yellow", "fail": "bold red", "unknown": "blue"}


class _OptionalJsonValue(TyperCommand):
    """Lets ``--json`` stand alone (JSON to stdout) or take a file: ``--json FILE``."""

    def parse_args(self, ctx, args: list[str]) -> list[str]:
        fixed: list[str] = []
        for i, a in enumerate(args):
            if a == "--":
                fixed += args[i:]
                break
            nxt = args[i + 1] if i + 1 < len(args) else None
            if a == "--json" and (nxt is None or (nxt.startswith("-") and nxt != "-")):
                a = "--json=-"
            fixed.append(a)
        return super().parse_args(ctx, fixed)


def _table(items, title: str) -> Table:
    t = Table(title=title, show_lines=True)
    t.add_column("status", no_wrap=True)
    t.add_column("item", no_wrap=True)
    t.add_column("finding (evidence dimmed)", overflow="fold")
    for it in items:
        finding = Text(it.summary)
        for e in it.evidence:
            finding.append("\n" + e, style="dim")
        t.add_row(Text(it.status.value, style=_STYLE[it.status.value]), it.id, finding)
    return t


def _remedies(console: Console, items) -> None:
    """What to do, worst first; a step already printed for an earlier item is not repeated."""
    todo = [it for it in items if it.status.value in ("fail", "warn") and it.remedy]
    todo.sort(key=lambda it: it.status.value != "fail")
    if not todo:
        return
    console.print("\n[bold]What to do[/]")
    seen: set[str] = set()
    for it in todo:
        console.print(Text.assemble((f"{it.status.value:<5} ", _STYLE[it.status.value]),
                                    (it.id, "bold")))
        steps = Table.grid(padding=(0, 1))
        steps.add_column(no_wrap=True)
        steps.add_column(overflow="fold")
        for r in it.remedy:
            if r not in seen:
                seen.add(r)
                steps.add_row("  -", r)
        if steps.row_count:
            console.print(steps)


@app.command(cls=_OptionalJsonValue)
def audit(
    root: Annotated[Path, typer.Option(help="read this tree's proc/, sys/, etc/, dev/ instead "
                                            "of the live host's")] = Path("/"),
    cores: Annotated[str | None, typer.Option(help="cores tickpath pins its stages to, as a "
                                                   "kernel CPU list: 2,3 or 2-5")] = None,
    iface: Annotated[str | None, typer.Option(help="interface the feed arrives on (default: "
                                                   "the default route's)")] = None,
    json_out: Annotated[str | None, typer.Option(
        "--json", metavar="[FILE]",
        help="JSON for machines: alone to stdout, or into FILE (the table still prints)")] = None,
) -> None:
    """Audit the host for a deterministic low-latency path (reads only, changes nothing).

    Each item is ok / warn / fail / unknown, with the evidence read and the remedy.
    Exit status: 0 when nothing failed, 1 when any item failed, 2 on usage errors.
    """
    from .audit import audit as run_audit
    from .audit import counts, worst

    if not root.is_dir():
        raise typer.BadParameter(f"not a directory: {root}", param_hint="--root")
    try:
        items = run_audit(root, cores=cores, iface=iface)
    except ValueError as e:
        raise typer.BadParameter(str(e), param_hint="--cores") from None
    doc = [it.to_dict() for it in items]
    if json_out == "-":
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")
    else:
        if json_out is not None:
            try:
                Path(json_out).write_text(json.dumps(doc, indent=2) + "\n")
            except OSError as e:
                raise typer.BadParameter(f"cannot write {json_out}: {e.strerror}",
                                         param_hint="--json") from None
        console = Console()
        scope = f"cores {cores}" if cores else "no cores given"
        console.print(_table(items, f"host audit of {root} ({scope}"
                                    f"{f', iface {iface}' if iface else ''})"))
        _remedies(console, items)
        n = counts(items)
        console.print(" · ".join(f"[{_STYLE[k]}]{v} {k}[/]" for k, v in n.items()))
    if worst(items) == "fail":
        raise typer.Exit(1)


@app.command(cls=_OptionalJsonValue)
def jitter(
    seconds: Annotated[float, typer.Option(help="how long to spin on each core")] = 5.0,
    cores: Annotated[str | None, typer.Option(help="cores to measure one after the other, as a "
                                                   "kernel CPU list: 0,1 or 2-5 (default: each "
                                                   "core this process may run on)")] = None,
    threshold_ns: Annotated[int, typer.Option(help="a gap between two clock reads longer than "
                                                   "this is an interruption")] = 1000,
    clock: Annotated[str, typer.Option(help="auto (the TSC when invariant), tsc or "
                                            "monotonic")] = "auto",
    json_out: Annotated[str | None, typer.Option(
        "--json", metavar="[FILE]",
        help="JSON for machines: alone to stdout, or into FILE (the table still prints)")] = None,
) -> None:
    """Spin a compiled loop reading the clock on each core and report what the OS and the
    hypervisor take from it: interruptions, their share of time, the worst, a histogram."""
    from .host import parse_cpulist
    from .jitter import host_facts, jitter_table, measure_cores

    try:
        chosen = None if cores is None else sorted(parse_cpulist(cores))
    except ValueError as e:
        raise typer.BadParameter(str(e), param_hint="--cores") from None
    err = Console(stderr=True)
    try:
        reports = measure_cores(chosen, seconds, threshold_ns, clock=clock,
                                on_core=lambda c: err.print(f"[dim]spinning on core {c} for "
                                                            f"{seconds:g} s[/]"))
    except (ValueError, TypeError) as e:
        msg = str(e)
        hint = next((h for k, h in (("seconds", "--seconds"), ("threshold", "--threshold-ns"),
                                    ("clock", "--clock"), ("TSC", "--clock"))
                     if k in msg), "--cores")
        raise typer.BadParameter(msg, param_hint=hint) from None
    doc = {"host": host_facts(), "runs": [r.as_dict() for r in reports]}
    if json_out == "-":
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")
        return
    if json_out is not None:
        try:
            Path(json_out).write_text(json.dumps(doc, indent=2) + "\n")
        except OSError as e:
            raise typer.BadParameter(f"cannot write {json_out}: {e.strerror}",
                                     param_hint="--json") from None
    console = Console()
    console.print(jitter_table(reports))
    console.print("[dim]lengths include one clock read; p99.9 and max carry the VM's stalls "
                  "where this runs under a hypervisor[/]")
