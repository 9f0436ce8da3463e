"""Faults on the venue's feed lines, injected where the packets leave the venue: loss,
duplication, reordering and blackouts of line A, line B or both, each line on its own.

The kernel here has no ``netem`` (``CONFIG_NET_SCH_NETEM`` is not set, and no ``tc`` action
that drops at random either), so the faults that ``tc qdisc ... netem`` would put on the link
are put on the packets by the venue's publisher instead, as it sends them: what a receiver
sees is real datagrams over real sockets (loopback, or a veth pair between namespaces) with
packets missing, twice, or late. Seeded: the same plan gives the same faults.

A :class:`FaultPlan` per line::

    FaultPlan(loss=0.01, duplicate=0.002, reorder=0.01, reorder_depth=3,
              blackout=(1000, 1500), seed=7)

``loss``, ``duplicate``, ``reorder``: the chance of each packet being dropped, sent twice, or
held back and sent after the next ``reorder_depth`` packets of that line. ``blackout``:
packets ``[first, last)`` of the day (counted from 0, every data packet of the publisher) are
not sent at all on that line. Heartbeats and End of Session are not faulted.

What the history keeps (:mod:`tickpath.venue.history`, for re-requests) is every packet as
the venue meant to send it, lost or not: a re-request gets back what the line lost. Line A's
sender stamps each packet's ITCH timestamps as it sends it; a packet line A dropped goes out
on line B (and into the history) with the timestamps it was generated with.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

__all__ = ["FaultPlan", "LineFaults"]


@dataclass(frozen=True)
class FaultPlan:
    """What one line does to the packets sent on it (the module docstring)."""

    loss: float = 0.0
    duplicate: float = 0.0
    reorder: float = 0.0
    reorder_depth: int = 3
    blackout: tuple[int, int] | None = None
    seed: int = 1

    def __post_init__(self) -> None:
        for name in ("loss", "duplicate", "reorder"):
            v = getattr(self, name)
            if not 0.0 <= v <= 1.0:
                raise ValueError(f"fault plan: {name} = {v!r} is not a probability (0..1)")
        if self.reorder_depth < 1:
            raise ValueError(f"fault plan: reorder_depth = {self.reorder_depth} must be >= 1")
        if self.blackout is not None and not 0 <= self.blackout[0] <= self.blackout[1]:
            raise ValueError(f"fault plan: blackout = {self.blackout!r}: (first, last) packet "
                             "numbers, first <= last")

    @classmethod
    def parse(cls, text: str) -> FaultPlan:
        """``loss=0.01,duplicate=0.001,reorder=0.01,depth=3,blackout=1000:1500,seed=7``
        (any subset; empty: no faults). Raises ValueError naming the bad item."""
        kw: dict = {}
        for item in filter(None, (x.strip() for x in text.split(","))):
            key, _, value = item.partition("=")
            try:
                if key in ("loss", "duplicate", "reorder"):
                    kw[key] = float(value)
                elif key in ("depth", "reorder_depth"):
                    kw["reorder_depth"] = int(value)
                elif key == "seed":
                    kw["seed"] = int(value)
                elif key == "blackout":
                    a, _, b = value.partition(":")
                    kw["blackout"] = (int(a), int(b))
                else:
                    raise ValueError(f"unknown fault {key!r} (loss, duplicate, reorder, depth, "
                                     "blackout, seed)")
            except ValueError as e:
                raise ValueError(f"fault plan item {item!r}: {e}") from None
        return cls(**kw)


@dataclass
class LineFaults:
    """A plan applied to one line: decides, packet by packet, what goes out and when, and
    counts what it did."""

    plan: FaultPlan
    rng: np.random.Generator = field(init=False)
    held: list[tuple[int, bytes]] = field(default_factory=list)  # (release after, bytes)
    sent: int = 0  # packets this line has sent or dropped (its clock for held packets)
    counts: dict[str, int] = field(default_factory=lambda: dict.fromkeys(
        ("lost", "duplicated", "reordered", "blacked_out"), 0))

    def __post_init__(self) -> None:
        self.rng = np.random.default_rng(self.plan.seed)

    def decide(self, packet_no: int) -> tuple[int, bool]:
        """For data packet ``packet_no`` of the day: ``(copies, hold)``: how many times to
        send it now (0: dropped) and whether to hold it back instead."""
        p = self.plan
        if p.blackout is not None and p.blackout[0] <= packet_no < p.blackout[1]:
            self.counts["blacked_out"] += 1
            return 0, False
        u = self.rng.random(3)  # one draw of each per packet: a plan's faults are its seed's
        if u[0] < p.loss:
            self.counts["lost"] += 1
            return 0, False
        if u[2] < p.reorder:
            self.counts["reordered"] += 1
            return 0, True
        if u[1] < p.duplicate:
            self.counts["duplicated"] += 1
            return 2, False
        return 1, False

    def hold(self, data: bytes) -> None:
        self.held.append((self.sent + self.plan.reorder_depth, data))

    def due(self) -> list[bytes]:
        """Held packets whose turn has come (``reorder_depth`` packets later)."""
        out = [d for at, d in self.held if at <= self.sent]
        if out:
            self.held = [(at, d) for at, d in self.held if at > self.sent]
        return out

    def flush(self) -> list[bytes]:
        """Every held packet (the day's end)."""
        out = [d for _, d in self.held]
        self.held = []
        return out
