"""The venue's matching engine and order-flow generator: compiled kernels over the records.

``generate`` runs whole *steps* from the current state and writes each step's ITCH messages as
length-prefixed blocks. A step picks an instrument (Zipf-like popularity, from ``cdf``) and an
action from the flow mix, applies it to that instrument's book and emits what the venue would
publish: an add, a delete, a partial cancel, a replace, a marketable order that fills resting
orders in price-time priority (one E or C per order filled), or a trade with no book effect
(P, Q, B) or an imbalance message (I). All messages of a step share one timestamp.

The stream depends only on the state arrays, never on where a chunk ends: ``generate`` stops
*before* a step that might not fit, and the day's message budget (``S_REMAINING``) bounds a
sweep, so cutting the day into chunks of any size yields the same bytes.

A scenario (``records.SC_*``, passed as ``generate``'s ``scenario``) adds a clock limit, so
another engine can keep step with the day, and an announcement: from a set clock the chosen
instruments reprice to a new centre (``_announce``, ``_reprice``: sweeps, pulls of stale
quotes, passive orders at the new price) before their usual flow resumes. Without it the
generator runs exactly as it always has.

Nothing here allocates per message or raises on data; ``check_books`` returns a status code.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ..codec.itch50.encoder import encode_event, put16, put32, put48, put64
from ..codec.ouch50.encode_out import MAX_OUT_LEN, encode_order_executed
from ..codec.soupbintcp.framing import put_header
from ..codec.soupbintcp.layout import HEADER_LEN as SOUP_HEADER
from .records import (
    BUY,
    C_FREE,
    C_LIVE,
    C_NOW,
    C_OUT,
    C_OUT_MSGS,
    CHECK_OK,
    F_ADD,
    F_AGGRESS,
    F_AGGRESS_MEAN,
    F_AGGRESS_MIN,
    F_CANCEL,
    F_CROSS,
    F_DEEP_P,
    F_DEEP_SHARE,
    F_DELETE,
    F_HIDDEN,
    F_IMPROVE,
    F_JOIN_P,
    F_LOT_P,
    F_MPID,
    F_NOII,
    F_ODD_LOT,
    F_REFILL,
    F_REPLACE,
    F_REVERT,
    F_WITH_PRICE,
    MAX_BLOCK,
    MAX_FILLS,
    MAX_ORDER_SHARES,
    N_SC,
    NOII_CROSS,
    NOII_DIRECTION,
    NOII_FAR,
    NOII_IMBALANCE,
    NOII_LEN,
    NOII_NEAR,
    NOII_PAIRED,
    NOII_REFERENCE,
    NOII_STOCK,
    NOII_VARIATION,
    REPRICE_BAND,
    REPRICE_DEPTH,
    REPRICE_FILL,
    REPRICE_MARGIN,
    S_CLAMPED,
    S_CLIENT_FILLS,
    S_CLOCK,
    S_CLOCK_END,
    S_FULL,
    S_GAP_MEAN,
    S_NEXT_MATCH,
    S_NEXT_REF,
    S_REMAINING,
    SC_AT,
    SC_CLOCK,
    SC_HELD,
    SC_LEFT,
    SC_LIMIT,
    SC_MOVE_PPB,
    SC_STATE,
    SC_STEPS,
    SELL,
    TICK,
)

#: How every hot kernel here is compiled. They work in place on preallocated arrays and never
#: allocate, so they run without numba's runtime (NRT): arrays are then passed without atomic
#: reference counting, which numba's pruning pass could not remove around these branchy
#: helpers and which took half of the generator's time (measured). A kernel that did need
#: the runtime would fail to compile, not misbehave. ``error_model="numpy"``: a division by
#: zero gives inf instead of a raise path (kernels never raise on data).
kernel = njit(cache=True, nogil=True, error_model="numpy", _nrt=False)

_A, _F, _E, _C, _X, _D, _U, _P, _Q, _B, _I = (ord(c) for c in "AFECXDUPQBI")
_SIDE_BYTE = (ord("B"), ord("S"))
_Y = ord("Y")
_SEQUENCED = ord("S")  # SoupBinTCP Sequenced Data
_ADDED = ord("A")  # OUCH liquidity flag: the resting side

# action codes inside a step
_ADD, _DELETE, _CANCEL, _REPLACE, _AGGRESS, _HIDDEN, _NOII, _CROSS, _BROKEN = range(9)

# ----------------------------------------------------------------------------- random numbers

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_INV53 = 1.0 / 9007199254740992.0


@kernel
def rand64(rng):
    """splitmix64: the next 64 random bits; the state is ``rng[0]``."""
    z = rng[0] + _GOLDEN
    rng[0] = z
    z = (z ^ (z >> np.uint64(30))) * _MIX1
    z = (z ^ (z >> np.uint64(27))) * _MIX2
    return z ^ (z >> np.uint64(31))


@kernel
def uniform(rng):
    """A float in [0, 1) from the top 53 bits."""
    return np.float64(rand64(rng) >> np.uint64(11)) * _INV53


@kernel
def below(rng, n):
    """An integer in [0, n), 1 <= n < 2**32: the top 32 random bits scaled by n (a multiply
    instead of a 64-bit division; the bias, under n / 2**32, is immaterial here)."""
    return np.int64(((rand64(rng) >> np.uint64(32)) * np.uint64(n)) >> np.uint64(32))


@kernel
def geometric(rng, p):
    """Failures before the first success of a p-coin: P(k) = p (1 - p)**k, k >= 0."""
    return np.int64(np.log(1.0 - uniform(rng)) / np.log(1.0 - p))


@kernel
def exponential(rng, mean):
    return -np.log(1.0 - uniform(rng)) * mean


@kernel
def seed_rng(rng, seed):
    """Spread a small seed over the state, so seeds 1 and 2 start far apart."""
    rng[0] = np.uint64(seed)
    rng[0] = rand64(rng)


@kernel
def fill_uniform(rng, out):
    """``out[:] =`` uniforms in [0, 1): the cold set-up draws from the same generator, so a
    day depends on the seed alone, not on numpy's random streams."""
    for k in range(out.shape[0]):
        out[k] = uniform(rng)


