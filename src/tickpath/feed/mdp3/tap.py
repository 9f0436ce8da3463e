"""The MDP 3.0 step's hand-off to the strategy: the records of :mod:`tickpath.strategy.records`,
the same ones the ITCH feed publishes, from the MDP3 books.

While a packet applies, the step notes what the strategy must hear of (without a ring,
nothing: whether there is one is a constant of the state's type, :func:`tapped`, so that
feed's step compiles without any of this):

* every MDIncrementalRefreshTradeSummary entry it sequenced (48, and the legacy 42): its
  instrument, price, quantity and aggressor side (:func:`note_trade`);
* every instrument whose outright top or state may have moved (:func:`touch`): a book entry
  applied, a book emptied (channel reset), a definition, gone stale, recovered from the
  snapshot loop. Each once per packet, in the order of first touch.

After the packet (:func:`publish_packet`) come, into the ring: a TRADE record per noted trade,
then a BOOK record per touched instrument whose outright top (best bid and offer, price and
quantity: level 1 of the depth book) differs from the last one published for it, then a
STATUS record per touched instrument whose state differs from the last one told (exact: the
instrument is live; not exact: stale, waiting for the snapshot loop, or never seen live).
A book or status record a full ring refused is not lost: the next packet, or the next idle
turn, compares every instrument (:func:`resync`), so the strategy ends up with the latest
top and state of each. A trade the ring refused is dropped (counted, as ITCH's).

Units, so that a strategy and the futures venue's OUCH gateway agree:

* ``locate`` = ``tapc[TAP_LOCATE_BASE]`` + the instrument's row (order of first sight);
* ``stock`` = the first 8 bytes of the definition's Symbol, NULs as spaces, big-endian: the
  contract's OUCH symbol as :func:`tickpath.codec.ouch50.layout.symbol_code` packs it
  (``TPZ6    ``); 0 before the definition;
* prices in OUCH's Price(4): the conventional price (display price x DisplayFactor) in 1e-4
  units, ``mantissa x 10^exponent x DisplayFactor x 10^4``, computed exactly in integers per
  instrument (``floor(mantissa / DIV) x MUL``, DIV and MUL the reduced fraction). A mantissa
  DIV does not divide is published floored and counted (``TAP_INEXACT``); for the venue's
  contracts (DisplayFactor 0.01, PRICE9) DIV is 1e7 and every tick is whole. An instrument
  with no definition yet has no DisplayFactor: its book and trade records are not published
  (counted, ``TAP_UNDEFINED``) until one comes;
* quantities in contracts; the aggressor ord('B') / ord('S'), 0 when the entry names none.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ...strategy import records as R
from ...telemetry.nclock import realtime_ns
from ..tap import publish_record
from .layout import (
    I_DISPLAY_FACTOR,
    I_STATE,
    INSTRUMENTS,
    LAST_SEQ,
    MESSAGES,
    PRICE_EXPONENT,
    S_LIVE,
    TAP_INEXACT,
    TAP_LOCATE_BASE,
    TAP_MESSAGES0,
    TAP_RESYNC,
    TAP_SERIAL,
    TAP_T_PARSED,
    TAP_TOUCHED_N,
    TAP_TRADES_LOST,
    TAP_TRADES_N,
    TAP_UNDEFINED,
    TI_ASK,
    TI_ASK_QTY,
    TI_BID,
    TI_BID_QTY,
    TI_DIV,
    TI_EXP,
    TI_FACTOR,
    TI_MARK,
    TI_MUL,
    TI_TOLD,
    TR_EXP,
    TR_PX,
    TR_QTY,
    TR_ROW,
    TR_SIDE,
)

_BUY, _SELL = 66, 83  # ord('B'), ord('S')


@njit(cache=True, nogil=True, _nrt=False, inline="always")
def tapped(state):
    """Whether the feed hands records on: the length of ``state.tap_on``, a tuple whose
    length is part of the state's type (``(1,)`` with a ring, ``()`` without), so the
    answer is a constant of the compiled code and a feed without a ring compiles without
    the hand-off at all."""
    return len(state.tap_on) != 0


@njit(cache=True, nogil=True, _nrt=False)
def start_noting(state):
    """A packet begins: nothing noted yet."""
    tapc = state.tapc
    tapc[TAP_SERIAL] += 1
    tapc[TAP_TRADES_N] = 0
    tapc[TAP_TOUCHED_N] = 0
    tapc[TAP_MESSAGES0] = state.chan[MESSAGES]
    tapc[TAP_T_PARSED] = 0


@njit(cache=True, nogil=True, _nrt=False, inline="always")
def mark_parsed(state):
    """The packet is sequenced (its header read, arbitrated, the gap check done): the
    ``parsed`` stamp."""
    if tapped(state):
        state.tapc[TAP_T_PARSED] = realtime_ns()


@njit(cache=True, nogil=True, _nrt=False, inline="always")
def touch(state, ii):
    """Instrument row ``ii``'s top or state may have moved in this packet: noted once."""
    if not tapped(state):
        return
    tapc = state.tapc
    serial = tapc[TAP_SERIAL]
    if state.tinst[ii, TI_MARK] != serial:
        state.tinst[ii, TI_MARK] = serial
        n = tapc[TAP_TOUCHED_N]
        state.touched[n] = ii  # one entry per row at most: never full
        tapc[TAP_TOUCHED_N] = n + 1


