"""The ``xdp`` transport: AF_XDP, the kernel's own bypass socket, polled from compiled code.

An XDP program (:mod:`tickpath.wire.xdp_program`) runs on every frame the interface
receives, in the driver (native mode) or just after it (generic mode), and redirects the
feed's datagrams into an AF_XDP socket (:mod:`tickpath.wire.xsk`) through an XSKMAP; every
other frame goes on to the kernel as if nothing were there. The compiled loop
(:func:`poll_rx`) reads each frame where it landed in the UMEM, parses Ethernet/IPv4/UDP in
place (:mod:`tickpath.wire.frames`), hands the datagram to the feed stage and gives the chunk
back on the FILL ring — no system call per packet, no copy after the kernel's.

Modes. veth and lo have no zero-copy support, so the socket binds in copy mode there (the
kernel copies each redirected frame into the UMEM); ``xdp:zc`` asks for zero-copy on a NIC
whose driver has it. The program is attached native where the driver allows and generic
otherwise (``xdp:native`` / ``xdp:generic`` insist on one).

Receive timestamp. AF_XDP hands over no kernel timestamp (a driver can offer one to XDP
programs through metadata kfuncs; veth, lo and most drivers do not), so ``received`` is the
moment the loop found the frame on the RX ring: a user-space stamp, after the kernel's part.

Attachment and clean-up. The program is attached as a bpf_link: it stays on the interface
exactly as long as the link's file descriptor is open, so closing the receiver, the
process exiting, or the process being killed all detach it — nothing is left behind. Before
attaching, the interface's XDP state is read over rtnetlink: a tickpath program left there
the older way (netlink, held by no process) is replaced, and said so; a tickpath program a
live process holds, or anyone else's program, is refused with its id, name, holder and the
command that removes it.

Queues. A redirect lands only on a socket bound to the queue the frame arrived on; frames
on other queues go to the kernel (the program's fall-back). The receiver binds ``queue``
(default 0): give the interface one receive queue or steer the feed to that one (ethtool
ntuple rules on a NIC). tickpath's veth pairs have one queue each way.
"""

from __future__ import annotations

import enum
import errno
import ipaddress
import logging
import os
import socket

import numpy as np
from numba import njit

from ..telemetry.nclock import realtime_ns
from . import bpf, rtnetlink
from . import frames as F
from . import xdp_layout as X
from .handler import (
    DEADLINE,
    END_OF_SESSION,
    GO_ON,
    IDLE,
    SETTLE,
    count_datagram,
    on_datagram,
    on_idle,
)
from .libc import recvfrom
from .packet import hold_feed_port, load_acquire, store_release
from .xsk import Geo, XskSocket

__all__ = ["SETTLE", "DEADLINE", "END_OF_SESSION", "IDLE", "Rx", "XdpReceiver", "StaleProgram",
           "remove_stale_program"]

log = logging.getLogger(__name__)


class Rx(enum.IntEnum):
    """The loop's int64 counters and resume state; the first three are the seam's common
    counters (:mod:`tickpath.wire.handler`), then those every loop numbers alike."""

    PACKETS = 0  # datagrams of the feed handed to the feed handler
    BYTES = 1  # their UDP payload bytes
    LAST_PACKET_NS = 2  # receive time of the last datagram of the feed
    EMPTY_POLLS = 3  # looks at the RX ring that found nothing
    TRUNCATED = 4  # (unused here: a frame always fits its chunk)
    NEXT = 5  # state: our RX consumer position (free-running, 32-bit wrap)
    FILL_NEXT = 6  # state: our FILL producer position
    FRAMES = 7  # frames taken from the RX ring, of every kind
    BATCHES = 8  # looks at the RX ring that found frames
    WAKEUPS = 9  # system calls made because the kernel asked for a kick (need_wakeup)


N_RX = len(Rx)
_U32 = 0xFFFFFFFF
_NEED_WAKEUP = X.XDP_RING_NEED_WAKEUP
_MSG_DONTWAIT = socket.MSG_DONTWAIT
_DEADLINE_EVERY = 255


