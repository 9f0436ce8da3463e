"""The seam between a sender and whoever publishes: per-packet stamping just before it leaves.

A venue stamps each packet with its send time in the feed's own format (ITCH: ns since local
midnight in every message); a sender knows when a packet leaves, not how to stamp it. So a
compiled send loop calls :func:`stamp_packet` with the publisher's stamper state right before
the system call (or the ring's kick), and the publisher's module overloads it for its state
type with :func:`implements`, exactly as receive loops call
:func:`tickpath.wire.handler.on_datagram`. Called from Python (or under ``NUMBA_DISABLE_JIT``)
it looks the implementation up by the stamper's class.

:data:`NO_STAMP` leaves the bytes as they are (a replay, a heartbeat, a test that checks bytes).
"""

from __future__ import annotations

from collections import namedtuple

import numpy as np
from numba import njit, types
from numba.extending import overload

from ..telemetry.nclock import realtime_ns

__all__ = ["NO_STAMP", "NoStamp", "implements", "stamp_now", "stamp_packet"]

_PYTHON: dict[type, object] = {}  # stamper class -> implementation, for calls from Python


def stamp_packet(stamper, buf, start, end, now_ns):
    """Stamp the packet ``buf[start:end]`` (UDP payload) as sent at ``now_ns`` (CLOCK_REALTIME
    epoch ns); returns what the stamper counts (messages stamped)."""
    impl = _PYTHON.get(type(stamper))
    if impl is None:
        raise TypeError(f"no stamper is registered for a state of type "
                        f"{type(stamper).__name__}: pass NO_STAMP or a publisher's stamper "
                        f"(e.g. tickpath.venue.stamping.itch_stamper()), or register one with "
                        f"tickpath.wire.stamping.implements({type(stamper).__name__})")
    return impl(stamper, buf, start, end, now_ns)


def implements(stamper_class: type):
    """Register ``fn(stamper, buf, start, end, now_ns)`` as :func:`stamp_packet` for stampers
    of the namedtuple class ``stamper_class``; ``fn`` must compile in nopython mode."""
    def register(fn):
        _PYTHON[stamper_class] = fn

        @overload(stamp_packet, jit_options={"_nrt": False})  # as wire.handler
        def _typed(stamper, buf, start, end, now_ns):
            if isinstance(stamper, types.BaseNamedTuple) and \
                    stamper.instance_class is stamper_class:
                return fn
            return None
        return fn
    return register


#: A stamper that stamps nothing (its one field only gives numba a type to dispatch on).
NoStamp = namedtuple("NoStamp", ["unused"])
NO_STAMP = NoStamp(np.zeros(0, np.int64))


@implements(NoStamp)
def _no_stamp(stamper, buf, start, end, now_ns):
    return 0


@njit(cache=True, nogil=True)
def stamp_now(stamper, buf, start, end):
    """Stamp one packet with the clock read now: for a sender whose loop is Python (the
    ``socket`` baseline), one compiled call per packet."""
    return stamp_packet(stamper, buf, start, end, realtime_ns())
