"""A small blocking SoupBinTCP/OUCH 5.0 client for the order-entry tests, and a pump that
turns the venue's duty cycle until the client has what it waits for."""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from typing import Any

from tickpath.codec import ouch50, soupbintcp

#: a guard against a hung test, never an assertion on time
GUARD_S = 10.0


class SoupClient:
    def __init__(self, port: int, host: str = "127.0.0.1") -> None:
        self.sock = socket.create_connection((host, port), timeout=GUARD_S)
        self.sock.setblocking(False)
        self.framer = soupbintcp.SoupFramer()
        self.packets: list[soupbintcp.SoupPacket] = []
        self.closed = False
        self.raw = bytearray()  # every byte received

    def send(self, data: bytes) -> None:
        self.sock.setblocking(True)
        self.sock.sendall(data)
        self.sock.setblocking(False)

    def login(self, user: str, password: str, session: str = "", seq: int = 1) -> None:
        self.send(soupbintcp.login_request(user, password, session, seq))

    def order(self, type_: str, **fields: Any) -> None:
        self.send(soupbintcp.unsequenced(ouch50.encode("inbound", type_, **fields)))

    def read(self) -> int:
        got = 0
        while not self.closed:
            try:
                data = self.sock.recv(65536)
            except (BlockingIOError, InterruptedError):
                break
            except OSError:
                self.closed = True
                break
            if not data:
                self.closed = True
                break
            self.raw += data
            self.packets += self.framer.feed(data)
            got += len(data)
        return got

    def messages(self) -> list[dict[str, Any]]:
        """The OUCH fields of every Sequenced Data packet so far."""
        return [ouch50.fields(p.payload, "outbound") for p in self.packets if p.type == "S"]

    def types(self) -> str:
        return "".join(p.type for p in self.packets)

    def close(self) -> None:
        self.sock.close()


def pump(turn: Callable[[], Any], clients: list[SoupClient], until: Callable[[], bool],
         guard_s: float = GUARD_S) -> None:
    """Turn the venue and read the clients until ``until()``; fail after ``guard_s``."""
    end = time.monotonic() + guard_s
    while not until():
        if time.monotonic() > end:
            raise AssertionError("the awaited packets did not arrive "
                                 f"(clients saw {[c.types() for c in clients]})")
        turn()
        for c in clients:
            c.read()
        time.sleep(0.0005)


def enter(client: SoupClient, urn: int, side: str, qty: int, symbol: str, price: int,
          tif: str = "0", clord: str | None = None) -> None:
    client.order("O", user_ref_num=urn, side=side, quantity=qty, symbol=symbol, price=price,
                 time_in_force=tif, display="Y", capacity="A",
                 intermarket_sweep_eligibility="N", cross_type="N",
                 cl_ord_id=clord if clord is not None else f"C{urn}")
