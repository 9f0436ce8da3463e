"""AF_PACKET ring structures, classic BPF and the constants the packet transport uses, as data.

The reference is the kernel's own headers (``linux/if_packet.h``, ``linux/filter.h``,
``linux/bpf_common.h``, ``linux/if_ether.h``, ``linux/in.h``; Debian's linux-libc-dev);
tests/wire/test_packet.py compiles a C program against them and checks every offset, size and
value below. Linux, x86-64 LP64.

The receive ring is ``tp_block_nr`` blocks of ``tp_block_size`` bytes, mapped into the process
with one ``mmap`` of the socket. TPACKET_V2 cuts every block into fixed frames of
``tp_frame_size`` bytes; each frame starts with its own header, whose status word says who owns
it (TP_STATUS_KERNEL 0: the kernel may fill it; TP_STATUS_USER bit: a packet is there for us)::

    struct tpacket2_hdr                                                              32 B
    0         4        8          12    14    16       20       24        26         28     32
    +---------+--------+----------+-----+-----+--------+--------+---------+----------+------+
    | status  | len    | snaplen  | mac | net | sec    | nsec   | vlan_tci| vlan_tpid| pad  |
    | u32     | u32    | u32      | u16 | u16 | u32    | u32    | u16     | u16      | 4    |
    +---------+--------+----------+-----+-----+--------+--------+---------+----------+------+
    then at TPACKET_ALIGN(32) = 32: struct sockaddr_ll (20 B), then the frame at offset ``mac``
    len: bytes on the wire; snaplen: bytes in the ring; sec/nsec: the kernel's receive time

    struct sockaddr_ll                                                               20 B
    0        2          4         8        10        11      12
    +--------+----------+---------+--------+---------+-------+---------+
    | family | protocol | ifindex | hatype | pkttype | halen | addr[8] |
    +--------+----------+---------+--------+---------+-------+---------+
    pkttype: PACKET_HOST 0, BROADCAST 1, MULTICAST 2, OTHERHOST 3, OUTGOING 4

TPACKET_V3 hands over whole blocks instead: the block descriptor's status word says who owns
the block, and its packets follow one another, each found from the previous one's
``tp_next_offset``. The kernel retires (hands over) a block when the next packet does not fit,
or when the retire timeout ``tp_retire_blk_tov`` (milliseconds) passes::

    struct tpacket_block_desc (version, offset_to_priv, then struct tpacket_hdr_v1)   48 B
    0         4                8              12         16                    20        24
    +---------+----------------+--------------+----------+---------------------+---------+
    | version | offset_to_priv | block_status | num_pkts | offset_to_first_pkt | blk_len |
    +---------+----------------+--------------+----------+---------------------+---------+
    24: seq_num u64   32: ts_first_pkt (sec u32, nsec u32)   40: ts_last_pkt            48

    struct tpacket3_hdr                                                              48 B
    0             4      8      12         16    20       24    26    28      32        36
    +-------------+------+------+----------+-----+--------+-----+-----+-------+---------+
    | next_offset | sec  | nsec | snaplen  | len | status | mac | net | rxhash| vlan_tci|
    +-------------+------+------+----------+-----+--------+-----+-----+-------+---------+
    36: vlan_tpid u16   38: padding u16   40: padding[8]                                48

    struct tpacket_req  { block_size, block_nr, frame_size, frame_nr }  (u32 each)   16 B
    struct tpacket_req3 { ... the same, retire_blk_tov, sizeof_priv, feature_req_word } 28 B

Classic BPF: the filter is an array of ``struct sock_filter`` handed to ``SO_ATTACH_FILTER`` in
a ``struct sock_fprog``; on an AF_PACKET SOCK_RAW socket it sees the frame from the link-layer
header on::

    struct sock_filter { u16 code; u8 jt; u8 jf; u32 k; }                            8 B
    struct sock_fprog  { unsigned short len; (6 B padding) struct sock_filter *filter; } 16 B
"""

from __future__ import annotations

import numpy as np

# --- socket options (SOL_PACKET) and versions --------------------------------------------
SOL_PACKET = 263
PACKET_RX_RING = 5
PACKET_STATISTICS = 6
PACKET_VERSION = 10
PACKET_HDRLEN = 11
PACKET_RESERVE = 12
PACKET_TIMESTAMP = 17
PACKET_IGNORE_OUTGOING = 23
TPACKET_V1 = 0
TPACKET_V2 = 1
TPACKET_V3 = 2

# --- packet types (sockaddr_ll.sll_pkttype, and the BPF ancillary pkttype load) ------------
PACKET_HOST = 0
PACKET_BROADCAST = 1
PACKET_MULTICAST = 2
PACKET_OTHERHOST = 3
PACKET_OUTGOING = 4

