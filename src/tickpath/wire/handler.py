"""The seam between a transport and a feed handler: one compiled call per datagram.

A receive loop (one per transport) owns its socket or ring and its clock. For each datagram it
calls :func:`on_datagram` with the handler's state, a view where the datagram landed and its
receive stamp, and acts on the status that comes back; it never learns what a message is::

    transport loop                              feed handler (feed/itch, feed/...)
    ─────────────                               ──────────────────────────────────
    frame lands in ring/slot/UMEM ──► on_datagram(state, buf, off, n, rx_ns) ──► session,
                                       ◄── GO_ON | END_OF_SESSION | SETTLE    decoder, books

How the call is dispatched: each feed handler registers its implementation with
:func:`implements`, which makes it a ``numba.extending.overload`` of ``on_datagram`` chosen by
the *type* of ``state`` (a namedtuple of the handler's arrays). numba specializes the loop for that type, inlines the
handler's step and caches the result on disk like any other function. The alternative,
passing the handler's jitted function as an argument, specializes as well but misses the
on-disk cache in every new process (a full recompile at each start, measured), so the seam is
a type, not a function value.

A handler module registers its overload when it is imported, and it is imported wherever its
state type is built, so a loop is never typed against a state whose implementation is
missing. (A loop loaded from the cache needs no typing at all.) Called from Python, or with
``NUMBA_DISABLE_JIT=1`` (the loops as plain Python, in a debugger), ``on_datagram`` looks the
implementation up by the state's class and calls it.

Statuses (what the loop does next):

- ``GO_ON``: the next datagram.
- ``END_OF_SESSION``: the feed said the session is over; the loop returns it.
- ``SETTLE``: the handler needs its owner in Python (a table to grow, a refused message to
  raise or skip); the loop returns it with its resume state saved, the owner settles and calls
  the loop again. Nothing is lost: the datagram was consumed, the handler kept what is left.

Between datagrams, when a poll found nothing, a loop calls :func:`on_idle` with the state and
the time: a handler with work of its own besides datagrams (a run-to-completion stage polling
its order-entry session, timers) registers it with :func:`implements_idle`; for every other
state the call compiles to nothing. It returns a status like :func:`on_datagram`.

A loop's own exits are ``DEADLINE`` (``realtime_ns() >= deadline_ns``) and ``IDLE`` (nothing
for ``idle_ns`` since the last datagram, once one came); every loop numbers them the same way.
"""

from __future__ import annotations

from numba import njit, types
from numba.extending import overload

from ..telemetry.nclock import realtime_ns

GO_ON = -1
DEADLINE = 0
END_OF_SESSION = 1
SETTLE = 2
IDLE = 3

# The receive counters every compiled loop keeps first in its ``rx`` array, in this order, so
# the owner reads any transport the same way (a transport's own counters follow them).
RX_PACKETS = 0  # datagrams handed to the handler
RX_BYTES = 1  # their bytes
RX_LAST_NS = 2  # receive stamp (or clock) of the last datagram: idleness is measured from it
N_RX_COMMON = 3

__all__ = ["DEADLINE", "END_OF_SESSION", "GO_ON", "IDLE", "N_RX_COMMON", "RX_BYTES",
           "RX_LAST_NS", "RX_PACKETS", "SETTLE", "count_datagram", "implements",
           "implements_idle", "on_datagram", "on_idle"]

_PYTHON: dict[type, object] = {}  # state class -> implementation, for calls from Python
_IDLE: dict[type, object] = {}  # state class -> its idle work


def on_datagram(state, buf, start, size, rx_ns):
    """Hand the datagram ``buf[start:start+size]`` (received at ``rx_ns`` epoch ns, 0 when the
    transport has no stamp) to the handler whose state is ``state``; return a status."""
    impl = _PYTHON.get(type(state))
    if impl is None:
        raise TypeError(f"no feed handler is registered for a state of type "
                        f"{type(state).__name__}: pass a handler's state (e.g. "
                        f"tickpath.feed.itch.ItchFeed().state), or register one with "
                        f"tickpath.wire.handler.implements({type(state).__name__})")
    return impl(state, buf, start, size, rx_ns)


def implements(state_class: type):
    """Register ``fn(state, buf, start, size, rx_ns) -> status`` as :func:`on_datagram` for
    states of the namedtuple class ``state_class``; ``fn`` must compile in nopython mode.

    ``fn`` is compiled without numba's reference counting (``_nrt=False``): taking the
    state's arrays out of the tuple would otherwise count a reference up and down for every
    array on every datagram (measured: 870 -> 370 ns a datagram for the ITCH handler through
    the pcap replay loop). It follows that ``fn`` cannot allocate (numba refuses to compile
    one that does), which the hot path must not do anyway; it may call compiled functions
    that keep their own counting.

    The receive loops that call :func:`on_datagram` are compiled the same way. With
    counting, a loop takes a reference on every array of the state (and on its own arrays)
    where it starts and drops them at each exit: numba moves the counts out of the loop, so
    it pays them once per call rather than per datagram, but the loop's code still carries
    them. Without: 399 -> 364 ns a datagram for ITCH through the pcap replay loop, 1248 ->
    1184 ns a datagram (180 -> 170 ns a message) for MDP3 through
    ``tickpath.apps.mdp3_replay.replay_mdp3`` (``bench/pcap_loop_cost.py``; BENCHMARKS.md,
    "Receive loops without reference counting"). The helpers a loop calls (frame parsing, the pcap walks)
    keep numba's default: the flag of whichever caller compiles them first.

    An implementation registered with numba's ``overload`` directly, not through this
    function, is compiled with the loop's flags, so without counting too: it must allocate
    nothing (no array slice assignment, which may copy), or ask for counting itself with
    ``jit_options={"_nrt": True}`` (correct, and it pays the counts on every call)."""
    def register(fn):
        _PYTHON[state_class] = fn

        @overload(on_datagram, jit_options={"_nrt": False})
        def _typed(state, buf, start, size, rx_ns):
            if isinstance(state, types.BaseNamedTuple) and state.instance_class is state_class:
                return fn
            return None
        return fn
    return register


def on_idle(state, now_ns):
    """Give the handler whose state is ``state`` a turn when a poll found no datagram
    (``now_ns``: the loop's clock); returns a status. No-op for handlers without idle work."""
    impl = _IDLE.get(type(state))
    return GO_ON if impl is None else impl(state, now_ns)


def _no_idle_work(state, now_ns):
    return GO_ON


@overload(on_idle, jit_options={"_nrt": False})
def _typed_idle(state, now_ns):
    # looked up when a loop is typed: the handler's module registered it on import, as for
    # on_datagram; a loop loaded from the cache is not typed again
    if isinstance(state, types.BaseNamedTuple):
        fn = _IDLE.get(state.instance_class)
        if fn is not None:
            return fn
    return _no_idle_work


def implements_idle(state_class: type):
    """Register ``fn(state, now_ns) -> status`` as :func:`on_idle` for states of the
    namedtuple class ``state_class`` (compiled without reference counting, as
    :func:`implements`)."""
    def register(fn):
        _IDLE[state_class] = fn
        return fn
    return register


@njit(cache=True, nogil=True)
def count_datagram(rx, size, rx_ns):
    """Count one datagram in the loop's common counters (before handing it on)."""
    rx[RX_PACKETS] += 1
    rx[RX_BYTES] += size
    rx[RX_LAST_NS] = rx_ns if rx_ns > 0 else realtime_ns()

