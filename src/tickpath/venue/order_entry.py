"""The venue's order-entry server: SoupBinTCP 3.0 over TCP, OUCH 5.0 inside.

Non-blocking sockets, all driven from :meth:`OrderEntryServer.poll` (no threads): it accepts
connections, reads, applies what arrived (the compiled :func:`client_orders.apply_stream`,
one call per read), hands each account its OUCH messages, sends heartbeats and drops silent
clients. Python here does what is per connection (logins, buffers, logs); per message work
is compiled.

Sessions: one session name for the day, one connection per account at a time. Every
Sequenced Data packet an account is owed is kept in its store, so a client that logs in
again asking for sequence number N gets every message from N on, then live ones; 0 asks
for new messages only (the specification's "most recently generated"). A number past the
end also starts at the end. Each store opens with an OUCH System Event 'S' (start of day);
:meth:`end_session` adds System Event 'E', sends End of Session ('Z') and closes.

Faults close the connection with a log line naming the account, the stream offset and the
reason: a first packet that is not a Login Request, bad credentials ('A' not authorized),
an unknown requested session or an account already logged in ('S' session not available),
malformed SoupBinTCP framing, a malformed or unknown OUCH message (the messages before it in
the same read stay applied; nothing of it is), a packet type only a server sends, and a
client silent for longer than ``timeout_s``.
"""

from __future__ import annotations

import errno
import logging
import socket
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from ..codec.ouch50.decode import STATUS_TEXT as OUCH_STATUS_TEXT
from ..codec.ouch50.message import encode as ouch_encode
from ..codec.soupbintcp import (
    SoupError,
    SoupPacket,
    decode_packet,
    encode_packet,
    login_accepted,
    login_rejected,
    sequenced,
)
from ..codec.soupbintcp.framing import STATUS_TEXT as SOUP_STATUS_TEXT
from ..telemetry.feedtime import NASDAQ_ZONE, FeedTime
from . import client_orders as co

log = logging.getLogger("tickpath.venue.order_entry")

__all__ = ["Account", "OrderBackend", "OrderEntryServer", "new_session_name",
           "parse_accounts"]

_LOGIN_LEN = 2 + 1 + 46  # a whole Login Request packet
_HEARTBEAT = encode_packet("H")
_END_OF_SESSION = encode_packet("Z")


def send_pending(sock: socket.socket, tx: bytearray) -> OSError | None:
    """Send what ``tx`` holds on the non-blocking ``sock`` until the kernel takes no more,
    removing what went; returns the error that ends the connection, or None."""
    while tx:
        try:
            n = sock.send(tx)
        except (BlockingIOError, InterruptedError):
            return None
        except OSError as e:
            return e
        del tx[:n]
    return None


def flush(sock: socket.socket, tx: bytearray, who: str) -> bool:
    """:func:`send_pending`, logging a failure (a peer gone away, EPIPE, is no news) under
    ``who``; False when the connection is over and should be closed."""
    e = send_pending(sock, tx)
    if e is None:
        return True
    if e.errno != errno.EPIPE:
        log.warning("%s: send failed (%s): closed", who, e)
    return False


def new_session_name(now_ns: int | None = None) -> str:
    """A session name of its own for a venue that starts now: ``T`` and the start time in
    milliseconds since the epoch, in base 36 (10 characters). A venue started again is a new
    trading day: a client's journal of the old one then sees a session that is not its own
    and closes the old day's orders, instead of taking the new day's messages for the old
    day's replay."""
    ms = (time.time_ns() if now_ns is None else now_ns) // 1_000_000
    digits = ""
    while ms:
        ms, d = divmod(ms, 36)
        digits = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ"[d] + digits
    return "T" + digits.rjust(9, "0")[-9:]


def parse_accounts(accounts: Iterable[str] | dict[str, str]) -> list[tuple[str, str]]:
    """``{"USER": "PASS"}`` or ``["USER:PASS", ...]`` as ``[(user, password), ...]``.
    SoupBinTCP gives a username 6 bytes and a password 10."""
    pairs = list(accounts.items()) if isinstance(accounts, dict) else []
    if not isinstance(accounts, dict):
        for text in accounts:
            user, sep, password = text.partition(":")
            if not sep or not user:
                raise ValueError(f"account {text!r} is not USER:PASS")
            pairs.append((user, password))
    seen = set()
    for user, password in pairs:
        if len(user) > 6 or len(password) > 10 or not user.isascii() or not password.isascii():
            raise ValueError(f"account {user!r}: SoupBinTCP takes an ASCII username of up to 6 "
                             f"characters and a password of up to 10")
        if user.upper() in seen:
            raise ValueError(f"account {user!r} is given twice")
        seen.add(user.upper())
    if not pairs:
        raise ValueError("order entry needs at least one account (USER:PASS)")
    return pairs


