"""The DPDK shim: a few lines of C, built with cffi against the installed DPDK, called from
compiled loops by symbol.

``rte_eth_rx_burst``, ``rte_eth_tx_burst``, ``rte_pktmbuf_mtod`` and friends are ``static
inline`` in DPDK's headers: there is no symbol to call from Python or numba, so they need a
compiled caller. The shim is that caller, kept small; every pointer it takes is a
``uint64_t`` (an address from ``array.ctypes.data`` or from the shim itself), so a compiled
loop passes plain integers::

    hot path (compiled loops, by symbol)            set-up (Python, through cffi's ``lib``)
    ──────────────────────────────────────────      ─────────────────────────────────────────
    tp_rx_burst(port, q, mbufs, addrs, lens, n)     tp_log_to_stderr()  tp_errno()  tp_abi(out)
      one rte_eth_rx_burst; for each frame its      tp_pool_create(name, n, cache, data_room)
      mbuf, data address (mtod) and length          tp_pool_free(pool)  tp_pool_in_use(pool)
      (n 0: returns 0, touching no queue)           tp_port_by_name(name)
    tp_free_bulk(mbufs, n)                          tp_port_start(port, pool, nb_rxd, nb_txd)
    tp_tx_alloc(pool, mbufs, addrs, n)              tp_port_remove(port)  tp_port_mac(port, out)
      n mbufs from the pool, where each frame goes  tp_port_stats(port, out)
    tp_tx_burst(port, q, mbufs, lens, n)            and DPDK's own rte_eal_init, rte_eal_cleanup,
      set each length, one rte_eth_tx_burst         rte_dev_probe, rte_strerror

A chained frame (more than one segment: bigger than an mbuf's data room) comes back with
its length negated (``-pkt_len``): the loop counts it and skips it instead of reading past the
first segment.

How compiled code calls it. numba can call cffi functions itself
(``numba.core.typing.cffi_utils.register_module``), but it bakes each function's address into
the machine code and then refuses to cache every function that does so ("uses dynamic
globals": a full compile in every new process). So, as :mod:`tickpath.wire.libc` does for
libc, each hot-path function's address (``ffi.addressof``) is registered with LLVM under a
name of ours and an intrinsic calls that name: the loops cache on disk like any other.
:func:`load` registers the names; it runs before any compiled code that calls them is made or
loaded (the receiver and sender load the shim in their constructors).

Build and cache. Built on first use with ``pkg-config --cflags --libs libdpdk`` into
``$XDG_CACHE_HOME/tickpath/dpdk-shim/KEY/`` (``~/.cache`` when unset), KEY a hash of the shim's
source, DPDK's version, the flags, cffi's version and the interpreter's tag; a change of any
builds afresh, and two processes building at once each finish in a directory of their own and
rename it into place. Needs a C compiler, Python's headers and ``libdpdk-dev``; missing any,
:class:`ShimUnavailable` says which and what to install.
"""

from __future__ import annotations

import hashlib
import importlib.machinery
import importlib.util
import os
import shlex
import shutil
import subprocess
import sys
import sysconfig
import tempfile
import threading
from pathlib import Path

from numba.core import config

__all__ = ["ABI", "EXPECTED_ABI", "MODULE", "ShimUnavailable", "cache_root", "dpdk_build_flags",
           "free_bulk", "frame_view", "load", "loaded", "rx_burst", "shim_dir", "tx_alloc",
           "tx_burst"]

MODULE = "_tickpath_dpdk_shim"
INSTALL = "apt-get install dpdk libdpdk-dev pkg-config"


class ShimUnavailable(RuntimeError):
    """The shim cannot be built or loaded here; the message says what is missing."""