# ------------------------------------------------------------------------------- book updates


@kernel
def _link(levels, orders, i, o):
    """Append order ``o`` at the tail of its level: last in time priority."""
    od = orders[o]
    lv = levels[i, od["index"]]
    od["prev"] = lv["tail"]
    od["next"] = -1
    if lv["tail"] >= 0:
        orders[lv["tail"]]["next"] = o
    else:
        lv["head"] = o
    lv["tail"] = o
    lv["count"] += 1
    lv["shares"] += od["shares"]


@kernel
def _unlink(levels, orders, i, o):
    od = orders[o]
    lv = levels[i, od["index"]]
    if od["prev"] >= 0:
        orders[od["prev"]]["next"] = od["next"]
    else:
        lv["head"] = od["next"]
    if od["next"] >= 0:
        orders[od["next"]]["prev"] = od["prev"]
    else:
        lv["tail"] = od["prev"]
    lv["count"] -= 1
    lv["shares"] -= od["shares"]


@kernel
def insert_order(inst, levels, orders, live, i, side, j, shares, ref):
    """Rest a new order on instrument ``i`` at ladder index ``j``; return its pool slot.

    The caller keeps the book uncrossed (a bid below the best ask, an ask above the best bid)
    and the instrument under its capacity. The slot is the first free one of the
    instrument's region: ``live[start:start+n_live]`` are its live slots, the rest its free
    ones, so an instrument's orders stay together in memory."""
    rec = inst[i]
    o = live[rec["live_start"] + rec["n_live"]]
    od = orders[o]
    od["ref"] = ref
    od["index"] = j
    od["shares"] = shares
    od["side"] = side
    od["live_pos"] = rec["n_live"]
    rec["n_live"] += 1
    _link(levels, orders, i, o)
    if side == BUY:
        rec["n_bid"] += 1
        if j > rec["bb"]:
            rec["bb"] = j
    else:
        rec["n_ask"] += 1
        if j < rec["ba"]:
            rec["ba"] = j
    return o


@kernel
def delete_order(inst, levels, orders, live, i, o):
    """Take order ``o`` off the book (deleted, fully executed or replaced)."""
    od = orders[o]
    rec = inst[i]
    # swap with the last live slot: live orders stay dense, the freed slot is the first free
    last = rec["n_live"] - 1
    pos = od["live_pos"]
    moved = live[rec["live_start"] + last]
    live[rec["live_start"] + pos] = moved
    orders[moved]["live_pos"] = pos
    live[rec["live_start"] + last] = o
    od["live_pos"] = last
    rec["n_live"] = last
    take_off(inst, levels, orders, i, o)


@kernel
def take_off(inst, levels, orders, i, o):
    """Unlink order ``o`` (generated or client) from its level and mend the side's count and
    best price; its pool slot is the caller's to free."""
    od = orders[o]
    j = od["index"]
    _unlink(levels, orders, i, o)
    rec = inst[i]
    if od["side"] == BUY:
        rec["n_bid"] -= 1
        if j == rec["bb"] and levels[i, j]["count"] == 0:
            if rec["n_bid"] == 0:
                rec["bb"] = -1
            else:  # a bid rests somewhere below: every non-empty level below is a bid
                k = j - 1
                while levels[i, k]["count"] == 0:
                    k -= 1
                rec["bb"] = k
    else:
        rec["n_ask"] -= 1
        if j == rec["ba"] and levels[i, j]["count"] == 0:
            if rec["n_ask"] == 0:
                rec["ba"] = levels.shape[1]
            else:
                k = j + 1
                while levels[i, k]["count"] == 0:
                    k += 1
                rec["ba"] = k


@kernel
def reduce_order(levels, orders, i, o, by):
    """Take ``by`` shares (fewer than it has) off order ``o``; it keeps its priority."""
    od = orders[o]
    od["shares"] -= by
    levels[i, od["index"]]["shares"] -= by


# ------------------------------------------------------------------------ client orders
#
# What the generator needs to fill a resting client order: the client slot's bookkeeping and
# the Order Executed it owes the owner, written to the outbox. An outbox entry is the account
# index (u16) followed by a whole SoupBinTCP Sequenced Data packet carrying one OUCH message.

