"""The bpf(2) system call from Python: XSKMAP maps, XDP programs, bpf_links, object info.

Cold path (set-up and tear-down), so plain ctypes. Why not libbpf/libxdp through cffi: the
transport needs one map, one ten-instruction program and one link; the system call does
that in a page of code with no C toolchain or extra Debian package at run time, and every
field is checked against the kernel headers by a test. Errors carry the command, the errno
and, for a program the verifier refuses, the verifier's log.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import errno
import os

import numpy as np

from . import xdp_layout as X

_libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
_libc.syscall.restype = ctypes.c_long

_NAMES = {X.BPF_MAP_CREATE: "BPF_MAP_CREATE", X.BPF_MAP_UPDATE_ELEM: "BPF_MAP_UPDATE_ELEM",
          X.BPF_MAP_LOOKUP_ELEM: "BPF_MAP_LOOKUP_ELEM", X.BPF_PROG_LOAD: "BPF_PROG_LOAD",
          X.BPF_PROG_GET_FD_BY_ID: "BPF_PROG_GET_FD_BY_ID",
          X.BPF_OBJ_GET_INFO_BY_FD: "BPF_OBJ_GET_INFO_BY_FD",
          X.BPF_LINK_CREATE: "BPF_LINK_CREATE", X.BPF_LINK_GET_FD_BY_ID: "BPF_LINK_GET_FD_BY_ID",
          X.BPF_LINK_DETACH: "BPF_LINK_DETACH", X.BPF_PROG_TEST_RUN: "BPF_PROG_TEST_RUN", X.BPF_MAP_DELETE_ELEM: "BPF_MAP_DELETE_ELEM"}


class BpfError(OSError):
    """bpf(2) failed; ``log`` holds the verifier's words for a refused program."""

    def __init__(self, err: int, message: str, log: str = "") -> None:
        super().__init__(err, message)
        self.log = log


def _attr(table: dict[str, int], **values: int | bytes) -> np.ndarray:
    buf = np.zeros(X.ATTR_SIZE, np.uint8)
    for name, v in values.items():
        off = table[name]
        if isinstance(v, bytes):
            buf[off:off + len(v)] = np.frombuffer(v, np.uint8)
        else:
            width = 8 if name in ("key", "value", "flags", "insns", "license", "log_buf",
                                  "info", "data_in", "data_out") else 4
            buf[off:off + width] = np.frombuffer(int(v).to_bytes(width, "little"), np.uint8)
    return buf


def bpf(cmd: int, attr: np.ndarray) -> int:
    """bpf(cmd, attr, size) -> the call's result (an fd, or 0); raises BpfError."""
    # syscall(2) is variadic: ctypes must be told every argument's width
    r = _libc.syscall(ctypes.c_long(X.SYS_BPF), ctypes.c_long(cmd),
                      ctypes.c_void_p(attr.ctypes.data), ctypes.c_long(attr.shape[0]))
    if r < 0:
        e = ctypes.get_errno()
        why = {errno.EPERM: "needs CAP_BPF and CAP_NET_ADMIN (run as root)",
               errno.ENOSYS: "this kernel has no bpf(2)"}.get(e, os.strerror(e))
        raise BpfError(e, f"{_NAMES.get(cmd, cmd)} failed: {why}")
    return int(r)


def _name(name: str) -> bytes:
    raw = name.encode()[:X.BPF_OBJ_NAME_LEN - 1]
    if not all(c == 0x5F or chr(c).isalnum() for c in raw):
        raise ValueError(f"bpf object names are letters, digits and '_': {name!r}")
    return raw


def create_xskmap(entries: int, name: str = "tickpath_xsks") -> int:
    """A BPF_MAP_TYPE_XSKMAP (queue index -> AF_XDP socket) with ``entries`` slots."""
    return bpf(X.BPF_MAP_CREATE, _attr(X.MAP_CREATE, map_type=X.BPF_MAP_TYPE_XSKMAP,
                                       key_size=4, value_size=4, max_entries=entries,
                                       map_name=_name(name)))


def map_update_u32(map_fd: int, key: int, value: int) -> None:
    """``map[key] = value`` for a map of u32 keys and u32 values (an XSKMAP: value = fd)."""
    kv = np.array([key, value], np.uint32)
    bpf(X.BPF_MAP_UPDATE_ELEM, _attr(X.MAP_ELEM, map_fd=map_fd, key=kv.ctypes.data,
                                     value=kv.ctypes.data + 4, flags=X.BPF_ANY))


def load_xdp_program(insns: np.ndarray, name: str, license: str = "GPL") -> int:
    """Load an XDP program (``BPF_INSN`` array); a refusal raises BpfError with the
    verifier's log."""
    if insns.dtype != X.BPF_INSN:
        raise ValueError("not an eBPF program (BPF_INSN array)")
    prog = np.ascontiguousarray(insns)
    lic = np.frombuffer(license.encode() + b"\0", np.uint8).copy()
    log = np.zeros(1 << 16, np.uint8)
    attr = _attr(X.PROG_LOAD, prog_type=X.BPF_PROG_TYPE_XDP, insn_cnt=prog.shape[0],
                 insns=prog.ctypes.data, license=lic.ctypes.data, log_level=1,
                 log_size=log.shape[0], log_buf=log.ctypes.data, prog_name=_name(name),
                 expected_attach_type=X.BPF_XDP)
    try:
        return bpf(X.BPF_PROG_LOAD, attr)
    except BpfError as e:
        words = bytes(log).split(b"\0", 1)[0].decode(errors="replace").strip()
        raise BpfError(e.errno, f"{e.strerror}: the kernel refused the XDP program "
                                f"{name!r}" + (f"; verifier says:\n{words}" if words else ""),
                       words) from None


