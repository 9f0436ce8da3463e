"""The futures venue: a seeded, deterministic CME-style futures market publishing MDP 3.0
(SBE schema 1, version 13) incrementals with a snapshot loop.

``FuturesSimulator(equities, messages, seed)`` trades a few futures contracts
(``DEFAULT_FUTURES``: two months of an equity-index future that follows a basket of the
equity simulator's stocks, and a contract with its own random walk; see ``futures_flow`` for
exactly how) and writes exactly ``messages`` incremental messages for the day::

    eq = Simulator(symbols=200, messages=2_000_000, seed=7)
    fut = FuturesSimulator(eq, messages=10_000_000, seed=7)
    for chunk in fut.packets():           # PacketChunk(buf, bounds, kinds, counts)
        ...                               # kinds: INCREMENTAL, or SNAPSHOT (loop packets)
    fut.books()                           # the venue's own depth-10 books at the end
    fut.write_pcap("day.pcap", drop_a={5, 6}, gap=(100, 120))

The incremental stream: MDInstrumentDefinitionFuture54 and SecurityStatus30 (PreOpen, then
ReadyToTrade) per instrument at the start, the trading day as MDIncrementalRefreshBook46 (price
levels, depth 10, with their order entries), MDIncrementalRefreshOrderBook47 (order entries
below the top 10) and MDIncrementalRefreshTradeSummary48, and SecurityStatus30 Close at the
end. Every ``snapshot_every`` incremental packets the snapshot loop follows: definitions,
SnapshotFullRefresh52 and SnapshotFullRefreshOrderBook53 per instrument, its own MsgSeqNum
from 1. The same seed gives the same bytes, whatever the chunk size.

``drive_equities=False`` reads the basket from an equity day someone else runs (the live
equities of ``venue.scenario``), and :meth:`FuturesSimulator.hold_at` keeps the futures' day
from passing a session clock, so the two can be kept in step.
"""

from __future__ import annotations

import datetime
import math
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from ..codec.itch50.layout import EVENT_DTYPE
from ..codec.mdp3 import schema_v13 as S
from . import futures_book, futures_flow, matching
from . import records as eq_records
from .futures_clients import N_FUT_CSCAL, STEP_OUT_ROOM
from .futures_records import (
    DAY_EPOCH_NS,
    DEFAULT_FUTURES,
    DEPTH,
    FILL_DTYPE,
    FUT_CHECK_TEXT,
    FUT_INST_DTYPE,
    FUT_LADDER,
    FUT_LEVEL_DTYPE,
    FUT_ORDER_DTYPE,
    FUT_SCALAR_NAMES,
    IMPLIED_DEPTH,
    INCREMENTAL,
    KIND_INDEX,
    KIND_WALK,
    MAX_FILLS,
    MAX_STEP_MSGS,
    MD_DTYPE,
    N_FUT_SCALARS,
    N_PW,
    OE_DTYPE,
    ORDER_CAP,
    PW_NPK,
    PW_OPEN,
    PW_POS,
    S_CLOCK,
    S_CLOCK_END,
    S_CLOCK_LIMIT,
    S_GAP_MEAN,
    S_HELD,
    S_LOOP_EVERY,
    S_NEXT_ORDER_ID,
    S_NEXT_PRIORITY,
    S_NEXT_SAMPLE,
    S_NEXT_TRADE_ID,
    S_PHASE,
    S_REMAINING,
    S_SAMPLE_GAP,
    S_SEQ,
    S_SINCE_LOOP,
    SNAPSHOT,
    SNAPSHOT_CHUNK,
    STAGE_FILLS,
    STAGE_MD,
    STAGE_OE,
    STAGE_OPS,
    STAGE_TRADES,
    T_CLOSE,
    T_OPEN,
    TRACE_DTYPE,
    TRACE_SAMPLES,
    TRADE_DATE,
    TRADE_DTYPE,
    FutureSpec,
    fut_flow_params,
)
from .mdp3_encode import (
    B30,
    B46_FIXED,
    B46_MD,
    B46_OE,
    B48_E,
    B48_FIXED,
    B48_OE,
    B52_MAX,
    B53_MAX,
    B54,
    DEF54_FEED_TYPES_AT,
    MSG_SIZE,
    PACKET_HEADER,
    SENDING_TIME_OFFSET,
    definition54,
)
from .records import C_FREE, CLIENT_DTYPE, MAX_CLIENT_SLOTS

