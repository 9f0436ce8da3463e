"""The dpdk sender: frames built in mbufs from compiled code, handed to a DPDK port in bursts.

The DPDK mirror of :mod:`tickpath.wire.packet_tx`: the same frame template and builder
(Ethernet II, IPv4 with its checksum, UDP with checksum 0), written straight into mbufs taken
from the port's pool; just before the burst goes, each packet is stamped through
:func:`tickpath.wire.stamping.stamp_packet` with the publisher's stamper (one clock read per
burst), then ``rte_eth_tx_burst`` takes them::

    tp_tx_alloc(k mbufs) ─► build_frame in each ─► stamp_packet(stamper, ...) ─► tp_tx_burst
          (shim)              (in place)               (now_ns, per burst)       (lengths set,
                                                                                 one call)

What the port does not take at once (its ring is full) stays ours: counted as a wait,
restamped and offered again, never dropped; nothing taken for ``stall_ns`` stops the run as
stalled, and the mbufs not taken go back to the pool. A packet bigger than an mbuf's data room
stops the run with EMSGSIZE. Paced runs (``rate``) hand over one frame per burst.

With the af_packet PMD (the default) the port copies each frame into its AF_PACKET TX ring,
frees the mbuf and kicks the kernel once per burst. One EAL per process, as for the receiver
(:mod:`tickpath.wire.dpdk_eal`). Needs root.
"""

from __future__ import annotations

import errno as E
import ipaddress
import os
import socket
import time

import numpy as np
from numba import njit

from ..telemetry.nclock import realtime_ns
from . import dpdk_shim as S
from .dpdk_eal import PMDS, EthPort, start_eal
from .packet_tx import HEADERS, build_frame, resolve_link, udp_template
from .send import FAILED, SENT, STALL_NS, STALLED, _Sender, account, pace
from .stamping import stamp_packet

__all__ = ["DpdkSender", "dpdk_send"]

_EMSGSIZE = E.EMSGSIZE
_NOMBUF = -1  # tp_tx_alloc: the pool had fewer free mbufs than asked


@njit(cache=True, nogil=True)
def dpdk_send(port, pool, mbufs, addrs, lens, room, hdr, out, bounds, counts, npk, batch, rate,
              stamper, tx, stall_ns):
    """Send packets ``0 .. npk-1`` through ``port`` (queue 0), up to ``batch`` frames a burst
    (one when paced). Returns ``(exit, packets sent)``."""
    mb = mbufs.ctypes.data
    ad = addrs.ctypes.data
    ln = lens.ctypes.data
    i = 0
    while i < npk:
        kmax = batch
        if rate > 0:
            pace(tx, rate)
            kmax = 1
        k = min(kmax, npk - i)
        since = np.int64(0)
        while S.tx_alloc(pool, mb, ad, k) == _NOMBUF:  # the port still holds them
            now = realtime_ns()
            if since == 0:
                since = now
                tx[4] += 1
            elif now - since > stall_ns:
                return STALLED, i
        for j in range(k):
            a = bounds[i + j]
            n = bounds[i + j + 1] - a
            if HEADERS + n > room:
                S.free_bulk(mb, k)
                tx[6] = _EMSGSIZE
                return FAILED, i
            lens[j] = build_frame(S.frame_view(addrs[j], HEADERS + n), 0, hdr, out, a, n,
                                  tx[12] & 0xFFFF)
            tx[12] += 1
        done = 0
        since = 0
        while True:
            now = realtime_ns()  # the send stamp: just before the burst
            for j in range(done, k):
                stamp_packet(stamper, S.frame_view(addrs[j], lens[j]), HEADERS, lens[j], now)
            r = S.tx_burst(port, 0, mb + 8 * done, ln + 8 * done, k - done)
            if r > 0:
                tx[3] += 1
                done += r
            if done == k:
                break
            # the port's ring is full: the rest is ours still, offered again (restamped)
            if since == 0:
                since = now
                tx[4] += 1
            elif now - since > stall_ns:
                S.free_bulk(mb + 8 * done, k - done)
                account(tx, counts, bounds, i, done)
                return STALLED, i + done
        account(tx, counts, bounds, i, k)
        i += k
    return SENT, npk


