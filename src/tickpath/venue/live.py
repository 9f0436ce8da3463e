"""The live venue: the simulated equities day published over MoldUDP64/UDP while accounts
trade against it over SoupBinTCP/OUCH 5.0.

One loop, no threads: each turn polls the order-entry server (client orders are applied to
the same books the generator drives), publishes the ITCH of those client actions at once in
the next packet, then generates and publishes the generated flow due by now at the
configured rate (``rate`` messages/s; None: as fast as it goes). Between turns with nothing
due it waits on the order-entry sockets (``select``) until the next message is due.

    venue = LiveVenue(symbols=20, rate=20_000, feed_port=26400, orders_port=15000,
                      accounts=["ALICE:secret", "BOB:hunter2"])
    venue.start()                 # the start of day and the opening book, published
    venue.run(duration_s=60)      # or messages=N; bounded either way
    venue.end()                   # the end of day: S M/E/C, MoldUDP64 end of session, 'Z'
    venue.stats()                 # orders in, executions, rejects, sessions, feed counts

``quiet=True`` publishes the opening book (``opening_messages`` of generated flow) and then
only what client orders cause: a stable book for tests.

Recovery (docs/venue-recovery.md): ``line_b=(host, port)`` publishes every packet on line B
too; ``retransmit_port`` (None: off; 0: any, see ``retransmit_port`` after start-up) runs a
MoldUDP64 re-request server answering from the last ``history_keep`` messages, polled in
every turn and waited on between turns. After :meth:`end`, :meth:`linger` keeps answering
while End of Session packets repeat, the receivers' last chance to fill their gaps.
``snapshot_port`` (None: off) runs the GLIMPSE-style snapshot service
(:mod:`tickpath.venue.glimpse`), polled first in every turn, when all the engine has done
is published, so each snapshot matches the feed's sequence number.

The snapshot feed (docs/snapshot-feed.md): ``snapshot_feed=(host, port)`` publishes, right
after each run of incremental packets, a Book Snapshot (``snapshot_depth`` levels a side) of
every instrument each of its ITCH messages changed, in order, on MoldUDP64 session
``snapshot_session`` (default: :func:`~tickpath.venue.snapshot_publisher.snapshot_session_name`
of ``session``), through a second publisher with the same sender, stamped at send.
"""

from __future__ import annotations

import select
import time
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from ..codec.book_snapshot.layout import DEFAULT_DEPTH
from . import Simulator
from .client_orders import ClientOrders
from .faults import FaultPlan
from .glimpse import GlimpseServer
from .history import MessageHistory
from .live_loop import MAX_WAIT_S, TURN_MESSAGES, LiveLoop
from .order_entry import OrderEntryServer, new_session_name
from .publisher import UdpPublisher
from .records import CLIENT_SLOTS, MAX_BLOCK, MAX_FILLS
from .retransmit import RetransmitServer
from .snapshot_publisher import SnapshotFeedPublisher, snapshot_session_name

__all__ = ["LiveVenue"]



