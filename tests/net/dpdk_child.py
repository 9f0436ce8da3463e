"""The DPDK tests' processes (DPDK's EAL starts once per process, so each scenario runs in a
process of its own): ``python dpdk_child.py SCENARIO ARGS...``; each prints JSON lines, the
last one its result. Every loop here is bounded in time."""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from pathlib import Path

# The probe handler's state type must not reach the package's own numba cache: the cache index
# of dpdk.poll_rx would name it, and loading that index in any other process imports it.
os.environ.setdefault("NUMBA_CACHE_DIR", "/tmp/tickpath-test-dpdk-numba")

import numpy as np  # noqa: E402

sys.path.insert(0, str(Path(__file__).parent))


def say(**kw) -> None:
    print(json.dumps(kw), flush=True)


def wait_for(word: str) -> None:
    line = sys.stdin.readline().strip()
    if line != word:
        raise SystemExit(f"expected {word!r} on stdin, got {line!r}")


def receive(pmd: str, iface: str, host: str, port: str, iface_ip: str, n1: str, n2: str,
            out: str) -> None:
    """Open a receiver; let phase 1 be sent before the warm-up (it waits in the PMD's ring),
    take it with a handler that settles every 7th datagram (resume mid-burst); then phase 2,
    sent while polling; then the loop's own exits. Saves the payloads to ``out``."""
    from dpdk_probe_handler import C_DATAGRAMS, C_SETTLES, probe_state

    from tickpath.telemetry.nclock import realtime_ns
    from tickpath.wire.dpdk import DpdkReceiver, Rx, poll_rx
    from tickpath.wire.handler import DEADLINE, IDLE, SETTLE

    n1, n2 = int(n1), int(n2)
    state = probe_state(n1 + n2 + 64, (n1 + n2 + 64) * 1500, settle_every=7)
    with DpdkReceiver(iface, host, int(port), pmd=pmd, iface_ip=iface_ip) as rx:
        say(event="open", port=rx.port)
        wait_for("sent1")
        t = time.monotonic()
        rx.warm_up(state)
        warm = {"s": time.monotonic() - t, "datagrams": int(state.counts[C_DATAGRAMS]),
                "frames": int(rx.rx[Rx.FRAMES]), "packets": int(rx.rx[Rx.PACKETS]),
                "cache_hits": sum(poll_rx.stats.cache_hits.values())}
        codes: dict[int, int] = {}
        end = time.monotonic() + 10
        while state.counts[C_DATAGRAMS] < n1 and time.monotonic() < end:
            code = rx.poll(state, realtime_ns() + 200_000_000, 0)
            codes[code] = codes.get(code, 0) + 1
        say(event="phase2", got=int(state.counts[C_DATAGRAMS]))
        end = time.monotonic() + 10
        while state.counts[C_DATAGRAMS] < n1 + n2 and time.monotonic() < end:
            code = rx.poll(state, realtime_ns() + 200_000_000, 0)
            codes[code] = codes.get(code, 0) + 1
        wait_for("sent2")
        # nothing more is for the feed: a short poll ends at its deadline, then idleness
        t0 = realtime_ns()
        late = rx.poll(state, t0 + 300_000_000, 0)
        while late == SETTLE:  # only if more came than was sent
            late = rx.poll(state, t0 + 300_000_000, 0)
        idle = rx.poll(state, realtime_ns() + 5_000_000_000, 100_000_000)
        stats = rx.stats()
        held = int(rx.rx[Rx.HELD] - rx.rx[Rx.NEXT])
        in_use = rx.eth.mbufs_in_use()
        np.savez(out, lens=state.lens, data=state.data, counts=state.counts)
        say(event="done", warm=warm, codes={str(k): v for k, v in codes.items()},
            settles=int(state.counts[C_SETTLES]), settle_code=SETTLE,
            deadline_ok=late == DEADLINE, idle_ok=idle == IDLE, stats=stats, held=held,
            mbufs_in_use=in_use, stamp_source=rx.stamp_source())


