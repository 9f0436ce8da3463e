"""The packet transport: an AF_PACKET receive ring mapped into the process, polled from
compiled code.

The kernel copies every frame the socket's filter accepts into a ring of memory shared with
the process (``PACKET_RX_RING`` + ``mmap``); the compiled loop watches the ring's status words
and takes frames as they appear, with no system call per packet. The IP and UDP layers of the
kernel are not on the path: the loop reads the Ethernet, IPv4 and UDP headers itself
(:mod:`tickpath.wire.frames`) and hands the UDP payload, where it lies in the ring, to the feed
stage's compiled step (``on_datagram``: MoldUDP64 sequencing, ITCH decode, books).

Two ring formats, for two jobs:

* **TPACKET_V2** (the default, for latency): fixed frames, each with its own status word. A
  frame is ours the moment the kernel sets TP_STATUS_USER in it, so a packet is seen as soon
  as it is in the ring. The loop reads the status with acquire ordering, then the frame, hands
  the frame back (TP_STATUS_KERNEL, release ordering) once processed, and moves on.
* **TPACKET_V3** (for capture throughput): variable-size packets packed into blocks; user
  space gets a whole block at a time, when it is full or when the retire timeout
  (``tp_retire_blk_tov``) runs out. The timeout is set to its minimum, 1 ms, and at modest
  rates it still dominates: a packet waits until its block retires, up to milliseconds. Fewer
  status words and denser packing make V3 the better choice for recording a busy link, not for
  reacting to it.

The receive timestamp is the frame header's ``tp_sec``/``tp_nsec``: the kernel's software
timestamp, CLOCK_REALTIME (the path's one clock), taken when the frame went into the ring, or
earlier, when the device's receive path stamped the packet, if any socket on the host asked
for receive timestamps.

What lets frames into the ring: a classic BPF program attached to the socket (assembled here
as data, :func:`feed_filter`) accepts IPv4/UDP datagrams to the feed's destination address and
port, untagged or behind one 802.1Q tag, not later fragments, and not frames the host itself
sends. The socket is bound to one interface. A separate UDP socket (``.sock``) holds the port
and, for multicast, the group membership on that interface: the join is what makes the NIC and
the switch deliver the group (the ring sees whatever reaches the interface), and the bound port
keeps the kernel from answering unicast datagrams with ICMP port unreachable. That socket's own
filter drops every datagram, so nothing queues there (the kernel counts them as UDP receive
errors).

Frames that pass the filter but are not one whole datagram of the feed (truncated, fragments,
length lies, ...) are counted by reason (:class:`tickpath.wire.frames.Reason`) and skipped
without touching the books. Frames cut by the ring's frame size are counted as ``truncated``.
Drops (the ring was full) come from the kernel's PACKET_STATISTICS, read by :meth:`stats`.

Needs CAP_NET_RAW (root). ``busypoll`` is the transport to use without it.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import enum
import errno
import ipaddress
import mmap
import socket
import struct

import numpy as np
from numba import njit
from numba.core import config

from ..ring.mapping import unmap
from ..telemetry.nclock import realtime_ns
from . import frames as F
from . import hwstamp as hw
from . import packet_layout as P
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
from .socket import is_multicast

__all__ = ["SETTLE", "DEADLINE", "END_OF_SESSION", "IDLE", "PacketRingReceiver", "Rx",
           "feed_filter", "interface_addresses", "interface_for"]


class Rx(enum.IntEnum):
    """The receive loop's int64 counters and resume state; the first three are the seam's
    common counters (:mod:`tickpath.wire.handler`), then those every loop numbers alike."""

    PACKETS = 0  # datagrams of the feed handed to the feed handler
    BYTES = 1  # their UDP payload bytes
    LAST_PACKET_NS = 2  # receive time of the last datagram of the feed
    EMPTY_POLLS = 3  # looks at the ring that found nothing
    TRUNCATED = 4  # frames cut by the ring (bigger than a frame: tp_snaplen < tp_len)
    NEXT = 5  # state: next frame (V2) or the current block (V3)
    BATCH = 6  # state, V3: packets left in the block held, 0 when none is held
    FRAMES = 7  # frames taken from the ring, of every kind
    OUTGOING = 8  # frames the host itself sent (skipped)
    LOSING = 9  # frames flagged TP_STATUS_LOSING: the kernel dropped some since stats were read
    BLOCKS = 10  # V3: blocks taken
    BLOCKS_TIMED_OUT = 11  # V3: of which retired by the timeout rather than full
    OFFSET = 12  # state, V3: offset of the next packet in the block held
    HW_STAMPED = 13  # frames the NIC stamped (TP_STATUS_TS_RAW_HARDWARE)
    SW_STAMPED = 14  # frames the kernel stamped in software (TS_SOFTWARE, or no bit)


N_RX = len(Rx)

_DEADLINE_EVERY = 255  # while frames flow, look at the clock every 256 frames

# ---------------------------------------------------------------- acquire / release access

if config.DISABLE_JIT:  # plain Python (a debugger): ordinary loads and stores

    def load_acquire(arr, i):
        """``arr[i]`` read with acquire ordering (later reads cannot move before it)."""
        return int(arr[i])

    def store_release(arr, i, value):
        """``arr[i] = value`` with release ordering (earlier accesses cannot move after it)."""
        arr[i] = value

else:
    from numba.core import cgutils, types
    from numba.extending import intrinsic

    def _element_pointer(context, builder, arrty, arr, idxty, idx):
        ary = context.make_array(arrty)(context, builder, arr)
        i = context.cast(builder, idx, idxty, types.intp)
        return cgutils.get_item_pointer(context, builder, arrty, ary, [i], wraparound=False)

    def _load_acquire_codegen(context, builder, signature, args):
        arrty, idxty = signature.args
        ptr = _element_pointer(context, builder, arrty, args[0], idxty, args[1])
        val = builder.load_atomic(ptr, "acquire", arrty.dtype.bitwidth // 8)
        return context.cast(builder, val, arrty.dtype, signature.return_type)

    def _store_release_codegen(context, builder, signature, args):
        arrty, idxty, valty = signature.args
        ptr = _element_pointer(context, builder, arrty, args[0], idxty, args[1])
        val = context.cast(builder, args[2], valty, arrty.dtype)
        builder.store_atomic(val, ptr, "release", arrty.dtype.bitwidth // 8)
        return context.get_dummy_value()

    def _int_array(arr, *ints):
        return (isinstance(arr, types.Array) and arr.ndim == 1
                and isinstance(arr.dtype, types.Integer)
                and all(isinstance(t, types.Integer) for t in ints))

    @intrinsic
    def load_acquire(typingctx, arr, idx):
        """``arr[i]`` read with acquire ordering, as int64: no later read of the ring moves
        before it (on x86 a plain load; it also keeps LLVM from hoisting it out of a loop)."""
        if not _int_array(arr, idx):
            return None
        return types.int64(arr, idx), _load_acquire_codegen

    @intrinsic
    def store_release(typingctx, arr, idx, value):
        """``arr[i] = value`` with release ordering: every earlier access of the frame is
        done before the kernel can see it handed back."""
        if not _int_array(arr, idx, value):
            return None
        return types.void(arr, idx, value), _store_release_codegen


# ------------------------------------------------------------------------ the compiled loops

_USER = P.TP_STATUS_USER
_LOSING = P.TP_STATUS_LOSING
_KERNEL = P.TP_STATUS_KERNEL
_OUTGOING = P.PACKET_OUTGOING
_TS_HW = P.TP_STATUS_TS_RAW_HARDWARE


@njit(cache=True, nogil=True, inline="always")
def _count_stamp(rx, status):
    """Which clock stamped the frame, from its status word. Without TS_RAW_HARDWARE the
    stamp is the kernel's: the skb's software stamp (TS_SOFTWARE), or, when nothing has turned
    receive stamping on, the clock read as the frame was put in the ring (no bit)."""
    if status & _TS_HW:
        rx[13] += 1
    else:
        rx[14] += 1


# no refcounting: counts on each state array make the loop slower (handler.implements)
@njit(cache=True, nogil=True, _nrt=False)
def poll_v2(ring, ring32, ring16, frame_size, frame_nr, dst_ip, dst_port, deadline_ns,
            idle_ns, state, rx, reasons):
    """Take frames from a TPACKET_V2 ring until the deadline, the end of the session,
    idleness, or a SETTLE from the feed handler. Returns the exit code; state is in ``rx``."""
    i = rx[5]
    while True:
        base = i * frame_size
        status = load_acquire(ring32, base >> 2)
        if (status & _USER) == 0:
            rx[3] += 1
            now = realtime_ns()
            if now >= deadline_ns:
                rx[5] = i
                return DEADLINE
            if idle_ns > 0 and rx[2] > 0 and now - rx[2] >= idle_ns:
                rx[5] = i
                return IDLE
            code = on_idle(state, now)
            if code != GO_ON:
                rx[5] = i
                return code
            continue
        rx[7] += 1
        if status & _LOSING:
            rx[9] += 1
        _count_stamp(rx, status)
        snaplen = np.int64(ring32[(base + P.TP2_SNAPLEN) >> 2])
        wire = np.int64(ring32[(base + P.TP2_LEN) >> 2])
        mac = np.int64(ring16[(base + P.TP2_MAC) >> 1])
        rx_ns = (np.int64(ring32[(base + P.TP2_SEC) >> 2]) * 1_000_000_000
                 + np.int64(ring32[(base + P.TP2_NSEC) >> 2]))
        code = GO_ON
        if ring[base + P.TP2_SLL + P.SLL_PKTTYPE] == _OUTGOING:
            rx[8] += 1
        elif snaplen < wire or mac + snaplen > frame_size:
            rx[4] += 1
        else:
            why, off, size = F.udp_payload_at(ring, base + mac, snaplen, dst_ip, dst_port)
            if why != F.OK:
                reasons[why] += 1
            else:
                count_datagram(rx, size, rx_ns)
                code = on_datagram(state, ring, off, size, rx_ns)
        store_release(ring32, base >> 2, _KERNEL)  # the frame goes back to the kernel
        i += 1
        if i == frame_nr:
            i = 0
        if code != GO_ON:
            rx[5] = i
            return code
        if (rx[7] & _DEADLINE_EVERY) == 0 and realtime_ns() >= deadline_ns:
            rx[5] = i
            return DEADLINE


# no refcounting: counts on each state array make the loop slower (handler.implements)
@njit(cache=True, nogil=True, _nrt=False)
def poll_v3(ring, ring32, ring16, block_size, block_nr, dst_ip, dst_port, deadline_ns,
            idle_ns, state, rx, reasons):
    """Take packets from a TPACKET_V3 ring, block by block, until the deadline, the end of
    the session, idleness, or a SETTLE from the feed handler. A block is handed back to the kernel
    after its last packet. Returns the exit code; state is in ``rx``."""
    b = rx[5]
    left = rx[6]
    off = rx[12]
    while True:
        bbase = b * block_size
        if left == 0:
            status = load_acquire(ring32, (bbase + P.BD_BLOCK_STATUS) >> 2)
            if (status & _USER) == 0:
                rx[3] += 1
                now = realtime_ns()
                if now >= deadline_ns:
                    rx[5] = b
                    rx[6] = 0
                    return DEADLINE
                if idle_ns > 0 and rx[2] > 0 and now - rx[2] >= idle_ns:
                    rx[5] = b
                    rx[6] = 0
                    return IDLE
                code = on_idle(state, now)
                if code != GO_ON:
                    rx[5] = b
                    rx[6] = 0
                    return code
                continue
            rx[10] += 1
            if status & P.TP_STATUS_BLK_TMO:
                rx[11] += 1
            left = np.int64(ring32[(bbase + P.BD_NUM_PKTS) >> 2])
            off = np.int64(ring32[(bbase + P.BD_OFFSET_TO_FIRST_PKT) >> 2])
            if left == 0:
                store_release(ring32, (bbase + P.BD_BLOCK_STATUS) >> 2, _KERNEL)
                b += 1
                if b == block_nr:
                    b = 0
                continue
        code = GO_ON
        nxt = np.int64(0)
        if off < P.BLOCK_DESC_SIZE or off + P.TPACKET3_HDRLEN > block_size or off & 3:
            rx[4] += 1  # a packet header outside the block: give the rest of the block up
            left = 1
        else:
            p = bbase + off
            rx[7] += 1
            status = np.int64(ring32[(p + P.TP3_STATUS) >> 2])
            if status & _LOSING:
                rx[9] += 1
            _count_stamp(rx, status)
            nxt = np.int64(ring32[(p + P.TP3_NEXT_OFFSET) >> 2])
            snaplen = np.int64(ring32[(p + P.TP3_SNAPLEN) >> 2])
            wire = np.int64(ring32[(p + P.TP3_LEN) >> 2])
            mac = np.int64(ring16[(p + P.TP3_MAC) >> 1])
            rx_ns = (np.int64(ring32[(p + P.TP3_SEC) >> 2]) * 1_000_000_000
                     + np.int64(ring32[(p + P.TP3_NSEC) >> 2]))
            if ring[p + P.TP3_SLL + P.SLL_PKTTYPE] == _OUTGOING:
                rx[8] += 1
            elif snaplen < wire or off + mac + snaplen > block_size:
                rx[4] += 1
            else:
                why, doff, size = F.udp_payload_at(ring, p + mac, snaplen, dst_ip, dst_port)
                if why != F.OK:
                    reasons[why] += 1
                else:
                    count_datagram(rx, size, rx_ns)
                    code = on_datagram(state, ring, doff, size, rx_ns)
        left -= 1
        off += nxt
        if left == 0:  # the block's last packet is done: the block goes back to the kernel
            store_release(ring32, (bbase + P.BD_BLOCK_STATUS) >> 2, _KERNEL)
            b += 1
            if b == block_nr:
                b = 0
        if code != GO_ON:
            rx[5] = b
            rx[6] = left
            rx[12] = off
            return code
        if (rx[7] & _DEADLINE_EVERY) == 0 and realtime_ns() >= deadline_ns:
            rx[5] = b
            rx[6] = left
            rx[12] = off
            return DEADLINE


# ------------------------------------------------------------------------------- the filter


def _assemble(program: list[tuple]) -> np.ndarray:
    """Instructions ``(label, code, k, jt, jf)`` (jump targets by label, None = next) into an
    array of ``struct sock_filter``."""
    at = {ins[0]: n for n, ins in enumerate(program) if ins[0]}
    out = np.zeros(len(program), P.SOCK_FILTER)
    for n, (_label, code, k, jt, jf) in enumerate(program):
        rel = [0 if t is None else at[t] - n - 1 for t in (jt, jf)]
        if not all(0 <= r <= 255 for r in rel):
            raise ValueError(f"BPF jump out of range at instruction {n}")
        out[n] = (code, rel[0], rel[1], k & 0xFFFFFFFF)
    return out


def feed_filter(port: int, dst_ip: str | int = 0) -> np.ndarray:
    """The classic BPF program that lets only the feed into the ring (``struct sock_filter``
    array, for SO_ATTACH_FILTER on an AF_PACKET SOCK_RAW socket).

    Accepts IPv4/UDP to ``port`` (and to ``dst_ip`` unless 0 / "0.0.0.0"), with no tag or one
    802.1Q tag, that is not a later fragment (a later fragment carries no UDP header); rejects
    frames the host itself sends. A first fragment to the port passes, for the receive loop to
    count. In assembler::

        ld   pkttype              ; ancillary load: where the frame is going
        jeq  #OUTGOING, reject
        ldh  [12]                 ; ethertype
        jeq  #0x0800, ip14
        jeq  #0x8100, vlan, reject
  vlan: ldh  [16]                 ; ethertype behind the tag
        jeq  #0x0800, ip18, reject
  ipN:  ldb  [N+9]                ; (N = 18, then N = 14) IPv4 protocol
        jeq  #17, next, reject
        ld   [N+16]               ; destination address (only when one is given)
        jeq  #dst, next, reject
        ldh  [N+6]                ; flags and fragment offset
        jset #0x1fff, reject      ; a later fragment
        ldxb 4*([N]&0xf)          ; X = IPv4 header length
        ldh  [x+N+2]              ; UDP destination port
        jeq  #port, accept, reject
