"""The network interface the feed arrives on: driver, rings, coalescing, timestamps, XDP.

Which interface: the one asked for, else the one carrying the default route
(``/proc/net/route``), else the first with a device behind it (``/sys/class/net/*/device``).
Its driver is the name of the ``device/driver`` symlink (or ``DRIVER=`` in ``device/uevent``).
Ring sizes, coalescing and timestamping capabilities are not files: they come from ethtool
ioctls (:mod:`tickpath.tune.ethtool`), possible only on the live host.
"""

from __future__ import annotations

import errno
import os
import re
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from . import ethtool
from .records import AuditItem, Status, item

if TYPE_CHECKING:
    from .context import Context
    from .host import Host

_PCI_ADDR = re.compile(r"[0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7]")

#: Virtual NIC drivers: a hypervisor or the kernel itself sits where a NIC would be.
VIRTUAL_DRIVERS = {
    "virtio_net": "paravirtual virtio NIC (KVM, QEMU, Firecracker)", "veth": "veth pair",
    "vmxnet3": "VMware paravirtual NIC", "hv_netvsc": "Hyper-V synthetic NIC",
    "xen-netfront": "Xen paravirtual NIC", "tun": "tun/tap device",
    "e1000": "emulated Intel e1000 (a VM's)", "bridge": "software bridge", "bonding": "bond",
    "dummy": "dummy device",
}
#: Drivers with native XDP and AF_XDP zero-copy in mainline Linux.
ZEROCOPY_DRIVERS = {"mlx5_core", "ice", "i40e", "ixgbe", "igc", "igb", "stmmac", "idpf"}
#: Drivers with native XDP (in the driver, before an skb) but no zero-copy AF_XDP.
NATIVE_XDP_DRIVERS = {"mlx4_en", "mlx4_core", "bnxt_en", "nfp", "qede", "ena", "sfc", "tun",
                      "hv_netvsc", "ixgbevf", "thunder_nicvf", "mvneta", "mvpp2", "enetc"}


@dataclass
class Nic:
    name: str | None
    how: str
    present: bool = False
    device: str | None = None           # real path of the device directory, if any
    parent: str | None = None           # its parent (the PCI function behind a virtio device)
    irq_names: set[str] = field(default_factory=set)
    evidence: list[str] = field(default_factory=list)


def _default_route_iface(host: Host) -> str | None:
    t = host.text("proc/net/route")
    for line in (t or "").splitlines()[1:]:
        parts = line.split()
        if len(parts) >= 8 and parts[1] == "00000000" and parts[7] == "00000000":
            return parts[0]
    return None


def resolve(host: Host, iface: str | None) -> Nic:
    net = "sys/class/net"
    if iface:
        nic = Nic(iface, "given")
    else:
        names = host.listdir(net)
        if names is None:
            return Nic(None, "none", evidence=[host.why_missing(net)])
        dflt = _default_route_iface(host)
        with_dev = [n for n in names if n != "lo" and host.exists(f"{net}/{n}/device")]
        if dflt and dflt in names:
            nic = Nic(dflt, "default route in /proc/net/route")
        elif with_dev:
            nic = Nic(with_dev[0], "first interface with a device in /sys/class/net")
        else:
            return Nic(None, "none", evidence=[
                f"/sys/class/net: {', '.join(names) or 'empty'}; no default route and no "
                "interface with a device behind it"])
    nic.present = host.exists(f"{net}/{nic.name}")
    if not nic.present:
        nic.evidence.append(f"not present: /sys/class/net/{nic.name}")
        return nic
    dev_rel = f"{net}/{nic.name}/device"
    nic.irq_names.add(nic.name)
    if host.exists(dev_rel):
        real = os.path.realpath(host.path(dev_rel))
        nic.device = real
        base = os.path.basename(real)
        nic.irq_names.add(base)
        parent = os.path.dirname(real)
        if _PCI_ADDR.fullmatch(os.path.basename(parent)) and not _PCI_ADDR.fullmatch(base):
            nic.parent = parent
            nic.irq_names.add(os.path.basename(parent))
    return nic


def rel_path(host: Host, real: str) -> str:
    """A real path under the root, back to a root-relative one."""
    root = os.path.realpath(host.root)
    return os.path.relpath(real, root)


