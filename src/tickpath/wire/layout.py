"""Kernel structures the receive paths hand to system calls, as offsets (Linux, x86-64 LP64).

The reference is the kernel's own headers (``linux/socket.h``, ``bits/socket.h``,
``linux/time_types.h``); tests/wire/test_wire_layout.py compiles a C program against the
system headers and checks every offset and size below::

    struct iovec    { void *iov_base; size_t iov_len; }                               16 B
    struct msghdr   { void *msg_name; socklen_t msg_namelen; struct iovec *msg_iov;
                      size_t msg_iovlen; void *msg_control; size_t msg_controllen;
                      int msg_flags; }                                                 56 B
    struct mmsghdr  { struct msghdr msg_hdr; unsigned int msg_len; }                   64 B
    struct cmsghdr  { size_t cmsg_len; int cmsg_level; int cmsg_type; data... }        16 B + data
"""

from __future__ import annotations

IOVEC_SIZE = 16
IOV_BASE = 0
IOV_LEN = 8

MSGHDR_SIZE = 56
MSG_NAME = 0
MSG_NAMELEN = 8
MSG_IOV = 16
MSG_IOVLEN = 24
MSG_CONTROL = 32
MSG_CONTROLLEN = 40
MSG_FLAGS = 48

MMSGHDR_SIZE = 64
MMSG_LEN = 56

CMSGHDR_SIZE = 16
CMSG_LEN = 0
CMSG_LEVEL = 8
CMSG_TYPE = 12
CMSG_DATA = 16
TIMESPEC_SIZE = 16
#: CMSG_SPACE(sizeof(struct timespec)): room for one SO_TIMESTAMPNS control message
CMSG_SPACE_TIMESPEC = 32

SOL_SOCKET = 1
SO_TIMESTAMPNS = 35
SCM_TIMESTAMPNS = SO_TIMESTAMPNS
SO_BUSY_POLL = 46
SO_RCVBUFFORCE = 33
MSG_DONTWAIT = 0x40
MSG_TRUNC = 0x20
MSG_CTRUNC = 0x08
