"""The futures venue's order flow and day: compiled steps over the books of ``futures_book``,
written as MDP 3.0 by ``mdp3_encode``.

Fair values. Before each step the session clock advances (exponential gaps spreading the
day's messages over ~90 % of 09:30-16:00) and every instrument's fair value is brought to it:

* ``index`` instruments: fair = open price x B(t), where B(t) = sum_i w_i S_i(t) is the
  equity basket relative to its open: S_i the midpoint of equity i (its last trade while a
  side of its book is empty) in the equity engine's state, w_i = 1 / (n S_i(open)) over the
  basket's n equities, so B(open) = 1. The equity engine (``matching.generate``) is run step
  by step until its clock reaches the futures clock, so the basket is read as the equity day
  stands at that moment. Without equities, B follows a mean-reverting log random walk (1 %
  a day).
* ``walk`` instruments: fair = open price x exp(x(t)), x a mean-reverting random walk with
  the instrument's daily volatility.

Order flow around the fair value (``FUT_FLOW``): a step picks an instrument by weight and an
action: an add priced a geometric number of ticks behind the fair touch (bids at floor(fair)
- k, offers at floor(fair) + 1 + k; sometimes far out, beyond depth 10; sometimes through the
touch), which fills against the other side first when it crosses it and rests its
remainder; a cancel (of the farther from fair of two random orders, so stale orders go
first); a quantity cut; a move to a new price; a marketable IOC order leaning toward the fair
value. When the fair value moves past the touch, new passive orders cross it and trade the
book there, so the book follows the fair value within a few ticks.

The day is exact in messages: ``scal[S_REMAINING]`` counts the body's messages, and once
fewer than ``MAX_STEP_MSGS`` are left only steps that write exactly one message run (adds
that do not cross, cancels). Nothing here allocates or raises on data.
"""

from __future__ import annotations

import numpy as np

from ..codec.mdp3 import schema_v13 as S
from .client_orders import SMP_CANCEL
from .futures_book import (
    BUY,
    DELETE,
    G_FILL,
    G_TR,
    NEW,
    SELL,
    UPDATE,
    delete_order,
    insert_order,
    kernel,
    publish_level,
    reduce_order,
    stage_oe,
    stage_reset,
)
from .futures_clients import C_STOP, REMOVED, STEP_OUT_ROOM, fill_resting, out_executed
from .futures_records import (
    DAY_EPOCH_NS,
    FF_ADD,
    FF_AGGRESS,
    FF_AGGRESS_MEAN,
    FF_BLOCK_SHARE,
    FF_CANCEL,
    FF_CROSS_SHARE,
    FF_DEEP_P,
    FF_DEEP_SHARE,
    FF_JOIN_P,
    FF_LEAN,
    FF_LOT_P,
    FF_MOVE,
    FF_PULL,
    FF_REDUCE,
    FF_TARGET,
    INCREMENTAL,
    KIND_INDEX,
    MAX_FILLS,
    MAX_STEP_MSGS,
    PW_NPK,
    PW_POS,
    S_CLAMPED,
    S_CLOCK,
    S_CLOCK_END,
    S_CLOCK_LIMIT,
    S_EQ_STEPS,
    S_FULL,
    S_GAP_MEAN,
    S_HELD,
    S_LOOP_EVERY,
    S_LOOPS,
    S_N_TRACE,
    S_NEXT_ORDER_ID,
    S_NEXT_PRIORITY,
    S_NEXT_SAMPLE,
    S_NEXT_TRADE_ID,
    S_PHASE,
    S_REMAINING,
    S_SAMPLE_GAP,
    S_SINCE_LOOP,
    S_SNAP_MSGS,
    S_SNAP_SEQ,
    S_STEPS,
    SNAPSHOT,
    T_CLOSE,
    T_OPEN,
    T_PRE_OPEN,
)
from .matching import below, exponential, generate, geometric, uniform
from .mdp3_encode import (
    close_packet,
    emit_raw,
    emit_snapshot52,
    emit_snapshot53,
    emit_status,
    emit_step,
)
from .records import C_EXECUTIONS, C_NOW, C_OUT
from .records import MAX_FILLS as EQ_MAX_FILLS
from .records import S_CLOCK as EQ_S_CLOCK
from .records import S_REMAINING as EQ_S_REMAINING
from .records import TICK as EQ_TICK

