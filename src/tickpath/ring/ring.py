"""``SpscRing``: the owner of one single-producer single-consumer ring in shared memory.

The owner is plain Python: it creates or attaches the shared-memory object, checks its
header, hands numpy views of it to the compiled stages (``ring.header`` and ``ring.words`` are
what the kernels of :mod:`tickpath.ring.spsc` take), reads the counters for an observer, and
turns the kernels' status codes into exceptions for callers that use it from Python.

The object is a file under ``/dev/shm`` (``shm_open`` does the same), so it is the same
object that :class:`multiprocessing.shared_memory.SharedMemory` would open by that name, and
``ls -l /dev/shm`` shows it. It is mapped with ``MAP_POPULATE`` so the page faults happen at
start-up, not on the first records. Unlike ``SharedMemory`` on Python 3.11 it involves no
resource tracker, which would unlink a ring when any process that attached it exits: the
creator decides when the ring goes away (:meth:`SpscRing.unlink`).

::

    producer process                               consumer process
    ring = SpscRing.create("md", 1024, 64)         ring = SpscRing.attach("md")
    stage_loop(ring.header, ring.words, ...)       stage_loop(ring.header, ring.words, ...)
    ...                                            ...
    ring.close(); ring.unlink()                    ring.close()

    observer:  SpscRing.attach("md", readonly=True).counters()
"""

from __future__ import annotations

import mmap
import os
import time
from pathlib import Path

import numpy as np

from . import layout as L
from . import spsc
from .mapping import unmap
from .wait import wait_strategy

DEFAULT_DIRECTORY = Path("/dev/shm")
#: What the consumer watches unless told otherwise (the faster of the two, see docs/rings.md).
DEFAULT_WAIT_ON = "slot"


class RingError(Exception):
    """A ring that cannot be created or attached as asked."""


class RingLayoutError(RingError, ValueError):
    """The shared-memory object is not a ring this code can use (magic, version, sizes)."""


class RingTimeout(RingError, TimeoutError):
    """A blocking operation found no room (or no record) before its timeout."""


def _check_name(name: str) -> str:
    if not isinstance(name, str) or not name or "/" in name or "\0" in name or len(name) > 255:
        raise ValueError(f"ring name must be a non-empty file name without '/', got {name!r}")
    return name