# no refcounting: counts on each state array make the loop slower (handler.implements)
@njit(cache=True, nogil=True, _nrt=False)
def poll_rx(umem, rx32, rx64, fr32, fr64, geo, dst_ip, dst_port, deadline_ns, idle_ns,
            state, rx, reasons):
    """Take frames from the RX ring and hand each datagram of the feed to the feed handler
    whose state is ``state``, until the deadline, the end of the session, idleness, or a
    SETTLE from the handler. Returns the exit code; state is in ``rx``."""
    cons = rx[5]
    fprod = rx[6]
    rx_mask, fr_mask = geo[Geo.RX_MASK], geo[Geo.FR_MASK]
    rx_desc, fr_desc = geo[Geo.RX_DESC], geo[Geo.FR_DESC]
    chunk_base = ~(geo[Geo.CHUNK_SIZE] - 1)
    code = GO_ON
    while True:
        prod = load_acquire(rx32, geo[Geo.RX_PROD])
        avail = (prod - cons) & _U32
        if avail == 0:
            rx[3] += 1
            # the kernel may want a kick to refill from the FILL ring (zero-copy drivers)
            if load_acquire(fr32, geo[Geo.FR_FLAGS]) & _NEED_WAKEUP:
                rx[9] += 1
                recvfrom(geo[Geo.FD], 0, 0, _MSG_DONTWAIT, 0, 0)
            now = realtime_ns()
            if now >= deadline_ns:
                break
            if idle_ns > 0 and rx[2] > 0 and now - rx[2] >= idle_ns:
                code = IDLE
                break
            code = on_idle(state, now)
            if code != GO_ON:
                break
            continue
        rx[8] += 1
        now = realtime_ns()  # no driver stamp: the moment the frames were seen
        for _ in range(avail):
            j = cons & rx_mask
            addr = np.int64(rx64[rx_desc + 2 * j])
            size = np.int64(rx32[(rx_desc + 2 * j) * 2 + 2])
            rx[7] += 1
            why, off, n = F.udp_payload_at(umem, addr, size, dst_ip, dst_port)
            if why != F.OK:
                reasons[why] += 1
            else:
                count_datagram(rx, n, now)
                code = on_datagram(state, umem, off, n, now)
            fr64[fr_desc + (fprod & fr_mask)] = addr & chunk_base  # the chunk goes back
            fprod = (fprod + 1) & _U32
            cons = (cons + 1) & _U32
            if code != GO_ON:
                break
        store_release(fr32, geo[Geo.FR_PROD], fprod)
        store_release(rx32, geo[Geo.RX_CONS], cons)
        if code != GO_ON:
            break
        # while frames flow, look at the clock each time the count passes a multiple of 256
        # (a batch adds many at once, so "is a multiple" could be skipped over for ever)
        if ((rx[7] - avail) ^ rx[7]) & ~_DEADLINE_EVERY and realtime_ns() >= deadline_ns:
            break
    rx[5] = cons
    rx[6] = fprod
    return DEADLINE if code == GO_ON else code


# ------------------------------------------------------------------ the interface's program


class StaleProgram(RuntimeError):
    """The interface already runs an XDP program this receiver must not replace."""


def _mode_flags(mode: str) -> int:
    return {"native": X.XDP_FLAGS_DRV_MODE, "generic": X.XDP_FLAGS_SKB_MODE}.get(mode, 0)


def remove_stale_program(ifindex: int, iface: str) -> int | None:
    """Check ``iface`` before attaching: a tickpath program left there by netlink (held by
    no process) is detached and its id returned; nothing attached returns None; anything
    else raises :class:`StaleProgram` saying what is there and how to remove it."""
    state = rtnetlink.xdp_state(ifindex)
    if not state.prog_id:
        return None
    from .xdp_program import PROGRAM_NAME

    name = bpf.prog_name_by_id(state.prog_id)
    holders = bpf.xdp_link_holders(state.prog_id)
    what = f"XDP program {name or '?'!r} (id {state.prog_id}, {state.mode} mode)"
    if holders:
        pids = ", ".join(str(p) for p, _ in holders)
        who = "another tickpath receiver" if name == PROGRAM_NAME else "a process"
        raise StaleProgram(f"xdp: {iface} already runs {what}, held by {who} (pid {pids}); "
                           f"stop it, or use another interface or transport")
    if name != PROGRAM_NAME:
        raise StaleProgram(f"xdp: {iface} already runs {what}, not tickpath's; remove it with "
                           f"`ip link set dev {iface} xdp off` if it is not needed, or use "
                           f"the packet transport")
    flags = {"native": X.XDP_FLAGS_DRV_MODE, "generic": X.XDP_FLAGS_SKB_MODE,
             "offload": X.XDP_FLAGS_HW_MODE}.get(state.mode, 0)
    try:
        rtnetlink.set_xdp_fd(ifindex, -1, flags)
    except OSError as e:
        if e.errno != errno.EBUSY:
            raise
        # a bpf_link holds it, in a process this one cannot see (another PID namespace)
        raise StaleProgram(f"xdp: {iface} already runs {what}, held by a process not visible "
                           f"from here (another container or PID namespace); stop it there, "
                           f"or use another interface or transport") from e
    log.warning("xdp: removed a stale tickpath XDP program (id %d, %s mode) from %s, "
                "left there by a process that is gone", state.prog_id, state.mode, iface)
    return state.prog_id


