"""The XDP state of an interface over rtnetlink: which program is attached, in which mode,
and detaching one that a bpf_link does not hold (attached the old way, by netlink).

Cold path, plain Python over an AF_NETLINK socket (the standard library speaks it):

    nlmsghdr (16)            ifinfomsg (16)                    attributes (4 + value, 4-aligned)
    +-----+-----+-----+-----+------+----+------+-------+--------+----------------------------+
    | len | type|flags| seq | fam  | pad| type | index | flags  | IFLA_XDP (nested) {        |
    | u32 | u16 | u16 |u32+ | u8   |    | u16  | i32   | change |   IFLA_XDP_FD s32,         |
    |     |     |     | pid |      |    |      |       | u32 x2 |   IFLA_XDP_FLAGS u32, ...} |
    +-----+-----+-----+-----+------+----+------+-------+--------+----------------------------+
"""

from __future__ import annotations

import os
import socket
import struct
from dataclasses import dataclass

from . import xdp_layout as X

_MODES = {X.XDP_ATTACHED_NONE: "none", X.XDP_ATTACHED_DRV: "native",
          X.XDP_ATTACHED_SKB: "generic", X.XDP_ATTACHED_HW: "offload",
          X.XDP_ATTACHED_MULTI: "multi"}


@dataclass
class XdpState:
    ifindex: int
    mode: str  # none | native | generic | offload | multi
    prog_id: int  # 0 when none


def _attr(kind: int, value: bytes) -> bytes:
    n = X.NLATTR_SIZE + len(value)
    return struct.pack("=HH", n, kind) + value + b"\0" * (-n % 4)


def _attrs(data: bytes):
    off = 0
    while off + X.NLATTR_SIZE <= len(data):
        n, kind = struct.unpack_from("=HH", data, off)
        if n < X.NLATTR_SIZE:
            break
        yield kind & ~X.NLA_F_NESTED, data[off + X.NLATTR_SIZE:off + n]
        off += (n + 3) & ~3


def _request(kind: int, ifindex: int, attrs: bytes, flags: int) -> list[tuple[int, bytes]]:
    """Send one rtnetlink request; returns the (type, payload) replies. Raises OSError for
    an error reply."""
    with socket.socket(socket.AF_NETLINK, socket.SOCK_RAW, X.NETLINK_ROUTE) as s:
        s.bind((0, 0))
        body = struct.pack("=BxHiII", socket.AF_UNSPEC, 0, ifindex, 0, 0) + attrs
        seq = 1
        s.send(struct.pack("=IHHII", X.NLMSGHDR_SIZE + len(body), kind,
                           X.NLM_F_REQUEST | flags, seq, 0) + body)
        out = []
        while True:
            data = s.recv(1 << 16)
            off, done = 0, False
            while off + X.NLMSGHDR_SIZE <= len(data):
                n, typ, _fl, rseq, _pid = struct.unpack_from("=IHHII", data, off)
                payload = data[off + X.NLMSGHDR_SIZE:off + n]
                off += (n + 3) & ~3
                if rseq != seq:
                    continue
                if typ == X.NLMSG_ERROR:
                    err = -struct.unpack_from("=i", payload)[0]
                    if err:
                        raise OSError(err, os.strerror(err))
                    done = True  # the ACK
                elif typ == X.NLMSG_DONE:
                    done = True
                else:
                    out.append((typ, payload))
                    if not flags & X.NLM_F_ACK:
                        done = True
            if done:
                return out


def xdp_state(ifindex: int) -> XdpState:
    """Which XDP program, if any, is attached to interface ``ifindex``, and how."""
    mode, prog = X.XDP_ATTACHED_NONE, 0
    for typ, payload in _request(X.RTM_GETLINK, ifindex, b"", 0):
        if typ != X.RTM_NEWLINK:
            continue
        for kind, value in _attrs(payload[X.IFINFOMSG_SIZE:]):
            if kind != X.IFLA_XDP:
                continue
            for k, v in _attrs(value):
                if k == X.IFLA_XDP_ATTACHED:
                    mode = v[0]
                elif k == X.IFLA_XDP_PROG_ID:
                    prog = struct.unpack("=I", v[:4])[0]
                elif k in (X.IFLA_XDP_DRV_PROG_ID, X.IFLA_XDP_SKB_PROG_ID) and not prog:
                    prog = struct.unpack("=I", v[:4])[0]
    return XdpState(ifindex, _MODES.get(mode, str(mode)), prog)


def set_xdp_fd(ifindex: int, prog_fd: int, flags: int) -> None:
    """Attach ``prog_fd`` (or detach, with -1) the netlink way, in the mode ``flags`` names.
    A program held by a bpf_link refuses this (EBUSY): detach the link instead."""
    nested = _attr(X.IFLA_XDP_FD, struct.pack("=i", prog_fd)) + \
        _attr(X.IFLA_XDP_FLAGS, struct.pack("=I", flags))
    _request(X.RTM_SETLINK, ifindex, _attr(X.IFLA_XDP | X.NLA_F_NESTED, nested), X.NLM_F_ACK)
