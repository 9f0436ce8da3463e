"""Real CME MDP 3.0 captures (../shared/data/cme-mdp3/pcaps) through the MDP3 framing and the
SBE decoder, each with its own schema version; Wireshark's Open Markets Initiative dissectors
as referee; fuzzing of real messages; encode -> decode of every template of schema v13."""

from __future__ import annotations

import collections
import json
import struct
import subprocess
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tickpath.codec.mdp3 import schema_v13
from tickpath.codec.mdp3.packet import decode_packet, iter_messages, packet_header
from tickpath.codec.sbe import Composite, Enum, Primitive, Set, load_schema
from tickpath.codec.sbe.decode import (
    Decimal,
    SbeError,
    as_schema,
    decode_message,
    encode_message,
)
from tickpath.wire.pcap import read_records, udp_payload

#: capture folder -> the schema its messages were sent with (v12's are read with v13, a
#: superset; the v12 folder holds TCP recovery packets only)
SCHEMA_OF = {
    "Mdp3.Sbe.v1.5": "mdp3_schema_v5_20140806.xml",
    "Mdp3.Sbe.v1.6": "omi_Cme.Futures.Mdp3.Sbe.v1.6.xml",
    "Mdp3.Sbe.v1.8": "mdp3_schema_v8_20160701.xml",
    "Mdp3.Sbe.v1.12": "omi_Cme.Futures.Mdp3.Sbe.v1.13.xml",
}
V6 = "Mdp3.Sbe.v1.6/Cme.Mdp3.Sbe.v6.1.pcap"


def tcp_payload(frame: bytes) -> bytes | None:
    """The TCP payload of an Ethernet (optionally VLAN-tagged) IPv4 frame, else None."""
    p, ethertype = 14, int.from_bytes(frame[12:14], "big")
    while ethertype == 0x8100:
        ethertype, p = int.from_bytes(frame[p + 2:p + 4], "big"), p + 4
    if ethertype != 0x0800 or frame[p + 9] != 6:
        return None
    total = int.from_bytes(frame[p + 2:p + 4], "big")
    t = p + (frame[p] & 15) * 4
    return frame[t + (frame[t + 12] >> 4) * 4:p + total]


def payloads(path: Path):
    """(payload, is_tcp) of every UDP or TCP packet of a capture."""
    for rec in read_records(path):
        got = udp_payload(rec.frame, rec.linktype)
        if got is not None:
            yield bytes(got[0]), False
        else:
            tcp = tcp_payload(bytes(rec.frame))
            if tcp:
                yield tcp, True


@pytest.fixture(scope="module")
def pcaps(shared_data) -> Path:
    return shared_data / "cme-mdp3" / "pcaps"


@pytest.fixture(scope="module")
def schemas(shared_data) -> dict[str, Any]:
    d = shared_data / "cme-mdp3" / "schemas"
    return {folder: load_schema(d / name) for folder, name in SCHEMA_OF.items()}


@pytest.fixture(scope="module")
def v6_decoded(pcaps, schemas) -> list[dict]:
    return [decode_packet(schemas["Mdp3.Sbe.v1.6"], p) for p, _ in payloads(pcaps / V6)]


def test_every_message_of_every_capture_decodes(pcaps, schemas):
    seen: dict[str, collections.Counter] = {}
    foreign = collections.Counter()
    for path in sorted(pcaps.glob("*/*.pcap")):
        schema = schemas[path.parent.name]
        counts = collections.Counter()
        for payload, tcp in payloads(path):
            d = decode_packet(schema, payload, tcp=tcp)
            assert d["unknown"] == [], path.name
            for m in d["messages"]:
                assert m["header"]["schemaId"] == 1
                counts[m["header"]["templateId"]] += 1
            for _, schema_id, template in d["foreign"]:
                foreign[(schema_id, template)] += 1
        seen[f"{path.parent.name}/{path.name}"] = counts
    assert sum(sum(c.values()) for c in seen.values()) > 21_000
    # v12's recovery requests, acks and heartbeats are schema 2: no schema here covers them
    assert set(foreign) == {(2, 206), (2, 208), (2, 209), (2, 210)}
    assert seen["Mdp3.Sbe.v1.12/SnapshotFullRefreshTcpLongQty.Tcp.pcap"] == {68: 1}
    assert seen["Mdp3.Sbe.v1.5/MdInstrumentDefinitionSpread.pcap"] == {29: 3, 27: 2}


