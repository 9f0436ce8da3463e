"""Inputs the fuzz targets share: a valid ITCH stream to mutate, and a byte reader that turns
the fuzzer's bytes into choices (so atheris and hypothesis drive the same targets)."""

from __future__ import annotations

from tickpath.codec.itch50.message import encode


class Choices:
    """Read small choices off the front of ``data``; past its end every choice is 0."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        self.pos = 0

    def byte(self) -> int:
        if self.pos >= len(self.data):
            return 0
        b = self.data[self.pos]
        self.pos += 1
        return b

    def below(self, n: int) -> int:
        return (self.byte() << 8 | self.byte()) % n if n > 1 else 0

    def rest(self) -> bytes:
        out = self.data[self.pos:]
        self.pos = len(self.data)
        return out


def _block(msg: bytes) -> bytes:
    return len(msg).to_bytes(2, "big") + msg


#: A short valid day: directory, orders added, executed, cancelled, replaced and deleted,
#: a trade, each type of the book path at least once.
VALID = b"".join(_block(m) for m in (
    encode("S", event_code="O", timestamp=1),
    encode("R", stock_locate=1, stock="AAPL", timestamp=2),
    encode("R", stock_locate=2, stock="MSFT", timestamp=3),
    encode("A", stock_locate=1, order_reference_number=1, buy_sell_indicator="B", shares=100,
           stock="AAPL", price=1000, timestamp=4),
    encode("F", stock_locate=1, order_reference_number=2, buy_sell_indicator="S", shares=50,
           stock="AAPL", price=1010, attribution="GSCO", timestamp=5),
    encode("A", stock_locate=2, order_reference_number=3, buy_sell_indicator="B", shares=10,
           stock="MSFT", price=999, timestamp=6),
    encode("E", stock_locate=1, order_reference_number=1, executed_shares=30, match_number=1,
           timestamp=7),
    encode("X", stock_locate=1, order_reference_number=2, cancelled_shares=10, timestamp=8),
    encode("U", stock_locate=1, original_order_reference_number=1,
           new_order_reference_number=4, shares=70, price=1001, timestamp=9),
    encode("C", stock_locate=1, order_reference_number=4, executed_shares=5, match_number=2,
           printable="Y", execution_price=1001, timestamp=10),
    encode("P", stock_locate=2, order_reference_number=0, buy_sell_indicator="B", shares=5,
           stock="MSFT", price=998, match_number=3, timestamp=11),
    encode("D", stock_locate=2, order_reference_number=3, timestamp=12),
    encode("I", stock_locate=2, paired_shares=1, imbalance_shares=2, stock="MSFT",
           timestamp=13),
))


def mutated_stream(c: Choices, copies: int = 4) -> bytes:
    """``copies`` of the valid day with a few byte edits, cuts and splices from ``c``."""
    data = bytearray(VALID * copies)
    for _ in range(c.byte() % 6):
        what = c.byte() % 4
        at = c.below(len(data) + 1)
        if what == 0 and data:  # overwrite a byte
            data[min(at, len(data) - 1)] = c.byte()
        elif what == 1:  # insert junk
            n = c.byte() % 40
            data[at:at] = bytes(c.byte() for _ in range(n))
        elif what == 2:  # delete a run
            del data[at:at + c.byte() % 40]
        else:  # a zero length (BinaryFILE's end-of-session marker) somewhere
            data[at:at] = b"\x00\x00"
    return bytes(data)
