"""The ``pcap`` transport: a capture file handed to the feed stage as if it were the wire.

``PcapReceiver(path, host, port, pace=...)`` maps a pcap (µs or ns, either byte order) or
pcapng file into memory and hands on the UDP payload of every datagram sent to the feed's
address and port, as a view into the mapping (no copy), with the record's timestamp (ns since
the epoch) as the receive stamp. The file is walked in batches by compiled kernels
(:mod:`tickpath.wire.pcapwalk`: pcap records, pcapng enhanced/simple/obsolete packet blocks)
that parse each frame in place (:mod:`tickpath.wire.frames`; link types Ethernet with 802.1Q
tags, Linux SLL and SLL2, raw IPv4, BSD loopback); frames of other flows and malformed frames
are counted by reason and skipped, so nothing of them reaches the books.

It is a compiled receiver: :meth:`PcapReceiver.poll` runs :func:`tickpath.wire.pcapwalk.replay`,
which walks the records and hands each datagram to the feed stage's compiled step
(:func:`tickpath.wire.handler.on_datagram`) without returning to Python until the deadline, the end of the
session, an event the books refuse, or the end of the file (``END_OF_FILE``, which a listener
takes as the end, like ``IDLE``). ``recv()`` stays for the generic Python listener.

Pace, from the first datagram handed on:

* ``fast``: every datagram as soon as it is asked for;
* ``recorded``: datagram *i* not before ``t0 + (ts_i - ts_0)``, the gaps as recorded (sleep
  the long waits, spin the last 200 µs, so the clock is not overshot by a scheduler tick);
* a factor, ``2x`` or ``0.5x``: the recorded gaps divided by it.

A paced datagram is never handed on early; when the machine falls behind, the ones due are
handed on back to back, in file order (no re-anchoring: the schedule is the recording's).
A timestamp earlier than its predecessor's is released at once after it.

The transport spec, for ``open_receiver`` and ``--transport``::

    pcap:PATH                          the feed's datagrams (host, port), as fast as asked
    pcap:PATH?pace=recorded            as recorded
    pcap:PATH?pace=2x&dst=233.54.12.1:26400
    pcap:PATH?dst=any                  every UDP datagram, whatever its destination

Options are ``key=value`` after the last ``?``, joined by ``&``: ``pace`` (``fast``,
``recorded``, or a factor such as ``2x``/``0.5x``) and ``dst`` (``any``, ``ADDR``,
``ADDR:PORT`` or ``:PORT``; overrides the host and port the receiver was asked for; a zero
address or port matches any).

The whole file is checked when it is opened (the same compiled walk, nothing kept), so a
corrupt or cut-short file is refused up front with its name, the byte offset and the reason.
"""

from __future__ import annotations

import ipaddress
import mmap
import os
import struct
import time
from dataclasses import dataclass

import numpy as np

from ..ring.mapping import unmap
from . import frames as F
from . import pcapwalk as W
from .pcap import (
    _OPT_IF_TSOFFSET,
    _OPT_IF_TSRESOL,
    MAX_BLOCK,
    MAX_RECORD,
    PCAP_MAGIC_NS,
    PCAP_MAGIC_US,
    PCAPNG_BYTE_ORDER_MAGIC,
    _options,
)

__all__ = ["PcapReceiver", "PcapSpec", "parse_spec"]

_SPIN_NS = 200_000  # spin, rather than sleep, the last 200 µs of a wait
_MALFORMED = (F.Reason.SHORT_ETHERNET, F.Reason.SHORT_IPV4, F.Reason.BAD_IPV4,
              F.Reason.FRAGMENT, F.Reason.BAD_UDP_LENGTH)
_OTHER_FLOWS = (F.Reason.NOT_IPV4, F.Reason.NOT_UDP, F.Reason.WRONG_ADDRESS,
                F.Reason.WRONG_PORT)
_LINK_NAMES = "Ethernet (1), Linux SLL (113), Linux SLL2 (276), raw IPv4 (101, 228), " \
              "BSD loopback (0)"


# ------------------------------------------------------------------------------ the spec


