"""The bytes of a single-producer single-consumer ring in shared memory, declared as data.

One ring is one shared-memory object (a file under ``/dev/shm``): a 1024-byte header, then
``capacity`` slots of ``slot_size`` bytes. Every header field is an ``int64`` word; the kernels
address them by the word indices below, the owner and observers by name through
:data:`FIELDS`.

::

    byte    word  line  written by      field
    ─────── ───── ───── ─────────────── ──────────────────────────────────────────────────
       0      0    0    creator, once   MAGIC        "tickring" as a little-endian int64
       8      1                         VERSION      layout version (1)
      16      2                         CAPACITY     slots, a power of two
      24      3                         SLOT_SIZE    bytes per slot (multiple of 8, >= 16)
      32      4                         SLOT_WORDS   SLOT_SIZE // 8
      40      5                         MASK         CAPACITY - 1
      48      6                         HEADER_SIZE  1024
      56      7                         TOTAL_SIZE   HEADER_SIZE + CAPACITY * SLOT_SIZE
      64      8                         POLICY       full policy: 0 block, 1 drop
      72      9                         WAIT_ON      consumer waits on: 0 cursor, 1 slot
      80     10                         CREATOR_PID
      88     11                         CREATED_NS   CLOCK_REALTIME at creation
     128     16    1    producer        PRODUCER_POSITION   records published (next seq)
     256     32    2    consumer        CONSUMER_POSITION   records released (next seq)
     384     48    3    producer        CACHED_CONSUMER     producer's last read of line 2
     512     64    4    consumer        CACHED_PRODUCER     consumer's last read of line 1
     640     80    5    producer        FULL         claims that found no room
     648     81                         DROPS        records discarded by the drop policy
     768     96    6    consumer        EMPTY_POLLS  polls that found nothing
     776     97                         BATCHES      releases (each covers 1..N records)
     896    112    7    -               reserved
    1024                                slot 0
    1024 + k * SLOT_SIZE                slot k

    slot k (SLOT_SIZE bytes, holds record seq when seq & MASK == k):
    ┌──────────────────┬───────────────────────────────────────────────────────────────┐
    │ SEQ  int64       │ payload: SLOT_SIZE - 8 bytes, the producer's record            │
    │ seq + 1 once the │                                                               │
    │ record is in;    │                                                               │
    │ 0 = never used   │                                                               │
    └──────────────────┴───────────────────────────────────────────────────────────────┘

A *line* here is 128 bytes, not 64. Every field that one side writes while the other side
runs sits on its own 128-byte line, so no two writers ever share a cache line. 128 rather than
64 because the L2 spatial ("adjacent line") prefetchers of both AMD Zen and Intel cores fetch
the other half of the aligned 128-byte pair of lines on a miss: with the two positions on
neighbouring 64-byte lines, every miss on one drags the other across, and the two cores
would steal each other's line as if it were shared. It costs 512 bytes per ring (a 1 KiB
header instead of 512 bytes). The LMAX Disruptor's padding and folly's
``hardware_destructive_interference_size`` use the same spacing on x86-64.

Who reads what, in steady state: the consumer reads line 1 (or, in slot mode, the slot's
``SEQ`` word, which travels with the payload in the same line); the producer reads line 2
only when its cached copy (line 3) says the ring might be full. Lines 3-6 are each touched by
one side only, so they stay in that core's cache; an observer reading the counters (lines 5
and 6) pulls a copy of a line that the owner writes only on the slow paths (full, empty), so
reading them does not slow the stages.

Slots start at byte 1024, a multiple of 128, so with ``SLOT_SIZE`` a multiple of 64 each slot
starts a cache line and the ``SEQ`` word shares its line with the first 56 payload bytes.
"""

from __future__ import annotations

from dataclasses import dataclass

MAGIC_VALUE: int = int.from_bytes(b"tickring", "little")
VERSION_VALUE: int = 1

LINE_BYTES: int = 128
WORD_BYTES: int = 8
LINE_WORDS: int = LINE_BYTES // WORD_BYTES
HEADER_SIZE_BYTES: int = 1024
HEADER_WORDS: int = HEADER_SIZE_BYTES // WORD_BYTES
SEQ_BYTES: int = 8  # the sequence word at the start of every slot
MIN_SLOT_SIZE: int = 16
MAX_TOTAL_BYTES: int = 1 << 40