accept: ret  #0xffffffff          ; the whole frame
reject: ret  #0
    """
    if not 0 < port <= 0xFFFF:
        raise ValueError(f"the packet filter needs the feed's UDP port (1-65535), not {port}")
    addr = int(ipaddress.IPv4Address(dst_ip)) if not isinstance(dst_ip, int) else dst_ip
    ld_abs = {4: P.BPF_LD | P.BPF_W | P.BPF_ABS, 2: P.BPF_LD | P.BPF_H | P.BPF_ABS,
              1: P.BPF_LD | P.BPF_B | P.BPF_ABS}
    jeq = P.BPF_JMP | P.BPF_JEQ | P.BPF_K
    jset = P.BPF_JMP | P.BPF_JSET | P.BPF_K
    ret = P.BPF_RET | P.BPF_K
    prog: list[tuple] = [
        (None, ld_abs[4], P.SKF_AD_OFF + P.SKF_AD_PKTTYPE, None, None),
        (None, jeq, P.PACKET_OUTGOING, "reject", None),
        (None, ld_abs[2], F.ETH_TYPE, None, None),
        (None, jeq, F.ETHERTYPE_IPV4, "ip14", None),
        (None, jeq, F.ETHERTYPE_8021Q, None, "reject"),
        (None, ld_abs[2], F.ETH_TYPE + F.VLAN_HLEN, None, None),
        (None, jeq, F.ETHERTYPE_IPV4, "ip18", "reject"),
    ]
    for n in (F.ETH_HLEN + F.VLAN_HLEN, F.ETH_HLEN):
        prog += [
            (f"ip{n}", ld_abs[1], n + F.IP_PROTOCOL, None, None),
            (None, jeq, F.IPPROTO_UDP, None, "reject"),
        ]
        if addr:
            prog += [(None, ld_abs[4], n + F.IP_DST, None, None),
                     (None, jeq, addr, None, "reject")]
        prog += [
            (None, ld_abs[2], n + F.IP_FRAG, None, None),
            (None, jset, 0x1FFF, "reject", None),
            (None, P.BPF_LDX | P.BPF_B | P.BPF_MSH, n, None, None),
            (None, P.BPF_LD | P.BPF_H | P.BPF_IND, n + F.UDP_DPORT, None, None),
            (None, jeq, port, "accept", "reject"),
        ]
    prog += [("accept", ret, 0xFFFFFFFF, None, None), ("reject", ret, 0, None, None)]
    return _assemble(prog)


#: a program that accepts nothing (for the helper UDP socket: the ring has the datagrams)
DROP_ALL = _assemble([(None, P.BPF_RET | P.BPF_K, 0, None, None)])


def attach_filter(sock: socket.socket, program: np.ndarray) -> None:
    """SO_ATTACH_FILTER: hand ``program`` (a ``struct sock_filter`` array) to the kernel."""
    if program.dtype != P.SOCK_FILTER or not 0 < program.shape[0] <= P.BPF_MAXINSNS:
        raise ValueError("not a classic BPF program (struct sock_filter array)")
    prog = np.ascontiguousarray(program)
    fprog = struct.pack("=H6xQ", prog.shape[0], prog.ctypes.data)  # struct sock_fprog
    sock.setsockopt(socket.SOL_SOCKET, P.SO_ATTACH_FILTER, fprog)  # the kernel copies it


class _ScratchRing:
    """An empty ring in anonymous memory with the receiver's types (compiling only)."""

    def __init__(self, version: int) -> None:
        self.version, self.frame_size, self.frames = version, 2048, 2
        self.block_size, self.block_nr = mmap.PAGESIZE, 1
        self._map = mmap.mmap(-1, mmap.PAGESIZE)
        self.ring = np.frombuffer(self._map, np.uint8)
        self.ring32, self.ring16 = self.ring.view(np.uint32), self.ring.view(np.uint16)
        self.dst_ip, self.port = 0x7F000001, 9
        self.rx = np.zeros(N_RX, np.int64)
        self.reasons = np.zeros(F.N_REASONS, np.int64)

    def poll(self, *args) -> int:
        return PacketRingReceiver.poll(self, *args)  # type: ignore[arg-type]

    def __enter__(self) -> _ScratchRing:
        return self

    def __exit__(self, *exc: object) -> None:
        self.ring = self.ring32 = self.ring16 = None
        self._map.close()


