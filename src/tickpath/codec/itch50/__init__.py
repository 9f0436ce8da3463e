"""NASDAQ TotalView-ITCH 5.0: layout table, compiled decoder and encoder, plain-Python view."""

from .layout import (
    BOOK_TYPES,
    EVENT_DTYPE,
    EVENT_MAP,
    LENGTHS,
    MESSAGES,
    Field,
    Message,
    stock_code,
    stock_symbol,
)
from .message import decode_fields, encode, fields

__all__ = [
    "BOOK_TYPES", "EVENT_DTYPE", "EVENT_MAP", "LENGTHS", "MESSAGES", "Field", "Message",
    "decode_fields", "encode", "fields", "stock_code", "stock_symbol",
]
