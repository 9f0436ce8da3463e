"""OUCH 5.0 client orders in the futures venue's books, answered over OUCH and published on
MDP 3.0: compiled kernels over the books of :mod:`.futures_book`, and
:class:`FuturesOrders`, the order-entry backend :class:`~.order_entry.OrderEntryServer`
drives (the same interface as the equities' :class:`~.client_orders.ClientOrders`).

The instrument's OUCH symbol is its Globex symbol (``FutureSpec.symbol``, e.g. ``TPZ6``)
padded with spaces to 8 bytes; symbols longer than 8 characters cannot be traded here. An
OUCH price is the conventional price (display price x DisplayFactor: index points, dollars
a barrel) with OUCH's four implied decimals: TPZ6 at 4500.25 points is 45002500, and the
MDP3 PRICE9 mantissa is that times ``inst["ouch_px"]`` (1e5 / DisplayFactor). A price off
the instrument's tick, or off its ladder, is rejected (Appendix D 'Invalid Price'); a price
of $200,000 or more is a market order (accepted IOC at the ladder's far end), as on the
equities side. Quantities are contracts.

Each client action is one MDP3 event written into the venue's packet stream (``writer``)
with ``mdp3_encode.emit_step``, the generated flow's own encoder: MDIncrementalRefreshBook46
for the levels it changes (with the order entries, the order book being order-by-order),
MDIncrementalRefreshOrderBook47 below the top 10, and MDIncrementalRefreshTradeSummary48
for its trades, RptSeq advancing per instrument as for any other event. The client order's
OrderID on MDP3 is its OUCH Order Reference Number.

Rules: Day ('0') and IOC ('3'); sides Buy ('B') and Sell ('S') (the equities' short-sale
sides are refused as 'Invalid Side'); self-trade prevention per account as on the equities
side (the incoming order stops before a resting order of its own account and its remainder
is canceled 'Q'); an aggressive order fills at most ``MAX_FILLS`` resting orders, the rest
of it is canceled ('Z'); Cancel reduces or cancels; Replace loses time priority (old OrderID
deleted, the replacement entered with a new one); Account Query answers.
Mass Cancel cancels the account's orders (of one symbol, or all), one MDP3 event each.
Modify and Disable / Enable Order Entry are not acted on (counted as unsupported).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from ..codec.ouch50.decode import OK as OUCH_OK
from ..codec.ouch50.decode import _be, check_message
from ..codec.ouch50.encode_out import (
    encode_account_query_response,
    encode_mass_cancel_response,
    encode_order_accepted,
    encode_order_replaced,
)
from ..codec.ouch50.layout import IN_APPENDAGE, IN_LENGTHS, OPTION_WIDTHS
from ..codec.soupbintcp.framing import NEED_MORE as SOUP_NEED_MORE
from ..codec.soupbintcp.framing import OK as SOUP_OK
from ..codec.soupbintcp.framing import next_packet
from ..codec.soupbintcp.layout import PAYLOAD_LENGTHS
from .client_orders import (
    _B,
    _DEAD,
    _IOC,
    _LIVE,
    _M_FIRM,
    _M_SYM,
    _M_URN,
    _O_CAP,
    _O_CLORD,
    _O_CROSS,
    _O_DISPLAY,
    _O_ISO,
    _O_PRICE,
    _O_QTY,
    _O_SIDE,
    _O_SYM,
    _O_TIF,
    _O_URN,
    _R_CLORD,
    _R_DISPLAY,
    _R_ISO,
    _R_ORIG,
    _R_PRICE,
    _R_QTY,
    _R_TIF,
    _R_URN,
    _S,
    _SOUP_DEBUG,
    _SOUP_O,
    _SOUP_R,
    _SOUP_U,
    _SPACES,
    _X_LEN,
    _X_QTY,
    _X_URN,
    BAD_MESSAGE,
    BAD_PACKET,
    INVALID_PRICE,
    INVALID_SIDE,
    IOC_CANCEL,
    LOGOUT,
    MARKET_FROM,
    OK,
    OTHER,
    ROOM,
    SYSTEM_CANCEL,
    USER_CANCEL,
    WRONG_DIRECTION,
    _canceled,
    _check_order,
    _rejected,
    drain_outbox,
    find_order,
    find_symbol,
    inbound_array,
)
from .futures import FuturesSimulator, PacketChunk
from .futures_book import (
    BUY,
    DELETE,
    G_OPS,
    G_TR,
    NEW,
    SELL,
    UPDATE,
    kernel,
    link_order,
    publish_level,
    reduce_order,
    stage_oe,
    stage_reset,
    take_off,
)
from .futures_clients import C_MD_MSGS, C_STOP, free_slot
from .futures_flow import match
from .futures_records import (
    DAY_EPOCH_NS,
    MAX_FILLS,
    MAX_STEP_MSGS,
    N_PW,
    PW_NPK,
    PW_OPEN,
    PW_POS,
    S_CLOCK,
    S_NEXT_ORDER_ID,
    S_NEXT_PRIORITY,
)
from .matching import OUT_ENTRY_MAX, out_close, out_open
from .mdp3_encode import close_packet, emit_step
from .records import (
    C_ACCEPTED,
    C_FREE,
    C_IGNORED,
    C_LIVE,
    C_NOW,
    C_ORDERS_IN,
    C_OUT,
    C_REPLACED,
    C_UNSUPPORTED,
    CSCAL_NAMES,
)

__all__ = ["FuturesOrders", "PacketWriter", "ouch_symbol"]

#: a client order's cancel as an MDP3 event, with room for a new packet's header
EVENT_BYTES = 256


def need_out(slots: int) -> int:
    """Outbox bytes one inbound message may need at most (accepted, an Executed per fill and
    per price, a cancel; a Canceled per client order for a Mass Cancel)."""
    return (max(2 * MAX_FILLS, slots) + 4) * OUT_ENTRY_MAX


def packet_room(slots: int, max_payload: int) -> int:
    """Bytes of packet stream one inbound message may need at most."""
    return MAX_STEP_MSGS * max_payload + slots * EVENT_BYTES


def ouch_symbol(symbol: str) -> bytes:
    """The 8-byte OUCH symbol of a futures contract: its Globex symbol, space-padded."""
    if len(symbol) > 8 or not symbol.isascii():
        raise ValueError(f"{symbol!r}: an OUCH symbol is at most 8 ASCII characters")
    return symbol.encode("ascii").ljust(8)


class PacketWriter:
    """The MDP3 packet stream being written: a buffer of ``size`` bytes, its packet bounds,
    kinds and message counts, and the writer state ``pw`` (``futures_records.PW_*``)."""

    def __init__(self, size: int = 1 << 20, packets: int | None = None) -> None:
        n = packets or size // 52 + 64
        self.buf = np.zeros(size, np.uint8)
        self.bounds = np.zeros(n + 1, np.int64)
        self.kinds = np.zeros(n, np.uint8)
        self.counts = np.zeros(n, np.int64)
        self.pw = np.zeros(N_PW, np.int64)
        self.pw[PW_OPEN] = -1

    def take(self, scal: np.ndarray) -> PacketChunk | None:
        """Close the open packet and hand over every packet written (a copy); the buffer
        starts again empty (zeroed). None when there is nothing."""
        close_packet(self.pw, self.bounds, self.kinds, self.counts, scal)
        n = int(self.pw[PW_NPK])
        if n == 0:
            return None
        end = int(self.bounds[n])
        chunk = PacketChunk(self.buf[:end].copy(), self.bounds[:n + 1].copy(),
                            self.kinds[:n].copy(), self.counts[:n].copy())
        # the encoders skip padding and unused fields: zero them for the next packets, so
        # no byte of an earlier packet shows through (the same bytes as a fresh buffer's)
        self.buf[:end] = 0
        self.pw[PW_POS] = 0
        self.pw[PW_NPK] = 0
        return chunk


# ------------------------------------------------------------------------------ kernels


@kernel
def _has_room(buf, kinds, pw, max_payload, slots):
    """Room in the packet stream for the largest event one message makes (a Mass Cancel:
    one small event per client order)."""
    return (pw[PW_POS] + MAX_STEP_MSGS * max_payload + slots * EVENT_BYTES <= buf.shape[0]
            and pw[PW_NPK] + MAX_STEP_MSGS + 2 + slots <= kinds.shape[0])


@kernel
def _emit(inst, md, oe, ops, trades, fills, stg, scal, tcount, cscal, i, buf, bounds, kinds,
          counts, pw, max_payload):
    """The staged client action as one MDP3 event, at the session clock."""
    if stg[G_OPS] == 0 and stg[G_TR] == 0:
        return
    cscal[C_MD_MSGS] += emit_step(buf, pw, bounds, kinds, counts, scal, inst[i], md, oe, ops,
                                  trades, fills, stg, DAY_EPOCH_NS + scal[S_CLOCK], max_payload,
                                  tcount)


@kernel
def ladder_of(rec, price, nlev, buy):
    """``(ladder index, market)`` of an OUCH price: a market order goes to the ladder's far
    end; -1 when the price is off the tick or the ladder."""
    if price >= MARKET_FROM:
        return (np.int64(nlev - 1) if buy else np.int64(0)), True
    step = rec["ouch_px"]
    if step <= 0:
        return np.int64(-1), False
    d = np.int64(price) * step - rec["lo_px"]
    if d < 0 or d % rec["tick_px"] != 0 or d // rec["tick_px"] >= nlev:
        return np.int64(-1), False
    return d // rec["tick_px"], False


@kernel
def _ouch_price(rec, j):
    return (rec["lo_px"] + j * rec["tick_px"]) // rec["ouch_px"]


@kernel
def _crossing(rec, side, j, nlev):
    if side == BUY:
        return rec["ba"] < nlev and j >= rec["ba"]
    return rec["bb"] >= 0 and j <= rec["bb"]


@kernel
def _place(inst, levels, orders, live, nlv, pub, pub_n, md, oe, ops, trades, fills, stg, scal,
           clients, cscal, outbox, account, urn, side_byte, i, j, qty, executed, oid, tif,
           display, capacity, iso, cross):
    """An accepted order: trade what is marketable, then rest the remainder (Day) or cancel
    it (IOC, self match, too many fills). Stages the book changes and trades."""
    nlev = levels.shape[1]
    side = BUY if side_byte == _B else SELL
    rec = inst[i]
    cscal[C_STOP] = 0
    left = np.int64(qty)
    if _crossing(rec, side, j, nlev):
        left = match(inst, levels, orders, live, nlv, pub, pub_n, md, oe, ops, trades, fills,
                     stg, scal, i, side, j, left, oid, clients, cscal, outbox, account, urn)
    if left == 0:
        return
    stop = cscal[C_STOP]
    if stop == 0 and _crossing(rec, side, j, nlev):
        stop = SYSTEM_CANCEL  # MAX_FILLS resting orders filled, the book still crosses
    if stop != 0:
        _canceled(outbox, cscal, account, urn, left, stop, True)
        return
    if tif == _IOC:
        _canceled(outbox, cscal, account, urn, left, IOC_CANCEL, True)
        return
    c = cscal[C_FREE]
    cscal[C_FREE] = clients[c]["next_free"]
    cscal[C_LIVE] += 1
    o = live.shape[0] + c
    prio = scal[S_NEXT_PRIORITY]
    scal[S_NEXT_PRIORITY] = prio + 1
    od = orders[o]
    od["order_id"] = oid
    od["priority"] = prio
    od["index"] = j
    od["qty"] = left
    od["side"] = side
    od["live_pos"] = -1
    link_order(inst, levels, orders, nlv, i, o)
    stage_oe(oe, stg, oid, prio, rec["lo_px"] + j * rec["tick_px"], left, NEW, side)
    publish_level(inst, levels, pub, pub_n, nlv, md, oe, ops, stg, i, side, j)
    cl = clients[c]
    cl["owner"] = account
    cl["inst"] = i
    cl["user_ref_num"] = urn
    cl["executed"] = executed + qty - left
    cl["side"] = side_byte
    cl["tif"] = tif
    cl["display"] = display
    cl["capacity"] = capacity
    cl["iso"] = iso
    cl["cross"] = cross


@kernel
def _remove(inst, levels, orders, live, nlv, pub, pub_n, md, oe, ops, stg, clients, cscal, c):
    """Client order ``c`` off the book (Delete staged), its slot freed."""
    o = live.shape[0] + c
    od = orders[o]
    i = clients[c]["inst"]
    rec = inst[i]
    j = od["index"]
    side = np.int64(od["side"])
    stage_oe(oe, stg, od["order_id"], od["priority"], rec["lo_px"] + j * rec["tick_px"],
             od["qty"], DELETE, side)
    take_off(inst, levels, orders, nlv, i, o)
    publish_level(inst, levels, pub, pub_n, nlv, md, oe, ops, stg, i, side, j)
    free_slot(clients, cscal, c)


@kernel
def enter_order(inst, levels, orders, live, nlv, pub, pub_n, md, oe, ops, trades, fills, stg,
                scal, clients, cscal, outbox, sym_codes, sym_index, acct_urn, account, buf, ms):
    """Enter Order ('O'); returns the instrument whose book it staged changes for, or -1."""
    nlev = levels.shape[1]
    urn = _be(buf, ms + _O_URN, 4)
    if np.int64(urn) <= acct_urn[account]:
        cscal[C_IGNORED] += 1  # a retransmission, as the specification assumes
        return -1
    acct_urn[account] = urn
    side = buf[ms + _O_SIDE]
    qty = _be(buf, ms + _O_QTY, 4)
    symbol = _be(buf, ms + _O_SYM, 8)
    price = _be(buf, ms + _O_PRICE, 8)
    tif = buf[ms + _O_TIF]
    display = buf[ms + _O_DISPLAY]
    i = find_symbol(sym_codes, sym_index, symbol)
    reason = _check_order(i >= 0, side, qty, tif, display, buf[ms + _O_ISO], buf[ms + _O_CROSS])
    if reason == 0 and side != _B and side != _S:
        reason = INVALID_SIDE  # no short-sale sides on a future
    j = np.int64(-1)
    market = False
    if reason == 0:
        j, market = ladder_of(inst[i], price, nlev, side == _B)
        if j < 0:
            reason = INVALID_PRICE
        elif cscal[C_FREE] < 0:
            reason = OTHER  # every client slot is taken
    if reason != 0:
        _rejected(outbox, cscal, account, urn, reason, buf, ms + _O_CLORD)
        return -1
    rec = inst[i]
    if market:
        tif = _IOC
    oid = scal[S_NEXT_ORDER_ID]
    scal[S_NEXT_ORDER_ID] = oid + 1
    at = out_open(outbox, cscal, account)
    end = encode_order_accepted(outbox, at, cscal[C_NOW], urn, side, qty, symbol,
                                _ouch_price(rec, j), tif, display, oid, buf[ms + _O_CAP],
                                buf[ms + _O_ISO], buf[ms + _O_CROSS], _LIVE, buf, ms + _O_CLORD)
    out_close(outbox, cscal, at, end)
    cscal[C_ACCEPTED] += 1
    _place(inst, levels, orders, live, nlv, pub, pub_n, md, oe, ops, trades, fills, stg, scal,
           clients, cscal, outbox, account, urn, side, i, j, qty, 0, oid, tif, display,
           buf[ms + _O_CAP], buf[ms + _O_ISO], buf[ms + _O_CROSS])
    return i


@kernel
def cancel_order(inst, levels, orders, live, nlv, pub, pub_n, md, oe, ops, stg, clients, cscal,
                 outbox, account, buf, ms, me):
    """Cancel Order ('X'): reduce the order to the intended size (0: cancel it); returns the
    instrument or -1."""
    urn = _be(buf, ms + _X_URN, 4)
    qty = np.int64(_be(buf, ms + _X_QTY, 4))
    c = find_order(clients, account, urn)
    if c < 0:
        cscal[C_IGNORED] += 1  # superfluous: silently ignored
        return -1
    o = live.shape[0] + c
    i = clients[c]["inst"]
    od = orders[o]
    leaves = np.int64(od["qty"])
    if qty >= leaves:
        cscal[C_IGNORED] += 1
        return -1
    if qty == 0:
        _remove(inst, levels, orders, live, nlv, pub, pub_n, md, oe, ops, stg, clients, cscal,
                c)
    else:
        rec = inst[i]
        j = od["index"]
        side = np.int64(od["side"])
        reduce_order(levels, orders, i, o, leaves - qty)
        stage_oe(oe, stg, od["order_id"], od["priority"], rec["lo_px"] + j * rec["tick_px"],
                 od["qty"], UPDATE, side)
        publish_level(inst, levels, pub, pub_n, nlv, md, oe, ops, stg, i, side, j)
    # the response carries an Appendage Length only if the request did
    _canceled(outbox, cscal, account, urn, leaves - qty, USER_CANCEL, me - ms >= _X_LEN)
    return i


@kernel
def replace_order(inst, levels, orders, live, nlv, pub, pub_n, md, oe, ops, trades, fills, stg,
                  scal, clients, cscal, outbox, acct_urn, account, buf, ms):
    """Replace Order ('U'): a new UserRefNum, OrderID, price and size; the replacement loses
    time priority. Quantity counts the chain's executions too. Returns the instrument or
    -1."""
    nlev = levels.shape[1]
    orig = _be(buf, ms + _R_ORIG, 4)
    urn = _be(buf, ms + _R_URN, 4)
    c = find_order(clients, account, orig)
    if c < 0 or np.int64(urn) <= acct_urn[account]:
        cscal[C_IGNORED] += 1  # dead order or a used UserRefNum: silently ignored
        return -1
    o = live.shape[0] + c
    cl = clients[c]
    i = cl["inst"]
    rec = inst[i]
    side = cl["side"]
    qty = np.int64(_be(buf, ms + _R_QTY, 4))
    price = _be(buf, ms + _R_PRICE, 8)
    tif = buf[ms + _R_TIF]
    display = buf[ms + _R_DISPLAY]
    iso = buf[ms + _R_ISO]
    reason = _check_order(True, side, qty, tif, display, iso, cl["cross"])
    j, market = ladder_of(rec, price, nlev, side == _B)
    leaves = np.int64(orders[o]["qty"])
    if reason != 0 or j < 0:
        # invalid details: the existing order is canceled; the new UserRefNum is not used
        _remove(inst, levels, orders, live, nlv, pub, pub_n, md, oe, ops, stg, clients, cscal,
                c)
        _canceled(outbox, cscal, account, orig, leaves, SYSTEM_CANCEL, True)
        return i
    acct_urn[account] = urn
    if market:
        tif = _IOC
    executed = cl["executed"]
    capacity = cl["capacity"]
    cross = cl["cross"]
    new_open = qty - executed
    oid = scal[S_NEXT_ORDER_ID]
    scal[S_NEXT_ORDER_ID] = oid + 1
    # the old order leaves its queue (and its slot) before the replacement is placed
    _remove(inst, levels, orders, live, nlv, pub, pub_n, md, oe, ops, stg, clients, cscal, c)
    at = out_open(outbox, cscal, account)
    end = encode_order_replaced(outbox, at, cscal[C_NOW], orig, urn, side, max(new_open, 0),
                                sym_codes_of(rec), _ouch_price(rec, j), tif, display, oid,
                                capacity, iso, cross, _LIVE if new_open > 0 else _DEAD, buf,
                                ms + _R_CLORD)
    out_close(outbox, cscal, at, end)
    cscal[C_REPLACED] += 1
    if new_open > 0:
        _place(inst, levels, orders, live, nlv, pub, pub_n, md, oe, ops, trades, fills, stg,
               scal, clients, cscal, outbox, account, urn, side, i, j, new_open, executed, oid,
               tif, display, capacity, iso, cross)
    return i


@kernel
def sym_codes_of(rec):
    """The instrument's OUCH symbol as a big-endian u64 (kept in ``inst["ouch_sym"]``)."""
    return np.uint64(rec["ouch_sym"])