# ----------------------------------------------------------------------------- interfaces


class _IfAddrs(ctypes.Structure):
    pass


_IfAddrs._fields_ = [("ifa_next", ctypes.POINTER(_IfAddrs)), ("ifa_name", ctypes.c_char_p),
                     ("ifa_flags", ctypes.c_uint), ("ifa_addr", ctypes.c_void_p),
                     ("ifa_netmask", ctypes.c_void_p), ("ifa_ifu", ctypes.c_void_p),
                     ("ifa_data", ctypes.c_void_p)]


def interface_addresses() -> list[tuple[str, str]]:
    """``(interface, IPv4 address)`` for every IPv4 address of this network namespace
    (libc ``getifaddrs``: secondary addresses included)."""
    libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
    head = ctypes.POINTER(_IfAddrs)()
    if libc.getifaddrs(ctypes.byref(head)) != 0:
        e = ctypes.get_errno()
        raise OSError(e, f"getifaddrs: {errno.errorcode.get(e, e)}")
    out = []
    try:
        node = head
        while node:
            ifa = node.contents
            if ifa.ifa_addr and ctypes.c_ushort.from_address(ifa.ifa_addr).value == \
                    socket.AF_INET:
                raw = ctypes.string_at(ifa.ifa_addr + 4, 4)  # sockaddr_in.sin_addr
                out.append((ifa.ifa_name.decode(), socket.inet_ntoa(raw)))
            node = ifa.ifa_next
    finally:
        libc.freeifaddrs(head)
    return out


