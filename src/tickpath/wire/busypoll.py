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
import errno as E
import socket
import struct
from types import FunctionType

import numpy as np
from numba import njit

from ..telemetry.nclock import realtime_ns
from . import hwstamp as hw
from . import layout as L
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
from .libc import errno, recvmmsg
from .socket import bind_lines, check_lines, udp_drops


class Rx(enum.IntEnum):
    """The receive loop's int64 counters and resume state (the first three are the seam's
    common counters, :mod:`tickpath.wire.handler`)."""

    PACKETS = 0  # datagrams handed to the feed handler
    BYTES = 1
    LAST_PACKET_NS = 2
    EMPTY_POLLS = 3  # recvmmsg calls that found nothing (EAGAIN)
    TRUNCATED = 4  # datagrams larger than a slot (MSG_TRUNC): counted, not handed on
    NEXT = 5  # state: next datagram of the current batch
    BATCH = 6  # state: datagrams in the current batch
    HW_STAMPED = 7  # datagrams stamped by the NIC (raw hardware stamp)
    SW_STAMPED = 8  # datagrams stamped by the kernel in software
    RECV_ERRORS = 9  # recvmmsg calls that failed with an error other than EAGAIN / EINTR
    LAST_ERRNO = 10  # the errno of the last such failure


N_RX = len(Rx)
#: SO_TIMESTAMPING flags: the kernel's software stamp; with ``hwts`` also the NIC's raw stamp
RX_STAMPS = hw.SOF_TIMESTAMPING_RX_SOFTWARE | hw.SOF_TIMESTAMPING_SOFTWARE
RX_HW_STAMPS = RX_STAMPS | hw.SOF_TIMESTAMPING_RX_HARDWARE | hw.SOF_TIMESTAMPING_RAW_HARDWARE
_EAGAIN, _EINTR = E.EAGAIN, E.EINTR
__all__ = ["DEADLINE", "END_OF_SESSION", "IDLE", "SETTLE", "BlockingRecvReceiver",
           "BusyPollReceiver", "Rx"]


