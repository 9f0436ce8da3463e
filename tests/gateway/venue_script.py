"""A small scripted SoupBinTCP/OUCH 5.0 order-entry server for the gateway's tests.

One client at a time on 127.0.0.1, served by a thread. It keeps what a venue keeps: the
sequenced messages of its one session (``log``, sequence number = index + 1) and every
inbound message it received (``received``: OUCH fields, plus ``connection``). By default it
answers like an exchange: Enter Order -> Order Accepted, Cancel -> Order Canceled, Replace ->
Order Replaced (or Rejected when the original is gone), Mass Cancel -> Mass Cancel Response
and a Canceled per live order. The test thread adds executions, unsolicited cancels and
faults:

* login: ``reject_login = "A" | "S"``; ``gap_on_login = k`` (Login Accepted k beyond what
  was asked, so k messages would be lost; ``gap_logins`` limits how many logins do it);
  ``replay_back = k`` (starts k before what was asked: the client sees duplicates);
* ``push_malformed()``: a sequenced message that is not valid OUCH;
* ``drop()``: closes the TCP connection; ``heartbeats = False``: stops Server Heartbeats;
* ``end_session()``: End of Session.
"""

from __future__ import annotations

import select
import socket
import threading
import time
from typing import Any

from tickpath.codec import ouch50, soupbintcp


