"""MoldUDP64 session layer: sequencing, heartbeats, end of session, gap and duplicate counting."""

from __future__ import annotations

import numpy as np

from . import _kernels
from .layout import DEFAULT_MAX_PAYLOAD, HEADER_LEN, N_COUNTERS, SESSION_LEN, Counter

__all__ = ["MoldSession", "Counter", "pack_packets", "session_bytes", "HEADER_LEN",
           "DEFAULT_MAX_PAYLOAD"]


def session_bytes(name: str | bytes) -> np.ndarray:
    """A session name as the 10-byte field (ASCII, right-padded with spaces)."""
    raw = name.encode("ascii") if isinstance(name, str) else bytes(name)
    if not 0 < len(raw) <= SESSION_LEN:
        raise ValueError(f"MoldUDP64 session {name!r} must be 1 to {SESSION_LEN} bytes")
    return np.frombuffer(raw.ljust(SESSION_LEN, b" "), np.uint8).copy()


class MoldSession:
    """Receiver side of one MoldUDP64 session.

    ``accept`` sequences a packet and says where its new message blocks start; the counters
    (``Counter`` indices) say what was seen: packets, messages, heartbeats, gaps and the
    messages missed in them, duplicates, malformed packets and packets of another session.
    Recovery of gaps is not done here: it is counted, and the expected sequence moves on.
    """

    def __init__(self, session: str | bytes | None = None, expected: int = 0) -> None:
        self.session = np.zeros(SESSION_LEN, np.uint8)
        if session is not None:
            self.session[:] = session_bytes(session)
        self.counters = np.zeros(N_COUNTERS, np.int64)
        self.counters[Counter.EXPECTED] = expected

    def accept(self, buf: np.ndarray, start: int = 0, end: int | None = None) -> tuple[int, int, int]:
        end = buf.shape[0] if end is None else end
        return _kernels.accept(buf, start, end, self.session, self.counters)

    @property
    def expected(self) -> int:
        return int(self.counters[Counter.EXPECTED])

    @property
    def name(self) -> str:
        return bytes(self.session).decode("ascii", "replace").rstrip(" \x00")

    def stats(self) -> dict[str, int]:
        return {c.name.lower(): int(self.counters[c]) for c in Counter}


def pack_packets(blocks: np.ndarray, session: str | bytes, first_seq: int = 1,
                 max_payload: int = DEFAULT_MAX_PAYLOAD, max_messages: int = 0xFFFE,
                 ) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Pack a whole buffer of length-prefixed blocks into MoldUDP64 packets (cold path helper).

    Returns ``(out, bounds, counts)``: packet i is ``out[bounds[i]:bounds[i+1]]``.
    """
    sess = session_bytes(session)
    n = blocks.shape[0]
    # worst case one message per packet, and a block may be just its 2-byte length (MoldUDP64
    # allows empty messages): every block gains a header
    most = n // 2 + 1
    out = np.empty(n + HEADER_LEN * most, np.uint8)
    bounds = np.empty(most + 1, np.int64)
    counts = np.empty(most, np.int64)
    npk, _, p, q = _kernels.pack(blocks, 0, n, sess, first_seq, max_payload, max_messages, out,
                                 0, bounds, counts)
    if p != n:
        raise ValueError(f"blocks could not be packed: stopped at offset {p} of {n}")
    return out[:q], bounds[:npk + 1], counts[:npk]
