"""LOBSTER (lobsterdata.com) message and orderbook CSV files: layout and bulk reader."""

from .layout import (
    BUY,
    EMPTY_ASK_PRICE,
    EMPTY_BID_PRICE,
    MESSAGE_COLUMNS,
    MESSAGE_DTYPE,
    ORDERBOOK_COLUMNS,
    SELL,
    EventType,
)
from .read import (
    LobsterError,
    is_message_file,
    orderbook_path,
    parse_name,
    read_messages,
    read_orderbook,
)

__all__ = ["BUY", "EMPTY_ASK_PRICE", "EMPTY_BID_PRICE", "MESSAGE_COLUMNS", "MESSAGE_DTYPE",
           "ORDERBOOK_COLUMNS", "SELL", "EventType", "LobsterError", "is_message_file",
           "orderbook_path", "parse_name", "read_messages", "read_orderbook"]