class LiveVenue(LiveLoop):
    """A live venue: ``Simulator(symbols, messages, seed)`` published to
    ``(feed_host, feed_port)``; order entry on ``(orders_host, orders_port)`` for
    ``accounts`` (``USER:PASS`` strings or a dict; None: no order entry; port 0: any, see
    ``self.server.port``). ``orders_session``: the order-entry session's name (None: a new
    one for each venue, :func:`~tickpath.venue.order_entry.new_session_name`).
    ``line_b``, ``retransmit_port``, ``retransmit_host``, ``history_keep``: recovery (see
    the module doc); ``retransmit``: more options for the
    :class:`~tickpath.venue.retransmit.RetransmitServer` (caps, rate limit).
    ``snapshot_port``, ``snapshot_host``: the snapshot service (None: off; 0: any port, see
    :attr:`snapshot_port`). ``faults_a``, ``faults_b``: loss, duplication, reordering and
    blackouts put on line A / line B as packets leave (:mod:`tickpath.venue.faults`).
    ``feed_heartbeat_s``: a MoldUDP64 heartbeat after this long without a feed packet (0:
    none), by ``clock`` (monotonic seconds). ``snapshot_feed``, ``snapshot_depth``,
    ``snapshot_session``: the Book Snapshot feed (None: off; see the module doc)."""

    def __init__(self, symbols: int = 20, messages: int = 1_000_000, seed: int = 1, *,
                 rate: float | None = 10_000.0, feed_host: str = "127.0.0.1",
                 feed_port: int = 26400, session: str = "TICKPATH01",
                 accounts: Iterable[str] | dict[str, str] | None = None,
                 orders_host: str = "127.0.0.1", orders_port: int = 0, quiet: bool = False,
                 opening_messages: int | None = None, client_slots: int = CLIENT_SLOTS,
                 sender: str = "sendto", max_payload: int = 1400, heartbeat_s: float = 1.0,
                 timeout_s: float = 15.0, iface_ip: str | None = None,
                 orders_session: str | None = None, line_b: tuple[str, int] | None = None,
                 retransmit_port: int | None = None, retransmit_host: str = "127.0.0.1",
                 history_keep: int = 1_000_000,
                 retransmit: dict[str, Any] | None = None, snapshot_port: int | None = None,
                 snapshot_host: str = "127.0.0.1", faults_a: FaultPlan | None = None,
                 faults_b: FaultPlan | None = None, feed_heartbeat_s: float = 1.0,
                 clock: Callable[[], float] = time.monotonic,
                 snapshot_feed: tuple[str, int] | None = None,
                 snapshot_depth: int = DEFAULT_DEPTH,
                 snapshot_session: str | None = None) -> None:
        if accounts is not None and not isinstance(accounts, dict):
            accounts = list(accounts)
        self.sim = Simulator(symbols, messages, seed,
                             client_slots=client_slots if accounts else 0)
        self.rate = rate
        self.quiet = quiet
        body = messages - (2 * symbols + 6)
        self.opening_messages = min(body, 20 * symbols if opening_messages is None
                                    else opening_messages)
        self.history = None if retransmit_port is None else MessageHistory(history_keep)
        self.publisher = UdpPublisher(feed_host, feed_port, session=session, sender=sender,
                                      max_payload=max_payload, iface_ip=iface_ip,
                                      line_b=line_b, history=self.history,
                                      faults=(faults_a, faults_b))
        self.snapshots: SnapshotFeedPublisher | None = None
        if snapshot_feed is not None:
            try:
                self.snapshots = SnapshotFeedPublisher(
                    snapshot_feed[0], int(snapshot_feed[1]),
                    session=snapshot_session or snapshot_session_name(session),
                    depth=snapshot_depth, sender=sender, max_payload=max_payload,
                    iface_ip=iface_ip)
            except BaseException:
                self.publisher.close()
                raise
        self.retransmitter: RetransmitServer | None = None
        if self.history is not None:
            opts = {"max_payload": max_payload, **(retransmit or {})}
            try:
                self.retransmitter = RetransmitServer(self.history, self.publisher.session,
                                                      retransmit_host, retransmit_port, **opts)
            except BaseException:
                self._close_feeds()
                raise
        self.glimpse: GlimpseServer | None = None
        if snapshot_port is not None:
            self.glimpse = GlimpseServer(self.sim, lambda: self.publisher.seq, snapshot_host,
                                         snapshot_port, heartbeat_s=heartbeat_s,
                                         timeout_s=timeout_s)
        self.orders: ClientOrders | None = None
        self.server: OrderEntryServer | None = None
        self._client_itch: list[np.ndarray] = []
        if accounts:
            self.orders = ClientOrders(self.sim, len(accounts))
            self.server = OrderEntryServer(self.orders, accounts, orders_host, orders_port,
                                           session=orders_session or new_session_name(), heartbeat_s=heartbeat_s,
                                           timeout_s=timeout_s,
                                           on_itch=self._client_itch.append)
        self._buf = np.zeros(TURN_MESSAGES * MAX_BLOCK + MAX_FILLS * MAX_BLOCK, np.uint8)
        self.feed_heartbeat_s, self.clock = feed_heartbeat_s, clock
        self.heartbeats = 0  # MoldUDP64 heartbeats sent while the feed was quiet
        self._beat_packets, self._beat_at = -1, 0.0
        self.generated_published = 0  # body messages of the generated flow published
        self.client_messages_published = 0
        self.started = False
        self.ended = False

    @property
    def orders_port(self) -> int | None:
        return None if self.server is None else self.server.port

    @property
    def snapshot_port(self) -> int | None:
        return None if self.glimpse is None else self.glimpse.port

    @property
    def retransmit_port(self) -> int | None:
        return None if self.retransmitter is None else self.retransmitter.port

    # ------------------------------------------------------------------ the day

    def warm_up(self) -> None:
        """Compile (or load) what the day's loop runs (publisher, generator, client-order
        kernels, order entry), before the first packet: a compile inside the loop would stall
        both the feed and the answers to orders. Publishes nothing, generates nothing."""
        self.publisher.warm_up()
        if self.snapshots is not None:
            self.snapshots.warm_up()
        self.sim.generate_into(self._buf, 0, 0)
        if self.orders is not None:
            self.orders.warm_up()
        if self.server is not None:
            self.server.poll()
        if self.retransmitter is not None:
            self.retransmitter.warm_up()
            self.retransmitter.poll()
        if self.glimpse is not None:
            self.glimpse.warm_up()

    def start(self) -> None:
        """Publish the start of day and the opening book (``opening_messages`` messages of
        generated flow), unpaced."""
        self.publisher.warm_up()
        if self.snapshots is not None:
            self.snapshots.warm_up()
        if self.retransmitter is not None:
            self.retransmitter.warm_up()
        self._send(self.sim.open_day())
        left = self.opening_messages
        while left > 0:
            k = self._generate(left)
            if k == 0:
                break
            left -= k
        self.started = True

    def _send(self, blocks: np.ndarray) -> None:
        """Publish ITCH ``blocks`` on the feed, then, with a snapshot feed, the Book
        Snapshots of the books they changed."""
        seq = self.publisher.seq
        self.publisher.send_blocks(blocks)
        if self.snapshots is not None:
            self.snapshots.publish(blocks, seq)

    def _generate(self, most: int) -> int:
        end, k = self.sim.generate_into(self._buf, 0, max(min(most, TURN_MESSAGES), MAX_FILLS))
        if k:
            self._send(self._buf[:end])
            self.generated_published += k
        if self.server is not None:
            self.server.flush_outbox()  # Order Executed for client orders the flow filled
        return k

    def _publish_client(self) -> int:
        if not self._client_itch:
            return 0
        blocks = np.concatenate(self._client_itch) if len(self._client_itch) > 1 \
            else self._client_itch[0]
        self._client_itch.clear()
        self._send(blocks)
        n = _count_blocks(blocks)
        self.client_messages_published += n
        return n

    def turn(self, generate: int = 0) -> int:
        """One turn: poll order entry, publish the client actions' ITCH, then publish up to
        ``generate`` messages of generated flow. Returns the work done."""
        work = 0
        if self.glimpse is not None:  # first: the engine's state is all published now
            work += self.glimpse.poll()
        if self.retransmitter is not None:
            work += self.retransmitter.poll()
        if self.server is not None:
            work += self.server.poll()
            work += self._publish_client()
        if generate > 0:
            work += self._generate(generate)
            if self.server is not None:
                self.server.poll()  # the fills' Order Executed messages go out now
                # and what that poll applied goes on the feed now: a turn ends with all the
                # engine did published (a snapshot taken next turn agrees with the feed)
                work += self._publish_client()
        self._beat()
        return work

    def _beat(self) -> None:
        """A MoldUDP64 heartbeat (the next sequence number, no messages) when the feed has
        sent nothing for ``feed_heartbeat_s``: a receiver learns of a lost last packet, and
        that the feed is alive, while the market is quiet."""
        if not self.started or self.ended or self.feed_heartbeat_s <= 0:
            return
        now = self.clock()
        if self.publisher.packets != self._beat_packets:
            self._beat_packets, self._beat_at = self.publisher.packets, now
        elif now - self._beat_at >= self.feed_heartbeat_s:
            self.publisher.heartbeat()
            if self.snapshots is not None:
                self.snapshots.heartbeat()
            self.heartbeats += 1
            self._beat_at = now

    def _generated(self) -> int:
        return self.generated_published

    def _flow_left(self) -> bool:
        return self.sim.body_remaining > 0

    def _whole_steps(self, due: int) -> int:
        return max(due, MAX_FILLS)  # the engine writes whole steps: room for the largest

    def _sockets(self) -> list:
        socks = [] if self.server is None else self.server.sockets()
        if self.retransmitter is not None:
            socks += self.retransmitter.sockets()
        if self.glimpse is not None:
            socks += self.glimpse.sockets()
        return socks

    def end(self) -> None:
        """The end of the day: order entry's System Event 'E' and End of Session, the ITCH
        end of day (S 'M', 'E', 'C') and the MoldUDP64 end-of-session marker."""
        if self.ended:
            return
        if self.server is not None:
            self.server.poll()
            self._publish_client()
            self.server.end_session()
        self._send(self.sim.close_day())
        self.publisher.end_session()
        if self.snapshots is not None:
            self.snapshots.end_session()
        self.ended = True

    def linger(self, duration_s: float, every_s: float = 0.5) -> int:
        """After :meth:`end`: for ``duration_s`` seconds keep answering re-requests and
        snapshot requests (a receiver that joins late, even after the day, still gets the
        books and the sequence number the end of session carries), sending the End of
        Session packet every ``every_s`` seconds in place of heartbeats (the specification's
        window for a receiver's last re-requests). Returns the requests read."""
        if not self.ended:
            raise RuntimeError("linger comes after end(): the session is still open")
        t0 = now = time.monotonic()
        beat = t0 + every_s
        work = 0
        while now < t0 + duration_s:
            if self.glimpse is not None:
                work += self.glimpse.poll()
            if self.retransmitter is not None:
                work += self.retransmitter.poll()
            if now >= beat:
                self.publisher.end_session(repeat=1)
                beat = now + every_s
            wait = max(0.0, min(beat, t0 + duration_s) - now)
            socks = [] if self.retransmitter is None else self.retransmitter.sockets()
            if self.glimpse is not None:
                socks += self.glimpse.sockets()
            if socks:
                select.select(socks, [], [], min(wait, MAX_WAIT_S))
            else:
                time.sleep(wait)
            now = time.monotonic()
        return work

    def stats(self) -> dict[str, Any]:
        """Feed counts (messages, packets and bytes: UDP payload; ``_frame_bytes`` with the
        Ethernet, IPv4 and UDP headers; the snapshot feed's as ``snapshot_feed_*``) and
        order-entry counters (orders in, executions, rejects, sessions)."""
        out: dict[str, Any] = {"feed_messages": self.publisher.messages,
                               "feed_packets": self.publisher.packets,
                               "feed_bytes": self.publisher.bytes,
                               "feed_frame_bytes": self.publisher.frame_bytes,
                               "generated_published": self.generated_published,
                               "client_messages_published": self.client_messages_published,
                               "client_fills_by_flow": int(self.sim.stats()["client_fills"]),
                               "feed_heartbeats": self.heartbeats}
        if self.server is not None:
            out.update(self.server.stats())
        if self.retransmitter is not None:
            out.update(self.retransmitter.stats())
            out.update(self.history.stats())
        if self.glimpse is not None:
            out.update(self.glimpse.stats())
        if self.snapshots is not None:
            out.update({f"snapshot_feed_{k}": v for k, v in self.snapshots.stats().items()})
        out.update(self.publisher.fault_counts())
        return out

    def close(self) -> None:
        if self.server is not None:
            self.server.close()
        if self.retransmitter is not None:
            self.retransmitter.close()
        if self.glimpse is not None:
            self.glimpse.close()
        self._close_feeds()

    def _close_feeds(self) -> None:
        self.publisher.close()
        if self.snapshots is not None:
            self.snapshots.close()

    def __enter__(self) -> LiveVenue:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _count_blocks(blocks: np.ndarray) -> int:
    n = p = 0
    while p + 2 <= blocks.shape[0]:
        p += 2 + (int(blocks[p]) << 8 | int(blocks[p + 1]))
        n += 1
    return n