def _owner(ip: str) -> str | None:
    for name, addr in interface_addresses():
        if addr == ip:
            return name
    return None


def _resolve(host: str) -> str:
    """An IPv4 address for ``host`` (an address is returned as it is)."""
    try:
        return str(ipaddress.IPv4Address(host))
    except ValueError:
        try:
            return socket.gethostbyname(host)
        except OSError as e:
            raise OSError(errno.EADDRNOTAVAIL, f"packet: cannot resolve {host!r} to an IPv4 "
                                               f"address") from e


def interface_for(host: str, iface_ip: str = "0.0.0.0") -> str:
    """The interface a feed for ``host`` (a group or a unicast address of this host) arrives
    on: the one that owns ``iface_ip`` when given; for a group, the one its route goes out of;
    ``lo`` for 127.0.0.0/8; otherwise the one that owns ``host``."""
    if iface_ip not in ("", "0.0.0.0"):
        name = _owner(iface_ip)
        if name is None:
            raise OSError(errno.EADDRNOTAVAIL,
                          f"packet: no interface here has the address {iface_ip} "
                          f"(see `ip -4 addr`); the socket and busypoll transports take any "
                          f"address the kernel routes")
        return name
    host = _resolve(host)
    addr = ipaddress.IPv4Address(host)
    if addr.is_loopback:
        return "lo"
    if addr.is_unspecified:
        raise OSError(errno.EDESTADDRREQ,
                      "packet: listening on 0.0.0.0 names no interface; give the interface "
                      "address (--iface-ip) or the unicast address the feed is sent to")
    if addr.is_multicast:
        probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            probe.connect((host, 9))  # no packet sent: asks the routing table
            src = probe.getsockname()[0]
        except OSError as e:
            raise OSError(e.errno, f"packet: no route for the group {host} ({e.strerror}); "
                                   f"give the interface address (--iface-ip)") from e
        finally:
            probe.close()
        name = _owner(src)
    else:
        name = _owner(host)
    if name is None:
        raise OSError(errno.EADDRNOTAVAIL,
                      f"packet: no interface here owns {host}; give the interface address "
                      f"(--iface-ip) the feed arrives on")
    return name


