"""The venue simulator: a deterministic day that decodes cleanly, whose every book message
refers to a live order, whose books never cross, whose executions follow price-time priority,
and whose own final books equal a plain-Python replay of its stream."""

from __future__ import annotations

import gzip
import hashlib
import subprocess
import sys
from collections import Counter, OrderedDict

import numpy as np
import pytest

from tickpath.codec.itch50.decode import OK, decode_batch
from tickpath.codec.itch50.layout import EVENT_DTYPE, LENGTHS, stock_code
from tickpath.venue import Simulator, ticker
from tickpath.venue.records import MAX_FILLS

SYMBOLS = 60
MESSAGES = 50_000
SEED = 11


def decode(blocks: np.ndarray) -> np.ndarray:
    out = np.zeros(blocks.size // 14 + 1, EVENT_DTYPE)  # the shortest block is 2 + 12 bytes
    n, status, offset = decode_batch(blocks, 0, blocks.size, LENGTHS, out, 0, 0)
    assert status == OK, f"decode stopped at offset {offset} with status {status}"
    assert offset == blocks.size
    return out[:n]


class Replay:
    """A tiny dict-based venue model: replays the stream, checking each message as it goes."""

    def __init__(self, symbols: list[str]) -> None:
        self.symbols = symbols
        self.orders: dict[int, list] = {}  # ref -> [locate, side, price, shares]
        # (locate, side) -> {price: OrderedDict(ref -> None)}, insertion order = time priority
        self.levels: dict[tuple[int, str], dict[int, OrderedDict]] = {}
        self.next_ref = 1
        self.next_match = 1
        self.sweeps = 0  # steps whose executions took more than one order
        self.multi_level_sweeps = 0  # ... at more than one price
        self._run: tuple[int, int] | None = None  # (locate, timestamp) of the current fills
        self._run_prices: set[int] = set()
        self._run_len = 0

    def _queue(self, locate: int, side: str, price: int) -> OrderedDict:
        return self.levels.setdefault((locate, side), {}).setdefault(price, OrderedDict())

    def _best(self, locate: int, side: str) -> int | None:
        lv = self.levels.get((locate, side))
        if not lv:
            return None
        return max(lv) if side == "B" else min(lv)

    def _rest(self, ref: int, locate: int, side: str, price: int, shares: int) -> None:
        assert ref == self.next_ref, f"order reference {ref}, expected {self.next_ref}"
        self.next_ref += 1
        assert ref not in self.orders
        assert side in "BS" and shares > 0 and price > 0 and price % 100 == 0
        other = self._best(locate, "S" if side == "B" else "B")
        if other is not None:  # passive orders never lock or cross the book
            assert (price < other) if side == "B" else (price > other), "crossing add"
        self.orders[ref] = [locate, side, price, shares]
        self._queue(locate, side, price)[ref] = None

    def _remove(self, ref: int) -> None:
        locate, side, price, _ = self.orders.pop(ref)
        lv = self.levels[(locate, side)]
        del lv[price][ref]
        if not lv[price]:
            del lv[price]

    def _match(self, match: int) -> None:
        assert match == self.next_match, f"match number {match}, expected {self.next_match}"
        self.next_match += 1

    def _end_run(self) -> None:
        if self._run_len > 1:
            self.sweeps += 1
            self.multi_level_sweeps += len(self._run_prices) > 1
        self._run, self._run_prices, self._run_len = None, set(), 0

    def apply(self, ev: np.void) -> None:
        t = chr(ev["type"])
        locate = int(ev["locate"])
        ref = int(ev["ref"])
        if t not in "EC":
            self._end_run()
        if t in "AF":
            assert int(ev["stock"]) == stock_code(self.symbols[locate - 1])
            self._rest(ref, locate, chr(ev["side"]), int(ev["price"]), int(ev["shares"]))
        elif t in "EC":
            order = self.orders.get(ref)
            assert order is not None, f"{t} on order {ref}, which is not live"
            o_locate, side, price, shares = order
            assert o_locate == locate
            # price-time priority: the oldest order at the best price of its side
            assert price == self._best(locate, side), "execution away from the best price"
            assert next(iter(self.levels[(locate, side)][price])) == ref, "not first in time"
            n = int(ev["shares"])
            assert 0 < n <= shares
            self._match(int(ev["match"]))
            if t == "C":
                assert chr(ev["flag"]) == "Y" and int(ev["price"]) == price
            key = (locate, int(ev["timestamp"]))
            if self._run != key:
                self._end_run()
                self._run = key
            self._run_len += 1
            self._run_prices.add(price)
            if n == shares:
                self._remove(ref)
            else:
                order[3] -= n
        elif t == "X":
            order = self.orders.get(ref)
            assert order is not None, f"X on order {ref}, which is not live"
            assert 0 < int(ev["shares"]) < order[3], "a partial cancel takes part of the order"
            order[3] -= int(ev["shares"])
        elif t == "D":
            assert ref in self.orders, f"D on order {ref}, which is not live"
            self._remove(ref)
        elif t == "U":
            order = self.orders.get(ref)
            assert order is not None, f"U on order {ref}, which is not live"
            assert order[0] == locate
            self._remove(ref)
            self._rest(int(ev["new_ref"]), locate, order[1], int(ev["price"]),
                       int(ev["shares"]))
        elif t == "P":
            assert ref == 0 and chr(ev["side"]) == "B"
            bid, ask = self._best(locate, "B"), self._best(locate, "S")
            if bid is not None and ask is not None:
                assert bid <= int(ev["price"]) <= ask, "hidden trade outside the touch"
            self._match(int(ev["match"]))
        elif t == "Q":
            self._match(int(ev["match"]))
        elif t == "B":
            assert 1 <= int(ev["match"]) < self.next_match, "broken trade on a future match"

    def books(self) -> dict[int, dict]:
        out: dict[int, dict] = {}
        for (locate, side), lv in self.levels.items():
            if not lv:
                continue
            book = out.setdefault(locate, {"locate": locate, "symbol": self.symbols[locate - 1],
                                           "bids": [], "asks": []})
            rows = [[p, sum(self.orders[r][3] for r in q), len(q)] for p, q in lv.items()]
            rows.sort(reverse=side == "B")
            book["bids" if side == "B" else "asks"] = rows
        return out


def replay(sim: Simulator, events: np.ndarray) -> Replay:
    model = Replay(sim.symbols)
    for ev in events:
        model.apply(ev)
    model._end_run()
    return model


@pytest.fixture(scope="module")
def day() -> tuple[Simulator, np.ndarray, np.ndarray]:
    sim = Simulator(symbols=SYMBOLS, messages=MESSAGES, seed=SEED)
    blocks = sim.blocks()
    return sim, blocks, decode(blocks)


def test_same_seed_same_bytes_other_seed_other_bytes(day):
    sim, blocks, _ = day
    again = Simulator(symbols=SYMBOLS, messages=MESSAGES, seed=SEED).blocks()
    assert np.array_equal(blocks, again)
    other = Simulator(symbols=SYMBOLS, messages=MESSAGES, seed=SEED + 1).blocks()
    assert not np.array_equal(blocks[: other.size], other[: blocks.size])


def test_same_seed_same_bytes_in_another_process():
    code = ("import hashlib; from tickpath.venue import Simulator; "
            "print(hashlib.sha256(Simulator(symbols=7, messages=4000, seed=21).blocks())"
            ".hexdigest())")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True).stdout.strip()
    here = hashlib.sha256(Simulator(symbols=7, messages=4000, seed=21).blocks()).hexdigest()
    assert out == here


