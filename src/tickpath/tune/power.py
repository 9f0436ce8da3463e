"""Power and frequency: governor, idle states, turbo, and the cpu_dma_latency request.

Reads ``/sys/devices/system/cpu/cpuN/cpufreq/{scaling_governor,scaling_driver,
energy_performance_preference}``, ``cpuN/cpuidle/stateK/{name,latency,disable}`` (latency in
microseconds), ``cpuidle/current_driver``, ``intel_idle.max_cstate`` / ``processor.max_cstate`` /
``idle=`` on the command line, ``intel_pstate/no_turbo`` and ``cpufreq/boost``, and which
processes hold ``/dev/cpu_dma_latency`` open (``/proc/*/fd``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from . import tuned
from .cpu import boot_param_note
from .host import format_cpulist
from .records import AuditItem, Status, item

if TYPE_CHECKING:
    from .context import Context

CPU = "sys/devices/system/cpu"
#: Exit latency (us) up to which an idle state is harmless (C1 and POLL).
SHALLOW_US = 2
#: Exit latency (us) above which an enabled idle state fails the audit.
DEEP_US = 10


def _cores(ctx: Context) -> list[int]:
    return sorted(ctx.scope or {0})


def _brace(cores: list[int]) -> str:
    return f"cpu{cores[0]}" if len(cores) == 1 else "cpu{" + ",".join(map(str, cores)) + "}"


def check_governor(ctx: Context) -> AuditItem:
    title = "cpufreq governor and driver"
    h = ctx.host
    cores = _cores(ctx)
    ev = []
    govs: dict[int, str] = {}
    for c in cores:
        base = f"{CPU}/cpu{c}/cpufreq"
        g = h.text(f"{base}/scaling_governor")
        if g is None:
            continue
        govs[c] = g
        d = h.text(f"{base}/scaling_driver")
        epp = h.text(f"{base}/energy_performance_preference")
        ev.append(f"/{base}: governor {g}, driver {d or '?'}"
                  + (f", energy_performance_preference {epp}" if epp else ""))
    if not govs:
        missing = h.why_missing(f"{CPU}/cpu{cores[0]}/cpufreq/scaling_governor")
        if not h.exists(CPU):
            return item("power.governor", title, Status.UNKNOWN, missing, [missing])
        if ctx.vm.is_vm:
            return item("power.governor", title, Status.UNKNOWN,
                        ctx.vm.moot("no cpufreq in the guest; the host sets the frequency"),
                        [missing], ["on the host: performance governor on the cores behind "
                                    "this guest's vCPUs"])
        return item("power.governor", title, Status.UNKNOWN,
                    f"no cpufreq driver: the firmware decides the frequency ({missing})", [missing],
                    ["firmware (BIOS/UEFI) setup: a maximum-performance power profile, or "
                     "load a cpufreq driver (intel_pstate, amd-pstate, acpi-cpufreq)"])
    slow = {c: g for c, g in govs.items() if g != "performance"}
    if not slow:
        return item("power.governor", title, Status.OK,
                    f"performance on cores {format_cpulist(set(govs))}", ev)
    sc = sorted(slow)
    return item("power.governor", title, Status.FAIL,
                f"governor {', '.join(sorted(set(slow.values())))} on cores "
                f"{format_cpulist(set(sc))}: the clock drops while the core waits and takes "
                "time to climb back when a burst arrives", ev,
                [f"echo performance | tee /{CPU}/{_brace(sc)}/cpufreq/scaling_governor",
                 "or cpupower frequency-set -g performance; persist with tuned-adm profile "
                 "network-latency (or latency-performance)"])


def _idle_states(ctx: Context, c: int) -> list[tuple[str, str, int | None, bool]] | None:
    """(state dir, name, exit latency us, enabled) for each idle state of a core."""
    h = ctx.host
    base = f"{CPU}/cpu{c}/cpuidle"
    names = h.glob(base, r"state\d+")
    if not names:
        return None
    out = []
    for s in names:
        name = h.text(f"{base}/{s}/name") or s
        lat = h.int(f"{base}/{s}/latency")
        dis = h.text(f"{base}/{s}/disable")
        out.append((s, name, lat, dis in (None, "0")))
    return out


def check_cstates(ctx: Context) -> AuditItem:
    title = "CPU idle states (C-states) and their exit latency"
    h = ctx.host
    cl = h.cmdline
    cores = _cores(ctx)
    drv = h.text(f"{CPU}/cpuidle/current_driver")
    ev = [f"/{CPU}/cpuidle/current_driver: {drv}" if drv is not None
          else h.why_missing(f"{CPU}/cpuidle/current_driver")]
    if cl is not None and cl.get("idle") == "poll":
        ev.append("/proc/cmdline: idle=poll")
        return item("power.cstates", title, Status.OK,
                    "idle=poll: idle cores spin, no C-state to wake from", ev)
    states = {c: _idle_states(ctx, c) for c in cores}
    if not any(states.values()):
        missing = h.why_missing(f"{CPU}/cpu{cores[0]}/cpuidle")
        ev.append(missing)
        if not h.exists(CPU):
            return item("power.cstates", title, Status.UNKNOWN, missing, ev)
        if ctx.vm.is_vm:
            return item("power.cstates", title, Status.UNKNOWN,
                        ctx.vm.moot(f"idle driver {drv or 'unknown'}: an idle vCPU halts into "
                                    "the host, whose C-states decide the wake-up time"), ev,
                        ["in the guest: idle=poll on the kernel command line, or the "
                         "cpuidle-haltpoll driver (modprobe cpuidle-haltpoll), so a vCPU "
                         "spins a while before halting; on the host: limit C-states"])
        return item("power.cstates", title, Status.UNKNOWN,
                    f"no cpuidle states to read ({missing}); idle is whatever the firmware "
                    "does on HLT", ev,
                    ["load a cpuidle driver (intel_idle, acpi_idle) to see and limit them, "
                     "or idle=poll"])
    deep: dict[str, tuple[int, set[int], str]] = {}    # state dir -> (latency, cores, name)
    for c, st in states.items():
        if not st:
            continue
        shown = []
        for s, name, lat, enabled in st:
            shown.append(f"{name} {lat if lat is not None else '?'}us "
                         f"{'enabled' if enabled else 'disabled'}")
            if enabled and lat is not None and lat > SHALLOW_US:
                d = deep.setdefault(s, (lat, set(), name))
                d[1].add(c)
        ev.append(f"/{CPU}/cpu{c}/cpuidle: " + ", ".join(shown))
    if not deep:
        return item("power.cstates", title, Status.OK,
                    f"only states with exit latency <= {SHALLOW_US} us enabled on cores "
                    f"{format_cpulist(set(cores))}", ev)
    worst = max(d[0] for d in deep.values())
    affected = sorted(set().union(*(d[1] for d in deep.values())))
    names = ", ".join(f"{d[2]} ({d[0]} us)" for d in sorted(deep.values()))
    dirs = sorted(deep, key=lambda s: int(s[5:]))
    sdir = dirs[0] if len(dirs) == 1 else "{" + ",".join(dirs) + "}"
    remedy = [f"now: for f in /{CPU}/{_brace(affected)}/cpuidle/{sdir}/disable; do echo 1 > "
              "\"$f\"; done",
              "or hold /dev/cpu_dma_latency open with a 0 written to it (power.cpu_dma_latency)",
              "across reboots: power.cstate_cmdline, or a tuned latency profile"]
    status = Status.FAIL if worst > DEEP_US else Status.WARN
    return item("power.cstates", title, status,
                f"enabled on cores {format_cpulist(set(affected))}: {names}; a core asleep in "
                f"one takes up to {worst} us to wake for the next packet", ev, remedy)


def check_cstate_cmdline(ctx: Context) -> AuditItem:
    title = "C-states limited at boot (intel_idle.max_cstate, processor.max_cstate, idle=)"
    h = ctx.host
    cl = h.cmdline
    if cl is None:
        return item("power.cstate_cmdline", title, Status.UNKNOWN, h.why_missing("proc/cmdline"),
                    [h.why_missing("proc/cmdline")])
    keys = ("idle", "intel_idle.max_cstate", "processor.max_cstate")
    ev = [f"/proc/cmdline: {cl.show(*keys)}"]
    drv = h.text(f"{CPU}/cpuidle/current_driver")
    if drv is not None:
        ev.append(f"/{CPU}/cpuidle/current_driver: {drv}")

    def num(k: str) -> int | None:
        try:
            return int(cl.get(k) or "")
        except ValueError:
            return None

    ii, pr = num("intel_idle.max_cstate"), num("processor.max_cstate")
    if cl.get("idle") == "poll":
        return item("power.cstate_cmdline", title, Status.OK, "idle=poll: no C-states at all",
                    ev)
    acpi_ok = pr is not None and pr <= 1
    if (ii == 0 and acpi_ok) or (ii == 1 and drv == "intel_idle") or \
            (acpi_ok and drv == "acpi_idle"):
        return item("power.cstate_cmdline", title, Status.OK,
                    f"limited to C1 from boot ({cl.show(*keys[1:])})", ev)
    td = tuned.state(h)
    if td.latency:
        return item("power.cstate_cmdline", title, Status.OK,
                    f"no boot limit, but tuned re-applies its latency profile {td.profile} "
                    "(force_latency) at every boot", ev + td.evidence)
    if ctx.vm.is_vm and not any(h.exists(f"{CPU}/cpu{c}/cpuidle") for c in _cores(ctx)):
        return item("power.cstate_cmdline", title, Status.UNKNOWN,
                    ctx.vm.moot("the guest has no C-states to limit; idle=poll is the guest's "
                                "one lever"), ev,
                    ["idle=poll on the guest's kernel command line keeps an idle vCPU "
                     "spinning instead of halting into the host (costs a host core)"])
    return item("power.cstate_cmdline", title, Status.WARN,
                "no boot parameter limits C-states: whatever is disabled at run time comes "
                "back at the next boot", ev,
                ["kernel command line: intel_idle.max_cstate=0 processor.max_cstate=1 "
                 "(Intel; on AMD processor.max_cstate=1), or idle=poll to spin (costs power "
                 "and the turbo headroom of sibling cores)", boot_param_note()])


def check_turbo(ctx: Context) -> AuditItem:
    title = "turbo / boost"
    h = ctx.host
    ev = []
    no_turbo = h.int(f"{CPU}/intel_pstate/no_turbo")
    boost = h.int(f"{CPU}/cpufreq/boost")
    on: bool | None = None
    remedy = []
    if no_turbo is not None:
        ev.append(f"/{CPU}/intel_pstate/no_turbo: {no_turbo}")
        on = no_turbo == 0
        remedy.append(f"echo 1 > /{CPU}/intel_pstate/no_turbo")
    else:
        ev.append(h.why_missing(f"{CPU}/intel_pstate/no_turbo"))
    if boost is not None:
        ev.append(f"/{CPU}/cpufreq/boost: {boost}")
        on = bool(on) or boost == 1
        remedy.append(f"echo 0 > /{CPU}/cpufreq/boost")
    else:
        ev.append(h.why_missing(f"{CPU}/cpufreq/boost"))
    if on is None:
        if ctx.vm.is_vm:
            return item("power.turbo", title, Status.UNKNOWN,
                        ctx.vm.moot("turbo is the host's to set"), ev)
        return item("power.turbo", title, Status.UNKNOWN,
                    "no turbo control exposed (neither intel_pstate nor cpufreq boost)", ev,
                    ["firmware (BIOS/UEFI) setup decides turbo here"])
    if on:
        return item("power.turbo", title, Status.WARN,
                    "turbo on: a faster median, but the clock then depends on temperature "
                    "and on how many cores are busy, which widens the tail", ev,
                    remedy + ["a trade-off: keep it on for the median and watch the tail, or "
                              "turn it off for a steady clock (also in firmware setup)"])
    return item("power.turbo", title, Status.OK, "turbo off: a steady clock", ev)


def check_cpu_dma_latency(ctx: Context) -> AuditItem:
    title = "PM QoS request held on /dev/cpu_dma_latency"
    h = ctx.host
    rel = "dev/cpu_dma_latency"
    remedy = ["a process that opens /dev/cpu_dma_latency and writes 0 keeps every core out of "
              "idle states slower than that for as long as it holds the file open; closing it "
              "(or exiting) drops the request, so it is a run-time knob, not a setting",
              "hold it around the run: exec 3>/dev/cpu_dma_latency; echo 0 >&3; then start "
              "tickpath from that shell (children inherit the open file)",
              "or a tuned latency profile, whose daemon holds it (force_latency)"]
    if not h.exists(rel):
        return item("power.cpu_dma_latency", title, Status.UNKNOWN, h.why_missing(rel),
                    [h.why_missing(rel)], remedy)
    found, read, refused = h.holders("/dev/cpu_dma_latency")
    ev = [f"/{rel}: present", f"/proc/*/fd: read {read} processes' open files"
          + (f", {refused} refused (not root)" if refused else "")]
    drv = h.text(f"{CPU}/cpuidle/current_driver")
    if found:
        ev += [f"/proc/{pid}/fd: {comm} holds /dev/cpu_dma_latency" for pid, comm in found]
        return item("power.cpu_dma_latency", title, Status.OK,
                    "held open by " + ", ".join(f"{c} (pid {p})" for p, c in found), ev)
    if ctx.vm.is_vm and drv in (None, "none"):
        ev.append(f"/{CPU}/cpuidle/current_driver: {drv}")
        return item("power.cpu_dma_latency", title, Status.UNKNOWN,
                    ctx.vm.moot("no cpuidle driver in the guest, so a request here changes "
                                "nothing"), ev)
    if refused:
        return item("power.cpu_dma_latency", title, Status.UNKNOWN,
                    f"cannot see the open files of {refused} processes: run the audit as root",
                    ev, remedy)
    return item("power.cpu_dma_latency", title, Status.WARN,
                "no process holds a latency request: idle cores may enter any enabled "
                "C-state", ev, remedy)
