"""``tickpath replay FILE.dbn[.zst]``: runs :func:`replay_dbn` and prints what it found.

Returns an exit code rather than raising, so the command line stays a thin parser: 0 done,
1 the file could not be replayed (one line saying why and where), 2 a bad argument.
"""

from __future__ import annotations

from pathlib import Path

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from ..codec.dbn import DbnError
from ..feed.dbn import DbnBookError, DbnLevelBooks, DbnMboFeed
from .dbn_replay import replay_dbn, write_books_atomic

ACTION_NAMES = {"A": "add", "C": "cancel", "M": "modify", "R": "clear book", "T": "trade",
                "F": "fill", "N": "none"}


def _px(p: int) -> str:
    return f"{p / 1e9:,.9f}".rstrip("0").rstrip(".")


def replay_dbn_command(file: Path, books_json: Path | None, depth: int | None,
                       symbol: str | None, errors: str, max_orders: int, show_progress: bool,
                       definitions: Path | None, console: Console, err: Console) -> int:
    """Replay ``file`` and print the report; returns the exit code."""
    if errors not in ("raise", "skip"):
        err.print("[red]error:[/] " + escape(f"--errors must be raise or skip, not {errors!r}"))
        return 2
    for p in (file, definitions):
        if p is not None and not p.is_file():
            why = "is not a file" if p.exists() else "does not exist"
            err.print(f"[red]error:[/] {escape(str(p))} {why}", soft_wrap=True)
            return 2
    try:
        if show_progress:
            from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn

            with Progress("[progress.description]{task.description}", BarColumn(),
                          DownloadColumn(), TimeRemainingColumn(), console=err) as bar:
                task = bar.add_task(f"replay {escape(file.name)}",
                                    total=file.stat().st_size)
                feed, rep, symbols = replay_dbn(
                    file, errors=errors, max_orders=max_orders, definitions=definitions,
                    progress=lambda d, t: bar.update(task, completed=d))
        else:
            feed, rep, symbols = replay_dbn(file, errors=errors, max_orders=max_orders,
                                            definitions=definitions)
    except DbnError as e:
        err.print("[red]error:[/] " + escape(str(e)), soft_wrap=True, highlight=False)
        return 1
    except (DbnBookError, ValueError, OSError) as e:
        err.print("[red]error:[/] " + escape(f"{file}: {e}"), soft_wrap=True, highlight=False)
        return 1
    c = rep.counters
    kind = "zstd" if rep.compressed else "plain"
    console.print(f"{escape(rep.dataset)} {rep.schema} (DBN v{rep.version}, {kind}): {rep.records:,} "
                  f"records in {rep.seconds:.2f} s: [bold]{rep.records_per_s / 1e6:.2f} M "
                  "records/s[/] (includes compile on a cold cache)")
    if rep.counts_by_action:
        t = Table(title="records by action")
        for col in ("action", "name", "count"):
            t.add_column(col, justify="right" if col == "count" else "left")
        for a, n in sorted(rep.counts_by_action.items(), key=lambda kv: -kv[1]):
            t.add_row(a, ACTION_NAMES.get(a, "?"), f"{n:,}")
        console.print(t)
    if rep.other_records:
        console.print("other records passed over: " + ", ".join(
            f"{k} {n:,}" for k, n in rep.other_records.items()))
    if rep.schema == "definition":
        console.print(f"{rep.definitions:,} instrument definitions, {len(symbols):,} symbols; "
                      "no books: a definition file names instruments")
    else:
        console.print(f"events (F_LAST) {c['events']:,}, snapshot records "
                      f"{c['snapshot_records']:,}, trades {c['trades']:,}, fills "
                      f"{c['fills']:,}, instruments {c['instruments']:,}")
    if isinstance(feed, DbnMboFeed):
        console.print(f"books: {c['instruments_with_orders']:,} instruments with live orders, "
                      f"{c['live_orders']:,} live orders, {c['live_levels']:,} levels (peak "
                      f"{c['max_live_orders']:,} orders); book changes {c['book_changes']:,}, "
                      f"refused {c['refused']:,}; modifies that lost their place "
                      f"{c['priority_lost']:,}, kept it {c['priority_kept']:,}, of unknown "
                      f"orders (taken as adds) {c['modify_as_add']:,}")
        for r in feed.rejections[:3]:
            console.print(f"  refused: {escape(str(r))}", soft_wrap=True, highlight=False)
    elif isinstance(feed, DbnLevelBooks):
        console.print(f"books: {c['instruments_with_levels']:,} instruments with levels, "
                      f"{c['live_levels']:,} levels ({feed.depth} a side at most)")
    elif rep.schema == "trades":
        console.print("no books: a trades file carries no book")
    books = feed.book_list(depth) if feed is not None else []
    if books_json is not None:
        if rep.books:
            try:
                n = write_books_atomic(books, books_json)
            except OSError as e:
                err.print("[red]error:[/] " + escape(f"cannot write the books to {books_json}: "
                                                     f"{e.strerror or e}"),
                          soft_wrap=True, highlight=False)
                return 1
            console.print(f"wrote {n:,} books to {escape(str(books_json))}")
        else:
            console.print(f"no books written to {escape(str(books_json))}: schema "
                          f"{rep.schema} holds none")
    if symbol is not None:
        hit = [b for b in books if b["symbol"] == symbol or str(b["instrument_id"]) == symbol]
        if not hit:
            known = [i for i, s in symbols.items() if s == symbol or str(i) == symbol]
            if rep.schema == "definition" and known:
                console.print(escape(f"{symbol}: instrument_id {known[0]}, symbol "
                                     f"{symbols[known[0]]}"))
                return 0
            err.print("[red]error:[/] " + escape(f"no book for {symbol!r} in {file}"))
            return 1
        b = hit[0]
        t = Table(title=escape(f"{b['symbol'] or b['instrument_id']} (instrument "
                               f"{b['instrument_id']}, publisher {b['publisher_id']})"))
        for col in ("bid orders", "bid size", "bid", "ask", "ask size", "ask orders"):
            t.add_column(col, justify="right")
        bids, asks = b["bids"], b["asks"]
        for i in range(max(len(bids), len(asks))):
            x = bids[i] if i < len(bids) else None
            y = asks[i] if i < len(asks) else None
            t.add_row(*(f"{x[2]:,}", f"{x[1]:,}", _px(x[0])) if x else ("", "", ""),
                      *(_px(y[0]), f"{y[1]:,}", f"{y[2]:,}") if y else ("", "", ""))
        console.print(t)
    return 0
