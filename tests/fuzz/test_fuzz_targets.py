"""A short, deterministic run of each fuzz target in bench/fuzz/ (hypothesis drives the same
``one_input`` that atheris drives in ``bench/fuzz.py``), and checks that the invariants the
targets rely on do catch what they are meant to catch."""

from __future__ import annotations

import importlib
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT / "bench" / "fuzz"))

from tickpath.book import BookStore  # noqa: E402
from tickpath.codec.itch50.message import encode  # noqa: E402

TARGETS = ("framer", "decoder", "mold", "book")
SHORT = settings(max_examples=300, deadline=None, derandomize=True, database=None,
                 suppress_health_check=[HealthCheck.too_slow])


def target(name: str):
    mod = importlib.import_module(f"fuzz_{name}")
    mod.setup()
    return mod


@pytest.mark.parametrize("name", TARGETS)
def test_target_holds_on_its_seeds(name):
    mod = target(name)
    for data in (b"", b"\x00", b"\x01" * 64, bytes(range(256)), b"\xff" * 300):
        mod.one_input(data)


@pytest.mark.parametrize("name", TARGETS)
def test_target_short_run(name):
    mod = target(name)

    @SHORT
    @given(st.binary(max_size=600))
    def run(data: bytes) -> None:
        mod.one_input(data)

    run()


def _book_events(mod, spec: bytes) -> tuple[np.ndarray, int]:
    events = np.zeros(16, mod.EVENT_DTYPE)
    n = mod.build_events(np.frombuffer(spec, np.uint8), 0, events, mod._TYPES, mod.REFS,
                         mod.LOCS, mod._SIDES, mod._SHARES, mod._PRICES)
    return events, int(n)


def _run_book(mod, events: np.ndarray, n: int) -> tuple[int, int]:
    b = mod._B
    v, k = mod.run_events(events, n, b.orders, np.int64(mod.SLOTS - 1), b.levels, b.free,
                          b.heads, b.stats, b.inst, b.symbols, b.type_counts,
                          np.int64(mod.MAX_ORDERS), mod.LOCS)
    return int(v), int(k)


def test_book_target_is_not_vacuous():
    """The harness reports books broken behind the kernels' back, and counts crossing."""
    mod = target("book")
    b = mod._B
    mod.reset(b.orders, b.levels, b.free, b.heads, b.stats, b.inst, b.symbols, b.type_counts,
              mod.LOCS)
    # byte 0: type 'A'; 1: ref index; 3: locate index (high nibble) and side index (mod 6);
    # 4: shares index (mod 6) and price index (high nibble). 18: locate 1, 'B'; 19: 'S'
    add_bid = bytes([0, 0, 0, 18, 0, 0])
    events, n = _book_events(mod, add_bid)
    assert (chr(int(events[0]["type"])), int(events[0]["locate"])) == ("A", 1)
    assert _run_book(mod, events, n) == (mod.FINE, 1)
    assert int(b.stats[0]) == 1  # the order is live
    # an ask below the bid (side index 1 'S', price index 2: 99): accepted, counted crossed
    events, n = _book_events(mod, bytes([0, 1, 0, 19, 0x20, 0]))
    assert _run_book(mod, events, n) == (mod.FINE, 1)
    assert int(b.inst[1, 2]) == 1  # PerInstrument.CROSSED
    # now break a level behind the kernels' back: the next accepted event is reported
    b.levels[int(b.heads[1, 0])]["shares"] += 7
    events, n = _book_events(mod, bytes([0, 2, 0, 18, 0, 0]))
    assert _run_book(mod, events, n) == (mod.INCONSISTENT, 0)


def test_check_books_names_a_broken_level():
    store = BookStore(max_orders=16, initial_orders=16)
    msgs = [encode("A", stock_locate=1, order_reference_number=r, buy_sell_indicator="B",
                   shares=10, stock="AAPL", price=100 + r) for r in (1, 2, 3)]
    raw = np.frombuffer(b"".join(len(m).to_bytes(2, "big") + m for m in msgs), np.uint8)
    from tickpath.feed.itch import ItchHandler

    ItchHandler(store).on_blocks(raw, 0, raw.size, final=True)
    store.check()
    lvl = int(store.heads[1, 0])
    store.levels[lvl]["shares"] += 1
    with pytest.raises(AssertionError, match="shares or order count"):
        store.check()
    store.levels[lvl]["shares"] -= 1
    store.check()
    # a crossing ask: counted and reported now
    ItchHandler(store).on_blocks(*_one(encode(
        "A", stock_locate=1, order_reference_number=9, buy_sell_indicator="S", shares=1,
        stock="AAPL", price=102)), final=True)
    assert store.crossed() == {1: "crossed"} and store.stats()["crossed_updates"] == 1
    store.check()


def _one(msg: bytes) -> tuple[np.ndarray, int, int]:
    raw = np.frombuffer(len(msg).to_bytes(2, "big") + msg, np.uint8)
    return raw, 0, raw.size


def test_bench_runner_with_atheris():
    pytest.importorskip("atheris")
    r = subprocess.run([sys.executable, str(ROOT / "bench" / "fuzz.py"), "--target", "book",
                        "--runs", "2000", "--seed", "3"], capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr[-2000:]
    assert '"inputs": 2000' in r.stdout
