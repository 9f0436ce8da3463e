"""Client orders (OUCH 5.0) in the venue's matching engine: compiled kernels over the same
``inst / levels / orders / live`` arrays the generator uses, and :class:`ClientOrders`, their
owner.

A client order rests in the same price-level FIFO queue as the generated flow (price-time
priority across both), in a client slot of the order pool (``records.CLIENT_DTYPE``: owner
account, UserRefNum, executed shares of its order/replace chain, the echoed attributes). The
generator never picks a client slot for its deletes, cancels and replaces; its marketable
orders do fill client orders (``matching.fill_client``).

:func:`apply_stream` takes one read of an account's TCP byte stream (SoupBinTCP packets from
the client) and applies every complete packet in order: Unsequenced Data carries one OUCH
message, checked against the inbound layout (``decode.check_message``) before anything is
applied; Client Heartbeat and Debug are skipped; Logout Request stops the walk. Its output:

* ITCH 5.0 blocks for the public feed (``itch``): A for the part that rests, E for each
  resting order executed (generated or client), X / D for cancels, U for a replace that
  rests without trading (a replace that trades is D, then E..., then A for what rests);
* OUCH outbound messages in the outbox (``matching.out_open``: account, then a whole
  SoupBinTCP Sequenced Data packet): Accepted, Executed (to both sides when two clients
  trade), Canceled, Replaced, Rejected, Mass Cancel Response, Account Query Response.

Rules (docs/venue-orders.md): Day ('0') and IOC ('3') time in force; a price of $200,000 or
more (the specification's market-order flag, 0x7FFFFFFF included) is a market order: it is
accepted IOC at the ladder's far end, so it fills what the book has and its remainder is
canceled. Self-trade prevention per account: an incoming order that would trade with a
resting order of its own account stops there, and its remainder is canceled with reason 'Q'
(self match prevention); trades before that point stand. A UserRefNum not above the account's
last is ignored, as the specification says of retransmissions.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..codec.itch50.encoder import encode_event, put16
from ..codec.itch50.layout import EVENT_DTYPE
from ..codec.ouch50.decode import OK as OUCH_OK
from ..codec.ouch50.decode import _be, check_message
from ..codec.ouch50.encode_out import (
    encode_account_query_response,
    encode_mass_cancel_response,
    encode_order_accepted,
    encode_order_canceled,
    encode_order_executed,
    encode_order_replaced,
    encode_rejected,
)
from ..codec.ouch50.layout import IN_APPENDAGE, IN_LENGTHS, INBOUND, OPTION_WIDTHS
from ..codec.soupbintcp.framing import NEED_MORE as SOUP_NEED_MORE
from ..codec.soupbintcp.framing import OK as SOUP_OK
from ..codec.soupbintcp.framing import next_packet
from ..codec.soupbintcp.layout import PAYLOAD_LENGTHS
from .matching import (
    OUT_ENTRY_MAX,
    _link,
    _set_last,
    delete_order,
    fill_client,
    free_client,
    kernel,
    out_close,
    out_open,
    reduce_order,
    take_off,
)
from .records import (
    BUY,
    C_ACCEPTED,
    C_CANCELED,
    C_EXECUTIONS,
    C_FREE,
    C_IGNORED,
    C_ITCH,
    C_ITCH_MSGS,
    C_LIVE,
    C_NOW,
    C_ORDERS_IN,
    C_OUT,
    C_REJECTS,
    C_REPLACED,
    C_UNSUPPORTED,
    CSCAL_NAMES,
    MAX_BLOCK,
    MAX_CLIENT_FILLS,
    MAX_CLIENT_QTY,
    S_CLOCK,
    S_NEXT_MATCH,
    S_NEXT_REF,
    SELL,
    TICK,
)

# apply_stream statuses
OK = 0  # every complete packet applied; the offset is where a partial one starts
LOGOUT = 1  # a Logout Request: the offset is just after it
BAD_PACKET = 2  # malformed SoupBinTCP framing (detail: the framing status)
BAD_MESSAGE = 3  # a malformed OUCH message (detail: the OUCH check status)
WRONG_DIRECTION = 4  # a packet type only a server sends, or a second Login Request
ROOM = 5  # the outbox or the ITCH buffer needs draining: call again from the offset

STATUS_TEXT = {OK: "ok", LOGOUT: "logout request", BAD_PACKET: "malformed SoupBinTCP packet",
               BAD_MESSAGE: "malformed OUCH 5.0 message",
               WRONG_DIRECTION: "a packet type the client may not send",
               ROOM: "output buffers full"}

#: Appendix D reject reasons used here
INVALID_DISPLAY = 0x03
ISO_NOT_ALLOWED = 0x08
INVALID_SIDE = 0x09
OTHER = 0x0F
INVALID_QUANTITY = 0x13
INVALID_CROSS_ORDER = 0x14
INVALID_SYMBOL = 0x17
INVALID_PRICE = 0x1D
#: Appendix C cancel reasons used here
USER_CANCEL, IOC_CANCEL, SMP_CANCEL, SYSTEM_CANCEL = (ord(c) for c in "UIQZ")
#: prices at or above $200,000.0000 flag a market order (so does 0x7FFFFFFF)
MARKET_FROM = 2_000_000_000

_A, _D, _E, _X, _U = (ord(c) for c in "ADEXU")
_B, _S, _T, _SX = (ord(c) for c in "BSTE")
_DAY, _IOC = ord("0"), ord("3")
_YES, _NO = ord("Y"), ord("N")
_LIVE, _DEAD = ord("L"), ord("D")
_REMOVED = ord("R")
_SPACES = np.uint64(0x2020202020202020)
_SOUP_U, _SOUP_R, _SOUP_O, _SOUP_DEBUG = (ord(c) for c in "URO+")

_O, _RP, _XC, _MC, _AQ = INBOUND["O"], INBOUND["U"], INBOUND["X"], INBOUND["C"], INBOUND["Q"]


def _at(msg, name: str) -> int:
    return msg.field(name).offset


(_O_URN, _O_SIDE, _O_QTY, _O_SYM, _O_PRICE, _O_TIF, _O_DISPLAY, _O_CAP, _O_ISO, _O_CROSS,
 _O_CLORD) = (_at(_O, n) for n in ("user_ref_num", "side", "quantity", "symbol", "price",
                                   "time_in_force", "display", "capacity",
                                   "intermarket_sweep_eligibility", "cross_type", "cl_ord_id"))
(_R_ORIG, _R_URN, _R_QTY, _R_PRICE, _R_TIF, _R_DISPLAY, _R_ISO, _R_CLORD) = (
    _at(_RP, n) for n in ("orig_user_ref_num", "user_ref_num", "quantity", "price",
                          "time_in_force", "display", "intermarket_sweep_eligibility",
                          "cl_ord_id"))
_X_URN, _X_QTY, _X_LEN = _at(_XC, "user_ref_num"), _at(_XC, "quantity"), _XC.length
_M_URN, _M_FIRM, _M_SYM = (_at(_MC, n) for n in ("user_ref_num", "firm", "symbol"))


# ------------------------------------------------------------------------------ helpers


@kernel
def _itch(itch, cscal, evs, scal, rec, typ, ref, side, shares, price, new_ref, match):
    """Append one ITCH block for instrument ``rec``, stamped with the engine's clock
    (``evs[0]`` stages it)."""
    ev = evs[0]
    ev["type"] = typ
    ev["locate"] = rec["locate"]
    ev["tracking"] = 0
    ev["timestamp"] = scal[S_CLOCK]
    ev["stock"] = rec["stock"]
    ev["ref"] = ref
    ev["side"] = side
    ev["shares"] = shares
    ev["price"] = price
    ev["new_ref"] = new_ref
    ev["match"] = match
    p = cscal[C_ITCH]
    m = encode_event(itch, p + 2, ev)
    put16(itch, p, m)
    cscal[C_ITCH] = p + 2 + m
    cscal[C_ITCH_MSGS] += 1


@kernel
def _canceled(outbox, cscal, account, urn, qty, reason, appendage):
    at = out_open(outbox, cscal, account)
    end = encode_order_canceled(outbox, at, cscal[C_NOW], urn, qty, reason, appendage)
    out_close(outbox, cscal, at, end)
    cscal[C_CANCELED] += 1


@kernel
def _rejected(outbox, cscal, account, urn, reason, buf, clord_at):
    at = out_open(outbox, cscal, account)
    end = encode_rejected(outbox, at, cscal[C_NOW], urn, reason, buf, clord_at)
    out_close(outbox, cscal, at, end)
    cscal[C_REJECTS] += 1


@kernel
def find_order(clients, account, user_ref_num):
    """The client index of ``account``'s live order ``user_ref_num``, or -1."""
    for c in range(clients.shape[0]):
        if clients[c]["owner"] == account and clients[c]["user_ref_num"] == user_ref_num:
            return c
    return -1


