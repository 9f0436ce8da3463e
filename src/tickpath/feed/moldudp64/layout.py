"""MoldUDP64 1.0 downstream packet layout (all numbers big-endian)::

    0                    10                   18        20
    +--------------------+--------------------+---------+------------------------------+
    | session (10 alnum) | sequence number u64| count   | message blocks ...           |
    +--------------------+--------------------+---------+------------------------------+

    message block:  +-------------+-----------------------+
                    | length u16  | message (length bytes)|
                    +-------------+-----------------------+

The sequence number is that of the first message in the packet; the rest follow implicitly.
A count of 0 is a heartbeat (the sequence number is the next one expected); a count of 0xFFFF
marks the end of the session.
"""

from __future__ import annotations

import enum

SESSION_OFFSET = 0
SESSION_LEN = 10
SEQUENCE_OFFSET = 10
COUNT_OFFSET = 18
HEADER_LEN = 20
BLOCK_HEADER_LEN = 2
END_OF_SESSION = 0xFFFF
#: A packet that fits an Ethernet MTU of 1500 after IPv4 (20) and UDP (8) headers.
DEFAULT_MAX_PAYLOAD = 1400


class Counter(enum.IntEnum):
    """Indices of the session's int64 counter array."""

    PACKETS = 0
    MESSAGES = 1  # new messages handed on
    HEARTBEATS = 2
    END_OF_SESSION = 3
    GAPS = 4  # times a gap opened
    GAP_MESSAGES = 5  # messages missed
    DUPLICATE_PACKETS = 6  # wholly old packets, skipped
    DUPLICATE_MESSAGES = 7  # old messages skipped (whole or partial overlap)
    MALFORMED = 8  # too short, or blocks that do not add up
    SESSION_MISMATCH = 9  # packet of another session, skipped
    EXPECTED = 10  # next sequence number expected (state, kept here so observers see it)


N_COUNTERS = len(Counter)
