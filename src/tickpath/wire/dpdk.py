"""The ``dpdk`` transport: DPDK's poll-mode receive, bursts read in place from compiled code.

DPDK runs here on virtual PMDs over an ordinary interface, no hugepages, no PCI device:
``af_packet`` (an AF_PACKET socket with a TPACKET_V2 ring, inside the PMD) or ``af_xdp`` (an
AF_XDP socket and the PMD's own XDP program). Either hands frames to the application as mbufs
from a mempool. The compiled loop (:func:`poll_rx`) asks the port for a burst through the shim
(:mod:`tickpath.wire.dpdk_shim`: one C call fills the burst's mbuf pointers, data addresses
and lengths), reads each frame where the mbuf holds it (a numba array over the mbuf's data, no
copy), parses Ethernet/IPv4/UDP in place (:mod:`tickpath.wire.frames`), hands the feed's
datagrams to the handler (:func:`tickpath.wire.handler.on_datagram`) and frees the burst with
one call::

    rte_eth_rx_burst ─► mbufs[], addrs[], lens[] ─► frame i: view(addrs[i], lens[i])
        (shim, one call)        (int64 arrays)          parse ─► count_datagram ─► on_datagram
                                                        (not the feed's: counted by reason)
    rte_pktmbuf_free_bulk(the frames handled) ◄─────────┘

Resume. When the handler answers anything but GO_ON (end of session, settle), the loop frees
the frames handled so far, the current one included, keeps the rest of the burst (its mbufs
stay in the arrays, ``Rx.NEXT``/``Rx.HELD`` say where) and returns; the next poll starts
there, before asking the port for more. Every mbuf is freed exactly once: by the loop after
its frame, or by :meth:`DpdkReceiver.close` for a burst still held.

Receive timestamp. Neither PMD gives a per-packet stamp here (af_packet's ring stamp is not
passed on to the mbuf in this DPDK), so every frame of a burst carries the compiled clock read
when the burst returned (CLOCK_REALTIME): a user-space stamp, after the kernel's and the
PMD's part.

What the kernel still does. af_packet taps the interface: the kernel receives every frame as
well, so the feed's port is held by a UDP socket that drops what it is given (it also holds the
group membership on the interface, as for ``packet``), and the PMD's socket is told to ignore
frames this host sends (PACKET_IGNORE_OUTGOING), so it sees what arrives, once. af_xdp's
program takes every frame of queue 0 from the kernel (ARP included): a multicast feed is fine;
a unicast sender needs a static neighbour entry for this host.

One EAL per process: see :mod:`tickpath.wire.dpdk_eal`.
"""

from __future__ import annotations

import enum
import ipaddress
import os
import socket

import numpy as np
from numba import njit

from ..telemetry.nclock import realtime_ns
from . import dpdk_shim as S
from . import frames as F
from .dpdk_eal import PMDS, EalError, EthPort, start_eal
from .handler import DEADLINE, GO_ON, IDLE, N_RX_COMMON, count_datagram, on_datagram, on_idle

__all__ = ["BURST", "DpdkReceiver", "EalError", "Rx", "poll_rx"]

BURST = 32  # frames asked for per rx burst (DPDK: a multiple of 8 suits every driver)


class Rx(enum.IntEnum):
    """The loop's int64 counters and resume state; the first three are the common receive
    counters of :mod:`tickpath.wire.handler`, at the same indices."""

    PACKETS = 0  # datagrams of the feed handed to the handler
    BYTES = 1  # their UDP payload bytes
    LAST_NS = 2  # receive stamp of the last one
    FRAMES = 3  # frames taken from the port, of every kind
    BURSTS = 4  # rx bursts that returned frames
    EMPTY_POLLS = 5  # rx bursts that returned none
    CHAINED = 6  # frames in more than one mbuf (bigger than the data room): skipped
    NEXT = 7  # state: the next frame of the held burst
    HELD = 8  # state: frames in the held burst
    BURST_NS = 9  # state: the held burst's stamp


N_RX = len(Rx)
assert N_RX_COMMON == 3 and Rx.LAST_NS == 2

_OK = F.OK
# frames that are not the feed's (other protocols, addresses, ports; fragments are not
# reassembled) and frames whose headers are broken
_FILTERED = (F.NOT_IPV4, F.FRAGMENT, F.NOT_UDP, F.WRONG_ADDRESS, F.WRONG_PORT)
_MALFORMED = (F.SHORT_ETHERNET, F.SHORT_IPV4, F.BAD_IPV4, F.BAD_UDP_LENGTH)


