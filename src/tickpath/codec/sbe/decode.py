"""A pure-Python SBE decoder and encoder driven by the IR: for tests, fixtures, debugging and
cold paths (the hot paths use a generated module's compiled accessors).

``schema`` may be a ``Schema`` (from ``load_schema``), a generated module (its ``SCHEMA``), or
that plain-data dict. Decoding follows SBE's rules for versions: the root block and each group
entry are read by the blockLength on the wire (a decoder skips fields a newer sender appended);
a field whose sinceVersion is above the message's version, or that lies beyond the sender's
block, reads as absent (None).

Values: integers as int; optional fields at their null value as None; chars as str (arrays cut
at the first NUL); enums as the value's name (an unknown code as the raw value); sets as the
list of the choices set; composites of a mantissa and an exponent as ``Decimal`` (a named
tuple: ``.to_decimal()``, ``float()``); other composites as dicts; groups as lists of dicts;
var data as str (char) or bytes.

Every refusal is an ``SbeError(reason, offset)``; a message of another schema id is an
``ForeignSchema`` and an unknown template id an ``UnknownTemplate`` (both ``SbeError``), so a
caller can count and skip them.
"""

from __future__ import annotations

import decimal
import math
import struct
from functools import lru_cache
from types import ModuleType
from typing import Any, NamedTuple

from .schema import (
    Enum,
    Field,
    Group,
    Message,
    Primitive,
    Schema,
    Set,
    from_plain,
    value_members,
)

_FORMATS = {"char": "B", "int8": "b", "uint8": "B", "int16": "h", "uint16": "H", "int32": "i",
            "uint32": "I", "int64": "q", "uint64": "Q", "float": "f", "double": "d"}


class SbeError(ValueError):
    """A message that cannot be decoded: ``reason`` says what, ``offset`` where (bytes from
    the start of the buffer)."""

    def __init__(self, reason: str, offset: int) -> None:
        super().__init__(f"{reason} (at offset {offset})")
        self.reason = reason
        self.offset = offset


class UnknownTemplate(SbeError):
    """A message whose template id the schema does not have (count it and skip it)."""

    def __init__(self, template_id: int, block_length: int, offset: int) -> None:
        super().__init__(f"unknown template id {template_id}", offset)
        self.template_id = template_id
        self.block_length = block_length


class ForeignSchema(SbeError):
    """A message of another schema id than the decoder's."""

    def __init__(self, schema_id: int, expected: int, template_id: int, offset: int) -> None:
        super().__init__(f"message of schema id {schema_id} (template {template_id}), the "
                         f"decoder's schema is {expected}", offset)
        self.schema_id = schema_id
        self.template_id = template_id


class Decimal(NamedTuple):
    """A mantissa/exponent composite (PRICE9, Decimal9, DecimalQty ...)."""

    mantissa: int
    exponent: int

    def to_decimal(self) -> decimal.Decimal:
        return decimal.Decimal(self.mantissa).scaleb(self.exponent)

    def __float__(self) -> float:
        return self.mantissa * 10.0 ** self.exponent


@lru_cache(maxsize=32)
def _from_module(module: ModuleType) -> Schema:
    return from_plain(module.SCHEMA)


def as_schema(schema: Schema | ModuleType | dict) -> Schema:
    """The IR of a ``Schema``, a generated module, or its ``SCHEMA`` dict."""
    if isinstance(schema, Schema):
        return schema
    if isinstance(schema, ModuleType):
        return _from_module(schema)
    if isinstance(schema, dict):
        return from_plain(schema)
    raise TypeError(f"not a schema: {type(schema).__name__}")


def _fmt(schema: Schema, primitive: str) -> str:
    return ("<" if schema.byte_order == "littleEndian" else ">") + _FORMATS[primitive]


def _encoding(t: Any) -> Primitive:
    return t.encoding if isinstance(t, Enum | Set) else t


def _required_end(fields: tuple[Field, ...], version: int) -> int:
    """Where the last field the ``version`` has ends: the smallest block it can send."""
    return max((f.offset + f.size for f in fields if f.since <= version), default=0)


# ------------------------------------------------------------------------------------ decode


