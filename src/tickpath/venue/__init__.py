"""The venue simulator: a seeded, deterministic matching engine that writes a day of ITCH 5.0.

``Simulator(symbols, messages, seed)`` builds ``symbols`` instruments (locate 1..N) and
generates exactly ``messages`` ITCH messages: the start of day (S 'O', one R stock directory
and one H trading action per instrument, S 'S', S 'Q'), the trading day from the compiled
matching engine in ``matching.py``, and the end of day (S 'M', S 'E', S 'C'). The output is
length-prefixed message blocks, the NASDAQ binary file format and the MoldUDP64 block format.

    sim = Simulator(symbols=2000, messages=20_000_000, seed=7)
    sim.write("day.itch.gz")              # streamed in chunks, never whole in memory
    for blocks in sim.chunks(1 << 20):    # or take the blocks yourself
        ...
    sim.books()                           # the venue's own final books, to check a replica

The same seed gives the same bytes on every run and whatever the chunk size.

For a scenario (``venue.scenario``): ``sim.hold_at(clock)`` stops the day before a step whose
clock would pass ``clock`` (another engine keeps in step with it; where it stops changes no
byte), and ``sim.announce(move, instruments, at_clock)`` arms an announcement that moves those
instruments' prices by ``move`` from that clock on (``matching``'s repricing steps). Neither
changes a byte of the day until it acts.

The futures venue, CME MDP 3.0 with an index future on these equities' basket, is
:class:`tickpath.venue.futures.FuturesSimulator` (docs/mdp3-venue.md).
"""

from __future__ import annotations

import gzip
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import numpy as np

from ..codec.itch50.layout import EVENT_DTYPE, stock_code
from ..codec.itch50.message import encode
from . import matching
from .matching import OUT_ENTRY_MAX
from .records import (
    AVG_CAP,
    C_FREE,
    CHECK_OK,
    CHECK_TEXT,
    CLIENT_DTYPE,
    INSTRUMENT_DTYPE,
    LADDER,
    LEVEL_DTYPE,
    MAX_BLOCK,
    MAX_CAP,
    MAX_CLIENT_SLOTS,
    MAX_FILLS,
    MIN_CAP,
    MPID_CODES,
    N_CSCAL,
    N_SC,
    N_SCALARS,
    ORDER_DTYPE,
    PRICE_RANGE,
    S_CLOCK,
    S_CLOCK_END,
    S_GAP_MEAN,
    S_NEXT_MATCH,
    S_NEXT_REF,
    S_REMAINING,
    SC_AT,
    SC_CLOCK,
    SC_HELD,
    SC_LEFT,
    SC_LIMIT,
    SC_MOVE_PPB,
    SC_STATE,
    SC_STEPS,
    SCALAR_NAMES,
    TICK,
    ZIPF_S,
    flow_params,
)

__all__ = ["Simulator", "ticker"]

_NS = 1_000_000_000
_HOUR = 3600 * _NS
T_START_OF_MESSAGES = 3 * _HOUR  # S 'O', then the directory
T_START_OF_SYSTEM = 4 * _HOUR  # S 'S'
T_OPEN = 9 * _HOUR + 30 * 60 * _NS  # S 'Q': the body starts here
T_CLOSE = 16 * _HOUR  # S 'M': the body ends before this
T_END_OF_SYSTEM = 20 * _HOUR  # S 'E'
T_END_OF_MESSAGES = 20 * _HOUR + 5 * 60 * _NS  # S 'C'
#: pcap timestamps: the ITCH time (ns since midnight US/Eastern) on 2024-01-02, as UTC.
PCAP_DAY_EPOCH_NS = 1_704_171_600 * _NS

_CONSONANTS = "BCDFGHKLMNPRSTVWZ"
_VOWELS = "AEIOU"


