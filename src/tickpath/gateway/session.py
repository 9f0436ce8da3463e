"""The SoupBinTCP client session that carries our OUCH orders: compiled data path, Python
cold path.

Compiled entry points (``@njit``; an engine loop calls them directly with the session's
:class:`SessionArrays` ``g`` and its own CLOCK_REALTIME ``now_ns``):

==============================================================  ============================
call                                                            returns
==============================================================  ============================
``session_poll(g, now_ns)``                                      messages applied (>= 0), or
                                                                a ``Poll`` status < 0
``send_enter(g, instrument, symbol, side, qty, price, tif,      the order's user_ref (> 0),
trigger, now_ns)``                                              or a status < 0
``send_cancel(g, user_ref, qty_left, now_ns)``                   0, or a status < 0
``send_replace(g, user_ref, qty, price, now_ns, trigger=0)``     the replacement's user_ref,
                                                                or a status < 0
==============================================================  ============================

``session_poll``: one non-blocking ``recv`` into the preallocated receive buffer, then every
whole SoupBinTCP packet in it: Sequenced Data is numbered (the first after Login Accepted
carries its sequence number), a number at or below ``totals[LAST_SEQ]`` is a replayed
duplicate and skipped; the others are decoded (OUCH), journaled with their number, applied to
the order kernels, and ``LAST_SEQ`` advances. Server Heartbeats and any bytes refresh the
venue's liveness; a Client Heartbeat goes out after ``heartbeat`` without sending; a venue
silent for ``stale`` returns STALE. A partial packet stays for the next call. Each message
applied leaves a row ``(slot, OUCH type byte)`` in ``g.updates`` (``state[S.UPDATES]`` rows,
reset at each call), so the loop can tell the strategy which orders changed; when the list is
full the rest waits in the buffer for the next call.

ClOrdID: an order with a ``trigger`` (the MoldUDP64 sequence number of the packet that made
the strategy act) carries it as 14 digits (:mod:`tickpath.codec.ouch50.clordid`), so a
capture on the venue's side pairs the order with its trigger (:mod:`tickpath.venue.referee`).

Send statuses: the order kernels' (``orders.TABLE_FULL`` ... ``orders.PENDING``, nothing
changed, nothing journaled or sent), ``NOT_CONNECTED``, ``JOURNAL_FAILED`` (the journal write
failed: nothing changed, nothing sent) and ``SEND_FAILED`` (journaled, the socket failed: a
new order is closed REJECTED with ``reason`` -errno and its user_ref is never reused; a
cancel or replace stays pending, see :meth:`OrderSession.in_doubt`). Order of work for every
send: check (changes nothing) -> journal -> change state -> encode in place -> ``send``.

Login, reconnect and logout are Python (:class:`OrderSession`).
"""

from __future__ import annotations

import enum
import errno as E
import logging
import os
import socket
import time
from typing import NamedTuple

import numpy as np
from numba import njit

from ..book.records import MAX_LOCATE
from ..codec.ouch50 import OUT_DTYPE
from ..codec.ouch50 import encode as ouch_encode
from ..codec.ouch50.clordid import put_trigger
from ..codec.ouch50.decode import OK as OUCH_OK
from ..codec.ouch50.decode import STATUS_TEXT as OUCH_TEXT
from ..codec.ouch50.decode import decode_outbound
from ..codec.ouch50.encode import (
    CANCEL_ORDER_LEN,
    ENTER_ORDER_LEN,
    REPLACE_ORDER_LEN,
    encode_cancel_order,
    encode_enter_order,
    encode_replace_order,
)
from ..codec.ouch50.layout import OPTION_WIDTHS, OUT_APPENDAGE, OUT_LENGTHS, symbol_code
from ..codec.soupbintcp import login_request
from ..codec.soupbintcp.framing import OK as SOUP_OK
from ..codec.soupbintcp.framing import STATUS_TEXT as SOUP_TEXT
from ..codec.soupbintcp.framing import next_packet, put_header
from ..codec.soupbintcp.layout import HEADER_LEN, LOGIN_REJECT_CODES, PAYLOAD_LENGTHS
from . import orders as K
from .journal import (
    J,
    Journal,
    JournalArrays,
    Recovery,
    append_error,
    journal_cancel,
    journal_enter,
    journal_local_reject,
    journal_mass_cancel,
    journal_replace,
    journal_session,
    journal_venue,
    recover,
    session_field,
    sync_due,
)
from .layout import OrderState, Total, new_orders, new_positions, new_totals
from .syscalls import errno, poll, recvfrom, send, setsockopt

log = logging.getLogger(__name__)