class _Decoder:
    def __init__(self, schema: Schema, buf: memoryview, end: int, version: int) -> None:
        self.s = schema
        self.buf = buf
        self.end = end
        self.version = version

    def need(self, pos: int, n: int, what: str) -> None:
        if pos + n > self.end:
            raise SbeError(f"truncated message: {what} needs {n} bytes, "
                           f"{max(self.end - pos, 0)} left", pos)

    def read(self, primitive: str, pos: int) -> int | float:
        return struct.unpack_from(_fmt(self.s, primitive), self.buf, pos)[0]

    def value(self, t: Any, pos: int, optional: bool) -> Any:
        """The value of type ``t`` at ``pos`` (already known to be inside the block)."""
        if isinstance(t, Primitive):
            if t.presence == "constant":
                return t.constant
            if t.length != 1:
                raw = bytes(self.buf[pos:pos + t.size])
                if t.primitive == "char":
                    return raw.split(b"\x00", 1)[0].decode("latin-1")
                return list(struct.unpack_from(
                    _fmt(self.s, t.primitive)[0] + _FORMATS[t.primitive] * t.length, raw, 0))
            v = self.read(t.primitive, pos)
            optional = optional or t.presence == "optional"
            if optional and (v == t.null or (t.null is None and math.isnan(v))):
                return None
            return chr(v) if t.primitive == "char" else v
        if isinstance(t, Enum):
            v = self.read(t.encoding.primitive, pos)
            if (optional or t.encoding.presence == "optional") and v == t.encoding.null:
                return None
            for name, code, _ in t.values:
                if code == v:
                    return name
            return chr(v) if t.encoding.primitive == "char" else v
        if isinstance(t, Set):
            v = self.read(t.encoding.primitive, pos)
            return [name for name, bit, _ in t.choices if v >> bit & 1]
        members = {m.name: m for m in t.members}
        if set(members) == {"mantissa", "exponent"}:
            m = self.value(members["mantissa"], pos + members["mantissa"].offset, optional)
            e = self.value(members["exponent"], pos + members["exponent"].offset, False)
            return None if m is None or e is None else Decimal(m, e)
        return {m.name: self.value(m, pos + m.offset, optional) for m in t.members}

    def fields(self, fields: tuple[Field, ...], start: int, block: int) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in fields:
            t = self.s.types[f.type]
            if f.presence == "constant":
                out[f.name] = f.constant
            elif f.since > self.version or f.offset + f.size > block:
                out[f.name] = None  # the sender's version has no such field
            else:
                out[f.name] = self.value(t, start + f.offset, f.presence == "optional")
        return out

    def rest(self, node: Message | Group, out: dict[str, Any], pos: int) -> int:
        """Groups and var data of ``node`` from ``pos``; returns the position after them."""
        for g in node.groups:
            if g.since > self.version:
                out[g.name] = []
                continue
            dim = self.s.types[g.dimension]
            self.need(pos, dim.size, f"the dimension of group {g.name}")
            bl = dim.member("blockLength")
            ng = dim.member("numInGroup")
            block = self.read(_encoding(bl).primitive, pos + bl.offset)
            count = self.read(_encoding(ng).primitive, pos + ng.offset)
            need = _required_end(g.fields, self.version)
            if block < need:
                raise SbeError(f"group {g.name}: entry blockLength {block} is smaller than the "
                               f"{need} bytes its fields need", pos)
            pos += dim.size
            if pos + count * block > self.end:
                raise SbeError(f"group {g.name}: numInGroup {count} entries of {block} bytes "
                               f"run past the end of the buffer ({self.end - pos} bytes left)",
                               pos)
            entries = []
            for _ in range(count):
                self.need(pos, block, f"an entry of group {g.name}")
                entry = self.fields(g.fields, pos, block)
                pos = self.rest(g, entry, pos + block)
                entries.append(entry)
            out[g.name] = entries
        for d in node.data:
            if d.since > self.version:
                out[d.name] = None
                continue
            comp = self.s.types[d.type]
            length_t, var = comp.members[0], comp.members[1]
            self.need(pos, var.offset, f"the length of var data {d.name}")
            n = self.read(_encoding(length_t).primitive, pos + length_t.offset)
            pos += var.offset
            self.need(pos, n, f"var data {d.name}")
            raw = bytes(self.buf[pos:pos + n])
            out[d.name] = raw.decode("latin-1") if _encoding(var).primitive == "char" else raw
            pos += n
        return pos


