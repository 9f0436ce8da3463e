"""The full-snapshot handler (FullRefreshFeed): a malformed message is refused with a counted
reason and no book touched, the packet's other snapshots taken; gaps and duplicates are
counted; latency samples keep their SendingTime; mutated packets never half-apply."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tickpath.feed.mdp3_full import FullRefreshFeed
from tickpath.feed.mdp3_full.layout import Counter as C
from tickpath.venue.futures import FuturesSimulator
from tickpath.venue.mdp3_full import full_snapshots_of


@pytest.fixture(scope="module")
def packets() -> list[np.ndarray]:
    ch = full_snapshots_of(FuturesSimulator(None, messages=2_000, seed=4, snapshot_every=0))
    return [ch.packet(k).copy() for k in range(ch.kinds.shape[0])]


def _books(feed: FullRefreshFeed) -> dict:
    return {b["security_id"]: (b["bids"], b["asks"], b["seq"]) for b in feed.books()}


def _messages(pk: np.ndarray) -> list[int]:
    """Offsets of the packet's messages (their MsgSize)."""
    out, p = [], 12
    while p < pk.size:
        out.append(p)
        p += int.from_bytes(pk[p:p + 2].tobytes(), "little")
    return out


def _warm(packets, n=40) -> FullRefreshFeed:
    feed = FullRefreshFeed()
    for pk in packets[:n]:
        feed.on_datagram(pk.copy(), pk.size)
    return feed


def _mutations():
    """(name, mutate(packet, message offset), reason)."""
    def at(off, value, width=1):
        def f(pk, m):
            pk[m + off:m + off + width] = list(int(value).to_bytes(width, "little"))
        return f
    return [
        ("foreign schema", at(2 + 4, 7, 2), "foreign_schema"),
        ("template 46", at(2 + 2, 46, 2), "unexpected_template"),
        ("short root block", at(2, 8, 2), "short_block"),
        ("entries past the message", at(2 + 8 + 59 + 2, 200), "group_overrun"),
        ("short entries", at(2 + 8 + 59, 4, 2), "short_entry"),
        ("a level gap", at(2 + 8 + 59 + 3 + 16, 5), "book_refused"),
        ("a zero size", at(2 + 8 + 59 + 3 + 8, 0, 4), "book_refused"),
        ("a level beyond the depth", at(2 + 8 + 59 + 3 + 16, 11), "book_refused"),
    ]


@pytest.mark.parametrize("name, mutate, reason", _mutations(), ids=[m[0] for m in _mutations()])
def test_a_malformed_message_is_refused_and_no_book_touched(packets, name, mutate, reason):
    k = next(i for i in range(40, len(packets)) if len(_messages(packets[i])) >= 2)
    first, second = _messages(packets[k])[:2]
    # what the packet's other messages do alone: the books the feed must end with
    rest = np.concatenate([packets[k][:12], packets[k][second:]])
    expected = _warm(packets)
    expected.on_datagram(rest, rest.size)
    feed = _warm(packets)
    pk = packets[k].copy()
    mutate(pk, first)
    feed.on_datagram(pk, pk.size)
    r = feed.refusals()
    assert r["refused"] == 1 and r[reason] == 1, r
    assert f"at offset {first} of its datagram" in feed.last_refusal()
    assert _books(feed) == _books(expected)
    assert feed.snapshots == expected.snapshots


def test_framing_refusals(packets):
    feed = _warm(packets)
    before = _books(feed)
    feed.on_datagram(np.zeros(8, np.uint8), 8)
    assert feed.refusals()["short_packet"] == 1
    pk = packets[40].copy()
    m = _messages(pk)[0]
    pk[m:m + 2] = [4, 0]  # MsgSize 4: under the SBE header, the packet's rest refused
    feed.on_datagram(pk, pk.size)
    assert feed.refusals()["bad_size"] == 1
    pk = packets[41].copy()
    feed.on_datagram(pk, pk.size - 3)  # cut: the last message runs past the datagram
    r = feed.refusals()
    assert r["truncated"] == 1 and r["refused"] == 3
    assert feed.snapshots == sum(len(_messages(q)) for q in packets[:40]) \
        + len(_messages(packets[41])) - 1
    after = _books(feed)
    assert all(after[s] == before[s] for s in before if s in after and s not in
               {int.from_bytes(packets[41][q + 18:q + 22].tobytes(), "little")
                for q in _messages(packets[41])})


def test_gaps_counted_duplicates_skipped_the_next_snapshot_repairs(packets):
    feed = FullRefreshFeed()
    for i, pk in enumerate(packets):
        if 100 <= i < 110:
            continue  # ten packets lost
        feed.on_datagram(pk.copy(), pk.size)
        if i == 50:
            feed.on_datagram(pk.copy(), pk.size)  # a duplicate
    s = feed.session_stats()
    assert s["gaps"] == 1 and s["gap_packets"] == 10 and s["duplicates"] == 1
    whole = FullRefreshFeed()
    for pk in packets:
        whole.on_datagram(pk.copy(), pk.size)
    assert _books(feed) == _books(whole)  # later snapshots repaired every book
    assert feed.samples == len(packets) - 10
    sent = [int.from_bytes(pk[4:12].tobytes(), "little") for i, pk in enumerate(packets)
            if not 100 <= i < 110]
    assert feed.snt[:feed.samples].tolist() == sent


def test_a_deeper_book_than_kept_is_refused_whole(packets):
    feed = FullRefreshFeed(max_depth=5)
    for pk in packets:
        feed.on_datagram(pk.copy(), pk.size)
    r = feed.refusals()
    assert r["book_refused"] > 0 or r["too_many"] > 0
    for b in feed.books():
        assert len(b["bids"]) <= 5 and len(b["asks"]) <= 5


@settings(max_examples=150, deadline=None,
          suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_mutated_packets_never_half_apply(packets, data):
    """Any bytes changed in a packet, any length: every message walked is taken or refused
    (counted), and every book stays dense (levels 1..c, as a whole snapshot leaves it)."""
    k = data.draw(st.integers(60, len(packets) - 1))
    pk = packets[k].copy()
    for _ in range(data.draw(st.integers(1, 6))):
        pk[data.draw(st.integers(0, pk.size - 1))] = data.draw(st.integers(0, 255))
    size = data.draw(st.integers(0, pk.size))
    feed = _warm(packets, 60)
    c0 = feed.chan.copy()
    feed.on_datagram(pk, size)
    d = feed.chan - c0
    walked, taken, refused = d[C.MESSAGES], d[C.SNAPSHOTS], d[C.REFUSED]
    assert taken <= walked <= taken + refused
    nz = feed.qty != 0
    # dense: a level is set only where the one above it is
    assert not (nz[:, :, 1:] & ~nz[:, :, :-1]).any()