def test_v6_capture_as_the_readme_describes(v6_decoded):
    """10,000 packets, A and B feeds with MsgSeqNum 5615-10614 on both, templates 32, 35, 37,
    42 and 12."""
    assert len(v6_decoded) == 10_000
    seqs = collections.Counter(d["msg_seq_num"] for d in v6_decoded)
    assert set(seqs) == set(range(5615, 10615)) and set(seqs.values()) == {2}
    counts = collections.Counter(m["header"]["templateId"] for d in v6_decoded
                                 for m in d["messages"])
    assert set(counts) == {32, 35, 37, 42, 12}
    assert counts == {32: 19138, 35: 614, 42: 388, 37: 388, 12: 18}
    assert all(m["header"]["version"] == 6 for d in v6_decoded for m in d["messages"])


def test_v6_book_entries_are_plausible(v6_decoded):
    entries = [e for d in v6_decoded for m in d["messages"] if m["template"] ==
               "MDIncrementalRefreshBook32" for e in m["NoMDEntries"]]
    assert len(entries) > 10_000
    assert {e["MDUpdateAction"] for e in entries} <= {"New", "Change", "Delete", "DeleteThru",
                                                      "DeleteFrom", "Overlay"}
    assert {e["MDEntryType"] for e in entries} <= {"Bid", "Offer", "ImpliedBid",
                                                   "ImpliedOffer", "BookReset"}
    priced = [e for e in entries if e["MDEntryPx"] is not None]
    assert {e["MDEntryPx"].exponent for e in priced} == {-7}  # v6's PRICENULL
    assert all(1 <= e["MDPriceLevel"] <= 10 for e in entries if e["MDEntryType"] != "BookReset")
    # RptSeq rises by one per instrument, feed A alone
    last: dict[int, int] = {}
    for d in v6_decoded[1::2]:
        for m in d["messages"]:
            for e in m.get("NoMDEntries", []):
                if "RptSeq" in e and e["RptSeq"] is not None:
                    sec = e["SecurityID"]
                    if sec in last:
                        assert e["RptSeq"] == last[sec] + 1, (sec, e["RptSeq"], last[sec])
                    last[sec] = e["RptSeq"]


def test_framing_refusals():
    good = struct.pack("<IQ", 7, 99) + struct.pack("<H", 10) + bytes(8)
    assert packet_header(good) == (7, 99)
    assert list(iter_messages(good)) == [(14, 8)]
    with pytest.raises(SbeError, match="truncated packet header: 11 of 12 bytes"):
        packet_header(good[:11])
    with pytest.raises(SbeError, match="MsgSize 10 runs past the end of the packet") as e:
        list(iter_messages(good[:-1]))
    assert e.value.offset == 12
    with pytest.raises(SbeError, match="MsgSize 1 is smaller than its own 2 bytes"):
        list(iter_messages(good[:12] + b"\x01\x00"))
    with pytest.raises(SbeError, match="truncated MsgSize: 1 byte"):
        list(iter_messages(good + b"\x05"))
    with pytest.raises(SbeError, match="encoding type 0x0007 is not 0xCAFE"):
        packet_header(good + bytes(2), tcp=True)


def test_unknown_templates_are_counted_and_skipped(pcaps, schemas):
    """A packet read with a schema that lacks a template: the message is counted and skipped
    by its MsgSize, the ones after it still decode."""
    v13 = schemas["Mdp3.Sbe.v1.12"]
    payload = next(p for p, _ in payloads(pcaps / "Mdp3.Sbe.v1.5/MdIncrementalRefreshVolume.pcap"))
    d = decode_packet(v13, payload)  # v13 has 37 but not 32
    assert [t for _, t in d["unknown"]] == [32]
    assert [m["header"]["templateId"] for m in d["messages"]] == [37]


# ------------------------------------------------------------------------------- referee


def _pairs(pairs):
    return pairs  # keep duplicate keys and their order


def _flatten(node, out: list[tuple[str, str]]) -> None:
    if isinstance(node, list):
        for k, v in node:
            if isinstance(v, list):
                _flatten(v, out)
            else:
                out.append((k.rsplit(".", 1)[-1], v))


def _tshark(tshark: str, shared: Path, dissector: str, capture: Path, count: int) -> list:
    lua = shared / "referees" / "wireshark-lua" / dissector
    r = subprocess.run([tshark, "-X", f"lua_script:{lua}", "-r", str(capture), "-c", str(count),
                        "-T", "json"], capture_output=True, text=True, timeout=300, check=True)
    packets = json.loads(r.stdout, object_pairs_hook=_pairs)
    out = []
    for pkt in packets:
        source = dict(pkt)["_source"]
        layers = dict(source)["layers"]
        proto = [v for k, v in layers if k.startswith("omi.cme.globex.mdp3")]
        flat: list[tuple[str, str]] = []
        for p in proto:
            _flatten(p, flat)
        out.append(flat)
    return out