# fl: the float state (float64 array)
FL_BASKET = 0  # B(t), the basket relative to its open
FL_BASKET_VOL = 1  # without equities: B's walk volatility per sqrt(ns)
FL_REVERT = 2  # walks' mean reversion per ns
N_FL = 3

_PRE_OPEN = S.SECURITY_TRADING_STATUS_PRE_OPEN
_READY = S.SECURITY_TRADING_STATUS_READY_TO_TRADE
_CLOSE = S.SECURITY_TRADING_STATUS_CLOSE


@kernel
def normal(rng):
    """A standard normal draw (Box-Muller, one of the pair)."""
    u1 = 1.0 - uniform(rng)
    u2 = uniform(rng)
    return np.sqrt(-2.0 * np.log(u1)) * np.cos(6.283185307179586 * u2)


@kernel
def _walk(rel, vol, revert, dt, z):
    """One step of a mean-reverting log random walk, relative to 1."""
    x = np.log(rel)
    x += -revert * x * dt + vol * np.sqrt(dt) * z
    return np.exp(x)


@kernel
def basket_value(eq_inst, nlev, basket, weights):
    """B = sum_b w_b S_b: each equity's midpoint (last trade when a side is empty)."""
    s = 0.0
    for b in range(basket.shape[0]):
        e = eq_inst[basket[b]]
        if e["bb"] >= 0 and e["ba"] < nlev:
            mid = (e["bb"] + e["ba"]) * 0.5
        else:
            mid = np.float64(e["last"])
        s += weights[b] * (e["lo"] + mid * EQ_TICK)
    return s


@kernel
def advance_fair(inst, scal, fl, rng, dt, eq_inst, eq_levels, eq_orders, eq_live, eq_cdf,
                 eq_params, eq_mpids, eq_scal, eq_rng, eq_counts, eq_events, eq_buf, basket,
                 weights):
    """Bring the basket and every fair value to the current session clock."""
    if basket.shape[0] > 0:
        # run the equity day up to the futures clock, one equity step a call
        while eq_scal[EQ_S_REMAINING] > 0 and eq_scal[EQ_S_CLOCK] < scal[S_CLOCK]:
            generate(eq_inst, eq_levels, eq_orders, eq_live, eq_cdf, eq_params, eq_mpids,
                     eq_scal, eq_rng, eq_counts, eq_events, eq_buf, np.int64(0),
                     np.int64(EQ_MAX_FILLS))
            scal[S_EQ_STEPS] += 1
        fl[FL_BASKET] = basket_value(eq_inst, eq_levels.shape[1], basket, weights)
    else:
        fl[FL_BASKET] = _walk(fl[FL_BASKET], fl[FL_BASKET_VOL], fl[FL_REVERT], dt, normal(rng))
    for i in range(inst.shape[0]):
        rec = inst[i]
        if rec["kind"] == KIND_INDEX:
            rec["rel"] = fl[FL_BASKET]
        else:
            rec["rel"] = _walk(rec["rel"], rec["vol"], fl[FL_REVERT], dt, normal(rng))
        rec["fair"] = rec["scale"] * rec["rel"] - rec["offset"]


# ------------------------------------------------------------------------------- decisions


@kernel
def _qty(rng, params):
    if uniform(rng) < params[FF_BLOCK_SHARE]:
        return 10 + below(rng, 91)
    return 1 + min(geometric(rng, params[FF_LOT_P]), np.int64(49))


@kernel
def _clamp(scal, j, nlev):
    if j < 0:
        scal[S_CLAMPED] += 1
        return np.int64(0)
    if j > nlev - 1:
        scal[S_CLAMPED] += 1
        return np.int64(nlev - 1)
    return j


