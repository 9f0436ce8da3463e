"""Faults put on the venue's lines as packets leave (the kernel here has no netem): what a
receiver on each line gets is what the plan says — packets missing, twice, late, or a
blackout — the other line is untouched, and the history still holds every packet, so a
re-request gets back what a line lost."""

from __future__ import annotations

import pytest
from mold_line import Line, Requester, Turns, blocks_of, header
from typer.testing import CliRunner

from tickpath.cli import app
from tickpath.venue.faults import FaultPlan, LineFaults
from tickpath.venue.live import LiveVenue
from tickpath.venue.retransmit import request_packet


def test_plans_parse_and_refuse_what_they_cannot_mean():
    p = FaultPlan.parse("loss=0.01, reorder=0.02,depth=4,duplicate=0.001,blackout=10:20,seed=3")
    assert p == FaultPlan(0.01, 0.001, 0.02, 4, (10, 20), 3)
    assert FaultPlan.parse("") == FaultPlan()
    for bad, why in (("loss=2", "not a probability"), ("jitter=1", "unknown fault"),
                     ("blackout=5", "blackout"), ("depth=0", "reorder_depth"),
                     ("loss=x", "loss=x")):
        with pytest.raises(ValueError, match=why):
            FaultPlan.parse(bad)


def test_a_plan_is_its_seed():
    def run(seed: int) -> list[tuple[int, bool]]:
        f = LineFaults(FaultPlan(loss=0.1, duplicate=0.1, reorder=0.1, seed=seed))
        return [f.decide(i) for i in range(500)]

    assert run(5) == run(5) and run(5) != run(6)


def test_line_a_gets_the_faults_line_b_stays_clean_and_re_requests_fill_the_gaps():
    a, b = Line(), Line()
    plan = FaultPlan(loss=0.05, duplicate=0.03, reorder=0.05, reorder_depth=2,
                     blackout=(40, 60), seed=11)
    with LiveVenue(symbols=5, messages=20_000, seed=4, rate=None, feed_port=a.port,
                   sender="sendto", line_b=("127.0.0.1", b.port), retransmit_port=0,
                   faults_a=plan) as venue:
        venue.start()
        venue.run(messages=3000)
        venue.end()
        st = venue.stats()
        n = st["feed_packets"]
        got_b = b.take(n + 3)  # every data packet and the End of Session markers
        assert len(got_b) == n + 3
        want = {}
        for p in got_b:
            want.update(blocks_of(p))
        sent_a = n - st["a_lost"] - st["a_blacked_out"] + st["a_duplicated"] + 3
        got_a = a.take(sent_a)
        assert len(got_a) == sent_a and a.drain(0.05) == got_a  # nothing more came
        assert st["a_lost"] > 0 and st["a_duplicated"] > 0 and st["a_reordered"] > 0
        assert st["a_blacked_out"] == 20
        seqs = [header(p)[1] for p in got_a if header(p)[2] not in (0, 0xFFFF)]
        assert len(seqs) - len(set(seqs)) == st["a_duplicated"]
        assert any(x > y for x, y in zip(seqs, seqs[1:], strict=False))  # some came late
        have = {}
        for p in got_a:
            have.update(blocks_of(p))
        assert all(have[s] == want[s] for s in have)  # the bytes of what came are right
        missing = sorted(set(want) - set(have))
        assert missing
        r = Requester(Turns(venue))
        for s in missing:
            r.send(request_packet("TICKPATH01", s, 1))
            assert blocks_of(r.recv()) == {s: want[s]}


def test_cli_takes_fault_plans_and_refuses_bad_ones(tmp_path):
    a, b = Line(), Line()
    res = CliRunner().invoke(app, [
        "venue", "--symbols", "3", "--messages", "3000", "--port", str(a.port),
        "--sender", "sendto", "--line-b", f"127.0.0.1:{b.port}",
        "--faults-a", "loss=0.1,seed=2", "--faults-b", "blackout=0:5"])
    assert res.exit_code == 0, res.output
    out = " ".join(res.output.split())
    assert "a_lost" in out and "b_blacked_out 5" in out
    r = CliRunner().invoke(app, ["venue", "--faults-a", "loss=7"])
    assert r.exit_code == 2 and "not a probability" in r.output
    r = CliRunner().invoke(app, ["venue", "--faults-b", "loss=0.1"])
    assert r.exit_code == 2 and "needs line B" in r.output
    a.close()
    b.close()
