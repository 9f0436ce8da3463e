"""FIX Simple Binary Encoding (SBE) schema XML -> an intermediate representation (IR).

Reads both namespaces in use: the release candidate's ``http://www.fixprotocol.org/ns/simple/1.0``
(CME's published MDP 3.0 and iLink 3 files) and SBE 1.0's ``http://fixprotocol.io/2016/sbe``.

The IR is plain frozen dataclasses, convertible to and from plain data (``to_plain`` /
``from_plain``: dicts, lists, str, int, float, None) so a generated module can embed it as a
literal and the interpretive decoder can work without the XML.

Layout rules applied (SBE 1.0):

- a field or composite member of constant presence takes no room in the block;
- a field's offset is its ``offset`` attribute when present (it may leave a gap, never overlap
  the field before it), else the end of the field before it;
- a message's or group's ``blockLength`` is the declared one (every field must end at or before
  it) or, when absent, the end of its last field;
- a group's dimension header is its ``dimensionType`` composite (default
  ``groupSizeEncoding``); var data is a composite of a ``length`` and a ``varData`` member.

Every error is a ``SchemaError`` naming the file, the line and the element.
"""

from __future__ import annotations

import math
from dataclasses import MISSING, dataclass, field, fields, replace
from pathlib import Path
from typing import Any
from xml.parsers import expat

NAMESPACES = ("http://www.fixprotocol.org/ns/simple/1.0", "http://fixprotocol.io/2016/sbe")

#: primitive -> (size in bytes, default null, default min, default max); float nulls are NaN,
#: written None in the IR (NaN is not a literal)
PRIMITIVES: dict[str, tuple[int, Any, Any, Any]] = {
    "char": (1, 0, 0x20, 0x7E),
    "int8": (1, -(1 << 7), -(1 << 7) + 1, (1 << 7) - 1),
    "uint8": (1, (1 << 8) - 1, 0, (1 << 8) - 2),
    "int16": (2, -(1 << 15), -(1 << 15) + 1, (1 << 15) - 1),
    "uint16": (2, (1 << 16) - 1, 0, (1 << 16) - 2),
    "int32": (4, -(1 << 31), -(1 << 31) + 1, (1 << 31) - 1),
    "uint32": (4, (1 << 32) - 1, 0, (1 << 32) - 2),
    "int64": (8, -(1 << 63), -(1 << 63) + 1, (1 << 63) - 1),
    "uint64": (8, (1 << 64) - 1, 0, (1 << 64) - 2),
    "float": (4, None, -3.4028234663852886e38, 3.4028234663852886e38),
    "double": (8, None, -1.7976931348623157e308, 1.7976931348623157e308),
}
INTEGER_PRIMITIVES = frozenset(p for p in PRIMITIVES if p not in ("float", "double"))
GROUP_DIMENSION_DEFAULT = "groupSizeEncoding"
HEADER_DEFAULT = "messageHeader"
HEADER_FIELDS = ("blockLength", "templateId", "schemaId", "version")


class SchemaError(ValueError):
    """A schema that cannot be read or laid out; the message names file, line and element."""


# ----------------------------------------------------------------------------------------- IR


@dataclass(frozen=True)
class Primitive:
    """A ``<type>``: one primitive value, or an array of ``length`` of them (``length`` 0:
    the variable part of var data). ``null`` is None for float/double (NaN)."""

    name: str
    primitive: str
    length: int = 1
    presence: str = "required"  # required | optional | constant
    null: int | float | None = None
    min: int | float | None = None
    max: int | float | None = None
    constant: int | float | str | None = None
    since: int = 0
    offset: int | None = None  # inside a composite: the member's offset
    semantic_type: str | None = None
    character_encoding: str | None = None
    kind: str = "type"

    @property
    def size(self) -> int:
        if self.presence == "constant":
            return 0
        return PRIMITIVES[self.primitive][0] * self.length

    @property
    def element_size(self) -> int:
        return PRIMITIVES[self.primitive][0]


