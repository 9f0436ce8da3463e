"""What the futures full-snapshot channel costs in bytes beside the MDP3 incremental feed.

    python bench/mdp3_full_bytes.py [--messages 200000] [--seed 7] [--equities 0]
                                    [--max-payload 1400] [--live] [--json OUT]

The futures day (``FuturesSimulator(equities, messages, seed, snapshot_every=0)``; with
``--equities N``, the index futures follow an N-stock equity day) and its full-snapshot
channel (``full_snapshots_of``), each as the venue packs it into packets of at most
``--max-payload`` bytes: messages, message bytes (MsgSize included), packets, UDP payload
bytes (MDP3 packet headers and messages) and frame bytes (payload + 42 bytes of Ethernet,
IPv4 and UDP headers a packet; no FCS, preamble or gap), per incremental message, and the
ratio of the two channels' payloads. The snapshot loop is off: it is the same with or
without the channel. ``--live`` also runs the day through ``FuturesLiveVenue(rate=None,
full_snapshots=...)`` to a loopback socket nobody reads and reports its ``stats()``: the
live venue closes its packets every turn, so its packets are more and smaller. Bytes are
counted, not timed: the figures are the same on every machine.
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
from pathlib import Path

from tickpath.venue import Simulator
from tickpath.venue.futures import INCREMENTAL, FuturesSimulator
from tickpath.venue.mdp3_full import full_snapshots_of
from tickpath.venue.mdp3_full_publisher import FRAME_HEADERS


def _channel(chunks, messages: int) -> dict[str, int]:
    packets = payload = 0
    for ch in chunks:
        for k in range(ch.kinds.shape[0]):
            packets += 1
            payload += int(ch.bounds[k + 1] - ch.bounds[k])
    return {"messages": messages, "packets": packets, "payload_bytes": payload,
            "message_bytes": payload - 12 * packets,
            "frame_bytes": payload + FRAME_HEADERS * packets}


def day(messages: int, seed: int, equities: int, max_payload: int,
        client_slots: int = 0) -> FuturesSimulator:
    eq = Simulator(symbols=equities, messages=messages, seed=seed) if equities else None
    return FuturesSimulator(eq, messages=messages, seed=seed, snapshot_every=0,
                            max_payload=max_payload, client_slots=client_slots)


def measure(messages: int, seed: int, equities: int, max_payload: int) -> dict[str, dict]:
    fut = day(messages, seed, equities, max_payload)
    inc = [c for c in fut.packets() if (c.kinds == INCREMENTAL).all()]
    full = full_snapshots_of(fut)
    return {"incremental": _channel(inc, messages),
            "full snapshots": _channel([full], int(full.counts.sum()))}


def live(messages: int, seed: int, equities: int, max_payload: int) -> dict[str, int]:
    from tickpath.venue.futures_live import FuturesLiveVenue

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sink:
        sink.bind(("127.0.0.1", 0))
        dst = ("127.0.0.1", sink.getsockname()[1])
        with FuturesLiveVenue(fut=day(messages, seed, equities, max_payload), rate=None,
                              a=dst, full_snapshots=dst) as venue:
            venue.start()
            venue.run()
            venue.end()
            return venue.stats()


def table(rows: dict[str, dict]) -> str:
    base = rows["incremental"]
    n = base["messages"]
    out = ["| channel | messages | bytes a message | packets | UDP payload bytes | payload "
           "bytes per incremental message | with Ethernet/IPv4/UDP headers, per incremental "
           "message | x incremental |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for name, r in rows.items():
        out.append(f"| {name} | {r['messages']:,} | {r['message_bytes'] / r['messages']:.1f} | "
                   f"{r['packets']:,} | {r['payload_bytes']:,} | {r['payload_bytes'] / n:.1f} | "
                   f"{r['frame_bytes'] / n:.1f} | "
                   f"{r['payload_bytes'] / base['payload_bytes']:.2f} |")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--messages", type=int, default=200_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--equities", type=int, default=0)
    ap.add_argument("--max-payload", type=int, default=1400)
    ap.add_argument("--live", action="store_true")
    ap.add_argument("--json", type=Path)
    a = ap.parse_args(argv)
    rows = measure(a.messages, a.seed, a.equities, a.max_payload)
    print(table(rows))
    result: dict = {"args": vars(a) | {"json": str(a.json) if a.json else None}, "rows": rows}
    if a.live:
        st = live(a.messages, a.seed, a.equities, a.max_payload)
        print("\nlive: " + ", ".join(f"{k} {v:,}" for k, v in st.items()))
        result["live"] = st
    if a.json:
        a.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
