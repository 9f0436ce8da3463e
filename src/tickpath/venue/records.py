"""The venue simulator's state, declared once as data: record dtypes, sizes, the order-flow mix.

One instrument's book is a **price ladder**: ``LADDER`` levels one tick (``TICK``) apart, from
the instrument's ``lo`` price up. Bids and asks share the ladder, because the book never
crosses: every bid level lies below every ask level, so a non-empty level's side is known
from where it lies (at or below the best bid: bids; at or above the best ask: asks)::

    ladder index   0 ........ bb      (empty spread)      ba ........ LADDER-1
                   |  bid levels |  ...................  | ask levels  |
    price          lo + index * TICK   (ITCH Price(4): 1/10000 dollar)

Each level holds a FIFO queue of resting orders as a doubly linked list through the order
pool (``head`` oldest, ``tail`` newest), which is price-time priority::

    LEVEL_DTYPE   head ──► order ◄──► order ◄──► order ◄── tail      (prev / next: pool slots)

Order slots come from one pool sized at start-up as the sum of the instruments' capacities;
instrument i owns the slots ``live_start .. live_start + cap``, so its orders stay together in
memory. ``live[live_start : live_start + cap]`` is a permutation of those slots: the first
``n_live`` are its live orders (a uniformly random live order is one index away), the rest
are free, and the next add takes the first free one.

The generator's scalar state is an int64 array indexed by the ``S_*`` constants; the order
flow is a float64 array indexed by the ``F_*`` constants, built from ``FLOW``. The random
generator is splitmix64 over a one-element uint64 array, so a run is a pure function of the
seed and can be cut into chunks anywhere between steps.
"""

from __future__ import annotations

import numpy as np

from ..codec.itch50.layout import MESSAGES

#: Price levels per instrument ladder (the band is LADDER ticks wide; prices are clamped in).
#: Memory: LADDER * 16 bytes per instrument (16 KiB; 32 MiB for 2,000 instruments).
LADDER = 1024
#: One cent in ITCH Price(4) units.
TICK = 100
#: Resting orders one aggressive order may fill: the most messages one step can emit.
MAX_FILLS = 32
#: Live orders per instrument: its share of ``symbols * AVG_CAP`` by popularity, clamped.
MIN_CAP, AVG_CAP, MAX_CAP = 16, 256, 8192
#: Largest single order; level shares are int32, so MAX_CAP full orders must fit.
MAX_ORDER_SHARES = 100_000
#: Zipf exponent of instrument popularity (weight of rank r is r ** -ZIPF_S).
ZIPF_S = 1.0
#: Base (opening) prices are log-uniform in this range, in dollars.
PRICE_RANGE = (5.0, 500.0)

assert MAX_CAP * MAX_ORDER_SHARES < 2**31

#: Message types the generator writes; the largest sets the bytes a block may take.
EMITTED = "AFECXDUPQBI"
MAX_BLOCK = 2 + max(MESSAGES[t].length for t in EMITTED)

#: NOII ('I') field offsets, encoded by the kernels directly (encode_event does not carry
#: all of its fields); taken from the layout table, not restated.
_NOII = MESSAGES["I"]
NOII_LEN = _NOII.length
NOII_PAIRED = _NOII.field("paired_shares").offset
NOII_IMBALANCE = _NOII.field("imbalance_shares").offset
NOII_DIRECTION = _NOII.field("imbalance_direction").offset
NOII_STOCK = _NOII.field("stock").offset
NOII_FAR = _NOII.field("far_price").offset
NOII_NEAR = _NOII.field("near_price").offset
NOII_REFERENCE = _NOII.field("current_reference_price").offset
NOII_CROSS = _NOII.field("cross_type").offset
NOII_VARIATION = _NOII.field("price_variation_indicator").offset

INSTRUMENT_DTYPE = np.dtype(
    [
        ("stock", np.uint64),  # 8 alpha bytes as the big-endian integer events carry
        ("lo", np.int64),  # price of ladder index 0
        ("live_start", np.int64),  # this instrument's region of `live`
        ("locate", np.int32),
        ("center", np.int32),  # ladder index of the opening price: prices revert toward it
        ("bb", np.int32),  # best bid index, -1 when there are no bids
        ("ba", np.int32),  # best ask index, LADDER when there are no asks
        ("last", np.int32),  # index of the last trade: the reference when a side is empty
        ("n_live", np.int32),
        ("cap", np.int32),  # most live orders at once
        ("n_bid", np.int32),  # live orders per side: a side is empty without a scan
        ("n_ask", np.int32),
    ],
    align=True,
)

LEVEL_DTYPE = np.dtype(
    [("head", np.int32), ("tail", np.int32), ("count", np.int32), ("shares", np.int32)],
    align=True,
)

ORDER_DTYPE = np.dtype(
    [
        ("ref", np.int64),  # order reference number (sequential over the day)
        ("index", np.int32),  # ladder index of its price
        ("shares", np.int32),  # still resting
        ("prev", np.int32),  # older order at the same level, -1 at the head
        ("next", np.int32),  # newer order at the same level, -1 at the tail
        ("live_pos", np.int32),  # position in its instrument's region of `live`
        ("side", np.uint8),  # 0 buy, 1 sell
    ],
    align=True,
)

