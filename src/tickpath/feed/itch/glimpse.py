"""A GLIMPSE 5.0 snapshot client: the books as the venue holds them now, over SoupBinTCP 3.0.

:func:`fetch_snapshot` logs in (sequence number 1, as GLIMPSE asks), reads every Sequenced
Data packet up to the End of Snapshot message ('G', the feed's sequence number in 20 ASCII
digits), logs out, and returns the ITCH messages as length-prefixed blocks (what
:meth:`tickpath.feed.itch.ItchHandler.on_blocks` applies) with the sequence number to apply
the live feed from. A snapshot is read once per late join or lost gap, so this is plain
Python over a blocking socket; the books are built from it by the compiled handler.
"""

from __future__ import annotations

import socket
import time
from dataclasses import dataclass

import numpy as np

from ...codec.soupbintcp import SoupError, SoupFramer, decode_packet, encode_packet, login_request

__all__ = ["GlimpseError", "GlimpseSnapshot", "SnapshotRejoin", "fetch_snapshot"]


class GlimpseError(RuntimeError):
    """The snapshot could not be read: ``where`` (host:port) and why."""


@dataclass(frozen=True)
class GlimpseSnapshot:
    """ITCH messages as length-prefixed blocks (End of Snapshot left out), how many, the
    feed's sequence number to apply from, and the snapshot session's name."""

    blocks: np.ndarray
    messages: int
    next_seq: int
    session: str
    seconds: float


def fetch_snapshot(host: str, port: int, username: str = "", password: str = "", *,
                   timeout_s: float = 10.0) -> GlimpseSnapshot:
    """Read one snapshot from the GLIMPSE service at ``host:port`` (the whole of it within
    ``timeout_s``). Raises :class:`GlimpseError` naming what went wrong and where."""
    where = f"glimpse {host}:{port}"
    t0 = time.monotonic()
    deadline = t0 + timeout_s
    try:
        sock = socket.create_connection((host, port), timeout_s)
    except OSError as e:
        raise GlimpseError(f"{where}: cannot connect: {e}") from e
    framer = SoupFramer()
    parts: list[bytes] = []
    session = ""
    try:
        sock.sendall(login_request(username, password, "", 1))
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise GlimpseError(f"{where}: no End of Snapshot within {timeout_s:g} s "
                                   f"({len(parts)} messages read)")
            sock.settimeout(left)
            try:
                data = sock.recv(1 << 16)
            except TimeoutError:
                continue
            if not data:
                raise GlimpseError(f"{where}: closed the connection after {len(parts)} "
                                   "messages, before End of Snapshot")
            try:
                packets = framer.feed(data)
            except SoupError as e:
                raise GlimpseError(f"{where}: {e}") from e
            for pkt in packets:
                if pkt.type == "A":
                    session = decode_packet(pkt)["session"]
                elif pkt.type == "J":
                    code = decode_packet(pkt)["reject_reason_code"]
                    raise GlimpseError(f"{where}: login rejected ({code!r})")
                elif pkt.type == "S":
                    m = bytes(pkt.payload)
                    if m[:1] == b"G":
                        digits = m[1:21].decode("ascii", "replace").strip()
                        if len(m) != 21 or not digits.isdigit():
                            raise GlimpseError(f"{where}: End of Snapshot at stream offset "
                                               f"{pkt.offset} is not 20 ASCII digits: {m!r}")
                        try:
                            sock.sendall(encode_packet("O"))
                        except OSError:
                            pass
                        blocks = b"".join(len(p).to_bytes(2, "big") + p for p in parts)
                        return GlimpseSnapshot(np.frombuffer(blocks, np.uint8).copy(),
                                               len(parts), int(digits), session,
                                               time.monotonic() - t0)
                    parts.append(m)
                elif pkt.type == "Z":
                    raise GlimpseError(f"{where}: End of Session before End of Snapshot "
                                       f"({len(parts)} messages read)")
    except OSError as e:
        raise GlimpseError(f"{where}: {e}") from e
    finally:
        sock.close()


class SnapshotRejoin:
    """When a feed's owner (a listener, a pipeline stage) rebuilds its books from the
    snapshot service at ``address``: at the start when joining late (``late_join``), and
    whenever the feed is stale (a gap it could not repair). A snapshot that cannot be read is
    noted in ``errors`` and tried again ``retry_s`` later; the feed stays stale meanwhile."""

    def __init__(self, address: tuple[str, int] | None, *, late_join: bool = False,
                 timeout_s: float = 10.0, retry_s: float = 1.0) -> None:
        self.address, self.late_join = address, late_join
        self.timeout_s, self.retry_s = timeout_s, retry_s
        self.errors: list[str] = []
        self.rejoins = 0
        self._next_try = 0.0

    def maybe(self, feed, first: bool = False, drain=None) -> bool:
        """Rejoin ``feed`` (an :class:`~tickpath.feed.itch.ItchFeed`) if it should; True when
        its books were rebuilt (a stage holding its state must take the new one). ``drain``:
        empties the hand-off ring when this thread also reads it (:meth:`ItchFeed.rejoin`)."""
        if self.address is None:
            return False
        if first and self.late_join:
            feed.await_snapshot()  # stale until loaded: a failed fetch is tried again
        if feed.recovery.state != "stale":
            return False
        now = time.monotonic()
        if now < self._next_try:
            return False
        try:
            feed.rejoin(fetch_snapshot(*self.address, timeout_s=self.timeout_s), drain)
        except GlimpseError as e:
            self.errors.append(str(e))
            self._next_try = now + self.retry_s
            return False
        self.rejoins += 1
        return True
