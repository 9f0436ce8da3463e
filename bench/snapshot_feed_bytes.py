"""What the Book Snapshot feed costs in bytes beside the incremental ITCH feed it follows.

    python bench/snapshot_feed_bytes.py [--symbols 20] [--messages 200000] [--seed 7]
                                        [--depth 10 --depth 5] [--max-payload 1400]
                                        [--live] [--json OUT]

The simulated day (``Simulator(symbols, messages, seed)``) and its snapshot feed at each
depth (``snapshot_blocks_of``), both packed whole into MoldUDP64 packets of at most
``--max-payload`` bytes (``pack_packets``): messages, message bytes (without the 2-byte
block lengths), packets, UDP payload bytes (MoldUDP64 headers and blocks) and frame bytes
(payload + 42 bytes of Ethernet, IPv4 and UDP headers a packet; no FCS, preamble or gap),
per incremental message and per feed message, and the ratio of the two feeds' payloads.
``--live`` also runs the day through ``LiveVenue(snapshot_feed=...)`` to a loopback socket
nobody reads (rate unbounded) and reports its ``stats()``: the venue packs what each turn
publishes, so its packets are more and smaller than a whole day packed at once. Bytes are
counted, not timed: the figures are the same on every machine.
"""

from __future__ import annotations

import argparse
import json
import socket
import sys
from pathlib import Path

import numpy as np

from tickpath.feed.moldudp64 import pack_packets
from tickpath.venue import Simulator
from tickpath.venue.publisher import FRAME_OVERHEAD
from tickpath.venue.snapshot_feed import SnapshotGenerator


def _feed(blocks: np.ndarray, messages: int, max_payload: int) -> dict[str, float]:
    out, bounds, counts = pack_packets(blocks, "BYTES", 1, max_payload)
    payload = int(bounds[-1] - bounds[0])
    packets = int(counts.size)
    return {"messages": messages, "message_bytes": int(blocks.size) - 2 * messages,
            "packets": packets, "payload_bytes": payload,
            "frame_bytes": payload + FRAME_OVERHEAD * packets}


def measure(symbols: int, messages: int, seed: int, depths: list[int],
            max_payload: int) -> dict:
    day = Simulator(symbols=symbols, messages=messages, seed=seed).blocks()
    rows = {"incremental": _feed(day, messages, max_payload)}
    for depth in depths:
        gen = SnapshotGenerator(depth)
        snaps = gen.blocks_of(day, 1)
        rows[f"snapshot depth {depth}"] = _feed(snaps, gen.snapshots, max_payload)
    n = rows["incremental"]["messages"]
    base = rows["incremental"]["payload_bytes"]
    for r in rows.values():
        r["message_bytes_per_own_message"] = r["message_bytes"] / r["messages"]
        r["payload_bytes_per_incremental_message"] = r["payload_bytes"] / n
        r["frame_bytes_per_incremental_message"] = r["frame_bytes"] / n
        r["payload_ratio"] = r["payload_bytes"] / base
    return rows


def measure_live(symbols: int, messages: int, seed: int, depths: list[int],
                 max_payload: int) -> dict:
    from tickpath.venue.live import LiveVenue

    out = {}
    for depth in depths:
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sink:
            sink.bind(("127.0.0.1", 0))
            port = sink.getsockname()[1]
            with LiveVenue(symbols, messages, seed, feed_port=port, rate=None,
                           max_payload=max_payload, snapshot_feed=("127.0.0.1", port),
                           snapshot_depth=depth, feed_heartbeat_s=0) as venue:
                venue.start()
                venue.run()
                venue.end()
                st = venue.stats()
        out[f"live depth {depth}"] = {k: v for k, v in st.items()
                                      if k.startswith(("feed_", "snapshot_feed_"))}
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--symbols", type=int, default=20)
    ap.add_argument("--messages", type=int, default=200_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--depth", type=int, action="append")
    ap.add_argument("--max-payload", type=int, default=1400)
    ap.add_argument("--live", action="store_true")
    ap.add_argument("--json", type=Path)
    a = ap.parse_args(argv)
    depths = a.depth or [10, 5]
    rows = measure(a.symbols, a.messages, a.seed, depths, a.max_payload)
    print(f"Simulator(symbols={a.symbols}, messages={a.messages:,}, seed={a.seed}), "
          f"packets of at most {a.max_payload} bytes")
    print(f"{'feed':<20}{'messages':>10}{'B/msg':>8}{'packets':>9}{'payload B':>12}"
          f"{'frame B':>12}{'payload B/incr msg':>20}{'frame B/incr msg':>18}{'x incr':>8}")
    for name, r in rows.items():
        print(f"{name:<20}{r['messages']:>10,}{r['message_bytes_per_own_message']:>8.1f}"
              f"{r['packets']:>9,}{r['payload_bytes']:>12,}{r['frame_bytes']:>12,}"
              f"{r['payload_bytes_per_incremental_message']:>20.1f}"
              f"{r['frame_bytes_per_incremental_message']:>18.1f}{r['payload_ratio']:>8.2f}")
    result = {"symbols": a.symbols, "messages": a.messages, "seed": a.seed,
              "max_payload": a.max_payload, "feeds": rows}
    if a.live:
        live = measure_live(a.symbols, a.messages, a.seed, depths, a.max_payload)
        for name, st in live.items():
            print(name + ": " + ", ".join(f"{k} {v:,}" for k, v in st.items()))
        result["live"] = live
    if a.json is not None:
        a.json.parent.mkdir(parents=True, exist_ok=True)
        a.json.write_text(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
