"""The XDP program of the ``xdp`` transport, assembled here: the feed to the socket, the
rest to the kernel.

For each frame, in the driver (native) or just after it (generic), the program decides::

        r6 = ctx; r2 = ctx->data; r3 = ctx->data_end
        data + 14 > data_end -> pass
        ethertype at [12]: 0x0800 -> headers at N = 14
                           0x8100 (and data + 18 <= data_end) and 0x0800 at [16] -> N = 18
                           else -> pass
        bounds: data + N + 28 <= data_end, else pass      (IPv4 20 + UDP 8)
        [N+16] destination address != feed address -> pass
        [N+9]  protocol != UDP -> pass
        [N]    version/IHL != 0x45, or [N+6] fragment bits set:
                   feed address is a multicast group -> redirect (user space counts
                   and skips it: the group carries nothing else)
                   else -> pass (a unicast address carries other traffic too)
        [N+22] destination port != feed port -> pass
        redirect: bpf_redirect_map(&xsks, ctx->rx_queue_index, XDP_PASS)

``bpf_redirect_map``'s last argument is the action when the map holds no socket for the
queue the frame arrived on: such frames go on to the kernel rather than being dropped
(bind a socket to every queue the feed can arrive on, or steer it to one).

Loads of multi-byte fields compare against constants in the load's (little-endian) byte
order, so the program never swaps bytes; the address is compared as 32 bits (JMP32: Linux
5.1+), the immediate being signed. Instructions are ``(label, opcode, dst, src, off,
imm, jump target)``; the assembler resolves labels into offsets.
"""

from __future__ import annotations

import ipaddress

import numpy as np

from . import frames as F
from . import xdp_layout as X

PROGRAM_NAME = "tickpath_xsk"  # how a stale program of ours is recognised on an interface

R0, R1, R2, R3, R4, R5, R6 = range(7)
_LDX_W = X.BPF_LDX | X.BPF_MEM | X.BPF_W
_LDX_H = X.BPF_LDX | X.BPF_MEM | X.BPF_H
_LDX_B = X.BPF_LDX | X.BPF_MEM | X.BPF_B
_MOV_X = X.BPF_ALU64 | X.BPF_MOV | X.BPF_X
_MOV_K = X.BPF_ALU64 | X.BPF_MOV | X.BPF_K
_ADD_K = X.BPF_ALU64 | X.BPF_ADD | X.BPF_K
_AND_K = X.BPF_ALU64 | X.BPF_AND | X.BPF_K
_JGT_X = X.BPF_JMP | X.BPF_JGT | X.BPF_X
_JNE_K = X.BPF_JMP | X.BPF_JNE | X.BPF_K
_JEQ_K = X.BPF_JMP | X.BPF_JEQ | X.BPF_K
# a 32-bit compare: a 64-bit JNE would sign-extend the immediate while the word load
# zero-extends, so an address whose last octet is 128 or more could never match
_JNE32_K = X.BPF_JMP32 | X.BPF_JNE | X.BPF_K
_JA = X.BPF_JMP | X.BPF_JA
_CALL = X.BPF_JMP | X.BPF_CALL
_EXIT = X.BPF_JMP | X.BPF_EXIT
_LD_IMM64 = X.BPF_LD | X.BPF_IMM | X.BPF_DW


def _le16(v: int) -> int:
    """A big-endian 16-bit field as a little-endian load sees it."""
    return int.from_bytes(v.to_bytes(2, "big"), "little")


def _le32(v: int) -> int:
    """A big-endian 32-bit field as a little-endian load sees it."""
    return int.from_bytes(v.to_bytes(4, "big"), "little")


def assemble(program: list[tuple]) -> np.ndarray:
    """``(label, code, dst, src, off, imm, target)`` rows into a BPF_INSN array; a jump's
    ``target`` is a label, its offset counted in instructions after the jump. ``_LD_IMM64``
    takes two slots (the upper 32 bits of the immediate in the second)."""
    at, n = {}, 0
    for row in program:
        if row[0]:
            at[row[0]] = n
        n += 2 if row[1] == _LD_IMM64 else 1
    out = np.zeros(n, X.BPF_INSN)
    n = 0
    for _label, code, dst, src, off, imm, target in program:
        if target is not None:
            off = at[target] - n - 1
            if not -32768 <= off <= 32767:
                raise ValueError(f"eBPF jump to {target!r} out of range")
        out[n] = (code, (src << 4) | dst, off, imm)
        n += 1
        if code == _LD_IMM64:
            out[n] = (0, 0, 0, 0)
            n += 1
    return out


