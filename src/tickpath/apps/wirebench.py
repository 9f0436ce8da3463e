"""Wire-to-app latency of every transport, side by side, over a real veth pair.

The venue publishes in the "exchange" namespace (pinned to core 0), one ITCH message per
MoldUDP64 packet, stamped with its send time; a receiver in the "host" namespace (pinned to
core 1) keeps the books and measures send stamp -> message in the book, on one clock
(CLOCK_REALTIME; both namespaces share the host's clock). Loads: paced (a fixed packet rate)
and burst (as fast as the sender goes). The venue's sender (``socket``: a Python sendto per
packet, stamped in Python; ``sendto``/``sendmmsg``: compiled, stamped just before the system
call; ``packet``: AF_PACKET TX ring) is part of what is measured, so each row names it.
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

GROUP, PORT = "233.54.12.1", 26400
KEYS = ("sender", "transport", "load", "sent", "received", "drops", "p50_us", "p90_us", "p99_us",
        "p999_us", "max_us", "cpu")


def _listen(argv: Sequence[str]) -> None:
    """Listener side, run inside the host namespace: prints 'ready', then one JSON line."""
    from ..book import BookStore
    from ..feed.itch import ItchHandler
    from ..telemetry.histogram import summary_us
    from ..wire.transports import open_receiver
    from .listener import FeedListener

    transport, group, port, iface_ip, cpu = argv[0], argv[1], int(argv[2]), argv[3], int(argv[4])
    if cpu >= 0 and cpu in os.sched_getaffinity(0):
        os.sched_setaffinity(0, {cpu})
    handler = ItchHandler(BookStore(max_orders=1 << 20, errors="skip"), errors="skip")
    rx = open_receiver(transport, group, port, iface_ip=iface_ip)
    lst = FeedListener(rx, handler)
    lst.warm_up()
    print("ready", flush=True)
    t0, r0 = time.monotonic(), resource.getrusage(resource.RUSAGE_SELF)
    rep = lst.run(duration=300, idle_timeout=3)
    r1 = resource.getrusage(resource.RUSAGE_SELF)
    wall = time.monotonic() - t0
    lat = summary_us(rep.latency_ns)
    # the split at the receive stamp: send -> stamp (the sender's system call, veth, the
    # kernel) and stamp -> book (this host's receive path); for xdp the stamp is the loop's
    ker = rep.kernel_ns
    ok = ker > 0
    split = {"to_stamp_p50_us": float(np.median(ker[ok])) / 1e3,
             "from_stamp_p50_us": float(np.median(rep.latency_ns[ok] - ker[ok])) / 1e3} \
        if ok.any() else {}
    print(json.dumps({
        "received": rep.messages, "gap_messages": rep.session["gap_messages"],
        "ended": rep.ended, "latency": lat, "split": split,
        "stamped_by": rx.stamp_source() if hasattr(rx, "stamp_source") else "",
        "cpu": (r1.ru_utime - r0.ru_utime + r1.ru_stime - r0.ru_stime) / max(wall, 1e-9),
    }), flush=True)


def run_wire_bench(transports: Sequence[str], *, loads: Sequence[str] = ("paced", "burst"),
                   rate: int = 20_000, paced_messages: int = 100_000,
                   burst_messages: int = 200_000, symbols: int = 100,
                   sender: str | Sequence[str] = "sendto",
                   status: Callable[[str], None] = print) -> list[dict[str, Any]]:
    """One row per sender, transport and load (see ``KEYS``), plus ``p50_vs_recv``/
    ``p99_vs_recv``: the ratio of the ``recv`` transport's figure (the kernel's socket woken
    per datagram, the same compiled loop: like for like) to this transport's, and
    ``p50_x``/``p99_x``, the same against ``socket`` (a Python call per datagram: what a
    Python user writes), same sender and load, measured in the same run. ``sender``: one name or several (``"socket,sendmmsg"``); the
    default, ``sendto``, stamps every packet just before its own system call (a ``sendmmsg``
    batch shares one stamp, so in a burst its later packets carry the batch's queueing)."""
    from ..wire.netns import veth_pair
    from ..wire.senders import SENDERS

    senders = [x for x in sender.split(",") if x] if isinstance(sender, str) else list(sender)
    for name in senders:
        if name not in SENDERS:
            raise ValueError(f"unknown sender {name!r}: choose from {', '.join(SENDERS)}")
    rows: list[dict[str, Any]] = []
    with veth_pair() as pair:
        for load, transport, snd in ((load, t, x) for load in loads for x in senders
                                     for t in transports):
            n = paced_messages if load == "paced" else burst_messages
            status(f"{transport} / {load} / sender {snd}: {n:,} messages")
            lst = pair.popen(pair.host, sys.executable, "-m", "tickpath.apps.wirebench",
                             "listen", transport, GROUP, str(PORT), pair.host_ip, "1",
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            try:
                line = lst.stdout.readline().strip()
                if line != "ready":
                    raise RuntimeError(f"{transport} listener failed: {lst.stderr.read()}")
                pub = ["taskset", "-c", "0", sys.executable, "-m", "tickpath.cli", "sim",
                       "--host", GROUP, "--port", str(PORT), "--iface-ip", pair.exchange_ip,
                       "--messages", str(n), "--symbols", str(symbols),
                       "--max-payload", "64", "--sender", snd]
                if load == "paced":
                    pub += ["--rate", str(rate)]
                sim = pair.run(pair.exchange, *pub, capture_output=True, text=True,
                               timeout=600)
                if sim.returncode:
                    raise RuntimeError(f"the venue ({snd} sender) failed: {sim.stderr}")
                out, err = lst.communicate(timeout=600)
            finally:
                if lst.poll() is None:
                    lst.kill()
                    lst.communicate()
            if lst.returncode:
                raise RuntimeError(f"{transport} listener failed: {err}")
            res = json.loads(out.strip().splitlines()[-1])
            lat = res["latency"]
            rows.append({
                "sender": snd, "transport": transport, "load": load, "sent": n,
                "received": res["received"], "drops": n - res["received"],
                **{k: lat.get(k) for k in KEYS if k.endswith("_us")},
                **{k: round(v, 2) for k, v in res.get("split", {}).items()},
                "stamped_by": res.get("stamped_by", ""),
                "cpu": round(res["cpu"], 3),
            })
    _ratios(rows, "socket", "x")  # p50_x, p99_x: against the Python loop
    _ratios(rows, "recv", "vs_recv")  # p50_vs_recv, p99_vs_recv: like for like
    return rows


def _ratios(rows: list[dict[str, Any]], baseline: str, suffix: str) -> None:
    """``{p50,p99}_{suffix}``: the ``baseline`` transport's figure over this row's, same
    sender and load, in the same run (None without that baseline row)."""
    base = {(r["sender"], r["load"]): r for r in rows if r["transport"] == baseline}
    for r in rows:
        b = base.get((r["sender"], r["load"]))
        for k in ("p50", "p99"):
            mine = r.get(f"{k}_us")
            r[f"{k}_{suffix}"] = (b[f"{k}_us"] / mine) if b and mine and b.get(f"{k}_us") \
                else None


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "listen":
        _listen(sys.argv[2:])
    else:
        raise SystemExit("usage: python -m tickpath.apps.wirebench listen TRANSPORT GROUP "
                         "PORT IFACE_IP CPU (used by `tickpath wire bench`)")