@kernel
def find_symbol(sym_codes, sym_index, symbol):
    """The instrument index of an 8-byte symbol (big-endian u64), or -1."""
    k = np.searchsorted(sym_codes, symbol)
    if k < sym_codes.shape[0] and sym_codes[k] == symbol:
        return np.int64(sym_index[k])
    return np.int64(-1)


@kernel
def ladder_index(rec, price, nlev):
    """The ladder index of a limit price, or -1 when it is not on the instrument's ladder."""
    d = np.int64(price) - rec["lo"]
    if d < 0 or d % TICK != 0 or d // TICK >= nlev:
        return np.int64(-1)
    return d // TICK


@kernel
def _rest(inst, levels, orders, clients, cscal, pool, i, side, j, shares, ref):
    """Rest a client order in a free client slot at ladder index ``j``; returns the client
    index. The caller checked the book would not cross and a slot is free."""
    c = cscal[C_FREE]
    cscal[C_FREE] = clients[c]["next_free"]
    cscal[C_LIVE] += 1
    o = pool + c
    od = orders[o]
    od["ref"] = ref
    od["index"] = j
    od["shares"] = shares
    od["side"] = side
    od["live_pos"] = -1
    _link(levels, orders, i, o)
    rec = inst[i]
    if side == BUY:
        rec["n_bid"] += 1
        if j > rec["bb"]:
            rec["bb"] = j
    else:
        rec["n_ask"] += 1
        if j < rec["ba"]:
            rec["ba"] = j
    return c