OUT_ENTRY_HEAD = 2 + SOUP_HEADER
#: the most bytes one outbox entry takes
OUT_ENTRY_MAX = OUT_ENTRY_HEAD + MAX_OUT_LEN


@kernel
def out_open(outbox, cscal, account):
    """Start an outbox entry for ``account``; returns where its OUCH message goes."""
    p = cscal[C_OUT]
    put16(outbox, p, account)
    return p + OUT_ENTRY_HEAD


@kernel
def out_close(outbox, cscal, msg_at, end):
    """Finish the entry whose message is ``outbox[msg_at:end]``."""
    put_header(outbox, msg_at - SOUP_HEADER, _SEQUENCED, end - msg_at)
    cscal[C_OUT] = end
    cscal[C_OUT_MSGS] += 1


@kernel
def out_executed(outbox, cscal, clients, c, qty, price, liquidity, match):
    """Order Executed to the owner of client order ``c``."""
    cl = clients[c]
    at = out_open(outbox, cscal, cl["owner"])
    end = encode_order_executed(outbox, at, cscal[C_NOW], np.uint64(cl["user_ref_num"]), qty,
                                price, liquidity, match)
    out_close(outbox, cscal, at, end)


@kernel
def free_client(inst, levels, orders, clients, cscal, pool, i, o):
    """Take client order ``o`` (pool slot) off the book and return its slot to the free list."""
    take_off(inst, levels, orders, i, o)
    c = o - pool
    clients[c]["owner"] = -1
    clients[c]["next_free"] = cscal[C_FREE]
    cscal[C_FREE] = c
    cscal[C_LIVE] -= 1


@kernel
def fill_client(inst, levels, orders, clients, cscal, outbox, pool, i, o, take, price, match):
    """A resting client order ``o`` gives ``take`` shares to an aggressor at ``price``: the
    owner's Order Executed (liquidity added), then the slot's book effect."""
    c = o - pool
    clients[c]["executed"] += take
    out_executed(outbox, cscal, clients, c, take, price, _ADDED, match)
    if take == orders[o]["shares"]:
        free_client(inst, levels, orders, clients, cscal, pool, i, o)
    else:
        reduce_order(levels, orders, i, o, take)


# ---------------------------------------------------------------------------- flow decisions


@kernel
def _size(rng, params):
    if uniform(rng) < params[F_ODD_LOT]:
        return 1 + below(rng, 99)
    return min(100 * (1 + geometric(rng, params[F_LOT_P])), MAX_ORDER_SHARES)


@kernel
def place(inst, rng, params, scal, i, side, nlev):
    """Ladder index for a passive order on ``side``: a geometric number of ticks behind the
    own touch (sometimes improving a wide spread), never at or through the opposite best.
    Returns -1 when the side has no room (the opposite best is at the ladder's edge)."""
    rec = inst[i]
    bb = rec["bb"]
    ba = rec["ba"]
    both = bb >= 0 and ba < nlev
    if both and ba - bb > 1 and uniform(rng) < params[F_IMPROVE]:
        return bb + 1 + below(rng, ba - bb - 1)  # strictly inside the spread
    if uniform(rng) < params[F_DEEP_SHARE]:
        k = geometric(rng, params[F_DEEP_P])
    else:
        k = geometric(rng, params[F_JOIN_P])
    if side == BUY:
        hi = min(ba - 1, nlev - 1)
        if hi < 0:
            return -1
        ref = bb if bb >= 0 else (ba - 1 if ba < nlev else rec["last"])
        j = ref - k
        if j < 0:
            scal[S_CLAMPED] += 1
            j = 0
        return min(j, hi)
    lo = max(bb + 1, 0)
    if lo > nlev - 1:
        return -1
    ref = ba if ba < nlev else (bb + 1 if bb >= 0 else rec["last"] + 1)
    j = ref + k
    if j > nlev - 1:
        scal[S_CLAMPED] += 1
        j = nlev - 1
    return max(j, lo)


@kernel
def _set_last(rec, j, nlev):
    # keep one level free on each side, so an empty book still has room for bid and ask
    rec["last"] = min(max(j, 1), nlev - 2)


@kernel
def _mid(rec, nlev):
    if rec["bb"] >= 0 and rec["ba"] < nlev:
        return (rec["bb"] + rec["ba"]) // 2
    return rec["last"]


# ------------------------------------------------------------------------------- encoding


@kernel
def encode_noii(buf, p, ev):
    """Write an NOII ('I') message at ``buf[p]`` from a staged event; return its length.

    EVENT_DTYPE carries only some of I's fields (paired shares, direction, stock, reference
    price, cross type); inside the venue the others ride in fields I does not use: ``ref`` the
    imbalance shares, ``new_ref`` the far price, ``match`` the near price, ``pad`` the price
    variation indicator."""
    buf[p] = _I
    put16(buf, p + 1, np.uint64(ev["locate"]))
    put16(buf, p + 3, np.uint64(ev["tracking"]))
    put48(buf, p + 5, ev["timestamp"])
    put64(buf, p + NOII_PAIRED, ev["shares"])
    put64(buf, p + NOII_IMBALANCE, ev["ref"])
    buf[p + NOII_DIRECTION] = ev["side"]
    put64(buf, p + NOII_STOCK, ev["stock"])
    put32(buf, p + NOII_FAR, ev["new_ref"])
    put32(buf, p + NOII_NEAR, ev["match"])
    put32(buf, p + NOII_REFERENCE, ev["price"])
    buf[p + NOII_CROSS] = ev["flag"]
    buf[p + NOII_VARIATION] = ev["pad"]
    return NOII_LEN