@dataclass(frozen=True)
class PcapSpec:
    """A parsed ``pcap:PATH?options`` spec. ``speed`` 0 is ``fast``; ``dst`` is None when the
    spec leaves the destination to the caller."""

    path: str
    speed: float = 0.0
    dst: tuple[str, int] | None = None


def parse_pace(text: str | float, where: str = "") -> float:
    """``fast`` -> 0, ``recorded`` -> 1, ``2x`` / ``0.5x`` / ``2`` -> the factor."""
    if isinstance(text, int | float):
        value = float(text)
    elif text == "fast":
        return 0.0
    elif text == "recorded":
        return 1.0
    else:
        try:
            value = float(text[:-1] if text.endswith("x") else text)
        except ValueError:
            value = -1.0
    if not value > 0 or value != value or value == float("inf"):
        raise ValueError(f"pcap: bad pace {text!r}{where}: use fast, recorded, or a speed "
                         f"factor above 0 such as 2x or 0.5x")
    return value


def _parse_dst(text: str, where: str) -> tuple[str, int]:
    if text == "any":
        return "0.0.0.0", 0
    addr, colon, port = text.rpartition(":") if ":" in text else (text, "", "")
    try:
        ipaddress.IPv4Address(addr or "0.0.0.0")
        p = int(port) if colon else 0
        if not 0 <= p <= 0xFFFF:
            raise ValueError
    except ValueError:
        raise ValueError(f"pcap: bad dst {text!r}{where}: use any, ADDR, ADDR:PORT or :PORT "
                         f"(IPv4, port 0-65535)") from None
    return addr or "0.0.0.0", p


def parse_spec(spec: str) -> PcapSpec:
    """``pcap:PATH[?pace=...&dst=...]`` into its parts; a bad spec is refused with what was
    wrong and the syntax."""
    kind, colon, rest = spec.partition(":")
    if kind != "pcap" or not colon or not rest:
        raise ValueError(f"bad transport spec {spec!r}: the pcap transport is "
                         f"pcap:PATH[?pace=fast|recorded|2x][&dst=any|ADDR[:PORT]]")
    path, q, query = rest.rpartition("?") if "?" in rest else (rest, "", "")
    where = f" in {spec!r}"
    if not path:
        raise ValueError(f"pcap: no file named{where}: pcap:PATH[?options]")
    speed, dst = 0.0, None
    if q:
        for item in query.split("&"):
            key, eq, value = item.partition("=")
            if key == "pace" and eq:
                speed = parse_pace(value, where)
            elif key == "dst" and eq:
                dst = _parse_dst(value, where)
            else:
                raise ValueError(f"pcap: unknown option {item!r}{where}: the options are "
                                 f"pace=fast|recorded|FACTORx and dst=any|ADDR[:PORT], "
                                 f"joined by &")
    return PcapSpec(path, speed, dst)


# ------------------------------------------------------------------------------ the walk


