"""An AF_XDP socket with its UMEM and its four rings mapped into the process.

The owner of the kernel objects both AF_XDP paths use (the ``xdp`` receive transport and
the AF_XDP sender): it registers the UMEM (page-aligned anonymous memory cut into
``chunk_size`` chunks), sizes and maps the FILL, COMPLETION, RX and TX rings, binds to one
queue of an interface, and reads ``XDP_STATISTICS``. Compiled loops work on the numpy views
it exposes; :class:`RingGeometry` gives them every index they need as one int64 array.

Chunks are split once: the first ``rx_chunks`` for receiving (all of them start on the
FILL ring), the rest for sending. Ring layouts: :mod:`tickpath.wire.xdp_layout`.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import enum
import errno
import mmap
import os
import socket

import numpy as np

from ..ring.mapping import unmap
from . import xdp_layout as X

_libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)


class Geo(enum.IntEnum):
    """Indices of the ring geometry array handed to compiled loops. Producer, consumer and
    flags are u32 word indices into the ring's u32 view; descriptors are word indices into
    the u64 view (RX/TX: two words per descriptor, the length in u32 word ``2*i*2 + 2``)."""

    RX_PROD = 0
    RX_CONS = 1
    RX_DESC = 2  # u64 index of descriptor 0
    RX_MASK = 3
    FR_PROD = 4
    FR_CONS = 5
    FR_FLAGS = 6
    FR_DESC = 7
    FR_MASK = 8
    TX_PROD = 9
    TX_CONS = 10
    TX_FLAGS = 11
    TX_DESC = 12
    TX_MASK = 13
    CR_PROD = 14
    CR_CONS = 15
    CR_DESC = 16
    CR_MASK = 17
    FD = 18
    CHUNK_SIZE = 19
    RX_CHUNKS = 20  # chunks [0, RX_CHUNKS) receive, the rest send
    CHUNKS = 21


N_GEO = len(Geo)


def _power_of_two(n: int, what: str) -> int:
    if n < 1 or n & (n - 1):
        raise ValueError(f"xdp: {what} must be a power of two, not {n}")
    return n


class XskSocket:
    """An AF_XDP socket bound to ``queue`` of ``ifindex``.

    ``rx_size``/``tx_size``: descriptors in the RX and TX rings (0 for none; one of them
    non-zero). The FILL ring is ``rx_size`` long and the COMPLETION ring ``tx_size`` (at
    least 2: the kernel wants both). ``copy=True`` binds in copy mode (any driver, veth
    among them), ``False`` asks for zero-copy (the driver must support it). Raises OSError
    naming what the kernel refused and what to do.
    """

    def __init__(self, ifindex: int, queue: int = 0, *, rx_size: int = 2048,
                 tx_size: int = 0, chunk_size: int = 2048, copy: bool = True,
                 need_wakeup: bool = True) -> None:
        if rx_size:
            _power_of_two(rx_size, "the RX ring size")
        if tx_size:
            _power_of_two(tx_size, "the TX ring size")
        if not rx_size and not tx_size:
            raise ValueError("xdp: a socket needs an RX ring, a TX ring or both")
        if chunk_size not in (2048, 4096):
            raise ValueError(f"xdp: chunk_size {chunk_size}: 2048 or 4096 (aligned mode)")
        self.ifindex, self.queue, self.copy = ifindex, queue, copy
        self.rx_size, self.tx_size, self.chunk_size = rx_size, tx_size, chunk_size
        fill_size = max(rx_size, 2)
        comp_size = max(tx_size, 2)
        self.rx_chunks = rx_size
        self.chunks = rx_size + tx_size
        self._maps: dict[str, mmap.mmap] = {}
        self._umem_map: mmap.mmap | None = None
        try:
            self.sock = socket.socket(X.AF_XDP, socket.SOCK_RAW, 0)
        except OSError as e:
            raise OSError(e.errno, f"xdp: the kernel refused an AF_XDP socket ({e.strerror}): "
                                   f"it needs Linux 4.18+ built with CONFIG_XDP_SOCKETS and "
                                   f"CAP_NET_RAW; use the packet transport meanwhile") from e
        try:
            self._umem_map = mmap.mmap(-1, self.chunks * chunk_size)
            self.umem = np.frombuffer(self._umem_map, np.uint8)
            reg = np.zeros(1, X.XDP_UMEM_REG_DTYPE)
            reg[0] = (self.umem.ctypes.data, self.umem.shape[0], chunk_size, 0, 0, 0)
            self._setsockopt(X.XDP_UMEM_REG, reg.tobytes(), "register the UMEM")
            self._setsockopt(X.XDP_UMEM_FILL_RING, fill_size, "size the FILL ring")
            self._setsockopt(X.XDP_UMEM_COMPLETION_RING, comp_size,
                             "size the COMPLETION ring")
            if rx_size:
                self._setsockopt(X.XDP_RX_RING, rx_size, "size the RX ring")
            if tx_size:
                self._setsockopt(X.XDP_TX_RING, tx_size, "size the TX ring")
            raw = self.sock.getsockopt(X.SOL_XDP, X.XDP_MMAP_OFFSETS,
                                       X.XDP_MMAP_OFFSETS_DTYPE.itemsize)
            off = np.frombuffer(raw, X.XDP_MMAP_OFFSETS_DTYPE)[0]
            geo = np.zeros(N_GEO, np.int64)
            self.rx32, self.rx64 = self._ring("rx", off["rx"], X.XDP_PGOFF_RX_RING, rx_size,
                                              X.XDP_DESC_SIZE)
            self.tx32, self.tx64 = self._ring("tx", off["tx"], X.XDP_PGOFF_TX_RING, tx_size,
                                              X.XDP_DESC_SIZE)
            self.fr32, self.fr64 = self._ring("fr", off["fr"], X.XDP_UMEM_PGOFF_FILL_RING,
                                              fill_size, X.UMEM_DESC_SIZE)
            self.cr32, self.cr64 = self._ring("cr", off["cr"],
                                              X.XDP_UMEM_PGOFF_COMPLETION_RING, comp_size,
                                              X.UMEM_DESC_SIZE)
            for ring, size, o in (("RX", rx_size, off["rx"]), ("TX", tx_size, off["tx"]),
                                  ("FR", fill_size, off["fr"]), ("CR", comp_size, off["cr"])):
                geo[Geo[f"{ring}_PROD"]] = int(o["producer"]) // 4
                geo[Geo[f"{ring}_CONS"]] = int(o["consumer"]) // 4
                geo[Geo[f"{ring}_DESC"]] = int(o["desc"]) // 8
                geo[Geo[f"{ring}_MASK"]] = size - 1
                if f"{ring}_FLAGS" in Geo.__members__:
                    geo[Geo[f"{ring}_FLAGS"]] = int(o["flags"]) // 4
            geo[Geo.FD] = self.sock.fileno()
            geo[Geo.CHUNK_SIZE] = chunk_size
            geo[Geo.RX_CHUNKS] = self.rx_chunks
            geo[Geo.CHUNKS] = self.chunks
            self.geo = geo
            # every receive chunk starts on the FILL ring, before any packet can come
            for i in range(self.rx_chunks):
                self.fr64[geo[Geo.FR_DESC] + i] = i * chunk_size
            self.fr32[geo[Geo.FR_PROD]] = self.rx_chunks
            self.bind_flags = (X.XDP_COPY if copy else X.XDP_ZEROCOPY) | \
                (X.XDP_USE_NEED_WAKEUP if need_wakeup else 0)
            self._bind()
        except BaseException:
            self.close()
            raise

    def _setsockopt(self, opt: int, value: int | bytes, what: str) -> None:
        try:
            self.sock.setsockopt(X.SOL_XDP, opt, value)
        except OSError as e:
            raise OSError(e.errno, f"xdp: cannot {what} ({e.strerror})") from e

    def _ring(self, name: str, off: np.void, pgoff: int, count: int, desc_size: int):
        if count == 0:
            return np.zeros(2, np.uint32), np.zeros(1, np.uint64)
        size = int(off["desc"]) + count * desc_size
        try:
            m = mmap.mmap(self.sock.fileno(), size, mmap.MAP_SHARED | mmap.MAP_POPULATE,
                          mmap.PROT_READ | mmap.PROT_WRITE, offset=pgoff)
        except OSError as e:
            raise OSError(e.errno, f"xdp: cannot map the {name} ring ({e.strerror})") from e
        self._maps[name] = m
        pad = (-size) % 8
        view = np.frombuffer(m, np.uint8, count=size - (size % 8) if pad else size)
        return view.view(np.uint32), view.view(np.uint64)

    def _bind(self) -> None:
        addr = np.zeros(1, X.SOCKADDR_XDP)
        addr[0] = (X.AF_XDP, self.bind_flags, self.ifindex, self.queue, 0)
        r = _libc.bind(self.sock.fileno(), ctypes.c_void_p(addr.ctypes.data),
                       X.SOCKADDR_XDP.itemsize)
        if r == 0:
            return
        e = ctypes.get_errno()
        if e == errno.EOPNOTSUPP and not self.copy:
            why = "the driver has no zero-copy AF_XDP support (veth and lo have none): " \
                  "use copy mode (xdp or xdp:copy)"
        elif e == errno.EINVAL:
            why = f"no queue {self.queue} on this interface, or the interface is down"
        elif e == errno.EBUSY:
            why = f"queue {self.queue} already has an AF_XDP socket bound"
        else:
            why = os.strerror(e)
        raise OSError(e, f"xdp: cannot bind to interface #{self.ifindex} queue {self.queue} "
                         f"in {'copy' if self.copy else 'zero-copy'} mode: {why}")

    def fileno(self) -> int:
        return self.sock.fileno()

    def statistics(self) -> dict[str, int]:
        """XDP_STATISTICS: what the kernel dropped or could not deliver (cumulative)."""
        raw = self.sock.getsockopt(X.SOL_XDP, X.XDP_STATISTICS,
                                   X.XDP_STATISTICS_DTYPE.itemsize)
        raw = raw.ljust(X.XDP_STATISTICS_DTYPE.itemsize, b"\0")
        rec = np.frombuffer(raw, X.XDP_STATISTICS_DTYPE)[0]
        return {name: int(rec[name]) for name in X.XDP_STATISTICS_DTYPE.names}

    def close(self) -> None:
        """Unmap the rings and the UMEM, close the socket (idempotent)."""
        for name in list(self._maps):
            unmap(self._maps.pop(name))
        self.rx32 = self.rx64 = self.tx32 = self.tx64 = None
        self.fr32 = self.fr64 = self.cr32 = self.cr64 = None
        if getattr(self, "sock", None) is not None:
            self.sock.close()
        self.umem = None
        unmap(self._umem_map)
        self._umem_map = None

    def __enter__(self) -> XskSocket:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