class S(enum.IntEnum):
    """Words of the session's state array."""

    FD = 0
    CONNECTED = 1
    NEXT_SEQ = 2  # the sequence number of the next Sequenced Data packet
    RX_END = 3  # bytes held in the receive buffer
    RX_BASE = 4  # stream offset (since connect) of the receive buffer's first byte
    LAST_RX_NS = 5
    LAST_TX_NS = 6
    STALE_NS = 7
    HEARTBEAT_NS = 8
    DISPLAY = 9  # Enter Order defaults (ASCII codes)
    CAPACITY = 10
    ISO = 11
    CROSS = 12
    ERR_OFFSET = 13  # stream offset of the fault
    ERR_ERRNO = 14
    ERR_SEQ = 15  # sequence number of the faulty message
    ERR_CODE = 16  # the codec's status (OUCH or SoupBinTCP) or the packet type
    MESSAGES = 17  # sequenced messages applied
    DUPLICATES = 18  # sequenced messages skipped (at or below LAST_SEQ: a replay)
    HEARTBEATS_IN = 19
    HEARTBEATS_OUT = 20
    DEBUG_IN = 21
    PACKETS_OUT = 22
    BYTES_OUT = 23
    SEND_WAITS = 24  # a send found the socket's buffer full and waited
    BYTES_IN = 25
    UPDATES = 26  # rows of ``updates`` the last session_poll wrote
    MORE = 27  # 1: the next sends are followed by more at once (MSG_MORE: held, sent together)
    CORKED = 28  # bytes were sent with MSG_MORE and not pushed yet (see push())


N_S = 32


class Poll(enum.IntEnum):
    """``session_poll`` statuses (< 0); >= 0 is the number of messages applied."""

    NOT_CONNECTED = -1
    DISCONNECTED = -2  # the venue closed the connection, or the socket failed (ERR_ERRNO)
    STALE = -3  # nothing from the venue for longer than ``stale``
    END_OF_SESSION = -4
    MALFORMED = -5  # an OUCH message that does not decode (ERR_OFFSET, ERR_SEQ, ERR_CODE)
    BAD_PACKET = -6  # SoupBinTCP framing broken (ERR_OFFSET, ERR_CODE)
    PROTOCOL = -7  # a packet type the venue may not send now (ERR_CODE)
    JOURNAL = -8  # the journal write failed (ERR_ERRNO): the message was not applied


# send statuses beyond the order kernels' (-1 .. -6)
NOT_CONNECTED = -10
JOURNAL_FAILED = -11
SEND_FAILED = -12

_EAGAIN, _EINTR = E.EAGAIN, E.EINTR
_MSG_DONTWAIT, _MSG_NOSIGNAL, _MSG_MORE = 0x40, 0x4000, 0x8000
_IPPROTO_TCP, _TCP_NODELAY = 6, 1
_POLLOUT = 4
_SEND_WAIT_MS = 10
_SEND_TRIES = 100  # a full socket buffer for ~1 s fails the send


class SessionArrays(NamedTuple):
    """Everything the compiled session functions use, allocated once."""

    orders: np.ndarray
    positions: np.ndarray
    totals: np.ndarray
    state: np.ndarray  # S words
    rx: np.ndarray  # receive buffer
    tx: np.ndarray  # one packet being built
    hb: np.ndarray  # a Client Heartbeat packet
    rec: np.ndarray  # one decoded OUT_DTYPE record
    cl_ord_id: np.ndarray  # 14 bytes
    pollfd: np.ndarray  # struct pollfd for waiting on a full send buffer
    soup_lengths: np.ndarray
    out_lengths: np.ndarray
    out_appendage: np.ndarray
    option_widths: np.ndarray
    journal: JournalArrays
    updates: np.ndarray  # (slot, OUCH type byte) of each message the last poll applied
    one: np.ndarray  # int32 [1]: the value of a socket option set to 1


@njit(cache=True, nogil=True)
def _send_all(g, buf, length, now_ns):
    """Send ``buf[:length]`` whole (non-blocking; waits in ``poll`` while the buffer is full).
    Returns 0, or -errno after which the connection is marked down."""
    st = g.state
    done = 0
    tries = 0
    flags = _MSG_DONTWAIT | _MSG_NOSIGNAL
    if st[S.MORE] != 0:
        flags |= _MSG_MORE
        st[S.CORKED] = 1
    else:
        st[S.CORKED] = 0  # this send pushes whatever was held with it
    while done < length:
        n = send(st[S.FD], buf.ctypes.data + done, length - done, flags)
        if n > 0:
            done += n
            continue
        e = errno()
        if n < 0 and e == _EINTR:
            continue
        if n < 0 and e == _EAGAIN and tries < _SEND_TRIES:
            tries += 1
            st[S.SEND_WAITS] += 1
            g.pollfd[0] = st[S.FD]
            g.pollfd[1] = _POLLOUT  # events (the low 16 bits), revents 0
            poll(g.pollfd.ctypes.data, 1, _SEND_WAIT_MS)
            continue
        st[S.ERR_ERRNO] = e if n < 0 else E.EPIPE
        st[S.CONNECTED] = 0
        return -st[S.ERR_ERRNO]
    st[S.LAST_TX_NS] = now_ns
    st[S.PACKETS_OUT] += 1
    st[S.BYTES_OUT] += length
    return 0


