"""The ``tickpath`` command. Parses arguments and calls owners; no logic of its own."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NamedTuple

import typer
from rich.console import Console

if TYPE_CHECKING:
    from .venue.faults import FaultPlan
from rich.table import Table

app = typer.Typer(add_completion=False, no_args_is_help=True,
                  help="Low-latency market data: ITCH 5.0 over MoldUDP64, exact books, a venue "
                       "simulator, replay and live listening.")
console = Console()
err = Console(stderr=True)


def _dollars(price: int | None) -> str:
    return "-" if price is None else f"{price / 10_000:,.4f}"


def _print_book(book: dict, depth: int | None) -> None:
    t = Table(title=f"{book['symbol'] or '?'} (locate {book['locate']})")
    for c in ("bid orders", "bid shares", "bid", "ask", "ask shares", "ask orders"):
        t.add_column(c, justify="right")
    bids, asks = book["bids"], book["asks"]
    rows = max(len(bids), len(asks))
    if depth is not None:
        rows = min(rows, depth)
    for i in range(rows):
        b = bids[i] if i < len(bids) else None
        a = asks[i] if i < len(asks) else None
        t.add_row(
            str(b[2]) if b else "", f"{b[1]:,}" if b else "", _dollars(b[0]) if b else "",
            _dollars(a[0]) if a else "", f"{a[1]:,}" if a else "", str(a[2]) if a else "",
        )
    console.print(t)


def _counts_table(counts: dict[str, int]) -> Table:
    from .codec.itch50.layout import MESSAGES

    t = Table(title="messages by type")
    t.add_column("type")
    t.add_column("name")
    t.add_column("count", justify="right")
    for k, v in sorted(counts.items(), key=lambda kv: -kv[1]):
        t.add_row(k, MESSAGES[k].name if k in MESSAGES else "?", f"{v:,}")
    return t


@app.command()
def replay(
    file: Annotated[Path, typer.Argument(help="itch: NASDAQ binary ITCH 5.0 file (plain or .gz); mdp3: a pcap/pcapng capture; lobster: a LOBSTER ..._message_LEVEL.csv (its _orderbook_ pair beside it seeds the first book); dbn: a Databento .dbn or .dbn.zst file")],
    books_json: Annotated[Path | None, typer.Option(help="write final books as JSON lines")] = None,
    depth: Annotated[int | None, typer.Option(help="levels per side in output (default all)")] = None,
    symbol: Annotated[str | None, typer.Option(help="print this instrument's book (itch, dbn, mdp3: symbol or SecurityID)")] = None,
    errors: Annotated[str | None, typer.Option(help="raise: stop at the first bad message; skip: count it and go on (itch: after a damaged block, resume where the message boundaries are found again, and report the bytes lost) (default: raise for itch, lobster and dbn; skip for mdp3)")] = None,
    max_orders: Annotated[int, typer.Option(help="itch, dbn: live orders the books can hold")] = 1 << 22,
    progress: Annotated[bool, typer.Option(help="progress bar on a terminal")] = True,
    feed: Annotated[str, typer.Option(help="itch | mdp3 (CME MDP 3.0 over SBE) | lobster (LOBSTER CSV; the default for a name with _message_) | dbn (Databento DBN; found by itself from .dbn/.dbn.zst or the content)")] = "itch",
    port: Annotated[int, typer.Option(help="mdp3: take only datagrams to this UDP port, one line of the channel (0: every datagram)")] = 0,
    late_join: Annotated[str, typer.Option(help="mdp3: an instrument first seen mid-session starts from its first message (natural) or waits for a snapshot (snapshot)")] = "natural",
    book: Annotated[str, typer.Option(help="mdp3: which books to write: outright | implied | merged | orders (order-by-order, aggregated)")] = "outright",
    definitions: Annotated[Path | None, typer.Option(help="dbn: symbols for instrument ids from this DBN definition file")] = None,
    parquet: Annotated[Path | None, typer.Option(help="itch: write the day as Parquet into this new directory (top of book, trades and instruments; events with --parquet-tables; docs/parquet.md)")] = None,
    parquet_tables: Annotated[str, typer.Option(help="with --parquet: the row tables to write, comma-separated, of events, top, trades (or all); instruments.parquet is always written. events (one row per book message) costs the most: see BENCHMARKS.md")] = "top,trades",
) -> None:
    """Replay a binary ITCH 5.0 file, a CME MDP 3.0 capture, a LOBSTER message file or a
    Databento DBN file (.dbn, .dbn.zst: found by its name or content) through the decoder and
    books."""
    if feed == "itch" and "_message_" in file.name and file.suffix == ".csv":
        feed = "lobster"
    elif feed == "itch" and _is_dbn(file):
        feed = "dbn"
    tables = _parquet_tables(parquet, parquet_tables, feed)
    if feed == "lobster":
        _replay_lobster(file, books_json, depth, errors or "raise")
        return
    if feed == "mdp3":
        _replay_mdp3(file, books_json, depth, symbol, errors or "skip", port, late_join, book)
        return
    if feed == "dbn":
        from .apps.dbn_report import replay_dbn_command

        code = replay_dbn_command(file, books_json, depth, symbol, errors or "raise",
                                  max_orders, progress and console.is_terminal, definitions,
                                  console, err)
        if code:
            raise typer.Exit(code)
        return
    if feed != "itch":
        err.print(f"[red]error:[/] --feed must be itch, mdp3, lobster or dbn, not {feed!r}")
        raise typer.Exit(2)
    errors = errors or "raise"
    from rich.progress import BarColumn, DownloadColumn, Progress, TimeRemainingColumn

    from .apps.replay import replay as run_replay
    from .book.export import write_books_json
    from .feed.itch import ItchError

    if not file.exists():
        err.print(f"[red]error:[/] {file} does not exist")
        raise typer.Exit(2)
    from rich.markup import escape

    out: dict = {}
    dir_errors: tuple[type[Exception], ...] = ()  # pyarrow is imported only for --parquet
    if parquet is not None:
        from .parquet import ParquetDirError, check_target

        dir_errors = (ParquetDirError,)
        try:
            check_target(parquet)
        except ParquetDirError as e:
            err.print(f"[red]error:[/] {escape(str(e))}", soft_wrap=True)  # paths whole
            raise typer.Exit(2) from e
        out = {"parquet": parquet, "parquet_tables": tables}
    show = progress and console.is_terminal
    try:
        if show:
            with Progress("[progress.description]{task.description}", BarColumn(),
                          DownloadColumn(), TimeRemainingColumn(), console=err) as bar:
                task = bar.add_task(f"replay {file.name}", total=file.stat().st_size)
                handler, rep = run_replay(file, errors=errors, max_orders=max_orders,
                                          progress=lambda d, t: bar.update(task, completed=d),
                                          **out)
        else:
            handler, rep = run_replay(file, errors=errors, max_orders=max_orders, **out)
    except OSError as e:  # a Parquet file that could not be written: the message names it
        err.print(f"[red]error:[/] {escape(str(e))}", soft_wrap=True)
        raise typer.Exit(1) from e
    except dir_errors as e:  # the target filled while the replay ran: not the input's
        err.print(f"[red]error:[/] {escape(str(e))}", soft_wrap=True)
        raise typer.Exit(1) from e
    except (ItchError, ValueError) as e:
        err.print(f"[red]error:[/] {escape(f'{file}: {e}')}", soft_wrap=True)
        raise typer.Exit(1) from e
    console.print(f"{rep.messages:,} messages in {rep.seconds:.2f} s: "
                  f"[bold]{rep.msgs_per_s / 1e6:.2f} M msg/s[/] (before it, loading the compiled "
                  f"code: {rep.startup_s:.2f} s; a cold cache compiles it then)")
    console.print(_counts_table(rep.counts_by_type))
    st = rep.book_stats
    console.print(f"books: {st['instruments_with_orders']:,} instruments with live orders, "
                  f"{st['live_orders']:,} live orders, {st['live_levels']:,} levels "
                  f"(peak {st['max_live_orders']:,} orders); rejected {st['rejected']:,}, "
                  f"malformed {rep.malformed:,}; locked updates {st['locked_updates']:,}, "
                  f"crossed updates {st['crossed_updates']:,}")
    if rep.lost_ranges:
        lo, hi = rep.lost_messages
        about = f"{lo:,}" if lo == hi else f"{lo:,} to {hi:,}"
        where = ", ".join(f"{r.offset:,}-{r.resumed:,} ({r.reason})" for r in rep.lost[:5])
        more = f" and {rep.lost_ranges - 5:,} more" if rep.lost_ranges > 5 else ""
        console.print(f"[yellow]lost {rep.lost_bytes:,} bytes (about {about} messages) in "
                      f"{rep.lost_ranges:,} place(s)[/], decoding resumed where the message "
                      f"boundaries were found again: bytes {where}{more}")
    if rep.end_of_session:
        console.print("the file ends with the end-of-session marker")
    if rep.parquet is not None:
        rows = ", ".join(f"{t} {n:,} rows" for t, n in rep.parquet_rows.items())
        console.print(f"wrote Parquet to {rep.parquet}/: {rows}, instruments, _meta.json")
    if books_json is not None:
        n = write_books_json(handler.books.books(depth), books_json)
        console.print(f"wrote {n:,} books to {books_json}")
    if symbol is not None:
        try:
            _print_book(handler.books.depth(symbol, depth), depth)
        except KeyError as e:
            err.print(f"[red]error:[/] {e.args[0]}")
            raise typer.Exit(1) from e


def _replay_lobster(file: Path, books_json: Path | None, depth: int | None, errors: str) -> None:
    """``tickpath replay --feed lobster``: a LOBSTER message file into the books."""
    from rich.markup import escape

    from .apps.lobster import replay_lobster, write_books_json_atomic
    from .book import BookError
    from .codec.lobster import LobsterError

    try:
        h, rep = replay_lobster(file, errors=errors)
    except (LobsterError, BookError, ValueError, OSError) as e:
        err.print("[red]error:[/] " + escape(str(e)), soft_wrap=True)  # paths whole, never cut
        raise typer.Exit(1) from None
    c = rep.counters
    seed = (f"first book and levels coming into view from {escape(str(rep.orderbook_path))}"
            if rep.orderbook_path else "no orderbook file beside it: the books start empty")
    console.print(f"{rep.rows:,} LOBSTER rows in {rep.seconds:.2f} s ({seed})")
    console.print("rows by type: " + ", ".join(f"{t}: {n:,}" for t, n in
                                                 rep.counts_by_type.items()))
    console.print(f"seeded levels {c['seeded_levels']:,}, levels set as they came into view "
                  f"{c['reveals']:,}, unknown orders found on seeded levels "
                  f"{c['seed_hits']:,}, found nowhere {c['unknown']:,} "
                  f"({c['unknown_shares']:,} shares; rows {rep.unknown_rows[:5]}), refused "
                  f"{c['refused']:,}")
    if books_json is not None:
        book = h.depth(depth)
        try:
            n = write_books_json_atomic([book] if book["bids"] or book["asks"] else [],
                                        books_json)
        except OSError as e:
            err.print("[red]error:[/] " + escape(f"cannot write the books to {books_json}: "
                                                 f"{e.strerror or e}"), soft_wrap=True)
            raise typer.Exit(1) from None
        console.print(f"wrote {n:,} books to {escape(str(books_json))}")


def _is_dbn(file: Path) -> bool:
    from .codec.dbn import is_dbn

    return is_dbn(file)


def _parquet_tables(parquet: Path | None, names: str, feed: str) -> tuple[str, ...]:
    """``--parquet-tables`` as a tuple of table names; exit 2 naming what is wrong."""
    from .apps.replay import ALL_PARQUET_TABLES as known

    want = [x.strip() for x in names.split(",") if x.strip()]
    if want == ["all"]:
        want = list(known)
    bad = [x for x in want if x not in known]
    if bad or not want:
        err.print(f"[red]error:[/] --parquet-tables takes a comma-separated list of "
                  f"{', '.join(known)} (or all), not {names!r}")
        raise typer.Exit(2)
    if parquet is not None and feed != "itch":
        err.print(f"[red]error:[/] --parquet is written for --feed itch; {feed} is not "
                  "supported yet")
        raise typer.Exit(2)
    return tuple(want)


def _replay_mdp3(file: Path, books_json: Path | None, depth: int | None, symbol: str | None,
                 errors: str, port: int, late_join: str, which: str) -> None:
    """``tickpath replay --feed mdp3``: a capture through the MDP3 handler and books."""
    from .apps.mdp3_replay import replay_mdp3
    from .book.export import MDP3_KEYS, write_books_json
    from .feed.mdp3 import Mdp3Error

    if which not in ("outright", "implied", "merged", "orders"):
        err.print(f"[red]error:[/] --book must be outright, implied, merged or orders, not "
                  f"{which!r}")
        raise typer.Exit(2)
    if not file.exists():
        err.print(f"[red]error:[/] {file} does not exist")
        raise typer.Exit(2)
    try:
        fd, rep = replay_mdp3(file, port=port, errors=errors, late_join=late_join)
    except (Mdp3Error, ValueError) as e:
        err.print(f"[red]error:[/] {file}: {e}")
        raise typer.Exit(1) from e
    c = rep.counters
    console.print(f"{rep.messages:,} messages in {rep.datagrams:,} datagrams, {rep.seconds:.2f} s "
                  f"([bold]{rep.msgs_per_s / 1e6:.2f} M msg/s[/])")
    console.print(f"packets {c['packets']:,} (duplicates from the other line {c['duplicates']:,}), "
                  f"gaps {c['gaps']:,} ({c['gap_packets']:,} packets), RptSeq gaps "
                  f"{c['rpt_gaps']:,}, snapshots applied {c['snapshots']:,}, recoveries "
                  f"{c['recoveries']:,} (stale {c['recovery_ns'] / 1e6:,.1f} ms in all), stale "
                  f"now {c['stale_now']:,}")
    console.print(f"instruments {c['instruments']:,}, book entries {c['entries']:,}, order "
                  f"entries {c['order_entries']:,}, trades {c['trades']:,}; malformed "
                  f"{c['malformed']:,}, unknown templates {c['unknown_templates']:,}, other "
                  f"schema {c['foreign']:,}, refused entries {c['refused']:,}")
    books = fd.order_books() if which == "orders" else fd.books(which)
    if depth is not None:
        for b in books:
            b["bids"], b["asks"] = b["bids"][:depth], b["asks"][:depth]
    if books_json is not None:
        n = write_books_json(books, books_json, MDP3_KEYS)
        console.print(f"wrote {n:,} books to {books_json}")
    if symbol is not None:
        hit = [b for b in books if b["symbol"] == symbol or str(b["security_id"]) == symbol]
        if not hit:
            err.print(f"[red]error:[/] no instrument {symbol!r} in {file}")
            raise typer.Exit(1)
        t = Table(title=f"{hit[0]['symbol'] or hit[0]['security_id']} ({which}; prices are "
                        f"mantissas, exponent {fd.price_exponent})")
        for col in ("bid orders", "bid qty", "bid", "ask", "ask qty", "ask orders"):
            t.add_column(col, justify="right")
        bids, asks = hit[0]["bids"], hit[0]["asks"]
        for i in range(max(len(bids), len(asks))):
            b = bids[i] if i < len(bids) else None
            a = asks[i] if i < len(asks) else None
            t.add_row(*(f"{b[2]:,}", f"{b[1]:,}", f"{b[0]}") if b else ("", "", ""),
                      *(f"{a[0]}", f"{a[1]:,}", f"{a[2]:,}") if a else ("", "", ""))
        console.print(t)


lobster_app = typer.Typer(no_args_is_help=True,
                          help="LOBSTER (lobsterdata.com) message/orderbook CSV pairs.")
app.add_typer(lobster_app, name="lobster")


@lobster_app.command("check")
def lobster_check(
    message: Annotated[Path, typer.Argument(help="TICKER_DATE_START_END_message_LEVEL.csv")],
    orderbook: Annotated[Path, typer.Argument(help="TICKER_DATE_START_END_orderbook_LEVEL.csv")],
    show: Annotated[int, typer.Option(help="mismatches to print")] = 10,
) -> None:
    """Replay MESSAGE into the books and compare them after every row with ORDERBOOK's row
    (all its levels, both sides). Exit 0 when every row matches, 1 otherwise."""
    from rich.markup import escape

    from .apps.lobster import check_pair
    from .codec.lobster import LobsterError

    try:
        h, rep = check_pair(message, orderbook, max_mismatches=max(show, 1))
    except (LobsterError, ValueError, OSError) as e:
        err.print("[red]error:[/] " + escape(str(e)), soft_wrap=True)  # paths whole, never cut
        raise typer.Exit(1) from None
    c = rep.counters
    console.print(f"{c['rows_checked']:,} rows checked ({rep.levels} levels a side) in "
                  f"{rep.seconds:.2f} s: {c['mismatch_rows']:,} rows differ "
                  f"({c['mismatch_cells']:,} level-sides)")
    console.print(f"seeded levels {c['seeded_levels']:,}, levels set as they came into view "
                  f"{c['reveals']:,}, unknown orders found on seeded levels "
                  f"{c['seed_hits']:,}, found nowhere {c['unknown']:,}, refused "
                  f"{c['refused']:,}")
    for e in rep.refused_rows[:show]:
        console.print("refused: " + escape(str(e)), soft_wrap=True)
    if rep.mismatches:
        t = Table(title=f"first {min(show, len(rep.mismatches))} mismatches")
        for col in ("row", "level", "side", "expected price", "expected size", "got price",
                    "got size"):
            t.add_column(col, justify="right")
        for m in rep.mismatches[:show]:
            t.add_row(f"{m.row:,}", str(m.level), m.side, str(m.expected[0]),
                      f"{m.expected[1]:,}", str(m.got[0]), f"{m.got[1]:,}")
        console.print(t)
    if not rep.ok:
        raise typer.Exit(1)
    console.print("[green]every row matches[/]")


@app.command()
def sim(
    messages: Annotated[int, typer.Option(help="messages to generate")] = 1_000_000,
    symbols: Annotated[int, typer.Option(help="instruments")] = 500,
    seed: Annotated[int, typer.Option(help="random seed (same seed, same stream)")] = 1,
    write: Annotated[Path | None, typer.Option(help="write a NASDAQ binary file (.gz compresses)")] = None,
    pcap: Annotated[Path | None, typer.Option(help="write a pcap of MoldUDP64 packets")] = None,
    rate: Annotated[float | None, typer.Option(help="publish rate, msgs/s (default: as fast as possible)")] = None,
    host: Annotated[str | None, typer.Option(help="publish to this address (unicast or multicast group; default 127.0.0.1; mdp3: line A, and in a pcap 224.0.31.1)")] = None,
    port: Annotated[int | None, typer.Option(help="UDP port (default: itch 26400, mdp3 14310)")] = None,
    session: Annotated[str | None, typer.Option(help="MoldUDP64 session name (default: itch over UDP, a new one at every start, 'T' and the start time in base 36, as a restarted venue needs: docs/venue-recovery.md; a file or pcap, and mdp3: TICKPATH01)")] = None,
    iface_ip: Annotated[str | None, typer.Option(help="multicast: send from this interface address")] = None,
    max_payload: Annotated[int, typer.Option(help="largest MoldUDP64 packet in bytes (64: one message a packet)")] = 1400,
    sender: Annotated[str, typer.Option(help="socket | sendto | sendmmsg | packet | xdp | dpdk (docs/transports.md, Send path)")] = "sendmmsg",
    iface: Annotated[str | None, typer.Option(help="packet/xdp sender: the interface (default: from --iface-ip or the route)")] = None,
    dst_mac: Annotated[str | None, typer.Option(help="packet/xdp sender, unicast: the next hop's MAC (default: the neighbour table)")] = None,
    feed: Annotated[str, typer.Option(help="itch: NASDAQ ITCH 5.0 over MoldUDP64 (equities) | mdp3: CME MDP 3.0 futures, an index future on the equities' basket (docs/mdp3-venue.md)")] = "itch",
    host_b: Annotated[str | None, typer.Option(help="mdp3: line B's address (default: line A's; in a pcap 224.0.32.1)")] = None,
    port_b: Annotated[int | None, typer.Option(help="mdp3: line B's port (default: line A's; in a pcap 15310)")] = None,
    snapshot_host: Annotated[str | None, typer.Option(help="mdp3: the snapshot loop's address (default: line A's; in a pcap 224.0.31.22)")] = None,
    snapshot_port: Annotated[int | None, typer.Option(help="mdp3: the snapshot loop's port (default: line A's; in a pcap 14320)")] = None,
    snapshot_every: Annotated[int, typer.Option(help="mdp3: a snapshot loop after every N incremental packets (0: none)")] = 1000,
    equity_messages: Annotated[int | None, typer.Option(help="mdp3: ITCH messages of the equity day the index future follows (default: --messages)")] = None,
    drop_a: Annotated[str, typer.Option(help="mdp3 pcap: MsgSeqNums left out of line A, comma-separated")] = "",
    drop_b: Annotated[str, typer.Option(help="mdp3 pcap: MsgSeqNums left out of line B, comma-separated")] = "",
    gap: Annotated[str | None, typer.Option(help="mdp3 pcap: FIRST:LAST MsgSeqNums left out of both lines (recovered from the snapshot loop)")] = None,
    orders_port: Annotated[int | None, typer.Option(help="live: take OUCH 5.0 orders over SoupBinTCP 3.0 on this TCP port (itch: the equities; mdp3: the futures, docs/venue-orders.md)")] = None,
    orders_host: Annotated[str, typer.Option(help="order entry: the address to listen on")] = "127.0.0.1",
    account: Annotated[list[str] | None, typer.Option(help="order entry: an account USER:PASS (repeat for more)")] = None,
    duration: Annotated[float | None, typer.Option(help="order entry: serve this many seconds (default: until the day's messages are published)")] = None,
    quiet: Annotated[bool, typer.Option(help="order entry: publish the opening book, then only what client orders cause (needs --duration)")] = False,
    client_timeout: Annotated[float, typer.Option(help="order entry: drop a client silent this many seconds")] = 15.0,
    line_b: Annotated[str | None, typer.Option(help="itch, live: send every packet to line B at HOST:PORT too, the same bytes (sender socket, sendto or sendmmsg; docs/venue-recovery.md)")] = None,
    retransmit_port: Annotated[int | None, typer.Option(help="itch, live: answer MoldUDP64 re-requests on this UDP port (0: any; docs/venue-recovery.md)")] = None,
    retransmit_host: Annotated[str, typer.Option(help="re-requests and snapshots: the address to listen on")] = "127.0.0.1",
    history_keep: Annotated[int, typer.Option(help="re-requests: the most recent messages kept to answer from")] = 1_000_000,
    linger: Annotated[float, typer.Option(help="after the end of session, keep answering re-requests and snapshot requests this many seconds (End of Session repeated meanwhile)")] = 0.0,
    glimpse_port: Annotated[int | None, typer.Option(help="itch, live: serve GLIMPSE 5.0-style snapshots (SoupBinTCP) on this TCP port (0: any; docs/venue-recovery.md)")] = None,
    faults_a: Annotated[str | None, typer.Option(help="itch, live: faults on line A, e.g. loss=0.01,reorder=0.01,depth=3,duplicate=0.001,blackout=FIRST:LAST,seed=7 (docs/venue-recovery.md)")] = None,
    faults_b: Annotated[str | None, typer.Option(help="itch, live: faults on line B (as --faults-a)")] = None,
    snapshot_feed: Annotated[str | None, typer.Option(help="itch, live: publish the Book Snapshot feed to HOST:PORT too: after each book change, the instrument's top levels (docs/snapshot-feed.md)")] = None,
    snapshot_depth: Annotated[int, typer.Option(help="snapshot feed: levels a side (1..64)")] = 10,
    full_snapshots: Annotated[str | None, typer.Option(help="mdp3, live: publish the full-snapshot channel to HOST:PORT too: after every step, a SnapshotFullRefresh52 of each instrument it changed (docs/mdp3-snapshots.md)")] = None,
) -> None:
    """Run the venue simulator: publish over UDP, or write a file / pcap; with --orders-port,
    also take orders over OUCH 5.0 / SoupBinTCP 3.0; with --retransmit-port, answer
    MoldUDP64 re-requests; with --glimpse-port, serve snapshots; with --line-b, publish line B
    too; with --snapshot-feed, publish the Book Snapshot feed beside the ITCH feed; with
    --feed mdp3 --full-snapshots, the futures full-snapshot channel beside the MDP3 lines."""
    if full_snapshots is not None and feed != "mdp3":
        err.print("[red]error:[/] --full-snapshots is for the futures venue (--feed mdp3); "
                  "the ITCH venue has --snapshot-feed")
        raise typer.Exit(2)
    full_line = None
    if full_snapshots is not None:
        try:
            full_line = _host_port(full_snapshots, "--full-snapshots")
        except ValueError as e:
            err.print(f"[red]error:[/] {e}")
            raise typer.Exit(2) from e
        if write is not None or pcap is not None:
            err.print("[red]error:[/] --full-snapshots is for the live venue: it cannot be "
                      "combined with --write or --pcap (for a pcap of the channel see "
                      "tickpath.venue.mdp3_full_publisher.write_full_snapshot_pcap)")
            raise typer.Exit(2)
    if feed != "itch" and (line_b is not None or retransmit_port is not None
                           or glimpse_port is not None or snapshot_feed is not None):
        err.print("[red]error:[/] --line-b, --retransmit-port, --glimpse-port and "
                  "--snapshot-feed are for the ITCH venue "
                  "(--feed itch); the mdp3 venue has --host-b/--port-b")
        raise typer.Exit(2)
    if feed == "mdp3":
        session = session or "TICKPATH01"
    if feed == "mdp3" and (orders_port is not None or account or full_line is not None):
        _futures_with_orders(messages, symbols, seed, rate, host, port, host_b, port_b,
                             snapshot_host, snapshot_port, snapshot_every, equity_messages,
                             session, iface_ip, max_payload, sender, orders_host, orders_port,
                             account or [], duration, quiet, client_timeout,
                             write is not None or pcap is not None, full_line)
        return
    if feed == "mdp3":
        _sim_mdp3(messages, symbols, seed, pcap, rate, host, port, iface_ip, max_payload, sender,
                  iface, dst_mac, host_b, port_b, snapshot_host, snapshot_port, snapshot_every,
                  equity_messages, drop_a, drop_b, gap, write)
        return
    if feed != "itch":
        err.print(f"[red]error:[/] --feed must be itch or mdp3, not {feed!r}")
        raise typer.Exit(2)
    from .venue import Simulator
    from .venue.faults import FaultPlan
    from .venue.publisher import UdpPublisher

    host = host or "127.0.0.1"
    port = 26400 if port is None else port
    if session is None:  # a new one per start over UDP: a receiver tells a restart from a replay
        from .venue.order_entry import new_session_name

        session = "TICKPATH01" if write is not None or pcap is not None else new_session_name()
    try:
        b_line = None if line_b is None else _host_port(line_b, "--line-b")
        snap_line = None if snapshot_feed is None else _host_port(snapshot_feed,
                                                                  "--snapshot-feed")
        from .codec.book_snapshot.layout import MAX_DEPTH

        if not 1 <= snapshot_depth <= MAX_DEPTH:
            raise ValueError(f"--snapshot-depth {snapshot_depth} is outside 1..{MAX_DEPTH}")
    except ValueError as e:
        err.print(f"[red]error:[/] {e}")
        raise typer.Exit(2) from e
    try:
        plans = tuple(None if f is None else FaultPlan.parse(f) for f in (faults_a, faults_b))
    except ValueError as e:
        err.print(f"[red]error:[/] {e}")
        raise typer.Exit(2) from e
    live_only = b_line or retransmit_port is not None or glimpse_port is not None or \
        any(plans) or snap_line is not None
    if (write is not None or pcap is not None) and live_only:
        err.print("[red]error:[/] --line-b, --retransmit-port, --glimpse-port, --faults-a/b "
                  "and --snapshot-feed are for the live venue: they cannot be combined with "
                  "--write or --pcap")
        raise typer.Exit(2)
    if plans[1] is not None and b_line is None:
        err.print("[red]error:[/] --faults-b needs line B (--line-b HOST:PORT)")
        raise typer.Exit(2)
    if orders_port is not None or account or live_only:
        _venue_with_orders(messages, symbols, seed, rate, host, port, session, iface_ip,
                           max_payload, sender, orders_host, orders_port, account or [],
                           duration, quiet, client_timeout, write, pcap,
                           Recovery(b_line, retransmit_port, retransmit_host, history_keep,
                                    linger, glimpse_port, *plans, snap_line, snapshot_depth))
        return
    s = Simulator(symbols=symbols, messages=messages, seed=seed)
    if write is None and pcap is None:
        console.print(f"publishing {messages:,} messages to udp://{host}:{port} "
                      + (f"and line B udp://{b_line[0]}:{b_line[1]} " if b_line else "")
                      + f"session {session}" + (f" at {rate:,.0f} msgs/s" if rate else "")
                      + f", sender {sender}")
        try:
            pub = UdpPublisher(host, port, session=session, iface_ip=iface_ip,
                               max_payload=max_payload, sender=sender, iface=iface,
                               dst_mac=dst_mac, line_b=b_line)
        except (OSError, ValueError) as e:
            err.print(f"[red]error:[/] {e}")
            raise typer.Exit(2) from e
        with pub:
            rep = pub.publish(s.chunks(), rate=rate)
            pub.end_session()
        console.print(f"sent {rep.messages:,} messages in {rep.packets:,} packets, "
                      f"{rep.seconds:.2f} s ({rep.msgs_per_s / 1e6:.2f} M msg/s, sender "
                      f"{rep.sender}, waited for room {rep.waits:,} times)")
        return
    if write is not None:
        t0 = time.perf_counter()
        n = s.write(write)
        console.print(f"wrote {n:,} messages to {write} in {time.perf_counter() - t0:.1f} s")
    if pcap is not None:
        n = s.write_pcap(pcap, session=session, dst=(host, port))
        console.print(f"wrote {n:,} packets to {pcap}")


app.command("venue", help="Run the venue simulator (the same command as `sim`).")(sim)


def _host_port(text: str, what: str) -> tuple[str, int]:
    """``HOST:PORT`` as ``(host, port)``."""
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{what} {text!r} is not HOST:PORT (a port 1..65535)")
    return host, int(port)


def _serve_day(venue, duration: float | None) -> dict:
    """A live venue's day: start, run (``duration`` seconds, or the day's flow; Ctrl-C ends it
    early), end. Returns its stats."""
    try:
        venue.start()
        st = venue.run(duration_s=duration)
    except KeyboardInterrupt:
        st = venue.stats()
    venue.end()
    return st


class Recovery(NamedTuple):
    """The live ITCH venue's recovery options (``tickpath venue --line-b/--retransmit-*``)
    and its Book Snapshot feed (``--snapshot-feed``, ``--snapshot-depth``)."""

    line_b: tuple[str, int] | None = None
    retransmit_port: int | None = None
    retransmit_host: str = "127.0.0.1"
    history_keep: int = 1_000_000
    linger: float = 0.0
    glimpse_port: int | None = None
    faults_a: FaultPlan | None = None
    faults_b: FaultPlan | None = None
    snapshot_feed: tuple[str, int] | None = None
    snapshot_depth: int = 10


def _venue_with_orders(messages: int, symbols: int, seed: int, rate: float | None, host: str,
                       port: int, session: str, iface_ip: str | None, max_payload: int,
                       sender: str, orders_host: str, orders_port: int | None,
                       accounts: list[str], duration: float | None, quiet: bool,
                       client_timeout: float, write: Path | None, pcap: Path | None,
                       recovery: Recovery | None = None) -> None:
    """``tickpath venue --orders-port P --account USER:PASS`` and/or ``--retransmit-port R``
    (and the other live options): the live venue, with order entry and/or a re-request
    server (and line B, GLIMPSE snapshots, the Book Snapshot feed)."""
    import logging

    from .venue.live import LiveVenue

    recovery = recovery or Recovery()
    if write is not None or pcap is not None:
        err.print("[red]error:[/] order entry runs live: --orders-port cannot be combined with "
                  "--write or --pcap")
        raise typer.Exit(2)
    if (orders_port is not None or accounts) and (orders_port is None or not accounts):
        err.print("[red]error:[/] order entry needs --orders-port and at least one --account "
                  "USER:PASS")
        raise typer.Exit(2)
    if quiet and duration is None:
        err.print("[red]error:[/] --quiet needs --duration (no generated flow ends the run)")
        raise typer.Exit(2)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        venue = LiveVenue(symbols, messages, seed, rate=rate, feed_host=host, feed_port=port,
                          session=session, accounts=accounts or None, orders_host=orders_host,
                          orders_port=orders_port or 0, quiet=quiet, sender=sender,
                          max_payload=max_payload, timeout_s=client_timeout,
                          iface_ip=iface_ip, line_b=recovery.line_b,
                          retransmit_port=recovery.retransmit_port,
                          retransmit_host=recovery.retransmit_host,
                          history_keep=recovery.history_keep,
                          snapshot_port=recovery.glimpse_port,
                          snapshot_host=recovery.retransmit_host, faults_a=recovery.faults_a,
                          faults_b=recovery.faults_b, snapshot_feed=recovery.snapshot_feed,
                          snapshot_depth=recovery.snapshot_depth)
    except (OSError, ValueError) as e:
        err.print(f"[red]error:[/] {e}")
        raise typer.Exit(2) from e
    parts = [f"publishing to udp://{host}:{port} session {session}"
             + (f" at {rate:,.0f} msgs/s" if rate else "")]
    if recovery.line_b is not None:
        parts.append(f"line B udp://{recovery.line_b[0]}:{recovery.line_b[1]}")
    if venue.retransmitter is not None:
        parts.append(f"re-requests (MoldUDP64) on udp://{recovery.retransmit_host}:"
                     f"{venue.retransmit_port}, the last {recovery.history_keep:,} messages")
    if venue.glimpse is not None:
        parts.append(f"snapshots (GLIMPSE 5.0 / SoupBinTCP 3.0) on tcp://"
                     f"{recovery.retransmit_host}:{venue.snapshot_port}")
    if venue.snapshots is not None:
        h, p = recovery.snapshot_feed
        parts.append(f"Book Snapshot feed on udp://{h}:{p} session "
                     f"{venue.snapshots.publisher.session.tobytes().decode().strip()}, "
                     f"{recovery.snapshot_depth} levels a side")
    if venue.server is not None:
        parts.append(f"order entry (OUCH 5.0 / SoupBinTCP 3.0) on tcp://{orders_host}:"
                     f"{venue.orders_port} session {venue.server.session} for "
                     f"{len(accounts)} account(s)")
    console.print("; ".join(parts) + (", quiet" if quiet else ""))
    with venue:
        st = _serve_day(venue, duration)
        if recovery.linger > 0 and (venue.retransmitter is not None or venue.glimpse is not None):
            try:
                venue.linger(recovery.linger)
            except KeyboardInterrupt:
                pass
            st = venue.stats()
    console.print(", ".join(f"{k} {v:,}" for k, v in st.items()))


def _futures_with_orders(messages: int, symbols: int, seed: int, rate: float | None,
                         host: str | None, port: int | None, host_b: str | None,
                         port_b: int | None, snapshot_host: str | None,
                         snapshot_port: int | None, snapshot_every: int,
                         equity_messages: int | None, session: str, iface_ip: str | None,
                         max_payload: int, sender: str, orders_host: str,
                         orders_port: int | None, accounts: list[str],
                         duration: float | None, quiet: bool, client_timeout: float,
                         to_file: bool, full_line: tuple[str, int] | None = None) -> None:
    """``tickpath venue --feed mdp3 --orders-port P --account USER:PASS``: the live futures
    venue with order entry; ``--full-snapshots HOST:PORT`` (``full_line``), with or without
    order entry: the live venue publishing the full-snapshot channel too."""
    import logging

    from .venue.futures_live import FuturesLiveVenue
    from .venue.mdp3_publisher import DEFAULT_MDP3_PORT

    if to_file:
        err.print("[red]error:[/] order entry runs live: --orders-port cannot be combined with "
                  "--write or --pcap")
        raise typer.Exit(2)
    entry = orders_port is not None or bool(accounts)
    if entry and (orders_port is None or not accounts):
        err.print("[red]error:[/] order entry needs --orders-port and at least one --account "
                  "USER:PASS")
        raise typer.Exit(2)
    if quiet and duration is None:
        err.print("[red]error:[/] --quiet needs --duration (no generated flow ends the run)")
        raise typer.Exit(2)
    a = (host or "127.0.0.1", DEFAULT_MDP3_PORT if port is None else port)
    b = (host_b or a[0], a[1] if port_b is None else port_b)
    loop = (snapshot_host or a[0], a[1] if snapshot_port is None else snapshot_port)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    try:
        venue = FuturesLiveVenue(messages, seed, equity_symbols=symbols,
                                 equity_messages=equity_messages, rate=rate, a=a, b=b,
                                 snapshot=loop, snapshot_every=snapshot_every,
                                 session=session, accounts=accounts or None,
                                 orders_host=orders_host, orders_port=orders_port or 0,
                                 quiet=quiet, sender=sender, max_payload=max_payload,
                                 timeout_s=client_timeout, iface_ip=iface_ip,
                                 full_snapshots=full_line)
    except (OSError, ValueError) as e:
        err.print(f"[red]error:[/] {e}")
        raise typer.Exit(2) from e
    tradable = ", ".join(venue.orders.tradable) if venue.orders is not None else ""
    console.print(f"publishing MDP3: line A udp://{a[0]}:{a[1]}, line B udp://{b[0]}:{b[1]}, "
                  f"snapshot loop udp://{loop[0]}:{loop[1]}"
                  + (f", full snapshots udp://{full_line[0]}:{full_line[1]}" if full_line
                     else "")
                  + (f" at {rate:,.0f} msgs/s" if rate else "")
                  + (f"; order entry (OUCH 5.0 / SoupBinTCP 3.0) on tcp://{orders_host}:"
                     f"{venue.orders_port} session {venue.server.session} for "
                     f"{len(accounts)} account(s), symbols {tradable}" if entry else "")
                  + (", quiet" if quiet else ""))
    with venue:
        st = _serve_day(venue, duration)
    console.print(", ".join(f"{k} {v:,}" for k, v in st.items()))


def _seqs(text: str, what: str) -> set[int]:
    try:
        return {int(x) for x in text.split(",") if x.strip()}
    except ValueError as e:
        err.print(f"[red]error:[/] {what} must be MsgSeqNums separated by commas, not {text!r}")
        raise typer.Exit(2) from e


def _sim_mdp3(messages: int, symbols: int, seed: int, pcap: Path | None, rate: float | None,
              host: str | None, port: int | None, iface_ip: str | None, max_payload: int,
              sender: str, iface: str | None, dst_mac: str | None, host_b: str | None,
              port_b: int | None, snapshot_host: str | None, snapshot_port: int | None,
              snapshot_every: int, equity_messages: int | None, drop_a: str, drop_b: str,
              gap: str | None, write: Path | None) -> None:
    """``tickpath sim --feed mdp3``: the futures venue, published live or written as a pcap."""
    from .venue import Simulator
    from .venue.futures import LINE_A, LINE_B, SNAPSHOT_LINE, FuturesSimulator
    from .venue.mdp3_publisher import DEFAULT_MDP3_PORT, Mdp3Publisher

    if write is not None:
        err.print("[red]error:[/] --write is for the itch feed; for mdp3 use --pcap")
        raise typer.Exit(2)
    gap_range = None
    if gap is not None:
        try:
            first, last = (int(x) for x in gap.split(":"))
        except ValueError as e:
            err.print(f"[red]error:[/] --gap must be FIRST:LAST MsgSeqNums, not {gap!r}")
            raise typer.Exit(2) from e
        gap_range = (first, last)
    try:
        eq = Simulator(symbols=symbols, messages=equity_messages or messages, seed=seed)
        fut = FuturesSimulator(eq, messages=messages, seed=seed, snapshot_every=snapshot_every,
                               max_payload=max_payload)
    except ValueError as e:
        err.print(f"[red]error:[/] {e}")
        raise typer.Exit(2) from e
    if pcap is not None:
        a = (host or LINE_A[0], LINE_A[1] if port is None else port)
        b = (host_b or (host if host else LINE_B[0]),
             port_b if port_b is not None else (port if port is not None else LINE_B[1]))
        loop = (snapshot_host or (host if host else SNAPSHOT_LINE[0]),
                snapshot_port if snapshot_port is not None
                else (port if port is not None else SNAPSHOT_LINE[1]))
        t0 = time.perf_counter()
        try:
            n = fut.write_pcap(pcap, a, b, loop, drop_a=_seqs(drop_a, "--drop-a"),
                               drop_b=_seqs(drop_b, "--drop-b"), gap=gap_range)
        except ValueError as e:
            err.print(f"[red]error:[/] {e}")
            raise typer.Exit(2) from e
        console.print(f"wrote {fut.messages_generated:,} MDP3 messages to {pcap}: "
                      f"{n['a']:,} packets on line A {a[0]}:{a[1]}, {n['b']:,} on line B "
                      f"{b[0]}:{b[1]}, {n['snapshot']:,} snapshot-loop packets to "
                      f"{loop[0]}:{loop[1]} ({fut.stats()['loops']:,} loops), "
                      f"{time.perf_counter() - t0:.1f} s")
        return
    if drop_a or drop_b or gap:
        err.print("[red]error:[/] --drop-a, --drop-b and --gap are for --pcap")
        raise typer.Exit(2)
    a = (host or "127.0.0.1", DEFAULT_MDP3_PORT if port is None else port)
    b = (host_b or a[0], a[1] if port_b is None else port_b)
    loop = (snapshot_host or a[0], a[1] if snapshot_port is None else snapshot_port)
    console.print(f"publishing {messages:,} MDP3 messages: line A udp://{a[0]}:{a[1]}, line B "
                  f"udp://{b[0]}:{b[1]}, snapshot loop udp://{loop[0]}:{loop[1]}"
                  + (f" at {rate:,.0f} msgs/s" if rate else "") + f", sender {sender}")
    try:
        pub = Mdp3Publisher(a, b, loop, sender=sender, iface_ip=iface_ip, iface=iface,
                            dst_mac=dst_mac)
    except (OSError, ValueError) as e:
        err.print(f"[red]error:[/] {e}")
        raise typer.Exit(2) from e
    with pub:
        rep = pub.publish(fut.packets(), rate=rate)
    console.print(f"sent {rep.messages:,} messages in {rep.packets:,} packets on each line and "
                  f"{pub.snapshot_packets:,} snapshot-loop packets, {rep.seconds:.2f} s "
                  f"({rep.msgs_per_s / 1e6:.2f} M msg/s, sender {rep.sender}, waited for room "
                  f"{rep.waits:,} times)")


@app.command()
def listen(
    host: Annotated[str | None, typer.Option(help="address to receive on (multicast groups are joined); default 127.0.0.1, or any for a pcap file")] = None,
    port: Annotated[int | None, typer.Option(help="UDP port (default: itch 26400; mdp3 14310, or any port in a pcap)")] = None,
    iface_ip: Annotated[str, typer.Option(help="multicast: join on this interface address")] = "0.0.0.0",
    duration: Annotated[float | None, typer.Option(help="stop after this many seconds")] = None,
    top: Annotated[int, typer.Option(help="instruments shown (the busiest)")] = 15,
    transport: Annotated[str, typer.Option(help="socket | recv | busypoll | packet | xdp | dpdk | pcap:FILE[?pace=fast|recorded|2x] (see `tickpath wire check`)")] = "socket",
    feed: Annotated[str, typer.Option(help="itch (MoldUDP64) | mdp3 (CME MDP 3.0: incremental A and B, snapshot loop)")] = "itch",
    late_join: Annotated[str | None, typer.Option(help="mdp3: an instrument first seen mid-session waits for a snapshot (snapshot) or starts from its first message (natural); default: natural for a pcap, snapshot live. itch: snapshot (the default with --glimpse) loads the books from the snapshot service first; replay (the default with --retransmit alone) expects the day's first message and re-requests what it missed; natural starts where the feed is")] = None,
    retransmit: Annotated[str | None, typer.Option(help="itch: the MoldUDP64 re-request server HOST:PORT; a gap is asked for there (without one, a gap leaves the feed stale)")] = None,
    glimpse: Annotated[str | None, typer.Option(help="itch: the GLIMPSE snapshot service HOST:PORT: the books are loaded from it at the start (unless --late-join natural) and whenever a gap cannot be repaired")] = None,
    books_json: Annotated[Path | None, typer.Option(help="itch: write the final books as JSON lines")] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="itch: write the summary (messages, session, gap recovery, snapshots) as JSON")] = None,
    ready_file: Annotated[Path | None, typer.Option(help="itch: create this file when the receive loop starts (for scripts that start a sender after it)")] = None,
    line_b: Annotated[str | None, typer.Option(help="itch, socket / recv / busypoll transport: line B's multicast group (same port as --host's); each sequence number is taken from whichever line brings it first")] = None,
    silence: Annotated[float, typer.Option(help="itch: a feed that sends nothing, not even a heartbeat, for this many seconds is reported silent (its books not known to be exact); 0: never")] = 2.0,
) -> None:
    """Receive a live feed (ITCH or MDP3) and show the best bid and offer of the busiest
    instruments."""
    import numpy as np
    from rich.live import Live

    from .apps.listener import FeedListener
    from .book.records import PerInstrument
    from .feed.itch import ItchHandler
    from .feed.moldudp64 import Counter
    from .telemetry.histogram import summary_us
    from .wire.transports import open_receiver

    if feed not in ("itch", "mdp3"):
        err.print(f"[red]error:[/] --feed must be itch or mdp3, not {feed!r}")
        raise typer.Exit(2)
    if host is None:  # a capture holds what it holds: take the port from any address
        host = "0.0.0.0" if transport.startswith("pcap:") else "127.0.0.1"
    if feed == "mdp3":
        if port is None:
            port = 0 if transport.startswith("pcap:") else 14310
        _listen_mdp3(host, port, iface_ip, duration, top, transport, late_join)
        return
    if port is None:
        port = 26400
    from .feed.itch import ItchFeed
    from .feed.moldudp64 import MoldSession
    from .feed.moldudp64.recovery import MoldRecovery, parse_hostport

    if silence < 0:
        err.print(f"[red]error:[/] --silence {silence:g}: must be >= 0 seconds (0: never)")
        raise typer.Exit(2)
    try:
        server = parse_hostport(retransmit) if retransmit else None
        recovery = MoldRecovery(server, silence_s=silence)
    except ValueError as e:
        err.print(f"[red]error:[/] --retransmit: {e}")
        raise typer.Exit(2) from e
    try:
        snapshot = parse_hostport(glimpse) if glimpse else None
    except ValueError as e:
        err.print(f"[red]error:[/] --glimpse: {e}")
        raise typer.Exit(2) from e
    if late_join is None:
        late_join = "snapshot" if snapshot else "replay" if server else "natural"
    if late_join not in ("natural", "snapshot", "replay") or (
            late_join == "snapshot" and snapshot is None) or (
            late_join == "replay" and server is None):
        err.print("[red]error:[/] --late-join for itch: natural, snapshot (with --glimpse) or "
                  "replay (with --retransmit)")
        raise typer.Exit(2)
    # replay: the day from its first message, whatever came before this receiver re-requested
    itch = ItchFeed(ItchHandler(errors="skip"), MoldSession(
        expected=1 if late_join == "replay" else 0), recovery=recovery)

    def view(lst: FeedListener) -> Table:
        books = lst.handler.books
        c = lst.session.counters
        t = Table(title=f"udp://{host}:{port}  session {lst.session.name or '-'}  "
                        f"msgs {int(c[Counter.MESSAGES]):,}  gaps {int(c[Counter.GAPS]):,} "
                        f"({int(c[Counter.GAP_MESSAGES]):,} msgs)  dups {int(c[Counter.DUPLICATE_PACKETS]):,}  "
                        f"malformed {lst.feed.malformed + int(c[Counter.MALFORMED]):,}\n"
                        f"{_recovery_line(lst.feed.recovery)}")
        for col in ("symbol", "msgs", "bid size", "bid", "ask", "ask size", "orders"):
            t.add_column(col, justify="right")
        busiest = np.argsort(-books.inst[:, PerInstrument.MESSAGES])[:top]
        for loc in busiest:
            if books.inst[loc, PerInstrument.MESSAGES] == 0:
                break
            b, a = books.bbo(int(loc))
            t.add_row(books.symbol(int(loc)) or str(loc),
                      f"{int(books.inst[loc, PerInstrument.MESSAGES]):,}",
                      f"{b[1]:,}" if b else "", _dollars(b[0]) if b else "-",
                      _dollars(a[0]) if a else "-", f"{a[1]:,}" if a else "",
                      f"{int(books.inst[loc, PerInstrument.ORDERS]):,}")
        return t

    try:
        rx = open_receiver(transport, host, port, iface_ip=iface_ip, line_b=line_b)
    except (OSError, ValueError) as e:
        err.print(f"[red]error:[/] {e}")
        raise typer.Exit(2) from e
    lst = FeedListener(rx, itch, snapshot=snapshot,
                       late_join=late_join == "snapshot")
    lst.warm_up()
    with rx, Live(console=console, auto_refresh=False) as live:
        try:  # a file that does not end its session ends when it is done
            rep = lst.run(duration=duration, idle_timeout=getattr(rx, "idle_timeout_s", None),
                          on_tick=lambda x: live.update(view(x), refresh=True),
                          on_ready=None if ready_file is None else ready_file.touch)
        except KeyboardInterrupt:
            rep = None
        live.update(view(lst), refresh=True)
        rx_stats = rx.stats()  # while the socket is open (its kernel drop count)
    if rep is not None and transport.startswith("pcap:"):  # recorded stamps: no latency
        console.print(f"replayed {rep.packets:,} datagrams, {rep.messages:,} messages in "
                      f"{rep.seconds:.2f} s ({rep.messages / max(rep.seconds, 1e-9):,.0f} "
                      f"msgs/s)")
    elif rep is not None:
        lat = summary_us(rep.latency_ns)
        if lat.get("count"):
            console.print(f"send -> book latency: p50 {lat['p50_us']:.1f} µs, "
                          f"p99 {lat['p99_us']:.1f} µs, max {lat['max_us']:.1f} µs")
        if hasattr(rx, "stamp_source"):
            console.print(f"receive stamps: {rx.stamp_source()}", highlight=False)
    if rep is not None:
        _receive_trouble(rx_stats)
    for e in lst.snapshot_errors[-3:]:
        err.print(f"[yellow]snapshot:[/] {e}")
    if books_json is not None:
        from .book.export import write_books_json

        n = write_books_json(lst.handler.books.books(), books_json)
        console.print(f"wrote {n:,} books to {books_json}")
    if json_out is not None:
        summary = {"messages": itch.messages, "packets": rep.packets if rep else 0,
                   "ended": itch.ended, "exact": itch.exact, "session": itch.session_stats(),
                   "recovery": itch.recovery_stats(),
                   "recovery_ns": [int(x) for x in itch.recovery.recovery_ns()],
                   "snapshot_errors": lst.snapshot_errors}
        json_out.write_text(json.dumps(summary, indent=1))
    itch.close()


def _recovery_line(recovery) -> str:
    """The ITCH feed's gap recovery, one line: whether the books are exact, the gaps, the
    messages asked for and received, and how long books took to be exact again."""
    import numpy as np

    from .feed.moldudp64.layout import Recovery as R

    r = recovery.rec
    state = recovery.state
    colour = {"exact": "green", "recovering": "yellow", "stale": "red"}[state]
    line = (f"books [{colour}]{state}[/]  gaps {int(r[R.GAPS_OPENED]):,} opened, "
            f"{int(r[R.GAPS_REPAIRED]):,} repaired, {int(r[R.GAVE_UP]):,} given up  "
            f"requested {int(r[R.MESSAGES_REQUESTED]):,} msgs ({int(r[R.REQUESTS]):,} requests), "
            f"received {int(r[R.MESSAGES_RECEIVED]):,}  held {int(r[R.HELD]):,}  "
            f"bad blocks {int(r[R.BAD_BLOCKS]):,}")
    times = recovery.recovery_ns()
    if times.size:
        p50, p99 = np.percentile(times, [50, 99]) / 1e3
        line += f"  recovery p50 {p50:,.0f} µs, p99 {p99:,.0f} µs, max {times.max() / 1e3:,.0f} µs"
    if state == "stale":
        line += f"  (needs a snapshot: exact up to {int(r[R.EXACT_UPTO]):,})"
    if r[R.SESSIONS]:
        line += f"  new sessions followed {int(r[R.SESSIONS]):,}"
    if r[R.SILENCES]:
        line += (f"  [red]silent now[/] ({int(r[R.SILENCES]):,} times)" if r[R.SILENT]
                 else f"  silent {int(r[R.SILENCES]):,} times")
    return line


def _listen_mdp3(host: str, port: int, iface_ip: str, duration: float | None, top: int,
                 transport: str, late_join: str | None) -> None:
    """``tickpath listen --feed mdp3``: any transport -> the MDP3 handler -> books."""
    import numpy as np
    from rich.live import Live

    from .apps.listener import FeedListener
    from .feed.mdp3 import Mdp3Feed
    from .feed.mdp3 import layout as L
    from .telemetry.histogram import summary_us
    from .wire.transports import open_receiver

    pcap = transport.startswith("pcap:")
    try:
        fd = Mdp3Feed(errors="skip", late_join=late_join or ("natural" if pcap else "snapshot"))
        rx = open_receiver(transport, host, port, iface_ip=iface_ip)
    except (OSError, ValueError) as e:
        err.print(f"[red]error:[/] {e}")
        raise typer.Exit(2) from e

    def view(lst: FeedListener) -> Table:
        c = fd.counters()
        t = Table(title=f"MDP3 udp://{host}:{port}  seq {c['last_seq']:,}  packets "
                        f"{c['packets']:,} (dup {c['duplicates']:,})  gaps {c['gaps']:,}  "
                        f"stale {c['stale_now']:,}  recovered {c['recoveries']:,}  "
                        f"malformed {c['malformed']:,}")
        for col in ("symbol", "security id", "entries", "bid qty", "bid", "ask", "ask qty",
                    "state"):
            t.add_column(col, justify="right")
        n = fd.count
        busiest = np.argsort(-fd.inst[:n, L.I_ENTRIES])[:top]
        for r in busiest:
            b = fd.levels.book(int(r))
            bid = b["bids"][0] if b["bids"] else None
            ask = b["asks"][0] if b["asks"] else None
            st = int(fd.inst[r, L.I_STATE])
            t.add_row(fd.symbol(int(r)), str(fd.security_id(int(r))),
                      f"{int(fd.inst[r, L.I_ENTRIES]):,}", f"{bid[1]:,}" if bid else "",
                      str(bid[0]) if bid else "-", str(ask[0]) if ask else "-",
                      f"{ask[1]:,}" if ask else "",
                      {L.S_LIVE: "live", L.S_STALE: "[yellow]stale[/]"}.get(st, "-"))
        return t

    lst = FeedListener(rx, fd)
    lst.warm_up()
    with rx, Live(console=console, auto_refresh=False) as live:
        try:
            rep = lst.run(duration=duration, idle_timeout=getattr(rx, "idle_timeout_s", None),
                          on_tick=lambda x: live.update(view(x), refresh=True))
        except KeyboardInterrupt:
            rep = None
        live.update(view(lst), refresh=True)
        rx_stats = rx.stats()  # while the socket is open (its kernel drop count)
    if rep is None:
        return
    c = fd.counters()
    console.print(f"{c['messages']:,} messages in {c['datagrams']:,} datagrams, "
                  f"{rep.seconds:.2f} s; malformed {c['malformed']:,}, unknown templates "
                  f"{c['unknown_templates']:,}, refused entries {c['refused']:,}")
    if not pcap:  # a capture's SendingTime is the recording's: no latency
        lat = summary_us(rep.latency_ns)
        if lat.get("count"):
            console.print(f"SendingTime -> book latency: p50 {lat['p50_us']:.1f} µs, "
                          f"p99 {lat['p99_us']:.1f} µs, max {lat['max_us']:.1f} µs")
    _receive_trouble(rx_stats)

def _receive_trouble(stats: dict[str, int]) -> None:
    """Say what the receiver counted that was not a datagram handed on: datagrams cut to the
    slot (MSG_TRUNC) and failed receive calls, with the errno."""
    import errno as E
    import os

    if stats.get("truncated"):
        err.print(f"[yellow]{stats['truncated']:,} datagrams were larger than a receive slot "
                  f"and were dropped (MSG_TRUNC)[/]")
    if stats.get("recv_errors"):
        e = stats.get("last_errno", 0)
        err.print(f"[yellow]{stats['recv_errors']:,} receive calls failed; the last with "
                  f"{E.errorcode.get(e, e)} ({os.strerror(e)})[/]")
    if stats.get("drops", 0) > 0:  # -1: not readable (the socket already closed)
        err.print(f"[yellow]the kernel dropped {stats['drops']:,} datagrams for this socket "
                  f"(receive buffer full)[/]")


@app.command()
def demo(
    messages: Annotated[int, typer.Option(help="messages the simulator publishes")] = 300_000,
    symbols: Annotated[int, typer.Option(help="instruments")] = 200,
    rate: Annotated[float, typer.Option(help="publish rate, msgs/s")] = 100_000,
    seed: Annotated[int, typer.Option(help="simulator seed")] = 7,
    transport: Annotated[str, typer.Option(help="socket | recv | busypoll | packet | xdp (see `tickpath wire check`)")] = "socket",
    sender: Annotated[str, typer.Option(help="socket | sendto | sendmmsg (the packet sender needs an interface other than lo)")] = "sendmmsg",
    json_out: Annotated[Path | None, typer.Option("--json", help="--books: write the summary as JSON")] = None,
    books: Annotated[bool, typer.Option("--books", help="the live-books demo: simulator and listener on loopback, books checked (the other options are its)")] = False,
) -> None:
    """Two stacks side by side (root: a short `tickpath bench stacks`, the traditional stack
    against the best this host has, calm and a 100x burst, then the latency budget of the
    whole path); with --books, or without root, the simulator and a listener on loopback,
    books checked."""
    if not books and _demo_stacks():
        return
    from .apps.demo import run_demo

    try:
        rep = run_demo(messages=messages, symbols=symbols, seed=seed, rate=rate,
                       transport=transport, sender=sender,
                       status=lambda s: err.print(f"[dim]{s}[/]"))
    except (OSError, ValueError) as e:
        err.print(f"[red]error:[/] {e}")
        raise typer.Exit(2) from e
    t = Table(title=f"tickpath demo: venue simulator ({sender}) -> MoldUDP64/UDP loopback -> "
                    f"{transport} -> books")
    t.add_column("")
    t.add_column("", justify="right")
    t.add_row("messages sent / received", f"{rep.messages_sent:,} / {rep.messages_received:,}")
    t.add_row("rate", f"{rep.messages_received / max(rep.seconds, 1e-9):,.0f} msgs/s")
    t.add_row("gaps (messages missed)",
              f"{rep.session['gaps']:,} ({rep.session['gap_messages']:,})")
    t.add_row("instruments", f"{rep.instruments:,}")
    t.add_row("books equal the simulator's", "[green]yes[/]" if rep.books_equal else "[red]no[/]")
    lat = rep.latency_us
    if lat.get("count"):
        for p in ("p50", "p90", "p99", "p999"):
            t.add_row(f"send -> book latency {p}", f"{lat[p + '_us']:.1f} µs")
        t.add_row("send -> book latency max", f"{lat['max_us']:.1f} µs  (VM stalls show here)")
        t.add_row("  of which send -> kernel rx p50", f"{rep.kernel_us['p50_us']:.1f} µs")
    console.print(t)
    for d in rep.differences:
        console.print(f"[red]{d}[/]")
    if json_out is not None:
        json_out.write_text(json.dumps(rep.as_dict(), indent=2))
    if not rep.books_equal:
        raise typer.Exit(1)


def _demo_stacks() -> bool:
    """The stacks demo; False (saying why) when this host cannot make namespaces."""
    from .apps.stacks_bench import OPTIMIZED, Profile, run_stacks_bench, usable
    from .wire.netns import NetnsUnavailable, check

    try:
        check()
    except NetnsUnavailable as e:
        err.print(f"[yellow]the two-stacks demo needs network namespaces ({e}); the live-books "
                  "demo instead[/]")
        return False
    best = usable(("xdp", "packet", "busypoll"))[0][:1] or list(OPTIMIZED[:1])
    console.print("[bold]tickpath demo[/]: the same simulated market, calm then a 100x burst, "
                  "through the traditional stack (kernel socket, full-book snapshots, Python) "
                  f"and the optimized one ({best[0]}, incremental ITCH, compiled); "
                  "`tickpath bench stacks` for the full run, `tickpath demo --books` for the "
                  "live books", highlight=False)
    try:
        result = run_stacks_bench(Profile(rate=5_000, factor=100, calm_s=1.0, burst_s=0.3,
                                          after_s=1.0), transports=best,
                                  status=lambda m: err.print(f"[dim]{m}[/]", highlight=False))
    except NetnsUnavailable as e:  # root, but not allowed to make namespaces (a container)
        err.print(f"[yellow]the two-stacks demo needs network namespaces ({e}); the "
                  "live-books demo instead[/]")
        return False
    _print_stacks(result)
    # pipelined needs a core per stage; on fewer, one loop on one core (run to completion)
    topology = "pipelined" if (os.cpu_count() or 1) >= 3 else "run_to_completion"
    console.print(f"\n[bold]The latency budget of the whole path[/] (`tickpath budget "
                  f"--topology {topology}`: feed -> strategy -> risk -> order out)",
                  highlight=False)
    budget(None, None, None, "auto", 50_000, 20_000, topology, None, None, None)
    return True


@app.command()
def run(
    config: Annotated[Path, typer.Argument(help="pipeline TOML file (see examples/pipeline.toml, docs/engine.md)")],
    quiet: Annotated[bool, typer.Option("--quiet", help="no live view; print the summary only")] = False,
    json_out: Annotated[bool, typer.Option("--json", help="print the summary as one JSON object (implies --quiet)")] = False,
    duration: Annotated[float | None, typer.Option(help="stop after this many seconds (overrides pipeline.duration_s)")] = None,
    parquet: Annotated[Path | None, typer.Option(help="write the run's latency STAMPS rows as Parquet (one int64 ns column per stage boundary; docs/parquet.md)")] = None,
) -> None:
    """Run a pipeline: venue -> feed stage -> ring -> strategy -> risk -> orders, with live
    counters. Stops on Ctrl-C, SIGTERM, the simulator's end of session or --duration."""
    from .engine.config import ConfigError, load
    from .engine.pipeline import counters_table, run_pipeline

    console, err = Console(), Console(stderr=True)
    try:
        cfg = load(config)
    except ConfigError as e:
        err.print(f"[red]{e}[/]", highlight=False)
        raise typer.Exit(2) from e
    if duration is not None:
        cfg["pipeline"]["duration_s"] = duration
    quiet = quiet or json_out
    say = (lambda m: err.print(m, highlight=False)) if not json_out else (lambda m: None)
    live = None
    if not quiet:
        from rich.live import Live

        live = Live(console=err, refresh_per_second=4, transient=False)

    def tick(p) -> None:
        if live is not None:
            live.update(counters_table(p.snapshot()))

    try:
        if live is not None:
            live.start()
        rep = run_pipeline(cfg, on_tick=tick, status=say)
    except (RuntimeError, TimeoutError, OSError, ValueError) as e:
        err.print(f"[red]{e}[/]", highlight=False)
        raise typer.Exit(1) from e
    finally:
        if live is not None:
            live.stop()
    meta = rep.meta()
    if json_out:
        print(json.dumps(meta))
    else:
        console.print(f"stopped by {meta['stopped_by']} after {meta['seconds']:.1f} s: "
                      f"{meta['messages']:,} messages, {meta['orders']:,} order messages "
                      f"({meta['orders_at_venue']:,} at the venue, {meta['fills']:,} fills, "
                      f"{meta['venue_rejects']:,} venue rejects, P&L ${meta['pnl']:,.2f}), "
                      f"{meta['rejects']:,} intents refused before sending, "
                      f"{meta['dropped']:,} ring drops, {meta['gaps']:,} gap messages, "
                      f"{meta['rows']:,} stamp rows", highlight=False)
        for n in rep.notes:
            err.print(f"note: {n}", highlight=False)
    if parquet is not None:
        _write_stamps_parquet(parquet, rep.rows, meta)
    if rep.errors:
        for e in rep.errors:
            err.print(f"[red]{e}[/]", highlight=False)
        raise typer.Exit(1)


