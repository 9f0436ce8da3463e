"""How the venue stamps a packet as it leaves (the senders' seam,
:mod:`tickpath.wire.stamping`): MoldUDP64/ITCH, and CME MDP 3.0.

ITCH timestamps count nanoseconds since midnight in the exchange's time zone (NASDAQ: US
Eastern, daylight saving included), so the stamper carries the zone's offset table
(:mod:`tickpath.telemetry.feedtime`) and every message of the packet gets the send time as a
New York time of day, as NASDAQ's own feed would carry it.
"""

from __future__ import annotations

from collections import namedtuple

import numpy as np

from ..codec.itch50.encoder import restamp_blocks
from ..codec.sbe.fields import put_u64
from ..feed.moldudp64.layout import HEADER_LEN
from ..telemetry.feedtime import NASDAQ_ZONE, FeedTime, since_midnight
from ..wire.stamping import implements
from .mdp3_encode import SENDING_TIME_OFFSET

#: ``clock``: the feed time zone's offset table (``FeedTime.table``)
ItchStamper = namedtuple("ItchStamper", ["clock"])


def itch_stamper(zone: str = NASDAQ_ZONE) -> ItchStamper:
    """A stamper for ITCH over MoldUDP64 in ``zone`` (NASDAQ's by default)."""
    return ItchStamper(np.ascontiguousarray(FeedTime(zone).table))


@implements(ItchStamper)
def _stamp_itch(stamper, buf, start, end, now_ns):
    """Every message of the MoldUDP64 packet ``buf[start:end]`` gets the send time."""
    return restamp_blocks(buf, start + HEADER_LEN, end, since_midnight(stamper.clock, now_ns))


#: MDP 3.0 needs no state to stamp (its field only gives numba a type to dispatch on)
Mdp3Stamper = namedtuple("Mdp3Stamper", ["unused"])


def mdp3_stamper() -> Mdp3Stamper:
    """A stamper for CME MDP 3.0 packets: SendingTime (the packet header's u64 at byte 4,
    UTC ns since the epoch) becomes the send time. TransactTime, the event's time inside
    each message, is left as the venue wrote it."""
    return Mdp3Stamper(np.zeros(0, np.int64))


@implements(Mdp3Stamper)
def _stamp_mdp3(stamper, buf, start, end, now_ns):
    """The MDP3 packet ``buf[start:end]`` gets the send time as its SendingTime."""
    put_u64(buf, start + SENDING_TIME_OFFSET, now_ns)
    return 1