@njit(cache=True, nogil=True)
def push(g):
    """Send now what sends with ``state[MORE]`` set held back (setting TCP_NODELAY pushes a
    socket's pending output, tcp(7)); a send without MORE pushes it too. Returns 0 or -errno."""
    st = g.state
    st[S.MORE] = 0
    if st[S.CORKED] == 0:
        return 0
    st[S.CORKED] = 0
    if setsockopt(st[S.FD], _IPPROTO_TCP, _TCP_NODELAY, g.one.ctypes.data, 4) < 0:
        return -errno()
    return 0


@njit(cache=True, nogil=True)
def _put_cl_ord_id(out, user_ref, trigger):
    """ClOrdID: the trigger's sequence number as 14 digits when there is one (tickpath's
    convention, :mod:`tickpath.codec.ouch50.clordid`: the venue's referee pairs the order with
    the packet that caused it), else the user_ref in decimal, space padded."""
    if trigger > 0:
        put_trigger(out, trigger)
        return
    digits = 0
    v = user_ref
    while True:
        digits += 1
        v //= 10
        if v == 0:
            break
    for i in range(14):
        out[i] = 32
    v = user_ref
    for i in range(digits - 1, -1, -1):
        out[i] = 48 + v % 10
        v //= 10


@njit(cache=True, nogil=True)
def send_enter(g, instrument, symbol, side, qty, price, tif, trigger, now_ns):
    """Enter Order: check, journal, book PENDING_NEW, encode, send. Returns the user_ref
    or a status < 0."""
    st = g.state
    if st[S.CONNECTED] == 0:
        return NOT_CONNECTED
    ur = K.check_new(g.orders, g.positions, g.totals, instrument, side, qty, price)
    if ur < 0:
        return ur
    js = journal_enter(g.journal, ur, instrument, symbol, side, qty, price, tif, trigger,
                       now_ns)
    if js < 0:
        st[S.ERR_ERRNO] = -js
        return JOURNAL_FAILED
    K.order_new(g.orders, g.positions, g.totals, instrument, symbol, side, qty, price, tif,
                trigger, now_ns)
    _put_cl_ord_id(g.cl_ord_id, ur, trigger)
    p = put_header(g.tx, 0, 85, ENTER_ORDER_LEN)  # 'U' unsequenced data
    end = encode_enter_order(g.tx, p, ur, side, qty, symbol, price, tif, st[S.DISPLAY],
                             st[S.CAPACITY], st[S.ISO], st[S.CROSS], g.cl_ord_id)
    s = _send_all(g, g.tx, end, now_ns)
    if s < 0:
        # never reached the venue whole: closed here, its user_ref never sent again
        journal_local_reject(g.journal, ur, s, now_ns)
        K.reject_local(g.orders, g.positions, g.totals, ur, s, now_ns)
        return SEND_FAILED
    return ur


@njit(cache=True, nogil=True)
def send_cancel(g, user_ref, qty_left, now_ns):
    """Cancel Order (``qty_left``: intended size left, 0 = all). Returns 0 or a status."""
    st = g.state
    if st[S.CONNECTED] == 0:
        return NOT_CONNECTED
    s = K.check_cancel(g.orders, user_ref, qty_left)
    if s != K.OK:
        return s
    js = journal_cancel(g.journal, user_ref, qty_left, now_ns)
    if js < 0:
        st[S.ERR_ERRNO] = -js
        return JOURNAL_FAILED
    K.cancel_sent(g.orders, g.positions, g.totals, user_ref, qty_left, now_ns)
    p = put_header(g.tx, 0, 85, CANCEL_ORDER_LEN)
    end = encode_cancel_order(g.tx, p, user_ref, qty_left)
    if _send_all(g, g.tx, end, now_ns) < 0:
        return SEND_FAILED
    return K.OK


@njit(cache=True, nogil=True)
def send_replace(g, user_ref, qty, price, now_ns, trigger=0):
    """Replace Order (same time in force, display and sweep flag). Returns the replacement's
    user_ref or a status < 0."""
    st = g.state
    if st[S.CONNECTED] == 0:
        return NOT_CONNECTED
    ur = K.check_replace(g.orders, g.totals, user_ref, qty, price)
    if ur < 0:
        return ur
    js = journal_replace(g.journal, user_ref, ur, qty, price, now_ns)
    if js < 0:
        st[S.ERR_ERRNO] = -js
        return JOURNAL_FAILED
    K.replace_sent(g.orders, g.positions, g.totals, user_ref, qty, price, now_ns)
    tif = g.orders[K.find(g.orders, user_ref)]["tif"]
    _put_cl_ord_id(g.cl_ord_id, ur, trigger)
    p = put_header(g.tx, 0, 85, REPLACE_ORDER_LEN)
    end = encode_replace_order(g.tx, p, user_ref, ur, qty, price, tif, st[S.DISPLAY],
                               st[S.ISO], g.cl_ord_id)
    if _send_all(g, g.tx, end, now_ns) < 0:
        return SEND_FAILED
    return ur


