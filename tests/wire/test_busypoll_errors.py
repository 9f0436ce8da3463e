"""What the compiled socket loops count besides datagrams: a failed ``recvmmsg`` is an error
with its errno (not an empty poll), a datagram larger than a slot is counted truncated (not
handed on, not taken for a timeout), and ``tickpath listen`` shows both."""

from __future__ import annotations

import errno
import socket
import time

import numpy as np
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


def test_recv_blocks_and_is_woken_per_datagram():
    """The ``recv`` loop sleeps in the kernel: with nothing arriving it makes few calls (one
    per receive timeout), not the millions a spinning loop makes."""
    feed = ItchFeed()
    with BlockingRecvReceiver("127.0.0.1", 0, wake_ms=20) as rx:
        deadline = time.clock_gettime_ns(time.CLOCK_REALTIME) + 200_000_000
        assert rx.poll(feed.state, deadline, 0) == DEADLINE
        calls = rx.stats()["empty_polls"]
    assert 1 <= calls <= 50
    assert np.int64(rx.rx[Rx.PACKETS]) == 0


@pytest.mark.parametrize("cls", CLASSES, ids=lambda c: c.name)
def test_a_datagram_does_not_change_how_the_loop_waits(cls):
    """After a datagram the loop waits as before it: busypoll keeps spinning (many empty
    polls, never a blocking call), recv keeps sleeping in the kernel (one call per receive
    timeout). A datagram's own msg_flags must not leak into the next call's flags."""
    feed = ItchFeed()
    with cls("127.0.0.1", 0) as rx:
        tx = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        tx.sendto(b"x" * 30, rx.sock.getsockname())
        tx.close()
        for _ in range(2):
            deadline = time.clock_gettime_ns(time.CLOCK_REALTIME) + 200_000_000
            assert rx.poll(feed.state, deadline, 0) == DEADLINE
        st = rx.stats()
    assert st["packets"] == 1
    if cls is BusyPollReceiver:
        assert st["empty_polls"] > 1000
    else:
        assert 2 <= st["empty_polls"] <= 100
