"""The venue of the central-bank scenario: an index future (CME MDP 3.0) and its constituent
stocks (NASDAQ ITCH 5.0) traded on one venue, in one loop, one thread, the two days in step,
and a rate announcement that moves the stocks and multiplies the message rate for a while.

    venue = ScenarioVenue(symbols=50, messages=20_000_000, rate=10_000,
                          itch=("239.1.1.1", 26400), mdp3=("224.0.31.1", 14310),
                          accounts=["ALICE:secret", "BOB:hunter2"],
                          announcement=Announcement(move=-0.015, after_s=30, burst_s=5))
    venue.start()                  # both starts of day and opening books, unpaced
    venue.run(duration_s=120)      # rate-paced; x100 for 5 s from the announcement
    venue.end()                    # both ends of day and order-entry sessions
    venue.stats()                  # both feeds, the phases, the announcement
    venue.index_terms()            # what a strategy needs to compute fair value as we do

The equities are a :class:`~.live.LiveVenue` (its ``sim`` is the equity engine); the
futures a :class:`~.futures_live.FuturesLiveVenue` whose :class:`~.futures.FuturesSimulator`
reads its basket from that same engine (``drive_equities=False``): the index future's fair
value is open price x B(t), B read from the equity books the ITCH feed publishes, never
from a copy. ``scenario_flow.advance`` runs both engines alternately over a grid of
session-clock points ``sync_messages`` mean equity gaps apart (equities to the point, then
futures to it, both held there), and each turn sends the ITCH it wrote before the MDP3, so
a future's event never leaves before the ITCH of the equity events it read. Both streams
are decided by the seeds (and the announcement's clock) alone: where a turn ends, the rate
and the wall clock change only the packets, not the messages. Orders entered over OUCH
change them, as on the live venues.

Pacing: ``rate`` equity messages per second of the venue's clock (``clock``, monotonic
seconds; injectable); the futures follow the equities' session clock, so their rate is
``rate`` x (futures messages / equity messages of the day) on average. The announcement
(:class:`Announcement`) is armed ``after_s`` seconds after :meth:`start` (or at a session
clock, ``at_clock``): at the next equity step the basket's stocks get new centres, their
price then moved by ``move`` (``Simulator.announce``: the flow sweeps the book there within
a few thousand messages), so B(t), and with it the futures' fair value, moves by about
``move``; from the moment the engine applied it, for ``burst_s`` seconds, both feeds run at
``rate_factor`` times the rate, then calm returns.
"""

from __future__ import annotations

import select
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import futures_flow
from .futures import FuturesSimulator
from .futures_live import FuturesLiveVenue
from .futures_records import DEFAULT_FUTURES, FutureSpec
from .futures_records import S_GAP_MEAN as FUT_GAP_MEAN
from .live import LiveVenue
from .live_loop import MAX_WAIT_S
from .mdp3_publisher import DEFAULT_MDP3_PORT
from .records import CLIENT_SLOTS, LADDER, MAX_BLOCK, MAX_FILLS, S_GAP_MEAN, TICK
from .scenario_flow import SY_NEXT, SY_STEP, advance, new_sync

__all__ = ["Announcement", "IndexFuture", "IndexTerms", "ScenarioVenue"]

#: most equity messages one turn publishes (the ITCH buffer's size)
TURN_MESSAGES = 4096


@dataclass(frozen=True)
class Announcement:
    """A rate announcement: ``move`` (a fraction, e.g. -0.015) of each basket stock's price,
    made ``after_s`` seconds (venue clock) after :meth:`ScenarioVenue.start`, or at the
    session clock ``at_clock`` (ns since midnight New York; then the streams do not depend
    on the wall clock at all), or, with neither, at once. From the moment the equity engine
    applies it, for ``burst_s`` seconds, both feeds publish at ``rate_factor`` times the
    venue's rate."""

    move: float = -0.015
    after_s: float | None = None
    at_clock: int | None = None
    rate_factor: float = 100.0
    burst_s: float = 10.0

    def __post_init__(self) -> None:
        if self.after_s is not None and self.at_clock is not None:
            raise ValueError("an announcement is made after_s seconds after the start or at "
                             "a session clock (at_clock), not both")
        if self.after_s is not None and self.after_s < 0:
            raise ValueError(f"after_s must be >= 0, got {self.after_s}")
        if self.at_clock is not None and self.at_clock < 0:
            raise ValueError(f"at_clock must be >= 0 (ns since midnight), got {self.at_clock}")
        if not -0.5 < self.move < 0.5 or self.move == 0:
            raise ValueError(f"move must be a non-zero fraction in (-0.5, 0.5), got {self.move}")
        if self.rate_factor < 1:
            raise ValueError(f"rate_factor must be >= 1, got {self.rate_factor}")
        if self.burst_s < 0:
            raise ValueError(f"burst_s must be >= 0, got {self.burst_s}")


