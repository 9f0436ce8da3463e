"""The traditional trading host of the central-bank scenario: kernel sockets woken per
datagram, the full-snapshot feeds, and the index arbitrage written in plain Python.

What a Python user on the traditional stack writes: two UDP sockets (the equities' Book
Snapshot feed, the future's SnapshotFullRefresh channel) under ``select``, each datagram
decoded in Python (:class:`~tickpath.feed.snapshot.PySnapshotFeed`,
:class:`~tickpath.feed.mdp3_full.plain.PyFullRefreshFeed`), then the basis priced again from
the last snapshot of every basket stock and of the future, and an order, when the basis
says so, sent over the same OUCH / SoupBinTCP order session the optimized host uses
(:class:`~tickpath.gateway.session.OrderSession`, driven from Python). The decision rule is
:mod:`tickpath.strategy.index_arb`'s, written again in Python (fair value, threshold,
flatten within ``exit``, one order at a time, ``max_position``).

Run by :mod:`tickpath.apps.scenario.run` in the host namespace: ``python -m
tickpath.apps.scenario.legacy_host '<json>'`` prints ``ready``, trades until the equities'
feed ends (and a grace for the last answers) or ``timeout_s``, writes its samples to ``out``
(npz) and prints one JSON line: :func:`tickpath.apps.scenario.host_report.summary`.
"""

from __future__ import annotations

import json
import os
import resource
import selectors
import sys
import time
from typing import Any

import numpy as np

from ...feed.mdp3_full.plain import PyFullRefreshFeed
from ...feed.snapshot import PySnapshotFeed
from ...gateway.journal import Journal
from ...gateway.layout import Total
from ...gateway.session import OrderSession
from ...wire.handler import END_OF_SESSION
from ...wire.transports import open_receiver
from .host_report import FUTURE_LOCATE, summary, tick_to_trade_us

GRACE_S = 0.5  # after the feed's end: the last order answers
SAMPLES = 1 << 21  # latency samples each feed keeps (their send stamps time the basis)


class LegacyArbitrage:
    """The index arbitrage in plain Python over the two snapshot feeds' books."""

    def __init__(self, sp: dict[str, Any], session: OrderSession, samples: int) -> None:
        self.basket = list(sp["basket"])
        self.weights = dict(zip(self.basket, sp["weights"], strict=True))
        self.scale = float(sp["scale"])
        self.future, self.security_id = sp["future"], int(sp["security_id"])
        self.ouch_px = int(sp["ouch_px"])  # PRICE9 mantissa per order-entry price unit
        self.threshold, self.exit = int(sp["threshold"]), int(sp.get("exit", 0))
        self.size, self.max_position = int(sp.get("size", 1)), int(sp.get("max_position", 5))
        self.session = session
        self.locates: dict[str, int] = {}  # basket symbol -> locate, learnt from snapshots
        self.mids: dict[str, float] = {}  # each stock's last mid (kept when a side empties)
        self.regime = 0
        self.opportunities = self.orders = 0
        self.fair = self.basis = 0.0
        self.mark = 0.0  # the future's last mid
        self.rows = np.zeros((samples, 4), np.int64)  # sent, seen, basis x 1000, feed
        self.n = 0
        self.t2t = np.zeros((samples, 2), np.int64)  # the order's packet sent, order sent
        self.n_t2t = 0

    def learn(self, eq: PySnapshotFeed) -> None:
        if len(self.locates) < len(self.basket):
            want = set(self.basket)
            for loc, b in eq.book.items():
                if b["stock"] in want:
                    self.locates[b["stock"]] = loc

    def evaluate(self, eq: PySnapshotFeed, fut: PyFullRefreshFeed, sent: int, now: int,
                 feed: int) -> None:
        """Price the basis from the books as the snapshots left them; act on it. ``feed``:
        whose datagram called (0: the stocks', 1: the future's; -1: an order's answer, no
        sample kept), as the compiled rule: a stock whose book lost a side keeps its last
        mid."""
        self.learn(eq)
        if len(self.locates) < len(self.basket):
            return
        total = 0.0
        for sym in self.basket:
            bid, ask = eq.bbo(self.locates[sym])
            if bid is not None and ask is not None:
                self.mids[sym] = (bid[0] + ask[0]) * 0.5
            mid = self.mids.get(sym)
            if mid is None:
                return
            total += self.weights[sym] * mid
        fbid, fask = fut.bbo(self.security_id)
        if fbid is None or fask is None:
            return
        bid, ask = fbid[0] // self.ouch_px, fask[0] // self.ouch_px
        fair = self.scale * total
        self.mark = (bid + ask) * 0.5
        self.fair, self.basis = fair, self.mark - fair
        if feed >= 0 and self.n < self.rows.shape[0]:
            self.rows[self.n] = (sent, now, int(self.basis * 1000.0), feed)
            self.n += 1
        regime = 1 if bid - fair > self.threshold else -1 if fair - ask > self.threshold else 0
        if regime and regime != self.regime:
            self.opportunities += 1
        self.regime = regime
        s = self.session
        if not s.connected or s.ended or s.totals[Total.OPEN_ORDERS] > 0:
            return  # one order at a time: its answer frees the next
        pos = int(s.positions[FUTURE_LOCATE]["position"])
        side, qty, price = "", 0, 0
        if regime == 1 and pos > -self.max_position:
            side, qty, price = "S", min(self.size, self.max_position + pos), bid
        elif regime == -1 and pos < self.max_position:
            side, qty, price = "B", min(self.size, self.max_position - pos), ask
        elif regime == 0 and pos and abs(self.basis) <= self.exit:
            side, qty, price = ("S", pos, bid) if pos > 0 else ("B", -pos, ask)
        if qty > 0:
            s.enter(FUTURE_LOCATE, self.future, side, qty, price, tif="3")
            self.orders += 1
            if self.n_t2t < self.t2t.shape[0]:
                self.t2t[self.n_t2t] = (sent, time.clock_gettime_ns(time.CLOCK_REALTIME))
                self.n_t2t += 1


