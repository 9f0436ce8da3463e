"""The hand-off from a feed handler's compiled step to the strategy (the "tap"), shared by
every feed: the SPSC ring's wait words and the kernel that publishes one strategy record.

A feed with a tap carries three arrays: the ring's header and words
(:class:`tickpath.ring.SpscRing`) and its wait words (:data:`TAP_WAIT_WORDS` int64: the wait
strategy's params, then its code and the claim timeout; :func:`tap_wait` builds them). A feed
without one carries three 0-length arrays of the same types (:data:`NO_TAP`): the ITCH step
skips the hand-off with one compare of a length; the MDP3 step also carries a tuple whose
length says it, so that its feed without a ring compiles to a step without the hand-off.

:func:`publish_record` claims a slot, writes one :mod:`tickpath.strategy.records` record with
the stamps so far, stamps ``enqueued`` and publishes it. A ring that stays full (drop policy,
or the block policy's bounded wait ran out) drops the record and counts it. It counts into
the feed's own int64 array, at the words :data:`TAP_PUBLISHED` and :data:`TAP_FULL`, which
every feed's counter array reserves for it (:mod:`tickpath.feed.itch.step`'s ``feed``,
:mod:`tickpath.feed.mdp3.layout`'s ``tapc``).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ..ring import layout as RL
from ..ring import spsc
from ..ring.wait import N_PARAMS, WaitStrategy, wait_strategy
from ..strategy import records as R
from ..telemetry.nclock import realtime_ns

#: words of a feed's counter array that :func:`publish_record` counts into
TAP_PUBLISHED = 1  # records handed to the ring
TAP_FULL = 2  # records not handed on: the ring stayed full (drop policy, or block timed out)

# tap_wait: the wait strategy's params (ring.wait PARAM_*), then these
TAP_WAIT_CODE = N_PARAMS
TAP_TIMEOUT_NS = N_PARAMS + 1  # how long a full ring may block the feed (ns, >= 0: bounded,
#                                 so the feed gets back to its stop word)
TAP_WAIT_WORDS = N_PARAMS + 2

_EMPTY = np.zeros(0, np.int64)
#: no hand-off ring: the step checks one length and skips it
NO_TAP = (_EMPTY, _EMPTY, _EMPTY)


def scratch_tap() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A 2-slot ring (drop policy) in this process's memory, and its wait words: for a feed's
    scratch state (compiling ahead for a ring's exact types), which nothing reads."""
    slot_words = R.SLOT_SIZE // RL.WORD_BYTES
    hdr = np.zeros(RL.HEADER_WORDS, np.int64)
    hdr[RL.VERSION] = RL.VERSION_VALUE
    hdr[RL.CAPACITY] = 2
    hdr[RL.SLOT_SIZE] = R.SLOT_SIZE
    hdr[RL.SLOT_WORDS] = slot_words
    hdr[RL.MASK] = 1
    hdr[RL.HEADER_SIZE] = RL.HEADER_SIZE_BYTES
    hdr[RL.TOTAL_SIZE] = RL.total_size(2, R.SLOT_SIZE)
    hdr[RL.POLICY] = RL.DROP
    hdr[RL.WAIT_ON] = RL.ON_SLOT
    hdr[RL.MAGIC] = RL.MAGIC_VALUE
    return hdr, np.zeros(2 * slot_words, np.int64), tap_wait("noop", 0)


def tap_wait(idle: str | WaitStrategy, timeout_ns: int) -> np.ndarray:
    """The ``tap_wait`` words a feed's step takes: wait strategy params, code, claim timeout
    (>= 0 ns; 0: a few idle rounds, then the record is dropped and counted). ``idle``: a
    strategy name (default parameters) or a configured ``WaitStrategy``."""
    if timeout_ns < 0:  # the claim would wait forever and never see the stop word
        raise ValueError(f"ring claim timeout {timeout_ns} ns: must be >= 0 "
                         f"(ring.block_timeout_us)")
    ws = wait_strategy(idle) if isinstance(idle, str) else idle
    out = np.zeros(TAP_WAIT_WORDS, np.int64)
    out[:ws.params.shape[0]] = ws.params
    out[TAP_WAIT_CODE] = ws.code
    out[TAP_TIMEOUT_NS] = timeout_ns
    return out


@njit(cache=True, nogil=True, _nrt=False)  # the ring kernels are inlined: no refcounting
def publish_record(tap_hdr, tap_words, tap_wait, kind, locate, stock, w2, w3, w4, w5, nev, seq,
                   sent, received, parsed, decoded, booked, counts):
    """Claim a slot, write one record (:mod:`tickpath.strategy.records`: ``w2``..``w5`` are
    payload words 2..5, ``nev`` the events word) and the stamps so far, stamp ``enqueued``
    and publish. Returns True when the record went into the ring (a full ring: counted in
    ``counts[TAP_FULL]``; published: ``counts[TAP_PUBLISHED]``)."""
    seq_slot = spsc.claim(tap_hdr, 1, tap_wait[TAP_WAIT_CODE], tap_wait,
                          tap_wait[TAP_TIMEOUT_NS])
    if seq_slot < 0:
        counts[TAP_FULL] += 1
        return False
    b = spsc.slot_base(tap_hdr, seq_slot) + 1
    tap_words[b + R.LOCATE] = locate
    tap_words[b + R.STOCK] = stock
    tap_words[b + 2] = w2
    tap_words[b + 3] = w3
    tap_words[b + 4] = w4
    tap_words[b + 5] = w5
    tap_words[b + R.EVENTS] = nev
    tap_words[b + R.KIND] = kind
    tap_words[b + R.SEQUENCE] = seq
    s = b + R.STAMP0
    tap_words[s + 0] = sent
    tap_words[s + 1] = received
    tap_words[s + 2] = parsed
    tap_words[s + 3] = decoded
    tap_words[s + 4] = booked
    tap_words[s + 5] = realtime_ns()  # enqueued: the payload is written, publish is next
    spsc.publish(tap_hdr, tap_words, seq_slot, 1)
    counts[TAP_PUBLISHED] += 1
    return True
