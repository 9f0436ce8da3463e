"""Socket senders: MoldUDP64 packets out through the kernel's UDP socket, from compiled loops.

The venue's publisher packs a run of packets into one buffer (packet ``i`` is
``out[bounds[i]:bounds[i+1]]`` and carries ``counts[i]`` messages) and hands the run to a
sender with its stamper. A sender paces the run (optional rate), has the stamper stamp each
packet with the send time (:mod:`tickpath.wire.stamping`: the sender knows when, the publisher
knows how; ITCH's is ns since midnight in every message), and sends it::

    out     | header | blocks ... | header | blocks ... | header | blocks ... |
            ^bounds[0]           ^bounds[1]           ^bounds[2]           ^bounds[3]

    per packet:  pace (spin until due) -> stamp_packet(stamper, now) -> system call

=============  ====================================================  ==========================
sender         what sends                                            for
=============  ====================================================  ==========================
``socket``     Python ``sock.sendto`` per packet, stamped in Python  the baseline
``sendto``     compiled loop, libc ``sendto`` per packet             paced loads
``sendmmsg``   compiled loop, libc ``sendmmsg``, up to ``vlen``      bursts (the default);
               packets a call                                        paced: one packet a call
``packet``     AF_PACKET TX ring (:mod:`tickpath.wire.packet_tx`)     bypassing the IP/UDP stack
``xdp``        AF_XDP TX ring (:mod:`tickpath.wire.xdp_tx`)           bypassing the IP/UDP stack
``dpdk``       DPDK port: frames in mbufs, tx bursts                 a venue on DPDK
               (:mod:`tickpath.wire.dpdk_tx`)
=============  ====================================================  ==========================

The compiled senders read the clock (CLOCK_REALTIME) and stamp in compiled code immediately
before the system call, so the
send -> book latency a receiver measures no longer includes the interpreter. A ``sendmmsg``
batch shares one stamp, taken just before the call.

Pacing: packet ``i`` is due at ``t0 + messages_before_i / rate``; the loop spins on the
compiled clock until then (waits over 1.3 ms sleep in ``poll`` first; while more than 20 µs
is left it calls ``sched_yield`` between looks). The yield matters on loopback: the kernel
delivers a sent datagram in softirq context on the sender's core, and once that work is
handed to ``ksoftirqd`` a sender spinning on the same core keeps it off the core until the
next timer tick, so every datagram waited 0-4 ms in the kernel (measured: `tickpath demo
--transport busypoll` p50 2.3 ms spinning, 10 µs yielding). A sender that falls
more than 1 ms behind (a stall, a slow chunk) starts its schedule afresh rather than burst to
catch up, so a paced load stays paced and queueing does not pass for path latency.

Full is counted, never a drop: every call is made with MSG_DONTWAIT; EAGAIN / ENOBUFS (the
socket's send buffer or the device queue is full) waits for room (``poll`` for POLLOUT, at
most 1 ms a time), counts a wait and tries the same packet again (restamped). ECONNREFUSED
(an ICMP port unreachable reported on a later send, e.g. nobody listening yet on loopback) is
counted and the packet sent again: the kernel consumed the error, not the packet (refused twice
in a row, the peer is gone: that stops the loop). Any other error stops the loop with the errno; no room for ``stall_ns`` stops it as stalled. The owner
turns both into an OSError naming what happened.
"""

from __future__ import annotations

import enum
import errno as E
import os
import socket
import time

import numpy as np
from numba import njit

from ..telemetry.nclock import realtime_ns
from . import layout as L
from .libc import errno, poll, sched_yield, sendmmsg, sendto
from .socket import is_multicast
from .stamping import NO_STAMP, stamp_now, stamp_packet

__all__ = ["SendmmsgSender", "SendtoSender", "SocketSender",
           "Tx", "udp_socket"]



