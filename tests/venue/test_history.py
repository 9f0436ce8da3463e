"""The publisher's history: every message block held by sequence number, the oldest dropped
past ``keep``, the arena bounded, and a run that does not follow on refused whole."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tickpath.feed.moldudp64 import pack_packets
from tickpath.venue.history import MessageHistory


def _blocks(msgs: list[bytes]) -> np.ndarray:
    return np.frombuffer(b"".join(len(m).to_bytes(2, "big") + m for m in msgs), np.uint8)


def _record(h: MessageHistory, msgs: list[bytes], seq: int, max_payload: int = 200) -> int:
    out, bounds, counts = pack_packets(_blocks(msgs), "HIST", seq, max_payload)
    return h.record(out, bounds, counts, counts.shape[0])


@settings(max_examples=40, deadline=None)
@given(keep=st.integers(1, 300), first_seq=st.integers(1, 1 << 40),
       runs=st.lists(st.lists(st.binary(max_size=90), min_size=1, max_size=120), min_size=1,
                     max_size=12))
def test_holds_the_last_keep_messages_byte_exact(keep, first_seq, runs):
    h = MessageHistory(keep, arena_bytes=256)
    sent: list[bytes] = []
    live_most = 0
    biggest_run = max(_blocks(r).shape[0] for r in runs)
    for run in runs:
        assert _record(h, run, first_seq + len(sent)) == len(run)
        sent += run
        assert h.next_seq == first_seq + len(sent)
        assert h.first == max(first_seq, h.next_seq - keep)
        for seq in range(h.first, h.next_seq):
            assert h.message(seq) == sent[seq - first_seq]
        # the held messages are one run of blocks, as the packer takes them
        assert h.blocks(h.first, len(h)).tobytes() == _blocks(sent[h.first - first_seq:]).tobytes()
        # bounded: within four times what is held plus one run (the arena's smallest: 4 KiB)
        live_most = max(live_most, h.blocks(h.first, len(h)).shape[0])
        assert h.arena.shape[0] <= max(4096, 4 * (live_most + biggest_run))
    assert h.dropped == max(0, len(sent) - keep)


def test_a_run_that_does_not_follow_on_is_refused_whole():
    h = MessageHistory(100)
    _record(h, [b"a", b"bb"], 1)
    with pytest.raises(ValueError, match=r"packet 0 of 1 .*offset 10.*expected sequence number 3"):
        _record(h, [b"c"], 4)
    out, bounds, counts = pack_packets(_blocks([b"c", b"dd", b"e" * 300]), "HIST", 3, 40)
    out = out.copy()
    out[int(bounds[1]) + 19] = 9  # the second packet's count no longer matches its blocks
    with pytest.raises(ValueError, match="packet 1 of 2"):
        h.record(out, bounds, counts, counts.shape[0])
    assert (h.first, h.next_seq, h.recorded) == (1, 3, 2)
    assert h.message(2) == b"bb"


def test_span_refuses_what_it_does_not_hold():
    h = MessageHistory(3)
    _record(h, [b"m%d" % i for i in range(10)], 1)
    assert (h.first, h.next_seq) == (8, 11)
    for seq, n in ((7, 1), (10, 2), (11, 1)):
        with pytest.raises(ValueError, match="not all held"):
            h.span(seq, n)
    assert h.message(8) == b"m7"
