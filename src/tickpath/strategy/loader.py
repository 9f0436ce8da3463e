"""Load a strategy named by module path (``"tickpath.strategy.market_maker"``,
``"mypkg.mystrat"``), as a pipeline's TOML or ``tickpath backtest --strategy`` names it.

The module exposes ``new(params: dict, ctx_info: ContextInfo) -> state`` (a namedtuple of
arrays) and registers its callbacks for the state's type when imported
(:func:`tickpath.strategy.api.implements`). The short names of earlier configurations are
aliases (:data:`ALIASES`).
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

from .api import is_registered
from .context import ContextInfo

#: short names -> module paths
ALIASES = {"market_maker": "tickpath.strategy.market_maker",
           "index_arb": "tickpath.strategy.index_arb",
           "observe": "tickpath.strategy.observe"}


class StrategyError(ValueError):
    """A strategy that cannot be loaded; the message says which and why."""


def module_path(name: str) -> str:
    """The module path a configured strategy name stands for."""
    return ALIASES.get(name, name)


def import_strategy(name: str) -> ModuleType:
    """Import the strategy module ``name`` (or alias) and check it exposes ``new``."""
    path = module_path(name)
    try:
        mod = importlib.import_module(path)
    except ModuleNotFoundError as e:
        if e.name is not None and path.startswith(e.name):
            raise StrategyError(f"strategy {name!r}: no module named {path!r} (is its package "
                                f"installed or on PYTHONPATH?)") from None
        raise StrategyError(f"strategy {name!r}: importing {path!r} failed: {e}") from e
    except Exception as e:  # a strategy module that fails on import: say so, with its error
        raise StrategyError(f"strategy {name!r}: importing {path!r} failed: "
                            f"{type(e).__name__}: {e}") from e
    if not callable(getattr(mod, "new", None)):
        raise StrategyError(f"strategy {name!r}: module {path!r} has no new(params, ctx_info) "
                            f"function returning its state")
    return mod


def load_strategy(name: str, params: dict[str, Any] | None = None,
                  ctx_info: ContextInfo | None = None) -> tuple[ModuleType, Any]:
    """``(module, state)`` of strategy ``name`` built from ``params``. Refuses, with the
    strategy's name and the reason: a missing module, no ``new``, parameters ``new`` refuses
    (it raises ``ValueError``, ``KeyError`` or ``TypeError``), a state that is not a
    namedtuple or whose type registered no callbacks."""
    mod = import_strategy(name)
    try:
        state = mod.new(dict(params or {}), ctx_info or ContextInfo())
    except (ValueError, KeyError, TypeError) as e:
        raise StrategyError(f"strategy {name!r}: bad params {params!r}: {e}") from e
    cls = type(state)
    if not (isinstance(state, tuple) and hasattr(cls, "_fields")):
        raise StrategyError(f"strategy {name!r}: new() returned a {cls.__name__}, not a "
                            f"namedtuple of arrays")
    if not is_registered(cls):
        raise StrategyError(f"strategy {name!r}: its state type {cls.__name__} has no "
                            f"callbacks registered (tickpath.strategy.api.implements)")
    return mod, state
