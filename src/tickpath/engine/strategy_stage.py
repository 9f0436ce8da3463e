"""The strategy stage: ring -> strategy -> pre-trade risk -> order bytes -> sender.

One compiled loop (:func:`strategy_loop`) per process. Each turn polls the hand-off ring for
up to a batch of top-of-book records (:mod:`tickpath.strategy.records`) and stamps
``dequeued`` once for the batch; for each record it asks the strategy for orders
(``decided``), risk-checks them (``checked``), encodes the ones that passed as OUCH 5.0 Enter
Order messages (the codec's compiled encoder, :mod:`tickpath.codec.ouch50`) and hands each to
``send(2)`` on a connected UDP socket (``order_out`` after the last). A record whose path reached
``order_out`` leaves a row of the ten stamps (:data:`tickpath.telemetry.stamps.STAMPS`) in a
shared-memory array the pipeline's owner reads (every ``row_every``-th such path, up to the
array's size).
"""

from __future__ import annotations

import socket
import time

import numpy as np
from numba import njit

from ..codec.ouch50 import cl_ord_id_bytes, encode_enter_order
from ..codec.ouch50.encode import ENTER_ORDER_LEN
from ..ring import SpscRing, spsc
from ..ring.atomics import load_relaxed
from ..risk import Reject, limits_array
from ..risk import new_state as risk_state
from ..risk.check import check_order
from ..strategy import market_maker as mm
from ..strategy import records as R
from ..telemetry.nclock import realtime_ns
from ..telemetry.stamps import N_BOUNDARIES
from ..wire.libc import send
from .agent import AgentState, duty_cycle
from .counters import Agent as AgentWord
from .counters import Control, Counters, StrategyCounter

#: strategy name -> code the loop dispatches on (compiled code cannot take the function)
STRATEGIES = {"market_maker": 1, "observe": 0}
OUCH_ENTER_ORDER_LEN = ENTER_ORDER_LEN
_TIF_DAY, _DISPLAY_Y, _CAPACITY_P, _ISO_N, _CROSS_N = (ord(c) for c in "0YPNN")
BATCH = 64

# exits
DEADLINE, STOPPED = 0, 1
# loop state words (st)
_USERREF, _PATHS = 0, 1
_STOP = int(Control.STOP)
_RECORDS, _DECISIONS, _ORDERS, _REJECTS, _SEND_ERRORS, _ROWS, _DEPTH = (
    int(StrategyCounter[n]) for n in ("RECORDS", "DECISIONS", "ORDERS", "REJECTS",
                                      "SEND_ERRORS", "ROWS", "RING_DEPTH"))
_CHECKED, _PASSED = int(Reject.CHECKED), int(Reject.PASSED)


@njit(cache=True, nogil=True, inline="always")
def cl_ord_id_digits(cl_ord_id, userref):
    """Write UserRefNum as the 12 digits after the ``TP`` prefix of ``cl_ord_id`` (14 bytes,
    prepared once by :func:`cl_ord_id_template`): each order's ClOrdID is unique in the
    session and says which UserRefNum it was sent under."""
    v = userref
    for k in range(12):
        cl_ord_id[13 - k] = 48 + v % 10
        v //= 10


def cl_ord_id_template() -> np.ndarray:
    """The stage's 14-byte ClOrdID buffer: ``TP`` + 12 digits written per order."""
    return cl_ord_id_bytes("TP000000000000")


@njit(cache=True, nogil=True, inline="always")
def enter_order(buf, userref, side, qty, stock, price, cl_ord_id):
    """The stage's OUCH 5.0 Enter Order at ``buf[0:47]`` through the codec's compiled encoder
    (:func:`tickpath.codec.ouch50.encode_enter_order`): day order (TIF ``0``), displayed
    (``Y``), principal (``P``), not an intermarket sweep (``N``), continuous market
    (CrossType ``N``), ClOrdID ``TP`` + UserRefNum as 12 digits, no options. ``stock`` is
    ITCH's 8 symbol bytes as a big-endian integer, which is what the encoder takes. Returns
    the message's length."""
    cl_ord_id_digits(cl_ord_id, userref)
    return encode_enter_order(buf, 0, userref, side, qty, stock, price, _TIF_DAY, _DISPLAY_Y,
                              _CAPACITY_P, _ISO_N, _CROSS_N, cl_ord_id)