@kernel
def mass_cancel(inst, levels, orders, live, nlv, pub, pub_n, md, oe, ops, trades, fills, stg,
                scal, tcount, clients, cscal, outbox, sym_codes, sym_index, acct_urn, account,
                buf, ms, pbuf, bounds, kinds, counts, pw, max_payload):
    """Mass Cancel ('C'): every live order of the account, or of one symbol (a blank symbol:
    all), canceled, each its own MDP3 event; then the Mass Cancel Response."""
    urn = _be(buf, ms + _M_URN, 4)
    if np.int64(urn) <= acct_urn[account]:
        cscal[C_IGNORED] += 1
        return
    acct_urn[account] = urn
    symbol = _be(buf, ms + _M_SYM, 8)
    every = symbol == _SPACES
    only = find_symbol(sym_codes, sym_index, symbol)
    for c in range(clients.shape[0]):
        cl = clients[c]
        if cl["owner"] != account or not (every or cl["inst"] == only):
            continue
        i = cl["inst"]
        leaves = orders[live.shape[0] + c]["qty"]
        mine = cl["user_ref_num"]
        stage_reset(stg)
        _remove(inst, levels, orders, live, nlv, pub, pub_n, md, oe, ops, stg, clients, cscal,
                c)
        _canceled(outbox, cscal, account, mine, leaves, USER_CANCEL, True)
        _emit(inst, md, oe, ops, trades, fills, stg, scal, tcount, cscal, i, pbuf, bounds,
              kinds, counts, pw, max_payload)
    at = out_open(outbox, cscal, account)
    end = encode_mass_cancel_response(outbox, at, cscal[C_NOW], urn, _be(buf, ms + _M_FIRM, 4),
                                      symbol)
    out_close(outbox, cscal, at, end)