@kernel
def _marketable(rec, buy, j_lim, nlev):
    if buy:
        return rec["ba"] < nlev and rec["ba"] <= j_lim
    return rec["bb"] >= 0 and rec["bb"] >= j_lim


# ------------------------------------------------------------------------------ the order


@kernel
def _execute(inst, levels, orders, live, scal, clients, cscal, outbox, itch, ev, account, urn,
             buy, i, j_lim, qty, nlev):
    """Match an incoming order against the opposite side up to ladder index ``j_lim``.
    Returns ``(left, executed, stop)``: the shares left, those executed, and why it
    stopped early (0: it did not; SMP_CANCEL, SYSTEM_CANCEL)."""
    pool = live.shape[0]
    rec = inst[i]
    left = np.int64(qty)
    done = np.int64(0)
    fills = 0
    while left > 0:
        if not _marketable(rec, buy, j_lim, nlev):
            return left, done, 0
        j = rec["ba"] if buy else rec["bb"]
        o = levels[i, j]["head"]
        if o >= pool and clients[o - pool]["owner"] == account:
            return left, done, SMP_CANCEL
        if fills >= MAX_CLIENT_FILLS:
            return left, done, SYSTEM_CANCEL
        od = orders[o]
        take = min(left, np.int64(od["shares"]))
        match = scal[S_NEXT_MATCH]
        scal[S_NEXT_MATCH] += 1
        price = rec["lo"] + j * TICK
        _itch(itch, cscal, ev, scal, rec, _E, od["ref"], 0, take, 0, 0, match)
        if o >= pool:
            fill_client(inst, levels, orders, clients, cscal, outbox, pool, i, o, take, price,
                        match)
        elif take == od["shares"]:
            delete_order(inst, levels, orders, live, i, o)
        else:
            reduce_order(levels, orders, i, o, take)
        at = out_open(outbox, cscal, account)
        end = encode_order_executed(outbox, at, cscal[C_NOW], urn, take, price, _REMOVED, match)
        out_close(outbox, cscal, at, end)
        cscal[C_EXECUTIONS] += 1
        _set_last(rec, j, nlev)
        left -= take
        done += take
        fills += 1
    return left, done, 0


