"""The strategy stage: ring -> strategy callbacks -> intents -> pre-trade risk -> order entry.

One compiled loop (:func:`strategy_loop`) per process, specialized for the strategy's state
type (:mod:`tickpath.strategy.api`) and cached on disk. Each turn polls the hand-off ring for
up to a batch of records (:mod:`tickpath.strategy.records`: trades and changed books) and
stamps ``dequeued`` once for the batch. For each record the context learns it and the
strategy's ``on_trade`` or ``on_book`` runs, then the order updates queued so far go to its
``on_order_update`` (``decided``); each intent it wrote is risk-checked against our orders,
positions and P&L (``checked`` after the first) and sent over the SoupBinTCP/OUCH session to
the venue's order entry (:mod:`tickpath.engine.order_entry`, :mod:`tickpath.gateway`;
``order_out`` after the last). A record whose path reached ``order_out`` leaves a row of the
ten stamps (:data:`tickpath.telemetry.stamps.STAMPS`) in a shared-memory array the pipeline's
owner reads (every ``row_every``-th such path, up to the array's size). Between batches the
loop polls the session: the venue's answers (accepted, executed, canceled, rejected, replaced)
update the order tables and reach the strategy's ``on_order_update``; positions and P&L move
only on executions. ``on_timer`` runs every ``timer_ms`` of the clock, busy or idle; the feed
counts as stale after ``stale_after_ms`` without a record. When the kill switch is thrown the
loop returns once to its owner, which sends an OUCH Mass Cancel for everything resting.

The strategy is named by module path (``strategy = "tickpath.strategy.market_maker"``, or a
user's ``"mypkg.mystrat"``; ``"market_maker"`` and ``"observe"`` are aliases), loaded by
:func:`tickpath.strategy.loader.load_strategy`.
"""

from __future__ import annotations

import logging
import time

import numpy as np
from numba import njit

from ..gateway.journal import Journal
from ..gateway.layout import Total
from ..gateway.session import LoginRejected, OrderSession, Poll, S
from ..ring import SpscRing, spsc
from ..ring.atomics import load_relaxed
from ..risk.layout import KILL_WORD, limits_from, new_rate, new_storm
from ..strategy import records as R
from ..strategy.context import ContextInfo, new_context
from ..strategy.dispatch import deliver_updates, handle_record, tick_timer
from ..strategy.layout import CtxWord
from ..strategy.loader import load_strategy
from ..telemetry.nclock import realtime_ns
from ..telemetry.stamps import N_BOUNDARIES
from .agent import AgentState, duty_cycle
from .counters import Agent as AgentWord
from .counters import Control, Counters, StrategyCounter
from .order_entry import (
    FIRST_CHECK_NS,
    N_COUNTS,
    REFUSED,
    SEND_ERRORS,
    mark,
    pump,
    send_intents,
    zero,
)

BATCH = 64
#: rounds of (updates -> intents -> egress) after one record at most: a strategy answering
#: each update with an intent that is answered at once cannot spin the stage
MAX_ROUNDS = 4
DEFAULT_TIMER_MS = 1
DEFAULT_STALE_AFTER_MS = 2000

# exits
log = logging.getLogger(__name__)

DEADLINE, STOPPED, KILLED, SESSION = 0, 1, 2, 3
# loop state words (st)
_PATHS, _KILL_SEEN, _STATUS, _VENUE_MSGS, _SESSION_OFF = 1, 2, 3, 4, 5
N_ST = 8
_STOP = int(Control.STOP)
_KILL = int(Control.KILL)
_RECORDS, _DECISIONS, _ORDERS, _REJECTS, _SEND_ERRORS, _ROWS, _DEPTH = (
    int(StrategyCounter[n]) for n in ("RECORDS", "DECISIONS", "ORDERS", "REJECTS",
                                      "SEND_ERRORS", "ROWS", "RING_DEPTH"))