class SpscRing:
    """One single-producer single-consumer ring mapped into this process.

    Build it with :meth:`create` or :meth:`attach`. Exactly one process (or thread) may act
    as the producer and one as the consumer; any number may observe.
    """

    def __init__(self, name: str, path: Path, mm: mmap.mmap, created: bool, readonly: bool):
        self.name = name
        self.path = path
        self.created = created
        self.readonly = readonly
        self._mm: mmap.mmap | None = mm
        self.header = np.frombuffer(mm, dtype=np.int64, count=L.HEADER_WORDS)
        self.capacity = int(self.header[L.CAPACITY])
        self.slot_size = int(self.header[L.SLOT_SIZE])
        self.slot_words = self.slot_size // L.WORD_BYTES
        self.words = np.frombuffer(mm, dtype=np.int64, count=self.capacity * self.slot_words,
                                   offset=L.HEADER_SIZE_BYTES)

    # ------------------------------------------------------------------ construction

    @classmethod
    def create(cls, name: str, capacity: int, slot_size: int, *, policy: str = "block",
               wait_on: str = DEFAULT_WAIT_ON, directory: str | os.PathLike = DEFAULT_DIRECTORY
               ) -> SpscRing:
        """Create the ring ``name``: ``capacity`` slots (a power of two) of ``slot_size``
        bytes (a multiple of 8, the first 8 being the slot's sequence word).

        ``policy`` is what the producer's :func:`~tickpath.ring.spsc.claim` does when the
        ring is full: ``"block"`` (wait) or ``"drop"`` (count and drop). ``wait_on`` is what
        the consumer's :func:`~tickpath.ring.spsc.poll` watches: ``"slot"`` (each slot's
        sequence word; the default, one cache line per record) or ``"cursor"`` (the
        producer's position). Raises ``FileExistsError`` when the name is taken.
        """
        _check_name(name)
        L.check_geometry(capacity, slot_size)
        if policy not in L.POLICIES:
            raise ValueError(f"policy must be one of {sorted(L.POLICIES)}, got {policy!r}")
        if wait_on not in L.WAIT_ON_MODES:
            raise ValueError(f"wait_on must be one of {sorted(L.WAIT_ON_MODES)}, got {wait_on!r}")
        path = Path(directory) / name
        size = L.total_size(capacity, slot_size)
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            raise FileExistsError(f"ring {name!r} already exists at {path}: attach it, or "
                                  "unlink it first if it is left over from a dead run") from None
        try:
            os.ftruncate(fd, size)
            mm = mmap.mmap(fd, size, flags=mmap.MAP_SHARED | getattr(mmap, "MAP_POPULATE", 0))
        except BaseException:
            os.close(fd)
            path.unlink(missing_ok=True)
            raise
        os.close(fd)
        hdr = np.frombuffer(mm, dtype=np.int64, count=L.HEADER_WORDS)
        hdr[L.VERSION] = L.VERSION_VALUE
        hdr[L.CAPACITY] = capacity
        hdr[L.SLOT_SIZE] = slot_size
        hdr[L.SLOT_WORDS] = slot_size // L.WORD_BYTES
        hdr[L.MASK] = capacity - 1
        hdr[L.HEADER_SIZE] = L.HEADER_SIZE_BYTES
        hdr[L.TOTAL_SIZE] = size
        hdr[L.POLICY] = L.POLICIES[policy]
        hdr[L.WAIT_ON] = L.WAIT_ON_MODES[wait_on]
        hdr[L.CREATOR_PID] = os.getpid()
        hdr[L.CREATED_NS] = time.time_ns()
        hdr[L.MAGIC] = L.MAGIC_VALUE  # last: an attacher that sees it sees the rest
        del hdr
        return cls(name, path, mm, created=True, readonly=False)

    @classmethod
    def attach(cls, name: str, *, capacity: int | None = None, slot_size: int | None = None,
               readonly: bool = False, directory: str | os.PathLike = DEFAULT_DIRECTORY
               ) -> SpscRing:
        """Map the existing ring ``name`` and check its header.

        ``capacity`` / ``slot_size``, when given, must match the ring's. ``readonly=True``
        maps it read-only, for an observer that only reads counters. Raises
        ``FileNotFoundError`` when there is no such ring, :class:`RingLayoutError` when the
        object is not a ring of this layout version or its sizes disagree.
        """
        _check_name(name)
        path = Path(directory) / name
        try:
            fd = os.open(path, os.O_RDONLY if readonly else os.O_RDWR)
        except FileNotFoundError:
            raise FileNotFoundError(f"no ring {name!r} at {path}") from None
        try:
            size = os.fstat(fd).st_size
            if size < L.HEADER_SIZE_BYTES:
                raise RingLayoutError(f"{path} holds {size} bytes, fewer than a ring header "
                                      f"({L.HEADER_SIZE_BYTES}): not a ring")
            prot = mmap.PROT_READ if readonly else mmap.PROT_READ | mmap.PROT_WRITE
            mm = mmap.mmap(fd, size, flags=mmap.MAP_SHARED | getattr(mmap, "MAP_POPULATE", 0),
                           prot=prot)
        finally:
            os.close(fd)
        try:  # checked on a copy of the header, so nothing holds the mapping if it fails
            _check_header(path, np.frombuffer(mm[:L.HEADER_SIZE_BYTES], dtype=np.int64), size,
                          capacity, slot_size)
        except BaseException:
            mm.close()
            raise
        return cls(name, path, mm, created=False, readonly=readonly)

    # ------------------------------------------------------------------ views

    @property
    def policy(self) -> str:
        return {v: k for k, v in L.POLICIES.items()}[int(self.header[L.POLICY])]

    @property
    def wait_on(self) -> str:
        return {v: k for k, v in L.WAIT_ON_MODES.items()}[int(self.header[L.WAIT_ON])]

    @property
    def payload_size(self) -> int:
        return L.payload_size(self.slot_size)

    @property
    def slots(self) -> np.ndarray:
        """All slots as bytes, shape ``(capacity, slot_size)`` (sequence word included)."""
        return self.words.view(np.uint8).reshape(self.capacity, self.slot_size)

    @property
    def slot_table(self) -> np.ndarray:
        """All slots as int64 words, shape ``(capacity, slot_words)``; column 0 is the
        sequence word, columns 1.. the payload."""
        return self.words.reshape(self.capacity, self.slot_words)

    def records(self, dtype: np.dtype | str) -> np.ndarray:
        """The slots' payloads as an array of ``dtype`` records, one per slot (``capacity``,
        strided by ``slot_size``); the record lives at byte 8 of its slot."""
        dt = np.dtype(dtype)
        if dt.itemsize > self.payload_size:
            raise ValueError(f"a {dt.itemsize}-byte record does not fit a slot's "
                             f"{self.payload_size}-byte payload")
        return np.ndarray((self.capacity,), dtype=dt, buffer=self.words,
                          offset=L.SEQ_BYTES, strides=(self.slot_size,))

    # ------------------------------------------------------------------ observing

    def counters(self) -> dict[str, int]:
        """Positions, depth and counters, read without writing anything.

        Each value is one aligned 8-byte read, so it is never torn; the values are read one
        after another, so they are not one consistent snapshot (depth may be off by records in
        flight).
        """
        h = self.header
        producer = int(h[L.PRODUCER_POSITION])
        consumer = int(h[L.CONSUMER_POSITION])
        out = {"producer_position": producer, "consumer_position": consumer,
               "depth": producer - consumer}
        for name, word in L.COUNTERS.items():
            out[name] = int(h[word])
        return out

    def describe(self) -> dict[str, object]:
        """The header's fixed part, by name."""
        h = self.header
        out: dict[str, object] = {f.name: int(h[f.word]) for f in L.FIELDS if f.line == 0}
        out["policy"] = self.policy
        out["wait_on"] = self.wait_on
        return out

    # ------------------------------------------------------------------ Python-side use

    def offer(self, payload, *, timeout: float | None = None, wait: str = "spin_yield"
              ) -> int | None:
        """Publish one record from Python (a call into compiled code per record: for tools
        and tests, not hot paths). ``payload`` is a sequence of int64 words or bytes (padded
        to whole words), at most ``payload_size`` bytes.

        Returns the sequence number, or ``None`` when the drop policy dropped it (counted).
        Raises :class:`RingTimeout` when the block policy found no room within ``timeout``
        seconds (``None``: wait forever).
        """
        self._writable("offer")
        words = self._payload_words(payload)
        ws = wait_strategy(wait)
        timeout_ns = -1 if timeout is None else int(timeout * 1e9)
        seq = int(spsc.offer(self.header, self.words, words, ws.code, ws.params, timeout_ns))
        if seq == spsc.FULL_STATUS:
            return None
        if seq == spsc.TIMEOUT:
            raise RingTimeout(f"ring {self.name!r} stayed full for {timeout} s "
                              f"(consumer at {self.counters()['consumer_position']})")
        if seq < 0:
            raise RingError(f"ring {self.name!r}: {spsc.STATUS_NAMES.get(seq, seq)}")
        return seq

    def consume(self, max_n: int = 1, *, timeout: float | None = 0.0, wait: str = "spin_yield"
                ) -> np.ndarray:
        """Take up to ``max_n`` records from Python: an ``(n, slot_words - 1)`` int64 array of
        their payload words (``n`` may be 0). ``timeout`` seconds to wait for the first
        record: 0 polls once, ``None`` waits forever."""
        self._writable("consume")
        out = np.empty((max_n, self.slot_words - 1), dtype=np.int64)
        if timeout != 0.0:
            ws = wait_strategy(wait)
            timeout_ns = -1 if timeout is None else int(timeout * 1e9)
            spsc.wait_poll(self.header, self.words, max_n, ws.code, ws.params, timeout_ns)
        n = int(spsc.consume(self.header, self.words, out, max_n))
        return out[:n]

    def _writable(self, what: str) -> None:
        if self.closed:
            raise RingError(f"ring {self.name!r} is closed")
        if self.readonly:
            raise RingError(f"ring {self.name!r} is attached read-only (an observer): "
                            f"cannot {what}")

    def _payload_words(self, payload) -> np.ndarray:
        if isinstance(payload, bytes | bytearray | memoryview):
            raw = bytes(payload)
            raw += b"\0" * (-len(raw) % L.WORD_BYTES)
            words = np.frombuffer(raw, dtype=np.int64).copy()
        else:
            words = np.array(payload, dtype=np.int64).reshape(-1)
        if words.shape[0] > self.slot_words - 1:
            raise ValueError(f"payload of {words.shape[0] * 8} bytes exceeds the slot's "
                             f"{self.payload_size}")
        return words

    # ------------------------------------------------------------------ lifetime

    def close(self) -> None:
        """Unmap the ring from this process (the object stays; see :meth:`unlink`). Views
        handed out earlier keep the mapping alive until they are gone."""
        if self._mm is None:
            return
        mm, self._mm = self._mm, None
        self.header = self.words = None  # type: ignore[assignment]
        unmap(mm)

    def unlink(self) -> None:
        """Remove the ring's name; processes that have it mapped keep using it."""
        self.path.unlink(missing_ok=True)

    @property
    def closed(self) -> bool:
        return self._mm is None

    def __enter__(self) -> SpscRing:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def __repr__(self) -> str:
        if self.closed:
            return f"SpscRing({self.name!r}, closed)"
        return (f"SpscRing({self.name!r}, capacity={self.capacity}, slot_size={self.slot_size}, "
                f"policy={self.policy!r}, wait_on={self.wait_on!r})")