if TYPE_CHECKING:
    from . import Simulator

__all__ = ["DEFAULT_FUTURES", "INCREMENTAL", "SNAPSHOT", "FutureSpec", "FuturesSimulator",
           "PacketChunk"]

_E9 = 1_000_000_000
_SESSION = T_CLOSE - T_OPEN
#: The largest message the venue writes, with the packet header: max_payload must hold it.
MIN_PAYLOAD = PACKET_HEADER + max(
    B48_FIXED + MAX_FILLS * B48_E + 2 * MAX_FILLS * B48_OE,  # a sweep's trade summary
    B46_FIXED + B46_MD + MAX_FILLS * B46_OE,  # one level swept: its entry and every order
    B52_MAX, B53_MAX, MSG_SIZE + B54, B30)
#: Largest MDP3 UDP payload (a CME packet is well under an Ethernet MTU).
MAX_PAYLOAD = 8192
#: Equities in the basket by default: the busiest ones of the equity simulator.
BASKET_SIZE = 20
#: pcap defaults: CME-like multicast groups for the incremental feed A and B and the loop.
LINE_A = ("224.0.31.1", 14310)
LINE_B = ("224.0.32.1", 15310)
SNAPSHOT_LINE = ("224.0.31.22", 14320)


class PacketChunk(NamedTuple):
    """A run of packets: packet ``k`` is ``buf[bounds[k]:bounds[k+1]]`` (a UDP payload),
    ``kinds[k]`` says which stream it belongs to (``INCREMENTAL`` or ``SNAPSHOT``) and
    ``counts[k]`` how many messages it holds."""

    buf: np.ndarray  # uint8
    bounds: np.ndarray  # int64, len(kinds) + 1
    kinds: np.ndarray  # uint8
    counts: np.ndarray  # int64

    def packet(self, k: int) -> np.ndarray:
        return self.buf[self.bounds[k]:self.bounds[k + 1]]


def msg_seq_num(packet: np.ndarray) -> int:
    """MsgSeqNum of an MDP3 packet (the first 4 bytes, little-endian)."""
    return int.from_bytes(packet[:4].tobytes(), "little")


def sending_time(packet: np.ndarray) -> int:
    """SendingTime of an MDP3 packet (UTC ns)."""
    return int.from_bytes(packet[SENDING_TIME_OFFSET:SENDING_TIME_OFFSET + 8].tobytes(),
                          "little")


def _expiry_ns(year: int, month: int) -> int:
    """The last trade of a contract month: its third Friday, 13:30 UTC (09:30 New York in
    winter), as UTC ns."""
    first = datetime.date(year, month, 1)
    friday = first + datetime.timedelta(days=(4 - first.weekday()) % 7 + 14)
    t = datetime.datetime(friday.year, friday.month, friday.day, 13, 30,
                          tzinfo=datetime.UTC)
    return int(t.timestamp()) * _E9


def _chars(text: str, n: int) -> np.ndarray:
    raw = text.encode("ascii")
    return np.frombuffer(raw.ljust(n, b"\0")[:n], np.uint8)


