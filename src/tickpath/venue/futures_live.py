"""The live futures venue: the futures day published on MDP 3.0 (lines A and B, the snapshot
loop) while accounts trade against it over SoupBinTCP / OUCH 5.0.

One loop, no threads, as the equities' :class:`~.live.LiveVenue`: each turn polls the
order-entry server (client orders go into the same books the generated flow drives, and
their book changes and trades are written into the venue's one MDP3 packet stream), then
generates the flow due by now at ``rate`` messages/s, then closes the open packet and
publishes what was written. A client action's messages therefore go out in the packet sent
at the end of the turn that read it, in MsgSeqNum order with the generated ones.

    venue = FuturesLiveVenue(messages=200_000, rate=10_000, accounts=["ALICE:secret"])
    venue.start()                 # definitions, PreOpen / ReadyToTrade, the opening book
    venue.run(duration_s=60)
    venue.end()                   # SecurityStatus Close, System Event 'E', End of Session

``quiet=True`` publishes the opening book (``opening_messages`` of generated flow) and then
only what client orders cause (and the snapshot loop when due): a stable book for tests.
OUCH timestamps and MDP3 TransactTime both come from the venue's session clock (the
simulated day's), so the two agree; in a quiet venue that clock stands still.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from . import Simulator
from .futures import FuturesSimulator, PacketChunk
from .futures_flow import run as run_flow
from .futures_orders import FuturesOrders, PacketWriter
from .futures_records import MAX_STEP_MSGS, S_CLOCK, S_PHASE, S_REMAINING
from .live_loop import TURN_MESSAGES, LiveLoop
from .mdp3_full_publisher import FRAME_HEADERS, FullSnapshotPublisher
from .mdp3_publisher import DEFAULT_MDP3_PORT, Mdp3Publisher
from .order_entry import OrderEntryServer, new_session_name
from .records import CLIENT_SLOTS

__all__ = ["FuturesLiveVenue", "write_flow"]



def write_flow(fut: FuturesSimulator, writer: PacketWriter, most: int) -> int:
    """Write up to about ``most`` incremental messages of ``fut``'s generated flow (whole
    steps; the start of day first, a snapshot loop when due, the end of day once its
    messages are spent) into ``writer``; stops early when the writer or the client outbox
    is short of room. Returns the messages written."""
    f, w = fut, writer
    return int(run_flow(
        f._inst, f._levels, f._orders, f._live, f._nlv, f._pub, f._pub_n, f._cdf, f._params,
        f._scal, f._fl, f._rng, f._md, f._oe, f._ops, f._trades, f._fills, f._stg, f._tcount,
        f._trace, f._names, f._defs, f._def_len, f._last_update, *f._equity_state(),
        f._eq_events, f._eq_buf, f.basket, f.basket_weights, w.buf, w.bounds, w.kinds,
        w.counts, w.pw, f.max_payload, max(0, most), f._loop_bytes, f._loop_packets,
        f._clients, f._cscal, f._outbox))


class FuturesLiveVenue(LiveLoop):
    """A live futures venue: ``FuturesSimulator(equities, messages, seed)`` (the index
    future on a ``Simulator(equity_symbols, equity_messages, seed)`` basket; ``fut`` gives a
    ready one instead, built with ``client_slots``) published by an :class:`Mdp3Publisher`
    to ``a`` / ``b`` / ``snapshot``; order entry on ``(orders_host, orders_port)`` for
    ``accounts`` (None: no order entry; port 0: any, see :attr:`orders_port`);
    ``orders_session``: the order-entry session's name (None: a new one for each venue);
    ``full_snapshots``: ``(host, port)`` of the full-snapshot channel (a SnapshotFullRefresh52
    of every instrument each step changed, docs/mdp3-snapshots.md; None: not published)."""

    def __init__(self, messages: int = 1_000_000, seed: int = 1, *,
                 fut: FuturesSimulator | None = None, equity_symbols: int = 50,
                 equity_messages: int | None = None, rate: float | None = 10_000.0,
                 a: tuple[str, int] = ("127.0.0.1", DEFAULT_MDP3_PORT),
                 b: tuple[str, int] | None = None, snapshot: tuple[str, int] | None = None,
                 snapshot_every: int = 1000, session: str = "TICKPATH01",
                 accounts: Iterable[str] | dict[str, str] | None = None,
                 orders_host: str = "127.0.0.1", orders_port: int = 0, quiet: bool = False,
                 opening_messages: int | None = None, client_slots: int = CLIENT_SLOTS,
                 sender: str = "sendto", max_payload: int = 1400, heartbeat_s: float = 1.0,
                 timeout_s: float = 15.0, iface_ip: str | None = None,
                 orders_session: str | None = None,
                 full_snapshots: tuple[str, int] | None = None) -> None:
        if accounts is not None and not isinstance(accounts, dict):
            accounts = list(accounts)
        if fut is None:
            eq = Simulator(symbols=equity_symbols, messages=equity_messages or messages,
                           seed=seed)
            fut = FuturesSimulator(eq, messages=messages, seed=seed,
                                   snapshot_every=snapshot_every, max_payload=max_payload,
                                   client_slots=client_slots if accounts else 0)
        self.fut = fut
        self.rate = rate
        self.quiet = quiet
        body = fut.messages - 4 * len(fut.specs)
        self.opening_messages = min(body, 200 * len(fut.specs) if opening_messages is None
                                    else opening_messages)
        self.writer = PacketWriter(4 << 20)
        self.publisher = Mdp3Publisher(a, b, snapshot, sender=sender, iface_ip=iface_ip)
        self.full: FullSnapshotPublisher | None = None
        if full_snapshots is not None:
            try:
                self.full = FullSnapshotPublisher(
                    full_snapshots[0], full_snapshots[1], max_instruments=len(fut.specs),
                    max_payload=fut.max_payload, last_update=fut._last_update,
                    sender=sender, iface_ip=iface_ip)
            except BaseException:
                self.publisher.close()
                raise
        self.orders: FuturesOrders | None = None
        self.server: OrderEntryServer | None = None
        if accounts:
            self.orders = FuturesOrders(fut, len(accounts), self.writer,
                                        on_packets=self._send)
            self.server = OrderEntryServer(self.orders, accounts, orders_host, orders_port,
                                           session=orders_session or new_session_name(), heartbeat_s=heartbeat_s,
                                           timeout_s=timeout_s,
                                           now_ns=lambda: int(fut._scal[S_CLOCK]))
        self.generated = 0  # incremental messages of the generated flow written
        self.started = False
        self.ended = False
        self.fut._reset()

    @property
    def orders_port(self) -> int | None:
        return None if self.server is None else self.server.port

    # ------------------------------------------------------------------ writing, sending

    def _send(self, chunk: PacketChunk) -> None:
        self.publisher.publish([chunk])
        if self.full is not None:
            self.full.publish(chunk)  # the chunk's steps' snapshots, right after them

    def _flush(self) -> None:
        chunk = self.writer.take(self.fut._scal)
        if chunk is not None:
            self._send(chunk)

    def _generate(self, most: int) -> int:
        """Write up to about ``most`` messages of the generated flow (whole steps; the start
        of day first, a snapshot loop when due); returns those written."""
        done = 0
        stalled = False
        while True:
            k = write_flow(self.fut, self.writer, most - done)
            done += k
            if self.server is not None:
                self.server.flush_outbox()  # Order Executed for client orders the flow filled
            if done >= most or int(self.fut._scal[S_PHASE]) == 3 or (k == 0 and stalled):
                break
            stalled = k == 0
            self._flush()  # the buffer (or the outbox) was short of room: send, go on
        self.generated += done
        return done

    # ------------------------------------------------------------------ the day

    def start(self) -> None:
        """Publish the start of day and the opening book (``opening_messages`` messages of
        generated flow), unpaced."""
        self.publisher.warm_up()
        if self.full is not None:
            self.full.warm_up()
        if self.orders is not None:
            self.orders.warm_up()
        self._generate(self.opening_messages)
        self._flush()
        self.started = True

    @property
    def body_remaining(self) -> int:
        return int(self.fut._scal[S_REMAINING])

    def turn(self, generate: int = 0) -> int:
        """One turn: poll order entry, generate up to ``generate`` messages, publish what was
        written. Returns the work done."""
        work = 0
        if self.server is not None:
            work += self.server.poll()
        if generate > 0:
            work += self._generate(generate)
        elif int(self.fut._scal[S_PHASE]) == 1:
            self._generate(0)  # a snapshot loop when one is due
        self._flush()
        if self.server is not None:
            self.server.poll()  # fills' Order Executed messages go out now
        return work

    def _generated(self) -> int:
        return self.generated

    def _flow_left(self) -> bool:
        return self.body_remaining > 0

    def _whole_steps(self, due: int) -> int:
        return max(min(due, TURN_MESSAGES), MAX_STEP_MSGS)  # whole steps of the flow

    def _sockets(self) -> list:
        return [] if self.server is None else self.server.sockets()

    def end(self) -> None:
        """The end of the day: SecurityStatus Close on MDP3 (the rest of the generated day is
        not written), then order entry's System Event 'E' and End of Session."""
        if self.ended:
            return
        if self.server is not None:
            self.server.poll()
        self._flush()
        self.fut._scal[S_REMAINING] = 0
        if int(self.fut._scal[S_PHASE]) == 1:
            self._generate(1)
        self._flush()
        if self.server is not None:
            self.server.end_session()
        self.ended = True

    def stats(self) -> dict[str, Any]:
        """Feed counts per channel and order-entry counters. ``*_bytes``: UDP payload bytes
        (MDP3 packet headers and messages; the incremental feed's line A once);
        ``*_frame_bytes``: the same with 42 bytes of Ethernet II, IPv4 and UDP headers a
        packet (no FCS, preamble or inter-frame gap)."""
        p = self.publisher
        out: dict[str, Any] = {"feed_messages": p.messages, "feed_packets": p.packets,
                               "feed_bytes": p.bytes,
                               "feed_frame_bytes": p.bytes + FRAME_HEADERS * p.packets,
                               "snapshot_messages": p.snapshot_messages,
                               "snapshot_packets": p.snapshot_packets,
                               "snapshot_bytes": p.snapshot_bytes,
                               "snapshot_frame_bytes": p.snapshot_bytes
                               + FRAME_HEADERS * p.snapshot_packets,
                               "generated": self.generated}
        if self.full is not None:
            out.update({f"full_snapshot_{k}": v for k, v in self.full.stats().items()})
        if self.server is not None:
            out.update(self.server.stats())
        return out

    def close(self) -> None:
        if self.server is not None:
            self.server.close()
        self.publisher.close()
        if self.full is not None:
            self.full.close()

    def __enter__(self) -> FuturesLiveVenue:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
