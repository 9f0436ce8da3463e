"""The re-request server on loopback: a publisher sends a simulated day on line A (and B)
while keeping its history; requests are answered byte-exact with what line A received,
within the caps, rate-limited per requester, and the bad ones are counted, not answered."""

from __future__ import annotations

import logging
import subprocess

import numpy as np
import pytest
from mold_line import Line, Requester, blocks_of, header

from tickpath.venue import Simulator
from tickpath.venue.history import MessageHistory
from tickpath.venue.publisher import UdpPublisher
from tickpath.venue.retransmit import RetransmitServer, request_packet
from tickpath.wire.pcap import PcapWriter, udp_frame

SESSION = "RECOVER01"
S10 = SESSION.encode().ljust(10)
MAX_PAYLOAD = 300


class Clock:
    """An injectable clock: the rate limit is checked by counters, not timing."""

    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


@pytest.fixture(scope="module")
def day():
    """A short day published on lines A and B, with its history."""
    a, b = Line(), Line()
    history = MessageHistory(keep=100_000)
    with UdpPublisher("127.0.0.1", a.port, session=SESSION, sender="sendmmsg",
                      max_payload=MAX_PAYLOAD, line_b=("127.0.0.1", b.port),
                      history=history) as pub:
        pub.publish(Simulator(symbols=4, messages=3000, seed=5).chunks())
        pub.end_session(repeat=1)
        n = pub.packets + 1
    a.take(n)
    b.take(n)
    yield a, b, history
    a.close()
    b.close()


def _server(history, **kw) -> RetransmitServer:
    kw.setdefault("burst", 1e9)
    kw.setdefault("rate", 1e9)
    kw.setdefault("max_payload", MAX_PAYLOAD)
    return RetransmitServer(history, SESSION, **kw)


def test_line_b_is_line_a(day):
    a, b, history = day
    assert len(a.packets) == len(b.packets) > 10
    assert a.packets == b.packets  # same bytes: session, sequence numbers, timestamps
    assert header(a.packets[-1])[2] == 0xFFFF  # the end of session went on both


def test_every_packet_requested_comes_back_byte_exact(day):
    a, _, history = day
    with _server(history) as srv:
        r = Requester(srv)
        data = [p for p in a.packets if header(p)[2] not in (0, 0xFFFF)]
        for pkt in data:
            _, seq, count = header(pkt)
            r.send(request_packet(SESSION, seq, count))
            assert r.recv() == pkt
        st = srv.stats()
        assert st["retransmit_answered"] == st["retransmit_packets"] == len(data)
        assert st["retransmit_messages"] == sum(header(p)[2] for p in data)
        r.close()


def test_answers_hold_the_messages_as_line_a_got_them(day):
    a, _, history = day
    published = a.messages()
    assert history.first == 1 and history.next_seq == len(published) + 1
    with _server(history, max_messages=40, max_packets=20, max_payload=200) as srv:
        r = Requester(srv)
        for seq in (1, 2, 17, 999, history.next_seq - 100):
            r.send(request_packet(SESSION, seq, 1000))
            got: dict[int, bytes] = {}
            for _ in range(20):
                pkt = r.recv()
                assert header(pkt)[0] == S10 and len(pkt) <= 200
                assert header(pkt)[1] == seq + len(got)  # packets follow on
                got.update(blocks_of(pkt))
                if len(got) >= 40:
                    break
            assert sorted(got) == list(range(seq, seq + 40))  # capped at max_messages
            assert all(got[s] == published[s] for s in got)
        st = srv.stats()
        assert st["retransmit_shortened"] == 5 and st["retransmit_messages"] == 5 * 40
        assert st["retransmit_packets"] > 5 * 2  # several packets an answer, none over 200 B
        r.close()

    with _server(history, max_messages=1000, max_packets=3, max_payload=200) as srv:
        r = Requester(srv)
        r.send(request_packet(SESSION, 50, 1000))
        r.send(request_packet(SESSION, 1, 1))  # a marker: its answer comes after the three
        pkts = [r.recv() for _ in range(4)]
        assert header(pkts[3])[1:] == (1, 1)
        assert [header(p)[1] for p in pkts[1:3]] == [
            header(p)[1] + header(p)[2] for p in pkts[:2]]  # three packets, following on
        assert srv.stats()["retransmit_packets"] == 4
        r.close()