# no refcounting: counts on each state array make the loop slower (handler.implements)
@njit(cache=True, nogil=True, _nrt=False)
def poll_loop(fd, vec, vec64, vec32, vlen, bufs, slot, ctrl64, ctrl32, deadline_ns, idle_ns,
              state, rx, flags=L.MSG_DONTWAIT):
    """Receive datagrams and hand each to the feed handler whose state is ``state`` until the
    deadline, the end of the session, idleness, or the handler asks its owner to settle.
    Returns the exit code; state to resume is in ``rx``. ``flags``: ``MSG_DONTWAIT`` spins
    (busypoll); 0 blocks in the call until the kernel wakes the thread (``recv``; the socket's
    receive timeout bounds each wait so the deadline is seen)."""
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
            r = recvmmsg(fd, vptr, vlen, flags, 0)
            if r <= 0:
                err = errno() if r < 0 else _EAGAIN
                if err == _EAGAIN or err == _EINTR:
                    rx[3] += 1
                else:  # a real error (ENOMEM, EFAULT, a socket error...): counted, shown
                    rx[9] += 1
                    rx[10] = err
                now = realtime_ns()
                if now >= deadline_ns:
                    rx[5] = 0
                    rx[6] = 0
                    return DEADLINE
                if idle_ns > 0 and rx[2] > 0 and now - rx[2] >= idle_ns:
                    rx[5] = 0
                    rx[6] = 0
                    return IDLE
                code = on_idle(state, now)
                if code != GO_ON:
                    rx[5] = 0
                    rx[6] = 0
                    return code
                continue
            n = r
            i = 0
        length = np.int64(vec32[i * mstride32 + L.MMSG_LEN // 4])
        mflags = vec32[i * mstride32 + L.MSG_FLAGS // 4]  # this datagram's (not the call's)
        rx_ns = np.int64(0)
        if (vec64[i * mstride64 + L.MSG_CONTROLLEN // 8] >= L.CMSG_SPACE_TIMESTAMPING
                and ctrl32[i * cstride32 + L.CMSG_LEVEL // 4] == L.SOL_SOCKET
                and ctrl32[i * cstride32 + L.CMSG_TYPE // 4] == L.SCM_TIMESTAMPING):
            ts = i * cstride64 + L.CMSG_DATA // 8  # struct timespec ts[3], in int64 words
            hw = ctrl64[ts + 2 * L.TS_RAW_HARDWARE] * 1_000_000_000 + \
                ctrl64[ts + 2 * L.TS_RAW_HARDWARE + 1]
            if hw > 0:
                rx_ns = hw
                rx[7] += 1
            else:
                rx_ns = ctrl64[ts + 2 * L.TS_SOFTWARE] * 1_000_000_000 + \
                    ctrl64[ts + 2 * L.TS_SOFTWARE + 1]
                rx[8] += 1
        start = i * slot
        i += 1
        if mflags & L.MSG_TRUNC:  # cut to the slot: never half a datagram to the handler
            rx[4] += 1
            continue
        count_datagram(rx, length, rx_ns)
        code = on_datagram(state, bufs, start, length, rx_ns)
        if code != GO_ON:
            rx[5] = i
            rx[6] = n
            return code


def _another_dispatcher(fn, name: str):
    """The compiled function ``fn`` again, as a dispatcher of its own named ``name`` (same
    code, its own cache entries). A receive loop nested in another loop's handler (run to
    completion's second feed) must not be the outer loop's dispatcher: numba takes a call
    into the dispatcher it is compiling for recursion, even for other argument types, and
    leaves the nested call's symbol unresolved (an abort at run time, a poisoned cache)."""
    f = FunctionType(fn.py_func.__code__, fn.py_func.__globals__, name,
                     fn.py_func.__defaults__)
    f.__qualname__ = name
    f.__doc__ = fn.py_func.__doc__
    return njit(cache=True, nogil=True, _nrt=False)(f)


#: :func:`poll_loop` for a pass nested in another receive loop (``_another_dispatcher``)
poll_pass = _another_dispatcher(poll_loop, "poll_pass")


class BusyPollReceiver:
    """A non-blocking UDP socket on ``(host, port)`` drained by a compiled ``recvmmsg`` loop.

    ``vlen`` datagrams per call, each into its own ``slot``-byte buffer. ``busy_poll_us`` sets
    ``SO_BUSY_POLL`` (``busy_poll_set`` says whether the kernel took it; it needs root above
    ``net.core.busy_read``). ``hw_timestamps``: an interface whose NIC is asked to stamp
    every frame in hardware while the receiver is open (refused, saying why, when it cannot).
    ``line_b``: line B's multicast group on the same port, received on the same socket
    (:func:`tickpath.wire.socket.bind_lines`). Also offers ``recv()`` for the generic Python
    listener.
    """

    name = "busypoll"
    compiled = True
    _flags = L.MSG_DONTWAIT  # spin: the call never sleeps

    def __init__(self, host: str = "127.0.0.1", port: int = 26400, *, iface_ip: str = "0.0.0.0",
                 vlen: int = 64, slot: int = 2048, rcvbuf: int = 32 << 20,
                 busy_poll_us: int = 50, hw_timestamps: str | None = None,
                 line_b: str | None = None) -> None:
        self.host, self.port = host, port
        check_lines(host, line_b)
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
            bind_lines(self.sock, host, port, iface_ip, line_b)
            self._blocking_setup()
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

    def _blocking_setup(self) -> None:
        self.sock.setblocking(False)

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

    def poll(self, state, deadline_ns: int, idle_ns: int) -> int:
        """Run the compiled loop once, handing datagrams to the feed handler whose state is
        ``state`` (until deadline, end of session, idleness or a SETTLE); returns its exit
        code."""
        return poll_loop(self.sock.fileno(), self.vec, self.vec64, self.vec32, self.vlen,
                         self.bufs, self.slot, self.ctrl64, self.ctrl32, deadline_ns, idle_ns,
                         state, self.rx, self._flags)

    def loop_arrays(self) -> tuple:
        """What :func:`poll_loop` (and :data:`poll_pass`) take besides the deadline,
        idleness and handler state:
        ``(fd, vec, vec64, vec32, vlen, bufs, slot, ctrl64, ctrl32, rx, flags)``, for a
        compiled loop of another receiver that nests a pass of this one's."""
        return (self.sock.fileno(), self.vec, self.vec64, self.vec32, self.vlen, self.bufs,
                self.slot, self.ctrl64, self.ctrl32, self.rx, self._flags)

    @classmethod
    def warm_up(cls, state) -> None:
        """Compile (or load from the cache) the receive loop for ``state``'s type, on a
        scratch socket of its own so no datagram of the real feed is consumed."""
        with cls("127.0.0.1", 0, vlen=2, slot=64) as rx:
            rx.poll(state, 0, 0)

    def stats(self) -> dict[str, int]:
        return {"packets": int(self.rx[Rx.PACKETS]), "bytes": int(self.rx[Rx.BYTES]),
                "truncated": int(self.rx[Rx.TRUNCATED]),
                "empty_polls": int(self.rx[Rx.EMPTY_POLLS]),
                "recv_errors": int(self.rx[Rx.RECV_ERRORS]),
                "last_errno": int(self.rx[Rx.LAST_ERRNO]),
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


class BlockingRecvReceiver(BusyPollReceiver):
    """The traditional stack without the interpreter: the same compiled loop, blocking in
    ``recvmmsg`` for one datagram a call, so the kernel puts the thread to sleep and wakes it
    per datagram (``recv``). It is the like-for-like baseline of the compiled bypass loops:
    only the wake-up differs from ``busypoll``. A receive timeout of ``wake_ms`` bounds each
    sleep so the loop sees its deadline."""

    name = "recv"
    _flags = 0  # block in the call

    def __init__(self, host: str = "127.0.0.1", port: int = 26400, *, iface_ip: str = "0.0.0.0",
                 vlen: int = 1, slot: int = 2048, rcvbuf: int = 32 << 20,
                 wake_ms: int = 20, hw_timestamps: str | None = None,
                 line_b: str | None = None) -> None:
        self._wake_ms = wake_ms
        super().__init__(host, port, iface_ip=iface_ip, vlen=vlen, slot=slot, rcvbuf=rcvbuf,
                         busy_poll_us=0, hw_timestamps=hw_timestamps, line_b=line_b)

    def _blocking_setup(self) -> None:
        # SO_RCVTIMEO: a blocked call returns EAGAIN after wake_ms (struct timeval)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO,
                             struct.pack("@ll", self._wake_ms // 1000,
                                         (self._wake_ms % 1000) * 1000))
