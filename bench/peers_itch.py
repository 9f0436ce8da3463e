"""ITCH 5.0 decode + order-by-order books against two peers, on the same messages, from
memory, in the same run: hftbacktest (Rust core, L3 market-by-order replay) and MeatPy (pure
Python ITCH 5.0 reader and market processors).

    .venv/bin/python bench/peers_itch.py [--messages 8000000] [--symbols 2000] [--runs 3]
                                         [--meatpy-messages 250000]

The simulator's day is written once under out/bench/ (``sim_file`` of bench/replay_itch.py)
and its bytes are read into memory once; every side works from those bytes or from what
tickpath's decoder made of them. Prints a table and writes out/bench/peers_itch.json.

What is timed (``time.perf_counter``, garbage collector off, compiled code loaded first):

* tickpath: ``ItchHandler(BookStore(max_orders=1 << 22), batch=1 << 14).on_blocks(buf, 0,
  end, final=True)``, construction included: the whole day's bytes for the hftbacktest row,
  the first ``--meatpy-messages`` messages' bytes for the MeatPy row.
* hftbacktest 2.4.4: per instrument, building the ``BacktestAsset`` (the event rows of that
  instrument, ``l3_fifo_queue_model()``, ``no_partial_fill_exchange()``, tick size 1 and lot
  size 1 so prices stay ITCH's integer units exactly) and the
  ``HashMapMarketDepthBacktest``, then a compiled loop calling ``elapse`` with a one-day step
  until it reports the end of the data (one call in practice: the fewest calls, the least
  overhead hftbacktest can have). The times of all instruments are summed; reading the books
  for the checks and ``close()`` happen between the timed intervals. Decoding the ITCH bytes
  and converting them into hftbacktest's rows (:func:`itch_to_hbt`) happen before, untimed:
  hftbacktest is given its input ready-made, tickpath decodes its own.
  Rate: ITCH messages of the instruments run (every message with their stock locate, book
  message or not) / summed time. hftbacktest keeps two books per instrument by design (the
  local processor's view of the feed and the exchange processor's, which drives the queue
  model); both consume every row.
* MeatPy: its ITCH 5.0 reader over a ``BytesIO`` of the same prefix's bytes (the reader's
  ``_read_messages(file)``, which ``read_file`` uses after opening a path) and one
  ``ITCH50MarketProcessor`` per instrument, created at its stock directory message, each
  message handed to its instrument's processor. Compared with tickpath on the same prefix.

The mapping of ITCH book messages to hftbacktest's L3 event rows (:func:`itch_to_hbt`): every
row carries ``EXCH_EVENT | LOCAL_EVENT`` and the side flag of the order, ``exch_ts ==
local_ts ==`` the ITCH timestamp (no feed latency), ``order_id`` = the order reference,
``px`` = the price in ITCH units (1/10000 dollar).

* A, F (add): ``ADD_ORDER_EVENT``, price and shares.
* D (delete): ``CANCEL_ORDER_EVENT`` (hftbacktest's cancel removes the whole order).
* X (partial cancel): ``MODIFY_ORDER_EVENT`` to the shares left at the same price (a size
  cut at the same price keeps the order's queue place in hftbacktest, as in ITCH);
  ``CANCEL_ORDER_EVENT`` if nothing is left.
* E, C (execution): ``FILL_EVENT`` (the executed shares, at the order's price for E and the
  execution price for C; it drives the queue model and does not change the depth), then
  ``MODIFY_ORDER_EVENT`` to the shares left, or ``CANCEL_ORDER_EVENT`` when the order is
  fully executed. This is how hftbacktest's own market-by-order converters treat a fill: the
  fill row, then the change of the resting order.
* U (replace): ``CANCEL_ORDER_EVENT`` of the old reference, then ``ADD_ORDER_EVENT`` of the
  new reference on the same side at the new price and shares (the new order queues last).
* Other types (trades P/Q, broken trades, directory, NOII, ...) have no book effect and no
  row.

Checks (the run fails loudly on a mismatch): for every instrument, hftbacktest's final best
bid and ask (price and shares) equal tickpath's ``BookStore.best_bid``/``best_ask``; for the
busiest instrument, the whole depth (price and shares of every level; hftbacktest does not
expose order counts per level) equals ``BookStore.depth``; MeatPy's best levels of the busiest
instrument after the prefix equal tickpath's on that prefix.
"""

