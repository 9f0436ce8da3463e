"""What the venue's recovery services cost the publisher, and what the re-request server
answers, side by side in one run.

Publisher: the same simulated day published as fast as the ``sendmmsg`` sender goes to a
loopback socket nobody reads, four ways in interleaved rounds: plain, with a history (every
block copied after the send), with line B (every packet sent twice), with both; prints the
median messages/s of each and its ratio to plain. Same sender, messages, packing (1,400-byte
packets) and sink in every row; only the recovery options differ.

Re-request server: one requester on loopback asks for ``--requests`` ranges of 100 messages
spread over the history (one packet an answer, the default) and the server is polled in the
same process; prints the requests answered per second, each a round trip through the kernel
(Python on both sides: the server's per-request work is Python, its packing compiled).

    python bench/publish_recovery.py --rounds 5 --messages 1000000
"""

from __future__ import annotations

import argparse
import gc
import socket
import statistics
import sys
import time

from tickpath.venue import Simulator
from tickpath.venue.history import MessageHistory
from tickpath.venue.publisher import UdpPublisher
from tickpath.venue.retransmit import RetransmitServer, request_packet

SESSION = "BENCHREC01"


def publishers(port: int, port_b: int, messages: int) -> dict[str, UdpPublisher]:
    def one(history: bool, line_b: bool) -> UdpPublisher:
        return UdpPublisher("127.0.0.1", port, session=SESSION, sender="sendmmsg",
                            history=MessageHistory(messages) if history else None,
                            line_b=("127.0.0.1", port_b) if line_b else None)
    return {"plain": one(False, False), "history": one(True, False),
            "line B": one(False, True), "history + line B": one(True, True)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=5)
    ap.add_argument("--messages", type=int, default=1_000_000)
    ap.add_argument("--requests", type=int, default=20_000)
    a = ap.parse_args(argv)
    sinks = []
    for _ in range(2):
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        s.bind(("127.0.0.1", 0))
        sinks.append(s)
    blocks = Simulator(symbols=100, messages=a.messages, seed=1).blocks()
    pubs = publishers(sinks[0].getsockname()[1], sinks[1].getsockname()[1], a.messages)
    for p in pubs.values():
        p.warm_up()
    runs: dict[str, list[float]] = {k: [] for k in pubs}
    gc.collect()
    gc.freeze()
    gc.disable()
    try:
        for _ in range(a.rounds):
            for k, p in pubs.items():
                runs[k].append(p.publish([blocks]).msgs_per_s)
    finally:
        gc.enable()
        gc.unfreeze()
    med = {k: statistics.median(v) for k, v in runs.items()}
    print(f"publisher, sendmmsg, 1,400-byte packets: {a.rounds} rounds of {a.messages:,} "
          f"messages")
    for k in pubs:
        print(f"  {k:17s} median {med[k] / 1e6:6.2f} M msg/s  {med[k] / med['plain']:.2f}x "
              f"plain   runs: " + ", ".join(f"{v / 1e6:.2f}" for v in runs[k]))

    history = pubs["history"].history
    with RetransmitServer(history, SESSION, rate=1e12, burst=1e12) as srv:
        srv.warm_up()
        c = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        c.bind(("127.0.0.1", 0))
        c.settimeout(5)
        dst = ("127.0.0.1", srv.port)
        span = len(history) - 100
        t0 = time.perf_counter()
        for i in range(a.requests):
            c.sendto(request_packet(SESSION, history.first + (i * 7919) % span, 100), dst)
            while srv.poll() == 0:
                pass
            c.recv(65536)
        dt = time.perf_counter() - t0
        st = srv.stats()
        print(f"re-request server: {a.requests:,} requests for 100 messages, answered "
              f"{st['retransmit_answered']:,} ({st['retransmit_messages'] / a.requests:.0f} "
              f"messages each, one packet), {a.requests / dt:,.0f} requests/s round trip")
        c.close()
    for p in pubs.values():
        p.close()
    for s in sinks:
        s.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