@kernel
def _place(inst, levels, orders, live, scal, clients, cscal, outbox, itch, ev, account, urn,
           side_byte, i, j_lim, qty, executed, ref, tif, display, capacity, iso, cross,
           old_ref, nlev):
    """An accepted order (new, or a replacement whose Replaced message is out): trade what
    is marketable, then rest the remainder (Day) or cancel it (IOC, self match, too many
    fills). ``old_ref`` >= 0: the order replaces that one, still on the book's feed."""
    buy = side_byte == _B
    rec = inst[i]
    if old_ref >= 0:
        if _marketable(rec, buy, j_lim, nlev) or tif == _IOC:
            # the replaced order leaves the feed before its replacement trades
            _itch(itch, cscal, ev, scal, rec, _D, old_ref, 0, 0, 0, 0, 0)
            old_ref = -1
    left, done, stop = _execute(inst, levels, orders, live, scal, clients, cscal, outbox, itch,
                                ev, account, urn, buy, i, j_lim, qty, nlev)
    if left == 0:
        return
    if stop != 0:
        _canceled(outbox, cscal, account, urn, left, stop, True)
        return
    if tif == _IOC:
        _canceled(outbox, cscal, account, urn, left, IOC_CANCEL, True)
        return
    side = BUY if buy else SELL
    c = _rest(inst, levels, orders, clients, cscal, live.shape[0], i, side, j_lim, left, ref)
    cl = clients[c]
    cl["owner"] = account
    cl["inst"] = i
    cl["user_ref_num"] = urn
    cl["executed"] = executed + done
    cl["side"] = side_byte
    cl["tif"] = tif
    cl["display"] = display
    cl["capacity"] = capacity
    cl["iso"] = iso
    cl["cross"] = cross
    price = rec["lo"] + j_lim * TICK
    if old_ref >= 0:
        _itch(itch, cscal, ev, scal, rec, _U, old_ref, 0, left, price, ref, 0)
    else:
        _itch(itch, cscal, ev, scal, rec, _A, ref, _B if buy else _S, left, price, 0, 0)


@kernel
def _check_order(rec_ok, side, qty, tif, display, iso, cross):
    """The first reason an order's fields are refused (Appendix D), or 0."""
    if side != _B and side != _S and side != _T and side != _SX:
        return INVALID_SIDE
    if not rec_ok:
        return INVALID_SYMBOL
    if qty == 0 or qty > MAX_CLIENT_QTY:
        return INVALID_QUANTITY
    if tif != _DAY and tif != _IOC:
        return OTHER
    if display != _YES:
        return INVALID_DISPLAY
    if iso != _NO:
        return ISO_NOT_ALLOWED
    if cross != _NO:
        return INVALID_CROSS_ORDER
    return 0


@kernel
def _limit(rec, price, nlev, buy):
    """``(ladder index, accepted TIF forced IOC)`` of an order's price: a market order goes to
    the ladder's far end as IOC; an off-ladder limit price gives index -1."""
    if price >= MARKET_FROM:
        return (np.int64(nlev - 1) if buy else np.int64(0)), True
    return ladder_index(rec, price, nlev), False


