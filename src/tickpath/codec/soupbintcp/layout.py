"""SoupBinTCP 3.0 logical packets, as data.

Every packet, in both directions, is a 2-byte big-endian length (of what follows it: the
type byte plus the payload), a 1-byte packet type and the payload::

    0           2        3
    +-----------+--------+----------------------------------+
    | length    | type   | payload (length - 1 bytes)        |
    |   u16     |  char  |                                  |
    +-----------+--------+----------------------------------+

    Login Request ('L', client: 49 bytes, 46 of payload)
    3          9            19                 29                       49
    +----------+------------+------------------+------------------------+
    | username | password   | requested session| requested sequence no. |
    | 6 alpha  | 10 alpha   | 10 alpha         | 20 ASCII digits         |
    +----------+------------+------------------+------------------------+

    Login Accepted ('A', server)          Login Rejected ('J', server)
    3            13                   33   3
    +------------+--------------------+    +-------------+
    | session    | sequence number    |    | reject code |
    | 10 alpha   | 20 ASCII digits    |    |  'A' / 'S'  |
    +------------+--------------------+    +-------------+

Sequenced Data ('S', server) and Unsequenced Data ('U', client) carry one message of the
protocol above (OUCH here); Server Heartbeat ('H'), End of Session ('Z'), Client Heartbeat
('R') and Logout Request ('O') have no payload; Debug ('+', either side) carries free text.
Field offsets below count from the start of the packet (the length field), as the
specification's tables do. Numbers in login packets are ASCII, right-justified and padded
with spaces on the left; username and password are padded on the right.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

HEADER_LEN = 3  # length (2) + type (1)
SERVER, CLIENT, BOTH = "server", "client", "both"


@dataclass(frozen=True)
class Field:
    name: str
    offset: int  #: from the start of the packet (its length field)
    width: int
    kind: str  #: alpha | numeric (ASCII digits) | bytes (the rest of the packet)


@dataclass(frozen=True)
class Packet:
    type: str
    name: str
    sender: str
    payload_length: int | None  #: None: variable
    fields: tuple[Field, ...]


def _pkt(type_: str, name: str, sender: str, payload_length: int | None,
         *fields: tuple[str, int, str]) -> Packet:
    out, offset = [], HEADER_LEN
    for fname, width, kind in fields:
        out.append(Field(fname, offset, width, kind))
        offset += width
    if payload_length is not None and offset - HEADER_LEN != payload_length:
        raise AssertionError(f"SoupBinTCP {type_!r}: fields add to {offset - HEADER_LEN}")
    return Packet(type_, name, sender, payload_length, tuple(out))


PACKETS: dict[str, Packet] = {p.type: p for p in (
    _pkt("+", "debug", BOTH, None),
    _pkt("A", "login_accepted", SERVER, 30, ("session", 10, "alpha"),
         ("sequence_number", 20, "numeric")),
    _pkt("J", "login_rejected", SERVER, 1, ("reject_reason_code", 1, "alpha")),
    _pkt("S", "sequenced_data", SERVER, None),
    _pkt("H", "server_heartbeat", SERVER, 0),
    _pkt("Z", "end_of_session", SERVER, 0),
    _pkt("L", "login_request", CLIENT, 46, ("username", 6, "alpha"), ("password", 10, "alpha"),
         ("requested_session", 10, "alpha"), ("requested_sequence_number", 20, "numeric")),
    _pkt("U", "unsequenced_data", CLIENT, None),
    _pkt("R", "client_heartbeat", CLIENT, 0),
    _pkt("O", "logout_request", CLIENT, 0),
)}

LOGIN_REJECT_CODES = {"A": "not authorized (bad username or password)",
                      "S": "session not available"}

#: per type byte: the payload length, VARIABLE, or UNKNOWN (for the compiled scanner)
VARIABLE = -1
UNKNOWN = -2
PAYLOAD_LENGTHS = np.full(256, UNKNOWN, np.int16)
for _p in PACKETS.values():
    PAYLOAD_LENGTHS[ord(_p.type)] = VARIABLE if _p.payload_length is None else _p.payload_length

#: one packet found in a byte stream: its type, where its payload starts, how long it is
PACKET_DTYPE = np.dtype([("type", np.uint8), ("payload_at", np.int64),
                         ("payload_len", np.int32)])
