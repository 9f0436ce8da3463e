"""The trading step both topologies run: hand-off records -> the strategy's callbacks ->
pre-trade risk -> order entry, and the venue's answers back; and the parts of a trader an
owner builds (strategy, context, order session, risk state, stamp rows).

Pipelined (:mod:`tickpath.engine.strategy_stage`) the records come over a shared-memory
ring from the feed stage on another core; run to completion
(:mod:`tickpath.engine.run_to_completion`) they come from the same thread's feed handler,
through a ring in its own memory, right after each datagram. Either way the same compiled
functions below handle them, so the two topologies differ only in where the records come
from. ``st`` (int64, :data:`N_ST` words) is the loop's resume state.
"""

from __future__ import annotations

import logging
import time
from pathlib import Path

import numpy as np
from numba import njit

from ..gateway.journal import Journal, Recovery
from ..gateway.layout import Total
from ..gateway.session import LoginRejected, OrderSession, Poll, S
from ..ring import spsc
from ..ring.atomics import load_relaxed
from ..risk.layout import KILL_WORD, limits_from, new_rate, new_storm
from ..strategy import records as R
from ..strategy.context import ContextInfo, new_context
from ..strategy.dispatch import deliver_updates, handle_record
from ..strategy.layout import CtxWord
from ..strategy.loader import load_strategy
from ..telemetry.nclock import realtime_ns
from ..telemetry.stamps import N_BOUNDARIES
from .counters import Control, StrategyCounter
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

log = logging.getLogger(__name__)

#: rounds of (updates -> intents -> egress) after one record at most: a strategy answering
#: each update with an intent that is answered at once cannot spin the stage
MAX_ROUNDS = 4
DEFAULT_TIMER_MS = 1
DEFAULT_STALE_AFTER_MS = 2000
# loop state words (st)
PATHS, KILL_SEEN, STATUS, VENUE_MSGS, SESSION_OFF, WHY, LAST_POLL_NS = 1, 2, 3, 4, 5, 6, 7
N_ST = 8
_PATHS, _KILL_SEEN, _VENUE_MSGS, _SESSION_OFF = PATHS, KILL_SEEN, VENUE_MSGS, SESSION_OFF
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
def venue_turn(strategy, ctx, g, now, limits, rate, storm, control, risk_counts, counts, sect, st):
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
def kill_thrown(control, st):
    """True once each time the kill switch is thrown (the owner then cancels what rests)."""
    if load_relaxed(control, _KILL) != 0:
        if st[_KILL_SEEN] == 0:
            st[_KILL_SEEN] = 1
            return True
    else:
        st[_KILL_SEEN] = 0
    return False


@njit(cache=True, nogil=True, _nrt=False)
def handle_batch(hdr, words, n, t_deq, strategy, ctx, g, limits, rate, control, risk_counts,
                 counts, sect, st, rows, row_every):
    """The ``n`` records at the ring's consumer position (not released: the caller does),
    dequeued at ``t_deq``: each through the strategy's callbacks, its intents through risk
    to the venue, and a stamp row for each path that sent an order."""
    seq = spsc.consumer_position(hdr)
    sect[_DEPTH] = spsc.producer_position(hdr) - seq
    for i in range(n):
        b = spsc.slot_base(hdr, seq + i) + 1
        handle_record(strategy, ctx, words, b, t_deq)
        if words[b + R.KIND] == R.BOOK:
            mark(g, words[b + R.LOCATE], words[b + R.BID_PRICE], words[b + R.ASK_PRICE],
                 limits, control, t_deq)
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
        if sent == 0 or words[b + R.KIND] == R.STATUS:  # a status is no path from the wire
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


def stage_params(params: dict) -> tuple[dict, int, int]:
    """Split the stage's strategy params into the strategy's own, the timer and the
    staleness interval (ns): ``timer_ms`` and ``stale_after_ms`` belong to the stage."""
    p = dict(params)
    timer_ms = p.pop("timer_ms", DEFAULT_TIMER_MS)
    stale_ms = p.pop("stale_after_ms", DEFAULT_STALE_AFTER_MS)
    return p, int(timer_ms * 1_000_000), int(stale_ms * 1_000_000)


class Trader:
    """What a trading stage's owner builds from its params: the strategy (loaded by module
    path), risk limits and state, the order session to the venue (with its journal), the
    context over the session's tables, the stamp rows; and what it does when the compiled
    loop hands control back (a thrown kill switch, a session status)."""

    def __init__(self, p: dict, control: np.ndarray, rows: np.ndarray) -> None:
        own, timer_ns, stale_ns = stage_params(p["strategy_params"])
        self.module, self.state = load_strategy(p["strategy"], own, ContextInfo(mode="live"))
        self.limits = limits_from(p["risk"])
        self.rate, self.storm = new_rate(), new_storm(self.limits)
        gw = p["gateway"]
        self.session = OrderSession(
            gw["host"], int(gw["port"]), gw["username"], gw["password"],
            journal=Journal(gw["journal"], gw.get("fsync", "interval")),
            stale_s=float(gw.get("stale_s", 3.0)), heartbeat_s=float(gw.get("heartbeat_s", 1.0)),
            firm=gw.get("firm", ""))
        self.recovery = self._recover(Path(gw["journal"]))
        self.connect_timeout_s = float(gw.get("connect_timeout_s", 60.0))
        g = self.session.arrays
        self.ctx = new_context(orders=g.orders, positions=g.positions, totals=g.totals,
                               control=control, kill_index=KILL_WORD,
                               stale_after_ns=stale_ns, timer_ns=timer_ns, ours_in_book=True)
        self.counts = np.zeros(N_COUNTS, np.int64)
        self.st = np.zeros(N_ST, np.int64)
        self.rows = rows
        self.row_every = max(1, int(p.get("row_every", 1)))
        assert rows.shape[1] == N_BOUNDARIES

    def _recover(self, path: Path) -> Recovery | None:
        """Orders, positions and P&L from the journal of an earlier run, if it has records:
        the login then resumes that run's venue session, or begins the venue's new one with
        the old session's orders closed (:meth:`OrderSession.connect`)."""
        if not path.is_file() or path.stat().st_size == 0:
            return None
        rec = self.session.recover(path)
        t = self.session.totals
        log.warning("resumed from order journal %s: %d records, venue session %r, last "
                    "message %d, %d open orders, %d fills, next UserRefNum %d", path,
                    rec.records, rec.session, rec.last_seq, int(t[Total.OPEN_ORDERS]),
                    int(t[Total.FILLS]), rec.next_user_ref)
        return rec

    def connect(self) -> None:
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

    def kill_thrown(self) -> None:
        """The kill switch was thrown: an OUCH Mass Cancel for everything resting."""
        if self.session.connected:
            self.session.mass_cancel()

    def session_status(self, status: int) -> None:
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
            self.st[SESSION_OFF] = 1

    def publish(self, sect: np.ndarray) -> None:
        """The session's figures into the strategy counters section."""
        g = self.session.arrays
        t = g.totals
        sect[_FILLS] = t[Total.FILLS]
        sect[_VENUE_REJECTS] = t[Total.REJECTS]
        sect[_VENUE_MESSAGES] = g.state[S.MESSAGES]
        sect[_RECONNECTS] = self.session.reconnects
        sect[_POSITION] = t[Total.GROSS_POSITION]
        sect[_PNL] = int(t[Total.CASH] + t[Total.MARKED])

    def close(self) -> None:
        self.session.close()
