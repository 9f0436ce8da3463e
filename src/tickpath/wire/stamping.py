"""The seam between a sender and whoever publishes: per-packet stamping just before it leaves.

A venue stamps each packet with its send time in the feed's own format (ITCH: ns since local
midnight in every message); a sender knows when a packet leaves, not how to stamp it. So a
compiled send loop calls :func:`stamp_packet` with the publisher's stamper state right before
the system call (or the ring's kick), and the publisher's module overloads it for its state
type, exactly as receive loops call :func:`tickpath.wire.handler.on_datagram`.

:data:`NO_STAMP` leaves the bytes as they are (a replay, a heartbeat, a test that checks bytes).
"""

from __future__ import annotations

from collections import namedtuple

import numpy as np
from numba import types
from numba.extending import overload

__all__ = ["NO_STAMP", "NoStamp", "stamp_packet"]


def stamp_packet(stamper, buf, start, end, now_ns):  # pragma: no cover - compiled only
    """Stamp the packet ``buf[start:end]`` (UDP payload) as sent at ``now_ns`` (CLOCK_REALTIME
    epoch ns). Only compiled code calls this: each publisher overloads it for its state."""
    raise TypeError(f"no stamper is registered for a state of type {type(stamper).__name__}")


#: A stamper that stamps nothing (its one field only gives numba a type to dispatch on).
NoStamp = namedtuple("NoStamp", ["unused"])
NO_STAMP = NoStamp(np.zeros(0, np.int64))


@overload(stamp_packet, inline="always")
def _no_stamp(stamper, buf, start, end, now_ns):
    if isinstance(stamper, types.BaseNamedTuple) and stamper.instance_class is NoStamp:
        def impl(stamper, buf, start, end, now_ns):
            return 0
        return impl
    return None
