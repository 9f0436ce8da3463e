"""What every check shares: the host being read, the cores tickpath will pin, the interface.

Facts several checks need (isolated cores, whether this is a VM, which NIC) are read once here.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

from .host import Host, parse_cpulist

if TYPE_CHECKING:
    from .nic import Nic
    from .virt import VirtInfo


def isolcpus_value(value: str | None, nr_cpus: int | None) -> tuple[list[str], set[int]] | None:
    """``isolcpus=managed_irq,domain,2-3`` -> (``['managed_irq', 'domain']``, ``{2, 3}``)."""
    if value is None:
        return None
    parts = value.split(",")
    flags = []
    while parts and parts[0] in ("nohz", "domain", "managed_irq"):
        flags.append(parts.pop(0))
    try:
        return flags, parse_cpulist(",".join(parts), nr_cpus)
    except ValueError:
        return flags, set()


@dataclass
class Context:
    host: Host
    cores: frozenset[int] | None = None
    iface: str | None = None

    @cached_property
    def cmdline_isolated(self) -> set[int] | None:
        """CPUs named by ``isolcpus=`` (``None``: the command line is unreadable)."""
        cl = self.host.cmdline
        if cl is None:
            return None
        parsed = isolcpus_value(cl.get("isolcpus"), self.host.nr_cpus)
        return set() if parsed is None else parsed[1]

    @cached_property
    def isolated(self) -> set[int] | None:
        """Isolated CPUs as the kernel applied them (``/sys/.../cpu/isolated``), else as asked."""
        c = self.host.cpus("sys/devices/system/cpu/isolated")
        return c if c is not None else self.cmdline_isolated

    @property
    def scope(self) -> set[int] | None:
        """The cores per-core checks look at: the pinned ones, else every online one."""
        return set(self.cores) if self.cores else self.host.online

    @property
    def target(self) -> set[int]:
        """Cores a remedy should name: the pinned ones, else the isolated, else all but the first."""
        if self.cores:
            return set(self.cores)
        if self.isolated:
            return set(self.isolated)
        online = self.host.online or set()
        return set(sorted(online)[1:]) if len(online) > 1 else set(online)

    @property
    def housekeeping(self) -> set[int]:
        """Online cores left for the kernel, interrupts and everything else."""
        return (self.host.online or set()) - self.target - (self.isolated or set())

    @cached_property
    def vm(self) -> VirtInfo:
        from .virt import detect

        return detect(self.host)

    @cached_property
    def nic(self) -> Nic:
        from .nic import resolve

        return resolve(self.host, self.iface)
