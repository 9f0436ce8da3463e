"""The dpdk transport over a real veth pair, with a handler that knows no protocol
(:mod:`dpdk_probe_handler`): every datagram sent from the other namespace arrives, in order,
byte for byte; frames not for the feed are counted, not handed over; one EAL per process.

DPDK's EAL starts once per process, and pytest is one process: each scenario runs in a
process of its own (:mod:`dpdk_child`), inside the veth pair's namespaces. Needs root and
Debian's dpdk + libdpdk-dev (``make test`` installs them); skips with the reason otherwise.

The children compile into a numba cache of the test session's own: numba's cache index of a
loop pickles the argument types of every signature it holds, so a loop cached for a state type
that only the tests define (the probe handler's) could not be loaded at all by a process that
cannot import that type's module.
"""

from __future__ import annotations

import ast
import json
import os
import select
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from dpdk_probe_handler import STAMPED_FROM

pytestmark = pytest.mark.net

HERE = Path(__file__).parent
CHILD = str(HERE / "dpdk_child.py")
GROUP, PORT, OTHER_PORT = "233.54.12.7", 26410, 26411
WIRE = Path(__file__).parents[2] / "src" / "tickpath" / "wire"


def _shim():
    from tickpath.wire import dpdk_shim as S

    try:
        return S.load()
    except S.ShimUnavailable as e:
        pytest.skip(str(e))


@pytest.fixture
def dpdk_host(veth):
    """A veth pair, with root and DPDK present (skips saying what is missing)."""
    from tickpath.wire.dpdk_eal import pmd_dir

    _shim()
    if pmd_dir() is None:
        pytest.skip("no DPDK PMD directory: apt-get install dpdk libdpdk-dev")
    return veth


_CACHE: list[Path] = []


@pytest.fixture(autouse=True)
def _numba_cache(tmp_path_factory):
    """One numba cache for the session's children, apart from the tree's (module doc)."""
    if not _CACHE:
        _CACHE.append(tmp_path_factory.mktemp("numba-cache"))


class Child:
    """A scenario of dpdk_child.py in a namespace, read line by line with a deadline."""

    def __init__(self, veth, ns: str, log: Path, *args: str) -> None:
        self.log = log
        self.err = open(log, "w")  # DPDK's messages: a file, never a full pipe
        env = {**os.environ, "NUMBA_CACHE_DIR": str(_CACHE[0])}
        self.p = veth.popen(ns, sys.executable, CHILD, *args, stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, stderr=self.err, text=True, env=env)

    def line(self, timeout: float = 60.0) -> dict:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            r, _, _ = select.select([self.p.stdout], [], [], max(0.0, end - time.monotonic()))
            if r:
                text = self.p.stdout.readline()
                if not text:
                    break
                try:
                    return json.loads(text)
                except json.JSONDecodeError:
                    continue  # anything a library printed on stdout
        self.kill()
        raise AssertionError(f"no answer from {CHILD}: {self.log.read_text()[-3000:]}")

    def tell(self, word: str) -> None:
        self.p.stdin.write(word + "\n")
        self.p.stdin.flush()

    def finish(self, timeout: float = 30.0) -> None:
        try:
            rc = self.p.wait(timeout=timeout)
        finally:
            self.kill()
        assert rc == 0, self.log.read_text()[-3000:]

    def kill(self) -> None:
        if self.p.poll() is None:
            self.p.kill()
            self.p.wait()
        self.err.close()


def run_child(veth, ns: str, log: Path, *args: str, timeout: float = 60.0) -> dict:
    c = Child(veth, ns, log, *args)
    try:
        out = c.line(timeout)
        c.finish()
    finally:
        c.kill()
    return out


