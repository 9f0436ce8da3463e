"""pcap and pcapng files: a streaming reader, nanosecond pcap and pcapng writers, and UDP
frame helpers.

Cold path (tools, replay set-up, tests): plain Python on purpose. Files are read one record
at a time and never loaded whole; each frame is handed on as ``bytes``. The ``pcap`` receive
transport (:mod:`tickpath.wire.pcapfile`) maps the file instead and walks it from compiled
code, handing frames on in place.

pcap (libpcap) file, every number in the writer's byte order (the magic says which)::

    global header, 24 bytes
    0       4       6       8        12        16        20          24
    +-------+-------+-------+--------+---------+---------+-----------+
    | magic | major | minor | zone   | sigfigs | snaplen | linktype  |
    | u32   | u16=2 | u16=4 | i32    | u32     | u32     | u32       |
    +-------+-------+-------+--------+---------+---------+-----------+
    magic A1B2C3D4: microsecond timestamps; A1B23C4D: nanosecond timestamps

    record: 16-byte header, then incl_len bytes of frame
    0        4                 8          12         16
    +--------+-----------------+----------+----------+------------------+
    | ts_sec | ts_usec/ts_nsec | incl_len | orig_len | frame ...        |
    +--------+-----------------+----------+----------+------------------+

pcapng file: a run of blocks, each ``type u32 | total_length u32 | body | total_length u32``,
padded to 4 bytes. A Section Header Block (type 0A0D0D0A, byte-order magic 1A2B3C4D) starts
each section and fixes its byte order; Interface Description Blocks (type 1) give each
interface's link type, snap length and timestamp resolution (option ``if_tsresol``, code 9:
10^-n seconds, or 2^-n when the top bit is set; default microseconds) and offset
(``if_tsoffset``, code 14, seconds); packets come in Enhanced Packet Blocks (type 6, 64-bit
timestamp in interface units), Simple Packet Blocks (type 3, no timestamp: reported as 0) or
the obsolete Packet Block (type 2). Other blocks are skipped.

Frames built by :func:`udp_frame` (Ethernet II, optional 802.1Q tag, IPv4, UDP)::

    0        6        12     [12 tpid 8100 | tci]   12|16   14|18
    +--------+--------+------------------------------+-------+------------+-------+---------+
    | dst    | src    | optional 802.1Q tag (4)      | type  | IPv4 (20)  | UDP 8 | payload |
    +--------+--------+------------------------------+-------+------------+-------+---------+
"""

from __future__ import annotations

import ipaddress
import os
import struct
from collections.abc import Iterator
from typing import BinaryIO, NamedTuple

import numpy as np

__all__ = [
    "LINKTYPE_ETHERNET", "LINKTYPE_IPV4", "LINKTYPE_LINUX_SLL", "LINKTYPE_LINUX_SLL2",
    "LINKTYPE_NULL", "LINKTYPE_RAW", "PcapWriter", "PcapngWriter", "Record",
    "internet_checksum", "multicast_mac", "open_writer", "read_packets", "read_records",
    "read_udp", "udp_frame", "udp_payload",
]

LINKTYPE_NULL = 0  # BSD loopback: 4-byte address family in the writer's byte order
LINKTYPE_ETHERNET = 1
LINKTYPE_RAW = 101  # raw IP
LINKTYPE_LINUX_SLL = 113  # Linux "cooked" capture, 16-byte header
LINKTYPE_IPV4 = 228
LINKTYPE_LINUX_SLL2 = 276  # Linux cooked capture v2, 20-byte header

PCAP_MAGIC_US = 0xA1B2C3D4
PCAP_MAGIC_NS = 0xA1B23C4D
PCAPNG_SHB = 0x0A0D0D0A
PCAPNG_BYTE_ORDER_MAGIC = 0x1A2B3C4D

_SHB_TYPE_BYTES = b"\x0a\x0d\x0d\x0a"  # a palindrome: the same in both byte orders
_BLOCK_IDB = 1
_BLOCK_OPB = 2  # obsolete Packet Block
_BLOCK_SPB = 3
_BLOCK_EPB = 6
_OPT_END = 0
_OPT_SHB_USERAPPL = 4
_OPT_IF_NAME = 2
_OPT_IF_TSRESOL = 9
_OPT_IF_TSOFFSET = 14

