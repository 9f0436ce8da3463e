"""The xdp sender: frames built in an AF_XDP socket's UMEM, posted on its TX ring.

The AF_XDP mirror of :mod:`tickpath.wire.packet_tx`: the same frame template and builder
(Ethernet II, IPv4 with its checksum, UDP with checksum 0), written into a free UMEM chunk;
the chunk's ``(addr, len)`` goes on the TX ring; the producer position is published with a
release store and the kernel is kicked with ``sendto(fd, NULL, 0, MSG_DONTWAIT)`` (copy mode
needs a kick for every batch; it sends up to 32 descriptors a call and answers EAGAIN when
more are left, so the kick repeats). Once a frame has gone, the kernel posts its chunk's
address on the COMPLETION ring; the loop reaps those into a free list before it needs
chunks, so a chunk is never reused while the kernel may still read it, whatever order the
completions come in::

    free list --> build frame in chunk --> TX ring --> kernel sends --> COMPLETION ring --+
        ^                                                                                 |
        +---------------------------------------------------------------------------------+

The send stamp is taken in compiled code just before the kick. No XDP program is needed to
send. Copy mode everywhere here (veth and lo have no zero-copy). Needs root.
"""

from __future__ import annotations

import errno as E
import ipaddress
import socket
import time

import numpy as np
from numba import njit

from ..telemetry.nclock import realtime_ns
from . import layout as L
from .packet import load_acquire, store_release
from .packet_tx import HEADERS, build_frame, kick, resolve_link, udp_template
from .send import FAILED, SENT, STALL_NS, STALLED, _Sender, account, pace
from .stamping import stamp_packet
from .xsk import Geo, XskSocket

__all__ = ["XskSender"]

_U32 = 0xFFFFFFFF
_EMSGSIZE = E.EMSGSIZE


@njit(cache=True, nogil=True, inline="always")
def _reap(cr32, cr64, geo, free, tx):
    """Completed chunks back onto the free list; returns how many."""
    cons = tx[13] & _U32
    prod = load_acquire(cr32, geo[Geo.CR_PROD])
    n = (prod - cons) & _U32
    for k in range(n):
        free[tx[14]] = cr64[geo[Geo.CR_DESC] + ((cons + k) & geo[Geo.CR_MASK])]
        tx[14] += 1
    if n:
        tx[13] += n
        store_release(cr32, geo[Geo.CR_CONS], (cons + n) & _U32)
    return n


@njit(cache=True, nogil=True)
def xsk_send(umem, tx32, tx64, cr32, cr64, geo, free, hdr, out, bounds, counts, npk, batch,
             rate, stamper, tx, pfd, stall_ns):
    """Send packets ``0 .. npk-1`` through the TX ring, up to ``batch`` frames a kick (one
    when paced). Returns ``(exit, packets sent)``."""
    fd = geo[Geo.FD]
    pptr = pfd.ctypes.data
    chunk = geo[Geo.CHUNK_SIZE]
    mask = geo[Geo.TX_MASK]
    desc = geo[Geo.TX_DESC]
    i = 0
    since = np.int64(0)
    _reap(cr32, cr64, geo, free, tx)
    while i < npk:
        kmax = batch
        if rate > 0:
            pace(tx, rate)
            kmax = 1
        _reap(cr32, cr64, geo, free, tx)
        if tx[14] == 0:  # every chunk is with the kernel: kick it, wait for completions
            code = kick(fd, 0, pptr, tx, stall_ns)
            if code != SENT:
                return code, i
            now = realtime_ns()
            if since == 0:
                since = now
                tx[4] += 1
            elif now - since > stall_ns:
                return STALLED, i
            continue
        since = 0
        k = min(kmax, tx[14], npk - i)
        p0 = tx[11]
        for j in range(k):
            a = bounds[i + j]
            n = bounds[i + j + 1] - a
            if HEADERS + n > chunk:
                tx[6] = _EMSGSIZE
                return FAILED, i
            tx[14] -= 1
            addr = free[tx[14]]
            flen = build_frame(umem, addr, hdr, out, a, n, tx[12] & 0xFFFF)
            tx[12] += 1
            slot = (p0 + j) & mask
            tx64[desc + 2 * slot] = addr
            tx32[(desc + 2 * slot) * 2 + 2] = flen
            tx32[(desc + 2 * slot) * 2 + 3] = 0
        ts = realtime_ns()
        for j in range(k):
            addr = np.int64(tx64[desc + 2 * ((p0 + j) & mask)])
            n = bounds[i + j + 1] - bounds[i + j]
            stamp_packet(stamper, umem, addr + HEADERS, addr + HEADERS + n, ts)
        tx[11] = (p0 + k) & _U32
        store_release(tx32, geo[Geo.TX_PROD], tx[11])
        code = kick(fd, 0, pptr, tx, stall_ns)
        if code != SENT:
            return code, i
        account(tx, counts, bounds, i, k)
        i += k
    return SENT, npk


