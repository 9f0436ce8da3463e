"""Which clock stamped a frame: the NIC's (hardware) or the kernel's (software).

No NIC here has a PTP hardware clock (veth, lo and virtio do not), so the hardware path is
exercised where it can be without one: the ring loop on hand-made frames whose status words
say "raw hardware stamp" (as the kernel writes them for a NIC that stamps), and the
refusals when hardware stamps are asked of a device that cannot give them. The software
path runs for real on loopback."""

from __future__ import annotations

import shutil
import socket
import subprocess
import time

import numpy as np
import pytest
from test_packet import _adds, _drive, _mold, _poll_all, _put_v2, _synthetic_frame

from tickpath import BookStore, ItchHandler
from tickpath.feed.moldudp64 import MoldSession
from tickpath.wire import hwstamp as hw
from tickpath.wire import layout as L
from tickpath.wire import packet_layout as P
from tickpath.wire.busypoll import BusyPollReceiver
from tickpath.wire.packet import N_RX, PacketRingReceiver, Rx, poll_v2
from tickpath.wire.transports import open_receiver

C = r"""
#include <stdio.h>
#include <linux/net_tstamp.h>
#include <linux/sockios.h>
int main(void) {
  printf("SIOCSHWTSTAMP %d\nSIOCGHWTSTAMP %d\n", SIOCSHWTSTAMP, SIOCGHWTSTAMP);
  printf("HWTSTAMP_TX_OFF %d\nHWTSTAMP_FILTER_NONE %d\nHWTSTAMP_FILTER_ALL %d\n",
         HWTSTAMP_TX_OFF, HWTSTAMP_FILTER_NONE, HWTSTAMP_FILTER_ALL);
  printf("SOF_TIMESTAMPING_RX_HARDWARE %d\nSOF_TIMESTAMPING_RX_SOFTWARE %d\n",
         SOF_TIMESTAMPING_RX_HARDWARE, SOF_TIMESTAMPING_RX_SOFTWARE);
  printf("SOF_TIMESTAMPING_SOFTWARE %d\nSOF_TIMESTAMPING_RAW_HARDWARE %d\n",
         SOF_TIMESTAMPING_SOFTWARE, SOF_TIMESTAMPING_RAW_HARDWARE);
  printf("HWTSTAMP_CONFIG_SIZE %zu\n", sizeof(struct hwtstamp_config));
  return 0;
}
"""


def test_constants_match_kernel_headers(tmp_path):
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler to read the kernel headers with")
    (tmp_path / "ts.c").write_text(C)
    subprocess.run([cc, str(tmp_path / "ts.c"), "-o", str(tmp_path / "ts")], check=True,
                   capture_output=True)
    out = subprocess.run([str(tmp_path / "ts")], check=True, capture_output=True,
                         text=True).stdout
    for line in out.splitlines():
        name, value = line.split()
        want = hw.HWTSTAMP_CONFIG.size if name == "HWTSTAMP_CONFIG_SIZE" else getattr(hw, name)
        assert want == int(value), name


def test_ring_loop_counts_which_clock_stamped_and_uses_the_nic_stamp():
    """Frames the NIC stamped carry TP_STATUS_TS_RAW_HARDWARE, and tp_sec/tp_nsec hold the
    NIC's stamp; the loop hands that on as the receive time and counts each kind."""
    fs, nf = 256, 4
    ring = np.zeros(fs * nf, np.uint8)
    pkts = _mold([_adds(1, 1), _adds(2, 1), _adds(3, 1)], session="HWTS")
    user = P.TP_STATUS_USER
    _put_v2(ring, 0, fs, _synthetic_frame(pkts[0]), status=user | P.TP_STATUS_TS_RAW_HARDWARE)
    _put_v2(ring, 1, fs, _synthetic_frame(pkts[1]), status=user | P.TP_STATUS_TS_SOFTWARE)
    _put_v2(ring, 2, fs, _synthetic_frame(pkts[2]), status=user | P.TP_STATUS_TS_RAW_HARDWARE)
    rx = np.zeros(N_RX, np.int64)
    handler = ItchHandler(BookStore(max_orders=64, errors="skip"), errors="skip")
    _drive(rx, poll_v2, ring, fs, nf, handler, MoldSession(), np.zeros(8, np.int64))
    assert rx[Rx.PACKETS] == 3
    assert rx[Rx.HW_STAMPED] == 2 and rx[Rx.SW_STAMPED] == 1
    assert rx[Rx.LAST_PACKET_NS] == (1_700_000_000 + 2) * 1_000_000_000 + 123
    assert hw.stamp_source(2, 1) == f"{hw.NIC} for 2, {hw.KERNEL} for 1"


def test_stamp_source_words():
    assert hw.stamp_source(0, 5) == hw.KERNEL
    assert hw.stamp_source(5, 0) == hw.NIC


