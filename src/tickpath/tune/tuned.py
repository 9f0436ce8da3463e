"""tuned, the daemon that applies a named set of host settings and keeps them applied.

Reads ``/etc/tuned/active_profile`` and whether ``tuned`` runs (``/proc/*/comm``).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .records import AuditItem, Status, item

if TYPE_CHECKING:
    from .context import Context
    from .host import Host

#: Profiles made for latency; each also holds /dev/cpu_dma_latency open (force_latency).
LATENCY_PROFILES = ("network-latency", "cpu-partitioning", "latency-performance", "realtime",
                    "realtime-virtual-host", "realtime-virtual-guest",
                    "cpu-partitioning-powersave")


@dataclass
class Tuned:
    profile: str | None
    running: bool | None
    evidence: list[str] = field(default_factory=list)

    @property
    def latency(self) -> bool:
        """A latency profile is active and tuned runs to keep it so."""
        names = (self.profile or "").split()
        return bool(self.running) and any(n in LATENCY_PROFILES for n in names)


def state(host: Host) -> Tuned:
    ev = []
    prof = host.text("etc/tuned/active_profile")
    ev.append(f"/etc/tuned/active_profile: {prof or 'empty'}" if prof is not None
              else host.why_missing("etc/tuned/active_profile"))
    run = host.running("tuned")
    if run is None:
        running = None
    else:
        running = bool(run)
        ev.append(f"/proc/{run['tuned'][0]}/comm: tuned" if running
                  else "/proc/*/comm: tuned not running")
    return Tuned(prof or None, running, ev)


def check_profile(ctx: Context) -> AuditItem:
    title = "tuned profile"
    t = state(ctx.host)
    iso = ",".join(map(str, sorted(ctx.target))) or "N"
    remedy = ["tuned-adm profile network-latency (performance governor, C-states held by "
              "force_latency, THP off, busy polling on), or with isolation: isolated_cores="
              f"{iso} in /etc/tuned/cpu-partitioning-variables.conf then tuned-adm profile "
              "cpu-partitioning and reboot"]
    if t.profile is None:
        return item("tuned.profile", title, Status.UNKNOWN,
                    "tuned not installed: the settings made by hand are what count (the other "
                    "items read them)", t.evidence,
                    ["optional: apt-get install tuned / dnf install tuned, then "
                     + remedy[0]])
    if t.latency:
        return item("tuned.profile", title, Status.OK,
                    f"tuned keeps the latency profile {t.profile} applied", t.evidence)
    if any(n in LATENCY_PROFILES for n in t.profile.split()):
        return item("tuned.profile", title, Status.WARN,
                    f"profile {t.profile} recorded but tuned is not running: its runtime "
                    "settings (force_latency on /dev/cpu_dma_latency) are not held",
                    t.evidence, ["systemctl enable --now tuned"])
    return item("tuned.profile", title, Status.WARN,
                f"tuned profile {t.profile} is made for throughput or power, and it re-applies "
                "its settings over manual tuning", t.evidence, remedy)