BUY, SELL = 0, 1

# Scalar state (int64 array). The kernels import these as constants.
S_NEXT_REF = 0  # next order reference number
S_NEXT_MATCH = 1  # next match number
S_CLOCK = 2  # timestamp of the current step, ns since midnight
S_CLOCK_END = 3  # body timestamps stay below this (the end-of-market-hours event)
S_GAP_MEAN = 4  # mean ns between steps, spreading the body over the trading day
S_REMAINING = 5  # body messages still to write: the day's message count is exact
S_CLAMPED = 6  # prices pulled back into the ladder (counted, not an error)
S_FULL = 7  # adds turned into deletes because the instrument was at capacity
S_CLIENT_FILLS = 8  # resting client orders filled by the generated flow
N_SCALARS = 9

SCALAR_NAMES = ("next_ref", "next_match", "clock", "clock_end", "gap_mean", "remaining",
                "clamped", "adds_at_capacity", "client_fills")

#: The order-flow mix: action probabilities per step (they sum to 1), then the shapes of
#: prices and sizes. Cancels (delete, partial cancel) must outnumber executions.
FLOW: dict[str, float] = {
    "add": 0.45,  # passive A / F
    "delete": 0.30,  # D
    "cancel": 0.08,  # X, part of an order
    "replace": 0.07,  # U: new reference, price and size, same side
    "aggress": 0.05,  # marketable order: one E or C per resting order it fills
    "hidden": 0.03,  # P: non-displayed trade inside the spread, no book effect
    "noii": 0.012,  # I
    "cross": 0.005,  # Q
    "broken": 0.003,  # B, on a recent match
    "mpid_share": 0.10,  # adds sent as F with an MPID
    "with_price_share": 0.10,  # fills sent as C (printable, at the level price)
    "odd_lot_share": 0.08,  # orders of 1..99 shares; the rest are round lots
    "lot_p": 0.45,  # round lots: 1 + geometric(lot_p) lots
    "join_p": 0.35,  # passive price: geometric(join_p) ticks behind the own touch
    "deep_share": 0.10,  # ... or, this often, geometric(deep_p) ticks: the book's far end
    "deep_p": 0.04,
    "improve_share": 0.15,  # inside a spread wider than a tick, this often improve it
    "refill_share": 0.80,  # an add goes to an empty side this often
    "aggress_min": 0.5,  # aggressive size = a passive size * (min + exponential(mean))
    "aggress_mean": 1.0,
    "revert": 2.0,  # aggressor side bias toward the opening price (per ladder width)
}

F_ADD, F_DELETE, F_CANCEL, F_REPLACE, F_AGGRESS, F_HIDDEN, F_NOII, F_CROSS, F_BROKEN = range(9)
(F_MPID, F_WITH_PRICE, F_ODD_LOT, F_LOT_P, F_JOIN_P, F_DEEP_SHARE, F_DEEP_P, F_IMPROVE,
 F_REFILL, F_AGGRESS_MIN, F_AGGRESS_MEAN, F_REVERT) = range(9, 21)
ACTIONS = ("add", "delete", "cancel", "replace", "aggress", "hidden", "noii", "cross", "broken")
assert tuple(FLOW)[:9] == ACTIONS and len(FLOW) == 21


def flow_params(flow: dict[str, float] | None = None) -> np.ndarray:
    """The flow mix as the float64 array the kernels read (``F_*`` indices)."""
    f = dict(FLOW if flow is None else flow)
    if set(f) != set(FLOW):
        raise ValueError(f"flow keys differ from FLOW: {sorted(set(f) ^ set(FLOW))}")
    total = sum(f[a] for a in ACTIONS)
    if abs(total - 1.0) > 1e-9:
        raise ValueError(f"action probabilities sum to {total}, not 1")
    return np.array([f[k] for k in FLOW], dtype=np.float64)


#: Market participant IDs used on F messages (fictional 4-letter firms).
MPIDS = ("ABCX", "BRKR", "MMKR", "FLOW", "QUNT", "HFTZ", "RTLX", "BNKA")
MPID_CODES = np.array([int.from_bytes(m.encode("ascii"), "big") for m in MPIDS], np.uint32)

#: check_books() status codes.
CHECK_OK = 0
CHECK_TEXT = {
    0: "ok",
    1: "a level's order count or shares differ from its queue",
    2: "a level's queue links are broken",
    3: "the best bid or best ask index is wrong",
    4: "the book is crossed (a bid level at or above an ask level)",
    5: "a live order's list position, instrument or price is wrong",
    6: "an instrument's per-side order counts are wrong",
    7: "an instrument's slot region is not a permutation of its own slots",
    8: "a client order's slot record is wrong (instrument, price index or shares)",
}

