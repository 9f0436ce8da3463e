"""The one clock of the path: CLOCK_REALTIME in nanoseconds.

ITCH timestamps are nanoseconds since midnight, so a venue that stamps each message with
CLOCK_REALTIME modulo one day lets a receiver on the same host measure one-way latency against
the same clock. (Across hosts this needs PTP-disciplined clocks; on one host it is exact.)
"""

from __future__ import annotations

import time

NS_PER_DAY = 86_400_000_000_000


def now_ns() -> int:
    return time.clock_gettime_ns(time.CLOCK_REALTIME)


def ns_since_midnight(t_ns: int | None = None) -> int:
    """Nanoseconds since midnight UTC, as ITCH timestamps count them."""
    return (now_ns() if t_ns is None else t_ns) % NS_PER_DAY


def since(stamp_ns_since_midnight: int, t_ns: int | None = None) -> int:
    """Nanoseconds from an ITCH timestamp to ``t_ns`` (now), across midnight too."""
    return (ns_since_midnight(t_ns) - stamp_ns_since_midnight) % NS_PER_DAY