# --- frame and block status bits ------------------------------------------------------------
TP_STATUS_KERNEL = 0
TP_STATUS_USER = 1 << 0
TP_STATUS_COPY = 1 << 1
TP_STATUS_LOSING = 1 << 2
TP_STATUS_CSUMNOTREADY = 1 << 3
TP_STATUS_VLAN_VALID = 1 << 4
TP_STATUS_BLK_TMO = 1 << 5
TP_STATUS_VLAN_TPID_VALID = 1 << 6
TP_STATUS_CSUM_VALID = 1 << 7
TP_STATUS_TS_SOFTWARE = 1 << 29
TP_STATUS_TS_RAW_HARDWARE = 1 << 31

# --- transmit ring (PACKET_TX_RING): the same tpacket2_hdr, the frame's data at TP2_SLL ----
PACKET_TX_RING = 13
PACKET_LOSS = 14
PACKET_QDISC_BYPASS = 20
TP_STATUS_AVAILABLE = 0  # the frame is ours to fill
TP_STATUS_SEND_REQUEST = 1 << 0  # filled: the kernel sends it on the next send()
TP_STATUS_SENDING = 1 << 1  # the kernel is sending it (its skb still holds the frame)
TP_STATUS_WRONG_FORMAT = 1 << 2  # the kernel refused it (bad tp_len); it stays in the ring

TPACKET_ALIGNMENT = 16

# --- struct sockaddr_ll ---------------------------------------------------------------------
SOCKADDR_LL_SIZE = 20
SLL_FAMILY = 0
SLL_PROTOCOL = 2
SLL_IFINDEX = 4
SLL_HATYPE = 8
SLL_PKTTYPE = 10
SLL_HALEN = 11
SLL_ADDR = 12

# --- struct tpacket2_hdr --------------------------------------------------------------------
TPACKET2_HDR_SIZE = 32
TP2_STATUS = 0
TP2_LEN = 4
TP2_SNAPLEN = 8
TP2_MAC = 12
TP2_NET = 14
TP2_SEC = 16
TP2_NSEC = 20
TP2_VLAN_TCI = 24
TP2_VLAN_TPID = 26
#: TPACKET_ALIGN(sizeof(struct tpacket2_hdr)): where the frame's sockaddr_ll starts
TP2_SLL = 32
#: TPACKET2_HDRLEN: the header and its sockaddr_ll
TPACKET2_HDRLEN = 52

# --- struct tpacket3_hdr --------------------------------------------------------------------
TPACKET3_HDR_SIZE = 48
TP3_NEXT_OFFSET = 0
TP3_SEC = 4
TP3_NSEC = 8
TP3_SNAPLEN = 12
TP3_LEN = 16
TP3_STATUS = 20
TP3_MAC = 24
TP3_NET = 26
TP3_RXHASH = 28
TP3_VLAN_TCI = 32
TP3_VLAN_TPID = 36
TP3_SLL = 48
TPACKET3_HDRLEN = 68

# --- struct tpacket_block_desc (with struct tpacket_hdr_v1) ---------------------------------
BLOCK_DESC_SIZE = 48
BD_VERSION = 0
BD_OFFSET_TO_PRIV = 4
BD_BLOCK_STATUS = 8
BD_NUM_PKTS = 12
BD_OFFSET_TO_FIRST_PKT = 16
BD_BLK_LEN = 20
BD_SEQ_NUM = 24
BD_TS_FIRST_PKT = 32
BD_TS_LAST_PKT = 40

# --- struct tpacket_req / tpacket_req3 ------------------------------------------------------
TPACKET_REQ_SIZE = 16
TPACKET_REQ3_SIZE = 28
REQ_BLOCK_SIZE = 0
REQ_BLOCK_NR = 4
REQ_FRAME_SIZE = 8
REQ_FRAME_NR = 12
REQ3_RETIRE_BLK_TOV = 16
REQ3_SIZEOF_PRIV = 20
REQ3_FEATURE_REQ_WORD = 24

# --- struct tpacket_stats / tpacket_stats_v3 (PACKET_STATISTICS; reading resets them) --------
TPACKET_STATS_SIZE = 8
TPACKET_STATS_V3_SIZE = 12
ST_PACKETS = 0  # packets the filter let through, drops included
ST_DROPS = 4  # of which dropped: the ring was full
ST_FREEZE_Q_CNT = 8  # V3: times the queue froze (every block was held by user space)

# --- classic BPF (linux/filter.h, linux/bpf_common.h) ---------------------------------------
SO_ATTACH_FILTER = 26
SO_DETACH_FILTER = 27
SO_LOCK_FILTER = 44
SOCK_FILTER_SIZE = 8
SF_CODE = 0
SF_JT = 2
SF_JF = 3
SF_K = 4
SOCK_FPROG_SIZE = 16
FPROG_LEN = 0
FPROG_FILTER = 8
BPF_MAXINSNS = 4096