class OrderBackend(Protocol):
    """What the server drives: a matching backend applying accounts' inbound streams
    (:class:`~.client_orders.ClientOrders` for the equities, :class:`~.futures_orders.
    FuturesOrders` for the futures venue). ``apply`` returns ``client_orders.apply_stream``'s
    ``(status, offset, detail)``; ``acct_urn`` has one entry per account it was built for."""

    acct_urn: np.ndarray

    def apply(self, account: int, buf: np.ndarray, start: int, end: int,
              now: int) -> tuple[int, int, int]: ...
    def drain_outbox(self) -> list[tuple[int, bytes]]: ...
    def take_itch(self) -> np.ndarray: ...
    def stats(self) -> dict[str, int]: ...
    def warm_up(self) -> None: ...


@dataclass
class Account:
    """One OUCH account: its credentials and its sequenced store (SoupBinTCP Sequenced Data
    packets, message k at ``store[k - 1]``)."""
    index: int
    username: str
    password: str
    store: list[bytes] = field(default_factory=list)
    conn: _Conn | None = None


class _Conn:
    def __init__(self, sock: socket.socket, addr: tuple, now: float) -> None:
        self.sock = sock
        self.addr = addr
        self.account: Account | None = None
        self.rx = bytearray()
        self.rx_base = 0  # stream offset of rx[0]
        self.tx = bytearray()
        self.last_rx = now
        self.last_tx = now

    @property
    def who(self) -> str:
        name = self.account.username if self.account else "(not logged in)"
        return f"account {name} from {self.addr[0]}:{self.addr[1]}"