@kernel
def enter_order(inst, levels, orders, live, scal, clients, cscal, outbox, itch, ev, sym_codes,
                sym_index, acct_urn, account, buf, ms):
    """Enter Order ('O') at ``buf[ms]`` from ``account``."""
    nlev = levels.shape[1]
    urn = _be(buf, ms + _O_URN, 4)
    if np.int64(urn) <= acct_urn[account]:
        cscal[C_IGNORED] += 1  # a retransmission, as the specification assumes
        return
    acct_urn[account] = urn
    side = buf[ms + _O_SIDE]
    qty = _be(buf, ms + _O_QTY, 4)
    symbol = _be(buf, ms + _O_SYM, 8)
    price = _be(buf, ms + _O_PRICE, 8)
    tif = buf[ms + _O_TIF]
    display = buf[ms + _O_DISPLAY]
    i = find_symbol(sym_codes, sym_index, symbol)
    reason = _check_order(i >= 0, side, qty, tif, display, buf[ms + _O_ISO], buf[ms + _O_CROSS])
    j = np.int64(-1)
    market = False
    if reason == 0:
        j, market = _limit(inst[i], price, nlev, side == _B)
        if j < 0:
            reason = INVALID_PRICE
        elif cscal[C_FREE] < 0:
            reason = OTHER  # every client slot is taken
    if reason != 0:
        _rejected(outbox, cscal, account, urn, reason, buf, ms + _O_CLORD)
        return
    rec = inst[i]
    if market:
        tif = _IOC
    ref = scal[S_NEXT_REF]
    scal[S_NEXT_REF] = ref + 1
    at = out_open(outbox, cscal, account)
    end = encode_order_accepted(outbox, at, cscal[C_NOW], urn, side, qty, rec["stock"],
                                rec["lo"] + j * TICK, tif, display, ref, buf[ms + _O_CAP],
                                buf[ms + _O_ISO], buf[ms + _O_CROSS], _LIVE, buf,
                                ms + _O_CLORD)
    out_close(outbox, cscal, at, end)
    cscal[C_ACCEPTED] += 1
    _place(inst, levels, orders, live, scal, clients, cscal, outbox, itch, ev, account, urn,
           side, i, j, qty, 0, ref, tif, display, buf[ms + _O_CAP], buf[ms + _O_ISO],
           buf[ms + _O_CROSS], -1, nlev)


@kernel
def cancel_order(inst, levels, orders, live, scal, clients, cscal, outbox, itch, ev, account,
                 buf, ms, me):
    """Cancel Order ('X'): reduce the order to the intended size (0: cancel it)."""
    urn = _be(buf, ms + _X_URN, 4)
    qty = np.int64(_be(buf, ms + _X_QTY, 4))
    c = find_order(clients, account, urn)
    if c < 0:
        cscal[C_IGNORED] += 1  # superfluous: silently ignored
        return
    pool = live.shape[0]
    o = pool + c
    i = clients[c]["inst"]
    leaves = np.int64(orders[o]["shares"])
    if qty >= leaves:
        cscal[C_IGNORED] += 1
        return
    ref = orders[o]["ref"]
    if qty == 0:
        _itch(itch, cscal, ev, scal, inst[i], _D, ref, 0, 0, 0, 0, 0)
        free_client(inst, levels, orders, clients, cscal, pool, i, o)
    else:
        _itch(itch, cscal, ev, scal, inst[i], _X, ref, 0, leaves - qty, 0, 0, 0)
        reduce_order(levels, orders, i, o, leaves - qty)
    # the response carries an Appendage Length only if the request did
    _canceled(outbox, cscal, account, urn, leaves - qty, USER_CANCEL, me - ms >= _X_LEN)