def test_blocks_twice_on_one_simulator_is_the_same_day():
    sim = Simulator(symbols=5, messages=3000, seed=3)
    first = sim.blocks()
    assert np.array_equal(first, sim.blocks())


def test_exact_message_count_and_day_frame(day):
    sim, _, events = day
    assert len(events) == MESSAGES == sim.messages_generated
    types = "".join(chr(t) for t in events["type"])
    n = SYMBOLS
    assert types[0] == "S" and chr(events[0]["flag"]) == "O"
    assert types[1:1 + n] == "R" * n and types[1 + n:1 + 2 * n] == "H" * n
    assert [int(e["locate"]) for e in events[1:1 + n]] == list(range(1, n + 1))
    assert [int(e["stock"]) for e in events[1:1 + n]] == [stock_code(s) for s in sim.symbols]
    assert all(chr(e["flag"]) == "T" for e in events[1 + n:1 + 2 * n])
    codes = [chr(e["flag"]) for e in events if chr(e["type"]) == "S"]
    assert codes == list("OSQMEC")
    assert types[-3:] == "SSS"
    ts = events["timestamp"].astype(np.int64)
    assert np.all(np.diff(ts) >= 0), "timestamps go backwards"
    body = events[2 * n + 3:-3]
    assert body["timestamp"].min() > 9.5 * 3600e9 and body["timestamp"].max() < 16 * 3600e9
    assert body["locate"].min() >= 1 and body["locate"].max() <= n