def test_one_packet_a_request_by_default_and_the_end_is_what_exists(day):
    a, _, history = day
    published = a.messages()
    with _server(history) as srv:
        r = Requester(srv)
        r.send(request_packet(SESSION, 100, 5000))
        pkt = r.recv()
        _, seq, count = header(pkt)
        assert seq == 100 and 1 < count < 5000 and len(pkt) <= MAX_PAYLOAD
        end = history.next_seq
        r.send(request_packet(SESSION, end - 3, 50))  # runs past the newest message
        pkt = r.recv()
        assert header(pkt)[1:] == (end - 3, 3)
        assert blocks_of(pkt) == {s: published[s] for s in range(end - 3, end)}
        assert srv.stats()["retransmit_shortened"] == 2
        r.close()


def test_bad_requests_are_counted_not_answered(day, caplog):
    _, _, history = day
    with _server(history) as srv, caplog.at_level(logging.WARNING, "tickpath.venue.retransmit"):
        r = Requester(srv)
        bad = [request_packet("OTHER", 1, 5), request_packet("OTHER", 2, 5),  # session
               request_packet(SESSION, 1, 5)[:19], request_packet(SESSION, 1, 5) + b"x",
               b"",  # malformed
               request_packet(SESSION, 5, 0),  # nothing requested
               request_packet(SESSION, history.next_seq, 1),  # not sent yet
               request_packet(SESSION, history.next_seq + 10**6, 3)]
        for req in bad:
            r.send(req)
        r.send(request_packet(SESSION, 7, 1))  # the first answer is this one's
        assert header(r.recv())[1:] == (7, 1)
        st = srv.stats()
        assert (st["retransmit_wrong_session"], st["retransmit_malformed"],
                st["retransmit_empty"], st["retransmit_beyond_end"]) == (2, 3, 1, 2)
        assert st["retransmit_requests"] == len(bad) + 1 and st["retransmit_answered"] == 1
        # logged once per reason and address, with the reason
        lines = [rec.getMessage() for rec in caplog.records]
        assert sum("wrong_session" in m for m in lines) == 1
        assert sum("malformed" in m for m in lines) == 1
        assert any("not sent yet" in m for m in lines)
        r.close()


def test_older_than_the_history_is_counted_not_answered(day):
    a, _, _ = day
    short = MessageHistory(keep=50)
    data = [p for p in a.packets if header(p)[2] not in (0, 0xFFFF)]
    for pkt in data:  # the same packets, kept by a history that holds the last 50
        buf = np.frombuffer(pkt, np.uint8)
        short.record(buf, np.array([0, len(pkt)], np.int64),
                     np.array([header(pkt)[2]], np.int64), 1)
    assert len(short) == 50
    with _server(short) as srv:
        r = Requester(srv)
        r.send(request_packet(SESSION, 1, 10))
        r.send(request_packet(SESSION, short.first - 1, 10))
        r.send(request_packet(SESSION, short.first, 2))
        pkt = r.recv()
        assert header(pkt)[1:] == (short.first, 2)
        assert blocks_of(pkt) == {s: a.messages()[s] for s in (short.first, short.first + 1)}
        assert srv.stats()["retransmit_too_old"] == 2
        r.close()


def test_rate_limit_refuses_the_abuser_and_serves_the_others(day):
    _, _, history = day
    clock = Clock()
    with RetransmitServer(history, SESSION, rate=100.0, burst=30.0, max_messages=1000,
                          max_packets=100, clock=clock) as srv:
        abuser, other = Requester(srv, "127.0.0.2"), Requester(srv, "127.0.0.3")

        def answered(r: Requester, marker: bool = True) -> int:
            """Messages answered to ``r`` so far: with a marker request (one token), read
            up to its answer; without, one packet (max_payload fits what is asked here)."""
            if not marker:
                return header(r.recv())[2]
            got = 0
            r.send(request_packet(SESSION, 200, 1))
            while True:
                pkt = r.recv()
                if header(pkt)[1:] == (200, 1):
                    return got
                got += header(pkt)[2]

        abuser.send(request_packet(SESSION, 1, 25))
        assert answered(abuser) == 25  # 25 of the 30 tokens, then the marker's one
        abuser.send(request_packet(SESSION, 1, 25))  # 4 tokens left: 4 messages
        assert answered(abuser, marker=False) == 4
        for _ in range(5):
            abuser.send(request_packet(SESSION, 1, 25))  # none left: refused
        assert srv.stats()["retransmit_rate_limited"] == 5
        # another requester has its own bucket
        other.send(request_packet(SESSION, 1, 25))
        assert answered(other) == 25
        # time refills the abuser's bucket at the rate: 0.1 s, 10 messages; the answer after
        # the 4 is the one to this request (the refused ones got nothing)
        clock.t += 0.1
        abuser.send(request_packet(SESSION, 1, 9))
        assert answered(abuser) == 9
        abuser.send(request_packet(SESSION, 1, 9))
        st = srv.stats()
        assert st["retransmit_rate_limited"] == 6
        assert st["retransmit_messages"] == (25 + 1) + 4 + (25 + 1) + (9 + 1)
        assert st["retransmit_shortened"] == 1  # the 4 of 25
        abuser.close()
        other.close()