SOURCE = r"""
#include <stdint.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <rte_eal.h>
#include <rte_errno.h>
#include <rte_log.h>
#include <rte_dev.h>
#include <rte_ethdev.h>
#include <rte_mbuf.h>
#include <rte_mempool.h>
#include <rte_version.h>

#define TP_PTR(T, v) ((T)(uintptr_t)(v))

/* ---- hot path: integers in, integers out ---- */

static int64_t tp_rx_burst(uint64_t port, uint64_t queue, uint64_t mbufs, uint64_t addrs,
                           uint64_t lens, uint64_t n)
{
    struct rte_mbuf **m = TP_PTR(struct rte_mbuf **, mbufs);
    uint64_t *a = TP_PTR(uint64_t *, addrs);
    int64_t *l = TP_PTR(int64_t *, lens);
    if (n == 0)  /* a warm-up: touch no queue */
        return 0;
    uint16_t got = rte_eth_rx_burst((uint16_t)port, (uint16_t)queue, m, (uint16_t)n);
    for (uint16_t i = 0; i < got; i++) {
        a[i] = (uint64_t)rte_pktmbuf_mtod(m[i], uintptr_t);
        l[i] = m[i]->nb_segs == 1 ? (int64_t)m[i]->data_len : -(int64_t)m[i]->pkt_len;
    }
    return got;
}

static void tp_free_bulk(uint64_t mbufs, uint64_t n)
{
    if (n)
        rte_pktmbuf_free_bulk(TP_PTR(struct rte_mbuf **, mbufs), (unsigned)n);
}

static int64_t tp_tx_alloc(uint64_t pool, uint64_t mbufs, uint64_t addrs, uint64_t n)
{
    struct rte_mbuf **m = TP_PTR(struct rte_mbuf **, mbufs);
    uint64_t *a = TP_PTR(uint64_t *, addrs);
    if (rte_pktmbuf_alloc_bulk(TP_PTR(struct rte_mempool *, pool), m, (unsigned)n) != 0)
        return -1;
    for (uint64_t i = 0; i < n; i++)
        a[i] = (uint64_t)rte_pktmbuf_mtod(m[i], uintptr_t);
    return (int64_t)n;
}

static int64_t tp_tx_burst(uint64_t port, uint64_t queue, uint64_t mbufs, uint64_t lens,
                           uint64_t n)
{
    struct rte_mbuf **m = TP_PTR(struct rte_mbuf **, mbufs);
    const int64_t *l = TP_PTR(const int64_t *, lens);
    for (uint64_t i = 0; i < n; i++)
        m[i]->data_len = m[i]->pkt_len = (uint16_t)l[i];
    return rte_eth_tx_burst((uint16_t)port, (uint16_t)queue, m, (uint16_t)n);
}

/* ---- set-up, called from Python ---- */

static int tp_errno(void) { return rte_errno; }

static int tp_log_to_stderr(void) { return rte_openlog_stream(stderr); }

static uint64_t tp_pool_create(const char *name, unsigned n, unsigned cache,
                               unsigned data_room)
{
    return (uint64_t)(uintptr_t)rte_pktmbuf_pool_create(name, n, cache, 0,
                                                        (uint16_t)data_room,
                                                        (int)rte_socket_id());
}

static void tp_pool_free(uint64_t pool) { rte_mempool_free(TP_PTR(struct rte_mempool *, pool)); }

static int64_t tp_pool_in_use(uint64_t pool)
{
    return (int64_t)rte_mempool_in_use_count(TP_PTR(struct rte_mempool *, pool));
}

static int tp_port_by_name(const char *name)
{
    uint16_t port;
    return rte_eth_dev_get_port_by_name(name, &port) == 0 ? port : -1;
}

/* one rx and one tx queue, default configuration; returns 0 or a negative errno */
static int tp_port_start(uint16_t port, uint64_t pool, uint16_t nb_rxd, uint16_t nb_txd)
{
    struct rte_eth_conf conf;
    int r;
    memset(&conf, 0, sizeof conf);
    if ((r = rte_eth_dev_configure(port, 1, 1, &conf)) != 0) return r;
    if ((r = rte_eth_dev_adjust_nb_rx_tx_desc(port, &nb_rxd, &nb_txd)) != 0) return r;
    if ((r = rte_eth_rx_queue_setup(port, 0, nb_rxd, rte_eth_dev_socket_id(port), NULL,
                                    TP_PTR(struct rte_mempool *, pool))) != 0) return r;
    if ((r = rte_eth_tx_queue_setup(port, 0, nb_txd, rte_eth_dev_socket_id(port), NULL)) != 0)
        return r;
    return rte_eth_dev_start(port);
}

/* stop, close and detach the port's device (its vdev name is free again) */
static int tp_port_remove(uint16_t port)
{
    struct rte_eth_dev_info info;
    struct rte_device *dev = NULL;
    if (rte_eth_dev_info_get(port, &info) == 0) dev = info.device;
    rte_eth_dev_stop(port);
    rte_eth_dev_close(port);
    return dev != NULL ? rte_dev_remove(dev) : 0;
}

static int tp_port_mac(uint16_t port, uint64_t out)
{
    return rte_eth_macaddr_get(port, TP_PTR(struct rte_ether_addr *, out));
}

/* ipackets, opackets, ibytes, obytes, imissed, ierrors, oerrors, rx_nombuf */
static int tp_port_stats(uint16_t port, uint64_t out)
{
    struct rte_eth_stats s;
    uint64_t *o = TP_PTR(uint64_t *, out);
    int r = rte_eth_stats_get(port, &s);
    if (r != 0) return r;
    o[0] = s.ipackets; o[1] = s.opackets; o[2] = s.ibytes; o[3] = s.obytes;
    o[4] = s.imissed; o[5] = s.ierrors; o[6] = s.oerrors; o[7] = s.rx_nombuf;
    return 0;
}

/* what the Python side assumes, as the compiler sees it (checked against EXPECTED_ABI) */
static void tp_abi(uint64_t out)
{
    int64_t *o = TP_PTR(int64_t *, out);
    o[0] = sizeof(void *);
    o[1] = sizeof(struct rte_mbuf);
    o[2] = RTE_PKTMBUF_HEADROOM;
    o[3] = RTE_MBUF_DEFAULT_BUF_SIZE;
    o[4] = RTE_MAX_ETHPORTS;
    o[5] = RTE_VERSION;
    o[6] = offsetof(struct rte_mbuf, buf_addr);
    o[7] = offsetof(struct rte_mbuf, data_off);
    o[8] = offsetof(struct rte_mbuf, data_len);
    o[9] = offsetof(struct rte_mbuf, pkt_len);
    o[10] = offsetof(struct rte_mbuf, nb_segs);
    o[11] = sizeof(((struct rte_mbuf *)0)->data_len);
    o[12] = RTE_ETHER_ADDR_LEN;
    o[13] = sizeof(struct rte_ether_addr);
}
"""

