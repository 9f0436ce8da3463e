"""Capture the feed's frames from an interface into a pcap or pcapng file.

``Capture(iface, host, port)`` opens an AF_PACKET socket on ``iface`` with the packet
transport's classic BPF program (:func:`tickpath.wire.packet.feed_filter`: IPv4/UDP to the
feed's address and port, untagged or behind one 802.1Q tag, incoming frames only), asks for
the kernel's receive timestamps (``SO_TIMESTAMPNS``: CLOCK_REALTIME, nanoseconds, the path's one
clock) and the packet's auxiliary data (``PACKET_AUXDATA``: the wire length and the VLAN tag
the kernel took out of the frame), and writes every frame with its stamp.

Cold path, plain Python: a ``recvmsg`` per frame keeps up with a feed at tens of thousands of
packets a second; the kernel's drop count (``PACKET_STATISTICS``) says when it did not.

The socket is made with protocol 0 (nothing delivered), the filter attached, and only then
bound to the interface with ETH_P_ALL, so nothing outside the filter is ever queued. For a
multicast group, a UDP socket (never bound, so it takes no port) holds the membership on the
interface for as long as the capture runs: the join is what makes the NIC, and a switch,
deliver the group. ``promisc`` puts the interface in promiscuous mode for frames addressed to
other hosts (a mirror port).

    0        12                         12|16
    +--------+--------------------------+----------------+
    | dst src| 802.1Q tag (re-inserted) | ethertype ...  |   frame as written
    +--------+--------------------------+----------------+
"""

from __future__ import annotations

import errno
import ipaddress
import socket
import struct
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from . import packet_layout as P
from .pcap import PcapngWriter, PcapWriter
from .socket import SO_RCVBUFFORCE, SO_TIMESTAMPNS, is_multicast

__all__ = ["Capture", "CaptureReport"]

PACKET_ADD_MEMBERSHIP = 1  # linux/if_packet.h
PACKET_MR_PROMISC = 1
PACKET_AUXDATA = 8
ETH_P_ALL = 0x0003
# struct tpacket_auxdata { u32 tp_status, tp_len, tp_snaplen; u16 tp_mac, tp_net,
#                          tp_vlan_tci, tp_vlan_tpid; }                          20 bytes
_AUXDATA = struct.Struct("=IIIHHHH")
_TIMESPEC = struct.Struct("@qq")
_PACKET_MREQ = struct.Struct("=iHH8s")  # struct packet_mreq: ifindex, type, alen, address
_NO_RAW = ("capture: an AF_PACKET socket needs CAP_NET_RAW: run as root, or grant it "
           "(setcap cap_net_raw+ep on the interpreter)")


@dataclass
class CaptureReport:
    packets: int  # frames written
    bytes: int  # their bytes on the wire
    seconds: float
    drops: int  # frames the kernel dropped (the socket's queue was full)
    stopped: str  # what ended it: count, seconds, idle, stop


