"""Run to completion: feed, strategy, risk and order entry in one compiled loop on one core.

DPDK's name for it: a packet is taken off the wire, decoded, booked, handed to the strategy,
checked and turned into an order on the same thread, with nothing crossing a core between
the packet and the order. The transport's own receive loop runs it: the stage's handler
state is :data:`Trading`, which the seam (:mod:`tickpath.wire.handler`) dispatches on like
any feed's. For each datagram its implementation

1. hands the datagram to the ITCH feed handler (``on_datagram`` on the feed's own state),
   which publishes the records of what changed into a ring in this process's memory;
2. takes those records off the ring at once and runs them through the same trading step as
   the pipelined strategy stage (:func:`tickpath.engine.trading.handle_batch`: callbacks,
   risk, the order session's sends);
3. polls the order session (the venue's answers) at most every ``POLL_EVERY_NS`` while
   datagrams keep coming;

and when a poll finds no datagram (the seam's idle turn, ``on_idle``) it polls the session,
runs the strategy's timer and looks at the control words. Anything Python must handle (the
feed's refused message, the kill switch, the session reconnecting, STOP) is returned as
``SETTLE`` with the reason in ``st[WHY]``; the owner acts and calls the loop again.

On a host with two cores this is the layout that leaves a core to the venue (the pipelined
one needs two cores for the trader alone); the pipeline's placement note says so
(``pipeline.topology = "run_to_completion"``).
"""

from __future__ import annotations

import time
import uuid
from collections import namedtuple
from functools import partial

from numba import njit

from ..book import BookStore
from ..feed.itch import ItchFeed, ItchHandler
from ..feed.itch.glimpse import SnapshotRejoin
from ..feed.moldudp64 import MoldSession
from ..feed.moldudp64.recovery import MoldRecovery, parse_hostport
from ..ring import SpscRing, spsc
from ..ring.atomics import load_relaxed
from ..strategy.dispatch import tick_timer
from ..strategy.records import SLOT_SIZE
from ..telemetry.nclock import realtime_ns
from ..telemetry.stamps import N_BOUNDARIES
from ..wire.handler import (
    END_OF_SESSION,
    GO_ON,
    SETTLE,
    implements,
    implements_idle,
    on_datagram,
    on_idle,
)
from ..wire.transports import open_receiver
from .agent import AgentState
from .counters import Agent as AgentWord
from .counters import Control, Counters
from .feed_stage import publish_feed_counters, tap_wait
from .trading import (
    LAST_POLL_NS,
    STATUS,
    WHY,
    Trader,
    egress,
    handle_batch,
    kill_thrown,
    venue_turn,
)

#: the loop's state: the feed handler's, the in-process ring, and the trader's arrays
Trading = namedtuple("Trading", [
    "feed", "hdr", "words", "strategy", "ctx", "g", "limits", "rate", "storm", "counts", "st",
    "rows", "row_every", "control", "sect", "risk_counts"])

# why the loop handed control back (st[WHY])
WHY_FEED, WHY_KILL, WHY_SESSION, WHY_STOP = 1, 2, 3, 4
#: while datagrams keep coming, the order session is polled at most this often
POLL_EVERY_NS = 20_000
BATCH = 256
_STOP = int(Control.STOP)


@njit(cache=True, nogil=True, _nrt=False)
def _turn(state, now):
    """The work besides datagrams: control words, the session, the timer."""
    st = state.st
    st[LAST_POLL_NS] = now
    if load_relaxed(state.control, _STOP) != 0:
        st[WHY] = WHY_STOP
        return SETTLE
    if kill_thrown(state.control, st):
        st[WHY] = WHY_KILL
        return SETTLE
    got = venue_turn(state.strategy, state.ctx, state.g, now, state.limits, state.rate,
                     state.storm, state.control, state.risk_counts, state.counts, state.sect,
                     st)
    if got < 0:
        st[STATUS] = got
        st[WHY] = WHY_SESSION
        return SETTLE
    if tick_timer(state.strategy, state.ctx, now):
        egress(state.strategy, state.ctx, state.g, now, state.limits, state.rate,
               state.control, state.risk_counts, state.counts, state.sect)
    return GO_ON


@njit(cache=True, nogil=True, _nrt=False)
def _drain(state):
    """Every record the feed handler published, through the trading step, a batch at a
    time; returns how many."""
    total = 0
    while True:
        n = spsc.poll(state.hdr, state.words, BATCH)
        if n == 0:
            return total
        handle_batch(state.hdr, state.words, n, realtime_ns(), state.strategy, state.ctx,
                     state.g, state.limits, state.rate, state.control, state.risk_counts,
                     state.counts, state.sect, state.st, state.rows, state.row_every)
        spsc.release(state.hdr, n)
        total += n


@implements(Trading)
def _trading_datagram(state, buf, start, size, rx_ns):
    code = on_datagram(state.feed, buf, start, size, rx_ns)
    _drain(state)
    if code == SETTLE:
        state.st[WHY] = WHY_FEED
        return SETTLE
    now = realtime_ns()
    if now - state.st[LAST_POLL_NS] >= POLL_EVERY_NS:
        t = _turn(state, now)
        if t != GO_ON:
            return t
    return code


