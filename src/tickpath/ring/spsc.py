"""Kernels of the single-producer single-consumer ring: claim/publish, poll/release.

Free ``@njit`` functions over two ``int64`` arrays that view one shared-memory object laid
out by :mod:`tickpath.ring.layout`:

* ``hdr``: the header, ``HEADER_WORDS`` words;
* ``words``: all the slots, ``capacity * slot_words`` words. The record with sequence number
  ``seq`` lives in slot ``seq & mask``, whose sequence word is ``words[slot_base(hdr, seq)]`` and
  whose payload is the ``slot_words - 1`` words after it. A stage usually also holds a
  structured or byte view of the same memory (:meth:`tickpath.ring.SpscRing.slots`) and reads
  and writes payload through that.

Producer (one process or thread only)::

    seq = claim(hdr, n, wait_code, wait_params, timeout_ns)   # or try_claim(hdr, n)
    if seq >= 0:
        ... write the payloads of seq .. seq + n - 1 ...
        publish(hdr, words, seq, n)

Consumer (one process or thread only)::

    n = poll(hdr, words, max_n)          # or wait_poll(...): 0 .. max_n records ready
    seq = consumer_position(hdr)
    ... read the payloads of seq .. seq + n - 1 ...
    release(hdr, n)                      # one store for the whole batch

Each position has exactly one writer (the producer's position, the consumer's position), as
in the LMAX Disruptor: no compare-and-swap, no locked instruction, anywhere. Memory ordering,
in full in docs/rings.md: the producer's payload stores happen before its release store of the
slot's sequence word and of its position; the consumer's acquire load of either happens before
its payload loads; the consumer's payload loads happen before its release store of its own
position; the producer's acquire load of that position happens before it reuses the slot.

Two ways for the consumer to learn that a record is there (the ring's ``WAIT_ON`` word picks
one for :func:`poll`; :func:`poll_cursor` and :func:`poll_slot` are there to call directly):

* ``cursor``: load the producer's position (line 1 of the header). Two cache lines cross
  between the cores per record: the position's and the slot's.
* ``slot``: load the sequence word at the start of the next slot: it is ``seq + 1`` once record
  ``seq`` is published. The word shares its line with the payload, so only one line crosses.
  The producer writes both, always, so the two modes differ only on the consumer side.

Full policy (the ring's ``POLICY`` word, applied by :func:`claim`): ``block`` waits with the
given wait strategy until there is room (or until ``timeout_ns`` passes: ``TIMEOUT``);
``drop`` returns ``FULL`` at once and adds the records to the ``drops`` counter, for a
conflating consumer that prefers fresh data. Either way ``full`` counts the claims that found
no room; nothing is lost without a count or a status. :func:`try_claim` applies no policy and
counts nothing: it is the primitive the others are built on.

Status codes are negative ``int64`` values where a sequence number would be; none of these
functions raises or allocates.

Every kernel is ``inline="always"``: numba pastes it into the calling stage loop (called
instead, each would pass both arrays as exploded structs, a dozen stack pushes per call).
Compile stage loops that use them with ``_nrt=False``: they allocate nothing, and with
reference counting on, each inlined call adds refcount updates of the arrays it takes.
"""

from __future__ import annotations

from numba import njit

from ..telemetry.nclock import monotonic_ns
from .atomics import load_acquire, load_relaxed, store_relaxed, store_release
from .layout import (
    BATCHES,
    CACHED_CONSUMER,
    CACHED_PRODUCER,
    CAPACITY,
    CONSUMER_POSITION,
    DROP,
    DROPS,
    EMPTY_POLLS,
    FULL,
    MASK,
    ON_SLOT,
    POLICY,
    PRODUCER_POSITION,
    SLOT_WORDS,
    WAIT_ON,
)
from .wait import BUSY_SPIN, NOOP, PARAM_SPINS, idle

# Status codes (negative where a sequence number would be)
FULL_STATUS = -1  # no room: dropped (drop policy) or try_claim found the ring full
TIMEOUT = -2  # block policy: no room before the timeout
BAD_COUNT = -3  # asked for fewer than 1 or more than capacity slots

