"""Fuzz target ``mold``: datagrams through the compiled MoldUDP64 ``accept`` kernel (read
only: the session layer is used, not changed), a few per input on one session.

Invariants: a known verdict; a refused (BAD) datagram changes neither the session name nor
the expected sequence number, only the packet, malformed and session-mismatch counters; a NEW
verdict points inside the datagram at exactly ``count`` blocks that end at its end, and moves
``messages`` on by ``count``; counters never go down; while sequence numbers stay below 2**62
the expected sequence number never goes down and moves to ``max(expected, seq) + count``.

Sequence numbers at or above 2**63 are read as negative int64 by ``accept`` (see
``WRAPS``): such inputs are fed too (no crash, no hang) but the sequencing invariants are
only asserted below 2**62.
"""

from __future__ import annotations

import numpy as np
from streams import VALID, Choices

from tickpath.feed.moldudp64 import MoldSession
from tickpath.feed.moldudp64._kernels import BAD, NEW, OTHER, SKIP
from tickpath.feed.moldudp64.layout import HEADER_LEN, Counter

NAME = "mold"
SESSION = b"FUZZSESS10"
_BLOCKS: list[bytes] = []
p = 0
while p < len(VALID):
    n = 2 + int.from_bytes(VALID[p:p + 2], "big")
    _BLOCKS.append(VALID[p:p + n])
    p += n
_SEQS = (0, 1, 2, 3, 5, 8, 0xFFFF, 1 << 32, (1 << 62) - 1, (1 << 63) - 1, 1 << 63, (1 << 64) - 1)
_FREE = [int(c) for c in (Counter.PACKETS, Counter.MALFORMED, Counter.SESSION_MISMATCH)]
#: inputs that used a sequence number at or above 2**62 (counted, not asserted on)
WRAPS = [0]


def _datagram(c: Choices, expected: int) -> tuple[bytes, int]:
    """A datagram and the sequence number it was built with (-1: none)."""
    kind = c.byte() % 5
    if kind == 0:
        return bytes(c.byte() for _ in range(c.byte() % 64)), -1
    session = SESSION if c.byte() % 8 else b"OTHERSESS1"
    pick = c.byte()
    seq = _SEQS[pick % len(_SEQS)] if pick & 0x80 else max(0, expected + pick % 9 - 4)
    if kind == 1:  # heartbeat or end of session
        count = 0 if c.byte() & 1 else 0xFFFF
        body = b""
    else:
        count = c.byte() % 6
        body = b"".join(_BLOCKS[c.below(len(_BLOCKS))] for _ in range(count))
    raw = bytearray(session + seq.to_bytes(8, "big") + count.to_bytes(2, "big") + body)
    if kind == 4:  # a few byte edits
        for _ in range(1 + c.byte() % 3):
            raw[c.below(len(raw))] = c.byte()
        if c.byte() & 1:
            del raw[c.below(len(raw) + 1):]
    return bytes(raw), seq


def setup() -> None:
    one_input(b"\x01" * 8)


def one_input(data: bytes) -> None:
    c = Choices(data)
    s = MoldSession()
    big = False
    for _ in range(1 + c.byte() % 8):
        raw, _ = _datagram(c, s.expected)
        seq = int.from_bytes(raw[10:18], "big") if len(raw) >= HEADER_LEN else -1
        big |= seq >= 1 << 62 or s.expected >= 1 << 62
        buf = np.frombuffer(raw, np.uint8)
        before = s.counters.copy()
        name = s.session.copy()
        verdict, off, count = s.accept(buf, 0, len(raw))
        verdict, off, count = int(verdict), int(off), int(count)
        after = s.counters
        assert verdict in (NEW, SKIP, BAD, OTHER)
        changed = np.flatnonzero(after != before)
        if verdict in (BAD, OTHER):
            assert (s.session == name).all(), "a refused datagram changed the session"
            assert set(changed.tolist()) <= set(_FREE), "a refused datagram changed state"
            assert (off, count) == (0, 0)
            continue
        if verdict == SKIP:
            assert (off, count) == (0, 0)
        else:
            assert HEADER_LEN <= off <= len(raw) and count >= 1
            q = off
            for _ in range(count):
                assert q + 2 <= len(raw)
                q += 2 + int.from_bytes(raw[q:q + 2], "big")
            assert q == len(raw), "the new blocks do not end at the datagram's end"
            assert after[Counter.MESSAGES] == before[Counter.MESSAGES] + count
        mono = [int(x) for x in range(len(after)) if x != Counter.EXPECTED]
        if not big:
            assert (after[mono] >= before[mono]).all(), "a counter went down"
            assert after[Counter.EXPECTED] >= before[Counter.EXPECTED]
            if verdict == NEW:
                exp = int(before[Counter.EXPECTED]) or seq
                assert int(after[Counter.EXPECTED]) == max(exp, seq) + count
    if big:
        WRAPS[0] += 1