def test_counts_by_type_are_plausible(day):
    sim, _, events = day
    counts = Counter(chr(t) for t in events["type"])
    assert sim.counts_by_type == dict(counts)
    for t in "AFECXDUPQBI":
        assert counts[t] > 0, f"no {t} messages"
    assert counts["D"] + counts["X"] > counts["E"] + counts["C"], "cancels must outnumber fills"
    assert counts["A"] > counts["F"] > 0
    assert counts["A"] + counts["F"] > counts["D"]
    assert counts["E"] > counts["C"]


def test_replay_checks_every_message_and_matches_the_simulators_books(day):
    sim, _, events = day
    model = replay(sim, events)
    assert model.sweeps > 0, "no aggressive order filled more than one resting order"
    assert model.multi_level_sweeps > 0, "no aggressive order swept more than one level"
    books = sim.books()
    assert books == model.books()
    assert len(books) > SYMBOLS // 2
    for book in books.values():
        assert book["symbol"] == sim.symbols[book["locate"] - 1]
        bids = [p for p, _, _ in book["bids"]]
        asks = [p for p, _, _ in book["asks"]]
        assert bids == sorted(bids, reverse=True) and asks == sorted(asks)
        if bids and asks:
            assert bids[0] < asks[0], f"{book['symbol']} ends crossed"
    sim.check()


def test_popularity_is_skewed(day):
    _, _, events = day
    body = events[2 * SYMBOLS + 3:-3]
    per = np.sort(np.bincount(body["locate"], minlength=SYMBOLS + 1)[1:])[::-1]
    assert per[0] > 5 * np.median(per), "the busiest instrument should dwarf the median"
    assert per[-1] > 0


@pytest.mark.parametrize("size", [MAX_FILLS + 3, 1000, 7777])
def test_chunks_concatenate_to_blocks(size):
    sim = Simulator(symbols=20, messages=12_000, seed=5)
    whole = sim.blocks()
    chunks = list(sim.chunks(size))
    assert np.array_equal(np.concatenate(chunks), whole)
    assert sim.messages_generated == 12_000
    header = 2 * 20 + 3
    for k, chunk in enumerate(chunks):
        n = len(decode(chunk))
        assert 0 < n <= max(size, header if k == 0 else 0)


def test_chunks_refuse_a_size_smaller_than_one_step():
    sim = Simulator(symbols=2, messages=100, seed=1)
    with pytest.raises(ValueError, match="chunk_messages"):
        next(sim.chunks(MAX_FILLS))


