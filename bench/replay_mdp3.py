"""Replay throughput of CME MDP 3.0: decode only, decode + price-level books, decode + price
levels + order-by-order books, price levels + the strategy's records (a ring drained after
every packet, as a consumer that keeps up), against a pure-Python baseline (tickpath's interpretive SBE
decoder, ``tickpath.codec.sbe.decode``) measured in the same run, and the ITCH handler on the
equity simulator's day as the order books' reference.

    .venv/bin/python bench/replay_mdp3.py [--messages 10000000] [--runs 5]
                                          [--baseline-packets 20000] [--no-itch]

The futures venue simulator (``tickpath.venue.futures``) generates the day once per run into
memory (its generation time is printed). Every row walks the same packets in memory through a
compiled loop that calls the seam (``tickpath.wire.handler.on_datagram``) per packet, exactly
as a receive transport does, so no socket or file enters. The snapshot loop's packets are
left in the stream (the handler skips what it does not need). Prints a table and writes
out/bench/replay_mdp3.json.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np
from numba import njit

from tickpath.codec.mdp3 import schema_v13 as S
from tickpath.codec.mdp3.packet import decode_packet
from tickpath.codec.sbe.fields import get_i32, get_i64, get_u8, get_u16, get_u32, get_u64
from tickpath.feed.mdp3 import Mdp3Feed
from tickpath.feed.tap import tap_wait
from tickpath.ring import SpscRing, spsc
from tickpath.strategy.records import SLOT_SIZE
from tickpath.wire import handler as seam

OUT = Path(__file__).resolve().parent.parent / "out" / "bench"

_B46 = S.MD_INCREMENTAL_REFRESH_BOOK46_ID
_B48 = S.MD_INCREMENTAL_REFRESH_TRADE_SUMMARY48_ID
_B52 = S.SNAPSHOT_FULL_REFRESH52_ID
_B53 = S.SNAPSHOT_FULL_REFRESH_ORDER_BOOK53_ID
_E_PX = S.MD_INCREMENTAL_REFRESH_BOOK46_NO_MD_ENTRIES_MD_ENTRY_PX_OFFSET
_E_SIZE = S.MD_INCREMENTAL_REFRESH_BOOK46_NO_MD_ENTRIES_MD_ENTRY_SIZE_OFFSET
_E_SEC = S.MD_INCREMENTAL_REFRESH_BOOK46_NO_MD_ENTRIES_SECURITY_ID_OFFSET
_E_RPT = S.MD_INCREMENTAL_REFRESH_BOOK46_NO_MD_ENTRIES_RPT_SEQ_OFFSET
_E_LVL = S.MD_INCREMENTAL_REFRESH_BOOK46_NO_MD_ENTRIES_MD_PRICE_LEVEL_OFFSET
_E_ACT = S.MD_INCREMENTAL_REFRESH_BOOK46_NO_MD_ENTRIES_MD_UPDATE_ACTION_OFFSET
_E_TYPE = S.MD_INCREMENTAL_REFRESH_BOOK46_NO_MD_ENTRIES_MD_ENTRY_TYPE_OFFSET
_O_ID = S.MD_INCREMENTAL_REFRESH_BOOK46_NO_ORDER_ID_ENTRIES_ORDER_ID_OFFSET
_O_QTY = S.MD_INCREMENTAL_REFRESH_BOOK46_NO_ORDER_ID_ENTRIES_MD_DISPLAY_QTY_OFFSET
_O_REF = S.MD_INCREMENTAL_REFRESH_BOOK46_NO_ORDER_ID_ENTRIES_REFERENCE_ID_OFFSET


@njit(cache=True, nogil=True)
def decode_walk(buf, bounds):
    """Decode only: frame every message of every packet and read the fields the handler
    reads from the book and trade entries (and the order entries), summed so the reads
    cannot be optimized away. Returns (messages, checksum)."""
    msgs = 0
    acc = np.int64(0)
    for k in range(bounds.shape[0] - 1):
        p = bounds[k] + 12
        end = bounds[k + 1]
        acc += get_u32(buf, bounds[k])
        while p + 10 <= end:
            size = np.int64(get_u16(buf, p))
            if size < 10 or p + size > end:
                break
            m = p + 2
            bl = np.int64(get_u16(buf, m))
            tid = get_u16(buf, m + 2)
            msgs += 1
            g = m + 8 + bl
            if (tid == _B46 or tid == _B48) and g + 3 <= p + size:
                ebl = np.int64(get_u16(buf, g))
                n = np.int64(get_u8(buf, g + 2))
                e = g + 3
                for _ in range(n):
                    acc += get_i64(buf, e + _E_PX) + get_i32(buf, e + _E_SIZE) \
                        + get_i32(buf, e + _E_SEC) + get_u32(buf, e + _E_RPT)
                    if tid == _B46:
                        acc += get_u8(buf, e + _E_LVL) + get_u8(buf, e + _E_ACT) \
                            + get_u8(buf, e + _E_TYPE)
                    e += ebl
                if tid == _B46 and e + 8 <= p + size:
                    obl = np.int64(get_u16(buf, e))
                    on = np.int64(get_u8(buf, e + 7))
                    o = e + 8
                    for _ in range(on):
                        acc += np.int64(get_u64(buf, o + _O_ID) & 0xFFFF) \
                            + get_i32(buf, o + _O_QTY) + get_u8(buf, o + _O_REF)
                        o += obl
            p += size
    return msgs, acc


@njit(cache=True, nogil=True, _nrt=False)
def drive(state, buf, bounds, first):
    """What a receive loop does with the packets in memory: the seam, once per packet.
    Returns (next packet, status): stops early at SETTLE (the owner grows its tables).
    Compiled without reference counting, as the seam's implementations are: with it, each
    call would count every array of the state up and down (measured: about 800 ns a packet
    for the MDP3 state's two dozen arrays)."""
    for k in range(first, bounds.shape[0] - 1):
        code = seam.on_datagram(state, buf, bounds[k], bounds[k + 1] - bounds[k], 0)
        if code == seam.SETTLE:
            return k + 1, code
    return bounds.shape[0] - 1, seam.GO_ON


@njit(cache=True, nogil=True, _nrt=False)
def drive_drained(state, buf, bounds, first):
    """:func:`drive`, with the records each packet published released at once (the
    producer's cost alone: a consumer on another core that keeps up)."""
    hdr = state.tap_hdr
    for k in range(first, bounds.shape[0] - 1):
        code = seam.on_datagram(state, buf, bounds[k], bounds[k + 1] - bounds[k], 0)
        n = spsc.producer_position(hdr) - spsc.consumer_position(hdr)
        if n > 0:
            spsc.release(hdr, n)
        if code == seam.SETTLE:
            return k + 1, code
    return bounds.shape[0] - 1, seam.GO_ON


def run_feed(feed, buf: np.ndarray, bounds: np.ndarray, loop=drive) -> float:
    k, t0 = 0, time.perf_counter()
    while k < bounds.shape[0] - 1:
        k, code = loop(feed.state, buf, bounds, k)
        if code == seam.SETTLE:
            feed.settle()
    return time.perf_counter() - t0


def futures_day(messages: int, seed: int) -> tuple[np.ndarray, np.ndarray, float, object]:
    from tickpath.venue import Simulator
    from tickpath.venue.futures import FuturesSimulator

    t0 = time.perf_counter()
    sim = FuturesSimulator(Simulator(symbols=500, messages=messages // 2, seed=seed),
                           messages=messages, seed=seed)
    bufs, bounds, base = [], [np.zeros(1, np.int64)], 0
    for ch in sim.packets():
        b = ch.bounds.astype(np.int64)
        bufs.append(ch.buf[:b[-1]].copy())
        bounds.append(b[1:] - b[0] + base)
        base += int(b[-1] - b[0])
    seconds = time.perf_counter() - t0
    return np.concatenate(bufs), np.concatenate(bounds), seconds, sim


def itch_reference(messages: int, seed: int, runs: int) -> dict[str, float]:
    """The ITCH handler (MoldUDP64 + decode + order-by-order books) on the equity simulator's
    day of ``messages`` through the same seam loop: ns per message."""
    from tickpath.feed.itch import ItchFeed
    from tickpath.feed.moldudp64 import pack_packets
    from tickpath.venue import Simulator

    blocks = np.concatenate(list(Simulator(symbols=500, messages=messages,
                                           seed=seed).chunks()))
    pkt, bounds, _ = pack_packets(blocks, "BENCH00001")
    bounds = bounds.astype(np.int64)
    times = []
    for _ in range(runs + 1):
        feed = ItchFeed()
        feed.warm_up()
        gc.collect()
        times.append(run_feed(feed, pkt, bounds))
    n = messages
    return {"messages": n, "ns_per_msg": statistics.median(times[1:]) / n * 1e9}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--messages", type=int, default=10_000_000)
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--baseline-packets", type=int, default=20_000)
    ap.add_argument("--no-itch", action="store_true")
    a = ap.parse_args()

    buf, bounds, gen_s, sim = futures_day(a.messages, a.seed)
    npk = bounds.shape[0] - 1
    print(f"venue: {npk:,} packets, {buf.shape[0] / 1e6:.0f} MB generated in {gen_s:.1f} s",
          file=sys.stderr)

    # pure-Python baseline: the interpretive decoder over the first packets
    nb = min(a.baseline_packets, npk)
    t0 = time.perf_counter()
    py_msgs = 0
    for k in range(nb):
        d = decode_packet(S, buf[bounds[k]:bounds[k + 1]])
        py_msgs += len(d["messages"])
    py_s = time.perf_counter() - t0
    py_rate = py_msgs / py_s

    rows: dict[str, list[float]] = {"decode": [], "levels": [], "levels+orders": [],
                                    "levels+records": []}
    counters: dict[str, dict[str, int]] = {}
    decode_walk(buf, bounds[:2])
    messages = 0
    for r in range(a.runs + 1):  # run 0 compiles or loads the cache: not counted
        gc.collect()
        t0 = time.perf_counter()
        messages, _ = decode_walk(buf, bounds)
        t_dec = time.perf_counter() - t0
        for name, orders in (("levels", False), ("levels+orders", True)):
            feed = Mdp3Feed(late_join="natural", orders=orders, max_instruments=64)
            feed.warm_up()
            drive(feed.state, buf, bounds[:1], 0)
            gc.collect()
            t = run_feed(feed, buf, bounds)
            if r:
                rows[name].append(t)
            counters[name] = feed.counters()
        ring = SpscRing.create(f"tp-bench-{os.getpid()}", 1 << 12, SLOT_SIZE, policy="drop")
        try:
            tapped = Mdp3Feed(late_join="natural", orders=False, max_instruments=64,
                              tap=(ring.header, ring.words, tap_wait("busy_spin", 0)))
            tapped.warm_up()
            drive_drained(tapped.state, buf, bounds[:1], 0)
            gc.collect()
            t = run_feed(tapped, buf, bounds, drive_drained)
            if r:
                rows["levels+records"].append(t)
            counters["levels+records"] = tapped.counters()
        finally:
            ring.unlink()
            ring.close()
        if r:
            rows["decode"].append(t_dec)
    vb = {b["security_id"]: b for b in sim.books()}
    hb = {b["security_id"]: b for b in feed.books()}
    equal = all(vb[s]["bids"] == hb[s]["bids"] and vb[s]["asks"] == hb[s]["asks"] for s in vb)
    c = counters["levels+orders"]
    res = {
        "date": time.strftime("%Y-%m-%d"), "machine": platform.processor() or platform.machine(),
        "cpus": os.cpu_count(), "messages": int(messages), "packets": int(npk),
        "generate_s": gen_s, "books_equal_venue": equal,
        "order_entries": c["order_entries"], "book_entries": c["entries"],
        "python_decode_msgs_per_s": py_rate, "python_decode_messages": py_msgs,
    }
    print(f"{messages:,} MDP3 messages, {npk:,} packets; {c['entries']:,} book entries, "
          f"{c['order_entries']:,} order entries; books equal the venue's: {equal}")
    print(f"{'row':<28}{'M msg/s':>10}{'ns/msg':>9}{'x python':>10}")
    print(f"{'python decode (baseline)':<28}{py_rate / 1e6:>10.3f}{1e9 / py_rate:>9.0f}"
          f"{1.0:>10.1f}")
    for name, ts in rows.items():
        med = statistics.median(ts)
        rate = messages / med
        res[name] = {"median_s": med, "runs": ts, "msgs_per_s": rate}
        print(f"{name:<28}{rate / 1e6:>10.2f}{1e9 / rate:>9.1f}{rate / py_rate:>10.0f}")
    lv, lo = res["levels"]["median_s"], res["levels+orders"]["median_s"]
    per_order = (lo - lv) / max(c["order_entries"], 1) * 1e9
    res["ns_per_order_entry"] = per_order
    print(f"order books: {per_order:.1f} ns per order entry (levels+orders minus levels)")
    tc = counters["levels+records"]
    per_record = (res["levels+records"]["median_s"] - lv) / max(tc["published"], 1) * 1e9
    res["records"] = tc["published"]
    res["ns_per_record"] = per_record
    print(f"records: {tc['published']:,} ({tc['ring_full']:,} dropped), {per_record:.1f} ns "
          f"per record (levels+records minus levels)")
    if not a.no_itch:
        it = itch_reference(min(a.messages, 10_000_000), a.seed, max(1, a.runs // 2))
        res["itch"] = it
        print(f"ITCH handler (MoldUDP64 + decode + order books), same loop: "
              f"{it['ns_per_msg']:.1f} ns per message")
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "replay_mdp3.json").write_text(json.dumps(res, indent=2))


if __name__ == "__main__":
    main()