STATUS_NAMES: dict[int, str] = {FULL_STATUS: "full", TIMEOUT: "timeout", BAD_COUNT: "bad count"}

_CLOCK_EVERY = 63  # a spinning waiter reads the clock once in 64 rounds


@njit(nogil=True, cache=True, inline="always")
def _bump(hdr, word, n):
    # a counter with a single writer: relaxed load and store, no locked instruction
    store_relaxed(hdr, word, load_relaxed(hdr, word) + n)


@njit(nogil=True, cache=True, inline="always")
def _expired(code, params, rounds, t0, timeout_ns):
    if timeout_ns < 0:
        return False
    spinning = code == BUSY_SPIN or code == NOOP or rounds < params[PARAM_SPINS]
    if spinning and (rounds & _CLOCK_EVERY) != 0:
        return False
    return monotonic_ns() - t0 >= timeout_ns


@njit(nogil=True, cache=True, inline="always")
def slot_base(hdr, seq):
    """Index in ``words`` of the sequence word of the slot that holds record ``seq``."""
    return (seq & hdr[MASK]) * hdr[SLOT_WORDS]


# ---------------------------------------------------------------------------------------
# producer


@njit(nogil=True, cache=True, inline="always")
def try_claim(hdr, n):
    """The first sequence number of ``n`` free slots (1 <= n <= capacity), or ``FULL_STATUS``.

    Nothing is reserved: the producer is alone, so the claim is just "there is room". The
    consumer's position is read (acquire) only when the cached copy says there is no room.
    """
    seq = load_relaxed(hdr, PRODUCER_POSITION)
    wrap = seq + n - hdr[CAPACITY]
    if wrap > load_relaxed(hdr, CACHED_CONSUMER):
        consumer = load_acquire(hdr, CONSUMER_POSITION)
        store_relaxed(hdr, CACHED_CONSUMER, consumer)
        if wrap > consumer:
            return FULL_STATUS
    return seq


@njit(nogil=True, cache=True, inline="always")
def claim(hdr, n, wait_code, wait_params, timeout_ns):
    """Claim ``n`` slots under the ring's full policy.

    Returns the first sequence number, or ``FULL_STATUS`` (drop policy: the ``n`` records
    were counted in ``drops``), ``TIMEOUT`` (block policy, ``timeout_ns >= 0`` passed; a
    negative timeout waits forever) or ``BAD_COUNT``. ``full`` counts each claim that found
    no room, once.
    """
    if n < 1 or n > hdr[CAPACITY]:
        return BAD_COUNT
    seq = try_claim(hdr, n)
    if seq >= 0:
        return seq
    _bump(hdr, FULL, 1)
    if hdr[POLICY] == DROP:
        _bump(hdr, DROPS, n)
        return FULL_STATUS
    t0 = monotonic_ns() if timeout_ns >= 0 else 0
    rounds = 0
    while True:
        idle(wait_code, wait_params, rounds)
        seq = try_claim(hdr, n)
        if seq >= 0:
            return seq
        rounds += 1
        if _expired(wait_code, wait_params, rounds, t0, timeout_ns):
            return TIMEOUT


@njit(nogil=True, cache=True, inline="always")
def publish(hdr, words, seq, n):
    """Make records ``seq .. seq + n - 1`` visible: their sequence words, then the position.

    Both are release stores, so every payload store before this call is visible to a
    consumer that sees either.
    """
    mask = hdr[MASK]
    sw = hdr[SLOT_WORDS]
    for s in range(seq, seq + n):
        store_release(words, (s & mask) * sw, s + 1)
    store_release(hdr, PRODUCER_POSITION, seq + n)


@njit(nogil=True, cache=True, inline="always")
def offer(hdr, words, payload, wait_code, wait_params, timeout_ns):
    """Claim one slot, copy ``payload`` (int64 words, at most slot_words - 1) into it, publish.

    Returns the record's sequence number or a status from :func:`claim`.
    """
    seq = claim(hdr, 1, wait_code, wait_params, timeout_ns)
    if seq < 0:
        return seq
    base = slot_base(hdr, seq) + 1
    for k in range(payload.shape[0]):
        words[base + k] = payload[k]
    publish(hdr, words, seq, 1)
    return seq


