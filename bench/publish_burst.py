"""Burst throughput of the venue's publisher, per sender, side by side in one run.

Each sender publishes the same simulated day as fast as it goes to a UDP socket on loopback
that nobody reads (the receiver's drops do not slow the sender), in interleaved rounds;
prints messages/s per round, the median, and the ratio to the ``socket`` sender (the
baseline: a Python ``sendto`` per packet). Two packings: one message a packet (the smallest
payload the packer allows) and full 1,400-byte packets. The AF_PACKET and AF_XDP senders
need a real or veth interface (frames injected on lo to 127.0.0.1 are not delivered), so they
are measured with ``--host``/``--iface-ip`` on such an interface (root), not here by default.

    python bench/publish_burst.py --rounds 5 --messages 1000000 --json out/bench/publish.json
"""

from __future__ import annotations

import argparse
import gc
import json
import socket
import statistics
import sys
from pathlib import Path

from tickpath.venue import Simulator
from tickpath.venue.publisher import UdpPublisher


def measure(senders: list[str], rounds: int, messages: int, max_payload: int, host: str,
            port: int, iface_ip: str | None) -> dict[str, list[float]]:
    blocks = Simulator(symbols=100, messages=messages, seed=1).blocks()
    pubs = {s: UdpPublisher(host, port, max_payload=max_payload, sender=s, iface_ip=iface_ip)
            for s in senders}
    for p in pubs.values():
        p.warm_up()
    gc.collect()
    gc.freeze()
    gc.disable()
    out: dict[str, list[float]] = {s: [] for s in senders}
    try:
        for _ in range(rounds):
            for s in senders:
                out[s].append(pubs[s].publish([blocks]).msgs_per_s)
    finally:
        gc.enable()
        gc.unfreeze()
        for p in pubs.values():
            p.close()
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--senders", default="socket,sendto,sendmmsg")
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--messages", type=int, default=1_000_000)
    ap.add_argument("--host", default="127.0.0.1", help="default: a local socket nobody reads")
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--iface-ip", default=None)
    ap.add_argument("--json", type=Path, default=None)
    a = ap.parse_args(argv)
    senders = [s for s in a.senders.split(",") if s]
    sink = None
    port = a.port
    if a.host == "127.0.0.1" and not port:
        sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        sink.bind(("127.0.0.1", 0))
        port = sink.getsockname()[1]
    result = {}
    for name, payload in (("one message a packet", 64), ("1,400-byte packets", 1400)):
        runs = measure(senders, a.rounds, a.messages, payload, a.host, port, a.iface_ip)
        med = {s: statistics.median(v) for s, v in runs.items()}
        base = med.get("socket")
        result[name] = {"runs": runs, "median": med,
                        "ratio_to_socket": {s: m / base for s, m in med.items()} if base
                        else None}
        print(f"{name}: {a.rounds} rounds of {a.messages:,} messages")
        for s in senders:
            ratio = f"  {med[s] / base:.1f}x socket" if base else ""
            print(f"  {s:9s} median {med[s] / 1e6:6.2f} M msg/s{ratio}   runs: "
                  + ", ".join(f"{v / 1e6:.2f}" for v in runs[s]))
    if sink is not None:
        sink.close()
    if a.json:
        a.json.parent.mkdir(parents=True, exist_ok=True)
        a.json.write_text(json.dumps(result, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
