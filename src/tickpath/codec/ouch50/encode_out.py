"""Compiled OUCH 5.0 outbound encoders: the exchange's side (the venue's order-entry server).

Each writes one message at ``buf[offset]`` and returns its end offset. Field offsets come from
the layout table (:data:`tickpath.codec.ouch50.layout.OUTBOUND`), read once at import, never
restated. Arguments are prepared as for the inbound encoders (:mod:`.encode`): one-byte alpha
fields are their ASCII codes, ``symbol`` and ``firm`` are their space-padded bytes as
big-endian integers, prices have 4 implied decimals, ``timestamp`` is ns since midnight.
``cl_ord_id`` is copied from ``src[src_at:src_at + 14]`` (typically the inbound request's own
bytes, which the response echoes). Every message carries an Appendage Length of 0, except
Order Canceled with ``appendage=False`` (the specification leaves it out when the request
that caused it had none). The caller sizes ``buf``; these kernels do not check bounds.
"""

from __future__ import annotations

from numba import njit

from ..itch50.encoder import put16, put32, put64
from .layout import OUTBOUND

_S, _A, _U, _C, _E, _J, _X, _Q, _P = (OUTBOUND[t] for t in "SAUCEJXQP")


def _at(msg, name: str) -> int:
    return msg.field(name).offset


# System Event
SYSTEM_EVENT_LEN = _S.length
_S_TS, _S_CODE = _at(_S, "timestamp"), _at(_S, "event_code")
# Order Accepted
ORDER_ACCEPTED_LEN = _A.length
(_A_TS, _A_URN, _A_SIDE, _A_QTY, _A_SYM, _A_PRICE, _A_TIF, _A_DISPLAY, _A_REF, _A_CAP, _A_ISO,
 _A_CROSS, _A_STATE, _A_CLORD, _A_APP) = (_at(_A, n) for n in (
    "timestamp", "user_ref_num", "side", "quantity", "symbol", "price", "time_in_force",
    "display", "order_reference_number", "capacity", "intermarket_sweep_eligibility",
    "cross_type", "order_state", "cl_ord_id", "appendage_length"))
# Order Replaced
ORDER_REPLACED_LEN = _U.length
(_U_TS, _U_ORIG, _U_URN, _U_SIDE, _U_QTY, _U_SYM, _U_PRICE, _U_TIF, _U_DISPLAY, _U_REF, _U_CAP,
 _U_ISO, _U_CROSS, _U_STATE, _U_CLORD, _U_APP) = (_at(_U, n) for n in (
    "timestamp", "orig_user_ref_num", "user_ref_num", "side", "quantity", "symbol", "price",
    "time_in_force", "display", "order_reference_number", "capacity",
    "intermarket_sweep_eligibility", "cross_type", "order_state", "cl_ord_id",
    "appendage_length"))
# Order Canceled
ORDER_CANCELED_LEN = _C.length
_C_TS, _C_URN, _C_QTY, _C_REASON, _C_APP = (_at(_C, n) for n in (
    "timestamp", "user_ref_num", "quantity", "reason", "appendage_length"))
# Order Executed
ORDER_EXECUTED_LEN = _E.length
_E_TS, _E_URN, _E_QTY, _E_PRICE, _E_LIQ, _E_MATCH, _E_APP = (_at(_E, n) for n in (
    "timestamp", "user_ref_num", "quantity", "price", "liquidity_flag", "match_number",
    "appendage_length"))
# Rejected
REJECTED_LEN = _J.length
_J_TS, _J_URN, _J_REASON, _J_CLORD, _J_APP = (_at(_J, n) for n in (
    "timestamp", "user_ref_num", "reason", "cl_ord_id", "appendage_length"))
# Mass Cancel Response
MASS_CANCEL_RESPONSE_LEN = _X.length
_X_TS, _X_URN, _X_FIRM, _X_SYM, _X_APP = (_at(_X, n) for n in (
    "timestamp", "user_ref_num", "firm", "symbol", "appendage_length"))
# Account Query Response
ACCOUNT_QUERY_RESPONSE_LEN = _Q.length
_Q_TS, _Q_NEXT, _Q_APP = (_at(_Q, n) for n in ("timestamp", "next_user_ref_num",
                                               "appendage_length"))
# Cancel Pending
CANCEL_PENDING_LEN = _P.length
_P_TS, _P_URN, _P_APP = (_at(_P, n) for n in ("timestamp", "user_ref_num", "appendage_length"))
_CLORD_W = _A.field("cl_ord_id").width

#: the longest message these encoders write (for sizing buffers)
MAX_OUT_LEN = max(m.length for m in (_S, _A, _U, _C, _E, _J, _X, _Q, _P))


@njit(cache=True, nogil=True)
def _copy(buf, p, src, src_at, n):
    for i in range(n):
        buf[p + i] = src[src_at + i]


@njit(cache=True, nogil=True)
def encode_system_event(buf, offset, timestamp, event_code):
    """System Event ('S'): ``event_code`` ``ord("S")`` start of day, ``ord("E")`` end."""
    buf[offset] = 83
    put64(buf, offset + _S_TS, timestamp)
    buf[offset + _S_CODE] = event_code
    return offset + SYSTEM_EVENT_LEN