class _Walk:
    """One pass over a mapped capture: the file's header, the pcapng blocks Python handles
    (section headers, interface descriptions), and the compiled walk between them. ``next``
    fills rows of an index (``pcapwalk.Col``) and raises ValueError with the offset on
    corruption."""

    def __init__(self, buf: np.ndarray, name: str, dst_ip: int, dst_port: int) -> None:
        self.buf, self.name, self.dst_ip, self.dst_port = buf, name, dst_ip, dst_port
        self.iface = np.zeros((4, W.N_IF_COLS), np.int64)
        self.n_iface = 0
        head = bytes(buf[:4])
        if len(head) < 4:
            raise self._error(0, f"not a pcap or pcapng file: only {len(head)} bytes")
        self.scale, self.limit, self.link = 1, 0, 0  # pcap only: per interface in pcapng
        if head == b"\x0a\x0d\x0d\x0a":
            self.ng, self.big, self.pos = True, False, 0
            return
        le, be = int.from_bytes(head, "little"), int.from_bytes(head, "big")
        if PCAP_MAGIC_US not in (le, be) and PCAP_MAGIC_NS not in (le, be):
            raise self._error(0, f"bad magic 0x{head.hex()}: not a pcap or pcapng file")
        if buf.shape[0] < 24:
            raise self._error(4, f"truncated pcap global header: {buf.shape[0] - 4} of 20 "
                                 f"bytes")
        self.ng, self.big, self.pos = False, be in (PCAP_MAGIC_US, PCAP_MAGIC_NS), 24
        order = ">" if self.big else "<"
        major, minor, _zone, _sigfigs, snaplen, network = struct.unpack(
            order + "HHiIII", bytes(buf[4:24]))
        if major != 2:
            raise self._error(4, f"unsupported pcap version {major}.{minor} (expected 2.x)")
        self.link = network & 0xFFFF  # the upper bits may carry FCS information
        if self.link not in W.SUPPORTED_LINKS:
            raise self._error(20, f"link type {self.link} is not supported by the pcap "
                                  f"transport: {_LINK_NAMES}")
        self.scale = 1 if (be if self.big else le) == PCAP_MAGIC_NS else 1000
        self.limit = max(snaplen, MAX_RECORD)

    def _error(self, offset: int, reason: str) -> ValueError:
        return ValueError(f"{self.name}: offset {offset}: {reason}")

    def next(self, out: np.ndarray) -> int:
        """Rows filled in ``out`` (0: the end of the file)."""
        k = 0
        while k < out.shape[0]:
            if self.ng:
                n, status, pos = W.walk_pcapng(self.buf, self.pos, self.big, MAX_BLOCK,
                                               self.iface, self.n_iface, self.dst_ip,
                                               self.dst_port, out[k:])
            else:
                n, status, pos = W.walk_pcap(self.buf, self.pos, self.big, self.scale,
                                             self.limit, self.link, self.dst_ip,
                                             self.dst_port, out[k:])
            k += n
            self.pos = pos
            if status == W.END:
                break
            if status == W.PYTHON:
                self._ng_block()
            elif status != W.FULL:
                raise self._corrupt(status, pos)
        return k

    # -- pcapng blocks handled here ----------------------------------------------------------

    def _u32(self, at: int, big: bool | None = None) -> int:
        b = bytes(self.buf[at:at + 4])
        return int.from_bytes(b, "big" if (self.big if big is None else big) else "little")

    def _ng_block(self) -> None:
        p, buf = self.pos, self.buf
        if self._u32(p) == 0x0A0D0D0A:
            if buf.shape[0] - p < 12:
                raise self._error(p + 8, "truncated pcapng section header: "
                                         f"{max(0, buf.shape[0] - p - 8)} of 4 bytes")
            bom = bytes(buf[p + 8:p + 12])
            if int.from_bytes(bom, "little") == PCAPNG_BYTE_ORDER_MAGIC:
                self.big = False
            elif int.from_bytes(bom, "big") == PCAPNG_BYTE_ORDER_MAGIC:
                self.big = True
            else:
                raise self._error(p + 8, f"bad pcapng byte-order magic 0x{bom.hex()}")
            total = self._u32(p + 4)
            if total < 28 or total % 4 or total > MAX_BLOCK:
                raise self._error(p, f"bad pcapng section header length {total}")
            self._whole(p, total, "pcapng section header")
            major = int.from_bytes(bytes(buf[p + 12:p + 14]), "big" if self.big else "little")
            if major != 1:
                raise self._error(p + 12, f"unsupported pcapng version {major}")
            self.n_iface = 0  # interfaces are numbered per section
            self.pos = p + total
            return
        total = self._u32(p + 4)
        if total < 12 or total % 4 or total > MAX_BLOCK:
            raise self._error(p, f"bad pcapng block length {total} (block type 1)")
        self._whole(p, total, "pcapng block (type 1)")
        body = bytes(buf[p + 8:p + total - 4])
        if len(body) < 8:
            raise self._error(p, "pcapng interface description block too short")
        order = ">" if self.big else "<"
        link, _reserved, snaplen = struct.unpack_from(order + "HHI", body, 0)
        decimal, exp, offset_s = True, 6, 0
        for code, value in _options(body, 8, order, self.name, p):
            if code == _OPT_IF_TSRESOL and len(value) >= 1:
                decimal, exp = not value[0] & 0x80, value[0] & 0x7F
            elif code == _OPT_IF_TSOFFSET and len(value) >= 8:
                offset_s = struct.unpack(order + "q", value[:8])[0]
        if (decimal and exp > 18) or (not decimal and exp > 32):
            raise self._error(p, f"interface {self.n_iface}: timestamp resolution "
                                 f"{'10' if decimal else '2'}^-{exp} s is finer than the pcap "
                                 f"transport reads (10^-18, 2^-32)")
        if self.n_iface == self.iface.shape[0]:
            self.iface = np.concatenate([self.iface, np.zeros_like(self.iface)])
        row = self.iface[self.n_iface]
        row[W.IF_LINK], row[W.IF_SNAPLEN], row[W.IF_OFFSET_NS] = link, snaplen, offset_s * 10**9
        if decimal:
            row[W.IF_SHIFT] = -1
            row[W.IF_MUL], row[W.IF_DIV] = 10 ** max(0, 9 - exp), 10 ** max(0, exp - 9)
        else:
            row[W.IF_SHIFT], row[W.IF_MUL], row[W.IF_DIV] = exp, 1, 1
        self.n_iface += 1
        self.pos = p + total

    def _whole(self, p: int, total: int, what: str) -> None:
        have = self.buf.shape[0] - p
        if have < total:
            raise self._error(p + 8, f"truncated {what}: {max(0, have - 8)} of {total - 8} "
                                     f"bytes{_CUT}")
        trailer = self._u32(p + total - 4)
        if trailer != total:
            raise self._error(p + total - 4, f"pcapng block length {total} and trailing "
                                             f"length {trailer} differ")

    def _corrupt(self, status: int, p: int) -> ValueError:
        left = self.buf.shape[0] - p
        if not self.ng:
            incl = self._u32(p + 8) if left >= 16 else 0
            if status == W.TRUNCATED_HEADER:
                return self._error(p, f"truncated record header: {left} of 16 bytes{_CUT}")
            if status == W.TOO_LONG:
                return self._error(p, f"record length {incl} exceeds {self.limit} bytes "
                                      f"(corrupt file?)")
            return self._error(p + 16, f"truncated record: {left - 16} of {incl} bytes of "
                                       f"frame data{_CUT}")
        btype = self._u32(p) if left >= 4 else -1
        total = self._u32(p + 4) if left >= 8 else 0
        if status == W.TRUNCATED_HEADER:
            return self._error(p, f"truncated pcapng block header: {left} of 8 bytes{_CUT}")
        if status == W.BAD_LENGTH:
            return self._error(p, f"bad pcapng block length {total} (block type {btype})")
        if status == W.TRUNCATED_DATA:
            return self._error(p + 8, f"truncated pcapng block (type {btype}): {left - 8} of "
                                      f"{total - 8} bytes{_CUT}")
        if status == W.TRAILER:
            return self._error(p + total - 4, f"pcapng block length {total} and trailing "
                                              f"length {self._u32(p + total - 4)} differ")
        if status == W.SHORT_PACKET:
            kind = "simple packet block" if btype == 3 else f"packet block (type {btype})"
            return self._error(p, f"pcapng {kind} too short")
        if status == W.IFACE:
            i = self._u32(p + 8) if btype == 6 else int.from_bytes(
                bytes(self.buf[p + 8:p + 10]), "big" if self.big else "little")
            return self._error(p, f"packet of undeclared interface {i}")
        if status == W.CAPLEN:
            return self._error(p, f"captured length {self._u32(p + 20)} runs past its block "
                                  f"of {total} bytes")
        return self._error(p, "simple packet block before any interface")