@dataclass(frozen=True)
class Enum:
    """An ``<enum>``: ``values`` are (name, encoded integer, sinceVersion); a char value is
    its byte value."""

    name: str
    encoding: Primitive
    values: tuple[tuple[str, int, int], ...]
    since: int = 0
    offset: int | None = None
    kind: str = "enum"

    @property
    def size(self) -> int:
        return self.encoding.size

    def value(self, name: str) -> int:
        for n, v, _ in self.values:
            if n == name:
                return v
        raise KeyError(f"enum {self.name} has no value {name!r}")


@dataclass(frozen=True)
class Set:
    """A ``<set>`` (bit set): ``choices`` are (name, bit number, sinceVersion)."""

    name: str
    encoding: Primitive
    choices: tuple[tuple[str, int, int], ...]
    since: int = 0
    offset: int | None = None
    kind: str = "set"

    @property
    def size(self) -> int:
        return self.encoding.size


@dataclass(frozen=True)
class Composite:
    """A ``<composite>``: members (types, enums, sets, composites) with resolved offsets."""

    name: str
    members: tuple[Any, ...]  # Primitive | Enum | Set | Composite, each with .offset set
    size: int
    since: int = 0
    offset: int | None = None
    semantic_type: str | None = None
    kind: str = "composite"

    def member(self, name: str) -> Any:
        for m in self.members:
            if m.name == name:
                return m
        raise KeyError(f"composite {self.name} has no member {name!r}")


@dataclass(frozen=True)
class Field:
    """A ``<field>`` of a message or group: ``type`` names an entry of ``Schema.types``;
    ``presence`` is the effective one (the field's, else its type's); ``constant`` is the
    constant value (for a ``valueRef`` to an enum: the value's name)."""

    name: str
    id: int
    type: str
    offset: int
    size: int
    presence: str = "required"
    since: int = 0
    constant: int | float | str | None = None
    semantic_type: str | None = None
    kind: str = "field"


@dataclass(frozen=True)
class Data:
    """A ``<data>`` element (var data): ``type`` names a composite of a length and varData."""

    name: str
    id: int
    type: str
    since: int = 0
    kind: str = "data"


@dataclass(frozen=True)
class Group:
    """A repeating ``<group>``: ``block_length`` is the schema's entry size, ``dimension``
    the dimension composite's name, ``header_size`` its size."""

    name: str
    id: int
    block_length: int
    dimension: str
    header_size: int
    fields: tuple[Field, ...] = ()
    groups: tuple[Group, ...] = ()
    data: tuple[Data, ...] = ()
    since: int = 0
    kind: str = "group"


@dataclass(frozen=True)
class Message:
    """A ``<message>`` (template)."""

    name: str
    id: int
    block_length: int
    fields: tuple[Field, ...] = ()
    groups: tuple[Group, ...] = ()
    data: tuple[Data, ...] = ()
    since: int = 0
    semantic_type: str | None = None
    kind: str = "message"


@dataclass(frozen=True)
class Schema:
    """A whole ``<messageSchema>``. ``source`` is the file name it was read from."""

    package: str | None
    id: int
    version: int
    byte_order: str
    header_type: str
    types: dict[str, Any]
    messages: tuple[Message, ...]
    semantic_version: str | None = None
    description: str | None = None
    source: str | None = None
    kind: str = "schema"
    _by_id: dict[int, Message] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._by_id.update({m.id: m for m in self.messages})

    @property
    def header(self) -> Composite:
        return self.types[self.header_type]

    def message(self, key: int | str) -> Message:
        """A message by template id or by name."""
        if isinstance(key, int):
            try:
                return self._by_id[key]
            except KeyError:
                raise KeyError(f"schema {self.id} v{self.version} has no template {key}") from None
        for m in self.messages:
            if m.name == key:
                return m
        raise KeyError(f"schema {self.id} v{self.version} has no message {key!r}")


_CLASSES: dict[str, type] = {
    "type": Primitive, "enum": Enum, "set": Set, "composite": Composite, "field": Field,
    "data": Data, "group": Group, "message": Message, "schema": Schema}


