"""The one clock of the path: CLOCK_REALTIME in nanoseconds.

ITCH timestamps are nanoseconds since midnight in the exchange's time zone (NASDAQ: New
York), so a venue that stamps each message with this clock read as a New York time of day, and
a receiver on the same host that reads the stamp back through the same zone
(:mod:`tickpath.telemetry.feedtime`), measure one-way latency against one clock. (Across hosts
this needs PTP-disciplined clocks; on one host it is exact.)
"""

from __future__ import annotations

import time

NS_PER_DAY = 86_400_000_000_000


def now_ns() -> int:
    return time.clock_gettime_ns(time.CLOCK_REALTIME)