def refusals(iface: str, host: str, port: str) -> None:
    """One EAL per process, and what is refused around it; the shim's mbuf assumptions
    checked on real mbufs."""
    import ctypes

    from tickpath.wire import dpdk_eal as E
    from tickpath.wire import dpdk_shim as S
    from tickpath.wire.dpdk import DpdkReceiver

    out: dict[str, object] = {}

    def refused(fn) -> str:
        try:
            fn()
        except E.EalError as e:
            return str(e)
        return ""

    from dpdk_probe_handler import probe_state

    rx = DpdkReceiver(iface, host, int(port))
    rx.warm_up(probe_state(4, 64))  # the loop for this state, into numba's cache
    out["eal_args"] = rx.eal_args
    other = max(os.sched_getaffinity(0)) + 1
    out["other_core"] = refused(lambda: E.start_eal("af_packet", core=other))
    out["other_args"] = refused(lambda: E.start_eal("af_packet", eal_args=["--no-huge"]))
    out["same_iface"] = refused(lambda: DpdkReceiver(iface, host, 0))
    out["same_options_ok"] = E.start_eal("af_packet") == rx.eal_args
    # DPDK itself refuses a second rte_eal_init without harm
    lib, ffi = S.load().lib, S.load().ffi
    keep = [ffi.new("char[]", b"x")]
    out["raw_second_init"] = [lib.rte_eal_init(1, ffi.new("char *[]", keep)), lib.tp_errno()]
    # mbufs as the shim sees them: data address = buf_addr + data_off, data_off = headroom
    abi = S.abi()
    mbufs, addrs = np.zeros(4, np.int64), np.zeros(4, np.int64)
    got = lib.tp_tx_alloc(rx.eth.pool, mbufs.ctypes.data, addrs.ctypes.data, 4)
    checks = []
    for m, a in zip(mbufs, addrs, strict=True):
        buf_addr = ctypes.c_uint64.from_address(int(m) + abi["off_buf_addr"]).value
        data_off = ctypes.c_uint16.from_address(int(m) + abi["off_data_off"]).value
        nb_segs = ctypes.c_uint16.from_address(int(m) + abi["off_nb_segs"]).value
        checks.append([int(a) == buf_addr + data_off, data_off == abi["headroom"],
                       nb_segs == 1])
    lib.tp_free_bulk(mbufs.ctypes.data, 4)
    out["alloc"] = got
    out["mbuf_checks"] = checks
    rx.close()
    # the EAL outlives its ports: the same interface again, in the same process
    from tickpath.wire.transports import open_receiver

    again = open_receiver("dpdk:pmd=af_packet,burst=16", host, int(port), iface_ip=host)
    out["reopen_ok"] = again.eth is not None and again.burst == 16
    again.close()
    prefix_dir = E._runtime_dir(E._state["prefix"])
    E.shutdown_eal()
    out["runtime_dir_left"] = prefix_dir.exists()
    out["after_shutdown"] = refused(lambda: DpdkReceiver(iface, host, int(port)))
    say(event="done", **out)


def foreign_init(iface: str, host: str, port: str) -> None:
    """Some other code started the EAL first: refused, clearly. Also: the receive loop for the
    probe handler's state loads from numba's cache in this new process."""
    from dpdk_probe_handler import probe_state
    from numba import typeof

    from tickpath.wire import dpdk_shim as S
    from tickpath.wire.dpdk import BURST, N_RX, DpdkReceiver, poll_rx
    from tickpath.wire.dpdk_eal import EalError
    from tickpath.wire.frames import N_REASONS

    lib, ffi = S.load().lib, S.load().ffi
    args = [b"other", b"--no-huge", b"--no-pci", b"-m", b"64", b"--no-shconf",
            b"--no-telemetry", b"--log-level=lib.eal:error", b"-l",
            str(min(os.sched_getaffinity(0))).encode(), b"--file-prefix",
            f"other-{os.getpid()}".encode()]
    keep = [ffi.new("char[]", a) for a in args]
    first = lib.rte_eal_init(len(args), ffi.new("char *[]", keep))
    try:
        DpdkReceiver(iface, host, int(port))
        message = ""
    except EalError as e:
        message = str(e)
    lib.rte_eal_cleanup()
    from tickpath.wire.dpdk_eal import _runtime_dir

    try:
        _runtime_dir(f"other-{os.getpid()}").rmdir()
    except OSError:
        pass
    # the loop's signature for the probe state (what warm_up compiles), from the cache
    z = np.zeros(BURST, np.int64)
    state = probe_state(4, 64)
    sig = tuple(typeof(a) for a in (0, z, z, z, BURST, state, 1, 1, 0, 0,
                                    np.zeros(N_RX, np.int64),
                                    np.zeros(N_REASONS, np.int64)))
    poll_rx.compile(sig)
    say(event="done", first=first, message=message,
        cache_hits=sum(poll_rx.stats.cache_hits.values()),
        cache_misses=sum(poll_rx.stats.cache_misses.values()))


