"""Network namespaces joined by a veth pair, made and deleted by the tests themselves."""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from dataclasses import dataclass

import pytest


@dataclass
class VethPair:
    exchange: str  # namespace of the venue
    host: str  # namespace of the receiver
    exchange_ip: str
    host_ip: str
    exchange_if: str
    host_if: str

    def run(self, ns: str, *cmd: str, **kw) -> subprocess.CompletedProcess:
        return subprocess.run(["ip", "netns", "exec", ns, *cmd], **kw)

    def popen(self, ns: str, *cmd: str, **kw) -> subprocess.Popen:
        return subprocess.Popen(["ip", "netns", "exec", ns, *cmd], **kw)


def _ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


@pytest.fixture
def veth_pair():
    """Namespaces "exchange" and "host" joined by a veth pair with one receive queue each
    (an AF_XDP redirect lands only on the queue a packet arrived on)."""
    if os.geteuid() != 0:
        pytest.skip("network namespaces need root")
    if shutil.which("ip") is None:
        pytest.skip("iproute2's `ip` is not installed (make test installs it)")
    tag = uuid.uuid4().hex[:6]
    pair = VethPair(f"tp-ex-{tag}", f"tp-host-{tag}", "10.199.0.1", "10.199.0.2",
                    f"tpx{tag}", f"tph{tag}")
    _ip("netns", "add", pair.exchange)
    try:
        _ip("netns", "add", pair.host)
        _ip("link", "add", pair.exchange_if, "numtxqueues", "1", "numrxqueues", "1",
            "netns", pair.exchange, "type", "veth", "peer", "name", pair.host_if,
            "numtxqueues", "1", "numrxqueues", "1", "netns", pair.host)
        for ns, ifname, addr in ((pair.exchange, pair.exchange_if, pair.exchange_ip),
                                 (pair.host, pair.host_if, pair.host_ip)):
            _ip("-n", ns, "addr", "add", f"{addr}/24", "dev", ifname)
            _ip("-n", ns, "link", "set", ifname, "up")
            _ip("-n", ns, "link", "set", "lo", "up")
            _ip("-n", ns, "route", "add", "224.0.0.0/4", "dev", ifname)
        yield pair
    finally:
        subprocess.run(["ip", "netns", "delete", pair.host], capture_output=True)
        subprocess.run(["ip", "netns", "delete", pair.exchange], capture_output=True)
