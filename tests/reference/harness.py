"""Shared test plumbing: ITCH streams built with ``message.encode``, decoded with the compiled
decoder, applied to a ``BookStore`` and to the :class:`ReferenceBook`, and compared.

A stream is a list of ``(type, fields)`` pairs, ``fields`` being the keyword arguments of
``tickpath.codec.itch50.message.encode``. :class:`StreamBuilder` turns small integer tuples
(what hypothesis draws and shrinks well) into such messages, choosing targets from the live
orders of the reference book it feeds as it goes.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np

from tickpath.book import BookStore
from tickpath.book import apply as kernels
from tickpath.codec.itch50 import decode as dec
from tickpath.codec.itch50.layout import EVENT_DTYPE, LENGTHS
from tickpath.codec.itch50.message import encode

from .book import RESERVED, ReferenceBook

Msg = tuple[str, dict]

#: status code -> name (the reference book's reasons are these names)
STATUS_NAMES = {getattr(kernels, n): n for n in (
    "OK", "UNKNOWN_REF", "DUPLICATE_REF", "OVER_EXECUTE", "BAD_SIDE", "ORDERS_FULL",
    "LEVELS_FULL", "LOCATE_MISMATCH", "BAD_SHARES", "RESERVED_REF")}
assert set(STATUS_NAMES) == set(kernels.STATUS_TEXT), "a status code has no name here"
STATUS_CODES = {name: code for code, name in STATUS_NAMES.items()}


def new_store(max_orders: int, max_levels: int | None = None, errors: str = "skip",
              initial_orders: int | None = None) -> BookStore:
    """A store; ``initial_orders`` small makes its tables grow while the test runs."""
    kw = {} if initial_orders is None else {"initial_orders": initial_orders}
    return BookStore(max_orders=max_orders, max_levels=max_levels, errors=errors, **kw)


def frame(msgs: list[Msg], base: int = 0) -> tuple[bytes, list[int]]:
    """Length-prefixed blocks, and the stream offset of each message's type byte."""
    out = bytearray()
    offsets = []
    for t, f in msgs:
        m = encode(t, **f)
        out += len(m).to_bytes(2, "big")
        offsets.append(base + len(out))
        out += m
    return bytes(out), offsets