class OrderEntryServer:
    """SoupBinTCP 3.0 / OUCH 5.0 order entry on ``(host, port)`` (port 0: any; see
    :attr:`port`) for ``accounts`` (``{"USER": "PASS"}`` or ``["USER:PASS", ...]``; account
    index = position), applying orders to ``orders`` (an :class:`OrderBackend`: the equities'
    or the futures venue's).

    ``on_itch(blocks)`` receives the ITCH blocks of client actions as they are made (the
    live venue publishes them in its next packet); without it they gather for
    :meth:`take_itch`. ``now_ns()`` gives OUCH timestamps (ns since midnight; default: the
    wall clock in ``zone``); ``clock()`` drives heartbeats and timeouts (monotonic seconds).
    """

    def __init__(self, orders: OrderBackend, accounts: Iterable[str] | dict[str, str],
                 host: str = "127.0.0.1", port: int = 0, *, session: str = "TICKPATH01",
                 heartbeat_s: float = 1.0, timeout_s: float = 15.0,
                 on_itch: Callable[[np.ndarray], None] | None = None,
                 now_ns: Callable[[], int] | None = None, zone: str = NASDAQ_ZONE,
                 clock: Callable[[], float] = time.monotonic) -> None:
        pairs = parse_accounts(accounts)
        if len(pairs) > orders.acct_urn.shape[0]:
            raise ValueError(f"{len(pairs)} accounts, but the client orders were built for "
                             f"{orders.acct_urn.shape[0]}")
        if not session or len(session) > 10:
            raise ValueError(f"session {session!r}: SoupBinTCP session names are 1..10 bytes")
        self.orders = orders
        self.accounts = [Account(k, u, p) for k, (u, p) in enumerate(pairs)]
        self._by_name = {a.username.upper(): a for a in self.accounts}
        self.session = session
        self.heartbeat_s = heartbeat_s
        self.timeout_s = timeout_s
        self.on_itch = on_itch
        self.clock = clock
        if now_ns is None:
            feed_time = FeedTime(zone)
            now_ns = lambda: feed_time.local_since_midnight(time.time_ns())  # noqa: E731
        self.now_ns = now_ns
        self.ended = False
        self.counters = {"sessions": 0, "logins_rejected": 0, "dropped": 0, "malformed": 0,
                         "logouts": 0, "heartbeats_sent": 0}
        self._conns: list[_Conn] = []
        self._itch: list[np.ndarray] = []
        self._seen = dict(orders.stats())
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind((host, port))
        self.listener.listen(16)
        self.listener.setblocking(False)
        self.port: int = self.listener.getsockname()[1]
        for a in self.accounts:  # every store opens with the start of day
            self._owe(a, sequenced(ouch_encode("outbound", "S", timestamp=self.now_ns(),
                                               event_code="S")))
        orders.warm_up()

    # ------------------------------------------------------------------ outbound

    def _owe(self, account: Account, packet: bytes) -> None:
        account.store.append(packet)
        if account.conn is not None:
            self._queue(account.conn, packet)

    def _queue(self, conn: _Conn, data: bytes) -> None:
        conn.tx += data
        conn.last_tx = self.clock()

    def flush_outbox(self) -> int:
        """Hand the OUCH messages the engine wrote (orders, and fills by the generated flow)
        to their accounts' stores and connections; returns how many."""
        out = self.orders.drain_outbox()
        for k, packet in out:
            self._owe(self.accounts[k], packet)
        return len(out)

    def _collect_itch(self) -> None:
        blocks = self.orders.take_itch()
        if blocks.size:
            if self.on_itch is not None:
                self.on_itch(blocks)
            else:
                self._itch.append(blocks)

    def take_itch(self) -> np.ndarray:
        """The ITCH blocks of client actions gathered since the last call (no ``on_itch``)."""
        parts, self._itch = self._itch, []
        return np.concatenate(parts) if parts else np.zeros(0, np.uint8)

    # ------------------------------------------------------------------ the duty cycle

    def sockets(self) -> list[socket.socket]:
        """The listening socket and every connection (to wait on with ``select``)."""
        return [self.listener] + [c.sock for c in self._conns]

    def poll(self) -> int:
        """One duty cycle: accept, read and apply, send, heartbeat, drop silent clients.
        Returns the work done (connections accepted, reads, messages handed over)."""
        work = self.flush_outbox()
        now = self.clock()
        while True:  # after the end of session too: a late login hears 'S'
            try:
                sock, addr = self.listener.accept()
            except (BlockingIOError, InterruptedError):
                break
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._conns.append(_Conn(sock, addr, now))
            log.info("order entry: connection from %s:%d", addr[0], addr[1])
            work += 1
        for conn in list(self._conns):
            work += self._read(conn)
        work += self.flush_outbox()
        self._collect_itch()
        now = self.clock()
        for conn in list(self._conns):
            if conn.account is not None and now - conn.last_tx >= self.heartbeat_s:
                self._queue(conn, _HEARTBEAT)
                self.counters["heartbeats_sent"] += 1
            if now - conn.last_rx > self.timeout_s:
                log.warning("order entry: %s silent for %.1f s (timeout %.1f s): dropped",
                            conn.who, now - conn.last_rx, self.timeout_s)
                self.counters["dropped"] += 1
                self._close(conn)
                continue
            self._send(conn)
        return work

    def _read(self, conn: _Conn) -> int:
        got = 0
        while True:
            try:
                data = conn.sock.recv(65536)
            except (BlockingIOError, InterruptedError):
                break
            except OSError as e:
                log.warning("order entry: %s: receive failed (%s): closed", conn.who, e)
                self._close(conn)
                return got
            if not data:
                log.info("order entry: %s closed the connection", conn.who)
                self._close(conn)
                return got
            conn.rx += data
            conn.last_rx = self.clock()
            got += 1
        if got and conn in self._conns:
            self._consume(conn)
        return got

    def _consume(self, conn: _Conn) -> None:
        if conn.account is None and not self._login(conn):
            return
        if conn.account is None or not conn.rx:
            return
        buf = co.inbound_array(conn.rx)  # the type warm_up compiled for
        p = 0
        while True:
            status, off, detail = self.orders.apply(conn.account.index, buf, p, buf.size,
                                                    self.now_ns())
            if status == co.ROOM:
                self.flush_outbox()
                self._collect_itch()
                p = off
                continue
            break
        self._note_counters(conn)
        if status == co.OK:
            del conn.rx[:off]
            conn.rx_base += off
            return
        if status == co.LOGOUT:
            log.info("order entry: %s logged out", conn.who)
            self.counters["logouts"] += 1
            self.flush_outbox()
            self._send(conn)
            self._close(conn)
            return
        if status == co.BAD_PACKET:
            reason = SOUP_STATUS_TEXT.get(detail, f"framing status {detail}")
        elif status == co.BAD_MESSAGE:
            reason = OUCH_STATUS_TEXT.get(detail, f"OUCH status {detail}")
        else:
            reason = f"packet type {chr(detail)!r} is not one a client sends after login"
        self.counters["malformed"] += 1
        log.error("order entry: %s: malformed inbound at stream offset %d: %s; connection "
                  "closed (the framing after it cannot be trusted)", conn.who,
                  conn.rx_base + off, reason)
        self.flush_outbox()
        self._send(conn)
        self._close(conn)

    def _note_counters(self, conn: _Conn) -> None:
        now = self.orders.stats()
        for key, text in (("ignored", "request(s) ignored as the specification says (a "
                                      "UserRefNum not above the last one used, or an order "
                                      "no longer live)"),
                          ("unsupported", "request(s) of a type this venue does not act on "
                                          "(Modify, Disable / Enable Order Entry) ignored")):
            if now[key] > self._seen.get(key, 0):
                # a cancel that meets an order just filled is an everyday race: info; a type
                # this venue does not act on is worth a warning
                log.log(logging.INFO if key == "ignored" else logging.WARNING,
                        "order entry: %s: %d %s", conn.who, now[key] - self._seen[key], text)
        self._seen = now

    def _login(self, conn: _Conn) -> bool:
        """Handle the Login Request at the start of ``conn.rx``; False when the connection
        is closed or the packet has not all arrived."""
        rx = conn.rx
        if len(rx) < 3:
            return False
        length = int.from_bytes(rx[:2], "big")
        if chr(rx[2]) != "L" or length != _LOGIN_LEN - 2:
            self.counters["malformed"] += 1
            log.error("order entry: %s: stream offset 0: expected a Login Request (type 'L', "
                      "length %d), got type %r length %d; connection closed", conn.who,
                      _LOGIN_LEN - 2, chr(rx[2]), length)
            self._close(conn)
            return False
        if len(rx) < _LOGIN_LEN:
            return False
        try:
            f = decode_packet(SoupPacket("L", bytes(rx[3:_LOGIN_LEN]), 0))
        except SoupError as e:
            self.counters["malformed"] += 1
            log.error("order entry: %s: malformed Login Request: %s; connection closed",
                      conn.who, e)
            self._close(conn)
            return False
        acct = self._by_name.get(f["username"].strip().upper())
        if acct is None or acct.password.upper() != f["password"].strip().upper():
            return self._reject(conn, "A", f"bad username or password for {f['username']!r}")
        conn.account = acct
        want = f["requested_session"].strip()
        if self.ended or (want and want != self.session):
            return self._reject(conn, "S", f"requested session {want!r} is not available "
                                           f"(current: {self.session!r}"
                                           f"{', ended' if self.ended else ''})")
        if acct.conn is not None:
            return self._reject(conn, "S", "the account already has a session open")
        seq = f["requested_sequence_number"]
        nxt = len(acct.store) + 1
        start = nxt if seq == 0 or seq > nxt else seq
        del conn.rx[:_LOGIN_LEN]
        conn.rx_base += _LOGIN_LEN
        acct.conn = conn
        self.counters["sessions"] += 1
        self._queue(conn, login_accepted(self.session, start))
        for packet in acct.store[start - 1:]:
            self._queue(conn, packet)
        log.info("order entry: %s logged in to session %s, from sequence number %d (%d "
                 "stored messages replayed)", conn.who, self.session, start, nxt - start)
        return True

    def _reject(self, conn: _Conn, code: str, why: str) -> bool:
        self.counters["logins_rejected"] += 1
        log.warning("order entry: %s: login rejected (%r): %s", conn.who, code, why)
        conn.account = None
        self._queue(conn, login_rejected(code))
        self._send(conn)
        self._close(conn)
        return False

    def _send(self, conn: _Conn) -> None:
        if not flush(conn.sock, conn.tx, f"order entry: {conn.who}"):
            self._close(conn)

    def _close(self, conn: _Conn) -> None:
        if conn in self._conns:
            self._conns.remove(conn)
        if conn.account is not None and conn.account.conn is conn:
            conn.account.conn = None
        try:
            conn.sock.close()
        except OSError:
            pass

    # ------------------------------------------------------------------ end of day

    def end_session(self) -> None:
        """The end of the day: System Event 'E' to every account, End of Session to every
        connection, then close them. Later logins get 'S' (session not available)."""
        self.flush_outbox()
        self._collect_itch()
        for a in self.accounts:
            self._owe(a, sequenced(ouch_encode("outbound", "S", timestamp=self.now_ns(),
                                               event_code="E")))
        self.ended = True
        for conn in list(self._conns):
            if conn.account is not None:
                self._queue(conn, _END_OF_SESSION)
            conn.sock.setblocking(True)
            conn.sock.settimeout(1.0)  # the last bytes go out before the close
            try:
                conn.sock.sendall(conn.tx)
                conn.tx.clear()
            except OSError:
                pass
            self._close(conn)

    def stats(self) -> dict[str, int]:
        """Sessions, rejected logins, drops, malformed streams, and the order counters."""
        return {**self.counters, "connections": len(self._conns), **self.orders.stats()}

    def close(self) -> None:
        for conn in list(self._conns):
            self._close(conn)
        self.listener.close()

    def __enter__(self) -> OrderEntryServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
