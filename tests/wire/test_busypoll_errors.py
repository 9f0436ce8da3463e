"""What the compiled socket loops count besides datagrams: a failed ``recvmmsg`` is an error
with its errno (not an empty poll), a datagram larger than a slot is counted truncated (not
handed on, not taken for a timeout), and ``tickpath listen`` shows both. And how each loop
waits: ``recv`` asleep in the kernel, ``busypoll`` never."""

from __future__ import annotations

import errno
import socket
import threading
import time

import pytest

from tickpath.feed.itch import ItchFeed
from tickpath.wire.busypoll import DEADLINE, BlockingRecvReceiver, BusyPollReceiver, Rx, poll_loop

CLASSES = [BusyPollReceiver, BlockingRecvReceiver]


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.name)
def test_a_failing_recvmmsg_is_counted_with_its_errno(cls):
    feed = ItchFeed()
    with cls("127.0.0.1", 0, vlen=2, slot=64) as rx:
        deadline = time.clock_gettime_ns(time.CLOCK_REALTIME) + 20_000_000
        code = poll_loop(-1, rx.vec, rx.vec64, rx.vec32, rx.vlen, rx.bufs, rx.slot, rx.ctrl64,
                         rx.ctrl32, deadline, 0, feed.state, rx.rx, rx._flags)
        st = rx.stats()
    assert code == DEADLINE
    assert st["recv_errors"] > 0 and st["last_errno"] == errno.EBADF
    assert st["empty_polls"] == 0 and st["packets"] == 0


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.name)
def test_an_oversized_datagram_is_counted_truncated_not_handed_on(cls):
    feed = ItchFeed()
    with cls("127.0.0.1", 0, vlen=4, slot=64) as rx:
        tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        tx.sendto(b"x" * 500, rx.sock.getsockname())
        tx.close()
        deadline = time.clock_gettime_ns(time.CLOCK_REALTIME) + 200_000_000
        assert rx.poll(feed.state, deadline, 0) == DEADLINE
        st = rx.stats()
    assert st["truncated"] == 1 and st["packets"] == 0 and st["recv_errors"] == 0
    assert int(rx.rx[Rx.TRUNCATED]) == 1 and feed.messages == 0


def test_listen_says_what_was_cut_and_what_failed(capsys):
    from tickpath import cli

    cli._receive_trouble({"truncated": 3, "recv_errors": 2, "last_errno": errno.ENOMEM,
                          "drops": 0})
    err = capsys.readouterr().err
    assert "3 datagrams were larger than a receive slot" in err
    assert "2 receive calls failed" in err and "ENOMEM" in err


def _thread_states_while_polling(rx, feed) -> list[str]:
    """Run ``rx.poll`` in a thread (the compiled loop releases the GIL) and read that thread's
    scheduler state from /proc while it is inside the loop: ``S`` is asleep in the kernel,
    ``R`` running. Sampling starts once the loop has counted an empty poll, so the thread is
    past Python (no GIL wait) and in the loop. Bounded: 20 samples, the loop's deadline 1 s
    (``recv``'s receive timeout wakes it to see it)."""
    tid: list[int] = []
    codes: list[int] = []

    def run() -> None:
        tid.append(threading.get_native_id())
        codes.append(rx.poll(feed.state, time.clock_gettime_ns(time.CLOCK_REALTIME)
                             + 1_000_000_000, 0))

    before = int(rx.rx[Rx.EMPTY_POLLS])
    t = threading.Thread(target=run, daemon=True)
    t.start()
    for _ in range(2000):  # until the loop has looked at the socket once
        if int(rx.rx[Rx.EMPTY_POLLS]) > before:
            break
        time.sleep(0.005)
    states = []
    for _ in range(20):
        with open(f"/proc/self/task/{tid[0]}/stat") as f:
            states.append(f.read().rpartition(")")[2].split()[0])
        time.sleep(0.005)
    t.join(30)
    assert not t.is_alive() and codes == [DEADLINE], codes
    return states


@pytest.mark.parametrize("after_a_datagram", [False, True], ids=["idle", "after-datagram"])
@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.name)
def test_how_the_loop_waits(cls, after_a_datagram):
    """``recv`` sleeps in the kernel until a datagram (or its receive timeout) wakes it;
    ``busypoll`` never sleeps. A datagram changes neither: its own msg_flags must not leak
    into the next call's flags (a busypoll loop that did would block in recvmmsg)."""
    feed = ItchFeed()
    with cls("127.0.0.1", 0) as rx:
        if after_a_datagram:
            tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            tx.sendto(b"x" * 30, rx.sock.getsockname())
            tx.close()
            deadline = time.clock_gettime_ns(time.CLOCK_REALTIME) + 200_000_000
            assert rx.poll(feed.state, deadline, 0) == DEADLINE
            assert rx.stats()["packets"] == 1
        states = _thread_states_while_polling(rx, feed)
    if cls is BusyPollReceiver:
        assert "S" not in states, states
    else:
        assert "S" in states, states


def test_line_b_is_taken_by_the_kernel_socket_loops_and_refused_by_the_others():
    from tickpath.wire.transports import open_receiver

    with pytest.raises(ValueError, match="both lines are multicast groups"):
        BusyPollReceiver("127.0.0.1", 0, line_b="233.54.12.8")
    for transport in ("packet", "xdp", "dpdk"):
        with pytest.raises(ValueError, match="socket, recv and busypoll"):
            open_receiver(transport, "233.54.12.7", 26500, line_b="233.54.12.8")
