"""What a restart costs: rebuilding the order tables from the order journal
(:func:`tickpath.gateway.journal.recover`: read, CRC-check every record, replay it through the
order kernels), and the same journal with a new venue session at its end (the open orders of
the old session closed on replay), beside the time the file takes to read alone.

    PYTHONPATH=src .venv/bin/python bench/gateway_recover.py [--orders 100000] [--runs 5]

The journal holds a day of ``--orders`` orders, each an ENTER and the venue's Order Accepted,
every fourth one executed and every fourth canceled (about 3 records per order). Each row is
the median over ``--runs`` runs, with its ratio to the read alone.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from numba import njit

from tickpath.codec.ouch50 import OUT_DTYPE
from tickpath.gateway import journal as Jm
from tickpath.gateway import orders as K
from tickpath.gateway.layout import new_orders, new_positions, new_totals

CAPACITY = 1 << 18
INSTRUMENTS = 64


@njit(cache=True, nogil=True)
def _day(j, orders, positions, totals, rec, n):
    """Journal and apply ``n`` orders as the session does (journal first, then the kernel).
    Returns the last venue sequence number, or -1 if an append failed."""
    seq = 0
    for i in range(n):
        inst = i % INSTRUMENTS
        side = 66 if i % 2 == 0 else 83
        price = 1_000_000 + (i % 50) * 100
        ur = K.check_new(orders, positions, totals, inst, side, 100, price)
        if ur < 0 or Jm.journal_enter(j, ur, inst, 0x41, side, 100, price, 48, i, i) != 0:
            return -1
        K.order_new(orders, positions, totals, inst, 0x41, side, 100, price, 48, i, i)
        for t, qty in ((65, 100), (69, 40), (67, 60)):  # A, E, C
            if (t == 69 and i % 4 != 1) or (t == 67 and i % 4 != 2):
                continue
            seq += 1
            rec["type"], rec["user_ref_num"], rec["quantity"] = t, ur, qty
            rec["price"], rec["order_state"] = price, 76
            rec["order_reference_number"] = 10_000 + ur
            if Jm.journal_venue(j, seq, rec, i) != 0:
                return -1
            K.apply_outbound(rec, orders, positions, totals, i)
    return seq


def _tables():
    return new_orders(CAPACITY), new_positions(INSTRUMENTS), new_totals()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--orders", type=int, default=100_000)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--dir", default=tempfile.gettempdir())
    args = ap.parse_args()
    rows: dict[str, list[float]] = {}
    with tempfile.TemporaryDirectory(dir=args.dir) as d:
        day = Path(d) / "day.journal"
        rec = np.zeros(1, OUT_DTYPE)[0]
        with Jm.Journal(day, "never") as j:
            Jm.journal_session(j.arrays, Jm.session_field("DAY1"), 1, 0)
            if _day(j.arrays, *_tables(), rec, args.orders) < 0:
                raise SystemExit("the journal could not be written")
        new = Path(d) / "new-session.journal"
        new.write_bytes(day.read_bytes())
        with Jm.Journal(new, "never") as j:
            Jm.journal_session(j.arrays, Jm.session_field("DAY2"), 1, 1)
        records = day.stat().st_size // Jm.RECORD
        Jm.recover(day, *_tables())  # compile / load, and the page cache warm
        for _ in range(args.runs):
            t = time.perf_counter()
            day.read_bytes()
            rows.setdefault("read the file alone", []).append(time.perf_counter() - t)
            for name, path in (("recover (check + replay)", day),
                               ("recover, a new session at the end", new)):
                tables = _tables()
                t = time.perf_counter()
                got = Jm.recover(path, *tables)
                rows.setdefault(name, []).append(time.perf_counter() - t)
                assert got.records >= records
    print(f"order journal recovery, {args.orders:,} orders, {records:,} records "
          f"({records * Jm.RECORD / 1e6:.1f} MB) in {args.dir}, median of {args.runs} runs "
          f"({time.strftime('%Y-%m-%d')})")
    base = statistics.median(rows["read the file alone"])
    for name, got in rows.items():
        med = statistics.median(got)
        print(f"{name:36s} {med * 1e3:9.1f} ms {records / med / 1e6:7.1f} M records/s   "
              f"x{med / base:.1f} of the read")
    print("rows differ in what is done with the same bytes: read; read, checksum and replay; "
          "and the same with the open orders closed by a session change.")


if __name__ == "__main__":
    main()
