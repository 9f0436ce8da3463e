"""``tickpath listen``: a receiver (any transport) -> a feed handler (ITCH, MDP3) -> books.

Latency is sampled per packet: the venue stamps each packet's messages with its send time
(ITCH: the messages' timestamps, ns since midnight US/Eastern, read against CLOCK_REALTIME
with the feed's time zone; MDP3: the packet's SendingTime, UTC ns since the epoch); after the
packet's messages are in the books the handler reads the same clock. The
receiver's stamp splits that into the kernel's part (send -> socket) and ours (socket ->
books). A compiled transport runs its loop with the handler's state
(:mod:`tickpath.wire.handler`); the ``socket`` baseline calls the same compiled step from
Python, once per datagram.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from ..feed.itch import ItchFeed, ItchHandler
from ..feed.itch.glimpse import SnapshotRejoin
from ..feed.moldudp64 import MoldSession
from ..wire.handler import DEADLINE, END_OF_SESSION, IDLE, RX_PACKETS, SETTLE


class Receiver(Protocol):
    """What a transport offers the feed stage: frames as views with a receive timestamp."""

    name: str

    def recv(self) -> tuple[np.ndarray, int] | None: ...
    def settimeout(self, seconds: float | None) -> None: ...
    def stats(self) -> dict[str, int]: ...
    def close(self) -> None: ...


@dataclass
class ListenReport:
    packets: int
    messages: int
    seconds: float
    session: dict[str, int]
    latency_ns: np.ndarray = field(repr=False)  # send stamp -> message in the books
    kernel_ns: np.ndarray = field(repr=False)  # send stamp -> kernel receive timestamp
    sent_ns: np.ndarray = field(repr=False, default_factory=lambda: np.zeros(0, np.int64))
    #        (each sample's send stamp, epoch ns, for feeds that keep it)
    ended: bool = False
    recovery: dict[str, int | str] = field(default_factory=dict)  # ITCH: gap recovery


@contextmanager
def _no_gc() -> Iterator[None]:
    """Collect, freeze and disable the garbage collector: a collection during a measured run
    is a millisecond stall that would show up as path latency."""
    gc.collect()
    gc.freeze()
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()
        gc.unfreeze()


class Feed(Protocol):
    """What a feed handler offers a listener (:class:`~tickpath.feed.itch.ItchFeed`,
    :class:`~tickpath.feed.mdp3.Mdp3Feed`): its compiled step's state, the step from Python,
    and what it counted."""

    state: Any
    lat: np.ndarray
    ker: np.ndarray

    def settle(self) -> None: ...
    def on_datagram(self, buf: np.ndarray, size: int, rx_ns: int = 0) -> int: ...
    def warm_up(self, receiver: Any = None) -> None: ...
    def session_stats(self) -> dict[str, int]: ...
    @property
    def messages(self) -> int: ...
    @property
    def samples(self) -> int: ...
    @property
    def ended(self) -> bool: ...


class FeedListener:
    """Drive a receiver with a feed handler until the session ends, a duration passes or the
    feed goes idle. ``handler``: a feed (:class:`~tickpath.feed.itch.ItchFeed`,
    :class:`~tickpath.feed.mdp3.Mdp3Feed`), or an :class:`~tickpath.feed.itch.ItchHandler`
    (ITCH books and decoder) to wrap in an ``ItchFeed`` with ``session``."""

    def __init__(self, receiver: Receiver, handler: ItchHandler | Feed | None = None,
                 session: MoldSession | None = None, max_samples: int = 1 << 21, *,
                 snapshot: tuple[str, int] | None = None, late_join: bool = False) -> None:
        self.receiver = receiver
        #: ITCH: the GLIMPSE snapshot service: books rebuilt from it at the start
        #: (``late_join``) and whenever the feed goes stale (a gap it could not repair)
        self.rejoiner = SnapshotRejoin(snapshot, late_join=late_join)
        if handler is not None and not isinstance(handler, ItchHandler):
            self.feed = handler
        else:
            self.feed = ItchFeed(handler, session, max_samples=max_samples)
        # the MoldUDP64 session, for views that show it (None for others)
        self.session = getattr(self.feed, "session", None)
        # a feed that recovers gaps sends its requests from where this receiver can take
        # the answers (ItchFeed.attach)
        if hasattr(self.feed, "attach"):
            self.feed.attach(receiver)

    @property
    def samples(self) -> int:
        return self.feed.samples

    @property
    def handler(self) -> ItchHandler | None:
        """The ITCH handler and its books (a snapshot replaces them), None for other feeds."""
        return getattr(self.feed, "handler", None)

    def _rejoin(self, first: bool = False) -> None:
        """Books from a snapshot when joining late (``first``) or when the feed is stale."""
        if hasattr(self.feed, "rejoin"):
            self.rejoiner.maybe(self.feed, first)

    @property
    def snapshot_errors(self) -> list[str]:
        return self.rejoiner.errors

    def warm_up(self) -> None:
        """Compile (or load from the cache) the handler's step and the receiver's loop for
        the handler's state type, before anything is timed; consumes no datagram."""
        self.feed.warm_up(self.receiver)

    def run(self, duration: float | None = None, *, idle_timeout: float | None = None,
            until_end_of_session: bool = True, on_tick: Callable[[FeedListener], None] | None = None,
            tick_s: float = 0.25, on_ready: Callable[[], None] | None = None) -> ListenReport:
        """Receive until the session ends, ``duration`` passes, or nothing arrives for
        ``idle_timeout`` seconds (after the first packet). ``on_ready`` is called once the
        loop is about to start (a sender started earlier would queue packets meanwhile and
        the backlog would show up as latency)."""
        if getattr(self.receiver, "compiled", False):
            return self._run_compiled(duration, idle_timeout, until_end_of_session, on_tick,
                                      tick_s, on_ready)
        rx, feed = self.receiver, self.feed
        rx.settimeout(0.05)
        packets = 0
        with _no_gc():
            if on_ready is not None:
                on_ready()
            self._rejoin(first=True)
            t0 = last_pkt = time.monotonic()
            next_tick = t0 + tick_s
            while True:
                got = rx.recv()
                now = time.monotonic()
                if got is not None:
                    buf, rx_ns = got
                    packets += 1
                    last_pkt = now
                    code = feed.on_datagram(buf, buf.shape[0], rx_ns)
                    if until_end_of_session and code == END_OF_SESSION:
                        self._rejoin()  # stale at the end: the day's books from a snapshot
                        break
                elif hasattr(feed, "on_idle"):  # re-requests and answers while a gap is open
                    code = feed.on_idle()
                    if until_end_of_session and code == END_OF_SESSION:
                        self._rejoin()
                        break
                if duration is not None and now - t0 >= duration:
                    break
                if idle_timeout is not None and packets and now - last_pkt >= idle_timeout:
                    break
                if now >= next_tick:
                    self._rejoin()
                    if on_tick is not None:
                        on_tick(self)
                    next_tick = now + tick_s
        return self._report(packets, t0)

    def _report(self, packets: int, t0: float) -> ListenReport:
        feed = self.feed
        if self.handler is not None:
            self.handler.messages = feed.messages
        n = feed.samples
        return ListenReport(
            packets=packets,
            messages=feed.messages,
            seconds=time.monotonic() - t0,
            session=feed.session_stats(),
            latency_ns=feed.lat[:n].copy(),
            kernel_ns=feed.ker[:n].copy(),
            sent_ns=feed.snt[:n].copy() if hasattr(feed, "snt") else np.zeros(0, np.int64),
            ended=feed.ended,
            recovery=feed.recovery_stats() if hasattr(feed, "recovery_stats") else {},
        )

    def _run_compiled(self, duration, idle_timeout, until_end_of_session, on_tick, tick_s,
                      on_ready) -> ListenReport:
        """Drive a transport whose receive loop is compiled: it returns to Python only at each
        tick (to observe), at the end, or when the handler asks to settle."""
        rx, feed = self.receiver, self.feed
        idle_ns = int(idle_timeout * 1e9) if idle_timeout else 0
        with _no_gc():
            if on_ready is not None:
                on_ready()
            self._rejoin(first=True)
            t0 = time.monotonic()
            stop_ns = time.clock_gettime_ns(time.CLOCK_REALTIME) + int(duration * 1e9) \
                if duration is not None else None
            while True:
                now = time.clock_gettime_ns(time.CLOCK_REALTIME)
                deadline = now + int(tick_s * 1e9)
                if stop_ns is not None:
                    deadline = min(deadline, stop_ns)
                code = rx.poll(feed.state, deadline, idle_ns)
                if code == SETTLE:  # the owner grows its tables, raises or skips, then goes on
                    feed.settle()
                    continue
                self._rejoin()
                if on_tick is not None:
                    on_tick(self)
                if code == END_OF_SESSION and until_end_of_session:
                    break
                if code == IDLE:
                    break
                if code == DEADLINE and stop_ns is not None and \
                        time.clock_gettime_ns(time.CLOCK_REALTIME) >= stop_ns:
                    break
        return self._report(int(rx.rx[RX_PACKETS]), t0)
