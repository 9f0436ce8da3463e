"""The futures full-snapshot channel on the wire: the SnapshotFullRefresh52 packets of
:mod:`.mdp3_full` sent over UDP to a destination of their own, stamped at send like the
incremental lines (SendingTime, :func:`~tickpath.venue.stamping.mdp3_stamper`); or a whole
day of them written to a pcap.

The live futures venue (:class:`~tickpath.venue.futures_live.FuturesLiveVenue`,
``full_snapshots=(host, port)``) hands :meth:`FullSnapshotPublisher.publish` every chunk of
packets right after the MDP3 publisher sent it, so a step's snapshots leave just after the
incremental packets that carry the step.
"""

from __future__ import annotations

from pathlib import Path

from ..wire.senders import DEFAULT_SENDER, open_sender
from .futures import PacketChunk
from .mdp3_full import FullRefreshGenerator
from .stamping import mdp3_stamper

__all__ = ["FULL_SNAPSHOT_LINE", "FRAME_HEADERS", "FullSnapshotPublisher",
           "write_full_snapshot_pcap"]

#: pcap default: a multicast group of its own beside the lines and the loop
FULL_SNAPSHOT_LINE = ("224.0.31.23", 14330)
#: Ethernet II (14), IPv4 (20) and UDP (8) headers a packet (no FCS, preamble or gap)
FRAME_HEADERS = 42


class FullSnapshotPublisher:
    """A :class:`~tickpath.venue.mdp3_full.FullRefreshGenerator` and the sender that sends
    what it writes to ``(host, port)``. ``max_instruments``, ``max_payload``,
    ``last_update``: the generator's; ``sender``, ``iface_ip`` as for the venue's lines."""

    def __init__(self, host: str, port: int, *, max_instruments: int = 64,
                 max_payload: int = 1400, last_update: int = 0,
                 sender: str = DEFAULT_SENDER, iface_ip: str | None = None) -> None:
        self.generator = FullRefreshGenerator(max_instruments=max_instruments,
                                              max_payload=max_payload, last_update=last_update)
        self.destination = (host, int(port))
        self.stamper = mdp3_stamper()
        self.line = open_sender(sender, host, int(port), iface_ip=iface_ip)
        self.messages = 0  # 52s sent
        self.packets = 0
        self.bytes = 0  # UDP payload bytes (packet headers and messages)

    def warm_up(self) -> None:
        self.generator.warm_up()
        self.line.warm_up(self.stamper)

    def publish(self, chunk: PacketChunk) -> int:
        """The full snapshots of ``chunk``'s incremental packets (just published), sent now.
        Returns the packets sent."""
        sent = 0
        for out in self.generator.run(chunk):
            n = out.kinds.shape[0]
            self.line.send(out.buf, out.bounds, out.counts, n, None, self.stamper)
            self.messages += int(out.counts.sum())
            self.bytes += int(out.bounds[n] - out.bounds[0])
            sent += n
        self.packets += sent
        return sent

    @property
    def frame_bytes(self) -> int:
        """:attr:`bytes` with the Ethernet, IPv4 and UDP headers of every packet."""
        return self.bytes + FRAME_HEADERS * self.packets

    def stats(self) -> dict[str, int]:
        """52s, packets and bytes sent (UDP payload; ``frame_bytes`` with the headers)."""
        return {"messages": self.messages, "packets": self.packets, "bytes": self.bytes,
                "frame_bytes": self.frame_bytes}

    def close(self) -> None:
        self.line.flush()
        self.line.close()


def write_full_snapshot_pcap(fut, path: str | Path,
                             dst: tuple[str, int] = FULL_SNAPSHOT_LINE,
                             src: str = "10.0.0.4") -> int:
    """A whole day of ``fut`` (a :class:`~tickpath.venue.futures.FuturesSimulator`, replayed
    from its seed) on the full-snapshot channel as a nanosecond pcap (Ethernet/IPv4/UDP to
    ``dst``), each packet stamped with its SendingTime. Returns the packets written."""
    from ..wire.pcap import PcapWriter, udp_frame
    from .futures import sending_time

    gen = FullRefreshGenerator(max_instruments=max(1, len(fut.specs)),
                               max_payload=fut.max_payload, last_update=fut._last_update)
    n = 0
    with PcapWriter(path, nanosecond=True) as w:
        for chunk in fut.packets():
            for out in gen.run(chunk):
                for k in range(out.kinds.shape[0]):
                    pk = out.packet(k)
                    w.write(udp_frame(pk, src, dst[0], dst[1], dst[1]), sending_time(pk))
                    n += 1
    return n
