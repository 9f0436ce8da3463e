"""Compiled parsing of Ethernet (+ one 802.1Q tag), IPv4 and UDP headers, in place.

A receive path that sees whole link-layer frames (the AF_PACKET ring, AF_XDP, a capture) finds
the UDP payload with :func:`udp_payload_at` (Ethernet), or with :func:`ipv4_udp_payload_at`
from an IPv4 header (a link layer of another shape in front of it, or none): each reads the
headers where the frame lies, never copies, never raises, and answers with the payload's
offset and length, or with a reason code saying why the frame is not one whole IPv4/UDP
datagram for the feed. Callers count reasons and skip the frame; nothing of it reaches the
books.

Headers read, offsets from the start of the frame (all fields big-endian)::

    Ethernet II, optionally one 802.1Q tag
    0        6        12             12|16                          14|18
    +--------+--------+--------------------------------+------------+---------------
    | dst 6  | src 6  | [tpid 0x8100 | tci]  (4, opt.) | ethertype  | IPv4 header ...
    +--------+--------+--------------------------------+------------+---------------

    IPv4 header, at p = 14 (or 18 behind a tag); IHL*4 bytes, 20 to 60
    p+0        p+1   p+2            p+4     p+6                 p+8   p+9     p+10
    +----------+-----+--------------+-------+-------------------+-----+-------+----------+
    | ver|IHL  | TOS | total length | ident | flags|frag offset | TTL | proto | checksum |
    +----------+-----+--------------+-------+-------------------+-----+-------+----------+
    p+12: source address (4)   p+16: destination address (4)   p+20: options (IHL*4 - 20)

    UDP header, at u = p + IHL*4
    u+0         u+2         u+4      u+6        u+8
    +-----------+-----------+--------+----------+-------------------------------
    | src port  | dst port  | length | checksum | payload (length - 8 bytes)
    +-----------+-----------+--------+----------+-------------------------------

What is accepted (``OK``): at most one 802.1Q tag; IPv4 with version 4 and IHL >= 5; an IPv4
total length that fits the bytes captured (Ethernet padding after it is ignored); neither the
more-fragments flag nor a fragment offset; protocol UDP; a UDP length of at least 8 that fits
the IPv4 total length; and, when asked for, the destination address and port. Checksums are
not verified: the NIC checks the Ethernet FCS, and frames looped through veth or lo carry
partial checksums the kernel never fills in.
"""

from __future__ import annotations

import enum

import numpy as np
from numba import njit

ETH_HLEN = 14
ETH_TYPE = 12  # ethertype (or the tag's TPID) offset
VLAN_HLEN = 4
ETHERTYPE_IPV4 = 0x0800
ETHERTYPE_8021Q = 0x8100

IPV4_MIN_HLEN = 20
IP_VER_IHL = 0
IP_TOTAL_LENGTH = 2
IP_FRAG = 6  # flags (3 bits) and fragment offset (13 bits)
IP_FRAG_MASK = 0x3FFF  # more-fragments flag and offset: any set means a fragment
IP_PROTOCOL = 9
IP_SRC = 12
IP_DST = 16
IPPROTO_UDP = 17

UDP_HLEN = 8
UDP_SPORT = 0
UDP_DPORT = 2
UDP_LENGTH = 4


class Reason(enum.IntEnum):
    """Why a frame is not a datagram of the feed (``OK`` when it is)."""

    OK = 0
    SHORT_ETHERNET = 1  # fewer bytes than an Ethernet header (or than its 802.1Q tag)
    NOT_IPV4 = 2  # another ethertype, or more than one tag
    SHORT_IPV4 = 3  # fewer bytes than the IPv4 header, or than its total length says
    BAD_IPV4 = 4  # version not 4, IHL below 5, or a total length shorter than the header
    FRAGMENT = 5  # more-fragments flag or a fragment offset: not reassembled here
    NOT_UDP = 6  # another IP protocol
    BAD_UDP_LENGTH = 7  # no room for a UDP header, or a UDP length below 8 or past the datagram
    WRONG_ADDRESS = 8  # destination address not the feed's
    WRONG_PORT = 9  # destination port not the feed's


N_REASONS = len(Reason)

# plain ints for nopython code
OK = int(Reason.OK)
SHORT_ETHERNET = int(Reason.SHORT_ETHERNET)
NOT_IPV4 = int(Reason.NOT_IPV4)
SHORT_IPV4 = int(Reason.SHORT_IPV4)
BAD_IPV4 = int(Reason.BAD_IPV4)
FRAGMENT = int(Reason.FRAGMENT)
NOT_UDP = int(Reason.NOT_UDP)
BAD_UDP_LENGTH = int(Reason.BAD_UDP_LENGTH)
WRONG_ADDRESS = int(Reason.WRONG_ADDRESS)
WRONG_PORT = int(Reason.WRONG_PORT)


@njit(cache=True, nogil=True)
def _be16(buf, i):
    return (np.int64(buf[i]) << 8) | np.int64(buf[i + 1])


@njit(cache=True, nogil=True)
def _be32(buf, i):
    return ((np.int64(buf[i]) << 24) | (np.int64(buf[i + 1]) << 16)
            | (np.int64(buf[i + 2]) << 8) | np.int64(buf[i + 3]))


