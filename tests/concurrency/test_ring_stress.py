"""Two processes, one ring: every record arrives once, in order, whole (or is counted dropped).

The producer and consumer are separate processes (tests/concurrency/ring_stress_worker.py),
pinned to different cores when this process may use two. CI runs a bounded count, bounded in
time too; for a long run by hand:

    TICKPATH_STRESS_RECORDS=500000000 TICKPATH_STRESS_SECONDS=1800 \\
        .venv/bin/python -m pytest -q tests/concurrency/test_ring_stress.py

A run that reaches the time bound first checks everything that got through (the producer's
end marker says how many ids it offered) and prints how far it got: it never fails for being
slow. These tests assert behaviour, never time. With ``-s`` each case prints both ends'
reports and the ring's counters.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tickpath.ring import SpscRing

WORKER = Path(__file__).resolve().parent / "ring_stress_worker.py"
RECORDS = int(os.environ.get("TICKPATH_STRESS_RECORDS", "3000000"))
SECONDS = float(os.environ.get("TICKPATH_STRESS_SECONDS", "20"))


def _cores() -> tuple[int, int]:
    allowed = sorted(os.sched_getaffinity(0))
    return (allowed[0], allowed[1]) if len(allowed) >= 2 else (-1, -1)


def _run(name: str, records: int, seed: int) -> tuple[dict, dict]:
    deadline = time.monotonic_ns() + int(SECONDS * 1e9)
    p_core, c_core = _cores()
    args = [sys.executable, str(WORKER)]
    consumer = subprocess.Popen(
        [*args, "consumer", name, str(records), str(deadline), str(c_core), str(seed + 1)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    producer = subprocess.Popen(
        [*args, "producer", name, str(records), str(deadline), str(p_core), str(seed)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    limit = SECONDS + 120  # start-up and compilation on top of the run's own bound
    try:
        p_out, p_err = producer.communicate(timeout=limit)
        c_out, c_err = consumer.communicate(timeout=limit)
    finally:
        for proc in (producer, consumer):
            if proc.poll() is None:
                proc.kill()
                proc.wait()
    assert producer.returncode == 0, p_err[-3000:]
    assert consumer.returncode == 0, c_err[-3000:]
    prod = json.loads(p_out.strip().splitlines()[-1])
    cons = json.loads(c_out.strip().splitlines()[-1])
    # shown with pytest -s: what a long run by hand reports
    print(f"\n{name}: cores {p_core}->{c_core}, producer {prod}, consumer {cons}")
    return prod, cons


@pytest.fixture
def ring_name():
    name = f"tp-stress-{os.getpid()}-{time.monotonic_ns()}"
    yield name
    Path("/dev/shm", name).unlink(missing_ok=True)


@pytest.mark.parametrize("wait_on", ["slot", "cursor"])
def test_block_policy_delivers_every_record_once_in_order(ring_name, wait_on):
    ring = SpscRing.create(ring_name, 256, 64, policy="block", wait_on=wait_on)
    try:
        prod, cons = _run(ring_name, RECORDS, seed=0x1234567 + len(wait_on))
        c = ring.counters()
    finally:
        ring.close()
    assert prod["end_marker"] and cons["end_seen"], (prod, cons)
    assert cons["stalled"] == 0, (prod, cons)
    assert (cons["torn"], cons["duplicates"], cons["reordered"], cons["gaps"]) == (0, 0, 0, 0)
    assert cons["offered"] == prod["offered"] == cons["received"] > 0, (prod, cons)
    if prod["offered"] < RECORDS:  # the time bound came first: still all correct
        print(f"time bound reached after {prod['offered']} of {RECORDS} records")
    assert c["drops"] == 0
    assert c["producer_position"] == c["consumer_position"] == cons["received"] + 1  # + end
    assert cons["pauses"] == 0 or c["full"] > 0  # the consumer's pauses filled the ring


def test_drop_policy_counts_exactly_what_it_drops(ring_name):
    ring = SpscRing.create(ring_name, 256, 64, policy="drop", wait_on="slot")
    try:
        prod, cons = _run(ring_name, RECORDS, seed=0xABCDEF)
        c = ring.counters()
    finally:
        ring.close()
    assert prod["end_marker"] and cons["end_seen"], (prod, cons)
    assert (cons["torn"], cons["duplicates"], cons["reordered"]) == (0, 0, 0)
    # never a silent loss: every id offered was either received or counted as dropped
    assert cons["received"] + c["drops"] == prod["offered"] == cons["offered"], (prod, cons, c)
    assert cons["gaps"] == c["drops"], (prod, cons, c)
    assert c["drops"] > 0 and c["full"] > 0  # the consumer's pauses made it drop
