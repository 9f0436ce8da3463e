"""The records the host audit produces: one :class:`AuditItem` per thing it checks.

An item is data, not prose around data: a stable ``id`` (``area.name``) a deployment script can
test, the ``status`` it reached, a one-line ``summary``, the ``evidence`` it read (each line names
the file, as seen from the audited root, and what it held) and the ``remedy`` (exact kernel
parameters, sysfs writes, sysctls, service changes) when the status is not ``ok``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from enum import StrEnum


class Status(StrEnum):
    """Verdict of one item, from good to bad, plus ``unknown`` (could not be read or decided)."""

    OK = "ok"
    WARN = "warn"
    FAIL = "fail"
    UNKNOWN = "unknown"


#: The areas in the order the report lists them.
AREAS = ("virt", "cpu", "irq", "power", "mem", "clock", "nic", "tuned")


@dataclass
class AuditItem:
    """One audited item: what was checked, what was found, where, and what to do about it."""

    id: str
    area: str
    title: str
    status: Status
    summary: str
    evidence: list[str] = field(default_factory=list)
    remedy: list[str] = field(default_factory=list)

    def to_dict(self) -> dict:
        """A JSON-ready dict (``status`` as its plain string)."""
        d = asdict(self)
        d["status"] = self.status.value
        return d


def item(id: str, title: str, status: Status, summary: str,
         evidence: list[str] | tuple[str, ...] = (),
         remedy: list[str] | tuple[str, ...] = ()) -> AuditItem:
    """An :class:`AuditItem` whose area is the part of ``id`` before the dot."""
    return AuditItem(id=id, area=id.split(".", 1)[0], title=title, status=status,
                     summary=summary, evidence=list(evidence), remedy=list(remedy))
