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