@app.command()
def kill(
    pipeline: Annotated[str | None, typer.Argument(help="the running pipeline: its pipeline.name, its owner's pid, or its counters file (not needed when only one runs)")] = None,
    reset: Annotated[bool, typer.Option("--reset", help="turn the kill switch off again")] = False,
    reason: Annotated[str, typer.Option(help="a note on why, kept with the switch (32 ASCII characters)")] = "",
) -> None:
    """Throw a running pipeline's kill switch: from its next risk check on, no new order
    leaves (the pipeline keeps running). Exit 1 when no pipeline matches, 2 when several do."""
    from .engine.running import AmbiguousPipeline, PipelineNotFound, throw_kill

    try:
        res = throw_kill(pipeline, reset=reset, note=reason)
    except AmbiguousPipeline as e:
        err.print(f"[red]error:[/] {e}", highlight=False)
        raise typer.Exit(2) from e
    except (PipelineNotFound, OSError, ValueError) as e:  # OSError: it ended meanwhile
        err.print(f"[red]error:[/] {e}", highlight=False)
        raise typer.Exit(1) from e
    who = res.pipeline.describe()
    if reset:
        console.print(f"kill switch of {who}: {'reset' if res.changed else 'was off'}",
                      highlight=False)
    else:
        why = res.reason.name.lower() if res.reason is not None else "?"
        note = f": {res.note}" if res.note else ""
        console.print(f"kill switch of {who}: {'thrown' if res.changed else 'already on'} "
                      f"({why}{note})", highlight=False)