#: Largest pcap record accepted when the file's snaplen is smaller (libpcap's own limit).
MAX_RECORD = 262_144
#: Largest pcapng block accepted: a bigger length means a corrupt file, not a big packet.
MAX_BLOCK = 16 * 1024 * 1024

_ETHERTYPE_IPV4 = 0x0800
_VLAN_TPIDS = (0x8100, 0x88A8, 0x9100)  # 802.1Q, 802.1ad (QinQ), legacy QinQ
_IPPROTO_UDP = 17
_NS = 1_000_000_000


class Record(NamedTuple):
    """One captured frame: receive time (ns since the epoch), bytes, link type, wire length."""

    ts_ns: int
    frame: bytes
    linktype: int
    orig_len: int


def _error(name: str, offset: int, reason: str) -> ValueError:
    return ValueError(f"{name}: offset {offset}: {reason}")


class _Source:
    """A path to open (and close), or an already open binary file (left open)."""

    def __init__(self, path: str | os.PathLike[str] | BinaryIO) -> None:
        if hasattr(path, "read"):
            self.f: BinaryIO = path  # type: ignore[assignment]
            self.own = False
            self.name = str(getattr(path, "name", repr(path)))
        else:
            self.f = open(path, "rb", buffering=1 << 16)  # closed in close()
            self.own = True
            self.name = os.fspath(path)

    def read_exact(self, n: int, offset: int, what: str) -> bytes:
        data = self.f.read(n)
        if len(data) < n:
            raise _error(self.name, offset, f"truncated {what}: {len(data)} of {n} bytes")
        return data

    def close(self) -> None:
        if self.own:
            self.f.close()


# --------------------------------------------------------------------------------- reading


def read_records(path: str | os.PathLike[str] | BinaryIO) -> Iterator[Record]:
    """Every frame of a pcap (µs or ns, either byte order) or pcapng file, in file order.

    Streams: one record in memory at a time. Raises ``ValueError`` naming the file, the byte
    offset and the reason on a bad magic, a truncated header or record, or a corrupt block.
    """
    src = _Source(path)
    try:
        head = src.f.read(4)
        if len(head) < 4:
            raise _error(src.name, 0, f"not a pcap or pcapng file: only {len(head)} bytes")
        if head == _SHB_TYPE_BYTES:
            yield from _read_pcapng(src, head)
        elif PCAP_MAGIC_US in _both_orders(head) or PCAP_MAGIC_NS in _both_orders(head):
            yield from _read_pcap(src, head)
        else:
            raise _error(src.name, 0, f"bad magic 0x{head.hex()}: not a pcap or pcapng file")
    finally:
        src.close()


def read_packets(path: str | os.PathLike[str] | BinaryIO) -> Iterator[tuple[int, bytes]]:
    """``(ts_ns, frame)`` for every frame of a pcap or pcapng file (see :func:`read_records`)."""
    for rec in read_records(path):
        yield rec.ts_ns, rec.frame


def read_udp(path: str | os.PathLike[str] | BinaryIO, port: int | None = None,
             ) -> Iterator[tuple[int, memoryview, tuple[str, str, int, int]]]:
    """``(ts_ns, payload, (src, dst, sport, dport))`` for every UDP datagram of a capture
    (destination port ``port`` only, if given); other frames are skipped."""
    for rec in read_records(path):
        got = udp_payload(rec.frame, rec.linktype)
        if got is not None and (port is None or got[1][3] == port):
            yield rec.ts_ns, got[0], got[1]


def _both_orders(head: bytes) -> tuple[int, int]:
    return int.from_bytes(head, "little"), int.from_bytes(head, "big")


