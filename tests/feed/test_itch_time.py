"""ITCH time is New York time: the venue stamps a packet's messages with the send time as ns
since midnight US/Eastern, and the feed handler reads a stamp back against the UTC clock
through the same zone, across a daylight-saving change too (where arithmetic modulo a UTC day
is off by 4 or 5 hours, and arithmetic modulo a local day by one more on the change night)."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import numpy as np
import pytest

from tickpath.codec.itch50.layout import EVENT_DTYPE
from tickpath.codec.itch50.message import encode
from tickpath.feed.itch import ItchFeed
from tickpath.feed.itch.step import stamp_latency
from tickpath.feed.moldudp64 import pack_packets
from tickpath.telemetry.feedtime import FeedTime
from tickpath.venue.stamping import itch_stamper
from tickpath.wire.stamping import stamp_now, stamp_packet

NY = ZoneInfo("America/New_York")
NS = 1_000_000_000


def _utc_ns(*args) -> int:
    return int(datetime(*args, tzinfo=UTC).timestamp()) * NS


def _ny_since_midnight(utc_ns: int) -> int:
    t = datetime.fromtimestamp(utc_ns // NS, NY)
    return ((t.hour * 60 + t.minute) * 60 + t.second) * NS + utc_ns % NS


def _packet(n: int = 3) -> tuple[np.ndarray, int]:
    msgs = [encode("S", event_code="O", timestamp=1) for _ in range(n)]
    blocks = np.frombuffer(b"".join(len(m).to_bytes(2, "big") + m for m in msgs), np.uint8)
    pkt, bounds, _ = pack_packets(blocks, "NYTIME", first_seq=1)
    return pkt[:int(bounds[1])].copy(), n


def _stamps(pkt: np.ndarray) -> list[int]:
    out, p = [], 20  # the MoldUDP64 header
    while p + 2 <= pkt.shape[0]:
        n = int(pkt[p]) << 8 | int(pkt[p + 1])
        out.append(int.from_bytes(pkt[p + 2 + 5:p + 2 + 11].tobytes(), "big"))
        p += 2 + n
    return out


@pytest.mark.parametrize("when", [
    (2026, 1, 15, 14, 30, 0),  # EST, UTC-5
    (2026, 7, 15, 14, 30, 0),  # EDT, UTC-4
    (2026, 3, 8, 6, 59, 59),  # 01:59:59 EST, a second before the spring change
    (2026, 3, 8, 7, 0, 1),  # 03:00:01 EDT, just after it
    (2026, 11, 1, 5, 59, 59),  # 01:59:59 EDT, a second before the autumn change
    (2026, 11, 1, 6, 0, 1),  # 01:00:01 EST, just after it (the hour repeats)
])
def test_the_venue_stamps_new_york_time(when):
    pkt, n = _packet()
    t = _utc_ns(*when) + 123_456_789
    assert stamp_packet(itch_stamper(), pkt, 0, pkt.shape[0], t) == n
    assert _stamps(pkt) == [_ny_since_midnight(t)] * n
    assert _ny_since_midnight(t) != t % (86_400 * NS)  # not UTC's time of day


def test_the_venue_stamps_with_the_clock_it_reads():
    """``stamp_now`` (the Python sender's call) reads CLOCK_REALTIME: read back through the
    zone, the stamp lies between two readings of that clock taken around the call."""
    pkt, n = _packet()
    t0 = time.clock_gettime_ns(time.CLOCK_REALTIME)
    assert stamp_now(itch_stamper(), pkt, 0, pkt.shape[0]) == n
    t1 = time.clock_gettime_ns(time.CLOCK_REALTIME)
    assert t0 <= FeedTime().to_utc(_stamps(pkt)[0], t0) <= t1


@pytest.mark.parametrize(("sent", "now"), [
    # 01:59:59.999 EDT, read at 01:00:00.001 EST: 2 ms later across the autumn change
    (_utc_ns(2026, 11, 1, 5, 59, 59) + 999_000_000, _utc_ns(2026, 11, 1, 6, 0, 0) + 1_000_000),
    # 01:59:59.999 EST, read at 03:00:00.001 EDT: 2 ms later across the spring change
    (_utc_ns(2026, 3, 8, 6, 59, 59) + 999_000_000, _utc_ns(2026, 3, 8, 7, 0, 0) + 1_000_000),
    # a summer afternoon, 5 µs
    (_utc_ns(2026, 7, 15, 18, 0, 0), _utc_ns(2026, 7, 15, 18, 0, 0) + 5_000),
    # across midnight New York time (04:00 UTC in summer), 10 µs
    (_utc_ns(2026, 7, 16, 3, 59, 59) + 999_995_000, _utc_ns(2026, 7, 16, 4, 0, 0) + 5_000),
])
def test_the_handler_reads_latency_through_the_zone(sent, now):
    """The feed step's latency samples: the ITCH stamp (New York ns since midnight) widened
    against the UTC receive and book times."""
    feed = ItchFeed(max_samples=4)
    ev = np.zeros(1, EVENT_DTYPE)
    ev[0]["timestamp"] = _ny_since_midnight(sent)
    rx = now - 1_000
    n = stamp_latency(ev, now, rx, feed.lat, feed.ker, feed.snt, 0, feed.clock)
    assert n == 1
    assert feed.lat[0] == now - sent and feed.ker[0] == rx - sent and feed.snt[0] == sent