def _u32_imm(v: int) -> int:
    """An unsigned 32-bit constant as the signed immediate field stores it."""
    return v - (1 << 32) if v >= 1 << 31 else v


def redirect_program(map_fd: int, dst_ip: str | int, port: int) -> np.ndarray:
    """The program for the feed sent to ``dst_ip``:``port``, redirecting into the XSKMAP
    ``map_fd`` (see the module docstring for what it does)."""
    if not 0 < port <= 0xFFFF:
        raise ValueError(f"the XDP program needs the feed's UDP port (1-65535), not {port}")
    addr = ipaddress.IPv4Address(dst_ip if not isinstance(dst_ip, int) else dst_ip)
    if int(addr) == 0:
        raise ValueError("the XDP program needs the feed's destination address, not 0.0.0.0")
    odd = "redirect" if addr.is_multicast else "pass"  # IP options or a fragment
    ip_len, udp_len = F.IPV4_MIN_HLEN, F.UDP_HLEN
    prog: list[tuple] = [
        (None, _MOV_X, R6, R1, 0, 0, None),
        (None, _LDX_W, R2, R6, X.XDP_MD_DATA, 0, None),
        (None, _LDX_W, R3, R6, X.XDP_MD_DATA_END, 0, None),
        (None, _MOV_X, R4, R2, 0, 0, None),
        (None, _ADD_K, R4, 0, 0, F.ETH_HLEN, None),
        (None, _JGT_X, R4, R3, 0, 0, "pass"),
        (None, _LDX_H, R5, R2, F.ETH_TYPE, 0, None),
        (None, _JEQ_K, R5, 0, 0, _le16(F.ETHERTYPE_IPV4), f"ip{F.ETH_HLEN}"),
        (None, _JNE_K, R5, 0, 0, _le16(F.ETHERTYPE_8021Q), "pass"),
        (None, _ADD_K, R4, 0, 0, F.VLAN_HLEN, None),
        (None, _JGT_X, R4, R3, 0, 0, "pass"),
        (None, _LDX_H, R5, R2, F.ETH_TYPE + F.VLAN_HLEN, 0, None),
        (None, _JNE_K, R5, 0, 0, _le16(F.ETHERTYPE_IPV4), "pass"),
        (None, _JA, 0, 0, 0, 0, f"ip{F.ETH_HLEN + F.VLAN_HLEN}"),
    ]
    for n in (F.ETH_HLEN, F.ETH_HLEN + F.VLAN_HLEN):
        prog += [
            (f"ip{n}", _MOV_X, R4, R2, 0, 0, None),
            (None, _ADD_K, R4, 0, 0, n + ip_len + udp_len, None),
            (None, _JGT_X, R4, R3, 0, 0, "pass"),
            (None, _LDX_W, R5, R2, n + F.IP_DST, 0, None),
            (None, _JNE32_K, R5, 0, 0, _u32_imm(_le32(int(addr))), "pass"),
            (None, _LDX_B, R5, R2, n + F.IP_PROTOCOL, 0, None),
            (None, _JNE_K, R5, 0, 0, F.IPPROTO_UDP, "pass"),
            (None, _LDX_B, R5, R2, n + F.IP_VER_IHL, 0, None),
            (None, _JNE_K, R5, 0, 0, 0x45, odd),
            (None, _LDX_H, R5, R2, n + F.IP_FRAG, 0, None),
            (None, _AND_K, R5, 0, 0, _le16(F.IP_FRAG_MASK), None),
            (None, _JNE_K, R5, 0, 0, 0, odd),
            (None, _LDX_H, R5, R2, n + ip_len + F.UDP_DPORT, 0, None),
            (None, _JNE_K, R5, 0, 0, _le16(port), "pass"),
            (None, _JA, 0, 0, 0, 0, "redirect"),
        ]
    prog += [
        ("redirect", _LDX_W, R2, R6, X.XDP_MD_RX_QUEUE_INDEX, 0, None),
        (None, _LD_IMM64, R1, X.BPF_PSEUDO_MAP_FD, 0, map_fd, None),
        (None, _MOV_K, R3, 0, 0, X.XDP_PASS, None),
        (None, _CALL, 0, 0, 0, X.BPF_FUNC_REDIRECT_MAP, None),
        (None, _EXIT, 0, 0, 0, 0, None),
        ("pass", _MOV_K, R0, 0, 0, X.XDP_PASS, None),
        (None, _EXIT, 0, 0, 0, 0, None),
    ]
    return assemble(prog)