wire_app = typer.Typer(no_args_is_help=True, help="Receive transports and capture.")
app.add_typer(wire_app, name="wire")


def _tune_app() -> typer.Typer:
    from .tune.cli import app as tune

    return tune


app.add_typer(_tune_app(), name="tune")


@wire_app.command("check")
def wire_check() -> None:
    """For every transport: can this host run it, and if not, why and what to do."""
    from .wire.transports import TRANSPORTS, check

    t = Table(title="receive transports on this host")
    for c in ("transport", "usable", "what", "found", "to do"):
        t.add_column(c)
    for c in check():
        t.add_row(c.name, "[green]yes[/]" if c.ok else "[red]no[/]", TRANSPORTS[c.name],
                  c.detail, c.remedy)
    console.print(t)


@wire_app.command("bench")
def wire_bench(
    transports: Annotated[str, typer.Option(help="comma-separated (default: every available)")] = "",
    rate: Annotated[int, typer.Option(help="paced load, packets/s (one message a packet)")] = 20_000,
    paced_messages: Annotated[int, typer.Option(help="messages in the paced run")] = 100_000,
    burst_messages: Annotated[int, typer.Option(help="messages in the burst run")] = 200_000,
    sender: Annotated[str, typer.Option(help="the venue's sender(s), comma-separated: socket | sendto | sendmmsg | packet | xdp | dpdk (recorded in each row; sendto stamps every packet at its own call)")] = "sendto",
    loads: Annotated[str, typer.Option(help="paced, burst or both, comma-separated")] = "paced,burst",
    json_out: Annotated[Path | None, typer.Option("--json", help="write the rows as JSON")] = None,
) -> None:
    """Wire-to-app latency of every transport over a veth pair between two namespaces
    (needs root): paced and burst, median to max, drops, CPU, ratios to `recv` (the compiled
    kernel-socket loop, like for like) and to `socket` (the Python loop)."""
    from .apps.wirebench import run_wire_bench
    from .wire.netns import NetnsUnavailable
    from .wire.transports import AVAILABLE, check

    names = [t for t in transports.split(",") if t]
    if not names:  # every transport this host can run; say which it cannot, and why
        can = {c.name: c for c in check()}
        names = [t for t in AVAILABLE if can[t].ok]
        for t in AVAILABLE:
            if not can[t].ok:
                err.print(f"[yellow]{t} left out: {can[t].detail}[/]")
    try:
        load_names = tuple(x for x in loads.split(",") if x)
        if not load_names or set(load_names) - {"paced", "burst"}:
            raise ValueError(f"--loads {loads!r}: paced, burst or both (comma-separated)")
        rows = run_wire_bench(names, loads=load_names, rate=rate,
                              paced_messages=paced_messages,
                              burst_messages=burst_messages, sender=sender,
                              status=lambda s: err.print(f"[dim]{s}[/]"))
    except (NetnsUnavailable, RuntimeError, ValueError) as e:
        err.print(f"[red]error:[/] {e}")
        raise typer.Exit(2) from e
    t = Table(title=f"wire -> book latency over veth (paced: {rate:,} packets/s)")
    for c in ("sender", "transport", "load", "sent", "received", "drops", "p50 µs", "p90 µs",
              "p99 µs", "p99.9 µs", "max µs", "cpu", "p50 ÷ recv", "p99 ÷ recv",
              "p50 ÷ socket"):
        t.add_column(c, justify="right")
    for r in rows:
        def f(v, fmt="{:.1f}"):
            return "-" if v is None else fmt.format(v)
        t.add_row(r["sender"], r["transport"], r["load"], f"{r['sent']:,}", f"{r['received']:,}",
                  f"{r['drops']:,}", f(r["p50_us"]), f(r["p90_us"]), f(r["p99_us"]),
                  f(r["p999_us"]), f(r["max_us"]), f(r["cpu"], "{:.0%}"),
                  f(r["p50_vs_recv"], "{:.1f}x"), f(r["p99_vs_recv"], "{:.1f}x"),
                  f(r["p50_x"], "{:.1f}x"))
    console.print(t)
    console.print("Rows differ only in how the host receives: socket is a Python call per "
                  "datagram; recv, busypoll, packet, xdp and dpdk are compiled loops calling "
                  "the same compiled feed handler, recv woken by the kernel, the others "
                  "spinning. Same venue, sender, veth pair and messages.", highlight=False)
    for r in rows:  # where the median goes: before the receive stamp, and after it
        if r.get("to_stamp_p50_us") is not None:
            console.print(f"{r['transport']} / {r['load']}: send -> receive stamp "
                          f"{r['to_stamp_p50_us']:.1f} µs, stamp -> book "
                          f"{r['from_stamp_p50_us']:.1f} µs (p50; stamped by "
                          f"{r['stamped_by'] or '?'})", highlight=False)
    console.print("p99.9 and max carry the VM's own stalls on this kind of machine.")
    if json_out is not None:
        json_out.write_text(json.dumps(rows, indent=2))


