"""The stage boundaries of the path and the record that carries their timestamps.

One clock for all of them: CLOCK_REALTIME in nanoseconds since the epoch
(:func:`tickpath.telemetry.nclock.realtime_ns` in compiled code), so stamps taken in different
processes (venue, feed stage, strategy stage) subtract meaningfully on one host. The venue's
send stamp travels in the ITCH timestamp (nanoseconds since midnight, New York time) and is
widened to the epoch by whoever reads it, through the feed's zone
(:func:`tickpath.telemetry.feedtime.to_epoch`).

A ``STAMPS`` record is one path through the host, one field per boundary, 0 where that
boundary was not reached (a decision with no order, a risk reject)::

    venue_sent   the venue's send stamp (in the payload)
    received     packet received: the kernel's software stamp (AF_PACKET frame header,
                 SO_TIMESTAMPING), or the loop's first look where the transport carries none
                 (xdp); a NIC's hardware stamp only when asked (``hwts``: the NIC's clock)
    parsed       frame parsed: Ethernet/IP/UDP and MoldUDP64 headers checked, sequenced
    decoded      ITCH messages decoded into events
    booked       books updated
    enqueued     handed to the ring (published)
    dequeued     picked up by the strategy stage
    decided      strategy decision made
    checked      pre-trade risk checked
    order_out    order bytes handed to the sender

``STAGES`` names the spans between consecutive boundaries, the rows of the latency budget.
"""

from __future__ import annotations

import numpy as np

#: boundaries in path order (the fields of ``STAMPS``)
BOUNDARIES: tuple[str, ...] = (
    "venue_sent", "received", "parsed", "decoded", "booked", "enqueued", "dequeued",
    "decided", "checked", "order_out",
)

#: the budget's rows: (name, from boundary, to boundary, what it is)
STAGES: tuple[tuple[str, str, str, str], ...] = (
    ("wire", "venue_sent", "received", "venue send call to receive stamp (sender, veth, kernel)"),
    ("parse", "received", "parsed", "receive stamp to headers parsed and sequenced"),
    ("decode", "parsed", "decoded", "ITCH messages decoded"),
    ("book", "decoded", "booked", "books updated"),
    ("hand-off", "booked", "enqueued", "record written and published to the ring"),
    ("ring", "enqueued", "dequeued", "ring transit to the strategy core"),
    ("strategy", "dequeued", "decided", "strategy decision"),
    ("risk", "decided", "checked", "pre-trade risk checks"),
    ("egress", "checked", "order_out", "order encoded and handed to the sender"),
)

#: one int64 nanosecond stamp per boundary
STAMPS = np.dtype([(name, np.int64) for name in BOUNDARIES])

#: field index of each boundary, for compiled code that writes a row of int64 words
INDEX: dict[str, int] = {name: i for i, name in enumerate(BOUNDARIES)}
(VENUE_SENT, RECEIVED, PARSED, DECODED, BOOKED, ENQUEUED, DEQUEUED, DECIDED, CHECKED,
 ORDER_OUT) = range(len(BOUNDARIES))
N_BOUNDARIES = len(BOUNDARIES)

NS_PER_DAY = 86_400_000_000_000

