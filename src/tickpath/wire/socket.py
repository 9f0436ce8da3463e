"""The baseline transport: a blocking kernel UDP socket (the traditional stack).

Receive timestamps come from the kernel (``SO_TIMESTAMPNS``: CLOCK_REALTIME when the packet
reached the socket layer), so the kernel's part of the path can be told apart from ours. This
receiver makes a Python call per packet; it is the yardstick the faster transports beat.
"""

from __future__ import annotations

import ipaddress
import os
import socket
import struct

import numpy as np

from ..telemetry.clock import now_ns

# Linux values; the socket module does not export all of them
SO_TIMESTAMPNS = getattr(socket, "SO_TIMESTAMPNS", 35)
SO_RCVBUFFORCE = getattr(socket, "SO_RCVBUFFORCE", 33)
IP_MULTICAST_ALL = getattr(socket, "IP_MULTICAST_ALL", 49)  # linux/in.h
_TS = struct.Struct("@qq")


def is_multicast(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_multicast
    except ValueError:
        return False


def udp_drops(sock: socket.socket) -> int:
    """Datagrams the kernel dropped for this UDP socket (its receive buffer was full, or a
    filter refused them): the ``drops`` column of this namespace's /proc/net/udp for the
    socket's inode. -1 when it cannot be read. Cold path: for stats(), not per packet."""
    try:
        inode = str(os.fstat(sock.fileno()).st_ino)
        with open("/proc/thread-self/net/udp") as f:
            next(f)
            for line in f:
                cols = line.split()
                if len(cols) > 12 and cols[9] == inode:
                    return int(cols[12])
    except (OSError, ValueError, StopIteration):
        pass
    return -1


def check_lines(host: str, line_b: str | None) -> None:
    """Line B is another multicast group on line A's port: refuse anything else."""
    if line_b is not None and not (is_multicast(host) and is_multicast(line_b)):
        raise ValueError(f"line B {line_b!r} and line A {host!r}: both lines are "
                         "multicast groups on the same port")


def bind_lines(sock: socket.socket, host: str, port: int, iface_ip: str,
               line_b: str | None = None) -> None:
    """Bind ``sock`` to the feed: ``(host, port)``, joining the group when ``host`` is
    multicast; with ``line_b`` (another group, same port) the port on any address and both
    groups joined, so both lines come to this one socket and the handler takes each sequence
    number once."""
    if not is_multicast(host):
        sock.bind((host, port))
        return
    # only the groups joined here: Linux otherwise hands a socket bound to any address every
    # group any socket of the host joined on the port (IP_MULTICAST_ALL), another feed's too
    sock.setsockopt(socket.IPPROTO_IP, IP_MULTICAST_ALL, 0)
    sock.bind((host if line_b is None else "0.0.0.0", port))
    for group in (host,) if line_b is None else (host, line_b):
        mreq = socket.inet_aton(group) + socket.inet_aton(iface_ip)
        sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreq)


class UdpReceiver:
    """A UDP socket bound to ``(host, port)``; joins the group when ``host`` is multicast, and
    with ``line_b`` (another group, same port) both groups on a socket bound to the port.

    ``recv()`` returns ``(view, rx_ns)``: the datagram as a view of the receiver's own buffer
    (valid until the next call) and the kernel's receive timestamp in ns (CLOCK_REALTIME), or
    None on timeout.
    """

    name = "socket"

    def __init__(self, host: str = "127.0.0.1", port: int = 26400, *, iface_ip: str = "0.0.0.0",
                 rcvbuf: int = 32 << 20, max_datagram: int = 65536,
                 line_b: str | None = None) -> None:
        self.host, self.port = host, port
        check_lines(host, line_b)
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._set_rcvbuf(rcvbuf)
        self.sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
        try:
            bind_lines(self.sock, host, port, iface_ip, line_b)
        except OSError as e:
            self.sock.close()
            raise OSError(e.errno, f"cannot receive UDP on {host}:{port}: {e.strerror}") from e
        self.buf = np.empty(max_datagram, np.uint8)
        self._mv = memoryview(self.buf)
        self._anc = socket.CMSG_SPACE(_TS.size)
        self.packets = 0
        self.bytes = 0
        self.truncated = 0

    def _set_rcvbuf(self, size: int) -> None:
        # a deep buffer rides out bursts; root may exceed net.core.rmem_max
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, size)
        except OSError:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, size)

    def settimeout(self, seconds: float | None) -> None:
        self.sock.settimeout(seconds)

    def recv(self) -> tuple[np.ndarray, int] | None:
        try:
            n, anc, flags, _ = self.sock.recvmsg_into([self._mv], self._anc)
        except (TimeoutError, BlockingIOError):
            return None
        rx = 0
        for level, typ, data in anc:
            if level == socket.SOL_SOCKET and typ == SO_TIMESTAMPNS:
                sec, nsec = _TS.unpack_from(data)
                rx = sec * 1_000_000_000 + nsec
        if flags & socket.MSG_TRUNC:
            self.truncated += 1
            return None
        self.packets += 1
        self.bytes += n
        return self.buf[:n], rx or now_ns()

    def stats(self) -> dict[str, int]:
        return {"packets": self.packets, "bytes": self.bytes, "truncated": self.truncated,
                "drops": udp_drops(self.sock)}

    def stamp_source(self) -> str:
        """Which clock stamped the datagrams (SO_TIMESTAMPNS: the kernel, in software)."""
        from .hwstamp import KERNEL

        return KERNEL

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> UdpReceiver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
