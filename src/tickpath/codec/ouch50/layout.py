"""NASDAQ OUCH 5.0 message layouts (Order Entry Specification, April 2023 revision), as data.

OUCH messages travel one per SoupBinTCP packet: client -> exchange ("inbound") in Unsequenced
Data packets, exchange -> client ("outbound") in Sequenced Data packets. The type letter alone
does not say which message it is (``U`` is Replace Order inbound and Order Replaced outbound),
so there are two tables, :data:`INBOUND` and :data:`OUTBOUND`.

Integers are big-endian and unsigned; alpha fields are ASCII, left-justified and space-padded;
prices are 8-byte integers with 4 implied decimals; outbound timestamps are 8-byte nanoseconds
since midnight. Each message is a fixed part ending in a 2-byte Appendage Length, then that
many bytes of options::

    Enter Order ('O', 47 bytes + appendage)
    0      1            5      6          10         18        26  27  28  29  30
    +------+------------+------+----------+----------+---------+---+---+---+---+---+
    | 'O'  | UserRefNum | side | quantity | symbol   | price   |TIF|dsp|cap|ISO|xty|
    |      |    u32     |  B/S |   u32    | 8 alpha  | u64 (4) |   |   |   |   |   |
    +------+------------+------+----------+----------+---------+---+---+---+---+---+
    31                     45          47
    +----------------------+-----------+--------------------------------------+
    | ClOrdID  (14 alpha)  | app. len  | options: TagValue TagValue ...       |
    |                      |   u16     | (app. len bytes)                     |
    +----------------------+-----------+--------------------------------------+

    Order Accepted ('A', 64 bytes + appendage)
    0   1           9        13   14    18      26     34  35  36          44  45  46  47
    +---+-----------+--------+----+-----+-------+------+---+---+-----------+---+---+---+---+
    |'A'| timestamp | UserRef|side| qty | symbol| price|TIF|dsp| order ref |cap|ISO|xty|st |
    |   |  u64 ns   |  u32   |    | u32 | 8 a   | u64  |   |   |   u64     |   |   |   |   |
    +---+-----------+--------+----+-----+-------+------+---+---+-----------+---+---+---+---+
    48                     62          64
    | ClOrdID  (14 alpha)  | app. len  | options ...

    TagValue element (one option)
    0          1          2
    +----------+----------+---------------------------+
    | length   | tag      | value (length - 1 bytes)  |
    |   u8     |   u8     | see OPTIONS               |
    +----------+----------+---------------------------+

Some messages may arrive without the Appendage Length at all (the specification says so of
Cancel, Modify and Account Query requests, and of the outbound messages that echo whether the
request carried one): :attr:`Message.appendage` is then ``"optional"`` and the message is
complete at ``length - 2`` bytes. System Event has no appendage.

Kinds: ``int`` (unsigned), ``alpha``, ``price`` (u64, 4 implied decimals), ``ts`` (u64 ns since
midnight), ``sprice`` (signed 4-byte price offset, options only). The layout tests check every
offset and length against the specification's tables.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

INBOUND_DIR = "inbound"    # client -> exchange (SoupBinTCP Unsequenced Data)
OUTBOUND_DIR = "outbound"  # exchange -> client (SoupBinTCP Sequenced Data)

#: how a message carries its options
REQUIRED, OPTIONAL, NONE = "required", "optional", "none"
APPENDAGE_CODES = {NONE: 0, REQUIRED: 1, OPTIONAL: 2}


@dataclass(frozen=True)
class Field:
    name: str
    offset: int
    width: int
    kind: str  # int | alpha | price | ts


@dataclass(frozen=True)
class Message:
    type: str
    name: str
    direction: str
    length: int  #: the fixed part, the 2-byte Appendage Length included when there is one
    fields: tuple[Field, ...]
    appendage: str  #: required | optional | none

    def field(self, name: str) -> Field:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(f"OUCH 5.0 {self.direction} {self.type!r} ({self.name}) has no field "
                       f"{name!r}")

    @property
    def min_length(self) -> int:
        """Shortest valid message: without the Appendage Length when it is optional."""
        return self.length - 2 if self.appendage == OPTIONAL else self.length


def _msg(direction: str, type_: str, name: str, length: int, appendage: str,
         *body: tuple[str, int, str]) -> Message:
    head: tuple[tuple[str, int, str], ...] = (("type", 1, "alpha"),)
    if direction == OUTBOUND_DIR:
        head += (("timestamp", 8, "ts"),)
    tail: tuple[tuple[str, int, str], ...] = ()
    if appendage != NONE:
        tail = (("appendage_length", 2, "int"),)
    fields, offset = [], 0
    for fname, width, kind in head + body + tail:
        fields.append(Field(fname, offset, width, kind))
        offset += width
    if offset != length:  # the transcription is checked against the spec's offsets at import
        raise AssertionError(f"OUCH {direction} {type_!r}: fields add to {offset}, spec says "
                             f"{length}")
    return Message(type_, name, direction, length, tuple(fields), appendage)


_URN = ("user_ref_num", 4, "int")
_SIDE = ("side", 1, "alpha")
_QTY = ("quantity", 4, "int")
_SYMBOL = ("symbol", 8, "alpha")
_PRICE = ("price", 8, "price")
_TIF = ("time_in_force", 1, "alpha")
_DISPLAY = ("display", 1, "alpha")
_CAPACITY = ("capacity", 1, "alpha")
_ISO = ("intermarket_sweep_eligibility", 1, "alpha")
_CROSS = ("cross_type", 1, "alpha")
_CLORDID = ("cl_ord_id", 14, "alpha")
_ORDREF = ("order_reference_number", 8, "int")
_FIRM = ("firm", 4, "alpha")

_I, _O = INBOUND_DIR, OUTBOUND_DIR

INBOUND: dict[str, Message] = {m.type: m for m in (
    _msg(_I, "O", "enter_order", 47, REQUIRED, _URN, _SIDE, _QTY, _SYMBOL, _PRICE, _TIF,
         _DISPLAY, _CAPACITY, _ISO, _CROSS, _CLORDID),
    _msg(_I, "U", "replace_order", 40, REQUIRED, ("orig_user_ref_num", 4, "int"), _URN, _QTY,
         _PRICE, _TIF, _DISPLAY, _ISO, _CLORDID),
    _msg(_I, "X", "cancel_order", 11, OPTIONAL, _URN, _QTY),
    _msg(_I, "M", "modify_order", 12, OPTIONAL, _URN, _SIDE, _QTY),
    _msg(_I, "C", "mass_cancel", 19, REQUIRED, _URN, _FIRM, _SYMBOL),
    _msg(_I, "D", "disable_order_entry", 11, REQUIRED, _URN, _FIRM),
    _msg(_I, "E", "enable_order_entry", 11, REQUIRED, _URN, _FIRM),
    _msg(_I, "Q", "account_query", 3, OPTIONAL),
)}

OUTBOUND: dict[str, Message] = {m.type: m for m in (
    _msg(_O, "S", "system_event", 10, NONE, ("event_code", 1, "alpha")),
    _msg(_O, "A", "order_accepted", 64, REQUIRED, _URN, _SIDE, _QTY, _SYMBOL, _PRICE, _TIF,
         _DISPLAY, _ORDREF, _CAPACITY, _ISO, _CROSS, ("order_state", 1, "alpha"), _CLORDID),
    _msg(_O, "U", "order_replaced", 68, REQUIRED, ("orig_user_ref_num", 4, "int"), _URN,
         _SIDE, _QTY, _SYMBOL, _PRICE, _TIF, _DISPLAY, _ORDREF, _CAPACITY, _ISO, _CROSS,
         ("order_state", 1, "alpha"), _CLORDID),
    _msg(_O, "C", "order_canceled", 20, OPTIONAL, _URN, _QTY, ("reason", 1, "alpha")),
    _msg(_O, "D", "aiq_canceled", 34, OPTIONAL, _URN, ("decrement_shares", 4, "int"),
         ("reason", 1, "alpha"), ("quantity_prevented_from_trading", 4, "int"),
         ("execution_price", 8, "price"), ("liquidity_flag", 1, "alpha"),
         ("aiq_strategy", 1, "alpha")),
    _msg(_O, "E", "order_executed", 36, REQUIRED, _URN, _QTY, _PRICE,
         ("liquidity_flag", 1, "alpha"), ("match_number", 8, "int")),
    _msg(_O, "B", "broken_trade", 38, OPTIONAL, _URN, ("match_number", 8, "int"),
         ("reason", 1, "alpha"), _CLORDID),
    _msg(_O, "J", "rejected", 31, OPTIONAL, _URN, ("reason", 2, "int"), _CLORDID),
    _msg(_O, "P", "cancel_pending", 15, OPTIONAL, _URN),
    _msg(_O, "I", "cancel_reject", 15, OPTIONAL, _URN),
    _msg(_O, "T", "order_priority_update", 32, OPTIONAL, _URN, _PRICE, _DISPLAY, _ORDREF),
    _msg(_O, "M", "order_modified", 20, OPTIONAL, _URN, _SIDE, _QTY),
    _msg(_O, "R", "order_restated", 16, REQUIRED, _URN, ("reason", 1, "alpha")),
    _msg(_O, "X", "mass_cancel_response", 27, REQUIRED, _URN, _FIRM, _SYMBOL),
    _msg(_O, "G", "disable_order_entry_response", 19, REQUIRED, _URN, _FIRM),
    _msg(_O, "K", "enable_order_entry_response", 19, REQUIRED, _URN, _FIRM),
    _msg(_O, "Q", "account_query_response", 15, OPTIONAL, ("next_user_ref_num", 4, "int")),
)}

TABLES: dict[str, dict[str, Message]] = {INBOUND_DIR: INBOUND, OUTBOUND_DIR: OUTBOUND}


@dataclass(frozen=True)
class Option:
    tag: int
    name: str
    width: int  #: size of the value (the TagValue element is 2 bytes longer)
    kind: str   #: int | alpha | price | sprice


#: Appendix B: the optional fields carried as TagValue elements
OPTIONS: dict[int, Option] = {o.tag: o for o in (
    Option(1, "secondary_ord_ref_num", 8, "int"),
    Option(2, "firm", 4, "alpha"),
    Option(3, "min_qty", 4, "int"),
    Option(4, "customer_type", 1, "alpha"),
    Option(5, "max_floor", 4, "int"),
    Option(6, "price_type", 1, "alpha"),
    Option(7, "peg_offset", 4, "sprice"),
    Option(9, "discretion_price", 8, "price"),
    Option(10, "discretion_price_type", 1, "alpha"),
    Option(11, "discretion_peg_offset", 4, "sprice"),
    Option(12, "post_only", 1, "alpha"),
    Option(13, "random_reserves", 4, "int"),
    Option(14, "route", 4, "alpha"),
    Option(15, "expire_time", 4, "int"),
    Option(16, "trade_now", 1, "alpha"),
    Option(17, "handle_inst", 1, "alpha"),
    Option(18, "bbo_weight_indicator", 1, "alpha"),
    Option(22, "display_quantity", 4, "int"),
    Option(23, "display_price", 8, "price"),
    Option(24, "group_id", 2, "int"),
    Option(25, "shares_located", 1, "alpha"),
    Option(26, "locate_broker", 4, "alpha"),
    Option(27, "side", 1, "alpha"),
    Option(28, "user_ref_idx", 1, "int"),
)}
OPTION_BY_NAME: dict[str, Option] = {o.name: o for o in OPTIONS.values()}

#: reject reasons (Appendix D), for messages and logs
REJECT_REASONS: dict[int, str] = {
    0x01: "Quote Unavailable", 0x02: "Destination Closed", 0x03: "Invalid Display",
    0x04: "Invalid Max Floor", 0x05: "Invalid Peg Type", 0x06: "Fat Finger", 0x07: "Halted",
    0x08: "ISO Not Allowed", 0x09: "Invalid Side", 0x0A: "Processing Error",
    0x0B: "Cancel Pending", 0x0C: "Firm Not Authorized", 0x0D: "Invalid Min Quantity",
    0x0E: "No Closing Reference Price", 0x0F: "Other", 0x10: "Cancel Not Allowed",
    0x11: "Pegging Not Allowed", 0x12: "Crossed Market", 0x13: "Invalid Quantity",
    0x14: "Invalid Cross Order", 0x15: "Replace Not Allowed", 0x16: "Routing Not Allowed",
    0x17: "Invalid Symbol", 0x18: "Test", 0x19: "Late LOC Too Aggressive",
    0x1A: "Retail Not Allowed", 0x1B: "Invalid Midpoint Post Only Price",
    0x1C: "Invalid Destination", 0x1D: "Invalid Price", 0x1E: "Shares Exceed Threshold",
    0x1F: "Exceeds Maximum Allowed Notional Value", 0x20: "Risk: Aggregate Exposure Exceeded",
    0x21: "Risk: Market Impact", 0x22: "Risk: Restricted Stock",
    0x23: "Risk: Short Sell Restricted", 0x24: "Risk: ISO Not Allowed",
    0x25: "Risk: Exceeds ADV Limit", 0x26: "Risk: Fat Finger", 0x27: "Risk: Locate Required",
    0x28: "Risk: Symbol Message Rate Restriction", 0x29: "Risk: Port Message Rate Restriction",
    0x2A: "Risk: Duplicate Message Rate Restriction", 0x2B: "Risk: Short Sell Not Allowed",
    0x2C: "Risk: Market Order Not Allowed", 0x2D: "Risk: Pre-Market Not Allowed",
    0x2E: "Risk: Post-Market Not Allowed", 0x2F: "Risk: Short Sell Exempt Not Allowed",
    0x30: "Risk: Single Order Notional Exceeded", 0x31: "Risk: Max Quantity Exceeded",
    0x32: "Reg SHO State Not Available",
}

#: the price that flags a market order for a cross ($214,748.3647)
MARKET_PRICE = 0x7FFFFFFF


def _table_arrays(table: dict[str, Message]) -> tuple[np.ndarray, np.ndarray]:
    lengths = np.zeros(256, np.uint16)
    appendage = np.zeros(256, np.uint8)
    for t, m in table.items():
        lengths[ord(t)] = m.length
        appendage[ord(t)] = APPENDAGE_CODES[m.appendage]
    return lengths, appendage


#: per type byte: the fixed length (0 = unknown type) and how options are carried
#: (APPENDAGE_CODES), for the compiled kernels
IN_LENGTHS, IN_APPENDAGE = _table_arrays(INBOUND)
OUT_LENGTHS, OUT_APPENDAGE = _table_arrays(OUTBOUND)

#: option value widths by tag (0 = tag unknown to this table: skipped by its length)
OPTION_WIDTHS = np.zeros(256, np.uint8)
for _o in OPTIONS.values():
    OPTION_WIDTHS[_o.tag] = _o.width

#: One decoded outbound message (the fields a gateway acts on), for the compiled decoder.
#: Alpha fields of one byte are stored as their byte; symbol as the big-endian u64 of its 8
#: bytes (as ``tickpath.codec.itch50.stock_code``); ClOrdID as its 14 bytes. ``options_at`` /
#: ``options_len`` locate the appendage in the input; ``user_ref_idx`` is the UserRefIdx
#: option or -1.
OUT_DTYPE = np.dtype([
    ("type", np.uint8), ("side", np.uint8), ("time_in_force", np.uint8), ("display", np.uint8),
    ("capacity", np.uint8), ("order_state", np.uint8), ("reason", np.uint16),
    ("liquidity_flag", np.uint8), ("event_code", np.uint8), ("user_ref_idx", np.int16),
    ("user_ref_num", np.uint32), ("orig_user_ref_num", np.uint32), ("quantity", np.uint32),
    ("timestamp", np.uint64), ("symbol", np.uint64), ("price", np.uint64),
    ("order_reference_number", np.uint64), ("match_number", np.uint64),
    ("cl_ord_id", np.uint8, (14,)), ("options_at", np.int64), ("options_len", np.int32),
    ("length", np.int32),
])


def symbol_code(symbol: str | bytes) -> int:
    """An 8-byte, space-padded symbol as the big-endian integer the compiled encoder takes."""
    raw = symbol.encode("ascii") if isinstance(symbol, str) else bytes(symbol)
    if len(raw) > 8:
        raise ValueError(f"symbol {symbol!r} is longer than OUCH's 8 bytes")
    return int.from_bytes(raw.ljust(8, b" "), "big")


def cl_ord_id_bytes(cl_ord_id: str | bytes) -> np.ndarray:
    """A ClOrdID as the 14 space-padded bytes the compiled encoder takes."""
    raw = cl_ord_id.encode("ascii") if isinstance(cl_ord_id, str) else bytes(cl_ord_id)
    if len(raw) > 14:
        raise ValueError(f"ClOrdID {cl_ord_id!r} is longer than 14 bytes")
    return np.frombuffer(raw.ljust(14, b" "), np.uint8).copy()