@kernel
def passive_price(inst, rng, params, scal, i, side, nlev, cross):
    """Ladder index for an order on ``side`` near the fair value. ``cross`` False keeps it
    off the other side's best (returns -1 when the side has no room)."""
    rec = inst[i]
    # the fair touch: a quarter tick of slack each side, so a fair value wobbling across a
    # tick boundary does not make every new order cross the last one
    if side == BUY:
        base = np.int64(np.floor(rec["fair"] - 0.25))
    else:
        base = np.int64(np.ceil(rec["fair"] + 0.25))
    u = uniform(rng)
    if cross and u < params[FF_CROSS_SHARE]:
        k = -1 - geometric(rng, 0.5)
    elif u < params[FF_CROSS_SHARE] + params[FF_DEEP_SHARE]:
        k = geometric(rng, params[FF_DEEP_P])
    else:
        k = geometric(rng, params[FF_JOIN_P])
    j = _clamp(scal, base - k if side == BUY else base + k, nlev)
    if not cross:
        if side == BUY:
            j = min(j, np.int64(rec["ba"]) - 1)
        else:
            j = max(j, np.int64(rec["bb"]) + 1)
        if j < 0 or j > nlev - 1:
            return -1
    return j


@kernel
def _pick(inst, live, rng, i):
    rec = inst[i]
    return live[rec["live_start"] + below(rng, rec["n_live"])]


# ------------------------------------------------------------------------------- actions


@kernel
def match(inst, levels, orders, live, nlv, pub, pub_n, md, oe, ops, trades, fills, stg, scal,
          i, side, limit, qty, aggressor_id, clients, cscal, outbox, account, urn):
    """An incoming order of ``qty`` on ``side`` up to ladder index ``limit`` fills the other
    side's best orders in price-time priority (at most MAX_FILLS of them). Stages one trade
    per price (the aggressor's fill, then the resting ones) and the book changes; a resting
    client order filled gets its Order Executed. ``account`` >= 0: the aggressor is that
    account's order ``urn``: it gets an Order Executed per price, and it stops before a
    resting order of its own account (``cscal[C_STOP]`` = 'Q'). Returns the quantity left."""
    rec = inst[i]
    nlev = levels.shape[1]
    pool = live.shape[0]
    opp = 1 - side
    n = 0
    stop = False
    while qty > 0 and n < MAX_FILLS and not stop:
        j = rec["ba"] if side == BUY else rec["bb"]
        if j < 0 or j >= nlev or (side == BUY and j > limit) or (side == SELL and j < limit):
            break
        h = levels[i, j]["head"]
        if account >= 0 and h >= pool and clients[h - pool]["owner"] == account:
            cscal[C_STOP] = SMP_CANCEL
            break
        px = rec["lo_px"] + j * rec["tick_px"]
        t = stg[G_TR]
        tr = trades[t]
        tr["px"] = px
        tr["trade_id"] = scal[S_NEXT_TRADE_ID]
        scal[S_NEXT_TRADE_ID] += 1
        tr["aggressor"] = 1 + side
        tr["first_fill"] = stg[G_FILL]
        agg = stg[G_FILL]
        fills[agg]["order_id"] = aggressor_id
        stg[G_FILL] = agg + 1
        filled = 0
        resting = 0
        while qty > 0 and n < MAX_FILLS and levels[i, j]["count"] > 0:
            o = levels[i, j]["head"]
            if account >= 0 and o >= pool and clients[o - pool]["owner"] == account:
                cscal[C_STOP] = SMP_CANCEL
                stop = True
                break
            od = orders[o]
            take = min(qty, np.int64(od["qty"]))
            f = fills[stg[G_FILL]]
            f["order_id"] = od["order_id"]
            f["qty"] = take
            stg[G_FILL] += 1
            if o >= pool:
                full = take == od["qty"]
                fill_resting(inst, levels, orders, nlv, clients, cscal, outbox, pool, i, o,
                             take, px, tr["trade_id"])
                stage_oe(oe, stg, od["order_id"], od["priority"], px, od["qty"],
                         DELETE if full else UPDATE, opp)
            elif take == od["qty"]:
                stage_oe(oe, stg, od["order_id"], od["priority"], px, od["qty"], DELETE, opp)
                delete_order(inst, levels, orders, live, nlv, i, o)
            else:
                reduce_order(levels, orders, i, o, take)
                stage_oe(oe, stg, od["order_id"], od["priority"], px, od["qty"], UPDATE, opp)
            qty -= take
            filled += take
            resting += 1
            n += 1
        fills[agg]["qty"] = filled
        if account >= 0:
            out_executed(outbox, cscal, account, urn, filled, px // rec["ouch_px"], REMOVED,
                         tr["trade_id"])
            cscal[C_EXECUTIONS] += 1
        tr["qty"] = filled
        tr["norders"] = resting + 1
        tr["n_fill"] = resting + 1
        stg[G_TR] = t + 1
        rec["last"] = j
        publish_level(inst, levels, pub, pub_n, nlv, md, oe, ops, stg, i, opp, j)
    return qty