_CUT = " (the file ends inside it: cut short, or still being written; what comes before " \
       "this offset is whole)"


# ------------------------------------------------------------------------------ the owner


class PcapReceiver:
    """Replay the feed's datagrams from a pcap or pcapng file (see the module docstring).

    ``host``/``port``: the feed's destination; ``0.0.0.0`` / 0 match any. ``pace``:
    ``"fast"``, ``"recorded"``, or a speed factor (``"2x"``, ``0.5``). ``batch``: index rows
    walked per compiled call.

    Two ways to drive it, sharing one position in the file, one pace schedule and one set of
    counters: :meth:`poll`, the compiled replay loop (``compiled`` is True, so
    :class:`~tickpath.apps.listener.FeedListener` uses it), which hands each datagram to
    the feed stage without returning to Python; and ``recv()``, for the generic Python
    listener, which returns ``(payload view, record ts ns)``, or None when nothing is due
    within the timeout or the file is done (``exhausted``).

    The views point into a private mapping of the file (never written through; valid until
    :meth:`close`, and kept mapped while any view is held). Raises FileNotFoundError /
    OSError for a file that cannot be opened and ValueError, naming the offset and the
    reason, for one that is not a whole pcap or pcapng file.
    """

    name = "pcap"
    compiled = True

    def __init__(self, path: str | os.PathLike[str], host: str = "0.0.0.0", port: int = 0, *,
                 pace: str | float = "fast", batch: int = 4096) -> None:
        self.path = os.fspath(path)
        self.speed = parse_pace(pace)
        self.host, self.port = host, int(port)
        try:
            self.dst_ip = int(ipaddress.IPv4Address(host))
        except ValueError as e:
            raise ValueError(f"pcap: the feed's address must be IPv4, not {host!r}") from e
        if not 0 <= self.port <= 0xFFFF:
            raise ValueError(f"pcap: port {port} out of range 0-65535")
        if batch < 1:
            raise ValueError(f"pcap: batch {batch} must be at least 1")
        self._map: mmap.mmap | None = None
        self.buf: np.ndarray | None = None
        try:
            with open(self.path, "rb") as f:
                size = os.fstat(f.fileno()).st_size
                if size == 0:
                    raise ValueError(f"{self.path}: offset 0: not a pcap or pcapng file: only "
                                     f"0 bytes")
                # a private (copy-on-write) mapping: the arrays are writable, so the compiled
                # feed stage sees the same array type as from the other transports, and the
                # file is never written
                self._map = mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_COPY)
        except FileNotFoundError as e:
            raise FileNotFoundError(e.errno, f"pcap: no such file {self.path!r}") from e
        except IsADirectoryError as e:
            raise IsADirectoryError(e.errno, f"pcap: {self.path!r} is a directory, not a "
                                             f"capture file") from e
        self.buf = np.frombuffer(self._map, np.uint8)
        try:
            self._scan(batch)
            self._walk = _Walk(self.buf, self.path, self.dst_ip, self.port)
        except BaseException:
            self.close()
            raise
        self._idx = np.zeros((batch, W.N_COLS), np.int64)
        # the compiled loop's counters and state (pcapwalk.Rx); recv() shares the position,
        # the index and the pace schedule through it, and counts in Python ints of its own
        self.rx = np.zeros(W.N_RX, np.int64)
        self.rx[W.Rx.POS] = self._walk.pos
        self.reasons = np.zeros(W.N_CODES, np.int64)
        self._rows: list[list[int]] | None = []  # recv()'s copy of the index (None: stale)
        self._i = 0
        self._py = [0, 0, 0, 0]  # recv(): packets, bytes, frames, truncated
        self._timeout_ns: int | None = None

    def _scan(self, batch: int) -> None:
        """Walk the whole file once (checks it; nothing kept): how many datagrams of the
        feed, over how long, and the longest gap between two of them."""
        walk = _Walk(self.buf, self.path, self.dst_ip, self.port)
        out = np.zeros((batch, W.N_COLS), np.int64)
        self.total_frames = self.feed_frames = 0
        self.first_ts = self.last_ts = None
        self.max_gap_ns = 0
        while n := walk.next(out):
            self.total_frames += n
            ts = out[:n, W.Col.TS][out[:n, W.Col.REASON] == F.OK]
            if ts.size == 0:
                continue
            self.feed_frames += int(ts.size)
            if self.last_ts is not None:
                ts = np.concatenate(([self.last_ts], ts))
            else:
                self.first_ts = int(ts[0])
            if ts.size > 1:
                self.max_gap_ns = max(self.max_gap_ns, int(np.diff(ts).max()))
            self.last_ts = int(ts[-1])

    @property
    def idle_timeout_s(self) -> float:
        """Seconds with nothing handed on after which the whole file surely has been: the
        longest paced gap between two datagrams of the feed, plus a second (a listener's
        ``idle_timeout`` for a capture that does not end its session)."""
        gap = self.max_gap_ns / self.speed if self.speed else 0
        return gap / 1e9 + 1.0

    @property
    def exhausted(self) -> bool:
        """True once the walk reached the end of the file."""
        return bool(self.rx[W.Rx.DONE])

    @property
    def anchor_ns(self) -> int | None:
        """CLOCK_MONOTONIC ns when the first paced datagram went out (None before)."""
        a = int(self.rx[W.Rx.ANCHOR_NS])
        return a or None

    # -- the compiled path --------------------------------------------------------------------

    def poll(self, state, deadline_ns: int, idle_ns: int) -> int:
        """Run the compiled replay loop (:func:`tickpath.wire.pcapwalk.replay`), handing each
        datagram to the feed handler whose state is ``state``, until the deadline
        (CLOCK_REALTIME ns), the end of the session, a SETTLE from the handler, or the end of
        the file (``END_OF_FILE``, the number of ``IDLE``: a listener stops on it); returns
        the exit code. ``idle_ns`` is not used: a file's gaps are the recording's, and its end
        is known. Raises ValueError, with the offset, if the file turns out corrupt (changed
        since it was opened)."""
        if self.buf is None:
            raise ValueError("pcap: the receiver is closed")
        w, rx = self._walk, self.rx
        if self._rows is not None:  # recv() ran last: hand its place in the index over
            rx[W.Rx.NEXT], rx[W.Rx.BATCH] = self._i, len(self._rows)
            self._rows = None
        while True:
            code = W.replay(self.buf, bool(w.ng), bool(w.big), int(w.scale), int(w.limit),
                            int(w.link), MAX_BLOCK, w.iface, int(w.n_iface), self.dst_ip,
                            self.port, self._idx, float(self.speed), deadline_ns, state, rx,
                            self.reasons)
            if code != W.WALK_STOP:
                return code
            self._walk_stop()

    def _walk_stop(self) -> None:
        """The compiled walk stopped at a block for Python, or at corruption."""
        w = self._walk
        w.pos = int(self.rx[W.Rx.POS])
        status = int(self.rx[W.Rx.WALK_STATUS])
        if status != W.PYTHON:
            raise w._corrupt(status, w.pos)
        w._ng_block()
        self.rx[W.Rx.POS] = w.pos

    @staticmethod
    def warm_up(state) -> None:
        """Compile (or load from the cache) the replay loop for ``state``'s type, on a
        scratch capture of its own (a pcap header, no records), so nothing of the real file
        is consumed."""
        import tempfile

        with tempfile.TemporaryDirectory(prefix="tickpath-pcap-") as d:
            path = os.path.join(d, "scratch.pcap")
            with open(path, "wb") as f:
                f.write(struct.pack("<IHHiIII", PCAP_MAGIC_NS, 2, 4, 0, 0, 65535, 1))
            with PcapReceiver(path) as rx:
                rx.poll(state, 0, 0)

    # -- the receiver interface (Python) --------------------------------------------------------

    def settimeout(self, seconds: float | None) -> None:
        self._timeout_ns = None if seconds is None else max(0, int(seconds * 1e9))

    def recv(self) -> tuple[np.ndarray, int] | None:
        """The next datagram of the feed when it is due, or None (nothing due within the
        timeout, or the end of the file)."""
        if self.buf is None:
            raise ValueError("pcap: the receiver is closed")
        rows, py = self._rows, self._py
        if rows is None:  # the compiled loop ran last: take its place in the index over
            rows = self._rows = self._idx[:int(self.rx[W.Rx.BATCH])].tolist()
            self._i = int(self.rx[W.Rx.NEXT])
        while True:
            if self._i == len(rows):
                self._walk.pos = int(self.rx[W.Rx.POS])
                n = self._walk.next(self._idx)
                self.rx[W.Rx.POS] = self._walk.pos
                if n == 0:
                    self.rx[W.Rx.DONE] = 1
                    if self._timeout_ns:  # nothing more will come; do not spin the caller
                        time.sleep(self._timeout_ns / 1e9)
                    return None
                rows = self._rows = self._idx[:n].tolist()
                self._i = 0
            ts, at, size, reason, cut = rows[self._i]
            if reason != F.OK:
                self._i += 1
                py[2] += 1
                py[3] += cut
                self.reasons[reason] += 1
                continue
            if self.speed and not self._due(ts):
                return None
            self._i += 1
            py[0] += 1
            py[1] += size
            py[2] += 1
            py[3] += cut
            return self.buf[at:at + size], ts

    def _due(self, ts: int) -> bool:
        """Wait until the datagram stamped ``ts`` is due (the compiled loop's schedule, kept
        in ``rx``); False when that is further off than the timeout (the caller gets None and
        asks again)."""
        rx = self.rx
        now = time.monotonic_ns()  # CLOCK_MONOTONIC, as the compiled loop reads it
        if not rx[W.Rx.ANCHOR_NS]:
            rx[W.Rx.ANCHOR_NS], rx[W.Rx.TS0], rx[W.Rx.LAST_DUE] = now, ts, now
        due = int(rx[W.Rx.ANCHOR_NS]) + int((ts - int(rx[W.Rx.TS0])) / self.speed)
        due = max(due, int(rx[W.Rx.LAST_DUE]))  # a stamp going backwards: at once, in order
        wait = due - now
        if wait > 0:
            if self._timeout_ns is not None and wait > self._timeout_ns:
                time.sleep(self._timeout_ns / 1e9)
                return False
            if wait > _SPIN_NS:
                time.sleep((wait - _SPIN_NS) / 1e9)
            while time.monotonic_ns() < due:
                pass
        rx[W.Rx.LAST_DUE] = due
        return True

    def stats(self) -> dict[str, int]:
        """``packets``/``bytes``: datagrams of the feed handed on and their payload bytes;
        ``frames``: records walked; ``truncated``: records holding fewer bytes than the wire
        had (snap length); one count per reason a frame was skipped (frames.Reason names,
        and ``unsupported_link``); ``malformed``: the sum of the malformed reasons (short,
        bad IPv4, fragment, bad UDP length); ``other_flows``: frames of other protocols,
        addresses or ports; ``empty_polls``: times the compiled loop handed back at its
        deadline with the next datagram not yet due. Both paths' counts, summed."""
        rx, py = self.rx, self._py
        out = {"packets": py[0] + int(rx[W.Rx.PACKETS]), "bytes": py[1] + int(rx[W.Rx.BYTES]),
               "frames": py[2] + int(rx[W.Rx.FRAMES]),
               "truncated": py[3] + int(rx[W.Rx.TRUNCATED]),
               "malformed": int(sum(self.reasons[r] for r in _MALFORMED)),
               "other_flows": int(sum(self.reasons[r] for r in _OTHER_FLOWS))
               + int(self.reasons[W.UNSUPPORTED_LINK]),
               "empty_polls": int(rx[W.Rx.EMPTY_POLLS])}
        for r in F.Reason:
            if r != F.Reason.OK:
                out[r.name.lower()] = int(self.reasons[r])
        out["unsupported_link"] = int(self.reasons[W.UNSUPPORTED_LINK])
        return out

    def close(self) -> None:
        """Unmap the file (idempotent). A view still held keeps the mapping alive until it
        goes."""
        self.buf = None
        self._rows = []
        if hasattr(self, "_walk"):
            self._walk.buf = None  # type: ignore[assignment]
        unmap(self._map)
        self._map = None

    def __enter__(self) -> PcapReceiver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_pcap(spec: str, host: str = "0.0.0.0", port: int = 0) -> PcapReceiver:
    """The receiver for a ``pcap:PATH?options`` spec, for the feed at ``host``:``port``
    unless the spec's ``dst`` says otherwise. A capture with no datagram of the feed is
    refused, with what it does hold and how to choose the destination."""
    s = parse_spec(spec)
    if s.dst is not None:
        host, port = s.dst
    rx = PcapReceiver(s.path, host, port, pace=s.speed or "fast")
    if rx.feed_frames == 0:
        rx.close()
        to = (f"{host}:{port}" if rx.dst_ip and port else f"{host}, any port" if rx.dst_ip
              else f"any address, port {port}" if port else "any address")
        raise ValueError(f"pcap: {s.path} holds no UDP datagram to {to} in its "
                         f"{rx.total_frames:,} frames; name the feed with dst=ADDR:PORT (or "
                         f"--host/--port), or take every UDP datagram with dst=any")
    return rx
