"""The packet sender: an AF_PACKET transmit ring mapped into the process, filled from compiled
code, each MoldUDP64 packet built in place as one whole Ethernet frame.

``PACKET_TX_RING`` (TPACKET_V2) is the receive ring's mirror: fixed frames, each starting with
a ``struct tpacket2_hdr`` (:mod:`tickpath.wire.packet_layout`) whose status word says who owns
it. The loop takes the next frame when it is TP_STATUS_AVAILABLE, writes the frame at offset
``TPACKET2_HDRLEN - sizeof(struct sockaddr_ll)`` (32), sets ``tp_len``, stores
TP_STATUS_SEND_REQUEST (release ordering: the frame is complete before the kernel may see it)
and kicks the kernel with one ``sendto(fd, NULL, 0, MSG_DONTWAIT, sockaddr_ll)``, which sends
every requested frame straight to the device (no IP, UDP or socket layer on the sending side)
and hands each back as TP_STATUS_AVAILABLE once its buffer is freed::

    frame  0         32                  46              66         74
           | tpacket2_hdr | Ethernet II | IPv4 (no options) | UDP    | MoldUDP64 packet ... |
           | status, len  | dst src 0800| csum, len, ident   | csum 0 | header | blocks      |
                          ^ tp_len bytes from here go on the wire

The headers are a template made once (addresses, ports, TTL); per packet the loop writes the
IPv4 total length, identification and header checksum and the UDP length, copies the packet,
then, just before the kick, stamps its ITCH timestamps (the stamp is taken in compiled code).
The UDP checksum is 0 ("none", allowed for IPv4). Bursts fill up to ``batch`` frames per kick;
a paced load kicks each frame.

Destination MAC: a group's 01:00:5e address (:func:`tickpath.wire.pcap.multicast_mac`); for
unicast the neighbour (the next hop's entry in the kernel's ARP table, after a one-datagram
probe through a kernel socket to the discard port), or ``dst_mac``; on ``lo`` zeros. Source
MAC and IPv4 address are the interface's; the source port is a UDP socket's, held open.

A full ring (every frame still with the kernel) waits for room, counted in ``Tx.WAITS``; a
frame the kernel refuses (TP_STATUS_WRONG_FORMAT) is counted in ``Tx.WRONG_FORMAT`` and stops
the run with an error naming it. Needs CAP_NET_RAW (root); the socket senders need nothing.
"""

from __future__ import annotations

import errno as E
import ipaddress
import math
import mmap
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numba import njit

from ..ring.mapping import unmap
from ..telemetry.nclock import realtime_ns
from . import layout as L
from . import packet_layout as P
from .libc import errno, sendto
from .packet import interface_addresses, load_acquire, store_release
from .pcap import multicast_mac
from .send import (
    FAILED,
    REFUSED_FRAME,
    SENT,
    STALL_NS,
    STALLED,
    _Sender,
    account,
    pace,
    wait_room,
)
from .stamping import stamp_packet

__all__ = ["PacketTxSender", "neighbour_mac", "route_for"]

#: where a TX frame's data begins (the kernel's tp_hdrlen - sizeof(struct sockaddr_ll))
DATA = P.TPACKET2_HDRLEN - P.SOCKADDR_LL_SIZE
IP_AT = P.ETH_HLEN
UDP_AT = IP_AT + 20
HEADERS = UDP_AT + 8  # Ethernet + IPv4 + UDP: 42 bytes before the payload
_AVAILABLE = P.TP_STATUS_AVAILABLE
_SEND_REQUEST = P.TP_STATUS_SEND_REQUEST
_WRONG = P.TP_STATUS_WRONG_FORMAT
_EAGAIN, _ENOBUFS, _EINTR, _EMSGSIZE = E.EAGAIN, E.ENOBUFS, E.EINTR, E.EMSGSIZE
_AF_PACKET = 17

_NO_RAW = ("packet sender: opening an AF_PACKET socket needs CAP_NET_RAW: run as root, or "
           "grant the capability (setcap cap_net_raw+ep on the Python interpreter); the "
           "sendmmsg and sendto senders need nothing")


# ------------------------------------------------------------------------ compiled kernels


@njit(cache=True, nogil=True)
def ipv4_checksum(buf, p):
    """The header checksum of the 20-byte IPv4 header at ``buf[p:]`` (checksum field 0)."""
    s = np.int64(0)
    for k in range(10):
        s += (np.int64(buf[p + 2 * k]) << 8) | np.int64(buf[p + 2 * k + 1])
    s = (s & 0xFFFF) + (s >> 16)
    s = (s & 0xFFFF) + (s >> 16)
    return (~s) & 0xFFFF