@pytest.mark.parametrize("sender", ["socket", "sendto", "sendmmsg"])
def test_line_b_with_each_buffer_sender_paced_and_not(sender):
    for rate in (None, 200_000.0):
        a, b = Line(), Line()
        with UdpPublisher("127.0.0.1", a.port, session=SESSION, sender=sender,
                          max_payload=120, line_b=("127.0.0.1", b.port)) as pub:
            pub.publish(Simulator(symbols=2, messages=1200, seed=2).chunks(), rate=rate)
            pub.heartbeat()
            n = pub.packets + 1
            assert pub.stats()["b_packets"] == n
        assert a.take(n) == b.take(n) and len(a.packets) == n
        a.close()
        b.close()


@pytest.mark.parametrize("sender", ["packet", "xdp", "dpdk"])
def test_frame_building_senders_refuse_line_b_and_history(sender):
    with pytest.raises(ValueError, match="line B needs a sender that sends the packed buffer"):
        UdpPublisher("127.0.0.1", 9, sender=sender, line_b=("127.0.0.1", 10))
    with pytest.raises(ValueError, match="a history needs a sender"):
        UdpPublisher("127.0.0.1", 9, sender=sender, history=MessageHistory(10))


@pytest.mark.referee
def test_tshark_decodes_the_requests_and_the_answers(day, tshark, tmp_path):
    """Wireshark's MoldUDP64 dissector reads a capture of requests and the answers the
    requester received as we do: session, sequence numbers, counts, every message block."""
    _, _, history = day
    cap = tmp_path / "retransmit.pcap"
    frames: list[tuple[bytes, bool]] = []  # (UDP payload, is a request)
    with _server(history, max_packets=2) as srv, PcapWriter(cap) as w:
        r = Requester(srv)
        for seq, count in ((1, 3), (40, 500), (history.next_seq - 2, 9)):
            req = request_packet(SESSION, seq, count)
            r.send(req)
            frames.append((req, True))
            r.send(request_packet(SESSION, 1, 1))  # a marker: its answer ends this one's
            pkts = [r.recv()]
            while header(pkts[-1])[1:] != (1, 1):
                pkts.append(r.recv())
            frames += [(p, False) for p in pkts[:-1]]
        sport, dport = r.addr[1], srv.port
        for i, (payload, is_request) in enumerate(frames):
            src, dst = (sport, dport) if is_request else (dport, sport)
            w.write(udp_frame(payload, "127.0.0.1", "127.0.0.1", src, dst), 1_000_000 + i)
        r.close()
    res = subprocess.run([tshark, "-r", str(cap), "-d", f"udp.port=={dport},moldudp64",
                          "-T", "fields", "-E", "separator=|", "-e", "moldudp64.session",
                          "-e", "moldudp64.sequence", "-e", "moldudp64.count",
                          "-e", "moldudp64.msgseq", "-e", "moldudp64.msgdata",
                          "-e", "_ws.malformed", "-e", "_ws.expert.message"],
                         capture_output=True, text=True, check=True, timeout=60)
    rows = [line.split("|") for line in res.stdout.splitlines()]
    assert len(rows) == len(frames) > 4
    for (payload, is_request), row in zip(frames, rows, strict=True):
        _, seq, count = header(payload)
        assert row[0].rstrip() == SESSION and int(row[1]) == seq and int(row[2]) == count
        assert row[5] == ""  # not malformed
        if is_request:
            assert "Requested Messages" in row[6]
            continue
        blocks = blocks_of(payload)
        assert [int(s) for s in row[3].split(",")] == list(blocks)
        assert row[4].split(",") == [b[2:].hex() for b in blocks.values()]