#: the fields compared, by their name in the dissector (prefix) and in the schema
REFEREE_FIELDS = {"securityid": "SecurityID", "rptseq": "RptSeq", "mdentrypx": "MDEntryPx",
                  "mdentrysize": "MDEntrySize", "mdupdateaction": "MDUpdateAction",
                  "mdpricelevel": "MDPriceLevel"}


def _ours(schema, decoded: dict) -> dict[str, list]:
    got: dict[str, list] = collections.defaultdict(list)
    got["packetsequencenumber"].append(int(decoded["msg_seq_num"]))
    s = as_schema(schema)
    enum = s.types["MDUpdateAction"]

    def walk(entry: dict) -> None:
        for key, name in REFEREE_FIELDS.items():
            if name in entry:
                v = entry[name]
                if name == "MDEntryPx":
                    v = None if v is None else v.to_decimal()
                elif name == "MDUpdateAction":
                    v = enum.value(v)
                got[key].append(v)
        for v in entry.values():
            if isinstance(v, list) and v and isinstance(v[0], dict):
                for e in v:
                    walk(e)

    for m in decoded["messages"]:
        got["templateid"].append(m["header"]["templateId"])
        walk(m)
    return got


#: null values of the compared fields' types (the dissector shows a null as its raw value)
NULLS = {(1 << 31) - 1, (1 << 63) - 1, (1 << 32) - 1, 255, 127}


def _same(ours, theirs) -> bool:
    if ours is None:  # null: the dissector gives no number, or the type's raw null value
        return theirs is None or any(int(theirs.scaleb(-e) if hasattr(theirs, "scaleb") else
                                         theirs) in NULLS for e in (0, -7, -9))
    return ours == theirs


def _theirs(flat: list[tuple[str, str]]) -> dict[str, list]:
    import decimal

    got: dict[str, list] = collections.defaultdict(list)
    for key, value in flat:
        for prefix in ("packetsequencenumber", "templateid", *REFEREE_FIELDS):
            if key in (prefix, prefix + "optional"):  # the dissector's name for a null type
                try:
                    v = decimal.Decimal(value) if prefix == "mdentrypx" else int(value)
                except (ValueError, decimal.InvalidOperation):
                    v = None  # the dissector's text for a null value
                got[prefix].append(v)
    return got


@pytest.mark.referee
@pytest.mark.parametrize("capture, dissector, count", [
    (V6, "Cme_Globex_Mdp3_Sbe_v1_6_Dissector.lua", 400),
    ("Mdp3.Sbe.v1.8/MdIncrementalRefreshVolume.pcap", "Cme_Globex_Mdp3_Sbe_v1_8_Dissector.lua",
     200),
    ("Mdp3.Sbe.v1.5/MdIncrementalRefreshSessionStatistics.pcap",
     "Cme_Globex_Mdp3_Sbe_v1_5_Dissector.lua", 10),
])
def test_against_wireshark(tshark, shared_data, pcaps, schemas, capture, dissector, count):
    path = pcaps / capture
    theirs = _tshark(tshark, shared_data, dissector, path, count)
    schema = schemas[path.parent.name]
    ours = [decode_packet(schema, p) for p, _ in payloads(path)][:count]
    assert len(theirs) == len(ours) > 0
    compared = collections.Counter()
    for i, (t, o) in enumerate(zip(theirs, ours, strict=True)):
        want, got = _theirs(t), _ours(schema, o)
        for key in ("packetsequencenumber", "templateid", *REFEREE_FIELDS):
            g, w = got.get(key, []), want.get(key, [])
            assert len(g) == len(w) and all(map(_same, g, w)), (capture, i, key, g, w)
            compared[key] += len(w)
    assert compared["templateid"] >= len(ours)
    assert compared["securityid"] > 0 and compared["rptseq"] > 0 and compared["mdentrypx"] > 0


# ------------------------------------------------------------------------------------ fuzz


@pytest.fixture(scope="module")
def real_messages(pcaps, schemas) -> list[tuple[Any, bytes]]:
    out = []
    for folder in ("Mdp3.Sbe.v1.5", "Mdp3.Sbe.v1.8", "Mdp3.Sbe.v1.12"):
        for path in sorted((pcaps / folder).glob("*.pcap")):
            for payload, tcp in payloads(path):
                for off, size in iter_messages(payload, tcp):
                    out.append((schemas[folder], payload[off:off + size]))
    for payload, _ in list(payloads(pcaps / V6))[:300:7]:
        for off, size in iter_messages(payload):
            out.append((schemas["Mdp3.Sbe.v1.6"], payload[off:off + size]))
    return out


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow,
                                                                  HealthCheck.data_too_large])