# no refcounting: counts on each state array make the loop slower (handler.implements)
@njit(cache=True, nogil=True, _nrt=False)
def poll_rx(port, mbufs, addrs, lens, burst, state, dst_ip, dst_port, deadline_ns, idle_ns,
            rx, reasons):
    """Take bursts from ``port`` (queue 0) until the deadline, idleness, or a status other
    than GO_ON from the handler. Returns the exit code; counters and resume state in ``rx``.
    ``burst`` 0 asks the port for nothing (a warm-up: returns at the deadline)."""
    mb = mbufs.ctypes.data
    ad = addrs.ctypes.data
    ln = lens.ctypes.data
    i = rx[7]
    n = rx[8]
    now = rx[9]
    code = GO_ON
    while True:
        if i >= n:
            got = S.rx_burst(port, 0, mb, ad, ln, burst)
            if got == 0:
                rx[5] += 1
                t = realtime_ns()
                if t >= deadline_ns:
                    break
                if idle_ns > 0 and rx[2] > 0 and t - rx[2] >= idle_ns:
                    code = IDLE
                    break
                code = on_idle(state, t)
                if code != GO_ON:
                    break
                continue
            now = realtime_ns()  # no per-packet stamp from these PMDs: the burst's return
            rx[3] += got
            rx[4] += 1
            i = 0
            n = got
        first = i
        while i < n:
            size = lens[i]
            if size < 0:  # chained: only the first segment would be in view
                rx[6] += 1
                i += 1
                continue
            buf = S.frame_view(addrs[i], size)
            why, off, plen = F.udp_payload_at(buf, 0, size, dst_ip, dst_port)
            i += 1
            if why != _OK:
                reasons[why] += 1
                continue
            count_datagram(rx, plen, now)
            code = on_datagram(state, buf, off, plen, now)
            if code != GO_ON:
                break
        S.free_bulk(mb + 8 * first, i - first)  # the frames handled, this one included
        if code != GO_ON or now >= deadline_ns:
            break
    rx[7] = i
    rx[8] = n
    rx[9] = now
    return DEADLINE if code == GO_ON else code


