"""The venue's feed publisher: ITCH blocks -> MoldUDP64 packets -> UDP, paced, stamped.

Each packet's messages are stamped with the send time (CLOCK_REALTIME as nanoseconds since
midnight, the ITCH timestamp) just before it leaves, so a receiver on the same host measures
one-way latency from the venue's send to its own books.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import numpy as np

from ..codec.itch50.encoder import restamp_blocks
from ..feed.moldudp64 import session_bytes
from ..feed.moldudp64._kernels import pack, write_header
from ..feed.moldudp64.layout import DEFAULT_MAX_PAYLOAD, END_OF_SESSION, HEADER_LEN
from ..telemetry.clock import NS_PER_DAY
from ..wire.socket import is_multicast

_CHUNK_PACKETS = 4096
_REANCHOR_NS = 1_000_000  # paced: behind schedule by more than this -> restart the schedule


@dataclass
class PublishReport:
    messages: int
    packets: int
    seconds: float

    @property
    def msgs_per_s(self) -> float:
        return self.messages / self.seconds if self.seconds > 0 else 0.0


class UdpPublisher:
    """Publishes a MoldUDP64 session over UDP to ``(host, port)`` (unicast or multicast)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 26400, *,
                 session: str = "TICKPATH01", iface_ip: str | None = None, ttl: int = 1,
                 max_payload: int = DEFAULT_MAX_PAYLOAD, first_seq: int = 1,
                 sndbuf: int = 8 << 20) -> None:
        self.dst = (host, port)
        self.session = session_bytes(session)
        self.seq = first_seq
        self.max_payload = max_payload
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, sndbuf)
        if is_multicast(host):
            self.sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, ttl)
            self.sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, 1)
            if iface_ip:
                self.sock.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF,
                                     socket.inet_aton(iface_ip))
        self.out = np.empty(_CHUNK_PACKETS * (max_payload + 64) + 65536, np.uint8)
        self.bounds = np.empty(_CHUNK_PACKETS + 1, np.int64)
        self.counts = np.empty(_CHUNK_PACKETS, np.int64)
        self.messages = 0
        self.packets = 0

    def warm_up(self) -> None:
        """Compile the packing and stamping kernels now, not on the first packet (a late
        first packet would make the paced sender burst to catch up)."""
        from ..codec.itch50.message import encode

        m = encode("S", event_code="O")
        blocks = np.frombuffer(len(m).to_bytes(2, "big") + m, np.uint8)
        pack(blocks, 0, blocks.shape[0], self.session, 1, self.max_payload, 1, self.out, 0,
             self.bounds, self.counts)
        restamp_blocks(self.out, HEADER_LEN, int(self.bounds[1]), 0)

    def _send(self, view: memoryview) -> None:
        while True:
            try:
                self.sock.sendto(view, self.dst)
                return
            except BlockingIOError:  # kernel queue full: wait for room rather than drop
                time.sleep(0)
            except ConnectionRefusedError:  # nobody listening yet on loopback: not our loss
                return

    def publish(self, chunks: Iterable[np.ndarray], rate: float | None = None, *,
                restamp: bool = True, should_stop: Callable[[], bool] | None = None,
                progress: Callable[[int], None] | None = None) -> PublishReport:
        """Send every block of ``chunks`` (uint8 arrays of whole length-prefixed blocks).

        ``rate`` in messages per second (None: as fast as the socket takes them). A paced
        sender that falls more than 1 ms behind starts its schedule afresh instead of
        bursting to catch up."""
        self.warm_up()
        t_start = time.perf_counter_ns()
        sent0 = self.messages
        mv = memoryview(self.out)
        t0 = None  # the schedule starts at the first packet, after the first chunk is made
        for blocks in chunks:
            p, end = 0, blocks.shape[0]
            while p < end:
                npk, self.seq, p, _ = pack(blocks, p, end, self.session, self.seq,
                                           self.max_payload, 0xFFFE, self.out, 0, self.bounds,
                                           self.counts)
                for i in range(npk):
                    if rate:
                        now = time.perf_counter_ns()
                        if t0 is None:
                            t0, base = now, self.messages
                        due = t0 + int((self.messages - base) * 1e9 / rate)
                        if now - due > _REANCHOR_NS:
                            # fell behind (a stall, making the next chunk): re-anchor the
                            # schedule rather than burst to catch up, so a paced load stays
                            # paced and queueing does not masquerade as path latency
                            t0, base, due = now, self.messages, now
                        while True:
                            ahead = due - time.perf_counter_ns()
                            if ahead <= 0:
                                break
                            if ahead > 300_000:  # sleep the long waits, spin the short ones
                                time.sleep((ahead - 200_000) / 1e9)
                    a, b = int(self.bounds[i]), int(self.bounds[i + 1])
                    if restamp:
                        ts = time.clock_gettime_ns(time.CLOCK_REALTIME) % NS_PER_DAY
                        restamp_blocks(self.out, a + HEADER_LEN, b, ts)
                    self._send(mv[a:b])
                    self.messages += int(self.counts[i])
                    self.packets += 1
                if should_stop is not None and should_stop():
                    break
                if progress is not None:
                    progress(self.messages)
        return PublishReport(self.messages - sent0, self.packets,
                             (time.perf_counter_ns() - t_start) / 1e9)

    def heartbeat(self) -> None:
        end = write_header(self.out, 0, self.session, self.seq, 0)
        self._send(memoryview(self.out)[:end])

    def end_session(self, repeat: int = 3) -> None:
        """Send the end-of-session marker (repeated: UDP may lose one)."""
        end = write_header(self.out, 0, self.session, self.seq, END_OF_SESSION)
        for _ in range(repeat):
            self._send(memoryview(self.out)[:end])

    def close(self) -> None:
        self.sock.close()

    def __enter__(self) -> UdpPublisher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
