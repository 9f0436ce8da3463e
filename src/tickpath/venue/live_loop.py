"""The loop both live venues run (equities: :class:`~tickpath.venue.live.LiveVenue`; futures:
:class:`~tickpath.venue.futures_live.FuturesLiveVenue`): turns that publish the generated flow
due by now at the configured rate, and between turns with nothing done a wait on the venue's
sockets until the next message is due. A venue supplies its turn, what it has generated, what
is left of the day, how it rounds a turn's messages (whole steps of its engine) and the
sockets to wait on.
"""

from __future__ import annotations

import select
import time
from typing import Any

TURN_MESSAGES = 256  # most generated messages published in one turn of the loop
MAX_WAIT_S = 0.02  # longest wait for sockets, so heartbeats and timeouts stay on time


class LiveLoop:
    """The shared ``run``; a subclass sets ``rate`` (messages/s, None: as fast as it goes),
    ``quiet`` and ``started`` and implements the methods below."""

    rate: float | None
    quiet: bool
    started: bool

    def start(self) -> None:
        raise NotImplementedError

    def turn(self, generate: int = 0) -> int:
        raise NotImplementedError

    def stats(self) -> dict[str, Any]:
        raise NotImplementedError

    def _generated(self) -> int:
        """Messages of generated flow published so far."""
        raise NotImplementedError

    def _flow_left(self) -> bool:
        """Whether the day's generated flow has messages left."""
        raise NotImplementedError

    def _whole_steps(self, due: int) -> int:
        """``due`` (> 0) messages rounded to what the engine writes in whole steps."""
        return due

    def _sockets(self) -> list:
        """The sockets a wait between turns wakes on (order entry and the like)."""
        return []

    def run(self, duration_s: float | None = None, messages: int | None = None) -> dict[str, Any]:
        """Serve until ``duration_s`` seconds have passed or ``messages`` messages of
        generated flow have been published by this call (whole steps of the engine: a few
        more), or, with neither, until the day's generated flow is spent (a quiet venue needs
        ``duration_s``). Returns :meth:`stats`."""
        if not self.started:
            self.start()
        if duration_s is None and messages is None and self.quiet:
            raise ValueError("a quiet venue runs for a duration: pass duration_s")
        t0 = time.monotonic()
        deadline = None if duration_s is None else t0 + duration_s
        sent0 = self._generated()
        while True:
            now = time.monotonic()
            if deadline is not None and now >= deadline:
                break
            done = self._generated() - sent0
            if messages is not None and done >= messages:
                break
            flow = not self.quiet and self._flow_left()
            if not flow and deadline is None and messages is None:
                break
            due = 0
            if flow:
                due = TURN_MESSAGES if self.rate is None else int(self.rate * (now - t0)) - done
                if messages is not None:
                    due = min(due, messages - done)
                if due > 0:
                    due = self._whole_steps(due)
            if self.turn(due) == 0:
                self._wait(now, t0, done, deadline)
        return self.stats()

    def _wait(self, now: float, t0: float, done: int, deadline: float | None) -> None:
        """Until the next message is due (at most MAX_WAIT_S), waking on the sockets."""
        wait = MAX_WAIT_S
        if not self.quiet and self.rate:
            wait = min(wait, max(0.0, t0 + (done + 1) / self.rate - now))
        if deadline is not None:
            wait = min(wait, max(0.0, deadline - now))
        socks = self._sockets()
        if socks:
            select.select(socks, [], [], wait)
        elif wait > 0:
            time.sleep(wait)