class XdpProgram:
    """The redirect program and its XSKMAP; :meth:`attach` puts it on an interface as a
    bpf_link (fill the map first, so the first redirected frame has a socket)."""

    def __init__(self, dst_ip: str, port: int, queues: int = 1) -> None:
        from .xdp_program import PROGRAM_NAME, redirect_program

        self.map_fd = self.prog_fd = self.link_fd = -1
        self.mode = ""
        try:
            self.map_fd = bpf.create_xskmap(max(queues, 1))
            self.prog_fd = bpf.load_xdp_program(redirect_program(self.map_fd, dst_ip, port),
                                                PROGRAM_NAME)
            self.prog_id = bpf.prog_info(self.prog_fd)[0]
        except BaseException:
            self.close()
            raise

    def add_socket(self, queue: int, fd: int) -> None:
        bpf.map_update_u32(self.map_fd, queue, fd)

    def attach(self, ifindex: int, iface: str, mode: str = "auto") -> str:
        """Attach in ``mode`` (``auto``: native if the driver allows, else generic);
        returns the mode used."""
        tries = ("native", "generic") if mode == "auto" else (mode,)
        err: OSError | None = None
        for m in tries:
            try:
                self.link_fd = bpf.link_xdp(self.prog_fd, ifindex, _mode_flags(m))
                self.mode = m
                return m
            except OSError as e:
                err = e
        assert err is not None
        raise OSError(err.errno, f"xdp: cannot attach the XDP program to {iface} in "
                                 f"{' or '.join(tries)} mode ({err.strerror})")

    def close(self) -> None:
        """Close the link (the kernel detaches the program), the program and the map."""
        for attr in ("link_fd", "prog_fd", "map_fd"):
            fd = getattr(self, attr)
            if fd >= 0:
                os.close(fd)
                setattr(self, attr, -1)


# ---------------------------------------------------------------------------------- owner


