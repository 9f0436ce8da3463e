"""MoldUDP64 refereed by Wireshark's dissector (tshark ``-d udp.port==PORT,moldudp64``).

1. Packets made by ``pack_packets`` from a few hundred ITCH messages of every type, written
   with ``PcapWriter``/``udp_frame``: tshark must see the same session, sequence numbers,
   message counts, block lengths and message bytes, and our receive path (pcap reader ->
   ``MoldSession.accept`` -> ``decode_batch``) must agree with it.
2. The real framed BX capture (Ethernet/802.1Q/IPv4/UDP/MoldUDP64 as sent on 2023-08-22)
   through ``MoldSession.accept`` + ``decode_batch``, compared with tshark's fields.
"""

from __future__ import annotations

import random
import subprocess
from pathlib import Path

import numpy as np
import pytest

from tickpath.codec.itch50.decode import OK, decode_batch
from tickpath.codec.itch50.layout import EVENT_DTYPE, LENGTHS, MESSAGES
from tickpath.codec.itch50.message import encode, fields
from tickpath.feed.moldudp64 import MoldSession, pack_packets
from tickpath.feed.moldudp64._kernels import NEW, SKIP
from tickpath.wire.pcap import PcapWriter, read_packets, udp_frame, udp_payload

pytestmark = pytest.mark.referee

PORT = 26477
GROUP = "233.54.12.111"
SESSION = "TICKPATH01"
FIRST_SEQ = 123_456
FIELDS = ("frame.number", "moldudp64.session", "moldudp64.sequence", "moldudp64.count",
          "moldudp64.msglen", "moldudp64.msgseq", "moldudp64.msgdata")


def tshark_fields(tshark: str, path: Path, port: int, names=FIELDS) -> list[dict[str, list[str]]]:
    """One dict per frame: field name -> every occurrence (as text)."""
    cmd = [tshark, "-n", "-r", str(path), "-d", f"udp.port=={port},moldudp64", "-T", "fields",
           "-E", "separator=|", "-E", "occurrence=a", "-E", "aggregator=,"]
    for name in names:
        cmd += ["-e", name]
    res = subprocess.run(cmd, capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    rows = []
    for line in res.stdout.splitlines():
        cols = line.split("|")
        assert len(cols) == len(names), line
        rows.append({n: (c.split(",") if c else []) for n, c in zip(names, cols, strict=True)})
    return rows


def mixed_messages(n: int, seed: int = 5) -> list[bytes]:
    rng = random.Random(seed)
    types = sorted(MESSAGES)
    out = []
    for i in range(n):
        t = types[i % len(types)] if i < len(types) else rng.choice(types)
        values = {}
        for f in MESSAGES[t].fields[1:]:
            if f.kind == "alpha":
                values[f.name] = "".join(rng.choice("ABCDEFGHIJKLMNOPQRSTUVWXYZ ")
                                         for _ in range(f.width))
            else:
                values[f.name] = rng.getrandbits(8 * f.width)
        out.append(encode(t, **values))
    return out


def _bare_header(seq: int, count: int) -> bytes:
    return SESSION.encode().ljust(10) + seq.to_bytes(8, "big") + count.to_bytes(2, "big")


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory):
    msgs = mixed_messages(400)
    blocks = np.frombuffer(b"".join(len(m).to_bytes(2, "big") + m for m in msgs), np.uint8)
    out, bounds, counts = pack_packets(blocks, SESSION, FIRST_SEQ, max_payload=600)
    packets = [bytes(out[bounds[i]:bounds[i + 1]]) for i in range(len(counts))]
    end = FIRST_SEQ + len(msgs)
    packets += [_bare_header(end, 0), _bare_header(end, 0xFFFF)]  # heartbeat, end of session
    path = tmp_path_factory.mktemp("mold") / "synthetic.pcap"
    with PcapWriter(path) as w:
        for i, pk in enumerate(packets):
            w.write(udp_frame(pk, "10.1.2.3", GROUP, 40000, PORT), 1_700_000_000_000_000_000 + i)
    return path, msgs, packets, list(counts)


def test_tshark_sees_our_packets(synthetic, tshark):
    path, msgs, packets, counts = synthetic
    rows = tshark_fields(tshark, path, PORT)
    assert len(rows) == len(packets) == len(counts) + 2
    seq, k = FIRST_SEQ, 0
    for i, (row, count) in enumerate(zip(rows, counts, strict=False)):
        assert row["frame.number"] == [str(i + 1)]
        assert row["moldudp64.session"] == [SESSION]
        assert row["moldudp64.sequence"] == [str(seq)]
        assert row["moldudp64.count"] == [str(count)]
        assert row["moldudp64.msglen"] == [str(len(m)) for m in msgs[k:k + count]]
        assert row["moldudp64.msgseq"] == [str(q) for q in range(seq, seq + count)]
        assert row["moldudp64.msgdata"] == [m.hex() for m in msgs[k:k + count]]
        seq += count
        k += count
    assert k == len(msgs) == 400
    heartbeat, eos = rows[-2:]
    assert heartbeat["moldudp64.count"] == ["0"] and heartbeat["moldudp64.sequence"] == [str(seq)]
    assert eos["moldudp64.count"] == ["65535"] and eos["moldudp64.sequence"] == [str(seq)]
    assert heartbeat["moldudp64.msglen"] == [] == eos["moldudp64.msglen"]