CDEF = """
int64_t tp_rx_burst(uint64_t port, uint64_t queue, uint64_t mbufs, uint64_t addrs,
                    uint64_t lens, uint64_t n);
void tp_free_bulk(uint64_t mbufs, uint64_t n);
int64_t tp_tx_alloc(uint64_t pool, uint64_t mbufs, uint64_t addrs, uint64_t n);
int64_t tp_tx_burst(uint64_t port, uint64_t queue, uint64_t mbufs, uint64_t lens, uint64_t n);
int tp_errno(void);
int tp_log_to_stderr(void);
uint64_t tp_pool_create(const char *name, unsigned n, unsigned cache, unsigned data_room);
void tp_pool_free(uint64_t pool);
int64_t tp_pool_in_use(uint64_t pool);
int tp_port_by_name(const char *name);
int tp_port_start(uint16_t port, uint64_t pool, uint16_t nb_rxd, uint16_t nb_txd);
int tp_port_remove(uint16_t port);
int tp_port_mac(uint16_t port, uint64_t out);
int tp_port_stats(uint16_t port, uint64_t out);
void tp_abi(uint64_t out);
int rte_eal_init(int argc, char **argv);
int rte_eal_cleanup(void);
int rte_dev_probe(const char *devargs);
const char *rte_strerror(int errnum);
"""

#: indices of tp_abi's answer
ABI = ("pointer_size", "mbuf_size", "headroom", "default_buf_size", "max_ethports", "version",
       "off_buf_addr", "off_data_off", "off_data_len", "off_pkt_len", "off_nb_segs",
       "data_len_size", "ether_addr_len", "ether_addr_size")

#: what the Python side relies on (the rest of tp_abi is for the record and the tests):
#: addresses fit int64 slots, a frame's length fits an mbuf's 16-bit data_len, the pools'
#: data room is DPDK's default (2048 bytes after a 128-byte headroom), ports are 16-bit
#: ids below RTE_MAX_ETHPORTS, a MAC address is 6 bytes
EXPECTED_ABI = {"pointer_size": 8, "headroom": 128, "default_buf_size": 2176,
                "data_len_size": 2, "ether_addr_len": 6, "ether_addr_size": 6}

STATS = ("ipackets", "opackets", "ibytes", "obytes", "imissed", "ierrors", "oerrors",
         "rx_nombuf")

# ------------------------------------------------------------------------------- building


def _pkg_config(*args: str) -> str:
    if shutil.which("pkg-config") is None:
        raise ShimUnavailable(f"dpdk: pkg-config is missing ({INSTALL})")
    r = subprocess.run(["pkg-config", *args, "libdpdk"], capture_output=True, text=True)
    if r.returncode:
        raise ShimUnavailable(f"dpdk: libdpdk-dev is not installed (pkg-config knows no "
                              f"libdpdk): {INSTALL}")
    return r.stdout.strip()