@given(data=st.data())
def test_mutated_real_messages_raise_only_sbe_error(real_messages, data):
    schema, raw = data.draw(st.sampled_from(real_messages))
    raw = bytearray(raw)
    for _ in range(data.draw(st.integers(0, 3))):
        raw[data.draw(st.integers(0, len(raw) - 1))] = data.draw(st.integers(0, 255))
    cut = data.draw(st.integers(0, len(raw)))
    try:
        _, size = decode_message(schema, bytes(raw[:cut]))
    except SbeError:
        return
    assert size <= cut


@settings(max_examples=200, deadline=None)
@given(payload=st.binary(max_size=120), tcp=st.booleans())
def test_random_packets_raise_only_sbe_error(payload, tcp):
    try:
        decode_packet(schema_v13, payload, tcp=tcp)
    except SbeError:
        pass


# ------------------------------------------------------------- v13: every template round trip


def _values(draw, s, t: Any, optional: bool) -> Any:
    """A random valid value of type ``t`` in the decoder's form."""
    if isinstance(t, Primitive):
        if t.presence == "constant":
            return t.constant
        if t.length != 1:
            if t.primitive == "char":
                return draw(st.text(alphabet="ABCXYZ019 ", max_size=t.length).map(str.rstrip))
            return draw(st.lists(st.integers(t.min, t.max), min_size=t.length,
                                 max_size=t.length))
        if (optional or t.presence == "optional") and draw(st.booleans()):
            return None
        if t.primitive == "char":
            return draw(st.sampled_from("ABC0"))
        return draw(st.integers(t.min, t.max).filter(lambda v: v != t.null))
    if isinstance(t, Enum):
        names = [n for n, _, _ in t.values]
        if optional or t.encoding.presence == "optional":
            names.append(None)
        return draw(st.sampled_from(names))
    if isinstance(t, Set):
        return sorted(draw(st.sets(st.sampled_from([n for n, _, _ in t.choices]))),
                      key=[n for n, _, _ in t.choices].index)
    members = {m.name: m for m in t.members}
    if set(members) == {"mantissa", "exponent"}:
        m = _values(draw, s, members["mantissa"], optional)
        e = members["exponent"]
        exp = e.constant if e.presence == "constant" else _values(draw, s, e, False)
        return None if m is None or exp is None else Decimal(m, exp)
    return {m.name: _values(draw, s, m, optional) for m in t.members}


def _block(draw, s, node, depth: int = 0) -> dict:
    out = {}
    for f in node.fields:
        out[f.name] = (f.constant if f.presence == "constant" else
                       _values(draw, s, s.types[f.type], f.presence == "optional"))
    for g in node.groups:
        out[g.name] = [_block(draw, s, g, depth + 1)
                       for _ in range(draw(st.integers(0, 2 if depth else 3)))]
    for d in node.data:
        out[d.name] = draw(st.text(alphabet="abc", max_size=5))
    return out


V13 = as_schema(schema_v13)


@settings(max_examples=60, deadline=None)
@given(template=st.sampled_from([m.id for m in V13.messages]), data=st.data())
def test_v13_every_template_round_trips(template, data):
    m = V13.message(template)
    values = _block(data.draw, V13, m)
    raw = encode_message(schema_v13, template, values)
    msg, size = decode_message(schema_v13, raw)
    assert size == len(raw)
    assert {k: v for k, v in msg.items() if k not in ("template", "header")} == values


def test_v13_every_template_encodes_with_nulls():
    """Each template once with every optional field null and no group entries (all ids)."""
    for m in V13.messages:
        values = {}
        for f in m.fields:
            t = V13.types[f.type]
            if f.presence == "required":
                values[f.name] = _zero(t)
        raw = encode_message(V13, m.id, values)
        msg, size = decode_message(V13, raw)
        assert size == len(raw) == 8 + m.block_length + sum(g.header_size for g in m.groups)


def _zero(t: Any) -> Any:
    if isinstance(t, Primitive):
        return "" if t.length != 1 else ("A" if t.primitive == "char" else max(t.min, 0))
    if isinstance(t, Enum):
        return t.values[0][0]
    if isinstance(t, Set):
        return []
    assert isinstance(t, Composite)
    return {m.name: _zero(m) for m in t.members if m.size}
