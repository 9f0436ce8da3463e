"""The venue's referee on a real veth pair: a capture on the venue's side pairs each order with
the feed packet its ClOrdID names, whatever the TCP segmentation.

The "venue" (exchange namespace) runs a TCP server and the capture, and sends MoldUDP64
packets; the "trader" (host namespace) answers some packets with an OUCH Enter Order naming
the packet's first sequence number, some with two orders in one segment, one order split over
two segments, and one order naming a sequence number never sent."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import pytest

from tickpath.venue.referee import pair_capture

pytestmark = pytest.mark.net

FEED_PORT, ORDER_PORT, PACKETS = 26411, 26412, 40

_VENUE = textwrap.dedent("""
    import socket, struct, sys, threading, time
    from tickpath.wire.capture import Capture
    from tickpath.wire.pcap import PcapngWriter
    iface, me, trader, out = sys.argv[1:5]
    cap = Capture(iface)
    stop = threading.Event()
    with PcapngWriter(out) as w:
        t = threading.Thread(target=cap.run, args=(w,), kwargs={"should_stop": stop.is_set,
                             "tick_s": 0.05})
        t.start()
        srv = socket.socket()
        srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        srv.bind((me, %(order)d)); srv.listen(1)
        print("ready", flush=True)
        conn, _ = srv.accept()
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        seq = 1
        for i in range(%(packets)d):
            count = 1 + i %% 3
            udp.sendto(struct.pack("!10sQH", b"TEST000001", seq, count) + b"\\x00\\x01X" * count,
                       (trader, %(feed)d))
            seq += count
            time.sleep(0.002)
        udp.sendto(struct.pack("!10sQH", b"TEST000001", seq, 0xFFFF), (trader, %(feed)d))
        data = b""
        conn.settimeout(10)
        while True:
            got = conn.recv(65536)
            if not got:
                break
            data += got
        time.sleep(0.2)
        stop.set()
        t.join()
    print(len(data), flush=True)
""") % {"order": ORDER_PORT, "feed": FEED_PORT, "packets": PACKETS}

_TRADER = textwrap.dedent("""
    import socket, struct, sys, time
    from tickpath.codec import ouch50
    from tickpath.codec.ouch50.clordid import trigger_cl_ord_id
    venue, me = sys.argv[1:3]
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind((me, %(feed)d))
    tcp = socket.create_connection((venue, %(order)d))
    tcp.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    def order(urn, trig):
        msg = ouch50.encode("inbound", "O", user_ref_num=urn, side="B", quantity=100,
                            symbol="AAPL", price=1_000_000, time_in_force="0", display="Y",
                            capacity="P", intermarket_sweep_eligibility="N", cross_type="N",
                            cl_ord_id=trigger_cl_ord_id(trig).tobytes().decode())
        return (len(msg) + 1).to_bytes(2, "big") + b"U" + msg
    urn, sent = 1, []
    while True:
        pkt = udp.recv(2048)
        _s, seq, count = struct.unpack_from("!10sQH", pkt)
        if count == 0xFFFF:
            break
        if seq %% 2:
            continue
        if seq %% 5 == 0:  # two orders in one segment
            tcp.sendall(order(urn, seq) + order(urn + 1, seq + count - 1)); urn += 2
            sent += [seq, seq + count - 1]
        elif seq %% 7 == 0:  # one order split over two segments
            o = order(urn, seq); urn += 1
            tcp.sendall(o[:20]); time.sleep(0.01); tcp.sendall(o[20:])
            sent.append(seq)
        else:
            tcp.sendall(order(urn, seq)); urn += 1
            sent.append(seq)
    tcp.sendall(order(urn, 10**9))  # names a packet never sent
    tcp.close()
    print(" ".join(map(str, sent)), flush=True)
""") % {"order": ORDER_PORT, "feed": FEED_PORT}


def test_referee_pairs_orders_with_triggers(veth, tmp_path):
    out = tmp_path / "venue.pcapng"
    venue = veth.popen(veth.exchange, sys.executable, "-c", _VENUE, veth.exchange_if,
                       veth.exchange_ip, veth.host_ip, str(out), stdout=subprocess.PIPE,
                       stderr=subprocess.PIPE, text=True)
    try:
        assert venue.stdout.readline().strip() == "ready", venue.stderr.read()
        trader = veth.run(veth.host, sys.executable, "-c", _TRADER, veth.exchange_ip,
                          veth.host_ip, capture_output=True, text=True, timeout=60)
        assert trader.returncode == 0, trader.stderr
        vout, verr = venue.communicate(timeout=60)
    finally:
        if venue.poll() is None:
            venue.kill()
            venue.communicate()
    assert venue.returncode == 0, verr
    sent = [int(x) for x in trader.stdout.split()]
    assert sent, "the trader sent no orders"
    pairs = pair_capture(out, FEED_PORT, ORDER_PORT)
    assert pairs.feed_packets == PACKETS
    assert pairs.orders == len(sent) + 1
    assert pairs.unpaired == {"trigger never sent": 1}
    assert sorted(pairs.trigger.tolist()) == sorted(sent)
    assert (pairs.latency_ns > 0).all()
    assert pairs.user_ref.tolist() == sorted(pairs.user_ref.tolist())  # in stream order
    assert pairs.summary()["count"] == len(sent)