def dpdk_build_flags() -> tuple[str, list[str], list[str]]:
    """``(DPDK version, compile flags, link flags)`` from pkg-config."""
    return (_pkg_config("--modversion"), shlex.split(_pkg_config("--cflags")),
            shlex.split(_pkg_config("--libs")))


def cache_root() -> Path:
    """Where built shims are kept: ``$XDG_CACHE_HOME/tickpath`` (``~/.cache/tickpath``)."""
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "tickpath"


def _key(version: str, cflags: list[str], libs: list[str]) -> str:
    import cffi

    h = hashlib.sha256()
    for part in (SOURCE, CDEF, version, " ".join(cflags), " ".join(libs), cffi.__version__,
                 sys.implementation.cache_tag, sysconfig.get_config_var("EXT_SUFFIX") or ""):
        h.update(part.encode())
        h.update(b"\0")
    return f"{version}-{h.hexdigest()[:16]}"


def shim_dir() -> Path:
    """The directory of this source's shim for the installed DPDK (built or not)."""
    return cache_root() / "dpdk-shim" / _key(*dpdk_build_flags())


def _built(d: Path) -> Path | None:
    return next(iter(sorted(d.glob(f"{MODULE}*.so"))), None) if d.is_dir() else None


def build() -> Path:
    """The shim's extension module, built now unless the cache has it; its path."""
    version, cflags, libs = dpdk_build_flags()
    d = cache_root() / "dpdk-shim" / _key(version, cflags, libs)
    so = _built(d)
    if so is not None:
        return so
    if not Path(sysconfig.get_paths()["include"], "Python.h").exists():
        raise ShimUnavailable(f"dpdk: Python's headers are missing, the shim cannot be "
                              f"built (apt-get install python{sys.version_info[0]}."
                              f"{sys.version_info[1]}-dev)")
    if shutil.which(sysconfig.get_config_var("CC").split()[0] or "cc") is None:
        raise ShimUnavailable("dpdk: no C compiler, the shim cannot be built "
                              "(apt-get install gcc)")
    import cffi

    d.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=".build-", dir=d.parent))
    try:
        ffi = cffi.FFI()
        ffi.cdef(CDEF)
        ffi.set_source(MODULE, SOURCE, extra_compile_args=[*cflags, "-O2"],
                       extra_link_args=libs)
        # the compiler's own chatter goes to a log kept with the error
        log = tmp / "build.log"
        with open(log, "w") as f, _redirect_fds(f.fileno()):
            try:
                ffi.compile(tmpdir=str(tmp), verbose=False)
            except Exception as e:  # cffi raises VerificationError / distutils errors
                f.flush()
                tail = log.read_text()[-2000:] if log.exists() else ""
                raise ShimUnavailable(f"dpdk: the shim did not build ({e}); is {INSTALL} "
                                      f"complete?\n{tail}") from e
        for p in tmp.iterdir():  # keep the module and its C source, nothing else
            if p.suffix not in (".so", ".c"):
                p.unlink() if p.is_file() else shutil.rmtree(p)
        try:
            tmp.rename(d)  # atomic: another process may have won the race, that is fine
        except OSError:
            if _built(d) is None:
                raise
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    so = _built(d)
    if so is None:
        raise ShimUnavailable(f"dpdk: the shim built, but no module is in {d}")
    return so