# Line 0: written by the creator before MAGIC, read-only afterwards.
MAGIC = 0
VERSION = 1
CAPACITY = 2
SLOT_SIZE = 3
SLOT_WORDS = 4
MASK = 5
HEADER_SIZE = 6
TOTAL_SIZE = 7
POLICY = 8
WAIT_ON = 9
CREATOR_PID = 10
CREATED_NS = 11
# Line 1: the producer's published position; line 2: the consumer's.
PRODUCER_POSITION = 1 * LINE_WORDS
CONSUMER_POSITION = 2 * LINE_WORDS
# Lines 3 and 4: each side's cached copy of the other's position.
CACHED_CONSUMER = 3 * LINE_WORDS
CACHED_PRODUCER = 4 * LINE_WORDS
# Lines 5 and 6: counters, each written by one side only.
FULL = 5 * LINE_WORDS
DROPS = 5 * LINE_WORDS + 1
EMPTY_POLLS = 6 * LINE_WORDS
BATCHES = 6 * LINE_WORDS + 1

# POLICY values
BLOCK = 0
DROP = 1
POLICIES: dict[str, int] = {"block": BLOCK, "drop": DROP}

# WAIT_ON values
ON_CURSOR = 0
ON_SLOT = 1
WAIT_ON_MODES: dict[str, int] = {"cursor": ON_CURSOR, "slot": ON_SLOT}


@dataclass(frozen=True)
class Field:
    """One header word: its name, word index, who writes it and what it holds."""

    name: str
    word: int
    writer: str
    doc: str

    @property
    def offset(self) -> int:
        return self.word * WORD_BYTES

    @property
    def line(self) -> int:
        return self.offset // LINE_BYTES


FIELDS: tuple[Field, ...] = (
    Field("magic", MAGIC, "creator", '"tickring" as a little-endian int64'),
    Field("version", VERSION, "creator", "layout version"),
    Field("capacity", CAPACITY, "creator", "slots (a power of two)"),
    Field("slot_size", SLOT_SIZE, "creator", "bytes per slot, sequence word included"),
    Field("slot_words", SLOT_WORDS, "creator", "slot_size // 8"),
    Field("mask", MASK, "creator", "capacity - 1"),
    Field("header_size", HEADER_SIZE, "creator", "bytes before slot 0"),
    Field("total_size", TOTAL_SIZE, "creator", "bytes of the whole object"),
    Field("policy", POLICY, "creator", "when full: 0 block, 1 drop"),
    Field("wait_on", WAIT_ON, "creator", "consumer waits on: 0 the cursor, 1 the slot"),
    Field("creator_pid", CREATOR_PID, "creator", "process id of the creator"),
    Field("created_ns", CREATED_NS, "creator", "CLOCK_REALTIME ns at creation"),
    Field("producer_position", PRODUCER_POSITION, "producer", "records published"),
    Field("consumer_position", CONSUMER_POSITION, "consumer", "records released"),
    Field("cached_consumer", CACHED_CONSUMER, "producer", "producer's copy of the consumer"),
    Field("cached_producer", CACHED_PRODUCER, "consumer", "consumer's copy of the producer"),
    Field("full", FULL, "producer", "claims that found the ring full"),
    Field("drops", DROPS, "producer", "records discarded by the drop policy"),
    Field("empty_polls", EMPTY_POLLS, "consumer", "polls that found nothing"),
    Field("batches", BATCHES, "consumer", "releases of 1..N records"),
)

#: The counters an observer reports, by name -> header word.
COUNTERS: dict[str, int] = {f.name: f.word for f in FIELDS if f.name in
                            ("full", "drops", "empty_polls", "batches")}


def is_power_of_two(n: int) -> bool:
    return n > 0 and (n & (n - 1)) == 0


def check_geometry(capacity: int, slot_size: int) -> None:
    """Raise ``ValueError`` naming the problem unless ``capacity`` and ``slot_size`` are usable."""
    if not isinstance(capacity, int) or not is_power_of_two(capacity) or capacity < 2:
        raise ValueError(f"capacity must be a power of two >= 2, got {capacity!r}")
    if not isinstance(slot_size, int) or slot_size < MIN_SLOT_SIZE or slot_size % WORD_BYTES:
        raise ValueError(f"slot_size must be a multiple of {WORD_BYTES} bytes and at least "
                         f"{MIN_SLOT_SIZE} (an 8-byte sequence word + payload), got {slot_size!r}")
    if total_size(capacity, slot_size) > MAX_TOTAL_BYTES:
        raise ValueError(f"a ring of {capacity} x {slot_size} bytes exceeds {MAX_TOTAL_BYTES} bytes")


def total_size(capacity: int, slot_size: int) -> int:
    """Bytes of the shared-memory object: header plus slots."""
    return HEADER_SIZE_BYTES + capacity * slot_size


def slot_offset(k: int, slot_size: int) -> int:
    """Byte offset of slot ``k`` from the start of the object."""
    return HEADER_SIZE_BYTES + k * slot_size


def payload_size(slot_size: int) -> int:
    """Payload bytes per slot (the slot minus its sequence word)."""
    return slot_size - SEQ_BYTES