def test_loopback_stamps_are_the_kernels():
    """Real datagrams on lo: the kernel's software stamp, counted as such, and said so."""
    rx = BusyPollReceiver("127.0.0.1", 0, vlen=4, slot=256)
    with rx, socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx:
        port = rx.sock.getsockname()[1]
        before = time.clock_gettime_ns(time.CLOCK_REALTIME)
        tx.sendto(b"x" * 20, ("127.0.0.1", port))
        got = None
        for _ in range(100):  # bounded
            rx.settimeout(0.02)
            got = rx.recv()
            if got is not None:
                break
        assert got is not None
        assert got[1] >= before  # a CLOCK_REALTIME stamp from after the send began
        s = rx.stats()
        assert s["sw_stamped"] == 1 and s["hw_stamped"] == 0
        assert rx.stamp_source() == hw.KERNEL


def _raw_ok() -> bool:
    try:
        socket.socket(socket.AF_PACKET, socket.SOCK_RAW, 0).close()
        return True
    except OSError:
        return False


@pytest.mark.skipif(not _raw_ok(), reason="AF_PACKET needs CAP_NET_RAW (run as root)")
def test_packet_ring_on_loopback_counts_software_stamps():
    with PacketRingReceiver("lo", "127.0.0.1", 0, frames=16, frame_size=2048,
                            block_size=4096 * 4) as rx, \
            socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as tx:
        pkt = _mold([_adds(1, 1)], session="LOTS")[0]
        tx.sendto(pkt, ("127.0.0.1", rx.port))
        for _ in range(50):  # bounded
            _poll_all(rx, ms=20)
            if rx.rx[Rx.PACKETS]:
                break
        s = rx.stats()
    assert s["packets"] == 1 and s["sw_stamped"] >= 1 and s["hw_stamped"] == 0
    assert rx.stamp_source() == hw.KERNEL


def test_hardware_stamps_refused_where_the_device_has_none():
    ok, found = hw.rx_capable("lo")
    assert not ok and "ethtool -T lo" in found
    with pytest.raises(OSError, match="no hardware receive timestamps.*leave the option off"):
        hw.HardwareStamps("lo")
    with pytest.raises(OSError, match="no hardware receive timestamps"):
        open_receiver("busypoll:hwts", "127.0.0.1", 0)
    with pytest.raises(ValueError, match="busypoll:hwts"):
        open_receiver("busypoll:fast", "127.0.0.1", 0)


@pytest.mark.skipif(not _raw_ok(), reason="AF_PACKET needs CAP_NET_RAW (run as root)")
def test_packet_hwts_refused_on_loopback_and_nothing_left_open():
    with pytest.raises(OSError, match="no hardware receive timestamps"):
        open_receiver("packet:hwts", "127.0.0.1", 0)
    with pytest.raises(ValueError, match="choose one ring"):
        open_receiver("packet:v2,v3", "127.0.0.1", 0)


def test_control_buffer_fits_the_timestamping_message():
    assert L.CMSG_SPACE_TIMESTAMPING >= L.CMSGHDR_SIZE + L.SCM_TIMESTAMPING_SIZE


class FakeNic:
    """Stands in for a NIC with a PTP hardware clock (none exists here): the ethtool answer
    and the SIOCGHWTSTAMP/SIOCSHWTSTAMP ioctls, recording what was set."""

    def __init__(self, monkeypatch, config=(0, 0, 0), keeps_all=True, readable=True):
        self.config, self.sets = config, []
        self.keeps_all, self.readable = keeps_all, readable
        monkeypatch.setattr(hw, "rx_capable", lambda iface: (True, f"{iface}: fake PHC"))
        monkeypatch.setattr(hw, "get_config", self.get)
        monkeypatch.setattr(hw, "set_config", self.set)

    def get(self, iface):
        if not self.readable:
            raise OSError(95, "set only")
        return self.config

    def set(self, iface, flags, tx, rx):
        self.sets.append((flags, tx, rx))
        if rx == hw.HWTSTAMP_FILTER_ALL and not self.keeps_all:
            rx = 2  # HWTSTAMP_FILTER_SOME
        self.config = (flags, tx, rx)
        return self.config


def test_nic_stamping_is_set_once_and_restored_by_the_last_user(monkeypatch):
    nic = FakeNic(monkeypatch, config=(0, 1, 0))
    a = hw.HardwareStamps("eth9")
    b = hw.HardwareStamps("eth9")
    assert nic.sets == [(0, 1, hw.HWTSTAMP_FILTER_ALL)]  # tx setting kept
    a.close()
    assert nic.config[2] == hw.HWTSTAMP_FILTER_ALL  # b still needs it
    b.close()
    assert nic.config == (0, 1, 0) and len(nic.sets) == 2
    b.close()  # idempotent


def test_a_driver_that_narrows_the_filter_is_refused_and_put_back(monkeypatch):
    nic = FakeNic(monkeypatch, keeps_all=False)
    with pytest.raises(OSError, match="only some frames"):
        hw.HardwareStamps("eth9")
    assert nic.config == (0, 0, 0)
    assert "eth9" not in hw._USERS


def test_an_unreadable_setting_is_left_on_rather_than_turned_off(monkeypatch):
    nic = FakeNic(monkeypatch, readable=False)
    with hw.HardwareStamps("eth9"):
        pass
    assert nic.sets == [(0, hw.HWTSTAMP_TX_OFF, hw.HWTSTAMP_FILTER_ALL)]
