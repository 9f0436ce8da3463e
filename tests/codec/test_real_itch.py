"""Real ITCH 5.0 messages (Nasdaq, BX and PSX, 2023-08-22) decoded by tickpath and refereed by
MeatPy, an independent ITCH 5.0 parser (PyPI ``meatpy``).

The captures in ``../shared/data/nasdaq-itch50/*/`` hold one MoldUDP64 packet per frame; they
are read with tickpath's pcap reader, the message blocks decoded with ``decode_batch``, and
every field of every message compared with MeatPy's decoding of the same bytes, with
``fields()`` and with ``decode_fields()``.
"""

from __future__ import annotations

import struct
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from itch50_cases import event_dict, expected_event

from tickpath.codec.itch50.decode import OK, decode_batch
from tickpath.codec.itch50.layout import EVENT_DTYPE, LENGTHS, MESSAGES
from tickpath.codec.itch50.message import decode_fields, encode, fields
from tickpath.wire.pcap import read_records, udp_payload

pytestmark = pytest.mark.referee

meatpy_itch50 = pytest.importorskip("meatpy.itch50", reason="MeatPy (PyPI meatpy) not installed")
ITCH50MarketMessage = meatpy_itch50.itch50_market_message.ITCH50MarketMessage

#: types the README promises in these captures
CAPTURED_TYPES = set("SAFECXDUPQHYLIJN")

#: MeatPy attribute per body field of ours, in the specification's order (read from MeatPy's
#: ``_from_bytes_data`` of each message class). The header is stock_locate, tracking_number,
#: timestamp for every type. 'O' is left out on purpose: see test_meatpy_misreads_dlcr_o.
MEATPY_BODY = {
    "S": ("code",),
    "R": ("stock", "category", "status", "lotsize", "lotsonly", "issue_class", "issue_sub",
          "authenticity", "shortsale_thresh", "ipo_flag", "luld_ref", "etp_flag",
          "etp_leverage", "inverse_ind"),
    "H": ("stock", "state", "reserved", "reason"),
    "Y": ("stock", "action"),
    "L": ("mpid", "stock", "primary_market_maker", "market_maker_mode", "state"),
    "V": ("level1", "level2", "level3"),
    "W": ("breached_level",),
    "K": ("stock", "ipo_quotation_release_time", "ipo_quotation_release_qualifier",
          "ipo_price"),
    "J": ("stock", "auction_collar_ref_price", "upper_auction_collar_price",
          "lower_auction_collar_price", "auction_collar_extension"),
    "h": ("stock", "halt_status", "halt_reason"),
    "A": ("order_ref", "bsindicator", "shares", "stock", "price"),
    "F": ("order_ref", "bsindicator", "shares", "stock", "price", "attribution"),
    "E": ("order_ref", "shares", "match"),
    "C": ("order_ref", "shares", "match", "printable", "execution_price"),
    "X": ("order_ref", "canceled_shares"),
    "D": ("order_ref",),
    "U": ("original_ref", "new_ref", "shares", "price"),
    "P": ("order_ref", "bsindicator", "shares", "stock", "price", "match"),
    "Q": ("shares", "stock", "cross_price", "match", "cross_type"),
    "B": ("match",),
    "I": ("paired_shares", "imbalance_shares", "imbalance_direction", "stock", "far_price",
          "near_price", "current_ref_price", "cross_type", "price_variation_indicator"),
    "N": ("stock", "interest"),
}
MEATPY_HEADER = ("stock_locate", "tracking_number", "timestamp")


@dataclass(frozen=True)
class Packet:
    where: str  # file and frame number, for messages
    data: bytes  # the MoldUDP64 packet


@dataclass(frozen=True)
class Msg:
    where: str
    raw: bytes


@pytest.fixture(scope="module")
def packets(shared_data) -> list[Packet]:
    root = shared_data / "nasdaq-itch50"
    files = sorted(root.glob("*/*.pcap"))
    if not files:
        pytest.skip(f"no ITCH 5.0 captures under {root}")
    out = []
    for path in files:
        for i, rec in enumerate(read_records(path), start=1):
            got = udp_payload(rec.frame, rec.linktype)
            assert got is not None, f"{path} frame {i}: not an IPv4/UDP frame"
            out.append(Packet(f"{path.relative_to(root)}#{i}", bytes(got[0])))
    return out


