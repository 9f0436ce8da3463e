"""Memory: transparent huge pages, swap, and the NUMA node of the NIC against the pinned cores.

Reads ``/sys/kernel/mm/transparent_hugepage/{enabled,defrag}`` (the bracketed word is the
setting), ``/proc/swaps``, ``/proc/sys/vm/swappiness``, ``/etc/fstab``,
``/sys/devices/system/node/node*/cpulist`` and the NIC's ``device/numa_node``.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from .host import format_cpulist
from .nic import numa_node
from .records import AuditItem, Status, item

if TYPE_CHECKING:
    from .context import Context

THP = "sys/kernel/mm/transparent_hugepage"


def bracketed(text: str | None) -> str | None:
    """The selected word of a sysfs choice file: ``always [madvise] never`` -> ``madvise``."""
    m = re.search(r"\[([^\]]+)\]", text or "")
    return m.group(1) if m else (text.strip() or None if text else None)


def check_thp(ctx: Context) -> AuditItem:
    title = "transparent huge pages"
    h = ctx.host
    en_raw = h.text(f"{THP}/enabled")
    df_raw = h.text(f"{THP}/defrag")
    ev = [f"/{THP}/enabled: {en_raw}" if en_raw is not None else h.why_missing(f"{THP}/enabled"),
          f"/{THP}/defrag: {df_raw}" if df_raw is not None else h.why_missing(f"{THP}/defrag")]
    en, df = bracketed(en_raw), bracketed(df_raw)
    cl = h.cmdline
    if cl is not None and cl.has("transparent_hugepage"):
        ev.append(f"/proc/cmdline: transparent_hugepage={cl.get('transparent_hugepage')}")
    remedy = [f"echo never > /{THP}/enabled; echo never > /{THP}/defrag",
              "at boot: transparent_hugepage=never on the kernel command line (or a tuned "
              "latency profile)"]
    if en is None:
        return item("mem.thp", title, Status.UNKNOWN,
                    h.why_missing(f"{THP}/enabled")
                    + (" (kernel without THP)" if h.exists("sys/kernel/mm") else ""), ev)
    if en == "never":
        return item("mem.thp", title, Status.OK, "off (never)", ev)
    if en == "madvise":
        return item("mem.thp", title, Status.OK,
                    f"only where a program asks (madvise; defrag {df or '?'}): khugepaged "
                    "leaves other memory alone", ev)
    if df == "always":
        return item("mem.thp", title, Status.FAIL,
                    "always, with defrag always: a page fault anywhere may compact memory "
                    "synchronously (milliseconds)", ev, remedy)
    return item("mem.thp", title, Status.WARN,
                f"always (defrag {df or '?'}): khugepaged rewrites page tables of running "
                "processes in the background and faults may allocate and zero 2 MiB at a time",
                ev, remedy)


def check_swap(ctx: Context) -> AuditItem:
    title = "swap and swappiness"
    h = ctx.host
    t = h.text("proc/swaps")
    sw = h.int("proc/sys/vm/swappiness")
    ev = [f"/proc/sys/vm/swappiness: {sw}" if sw is not None
          else h.why_missing("proc/sys/vm/swappiness")]
    if t is None:
        ev.insert(0, h.why_missing("proc/swaps"))
        return item("mem.swap", title, Status.UNKNOWN, h.why_missing("proc/swaps"), ev)
    active = [line.split()[0] for line in t.splitlines()[1:] if line.split()]
    ev.insert(0, f"/proc/swaps: {', '.join(active) if active else 'no swap in use'}")
    fstab = h.text("etc/fstab")
    boot = []
    for line in (fstab or "").splitlines():
        parts = line.split()
        if len(parts) >= 3 and not parts[0].startswith("#") and parts[2] == "swap":
            boot.append(parts[0])
    if boot:
        ev.append(f"/etc/fstab: swap on {', '.join(boot)}")
    remedy = ["swapoff -a, and remove (or comment out) the swap lines of /etc/fstab "
              "(systemctl mask the swap unit or zram generator if one creates it)",
              "sysctl -w vm.swappiness=1; persist in /etc/sysctl.d/90-tickpath.conf",
              "a path that locks its memory (mlockall) is safe from swap-out either way"]
    if active:
        return item("mem.swap", title, Status.WARN,
                    f"swap in use on {', '.join(active)} (swappiness {sw}): a page of the path "
                    "swapped out costs a disk read when next touched", ev, remedy)
    if boot:
        return item("mem.swap", title, Status.WARN,
                    "no swap now, but /etc/fstab turns it on at the next boot", ev, remedy[:1])
    return item("mem.swap", title, Status.OK, "no swap", ev)


def check_numa(ctx: Context) -> AuditItem:
    title = "NIC and pinned cores on the same NUMA node"
    h = ctx.host
    base = "sys/devices/system/node"
    nodes = {}
    for n in h.glob(base, r"node\d+"):
        c = h.cpus(f"{base}/{n}/cpulist")
        if c is not None:
            nodes[int(n[4:])] = c
    if not nodes:
        return item("mem.numa", title, Status.UNKNOWN, h.why_missing(f"{base}/node0/cpulist"),
                    [h.why_missing(f"{base}/node0/cpulist")])
    ev = [f"/{base}/node{n}/cpulist: {format_cpulist(c)}" for n, c in sorted(nodes.items())]
    if len(nodes) == 1:
        return item("mem.numa", title, Status.OK,
                    "one NUMA node: every core is as close to the NIC as any other", ev)
    nic = ctx.nic
    node, nev = (None, "no interface to audit") if nic.name is None or not nic.present \
        else numa_node(h, nic)
    ev.append(nev)
    core_nodes = {n for n, cs in nodes.items() if ctx.cores and set(ctx.cores) & cs}
    if node is None or node < 0:
        if ctx.cores and len(core_nodes) > 1:
            return item("mem.numa", title, Status.WARN,
                        f"pinned cores span nodes {sorted(core_nodes)}: the stages talk "
                        "across the interconnect", ev,
                        ["pin every stage of one path to cores of one node"])
        return item("mem.numa", title, Status.UNKNOWN,
                    f"{len(nodes)} NUMA nodes but the NIC reports none", ev)
    local = nodes.get(node, set())
    if not ctx.cores:
        return item("mem.numa", title, Status.WARN,
                    f"NIC {nic.name} is on node {node} (cores {format_cpulist(local)}); no "
                    "pinned cores given to compare", ev,
                    [f"pin the receive and book stages to node {node}'s cores "
                     f"({format_cpulist(local)}) and allocate their memory there "
                     f"(numactl --cpunodebind={node} --membind={node})"])
    far = set(ctx.cores) - local
    if far:
        return item("mem.numa", title, Status.FAIL,
                    f"pinned core(s) {format_cpulist(far)} are not on the NIC's node {node}: "
                    "every frame crosses the interconnect (DMA lands in node "
                    f"{node}'s memory and cache)", ev,
                    [f"pin to node {node}'s cores ({format_cpulist(local)}) and run under "
                     f"numactl --cpunodebind={node} --membind={node}"])
    return item("mem.numa", title, Status.OK,
                f"pinned cores and NIC {nic.name} on node {node}", ev)
