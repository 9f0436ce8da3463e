"""A pipeline's counters: one int64 array in shared memory, read by an observer without locks.

Layout: a 128-byte header line, then one section per stage, each starting on a 128-byte line
of its own (so a stage's writes never share a line with another stage's)::

    word 0   magic "tpcount1"      written once by the creator, last
    word 1   total words
    word 2   layout check: a hash of the section and counter names, so an observer built
             from other names is refused instead of mislabelling numbers
    word 3   creator pid
    line k   section k: the words of its IntEnum, in order

Each section's words are written by exactly one stage (the ``control`` section by the
pipeline's owner: stop, kill switch; the kill switch's words also by whoever throws it:
``tickpath kill``, and the strategy stage's risk kernels when a loss limit or a storm of
venue rejects trips it), as plain aligned 8-byte stores, so a reader sees each
value whole; the values are read one after another, not as one snapshot. Labels live here, in
Python: the sections are named ``IntEnum`` classes (:data:`PIPELINE_SECTIONS`).
"""

from __future__ import annotations

import enum
import hashlib
import mmap
import os
from collections.abc import Mapping
from pathlib import Path

import numpy as np

from ..ring.mapping import unmap
from ..risk.layout import KILL_NOTE_WORD, KILL_NS_WORD, KILL_WORD

DIRECTORY = Path("/dev/shm")
MAGIC = int.from_bytes(b"tpcount1", "little")
LINE_WORDS = 16  # 128 bytes
_HEADER_WORDS = LINE_WORDS


class Control(enum.IntEnum):
    """Written by the pipeline's owner, read by every stage."""

    STOP = 0  # 1: every stage leaves its loop at its next check
    KILL = KILL_WORD  # kill switch: 0 off, else the risk.KillReason; every order refused
    STARTED_NS = 2  # CLOCK_REALTIME when the stages were started
    GO = 3  # 1: the stages are ready, the venue may publish
    KILL_NS = KILL_NS_WORD  # CLOCK_REALTIME when the kill switch was thrown
    KILL_NOTE0 = KILL_NOTE_WORD  # 32 bytes of ASCII: a note on why (tickpath kill --reason)
    KILL_NOTE1 = KILL_NOTE_WORD + 1
    KILL_NOTE2 = KILL_NOTE_WORD + 2
    KILL_NOTE3 = KILL_NOTE_WORD + 3


class Agent(enum.IntEnum):
    """Words every stage section begins with (tickpath.engine.agent writes them)."""

    STATE = 0  # AgentState
    WORK_CYCLES = 1  # duty cycles that did work
    IDLE_CYCLES = 2  # duty cycles that found none (the idle strategy ran)
    BEAT_NS = 3  # CLOCK_REALTIME of the last return to the stage's owner


def _stage(name: str, extra: list[str]) -> type[enum.IntEnum]:
    members = [m.name for m in Agent] + extra
    return enum.IntEnum(name, {m: i for i, m in enumerate(members)})  # type: ignore[return-value]


#: the feed stage: receive -> sequence -> decode -> books -> ring
FeedCounter = _stage("FeedCounter", [
    "PACKETS", "BYTES", "MESSAGES", "GAPS", "GAP_MESSAGES", "DUPLICATE_PACKETS", "MALFORMED",
    "BOOK_REJECTS", "PUBLISHED", "RING_FULL", "ENDED", "TRUNCATED", "KERNEL_DROPS",
    # MoldUDP64 gap recovery: BOOKS_STATE 0 exact, 1 recovering, 2 stale (needs a snapshot)
    "BOOKS_STATE", "GAPS_REPAIRED", "GAPS_GIVEN_UP", "MESSAGES_REQUESTED", "MESSAGES_RECEIVED",
    "LAST_RECOVERY_NS",
    # new MoldUDP64 sessions followed (venue restarts); 1 while the feed has gone silent
    "SESSIONS", "SILENT"])
#: the strategy stage: ring -> strategy -> risk -> order out
StrategyCounter = _stage("StrategyCounter", [
    "RECORDS", "DECISIONS", "ORDERS", "REJECTS", "SEND_ERRORS", "ROWS", "RING_DEPTH",
    "FILLS", "VENUE_REJECTS", "VENUE_MESSAGES", "RECONNECTS", "GROSS_POSITION", "PNL"])
#: the venue (simulator + publisher): what was sent
VenueCounter = _stage("VenueCounter", ["MESSAGES", "PACKETS", "DONE", "ORDERS_IN",
                                       "EXECUTIONS", "CLIENT_REJECTS", "SESSIONS"])

#: the pipeline's sections, in order (the risk section's names come from tickpath.risk)
PIPELINE_SECTIONS: dict[str, type[enum.IntEnum]] = {}


def pipeline_sections() -> dict[str, type[enum.IntEnum]]:
    """Section name -> counter names, for a pipeline (control, venue, feed, strategy, risk)."""
    if not PIPELINE_SECTIONS:
        from ..risk import Reject

        PIPELINE_SECTIONS.update(control=Control, venue=VenueCounter, feed=FeedCounter,
                                 strategy=StrategyCounter, risk=Reject)
    return PIPELINE_SECTIONS