class _redirect_fds:
    """Point fds 1 and 2 at ``fd`` for the duration (the compiler writes there directly)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def __enter__(self):
        sys.stdout.flush()
        sys.stderr.flush()
        self.saved = [os.dup(1), os.dup(2)]
        os.dup2(self.fd, 1)
        os.dup2(self.fd, 2)

    def __exit__(self, *exc) -> None:
        for target, saved in zip((1, 2), self.saved, strict=True):
            os.dup2(saved, target)
            os.close(saved)


# -------------------------------------------------------------------------------- loading

_LOCK = threading.Lock()
_MOD = None
#: hot-path functions: name in the shim -> LLVM symbol, argument count
HOT = {"tp_rx_burst": ("tickpath_dpdk_rx_burst", 6),
       "tp_free_bulk": ("tickpath_dpdk_free_bulk", 2),
       "tp_tx_alloc": ("tickpath_dpdk_tx_alloc", 4),
       "tp_tx_burst": ("tickpath_dpdk_tx_burst", 5)}


def load():
    """The shim's module (``.ffi``, ``.lib``), built if needed, its hot-path functions
    registered with LLVM. Idempotent; raises :class:`ShimUnavailable`."""
    global _MOD
    with _LOCK:
        if _MOD is not None:
            return _MOD
        so = build()
        loader = importlib.machinery.ExtensionFileLoader(MODULE, str(so))
        spec = importlib.util.spec_from_file_location(MODULE, so, loader=loader)
        try:
            mod = importlib.util.module_from_spec(spec)
            loader.exec_module(mod)
        except ImportError as e:  # e.g. a DPDK library missing at run time
            raise ShimUnavailable(f"dpdk: the shim in {so.parent} does not load ({e}): "
                                  f"{INSTALL}") from e
        if not config.DISABLE_JIT:
            import llvmlite.binding as llvm

            for name, (sym, _) in HOT.items():
                addr = int(mod.ffi.cast("uintptr_t", mod.ffi.addressof(mod.lib, name)))
                llvm.add_symbol(sym, addr)
        _MOD = mod
        return mod


def loaded() -> bool:
    return _MOD is not None


def abi() -> dict[str, int]:
    """``tp_abi``: sizes, offsets and constants as the shim was compiled."""
    import numpy as np

    lib = load().lib
    out = np.zeros(len(ABI), np.int64)
    lib.tp_abi(out.ctypes.data)
    return dict(zip(ABI, (int(v) for v in out), strict=True))


# ------------------------------------------------------------ calls from compiled code

if config.DISABLE_JIT:  # plain Python through cffi: steppable in a debugger
    import numpy as np

    def rx_burst(port, queue, mbufs, addrs, lens, n):
        return int(load().lib.tp_rx_burst(port, queue, mbufs, addrs, lens, n))

    def free_bulk(mbufs, n):
        load().lib.tp_free_bulk(mbufs, n)

    def tx_alloc(pool, mbufs, addrs, n):
        return int(load().lib.tp_tx_alloc(pool, mbufs, addrs, n))

    def tx_burst(port, queue, mbufs, lens, n):
        return int(load().lib.tp_tx_burst(port, queue, mbufs, lens, n))

    def frame_view(addr, n):
        """The ``n`` bytes at ``addr`` as a writable uint8 array (no copy)."""
        ffi = load().ffi
        return np.frombuffer(ffi.buffer(ffi.cast("uint8_t *", int(addr)), int(n)), np.uint8)

else:
    from llvmlite import ir
    from numba import njit, types
    from numba.core import cgutils
    from numba.extending import intrinsic
    from numba.np.arrayobj import populate_array

    from .libc import symbol_call

    def _hot(name: str):
        sym, nargs = HOT[name]  # every argument a uint64 (pointers as integers)
        # load(): compiling a caller, the symbol must be known when the code is linked
        fn = symbol_call(name, sym, "l" * nargs, "v" if name == "tp_free_bulk" else "l",
                         before_typing=load)
        fn.__doc__ = f"The shim's {name}, called by symbol from compiled code."
        return fn

    rx_burst = _hot("tp_rx_burst")
    free_bulk = _hot("tp_free_bulk")
    tx_alloc = _hot("tp_tx_alloc")
    tx_burst = _hot("tp_tx_burst")

    _U8_VIEW = types.Array(types.uint8, 1, "C")

    @intrinsic
    def _u8_view(typingctx, addr, n):
        """The ``n`` bytes at the integer address ``addr`` as an ``array(uint8, 1d, C)`` that
        owns nothing (no meminfo), built in place. Not ``numba.carray``: its implementation
        is a compiled function returning an array, which numba refuses to compile for a
        caller without reference counting (the receive loop, ``_nrt=False``)."""
        if not (isinstance(addr, types.Integer) and isinstance(n, types.Integer)):
            return None

        def codegen(context, builder, signature, args):
            a = context.cast(builder, args[0], signature.args[0], types.uint64)
            size = context.cast(builder, args[1], signature.args[1], types.intp)
            one = context.get_constant(types.intp, 1)
            ary = context.make_array(_U8_VIEW)(context, builder)
            populate_array(ary, data=builder.inttoptr(a, ir.IntType(8).as_pointer()),
                           shape=cgutils.pack_array(builder, [size]),
                           strides=cgutils.pack_array(builder, [one]),
                           itemsize=one, meminfo=None)
            return ary._getvalue()

        return _U8_VIEW(addr, n), codegen

    @njit(cache=True, nogil=True, inline="always")
    def frame_view(addr, n):
        """The ``n`` bytes at ``addr`` as an ``array(uint8, 1d, C)``, the type of every other
        transport's buffer (no copy, no allocation: the array owns nothing)."""
        return _u8_view(addr, n)