@njit(cache=True, nogil=True, _nrt=False)
def strategy_loop(hdr, words, control, sect, risk_counts, wait_code, wait_params, strategy,
                  sparams, sstate, codes, orders, limits, position, rate, msg, clord, fd, st,
                  rows, row_every, deadline_ns):
    """Run until the control section's STOP word (returns STOPPED) or ``deadline_ns``
    (DEADLINE), whichever first. State to resume is in ``st``, ``sstate``, ``position``,
    ``rate``."""
    rounds = 0
    msg_addr = msg.ctypes.data
    while True:
        if load_relaxed(control, _STOP) != 0:
            return STOPPED
        n = spsc.poll(hdr, words, BATCH)
        if n == 0:
            rounds = duty_cycle(sect, 0, rounds, wait_code, wait_params)
            if (rounds & 255) == 0 and realtime_ns() >= deadline_ns:
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
            locate = words[b + R.LOCATE]
            bid = words[b + R.BID_PRICE]
            ask = words[b + R.ASK_PRICE]
            k = 0
            if strategy == 1:
                k = mm.decide(locate, words[b + R.STOCK], bid, words[b + R.BID_SHARES], ask,
                              words[b + R.ASK_SHARES], sparams, sstate, codes, orders)
            t_dec = realtime_ns()
            sect[_RECORDS] += 1
            if k == 0:
                continue
            sect[_DECISIONS] += 1
            passed = 0
            for j in range(k):
                why = check_order(orders[j, R.O_SIDE], orders[j, R.O_QTY], orders[j, R.O_PRICE],
                                  locate, bid, ask, t_dec, limits, position, rate, control,
                                  risk_counts)
                if why == 0:
                    for c in range(R.ORDER_WORDS):  # keep the passed ones at the front
                        orders[passed, c] = orders[j, c]
                    passed += 1
                else:
                    sect[_REJECTS] += 1
            t_chk = realtime_ns()
            sent = 0
            for j in range(passed):
                st[_USERREF] += 1
                length = enter_order(msg, st[_USERREF], orders[j, R.O_SIDE],
                                     orders[j, R.O_QTY], orders[j, R.O_STOCK],
                                     orders[j, R.O_PRICE], clord)
                if send(fd, msg_addr, length, 0) == length:
                    sent += 1
                    if strategy == 1:  # quoted only once past risk and out
                        mm.quoted(sstate, locate, orders[j, R.O_SIDE], orders[j, R.O_PRICE])
                else:
                    sect[_SEND_ERRORS] += 1
            if sent == 0:
                continue
            t_out = realtime_ns()
            sect[_ORDERS] += sent
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
        if realtime_ns() >= deadline_ns:
            return DEADLINE


def strategy_params(name: str, params: dict) -> tuple[int, np.ndarray, np.ndarray, np.ndarray]:
    """(code, params, state, instrument codes) of strategy ``name`` for the loop."""
    if name not in STRATEGIES:
        raise ValueError(f"unknown strategy {name!r}; choose one of {', '.join(STRATEGIES)}")
    codes = mm.symbol_codes(list(params.get("symbols", [])))
    return (STRATEGIES[name], mm.params(int(params.get("edge", 0)), int(params.get("size", 0))),
            mm.new_state(), codes)


class StrategyStage:
    """The stage's owner: attaches the ring and shared arrays, connects the order socket,
    and drives :func:`strategy_loop` until told to stop."""

    def __init__(self, spec, counters: Counters) -> None:
        p = spec.params
        self.counters = counters
        self.control = counters.section("control")
        self.sect = counters.section("strategy")
        self.risk = counters.section("risk")
        self.ring = SpscRing.attach(p["ring"])
        ws = spec.wait()
        self.wait_code, self.wait_params = ws.code, ws.params
        self.code, self.sparams, self.sstate, self.codes = strategy_params(
            p["strategy"], p["strategy_params"])
        r = p["risk"]
        self.limits = limits_array(r["max_order_size"], r["max_position"], r["max_notional"],
                                   r["collar_bps"], r["max_orders_per_s"])
        self.position, self.rate = risk_state()
        self.orders = np.zeros((R.MAX_ORDERS_PER_DECISION, R.ORDER_WORDS), np.int64)
        self.msg = np.zeros(64, np.uint8)
        self.clord = cl_ord_id_template()
        self.st = np.zeros(2, np.int64)
        from .counters import attach_array

        self._rows_map, self.rows = attach_array(p["rows"], N_BOUNDARIES)
        self.row_every = max(1, int(p.get("row_every", 1)))
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.connect(tuple(p["sink"]))

    def _loop(self, deadline_ns: int) -> int:
        return strategy_loop(self.ring.header, self.ring.words, self.control, self.sect,
                             self.risk, self.wait_code, self.wait_params, self.code,
                             self.sparams, self.sstate, self.codes, self.orders, self.limits,
                             self.position, self.rate, self.msg, self.clord,
                             self.sock.fileno(), self.st,
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
