"""Compiled walks over a mapped pcap or pcapng file: records into an index of feed datagrams.

The ``pcap`` transport (:mod:`tickpath.wire.pcapfile`) maps a capture and calls these kernels
in batches. Each call walks records from a byte position, finds each frame's UDP payload in
place (:func:`frame_payload`, on top of :mod:`tickpath.wire.frames`) and fills one row of
``out`` per record; it stops when ``out`` is full, at the end of the file, at a
block only Python handles (pcapng section and interface headers), or at corruption. It never
raises and never allocates; the status and the byte position say what stopped it, and the
owner turns that into a message with the offset.

:func:`replay` is the transport's compiled receive loop: it fills the index a batch at a time
with these walks and hands each datagram of the feed to the feed stage's compiled step
(:func:`tickpath.wire.handler.on_datagram`) where it lies, paced or not, until the caller's deadline, the end
of the session, a refused event, the end of the file, or a block only Python reads.

One index row, int64 (columns :class:`Col`)::

    TS      record timestamp, ns since the epoch (the frame's receive stamp)
    AT      payload offset in the file (OK), else the frame's offset
    SIZE    payload bytes (OK), else the frame's captured bytes
    REASON  frames.Reason (OK = a datagram of the feed), or UNSUPPORTED_LINK
    CUT     1 when the record holds fewer bytes than were on the wire (snap length)

Link layers (what sits in front of the IPv4 header), all as the reader in
:mod:`tickpath.wire.pcap` knows them::

    Ethernet (1)        dst 6 | src 6 | [802.1Q tag 4] | ethertype 2 | IPv4 ...
    Linux SLL (113)     pkttype 2 | hatype 2 | halen 2 | addr 8 | protocol 2 | IPv4 ...
    Linux SLL2 (276)    protocol 2 | reserved 2 | ifindex 4 | hatype 2 | pkttype 1
                        | halen 1 | addr 8 | IPv4 ...
    raw IP (101, 228)   IPv4 ...
    BSD loopback (0)    address family 4 (either byte order; 2 = IPv4) | IPv4 ...

SLL's last 14 bytes have Ethernet's shape (12 bytes, then the ethertype), so it is parsed as
Ethernet two bytes in. SLL2, raw IP and loopback have no such shape: after their own header
the IPv4 and UDP headers are read by :func:`tickpath.wire.frames.ipv4_udp_payload_at`, the
same code the Ethernet parser ends in, so every link type follows the same rules and reasons.
"""

from __future__ import annotations

import enum

import numpy as np
from numba import njit

from ..telemetry.nclock import monotonic_ns, realtime_ns
from . import frames as F
from .handler import DEADLINE, GO_ON, IDLE, count_datagram, on_datagram
from .libc import poll

LINK_NULL = 0
LINK_ETHERNET = 1
LINK_RAW = 101
LINK_SLL = 113
LINK_IPV4 = 228
LINK_SLL2 = 276
SUPPORTED_LINKS = (LINK_ETHERNET, LINK_SLL, LINK_SLL2, LINK_RAW, LINK_IPV4, LINK_NULL)

#: a reason beyond frames.Reason: the interface's link type is not one of the above
UNSUPPORTED_LINK = F.N_REASONS
N_CODES = F.N_REASONS + 1

_NS = 1_000_000_000
_SLL_HLEN = 16
_SLL2_HLEN = 20
_NULL_HLEN = 4
_AF_INET = 2


class Col(enum.IntEnum):
    TS = 0
    AT = 1
    SIZE = 2
    REASON = 3
    CUT = 4


N_COLS = len(Col)