BPF_LD = 0x00
BPF_LDX = 0x01
BPF_ALU = 0x04
BPF_JMP = 0x05
BPF_RET = 0x06
BPF_W = 0x00
BPF_H = 0x08
BPF_B = 0x10
BPF_IMM = 0x00
BPF_ABS = 0x20
BPF_IND = 0x40
BPF_MSH = 0xA0
BPF_JA = 0x00
BPF_JEQ = 0x10
BPF_JGT = 0x20
BPF_JSET = 0x40
BPF_K = 0x00
BPF_X = 0x08
SKF_AD_OFF = -0x1000
SKF_AD_PKTTYPE = 4
SKF_AD_VLAN_TAG_PRESENT = 48

# --- link layer (linux/if_ether.h) ------------------------------------------------------------
ETH_P_ALL = 0x0003
ETH_P_IP = 0x0800
ETH_P_8021Q = 0x8100
ETH_P_8021AD = 0x88A8
ETH_HLEN = 14

# --- struct ip_mreqn (linux/in.h): join a group on one interface --------------------------------
IP_MREQN_SIZE = 12
IMR_MULTIADDR = 0
IMR_ADDRESS = 4
IMR_IFINDEX = 8

# --- the same layouts as numpy dtypes (Python side: building requests, reading frames) -------
SOCK_FILTER = np.dtype({"names": ["code", "jt", "jf", "k"],
                        "formats": ["<u2", "u1", "u1", "<u4"],
                        "offsets": [SF_CODE, SF_JT, SF_JF, SF_K], "itemsize": SOCK_FILTER_SIZE})
TPACKET_REQ3 = np.dtype({
    "names": ["block_size", "block_nr", "frame_size", "frame_nr", "retire_blk_tov",
              "sizeof_priv", "feature_req_word"],
    "formats": ["<u4"] * 7,
    "offsets": [REQ_BLOCK_SIZE, REQ_BLOCK_NR, REQ_FRAME_SIZE, REQ_FRAME_NR, REQ3_RETIRE_BLK_TOV,
                REQ3_SIZEOF_PRIV, REQ3_FEATURE_REQ_WORD],
    "itemsize": TPACKET_REQ3_SIZE})
TPACKET2_HDR = np.dtype({
    "names": ["status", "len", "snaplen", "mac", "net", "sec", "nsec", "vlan_tci", "vlan_tpid"],
    "formats": ["<u4", "<u4", "<u4", "<u2", "<u2", "<u4", "<u4", "<u2", "<u2"],
    "offsets": [TP2_STATUS, TP2_LEN, TP2_SNAPLEN, TP2_MAC, TP2_NET, TP2_SEC, TP2_NSEC,
                TP2_VLAN_TCI, TP2_VLAN_TPID],
    "itemsize": TPACKET2_HDR_SIZE})
TPACKET3_HDR = np.dtype({
    "names": ["next_offset", "sec", "nsec", "snaplen", "len", "status", "mac", "net", "rxhash",
              "vlan_tci", "vlan_tpid"],
    "formats": ["<u4", "<u4", "<u4", "<u4", "<u4", "<u4", "<u2", "<u2", "<u4", "<u4", "<u2"],
    "offsets": [TP3_NEXT_OFFSET, TP3_SEC, TP3_NSEC, TP3_SNAPLEN, TP3_LEN, TP3_STATUS, TP3_MAC,
                TP3_NET, TP3_RXHASH, TP3_VLAN_TCI, TP3_VLAN_TPID],
    "itemsize": TPACKET3_HDR_SIZE})
BLOCK_DESC = np.dtype({
    "names": ["version", "offset_to_priv", "block_status", "num_pkts", "offset_to_first_pkt",
              "blk_len", "seq_num", "first_sec", "first_nsec", "last_sec", "last_nsec"],
    "formats": ["<u4"] * 6 + ["<u8"] + ["<u4"] * 4,
    "offsets": [BD_VERSION, BD_OFFSET_TO_PRIV, BD_BLOCK_STATUS, BD_NUM_PKTS,
                BD_OFFSET_TO_FIRST_PKT, BD_BLK_LEN, BD_SEQ_NUM, BD_TS_FIRST_PKT,
                BD_TS_FIRST_PKT + 4, BD_TS_LAST_PKT, BD_TS_LAST_PKT + 4],
    "itemsize": BLOCK_DESC_SIZE})


def tpacket_align(x: int) -> int:
    """TPACKET_ALIGN(x): ``x`` rounded up to TPACKET_ALIGNMENT."""
    return (x + TPACKET_ALIGNMENT - 1) & ~(TPACKET_ALIGNMENT - 1)