def _read_pcap(src: _Source, head: bytes) -> Iterator[Record]:
    order = "<" if int.from_bytes(head, "little") in (PCAP_MAGIC_US, PCAP_MAGIC_NS) else ">"
    nanosecond = struct.unpack(order + "I", head)[0] == PCAP_MAGIC_NS
    major, minor, _zone, _sigfigs, snaplen, network = struct.unpack(
        order + "HHiIII", src.read_exact(20, 4, "pcap global header"))
    if major != 2:
        raise _error(src.name, 4, f"unsupported pcap version {major}.{minor} (expected 2.x)")
    linktype = network & 0xFFFF  # the upper bits may carry FCS information
    scale = 1 if nanosecond else 1000
    limit = max(snaplen, MAX_RECORD)
    rec_header = struct.Struct(order + "IIII")
    offset = 24
    while True:
        raw = src.f.read(16)
        if not raw:
            return
        if len(raw) < 16:
            raise _error(src.name, offset, f"truncated record header: {len(raw)} of 16 bytes")
        sec, frac, incl_len, orig_len = rec_header.unpack(raw)
        if incl_len > limit:
            raise _error(src.name, offset,
                         f"record length {incl_len} exceeds {limit} bytes (corrupt file?)")
        frame = src.f.read(incl_len)
        if len(frame) < incl_len:
            raise _error(src.name, offset + 16,
                         f"truncated record: {len(frame)} of {incl_len} bytes of frame data")
        yield Record(sec * _NS + frac * scale, frame, linktype, orig_len)
        offset += 16 + incl_len


class _Interface(NamedTuple):
    linktype: int
    snaplen: int
    decimal: bool  # resolution 10^-exp seconds if True, 2^-exp otherwise
    exp: int
    offset_s: int


def _units_to_ns(ts: int, iface: _Interface) -> int:
    if iface.decimal:
        ns = ts * 10 ** (9 - iface.exp) if iface.exp <= 9 else ts // 10 ** (iface.exp - 9)
    else:
        ns = (ts * _NS) >> iface.exp
    return ns + iface.offset_s * _NS


def _options(body: bytes, start: int, order: str, name: str, offset: int,
             ) -> Iterator[tuple[int, bytes]]:
    p = start
    while p + 4 <= len(body):
        code, length = struct.unpack_from(order + "HH", body, p)
        if code == _OPT_END:
            return
        if p + 4 + length > len(body):
            raise _error(name, offset + 8 + p,
                         f"pcapng option {code} of {length} bytes runs past its block")
        yield code, body[p + 4:p + 4 + length]
        p += 4 + (length + 3) // 4 * 4


def _read_pcapng(src: _Source, head: bytes) -> Iterator[Record]:
    name = src.name
    order: str | None = None
    ifaces: list[_Interface] = []
    offset = 0
    pending = head
    while True:
        raw = pending + src.f.read(8 - len(pending))
        pending = b""
        if not raw:
            return
        if len(raw) < 8:
            raise _error(name, offset, f"truncated pcapng block header: {len(raw)} of 8 bytes")
        if raw[:4] == _SHB_TYPE_BYTES:
            bom = src.read_exact(4, offset + 8, "pcapng section header")
            if int.from_bytes(bom, "little") == PCAPNG_BYTE_ORDER_MAGIC:
                order = "<"
            elif int.from_bytes(bom, "big") == PCAPNG_BYTE_ORDER_MAGIC:
                order = ">"
            else:
                raise _error(name, offset + 8, f"bad pcapng byte-order magic 0x{bom.hex()}")
            total = struct.unpack(order + "I", raw[4:])[0]
            if total < 28 or total % 4 or total > MAX_BLOCK:
                raise _error(name, offset, f"bad pcapng section header length {total}")
            rest = src.read_exact(total - 12, offset + 12, "pcapng section header")
            major = struct.unpack_from(order + "H", rest, 0)[0]
            if major != 1:
                raise _error(name, offset + 12, f"unsupported pcapng version {major}")
            _check_trailer(rest, total, order, name, offset)
            ifaces = []  # interfaces are numbered per section
            offset += total
            continue
        if order is None:
            raise _error(name, offset, "pcapng data before any section header block")
        btype, total = struct.unpack(order + "II", raw)
        if total < 12 or total % 4 or total > MAX_BLOCK:
            raise _error(name, offset, f"bad pcapng block length {total} (block type {btype})")
        rest = src.read_exact(total - 8, offset + 8, f"pcapng block (type {btype})")
        _check_trailer(rest, total, order, name, offset)
        body = rest[:-4]
        if btype == _BLOCK_IDB:
            if len(body) < 8:
                raise _error(name, offset, "pcapng interface description block too short")
            linktype, _reserved, snaplen = struct.unpack_from(order + "HHI", body, 0)
            decimal, exp, offset_s = True, 6, 0
            for code, value in _options(body, 8, order, name, offset):
                if code == _OPT_IF_TSRESOL and len(value) >= 1:
                    decimal, exp = not value[0] & 0x80, value[0] & 0x7F
                elif code == _OPT_IF_TSOFFSET and len(value) >= 8:
                    offset_s = struct.unpack(order + "q", value[:8])[0]
            ifaces.append(_Interface(linktype, snaplen, decimal, exp, offset_s))
        elif btype in (_BLOCK_EPB, _BLOCK_OPB):
            if len(body) < 20:
                raise _error(name, offset, f"pcapng packet block (type {btype}) too short")
            if btype == _BLOCK_EPB:
                iface_id, hi, lo, cap_len, orig_len = struct.unpack_from(order + "IIIII", body, 0)
            else:
                iface_id, _drops, hi, lo, cap_len, orig_len = struct.unpack_from(
                    order + "HHIIII", body, 0)
            if iface_id >= len(ifaces):
                raise _error(name, offset, f"packet of undeclared interface {iface_id}")
            if 20 + cap_len > len(body):
                raise _error(name, offset,
                             f"captured length {cap_len} runs past its block of {total} bytes")
            iface = ifaces[iface_id]
            yield Record(_units_to_ns((hi << 32) | lo, iface), body[20:20 + cap_len],
                         iface.linktype, orig_len)
        elif btype == _BLOCK_SPB:
            if not ifaces:
                raise _error(name, offset, "simple packet block before any interface")
            if len(body) < 4:
                raise _error(name, offset, "pcapng simple packet block too short")
            orig_len = struct.unpack_from(order + "I", body, 0)[0]
            cap_len = min(orig_len, len(body) - 4)
            if ifaces[0].snaplen:
                cap_len = min(cap_len, ifaces[0].snaplen)
            yield Record(0, body[4:4 + cap_len], ifaces[0].linktype, orig_len)
        offset += total