@njit(cache=True, nogil=True)
def build_frame(ring, d, hdr, out, a, n, ident):
    """Write the frame for payload ``out[a:a+n]`` at ``ring[d:]``; returns its length."""
    ring[d:d + HEADERS] = hdr
    ip = d + IP_AT
    total = 20 + 8 + n
    ring[ip + 2] = total >> 8
    ring[ip + 3] = total & 0xFF
    ring[ip + 4] = (ident >> 8) & 0xFF
    ring[ip + 5] = ident & 0xFF
    c = ipv4_checksum(ring, ip)  # the template's checksum field is 0
    ring[ip + 10] = c >> 8
    ring[ip + 11] = c & 0xFF
    u = d + UDP_AT
    ring[u + 4] = (8 + n) >> 8
    ring[u + 5] = (8 + n) & 0xFF
    ring[d + HEADERS:d + HEADERS + n] = out[a:a + n]
    return HEADERS + n


@njit(cache=True, nogil=True)
def kick(fd, sll_ptr, pptr, tx, stall_ns):
    """Ask the kernel to send every requested frame; wait and retry while it has no room.
    Returns SENT, STALLED, or FAILED (errno in ``tx[ERRNO]``)."""
    since = np.int64(0)
    while True:
        r = sendto(fd, 0, 0, L.MSG_DONTWAIT, sll_ptr, P.SOCKADDR_LL_SIZE)
        if r >= 0:
            tx[3] += 1
            return SENT
        e = errno()
        if e == _EAGAIN or e == _ENOBUFS:
            since = wait_room(pptr, tx, since, stall_ns)
            if since < 0:
                return STALLED
        elif e != _EINTR:
            tx[6] = e
            return FAILED


@njit(cache=True, nogil=True)
def send_frames(fd, ring, ring32, frame_size, frame_nr, hdr, sll, out, bounds, counts, npk,
                batch, rate, stamper, tx, pfd, stall_ns):
    """Send packets ``0 .. npk-1`` through the TX ring, up to ``batch`` frames a kick (one
    when paced). Returns ``(exit, packets sent)``."""
    sll_ptr = sll.ctypes.data
    pptr = pfd.ctypes.data
    room = frame_size - DATA
    i = 0
    since = np.int64(0)
    while i < npk:
        kmax = batch
        if rate > 0:
            pace(tx, rate)
            kmax = 1
        f0 = tx[11]
        k = 0
        while k < kmax and i + k < npk:
            f = f0 + k
            if f >= frame_nr:
                f -= frame_nr
            fb = f * frame_size
            st = load_acquire(ring32, fb >> 2)
            if st != _AVAILABLE:
                if st & _WRONG:
                    tx[10] += 1
                    return REFUSED_FRAME, i
                break  # still with the kernel
            a = bounds[i + k]
            n = bounds[i + k + 1] - a
            if HEADERS + n > room:
                tx[6] = _EMSGSIZE
                return FAILED, i
            ring32[(fb + P.TP2_LEN) >> 2] = build_frame(ring, fb + DATA, hdr, out, a, n,
                                                        tx[12] & 0xFFFF)
            tx[12] += 1
            k += 1
        if k == 0:  # the ring is full: the kernel still holds the next frame
            code = kick(fd, sll_ptr, pptr, tx, stall_ns)
            if code != SENT:
                return code, i
            since = wait_room(pptr, tx, since, stall_ns)
            if since < 0:
                return STALLED, i
            continue
        since = 0
        ts = realtime_ns()
        for j in range(k):
            f = f0 + j
            if f >= frame_nr:
                f -= frame_nr
            d = f * frame_size + DATA + HEADERS
            stamp_packet(stamper, ring, d, d + bounds[i + j + 1] - bounds[i + j], ts)
        for j in range(k):
            f = f0 + j
            if f >= frame_nr:
                f -= frame_nr
            store_release(ring32, (f * frame_size) >> 2, _SEND_REQUEST)
        f = f0 + k
        tx[11] = f - frame_nr if f >= frame_nr else f
        code = kick(fd, sll_ptr, pptr, tx, stall_ns)
        if code != SENT:
            for j in range(k):  # a refused frame is left marked by the kernel
                f = f0 + j
                if f >= frame_nr:
                    f -= frame_nr
                if load_acquire(ring32, (f * frame_size) >> 2) & _WRONG:
                    tx[10] += 1
                    code = REFUSED_FRAME
            return code, i
        account(tx, counts, bounds, i, k)
        i += k
    return SENT, npk


