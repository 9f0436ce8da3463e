"""Compiled OUCH 5.0 encoders for a strategy or gateway stage's jitted loop.

Arguments a stage prepares once, outside its loop:

* one-byte alpha fields (side, time in force, display, capacity, intermarket sweep, cross
  type) are their ASCII codes: ``ord("B")``;
* ``symbol`` is the 8 space-padded bytes as a big-endian ``uint64``
  (:func:`tickpath.codec.ouch50.layout.symbol_code`; the same value as ITCH's ``stock``
  field and ``tickpath.codec.itch50.stock_code``, so a symbol read from the feed is passed
  through unchanged);
* ``cl_ord_id`` is a ``uint8`` array of 14 bytes (:func:`~tickpath.codec.ouch50.layout.
  cl_ord_id_bytes`), or a row of a preallocated ``(n, 14)`` array;
* prices are integers with 4 implied decimals.

Every encoder writes at ``buf[offset]`` and returns the end offset; it writes an Appendage
Length of 0, and :func:`add_int_option` appends a TagValue option after it. Wrap the message
in a SoupBinTCP Unsequenced Data packet with
:func:`tickpath.codec.soupbintcp.framing.put_header` (3 bytes before it). The caller sizes
``buf``: these kernels do not check bounds (an Enter Order is 47 bytes plus options).
"""

from __future__ import annotations

from numba import njit

from ..itch50.encoder import put16, put32, put64

ENTER_ORDER_LEN = 47
REPLACE_ORDER_LEN = 40
CANCEL_ORDER_LEN = 11


@njit(cache=True, nogil=True)
def encode_enter_order(buf, offset, user_ref_num, side, quantity, symbol, price,
                       time_in_force, display, capacity, intermarket_sweep, cross_type,
                       cl_ord_id):
    """Enter Order ('O') at ``buf[offset]``, with no options; returns the end offset."""
    buf[offset] = 79  # 'O'
    put32(buf, offset + 1, user_ref_num)
    buf[offset + 5] = side
    put32(buf, offset + 6, quantity)
    put64(buf, offset + 10, symbol)
    put64(buf, offset + 18, price)
    buf[offset + 26] = time_in_force
    buf[offset + 27] = display
    buf[offset + 28] = capacity
    buf[offset + 29] = intermarket_sweep
    buf[offset + 30] = cross_type
    for i in range(14):
        buf[offset + 31 + i] = cl_ord_id[i]
    put16(buf, offset + 45, 0)
    return offset + ENTER_ORDER_LEN


@njit(cache=True, nogil=True)
def encode_replace_order(buf, offset, orig_user_ref_num, user_ref_num, quantity, price,
                         time_in_force, display, intermarket_sweep, cl_ord_id):
    """Replace Order ('U') at ``buf[offset]``, with no options; returns the end offset."""
    buf[offset] = 85  # 'U'
    put32(buf, offset + 1, orig_user_ref_num)
    put32(buf, offset + 5, user_ref_num)
    put32(buf, offset + 9, quantity)
    put64(buf, offset + 13, price)
    buf[offset + 21] = time_in_force
    buf[offset + 22] = display
    buf[offset + 23] = intermarket_sweep
    for i in range(14):
        buf[offset + 24 + i] = cl_ord_id[i]
    put16(buf, offset + 38, 0)
    return offset + REPLACE_ORDER_LEN


@njit(cache=True, nogil=True)
def encode_cancel_order(buf, offset, user_ref_num, quantity):
    """Cancel Order ('X'): ``quantity`` is the intended size left (0 cancels the rest)."""
    buf[offset] = 88  # 'X'
    put32(buf, offset + 1, user_ref_num)
    put32(buf, offset + 5, quantity)
    put16(buf, offset + 9, 0)
    return offset + CANCEL_ORDER_LEN


@njit(cache=True, nogil=True)
def add_int_option(buf, appendage_length_at, end, tag, width, value):
    """Append one TagValue option (``width`` value bytes, big-endian; an alpha option such
    as Firm is its ASCII bytes as an integer) at ``end`` and add it to the Appendage Length
    at ``buf[appendage_length_at]`` (Enter Order: ``offset + 45``). Returns the new end."""
    buf[end] = width + 1
    buf[end + 1] = tag
    for i in range(width):
        buf[end + 2 + i] = (value >> (8 * (width - 1 - i))) & 0xFF
    total = ((buf[appendage_length_at] << 8) | buf[appendage_length_at + 1]) + width + 2
    put16(buf, appendage_length_at, total)
    return end + width + 2
