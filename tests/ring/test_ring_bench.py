"""`tickpath bench ring`: runs with tiny counts and writes the issue's JSON shape; the compiled
kernel hand-off loops (pipe, eventfd) deliver every record, in order, and stop on their own.

Only shape and behaviour are checked (counts, order, statuses, positive figures): never speed."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading

import numpy as np
import pytest

from tickpath.ring import libc_io
from tickpath.ring.bench import (
    BASELINES,
    K_BAD_READ,
    K_EOF,
    K_NO_CONSUMER,
    K_OK,
    RingBenchConfig,
    kernel_consumer_flood,
    kernel_consumer_latency,
    kernel_producer_flood,
    kernel_producer_paced,
)
from tickpath.telemetry import nclock

TINY = ["--records", "400", "--rounds", "2", "--throughput-records", "4000",
        "--throughput-rounds", "2", "--baseline-records", "40", "--baseline-rate", "2000",
        "--baseline-throughput-records", "400", "--kernel-throughput-records", "2000"]
TRANSPORTS = ("ring", "ring_cursor", "pipe_compiled", "eventfd_compiled", "mp_queue", "pipe")

needs_two_cores = pytest.mark.skipif(len(os.sched_getaffinity(0)) < 2,
                                     reason="the benchmark pins its two ends to two cores")


@needs_two_cores
def test_bench_ring_json(tmp_path):
    out = tmp_path / "sub" / "ring.json"
    r = subprocess.run([sys.executable, "-m", "tickpath.cli", "bench", "ring", *TINY,
                        "--json", str(out)], capture_output=True, text=True, timeout=600,
                       env=dict(os.environ, COLUMNS="200"))  # a row's label on one line
    assert r.returncode == 0, r.stderr
    assert "multiprocessing.Queue (Python, sleep-paced)" in r.stdout
    assert "os.pipe (Python, sleep-paced)" in r.stdout
    assert "pipe, compiled read/write (kernel wake-up per message)" in r.stdout
    assert "eventfd, compiled read/write" in r.stdout and "Rows differ in:" in r.stdout
    res = json.loads(out.read_text())
    assert set(res) == {*TRANSPORTS, "meta"}
    for key in TRANSPORTS:
        fig = res[key]
        for k in ("p50_ns", "p99_ns", "msgs_per_s"):
            assert isinstance(fig[k], int | float) and fig[k] > 0, (key, k)
        assert fig["p50_ns"] <= fig["p99_ns"] <= fig["max_ns"]
        for b in BASELINES:
            assert fig[f"ratio_p50_vs_{b}"] > 0 and fig[f"ratio_msgs_per_s_vs_{b}"] > 0
            assert fig[f"ratio_p99_vs_{b}"] > 0
    # the compiled hand-offs ran the ring's paced blocks, and their own unpaced count
    for key, kind in (("pipe_compiled", "pipe"), ("eventfd_compiled", "eventfd")):
        assert res[key]["count"] == 400 and res[key]["handoff"] == kind
        assert res[key]["throughput_records"] == 2000
        assert len(res[key]["block_p50_ns"]) == 2 and res[key]["records_per_read"] >= 1
        assert res[key][f"ratio_p50_vs_{key}"] == 1
    # round 0 of each mode is a discarded warm-up: 2 rounds of 200 are kept
    assert res["ring"]["count"] == 400 and res["ring"]["wait_on"] == "slot"
    assert res["ring_cursor"]["wait_on"] == "cursor"
    assert res["ring"]["throughput_records"] == 4000
    assert len(res["ring"]["block_p50_ns"]) == 2
    # the baselines drop their first tenth (start-up)
    assert res["mp_queue"]["count"] == res["pipe"]["count"] == 36
    assert res["pipe"]["throughput_records"] == 400
    assert res["pipe"]["ratio_p50_vs_pipe"] == 1
    assert res["meta"]["config"]["records"] == 400


@needs_two_cores
def test_bench_script_prints_the_same_figures(tmp_path):
    out = tmp_path / "ring.json"
    r = subprocess.run([sys.executable, "bench/ring_1p1c.py", *TINY, "--modes", "cursor",
                        "--json", str(out)], capture_output=True, text=True, timeout=600,
                       cwd=os.path.dirname(os.path.dirname(os.path.dirname(__file__))))
    assert r.returncode == 0, r.stderr
    assert "ring (cursor)" in r.stdout and "p50 vs mpQ" in r.stdout
    assert "pipe, compiled read/write" in r.stdout and "p50 vs pipe C" in r.stdout
    res = json.loads(out.read_text())
    assert res["ring"]["wait_on"] == "cursor" and "ring_slot" not in res
    assert "pipe_compiled" in res and "eventfd_compiled" in res


@needs_two_cores
def test_bench_without_kernel_handoffs(tmp_path):
    out = tmp_path / "ring.json"
    r = subprocess.run([sys.executable, "-m", "tickpath.cli", "bench", "ring", *TINY,
                        "--modes", "slot", "--kernel", "", "--json", str(out)],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stderr
    res = json.loads(out.read_text())
    assert set(res) == {"ring", "mp_queue", "pipe", "meta"}
    assert "ratio_p50_vs_pipe_compiled" not in res["ring"]


@pytest.mark.parametrize("bad, word", [
    (dict(records=1, rounds=2), "records"),
    (dict(modes=("spin",)), "modes"),
    (dict(rate=0), "rates"),
    (dict(cores=[0]), "cores"),
    (dict(kernel=("socket",)), "kernel"),
    (dict(kernel=("pipe", "pipe")), "kernel"),
    (dict(kernel_throughput_records=1, throughput_rounds=2), "kernel_throughput_records"),
])
def test_config_refuses_what_cannot_run(bad, word):
    with pytest.raises(ValueError, match=word):
        RingBenchConfig(**bad).check()


def test_cli_refuses_bad_settings():
    r = subprocess.run([sys.executable, "-m", "tickpath.cli", "bench", "ring", "--records",
                        "1", "--rounds", "5"], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2 and "records must be at least rounds" in r.stderr


# ----------------------------------------------------------------------------- kernel loops
# The compiled hand-off loops, run in this process: the producer in a thread (nogil), the
# consumer here, so its deadline alarm (delivered to the main thread) can interrupt its read.


class Link:
    """A pipe or an eventfd as the bench opens them, closed at the end of the test."""

    def __init__(self, kind: str, n: int):
        self.doorbell = kind == "eventfd"
        if self.doorbell:
            self.rfd = self.wfd = os.eventfd(0, 0)
        else:
            self.rfd, self.wfd = os.pipe()
        self.slots = np.zeros(max(n, 1), np.int64)

    def close(self):
        for fd in {self.rfd, self.wfd}:
            try:
                os.close(fd)
            except OSError:
                pass


@pytest.fixture
def link():
    made = []

    def make(kind: str, n: int = 1) -> Link:
        made.append(Link(kind, n))
        return made[-1]

    yield make
    for k in made:
        k.close()


@pytest.fixture
def alarm():
    """Arm a SIGALRM that interrupts a blocked read (as the bench's consumer does)."""
    old = signal.signal(signal.SIGALRM, lambda s, f: None)

    def arm(seconds: float) -> None:
        signal.setitimer(signal.ITIMER_REAL, seconds)

    yield arm
    signal.setitimer(signal.ITIMER_REAL, 0)
    signal.signal(signal.SIGALRM, old)


def in_thread(fn, *args):
    result = []
    th = threading.Thread(target=lambda: result.append(fn(*args)), daemon=True)
    th.start()
    return th, result


@pytest.mark.parametrize("kind", ["pipe", "eventfd"])
def test_paced_handoff_delivers_every_record_in_order(link, alarm, kind):
    n = 500
    k = link(kind, n)
    flags = np.zeros(2, np.int64)
    lat = np.full(n, -1, np.int64)
    gap = int(nclock.tsc_hz() / 50_000)
    th, prod = in_thread(kernel_producer_paced, k.wfd, np.zeros(1, np.int64), k.doorbell,
                         k.slots, n, gap, flags, 0, 0)
    alarm(30)  # only if something is broken: the test then fails instead of hanging
    got, bad, reads, code = kernel_consumer_latency(k.rfd, np.zeros(64, np.int64), k.doorbell,
                                                    k.slots, n, lat, flags, 0)
    th.join(30)
    assert (got, bad, code) == (n, 0, K_OK) and prod == [K_OK]
    assert 1 <= reads <= n and flags[0] == 1
    assert (lat > 0).all()  # every record's latency was written, from a stamp before receipt
    if k.doorbell:  # the stamps the producer left in the slots strictly increase
        assert (np.diff(k.slots) > 0).all()


@pytest.mark.parametrize("kind", ["pipe", "eventfd"])
def test_unpaced_handoff_counts_every_record(link, alarm, kind):
    n = 20_000
    k = link(kind)
    flags = np.zeros(2, np.int64)
    t = np.zeros(2, np.int64)
    th, prod = in_thread(kernel_producer_flood, k.wfd, np.zeros(1, np.int64), k.doorbell, n, t,
                         flags, 0, 0)
    alarm(30)
    got, total, code = kernel_consumer_flood(k.rfd, np.zeros(8192, np.int64), k.doorbell, n, t,
                                             flags, 0)
    th.join(30)
    assert (got, code) == (n, K_OK) and prod == [K_OK] and flags[0] == 1
    assert t[1] > t[0] > 0
    if not k.doorbell:  # the pipe carries the indices: none lost or repeated
        assert total == n * (n - 1) // 2


def test_pipe_consumer_sees_end_of_file_when_the_producer_is_gone(link, alarm):
    k = link("pipe")
    stamps = np.array([10, 20, 30], np.int64)
    os.write(k.wfd, stamps.tobytes())
    os.close(k.wfd)  # the only write end: the reader gets end-of-file after the three records
    alarm(30)
    flags = np.zeros(1, np.int64)
    got, bad, _, code = kernel_consumer_latency(k.rfd, np.zeros(64, np.int64), False, k.slots,
                                                5, np.zeros(5, np.int64), flags, 0)
    assert (got, bad, code) == (3, 0, K_EOF) and flags[0] == 0


def test_blocked_consumer_times_out_on_its_alarm(link, alarm):
    k = link("eventfd", 4)  # an eventfd never reports end-of-file: only the alarm ends a wait
    alarm(0.2)
    got, _, _, code = kernel_consumer_latency(k.rfd, np.zeros(64, np.int64), True, k.slots, 4,
                                              np.zeros(4, np.int64), np.zeros(1, np.int64), 0)
    assert (got, code) == (0, libc_io.EINTR)  # it returned, interrupted, with nothing read


def test_producer_gives_up_when_the_consumer_never_finishes(link):
    k = link("pipe")
    flags = np.zeros(2, np.int64)  # block 0 never finished
    assert kernel_producer_paced(k.wfd, np.zeros(1, np.int64), False, k.slots, 3, 10, flags, 1,
                                 1000) == K_NO_CONSUMER
    assert kernel_producer_flood(k.wfd, np.zeros(1, np.int64), False, 3, np.zeros(2, np.int64),
                                 flags, 1, 1000) == K_NO_CONSUMER


def test_eventfd_consumer_counts_stale_stamps_and_refuses_extra_records(link, alarm):
    k = link("eventfd", 4)
    k.slots[:3] = (5, 4, 6)  # the second record's slot holds an older stamp: out of order
    os.eventfd_write(k.rfd, 3)
    alarm(30)
    lat = np.zeros(3, np.int64)
    got, bad, reads, code = kernel_consumer_latency(k.rfd, np.zeros(64, np.int64), True,
                                                    k.slots, 3, lat, np.zeros(1, np.int64), 0)
    assert (got, bad, reads, code) == (3, 1, 1, K_OK)
    os.eventfd_write(k.rfd, 5)  # five rung, three expected
    got, _, _, code = kernel_consumer_latency(k.rfd, np.zeros(64, np.int64), True, k.slots, 3,
                                              lat, np.zeros(1, np.int64), 0)
    assert (got, code) == (0, K_BAD_READ)


def test_libc_io_round_trip(link):
    k = link("pipe")
    out = np.array([0x0102030405060708, -1], np.int64)
    back = np.zeros(2, np.int64)

    from numba import njit

    @njit
    def through(rfd, wfd, a, b):
        return libc_io.write(wfd, a, 16), libc_io.read(rfd, b, 16)

    assert through(k.rfd, k.wfd, out, back) == (16, 16)
    assert (back == out).all()
