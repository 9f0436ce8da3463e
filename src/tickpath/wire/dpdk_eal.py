"""DPDK's environment (the EAL) and its ports, from Python: started once per process, ports
attached and detached as receivers and senders come and go.

One EAL per process. ``rte_eal_init`` runs once in a process's life: a second call fails,
and after ``rte_eal_cleanup`` it cannot start again. So the first DPDK receiver or sender of
a process starts the EAL (:func:`start_eal`) with its options; every later one in the same
process attaches its own port to that EAL (``rte_dev_probe`` of a virtual device: one per
interface) and detaches it on close. The EAL itself ends when the process exits, or at
:func:`shutdown_eal`. What is refused, each with a :class:`EalError` saying why:

- asking for other EAL options (core, arguments) while it runs;
- starting it again after it was shut down, or after it failed to start, in this process;
- an EAL some other code in the process started (``rte_eal_init`` answers EALREADY);
- a second port on an interface this process already has a port on (two af_packet
  sockets of one PMD would share the frames).

For a pipeline this means: each stage is its own process, so a receiving stage and the
venue's sending stage each run one EAL (their own ``--file-prefix``, so two processes never
share DPDK's runtime files); a process that both receives and sends runs one EAL with two
ports.

EAL options. By default::

    tickpath -l CORE --file-prefix tickpath-PID-RANDOM --no-telemetry
             --log-level=lib.eal:warning -d PMDDIR/librte_mempool_ring.so
             -d PMDDIR/librte_net_af_packet.so -d PMDDIR/librte_net_af_xdp.so
             --no-huge --no-pci -m 256 --no-shconf

``CORE`` is the lowest CPU the calling thread may run on; ``rte_eal_init`` pins the calling
thread to it, and the thread's previous CPU set is given back afterwards (a stage pins itself).
The last line (memory and devices: no hugepages, no PCI scan, 256 MB, no shared files, as the
virtual PMDs on veth need) is replaced by ``eal_args``, or by ``$TICKPATH_DPDK_EAL`` (split
like a shell command line) when that is set. ``--in-memory`` is refused by DPDK together with
``--no-huge``. DPDK's log goes to standard error (its default is standard output).
"""

from __future__ import annotations

import atexit
import ctypes
import errno as E
import os
import secrets
import shlex
import socket
import subprocess
import threading
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from . import dpdk_shim as S

__all__ = ["DEFAULT_MEMORY_ARGS", "ENV_EAL", "PMDS", "EalError", "EthPort", "eal_argv",
           "eal_running", "memory_args", "pmd_dir", "shutdown_eal", "start_eal"]

#: the virtual PMDs a port can be made with here: name -> its plugin file
PMDS = {"af_packet": "librte_net_af_packet.so", "af_xdp": "librte_net_af_xdp.so"}
MEMPOOL_PLUGIN = "librte_mempool_ring.so"
DEFAULT_MEMORY_ARGS = ("--no-huge", "--no-pci", "-m", "256", "--no-shconf")
ENV_EAL = "TICKPATH_DPDK_EAL"


class EalError(RuntimeError):
    """DPDK's EAL or a port cannot be set up; the message says why and what to do."""


def pmd_dir() -> Path | None:
    """Where Debian's DPDK keeps its PMD plugins (``LIBDIR/dpdk/pmds-ABI``), if installed."""
    try:
        libdir = subprocess.run(["pkg-config", "--variable=libdir", "libdpdk"],
                                capture_output=True, text=True).stdout.strip()
    except OSError:
        libdir = ""
    roots = [Path(libdir)] if libdir else []
    roots += [p for p in Path("/usr/lib").glob("*-linux-gnu") if p not in roots]
    for root in roots:
        for d in sorted((root / "dpdk").glob("pmds-*"), reverse=True):
            if (d / MEMPOOL_PLUGIN).exists():
                return d
    return None


# ------------------------------------------------------------------------------------ EAL

_lock = threading.RLock()
# status: off -> running -> ended, or off -> failed; ports: interface -> EthPort
_state = {"status": "off", "args": None, "key": None, "prefix": "", "error": "", "ports": {}}


def eal_running() -> bool:
    return _state["status"] == "running"