def _short_ns(v: float) -> str:
    for unit, scale in (("ms", 1e6), ("µs", 1e3)):
        if v >= scale:
            return f"{v / scale:.1f} {unit}"
    return f"{v:.0f} ns"


def _times(ratio: float) -> str:
    return f"{ratio:.1f}x" if ratio < 10 else f"{ratio:,.0f}x"


bench_app = typer.Typer(no_args_is_help=True, help="Benchmarks: each runs its baselines in the same run.")
app.add_typer(bench_app, name="bench")


@bench_app.command("tick-to-trade")
def bench_tick_to_trade(
    json_out: Annotated[Path, typer.Option("--json", help="write the results as JSON")],
    pcap: Annotated[Path | None, typer.Option(help="keep the venue's captures: STEM-TOPOLOGY-TRANSPORT.pcapng beside this path")] = None,
    messages: Annotated[int, typer.Option(help="messages the venue publishes per row")] = 100_000,
    rate: Annotated[float, typer.Option(help="feed rate, msgs/s")] = 20_000,
    rows: Annotated[str, typer.Option(help="topology:transport rows, comma separated (best: the best bypass transport here; recv: the kernel socket)")] = "run_to_completion:best,pipelined:best,run_to_completion:recv,pipelined:recv",
    config: Annotated[Path | None, typer.Option(help="pipeline configuration (TOML) for everything else")] = None,
) -> None:
    """Tick to trade inside (stage stamps) and on the wire (the venue's capture pairs each
    order with the feed packet its ClOrdID names), per topology and transport, the
    kernel-socket stack in the same run. Needs root (a veth pair of its own)."""
    from .apps.tick_to_trade import run_tick_to_trade
    from .wire.netns import NetnsUnavailable

    try:
        want = tuple(tuple(r.split(":", 1)) for r in rows.split(",") if r)
        if not want or any(len(r) != 2 or r[0] not in ("pipelined", "run_to_completion")
                           for r in want):
            raise ValueError(f"--rows {rows!r}: topology:transport, topology pipelined or "
                             f"run_to_completion")
        doc = run_tick_to_trade(want, messages=messages, rate=rate,  # type: ignore[arg-type]
                                config=None if config is None else str(config), pcap=pcap,
                                status=lambda m: err.print(f"[dim]{m}[/]"))
    except (NetnsUnavailable, ValueError, RuntimeError, OSError) as e:
        err.print(f"[red]error:[/] {e}")
        raise typer.Exit(2) from e
    json_out.write_text(json.dumps(doc, indent=1))
    t = Table(title="tick to trade, µs (inside: receive stamp -> order sent; wire: the "
                    "venue's capture, feed packet out -> order in)")
    for col in ("topology", "transport", "orders", "fills", "inside p50", "inside p99",
                "wire p50", "wire p99", "wire p99.9", "paired"):
        t.add_column(col, justify="right" if col not in ("topology", "transport") else "left")
    for r in doc["rows"]:
        i, w = r["inside"], r["wire"]
        t.add_row(r["topology"], r["transport"], f"{r['orders']:,}", f"{r['fills']:,}",
                  *(f"{d[k]:.1f}" if k in d else "-" for d, k in (
                      (i, "p50_us"), (i, "p99_us"), (w, "p50_us"), (w, "p99_us"),
                      (w, "p999_us"))), f"{w['count']:,}")
    console.print(t)
    err.print(f"wrote {json_out}")


