"""Reading a host from files under a root directory: ``/`` for this machine, or a fixture tree.

Every read goes through :class:`Host`, which never raises for a missing or unreadable file: it
returns ``None`` and keeps the reason (``not present: /proc/cmdline``) for the evidence. Paths in
evidence are shown as the audited host sees them (``/proc/cmdline``), whatever the root.

Also here: the kernel's CPU list syntax (``0-3,8,10-15:2/4``), hex CPU masks, the kernel command
line (parameters before ``--``; ``-`` and ``_`` alike in names), the process table (``comm`` of
each ``/proc/PID``) and which processes hold a file open (``/proc/PID/fd``).
"""

from __future__ import annotations

import os
import re
import shlex
from dataclasses import dataclass, field
from functools import cached_property
from pathlib import Path

_RANGE = re.compile(r"(\d+|N)(?:-(\d+|N)(?::(\d+)/(\d+))?)?")


def parse_cpulist(text: str, nr_cpus: int | None = None) -> set[int]:
    """CPUs named by a kernel CPU list: ``0-3,8``, ``0-15:2/4`` (2 of every 4), ``all``, ``N``.

    ``N`` (the last CPU) and ``all`` need ``nr_cpus``. ``(null)`` and an empty string are the
    empty set. Raises ``ValueError`` on anything else.
    """
    text = text.strip()
    if text in ("", "(null)"):
        return set()
    out: set[int] = set()
    for part in text.split(","):
        part = part.strip()
        if part == "all":
            if nr_cpus is None:
                raise ValueError("'all' needs the number of CPUs")
            out.update(range(nr_cpus))
            continue
        m = _RANGE.fullmatch(part)
        if m is None:
            raise ValueError(f"not a CPU list: {text!r} (at {part!r})")

        def num(s: str) -> int:
            if s == "N":
                if nr_cpus is None:
                    raise ValueError("'N' needs the number of CPUs")
                return nr_cpus - 1
            return int(s)

        lo = num(m.group(1))
        hi = num(m.group(2)) if m.group(2) else lo
        if hi < lo:
            raise ValueError(f"descending range in CPU list: {part!r}")
        if m.group(3):
            used, group = int(m.group(3)), int(m.group(4))
            if group == 0 or used > group:
                raise ValueError(f"bad group in CPU list: {part!r}")
            out.update(c for c in range(lo, hi + 1) if (c - lo) % group < used)
        else:
            out.update(range(lo, hi + 1))
    return out


def format_cpulist(cpus: set[int] | frozenset[int] | list[int]) -> str:
    """The shortest kernel CPU list for a set: ``{0, 1, 2, 5}`` -> ``0-2,5``; empty -> ``none``."""
    cs = sorted(set(cpus))
    if not cs:
        return "none"
    parts = []
    start = prev = cs[0]
    for c in cs[1:] + [None]:
        if c is not None and c == prev + 1:
            prev = c
            continue
        parts.append(str(start) if start == prev else f"{start}-{prev}")
        if c is not None:
            start = prev = c
    return ",".join(parts)


def parse_cpumask(text: str) -> set[int]:
    """CPUs of a hex mask as ``/proc/irq/*/smp_affinity`` shows it (``ff,ffffffff``)."""
    bits = int(text.strip().replace(",", "") or "0", 16)
    return {i for i in range(bits.bit_length()) if bits >> i & 1}


def format_cpumask(cpus: set[int] | frozenset[int]) -> str:
    """The hex mask of a set of CPUs (``{0, 1}`` -> ``3``), as the kernel accepts it."""
    return format(sum(1 << c for c in cpus), "x")


def natural_key(name: str) -> list:
    """Sort key that puts ``cpu2`` before ``cpu10``."""
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", name)]


@dataclass
class Cmdline:
    """The kernel command line: parameters before ``--`` (what follows goes to init)."""

    raw: str
    params: dict[str, str | None] = field(default_factory=dict)

    @classmethod
    def parse(cls, raw: str) -> Cmdline:
        head = raw.strip()
        try:
            tokens = shlex.split(head)
        except ValueError:
            tokens = head.split()
        params: dict[str, str | None] = {}
        for tok in tokens:
            if tok == "--":
                break
            key, sep, value = tok.partition("=")
            params[key.replace("-", "_")] = value if sep else None
        return cls(raw=raw, params=params)

    def get(self, key: str) -> str | None:
        return self.params.get(key.replace("-", "_"))

    def has(self, key: str) -> bool:
        return key.replace("-", "_") in self.params

    def show(self, *keys: str) -> str:
        """``key=value`` for each key present, or ``(none of: ...)``."""
        shown = []
        for k in keys:
            if self.has(k):
                v = self.get(k)
                shown.append(k if v is None else f"{k}={v}")
        return " ".join(shown) if shown else f"none of {', '.join(keys)}"