def _runtime_dir(prefix: str) -> Path:
    """Where the EAL makes its runtime directory (empty with --no-shconf, removed at the end)."""
    base = "/var/run" if os.geteuid() == 0 else os.environ.get("XDG_RUNTIME_DIR", "/tmp")
    return Path(base) / "dpdk" / prefix


def _sweep_runtime_dirs(parent: Path) -> None:
    """Remove the empty runtime directories of tickpath processes that are gone (a killed
    process cannot remove its own)."""
    try:
        entries = list(parent.glob("tickpath-*-*"))
    except OSError:
        return
    for d in entries:
        pid = d.name.split("-")[1]
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            try:
                d.rmdir()  # only if empty: --no-shconf leaves nothing in it
            except OSError:
                pass


def _eal_error(lib, what: str) -> str:
    e = lib.tp_errno()
    return f"{what}: {S.load().ffi.string(lib.rte_strerror(e)).decode()} (rte_errno {e})"


def memory_args(eal_args: Sequence[str] | None = None) -> list[str]:
    """The EAL's memory and device options: ``eal_args`` when given, else
    ``$TICKPATH_DPDK_EAL`` (split like a shell line) when set, else the defaults."""
    if eal_args is None and os.environ.get(ENV_EAL):
        eal_args = shlex.split(os.environ[ENV_EAL])
    return list(DEFAULT_MEMORY_ARGS if eal_args is None else eal_args)


def eal_argv(pmd: str, core: int, memory: Sequence[str], prefix: str,
             pdir: Path) -> list[str]:
    """The EAL's whole argument list (see the module doc). Every virtual PMD found in
    ``pdir`` is loaded, so a later port of the process may use another; ``pmd``'s own and the
    ring mempool's must be there."""
    if pmd not in PMDS:
        raise ValueError(f"dpdk: pmd {pmd!r}: choose {' or '.join(PMDS)}")
    for p in (pdir / MEMPOOL_PLUGIN, pdir / PMDS[pmd]):
        if not p.exists():
            raise EalError(f"dpdk: {p} is missing: {S.INSTALL}")
    args = ["tickpath", "-l", str(core), "--file-prefix", prefix, "--no-telemetry",
            "--log-level=lib.eal:warning"]
    for f in (MEMPOOL_PLUGIN, *PMDS.values()):
        if (pdir / f).exists():
            args += ["-d", str(pdir / f)]
    return args + list(memory)


def start_eal(pmd: str, *, core: int | None = None,
              eal_args: Sequence[str] | None = None) -> list[str]:
    """Start the EAL for ``pmd`` (``af_packet`` or ``af_xdp``), or check that the running
    one fits; returns the arguments it was started with. See the module doc for the rules."""
    if pmd not in PMDS:
        raise ValueError(f"dpdk: pmd {pmd!r}: choose {' or '.join(PMDS)}")
    mod = S.load()
    lib, ffi = mod.lib, mod.ffi
    memory = memory_args(eal_args)
    explicit = eal_args is not None or bool(os.environ.get(ENV_EAL))
    with _lock:
        status = _state["status"]
        if status == "ended":
            raise EalError("dpdk: the EAL was shut down in this process and cannot start "
                           "again (rte_eal_init runs once per process): open DPDK ports in a "
                           "new process (each pipeline stage is one)")
        if status == "failed":
            raise EalError(f"dpdk: the EAL failed to start in this process earlier "
                           f"({_state['error']}); DPDK does not start twice in one process: "
                           f"fix that and use a new process")
        if status == "running":
            have_core, have_mem = _state["key"]
            if (core is not None and core != have_core) or \
                    (explicit and tuple(memory) != have_mem):
                raise EalError(
                    f"dpdk: the EAL already runs in this process with "
                    f"{shlex.join(_state['args'])}; it starts once per process, so later "
                    f"ports take its options (ask for no other core or EAL arguments, or use "
                    f"another process)")
            return list(_state["args"])
        pdir = pmd_dir()
        if pdir is None:
            raise EalError(f"dpdk: no DPDK PMD directory found (LIBDIR/dpdk/pmds-*): "
                           f"{S.INSTALL}")
        allowed = os.sched_getaffinity(0)
        if core is None:
            core = min(allowed)
        prefix = f"tickpath-{os.getpid()}-{secrets.token_hex(3)}"
        _sweep_runtime_dirs(_runtime_dir(prefix).parent)
        args = eal_argv(pmd, core, memory, prefix, pdir)
        keep = [ffi.new("char[]", a.encode()) for a in args]  # alive through the call
        argv = ffi.new("char *[]", keep)
        lib.tp_log_to_stderr()
        r = lib.rte_eal_init(len(args), argv)
        try:
            os.sched_setaffinity(0, allowed)  # rte_eal_init pinned this thread to CORE
        except OSError:
            pass
        if r < 0:
            if lib.tp_errno() == E.EALREADY:
                msg = ("dpdk: DPDK's EAL was already initialised in this process by other "
                       "code; it runs once per process, and tickpath needs to start it (use a "
                       "new process)")
            else:
                msg = (_eal_error(lib, f"dpdk: rte_eal_init({shlex.join(args)}) failed")
                       + " (needs root; see DPDK's messages on standard error)")
            _state.update(status="failed", error=msg)
            raise EalError(msg)
        _state.update(status="running", args=args, key=(core, tuple(memory)), prefix=prefix)
        atexit.register(shutdown_eal)
        return list(args)


