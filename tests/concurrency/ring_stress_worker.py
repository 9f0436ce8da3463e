"""One end of the ring stress test, run as its own process by test_ring_stress.py.

    python ring_stress_worker.py producer|consumer RING RECORDS DEADLINE_NS CORE SEED

Prints one JSON line with what it did and saw. The producer writes records with ids 0, 1, 2
... in claims of 1-8 slots; each payload is the id, words derived from it, and a checksum
word, so a record read while being overwritten (torn) shows. The consumer takes batches of
1-64 and checks every record: none lost, duplicated, reordered or torn. When the producer is
done (all records, or the deadline), it publishes an end marker (id -1) carrying how many ids
it offered. Both ends wait with the ``spin_yield`` strategy, so the test also makes progress
on one core.
"""

from __future__ import annotations

import json
import os
import sys

import numpy as np
from numba import njit

from tickpath.ring import SpscRing, spsc
from tickpath.ring.wait import nanosleep, wait_strategy
from tickpath.telemetry.nclock import monotonic_ns

END = -1
CHECK = 0x5EED5EED5EED5EED
# consumer stats
RECEIVED, GAPS, DUPLICATES, REORDERED, TORN, END_SEEN, OFFERED, STALLED, PAUSES = range(9)


@njit(nogil=True, cache=True, _nrt=False)
def _next(x):  # xorshift64
    x ^= (x << 13)
    x ^= (x >> 7) & 0x01FFFFFFFFFFFFFF
    x ^= (x << 17)
    return x


@njit(nogil=True, cache=True, _nrt=False)
def _mix(rid, k):
    return (rid + 1) * (0x9E3779B97F4A7C15 + 2 * k) ^ (rid << (k + 3))


@njit(nogil=True, cache=True, _nrt=False)
def _write(words, base, rid, pw):
    words[base] = rid
    check = rid ^ CHECK
    for k in range(1, pw - 1):
        v = _mix(rid, k)
        words[base + k] = v
        check ^= v
    words[base + pw - 1] = check


@njit(nogil=True, cache=True, _nrt=False)
def produce(hdr, words, total, deadline, code, params, seed, pw):
    rng = seed
    rid = 0
    while rid < total:
        rng = _next(rng)
        n = min(1 + (rng & 7), total - rid)
        seq = spsc.claim(hdr, n, code, params, 100_000_000)
        if seq == spsc.TIMEOUT:
            if monotonic_ns() > deadline:
                break
            continue
        if seq == spsc.FULL_STATUS:  # drop policy: counted in the ring's drops
            rid += n
            continue
        for k in range(n):
            _write(words, spsc.slot_base(hdr, seq + k) + 1, rid + k, pw)
        spsc.publish(hdr, words, seq, n)
        rid += n
        if (rid & 0xFFFF) < n and monotonic_ns() > deadline:
            break
    # the end marker must get through whatever the policy: wait for room
    seq = spsc.try_claim(hdr, 1)
    rounds = 0
    while seq < 0:
        nanosleep(10_000)
        rounds += 1
        if rounds > 200_000:  # 2 s or more with a full ring: the consumer is gone
            return rid, False
        seq = spsc.try_claim(hdr, 1)
    base = spsc.slot_base(hdr, seq) + 1
    words[base] = END
    words[base + 1] = rid
    spsc.publish(hdr, words, seq, 1)
    return rid, True


@njit(nogil=True, cache=True, _nrt=False)
def consume(hdr, words, deadline, code, params, seed, pw, stats):
    rng = seed
    expected = 0
    while True:
        rng = _next(rng)
        n = spsc.wait_poll(hdr, words, 1 + (rng & 63), code, params, 2_000_000_000)
        if n == 0:
            stats[STALLED] = 1
            return
        seq = spsc.consumer_position(hdr)
        for j in range(n):
            base = spsc.slot_base(hdr, seq + j) + 1
            rid = words[base]
            if rid == END:
                stats[END_SEEN] = 1
                stats[OFFERED] = words[base + 1]
                if stats[OFFERED] > expected:  # ids dropped after the last one received
                    stats[GAPS] += stats[OFFERED] - expected
                spsc.release(hdr, j + 1)
                return
            check = rid ^ CHECK
            torn = False
            for k in range(1, pw - 1):
                v = words[base + k]
                check ^= v
                if v != _mix(rid, k):
                    torn = True
            if torn or check != words[base + pw - 1]:
                stats[TORN] += 1
            if rid > expected:
                stats[GAPS] += rid - expected
            elif rid == expected - 1:
                stats[DUPLICATES] += 1
            elif rid < expected:
                stats[REORDERED] += 1
            expected = rid + 1
            stats[RECEIVED] += 1
        spsc.release(hdr, n)
        # now and then fall behind, so the producer meets a full ring
        if (stats[RECEIVED] & 0x3FFFF) < n:
            stats[PAUSES] += 1
            nanosleep(300_000)
        if monotonic_ns() > deadline:
            stats[STALLED] = 2
            return


def main() -> None:
    role, name, records, deadline, core, seed = sys.argv[1:7]
    if int(core) >= 0:
        os.sched_setaffinity(0, {int(core)})
    ring = SpscRing.attach(name)
    wait = wait_strategy("spin_yield", spins=2000)
    pw = ring.slot_words - 1
    if role == "producer":
        offered, ended = produce(ring.header, ring.words, int(records), int(deadline),
                                 wait.code, wait.params, int(seed), pw)
        out = {"role": role, "offered": int(offered), "end_marker": bool(ended)}
    else:
        stats = np.zeros(9, np.int64)
        consume(ring.header, ring.words, int(deadline) + 10_000_000_000, wait.code,
                wait.params, int(seed), pw, stats)
        names = ["received", "gaps", "duplicates", "reordered", "torn", "end_seen", "offered",
                 "stalled", "pauses"]
        out = {"role": role, **{k: int(v) for k, v in zip(names, stats, strict=True)}}
    out["counters"] = ring.counters()
    ring.close()
    print(json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
