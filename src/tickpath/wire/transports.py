"""The receive transports by name: open one, or check which this host can run and why not."""

from __future__ import annotations

import socket
from dataclasses import dataclass

from . import layout as L

#: name -> what it is, in one line
TRANSPORTS = {
    "socket": "blocking kernel UDP socket, a Python call per datagram (the baseline)",
    "busypoll": "non-blocking UDP socket drained by a compiled recvmmsg loop, SO_BUSY_POLL",
    "packet": "AF_PACKET mmap ring polled from compiled code (kernel-bypass of the UDP stack)",
    "xdp": "AF_XDP socket with UMEM rings and an XDP redirect program (kernel bypass)",
}
AVAILABLE = ("socket", "busypoll", "packet")


@dataclass
class TransportCheck:
    name: str
    ok: bool
    detail: str  # what was found
    remedy: str = ""  # what to do when not ok


def open_receiver(transport: str, host: str, port: int, iface_ip: str = "0.0.0.0"):
    """A receiver for ``transport``; a transport this host cannot run is refused with the
    reason and what works instead, never a bare errno."""
    if transport == "socket":
        from .socket import UdpReceiver

        return UdpReceiver(host, port, iface_ip=iface_ip)
    if transport == "busypoll":
        from .busypoll import BusyPollReceiver

        return BusyPollReceiver(host, port, iface_ip=iface_ip)
    if transport.partition(":")[0] == "packet":
        return _open_packet(transport, host, port, iface_ip)
    if transport in TRANSPORTS:
        raise ValueError(f"transport {transport!r} ({TRANSPORTS[transport]}) is not available "
                         f"in this version of tickpath; use one of {', '.join(AVAILABLE)}")
    raise ValueError(f"unknown transport {transport!r}; choose from {', '.join(TRANSPORTS)}")


def _open_packet(transport: str, host: str, port: int, iface_ip: str):
    """``packet`` is TPACKET_V2 (latency); ``packet:v3`` asks for TPACKET_V3 (capture
    throughput), ``packet:v2`` for V2 by name. The ring goes on the interface that owns
    ``iface_ip``, or the group's route, or ``host`` (``lo`` for 127.0.0.0/8)."""
    from .packet import PacketRingReceiver, interface_for

    options = {"": 2, "v2": 2, "v3": 3}
    variant = transport.partition(":")[2]
    if variant not in options:
        raise ValueError(f"unknown packet ring {variant!r}: use packet (TPACKET_V2), "
                         f"packet:v2 or packet:v3")
    iface = interface_for(host, iface_ip)
    return PacketRingReceiver(iface, host, port, version=options[variant], iface_ip=iface_ip)


def _read(path: str) -> str | None:
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return None


def check() -> list[TransportCheck]:
    """For every transport: can this host run it, and if not, why and what to do."""
    out = [TransportCheck("socket", True, "UDP sockets are always available")]
    busy_read = _read("/proc/sys/net/core/busy_read")
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.setsockopt(socket.SOL_SOCKET, L.SO_BUSY_POLL, 50)
        bp = "SO_BUSY_POLL accepted"
    except OSError as e:
        bp = f"SO_BUSY_POLL refused ({e.strerror}): the loop still spins in user space"
    finally:
        s.close()
    out.append(TransportCheck(
        "busypoll", True, f"recvmmsg available; {bp}; net.core.busy_read={busy_read}",
        "" if busy_read not in (None, "0") else
        "optional: sysctl -w net.core.busy_read=50 net.core.busy_poll=50 for NICs that "
        "support busy polling (veth and loopback ignore it)"))
    raw_err = ""
    try:
        socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0).close()
        raw_ok = True
    except OSError as e:
        raw_ok = False
        raw_err = ("needs CAP_NET_RAW, not permitted for this user"
                   if isinstance(e, PermissionError) else e.strerror or str(e))
    out.append(TransportCheck(
        "packet", raw_ok,
        "AF_PACKET sockets can be opened here (CAP_NET_RAW): TPACKET_V2 ring for latency "
        "(packet), TPACKET_V3 for capture throughput (packet:v3)" if raw_ok else
        f"AF_PACKET socket refused: {raw_err}",
        "" if raw_ok else
        "run as root or grant CAP_NET_RAW (setcap cap_net_raw+ep on the interpreter); "
        "use busypoll meanwhile"))
    xdp_ok = True
    try:
        socket.socket(44, socket.SOCK_RAW).close()  # AF_XDP
    except OSError as e:
        xdp_ok = False
        xdp_err = e.strerror
    out.append(TransportCheck(
        "xdp", False,
        ("the kernel opens AF_XDP sockets" if xdp_ok else f"AF_XDP socket refused: {xdp_err}")
        + "; the transport itself is not in this version",
        "use packet (or busypoll without CAP_NET_RAW) meanwhile"))
    return out
