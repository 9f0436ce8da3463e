"""Agents: a stage is a process running one compiled duty-cycle loop, pinned to a core.

The model is Aeron/Agrona's agent: each turn of the loop does work (``do_work`` returns how
much) and, when it did none, runs its idle strategy (:mod:`tickpath.ring.wait`: ``noop``,
``busy_spin``, ``spin_yield``, ``backoff``) with the count of consecutive idle turns. In
compiled code a stage writes that as::

    rounds = 0
    while load_relaxed(control, STOP) == 0:          # the owner's stop word, never hoisted
        work = ...                                    # this stage's do_work, inlined
        rounds = duty_cycle(section, work, rounds, wait_code, wait_params)

``duty_cycle`` counts work and idle turns into the stage's counters section (busy ratio =
work / (work + idle)), resets or advances the idle count and idles.

In Python, :class:`Agent` starts a stage in a process of its own (``spawn``: a clean
interpreter, no inherited threads or locks), which before anything else may enter a network
namespace, pins itself to a core (``os.sched_setaffinity``) and, when asked, takes a
real-time scheduling class (``SCHED_FIFO``). What the host refused is reported back (the
status queue, :attr:`Agent.notes`), never ignored: a stage that could not be pinned still
runs, and says so. Then it calls the stage's entry point, ``module:function`` taking
``(spec, counters)``, which builds its state, warms its compiled loop, sets its ``STATE`` word
to ``RUNNING`` and loops until the control section's ``STOP`` word is set.

A stage never outlives its owner: it asks the kernel for SIGTERM when the owner dies
(``PR_SET_PDEATHSIG``; then it checks the owner is still its parent, which closes the race
with an owner that died first), and SIGTERM raises :class:`Terminated` so the stage's
``finally`` blocks run (receivers closed, an XDP link with them). A stage that finds
its owner gone removes the pipeline's /dev/shm files (:attr:`AgentSpec.files`) as it exits;
the next pipeline's start-up also removes what dead owners left
(:func:`tickpath.engine.pipeline.remove_stale_files`).
"""

from __future__ import annotations

import ctypes
import ctypes.util
import enum
import importlib
import logging
import multiprocessing as mp
import os
import signal
import time
import traceback
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numba import njit

from ..ring.atomics import load_relaxed
from ..ring.wait import idle
from ..telemetry.nclock import realtime_ns
from .counters import Agent as AgentWord
from .counters import Counters

_WORK = int(AgentWord.WORK_CYCLES)
_IDLE = int(AgentWord.IDLE_CYCLES)


class AgentState(enum.IntEnum):
    NEW = 0
    STARTING = 1  # process up, building state and compiling
    RUNNING = 2  # in its loop
    DONE = 3  # left its loop cleanly
    FAILED = 4  # raised; the traceback went to the status queue


@njit(cache=True, nogil=True, inline="always")
def duty_cycle(section, work, rounds, wait_code, wait_params):
    """One turn's bookkeeping: count it as work or idle, idle if it was; returns the new count
    of consecutive idle turns (0 after work)."""
    if work > 0:
        section[_WORK] += 1
        return 0
    section[_IDLE] += 1
    idle(wait_code, wait_params, rounds)
    return rounds + 1


def busy_ratio(section: np.ndarray | dict[str, int]) -> float | None:
    """Work turns / all turns of a stage (None before its first turn)."""
    if isinstance(section, dict):
        w, i = section.get("work_cycles", 0), section.get("idle_cycles", 0)
    else:
        w, i = int(section[_WORK]), int(section[_IDLE])
    return w / (w + i) if w + i else None


# ---------------------------------------------------------------------- placement


def pin(core: int | None) -> str | None:
    """Pin the calling process to ``core``; returns what went wrong, or None."""
    if core is None:
        return None
    allowed = os.sched_getaffinity(0)
    if core not in allowed:
        return (f"core {core} is not available to this process (allowed: "
                f"{sorted(allowed)}); running unpinned")
    try:
        os.sched_setaffinity(0, {core})
    except OSError as e:
        return f"pinning to core {core} refused ({e.strerror}); running unpinned"
    return None


def set_realtime(priority: int | None) -> str | None:
    """Take SCHED_FIFO at ``priority`` (1..99); returns what went wrong, or None."""
    if not priority:
        return None
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(int(priority)))
    except (OSError, ValueError) as e:
        why = getattr(e, "strerror", None) or str(e)
        return (f"SCHED_FIFO priority {priority} refused ({why}): needs CAP_SYS_NICE and a "
                f"real-time budget (container: --cap-add SYS_NICE, cgroup cpu.rt_runtime_us); "
                f"running SCHED_OTHER")
    return None