_FILLS, _VENUE_REJECTS, _VENUE_MESSAGES, _RECONNECTS, _POSITION, _PNL = (
    int(StrategyCounter[n]) for n in ("FILLS", "VENUE_REJECTS", "VENUE_MESSAGES",
                                      "RECONNECTS", "GROSS_POSITION", "PNL"))
_INTENTS = int(CtxWord.INTENTS)
_UPDATES = int(CtxWord.UPDATES)


@njit(cache=True, nogil=True, _nrt=False)
def egress(strategy, ctx, g, now, limits, rate, control, risk_counts, counts, sect):
    """Send the outbox (risk, then the session's sends), deliver the order updates queued
    meanwhile, and again for intents those wrote, up to MAX_ROUNDS. Returns messages sent."""
    sent = 0
    for _ in range(MAX_ROUNDS):
        if ctx.words[_INTENTS] == 0:
            break
        sect[_DECISIONS] += 1
        zero(counts)
        sent += send_intents(ctx, g, now, limits, rate, control, risk_counts, counts)
        sect[_SEND_ERRORS] += counts[SEND_ERRORS]
        sect[_REJECTS] += counts[REFUSED]
        if ctx.words[_UPDATES] > 0:
            deliver_updates(strategy, ctx)
    sect[_ORDERS] += sent
    return sent


@njit(cache=True, nogil=True, _nrt=False)
def _venue(strategy, ctx, g, now, limits, rate, storm, control, risk_counts, counts, sect, st):
    """The session's duty cycle and what the strategy answers to it. Returns the session's
    status (< 0: the owner must act) or the messages applied."""
    if st[_SESSION_OFF] != 0:  # the venue ended the session
        return 0
    got = pump(ctx, g, now, limits, storm, control)
    if got > 0:
        st[_VENUE_MSGS] += got
        deliver_updates(strategy, ctx)
        egress(strategy, ctx, g, now, limits, rate, control, risk_counts, counts, sect)
    return got


