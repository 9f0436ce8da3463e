"""SBE schema XML -> IR (tickpath.codec.sbe.schema): a small schema written here, the errors a
broken one gives, and every real schema in ../shared/data laid out against its declared block
lengths and offsets."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET

import pytest
from sbe_cases import RC2, SBE10, TOY_MESSAGES, TOY_TYPES, toy_schema, toy_xml, write

from tickpath.codec.sbe import (
    Composite,
    Enum,
    Primitive,
    SchemaError,
    Set,
    from_plain,
    load_schema,
    to_plain,
    upper_snake,
)
from tickpath.codec.sbe.schema import PRIMITIVES, null_of, type_presence

# ---------------------------------------------------------------------------- a small schema


@pytest.mark.parametrize("ns", [RC2, SBE10])
def test_toy_schema_layout(tmp_path, ns):
    s = toy_schema(tmp_path, ns=ns)
    assert (s.id, s.version, s.byte_order, s.package, s.source) == (91, 3, "littleEndian",
                                                                     "toy", "toy.xml")
    assert s.header.size == 8
    assert [m.offset for m in s.header.members] == [0, 2, 4, 6]
    book = s.message(46)
    assert book.block_length == 11 and s.message("Book46") is book
    assert [(f.name, f.offset, f.size) for f in book.fields] == [("TransactTime", 0, 8),
                                                                  ("Flags", 8, 1)]
    g = book.groups[0]
    assert (g.name, g.block_length, g.dimension, g.header_size) == ("NoMDEntries", 24,
                                                                    "groupSize", 3)
    assert [(f.name, f.offset, f.size, f.presence) for f in g.fields] == [
        ("MDEntryPx", 0, 8, "optional"), ("MDEntrySize", 8, 4, "optional"),
        ("SecurityID", 12, 4, "required"), ("EntryType", 16, 1, "required"),
        ("Side", 17, 1, "optional"), ("Reset", 18, 0, "constant"),
        ("TradeableSize", 18, 4, "optional")]
    assert g.fields[5].constant == "J" and g.fields[6].since == 3
    assert book.groups[1].header_size == 8  # groupSize8Byte: numInGroup at offset 7
    d = s.message(7)
    assert d.since == 2 and d.block_length == 40
    assert [(f.name, f.offset, f.size) for f in d.fields] == [
        ("Symbol", 0, 8), ("Price", 8, 8), ("Maturity", 16, 3), ("EntryKind", 19, 0),
        ("Ratio", 20, 8), ("Extra", 28, 4)]
    assert d.fields[3].constant == "Offer"  # valueRef
    legs = d.groups[0]
    assert (legs.dimension, legs.header_size) == ("groupSizeEncoding", 4)
    assert legs.groups[0].name == "NoLegFills" and legs.groups[0].block_length == 2
    assert d.data[0].name == "Text" and d.data[0].type == "varString"
    assert s.message(12).block_length == 0


def test_toy_types(tmp_path):
    s = toy_schema(tmp_path)
    price = s.types["PRICE9"]
    assert isinstance(price, Composite) and price.size == 8
    assert price.member("exponent").constant == -9 and price.member("exponent").size == 0
    assert type_presence(s.types["PRICENULL9"]) == "optional"
    assert null_of(s.types["PRICENULL9"]) == (1 << 63) - 1
    et = s.types["EntryType"]
    assert isinstance(et, Enum) and et.values == (("Bid", 48, 0), ("Offer", 49, 0),
                                                  ("BookReset", 74, 0))
    assert isinstance(s.types["Flags"], Set) and s.types["Flags"].choices[1] == ("EndOfEvent", 7,
                                                                                 0)
    assert null_of(s.types["Side"]) == 255 and type_presence(s.types["Side"]) == "optional"
    sym = s.types["Symbol"]
    assert isinstance(sym, Primitive) and (sym.length, sym.size, sym.null) == (8, 8, 0)


@pytest.mark.parametrize("prim", sorted(PRIMITIVES))
def test_primitive_defaults(tmp_path, prim):
    """SBE's default null, min and max of each primitive when the schema names none."""
    types = TOY_TYPES.replace("</types>", f'<type name="T" primitiveType="{prim}"/></types>')
    t = toy_schema(tmp_path, types=types).types["T"]
    size, null, lo, hi = PRIMITIVES[prim]
    assert (t.size, t.null, t.min, t.max) == (size, null, lo, hi)
    if prim.startswith("int"):
        bits = size * 8
        assert (t.null, t.min, t.max) == (-(1 << bits - 1), -(1 << bits - 1) + 1,
                                          (1 << bits - 1) - 1)
    elif prim.startswith("uint"):
        bits = size * 8
        assert (t.null, t.min, t.max) == ((1 << bits) - 1, 0, (1 << bits) - 2)


def test_plain_round_trip(tmp_path):
    s = toy_schema(tmp_path)
    plain = to_plain(s)
    assert repr(eval(repr(plain))) == repr(plain)  # a literal: only plain data inside
    assert from_plain(plain) == s