def shutdown_eal() -> None:
    """Detach every port this process still has and end the EAL (``rte_eal_cleanup``); DPDK
    cannot start again in this process afterwards. Runs at exit; idempotent."""
    with _lock:
        if _state["status"] != "running":
            return
        for port in list(_state["ports"].values()):
            port.close()
        lib = S.load().lib
        lib.rte_eal_cleanup()
        _state["status"] = "ended"
        try:
            _runtime_dir(_state["prefix"]).rmdir()  # --no-shconf leaves it empty
        except OSError:
            pass


# ----------------------------------------------------------------------------------- ports

_SOL_PACKET = 263
_PACKET_IGNORE_OUTGOING = 23  # linux/if_packet.h, Linux 4.20+


def _fds() -> set[int]:
    try:
        return {int(x) for x in os.listdir("/proc/self/fd")}
    except OSError:
        return set()


def _packet_sockets(fds: set[int], iface: str) -> list[int]:
    """The AF_PACKET sockets bound to ``iface`` among ``fds``: the af_packet PMD's own (it
    opens one per queue pair and offers no way to reach it)."""
    out = []
    for fd in sorted(fds):
        try:
            s = socket.socket(fileno=os.dup(fd))
        except OSError:
            continue
        try:
            if s.family == socket.AF_PACKET and s.getsockname()[0] == iface:
                out.append(fd)
        except OSError:
            pass
        finally:
            s.close()
    return out


def _set_on(fd: int, level: int, option: int, value: int) -> None:
    """setsockopt on a socket this process holds but does not own (a duplicate of its
    descriptor reaches the same socket)."""
    s = socket.socket(fileno=os.dup(fd))
    try:
        s.setsockopt(level, option, value)
    finally:
        s.close()


_counter = [0]  # vdev and pool names: unique within the process


