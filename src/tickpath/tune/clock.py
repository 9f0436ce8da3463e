"""Clocks: the kernel's clocksource, the TSC, PTP hardware clocks and who disciplines them.

Reads ``/sys/devices/system/clocksource/clocksource0/{current,available}_clocksource``, the
``constant_tsc`` / ``nonstop_tsc`` / ``tsc_known_freq`` flags of ``/proc/cpuinfo``,
``/dev/ptp*`` and ``/sys/class/ptp/ptp*/clock_name``, chrony's configuration, and whether
``ptp4l``, ``phc2sys``, ``chronyd`` or ``ntpd`` run (``/proc/*/comm``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from .records import AuditItem, Status, item

if TYPE_CHECKING:
    from .context import Context

CS = "sys/devices/system/clocksource/clocksource0"
#: Clocksources read in user space through the vDSO (no system call).
VDSO_CLOCKS = {"tsc", "arch_sys_counter", "kvm-clock", "hyperv_clocksource_tsc_page",
               "xen", "vmware-tsc"}


def check_source(ctx: Context) -> AuditItem:
    title = "kernel clocksource (what clock_gettime reads)"
    h = ctx.host
    cur = h.text(f"{CS}/current_clocksource")
    avail = h.text(f"{CS}/available_clocksource")
    ev = [f"/{CS}/current_clocksource: {cur}" if cur is not None
          else h.why_missing(f"{CS}/current_clocksource"),
          f"/{CS}/available_clocksource: {avail}" if avail is not None
          else h.why_missing(f"{CS}/available_clocksource")]
    if cur is None:
        return item("clock.source", title, Status.UNKNOWN, h.why_missing(f"{CS}/current_clocksource"),
                    ev)
    has_tsc = "tsc" in (avail or "").split()
    switch = [f"echo tsc > /{CS}/current_clocksource",
              "at boot: clocksource=tsc tsc=reliable on the kernel command line (tsc=reliable "
              "stops the watchdog from demoting the TSC; only where the TSC is invariant, "
              "clock.tsc)"]
    if cur in ("tsc", "arch_sys_counter"):
        return item("clock.source", title, Status.OK,
                    f"{cur}: read in user space (vDSO) in tens of nanoseconds", ev)
    if cur in VDSO_CLOCKS:
        return item("clock.source", title, Status.WARN,
                    f"{cur}: a paravirtual clock, read through the vDSO but with the host's "
                    "correction on every read" + ("; tsc is available" if has_tsc else ""), ev,
                    switch if has_tsc else ["ask for an invariant TSC exposed to the guest "
                                            "(KVM: -cpu host,+invtsc)"])
    return item("clock.source", title, Status.FAIL,
                f"{cur}: not readable from user space, so every clock_gettime is a system call "
                "(around a microsecond) and timestamps are coarse", ev,
                switch if has_tsc else ["this host offers no TSC clocksource: check clock.tsc; "
                                        "on x86 the kernel log says why the TSC was marked "
                                        "unstable (dmesg | grep -i tsc)"])


def check_tsc(ctx: Context) -> AuditItem:
    title = "invariant TSC (constant_tsc, nonstop_tsc)"
    h = ctx.host
    flags = h.cpuinfo_flags
    if flags is None:
        return item("clock.tsc", title, Status.UNKNOWN, h.why_missing("proc/cpuinfo"),
                    [h.why_missing("proc/cpuinfo")])
    want = ("tsc", "constant_tsc", "nonstop_tsc", "tsc_known_freq")
    ev = ["/proc/cpuinfo flags: " + ", ".join(f"{f} {'yes' if f in flags else 'no'}"
                                              for f in want)]
    if "tsc" not in flags:
        return item("clock.tsc", title, Status.UNKNOWN,
                    "no TSC flag: not an x86 CPU, or flags not shown; telemetry uses "
                    "clock_gettime", ev)
    remedy = ["timestamps from rdtsc are then not comparable across time or cores: use "
              "CLOCK_MONOTONIC (clock_gettime) as the telemetry clock",
              "in a VM: expose an invariant TSC to the guest (KVM: -cpu host,+invtsc); on bare "
              "metal: a CPU with an invariant TSC"]
    if "constant_tsc" not in flags:
        return item("clock.tsc", title, Status.FAIL,
                    "the TSC rate follows the core's frequency: useless as a clock", ev, remedy)
    if "nonstop_tsc" not in flags:
        return item("clock.tsc", title, Status.WARN,
                    "constant rate, but the TSC may stop in deep C-states", ev, remedy)
    known = ("; frequency from CPUID (tsc_known_freq), no calibration"
             if "tsc_known_freq" in flags else "")
    return item("clock.tsc", title, Status.OK, "invariant: constant rate, never stops" + known,
                ev)


def check_ptp_hw(ctx: Context) -> AuditItem:
    title = "PTP hardware clocks (/dev/ptp*)"
    h = ctx.host
    devs = h.glob("dev", r"ptp\d+")
    ev = [f"/dev: {', '.join(devs)}" if devs else "/dev: no ptp* device"]
    for p in h.glob("sys/class/ptp", r"ptp\d+"):
        name = h.text(f"sys/class/ptp/{p}/clock_name")
        ev.append(f"/sys/class/ptp/{p}/clock_name: {name}" if name is not None
                  else h.why_missing(f"sys/class/ptp/{p}/clock_name"))
        devs = devs if p in devs else devs + [p]
    nic = ctx.nic
    if nic.name and nic.present:
        own = h.glob(f"sys/class/net/{nic.name}/device/ptp", r"ptp\d+")
        if own:
            ev.append(f"/sys/class/net/{nic.name}/device/ptp: {', '.join(own)} ({nic.name}'s "
                      "own clock)")
    if not h.exists("dev") and not h.exists("sys/class/ptp"):
        return item("clock.ptp_hw", title, Status.UNKNOWN,
                    f"{h.why_missing('dev')}; {h.why_missing('sys/class/ptp')}", ev)
    if devs:
        return item("clock.ptp_hw", title, Status.OK, f"{', '.join(devs)}", ev)
    remedy = ["a NIC with a PTP hardware clock (mlx5_core, ice, i40e, igc) lets ptp4l "
              "discipline it and the NIC timestamp packets in the same time"]
    if ctx.vm.is_vm:
        remedy.append("in a KVM guest: modprobe ptp_kvm exposes the host's clock as /dev/ptpN "
                      "for chrony (refclock PHC /dev/ptp0) or phc2sys")
    return item("clock.ptp_hw", title, Status.WARN,
                "no PTP hardware clock: timestamps can be disciplined only by NTP over the "
                "network", ev, remedy)


def check_sync(ctx: Context) -> AuditItem:
    title = "clock synchronisation daemons (ptp4l, phc2sys, chronyd, ntpd)"
    h = ctx.host
    run = h.running("ptp4l", "phc2sys", "timemaster", "chronyd", "ntpd", "systemd-timesyncd")
    if run is None:
        return item("clock.sync", title, Status.UNKNOWN, "no process listed in /proc",
                    ["/proc: no PID directory with a comm file"])
    ev = [f"/proc/{pids[0]}/comm: {name}" for name, pids in sorted(run.items())] or \
        [f"/proc/*/comm: none of ptp4l, phc2sys, chronyd, ntpd, systemd-timesyncd among "
         f"{len(h.processes or {})} processes"]
    ptp = [n for n in ("ptp4l", "phc2sys", "timemaster") if n in run]
    chrony_phc = False
    for rel in ("etc/chrony/chrony.conf", "etc/chrony.conf"):
        t = h.text(rel)
        for line in (t or "").splitlines():
            if line.strip().startswith("refclock PHC"):
                chrony_phc = True
                ev.append(f"/{rel}: {line.strip()}")
    remedy = ["ptp4l -i IF (PTP from the exchange's or your grandmaster) disciplining the NIC's "
              "clock, and phc2sys -s IF -c CLOCK_REALTIME to bring the system clock along; "
              "systemctl enable --now ptp4l phc2sys (linuxptp)"]
    if ptp:
        return item("clock.sync", title, Status.OK, f"PTP: {', '.join(ptp)} running", ev)
    if "chronyd" in run and chrony_phc:
        return item("clock.sync", title, Status.OK,
                    "chronyd disciplined by a PTP hardware clock (refclock PHC)", ev)
    others = [n for n in ("chronyd", "ntpd", "systemd-timesyn") if n in run]
    if others:
        return item("clock.sync", title, Status.WARN,
                    f"NTP only ({', '.join(others)}): the wall clock is within about a "
                    "millisecond of the exchange's, too coarse to compare your timestamps "
                    "with theirs", ev, remedy)
    return item("clock.sync", title, Status.WARN,
                "nothing disciplines the clock: wall-clock timestamps drift from the "
                "exchange's", ev, remedy)
