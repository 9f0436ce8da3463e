"""The strategy stage: ring -> strategy callbacks -> intents -> pre-trade risk -> order bytes.

One compiled loop (:func:`strategy_loop`) per process, specialized for the strategy's state
type (:mod:`tickpath.strategy.api`) and cached on disk. Each turn polls the hand-off ring for
up to a batch of records (:mod:`tickpath.strategy.records`: trades and changed books) and
stamps ``dequeued`` once for the batch. For each record the context learns it and the
strategy's ``on_trade`` or ``on_book`` runs, then the order updates queued so far go to its
``on_order_update`` (``decided``); the intents it wrote are risk-checked (``checked``), booked
in the order table, encoded as OUCH 5.0 (Enter, Replace, Cancel) and sent
(:mod:`tickpath.engine.egress`; ``order_out`` after the last). A record whose path reached
``order_out`` leaves a row of the ten stamps (:data:`tickpath.telemetry.stamps.STAMPS`) in a
shared-memory array the pipeline's owner reads (every ``row_every``-th such path, up to the
array's size). ``on_timer`` runs every ``timer_ms`` of the clock, busy or idle; the feed counts
as stale after ``stale_after_ms`` without a record.

The strategy is named by module path (``strategy = "tickpath.strategy.market_maker"``, or a
user's ``"mypkg.mystrat"``; ``"market_maker"`` and ``"observe"`` are aliases), loaded by
:func:`tickpath.strategy.loader.load_strategy`.
"""

from __future__ import annotations

import socket
import time

import numpy as np
from numba import njit

from ..codec.ouch50.encode import ENTER_ORDER_LEN
from ..ring import SpscRing, spsc
from ..ring.atomics import load_relaxed
from ..risk import limits_array
from ..risk import new_state as risk_state
from ..risk.layout import KILL_WORD
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
from .egress import (
    check_intents,
    cl_ord_id_template,
    enter_order_tif,
    send_intents,
)

OUCH_ENTER_ORDER_LEN = ENTER_ORDER_LEN
_TIF_DAY = ord("0")
BATCH = 64
#: rounds of (updates -> intents -> egress) after one record at most: a strategy answering
#: each update with an intent that is answered at once cannot spin the stage
MAX_ROUNDS = 4
DEFAULT_TIMER_MS = 1
DEFAULT_STALE_AFTER_MS = 2000

# exits
DEADLINE, STOPPED = 0, 1
# loop state words (st)
_PATHS = 1
_STOP = int(Control.STOP)
_RECORDS, _DECISIONS, _ORDERS, _REJECTS, _SEND_ERRORS, _ROWS, _DEPTH = (
    int(StrategyCounter[n]) for n in ("RECORDS", "DECISIONS", "ORDERS", "REJECTS",
                                      "SEND_ERRORS", "ROWS", "RING_DEPTH"))
_INTENTS = int(CtxWord.INTENTS)
_UPDATES = int(CtxWord.UPDATES)


@njit(cache=True, nogil=True)
def enter_order(buf, userref, side, qty, stock, price, cl_ord_id):
    """The stage's OUCH 5.0 Enter Order for a day order
    (:func:`tickpath.engine.egress.enter_order_tif` with TIF ``0``)."""
    return enter_order_tif(buf, userref, side, qty, stock, price, _TIF_DAY, cl_ord_id)


@njit(cache=True, nogil=True, _nrt=False)
def egress(strategy, ctx, now, limits, position, rate, control, risk_counts, msg, clord, fd,
           confirm, counts, sect):
    """Drain the outbox (risk, then book/encode/send), deliver the order updates that
    produced, and again for intents those wrote, up to MAX_ROUNDS. Returns messages sent."""
    sent = 0
    for _ in range(MAX_ROUNDS):
        if ctx.words[_INTENTS] == 0:
            break
        sect[_DECISIONS] += 1
        sect[_REJECTS] += check_intents(ctx, now, limits, position, rate, control,
                                        risk_counts)
        counts[0] = counts[1] = counts[2] = 0
        send_intents(ctx, msg, clord, fd, confirm, now, counts)
        sent += counts[0]
        sect[_SEND_ERRORS] += counts[1]
        sect[_REJECTS] += counts[2]
        deliver_updates(strategy, ctx)
    sect[_ORDERS] += sent
    return sent