@bench_app.command("stacks")
def bench_stacks(
    json_out: Annotated[Path, typer.Option("--json", help="write the rows (and per-stack figures) as JSON")],
    rate: Annotated[float, typer.Option(help="the calm market's rate, messages/s")] = 5_000.0,
    factor: Annotated[float, typer.Option(help="the burst's rate as a multiple of the calm one")] = 100.0,
    calm_s: Annotated[float, typer.Option(help="seconds of calm before the burst")] = 2.0,
    burst_s: Annotated[float, typer.Option(help="seconds of burst")] = 0.5,
    after_s: Annotated[float, typer.Option(help="seconds of calm after the burst")] = 2.0,
    symbols: Annotated[int, typer.Option(help="instruments in the day")] = 20,
    depth: Annotated[int, typer.Option(help="levels a side in the full-book snapshots")] = 10,
    transports: Annotated[str, typer.Option(help="the optimized stack's transports (comma-separated; those this host cannot run are left out, saying why)")] = "busypoll,packet,xdp",
    sender: Annotated[str, typer.Option(help="the venue's sender (see `tickpath wire bench`)")] = "sendto",
    markdown: Annotated[Path | None, typer.Option(help="write the table as Markdown, ready to paste")] = None,
    plots: Annotated[Path | None, typer.Option(help="write PNG plots (latency distributions, latency through the burst) into this directory")] = None,
) -> None:
    """The traditional stack (kernel socket, full-book snapshots, plain Python) against the
    optimized one (kernel bypass, incremental, compiled), factor by factor, calm and through a
    burst, over a veth pair (root; docs/stacks.md, BENCHMARKS.md)."""
    from .apps.stacks_bench import Profile, run_stacks_bench
    from .apps.stacks_report import markdown as to_markdown
    from .apps.stacks_report import plots as draw
    from .wire.netns import NetnsUnavailable

    for name, v in (("--rate", rate), ("--factor", factor), ("--calm-s", calm_s),
                    ("--burst-s", burst_s), ("--after-s", after_s)):
        if v <= 0:
            err.print(f"[red]error:[/] {name} {v:g}: must be > 0")
            raise typer.Exit(2)
    prof = Profile(rate, factor, calm_s, burst_s, after_s)
    try:
        result = run_stacks_bench(prof, transports=[t for t in transports.split(",") if t],
                                  symbols=symbols, depth=depth, sender=sender,
                                  samples_dir=plots / "samples" if plots else None,
                                  status=lambda m: console.print(m, highlight=False))
    except (NetnsUnavailable, ValueError) as e:
        err.print(f"[red]error:[/] {e}")
        raise typer.Exit(2) from e
    json_out.write_text(json.dumps(result, indent=1))
    _print_stacks(result)
    for name, why in result["errors"].items():
        err.print(f"[red]{name} failed:[/] {why[-500:]}", highlight=False)
    if markdown is not None:
        markdown.write_text(to_markdown(result))
        console.print(f"wrote {markdown}")
    if plots is not None:
        for p in draw(result, plots):
            console.print(f"wrote {p}")
    console.print(f"wrote {json_out}")


