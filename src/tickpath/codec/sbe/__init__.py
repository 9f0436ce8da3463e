"""FIX Simple Binary Encoding (SBE): schema XML -> IR (``schema``), IR -> a generated module of
constants and compiled flyweight accessors (``generate``), the compiled byte readers and writers
those use (``fields``), and a pure-Python decoder and encoder driven by the IR (``decode``)."""

from .decode import (
    Decimal,
    ForeignSchema,
    SbeError,
    UnknownTemplate,
    as_schema,
    decode_header,
    decode_message,
    encode_message,
    to_float,
)
from .generate import GenerationError, generate, generate_source, upper_snake
from .schema import (
    Composite,
    Data,
    Enum,
    Field,
    Group,
    Message,
    Primitive,
    Schema,
    SchemaError,
    Set,
    from_plain,
    load_schema,
    to_plain,
)

__all__ = [
    "Composite", "Data", "Decimal", "Enum", "Field", "ForeignSchema", "GenerationError", "Group",
    "Message", "Primitive", "SbeError", "Schema", "SchemaError", "Set", "UnknownTemplate",
    "as_schema", "decode_header", "decode_message", "encode_message", "from_plain", "generate",
    "generate_source", "load_schema", "to_float", "to_plain", "upper_snake",
]