def decode_header(schema: Schema | ModuleType | dict, buf: Any, offset: int = 0
                  ) -> dict[str, int]:
    """The message header at ``offset`` as {member name: value}."""
    s = as_schema(schema)
    mv = memoryview(buf).cast("B") if not isinstance(buf, memoryview) else buf.cast("B")
    h = s.header
    if offset < 0 or offset + h.size > len(mv):
        raise SbeError(f"truncated message header: {h.size} bytes needed, "
                       f"{max(len(mv) - offset, 0)} left", offset)
    return {m.name: struct.unpack_from(_fmt(s, _encoding(m).primitive), mv, offset + m.offset)[0]
            for m in value_members(h)}


def decode_message(schema: Schema | ModuleType | dict, buf: Any, offset: int = 0, *,
                   end: int | None = None, exact_version: bool = False
                   ) -> tuple[dict[str, Any], int]:
    """The message at ``buf[offset:]`` (header first) and its size in bytes. ``end`` bounds
    the message (default: the end of ``buf``). Returns ``({"template": name, "header": {...},
    field/group/data name: value ...}, size)``. ``exact_version`` refuses a message whose
    version differs from the schema's (by default an older or newer one is read by SBE's
    rules)."""
    s = as_schema(schema)
    mv = memoryview(buf).cast("B") if not isinstance(buf, memoryview) else buf.cast("B")
    stop = len(mv) if end is None else min(end, len(mv))
    header = decode_header(s, mv[:stop], offset)
    template = header["templateId"]
    block = header["blockLength"]
    if header["schemaId"] != s.id:
        raise ForeignSchema(header["schemaId"], s.id, template, offset)
    version = header["version"]
    if exact_version and version != s.version:
        raise SbeError(f"message version {version}, the schema's is {s.version}", offset)
    try:
        m = s.message(template)
    except KeyError:
        raise UnknownTemplate(template, block, offset) from None
    need = m.block_length if version >= s.version else _required_end(m.fields, version)
    if block < need:
        raise SbeError(f"template {template} ({m.name}) version {version}: blockLength "
                       f"{block} is smaller than the {need} bytes the schema requires", offset)
    d = _Decoder(s, mv, stop, version)
    root = offset + s.header.size
    d.need(root, block, f"the root block of {m.name}")
    out: dict[str, Any] = {"template": m.name, "header": header}
    out.update(d.fields(m.fields, root, block))
    pos = d.rest(m, out, root + block)
    return out, pos - offset


def to_float(value: Decimal | None) -> float | None:
    """A decoded mantissa/exponent value as float (None stays None)."""
    return None if value is None else float(value)


# ------------------------------------------------------------------------------------ encode


