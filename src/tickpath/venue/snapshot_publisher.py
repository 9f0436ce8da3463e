"""The equities snapshot feed on the wire: Book Snapshots (:mod:`.snapshot_feed`) packed into
MoldUDP64 packets on a session of their own and sent over UDP, stamped at send like the
incremental feed; or a whole simulated day of them written to a pcap.

The live venue (:class:`~tickpath.venue.live.LiveVenue`, ``snapshot_feed=(host, port)``)
hands :meth:`SnapshotFeedPublisher.publish` every run of ITCH blocks right after the
incremental publisher sent it, with the sequence number of its first message, so the
snapshots of a step leave just after the step's incremental packets.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..codec.book_snapshot.layout import DEFAULT_DEPTH, largest_message
from ..feed.moldudp64.layout import BLOCK_HEADER_LEN, HEADER_LEN, SESSION_LEN
from .publisher import UdpPublisher
from .snapshot_feed import SnapshotGenerator

__all__ = ["SnapshotFeedPublisher", "snapshot_session_name", "write_snapshot_pcap"]


def snapshot_session_name(session: str) -> str:
    """The snapshot feed's default MoldUDP64 session beside the incremental feed's
    ``session``: ``S`` appended, or, for a name of the full 10 characters, in place of its
    last one (``TICKPATH01`` -> ``TICKPATH0S``)."""
    name = session.rstrip(" ")
    name = name + "S" if len(name) < SESSION_LEN else name[:SESSION_LEN - 1] + "S"
    if name == session.rstrip(" "):  # the feed's own name ended in S already
        name = name[:-1] + "B"
    return name


def _check_payload(max_payload: int, depth: int) -> None:
    need = HEADER_LEN + BLOCK_HEADER_LEN + largest_message(depth)
    if max_payload < need:
        raise ValueError(f"a Book Snapshot of depth {depth} needs packets of {need} bytes; "
                         f"max_payload is {max_payload}")


class SnapshotFeedPublisher:
    """A :class:`~tickpath.venue.snapshot_feed.SnapshotGenerator` and the
    :class:`~tickpath.venue.publisher.UdpPublisher` that sends what it writes to ``(host,
    port)`` on MoldUDP64 session ``session``. ``depth``: levels a side; the other options
    are the publisher's (the same sender as the incremental feed's, stamped at send)."""

    def __init__(self, host: str, port: int, *, session: str, depth: int = DEFAULT_DEPTH,
                 sender: str = "sendto", max_payload: int = 1400,
                 iface_ip: str | None = None) -> None:
        _check_payload(max_payload, depth)
        self.generator = SnapshotGenerator(depth)
        self.publisher = UdpPublisher(host, port, session=session, sender=sender,
                                      max_payload=max_payload, iface_ip=iface_ip)

    @property
    def depth(self) -> int:
        return self.generator.depth

    def warm_up(self) -> None:
        self.generator.warm_up()
        self.publisher.warm_up()

    def publish(self, blocks: np.ndarray, first_seq: int) -> int:
        """The Book Snapshots of the ITCH ``blocks`` just published (their first message is
        sequence number ``first_seq`` on the incremental feed), sent now. Returns the
        packets sent."""
        return sum(self.publisher.send_blocks(chunk)
                   for chunk in self.generator.run(blocks, first_seq))

    def heartbeat(self) -> None:
        self.publisher.heartbeat()

    def end_session(self) -> None:
        self.publisher.end_session()

    def stats(self) -> dict[str, int]:
        """Snapshots written, and the messages, packets and bytes sent (UDP payload; with
        Ethernet, IPv4 and UDP headers as ``frame_bytes``)."""
        p = self.publisher
        return {"messages": p.messages, "packets": p.packets, "bytes": p.bytes,
                "frame_bytes": p.frame_bytes}

    def close(self) -> None:
        self.publisher.close()

    def __enter__(self) -> SnapshotFeedPublisher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def write_snapshot_pcap(blocks_chunks, path: str | Path, depth: int = DEFAULT_DEPTH, *,
                        session: str = "TICKPATH0S",
                        dst: tuple[str, int] = ("233.54.12.2", 26410),
                        src: tuple[str, int] = ("10.0.0.1", 26410),
                        max_payload: int = 1400, first_seq: int = 1) -> int:
    """Write the snapshot feed of a day of ITCH (``blocks_chunks``: uint8 arrays of whole
    blocks in order, e.g. ``Simulator.chunks()``, whose first message is sequence number
    ``first_seq`` on the incremental feed) as a capture of MoldUDP64 packets (Ethernet/IPv4/
    UDP, nanosecond pcap), snapshot sequence numbers from 1, closed by an end-of-session
    packet. Each packet is stamped with its first snapshot's time on the simulator's pcap day
    (as :meth:`~tickpath.venue.Simulator.write_pcap`). Returns the snapshots written."""
    from ..feed.moldudp64 import pack_packets, session_bytes
    from ..feed.moldudp64._kernels import write_header
    from ..feed.moldudp64.layout import END_OF_SESSION
    from ..wire.pcap import PcapWriter, udp_frame
    from . import PCAP_DAY_EPOCH_NS

    _check_payload(max_payload, depth)
    gen = SnapshotGenerator(depth)
    seq, snap_seq, ts = first_seq, 1, 0
    with PcapWriter(path, nanosecond=True) as w:
        for blocks in blocks_chunks:
            before = gen.messages
            for snaps in gen.run(blocks, seq):
                out, bounds, counts = pack_packets(snaps, session, snap_seq, max_payload)
                for k in range(counts.shape[0]):
                    a, b = int(bounds[k]), int(bounds[k + 1])
                    t0 = a + HEADER_LEN + BLOCK_HEADER_LEN + 5  # the first snapshot's stamp
                    ts = int.from_bytes(out[t0:t0 + 6].tobytes(), "big")
                    w.write(udp_frame(out[a:b], src[0], dst[0], src[1], dst[1]),
                            PCAP_DAY_EPOCH_NS + ts)
                snap_seq += int(counts.sum())
            seq += gen.messages - before
        eos = np.empty(HEADER_LEN, np.uint8)
        write_header(eos, 0, session_bytes(session), snap_seq, END_OF_SESSION)
        w.write(udp_frame(eos, src[0], dst[0], src[1], dst[1]), PCAP_DAY_EPOCH_NS + ts)
    return snap_seq - 1

