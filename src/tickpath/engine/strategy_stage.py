"""The strategy stage: ring -> strategy callbacks -> intents -> pre-trade risk -> order entry.

One compiled loop (:func:`strategy_loop`) per process, specialized for the strategy's state
type (:mod:`tickpath.strategy.api`) and cached on disk. Each turn polls each hand-off ring
(one per feed: the ITCH feed's, and more, e.g. an MDP 3.0 feed's) for up to a batch of
records (:mod:`tickpath.strategy.records`: trades and changed books) and
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

import time

from numba import njit

from ..ring import SpscRing, spsc
from ..ring.atomics import load_relaxed
from ..strategy.dispatch import tick_timer
from ..telemetry.nclock import realtime_ns
from ..telemetry.stamps import N_BOUNDARIES
from .agent import AgentState, duty_cycle
from .counters import Agent as AgentWord
from .counters import Control, Counters
from .trading import STATUS, Trader, egress, handle_batch, kill_thrown, venue_turn

BATCH = 64

# exits
DEADLINE, STOPPED, KILLED, SESSION = 0, 1, 2, 3
_STOP = int(Control.STOP)


@njit(cache=True, nogil=True, _nrt=False)
def strategy_loop(hdrs, wordss, control, sect, risk_counts, wait_code, wait_params, strategy,
                  ctx, g, limits, rate, storm, counts, st, rows, row_every, deadline_ns):
    """Run until the control section's STOP word (returns STOPPED), ``deadline_ns``
    (DEADLINE), the kill switch being thrown (KILLED: the owner cancels what rests at the
    venue, then calls again) or a session status the owner must act on (SESSION, the status
    in ``st[STATUS]``). ``hdrs``/``wordss``: the input rings (a tuple each, one ring per
    feed), polled in turn, a batch from each; each ring's records reach the strategy in
    their order. State to resume is in ``st``, ``ctx``, the strategy's state, the session
    ``g`` and ``rate``."""
    rounds = 0
    while True:
        if load_relaxed(control, _STOP) != 0:
            return STOPPED
        if kill_thrown(control, st):
            return KILLED
        got_any = 0
        for k in range(len(hdrs)):
            hdr, words = hdrs[k], wordss[k]
            n = spsc.poll(hdr, words, BATCH)
            if n == 0:
                continue
            got_any += n
            # one dequeued stamp for the whole batch, taken as the poll hands it over:
            # stamping each record later would charge the ring row with the earlier
            # records' strategy, risk and send(2) (docs/engine.md, Stamps and clocks)
            t_deq = realtime_ns()
            handle_batch(hdr, words, n, t_deq, strategy, ctx, g, limits, rate, control,
                         risk_counts, counts, sect, st, rows, row_every)
            spsc.release(hdr, n)
        if got_any > 0:
            rounds = duty_cycle(sect, got_any, rounds, wait_code, wait_params)  # work
        now = realtime_ns()
        got = venue_turn(strategy, ctx, g, now, limits, rate, storm, control, risk_counts,
                         counts, sect, st)
        if got < 0:
            st[STATUS] = got
            return SESSION
        if got_any == 0:  # nothing from the feeds: the session's answers were the work
            rounds = duty_cycle(sect, got, rounds, wait_code, wait_params)
        if tick_timer(strategy, ctx, now):
            egress(strategy, ctx, g, now, limits, rate, control, risk_counts, counts, sect)
        if now >= deadline_ns:
            return DEADLINE


class StrategyStage:
    """The stage's owner: attaches the ring and shared arrays, builds the trader (strategy,
    context over the order session's tables, risk, session: :class:`~.trading.Trader`),
    logs in to the venue's order entry, and drives :func:`strategy_loop` until told to
    stop, acting on what the loop hands back: a thrown kill switch (OUCH Mass Cancel of what
    rests at the venue), a session that must reconnect or has ended."""

    def __init__(self, spec, counters: Counters) -> None:
        p = spec.params
        self.counters = counters
        self.control = counters.section("control")
        self.sect = counters.section("strategy")
        self.risk = counters.section("risk")
        # one input ring per feed: "ring" (the ITCH feed's), then "more_rings" (e.g. an
        # MDP 3.0 feed's for a strategy that trades a future against its stocks)
        self.rings = [SpscRing.attach(name) for name in [p["ring"], *p.get("more_rings", [])]]
        self.ring = self.rings[0]
        self._hdrs = tuple(r.header for r in self.rings)
        self._words = tuple(r.words for r in self.rings)
        ws = spec.wait()
        self.wait_code, self.wait_params = ws.code, ws.params
        from .counters import attach_array

        self._rows_map, rows = attach_array(p["rows"], N_BOUNDARIES)
        self.trader = Trader(p, self.control, rows)
        t = self.trader
        self.state, self.ctx, self.session, self.limits = t.state, t.ctx, t.session, t.limits
        self.rows, self.st = t.rows, t.st

    def _loop(self, deadline_ns: int) -> int:
        t = self.trader
        return strategy_loop(self._hdrs, self._words, self.control, self.sect,
                             self.risk, self.wait_code, self.wait_params, t.state, t.ctx,
                             t.session.arrays, t.limits, t.rate, t.storm, t.counts, t.st,
                             t.rows, t.row_every, deadline_ns)

    def _connect(self) -> None:
        self.trader.connect()

    def run(self, tick_s: float = 0.2) -> None:
        self._loop(0)  # compile (or load from the cache) before saying ready
        self.st[:] = 0
        self.sect[AgentWord.WORK_CYCLES] = self.sect[AgentWord.IDLE_CYCLES] = 0
        self.trader.connect()
        self.sect[AgentWord.STATE] = AgentState.RUNNING
        while True:
            now = time.clock_gettime_ns(time.CLOCK_REALTIME)
            self.sect[AgentWord.BEAT_NS] = now
            code = self._loop(now + int(tick_s * 1e9))
            self.trader.publish(self.sect)
            if code == STOPPED:
                break
            if code == KILLED:
                self.trader.kill_thrown()
            elif code == SESSION:
                if self.control[Control.STOP]:  # the venue is leaving with the pipeline:
                    break  # its closed connection is the stop, not a session to mend
                self.trader.session_status(int(self.st[STATUS]))

    def close(self) -> None:
        self.trader.close()
        for r in self.rings:
            r.close()


def main(spec, counters: Counters) -> None:
    """Entry point of the strategy stage process (tickpath.engine.agent)."""
    stage = StrategyStage(spec, counters)
    try:
        stage.run()
    finally:
        stage.close()