class Capture:
    """An AF_PACKET socket on ``iface`` taking the frames of the feed at ``host``:``port``
    (``port`` 0: every frame of the interface, no filter; ``host`` 0.0.0.0: any address).
    ``iface_ip`` names the address a multicast group is joined on. Raises PermissionError
    without CAP_NET_RAW and OSError naming the interface that does not exist."""

    def __init__(self, iface: str, host: str = "0.0.0.0", port: int = 0, *,
                 iface_ip: str = "0.0.0.0", promisc: bool = False, snaplen: int = 65535,
                 rcvbuf: int = 32 << 20) -> None:
        from .packet import attach_filter, feed_filter

        if not 0 <= port <= 0xFFFF:
            raise ValueError(f"capture: port {port} out of range 0-65535")
        if not 64 <= snaplen <= 262_144:
            raise ValueError(f"capture: snaplen {snaplen} must be 64 to 262144 bytes")
        self.iface, self.host, self.port, self.snaplen = iface, host, port, snaplen
        try:
            self.ifindex = socket.if_nametoindex(iface)
        except OSError as e:
            raise OSError(errno.ENODEV, f"capture: no network interface named {iface!r} here "
                                        f"(see `ip link`)") from e
        dst_ip = int(ipaddress.IPv4Address(host))
        self.join: socket.socket | None = None
        try:
            self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)
        except PermissionError as e:
            raise PermissionError(e.errno, _NO_RAW) from e
        try:
            if port:
                attach_filter(self.sock, feed_filter(port, dst_ip))
            self.sock.setsockopt(socket.SOL_SOCKET, SO_TIMESTAMPNS, 1)
            self.sock.setsockopt(P.SOL_PACKET, PACKET_AUXDATA, 1)
            try:
                # a deep queue rides out bursts; root may exceed net.core.rmem_max
                self.sock.setsockopt(socket.SOL_SOCKET, SO_RCVBUFFORCE, rcvbuf)
            except OSError:
                self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
            self.sock.bind((iface, ETH_P_ALL))  # from here on frames arrive
            if promisc:
                self.sock.setsockopt(P.SOL_PACKET, PACKET_ADD_MEMBERSHIP, _PACKET_MREQ.pack(
                    self.ifindex, PACKET_MR_PROMISC, 0, b""))
            if is_multicast(host):
                self.join = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
                mreqn = struct.pack("=4s4si", socket.inet_aton(host),
                                    socket.inet_aton(iface_ip), self.ifindex)
                self.join.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreqn)
        except OSError as e:
            self.close()
            raise OSError(e.errno, f"capture: cannot capture {host}:{port} on {iface}: "
                                   f"{e.strerror or e}") from e
        self.buf = np.empty(snaplen + 4, np.uint8)  # room to put a VLAN tag back
        self._view = memoryview(self.buf)
        self._anc = socket.CMSG_SPACE(_TIMESPEC.size) + socket.CMSG_SPACE(_AUXDATA.size)
        self.packets = self.bytes = self.drops = 0

    def recv(self) -> tuple[memoryview, int, int] | None:
        """One frame: ``(frame view, kernel receive stamp ns, length on the wire)``, valid
        until the next call; None when none came within the socket's timeout."""
        try:
            n, anc, _flags, _addr = self.sock.recvmsg_into([self._view[4:]], self._anc,
                                                           socket.MSG_TRUNC)
        except (TimeoutError, BlockingIOError):
            return None
        ts = 0
        wire = n
        tag = None
        for level, kind, data in anc:
            if level == socket.SOL_SOCKET and kind == SO_TIMESTAMPNS:
                sec, nsec = _TIMESPEC.unpack_from(data)
                ts = sec * 1_000_000_000 + nsec
            elif level == P.SOL_PACKET and kind == PACKET_AUXDATA:
                status, wire, _snap, _mac, _net, tci, tpid = _AUXDATA.unpack_from(data)
                if status & P.TP_STATUS_VLAN_VALID:
                    tag = (tpid if status & P.TP_STATUS_VLAN_TPID_VALID else 0x8100, tci)
        got = min(n, self.snaplen)
        if tag is None:
            return self._view[4:4 + got], ts or time.clock_gettime_ns(time.CLOCK_REALTIME), wire
        # the kernel took the outer tag out of the frame: put it back after the addresses,
        # as it was on the wire (the 4 bytes in front of the frame make room for it)
        if got >= 12:
            self.buf[0:12] = self.buf[4:16]
            self.buf[12:16] = np.frombuffer(struct.pack("!HH", *tag), np.uint8)
        return self._view[:4 + got], ts, wire + 4

    def run(self, writer: PcapWriter | PcapngWriter, *, count: int | None = None,
            seconds: float | None = None, idle: float | None = None,
            progress: Callable[[int, int], None] | None = None,
            should_stop: Callable[[], bool] | None = None, tick_s: float = 0.25,
            ) -> CaptureReport:
        """Write frames to ``writer`` until ``count`` frames, ``seconds`` elapsed, ``idle``
        seconds without a frame after the first, or ``should_stop()``. ``progress(packets,
        drops)`` is called every ``tick_s``. With none of the limits it runs until
        interrupted (KeyboardInterrupt ends it cleanly)."""
        self.sock.settimeout(min(tick_s, idle or tick_s))
        t0 = last = time.monotonic()
        next_tick = t0 + tick_s
        stopped = "stop"
        try:
            while True:
                got = self.recv()
                now = time.monotonic()
                if got is not None:
                    frame, ts, wire = got
                    writer.write(frame, ts, orig_len=wire)
                    self.packets += 1
                    self.bytes += wire
                    last = now
                    if count is not None and self.packets >= count:
                        stopped = "count"
                        break
                if seconds is not None and now - t0 >= seconds:
                    stopped = "seconds"
                    break
                if idle is not None and self.packets and now - last >= idle:
                    stopped = "idle"
                    break
                if now >= next_tick:
                    next_tick = now + tick_s
                    if progress is not None:
                        progress(self.packets, self.kernel_drops())
                    if should_stop is not None and should_stop():
                        break
        except KeyboardInterrupt:
            stopped = "interrupted"
        writer.flush()
        return CaptureReport(self.packets, self.bytes, time.monotonic() - t0,
                             self.kernel_drops(), stopped)

    def kernel_drops(self) -> int:
        """Frames the kernel dropped so far (PACKET_STATISTICS; reading resets the kernel's
        count, so a running total is kept)."""
        if self.sock.fileno() >= 0:
            raw = self.sock.getsockopt(P.SOL_PACKET, P.PACKET_STATISTICS, 8)
            self.drops += int.from_bytes(raw[4:8], "little")  # tp_packets, tp_drops
        return self.drops

    def close(self) -> None:
        if self.join is not None:
            self.join.close()
            self.join = None
        self.sock.close()

    def __enter__(self) -> Capture:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
