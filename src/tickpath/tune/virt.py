"""Is this a virtual machine, and how much time does the hypervisor steal?

Reads the ``hypervisor`` CPU flag in ``/proc/cpuinfo``, ``/sys/hypervisor/type``, the DMI vendor
and product (``/sys/class/dmi/id``), the paravirtual clocksources offered, and the steal column
of ``/proc/stat``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .records import AuditItem, Status, item

if TYPE_CHECKING:
    from .context import Context
    from .host import Host

#: DMI vendor/product substrings that name a hypervisor.
_DMI_HINTS = {
    "qemu": "QEMU/KVM", "kvm": "KVM", "vmware": "VMware", "virtualbox": "VirtualBox",
    "innotek": "VirtualBox", "xen": "Xen", "amazon ec2": "AWS Nitro (KVM)",
    "google compute engine": "Google Compute Engine (KVM)", "openstack": "OpenStack (KVM)",
    "bochs": "Bochs/QEMU", "parallels": "Parallels", "cloud hypervisor": "Cloud Hypervisor",
}
#: Clocksources only a guest has.
_CLOCK_HINTS = {"kvm-clock": "KVM", "hyperv_clocksource_tsc_page": "Hyper-V",
                "hyperv_clocksource_msr": "Hyper-V", "xen": "Xen", "vmware-tsc": "VMware"}


@dataclass
class VirtInfo:
    is_vm: bool | None
    name: str | None = None
    evidence: list[str] = field(default_factory=list)

    def moot(self, what: str) -> str:
        """Sentence for an item a guest cannot see or control."""
        return f"moot in a virtual machine ({self.name or 'hypervisor'}): {what}"


def detect(host: Host) -> VirtInfo:
    ev: list[str] = []
    votes: list[str] = []
    known_bare = False
    flags = host.cpuinfo_flags
    if flags is None:
        ev.append(host.why_missing("proc/cpuinfo"))
    elif "hypervisor" in flags:
        ev.append("/proc/cpuinfo: flag 'hypervisor' set (the CPU reports it runs under one)")
        votes.append("")
    elif "fpu" in flags:
        # x86 sets the flag in every guest; other architectures have no such flag.
        known_bare = True
        ev.append("/proc/cpuinfo: no 'hypervisor' flag")
    hv = host.text("sys/hypervisor/type")
    if hv:
        ev.append(f"/sys/hypervisor/type: {hv}")
        votes.append(hv.capitalize())
    dmi = []
    for f in ("sys_vendor", "product_name"):
        t = host.text(f"sys/class/dmi/id/{f}")
        if t is None:
            ev.append(host.why_missing(f"sys/class/dmi/id/{f}"))
        else:
            dmi.append(t)
            ev.append(f"/sys/class/dmi/id/{f}: {t}")
    joined = " ".join(dmi).lower()
    for k, v in _DMI_HINTS.items():
        if k in joined:
            votes.append(v)
            break
    if "microsoft" in joined and "virtual" in joined:
        votes.append("Hyper-V")
    avail = host.text("sys/devices/system/clocksource/clocksource0/available_clocksource")
    for cs in (avail or "").split():
        if cs in _CLOCK_HINTS:
            ev.append(f"/sys/devices/system/clocksource/clocksource0/available_clocksource: "
                      f"{cs} (a {_CLOCK_HINTS[cs]} guest clock)")
            votes.append(_CLOCK_HINTS[cs])
            break
    if votes:
        names = [v for v in votes if v]
        return VirtInfo(True, names[0] if names else None, ev)
    return VirtInfo(False if known_bare or dmi else None, None, ev)


def _cpufreq_absent(ctx: Context) -> bool:
    return not any(ctx.host.exists(f"sys/devices/system/cpu/cpu{c}/cpufreq")
                   for c in sorted(ctx.host.online or {0}))


def _cpuidle_absent(ctx: Context) -> bool:
    return not any(ctx.host.exists(f"sys/devices/system/cpu/cpu{c}/cpuidle")
                   for c in sorted(ctx.host.online or {0}))


def check_hypervisor(ctx: Context) -> AuditItem:
    title = "virtual machine or bare metal"
    vm = ctx.vm
    if vm.is_vm is None:
        return item("virt.hypervisor", title, Status.UNKNOWN,
                    "cannot tell: no CPU flags and no DMI data to read", vm.evidence)
    if not vm.is_vm:
        return item("virt.hypervisor", title, Status.OK, "bare metal", vm.evidence)
    moot = []
    if _cpufreq_absent(ctx):
        moot.append("power.governor and power.turbo (no cpufreq in the guest: the host sets "
                    "the frequency)")
    if _cpuidle_absent(ctx):
        moot.append("power.cstates, power.cstate_cmdline and power.cpu_dma_latency (no cpuidle "
                    "driver in the guest: an idle vCPU halts into the host, which picks the "
                    "physical C-state)")
    return item(
        "virt.hypervisor", title, Status.WARN,
        f"a virtual machine ({vm.name or 'hypervisor not named'}): the host's scheduler, "
        "frequency and idle states stand between this guest and a deterministic path",
        vm.evidence + [f"moot here: {m}" for m in moot],
        ["for production, run on bare metal",
         "if it must be a VM: dedicated vCPUs pinned 1:1 to host cores that the host isolates "
         "(host: tuned-adm profile cpu-partitioning or realtime-virtual-host), no memory or CPU "
         "overcommit, host C-states limited, the NIC passed through (SR-IOV VF or PCI "
         "passthrough) rather than virtio",
         "in the guest: idle=poll on the kernel command line (or the cpuidle-haltpoll driver) "
         "so an idle vCPU spins instead of exiting to the host"])


def check_steal(ctx: Context) -> AuditItem:
    title = "time the hypervisor steals from each core (/proc/stat steal)"
    h = ctx.host
    t = h.text("proc/stat")
    if t is None:
        return item("virt.steal", title, Status.UNKNOWN, h.why_missing("proc/stat"),
                    [h.why_missing("proc/stat")])
    rows: dict[str, list[int]] = {}
    for line in t.splitlines():
        parts = line.split()
        if parts and parts[0].startswith("cpu"):
            try:
                rows[parts[0]] = [int(x) for x in parts[1:]]
            except ValueError:
                continue
    total = rows.get("cpu")
    if total is None or len(total) < 8:
        return item("virt.steal", title, Status.UNKNOWN,
                    "no steal column in /proc/stat (kernel too old or file malformed)",
                    ["/proc/stat: the 'cpu' line has fewer than 8 columns"])

    def share(v: list[int]) -> float:
        # user nice system idle iowait irq softirq steal; guest columns are already in user.
        s = sum(v[:8])
        return v[7] / s if s else 0.0

    overall = share(total)
    per = {int(k[3:]): share(v) for k, v in rows.items() if k != "cpu" and len(v) >= 8}
    shown = sorted(ctx.scope or per.keys())
    ev = [f"/proc/stat: steal {total[7]} of {sum(total[:8])} ticks since boot "
          f"({overall:.2%})"]
    ev.append("per core: " + ", ".join(f"cpu{c} {per[c]:.2%}" for c in shown if c in per))
    worst = max([per[c] for c in shown if c in per] or [overall])
    remedy = ["steal is time the host ran something else while this vCPU wanted to run: ask "
              "for dedicated vCPUs (pinned 1:1 to host cores, no overcommit); the figure is "
              "since boot, so a recent burst shows only as a rise between two reads"]
    if worst >= 0.05:
        return item("virt.steal", title, Status.FAIL,
                    f"the hypervisor took {worst:.1%} of a core's time: stalls of milliseconds",
                    ev, remedy)
    if worst >= 0.001:
        return item("virt.steal", title, Status.WARN,
                    f"the hypervisor took {worst:.2%} of a core's time since boot: each theft "
                    "is a stall the path cannot see coming", ev, remedy)
    return item("virt.steal", title, Status.OK,
                f"no measurable steal ({worst:.3%})" if ctx.vm.is_vm else "no steal", ev)
