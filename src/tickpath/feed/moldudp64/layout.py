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


# Request Packet (listener -> re-request server), big-endian::
#
#     0                    10                   18        20
#     +--------------------+--------------------+---------+
#     | session (10 alnum) | first sequence u64 | count   |
#     +--------------------+--------------------+---------+
#
# The answer is an ordinary downstream packet, unicast back to the socket that asked.
REQUEST_LEN = 20
MAX_REQUEST_COUNT = 0xFFFF

# Feed states (Recovery.STATE): what the books are worth
EXACT = 0  # every message up to the expected sequence number is applied, in order
RECOVERING = 1  # a gap is open: later packets are held, the missing range asked for
STALE = 2  # gave up on a gap: the books stopped at EXACT_UPTO and need a snapshot
STATE_NAMES = ("exact", "recovering", "stale")


class Recovery(enum.IntEnum):
    """Indices of the gap recovery's int64 word array (counters, state and configuration)."""

    STATE = 0  # EXACT | RECOVERING | STALE
    GAPS_OPENED = 1  # times the feed stopped being exact
    GAPS_REPAIRED = 2  # times it became exact again
    GAVE_UP = 3  # gaps given up on (the feed went stale)
    GAVE_UP_FULL = 4  # ... because the reorder buffer was full (packets or bytes)
    GAVE_UP_TIMEOUT = 5  # ... because no answer came after MAX_ATTEMPTS requests
    GAVE_UP_TOO_OLD = 6  # ... because the hole is older than the server keeps (HISTORY)
    REQUESTS = 7  # Request Packets sent (first asks and re-requests)
    MESSAGES_REQUESTED = 8  # messages asked for, summed over requests
    MESSAGES_RECEIVED = 9  # messages that filled a hole (retransmitted or late originals)
    MESSAGES_HELD = 10  # messages applied from the reorder buffer
    PACKETS_HELD = 11  # packets put in the reorder buffer
    HELD = 12  # packets in the reorder buffer now
    HELD_BYTES = 13  # bytes of the buffer in use now
    BAD_BLOCKS = 14  # packets with a block that did not decode (the rest of the packet cut)
    BAD_BLOCK_MESSAGES = 15  # messages lost with them (from the bad block on)
    BAD_BLOCK_BYTES = 16  # bytes lost with them
    STALE_MESSAGES = 17  # messages not applied because the feed is stale
    SEND_ERRORS = 18  # requests sendto refused (errno in LAST_ERRNO)
    LAST_ERRNO = 19
    ANSWERS = 20  # datagrams read from the request socket (own-socket mode)
    GAP_SINCE_NS = 21  # state: when the open gap was seen (CLOCK_REALTIME ns)
    REQUEST_NS = 22  # state: when the last request went out (or was due, without a server)
    REQUEST_SEQ = 23  # state: first sequence number of the hole last asked for (-1: none)
    ATTEMPTS = 24  # state: requests for that hole so far
    KNOWN_END = 25  # state: one past the highest sequence number known to exist
    EXACT_UPTO = 26  # after giving up: the last sequence number the books hold
    LAST_RECOVERY_NS = 27  # gap seen -> books exact again, the last one
    MAX_RECOVERY_NS = 28
    SAMPLES = 29  # recovery times recorded (the ring of samples wraps)
    TIMEOUT_NS = 30  # config: re-request after this long without the hole filling
    MAX_ATTEMPTS = 31  # config: requests per hole before giving up (without a server: waits)
    HISTORY = 32  # config: messages the server keeps (0: unknown, no too-old rule)
    MAX_REQUEST = 33  # config: messages asked for per request (<= 0xFFFF)
    SEND_FD = 34  # config: socket requests go out from (-1: no server, no requests)
    POLL_FD = 35  # config: socket answers are read from by the handler (-1: they come with
    #               the feed, through the transport)
    ADDR_LEN = 36  # config: length of the server's sockaddr in the request buffer
    TOLD = 37  # state: the STATE last told the strategy in a STATUS record (a ring's reader)
    SNAPSHOTS = 38  # times the books were rebuilt from a snapshot (late join, or stale)
    SNAPSHOT_MESSAGES = 39  # messages those snapshots held
    SESSIONS = 40  # new sessions followed (the venue restarted its MoldUDP64 session)
    NEW_SESSION = 41  # state: 1 when the owner is to follow the candidate session (its
    #                   packets wait in the stash, layout below)
    SILENT = 42  # state: 1 while nothing has arrived for longer than SILENCE_NS
    SILENCES = 43  # times the feed fell silent
    SILENCE_NS = 44  # config: a feed quiet this long (no data, no heartbeat) is stale (0: never)
    QUIET_SINCE_NS = 45  # state: when the packet count last moved (seen on an idle turn)
    SEEN_PACKETS = 46  # state: the packet count then
    CANDIDATE_PACKETS = 47  # state: packets of another session seen in a row (the candidate)
    CANDIDATE_MARK = 48  # state: the followed session's packets counted at its last one
    STASHED = 49  # state: bytes of the stash in use
    STASHED_PACKETS = 50  # state: packets in the stash


N_RECOVERY = len(Recovery)
#: the request buffer: the Request Packet at 0, the server's sockaddr_in at REQUEST_ADDR
REQUEST_ADDR = 32
REQUEST_BUF = 64
# columns of the reorder buffer's slot table (one row per held packet)
SLOT_SEQ, SLOT_COUNT, SLOT_OFF, SLOT_LEN = 0, 1, 2, 3
SLOT_COLUMNS = 4
# the feed's ``sessions`` bytes: the sessions it followed before (RETIRED_KEPT names, the
# last ones; a packet of one is never followed again: a MoldUDP64 session, once ended, sends
# no more), the candidate's name (another session seen), and the stash: the candidate's
# packets, each a u16 length (big-endian) and the packet, handed back once it is followed
RETIRED_KEPT = 4
CANDIDATE_SESSION = RETIRED_KEPT * 10
SESSION_PACKET = 64
SESSIONS_BUF = SESSION_PACKET + 65536
#: packets of another session in a row (none of the followed one between) that make the
#: feed follow it; one is enough once the followed session has ended or gone silent
FOLLOW_AFTER = 3
# STATE told to the strategy while the feed is silent (Recovery.TOLD)
TOLD_SILENT = 3