class Host:
    """Read-only view of a host through files under ``root``."""

    def __init__(self, root: str | os.PathLike[str] = "/") -> None:
        self.root = Path(root)
        self.live = self.root.resolve() == Path("/")

    # -- paths ------------------------------------------------------------------------------
    def path(self, rel: str) -> Path:
        return self.root / rel.lstrip("/")

    @staticmethod
    def show(rel: str) -> str:
        """How a path is named in evidence: as the audited host sees it."""
        return "/" + rel.lstrip("/")

    def exists(self, rel: str) -> bool:
        return os.path.lexists(self.path(rel))

    def why_missing(self, rel: str) -> str:
        """``not present: /x`` or ``not readable: /x (reason)``, for a read that gave ``None``."""
        p = self.path(rel)
        if not os.path.lexists(p):
            return f"not present: {self.show(rel)}"
        try:
            p.read_bytes()
        except OSError as e:
            return f"not readable: {self.show(rel)} ({e.strerror or e})"
        return f"not usable: {self.show(rel)}"

    # -- reads ------------------------------------------------------------------------------
    def text(self, rel: str) -> str | None:
        """Contents of a file (stripped), or ``None`` when missing or unreadable."""
        try:
            return self.path(rel).read_text(errors="replace").strip()
        except (OSError, ValueError):
            return None

    def int(self, rel: str) -> int | None:
        t = self.text(rel)
        if t is None:
            return None
        try:
            return int(t.split()[0])
        except (ValueError, IndexError):
            return None

    def cpus(self, rel: str) -> set[int] | None:
        """A file holding a CPU list, parsed; ``None`` when missing or malformed."""
        t = self.text(rel)
        if t is None:
            return None
        try:
            return parse_cpulist(t, self.nr_cpus)
        except ValueError:
            return None

    def listdir(self, rel: str) -> list[str] | None:
        try:
            return sorted(os.listdir(self.path(rel)), key=natural_key)
        except OSError:
            return None

    def glob(self, rel_dir: str, pattern: str) -> list[str]:
        """Names in ``rel_dir`` matching a regex ``pattern`` (whole name), naturally sorted."""
        names = self.listdir(rel_dir) or []
        rx = re.compile(pattern)
        return [n for n in names if rx.fullmatch(n)]

    def link_name(self, rel: str) -> str | None:
        """Last component of a symlink's target (``.../drivers/ixgbe`` -> ``ixgbe``)."""
        try:
            return os.path.basename(os.readlink(self.path(rel)).rstrip("/"))
        except OSError:
            return None

    # -- host-wide facts, read once ---------------------------------------------------------
    @cached_property
    def nr_cpus(self) -> int | None:
        """Highest possible CPU + 1 (for ``N`` and ``all`` in CPU lists)."""
        t = self.text("sys/devices/system/cpu/possible")
        if t is not None:
            try:
                return max(parse_cpulist(t)) + 1
            except ValueError:
                pass
        names = self.glob("sys/devices/system/cpu", r"cpu\d+")
        return max(int(n[3:]) for n in names) + 1 if names else None

    @cached_property
    def online(self) -> set[int] | None:
        """Online CPUs: ``/sys/devices/system/cpu/online``, else the ``cpuN`` directories."""
        c = self.cpus("sys/devices/system/cpu/online")
        if c:
            return c
        names = self.glob("sys/devices/system/cpu", r"cpu\d+")
        return {int(n[3:]) for n in names} or None

    @cached_property
    def cmdline(self) -> Cmdline | None:
        t = self.text("proc/cmdline")
        return None if t is None else Cmdline.parse(t)

    @cached_property
    def cpuinfo_flags(self) -> set[str] | None:
        """Flags of the first processor in ``/proc/cpuinfo`` (x86 ``flags``, arm ``Features``)."""
        t = self.text("proc/cpuinfo")
        if t is None:
            return None
        for line in t.splitlines():
            key, _, value = line.partition(":")
            if key.strip() in ("flags", "Features"):
                return set(value.split())
        return set()

    @cached_property
    def processes(self) -> dict[int, str] | None:
        """``pid -> comm`` of every process in ``/proc``; ``None`` when it lists no process."""
        out = {}
        for n in self.listdir("proc") or []:
            if n.isdigit():
                comm = self.text(f"proc/{n}/comm")
                if comm is not None:
                    out[int(n)] = comm
        return out or None

    def running(self, *comms: str) -> dict[str, list[int]] | None:
        """Which of these process names run (``comm``, at most 15 characters), with their pids."""
        procs = self.processes
        if procs is None:
            return None
        want = {c[:15] for c in comms}
        found: dict[str, list[int]] = {}
        for pid, comm in procs.items():
            if comm in want:
                found.setdefault(comm, []).append(pid)
        return found

    def holders(self, target: str) -> tuple[list[tuple[int, str]], int, int]:
        """Processes with ``target`` open: ``([(pid, comm)], fd dirs read, fd dirs refused)``."""
        found: list[tuple[int, str]] = []
        read = refused = 0
        for pid, comm in (self.processes or {}).items():
            try:
                fds = os.listdir(self.path(f"proc/{pid}/fd"))
            except PermissionError:
                refused += 1
                continue
            except OSError:
                continue
            read += 1
            for fd in fds:
                try:
                    if os.readlink(self.path(f"proc/{pid}/fd/{fd}")) == target:
                        found.append((pid, comm))
                        break
                except OSError:
                    continue
        return found, read, refused
