"""``MoldRecovery``: the arrays and the socket of MoldUDP64 gap recovery (owner, Python).

The compiled step of a feed handler (:mod:`tickpath.feed.itch.step`) does the work with the
kernels of :mod:`._recovery`; this class allocates their state once, points requests at the
re-request server and reads the counters back.
"""

from __future__ import annotations

import socket

import numpy as np

from .layout import (
    MAX_REQUEST_COUNT,
    N_RECOVERY,
    REQUEST_ADDR,
    REQUEST_BUF,
    RETIRED_KEPT,
    SESSIONS_BUF,
    SLOT_COLUMNS,
    STATE_NAMES,
    Recovery,
)


def sockaddr_in(host: str, port: int) -> bytes:
    """``struct sockaddr_in`` for an IPv4 ``host`` (a name is resolved) and ``port``."""
    if not 0 < port <= 0xFFFF:
        raise ValueError(f"retransmit port {port} is not a UDP port (1-65535)")
    try:
        addr = socket.gethostbyname(host)
    except OSError as e:
        raise ValueError(f"retransmit host {host!r} does not resolve: {e}") from e
    return (socket.AF_INET.to_bytes(2, "little") + port.to_bytes(2, "big")
            + socket.inet_aton(addr) + bytes(8))


def parse_hostport(text: str) -> tuple[str, int]:
    """``HOST:PORT`` -> ``(host, port)``, with an error naming what is wrong."""
    host, sep, port = text.rpartition(":")
    if not sep or not host or not port.isdigit():
        raise ValueError(f"retransmit server {text!r}: expected HOST:PORT")
    return host, int(port)