def decode(raw: bytes, base: int = 0) -> tuple[np.ndarray, int]:
    """Every block of ``raw`` as events; the stream must be well formed."""
    buf = np.frombuffer(raw, np.uint8).copy()
    events = np.zeros(max(1, len(raw) // 14), EVENT_DTYPE)
    n, st, p = dec.decode_batch(buf, 0, len(buf), LENGTHS, events, 0, base)
    assert st == dec.OK and int(p) == len(raw), (st, p, len(raw))
    return events, int(n)


def feed(store: BookStore, msgs: list[Msg], base: int = 0) -> tuple[int, list[int]]:
    """Frame, decode and apply ``msgs``; returns (bytes used, message offsets)."""
    raw, offsets = frame(msgs, base)
    events, n = decode(raw, base)
    assert n == len(msgs)
    store.apply(events, n)
    return len(raw), offsets


def apply_both(store: BookStore, ref: ReferenceBook, msgs: list[Msg], base: int = 0
               ) -> tuple[list[str | None], list[int]]:
    reasons = [ref.apply(t, **f) for t, f in msgs]
    _, offsets = feed(store, msgs, base)
    return reasons, offsets


# -- comparison ---------------------------------------------------------------------------------

def _drop(d: dict, keys: tuple[str, ...]) -> dict:
    return {k: v for k, v in d.items() if k not in keys}


def assert_same(store: BookStore, ref: ReferenceBook, locates=(), refs=(),
                rejections: bool = True) -> None:
    """Everything the store answers equals the reference's answer.

    ``rejections=False`` for a store with ``errors="raise"``, which keeps none.
    """
    assert list(store.books()) == ref.books()
    for loc in locates:
        assert store.depth(loc) == ref.depth(loc), loc
        assert store.depth(loc, 2) == ref.depth(loc, 2), loc
        assert store.bbo(loc) == ref.bbo(loc), loc
        assert store.instrument_stats(loc) == ref.instrument_stats(loc), loc
    for r in refs:
        assert store.order(r) == ref.order(r), r
    mine = store.stats()
    # where the table keeps an order is the store's own business; check() counts it
    assert 0 <= mine.pop("overflow_orders") <= mine["live_orders"]
    assert mine == ref.stats()
    assert store.counts_by_type() == ref.counts_by_type()
    assert store.directory == ref.directory
    if not rejections:
        return
    kept = [STATUS_NAMES[e.status] for e in store.rejections]
    assert kept == ref.rejections[:len(kept)]
    assert len(kept) == min(100, len(ref.rejections))


def snapshot(store: BookStore, refs=()) -> dict:
    """The full state a query can see (for 'unchanged' checks)."""
    return {
        "books": list(store.books()),
        "orders": {r: store.order(r) for r in refs},
        "stats": _drop(store.stats(), ("rejected", "events")),
        "inst": {int(loc): store.instrument_stats(int(loc))
                 for loc in np.flatnonzero(store.inst.any(axis=1))},
        "types": store.counts_by_type(),
        "directory": store.directory,
    }


# -- hash-aware reference numbers -------------------------------------------------------------

_GOLDEN = 0x9E3779B97F4A7C15
_M64 = (1 << 64) - 1


def home_slot(ref: int, mask: int) -> int:
    """The store's own overflow home slot of ``ref`` (counted from the overflow's start) for
    a window of ``mask + 1`` slots (to aim collisions whatever the hash function is)."""
    return int(kernels.slot_of(np.uint64(ref), np.int64(mask)))


def homing_at(slots: set[int], mask: int, start: int):
    """Reference numbers >= ``start`` that share ``start``'s window slot and whose overflow
    home slot is in ``slots``, in increasing order: after the first, every one waits in the
    overflow table on the probe chains of ``slots`` (book/records.py: the order table)."""
    r = start
    while r < RESERVED:
        if home_slot(r, mask) in slots:
            yield r
        r += mask + 1


def refs_homing_at(slots: set[int], mask: int, start: int, count: int) -> list[int]:
    """``count`` reference numbers >= ``start`` whose home slot is in ``slots``."""
    it = homing_at(slots, mask, start)
    return [next(it) for _ in range(count)]


# -- random and adversarial streams -------------------------------------------------------------

REF_MODES = ("seq", "pow2", "tail", "random")
SYMBOLS = ("AAPL", "MSFT", "QQQ", "ZVZZT", "A", "BRK A", "TEST1234")


@dataclass
class Scenario:
    locates: list[int]  # instruments used, interleaved
    price_lo: int
    price_hi: int  # == price_lo: every order at one price
    split: bool  # bids strictly below asks (never locked or crossed)
    ref_mode: str  # seq | pow2 (multiples of 2**shift) | tail (hash to the last slots) | random
    shift: int
    ref_start: int
    max_orders: int
    max_levels: int | None
    initial_orders: int | None = None  # small: the store's tables grow during the stream


@dataclass
class StreamBuilder:
    """Interprets op tuples ``(kind, x, y, z)`` against the live orders of ``ref``.

    ``step`` returns one message; the caller applies it (to the reference, then the store).
    Kinds (``kind % 100``): adds, executions that may exactly empty an order or a level,
    cancels, deletes, replaces (often of the newest order, so chains form), re-adds of deleted
    references, directory and noise messages, and every kind of refused message.
    """

    sc: Scenario
    ref: ReferenceBook
    mask: int
    seen: list[int] = field(default_factory=list)  # every reference number used
    dead: list[int] = field(default_factory=list)  # references no longer live
    _next: int = 0
    _tail: Iterator[int] | None = None
    _ts: int = 0

    def __post_init__(self) -> None:
        self._next = self.sc.ref_start
        if self.sc.ref_mode == "tail":  # home slots in the last 1/64 of the table
            last = set(range(self.mask - max(2, (self.mask + 1) // 64) + 1, self.mask + 1))
            self._tail = homing_at(last, self.mask, self.sc.ref_start)

    def fresh_ref(self, x: int) -> int:
        mode = self.sc.ref_mode
        if mode == "pow2":
            k = self._next + 1
            self._next += 1
            r = (k << self.sc.shift) & _M64
            if r == RESERVED or k >> (64 - self.sc.shift):
                r = self._next  # exhausted: fall back to small sequential numbers
        elif mode == "tail":
            r = next(self._tail)
        elif mode == "random":
            r = (x * _GOLDEN + self._next) & _M64
            self._next += 1
            if r == RESERVED:
                r = 0
        else:
            r = self._next & _M64
            self._next += 1
            if r == RESERVED:
                r = 0
        self.seen.append(r)
        return r

    def _header(self, loc: int) -> dict:
        self._ts += 1
        return {"stock_locate": loc, "tracking_number": self._ts & 0xFFFF,
                "timestamp": self._ts}

    def _price(self, side: str, x: int) -> int:
        lo, hi = self.sc.price_lo, self.sc.price_hi
        span = hi - lo + 1
        if self.sc.split and span > 1:
            half = max(1, span // 2)
            return lo + x % half if side == "B" else hi - x % half
        return lo + x % span

    def _live(self, x: int, newest: bool = False):
        live = list(self.ref.orders.values())
        if not live:
            return None
        return live[-1] if newest else live[x % len(live)]

    def add(self, loc: int, side: str, price: int, shares: int, ref: int | None = None,
            mpid: bool = False) -> Msg:
        r = self.fresh_ref(price) if ref is None else ref
        f = self._header(loc) | {"order_reference_number": r, "buy_sell_indicator": side,
                                 "shares": shares, "stock": "X", "price": price}
        if mpid:
            f["attribution"] = "MPID"
            return "F", f
        return "A", f

    def step(self, op: tuple[int, int, int, int]) -> Msg:
        kind, x, y, z = op
        kind %= 100
        locs = self.sc.locates
        loc = locs[x % len(locs)]
        side = "B" if y & 1 else "S"
        o = self._live(x, newest=bool(z & 1))
        if kind < 30 or (o is None and kind < 78):
            shares = 1 + z % (5 if z & 2 else 300)
            return self.add(loc, side, self._price(side, y >> 1), shares, mpid=bool(z & 4))
        if kind < 40:  # E: partial, or exactly the open shares
            n = o.shares if y % 3 == 0 else 1 + y % o.shares
            return "E", self._header(o.locate) | {"order_reference_number": o.ref,
                                                  "executed_shares": n, "match_number": y}
        if kind < 45:  # C: all open shares (empties the order, maybe the level)
            return "C", self._header(o.locate) | {
                "order_reference_number": o.ref, "executed_shares": o.shares,
                "match_number": y, "printable": "Y", "execution_price": o.price}
        if kind < 53:  # X: partial or whole
            n = o.shares if y % 4 == 0 else 1 + y % o.shares
            return "X", self._header(o.locate) | {"order_reference_number": o.ref,
                                                  "cancelled_shares": n}
        if kind < 63:
            self.dead.append(o.ref)
            return "D", self._header(o.locate) | {"order_reference_number": o.ref}
        if kind < 73:  # U: to a fresh reference, or to a deleted one
            if z & 2 and self.dead:
                new = self.dead[y % len(self.dead)]
            else:
                new = self.fresh_ref(y)
            self.dead.append(o.ref)
            return "U", self._header(o.locate) | {
                "original_order_reference_number": o.ref, "new_order_reference_number": new,
                "shares": 1 + z % 300, "price": self._price(o.side, y >> 1)}
        if kind < 78:  # re-add a deleted reference, maybe elsewhere
            r = self.dead[y % len(self.dead)] if self.dead else None
            return self.add(loc, side, self._price(side, y >> 1), 1 + z % 300, ref=r)
        if kind < 80:
            return "R", self._header(loc) | {"stock": SYMBOLS[y % len(SYMBOLS)],
                                             "market_category": "Q", "round_lot_size": 100}
        if kind < 82:
            return "S", self._header(0) | {"event_code": "O"}
        return self.bad(kind, loc, side, o, x, y, z)

    def bad(self, kind: int, loc: int, side: str, o, x: int, y: int, z: int) -> Msg:
        """A message the books must refuse (when the live orders allow building one)."""
        sub = (kind + y) % 14
        unknown = (self.dead[x % len(self.dead)] if self.dead and z & 1
                   else (0xDEAD_0000_0000 + x) & (_M64 >> 1))
        if o is None or sub == 0:
            return "E", self._header(loc) | {"order_reference_number": unknown,
                                             "executed_shares": 1 + z % 9}
        if sub == 1:
            return "D", self._header(loc) | {"order_reference_number": unknown}
        if sub == 2:  # replace onto a live reference (itself included)
            other = self._live(y)
            return "U", self._header(o.locate) | {
                "original_order_reference_number": o.ref,
                "new_order_reference_number": other.ref, "shares": 5, "price": o.price}
        if sub == 3:
            return "E", self._header(o.locate) | {"order_reference_number": o.ref,
                                                  "executed_shares": o.shares + 1 + z % 5}
        if sub == 4:
            return "X", self._header(o.locate) | {"order_reference_number": o.ref,
                                                  "cancelled_shares": o.shares + 1 + z % 5}
        if sub == 5:
            return self.add(loc, " XbsK"[z % 5], self._price(side, y), 10)
        if sub == 6:  # duplicate add
            return self.add(loc, side, self._price(side, y), 10, ref=o.ref, mpid=bool(z & 1))
        if sub == 7:
            return self.add(loc, side, self._price(side, y), 0)
        if sub == 8:
            t, key = ("E", "executed_shares") if z & 1 else ("X", "cancelled_shares")
            return t, self._header(o.locate) | {"order_reference_number": o.ref, key: 0}
        if sub == 9:  # another instrument's locate
            wrong = (o.locate + 1 + z % 7) & 0xFFFF
            t = "DEU"[z % 3]
            f = self._header(wrong)
            if t == "U":
                f |= {"original_order_reference_number": o.ref,
                      "new_order_reference_number": self.fresh_ref(z), "shares": 3,
                      "price": o.price}
            else:
                f["order_reference_number"] = o.ref
                if t == "E":
                    f["executed_shares"] = 1
            return t, f
        if sub == 10:
            return self.add(loc, side, self._price(side, y), 10, ref=RESERVED)
        if sub == 11:
            return "U", self._header(o.locate) | {
                "original_order_reference_number": o.ref,
                "new_order_reference_number": RESERVED, "shares": 5, "price": o.price}
        if sub == 12:  # the reserved number (the hash table's empty marker) as a target
            t = "ECXDU"[z % 5]
            f = self._header(o.locate)
            if t == "U":
                return t, f | {"original_order_reference_number": RESERVED,
                               "new_order_reference_number": self.fresh_ref(z), "shares": 1,
                               "price": 1}
            f["order_reference_number"] = RESERVED
            if t in "EC":
                f["executed_shares"] = 1
            elif t == "X":
                f["cancelled_shares"] = 1
            return t, f
        return "U", self._header(o.locate) | {  # zero shares
            "original_order_reference_number": o.ref,
            "new_order_reference_number": self.fresh_ref(z), "shares": 0, "price": o.price}


# -- hypothesis strategies ----------------------------------------------------------------------

def scenarios():
    from hypothesis import strategies as st

    @st.composite
    def build(draw) -> Scenario:
        n_loc = draw(st.integers(1, 4))
        locates = draw(st.lists(st.one_of(st.sampled_from([0, 1, 2, 65535]),
                                          st.integers(0, 65535)),
                                min_size=n_loc, max_size=n_loc, unique=True))
        shape = draw(st.sampled_from(["one", "narrow", "deep", "wide"]))
        lo = draw(st.sampled_from([0, 1, 100, 10_000, 0xFFFF_FE00]))  # lo + span < 2**32
        span = {"one": 0, "narrow": 4, "deep": 400, "wide": 0xFF}[shape]
        mode = draw(st.sampled_from(REF_MODES))
        max_orders = draw(st.sampled_from([8, 64, 64, 256, 4096]))
        max_levels = draw(st.sampled_from([None, None, 4, 16, 64]))
        return Scenario(
            locates=locates, price_lo=lo, price_hi=lo + span, split=draw(st.booleans()),
            ref_mode=mode, shift=draw(st.sampled_from([32, 40, 48, 56, 63])),
            ref_start=draw(st.sampled_from([0, 1, 1 << 32, (1 << 63) - 100])),
            max_orders=max_orders, max_levels=max_levels,
            initial_orders=draw(st.sampled_from([None, None, 1, 4, 16])))

    return build()


def ops(min_size: int = 1, max_size: int = 300):
    from hypothesis import strategies as st

    word = st.integers(0, (1 << 32) - 1)
    return st.lists(st.tuples(st.integers(0, 99), word, word, word), min_size=min_size,
                    max_size=max_size)


# -- hand-written messages ----------------------------------------------------------------------

def A(ref: int, side: str, shares: int, price: int, loc: int = 1) -> Msg:
    return "A", {"stock_locate": loc, "order_reference_number": ref, "buy_sell_indicator": side,
                 "shares": shares, "stock": "X", "price": price}


def F(ref: int, side: str, shares: int, price: int, loc: int = 1, mpid: str = "GSCO") -> Msg:
    return "F", A(ref, side, shares, price, loc)[1] | {"attribution": mpid}


def E(ref: int, shares: int, loc: int = 1) -> Msg:
    return "E", {"stock_locate": loc, "order_reference_number": ref, "executed_shares": shares,
                 "match_number": 1}


def C(ref: int, shares: int, loc: int = 1, price: int = 0) -> Msg:
    return "C", {"stock_locate": loc, "order_reference_number": ref, "executed_shares": shares,
                 "match_number": 2, "printable": "Y", "execution_price": price}


def X(ref: int, shares: int, loc: int = 1) -> Msg:
    return "X", {"stock_locate": loc, "order_reference_number": ref, "cancelled_shares": shares}


def D(ref: int, loc: int = 1) -> Msg:
    return "D", {"stock_locate": loc, "order_reference_number": ref}


def U(ref: int, new: int, shares: int, price: int, loc: int = 1) -> Msg:
    return "U", {"stock_locate": loc, "original_order_reference_number": ref,
                 "new_order_reference_number": new, "shares": shares, "price": price}


def R(symbol: str, loc: int = 1) -> Msg:
    return "R", {"stock_locate": loc, "stock": symbol, "market_category": "Q",
                 "round_lot_size": 100}


def S(code: str = "O") -> Msg:
    return "S", {"event_code": code}


class Both:
    """A store and a reference book fed the same messages, compared after every ``run``."""

    def __init__(self, max_orders: int = 64, max_levels: int | None = None,
                 locates=(1,)) -> None:
        self.store = new_store(max_orders, max_levels, errors="skip")
        self.ref = ReferenceBook(max_orders, max_levels)
        self.locates = set(locates)
        self.refs: set[int] = set()
        self.base = 0

    def run(self, msgs: list[Msg], ok: bool = True) -> list[str | None]:
        """Apply ``msgs`` as one batch; ``ok``: every one must be accepted."""
        reasons = [self.ref.apply(t, **f) for t, f in msgs]
        used, _ = feed(self.store, msgs, self.base)
        self.base += used
        for t, f in msgs:
            for key in ("order_reference_number", "original_order_reference_number",
                        "new_order_reference_number"):
                if key in f:
                    self.refs.add(int(f[key]))
            if t in "AFECXDUR":
                self.locates.add(int(f.get("stock_locate", 0)))
        if ok:
            assert reasons == [None] * len(msgs), reasons
        self.check()
        return reasons

    def check(self) -> None:
        assert_same(self.store, self.ref, sorted(self.locates), sorted(self.refs))