@njit(cache=True, nogil=True, _nrt=False, inline="always")
def note_trade(state, ii, px, exp, qty, aggressor):
    """A trade summary entry of row ``ii`` was sequenced: price mantissa ``px`` (exponent
    ``exp``), quantity, AggressorSide (1 buy, 2 sell, else none)."""
    if not tapped(state):
        return
    tapc = state.tapc
    r = tapc[TAP_TRADES_N]
    t = state.trades
    if r >= t.shape[0]:
        tapc[TAP_TRADES_LOST] += 1
        return
    t[r, TR_ROW] = ii
    t[r, TR_PX] = px
    t[r, TR_EXP] = exp
    t[r, TR_QTY] = qty
    t[r, TR_SIDE] = _BUY if aggressor == 1 else (_SELL if aggressor == 2 else 0)
    tapc[TAP_TRADES_N] = r + 1


@njit(cache=True, nogil=True, _nrt=False)
def conversion(state, ii, exp):
    """``(MUL, DIV)`` of row ``ii`` for mantissas of exponent ``exp``: OUCH price =
    floor(mantissa / DIV) x MUL, the reduced fraction of DisplayFactor x 10^(exp + 4)
    (DisplayFactor a Decimal9 mantissa). ``(0, 0)`` without a DisplayFactor. Kept per row,
    recomputed when the factor or the exponent moves."""
    f = state.inst[ii, I_DISPLAY_FACTOR]
    t = state.tinst
    if t[ii, TI_FACTOR] != f or t[ii, TI_EXP] != exp:
        mul = np.int64(0)
        div = np.int64(0)
        if f > 0 and -13 <= exp <= 5:  # 10^(5 - exp) fits an int64
            den = np.int64(1)
            for _ in range(5 - exp):
                den *= 10
            a, b = f, den
            while b != 0:
                a, b = b, a % b
            mul = f // a
            div = den // a
        t[ii, TI_FACTOR] = f
        t[ii, TI_EXP] = exp
        t[ii, TI_MUL] = mul
        t[ii, TI_DIV] = div
    return t[ii, TI_MUL], t[ii, TI_DIV]


@njit(cache=True, nogil=True, _nrt=False, inline="always")
def to_ouch(m, mul, div, tapc):
    """Mantissa ``m`` in OUCH units (floored, and counted, when not whole)."""
    q = m // div
    if q * div != m:
        tapc[TAP_INEXACT] += 1
    return q * mul


@njit(cache=True, nogil=True, _nrt=False)
def stock_of(symbols, ii):
    """The first 8 bytes of row ``ii``'s Symbol as a big-endian int64, NULs (and what follows
    the first) as spaces: the OUCH symbol. 0 before the definition."""
    if symbols[ii, 0] == 0:
        return np.int64(0)
    v = np.int64(0)
    ended = False
    for c in range(8):
        b = np.int64(symbols[ii, c])
        if b == 0:
            ended = True
        v = (v << 8) | (32 if ended else b)
    return v


@njit(cache=True, nogil=True, _nrt=False)
def publish_top(state, ii, seq, nev, sent, received, parsed, decoded, booked):
    """A BOOK record for row ``ii`` when its outright top differs from the last published
    (a refused one sets TAP_RESYNC)."""
    tapc, t = state.tapc, state.tinst
    bq = state.qty[ii, 0, 0]
    aq = state.qty[ii, 1, 0]
    bp = state.px[ii, 0, 0] if bq > 0 else np.int64(0)
    ap = state.px[ii, 1, 0] if aq > 0 else np.int64(0)
    if bp == t[ii, TI_BID] and bq == t[ii, TI_BID_QTY] and ap == t[ii, TI_ASK] and \
            aq == t[ii, TI_ASK_QTY]:
        return
    ob = np.int64(0)
    oa = np.int64(0)
    if bq > 0 or aq > 0:
        mul, div = conversion(state, ii, state.chan[PRICE_EXPONENT])
        if div == 0:
            tapc[TAP_UNDEFINED] += 1
            return
        if bq > 0:
            ob = to_ouch(bp, mul, div, tapc)
        if aq > 0:
            oa = to_ouch(ap, mul, div, tapc)
    if publish_record(state.tap_hdr, state.tap_words, state.tap_wait, R.BOOK,
                      tapc[TAP_LOCATE_BASE] + ii, stock_of(state.symbols, ii), ob, bq, oa, aq,
                      nev, seq, sent, received, parsed, decoded, booked, tapc):
        t[ii, TI_BID] = bp
        t[ii, TI_BID_QTY] = bq
        t[ii, TI_ASK] = ap
        t[ii, TI_ASK_QTY] = aq
    else:
        tapc[TAP_RESYNC] = 1


