"""One measurement of bench/books_ab.py, in the process of one source tree (PYTHONPATH).

    python bench/books_ab_worker.py FILE decode|books

Uses only the API every tree since the foundation shares (ItchHandler, BookStore,
decode_batch), so an older commit is measured the same way. Prints one JSON line.
"""

from __future__ import annotations

import gc
import hashlib
import json
import resource
import sys
import time

import numpy as np

from replay_itch import decode_only as _decode_all  # bench/, the script's own directory
from tickpath.book import BookStore
from tickpath.codec.itch50 import EVENT_DTYPE
from tickpath.feed.itch import ItchHandler

EVENTS = np.zeros(1 << 14, EVENT_DTYPE)

# the counters every tree keeps (a newer tree may add its own)
KEEP = ("live_orders", "live_levels", "adds", "executions", "cancels", "deletes", "replaces",
        "rejected", "max_live_orders", "max_live_levels", "events")


def decode_only(buf: np.ndarray) -> int:
    return _decode_all(buf, EVENTS)


def books(buf: np.ndarray) -> ItchHandler:
    h = ItchHandler(BookStore(max_orders=1 << 22), batch=1 << 14)
    h.on_blocks(buf, 0, buf.shape[0], final=True)
    return h


def digest(store: BookStore) -> str:
    """Every book's every level and the shared counters, hashed: the trees must agree."""
    st = store.stats()
    text = json.dumps([list(store.books()), {k: st[k] for k in KEEP}])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def main() -> None:
    path, what = sys.argv[1], sys.argv[2]
    buf = np.fromfile(path, np.uint8)
    fn = decode_only if what == "decode" else books
    try:  # load the compiled code outside the timer (a prefix: its last block is cut)
        fn(buf[:200_000])
    except Exception:
        pass
    gc.collect()
    gc.disable()
    t0 = time.perf_counter()
    out = fn(buf)
    dt = time.perf_counter() - t0
    if isinstance(out, ItchHandler):
        n, check = out.messages, digest(out.books)
    else:
        n, check = out, ""
    print(json.dumps({"messages": n, "seconds": dt, "books": check,
                      "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))


if __name__ == "__main__":
    main()