@kernel
def replace_order(inst, levels, orders, live, scal, clients, cscal, outbox, itch, ev, acct_urn,
                  account, buf, ms):
    """Replace Order ('U'): a new UserRefNum, order reference, price and size; the
    replacement loses time priority. Quantity counts the chain's executions too."""
    nlev = levels.shape[1]
    orig = _be(buf, ms + _R_ORIG, 4)
    urn = _be(buf, ms + _R_URN, 4)
    c = find_order(clients, account, orig)
    if c < 0 or np.int64(urn) <= acct_urn[account]:
        cscal[C_IGNORED] += 1  # dead order or a used UserRefNum: silently ignored
        return
    pool = live.shape[0]
    o = pool + c
    cl = clients[c]
    i = cl["inst"]
    rec = inst[i]
    side = cl["side"]
    qty = np.int64(_be(buf, ms + _R_QTY, 4))
    price = _be(buf, ms + _R_PRICE, 8)
    tif = buf[ms + _R_TIF]
    display = buf[ms + _R_DISPLAY]
    reason = _check_order(True, side, qty, tif, display, buf[ms + _R_ISO], cl["cross"])
    j, market = _limit(rec, price, nlev, side == _B)
    old_ref = np.int64(orders[o]["ref"])
    leaves = np.int64(orders[o]["shares"])
    if reason != 0 or j < 0:
        # invalid details: the existing order is canceled; the new UserRefNum is not used
        _itch(itch, cscal, ev, scal, rec, _D, old_ref, 0, 0, 0, 0, 0)
        free_client(inst, levels, orders, clients, cscal, pool, i, o)
        _canceled(outbox, cscal, account, orig, leaves, SYSTEM_CANCEL, True)
        return
    acct_urn[account] = urn
    if market:
        tif = _IOC
    executed = cl["executed"]
    capacity = cl["capacity"]
    iso = buf[ms + _R_ISO]
    cross = cl["cross"]
    new_open = qty - executed
    ref = scal[S_NEXT_REF]
    scal[S_NEXT_REF] = ref + 1
    # the old order leaves its queue (and its slot) before the replacement is placed
    take_off(inst, levels, orders, i, o)
    cl["owner"] = -1
    cl["next_free"] = cscal[C_FREE]
    cscal[C_FREE] = c
    cscal[C_LIVE] -= 1
    at = out_open(outbox, cscal, account)
    end = encode_order_replaced(outbox, at, cscal[C_NOW], orig, urn, side, max(new_open, 0),
                                rec["stock"], rec["lo"] + j * TICK, tif, display, ref, capacity,
                                iso, cross, _LIVE if new_open > 0 else _DEAD, buf,
                                ms + _R_CLORD)
    out_close(outbox, cscal, at, end)
    cscal[C_REPLACED] += 1
    if new_open <= 0:  # executions already reached the new size: nothing left to show
        _itch(itch, cscal, ev, scal, rec, _D, old_ref, 0, 0, 0, 0, 0)
        return
    _place(inst, levels, orders, live, scal, clients, cscal, outbox, itch, ev, account, urn,
           side, i, j, new_open, executed, ref, tif, display, capacity, iso, cross, old_ref,
           nlev)


@kernel
def mass_cancel(inst, levels, orders, live, scal, clients, cscal, outbox, itch, ev, sym_codes,
                sym_index, acct_urn, account, buf, ms):
    """Mass Cancel ('C'): every live order of the account, or of one symbol (a blank symbol:
    all), canceled; then the Mass Cancel Response."""
    urn = _be(buf, ms + _M_URN, 4)
    if np.int64(urn) <= acct_urn[account]:
        cscal[C_IGNORED] += 1
        return
    acct_urn[account] = urn
    symbol = _be(buf, ms + _M_SYM, 8)
    every = symbol == _SPACES
    only = find_symbol(sym_codes, sym_index, symbol)
    pool = live.shape[0]
    for c in range(clients.shape[0]):
        cl = clients[c]
        if cl["owner"] != account or not (every or cl["inst"] == only):
            continue
        o = pool + c
        i = cl["inst"]
        _itch(itch, cscal, ev, scal, inst[i], _D, orders[o]["ref"], 0, 0, 0, 0, 0)
        _canceled(outbox, cscal, account, cl["user_ref_num"], orders[o]["shares"], USER_CANCEL,
                  True)
        free_client(inst, levels, orders, clients, cscal, pool, i, o)
    at = out_open(outbox, cscal, account)
    end = encode_mass_cancel_response(outbox, at, cscal[C_NOW], urn, _be(buf, ms + _M_FIRM, 4),
                                      symbol)
    out_close(outbox, cscal, at, end)


@kernel
def room_needed(clients):
    """``(outbox bytes, ITCH bytes)`` one inbound message may need at most."""
    n = max(clients.shape[0], MAX_CLIENT_FILLS) + 4
    return 2 * n * OUT_ENTRY_MAX, n * MAX_BLOCK