@kernel
def _rest(inst, levels, orders, live, nlv, pub, pub_n, md, oe, ops, stg, scal, i, side, j,
          qty, order_id):
    prio = scal[S_NEXT_PRIORITY]
    scal[S_NEXT_PRIORITY] = prio + 1
    insert_order(inst, levels, orders, live, nlv, i, side, j, qty, order_id, prio)
    rec = inst[i]
    stage_oe(oe, stg, order_id, prio, rec["lo_px"] + j * rec["tick_px"], qty, NEW, side)
    publish_level(inst, levels, pub, pub_n, nlv, md, oe, ops, stg, i, side, j)


@kernel
def _cancel_order(inst, levels, orders, live, nlv, pub, pub_n, md, oe, ops, stg, i, o):
    od = orders[o]
    rec = inst[i]
    j = od["index"]
    side = np.int64(od["side"])
    stage_oe(oe, stg, od["order_id"], od["priority"], rec["lo_px"] + j * rec["tick_px"],
             od["qty"], DELETE, side)
    delete_order(inst, levels, orders, live, nlv, i, o)
    publish_level(inst, levels, pub, pub_n, nlv, md, oe, ops, stg, i, side, j)


@kernel
def act_cancel(inst, levels, orders, live, nlv, pub, pub_n, md, oe, ops, stg, rng, i):
    """Cancel the farther from the fair value of two random live orders."""
    rec = inst[i]
    o = _pick(inst, live, rng, i)
    o2 = _pick(inst, live, rng, i)
    if abs(orders[o2]["index"] - rec["fair"]) > abs(orders[o]["index"] - rec["fair"]):
        o = o2
    _cancel_order(inst, levels, orders, live, nlv, pub, pub_n, md, oe, ops, stg, i, o)


@kernel
def act_add(inst, levels, orders, live, nlv, pub, pub_n, md, oe, ops, trades, fills, stg,
            params, scal, rng, i, cross, clients, cscal, outbox):
    """A limit order near the fair value; one that crosses trades first and rests what is
    left (unless it hit MAX_FILLS with the book still crossed: then the rest is cancelled)."""
    rec = inst[i]
    nlev = levels.shape[1]
    side = below(rng, 2)
    if rec["n_bid"] == 0 and rec["n_ask"] > 0 and uniform(rng) < 0.8:
        side = BUY
    elif rec["n_ask"] == 0 and rec["n_bid"] > 0 and uniform(rng) < 0.8:
        side = SELL
    j = passive_price(inst, rng, params, scal, i, side, nlev, cross)
    if j < 0:  # no room on this side without crossing: the other side has some
        side = 1 - side
        j = passive_price(inst, rng, params, scal, i, side, nlev, cross)
    qty = _qty(rng, params)
    oid = scal[S_NEXT_ORDER_ID]
    scal[S_NEXT_ORDER_ID] = oid + 1
    if (side == BUY and j >= rec["ba"]) or (side == SELL and j <= rec["bb"]):
        qty = match(inst, levels, orders, live, nlv, pub, pub_n, md, oe, ops, trades, fills,
                    stg, scal, i, side, j, qty, oid, clients, cscal, outbox, -1, 0)
        if qty == 0 or (side == BUY and j >= rec["ba"]) or (side == SELL and j <= rec["bb"]):
            return
    _rest(inst, levels, orders, live, nlv, pub, pub_n, md, oe, ops, stg, scal, i, side, j, qty,
          oid)


@kernel
def act_reduce(inst, levels, orders, live, nlv, pub, pub_n, md, oe, ops, stg, rng, i):
    """Cut a random order's quantity (it keeps its priority); a 1-lot order is cancelled."""
    o = _pick(inst, live, rng, i)
    od = orders[o]
    if od["qty"] < 2:
        _cancel_order(inst, levels, orders, live, nlv, pub, pub_n, md, oe, ops, stg, i, o)
        return
    rec = inst[i]
    j = od["index"]
    reduce_order(levels, orders, i, o, 1 + below(rng, od["qty"] - 1))
    side = np.int64(od["side"])
    stage_oe(oe, stg, od["order_id"], od["priority"], rec["lo_px"] + j * rec["tick_px"],
             od["qty"], UPDATE, side)
    publish_level(inst, levels, pub, pub_n, nlv, md, oe, ops, stg, i, side, j)