def to_plain(obj: Any) -> Any:
    """The IR as plain data (dicts with a ``kind``, lists, scalars): what a generated module
    embeds. Default-valued attributes are left out to keep it short."""
    if hasattr(obj, "__dataclass_fields__"):
        out: dict[str, Any] = {"kind": obj.kind}
        for f in fields(obj):
            if f.name in ("kind", "_by_id"):
                continue
            v = getattr(obj, f.name)
            if f.default is not MISSING and type(v) is type(f.default) and v == f.default:
                continue
            out[f.name] = to_plain(v)
        return out
    if isinstance(obj, tuple | list):
        return [to_plain(x) for x in obj]
    if isinstance(obj, dict):
        return {k: to_plain(v) for k, v in obj.items()}
    return obj


def from_plain(data: Any) -> Any:
    """Inverse of ``to_plain``."""
    if isinstance(data, dict) and "kind" in data and data["kind"] in _CLASSES:
        cls = _CLASSES[data["kind"]]
        kw = {}
        for k, v in data.items():
            if k == "kind":
                continue
            if k == "types":
                kw[k] = {n: from_plain(t) for n, t in v.items()}
            elif k in ("values", "choices"):
                kw[k] = tuple(tuple(x) for x in v)
            elif isinstance(v, list):
                kw[k] = tuple(from_plain(x) for x in v)
            else:
                kw[k] = from_plain(v)
        return cls(**kw)
    return data


# ------------------------------------------------------------------------- XML with line numbers


@dataclass
class _Node:
    tag: str  # local name
    ns: str
    attrib: dict[str, str]
    line: int
    children: list[_Node] = field(default_factory=list)
    text: str = ""

    def describe(self) -> str:
        keys = [k for k in ("name", "id") if k in self.attrib]
        attrs = "".join(f' {k}="{self.attrib[k]}"' for k in keys)
        return f"<{self.tag}{attrs}>"


def _parse_xml(path: Path) -> _Node:
    parser = expat.ParserCreate(namespace_separator=" ")
    stack: list[_Node] = []
    root: list[_Node] = []

    def start(name: str, attrs: dict[str, str]) -> None:
        ns, _, local = name.rpartition(" ")
        attrib = {k.rpartition(" ")[2]: v for k, v in attrs.items()}
        node = _Node(local, ns, attrib, parser.CurrentLineNumber)
        if stack:
            stack[-1].children.append(node)
        else:
            root.append(node)
        stack.append(node)

    def end(name: str) -> None:
        stack.pop()

    def chars(data: str) -> None:
        if stack:
            stack[-1].text += data

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.CharacterDataHandler = chars
    try:
        parser.ParseFile(path.open("rb"))
    except expat.ExpatError as e:
        raise SchemaError(f"{path.name}:{e.lineno}: not well-formed XML: {e}") from None
    return root[0]


# --------------------------------------------------------------------------------- the reader