def driver(host: Host, nic: Nic) -> tuple[str | None, str]:
    """Driver name and where it was read."""
    rel = f"sys/class/net/{nic.name}/device/driver"
    name = host.link_name(rel)
    if name:
        return name, f"/{rel} -> {name}"
    ue = host.text(f"sys/class/net/{nic.name}/device/uevent")
    for line in (ue or "").splitlines():
        if line.startswith("DRIVER="):
            return line[7:], f"/sys/class/net/{nic.name}/device/uevent: {line}"
    if host.live:
        try:
            info = ethtool.drvinfo(nic.name or "")
            return info["driver"], f"ETHTOOL_GDRVINFO on {nic.name}: driver {info['driver']}"
        except OSError as e:
            return None, f"ETHTOOL_GDRVINFO on {nic.name}: {e.strerror}"
    return None, host.why_missing(rel)


def numa_node(host: Host, nic: Nic) -> tuple[int | None, str]:
    """NUMA node the NIC hangs off (-1: none reported) and where it was read."""
    rel = f"sys/class/net/{nic.name}/device/numa_node"
    v = host.int(rel)
    if v is not None:
        return v, f"/{rel}: {v}"
    if nic.parent:
        prel = rel_path(host, nic.parent) + "/numa_node"
        v = host.int(prel)
        if v is not None:
            return v, f"/{prel}: {v} (the PCI function behind {os.path.basename(nic.device)})"
    return None, host.why_missing(rel)


# -- items --------------------------------------------------------------------------------

def _no_nic(ctx: Context, id_: str, title: str) -> AuditItem | None:
    nic = ctx.nic
    if nic.name is None:
        return item(id_, title, Status.UNKNOWN,
                    "no interface to audit: pass --iface", nic.evidence,
                    ["name the interface the feed arrives on: --iface IF (API: iface='IF')"])
    if not nic.present:
        return item(id_, title, Status.UNKNOWN,
                    f"interface {nic.name} not present", nic.evidence)
    return None


def check_iface(ctx: Context) -> AuditItem:
    title = "the interface the feed arrives on"
    nic = ctx.nic
    h = ctx.host
    if nic.name is None:
        return item("nic.iface", title, Status.UNKNOWN, "no interface found to audit",
                    nic.evidence, ["name it: --iface IF (API: iface='IF')"])
    if not nic.present:
        return item("nic.iface", title, Status.FAIL,
                    f"interface {nic.name} is not on this host", nic.evidence,
                    [f"check the name (ls /sys/class/net); interfaces here: "
                     f"{', '.join(h.listdir('sys/class/net') or []) or 'none'}"])
    ev = [f"{nic.name}: chosen by {nic.how}"]
    base = f"sys/class/net/{nic.name}"
    state = h.text(f"{base}/operstate")
    for f in ("operstate", "mtu", "speed"):
        v = h.text(f"{base}/{f}")
        ev.append(f"/{base}/{f}: {v}" if v is not None else h.why_missing(f"{base}/{f}"))
    if nic.device:
        ev.append(f"/{base}/device -> /{rel_path(h, nic.device)}")
    if state is not None and state not in ("up", "unknown"):
        return item("nic.iface", title, Status.WARN, f"{nic.name} is {state}", ev,
                    [f"ip link set {nic.name} up, and check the cable or peer"])
    return item("nic.iface", title, Status.OK, f"{nic.name} ({state or 'state unknown'})", ev)


def check_driver(ctx: Context) -> AuditItem:
    title = "NIC driver"
    if (r := _no_nic(ctx, "nic.driver", title)) is not None:
        return r
    name, ev = driver(ctx.host, ctx.nic)
    if name is None:
        return item("nic.driver", title, Status.UNKNOWN, f"driver unknown ({ev})", [ev])
    if name in VIRTUAL_DRIVERS:
        return item("nic.driver", title, Status.WARN,
                    f"{name}: a {VIRTUAL_DRIVERS[name]}, not a physical NIC: software (the "
                    "hypervisor's switch, or the kernel) carries every packet before the "
                    "receiver sees it", [ev],
                    ["for production, a physical NIC (or an SR-IOV virtual function passed "
                     "through) with hardware timestamps and AF_XDP zero-copy: mlx5_core, ice, "
                     "i40e, ixgbe"])
    return item("nic.driver", title, Status.OK, f"{name}", [ev])


def _live_only(ctx: Context, id_: str, title: str, request: str) -> AuditItem | None:
    if (r := _no_nic(ctx, id_, title)) is not None:
        return r
    if not ctx.host.live:
        return item(id_, title, Status.UNKNOWN,
                    f"needs the live host: {request} is an ioctl on the interface, not a file "
                    f"(auditing a tree at {ctx.host.root})",
                    [f"{request} not issued: root is {ctx.host.root}, not /"])
    return None


def _ioctl_unknown(id_: str, title: str, request: str, iface: str, e: OSError) -> AuditItem:
    why = ("the driver does not implement it" if e.errno == errno.EOPNOTSUPP
           else "no such device" if e.errno == errno.ENODEV else e.strerror)
    return item(id_, title, Status.UNKNOWN, f"{request} on {iface}: {why}",
                [f"ioctl(SIOCETHTOOL, {request}) on {iface}: errno {e.errno} "
                 f"({os.strerror(e.errno or 0)})"])