@kernel
def act_move(inst, levels, orders, live, nlv, pub, pub_n, md, oe, ops, stg, params, scal, rng,
             i):
    """Move a random order to a new passive price: Delete there, New here, same OrderID, a
    new priority (a price change loses time priority). Staying put is a quantity cut."""
    o = _pick(inst, live, rng, i)
    od = orders[o]
    side = np.int64(od["side"])
    j = passive_price(inst, rng, params, scal, i, side, levels.shape[1], False)
    if j < 0 or j == od["index"]:
        act_reduce(inst, levels, orders, live, nlv, pub, pub_n, md, oe, ops, stg, rng, i)
        return
    oid = od["order_id"]
    qty = od["qty"]
    _cancel_order(inst, levels, orders, live, nlv, pub, pub_n, md, oe, ops, stg, i, o)
    _rest(inst, levels, orders, live, nlv, pub, pub_n, md, oe, ops, stg, scal, i, side, j, qty,
          oid)


@kernel
def act_aggress(inst, levels, orders, live, nlv, pub, pub_n, md, oe, ops, trades, fills, stg,
                params, scal, rng, i, clients, cscal, outbox):
    """A marketable IOC order, buying more often while the book's mid is under the fair
    value; what it cannot fill (MAX_FILLS, or the side swept) is cancelled."""
    rec = inst[i]
    nlev = levels.shape[1]
    if rec["n_bid"] > 0 and rec["n_ask"] > 0:
        mid = (rec["bb"] + rec["ba"]) * 0.5
    else:
        mid = np.float64(rec["last"])
    p_buy = min(max(0.5 + params[FF_LEAN] * (rec["fair"] + 0.5 - mid), 0.1), 0.9)
    side = BUY if uniform(rng) < p_buy else SELL
    if side == BUY and rec["n_ask"] == 0:
        side = SELL
    elif side == SELL and rec["n_bid"] == 0:
        side = BUY
    qty = max(np.int64(1),
              np.int64(_qty(rng, params) * (0.5 + exponential(rng, params[FF_AGGRESS_MEAN]))))
    oid = scal[S_NEXT_ORDER_ID]
    scal[S_NEXT_ORDER_ID] = oid + 1
    match(inst, levels, orders, live, nlv, pub, pub_n, md, oe, ops, trades, fills, stg, scal,
          i, side, nlev - 1 if side == BUY else 0, qty, oid, clients, cscal, outbox, -1, 0)


# ------------------------------------------------------------------------------- the day


@kernel
def snapshot_loop(buf, pw, bounds, kinds, counts, scal, inst, levels, orders, pub, pub_n,
                  defs, def_len, last_update, now_utc, max_payload):
    """One pass of the snapshot loop: the open incremental packet is closed first (so
    LastMsgSeqNumProcessed covers every change in the books), then, in packets numbered
    from 1: the instrument definitions (packets of their own), a SnapshotFullRefresh52 per
    instrument, then each instrument's SnapshotFullRefreshOrderBook53 chunks."""
    close_packet(pw, bounds, kinds, counts, scal)
    scal[S_SNAP_SEQ] = 1
    n = inst.shape[0]
    msgs = 0
    for i in range(n):
        emit_raw(buf, pw, bounds, kinds, counts, scal, defs[i], def_len[i], SNAPSHOT, now_utc,
                 max_payload)
        msgs += 1
    # definitions in packets of their own: a receiver tells the loop's packets apart by
    # their first message (CME sends definitions on a channel of their own)
    close_packet(pw, bounds, kinds, counts, scal)
    for i in range(n):
        emit_snapshot52(buf, pw, bounds, kinds, counts, scal, inst[i], levels, pub, pub_n, i,
                        n, last_update, now_utc, SNAPSHOT, max_payload)
        msgs += 1
    for i in range(n):
        msgs += emit_snapshot53(buf, pw, bounds, kinds, counts, scal, inst[i], levels, orders,
                                i, n, last_update, now_utc, SNAPSHOT, max_payload)
    close_packet(pw, bounds, kinds, counts, scal)
    scal[S_SINCE_LOOP] = 0
    scal[S_LOOPS] += 1
    scal[S_SNAP_MSGS] += msgs