# ------------------------------------------------------------------------- client orders
#
# Orders entered over OUCH rest in the same ladders and FIFO queues as the generated flow
# (price-time priority across both), in a region of the pool after every instrument's region:
# slot ``pool + c`` for client index ``c``. The generator picks its deletes, cancels and
# replaces from the instruments' ``live`` regions only, so it never touches a client order;
# its marketable orders do fill them (that is the point). Free client slots form a singly
# linked list through ``next_free``.

#: Most client orders resting at once, by default; at most MAX_CLIENT_SLOTS.
CLIENT_SLOTS = 1024
MAX_CLIENT_SLOTS = 1024
#: OUCH 5.0: an order's quantity is above zero and below 1,000,000.
MAX_CLIENT_QTY = 999_999
# a level's int32 shares hold an instrument's generated orders and every client order
assert MAX_CAP * MAX_ORDER_SHARES + MAX_CLIENT_SLOTS * MAX_CLIENT_QTY < 2**31
#: Resting orders one client order may fill; the rest of a still-marketable order is
#: canceled (reason 'Z', system) rather than rest on a crossed book.
MAX_CLIENT_FILLS = 256

CLIENT_DTYPE = np.dtype(
    [
        ("owner", np.int32),  # account index; -1: the slot is free
        ("inst", np.int32),  # instrument index
        ("next_free", np.int32),  # free list link (client index), -1 at the end
        ("user_ref_num", np.uint32),  # the client's UserRefNum of the live order
        ("executed", np.int64),  # shares executed over the order/replace chain
        ("side", np.uint8),  # as entered: B, S, T, E
        ("tif", np.uint8),  # accepted time in force
        ("display", np.uint8),
        ("capacity", np.uint8),
        ("iso", np.uint8),
        ("cross", np.uint8),
    ],
    align=True,
)

# Client scalars (int64 array ``cscal``).
C_FREE = 0  # head of the free list, -1 when every client slot is taken
C_LIVE = 1  # client orders resting
C_NOW = 2  # timestamp of OUCH messages written now (ns since midnight), set by the owner
C_OUT = 3  # bytes in the outbox
C_ITCH = 4  # bytes of ITCH blocks waiting in the feed buffer
C_ORDERS_IN = 5  # inbound OUCH messages applied
C_ACCEPTED = 6
C_EXECUTIONS = 7  # trades with at least one client side
C_REJECTS = 8
C_CANCELED = 9  # Order Canceled messages sent
C_REPLACED = 10
C_IGNORED = 11  # requests ignored as the specification says (stale UserRefNum, dead order)
C_UNSUPPORTED = 12  # well-formed requests this venue does not act on (Modify, Disable, ...)
C_ITCH_MSGS = 13  # ITCH messages written for client actions
C_OUT_MSGS = 14  # OUCH messages written to the outbox
N_CSCAL = 15
CSCAL_NAMES = ("free", "live", "now", "outbox_bytes", "itch_bytes", "orders_in", "accepted",
               "executions", "rejects", "canceled", "replaced", "ignored", "unsupported",
               "itch_messages", "ouch_messages")
assert len(CSCAL_NAMES) == N_CSCAL

# ------------------------------------------------------------------------- the scenario
#
# What a scenario asks of the generator (``matching.generate(..., scenario=...)``), an int64
# array: a clock limit, so another engine can keep in step with this day, and an
# announcement that moves some instruments' prices at a set moment. Without the array (the
# default) the generator runs exactly as before.
#
#   scenario[SC_LIMIT]       steps stop before one whose clock would pass this (0: no limit)
#   scenario[SC_HELD]        1 when the last call stopped at that limit, else 0
#   scenario[SC_AT]          session clock of the announcement: the first step at or after it
#                            applies it (-1: none)
#   scenario[SC_MOVE_PPB]    the move, in parts per billion of each instrument's price
#   scenario[SC_STATE]       0 armed (or none), 1 applied
#   scenario[SC_CLOCK]       clock of the step that applied it
#   scenario[SC_LEFT]        instruments still repricing toward their new centre
#   scenario[SC_STEPS]       repricing steps run
#   scenario[N_SC + i]       instrument i: before the announcement 1 if it moves, 0 if not;
#                            after it, the direction still to go (-1 / +1), 0 once there
SC_LIMIT = 0
SC_HELD = 1
SC_AT = 2
SC_MOVE_PPB = 3
SC_STATE = 4
SC_CLOCK = 5
SC_LEFT = 6
SC_STEPS = 7
N_SC = 8
#: A repricing instrument is there once its midpoint is within this many ticks of its new
#: centre (or past it).
REPRICE_BAND = 1
#: A new centre stays this many ticks inside the ladder's ends.
REPRICE_MARGIN = 32
#: After the move, the far side keeps only the quotes within this many ticks of the new
#: centre (the rest, left at the old price, is pulled): the touch has nothing stale to
#: fall back to when the quotes at the new price are taken or cancelled.
REPRICE_DEPTH = 8
#: ... and each side has this many orders there (an eighth of the instrument's capacity, if
#: fewer) before its usual flow resumes, so a fill or two does not empty the new touch.
REPRICE_FILL = 6