@kernel
def apply_stream(inst, levels, orders, live, scal, clients, cscal, outbox, itch, ev, sym_codes,
                 sym_index, acct_urn, account, buf, start, end):
    """Apply the complete SoupBinTCP packets of ``buf[start:end]`` from ``account``.

    Returns ``(status, offset, detail)``: OK and where a partial packet starts (or ``end``);
    LOGOUT and the offset after it; ROOM and the packet to resume at once the outbox and the
    ITCH buffer are drained; BAD_PACKET / BAD_MESSAGE / WRONG_DIRECTION with the offset of
    the fault and the framing or OUCH status (or packet type) as ``detail``. A message is
    checked whole before anything of it is applied; the ones before it stay applied."""
    need_out, need_itch = room_needed(clients)
    p = start
    while p < end:
        framed, t, length = next_packet(buf, p, end, PAYLOAD_LENGTHS)
        if framed == SOUP_NEED_MORE:
            return OK, p, 0
        if framed != SOUP_OK:
            return BAD_PACKET, p, framed
        nxt = p + 2 + length
        if t == _SOUP_U:
            if cscal[C_OUT] + need_out > outbox.shape[0] \
                    or cscal[C_ITCH] + need_itch > itch.shape[0]:
                return ROOM, p, 0
            ms = p + 3
            status, off, _at, _len, _idx = check_message(buf, ms, nxt, IN_LENGTHS, IN_APPENDAGE,
                                                         OPTION_WIDTHS)
            if status != OUCH_OK:
                return BAD_MESSAGE, off, status
            cscal[C_ORDERS_IN] += 1
            m = buf[ms]
            if m == 79:  # O
                enter_order(inst, levels, orders, live, scal, clients, cscal, outbox, itch, ev,
                            sym_codes, sym_index, acct_urn, account, buf, ms)
            elif m == 88:  # X
                cancel_order(inst, levels, orders, live, scal, clients, cscal, outbox, itch, ev,
                             account, buf, ms, nxt)
            elif m == 85:  # U
                replace_order(inst, levels, orders, live, scal, clients, cscal, outbox, itch,
                              ev, acct_urn, account, buf, ms)
            elif m == 67:  # C
                mass_cancel(inst, levels, orders, live, scal, clients, cscal, outbox, itch, ev,
                            sym_codes, sym_index, acct_urn, account, buf, ms)
            elif m == 81:  # Q
                at = out_open(outbox, cscal, account)
                e = encode_account_query_response(outbox, at, cscal[C_NOW],
                                                  acct_urn[account] + 1)
                out_close(outbox, cscal, at, e)
            else:  # Modify, Disable / Enable Order Entry: not acted on
                cscal[C_UNSUPPORTED] += 1
        elif t == _SOUP_O:
            return LOGOUT, nxt, 0
        elif t != _SOUP_R and t != _SOUP_DEBUG:
            return WRONG_DIRECTION, p, t
        p = nxt
    return OK, p, 0


# ------------------------------------------------------------------------------ the owner


def inbound_array(data: bytes | bytearray) -> np.ndarray:
    """A copy of ``data`` (an account's inbound bytes) as the one array type the order
    kernels are compiled for, by the warm-ups and for every read: writable, C-contiguous
    uint8. A read-only array (``np.frombuffer(bytes)``) is another type to numba, so the
    first read after a login would compile :func:`apply_stream` anew: seconds on a cold
    cache, during which the venue sends no heartbeats and its client calls it stale."""
    return np.frombuffer(bytearray(data), np.uint8)


def drain_outbox(outbox: np.ndarray, cscal: np.ndarray) -> list[tuple[int, bytes]]:
    """Empty a venue's OUCH outbox (records of a u16 account, then a whole SoupBinTCP
    packet; ``cscal[C_OUT]`` bytes written): ``(account, packet)`` in order. Shared by the
    equities and the futures venue, whose kernels write the same outbox."""
    n = int(cscal[C_OUT])
    if n == 0:
        return []
    raw = outbox[:n].tobytes()
    cscal[C_OUT] = 0
    out = []
    p = 0
    while p < n:
        account = int.from_bytes(raw[p:p + 2], "big")
        size = 2 + int.from_bytes(raw[p + 2:p + 4], "big")
        out.append((account, raw[p + 2:p + 2 + size]))
        p += 2 + size
    return out