# ------------------------------------------------------------------------------- actions
#
# Each action applies one step to instrument i's book and stages the messages it publishes in
# ``events`` (header fields are filled in by ``generate``, which encodes them), returning how
# many.


@kernel
def _add(inst, levels, orders, live, params, mpids, scal, rng, events, i, nlev):
    rec = inst[i]
    side = below(rng, 2)
    if rec["n_bid"] == 0 and rec["n_ask"] > 0 and uniform(rng) < params[F_REFILL]:
        side = BUY
    elif rec["n_ask"] == 0 and rec["n_bid"] > 0 and uniform(rng) < params[F_REFILL]:
        side = SELL
    j = place(inst, rng, params, scal, i, side, nlev)
    if j < 0:  # no room on this side of the ladder: the other side always has some
        side = 1 - side
        j = place(inst, rng, params, scal, i, side, nlev)
    shares = _size(rng, params)
    ref = scal[S_NEXT_REF]
    scal[S_NEXT_REF] = ref + 1
    insert_order(inst, levels, orders, live, i, side, j, shares, ref)
    ev = events[0]
    if uniform(rng) < params[F_MPID]:
        ev["type"] = _F
        ev["attribution"] = mpids[below(rng, mpids.shape[0])]
    else:
        ev["type"] = _A
    ev["ref"] = ref
    ev["side"] = _SIDE_BYTE[side]
    ev["shares"] = shares
    ev["price"] = rec["lo"] + j * TICK
    return 1


@kernel
def _pick(inst, live, rng, i):
    rec = inst[i]
    return live[rec["live_start"] + below(rng, rec["n_live"])]


@kernel
def _delete(inst, levels, orders, live, scal, rng, events, i):
    o = _pick(inst, live, rng, i)
    ev = events[0]
    ev["type"] = _D
    ev["ref"] = orders[o]["ref"]
    delete_order(inst, levels, orders, live, i, o)
    return 1


