"""CME MDP 3.0 framing: the packet header and the size-prefixed SBE messages after it.

A UDP packet (incremental, snapshot, instrument definition feeds)::

    0            4                  12       14
    +------------+------------------+--------+------------------+--------+-----
    | MsgSeqNum  | SendingTime (ns) | MsgSize| SBE message      | MsgSize| ...
    | u32 LE     | u64 LE           | u16 LE | (header + body)  |        |
    +------------+------------------+--------+------------------+--------+-----

``MsgSize`` counts its own two bytes. TCP recovery packets put a 2-byte encoding type
(0xCAFE) before the same two fields (a 14-byte header); the messages follow alike.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from types import ModuleType
from typing import Any

from ..sbe.decode import ForeignSchema, SbeError, UnknownTemplate, decode_message
from ..sbe.schema import Schema

PACKET_HEADER_SIZE = 12
TCP_PACKET_HEADER_SIZE = 14
TCP_ENCODING_TYPE = 0xCAFE
MSG_SIZE_SIZE = 2


def packet_header(payload: Any, tcp: bool = False) -> tuple[int, int]:
    """``(msg_seq_num, sending_time_ns)`` of a packet; ``tcp`` for the recovery framing."""
    mv = memoryview(payload).cast("B")
    size = TCP_PACKET_HEADER_SIZE if tcp else PACKET_HEADER_SIZE
    if len(mv) < size:
        raise SbeError(f"truncated packet header: {len(mv)} of {size} bytes", 0)
    if tcp:
        enc = struct.unpack_from("<H", mv, 0)[0]
        if enc != TCP_ENCODING_TYPE:
            raise SbeError(f"TCP packet encoding type 0x{enc:04X} is not 0xCAFE", 0)
    return struct.unpack_from("<IQ", mv, size - PACKET_HEADER_SIZE)


def iter_messages(payload: Any, tcp: bool = False) -> Iterator[tuple[int, int]]:
    """``(offset, size)`` of each SBE message of a packet: ``offset`` where its message header
    starts (just after the MsgSize field), ``size`` its length (MsgSize less 2)."""
    mv = memoryview(payload).cast("B")
    pos = TCP_PACKET_HEADER_SIZE if tcp else PACKET_HEADER_SIZE
    packet_header(mv, tcp)
    end = len(mv)
    while pos < end:
        if pos + MSG_SIZE_SIZE > end:
            raise SbeError(f"truncated MsgSize: {end - pos} byte(s) left", pos)
        size = struct.unpack_from("<H", mv, pos)[0]
        if size < MSG_SIZE_SIZE:
            raise SbeError(f"MsgSize {size} is smaller than its own 2 bytes", pos)
        if pos + size > end:
            raise SbeError(f"MsgSize {size} runs past the end of the packet "
                           f"({end - pos} bytes left)", pos)
        yield pos + MSG_SIZE_SIZE, size - MSG_SIZE_SIZE
        pos += size


def decode_packet(schema: Schema | ModuleType | dict, payload: Any, tcp: bool = False
                  ) -> dict[str, Any]:
    """A packet decoded in Python: ``{"msg_seq_num", "sending_time", "messages": [decoded
    message dicts, each with its "offset"], "unknown": [(offset, template id)], "foreign":
    [(offset, schema id, template id)]}``. Unknown templates and messages of another schema id
    are skipped by their MsgSize; anything else malformed raises ``SbeError``."""
    seq, sending = packet_header(payload, tcp)
    out: dict[str, Any] = {"msg_seq_num": seq, "sending_time": sending, "messages": [],
                           "unknown": [], "foreign": []}
    mv = memoryview(payload).cast("B")
    for off, size in iter_messages(mv, tcp):
        try:
            msg, used = decode_message(schema, mv, off, end=off + size)
        except UnknownTemplate as e:
            out["unknown"].append((off, e.template_id))
            continue
        except ForeignSchema as e:
            out["foreign"].append((off, e.schema_id, e.template_id))
            continue
        if used > size:  # cannot happen while decode_message honours `end`; kept as a guard
            raise SbeError(f"message decodes to {used} bytes, MsgSize allows {size}", off)
        msg["offset"] = off
        msg["size"] = size
        out["messages"].append(msg)
    return out
