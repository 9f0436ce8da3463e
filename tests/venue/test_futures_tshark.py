"""The futures venue's MDP 3.0 packets refereed by an independent decoder: Open Markets
Initiative's Wireshark Lua dissector for schema v1.13, run by tshark on a pcap the venue
wrote (lines A and B and the snapshot loop). Every frame must dissect as MDP 3.0 v13 without
a malformed mark, and the sequence numbers, template ids and the book, order and trade
fields the dissector shows must be those our decoder reads from the same bytes."""

from __future__ import annotations

import decimal
import json
import subprocess
from pathlib import Path

import pytest

from tickpath.codec.mdp3 import schema_v13 as S
from tickpath.codec.mdp3.packet import decode_packet
from tickpath.venue.futures import FuturesSimulator
from tickpath.wire.pcap import read_udp

pytestmark = pytest.mark.referee

DISSECTOR = "Cme_Globex_Mdp3_Sbe_v1_13_Dissector.lua"
#: compared fields: our decoder's name -> the dissector's field name (exact, with "optional"
#: for a nullable type, or a prefix it extends with its type's name: ``mdentrypxoptional``)
FIELDS = {"SecurityID": "securityid", "RptSeq": "rptseq", "MDPriceLevel": "mdpricelevel",
          "OrderID": "orderid", "MDEntryPx": "mdentrypx", "MDEntrySize": "mdentrysize",
          "NumberOfOrders": "numberoforders", "MDDisplayQty": "mddisplayqty",
          "MDOrderPriority": "mdorderpriority", "LastQty": "lastqty",
          "LastMsgSeqNumProcessed": "lastmsgseqnumprocessed", "CurrentChunk": "currentchunk"}
_EXACT = {"securityid", "rptseq", "mdpricelevel", "orderid", "lastqty",
          "lastmsgseqnumprocessed", "currentchunk"}


def _pairs(items):
    return items  # keep repeated keys, in order


def _flatten(node, out: list[tuple[str, str]]) -> None:
    for k, v in node:
        if isinstance(v, list):
            _flatten(v, out)
        else:
            out.append((k.rsplit(".", 1)[-1], v))


def _field(key: str) -> str | None:
    for ours, theirs in FIELDS.items():
        if key in (theirs, theirs + "optional") or (theirs not in _EXACT
                                                    and key.startswith(theirs)):
            return ours
    return None


def _theirs(flat: list[tuple[str, str]]) -> list[tuple[str, object]]:
    out: list[tuple[str, object]] = []
    for key, value in flat:
        if key in ("packetsequencenumber", "templateid"):
            out.append((key, int(value)))
        elif (name := _field(key)) is not None:
            out.append((name, decimal.Decimal(value) if name == "MDEntryPx" else int(value)))
    return out


def _ours(decoded: dict) -> list[tuple[str, object]]:
    out: list[tuple[str, object]] = [("packetsequencenumber", decoded["msg_seq_num"])]

    def walk(node: dict) -> None:
        for k, v in node.items():
            if k in FIELDS:
                out.append((k, v.to_decimal() if k == "MDEntryPx" else v))
            elif isinstance(v, list) and v and isinstance(v[0], dict):
                for e in v:
                    walk(e)

    for m in decoded["messages"]:
        out.append(("templateid", m["header"]["templateId"]))
        walk(m)
    return out


def test_lua_dissector_reads_what_we_wrote(tshark, shared_data: Path, tmp_path):
    fut = FuturesSimulator(None, messages=2_500, seed=21, snapshot_every=25)
    path = tmp_path / "venue.pcap"
    n = fut.write_pcap(path, drop_a={7}, drop_b={9})
    frames = [bytes(p) for _, p, _ in read_udp(path)]
    assert len(frames) == sum(n.values())
    lua = shared_data / "referees" / "wireshark-lua" / DISSECTOR
    r = subprocess.run([tshark, "-X", f"lua_script:{lua}", "-r", str(path), "-T", "json"],
                       capture_output=True, text=True, timeout=300, check=True)
    packets = json.loads(r.stdout, object_pairs_hook=_pairs)
    assert len(packets) == len(frames)
    templates = set()
    compared = 0
    for frame, pkt in zip(frames, packets, strict=True):
        layers = dict(dict(pkt)["_source"])["layers"]
        names = [k for k, _ in layers]
        assert "omi.cme.globex.mdp3.sbe.v1.13" in names, names
        assert not any("malformed" in k for k in names), names
        flat: list[tuple[str, str]] = []
        for k, v in layers:
            if k.startswith("omi.cme.globex.mdp3"):
                _flatten(v, flat)
        theirs = _theirs(flat)
        ours = _ours(decode_packet(S, frame))
        assert theirs == ours
        compared += len(ours)
        templates |= {v for k, v in ours if k == "templateid"}
    assert templates == {30, 46, 47, 48, 52, 53, 54}
    assert compared > 20 * len(frames)