class Walk(enum.IntEnum):
    """Why a walk stopped. Codes from 16 on are corruption at the returned position."""

    END = 0  # the end of the file, on a record boundary
    FULL = 1  # ``out`` is full; call again from the returned position
    PYTHON = 2  # a pcapng section header or interface description block: the owner's job
    TRUNCATED_HEADER = 16  # fewer bytes left than a record or block header
    TOO_LONG = 17  # pcap: a record length beyond the limit
    TRUNCATED_DATA = 18  # the record or block runs past the end of the file
    BAD_LENGTH = 19  # pcapng: block length below 12, not a multiple of 4, or beyond the limit
    TRAILER = 20  # pcapng: the trailing block length differs from the leading one
    SHORT_PACKET = 21  # pcapng: a packet block too short for its fixed fields
    IFACE = 22  # pcapng: a packet of an interface not declared in this section
    CAPLEN = 23  # pcapng: captured length runs past the block
    SPB_FIRST = 24  # pcapng: a simple packet block before any interface


# plain ints for nopython code
END = int(Walk.END)
FULL = int(Walk.FULL)
PYTHON = int(Walk.PYTHON)
TRUNCATED_HEADER = int(Walk.TRUNCATED_HEADER)
TOO_LONG = int(Walk.TOO_LONG)
TRUNCATED_DATA = int(Walk.TRUNCATED_DATA)
BAD_LENGTH = int(Walk.BAD_LENGTH)
TRAILER = int(Walk.TRAILER)
SHORT_PACKET = int(Walk.SHORT_PACKET)
IFACE = int(Walk.IFACE)
CAPLEN = int(Walk.CAPLEN)
SPB_FIRST = int(Walk.SPB_FIRST)

# Interface table (pcapng; pcap uses one row), int64 columns
IF_LINK = 0
IF_SNAPLEN = 1
IF_SHIFT = 2  # binary resolution 2^-shift s; -1 when decimal
IF_MUL = 3  # decimal: ns = units * MUL // DIV
IF_DIV = 4
IF_OFFSET_NS = 5  # if_tsoffset, in ns
N_IF_COLS = 6

_EPB = 6
_OPB = 2
_SPB = 3
_SHB = 0x0A0D0D0A
_IDB = 1


@njit(cache=True, nogil=True)
def _u16(buf, i, big):
    a = np.int64(buf[i])
    b = np.int64(buf[i + 1])
    return (a << 8) | b if big else (b << 8) | a


@njit(cache=True, nogil=True)
def _u32(buf, i, big):
    if big:
        return ((np.int64(buf[i]) << 24) | (np.int64(buf[i + 1]) << 16)
                | (np.int64(buf[i + 2]) << 8) | np.int64(buf[i + 3]))
    return ((np.int64(buf[i + 3]) << 24) | (np.int64(buf[i + 2]) << 16)
            | (np.int64(buf[i + 1]) << 8) | np.int64(buf[i]))


@njit(cache=True, nogil=True)
def frame_payload(buf, start, length, link, dst_ip, dst_port):
    """``(reason, offset, size)`` of the frame ``buf[start:start + length]`` of link type
    ``link``: the UDP payload of the feed's datagram, in place, or why it is not one."""
    s = np.int64(start)
    n = np.int64(length)
    if link == LINK_ETHERNET:
        return F.udp_payload_at(buf, s, n, dst_ip, dst_port)
    if link == LINK_SLL:
        if n < _SLL_HLEN:
            return F.SHORT_ETHERNET, 0, 0
        return F.udp_payload_at(buf, s + 2, n - 2, dst_ip, dst_port)
    if link == LINK_SLL2:
        if n < _SLL2_HLEN:
            return F.SHORT_ETHERNET, 0, 0
        if F._be16(buf, s) != F.ETHERTYPE_IPV4:
            return F.NOT_IPV4, 0, 0
        return F.ipv4_udp_payload_at(buf, s + _SLL2_HLEN, n - _SLL2_HLEN, dst_ip, dst_port)
    if link == LINK_RAW or link == LINK_IPV4:
        if n >= 1 and (np.int64(buf[s]) >> 4) == 6:  # raw IP may carry IPv6
            return F.NOT_IPV4, 0, 0
        return F.ipv4_udp_payload_at(buf, s, n, dst_ip, dst_port)
    if link == LINK_NULL:
        if n < _NULL_HLEN:
            return F.SHORT_ETHERNET, 0, 0
        if _u32(buf, s, False) != _AF_INET and _u32(buf, s, True) != _AF_INET:
            return F.NOT_IPV4, 0, 0
        return F.ipv4_udp_payload_at(buf, s + _NULL_HLEN, n - _NULL_HLEN, dst_ip, dst_port)
    return UNSUPPORTED_LINK, 0, 0