@kernel
def apply_stream(inst, levels, orders, live, nlv, pub, pub_n, md, oe, ops, trades, fills, stg,
                 scal, tcount, clients, cscal, outbox, sym_codes, sym_index, acct_urn, account,
                 buf, start, end, pbuf, bounds, kinds, counts, pw, max_payload):
    """Apply the complete SoupBinTCP packets of ``buf[start:end]`` from ``account``: each OUCH
    message's answers go to ``outbox`` and its book changes and trades, as one MDP3 event,
    to the packet stream (``pbuf``, ``bounds``, ``kinds``, ``counts``, ``pw``).

    Returns ``(status, offset, detail)`` as :func:`.client_orders.apply_stream`: ROOM when
    the outbox or the packet buffer needs draining first."""
    need = (max(2 * MAX_FILLS, clients.shape[0]) + 4) * OUT_ENTRY_MAX  # need_out()
    p = start
    while p < end:
        framed, t, length = next_packet(buf, p, end, PAYLOAD_LENGTHS)
        if framed == SOUP_NEED_MORE:
            return OK, p, 0
        if framed != SOUP_OK:
            return BAD_PACKET, p, framed
        nxt = p + 2 + length
        if t == _SOUP_U:
            if cscal[C_OUT] + need > outbox.shape[0] \
                    or not _has_room(pbuf, kinds, pw, max_payload, clients.shape[0]):
                return ROOM, p, 0
            ms = p + 3
            status, off, _at, _len, _idx = check_message(buf, ms, nxt, IN_LENGTHS, IN_APPENDAGE,
                                                         OPTION_WIDTHS)
            if status != OUCH_OK:
                return BAD_MESSAGE, off, status
            cscal[C_ORDERS_IN] += 1
            m = buf[ms]
            stage_reset(stg)
            i = -1
            if m == 79:  # O
                i = enter_order(inst, levels, orders, live, nlv, pub, pub_n, md, oe, ops, trades,
                                fills, stg, scal, clients, cscal, outbox, sym_codes, sym_index,
                                acct_urn, account, buf, ms)
            elif m == 88:  # X
                i = cancel_order(inst, levels, orders, live, nlv, pub, pub_n, md, oe, ops, stg,
                                 clients, cscal, outbox, account, buf, ms, nxt)
            elif m == 85:  # U
                i = replace_order(inst, levels, orders, live, nlv, pub, pub_n, md, oe, ops,
                                  trades, fills, stg, scal, clients, cscal, outbox, acct_urn,
                                  account, buf, ms)
            elif m == 67:  # C
                mass_cancel(inst, levels, orders, live, nlv, pub, pub_n, md, oe, ops, trades,
                            fills, stg, scal, tcount, clients, cscal, outbox, sym_codes,
                            sym_index, acct_urn, account, buf, ms, pbuf, bounds, kinds, counts,
                            pw, max_payload)
            elif m == 81:  # Q
                at = out_open(outbox, cscal, account)
                e = encode_account_query_response(outbox, at, cscal[C_NOW],
                                                  acct_urn[account] + 1)
                out_close(outbox, cscal, at, e)
            else:  # Modify, Disable / Enable Order Entry: not acted on
                cscal[C_UNSUPPORTED] += 1
            if i >= 0:
                _emit(inst, md, oe, ops, trades, fills, stg, scal, tcount, cscal, i, pbuf,
                      bounds, kinds, counts, pw, max_payload)
        elif t == _SOUP_O:
            return LOGOUT, nxt, 0
        elif t != _SOUP_R and t != _SOUP_DEBUG:
            return WRONG_DIRECTION, p, t
        p = nxt
    return OK, p, 0


