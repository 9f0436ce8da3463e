"""Test helpers for the venue's recovery services: a UDP receiver for a MoldUDP64 line, and
a requester that talks to a re-request server from its own address."""

from __future__ import annotations

import socket
import time

from tickpath.feed.moldudp64.layout import END_OF_SESSION, HEADER_LEN

_PATIENCE_S = 5.0  # the most a read waits for packets already sent (loopback: at once)


def udp_socket(host: str = "127.0.0.1") -> socket.socket:
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 8 << 20)
    s.bind((host, 0))
    return s


class Line:
    """Receives one line's datagrams on 127.0.0.1 (``port``)."""

    def __init__(self) -> None:
        self.sock = udp_socket()
        self.port = self.sock.getsockname()[1]
        self.packets: list[bytes] = []

    def take(self, n: int) -> list[bytes]:
        """Read until ``n`` packets have arrived in all (or give up after a while: the
        caller's assertion on the count then says what is missing)."""
        self.sock.settimeout(_PATIENCE_S)
        try:
            while len(self.packets) < n:
                self.packets.append(self.sock.recv(65536))
        except TimeoutError:
            pass
        return self.packets

    def drain(self, quiet_s: float = 0.2) -> list[bytes]:
        """Read until nothing more arrives for ``quiet_s`` (the sender is done: the count
        is then what it sent)."""
        self.sock.settimeout(quiet_s)
        try:
            while True:
                self.packets.append(self.sock.recv(65536))
        except TimeoutError:
            pass
        return self.packets

    def messages(self) -> dict[int, bytes]:
        """Sequence number -> message block (length prefix included) of every data packet."""
        out: dict[int, bytes] = {}
        for pkt in self.packets:
            out.update(blocks_of(pkt))
        return out

    def close(self) -> None:
        self.sock.close()


def header(pkt: bytes) -> tuple[bytes, int, int]:
    """``(session, sequence number, count)`` of a Downstream Packet."""
    return pkt[:10], int.from_bytes(pkt[10:18], "big"), int.from_bytes(pkt[18:20], "big")


def blocks_of(pkt: bytes) -> dict[int, bytes]:
    """Sequence number -> message block of a Downstream Packet."""
    _, seq, count = header(pkt)
    out: dict[int, bytes] = {}
    if count == END_OF_SESSION:
        return out
    p = HEADER_LEN
    for i in range(count):
        n = 2 + int.from_bytes(pkt[p:p + 2], "big")
        out[seq + i] = pkt[p:p + n]
        p += n
    assert p == len(pkt), "blocks do not fill the packet"
    return out


class Requester:
    """Sends Request Packets from ``host`` (any 127.x address is loopback on Linux) and reads
    the answers. ``send`` polls the server until it has read the request: the test drives
    the venue's loop."""

    def __init__(self, server, host: str = "127.0.0.1") -> None:
        self.server = server
        self.sock = udp_socket(host)
        self.sock.settimeout(_PATIENCE_S)
        self.addr = self.sock.getsockname()

    def send(self, request: bytes) -> None:
        self.sock.sendto(request, ("127.0.0.1", self.server.port))
        deadline = time.monotonic() + _PATIENCE_S
        while self.server.poll() == 0 and time.monotonic() < deadline:
            time.sleep(0.0005)

    def recv(self) -> bytes:
        return self.sock.recv(65536)

    def close(self) -> None:
        self.sock.close()


class Turns:
    """What a Requester drives for a live venue: the venue's turn, which polls its
    re-request server (``port``)."""

    def __init__(self, venue) -> None:
        self.venue, self.port = venue, venue.retransmit_port

    def poll(self) -> int:
        return self.venue.turn()
