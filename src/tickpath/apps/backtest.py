"""Backtest a strategy over an ITCH file or a pcap of MoldUDP64 datagrams: the live feed
handler, the live strategy code, a simulated venue (:mod:`tickpath.strategy.simfill`).

    rep = backtest("day.itch.gz", "tickpath.strategy.market_maker",
                   {"edge": 100, "size": 100}, symbols=["MICU"])
    rep.orders, rep.fills, rep.positions, rep.pnl

A binary ITCH file (plain or gzip, read whole into memory) is cut into MoldUDP64 datagrams
of up to ``max_payload`` bytes; a pcap's UDP payloads are taken as they are, with their
capture stamps.
"""

from __future__ import annotations

import gzip
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..book import BookStore
from ..engine.backtest import N_COUNTS, RECORDS, REFUSED_RISK, backtest_loop, drain_records
from ..engine.feed_stage import tap_wait
from ..feed.itch import ItchFeed, ItchHandler
from ..feed.itch.step import TAP_FULL
from ..feed.moldudp64 import MoldSession, pack_packets
from ..gateway.layout import pnl
from ..ring import SpscRing
from ..risk import Reject, limits_array
from ..risk import new_state as risk_state
from ..strategy.context import ContextInfo, new_context, with_books
from ..strategy.loader import load_strategy
from ..strategy.records import SLOT_SIZE
from ..wire.handler import END_OF_SESSION, SETTLE
from ..wire.pcap import read_records, udp_payload

#: limits loose enough that a backtest is about the strategy (override with ``risk=``)
DEFAULT_RISK = {"max_order_size": 1_000_000, "max_position": 10_000_000,
                "max_notional": 1e12, "collar_bps": 10_000, "max_orders_per_s": 10_000_000}


@dataclass
class BacktestReport:
    path: str
    strategy: str
    datagrams: int
    records: int
    orders: int  # orders the venue accepted (replaces included)
    replaces: int
    cancels: int
    fills: int
    filled_shares: int
    refused: int  # intents refused by risk or by the venue model
    pnl: int  # Price(4) x shares: cash + marked positions
    positions: dict[str, dict[str, int]] = field(default_factory=dict)
    seconds: float = 0.0
    ring_full: int = 0
    risk: dict[str, int] = field(default_factory=dict)

    @property
    def pnl_dollars(self) -> float:
        return self.pnl / 10_000


def datagrams(path: str | Path, max_payload: int = 1400,
              session: str = "BACKTEST") -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(bytes, bounds, stamps)``: datagram k is ``bytes[bounds[k]:bounds[k+1]]``, received
    at ``stamps[k]`` (epoch ns; 0 when unknown)."""
    p = Path(path)
    if p.suffix in (".pcap", ".pcapng"):
        chunks, stamps = [], []
        for rec in read_records(p):
            got = udp_payload(rec.frame, rec.linktype)
            if got is not None:
                chunks.append(bytes(got[0]))
                stamps.append(rec.ts_ns)
        if not chunks:
            raise ValueError(f"{p}: no UDP datagrams in the capture")
        bounds = np.zeros(len(chunks) + 1, np.int64)
        bounds[1:] = np.cumsum([len(c) for c in chunks])
        return (np.frombuffer(b"".join(chunks), np.uint8).copy(), bounds,
                np.array(stamps, np.int64))
    opener = gzip.open if p.suffix == ".gz" else open
    with opener(p, "rb") as f:
        blocks = np.frombuffer(f.read(), np.uint8)
    if blocks.shape[0] == 0:
        raise ValueError(f"{p}: empty ITCH file")
    pkt, bounds, _ = pack_packets(blocks, session, max_payload=max_payload)
    return pkt, bounds, np.zeros(bounds.shape[0] - 1, np.int64)


def backtest(path: str | Path, strategy: str = "tickpath.strategy.market_maker",
             params: dict[str, Any] | None = None, symbols: list[str] | None = None, *,
             risk: dict[str, Any] | None = None, timer_ms: float = 1.0,
             stale_after_ms: float = 0.0, max_orders: int = 1 << 20,
             max_payload: int = 1400, pre_trade: bool = True) -> BacktestReport:
    """Run strategy ``strategy`` (module path or alias) with ``params`` (``symbols``, if
    given, joins them) over the file at ``path``; report orders, fills, positions, P&L.
    ``pre_trade``: pass new orders and replaces through the live pre-trade check
    (:func:`tickpath.risk.check.check_order` with ``risk`` limits; it refuses an order in an
    instrument with no book), or not."""
    params = dict(params or {})
    if symbols is not None:
        params["symbols"] = list(symbols)
    _, state = load_strategy(strategy, params, ContextInfo(mode="backtest"))
    packets, bounds, stamps = datagrams(path, max_payload)
    ring = SpscRing.create(f"tp-bt-{uuid.uuid4().hex[:8]}", 1 << 14, SLOT_SIZE, policy="drop")
    t0 = time.perf_counter()
    try:
        books = BookStore(max_orders=max_orders, errors="skip")
        feed = ItchFeed(ItchHandler(books, errors="skip"), MoldSession(),
                        tap=(ring.header, ring.words, tap_wait("busy_spin", 0)), max_samples=1)
        r = {**DEFAULT_RISK, **(risk or {})}
        limits = limits_array(r["max_order_size"], r["max_position"], r["max_notional"],
                              r["collar_bps"], r["max_orders_per_s"])
        if not pre_trade:
            limits = limits[:0]  # the loop's sign: no check
        position, rate = risk_state()
        control = np.zeros(4, np.int64)
        risk_counts = np.zeros(len(Reject), np.int64)
        ctx = new_context(levels=books.levels, heads=books.heads, control=control,
                          timer_ns=int(timer_ms * 1e6), stale_after_ns=int(stale_after_ms * 1e6),
                          ours_in_book=False)
        counts = np.zeros(N_COUNTS, np.int64)
        k, n = 0, bounds.shape[0] - 1
        while k < n:
            k, st = backtest_loop(feed.state, packets, bounds, stamps, k, ring.header,
                                  ring.words, state, ctx, limits, position, rate, control,
                                  risk_counts, counts)
            if st == SETTLE:
                feed.settle()  # publishes what the datagram's good messages did
                books = feed.books  # new tables (grown), or new books (a new session)
                ctx = with_books(ctx, books.levels, books.heads)
                drain_records(ring.header, ring.words, state, ctx, limits, position, rate,
                              control, risk_counts, counts)
            elif st == END_OF_SESSION:
                break
        seconds = time.perf_counter() - t0
        pos = {}
        for i in np.flatnonzero((ctx.positions["bought"] > 0) | (ctx.positions["sold"] > 0)):
            row = ctx.positions[i]
            pos[books.symbol(int(i)) or str(i)] = {
                "locate": int(i), "position": int(row["position"]), "bought": int(row["bought"]),
                "sold": int(row["sold"]), "cash": int(row["cash"]), "mark": int(row["mark"])}
        return BacktestReport(
            str(path), strategy, n, int(counts[RECORDS]), int(counts[0] + counts[4]),
            int(counts[4]), int(counts[3]), int(counts[1]), int(counts[2]),
            int(counts[5] + counts[REFUSED_RISK]), pnl(ctx.totals), pos, seconds,
            int(feed.feed[TAP_FULL]),
            {x.name.lower(): int(risk_counts[x]) for x in Reject if risk_counts[x]})
    finally:
        ring.unlink()
        ring.close()