class _Encoder:
    def __init__(self, schema: Schema, where: str) -> None:
        self.s = schema
        self.where = where

    def fail(self, what: str) -> ValueError:
        return ValueError(f"{self.where}: {what}")

    def put(self, out: bytearray, primitive: str, pos: int, v: Any, name: str) -> None:
        try:
            struct.pack_into(_fmt(self.s, primitive), out, pos, v)
        except (struct.error, TypeError) as e:
            raise self.fail(f"{name}={v!r} does not fit {primitive}: {e}") from None

    def value(self, out: bytearray, t: Any, pos: int, v: Any, name: str, optional: bool) -> None:
        if isinstance(t, Primitive):
            if t.presence == "constant":
                return
            if t.length != 1:
                if t.primitive == "char":
                    raw = (v or "").encode("latin-1") if not isinstance(v, bytes) else v
                    if len(raw) > t.length:
                        raise self.fail(f"{name}={v!r} is longer than {t.length} chars")
                    out[pos:pos + t.length] = raw.ljust(t.length, b"\x00")
                    return
                items = list(v) if v is not None else [0] * t.length
                if len(items) != t.length:
                    raise self.fail(f"{name}: {len(items)} items for an array of {t.length}")
                for i, x in enumerate(items):
                    self.put(out, t.primitive, pos + i * t.element_size, x, name)
                return
            if v is None:
                if not (optional or t.presence == "optional"):
                    raise self.fail(f"{name} is required")
                v = math.nan if t.null is None else t.null
            elif t.primitive == "char" and isinstance(v, str):
                if len(v) != 1:
                    raise self.fail(f"{name}={v!r} is not one char")
                v = ord(v)
            self.put(out, t.primitive, pos, v, name)
        elif isinstance(t, Enum):
            if v is None:
                if not (optional or t.encoding.presence == "optional"):
                    raise self.fail(f"{name} is required")
                code = t.encoding.null
            elif isinstance(v, str) and v in {n for n, _, _ in t.values}:
                code = t.value(v)
            elif isinstance(v, str) and t.encoding.primitive == "char" and len(v) == 1:
                code = ord(v)
            elif isinstance(v, int):
                code = v
            else:
                raise self.fail(f"{name}={v!r} is not a value of enum {t.name}")
            self.put(out, t.encoding.primitive, pos, code, name)
        elif isinstance(t, Set):
            if isinstance(v, int):
                bits = v
            else:
                known = {n: b for n, b, _ in t.choices}
                unknown = [c for c in (v or []) if c not in known]
                if unknown:
                    raise self.fail(f"{name}: {unknown} are not choices of set {t.name}")
                bits = sum(1 << known[c] for c in set(v or []))
            self.put(out, t.encoding.primitive, pos, bits, name)
        else:
            members = {m.name: m for m in t.members}
            if isinstance(v, tuple) and set(members) == {"mantissa", "exponent"}:
                mant, exp = v
                ec = members["exponent"]
                if ec.presence == "constant" and exp != ec.constant:
                    raise self.fail(f"{name}: exponent {exp}, the type's is {ec.constant}")
                v = {"mantissa": mant, "exponent": exp}
            elif v is None or isinstance(v, int):
                vm = value_members(t)
                first = vm[0].name if vm else None
                v = {} if v is None else {first: v}
                if all(_encoding(m).presence == "optional" or m.size == 0 for m in vm):
                    optional = True
            for m in t.members:
                self.value(out, m, pos + m.offset, v.get(m.name), f"{name}.{m.name}",
                           optional)

    def block(self, out: bytearray, node: Message | Group, values: dict[str, Any],
              size: int) -> bytearray:
        known = {f.name for f in node.fields} | {g.name for g in node.groups} | {
            d.name for d in node.data}
        unknown = set(values) - known - {"template", "header"}
        if unknown:
            raise self.fail(f"{node.name} has no field(s) {sorted(unknown)}")
        block = bytearray(max(size, node.block_length))
        for f in node.fields:
            if f.presence == "constant":
                continue
            self.value(block, self.s.types[f.type], f.offset, values.get(f.name),
                       f"{node.name}.{f.name}", f.presence == "optional")
        del block[size:]
        out += block
        for g in node.groups:
            entries = values.get(g.name) or []
            dim = self.s.types[g.dimension]
            head = bytearray(dim.size)
            bl, ng = dim.member("blockLength"), dim.member("numInGroup")
            self.put(head, _encoding(bl).primitive, bl.offset, g.block_length, g.name)
            self.put(head, _encoding(ng).primitive, ng.offset, len(entries), g.name)
            out += head
            for e in entries:
                self.block(out, g, e, g.block_length)
        for d in node.data:
            comp = self.s.types[d.type]
            length_t, var = comp.members[0], comp.members[1]
            v = values.get(d.name)
            raw = b"" if v is None else (v.encode("latin-1") if isinstance(v, str) else bytes(v))
            head = bytearray(var.offset)
            self.put(head, _encoding(length_t).primitive, length_t.offset, len(raw), d.name)
            out += head + raw
        return out


def encode_message(schema: Schema | ModuleType | dict, template: int | str,
                   values: dict[str, Any], *, version: int | None = None,
                   block_length: int | None = None) -> bytes:
    """One message (header first) from values in the decoder's forms (enum names or codes,
    set choice lists or bits, ``Decimal``/(mantissa, exponent)/mantissa for decimals, groups
    as lists of dicts). Missing optional fields are null; a missing required one is refused.
    ``version`` goes into the header (default: the schema's); ``block_length`` makes the root
    block that long, cut (an older sender) or zero-padded (a newer one)."""
    s = as_schema(schema)
    m = s.message(template)
    enc = _Encoder(s, f"template {m.id} ({m.name})")
    size = m.block_length if block_length is None else block_length
    header = bytearray(s.header.size)
    for hm in value_members(s.header):
        v = {"blockLength": size, "templateId": m.id, "schemaId": s.id,
             "version": s.version if version is None else version}.get(hm.name, 0)
        enc.put(header, _encoding(hm).primitive, hm.offset, v, hm.name)
    return bytes(enc.block(header, m, values, size))
