"""The venue's feed publisher: ITCH blocks -> MoldUDP64 packets -> UDP, paced, stamped.

Each packet's messages are stamped with the send time (CLOCK_REALTIME as nanoseconds since
midnight US/Eastern, the ITCH timestamp; :mod:`tickpath.venue.stamping`) just before it leaves, so a receiver on the same host measures
one-way latency from the venue's send to its own books. Packing is compiled; what sends is a
sender (:mod:`tickpath.wire.send`): ``socket`` (a Python ``sendto`` per packet, the baseline),
``sendto`` and ``sendmmsg`` (compiled loops that also pace and stamp), ``packet`` (AF_PACKET
TX ring, :mod:`tickpath.wire.packet_tx`), ``xdp`` (AF_XDP TX ring, :mod:`tickpath.wire.xdp_tx`).

Recovery (docs/venue-recovery.md): ``line_b=(host, port)`` sends every packet to a second
destination as well, the same bytes (same session, sequence numbers and timestamps: line A's
sender stamps the buffer, line B's sends it as stamped); ``history`` (a
:class:`~tickpath.venue.history.MessageHistory`) keeps every message block as sent, for a
re-request server (:mod:`tickpath.venue.retransmit`). Both need a sender that sends from the
publisher's buffer (``socket``, ``sendto``, ``sendmmsg``): the frame-building senders stamp
their own copy of each packet, so the buffer never holds the bytes they sent.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

from ..feed.moldudp64 import session_bytes
from ..feed.moldudp64._kernels import pack, write_header
from ..feed.moldudp64.layout import DEFAULT_MAX_PAYLOAD, END_OF_SESSION
from ..telemetry.feedtime import NASDAQ_ZONE
from ..wire.send import Tx
from ..wire.senders import DEFAULT_SENDER, SENDERS, open_sender
from ..wire.stamping import NO_STAMP
from .faults import FaultPlan, LineFaults
from .history import MessageHistory
from .stamping import itch_stamper

__all__ = ["BUFFER_SENDERS", "DEFAULT_SENDER", "FRAME_OVERHEAD", "SENDERS", "PublishReport",
           "UdpPublisher"]

_CHUNK_PACKETS = 4096
#: senders that send the publisher's packed buffer as it is (after stamping it in place)
BUFFER_SENDERS = ("socket", "sendto", "sendmmsg")
#: paced with line B: packets a slice, A then B, so B trails A by a slice, not a whole run
_B_SLICE = 8
#: what a packet's UDP payload carries on an Ethernet wire besides: Ethernet II (14), IPv4
#: (20, no options) and UDP (8) headers; the frame check sequence, preamble and gap are not
#: counted
FRAME_OVERHEAD = 42


@dataclass
class PublishReport:
    messages: int
    packets: int
    seconds: float
    sender: str = "socket"
    waits: int = 0  # times the sender found the kernel's queue full and waited for room

    @property
    def msgs_per_s(self) -> float:
        return self.messages / self.seconds if self.seconds > 0 else 0.0


class UdpPublisher:
    """Publishes a MoldUDP64 session over UDP to ``(host, port)`` (unicast or multicast).

    ``sender`` chooses what sends (``SENDERS``; default ``sendmmsg``). ``iface`` and
    ``dst_mac`` are for ``packet`` (the interface is otherwise found from ``iface_ip`` or the
    route to ``host``). ``zone``: the time zone of the ITCH timestamps (NASDAQ's).
    ``line_b``: ``(host, port)`` of line B, sent every packet too (same bytes); ``history``:
    keeps every message block as sent (both: ``BUFFER_SENDERS`` only, see the module doc).
    ``faults``: a :class:`~tickpath.venue.faults.FaultPlan` for line A and one for line B
    (None: a clean line); with one, each packet is sent on its own, unpaced
    (:mod:`tickpath.venue.faults`)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 26400, *,
                 session: str = "TICKPATH01", iface_ip: str | None = None, ttl: int = 1,
                 max_payload: int = DEFAULT_MAX_PAYLOAD, first_seq: int = 1,
                 sndbuf: int = 8 << 20, sender: str = DEFAULT_SENDER, iface: str | None = None,
                 dst_mac: str | None = None, zone: str = NASDAQ_ZONE,
                 line_b: tuple[str, int] | None = None,
                 history: MessageHistory | None = None,
                 faults: tuple[FaultPlan | None, FaultPlan | None] | None = None) -> None:
        faulty = faults is not None and any(f is not None for f in faults)
        for what, given in (("line B", line_b is not None), ("a history", history is not None),
                            ("a fault plan", faulty)):
            if given and sender not in BUFFER_SENDERS:
                raise ValueError(f"publisher: {what} needs a sender that sends the packed buffer "
                                 f"as it is ({', '.join(BUFFER_SENDERS)}); the {sender!r} sender "
                                 f"stamps its own copy of each packet, so its bytes on the wire "
                                 f"are not the buffer's")
        self.dst = (host, port)
        self.line_b = None if line_b is None else (line_b[0], int(line_b[1]))
        self.history = history
        self.stamper = itch_stamper(zone)
        self.session = session_bytes(session)
        self.seq = first_seq
        self.max_payload = max_payload
        self.sender = open_sender(sender, host, port, iface_ip=iface_ip, ttl=ttl,
                                  sndbuf=sndbuf, iface=iface, dst_mac=dst_mac)
        self.sock = getattr(self.sender, "sock", None)  # None for the packet sender
        self.sender_b = None
        if self.line_b is not None:
            try:
                self.sender_b = open_sender(sender, self.line_b[0], self.line_b[1],
                                            iface_ip=iface_ip, ttl=ttl, sndbuf=sndbuf)
            except BaseException:
                self.sender.close()
                raise
        self.out = np.empty(_CHUNK_PACKETS * (max_payload + 64) + 65536, np.uint8)
        self.bounds = np.empty(_CHUNK_PACKETS + 1, np.int64)
        self.counts = np.empty(_CHUNK_PACKETS, np.int64)
        self.messages = 0
        self.packets = 0
        #: UDP payload bytes (MoldUDP64 header and blocks) of the data packets, counted as
        #: packed: line A once (line B sends the same), heartbeats and end of session not
        #: included, nor UDP/IP headers (:attr:`frame_bytes` adds them)
        self.bytes = 0
        self.faults = None
        if faulty:
            self.faults = tuple(None if f is None else LineFaults(f) for f in faults)

    def warm_up(self) -> None:
        """Compile the packing, stamping and sending kernels now, not on the first packet (a
        late first packet would make the paced sender burst to catch up). Sends nothing."""
        from ..codec.itch50.message import encode

        m = encode("S", event_code="O")
        blocks = np.frombuffer(len(m).to_bytes(2, "big") + m, np.uint8)
        pack(blocks, 0, blocks.shape[0], self.session, 1, self.max_payload, 1, self.out, 0,
             self.bounds, self.counts)
        write_header(self.out, 0, self.session, self.seq, 0)
        self.sender.warm_up(self.stamper)
        if self.sender_b is not None:
            self.sender_b.warm_up(NO_STAMP)
        if self.history is not None:
            self.history.warm_up()

    def _send(self, npk: int, rate: float | None, stamper) -> None:
        """Send the packed run (line A stamps it in place; line B sends it as stamped), then
        keep its blocks in the history. A run a sender stopped in is kept whole all the same:
        its sequence numbers are spent, and a receiver gets the unsent ones by re-request."""
        try:
            if self.faults is not None:
                self._send_faulted(npk, stamper)
            elif self.sender_b is None:
                self.sender.send(self.out, self.bounds, self.counts, npk, rate, stamper)
            else:
                step = _B_SLICE if rate else max(npk, 1)
                for i in range(0, npk, step):
                    k = min(step, npk - i)
                    self.sender.send(self.out, self.bounds[i:], self.counts[i:], k, rate,
                                     stamper)
                    self.sender_b.send(self.out, self.bounds[i:], self.counts[i:], k, None,
                                       NO_STAMP)
        finally:
            if self.history is not None:
                self.history.record(self.out, self.bounds, self.counts, npk)

    def _send_faulted(self, npk: int, stamper) -> None:
        """Each packet on its own, on each line as that line's plan says (dropped, twice,
        held back for later); what a line held and whose turn came goes out after it."""
        lines = ((self.sender, stamper, self.faults[0]),
                 (self.sender_b, NO_STAMP, self.faults[1] if len(self.faults) > 1 else None))
        for i in range(npk):
            for sender, st, f in lines:
                if sender is None:
                    continue
                copies, hold = (1, False) if f is None else f.decide(self.packets + i)
                if hold:
                    f.hold(self.out[self.bounds[i]:self.bounds[i + 1]].tobytes())
                for _ in range(copies):
                    sender.send(self.out, self.bounds[i:], self.counts[i:], 1, None, st)
                if f is not None:
                    f.sent += 1
                    for data in f.due():
                        self._send_copy(sender, data)

    @staticmethod
    def _send_copy(sender, data: bytes) -> None:
        buf = np.frombuffer(bytearray(data), np.uint8)
        sender.send_packet(buf, buf.shape[0])

    def _flush_held(self) -> None:
        if self.faults is None:
            return
        for sender, f in zip((self.sender, self.sender_b), self.faults, strict=False):
            if sender is not None and f is not None:
                for data in f.flush():
                    self._send_copy(sender, data)

    def fault_counts(self) -> dict[str, int]:
        """What the fault plans did, per line: ``a_lost``, ``b_reordered``, ..."""
        out: dict[str, int] = {}
        for name, f in zip("ab", self.faults or (), strict=False):
            if f is not None:
                out.update({f"{name}_{k}": v for k, v in f.counts.items()})
        return out

    def publish(self, chunks: Iterable[np.ndarray], rate: float | None = None, *,
                restamp: bool = True, should_stop: Callable[[], bool] | None = None,
                progress: Callable[[int], None] | None = None,
                per_packet: int = 0xFFFE) -> PublishReport:
        """Send every block of ``chunks`` (uint8 arrays of whole length-prefixed blocks).

        ``rate`` in messages per second (None: as fast as the sender goes). A paced sender
        that falls more than 1 ms behind starts its schedule afresh instead of bursting to
        catch up; the schedule starts with the call. The sender paces, stamps and sends a
        whole packed run in one call:
        ``restamp`` (the default) gives every message the send time in New York time
        (:mod:`tickpath.venue.stamping`); False sends the blocks' own timestamps.
        ``per_packet``: most messages in a packet (a venue sends what happened since its last
        packet: one message when the market is calm, several in a burst)."""
        if not 1 <= per_packet <= 0xFFFE:
            raise ValueError(f"per_packet {per_packet}: 1 to 65534 messages")
        # each call's pace starts with it: a call at another rate (a burst, then calm again)
        # is not scheduled from an earlier call's start
        self.sender.tx[Tx.T0] = 0
        self.warm_up()
        t_start = time.perf_counter_ns()
        sent0, waits0 = self.messages, int(self.sender.tx[Tx.WAITS])
        for blocks in chunks:
            p, end = 0, blocks.shape[0]
            while p < end:
                npk, self.seq, p, _ = pack(blocks, p, end, self.session, self.seq,
                                           self.max_payload, per_packet, self.out, 0,
                                           self.bounds, self.counts)
                self._send(npk, rate, self.stamper if restamp else NO_STAMP)
                self.messages += int(self.counts[:npk].sum())
                self.packets += npk
                self.bytes += int(self.bounds[npk] - self.bounds[0])
                if should_stop is not None and should_stop():
                    break
                if progress is not None:
                    progress(self.messages)
            if should_stop is not None and should_stop():
                break
        return PublishReport(self.messages - sent0, self.packets,
                             (time.perf_counter_ns() - t_start) / 1e9, self.sender.name,
                             int(self.sender.tx[Tx.WAITS]) - waits0)

    def send_blocks(self, blocks: np.ndarray, restamp: bool = True) -> int:
        """Pack and send ``blocks`` now, unpaced (the live venue's own loop paces; compile
        first with :meth:`warm_up`). Returns the packets sent."""
        p, end = 0, blocks.shape[0]
        sent = 0
        while p < end:
            npk, self.seq, p, _ = pack(blocks, p, end, self.session, self.seq,
                                       self.max_payload, 0xFFFE, self.out, 0, self.bounds,
                                       self.counts)
            self._send(npk, None, self.stamper if restamp else NO_STAMP)
            self.messages += int(self.counts[:npk].sum())
            self.packets += npk
            self.bytes += int(self.bounds[npk] - self.bounds[0])
            sent += npk
        return sent

    @property
    def frame_bytes(self) -> int:
        """:attr:`bytes` with each data packet's Ethernet, IPv4 and UDP headers
        (:data:`FRAME_OVERHEAD`)."""
        return self.bytes + FRAME_OVERHEAD * self.packets

    def heartbeat(self) -> None:
        end = write_header(self.out, 0, self.session, self.seq, 0)
        self._send_packet(end)

    def _send_packet(self, end: int) -> None:
        self.sender.send_packet(self.out, end)
        if self.sender_b is not None:
            self.sender_b.send_packet(self.out, end)

    def end_session(self, repeat: int = 3) -> None:
        """Send the end-of-session marker (repeated: UDP may lose one), after any packet a
        fault plan still holds back."""
        self._flush_held()
        end = write_header(self.out, 0, self.session, self.seq, END_OF_SESSION)
        for _ in range(repeat):
            self._send_packet(end)
        self.sender.flush()
        if self.sender_b is not None:
            self.sender_b.flush()

    def stats(self) -> dict[str, int]:
        """The sender's counters (packets, calls, waits for room, ...); line B's with a
        ``b_`` prefix."""
        out = self.sender.stats()
        if self.sender_b is not None:
            out.update({f"b_{k}": v for k, v in self.sender_b.stats().items()})
        return out

    def close(self) -> None:
        self.sender.close()
        if self.sender_b is not None:
            self.sender_b.close()

    def __enter__(self) -> UdpPublisher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