# ------------------------------------------------------------------- addresses and routes


def _owner(ip: str) -> str | None:
    for name, addr in interface_addresses():
        if addr == ip:
            return name
    return None


def route_for(host: str, iface_ip: str | None = None) -> tuple[str, str]:
    """``(interface, source address)`` for sending to ``host``: the interface that owns
    ``iface_ip`` when given, otherwise the one the kernel's route to ``host`` goes out of."""
    if iface_ip not in (None, "", "0.0.0.0"):
        name = _owner(iface_ip)
        if name is None:
            raise OSError(E.EADDRNOTAVAIL, f"packet sender: no interface here has the address "
                                           f"{iface_ip} (see `ip -4 addr`)")
        return name, iface_ip
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.connect((host, 9))  # sends nothing: asks the routing table
        src = probe.getsockname()[0]
    except OSError as e:
        raise OSError(e.errno, f"packet sender: no route to {host} ({e.strerror}); give the "
                               f"interface (--iface-ip or iface=)") from e
    finally:
        probe.close()
    name = _owner(src)
    if name is None:
        raise OSError(E.EADDRNOTAVAIL, f"packet sender: the route to {host} leaves from {src}, "
                                       f"which no interface here owns; give the interface")
    return name, src


def _next_hop(host: str, iface: str) -> str:
    r = subprocess.run(["ip", "-4", "-o", "route", "get", host, "oif", iface],
                       capture_output=True, text=True)
    words = r.stdout.split()
    return words[words.index("via") + 1] if r.returncode == 0 and "via" in words else host


def _arp(ip: str, iface: str) -> bytes | None:
    """The complete ARP entry for ``ip`` on ``iface`` (this thread's namespace), if any."""
    try:
        lines = Path("/proc/thread-self/net/arp").read_text().splitlines()[1:]
    except OSError:
        return None
    for line in lines:
        f = line.split()  # IP address, HW type, Flags, HW address, Mask, Device
        if len(f) >= 6 and f[0] == ip and f[5] == iface and int(f[2], 16) & 0x2:
            return bytes.fromhex(f[3].replace(":", ""))
    return None


def neighbour_mac(host: str, iface: str, timeout: float = 1.0) -> bytes:
    """The Ethernet address to send to unicast ``host`` on ``iface``: the next hop's ARP
    entry, resolved by the kernel after a probe datagram to the discard port (9)."""
    hop = _next_hop(host, iface)
    mac = _arp(hop, iface)
    if mac is not None:
        return mac
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_BINDTODEVICE, iface.encode())
        probe.sendto(b"", (host, 9))
    except OSError:
        pass  # no answer yet is what the ARP table says below
    finally:
        probe.close()
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        mac = _arp(hop, iface)
        if mac is not None:
            return mac
        time.sleep(0.01)
    raise OSError(E.EHOSTUNREACH, f"packet sender: no neighbour entry for {hop} on {iface} "
                                  f"after {timeout:.0f} s (is {host} up? see `ip neigh`); "
                                  f"give its MAC address (dst_mac=)")


def _mac(text: str | bytes) -> bytes:
    if isinstance(text, bytes):
        out = text
    else:
        out = bytes.fromhex(text.replace(":", "").replace("-", ""))
    if len(out) != 6:
        raise ValueError(f"packet sender: {text!r} is not a 6-byte Ethernet address")
    return out


@dataclass
class Link:
    """Where frames built in user space go out: the interface and both ends' addresses."""

    iface: str
    ifindex: int
    src_ip: str
    src_mac: bytes
    dst_mac: bytes


