"""A plain-Python LOBSTER day: random message streams and the orderbook rows they give,
computed by an obvious dict-of-orders book, written as LOBSTER's two CSV files.

Independent of tickpath's books: this is what the LOBSTER replay is checked against. Facts of
the format (columns, codes, empty-level prices) follow LOBSTER's readme, as in
``tickpath.codec.lobster.layout``; they are restated here on purpose.
"""

from __future__ import annotations

import random
from pathlib import Path

EMPTY_ASK, EMPTY_BID = 9_999_999_999, -9_999_999_999


class ReferenceBook:
    """Orders by id: [direction (1 buy, -1 sell), price, size]; levels summed on demand."""

    def __init__(self) -> None:
        self.orders: dict[int, list[int]] = {}

    def side(self, direction: int) -> list[tuple[int, int]]:
        lv: dict[int, int] = {}
        for d, p, s in self.orders.values():
            if d == direction:
                lv[p] = lv.get(p, 0) + s
        return sorted(lv.items(), reverse=direction == 1)

    def row(self, levels: int) -> list[int]:
        asks, bids = self.side(-1), self.side(1)
        out: list[int] = []
        for j in range(levels):
            out += list(asks[j]) if j < len(asks) else [EMPTY_ASK, 0]
            out += list(bids[j]) if j < len(bids) else [EMPTY_BID, 0]
        return out


def random_day(seed: int, n: int, levels: int = 5, initial: int = 20, tick: int = 100,
               mid: int = 1_000_000
               ) -> tuple[list[tuple], list[list[int]], ReferenceBook]:
    """``n`` LOBSTER rows on a book that starts with ``initial`` orders the file never shows.

    Only the events that change the top ``levels`` levels are written (as LOBSTER does: its
    message file holds the events inside the requested price range), and every hidden
    execution, cross and halt. Returns (message rows, orderbook rows, the final book)."""
    rng = random.Random(seed)
    book = ReferenceBook()
    for i in range(initial):
        d = rng.choice((1, -1))
        book.orders[1 + i] = [d, mid - d * tick * rng.randint(1, 3 * levels), rng.randint(1, 900)]
    next_id = 10_000
    msgs: list[tuple] = []
    rows: list[list[int]] = []
    t = 34_200.0
    while len(msgs) < n:
        t += rng.randint(1, 10**6) / 1e9
        before = book.row(levels)
        live = list(book.orders)
        u = rng.random()
        if u < 0.40 or not live:
            d = rng.choice((1, -1))
            other = book.side(-d)
            ref = other[0][0] if other else mid
            price = ref - d * tick * rng.randint(1, 3 * levels)
            size = rng.randint(1, 900)
            book.orders[next_id] = [d, price, size]
            m = (1, next_id, size, price, d)
            next_id += 1
        elif u < 0.55:
            oid = rng.choice(live)
            d, price, size = book.orders[oid]
            if size < 2:
                continue
            part = rng.randint(1, size - 1)
            book.orders[oid][2] -= part
            m = (2, oid, part, price, d)
        elif u < 0.75:
            oid = rng.choice(live)
            d, price, size = book.orders.pop(oid)
            m = (3, oid, size, price, d)
        elif u < 0.92:
            d = rng.choice((1, -1))
            lv = book.side(d)
            if not lv:
                continue
            best = lv[0][0]
            oid = next(i for i, o in book.orders.items() if o[0] == d and o[1] == best)
            size = book.orders[oid][2]
            ex = rng.randint(1, size)
            if ex == size:
                del book.orders[oid]
            else:
                book.orders[oid][2] -= ex
            m = (4, oid, ex, best, d)
        elif u < 0.97:
            m = (5, 0, rng.randint(1, 300), mid + tick * rng.randint(-5, 5), rng.choice((1, -1)))
        elif u < 0.99:
            m = (6, 0, rng.randint(100, 5000), mid, -1)
        else:
            m = (7, 0, 0, rng.choice((-1, 0, 1)), -1)
        after = book.row(levels)
        if m[0] <= 4 and after == before:
            continue  # below the window: LOBSTER writes no message
        msgs.append((f"{t:.9f}",) + m)
        rows.append(after)
    return msgs, rows, book


def write_pair(folder: Path, msgs: list[tuple], rows: list[list[int]], levels: int,
               ticker: str = "TEST") -> tuple[Path, Path]:
    """The two files, named as LOBSTER names them."""
    stem = f"{ticker}_2012-06-21_34200000_57600000"
    mp = folder / f"{stem}_message_{levels}.csv"
    op = folder / f"{stem}_orderbook_{levels}.csv"
    mp.write_text("".join(",".join(str(x) for x in m) + "\n" for m in msgs))
    op.write_text("".join(",".join(str(x) for x in r) + "\n" for r in rows))
    return mp, op
