"""Where every registered strategy state class is found by name, so that numba's on-disk
cache never fails on a strategy another process cannot import.

A loop specialized for a strategy's state type is cached with that type in its index file,
pickled by reference to the class. One index holds the loop's specializations for every
strategy that ran it on this machine; a process that cannot import one of those strategies
(another user's package, a test's module) would fail to read the index at all. So
:func:`tickpath.strategy.api.register` names each state class as an attribute of this module
(``<module path>:<class name>`` with ``.`` written ``__``), and this module resolves such a
name by importing the strategy's module, or, when that import fails, by a stand-in class
that no state has: the index reads, that one entry never matches, the others load.
"""

from __future__ import annotations

import importlib
from collections import namedtuple

_SEP = "_CLS_"
_standins: dict[str, type] = {}


def name_of(module: str, qualname: str) -> str:
    return module.replace(".", "__") + _SEP + qualname


def __getattr__(name: str) -> type:
    module, sep, qualname = name.partition(_SEP)
    if not sep:
        raise AttributeError(name)
    try:
        mod = importlib.import_module(module.replace("__", "."))
        cls = getattr(mod, qualname)
    except (ImportError, AttributeError):
        cls = _standins.get(name)
        if cls is None:
            cls = _standins[name] = namedtuple(name, ["missing"])
    return cls
