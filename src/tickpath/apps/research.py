"""Many ITCH days at once on Ray: one task per file, each tickpath's own single-process
replay with ``--parquet`` semantics into ``OUT/<stem>/``, plus ``OUT/_summary.json``.

::

    driver (this process)                       Ray workers (one CPU each)
    plan: stems unique, OUT empty  ──submit──>  replay_day(file, OUT/<stem>)
    at most ``workers`` tasks in flight           replay(file, parquet=OUT/<stem>)
    a result back: progress, or resubmit <──────  {messages, seconds, rows, ...}
    (an exception: up to ``retries`` times;       or {error: "..."} (never raises)
     a crashed worker: Ray's ``max_retries``)
    all back: OUT/_summary.json

Ray is imported only here, and only when :func:`replay_days` runs, with usage statistics
switched off first (the machines this runs on may have no network).
"""

from __future__ import annotations

import glob
import json
import logging
import os
import shutil
import socket
import sys
import time
import traceback
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .replay import PARQUET_TABLES

SUMMARY = "_summary.json"
#: the CLI's ``tickpath replay`` default, so a day's folder is what that command writes
MAX_ORDERS = 1 << 22


class ResearchPlanError(ValueError):
    """The files or the output directory cannot be used; nothing was started or written."""


@dataclass
class DayResult:
    """What one file's task did: its numbers once written, or the error it ended with."""

    file: str
    stem: str
    out: str | None = None
    error: str | None = None
    #: the error is the file's own (malformed ITCH, a book refusal, a damaged .gz): every
    #: attempt would fail the same way, so it is not tried again
    input_error: bool = False
    attempts: int = 0
    messages: int = 0
    bytes: int = 0
    #: the replay's own time (decode, books, rows); ``task_seconds`` adds the finishing writes
    seconds: float = 0.0
    task_seconds: float = 0.0
    rows: dict[str, int] = field(default_factory=dict)
    book_stats: dict[str, int] = field(default_factory=dict)
    malformed: int = 0
    lost_bytes: int = 0
    end_of_session: bool = False
    host: str = ""
    pid: int = 0

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def msgs_per_s(self) -> float:
        return self.messages / self.seconds if self.seconds > 0 else 0.0


@dataclass
class ResearchReport:
    """The whole run: a result per file (in the order given), and how it ran."""

    out: Path
    days: list[DayResult]
    tables: tuple[str, ...]
    workers: int
    address: str | None
    retries: int
    #: from the first task submitted to the last result back (Ray's start-up not included)
    seconds: float
    #: ``ray.init`` (starting a local Ray, or joining a cluster)
    ray_start_seconds: float
    ray_version: str

    @property
    def failed(self) -> list[DayResult]:
        return [d for d in self.days if not d.ok]

    @property
    def messages(self) -> int:
        return sum(d.messages for d in self.days if d.ok)

    @property
    def msgs_per_s(self) -> float:
        return self.messages / self.seconds if self.seconds > 0 else 0.0


def day_stem(path: str | Path) -> str:
    """The folder name of a file's day: its name without ``.gz`` and then ``.itch``
    (``day.itch.gz`` -> ``day``; ``01302019.NASDAQ_ITCH50.gz`` -> ``01302019.NASDAQ_ITCH50``,
    so NASDAQ's, BX's and PSX's files of one date stay apart)."""
    name = Path(path).name
    for suffix in (".gz", ".itch"):
        if name.lower().endswith(suffix) and len(name) > len(suffix):
            name = name[:-len(suffix)]
    return name


def plan_days(files: Sequence[str | Path], out: str | Path) -> dict[str, Path]:
    """``stem -> file`` for ``files``, checked before anything starts: every file exists, no
    two share a stem, ``out`` is not a file and is empty if it exists
    (:class:`ResearchPlanError` naming what is wrong)."""
    if not files:
        raise ResearchPlanError("no files to replay")
    missing = [str(f) for f in files if not Path(f).is_file()]
    if missing:
        raise ResearchPlanError(f"{', '.join(missing)}: no such file")
    by_stem: dict[str, list[Path]] = {}
    for f in files:
        by_stem.setdefault(day_stem(f), []).append(Path(f))
    same = {s: fs for s, fs in by_stem.items() if len(fs) > 1}
    if same:
        what = "; ".join(f"{' and '.join(map(str, fs))} would both write {Path(out) / s}/"
                         for s, fs in same.items())
        raise ResearchPlanError(f"two input files have the same stem: {what}; rename one "
                                "or replay them into different --out directories")
    d = Path(out)
    if d.exists() and not d.is_dir():
        raise ResearchPlanError(f"{d} exists and is not a directory; remove it or choose "
                                "another --out directory")
    if d.is_dir() and any(d.iterdir()):
        raise ResearchPlanError(f"{d} exists and is not empty; remove it (rm -r {d}) or "
                                "choose another --out directory")
    try:  # made now, before Ray starts: a path that cannot be a directory is said here
        d.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ResearchPlanError(f"--out {d}: cannot make the directory: {e.strerror}") from None
    return {s: fs[0] for s, fs in by_stem.items()}


