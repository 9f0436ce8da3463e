"""CPU isolation: which cores the kernel keeps for tickpath's pinned stages.

Reads ``isolcpus``, ``nohz_full``, ``rcu_nocbs`` and ``irqaffinity`` on ``/proc/cmdline``, what
the kernel applied (``/sys/devices/system/cpu/{online,isolated,nohz_full}``,
``/proc/irq/default_smp_affinity``) and each pinned core's SMT siblings
(``/sys/devices/system/cpu/cpuN/topology/thread_siblings_list``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .context import isolcpus_value
from .host import format_cpulist, format_cpumask, parse_cpulist, parse_cpumask
from .records import AuditItem, Status, item

if TYPE_CHECKING:
    from .context import Context

CPU = "sys/devices/system/cpu"


def _cl(cpus: set[int] | frozenset[int] | None) -> str:
    return "unknown" if cpus is None else format_cpulist(cpus)


def boot_param_note() -> str:
    return ("kernel parameters go on the boot command line: GRUB_CMDLINE_LINUX in "
            "/etc/default/grub then update-grub (Debian) or grub2-mkconfig -o "
            "/boot/grub2/grub.cfg (RHEL), or grubby --update-kernel=ALL --args='...'; reboot")


def check_pinned(ctx: Context) -> AuditItem:
    title = "cores tickpath pins its stages to"
    h = ctx.host
    online = h.online
    ev = [f"/{CPU}/online: {_cl(online)}" if online is not None
          else h.why_missing(f"{CPU}/online")]
    iso = ctx.isolated
    ev.append(f"isolated cores: {_cl(iso)}")
    if not ctx.cores:
        cand = sorted(iso) if iso else sorted(ctx.target)
        return item(
            "cpu.pinned", title, Status.WARN,
            f"no cores configured for the pinned stages; isolated here: {_cl(iso)}", ev,
            [f"name the cores the hot stages will run on: tickpath tune audit --cores "
             f"{','.join(map(str, cand)) or 'N'} (API: audit(cores=[...])), and pin the "
             "stages to exactly those"])
    if online is None:
        return item("cpu.pinned", title, Status.UNKNOWN,
                    f"cannot tell which cores are online ({h.why_missing(f'{CPU}/online')})", ev)
    missing = set(ctx.cores) - online
    if missing:
        return item("cpu.pinned", title, Status.FAIL,
                    f"core(s) {_cl(missing)} not online (online: {_cl(online)})", ev,
                    [f"pin to online cores only (online: {_cl(online)})"])
    if set(ctx.cores) >= online:
        return item("cpu.pinned", title, Status.WARN,
                    f"every online core ({_cl(online)}) is pinned: the kernel, interrupts and "
                    "everything else must share them with the hot loops", ev,
                    ["leave at least one core (usually core 0) unpinned for housekeeping"])
    # SMT: a sibling hyperthread shares the core's execution units and caches.
    exposed = {}
    for c in sorted(ctx.cores):
        sib = h.cpus(f"{CPU}/cpu{c}/topology/thread_siblings_list")
        if sib is None:
            continue
        ev.append(f"/{CPU}/cpu{c}/topology/thread_siblings_list: {_cl(sib)}")
        others = sib - set(ctx.cores) - (iso or set())
        if others:
            exposed[c] = others
    if exposed:
        sibs = set().union(*exposed.values())
        smt = h.text(f"{CPU}/smt/control")
        if smt is not None:
            ev.append(f"/{CPU}/smt/control: {smt}")
        return item(
            "cpu.pinned", title, Status.WARN,
            f"pinned core(s) {_cl(set(exposed))} share their physical core with "
            f"{_cl(sibs)}, which is neither pinned nor isolated", ev,
            [f"isolate the siblings too (add {_cl(sibs)} to isolcpus/nohz_full/rcu_nocbs) and "
             "leave them idle, or turn SMT off: nosmt on the kernel command line, or at "
             f"runtime echo off > /{CPU}/smt/control"])
    return item("cpu.pinned", title, Status.OK,
                f"pinned cores {_cl(set(ctx.cores))} are online, no SMT sibling exposed", ev)


def _coverage(ctx: Context, id_: str, title: str, covered: set[int] | None, ev: list[str],
              what: str, param: str, remedy: list[str], bad: Status) -> AuditItem:
    """Verdict for 'is every pinned core in ``covered``?'"""
    if covered is None:
        return item(id_, title, Status.UNKNOWN,
                    ctx.host.why_missing("proc/cmdline"), ev, remedy)
    if ctx.cores:
        lacking = set(ctx.cores) - covered
        if lacking:
            return item(id_, title, bad,
                        f"pinned core(s) {_cl(lacking)} not {what} ({param}: {_cl(covered)})",
                        ev, remedy)
        return item(id_, title, Status.OK,
                    f"pinned cores {_cl(set(ctx.cores))} are {what}", ev)
    if covered:
        return item(id_, title, Status.OK,
                    f"{what} ({param}): {_cl(covered)}; no pinned cores given to compare", ev)
    return item(id_, title, Status.WARN, f"no core is {what} ({param})", ev, remedy)


def check_isolcpus(ctx: Context) -> AuditItem:
    title = "cores isolated from the scheduler (isolcpus)"
    h = ctx.host
    cl = h.cmdline
    ev = []
    if cl is None:
        ev.append(h.why_missing("proc/cmdline"))
    else:
        parsed = isolcpus_value(cl.get("isolcpus"), h.nr_cpus)
        if parsed is None:
            ev.append("/proc/cmdline: no isolcpus=")
        else:
            flags, cpus = parsed
            ev.append(f"/proc/cmdline: isolcpus={cl.get('isolcpus')} (cores {_cl(cpus)}, "
                      f"flags {','.join(flags) or 'domain (default)'})")
    sysiso = h.text(f"{CPU}/isolated")
    ev.append(f"/{CPU}/isolated: {sysiso or 'empty'}" if sysiso is not None
              else h.why_missing(f"{CPU}/isolated"))
    t = _cl(ctx.target)
    remedy = [f"kernel command line: isolcpus=managed_irq,domain,{t} (the scheduler puts "
              "nothing there unless pinned; managed_irq keeps managed device interrupts off "
              "too)", boot_param_note(),
              f"or tuned: isolated_cores={t} in /etc/tuned/cpu-partitioning-variables.conf, "
              "then tuned-adm profile cpu-partitioning and reboot"]
    return _coverage(ctx, "cpu.isolcpus", title, ctx.isolated, ev, "isolated", "isolcpus", remedy,
                     Status.FAIL)


def check_nohz_full(ctx: Context) -> AuditItem:
    title = "scheduler tick stopped on busy cores (nohz_full)"
    h = ctx.host
    cl = h.cmdline
    ev = []
    asked: set[int] | None = None
    if cl is None:
        ev.append(h.why_missing("proc/cmdline"))
    else:
        v = cl.get("nohz_full")
        ev.append(f"/proc/cmdline: nohz_full={v}" if v is not None
                  else "/proc/cmdline: no nohz_full=")
        try:
            asked = parse_cpulist(v or "", h.nr_cpus)
        except ValueError:
            asked = set()
    applied = h.cpus(f"{CPU}/nohz_full")
    if applied is None:
        ev.append(h.why_missing(f"{CPU}/nohz_full") + " (kernel without CONFIG_NO_HZ_FULL?)")
    else:
        ev.append(f"/{CPU}/nohz_full: {_cl(applied)}")
    t = _cl(ctx.target)
    remedy = [f"kernel command line: nohz_full={t} (the tick, 100-1000 interrupts a second, "
              "stops on a core running a single task)", boot_param_note()]
    if asked and applied is None and h.exists(CPU):
        return item("cpu.nohz_full", title, Status.WARN,
                    "nohz_full= is on the command line but the kernel shows no nohz_full "
                    "file: built without CONFIG_NO_HZ_FULL, the parameter does nothing", ev,
                    ["boot a kernel built with CONFIG_NO_HZ_FULL=y (most distribution "
                     "kernels are)"])
    covered = applied if applied is not None else asked
    return _coverage(ctx, "cpu.nohz_full", title, covered, ev, "tickless", "nohz_full", remedy,
                     Status.WARN)


def check_rcu_nocbs(ctx: Context) -> AuditItem:
    title = "RCU callbacks offloaded from busy cores (rcu_nocbs)"
    h = ctx.host
    cl = h.cmdline
    ev = []
    covered: set[int] | None = None
    if cl is None:
        ev.append(h.why_missing("proc/cmdline"))
    else:
        covered = set()
        for key in ("rcu_nocbs", "nohz_full"):
            v = cl.get(key)
            if v is None:
                ev.append(f"/proc/cmdline: no {key}=")
                continue
            try:
                cpus = parse_cpulist(v, h.nr_cpus)
            except ValueError:
                cpus = set()
            covered |= cpus
            note = " (implies rcu_nocbs for these cores)" if key == "nohz_full" else ""
            ev.append(f"/proc/cmdline: {key}={v}{note}")
    t = _cl(ctx.target)
    remedy = [f"kernel command line: rcu_nocbs={t} (RCU callbacks then run in kthreads you "
              "can pin to housekeeping cores, not in softirq on the pinned core)",
              boot_param_note()]
    return _coverage(ctx, "cpu.rcu_nocbs", title, covered, ev, "RCU-offloaded", "rcu_nocbs",
                     remedy,
                     Status.WARN)


def check_irqaffinity(ctx: Context) -> AuditItem:
    title = "default interrupt affinity kept off pinned cores (irqaffinity)"
    h = ctx.host
    cl = h.cmdline
    ev = []
    if cl is None:
        ev.append(h.why_missing("proc/cmdline"))
    else:
        v = cl.get("irqaffinity")
        ev.append(f"/proc/cmdline: irqaffinity={v}" if v is not None
                  else "/proc/cmdline: no irqaffinity=")
    mask = h.text("proc/irq/default_smp_affinity")
    default: set[int] | None = None
    if mask is not None:
        try:
            default = parse_cpumask(mask) & (h.online or set(range(h.nr_cpus or 64)))
            ev.append(f"/proc/irq/default_smp_affinity: {mask} (cores {_cl(default)})")
        except ValueError:
            ev.append(f"/proc/irq/default_smp_affinity: {mask} (unreadable mask)")
    else:
        ev.append(h.why_missing("proc/irq/default_smp_affinity"))
        if cl is not None and cl.get("irqaffinity"):
            try:
                default = parse_cpulist(cl.get("irqaffinity") or "", h.nr_cpus)
            except ValueError:
                default = None
    hk = ctx.housekeeping
    remedy = [f"kernel command line: irqaffinity={_cl(hk)} (interrupts requested from now "
              "on start on housekeeping cores)" if hk else
              "no housekeeping core is left: pin fewer cores so interrupts have somewhere "
              "else to go",
              boot_param_note()]
    if hk:
        remedy.append(f"at runtime: echo {format_cpumask(hk)} > /proc/irq/default_smp_affinity "
                      "(new interrupts only; irq.nic_affinity moves existing ones)")
    if default is None:
        return item("cpu.irqaffinity", title, Status.UNKNOWN,
                    "default interrupt affinity unknown: "
                    + h.why_missing("proc/irq/default_smp_affinity"), ev, remedy)
    guard = set(ctx.cores) if ctx.cores else (ctx.isolated or set())
    if not guard:
        status = Status.OK if cl is not None and cl.has("irqaffinity") else Status.WARN
        return item("cpu.irqaffinity", title, status,
                    f"new interrupts may go to {_cl(default)}; no pinned or isolated cores to "
                    "keep them off", ev, [] if status is Status.OK else remedy)
    hit = default & guard
    if hit:
        who = "pinned" if ctx.cores else "isolated"
        return item("cpu.irqaffinity", title, Status.WARN,
                    f"new interrupts may land on {who} core(s) {_cl(hit)} (default "
                    f"affinity {_cl(default)})", ev, remedy)
    return item("cpu.irqaffinity", title, Status.OK,
                f"new interrupts go to {_cl(default)}, off cores {_cl(guard)}", ev)
