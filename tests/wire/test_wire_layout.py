"""wire/layout.py against the system's own headers: a C program prints offsetof/sizeof."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from tickpath.wire import layout as L

C = r"""
#define _GNU_SOURCE
#include <stddef.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <linux/errqueue.h>
int main(void) {
  printf("IOVEC_SIZE %zu\nIOV_BASE %zu\nIOV_LEN %zu\n", sizeof(struct iovec),
         offsetof(struct iovec, iov_base), offsetof(struct iovec, iov_len));
  printf("MSGHDR_SIZE %zu\nMSG_NAME %zu\nMSG_NAMELEN %zu\nMSG_IOV %zu\nMSG_IOVLEN %zu\n",
         sizeof(struct msghdr), offsetof(struct msghdr, msg_name),
         offsetof(struct msghdr, msg_namelen), offsetof(struct msghdr, msg_iov),
         offsetof(struct msghdr, msg_iovlen));
  printf("MSG_CONTROL %zu\nMSG_CONTROLLEN %zu\nMSG_FLAGS %zu\n",
         offsetof(struct msghdr, msg_control), offsetof(struct msghdr, msg_controllen),
         offsetof(struct msghdr, msg_flags));
  printf("MMSGHDR_SIZE %zu\nMMSG_LEN %zu\n", sizeof(struct mmsghdr),
         offsetof(struct mmsghdr, msg_len));
  printf("CMSGHDR_SIZE %zu\nCMSG_LEN %zu\nCMSG_LEVEL %zu\nCMSG_TYPE %zu\n",
         sizeof(struct cmsghdr), offsetof(struct cmsghdr, cmsg_len),
         offsetof(struct cmsghdr, cmsg_level), offsetof(struct cmsghdr, cmsg_type));
  printf("CMSG_DATA %zu\nTIMESPEC_SIZE %zu\nCMSG_SPACE_TIMESPEC %zu\n",
         (size_t)CMSG_LEN(0), sizeof(struct timespec), (size_t)CMSG_SPACE(sizeof(struct timespec)));
  printf("SCM_TIMESTAMPING_SIZE %zu\nCMSG_SPACE_TIMESTAMPING %zu\n",
         sizeof(struct scm_timestamping),
         (size_t)CMSG_SPACE(sizeof(struct scm_timestamping)));
  printf("SO_TIMESTAMPING %d\nSCM_TIMESTAMPING %d\n", SO_TIMESTAMPING, SCM_TIMESTAMPING);
  printf("SOL_SOCKET %d\nSO_TIMESTAMPNS %d\nSO_BUSY_POLL %d\nSO_RCVBUFFORCE %d\n",
         SOL_SOCKET, SO_TIMESTAMPNS, SO_BUSY_POLL, SO_RCVBUFFORCE);
  printf("MSG_DONTWAIT %d\nMSG_TRUNC %d\nMSG_CTRUNC %d\n", MSG_DONTWAIT, MSG_TRUNC, MSG_CTRUNC);
  return 0;
}
"""


def test_offsets_match_system_headers(tmp_path):
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler to read the system headers with")
    src = tmp_path / "layout.c"
    src.write_text(C)
    exe = tmp_path / "layout"
    subprocess.run([cc, str(src), "-o", str(exe)], check=True, capture_output=True)
    out = subprocess.run([str(exe)], check=True, capture_output=True, text=True).stdout
    seen = 0
    for line in out.splitlines():
        name, value = line.split()
        assert getattr(L, name) == int(value), name
        seen += 1
    assert seen == 31