@dataclass(frozen=True)
class IndexFuture:
    """An index contract: its fair value is ``open_price`` x B (Globex display units; x
    ``display_factor``: index points; x 1e9: the PRICE9 mantissa MDP3 carries). ``tick``:
    MinPriceIncrement in display units; ``multiplier``: currency per index point."""

    symbol: str
    security_id: int
    open_price: int
    tick: int
    display_factor: float
    multiplier: float

    def fair_value(self, basket: float) -> float:
        """Fair value in display units for basket value ``basket`` (B, 1.0 at the open)."""
        return self.open_price * basket

    def fair_price9(self, basket: float) -> float:
        """Fair value as a PRICE9 mantissa (the unit of MDP3 prices)."""
        return self.open_price * basket * 1e9


@dataclass(frozen=True)
class IndexTerms:
    """What the index futures follow, as the venue computes it: B = sum_i w_i S_i, where
    S_i is stock i's midpoint ``(best bid + best ask) / 2`` in ITCH Price(4) units and
    ``weights[i]`` = 1 / (n x its opening price), so B = 1 at the open; each index future's
    fair value is its open price x B. While a side of a stock's book is empty the venue
    takes the price of its last trade instead (after the announcement: its new centre, until
    it trades), which a receiver can only approximate; the basket's busy stocks rarely have
    an empty side. ``locates``: the stocks' ITCH stock locates, ``symbols`` their tickers."""

    symbols: tuple[str, ...]
    locates: tuple[int, ...]
    weights: tuple[float, ...]
    opening_prices: tuple[int, ...]
    futures: tuple[IndexFuture, ...]

    def basket(self, mids: Mapping[int, float] | Sequence[float]) -> float:
        """B from the stocks' midpoints (Price(4)): a sequence in basket order, or a mapping
        by stock locate."""
        if isinstance(mids, Mapping):
            values = [mids[loc] for loc in self.locates]
        else:
            values = list(mids)
            if len(values) != len(self.weights):
                raise ValueError(f"{len(values)} midpoints for a basket of "
                                 f"{len(self.weights)} stocks")
        return float(sum(w * s for w, s in zip(self.weights, values, strict=True)))


