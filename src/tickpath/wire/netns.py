"""Network namespaces joined by a veth pair: an "exchange" and a "host" on one machine.

Used by the network tests and by ``tickpath wire bench``. Needs root and iproute2; everything
made here is deleted on exit, also on error. Addresses are private to the two namespaces.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass


class NetnsUnavailable(RuntimeError):
    """Namespaces cannot be made here; the message says why and what to do."""


@dataclass
class VethPair:
    exchange: str  # namespace of the venue
    host: str  # namespace of the receiver
    exchange_ip: str
    host_ip: str
    exchange_if: str
    host_if: str

    def cmd(self, ns: str, *argv: str) -> list[str]:
        return ["ip", "netns", "exec", ns, *argv]

    def run(self, ns: str, *argv: str, **kw) -> subprocess.CompletedProcess:
        return subprocess.run(self.cmd(ns, *argv), **kw)

    def popen(self, ns: str, *argv: str, **kw) -> subprocess.Popen:
        return subprocess.Popen(self.cmd(ns, *argv), **kw)


def _ip(*args: str) -> None:
    r = subprocess.run(["ip", *args], capture_output=True, text=True)
    if r.returncode:
        raise NetnsUnavailable(f"`ip {' '.join(args)}` failed: {r.stderr.strip()}")


def check() -> None:
    """Raise :class:`NetnsUnavailable` with the reason when namespaces cannot be made."""
    if os.geteuid() != 0:
        raise NetnsUnavailable("network namespaces need root (run as root, or in CI)")
    if shutil.which("ip") is None:
        raise NetnsUnavailable("iproute2's `ip` is missing: apt-get install iproute2")


@contextmanager
def veth_pair(subnet: str = "10.199.0") -> Iterator[VethPair]:
    """Two namespaces joined by a veth pair with one queue each way (an AF_XDP redirect
    lands only on the queue a packet arrived on), multicast routed over it."""
    check()
    tag = uuid.uuid4().hex[:6]
    pair = VethPair(f"tp-ex-{tag}", f"tp-host-{tag}", f"{subnet}.1", f"{subnet}.2",
                    f"tpx{tag}", f"tph{tag}")
    made: list[str] = []
    try:
        for ns in (pair.exchange, pair.host):
            _ip("netns", "add", ns)
            made.append(ns)
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
        for ns in reversed(made):  # deleting a namespace deletes its end of the veth pair
            subprocess.run(["ip", "netns", "delete", ns], capture_output=True)
