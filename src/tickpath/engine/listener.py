"""Live feed: a receiver (any transport) -> MoldUDP64 session -> ITCH handler -> books.

Latency is sampled per packet: the venue stamps each packet's messages with its send time
(ITCH timestamp = CLOCK_REALTIME since midnight); after the packet's messages are in the books
we read the same clock. The receiver's kernel timestamp splits that into the kernel's part
(send -> socket) and ours (socket -> books).
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np

from ..feed.moldudp64 import Counter, MoldSession
from ..telemetry.clock import NS_PER_DAY
from ._kernels import MALFORMED, N_FEED_COUNTERS
from .handler import ItchHandler


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
    ended: bool = False


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


class FeedListener:
    def __init__(self, receiver: Receiver, handler: ItchHandler | None = None,
                 session: MoldSession | None = None, max_samples: int = 1 << 21) -> None:
        self.receiver = receiver
        self.handler = handler if handler is not None else ItchHandler(errors="skip")
        self.session = session if session is not None else MoldSession()
        self.latency = np.zeros(max_samples, np.int64)
        self.kernel = np.zeros(max_samples, np.int64)
        self.samples = 0

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
        rx = self.receiver
        rx.settimeout(0.05)
        handler, session = self.handler, self.session
        events = handler.events
        lat, ker, cap = self.latency, self.kernel, self.latency.shape[0]
        feed = np.zeros(N_FEED_COUNTERS, np.int64)
        packets = 0
        with _no_gc():
            if on_ready is not None:
                on_ready()
            t0 = last_pkt = time.monotonic()
            next_tick = t0 + tick_s
            while True:
                got = rx.recv()
                now = time.monotonic()
                if got is not None:
                    buf, rx_ns = got
                    packets += 1
                    last_pkt = now
                    if handler.on_datagram(session, buf, buf.shape[0], feed) and \
                            self.samples < cap:
                        done = time.clock_gettime_ns(time.CLOCK_REALTIME) % NS_PER_DAY
                        sent = int(events[0]["timestamp"])
                        lat[self.samples] = (done - sent) % NS_PER_DAY
                        ker[self.samples] = (rx_ns % NS_PER_DAY - sent) % NS_PER_DAY
                        self.samples += 1
                    if until_end_of_session and session.counters[Counter.END_OF_SESSION]:
                        break
                if duration is not None and now - t0 >= duration:
                    break
                if idle_timeout is not None and packets and now - last_pkt >= idle_timeout:
                    break
                if on_tick is not None and now >= next_tick:
                    on_tick(self)
                    next_tick = now + tick_s
        handler.malformed += int(feed[MALFORMED])
        return self._report(packets, t0)

    def _report(self, packets: int, t0: float) -> ListenReport:
        session, handler = self.session, self.handler
        return ListenReport(
            packets=packets,
            messages=handler.messages,
            seconds=time.monotonic() - t0,
            session=session.stats(),
            latency_ns=self.latency[:self.samples].copy(),
            kernel_ns=self.kernel[:self.samples].copy(),
            ended=bool(session.counters[Counter.END_OF_SESSION]),
        )

    def _run_compiled(self, duration, idle_timeout, until_end_of_session, on_tick, tick_s,
                      on_ready) -> ListenReport:
        """Drive a transport whose receive loop is compiled: it returns to Python only at each
        tick (to observe), at the end, or to settle an event the books refused."""
        from ..wire.busypoll import BOOK, DEADLINE, END_OF_SESSION, IDLE, Rx

        rx = self.receiver
        handler, session = self.handler, self.session
        feed = np.zeros(N_FEED_COUNTERS, np.int64)
        idle_ns = int(idle_timeout * 1e9) if idle_timeout else 0
        with _no_gc():
            if on_ready is not None:
                on_ready()
            t0 = time.monotonic()
            stop_ns = time.clock_gettime_ns(time.CLOCK_REALTIME) + int(duration * 1e9) \
                if duration is not None else None
            while True:
                now = time.clock_gettime_ns(time.CLOCK_REALTIME)
                deadline = now + int(tick_s * 1e9)
                if stop_ns is not None:
                    deadline = min(deadline, stop_ns)
                code = rx.poll(handler, session, deadline, idle_ns, self.latency, self.kernel,
                               feed)
                self.samples = int(rx.rx[Rx.SAMPLES])
                if code == BOOK:  # let the owner grow its tables, raise or skip, then go on
                    handler.books.apply(handler.events, int(rx.rx[Rx.EVENTS]),
                                        start=int(rx.rx[Rx.EVENT_AT]))
                    continue
                if on_tick is not None:
                    on_tick(self)
                if code == END_OF_SESSION and until_end_of_session:
                    break
                if code == IDLE:
                    break
                if code == DEADLINE and stop_ns is not None and \
                        time.clock_gettime_ns(time.CLOCK_REALTIME) >= stop_ns:
                    break
        handler.malformed += int(feed[MALFORMED])
        handler.messages = int(session.counters[Counter.MESSAGES])
        return self._report(int(rx.rx[Rx.PACKETS]), t0)
