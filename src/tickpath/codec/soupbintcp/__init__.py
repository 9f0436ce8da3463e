"""SoupBinTCP 3.0: the session layer under OUCH. Layout table, compiled framing, and
:class:`SoupFramer`, which cuts a TCP byte stream into packets across reads."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from .framing import NEED_MORE, OK, OUT_FULL, STATUS_TEXT, put_header, scan_packets
from .layout import HEADER_LEN, PACKET_DTYPE, PACKETS, PAYLOAD_LENGTHS, Packet

__all__ = ["HEADER_LEN", "PACKETS", "Packet", "SoupError", "SoupFramer", "SoupPacket",
           "decode_packet", "encode_packet", "login_accepted", "login_rejected",
           "login_request", "put_header", "scan_packets", "sequenced", "unsequenced"]


class SoupError(ValueError):
    """A malformed SoupBinTCP packet: ``offset`` is where it starts, ``reason`` what is wrong."""

    def __init__(self, offset: int, reason: str) -> None:
        super().__init__(f"SoupBinTCP packet at offset {offset}: {reason}")
        self.offset = offset
        self.reason = reason


@dataclass(frozen=True)
class SoupPacket:
    type: str
    payload: bytes
    offset: int  #: where the packet (its length field) starts in the stream

    @property
    def name(self) -> str:
        return PACKETS[self.type].name


def _status_error(buf: np.ndarray, status: int, offset: int, base: int) -> SoupError:
    reason = STATUS_TEXT.get(status, f"status {status}")
    if offset + 2 < buf.size:
        t = chr(buf[offset + 2])
        length = int(buf[offset]) << 8 | int(buf[offset + 1])
        reason += f" (type {t!r}, length {length})"
        if t in PACKETS and PACKETS[t].payload_length is not None:
            reason += f"; {PACKETS[t].name} has a length of {PACKETS[t].payload_length + 1}"
    return SoupError(base + offset,
                     reason + "; the stream cannot be resynchronised after it: reconnect")


class SoupFramer:
    """Cuts a TCP byte stream into SoupBinTCP packets; keeps a partial packet for the next
    read. ``offset`` in packets and errors counts from the first byte ever fed."""

    def __init__(self, max_packets: int = 4096) -> None:
        self._out = np.zeros(max_packets, PACKET_DTYPE)
        self._pending = b""
        self._base = 0  # stream offset of self._pending[0]

    @property
    def pending(self) -> int:
        """Bytes held back: the start of a packet whose end has not arrived."""
        return len(self._pending)

    def feed(self, data: bytes | bytearray | memoryview) -> list[SoupPacket]:
        chunk = self._pending + bytes(data)
        buf = np.frombuffer(chunk, np.uint8)
        got: list[SoupPacket] = []
        p = 0
        while True:
            n, status, p_next = scan_packets(buf, p, buf.size, PAYLOAD_LENGTHS, self._out)
            for r in self._out[:n]:
                at, ln = int(r["payload_at"]), int(r["payload_len"])
                got.append(SoupPacket(chr(r["type"]), chunk[at:at + ln],
                                      self._base + at - HEADER_LEN))
            p = int(p_next)
            if status == OUT_FULL:
                continue
            if status in (OK, NEED_MORE):
                break
            raise _status_error(buf, int(status), p, self._base)
        self._pending = chunk[p:]
        self._base += p
        return got


def packets(data: bytes | bytearray | memoryview) -> list[SoupPacket]:
    """Every packet of a complete byte string; a trailing partial packet is an error."""
    f = SoupFramer()
    out = f.feed(data)
    if f.pending:
        raise SoupError(len(bytes(data)) - f.pending,
                        f"truncated packet: {f.pending} bytes of a packet at the end of the input")
    return out


def encode_packet(type_: str, payload: bytes = b"") -> bytes:
    """One packet: length, type, payload (checked against the type's fixed length)."""
    if type_ not in PACKETS:
        raise ValueError(f"unknown SoupBinTCP packet type {type_!r}; known: {sorted(PACKETS)}")
    want = PACKETS[type_].payload_length
    if want is not None and len(payload) != want:
        raise ValueError(f"SoupBinTCP {PACKETS[type_].name} has a {want}-byte payload, "
                         f"got {len(payload)}")
    if len(payload) + 1 > 0xFFFF:
        raise ValueError(f"payload of {len(payload)} bytes does not fit a SoupBinTCP packet")
    return (len(payload) + 1).to_bytes(2, "big") + type_.encode("ascii") + bytes(payload)


def _alpha(v: str, width: int, name: str, right: bool = False) -> bytes:
    raw = v.encode("ascii")
    if len(raw) > width:
        raise ValueError(f"{name} {v!r} is longer than {width} bytes")
    return raw.rjust(width, b" ") if right else raw.ljust(width, b" ")


def login_request(username: str, password: str, session: str = "",
                  sequence_number: int = 1) -> bytes:
    """Login Request: blank session = the current one; sequence 0 = the newest message."""
    return encode_packet("L", _alpha(username, 6, "username") + _alpha(password, 10, "password")
                         + _alpha(session, 10, "session", right=True)
                         + _alpha(str(sequence_number), 20, "sequence number", right=True))


def login_accepted(session: str, sequence_number: int) -> bytes:
    return encode_packet("A", _alpha(session, 10, "session", right=True)
                         + _alpha(str(sequence_number), 20, "sequence number", right=True))


def login_rejected(code: str) -> bytes:
    return encode_packet("J", _alpha(code, 1, "reject code"))


def sequenced(message: bytes) -> bytes:
    return encode_packet("S", message)


def unsequenced(message: bytes) -> bytes:
    return encode_packet("U", message)


def decode_packet(packet: SoupPacket) -> dict[str, Any]:
    """The fields of a packet: login fields as str / int, data packets' ``message`` as bytes."""
    spec = PACKETS[packet.type]
    out: dict[str, Any] = {"packet_type": packet.type, "name": spec.name}
    raw = packet.payload
    for f in spec.fields:
        chunk = raw[f.offset - HEADER_LEN:f.offset - HEADER_LEN + f.width].decode("latin-1")
        if f.kind == "numeric":
            text = chunk.strip()
            if not text.isdigit():
                raise SoupError(packet.offset + f.offset,
                                f"{spec.name} {f.name} {chunk!r} is not ASCII digits")
            out[f.name] = int(text)
        else:
            out[f.name] = chunk.strip(" ")
    if spec.payload_length is None:
        out["text" if packet.type == "+" else "message"] = (
            raw.decode("latin-1") if packet.type == "+" else raw)
    return out
