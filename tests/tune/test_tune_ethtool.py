"""The ethtool struct layouts against the kernel's own header (Debian's linux-libc-dev)."""

from __future__ import annotations

import ctypes
import re
from pathlib import Path

import pytest

from tickpath.tune import ethtool

HEADER = Path("/usr/include/linux/ethtool.h")


def test_sizes():
    assert ctypes.sizeof(ethtool.EthtoolRingparam) == 9 * 4
    assert ctypes.sizeof(ethtool.EthtoolCoalesce) == 23 * 4
    assert ctypes.sizeof(ethtool.EthtoolTsInfo) == 11 * 4
    assert ctypes.sizeof(ethtool.EthtoolDrvinfo) == 196
    assert ctypes.sizeof(ethtool.Ifreq) == 40
    assert ethtool.Ifreq.ifr_data.offset == 16


def _struct_fields(text: str, name: str) -> list[str]:
    m = re.search(rf"struct {name} \{{(.*?)\n\}};", text, re.S)
    assert m, name
    body = re.sub(r"/\*.*?\*/", "", m.group(1), flags=re.S)
    return [re.sub(r"\[.*\]", "", d.split()[-1]).rstrip(";")
            for d in body.split(";") if d.strip()]


@pytest.fixture(scope="module")
def header() -> str:
    if not HEADER.exists():
        pytest.skip(f"{HEADER} absent (Debian: apt-get install linux-libc-dev)")
    return HEADER.read_text()


def test_fields_match_header(header):
    assert _struct_fields(header, "ethtool_ringparam") == list(ethtool.RINGPARAM_FIELDS)
    assert _struct_fields(header, "ethtool_coalesce") == list(ethtool.COALESCE_FIELDS)
    assert _struct_fields(header, "ethtool_ts_info") == [f for f, _ in ethtool.TS_INFO_FIELDS]
    drv = _struct_fields(header, "ethtool_drvinfo")
    assert drv == [f for f, _ in ethtool.DRVINFO_FIELDS]


def test_command_numbers_match_header(header):
    for name in ("ETHTOOL_GDRVINFO", "ETHTOOL_GCOALESCE", "ETHTOOL_GRINGPARAM",
                 "ETHTOOL_GET_TS_INFO"):
        m = re.search(rf"#define {name}\s+(0x[0-9a-fA-F]+)", header)
        assert m and int(m.group(1), 16) == getattr(ethtool, name), name
    sockios = Path("/usr/include/linux/sockios.h").read_text()
    m = re.search(r"#define SIOCETHTOOL\s+(0x[0-9a-fA-F]+)", sockios)
    assert m and int(m.group(1), 16) == ethtool.SIOCETHTOOL


def test_timestamping_bits_match_header():
    path = Path("/usr/include/linux/net_tstamp.h")
    if not path.exists():
        pytest.skip(f"{path} absent")
    text = path.read_text()
    for name, bit in ethtool.SOF_TIMESTAMPING.items():
        m = re.search(rf"SOF_TIMESTAMPING_{name.upper()} = \(1<<(\d+)\)", text)
        assert m and 1 << int(m.group(1)) == bit, name


def test_bad_interface_name_is_refused_before_the_ioctl():
    with pytest.raises(OSError):
        ethtool.ringparam("x" * 20)
