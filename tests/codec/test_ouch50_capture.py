"""Real OUCH 5.0 over SoupBinTCP, captured from a production session: decoded by tickpath and
refereed by Wireshark's SoupBinTCP dissector (tshark ``-d tcp.port==PORT,soupbintcp``).

tshark 4.0's OUCH dissector knows OUCH 4.x (order tokens, 4-byte prices) and does not claim
these 5.0 messages, so for OUCH the referee is the SoupBinTCP framing it does dissect (packet
lengths, types, message bytes), and the OUCH fields are checked against values read off the
bytes at the specification's offsets; the compiled Enter Order encoder must reproduce the
captured order byte for byte.
"""

from __future__ import annotations

import shutil
import struct
import subprocess
from pathlib import Path

import numpy as np
import pytest

from tickpath.codec import ouch50, soupbintcp
from tickpath.wire.pcap import read_packets

pytestmark = pytest.mark.referee

CAPTURES = Path(__file__).resolve().parents[3] / "shared" / "data" / "nasdaq-ouch50"
NAMES = ("CancelOrderMessage", "CanceledMessage", "ClientHeartbeatPacket", "EnterOrderMessage",
         "OrderAcceptedMessage", "ServerHeartbeatPacket")


def _capture(name: str) -> Path:
    path = CAPTURES / f"{name}.pcap"
    if not path.exists():
        pytest.skip(f"{path} is absent (the shared reference data sits beside the checkout)")
    return path


def tcp_segments(path: Path) -> list[tuple[bytes, int, int]]:
    """(payload, source port, destination port) of every TCP segment in an Ethernet capture
    (802.1Q tags skipped)."""
    out = []
    for _, frame in read_packets(path):
        p, ethertype = 14, struct.unpack_from(">H", frame, 12)[0]
        while ethertype == 0x8100:
            ethertype = struct.unpack_from(">H", frame, p + 2)[0]
            p += 4
        assert ethertype == 0x0800, hex(ethertype)
        ihl = (frame[p] & 0x0F) * 4
        total = struct.unpack_from(">H", frame, p + 2)[0]
        assert frame[p + 9] == 6  # TCP
        tcp = p + ihl
        sport, dport = struct.unpack_from(">HH", frame, tcp)
        data_at = tcp + (frame[tcp + 12] >> 4) * 4
        out.append((bytes(frame[data_at:p + total]), sport, dport))
    return out


def _direction(sport: int, dport: int) -> str:
    # the exchange's port is the low one (8001/8003), the client's ephemeral
    return "outbound" if sport < dport else "inbound"