@njit(cache=True, nogil=True)
def send_mass_cancel(g, user_ref, instrument, length, now_ns):
    """Mass Cancel Request already built in ``g.tx[:length]`` (a cold path builds it) with
    ``user_ref`` = ``totals[NEXT_USER_REF]``: journal, mark the orders CANCEL_PENDING,
    send. Returns the user_ref or a status < 0."""
    st = g.state
    if st[S.CONNECTED] == 0:
        return NOT_CONNECTED
    if user_ref != g.totals[Total.NEXT_USER_REF] or user_ref > K.MAX_USER_REF:
        return K.REF_EXHAUSTED
    js = journal_mass_cancel(g.journal, user_ref, instrument, now_ns)
    if js < 0:
        st[S.ERR_ERRNO] = -js
        return JOURNAL_FAILED
    K.mass_cancel_sent(g.orders, g.positions, g.totals, instrument, now_ns)
    if _send_all(g, g.tx, length, now_ns) < 0:
        return SEND_FAILED
    return user_ref


@njit(cache=True, nogil=True)
def _fault(st, status, offset, code, seq):
    st[S.ERR_OFFSET] = offset
    st[S.ERR_CODE] = code
    st[S.ERR_SEQ] = seq
    return status


@njit(cache=True, nogil=True)
def _compact(st, rx, p):
    """Move the unread bytes ``rx[p:RX_END]`` to the front."""
    end = st[S.RX_END]
    if p > 0:
        for i in range(end - p):
            rx[i] = rx[p + i]
        st[S.RX_END] = end - p
        st[S.RX_BASE] += p


@njit(cache=True, nogil=True)
def session_poll(g, now_ns):
    """One duty cycle of the session (see the module doc). Returns the number of venue
    messages applied, or a ``Poll`` status < 0 (details in the state words)."""
    st, rx = g.state, g.rx
    if st[S.CONNECTED] == 0:
        return Poll.NOT_CONNECTED
    if sync_due(g.journal, now_ns) < 0:
        st[S.ERR_ERRNO] = g.journal.state[J.ERRNO]
        return Poll.JOURNAL
    if now_ns - st[S.LAST_TX_NS] >= st[S.HEARTBEAT_NS]:
        if _send_all(g, g.hb, 3, now_ns) < 0:
            return Poll.DISCONNECTED
        st[S.HEARTBEATS_OUT] += 1
    end = st[S.RX_END]
    if end < rx.shape[0]:
        n = recvfrom(st[S.FD], rx.ctypes.data + end, rx.shape[0] - end, _MSG_DONTWAIT, 0, 0)
        if n == 0:
            st[S.CONNECTED] = 0
            st[S.ERR_ERRNO] = 0
            return Poll.DISCONNECTED
        if n < 0:
            e = errno()
            if e != _EAGAIN and e != _EINTR:
                st[S.CONNECTED] = 0
                st[S.ERR_ERRNO] = e
                return Poll.DISCONNECTED
        else:
            end += n
            st[S.RX_END] = end
            st[S.BYTES_IN] += n
            st[S.LAST_RX_NS] = now_ns
    work = 0
    p = 0
    totals = g.totals
    ups = g.updates
    st[S.UPDATES] = 0
    while p < end:
        framed, t, length = next_packet(rx, p, end, g.soup_lengths)
        if framed != SOUP_OK:
            if framed == 1:  # NEED_MORE: the rest of the packet comes with a later read
                break
            _compact(st, rx, p)
            return _fault(st, Poll.BAD_PACKET, st[S.RX_BASE], framed, 0)
        if t == 83:  # 'S' sequenced data
            seq = st[S.NEXT_SEQ]
            if seq <= totals[Total.LAST_SEQ]:
                st[S.DUPLICATES] += 1
            elif st[S.UPDATES] >= ups.shape[0]:
                break  # the update list is full: the rest waits for the next poll
            else:
                rec = g.rec[0]
                status, off = decode_outbound(rx, p + HEADER_LEN, p + 2 + length,
                                              g.out_lengths, g.out_appendage,
                                              g.option_widths, rec)
                if status != OUCH_OK:
                    _compact(st, rx, p)
                    return _fault(st, Poll.MALFORMED, st[S.RX_BASE] + off - p, status, seq)
                if journal_venue(g.journal, seq, rec, now_ns) < 0:
                    _compact(st, rx, p)
                    st[S.ERR_ERRNO] = g.journal.state[J.ERRNO]
                    return _fault(st, Poll.JOURNAL, st[S.RX_BASE], 0, seq)
                K.apply_outbound(rec, g.orders, g.positions, totals, now_ns)
                u = st[S.UPDATES]
                ups[u, 0] = K.find(g.orders, np.int64(rec["user_ref_num"]))
                ups[u, 1] = rec["type"]
                st[S.UPDATES] = u + 1
                totals[Total.LAST_SEQ] = seq
                st[S.MESSAGES] += 1
                work += 1
            st[S.NEXT_SEQ] = seq + 1
        elif t == 72:  # 'H'
            st[S.HEARTBEATS_IN] += 1
        elif t == 43:  # '+' debug
            st[S.DEBUG_IN] += 1
        elif t == 90:  # 'Z' end of session
            _compact(st, rx, p + 2 + length)
            return Poll.END_OF_SESSION
        else:
            _compact(st, rx, p)
            return _fault(st, Poll.PROTOCOL, st[S.RX_BASE], t, 0)
        p += 2 + length
    _compact(st, rx, p)
    if work == 0 and now_ns - st[S.LAST_RX_NS] > st[S.STALE_NS]:
        return Poll.STALE
    return work


