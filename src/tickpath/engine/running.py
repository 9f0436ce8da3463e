"""Pipelines running on this host, found by their counters in /dev/shm, and their kill switch
thrown (or reset) from outside: what ``tickpath kill`` does.

A pipeline's owner names its counters ``tp-NAME-PID-TAG-counters`` (:class:`Pipeline`); a
file whose owner pid is dead is left over (:func:`tickpath.engine.pipeline.remove_stale_files`
removes those) and is not a running pipeline. The switch is thrown by attaching to the
counters read-write and storing the reason (MANUAL) in the control section's ``kill`` word,
the word every risk check loads before anything else.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from ..risk import KillReason, kill, kill_note, kill_reason
from .counters import DIRECTORY, Counters

_COUNTERS_NAME = re.compile(r"^tp-(?P<name>.+)-(?P<pid>\d+)-(?P<tag>[0-9a-f]{6})-counters$")


class PipelineNotFound(LookupError):
    """No running pipeline matches; the message says which run."""


class AmbiguousPipeline(PipelineNotFound):
    """More than one running pipeline matches; the message lists them."""


@dataclass(frozen=True)
class RunningPipeline:
    name: str  # pipeline.name
    pid: int  # the owner's
    counters: str  # the counters file's name in the directory

    def describe(self) -> str:
        return f"{self.name} (pid {self.pid}, {self.counters})"


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process: alive
        return True
    return True


def running_pipelines(directory: str | os.PathLike = DIRECTORY) -> list[RunningPipeline]:
    """Every pipeline whose counters are in ``directory`` and whose owner is alive, by name
    then pid."""
    out = []
    for entry in os.scandir(directory):
        m = _COUNTERS_NAME.match(entry.name)
        if m is not None and _alive(int(m["pid"])):
            out.append(RunningPipeline(m["name"], int(m["pid"]), entry.name))
    return sorted(out, key=lambda p: (p.name, p.pid, p.counters))


def find_pipeline(which: str | None = None,
                  directory: str | os.PathLike = DIRECTORY) -> RunningPipeline:
    """The one running pipeline ``which`` names (its ``pipeline.name``, its owner's pid, or
    its counters file's name); with ``which`` None, the only one running. Raises
    :class:`PipelineNotFound` (none) or :class:`AmbiguousPipeline` (several), naming what
    is running."""
    found = running_pipelines(directory)
    listing = "; ".join(p.describe() for p in found)
    if which is None:
        if len(found) == 1:
            return found[0]
        if not found:
            raise PipelineNotFound(f"no pipeline is running (no live tp-*-counters in "
                                   f"{directory})")
        raise AmbiguousPipeline(f"{len(found)} pipelines are running; name one (its name, pid "
                               f"or counters file): {listing}")
    match = [p for p in found if which in (p.name, str(p.pid), p.counters)]
    if len(match) == 1:
        return match[0]
    if not match:
        raise PipelineNotFound(f"no running pipeline is named {which!r}; running: "
                               f"{listing or 'none'}")
    raise AmbiguousPipeline(f"{len(match)} running pipelines match {which!r}; name one by pid "
                           f"or counters file: {'; '.join(p.describe() for p in match)}")


@dataclass(frozen=True)
class KillResult:
    pipeline: RunningPipeline
    changed: bool  # False: it was already in the state asked for
    reason: KillReason | None  # the switch's reason after the call (None: off)
    note: str


def throw_kill(which: str | None = None, *, reset: bool = False, note: str = "",
               directory: str | os.PathLike = DIRECTORY) -> KillResult:
    """Throw (reason MANUAL, with ``note``) or ``reset`` the kill switch of the running
    pipeline :func:`find_pipeline` picks. A switch already on keeps its first reason."""
    p = find_pipeline(which, directory)
    with Counters.attach(p.counters, directory=Path(directory)) as c:
        control = c.section("control")
        changed = kill(control, not reset, KillReason.MANUAL, note)
        return KillResult(p, changed, kill_reason(control), kill_note(control))