class XdpReceiver:
    """An AF_XDP socket on ``queue`` of ``iface`` receiving the UDP feed sent to
    ``host``:``port`` (a group or this host's address), with the redirect program attached.
    ``port=0`` lets the kernel choose the port (the helper socket's), as on loopback in the
    demo.

    ``copy``: copy mode (default; veth and lo need it) or zero-copy. ``mode``: where the
    program runs: ``auto`` (native, else generic), ``native`` or ``generic``. ``ring_size``:
    entries of the RX and FILL rings and receive chunks in the UMEM (8192: a stall of the
    loop of some 400 ms at 20,000 packets/s before the ring overruns). Raises
    PermissionError/OSError/StaleProgram naming what is missing and what to do.
    """

    name = "xdp"
    compiled = True

    def __init__(self, iface: str, host: str, port: int, *, queue: int = 0,
                 copy: bool = True, mode: str = "auto", ring_size: int = 8192,
                 iface_ip: str = "0.0.0.0") -> None:
        if mode not in ("auto", "native", "generic"):
            raise ValueError(f"xdp: attach mode {mode!r}: auto, native or generic")
        if os.geteuid() != 0:
            raise PermissionError(
                "xdp: loading an XDP program and opening AF_XDP sockets need CAP_NET_ADMIN, "
                "CAP_BPF and CAP_NET_RAW: run as root; the packet transport needs only "
                "CAP_NET_RAW and busypoll nothing")
        try:
            self.ifindex = socket.if_nametoindex(iface)
        except OSError as e:
            raise OSError(e.errno, f"xdp: no network interface named {iface!r} here "
                                   f"(see `ip link`)") from e
        self.iface, self.host, self.port, self.queue = iface, host, port, queue
        self.dst_ip = int(ipaddress.IPv4Address(host))
        self.xsk: XskSocket | None = None
        self.program: XdpProgram | None = None
        self.sock: socket.socket | None = None
        # what is on the interface first: a refusal then names the program in the way
        self.replaced = remove_stale_program(self.ifindex, iface)
        try:
            self.sock = hold_feed_port(host, port, iface_ip, self.ifindex, f"xdp ({iface})")
            self.port = port = self.sock.getsockname()[1]  # port 0: the kernel chose one
            self.xsk = XskSocket(self.ifindex, queue, rx_size=ring_size, copy=copy)
            self.program = XdpProgram(host, port, queue + 1)
            self.program.add_socket(queue, self.xsk.fileno())
            self.program.attach(self.ifindex, iface, mode)
        except BaseException:
            self.close()
            raise
        self.mode = self.program.mode
        self.rx = np.zeros(N_RX, np.int64)
        self.rx[Rx.FILL_NEXT] = self.xsk.rx_chunks
        self.reasons = np.zeros(F.N_REASONS, np.int64)

    def describe(self) -> str:
        return (f"AF_XDP on {self.iface} queue {self.queue}, "
                f"{'copy' if self.xsk and self.xsk.copy else 'zero-copy'} mode, "
                f"program {self.mode}")

    # -- the compiled path --------------------------------------------------------------------

    def poll(self, state, deadline_ns: int, idle_ns: int) -> int:
        """Run the compiled loop once, handing datagrams to the feed handler whose state is
        ``state`` (until deadline, end of session, idleness or a SETTLE); returns its exit
        code."""
        x = self.xsk
        if x is None:
            raise ValueError("xdp: the receiver is closed")
        return poll_rx(x.umem, x.rx32, x.rx64, x.fr32, x.fr64, x.geo, self.dst_ip, self.port,
                       deadline_ns, idle_ns, state, self.rx, self.reasons)

    @staticmethod
    def warm_up(state) -> None:
        """Compile (or load from the cache) the loop for ``state``'s type on scratch
        arrays of the same types (an empty ring: the loop returns at its deadline)."""
        from .xsk import N_GEO

        u8, u32, u64 = (np.zeros(64, t) for t in (np.uint8, np.uint32, np.uint64))
        geo = np.zeros(N_GEO, np.int64)
        geo[Geo.CHUNK_SIZE] = 2048
        poll_rx(u8, u32, u64, u32.copy(), u64.copy(), geo, 1, 9, 0, 0, state,
                np.zeros(N_RX, np.int64), np.zeros(F.N_REASONS, np.int64))

    # -- observing ----------------------------------------------------------------------------

    def stats(self) -> dict[str, int]:
        """Counters: the feed's datagrams and bytes, frames taken, batches, wake-ups, the
        kernel's XDP_STATISTICS (``rx_dropped``, ``rx_ring_full``,
        ``rx_fill_ring_empty_descs``, ...), ``drops`` (their sum on the receive side), and
        frames skipped by reason."""
        rx = self.rx
        out = {"packets": int(rx[Rx.PACKETS]), "bytes": int(rx[Rx.BYTES]),
               "empty_polls": int(rx[Rx.EMPTY_POLLS]), "frames": int(rx[Rx.FRAMES]),
               "batches": int(rx[Rx.BATCHES]), "wakeups": int(rx[Rx.WAKEUPS]),
               "malformed": int(self.reasons[1:].sum())}
        if self.xsk is not None:
            k = self.xsk.statistics()
            out.update(k)
            out["drops"] = k["rx_dropped"] + k["rx_ring_full"] + k["rx_invalid_descs"]
        for r in F.Reason:
            if r != F.Reason.OK:
                out[r.name.lower()] = int(self.reasons[r])
        return out

    def stamp_source(self) -> str:
        """Which clock stamped the frames: AF_XDP carries no kernel stamp."""
        return "user space, when the loop found the frame (CLOCK_REALTIME)"

    def close(self) -> None:
        """Detach the program (closing its link), close the socket, unmap (idempotent)."""
        if self.program is not None:
            self.program.close()
            self.program = None
        if self.xsk is not None:
            self.xsk.close()
            self.xsk = None
        if self.sock is not None:
            self.sock.close()
            self.sock = None

    def __enter__(self) -> XdpReceiver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