def hold_feed_port(host: str, port: int, iface_ip: str, ifindex: int,
                   who: str) -> socket.socket:
    """The UDP socket that holds the feed's port and group membership (joined on ``ifindex``)
    for a transport that takes the frames below the UDP stack; it drops every datagram it is
    given (its own filter), since the ring has them."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        attach_filter(s, DROP_ALL)
        s.bind((host, port))
        if is_multicast(host):
            mreqn = bytearray(P.IP_MREQN_SIZE)  # struct ip_mreqn: group, address, ifindex
            mreqn[P.IMR_MULTIADDR:P.IMR_MULTIADDR + 4] = socket.inet_aton(host)
            mreqn[P.IMR_ADDRESS:P.IMR_ADDRESS + 4] = socket.inet_aton(iface_ip or "0.0.0.0")
            mreqn[P.IMR_IFINDEX:P.IMR_IFINDEX + 4] = ifindex.to_bytes(4, "little")
            s.setsockopt(socket.IPPROTO_IP, socket.IP_ADD_MEMBERSHIP, bytes(mreqn))
    except OSError as e:
        s.close()
        raise OSError(e.errno, f"{who}: cannot hold UDP {host}:{port}: {e.strerror}") from e
    return s


# ---------------------------------------------------------------------------------- owner

_NO_RAW = ("packet: opening an AF_PACKET socket needs CAP_NET_RAW: run as root, or grant "
           "the capability (setcap cap_net_raw+ep on the Python interpreter); the busypoll "
           "transport works without it")


class PacketRingReceiver:
    """An AF_PACKET ring on ``iface`` receiving the UDP feed sent to ``host``:``port``.

    ``version=2`` (TPACKET_V2, per-frame status words: for latency, the default) or ``3``
    (TPACKET_V3, whole blocks retired when full or after ``retire_ms``: for capture
    throughput). The ring is ``frames`` frames of ``frame_size`` bytes (V2), or the same
    memory cut into blocks of ``block_size`` bytes (V3; V2 groups frames into blocks too).
    ``port=0`` lets the kernel choose the port (the helper socket's), as on loopback in the
    demo. ``hw_timestamps=True`` asks the NIC to stamp every frame in hardware while the
    receiver is open (refused, saying why, where it cannot: veth, lo, virtio) and the ring to
    carry the NIC's stamp whenever a frame has one; ``stamp_source()`` says which clock
    stamped. ``bpf=False`` leaves the filter off (every frame of the interface enters the ring
    and the loop sorts them out: for diagnosis and tests). ``iface_ip`` (multicast) names the
    address the group is joined on; the interface index is given as well.

    Raises PermissionError without CAP_NET_RAW and OSError for an interface that does not
    exist or a ring the kernel refuses, with what is missing and what works instead.
    """

    name = "packet"
    compiled = True

    def __init__(self, iface: str, host: str = "127.0.0.1", port: int = 26400, *,
                 version: int = 2, frames: int = 8192, frame_size: int = 2048,
                 block_size: int | None = None, retire_ms: int = 1, iface_ip: str = "0.0.0.0",
                 bpf: bool = True, hw_timestamps: bool = False) -> None:
        if version not in (2, 3):
            raise ValueError(f"packet: TPACKET version {version}: choose 2 (latency) or 3 "
                             f"(capture throughput)")
        page = mmap.PAGESIZE
        if block_size is None:
            block_size = 1 << 16 if version == 2 else 1 << 18
        if frame_size < 128 or frame_size % P.TPACKET_ALIGNMENT:
            raise ValueError(f"packet: frame_size {frame_size} must be a multiple of "
                             f"{P.TPACKET_ALIGNMENT} and at least 128")
        if block_size % page or block_size % frame_size:
            raise ValueError(f"packet: block_size {block_size} must be a multiple of the page "
                             f"size ({page}) and of frame_size ({frame_size})")
        if retire_ms < 1:
            raise ValueError("packet: the V3 retire timeout is at least 1 ms")
        per_block = block_size // frame_size
        block_nr = max(1, -(-frames // per_block))
        host = _resolve(host)
        self.iface, self.host, self.version = iface, host, version
        self.frame_size, self.block_size, self.block_nr = frame_size, block_size, block_nr
        self.frames = block_nr * per_block
        self.retire_ms = retire_ms
        self._map: mmap.mmap | None = None
        self.ring = self.ring32 = self.ring16 = None
        self.hw_stamps: hw.HardwareStamps | None = None
        try:
            self.psock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0)  # no protocol yet:
        except PermissionError as e:  # nothing is delivered before the filter is on
            raise PermissionError(e.errno, _NO_RAW) from e
        self.sock: socket.socket | None = None
        try:
            try:
                self.ifindex = socket.if_nametoindex(iface)
            except OSError as e:
                raise OSError(errno.ENODEV, f"packet: no network interface named {iface!r} "
                                            f"here (see `ip link`); the socket and busypoll "
                                            f"transports need no interface name") from e
            self.sock = self._helper_socket(host, port, iface_ip)
            self.port = self.sock.getsockname()[1]
            self.dst_ip = int(ipaddress.IPv4Address(host))
            self.psock.setsockopt(P.SOL_PACKET, P.PACKET_VERSION,
                                  P.TPACKET_V2 if version == 2 else P.TPACKET_V3)
            if bpf:
                attach_filter(self.psock, feed_filter(self.port, self.dst_ip))
            try:
                self.psock.setsockopt(P.SOL_PACKET, P.PACKET_IGNORE_OUTGOING, 1)
            except OSError:  # before Linux 4.20: the filter and the loop skip them
                pass
            if hw_timestamps:
                # the NIC's stamp in the frame header when it gives one (the status word
                # says which clock stamped each frame): only when asked, since it is on the
                # NIC's clock, not CLOCK_REALTIME like every other stamp of the path
                self.psock.setsockopt(P.SOL_PACKET, P.PACKET_TIMESTAMP,
                                      hw.SOF_TIMESTAMPING_RAW_HARDWARE)
                self.hw_stamps = hw.HardwareStamps(iface)
            req = np.zeros(1, P.TPACKET_REQ3)
            req[0] = (block_size, block_nr, frame_size, self.frames,
                      retire_ms if version == 3 else 0, 0, 0)
            raw = req.tobytes()[:P.TPACKET_REQ_SIZE if version == 2 else P.TPACKET_REQ3_SIZE]
            try:
                self.psock.setsockopt(P.SOL_PACKET, P.PACKET_RX_RING, raw)
                self._map = mmap.mmap(self.psock.fileno(), block_size * block_nr,
                                      mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
            except OSError as e:
                raise OSError(e.errno, f"packet: the kernel refused a {block_nr} x "
                                       f"{block_size}-byte ring ({e.strerror}); try fewer "
                                       f"frames or smaller blocks") from e
            self.ring = np.frombuffer(self._map, np.uint8)
            self.ring32 = self.ring.view(np.uint32)
            self.ring16 = self.ring.view(np.uint16)
            try:
                self.psock.bind((iface, P.ETH_P_ALL))  # from here on frames arrive
            except OSError as e:
                raise OSError(e.errno, f"packet: cannot bind to interface {iface!r}: "
                                       f"{e.strerror}") from e
        except BaseException:
            self.close()
            raise
        self.rx = np.zeros(N_RX, np.int64)
        self.reasons = np.zeros(F.N_REASONS, np.int64)
        self._kernel = {"kernel_packets": 0, "drops": 0, "freeze_q": 0}

    def _helper_socket(self, host: str, port: int, iface_ip: str) -> socket.socket:
        return hold_feed_port(host, port, iface_ip, self.ifindex, f"packet ({self.iface})")

    # -- the compiled path --------------------------------------------------------------------

    def poll(self, state, deadline_ns: int, idle_ns: int) -> int:
        """Run the compiled loop once, handing datagrams to the feed handler whose state is
        ``state`` (until deadline, end of session, idleness or a SETTLE); returns its exit
        code."""
        if self.ring is None:
            raise ValueError("packet: the receiver is closed")
        loop, size, count = ((poll_v2, self.frame_size, self.frames) if self.version == 2
                             else (poll_v3, self.block_size, self.block_nr))
        return loop(self.ring, self.ring32, self.ring16, size, count, self.dst_ip, self.port,
                    deadline_ns, idle_ns, state, self.rx, self.reasons)

    @staticmethod
    def warm_up(state, version: int | None = None) -> None:
        """Compile (or load from the cache) the receive loops for ``state``'s type (both
        ring versions unless ``version`` says which), on a scratch ring of their own on ``lo``
        whose filter passes a port of its own, so no frame of the real feed is consumed."""
        for v in (2, 3) if version is None else (version,):
            try:
                rx = PacketRingReceiver("lo", "127.0.0.1", 0, version=v, frames=2,
                                        frame_size=2048, block_size=mmap.PAGESIZE)
            except OSError:  # no usable lo here: the same types on anonymous memory (the
                rx = _ScratchRing(v)  # loop makes no system call, so it cannot tell)
            with rx:
                rx.poll(state, 0, 0)

    # -- observing ----------------------------------------------------------------------------

    def _read_kernel_stats(self) -> None:
        """Fold PACKET_STATISTICS into the running totals (reading it resets the kernel's)."""
        if self.psock.fileno() < 0:
            return
        raw = self.psock.getsockopt(P.SOL_PACKET, P.PACKET_STATISTICS, P.TPACKET_STATS_V3_SIZE)
        self._kernel["kernel_packets"] += int.from_bytes(raw[P.ST_PACKETS:P.ST_PACKETS + 4],
                                                         "little")
        self._kernel["drops"] += int.from_bytes(raw[P.ST_DROPS:P.ST_DROPS + 4], "little")
        if len(raw) >= P.TPACKET_STATS_V3_SIZE:
            self._kernel["freeze_q"] += int.from_bytes(
                raw[P.ST_FREEZE_Q_CNT:P.ST_FREEZE_Q_CNT + 4], "little")

    def stats(self) -> dict[str, int]:
        """Counters: the feed's datagrams and bytes, frames taken, the kernel's own count of
        frames the filter passed (``kernel_packets``, drops included) and ``drops`` (the ring
        was full), frames skipped by reason, and for V3 the blocks taken and timed out."""
        self._read_kernel_stats()
        rx = self.rx
        out = {"packets": int(rx[Rx.PACKETS]), "bytes": int(rx[Rx.BYTES]),
               "truncated": int(rx[Rx.TRUNCATED]), "empty_polls": int(rx[Rx.EMPTY_POLLS]),
               "frames": int(rx[Rx.FRAMES]), "outgoing": int(rx[Rx.OUTGOING]),
               "losing": int(rx[Rx.LOSING]), **self._kernel,
               "malformed": int(self.reasons[1:].sum()),
               "hw_stamped": int(rx[Rx.HW_STAMPED]), "sw_stamped": int(rx[Rx.SW_STAMPED])}
        for r in F.Reason:
            if r != F.Reason.OK:
                out[r.name.lower()] = int(self.reasons[r])
        if self.version == 3:
            out["blocks"] = int(rx[Rx.BLOCKS])
            out["blocks_timed_out"] = int(rx[Rx.BLOCKS_TIMED_OUT])
        return out

    def close(self) -> None:
        """Unmap the ring and close both sockets (idempotent)."""
        self.ring = self.ring32 = self.ring16 = None
        unmap(self._map)
        self._map = None
        if self.sock is not None:
            self.sock.close()
        if self.hw_stamps is not None:
            self.hw_stamps.close()
            self.hw_stamps = None
        self.psock.close()

    def stamp_source(self) -> str:
        """Which clock stamped the frames taken so far (from their status words)."""
        return hw.stamp_source(int(self.rx[Rx.HW_STAMPED]), int(self.rx[Rx.SW_STAMPED]))

    def __enter__(self) -> PacketRingReceiver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
