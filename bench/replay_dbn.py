"""DBN MBO replay: tickpath's books vs databento-dbn's own decoder, records per second.

A synthetic MBO day (``--records``, default 2.5 M, over ``--instruments`` instruments) is
built once with databento-dbn's record classes (``MBOMsg`` -> bytes, ``Metadata.encode``)
and cached under ``out/bench/`` as ``.dbn`` and ``.dbn.zst``. Then, median of ``--runs``:

* tickpath ``replay_dbn`` into order-by-order books, from the zstd file and the plain one;
* tickpath's reader alone (decompress, view the records as arrays, no books);
* databento-dbn's ``DBNDecoder`` decoding the same bytes to its record objects, zstd and
  plain (the baseline: what a Python user of the format's reader gets, no books).

Every row reads the same file from the page cache in the same process, compiled code warmed
up before timing, the garbage collector frozen and off. Prints a table and the ratios.
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import statistics
import time
from pathlib import Path

import databento_dbn as dbn
import zstandard

from tickpath.apps.dbn_replay import replay_dbn
from tickpath.codec.dbn import DbnReader

OUT = Path(__file__).resolve().parents[1] / "out" / "bench"
PX = 1_000_000_000


def make_day(records: int, instruments: int, seed: int = 7) -> list[bytes]:
    """A stream of valid MBO events: adds, partial and full cancels, modifies (some keep
    their place), trades with their fill and cancel. Each book holds about 100 to 200 orders
    (cancels grow likelier as it fills), at prices that thin out away from a per-instrument
    mid (a tick off it with odds 1/6, ten ticks 1/25, forty at most), as real books do."""
    rng = random.Random(seed)
    live: list[dict[int, tuple[str, int, int]]] = [{} for _ in range(instruments)]
    mids = [rng.randint(1000, 5000) for _ in range(instruments)]
    out: list[bytes] = []
    oid = 1
    t = 1_767_600_000_000_000_000

    def rec(i, o, px, sz, a, s, flags=dbn.F_LAST):
        return bytes(dbn.MBOMsg(publisher_id=1, instrument_id=1000 + i, ts_event=t, order_id=o,
                                price=px * PX // 4, size=sz, action=dbn.Action(a),
                                side=dbn.Side(s), ts_recv=t + 500, flags=flags,
                                sequence=len(out)))

    while len(out) < records:
        i = rng.randrange(instruments)
        book = live[i]
        t += rng.randint(100, 5000)
        r = rng.random()
        if r < 0.45 - (len(book) - 100) / 400 or len(book) < 20:
            side = "B" if rng.random() < 0.5 else "A"
            off = min(40, 1 + int(rng.expovariate(1 / 5)))
            px = mids[i] - off if side == "B" else mids[i] + off
            sz = rng.randint(1, 50)
            book[oid] = (side, px, sz)
            out.append(rec(i, oid, px, sz, "A", side))
            oid += 1
            continue
        o = next(iter(book)) if rng.random() < 0.5 else rng.choice(list(book))
        side, px, sz = book[o]
        if r < 0.80:
            cut = sz if rng.random() < 0.7 else rng.randint(1, sz)
            out.append(rec(i, o, px, cut, "C", side))
            if cut == sz:
                del book[o]
            else:
                book[o] = (side, px, sz - cut)
        elif r < 0.93:
            npx = px + rng.choice((0, 0, -1, 1))
            nsz = max(1, sz + rng.choice((-2, -1, 1, 5)))
            book[o] = (side, npx, nsz)
            out.append(rec(i, o, npx, nsz, "M", side))
        else:
            agg = "A" if side == "B" else "B"
            out.append(rec(i, 0, px, sz, "T", agg, 0))
            out.append(rec(i, o, px, sz, "F", side, 0))
            out.append(rec(i, o, px, sz, "C", side))
            del book[o]
    return out[:records]


def files(records: int, instruments: int) -> tuple[Path, Path]:
    OUT.mkdir(parents=True, exist_ok=True)
    plain = OUT / f"mbo_{records}_{instruments}_v2.dbn"
    packed = plain.with_suffix(".dbn.zst")
    if not (plain.exists() and packed.exists()):
        t0 = time.perf_counter()
        md = dbn.Metadata(dataset="GLBX.MDP3", start=1_767_600_000_000_000_000,
                          stype_in=dbn.SType.RAW_SYMBOL, stype_out=dbn.SType.INSTRUMENT_ID,
                          schema=dbn.Schema.MBO, symbols=[], partial=[], not_found=[],
                          mappings=[])
        data = bytes(md.encode()) + b"".join(make_day(records, instruments))
        tmp = plain.with_suffix(".tmp")
        tmp.write_bytes(data)
        os.replace(tmp, plain)
        tmp.write_bytes(zstandard.ZstdCompressor(level=3).compress(data))
        os.replace(tmp, packed)
        print(f"built {plain.name} ({len(data) / 1e6:.0f} MB) and {packed.name} "
              f"({packed.stat().st_size / 1e6:.0f} MB) in {time.perf_counter() - t0:.0f} s")
    return plain, packed


def run_tickpath(path: Path) -> int:
    _, rep, _ = replay_dbn(path, max_orders=1 << 22, max_instruments=1 << 14)
    assert rep.counters["refused"] == 0
    return rep.records


def run_reader(path: Path) -> int:
    n = 0
    with DbnReader(path) as r:
        rtype, dt = r.record_dtype("mbo")
        for b in r.batches(rtype, dt):
            n += b.records.shape[0]
    return n


def run_dbn(path: Path) -> int:
    zst = path.name.endswith(".zst")
    dec = dbn.DBNDecoder(compression=dbn.Compression.ZSTD if zst else dbn.Compression.NONE)
    n = 0
    with open(path, "rb") as f:
        while chunk := f.read(8 << 20):
            n += len(dec.write_and_decode(chunk))  # the record objects, made and dropped
    return n - 1  # the metadata comes out first


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=2_500_000)
    ap.add_argument("--instruments", type=int, default=500)
    ap.add_argument("--runs", type=int, default=5)
    a = ap.parse_args()
    plain, packed = files(a.records, a.instruments)
    rows = [("tickpath replay_dbn -> order books", "zstd", run_tickpath, packed),
            ("tickpath replay_dbn -> order books", "plain", run_tickpath, plain),
            ("tickpath reader only (arrays, no books)", "zstd", run_reader, packed),
            ("databento-dbn DBNDecoder -> record objects", "zstd", run_dbn, packed),
            ("databento-dbn DBNDecoder -> record objects", "plain", run_dbn, plain)]
    for _, _, fn, path in rows:  # warm up: compile, page cache
        fn(path)
    gc.collect()
    gc.freeze()
    gc.disable()
    print(f"load average before: {os.getloadavg()}")
    results = {}
    for name, kind, fn, path in rows:
        rates = []
        for _ in range(a.runs):
            t0 = time.perf_counter()
            n = fn(path)
            rates.append(n / (time.perf_counter() - t0))
        assert n == a.records, (name, n)
        results[(name, kind)] = statistics.median(rates)
    print(f"load average after: {os.getloadavg()}")
    base = results[("databento-dbn DBNDecoder -> record objects", "zstd")]
    print(f"{a.records:,} MBO records, {a.instruments} instruments; median of {a.runs} runs")
    print(f"{'':46} {'file':6} {'M records/s':>12} {'vs databento-dbn zstd':>22}")
    for (name, kind), r in results.items():
        print(f"{name:46} {kind:6} {r / 1e6:12.2f} {r / base:21.2f}x")


if __name__ == "__main__":
    main()