def test_too_few_messages_and_bad_symbol_counts_are_refused():
    with pytest.raises(ValueError, match="too few"):
        Simulator(symbols=10, messages=25)
    with pytest.raises(ValueError, match="symbols"):
        Simulator(symbols=0)
    with pytest.raises(ValueError, match="symbols"):
        Simulator(symbols=70_000)


@pytest.mark.parametrize("symbols, messages", [(2, 20), (1, 8), (3, 34)])
def test_a_day_smaller_than_one_step_of_the_engine_is_written_whole(symbols, messages):
    """A day with room for fewer messages than one step of the engine may emit (its cap on a
    chunk below MAX_FILLS) once spun without end: now it is written, exactly its size."""
    sim = Simulator(symbols=symbols, messages=messages, seed=7)
    assert len(decode(sim.blocks())) == messages == sim.messages_generated


def test_smallest_day_is_only_the_frame():
    sim = Simulator(symbols=3, messages=12, seed=1)
    events = decode(sim.blocks())
    assert "".join(chr(t) for t in events["type"]) == "SRRRHHHSSSSS"
    assert sim.books() == {}


def test_full_instruments_turn_adds_into_cancels(monkeypatch):
    import tickpath.venue as venue

    # tiny capacities, so the day keeps running into them
    monkeypatch.setattr(venue, "MIN_CAP", 8)
    monkeypatch.setattr(venue, "MAX_CAP", 8)
    sim = Simulator(symbols=3, messages=20_000, seed=9)
    events = decode(sim.blocks())
    assert sim.stats()["adds_at_capacity"] > 100
    model = replay(sim, events)
    books = sim.books()
    assert books == model.books()
    sim.check()
    for book in books.values():
        assert sum(n for _, _, n in book["bids"] + book["asks"]) <= 8


def test_symbols_are_unique_pronounceable_and_fit_itch():
    for n in (1, 100, 7225, 7226, 65_535):
        names = [ticker(i, n) for i in range(n)]
        assert len(set(names)) == n
        assert all(name.isalpha() and name.isupper() and len(name) <= 8 for name in names)
    assert Simulator(symbols=4, messages=100).symbols == [ticker(i, 4) for i in range(4)]


def test_write_plain_and_gzip(tmp_path):
    sim = Simulator(symbols=10, messages=8000, seed=2)
    whole = sim.blocks().tobytes()
    seen = []
    assert sim.write(tmp_path / "day.itch", progress=lambda d, t: seen.append((d, t))) == 8000
    assert (tmp_path / "day.itch").read_bytes() == whole
    assert seen[-1] == (8000, 8000)
    assert sim.write(str(tmp_path / "day.itch.gz")) == 8000
    assert gzip.decompress((tmp_path / "day.itch.gz").read_bytes()) == whole


def test_write_pcap_carries_the_day_in_moldudp64_packets(tmp_path):
    pcap = pytest.importorskip("tickpath.wire.pcap")
    sim = Simulator(symbols=10, messages=6000, seed=4)
    whole = sim.blocks().tobytes()
    path = tmp_path / "day.pcap"
    assert sim.write_pcap(path, session="SIMDAY0001", dst=("233.54.12.9", 30001),
                          src=("10.1.1.1", 30002), max_payload=600) == 6000
    body = bytearray()
    expected_seq = 1
    last_ts = 0
    packets = list(pcap.read_udp(path))
    for k, (ts, payload, (src, dst, sport, dport)) in enumerate(packets):
        raw = bytes(payload)
        assert (src, dst, sport, dport) == ("10.1.1.1", "233.54.12.9", 30002, 30001)
        assert raw[:10] == b"SIMDAY0001" and len(raw) <= 600
        seq = int.from_bytes(raw[10:18], "big")
        count = int.from_bytes(raw[18:20], "big")
        assert seq == expected_seq and ts >= last_ts
        last_ts = ts
        if k == len(packets) - 1:
            assert count == 0xFFFF and len(raw) == 20  # end of session
            continue
        body += raw[20:]
        expected_seq += count
    assert expected_seq == 6001
    assert bytes(body) == whole
