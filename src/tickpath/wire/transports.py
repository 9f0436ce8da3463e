"""The receive transports by name: open one, or check which this host can run and why not."""

from __future__ import annotations

import socket
from dataclasses import dataclass

from . import layout as L

#: name -> what it is, in one line
TRANSPORTS = {
    "socket": "blocking kernel UDP socket, a Python call per datagram (the baseline)",
    "recv": "blocking kernel UDP socket, a compiled loop woken by the kernel per datagram "
            "(the baseline without the interpreter)",
    "busypoll": "non-blocking UDP socket drained by a compiled recvmmsg loop, SO_BUSY_POLL",
    "pcap": "a pcap/pcapng capture replayed from a mapped file, as fast as asked or at the "
            "recorded pace: pcap:PATH?pace=fast|recorded|2x&dst=ADDR:PORT",
    "packet": "AF_PACKET mmap ring polled from compiled code (kernel-bypass of the UDP stack)",
    "xdp": "AF_XDP socket with UMEM rings and an XDP redirect program (kernel bypass)",
    "dpdk": "DPDK poll-mode receive on a virtual PMD, bursts read in place from compiled "
            "code: dpdk[:pmd=af_packet|af_xdp]",
}
AVAILABLE = ("socket", "recv", "busypoll", "packet", "xdp", "dpdk")


@dataclass
class TransportCheck:
    name: str
    ok: bool
    detail: str  # what was found
    remedy: str = ""  # what to do when not ok


def open_receiver(transport: str, host: str, port: int, iface_ip: str = "0.0.0.0",
                  line_b: str | None = None):
    """A receiver for ``transport``; a transport this host cannot run is refused with the
    reason and what works instead, never a bare errno. ``line_b``: a second multicast group
    on the same port (A/B lines), taken by the kernel-socket transports (``socket``,
    ``recv``, ``busypoll``)."""
    if line_b is not None and transport.partition(":")[0] not in ("socket", "recv",
                                                                  "busypoll"):
        raise ValueError(f"line B ({line_b}) is received by the socket, recv and busypoll "
                         f"transports here, not {transport!r}")
    if transport == "socket":
        from .socket import UdpReceiver

        return UdpReceiver(host, port, iface_ip=iface_ip, line_b=line_b)
    if transport == "recv":
        from .busypoll import BlockingRecvReceiver

        return BlockingRecvReceiver(host, port, iface_ip=iface_ip, line_b=line_b)
    if transport.partition(":")[0] == "busypoll":
        from .busypoll import BusyPollReceiver

        opts = _options(transport, {"hwts"})
        iface = None
        if "hwts" in opts:
            from .packet import interface_for

            iface = interface_for(host, iface_ip)
        return BusyPollReceiver(host, port, iface_ip=iface_ip, hw_timestamps=iface,
                               line_b=line_b)
    if transport.partition(":")[0] == "packet":
        return _open_packet(transport, host, port, iface_ip)
    if transport.partition(":")[0] == "pcap":  # a file, not the wire: iface_ip is not used
        from .pcapfile import open_pcap

        return open_pcap(transport, host, port)
    if transport.partition(":")[0] == "xdp":
        return _open_xdp(transport, host, port, iface_ip)
    if transport.partition(":")[0] == "dpdk":
        return _open_dpdk(transport, host, port, iface_ip)
    raise ValueError(f"unknown transport {transport!r}; choose from {', '.join(TRANSPORTS)}")


def _open_xdp(transport: str, host: str, port: int, iface_ip: str):
    """``xdp[:OPT,OPT...]``, options: ``copy`` (default) or ``zc`` (zero-copy), ``native`` or
    ``generic`` (where the program runs; default: native if the driver allows, else
    generic), ``queue=N`` (default 0). The interface is found as for ``packet``."""
    from .packet import interface_for
    from .xdp import XdpReceiver

    kw: dict = {}
    for opt in filter(None, transport.partition(":")[2].split(",")):
        key, _, value = opt.partition("=")
        if opt in ("copy", "zc"):
            kw["copy"] = opt == "copy"
        elif opt in ("native", "generic"):
            kw["mode"] = opt
        elif key == "queue" and value.isdigit():
            kw["queue"] = int(value)
        else:
            raise ValueError(f"unknown xdp option {opt!r}: use copy or zc, native or generic, "
                             f"queue=N (e.g. xdp:generic,queue=0)")
    iface = interface_for(host, iface_ip)
    return XdpReceiver(iface, host, port, iface_ip=iface_ip, **kw)


def _open_dpdk(transport: int, host: str, port: str, iface_ip: str):
    """``dpdk[:OPT,OPT...]``, options: ``pmd=af_packet`` (default) or ``pmd=af_xdp``,
    ``burst=N`` (frames per rx burst, default 32), ``core=N`` (the EAL's lcore, if this
    receiver starts the EAL). The interface is found as for ``packet``; more EAL options
    come from ``$TICKPATH_DPDK_EAL`` (see :mod:`tickpath.wire.dpdk_eal`)."""
    from .dpdk import DpdkReceiver
    from .dpdk_eal import PMDS
    from .packet import interface_for

    kw: dict = {}
    for opt in filter(None, transport.partition(":")[2].split(",")):
        key, _, value = opt.partition("=")
        if key == "pmd" and value in PMDS:
            kw["pmd"] = value
        elif key in ("burst", "core") and value.isdigit():
            kw[key] = int(value)
        else:
            raise ValueError(f"unknown dpdk option {opt!r}: use pmd=af_packet or pmd=af_xdp, "
                             f"burst=N, core=N (e.g. dpdk:pmd=af_xdp,burst=32)")
    iface = interface_for(host, iface_ip)
    return DpdkReceiver(iface, host, port, iface_ip=iface_ip, **kw)


