"""wire/xdp_layout.py against the kernel's own headers: a C program prints every value."""

from __future__ import annotations

import shutil
import subprocess

import pytest

from tickpath.wire import xdp_layout as X

C = r"""
#define _GNU_SOURCE
#include <stddef.h>
#include <stdio.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <linux/if_xdp.h>
#include <linux/bpf.h>
#include <linux/if_link.h>
#include <linux/rtnetlink.h>
#include <linux/netlink.h>
#define P(n, v) printf("%s %lld\n", n, (long long)(v))
#define O(d, s, f) printf("%s %s %zu\n", d, #f, offsetof(s, f))
int main(void) {
  P("AF_XDP", AF_XDP); P("SOL_XDP", SOL_XDP);
  P("XDP_SHARED_UMEM", XDP_SHARED_UMEM); P("XDP_COPY", XDP_COPY);
  P("XDP_ZEROCOPY", XDP_ZEROCOPY); P("XDP_USE_NEED_WAKEUP", XDP_USE_NEED_WAKEUP);
  P("XDP_RING_NEED_WAKEUP", XDP_RING_NEED_WAKEUP);
  P("XDP_MMAP_OFFSETS", XDP_MMAP_OFFSETS); P("XDP_RX_RING", XDP_RX_RING);
  P("XDP_TX_RING", XDP_TX_RING); P("XDP_UMEM_REG", XDP_UMEM_REG);
  P("XDP_UMEM_FILL_RING", XDP_UMEM_FILL_RING);
  P("XDP_UMEM_COMPLETION_RING", XDP_UMEM_COMPLETION_RING);
  P("XDP_STATISTICS", XDP_STATISTICS); P("XDP_OPTIONS", XDP_OPTIONS);
  P("XDP_OPTIONS_ZEROCOPY", XDP_OPTIONS_ZEROCOPY);
  P("XDP_PGOFF_RX_RING", XDP_PGOFF_RX_RING); P("XDP_PGOFF_TX_RING", XDP_PGOFF_TX_RING);
  P("XDP_UMEM_PGOFF_FILL_RING", XDP_UMEM_PGOFF_FILL_RING);
  P("XDP_UMEM_PGOFF_COMPLETION_RING", XDP_UMEM_PGOFF_COMPLETION_RING);
  P("XDP_DESC_SIZE", sizeof(struct xdp_desc));
  P("BPF_MAP_CREATE", BPF_MAP_CREATE); P("BPF_MAP_LOOKUP_ELEM", BPF_MAP_LOOKUP_ELEM);
  P("BPF_MAP_UPDATE_ELEM", BPF_MAP_UPDATE_ELEM); P("BPF_MAP_DELETE_ELEM", BPF_MAP_DELETE_ELEM);
  P("BPF_PROG_LOAD", BPF_PROG_LOAD); P("BPF_PROG_TEST_RUN", BPF_PROG_TEST_RUN); P("BPF_PROG_GET_FD_BY_ID", BPF_PROG_GET_FD_BY_ID);
  P("BPF_OBJ_GET_INFO_BY_FD", BPF_OBJ_GET_INFO_BY_FD); P("BPF_LINK_CREATE", BPF_LINK_CREATE);
  P("BPF_LINK_GET_FD_BY_ID", BPF_LINK_GET_FD_BY_ID); P("BPF_LINK_DETACH", BPF_LINK_DETACH);
  P("BPF_MAP_TYPE_XSKMAP", BPF_MAP_TYPE_XSKMAP); P("BPF_PROG_TYPE_XDP", BPF_PROG_TYPE_XDP);
  P("BPF_XDP", BPF_XDP); P("BPF_OBJ_NAME_LEN", BPF_OBJ_NAME_LEN);
  P("BPF_PSEUDO_MAP_FD", BPF_PSEUDO_MAP_FD); P("BPF_FUNC_REDIRECT_MAP", BPF_FUNC_redirect_map);
  P("BPF_ANY", BPF_ANY); P("BPF_LINK_TYPE_XDP", BPF_LINK_TYPE_XDP);
  P("XDP_ABORTED", XDP_ABORTED); P("XDP_DROP", XDP_DROP); P("XDP_PASS", XDP_PASS);
  P("XDP_TX", XDP_TX); P("XDP_REDIRECT", XDP_REDIRECT);
  P("XDP_MD_DATA", offsetof(struct xdp_md, data));
  P("XDP_MD_DATA_END", offsetof(struct xdp_md, data_end));
  P("XDP_MD_RX_QUEUE_INDEX", offsetof(struct xdp_md, rx_queue_index));
  P("BPF_LD", BPF_LD); P("BPF_LDX", BPF_LDX); P("BPF_ST", BPF_ST); P("BPF_STX", BPF_STX);
  P("BPF_ALU", BPF_ALU); P("BPF_JMP", BPF_JMP); P("BPF_ALU64", BPF_ALU64);
  P("BPF_JMP32", BPF_JMP32);
  P("BPF_W", BPF_W); P("BPF_H", BPF_H); P("BPF_B", BPF_B); P("BPF_DW", BPF_DW);
  P("BPF_IMM", BPF_IMM); P("BPF_MEM", BPF_MEM); P("BPF_K", BPF_K); P("BPF_X", BPF_X);
  P("BPF_ADD", BPF_ADD); P("BPF_AND", BPF_AND); P("BPF_MOV", BPF_MOV); P("BPF_JA", BPF_JA);
  P("BPF_JEQ", BPF_JEQ); P("BPF_JGT", BPF_JGT); P("BPF_JNE", BPF_JNE);
  P("BPF_CALL", BPF_CALL); P("BPF_EXIT", BPF_EXIT);
  P("XDP_FLAGS_UPDATE_IF_NOEXIST", XDP_FLAGS_UPDATE_IF_NOEXIST);
  P("XDP_FLAGS_SKB_MODE", XDP_FLAGS_SKB_MODE); P("XDP_FLAGS_DRV_MODE", XDP_FLAGS_DRV_MODE);
  P("XDP_FLAGS_HW_MODE", XDP_FLAGS_HW_MODE); P("XDP_FLAGS_REPLACE", XDP_FLAGS_REPLACE);
  P("XDP_ATTACHED_NONE", XDP_ATTACHED_NONE); P("XDP_ATTACHED_DRV", XDP_ATTACHED_DRV);
  P("XDP_ATTACHED_SKB", XDP_ATTACHED_SKB); P("XDP_ATTACHED_HW", XDP_ATTACHED_HW);
  P("XDP_ATTACHED_MULTI", XDP_ATTACHED_MULTI);
  P("IFLA_XDP", IFLA_XDP); P("IFLA_XDP_FD", IFLA_XDP_FD);
  P("IFLA_XDP_ATTACHED", IFLA_XDP_ATTACHED); P("IFLA_XDP_FLAGS", IFLA_XDP_FLAGS);
  P("IFLA_XDP_PROG_ID", IFLA_XDP_PROG_ID); P("IFLA_XDP_DRV_PROG_ID", IFLA_XDP_DRV_PROG_ID);
  P("IFLA_XDP_SKB_PROG_ID", IFLA_XDP_SKB_PROG_ID); P("IFLA_XDP_HW_PROG_ID", IFLA_XDP_HW_PROG_ID);
  P("NETLINK_ROUTE", NETLINK_ROUTE); P("RTM_NEWLINK", RTM_NEWLINK);
  P("RTM_GETLINK", RTM_GETLINK); P("RTM_SETLINK", RTM_SETLINK);
  P("NLM_F_REQUEST", NLM_F_REQUEST); P("NLM_F_ACK", NLM_F_ACK);
  P("NLMSG_ERROR", NLMSG_ERROR); P("NLMSG_DONE", NLMSG_DONE); P("NLA_F_NESTED", NLA_F_NESTED);
  P("NLMSGHDR_SIZE", sizeof(struct nlmsghdr)); P("IFINFOMSG_SIZE", sizeof(struct ifinfomsg));
  P("NLATTR_SIZE", sizeof(struct nlattr)); P("SYS_BPF", SYS_bpf);
  O("SOCKADDR_XDP", struct sockaddr_xdp, sxdp_flags);
  O("SOCKADDR_XDP", struct sockaddr_xdp, sxdp_ifindex);
  O("SOCKADDR_XDP", struct sockaddr_xdp, sxdp_queue_id);
  O("SOCKADDR_XDP", struct sockaddr_xdp, sxdp_shared_umem_fd);
  P("SOCKADDR_XDP_SIZE", sizeof(struct sockaddr_xdp));
  O("XDP_UMEM_REG_DTYPE", struct xdp_umem_reg, len);
  O("XDP_UMEM_REG_DTYPE", struct xdp_umem_reg, chunk_size);
  O("XDP_UMEM_REG_DTYPE", struct xdp_umem_reg, headroom);
  O("XDP_UMEM_REG_DTYPE", struct xdp_umem_reg, flags);
  P("XDP_UMEM_REG_SIZE", sizeof(struct xdp_umem_reg));
  O("XDP_MMAP_OFFSETS_DTYPE", struct xdp_mmap_offsets, tx);
  O("XDP_MMAP_OFFSETS_DTYPE", struct xdp_mmap_offsets, fr);
  O("XDP_MMAP_OFFSETS_DTYPE", struct xdp_mmap_offsets, cr);
  P("XDP_MMAP_OFFSETS_SIZE", sizeof(struct xdp_mmap_offsets));
  O("XDP_RING_OFFSET", struct xdp_ring_offset, consumer);
  O("XDP_RING_OFFSET", struct xdp_ring_offset, desc);
  O("XDP_RING_OFFSET", struct xdp_ring_offset, flags);
  O("XDP_DESC", struct xdp_desc, len); O("XDP_DESC", struct xdp_desc, options);
  P("XDP_STATISTICS_SIZE", sizeof(struct xdp_statistics));
  O("XDP_STATISTICS_DTYPE", struct xdp_statistics, rx_ring_full);
  O("XDP_STATISTICS_DTYPE", struct xdp_statistics, tx_ring_empty_descs);
  P("BPF_INSN_SIZE", sizeof(struct bpf_insn));
  O("MAP_CREATE", union bpf_attr, map_type); O("MAP_CREATE", union bpf_attr, key_size);
  O("MAP_CREATE", union bpf_attr, value_size); O("MAP_CREATE", union bpf_attr, max_entries);
  O("MAP_CREATE", union bpf_attr, map_flags); O("MAP_CREATE", union bpf_attr, map_name);
  O("MAP_ELEM", union bpf_attr, map_fd); O("MAP_ELEM", union bpf_attr, key);
  O("MAP_ELEM", union bpf_attr, value); O("MAP_ELEM", union bpf_attr, flags);
  O("PROG_LOAD", union bpf_attr, prog_type); O("PROG_LOAD", union bpf_attr, insn_cnt);
  O("PROG_LOAD", union bpf_attr, insns); O("PROG_LOAD", union bpf_attr, license);
  O("PROG_LOAD", union bpf_attr, log_level); O("PROG_LOAD", union bpf_attr, log_size);
  O("PROG_LOAD", union bpf_attr, log_buf); O("PROG_LOAD", union bpf_attr, kern_version);
  O("PROG_LOAD", union bpf_attr, prog_flags); O("PROG_LOAD", union bpf_attr, prog_name);
  O("PROG_LOAD", union bpf_attr, prog_ifindex);
  O("PROG_LOAD", union bpf_attr, expected_attach_type);
  printf("GET_ID id %zu\n", offsetof(union bpf_attr, prog_id));
  O("GET_ID", union bpf_attr, next_id); O("GET_ID", union bpf_attr, open_flags);
  printf("OBJ_INFO bpf_fd %zu\n", offsetof(union bpf_attr, info.bpf_fd));
  printf("OBJ_INFO info_len %zu\n", offsetof(union bpf_attr, info.info_len));
  printf("OBJ_INFO info %zu\n", offsetof(union bpf_attr, info.info));
  printf("LINK_CREATE prog_fd %zu\n", offsetof(union bpf_attr, link_create.prog_fd));
  printf("LINK_CREATE target_ifindex %zu\n",
         offsetof(union bpf_attr, link_create.target_ifindex));
  printf("LINK_CREATE attach_type %zu\n", offsetof(union bpf_attr, link_create.attach_type));
  printf("LINK_CREATE flags %zu\n", offsetof(union bpf_attr, link_create.flags));
  printf("TEST_RUN prog_fd %zu\n", offsetof(union bpf_attr, test.prog_fd));
  printf("TEST_RUN retval %zu\n", offsetof(union bpf_attr, test.retval));
  printf("TEST_RUN data_size_in %zu\n", offsetof(union bpf_attr, test.data_size_in));
  printf("TEST_RUN data_size_out %zu\n", offsetof(union bpf_attr, test.data_size_out));
  printf("TEST_RUN data_in %zu\n", offsetof(union bpf_attr, test.data_in));
  printf("TEST_RUN data_out %zu\n", offsetof(union bpf_attr, test.data_out));
  printf("TEST_RUN repeat %zu\n", offsetof(union bpf_attr, test.repeat));
  printf("TEST_RUN duration %zu\n", offsetof(union bpf_attr, test.duration));
  printf("LINK_DETACH link_fd %zu\n", offsetof(union bpf_attr, link_detach.link_fd));
  O("PROG_INFO", struct bpf_prog_info, type); O("PROG_INFO", struct bpf_prog_info, id);
  O("PROG_INFO", struct bpf_prog_info, name);
  P("PROG_INFO_FITS", sizeof(struct bpf_prog_info) <= 256);
  O("LINK_INFO", struct bpf_link_info, type); O("LINK_INFO", struct bpf_link_info, id);
  O("LINK_INFO", struct bpf_link_info, prog_id);
  printf("LINK_INFO xdp_ifindex %zu\n", offsetof(struct bpf_link_info, xdp.ifindex));
  P("LINK_INFO_FITS", sizeof(struct bpf_link_info) <= 64);
  return 0;
}
"""


