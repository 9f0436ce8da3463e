"""Host tuning: what stands between this host and a deterministic low-latency path.

``audit(root="/", cores=None, iface=None)`` reads the host (never changes it) and returns one
:class:`AuditItem` per check: CPU isolation, interrupts, power states, memory, clocks, the NIC
and virtualization, each ``ok`` / ``warn`` / ``fail`` / ``unknown`` with the evidence read and
the remedy. ``tickpath tune audit`` prints it; ``docs/tuning.md`` explains each item.
"""

from __future__ import annotations

from .audit import ITEM_IDS, audit, counts, worst
from .records import AuditItem, Status

__all__ = ["ITEM_IDS", "AuditItem", "Status", "audit", "counts", "worst"]
