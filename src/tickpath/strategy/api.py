"""The strategy interface: five generic compiled callbacks, implemented per strategy state type.

A strategy is a module with a state type (a namedtuple of numpy arrays: its parameters and
its state) and compiled callbacks registered for that type::

    on_book(strategy, ctx, instrument)                          a book changed
    on_trade(strategy, ctx, instrument, price, qty, aggressor)  a trade printed
    on_order_update(strategy, ctx, slot, event)                 one of our orders changed
    on_timer(strategy, ctx, now_ns)                             the configured interval passed
    on_status(strategy, ctx, instrument)                        a book (-1: every book)
                                                                stopped or started again being
                                                                known exact (book_exact)

``strategy`` is the state, ``ctx`` the :class:`~tickpath.strategy.context.Context` (books,
our orders and positions, the feed's freshness, the kill switch, the outbox of intents).
``aggressor`` is ``ord('B')``/``ord('S')`` (0: unknown), ``event`` an
:class:`~tickpath.strategy.layout.OrderEvent`. Callbacks return nothing; they act by writing
intents (:func:`~tickpath.strategy.context.place` and friends).

How a call is dispatched: each generic is a ``numba.extending.overload`` chosen by the *type*
of ``strategy`` (as :func:`tickpath.wire.handler.on_datagram` is by the handler's state). A
stage's loop that calls ``on_book(strategy, ...)`` is specialized for the strategy's type,
inlines its callback and is cached on disk like any compiled function; a jitted function
passed as an argument would specialize too but recompile in every new process. A callback a
strategy does not register is a no-op.

Registering (at import of the strategy's module, so before any state of the type exists)::

    @implements(on_book, MyState)
    def _on_book(strategy, ctx, instrument):
        ...

The callbacks are compiled without reference counting (``_nrt=False``, like the stage loops
that inline them): they must not allocate (no new arrays, no slicing copies), which the hot
path must not do anyway. Called from Python (tests, ``NUMBA_DISABLE_JIT=1``), a generic looks
the callback up by the state's class and calls it.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable

from numba import types
from numba.extending import overload

from . import states

__all__ = ["CALLBACKS", "implements", "is_registered", "on_book", "on_order_update",
           "on_status", "on_timer", "on_trade", "register"]

CALLBACKS = ("on_book", "on_trade", "on_order_update", "on_timer", "on_status")
#: state class -> callback name -> implementation
_IMPLS: dict[type, dict[str, Callable]] = {}


def _impl(name: str, strategy) -> Callable | None:
    table = _IMPLS.get(type(strategy))
    if table is None:
        raise TypeError(f"no strategy is registered for a state of type "
                        f"{type(strategy).__name__}: register its callbacks with "
                        f"tickpath.strategy.api.implements(on_book, {type(strategy).__name__})")
    return table.get(name)


def on_book(strategy, ctx, instrument) -> None:
    """The book of ``instrument`` (ITCH locate) changed; ``ctx`` holds its new top."""
    fn = _impl("on_book", strategy)
    if fn is not None:
        fn(strategy, ctx, instrument)


def on_trade(strategy, ctx, instrument, price, qty, aggressor_side) -> None:
    """``qty`` shares of ``instrument`` traded at ``price`` (Price(4)); ``aggressor_side``
    ``ord('B')`` (a buyer took the offer), ``ord('S')``, or 0 (unknown)."""
    fn = _impl("on_trade", strategy)
    if fn is not None:
        fn(strategy, ctx, instrument, price, qty, aggressor_side)


def on_order_update(strategy, ctx, slot, event) -> None:
    """Our order at ``ctx.orders[slot]`` was accepted, executed, canceled, rejected or
    replaced (``event``: :class:`~tickpath.strategy.layout.OrderEvent`)."""
    fn = _impl("on_order_update", strategy)
    if fn is not None:
        fn(strategy, ctx, slot, event)


def on_timer(strategy, ctx, now_ns) -> None:
    """The strategy's timer: called every ``ctx.words[TIMER_NS]`` of the strategy's clock."""
    fn = _impl("on_timer", strategy)
    if fn is not None:
        fn(strategy, ctx, now_ns)


def on_status(strategy, ctx, instrument) -> None:
    """The feed says ``instrument``'s book (-1: every book) is no longer known to be exact (a
    gap is open, a snapshot loading) or is exact again; :func:`~tickpath.strategy.context.
    book_exact` tells which. Pull quotes on a book that is not."""
    fn = _impl("on_status", strategy)
    if fn is not None:
        fn(strategy, ctx, instrument)


def register(state_class: type) -> None:
    """Make ``state_class`` (a namedtuple class) a strategy state type, with every callback a
    no-op until :func:`implements` gives one."""
    if not (isinstance(state_class, type) and issubclass(state_class, tuple)
            and hasattr(state_class, "_fields")):
        raise TypeError(f"a strategy's state must be a namedtuple class, got {state_class!r}")
    if state_class not in _IMPLS and state_class.__module__ != states.__name__:
        # pickled (in numba's cache index) as an attribute of tickpath.strategy.states
        state_class.__qualname__ = states.name_of(state_class.__module__,
                                                  state_class.__qualname__)
        state_class.__module__ = states.__name__
    _IMPLS.setdefault(state_class, {})


def is_registered(state_class: type) -> bool:
    return state_class in _IMPLS


def implements(callback: Callable, state_class: type) -> Callable[[Callable], Callable]:
    """Register the decorated function as ``callback`` (one of :data:`CALLBACKS`' generics)
    for strategy states of the namedtuple class ``state_class``. The function takes the
    generic's arguments under the generic's names (numba matches them by name), must compile
    in nopython mode and allocate nothing."""
    name = getattr(callback, "__name__", None)
    if name not in CALLBACKS or globals()[name] is not callback:
        raise TypeError(f"{callback!r} is not a strategy callback; use one of "
                        f"{', '.join(CALLBACKS)} from tickpath.strategy.api")

    def record(fn: Callable) -> Callable:
        want = list(inspect.signature(callback).parameters)
        got = list(inspect.signature(fn).parameters)
        if got != want:  # numba matches an overload's implementation by argument names
            raise TypeError(f"{getattr(fn, '__qualname__', fn)!r} implements {name} and must "
                            f"take ({', '.join(want)}), not ({', '.join(got)})")
        register(state_class)
        _IMPLS[state_class][name] = fn
        return fn
    return record


def _table(strategy) -> dict[str, Callable] | None:
    if isinstance(strategy, types.BaseNamedTuple):
        return _IMPLS.get(strategy.instance_class)
    return None


# the no-ops a strategy gets for the callbacks it does not register
def _no_book(strategy, ctx, instrument):
    return None


def _no_trade(strategy, ctx, instrument, price, qty, aggressor_side):
    return None


def _no_update(strategy, ctx, slot, event):
    return None


def _no_timer(strategy, ctx, now_ns):
    return None


def _no_status(strategy, ctx, instrument):
    return None


# the typed side of each generic: numba asks at typing time which implementation a state type
# has; a loop loaded from the cache asks nothing
@overload(on_book, jit_options={"_nrt": False})
def _typed_on_book(strategy, ctx, instrument):
    t = _table(strategy)
    return None if t is None else t.get("on_book", _no_book)


@overload(on_trade, jit_options={"_nrt": False})
def _typed_on_trade(strategy, ctx, instrument, price, qty, aggressor_side):
    t = _table(strategy)
    return None if t is None else t.get("on_trade", _no_trade)


@overload(on_order_update, jit_options={"_nrt": False})
def _typed_on_order_update(strategy, ctx, slot, event):
    t = _table(strategy)
    return None if t is None else t.get("on_order_update", _no_update)


@overload(on_timer, jit_options={"_nrt": False})
def _typed_on_timer(strategy, ctx, now_ns):
    t = _table(strategy)
    return None if t is None else t.get("on_timer", _no_timer)


@overload(on_status, jit_options={"_nrt": False})
def _typed_on_status(strategy, ctx, instrument):
    t = _table(strategy)
    return None if t is None else t.get("on_status", _no_status)