@njit(cache=True, nogil=True)
def _row(out, k, ts, buf, at, caplen, orig_len, link, dst_ip, dst_port):
    r, off, size = frame_payload(buf, at, caplen, link, dst_ip, dst_port)
    out[k, 0] = ts
    if r == F.OK:
        out[k, 1] = off
        out[k, 2] = size
    else:
        out[k, 1] = at
        out[k, 2] = caplen
    out[k, 3] = r
    out[k, 4] = 1 if caplen < orig_len else 0


@njit(cache=True, nogil=True)
def walk_pcap(buf, pos, big, scale, limit, link, dst_ip, dst_port, out):
    """Index pcap records from ``pos`` (a record boundary) into ``out``. ``scale`` turns the
    fraction field into ns (1 or 1000), ``limit`` is the largest record accepted. Returns
    ``(rows, status, pos)``: on corruption ``pos`` is the offset of the bad record."""
    end = np.int64(buf.shape[0])
    p = np.int64(pos)
    k = 0
    while k < out.shape[0]:
        if p == end:
            return k, END, p
        if end - p < 16:
            return k, TRUNCATED_HEADER, p
        sec = _u32(buf, p, big)
        frac = _u32(buf, p + 4, big)
        incl = _u32(buf, p + 8, big)
        orig = _u32(buf, p + 12, big)
        if incl > limit:
            return k, TOO_LONG, p
        if end - p - 16 < incl:
            return k, TRUNCATED_DATA, p
        _row(out, k, sec * _NS + frac * scale, buf, p + 16, incl, orig, link, dst_ip, dst_port)
        k += 1
        p += 16 + incl
    return k, FULL, p


@njit(cache=True, nogil=True)
def _units_to_ns(units, iface, i):
    shift = iface[i, IF_SHIFT]
    if shift >= 0:  # split so that units * 10^9 cannot overflow
        sec = units >> shift
        frac = units & ((np.int64(1) << shift) - 1)
        ns = sec * _NS + ((frac * _NS) >> shift)
    else:
        ns = units * iface[i, IF_MUL] // iface[i, IF_DIV]
    return ns + iface[i, IF_OFFSET_NS]


@njit(cache=True, nogil=True)
def walk_pcapng(buf, pos, big, max_block, iface, n_iface, dst_ip, dst_port, out):
    """Index pcapng packet blocks (enhanced, simple, obsolete) from ``pos`` (a block
    boundary) into ``out``, skipping blocks that carry no packet; stops with ``PYTHON`` at a
    section header or interface description block. ``iface`` holds the section's interfaces
    (``IF_*`` columns). Returns ``(rows, status, pos)``."""
    end = np.int64(buf.shape[0])
    p = np.int64(pos)
    k = 0
    while k < out.shape[0]:
        if p == end:
            return k, END, p
        if end - p < 8:
            return k, TRUNCATED_HEADER, p
        btype = _u32(buf, p, big)
        if btype == _SHB or btype == _IDB:
            return k, PYTHON, p
        total = _u32(buf, p + 4, big)
        if total < 12 or total % 4 != 0 or total > max_block:
            return k, BAD_LENGTH, p
        if end - p < total:
            return k, TRUNCATED_DATA, p
        if _u32(buf, p + total - 4, big) != total:
            return k, TRAILER, p
        body = p + 8
        blen = total - 12
        if btype == _EPB or btype == _OPB:
            if blen < 20:
                return k, SHORT_PACKET, p
            if btype == _EPB:
                i = _u32(buf, body, big)
            else:
                i = _u16(buf, body, big)
            units = (_u32(buf, body + 4, big) << 32) | _u32(buf, body + 8, big)
            cap = _u32(buf, body + 12, big)
            orig = _u32(buf, body + 16, big)
            if i >= n_iface:
                return k, IFACE, p
            if 20 + cap > blen:
                return k, CAPLEN, p
            _row(out, k, _units_to_ns(units, iface, i), buf, body + 20, cap, orig,
                 iface[i, IF_LINK], dst_ip, dst_port)
            k += 1
        elif btype == _SPB:
            if n_iface == 0:
                return k, SPB_FIRST, p
            if blen < 4:
                return k, SHORT_PACKET, p
            orig = _u32(buf, body, big)
            cap = min(orig, blen - 4)
            if iface[0, IF_SNAPLEN] > 0:
                cap = min(cap, iface[0, IF_SNAPLEN])
            _row(out, k, 0, buf, body + 4, cap, orig, iface[0, IF_LINK], dst_ip, dst_port)
            k += 1
        p += total
    return k, FULL, p


