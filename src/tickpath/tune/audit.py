"""The host audit: what stands between this host and a deterministic low-latency path.

:func:`audit` reads the host through files under a root (``/``, or a fixture tree with the same
``proc/``, ``sys/``, ``etc/``, ``dev/``) and returns one :class:`AuditItem` per check, in a fixed
order. It never writes: remedies are printed for a person (or a provisioning script) to apply.
The ethtool ioctls (ring sizes, coalescing, timestamping) are issued only when the root is
``/``; under a fixture tree those items are ``unknown``.

A check that meets something unexpected (a malformed file, an odd sysfs) becomes an
``unknown`` item naming the error, never a traceback out of the audit.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable

from . import clock, cpu, irq, memory, nic, power, tuned, virt
from .context import Context
from .host import Host, format_cpulist, parse_cpulist
from .records import AuditItem, Status, item

Check = Callable[[Context], AuditItem]

#: Every check, in report order: (id, function).
CHECKS: tuple[tuple[str, Check], ...] = (
    ("virt.hypervisor", virt.check_hypervisor),
    ("virt.steal", virt.check_steal),
    ("cpu.pinned", cpu.check_pinned),
    ("cpu.isolcpus", cpu.check_isolcpus),
    ("cpu.nohz_full", cpu.check_nohz_full),
    ("cpu.rcu_nocbs", cpu.check_rcu_nocbs),
    ("cpu.irqaffinity", cpu.check_irqaffinity),
    ("irq.nic_affinity", irq.check_nic_affinity),
    ("irq.irqbalance", irq.check_irqbalance),
    ("power.governor", power.check_governor),
    ("power.cstates", power.check_cstates),
    ("power.cstate_cmdline", power.check_cstate_cmdline),
    ("power.turbo", power.check_turbo),
    ("power.cpu_dma_latency", power.check_cpu_dma_latency),
    ("mem.thp", memory.check_thp),
    ("mem.swap", memory.check_swap),
    ("mem.numa", memory.check_numa),
    ("clock.source", clock.check_source),
    ("clock.tsc", clock.check_tsc),
    ("clock.ptp_hw", clock.check_ptp_hw),
    ("clock.sync", clock.check_sync),
    ("nic.iface", nic.check_iface),
    ("nic.driver", nic.check_driver),
    ("nic.rings", nic.check_rings),
    ("nic.coalesce", nic.check_coalesce),
    ("nic.timestamping", nic.check_timestamping),
    ("nic.xdp", nic.check_xdp),
    ("nic.busy_poll", nic.check_busy_poll),
    ("tuned.profile", tuned.check_profile),
)

#: The item ids, in report order.
ITEM_IDS: tuple[str, ...] = tuple(i for i, _ in CHECKS)


def parse_cores(cores: str | Iterable[int] | None) -> frozenset[int] | None:
    """``"2,3"``, ``"2-5"`` or ``[2, 3]`` -> ``frozenset({2, 3})``; ``None``/empty -> ``None``.

    Raises ``ValueError`` on a malformed list or a negative core.
    """
    if cores is None:
        return None
    if isinstance(cores, str):
        got = parse_cpulist(cores)
    else:
        got = set()
        for c in cores:
            if isinstance(c, bool) or int(c) != c:
                raise ValueError(f"not a core number: {c!r}")
            got.add(int(c))
    if any(c < 0 for c in got):
        raise ValueError(f"negative core in {format_cpulist({c for c in got if c >= 0})}")
    return frozenset(got) or None


def audit(root: str | os.PathLike[str] = "/", cores: str | Iterable[int] | None = None,
          iface: str | None = None) -> list[AuditItem]:
    """Audit the host under ``root`` for the cores tickpath pins and the interface it reads.

    ``cores``: the cores the pinned stages will run on (``[2, 3]`` or ``"2-3"``); ``None`` audits
    every online core and warns that none are configured. ``iface``: the interface the feed
    arrives on; ``None`` takes the default route's. Returns one item per id in
    :data:`ITEM_IDS`, in that order. Raises ``ValueError`` for a malformed ``cores`` and
    ``NotADirectoryError`` when ``root`` is not a directory.
    """
    if not os.path.isdir(root):
        raise NotADirectoryError(f"audit root is not a directory: {root}")
    ctx = Context(Host(root), parse_cores(cores), iface or None)
    out = []
    for id_, check in CHECKS:
        try:
            out.append(check(ctx))
        except Exception as e:  # a surprising host must not end the audit
            out.append(item(id_, id_, Status.UNKNOWN,
                            f"the check failed on what it read: {type(e).__name__}: {e}",
                            [f"{type(e).__name__}: {e}"]))
    return out


def worst(items: Iterable[AuditItem]) -> Status:
    """``fail`` if any item failed, else ``warn`` if any warned, else ``ok``."""
    st = {i.status for i in items}
    return Status.FAIL if Status.FAIL in st else Status.WARN if Status.WARN in st else Status.OK


def counts(items: Iterable[AuditItem]) -> dict[str, int]:
    """How many items reached each status (every status present, zero included)."""
    out = {s.value: 0 for s in Status}
    for i in items:
        out[i.status.value] += 1
    return out
