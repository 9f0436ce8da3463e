"""Tick to trade as the venue sees it: pair each order with the feed packet that triggered it.

A capture taken on the venue's side of the link (its end of the veth pair; kernel timestamps,
taken by the venue's process, never by the trader) holds both directions: the MoldUDP64
packets the venue sent and the TCP segments of the order-entry sessions it received. An
order's ClOrdID names its trigger (:mod:`tickpath.codec.ouch50.clordid`), so::

    wire tick-to-trade = stamp of the TCP segment that completed the order's SoupBinTCP packet
                       - stamp of the first packet that carried the trigger's sequence number

Both stamps come from one clock on one host, taken at the venue's interface: the figure
includes the link both ways and everything the trader did in between, and nothing of the
venue's own processing. The TCP stream of each connection (client to venue) is reassembled by
sequence number (retransmitted bytes are dropped, out-of-order segments wait for the gap to
fill), then cut into SoupBinTCP packets; Enter Order and Replace Order messages in Unsequenced
Data packets are the orders (Cancel carries no ClOrdID, so cancels are counted, not paired).

Cold path, plain Python: it reads a file after the run.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..codec.ouch50.clordid import trigger_of
from ..codec.ouch50.layout import INBOUND
from ..telemetry.histogram import summary_us
from ..wire.pcap import LINKTYPE_ETHERNET, read_records, udp_payload

_ENTER, _REPLACE = INBOUND["O"], INBOUND["U"]
_ENTER_CLORD = _ENTER.field("cl_ord_id").offset
_REPLACE_CLORD = _REPLACE.field("cl_ord_id").offset
_ENTER_URN = _ENTER.field("user_ref_num").offset
_REPLACE_URN = _REPLACE.field("user_ref_num").offset
_MOLD_HEADER = struct.Struct("!10sQH")
_TCP = 6
_VLAN_TPIDS = (0x8100, 0x88A8, 0x9100)


@dataclass
class WirePairs:
    """The orders of a capture paired with their triggers (one row per paired order)."""

    trigger: np.ndarray  # MoldUDP64 sequence number named by the order
    trigger_ns: np.ndarray  # capture stamp of the first packet carrying it
    order_ns: np.ndarray  # capture stamp of the segment completing the order
    user_ref: np.ndarray  # the order's UserRefNum
    feed_packets: int = 0
    orders: int = 0  # Enter + Replace messages seen
    cancels: int = 0
    unpaired: dict[str, int] = field(default_factory=dict)  # reason -> orders

    @property
    def latency_ns(self) -> np.ndarray:
        return self.order_ns - self.trigger_ns

    def summary(self) -> dict[str, float]:
        """p50 .. max in µs (telemetry.histogram.summary_us) of the paired latencies."""
        return summary_us(self.latency_ns)


def _ipv4(frame: bytes, linktype: int) -> tuple[int, memoryview] | None:
    """(protocol, IPv4 packet) of an Ethernet frame, or None."""
    if linktype != LINKTYPE_ETHERNET or len(frame) < 34:
        return None
    mv = memoryview(frame)
    ethertype, p = (mv[12] << 8) | mv[13], 14
    while ethertype in _VLAN_TPIDS and len(mv) >= p + 4:
        ethertype, p = (mv[p + 2] << 8) | mv[p + 3], p + 4
    if ethertype != 0x0800 or len(mv) < p + 20 or mv[p] >> 4 != 4:
        return None
    total = (mv[p + 2] << 8) | mv[p + 3]
    return mv[p + 9], mv[p:p + total]


def _tcp(ip: memoryview) -> tuple[tuple, int, memoryview] | None:
    """(flow, sequence number, payload) of an IPv4/TCP packet, or None."""
    ihl = (ip[0] & 0xF) * 4
    if len(ip) < ihl + 20:
        return None
    src, dst = bytes(ip[12:16]), bytes(ip[16:20])
    sport, dport, seq = struct.unpack_from("!HHI", ip, ihl)
    off = (ip[ihl + 12] >> 4) * 4
    flags = ip[ihl + 13]
    if flags & 0x02:  # SYN: the first data byte is seq + 1
        seq += 1
    return (src, sport, dst, dport), seq, ip[ihl + off:]


class _Stream:
    """One direction of one TCP connection, reassembled, cut into SoupBinTCP packets."""

    def __init__(self, seq: int) -> None:
        self.next = seq
        self.held: dict[int, bytes] = {}
        self.buf = bytearray()

    def add(self, seq: int, data: bytes) -> bool:
        """Take a segment; True if it delivered new bytes in order."""
        grew = False
        self.held.setdefault(seq, data)
        while True:
            for s in list(self.held):
                d = self.held[s]
                end = (s + len(d)) & 0xFFFFFFFF
                if ((end - self.next) & 0xFFFFFFFF) > 0x7FFFFFFF or end == self.next:
                    del self.held[s]  # entirely old: a retransmission
                    continue
                if ((self.next - s) & 0xFFFFFFFF) <= 0x7FFFFFFF:  # starts at or before next
                    self.buf += d[(self.next - s) & 0xFFFFFFFF:]
                    self.next = end
                    del self.held[s]
                    grew = True
                    break
            else:
                return grew

    def packets(self):
        """Complete SoupBinTCP packets (type, payload) taken off the front of the buffer."""
        while len(self.buf) >= 2:
            n = (self.buf[0] << 8) | self.buf[1]
            if len(self.buf) < 2 + n:
                return
            pkt = bytes(self.buf[2:2 + n])
            del self.buf[:2 + n]
            if n:
                yield chr(pkt[0]), pkt[1:]


def pair_capture(path: str | Path, feed_port: int, order_port: int) -> WirePairs:
    """Pair the orders to ``order_port`` (TCP) in the capture ``path`` with the MoldUDP64
    packets to ``feed_port`` (UDP) that triggered them. A capture taken on the venue's side
    holds both; frames of other ports are ignored."""
    starts: list[int] = []
    counts: list[int] = []
    stamps: list[int] = []
    streams: dict[tuple, _Stream] = {}
    rows: list[tuple[int, int, int]] = []  # (trigger, order stamp, user ref)
    orders = cancels = packets = 0
    unpaired = {"no trigger in ClOrdID": 0, "trigger never sent": 0, "order before trigger": 0}
    for rec in read_records(path):
        got = udp_payload(rec.frame, rec.linktype)
        if got is not None:
            payload, (_src, _dst, _sport, dport) = got
            if dport == feed_port and len(payload) >= _MOLD_HEADER.size:
                _session, seq, count = _MOLD_HEADER.unpack_from(payload)
                if 0 < count < 0xFFFF:  # not a heartbeat or end of session
                    starts.append(seq)
                    counts.append(count)
                    stamps.append(rec.ts_ns)
                    packets += 1
            continue
        ip = _ipv4(rec.frame, rec.linktype)
        if ip is None or ip[0] != _TCP:
            continue
        seg = _tcp(ip[1])
        if seg is None:
            continue
        flow, seq, data = seg
        if flow[3] != order_port:
            continue
        stream = streams.get(flow)
        if stream is None:
            stream = streams[flow] = _Stream(seq)
        if not data or not stream.add(seq, bytes(data)):
            continue
        for kind, payload in stream.packets():
            if kind != "U" or not payload:
                continue
            t = chr(payload[0])
            if t == "X":
                cancels += 1
                continue
            if t not in "OU":
                continue
            msg = _ENTER if t == "O" else _REPLACE
            if len(payload) < msg.length - 2:
                continue
            orders += 1
            at = _ENTER_CLORD if t == "O" else _REPLACE_CLORD
            urn_at = _ENTER_URN if t == "O" else _REPLACE_URN
            trig = trigger_of(payload[at:at + 14])
            if trig is None:
                unpaired["no trigger in ClOrdID"] += 1
                continue
            rows.append((trig, rec.ts_ns, int.from_bytes(payload[urn_at:urn_at + 4], "big")))
    # the first stamp of each sequence number (a packet sent twice, on lines A and B or as a
    # retransmission, counts from its first copy)
    s = np.array(starts, np.int64)
    c = np.array(counts, np.int64)
    ts = np.array(stamps, np.int64)
    order = np.lexsort((ts, s))
    s, c, ts = s[order], c[order], ts[order]
    trig, sent, at_ns, refs = [], [], [], []
    for t, t_ns, ref in rows:
        k = int(np.searchsorted(s, t, side="right")) - 1
        # earlier packets may cover t too (a longer packet starting before): look back a few
        best = None
        j = k
        while j >= 0 and j >= k - 8:
            if s[j] <= t < s[j] + c[j] and (best is None or ts[j] < best):
                best = int(ts[j])
            j -= 1
        if best is None:
            unpaired["trigger never sent"] += 1
        elif t_ns < best:
            unpaired["order before trigger"] += 1
        else:
            trig.append(t)
            sent.append(best)
            at_ns.append(t_ns)
            refs.append(ref)
    return WirePairs(np.array(trig, np.int64), np.array(sent, np.int64),
                     np.array(at_ns, np.int64), np.array(refs, np.int64), packets, orders,
                     cancels, {k: v for k, v in unpaired.items() if v})