from __future__ import annotations

import argparse
import gc
import io
import json
import os
import platform
import statistics
import sys
import time
from importlib import metadata
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from replay_itch import OUT, sim_file  # noqa: E402
from tickpath.book import BookStore  # noqa: E402
from tickpath.codec.itch50 import EVENT_DTYPE, LENGTHS  # noqa: E402
from tickpath.codec.itch50.decode import OK, OUT_FULL, decode_batch  # noqa: E402
from tickpath.feed.itch import ItchHandler  # noqa: E402

try:
    import hftbacktest as hbt
    from hftbacktest.types import event_dtype as HBT_EVENT
except ImportError:  # the script's own extra; the test suite does without it
    hbt = None

HBT_VERSION = "2.4.4"
DAY_NS = 86_400 * 10**9
_A, _F, _E, _C, _X, _D, _U = (ord(c) for c in "AFECXDU")
BOOK_TYPES = np.array([_A, _F, _E, _C, _X, _D, _U], np.uint8)


# -- decoding (untimed) --------------------------------------------------------------------


def decode_day(buf: np.ndarray, batch: int = 1 << 20) -> tuple[np.ndarray, np.ndarray, int]:
    """Decode the whole buffer with tickpath's decoder. Returns the book messages
    (A F E C X D U) as ``EVENT_DTYPE`` records in file order, the number of messages of every
    stock locate (all types), and the number of messages."""
    events = np.zeros(batch, EVENT_DTYPE)
    kept: list[np.ndarray] = []
    per_locate = np.zeros(1 << 16, np.int64)
    p, end, total = 0, buf.shape[0], 0
    while True:
        n, st, p = decode_batch(buf, p, end, LENGTHS, events, 0, 0)
        ev = events[:n]
        per_locate += np.bincount(ev["locate"], minlength=1 << 16)
        kept.append(ev[np.isin(ev["type"], BOOK_TYPES)].copy())
        total += n
        if st == OK:
            return np.concatenate(kept), per_locate, total
        if st != OUT_FULL:
            raise RuntimeError(f"decode stopped with status {st} at offset {p}")


def prefix_end(buf: np.ndarray, messages: int) -> tuple[int, int]:
    """Byte offset just past the first ``messages`` messages (or the end), and how many
    messages that is."""
    events = np.zeros(messages, EVENT_DTYPE)
    n, st, p = decode_batch(buf, 0, buf.shape[0], LENGTHS, events, 0, 0)
    if st not in (OK, OUT_FULL):
        raise RuntimeError(f"decode stopped with status {st} at offset {p}")
    return int(p), int(n)


# -- ITCH events -> hftbacktest L3 rows (untimed) --------------------------------------------