class ScriptedVenue:
    def __init__(self, username: str = "TRADER", password: str = "secret",
                 session: str = "S000000001", heartbeat_s: float = 0.05,
                 auto_respond: bool = True) -> None:
        self.username, self.password, self.session = username, password, session
        self.heartbeat_s = heartbeat_s
        self.auto_respond = auto_respond
        self.heartbeats = True
        self.reject_login: str | None = None
        self.gap_on_login = 0
        self.gap_logins = 1 << 30
        self.replay_back = 0
        self.log: list[bytes] = []
        self.received: list[dict[str, Any]] = []
        self.logins: list[int] = []  # requested sequence numbers
        self.asked_sessions: list[str] = []  # requested session names ("": the current)
        self.connections = 0
        self.client_heartbeats = 0
        self.logouts = 0
        self.book: dict[int, dict[str, Any]] = {}
        self._logged_in = False
        self._next_order_ref = 1000
        self._lock = threading.RLock()
        self._conn: socket.socket | None = None
        self._listener = socket.socket()
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(4)
        self.port = self._listener.getsockname()[1]
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    # ---------------------------------------------------------------- test thread's side
    def push(self, message: bytes) -> int:
        """Append a sequenced message to the session and send it if a client is live.
        Returns its sequence number."""
        with self._lock:
            self.log.append(message)
            self._send(soupbintcp.sequenced(message))
            return len(self.log)

    def outbound(self, type_: str, **values: Any) -> int:
        return self.push(ouch50.encode("outbound", type_, timestamp=time.time_ns() % (86400 * 10**9),
                                       **values))

    def execute(self, user_ref: int, qty: int, price: int | None = None) -> int:
        with self._lock:
            o = self.book[user_ref]
            assert 0 < qty <= o["leaves"], (user_ref, qty, o)
            o["leaves"] -= qty
            o["executed"] += qty
            return self.outbound("E", user_ref_num=user_ref, quantity=qty,
                                 price=o["price"] if price is None else price,
                                 liquidity_flag="A", match_number=user_ref * 100 + o["executed"])

    def push_malformed(self) -> int:
        """An Order Accepted cut short: a valid SoupBinTCP packet, an invalid OUCH message."""
        good = ouch50.encode("outbound", "A", user_ref_num=1, side="B", quantity=1,
                             symbol="BAD", price=1, order_state="L")
        return self.push(good[:40])

    def drop(self) -> None:
        with self._lock:
            if self._conn is not None:
                self._conn.close()
                self._conn = None

    def end_session(self) -> None:
        with self._lock:
            self._send(soupbintcp.encode_packet("Z"))

    def entered(self) -> list[int]:
        """UserRefNums of every Enter Order received, in order (duplicates kept)."""
        return [m["user_ref_num"] for m in self.received if m["type"] == "O"]

    def close(self) -> None:
        self._stop.set()
        self.drop()
        self._thread.join(2)  # before the listener closes: the thread may be selecting on it
        self._listener.close()

    # ---------------------------------------------------------------- server thread
    def _send(self, data: bytes) -> None:
        if self._conn is None:
            return
        try:
            self._conn.sendall(data)
        except OSError:
            self._conn = None

    def _serve(self) -> None:
        framer = soupbintcp.SoupFramer()
        last_hb = 0.0
        while not self._stop.is_set():
            with self._lock:
                conn = self._conn
            if conn is None:
                r, _, _ = select.select([self._listener], [], [], 0.02)
                if r and not self._stop.is_set():
                    try:
                        c, _ = self._listener.accept()
                    except OSError:
                        return
                    c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
                    with self._lock:
                        self._conn, self.connections = c, self.connections + 1
                    framer = soupbintcp.SoupFramer()
                    self._logged_in = False
                continue
            try:
                r, _, _ = select.select([conn], [], [], 0.005)
            except (OSError, ValueError):
                continue
            if r:
                try:
                    data = conn.recv(65536)
                except OSError:
                    data = b""
                if not data:
                    with self._lock:
                        if self._conn is conn:
                            self._conn = None
                    conn.close()
                    continue
                for pkt in framer.feed(data):
                    self._packet(pkt)
            now = time.monotonic()
            if self.heartbeats and self._logged_in and now - last_hb >= self.heartbeat_s:
                with self._lock:
                    self._send(soupbintcp.encode_packet("H"))
                last_hb = now

    def _packet(self, pkt: soupbintcp.SoupPacket) -> None:
        with self._lock:
            if pkt.type == "L":
                f = soupbintcp.decode_packet(pkt)
                self.logins.append(f["requested_sequence_number"])
                self.asked_sessions.append(f["requested_session"])
                if self.reject_login or (f["username"], f["password"]) != (self.username,
                                                                           self.password):
                    self._send(soupbintcp.login_rejected(self.reject_login or "A"))
                    return
                if f["requested_session"] not in ("", self.session):
                    self._send(soupbintcp.login_rejected("S"))
                    return
                want = f["requested_sequence_number"] or len(self.log) + 1
                start = max(1, want - self.replay_back)
                if self.gap_on_login and self.gap_logins > 0:
                    start = want + self.gap_on_login
                    self.gap_logins -= 1
                self._send(soupbintcp.login_accepted(self.session, start))
                for m in self.log[start - 1:]:
                    self._send(soupbintcp.sequenced(m))
                self._logged_in = True
            elif pkt.type == "U":
                m = ouch50.fields(pkt.payload, "inbound")
                m["connection"] = self.connections
                self.received.append(m)
                if self.auto_respond:
                    self._respond(m)
            elif pkt.type == "R":
                self.client_heartbeats += 1
            elif pkt.type == "O":
                self.logouts += 1
                self.drop()

    def _respond(self, m: dict[str, Any]) -> None:
        t = m["type"]
        if t == "O":
            self._next_order_ref += 1
            ur = m["user_ref_num"]
            self.book[ur] = {"qty": m["quantity"], "leaves": m["quantity"], "executed": 0,
                             "price": m["price"], "side": m["side"], "symbol": m["symbol"]}
            self.outbound("A", user_ref_num=ur, side=m["side"], quantity=m["quantity"],
                          symbol=m["symbol"], price=m["price"],
                          time_in_force=m["time_in_force"], display=m["display"],
                          order_reference_number=self._next_order_ref,
                          capacity=m["capacity"], order_state="L",
                          cl_ord_id=m["cl_ord_id"])
        elif t == "X":
            o = self.book.get(m["user_ref_num"])
            if o is not None and o["leaves"] > m["quantity"]:
                dec = o["leaves"] - m["quantity"]
                o["leaves"] -= dec
                self.outbound("C", user_ref_num=m["user_ref_num"], quantity=dec, reason="U")
        elif t == "U":
            orig, ur = m["orig_user_ref_num"], m["user_ref_num"]
            o = self.book.get(orig)
            if o is None or o["leaves"] == 0:
                self.outbound("J", user_ref_num=ur, reason=0x15)
                return
            left = max(0, m["quantity"] - o["executed"])
            self.book[ur] = dict(o, qty=m["quantity"], leaves=left, price=m["price"])
            o["leaves"] = 0
            self._next_order_ref += 1
            self.outbound("U", orig_user_ref_num=orig, user_ref_num=ur, side=o["side"],
                          quantity=left, symbol=o["symbol"], price=m["price"],
                          time_in_force=m["time_in_force"], display=m["display"],
                          order_reference_number=self._next_order_ref,
                          order_state="L" if left else "D", cl_ord_id=m["cl_ord_id"])
        elif t == "C":
            self.outbound("X", user_ref_num=m["user_ref_num"], firm=m["firm"],
                          symbol=m["symbol"])
            for ur, o in self.book.items():
                if o["leaves"] and (m["symbol"].strip() in ("", o["symbol"].strip())):
                    dec, o["leaves"] = o["leaves"], 0
                    self.outbound("C", user_ref_num=ur, quantity=dec, reason="U")
