"""Hardware receive timestamps: whether a NIC can stamp frames, and asking it to.

A NIC with a PTP hardware clock (PHC) can stamp each frame as it arrives, before any queue
or interrupt: the truest "received" a host can have. Two switches turn it on, and tickpath
throws both only when asked (``busypoll:hwts``, ``packet:hwts``):

1. the NIC: ``SIOCSHWTSTAMP`` with ``rx_filter = HWTSTAMP_FILTER_ALL`` (a device-wide setting
   that needs CAP_NET_ADMIN; :class:`HardwareStamps` sets it, checks the driver kept it, and
   puts the old one back when the last user in the process closes);
2. the socket: ``SO_TIMESTAMPING`` with ``SOF_TIMESTAMPING_RAW_HARDWARE`` (busypoll), or
   ``PACKET_TIMESTAMP`` on AF_PACKET (packet; each frame's status word then says which clock
   stamped it: ``TP_STATUS_TS_RAW_HARDWARE`` or not).

A hardware stamp is the PHC's time as it is kept, not CLOCK_REALTIME. Under ptp4l the PHC
usually keeps TAI, 37 s ahead of UTC, while phc2sys steers CLOCK_REALTIME to UTC from it: raw
PHC stamps then differ from the path's other stamps by that offset (run the PHC in UTC, or
subtract the offset, before reading latencies off them). That is why a run never mixes them
silently: without ``hwts`` every stamp is the kernel's software stamp (CLOCK_REALTIME, taken
as the frame enters the stack), and receivers count per datagram which clock stamped
(``hw_stamped``, ``sw_stamped``) and say so (``stamp_source()``). veth, lo and virtio NICs
have no PHC.

    struct hwtstamp_config, 12 bytes (ifreq.ifr_data points at it)
    0       4         8           12
    +-------+---------+-----------+
    | flags | tx_type | rx_filter |
    +-------+---------+-----------+
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import socket
import struct

SIOCSHWTSTAMP = 0x89B0
SIOCGHWTSTAMP = 0x89B1
HWTSTAMP_TX_OFF = 0
HWTSTAMP_FILTER_NONE = 0
HWTSTAMP_FILTER_ALL = 1
SOF_TIMESTAMPING_RX_HARDWARE = 1 << 2
SOF_TIMESTAMPING_RX_SOFTWARE = 1 << 3
SOF_TIMESTAMPING_SOFTWARE = 1 << 4
SOF_TIMESTAMPING_RAW_HARDWARE = 1 << 6
IFNAMSIZ = 16
IFREQ_SIZE = 40  # name, then the union whose ifr_data pointer is at IFNAMSIZ
HWTSTAMP_CONFIG = struct.Struct("=iii")

KERNEL = "kernel software stamp (CLOCK_REALTIME)"
NIC = "NIC hardware stamp (the PHC's clock)"


def stamp_source(hw_stamped: int, sw_stamped: int) -> str:
    """Which clock stamped the datagrams a receiver counted, in words."""
    if hw_stamped and sw_stamped:
        return f"{NIC} for {hw_stamped:,}, {KERNEL} for {sw_stamped:,}"
    return NIC if hw_stamped else KERNEL


def rx_capable(iface: str) -> tuple[bool, str]:
    """Can ``iface`` stamp received frames in hardware? ``(yes, what was found)``."""
    from ..tune.ethtool import ts_info

    try:
        info = ts_info(iface)
    except OSError as e:
        return False, f"{iface}: timestamping capabilities unreadable ({e.strerror})"
    caps = set(info["so_timestamping"])
    if {"rx_hardware", "raw_hardware"} <= caps and "all" in info["rx_filters"]:
        return True, f"{iface}: hardware receive stamps, PHC /dev/ptp{info['phc_index']}"
    return False, (f"{iface}: no hardware receive timestamps (ethtool -T {iface}: "
                   f"{', '.join(sorted(caps)) or 'nothing'}); the kernel's software stamp "
                   f"is used")


def _ioctl(iface: str, request: int, config: ctypes.Array) -> None:
    name = iface.encode()
    if len(name) >= IFNAMSIZ:
        raise ValueError(f"interface name too long: {iface!r}")
    ifreq = bytearray(IFREQ_SIZE)
    ifreq[:len(name)] = name
    struct.pack_into("=Q", ifreq, IFNAMSIZ, ctypes.addressof(config))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        fcntl.ioctl(s.fileno(), request, ifreq)


def get_config(iface: str) -> tuple[int, int, int]:
    """``(flags, tx_type, rx_filter)`` the NIC stamps with now (SIOCGHWTSTAMP)."""
    buf = ctypes.create_string_buffer(HWTSTAMP_CONFIG.size)
    _ioctl(iface, SIOCGHWTSTAMP, buf)
    return HWTSTAMP_CONFIG.unpack(buf.raw)


def set_config(iface: str, flags: int, tx_type: int, rx_filter: int) -> tuple[int, int, int]:
    """SIOCSHWTSTAMP; returns what the driver actually set (it may widen the filter)."""
    buf = ctypes.create_string_buffer(HWTSTAMP_CONFIG.pack(flags, tx_type, rx_filter),
                                      HWTSTAMP_CONFIG.size)
    _ioctl(iface, SIOCSHWTSTAMP, buf)
    return HWTSTAMP_CONFIG.unpack(buf.raw)


# interface -> [receivers using it in this process, the setting found before the first]
_USERS: dict[str, list] = {}


class HardwareStamps:
    """Ask ``iface`` to stamp every received frame for as long as this is open. The first
    user in the process sets it (and checks the driver kept ``rx_filter`` ALL); the last
    one to close puts back the setting found before, if it could be read (if not, stamping
    stays on rather than turning off what a PTP daemon may rely on). Raises OSError naming
    the interface and the way on when the NIC cannot (veth, lo, virtio) or the caller lacks
    CAP_NET_ADMIN."""

    def __init__(self, iface: str) -> None:
        self.iface: str | None = None
        ok, found = rx_capable(iface)
        if not ok:
            raise OSError(errno.EOPNOTSUPP, f"hardware timestamps asked for, but {found}; "
                                            f"leave the option off to use it")
        entry = _USERS.get(iface)
        if entry is None:
            try:
                previous: tuple[int, int, int] | None = get_config(iface)
            except OSError:
                previous = None  # some drivers only set
            tx = previous[1] if previous else HWTSTAMP_TX_OFF
            try:
                got = set_config(iface, 0, tx, HWTSTAMP_FILTER_ALL)
            except PermissionError as e:
                raise PermissionError(e.errno, f"{iface}: turning hardware timestamps on "
                                               f"needs CAP_NET_ADMIN (run as root)") from e
            except OSError as e:
                raise OSError(e.errno, f"{iface}: the driver refused hardware receive "
                                       f"timestamps ({e.strerror})") from e
            if got[2] != HWTSTAMP_FILTER_ALL:
                _restore(iface, previous)
                raise OSError(errno.EOPNOTSUPP, f"{iface}: the driver would stamp only some "
                                                f"frames (rx_filter {got[2]}), not all")
            entry = _USERS[iface] = [0, previous]
        entry[0] += 1
        self.iface = iface

    def close(self) -> None:
        if self.iface is None:
            return
        entry = _USERS[self.iface]
        entry[0] -= 1
        if entry[0] == 0:
            del _USERS[self.iface]
            _restore(self.iface, entry[1])
        self.iface = None

    def __enter__(self) -> HardwareStamps:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _restore(iface: str, previous: tuple[int, int, int] | None) -> None:
    if previous is None:
        return
    try:
        set_config(iface, *previous)
    except OSError:
        pass  # the interface went away: nothing to restore