def _check_trailer(rest: bytes, total: int, order: str, name: str, offset: int) -> None:
    trailer = struct.unpack(order + "I", rest[-4:])[0]
    if trailer != total:
        raise _error(name, offset + total - 4,
                     f"pcapng block length {total} and trailing length {trailer} differ")


# --------------------------------------------------------------------------------- writing


def _frame_view(frame: bytes | bytearray | memoryview | np.ndarray) -> memoryview:
    if isinstance(frame, np.ndarray):
        return memoryview(np.ascontiguousarray(frame)).cast("B")
    return memoryview(frame).cast("B")


def _check_ts(ts_ns: int, fmt: str) -> int:
    ts_ns = int(ts_ns)
    if ts_ns < 0:
        raise ValueError(f"{fmt} timestamp {ts_ns} ns is before the epoch")
    return ts_ns


class _Writer:
    """What both writers share: the file (a path they open and close, or an open binary file
    they leave open), the snap length, the count, and the context-manager protocol."""

    def __init__(self, path: str | os.PathLike[str] | BinaryIO, linktype: int,
                 snaplen: int, fmt: str) -> None:
        if not 0 < snaplen < 1 << 32:
            raise ValueError(f"{fmt} snaplen {snaplen} must be 1 to 2**32 - 1")
        if not 0 <= linktype <= 0xFFFF:
            raise ValueError(f"{fmt} linktype {linktype} must fit 16 bits")
        self.linktype = linktype
        self.snaplen = snaplen
        self.count = 0
        self._fmt = fmt
        if hasattr(path, "write"):
            self._f: BinaryIO | None = path  # type: ignore[assignment]
            self._own = False
        else:
            self._f = open(path, "wb")  # closed in close()
            self._own = True

    def _file(self) -> BinaryIO:
        if self._f is None:
            raise ValueError(f"write to a closed {type(self).__name__}")
        return self._f

    def flush(self) -> None:
        if self._f is not None:
            self._f.flush()

    def close(self) -> None:
        if self._f is None:
            return
        if self._own:
            self._f.close()
        else:
            self._f.flush()
        self._f = None

    def __enter__(self):
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