class FuturesSimulator:
    """A simulated CME futures trading day of ``messages`` MDP 3.0 incremental messages
    (definitions and status included; the snapshot loop's come on top), decided by ``seed``
    and, for ``index`` contracts, by the day of ``equities`` (an equity :class:`Simulator`,
    run alongside and reset with this one; None: the basket follows its own walk).

    ``instruments``: the contracts (``FutureSpec``); ``snapshot_every``: a snapshot loop
    after every that many incremental packets (0: none); ``max_payload``: the largest UDP
    payload; ``basket_size``: equities in the basket (the busiest); ``flow``: the order-flow
    mix (``FUT_FLOW``); ``client_slots``: client orders (order entry,
    :class:`~tickpath.venue.futures_orders.FuturesOrders`) that may rest at once (0: none).
    ``drive_equities`` False: the equities' day is run by their owner (a live equities
    venue), never by this one: the basket is read from their engine's state as it stands,
    and a reset here leaves them alone; the owner keeps the two days in step
    (:meth:`hold_at` the equities' clock, see ``venue.scenario``).
    State is allocated here once; each ``packets()`` call replays the day from the seed.
    """

    def __init__(self, equities: Simulator | None = None, messages: int = 100_000,
                 seed: int = 1, *, instruments: Sequence[FutureSpec] = DEFAULT_FUTURES,
                 snapshot_every: int = 1000, max_payload: int = 1400,
                 basket_size: int = BASKET_SIZE, flow: dict[str, float] | None = None,
                 client_slots: int = 0, drive_equities: bool = True) -> None:
        specs = tuple(instruments)
        n = len(specs)
        if not 1 <= n <= 255:
            raise ValueError(f"instruments: 1..255 contracts, got {n}")
        if len({s.symbol for s in specs}) != n or len({s.security_id for s in specs}) != n:
            raise ValueError("instruments: symbols and security ids must be unique")
        if messages < 4 * n + 1:
            raise ValueError(f"messages={messages} is too few: the start and end of day alone "
                             f"take {4 * n} for {n} instruments")
        if not 0 <= seed < 1 << 64:
            raise ValueError(f"seed must be 0..2**64-1, got {seed}")
        if not MIN_PAYLOAD <= max_payload <= MAX_PAYLOAD:
            raise ValueError(f"max_payload={max_payload}: must be {MIN_PAYLOAD}..{MAX_PAYLOAD} "
                             f"(the largest message, a sweep's trade summary or a snapshot "
                             f"chunk, takes {MIN_PAYLOAD} with the packet header)")
        if snapshot_every < 0:
            raise ValueError(f"snapshot_every must be >= 0 (0: no snapshot loop), got "
                             f"{snapshot_every}")
        if not 0 <= client_slots <= MAX_CLIENT_SLOTS:
            raise ValueError(f"client_slots must be 0..{MAX_CLIENT_SLOTS}, got {client_slots}")
        if equities is not None and basket_size < 1:
            raise ValueError(f"basket_size must be >= 1, got {basket_size}")
        self.specs = specs
        self.symbols = [s.symbol for s in specs]
        self.messages = int(messages)
        self.seed = int(seed)
        self.snapshot_every = int(snapshot_every)
        self.max_payload = int(max_payload)
        self.equities = equities
        self.drive_equities = bool(drive_equities)
        self.messages_generated = 0
        self.packets_generated = 0
        self.counts_by_template: dict[int, int] = {}
        self._params = fut_flow_params(flow)

        inst = np.zeros(n, FUT_INST_DTYPE)
        session_ns = float(_SESSION)
        for i, s in enumerate(specs):
            lo = s.open_price - (FUT_LADDER // 2) * s.tick
            inst[i]["security_id"] = s.security_id
            inst[i]["kind"] = KIND_INDEX if s.kind == "index" else KIND_WALK
            inst[i]["lo_px"] = lo * _E9
            inst[i]["tick_px"] = s.tick * _E9
            inst[i]["scale"] = s.open_price / s.tick
            inst[i]["offset"] = lo / s.tick
            inst[i]["vol"] = s.vol / math.sqrt(session_ns)
            inst[i]["cap"] = ORDER_CAP
            inst[i]["live_start"] = i * ORDER_CAP
            # an OUCH price is the conventional price (display x DisplayFactor) in 1e-4
            # units; 0 where that does not land on whole PRICE9 ticks (not tradable by OUCH)
            per = 1e5 / s.display_factor
            ouch_px = round(per)
            if ouch_px < 1 or abs(per - ouch_px) > 1e-6 * per or (s.tick * _E9) % ouch_px \
                    or (lo * _E9) % ouch_px:
                ouch_px = 0
            inst[i]["ouch_px"] = ouch_px
        self._inst0 = inst
        self._inst = inst.copy()
        weight = np.array([s.weight for s in specs], np.float64)
        self._cdf = np.cumsum(weight / weight.sum())
        self._cdf[-1] = 1.0
        self._levels = np.zeros((n, FUT_LADDER), FUT_LEVEL_DTYPE)
        self._orders = np.zeros(n * ORDER_CAP + client_slots, FUT_ORDER_DTYPE)
        self.client_slots = int(client_slots)
        self._clients = np.zeros(client_slots, CLIENT_DTYPE)
        self._cscal = np.zeros(N_FUT_CSCAL, np.int64)
        self._outbox = np.zeros(4 * STEP_OUT_ROOM, np.uint8)
        self._live = np.zeros(n * ORDER_CAP, np.int32)
        self._nlv = np.zeros((n, 2), np.int32)
        self._pub = np.zeros((n, 2, DEPTH), np.int32)
        self._pub_n = np.zeros((n, 2), np.int32)
        self._scal = np.zeros(N_FUT_SCALARS, np.int64)
        self._fl = np.zeros(futures_flow.N_FL, np.float64)
        self._rng = np.zeros(1, np.uint64)
        self._md = np.zeros(STAGE_MD, MD_DTYPE)
        self._oe = np.zeros(STAGE_OE, OE_DTYPE)
        self._ops = np.zeros(STAGE_OPS, np.int32)
        self._trades = np.zeros(STAGE_TRADES, TRADE_DTYPE)
        self._fills = np.zeros(STAGE_FILLS, FILL_DTYPE)
        self._stg = np.zeros(futures_book.N_STAGE, np.int64)
        self._tcount = np.zeros(256, np.int64)
        self._trace = np.zeros(TRACE_SAMPLES * n + n, TRACE_DTYPE)
        self._names = np.zeros((n, 12), np.uint8)
        for i, s in enumerate(specs):
            self._names[i, :6] = _chars(s.security_group, 6)
            self._names[i, 6:] = _chars(s.asset, 6)
        self._last_update = DAY_EPOCH_NS - 7 * 3600 * _E9  # the evening before
        self._defs, self._def_len = self._definitions()
        self._equity_arrays(int(basket_size))
        # the snapshot loop's worst case, for the room check before one is written
        chunks = -(-(ORDER_CAP + client_slots) // SNAPSHOT_CHUNK)
        self._loop_bytes = n * (2 * (PACKET_HEADER + B54 + MSG_SIZE) + PACKET_HEADER + B52_MAX
                                + chunks * (PACKET_HEADER + B53_MAX)) + 4096
        self._loop_packets = n * (3 + chunks)
        self._reset()

    # ------------------------------------------------------------------ set-up

    def _definitions(self) -> tuple[np.ndarray, np.ndarray]:
        """MDInstrumentDefinitionFuture54 per instrument, as SBE messages (no MsgSize)."""
        n = len(self.specs)
        out = np.zeros((n, B54), np.uint8)
        lengths = np.zeros(n, np.int64)
        day = 86_400 * _E9
        for i, s in enumerate(self.specs):
            buf = out[i]
            year, month = s.maturity
            amount = round(s.tick * s.display_factor * s.unit_of_measure_qty * _E9)
            band = max(s.tick, (s.open_price * 7 // 100) // s.tick * s.tick)  # +-7 %
            attributes = sum(1 << b for b in (
                S.INST_ATTRIB_VALUE_ELECTRONIC_MATCH_ELIGIBLE_BIT,
                S.INST_ATTRIB_VALUE_ORDER_CROSS_ELIGIBLE_BIT,
                S.INST_ATTRIB_VALUE_BLOCK_TRADE_ELIGIBLE_BIT,
                S.INST_ATTRIB_VALUE_GT_ORDERS_ELIGIBILITY_BIT))
            length = definition54(
                buf, 0, n, self._last_update, s.security_id, 310, 64,
                5 if s.kind == "index" else 16, s.tick * _E9,
                round(s.display_factor * _E9), year, month,
                round(s.unit_of_measure_qty * _E9), s.open_price * _E9,
                (s.open_price + band) * _E9, (s.open_price - band) * _E9,
                60 * s.tick * _E9, amount, TRADE_DATE - 1,
                _expiry_ns(year, month) - 400 * day, _expiry_ns(year, month), DEPTH,
                IMPLIED_DEPTH,
                attributes)
            r = S.HEADER_SIZE
            S.put_md_instrument_definition_future54_security_exchange_str(buf, r, "XCME")
            S.put_md_instrument_definition_future54_security_group_str(buf, r,
                                                                      s.security_group)
            S.put_md_instrument_definition_future54_asset_str(buf, r, s.asset)
            S.put_md_instrument_definition_future54_symbol_str(buf, r, s.symbol)
            S.put_md_instrument_definition_future54_security_type_str(buf, r, "FUT")
            S.put_md_instrument_definition_future54_cfi_code_str(buf, r, s.cfi_code)
            S.put_md_instrument_definition_future54_currency_str(buf, r, "USD")
            S.put_md_instrument_definition_future54_settl_currency_str(buf, r, "USD")
            S.put_md_instrument_definition_future54_unit_of_measure_str(buf, r,
                                                                       s.unit_of_measure)
            feed = r + DEF54_FEED_TYPES_AT
            step = S.MD_INSTRUMENT_DEFINITION_FUTURE54_NO_MD_FEED_TYPES_BLOCK_LENGTH
            S.put_md_instrument_definition_future54_no_md_feed_types_md_feed_type_str(
                buf, feed, "GBX")
            S.put_md_instrument_definition_future54_no_md_feed_types_md_feed_type_str(
                buf, feed + step, "GBI")
            lengths[i] = length
        return out, lengths

    def _equity_arrays(self, basket_size: int) -> None:
        """The equity engine's arrays the futures kernel drives (stand-ins when there are no
        equities), and the basket: the ``basket_size`` busiest equities, each weighted
        1 / (n x its opening price), so the basket is 1.0 at the open."""
        eq = self.equities
        self._eq_buf = np.zeros(2 * eq_records.MAX_FILLS * eq_records.MAX_BLOCK, np.uint8)
        self._eq_events = np.zeros(eq_records.MAX_FILLS, EVENT_DTYPE)
        if eq is None:
            self._eq_stand_in = (
                np.zeros(1, eq_records.INSTRUMENT_DTYPE),
                np.zeros((1, eq_records.LADDER), eq_records.LEVEL_DTYPE),
                np.zeros(1, eq_records.ORDER_DTYPE), np.zeros(1, np.int32), np.ones(1),
                eq_records.flow_params(), eq_records.MPID_CODES.copy(),
                np.zeros(eq_records.N_SCALARS, np.int64), np.zeros(1, np.uint64),
                np.zeros(256, np.int64))
            self.basket = np.zeros(0, np.int64)
            self.basket_weights = np.zeros(0, np.float64)
            return
        # read, never run: a scalar state whose day is spent stops advance_fair's equity steps
        self._eq_still = np.zeros(eq_records.N_SCALARS, np.int64)
        popularity = np.diff(np.r_[0.0, eq._cdf])
        size = min(len(eq.symbols), basket_size)
        basket = np.sort(np.argsort(-popularity, kind="stable")[:size]).astype(np.int64)
        opening = eq._inst0["lo"][basket] + eq._inst0["center"][basket] * eq_records.TICK
        self.basket = basket
        self.basket_weights = 1.0 / (size * opening.astype(np.float64))

    def _equity_state(self) -> tuple[np.ndarray, ...]:
        eq = self.equities
        if eq is None:
            return self._eq_stand_in
        return (eq._inst, eq._levels, eq._orders, eq._live, eq._cdf, eq._params, eq._mpids,
                eq._scal if self.drive_equities else self._eq_still, eq._rng, eq._counts)

    def _reset(self) -> None:
        """Back to the opening state: empty books, clock at 09:30, the equities' day too."""
        self._inst[:] = self._inst0
        inst = self._inst
        inst["bb"] = -1
        inst["ba"] = FUT_LADDER
        inst["last"] = FUT_LADDER // 2
        inst["rel"] = 1.0
        inst["fair"] = inst["scale"] - inst["offset"]
        self._levels["head"] = -1
        self._levels["tail"] = -1
        self._levels["count"] = 0
        self._levels["qty"] = 0
        self._live[:] = np.arange(self._live.shape[0])
        self._nlv[:] = 0
        self._pub[:] = 0
        self._pub_n[:] = 0
        # client orders do not survive a replay of the day
        self._clients["owner"] = -1
        self._clients["next_free"] = np.arange(1, self.client_slots + 1)
        if self.client_slots:
            self._clients[-1]["next_free"] = -1
        self._cscal[:] = 0
        self._cscal[C_FREE] = 0 if self.client_slots else -1
        sc = self._scal
        sc[:] = 0
        sc[S_NEXT_ORDER_ID] = 1
        sc[S_NEXT_PRIORITY] = 1
        sc[S_NEXT_TRADE_ID] = 1
        sc[S_CLOCK] = T_OPEN
        sc[S_CLOCK_END] = T_CLOSE
        body = self.messages - 4 * len(self.specs)
        sc[S_GAP_MEAN] = max(1, int(0.9 * _SESSION / max(1, body)))  # ~90 % of the session
        sc[S_REMAINING] = body
        sc[S_PHASE] = 0
        sc[S_SEQ] = 1
        sc[S_LOOP_EVERY] = self.snapshot_every
        sc[S_SINCE_LOOP] = self.snapshot_every  # a loop right after the start of day
        sc[S_NEXT_SAMPLE] = T_OPEN
        sc[S_SAMPLE_GAP] = max(1, _SESSION // TRACE_SAMPLES)
        self._fl[futures_flow.FL_BASKET] = 1.0
        self._fl[futures_flow.FL_BASKET_VOL] = 0.01 / math.sqrt(_SESSION)
        self._fl[futures_flow.FL_REVERT] = 1.0 / _SESSION
        matching.seed_rng(self._rng, np.uint64(self.seed))
        self._tcount[:] = 0
        if self.equities is not None and self.drive_equities:
            self.equities._reset()
        self.messages_generated = 0
        self.packets_generated = 0
        self.counts_by_template = {}

    # ------------------------------------------------------------------ generation

    def packets(self, chunk_bytes: int = 8 << 20) -> Iterator[PacketChunk]:
        """The day as chunks of whole packets (about ``chunk_bytes`` each), incremental and
        snapshot-loop packets in the order they are sent. Restarts the day (and the
        equities') when iteration begins. Each chunk's arrays are freshly allocated, so a
        caller may keep them; where a chunk ends never changes the stream."""
        if chunk_bytes < 1 << 16:
            raise ValueError(f"chunk_bytes={chunk_bytes}: at least 65536")
        return self._packets(int(chunk_bytes))

    def _packets(self, chunk_bytes: int) -> Iterator[PacketChunk]:
        self._reset()
        margin = MAX_STEP_MSGS * self.max_payload + self._loop_bytes + 4096
        size = chunk_bytes + margin
        n_packets = size // 52 + 64  # the smallest packet: header and a 40-byte message
        pw = np.zeros(N_PW, np.int64)
        carry = np.zeros(0, np.uint8)
        eq = self._equity_state()
        while self._scal[S_PHASE] != 3:
            buf = np.zeros(size, np.uint8)
            bounds = np.zeros(n_packets + 1, np.int64)
            kinds = np.zeros(n_packets, np.uint8)
            counts = np.zeros(n_packets, np.int64)
            # a packet still open at the end of the last chunk goes on at the start of this
            buf[:carry.size] = carry
            pw[PW_OPEN] = 0 if carry.size else -1
            pw[PW_POS] = carry.size
            pw[PW_NPK] = 0
            written = futures_flow.run(
                self._inst, self._levels, self._orders, self._live, self._nlv, self._pub,
                self._pub_n, self._cdf, self._params, self._scal, self._fl, self._rng,
                self._md, self._oe, self._ops, self._trades, self._fills, self._stg,
                self._tcount, self._trace, self._names, self._defs, self._def_len,
                self._last_update, *eq, self._eq_events, self._eq_buf, self.basket,
                self.basket_weights, buf, bounds, kinds, counts, pw, self.max_payload,
                1 << 62, self._loop_bytes, self._loop_packets, self._clients, self._cscal,
                self._outbox)
            npk = int(pw[PW_NPK])
            end = int(bounds[npk]) if npk else 0
            carry = buf[pw[PW_OPEN]:pw[PW_POS]].copy() if pw[PW_OPEN] >= 0 else \
                np.zeros(0, np.uint8)
            self.messages_generated += int(written)
            self.packets_generated += npk
            self.counts_by_template = {t: int(c) for t, c in enumerate(self._tcount) if c}
            if npk:
                yield PacketChunk(buf[:end], bounds[:npk + 1], kinds[:npk], counts[:npk])
            elif written == 0 and self._scal[S_PHASE] != 3:
                raise RuntimeError("futures venue made no progress: chunk too small")

    def packet_list(self) -> list[tuple[int, bytes]]:
        """The whole day as ``(kind, payload)`` pairs (for small runs and tests)."""
        out = []
        for ch in self.packets():
            for k in range(ch.kinds.shape[0]):
                out.append((int(ch.kinds[k]), ch.packet(k).tobytes()))
        return out

    # ------------------------------------------------------------------ in step

    @property
    def clock(self) -> int:
        """The session clock: the time of the last step written (ns since midnight New York;
        the equity simulator's clock)."""
        return int(self._scal[S_CLOCK])

    def hold_at(self, clock: int) -> None:
        """From now on the flow stops before a step whose clock would pass ``clock`` (ns since
        midnight; 0: no limit), and :attr:`held` says it did; the held step is drawn again,
        identically, once the limit allows it, so where the day stops never changes it. A
        replay of the day starts with no limit."""
        if clock < 0:
            raise ValueError(f"clock must be >= 0 (0: no limit), got {clock}")
        self._scal[S_CLOCK_LIMIT] = clock

    @property
    def held(self) -> bool:
        """Whether the last flow written stopped at the :meth:`hold_at` clock limit."""
        return bool(self._scal[S_HELD])

    # ------------------------------------------------------------------ results

    def books(self) -> list[dict[str, Any]]:
        """The venue's published depth-10 books now (after a run: the end of day), one per
        instrument: ``{"security_id", "symbol", "bids": [[price, qty, orders], ...] best
        first, "asks": [...]}``; prices are PRICE9 mantissas (price x 1e9, the wire value)."""
        out = []
        for i, s in enumerate(self.specs):
            rec = self._inst[i]
            book: dict[str, Any] = {"security_id": s.security_id, "symbol": s.symbol}
            for side, name in ((0, "bids"), (1, "asks")):
                levels = []
                for q in range(int(self._pub_n[i, side])):
                    j = int(self._pub[i, side, q])
                    lv = self._levels[i, j]
                    levels.append([int(rec["lo_px"] + j * rec["tick_px"]), int(lv["qty"]),
                                   int(lv["count"])])
                book[name] = levels
            out.append(book)
        return out

    def order_books(self) -> list[dict[str, Any]]:
        """Every resting order now, aggregated by price from the orders themselves (all
        levels, not only the top 10), in the shape of ``books()``."""
        out = []
        for i, s in enumerate(self.specs):
            rec = self._inst[i]
            start = int(rec["live_start"])
            od = self._orders[self._live[start:start + int(rec["n_live"])]]
            book: dict[str, Any] = {"security_id": s.security_id, "symbol": s.symbol}
            for side, name in ((0, "bids"), (1, "asks")):
                mine = od[od["side"] == side]
                idx, inv = np.unique(mine["index"], return_inverse=True)
                qty = np.bincount(inv, weights=mine["qty"], minlength=idx.size).astype(np.int64)
                n = np.bincount(inv, minlength=idx.size)
                order = np.arange(idx.size)[::-1] if side == 0 else np.arange(idx.size)
                book[name] = [[int(rec["lo_px"] + int(idx[k]) * rec["tick_px"]), int(qty[k]),
                               int(n[k])] for k in order]
            out.append(book)
        return out

    def orders(self, symbol: str) -> list[dict[str, int]]:
        """The resting orders of ``symbol`` now: OrderID, priority, price (PRICE9
        mantissa), quantity and side (0 bid, 1 offer), in book order."""
        i = self.symbols.index(symbol)
        rec = self._inst[i]
        start = int(rec["live_start"])
        od = self._orders[self._live[start:start + int(rec["n_live"])]]
        key = np.where(od["side"] == 0, -od["index"].astype(np.int64), od["index"])
        order = np.lexsort((od["priority"], key, od["side"]))
        return [{"order_id": int(o["order_id"]), "priority": int(o["priority"]),
                 "price": int(rec["lo_px"] + int(o["index"]) * rec["tick_px"]),
                 "qty": int(o["qty"]), "side": int(o["side"])} for o in od[order]]

    def fair_trace(self) -> np.ndarray:
        """Fair value, touch and basket of every instrument, sampled about every 1/2048 of
        the session (``TRACE_DTYPE``)."""
        return self._trace[:int(self._scal[futures_flow.S_N_TRACE])].copy()

    def basket_value(self) -> float:
        """The basket now, relative to its open (``B`` of ``futures_flow``): from the equity
        engine's state when there are equities, else the basket's own walk."""
        if self.equities is None:
            return float(self._fl[futures_flow.FL_BASKET])
        return float(futures_flow.basket_value(self.equities._inst, eq_records.LADDER,
                                               self.basket, self.basket_weights))

    def stats(self) -> dict[str, int]:
        """The engine's scalar state and counters (steps, loops, prices clamped into the
        ladder, adds at capacity, snapshot messages, equity steps run, ...)."""
        return {name: int(v) for name, v in zip(FUT_SCALAR_NAMES, self._scal, strict=True)}

    def check(self) -> None:
        """Check the books' consistency (queues, level totals, bests, time priority, the
        published depth-10 book against the ladder); raise ``RuntimeError`` naming the
        instrument and the problem."""
        status, i = futures_book.check_books(self._inst, self._levels, self._orders,
                                             self._live, self._pub, self._pub_n, self._nlv,
                                             self._clients)
        if status != 0:
            raise RuntimeError(f"futures venue state broken at {self.symbols[i]}: "
                               f"{FUT_CHECK_TEXT[int(status)]}")

    # ------------------------------------------------------------------ files

    def write_pcap(self, path: str | Path, a: tuple[str, int] = LINE_A,
                   b: tuple[str, int] = LINE_B, snapshot: tuple[str, int] = SNAPSHOT_LINE, *,
                   drop_a: Iterable[int] = (), drop_b: Iterable[int] = (),
                   gap: tuple[int, int] | None = None, b_delay_ns: int = 1_000,
                   src: tuple[str, str, str] = ("10.0.0.1", "10.0.0.2", "10.0.0.3"),
                   ) -> dict[str, int]:
        """Write the day as one nanosecond pcap (Ethernet/IPv4/UDP): each incremental packet
        on line A (``a``) and, ``b_delay_ns`` later, the same bytes on line B (``b``), the
        snapshot loop's packets to ``snapshot``, in send order, stamped with their
        SendingTime. ``drop_a`` / ``drop_b``: MsgSeqNums left out of that line only (A/B
        arbitration); ``gap``: ``(first, last)`` MsgSeqNums left out of both (a gap the
        snapshot loop recovers). ``src``: the source addresses of A, B and the loop.
        Returns the frames written per line."""
        from ..wire.pcap import PcapWriter, udp_frame

        drop_a, drop_b = set(drop_a), set(drop_b)
        lo, hi = gap if gap is not None else (1, 0)
        if lo > hi and gap is not None:
            raise ValueError(f"gap={gap}: first MsgSeqNum after last")
        written = {"a": 0, "b": 0, "snapshot": 0}
        with PcapWriter(path, nanosecond=True) as w:
            for ch in self.packets():
                for k in range(ch.kinds.shape[0]):
                    pk = ch.packet(k)
                    ts = sending_time(pk)
                    if ch.kinds[k] == SNAPSHOT:
                        w.write(udp_frame(pk, src[2], snapshot[0], snapshot[1], snapshot[1]), ts)
                        written["snapshot"] += 1
                        continue
                    seq = msg_seq_num(pk)
                    if lo <= seq <= hi:
                        continue
                    if seq not in drop_a:
                        w.write(udp_frame(pk, src[0], a[0], a[1], a[1]), ts)
                        written["a"] += 1
                    if seq not in drop_b:
                        w.write(udp_frame(pk, src[1], b[0], b[1], b[1]), ts + b_delay_ns)
                        written["b"] += 1
        return written