class DpdkSender(_Sender):
    """A DPDK port on ``iface`` (virtual PMD ``pmd``, default ``af_packet``) sending UDP to
    ``host``:``port``.

    ``iface`` None: the interface owning ``iface_ip``, or the route's; ``dst_mac`` overrides
    the derived destination address (a group's 01:00:5e address, else the neighbour's). ``batch``
    frames at most per burst. ``core``, ``eal_args``: for the EAL if this sender starts it.
    Raises PermissionError without root, :class:`tickpath.wire.dpdk_shim.ShimUnavailable`,
    :class:`tickpath.wire.dpdk_eal.EalError` or OSError naming what is missing.

    ``send(out, bounds, counts, npk, rate, stamper)``: ``stamper`` is the publisher's stamper
    state (:mod:`tickpath.wire.stamping`), or False/None for :data:`NO_STAMP`.
    """

    name = "dpdk"

    def __init__(self, iface: str | None, host: str, port: int, *, iface_ip: str | None = None,
                 dst_mac: str | bytes | None = None, ttl: int = 1, pmd: str = "af_packet",
                 batch: int = 32, frames: int = 4096, core: int | None = None,
                 eal_args=None) -> None:
        super().__init__()
        if pmd not in PMDS:
            raise ValueError(f"dpdk sender: pmd {pmd!r}: choose {' or '.join(PMDS)}")
        if not 1 <= batch <= 512:
            raise ValueError(f"dpdk sender: batch {batch} must be 1..512")
        if os.geteuid() != 0:
            raise PermissionError("dpdk sender: DPDK's EAL and its PMDs need root; the "
                                  "sendmmsg and sendto senders need nothing")
        S.load()  # the shim's symbols precede any compiled loop
        host = socket.gethostbyname(host)
        dst = ipaddress.IPv4Address(host)
        self.host, self.port, self.pmd, self.batch = host, port, pmd, batch
        self.usock: socket.socket | None = None
        self.eth: EthPort | None = None
        try:
            link = resolve_link(iface, host, iface_ip, dst_mac, "dpdk sender")
            self.iface, self.src_ip = link.iface, link.src_ip
            # the source port: a UDP socket holds it, so nothing else takes it meanwhile
            self.usock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            self.usock.bind((link.src_ip, 0))
            self.src_port = self.usock.getsockname()[1]
            self.hdr = udp_template(link, host, self.src_port, port,
                                    ttl if dst.is_multicast else max(ttl, 64))
            self.eal_args = start_eal(pmd, core=core, eal_args=eal_args)
            self.eth = EthPort(pmd, link.iface, frames=frames, who="dpdk sender")
        except BaseException:
            self.close()
            raise
        abi = S.EXPECTED_ABI
        self.room = abi["default_buf_size"] - abi["headroom"]  # a frame's bytes in one mbuf
        self.mbufs = np.zeros(batch, np.int64)
        self.addrs = np.zeros(batch, np.int64)
        self.lens = np.zeros(batch, np.int64)

    def _run(self, out, bounds, counts, npk, rate, stamper) -> tuple[int, int]:
        eth = self.eth
        if eth is None:
            raise ValueError("dpdk sender: closed")
        status, sent = dpdk_send(eth.port, eth.pool, self.mbufs, self.addrs, self.lens,
                                 self.room, self.hdr, out, bounds, counts, npk, self.batch,
                                 rate, stamper, self.tx, STALL_NS)
        return int(status), int(sent)

    def flush(self, timeout: float = 0.05) -> None:
        """The af_packet PMD kicks the kernel once per burst; a kick that found the device
        queue full leaves frames in its ring until the next. Kick once more, then give the
        kernel ``timeout`` to send them."""
        if self.eth is not None:
            self.eth.kick()
        time.sleep(timeout)

    def stats(self) -> dict[str, int]:
        out = super().stats()
        if self.eth is not None:
            port = self.eth.stats()
            out.update(opackets=port["opackets"], oerrors=port["oerrors"])
        return out

    def close(self) -> None:
        """Detach the port and release the source port (idempotent)."""
        if self.eth is not None:
            self.eth.close()
            self.eth = None
        if self.usock is not None:
            self.usock.close()
            self.usock = None