@pytest.fixture(scope="module")
def msgs(packets) -> list[Msg]:
    """Every message, split out of its packet in plain Python (2-byte length + message)."""
    out = []
    for pk in packets:
        count = int.from_bytes(pk.data[18:20], "big")
        p = 20
        for _ in range(count):
            n = int.from_bytes(pk.data[p:p + 2], "big")
            out.append(Msg(pk.where, pk.data[p + 2:p + 2 + n]))
            p += 2 + n
        assert p == len(pk.data), f"{pk.where}: MoldUDP64 blocks do not fill the packet"
    return out


def test_captures_hold_the_promised_types(msgs):
    assert {chr(m.raw[0]) for m in msgs} >= CAPTURED_TYPES
    assert len(msgs) >= 5 * len(CAPTURED_TYPES)


def test_decode_batch_on_every_packet(packets):
    out = np.zeros(16, EVENT_DTYPE)
    for pk in packets:
        buf = np.frombuffer(pk.data, np.uint8)
        count, status, offset = decode_batch(buf, 20, buf.size, LENGTHS, out, 0, 0)
        assert (status, offset) == (OK, buf.size), pk.where
        assert count == int.from_bytes(pk.data[18:20], "big"), pk.where
        p = 20
        for ev in out[:count]:
            n = int.from_bytes(pk.data[p:p + 2], "big")
            assert event_dict(ev) == expected_event(pk.data[p + 2:p + 2 + n], p + 2), pk.where
            p += 2 + n


def _meatpy_values(m) -> list:
    t = m.type.decode()
    return [getattr(m, a) for a in MEATPY_HEADER + MEATPY_BODY[t]]


def _ours_for_meatpy(raw: bytes) -> list:
    got = fields(raw)
    return [v.encode("latin-1") if isinstance(v, str) else v
            for k, v in got.items() if k != "message_type"]


def test_meatpy_agrees_on_every_field(msgs):
    checked = defaultdict(int)
    for m in msgs:
        t = chr(m.raw[0])
        assert t != "O", "a real 'O' appeared: compare it by hand (MeatPy misreads it)"
        ref = ITCH50MarketMessage.from_bytes(m.raw)
        assert ref.type == m.raw[:1]
        assert ref.message_size == MESSAGES[t].length == len(m.raw), m.where
        assert len(_meatpy_values(ref)) == len(MESSAGES[t].fields) - 1
        assert _meatpy_values(ref) == _ours_for_meatpy(m.raw), m.where
        checked[t] += 1
    assert set(checked) >= CAPTURED_TYPES


def test_meatpy_reader_over_the_same_blocks(msgs, tmp_path: Path):
    # MeatPy's own file reader (BinaryFILE framing: 2-byte length + message) over every block
    path = tmp_path / "real.itch"
    path.write_bytes(b"".join(len(m.raw).to_bytes(2, "big") + m.raw for m in msgs))
    reader = meatpy_itch50.ITCH50MessageReader()
    refs = list(reader.read_file(path))
    assert len(refs) == len(msgs)
    for m, ref in zip(msgs, refs, strict=True):
        assert _meatpy_values(ref) == _ours_for_meatpy(m.raw), m.where
    # and our compiled decoder over the same file, in one batch
    buf = np.fromfile(path, np.uint8)
    out = np.zeros(len(msgs), EVENT_DTYPE)
    count, status, offset = decode_batch(buf, 0, buf.size, LENGTHS, out, 0, 0)
    assert (count, status, offset) == (len(msgs), OK, buf.size)
    for ev, ref in zip(out, refs, strict=True):
        assert int(ev["locate"]) == ref.stock_locate
        assert int(ev["tracking"]) == ref.tracking_number
        assert int(ev["timestamp"]) == ref.timestamp


def test_decode_fields_agrees_with_fields(msgs):
    by_type: dict[str, list[bytes]] = defaultdict(list)
    for m in msgs:
        by_type[chr(m.raw[0])].append(m.raw)
    for t, raws in by_type.items():
        buf = np.frombuffer(b"".join(raws), np.uint8)
        offsets = np.cumsum([0] + [len(r) for r in raws[:-1]])
        cols = decode_fields(buf, offsets, t)
        for i, raw in enumerate(raws):
            for name, v in fields(raw).items():
                got = cols[name][i]
                if isinstance(v, str):
                    assert bytes(got) == v.encode("latin-1").rstrip(b"\x00"), (t, name)
                else:
                    assert int(got) == v, (t, name)


