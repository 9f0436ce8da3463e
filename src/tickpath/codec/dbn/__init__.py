"""Databento Binary Encoding (DBN): the record layouts of ``databento-dbn`` as numpy dtypes
(:mod:`.records`) and a streaming reader of plain and zstd files (:class:`DbnReader`)."""

from .reader import (
    Batch,
    DbnError,
    DbnReader,
    UnsupportedSchema,
    is_dbn,
    metadata_symbols,
    read_definitions,
)

__all__ = ["Batch", "DbnError", "DbnReader", "UnsupportedSchema", "is_dbn",
           "metadata_symbols", "read_definitions"]
