"""A feed handler that knows no protocol, for testing receive loops on their own: it copies
every datagram it is handed, in order, and answers with the statuses a real handler uses. And
a stamper that knows none either, for testing send loops (``ProbeStamp``, at the end).

State (a namedtuple, so ``on_datagram`` is chosen by its type, as for a real handler):

- ``counts`` (int64): see ``C_*`` below;
- ``lens`` (int64): the length of datagram ``i``;
- ``data`` (uint8): the datagrams back to back.

It answers ``END_OF_SESSION`` at ``counts[C_STOP_AFTER]`` datagrams (0: never), and ``SETTLE``
after every ``counts[C_SETTLE_EVERY]``-th (0: never), which makes a loop return mid-burst and
resume. A datagram that does not fit is counted in ``C_OVERFLOW`` and not stored.
"""

from __future__ import annotations

from collections import namedtuple

import numpy as np
from numba import types
from numba.extending import overload

from tickpath.wire.handler import END_OF_SESSION, GO_ON, SETTLE, on_datagram
from tickpath.wire.stamping import stamp_packet

ProbeState = namedtuple("ProbeState", ["counts", "lens", "data"])

C_DATAGRAMS = 0  # datagrams handed over
C_BYTES = 1  # bytes stored in data
C_OVERFLOW = 2  # datagrams that did not fit
C_STOP_AFTER = 3  # END_OF_SESSION once this many came (0: never)
C_SETTLE_EVERY = 4  # SETTLE after every n-th (0: never)
C_SETTLES = 5  # SETTLEs answered
C_FIRST_NS = 6  # receive stamp of the first datagram
C_LAST_NS = 7  # of the last
C_STAMP_BACKWARDS = 8  # stamps earlier than the one before
N_COUNTS = 9


def probe_state(max_datagrams: int, max_bytes: int, *, stop_after: int = 0,
                settle_every: int = 0) -> ProbeState:
    counts = np.zeros(N_COUNTS, np.int64)
    counts[C_STOP_AFTER] = stop_after
    counts[C_SETTLE_EVERY] = settle_every
    return ProbeState(counts, np.zeros(max_datagrams, np.int64), np.zeros(max_bytes, np.uint8))


def payloads(state: ProbeState) -> list[bytes]:
    """The datagrams stored, in the order they were handed over."""
    out, at = [], 0
    n = min(int(state.counts[C_DATAGRAMS]), state.lens.shape[0])
    for size in state.lens[:n]:
        out.append(state.data[at:at + size].tobytes())
        at += size
    return out


@overload(on_datagram, jit_options={"_nrt": True})  # its slice assignment may allocate
def _probe_on_datagram(state, buf, start, size, rx_ns):
    if not (isinstance(state, types.BaseNamedTuple) and state.instance_class is ProbeState):
        return None

    def impl(state, buf, start, size, rx_ns):
        c = state.counts
        k = c[C_DATAGRAMS]
        at = c[C_BYTES]
        if k < state.lens.shape[0] and at + size <= state.data.shape[0]:
            state.data[at:at + size] = buf[start:start + size]
            state.lens[k] = size
            c[C_BYTES] = at + size
        else:
            c[C_OVERFLOW] += 1
        if k == 0:
            c[C_FIRST_NS] = rx_ns
        elif rx_ns < c[C_LAST_NS]:
            c[C_STAMP_BACKWARDS] += 1
        c[C_LAST_NS] = rx_ns
        k += 1
        c[C_DATAGRAMS] = k
        if c[C_STOP_AFTER] > 0 and k >= c[C_STOP_AFTER]:
            return END_OF_SESSION
        if c[C_SETTLE_EVERY] > 0 and k % c[C_SETTLE_EVERY] == 0:
            c[C_SETTLES] += 1
            return SETTLE
        return GO_ON

    return impl


# ------------------------------------------------------------------ a stamper, for senders

#: A stamper that writes the send stamp (little-endian int64) into the last 8 bytes of every
#: packet of at least ``STAMPED_FROM`` bytes and counts its calls in ``log``.
ProbeStamp = namedtuple("ProbeStamp", ["log"])
STAMPED_FROM = 16
S_CALLS, S_STAMPED, S_BACKWARDS, S_LAST_NS = 0, 1, 2, 3


def probe_stamp() -> ProbeStamp:
    return ProbeStamp(np.zeros(4, np.int64))


@overload(stamp_packet)
def _probe_stamp_packet(stamper, buf, start, end, now_ns):
    if not (isinstance(stamper, types.BaseNamedTuple) and stamper.instance_class is ProbeStamp):
        return None

    def impl(stamper, buf, start, end, now_ns):
        log = stamper.log
        log[S_CALLS] += 1
        if now_ns < log[S_LAST_NS]:
            log[S_BACKWARDS] += 1
        log[S_LAST_NS] = now_ns
        if end - start >= STAMPED_FROM:
            v = np.int64(now_ns)
            for b in range(8):
                buf[end - 8 + b] = (v >> (8 * b)) & 0xFF
            log[S_STAMPED] += 1
        return 0

    return impl