def taken(feed: PySnapshotFeed | PyFullRefreshFeed) -> int:
    """Snapshots the feed has taken so far (a book replaced)."""
    return feed.snapshots if isinstance(feed, PySnapshotFeed) else feed.counters["snapshots"]


def main(argv: list[str]) -> None:
    cfg = json.loads(argv[0])
    cpu = cfg.get("cpu")
    if cpu is not None and cpu in os.sched_getaffinity(0):
        os.sched_setaffinity(0, {cpu})
    eq_rx = open_receiver("socket", cfg["equities"]["group"], int(cfg["equities"]["port"]),
                          iface_ip=cfg["iface_ip"])
    fut_rx = open_receiver("socket", cfg["futures"]["group"], int(cfg["futures"]["port"]),
                           iface_ip=cfg["iface_ip"])
    eq = PySnapshotFeed(max_depth=int(cfg.get("depth", 10)), max_samples=SAMPLES)
    fut = PyFullRefreshFeed(max_samples=SAMPLES)
    o = cfg["orders"]
    session = OrderSession(o["host"], int(o["port"]), o["username"], o["password"],
                           journal=Journal(o["journal"], "never"), stale_s=10.0)
    arb = LegacyArbitrage(cfg["strategy"], session, int(cfg.get("samples", 1 << 22)))
    sel = selectors.DefaultSelector()
    for rx in (eq_rx, fut_rx):
        rx.settimeout(0)
        sel.register(rx.sock, selectors.EVENT_READ, rx)
    session.connect()  # logged in before the day starts (the venue serves order entry)
    print("ready", flush=True)
    r0 = resource.getrusage(resource.RUSAGE_SELF)
    deadline = time.monotonic() + float(cfg["timeout_s"])
    end_by = None
    while time.monotonic() < deadline and (end_by is None or time.monotonic() < end_by):
        for key, _ in sel.select(timeout=0.01):
            rx = key.data
            while True:  # what the socket holds, one datagram at a time
                got = rx.recv()
                if got is None:
                    break
                buf, rx_ns = got
                feed = eq if rx is eq_rx else fut
                before = taken(feed)
                code = feed.on_datagram(buf, buf.shape[0], rx_ns)
                if taken(feed) > before:  # the datagram changed a book: price the basis
                    # the datagram's send stamp is its latency sample's (0 once they are
                    # all used: the evaluation then counts in no phase)
                    n = feed.samples
                    sent = int(feed.snt[n - 1]) if n < feed.snt.shape[0] else 0
                    arb.evaluate(eq, fut, sent, time.clock_gettime_ns(time.CLOCK_REALTIME),
                                 int(feed is fut))
                if feed is eq and code == END_OF_SESSION and end_by is None:
                    end_by = time.monotonic() + GRACE_S
        if session.poll() > 0:  # an order's answer: look at the basis again, as the
            arb.evaluate(eq, fut, 0, 0, -1)  # compiled rule does on_order_update
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    np.savez(cfg["out"], basis=arb.rows[:arb.n])
    t2t = arb.t2t[:arb.n_t2t]
    out = summary(session, FUTURE_LOCATE, arb.mark, arb.fair, {
        "host": "traditional", "opportunities": arb.opportunities, "orders": arb.orders,
        "equity_snapshots": eq.snapshots, "future_snapshots": fut.counters["snapshots"],
        "gaps": eq.counters["gaps"] + fut.counters["gaps"],
        "cpu_s": round((r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime), 3),
        "ended": end_by is not None, **tick_to_trade_us(t2t[:, 0], t2t[:, 1])})
    session.close()
    eq_rx.close()
    fut_rx.close()
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
