"""AF_XDP, eBPF and rtnetlink bytes the ``xdp`` transport owns, as the kernel declares them.

Every constant and offset below comes from the kernel's UAPI headers (Debian's linux-libc-dev:
``linux/if_xdp.h``, ``linux/bpf.h``, ``linux/if_link.h``, ``linux/rtnetlink.h``);
``tests/wire/test_xdp_layout.py`` compiles a C program against them and compares.

An AF_XDP socket shares four single-producer single-consumer rings with the kernel, each its
own mapping of the socket at a fixed page offset, each laid out as the kernel reports with
``getsockopt(XDP_MMAP_OFFSETS)`` (``struct xdp_ring_offset`` per ring)::

    ring mapping (producer, consumer, flags: u32 at the reported offsets)
    +----------+----------+-------+------------------------------------------------+
    | producer | consumer | flags | desc[0] desc[1] ... desc[count - 1]            |
    +----------+----------+-------+------------------------------------------------+
    rx, tx:  struct xdp_desc, 16 bytes      fill, completion: u64 UMEM address
    0        8     12      16
    +--------+-----+-------+
    | addr   | len | opts  |
    +--------+-----+-------+

Who produces what: the process fills the FILL ring with free UMEM chunks; the kernel copies
(or, zero-copy, DMAs) a packet into one and posts ``(addr, len)`` on RX; the process reads
it where it landed and gives the chunk back on FILL. For sending the process posts on TX;
the kernel posts the sent chunk's address on COMPLETION.

    struct sockaddr_xdp, 16 bytes          struct xdp_umem_reg, 32 bytes
    0       2      4         8        12   0      8     16      20       24     28
    +-------+------+---------+--------+----+------+-----+-------+--------+------+------+
    | fam   | flags| ifindex | queue  |shrd| addr | len | chunk | headrm | flags| txmd |
    +-------+------+---------+--------+----+------+-----+-------+--------+------+------+
"""

from __future__ import annotations

import numpy as np

# ------------------------------------------------------------------------- linux/if_xdp.h
AF_XDP = 44
SOL_XDP = 283

XDP_SHARED_UMEM = 1 << 0
XDP_COPY = 1 << 1  # bind flag: force copy mode
XDP_ZEROCOPY = 1 << 2  # bind flag: force zero-copy mode
XDP_USE_NEED_WAKEUP = 1 << 3
XDP_RING_NEED_WAKEUP = 1 << 0  # ring flags word: the kernel wants a kick

XDP_MMAP_OFFSETS = 1
XDP_RX_RING = 2
XDP_TX_RING = 3
XDP_UMEM_REG = 4
XDP_UMEM_FILL_RING = 5
XDP_UMEM_COMPLETION_RING = 6
XDP_STATISTICS = 7
XDP_OPTIONS = 8
XDP_OPTIONS_ZEROCOPY = 1 << 0

XDP_PGOFF_RX_RING = 0
XDP_PGOFF_TX_RING = 0x80000000
XDP_UMEM_PGOFF_FILL_RING = 0x100000000
XDP_UMEM_PGOFF_COMPLETION_RING = 0x180000000

SOCKADDR_XDP = np.dtype([("family", "<u2"), ("flags", "<u2"), ("ifindex", "<u4"),
                         ("queue_id", "<u4"), ("shared_umem_fd", "<u4")])
XDP_UMEM_REG_DTYPE = np.dtype([("addr", "<u8"), ("len", "<u8"), ("chunk_size", "<u4"),
                               ("headroom", "<u4"), ("flags", "<u4"),
                               ("tx_metadata_len", "<u4")])
XDP_RING_OFFSET = np.dtype([("producer", "<u8"), ("consumer", "<u8"), ("desc", "<u8"),
                            ("flags", "<u8")])
XDP_MMAP_OFFSETS_DTYPE = np.dtype([("rx", XDP_RING_OFFSET), ("tx", XDP_RING_OFFSET),
                                   ("fr", XDP_RING_OFFSET), ("cr", XDP_RING_OFFSET)])
XDP_DESC = np.dtype([("addr", "<u8"), ("len", "<u4"), ("options", "<u4")])
XDP_DESC_SIZE = 16
UMEM_DESC_SIZE = 8  # a FILL or COMPLETION entry: one u64 address
XDP_STATISTICS_DTYPE = np.dtype([
    ("rx_dropped", "<u8"), ("rx_invalid_descs", "<u8"), ("tx_invalid_descs", "<u8"),
    ("rx_ring_full", "<u8"), ("rx_fill_ring_empty_descs", "<u8"),
    ("tx_ring_empty_descs", "<u8")])

# ---------------------------------------------------------------------------- linux/bpf.h
# bpf(2) commands
BPF_MAP_CREATE = 0
BPF_MAP_LOOKUP_ELEM = 1
BPF_MAP_UPDATE_ELEM = 2
BPF_MAP_DELETE_ELEM = 3
BPF_PROG_LOAD = 5
BPF_PROG_TEST_RUN = 10
BPF_PROG_GET_FD_BY_ID = 13
BPF_OBJ_GET_INFO_BY_FD = 15
BPF_LINK_CREATE = 28
BPF_LINK_GET_FD_BY_ID = 30
BPF_LINK_DETACH = 34