class PcapWriter(_Writer):
    """Write a classic pcap file (little-endian), nanosecond timestamps by default.

    ``with PcapWriter(path) as w: w.write(frame, ts_ns)``. Frames longer than ``snaplen``
    are cut to it (the record keeps the original length). In microsecond mode timestamps are
    truncated to whole microseconds.
    """

    def __init__(self, path: str | os.PathLike[str] | BinaryIO, nanosecond: bool = True,
                 linktype: int = LINKTYPE_ETHERNET, snaplen: int = 65535) -> None:
        super().__init__(path, linktype, snaplen, "pcap")
        self.nanosecond = nanosecond
        magic = PCAP_MAGIC_NS if nanosecond else PCAP_MAGIC_US
        self._file().write(struct.pack("<IHHiIII", magic, 2, 4, 0, 0, snaplen, linktype))
        self._rec = struct.Struct("<IIII")

    def write(self, frame: bytes | bytearray | memoryview | np.ndarray, ts_ns: int,
              orig_len: int | None = None) -> None:
        """One record: ``frame`` received at ``ts_ns`` (ns since the epoch). ``orig_len``
        is the length on the wire when ``frame`` is already cut (a capture's snap length);
        by default the frame's own length."""
        f = self._file()
        view = _frame_view(frame)
        ts_ns = _check_ts(ts_ns, "pcap")
        sec, frac = divmod(ts_ns, _NS)
        if sec >= 1 << 32:
            raise ValueError(f"pcap timestamp {ts_ns} ns does not fit 32-bit seconds")
        if not self.nanosecond:
            frac //= 1000
        incl = min(len(view), self.snaplen)
        f.write(self._rec.pack(sec, frac, incl, max(len(view), orig_len or 0)))
        f.write(view[:incl])
        self.count += 1


class PcapngWriter(_Writer):
    """Write a pcapng file (little-endian): one section, one interface, nanosecond stamps.

    ``with PcapngWriter(path) as w: w.write(frame, ts_ns)``. The file is a Section Header
    Block (``shb_userappl`` names the writer), one Interface Description Block (``linktype``,
    ``snaplen``, ``if_tsresol`` = 9, i.e. 10^-9 s units, and ``if_name`` when ``iface`` is
    given), then one Enhanced Packet Block per frame with its 64-bit nanosecond timestamp.
    Frames longer than ``snaplen`` are cut to it (the block keeps the original length)::

        EPB: type 6 | total length | interface 0 | ts high | ts low | captured len
             | original len | frame, padded to 4 bytes | total length
    """

    def __init__(self, path: str | os.PathLike[str] | BinaryIO,
                 linktype: int = LINKTYPE_ETHERNET, snaplen: int = 65535,
                 iface: str | None = None, application: str = "tickpath") -> None:
        super().__init__(path, linktype, snaplen, "pcapng")
        shb = struct.pack("<IHHq", PCAPNG_BYTE_ORDER_MAGIC, 1, 0, -1)  # length -1: unknown
        shb += _ng_option(_OPT_SHB_USERAPPL, application.encode()) + _ng_option(_OPT_END, b"")
        idb = struct.pack("<HHI", linktype, 0, snaplen)
        if iface:
            idb += _ng_option(_OPT_IF_NAME, iface.encode())
        idb += _ng_option(_OPT_IF_TSRESOL, bytes([9])) + _ng_option(_OPT_END, b"")
        f = self._file()
        f.write(_ng_block(PCAPNG_SHB, shb))
        f.write(_ng_block(_BLOCK_IDB, idb))
        self._epb = struct.Struct("<IIIIIII")  # type, length, interface, ts hi/lo, lengths

    def write(self, frame: bytes | bytearray | memoryview | np.ndarray, ts_ns: int,
              orig_len: int | None = None) -> None:
        """One Enhanced Packet Block: ``frame`` received at ``ts_ns`` (ns since the epoch);
        ``orig_len`` as for :meth:`PcapWriter.write`."""
        f = self._file()
        view = _frame_view(frame)
        ts_ns = _check_ts(ts_ns, "pcapng")
        if ts_ns >= 1 << 64:
            raise ValueError(f"pcapng timestamp {ts_ns} ns does not fit 64 bits")
        incl = min(len(view), self.snaplen)
        pad = -incl % 4
        total = 32 + incl + pad
        f.write(self._epb.pack(_BLOCK_EPB, total, 0, ts_ns >> 32, ts_ns & 0xFFFFFFFF, incl,
                               max(len(view), orig_len or 0)))
        f.write(view[:incl])
        f.write(b"\x00" * pad + total.to_bytes(4, "little"))
        self.count += 1


def _ng_option(code: int, value: bytes) -> bytes:
    return struct.pack("<HH", code, len(value)) + value + b"\x00" * (-len(value) % 4)


