"""``tickpath research replay FILES... --out DIR``: runs :func:`replay_days` with one progress
bar over all files and prints a table per file.

Returns an exit code rather than raising, so the command line stays a thin parser: 0 every
file written, 1 a file failed after its retries (named, with its error; the others are
written), 2 a bad argument (nothing started).
"""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import nullcontext
from pathlib import Path

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from .research import SUMMARY, DayResult, ResearchPlanError, ResearchReport, replay_days


def research_replay_command(files: Sequence[Path], out: Path, tables: tuple[str, ...],
                            workers: int | None, address: str | None, retries: int,
                            show_progress: bool, console: Console, err: Console) -> int:
    """Replay ``files`` on Ray into ``out`` and print the report; returns the exit code."""
    bar = (Progress("[progress.description]{task.description}", BarColumn(),
                    MofNCompleteColumn(), TextColumn("days"),
                    TextColumn("{task.fields[messages]:,} messages"), TimeElapsedColumn(),
                    console=err, transient=False)
           if show_progress else None)
    state = {"messages": 0, "done": 0}
    task = None

    def on_day(d: DayResult) -> None:
        state["done"] += 1
        state["messages"] += d.messages
        if bar is not None:
            bar.update(task, completed=state["done"], messages=state["messages"])
        if not d.ok:
            err.print(f"[red]failed:[/] {d.file}: {d.error}", soft_wrap=True, highlight=False)

    def on_retry(d: DayResult) -> None:
        err.print(f"[yellow]retrying[/] {d.file} (attempt {d.attempts + 1} of "
                  f"{retries + 1}): {d.error}", soft_wrap=True, highlight=False)

    try:
        with bar if bar is not None else nullcontext():
            if bar is not None:
                task = bar.add_task(f"replay on Ray into {out}", total=len(files), messages=0)
            rep = replay_days(files, out, tables=tables, workers=workers, address=address,
                              retries=retries, on_day=on_day, on_retry=on_retry)
    except ResearchPlanError as e:
        err.print(f"[red]error:[/] {e}", soft_wrap=True, highlight=False)
        return 2
    _print_report(rep, console)
    for d in rep.failed:
        err.print(f"[red]error:[/] {d.file} failed after {d.attempts} attempt(s): {d.error}; "
                  f"nothing written for it", soft_wrap=True, highlight=False)
    return 1 if rep.failed else 0


def _print_report(rep: ResearchReport, console: Console) -> None:
    t = Table(title=f"{len(rep.days)} days into {rep.out}/")
    # names whole, never cut: they are what a reader looks for
    t.add_column("file", no_wrap=True, min_width=max(len(Path(d.file).name) for d in rep.days))
    t.add_column("messages", justify="right")
    t.add_column("M msg/s", justify="right")
    for name in rep.tables:
        t.add_column(f"{name} rows", justify="right")
    t.add_column("")
    for d in rep.days:
        if d.ok:
            rows = [f"{d.rows.get(name, 0):,}" for name in rep.tables]
            t.add_row(Path(d.file).name, f"{d.messages:,}", f"{d.msgs_per_s / 1e6:.2f}", *rows,
                      f"{d.stem}/" + (f" ({d.attempts} attempts)" if d.attempts > 1 else ""))
        else:
            t.add_row(Path(d.file).name, "-", "-", *["-"] * len(rep.tables),
                      "[red]failed[/]")
    console.print(t)
    where = rep.address or f"a local Ray, {rep.workers} worker(s)"
    console.print(f"{len(rep.days) - len(rep.failed)} of {len(rep.days)} days, "
                  f"{rep.messages:,} messages in {rep.seconds:.2f} s on {where}: "
                  f"[bold]{rep.msgs_per_s / 1e6:.2f} M msg/s[/] in all (Ray started in "
                  f"{rep.ray_start_seconds:.1f} s); wrote {rep.out / SUMMARY}")
