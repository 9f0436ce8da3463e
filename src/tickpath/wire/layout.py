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

The send paths also hand the kernel a destination and wait for room with ``poll``::

    struct sockaddr_in  0        2        4         8
                        +--------+--------+---------+-----------+
                        | family | port   | addr    | zero[8]   |                     16 B
                        | u16    | be16   | be32    |           |
                        +--------+--------+---------+-----------+
    struct pollfd       { int fd; short events; short revents; }                       8 B
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

#: struct scm_timestamping { struct timespec ts[3]; }: software, (legacy), raw hardware
SCM_TIMESTAMPING_SIZE = 48
TS_SOFTWARE = 0  # index of the software stamp in ts[]
TS_RAW_HARDWARE = 2  # index of the NIC's raw hardware stamp in ts[]
#: CMSG_SPACE(sizeof(struct scm_timestamping)): room for one SO_TIMESTAMPING message
CMSG_SPACE_TIMESTAMPING = 64

SOL_SOCKET = 1
SO_TIMESTAMPING = 37
SCM_TIMESTAMPING = SO_TIMESTAMPING
SO_TIMESTAMPNS = 35
SCM_TIMESTAMPNS = SO_TIMESTAMPNS
SO_BUSY_POLL = 46
SO_RCVBUFFORCE = 33
SO_SNDBUFFORCE = 32
MSG_DONTWAIT = 0x40
MSG_TRUNC = 0x20
MSG_CTRUNC = 0x08

AF_INET = 2
SOCKADDR_IN_SIZE = 16
SIN_FAMILY = 0
SIN_PORT = 2
SIN_ADDR = 4

POLLFD_SIZE = 8
PFD_FD = 0
PFD_EVENTS = 4
PFD_REVENTS = 6
POLLOUT = 0x4