class DpdkReceiver:
    """A DPDK port on ``iface`` (virtual PMD ``pmd``: ``af_packet`` or ``af_xdp``) receiving
    the UDP feed sent to ``host``:``port`` (a group or this host's address). ``port=0`` lets
    the kernel choose (the helper socket's port).

    ``burst``: frames per rx burst. ``frames``: the af_packet PMD's kernel ring (frames).
    ``core``, ``eal_args``: for the EAL if this receiver starts it
    (:func:`tickpath.wire.dpdk_eal.start_eal`). Needs root; raises PermissionError,
    :class:`tickpath.wire.dpdk_shim.ShimUnavailable` or :class:`EalError` saying what is
    missing.
    """

    name = "dpdk"
    compiled = True

    def __init__(self, iface: str, host: str, port: int, *, pmd: str = "af_packet",
                 iface_ip: str = "0.0.0.0", burst: int = BURST, frames: int = 8192,
                 core: int | None = None, eal_args=None) -> None:
        from .packet import hold_feed_port

        if pmd not in PMDS:
            raise ValueError(f"dpdk: pmd {pmd!r}: choose {' or '.join(PMDS)}")
        if not 1 <= burst <= 512:
            raise ValueError(f"dpdk: burst {burst} must be 1..512")
        if os.geteuid() != 0:
            raise PermissionError(
                f"dpdk: DPDK's EAL and the {pmd} PMD need root (memory set-up, raw sockets"
                f"{', XDP' if pmd == 'af_xdp' else ''}): run as root; the packet transport "
                f"needs only CAP_NET_RAW and busypoll nothing")
        try:
            self.ifindex = socket.if_nametoindex(iface)
        except OSError as e:
            raise OSError(e.errno, f"dpdk: no network interface named {iface!r} here "
                                   f"(see `ip link`)") from e
        S.load()  # build or load the shim first: its symbols precede any compiled loop
        self.iface, self.host, self.pmd, self.burst = iface, host, pmd, burst
        self.dst_ip = int(ipaddress.IPv4Address(host))
        self.sock: socket.socket | None = None
        self.eth: EthPort | None = None
        self.mbufs = np.zeros(burst, np.int64)
        self.addrs = np.zeros(burst, np.int64)
        self.lens = np.zeros(burst, np.int64)
        self.rx = np.zeros(N_RX, np.int64)
        self.reasons = np.zeros(F.N_REASONS, np.int64)
        try:
            self.sock = hold_feed_port(host, port, iface_ip, self.ifindex, f"dpdk ({iface})")
            self.port = port = self.sock.getsockname()[1]
            self.eal_args = start_eal(pmd, core=core, eal_args=eal_args)
            self.eth = EthPort(pmd, iface, frames=frames, who="dpdk", ignore_outgoing=True)
        except BaseException:
            self.close()
            raise

    def describe(self) -> str:
        return f"DPDK {self.pmd} PMD on {self.iface} (port {self.eth.name if self.eth else '-'})"

    # -- the compiled path --------------------------------------------------------------------

    def poll(self, state, deadline_ns: int, idle_ns: int) -> int:
        """Run the compiled loop once: until ``deadline_ns`` (CLOCK_REALTIME), ``idle_ns``
        without a datagram (once one came; 0: never), or a status from the handler other
        than GO_ON. Returns the exit code (:mod:`tickpath.wire.handler`)."""
        eth = self.eth
        if eth is None:
            raise ValueError("dpdk: the receiver is closed")
        return poll_rx(eth.port, self.mbufs, self.addrs, self.lens, self.burst, state,
                       self.dst_ip, self.port, deadline_ns, idle_ns, self.rx, self.reasons)

    def warm_up(self, state) -> None:
        """Compile (or load from numba's cache) the loop for ``state``'s type: one run that
        asks the port for nothing and returns at once, on scratch counters (no datagram is
        consumed, the handler's state is not touched)."""
        eth = self.eth
        if eth is None:
            raise ValueError("dpdk: the receiver is closed")
        rx = np.zeros(N_RX, np.int64)
        poll_rx(eth.port, self.mbufs, self.addrs, self.lens, 0, state, self.dst_ip, self.port,
                0, 0, rx, np.zeros(F.N_REASONS, np.int64))

    # -- observing ----------------------------------------------------------------------------

    def stats(self) -> dict[str, int]:
        """Counters: the feed's datagrams and bytes, frames taken, bursts, empty polls,
        chained frames skipped, frames skipped by reason and in two sums (``filtered``: not
        the feed's, ``malformed``: broken headers), DPDK's port counters (``ipackets``, ``imissed``, ``rx_nombuf``, ...)
        and ``drops`` (frames lost before the loop: imissed + rx_nombuf)."""
        rx = self.rx
        out = {"packets": int(rx[Rx.PACKETS]), "bytes": int(rx[Rx.BYTES]),
               "frames": int(rx[Rx.FRAMES]), "bursts": int(rx[Rx.BURSTS]),
               "empty_polls": int(rx[Rx.EMPTY_POLLS]), "chained": int(rx[Rx.CHAINED]),
               "malformed": int(sum(self.reasons[r] for r in _MALFORMED)),
               "filtered": int(sum(self.reasons[r] for r in _FILTERED))}
        for r in F.Reason:
            if r != F.Reason.OK:
                out[r.name.lower()] = int(self.reasons[r])
        if self.eth is not None:
            port = self.eth.stats()
            out.update({k: v for k, v in port.items() if not k.startswith("o")})
            out["drops"] = port["imissed"] + port["rx_nombuf"]
        return out

    def stamp_source(self) -> str:
        """Which clock stamped the frames: no per-packet stamp from DPDK's virtual PMDs."""
        return ("user space, when the DPDK receive burst returned (CLOCK_REALTIME); the "
                f"{self.pmd} PMD gives no per-packet timestamp")

    def close(self) -> None:
        """Free a burst still held, detach the port, close the helper socket (idempotent).
        The EAL stays up for the process (see :mod:`tickpath.wire.dpdk_eal`)."""
        if self.eth is not None:
            i, n = int(self.rx[Rx.NEXT]), int(self.rx[Rx.HELD])
            if i < n and self.eth.pool:  # (the EAL's shutdown at exit may have freed it)
                S.load().lib.tp_free_bulk(self.mbufs.ctypes.data + 8 * i, n - i)
                self.rx[Rx.NEXT] = n
            self.eth.close()
            self.eth = None
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def __enter__(self) -> DpdkReceiver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