@njit(cache=True, nogil=True, _nrt=False)
def publish_status(state, ii, seq, nev, sent, received, parsed, decoded, booked):
    """A STATUS record for row ``ii`` when its state (live: exact) differs from the last
    told (a refused one sets TAP_RESYNC)."""
    exact = state.inst[ii, I_STATE] == S_LIVE
    want = 0 if exact else 1
    if state.tinst[ii, TI_TOLD] == want:
        return
    tapc = state.tapc
    if publish_record(state.tap_hdr, state.tap_words, state.tap_wait, R.STATUS,
                      tapc[TAP_LOCATE_BASE] + ii, stock_of(state.symbols, ii),
                      np.int64(1 if exact else 0), np.int64(0), np.int64(0), np.int64(0), nev,
                      seq, sent, received, parsed, decoded, booked, tapc):
        state.tinst[ii, TI_TOLD] = want
    else:
        tapc[TAP_RESYNC] = 1


@njit(cache=True, nogil=True, _nrt=False)
def publish_all(state, seq, nev, sent, received, parsed, decoded, booked):
    """BOOK and STATUS records for every instrument whose top or state differs from what
    the strategy last heard (after records were dropped)."""
    n = state.chan[INSTRUMENTS]
    for ii in range(n):
        publish_top(state, ii, seq, nev, sent, received, parsed, decoded, booked)
    for ii in range(n):
        publish_status(state, ii, seq, nev, sent, received, parsed, decoded, booked)


@njit(cache=True, nogil=True, _nrt=False)
def publish_packet(state, sent, received, parsed, decoded, booked):
    """What the packet noted: a TRADE record per trade, then BOOK records, then STATUS
    records (of the touched instruments; of every one after a drop). ``sequence`` is the
    last incremental MsgSeqNum taken (a snapshot-loop packet's records: the books are as of
    it, the buffered packets replayed); ``events`` the packet's messages."""
    tapc = state.tapc
    seq = state.chan[LAST_SEQ]
    nev = state.chan[MESSAGES] - tapc[TAP_MESSAGES0]
    trades = state.trades
    for r in range(tapc[TAP_TRADES_N]):
        ii = trades[r, TR_ROW]
        mul, div = conversion(state, ii, trades[r, TR_EXP])
        if div == 0:
            tapc[TAP_UNDEFINED] += 1
            continue
        publish_record(state.tap_hdr, state.tap_words, state.tap_wait, R.TRADE,
                       tapc[TAP_LOCATE_BASE] + ii, stock_of(state.symbols, ii),
                       to_ouch(trades[r, TR_PX], mul, div, tapc), trades[r, TR_QTY],
                       trades[r, TR_SIDE], np.int64(0), nev, seq, sent, received, parsed,
                       decoded, booked, tapc)
    tapc[TAP_TRADES_N] = 0
    if tapc[TAP_RESYNC] != 0:
        tapc[TAP_RESYNC] = 0
        publish_all(state, seq, nev, sent, received, parsed, decoded, booked)
    else:
        touched = state.touched
        n = tapc[TAP_TOUCHED_N]
        for k in range(n):
            publish_top(state, touched[k], seq, nev, sent, received, parsed, decoded, booked)
        for k in range(n):
            publish_status(state, touched[k], seq, nev, sent, received, parsed, decoded,
                           booked)
    tapc[TAP_TOUCHED_N] = 0


@njit(cache=True, nogil=True, _nrt=False)
def pending(state):
    """Whether records the ring refused are still owed to the strategy."""
    return tapped(state) and state.tapc[TAP_RESYNC] != 0


@njit(cache=True, nogil=True, _nrt=False)
def resync(state, now_ns):
    """Between packets, after a drop: every instrument's top and state the strategy has not
    heard yet, stamped ``now_ns`` (no packet behind them)."""
    if not pending(state):
        return
    state.tapc[TAP_RESYNC] = 0
    t = now_ns if now_ns > 0 else realtime_ns()
    publish_all(state, state.chan[LAST_SEQ], np.int64(0), t, t, t, t, t)