def _dtype_offset(dt, field: str) -> int:
    return dt.fields[field][1]


def test_values_and_offsets_match_kernel_headers(tmp_path):
    cc = shutil.which("cc") or shutil.which("gcc")
    if cc is None:
        pytest.skip("no C compiler to read the kernel headers with")
    src = tmp_path / "xdp.c"
    src.write_text(C)
    exe = tmp_path / "xdp"
    r = subprocess.run([cc, str(src), "-o", str(exe)], capture_output=True, text=True)
    if r.returncode and "No such file" in r.stderr:
        pytest.skip(f"kernel headers missing (apt-get install linux-libc-dev): {r.stderr}")
    assert r.returncode == 0, r.stderr
    out = subprocess.run([str(exe)], check=True, capture_output=True, text=True).stdout
    sizes = {"SOCKADDR_XDP_SIZE": X.SOCKADDR_XDP.itemsize,
             "XDP_UMEM_REG_SIZE": X.XDP_UMEM_REG_DTYPE.itemsize,
             "XDP_MMAP_OFFSETS_SIZE": X.XDP_MMAP_OFFSETS_DTYPE.itemsize,
             "XDP_STATISTICS_SIZE": X.XDP_STATISTICS_DTYPE.itemsize,
             "BPF_INSN_SIZE": X.BPF_INSN.itemsize,
             "PROG_INFO_FITS": 1, "LINK_INFO_FITS": 1}
    fields = {"sxdp_flags": "flags", "sxdp_ifindex": "ifindex", "sxdp_queue_id": "queue_id",
              "sxdp_shared_umem_fd": "shared_umem_fd"}
    seen = 0
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 2:
            name, value = parts[0], int(parts[1])
            want = sizes[name] if name in sizes else getattr(X, name)
            assert want == value, name
        else:
            table, field, value = parts[0], fields.get(parts[1], parts[1]), int(parts[2])
            obj = getattr(X, table)
            got = obj[field] if isinstance(obj, dict) else _dtype_offset(obj, field)
            assert got == value, f"{table}.{field}"
        seen += 1
    assert seen > 130


def test_attr_fields_fit_the_attr_buffer_passed():
    """bpf(2) takes a size: the kernel zero-fills what lies beyond it, so a 128-byte
    attribute works on kernels whose union is larger, as long as every field used fits."""
    for table in (X.MAP_CREATE, X.MAP_ELEM, X.PROG_LOAD, X.GET_ID, X.OBJ_INFO, X.LINK_CREATE,
                  X.TEST_RUN):
        assert max(table.values()) + 16 <= X.ATTR_SIZE