def check_rings(ctx: Context) -> AuditItem:
    title = "NIC descriptor ring sizes"
    req = "ETHTOOL_GRINGPARAM"
    if (r := _live_only(ctx, "nic.rings", title, req)) is not None:
        return r
    name = ctx.nic.name or ""
    try:
        rp = ethtool.ringparam(name)
    except OSError as e:
        return _ioctl_unknown("nic.rings", title, req, name, e)
    ev = [f"{req} on {name}: rx {rp['rx_pending']} of max {rp['rx_max_pending']}, "
          f"tx {rp['tx_pending']} of max {rp['tx_max_pending']}"]
    want = min(1024, rp["rx_max_pending"])
    if rp["rx_pending"] < want:
        return item("nic.rings", title, Status.WARN,
                    f"RX ring {rp['rx_pending']} descriptors: a burst longer than that while "
                    "the receiver is busy is dropped (and a gap costs a recovery)", ev,
                    [f"ethtool -G {name} rx {want} (persist it in a udev rule or the "
                     "interface's network configuration)"])
    return item("nic.rings", title, Status.OK,
                f"RX ring {rp['rx_pending']} (max {rp['rx_max_pending']})", ev)


def check_coalesce(ctx: Context) -> AuditItem:
    title = "NIC interrupt coalescing"
    req = "ETHTOOL_GCOALESCE"
    if (r := _live_only(ctx, "nic.coalesce", title, req)) is not None:
        return r
    name = ctx.nic.name or ""
    try:
        c = ethtool.coalesce(name)
    except OSError as e:
        return _ioctl_unknown("nic.coalesce", title, req, name, e)
    usecs, frames = c["rx_coalesce_usecs"], c["rx_max_coalesced_frames"]
    adaptive = c["use_adaptive_rx_coalesce"]
    ev = [f"{req} on {name}: rx-usecs {usecs}, rx-frames {frames}, adaptive-rx "
          f"{'on' if adaptive else 'off'}, tx-usecs {c['tx_coalesce_usecs']}"]
    if adaptive or (usecs > 0 and frames != 1):
        why = "adaptive coalescing raises the delay under load" if adaptive else \
            f"the NIC waits up to {usecs} us for more packets before it interrupts"
        return item("nic.coalesce", title, Status.WARN,
                    f"{why} (a busy-polling receiver does not wait for the interrupt)", ev,
                    [f"ethtool -C {name} adaptive-rx off rx-usecs 0 rx-frames 1"])
    return item("nic.coalesce", title, Status.OK,
                "each packet interrupts at once (rx-usecs 0 or rx-frames 1, adaptive off)", ev)


def check_timestamping(ctx: Context) -> AuditItem:
    title = "NIC hardware timestamping"
    req = "ETHTOOL_GET_TS_INFO"
    if (r := _live_only(ctx, "nic.timestamping", title, req)) is not None:
        phc = ctx.host.glob(f"sys/class/net/{ctx.nic.name}/device/ptp", r"ptp\d+")
        if phc and r.status is Status.UNKNOWN and ctx.nic.present:
            r.evidence.append(f"/sys/class/net/{ctx.nic.name}/device/ptp: {', '.join(phc)} "
                              "(the NIC has a hardware clock)")
        return r
    name = ctx.nic.name or ""
    try:
        ts = ethtool.ts_info(name)
    except OSError as e:
        return _ioctl_unknown("nic.timestamping", title, req, name, e)
    caps = ts["so_timestamping"]
    ev = [f"{req} on {name}: capabilities {', '.join(caps) or 'none'}; PTP clock index "
          f"{ts['phc_index']}; tx types {', '.join(ts['tx_types']) or 'none'}; rx filters "
          f"{', '.join(ts['rx_filters']) or 'none'}"]
    if "rx_hardware" in caps and "raw_hardware" in caps:
        phc = f"/dev/ptp{ts['phc_index']}" if ts["phc_index"] >= 0 else "no PTP clock"
        return item("nic.timestamping", title, Status.OK,
                    f"hardware RX timestamps ({phc}): the wire arrival time, before the "
                    "interrupt, coalescing and softirq", ev,
                    [])
    return item("nic.timestamping", title, Status.WARN,
                "software timestamps only: taken after the interrupt, coalescing and the "
                "driver, so they hide the NIC's and the kernel's share of the latency", ev,
                ["a NIC with hardware timestamping (mlx5_core, ice, i40e, igc); enable it per "
                 "socket with SO_TIMESTAMPING and on the device with SIOCSHWTSTAMP (hwstamp_ctl "
                 f"-i {name} -r 1)"])


