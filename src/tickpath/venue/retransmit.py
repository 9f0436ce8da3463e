"""The venue's MoldUDP64 re-request server: retransmits what the feed published.

A receiver that finds a gap sends a Request Packet to this UDP port::

    0                    10                   18        20
    +--------------------+--------------------+---------+
    | session (10 alnum) | sequence number u64| count u16|   (big-endian)
    +--------------------+--------------------+---------+

and gets standard Downstream Packets, unicast to the request's source address, holding the
messages from that sequence number as they were first sent (the publisher's
:class:`~tickpath.venue.history.MessageHistory`), packed by the feed's own compiled packer.

Caps, as a real server has them: at most ``max_messages`` messages a request, in at most
``max_packets`` packets of at most ``max_payload`` bytes (header included; a message larger
than that goes alone). The specification answers a request with what fits one packet and
the receiver asks again for the rest: ``max_packets=1``, the default, does that.

Rate limit: a token bucket per requester (source IP address: a new source port is free to
take, a new address is not), ``rate`` messages a second up to ``burst``; a request is
answered with at most as many messages as the bucket holds whole tokens, and refused
(counted ``rate_limited``) when it holds less than one. Messages answered take their
tokens. At most ``max_requesters`` buckets are kept (the least recently seen is forgotten).

Not answered, counted and logged once per reason and requester address: a datagram that is
not 20 bytes (``malformed``), a request for another session (``wrong_session``), a count of
0 (``empty``), a first message older than the history holds (``too_old``: it is gone, and a
packet starting later would pass over it), a first message not yet sent (``beyond_end``).
A request running past the newest message is answered with what exists (``shortened``,
like any answer cut by a cap or the bucket).

Non-blocking, driven by :meth:`RetransmitServer.poll` from the venue's loop, no threads (as
:class:`~tickpath.venue.order_entry.OrderEntryServer`). An answer the socket has no room
for is dropped and counted (``send_failed``): the receiver asks again.
"""

from __future__ import annotations

import enum
import logging
import socket
import time
from collections import OrderedDict
from collections.abc import Callable

import numpy as np

from ..feed.moldudp64 import session_bytes
from ..feed.moldudp64._kernels import pack
from ..feed.moldudp64.layout import DEFAULT_MAX_PAYLOAD, HEADER_LEN, SESSION_LEN
from .history import MessageHistory

log = logging.getLogger("tickpath.venue.retransmit")

__all__ = ["REQUEST_LEN", "RetransmitServer", "Retx", "request_packet"]

REQUEST_LEN = 20  # session 10, sequence number 8, requested message count 2
_MAX_BLOCK = 2 + 0xFFFF  # the largest message block MoldUDP64 can carry
_LOGGED_MOST = 1024  # (reason, address) pairs logged; then counted only


class Retx(enum.IntEnum):
    """The server's int64 counters."""

    REQUESTS = 0  # datagrams received
    ANSWERED = 1  # requests answered (with one message or more)
    PACKETS = 2  # Downstream Packets sent
    MESSAGES = 3  # messages retransmitted
    BYTES = 4  # UDP payload bytes sent
    SHORTENED = 5  # answered with fewer messages than requested (caps, bucket, end)
    MALFORMED = 6  # not a 20-byte request
    WRONG_SESSION = 7
    EMPTY = 8  # requested message count 0
    TOO_OLD = 9  # first requested message no longer held
    BEYOND_END = 10  # first requested message not sent yet
    RATE_LIMITED = 11  # refused: the requester's bucket held less than one message
    SEND_FAILED = 12  # an answer the socket had no room for (or refused): dropped


N_RETX = len(Retx)


def request_packet(session: str | bytes, seq: int, count: int) -> bytes:
    """A MoldUDP64 Request Packet: ``count`` messages from sequence number ``seq``."""
    return session_bytes(session).tobytes() + seq.to_bytes(8, "big") + count.to_bytes(2, "big")


