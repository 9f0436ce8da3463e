"""SBE schema IR -> the source of a Python module of constants and compiled flyweight accessors.

Why a module on disk: the hot paths are numba functions, and numba folds module-level integers
into the machine code as compile-time constants; a generated file is readable and diffable,
and building it costs nothing at start-up.

The contract of a generated module (names from ``upper_snake``; functions use the lower form):

- ``SCHEMA_ID``, ``SCHEMA_VERSION``, ``HEADER_SIZE``, ``HEADER_<FIELD>_OFFSET`` for the header's
  fields; readers ``header_<field>(buf, pos)`` and ``put_header(buf, pos, block_length,
  template_id, schema_id, version)``.
- per message M: ``M_ID``, ``M_BLOCK_LENGTH``, ``put_m_header(buf, pos)``; per root field F:
  ``M_F_OFFSET``, ``M_F_SIZE``, ``M_F_NULL`` (optional fields, and fields with a sinceVersion:
  what an older sender's message reads as), ``M_F_SINCE``, ``M_F_CONSTANT`` (constants take no
  room and have no accessor); accessor ``m_f(buf, pos)`` with ``pos`` the start of the root
  block, or ``m_f(buf, pos, acting_version)`` for fields with a sinceVersion, returning
  ``M_F_NULL`` when ``acting_version`` is older; encoder ``put_m_f(buf, pos, value)``.
- a field of a composite type with one member that takes room (PRICE9's mantissa) reads and
  writes that member; one with several has ``m_f_<member>`` / ``put_m_f_<member>``.
- char arrays: ``M_F_OFFSET``/``M_F_SIZE`` only in compiled code, and a Python-side
  ``m_f_str(buf, pos)`` (NULs cut) and ``put_m_f_str(buf, pos, text)``.
- per group G of M (nested groups prefix their parent's name): ``M_G_BLOCK_LENGTH`` (the
  schema's entry size), ``M_G_HEADER_SIZE``, ``M_G_ID``, fields as above with ``pos`` the start
  of the entry; ``m_g(buf, pos) -> (entry_block_length, num_in_group)`` reads the dimension
  header at ``pos``; ``put_m_g(buf, pos, entry_block_length, num_in_group)``.
- var data D: ``M_D_HEADER_SIZE``, ``m_d(buf, pos) -> length``, ``put_m_d(buf, pos, length)``.
- enums ``<ENUM>_<VALUE>`` (char values as their byte), sets ``<SET>_<CHOICE>_BIT``, composites
  ``<COMPOSITE>_<MEMBER>_OFFSET``, ``<COMPOSITE>_SIZE`` and constant members by value
  (``PRICE9_EXPONENT = -9``).
- ``SCHEMA``: the IR as a plain-data literal (``tickpath.codec.sbe.schema.from_plain`` reads it).

Two names that collide fail generation, naming both. Accessors are plain functions in the
source; the module turns each into an ``njit(cache=True, nogil=True)`` dispatcher on first
access (PEP 562 ``__getattr__``): building a dispatcher with an on-disk cache costs about
0.1 ms, and a module of a thousand would pay that on every import for functions it mostly
never calls.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .schema import (
    Composite,
    Enum,
    Field,
    Group,
    Message,
    Primitive,
    Schema,
    Set,
    to_plain,
    type_presence,
    value_members,
)

#: primitive type -> (reader, writer) in tickpath.codec.sbe.fields (named here, so generating
#: a module does not import numba)
BY_PRIMITIVE: dict[str, tuple[str, str]] = {
    "char": ("get_u8", "put_u8"), "uint8": ("get_u8", "put_u8"), "int8": ("get_i8", "put_i8"),
    "uint16": ("get_u16", "put_u16"), "int16": ("get_i16", "put_i16"),
    "uint32": ("get_u32", "put_u32"), "int32": ("get_i32", "put_i32"),
    "uint64": ("get_u64", "put_u64"), "int64": ("get_i64", "put_i64"),
    "float": ("get_f32", "put_f32"), "double": ("get_f64", "put_f64"),
}


class GenerationError(ValueError):
    """A schema the generator cannot turn into a module (a name collision, big-endian)."""


def upper_snake(name: str) -> str:
    """CamelCase -> UPPER_SNAKE, digit runs kept on the word before them:
    ``MDIncrementalRefreshBook46`` -> ``MD_INCREMENTAL_REFRESH_BOOK46``, ``NoMDEntries`` ->
    ``NO_MD_ENTRIES``, ``SecurityID`` -> ``SECURITY_ID``."""
    s = re.sub(r"([A-Z]+)([A-Z][a-z])", r"\1_\2", name)
    s = re.sub(r"([a-z0-9])([A-Z])", r"\1_\2", s)
    s = re.sub(r"[^A-Za-z0-9]+", "_", s)
    return re.sub(r"_+", "_", s).strip("_").upper()


def _leaves(t: Any, offset: int, path: tuple[str, ...]) -> list[tuple[tuple[str, ...], Any, int]]:
    """The members of ``t`` that take room, flattened: (member path, type, offset)."""
    if isinstance(t, Composite):
        out = []
        for m in value_members(t):
            out += _leaves(m, offset + m.offset, (*path, m.name))
        return out
    return [(path, t, offset)] if t.size > 0 else []


def _primitive(t: Any) -> Primitive:
    return t.encoding if isinstance(t, Enum | Set) else t


def _literal(value: Any, primitive: str) -> str:
    if primitive == "uint64":
        return f"np.uint64({value})"
    if primitive in ("float", "double"):
        return "np.nan" if value is None else repr(float(value))
    return repr(value)


def _literal_source(obj: Any, indent: int) -> str:
    """Plain data as Python source: a dict of scalars on one line, anything else on one line
    when it fits in 100 columns, else one item per line (short and diffable)."""
    flat = repr(obj)
    scalars = isinstance(obj, dict) and not any(isinstance(v, dict | list) for v in obj.values())
    if scalars or indent + len(flat) <= 100 or not isinstance(obj, dict | list) or not obj:
        return flat
    pad = " " * (indent + 4)
    if isinstance(obj, dict):
        items = [f"{pad}{k!r}: {_literal_source(v, indent + 4)}"
                 for k, v in obj.items()]
        return "{\n" + ",\n".join(items) + ",\n" + " " * indent + "}"
    items = [f"{pad}{_literal_source(v, indent + 4)}" for v in obj]
    return "[\n" + ",\n".join(items) + ",\n" + " " * indent + "]"


class _Module:
    def __init__(self, schema: Schema) -> None:
        self.schema = schema
        self.names: dict[str, str] = {}  # name -> what made it (for collision errors)
        self.consts: list[str] = []
        self.funcs: list[str] = []
        self.compiled: list[str] = []
        self.readers: set[str] = set()
        self.uses_np = False
        self.uses_chars = False

    def claim(self, name: str, origin: str) -> None:
        if name in self.names:
            raise GenerationError(f"{self.schema.source}: generated name {name} collides: "
                                  f"{self.names[name]} and {origin}")
        self.names[name] = origin

    def const(self, name: str, value: Any, origin: str, literal: str | None = None) -> None:
        self.claim(name, origin)
        self.consts.append(f"{name} = {literal if literal is not None else repr(value)}")

    def func(self, name: str, args: str, body: list[str], origin: str, compiled: bool = True,
             doc: str | None = None) -> None:
        self.claim(name, origin)
        lines = [f"def {name}({args}):"]
        if doc:
            lines.append(f'    """{doc}"""')
        lines += [f"    {b}" for b in body]
        self.funcs.append("\n".join(lines))
        if compiled:
            self.compiled.append(name)

    # -- pieces

    def header(self) -> None:
        h = self.schema.header
        origin = f"header type {h.name}"
        self.const("HEADER_SIZE", h.size, origin)
        args = []
        body = []
        for m in value_members(h):
            up = upper_snake(m.name)
            self.const(f"HEADER_{up}_OFFSET", m.offset, f"{origin} member {m.name}")
            get, put = BY_PRIMITIVE[_primitive(m).primitive]
            self.readers |= {get, put}
            self.func(f"header_{up.lower()}", "buf, pos", [f"return {get}(buf, pos + {m.offset})"],
                      f"{origin} member {m.name}")
            args.append(up.lower())
            body.append(f"{put}(buf, pos + {m.offset}, {up.lower()})")
        self.func("put_header", "buf, pos, " + ", ".join(args), body, origin)

    def types(self) -> None:
        for t in self.schema.types.values():
            base = upper_snake(t.name)
            if isinstance(t, Enum):
                for name, value, _ in t.values:
                    self.const(f"{base}_{upper_snake(name)}", value, f"enum {t.name} value {name}")
            elif isinstance(t, Set):
                for name, bit, _ in t.choices:
                    self.const(f"{base}_{upper_snake(name)}_BIT", bit,
                               f"set {t.name} choice {name}")
            elif isinstance(t, Composite):
                origin = f"composite {t.name}"
                self.const(f"{base}_SIZE", t.size, origin)
                for m in t.members:
                    mu = upper_snake(m.name)
                    self.const(f"{base}_{mu}_OFFSET", m.offset, f"{origin} member {m.name}")
                    if isinstance(m, Primitive) and m.presence == "constant":
                        self.const(f"{base}_{mu}", m.constant, f"{origin} member {m.name}")

    def field(self, prefix: str, f: Field, origin: str) -> None:
        up = f"{prefix}_{upper_snake(f.name)}"
        origin = f"{origin} field {f.name}"
        t = self.schema.types.get(f.type)
        self.const(f"{up}_OFFSET", f.offset, origin)
        self.const(f"{up}_SIZE", f.size, origin)
        if f.since:
            self.const(f"{up}_SINCE", f.since, origin)
        if f.presence == "constant":
            value = f.constant
            if isinstance(t, Enum) and isinstance(value, str):
                value = t.value(value)  # a valueRef names the value: the constant is its code
            elif isinstance(value, str) and len(value) == 1:
                value = ord(value)
            self.const(f"{up}_CONSTANT", value, origin)
            return
        leaves = _leaves(t, 0, ())
        single = len(leaves) == 1
        for path, lt, off in leaves:
            name = up if single else f"{up}_{'_'.join(upper_snake(p) for p in path)}"
            where = origin + ("" if single else f" member {'.'.join(path)}")
            self.accessor(name, lt, f.offset + off, f.since, f.presence == "optional" or
                          type_presence(lt) == "optional", where)

    def accessor(self, up: str, t: Any, offset: int, since: int, optional: bool,
                 origin: str) -> None:
        low = up.lower()
        prim = _primitive(t)
        versioned = since > 0
        args = "buf, pos, acting_version" if versioned else "buf, pos"
        if prim.length != 1:  # an array: offsets in compiled code, text on the Python side
            if prim.primitive == "char":
                self.uses_chars = True
                body = ([f"if acting_version < {since}:", "    return None"] if versioned else [])
                body.append(f"return get_chars(buf, pos + {offset}, {prim.length})")
                self.func(f"{low}_str", args, body, origin, compiled=False,
                          doc="Python side: the char array as text, NULs cut.")
                self.func(f"put_{low}_str", "buf, pos, text",
                          [f"put_chars(buf, pos + {offset}, {prim.length}, text)"], origin,
                          compiled=False, doc="Python side: text into the char array, NUL-padded.")
            return
        get, put = BY_PRIMITIVE[prim.primitive]
        self.readers |= {get, put}
        null = prim.null
        if optional or versioned:
            lit = _literal(null, prim.primitive)
            self.uses_np |= "np." in lit
            self.const(f"{up}_NULL", null, origin, literal=lit)
        body = []
        if versioned:
            body += [f"if acting_version < {since}:", f"    return {up}_NULL"]
        body.append(f"return {get}(buf, pos + {offset})")
        self.func(low, args, body, origin)
        self.func(f"put_{low}", "buf, pos, value", [f"{put}(buf, pos + {offset}, value)"], origin)

    def block(self, prefix: str, fields: tuple[Field, ...], groups: tuple[Group, ...],
              data: tuple, origin: str) -> None:
        for f in fields:
            self.field(prefix, f, origin)
        for g in groups:
            up = f"{prefix}_{upper_snake(g.name)}"
            gorigin = f"{origin} group {g.name}"
            dim = self.schema.types[g.dimension]
            self.const(f"{up}_ID", g.id, gorigin)
            self.const(f"{up}_BLOCK_LENGTH", g.block_length, gorigin)
            self.const(f"{up}_HEADER_SIZE", g.header_size, gorigin)
            if g.since:
                self.const(f"{up}_SINCE", g.since, gorigin)
            bl, n = dim.member("blockLength"), dim.member("numInGroup")
            gb, pb = BY_PRIMITIVE[_primitive(bl).primitive]
            gn, pn = BY_PRIMITIVE[_primitive(n).primitive]
            self.readers |= {gb, pb, gn, pn}
            self.func(up.lower(), "buf, pos",
                      [f"return {gb}(buf, pos + {bl.offset}), {gn}(buf, pos + {n.offset})"],
                      gorigin)
            self.func(f"put_{up.lower()}", "buf, pos, entry_block_length, num_in_group",
                      [f"{pb}(buf, pos + {bl.offset}, entry_block_length)",
                       f"{pn}(buf, pos + {n.offset}, num_in_group)"], gorigin)
            self.block(up, g.fields, g.groups, g.data, gorigin)
        for d in data:
            up = f"{prefix}_{upper_snake(d.name)}"
            dorigin = f"{origin} data {d.name}"
            comp = self.schema.types[d.type]
            length = comp.members[0]
            self.const(f"{up}_HEADER_SIZE", comp.members[1].offset, dorigin)
            if d.since:
                self.const(f"{up}_SINCE", d.since, dorigin)
            get, put = BY_PRIMITIVE[_primitive(length).primitive]
            self.readers |= {get, put}
            self.func(up.lower(), "buf, pos", [f"return {get}(buf, pos + {length.offset})"],
                      dorigin)
            self.func(f"put_{up.lower()}", "buf, pos, length",
                      [f"{put}(buf, pos + {length.offset}, length)"], dorigin)

    def message(self, m: Message) -> None:
        up = upper_snake(m.name)
        origin = f"message {m.name} (template {m.id})"
        self.const(f"{up}_ID", m.id, origin)
        self.const(f"{up}_BLOCK_LENGTH", m.block_length, origin)
        if m.since:
            self.const(f"{up}_SINCE", m.since, origin)
        # the header's writes inlined: a generated function calls no other (they are created
        # lazily, and numba resolves globals from the module's dict)
        body = []
        for hm in value_members(self.schema.header):
            value = {"blockLength": f"{up}_BLOCK_LENGTH", "templateId": f"{up}_ID",
                     "schemaId": "SCHEMA_ID", "version": "SCHEMA_VERSION"}.get(hm.name, "0")
            body.append(f"{BY_PRIMITIVE[_primitive(hm).primitive][1]}(buf, pos + {hm.offset}, "
                        f"{value})")
        self.func(f"put_{up.lower()}_header", "buf, pos", body, origin,
                  doc="The message header of this template at ``pos``.")
        self.block(up, m.fields, m.groups, m.data, origin)


_LAZY_TAIL = '''

# Accessors become njit dispatchers on first use: building ~1000 dispatchers with an on-disk
# cache at import would cost far more than the rest of the module.
_COMPILED = frozenset({{{compiled}}})
_SOURCE = {{name: globals().pop(name) for name in _COMPILED}}
_lock = threading.Lock()


def __getattr__(name):
    py = _SOURCE.get(name)
    if py is None:
        raise AttributeError(f"module {{__name__!r}} has no attribute {{name!r}}")
    with _lock:
        fn = globals().get(name)
        if fn is None:
            fn = globals()[name] = njit(cache=True, nogil=True)(py)
    return fn


def __dir__():
    return sorted(set(globals()) | _COMPILED)
'''


def generate_source(schema: Schema, messages: Iterable[int] | None = None,
                    command: str | None = None) -> str:
    """The module's source text for ``schema`` (only the listed template ids when
    ``messages`` is given; the embedded ``SCHEMA`` then holds only those). ``command`` is the
    regeneration command named in the header comment."""
    if schema.byte_order != "littleEndian":
        raise GenerationError(f"{schema.source}: byteOrder {schema.byte_order}: the compiled "
                              "accessors read little-endian only")
    chosen = list(schema.messages)
    if messages is not None:
        wanted = list(dict.fromkeys(int(i) for i in messages))
        known = {m.id for m in schema.messages}
        missing = [i for i in wanted if i not in known]
        if missing:
            raise GenerationError(f"{schema.source}: no template(s) {missing} in schema "
                                  f"{schema.id} v{schema.version} (it has {sorted(known)})")
        chosen = [m for m in schema.messages if m.id in set(wanted)]
    mod = _Module(schema)
    mod.const("SCHEMA_ID", schema.id, "the schema's id")
    mod.const("SCHEMA_VERSION", schema.version, "the schema's version")
    mod.header()
    mod.types()
    for m in chosen:
        mod.message(m)
    mod.claim("SCHEMA", "the embedded IR")

    plain = to_plain(Schema(
        package=schema.package, id=schema.id, version=schema.version,
        byte_order=schema.byte_order, header_type=schema.header_type, types=schema.types,
        messages=tuple(chosen), semantic_version=schema.semantic_version,
        description=schema.description, source=schema.source))
    subset = "" if messages is None else (
        f"# Templates: {', '.join(str(m.id) for m in chosen)} only.\n")
    regen = command or f"tickpath sbe generate {schema.source} --out MODULE.py"
    head = (
        f"# Generated by tickpath.codec.sbe.generate from {schema.source}: SBE schema id "
        f"{schema.id}, version {schema.version}, description {schema.description!r}.\n"
        f"{subset}"
        "# Do not edit by hand; regenerate with:\n"
        f"#   {regen}\n"
        f'"""Constants and compiled flyweight accessors of SBE schema {schema.id} version '
        f"{schema.version} ({schema.package or 'no package'}, {schema.description}).\n\n"
        "Readers take ``(buf, pos)`` (``buf`` a uint8 array, ``pos`` the start of the root block\n"
        "or of a group entry) and read in place; see tickpath.codec.sbe.generate for the\n"
        'naming contract. ``SCHEMA`` is the schema as plain data for the Python decoder."""\n'
    )
    imports = ["import threading", ""]
    if mod.uses_np:
        imports.append("import numpy as np")
    imports.append("from numba import njit")
    imports.append("")
    helpers = sorted(mod.readers | ({"get_chars", "put_chars"} if mod.uses_chars else set()),
                     key=lambda n: [int(x) if x.isdigit() else x for x in re.split(r"(\d+)", n)])
    imports.append("from tickpath.codec.sbe.fields import (")
    imports += [f"    {h}," for h in helpers]
    imports.append(")")
    body = "\n".join(mod.consts)
    funcs = "\n\n\n".join(mod.funcs)
    literal = _literal_source(plain, 0)
    compiled = "".join(f"\n    {n!r}," for n in mod.compiled) + "\n"
    tail = _LAZY_TAIL.format(compiled=compiled)
    return (f"{head}\n" + "\n".join(imports) + "\n\n" + body + "\n\n\n" + funcs
            + "\n\n\nSCHEMA = " + literal + "\n" + tail)


def generate(schema: Schema, out: str | Path, messages: Iterable[int] | None = None,
             command: str | None = None) -> Path:
    """Write the generated module to ``out``; returns its path."""
    path = Path(out)
    path.write_text(generate_source(schema, messages, command))
    return path
