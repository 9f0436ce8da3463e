"""The futures venue's records: instrument specifications, state dtypes, scalar indices, the
order-flow mix and the limits that size its buffers.

Prices inside the engine are ladder indices: instrument i's ladder index ``j`` is the price
``lo_px + j * tick_px`` as a PRICE9 mantissa (price x 1e9, the MDP 3.0 wire value). A price
outside the ladder is clamped in (counted). ``side`` is 0 for bids (buy) and 1 for offers
(sell) everywhere.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

#: Price levels per instrument ladder (the band is FUT_LADDER ticks wide, centred on the open).
FUT_LADDER = 4096
#: Depth of the published (MBP) book: MDPriceLevel 1..DEPTH, as CME's GBX depth 10.
DEPTH = 10
#: Depth announced for the implied book (GBI) in the definitions; this venue has no implied.
IMPLIED_DEPTH = 2
#: Resting orders one aggressive order may fill; what is left of it is cancelled (IOC).
MAX_FILLS = 16
#: Orders per SnapshotFullRefreshOrderBook53 message (CME sends chunks of about 30).
SNAPSHOT_CHUNK = 30
#: Most MDP3 messages one step of the engine can write (see mdp3_encode.emit_step): one
#: trade summary, one book message per MD entry at worst, a few order-book messages.
MAX_STEP_MSGS = 48
#: Live orders per instrument at most (the pool is allocated for this many).
ORDER_CAP = 4096
#: Fair-value samples kept per instrument over the day (fair_trace()).
TRACE_SAMPLES = 2048

_NS = 1_000_000_000
_HOUR = 3600 * _NS
#: The session, as ns since midnight US/Eastern (the equity simulator's clock): the
#: definitions and PreOpen go out at T_PRE_OPEN, trading starts at T_OPEN, ends at T_CLOSE.
T_PRE_OPEN = 8 * _HOUR + 30 * 60 * _NS
T_OPEN = 9 * _HOUR + 30 * 60 * _NS
T_CLOSE = 16 * _HOUR
#: 2024-01-02 00:00 US/Eastern in UTC ns (the equity simulator's pcap day): TransactTime and
#: SendingTime are this plus the session clock.
DAY_EPOCH_NS = 1_704_171_600 * _NS
#: TradeDate: days since 1970-01-01 of 2024-01-02.
TRADE_DATE = 19_724


@dataclass(frozen=True)
class FutureSpec:
    """One futures contract of the venue.

    ``kind``: ``"index"`` follows the equity basket (fair value = ``open_price`` x the basket's
    value relative to its opening value), ``"walk"`` follows its own random walk (daily
    volatility ``vol``). Prices are in Globex display units, as MDP 3.0 sends them:
    ``open_price`` and ``tick`` (MinPriceIncrement) are integers of those units, and
    ``display_factor`` turns them into the conventional price (e.g. 0.01: 450000 is
    4500.00 index points). ``weight`` is the instrument's share of the order flow.
    """

    symbol: str
    security_id: int
    kind: str
    open_price: int
    tick: int
    display_factor: float
    weight: float
    vol: float = 0.01
    security_group: str = ""
    asset: str = ""
    cfi_code: str = "FFICSX"
    maturity: tuple[int, int] = (2026, 12)
    unit_of_measure: str = "IPNT"
    unit_of_measure_qty: float = 50.0

    def __post_init__(self) -> None:
        if self.kind not in ("index", "walk"):
            raise ValueError(f"{self.symbol}: kind must be 'index' or 'walk', got {self.kind!r}")
        if not 1 <= len(self.symbol) <= 20:
            raise ValueError(f"symbol {self.symbol!r} must be 1..20 characters (Symbol is char[20])")
        if not 0 < self.security_id < 2**31 - 1:
            raise ValueError(f"{self.symbol}: security_id {self.security_id} must fit Int32")
        if self.tick <= 0 or self.open_price <= 0 or self.open_price % self.tick:
            raise ValueError(f"{self.symbol}: open_price {self.open_price} must be a positive "
                             f"multiple of tick {self.tick}")
        if (FUT_LADDER // 2) * self.tick > self.open_price:
            raise ValueError(f"{self.symbol}: the ladder ({FUT_LADDER} ticks of {self.tick}) "
                             f"would reach below zero from {self.open_price}: raise open_price")
        if self.weight <= 0:
            raise ValueError(f"{self.symbol}: weight must be positive")
        if len(self.security_group) > 6 or len(self.asset) > 6:
            raise ValueError(f"{self.symbol}: security_group and asset are char[6]")


#: The default contracts: two months of an equity-index future on the basket, and a
#: crude-like contract with its own walk. Display units as CME's: index in hundredths of a
#: point (tick 0.25 point), crude in cents.
DEFAULT_FUTURES: tuple[FutureSpec, ...] = (
    FutureSpec("TPZ6", 42001, "index", open_price=450_000, tick=25, display_factor=0.01,
               weight=0.55, security_group="TP", asset="TP", cfi_code="FFICSX",
               maturity=(2026, 12)),
    FutureSpec("TPH7", 42002, "index", open_price=452_500, tick=25, display_factor=0.01,
               weight=0.15, security_group="TP", asset="TP", cfi_code="FFICSX",
               maturity=(2027, 3)),
    FutureSpec("TCLF7", 42101, "walk", open_price=7_500, tick=1, display_factor=0.01,
               weight=0.30, vol=0.02, security_group="TC", asset="TCL", cfi_code="FCAPSO",
               maturity=(2027, 1), unit_of_measure="BBL", unit_of_measure_qty=1000.0),
)

FUT_INST_DTYPE = np.dtype(
    [
        ("lo_px", np.int64),  # PRICE9 mantissa of ladder index 0
        ("tick_px", np.int64),  # PRICE9 mantissa of one tick
        ("live_start", np.int64),  # this instrument's region of `live`
        ("rpt_seq", np.int64),  # last RptSeq sent (0: none yet)
        ("ouch_px", np.int64),  # PRICE9 mantissa per unit of an OUCH price (order entry)
        ("ouch_sym", np.int64),  # the OUCH symbol as a big-endian integer (order entry)
        ("last_time", np.int64),  # TransactTime of the instrument's last event (UTC ns)
        ("fair", np.float64),  # fair value as a (fractional) ladder index
        ("rel", np.float64),  # value relative to the open (the basket's, or its own walk's)
        ("scale", np.float64),  # fair = scale * rel - offset  (open price / tick)
        ("offset", np.float64),  # (lo price / tick)
        ("vol", np.float64),  # walk: volatility per sqrt(ns)
        ("security_id", np.int32),
        ("kind", np.int32),  # 0 index (follows the basket), 1 walk
        ("bb", np.int32),  # best bid index, -1 when there are no bids
        ("ba", np.int32),  # best ask index, FUT_LADDER when there are no asks
        ("last", np.int32),  # index of the last trade
        ("n_live", np.int32),
        ("cap", np.int32),
        ("n_bid", np.int32),
        ("n_ask", np.int32),
    ],
    align=True,
)
KIND_INDEX, KIND_WALK = 0, 1

FUT_LEVEL_DTYPE = np.dtype(
    [("head", np.int32), ("tail", np.int32), ("count", np.int32), ("qty", np.int32)],
    align=True,
)

FUT_ORDER_DTYPE = np.dtype(
    [
        ("order_id", np.int64),
        ("priority", np.int64),  # MDOrderPriority: lower is older
        ("index", np.int32),  # ladder index of its price
        ("qty", np.int32),
        ("prev", np.int32),
        ("next", np.int32),
        ("live_pos", np.int32),
        ("side", np.uint8),
    ],
    align=True,
)

# One step's staged output (mdp3_encode turns it into messages).
#: a price-level entry of MDIncrementalRefreshBook46, with the order entries bound to it
MD_DTYPE = np.dtype(
    [
        ("px", np.int64),
        ("qty", np.int32),
        ("norders", np.int32),
        ("first_oe", np.int32),
        ("n_oe", np.int32),
        ("side", np.uint8),
        ("action", np.uint8),  # MDUpdateAction
        ("level", np.uint8),  # MDPriceLevel
    ],
    align=True,
)
#: an order entry: in 46 bound to its level's entry (md >= 0), in 47 alone (md == -1)
OE_DTYPE = np.dtype(
    [
        ("order_id", np.int64),
        ("priority", np.int64),
        ("px", np.int64),
        ("qty", np.int32),
        ("md", np.int32),
        ("action", np.uint8),  # OrderUpdateAction: New 0, Update 1, Delete 2
        ("side", np.uint8),
    ],
    align=True,
)
#: a trade at one price (MDIncrementalRefreshTradeSummary48 entry) and its fills
TRADE_DTYPE = np.dtype(
    [
        ("px", np.int64),
        ("trade_id", np.int64),
        ("qty", np.int32),
        ("norders", np.int32),
        ("first_fill", np.int32),
        ("n_fill", np.int32),
        ("aggressor", np.uint8),  # AggressorSide: 1 buy, 2 sell
    ],
    align=True,
)
FILL_DTYPE = np.dtype([("order_id", np.int64), ("qty", np.int32)], align=True)

#: Staging capacities per step.
STAGE_MD = 2 * MAX_FILLS + 8
STAGE_OE = MAX_FILLS + 8
STAGE_OPS = STAGE_MD + STAGE_OE
STAGE_TRADES = MAX_FILLS
STAGE_FILLS = 2 * MAX_FILLS

#: Fair-value samples (fair_trace()).
TRACE_DTYPE = np.dtype(
    [
        ("time", np.int64),  # UTC ns
        ("security_id", np.int32),
        ("fair", np.float64),  # fair value, PRICE9 mantissa
        ("bid", np.int64),  # best bid then, PRICE9 mantissa (0: none)
        ("ask", np.int64),  # best offer then (0: none)
        ("basket", np.float64),  # the basket relative to its open (1.0 at the open)
    ],
    align=True,
)

# Scalar state (int64 array), indices named as in matching.py's S_* set.
S_NEXT_ORDER_ID = 0
S_NEXT_PRIORITY = 1
S_NEXT_TRADE_ID = 2
S_CLOCK = 3  # ns since midnight US/Eastern of the current step
S_CLOCK_END = 4
S_GAP_MEAN = 5  # mean ns between steps
S_REMAINING = 6  # body messages still to write (the day's count is exact)
S_PHASE = 7  # 0 start of day, 1 trading, 2 end of day written, 3 done
S_SEQ = 8  # next incremental MsgSeqNum
S_LAST_SEQ = 9  # MsgSeqNum of the last incremental packet closed
S_SINCE_LOOP = 10  # incremental packets closed since the last snapshot loop
S_LOOP_EVERY = 11  # snapshot loop period in incremental packets (0: no loop)
S_LOOPS = 12  # snapshot loops written
S_SNAP_SEQ = 13  # next MsgSeqNum of the snapshot loop (restarts at 1 each loop)
S_NEXT_SAMPLE = 14  # session clock of the next fair-value sample
S_SAMPLE_GAP = 15
S_N_TRACE = 16
S_CLAMPED = 17  # prices pulled back into the ladder
S_FULL = 18  # adds turned into cancels at capacity
S_STEPS = 19
S_SNAP_MSGS = 20  # snapshot-loop messages written
S_EQ_STEPS = 21  # equity engine steps run to follow the session clock
S_CLOCK_LIMIT = 22  # steps stop before one whose clock would pass this (0: no limit)
S_HELD = 23  # 1 when the last run stopped at that limit, else 0
N_FUT_SCALARS = 24

FUT_SCALAR_NAMES = ("next_order_id", "next_priority", "next_trade_id", "clock", "clock_end",
                    "gap_mean", "remaining", "phase", "next_seq", "last_seq", "since_loop",
                    "loop_every", "loops", "snapshot_seq", "next_sample", "sample_gap",
                    "trace", "clamped", "adds_at_capacity", "steps", "snapshot_messages",
                    "equity_steps", "clock_limit", "held")
assert len(FUT_SCALAR_NAMES) == N_FUT_SCALARS

# Packet writer state (int64 array).
PW_OPEN = 0  # start of the open packet in the chunk buffer, -1: none
PW_POS = 1  # where the next byte goes
PW_NPK = 2  # packets closed in this chunk
PW_MSGS = 3  # messages in the open packet
PW_KIND = 4  # kind of the open packet
PW_SEQ = 5  # MsgSeqNum of the open packet
N_PW = 6

#: Packet kinds (PacketChunk.kinds).
INCREMENTAL, SNAPSHOT = 0, 1
#: Packets of the full-snapshot channel (venue.mdp3_full): a 52 after every book change.
FULL_SNAPSHOT = 2

#: The order-flow mix. Action probabilities are those when the book holds ``target`` live
#: orders; ``pull`` moves the add share toward refilling a thin book or draining a full one.
FUT_FLOW: dict[str, float] = {
    "add": 0.50,
    "cancel": 0.38,
    "reduce": 0.04,  # an order's quantity cut (OrderUpdateAction Update, priority kept)
    "move": 0.04,  # an order moved to another price (Delete + New, new priority)
    "aggress": 0.04,  # a marketable IOC order
    "target": 600.0,  # live orders per instrument the flow settles around
    "pull": 0.6,
    "join_p": 0.35,  # passive price: geometric(join_p) ticks behind the fair touch
    "deep_share": 0.08,  # ... or, this often, geometric(deep_p) ticks: beyond depth 10
    "deep_p": 0.04,
    "cross_share": 0.01,  # adds priced through the fair touch (marketable limits)
    "lot_p": 0.35,  # quantity: 1 + geometric(lot_p) lots ...
    "block_share": 0.05,  # ... or, this often, 10..100 lots
    "aggress_mean": 2.0,  # aggressive size = a passive size * (0.5 + exponential(mean))
    "lean": 0.25,  # aggressor buys with p = 0.5 + lean * (fair - mid) ticks, in 0.1..0.9
}
(FF_ADD, FF_CANCEL, FF_REDUCE, FF_MOVE, FF_AGGRESS, FF_TARGET, FF_PULL, FF_JOIN_P,
 FF_DEEP_SHARE, FF_DEEP_P, FF_CROSS_SHARE, FF_LOT_P, FF_BLOCK_SHARE, FF_AGGRESS_MEAN,
 FF_LEAN) = range(15)
FUT_ACTIONS = ("add", "cancel", "reduce", "move", "aggress")
assert len(FUT_FLOW) == 15


def fut_flow_params(flow: dict[str, float] | None = None) -> np.ndarray:
    """The flow mix as the float64 array the kernels read (``FF_*`` indices)."""
    f = dict(FUT_FLOW if flow is None else flow)
    if set(f) != set(FUT_FLOW):
        raise ValueError(f"flow keys differ from FUT_FLOW: {sorted(set(f) ^ set(FUT_FLOW))}")
    total = sum(f[a] for a in FUT_ACTIONS)
    if abs(total - 1.0) > 1e-9:
        raise ValueError(f"action probabilities sum to {total}, not 1")
    if f["target"] < 10 or f["target"] > ORDER_CAP // 2:
        raise ValueError(f"target must be 10..{ORDER_CAP // 2} live orders")
    return np.array([f[k] for k in FUT_FLOW], dtype=np.float64)


#: check() status codes.
FUT_CHECK_TEXT = {
    0: "ok",
    1: "a level's order count or quantity differs from its queue",
    2: "a level's queue links are broken",
    3: "the best bid or best offer index is wrong",
    4: "the book is crossed",
    5: "a live order's list position or price is wrong",
    6: "the per-side order counts are wrong",
    7: "the published depth-10 book differs from the top levels of the ladder",
}