def _kernel_version(host: Host) -> tuple[int, int] | None:
    t = host.text("proc/sys/kernel/osrelease")
    m = re.match(r"(\d+)\.(\d+)", t or "")
    return (int(m.group(1)), int(m.group(2))) if m else None


def check_xdp(ctx: Context) -> AuditItem:
    title = "AF_XDP mode the driver implies"
    if (r := _no_nic(ctx, "nic.xdp", title)) is not None:
        return r
    name, ev0 = driver(ctx.host, ctx.nic)
    ev = [ev0, "zero-copy is confirmed only by binding an XSK socket with XDP_ZEROCOPY; this "
          "audit does not try"]
    if name is None:
        return item("nic.xdp", title, Status.UNKNOWN, "driver unknown", ev)
    if name in ZEROCOPY_DRIVERS:
        return item("nic.xdp", title, Status.UNKNOWN,
                    f"{name} has native XDP and AF_XDP zero-copy in mainline Linux: likely "
                    "available, not verified", ev,
                    ["bind with XDP_ZEROCOPY and check it is accepted (tickpath refuses with "
                     "the reason when it is not)"])
    if name == "veth":
        return item("nic.xdp", title, Status.WARN,
                    "veth: native XDP in copy mode only (zero-copy bind fails with EOPNOTSUPP); "
                    "a redirect lands only on the socket bound to the packet's queue", ev,
                    ["fine for tests; production wants a physical NIC with zero-copy"])
    if name == "virtio_net":
        kv = _kernel_version(ctx.host)
        ev.append(f"/proc/sys/kernel/osrelease: {'.'.join(map(str, kv))}" if kv else
                  ctx.host.why_missing("proc/sys/kernel/osrelease"))
        if kv is not None and kv >= (6, 9):
            return item("nic.xdp", title, Status.UNKNOWN,
                        "virtio_net: native XDP; AF_XDP zero-copy exists since Linux 6.9 and "
                        "needs the device to support queue reset: not verified", ev,
                        ["bind with XDP_ZEROCOPY; if refused, XDP_COPY works"])
        return item("nic.xdp", title, Status.WARN,
                    "virtio_net: native XDP, copy mode only on this kernel (zero-copy came in "
                    "Linux 6.9)", ev, ["copy mode (XDP_COPY) works; zero-copy needs Linux "
                                       ">= 6.9 and a device with queue reset"])
    if name in NATIVE_XDP_DRIVERS:
        return item("nic.xdp", title, Status.WARN,
                    f"{name}: native XDP, but no AF_XDP zero-copy in mainline: frames are "
                    "copied into the UMEM", ev,
                    ["copy mode works; zero-copy needs mlx5_core, ice, i40e, ixgbe or igc"])
    return item("nic.xdp", title, Status.WARN,
                f"{name}: no native XDP known for this driver: generic (skb) mode, copied", ev,
                ["generic mode works (XDP_FLAGS_SKB_MODE) at about the cost of a socket; "
                 "native and zero-copy need a driver such as mlx5_core, ice, i40e, ixgbe"])


def check_busy_poll(ctx: Context) -> AuditItem:
    title = "busy-poll sysctls (net.core.busy_poll, busy_read)"
    h = ctx.host
    vals = {}
    ev = []
    for k in ("busy_poll", "busy_read"):
        rel = f"proc/sys/net/core/{k}"
        v = h.int(rel)
        vals[k] = v
        ev.append(f"/{rel}: {v}" if v is not None else h.why_missing(rel))
    if all(v is None for v in vals.values()):
        return item("nic.busy_poll", title, Status.UNKNOWN,
                    h.why_missing("proc/sys/net/core/busy_poll"), ev)
    remedy = ["sysctl -w net.core.busy_poll=50 net.core.busy_read=50 (microseconds a "
              "poll()/read() spins on the device queue before sleeping); persist in "
              "/etc/sysctl.d/90-tickpath.conf",
              "tickpath's socket receivers set SO_BUSY_POLL per socket, which overrides "
              "busy_read; busy polling needs a NIC driver with NAPI (not veth)"]
    if not vals["busy_poll"] and not vals["busy_read"]:
        return item("nic.busy_poll", title, Status.WARN,
                    "busy polling off by default: a socket that does not ask for it sleeps "
                    "until the interrupt and the wake-up (tens of microseconds)", ev, remedy)
    return item("nic.busy_poll", title, Status.OK,
                f"busy_poll {vals['busy_poll']} us, busy_read {vals['busy_read']} us", ev)
