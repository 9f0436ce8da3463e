"""The futures venue's MDP 3.0 publisher: incremental packets on line A and line B, the
snapshot loop on its own destination, stamped as they leave.

Each line is its own sender (:mod:`tickpath.wire.senders`) with its own socket. By default all
three send to one loopback port, so a single receiving socket takes both lines and the loop
and the feed handler arbitrates (:mod:`tickpath.feed.mdp3`); give the lines distinct
destinations (multicast groups, ports) to publish as CME does. Line B sends each run of
packets right after line A, restamped: the same bytes but for SendingTime, which the stamper
(:func:`tickpath.venue.stamping.mdp3_stamper`) writes just before each packet leaves.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable

from ..wire.send import Tx
from ..wire.senders import DEFAULT_SENDER, open_sender
from ..wire.stamping import NO_STAMP
from .futures import PacketChunk
from .futures_records import SNAPSHOT
from .publisher import PublishReport
from .stamping import mdp3_stamper

__all__ = ["DEFAULT_MDP3_PORT", "Mdp3Publisher"]

#: Default UDP port of the MDP3 lines on loopback.
DEFAULT_MDP3_PORT = 14310
#: Packets line A sends before line B sends the same ones: B trails A by at most this many.
_RUN = 64


class Mdp3Publisher:
    """Publishes a futures venue's packets (``FuturesSimulator.packets()``) over UDP.

    ``a``, ``b``, ``snapshot``: ``(host, port)`` of line A, line B and the snapshot loop
    (``b`` and ``snapshot`` default to ``a``). ``sender``: what sends (``SENDERS``); each line
    opens its own. ``iface_ip``, ``ttl``, ``sndbuf``, ``iface``, ``dst_mac`` as for
    :func:`~tickpath.wire.senders.open_sender`."""

    def __init__(self, a: tuple[str, int] = ("127.0.0.1", DEFAULT_MDP3_PORT),
                 b: tuple[str, int] | None = None, snapshot: tuple[str, int] | None = None, *,
                 sender: str = DEFAULT_SENDER, iface_ip: str | None = None, ttl: int = 1,
                 sndbuf: int = 8 << 20, iface: str | None = None,
                 dst_mac: str | None = None) -> None:
        b = b or a
        snapshot = snapshot or a
        self.destinations = {"a": a, "b": b, "snapshot": snapshot}
        self.stamper = mdp3_stamper()
        self.lines = {}
        try:
            for name, (host, port) in self.destinations.items():
                self.lines[name] = open_sender(sender, host, port, iface_ip=iface_ip, ttl=ttl,
                                               sndbuf=sndbuf, iface=iface, dst_mac=dst_mac)
        except BaseException:
            self.close()
            raise
        self.sender = sender
        self.messages = 0  # incremental messages sent (line A)
        self.packets = 0  # incremental packets sent (line A)
        self.bytes = 0  # their UDP payload bytes (line A once)
        self.snapshot_messages = 0  # the snapshot loop's messages, packets, payload bytes
        self.snapshot_packets = 0
        self.snapshot_bytes = 0

    def warm_up(self) -> None:
        """Compile the send loops and the stamper now, not on the first packet."""
        for s in self.lines.values():
            s.warm_up(self.stamper)

    def publish(self, chunks: Iterable[PacketChunk], rate: float | None = None, *,
                restamp: bool = True, should_stop: Callable[[], bool] | None = None,
                progress: Callable[[int], None] | None = None) -> PublishReport:
        """Send every packet of ``chunks``: incremental packets on line A then, run by run,
        line B; snapshot-loop packets to the loop's destination. ``rate``: incremental
        messages per second on line A (None: as fast as the sender goes); line B follows A
        and the loop is sent as it comes. ``restamp`` (default) writes the send time into
        SendingTime; False keeps the venue's (the event time)."""
        self.warm_up()
        stamper = self.stamper if restamp else NO_STAMP
        a, b, loop = self.lines["a"], self.lines["b"], self.lines["snapshot"]
        t0 = time.perf_counter_ns()
        sent0, waits0 = self.messages, self._waits()
        stop = False
        for ch in chunks:
            kinds = ch.kinds
            n = kinds.shape[0]
            k = 0
            while k < n and not stop:
                end = k + 1
                limit = n if kinds[k] == SNAPSHOT else min(n, k + _RUN)
                while end < limit and kinds[end] == kinds[k]:
                    end += 1
                bounds = ch.bounds[k:end + 1]
                counts = ch.counts[k:end]
                if kinds[k] == SNAPSHOT:
                    loop.send(ch.buf, bounds, counts, end - k, None, stamper)
                    self.snapshot_messages += int(counts.sum())
                    self.snapshot_packets += end - k
                    self.snapshot_bytes += int(bounds[-1] - bounds[0])
                else:
                    a.send(ch.buf, bounds, counts, end - k, rate, stamper)
                    b.send(ch.buf, bounds, counts, end - k, None, stamper)
                    self.messages += int(counts.sum())
                    self.packets += end - k
                    self.bytes += int(bounds[-1] - bounds[0])
                k = end
                stop = should_stop is not None and should_stop()
            if progress is not None:
                progress(self.messages)
            if stop:
                break
        return PublishReport(self.messages - sent0, self.packets,
                             (time.perf_counter_ns() - t0) / 1e9, self.sender,
                             self._waits() - waits0)

    def _waits(self) -> int:
        return sum(int(s.tx[Tx.WAITS]) for s in self.lines.values())

    def stats(self) -> dict[str, dict[str, int]]:
        """Each line's sender counters (packets, calls, waits for room, ...)."""
        return {name: s.stats() for name, s in self.lines.items()}

    def close(self) -> None:
        for s in self.lines.values():
            s.flush()
            s.close()
        self.lines = {}

    def __enter__(self) -> Mdp3Publisher:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