research_app = typer.Typer(no_args_is_help=True,
                           help="Many days at once, on Ray (docs/research.md).")
app.add_typer(research_app, name="research")


@research_app.command("replay")
def research_replay(
    files: Annotated[list[Path], typer.Argument(help="binary ITCH 5.0 files (plain or .gz), one Ray task each")],
    out: Annotated[Path, typer.Option(help="a new (or empty) directory: each file's day goes into OUT/<stem>/ as `tickpath replay FILE --parquet OUT/<stem>` writes it, plus OUT/_summary.json")],
    parquet_tables: Annotated[str, typer.Option(help="the row tables to write, as `tickpath replay --parquet-tables`: events, top, trades (or all)")] = "top,trades",
    workers: Annotated[int | None, typer.Option(help="local Ray: its CPUs, one task each (default: the CPUs this process may use); with --address: most tasks at once")] = None,
    address: Annotated[str | None, typer.Option(help="join this Ray cluster (auto, or HOST:PORT) instead of starting a local Ray")] = None,
    retries: Annotated[int, typer.Option(help="times a failed file is tried again (an exception: by tickpath; a crashed worker: by Ray)")] = 2,
    progress: Annotated[bool, typer.Option(help="progress bar on a terminal")] = True,
) -> None:
    """Replay many ITCH days in parallel on Ray, each into its own Parquet folder, and print
    a table per file. Exit 1 when a file failed (the others are written)."""
    from .apps.research_report import research_replay_command

    tables = _parquet_tables(out, parquet_tables, "itch")
    code = research_replay_command(files, out, tables, workers, address, retries,
                                   progress and err.is_terminal, console, err)
    if code:
        raise typer.Exit(code)