# ------------------------------------------------------------------------- the replay loop


class Rx(enum.IntEnum):
    """The replay loop's int64 counters and resume state; the first three are the seam's
    common counters (:mod:`tickpath.wire.handler`), then those every loop numbers alike."""

    PACKETS = 0  # datagrams of the feed handed on
    BYTES = 1  # their payload bytes
    LAST_PACKET_NS = 2  # the record stamp of the last one
    EMPTY_POLLS = 3  # returns at the deadline with the next datagram not yet due (paced)
    TRUNCATED = 4  # records holding fewer bytes than the wire had (snap length)
    NEXT = 5  # state: next row of the index
    BATCH = 6  # state: rows in the index
    FRAMES = 7  # records walked
    POS = 8  # state: where the walk goes on in the file
    ANCHOR_NS = 9  # pace: CLOCK_MONOTONIC when the first datagram went out (0: not yet)
    TS0 = 10  # pace: that datagram's recorded stamp
    LAST_DUE = 11  # pace: when the previous datagram was due (none goes out before it)
    DONE = 12  # 1 once the walk reached the end of the file
    WALK_STATUS = 13  # why the walk stopped, when the loop returned WALK_STOP


N_RX = len(Rx)
# plain ints for the compiled code
(_EMPTY, _TRUNCATED, _NEXT, _BATCH, _FRAMES, _POS, _ANCHOR, _TS0, _LAST_DUE, _DONE,
 _WALK_STATUS) = (int(r) for r in (Rx.EMPTY_POLLS, Rx.TRUNCATED, Rx.NEXT, Rx.BATCH, Rx.FRAMES,
                                   Rx.POS, Rx.ANCHOR_NS, Rx.TS0, Rx.LAST_DUE, Rx.DONE,
                                   Rx.WALK_STATUS))

# Loop exits: the seam's (wire.handler), and these
#: The end of the file. It is IDLE's number on purpose: a listener stops on IDLE, and a file
#: that is done will never give anything again.
END_OF_FILE = IDLE
#: The walk stopped at a pcapng section header or interface description (the owner reads it)
#: or at corruption; the walk status is in ``rx[Rx.WALK_STATUS]`` and the place in
#: ``rx[Rx.POS]``. The owner handles it and calls the loop again.
WALK_STOP = 4

_SPIN_NS = 200_000  # spin, rather than sleep, the last 200 µs of a wait
_CHECK_EVERY = 255  # read the clock for the deadline once per 256 records (fast pace)
_MS = 1_000_000
_MAX_SLEEP_MS = 1000  # one sleep at most (poll's timeout is a C int)