class MoldRecovery:
    """Gap recovery state for one MoldUDP64 session.

    ``retransmit``: the re-request server ``(host, port)``, or None (gaps are held for late
    packets, then the feed goes stale; nothing is asked for). ``max_packets`` / ``max_bytes``:
    the reorder buffer's bounds. ``timeout_s``: how long a request may go unanswered before it
    is sent again; ``max_attempts``: requests per hole before giving up (without a server, the
    feed waits that many timeouts for late packets). ``history``: messages the server keeps
    (0: unknown); a hole older than that is given up at once. ``max_request``: messages per
    Request Packet. ``max_samples``: recovery times kept. ``answer_size``: the datagram buffer
    for answers read from the handler's own socket. ``silence_s``: a feed that has sent
    nothing, not even a heartbeat, for this long is reported silent (its books not known to
    be exact) until it is heard from again; 0: never (MoldUDP64 venues send a heartbeat
    about every second when quiet).
    """

    def __init__(self, retransmit: tuple[str, int] | None = None, *, max_packets: int = 1024,
                 max_bytes: int = 1 << 20, timeout_s: float = 0.05, max_attempts: int = 5,
                 history: int = 0, max_request: int = MAX_REQUEST_COUNT,
                 max_samples: int = 1 << 14, answer_size: int = 65536,
                 silence_s: float = 2.0) -> None:
        if max_packets < 1 or max_bytes < 1:
            raise ValueError("the reorder buffer needs room for at least one packet "
                             f"(max_packets={max_packets}, max_bytes={max_bytes})")
        if not 0 < max_request <= MAX_REQUEST_COUNT:
            raise ValueError(f"max_request {max_request}: must be 1 to {MAX_REQUEST_COUNT}")
        if silence_s < 0:
            raise ValueError(f"silence_s {silence_s}: must be >= 0 (0: never silent)")
        if timeout_s <= 0 or max_attempts < 1:
            raise ValueError(f"timeout_s ({timeout_s}) must be > 0 and max_attempts "
                             f"({max_attempts}) >= 1")
        self.retransmit = retransmit
        self.rec = np.zeros(N_RECOVERY, np.int64)
        self.held = np.zeros(max_bytes, np.uint8)
        self.slots = np.zeros((max_packets, SLOT_COLUMNS), np.int64)
        self.req = np.zeros(REQUEST_BUF, np.uint8)
        self.rtime = np.zeros(max_samples, np.int64)
        # the sessions followed before, another session's name and its packets, kept until
        # it is followed (layout: RETIRED_KEPT, CANDIDATE_SESSION, SESSION_PACKET)
        self.sessions = np.zeros(SESSIONS_BUF, np.uint8)
        self._answer_size = answer_size
        self.ans = np.zeros(0, np.uint8)
        r = self.rec
        r[Recovery.REQUEST_SEQ] = -1
        r[Recovery.TIMEOUT_NS] = int(timeout_s * 1e9)
        r[Recovery.MAX_ATTEMPTS] = max_attempts
        r[Recovery.HISTORY] = history
        r[Recovery.MAX_REQUEST] = max_request
        r[Recovery.SEND_FD] = -1
        r[Recovery.POLL_FD] = -1
        r[Recovery.SILENCE_NS] = int(silence_s * 1e9)
        if retransmit is not None:
            addr = sockaddr_in(*retransmit)
            self.req[REQUEST_ADDR:REQUEST_ADDR + len(addr)] = np.frombuffer(addr, np.uint8)
            r[Recovery.ADDR_LEN] = len(addr)
        self.own: socket.socket | None = None
        self.mode = "none"  # where requests go from: none | feed socket | own socket

    def send_from(self, sock: socket.socket, *, poll: bool) -> None:
        """Send requests from ``sock``; ``poll``: the handler reads answers from it itself
        (else they arrive with the feed, through the transport)."""
        if self.retransmit is None:
            return
        if poll and self.ans.shape[0] == 0:
            self.ans = np.zeros(self._answer_size, np.uint8)
        self.rec[Recovery.SEND_FD] = sock.fileno()
        self.rec[Recovery.POLL_FD] = sock.fileno() if poll else -1

    def use_feed_socket(self, sock: socket.socket) -> None:
        """Requests go from the socket the feed arrives on: answers come back through it."""
        self.send_from(sock, poll=False)
        self.mode = "feed socket"

    def open_socket(self) -> socket.socket | None:
        """A UDP socket of the handler's own (an ephemeral port on every address) to send
        requests from and read answers on, between datagrams and on idle turns."""
        if self.retransmit is None:
            return None
        if self.own is None:
            self.own = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self.own.setblocking(False)
            self.own.bind(("0.0.0.0", 0))
        self.send_from(self.own, poll=True)
        self.mode = "own socket"
        return self.own

    def close(self) -> None:
        if self.own is not None:
            self.rec[Recovery.SEND_FD] = -1
            self.rec[Recovery.POLL_FD] = -1
            self.own.close()
            self.own = None

    # -- observing -------------------------------------------------------------------------

    @property
    def state(self) -> str:
        """``exact``, ``recovering`` or ``stale``."""
        return STATE_NAMES[int(self.rec[Recovery.STATE])]

    @property
    def exact(self) -> bool:
        return int(self.rec[Recovery.STATE]) == 0

    @property
    def silent(self) -> bool:
        """Whether nothing has arrived for longer than ``silence_s`` (seen on idle turns)."""
        return bool(self.rec[Recovery.SILENT])

    def recovery_ns(self) -> np.ndarray:
        """The recovery times kept (gap seen -> books exact again), ns, oldest first."""
        n = int(self.rec[Recovery.SAMPLES])
        cap = self.rtime.shape[0]
        if n <= cap:
            return self.rtime[:n].copy()
        i = n % cap
        return np.concatenate([self.rtime[i:], self.rtime[:i]])

    def stats(self) -> dict[str, int | str]:
        out: dict[str, int | str] = {w.name.lower(): int(self.rec[w]) for w in Recovery}
        out["state"] = self.state
        n = int(self.rec[Recovery.SESSIONS])
        at = ((n - 1) % RETIRED_KEPT) * 10
        out["retired_session"] = bytes(self.sessions[at:at + 10]).decode(
            "ascii", "replace").rstrip(" \x00") if n else ""
        out["mode"] = self.mode
        return out