scenario_app = typer.Typer(no_args_is_help=True,
                           help="Simulated market scenarios, run end to end on this host.")
app.add_typer(scenario_app, name="scenario")


@scenario_app.command("central-bank")
def scenario_central_bank(
    config: Annotated[Path | None, typer.Option(help="a TOML file changing the defaults (docs/scenario.md lists every key)")] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="write the result as JSON")] = None,
    markdown: Annotated[Path | None, typer.Option(help="write the hosts' table as Markdown, ready to paste")] = None,
    samples: Annotated[Path | None, typer.Option(help="keep each host's basis samples (<host>.npz) in this directory")] = None,
) -> None:
    """A rate announcement moves the stocks and multiplies the messages 100x; two hosts,
    the traditional stack and the optimized one, arbitrage the index future against its
    stocks through the venue's order entry (root, veth; a simulation: docs/scenario.md)."""
    import subprocess

    from .apps.scenario.run import main_cli
    from .wire.netns import NetnsUnavailable

    try:
        main_cli(str(config) if config else None, str(json_out) if json_out else None,
                 str(markdown) if markdown else None, str(samples) if samples else None,
                 status=lambda m: console.print(m, highlight=False))
    except (NetnsUnavailable, ValueError, RuntimeError, OSError,
            subprocess.TimeoutExpired) as e:
        err.print(f"[red]error:[/] {e}")
        raise typer.Exit(2) from e
    for path in (json_out, markdown):
        if path is not None:
            console.print(f"wrote {path}")


def _print_stacks(result: dict) -> None:
    """The stacks table (:func:`tickpath.apps.stacks_report.table_rows`) on the console."""
    from .apps.stacks_report import table_rows

    p = result["profile"]
    t = Table(title=f"calm {p['rate']:,.0f} msgs/s, burst x{p['factor']:g} for "
                    f"{p['burst_s']:g} s, over a veth pair")
    for col in ("transport", "feed", "code", "phase", "p50 µs", "p99 µs", "p99.9 µs", "max µs",
                "drops", "stale µs", "MB", "core busy"):
        t.add_column(col, justify="left" if col in ("transport", "feed", "code", "phase")
                     else "right")
    for row in table_rows(result):
        t.add_row(*row)
    console.print(t)


@bench_app.command("recovery")
def bench_recovery(
    json_out: Annotated[Path, typer.Option("--json", help="write the rows as JSON")],
    runs: Annotated[int, typer.Option(help="runs per fault")] = 3,
    messages: Annotated[int, typer.Option(help="messages in the venue's day")] = 100_000,
    rate: Annotated[float, typer.Option(help="the venue's rate, messages/s")] = 50_000.0,
    symbols: Annotated[int, typer.Option(help="instruments in the day")] = 20,
    only: Annotated[str | None, typer.Option(help="faults whose name contains this (comma-separated)")] = None,
    transport: Annotated[str, typer.Option(help="the listener's transport: socket | recv | busypoll (the ones that take line B)")] = "socket",
) -> None:
    """The ITCH feed under faults over a veth pair (root): each fault's runs, books exact or
    not against the venue's, recovery times (docs/itch-feed.md, BENCHMARKS.md)."""
    from .apps.recovery_bench import FAULTS, run_recovery_bench
    from .wire.netns import NetnsUnavailable

    faults = FAULTS if not only else tuple(
        f for f in FAULTS if any(o.strip() in f.name for o in only.split(",")))
    if not faults:
        err.print(f"[red]error:[/] --only {only!r} matches no fault: "
                  f"{', '.join(f.name for f in FAULTS)}")
        raise typer.Exit(2)
    if transport not in ("socket", "recv", "busypoll"):
        err.print(f"[red]error:[/] --transport {transport!r}: socket, recv or busypoll (the "
                  "transports that take line B)")
        raise typer.Exit(2)
    try:
        rows = run_recovery_bench(runs, messages, rate, symbols, faults,
                                  status=lambda m: console.print(m, highlight=False),
                                  transport=transport)
    except NetnsUnavailable as e:
        err.print(f"[red]error:[/] {e}")
        raise typer.Exit(2) from e
    json_out.write_text(json.dumps(rows, indent=1))
    for r in rows:
        p50 = "-" if r["recovery_p50_us"] is None else f"{r['recovery_p50_us']:,.0f}"
        p99 = "-" if r["recovery_p99_us"] is None else f"{r['recovery_p99_us']:,.0f}"
        console.print(f"{r['fault']:44s} exact {r['books_exact']}/{r['runs']}  lost "
                      f"{r['messages_lost']:,}  recovery p50 {p50} µs p99 {p99} µs  gaps "
                      f"{r['gaps']:,} requests {r['requests']:,} snapshots {r['snapshots']}"
                      + (f" new sessions {r['sessions']}" if r.get("sessions") else ""),
                      highlight=False)
    console.print(f"wrote {json_out}")


@bench_app.command("ring")
def bench_ring(
    records: Annotated[int, typer.Option(help="paced records per ring mode")] = 200_000,
    rate: Annotated[float, typer.Option(help="paced ring records per second")] = 50_000,
    rounds: Annotated[int, typer.Option(help="interleaved latency blocks per ring mode")] = 20,
    throughput_records: Annotated[int, typer.Option(help="unpaced records per ring mode")] = 20_000_000,
    throughput_rounds: Annotated[int, typer.Option(help="interleaved throughput blocks per ring mode")] = 5,
    baseline_records: Annotated[int, typer.Option(help="paced records per baseline")] = 20_000,
    baseline_rate: Annotated[float, typer.Option(help="sleep-paced baseline records per second")] = 4_000,
    baseline_throughput_records: Annotated[int, typer.Option(help="unpaced records per baseline")] = 200_000,
    kernel: Annotated[str, typer.Option(help="compiled kernel hand-offs beside the ring: pipe,eventfd (empty: none)")] = "pipe,eventfd",
    kernel_throughput_records: Annotated[int, typer.Option(help="unpaced records per compiled hand-off")] = 2_000_000,
    capacity: Annotated[int, typer.Option(help="ring slots")] = 1024,
    slot_size: Annotated[int, typer.Option(help="bytes per slot")] = 64,
    cores: Annotated[str | None, typer.Option(help="producer,consumer cores (default: the first two allowed)")] = None,
    modes: Annotated[str, typer.Option(help="ring modes: slot,cursor")] = "slot,cursor",
    pause: Annotated[bool, typer.Option(help="pause on each empty poll of the paced consumer")] = False,
    json_out: Annotated[Path | None, typer.Option("--json", help="write the results as JSON")] = None,
) -> None:
    """Ring one-way latency (p50, p99) and throughput across two cores, side by side with a
    compiled pipe and eventfd hand-off, and with multiprocessing.Queue and os.pipe from Python,
    in the same run."""
    from rich import box

    from .ring.bench import RingBenchConfig, rows_note, run_ring_bench, transports

    try:
        cfg = RingBenchConfig(
            records=records, rate=rate, rounds=rounds, throughput_records=throughput_records,
            throughput_rounds=throughput_rounds, baseline_records=baseline_records,
            baseline_rate=baseline_rate, baseline_throughput_records=baseline_throughput_records,
            kernel=tuple(k for k in kernel.split(",") if k),
            kernel_throughput_records=kernel_throughput_records,
            capacity=capacity, slot_size=slot_size, pause=pause,
            cores=[int(c) for c in cores.split(",")] if cores else None,
            modes=tuple(m for m in modes.split(",") if m))
        res = run_ring_bench(cfg, status=lambda s: err.print(f"[dim]{s}[/]"))
    except (ValueError, RuntimeError, OSError) as e:
        err.print(f"[red]error:[/] {e}")
        raise typer.Exit(2) from e
    meta = res["meta"]
    ring = res["ring"]
    t = Table(title=f"ring vs compiled kernel hand-offs vs Python's multiprocessing.Queue and "
                    f"os.pipe, cores {meta['cores'][0]} -> {meta['cores'][1]}",
              box=box.SIMPLE_HEAD)
    t.add_column("transport", ratio=1, min_width=21)  # "multiprocessing.Queue" unbroken
    for c in ("p50", "p99", "msgs/s", "p50 /\nring p50", "ring msgs/s\n/ msgs/s"):
        t.add_column(c, justify="right", no_wrap=True)
    for _, label, r in transports(res):
        t.add_row(label, _short_ns(r["p50_ns"]), _short_ns(r["p99_ns"]),
                  f"{r['msgs_per_s'] / 1e6:,.2f} M",
                  _times(r["p50_ns"] / max(ring["p50_ns"], 1)),
                  _times(ring["msgs_per_s"] / r["msgs_per_s"]))
    console.print(t)
    console.print(rows_note(res))
    console.print(f"ring {capacity} x {slot_size} B; p50/p99 from {res['ring']['count']:,} "
                  f"records per ring mode and compiled hand-off, {res['mp_queue']['count']:,} "
                  "per Python baseline")
    console.print("p99.9 and max (in the JSON) carry the machine's own stalls (timer ticks, "
                  "VM steals).")
    if cores is None and meta["cores"][0] is None:
        err.print("[yellow]only one core available: both ends share it (figures mean little)[/]")
    if json_out is not None:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(res, indent=2, default=float))
        err.print(f"wrote {json_out}")


