"""Replay throughput of the pcap transport at fast pace: the compiled replay loop against the
Python receiver path (one ``recv()`` call per datagram, what the transport had before), in
the same run.

    .venv/bin/python bench/replay_pcap.py [--messages 1000000] [--full-messages 4000000]
                                          [--symbols 500] [--runs 5] [--no-cli]

The simulator writes two captures (kept under out/bench/, reused while their parameters
match): the smallest MoldUDP64 packets it can write (about one message per packet) and full
1,400-byte packets. Each is replayed, books kept, two ways, each way with both paths in turn
within every run:

* ``FeedListener``: in this process, the receiver's ``compiled`` flag chooses the path
  (True: the compiled loop; False: the generic listener over ``recv()``);
* ``tickpath listen --transport pcap:FILE?pace=fast``: a subprocess each time, msgs/s as
  the command prints it (its live view redraws every 0.25 s in both paths); the Python path
  is the same command with ``PcapReceiver.compiled`` set to False before it starts.

Prints the median msgs/s of each path, the ratio, and every run; writes
out/bench/replay_pcap.json.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import re
import statistics
import subprocess
import sys
import time
from pathlib import Path

OUT = Path(__file__).resolve().parent.parent / "out" / "bench"
PATHS = ("python", "compiled")
_LISTEN = re.compile(r"replayed ([\d,]+) datagrams, ([\d,]+) messages in ([\d.]+) s")
# the CLI with the Python receiver path: the transport's class flag cleared before it runs
_CLI_PYTHON = ("import sys; from tickpath.wire.pcapfile import PcapReceiver; "
               "PcapReceiver.compiled = False; from tickpath.cli import app; "
               "sys.argv[0] = 'tickpath'; app()")


def capture(kind: str, messages: int, symbols: int, seed: int) -> Path:
    """The simulator's session as a pcap: ``one`` (the smallest packets the simulator
    writes: about one message each) or ``full`` (1,400-byte packets)."""
    from tickpath.feed.moldudp64 import HEADER_LEN
    from tickpath.venue import Simulator
    from tickpath.venue.records import MAX_BLOCK

    path = OUT / f"pcap-{kind}-{messages}-{symbols}-{seed}.pcap"
    if not path.exists():
        OUT.mkdir(parents=True, exist_ok=True)
        t0 = time.perf_counter()
        tmp = path.with_suffix(".part")
        payload = HEADER_LEN + MAX_BLOCK if kind == "one" else 1400
        Simulator(symbols=symbols, messages=messages, seed=seed).write_pcap(
            tmp, max_payload=payload)
        tmp.rename(path)
        print(f"simulator wrote {messages:,} messages to {path} in "
              f"{time.perf_counter() - t0:.1f} s", file=sys.stderr)
    return path


def listener_run(path: Path, compiled: bool) -> tuple[float, int, int, dict]:
    """One replay through FeedListener: (msgs/s, messages, datagrams, books)."""
    from tickpath.apps.listener import FeedListener
    from tickpath.feed.itch import ItchHandler
    from tickpath.wire.pcapfile import PcapReceiver

    handler = ItchHandler(errors="skip")
    with PcapReceiver(path) as rx:
        rx.compiled = compiled  # an instance flag: False sends FeedListener to recv()
        lst = FeedListener(rx, handler)
        lst.warm_up()
        rep = lst.run(idle_timeout=rx.idle_timeout_s)
    books = {b["locate"]: b for b in handler.books.books()}
    return rep.messages / rep.seconds, rep.messages, rep.packets, books


def cli_run(path: Path, compiled: bool) -> tuple[float, int, int]:
    """One `tickpath listen` of the capture: (msgs/s, messages, datagrams) as it prints."""
    spec = f"pcap:{path}?pace=fast"
    args = ["listen", "--transport", spec]
    cmd = ([str(Path(sys.executable).with_name("tickpath")), *args] if compiled
           else [sys.executable, "-c", _CLI_PYTHON, *args])
    env = dict(os.environ, COLUMNS="120")
    out = subprocess.run(cmd, env=env, capture_output=True, text=True, check=True).stdout
    m = _LISTEN.search(out)
    if m is None:
        raise RuntimeError(f"`tickpath listen` printed no replay summary: {out[-500:]}")
    dgrams, msgs, secs = (int(m[1].replace(",", "")), int(m[2].replace(",", "")),
                          float(m[3]))
    return msgs / secs, msgs, dgrams


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--messages", type=int, default=1_000_000,
                    help="messages in the one-message-per-packet capture")
    ap.add_argument("--full-messages", type=int, default=4_000_000,
                    help="messages in the full-packet capture")
    ap.add_argument("--symbols", type=int, default=500)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--no-cli", action="store_true", help="FeedListener only")
    args = ap.parse_args()

    files = {"one": capture("one", args.messages, args.symbols, args.seed),
             "full": capture("full", args.full_messages, args.symbols, args.seed)}
    ways = ("listener",) if args.no_cli else ("listener", "cli")
    rates: dict[str, dict[str, dict[str, list[float]]]] = {
        w: {k: {p: [] for p in PATHS} for k in files} for w in ways}
    shape: dict[str, tuple[int, int]] = {}
    for kind, path in files.items():
        for i in range(args.runs):
            books = {}
            for p in PATHS:  # both paths in every run, so both see the same machine
                rate, msgs, dgrams, books[p] = listener_run(path, p == "compiled")
                rates["listener"][kind][p].append(rate)
                shape[kind] = (msgs, dgrams)
                if "cli" in ways:
                    rates["cli"][kind][p].append(cli_run(path, p == "compiled")[0])
            if books["python"] != books["compiled"]:
                raise RuntimeError(f"{path}: the two paths built different books")
            print(f"{kind} run {i + 1}: " + ", ".join(
                f"{w} {p} {rates[w][kind][p][-1] / 1e6:.2f} M/s" for w in ways for p in PATHS),
                file=sys.stderr)

    med = statistics.median
    result = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{platform.node()} {platform.machine()} {os.cpu_count()} cpus",
        "runs": args.runs,
        "files": {k: {"path": str(v), "messages": shape[k][0], "datagrams": shape[k][1]}
                  for k, v in files.items()},
        "msgs_per_s": {w: {k: {p: {"median": med(v), "runs": v} for p, v in d.items()}
                           for k, d in rates[w].items()} for w in ways},
    }
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "replay_pcap.json").write_text(json.dumps(result, indent=2))

    print(f"\npcap replay at fast pace, books kept, median of {args.runs} runs")
    print(f"{'':34}{'python M/s':>12}{'compiled M/s':>14}{'ratio':>8}")
    labels = {"listener": "FeedListener", "cli": "tickpath listen"}
    for w in ways:
        for kind in files:
            msgs, dgrams = shape[kind]
            py, co = med(rates[w][kind]["python"]), med(rates[w][kind]["compiled"])
            label = f"{labels[w]}, {msgs / dgrams:.2f} msg/pkt"
            print(f"{label:34}{py / 1e6:>12.2f}{co / 1e6:>14.2f}{co / py:>8.1f}")
    for kind, (msgs, dgrams) in shape.items():
        print(f"{kind}: {files[kind].name}: {msgs:,} messages in {dgrams:,} datagrams")


if __name__ == "__main__":
    main()