class ClientOrders:
    """Client orders on a :class:`~tickpath.venue.Simulator` built with ``client_slots``:
    applies accounts' inbound streams (:meth:`apply`), hands over the OUCH messages owed to
    accounts (:meth:`drain_outbox`, also those from fills by the generated flow) and the ITCH
    blocks for the feed (:meth:`take_itch`). Accounts are numbered 0..``accounts - 1``."""

    def __init__(self, sim: Any, accounts: int, itch_bytes: int = 1 << 20) -> None:
        if sim._clients.shape[0] == 0:
            raise ValueError("the simulator has no client order slots: build it with "
                             "Simulator(..., client_slots=N)")
        if not 1 <= accounts <= 0xFFFF:
            raise ValueError(f"accounts must be 1..65535, got {accounts}")
        self.sim = sim
        need_out, need_itch = room_needed(sim._clients)
        if sim._outbox.shape[0] < 2 * need_out:
            sim._outbox = np.zeros(2 * need_out, np.uint8)
        self.itch = np.zeros(max(itch_bytes, 2 * need_itch), np.uint8)
        self.acct_urn = np.zeros(accounts, np.int64)  # the last UserRefNum used
        codes = sim._inst["stock"].astype(np.uint64)
        order = np.argsort(codes, kind="stable")
        self.sym_codes = np.ascontiguousarray(codes[order])
        self.sym_index = order.astype(np.int32)
        self.ev = np.zeros(1, EVENT_DTYPE)

    @property
    def cscal(self) -> np.ndarray:
        return self.sim._cscal

    def apply(self, account: int, buf: np.ndarray, start: int, end: int,
              now: int) -> tuple[int, int, int]:
        """Apply ``buf[start:end]`` (uint8) from ``account``; ``now`` stamps the OUCH
        messages (ns since midnight). Returns :func:`apply_stream`'s ``(status, offset,
        detail)``; on ROOM, drain and call again from ``offset``."""
        s = self.sim
        s._cscal[C_NOW] = now
        st, off, detail = apply_stream(
            s._inst, s._levels, s._orders, s._live, s._scal, s._clients, s._cscal, s._outbox,
            self.itch, self.ev, self.sym_codes, self.sym_index, self.acct_urn, account, buf,
            start, end)
        return int(st), int(off), int(detail)

    def drain_outbox(self) -> list[tuple[int, bytes]]:
        """The OUCH messages written since the last drain, in order: ``(account, SoupBinTCP
        Sequenced Data packet)``."""
        return drain_outbox(self.sim._outbox, self.sim._cscal)

    def take_itch(self) -> np.ndarray:
        """The ITCH blocks written since the last call (a copy)."""
        n = int(self.sim._cscal[C_ITCH])
        self.sim._cscal[C_ITCH] = 0
        return self.itch[:n].copy()

    def stats(self) -> dict[str, int]:
        """Client-order counters (orders in, accepted, executions, rejects, ...)."""
        return {k: int(v) for k, v in zip(CSCAL_NAMES, self.sim._cscal, strict=True)
                if k not in ("now", "outbox_bytes", "itch_bytes", "free")}

    def orders(self, account: int | None = None) -> list[dict[str, Any]]:
        """Live client orders (of ``account``, or all) with their book state."""
        s = self.sim
        pool = s._live.shape[0]
        out = []
        for c in np.flatnonzero(s._clients["owner"] >= 0):
            cl = s._clients[c]
            if account is not None and int(cl["owner"]) != account:
                continue
            od = s._orders[pool + c]
            i = int(cl["inst"])
            out.append({"account": int(cl["owner"]), "user_ref_num": int(cl["user_ref_num"]),
                        "symbol": s.symbols[i], "locate": i + 1, "ref": int(od["ref"]),
                        "side": chr(cl["side"]), "shares": int(od["shares"]),
                        "price": int(s._inst["lo"][i] + int(od["index"]) * TICK),
                        "executed": int(cl["executed"])})
        return out

    def warm_up(self) -> None:
        """Compile (or load) the kernels before the first order arrives, for the array type
        the order-entry server passes (:func:`inbound_array`). Applies nothing."""
        self.apply(0, inbound_array(b""), 0, 0, 0)
