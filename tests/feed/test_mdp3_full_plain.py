"""The plain-Python full-snapshot receiver keeps the books the compiled handler keeps,
counts gaps and refusals the same way, and never half-applies a mutated packet."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tickpath.feed.mdp3_full import FullRefreshFeed
from tickpath.feed.mdp3_full.plain import PyFullRefreshFeed
from tickpath.venue.futures import FuturesSimulator
from tickpath.venue.mdp3_full import full_snapshots_of


@pytest.fixture(scope="module")
def packets() -> list[np.ndarray]:
    ch = full_snapshots_of(FuturesSimulator(None, messages=2_000, seed=4, snapshot_every=0))
    return [ch.packet(k).copy() for k in range(ch.kinds.shape[0])]


def _outright(feed: FullRefreshFeed) -> dict:
    return {b["security_id"]: ([tuple(x) for x in b["bids"]], [tuple(x) for x in b["asks"]])
            for b in feed.books()}


def _plain(feed: PyFullRefreshFeed) -> dict:
    return {sec: ([tuple(x) for x in b["bids"]], [tuple(x) for x in b["asks"]])
            for sec, b in feed.book.items()}


def test_the_same_books_as_the_compiled_handler_at_every_step(packets):
    py, nb = PyFullRefreshFeed(), FullRefreshFeed()
    for i, pk in enumerate(packets):
        if 100 <= i < 105:
            continue  # five lost: both count the gap and go on
        py.on_datagram(pk.tobytes(), pk.size)
        nb.on_datagram(pk.copy(), pk.size)
        if i % 97 == 0:
            assert _plain(py) == _outright(nb)
    assert _plain(py) == _outright(nb)
    s = nb.session_stats()
    assert (py.counters["gaps"], py.counters["gap_packets"]) == (s["gaps"], s["gap_packets"])
    assert py.counters["snapshots"] == s["snapshots"] and py.refused["refused"] == 0
    bid, ask = py.bbo(next(iter(py.book)))
    assert bid is not None and ask is not None and bid[0] < ask[0]
    sent = [int.from_bytes(pk[4:12].tobytes(), "little") for i, pk in enumerate(packets)
            if not 100 <= i < 105]
    assert py.snt[:py.samples].tolist() == sent


def test_refusals_are_named_and_leave_the_book(packets):
    py = PyFullRefreshFeed()
    for pk in packets[:40]:
        py.on_datagram(pk.tobytes(), pk.size)
    before = _plain(py)
    pk = packets[40].copy()
    pk[12 + 2 + 2:12 + 2 + 4] = list((46).to_bytes(2, "little"))  # first message: template 46
    py.on_datagram(pk.tobytes(), pk.size)
    assert py.refused["unexpected_template"] == 1 and py.last[0] == "unexpected_template"
    assert py.last[1] == 12 and py.last[2] == int.from_bytes(pk[:4].tobytes(), "little")
    assert py.on_datagram(b"\x01\x02", 2) == -1 and py.refused["short_packet"] == 1
    assert set(_plain(py)) >= set(before)


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_mutated_packets_never_half_apply(packets, data):
    k = data.draw(st.integers(60, len(packets) - 1))
    pk = packets[k].copy()
    for _ in range(data.draw(st.integers(1, 6))):
        pk[data.draw(st.integers(0, pk.size - 1))] = data.draw(st.integers(0, 255))
    size = data.draw(st.integers(0, pk.size))
    py = PyFullRefreshFeed()
    for p in packets[:60]:
        py.on_datagram(p.tobytes(), p.size)
    m0, t0, r0 = py.counters["messages"], py.counters["snapshots"], py.refused["refused"]
    py.on_datagram(pk.tobytes()[:size], size)
    walked, taken = py.counters["messages"] - m0, py.counters["snapshots"] - t0
    assert taken <= walked <= taken + py.refused["refused"] - r0
    for b in py.book.values():  # every book whole: levels strictly ordered, sizes > 0
        for side, worse in (("bids", -1), ("asks", 1)):
            prices = [px for px, qty, _ in b[side]]
            assert all(q > 0 for _, q, _ in b[side])
            assert all((b2 - a) * worse > 0 for a, b2 in zip(prices, prices[1:], strict=False))
