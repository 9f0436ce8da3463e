"""The senders by name: open one (the venue's publisher and the benches choose by name).

Each sender lives in its own module (:mod:`.send` for the socket ones, :mod:`.packet_tx`,
:mod:`.xdp_tx`); this one only knows their names, so none of them imports another's
factory.
"""

from __future__ import annotations

from .send import SendmmsgSender, SendtoSender, SocketSender, _Sender, udp_socket

__all__ = ["DEFAULT_SENDER", "SENDERS", "open_sender"]

#: name -> what it is, in one line
SENDERS = {
    "socket": "Python sock.sendto per packet, stamped in Python (the baseline)",
    "sendto": "compiled loop, libc sendto per packet, stamped just before the call",
    "sendmmsg": "compiled loop, libc sendmmsg in batches (one packet a call when paced)",
    "packet": "AF_PACKET TX ring: frames built in place, kicked with one send (needs root)",
    "xdp": "AF_XDP TX ring: frames built in the UMEM, completions reaped (needs root)",
    "dpdk": "DPDK port (af_packet PMD): frames built in mbufs, tx bursts (needs root)",
}
DEFAULT_SENDER = "sendmmsg"


def open_sender(name: str, host: str, port: int, *, iface_ip: str | None = None, ttl: int = 1,
                sndbuf: int = 8 << 20, iface: str | None = None, dst_mac: str | None = None,
                vlen: int = 64) -> _Sender:
    """A sender called ``name`` (see ``SENDERS``) for UDP to ``host``:``port``. ``iface``,
    ``dst_mac`` are for ``packet``, ``xdp`` and ``dpdk`` (the interface is otherwise found
    from ``iface_ip`` or the route); ``vlen`` for ``sendmmsg``."""
    if name == "packet":
        from .packet_tx import PacketTxSender  # AF_PACKET: only when asked for

        return PacketTxSender(iface, host, port, iface_ip=iface_ip, dst_mac=dst_mac, ttl=ttl,
                              sndbuf=sndbuf)
    if name == "xdp":
        from .xdp_tx import XskSender  # AF_XDP: only when asked for

        return XskSender(iface, host, port, iface_ip=iface_ip, dst_mac=dst_mac, ttl=ttl)
    if name == "dpdk":
        from .dpdk_tx import DpdkSender  # DPDK: only when asked for (it starts an EAL)

        return DpdkSender(iface, host, port, iface_ip=iface_ip, dst_mac=dst_mac, ttl=ttl)
    if name not in SENDERS:
        raise ValueError(f"unknown sender {name!r}: choose one of {', '.join(SENDERS)}")
    sock = udp_socket(host, iface_ip=iface_ip, ttl=ttl, sndbuf=sndbuf)
    if name == "socket":
        return SocketSender(sock, (host, port))
    if name == "sendto":
        return SendtoSender(sock, (host, port))
    return SendmmsgSender(sock, (host, port), vlen=vlen)