def _ng_block(btype: int, body: bytes) -> bytes:
    total = 12 + len(body)  # bodies built here are already padded to 4 bytes
    return struct.pack("<II", btype, total) + body + struct.pack("<I", total)


#: file formats :func:`open_writer` knows, by the name's extension
WRITER_FORMATS = {".pcap": "pcap", ".pcapng": "pcapng"}


def open_writer(path: str | os.PathLike[str], fmt: str | None = None, *,
                linktype: int = LINKTYPE_ETHERNET, snaplen: int = 65535,
                iface: str | None = None) -> PcapWriter | PcapngWriter:
    """A nanosecond writer for ``path``: ``fmt`` ("pcap" or "pcapng"), or by the extension
    (.pcap, .pcapng). Anything else is refused, saying which to use."""
    if fmt is None:
        fmt = WRITER_FORMATS.get(os.path.splitext(os.fspath(path))[1].lower())
        if fmt is None:
            raise ValueError(f"{os.fspath(path)}: cannot tell the format from the extension; "
                             f"name it .pcap or .pcapng, or give the format")
    if fmt == "pcap":
        return PcapWriter(path, nanosecond=True, linktype=linktype, snaplen=snaplen)
    if fmt == "pcapng":
        return PcapngWriter(path, linktype=linktype, snaplen=snaplen, iface=iface)
    raise ValueError(f"unknown capture format {fmt!r}: use pcap or pcapng")


# ---------------------------------------------------------------------------- UDP frames


def internet_checksum(data: bytes | memoryview) -> int:
    """The one's-complement sum of 16-bit big-endian words (RFC 1071), complemented."""
    raw = bytes(data)
    if len(raw) % 2:
        raw += b"\x00"
    total = int(np.frombuffer(raw, ">u2").sum(dtype=np.uint64))
    while total >> 16:
        total = (total & 0xFFFF) + (total >> 16)
    return ~total & 0xFFFF


def _mac(value: str | bytes) -> bytes:
    if isinstance(value, bytes | bytearray):
        raw = bytes(value)
    else:
        raw = bytes(int(part, 16) for part in value.replace("-", ":").split(":"))
    if len(raw) != 6:
        raise ValueError(f"MAC address {value!r} is not 6 bytes")
    return raw


def multicast_mac(ip: str) -> bytes:
    """The Ethernet address of an IPv4 multicast group: 01:00:5e and the low 23 bits."""
    addr = ipaddress.IPv4Address(ip)
    if not addr.is_multicast:
        raise ValueError(f"{ip} is not an IPv4 multicast group")
    packed = addr.packed
    return bytes((0x01, 0x00, 0x5E, packed[1] & 0x7F, packed[2], packed[3]))


def udp_frame(payload: bytes | bytearray | memoryview | np.ndarray, src_ip: str, dst_ip: str,
              sport: int, dport: int, src_mac: str | bytes = "02:00:00:00:00:01",
              dst_mac: str | bytes | None = None, *, vlan: int | None = None, ttl: int = 64,
              ident: int = 0, udp_checksum: bool = True) -> bytes:
    """An Ethernet II frame carrying one IPv4/UDP datagram.

    The destination MAC defaults to the group's 01:00:5e:.. address for a multicast
    ``dst_ip``, ff:ff:ff:ff:ff:ff for the limited broadcast, and 02:00:00:00:00:02 otherwise.
    ``vlan`` adds an 802.1Q tag with that VLAN id. The IPv4 header checksum is always right;
    the UDP checksum is computed unless ``udp_checksum=False`` (then 0: "none", legal in IPv4).
    """
    if isinstance(payload, np.ndarray):
        body = np.ascontiguousarray(payload).tobytes()
    else:
        body = bytes(payload)
    if len(body) > 65535 - 28:
        raise ValueError(f"UDP payload of {len(body)} bytes does not fit one IPv4 datagram")
    for port in (sport, dport):
        if not 0 <= port <= 0xFFFF:
            raise ValueError(f"UDP port {port} out of range")
    src = ipaddress.IPv4Address(src_ip)
    dst = ipaddress.IPv4Address(dst_ip)
    if dst_mac is None:
        if dst.is_multicast:
            dmac = multicast_mac(str(dst))
        elif dst == ipaddress.IPv4Address("255.255.255.255"):
            dmac = b"\xff" * 6
        else:
            dmac = _mac("02:00:00:00:00:02")
    else:
        dmac = _mac(dst_mac)
    udp_len = 8 + len(body)
    csum = 0
    if udp_checksum:
        pseudo = src.packed + dst.packed + struct.pack("!BBH", 0, _IPPROTO_UDP, udp_len)
        csum = internet_checksum(pseudo + struct.pack("!HHHH", sport, dport, udp_len, 0) + body)
        csum = csum or 0xFFFF  # 0 means "no checksum"; a computed 0 is sent as all ones
    udp = struct.pack("!HHHH", sport, dport, udp_len, csum)
    ip = bytearray(struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + udp_len, ident & 0xFFFF,
                               0x4000, ttl, _IPPROTO_UDP, 0, src.packed, dst.packed))
    ip[10:12] = internet_checksum(ip).to_bytes(2, "big")
    eth = dmac + _mac(src_mac)
    if vlan is not None:
        if not 0 <= vlan < 4096:
            raise ValueError(f"VLAN id {vlan} out of range 0..4095")
        eth += struct.pack("!HH", 0x8100, vlan)
    return eth + struct.pack("!H", _ETHERTYPE_IPV4) + bytes(ip) + udp + body


