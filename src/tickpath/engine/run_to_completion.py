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

A second feed (``params["futures"]``: a CME MDP 3.0 channel, for a strategy that trades an
index future against its stocks) is received on a non-blocking socket of its own
(:class:`~tickpath.wire.busypoll.BusyPollReceiver`'s compiled ``recvmmsg`` loop, called for
one pass: it drains what is there and returns) at every turn of step 3 and every idle turn;
its handler's records go through a second in-process ring into the same trading step. The
loop's state is then :data:`TwoFeedTrading`; :func:`side_poll` compiles to nothing for
:data:`Trading`.
"""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections import namedtuple
from functools import partial

from numba import njit, types
from numba.extending import overload

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
from ..wire.busypoll import poll_pass
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

#: a second feed's receiver: a BusyPollReceiver's arrays, for one pass of its compiled loop
SideReceiver = namedtuple("SideReceiver", [
    "fd", "vec", "vec64", "vec32", "vlen", "bufs", "slot", "ctrl64", "ctrl32", "rx", "flags"])
#: the loop's state with a second feed: its receiver, its handler's state, its ring
TwoFeedTrading = namedtuple("TwoFeedTrading", [*Trading._fields, "side", "feed2", "hdr2",
                                               "words2"])

# why the loop handed control back (st[WHY])
WHY_FEED, WHY_KILL, WHY_SESSION, WHY_STOP, WHY_FEED2 = 1, 2, 3, 4, 5
#: while datagrams keep coming, the order session is polled at most this often
POLL_EVERY_NS = 20_000
BATCH = 256
#: without a snapshot service, the loop hands control back to its owner at least this often
QUIET_S = 1.0
#: where a second feed's instruments are numbered from (clear of ITCH's stock locates)
DEFAULT_FUTURES_LOCATE = 1 << 15
#: the owner's parts of a second feed
SideFeed = namedtuple("SideFeed", ["ring", "feed", "rx"])
_STOP = int(Control.STOP)


def _side_pass(state):
    """One pass over the second feed's socket (what is there, then back), its records
    through the trading step; SETTLE when its handler needs the owner."""
    r = state.side
    code = poll_pass(r.fd, r.vec, r.vec64, r.vec32, r.vlen, r.bufs, r.slot, r.ctrl64,
                     r.ctrl32, 0, 0, state.feed2, r.rx, r.flags)
    if code != SETTLE:  # the handler's idle work: records a full ring refused, sent again
        code = on_idle(state.feed2, realtime_ns())
    _drain_ring(state, state.hdr2, state.words2)
    return SETTLE if code == SETTLE else GO_ON


def side_poll(state):
    """The second feed's turn: :func:`_side_pass` for a :data:`TwoFeedTrading` state, GO_ON
    (nothing) for a :data:`Trading` one."""
    return _side_pass(state) if isinstance(state, TwoFeedTrading) else GO_ON


def _no_side(state):
    return GO_ON


@overload(side_poll, jit_options={"_nrt": False})
def _typed_side_poll(state):
    if isinstance(state, types.BaseNamedTuple) and state.instance_class is TwoFeedTrading:
        return _side_pass
    return _no_side


@njit(cache=True, nogil=True, _nrt=False)
def _turn(state, now):
    """The work besides datagrams: the second feed (if any), control words, the session,
    the timer."""
    st = state.st
    st[LAST_POLL_NS] = now
    if side_poll(state) == SETTLE:
        st[WHY] = WHY_FEED2
        return SETTLE
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
def _drain_ring(state, hdr, words):
    """Every record on the ring ``hdr``/``words``, through the trading step, a batch at a
    time; returns how many."""
    total = 0
    while True:
        n = spsc.poll(hdr, words, BATCH)
        if n == 0:
            return total
        handle_batch(hdr, words, n, realtime_ns(), state.strategy, state.ctx,
                     state.g, state.limits, state.rate, state.control, state.risk_counts,
                     state.counts, state.sect, state.st, state.rows, state.row_every)
        spsc.release(hdr, n)
        total += n


@njit(cache=True, nogil=True, _nrt=False)
def _drain(state):
    """Every record the (first) feed handler published, through the trading step."""
    return _drain_ring(state, state.hdr, state.words)


@implements(TwoFeedTrading)
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


@implements_idle(TwoFeedTrading)
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
        self.ended = self.started = False
        self.futures = self._futures(p.get("futures"))
        self.state = self._trading()

    def _futures(self, fp: dict | None):
        """The second feed (an MDP 3.0 channel) when ``fp`` names it: ``{"host", "port",
        "iface_ip", "locate_base", "late_join"}``; its ring, handler and non-blocking
        receiver."""
        if not fp:
            return None
        from ..feed.mdp3 import Mdp3Feed
        from ..wire.busypoll import BusyPollReceiver

        name = f"tp-rtc2-{uuid.uuid4().hex[:12]}"
        # a pass decodes the socket's whole backlog before the ring is drained: room for
        # a burst's worth (a full ring drops, counted; a lost trade stays lost)
        ring = SpscRing.create(name, int(fp.get("ring_capacity", 1 << 16)), SLOT_SIZE,
                               policy="drop")
        ring.unlink()
        # late_join "natural": a host up before the day starts follows it from its
        # definitions; "snapshot" (CME's way) waits for the channel's snapshot loop, which
        # this receiver hears only when it comes to the same group and port
        feed = Mdp3Feed(tap=(ring.header, ring.words, tap_wait("noop", 0)),
                        locate_base=int(fp.get("locate_base", DEFAULT_FUTURES_LOCATE)),
                        errors="skip", late_join=fp.get("late_join", "snapshot"))
        rx = BusyPollReceiver(fp["host"], int(fp["port"]), iface_ip=fp.get("iface_ip",
                                                                           "0.0.0.0"))
        return SideFeed(ring, feed, rx)

    def _trading(self) -> Trading:
        """The loop's state over the feed's current arrays (new ones after a snapshot)."""
        t = self.trader
        one = Trading(self.feed.state, self.ring.header, self.ring.words, t.state, t.ctx,
                      t.session.arrays, t.limits, t.rate, t.storm, t.counts, t.st, t.rows,
                      t.row_every, self.control, self.sect, self.counters.section("risk"))
        f = self.futures
        if f is None:
            return one
        return TwoFeedTrading(*one, SideReceiver(*f.rx.loop_arrays()), f.feed.state,
                              f.ring.header, f.ring.words)

    def _publish(self) -> None:
        publish_feed_counters(self.fsect, self.feed, self.rx, self.ended)
        self.trader.publish(self.sect)
        # the beat is the loop's own (its last turn), not the publishing thread's: a loop
        # that stopped turning must not look alive
        beat = int(self.trader.st[LAST_POLL_NS])
        self.sect[AgentWord.BEAT_NS] = beat or time.clock_gettime_ns(time.CLOCK_REALTIME)

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
        elif why == WHY_FEED2:
            self.futures.feed.settle()  # its order books grew (or it raises the refusal)
            self.state = self._trading()
        elif why == WHY_KILL:
            self.trader.kill_thrown()
        elif why == WHY_SESSION:
            if self.control[_STOP]:  # the venue is leaving with the pipeline: its closed
                return False  # connection is the stop, not a session to mend
            self.trader.session_status(int(self.trader.st[STATUS]))
        return True

    def start(self) -> None:
        """Compile (or load) the loop for this state and log in to the venue's order entry;
        :meth:`run` does it first when not done."""
        self.rx.poll(self.state, 0, 0)
        self.trader.st[:] = 0
        self.trader.connect()
        self.started = True

    def _publish_every(self, tick_s: float, done: threading.Event) -> None:
        # off the loop's core where the host has another: sharing it would preempt the loop
        mine = os.sched_getaffinity(0)
        others = set(range(os.cpu_count() or 1)) - mine
        if others:
            try:
                os.sched_setaffinity(0, others)  # this thread only
            except OSError:
                pass  # a cpuset that forbids it: the thread stays with the loop
        while not done.wait(tick_s):
            self._publish()

    def run(self, tick_s: float = 0.05) -> None:
        """Drive the loop until STOP. The counters are published every ``tick_s`` by a
        thread of this process while the loop runs (it holds no GIL): coming back to Python
        costs the hot path a stall (measured: ~0.1 ms to re-enter the loop with this
        state), so the loop comes back only when it needs its owner, at
        least every ``tick_s`` with a snapshot service to rejoin from (a rejoin is Python
        work), else every ``QUIET_S``."""
        if not self.started:
            self.start()
        self.fsect[AgentWord.STATE] = AgentState.RUNNING
        self.sect[AgentWord.STATE] = AgentState.RUNNING
        span = tick_s if self.rejoin.address is not None else max(tick_s, QUIET_S)
        done = threading.Event()
        publisher = threading.Thread(target=self._publish_every, args=(tick_s, done),
                                     name="counters", daemon=True)
        publisher.start()
        try:
            while True:
                deadline = time.clock_gettime_ns(time.CLOCK_REALTIME) + int(span * 1e9)
                code = self.rx.poll(self.state, deadline, 0)
                if code == END_OF_SESSION:
                    self.ended = True  # the feed is over; the session is served until STOP
                elif code == SETTLE and not self._settle():
                    break
                # the loop state's ring and trader stay: they drain what the rejoin publishes
                if self.rejoin.maybe(self.feed, drain=partial(_drain, self.state)):
                    self.state = self._trading()  # a stale feed's books from a snapshot
                    _drain(self.state)  # the tops and STATUS it published, via the trader
                if self.control[_STOP]:
                    break
        finally:
            done.set()
            publisher.join()
        self._publish()

    def close(self) -> None:
        self.trader.close()
        self.rx.close()
        self.ring.close()
        self.feed.close()
        if self.futures is not None:
            self.futures.rx.close()
            self.futures.ring.close()
            self.futures.feed.close()


def main(spec, counters: Counters) -> None:
    """Entry point of the run-to-completion stage process (tickpath.engine.agent)."""
    stage = RunToCompletionStage(spec, counters)
    try:
        stage.run()
    finally:
        stage.close()


__all__ = ["RunToCompletionStage", "Trading", "main"]