@pytest.mark.parametrize("name", NAMES)
def test_soupbintcp_framing_matches_tshark(name):
    path = _capture(name)
    tshark = shutil.which("tshark")
    if tshark is None:
        pytest.skip("tshark is not installed: `make debs`")
    (payload, sport, dport), = tcp_segments(path)
    port = min(sport, dport)
    res = subprocess.run([tshark, "-n", "-r", str(path), "-d", f"tcp.port=={port},soupbintcp",
                          "-T", "fields", "-E", "separator=|", "-e", "soupbintcp.packet_length",
                          "-e", "soupbintcp.packet_type", "-e", "soupbintcp.message"],
                         capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr
    length, ptype, message = res.stdout.strip().split("|")
    pkts = soupbintcp.packets(payload)
    assert len(pkts) == 1
    assert int(length) == len(pkts[0].payload) + 1
    assert ptype.strip("'") == pkts[0].type  # FT_CHAR fields print quoted
    if message:
        assert bytes.fromhex(message.replace(":", "")) == pkts[0].payload
    else:
        assert pkts[0].payload == b""


def _message(name: str) -> tuple[bytes, str]:
    (payload, sport, dport), = tcp_segments(_capture(name))
    pkt, = soupbintcp.packets(payload)
    return pkt.payload, _direction(sport, dport)


def test_enter_order():
    msg, direction = _message("EnterOrderMessage")
    assert direction == "inbound"
    f = ouch50.fields(msg, direction)
    assert f == {"type": "O", "user_ref_num": 113, "side": "T", "quantity": 225,
                 "symbol": "CVLT    ", "price": 630_200, "time_in_force": "0", "display": "Y",
                 "capacity": "A", "intermarket_sweep_eligibility": "N", "cross_type": "N",
                 "cl_ord_id": "H8FUB8IV      ", "appendage_length": 6,
                 "options": {"firm": "LIME"}}
    # the compiled encoder rebuilds it byte for byte
    buf = np.zeros(80, np.uint8)
    end = ouch50.encode_enter_order(buf, 3, 113, ord("T"), 225, ouch50.symbol_code("CVLT"),
                                    630_200, ord("0"), ord("Y"), ord("A"), ord("N"), ord("N"),
                                    ouch50.cl_ord_id_bytes("H8FUB8IV"))
    end = ouch50.add_int_option(buf, 3 + 45, end, 2, 4, int.from_bytes(b"LIME", "big"))
    soupbintcp.put_header(buf, 0, ord("U"), end - 3)
    assert bytes(buf[:end]) == _capture_bytes("EnterOrderMessage")
    # and so does the Python encoder
    assert ouch50.encode("inbound", "O", {"firm": "LIME"}, **{
        k: v for k, v in f.items() if k not in ("type", "appendage_length", "options")}) == msg


def _capture_bytes(name: str) -> bytes:
    (payload, _, _), = tcp_segments(_capture(name))
    return payload


def test_order_accepted():
    msg, direction = _message("OrderAcceptedMessage")
    assert direction == "outbound"
    f = ouch50.fields(msg, direction)
    assert f["type"] == "A" and f["user_ref_num"] == 7_682_701 and f["side"] == "B"
    assert f["quantity"] == 40 and f["symbol"] == "ADBE    " and f["price"] == 4_777_800
    assert (f["time_in_force"], f["display"], f["capacity"]) == ("5", "Y", "A")
    assert f["order_reference_number"] == 257_340_661
    assert f["order_state"] == "L" and f["cl_ord_id"] == "7682701       "
    assert f["timestamp"] == 44_647_483_486_087  # 12:24:07.483 after midnight
    assert f["appendage_length"] == len(msg) - 64
    assert set(f["options"]) <= {o.name for o in ouch50.OPTIONS.values()} | {
        f"tag_{t}" for t in range(256)}


def test_canceled_without_appendage_and_cancel_request():
    msg, direction = _message("CanceledMessage")
    f = ouch50.fields(msg, direction)
    # the request carried no Appendage Length, so the response has none either
    assert f == {"type": "C", "timestamp": 44_647_483_708_183, "user_ref_num": 7_682_701,
                 "quantity": 40, "reason": "U"}
    req, direction = _message("CancelOrderMessage")
    assert direction == "inbound"
    assert ouch50.fields(req, direction) == {"type": "X", "user_ref_num": 7_679_601,
                                             "quantity": 0}


def test_outbound_stream_through_the_compiled_decoder():
    stream = b"".join(_capture_bytes(n) for n in
                      ("OrderAcceptedMessage", "ServerHeartbeatPacket", "CanceledMessage"))
    dec = ouch50.OutboundDecoder()
    # fed in two reads cut inside a packet, as TCP may deliver it
    recs = np.concatenate([dec.feed(stream[:40]), dec.feed(stream[40:])])
    assert [chr(t) for t in recs["type"]] == ["A", "C"]
    acc, can = recs
    assert acc["user_ref_num"] == 7_682_701 and acc["quantity"] == 40
    assert acc["price"] == 4_777_800 and acc["order_state"] == ord("L")
    assert bytes(acc["cl_ord_id"]) == b"7682701       "
    assert acc["symbol"] == ouch50.symbol_code("ADBE")
    assert can["reason"] == ord("U") and can["options_at"] == -1 and can["length"] == 18
    assert dec.counts[ord("S")] == 2 and dec.counts[ord("H")] == 1
