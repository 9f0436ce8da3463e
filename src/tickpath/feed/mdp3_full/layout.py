"""The full-snapshot handler's tables: its counters, the per-instrument columns, and why a
message is refused.

Counters (int64 ``chan``, :class:`Counter`): the channel's sequencing, what was taken, the
latency samples, the last refusal (reason, offset in its datagram, MsgSeqNum, template id,
and for a book's refusal the book's status), then one word per refusal reason from
``FIRST_REASON`` on (``chan[FIRST_REASON + reason - 1]``).
"""

from __future__ import annotations

import enum

from ...codec.mdp3 import schema_v13 as S
from ...codec.mdp3.offsets import (  # noqa: F401  (the step imports them from here)
    SN_ENTRY,
    SN_LAST_SEQ,
    SN_LEVEL,
    SN_ORDERS,
    SN_PX,
    SN_RPT,
    SN_SEC,
    SN_SIZE,
    SN_TYPE,
)


class Counter(enum.IntEnum):
    LAST_SEQ = 0  # MsgSeqNum of the last packet taken (0: none yet)
    PACKETS = 1  # packets taken (new MsgSeqNum)
    DUPLICATES = 2  # packets whose MsgSeqNum was taken already (skipped)
    GAPS = 3  # MsgSeqNum jumps past LAST_SEQ + 1 (counted, never recovered)
    GAP_PACKETS = 4  # packets missed in them
    DATAGRAMS = 5  # datagrams seen, all kinds
    MESSAGES = 6  # messages walked in packets taken
    SNAPSHOTS = 7  # snapshots taken (an instrument's book replaced)
    REFUSED = 8  # messages (or datagrams) refused, all reasons
    SAMPLES = 9  # latency samples recorded
    INSTRUMENTS = 10  # rows of the instrument table in use
    LAST_REASON = 11  # the last refusal: its Refusal
    LAST_OFFSET = 12  # ... its offset in its datagram
    LAST_SEQ_REFUSED = 13  # ... the MsgSeqNum of its packet (-1: none read)
    LAST_TEMPLATE = 14  # ... its template id (-1: none read)
    LAST_DETAIL = 15  # ... with BOOK_REFUSED: the book's status (tickpath.book.mdp3)


class Refusal(enum.IntEnum):
    OK = 0
    SHORT_PACKET = 1  # a datagram shorter than the 12-byte packet header (refused whole)
    BAD_SIZE = 2  # MsgSize under the size prefix and the SBE header: the rest of the packet is
    #               refused with it (nothing after it can be framed)
    TRUNCATED = 3  # a message running past the packet, or its root block past the message
    FOREIGN_SCHEMA = 4  # an SBE schema id other than MDP 3.0's (1)
    UNEXPECTED_TEMPLATE = 5  # not a SnapshotFullRefresh52
    SHORT_BLOCK = 6  # a root block shorter than the fields read
    GROUP_OVERRUN = 7  # NoMDEntries (numInGroup x blockLength) runs past the message
    SHORT_ENTRY = 8  # an entry blockLength shorter than the fields read
    TOO_MANY = 9  # more entries than the handler keeps (4 books x max_depth)
    INSTRUMENTS_FULL = 10  # a new SecurityID with the table full (raise max_instruments)
    BOOK_REFUSED = 11  # the depth book refused the entries (a gap in the levels, a bad price
    #                    or size, a level beyond the depth, ...; status in LAST_DETAIL)


FIRST_REASON = len(Counter)
N_COUNTERS = FIRST_REASON + len(Refusal) - 1

REFUSAL_TEXT = {
    Refusal.SHORT_PACKET: "datagram shorter than the 12-byte packet header",
    Refusal.BAD_SIZE: "MsgSize smaller than the size prefix and SBE header",
    Refusal.TRUNCATED: "message runs past the end of the packet (or its root block past "
                       "the message)",
    Refusal.FOREIGN_SCHEMA: "message of another schema id",
    Refusal.UNEXPECTED_TEMPLATE: "template id other than SnapshotFullRefresh52",
    Refusal.SHORT_BLOCK: "root blockLength shorter than the fields the handler reads",
    Refusal.GROUP_OVERRUN: "NoMDEntries runs past the message",
    Refusal.SHORT_ENTRY: "entry blockLength shorter than the fields the handler reads",
    Refusal.TOO_MANY: "more entries than the handler's books hold",
    Refusal.INSTRUMENTS_FULL: "instrument table full (raise max_instruments)",
    Refusal.BOOK_REFUSED: "the book refused the snapshot's entries",
}

# per-instrument columns (int64 ``inst[n, N_INST]``); the first two are the table's
# (tickpath.feed.mdp3.instruments)
(I_SECURITY_ID, I_STATE, I_SNAP_SEQ, I_RPT_SEQ, I_SNAPSHOTS, I_SENT, N_INST) = range(7)

SNAPSHOT52 = S.SNAPSHOT_FULL_REFRESH52_ID
#: root bytes read: up to the end of RptSeq (LastMsgSeqNumProcessed and SecurityID lie before)
SN_READ_BLOCK = max(SN_LAST_SEQ + 4, SN_SEC + 4, SN_RPT + 4)