def _check_header(path: Path, h: np.ndarray, size: int, capacity: int | None,
                  slot_size: int | None) -> None:
    magic = int(h[L.MAGIC])
    if magic == 0:
        raise RingLayoutError(f"{path} has no ring magic yet (0): not a ring, or its creator "
                              "has not finished creating it")
    if magic != L.MAGIC_VALUE:
        raise RingLayoutError(f"{path}: wrong magic {magic:#018x} (a ring has "
                              f"{L.MAGIC_VALUE:#018x}, {b'tickring'!r}): not a tickpath ring")
    version = int(h[L.VERSION])
    if version != L.VERSION_VALUE:
        raise RingLayoutError(f"{path}: ring layout version {version}, this code reads version "
                              f"{L.VERSION_VALUE}")
    cap, ss = int(h[L.CAPACITY]), int(h[L.SLOT_SIZE])
    try:
        L.check_geometry(cap, ss)
    except ValueError as e:
        raise RingLayoutError(f"{path}: corrupt header: {e}") from None
    consistent = (int(h[L.MASK]) == cap - 1 and int(h[L.SLOT_WORDS]) * L.WORD_BYTES == ss
                  and int(h[L.HEADER_SIZE]) == L.HEADER_SIZE_BYTES
                  and int(h[L.TOTAL_SIZE]) == L.total_size(cap, ss)
                  and int(h[L.POLICY]) in L.POLICIES.values()
                  and int(h[L.WAIT_ON]) in L.WAIT_ON_MODES.values())
    if not consistent:
        raise RingLayoutError(f"{path}: corrupt header: derived fields disagree with "
                              f"capacity {cap} and slot size {ss}")
    if size != L.total_size(cap, ss):
        raise RingLayoutError(f"{path}: size mismatch: the file holds {size} bytes, the header "
                              f"says {L.total_size(cap, ss)} ({cap} slots x {ss} bytes + "
                              f"{L.HEADER_SIZE_BYTES})")
    if capacity is not None and capacity != cap:
        raise RingLayoutError(f"{path}: size mismatch: capacity {cap}, expected {capacity}")
    if slot_size is not None and slot_size != ss:
        raise RingLayoutError(f"{path}: size mismatch: slot size {ss}, expected {slot_size}")