@njit(cache=True, nogil=True)
def encode_order_accepted(buf, offset, timestamp, user_ref_num, side, quantity, symbol, price,
                          time_in_force, display, order_ref, capacity, intermarket_sweep,
                          cross_type, order_state, src, src_at):
    """Order Accepted ('A'); ClOrdID from ``src[src_at:src_at + 14]``."""
    buf[offset] = 65
    put64(buf, offset + _A_TS, timestamp)
    put32(buf, offset + _A_URN, user_ref_num)
    buf[offset + _A_SIDE] = side
    put32(buf, offset + _A_QTY, quantity)
    put64(buf, offset + _A_SYM, symbol)
    put64(buf, offset + _A_PRICE, price)
    buf[offset + _A_TIF] = time_in_force
    buf[offset + _A_DISPLAY] = display
    put64(buf, offset + _A_REF, order_ref)
    buf[offset + _A_CAP] = capacity
    buf[offset + _A_ISO] = intermarket_sweep
    buf[offset + _A_CROSS] = cross_type
    buf[offset + _A_STATE] = order_state
    _copy(buf, offset + _A_CLORD, src, src_at, _CLORD_W)
    put16(buf, offset + _A_APP, 0)
    return offset + ORDER_ACCEPTED_LEN


@njit(cache=True, nogil=True)
def encode_order_replaced(buf, offset, timestamp, orig_user_ref_num, user_ref_num, side,
                          quantity, symbol, price, time_in_force, display, order_ref, capacity,
                          intermarket_sweep, cross_type, order_state, src, src_at):
    """Order Replaced ('U'); ClOrdID (the replacement's) from ``src[src_at:src_at + 14]``."""
    buf[offset] = 85
    put64(buf, offset + _U_TS, timestamp)
    put32(buf, offset + _U_ORIG, orig_user_ref_num)
    put32(buf, offset + _U_URN, user_ref_num)
    buf[offset + _U_SIDE] = side
    put32(buf, offset + _U_QTY, quantity)
    put64(buf, offset + _U_SYM, symbol)
    put64(buf, offset + _U_PRICE, price)
    buf[offset + _U_TIF] = time_in_force
    buf[offset + _U_DISPLAY] = display
    put64(buf, offset + _U_REF, order_ref)
    buf[offset + _U_CAP] = capacity
    buf[offset + _U_ISO] = intermarket_sweep
    buf[offset + _U_CROSS] = cross_type
    buf[offset + _U_STATE] = order_state
    _copy(buf, offset + _U_CLORD, src, src_at, _CLORD_W)
    put16(buf, offset + _U_APP, 0)
    return offset + ORDER_REPLACED_LEN


@njit(cache=True, nogil=True)
def encode_order_canceled(buf, offset, timestamp, user_ref_num, quantity, reason, appendage):
    """Order Canceled ('C'): ``quantity`` shares taken off (incremental), ``reason`` from
    Appendix C. ``appendage`` False leaves the Appendage Length out."""
    buf[offset] = 67
    put64(buf, offset + _C_TS, timestamp)
    put32(buf, offset + _C_URN, user_ref_num)
    put32(buf, offset + _C_QTY, quantity)
    buf[offset + _C_REASON] = reason
    if not appendage:
        return offset + ORDER_CANCELED_LEN - 2
    put16(buf, offset + _C_APP, 0)
    return offset + ORDER_CANCELED_LEN


@njit(cache=True, nogil=True)
def encode_order_executed(buf, offset, timestamp, user_ref_num, quantity, price,
                          liquidity_flag, match_number):
    """Order Executed ('E'): ``quantity`` shares just executed at ``price``."""
    buf[offset] = 69
    put64(buf, offset + _E_TS, timestamp)
    put32(buf, offset + _E_URN, user_ref_num)
    put32(buf, offset + _E_QTY, quantity)
    put64(buf, offset + _E_PRICE, price)
    buf[offset + _E_LIQ] = liquidity_flag
    put64(buf, offset + _E_MATCH, match_number)
    put16(buf, offset + _E_APP, 0)
    return offset + ORDER_EXECUTED_LEN


@njit(cache=True, nogil=True)
def encode_rejected(buf, offset, timestamp, user_ref_num, reason, src, src_at):
    """Rejected ('J'): ``reason`` from Appendix D (2 bytes); ClOrdID from ``src``."""
    buf[offset] = 74
    put64(buf, offset + _J_TS, timestamp)
    put32(buf, offset + _J_URN, user_ref_num)
    put16(buf, offset + _J_REASON, reason)
    _copy(buf, offset + _J_CLORD, src, src_at, _CLORD_W)
    put16(buf, offset + _J_APP, 0)
    return offset + REJECTED_LEN


@njit(cache=True, nogil=True)
def encode_mass_cancel_response(buf, offset, timestamp, user_ref_num, firm, symbol):
    """Mass Cancel Response ('X'): the request's UserRefNum, firm and symbol echoed."""
    buf[offset] = 88
    put64(buf, offset + _X_TS, timestamp)
    put32(buf, offset + _X_URN, user_ref_num)
    put32(buf, offset + _X_FIRM, firm)
    put64(buf, offset + _X_SYM, symbol)
    put16(buf, offset + _X_APP, 0)
    return offset + MASS_CANCEL_RESPONSE_LEN


@njit(cache=True, nogil=True)
def encode_account_query_response(buf, offset, timestamp, next_user_ref_num):
    """Account Query Response ('Q'): the next UserRefNum the account may use."""
    buf[offset] = 81
    put64(buf, offset + _Q_TS, timestamp)
    put32(buf, offset + _Q_NEXT, next_user_ref_num)
    put16(buf, offset + _Q_APP, 0)
    return offset + ACCOUNT_QUERY_RESPONSE_LEN


@njit(cache=True, nogil=True)
def encode_cancel_pending(buf, offset, timestamp, user_ref_num):
    """Cancel Pending ('P')."""
    buf[offset] = 80
    put64(buf, offset + _P_TS, timestamp)
    put32(buf, offset + _P_URN, user_ref_num)
    put16(buf, offset + _P_APP, 0)
    return offset + CANCEL_PENDING_LEN
