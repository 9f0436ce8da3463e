"""Cost of one pre-trade check: ``check_new_order`` (from our orders and fills, walking the
instrument's open orders) beside ``check_order`` (from the orders sent alone), both compiled.

    .venv/bin/python bench/risk_check.py [--orders 2000000] [--open 0,4,16,64] [--runs 7]

Each check runs in a jitted loop over ``--orders`` orders (buys and sells alternating, at
prices inside the collar, every one passing: the costliest path, every check reached); the
cost per order is the loop's time divided by the orders, the median of ``--runs`` runs. The
baseline, in the same run, is ``check_order`` on the same orders; rows differ in how many
open orders of ours the instrument has (resting away from the book, so no self-trade and no
duplicate is found: the walk goes to the end of the list). The garbage collector is off
while timing.
"""

from __future__ import annotations

import argparse
import gc
import statistics
import time

import numpy as np
from numba import njit

from tickpath.gateway.layout import Total, new_orders, new_positions, new_totals
from tickpath.risk import Reject, limits_array, new_rate, new_state
from tickpath.risk.check import check_order
from tickpath.risk.new_order import check_new_order

B, S = ord("B"), ord("S")
BID, ASK = 1_000_000, 1_000_200


@njit(cache=True, nogil=True)
def _loop_new(n, limits, orders, positions, totals, rate, control, counts):
    bad = 0
    for k in range(n):
        side = B if k & 1 else S
        price = BID if side == B else ASK
        bad += check_new_order(1, side, 100, price, BID, ASK, 1, k, limits, orders,
                               positions, totals, rate, control, counts) != 0
    return bad


@njit(cache=True, nogil=True)
def _loop_old(n, limits, position, rate, control, counts):
    bad = 0
    for k in range(n):
        side = B if k & 1 else S
        price = BID if side == B else ASK
        bad += check_order(side, 100, price, 1, BID, ASK, k, limits, position, rate, control,
                           counts) != 0
    return bad


def _tables(n_open: int):
    orders, positions, totals = new_orders(1024), new_positions(16), new_totals()
    p = positions[1]
    for k in range(n_open):  # resting far from the book on both sides
        slot = k + 1
        o = orders[slot]
        side = B if k & 1 else S
        o["user_ref"], o["instrument"], o["qty"], o["side"], o["state"] = (
            slot, 1, 10 + k, side, 2)
        o["price"] = BID - 10_000 - k if side == B else ASK + 10_000 + k
        o["next_open"], o["prev_open"] = p["open_head"], -1
        if p["open_head"] >= 0:
            orders[p["open_head"]]["prev_open"] = slot
        p["open_head"] = slot
        totals[Total.OPEN_NOTIONAL] += o["qty"] * o["price"]
    return orders, positions, totals


def _time(fn, runs: int, n: int) -> float:
    fn()  # compile / load from the cache
    out = []
    for _ in range(runs):
        t0 = time.perf_counter_ns()
        fn()
        out.append((time.perf_counter_ns() - t0) / n)
    return statistics.median(out)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--orders", type=int, default=2_000_000)
    ap.add_argument("--open", default="0,4,16,64")
    ap.add_argument("--runs", type=int, default=7)
    a = ap.parse_args()
    n = a.orders
    limits = limits_array(1000, 10**9, 1e12, 500, 10**9, max_open_notional=1e12,
                          max_total_open_notional=1e12, duplicate_window_us=0)
    control = np.zeros(16, np.int64)
    counts = np.zeros(len(Reject), np.int64)
    gc.collect()
    gc.disable()
    position, rate = new_state()
    base = _time(lambda: _loop_old(n, limits, position, rate, control, counts), a.runs, n)
    print(f"{'check':<34}{'open orders':>12}{'ns/order':>10}{'vs check_order':>16}")
    print(f"{'check_order (baseline)':<34}{'-':>12}{base:>10.1f}{1.0:>16.2f}")
    for n_open in (int(x) for x in a.open.split(",")):
        args = (n, limits, *_tables(n_open), new_rate(), control, counts)
        ns = _time(lambda args=args: _loop_new(*args), a.runs, n)
        print(f"{'check_new_order':<34}{n_open:>12}{ns:>10.1f}{ns / base:>16.2f}")
    assert counts[Reject.PASSED] == counts[Reject.CHECKED], "every order meant to pass"
    print("rows: the same orders, one compiled loop each; check_new_order also reads the "
          "gateway's tables and walks the instrument's open orders (none matching)")


if __name__ == "__main__":
    main()
