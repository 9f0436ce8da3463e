"""Hardware receive timestamps: whether a NIC can stamp frames, and asking it to.

A NIC with a PTP hardware clock (PHC) can stamp each frame as it arrives, before any queue
or interrupt: the truest "received" a host can have. Two switches turn it on:

1. the NIC: ``SIOCSHWTSTAMP`` with ``rx_filter = HWTSTAMP_FILTER_ALL`` (a device-wide setting
   that needs CAP_NET_ADMIN; :class:`HardwareStamps` sets it and puts the old one back);
2. the socket: ``PACKET_TIMESTAMP`` with ``SOF_TIMESTAMPING_RAW_HARDWARE`` on AF_PACKET (the
   ``packet`` transport always asks; a frame the NIC did not stamp carries the kernel's
   software stamp, and the frame's status word says which: ``TP_STATUS_TS_RAW_HARDWARE`` or
   ``TP_STATUS_TS_SOFTWARE``).

A hardware stamp is on the PHC's clock, not CLOCK_REALTIME: it means something next to the
path's other stamps only when ``phc2sys`` keeps the two together (``tickpath tune audit``
checks for it). veth, lo and virtio NICs have no PHC; there the kernel's software stamp
(CLOCK_REALTIME, taken as the frame enters the stack) is what the transports report, and
they say so (``stamped_by``).

    struct hwtstamp_config, 12 bytes (ifreq.ifr_data points at it)
    0       4         8           12
    +-------+---------+-----------+
    | flags | tx_type | rx_filter |
    +-------+---------+-----------+
"""

from __future__ import annotations

import ctypes
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


class HardwareStamps:
    """Ask ``iface`` to stamp every received frame for as long as this is open; the setting
    it had before is restored on close. Raises OSError naming the interface and the way on
    when the NIC cannot (veth, lo, virtio) or the caller lacks CAP_NET_ADMIN."""

    def __init__(self, iface: str) -> None:
        self.iface = iface
        ok, found = rx_capable(iface)
        if not ok:
            raise OSError(95, f"hardware timestamps asked for, but {found}; leave the option "
                              f"off to use it")  # EOPNOTSUPP
        try:
            self.previous: tuple[int, int, int] | None = get_config(iface)
        except OSError:
            self.previous = None  # some drivers only set: restore to "off" then
        try:
            self.config = set_config(iface, 0, self.previous[1] if self.previous else
                                     HWTSTAMP_TX_OFF, HWTSTAMP_FILTER_ALL)
        except PermissionError as e:
            raise PermissionError(e.errno, f"{iface}: turning hardware timestamps on needs "
                                           f"CAP_NET_ADMIN (run as root)") from e
        except OSError as e:
            raise OSError(e.errno, f"{iface}: the driver refused hardware receive timestamps "
                                   f"({e.strerror})") from e

    def close(self) -> None:
        if self.iface is None:
            return
        flags, tx, rx = self.previous or (0, HWTSTAMP_TX_OFF, HWTSTAMP_FILTER_NONE)
        try:
            set_config(self.iface, flags, tx, rx)
        except OSError:
            pass  # the interface went away: nothing to restore
        self.iface = None

    def __enter__(self) -> HardwareStamps:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