class _Reader:
    def __init__(self, path: Path, root: _Node) -> None:
        self.path = path
        self.root = root
        self.raw: dict[str, _Node] = {}
        self.types: dict[str, Any] = {}
        self._resolving: list[str] = []

    def fail(self, where: list[_Node] | _Node, what: str) -> SchemaError:
        nodes = where if isinstance(where, list) else [where]
        path = ": ".join(n.describe() for n in nodes)
        return SchemaError(f"{self.path.name}:{nodes[-1].line}: {path}: {what}")

    def int_attr(self, where: list[_Node], node: _Node, key: str, default: int | None = None,
                 minimum: int = 0) -> int | None:
        v = node.attrib.get(key)
        if v is None:
            return default
        try:
            iv = int(v.strip())
        except ValueError:
            raise self.fail(where, f"{key}={v!r} is not an integer") from None
        if iv < minimum:
            raise self.fail(where, f"{key}={iv} is below {minimum}")
        return iv

    # -- types

    def collect_types(self) -> None:
        for types in (c for c in self.root.children if c.tag == "types"):
            for node in types.children:
                if node.tag not in ("type", "composite", "enum", "set"):
                    raise self.fail([types, node], f"unknown element <{node.tag}> in <types>")
                name = node.attrib.get("name")
                if not name:
                    raise self.fail(node, "has no name")
                if name in self.raw:
                    first = self.raw[name]
                    raise self.fail(node, f"type {name!r} is already defined at line {first.line}")
                self.raw[name] = node
        for name in self.raw:
            self.resolve(name, [self.raw[name]])

    def resolve(self, name: str, where: list[_Node]) -> Any:
        """The named type, resolving it on first use (types may be referenced before they are
        defined); a primitive name stands for an anonymous required type."""
        if name in self.types:
            return self.types[name]
        node = self.raw.get(name)
        if node is None:
            if name in PRIMITIVES:
                t = self._primitive_type(where, name, {"primitiveType": name}, "")
                self.types[name] = t  # so a field's type name always finds its type
                return t
            raise self.fail(where, f"unknown type {name!r}")
        if name in self._resolving:
            raise self.fail(node, f"type {name!r} refers to itself through "
                                  f"{' -> '.join(self._resolving)}")
        self._resolving.append(name)
        try:
            t = self.build(node, [node])
        finally:
            self._resolving.pop()
        self.types[name] = t
        return t

    def build(self, node: _Node, where: list[_Node]) -> Any:
        if node.tag == "type":
            return self._primitive_type(where, node.attrib.get("name", ""), node.attrib,
                                        node.text.strip())
        if node.tag == "enum":
            return self._enum(node, where)
        if node.tag == "set":
            return self._set(node, where)
        if node.tag == "composite":
            return self._composite(node, where)
        if node.tag == "ref":
            target = node.attrib.get("type")
            if not target:
                raise self.fail(where, "<ref> has no type")
            t = self.resolve(target, where)
            return replace(t, name=node.attrib.get("name", t.name))
        raise self.fail(where, f"unknown element <{node.tag}>")

    def _number(self, where: list[_Node], primitive: str, text: str, what: str) -> int | float:
        try:
            if primitive in ("float", "double"):
                return float(text)
            return int(text)
        except ValueError:
            raise self.fail(where, f"{what} {text!r} is not a {primitive}") from None

    def _primitive_type(self, where: list[_Node], name: str, a: dict[str, str],
                        text: str) -> Primitive:
        prim = a.get("primitiveType")
        if prim not in PRIMITIVES:
            raise self.fail(where, f"primitiveType {prim!r} is not one of "
                                   f"{', '.join(PRIMITIVES)}")
        size, null, lo, hi = PRIMITIVES[prim]
        try:
            length = int(a.get("length", "1"))
        except ValueError:
            raise self.fail(where, f"length={a['length']!r} is not an integer") from None
        if length < 0:
            raise self.fail(where, f"length={length} is negative")
        presence = a.get("presence", "required")
        if presence not in ("required", "optional", "constant"):
            raise self.fail(where, f"presence {presence!r} is not required, optional or constant")
        for key in ("nullValue", "minValue", "maxValue"):
            if key in a:
                v = self._number(where, prim, a[key].strip(), key) if prim != "char" else \
                    (ord(a[key]) if len(a[key]) == 1 else self._number(where, prim, a[key], key))
                if key == "nullValue":
                    null = v
                elif key == "minValue":
                    lo = v
                else:
                    hi = v
        constant: int | float | str | None = None
        if presence == "constant":
            if "valueRef" in a:
                constant = self._value_ref(where, a["valueRef"])
            elif prim == "char":
                if not text:
                    raise self.fail(where, "constant char type has no value")
                constant = text
            else:
                if not text:
                    raise self.fail(where, "constant type has no value")
                constant = self._number(where, prim, text, "constant")
        elif text and prim != "char":
            raise self.fail(where, f"has a value {text!r} but is not of constant presence")
        if prim in INTEGER_PRIMITIVES and length == 1 and presence != "constant":
            size_bits = size * 8
            signed = prim.startswith("int")
            lo_ok = -(1 << (size_bits - 1)) if signed else 0
            hi_ok = (1 << (size_bits - 1)) - 1 if signed else (1 << size_bits) - 1
            if null is not None and not lo_ok <= null <= hi_ok:
                raise self.fail(where, f"nullValue {null} does not fit {prim}")
        return Primitive(
            name=name, primitive=prim, length=length, presence=presence, null=null, min=lo,
            max=hi, constant=constant, since=int(a.get("sinceVersion", 0)),
            offset=int(a["offset"]) if "offset" in a else None,
            semantic_type=a.get("semanticType"), character_encoding=a.get("characterEncoding"))

    def _value_ref(self, where: list[_Node], ref: str) -> str:
        enum_name, _, value = ref.partition(".")
        t = self.resolve(enum_name, where)
        if not isinstance(t, Enum) or value not in {n for n, _, _ in t.values}:
            raise self.fail(where, f"valueRef {ref!r} names no value of an enum")
        return value

    def _encoding(self, node: _Node, where: list[_Node]) -> Primitive:
        enc_name = node.attrib.get("encodingType")
        if not enc_name:
            raise self.fail(where, "has no encodingType")
        enc = self.resolve(enc_name, where)
        if not isinstance(enc, Primitive) or enc.length != 1 or enc.presence == "constant" \
                or enc.primitive not in INTEGER_PRIMITIVES:
            raise self.fail(where, f"encodingType {enc_name!r} is not a single integer or char")
        return replace(enc, offset=None, since=0)

    def _enum(self, node: _Node, where: list[_Node]) -> Enum:
        enc = self._encoding(node, where)
        values: list[tuple[str, int, int]] = []
        seen: dict[str, int] = {}
        for v in node.children:
            w = [*where, v]
            if v.tag != "validValue":
                raise self.fail(w, f"unknown element <{v.tag}> in <enum>")
            text = v.text.strip()
            if enc.primitive == "char":
                if len(text) != 1:
                    raise self.fail(w, f"char value {text!r} is not one character")
                iv = ord(text)
            else:
                iv = int(self._number(w, enc.primitive, text, "value"))
            name = v.attrib.get("name", "")
            if name in seen:
                raise self.fail(w, f"value name {name!r} is used twice")
            seen[name] = iv
            values.append((name, iv, int(v.attrib.get("sinceVersion", 0))))
        return Enum(name=node.attrib.get("name", ""), encoding=enc, values=tuple(values),
                    since=int(node.attrib.get("sinceVersion", 0)),
                    offset=int(node.attrib["offset"]) if "offset" in node.attrib else None)

    def _set(self, node: _Node, where: list[_Node]) -> Set:
        enc = self._encoding(node, where)
        choices: list[tuple[str, int, int]] = []
        for c in node.children:
            w = [*where, c]
            if c.tag != "choice":
                raise self.fail(w, f"unknown element <{c.tag}> in <set>")
            bit = int(self._number(w, "uint8", c.text.strip(), "bit"))
            if not 0 <= bit < enc.size * 8:
                raise self.fail(w, f"bit {bit} does not fit a {enc.size}-byte set")
            choices.append((c.attrib.get("name", ""), bit, int(c.attrib.get("sinceVersion", 0))))
        return Set(name=node.attrib.get("name", ""), encoding=enc, choices=tuple(choices),
                   since=int(node.attrib.get("sinceVersion", 0)),
                   offset=int(node.attrib["offset"]) if "offset" in node.attrib else None)

    def _composite(self, node: _Node, where: list[_Node]) -> Composite:
        members = []
        pos = 0
        prev = None
        for m in node.children:
            w = [*where, m]
            t = self.build(m, w)
            declared = self.int_attr(w, m, "offset")
            if declared is not None:
                if declared < pos:
                    raise self.fail(w, f"offset {declared} overlaps member {prev!r} "
                                       f"(which ends at {pos})")
                pos = declared
            members.append(replace(t, offset=pos))
            pos += t.size
            prev = t.name
        return Composite(name=node.attrib.get("name", ""), members=tuple(members), size=pos,
                         since=int(node.attrib.get("sinceVersion", 0)),
                         offset=int(node.attrib["offset"]) if "offset" in node.attrib else None,
                         semantic_type=node.attrib.get("semanticType"))

    # -- messages

    def field_(self, node: _Node, where: list[_Node], pos: int) -> Field:
        a = node.attrib
        name = a.get("name")
        if not name:
            raise self.fail(where, "field has no name")
        tname = a.get("type")
        if not tname:
            raise self.fail(where, "field has no type")
        t = self.resolve(tname, where)
        if isinstance(t, Primitive) and t.length == 0:
            raise self.fail(where, f"type {tname!r} has length 0: only var data may")
        presence = a.get("presence") or type_presence(t)
        if presence not in ("required", "optional", "constant"):
            raise self.fail(where, f"presence {presence!r} is not required, optional or constant")
        constant = None
        if presence == "constant":
            if "valueRef" in a:
                constant = self._value_ref(where, a["valueRef"])
            elif isinstance(t, Primitive) and t.constant is not None:
                constant = t.constant
            else:
                raise self.fail(where, "constant field has neither a valueRef nor a constant type")
        size = 0 if presence == "constant" else t.size
        declared = self.int_attr(where, node, "offset")
        offset = pos if declared is None else declared
        return Field(name=name, id=self.int_attr(where, node, "id", 0) or 0, type=t.name or tname,
                     offset=offset, size=size, presence=presence,
                     since=self.int_attr(where, node, "sinceVersion", 0) or 0, constant=constant,
                     semantic_type=a.get("semanticType"))

    def block(self, node: _Node, where: list[_Node]) -> tuple[tuple[Field, ...],
                                                                tuple[Group, ...],
                                                                tuple[Data, ...], int]:
        """Fields, groups and var data of a message or group; the end of its last field."""
        fields_: list[Field] = []
        groups: list[Group] = []
        data: list[Data] = []
        pos = 0
        names: dict[str, _Node] = {}
        stage = 0  # fields, then groups, then data (SBE's order)
        for child in node.children:
            w = [*where, child]
            if child.tag not in ("field", "group", "data"):
                raise self.fail(w, f"unknown element <{child.tag}>")
            nm = child.attrib.get("name", "")
            if nm in names:
                raise self.fail(w, f"name {nm!r} is already used at line {names[nm].line}")
            names[nm] = child
            order = ("field", "group", "data").index(child.tag)
            if order < stage:
                raise self.fail(w, f"<{child.tag}> after a "
                                   f"<{('field', 'group', 'data')[stage]}>: SBE puts fields "
                                   "first, then groups, then var data")
            stage = order
            if child.tag == "field":
                f = self.field_(child, w, pos)
                if f.offset < pos:
                    before = fields_[-1]
                    raise self.fail(w, f"offset {f.offset} overlaps field {before.name!r} "
                                       f"(bytes {before.offset}..{before.offset + before.size})")
                fields_.append(f)
                pos = f.offset + f.size
            elif child.tag == "group":
                groups.append(self.group(child, w))
            else:
                tname = child.attrib.get("type", "")
                t = self.resolve(tname, w)
                if not isinstance(t, Composite) or len(t.members) != 2 \
                        or not isinstance(t.members[0], Primitive) \
                        or t.members[0].primitive not in INTEGER_PRIMITIVES:
                    raise self.fail(w, f"var data type {tname!r} is not a composite of a "
                                       "length and varData")
                data.append(Data(name=nm, id=self.int_attr(w, child, "id", 0) or 0, type=tname,
                                 since=self.int_attr(w, child, "sinceVersion", 0) or 0))
        return tuple(fields_), tuple(groups), tuple(data), pos

    def check_block_length(self, where: list[_Node], node: _Node, fields_: tuple[Field, ...],
                           end: int) -> int:
        declared = self.int_attr(where, node, "blockLength")
        if declared is None:
            return end
        if end > declared:
            last = max(fields_, key=lambda f: f.offset + f.size)
            raise self.fail(where, f"blockLength {declared} is too small: field {last.name!r} "
                                   f"ends at {last.offset + last.size}")
        return declared

    def group(self, node: _Node, where: list[_Node]) -> Group:
        dim_name = node.attrib.get("dimensionType", GROUP_DIMENSION_DEFAULT)
        dim = self.resolve(dim_name, where)
        if not isinstance(dim, Composite) or not {"blockLength", "numInGroup"} <= {
                m.name for m in dim.members}:
            raise self.fail(where, f"dimensionType {dim_name!r} is not a composite with "
                                   "blockLength and numInGroup")
        fields_, groups, data, end = self.block(node, where)
        return Group(name=node.attrib.get("name", ""), id=self.int_attr(where, node, "id", 0) or 0,
                     block_length=self.check_block_length(where, node, fields_, end),
                     dimension=dim_name, header_size=dim.size, fields=fields_, groups=groups,
                     data=data, since=self.int_attr(where, node, "sinceVersion", 0) or 0)

    def message(self, node: _Node) -> Message:
        where = [node]
        if "name" not in node.attrib or "id" not in node.attrib:
            raise self.fail(where, "message needs a name and an id")
        fields_, groups, data, end = self.block(node, where)
        return Message(name=node.attrib["name"], id=self.int_attr(where, node, "id") or 0,
                       block_length=self.check_block_length(where, node, fields_, end),
                       fields=fields_, groups=groups, data=data,
                       since=self.int_attr(where, node, "sinceVersion", 0) or 0,
                       semantic_type=node.attrib.get("semanticType"))

    def schema(self) -> Schema:
        r = self.root
        if r.tag != "messageSchema" or r.ns not in NAMESPACES:
            ns = f" in namespace {r.ns!r}" if r.ns else ""
            raise SchemaError(f"{self.path.name}:{r.line}: not an SBE schema: the root element "
                              f"is <{r.tag}>{ns}, not <messageSchema> in "
                              f"{' or '.join(NAMESPACES)}")
        self.collect_types()
        header_type = r.attrib.get("headerType", HEADER_DEFAULT)
        header = self.types.get(header_type)
        if not isinstance(header, Composite) or not set(HEADER_FIELDS) <= {
                m.name for m in header.members}:
            raise self.fail(r, f"header type {header_type!r} is not a composite with "
                               f"{', '.join(HEADER_FIELDS)}")
        byte_order = r.attrib.get("byteOrder", "littleEndian")
        if byte_order not in ("littleEndian", "bigEndian"):
            raise self.fail(r, f"byteOrder {byte_order!r} is not littleEndian or bigEndian")
        messages: list[Message] = []
        ids: dict[int, Message] = {}
        for node in r.children:
            if node.tag == "types":
                continue
            if node.tag != "message":
                raise self.fail([r, node], f"unknown element <{node.tag}>")
            m = self.message(node)
            if m.id in ids:
                raise self.fail(node, f"template id {m.id} is already used by {ids[m.id].name}")
            ids[m.id] = m
            messages.append(m)
        return Schema(package=r.attrib.get("package"), id=self.int_attr([r], r, "id", 0) or 0,
                      version=self.int_attr([r], r, "version", 0) or 0, byte_order=byte_order,
                      header_type=header_type, types=dict(sorted(self.types.items())),
                      messages=tuple(messages), semantic_version=r.attrib.get("semanticVersion"),
                      description=r.attrib.get("description"), source=self.path.name)