# ------------------------------------------------------------------------------ the owner


class FuturesOrders:
    """Client orders on a :class:`~.futures.FuturesSimulator` built with ``client_slots``,
    for ``accounts`` accounts (numbered from 0): the backend of an
    :class:`~.order_entry.OrderEntryServer`. Book changes and trades go to ``writer`` (the
    venue's MDP3 packet stream; default: one of its own); when it fills, ``on_packets`` gets
    its packets (default: they gather for :meth:`take_packets`)."""

    def __init__(self, fut: FuturesSimulator, accounts: int, writer: PacketWriter | None = None,
                 on_packets: Callable[[PacketChunk], None] | None = None) -> None:
        if fut.client_slots == 0:
            raise ValueError("the futures venue has no client order slots: build it with "
                             "FuturesSimulator(..., client_slots=N)")
        if not 1 <= accounts <= 0xFFFF:
            raise ValueError(f"accounts must be 1..65535, got {accounts}")
        self.fut = fut
        self.writer = writer or PacketWriter()
        self.on_packets = on_packets
        self._chunks: list[PacketChunk] = []
        slots = fut.client_slots
        if fut._outbox.shape[0] < 2 * need_out(slots):
            fut._outbox = np.zeros(2 * need_out(slots), np.uint8)
        if self.writer.buf.shape[0] < 2 * packet_room(slots, fut.max_payload):
            raise ValueError(f"the packet writer ({self.writer.buf.shape[0]} bytes) is too "
                             f"small: at least {2 * packet_room(slots, fut.max_payload)} for "
                             f"{slots} client slots")
        self.acct_urn = np.zeros(accounts, np.int64)  # the last UserRefNum used
        codes, index = [], []
        for i, s in enumerate(fut.specs):
            if len(s.symbol) <= 8 and s.symbol.isascii() and fut._inst[i]["ouch_px"] > 0:
                code = int.from_bytes(ouch_symbol(s.symbol), "big")
                fut._inst0[i]["ouch_sym"] = fut._inst[i]["ouch_sym"] = code
                codes.append(code)
                index.append(i)
        order = np.argsort(np.array(codes, np.uint64), kind="stable")
        self.sym_codes = np.ascontiguousarray(np.array(codes, np.uint64)[order])
        self.sym_index = np.array(index, np.int32)[order]
        self.tradable = [fut.symbols[k] for k in index]

    def apply(self, account: int, buf: np.ndarray, start: int, end: int,
              now: int) -> tuple[int, int, int]:
        """Apply ``buf[start:end]`` from ``account``; ``now`` stamps the OUCH messages (ns
        since midnight). Returns ``(status, offset, detail)``; on ROOM (the outbox is full),
        drain it and call again from ``offset``. A full packet buffer is handed over here."""
        f, w = self.fut, self.writer
        f._cscal[C_NOW] = now
        while True:
            st, off, detail = apply_stream(
                f._inst, f._levels, f._orders, f._live, f._nlv, f._pub, f._pub_n, f._md, f._oe,
                f._ops, f._trades, f._fills, f._stg, f._scal, f._tcount, f._clients, f._cscal,
                f._outbox, self.sym_codes, self.sym_index, self.acct_urn, account, buf, start,
                end, w.buf, w.bounds, w.kinds, w.counts, w.pw, f.max_payload)
            if st == ROOM and not _has_room(w.buf, w.kinds, w.pw, f.max_payload,
                                            f.client_slots):
                self.flush_packets()
                start = off
                continue
            return int(st), int(off), int(detail)

    def flush_packets(self) -> None:
        """Hand the packets written so far (the open one closed) to ``on_packets``."""
        chunk = self.writer.take(self.fut._scal)
        if chunk is None:
            return
        if self.on_packets is not None:
            self.on_packets(chunk)
        else:
            self._chunks.append(chunk)

    def take_packets(self) -> list[PacketChunk]:
        """The MDP3 packets written since the last call (without ``on_packets``)."""
        self.flush_packets()
        out, self._chunks = self._chunks, []
        return out

    def drain_outbox(self) -> list[tuple[int, bytes]]:
        """The OUCH messages written since the last drain (client actions, and fills by the
        generated flow), in order: ``(account, SoupBinTCP Sequenced Data packet)``."""
        return drain_outbox(self.fut._outbox, self.fut._cscal)

    def take_itch(self) -> np.ndarray:
        """Nothing: the futures feed is MDP3, written straight into the packet stream."""
        return np.zeros(0, np.uint8)

    def stats(self) -> dict[str, int]:
        """Client-order counters (orders in, accepted, executions, rejects, MDP3 messages)."""
        c = self.fut._cscal
        out = {k: int(v) for k, v in zip(CSCAL_NAMES, c, strict=False)
               if k not in ("now", "outbox_bytes", "itch_bytes", "free", "itch_messages")}
        out["mdp3_messages"] = int(c[C_MD_MSGS])
        return out

    def orders(self, account: int | None = None) -> list[dict[str, Any]]:
        """Live client orders (of ``account``, or all) with their book state; ``price`` is
        the OUCH price, ``order_id`` the MDP3 OrderID (the OUCH Order Reference Number)."""
        f = self.fut
        pool = f._live.shape[0]
        out = []
        for c in np.flatnonzero(f._clients["owner"] >= 0):
            cl = f._clients[c]
            if account is not None and int(cl["owner"]) != account:
                continue
            od = f._orders[pool + c]
            i = int(cl["inst"])
            rec = f._inst[i]
            out.append({"account": int(cl["owner"]), "user_ref_num": int(cl["user_ref_num"]),
                        "symbol": f.symbols[i], "order_id": int(od["order_id"]),
                        "side": chr(cl["side"]), "qty": int(od["qty"]),
                        "price": int((rec["lo_px"] + int(od["index"]) * rec["tick_px"])
                                     // rec["ouch_px"]),
                        "executed": int(cl["executed"])})
        return out

    def warm_up(self) -> None:
        """Compile (or load) the kernels before the first order arrives, for the array type
        the order-entry server passes (:func:`~.client_orders.inbound_array`). Applies
        nothing."""
        self.apply(0, inbound_array(b""), 0, 0, 0)
