"""The strategy interface: callbacks dispatched by the state's type (two strategies in one
process), default no-ops, the intents' layout and rows, the loader's errors, and the on-disk
cache of a loop over the generic callbacks in a new process."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from numba import njit
from strategy_cases import book_record, code, trade_record

from tickpath.gateway.orders import find, order_new
from tickpath.strategy import market_maker as mm
from tickpath.strategy.api import implements, on_timer
from tickpath.strategy.context import (
    cancel,
    cancel_all,
    new_context,
    place,
    replace,
)
from tickpath.strategy.dispatch import handle_record, tick_timer
from tickpath.strategy.layout import INTENT_DTYPE, Action, CtxWord
from tickpath.strategy.loader import StrategyError, load_strategy

HERE = Path(__file__).resolve().parent
SRC = HERE.parents[1] / "src"


@njit(cache=True, nogil=True)
def _feed(strategy, ctx, words):
    """A loop over records calling the generic callbacks (as a stage's loop does)."""
    for k in range(words.shape[0]):
        handle_record(strategy, ctx, words[k], np.int64(0), 1_000 + k)  # (not a literal 0:
        # that would compile handle_record once more for each state)


def test_two_strategy_types_dispatch_in_one_process():
    _, counting = load_strategy("counting_strategy")
    _, maker = load_strategy("market_maker", {"edge": 100, "size": 10})
    recs = np.stack([book_record(7, 100_000, 100, 100_200, 100),
                     trade_record(7, 100_000, 30, "S")])
    ctx_a, ctx_b = new_context(), new_context()
    _feed(counting, ctx_a, recs)
    _feed(maker, ctx_b, recs)
    # the counting strategy counted (one book, 30 traded shares) and asked for nothing
    assert list(counting.calls[:2]) == [1, 30] and counting.last[0] == 7
    assert ctx_a.words[CtxWord.INTENTS] == 0
    # the maker has no on_trade (a no-op) and quoted on the book: two places
    got = ctx_b.intents[:ctx_b.words[CtxWord.INTENTS]]
    assert list(got["action"]) == [Action.PLACE] * 2
    # the context learnt the book from the record either way
    assert ctx_a.top[7, 0] == ctx_b.top[7, 0] == 100_000


def test_a_callback_must_take_the_generic_s_argument_names():
    from collections import namedtuple

    S = namedtuple("S", ["x"])
    with pytest.raises(TypeError, match=r"must take \(strategy, ctx, now_ns\)"):
        @implements(on_timer, S)
        def _t(s, ctx, now):  # noqa: ARG001
            pass
    with pytest.raises(TypeError, match="not a strategy callback"):
        implements(print, S)


def test_the_timer_runs_every_interval_of_the_strategy_s_clock():
    _, counting = load_strategy("counting_strategy")
    ctx = new_context(timer_ns=100)
    fired = [bool(tick_timer(counting, ctx, t)) for t in (0, 50, 100, 150, 260, 270)]
    assert fired == [True, False, True, False, True, False]
    ctx0 = new_context()
    assert not tick_timer(counting, ctx0, 10**9)  # no interval: never


def test_intents_layout_and_rows():
    assert INTENT_DTYPE.names == ("action", "instrument", "symbol", "side", "qty", "price",
                                  "tif", "slot", "trigger", "result")
    assert all(INTENT_DTYPE[n] == np.int64 for n in INTENT_DTYPE.names)
    ctx = new_context(max_intents=4)
    ctx.symbols[5] = code("ABCD")
    ur = order_new(ctx.orders, ctx.positions, ctx.totals, 5, code("ABCD"), ord("B"), 100,
                   99_900, 48, 11, 0)
    slot = find(ctx.orders, ur)
    assert place(ctx, 5, ord("S"), 200, 100_300, 48, 42) == 0
    assert cancel(ctx, slot) == 1
    assert replace(ctx, slot, 50, 99_800) == 2
    assert cancel_all(ctx, -1) == 3
    assert place(ctx, 5, ord("S"), 1, 1, 48, 0) == -1  # full: refused and counted
    assert ctx.words[CtxWord.INTENTS_LOST] == 1
    rows = ctx.intents
    assert list(rows["action"]) == [Action.PLACE, Action.CANCEL, Action.REPLACE,
                                    Action.CANCEL_ALL]
    assert (rows[0]["instrument"], rows[0]["symbol"], rows[0]["side"], rows[0]["qty"],
            rows[0]["price"], rows[0]["tif"], rows[0]["trigger"]) == (
        5, code("ABCD"), ord("S"), 200, 100_300, 48, 42)
    assert rows[1]["slot"] == rows[2]["slot"] == slot and rows[1]["side"] == ord("B")
    assert (rows[2]["qty"], rows[2]["price"]) == (50, 99_800)
    assert rows[3]["instrument"] == -1


def test_the_loader_says_what_is_wrong(tmp_path, monkeypatch):
    with pytest.raises(StrategyError, match="no module named 'nopkg.nostrat'"):
        load_strategy("nopkg.nostrat")
    (tmp_path / "nonew.py").write_text("X = 1\n")
    (tmp_path / "broken.py").write_text("raise RuntimeError('boom')\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(StrategyError, match=r"'nonew' has no new\(params, ctx_info\)"):
        load_strategy("nonew")
    with pytest.raises(StrategyError, match="importing 'broken' failed: RuntimeError: boom"):
        load_strategy("broken")
    with pytest.raises(StrategyError, match="bad params .*bad is not a parameter"):
        load_strategy("counting_strategy", {"bad": 1})
    with pytest.raises(StrategyError, match="unknown market maker parameter.*edgy"):
        load_strategy("market_maker", {"edgy": 1})
    with pytest.raises(StrategyError, match="size = 0: must be > 0"):
        load_strategy("tickpath.strategy.market_maker", {"size": 0})
    mod, state = load_strategy("observe", {"edge": 1})
    assert mod.__name__ == "tickpath.strategy.observe" and isinstance(state, tuple)
    assert isinstance(load_strategy("market_maker")[1], mm.MarketMakerState)


_CACHE_PROBE = textwrap.dedent("""
    import sys, numpy as np
    from numba.core import event
    from tickpath.strategy.loader import load_strategy
    from tickpath.strategy.context import new_context
    from tickpath.strategy.dispatch import handle_record
    from cache_probe_loop import run
    compiled = []
    class L(event.Listener):
        def on_start(self, ev):
            compiled.append(str(ev.data["dispatcher"].py_func.__qualname__))
        def on_end(self, ev):
            pass
    _, s = load_strategy("tickpath.strategy.market_maker", {"edge": 100, "size": 10})
    words = np.zeros((1, 15), np.int64)
    words[0, 0], words[0, 2], words[0, 3], words[0, 4], words[0, 5] = 1, 100, 5, 300, 5
    with event.install_listener("numba:compile", L()):
        run(s, new_context(), words)
    print(",".join(compiled) or "none")
""")

_CACHE_LOOP = textwrap.dedent("""
    from numba import njit
    from tickpath.strategy.dispatch import handle_record
    from tickpath.strategy.api import on_timer

    @njit(cache=True, nogil=True, _nrt=False)
    def run(strategy, ctx, words):
        for k in range(words.shape[0]):
            handle_record(strategy, ctx, words[k], 0, 1000)
        on_timer(strategy, ctx, 1000)
""")


def test_a_loop_over_the_generic_callbacks_loads_from_the_cache_in_a_new_process(tmp_path):
    (tmp_path / "cache_probe_loop.py").write_text(_CACHE_LOOP)
    env = {**os.environ, "PYTHONPATH": f"{SRC}{os.pathsep}{tmp_path}",
           "NUMBA_CACHE_DIR": str(tmp_path / "cache")}
    out = []
    for _ in range(2):
        r = subprocess.run([sys.executable, "-c", _CACHE_PROBE], env=env, capture_output=True,
                           text=True, timeout=300)
        assert r.returncode == 0, r.stderr
        out.append(r.stdout.strip().splitlines()[-1])
    assert "run" in out[0].split(",")  # the first process compiled the loop
    assert out[1] == "none", out[1]  # the second compiled nothing at all
