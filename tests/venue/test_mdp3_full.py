"""The futures full-snapshot channel, venue side: stepping a futures day one engine step at a
time, each step's SnapshotFullRefresh52s hold exactly the venue's book of every instrument
the step changed (checked against the venue, the plain-Python CME receiver and the project's
incremental handler); a whole day in memory decodes, numbers its packets 1, 2, 3 ... and ends
with the venue's books."""

from __future__ import annotations

import numpy as np
import pytest

from reference.mdp3_receiver import SIDE, Model, decode_day
from tickpath.feed.mdp3 import Mdp3Feed
from tickpath.feed.mdp3_full import FullRefreshFeed
from tickpath.venue.futures import INCREMENTAL, FuturesSimulator, msg_seq_num
from tickpath.venue.futures_live import write_flow
from tickpath.venue.futures_orders import PacketWriter
from tickpath.venue.futures_records import FULL_SNAPSHOT, S_PHASE
from tickpath.venue.mdp3_full import FullRefreshGenerator, full_snapshots_of


def _levels(m: dict) -> tuple[list, list]:
    got: tuple[list, list] = ([], [])
    for e in m["NoMDEntries"]:
        side = got[SIDE[e["MDEntryType"]]]
        assert e["MDPriceLevel"] == len(side) + 1
        side.append([e["MDEntryPx"].mantissa, e["MDEntrySize"], e["NumberOfOrders"]])
    return got


def _feed(feed, chunk) -> None:
    for k in range(chunk.kinds.shape[0]):
        pk = chunk.packet(k).copy()
        feed.on_datagram(pk, pk.size)


def test_after_every_step_the_full_channel_holds_the_venue_books():
    fut = FuturesSimulator(None, messages=1_500, seed=5, snapshot_every=60)
    fut._reset()
    writer = PacketWriter(1 << 20)
    gen = FullRefreshGenerator(max_instruments=4, last_update=fut._last_update)
    full, inc, model = FullRefreshFeed(), Mdp3Feed(errors="raise"), Model()
    sids = [s.security_id for s in fut.specs]
    steps = changed = 0
    full_seq = 0
    while int(fut._scal[S_PHASE]) != 3:
        write_flow(fut, writer, 1)  # one step (the start of day, a loop when due, the end)
        chunk = writer.take(fut._scal)
        if chunk is None:
            continue
        steps += 1
        _feed(inc, chunk)
        seqs = [msg_seq_num(chunk.packet(k)) for k in range(chunk.kinds.shape[0])
                if chunk.kinds[k] == INCREMENTAL]
        model_packets = decode_day([(INCREMENTAL, chunk.packet(k).tobytes())
                                    for k in range(chunk.kinds.shape[0])
                                    if chunk.kinds[k] == INCREMENTAL])
        for _, d in model_packets:
            model.apply(d)
        venue = {b["security_id"]: (b["bids"], b["asks"]) for b in fut.books()}
        touched = set()
        for out in gen.run(chunk):
            assert (out.kinds == FULL_SNAPSHOT).all()
            _feed(full, out)
            for _, d in decode_day([(FULL_SNAPSHOT, out.packet(k).tobytes())
                                    for k in range(out.kinds.shape[0])]):
                full_seq += 1
                assert d["msg_seq_num"] == full_seq  # its own numbers, never restarted
                for m in d["messages"]:
                    assert m["header"]["templateId"] == 52
                    sid = m["SecurityID"]
                    assert sid not in touched  # one snapshot per instrument per step
                    touched.add(sid)
                    assert m["LastMsgSeqNumProcessed"] == seqs[-1]
                    assert m["RptSeq"] == model.rpt[sid]
                    assert _levels(m) == tuple(model.depth[sid]) == venue[sid]
        changed += len(touched)
        # the snapshot handler's books, the incremental handler's and the venue's agree
        for sid in sids:
            if full.snapshots and sid in {b["security_id"] for b in full.books()}:
                d = full.depth(sid)
                assert (d["bids"], d["asks"]) == venue[sid]
            else:
                assert venue[sid] == ([], [])
        assert {b["security_id"]: (b["bids"], b["asks"]) for b in inc.books()} == venue
    assert steps > 500 and changed > 400
    assert full.snapshots == gen.snapshots == changed
    assert full.refusals()["refused"] == 0 and full.session_stats()["gaps"] == 0


@pytest.fixture(scope="module")
def day():
    fut = FuturesSimulator(None, messages=6_000, seed=11, snapshot_every=50)
    return fut, full_snapshots_of(fut)


def test_a_whole_day_in_memory(day):
    fut, ch = day
    decoded = decode_day([(FULL_SNAPSHOT, ch.packet(k).tobytes())
                          for k in range(ch.kinds.shape[0])])
    assert [d["msg_seq_num"] for _, d in decoded] == list(range(1, len(decoded) + 1))
    assert all(ch.bounds[k + 1] - ch.bounds[k] <= fut.max_payload
               for k in range(ch.kinds.shape[0]))
    last = 0
    n = 0
    for _, d in decoded:
        for m in d["messages"]:
            assert m["header"]["templateId"] == 52 and m["header"]["version"] == 13
            assert m["LastMsgSeqNumProcessed"] >= last
            last = m["LastMsgSeqNumProcessed"]
            n += 1
    assert n == int(ch.counts.sum())
    # the incremental stream's last packet is the last one a snapshot can name
    inc = [p for k, p in fut.packet_list() if k == INCREMENTAL]
    assert last <= msg_seq_num(np.frombuffer(inc[-1], np.uint8))
    full = FullRefreshFeed()
    _feed(full, ch)
    assert full.refusals()["refused"] == 0
    got = {b["security_id"]: (b["bids"], b["asks"]) for b in full.books()}
    assert got == {b["security_id"]: (b["bids"], b["asks"]) for b in fut.books()}


def test_the_same_day_whatever_the_chunks(day):
    """Where the venue's chunks end never changes the snapshots (only how they are packed
    into packets at a chunk's end), and a small output buffer drains and resumes."""
    fut, ch = day
    gen = FullRefreshGenerator(max_instruments=3, last_update=fut._last_update, out_bytes=0)
    small = gen.chunk_of(fut.packets(1 << 16))
    assert int(small.counts.sum()) == int(ch.counts.sum())

    def messages(c):
        out = []
        for k in range(c.kinds.shape[0]):
            pk = c.packet(k)
            p = 12
            while p < pk.size:
                size = int.from_bytes(pk[p:p + 2].tobytes(), "little")
                out.append(pk[p:p + size].tobytes())
                p += size
        return out

    assert messages(small) == messages(ch)


def test_a_broken_incremental_stream_is_named():
    fut = FuturesSimulator(None, messages=400, seed=2, snapshot_every=0)
    chunk = next(iter(fut.packets()))
    buf = chunk.buf.copy()
    at = int(chunk.bounds[1]) + 12
    buf[at:at + 2] = [3, 0]  # MsgSize 3: nothing after it can be framed
    bad = chunk._replace(buf=buf)
    with pytest.raises(ValueError, match=r"MsgSeqNum 2, offset 12: MsgSize out of bounds"):
        list(FullRefreshGenerator().run(bad))
