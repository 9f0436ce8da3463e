"""Cost per entry of the CME MDP 3.0 book kernels on synthetic streams, beside the ITCH
order-by-order books' ``apply_batch`` on the simulator's bench file, in the same run.

    .venv/bin/python bench/mdp3_books.py [--entries 4000000] [--instruments 2000] [--runs 3]
                                         [--itch-messages 4000000] [--no-itch]

* depth: ``depth_apply_batch`` (``depth_apply`` inlined) over a stream of MBP entries for
  ``--instruments`` instruments, 10 levels outright and 2 implied: mostly Change and New near
  the top, Delete, some Overlay and DeleteFrom, one entry in ten implied; hot instruments
  drawn far more often than the rest.
* mbo: ``mbo_apply_batch`` (``mbo_apply`` inlined, with prefetch) over a stream of order
  entries: New about half, Delete and Change (quantity, or a move to another price) the rest,
  about 200k orders live, sequential OrderIDs as CME hands them out; and the same entries
  through a plain loop of ``mbo_apply`` calls without prefetch (a handler's first cut).
* itch: ``apply_batch`` on the events of the first ``--itch-messages`` messages of a
  simulator file under out/bench/ (the largest there, as bench/replay_itch.py writes them;
  one of ``--itch-messages`` is written when none is found), decoded beforehand; and the same
  flow turned into MDP3 order entries (adds New, partial executions and cancels Change,
  the rest Delete, a replace Delete + New) through ``mbo_apply_batch``, timed per ITCH event:
  both kinds of book on one flow.

Streams are generated before timing, every entry must be accepted, and each timed run starts
from empty books. Prints ns per entry (median of the runs) and writes out/bench/mdp3_books.json.
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
from numba import njit, types
from numba.typed import Dict

from tickpath.book import BookStore, DepthBooks, OrderBooks
from tickpath.book import apply as itch_kernels
from tickpath.book import depth as kd
from tickpath.book import mbo as km
from tickpath.codec.itch50 import EVENT_DTYPE, LENGTHS
from tickpath.codec.itch50.decode import OK as DECODE_OK
from tickpath.codec.itch50.decode import OUT_FULL, decode_batch

OUT = Path(__file__).resolve().parent.parent / "out" / "bench"
BATCH = 1 << 14  # entries per kernel call, as ItchHandler hands events to the books
TICK = 250_000_000  # 0.25 in PRICE9


# -- synthetic streams ----------------------------------------------------------------------------

@njit(cache=False)
def _hot(n_inst):
    # a few instruments carry most of the flow
    return min(n_inst - 1, int(n_inst * np.random.random() ** 3))


@njit(cache=False)
def gen_depth(n, n_inst, seed, out, px, qty, nord, limits, stats):
    """Fill ``out`` with ``n`` valid MBP entries, applying each to the scratch books."""
    np.random.seed(seed)
    mids = np.empty(n_inst, np.int64)
    for i in range(n_inst):
        mids[i] = (4000 + i) * 4 * TICK
    k = 0
    while k < n:
        inst = _hot(n_inst)
        side = 0 if np.random.random() < 0.5 else 1
        b = side + (2 if np.random.random() < 0.1 else 0)
        lim = limits[inst, b >> 1]
        count = 0
        while count < lim and qty[inst, b, count] != 0:
            count += 1
        sign = -1 if side == 0 else 1  # deeper levels: lower bids, higher offers
        level = 1 + min(int(np.random.exponential(1.5)), max(count - 1, 0))
        u = np.random.random()
        size = 1 + int(np.random.exponential(40))
        orders = 1 + int(np.random.exponential(5))
        price = np.int64(0x7FFF_FFFF_FFFF_FFFF)
        if count == 0 or u < 0.22:
            action = 0
            level = 1 + min(int(np.random.exponential(1.5)), count, lim - 1)
            if level <= count:
                price = px[inst, b, level - 1] - sign * TICK // 2
            elif count > 0:
                price = px[inst, b, count - 1] + sign * TICK
            else:
                price = mids[inst] + sign * TICK
        elif u < 0.70:
            action = 1
            price = px[inst, b, level - 1]
        elif u < 0.92:
            action = 2
            price = px[inst, b, level - 1]
        elif u < 0.97:
            action = 5
            price = px[inst, b, level - 1] + sign * (TICK // 4)
        elif u < 0.995:
            action = 4
            level = 1 + min(int(np.random.exponential(0.7)), count - 1)
        else:
            action = 3
        e = out[k]
        e["inst"] = inst
        e["entry_type"] = (48, 49, 69, 70)[b]
        e["action"] = action
        e["level"] = level
        e["price"] = price
        e["size"] = size
        e["orders"] = orders
        st = kd.depth_apply(px, qty, nord, limits, stats, inst, np.int64(e["entry_type"]),
                            action, level, price, size, orders)
        if st != 0:
            return k, st
        k += 1
    return n, 0


@njit(cache=False)
def gen_mbo(n, n_inst, target_live, seed, out):
    """Fill ``out`` with ``n`` valid order entries (the generator keeps its own live set)."""
    np.random.seed(seed)
    cap = 4 * target_live + 16
    ids = np.empty(cap, np.uint64)
    inst_of = np.empty(cap, np.int32)
    side_of = np.empty(cap, np.int8)
    price_of = np.empty(cap, np.int64)
    qty_of = np.empty(cap, np.int32)
    mids = np.empty(n_inst, np.int64)
    for i in range(n_inst):
        mids[i] = (4000 + i) * 4 * TICK
    live = 0
    next_id = np.uint64(6_000_000_000_000)
    for k in range(n):
        e = out[k]
        e["priority"] = np.uint64(k)
        p_new = 0.5 + 0.2 * (target_live - live) / target_live
        u = np.random.random()
        if live == 0 or (u < p_new and live < cap):
            inst = _hot(n_inst)
            if np.random.random() < 0.01:  # the market moves now and then
                mids[inst] += TICK if np.random.random() < 0.5 else -TICK
            side = 0 if np.random.random() < 0.5 else 1
            dist = 1 + int(np.random.exponential(2.0))
            price = mids[inst] - dist * TICK if side == 0 else mids[inst] + dist * TICK
            next_id += np.uint64(1 + int(np.random.random() * 3))
            ids[live] = next_id
            inst_of[live] = inst
            side_of[live] = side
            price_of[live] = price
            qty_of[live] = 1 + int(np.random.exponential(8))
            e["id"] = next_id
            e["inst"] = inst
            e["entry_type"] = 48 + side
            e["action"] = 0
            e["price"] = price
            e["qty"] = qty_of[live]
            live += 1
            continue
        # recent orders are the likeliest to change or go
        j = live - 1 - int(live * np.random.random() ** 4)
        e["id"] = ids[j]
        e["inst"] = inst_of[j]
        e["entry_type"] = 48 + side_of[j]
        if u < p_new + 0.12:
            e["action"] = 1
            if np.random.random() < 0.5:
                qty_of[j] = max(1, qty_of[j] - 1 - int(np.random.random() * 3))
            else:
                step = 1 + int(np.random.random() * 2)
                price_of[j] += step * TICK if side_of[j] == 1 else -step * TICK
            e["price"] = price_of[j]
            e["qty"] = qty_of[j]
        else:
            e["action"] = 2
            e["price"] = price_of[j]
            e["qty"] = 0
            live -= 1
            ids[j] = ids[live]
            inst_of[j] = inst_of[live]
            side_of[j] = side_of[live]
            price_of[j] = price_of[live]
            qty_of[j] = qty_of[live]
    return live


@njit(cache=False)
def itch_to_mbo(events, out):
    """The book events of an ITCH stream as MDP3 order entries (the same flow through both
    kinds of book): adds are New, partial executions and cancels Change the quantity, whole
    ones and deletes are Delete, a replace is a Delete and a New. Returns the entry count."""
    slot = Dict.empty(key_type=types.uint64, value_type=types.int64)
    n_ev = events.shape[0]
    shares = np.empty(n_ev, np.int64)
    side = np.empty(n_ev, np.uint8)
    price = np.empty(n_ev, np.int64)
    inst = np.empty(n_ev, np.int32)
    prio = np.uint64(0)
    m = 0
    n_orders = 0
    for k in range(n_ev):
        ev = events[k]
        t = ev["type"]
        if t == 65 or t == 70 or t == 85:  # A F U
            j = n_orders
            n_orders += 1
            if t == 85:
                old = slot[ev["ref"]]
                del slot[ev["ref"]]
                e = out[m]
                e["id"] = ev["ref"]
                e["inst"] = inst[old]
                e["entry_type"] = side[old]
                e["action"] = 2
                e["price"] = price[old]
                m += 1
                side[j] = side[old]
                ref = ev["new_ref"]
            else:
                side[j] = 48 if ev["side"] == 66 else 49
                ref = ev["ref"]
            shares[j] = ev["shares"]
            price[j] = np.int64(ev["price"]) * 100_000  # 4 decimals -> PRICE9
            inst[j] = ev["locate"]
            slot[ref] = j
            prio += np.uint64(1)
            e = out[m]
            e["id"] = ref
            e["priority"] = prio
            e["inst"] = inst[j]
            e["entry_type"] = side[j]
            e["action"] = 0
            e["price"] = price[j]
            e["qty"] = shares[j]
            m += 1
        elif t == 69 or t == 67 or t == 88 or t == 68:  # E C X D
            j = slot[ev["ref"]]
            e = out[m]
            e["id"] = ev["ref"]
            e["inst"] = inst[j]
            e["entry_type"] = side[j]
            e["price"] = price[j]
            left = shares[j] - np.int64(ev["shares"])
            if t == 68 or left == 0:
                e["action"] = 2
                del slot[ev["ref"]]
            else:
                e["action"] = 1
                shares[j] = left
                e["qty"] = left
                e["priority"] = prio
            m += 1
    return m


@njit(cache=False, _nrt=False)
def mbo_plain_loop(entries, orders, mask, levels, free, books, stats, capacity):
    """``mbo_apply`` once per entry, no look-ahead: what a handler does before it prefetches."""
    for k in range(entries.shape[0]):
        e = entries[k]
        st = km.mbo_apply(orders, mask, levels, free, books, stats, capacity,
                          np.int64(e["inst"]), np.int64(e["entry_type"]), np.int64(e["action"]),
                          e["id"], e["priority"], e["price"], np.int64(e["qty"]))
        if st != 0:
            return k, st
    return entries.shape[0], 0


# -- timed runs -----------------------------------------------------------------------------------

def timed(fn, entries: np.ndarray, books) -> float:
    """Seconds ``fn(entries, books)`` takes; the books are built (and their pages touched)
    before the clock starts."""
    gc.collect()
    gc.disable()
    try:
        t0 = time.perf_counter()
        fn(entries, books)
        return time.perf_counter() - t0
    finally:
        gc.enable()


def run_depth(entries: np.ndarray, b: DepthBooks) -> None:
    n = entries.shape[0]
    for s in range(0, n, BATCH):
        e = min(n, s + BATCH)
        idx, st = kd.depth_apply_batch(entries, s, e, b.px, b.qty, b.nord, b.limits,
                                       b.stats_array)
        if st != 0:
            raise RuntimeError(f"depth entry {idx} refused: status {st}")


def new_order_books(n_inst: int) -> OrderBooks:
    # the ITCH bench's table: room for 4M orders, 1M to start (48 MiB there, 64 MiB here)
    return OrderBooks(max_orders=1 << 22, n_instruments=n_inst, initial_orders=1 << 20)


def run_mbo(entries: np.ndarray, b: OrderBooks) -> None:
    n = entries.shape[0]
    for s in range(0, n, BATCH):
        e = min(n, s + BATCH)
        idx, st = km.mbo_apply_batch(entries, s, e, b.orders, b.mask, b.levels, b.free,
                                     b.books, b.stats_array, b.capacity)
        if st != 0:
            raise RuntimeError(f"order entry {idx} refused: status {st}")


def run_mbo_plain(entries: np.ndarray, b: OrderBooks) -> None:
    idx, st = mbo_plain_loop(entries, b.orders, b.mask, b.levels, b.free, b.books,
                             b.stats_array, b.capacity)
    if st != 0:
        raise RuntimeError(f"order entry {idx} refused: status {st}")


def run_itch(events: np.ndarray, s_: BookStore) -> None:
    n = events.shape[0]
    for s in range(0, n, BATCH):
        e = min(n, s + BATCH)
        idx, st = itch_kernels.apply_batch(events, s, e, s_.orders, s_.mask, s_.levels,
                                           s_.free, s_.heads, s_.stats_array, s_.inst,
                                           s_.symbols, s_.type_counts, s_.capacity)
        if st != 0:
            raise RuntimeError(f"ITCH event {idx} refused: status {st}")


def itch_events(limit: int) -> tuple[np.ndarray, Path] | None:
    files = sorted(OUT.glob("sim-*.itch"), key=lambda p: p.stat().st_size)
    if files:
        path = files[-1]
    else:
        from tickpath.venue import Simulator

        OUT.mkdir(parents=True, exist_ok=True)
        path = OUT / f"sim-{limit}-2000-1.itch"
        tmp = path.with_suffix(".part")
        Simulator(symbols=2000, messages=limit, seed=1).write(tmp)
        tmp.rename(path)
        print(f"simulator wrote {limit:,} messages to {path}", file=sys.stderr)
    buf = np.fromfile(path, np.uint8, count=min(path.stat().st_size, limit * 80))
    events = np.zeros(limit, EVENT_DTYPE)
    n, st, _ = decode_batch(buf, 0, buf.shape[0], LENGTHS, events, 0, 0)
    if st not in (DECODE_OK, OUT_FULL) and n == 0:
        raise RuntimeError(f"decoding {path} stopped with status {st}")
    return events[:n], path


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--entries", type=int, default=4_000_000)
    ap.add_argument("--instruments", type=int, default=2000)
    ap.add_argument("--live-orders", type=int, default=200_000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--itch-messages", type=int, default=4_000_000)
    ap.add_argument("--no-itch", action="store_true")
    args = ap.parse_args()
    n, n_inst = args.entries, args.instruments

    t0 = time.perf_counter()
    scratch = DepthBooks(n_inst, 10, 2)
    depth_entries = np.zeros(n, kd.DEPTH_ENTRY_DTYPE)
    made, st = gen_depth(n, n_inst, args.seed, depth_entries, scratch.px, scratch.qty,
                         scratch.nord, scratch.limits, scratch.stats_array)
    if st != 0:
        raise RuntimeError(f"depth generator made a bad entry at {made}: status {st}")
    mbo_entries = np.zeros(n, km.MBO_ENTRY_DTYPE)
    live_end = gen_mbo(n, n_inst, args.live_orders, args.seed, mbo_entries)
    itch = None if args.no_itch else itch_events(args.itch_messages)
    print(f"streams ready in {time.perf_counter() - t0:.1f} s", file=sys.stderr)

    def depth_books() -> DepthBooks:
        return DepthBooks(n_inst, 10, 2)

    def order_books() -> OrderBooks:
        return new_order_books(n_inst)

    def itch_books() -> BookStore:
        return BookStore(max_orders=1 << 22)

    # compile outside the timed runs
    run_depth(depth_entries[:1000], depth_books())
    run_mbo(mbo_entries[:1000], order_books())
    run_mbo_plain(mbo_entries[:1000], order_books())
    if itch is not None:
        run_itch(itch[0][:1000], itch_books())

    rows: dict[str, list[float]] = {"depth": [], "mbo": [], "mbo_no_prefetch": []}
    if itch is not None:
        rows["itch"] = []
        rows["mbo_itch_flow"] = []
        itch_flow = np.zeros(itch[0].shape[0] * 2, km.MBO_ENTRY_DTYPE)
        itch_flow = itch_flow[:itch_to_mbo(itch[0], itch_flow)]
        run_mbo(itch_flow[:1000], new_order_books(1 << 16))  # keyed by stock locate
    for r in range(args.runs):
        rows["depth"].append(timed(run_depth, depth_entries, depth_books()) / n * 1e9)
        rows["mbo"].append(timed(run_mbo, mbo_entries, order_books()) / n * 1e9)
        rows["mbo_no_prefetch"].append(timed(run_mbo_plain, mbo_entries, order_books())
                                       / n * 1e9)
        if itch is not None:
            rows["itch"].append(timed(run_itch, itch[0], itch_books())
                                / itch[0].shape[0] * 1e9)
            # per ITCH event, to compare with the row above on the same flow
            rows["mbo_itch_flow"].append(timed(run_mbo, itch_flow, new_order_books(1 << 16))
                                         / itch[0].shape[0] * 1e9)
        print(f"run {r + 1}: " + ", ".join(f"{k} {v[-1]:.1f} ns" for k, v in rows.items()),
              file=sys.stderr)

    med = {k: statistics.median(v) for k, v in rows.items()}
    counts = np.bincount(mbo_entries["action"], minlength=3)
    dcounts = np.bincount(depth_entries["action"], minlength=6)
    result = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{platform.node()} {platform.machine()} {os.cpu_count()} cpus",
        "entries": n, "instruments": n_inst, "runs": args.runs,
        "depth_actions": dcounts.tolist(), "mbo_actions": counts.tolist(),
        "mbo_live_at_end": int(live_end),
        "ns_per_entry": med,
        "itch": None if itch is None else {"file": str(itch[1]), "events": int(itch[0].shape[0])},
    }
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "mdp3_books.json").write_text(json.dumps(result, indent=2))
    print(f"\n{n:,} entries per stream, {n_inst} instruments, median of {args.runs} runs")
    print(f"{'':44}{'ns/entry':>10}{'M/s':>8}")
    names = {"depth": "depth_apply (MBP, 10+2 levels)",
             "mbo": "mbo_apply, batch with prefetch",
             "mbo_no_prefetch": "mbo_apply, plain loop",
             "itch": "ITCH apply_batch (per ITCH event)",
             "mbo_itch_flow": "mbo_apply on that ITCH flow (per ITCH event)"}
    for key, ns in med.items():
        print(f"{names[key]:44}{ns:>10.1f}{1e3 / ns:>8.1f}")
    print(f"depth actions New/Change/Delete/Thru/From/Overlay: {dcounts.tolist()}")
    print(f"mbo actions New/Change/Delete: {counts.tolist()}, live orders at the end "
          f"{live_end:,}")
    if itch is not None:
        print(f"ITCH: {itch[0].shape[0]:,} events of {itch[1].name} (every message type; "
              f"decoded beforehand), {itch_flow.shape[0]:,} order entries as MDP3")


if __name__ == "__main__":
    main()