def _options(transport: str, known: set[str]) -> set[str]:
    """The comma-separated options after ``NAME:``; an unknown one is refused by name."""
    name, _, rest = transport.partition(":")
    opts = set(filter(None, rest.split(",")))
    for opt in opts - known:
        forms = ", ".join(f"{name}:{k}" for k in sorted(known))
        raise ValueError(f"unknown {name} option {opt!r}: use {forms}"
                         + (" (options combine with commas)" if len(known) > 1 else ""))
    return opts


def _open_packet(transport: str, host: str, port: int, iface_ip: str):
    """``packet`` is TPACKET_V2 (latency); ``packet:v3`` asks for TPACKET_V3 (capture
    throughput), ``packet:v2`` for V2 by name; ``hwts`` (e.g. ``packet:v2,hwts``) asks the
    NIC to stamp frames in hardware. The ring goes on the interface that owns ``iface_ip``,
    or the group's route, or ``host`` (``lo`` for 127.0.0.0/8)."""
    from .packet import PacketRingReceiver, interface_for

    opts = _options(transport, {"v2", "v3", "hwts"})
    if {"v2", "v3"} <= opts:
        raise ValueError("packet: choose one ring, v2 (latency) or v3 (capture throughput)")
    iface = interface_for(host, iface_ip)
    return PacketRingReceiver(iface, host, port, version=3 if "v3" in opts else 2,
                              iface_ip=iface_ip, hw_timestamps="hwts" in opts)


def _read(path: str) -> str | None:
    try:
        with open(path) as f:
            return f.read().strip()
    except OSError:
        return None


def _check_xdp() -> TransportCheck:
    """AF_XDP sockets open, and the redirect program passes the verifier (root only)."""
    import os

    try:
        socket.socket(44, socket.SOCK_RAW).close()  # AF_XDP
    except OSError as e:
        return TransportCheck("xdp", False, f"AF_XDP socket refused: {e.strerror}",
                              "needs Linux 4.18+ with CONFIG_XDP_SOCKETS; use packet meanwhile")
    if os.geteuid() != 0:
        return TransportCheck("xdp", False, "AF_XDP sockets open, but loading the XDP program "
                              "needs CAP_BPF and CAP_NET_ADMIN",
                              "run as root; use packet (CAP_NET_RAW) or busypoll meanwhile")
    from . import bpf
    from .xdp_program import PROGRAM_NAME, redirect_program

    fds = []
    try:
        fds.append(bpf.create_xskmap(1))
        fds.append(bpf.load_xdp_program(redirect_program(fds[0], "233.54.12.1", 26400),
                                        PROGRAM_NAME))
    except OSError as e:
        return TransportCheck("xdp", False, f"the XDP program cannot be loaded: {e.strerror}",
                              "use packet meanwhile")
    finally:
        for fd in fds:
            os.close(fd)
    return TransportCheck(
        "xdp", True, "AF_XDP sockets open and the redirect program loads: attached native "
        "where the driver allows, else generic; copy mode on veth and lo (no zero-copy), "
        "xdp:zc for a NIC that has it")


def _check_dpdk() -> TransportCheck:
    """DPDK's packages and PMD plugins are here, the shim builds, and this user is root. The
    EAL is not started (it starts once per process: a check must not spend that)."""
    import os

    from . import dpdk_shim as S
    from .dpdk_eal import MEMPOOL_PLUGIN, PMDS, pmd_dir

    try:
        S.load()
    except S.ShimUnavailable as e:
        return TransportCheck("dpdk", False, str(e).partition("\n")[0],
                              f"{S.INSTALL}; use packet or xdp meanwhile")
    d = pmd_dir()
    if d is None:
        return TransportCheck("dpdk", False, "no DPDK PMD directory (LIBDIR/dpdk/pmds-*)",
                              S.INSTALL)
    pmds = [p for p, f in PMDS.items() if (d / f).exists()]
    if not pmds or not (d / MEMPOOL_PLUGIN).exists():
        return TransportCheck("dpdk", False, f"{d} lacks the af_packet/af_xdp PMD or the ring "
                              f"mempool plugin", S.INSTALL)
    version = S.dpdk_build_flags()[0]
    if os.geteuid() != 0:
        return TransportCheck("dpdk", False, f"DPDK {version} and the shim are here, but the "
                              f"EAL and the PMDs need root",
                              "run as root; use packet (CAP_NET_RAW) or busypoll meanwhile")
    return TransportCheck(
        "dpdk", True, f"DPDK {version}, shim built ({S.shim_dir()}); virtual PMDs "
        f"{', '.join(pmds)} in {d}, no hugepages (--no-huge --no-pci); one EAL per process")


def check() -> list[TransportCheck]:
    """For every transport: can this host run it, and if not, why and what to do."""
    out = [TransportCheck("socket", True, "UDP sockets are always available"),
           TransportCheck("recv", True, "UDP sockets are always available (compiled "
                          "blocking recvmmsg loop)")]
    out.append(TransportCheck(
        "pcap", True, "reads pcap and pcapng files (Ethernet, Linux SLL/SLL2, raw IPv4, BSD "
        "loopback); needs no privileges", "replay a file: --transport pcap:PATH (record one "
        "with `tickpath wire capture`)"))
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
    out.append(_check_xdp())
    out.append(_check_dpdk())
    return out