def itch_to_hbt(ev: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """hftbacktest L3 event rows (``hftbacktest.types.event_dtype``) for the ITCH book
    messages among ``ev`` (``EVENT_DTYPE`` records in feed order), mapped as the module's
    docstring says; returns the rows in feed order and the stock locate of each row.

    Messages that refer to an order (E C X D U) are joined to the message that created it
    (A/F by ``ref``, U by ``new_ref``) by sorting the references; a replaced order's side is
    followed back to its add by pointer jumping; shares left after each E/C/X are the order's
    shares minus the running sum of its executions and cancels. Vectorized numpy. Raises
    ``ValueError`` on a reference created twice, a reference to an order never created (or
    created later), or more shares taken than the order had."""
    if hbt is None:
        raise RuntimeError(_INSTALL)
    ev = ev[np.isin(ev["type"], BOOK_TYPES)]
    t = ev["type"]
    n = ev.shape[0]
    idx = np.arange(n)
    is_add = (t == _A) | (t == _F)
    is_u = t == _U
    refers = ~is_add  # E C X D U name an order already on the book

    # the orders created, by A/F (ref) and by U (new_ref), and the message creating each
    creators = np.flatnonzero(is_add | is_u)
    created = np.where(is_add[creators], ev["ref"][creators], ev["new_ref"][creators])
    order = np.argsort(created, kind="stable")
    sorted_refs = created[order]
    dup = np.flatnonzero(sorted_refs[1:] == sorted_refs[:-1])
    if dup.size:
        raise ValueError(f"order reference {int(sorted_refs[dup[0]])} is created twice")
    origin = idx.copy()  # the message that created the order each message is about
    ri = np.flatnonzero(refers)
    pos = np.searchsorted(sorted_refs, ev["ref"][ri])
    pos_ok = np.minimum(pos, max(sorted_refs.shape[0] - 1, 0))
    found = (pos < sorted_refs.shape[0]) & (sorted_refs[pos_ok] == ev["ref"][ri])
    if sorted_refs.shape[0]:
        origin[ri] = creators[order[pos_ok]]
    bad = ri[~found | (origin[ri] >= ri)]
    if bad.size:
        i = int(bad[0])
        raise ValueError(f"{chr(t[i])!r} at offset {int(ev['offset'][i])} names order "
                         f"{int(ev['ref'][i])}, which no earlier message created")

    # side: an add's own; a replacement's is the side of the order it replaced, followed back
    root = idx.copy()
    root[is_u] = origin[is_u]
    while True:
        nxt = root[root]
        if np.array_equal(nxt, root):
            break
        root = nxt
    side = ev["side"][root]  # the side of the order each creating message made
    o_side = side[origin]  # the side of the order each message is about
    o_price = ev["price"][origin]  # its price (an add's price, a replacement's new price)
    o_shares = ev["shares"][origin].astype(np.int64)

    # shares left after each execution or partial cancel: running sum per order
    left = np.zeros(n, np.int64)
    cut = np.flatnonzero((t == _E) | (t == _C) | (t == _X))
    if cut.size:
        s = np.argsort(origin[cut], kind="stable")  # grouped by order, feed order inside
        c = cut[s]
        key = origin[c]
        taken = np.cumsum(ev["shares"][c].astype(np.int64))
        first = np.r_[True, key[1:] != key[:-1]]
        before = np.where(first, taken - ev["shares"][c].astype(np.int64), 0)
        before = np.maximum.accumulate(before)  # taken before each order's first cut
        left[c] = o_shares[c] - (taken - before)
        over = c[left[c] < 0]
        if over.size:
            i = int(over[0])
            raise ValueError(f"{chr(t[i])!r} at offset {int(ev['offset'][i])} takes more "
                             f"shares than order {int(ev['ref'][i])} has")

    two = (t == _E) | (t == _C) | is_u  # messages that make two rows
    count = 1 + two.astype(np.int64)
    start = np.cumsum(count) - count
    rows = np.zeros(int(count.sum()), HBT_EVENT)
    flags = np.uint64(hbt.EXCH_EVENT | hbt.LOCAL_EVENT)
    side_flag = np.where(o_side == ord("B"), np.uint64(hbt.BUY_EVENT), np.uint64(hbt.SELL_EVENT))
    ts = ev["timestamp"].astype(np.int64)
    gone = np.uint64(hbt.CANCEL_ORDER_EVENT)
    rest = np.where(left > 0, np.uint64(hbt.MODIFY_ORDER_EVENT), gone)

    # first row of each message
    kind = np.select(
        [is_add, t == _D, t == _X, (t == _E) | (t == _C), is_u],
        [np.uint64(hbt.ADD_ORDER_EVENT), gone, rest, np.uint64(hbt.FILL_EVENT), gone])
    px = np.where(is_add, ev["price"], o_price)
    px = np.where(t == _C, ev["price"], px)  # C: the execution price (the fill row only)
    qty = np.select([is_add, t == _X, (t == _E) | (t == _C)],
                    [ev["shares"], left, ev["shares"]], 0)
    first_rows = rows[start]
    first_rows["ev"] = kind | flags | side_flag
    first_rows["px"] = px
    first_rows["qty"] = qty
    first_rows["order_id"] = ev["ref"]
    first_rows["exch_ts"] = ts
    first_rows["local_ts"] = ts
    rows[start] = first_rows

    # second row: after a fill the order's change; after a replace's cancel the new order
    j = np.flatnonzero(two)
    u = is_u[j]
    second = np.zeros(j.shape[0], HBT_EVENT)
    second["ev"] = np.where(u, np.uint64(hbt.ADD_ORDER_EVENT), rest[j]) | flags | side_flag[j]
    second["px"] = np.where(u, ev["price"][j], o_price[j])
    second["qty"] = np.where(u, ev["shares"][j], left[j])
    second["order_id"] = np.where(u, ev["new_ref"][j], ev["ref"][j])
    second["exch_ts"] = ts[j]
    second["local_ts"] = ts[j]
    rows[start[j] + 1] = second
    return rows, np.repeat(ev["locate"], count)


def by_instrument(rows: np.ndarray, locate: np.ndarray) -> dict[int, np.ndarray]:
    """The rows of each stock locate, feed order kept, each a contiguous array."""
    perm = np.argsort(locate, kind="stable")
    rows, locate = rows[perm], locate[perm]
    cuts = np.flatnonzero(np.r_[True, locate[1:] != locate[:-1]]) if locate.size else []
    ends = list(cuts[1:]) + [locate.shape[0]]
    return {int(locate[a]): rows[a:b] for a, b in zip(cuts, ends, strict=True)}


# -- the three sides ---------------------------------------------------------------------------


def tickpath_books(buf: np.ndarray, end: int) -> ItchHandler:
    handler = ItchHandler(BookStore(max_orders=1 << 22), batch=1 << 14)
    handler.on_blocks(buf, 0, end, final=True)
    return handler


def timed_tickpath(buf: np.ndarray, end: int) -> tuple[float, ItchHandler]:
    gc.collect()
    gc.disable()
    try:
        t0 = time.perf_counter()
        handler = tickpath_books(buf, end)
        return time.perf_counter() - t0, handler
    finally:
        gc.enable()


def _hbt_runner():
    from numba import njit

    @njit
    def run_to_end(bt, step):
        while True:
            rc = bt.elapse(step)
            if rc != 0:
                return rc

    return run_to_end


def _hbt_asset(rows: np.ndarray):
    return (hbt.BacktestAsset().data(rows).linear_asset(1.0).constant_order_latency(0, 0)
            .l3_fifo_queue_model().no_partial_fill_exchange()
            .trading_value_fee_model(0.0, 0.0).tick_size(1.0).lot_size(1.0))


def _hbt_level(tick: int, qty: float, empty: int) -> tuple[int, int] | None:
    return None if tick == empty else (int(tick), int(qty))


def hftbacktest_books(per_inst: dict[int, np.ndarray], run_to_end, detail: int,
                      ) -> tuple[float, dict[int, tuple], dict[str, list[list[int]]]]:
    """Run one backtest per instrument; returns the summed time of building and running
    them, every instrument's final (best bid, best ask) as (price, shares), and the whole
    depth of instrument ``detail`` ({"bids": [[price, shares]...], "asks": ...})."""
    lo, hi = np.iinfo(np.int64).min, np.iinfo(np.int64).max
    total = 0.0
    bbo: dict[int, tuple] = {}
    depth: dict[str, list[list[int]]] = {}
    gc.collect()
    gc.disable()
    try:
        for loc, rows in per_inst.items():
            t0 = time.perf_counter()
            bt = hbt.HashMapMarketDepthBacktest([_hbt_asset(rows)])
            rc = run_to_end(bt, DAY_NS)
            total += time.perf_counter() - t0
            if rc != 1:
                raise RuntimeError(f"hftbacktest stopped with code {rc} on stock locate {loc}, "
                                   "not at the end of the data (a row it refused)")
            d = bt.depth(0)
            bbo[loc] = (_hbt_level(d.best_bid_tick, d.best_bid_qty, lo),
                        _hbt_level(d.best_ask_tick, d.best_ask_qty, hi))
            if loc == detail:
                snap = d.snapshot()
                buy = (snap["ev"] & np.uint64(hbt.BUY_EVENT)) != 0
                bids = sorted(([int(p), int(q)] for p, q in zip(snap["px"][buy], snap["qty"][buy],
                                                                  strict=True)), reverse=True)
                asks = sorted([int(p), int(q)] for p, q in zip(snap["px"][~buy],
                                                               snap["qty"][~buy], strict=True))
                d.snapshot_free(snap)
                depth = {"bids": bids, "asks": asks}
            bt.close()
    finally:
        gc.enable()
    return total, bbo, depth


def meatpy_books(data: bytes) -> tuple[int, dict]:
    """MeatPy's ITCH 5.0 reader over the bytes in memory, one ITCH50MarketProcessor per
    instrument; returns the messages read and the processors by stock locate."""
    import datetime

    from meatpy.itch50.itch50_market_processor import ITCH50MarketProcessor
    from meatpy.itch50.itch50_message_reader import ITCH50MessageReader

    day = datetime.datetime(2024, 1, 2)
    procs: dict[int, ITCH50MarketProcessor] = {}
    n = 0
    for msg in ITCH50MessageReader()._read_messages(io.BytesIO(data)):
        n += 1
        if msg.type == b"R":
            procs[msg.stock_locate] = ITCH50MarketProcessor(msg.stock, day)
        proc = procs.get(getattr(msg, "stock_locate", -1))
        if proc is not None:
            proc.process_message(msg)
    return n, procs


def construct_time() -> float:
    """Seconds to build the handler and its books alone (inside every tickpath time)."""
    gc.collect()
    t0 = time.perf_counter()
    handler = ItchHandler(BookStore(max_orders=1 << 22), batch=1 << 14)
    s = time.perf_counter() - t0
    del handler
    return s


def timed_meatpy(data: bytes) -> tuple[float, int, dict]:
    gc.collect()
    gc.disable()
    try:
        t0 = time.perf_counter()
        n, procs = meatpy_books(data)
        return time.perf_counter() - t0, n, procs
    finally:
        gc.enable()


# -- checks ------------------------------------------------------------------------------------


def _top(level: tuple[int, int, int] | None) -> tuple[int, int] | None:
    return None if level is None else (level[0], level[1])


def check_hbt(books: BookStore, bbo: dict[int, tuple], depth: dict, detail: int) -> None:
    for loc, (bid, ask) in bbo.items():
        want = (_top(books.best_bid(loc)), _top(books.best_ask(loc)))
        if (bid, ask) != want:
            raise SystemExit(f"MISMATCH stock locate {loc}: hftbacktest best bid/ask {bid} / "
                             f"{ask}, tickpath {want[0]} / {want[1]}")
    full = books.depth(detail)
    want = {"bids": [lv[:2] for lv in full["bids"]], "asks": [lv[:2] for lv in full["asks"]]}
    if depth != want:
        raise SystemExit(f"MISMATCH depth of stock locate {detail}: hftbacktest {depth}, "
                         f"tickpath {want}")


def _meatpy_top(levels) -> tuple[int, int, int] | None:
    if not levels:
        return None
    lv = levels[0]
    return int(lv.price), int(lv.volume), len(lv.orders)


def check_meatpy(books: BookStore, procs: dict, loc: int) -> tuple:
    lob = procs[loc].current_lob
    got = (None, None) if lob is None else (_meatpy_top(lob.get_bid_levels(1)),
                                            _meatpy_top(lob.get_ask_levels(1)))
    want = books.bbo(loc)
    if got != want:
        raise SystemExit(f"MISMATCH MeatPy best bid/ask of stock locate {loc} after the prefix: "
                         f"{got}, tickpath {want}")
    return want


_INSTALL = (f"hftbacktest is not installed: pip install 'hftbacktest=={HBT_VERSION}' "
            "(or pip install -e '.[bench]'; `make bench` does it)")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--messages", type=int, default=8_000_000)
    ap.add_argument("--symbols", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--meatpy-messages", type=int, default=250_000)
    args = ap.parse_args()
    if hbt is None:
        raise SystemExit(_INSTALL)
    if hbt.__version__ != HBT_VERSION:
        print(f"note: hftbacktest {hbt.__version__}, the benchmark was written for "
              f"{HBT_VERSION}", file=sys.stderr)

    path = sim_file(args.messages, args.symbols, args.seed)
    buf = np.fromfile(path, np.uint8)  # read once; every side works from memory
    end = buf.shape[0]

    # untimed: decode, convert, split per instrument
    t0 = time.perf_counter()
    book_events, per_locate, total = decode_day(buf)
    rows, row_locate = itch_to_hbt(book_events)
    per_inst = by_instrument(rows, row_locate)
    del book_events, rows, row_locate
    locs = np.fromiter(per_inst, np.int64)
    inst_msgs = int(per_locate[locs].sum())
    busiest = int(locs[np.argmax(per_locate[locs])])
    print(f"decoded {total:,} messages and built {sum(r.shape[0] for r in per_inst.values()):,} "
          f"hftbacktest rows for {len(per_inst)} instruments in {time.perf_counter() - t0:.1f} s "
          "(untimed)", file=sys.stderr)
    p_end, p_msgs = prefix_end(buf, args.meatpy_messages)
    p_bytes = buf[:p_end].tobytes()

    # compiled code loaded before any timer: tickpath's kernels, hftbacktest's loop
    tickpath_books(buf, prefix_end(buf, 2000)[0])
    run_to_end = _hbt_runner()
    first = per_inst[busiest]
    small = first[:np.flatnonzero(first["ev"] & np.uint64(0xFF) == hbt.ADD_ORDER_EVENT)[0] + 1]
    bt = hbt.HashMapMarketDepthBacktest([_hbt_asset(small.copy())])
    run_to_end(bt, DAY_NS)
    bt.close()

    tp, hb, tp_pre, mp, build = [], [], [], [], []
    for i in range(args.runs):
        s, handler = timed_tickpath(buf, end)
        if handler.messages != total:
            raise SystemExit(f"tickpath applied {handler.messages} messages, decoded {total}")
        tp.append(total / s)
        s, bbo, depth = hftbacktest_books(per_inst, run_to_end, busiest)
        check_hbt(handler.books, bbo, depth, busiest)
        hb.append(inst_msgs / s)
        del handler
        s, pre = timed_tickpath(buf, p_end)
        tp_pre.append(p_msgs / s)
        s, n, procs = timed_meatpy(p_bytes)
        if n != p_msgs:
            raise SystemExit(f"MeatPy read {n} messages of the prefix's {p_msgs}")
        top = check_meatpy(pre.books, procs, busiest)
        mp.append(p_msgs / s)
        del pre, procs
        build.append(construct_time())
        print(f"run {i + 1}: tickpath {tp[-1] / 1e6:.2f} M/s, hftbacktest {hb[-1] / 1e6:.2f} "
              f"M/s; prefix: tickpath {tp_pre[-1] / 1e6:.2f} M/s, MeatPy "
              f"{mp[-1] / 1e6:.4f} M/s", file=sys.stderr)

    med = statistics.median
    result = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{platform.node()} {platform.machine()} {os.cpu_count()} cpus, "
                   f"Python {platform.python_version()}",
        "file": {"path": str(path), "messages": total, "symbols": args.symbols,
                 "seed": args.seed, "bytes": int(end)},
        "runs": args.runs,
        "hftbacktest_version": hbt.__version__,
        "meatpy_version": metadata.version("meatpy"),
        "timed": {
            "tickpath": "ItchHandler(BookStore(max_orders=1 << 22), batch=1 << 14).on_blocks("
                        "buf, 0, end, final=True) on the bytes in memory: decode + L3 books, "
                        "construction included",
            "hftbacktest": "per instrument: BacktestAsset (L3 FIFO queue model, no partial "
                           "fill exchange) + HashMapMarketDepthBacktest built, elapse(1 day) "
                           "in a compiled loop to the end of the data; summed over the "
                           "instruments. Its input rows were decoded (by tickpath) and "
                           "converted beforehand, untimed",
            "meatpy": "ITCH50MessageReader over a BytesIO of the prefix + one "
                      "ITCH50MarketProcessor per instrument",
        },
        "hftbacktest_row": {
            "instruments": len(per_inst),
            "itch_messages": inst_msgs,
            "hbt_rows": int(sum(r.shape[0] for r in per_inst.values())),
            "tickpath_msgs_per_s": med(tp),
            "hftbacktest_msgs_per_s": med(hb),
            "ratio": med(tp) / med(hb),
            "checked": f"best bid/ask of all {len(per_inst)} instruments, whole depth of "
                       f"stock locate {busiest}",
        },
        "meatpy_row": {
            "prefix_messages": p_msgs,
            "prefix_bytes": p_end,
            "tickpath_msgs_per_s": med(tp_pre),
            "meatpy_msgs_per_s": med(mp),
            "ratio": med(tp_pre) / med(mp),
            "checked": f"best bid/ask (price, shares, orders) of stock locate {busiest} "
                       f"after the prefix: {top}",
            "tickpath_construction_s": med(build),
            "note": "tickpath's time includes building the handler and its books "
                    "(tickpath_construction_s, timed apart), a large share of a short prefix",
        },
        "per_run": {"tickpath": tp, "hftbacktest": hb, "tickpath_prefix": tp_pre,
                    "meatpy": mp},
    }
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "peers_itch.json").write_text(json.dumps(result, indent=2))

    print(f"\n{total:,} messages, {args.symbols} instruments, median of {args.runs} runs, "
          "all from memory")
    print(f"{'':44}{'M msg/s':>10}{'tickpath x':>12}")
    print(f"{'tickpath decode + L3 books (whole day)':44}{med(tp) / 1e6:>10.2f}")
    print(f"{'hftbacktest ' + hbt.__version__ + ' L3 replay (decoded rows)':44}"
          f"{med(hb) / 1e6:>10.2f}{result['hftbacktest_row']['ratio']:>12.1f}")
    print(f"{f'tickpath, first {p_msgs:,} messages':44}{med(tp_pre) / 1e6:>10.2f}")
    print(f"{'MeatPy reader + processors, same prefix':44}{med(mp) / 1e6:>10.4f}"
          f"{result['meatpy_row']['ratio']:>12.0f}")
    print(f"hftbacktest: {len(per_inst)} instruments, {inst_msgs:,} of their ITCH messages "
          "(rate counts these), its rows decoded and converted beforehand (untimed).")
    print(f"MeatPy is compared with tickpath on the same first {p_msgs:,} messages, not the "
          f"whole day; tickpath's time includes building its books ({med(build) * 1e3:.0f} ms).")
    print(f"checked: best bid/ask of every instrument and the whole depth of stock locate "
          f"{busiest} (hftbacktest), best bid/ask of {busiest} after the prefix (MeatPy)")


if __name__ == "__main__":
    main()