def udp_payload(frame: bytes | bytearray | memoryview | np.ndarray,
                linktype: int = LINKTYPE_ETHERNET,
                ) -> tuple[memoryview, tuple[str, str, int, int]] | None:
    """The UDP payload of a frame (a zero-copy view) and ``(src, dst, sport, dport)``.

    Ethernet II (with 802.1Q / 802.1ad tags), Linux cooked captures (SLL, SLL2), raw IPv4
    and BSD loopback. Returns None for anything that is not one whole unfragmented IPv4/UDP
    datagram: other ethertypes or protocols, fragments, a bad version or header length,
    truncated headers, an IPv4 total length or a UDP length that disagrees with the bytes
    there. Ethernet padding after the datagram is ignored.
    """
    mv = memoryview(frame)
    if mv.ndim != 1 or mv.format != "B":
        mv = mv.cast("B")
    n = len(mv)
    if linktype == LINKTYPE_ETHERNET:
        if n < 14:
            return None
        ethertype = (mv[12] << 8) | mv[13]
        p = 14
        while ethertype in _VLAN_TPIDS:
            if n < p + 4:
                return None
            ethertype = (mv[p + 2] << 8) | mv[p + 3]
            p += 4
    elif linktype == LINKTYPE_LINUX_SLL:
        if n < 16:
            return None
        ethertype, p = (mv[14] << 8) | mv[15], 16
    elif linktype == LINKTYPE_LINUX_SLL2:
        if n < 20:
            return None
        ethertype, p = (mv[0] << 8) | mv[1], 20
    elif linktype in (LINKTYPE_RAW, LINKTYPE_IPV4):
        ethertype, p = _ETHERTYPE_IPV4, 0
    elif linktype == LINKTYPE_NULL:
        if n < 4:
            return None
        family = bytes(mv[:4])
        ethertype = _ETHERTYPE_IPV4 if 2 in _both_orders(family) else 0
        p = 4
    else:
        raise ValueError(f"link type {linktype} is not supported (Ethernet, SLL, SLL2, raw IP)")
    if ethertype != _ETHERTYPE_IPV4 or n < p + 20:
        return None
    if mv[p] >> 4 != 4:
        return None
    ihl = (mv[p] & 0x0F) * 4
    total = (mv[p + 2] << 8) | mv[p + 3]
    if ihl < 20 or total < ihl + 8 or p + total > n:
        return None
    if ((mv[p + 6] << 8) | mv[p + 7]) & 0x3FFF:  # more-fragments flag or a fragment offset
        return None
    if mv[p + 9] != _IPPROTO_UDP:
        return None
    u = p + ihl
    udp_len = (mv[u + 4] << 8) | mv[u + 5]
    if udp_len < 8 or udp_len > total - ihl:
        return None
    src = ".".join(map(str, mv[p + 12:p + 16]))
    dst = ".".join(map(str, mv[p + 16:p + 20]))
    sport = (mv[u] << 8) | mv[u + 1]
    dport = (mv[u + 2] << 8) | mv[u + 3]
    return mv[u + 8:u + udp_len], (src, dst, sport, dport)
