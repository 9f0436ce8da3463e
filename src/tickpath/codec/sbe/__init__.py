"""FIX Simple Binary Encoding (SBE): schema XML -> IR (``schema``), IR -> a generated module of
constants and compiled flyweight accessors (``generate``), the compiled byte readers and writers
those use (``fields``)."""

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
    "Composite", "Data", "Enum", "Field", "GenerationError", "Group", "Message", "Primitive",
    "Schema", "SchemaError", "Set", "from_plain", "generate", "generate_source", "load_schema",
    "to_plain", "upper_snake",
]
