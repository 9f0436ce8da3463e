"""hftbacktest's side of bench/peers_itch.py. It runs in hftbacktest's own virtualenv
(out/bench/hftbacktest-venv, which peers_itch.py makes) and imports numpy and hftbacktest
only: hftbacktest 2.4.4 pins ``numpy<2.3``, which the project's virtualenv does not hold.

    out/bench/hftbacktest-venv/bin/python bench/peers_hbt_worker.py

It talks in JSON lines: requests on standard input, one answer line each on standard output
(anything else printed goes to standard error). On start it sends, unasked, ``{"hello": ...}``:
hftbacktest's, numpy's and Python's versions, the event flag values and the fields of
``event_dtype``, which the rows it is given must use. Requests:

* ``{"cmd": "load", "path": rows file, "detail": stock locate}``: reads the rows file that
  peers_itch.py wrote (``rows``: ``event_dtype`` rows grouped by instrument, feed order
  inside; ``locates``; ``starts``, one more than ``locates``; ``itch_messages``, the ITCH
  messages of each instrument), then runs the first rows of instrument ``detail`` up to its
  first add so compiled code is loaded before any timer. Answers the instruments, rows and
  ITCH messages it holds.
* ``{"cmd": "run"}``: one timed pass, as peers_itch.py's docstring says: per instrument,
  ``BacktestAsset`` + ``HashMapMarketDepthBacktest`` built and ``elapse(1 day)`` called in a
  compiled loop to the end of the data, ``time.perf_counter`` around each, garbage collector
  off, summed. Answers ``seconds``, ``msgs_per_s`` (ITCH messages of the instruments / seconds),
  ``bbo`` (every instrument's final best bid and ask as [price, shares] or null, by stock
  locate) and ``depth`` (every level of instrument ``detail``, ``{"bids": [[price, shares],
  ...], "asks": ...}``, best first).
* ``{"cmd": "quit"}`` or the end of standard input: exits.

A request that fails is answered ``{"error": message}``; the worker then waits for the next.
"""

from __future__ import annotations

import gc
import json
import os
import platform
import sys
import time
import traceback

import hftbacktest as hbt
import numpy as np
from hftbacktest.types import event_dtype
from numba import njit

DAY_NS = 86_400 * 10**9
FLAGS = ("EXCH_EVENT", "LOCAL_EVENT", "BUY_EVENT", "SELL_EVENT", "ADD_ORDER_EVENT",
         "CANCEL_ORDER_EVENT", "MODIFY_ORDER_EVENT", "FILL_EVENT")


@njit
def run_to_end(bt, step):
    while True:
        rc = bt.elapse(step)
        if rc != 0:
            return rc


def asset(rows: np.ndarray):
    # tick and lot size 1: prices and shares stay ITCH's integer units exactly
    return (hbt.BacktestAsset().data(rows).linear_asset(1.0).constant_order_latency(0, 0)
            .l3_fifo_queue_model().no_partial_fill_exchange()
            .trading_value_fee_model(0.0, 0.0).tick_size(1.0).lot_size(1.0))


def level(tick: int, qty: float, empty: int) -> list[int] | None:
    return None if tick == empty else [int(tick), int(qty)]


class Worker:
    def __init__(self) -> None:
        self.per_inst: dict[int, np.ndarray] = {}
        self.itch_messages = 0
        self.detail = -1

    def load(self, path: str, detail: int) -> dict:
        with np.load(path, allow_pickle=False) as f:
            rows, locates, starts = f["rows"], f["locates"], f["starts"]
            self.itch_messages = int(f["itch_messages"].sum())
        if rows.dtype != event_dtype:
            raise ValueError(f"{path}: rows of dtype {rows.dtype}, hftbacktest's event_dtype is "
                             f"{event_dtype}")
        self.per_inst = {int(loc): rows[a:b] for loc, a, b in
                         zip(locates, starts[:-1], starts[1:], strict=True)}
        self.detail = int(detail)
        first = self.per_inst[self.detail]
        adds = np.flatnonzero(first["ev"] & np.uint64(0xFF) == hbt.ADD_ORDER_EVENT)
        bt = hbt.HashMapMarketDepthBacktest([asset(first[:adds[0] + 1].copy())])
        run_to_end(bt, DAY_NS)
        bt.close()
        return {"instruments": len(self.per_inst), "rows": int(rows.shape[0]),
                "itch_messages": self.itch_messages}

    def run(self) -> dict:
        lo, hi = np.iinfo(np.int64).min, np.iinfo(np.int64).max
        total = 0.0
        bbo: dict[str, list] = {}
        depth: dict[str, list[list[int]]] = {}
        gc.collect()
        gc.disable()
        try:
            for loc, rows in self.per_inst.items():
                t0 = time.perf_counter()
                bt = hbt.HashMapMarketDepthBacktest([asset(rows)])
                rc = run_to_end(bt, DAY_NS)
                total += time.perf_counter() - t0
                if rc != 1:
                    raise RuntimeError(f"hftbacktest stopped with code {rc} on stock locate "
                                       f"{loc}, not at the end of the data (a row it refused)")
                d = bt.depth(0)
                bbo[str(loc)] = [level(d.best_bid_tick, d.best_bid_qty, lo),
                                 level(d.best_ask_tick, d.best_ask_qty, hi)]
                if loc == self.detail:
                    snap = d.snapshot()
                    buy = (snap["ev"] & np.uint64(hbt.BUY_EVENT)) != 0
                    bids = sorted(([int(p), int(q)] for p, q in
                                   zip(snap["px"][buy], snap["qty"][buy], strict=True)),
                                  reverse=True)
                    asks = sorted([int(p), int(q)] for p, q in
                                  zip(snap["px"][~buy], snap["qty"][~buy], strict=True))
                    d.snapshot_free(snap)
                    depth = {"bids": bids, "asks": asks}
                bt.close()
        finally:
            gc.enable()
        return {"seconds": total, "msgs_per_s": self.itch_messages / total, "bbo": bbo,
                "depth": depth}


def main() -> None:
    # answers go to the real standard output; stray prints (numba, hftbacktest) to stderr
    out = os.fdopen(os.dup(sys.stdout.fileno()), "w")
    os.dup2(sys.stderr.fileno(), sys.stdout.fileno())

    def send(obj: dict) -> None:
        out.write(json.dumps(obj) + "\n")
        out.flush()

    send({"hello": {
        "hftbacktest": hbt.__version__, "numpy": np.__version__,
        "python": platform.python_version(),
        "flags": {name: int(getattr(hbt, name)) for name in FLAGS},
        "event_dtype": [[name, event_dtype.fields[name][0].str, event_dtype.fields[name][1]]
                        for name in event_dtype.names],
        "itemsize": event_dtype.itemsize}})
    worker = Worker()
    for line in sys.stdin:
        try:
            req = json.loads(line)
            if req["cmd"] == "quit":
                return
            if req["cmd"] == "load":
                send(worker.load(req["path"], req["detail"]))
            elif req["cmd"] == "run":
                send(worker.run())
            else:
                raise ValueError(f"unknown request {req['cmd']!r}")
        except Exception as e:  # every failure goes back to the caller, which stops
            send({"error": f"{type(e).__name__}: {e}", "traceback": traceback.format_exc()})


if __name__ == "__main__":
    main()
