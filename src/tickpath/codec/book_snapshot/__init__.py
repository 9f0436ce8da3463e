"""Book Snapshot: tickpath's price-level snapshot of one instrument's book (the equities
snapshot feed, docs/snapshot-feed.md): layout, compiled writer and reader, plain-Python
view."""

from .layout import (
    DEFAULT_DEPTH,
    FIELDS,
    HEADER_LEN,
    LEVEL_FIELDS,
    LEVEL_LEN,
    MAX_DEPTH,
    MESSAGE_TYPE,
    REFUSAL_TEXT,
    Refusal,
    largest_message,
    message_length,
)
from .message import BookSnapshot, encode, parse, parse_blocks

__all__ = ["DEFAULT_DEPTH", "FIELDS", "HEADER_LEN", "LEVEL_FIELDS", "LEVEL_LEN", "MAX_DEPTH",
           "MESSAGE_TYPE", "REFUSAL_TEXT", "BookSnapshot", "Refusal", "encode",
           "largest_message", "message_length", "parse", "parse_blocks"]
