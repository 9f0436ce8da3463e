"""tickpath's ClOrdID convention: an order names the market-data packet that triggered it.

OUCH 5.0 leaves the 14-byte ClOrdID to the firm. tickpath writes there the MoldUDP64 sequence
number of the first message of the packet that made the strategy act, as 14 ASCII digits,
zero-padded (a session has far fewer than 10^14 messages). Whoever sees both directions of
the wire (the venue, a capture on its side: :mod:`tickpath.venue.referee`) can then pair each
order with its trigger without trusting the trader's clock.
"""

from __future__ import annotations

import numpy as np
from numba import njit

WIDTH = 14
_ZERO = 48


@njit(cache=True, nogil=True, inline="always")
def put_trigger(cl_ord_id, seq):
    """Write ``seq`` as the 14 digits of ``cl_ord_id`` (a uint8 array of 14)."""
    v = seq
    for k in range(WIDTH):
        cl_ord_id[WIDTH - 1 - k] = _ZERO + v % 10
        v //= 10


def trigger_cl_ord_id(seq: int) -> np.ndarray:
    """The ClOrdID bytes naming trigger ``seq``."""
    if not 0 <= seq < 10**WIDTH:
        raise ValueError(f"trigger sequence {seq} does not fit 14 digits")
    return np.frombuffer(f"{seq:014d}".encode("ascii"), np.uint8).copy()


def trigger_of(cl_ord_id: bytes | bytearray | memoryview) -> int | None:
    """The trigger sequence a ClOrdID names, or None if it does not follow the convention."""
    raw = bytes(cl_ord_id)
    if len(raw) != WIDTH or not raw.isdigit():
        return None
    return int(raw)