@pytest.mark.parametrize("name, want", [
    ("MDIncrementalRefreshBook46", "MD_INCREMENTAL_REFRESH_BOOK46"),
    ("NoMDEntries", "NO_MD_ENTRIES"), ("MDEntryPx", "MD_ENTRY_PX"),
    ("SecurityID", "SECURITY_ID"), ("RptSeq", "RPT_SEQ"),
    ("LastMsgSeqNumProcessed", "LAST_MSG_SEQ_NUM_PROCESSED"),
    ("TransactTime", "TRANSACT_TIME"), ("PRICE9", "PRICE9"), ("PRICENULL9", "PRICENULL9"),
    ("groupSize8Byte", "GROUP_SIZE8_BYTE"), ("Decimal9NULL", "DECIMAL9_NULL"),
    ("iLinkIndicativeMassQuotingEligible", "I_LINK_INDICATIVE_MASS_QUOTING_ELIGIBLE"),
    ("RepoAverage8_30AM", "REPO_AVERAGE8_30_AM"), ("blockLength", "BLOCK_LENGTH"),
])
def test_upper_snake(name, want):
    assert upper_snake(name) == want


# ---------------------------------------------------------------------------------- errors


def _error(tmp_path, text: str) -> str:
    with pytest.raises(SchemaError) as e:
        load_schema(write(tmp_path, text, "broken.xml"))
    return str(e.value)


def test_overlapping_offset_names_the_field(tmp_path):
    msgs = TOY_MESSAGES.replace('type="Flags" offset="8"', 'type="Flags" offset="7"')
    msg = _error(tmp_path, toy_xml(messages=msgs))
    assert msg.startswith("broken.xml:")
    assert '<message name="Book46" id="46">: <field name="Flags" id="5799">' in msg
    assert "offset 7 overlaps field 'TransactTime' (bytes 0..8)" in msg
    line = int(msg.split(":")[1])
    assert 'name="Flags"' in toy_xml(messages=msgs).splitlines()[line - 1]


def test_unknown_type_names_it(tmp_path):
    msgs = TOY_MESSAGES.replace('type="Int32NULL" offset="8"', 'type="Int33NULL" offset="8"')
    msg = _error(tmp_path, toy_xml(messages=msgs))
    assert '<group name="NoMDEntries" id="268">: <field name="MDEntrySize" id="271">' in msg
    assert "unknown type 'Int33NULL'" in msg


def test_block_length_too_small(tmp_path):
    msgs = TOY_MESSAGES.replace('blockLength="24" dimensionType="groupSize"',
                                'blockLength="20" dimensionType="groupSize"')
    msg = _error(tmp_path, toy_xml(messages=msgs))
    assert '<message name="Book46" id="46">: <group name="NoMDEntries" id="268">' in msg
    assert "blockLength 20 is too small: field 'TradeableSize' ends at 22" in msg
    msgs = TOY_MESSAGES.replace('name="Book46" id="46" blockLength="11"',
                                'name="Book46" id="46" blockLength="8"')
    assert "blockLength 8 is too small: field 'Flags' ends at 9" in _error(
        tmp_path, toy_xml(messages=msgs))


@pytest.mark.parametrize("change, words", [
    (('primitiveType="int32"/>', 'primitiveType="int33"/>'), "primitiveType 'int33'"),
    (('<validValue name="Offer">1</validValue>', '<validValue name="Offer">11</validValue>'),
     "char value '11' is not one character"),
    (('<choice name="EndOfEvent">7</choice>', '<choice name="EndOfEvent">8</choice>'),
     "bit 8 does not fit a 1-byte set"),
    (('numInGroup" primitiveType="uint8" offset="7"', 'numInGroup" primitiveType="uint8" '
      'offset="1"'), "offset 1 overlaps member 'blockLength'"),
    (('name="Symbol" length="8"', 'name="Symbol" length="x"'), "length='x'"),
    (('nullValue="255" primitiveType="uint8"/>\n    <type name="EntryTypeReset"',
      'nullValue="256" primitiveType="uint8"/>\n    <type name="EntryTypeReset"'),
     "nullValue 256 does not fit uint8"),
])
def test_type_errors(tmp_path, change, words):
    types = TOY_TYPES.replace(*change)
    assert types != TOY_TYPES
    assert words in _error(tmp_path, toy_xml(types=types))


def test_more_message_errors(tmp_path):
    dup = TOY_MESSAGES.replace('name="Heartbeat12" id="12"', 'name="Heartbeat12" id="7"')
    assert "template id 7 is already used by Definition7" in _error(tmp_path,
                                                                   toy_xml(messages=dup))
    bad_ref = TOY_MESSAGES.replace("EntryType.Offer", "EntryType.Sideways")
    assert "valueRef 'EntryType.Sideways' names no value" in _error(tmp_path,
                                                                    toy_xml(messages=bad_ref))
    order = TOY_MESSAGES.replace('<data name="Text" id="58" type="varString"/>', "").replace(
        '<group name="NoLegs"', '<data name="Text" id="58" type="varString"/><group name="NoLegs"')
    assert "SBE puts fields first, then groups, then var data" in _error(
        tmp_path, toy_xml(messages=order))
    dim = TOY_MESSAGES.replace('dimensionType="groupSize8Byte"', 'dimensionType="PRICE9"')
    assert "dimensionType 'PRICE9' is not a composite with blockLength and numInGroup" in _error(
        tmp_path, toy_xml(messages=dim))
    assert "not well-formed XML" in _error(tmp_path, toy_xml()[:-30])


