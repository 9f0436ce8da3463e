"""Interrupts: where the NIC's queue interrupts may run, and whether irqbalance moves them.

A NIC's interrupts are the lines of ``/proc/interrupts`` whose action names the interface
(``eth0-TxRx-0``), its device (``virtio2-input.0``) or its PCI address
(``mlx5_comp0@pci:0000:3b:00.0``), plus the vectors in the device's ``msi_irqs``. Each one's
allowed cores are in ``/proc/irq/N/smp_affinity_list`` (``effective_affinity_list``: where it
actually goes now). irqbalance is found by ``comm`` in ``/proc/*/comm``; its banned cores in
``/etc/default/irqbalance`` or ``/etc/sysconfig/irqbalance``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import TYPE_CHECKING

from .host import format_cpulist, parse_cpulist, parse_cpumask
from .nic import rel_path
from .records import AuditItem, Status, item

if TYPE_CHECKING:
    from .context import Context
    from .host import Host


@dataclass
class Irq:
    number: int
    name: str
    counts: dict[int, int]           # cpu -> interrupts delivered there
    allowed: set[int] | None = None
    effective: set[int] | None = None


_TRIGGER = re.compile(r"\S+-(?:edge|level|fasteoi|simple|eoi)\s+(.*)$", re.IGNORECASE)


def action(desc: str) -> str:
    """The handler name(s) of an interrupt line, without chip and trigger (``virtio2-input.0``)."""
    m = _TRIGGER.search(desc)
    return m.group(1) if m else desc


def parse_interrupts(text: str) -> list[Irq]:
    """Numbered lines of ``/proc/interrupts``: number, description after the counts, counts."""
    lines = text.splitlines()
    if not lines:
        return []
    cpus = [int(c[3:]) for c in lines[0].split() if c.startswith("CPU") and c[3:].isdigit()]
    out = []
    for line in lines[1:]:
        head, sep, rest = line.partition(":")
        if not sep or not head.strip().isdigit():
            continue
        fields = rest.split()
        counts = {}
        i = 0
        while i < len(fields) and i < len(cpus) and fields[i].isdigit():
            counts[cpus[i]] = int(fields[i])
            i += 1
        out.append(Irq(int(head), " ".join(fields[i:]), counts))
    return out


def nic_irqs(ctx: Context) -> tuple[list[Irq], list[str]]:
    """The NIC's interrupts with their affinities, and the evidence of how they were found."""
    h = ctx.host
    nic = ctx.nic
    ev = []
    t = h.text("proc/interrupts")
    if t is None:
        return [], [h.why_missing("proc/interrupts")]
    table = {q.number: q for q in parse_interrupts(t)}
    pats = [re.compile(rf"(?<![\w]){re.escape(n)}(?![\w])") for n in sorted(nic.irq_names)]
    chosen = {n for n, q in table.items() if any(p.search(q.name) for p in pats)}
    ev.append(f"/proc/interrupts: lines naming {', '.join(sorted(nic.irq_names))}: "
              f"{len(chosen)}")
    for d in (nic.device, nic.parent):
        if d is None:
            continue
        rel = rel_path(h, d) + "/msi_irqs"
        vecs = {int(v) for v in h.listdir(rel) or [] if v.isdigit()}
        if vecs:
            ev.append(f"/{rel}: {format_cpulist(vecs)}")
            chosen |= vecs & set(table) if table else vecs
    irqs = []
    for n in sorted(chosen):
        q = table.get(n) or Irq(n, "?", {})
        q.allowed = h.cpus(f"proc/irq/{n}/smp_affinity_list")
        if q.allowed is None:
            m = h.text(f"proc/irq/{n}/smp_affinity")
            if m is not None:
                try:
                    q.allowed = parse_cpumask(m)
                except ValueError:
                    pass
        q.effective = h.cpus(f"proc/irq/{n}/effective_affinity_list")
        irqs.append(q)
    return irqs, ev


def _describe(q: Irq, focus: set[int]) -> str:
    allowed = "unreadable" if q.allowed is None else format_cpulist(q.allowed)
    s = f"IRQ {q.number} {action(q.name)}: /proc/irq/{q.number}/smp_affinity_list {allowed}"
    if q.effective is not None:
        s += f" (effective {format_cpulist(q.effective)})"
    hits = {c: q.counts[c] for c in sorted(focus) if q.counts.get(c)}
    if hits:
        s += "; fired " + ", ".join(f"{v} times on cpu{c}" for c, v in hits.items())
    return s