@njit(cache=True, nogil=True, inline="always")
def ipv4_udp_payload_at(buf, start, length, dst_ip, dst_port):
    """Find the UDP payload of the IPv4 datagram whose header starts the bytes
    ``buf[start:start + length]`` (a link layer without Ethernet's shape: Linux SLL2, raw IP,
    BSD loopback; and the second half of :func:`udp_payload_at`).

    ``dst_ip`` and ``dst_port`` select the feed as for :func:`udp_payload_at`. The same
    checks in the same order, and the same answer that function gives for an Ethernet frame's
    IPv4 part: ``(reason, offset, size)``, offsets into ``buf``. Bytes after the datagram's
    total length are ignored (link-layer padding); only bytes inside the range are read.
    """
    p = np.int64(start)
    avail = np.int64(length)
    if avail < IPV4_MIN_HLEN:
        return SHORT_IPV4, 0, 0
    vi = np.int64(buf[p + IP_VER_IHL])
    ihl = (vi & 0x0F) * 4
    if vi >> 4 != 4 or ihl < IPV4_MIN_HLEN:
        return BAD_IPV4, 0, 0
    if avail < ihl:
        return SHORT_IPV4, 0, 0
    total = _be16(buf, p + IP_TOTAL_LENGTH)
    if total < ihl:
        return BAD_IPV4, 0, 0
    if avail < total:
        return SHORT_IPV4, 0, 0
    if _be16(buf, p + IP_FRAG) & IP_FRAG_MASK:
        return FRAGMENT, 0, 0
    if buf[p + IP_PROTOCOL] != IPPROTO_UDP:
        return NOT_UDP, 0, 0
    if total - ihl < UDP_HLEN:
        return BAD_UDP_LENGTH, 0, 0
    u = p + ihl
    ulen = _be16(buf, u + UDP_LENGTH)
    if ulen < UDP_HLEN or ulen > total - ihl:
        return BAD_UDP_LENGTH, 0, 0
    if dst_ip != 0 and _be32(buf, p + IP_DST) != dst_ip:
        return WRONG_ADDRESS, 0, 0
    if dst_port != 0 and _be16(buf, u + UDP_DPORT) != dst_port:
        return WRONG_PORT, 0, 0
    return OK, u + UDP_HLEN, ulen - UDP_HLEN


@njit(cache=True, nogil=True)
def udp_payload_at(buf, start, length, dst_ip, dst_port):
    """Find the UDP payload of the Ethernet frame in ``buf[start:start + length]``.

    ``dst_ip`` (the IPv4 address as a host-order integer) and ``dst_port`` select the feed;
    0 accepts any. Reads only bytes inside the frame. Returns ``(reason, offset, size)``: on
    ``OK`` the payload is ``buf[offset:offset + size]``; otherwise offset and size are 0.
    The IPv4/UDP part is :func:`ipv4_udp_payload_at`, inlined by numba (``inline="always"``):
    left to LLVM it stays a call, with a reference count taken on ``buf`` around it, which
    the AF_PACKET and AF_XDP loops would pay per frame.
    """
    s = np.int64(start)
    n = np.int64(length)
    if n < ETH_HLEN:
        return SHORT_ETHERNET, 0, 0
    etype = _be16(buf, s + ETH_TYPE)
    p = s + ETH_HLEN
    if etype == ETHERTYPE_8021Q:
        if n < ETH_HLEN + VLAN_HLEN:
            return SHORT_ETHERNET, 0, 0
        etype = _be16(buf, s + ETH_TYPE + VLAN_HLEN)
        p += VLAN_HLEN
    if etype != ETHERTYPE_IPV4:
        return NOT_IPV4, 0, 0
    return ipv4_udp_payload_at(buf, p, s + n - p, dst_ip, dst_port)


def _writable(data: bytes | bytearray | memoryview | np.ndarray) -> np.ndarray:
    return (data if isinstance(data, np.ndarray) and data.flags.writeable
            else np.frombuffer(bytearray(data), np.uint8))


def parse(frame: bytes | bytearray | memoryview | np.ndarray, dst_ip: int = 0,
          dst_port: int = 0) -> tuple[Reason, int, int]:
    """:func:`udp_payload_at` on one frame from Python (tools and tests): ``(reason, offset,
    size)`` with offsets from the start of ``frame``."""
    buf = _writable(frame)
    r, off, size = udp_payload_at(buf, 0, buf.shape[0], dst_ip, dst_port)
    return Reason(r), int(off), int(size)


def parse_ipv4(packet: bytes | bytearray | memoryview | np.ndarray, dst_ip: int = 0,
               dst_port: int = 0) -> tuple[Reason, int, int]:
    """:func:`ipv4_udp_payload_at` on one IPv4 packet (no link-layer header) from Python:
    ``(reason, offset, size)`` with offsets from the start of ``packet``."""
    buf = _writable(packet)
    r, off, size = ipv4_udp_payload_at(buf, 0, buf.shape[0], dst_ip, dst_port)
    return Reason(r), int(off), int(size)