def send_payloads(path: str, host: str, port: str, other_port: str, iface_ip: str,
                  noise_every: str) -> None:
    """Send the payloads saved in ``path`` to host:port with a plain socket, one datagram to
    ``other_port`` after every ``noise_every``-th (the receiver must not hand those over)."""
    z = np.load(path)
    lens, data = z["lens"], z["data"]
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(iface_ip))
    at, noise = 0, 0
    k = int(noise_every)
    for i, size in enumerate(lens):
        s.sendto(data[at:at + size].tobytes(), (host, int(port)))
        at += size
        if k and (i + 1) % k == 0:
            s.sendto(b"not for the feed", (host, int(other_port)))
            noise += 1
        if i % 64 == 63:
            time.sleep(0.001)  # the veth backlog (netdev_max_backlog) is not the test
    s.close()
    say(event="done", sent=len(lens), noise=noise)


def send_dpdk(path: str, host: str, port: str, iface_ip: str, stamp: str, rate: str) -> None:
    """Send the payloads saved in ``path`` with the dpdk sender (its own EAL, in this
    process), with the probe stamper when ``stamp`` is 1 (else NO_STAMP), paced at ``rate``
    messages/s when not 0."""
    from dpdk_probe_handler import S_BACKWARDS, S_CALLS, S_STAMPED, probe_stamp

    from tickpath.telemetry.nclock import realtime_ns
    from tickpath.wire.dpdk_tx import DpdkSender, dpdk_send
    from tickpath.wire.senders import open_sender
    from tickpath.wire.stamping import NO_STAMP

    z = np.load(path)
    lens, data = z["lens"], z["data"]
    n = len(lens)
    bounds = np.zeros(n + 1, np.int64)
    bounds[1:] = np.cumsum(lens)
    counts = np.ones(n, np.int64)
    out = data.copy()
    stamper = probe_stamp() if stamp == "1" else NO_STAMP
    with open_sender("dpdk", host, int(port), iface_ip=iface_ip) as tx:
        assert isinstance(tx, DpdkSender)
        tx.warm_up(stamper)
        t0 = realtime_ns()
        tx.send(out, bounds, counts, n, float(rate) or None, stamper)
        t1 = realtime_ns()
        tx.flush()
        stats = tx.stats()
        # refused: a packet bigger than an mbuf's data room, and a bare flag for stamping
        big = np.zeros(4000, np.uint8)
        try:
            tx.send(big, np.array([0, 4000]), np.ones(1, np.int64), 1, None, NO_STAMP)
            too_big = ""
        except OSError as e:
            too_big = str(e)
        try:
            tx.send(out, bounds, counts, 1, None, True)
            flag = ""
        except TypeError as e:
            flag = str(e)
        in_use = tx.eth.mbufs_in_use()
    log = stamper.log.tolist() if stamp == "1" else [0, 0, 0, 0]
    say(event="done", sent=n, noise=0, t0=t0, t1=t1, stats=stats, calls=log[S_CALLS],
        stamped=log[S_STAMPED], backwards=log[S_BACKWARDS], too_big=too_big, flag=flag,
        mbufs_in_use=in_use, cache_hits=sum(dpdk_send.stats.cache_hits.values()))


if __name__ == "__main__":
    globals()[sys.argv[1]](*sys.argv[2:])