_CLONE_NEWNET = 0x40000000


def enter_netns(name: str) -> None:
    """Move the calling thread into network namespace ``name`` (``ip netns`` names)."""
    libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
    fd = os.open(f"/var/run/netns/{name}", os.O_RDONLY)
    try:
        if libc.setns(fd, _CLONE_NEWNET) != 0:
            err = ctypes.get_errno()
            raise OSError(err, f"setns into network namespace {name!r}: {os.strerror(err)}")
    finally:
        os.close(fd)


# ---------------------------------------------------------------------- the process


@dataclass
class AgentSpec:
    """What a stage process needs: picklable, sent to a fresh interpreter."""

    name: str  # the stage's counters section
    entry: str  # "module:function" taking (spec, counters)
    counters: str  # name of the pipeline's counters under /dev/shm
    core: int | None = None
    idle: str = "busy_spin"
    realtime: int | None = None  # SCHED_FIFO priority, or None
    netns: str | None = None
    params: dict[str, Any] = field(default_factory=dict)
    #: the idle strategy's parameters: spins, yields, min_park_ns, max_park_ns (any left
    #: out take tickpath.ring.wait's defaults)
    idle_params: dict[str, int] = field(default_factory=dict)
    #: pid of the process that starts the stage (set by :class:`Agent`)
    owner_pid: int | None = None
    #: /dev/shm paths of the pipeline, removed by a stage that finds its owner dead
    files: list[str] = field(default_factory=list)

    def wait(self):
        """The stage's idle strategy with its parameters (a ``ring.wait.WaitStrategy``)."""
        from ..ring.wait import wait_strategy

        return wait_strategy(self.idle, **self.idle_params)


class Terminated(SystemExit):
    """SIGTERM reached a stage process (from its owner, or because the owner died): raised
    by the signal handler so that the stage's ``finally`` blocks run before it exits."""


def _on_sigterm(signum: int, frame: Any) -> None:
    signal.signal(signal.SIGTERM, signal.SIG_IGN)  # one clean-up, not one per signal
    raise Terminated(128 + signum)


_PR_SET_PDEATHSIG = 1