@app.command()
def budget(
    json_out: Annotated[Path | None, typer.Option("--json", help="write the budget as JSON")] = None,
    csv_out: Annotated[Path | None, typer.Option("--csv", help="write the budget as CSV")] = None,
    png_out: Annotated[Path | None, typer.Option("--png", help="write a percentile plot (PNG)")] = None,
    transport: Annotated[str, typer.Option(help="receive transport (auto: veth where it can, loopback otherwise)")] = "auto",
    messages: Annotated[int, typer.Option(help="messages the simulator sends")] = 200_000,
    rate: Annotated[float, typer.Option(help="send rate, msgs/s")] = 20_000,
    topology: Annotated[str, typer.Option(help="pipelined (feed and trader on two cores) or run_to_completion (one loop, one core)")] = "pipelined",
    config: Annotated[Path | None, typer.Option(help="pipeline configuration (TOML)")] = None,
    stamps: Annotated[Path | None, typer.Option(help="report from saved STAMPS rows (.npy) instead of running")] = None,
    save_stamps: Annotated[Path | None, typer.Option(help="save the run's STAMPS rows (.npy)")] = None,
    parquet: Annotated[Path | None, typer.Option(help="write the STAMPS rows as Parquet: one int64 ns column per stage boundary, null where not reached (docs/parquet.md)")] = None,
) -> None:
    """The latency budget of the path: median and p99 per stage and in total, measured by
    running the pipeline against the simulator on this machine (or from saved stamps)."""
    from .telemetry import budget as tb

    if stamps is not None:
        try:
            rows, meta = tb.load_stamps(stamps)
        except (tb.StampsError, OSError) as e:
            err.print(f"[red]error:[/] {e}")
            raise typer.Exit(2) from e
        meta.setdefault("source", str(stamps))
    else:
        rows, meta = _run_budget(config, transport, messages, rate, topology)
    if save_stamps is not None:
        tb.save_stamps(save_stamps, rows, meta)
        err.print(f"saved {len(rows):,} rows to {save_stamps}")
    if parquet is not None:
        _write_stamps_parquet(parquet, rows, meta)
    try:
        b = tb.Budget.from_stamps(rows, meta)
    except tb.StampsError as e:
        err.print(f"[red]error:[/] {e}")
        raise typer.Exit(2) from e
    console.print(b.table())
    facts = {k: meta[k] for k in ("messages", "orders", "rejects", "dropped") if k in meta}
    if facts:
        console.print(", ".join(f"{k} {v:,}" for k, v in facts.items()))
    for note in meta.get("notes", ()):
        err.print(f"[yellow]note: {note}[/]", highlight=False)
    negative = sum(s.negative for s in [*b.stages, b.total, b.tick_to_trade])
    if negative:
        err.print(f"[yellow]{negative:,} negative spans (clock anomalies) left out of the "
                  "histograms; the n column shows where[/]")
    for path, write in ((json_out, b.to_json), (csv_out, b.to_csv), (png_out, b.to_png)):
        if path is not None:
            write(path)
            err.print(f"wrote {path}")


def _write_stamps_parquet(path: Path, rows, meta: dict) -> None:
    """``--parquet FILE``: the STAMPS rows as Parquet; exit 2 naming the file if it fails."""
    from .parquet import ParquetWriteError, write_stamps
    from .telemetry.budget import StampsError

    try:
        write_stamps(path, rows, meta)
    except (ParquetWriteError, StampsError) as e:
        err.print(f"[red]error:[/] {e}")
        raise typer.Exit(2) from e
    err.print(f"wrote {len(rows):,} stamp rows to {path}")


def _run_budget(config: Path | None, transport: str, messages: int, rate: float,
                topology: str = "pipelined"):
    """Run the pipeline for `tickpath budget`: (STAMPS rows, the run's facts)."""
    try:
        from .apps.budget import run_budget
    except ImportError as e:
        err.print("[red]error:[/] this build has no pipeline to measure "
                  f"(tickpath.apps.budget.run_budget: {e}); report from saved rows with "
                  "--stamps FILE.npy instead")
        raise typer.Exit(2) from e
    if config is not None and not config.exists():
        err.print(f"[red]error:[/] --config {config} does not exist")
        raise typer.Exit(2)
    cfg = None if config is None else str(config)
    try:
        return run_budget(cfg, transport=transport, messages=messages, rate=rate,
                          topology=topology, status=lambda s: err.print(f"[dim]{s}[/]"))
    except (ValueError, RuntimeError, OSError) as e:
        err.print(f"[red]error:[/] {e}")
        raise typer.Exit(2) from e


@wire_app.command("capture")
def wire_capture(
    out: Annotated[Path, typer.Argument(help="file to write: .pcap or .pcapng (or --format)")],
    iface: Annotated[str, typer.Option(help="interface to capture on (see `ip link`)")],
    host: Annotated[str, typer.Option(help="the feed's destination address or group (0.0.0.0: any)")] = "0.0.0.0",
    port: Annotated[int, typer.Option(help="the feed's UDP port; only its datagrams are written (0: every frame)")] = 26400,
    count: Annotated[int | None, typer.Option(help="stop after this many frames")] = None,
    seconds: Annotated[float | None, typer.Option(help="stop after this many seconds")] = None,
    idle: Annotated[float | None, typer.Option(help="stop when no frame came for this many seconds, after the first")] = None,
    fmt: Annotated[str | None, typer.Option("--format", help="pcap | pcapng (default: by the extension)")] = None,
    iface_ip: Annotated[str, typer.Option(help="multicast: join the group on this interface address")] = "0.0.0.0",
    promisc: Annotated[bool, typer.Option(help="promiscuous mode: frames addressed to other hosts too")] = False,
    snaplen: Annotated[int, typer.Option(help="bytes kept of each frame")] = 65535,
) -> None:
    """Capture the feed's frames from an interface into a pcap or pcapng file, stamped by the
    kernel in nanoseconds (CLOCK_REALTIME). A BPF filter on the socket lets in only IPv4/UDP to
    --host/--port. Stops at --count, --seconds or --idle, or on Ctrl-C; needs CAP_NET_RAW.
    Replay the file with `tickpath listen --transport pcap:FILE`."""
    from .wire.capture import Capture
    from .wire.pcap import open_writer

    try:
        cap = Capture(iface, host, port, iface_ip=iface_ip, promisc=promisc, snaplen=snaplen)
    except (OSError, ValueError) as e:
        err.print(f"[red]error:[/] {e}")
        raise typer.Exit(2) from e
    with cap:
        try:
            writer = open_writer(out, fmt, snaplen=snaplen, iface=iface)
        except (OSError, ValueError) as e:
            err.print(f"[red]error:[/] {e}")
            raise typer.Exit(2) from e
        what = f"udp {host}:{port}" if port else "every frame"
        limits = ", ".join(f"{k} {v:g}" for k, v in
                           (("count", count), ("seconds", seconds), ("idle", idle)) if v)
        err.print(f"capturing {what} on {iface} to {out} ({limits or 'until Ctrl-C'})",
                  highlight=False)
        show = err.is_terminal

        def progress(packets: int, drops: int) -> None:
            if show:
                err.print(f"\r{packets:,} frames, {drops:,} dropped", end="", highlight=False)

        with writer:
            rep = cap.run(writer, count=count, seconds=seconds, idle=idle, progress=progress)
        if show:
            err.print()
    console.print(f"wrote {rep.packets:,} frames ({rep.bytes:,} bytes) to {out} in "
                  f"{rep.seconds:.1f} s; kernel drops {rep.drops:,}; stopped by {rep.stopped}",
                  highlight=False)


sbe_app = typer.Typer(no_args_is_help=True,
                      help="FIX Simple Binary Encoding: read a schema, generate its codec module.")
app.add_typer(sbe_app, name="sbe")


def _load_sbe(schema: Path):
    from .codec.sbe import SchemaError, load_schema

    try:
        return load_schema(schema)
    except (SchemaError, OSError) as e:
        err.print(f"[red]error:[/] {e}", highlight=False)
        raise typer.Exit(1) from e


@sbe_app.command("generate")
def sbe_generate(
    schema: Annotated[Path, typer.Argument(help="SBE schema XML")],
    out: Annotated[Path, typer.Option(help="the Python module to write")],
    messages: Annotated[str | None, typer.Option(help="only these template ids, comma-separated")] = None,
) -> None:
    """Generate a module of constants and compiled accessors from an SBE schema."""
    from .codec.sbe import GenerationError, generate

    ir = _load_sbe(schema)
    command = f"tickpath sbe generate {schema} --out {out}"
    ids = None
    if messages:
        try:
            ids = [int(x) for x in messages.split(",") if x.strip()]
        except ValueError as e:
            err.print(f"[red]error:[/] --messages {messages!r}: template ids, comma-separated")
            raise typer.Exit(2) from e
        command += f" --messages {','.join(map(str, ids))}"
    try:
        path = generate(ir, out, ids, command=command)
    except GenerationError as e:
        err.print(f"[red]error:[/] {e}", highlight=False)
        raise typer.Exit(1) from e
    console.print(f"wrote {path} (schema {ir.id} version {ir.version}, "
                  f"{len(ids) if ids else len(ir.messages)} templates)", highlight=False)


@sbe_app.command("show")
def sbe_show(
    schema: Annotated[Path, typer.Argument(help="SBE schema XML")],
    template: Annotated[int | None, typer.Option(help="only this template id")] = None,
) -> None:
    """Templates, block lengths and field offsets of an SBE schema, as tables."""
    ir = _load_sbe(schema)
    console.print(f"{schema.name}: schema id {ir.id}, version {ir.version}, "
                  f"{ir.byte_order}, {ir.description or ''}; header {ir.header_type} "
                  f"({ir.header.size} bytes)", highlight=False)
    shown = [m for m in ir.messages if template is None or m.id == template]
    if not shown:
        err.print(f"[red]error:[/] no template {template} in {schema.name}")
        raise typer.Exit(1)
    for m in shown:
        t = Table(title=f"{m.id} {m.name}: blockLength {m.block_length}"
                        + (f", since v{m.since}" if m.since else ""))
        for c in ("field", "type", "offset", "size", "presence", "since"):
            t.add_column(c, justify="right" if c in ("offset", "size", "since") else "left")

        def rows(t: Table, prefix: str, fields, groups, data) -> None:
            for f in fields:
                t.add_row(prefix + f.name, f.type, str(f.offset), str(f.size), f.presence,
                          str(f.since or ""))
            for g in groups:
                t.add_row(f"{prefix}{g.name}[]", g.dimension, "", str(g.header_size),
                          f"entry {g.block_length}", str(g.since or ""))
                rows(t, prefix + "  ", g.fields, g.groups, g.data)
            for d in data:
                t.add_row(prefix + d.name, d.type, "", "var", "", str(d.since or ""))

        rows(t, "", m.fields, m.groups, m.data)
        console.print(t)


@app.command()
def backtest(
    file: Annotated[Path, typer.Argument(help="NASDAQ binary ITCH file (.gz ok) or pcap of MoldUDP64")],
    strategy: Annotated[str, typer.Option(help="strategy module path (or market_maker, observe)")] = "tickpath.strategy.market_maker",
    params: Annotated[str, typer.Option(help="the strategy's params as a JSON object")] = "{}",
    symbols: Annotated[str | None, typer.Option(help="comma-separated symbols to trade (default: the params', else all)")] = None,
    timer_ms: Annotated[float, typer.Option(help="on_timer interval, venue time")] = 1.0,
    stale_after_ms: Annotated[float, typer.Option(help="the feed is stale after this long without a record, venue time (0: never)")] = 0.0,
    json_out: Annotated[bool, typer.Option("--json", help="print the report as JSON")] = False,
) -> None:
    """Run a strategy over a file against a simulated venue; report orders, fills, P&L."""
    from dataclasses import asdict

    from .apps.backtest import backtest as run_backtest
    from .strategy.loader import StrategyError

    try:
        p = json.loads(params)
        if not isinstance(p, dict):
            raise ValueError("not a JSON object")
    except ValueError as e:
        err.print(f"[red]--params {params!r}: {e}[/red]")
        raise typer.Exit(2) from None
    syms = [x for x in symbols.split(",") if x] if symbols is not None else None
    try:
        rep = run_backtest(file, strategy, p, syms, timer_ms=timer_ms,
                           stale_after_ms=stale_after_ms)
    except (StrategyError, ValueError, OSError) as e:
        err.print(f"[red]{e}[/red]")
        raise typer.Exit(2) from None
    if json_out:
        print(json.dumps(asdict(rep)))
        return
    console.print(f"{rep.path}: {rep.datagrams:,} datagrams, {rep.records:,} records, "
                  f"{rep.seconds:.2f} s; strategy {rep.strategy}")
    console.print(f"orders {rep.orders:,} (replaces {rep.replaces:,}), cancels {rep.cancels:,}, "
                  f"fills {rep.fills:,} ({rep.filled_shares:,} shares), refused {rep.refused:,}; "
                  f"P&L ${rep.pnl_dollars:,.2f}")
    t = Table("symbol", "position", "bought", "sold", "cash $", "mark $")
    for sym, row in rep.positions.items():
        t.add_row(sym, str(row["position"]), str(row["bought"]), str(row["sold"]),
                  f"{row['cash'] / 10_000:,.2f}", _dollars(row["mark"]))
    console.print(t)


def main() -> None:
    try:
        app()
    except BrokenPipeError:  # `tickpath ... | head`
        sys.stderr.close()


if __name__ == "__main__":
    main()