def test_hand_checked_add_order(shared_data):
    # the first message of Nasdaq's AddOrderNoMPID.pcap, decoded by hand from its hex dump:
    # 41 1598 0000 1f1aced85306 000000000166b53e 42 00000640 49564f4f20202020 000d55ac
    path = (shared_data / "nasdaq-itch50" / "Nasdaq.Equities.TotalView.Itch.v5.0.20230822"
            / "AddOrderNoMPID.pcap")
    if not path.is_file():
        pytest.skip(f"{path} is absent")
    rec = next(iter(read_records(path)))
    payload, _ = udp_payload(rec.frame, rec.linktype)
    raw = bytes(payload[22:22 + 36])
    assert fields(raw) == {
        "message_type": "A", "stock_locate": 5528, "tracking_number": 0,
        "timestamp": 34_199_999_894_278,  # 09:29:59.999894278 New York time
        "order_reference_number": 23_508_286, "buy_sell_indicator": "B", "shares": 1600,
        "stock": "IVOO    ", "price": 873_900,  # $87.3900
    }
    assert rec.ts_ns == 1_692_711_000_000_059_094  # 2023-08-22 13:30:00.000059094 UTC


# --------------------------------------------------------------------- 'O', DLCR price discovery

#: A DLCR message packed straight from the specification's table (section 1.8, 48 bytes):
#: type, locate, tracking, timestamp(6), stock(8), open eligibility status, minimum allowable
#: price, maximum allowable price, near execution price, near execution time (8), lower and
#: upper price range collars.
O_VALUES = {
    "message_type": "O", "stock_locate": 77, "tracking_number": 3,
    "timestamp": 36_000_123_456_789, "stock": "DLCRX   ", "open_eligibility_status": "Y",
    "minimum_allowable_price": 80_000, "maximum_allowable_price": 360_000,
    "near_execution_price": 150_000, "near_execution_time": 35_999_000_000_000,
    "lower_price_range_collar": 135_000, "upper_price_range_collar": 165_000,
}
O_RAW = struct.pack(">cHH6s8scIIIQII", b"O", 77, 3, (36_000_123_456_789).to_bytes(6, "big"),
                    b"DLCRX   ", b"Y", 80_000, 360_000, 150_000, 35_999_000_000_000, 135_000,
                    165_000)


def test_dlcr_o_by_hand():
    assert len(O_RAW) == 48 == MESSAGES["O"].length
    assert fields(O_RAW) == O_VALUES
    assert encode("O", **{k: v for k, v in O_VALUES.items() if k != "message_type"}) == O_RAW
    buf = np.frombuffer(len(O_RAW).to_bytes(2, "big") + O_RAW, np.uint8)
    out = np.zeros(1, EVENT_DTYPE)
    assert decode_batch(buf, 0, buf.size, LENGTHS, out, 0, 0)[:2] == (1, OK)
    ev = out[0]
    assert chr(ev["type"]) == "O" and chr(ev["flag"]) == "Y"
    assert int(ev["stock"]) == int.from_bytes(b"DLCRX   ", "big")
    assert int(ev["price"]) == 150_000 and int(ev["timestamp"]) == 36_000_123_456_789
    cols = decode_fields(np.frombuffer(O_RAW, np.uint8), np.array([0]), "O")
    assert int(cols["near_execution_time"][0]) == 35_999_000_000_000
    assert int(cols["upper_price_range_collar"][0]) == 165_000


def test_meatpy_misreads_dlcr_o():
    # Why 'O' is excluded from the MeatPy comparison: MeatPy 0.5 lays 'O' out as
    # "!HHHI8scIIIIQII" + type byte = 52 bytes with different fields; the spec's 'O' is 48.
    dlcr = meatpy_itch50.itch50_market_message.DirectListingCapitalRaiseMessage
    assert dlcr.message_size != MESSAGES["O"].length
    with pytest.raises(struct.error):
        ITCH50MarketMessage.from_bytes(O_RAW)