def test_not_an_sbe_schema(tmp_path):
    msg = _error(tmp_path, '<?xml version="1.0"?>\n<configuration/>\n')
    assert "not an SBE schema: the root element is <configuration>" in msg
    msg = _error(tmp_path, '<messageSchema xmlns="urn:other" id="1"/>')
    assert "in namespace 'urn:other'" in msg


# ------------------------------------------------------------------------- the real schemas


def _schema_files(shared_data):
    return sorted((shared_data / "cme-mdp3" / "schemas").glob("*.xml"))


def test_every_sbe_schema_parses(shared_data):
    """Every XML file in the schemas folder but one is an SBE schema and parses; the exception
    is CME's channel configuration (config.xml), which is not one, and says so."""
    parsed = {}
    for path in _schema_files(shared_data):
        if path.name.startswith("cme_mdp3_config"):
            with pytest.raises(SchemaError, match="not an SBE schema: the root element is "
                                                  "<configuration>"):
                load_schema(path)
            continue
        s = load_schema(path)
        parsed[path.name] = (s.id, s.version, len(s.messages))
        assert from_plain(to_plain(s)) == s
    assert parsed["omi_Cme.Futures.Mdp3.Sbe.v1.13.xml"] == (1, 13, 31)
    assert parsed["mdp3_schema_v9_20180308_sbe-ns2016.xml"] == (1, 9, 29)
    assert parsed["ilink3_ilinkbinary.xml"][:2] == (8, 5)
    assert len(parsed) == 7


def _local(tag: str) -> str:
    return tag.rpartition("}")[2]


def _check_block(path, where, xml_node, fields, groups, block_length) -> int:
    """Fields end at or before the block length; every explicit offset is the IR's offset;
    each group likewise. Returns the count of fields checked."""
    n = 0
    xml_fields = [c for c in xml_node if _local(c.tag) == "field"]
    assert [c.get("name") for c in xml_fields] == [f.name for f in fields], where
    end = 0
    for c, f in zip(xml_fields, fields, strict=True):
        if c.get("offset") is not None:
            assert f.offset == int(c.get("offset")), (path.name, where, f.name)
        assert f.offset >= end, (path.name, where, f.name)
        end = f.offset + f.size
        assert end <= block_length, (path.name, where, f.name, end, block_length)
        n += 1
    xml_groups = [c for c in xml_node if _local(c.tag) == "group"]
    for c, g in zip(xml_groups, groups, strict=True):
        assert g.block_length == int(c.get("blockLength")), (path.name, where, g.name)
        n += _check_block(path, f"{where}.{g.name}", c, g.fields, g.groups, g.block_length)
    return n


def test_every_template_fits_its_block_length(shared_data):
    checked = 0
    for path in _schema_files(shared_data):
        if path.name.startswith("cme_mdp3_config"):
            continue
        s = load_schema(path)
        root = ET.parse(path).getroot()
        xml_msgs = {int(m.get("id")): m for m in root if _local(m.tag) == "message"}
        assert sorted(xml_msgs) == sorted(m.id for m in s.messages)
        for m in s.messages:
            node = xml_msgs[m.id]
            assert m.block_length == int(node.get("blockLength")), (path.name, m.name)
            checked += _check_block(path, m.name, node, m.fields, m.groups, m.block_length)
    assert checked > 3000


def test_mdp3_facts(shared_data):
    """A few layouts every MDP3 handler relies on, as the v9 and v13 schemas give them."""
    d = shared_data / "cme-mdp3" / "schemas"
    for name in ("mdp3_schema_v9_20180308_sbe-ns2016.xml", "omi_Cme.Futures.Mdp3.Sbe.v1.13.xml"):
        s = load_schema(d / name)
        book = s.message(46)
        assert book.block_length == 11
        g = book.groups[0]
        assert (g.name, g.block_length, g.header_size) == ("NoMDEntries", 32, 3)
        assert {f.name: f.offset for f in g.fields if f.name in (
            "MDEntryPx", "MDEntrySize", "SecurityID", "RptSeq", "MDPriceLevel",
            "MDUpdateAction", "MDEntryType")} == {
            "MDEntryPx": 0, "MDEntrySize": 8, "SecurityID": 12, "RptSeq": 16,
            "MDPriceLevel": 24, "MDUpdateAction": 25, "MDEntryType": 26}
        assert book.groups[1].header_size == 8  # groupSize8Byte
        assert s.types["MDEntryTypeBook"].value("Bid") == ord("0")
    v9 = load_schema(d / "mdp3_schema_v9_20180308_sbe-ns2016.xml")
    assert {27, 32, 38, 42, 43, 44} <= {m.id for m in v9.messages}
    assert set(range(46, 57)) - {m.id for m in v9.messages} == set()
    assert re.fullmatch(r"\d{8}", v9.description)