def link_xdp(prog_fd: int, ifindex: int, flags: int) -> int:
    """Attach an XDP program to an interface as a bpf_link; the program stays attached while
    the returned fd is open, and is detached by the kernel when it closes — also when the
    process dies, so a crash cannot leave it behind."""
    return bpf(X.BPF_LINK_CREATE, _attr(X.LINK_CREATE, prog_fd=prog_fd, target_ifindex=ifindex,
                                        attach_type=X.BPF_XDP, flags=flags))


def prog_fd_by_id(prog_id: int) -> int:
    return bpf(X.BPF_PROG_GET_FD_BY_ID, _attr(X.GET_ID, id=prog_id))


def link_fd_by_id(link_id: int) -> int:
    return bpf(X.BPF_LINK_GET_FD_BY_ID, _attr(X.GET_ID, id=link_id))


def link_detach(link_fd: int) -> None:
    """Detach a bpf_link's program now (the link fd stays valid, attached to nothing)."""
    bpf(X.BPF_LINK_DETACH, _attr(X.LINK_DETACH, link_fd=link_fd))


def test_run(prog_fd: int, frame: bytes) -> int:
    """Run an XDP program once on ``frame`` in the kernel (BPF_PROG_TEST_RUN, nothing is
    sent or redirected for real) and return its verdict (an ``XDP_*`` action)."""
    data = np.frombuffer(bytes(frame), np.uint8).copy()
    out = np.zeros(max(data.shape[0], 1) + 512, np.uint8)
    attr = _attr(X.TEST_RUN, prog_fd=prog_fd, data_size_in=data.shape[0],
                 data_size_out=out.shape[0], data_in=data.ctypes.data,
                 data_out=out.ctypes.data, repeat=1)
    bpf(X.BPF_PROG_TEST_RUN, attr)
    return int(attr[X.TEST_RUN["retval"]:X.TEST_RUN["retval"] + 4].view(np.uint32)[0])


def _info(fd: int, size: int) -> np.ndarray:
    info = np.zeros(size, np.uint8)
    bpf(X.BPF_OBJ_GET_INFO_BY_FD, _attr(X.OBJ_INFO, bpf_fd=fd, info_len=size,
                                         info=info.ctypes.data))
    return info


def prog_info(fd: int) -> tuple[int, str]:
    """``(id, name)`` of the program behind ``fd``."""
    info = _info(fd, X.PROG_INFO_SIZE)
    pid = int(info[X.PROG_INFO["id"]:X.PROG_INFO["id"] + 4].view(np.uint32)[0])
    raw = bytes(info[X.PROG_INFO["name"]:X.PROG_INFO["name"] + X.BPF_OBJ_NAME_LEN])
    return pid, raw.split(b"\0", 1)[0].decode(errors="replace")


def link_info(fd: int) -> tuple[int, int, int, int]:
    """``(type, id, prog_id, ifindex)`` of the bpf_link behind ``fd`` (ifindex for XDP)."""
    info = _info(fd, X.LINK_INFO_SIZE).view(np.uint32)
    return (int(info[X.LINK_INFO["type"] // 4]), int(info[X.LINK_INFO["id"] // 4]),
            int(info[X.LINK_INFO["prog_id"] // 4]), int(info[X.LINK_INFO["xdp_ifindex"] // 4]))


def prog_name_by_id(prog_id: int) -> str:
    """The name of loaded program ``prog_id`` ('' if it cannot be opened)."""
    try:
        fd = prog_fd_by_id(prog_id)
    except BpfError:
        return ""
    try:
        return prog_info(fd)[1]
    finally:
        os.close(fd)


def xdp_link_holders(prog_id: int) -> list[tuple[int, int]]:
    """``(pid, link id)`` of every process holding an XDP bpf_link to program ``prog_id``
    (read from /proc/*/fdinfo, which names the link type, its id and its program)."""
    out = []
    for pid in filter(str.isdigit, os.listdir("/proc")):
        fdinfo = f"/proc/{pid}/fdinfo"
        try:
            fds = os.listdir(fdinfo)
        except OSError:
            continue
        for fd in fds:
            try:
                with open(f"{fdinfo}/{fd}") as f:
                    text = f.read()
            except OSError:
                continue
            if "link_type:\txdp" not in text:
                continue
            fields = dict(line.split(":\t", 1) for line in text.splitlines() if ":\t" in line)
            if fields.get("prog_id", "").strip() == str(prog_id):
                out.append((int(pid), int(fields.get("link_id", "0"))))
    return out