def test_our_receive_path_agrees_with_tshark(synthetic, tshark):
    path, msgs, _, _ = synthetic
    rows = tshark_fields(tshark, path, PORT)
    session = MoldSession()
    out = np.zeros(len(msgs), EVENT_DTYPE)
    k = 0
    for (_ts, frame), row in zip(read_packets(path), rows, strict=True):
        payload, addr = udp_payload(frame)
        assert addr == ("10.1.2.3", GROUP, 40000, PORT)
        buf = np.frombuffer(payload, np.uint8)
        verdict, offset, count = session.accept(buf)
        if verdict == SKIP:
            assert row["moldudp64.count"] in (["0"], ["65535"])
            continue
        assert verdict == NEW and count == int(row["moldudp64.count"][0])
        assert session.expected == int(row["moldudp64.sequence"][0]) + count
        got, status, end = decode_batch(buf, offset, buf.size, LENGTHS, out, k, 0)
        assert (got, status, end) == (count, OK, buf.size)
        for ev, data in zip(out[k:k + got], row["moldudp64.msgdata"], strict=True):
            ref = fields(bytes.fromhex(data))
            assert chr(ev["type"]) == ref["message_type"]
            assert (int(ev["locate"]), int(ev["tracking"]), int(ev["timestamp"])) == (
                ref["stock_locate"], ref["tracking_number"], ref["timestamp"])
        k += got
    assert k == len(msgs)
    stats = session.stats()
    assert stats["messages"] == len(msgs) and stats["gaps"] == 0
    assert stats["heartbeats"] == 1 and stats["end_of_session"] == 1
    assert session.name == SESSION


# ------------------------------------------------------------------ the real framed BX capture


@pytest.fixture(scope="module")
def framed(shared_data):
    root = shared_data / "nasdaq-itch50" / "Bx.Equities.TotalView.Itch.v5.0.framed"
    files = sorted(root.glob("*.pcap"))
    if not files:
        pytest.skip(f"no framed BX captures under {root}")
    frames = []
    for path in files:
        for ts, frame in read_packets(path):
            frames.append((ts, path, frame))
    frames.sort(key=lambda x: x[0])  # the three files are one session, in time order
    return frames


def test_real_framed_bx_against_tshark(framed, tshark):
    session = MoldSession()
    out = np.zeros(4, EVENT_DTYPE)
    seqs = []
    for _ts, path, frame in framed:
        payload, (src, dst, sport, dport) = udp_payload(frame)
        [row] = tshark_fields(tshark, path, dport, FIELDS + ("ip.src", "ip.dst", "udp.srcport"))
        assert row["ip.src"] == [src] and row["ip.dst"] == [dst]
        assert row["udp.srcport"] == [str(sport)]
        buf = np.frombuffer(payload, np.uint8)
        verdict, offset, count = session.accept(buf)
        assert verdict == NEW
        assert session.name == row["moldudp64.session"][0]
        seq = int(row["moldudp64.sequence"][0])
        assert count == int(row["moldudp64.count"][0])
        assert session.expected == seq + count
        seqs.append(seq)
        got, status, end = decode_batch(buf, offset, buf.size, LENGTHS, out, 0, 0)
        assert (got, status, end) == (count, OK, buf.size)
        p = offset
        for ev, length, data in zip(out[:got], row["moldudp64.msglen"],
                                    row["moldudp64.msgdata"], strict=True):
            n = int.from_bytes(bytes(buf[p:p + 2]), "big")
            assert n == int(length) == MESSAGES[chr(ev["type"])].length
            assert bytes(buf[p + 2:p + 2 + n]).hex() == data
            p += 2 + n
        # the file is named for its message: Add Order (A), Order Delete (D), Order Replace (U)
        want = {"AddOrderNoMpidAttributionMessage": "A", "OrderDeleteMessage": "D",
                "OrderReplaceMessage": "U"}[path.stem]
        assert [chr(e["type"]) for e in out[:got]] == [want]
    # three packets of one session with holes between them: the gaps tshark's numbers imply
    stats = session.stats()
    holes = [b - a - 1 for a, b in zip(seqs, seqs[1:], strict=False) if b - a > 1]
    assert stats["gaps"] == len(holes) and stats["gap_messages"] == sum(holes)
    assert stats["messages"] == len(framed)
