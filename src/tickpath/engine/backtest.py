"""The backtest loop: datagrams -> the ITCH feed handler -> its records -> the strategy ->
pre-trade risk -> a simulated venue (:mod:`tickpath.strategy.simfill`), all in one compiled
loop in one process.

The feed handler is the live one (:func:`tickpath.wire.handler.on_datagram` over an
:class:`~tickpath.feed.itch.ItchFeed` state with a ring), so the strategy sees exactly the
records a pipeline's strategy stage would; the records are taken off the ring after each
datagram. The strategy's clock is the venue's: a record's ``venue_sent`` stamp (the ITCH
time as epoch ns), so its timer and staleness run in market time. The context is built over
the feed's own books, so ``depth`` and the queue model see every level.
"""

from __future__ import annotations

from numba import njit

from ..ring import spsc
from ..risk.check import check_order
from ..strategy import records as R
from ..strategy.dispatch import deliver_updates, handle_record, tick_timer
from ..strategy.layout import REFUSED_RISK as _REFUSED
from ..strategy.layout import TOP_ASK, TOP_BID, Action, CtxWord
from ..strategy.simfill import fill_on_book, fill_on_trade, venue_intents
from ..wire import handler as seam

MAX_ROUNDS = 4
_PLACE, _REPLACE = int(Action.PLACE), int(Action.REPLACE)
_INTENTS = int(CtxWord.INTENTS)
_UPDATES = int(CtxWord.UPDATES)
# counts (int64 array): simfill's six, then these
RECORDS, REFUSED_RISK = 6, 7
N_COUNTS = 8


@njit(cache=True, nogil=True, _nrt=False)
def check_intents(ctx, now, limits, position, rate, control, risk_counts):
    """Pre-trade check of the outbox's new orders and replaces against the top of their
    book (:func:`tickpath.risk.check.check_order`); a refused intent's ``result`` is
    REFUSED_RISK. Returns the intents refused."""
    refused = 0
    for k in range(ctx.words[_INTENTS]):
        r = ctx.intents[k]
        a = r["action"]
        if a == _PLACE or a == _REPLACE:
            i = r["instrument"]
            why = check_order(r["side"], r["qty"], r["price"], i, ctx.top[i, TOP_BID],
                              ctx.top[i, TOP_ASK], now, limits, position, rate, control,
                              risk_counts)
            if why != 0:
                r["result"] = _REFUSED
                refused += 1
    return refused


@njit(cache=True, nogil=True, _nrt=False)
def _act(strategy, ctx, now, limits, position, rate, control, risk_counts, counts):
    """Deliver updates, drain intents through risk (unless ``limits`` is empty: no pre-trade
    check) to the venue, until quiet (bounded)."""
    for _ in range(MAX_ROUNDS):
        if ctx.words[_UPDATES] > 0:
            deliver_updates(strategy, ctx)
        if ctx.words[_INTENTS] == 0:
            break
        if limits.shape[0] > 0:
            counts[REFUSED_RISK] += check_intents(ctx, now, limits, position, rate, control,
                                                  risk_counts)
        venue_intents(ctx, now, counts)


@njit(cache=True, nogil=True, _nrt=False)
def backtest_loop(feed_state, packets, bounds, stamps, start, hdr, words, strategy, ctx,
                  limits, position, rate, control, risk_counts, counts):
    """Datagrams ``packets[bounds[k]:bounds[k+1]]`` (received at ``stamps[k]``) from ``k =
    start`` on. Returns ``(k, status)``: the datagram after the last handled and the
    handler's status when it asked its owner to settle (SETTLE) or the session ended;
    ``(len, GO_ON)`` at the end."""
    n = bounds.shape[0] - 1
    for k in range(start, n):
        st = seam.on_datagram(feed_state, packets, bounds[k], bounds[k + 1] - bounds[k],
                              stamps[k])
        drain_records(hdr, words, strategy, ctx, limits, position, rate, control, risk_counts,
                      counts)
        if st != seam.GO_ON:
            return k + 1, st
    return n, seam.GO_ON


@njit(cache=True, nogil=True, _nrt=False)
def drain_records(hdr, words, strategy, ctx, limits, position, rate, control, risk_counts,
                  counts):
    """Every record in the ring: fills from the tape, the strategy's callbacks, its intents
    to the venue."""
    while True:
        m = spsc.poll(hdr, words, 256)
        if m == 0:
            return
        seq = spsc.consumer_position(hdr)
        for j in range(m):
            b = spsc.slot_base(hdr, seq + j) + 1
            t = words[b + R.STAMP0]  # the venue's time
            i = words[b + R.LOCATE]
            counts[RECORDS] += 1
            if words[b + R.KIND] == R.TRADE:
                # before the queue model moves ``ahead`` for the same print
                fill_on_trade(ctx, i, words[b + R.TRADE_PRICE], words[b + R.TRADE_QTY],
                              words[b + R.TRADE_SIDE], t, counts)
                handle_record(strategy, ctx, words, b, t)
            else:
                handle_record(strategy, ctx, words, b, t)
                fill_on_book(ctx, i, t, counts)
            _act(strategy, ctx, t, limits, position, rate, control, risk_counts, counts)
            if tick_timer(strategy, ctx, t):
                _act(strategy, ctx, t, limits, position, rate, control, risk_counts, counts)
        spsc.release(hdr, m)