@kernel
def _cancel(inst, levels, orders, live, scal, rng, events, i):
    o = _pick(inst, live, rng, i)
    od = orders[o]
    ev = events[0]
    ev["ref"] = od["ref"]
    n = od["shares"]
    if n < 2:  # nothing to cancel in part: the whole order goes
        ev["type"] = _D
        delete_order(inst, levels, orders, live, i, o)
        return 1
    if n > 100 and n % 100 == 0:
        by = 100 * (1 + below(rng, n // 100 - 1))  # whole lots of a round-lot order
    else:
        by = 1 + below(rng, n - 1)
    reduce_order(levels, orders, i, o, by)
    ev["type"] = _X
    ev["shares"] = by
    return 1


@kernel
def _replace(inst, levels, orders, live, params, scal, rng, events, i, nlev):
    o = _pick(inst, live, rng, i)
    od = orders[o]
    side = np.int64(od["side"])
    ev = events[0]
    ev["ref"] = od["ref"]
    delete_order(inst, levels, orders, live, i, o)
    # the old order's own price was legal, so its side has room after it is gone
    j = place(inst, rng, params, scal, i, side, nlev)
    shares = _size(rng, params)
    ref = scal[S_NEXT_REF]
    scal[S_NEXT_REF] = ref + 1
    insert_order(inst, levels, orders, live, i, side, j, shares, ref)
    ev["type"] = _U
    ev["new_ref"] = ref
    ev["shares"] = shares
    ev["price"] = inst[i]["lo"] + j * TICK
    return 1


@kernel
def _aggress(inst, levels, orders, live, params, scal, rng, events, i, nlev, clients, cscal,
             outbox):
    """A marketable order: fills the opposite side from its best level on, oldest order first
    at each level, one E (or C) per order filled; its remainder does not rest (IOC). A client
    order it fills (``clients`` not None) also gets an OUCH Order Executed in ``outbox``."""
    rec = inst[i]
    # lean the aggressor toward the opening price, so prices wander but stay in the ladder
    lean = params[F_REVERT] * (_mid(rec, nlev) - rec["center"]) / nlev
    p_buy = min(max(0.5 - lean, 0.1), 0.9)
    buy = uniform(rng) < p_buy
    if buy and rec["n_ask"] == 0:
        buy = False
    elif not buy and rec["n_bid"] == 0:
        buy = True
    # sized like a passive order, with a long tail: thin touches get swept, deep ones nibbled
    scale = params[F_AGGRESS_MIN] + exponential(rng, params[F_AGGRESS_MEAN])
    qty = max(np.int64(1), np.int64(_size(rng, params) * scale))
    if qty >= 100:
        qty -= qty % 100  # marketable orders come in round lots too
    return _sweep(inst, levels, orders, live, params, scal, rng, events, i, nlev, clients,
                  cscal, outbox, buy, qty, nlev - 1 if buy else 0)


@kernel
def _sweep(inst, levels, orders, live, params, scal, rng, events, i, nlev, clients, cscal,
           outbox, buy, qty, limit):
    """Fill ``qty`` shares of a marketable order (``buy``: against the asks) from the best
    level on, up to ladder index ``limit`` (a buy takes no level above it, a sell none below
    it), oldest order first at each level: one E (or C) per order filled, at most
    ``events``' length and the day's budget. Returns the messages staged."""
    rec = inst[i]
    budget = min(events.shape[0], scal[S_REMAINING])  # the day's count stays exact
    fills = 0
    while qty > 0 and fills < budget:
        j = rec["ba"] if buy else rec["bb"]
        if j < 0 or j >= nlev or (buy and j > limit) or (not buy and j < limit):
            break  # swept the whole side, or up to the limit
        o = levels[i, j]["head"]
        od = orders[o]
        take = min(qty, np.int64(od["shares"]))
        ev = events[fills]
        if uniform(rng) < params[F_WITH_PRICE]:
            ev["type"] = _C
            ev["flag"] = _Y
            ev["price"] = rec["lo"] + j * TICK
        else:
            ev["type"] = _E
        ev["ref"] = od["ref"]
        ev["shares"] = take
        ev["match"] = scal[S_NEXT_MATCH]
        scal[S_NEXT_MATCH] += 1
        qty -= take
        fills += 1
        _set_last(rec, j, nlev)
        if clients is not None:
            if o >= live.shape[0]:  # a client order: its owner hears of the fill
                scal[S_CLIENT_FILLS] += 1
                fill_client(inst, levels, orders, clients, cscal, outbox, live.shape[0], i,
                            o, take, rec["lo"] + j * TICK, ev["match"])
                continue
        if take == od["shares"]:
            delete_order(inst, levels, orders, live, i, o)
        else:
            reduce_order(levels, orders, i, o, take)
    return fills


@kernel
def _trade(inst, params, scal, rng, events, i, nlev, action):
    """The actions with no book effect: a non-displayed trade (P) priced at or inside the
    touch, an intraday cross (Q), a broken trade (B) on a recent match, an NOII (I)."""
    rec = inst[i]
    ev = events[0]
    mid = _mid(rec, nlev)
    if action == _BROKEN and scal[S_NEXT_MATCH] > 1:
        ev["type"] = _B
        ev["match"] = max(np.int64(1), scal[S_NEXT_MATCH] - 1 - geometric(rng, 0.05))
    elif action == _CROSS:
        ev["type"] = _Q
        ev["shares"] = 100 * (10 + geometric(rng, 0.02))
        ev["price"] = rec["lo"] + mid * TICK
        ev["match"] = scal[S_NEXT_MATCH]
        scal[S_NEXT_MATCH] += 1
        ev["flag"] = ord("I")  # intraday cross
    elif action == _NOII:
        price = rec["lo"] + mid * TICK
        ev["type"] = _I
        ev["shares"] = 100 * (10 + geometric(rng, 0.01))  # paired
        ev["ref"] = 100 * geometric(rng, 0.05)  # imbalance
        d = below(rng, 3)
        ev["side"] = ord("N") if ev["ref"] == 0 else (ord("B") if d == 0 else (ord("S") if d == 1
                                                                           else ord("O")))
        near = max(price + (below(rng, 5) - 2) * TICK, TICK)
        ev["match"] = near
        ev["new_ref"] = max(near + (below(rng, 9) - 4) * TICK, TICK)  # far
        ev["price"] = price
        ev["flag"] = ord("C")  # closing-cross imbalance, the common NOII
        ev["pad"] = ord("L") if uniform(rng) < 0.7 else ord("1") + below(rng, 3)
    else:  # hidden trade; also a broken trade's stand-in before any trade exists
        if rec["bb"] >= 0 and rec["ba"] < nlev:
            j = rec["bb"] + below(rng, rec["ba"] - rec["bb"] + 1)
        else:
            j = rec["last"]
        _set_last(rec, j, nlev)
        # NASDAQ sends P with order reference 0 and side 'B' whatever the resting side
        ev["type"] = _P
        ev["ref"] = 0
        ev["side"] = _SIDE_BYTE[BUY]
        ev["shares"] = _size(rng, params)
        ev["price"] = rec["lo"] + j * TICK
        ev["match"] = scal[S_NEXT_MATCH]
        scal[S_NEXT_MATCH] += 1
    return 1


# ------------------------------------------------------------------------- the scenario
#
# An announcement (``records.SC_*``) moves the chosen instruments' prices: at the first step
# at or after its clock, each one's centre (the price its flow reverts to) becomes its
# midpoint then, moved by the announced fraction. Until its book has got there, every step
# that picks the instrument is a *repricing* step instead of its usual action, one of:
#
# * a sweep: a marketable order that takes the orders on the wrong side of the new centre
#   (sells into the bids above it, or buys the offers below it), one E or C per order;
# * a pull: the quotes left on the far side away from the new price (offers more than
#   REPRICE_DEPTH ticks above the new centre, after a fall; bids as far below it, after a
#   rise) are cancelled, up to MAX_FILLS of them a step, farthest first, one D each: market
#   makers pulling their quotes;
# * an add: a passive order at the new price on the side whose touch is farther from it
#   (an offer just above the new centre, or just above the best bid while that is still
#   higher; a bid just below it, or below the best offer).
#
# Sweeps and pulls run while they have something to take; the instrument is there when
# neither has, each side has REPRICE_FILL orders (an eighth of its capacity, if fewer)
# within REPRICE_DEPTH ticks of the new centre and its midpoint is within REPRICE_BAND
# ticks of it.
# Then its usual flow resumes around the new centre, no stale quote left for the touch to
# fall back to. Client orders are filled by sweeps like any resting order, and never pulled.

_SWEEP_SHARE = 1.0 / 3.0  # of the repricing steps, while a sweep has something to take
_PULL_SHARE = 1.0 / 3.0  # ... and a pull


@kernel
def _announce(inst, scenario, nlev, clock):
    """Apply the announcement: each moving instrument's centre becomes its midpoint moved by
    ``scenario[SC_MOVE_PPB]`` parts per billion of its price (whole ticks, kept
    ``REPRICE_MARGIN`` inside the ladder)."""
    move = scenario[SC_MOVE_PPB] * 1e-9
    left = 0
    for i in range(inst.shape[0]):
        if scenario[N_SC + i] == 0:
            continue
        rec = inst[i]
        mid = np.int64(_mid(rec, nlev))
        ticks = np.int64(np.round(move * (rec["lo"] + mid * TICK) / TICK))
        target = min(max(mid + ticks, np.int64(REPRICE_MARGIN)),
                     np.int64(nlev - 1 - REPRICE_MARGIN))
        rec["center"] = target
        if target == mid:
            scenario[N_SC + i] = 0
            continue
        scenario[N_SC + i] = -1 if target < mid else 1
        left += 1
    scenario[SC_STATE] = 1
    scenario[SC_CLOCK] = clock
    scenario[SC_LEFT] = left


@kernel
def _stale(levels, orders, pool, i, nlev, down, edge):
    """The farthest level of the far side's stale zone (after a fall: ``edge`` and above;
    after a rise: ``edge`` and below) that holds a generated order, or -1."""
    j = nlev - 1 if down else 0
    while (down and j >= edge) or (not down and j <= edge):
        o = levels[i, j]["head"]
        while o >= 0:
            if o < pool:
                return j
            o = orders[o]["next"]
        j += -1 if down else 1
    return -1


@kernel
def _pull(inst, levels, orders, live, scal, events, i, nlev, down, edge, j):
    """Cancel up to ``events``' length (and the day's budget) of the generated orders in the
    stale zone from level ``j`` (the farthest holding one) toward ``edge``, oldest first in
    a level; client orders stay. Returns the messages staged."""
    pool = live.shape[0]
    budget = min(events.shape[0], scal[S_REMAINING])
    n = 0
    while n < budget and ((down and j >= edge) or (not down and j <= edge)):
        o = levels[i, j]["head"]
        while o >= 0 and n < budget:
            nxt = orders[o]["next"]
            if o < pool:
                ev = events[n]
                ev["type"] = _D
                ev["ref"] = orders[o]["ref"]
                delete_order(inst, levels, orders, live, i, o)
                n += 1
            o = nxt
        j += -1 if down else 1
    return n


@kernel
def _reprice(inst, levels, orders, live, params, scal, rng, events, i, nlev, clients, cscal,
             outbox, scenario):
    """One repricing step of instrument ``i`` toward its new centre; returns the messages
    staged, or 0 when its book is there (repricing ends: the caller runs a usual step)."""
    rec = inst[i]
    down = scenario[N_SC + i] < 0
    target = np.int64(rec["center"])
    near = rec["bb"] > target if down else (rec["n_ask"] > 0 and rec["ba"] < target)
    edge = target + 1 + REPRICE_DEPTH if down else target - 1 - REPRICE_DEPTH
    far = _stale(levels, orders, live.shape[0], i, nlev, down, edge)
    # the orders each side has within REPRICE_DEPTH ticks of the new centre
    nb = 0
    na = 0
    for j in range(max(target - REPRICE_DEPTH, 0), min(target + REPRICE_DEPTH + 1, nlev)):
        if j <= rec["bb"]:
            nb += levels[i, j]["count"]
        elif j >= rec["ba"]:
            na += levels[i, j]["count"]
    fill = min(REPRICE_FILL, rec["cap"] // 8)
    # how far each touch is from the new centre (an empty side: as far as can be)
    bid_gap = target - rec["bb"] if rec["bb"] >= 0 else np.int64(nlev)
    ask_gap = rec["ba"] - target if rec["ba"] < nlev else np.int64(nlev)
    if not near and far < 0 and nb >= fill and na >= fill \
            and abs(ask_gap - bid_gap) <= 2 * REPRICE_BAND:
        scenario[N_SC + i] = 0  # there: a book around the new centre, nothing stale
        scenario[SC_LEFT] -= 1
        rec["last"] = target  # a book that empties later forms again here
        return 0
    scenario[SC_STEPS] += 1
    u = uniform(rng)
    full = rec["n_live"] >= rec["cap"]
    if near and (u < _SWEEP_SHARE or (full and far < 0)):
        return _sweep(inst, levels, orders, live, params, scal, rng, events, i, nlev,
                      clients, cscal, outbox, not down, MAX_FILLS * MAX_ORDER_SHARES,
                      target + 1 if down else target - 1)
    if far >= 0 and (u < _SWEEP_SHARE + _PULL_SHARE or full):
        return _pull(inst, levels, orders, live, scal, events, i, nlev, down, edge, far)
    if full:
        return _delete(inst, levels, orders, live, scal, rng, events, i)
    # a passive order at the new price on the side with fewer orders near it (or, as
    # many, the side whose touch is farther from it)
    g = geometric(rng, params[F_JOIN_P])
    if nb < na or (nb == na and (bid_gap > ask_gap or (bid_gap == ask_gap and not down))):
        side = BUY
        j = min(target - 1 - g, np.int64(rec["ba"]) - 1)
    else:
        side = SELL
        j = max(target + 1 + g, np.int64(rec["bb"]) + 1)
    j = min(max(j, np.int64(0)), np.int64(nlev - 1))
    shares = _size(rng, params)
    ref = scal[S_NEXT_REF]
    scal[S_NEXT_REF] = ref + 1
    insert_order(inst, levels, orders, live, i, side, j, shares, ref)
    ev = events[0]
    ev["type"] = _A
    ev["ref"] = ref
    ev["side"] = _SIDE_BYTE[side]
    ev["shares"] = shares
    ev["price"] = rec["lo"] + j * TICK
    return 1


# ------------------------------------------------------------------------------- the loop


@kernel
def generate(inst, levels, orders, live, cdf, params, mpids, scal, rng, counts, events,
             buf, p, max_msgs, clients=None, cscal=None, outbox=None, scenario=None):
    """Run whole steps, writing length-prefixed blocks from ``buf[p]``.

    ``clients`` / ``cscal`` / ``outbox`` (``client_orders``): the client order slots after
    ``live``'s end, their scalars and the OUCH outbox. Given, a marketable generated order
    fills resting client orders too and writes their owners' Order Executed messages; a step
    then also waits for outbox room. None (the futures venue's equity day): no client orders.

    ``scenario`` (``records.SC_*``; None: none): a clock limit (the call stops before a step
    whose clock would pass it, and draws that step again next call, so where it stops never
    changes the stream) and an announcement that moves instruments' prices from a set clock
    on (see ``_announce``). Until the announcement applies, the stream is the same as
    without it.

    ``events`` (EVENT_DTYPE, at least ``MAX_FILLS`` long) stages one step's messages. Stops
    before a step that could take this call past ``max_msgs`` messages or past the end of
    ``buf``, or when the day's budget ``scal[S_REMAINING]`` is spent. Returns
    ``(offset, messages)``: where the next block goes, and the messages written.
    """
    nlev = levels.shape[1]
    nsym = inst.shape[0]
    t_add = params[F_ADD]
    t_delete = t_add + params[F_DELETE]
    t_cancel = t_delete + params[F_CANCEL]
    t_replace = t_cancel + params[F_REPLACE]
    t_aggress = t_replace + params[F_AGGRESS]
    t_hidden = t_aggress + params[F_HIDDEN]
    t_noii = t_hidden + params[F_NOII]
    t_cross = t_noii + params[F_CROSS]
    gap = np.float64(scal[S_GAP_MEAN])
    most = min(MAX_FILLS, events.shape[0])
    written = 0
    if scenario is not None:
        scenario[SC_HELD] = 0
    while True:
        rem = scal[S_REMAINING]
        if rem <= 0 or written + min(most, rem) > max_msgs:
            break
        if p + most * MAX_BLOCK > buf.shape[0]:
            break
        if clients is not None:
            if cscal[C_OUT] + most * OUT_ENTRY_MAX > outbox.shape[0]:
                break
        drawn_from = rng[0]
        clock = min(scal[S_CLOCK] + 1 + np.int64(exponential(rng, gap)), scal[S_CLOCK_END] - 1)
        if scenario is not None:
            if scenario[SC_LIMIT] > 0 and clock > scenario[SC_LIMIT]:
                rng[0] = drawn_from  # the same step is drawn once the limit allows it
                scenario[SC_HELD] = 1
                break
            if scenario[SC_STATE] == 0 and scenario[SC_AT] >= 0 and clock >= scenario[SC_AT]:
                _announce(inst, scenario, nlev, clock)
        scal[S_CLOCK] = clock
        i = np.searchsorted(cdf, uniform(rng), side="right")
        if i >= nsym:
            i = nsym - 1
        rec = inst[i]
        n = 0
        if scenario is not None:
            if scenario[SC_STATE] == 1 and scenario[N_SC + i] != 0:
                n = _reprice(inst, levels, orders, live, params, scal, rng, events[:most], i,
                             nlev, clients, cscal, outbox, scenario)
        if n == 0:
            u = uniform(rng)
            if u < t_add:
                a = _ADD
            elif u < t_delete:
                a = _DELETE
            elif u < t_cancel:
                a = _CANCEL
            elif u < t_replace:
                a = _REPLACE
            elif u < t_aggress:
                a = _AGGRESS
            elif u < t_hidden:
                a = _HIDDEN
            elif u < t_noii:
                a = _NOII
            elif u < t_cross:
                a = _CROSS
            else:
                a = _BROKEN
            # an action the book cannot take becomes one it can
            if a == _ADD and rec["n_live"] >= rec["cap"]:
                a = _DELETE
                scal[S_FULL] += 1
            elif (a == _DELETE or a == _CANCEL or a == _REPLACE or a == _AGGRESS) \
                    and rec["n_live"] == 0:
                a = _ADD
            if a == _ADD:
                n = _add(inst, levels, orders, live, params, mpids, scal, rng, events, i, nlev)
            elif a == _DELETE:
                n = _delete(inst, levels, orders, live, scal, rng, events, i)
            elif a == _CANCEL:
                n = _cancel(inst, levels, orders, live, scal, rng, events, i)
            elif a == _REPLACE:
                n = _replace(inst, levels, orders, live, params, scal, rng, events, i, nlev)
            elif a == _AGGRESS:
                n = _aggress(inst, levels, orders, live, params, scal, rng, events[:most], i,
                             nlev, clients, cscal, outbox)
            else:
                n = _trade(inst, params, scal, rng, events, i, nlev, a)
        # one step, one timestamp
        for k in range(n):
            ev = events[k]
            ev["locate"] = rec["locate"]
            ev["tracking"] = 0
            ev["timestamp"] = scal[S_CLOCK]
            ev["stock"] = rec["stock"]
            if ev["type"] == _I:
                m = encode_noii(buf, p + 2, ev)
            else:
                m = encode_event(buf, p + 2, ev)
            put16(buf, p, m)
            counts[ev["type"]] += 1
            p += 2 + m
        written += n
        scal[S_REMAINING] = rem - n
    return p, written


# ------------------------------------------------------------------------------- checking


@njit(cache=True, nogil=True, error_model="numpy")
def check_books(inst, levels, orders, live, clients):
    """Check every instrument's ladder, queues, bests and slot region against each other,
    client orders (``clients``: the slots after ``live``'s end, CLIENT_DTYPE) included.

    Returns ``(status, instrument)``: ``CHECK_OK`` and -1, or the first problem found (codes
    in ``records.CHECK_TEXT``). Allocates scratch arrays: a test and debugging aid, not hot.
    """
    nlev = levels.shape[1]
    pool = live.shape[0]
    count = np.zeros(nlev, np.int64)
    shares = np.zeros(nlev, np.int64)
    seen = np.zeros(orders.shape[0], np.bool_)
    for c in range(clients.shape[0]):
        if clients[c]["owner"] >= 0:
            od = orders[pool + c]
            k = clients[c]["inst"]
            if k < 0 or k >= inst.shape[0] or od["index"] < 0 or od["index"] >= nlev \
                    or od["shares"] <= 0:
                return 8, max(k, -1)
    for i in range(inst.shape[0]):
        rec = inst[i]
        start = rec["live_start"]
        # the region holds each of its own slots exactly once
        for k in range(rec["cap"]):
            o = live[start + k]
            if o < start or o >= start + rec["cap"] or seen[o]:
                return 7, i
            seen[o] = True
        count[:] = 0
        shares[:] = 0
        nb = 0
        na = 0
        top_bid = -1
        low_ask = nlev
        for k in range(rec["n_live"] + clients.shape[0]):
            if k < rec["n_live"]:
                od = orders[live[start + k]]
                if od["live_pos"] != k or od["index"] < 0 or od["index"] >= nlev \
                        or od["shares"] <= 0:
                    return 5, i
            else:
                c = k - rec["n_live"]
                if clients[c]["owner"] < 0 or clients[c]["inst"] != i:
                    continue
                od = orders[pool + c]
            count[od["index"]] += 1
            shares[od["index"]] += od["shares"]
            if od["side"] == BUY:
                nb += 1
                top_bid = max(top_bid, od["index"])
            else:
                na += 1
                low_ask = min(low_ask, od["index"])
        if nb != rec["n_bid"] or na != rec["n_ask"]:
            return 6, i
        if top_bid >= low_ask:
            return 4, i
        if top_bid != rec["bb"] or low_ask != rec["ba"]:
            return 3, i
        for j in range(nlev):
            lv = levels[i, j]
            if lv["count"] != count[j] or lv["shares"] != shares[j]:
                return 1, i
            # walk the queue: each order links back to the one before it, tail is the last
            n = 0
            s = 0
            prev = -1
            o = lv["head"]
            while o >= 0 and n <= lv["count"]:
                od = orders[o]
                if o >= pool:
                    mine = o - pool < clients.shape[0] and clients[o - pool]["owner"] >= 0 \
                        and clients[o - pool]["inst"] == i
                else:
                    mine = start <= o < start + rec["cap"]
                if od["prev"] != prev or od["index"] != j or not mine:
                    return 2, i
                n += 1
                s += od["shares"]
                prev = o
                o = od["next"]
            if n != lv["count"] or s != lv["shares"] or lv["tail"] != prev:
                return 2, i
    return CHECK_OK, -1