def resolve_link(iface: str | None, host: str, iface_ip: str | None,
                 dst_mac: str | bytes | None, who: str) -> Link:
    """The interface (``iface``, or the one owning ``iface_ip``, or the route's), its
    addresses, and the destination MAC for ``host``: a group's 01:00:5e address, ``dst_mac``
    when given, zeros on ``lo``, else the neighbour's. Raises OSError naming what is missing."""
    dst = ipaddress.IPv4Address(host)
    if iface is None:
        iface, src_ip = route_for(host, iface_ip)
    else:
        src_ip = iface_ip or next((a for n, a in interface_addresses() if n == iface), None)
        if src_ip is None:
            raise OSError(E.EADDRNOTAVAIL, f"{who}: interface {iface!r} has no IPv4 address "
                                           f"(see `ip -4 addr`)")
    try:
        ifindex = socket.if_nametoindex(iface)
    except OSError as e:
        raise OSError(E.ENODEV, f"{who}: no network interface named {iface!r} here "
                                f"(see `ip link`)") from e
    with socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0) as s:  # its hardware address
        s.bind((iface, 0))
        src_mac = s.getsockname()[4][:6].ljust(6, b"\0")
    if dst_mac is not None:
        dmac = _mac(dst_mac)
    elif dst.is_multicast:
        dmac = multicast_mac(host)
    elif iface == "lo":
        if dst.is_loopback:  # seen on Linux 6.x: IPv4 input never delivers them
            raise OSError(E.EADDRNOTAVAIL,
                          f"{who}: frames injected on lo to {host} are not delivered by the "
                          f"kernel; send to a veth or real interface, or use the sendmmsg "
                          f"sender on loopback")
        dmac = bytes(6)
    else:
        dmac = neighbour_mac(host, iface)
    return Link(iface, ifindex, src_ip, src_mac, dmac)


def udp_template(link: Link, host: str, src_port: int, port: int, ttl: int) -> np.ndarray:
    """Ethernet II + IPv4 + UDP headers to ``host``:``port``; the per-packet fields (IPv4
    total length, identification, checksum; UDP length) are left 0 for :func:`build_frame`."""
    h = bytearray(HEADERS)
    h[0:6], h[6:12], h[12:14] = link.dst_mac, link.src_mac, P.ETH_P_IP.to_bytes(2, "big")
    ip = IP_AT
    h[ip] = 0x45
    h[ip + 6:ip + 8] = (0x4000).to_bytes(2, "big")  # don't fragment
    h[ip + 8], h[ip + 9] = ttl, socket.IPPROTO_UDP
    h[ip + 12:ip + 16] = socket.inet_aton(link.src_ip)
    h[ip + 16:ip + 20] = socket.inet_aton(host)
    h[UDP_AT:UDP_AT + 2] = src_port.to_bytes(2, "big")
    h[UDP_AT + 2:UDP_AT + 4] = port.to_bytes(2, "big")
    return np.frombuffer(bytes(h), np.uint8).copy()


# ---------------------------------------------------------------------------------- owner