def tie_to_owner(owner_pid: int | None) -> None:
    """Have the kernel send this process SIGTERM when its parent dies, then make sure the
    parent is still ``owner_pid`` (it may have died before the request): raises
    :class:`Terminated` when it is not. The signal follows the parent *thread*: the owner
    must start stages from a thread that lives as long as they do (its main thread)."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0) != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"prctl(PR_SET_PDEATHSIG): {os.strerror(err)}; a stage must not "
                           f"outlive its owner, so it does not start without it")
    if owner_pid is not None and os.getppid() != owner_pid:
        raise Terminated(128 + int(signal.SIGTERM))


def owner_gone(spec: AgentSpec) -> bool:
    """Whether the process that started this stage has died: the stage was re-parented, or
    the owner's main thread has exited (the kernel sends the death signal when the thread
    that started us exits, which can be before the owner's other threads are gone and the
    stage is re-parented: the owner is then a zombie thread group)."""
    if spec.owner_pid is None:
        return False
    if os.getppid() != spec.owner_pid:
        return True
    try:
        with open(f"/proc/{spec.owner_pid}/stat") as f:
            state = f.read().rsplit(")", 1)[1].split()[0]
    except (OSError, IndexError):
        return True
    return state in ("Z", "X")


def remove_files(paths: list[str]) -> None:
    for path in paths:
        try:
            os.unlink(path)
        except FileNotFoundError:  # another stage of the pipeline was first
            pass


def _agent_main(spec: AgentSpec, status: Any) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the owner stops us (Ctrl-C reaches it too)
    signal.signal(signal.SIGTERM, _on_sigterm)
    try:
        _run_stage(spec, status)
    finally:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)  # let the clean-up below finish
        if owner_gone(spec):  # nobody else will remove the pipeline's shared memory
            remove_files(spec.files)


class _NoteHandler(logging.Handler):
    """A stage's warnings (a session reconnecting, a login refused, ...) as the owner's
    notes: the stage runs in a process of its own, where nobody would read its log."""

    def __init__(self, name: str, status: Any) -> None:
        super().__init__(logging.WARNING)
        self.name_, self.status = name, status

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.status.put((self.name_, "note", record.getMessage()))
        except Exception:  # the owner's queue is gone: nothing to tell
            pass


def _notes_from_logging(name: str, status: Any) -> None:
    root = logging.getLogger()
    root.addHandler(_NoteHandler(name, status))
    if root.level > logging.WARNING or root.level == logging.NOTSET:
        root.setLevel(logging.WARNING)


def _run_stage(spec: AgentSpec, status: Any) -> None:
    section = None
    try:
        tie_to_owner(spec.owner_pid)
        if spec.netns:
            enter_netns(spec.netns)
        for note in (pin(spec.core), set_realtime(spec.realtime)):
            if note:
                status.put((spec.name, "note", note))
        _notes_from_logging(spec.name, status)
        counters = Counters.attach(spec.counters)
        section = counters.section(spec.name)
        section[AgentWord.STATE] = AgentState.STARTING
        module, _, fn = spec.entry.partition(":")
        getattr(importlib.import_module(module), fn)(spec, counters)
        section[AgentWord.STATE] = AgentState.DONE
    except Terminated:  # ended from outside: the exit code says so, it is no stage error
        if section is not None:
            section[AgentWord.STATE] = AgentState.FAILED
        raise
    except BaseException:
        if section is not None:
            section[AgentWord.STATE] = AgentState.FAILED
        if not owner_gone(spec):  # a dead owner's queue has no reader
            status.put((spec.name, "error", traceback.format_exc()))
        raise SystemExit(1) from None


class Agent:
    """One stage process. ``start()``, then the stage runs until the pipeline's STOP word;
    ``join()`` waits, ``terminate()`` is the last resort."""

    def __init__(self, spec: AgentSpec, status: Any, context: Any = None) -> None:
        if spec.owner_pid is None:
            spec.owner_pid = os.getpid()
        self.spec = spec
        self._ctx = context if context is not None else mp.get_context("spawn")
        self.status = status
        self.process = self._ctx.Process(target=_agent_main, args=(spec, status),
                                         name=f"tickpath-{spec.name}", daemon=True)

    def start(self) -> None:
        self.process.start()

    @property
    def alive(self) -> bool:
        return self.process.pid is not None and self.process.is_alive()

    def join(self, timeout: float) -> bool:
        """Wait up to ``timeout`` s; True when the process has ended (or never started)."""
        if self.process.pid is None:
            return True
        self.process.join(timeout)
        return not self.process.is_alive()

    def terminate(self, grace: float = 2.0) -> None:
        if self.process.pid is None:
            return
        if self.process.is_alive():
            self.process.terminate()
            self.process.join(grace)
        if self.process.is_alive():
            self.process.kill()
            self.process.join(grace)

    @property
    def exitcode(self) -> int | None:
        return self.process.exitcode


def wait_for(predicate, timeout: float, what: str, agents: list[Agent] | None = None,
             poll_s: float = 0.01) -> None:
    """Wait until ``predicate()`` holds, at most ``timeout`` s; raises TimeoutError naming
    ``what``, or RuntimeError at once when one of ``agents`` died meanwhile."""
    end = time.monotonic() + timeout
    while not predicate():
        for a in agents or ():
            if not a.alive and a.exitcode not in (0, None):
                raise RuntimeError(f"stage {a.spec.name!r} exited with code {a.exitcode} "
                                   f"while waiting for {what}")
        if time.monotonic() >= end:
            raise TimeoutError(f"gave up after {timeout:.0f} s waiting for {what}")
        time.sleep(poll_s)


_STOP = 0  # counters.Control.STOP


@njit(cache=True, nogil=True, _nrt=False)
def _idle_loop(control, section, wait_code, wait_params, deadline_ns):
    rounds = 0
    while load_relaxed(control, _STOP) == 0:
        rounds = duty_cycle(section, 0, rounds, wait_code, wait_params)
        if (rounds & 1023) == 0 and realtime_ns() >= deadline_ns:
            return 0
    return 1


def idle_agent(spec: AgentSpec, counters: Counters) -> None:
    """An agent with nothing to do: its duty cycle only idles, until STOP. For checking a
    host's placement (pinning, SCHED_FIFO) and the agent machinery itself."""
    ws = spec.wait()
    control, section = counters.section("control"), counters.section(spec.name)
    section[AgentWord.STATE] = AgentState.RUNNING
    while _idle_loop(control, section, ws.code, ws.params,
                     time.clock_gettime_ns(time.CLOCK_REALTIME) + 100_000_000) == 0:
        section[AgentWord.BEAT_NS] = time.clock_gettime_ns(time.CLOCK_REALTIME)