@kernel
def _sample(inst, scal, fl, trace):
    """Record every instrument's fair value and touch (fair_trace())."""
    for i in range(inst.shape[0]):
        k = scal[S_N_TRACE]
        if k >= trace.shape[0]:
            return
        rec = inst[i]
        t = trace[k]
        t["time"] = DAY_EPOCH_NS + scal[S_CLOCK]
        t["security_id"] = rec["security_id"]
        t["fair"] = rec["lo_px"] + rec["fair"] * rec["tick_px"]
        t["bid"] = rec["lo_px"] + rec["bb"] * rec["tick_px"] if rec["bb"] >= 0 else 0
        t["ask"] = rec["lo_px"] + rec["ba"] * rec["tick_px"] if rec["n_ask"] > 0 else 0
        t["basket"] = fl[FL_BASKET]
        scal[S_N_TRACE] = k + 1


@kernel
def run(inst, levels, orders, live, nlv, pub, pub_n, cdf, params, scal, fl, rng, md, oe, ops,
        trades, fills, stg, tcount, trace, names, defs, def_len, last_update,
        eq_inst, eq_levels, eq_orders, eq_live, eq_cdf, eq_params, eq_mpids, eq_scal, eq_rng,
        eq_counts, eq_events, eq_buf, basket, weights,
        buf, bounds, kinds, counts, pw, max_payload, max_msgs, loop_bytes, loop_packets,
        clients, cscal, outbox):
    """Write the day from where it stands into ``buf`` (packets: ``bounds``, ``kinds``,
    ``counts``, state ``pw``) until about ``max_msgs`` incremental messages are written, the
    buffer (or the client ``outbox``) is nearly full, or the day is done (``scal[S_PHASE] ==
    3``). Client orders resting in the books (``clients``) are filled like any other; their
    Order Executed messages go to ``outbox``, stamped with the session clock. Stops only between
    steps, and every decision depends on the state alone, so where a call stops never
    changes the stream. ``scal[S_CLOCK_LIMIT]`` (0: none): the call also stops before a step
    whose clock would pass it (``scal[S_HELD]`` = 1; the step is drawn again, identically,
    next call), so the day can be kept in step with an equity day run by someone else.
    Returns the incremental messages written."""
    n = inst.shape[0]
    written = 0
    scal[S_HELD] = 0
    step_bytes = MAX_STEP_MSGS * max_payload
    if scal[S_PHASE] == 0:  # the start of day: definitions, PreOpen, then the open
        now = DAY_EPOCH_NS + T_PRE_OPEN
        for i in range(n):
            emit_raw(buf, pw, bounds, kinds, counts, scal, defs[i], def_len[i], INCREMENTAL,
                     now, max_payload)
            tcount[54] += 1
        for i in range(n):
            emit_status(buf, pw, bounds, kinds, counts, scal, inst[i], names[i], now,
                        _PRE_OPEN, 0, max_payload, tcount)
            inst[i]["last_time"] = now
        now = DAY_EPOCH_NS + T_OPEN
        for i in range(n):
            emit_status(buf, pw, bounds, kinds, counts, scal, inst[i], names[i], now, _READY,
                        0, max_payload, tcount)
            inst[i]["last_time"] = now
        written += 3 * n
        scal[S_PHASE] = 1
    t_cancel = params[FF_CANCEL]
    t_reduce = t_cancel + params[FF_REDUCE]
    t_move = t_reduce + params[FF_MOVE]
    other = params[FF_CANCEL] + params[FF_REDUCE] + params[FF_MOVE] + params[FF_AGGRESS]
    gap = np.float64(scal[S_GAP_MEAN])
    while scal[S_PHASE] == 1:
        if scal[S_LOOP_EVERY] > 0 and scal[S_SINCE_LOOP] >= scal[S_LOOP_EVERY]:
            if (pw[PW_POS] + loop_bytes > buf.shape[0]
                    or pw[PW_NPK] + loop_packets + 2 > kinds.shape[0]):
                return written
            snapshot_loop(buf, pw, bounds, kinds, counts, scal, inst, levels, orders, pub,
                          pub_n, defs, def_len, last_update, DAY_EPOCH_NS + scal[S_CLOCK],
                          max_payload)
        rem = scal[S_REMAINING]
        if rem <= 0:
            scal[S_PHASE] = 2
            break
        if written >= max_msgs:
            return written
        if (pw[PW_POS] + step_bytes > buf.shape[0]
                or pw[PW_NPK] + MAX_STEP_MSGS + 2 > kinds.shape[0]
                or cscal[C_OUT] + STEP_OUT_ROOM > outbox.shape[0]):
            return written
        # the clock, the basket and the fair values
        before = scal[S_CLOCK]
        drawn_from = rng[0]
        clock = min(before + 1 + np.int64(exponential(rng, gap)), scal[S_CLOCK_END] - 1)
        if scal[S_CLOCK_LIMIT] > 0 and clock > scal[S_CLOCK_LIMIT]:
            rng[0] = drawn_from  # the same step is drawn once the limit allows it
            scal[S_HELD] = 1
            return written
        scal[S_CLOCK] = clock
        advance_fair(inst, scal, fl, rng, np.float64(scal[S_CLOCK] - before), eq_inst,
                     eq_levels, eq_orders, eq_live, eq_cdf, eq_params, eq_mpids, eq_scal,
                     eq_rng, eq_counts, eq_events, eq_buf, basket, weights)
        if scal[S_CLOCK] >= scal[S_NEXT_SAMPLE]:
            _sample(inst, scal, fl, trace)
            while scal[S_NEXT_SAMPLE] <= scal[S_CLOCK]:
                scal[S_NEXT_SAMPLE] += scal[S_SAMPLE_GAP]
        # the instrument and the action
        i = np.searchsorted(cdf, uniform(rng), side="right")
        if i >= n:
            i = n - 1
        rec = inst[i]
        tail = rem < MAX_STEP_MSGS  # near the end: one-message steps only
        fill = rec["n_live"] / params[FF_TARGET]
        p_add = min(max(params[FF_ADD] * (1.0 + params[FF_PULL] * (1.0 - fill)), 0.15), 0.85)
        u = uniform(rng)
        stage_reset(stg)
        cscal[C_NOW] = scal[S_CLOCK]
        if rec["n_live"] == 0 or (u < p_add and rec["n_live"] < rec["cap"]):
            act_add(inst, levels, orders, live, nlv, pub, pub_n, md, oe, ops, trades, fills,
                    stg, params, scal, rng, i, not tail, clients, cscal, outbox)
        else:
            v = (u - p_add) / (1.0 - p_add) * other  # where u falls among the other actions
            if u < p_add:  # an add at capacity cancels instead
                scal[S_FULL] += 1
                v = 0.0
            if tail or v < t_cancel:
                act_cancel(inst, levels, orders, live, nlv, pub, pub_n, md, oe, ops, stg, rng,
                           i)
            elif v < t_reduce:
                act_reduce(inst, levels, orders, live, nlv, pub, pub_n, md, oe, ops, stg, rng,
                           i)
            elif v < t_move:
                act_move(inst, levels, orders, live, nlv, pub, pub_n, md, oe, ops, stg, params,
                         scal, rng, i)
            else:
                act_aggress(inst, levels, orders, live, nlv, pub, pub_n, md, oe, ops, trades,
                            fills, stg, params, scal, rng, i, clients, cscal, outbox)
        k = emit_step(buf, pw, bounds, kinds, counts, scal, rec, md, oe, ops, trades, fills,
                      stg, DAY_EPOCH_NS + scal[S_CLOCK], max_payload, tcount)
        scal[S_REMAINING] = rem - k
        scal[S_STEPS] += 1
        written += k
    if scal[S_PHASE] == 2:  # the end of day: Close, and the last packet goes out
        if pw[PW_POS] + n * 128 + 64 > buf.shape[0] or pw[PW_NPK] + n + 2 > kinds.shape[0]:
            return written
        now = DAY_EPOCH_NS + T_CLOSE
        for i in range(n):
            emit_status(buf, pw, bounds, kinds, counts, scal, inst[i], names[i], now, _CLOSE,
                        0, max_payload, tcount)
            inst[i]["last_time"] = now
        close_packet(pw, bounds, kinds, counts, scal)
        written += n
        scal[S_PHASE] = 3
    return written
