"""Helpers shared by the SBE codec tests: a small schema written here (so the codec is tested
without the reference data), writing schema text to a file, and importing a generated module."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

from tickpath.codec.sbe import generate, load_schema
from tickpath.codec.sbe.schema import Schema

RC2 = "http://www.fixprotocol.org/ns/simple/1.0"
SBE10 = "http://fixprotocol.io/2016/sbe"

#: a small schema with what the MDP3 schemas use (a PRICE9-like composite, an 8-byte group
#: header, char enums, a set, a constant of a constant type, sinceVersion fields, explicit
#: offsets with a gap) and what they do not (a nested group, var data, a valueRef constant)
TOY_TYPES = """
  <types>
    <composite name="messageHeader">
      <type name="blockLength" primitiveType="uint16"/>
      <type name="templateId" primitiveType="uint16"/>
      <type name="schemaId" primitiveType="uint16"/>
      <type name="version" primitiveType="uint16"/>
    </composite>
    <composite name="groupSize">
      <type name="blockLength" primitiveType="uint16"/>
      <type name="numInGroup" primitiveType="uint8"/>
    </composite>
    <composite name="groupSize8Byte">
      <type name="blockLength" primitiveType="uint16"/>
      <type name="numInGroup" primitiveType="uint8" offset="7"/>
    </composite>
    <composite name="groupSizeEncoding">
      <type name="blockLength" primitiveType="uint16"/>
      <type name="numInGroup" primitiveType="uint16"/>
    </composite>
    <composite name="varString">
      <type name="length" primitiveType="uint16"/>
      <type name="varData" primitiveType="char" length="0"/>
    </composite>
    <composite name="PRICE9">
      <type name="mantissa" primitiveType="int64"/>
      <type name="exponent" presence="constant" primitiveType="int8">-9</type>
    </composite>
    <composite name="PRICENULL9">
      <type name="mantissa" presence="optional" nullValue="9223372036854775807" primitiveType="int64"/>
      <type name="exponent" presence="constant" primitiveType="int8">-9</type>
    </composite>
    <composite name="MaturityMonthYear">
      <type name="year" presence="optional" nullValue="65535" primitiveType="uint16"/>
      <type name="month" presence="optional" nullValue="255" primitiveType="uint8"/>
    </composite>
    <type name="CHAR" primitiveType="char"/>
    <type name="Symbol" length="8" primitiveType="char"/>
    <type name="Int32NULL" presence="optional" nullValue="2147483647" primitiveType="int32"/>
    <type name="uInt8NULL" presence="optional" nullValue="255" primitiveType="uint8"/>
    <type name="EntryTypeReset" presence="constant" primitiveType="char">J</type>
    <enum name="EntryType" encodingType="CHAR">
      <validValue name="Bid">0</validValue>
      <validValue name="Offer">1</validValue>
      <validValue name="BookReset">J</validValue>
    </enum>
    <enum name="Side" encodingType="uInt8NULL">
      <validValue name="Buy">1</validValue>
      <validValue name="Sell">2</validValue>
    </enum>
    <set name="Flags" encodingType="uint8">
      <choice name="LastTrade">0</choice>
      <choice name="EndOfEvent">7</choice>
    </set>
  </types>
"""

TOY_MESSAGES = """
  <ns:message name="Book46" id="46" blockLength="11">
    <field name="TransactTime" id="60" type="uint64" offset="0"/>
    <field name="Flags" id="5799" type="Flags" offset="8"/>
    <group name="NoMDEntries" id="268" blockLength="24" dimensionType="groupSize">
      <field name="MDEntryPx" id="270" type="PRICENULL9" offset="0"/>
      <field name="MDEntrySize" id="271" type="Int32NULL" offset="8"/>
      <field name="SecurityID" id="48" type="int32" offset="12"/>
      <field name="EntryType" id="269" type="EntryType" offset="16"/>
      <field name="Side" id="54" type="Side" offset="17"/>
      <field name="Reset" id="9" type="EntryTypeReset"/>
      <field name="TradeableSize" id="5" type="Int32NULL" offset="18" sinceVersion="3"/>
    </group>
    <group name="NoOrderIDEntries" id="37705" blockLength="16" dimensionType="groupSize8Byte">
      <field name="OrderID" id="37" type="uint64" offset="0"/>
      <field name="Qty" id="38" type="int32" offset="8"/>
    </group>
  </ns:message>
  <ns:message name="Definition7" id="7" blockLength="40" sinceVersion="2">
    <field name="Symbol" id="55" type="Symbol" offset="0"/>
    <field name="Price" id="44" type="PRICE9" offset="8"/>
    <field name="Maturity" id="200" type="MaturityMonthYear" offset="16"/>
    <field name="EntryKind" id="269" type="EntryType" presence="constant" valueRef="EntryType.Offer"/>
    <field name="Ratio" id="5" type="double" offset="20"/>
    <field name="Extra" id="6" type="uint32" offset="28" sinceVersion="3"/>
    <group name="NoLegs" id="555" blockLength="4">
      <field name="LegID" id="602" type="int32"/>
      <group name="NoLegFills" id="556" blockLength="2" dimensionType="groupSize">
        <field name="FillQty" id="1" type="int16"/>
      </group>
    </group>
    <data name="Text" id="58" type="varString"/>
  </ns:message>
  <ns:message name="Heartbeat12" id="12" blockLength="0"/>
"""


def toy_xml(ns: str = RC2, version: int = 3, messages: str = TOY_MESSAGES,
            types: str = TOY_TYPES) -> str:
    return (f'<?xml version="1.0" encoding="UTF-8"?>\n'
            f'<ns:messageSchema xmlns:ns="{ns}" package="toy" id="91" version="{version}" '
            f'description="20240101" byteOrder="littleEndian">{types}{messages}'
            f"</ns:messageSchema>\n")


def write(tmp_path: Path, text: str, name: str = "toy.xml") -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


def toy_schema(tmp_path: Path, **kw) -> Schema:
    return load_schema(write(tmp_path, toy_xml(**kw)))


def import_path(path: Path, name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(name, path)
    mod = importlib.util.module_from_spec(spec)
    sys.modules[name] = mod
    spec.loader.exec_module(mod)
    return mod


def toy_module(tmp_path: Path, name: str = "toy_sbe") -> ModuleType:
    schema = toy_schema(tmp_path)
    out = generate(schema, tmp_path / f"{name}.py")
    return import_path(out, name)