def _layout(sections: Mapping[str, type[enum.IntEnum]]) -> tuple[dict[str, int], int, int]:
    offsets: dict[str, int] = {}
    at = _HEADER_WORDS
    names = []
    for name, labels in sections.items():
        offsets[name] = at
        n = len(labels)
        at += -(-max(n, 1) // LINE_WORDS) * LINE_WORDS
        names.append(name + ":" + ",".join(m.name for m in labels))
    digest = hashlib.blake2b("|".join(names).encode(), digest_size=7).digest()
    return offsets, at, int.from_bytes(digest, "little")


class Counters:
    """The shared-memory counters of one pipeline: ``create`` (the owner) or ``attach``
    (stages, observers), then ``section(name)`` for a stage's int64 words."""

    def __init__(self, name: str, path: Path, mm: mmap.mmap,
                 sections: Mapping[str, type[enum.IntEnum]], created: bool) -> None:
        self.name, self.path, self._mm, self.created = name, path, mm, created
        self.sections = dict(sections)
        self.offsets, self.total, self.check = _layout(sections)
        self.words = np.frombuffer(mm, np.int64, self.total)

    @classmethod
    def create(cls, name: str, sections: Mapping[str, type[enum.IntEnum]] | None = None, *,
               directory: Path = DIRECTORY) -> Counters:
        """Create ``/dev/shm/<name>`` (exclusively: a file left by a dead run must be
        unlinked first) with one section per entry of ``sections``."""
        sections = pipeline_sections() if sections is None else sections
        _, total, check = _layout(sections)
        path = Path(directory) / name
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.ftruncate(fd, total * 8)
            mm = mmap.mmap(fd, total * 8)
        finally:
            os.close(fd)
        c = cls(name, path, mm, sections, True)
        c.words[1], c.words[2], c.words[3] = total, check, os.getpid()
        c.words[0] = MAGIC  # last: an attacher that sees it sees a whole header
        return c

    @classmethod
    def attach(cls, name: str, sections: Mapping[str, type[enum.IntEnum]] | None = None, *,
               readonly: bool = False, directory: Path = DIRECTORY) -> Counters:
        """Map an existing counters file; refuses one laid out from other names."""
        sections = pipeline_sections() if sections is None else sections
        _, total, check = _layout(sections)
        path = Path(directory) / name
        fd = os.open(path, os.O_RDONLY if readonly else os.O_RDWR)
        try:
            size = os.fstat(fd).st_size
            if size != total * 8:
                raise ValueError(f"counters {name!r}: file is {size} bytes, this layout needs "
                                 f"{total * 8}: made by another version of tickpath?")
            mm = mmap.mmap(fd, size, prot=mmap.PROT_READ if readonly else
                           mmap.PROT_READ | mmap.PROT_WRITE)
        finally:
            os.close(fd)
        c = cls(name, path, mm, sections, False)
        if int(c.words[0]) != MAGIC or int(c.words[2]) != check:
            raise ValueError(f"counters {name!r}: not a counters file of this layout (magic or "
                             f"names differ); unlink it or use the same tickpath version")
        return c

    def section(self, name: str) -> np.ndarray:
        """The int64 words of section ``name`` (a view of the shared memory)."""
        if name not in self.offsets:
            raise KeyError(f"no counter section {name!r}; have {', '.join(self.offsets)}")
        at = self.offsets[name]
        return self.words[at:at + len(self.sections[name])]

    def snapshot(self) -> dict[str, dict[str, int]]:
        """Every counter by section and name (read without writing)."""
        out: dict[str, dict[str, int]] = {}
        for name, labels in self.sections.items():
            w = self.section(name)
            out[name] = {m.name.lower(): int(w[m]) for m in labels}
        return out

    def close(self) -> None:
        self.words = None  # type: ignore[assignment]
        unmap(self._mm)

    def unlink(self) -> None:
        try:
            self.path.unlink()
        except FileNotFoundError:
            pass

    def __enter__(self) -> Counters:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
        if self.created:
            self.unlink()


def create_array(name: str, rows: int, cols: int) -> tuple[mmap.mmap, np.ndarray]:
    """A zeroed ``(rows, cols)`` int64 array in ``/dev/shm/<name>`` (created exclusively), for
    a stage to fill and the owner to read (stamp rows)."""
    fd = os.open(DIRECTORY / name, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.ftruncate(fd, max(1, rows * cols) * 8)
        mm = mmap.mmap(fd, max(1, rows * cols) * 8)
    finally:
        os.close(fd)
    return mm, np.frombuffer(mm, np.int64, rows * cols).reshape(rows, cols)


def attach_array(name: str, cols: int) -> tuple[mmap.mmap, np.ndarray]:
    """Map the array :func:`create_array` made, as ``(rows, cols)`` int64."""
    fd = os.open(DIRECTORY / name, os.O_RDWR)
    try:
        size = os.fstat(fd).st_size
        mm = mmap.mmap(fd, size)
    finally:
        os.close(fd)
    rows = size // (8 * cols)
    return mm, np.frombuffer(mm, np.int64, rows * cols).reshape(rows, cols)
