"""The publisher's history: every message block it sent, by MoldUDP64 sequence number.

A re-request server answers from here (:mod:`tickpath.venue.retransmit`). The publisher hands
over each run of packets it has just sent (``out[bounds[i]:bounds[i+1]]``, packet ``i``
carrying ``counts[i]`` messages); the blocks behind each 20-byte header are copied, in order,
into one byte arena, and the arena offset of every message is kept in a ring indexed by
sequence number::

    arena    | blocks of seq f | f+1 | f+2 | ...                     | next - 1 |   free   |
             ^offsets[f % R]   ^offsets[(f+1) % R]                   ^offsets[next % R]
                                                                     (R = keep + 1 slots)

So the messages ``s .. s+n-1`` are one contiguous run of length-prefixed blocks,
``arena[offsets[s % R] - base : offsets[(s+n) % R] - base]`` (offsets count bytes since the
history began; ``base`` is the count at ``arena[0]``), which the MoldUDP64 packer takes as it
is. Retention is bounded: at most ``keep`` messages, the oldest dropped first. The arena is
compacted (the live bytes moved to its start) when it fills, and grows (doubling) only when
the live bytes would take more than half of it, so its size stays within about four times
the bytes of ``keep`` messages and a compaction costs O(1) per byte appended, amortized.

Which bytes: those the sender put on the wire. The socket senders stamp each packet's ITCH
timestamps in place in the publisher's buffer just before the system call, so the history
copies from that buffer *after* the send. A frame-building sender (AF_PACKET, AF_XDP, DPDK)
stamps its own copy in the ring, leaving the buffer unstamped: the publisher refuses a
history with those (:class:`tickpath.venue.publisher.UdpPublisher`).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ..feed.moldudp64.layout import COUNT_OFFSET, HEADER_LEN, SEQUENCE_OFFSET

__all__ = ["MessageHistory"]

# record_packets() exits
OK = 0
SEQ_MISMATCH = 1  # a packet's sequence number is not the next one expected
MALFORMED = 2  # a packet's blocks do not add up to its length / count


@njit(cache=True, nogil=True, inline="always")
def _u16(buf, p):
    return (np.int64(buf[p]) << 8) | np.int64(buf[p + 1])


@njit(cache=True, nogil=True, inline="always")
def _u64(buf, p):
    v = np.int64(0)
    for i in range(8):
        v = (v << 8) | np.int64(buf[p + i])
    return v


@njit(cache=True, nogil=True, _nrt=False)
def check_packets(out, bounds, counts, npk, seq):
    """Check packets ``0 .. npk-1`` before anything is recorded: each starts at sequence
    number ``seq`` + the messages before it and its ``counts[i]`` blocks fill it exactly.
    Returns ``(status, packet index, offset in out)``."""
    for i in range(npk):
        a = bounds[i]
        b = bounds[i + 1]
        if b - a < HEADER_LEN:
            return MALFORMED, i, a
        if _u64(out, a + SEQUENCE_OFFSET) != seq:
            return SEQ_MISMATCH, i, a + SEQUENCE_OFFSET
        if _u16(out, a + COUNT_OFFSET) != counts[i]:
            return MALFORMED, i, a + COUNT_OFFSET
        p = a + HEADER_LEN
        for _ in range(counts[i]):
            if p + 2 > b:
                return MALFORMED, i, p
            p += 2 + _u16(out, p)
        if p != b:
            return MALFORMED, i, p
        seq += counts[i]
    return OK, npk, bounds[npk]


@njit(cache=True, nogil=True, _nrt=False)
def record_packets(out, bounds, npk, seq, arena, q, base, offsets):
    """Copy the blocks of (checked) packets ``0 .. npk-1`` to ``arena[q:]`` and set the
    offset of each message ``s`` (from ``seq`` on) at ``offsets[s % len(offsets)]``, and of
    the next one. Returns ``(next seq, arena position)``."""
    ring = offsets.shape[0]
    slot = seq % ring
    for i in range(npk):
        a = bounds[i] + HEADER_LEN
        b = bounds[i + 1]
        src = out[a:b]
        dst = arena[q:q + (b - a)]
        for j in range(b - a):  # one packet's blocks at once (a loop LLVM vectorizes)
            dst[j] = src[j]
        p = a
        while p < b:
            offsets[slot] = base + q + (p - a)
            slot += 1
            if slot == ring:
                slot = 0
            p += 2 + _u16(out, p)
            seq += 1
        q += b - a
    offsets[slot] = base + q
    return seq, q


@njit(cache=True, nogil=True, _nrt=False)
def move_down(arena, src, n):
    """``arena[0:n] = arena[src:src+n]`` (``src`` >= 0: a forward copy is safe)."""
    for j in range(n):
        arena[j] = arena[src + j]


class MessageHistory:
    """The last ``keep`` message blocks a publisher sent, by sequence number.

    ``record(out, bounds, counts, npk)`` after each send; ``span(seq, count)`` says where
    the blocks of ``seq .. seq+count-1`` lie in ``arena``. ``first`` is the oldest sequence
    number held, ``next_seq`` the one after the newest (both 0 before the first record; the
    first packet recorded fixes where the history starts). ``arena_bytes``: the arena's
    starting size (it grows when it must, see the module doc)."""

    def __init__(self, keep: int = 1_000_000, *, arena_bytes: int | None = None) -> None:
        if keep < 1:
            raise ValueError(f"history: keep must be at least 1 message, not {keep}")
        self.keep = keep
        self.offsets = np.zeros(keep + 1, np.int64)
        size = arena_bytes if arena_bytes is not None else min(keep * 64, 64 << 20)
        self.arena = np.zeros(max(size, 4096), np.uint8)
        self.base = 0  # offset (bytes since the history began) of arena[0]
        self.end = 0  # offset of the byte after the newest block
        self.first = 0
        self.next_seq = 0
        self.recorded = 0  # messages recorded, dropped ones included
        self.dropped = 0  # messages dropped off the old end (retention)
        self.compactions = 0
        self.grown = 0

    def __len__(self) -> int:
        return self.next_seq - self.first

    def warm_up(self) -> None:
        """Compile (or load) the kernels now: records nothing."""
        z = np.zeros(1, np.int64)
        check_packets(self.arena, z, z, 0, 0)
        record_packets(self.arena, z, 0, 0, self.arena, 0, 0, np.zeros(1, np.int64))
        move_down(self.arena, 0, 0)

    def record(self, out: np.ndarray, bounds: np.ndarray, counts: np.ndarray, npk: int) -> int:
        """Keep the blocks of packets ``0 .. npk-1`` (``out[bounds[i]:bounds[i+1]]``, as
        sent, header included). Their sequence numbers must follow on from ``next_seq``;
        a packet that breaks that, or whose blocks do not fill it, raises ValueError with
        the offset and nothing is recorded. Returns the messages recorded."""
        if npk <= 0:
            return 0
        at = int(bounds[0]) + SEQUENCE_OFFSET
        seq = self.next_seq if self.next_seq else int.from_bytes(out[at:at + 8].tobytes(), "big")
        status, i, at = check_packets(out, bounds, counts, npk, seq)
        if status != OK:
            why = ("sequence number is not the next one expected" if status == SEQ_MISMATCH
                   else "message blocks do not fill the packet as its count says")
            raise ValueError(f"history: packet {i} of {npk} (buffer offset {at}): {why} "
                             f"(expected sequence number {seq + int(counts[:i].sum())})")
        n = int(counts[:npk].sum())
        need = int(bounds[npk] - bounds[0]) - HEADER_LEN * npk
        self._room(need)
        if self.next_seq == 0:
            self.first = self.next_seq = seq
            self.offsets[seq % (self.keep + 1)] = self.end
        nxt, q = record_packets(out, bounds, npk, seq, self.arena, self.end - self.base,
                                self.base, self.offsets)
        self.next_seq, self.end = int(nxt), self.base + int(q)
        self.recorded += n
        if self.next_seq - self.first > self.keep:
            self.dropped += self.next_seq - self.keep - self.first
            self.first = self.next_seq - self.keep
        return n

    def _room(self, need: int) -> None:
        used = self.end - self.base
        if used + need <= self.arena.shape[0]:
            return
        if self.next_seq:  # move the live bytes to the start (drop the dead prefix)
            live = int(self.offsets[self.first % (self.keep + 1)])
            if live > self.base:
                move_down(self.arena, live - self.base, self.end - live)
                self.base = live
                used = self.end - self.base
                self.compactions += 1
        if 2 * (used + need) > self.arena.shape[0]:  # keep a compaction O(1) per byte
            grown = np.zeros(max(2 * self.arena.shape[0], 2 * (used + need)), np.uint8)
            grown[:used] = self.arena[:used]
            self.arena = grown
            self.grown += 1

    def holds(self, seq: int) -> bool:
        return self.first <= seq < self.next_seq and self.next_seq > 0

    def span(self, seq: int, count: int) -> tuple[int, int]:
        """Arena indices ``(start, end)`` of the blocks of ``seq .. seq+count-1`` (all
        held: ValueError otherwise)."""
        if count < 0 or not self.holds(seq) or seq + count > self.next_seq:
            raise ValueError(f"history: messages {seq}..{seq + count - 1} are not all held "
                             f"(held: {self.first}..{self.next_seq - 1})")
        ring = self.keep + 1
        return (int(self.offsets[seq % ring]) - self.base,
                int(self.offsets[(seq + count) % ring]) - self.base)

    def blocks(self, seq: int, count: int) -> np.ndarray:
        """The blocks of ``seq .. seq+count-1``, a view of the arena (valid until the next
        record)."""
        a, b = self.span(seq, count)
        return self.arena[a:b]

    def message(self, seq: int) -> bytes:
        """Message ``seq`` without its length prefix."""
        return self.blocks(seq, 1)[2:].tobytes()

    def stats(self) -> dict[str, int]:
        return {"history_first": self.first, "history_next": self.next_seq,
                "history_messages": len(self), "history_recorded": self.recorded,
                "history_dropped": self.dropped, "history_arena_bytes": self.arena.shape[0]}
