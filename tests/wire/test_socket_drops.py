"""Kernel drops of the socket transports: datagrams a full receive buffer turned away are
counted (from /proc/net/udp), never silently lost."""

from __future__ import annotations

import socket

import pytest

from tickpath.wire.busypoll import BusyPollReceiver
from tickpath.wire.socket import UdpReceiver, udp_drops


@pytest.mark.parametrize("make", [
    lambda: UdpReceiver("127.0.0.1", 0, rcvbuf=4096),
    lambda: BusyPollReceiver("127.0.0.1", 0, rcvbuf=4096),
], ids=["socket", "busypoll"])
def test_full_receive_buffer_drops_are_counted(make):
    with make() as rx, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx:
        assert rx.stats()["drops"] == 0
        port = rx.sock.getsockname()[1]
        for _ in range(300):  # nobody reads: a 4 KiB buffer holds a handful
            tx.sendto(b"x" * 1000, ("127.0.0.1", port))
        s = rx.stats()
    assert s["drops"] > 200 and s["packets"] == 0


def test_a_closed_socket_reads_as_unknown():
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.close()
    assert udp_drops(s) == -1