def _payloads(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """``n`` datagrams of 1 to 1472 bytes (the largest in one 1500-byte IPv4 packet), each
    starting with its index, the rest random."""
    rng = np.random.default_rng(seed)
    lens = rng.integers(4, 1473, n)
    lens[:3] = (1472, 1, 8)
    parts = []
    for i, size in enumerate(lens):
        b = bytearray(rng.integers(0, 256, int(size), dtype=np.uint8).tobytes())
        b[:4] = i.to_bytes(4, "big")[:size]
        parts.append(bytes(b))
    return lens.astype(np.int64), np.frombuffer(b"".join(parts), np.uint8)


def _split(lens: np.ndarray, data: np.ndarray) -> list[bytes]:
    ends = np.cumsum(lens)
    return [data[e - n:e].tobytes() for n, e in zip(lens, ends, strict=True)]


# ------------------------------------------------------------------------------ no root


def test_shim_assumptions():
    """What the Python side assumes of the shim, as the compiler saw DPDK's headers."""
    from tickpath.wire import dpdk_shim as S

    _shim()
    abi = S.abi()
    for k, v in S.EXPECTED_ABI.items():
        assert abi[k] == v, k
    version = S.dpdk_build_flags()[0]
    year, month = (int(x) for x in version.split(".")[:2])
    assert (abi["version"] >> 24, (abi["version"] >> 16) & 0xFF) == (year, month)
    # the fields rx_burst reads, inside the mbuf's first cache line (and the mbuf 2 lines)
    assert abi["mbuf_size"] == 128
    for off in ("off_buf_addr", "off_data_off", "off_data_len", "off_pkt_len", "off_nb_segs"):
        assert 0 <= abi[off] < 64
    # a frame's length fits a 16-bit data_len, and a port id the shim's uint16
    assert 1 << (8 * abi["data_len_size"]) > S.EXPECTED_ABI["default_buf_size"]
    assert abi["max_ethports"] <= 1 << 16
    # the cache key follows the source and DPDK's version
    assert S.shim_dir().name.startswith(version + "-")


def test_eal_arguments(tmp_path, monkeypatch):
    """The EAL's argument list: core, prefix, quiet, the plugins found, then the memory and
    device options, which ``eal_args`` or $TICKPATH_DPDK_EAL replace."""
    from tickpath.wire import dpdk_eal as E

    for f in (E.MEMPOOL_PLUGIN, E.PMDS["af_packet"]):
        (tmp_path / f).touch()
    monkeypatch.delenv(E.ENV_EAL, raising=False)
    args = E.eal_argv("af_packet", 1, E.memory_args(), "tickpath-1-abc", tmp_path)
    assert args[:5] == ["tickpath", "-l", "1", "--file-prefix", "tickpath-1-abc"]
    assert args[-5:] == ["--no-huge", "--no-pci", "-m", "256", "--no-shconf"]
    assert "--in-memory" not in args  # DPDK refuses it together with --no-huge
    plugins = [args[i + 1] for i, a in enumerate(args) if a == "-d"]
    assert plugins == [str(tmp_path / E.MEMPOOL_PLUGIN), str(tmp_path / E.PMDS["af_packet"])]
    with pytest.raises(E.EalError, match="librte_net_af_xdp.so is missing"):
        E.eal_argv("af_xdp", 1, [], "p", tmp_path)
    assert E.memory_args(["-a", "0000:3b:00.0"]) == ["-a", "0000:3b:00.0"]
    monkeypatch.setenv(E.ENV_EAL, "--socket-mem 1024 -a '0000:3b:00.0'")
    assert E.memory_args() == ["--socket-mem", "1024", "-a", "0000:3b:00.0"]
    assert E.memory_args(["--no-huge"]) == ["--no-huge"]  # the argument wins


def test_wire_dpdk_modules_know_no_protocol():
    """The dpdk modules import nothing from the protocol rooms (the wire layer's rule)."""
    banned = ("codec", "feed", "book", "engine")
    for name in ("dpdk.py", "dpdk_eal.py", "dpdk_shim.py", "dpdk_tx.py"):
        path = WIRE / name
        if not path.exists():
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                mod = node.module or ""
                parts = mod.split(".")
                assert not (node.level >= 2 and parts[0] in banned), (name, mod)
                assert not (mod.startswith("tickpath.") and parts[1] in banned), (name, mod)


def test_transport_options_are_checked_before_anything_opens():
    from tickpath.wire.transports import open_receiver

    for bad in ("dpdk:pmd=mlx5", "dpdk:burst=x", "dpdk:queue=1"):
        with pytest.raises(ValueError, match="unknown dpdk option"):
            open_receiver(bad, "127.0.0.1", 26400)


def test_check_says_whether_dpdk_runs_here():
    from tickpath.wire.transports import AVAILABLE, TRANSPORTS, check

    assert "dpdk" in TRANSPORTS and "dpdk" in AVAILABLE
    row = next(c for c in check() if c.name == "dpdk")
    if os.geteuid() == 0:
        _shim()
        assert row.ok, row.detail
        assert "af_packet" in row.detail
    else:  # packages missing, or not root: either is named
        assert not row.ok and ("root" in row.detail or "apt-get" in row.detail)


# ------------------------------------------------------------------------------ veth


CASES = [("af_packet", "unicast", "socket"), ("af_xdp", "multicast", "socket"),
         ("af_packet", "multicast", "dpdk")]


@pytest.mark.parametrize(("pmd", "dest", "sender"), CASES, ids=["-".join(c) for c in CASES])
def test_every_datagram_arrives_in_order_byte_for_byte(dpdk_host, tmp_path, pmd, dest, sender):
    """Phase 1 is sent before the warm-up (it waits in the PMD's ring: the warm-up must take
    none of it) and taken by a handler that settles every 7th datagram (the loop returns
    mid-burst and resumes); phase 2 arrives while the loop polls. With the socket sender a
    datagram to another port follows every 10th: counted as filtered, never handed over. With
    the dpdk sender (a second EAL, in the other namespace's process), phase 1 goes in bursts
    unstamped and phase 2 paced, stamped by the probe stamper in its last 8 bytes."""
    veth = dpdk_host
    host = veth.host_ip if dest == "unicast" else GROUP
    n1, n2 = 600, 400
    lens, data = _payloads(n1 + n2, seed=7)
    ends = np.cumsum(lens)
    for name, a, b in (("p1", 0, n1), ("p2", n1, n1 + n2)):
        lo = 0 if a == 0 else ends[a - 1]
        np.savez(tmp_path / f"{name}.npz", lens=lens[a:b], data=data[lo:ends[b - 1]])
    out = tmp_path / "got.npz"
    rx = Child(veth, veth.host, tmp_path / "rx.log", "receive", pmd, veth.host_if, host,
               str(PORT), veth.host_ip, str(n1), str(n2), str(out))
    try:
        assert rx.line()["event"] == "open"
        sends = []
        for phase in ("p1", "p2"):
            if phase == "p2":
                assert rx.line()["event"] == "phase2"
            if sender == "socket":
                args = ("send_payloads", str(tmp_path / f"{phase}.npz"), host, str(PORT),
                        str(OTHER_PORT), veth.exchange_ip, "10")
            else:
                args = ("send_dpdk", str(tmp_path / f"{phase}.npz"), host, str(PORT),
                        veth.exchange_ip, "0" if phase == "p1" else "1",
                        "0" if phase == "p1" else "40000")
            sends.append(run_child(veth, veth.exchange, tmp_path / f"{phase}.log", *args))
            rx.tell("sent1" if phase == "p1" else "sent2")
        res = rx.line()
        rx.finish()
    finally:
        rx.kill()
    assert res["event"] == "done", res
    warm = res["warm"]
    assert (warm["datagrams"], warm["frames"], warm["packets"]) == (0, 0, 0)
    z = np.load(out)
    n = int(z["counts"][0])
    got = _split(z["lens"][:n], z["data"])
    want = _split(lens, data)
    assert n == n1 + n2
    if sender == "dpdk":
        _check_dpdk_sender(sends, got, want, n1)
        want = [w[:-8] + g[-8:] if i >= n1 and len(w) >= STAMPED_FROM else w  # the stamps
                for i, (g, w) in enumerate(zip(got, want, strict=True))]
    assert got == want
    st = res["stats"]
    assert st["packets"] == n1 + n2 and st["bytes"] == int(lens.sum())
    noise = sum(s["noise"] for s in sends)
    assert noise == ((n1 + n2) // 10 if sender == "socket" else 0)
    assert st["wrong_port"] == noise and st["filtered"] >= noise
    assert st["malformed"] == 0 and st["chained"] == 0 and st["drops"] == 0
    assert res["settles"] == (n1 + n2) // 7
    assert res["codes"].get(str(res["settle_code"])) == res["settles"]
    assert res["deadline_ok"] and res["idle_ok"]
    assert res["held"] == 0
    assert z["counts"][8] == 0  # receive stamps never went backwards
    if pmd == "af_packet":  # every mbuf back in the pool: each freed (once; twice corrupts)
        assert res["mbufs_in_use"] == 0
    assert "no per-packet timestamp" in res["stamp_source"]


def _check_dpdk_sender(sends: list[dict], got: list[bytes], want: list[bytes], n1: int) -> None:
    """Phase 1 (unstamped) byte for byte; phase 2: one stamp call per packet, the stamp in
    the last 8 bytes of those of 16 bytes or more, taken during the send, never backwards."""
    p1, p2 = sends
    for s in sends:
        assert s["stats"]["packets"] == s["sent"] and s["stats"]["oerrors"] == 0, s
        assert "EMSGSIZE" in s["too_big"] and "stamper state" in s["flag"]
        assert s["mbufs_in_use"] == 0  # af_packet frees each mbuf once copied to its ring
    assert got[:n1] == want[:n1]
    assert p2["calls"] == p2["sent"] and p2["backwards"] == 0
    stamped = [(g, w) for g, w in zip(got[n1:], want[n1:], strict=True)
               if len(w) >= STAMPED_FROM]
    assert p2["stamped"] == len(stamped) > 0
    stamps = [int.from_bytes(g[-8:], "little") for g, _ in stamped]
    assert all(p2["t0"] <= t <= p2["t1"] for t in stamps)
    assert stamps == sorted(stamps)
    assert p2["stats"]["reanchors"] >= 0 and p2["stats"]["calls"] >= p2["sent"]  # paced: 1/burst


def test_one_eal_per_process(dpdk_host, tmp_path):
    """Other EAL options are refused while it runs, a second port on the same interface is
    refused, a port can be reopened, nothing starts after the EAL's shutdown (which removes its
    runtime directory, as a start removes those killed processes left), and an EAL started by
    other code is refused; DPDK's own second rte_eal_init fails without harm.
    Then, in a new process: the loop for the probe handler's state comes from numba's cache."""
    veth = dpdk_host
    # an empty runtime directory a killed tickpath process left (a pid that cannot exist)
    dead = int(Path("/proc/sys/kernel/pid_max").read_text()) + 1
    stale = Path("/var/run/dpdk") / f"tickpath-{dead}-0"
    stale.mkdir(parents=True, exist_ok=True)
    res = run_child(veth, veth.host, tmp_path / "refusals.log", "refusals", veth.host_if,
                    veth.host_ip, str(PORT))
    assert not stale.exists()
    assert res["event"] == "done", res
    assert "once per process" in res["other_core"]
    assert "once per process" in res["other_args"]
    assert "already has a DPDK port on" in res["same_iface"]
    assert res["same_options_ok"]
    assert res["raw_second_init"][0] == -1 and res["raw_second_init"][1] == 114  # EALREADY
    assert res["alloc"] == 4 and all(all(c) for c in res["mbuf_checks"])
    assert res["reopen_ok"]
    assert "cannot start again" in res["after_shutdown"]
    assert not res["runtime_dir_left"]
    res = run_child(veth, veth.host, tmp_path / "foreign.log", "foreign_init", veth.host_if,
                    veth.host_ip, str(PORT))
    assert res["first"] >= 0
    assert "already initialised in this process by other code" in res["message"]
    assert res["cache_hits"] == 1 and res["cache_misses"] == 0
