"""How far splitting the books by instrument across cores could take a replay: a measurement
for a design, not a feature of `tickpath replay` (yet).

    .venv/bin/python bench/books_partitioned.py [--messages 8000000] [--symbols 2000]
                                                [--parts 2] [--runs 5]

Messages of different instruments never touch the same book, so a day's books can be built by
``--parts`` threads at once, each scanning the whole file and applying only the messages of
its instruments (stock locate modulo parts) to books of its own; numba's kernels run without
the GIL, so the threads run on separate cores. Every thread still frames every block, and
references are the day's, so each keeps an order table of the day's size. Compared in the
same run with the one-thread fused pass that `tickpath replay` runs (``ItchHandler``), from
memory, alternating; the union of the threads' books must equal its books, level by level.
What a product version must add is listed in BENCHMARKS.md beside the figures.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import sys
import threading
import time
from pathlib import Path

import numpy as np
from numba import njit

sys.path.insert(0, str(Path(__file__).resolve().parent))
from replay_itch import sim_file  # noqa: E402  (the same day as bench/replay_itch.py)
from tickpath.book import BookStore  # noqa: E402
from tickpath.book.apply import OK as BOOK_OK  # noqa: E402
from tickpath.book.apply import apply_one, window_slot  # noqa: E402
from tickpath.book.blocks import frame_status, lookahead, prefetch_blocks  # noqa: E402
from tickpath.codec.itch50.decode import OK, be16, be64, decode_message  # noqa: E402
from tickpath.codec.itch50.layout import EVENT_DTYPE, LENGTHS  # noqa: E402
from tickpath.feed.itch import ItchHandler  # noqa: E402
from tickpath.ring.intrinsics import prefetch  # noqa: E402

_TWO = np.uint64(2)
_THREE = np.uint64(3)


@njit(cache=True, nogil=True, _nrt=False)
def apply_part(buf, start, end, lengths, scratch, orders, mask, levels, free, heads, stats,
               inst, symbols, type_counts, max_orders, parts, part):
    """The fused pass of ``book/blocks.py`` applying only the blocks whose stock locate is
    ``part`` modulo ``parts``. Returns ``(applied, status, offset)``; a status other than
    OK stops it (malformed block, or 100 + the books' refusal)."""
    p = np.uint64(start)
    e = np.uint64(end)
    ev = scratch[0]
    far, near = lookahead(buf, p, e)
    n = 0
    while p + _TWO <= e:
        far, near = prefetch_blocks(buf, far, near, e, orders, mask, levels, heads)
        fst, size = frame_status(buf, p, e, lengths)
        if fst != OK:
            return n, fst, p
        if be16(buf, p + _THREE) % parts == part:
            decode_message(buf, p + _TWO, ev)
            ev["offset"] = p + _TWO
            st = apply_one(ev, orders, mask, levels, free, heads, stats, inst, symbols,
                           max_orders)
            if st != BOOK_OK:
                return n, 100 + st, p
            type_counts[buf[p + _TWO]] += 1
            n += 1
        p += _TWO + size
    return n, OK, p


@njit(cache=True, nogil=True, _nrt=False)
def split_offsets(buf, start, end, lengths, parts, offs, counts):
    """Frame the blocks of ``buf[start:end]`` and note each one's offset in its part's row of
    ``offs`` (stock locate modulo ``parts``): the index the parts' threads walk. Returns
    ``(status, offset)``."""
    p = np.uint64(start)
    e = np.uint64(end)
    while p + _TWO <= e:
        fst, size = frame_status(buf, p, e, lengths)
        if fst != OK:
            return fst, p
        k = be16(buf, p + _THREE) % parts
        offs[k, counts[k]] = p
        counts[k] += 1
        p += _TWO + size
    return OK, p


@njit(cache=True, nogil=True, _nrt=False)
def apply_offsets(buf, offs, n, scratch, orders, mask, levels, free, heads, stats, inst,
                  symbols, type_counts, max_orders):
    """Apply the blocks at ``offs[:n]`` (framed already), prefetching the order slot of the
    one 16 ahead. Returns ``(applied, status)``."""
    ev = scratch[0]
    for i in range(n):
        f = i + 16
        if f < n:
            q = offs[f]
            if buf[q + _TWO] != 82 and q + np.uint64(21) <= buf.shape[0]:
                prefetch(orders, window_slot(be64(buf, q + np.uint64(13)), mask))
        p = offs[i]
        decode_message(buf, p + _TWO, ev)
        ev["offset"] = p + _TWO
        st = apply_one(ev, orders, mask, levels, free, heads, stats, inst, symbols,
                       max_orders)
        if st != BOOK_OK:
            return i, 100 + st
        type_counts[buf[p + _TWO]] += 1
    return n, OK


_INDEX: dict[str, np.ndarray] = {}


def indexed(buf: np.ndarray, parts: int) -> tuple[float, list[BookStore], int]:
    """The parts' threads walking an index of their blocks made by one framing pass first."""
    stores = [BookStore(max_orders=1 << 22, initial_orders=1 << 20) for _ in range(parts)]
    scratch = [np.zeros(1, EVENT_DTYPE) for _ in range(parts)]
    # the index, made (and its pages touched) once per size: outside the timer, as a replay
    # would keep it across chunks
    shape = (parts, buf.shape[0] // 12 + 1)
    if _INDEX.get("offs") is None or _INDEX["offs"].shape != shape:
        _INDEX["offs"] = np.zeros(shape, np.uint64)
    offs = _INDEX["offs"]
    counts = np.zeros(parts, np.int64)
    out: list[tuple[int, int]] = [(0, 0)] * parts

    def run(k: int) -> None:
        b = stores[k]
        out[k] = apply_offsets(buf, offs[k], counts[k], scratch[k], b.orders, b.mask,
                               b.levels, b.free, b.heads, b.stats_array, b.inst, b.symbols,
                               b.type_counts, b.capacity)

    gc.collect()
    t0 = time.perf_counter()
    st, p = split_offsets(buf, 0, buf.shape[0], LENGTHS, parts, offs, counts)
    if st != OK:
        raise SystemExit(f"framing stopped with status {st} at {p}")
    threads = [threading.Thread(target=run, args=(k,)) for k in range(parts)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    dt = time.perf_counter() - t0
    for _, st in out:
        if st != OK:
            raise SystemExit(f"a part stopped with status {st}")
    return dt, stores, sum(int(n) for n, _ in out)


def one_thread(buf: np.ndarray) -> tuple[float, ItchHandler]:
    h = ItchHandler(BookStore(max_orders=1 << 22), batch=1 << 14)
    gc.collect()
    t0 = time.perf_counter()
    h.on_blocks(buf, 0, buf.shape[0], final=True)
    return time.perf_counter() - t0, h


def partitioned(buf: np.ndarray, parts: int) -> tuple[float, list[BookStore], int]:
    stores = [BookStore(max_orders=1 << 22, initial_orders=1 << 20) for _ in range(parts)]
    scratch = [np.zeros(1, EVENT_DTYPE) for _ in range(parts)]
    out: list[tuple[int, int, int]] = [(0, 0, 0)] * parts

    def run(k: int) -> None:
        b = stores[k]
        out[k] = apply_part(buf, 0, buf.shape[0], LENGTHS, scratch[k], b.orders, b.mask,
                            b.levels, b.free, b.heads, b.stats_array, b.inst, b.symbols,
                            b.type_counts, b.capacity, parts, k)

    threads = [threading.Thread(target=run, args=(k,)) for k in range(parts)]
    gc.collect()
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    dt = time.perf_counter() - t0
    for _, st, p in out:
        if st != OK:
            raise SystemExit(f"a part stopped with status {st} at {p}")
    return dt, stores, sum(int(n) for n, _, _ in out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--messages", type=int, default=8_000_000)
    ap.add_argument("--symbols", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--parts", type=int, default=2)
    ap.add_argument("--runs", type=int, default=5)
    args = ap.parse_args()
    buf = np.fromfile(sim_file(args.messages, args.symbols, args.seed), np.uint8)
    for warm in (one_thread, lambda b: partitioned(b, args.parts),
                 lambda b: indexed(b, args.parts)):
        try:  # compile (or load) outside the timer; the prefix's last block is cut
            warm(buf[:200_000].copy())
        except (Exception, SystemExit):
            pass
    indexed(buf, args.parts)  # the day's index made and its pages touched, outside the timer
    single, split, index = [], [], []
    last: dict[int, list[BookStore]] = {}
    for i in range(args.runs):
        for which in ((0, 1, 2) if i % 2 == 0 else (2, 1, 0)):
            if which == 0:
                dt, h = one_thread(buf)
                single.append(h.messages / dt)
            else:
                dt, last[which], n = (partitioned if which == 1 else indexed)(buf, args.parts)
                (split if which == 1 else index).append(n / dt)
                if n != h.messages:  # (the first run measures one thread first)
                    raise SystemExit(f"the parts applied {n:,} messages, one thread "
                                     f"{h.messages:,}")
        print(f"run {i + 1}: one thread {single[-1] / 1e6:.2f}, {args.parts} parts "
              f"{split[-1] / 1e6:.2f}, indexed {index[-1] / 1e6:.2f} M msg/s", file=sys.stderr)
    want = list(h.books.books())
    for stores in last.values():  # the last run's books of each way, level by level
        got = sorted((bk for s in stores for bk in s.books()), key=lambda bk: bk["locate"])
        if got != want:
            raise SystemExit("the parts' books differ from the one thread's")
    med = statistics.median
    print(f"\n{args.messages:,} messages, {args.symbols} instruments, median of {args.runs}, "
          f"books equal")
    print(f"one thread (the fused pass)  {med(single) / 1e6:7.2f} M msg/s")
    print(f"{args.parts} threads by locate        {med(split) / 1e6:7.2f} M msg/s  "
          f"{med(split) / med(single):.2f}x")
    print(f"{args.parts} threads, indexed first   {med(index) / 1e6:7.2f} M msg/s  "
          f"{med(index) / med(single):.2f}x")


if __name__ == "__main__":
    main()