def ticker(i: int, n: int) -> str:
    """A pronounceable ticker for instrument ``i`` of ``n``: consonant-vowel-consonant-vowel
    (4 letters) while that space suffices, CVCVC otherwise. Index i is scrambled through a
    bijection of the space, so neighbouring locates do not get neighbouring names."""
    c, v = len(_CONSONANTS), len(_VOWELS)
    pattern = "CVCV" if n <= (c * v) ** 2 else "CVCVC"
    space = 1
    for ch in pattern:
        space *= c if ch == "C" else v
    k = (i * 7919 + 104_729) % space  # 7919 is prime and does not divide the space
    out = []
    for ch in reversed(pattern):
        alphabet = _CONSONANTS if ch == "C" else _VOWELS
        k, r = divmod(k, len(alphabet))
        out.append(alphabet[r])
    return "".join(reversed(out))


def _block(msg: bytes) -> bytes:
    return len(msg).to_bytes(2, "big") + msg


class Simulator:
    """A simulated NASDAQ trading day over ``symbols`` instruments, ``messages`` ITCH messages
    in all (start- and end-of-day messages included), decided by ``seed``.

    State is allocated here, once, from ``symbols`` and the per-instrument order capacities;
    each ``blocks()`` / ``chunks()`` / ``write*()`` call resets it and replays the day.
    """

    def __init__(self, symbols: int = 100, messages: int = 100_000, seed: int = 1,
                 client_slots: int = 0) -> None:
        if not 1 <= symbols <= 0xFFFF:
            raise ValueError(f"symbols must be 1..65535 (ITCH stock locate is 16 bits), "
                             f"got {symbols}")
        fixed = 2 * symbols + 6
        if messages < fixed:
            raise ValueError(f"messages={messages} is too few: the start and end of day alone "
                             f"take {fixed} for {symbols} symbols")
        if not 0 <= seed < 1 << 64:
            raise ValueError(f"seed must be 0..2**64-1, got {seed}")
        if not 0 <= client_slots <= MAX_CLIENT_SLOTS:
            raise ValueError(f"client_slots must be 0..{MAX_CLIENT_SLOTS}, got {client_slots}")
        self.messages = int(messages)
        self.seed = int(seed)
        self.symbols: list[str] = [ticker(i, symbols) for i in range(symbols)]
        self.messages_generated = 0
        self.counts_by_type: dict[str, int] = {}
        self._body = self.messages - fixed

        # cold set-up from its own stream of the seed: popularity, prices, directory fields
        setup = np.zeros(1, np.uint64)
        matching.seed_rng(setup, np.uint64(self.seed ^ 0x5EED_5EED_5EED_5EED))
        u = np.empty(3 * symbols)
        matching.fill_uniform(setup, u)
        rank = np.argsort(u[:symbols], kind="stable")  # a permutation; rank 0 is the busiest
        weight = (rank + 1.0) ** -ZIPF_S
        weight /= weight.sum()
        self._cdf = np.cumsum(weight)
        self._cdf[-1] = 1.0
        cap = np.clip((weight * symbols * AVG_CAP).astype(np.int64), MIN_CAP, MAX_CAP)
        lo_usd, hi_usd = PRICE_RANGE
        base = np.exp(np.log(lo_usd) + u[symbols:2 * symbols] * np.log(hi_usd / lo_usd))
        base = (np.round(base * 100) * TICK).astype(np.int64)  # whole cents, in Price(4)
        lo = np.maximum(TICK, base - (LADDER // 2) * TICK)
        # market category: Global Select half the time, then Global Market, Capital Market
        self._category = np.array(list("QGS"))[np.searchsorted([0.5, 0.8], u[2 * symbols:])]
        self._tier = np.where(rank < max(1, symbols // 5), "1", "2")  # busiest fifth: tier 1

        inst = np.zeros(symbols, INSTRUMENT_DTYPE)
        inst["stock"] = [stock_code(s) for s in self.symbols]
        inst["locate"] = np.arange(1, symbols + 1)
        inst["lo"] = lo
        inst["center"] = (base - lo) // TICK
        inst["cap"] = cap
        inst["live_start"] = np.concatenate(([0], np.cumsum(cap)[:-1]))
        self._inst0 = inst  # the opening state, copied into _inst on each reset
        pool = int(cap.sum())
        self._inst = inst.copy()
        self._levels = np.empty((symbols, LADDER), LEVEL_DTYPE)
        # client (order-entry) slots follow the instruments' regions: client_orders.py
        self._orders = np.zeros(pool + client_slots, ORDER_DTYPE)
        self._live = np.zeros(pool, np.int32)  # per instrument: live slots, then free ones
        self._clients = np.zeros(client_slots, CLIENT_DTYPE)
        self._cscal = np.zeros(N_CSCAL, np.int64)
        # the owners' OUCH messages from fills by the generated flow: drained by the order
        # entry (client_orders.ClientOrders); a step needs room for MAX_FILLS of them
        self._outbox = np.zeros(MAX_FILLS * OUT_ENTRY_MAX * (64 if client_slots else 1),
                                np.uint8)
        self._scal = np.zeros(N_SCALARS, np.int64)
        self._rng = np.zeros(1, np.uint64)
        self._counts = np.zeros(256, np.int64)
        self._events = np.zeros(MAX_FILLS, EVENT_DTYPE)  # one step's messages
        self._params = flow_params()
        self._mpids = MPID_CODES.copy()
        # the scenario's controls (records.SC_*): None until a clock limit or an
        # announcement is asked for, and then the generator runs exactly as before until
        # either takes effect; _scenario0 is what each replay of the day starts from
        self._scenario: np.ndarray | None = None
        self._scenario0: np.ndarray | None = None
        self._header: np.ndarray | None = None
        self._trailer = np.frombuffer(b"".join(
            _block(encode("S", timestamp=t, event_code=c))
            for t, c in ((T_CLOSE, "M"), (T_END_OF_SYSTEM, "E"), (T_END_OF_MESSAGES, "C"))
        ), np.uint8)
        self._reset()

    # ------------------------------------------------------------------ day set-up

    def _header_blocks(self) -> np.ndarray:
        """S 'O', R per instrument, H 'T' per instrument, S 'S', S 'Q' (built once)."""
        if self._header is None:
            n = len(self.symbols)
            parts = [_block(encode("S", timestamp=T_START_OF_MESSAGES, event_code="O"))]
            for i, sym in enumerate(self.symbols):
                parts.append(_block(encode(
                    "R", stock_locate=i + 1, timestamp=T_START_OF_MESSAGES + 1000 * (i + 1),
                    stock=sym, market_category=str(self._category[i]),
                    financial_status_indicator="N", round_lot_size=100, round_lots_only="N",
                    issue_classification="C", issue_sub_type="Z", authenticity="P",
                    short_sale_threshold_indicator="N", ipo_flag="N",
                    luld_reference_price_tier=str(self._tier[i]), etp_flag="N",
                    etp_leverage_factor=0, inverse_indicator="N")))
            for i, sym in enumerate(self.symbols):
                parts.append(_block(encode(
                    "H", stock_locate=i + 1,
                    timestamp=T_START_OF_MESSAGES + 1000 * (n + i + 1),
                    stock=sym, trading_state="T")))
            parts.append(_block(encode("S", timestamp=T_START_OF_SYSTEM, event_code="S")))
            parts.append(_block(encode("S", timestamp=T_OPEN, event_code="Q")))
            self._header = np.frombuffer(b"".join(parts), np.uint8)
        return self._header

    def _reset(self) -> None:
        """Back to the opening state: empty books, all order slots free, clock at 09:30."""
        self._inst[:] = self._inst0
        self._inst["bb"] = -1
        self._inst["ba"] = LADDER
        self._inst["last"] = self._inst0["center"]
        self._levels["head"] = -1
        self._levels["tail"] = -1
        self._levels["count"] = 0
        self._levels["shares"] = 0
        self._live[:] = np.arange(self._live.shape[0])  # every slot free, in order
        self._scal[:] = 0
        self._scal[S_NEXT_REF] = 1
        self._scal[S_NEXT_MATCH] = 1
        self._scal[S_CLOCK] = T_OPEN
        self._scal[S_CLOCK_END] = T_CLOSE
        # spread the body over ~90% of the trading day
        self._scal[S_GAP_MEAN] = max(1, int(0.9 * (T_CLOSE - T_OPEN) / max(1, self._body)))
        self._scal[S_REMAINING] = self._body
        matching.seed_rng(self._rng, np.uint64(self.seed))
        self._clients[:] = 0
        self._clients["owner"] = -1
        self._clients["next_free"] = np.arange(1, self._clients.shape[0] + 1)
        if self._clients.shape[0]:
            self._clients["next_free"][-1] = -1
        self._cscal[:] = 0
        self._cscal[C_FREE] = 0 if self._clients.shape[0] else -1
        self._counts[:] = 0
        if self._scenario is not None:
            self._scenario[:] = self._scenario0
        self.messages_generated = 0
        self.counts_by_type = {}

    def _count(self, blocks: np.ndarray, n: int) -> None:
        """Add the cold messages in ``blocks`` (n of them) to the type counts."""
        p = 0
        for _ in range(n):
            self._counts[blocks[p + 2]] += 1
            p += 2 + (int(blocks[p]) << 8 | int(blocks[p + 1]))

    def _publish_counts(self) -> None:
        self.counts_by_type = {chr(t): int(c) for t, c in enumerate(self._counts) if c}

    # ------------------------------------------------------------------ generation

    def chunks(self, chunk_messages: int = 1 << 20) -> Iterator[np.ndarray]:
        """The day as uint8 arrays of whole blocks, at most ``chunk_messages`` messages each
        (except a first chunk holding only the start of day, which is never split).

        Restarts the day from the seed when iteration begins. Each array is freshly
        allocated, so a caller may keep it. Concatenated, the chunks equal ``blocks()``:
        where a chunk ends never changes the stream (the engine stops before a step that
        might not fit).
        """
        if chunk_messages < MAX_FILLS + 3:
            raise ValueError(f"chunk_messages must be at least {MAX_FILLS + 3} (one step of "
                             f"the matching engine emits up to {MAX_FILLS} messages)")
        return self._chunks(chunk_messages)

    def _chunks(self, chunk_messages: int) -> Iterator[np.ndarray]:
        self._reset()
        header = self._header_blocks()
        n_header = 2 * len(self.symbols) + 3
        pending_header = True
        trailer_sent = False
        while not trailer_sent:
            # never below one step's room: a small day's cap under it would let no step fit
            # and the loop would spin without end
            cap = max(min(chunk_messages, self.messages), MAX_FILLS + 3)
            buf = np.empty(header.shape[0] * pending_header + cap * MAX_BLOCK
                           + self._trailer.shape[0], np.uint8)
            p = 0
            n = 0
            if pending_header:
                buf[:header.shape[0]] = header
                p = header.shape[0]
                n = n_header
                self._count(header, n_header)
                pending_header = False
            if self._scal[S_REMAINING] > 0 and n < cap:
                p, k = self._step(buf, p, cap - n)
                n += int(k)
                if k == 0 and self.held:
                    raise RuntimeError("a clock limit holds the day: clear it (hold_at(0)) "
                                       "to write the whole day")
            if self._scal[S_REMAINING] == 0 and (n == 0 or n + 3 <= cap):
                t = self._trailer
                buf[p:p + t.shape[0]] = t
                p += t.shape[0]
                n += 3
                self._count(t, 3)
                trailer_sent = True
            self.messages_generated += n
            self._publish_counts()
            if n:
                yield buf[:p]

    # ------------------------------------------------------------------ step by step

    def open_day(self) -> np.ndarray:
        """Restart the day from the seed and return its start (S 'O', R and H per instrument,
        S 'S', S 'Q') as length-prefixed blocks; then :meth:`generate_into` runs the body."""
        self._reset()
        header = self._header_blocks()
        n = 2 * len(self.symbols) + 3
        self._count(header, n)
        self.messages_generated = n
        self._publish_counts()
        return header

    def generate_into(self, buf: np.ndarray, p: int, max_msgs: int) -> tuple[int, int]:
        """Generate whole steps of the day's body into ``buf[p:]`` (uint8), at most
        ``max_msgs`` messages; returns ``(end offset, messages)``. 0 messages: the body is
        done, or ``buf`` or the OUCH outbox has no room for a step (drain it and call again).
        """
        end, k = self._step(buf, p, max_msgs)
        self.messages_generated += int(k)
        return int(end), int(k)

    def _step(self, buf: np.ndarray, p: int, max_msgs: int) -> tuple[int, int]:
        if self._scenario is None:  # the call every day without a scenario has always made
            return matching.generate(
                self._inst, self._levels, self._orders, self._live, self._cdf, self._params,
                self._mpids, self._scal, self._rng, self._counts, self._events, buf, p,
                max_msgs, self._clients, self._cscal, self._outbox)
        return matching.generate(
            self._inst, self._levels, self._orders, self._live, self._cdf, self._params,
            self._mpids, self._scal, self._rng, self._counts, self._events, buf, p, max_msgs,
            self._clients, self._cscal, self._outbox, self._scenario)

    @property
    def clock(self) -> int:
        """The session clock: the timestamp of the last step generated (ns since midnight)."""
        return int(self._scal[S_CLOCK])

    # ------------------------------------------------------------------ scenario

    def _controls(self) -> np.ndarray:
        if self._scenario is None:
            self._scenario0 = np.zeros(N_SC + len(self.symbols), np.int64)
            self._scenario0[SC_AT] = -1
            self._scenario = self._scenario0.copy()
        return self._scenario

    def hold_at(self, clock: int) -> None:
        """From now on the generator stops before a step whose clock would pass ``clock``
        (ns since midnight; 0: no limit), and :attr:`held` says it did: another engine can
        be kept in step with this day. Where the day stops never changes its messages (the
        held step is drawn again, identically, once the limit allows it). Until the next
        replay of the day (a replay starts with no limit)."""
        if clock < 0:
            raise ValueError(f"clock must be >= 0 (0: no limit), got {clock}")
        self._controls()[SC_LIMIT] = clock

    @property
    def held(self) -> bool:
        """Whether the last generation stopped at the :meth:`hold_at` clock limit."""
        return self._scenario is not None and bool(self._scenario[SC_HELD])

    def announce(self, move: float, instruments: Sequence[int], at_clock: int) -> None:
        """Arm an announcement: at the first step whose clock is at or after ``at_clock``
        (ns since midnight; a clock already passed: the next step), each instrument in
        ``instruments`` (0-based indices, locate - 1) gets a new centre, its midpoint then
        moved by ``move`` (a fraction of its price, e.g. -0.015; whole ticks, kept inside
        the ladder), and its flow reprices it there (``matching._reprice``) before going on
        as usual around it. The day is the same as without it until then. Also armed for
        later replays of the day (``open_day``, ``chunks``)."""
        if not -0.5 < move < 0.5 or move == 0:
            raise ValueError(f"move must be a non-zero fraction of the price in (-0.5, 0.5), "
                             f"got {move}")
        if at_clock < 0:
            raise ValueError(f"at_clock must be >= 0 (ns since midnight), got {at_clock}")
        picked = np.asarray(list(instruments), np.int64)
        if picked.size == 0 or picked.min() < 0 or picked.max() >= len(self.symbols):
            raise ValueError(f"instruments must be indices 0..{len(self.symbols) - 1}, got "
                             f"{picked.tolist()}")
        live = self._controls()
        if live[SC_STATE] != 0:
            raise RuntimeError("an announcement has already been applied today")
        for arr in (self._scenario0, live):
            arr[SC_AT] = at_clock
            arr[SC_MOVE_PPB] = round(move * 1e9)
            arr[N_SC:] = 0
            arr[N_SC + picked] = 1

    def announcement(self) -> dict[str, Any] | None:
        """The announcement's state: ``at`` (armed clock), ``move``, ``applied`` and the
        ``clock`` it applied at, ``repricing`` (instruments not yet at their new centre),
        ``reprice_steps``, and ``centers`` (instrument index -> its new centre, a Price(4)
        price, once applied); None when none is armed."""
        sc = self._scenario
        if sc is None or sc[SC_AT] < 0:
            return None
        applied = bool(sc[SC_STATE])
        moved = np.flatnonzero(self._scenario0[N_SC:])
        centers = {int(i): int(self._inst["lo"][i] + self._inst["center"][i] * TICK)
                   for i in moved} if applied else {}
        return {"at": int(sc[SC_AT]), "move": int(sc[SC_MOVE_PPB]) * 1e-9,
                "applied": applied, "clock": int(sc[SC_CLOCK]) if applied else None,
                "instruments": [int(i) for i in moved],
                "repricing": int(sc[SC_LEFT]), "reprice_steps": int(sc[SC_STEPS]),
                "centers": centers}

    @property
    def body_remaining(self) -> int:
        """Messages of the day's body still to generate."""
        return int(self._scal[S_REMAINING])

    def close_day(self) -> np.ndarray:
        """The end of day (S 'M', S 'E', S 'C') as blocks; counted as generated."""
        self._count(self._trailer, 3)
        self.messages_generated += 3
        self._publish_counts()
        return self._trailer

    def blocks(self) -> np.ndarray:
        """The whole day as one uint8 array of length-prefixed blocks (for small runs)."""
        parts = list(self.chunks(max(self.messages, MAX_FILLS + 3)))
        return parts[0] if len(parts) == 1 else np.concatenate(parts)  # one chunk: no copy

    # ------------------------------------------------------------------ results

    def books(self) -> dict[int, dict[str, Any]]:
        """The simulator's own books now (after a run: the end of day), aggregated per price
        level from its live orders: ``{locate: {"locate", "symbol", "bids": [[price, shares,
        orders], ...] best first, "asks": [...]}}``, instruments with live orders only."""
        inst = self._inst
        n_live = inst["n_live"].astype(np.int64)
        start = inst["live_start"]
        idx = np.repeat(np.arange(len(inst)), n_live)
        pos = np.arange(idx.size) - np.repeat(np.cumsum(n_live) - n_live, n_live)
        slots = self._live[start[idx] + pos]
        od = self._orders[slots]
        price = inst["lo"][idx] + od["index"].astype(np.int64) * TICK
        # one key per (instrument, side, price): sorted, each level is one run of equal keys
        key = (idx.astype(np.int64) * 2 + od["side"]) << 40 | price
        order = np.argsort(key, kind="stable")
        key = key[order]
        starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]]) if key.size \
            else np.zeros(0, np.int64)
        shares = np.add.reduceat(od["shares"][order].astype(np.int64), starts) \
            if key.size else np.zeros(0, np.int64)
        n_orders = np.diff(np.r_[starts, key.size])
        out: dict[int, dict[str, Any]] = {}
        for k, s in enumerate(starts):
            i = int(key[s] >> 41)
            locate = i + 1
            book = out.get(locate)
            if book is None:
                book = out[locate] = {"locate": locate, "symbol": self.symbols[i],
                                      "bids": [], "asks": []}
            side = "asks" if (key[s] >> 40) & 1 else "bids"
            book[side].append([int(key[s] & ((1 << 40) - 1)), int(shares[k]), int(n_orders[k])])
        for book in out.values():
            book["bids"].reverse()  # keys ascend: the best bid is the highest price
        return out

    def check(self) -> None:
        """Check the engine's state for consistency (queues, level totals, bests, live list,
        pool); raise ``RuntimeError`` naming the instrument and the problem."""
        status, i = matching.check_books(self._inst, self._levels, self._orders, self._live,
                                         self._clients)
        if status != CHECK_OK:
            where = f"instrument {self.symbols[i]} (locate {i + 1})" if i >= 0 else "pool"
            raise RuntimeError(f"venue simulator state broken at {where}: {CHECK_TEXT[status]}")

    def stats(self) -> dict[str, int]:
        """The engine's scalar counters (next reference and match numbers, prices clamped
        into the ladder, adds turned into deletes at capacity, ...)."""
        return {name: int(v) for name, v in zip(SCALAR_NAMES, self._scal, strict=True)}

    # ------------------------------------------------------------------ files

    def write(self, path: str | Path,
              progress: Callable[[int, int], None] | None = None) -> int:
        """Write the day as a NASDAQ binary ITCH file (2-byte big-endian length + message,
        back to back); a ``.gz`` suffix writes it gzip-compressed (level 1: fast). Chunks
        are written by a second thread while the next one is generated (both release the
        GIL), at most two in memory. ``progress(done, total)`` is called after each chunk.
        Returns the number of messages written."""
        path = Path(path)
        with ExitStack() as stack:
            if path.suffix == ".gz":
                f = stack.enter_context(gzip.open(path, "wb", compresslevel=1))
            else:
                f = stack.enter_context(open(path, "wb"))
            writer = stack.enter_context(ThreadPoolExecutor(1, "venue-write"))
            pending: Future | None = None
            for blocks in self.chunks():
                if pending is not None:
                    pending.result()  # surfaces a write error here, and bounds memory
                pending = writer.submit(f.write, memoryview(blocks))
                if progress is not None:
                    progress(self.messages_generated, self.messages)
            if pending is not None:
                pending.result()
        return self.messages_generated

    def write_pcap(self, path: str | Path, session: str = "TICKPATH01",
                   dst: tuple[str, int] = ("233.54.12.1", 26400),
                   src: tuple[str, int] = ("10.0.0.1", 26400), max_payload: int = 1400) -> int:
        """Write the day as a capture of MoldUDP64 packets (Ethernet/IPv4/UDP, nanosecond
        pcap), sequence numbers from 1, closed by an end-of-session packet. Each packet is
        stamped with its first message's ITCH time on ``PCAP_DAY_EPOCH_NS``'s day. Returns
        the number of messages written."""
        from ..feed.moldudp64 import HEADER_LEN, pack_packets, session_bytes
        from ..feed.moldudp64._kernels import write_header
        from ..feed.moldudp64.layout import END_OF_SESSION
        from ..wire.pcap import PcapWriter, udp_frame

        if max_payload < HEADER_LEN + MAX_BLOCK:
            raise ValueError(f"max_payload={max_payload} cannot hold one message: the largest "
                             f"block is {MAX_BLOCK} bytes after the {HEADER_LEN}-byte header")
        seq = 1
        ts = T_START_OF_MESSAGES
        with PcapWriter(path, nanosecond=True) as w:
            for blocks in self.chunks():
                out, bounds, counts = pack_packets(blocks, session, seq, max_payload)
                for k in range(counts.shape[0]):
                    a, b = int(bounds[k]), int(bounds[k + 1])
                    t0 = a + HEADER_LEN + 2 + 5  # first message's 6-byte timestamp
                    ts = int.from_bytes(out[t0:t0 + 6].tobytes(), "big")
                    w.write(udp_frame(out[a:b], src[0], dst[0], src[1], dst[1]),
                            PCAP_DAY_EPOCH_NS + ts)
                seq += int(counts.sum())
            eos = np.empty(HEADER_LEN, np.uint8)
            write_header(eos, 0, session_bytes(session), seq, END_OF_SESSION)
            w.write(udp_frame(eos, src[0], dst[0], src[1], dst[1]), PCAP_DAY_EPOCH_NS + ts)
        return seq - 1
