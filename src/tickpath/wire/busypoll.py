"""The busy-poll transport: a non-blocking UDP socket polled from a compiled loop.

``recvmmsg`` takes up to ``vlen`` datagrams per system call straight into a preallocated ring
of slots; the loop never sleeps, never returns to the interpreter while packets flow, and
hands each datagram where it landed to the feed stage's compiled step. ``SO_BUSY_POLL`` is set
where the kernel allows it (it makes the kernel spin on the NIC queue inside the call; veth
and loopback ignore it). This is the path Onload accelerates without code changes: run
``onload tickpath listen --transport busypoll`` on a Solarflare/AMD NIC (docs/onload.md).

Receive timestamps come through ``SO_TIMESTAMPING``: the kernel's software stamp (CLOCK_REALTIME,
taken as the datagram enters the stack); with ``busypoll:hwts`` the NIC's hardware stamp
where it gives one (a NIC with a PTP clock; :mod:`tickpath.wire.hwstamp`), on the NIC's clock. Each datagram is counted by which clock stamped it
(``hw_stamped``, ``sw_stamped``) and :meth:`BusyPollReceiver.stamp_source` says so.
"""

from __future__ import annotations

import enum
import socket
import struct

import numpy as np
from numba import njit

from ..engine._kernels import BOOK, END_OF_SESSION, GO_ON, deliver
from ..telemetry.nclock import realtime_ns
from . import hwstamp as hw
from . import layout as L
from .libc import recvmmsg
from .socket import is_multicast, udp_drops


class Rx(enum.IntEnum):
    """The receive loop's int64 counters and resume state."""

    PACKETS = 0
    BYTES = 1
    EMPTY_POLLS = 2  # recvmmsg calls that found nothing
    TRUNCATED = 3  # datagrams larger than a slot
    SAMPLES = 4  # latency samples recorded
    NEXT = 5  # state: next datagram of the current batch
    BATCH = 6  # state: datagrams in the current batch
    EVENT_AT = 7  # state: event refused by the books (settled by the owner)
    EVENTS = 8  # state: events decoded in that datagram
    LAST_PACKET_NS = 9
    HW_STAMPED = 10  # datagrams stamped by the NIC (raw hardware stamp)
    SW_STAMPED = 11  # datagrams stamped by the kernel in software


N_RX = len(Rx)
#: counters 0..N_SHARED-1 are the same in every compiled receiver (the listener reads them)
N_SHARED = 10
#: SO_TIMESTAMPING flags: the kernel's software stamp; with ``hwts`` also the NIC's raw stamp
RX_STAMPS = hw.SOF_TIMESTAMPING_RX_SOFTWARE | hw.SOF_TIMESTAMPING_SOFTWARE
RX_HW_STAMPS = RX_STAMPS | hw.SOF_TIMESTAMPING_RX_HARDWARE | hw.SOF_TIMESTAMPING_RAW_HARDWARE
_NO_TAP = (np.zeros(0, np.int64), np.zeros(0, np.int64), np.zeros(0, np.int64))  # no ring

# loop exits
# loop exits besides END_OF_SESSION and BOOK (engine._kernels)
DEADLINE = 0
IDLE = 3
__all__ = ["BOOK", "DEADLINE", "END_OF_SESSION", "IDLE", "BusyPollReceiver", "Rx"]