def check_nic_affinity(ctx: Context) -> AuditItem:
    title = "NIC queue interrupts kept off pinned cores"
    nic = ctx.nic
    if nic.name is None or not nic.present:
        return item("irq.nic_affinity", title, Status.UNKNOWN,
                    "no interface to audit" if nic.name is None
                    else f"interface {nic.name} not present", nic.evidence)
    irqs, ev = nic_irqs(ctx)
    if not irqs:
        return item("irq.nic_affinity", title, Status.UNKNOWN,
                    f"no interrupt found for {nic.name} (a veth or other software device "
                    "has none; otherwise /proc/interrupts names it differently)", ev)
    guard = set(ctx.cores) if ctx.cores else (ctx.isolated or set())
    ev += [_describe(q, guard or set(q.counts)) for q in irqs]
    unread = [q.number for q in irqs if q.allowed is None]
    if unread:
        ev.append("affinity unreadable for IRQ " + ", ".join(map(str, unread)))
    if not guard:
        spread = set().union(*(q.allowed or set() for q in irqs))
        return item("irq.nic_affinity", title, Status.WARN,
                    f"{len(irqs)} interrupts of {nic.name} may run on {format_cpulist(spread)}; "
                    "no pinned or isolated cores to keep them off", ev,
                    ["name the pinned cores (--cores) to check this"])
    bad = [q for q in irqs if q.allowed and q.allowed & guard]
    if not bad:
        if unread:
            return item("irq.nic_affinity", title, Status.UNKNOWN,
                        f"affinity of {len(unread)} of {nic.name}'s interrupts unreadable", ev)
        return item("irq.nic_affinity", title, Status.OK,
                    f"all {len(irqs)} interrupts of {nic.name} stay off "
                    f"{format_cpulist(guard)}", ev)
    hk = ctx.housekeeping
    who = "pinned" if ctx.cores else "isolated"
    if hk:
        if len(bad) <= 8:
            remedy = [f"echo {format_cpulist(hk)} > /proc/irq/{q.number}/smp_affinity_list"
                      for q in bad]
        else:
            nums = " ".join(str(q.number) for q in bad)
            remedy = [f"for n in {nums}; do echo {format_cpulist(hk)} > "
                      "/proc/irq/$n/smp_affinity_list; done"]
        remedy += ["stop irqbalance first or it moves them back (irq.irqbalance); a "
                   "managed interrupt refuses the write (EIO): isolcpus=managed_irq,... "
                   "keeps those off isolated cores",
                   "persist: tuned's cpu-partitioning profile, or a boot-time unit doing "
                   "the writes above"]
    else:
        remedy = ["no housekeeping core is left for interrupts: pin fewer cores"]
    status = Status.FAIL if ctx.cores else Status.WARN
    return item("irq.nic_affinity", title, status,
                f"{len(bad)} of {len(irqs)} interrupts of {nic.name} may run on {who} cores "
                f"{format_cpulist(guard)}: each one preempts the hot loop", ev, remedy)


def _banned(h: Host) -> tuple[set[int] | None, list[str]]:
    ev = []
    banned: set[int] | None = None
    for rel in ("etc/default/irqbalance", "etc/sysconfig/irqbalance"):
        t = h.text(rel)
        if t is None:
            continue
        for line in t.splitlines():
            key, sep, val = line.strip().partition("=")
            if not sep or key.startswith("#"):
                continue
            val = val.strip().strip("\"'")
            try:
                if key == "IRQBALANCE_BANNED_CPULIST":
                    banned = (banned or set()) | parse_cpulist(val, h.nr_cpus)
                elif key == "IRQBALANCE_BANNED_CPUS":
                    banned = (banned or set()) | parse_cpumask(val)
                else:
                    continue
            except ValueError:
                continue
            ev.append(f"/{rel}: {key}={val}")
    return banned, ev


def check_irqbalance(ctx: Context) -> AuditItem:
    title = "irqbalance (moves interrupts between cores at run time)"
    h = ctx.host
    run = h.running("irqbalance")
    if run is None:
        return item("irq.irqbalance", title, Status.UNKNOWN, "no process listed in /proc",
                    ["/proc: no PID directory with a comm file"])
    if not run:
        return item("irq.irqbalance", title, Status.OK, "irqbalance is not running",
                    [f"/proc/*/comm: no irqbalance among {len(h.processes or {})} processes"])
    pids = run["irqbalance"]
    ev = [f"/proc/{pids[0]}/comm: irqbalance"]
    banned, bev = _banned(h)
    ev += bev
    guard = set(ctx.cores) if ctx.cores else (ctx.isolated or set())
    if ctx.isolated:
        ev.append(f"isolated cores {format_cpulist(ctx.isolated)} (irqbalance 1.8 and later "
                  "leaves isolcpus and nohz_full cores alone)")
    kept_off = (banned or set()) | (ctx.isolated or set())
    remedy = ["systemctl disable --now irqbalance (then set each NIC interrupt's affinity "
              "once: irq.nic_affinity)",
              f"or keep it and ban the cores: IRQBALANCE_BANNED_CPULIST="
              f"{format_cpulist(guard or ctx.target)} in /etc/default/irqbalance (Debian) or "
              "/etc/sysconfig/irqbalance (RHEL), then systemctl restart irqbalance"]
    if guard and guard <= kept_off:
        return item("irq.irqbalance", title, Status.OK,
                    f"irqbalance runs but leaves cores {format_cpulist(guard)} alone", ev)
    return item("irq.irqbalance", title, Status.WARN,
                "irqbalance is running and may move interrupts onto "
                + (f"cores {format_cpulist(guard - kept_off)}" if guard else "any core")
                + " at any time", ev, remedy)