# ----------------------------------------------------------------------------- cold path


class SessionError(RuntimeError):
    """The session cannot go on: what happened, and where (venue, sequence, offset)."""


class LoginRejected(SessionError):
    def __init__(self, venue: str, code: str) -> None:
        meaning = LOGIN_REJECT_CODES.get(code, "a code the specification does not define")
        super().__init__(f"{venue}: Login Rejected, code {code!r}: {meaning}")
        self.code = code


class OrderRefused(RuntimeError):
    """A send refused before anything went out: ``status`` and its meaning."""

    def __init__(self, what: str, status: int) -> None:
        super().__init__(f"{what} refused: {SEND_TEXT.get(status, f'status {status}')}")
        self.status = status


SEND_TEXT = dict(K.SEND_TEXT)
SEND_TEXT.update({NOT_CONNECTED: "the session is not connected",
                  JOURNAL_FAILED: "the journal write failed (nothing was sent)",
                  SEND_FAILED: "the socket failed while sending"})


def _now() -> int:
    return time.clock_gettime_ns(time.CLOCK_REALTIME)


def _byte(v: str) -> int:
    if len(v) != 1:
        raise ValueError(f"one ASCII character expected, got {v!r}")
    return ord(v)


class OrderSession:
    """A SoupBinTCP/OUCH order-entry session to ``host:port``, our orders' state and the
    journal. ``journal``: a path or :class:`Journal` (None: /dev/null, no recovery)."""

    def __init__(self, host: str, port: int, username: str, password: str, *,
                 journal: Journal | str | os.PathLike | None = None, stale_s: float = 3.0,
                 heartbeat_s: float = 1.0, session: str = "", capacity: int = 1 << 16,
                 instruments: int = MAX_LOCATE, display: str = "Y", order_capacity: str = "A",
                 intermarket_sweep: str = "N", cross_type: str = "N", firm: str = "",
                 connect_timeout_s: float = 2.0, max_reconnects: int = 5,
                 rx_size: int = 1 << 17, updates: int = 256) -> None:
        self.host, self.port = host, port
        self.venue = f"venue {host}:{port}"
        self.username, self.password, self.session = username, password, session
        #: the venue session the journal last recorded ("": none yet)
        self.journaled_session = ""
        self.firm = firm
        self.connect_timeout_s = connect_timeout_s
        self.max_reconnects = max_reconnects
        self.reconnects = 0
        self.ended = False
        self.sock: socket.socket | None = None
        self.journal = journal if isinstance(journal, Journal) else \
            Journal(os.devnull if journal is None else journal, "never"
                    if journal is None else "always")
        st = np.zeros(N_S, np.int64)
        st[S.STALE_NS] = int(stale_s * 1e9)
        st[S.HEARTBEAT_NS] = int(heartbeat_s * 1e9)
        st[S.DISPLAY], st[S.CAPACITY] = _byte(display), _byte(order_capacity)
        st[S.ISO], st[S.CROSS] = _byte(intermarket_sweep), _byte(cross_type)
        st[S.FD] = -1
        hb = np.array([0, 1, ord("R")], np.uint8)
        self.arrays = SessionArrays(
            new_orders(capacity), new_positions(instruments), new_totals(), st,
            np.zeros(rx_size, np.uint8), np.zeros(256, np.uint8), hb, np.zeros(1, OUT_DTYPE),
            np.zeros(14, np.uint8), np.zeros(2, np.int32), PAYLOAD_LENGTHS, OUT_LENGTHS,
            OUT_APPENDAGE, OPTION_WIDTHS, self.journal.arrays,
            np.zeros((updates, 2), np.int64), np.ones(1, np.int32))
        self._connected_at_ref = 1  # orders below this were sent before the last connect
        self._warm = False  # warm_up() done

    # --- views
    @property
    def orders(self) -> np.ndarray:
        return self.arrays.orders

    @property
    def positions(self) -> np.ndarray:
        return self.arrays.positions

    @property
    def totals(self) -> np.ndarray:
        return self.arrays.totals

    @property
    def state(self) -> np.ndarray:
        return self.arrays.state

    @property
    def connected(self) -> bool:
        return bool(self.arrays.state[S.CONNECTED])

    def order(self, user_ref: int) -> np.void | None:
        slot = K.find(self.orders, user_ref)
        return None if slot < 0 else self.orders[slot]

    def in_doubt(self) -> list[int]:
        """Orders sent before the last (re)connect and still pending (new, cancel or
        replace) after it: the venue may not have received what we sent. Never resent
        automatically; cancel them (a cancel may be sent again while one is pending)."""
        o = self.orders
        pend = (o["user_ref"] > 0) & (o["user_ref"] < self._connected_at_ref) & np.isin(
            o["state"], [OrderState.PENDING_NEW, OrderState.CANCEL_PENDING,
                         OrderState.REPLACE_PENDING])
        return sorted(int(r) for r in o["user_ref"][pend])

    # --- cold path
    def recover(self, journal_path: str | os.PathLike) -> Recovery:
        """Rebuild orders, positions and totals from a journal (before :meth:`connect`):
        the session then asks the venue's session last journaled for the messages after the
        last one applied (:meth:`connect` says what happens when that session is over)."""
        if self.connected:
            raise SessionError(f"{self.venue}: recover() before connect()")
        rec = recover(journal_path, self.orders, self.positions, self.totals)
        if rec.session:  # a journal without one keeps the session asked for, if any
            self.session = self.journaled_session = rec.session
        return rec

    def warm_up(self) -> None:
        """Compile (or load) the kernels this session calls from Python once logged in, with
        the argument types it calls them with: the SESSION record and the close of the old
        session's orders (a login to a new venue session), the sends and the poll (Mass
        Cancel when the kill switch is thrown). A compile after login would stop the
        trader's loop, so its reads and heartbeats, for as long as it took (seconds on a
        cold cache). Runs on scratch copies, so nothing is sent, journaled or changed.
        :meth:`connect` calls it before the first login."""
        now = _now()
        off = self.state.copy()
        off[S.CONNECTED] = 0  # every send and the poll stop at their first check
        g = self.arrays._replace(state=off)
        send_enter(g, 0, symbol_code("A"), _byte("B"), 1, 1, _byte("0"), 0, now)
        send_cancel(g, 1, 0, now)
        send_replace(g, 1, 1, 1, now)
        send_mass_cancel(g, 1, -1, 0, now)
        session_poll(g, now)
        jst = self.journal.arrays.state.copy()
        jst[J.FAILED] = 1  # _commit refuses before it writes
        scratch = JournalArrays(jst, self.journal.arrays.buf.copy())
        journal_session(scratch, session_field("WARMUP"), 1, now)
        orders = new_orders(1)
        K.find(orders, 1)  # order(), from Python
        K.session_closed(orders, new_positions(1), new_totals(), now)
        self._warm = True

    def connect(self) -> None:
        """Connect and log in to :attr:`session` ("": the venue's current one), asking for
        the message after the last one applied. A Login Accepted that starts beyond it (a
        gap) is refused: reconnect and ask again, up to ``max_reconnects`` times, then
        :class:`SessionError`.

        When the session last journaled is refused as not available ('S': the venue has
        begun a new one, as at the start of a new day), the session logs in to the venue's
        current session from sequence number 1. Logging in to a session other than the
        last journaled writes a SESSION record, then closes the orders still open from the
        old one (CANCELED, reason 'T': their session expired; ``orders.session_closed``):
        positions and P&L carry over, UserRefNums keep counting (an id is never sent twice).
        """
        if not self._warm:
            self.warm_up()
        asked = self.session
        for attempt in range(self.max_reconnects + 1):
            want = int(self.totals[Total.LAST_SEQ]) + 1
            try:
                seq = self._login(asked, want)
            except LoginRejected as e:
                if e.code != "S" or not self.journaled_session \
                        or asked != self.journaled_session:
                    raise
                log.warning("%s: the journaled session %r is not available; logging in to "
                            "the venue's current session (its orders are closed if it is a "
                            "new one)", self.venue, asked)
                asked, want = "", 1
                seq = self._login(asked, want)
            if self.session != self.journaled_session:
                want = self._new_session(seq)
            if seq <= want:
                break
            self._drop()
            log.error("%s: Login Accepted starts at sequence %d, we need %d (messages %d..%d "
                      "would be lost); reconnecting (attempt %d)", self.venue, seq, want, want,
                      seq - 1, attempt + 1)
            time.sleep(min(0.05 * 2 ** attempt, 1.0))
        else:
            raise SessionError(f"{self.venue}: Login Accepted starts at sequence {seq}, we "
                               f"need {want}: messages {want}..{seq - 1} would be lost "
                               f"(gap after {self.max_reconnects + 1} logins)")
        self._connected_at_ref = int(self.totals[Total.NEXT_USER_REF])

    def _new_session(self, seq: int) -> int:
        """Logged in to :attr:`session`, not the one last journaled: journal it, then close
        the old session's open orders. Returns the sequence number now wanted (1)."""
        now = _now()
        try:
            name = session_field(self.session)
        except ValueError as e:
            self._drop()
            raise SessionError(f"{self.venue}: Login Accepted names session "
                               f"{self.session!r}: {e}") from None
        status = journal_session(self.journal.arrays, name, seq, now)
        if status != 0:
            self._drop()
            raise append_error(self.journal.path, status)
        old, self.journaled_session = self.journaled_session, self.session
        if old:
            n = int(K.session_closed(self.orders, self.positions, self.totals, now))
            log.warning("%s: new session %r (the journal's was %r): %d order%s of the old "
                        "session closed (canceled, reason 'T'); positions and P&L carried "
                        "over", self.venue, self.session, old, n, "" if n == 1 else "s")
        else:
            self.totals[Total.LAST_SEQ] = 0
        return 1

    def _login(self, asked: str, want: int) -> int:
        sock = socket.create_connection((self.host, self.port), self.connect_timeout_s)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        try:
            sock.sendall(login_request(self.username, self.password, asked, want))
            data = b""
            deadline = time.monotonic() + self.connect_timeout_s
            while True:
                while len(data) < 2 or len(data) < 2 + int.from_bytes(data[:2], "big"):
                    left = deadline - time.monotonic()
                    if left <= 0:
                        raise SessionError(f"{self.venue}: no Login Accepted or Rejected "
                                           f"within {self.connect_timeout_s} s")
                    sock.settimeout(left)
                    chunk = sock.recv(65536)
                    if not chunk:
                        raise SessionError(f"{self.venue}: closed the connection during login")
                    data += chunk
                size = 2 + int.from_bytes(data[:2], "big")
                t, payload, rest = chr(data[2]), data[3:size], data[size:]
                if t == "A" and len(payload) == 30:
                    break
                if t == "J" and len(payload) == 1:
                    raise LoginRejected(self.venue, chr(payload[0]))
                if t not in "H+":
                    raise SessionError(f"{self.venue}: packet type {t!r} (length {size - 2}) "
                                       "at offset 0 where Login Accepted or Rejected belongs")
                data = rest
        except BaseException:
            sock.close()
            raise
        session = payload[:10].decode("ascii").strip()
        try:
            seq = int(payload[10:30].decode("ascii").strip())
        except ValueError:
            sock.close()
            raise SessionError(f"{self.venue}: Login Accepted sequence number "
                               f"{payload[10:30]!r} is not ASCII digits") from None
        sock.setblocking(False)
        self.sock, self.session = sock, session
        st, now = self.state, _now()
        st[S.FD] = sock.fileno()
        st[S.CONNECTED] = 1
        st[S.NEXT_SEQ] = seq
        st[S.RX_END] = len(rest)
        st[S.RX_BASE] = size
        self.arrays.rx[:len(rest)] = np.frombuffer(rest, np.uint8)
        st[S.LAST_RX_NS] = st[S.LAST_TX_NS] = now
        log.info("%s: logged in to session %r, next sequence %d (asked %d)", self.venue,
                 session, seq, want)
        return seq

    def _drop(self) -> None:
        if self.sock is not None:
            self.sock.close()
            self.sock = None
        self.state[S.CONNECTED] = 0
        self.state[S.FD] = -1

    def reconnect(self, why: str) -> None:
        """Close and log in again asking for the message after the last one applied."""
        self._drop()
        self.reconnects += 1
        log.warning("%s: %s; reconnecting from sequence %d", self.venue, why,
                    int(self.totals[Total.LAST_SEQ]) + 1)
        last: Exception | None = None
        for attempt in range(self.max_reconnects + 1):
            try:
                self.connect()
                return
            except (OSError, SessionError) as e:
                if isinstance(e, LoginRejected):
                    raise
                last = e
                time.sleep(min(0.05 * 2 ** attempt, 1.0))
        raise SessionError(f"{self.venue}: reconnect failed after {self.max_reconnects + 1} "
                           f"attempts: {last}")

    def _error(self, status: int) -> SessionError:
        st = self.state
        seq, off, code = int(st[S.ERR_SEQ]), int(st[S.ERR_OFFSET]), int(st[S.ERR_CODE])
        if status == Poll.MALFORMED:
            return SessionError(f"{self.venue}: malformed OUCH message, sequence {seq}, at "
                                f"stream offset {off}: {OUCH_TEXT.get(code, code)} (not "
                                f"applied; LAST_SEQ stays {seq - 1})")
        if status == Poll.BAD_PACKET:
            return SessionError(f"{self.venue}: malformed SoupBinTCP packet at stream offset "
                                f"{off}: {SOUP_TEXT.get(code, code)}")
        if status == Poll.PROTOCOL:
            return SessionError(f"{self.venue}: packet type {chr(code)!r} at stream offset "
                                f"{off}: not a packet a server sends during a session")
        if status == Poll.JOURNAL:
            return append_error(self.journal.path, -int(st[S.ERR_ERRNO]))
        return SessionError(f"{self.venue}: poll status {status}")

    def poll(self, now_ns: int | None = None) -> int:
        """One compiled duty cycle; a stale venue or a dropped connection reconnects, a
        malformed message or a failed journal raises :class:`SessionError`. Returns the
        messages applied."""
        if self.ended:
            return 0
        return self.handle(int(session_poll(self.arrays, _now() if now_ns is None else
                                            now_ns)))

    def handle(self, status: int) -> int:
        """Act on what a compiled ``session_poll`` returned (here, or in an engine's loop):
        a count is returned as is; a stale venue or a dropped connection reconnects, End of
        Session ends the session, a malformed message or a failed journal raises
        :class:`SessionError`."""
        if status >= 0:
            return status
        if status == Poll.STALE:
            self.reconnect(f"venue silent for more than {self.state[S.STALE_NS] / 1e9:g} s "
                           "(stale)")
        elif status == Poll.DISCONNECTED:
            e = int(self.state[S.ERR_ERRNO])
            self.reconnect("connection closed by the venue" if e == 0 else
                           f"connection failed: [Errno {e}] {os.strerror(e)}")
        elif status == Poll.END_OF_SESSION:
            log.info("%s: End of Session after sequence %d", self.venue,
                     int(self.totals[Total.LAST_SEQ]))
            self.ended = True
            self._drop()
        elif status == Poll.NOT_CONNECTED:
            raise SessionError(f"{self.venue}: poll() before connect()")
        else:
            raise self._error(status)
        return 0

    def _sent(self, what: str, status: int) -> int:
        if status == JOURNAL_FAILED:
            raise append_error(self.journal.path, -int(self.state[S.ERR_ERRNO]))
        if status == SEND_FAILED:
            e = int(self.state[S.ERR_ERRNO])
            raise SessionError(f"{self.venue}: {what}: send failed: [Errno {e}] "
                               f"{os.strerror(e)}")
        if status < 0:
            raise OrderRefused(what, status)
        return status

    def enter(self, instrument: int, symbol: str, side: str, qty: int, price: int,
              tif: str = "0", trigger: int = 0) -> int:
        """Send an Enter Order; returns its user_ref."""
        return self._sent("Enter Order", int(send_enter(
            self.arrays, instrument, symbol_code(symbol), _byte(side), qty, price, _byte(tif),
            trigger, _now())))

    def cancel(self, user_ref: int, qty_left: int = 0) -> None:
        self._sent(f"Cancel Order {user_ref}", int(send_cancel(self.arrays, user_ref,
                                                               qty_left, _now())))

    def replace(self, user_ref: int, qty: int, price: int) -> int:
        """Send a Replace Order; returns the replacement's user_ref."""
        return self._sent(f"Replace Order {user_ref}", int(send_replace(
            self.arrays, user_ref, qty, price, _now())))

    def mass_cancel(self, instrument: int = -1, symbol: str = "") -> int:
        """Mass Cancel Request for our firm (``symbol`` blank: every symbol); the orders of
        ``instrument`` (-1: all) become CANCEL_PENDING. Returns the request's user_ref."""
        ur = int(self.totals[Total.NEXT_USER_REF])
        msg = ouch_encode("inbound", "C", user_ref_num=ur, firm=self.firm, symbol=symbol)
        pkt = (len(msg) + 1).to_bytes(2, "big") + b"U" + msg
        self.arrays.tx[:len(pkt)] = np.frombuffer(pkt, np.uint8)
        return self._sent("Mass Cancel", int(send_mass_cancel(self.arrays, ur, instrument,
                                                              len(pkt), _now())))

    def close(self) -> None:
        """Logout Request, close the socket, sync and close the journal."""
        if self.sock is not None and self.connected:
            try:
                self.sock.send(b"\x00\x01O")
            except OSError:
                pass
        self._drop()
        self.journal.close()

    def __enter__(self) -> OrderSession:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