class Tx(enum.IntEnum):
    """A sender's int64 counters and pacing state (one array, shared by every sender)."""

    PACKETS = 0
    BYTES = 1  # UDP payload bytes
    MESSAGES = 2
    CALLS = 3  # system calls that sent (sendto, sendmmsg, TX ring kicks)
    WAITS = 4  # EAGAIN / ENOBUFS / TX ring full: waited for room
    REFUSED = 5  # ECONNREFUSED reported (packet sent again)
    ERRNO = 6  # the errno that stopped the loop
    REANCHORS = 7  # paced schedule restarted after falling more than 1 ms behind
    T0 = 8  # state: schedule start (CLOCK_REALTIME ns; 0: not started)
    BASE = 9  # state: MESSAGES at T0
    WRONG_FORMAT = 10  # TX ring frames the kernel refused (TP_STATUS_WRONG_FORMAT)
    FRAME = 11  # state, TX ring: next frame to fill
    IDENT = 12  # state, TX ring: next IPv4 identification
    COMPLETED = 13  # AF_XDP: chunks the kernel handed back on the COMPLETION ring
    FREE = 14  # state, AF_XDP: free TX chunks on the sender's free list


N_TX = len(Tx)

# kernel exits
SENT = 0
FAILED = 1  # errno in tx[ERRNO]
STALLED = 2  # no room for stall_ns
REFUSED_FRAME = 3  # TX ring: a frame came back TP_STATUS_WRONG_FORMAT

REANCHOR_NS = 1_000_000
STALL_NS = 10_000_000_000
_SLEEP_OVER_NS = 1_300_000  # pacing: longer waits sleep (poll), shorter ones spin
_YIELD_OVER_NS = 20_000  # ...yielding the core while more than this is left (see pace)
_EAGAIN, _ENOBUFS, _EINTR, _ECONNREFUSED = E.EAGAIN, E.ENOBUFS, E.EINTR, E.ECONNREFUSED

# ------------------------------------------------------------------------ compiled helpers