@njit(cache=True, nogil=True, _nrt=False)
def strategy_loop(hdr, words, control, sect, risk_counts, wait_code, wait_params, strategy,
                  ctx, limits, position, rate, msg, clord, fd, confirm, counts, st, rows,
                  row_every, deadline_ns):
    """Run until the control section's STOP word (returns STOPPED) or ``deadline_ns``
    (DEADLINE), whichever first. State to resume is in ``st``, ``ctx``, the strategy's state,
    ``position``, ``rate``."""
    rounds = 0
    while True:
        if load_relaxed(control, _STOP) != 0:
            return STOPPED
        n = spsc.poll(hdr, words, BATCH)
        if n == 0:
            rounds = duty_cycle(sect, 0, rounds, wait_code, wait_params)
            if (rounds & 255) == 0:
                now = realtime_ns()
                if tick_timer(strategy, ctx, now):
                    egress(strategy, ctx, now, limits, position, rate, control, risk_counts,
                           msg, clord, fd, confirm, counts, sect)
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
            if ctx.words[_UPDATES] > 0:
                deliver_updates(strategy, ctx)
            t_dec = realtime_ns()
            sect[_RECORDS] += 1
            if ctx.words[_INTENTS] == 0:
                continue
            sect[_DECISIONS] += 1
            sect[_REJECTS] += check_intents(ctx, t_dec, limits, position, rate, control,
                                            risk_counts)
            t_chk = realtime_ns()
            counts[0] = counts[1] = counts[2] = 0
            send_intents(ctx, msg, clord, fd, confirm, t_chk, counts)
            sent = counts[0]
            sect[_SEND_ERRORS] += counts[1]
            sect[_REJECTS] += counts[2]
            sect[_ORDERS] += sent
            t_out = realtime_ns()
            if ctx.words[_UPDATES] > 0:  # what the egress booked; they may answer with more
                deliver_updates(strategy, ctx)
                egress(strategy, ctx, t_out, limits, position, rate, control, risk_counts,
                       msg, clord, fd, confirm, counts, sect)
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
        if tick_timer(strategy, ctx, now):
            egress(strategy, ctx, now, limits, position, rate, control, risk_counts, msg,
                   clord, fd, confirm, counts, sect)
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
    context, connects the order socket, and drives :func:`strategy_loop` until told to
    stop."""

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
        r = p["risk"]
        self.limits = limits_array(r["max_order_size"], r["max_position"], r["max_notional"],
                                   r["collar_bps"], r["max_orders_per_s"])
        self.position, self.rate = risk_state()
        self.ctx = new_context(control=self.control, kill_index=KILL_WORD,
                               stale_after_ns=stale_ns, timer_ns=timer_ns, ours_in_book=True)
        self.msg = np.zeros(64, np.uint8)
        self.clord = cl_ord_id_template()
        self.counts = np.zeros(3, np.int64)
        self.st = np.zeros(2, np.int64)
        from .counters import attach_array

        self._rows_map, self.rows = attach_array(p["rows"], N_BOUNDARIES)
        self.row_every = max(1, int(p.get("row_every", 1)))
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.connect(tuple(p["sink"]))

    def _loop(self, deadline_ns: int) -> int:
        return strategy_loop(self.ring.header, self.ring.words, self.control, self.sect,
                             self.risk, self.wait_code, self.wait_params, self.state,
                             self.ctx, self.limits, self.position, self.rate, self.msg,
                             self.clord, self.sock.fileno(), True, self.counts, self.st,
                             self.rows, self.row_every, deadline_ns)

    def run(self, tick_s: float = 0.2) -> None:
        self._loop(0)  # compile (or load from the cache) before saying ready
        self.sect[AgentWord.WORK_CYCLES] = self.sect[AgentWord.IDLE_CYCLES] = 0
        self.sect[AgentWord.STATE] = AgentState.RUNNING
        while True:
            now = time.clock_gettime_ns(time.CLOCK_REALTIME)
            self.sect[AgentWord.BEAT_NS] = now
            if self._loop(now + int(tick_s * 1e9)) == STOPPED:
                break

    def close(self) -> None:
        self.sock.close()
        self.ring.close()


def main(spec, counters: Counters) -> None:
    """Entry point of the strategy stage process (tickpath.engine.agent)."""
    stage = StrategyStage(spec, counters)
    try:
        stage.run()
    finally:
        stage.close()
