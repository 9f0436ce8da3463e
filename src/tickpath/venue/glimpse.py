"""The venue's snapshot service, after NASDAQ GLIMPSE 5.0: the book as it is now, over
SoupBinTCP 3.0, for a receiver that starts late or cannot re-request its gap.

A client logs in (sequence number 1, as GLIMPSE asks) and gets, as Sequenced Data packets of
one ITCH message each: a Stock Directory (R) and a Stock Trading Action (H) for every symbol,
an Add Order (A) for every order resting in the matching engine (per instrument, bids then
offers, best price first, each price level oldest order first, so a receiver that adds them
in this order has the engine's queues), and the End of Snapshot message ('G': 20 ASCII digits,
the MoldUDP64 sequence number of the first feed message the snapshot does not hold). The
receiver applies the feed from that number on. Then Server Heartbeats until the client logs
out; a client silent for ``timeout_s`` is dropped.

The snapshot is taken when the login is handled, from the engine's state: the live venue
polls this server at the start of a turn, when everything the engine did has been published
(:class:`tickpath.venue.live.LiveVenue`), so the state and the sequence number agree. The
Add Orders are written by one compiled pass over the engine's price ladders; logins, buffers
and sends are per connection and in Python, like :mod:`tickpath.venue.order_entry`.
"""

from __future__ import annotations

import logging
import socket
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

import numpy as np
from numba import njit

from ..codec.itch50.encoder import put16, put32, put48, put64
from ..codec.soupbintcp import (
    SoupError,
    SoupFramer,
    decode_packet,
    encode_packet,
    login_accepted,
    login_rejected,
    sequenced,
)
from . import Simulator
from .order_entry import flush, new_session_name, parse_accounts
from .records import BUY, TICK

log = logging.getLogger("tickpath.venue.glimpse")

__all__ = ["END_OF_SNAPSHOT", "GlimpseServer", "end_of_snapshot", "snapshot_messages"]

ADD_ORDER_LEN = 36
END_OF_SNAPSHOT = ord("G")
_HEARTBEAT = encode_packet("H")


@njit(cache=True, nogil=True)
def _add_orders(inst, levels, orders, out, timestamp):
    """Every resting order as an Add Order block (2-byte length, 36-byte message) into
    ``out``, per instrument, bids best first then offers best first, each level head (oldest)
    to tail. Returns the bytes written, or -1 when ``out`` is too small."""
    p = 0
    ladder = levels.shape[1]
    for i in range(inst.shape[0]):
        for side in range(2):
            for k in range(ladder):
                x = inst[i]["bb"] - k if side == BUY else inst[i]["ba"] + k
                if x < 0 or x >= ladder:
                    break
                slot = levels[i, x]["head"]
                while slot >= 0:
                    if p + 2 + ADD_ORDER_LEN > out.shape[0]:
                        return -1  # more orders than ``out`` holds: the caller sizes again
                    o = orders[slot]
                    put16(out, p, ADD_ORDER_LEN)
                    m = p + 2
                    out[m] = 65  # 'A'
                    put16(out, m + 1, inst[i]["locate"])
                    put16(out, m + 3, 0)
                    put48(out, m + 5, timestamp)
                    put64(out, m + 11, o["ref"])
                    out[m + 19] = 66 if side == BUY else 83
                    put32(out, m + 20, o["shares"])
                    put64(out, m + 24, inst[i]["stock"])
                    put32(out, m + 32, inst[i]["lo"] + np.int64(o["index"]) * TICK)
                    p = m + ADD_ORDER_LEN
                    slot = o["next"]
    return p


def end_of_snapshot(next_seq: int) -> bytes:
    """The End of Snapshot message: 'G' and the feed's sequence number, 20 ASCII digits."""
    if not 0 < next_seq < 10**20:
        raise ValueError(f"sequence number {next_seq} does not fit 20 digits")
    return b"G" + str(next_seq).rjust(20).encode("ascii")


def snapshot_messages(sim: Simulator, next_seq: int) -> list[bytes]:
    """The snapshot of ``sim``'s books now as ITCH messages (R and H per symbol, A per
    resting order), ending with the End of Snapshot message for ``next_seq``."""
    header = sim._header_blocks()
    msgs: list[bytes] = []
    p = 0
    while p < header.shape[0]:  # the day's R and H, as the feed sent them at the open
        n = int.from_bytes(header[p:p + 2].tobytes(), "big")
        m = header[p + 2:p + 2 + n].tobytes()
        if m[:1] in (b"R", b"H"):
            msgs.append(m)
        p += 2 + n
    inst, levels, orders = sim._inst, sim._levels, sim._orders
    # every live order of the generated flow, and at most one per client slot
    most = int(inst["n_live"].sum()) + int(sim._clients.shape[0])
    clock = int(sim._scal[2])  # S_CLOCK: the engine's time now
    while True:
        out = np.empty(most * (2 + ADD_ORDER_LEN), np.uint8)
        end = int(_add_orders(inst, levels, orders, out, np.int64(clock)))
        if end >= 0:
            break
        most *= 2
    for q in range(0, end, 2 + ADD_ORDER_LEN):
        msgs.append(out[q + 2:q + 2 + ADD_ORDER_LEN].tobytes())
    msgs.append(end_of_snapshot(next_seq))
    return msgs