@njit(cache=True, nogil=True)
def wait_until(due):
    """Return once CLOCK_MONOTONIC reaches ``due``: the long part asleep (libc ``poll`` on no
    descriptors, whole milliseconds, so the core is given back), the last ``_SPIN_NS``
    spinning, so a late wake-up from the scheduler does not push the datagram out late."""
    left = due - monotonic_ns()
    while left >= _SPIN_NS + _MS:  # woken early (a signal): sleep the rest again
        poll(0, 0, min((left - _SPIN_NS) // _MS, _MAX_SLEEP_MS))
        left = due - monotonic_ns()
    while monotonic_ns() < due:
        pass


@njit(cache=True, nogil=True)
def paced(ts, speed, deadline_ns, rx):
    """Wait until the datagram stamped ``ts`` is due: ``ts``'s offset from the first
    datagram's stamp, divided by ``speed``, after the moment that one went out; never before
    the previous one's due time. Returns False, without waiting past it, when that is later
    than ``deadline_ns`` (CLOCK_REALTIME): the caller hands back and asks again."""
    now = monotonic_ns()
    if rx[_ANCHOR] == 0:
        rx[_ANCHOR] = now
        rx[_TS0] = ts
        rx[_LAST_DUE] = now
    due = rx[_ANCHOR] + np.int64((ts - rx[_TS0]) / speed)
    if due < rx[_LAST_DUE]:  # a stamp going backwards: at once, in file order
        due = rx[_LAST_DUE]
    wait = due - now
    if wait > 0:
        left = deadline_ns - realtime_ns()
        if wait > left:
            if left > 0:
                wait_until(now + left)
            return False
        wait_until(due)
    rx[_LAST_DUE] = due
    return True


# no refcounting: counts on each state array make the loop slower (handler.implements)
@njit(cache=True, nogil=True, _nrt=False)
def replay(buf, ng, big, scale, limit, link, max_block, iface, n_iface, dst_ip, dst_port,
           idx, speed, deadline_ns, state, rx, reasons):
    """Walk the mapped capture ``buf`` from ``rx[Rx.POS]`` and hand each datagram of the feed
    to the feed handler whose state is ``state`` (:func:`tickpath.wire.handler.on_datagram`)
    where it lies, with its record's stamp,
    until the deadline (CLOCK_REALTIME ns), the end of the session, a SETTLE from the
    handler, the end of the file, or a block the owner must read (``WALK_STOP``). ``speed``
    0 is as fast as possible, else the recorded gaps are divided by it. The walk fills
    ``idx`` a batch at a time (``walk_pcap``/``walk_pcapng``); skipped frames are counted in
    ``reasons``. Returns the exit code; the state to resume from is in ``rx``."""
    i = rx[_NEXT]
    n = rx[_BATCH]
    steps = np.int64(0)
    while True:
        if i >= n:
            if ng:
                k, status, pos = walk_pcapng(buf, rx[_POS], big, max_block, iface, n_iface,
                                             dst_ip, dst_port, idx)
            else:
                k, status, pos = walk_pcap(buf, rx[_POS], big, scale, limit, link, dst_ip,
                                           dst_port, idx)
            rx[_POS] = pos
            i = np.int64(0)
            n = np.int64(k)
            if k == 0:  # the status is about ``pos`` itself
                rx[_NEXT] = 0
                rx[_BATCH] = 0
                if status == END:
                    rx[_DONE] = 1
                    return END_OF_FILE
                rx[_WALK_STATUS] = status
                return WALK_STOP
        reason = idx[i, 3]
        if reason != F.OK:
            rx[_FRAMES] += 1
            rx[_TRUNCATED] += idx[i, 4]
            reasons[reason] += 1
            i += 1
        else:
            ts = idx[i, 0]
            if speed > 0.0 and not paced(ts, speed, deadline_ns, rx):
                rx[_EMPTY] += 1
                rx[_NEXT] = i
                rx[_BATCH] = n
                return DEADLINE
            rx[_FRAMES] += 1
            rx[_TRUNCATED] += idx[i, 4]
            at = idx[i, 1]
            size = idx[i, 2]
            i += 1
            count_datagram(rx, size, ts)
            code = on_datagram(state, buf, at, size, ts)
            if code != GO_ON:
                rx[_NEXT] = i
                rx[_BATCH] = n
                return code
        steps += 1
        if (steps & _CHECK_EVERY) == 0 and realtime_ns() >= deadline_ns:
            rx[_NEXT] = i
            rx[_BATCH] = n
            return DEADLINE