BPF_MAP_TYPE_XSKMAP = 17
BPF_PROG_TYPE_XDP = 6
BPF_XDP = 37  # attach type of an XDP bpf_link
BPF_OBJ_NAME_LEN = 16
BPF_PSEUDO_MAP_FD = 1
BPF_FUNC_REDIRECT_MAP = 51
BPF_ANY = 0

# enum xdp_action
XDP_ABORTED, XDP_DROP, XDP_PASS, XDP_TX, XDP_REDIRECT = range(5)

# struct xdp_md: what an XDP program reads from its context (r1)
XDP_MD_DATA = 0
XDP_MD_DATA_END = 4
XDP_MD_RX_QUEUE_INDEX = 16

# union bpf_attr, per command: (name, offset, size) of the fields used
ATTR_SIZE = 128  # zero-filled; the kernel checks that bytes it does not know are zero
MAP_CREATE = {"map_type": 0, "key_size": 4, "value_size": 8, "max_entries": 12,
              "map_flags": 16, "map_name": 28}
MAP_ELEM = {"map_fd": 0, "key": 8, "value": 16, "flags": 24}
PROG_LOAD = {"prog_type": 0, "insn_cnt": 4, "insns": 8, "license": 16, "log_level": 24,
             "log_size": 28, "log_buf": 32, "kern_version": 40, "prog_flags": 44,
             "prog_name": 48, "prog_ifindex": 64, "expected_attach_type": 68}
GET_ID = {"id": 0, "next_id": 4, "open_flags": 8}
OBJ_INFO = {"bpf_fd": 0, "info_len": 4, "info": 8}
LINK_CREATE = {"prog_fd": 0, "target_ifindex": 4, "attach_type": 8, "flags": 12}
LINK_DETACH = {"link_fd": 0}
TEST_RUN = {"prog_fd": 0, "retval": 4, "data_size_in": 8, "data_size_out": 12, "data_in": 16,
            "data_out": 24, "repeat": 32, "duration": 36}

# struct bpf_prog_info: the fields read (the kernel fills as much as info_len allows)
PROG_INFO_SIZE = 256
PROG_INFO = {"type": 0, "id": 4, "name": 64}
# struct bpf_link_info: type, id, prog_id, then per type; XDP: ifindex
LINK_INFO_SIZE = 64
LINK_INFO = {"type": 0, "id": 4, "prog_id": 8, "xdp_ifindex": 16}
BPF_LINK_TYPE_XDP = 6

# eBPF instruction: u8 opcode, u8 dst:4|src:4, s16 offset, s32 immediate
BPF_INSN = np.dtype([("code", "u1"), ("regs", "u1"), ("off", "<i2"), ("imm", "<i4")])
# opcode parts (class | size | mode / class | op | source)
BPF_LD, BPF_LDX, BPF_ST, BPF_STX, BPF_ALU, BPF_JMP, BPF_RET, BPF_ALU64 = range(8)
BPF_JMP32 = 0x06  # jumps comparing the low 32 bits (class 6, where classic BPF had RET)
BPF_W, BPF_H, BPF_B, BPF_DW = 0x00, 0x08, 0x10, 0x18
BPF_IMM, BPF_MEM = 0x00, 0x60
BPF_K, BPF_X = 0x00, 0x08
BPF_ADD, BPF_AND, BPF_MOV = 0x00, 0x50, 0xB0
BPF_JA, BPF_JEQ, BPF_JGT, BPF_JNE, BPF_CALL, BPF_EXIT = 0x00, 0x10, 0x20, 0x50, 0x80, 0x90

# ------------------------------------------------------- linux/if_link.h, linux/rtnetlink.h
XDP_FLAGS_UPDATE_IF_NOEXIST = 1 << 0
XDP_FLAGS_SKB_MODE = 1 << 1  # generic XDP: after the driver, on the kernel's skb
XDP_FLAGS_DRV_MODE = 1 << 2  # native XDP: in the driver
XDP_FLAGS_HW_MODE = 1 << 3
XDP_FLAGS_REPLACE = 1 << 4
XDP_ATTACHED_NONE, XDP_ATTACHED_DRV, XDP_ATTACHED_SKB, XDP_ATTACHED_HW, XDP_ATTACHED_MULTI = \
    range(5)
IFLA_XDP = 43
IFLA_XDP_FD = 1
IFLA_XDP_ATTACHED = 2
IFLA_XDP_FLAGS = 3
IFLA_XDP_PROG_ID = 4
IFLA_XDP_DRV_PROG_ID = 5
IFLA_XDP_SKB_PROG_ID = 6
IFLA_XDP_HW_PROG_ID = 7
NETLINK_ROUTE = 0
RTM_NEWLINK = 16
RTM_GETLINK = 18
RTM_SETLINK = 19
NLM_F_REQUEST = 0x1
NLM_F_ACK = 0x4
NLMSG_ERROR = 0x2
NLMSG_DONE = 0x3
NLA_F_NESTED = 0x8000
NLMSGHDR_SIZE = 16  # len u32, type u16, flags u16, seq u32, pid u32
IFINFOMSG_SIZE = 16  # family u8, pad, type u16, index i32, flags u32, change u32
NLATTR_SIZE = 4  # len u16, type u16

# Linux x86-64 system call number of bpf(2)
SYS_BPF = 321