@implements_idle(Trading)
def _trading_idle(state, now_ns):
    code = on_idle(state.feed, now_ns)  # the feed's recovery: re-requests, answers
    _drain(state)
    if code == SETTLE:
        state.st[WHY] = WHY_FEED
        return SETTLE
    t = _turn(state, now_ns)
    return t if t != GO_ON else code


class RunToCompletionStage:
    """The stage's owner: the feed handler (with a ring of its own, in this process), the
    receiver, the trader (strategy, risk, order session); it drives the transport's receive
    loop with a :data:`Trading` state and acts on what the loop hands back."""

    def __init__(self, spec, counters: Counters) -> None:
        p = spec.params
        self.counters = counters
        self.control = counters.section("control")
        self.sect = counters.section("strategy")
        self.fsect = counters.section("feed")
        # the hand-off ring lives in this process only: made, mapped, its name removed
        name = f"tp-rtc-{uuid.uuid4().hex[:12]}"
        self.ring = SpscRing.create(name, int(p.get("ring_capacity", 4096)), SLOT_SIZE,
                                    policy="drop")
        self.ring.unlink()
        books = BookStore(max_orders=int(p.get("max_orders", 1 << 20)), errors="skip")
        server = parse_hostport(p["retransmit"]) if p.get("retransmit") else None
        self.feed = ItchFeed(ItchHandler(books, errors="skip"),
                             MoldSession(expected=1 if server else 0),  # as the feed stage
                             tap=(self.ring.header, self.ring.words, tap_wait("noop", 0)),
                             recovery=MoldRecovery(server, silence_s=float(
                                 p.get("silence_s", 2.0))))
        self.rx = open_receiver(p["transport"], p["host"], int(p["port"]),
                                iface_ip=p.get("iface_ip", "0.0.0.0"))
        self.feed.attach(self.rx)
        self.rejoin = SnapshotRejoin(parse_hostport(p["glimpse"]) if p.get("glimpse")
                                     else None)
        if not getattr(self.rx, "compiled", False):
            raise ValueError(f"run to completion needs a compiled receive loop; transport "
                             f"{p['transport']!r} calls the handler from Python (use recv, "
                             f"busypoll, packet, xdp or dpdk)")
        from .counters import attach_array

        self._rows_map, rows = attach_array(p["rows"], N_BOUNDARIES)
        self.trader = Trader(p, self.control, rows)
        self.ended = False
        self.state = self._trading()

    def _trading(self) -> Trading:
        """The loop's state over the feed's current arrays (new ones after a snapshot)."""
        t = self.trader
        return Trading(self.feed.state, self.ring.header, self.ring.words, t.state, t.ctx,
                       t.session.arrays, t.limits, t.rate, t.storm, t.counts, t.st, t.rows,
                       t.row_every, self.control, self.sect, self.counters.section("risk"))

    def _publish(self) -> None:
        publish_feed_counters(self.fsect, self.feed, self.rx, self.ended)
        self.trader.publish(self.sect)
        now = time.clock_gettime_ns(time.CLOCK_REALTIME)
        self.sect[AgentWord.BEAT_NS] = now

    def _settle(self) -> bool:
        """Act on what the loop handed back; False when the stage should stop."""
        why = int(self.trader.st[WHY])
        self.trader.st[WHY] = 0
        if why == WHY_STOP:
            return False
        if why == WHY_FEED:
            self.feed.settle(drain=partial(_drain, self.state))  # publishes the datagram's
            #                                 good records (a new session: empty tops) ...
            self.state = self._trading()  # (its tables may have grown: new arrays)
            _drain(self.state)  # ... which go through the trading step now
        elif why == WHY_KILL:
            self.trader.kill_thrown()
        elif why == WHY_SESSION:
            self.trader.session_status(int(self.trader.st[STATUS]))
        return True

    def run(self, tick_s: float = 0.05) -> None:
        self.rx.poll(self.state, 0, 0)  # compile (or load) the loop for this state
        self.trader.st[:] = 0
        self.trader.connect()
        self.fsect[AgentWord.STATE] = AgentState.RUNNING
        self.sect[AgentWord.STATE] = AgentState.RUNNING
        while True:
            deadline = time.clock_gettime_ns(time.CLOCK_REALTIME) + int(tick_s * 1e9)
            code = self.rx.poll(self.state, deadline, 0)
            if code == END_OF_SESSION:
                self.ended = True  # the feed is over; the session is served until STOP
            elif code == SETTLE and not self._settle():
                break
            # the loop state's ring and trader stay: they drain what the rejoin publishes
            if self.rejoin.maybe(self.feed, drain=partial(_drain, self.state)):
                self.state = self._trading()  # a stale feed's books from a snapshot
                _drain(self.state)  # the tops and STATUS it published, through the trader
            self._publish()
            if self.control[_STOP]:
                break
        self._publish()

    def close(self) -> None:
        self.trader.close()
        self.rx.close()
        self.ring.close()
        self.feed.close()


def main(spec, counters: Counters) -> None:
    """Entry point of the run-to-completion stage process (tickpath.engine.agent)."""
    stage = RunToCompletionStage(spec, counters)
    try:
        stage.run()
    finally:
        stage.close()


__all__ = ["RunToCompletionStage", "Trading", "main"]
