"""``RowBuffers`` and the row kernel at their edges: tables that grow mid-batch, row arrays
much smaller than a batch, refused messages (no row anywhere, books untouched), and the
kernel as plain Python (NUMBA_DISABLE_JIT=1)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from reference.parquet_rows import reference
from tickpath import Simulator
from tickpath.book import BookStore
from tickpath.book.row_buffers import RowBuffers
from tickpath.codec.itch50.message import encode
from tickpath.feed.itch import ItchHandler

TABLES = ("events", "top", "trades")


@pytest.fixture(scope="module")
def small_day(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("small") / "small.itch"
    Simulator(symbols=6, messages=3000, seed=4).write(path)
    return path


def _collect(handler: ItchHandler, data: np.ndarray, rows: int) -> dict[str, np.ndarray]:
    got: dict[str, list[np.ndarray]] = {t: [] for t in TABLES}
    rb = RowBuffers(TABLES, lambda name, r, done: (got[name].append(r.copy()), done()),
                    rows=rows, spare=1)
    handler.rows = rb
    handler.on_blocks(data, 0, data.shape[0], final=True)
    rb.flush()
    return {t: np.concatenate(v) if v else np.zeros(0) for t, v in got.items()}


def test_growth_and_tiny_arrays_change_no_row(small_day):
    data = np.fromfile(small_day, np.uint8)
    roomy = _collect(ItchHandler(BookStore(max_orders=1 << 14)), data, 1 << 16)
    tight = ItchHandler(BookStore(max_orders=1 << 14, initial_orders=4), batch=64)
    cramped = _collect(tight, data, 7)  # the order table and level pool grow 7-8 times
    assert tight.books.capacity > 4
    for t in TABLES:  # field by field (the records' padding bytes are nobody's)
        assert cramped[t].shape == roomy[t].shape and cramped[t].size > 0, t
        for f in roomy[t].dtype.names:
            assert np.array_equal(cramped[t][f], roomy[t][f]), (t, f)
    ref = reference(small_day)
    top = cramped["top"]
    assert list(zip(top["time_ns"].tolist(), top["locate"].tolist(),
                    top["bid_price"].tolist(), top["bid_shares"].tolist(),
                    top["ask_price"].tolist(), top["ask_shares"].tolist(),
                    top["offset"].tolist(), strict=True)) == ref.top
    tight.books.check()


def _blocks(*msgs: bytes) -> np.ndarray:
    return np.frombuffer(b"".join(len(m).to_bytes(2, "big") + m for m in msgs), np.uint8)


def test_refused_messages_write_no_row():
    data = _blocks(
        encode("R", stock_locate=3, stock="ABC"),
        encode("A", stock_locate=3, order_reference_number=1, buy_sell_indicator="B",
               shares=100, stock="ABC", price=10_000),
        encode("E", stock_locate=3, order_reference_number=99, executed_shares=5,
               match_number=1),  # unknown order: refused
        encode("E", stock_locate=3, order_reference_number=1, executed_shares=500,
               match_number=2),  # more than the order has: refused
        encode("E", stock_locate=3, order_reference_number=1, executed_shares=40,
               match_number=3),
        encode("D", stock_locate=3, order_reference_number=1),
    )
    handler = ItchHandler(BookStore(max_orders=64, errors="skip"), errors="skip")
    got = _collect(handler, data, 16)
    assert handler.books.stats()["rejected"] == 2
    ev = got["events"]
    assert [chr(t) for t in ev["type"]] == ["A", "E", "D"]
    assert ev["shares"].tolist() == [100, 40, 60]  # the delete took the 60 left
    assert ev["price"].tolist() == [10_000] * 3 and set(ev["side"]) == {ord("B")}
    tr = got["trades"]
    assert tr["match"].tolist() == [3] and tr["resting_side"].tolist() == [ord("B")]
    top = got["top"]
    assert top[["bid_price", "bid_shares"]].tolist() == [(10_000, 100), (10_000, 60), (0, 0)]
    assert len(handler.rows.directory) == 1 and handler.rows.directory[0].shape == (1, 39)


def test_the_row_kernel_runs_as_plain_python():
    here = Path(__file__).resolve()
    env = dict(os.environ, NUMBA_DISABLE_JIT="1")
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:cacheprovider",
         "-W", "ignore::RuntimeWarning", f"{here}::test_growth_and_tiny_arrays_change_no_row",
         f"{here}::test_refused_messages_write_no_row"],
        env=env, capture_output=True, text=True, timeout=300, cwd=here.parents[2])
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    assert "2 passed" in proc.stdout


@pytest.mark.parametrize(("kw", "says"), [({"rows": 0}, "rows"), ({"spare": 0}, "spare"),
                                          ({"tables": ["quotes"]}, "unknown row tables")])
def test_settings_that_cannot_work_are_refused(kw, says):
    args = {"tables": TABLES, "sink": lambda name, r, done: done()} | kw
    with pytest.raises(ValueError, match=says):
        RowBuffers(**args)