def default_workers() -> int:
    """The CPUs this process may run on (its affinity mask, not the machine's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _remove_partials(out: Path, stem: str) -> None:
    """Remove what an earlier attempt at ``stem`` left: ``ParquetDay``'s temporary
    directories (a killed worker leaves one), and ``out/stem`` itself: ``out`` was empty
    when the run began, so that folder is an earlier attempt's (a worker that died after
    renaming it into place, before its result reached the driver, is run again)."""
    for p in out.glob(f".{glob.escape(stem)}.partial-*"):
        shutil.rmtree(p, ignore_errors=True)
    shutil.rmtree(out / stem, ignore_errors=True)


def replay_day(file: str, out: str, stem: str, tables: Sequence[str], attempt: int,
               max_orders: int = MAX_ORDERS) -> dict[str, Any]:
    """One task: replay ``file`` into ``out/stem`` as ``tickpath replay FILE --parquet
    out/stem --parquet-tables ...`` does. Returns :class:`DayResult`'s fields; an exception
    is returned as ``error`` (its type and message), never raised, so the driver decides
    whether to try again and no exception has to survive pickling."""
    from ..book import BookError
    from ..feed.binaryfile import GzipFileError
    from ..feed.itch import ItchError
    from .replay import replay

    t0 = time.perf_counter()
    res = DayResult(file=file, stem=stem, attempts=attempt, host=socket.gethostname(),
                    pid=os.getpid())
    target = Path(out) / stem
    _remove_partials(Path(out), stem)
    try:
        _, rep = replay(file, max_orders=max_orders, parquet=target, parquet_tables=tables)
    except Exception as e:  # noqa: BLE001 - any failure of the day is reported by name
        res.error = f"{type(e).__name__}: {e}"
        res.input_error = isinstance(e, (ItchError, BookError, GzipFileError))
        last = traceback.extract_tb(e.__traceback__)[-1:]
        if last and not isinstance(e, (OSError, ValueError)):  # a bug: say where
            res.error += f" ({Path(last[0].filename).name}:{last[0].lineno})"
        _remove_partials(Path(out), stem)
    else:
        res.out = str(rep.parquet)
        res.messages, res.bytes, res.seconds = rep.messages, rep.bytes, rep.seconds
        res.rows = dict(rep.parquet_rows)
        res.book_stats = {k: int(v) for k, v in rep.book_stats.items()}
        res.malformed, res.lost_bytes = rep.malformed, rep.lost_bytes
        res.end_of_session = rep.end_of_session
    res.task_seconds = time.perf_counter() - t0
    return asdict(res)


def start_ray(workers: int | None, address: str | None) -> tuple[Any, int, float]:
    """Start a local Ray with ``workers`` CPUs (default :func:`default_workers`), no
    dashboard and quiet logs, or join the cluster at ``address``; a Ray already started in
    this process is used as it is. Returns the ``ray`` module, the CPUs it offers and the
    seconds it took."""
    os.environ.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # before the import: no network
    try:
        import ray
    except ImportError as e:
        raise ResearchPlanError("Ray is not installed: pip install 'tickpath[research]' "
                                "(or 'ray>=2.9')") from e

    t0 = time.perf_counter()
    if not ray.is_initialized():
        quiet = {"logging_level": logging.ERROR, "log_to_driver": False,
                 "configure_logging": True}
        if address:
            try:
                ray.init(address=address, **quiet)
            except (ConnectionError, RuntimeError) as e:
                raise ResearchPlanError(f"could not join the Ray cluster at {address}: "
                                        f"{_first_line(e)}") from e
        else:
            # "local": always a Ray of our own, never one found running on this machine
            ray.init(address="local", num_cpus=workers or default_workers(),
                     include_dashboard=False, **quiet)
    cpus = int(ray.cluster_resources().get("CPU", 1))
    return ray, cpus, time.perf_counter() - t0


def replay_days(files: Sequence[str | Path], out: str | Path, *,
                tables: Iterable[str] = PARQUET_TABLES, workers: int | None = None,
                address: str | None = None, retries: int = 2,
                max_orders: int = MAX_ORDERS,
                on_day: Callable[[DayResult], None] | None = None,
                on_retry: Callable[[DayResult], None] | None = None,
                keep_ray: bool = False) -> ResearchReport:
    """Replay ``files`` in parallel on Ray, one task per file, each into ``out/<stem>/``
    (:func:`day_stem`; laid out as ``tickpath replay FILE --parquet out/<stem>``), and write
    ``out/_summary.json``.

    ``workers``: a local Ray's CPUs (one task each), default :func:`default_workers`; with
    ``address`` (``"auto"``, ``"HOST:6379"``) an existing cluster is joined and ``workers``,
    when given, caps the tasks in flight. A task whose replay raised is submitted again up to
    ``retries`` times; a worker that died is re-run by Ray (``max_retries=retries``). A file
    that still fails leaves no folder; the others are written all the same. ``on_day`` is
    called as each file ends (written or failed), ``on_retry`` before a file is tried again.
    Ray is shut down at the end unless it was running before or ``keep_ray``.

    Raises :class:`ResearchPlanError` before anything starts (see :func:`plan_days`).
    """
    plan = plan_days(files, out)
    tables = tuple(tables)
    out = Path(out).resolve()
    if retries < 0:
        raise ResearchPlanError(f"--retries must be 0 or more, not {retries}")
    if workers is not None and workers < 1:
        raise ResearchPlanError(f"--workers must be 1 or more, not {workers}")
    was_running = _ray_running()
    ray, cpus, ray_s = start_ray(workers, address)
    try:
        out.mkdir(parents=True, exist_ok=True)
        task = ray.remote(num_cpus=1, max_retries=retries, retry_exceptions=False)(replay_day)
        limit = workers if workers else (cpus if not address else len(plan))
        results, seconds = _run(ray, task, plan, out, tables, retries, max_orders,
                                max(1, limit), on_day, on_retry)
    finally:
        if not (was_running or keep_ray):
            ray.shutdown()
    report = ResearchReport(out=out, days=[results[s] for s in plan], tables=tables,
                            workers=workers or cpus, address=address, retries=retries,
                            seconds=seconds, ray_start_seconds=ray_s,
                            ray_version=ray.__version__)
    write_summary(report)
    return report


def _ray_running() -> bool:
    ray = sys.modules.get("ray")
    return bool(ray is not None and ray.is_initialized())


def _run(ray: Any, task: Any, plan: dict[str, Path], out: Path, tables: tuple[str, ...],
         retries: int, max_orders: int, limit: int,
         on_day: Callable[[DayResult], None] | None,
         on_retry: Callable[[DayResult], None] | None) -> tuple[dict[str, DayResult], float]:
    """Submit at most ``limit`` tasks at a time; gather results, resubmitting failures.
    Returns the result of each stem and the seconds from the first submission to the last."""
    todo = [(stem, 1) for stem in plan]
    todo.reverse()  # pop() from the end: files start in the order given
    running: dict[Any, tuple[str, int]] = {}
    results: dict[str, DayResult] = {}
    t0 = time.perf_counter()
    while todo or running:
        while todo and len(running) < limit:
            stem, attempt = todo.pop()
            ref = task.remote(str(plan[stem].resolve()), str(out), stem, tables, attempt,
                              max_orders)
            running[ref] = (stem, attempt)
        done, _ = ray.wait(list(running), num_returns=1)
        for ref in done:
            stem, attempt = running.pop(ref)
            try:
                res = DayResult(**ray.get(ref))
                again = not res.ok and not res.input_error and attempt <= retries
            except ray.exceptions.RayTaskError as e:  # raised outside replay (an import)
                cause = getattr(e, "cause", None) or e
                res = DayResult(file=str(plan[stem]), stem=stem, attempts=attempt,
                                error=f"{type(cause).__name__}: {cause}")
                again = attempt <= retries
            except ray.exceptions.RayError as e:  # the worker died, after Ray's retries
                res = DayResult(file=str(plan[stem]), stem=stem, attempts=attempt,
                                error=f"{type(e).__name__}: {_first_line(e)}")
                again = False
            if again:
                if on_retry is not None:
                    on_retry(res)
                todo.append((stem, attempt + 1))
                continue
            if not res.ok:
                _remove_partials(out, stem)  # (a worker that died cannot)
            res.file = str(plan[stem])  # as the user named it
            results[stem] = res
            if on_day is not None:
                on_day(res)
    return results, time.perf_counter() - t0


def _first_line(e: BaseException) -> str:
    lines = [x for x in str(e).splitlines() if x.strip()]
    return lines[0] if lines else ""


def write_summary(report: ResearchReport) -> Path:
    """``OUT/_summary.json``: how the run went and a result per file (written whole, then
    renamed into place)."""
    doc = {
        "written": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "out": str(report.out),
        "tables": list(report.tables),
        "ray": {"version": report.ray_version, "address": report.address or "local",
                "workers": report.workers, "start_seconds": round(report.ray_start_seconds, 3)},
        "retries": report.retries,
        "seconds": round(report.seconds, 3),
        "messages": report.messages,
        "msgs_per_s": round(report.msgs_per_s),
        "files": len(report.days),
        "failed": [d.file for d in report.failed],
        "days": [dict(asdict(d), msgs_per_s=round(d.msgs_per_s)) for d in report.days],
    }
    path = report.out / SUMMARY
    tmp = report.out / f".{SUMMARY}.partial-{os.getpid()}"
    tmp.write_text(json.dumps(doc, indent=2) + "\n")
    os.replace(tmp, path)
    return path