@njit(nogil=True, cache=True, inline="always")
def producer_position(hdr):
    """Records published so far (the next sequence number), as the producer sees it."""
    return load_relaxed(hdr, PRODUCER_POSITION)


# ---------------------------------------------------------------------------------------
# consumer


@njit(nogil=True, cache=True, inline="always")
def consumer_position(hdr):
    """Sequence number of the first unreleased record, as the consumer sees it."""
    return load_relaxed(hdr, CONSUMER_POSITION)


@njit(nogil=True, cache=True, inline="always")
def poll_cursor(hdr, max_n):
    """Records ready (0 .. ``max_n``), learnt from the producer's position.

    The producer's line is read (acquire) only when the consumer's cached copy of it shows
    fewer than ``max_n`` records: a consumer that is behind does not touch it at all.
    """
    consumer = load_relaxed(hdr, CONSUMER_POSITION)
    ready = load_relaxed(hdr, CACHED_PRODUCER) - consumer
    if ready < max_n:
        producer = load_acquire(hdr, PRODUCER_POSITION)
        ready = producer - consumer
        if ready <= 0:
            _bump(hdr, EMPTY_POLLS, 1)
            return 0
        store_relaxed(hdr, CACHED_PRODUCER, producer)
    return min(ready, max_n)


@njit(nogil=True, cache=True, inline="always")
def poll_slot(hdr, words, max_n):
    """Records ready (0 .. ``max_n``), learnt from the slots' own sequence words."""
    consumer = load_relaxed(hdr, CONSUMER_POSITION)
    mask = hdr[MASK]
    sw = hdr[SLOT_WORDS]
    n = 0
    while n < max_n:
        s = consumer + n
        if load_acquire(words, (s & mask) * sw) != s + 1:
            break
        n += 1
    if n == 0:
        _bump(hdr, EMPTY_POLLS, 1)
    return n


@njit(nogil=True, cache=True, inline="always")
def poll(hdr, words, max_n):
    """Records ready (0 .. ``max_n``) from the consumer's position, by the ring's ``WAIT_ON``."""
    if hdr[WAIT_ON] == ON_SLOT:
        return poll_slot(hdr, words, max_n)
    return poll_cursor(hdr, max_n)


@njit(nogil=True, cache=True, inline="always")
def wait_poll(hdr, words, max_n, wait_code, wait_params, timeout_ns):
    """Like :func:`poll`, idling with the wait strategy until something is ready.

    Returns 0 only when ``timeout_ns >= 0`` passed with nothing ready.
    """
    n = poll(hdr, words, max_n)
    if n > 0:
        return n
    t0 = monotonic_ns() if timeout_ns >= 0 else 0
    rounds = 0
    while True:
        idle(wait_code, wait_params, rounds)
        n = poll(hdr, words, max_n)
        if n > 0:
            return n
        rounds += 1
        if _expired(wait_code, wait_params, rounds, t0, timeout_ns):
            return 0


@njit(nogil=True, cache=True, inline="always")
def release(hdr, n):
    """Hand the ``n`` records after the consumer's position back to the producer (one
    release store for the whole batch)."""
    store_release(hdr, CONSUMER_POSITION, load_relaxed(hdr, CONSUMER_POSITION) + n)
    _bump(hdr, BATCHES, 1)


@njit(nogil=True, cache=True, inline="always")
def consume(hdr, words, out, max_n):
    """Copy up to ``max_n`` ready payloads into the rows of ``out`` (2-D int64, as many
    columns as to copy, at most slot_words - 1) and release them. Returns the count."""
    n = poll(hdr, words, min(max_n, out.shape[0]))
    if n == 0:
        return 0
    seq = load_relaxed(hdr, CONSUMER_POSITION)
    width = out.shape[1]
    for i in range(n):
        base = slot_base(hdr, seq + i) + 1
        for k in range(width):
            out[i, k] = words[base + k]
    release(hdr, n)
    return n