class PacketTxSender(_Sender):
    """An AF_PACKET TX ring on ``iface`` sending UDP to ``host``:``port``.

    ``iface`` None: the interface owning ``iface_ip``, or the route's. ``dst_mac`` overrides
    the derived destination address. The ring is ``frames`` frames of ``frame_size`` bytes;
    ``batch`` frames at most per kick. ``qdisc_bypass`` hands frames to the driver directly
    (faster, but a busy device queue then drops them: off by default).

    Raises PermissionError without CAP_NET_RAW and OSError naming what is missing for an
    unknown interface, no route, no neighbour, or a ring the kernel refuses.
    """

    name = "packet"

    def __init__(self, iface: str | None, host: str, port: int, *, iface_ip: str | None = None,
                 dst_mac: str | bytes | None = None, ttl: int = 1, sndbuf: int = 8 << 20,
                 frames: int = 4096, frame_size: int = 2048, batch: int = 64,
                 qdisc_bypass: bool = False) -> None:
        super().__init__()
        if frame_size < 128 or frame_size % P.TPACKET_ALIGNMENT:
            raise ValueError(f"packet sender: frame_size {frame_size} must be a multiple of "
                             f"{P.TPACKET_ALIGNMENT} and at least 128")
        host = socket.gethostbyname(host)
        dst = ipaddress.IPv4Address(host)
        self.host, self.port = host, port
        self.batch = batch
        self._map: mmap.mmap | None = None
        self.ring = self.ring32 = None
        self.usock: socket.socket | None = None
        try:
            self.psock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)  # receives nothing
        except PermissionError as e:
            raise PermissionError(e.errno, _NO_RAW) from e
        try:
            link = resolve_link(iface, host, iface_ip, dst_mac, "packet sender")
            self.iface, self.ifindex, self.src_ip = link.iface, link.ifindex, link.src_ip
            self.src_mac, self.dst_mac = link.src_mac, link.dst_mac
            self.psock.bind((self.iface, 0))
            # the source port: a UDP socket holds it, so nothing else takes it meanwhile
            self.usock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self.usock.bind((self.src_ip, 0))
            self.src_port = self.usock.getsockname()[1]
            self.hdr = udp_template(link, host, self.src_port, port,
                                    ttl if dst.is_multicast else max(ttl, 64))
            self.sll = self._sockaddr_ll()
            try:
                self.psock.setsockopt(socket.SOL_SOCKET, L.SO_SNDBUFFORCE, sndbuf)
            except OSError:  # without CAP_NET_ADMIN: up to net.core.wmem_max
                self.psock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, sndbuf)
            self.psock.setsockopt(P.SOL_PACKET, P.PACKET_VERSION, P.TPACKET_V2)
            if qdisc_bypass:
                self.psock.setsockopt(P.SOL_PACKET, P.PACKET_QDISC_BYPASS, 1)
            # whole pages and whole frames per block, so frame f lies at f * frame_size
            block_size = math.lcm(mmap.PAGESIZE, frame_size)
            per_block = block_size // frame_size
            block_nr = max(1, -(-frames // per_block))
            self.frame_size, self.frames = frame_size, block_nr * per_block
            req = np.zeros(1, P.TPACKET_REQ3)
            req[0] = (block_size, block_nr, frame_size, self.frames, 0, 0, 0)
            try:
                self.psock.setsockopt(P.SOL_PACKET, P.PACKET_TX_RING,
                                      req.tobytes()[:P.TPACKET_REQ_SIZE])
                self._map = mmap.mmap(self.psock.fileno(), block_size * block_nr,
                                      mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
            except OSError as e:
                raise OSError(e.errno, f"packet sender: the kernel refused a TX ring of "
                                       f"{block_nr} x {block_size} bytes ({e.strerror}); try "
                                       f"fewer frames") from e
        except BaseException:
            self.close()
            raise
        self.ring = np.frombuffer(self._map, np.uint8)
        self.ring32 = self.ring.view(np.uint32)
        self.fd = self.psock.fileno()
        self.pfd = np.zeros(L.POLLFD_SIZE // 4, np.int32)
        self.pfd[L.PFD_FD // 4] = self.fd
        self.pfd[L.PFD_EVENTS // 4] = L.POLLOUT

    def _sockaddr_ll(self) -> np.ndarray:
        """The kick's destination: the interface, protocol IPv4, the destination MAC."""
        a = np.zeros(P.SOCKADDR_LL_SIZE, np.uint8)
        a[P.SLL_FAMILY:P.SLL_FAMILY + 2] = np.frombuffer(_AF_PACKET.to_bytes(2, "little"),
                                                         np.uint8)
        a[P.SLL_PROTOCOL:P.SLL_PROTOCOL + 2] = np.frombuffer(P.ETH_P_IP.to_bytes(2, "big"),
                                                             np.uint8)
        a[P.SLL_IFINDEX:P.SLL_IFINDEX + 4] = np.frombuffer(
            self.ifindex.to_bytes(4, "little"), np.uint8)
        a[P.SLL_HALEN] = 6
        a[P.SLL_ADDR:P.SLL_ADDR + 6] = np.frombuffer(self.dst_mac, np.uint8)
        return a

    def _run(self, out, bounds, counts, npk, rate, stamper) -> tuple[int, int]:
        if self.ring is None:
            raise ValueError("packet sender: closed")
        status, sent = send_frames(self.fd, self.ring, self.ring32, self.frame_size,
                                   self.frames, self.hdr, self.sll, out, bounds, counts, npk,
                                   self.batch, rate, stamper, self.tx, self.pfd, STALL_NS)
        return int(status), int(sent)

    def _raise(self, status: int, sent: int, npk: int) -> None:
        if status == REFUSED_FRAME:
            raise OSError(E.EINVAL, f"packet: the kernel refused a TX frame "
                                    f"(TP_STATUS_WRONG_FORMAT) after {sent} of {npk} packets: "
                                    f"is the packet bigger than {self.iface}'s MTU?")
        super()._raise(status, sent, npk)

    def in_flight(self) -> int:
        """Frames not yet handed back by the kernel (requested or being sent)."""
        if self.ring32 is None:
            return 0
        st = self.ring32[::self.frame_size // 4]
        return int(np.count_nonzero(st != _AVAILABLE))

    def flush(self, timeout: float = 1.0) -> None:
        """Wait (at most ``timeout``) until the kernel has handed every frame back."""
        end = time.monotonic() + timeout
        while self.in_flight() and time.monotonic() < end:
            time.sleep(0.001)

    def stats(self) -> dict[str, int]:
        return {**super().stats(), "in_flight": self.in_flight()}

    def close(self) -> None:
        """Unmap the ring and close both sockets (idempotent)."""
        self.ring = self.ring32 = None
        unmap(self._map)
        self._map = None
        if self.usock is not None:
            self.usock.close()
        self.psock.close()