@njit(cache=True, nogil=True, _nrt=False)
def strategy_loop(hdr, words, control, sect, risk_counts, wait_code, wait_params, strategy,
                  ctx, g, limits, rate, storm, counts, st, rows, row_every, deadline_ns):
    """Run until the control section's STOP word (returns STOPPED), ``deadline_ns``
    (DEADLINE), the kill switch being thrown (KILLED: the owner cancels what rests at the
    venue, then calls again) or a session status the owner must act on (SESSION, the status
    in ``st[_STATUS]``). State to resume is in ``st``, ``ctx``, the strategy's state, the
    session ``g`` and ``rate``."""
    rounds = 0
    while True:
        if load_relaxed(control, _STOP) != 0:
            return STOPPED
        if load_relaxed(control, _KILL) != 0:
            if st[_KILL_SEEN] == 0:  # thrown since the last look: once per throw
                st[_KILL_SEEN] = 1
                return KILLED
        else:
            st[_KILL_SEEN] = 0
        n = spsc.poll(hdr, words, BATCH)
        if n == 0:
            now = realtime_ns()
            got = _venue(strategy, ctx, g, now, limits, rate, storm, control, risk_counts,
                         counts, sect, st)
            if got < 0:
                st[_STATUS] = got
                return SESSION
            rounds = duty_cycle(sect, got, rounds, wait_code, wait_params)
            if tick_timer(strategy, ctx, now):
                egress(strategy, ctx, g, now, limits, rate, control, risk_counts, counts,
                       sect)
            if now >= deadline_ns:
                return DEADLINE
            continue
        rounds = duty_cycle(sect, n, rounds, wait_code, wait_params)
        # one dequeued stamp for the whole batch, taken as the poll hands it over: stamping
        # each record later would charge the ring row with the earlier records' strategy,
        # risk and send(2) (docs/engine.md, Stamps and clocks)
        t_deq = realtime_ns()
        seq = spsc.consumer_position(hdr)
        sect[_DEPTH] = spsc.producer_position(hdr) - seq
        for i in range(n):
            b = spsc.slot_base(hdr, seq + i) + 1
            handle_record(strategy, ctx, words, b, t_deq)
            if words[b + R.KIND] == R.BOOK:
                mark(g, words[b + R.LOCATE], words[b + R.BID_PRICE], words[b + R.ASK_PRICE])
            if ctx.words[_UPDATES] > 0:
                deliver_updates(strategy, ctx)
            t_dec = realtime_ns()
            sect[_RECORDS] += 1
            if ctx.words[_INTENTS] == 0:
                continue
            sect[_DECISIONS] += 1
            zero(counts)
            sent = send_intents(ctx, g, t_dec, limits, rate, control, risk_counts, counts)
            sect[_SEND_ERRORS] += counts[SEND_ERRORS]
            sect[_REJECTS] += counts[REFUSED]
            sect[_ORDERS] += sent
            t_out = realtime_ns()
            t_chk = counts[FIRST_CHECK_NS] if counts[FIRST_CHECK_NS] > 0 else t_out
            if ctx.words[_UPDATES] > 0:  # local refusals; they may answer with more
                deliver_updates(strategy, ctx)
                egress(strategy, ctx, g, t_out, limits, rate, control, risk_counts, counts,
                       sect)
            if sent == 0:
                continue
            st[_PATHS] += 1
            r = sect[_ROWS]
            if r < rows.shape[0] and (st[_PATHS] - 1) % row_every == 0:
                for c in range(R.N_CARRIED):
                    rows[r, c] = words[b + R.STAMP0 + c]
                rows[r, R.N_CARRIED] = t_deq
                rows[r, R.N_CARRIED + 1] = t_dec
                rows[r, R.N_CARRIED + 2] = t_chk
                rows[r, R.N_CARRIED + 3] = t_out
                sect[_ROWS] = r + 1
        spsc.release(hdr, n)
        now = realtime_ns()
        got = _venue(strategy, ctx, g, now, limits, rate, storm, control, risk_counts, counts,
                     sect, st)
        if got < 0:
            st[_STATUS] = got
            return SESSION
        if tick_timer(strategy, ctx, now):
            egress(strategy, ctx, g, now, limits, rate, control, risk_counts, counts, sect)
        if now >= deadline_ns:
            return DEADLINE


def stage_params(params: dict) -> tuple[dict, int, int]:
    """Split the stage's strategy params into the strategy's own, the timer and the
    staleness interval (ns): ``timer_ms`` and ``stale_after_ms`` belong to the stage."""
    p = dict(params)
    timer_ms = p.pop("timer_ms", DEFAULT_TIMER_MS)
    stale_ms = p.pop("stale_after_ms", DEFAULT_STALE_AFTER_MS)
    return p, int(timer_ms * 1_000_000), int(stale_ms * 1_000_000)


