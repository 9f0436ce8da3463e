"""The live venue's recovery services on loopback: line B beside line A, the re-request
server polled by the venue's own loop (a turn, the wait between turns, the linger after the
end of session), its counters in the venue's stats; and the command line that starts them."""

from __future__ import annotations

from mold_line import Line, Requester, Turns, blocks_of, header
from typer.testing import CliRunner

from tickpath.cli import app
from tickpath.venue.live import LiveVenue
from tickpath.venue.retransmit import request_packet

SESSION = "LIVEREC01"


def test_live_venue_serves_line_b_and_re_requests():
    a, b = Line(), Line()
    with LiveVenue(symbols=4, messages=20_000, seed=3, rate=None, feed_port=a.port,
                   session=SESSION, sender="sendto", line_b=("127.0.0.1", b.port),
                   retransmit_port=0, history_keep=500) as venue:
        venue.start()
        venue.run(messages=2000)
        n = venue.stats()["feed_packets"]
        assert a.take(n) == b.take(n) and len(a.packets) == n
        published = a.messages()
        last = max(published)
        assert venue.history.next_seq == last + 1 and len(venue.history) == 500

        r = Requester(Turns(venue))
        r.send(request_packet(SESSION, last - 20, 10))
        pkt = r.recv()
        assert header(pkt)[1:] == (last - 20, 10)
        assert blocks_of(pkt) == {s: published[s] for s in range(last - 20, last - 10)}
        r.send(request_packet(SESSION, 1, 10))  # long gone: 500 kept
        r.send(request_packet(SESSION, last + 1, 10))  # not sent yet
        st = venue.stats()
        assert (st["retransmit_requests"], st["retransmit_answered"], st["retransmit_too_old"],
                st["retransmit_beyond_end"]) == (3, 1, 1, 1)
        assert st["history_messages"] == 500 and st["history_first"] == last - 499

        # after the end of session: a request waiting is answered while the venue lingers,
        # and End of Session packets go out on both lines
        venue.end()
        r.sock.sendto(request_packet(SESSION, last, 1), ("127.0.0.1", venue.retransmit_port))
        assert venue.linger(0.1, every_s=0.02) == 1
        assert header(r.recv())[1:] == (last, 1)
        sent = venue.publisher.stats()
        assert sent["packets"] == sent["b_packets"]
        eos_a = [p for p in a.take(sent["packets"]) if header(p)[2] == 0xFFFF]
        eos_b = [p for p in b.take(sent["packets"]) if header(p)[2] == 0xFFFF]
        assert a.packets == b.packets
        assert len(eos_a) == len(eos_b) >= 3  # 3 at the end (and one a beat of lingering)
        r.close()
    a.close()
    b.close()


def test_a_quiet_venue_answers_while_it_waits():
    a = Line()
    with LiveVenue(symbols=3, messages=10_000, seed=1, rate=None, feed_port=a.port,
                   session=SESSION, sender="sendmmsg", quiet=True, opening_messages=100,
                   retransmit_port=0) as venue:
        venue.start()
        r = Requester(Turns(venue))
        r.sock.sendto(request_packet(SESSION, 5, 2), ("127.0.0.1", venue.retransmit_port))
        venue.run(duration_s=0.05)  # nothing to publish: the loop waits on the sockets
        assert header(r.recv())[1:] == (5, 2)
        assert venue.stats()["retransmit_answered"] == 1
        r.close()
    a.close()


def test_cli_starts_the_recovery_services():
    a, b = Line(), Line()
    res = CliRunner().invoke(app, [
        "venue", "--symbols", "3", "--messages", "3000", "--port", str(a.port),
        "--session", SESSION, "--sender", "sendto", "--retransmit-port", "0",
        "--line-b", f"127.0.0.1:{b.port}", "--history-keep", "1000", "--linger", "0.05",
        "--glimpse-port", "0"])
    assert res.exit_code == 0, res.output
    out = " ".join(res.output.split())  # the console wraps long lines
    assert "snapshots (GLIMPSE 5.0 / SoupBinTCP 3.0) on tcp://127.0.0.1:" in out
    assert "glimpse_snapshots 0" in out
    assert f"line B udp://127.0.0.1:{b.port}" in out
    assert "re-requests (MoldUDP64) on udp://127.0.0.1:" in out and "1,000 messages" in out
    assert "retransmit_requests 0" in out and "history_messages 1,000" in out
    assert len(a.drain()) > 10 and b.drain() == a.packets
    assert header(a.packets[-1])[2] == 0xFFFF
    a.close()
    b.close()


def test_cli_refusals(tmp_path):
    r = CliRunner().invoke(app, ["venue", "--line-b", "nohost"])
    assert r.exit_code == 2 and "HOST:PORT" in r.output
    r = CliRunner().invoke(app, ["venue", "--feed", "mdp3", "--retransmit-port", "0"])
    assert r.exit_code == 2 and "ITCH venue" in r.output
    r = CliRunner().invoke(app, ["venue", "--feed", "mdp3", "--glimpse-port", "0"])
    assert r.exit_code == 2 and "ITCH venue" in r.output
    r = CliRunner().invoke(app, ["venue", "--glimpse-port", "0", "--write",
                                 str(tmp_path / "x.itch")])
    assert r.exit_code == 2 and "live" in r.output
    r = CliRunner().invoke(app, ["venue", "--retransmit-port", "0",
                                 "--pcap", str(tmp_path / "x.pcap")])
    assert r.exit_code == 2 and "live" in r.output
    r = CliRunner().invoke(app, ["venue", "--line-b", "127.0.0.1:9", "--sender", "packet",
                                 "--messages", "5000"])
    assert r.exit_code == 2 and "line B needs a sender" in " ".join(r.output.split())


def test_a_quiet_feed_sends_heartbeats_with_the_next_sequence_number():
    """While nothing is published for ``feed_heartbeat_s`` (by the venue's clock, here one
    the test moves) the venue sends a MoldUDP64 heartbeat (no messages, the next sequence
    number), so a receiver sees a lost last packet and knows the feed is alive; one per
    quiet interval, none while packets flow."""
    a = Line()
    t = [100.0]
    with LiveVenue(symbols=3, messages=5_000, seed=1, rate=None, feed_port=a.port,
                   session=SESSION, sender="sendto", quiet=True, feed_heartbeat_s=1.0,
                   clock=lambda: t[0]) as venue:
        venue.start()
        n, seq0 = venue.stats()["feed_packets"], venue.publisher.seq
        beats = []
        for step in (0.0, 0.5, 0.6, 0.0, 1.0, 0.2):  # quiet since 100.0
            t[0] += step
            venue.turn()
            beats.append(venue.stats()["feed_heartbeats"])
        assert beats == [0, 0, 1, 1, 2, 2]
        venue.turn(64)  # packets flow: the quiet interval starts again
        m = venue.stats()["feed_packets"]
        assert m > n
        t[0] += 0.9
        venue.turn()
        assert venue.stats()["feed_heartbeats"] == 2
        got = a.take(m + 2)
        assert len(got) == m + 2
        assert [header(p)[1] for p in got if header(p)[2] == 0] == [seq0, seq0]
    a.close()
