"""The MDP3 feed handler on a real capture: CME's v6 channel, A and B lines, 5,000 packets
each (MsgSeqNum 5615-10614), joined mid-session (no snapshot loop in the capture)."""

from __future__ import annotations

import numpy as np
import pytest

from tickpath.feed.mdp3 import Mdp3Error, Mdp3Feed
from tickpath.wire.pcap import read_udp

A_PORT, B_PORT = 14340, 15340


def _replay(path, port, **kw) -> Mdp3Feed:
    feed = Mdp3Feed(late_join="natural", **kw)
    for _, payload, _ in read_udp(path, port):
        buf = np.frombuffer(bytes(payload), np.uint8)
        feed.on_datagram(buf, buf.shape[0])
    return feed


@pytest.fixture(scope="module")
def v6(shared_data):
    return shared_data / "cme-mdp3" / "pcaps" / "Mdp3.Sbe.v1.6" / "Cme.Mdp3.Sbe.v6.1.pcap"


@pytest.fixture(scope="module")
def lines(v6):
    return {name: _replay(v6, port) for name, port in (("A", A_PORT), ("B", B_PORT),
                                                       ("AB", None))}


def test_every_message_is_taken(lines):
    for name, feed in lines.items():
        c = feed.counters()
        assert c["malformed"] == 0 and c["unknown_templates"] == 0 and c["foreign"] == 0, name
        assert c["messages"] == 10273  # 19,138 + 614 + 388 + 388 + 18 over both lines
        assert c["packets"] == 5000 and c["last_seq"] == 10614
        assert c["gaps"] == 0 and c["rpt_gaps"] == 0


def test_a_and_b_give_the_same_books(lines):
    a, b, ab = (lines[k].books() for k in ("A", "B", "AB"))
    assert a == b == ab
    assert sum(1 for x in a if x["bids"] or x["asks"]) > 50


def test_arbitration_takes_each_packet_once(lines):
    c = lines["AB"].counters()
    assert c["datagrams"] == 10000 and c["duplicates"] == 5000 and c["packets"] == 5000
    assert c["entries"] == lines["A"].counters()["entries"]


def test_books_are_best_first(lines):
    for bk in lines["A"].books():
        bids = [p for p, _, _ in bk["bids"]]
        asks = [p for p, _, _ in bk["asks"]]
        assert bids == sorted(bids, reverse=True) and asks == sorted(asks)
        assert all(q > 0 for _, q, _ in bk["bids"] + bk["asks"])


def test_a_late_join_refuses_what_it_never_saw(v6):
    """Joined mid-session, a Change of a level that came before the capture began is refused
    and named (template, MsgSeqNum, offset, SecurityID); with errors=skip it is counted."""
    with pytest.raises(Mdp3Error, match=r"no price level there, SecurityID \d+ \(template 32\) "
                                        r"at packet MsgSeqNum \d+, offset \d+"):
        _replay(v6, A_PORT, errors="raise")
    assert _replay(v6, A_PORT).counters()["refused"] >= 1


def test_every_udp_capture_replays_clean(shared_data):
    """Through the pcap transport's compiled loop (what ``tickpath replay --feed mdp3`` and
    ``listen --transport pcap:FILE --feed mdp3`` run): 0 malformed, unknown or foreign."""
    from tickpath.apps.mdp3_replay import replay_mdp3

    files = [p for v in ("Mdp3.Sbe.v1.5", "Mdp3.Sbe.v1.6", "Mdp3.Sbe.v1.8")
             for p in sorted((shared_data / "cme-mdp3" / "pcaps" / v).glob("*.pcap"))]
    assert len(files) >= 8
    for path in files:
        feed, rep = replay_mdp3(path)
        c = rep.counters
        assert rep.messages > 0, path.name
        assert (c["malformed"], c["unknown_templates"], c["foreign"]) == (0, 0, 0), path.name


def test_replay_cli_writes_the_books_as_json_lines(v6, tmp_path):
    import json

    from typer.testing import CliRunner

    from tickpath.cli import app

    out = tmp_path / "books.jsonl"
    r = CliRunner().invoke(app, ["replay", str(v6), "--feed", "mdp3", "--port", str(A_PORT),
                                 "--books-json", str(out), "--symbol", "133990", "--depth", "3"])
    assert r.exit_code == 0, r.output
    assert "malformed 0" in r.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert list(rows[0]) == ["security_id", "symbol", "bids", "asks"]
    es = next(x for x in rows if x["security_id"] == 133990)
    assert len(es["bids"]) == 3 and es["bids"][0][0] > es["bids"][1][0]
    bad = CliRunner().invoke(app, ["replay", str(tmp_path / "none.pcap"), "--feed", "mdp3"])
    assert bad.exit_code == 2 and "does not exist" in bad.output


def test_listen_cli_takes_the_capture_through_the_pcap_transport(v6):
    from typer.testing import CliRunner

    from tickpath.cli import app

    r = CliRunner().invoke(app, ["listen", "--feed", "mdp3", "--transport", f"pcap:{v6}",
                                 "--top", "3"])
    assert r.exit_code == 0, r.output
    assert "10,273 messages in 10,000 datagrams" in r.output and "malformed 0" in r.output