@njit(cache=True, nogil=True)
def pace(tx, rate):
    """Wait until the next packet is due at ``rate`` messages/s (see module doc)."""
    now = realtime_ns()
    if tx[8] == 0:
        tx[8] = now
        tx[9] = tx[2]
    due = tx[8] + np.int64((tx[2] - tx[9]) * 1e9 / rate)
    if now - due > REANCHOR_NS:
        tx[8] = now
        tx[9] = tx[2]
        tx[7] += 1
        return
    while True:
        ahead = due - realtime_ns()
        if ahead <= 0:
            return
        if ahead > _SLEEP_OVER_NS:
            poll(0, 0, (ahead - 300_000) // 1_000_000)
        elif ahead > _YIELD_OVER_NS:
            sched_yield()


@njit(cache=True, nogil=True)
def wait_room(pfd, tx, since, stall_ns):
    """After EAGAIN / ENOBUFS: count a wait, then block until the socket is writable (at most
    1 ms). Returns the time the wait for this packet began, or -1 after ``stall_ns``."""
    tx[4] += 1
    now = realtime_ns()
    if since == 0:
        since = now
    elif now - since > stall_ns:
        return -1
    poll(pfd, 1, 1)
    return since


@njit(cache=True, nogil=True)
def account(tx, counts, bounds, i, n):
    """Count packets ``i .. i+n-1`` as sent."""
    for j in range(i, i + n):
        tx[0] += 1
        tx[1] += bounds[j + 1] - bounds[j]
        tx[2] += counts[j]


# ------------------------------------------------------------------------ compiled senders


_AGAIN = -1  # settle(): send the same packet again


@njit(cache=True, nogil=True, inline="always")
def settle(e, pptr, tx, since, refused, stall_ns):
    """After a send failed with errno ``e``: wait for room (EAGAIN, ENOBUFS), count a
    refusal the first time in a row (ECONNREFUSED), go on after EINTR. Returns ``(_AGAIN or
    an exit, since, refused)``."""
    if e == _EAGAIN or e == _ENOBUFS:
        since = wait_room(pptr, tx, since, stall_ns)
        if since < 0:
            return STALLED, since, refused
    elif e == _ECONNREFUSED and refused == 0:
        tx[5] += 1
        refused = 1
    elif e != _EINTR:
        tx[6] = e
        return FAILED, since, refused
    return _AGAIN, since, refused


@njit(cache=True, nogil=True)
def send_each(fd, out, bounds, counts, npk, addr, addrlen, rate, stamper, tx, pfd, stall_ns):
    """Send packets ``0 .. npk-1`` one ``sendto`` each (``addr`` 0: a connected socket).
    Returns ``(exit, packets sent)``."""
    base = out.ctypes.data
    pptr = pfd.ctypes.data
    for i in range(npk):
        if rate > 0:
            pace(tx, rate)
        a = bounds[i]
        b = bounds[i + 1]
        since = np.int64(0)
        refused = 0
        while True:
            stamp_packet(stamper, out, a, b, realtime_ns())
            r = sendto(fd, base + a, b - a, L.MSG_DONTWAIT, addr, addrlen)
            if r >= 0:
                break
            code, since, refused = settle(errno(), pptr, tx, since, refused, stall_ns)
            if code != _AGAIN:
                return code, i
        tx[3] += 1
        account(tx, counts, bounds, i, 1)
    return SENT, npk


@njit(cache=True, nogil=True)
def send_batches(fd, out, bounds, counts, npk, vec64, iov64, vlen, rate, stamper, tx, pfd,
                 stall_ns):
    """Send packets ``0 .. npk-1`` with ``sendmmsg``, up to ``vlen`` a call (one when paced).
    ``vec64``/``iov64`` are the preset mmsghdr and iovec vectors (destination filled in).
    Returns ``(exit, packets sent)``."""
    base = out.ctypes.data
    vptr = vec64.ctypes.data
    pptr = pfd.ctypes.data
    i = 0
    since = np.int64(0)
    refused = 0
    while i < npk:
        k = min(vlen, npk - i)
        if rate > 0:
            pace(tx, rate)
            k = 1
        for j in range(k):
            iov64[2 * j] = base + bounds[i + j]
            iov64[2 * j + 1] = bounds[i + j + 1] - bounds[i + j]
        ts = realtime_ns()
        for j in range(i, i + k):
            stamp_packet(stamper, out, bounds[j], bounds[j + 1], ts)
        r = sendmmsg(fd, vptr, k, L.MSG_DONTWAIT)
        if r > 0:
            tx[3] += 1
            account(tx, counts, bounds, i, r)
            i += r
            since = 0
            refused = 0
            continue
        code, since, refused = settle(errno(), pptr, tx, since, refused, stall_ns)
        if code != _AGAIN:
            return code, i
    return SENT, npk


# ------------------------------------------------------------------------------ owners


def udp_socket(host: str, *, iface_ip: str | None = None, ttl: int = 1,
               sndbuf: int = 8 << 20) -> socket.socket:
    """A UDP socket for sending to ``host``: for a group, multicast TTL, loop, and the
    interface (``iface_ip``) the group goes out of."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, sndbuf)
        if is_multicast(host):
            s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, ttl)
            s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 1)
            if iface_ip:
                s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF,
                             socket.inet_aton(iface_ip))
    except OSError as e:
        s.close()
        raise OSError(e.errno, f"send: cannot set up a UDP socket for {host} "
                               f"(interface {iface_ip or 'any'}): {e.strerror}") from e
    return s


def sockaddr_in(host: str, port: int) -> np.ndarray:
    """``struct sockaddr_in`` for ``host``:``port`` as bytes (see :mod:`tickpath.wire.layout`)."""
    a = np.zeros(L.SOCKADDR_IN_SIZE, np.uint8)
    a[L.SIN_FAMILY:L.SIN_FAMILY + 2] = np.frombuffer(L.AF_INET.to_bytes(2, "little"), np.uint8)
    a[L.SIN_PORT:L.SIN_PORT + 2] = np.frombuffer(port.to_bytes(2, "big"), np.uint8)
    a[L.SIN_ADDR:L.SIN_ADDR + 4] = np.frombuffer(socket.inet_aton(host), np.uint8)
    return a


class _Sender:
    """What every sender offers: ``send(out, bounds, counts, npk, rate, stamper)`` for a run of
    packed packets, stamped by the publisher's ``stamper`` (:mod:`tickpath.wire.stamping`)
    just before each leaves, ``send_packet(buf, end)`` for one unstamped, unpaced packet
    (heartbeat, end of session), ``warm_up(stamper)``, ``stats()``, ``flush()``,
    ``close()``."""

    name = ""
    compiled = True

    def __init__(self) -> None:
        self.tx = np.zeros(N_TX, np.int64)
        self._one_bounds = np.zeros(2, np.int64)
        self._one_counts = np.zeros(1, np.int64)

    def send(self, out: np.ndarray, bounds: np.ndarray, counts: np.ndarray, npk: int,
             rate: float | None = None, stamper=NO_STAMP) -> None:
        if not hasattr(stamper, "_fields"):  # a bool from before the stamper seam, say
            raise TypeError(f"{self.name}: the stamper is a stamper state (NO_STAMP, or a "
                            f"publisher's, e.g. tickpath.venue.stamping.itch_stamper()), not "
                            f"{stamper!r}")
        status, sent = self._run(out, bounds, counts, int(npk), float(rate or 0.0), stamper)
        if status != SENT:
            self._raise(status, sent, npk)

    def send_packet(self, buf: np.ndarray, end: int) -> None:
        self._one_bounds[1] = end
        self.send(buf, self._one_bounds, self._one_counts, 1, None, NO_STAMP)

    def _run(self, out, bounds, counts, npk, rate, stamper) -> tuple[int, int]:
        raise NotImplementedError

    def _raise(self, status: int, sent: int, npk: int) -> None:
        where = f"{self.name}: stopped after {sent} of {npk} packets"
        if status == STALLED:
            raise OSError(E.ETIMEDOUT, f"{where}: no room to send for "
                                       f"{STALL_NS / 1e9:.0f} s (is the interface up?)")
        e = int(self.tx[Tx.ERRNO])
        raise OSError(e, f"{where}: {E.errorcode.get(e, e)} ({os.strerror(e)})")

    def warm_up(self, stamper=NO_STAMP) -> None:
        """Compile (or load from numba's cache) the loop now, with the exact argument types
        of the real run (``stamper``'s, and the unstamped one of ``send_packet``): zero
        packets, nothing sent."""
        out = np.zeros(64, np.uint8)
        for st in (NO_STAMP, stamper) if stamper is not NO_STAMP else (NO_STAMP,):
            self._run(out, self._one_bounds, self._one_counts, 0, 0.0, st)

    def flush(self) -> None:
        """Make sure everything handed over has gone to the kernel (socket senders: it has)."""

    def stats(self) -> dict[str, int]:
        return {t.name.lower(): int(self.tx[t]) for t in
                (Tx.PACKETS, Tx.BYTES, Tx.MESSAGES, Tx.CALLS, Tx.WAITS, Tx.REFUSED,
                 Tx.REANCHORS, Tx.WRONG_FORMAT)}

    def close(self) -> None:
        pass

    def __enter__(self):
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class _SocketBase(_Sender):
    """A sender over a UDP (or any datagram) socket: ``dst`` ``(host, port)``, or None for a
    connected socket. The socket is the caller's; ``close()`` closes it."""

    def __init__(self, sock: socket.socket, dst: tuple[str, int] | None) -> None:
        super().__init__()
        self.sock, self.dst = sock, dst
        self.fd = sock.fileno()
        if dst is not None:
            self.addr = sockaddr_in(socket.gethostbyname(dst[0]), dst[1])
            self.addr_ptr, self.addr_len = self.addr.ctypes.data, L.SOCKADDR_IN_SIZE
        else:
            self.addr_ptr = self.addr_len = 0
        self.pfd = np.zeros(L.POLLFD_SIZE // 4, np.int32)  # struct pollfd {fd, POLLOUT, 0}
        self.pfd[L.PFD_FD // 4] = self.fd
        self.pfd[L.PFD_EVENTS // 4] = L.POLLOUT

    def close(self) -> None:
        self.sock.close()


class SocketSender(_SocketBase):
    """The baseline: a Python ``sendto`` per packet, paced and stamped in Python."""

    name = "socket"
    compiled = False

    def _run(self, out, bounds, counts, npk, rate, stamper) -> tuple[int, int]:
        tx, mv = self.tx, memoryview(out)
        for i in range(npk):
            if rate > 0:
                now = time.clock_gettime_ns(time.CLOCK_REALTIME)
                if tx[Tx.T0] == 0:
                    tx[Tx.T0], tx[Tx.BASE] = now, tx[Tx.MESSAGES]
                due = int(tx[Tx.T0]) + int((tx[Tx.MESSAGES] - tx[Tx.BASE]) * 1e9 / rate)
                if now - due > REANCHOR_NS:
                    tx[Tx.T0], tx[Tx.BASE], due = now, tx[Tx.MESSAGES], now
                    tx[Tx.REANCHORS] += 1
                while True:
                    ahead = due - time.clock_gettime_ns(time.CLOCK_REALTIME)
                    if ahead <= 0:
                        break
                    if ahead > 300_000:  # sleep the long waits, spin the short ones
                        time.sleep((ahead - 200_000) / 1e9)
            a, b = int(bounds[i]), int(bounds[i + 1])
            refused, since = False, 0
            while True:
                stamp_now(stamper, out, a, b)  # one compiled call per packet from Python
                try:
                    if self.dst is None:
                        self.sock.send(mv[a:b])
                    else:
                        self.sock.sendto(mv[a:b], self.dst)
                    break
                except (BlockingIOError, InterruptedError):  # full: wait for room, never drop
                    tx[Tx.WAITS] += 1
                    since = since or time.monotonic_ns()
                    if time.monotonic_ns() - since > STALL_NS:
                        return STALLED, i
                    time.sleep(0)
                except ConnectionRefusedError as e:  # a late ICMP error, consumed: again
                    if refused:  # twice: the peer is gone
                        tx[Tx.ERRNO] = e.errno
                        return FAILED, i
                    tx[Tx.REFUSED] += 1
                    refused = True
                except OSError as e:
                    if e.errno != E.ENOBUFS:
                        tx[Tx.ERRNO] = e.errno or 0
                        return FAILED, i
                    tx[Tx.WAITS] += 1
            tx[Tx.CALLS] += 1
            tx[Tx.PACKETS] += 1
            tx[Tx.BYTES] += b - a
            tx[Tx.MESSAGES] += int(counts[i])
        return SENT, npk

    def warm_up(self, stamper=NO_STAMP) -> None:
        """Only the stamping call is compiled; the loop is Python."""
        for st in (NO_STAMP, stamper):
            stamp_now(st, np.zeros(64, np.uint8), 0, 0)


class SendtoSender(_SocketBase):
    """A compiled loop calling libc ``sendto`` once per packet."""

    name = "sendto"

    def _run(self, out, bounds, counts, npk, rate, stamper) -> tuple[int, int]:
        status, sent = send_each(self.fd, out, bounds, counts, npk, self.addr_ptr,
                                 self.addr_len, rate, stamper, self.tx, self.pfd, STALL_NS)
        return int(status), int(sent)


class SendmmsgSender(_SocketBase):
    """A compiled loop calling libc ``sendmmsg``, up to ``vlen`` packets a call."""

    name = "sendmmsg"

    def __init__(self, sock: socket.socket, dst: tuple[str, int] | None, *,
                 vlen: int = 64) -> None:
        super().__init__(sock, dst)
        if not 1 <= vlen <= 1024:  # UIO_MAXIOV: the kernel takes at most 1024 a call
            raise ValueError(f"sendmmsg: vlen {vlen} must be 1..1024")
        self.vlen = vlen
        self.vec = np.zeros(vlen * L.MMSGHDR_SIZE, np.uint8)
        self.iov = np.zeros(vlen * L.IOVEC_SIZE, np.uint8)
        self.vec64, self.iov64 = self.vec.view(np.int64), self.iov.view(np.int64)
        for j in range(vlen):  # every message: the destination and its one iovec
            m = j * L.MMSGHDR_SIZE // 8
            self.vec64[m + L.MSG_NAME // 8] = self.addr_ptr
            self.vec64[m + L.MSG_NAMELEN // 8] = self.addr_len  # u32, then padding
            self.vec64[m + L.MSG_IOV // 8] = self.iov.ctypes.data + j * L.IOVEC_SIZE
            self.vec64[m + L.MSG_IOVLEN // 8] = 1

    def _run(self, out, bounds, counts, npk, rate, stamper) -> tuple[int, int]:
        status, sent = send_batches(self.fd, out, bounds, counts, npk, self.vec64, self.iov64,
                                    self.vlen, rate, stamper, self.tx, self.pfd, STALL_NS)
        return int(status), int(sent)
