"""What the Parquet tables of a replay must hold, built the plain way: the day applied one
message at a time through ``BookStore.apply`` and the books asked, in Python, after each
one (tests/parquet compares the compiled rows with it)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from tickpath.book import BookStore
from tickpath.codec.itch50 import EVENT_DTYPE, LENGTHS
from tickpath.codec.itch50.decode import OK, decode_batch

BOOK_TYPES = "AFECXDU"
TRADE_TYPES = "ECPQ"


@dataclass
class Reference:
    """What the tables must hold, from the plain path: ``top`` rows (time, locate, bid, bid
    shares, ask, ask shares, offset: 0 for an empty side), ``events`` rows (offset, type,
    side, price, shares) with the side, price and shares the books knew before each
    message, ``trades`` rows (offset, locate, type, price, shares, resting side,
    printable), and the books at the end."""

    top: list[tuple[int, ...]]
    events: list[tuple[int, ...]]
    trades: list[tuple[int, ...]]
    books: BookStore


def reference(path: Path) -> Reference:
    """Apply the file's messages one at a time through :meth:`BookStore.apply` (the books'
    own kernel) and note, in Python, every row the Parquet tables must have."""
    buf = np.fromfile(path, np.uint8)
    events = np.zeros(buf.size // 14 + 1, EVENT_DTYPE)
    n, st, _ = decode_batch(buf, 0, buf.size, LENGTHS, events, 0, 0)
    assert st == OK
    books = BookStore(max_orders=1 << 16, errors="skip")
    last: dict[int, tuple[int, int, int, int]] = {}
    top, evs, trades = [], [], []
    for k in range(n):
        ev = events[k]
        t = chr(int(ev["type"]))
        loc = int(ev["locate"])
        before = books.order(int(ev["ref"])) if t in "ECXDU" else None
        if books.apply(events, k + 1, k) != 1:
            continue  # refused: no row anywhere
        off = int(ev["offset"])
        if t in TRADE_TYPES:
            if t in "EC":
                side = ord(before["side"])
                price = before["price"] if t == "E" else int(ev["price"])
                printable = t == "E" or int(ev["flag"]) == ord("Y")
            else:
                side = int(ev["side"]) if t == "P" else 0
                price, printable = int(ev["price"]), True
            trades.append((off, loc, t, price, int(ev["shares"]), side, printable))
        if t not in BOOK_TYPES:
            continue
        if t in "AF":
            evs.append((off, t, int(ev["side"]), int(ev["price"]), int(ev["shares"])))
        else:
            price = int(ev["price"]) if t in "CU" else before["price"]
            shares = before["shares"] if t == "D" else int(ev["shares"])
            evs.append((off, t, ord(before["side"]), price, shares))
        b, a = books.bbo(loc)
        now = (b[0] if b else 0, b[1] if b else 0, a[0] if a else 0, a[1] if a else 0)
        if last.get(loc, (0, 0, 0, 0)) != now:
            last[loc] = now
            top.append((int(ev["timestamp"]), loc, *now, off))
    return Reference(top, evs, trades, books)