class EthPort:
    """One DPDK port on ``iface`` through a virtual PMD (``af_packet`` or ``af_xdp``): the
    device probed, an mbuf pool of its own, one receive and one transmit queue, started.

    ``pool_size`` mbufs of DPDK's default size (2048 bytes of data after 128 of headroom).
    For af_packet, ``frames`` is the kernel's ring of the PMD's socket (each way), the
    buffer in front of the loop: 8192 frames ride out a stall of some 400 ms at 20,000
    packets/s. ``ignore_outgoing`` (af_packet): the PMD's socket is not shown the frames
    this host sends (PACKET_IGNORE_OUTGOING), only those it receives, as for the ``packet``
    transport. Needs the EAL started (:func:`start_eal`).
    """

    def __init__(self, pmd: str, iface: str, *, pool_size: int = 8191, frames: int = 8192,
                 nb_desc: int = 1024, ignore_outgoing: bool = False, who: str = "dpdk") -> None:
        if not eal_running():
            raise EalError("dpdk: the EAL is not running (start_eal first)")
        mod = S.load()
        self.lib, self.ffi = mod.lib, mod.ffi
        self.pmd, self.iface = pmd, iface
        self.port = -1
        self.pool = 0
        self.fds: list[int] = []
        with _lock:
            if iface in _state["ports"]:
                raise EalError(f"{who}: this process already has a DPDK port on {iface}; one "
                               f"port per interface (close the other first)")
            _counter[0] += 1
            n = _counter[0]
            self.name = f"net_{pmd}{n}"  # a vdev's name starts with its driver's
            devargs = (f"{self.name},iface={iface},qpairs=1,framecnt={frames}"
                       if pmd == "af_packet" else
                       f"{self.name},iface={iface},start_queue=0,queue_count=1")
            before = _fds()
            r = self.lib.rte_dev_probe(devargs.encode())
            if r < 0:
                raise EalError(f"{who}: DPDK's {pmd} PMD refused {devargs!r}: "
                               f"{self.ffi.string(self.lib.rte_strerror(-r)).decode()} "
                               f"(see DPDK's messages above; does {iface} exist here?)")
            _state["ports"][iface] = self
            try:
                self.port = self.lib.tp_port_by_name(self.name.encode())
                if self.port < 0:
                    raise EalError(f"{who}: DPDK probed {self.name} but made no port")
                if pmd == "af_packet":
                    self.fds = _packet_sockets(_fds() - before, iface)
                    if ignore_outgoing:
                        self._ignore_outgoing(who)
                self.pool = int(self.lib.tp_pool_create(f"tp_pool{n}".encode(), pool_size,
                                                        256, S.EXPECTED_ABI["default_buf_size"]))
                if not self.pool:
                    raise EalError(_eal_error(self.lib, f"{who}: no mbuf pool of {pool_size}"))
                r = self.lib.tp_port_start(self.port, self.pool, nb_desc, nb_desc)
                if r < 0:
                    raise EalError(f"{who}: port {self.name} on {iface} did not start: "
                                   f"{self.ffi.string(self.lib.rte_strerror(-r)).decode()}")
            except BaseException:
                self.close()
                raise

    def _ignore_outgoing(self, who: str) -> None:
        if not self.fds:
            raise EalError(f"{who}: the af_packet PMD's socket on {self.iface} was not found, "
                           f"so this host's own frames cannot be kept out of it")
        for fd in self.fds:
            try:
                _set_on(fd, _SOL_PACKET, _PACKET_IGNORE_OUTGOING, 1)
            except OSError as e:
                raise EalError(f"{who}: cannot keep this host's own frames out of the "
                               f"af_packet PMD's socket on {self.iface} "
                               f"(PACKET_IGNORE_OUTGOING: {e.strerror}; Linux 4.20+)") from e

    def kick(self) -> None:
        """Ask the kernel to send what the af_packet PMD left in its TX ring (its kick met a
        full device queue); nothing for af_xdp."""
        for fd in self.fds:
            s = socket.socket(fileno=os.dup(fd))
            try:
                s.send(b"", socket.MSG_DONTWAIT)
            except OSError:
                pass
            finally:
                s.close()

    def mac(self) -> bytes:
        out = (ctypes.c_uint8 * 6)()
        self.lib.tp_port_mac(self.port, ctypes.addressof(out))
        return bytes(out)

    def stats(self) -> dict[str, int]:
        """DPDK's port counters (``rte_eth_stats``): ipackets, opackets, ibytes, obytes,
        imissed (dropped before the loop: the PMD's ring was full), ierrors, oerrors,
        rx_nombuf (no mbuf for a frame)."""
        out = np.zeros(len(S.STATS), np.uint64)
        if self.port >= 0:
            self.lib.tp_port_stats(self.port, out.ctypes.data)
        return {k: int(v) for k, v in zip(S.STATS, out, strict=True)}

    def mbufs_in_use(self) -> int:
        """mbufs taken from this port's pool and not yet back (the PMD keeps some)."""
        return int(self.lib.tp_pool_in_use(self.pool)) if self.pool else 0

    def close(self) -> None:
        """Stop, close and detach the port, free its pool (idempotent). Every mbuf the
        owner held must be freed first."""
        with _lock:
            if self.port >= 0:
                self.lib.tp_port_remove(self.port)  # closes the PMD's sockets
                self.port = -1
                self.fds = []
            if self.pool:
                self.lib.tp_pool_free(self.pool)
                self.pool = 0
            if _state["ports"].get(self.iface) is self:
                del _state["ports"][self.iface]