@njit(cache=True, nogil=True)
def poll_loop(fd, vec, vec64, vec32, vlen, bufs, slot, ctrl64, ctrl32, deadline_ns, idle_ns,
              session, mold, events, orders, mask, levels, free, heads, stats, inst, symbols,
              type_counts, capacity, feed, rx, lat, ker, tap_hdr=None, tap_words=None,
              tap_wait=None):
    """Receive and process datagrams until the deadline, the end of the session, idleness,
    or an event the books refuse. Returns the exit code; state to resume is in ``rx``."""
    i = rx[5]
    n = rx[6]
    mstride64 = L.MMSGHDR_SIZE // 8
    mstride32 = L.MMSGHDR_SIZE // 4
    cstride64 = L.CMSG_SPACE_TIMESTAMPING // 8
    cstride32 = L.CMSG_SPACE_TIMESTAMPING // 4
    vptr = vec.ctypes.data
    while True:
        if i >= n:
            for j in range(vlen):  # the kernel shrinks msg_controllen to what it wrote
                vec64[j * mstride64 + L.MSG_CONTROLLEN // 8] = L.CMSG_SPACE_TIMESTAMPING
            r = recvmmsg(fd, vptr, vlen, L.MSG_DONTWAIT, 0)
            if r <= 0:
                rx[2] += 1
                now = realtime_ns()
                if now >= deadline_ns:
                    rx[5] = 0
                    rx[6] = 0
                    return DEADLINE
                if idle_ns > 0 and rx[9] > 0 and now - rx[9] >= idle_ns:
                    rx[5] = 0
                    rx[6] = 0
                    return IDLE
                continue
            n = r
            i = 0
        length = np.int64(vec32[i * mstride32 + L.MMSG_LEN // 4])
        flags = vec32[i * mstride32 + L.MSG_FLAGS // 4]
        rx_ns = np.int64(0)
        if (vec64[i * mstride64 + L.MSG_CONTROLLEN // 8] >= L.CMSG_SPACE_TIMESTAMPING
                and ctrl32[i * cstride32 + L.CMSG_LEVEL // 4] == L.SOL_SOCKET
                and ctrl32[i * cstride32 + L.CMSG_TYPE // 4] == L.SCM_TIMESTAMPING):
            ts = i * cstride64 + L.CMSG_DATA // 8  # struct timespec ts[3], in int64 words
            hw = ctrl64[ts + 2 * L.TS_RAW_HARDWARE] * 1_000_000_000 + \
                ctrl64[ts + 2 * L.TS_RAW_HARDWARE + 1]
            if hw > 0:
                rx_ns = hw
                rx[10] += 1
            else:
                rx_ns = ctrl64[ts + 2 * L.TS_SOFTWARE] * 1_000_000_000 + \
                    ctrl64[ts + 2 * L.TS_SOFTWARE + 1]
                rx[11] += 1
        start = i * slot
        i += 1
        if flags & L.MSG_TRUNC:
            rx[3] += 1
            continue
        code = deliver(bufs, start, length, rx_ns, session, mold, events, orders, mask, levels,
                       free, heads, stats, inst, symbols, type_counts, capacity, feed, rx, lat,
                       ker, tap_hdr, tap_words, tap_wait)
        if code != GO_ON:
            rx[5] = i
            rx[6] = n
            return code


class BusyPollReceiver:
    """A non-blocking UDP socket on ``(host, port)`` drained by a compiled ``recvmmsg`` loop.

    ``vlen`` datagrams per call, each into its own ``slot``-byte buffer. ``busy_poll_us`` sets
    ``SO_BUSY_POLL`` (``busy_poll_set`` says whether the kernel took it; it needs root above
    ``net.core.busy_read``). ``hw_timestamps``: an interface whose NIC is asked to stamp
    every frame in hardware while the receiver is open (refused, saying why, when it cannot).
    Also offers ``recv()`` for the generic Python listener.
    """

    name = "busypoll"
    compiled = True

    def __init__(self, host: str = "127.0.0.1", port: int = 26400, *, iface_ip: str = "0.0.0.0",
                 vlen: int = 64, slot: int = 2048, rcvbuf: int = 32 << 20,
                 busy_poll_us: int = 50, hw_timestamps: str | None = None) -> None:
        self.host, self.port = host, port
        # the NIC stamps every frame while this is open (hw_timestamps names the interface)
        self.hw_stamps = hw.HardwareStamps(hw_timestamps) if hw_timestamps else None
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                self.sock.setsockopt(socket.SOL_SOCKET, L.SO_RCVBUFFORCE, rcvbuf)
            except OSError:
                self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
            # the NIC's stamps only when asked: they are on its clock, not CLOCK_REALTIME
            self.sock.setsockopt(socket.SOL_SOCKET, L.SO_TIMESTAMPING,
                                 RX_HW_STAMPS if hw_timestamps else RX_STAMPS)
            try:
                self.sock.setsockopt(socket.SOL_SOCKET, L.SO_BUSY_POLL, busy_poll_us)
                self.busy_poll_set = True
            except OSError:  # unprivileged above net.core.busy_read: the loop still spins
                self.busy_poll_set = False
            self.sock.bind((host, port))
            if is_multicast(host):
                mreq = socket.inet_aton(host) + socket.inet_aton(iface_ip)
                self.sock.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, mreq)
            self.sock.setblocking(False)
        except OSError as e:
            self.close()
            raise OSError(e.errno, f"busypoll: cannot receive UDP on {host}:{port}: "
                                   f"{e.strerror}") from e
        self.vlen, self.slot = vlen, slot
        self.vec = np.zeros(vlen * L.MMSGHDR_SIZE, np.uint8)
        self.iov = np.zeros(vlen * L.IOVEC_SIZE, np.uint8)
        self.bufs = np.zeros(vlen * slot, np.uint8)
        self.ctrl = np.zeros(vlen * L.CMSG_SPACE_TIMESTAMPING, np.uint8)
        self.vec64, self.vec32 = self.vec.view(np.int64), self.vec.view(np.uint32)
        self.ctrl64, self.ctrl32 = self.ctrl.view(np.int64), self.ctrl.view(np.uint32)
        iov64 = self.iov.view(np.int64)
        for i in range(vlen):  # point each message at its iovec, slot and control buffer
            iov64[i * 2] = self.bufs.ctypes.data + i * slot
            iov64[i * 2 + 1] = slot
            m = i * L.MMSGHDR_SIZE // 8
            self.vec64[m + L.MSG_IOV // 8] = self.iov.ctypes.data + i * L.IOVEC_SIZE
            self.vec64[m + L.MSG_IOVLEN // 8] = 1
            self.vec64[m + L.MSG_CONTROL // 8] = \
                self.ctrl.ctypes.data + i * L.CMSG_SPACE_TIMESTAMPING
            self.vec64[m + L.MSG_CONTROLLEN // 8] = L.CMSG_SPACE_TIMESTAMPING
        self.rx = np.zeros(N_RX, np.int64)
        self._ts = struct.Struct("@6q")  # struct scm_timestamping: three timespecs
        self._anc = socket.CMSG_SPACE(L.SCM_TIMESTAMPING_SIZE)
        self._one = np.empty(slot, np.uint8)

    # -- the generic (Python) receiver interface --------------------------------------------

    def settimeout(self, seconds: float | None) -> None:
        self._timeout = seconds  # recv() polls; the timeout bounds one call

    def recv(self) -> tuple[np.ndarray, int] | None:
        """One datagram, polled (no blocking) for up to the timeout; for the Python listener.
        The compiled path is :meth:`run`."""
        import time

        end = time.monotonic() + (getattr(self, "_timeout", None) or 0.05)
        mv = memoryview(self._one)
        while True:
            try:
                n, anc, flags, _ = self.sock.recvmsg_into([mv], self._anc)
            except BlockingIOError:
                if time.monotonic() >= end:
                    return None
                continue
            rx = 0
            for level, typ, data in anc:
                if level == socket.SOL_SOCKET and typ == L.SCM_TIMESTAMPING:
                    ts = self._ts.unpack_from(data)
                    hw = ts[2 * L.TS_RAW_HARDWARE] * 1_000_000_000 + ts[2 * L.TS_RAW_HARDWARE + 1]
                    sw = ts[2 * L.TS_SOFTWARE] * 1_000_000_000 + ts[2 * L.TS_SOFTWARE + 1]
                    rx = hw or sw
                    self.rx[Rx.HW_STAMPED if hw else Rx.SW_STAMPED] += 1
            if flags & socket.MSG_TRUNC:
                self.rx[Rx.TRUNCATED] += 1
                continue
            self.rx[Rx.PACKETS] += 1
            self.rx[Rx.BYTES] += n
            return self._one[:n], rx

    # -- the compiled path --------------------------------------------------------------------

    def poll(self, handler, session, deadline_ns: int, idle_ns: int, lat: np.ndarray,
             ker: np.ndarray, feed: np.ndarray, tap=None) -> int:
        """Run the compiled loop once (until deadline, end of session, idleness or a refused
        event); returns its exit code. ``tap``: ``(hdr, words, wait)`` of the hand-off ring
        (engine._kernels.deliver), or None."""
        b = handler.books
        tap_hdr, tap_words, tap_wait = tap if tap is not None else _NO_TAP
        return poll_loop(self.sock.fileno(), self.vec, self.vec64, self.vec32, self.vlen,
                         self.bufs, self.slot, self.ctrl64, self.ctrl32, deadline_ns, idle_ns,
                         session.session, session.counters, handler.events, b.orders, b.mask,
                         b.levels, b.free, b.heads, b.stats_array, b.inst, b.symbols,
                         b.type_counts, b.capacity, feed, self.rx, lat, ker, tap_hdr,
                         tap_words, tap_wait)

    @staticmethod
    def warm_up(handler) -> None:
        """Compile (or load from the cache) the receive loop for ``handler``'s types, on a
        scratch socket of its own so no datagram of the real feed is consumed."""
        from ..engine.handler import ItchHandler
        from ..feed.moldudp64 import MoldSession

        scratch = ItchHandler(type(handler.books)(max_orders=16), batch=16)
        with BusyPollReceiver("127.0.0.1", 0, vlen=2, slot=64) as rx:
            lat = np.zeros(1, np.int64)
            rx.poll(scratch, MoldSession(), 0, 0, lat, lat.copy(), np.zeros(4, np.int64))

    def stats(self) -> dict[str, int]:
        return {"packets": int(self.rx[Rx.PACKETS]), "bytes": int(self.rx[Rx.BYTES]),
                "truncated": int(self.rx[Rx.TRUNCATED]),
                "empty_polls": int(self.rx[Rx.EMPTY_POLLS]),
                "hw_stamped": int(self.rx[Rx.HW_STAMPED]),
                "sw_stamped": int(self.rx[Rx.SW_STAMPED]),
                "drops": udp_drops(self.sock)}

    def stamp_source(self) -> str:
        """Which clock stamped the datagrams received so far."""
        return hw.stamp_source(int(self.rx[Rx.HW_STAMPED]), int(self.rx[Rx.SW_STAMPED]))

    def close(self) -> None:
        if self.hw_stamps is not None:
            self.hw_stamps.close()
            self.hw_stamps = None
        self.sock.close()

    def __enter__(self) -> BusyPollReceiver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