@dataclass
class _Conn:
    sock: socket.socket
    addr: tuple[str, int]
    last_rx: float
    last_tx: float
    framer: SoupFramer = field(default_factory=SoupFramer)
    tx: bytearray = field(default_factory=bytearray)
    logged_in: bool = False
    closing: bool = False

    @property
    def who(self) -> str:
        return f"{self.addr[0]}:{self.addr[1]}"


class GlimpseServer:
    """The snapshot service on ``(host, port)`` (0: any, see :attr:`port`) for the engine of
    ``sim``; ``next_seq()`` gives the feed's next MoldUDP64 sequence number. ``accounts``:
    ``USER:PASS`` strings or a dict (None: any username and password). ``session``: the
    SoupBinTCP session name (None: a new one)."""

    def __init__(self, sim: Simulator, next_seq: Callable[[], int], host: str = "127.0.0.1",
                 port: int = 0, *, accounts: Iterable[str] | dict[str, str] | None = None,
                 session: str | None = None, heartbeat_s: float = 1.0, timeout_s: float = 15.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.sim, self.next_seq = sim, next_seq
        self.accounts = None if accounts is None else {
            u.upper(): p for u, p in parse_accounts(accounts)}
        self.session = session or new_session_name()
        self.heartbeat_s, self.timeout_s, self.clock = heartbeat_s, timeout_s, clock
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind((host, port))
        self.listener.listen(16)
        self.listener.setblocking(False)
        self.port = self.listener.getsockname()[1]
        self._conns: list[_Conn] = []
        self.counters = {"snapshots": 0, "snapshot_messages": 0, "logins_rejected": 0,
                         "malformed": 0, "dropped": 0}

    def sockets(self) -> list[socket.socket]:
        return [self.listener] + [c.sock for c in self._conns]

    def warm_up(self) -> None:
        """Compile (or load) the snapshot writer and the login reader's framing now, not at
        the first login."""
        snapshot_messages(self.sim, 1)
        SoupFramer().feed(b"")

    def poll(self) -> int:
        """Accept, read, answer logins with a snapshot, send, heartbeat, drop silent
        clients. Returns the work done."""
        work = 0
        now = self.clock()
        while True:
            try:
                sock, addr = self.listener.accept()
            except (BlockingIOError, InterruptedError):
                break
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._conns.append(_Conn(sock, addr, now, now))
            work += 1
        for c in list(self._conns):
            work += self._read(c, now)
            if c.closing and not c.tx:
                self._close(c)
                continue
            if c.logged_in and now - c.last_tx >= self.heartbeat_s:
                self._queue(c, _HEARTBEAT, now)
            if now - c.last_rx > self.timeout_s:
                log.warning("glimpse: %s silent for %.1f s: dropped", c.who, now - c.last_rx)
                self.counters["dropped"] += 1
                self._close(c)
                continue
            self._send(c)
        return work

    def _read(self, c: _Conn, now: float) -> int:
        try:
            data = c.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return 0
        except OSError:
            data = b""
        if not data:
            self._close(c)
            return 1
        c.last_rx = now
        try:
            packets = c.framer.feed(data)
        except SoupError as e:
            self.counters["malformed"] += 1
            log.error("glimpse: %s: %s; connection closed", c.who, e)
            self._close(c)
            return 1
        for pkt in packets:
            if pkt.type == "L" and not c.logged_in:
                self._login(c, pkt, now)
            elif pkt.type == "O":
                c.closing = True
            elif pkt.type == "R":
                pass  # a client heartbeat: last_rx moved on
            else:
                self.counters["malformed"] += 1
                log.error("glimpse: %s: packet type %r at stream offset %d is not one a "
                          "client sends here; connection closed", c.who, pkt.type, pkt.offset)
                self._close(c)
                return 1
        return 1

    def _login(self, c: _Conn, pkt, now: float) -> None:
        f = decode_packet(pkt)
        want = f["requested_session"].strip()
        bad = None
        if self.accounts is not None and self.accounts.get(f["username"].upper()) != \
                f["password"]:
            bad = ("A", f"bad username or password for {f['username']!r}")
        elif want and want != self.session:
            bad = ("S", f"requested session {want!r} is not available (current: "
                        f"{self.session!r})")
        if bad is not None:
            self.counters["logins_rejected"] += 1
            log.warning("glimpse: %s: login rejected (%r): %s", c.who, *bad)
            self._queue(c, login_rejected(bad[0]), now)
            c.closing = True
            return
        msgs = snapshot_messages(self.sim, self.next_seq())
        c.logged_in = True
        self._queue(c, login_accepted(self.session, 1) + b"".join(map(sequenced, msgs)),
                    now)
        self.counters["snapshots"] += 1
        self.counters["snapshot_messages"] += len(msgs)
        log.info("glimpse: %s: snapshot of %d messages, feed from sequence %d", c.who,
                 len(msgs), self.next_seq())

    def _queue(self, c: _Conn, data: bytes, now: float) -> None:
        c.tx += data
        c.last_tx = now

    def _send(self, c: _Conn) -> None:
        if not flush(c.sock, c.tx, f"glimpse: {c.who}"):
            self._close(c)

    def _close(self, c: _Conn) -> None:
        if c in self._conns:
            self._conns.remove(c)
        try:
            c.sock.close()
        except OSError:
            pass

    def stats(self) -> dict[str, int]:
        return {f"glimpse_{k}": v for k, v in self.counters.items()}

    def close(self) -> None:
        for c in list(self._conns):
            self._close(c)
        self.listener.close()

    def __enter__(self) -> GlimpseServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
