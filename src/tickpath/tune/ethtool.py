"""The ethtool ioctls the audit reads on a live host: ring sizes, coalescing, timestamping.

``ioctl(fd, SIOCETHTOOL, &ifreq)`` with ``ifreq.ifr_data`` pointing at a command struct whose
first ``__u32`` is the command number; the kernel fills the rest. Layouts below are those of
``linux/ethtool.h`` and ``linux/net_tstamp.h`` (Debian's linux-libc-dev), declared once as field
tables; tests compare them with the header when it is installed.

::

    struct ifreq (40 bytes on 64-bit)     struct ethtool_ringparam (9 x __u32)
    +0   char ifr_name[16]                 cmd, rx_max_pending, rx_mini_max_pending,
    +16  void *ifr_data  -----------+      rx_jumbo_max_pending, tx_max_pending, rx_pending,
    +24  (rest of the union)        |      rx_mini_pending, rx_jumbo_pending, tx_pending
                                    +----> command struct, cmd first

Only ``GET`` commands are issued: reading never changes the NIC.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import os
import socket

SIOCETHTOOL = 0x8946
ETHTOOL_GDRVINFO = 0x00000003
ETHTOOL_GCOALESCE = 0x0000000E
ETHTOOL_GRINGPARAM = 0x00000010
ETHTOOL_GET_TS_INFO = 0x00000041

IFNAMSIZ = 16

#: struct ethtool_ringparam: every field a __u32.
RINGPARAM_FIELDS = (
    "cmd", "rx_max_pending", "rx_mini_max_pending", "rx_jumbo_max_pending", "tx_max_pending",
    "rx_pending", "rx_mini_pending", "rx_jumbo_pending", "tx_pending",
)
#: struct ethtool_coalesce: every field a __u32.
COALESCE_FIELDS = (
    "cmd", "rx_coalesce_usecs", "rx_max_coalesced_frames", "rx_coalesce_usecs_irq",
    "rx_max_coalesced_frames_irq", "tx_coalesce_usecs", "tx_max_coalesced_frames",
    "tx_coalesce_usecs_irq", "tx_max_coalesced_frames_irq", "stats_block_coalesce_usecs",
    "use_adaptive_rx_coalesce", "use_adaptive_tx_coalesce", "pkt_rate_low",
    "rx_coalesce_usecs_low", "rx_max_coalesced_frames_low", "tx_coalesce_usecs_low",
    "tx_max_coalesced_frames_low", "pkt_rate_high", "rx_coalesce_usecs_high",
    "rx_max_coalesced_frames_high", "tx_coalesce_usecs_high", "tx_max_coalesced_frames_high",
    "rate_sample_interval",
)
#: struct ethtool_ts_info: (name, ctypes type).
TS_INFO_FIELDS = (
    ("cmd", ctypes.c_uint32), ("so_timestamping", ctypes.c_uint32),
    ("phc_index", ctypes.c_int32), ("tx_types", ctypes.c_uint32),
    ("tx_reserved", ctypes.c_uint32 * 3), ("rx_filters", ctypes.c_uint32),
    ("rx_reserved", ctypes.c_uint32 * 3),
)
#: struct ethtool_drvinfo: (name, ctypes type).
DRVINFO_FIELDS = (
    ("cmd", ctypes.c_uint32), ("driver", ctypes.c_char * 32), ("version", ctypes.c_char * 32),
    ("fw_version", ctypes.c_char * 32), ("bus_info", ctypes.c_char * 32),
    ("erom_version", ctypes.c_char * 32), ("reserved2", ctypes.c_char * 12),
    ("n_priv_flags", ctypes.c_uint32), ("n_stats", ctypes.c_uint32),
    ("testinfo_len", ctypes.c_uint32), ("eedump_len", ctypes.c_uint32),
    ("regdump_len", ctypes.c_uint32),
)

# enum in linux/net_tstamp.h: SOF_TIMESTAMPING_* bits of ethtool_ts_info.so_timestamping.
SOF_TIMESTAMPING = {
    "tx_hardware": 1 << 0, "tx_software": 1 << 1, "rx_hardware": 1 << 2,
    "rx_software": 1 << 3, "software": 1 << 4, "sys_hardware": 1 << 5, "raw_hardware": 1 << 6,
}
# enum hwtstamp_tx_types and hwtstamp_rx_filters: bit n of tx_types / rx_filters.
HWTSTAMP_TX = ("off", "on", "onestep_sync", "onestep_p2p")
HWTSTAMP_FILTER = (
    "none", "all", "some", "ptp_v1_l4_event", "ptp_v1_l4_sync", "ptp_v1_l4_delay_req",
    "ptp_v2_l4_event", "ptp_v2_l4_sync", "ptp_v2_l4_delay_req", "ptp_v2_l2_event",
    "ptp_v2_l2_sync", "ptp_v2_l2_delay_req", "ptp_v2_event", "ptp_v2_sync",
    "ptp_v2_delay_req", "ntp_all",
)


def _u32_struct(name: str, fields: tuple[str, ...]) -> type[ctypes.Structure]:
    return type(name, (ctypes.Structure,), {"_fields_": [(f, ctypes.c_uint32) for f in fields]})


EthtoolRingparam = _u32_struct("EthtoolRingparam", RINGPARAM_FIELDS)
EthtoolCoalesce = _u32_struct("EthtoolCoalesce", COALESCE_FIELDS)
EthtoolTsInfo = type("EthtoolTsInfo", (ctypes.Structure,), {"_fields_": list(TS_INFO_FIELDS)})
EthtoolDrvinfo = type("EthtoolDrvinfo", (ctypes.Structure,), {"_fields_": list(DRVINFO_FIELDS)})


class Ifreq(ctypes.Structure):
    """``struct ifreq`` with the ``ifr_data`` member of its union (40 bytes on 64-bit)."""

    _fields_ = [("ifr_name", ctypes.c_char * IFNAMSIZ), ("ifr_data", ctypes.c_void_p),
                ("_pad", ctypes.c_char * (24 - ctypes.sizeof(ctypes.c_void_p)))]


class EthtoolError(OSError):
    """An ethtool ioctl the kernel refused; ``errno`` says why (EOPNOTSUPP: driver lacks it)."""


def _query(iface: str, cmd: int, struct_type: type[ctypes.Structure]) -> ctypes.Structure:
    name = iface.encode()
    if not name or len(name) >= IFNAMSIZ:
        raise EthtoolError(errno.EINVAL, f"bad interface name {iface!r}")
    data = struct_type()
    data.cmd = cmd
    req = Ifreq(ifr_name=name, ifr_data=ctypes.addressof(data))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        try:
            fcntl.ioctl(s.fileno(), SIOCETHTOOL, bytes(req))
        except OSError as e:
            raise EthtoolError(e.errno, os.strerror(e.errno or 0)) from None
    return data


def _as_dict(st: ctypes.Structure) -> dict:
    out = {}
    for name, _ in st._fields_:
        v = getattr(st, name)
        if name.endswith("reserved") or name.startswith("_"):
            continue
        out[name] = v.decode(errors="replace") if isinstance(v, bytes) else v
    return out


def ringparam(iface: str) -> dict[str, int]:
    """``ETHTOOL_GRINGPARAM``: current and maximum RX/TX descriptor ring sizes."""
    return _as_dict(_query(iface, ETHTOOL_GRINGPARAM, EthtoolRingparam))


def coalesce(iface: str) -> dict[str, int]:
    """``ETHTOOL_GCOALESCE``: interrupt coalescing (microseconds, frames, adaptive)."""
    return _as_dict(_query(iface, ETHTOOL_GCOALESCE, EthtoolCoalesce))


def ts_info(iface: str) -> dict:
    """``ETHTOOL_GET_TS_INFO``: timestamping capabilities, decoded into names.

    Returns ``so_timestamping`` (list of capability names), ``phc_index`` (-1: no PTP hardware
    clock), ``tx_types`` and ``rx_filters`` (lists of names).
    """
    st = _query(iface, ETHTOOL_GET_TS_INFO, EthtoolTsInfo)
    return {
        "so_timestamping": [n for n, b in SOF_TIMESTAMPING.items() if st.so_timestamping & b],
        "phc_index": st.phc_index,
        "tx_types": [n for i, n in enumerate(HWTSTAMP_TX) if st.tx_types >> i & 1],
        "rx_filters": [n for i, n in enumerate(HWTSTAMP_FILTER) if st.rx_filters >> i & 1],
    }


def drvinfo(iface: str) -> dict:
    """``ETHTOOL_GDRVINFO``: driver name, version, firmware, bus address."""
    return _as_dict(_query(iface, ETHTOOL_GDRVINFO, EthtoolDrvinfo))