class ScenarioVenue:
    """One venue, two feeds: ``symbols`` stocks on ITCH (``messages`` in their day, the
    equities' :class:`LiveVenue` to ``itch``, line B ``itch_b``) and the futures
    (``futures``, index contracts on the ``basket_size`` busiest stocks; ``futures_messages``
    in their day, default half the equities') on MDP3 (``mdp3``, ``mdp3_b``,
    ``mdp3_snapshot``; loop every ``snapshot_every`` packets), decided by ``seed``. Order
    entry on each venue for ``accounts`` (None: none), on ``equity_orders_port`` and
    ``futures_orders_port`` (0: any; see the properties). ``rate``: equity messages per
    second (None: as fast as it goes); ``announcement``: the rate announcement (None:
    none); ``sync_messages``: the grid the two days keep step on, in mean equity gaps;
    ``opening_messages`` / ``futures_opening_messages``: the unpaced opening (defaults as
    the live venues': 20 per stock, 200 per contract). ``equities_options`` /
    ``futures_options``: more keyword arguments for :class:`LiveVenue` /
    :class:`FuturesLiveVenue` (recovery, snapshot feeds, faults, ...). ``clock``: the
    venue's clock, monotonic seconds (pacing, the announcement's timing)."""

    def __init__(self, symbols: int = 50, messages: int = 20_000_000, seed: int = 1, *,
                 futures_messages: int | None = None, rate: float | None = 10_000.0,
                 announcement: Announcement | None = None, sync_messages: float = 4.0,
                 itch: tuple[str, int] = ("127.0.0.1", 26400),
                 itch_b: tuple[str, int] | None = None,
                 mdp3: tuple[str, int] = ("127.0.0.1", DEFAULT_MDP3_PORT),
                 mdp3_b: tuple[str, int] | None = None,
                 mdp3_snapshot: tuple[str, int] | None = None, snapshot_every: int = 1000,
                 futures: Sequence[FutureSpec] = DEFAULT_FUTURES, basket_size: int = 20,
                 accounts: Iterable[str] | dict[str, str] | None = None,
                 orders_host: str = "127.0.0.1", equity_orders_port: int = 0,
                 futures_orders_port: int = 0, opening_messages: int | None = None,
                 futures_opening_messages: int | None = None, sender: str = "sendto",
                 iface_ip: str | None = None, max_payload: int = 1400,
                 session: str = "TICKPATH01",
                 equities_options: dict[str, Any] | None = None,
                 futures_options: dict[str, Any] | None = None,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if rate is not None and rate <= 0:
            raise ValueError(f"rate must be positive (None: as fast as it goes), got {rate}")
        if sync_messages <= 0:
            raise ValueError(f"sync_messages must be positive, got {sync_messages}")
        if not any(s.kind == "index" for s in futures):
            raise ValueError("futures: the scenario needs at least one index contract")
        if accounts is not None and not isinstance(accounts, dict):
            accounts = list(accounts)
        self.rate = rate
        self.announcement_plan = announcement
        self.clock = clock
        self.equities = LiveVenue(
            symbols, messages, seed, rate=None, feed_host=itch[0], feed_port=itch[1],
            session=session, accounts=accounts, orders_host=orders_host,
            orders_port=equity_orders_port, opening_messages=0, client_slots=CLIENT_SLOTS,
            sender=sender, max_payload=max_payload, iface_ip=iface_ip, line_b=itch_b,
            **(equities_options or {}))
        self.sim = self.equities.sim
        try:
            fut = FuturesSimulator(
                self.sim, futures_messages or max(messages // 2, 4 * len(futures) + 1), seed,
                instruments=futures, snapshot_every=snapshot_every, max_payload=max_payload,
                basket_size=basket_size, client_slots=CLIENT_SLOTS if accounts else 0,
                drive_equities=False)
            self.futures = FuturesLiveVenue(
                fut=fut, rate=None, a=mdp3, b=mdp3_b, snapshot=mdp3_snapshot,
                accounts=accounts, orders_host=orders_host, orders_port=futures_orders_port,
                opening_messages=0, sender=sender, max_payload=max_payload,
                iface_ip=iface_ip, **(futures_options or {}))
        except BaseException:
            self.equities.close()
            raise
        self.fut = fut
        body = self.sim.messages - (2 * symbols + 6)
        self.opening_messages = min(body, 20 * symbols if opening_messages is None
                                    else opening_messages)
        self.futures_opening_messages = (200 * len(futures) if futures_opening_messages is None
                                         else futures_opening_messages)
        self.sync_messages = float(sync_messages)
        self._itch = np.zeros((TURN_MESSAGES + 2 * MAX_FILLS) * MAX_BLOCK, np.uint8)
        self._sync = new_sync(1, 1)  # set at the start of day
        self.started = False
        self.ended = False
        # the announcement's moments (venue clock) and the phases' counts
        self.start_wall: float | None = None
        self.armed_wall: float | None = None
        self.announced_wall: float | None = None
        self.announced_ns: int | None = None  # CLOCK_REALTIME then, for captures and logs
        self.announced_basket: float | None = None
        self._credit = 0.0
        self._paced_at: float | None = None
        self._walled_at: float | None = None
        self._last_turn: float | None = None
        self._phase_counts = {p: [0, 0, 0.0] for p in ("before", "burst", "after")}
        self._counted = (0, 0)

    # ------------------------------------------------------------------ ports, terms

    @property
    def equity_orders_port(self) -> int | None:
        return self.equities.orders_port

    @property
    def futures_orders_port(self) -> int | None:
        return self.futures.orders_port

    def destinations(self) -> dict[str, tuple[str, int] | None]:
        """Where each feed goes: ITCH lines A and B, MDP3 lines A and B and the loop."""
        d = self.futures.publisher.destinations
        pub = self.equities.publisher
        return {"itch": pub.dst, "itch_b": pub.line_b, "mdp3": d["a"], "mdp3_b": d["b"],
                "mdp3_snapshot": d["snapshot"]}

    def index_terms(self) -> IndexTerms:
        """The basket (tickers, stock locates, weights, opening prices) and the index
        contracts (symbol, security id, open price, tick, display factor, multiplier): enough
        to compute B and fair value from the feeds exactly as the venue does."""
        fut = self.fut
        opening = self.sim._inst0["lo"][fut.basket] + self.sim._inst0["center"][fut.basket] * TICK
        contracts = tuple(IndexFuture(s.symbol, s.security_id, s.open_price, s.tick,
                                      s.display_factor, s.unit_of_measure_qty)
                          for s in fut.specs if s.kind == "index")
        return IndexTerms(symbols=tuple(self.sim.symbols[int(i)] for i in fut.basket),
                          locates=tuple(int(i) + 1 for i in fut.basket),
                          weights=tuple(float(w) for w in fut.basket_weights),
                          opening_prices=tuple(int(p) for p in opening), futures=contracts)

    def basket_value(self) -> float:
        """B now, from the equity engine's books (what the ITCH feed has published)."""
        return float(futures_flow.basket_value(self.sim._inst, LADDER, self.fut.basket,
                                               self.fut.basket_weights))

    # ------------------------------------------------------------------ the day

    def warm_up(self) -> None:
        """Compile (or load) both venues' loops and the joint step before the first packet
        (a compile inside the loop would stall both feeds and the answers to orders).
        Publishes nothing, generates nothing."""
        self.equities.warm_up()
        if self.futures.orders is not None:
            self.futures.orders.warm_up()
        self.futures.publisher.warm_up()
        self._advance(0, self.clock())  # no message asked: the joint step returns at once

    def start(self) -> None:
        """Both starts of day, then the opening books: the two days run in step, unpaced,
        until the equities have published ``opening_messages`` and the futures
        ``futures_opening_messages`` of generated flow. The announcement's ``after_s``
        counts from here."""
        self.equities.start()  # open_day: S, R, H; the opening flow follows in step below
        self.futures.start()  # definitions, PreOpen / ReadyToTrade, the first loop
        sim = self.sim
        step = max(1, round(self.sync_messages * int(sim._scal[S_GAP_MEAN])))
        self._sync = new_sync(sim.clock + step, step)
        plan = self.announcement_plan
        now = self.clock()
        if plan is not None and plan.at_clock is not None:
            self._arm(plan.at_clock, now)
        while (self.equities.generated_published < self.opening_messages
               or self.futures.generated < self.futures_opening_messages):
            if self._advance(TURN_MESSAGES, now) == 0:
                break
        self.started = True
        self.start_wall = now
        self._paced_at = None
        self._counted = self._feed_counts()

    def _arm(self, at_clock: int, now: float) -> None:
        plan = self.announcement_plan
        assert plan is not None
        self.sim.announce(plan.move, self.fut.basket.tolist(), at_clock)
        self.armed_wall = now
        self.announced_basket = self.basket_value()

    def _advance(self, most: int, now: float) -> int:
        """Both days in step for up to ``most`` equity messages (whole steps: a step that
        might not fit is left for later), each run of ITCH sent before the MDP3 written
        after it. Returns the equity messages."""
        eq, fv, sim, fut = self.equities, self.futures, self.sim, self.fut
        w = fv.writer
        done = 0
        while True:
            p, k, kf = advance(
                sim._inst, sim._levels, sim._orders, sim._live, sim._cdf, sim._params,
                sim._mpids, sim._scal, sim._rng, sim._counts, sim._events, sim._clients,
                sim._cscal, sim._outbox, sim._controls(), self._itch,
                min(most - done, TURN_MESSAGES),
                fut._inst, fut._levels, fut._orders, fut._live, fut._nlv, fut._pub,
                fut._pub_n, fut._cdf, fut._params, fut._scal, fut._fl, fut._rng, fut._md,
                fut._oe, fut._ops, fut._trades, fut._fills, fut._stg, fut._tcount,
                fut._trace, fut._names, fut._defs, fut._def_len, fut._last_update,
                *fut._equity_state(), fut._eq_events, fut._eq_buf, fut.basket,
                fut.basket_weights, w.buf, w.bounds, w.kinds, w.counts, w.pw,
                fut.max_payload, fut._loop_bytes, fut._loop_packets, fut._clients,
                fut._cscal, fut._outbox, self._sync)
            k, kf = int(k), int(kf)
            if k:
                sim.messages_generated += k
                eq._send(self._itch[:int(p)])
                eq.generated_published += k
            fv.generated += kf
            fv._flush()  # after the ITCH it read
            if eq.server is not None:
                eq.server.flush_outbox()  # Order Executed for client orders the flow filled
            if fv.server is not None:
                fv.server.flush_outbox()
            done += k
            self._note_announcement(now)
            if done >= most or (k == 0 and kf == 0):
                break  # asked for, or the equity day is spent
        return done

    def _note_announcement(self, now: float) -> None:
        if self.announced_wall is None and self.armed_wall is not None:
            state = self.sim.announcement()
            if state is not None and state["applied"]:
                self.announced_wall = now
                self.announced_ns = time.time_ns()

    # ------------------------------------------------------------------ pacing

    def _burst(self) -> tuple[float, float] | None:
        plan = self.announcement_plan
        if plan is None or self.announced_wall is None:
            return None
        return self.announced_wall, self.announced_wall + plan.burst_s

    def rate_now(self, now: float | None = None) -> float | None:
        """The equity messages per second due at ``now`` (venue clock; None: now)."""
        if self.rate is None:
            return None
        now = self.clock() if now is None else now
        burst = self._burst()
        if burst is not None and burst[0] <= now < burst[1]:
            return self.rate * self.announcement_plan.rate_factor
        return self.rate

    def _credit_until(self, now: float) -> None:
        """Add what is due between the last pacing moment and ``now`` at the rate of each
        moment (the burst's share at its factor)."""
        last = self._paced_at if self._paced_at is not None else now
        self._paced_at = now
        if self.rate is None or now <= last:
            return
        due = self.rate * (now - last)
        burst = self._burst()
        if burst is not None:
            overlap = max(0.0, min(now, burst[1]) - max(last, burst[0]))
            due += self.rate * (self.announcement_plan.rate_factor - 1) * overlap
        self._credit += due

    def _phase(self, now: float) -> str:
        burst = self._burst()
        if burst is None or now < burst[0]:
            return "before"
        return "burst" if now < burst[1] else "after"

    def _feed_counts(self) -> tuple[int, int]:
        return self.equities.publisher.messages, self.futures.publisher.messages

    # ------------------------------------------------------------------ turns

    def turn(self, generate: int = 0, now: float | None = None) -> int:
        """One turn at ``now`` (venue clock; None: read it): both order-entry servers
        (client actions applied and published at once), the announcement when due, then up
        to ``generate`` equity messages (whole steps) with the futures in step. Returns the
        work done."""
        now = self.clock() if now is None else now
        # what a turn publishes was due since the last one: it counts to that moment's phase
        phase = self._phase(now if self._last_turn is None else self._last_turn)
        self._last_turn = now
        plan = self.announcement_plan
        if plan is not None and plan.at_clock is None and self.armed_wall is None \
                and self.start_wall is not None and now >= self.start_wall + (plan.after_s or 0):
            self._arm(self.sim.clock + 1, now)  # the next equity step applies it
        work = self.equities.turn(0)  # order entry, recovery services, the client ITCH
        fv = self.futures
        if fv.server is not None:
            work += fv.server.poll()
        if generate > 0:  # whole steps: room for the largest
            work += self._advance(max(generate, MAX_FILLS), now)
        fv._flush()  # client actions' MDP3
        if fv.server is not None:
            fv.server.poll()  # fills' Order Executed messages go out now
        if self.equities.server is not None:
            self.equities.server.poll()
            work += self.equities._publish_client()
        itch, mdp3 = self._feed_counts()
        counts = self._phase_counts[phase]
        counts[0] += itch - self._counted[0]
        counts[1] += mdp3 - self._counted[1]
        self._counted = (itch, mdp3)
        return work

    def run(self, duration_s: float | None = None, messages: int | None = None
            ) -> dict[str, Any]:
        """Serve until ``duration_s`` seconds (venue clock) have passed or ``messages``
        equity messages of generated flow have been published by this call (whole steps: a
        few more), or, with neither, until the equity day is spent. Paced at ``rate`` (x the
        announcement's factor during its burst); returns :meth:`stats`."""
        if not self.started:
            self.start()
        t0 = self.clock()
        deadline = None if duration_s is None else t0 + duration_s
        sent0 = self.equities.generated_published
        self._paced_at = self._walled_at = self._last_turn = t0
        self._credit = 0.0
        while True:
            now = self.clock()
            if deadline is not None and now >= deadline:
                break
            done = self.equities.generated_published - sent0
            if messages is not None and done >= messages:
                break
            if self.sim.body_remaining <= 0 and deadline is None and messages is None:
                break
            self._credit_until(now)
            due = TURN_MESSAGES if self.rate is None else int(self._credit)
            if messages is not None:
                due = min(due, messages - done)
            sent = self.equities.generated_published
            if due > 0 and self.sim.body_remaining > 0:
                work = self.turn(max(min(due, TURN_MESSAGES), MAX_FILLS), now)
            else:
                work = self.turn(0, now)
            self._credit -= self.equities.generated_published - sent
            self._wall(now)
            if work == 0:
                self._wait(now, deadline)
        return self.stats()

    def _wall(self, now: float) -> None:
        """Count the time since the last turn to the phase it belongs to."""
        last, self._walled_at = self._walled_at, now
        if last is None or now <= last:
            return
        burst = self._burst()
        span = now - last
        if burst is None:
            self._phase_counts["before"][2] += span
            return
        before = max(0.0, min(now, burst[0]) - last)
        during = max(0.0, min(now, burst[1]) - max(last, burst[0]))
        self._phase_counts["before"][2] += before
        self._phase_counts["burst"][2] += during
        self._phase_counts["after"][2] += span - before - during

    def _wait(self, now: float, deadline: float | None) -> None:
        """Until the next message is due (at most MAX_WAIT_S), waking on the sockets."""
        wait = MAX_WAIT_S
        rate = self.rate_now(now)
        if rate:
            wait = min(wait, max(0.0, (1.0 - self._credit) / rate))
        if deadline is not None:
            wait = min(wait, max(0.0, deadline - now))
        socks = self.equities._sockets() + self.futures._sockets()
        if socks:
            select.select(socks, [], [], wait)
        elif wait > 0:
            time.sleep(wait)

    def end(self) -> None:
        """Both ends of day: the futures' SecurityStatus Close, the equities' S M/E/C and
        MoldUDP64 end of session, and each order-entry session's end."""
        if self.ended:
            return
        self.futures.end()
        self.equities.end()
        self.ended = True

    # ------------------------------------------------------------------ results

    def announcement(self) -> dict[str, Any] | None:
        """The announcement: its plan, when it was armed and applied (``armed_at_s``,
        ``at_s``: the venue's clock, seconds; ``realtime_ns``: CLOCK_REALTIME ns, to set
        beside captures;
        ``clock``: the session clock of the equity step that applied it), its burst's end
        (``burst_end_s``, venue clock), the basket before it and now, and the stocks still repricing. None
        without one."""
        plan = self.announcement_plan
        if plan is None:
            return None
        state = self.sim.announcement()
        burst = self._burst()
        return {"move": plan.move, "rate_factor": plan.rate_factor, "burst_s": plan.burst_s,
                "after_s": plan.after_s, "at_clock": plan.at_clock,
                "armed_at_s": self.armed_wall, "at_s": self.announced_wall,
                "realtime_ns": self.announced_ns,
                "clock": None if state is None else state["clock"],
                "burst_end_s": None if burst is None else burst[1],
                "basket_before": self.announced_basket, "basket": self.basket_value(),
                "repricing": None if state is None else state["repricing"],
                "reprice_steps": None if state is None else state["reprice_steps"]}

    def stats(self) -> dict[str, Any]:
        """Both venues' stats (``itch``: the equities' feed and order entry; ``mdp3``: the
        futures'), each phase's messages on both feeds and its seconds of venue clock
        (``phases``: before, burst, after the announcement's burst; ``venue_s``), the
        announcement, both
        session clocks and the basket now."""
        phases = {p: {"itch_messages": c[0], "mdp3_messages": c[1], "venue_s": c[2]}
                  for p, c in self._phase_counts.items()}
        return {"itch": self.equities.stats(), "mdp3": self.futures.stats(),
                "phases": phases, "announcement": self.announcement(),
                "equity_clock": self.sim.clock, "futures_clock": self.fut.clock,
                "grid": int(self._sync[SY_NEXT]), "grid_step": int(self._sync[SY_STEP]),
                "basket": self.basket_value(),
                "futures_gap_ns": int(self.fut._scal[FUT_GAP_MEAN])}

    def close(self) -> None:
        self.futures.close()
        self.equities.close()

    def __enter__(self) -> ScenarioVenue:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
