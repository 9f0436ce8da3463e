"""Replay of a CME MDP 3.0 capture (pcap or pcapng) through the MDP3 feed handler.

The capture is walked by the ``pcap`` transport's compiled loop (:mod:`tickpath.wire.pcapfile`)
as fast as it goes, each datagram handed to the handler through the seam, exactly as a live
transport would: A and B lines, the snapshot loop and the definitions may all be in one file
(the handler arbitrates and tells them apart).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

from ..feed.mdp3 import Mdp3Feed
from ..wire.pcapfile import open_pcap
from .listener import FeedListener


@dataclass
class Mdp3ReplayReport:
    path: str
    datagrams: int
    messages: int
    seconds: float
    counters: dict[str, int] = field(default_factory=dict)

    @property
    def msgs_per_s(self) -> float:
        return self.messages / self.seconds if self.seconds > 0 else 0.0


def replay_mdp3(path: str | Path, feed: Mdp3Feed | None = None, *, host: str = "0.0.0.0",
                port: int = 0, errors: str = "skip",
                late_join: str = "natural") -> tuple[Mdp3Feed, Mdp3ReplayReport]:
    """Build the books of every instrument in a capture. ``host``/``port``: the datagrams to
    take (0.0.0.0 / 0: every UDP datagram in the file; name one line's port to take only it).
    ``late_join``: ``natural`` (a capture that starts mid-session and has no snapshot loop
    starts each instrument from its first message) or ``snapshot``. Raises
    :class:`~tickpath.feed.mdp3.Mdp3Error` at the first refused message with
    ``errors="raise"``; ValueError for a file that is not a capture or holds no datagram."""
    if feed is None:
        feed = Mdp3Feed(errors=errors, late_join=late_join)
    rx = open_pcap(f"pcap:{path}", host, port)
    with rx:
        lst = FeedListener(rx, feed)
        lst.warm_up()
        t0 = time.perf_counter()
        lst.run(idle_timeout=rx.idle_timeout_s)
        seconds = time.perf_counter() - t0
    c = feed.counters()
    return feed, Mdp3ReplayReport(str(path), c["datagrams"], c["messages"], seconds, c)