class XskSender(_Sender):
    """An AF_XDP socket on ``queue`` of ``iface`` sending UDP to ``host``:``port``.

    ``iface`` None: the interface owning ``iface_ip``, or the route's; ``dst_mac`` overrides
    the derived destination address. ``frames``: TX ring entries and send chunks. Raises
    PermissionError without root and OSError naming what is missing.
    """

    name = "xdp"

    def __init__(self, iface: str | None, host: str, port: int, *, iface_ip: str | None = None,
                 dst_mac: str | bytes | None = None, ttl: int = 1, frames: int = 4096,
                 batch: int = 64, queue: int = 0, copy: bool = True) -> None:
        super().__init__()
        import os

        if os.geteuid() != 0:
            raise PermissionError("xdp sender: AF_XDP sockets need CAP_NET_RAW (run as root); "
                                  "the sendmmsg and sendto senders need nothing")
        host = socket.gethostbyname(host)
        dst = ipaddress.IPv4Address(host)
        self.host, self.port, self.batch = host, port, batch
        self.xsk: XskSocket | None = None
        self.usock: socket.socket | None = None
        try:
            link = resolve_link(iface, host, iface_ip, dst_mac, "xdp sender")
            self.iface, self.src_ip = link.iface, link.src_ip
            # the source port: a UDP socket holds it, so nothing else takes it meanwhile
            self.usock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self.usock.bind((link.src_ip, 0))
            self.src_port = self.usock.getsockname()[1]
            self.hdr = udp_template(link, host, self.src_port, port,
                                    ttl if dst.is_multicast else max(ttl, 64))
            self.xsk = XskSocket(link.ifindex, queue, rx_size=0, tx_size=frames, copy=copy,
                                 need_wakeup=False)
        except BaseException:
            self.close()
            raise
        x = self.xsk
        # every send chunk starts on the free list
        self.free = np.arange(x.rx_chunks, x.chunks, dtype=np.int64) * x.chunk_size
        self.tx[14] = self.free.shape[0]
        self.pfd = np.zeros(L.POLLFD_SIZE // 4, np.int32)
        self.pfd[L.PFD_FD // 4] = x.fileno()
        self.pfd[L.PFD_EVENTS // 4] = L.POLLOUT

    def _run(self, out, bounds, counts, npk, rate, stamper) -> tuple[int, int]:
        x = self.xsk
        if x is None:
            raise ValueError("xdp sender: closed")
        status, sent = xsk_send(x.umem, x.tx32, x.tx64, x.cr32, x.cr64, x.geo, self.free,
                                self.hdr, out, bounds, counts, npk, self.batch, rate,
                                stamper, self.tx, self.pfd, STALL_NS)
        return int(status), int(sent)

    def in_flight(self) -> int:
        """Frames handed to the kernel whose chunks have not come back yet."""
        if self.xsk is None:
            return 0
        x = self.xsk
        return self.free.shape[0] - int(self.tx[14]) - \
            ((int(x.cr32[x.geo[Geo.CR_PROD]]) - int(self.tx[13])) & _U32)

    def flush(self, timeout: float = 1.0) -> None:
        """Kick until the kernel has handed every chunk back (at most ``timeout``)."""
        end = time.monotonic() + timeout
        zero = np.zeros(1, np.int64)
        while self.in_flight() and time.monotonic() < end:
            self._run(np.zeros(64, np.uint8), zero, zero, 0, 0.0, False)  # reaps
            if self.xsk is not None:
                try:
                    self.xsk.sock.send(b"", socket.MSG_DONTWAIT)
                except OSError:
                    pass
            time.sleep(0.0005)

    def stats(self) -> dict[str, int]:
        out = {**super().stats(), "in_flight": self.in_flight(),
               "completed": int(self.tx[13])}
        if self.xsk is not None:
            k = self.xsk.statistics()
            out["tx_invalid_descs"] = k["tx_invalid_descs"]
            out["tx_ring_empty_descs"] = k["tx_ring_empty_descs"]
        return out

    def close(self) -> None:
        if self.xsk is not None:
            self.xsk.close()
            self.xsk = None
        if self.usock is not None:
            self.usock.close()
            self.usock = None