def load_schema(path: str | Path) -> Schema:
    """Read an SBE schema XML file into the IR; raises ``SchemaError`` naming file, line and
    element for anything it cannot lay out."""
    p = Path(path)
    return _Reader(p, _parse_xml(p)).schema()


def value_members(t: Composite) -> tuple[Any, ...]:
    """The members of a composite that take room (not of constant presence)."""
    return tuple(m for m in t.members if m.size > 0)


def type_presence(t: Any) -> str:
    """A type's presence: an enum's or set's is its encoding's; a composite is optional when
    every member that takes room is (PRICENULL9's mantissa), constant when none does."""
    if isinstance(t, Primitive):
        return t.presence
    if isinstance(t, Enum | Set):
        return t.encoding.presence
    members = value_members(t)
    if not members:
        return "constant"
    return "optional" if all(type_presence(m) == "optional" for m in members) else "required"


def null_of(t: Any) -> int | float | None:
    """The null value of a single-valued type (a primitive, an enum, a set, or a composite with
    one member that takes room); None when it has none that fits one integer (NaN, arrays)."""
    if isinstance(t, Primitive):
        return t.null if t.length == 1 else None
    if isinstance(t, Enum | Set):
        return t.encoding.null
    members = value_members(t)
    return null_of(members[0]) if len(members) == 1 else None


def is_float_null(value: float) -> bool:
    return isinstance(value, float) and math.isnan(value)
