"""How the venue stamps a MoldUDP64/ITCH packet as it leaves (the senders' seam,
:mod:`tickpath.wire.stamping`).

ITCH timestamps count nanoseconds since midnight in the exchange's time zone (NASDAQ: US
Eastern, daylight saving included), so the stamper carries the zone's offset table
(:mod:`tickpath.telemetry.feedtime`) and every message of the packet gets the send time as a
New York time of day, as NASDAQ's own feed would carry it.
"""

from __future__ import annotations

from collections import namedtuple

import numpy as np

from ..codec.itch50.encoder import restamp_blocks
from ..feed.moldudp64.layout import HEADER_LEN
from ..telemetry.feedtime import NASDAQ_ZONE, FeedTime, since_midnight
from ..wire.stamping import implements

#: ``clock``: the feed time zone's offset table (``FeedTime.table``)
ItchStamper = namedtuple("ItchStamper", ["clock"])


def itch_stamper(zone: str = NASDAQ_ZONE) -> ItchStamper:
    """A stamper for ITCH over MoldUDP64 in ``zone`` (NASDAQ's by default)."""
    return ItchStamper(np.ascontiguousarray(FeedTime(zone).table))


@implements(ItchStamper)
def _stamp_itch(stamper, buf, start, end, now_ns):
    """Every message of the MoldUDP64 packet ``buf[start:end]`` gets the send time."""
    return restamp_blocks(buf, start + HEADER_LEN, end, since_midnight(stamper.clock, now_ns))