class StrategyStage:
    """The stage's owner: attaches the ring and shared arrays, loads the strategy, builds the
    context over the order session's tables, connects the session to the venue's order
    entry, and drives :func:`strategy_loop` until told to stop, acting on what the loop
    hands back: a thrown kill switch (OUCH Mass Cancel of what rests at the venue), a
    session that must reconnect or has ended."""

    def __init__(self, spec, counters: Counters) -> None:
        p = spec.params
        self.counters = counters
        self.control = counters.section("control")
        self.sect = counters.section("strategy")
        self.risk = counters.section("risk")
        own, timer_ns, stale_ns = stage_params(p["strategy_params"])
        self.module, self.state = load_strategy(p["strategy"], own, ContextInfo(mode="live"))
        self.ring = SpscRing.attach(p["ring"])
        ws = spec.wait()
        self.wait_code, self.wait_params = ws.code, ws.params
        self.limits = limits_from(p["risk"])
        self.rate, self.storm = new_rate(), new_storm(self.limits)
        gw = p["gateway"]
        self.session = OrderSession(
            gw["host"], int(gw["port"]), gw["username"], gw["password"],
            journal=Journal(gw["journal"], gw.get("fsync", "interval")),
            stale_s=float(gw.get("stale_s", 3.0)), heartbeat_s=float(gw.get("heartbeat_s", 1.0)),
            firm=gw.get("firm", ""))
        self.connect_timeout_s = float(gw.get("connect_timeout_s", 60.0))
        g = self.session.arrays
        self.ctx = new_context(orders=g.orders, positions=g.positions, totals=g.totals,
                               control=self.control, kill_index=KILL_WORD,
                               stale_after_ns=stale_ns, timer_ns=timer_ns, ours_in_book=True)
        self.counts = np.zeros(N_COUNTS, np.int64)
        self.st = np.zeros(N_ST, np.int64)
        from .counters import attach_array

        self._rows_map, self.rows = attach_array(p["rows"], N_BOUNDARIES)
        self.row_every = max(1, int(p.get("row_every", 1)))

    def _loop(self, deadline_ns: int) -> int:
        return strategy_loop(self.ring.header, self.ring.words, self.control, self.sect,
                             self.risk, self.wait_code, self.wait_params, self.state,
                             self.ctx, self.session.arrays, self.limits, self.rate,
                             self.storm, self.counts, self.st, self.rows, self.row_every,
                             deadline_ns)

    def _connect(self) -> None:
        """Log in to the venue's order entry; the venue may still be starting, so a refused
        connection is tried again until ``connect_timeout_s``."""
        end = time.monotonic() + self.connect_timeout_s
        while True:
            try:
                self.session.connect()
                return
            except OSError as e:
                if time.monotonic() > end:
                    raise OSError(e.errno, f"order entry at {self.session.venue}: {e}") from e
                time.sleep(0.05)

    def _publish(self) -> None:
        g = self.session.arrays
        t = g.totals
        self.sect[_FILLS] = t[Total.FILLS]
        self.sect[_VENUE_REJECTS] = t[Total.REJECTS]
        self.sect[_VENUE_MESSAGES] = g.state[S.MESSAGES]
        self.sect[_RECONNECTS] = self.session.reconnects
        self.sect[_POSITION] = int(np.abs(g.positions["position"]).sum())
        self.sect[_PNL] = int(t[Total.CASH] + t[Total.MARKED])

    def run(self, tick_s: float = 0.2) -> None:
        self._loop(0)  # compile (or load from the cache) before saying ready
        self.st[:] = 0
        self.sect[AgentWord.WORK_CYCLES] = self.sect[AgentWord.IDLE_CYCLES] = 0
        self._connect()
        self.sect[AgentWord.STATE] = AgentState.RUNNING
        while True:
            now = time.clock_gettime_ns(time.CLOCK_REALTIME)
            self.sect[AgentWord.BEAT_NS] = now
            code = self._loop(now + int(tick_s * 1e9))
            self._publish()
            if code == STOPPED:
                break
            if code == KILLED and self.session.connected:
                self.session.mass_cancel()
            elif code == SESSION:
                self._session_status(int(self.st[_STATUS]))

    def _session_status(self, status: int) -> None:
        """Reconnect, or accept that the venue has ended the day's session."""
        try:
            if status == Poll.NOT_CONNECTED:  # a send found the connection gone
                self.session.reconnect("the connection failed while sending")
            else:
                self.session.handle(status)
        except LoginRejected as e:  # the venue no longer takes this session: its day is over
            log.warning("%s; no more orders this session", e)
            self.session.ended = True
        if self.session.ended:
            self.st[_SESSION_OFF] = 1

    def close(self) -> None:
        self.session.close()
        self.ring.close()


def main(spec, counters: Counters) -> None:
    """Entry point of the strategy stage process (tickpath.engine.agent)."""
    stage = StrategyStage(spec, counters)
    try:
        stage.run()
    finally:
        stage.close()
