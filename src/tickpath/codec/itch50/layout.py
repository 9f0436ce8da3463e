"""NASDAQ TotalView-ITCH 5.0 message layouts, declared once as data.

Every message starts with the same 11-byte header; all integers are big-endian and unsigned::

    0      1        3          5                11
    +------+--------+----------+-----------------+----------------------------+
    | type | locate | tracking | timestamp (ns)  | type-specific body ...     |
    | 1 B  |  u16   |   u16    |  u48            |                            |
    +------+--------+----------+-----------------+----------------------------+

Add Order (``A``, 36 bytes; ``F`` appends a 4-byte MPID attribution at offset 36)::

    11            19     20        24           32        36
    +-------------+------+---------+------------+---------+
    | order ref   | side | shares  | stock      | price   |
    |   u64       | B/S  |  u32    | 8 alpha    | Price(4)|
    +-------------+------+---------+------------+---------+

Kinds: ``int`` (big-endian unsigned), ``alpha`` (ASCII, right-padded with spaces),
``price4`` (u32, 4 implied decimals), ``price8`` (u64, 8 implied decimals), ``ts`` (u48
nanoseconds since midnight). Offsets and widths are those of the specification's tables; the
layout tests check each one and each total length.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Field:
    name: str
    offset: int
    width: int
    kind: str  # int | alpha | price4 | price8 | ts


@dataclass(frozen=True)
class Message:
    type: str
    name: str
    length: int
    fields: tuple[Field, ...]

    def field(self, name: str) -> Field:
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(f"ITCH 5.0 message {self.type!r} ({self.name}) has no field {name!r}")


_HEADER = (
    ("message_type", 1, "alpha"),
    ("stock_locate", 2, "int"),
    ("tracking_number", 2, "int"),
    ("timestamp", 6, "ts"),
)


def _msg(type_: str, name: str, length: int, *body: tuple[str, int, str]) -> Message:
    fields = []
    offset = 0
    for fname, width, kind in _HEADER + body:
        fields.append(Field(fname, offset, width, kind))
        offset += width
    if offset != length:  # the table is checked against the spec's stated length at import
        raise AssertionError(f"ITCH layout {type_!r}: fields add to {offset}, spec says {length}")
    return Message(type_, name, length, tuple(fields))


MESSAGES: dict[str, Message] = {
    m.type: m
    for m in (
        _msg("S", "system_event", 12, ("event_code", 1, "alpha")),
        _msg(
            "R", "stock_directory", 39,
            ("stock", 8, "alpha"), ("market_category", 1, "alpha"),
            ("financial_status_indicator", 1, "alpha"), ("round_lot_size", 4, "int"),
            ("round_lots_only", 1, "alpha"), ("issue_classification", 1, "alpha"),
            ("issue_sub_type", 2, "alpha"), ("authenticity", 1, "alpha"),
            ("short_sale_threshold_indicator", 1, "alpha"), ("ipo_flag", 1, "alpha"),
            ("luld_reference_price_tier", 1, "alpha"), ("etp_flag", 1, "alpha"),
            ("etp_leverage_factor", 4, "int"), ("inverse_indicator", 1, "alpha"),
        ),
        _msg(
            "H", "stock_trading_action", 25,
            ("stock", 8, "alpha"), ("trading_state", 1, "alpha"), ("reserved", 1, "alpha"),
            ("reason", 4, "alpha"),
        ),
        _msg("Y", "reg_sho_restriction", 20, ("stock", 8, "alpha"), ("reg_sho_action", 1, "alpha")),
        _msg(
            "L", "market_participant_position", 26,
            ("mpid", 4, "alpha"), ("stock", 8, "alpha"), ("primary_market_maker", 1, "alpha"),
            ("market_maker_mode", 1, "alpha"), ("market_participant_state", 1, "alpha"),
        ),
        _msg(
            "V", "mwcb_decline_level", 35,
            ("level1", 8, "price8"), ("level2", 8, "price8"), ("level3", 8, "price8"),
        ),
        _msg("W", "mwcb_status", 12, ("breached_level", 1, "alpha")),
        _msg(
            "K", "ipo_quoting_period_update", 28,
            ("stock", 8, "alpha"), ("ipo_quotation_release_time", 4, "int"),
            ("ipo_quotation_release_qualifier", 1, "alpha"), ("ipo_price", 4, "price4"),
        ),
        _msg(
            "J", "luld_auction_collar", 35,
            ("stock", 8, "alpha"), ("auction_collar_reference_price", 4, "price4"),
            ("upper_auction_collar_price", 4, "price4"),
            ("lower_auction_collar_price", 4, "price4"), ("auction_collar_extension", 4, "int"),
        ),
        _msg(
            "h", "operational_halt", 21,
            ("stock", 8, "alpha"), ("market_code", 1, "alpha"),
            ("operational_halt_action", 1, "alpha"),
        ),
        _msg(
            "A", "add_order", 36,
            ("order_reference_number", 8, "int"), ("buy_sell_indicator", 1, "alpha"),
            ("shares", 4, "int"), ("stock", 8, "alpha"), ("price", 4, "price4"),
        ),
        _msg(
            "F", "add_order_mpid", 40,
            ("order_reference_number", 8, "int"), ("buy_sell_indicator", 1, "alpha"),
            ("shares", 4, "int"), ("stock", 8, "alpha"), ("price", 4, "price4"),
            ("attribution", 4, "alpha"),
        ),
        _msg(
            "E", "order_executed", 31,
            ("order_reference_number", 8, "int"), ("executed_shares", 4, "int"),
            ("match_number", 8, "int"),
        ),
        _msg(
            "C", "order_executed_with_price", 36,
            ("order_reference_number", 8, "int"), ("executed_shares", 4, "int"),
            ("match_number", 8, "int"), ("printable", 1, "alpha"),
            ("execution_price", 4, "price4"),
        ),
        _msg(
            "X", "order_cancel", 23,
            ("order_reference_number", 8, "int"), ("cancelled_shares", 4, "int"),
        ),
        _msg("D", "order_delete", 19, ("order_reference_number", 8, "int")),
        _msg(
            "U", "order_replace", 35,
            ("original_order_reference_number", 8, "int"),
            ("new_order_reference_number", 8, "int"), ("shares", 4, "int"),
            ("price", 4, "price4"),
        ),
        _msg(
            "P", "trade", 44,
            ("order_reference_number", 8, "int"), ("buy_sell_indicator", 1, "alpha"),
            ("shares", 4, "int"), ("stock", 8, "alpha"), ("price", 4, "price4"),
            ("match_number", 8, "int"),
        ),
        _msg(
            "Q", "cross_trade", 40,
            ("shares", 8, "int"), ("stock", 8, "alpha"), ("cross_price", 4, "price4"),
            ("match_number", 8, "int"), ("cross_type", 1, "alpha"),
        ),
        _msg("B", "broken_trade", 19, ("match_number", 8, "int")),
        _msg(
            "I", "noii", 50,
            ("paired_shares", 8, "int"), ("imbalance_shares", 8, "int"),
            ("imbalance_direction", 1, "alpha"), ("stock", 8, "alpha"),
            ("far_price", 4, "price4"), ("near_price", 4, "price4"),
            ("current_reference_price", 4, "price4"), ("cross_type", 1, "alpha"),
            ("price_variation_indicator", 1, "alpha"),
        ),
        _msg(
            "N", "retail_price_improvement", 20,
            ("stock", 8, "alpha"), ("interest_flag", 1, "alpha"),
        ),
        _msg(
            "O", "dlcr_price_discovery", 48,
            ("stock", 8, "alpha"), ("open_eligibility_status", 1, "alpha"),
            ("minimum_allowable_price", 4, "price4"), ("maximum_allowable_price", 4, "price4"),
            ("near_execution_price", 4, "price4"), ("near_execution_time", 8, "int"),
            ("lower_price_range_collar", 4, "price4"), ("upper_price_range_collar", 4, "price4"),
        ),
    )
}

#: Message length (type byte included) indexed by the type byte; 0 marks an unknown type.
#: The decoder checks each block's length against this table.
LENGTHS = np.zeros(256, dtype=np.uint16)
for _m in MESSAGES.values():
    LENGTHS[ord(_m.type)] = _m.length
# read-only: compiled code that takes the table as a global sees a read-only constant, so
# Python callers passing it give the decoder the same signature (one compile, not two)
LENGTHS.setflags(write=False)

#: Types that change an order book.
BOOK_TYPES = frozenset("AFECXDU")

#: The normalized event the compiled decoder writes: one record per message, the same dtype for
#: every type. Fields a type does not carry are zero. ``stock`` holds the 8 alpha bytes as one
#: big-endian integer (cheap to compare and hash); ``flag`` carries the type's main one-byte
#: code. ``offset`` is where the message starts in the input, for error messages and for the
#: full-field view. The mapping per type is in ``EVENT_MAP`` and documented in docs/itch50.md.
EVENT_DTYPE = np.dtype(
    [
        ("type", np.uint8),
        ("side", np.uint8),
        ("flag", np.uint8),
        ("pad", np.uint8),
        ("locate", np.uint16),
        ("tracking", np.uint16),
        ("timestamp", np.uint64),
        ("ref", np.uint64),
        ("new_ref", np.uint64),
        ("shares", np.uint64),
        ("price", np.uint64),
        ("match", np.uint64),
        ("stock", np.uint64),
        ("attribution", np.uint32),
        ("offset", np.uint64),
    ],
    align=True,
)

#: event field -> message field, per type (header fields are common to all).
EVENT_MAP: dict[str, dict[str, str]] = {
    "S": {"flag": "event_code"},
    "R": {"stock": "stock", "flag": "market_category", "shares": "round_lot_size"},
    "H": {"stock": "stock", "flag": "trading_state"},
    "Y": {"stock": "stock", "flag": "reg_sho_action"},
    "L": {"stock": "stock", "attribution": "mpid", "flag": "market_participant_state"},
    "V": {"price": "level1"},
    "W": {"flag": "breached_level"},
    "K": {"stock": "stock", "price": "ipo_price", "flag": "ipo_quotation_release_qualifier"},
    "J": {"stock": "stock", "price": "auction_collar_reference_price"},
    "h": {"stock": "stock", "flag": "operational_halt_action", "side": "market_code"},
    "A": {
        "ref": "order_reference_number", "side": "buy_sell_indicator", "shares": "shares",
        "stock": "stock", "price": "price",
    },
    "F": {
        "ref": "order_reference_number", "side": "buy_sell_indicator", "shares": "shares",
        "stock": "stock", "price": "price", "attribution": "attribution",
    },
    "E": {"ref": "order_reference_number", "shares": "executed_shares", "match": "match_number"},
    "C": {
        "ref": "order_reference_number", "shares": "executed_shares", "match": "match_number",
        "flag": "printable", "price": "execution_price",
    },
    "X": {"ref": "order_reference_number", "shares": "cancelled_shares"},
    "D": {"ref": "order_reference_number"},
    "U": {
        "ref": "original_order_reference_number", "new_ref": "new_order_reference_number",
        "shares": "shares", "price": "price",
    },
    "P": {
        "ref": "order_reference_number", "side": "buy_sell_indicator", "shares": "shares",
        "stock": "stock", "price": "price", "match": "match_number",
    },
    "Q": {"shares": "shares", "stock": "stock", "price": "cross_price", "match": "match_number",
          "flag": "cross_type"},
    "B": {"match": "match_number"},
    "I": {"shares": "paired_shares", "side": "imbalance_direction", "stock": "stock",
          "price": "current_reference_price", "flag": "cross_type"},
    "N": {"stock": "stock", "flag": "interest_flag"},
    "O": {"stock": "stock", "flag": "open_eligibility_status", "price": "near_execution_price"},
}


def wire_dtype(msg: Message) -> np.dtype:
    """A big-endian numpy dtype laid exactly over the message's bytes (a flyweight view).

    ``ts`` fields become a 6-byte raw field; :func:`tickpath.codec.itch50.fields` turns them
    into integers.
    """
    names, formats, offsets = [], [], []
    for f in msg.fields:
        names.append(f.name)
        offsets.append(f.offset)
        if f.kind == "alpha":
            formats.append(f"S{f.width}")
        elif f.kind == "ts":
            formats.append(("u1", 6))
        else:
            formats.append(f">u{f.width}")
    return np.dtype({"names": names, "formats": formats, "offsets": offsets,
                     "itemsize": msg.length})


def stock_code(symbol: str | bytes) -> int:
    """The 8-byte, space-padded stock field as the big-endian integer used in events."""
    raw = symbol.encode("ascii") if isinstance(symbol, str) else bytes(symbol)
    if len(raw) > 8:
        raise ValueError(f"stock symbol {symbol!r} is longer than ITCH's 8 bytes")
    return int.from_bytes(raw.ljust(8, b" "), "big")


def stock_symbol(code: int) -> str:
    """Inverse of :func:`stock_code`: the symbol with its right padding stripped."""
    return int(code).to_bytes(8, "big").decode("ascii", "replace").rstrip(" \x00")