class _Bucket:
    __slots__ = ("tokens", "at")

    def __init__(self, tokens: float, at: float) -> None:
        self.tokens, self.at = tokens, at


class RetransmitServer:
    """Answers MoldUDP64 Request Packets for ``session`` on UDP ``(host, port)`` (port 0:
    any, see :attr:`port`) from ``history``. Caps and rate limit: see the module doc.
    ``clock`` (seconds, monotonic) drives the buckets; tests pass their own."""

    def __init__(self, history: MessageHistory, session: str | bytes | np.ndarray,
                 host: str = "127.0.0.1", port: int = 0, *, max_messages: int = 1000,
                 max_packets: int = 1, max_payload: int = DEFAULT_MAX_PAYLOAD,
                 rate: float = 50_000.0, burst: float = 10_000.0, max_requesters: int = 4096,
                 reads_per_poll: int = 64, clock: Callable[[], float] = time.monotonic,
                 sndbuf: int = 4 << 20) -> None:
        if not 1 <= max_messages <= 0xFFFE:
            raise ValueError(f"retransmit: max_messages {max_messages} must be 1..65534")
        if max_packets < 1:
            raise ValueError(f"retransmit: max_packets {max_packets} must be at least 1")
        if max_payload < HEADER_LEN + 2:
            raise ValueError(f"retransmit: max_payload {max_payload} must hold a header and "
                             f"a block ({HEADER_LEN + 2} bytes)")
        if rate <= 0 or burst < 1:
            raise ValueError(f"retransmit: rate {rate} must be above 0 messages/s and burst "
                             f"{burst} at least 1 message")
        self.history = history
        self.session = (session.copy() if isinstance(session, np.ndarray)
                        else session_bytes(session))
        if self.session.shape != (SESSION_LEN,):
            raise ValueError(f"retransmit: a session is {SESSION_LEN} bytes")
        self._session_raw = self.session.tobytes()
        self.max_messages, self.max_packets, self.max_payload = max_messages, max_packets, \
            max_payload
        self.rate, self.burst, self.max_requesters = float(rate), float(burst), max_requesters
        self.reads_per_poll, self.clock = reads_per_poll, clock
        self.counters = np.zeros(N_RETX, np.int64)
        self.out = np.zeros(max_packets * (max_payload + HEADER_LEN) + HEADER_LEN + _MAX_BLOCK,
                            np.uint8)
        self.bounds = np.zeros(max_packets + 1, np.int64)
        self.counts = np.zeros(max_packets, np.int64)
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()
        self._logged: set[tuple[str, str]] = set()
        self._rx = bytearray(2048)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, sndbuf)
            self.sock.bind((host, port))
        except OSError as e:
            self.sock.close()
            raise OSError(e.errno, f"retransmit: cannot listen on udp://{host}:{port}: "
                                   f"{e.strerror}") from e
        self.sock.setblocking(False)
        self.host = host

    @property
    def port(self) -> int:
        return self.sock.getsockname()[1]

    def sockets(self) -> list[socket.socket]:
        """What to wait on (``select``) between turns."""
        return [self.sock]

    def warm_up(self) -> None:
        """Compile (or load) the packer with the exact argument types of an answer: packs
        nothing, sends nothing."""
        pack(self.out, 0, 0, self.session, 1, self.max_payload, 0xFFFE, self.out, 0,
             self.bounds, self.counts)

    def poll(self) -> int:
        """Read and answer the requests waiting (at most ``reads_per_poll``). Returns the
        requests read."""
        n = 0
        while n < self.reads_per_poll:
            try:
                size, addr = self.sock.recvfrom_into(self._rx)
            except (BlockingIOError, InterruptedError):
                break
            except OSError as e:  # an ICMP error from an earlier answer: nothing to read
                log.debug("retransmit: receive reported %s", e)
                n += 1
                continue
            n += 1
            self.handle(memoryview(self._rx)[:size], addr)
        return n

    def handle(self, request: bytes | memoryview, addr: tuple[str, int]) -> int:
        """Answer one request that came from ``addr``. Returns the messages sent."""
        c = self.counters
        c[Retx.REQUESTS] += 1
        if len(request) != REQUEST_LEN:
            return self._refuse(Retx.MALFORMED, addr, f"{len(request)} bytes, not a "
                                                      f"{REQUEST_LEN}-byte Request Packet")
        if bytes(request[:SESSION_LEN]) != self._session_raw:
            return self._refuse(Retx.WRONG_SESSION, addr,
                                f"session {bytes(request[:SESSION_LEN])!r}, this server "
                                f"answers {self._session_raw!r}")
        seq = int.from_bytes(request[10:18], "big")
        want = int.from_bytes(request[18:20], "big")
        h = self.history
        if want == 0:
            return self._refuse(Retx.EMPTY, addr, f"requested message count 0 (from {seq})")
        if seq >= h.next_seq:
            return self._refuse(Retx.BEYOND_END, addr,
                                f"sequence number {seq} not sent yet (next: "
                                f"{h.next_seq or 'nothing sent'})")
        if seq < h.first:
            return self._refuse(Retx.TOO_OLD, addr, f"sequence number {seq} no longer held "
                                                    f"(oldest held: {h.first})")
        bucket = self._bucket(addr[0])
        n = min(want, self.max_messages, h.next_seq - seq, int(bucket.tokens))
        if n < 1:
            return self._refuse(Retx.RATE_LIMITED, addr,
                                f"over {self.rate:,.0f} messages/s (burst {self.burst:,.0f})")
        a, b = h.span(seq, n)
        npk, nxt, _, _ = pack(h.arena, a, b, self.session, seq, self.max_payload, 0xFFFE,
                              self.out, 0, self.bounds, self.counts)
        sent = self._send(int(npk), addr)
        bucket.tokens -= sent
        if sent:
            c[Retx.ANSWERED] += 1
            c[Retx.MESSAGES] += sent
            if sent < want:
                c[Retx.SHORTENED] += 1
        return sent

    def _send(self, npk: int, addr: tuple[str, int]) -> int:
        sent = 0
        mv = memoryview(self.out)
        for i in range(npk):
            p, q = int(self.bounds[i]), int(self.bounds[i + 1])
            try:
                self.sock.sendto(mv[p:q], addr)
            except OSError as e:  # full, or the requester's port refused an earlier answer
                self._refuse(Retx.SEND_FAILED, addr, f"answer not sent ({e.strerror or e})")
                break
            self.counters[Retx.PACKETS] += 1
            self.counters[Retx.BYTES] += q - p
            sent += int(self.counts[i])
        return sent

    def _bucket(self, who: str) -> _Bucket:
        now = self.clock()
        b = self._buckets.get(who)
        if b is None:
            if len(self._buckets) >= self.max_requesters:
                self._buckets.popitem(last=False)
            b = self._buckets[who] = _Bucket(self.burst, now)
        else:
            self._buckets.move_to_end(who)
            b.tokens = min(self.burst, b.tokens + (now - b.at) * self.rate)
            b.at = now
        return b

    def _refuse(self, reason: Retx, addr: tuple[str, int], why: str) -> int:
        self.counters[reason] += 1
        key = (reason.name, addr[0])
        if key not in self._logged and len(self._logged) < _LOGGED_MOST:
            self._logged.add(key)
            log.warning("retransmit: request from %s:%d not answered: %s: %s (further ones "
                        "from this address counted only)", addr[0], addr[1],
                        reason.name.lower(), why)
        return 0

    def stats(self) -> dict[str, int]:
        """The counters, named ``retransmit_<counter>``."""
        return {f"retransmit_{r.name.lower()}": int(self.counters[r]) for r in Retx}

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> RetransmitServer:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
