"""The venue's feed publisher: ITCH blocks -> MoldUDP64 packets -> UDP, paced, stamped.

Each packet's messages are stamped with the send time (CLOCK_REALTIME as nanoseconds since
midnight US/Eastern, the ITCH timestamp; :mod:`tickpath.venue.stamping`) just before it leaves, so a receiver on the same host measures
one-way latency from the venue's send to its own books. Packing is compiled; what sends is a
sender (:mod:`tickpath.wire.send`): ``socket`` (a Python ``sendto`` per packet, the baseline),
``sendto`` and ``sendmmsg`` (compiled loops that also pace and stamp), ``packet`` (AF_PACKET
TX ring, :mod:`tickpath.wire.packet_tx`), ``xdp`` (AF_XDP TX ring, :mod:`tickpath.wire.xdp_tx`).
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
from .stamping import itch_stamper

__all__ = ["DEFAULT_SENDER", "SENDERS", "PublishReport", "UdpPublisher"]

_CHUNK_PACKETS = 4096


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
    route to ``host``). ``zone``: the time zone of the ITCH timestamps (NASDAQ's)."""

    def __init__(self, host: str = "127.0.0.1", port: int = 26400, *,
                 session: str = "TICKPATH01", iface_ip: str | None = None, ttl: int = 1,
                 max_payload: int = DEFAULT_MAX_PAYLOAD, first_seq: int = 1,
                 sndbuf: int = 8 << 20, sender: str = DEFAULT_SENDER, iface: str | None = None,
                 dst_mac: str | None = None, zone: str = NASDAQ_ZONE) -> None:
        self.dst = (host, port)
        self.stamper = itch_stamper(zone)
        self.session = session_bytes(session)
        self.seq = first_seq
        self.max_payload = max_payload
        self.sender = open_sender(sender, host, port, iface_ip=iface_ip, ttl=ttl,
                                  sndbuf=sndbuf, iface=iface, dst_mac=dst_mac)
        self.sock = getattr(self.sender, "sock", None)  # None for the packet sender
        self.out = np.empty(_CHUNK_PACKETS * (max_payload + 64) + 65536, np.uint8)
        self.bounds = np.empty(_CHUNK_PACKETS + 1, np.int64)
        self.counts = np.empty(_CHUNK_PACKETS, np.int64)
        self.messages = 0
        self.packets = 0

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

    def publish(self, chunks: Iterable[np.ndarray], rate: float | None = None, *,
                restamp: bool = True, should_stop: Callable[[], bool] | None = None,
                progress: Callable[[int], None] | None = None) -> PublishReport:
        """Send every block of ``chunks`` (uint8 arrays of whole length-prefixed blocks).

        ``rate`` in messages per second (None: as fast as the sender goes). A paced sender
        that falls more than 1 ms behind starts its schedule afresh instead of bursting to
        catch up. The sender paces, stamps and sends a whole packed run in one call:
        ``restamp`` (the default) gives every message the send time in New York time
        (:mod:`tickpath.venue.stamping`); False sends the blocks' own timestamps."""
        self.warm_up()
        t_start = time.perf_counter_ns()
        sent0, waits0 = self.messages, int(self.sender.tx[Tx.WAITS])
        for blocks in chunks:
            p, end = 0, blocks.shape[0]
            while p < end:
                npk, self.seq, p, _ = pack(blocks, p, end, self.session, self.seq,
                                           self.max_payload, 0xFFFE, self.out, 0, self.bounds,
                                           self.counts)
                self.sender.send(self.out, self.bounds, self.counts, npk, rate,
                                 self.stamper if restamp else NO_STAMP)
                self.messages += int(self.counts[:npk].sum())
                self.packets += npk
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
            self.sender.send(self.out, self.bounds, self.counts, npk, None,
                             self.stamper if restamp else NO_STAMP)
            self.messages += int(self.counts[:npk].sum())
            self.packets += npk
            sent += npk
        return sent

    def heartbeat(self) -> None:
        end = write_header(self.out, 0, self.session, self.seq, 0)
        self.sender.send_packet(self.out, end)

    def end_session(self, repeat: int = 3) -> None:
        """Send the end-of-session marker (repeated: UDP may lose one)."""
        end = write_header(self.out, 0, self.session, self.seq, END_OF_SESSION)
        for _ in range(repeat):
            self.sender.send_packet(self.out, end)
        self.sender.flush()

    def stats(self) -> dict[str, int]:
        """The sender's counters (packets, calls, waits for room, ...)."""
        return self.sender.stats()

    def close(self) -> None:
        self.sender.close()

    def __enter__(self) -> UdpPublisher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
