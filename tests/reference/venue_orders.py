"""A plain-Python model of client orders in the venue's books (docs/venue-orders.md), written
from the rules, not from the kernels: lists for FIFO queues, dicts for orders. It predicts
the ITCH events and the OUCH messages of each inbound request, and follows the generated flow
from its ITCH events (predicting the Order Executed a client order gets when it is filled)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

TICK = 100
MAX_QTY = 999_999
MARKET_FROM = 2_000_000_000
MAX_FILLS = 256


@dataclass
class Order:
    ref: int
    buy: bool
    shares: int
    index: int
    inst: int
    owner: int | None = None  # None: generated flow
    urn: int = 0
    side: str = "B"
    executed: int = 0


@dataclass
class RefVenue:
    symbols: list[str]  # instrument index -> symbol
    lo: list[int]
    nlev: int
    next_ref: int
    next_match: int
    slots: int
    # (inst, index) -> FIFO of orders; every order by reference
    queues: dict[tuple[int, int], list[Order]] = field(default_factory=dict)
    by_ref: dict[int, Order] = field(default_factory=dict)
    last_urn: dict[int, int] = field(default_factory=dict)
    itch: list[tuple] = field(default_factory=list)
    ouch: list[tuple[int, dict[str, Any]]] = field(default_factory=list)

    # ------------------------------------------------------------------ the book

    def rest(self, o: Order) -> None:
        self.queues.setdefault((o.inst, o.index), []).append(o)
        self.by_ref[o.ref] = o

    def remove(self, o: Order) -> None:
        self.queues[(o.inst, o.index)].remove(o)
        del self.by_ref[o.ref]

    def best(self, inst: int, buy_side: bool) -> int | None:
        idx = [j for (i, j), q in self.queues.items() if i == inst and q and q[0].buy == buy_side]
        if not idx:
            return None
        return max(idx) if buy_side else min(idx)

    def client(self, account: int, urn: int) -> Order | None:
        for o in self.by_ref.values():
            if o.owner == account and o.urn == urn:
                return o
        return None

    def live_clients(self) -> int:
        return sum(o.owner is not None for o in self.by_ref.values())

    def price(self, inst: int, j: int) -> int:
        return self.lo[inst] + j * TICK

    # ------------------------------------------------------------------ requests

    def _owe(self, account: int, **msg: Any) -> None:
        self.ouch.append((account, msg))

    def _fresh_urn(self, account: int, urn: int) -> bool:
        return urn > self.last_urn.get(account, 0)

    def _reason(self, side: str, inst: int | None, qty: int, tif: str, display: str, iso: str,
                cross: str) -> int:
        if side not in "BSTE" or len(side) != 1:
            return 0x09
        if inst is None:
            return 0x17
        if not 0 < qty <= MAX_QTY:
            return 0x13
        if tif not in ("0", "3"):
            return 0x0F
        if display != "Y":
            return 0x03
        if iso != "N":
            return 0x08
        if cross != "N":
            return 0x14
        return 0

    def _index(self, inst: int, price: int, buy: bool) -> tuple[int | None, bool]:
        if price >= MARKET_FROM:
            return (self.nlev - 1 if buy else 0), True
        d = price - self.lo[inst]
        if d < 0 or d % TICK or d // TICK >= self.nlev:
            return None, False
        return d // TICK, False

    def enter(self, account: int, m: dict[str, Any]) -> None:
        urn = m["user_ref_num"]
        if not self._fresh_urn(account, urn):
            return
        self.last_urn[account] = urn
        sym = m["symbol"].strip()
        inst = self.symbols.index(sym) if sym in self.symbols else None
        reason = self._reason(m["side"], inst, m["quantity"], m["time_in_force"], m["display"],
                              m["intermarket_sweep_eligibility"], m["cross_type"])
        j, market = (None, False)
        if not reason:
            j, market = self._index(inst, m["price"], m["side"] == "B")
            if j is None:
                reason = 0x1D
            elif self.live_clients() >= self.slots:
                reason = 0x0F
        if reason:
            self._owe(account, type="J", user_ref_num=urn, reason=reason,
                      cl_ord_id=m["cl_ord_id"])
            return
        tif = "3" if market else m["time_in_force"]
        ref = self.next_ref
        self.next_ref += 1
        self._owe(account, type="A", user_ref_num=urn, side=m["side"], quantity=m["quantity"],
                  symbol=sym.ljust(8), price=self.price(inst, j), time_in_force=tif,
                  order_reference_number=ref, order_state="L", cl_ord_id=m["cl_ord_id"])
        self._place(account, urn, m["side"], inst, j, m["quantity"], 0, ref, tif, None)

    def _marketable(self, inst: int, buy: bool, j: int) -> bool:
        opp = self.best(inst, not buy)
        return opp is not None and (opp <= j if buy else opp >= j)

    def _place(self, account: int, urn: int, side: str, inst: int, j: int, qty: int,
               executed: int, ref: int, tif: str, old_ref: int | None) -> None:
        buy = side == "B"
        if old_ref is not None and (self._marketable(inst, buy, j) or tif == "3"):
            self.itch.append(("D", old_ref))
            old_ref = None
        left, fills, stop = qty, 0, None
        while left and self._marketable(inst, buy, j):
            jj = self.best(inst, not buy)
            head = self.queues[(inst, jj)][0]
            if head.owner == account:
                stop = "Q"
                break
            if fills >= MAX_FILLS:
                stop = "Z"
                break
            take = min(left, head.shares)
            match = self.next_match
            self.next_match += 1
            px = self.price(inst, jj)
            self.itch.append(("E", head.ref, take, match))
            self._fill_resting(head, take, px, match)
            self._owe(account, type="E", user_ref_num=urn, quantity=take, price=px,
                      liquidity_flag="R", match_number=match)
            left -= take
            executed += take
            fills += 1
        if not left:
            return
        if stop or tif == "3":
            self._owe(account, type="C", user_ref_num=urn, quantity=left,
                      reason=stop or "I")
            return
        o = Order(ref, buy, left, j, inst, account, urn, side, executed)
        self.rest(o)
        if old_ref is not None:
            self.itch.append(("U", old_ref, ref, left, self.price(inst, j)))
        else:
            self.itch.append(("A", ref, "B" if buy else "S", left, self.price(inst, j)))

    def _fill_resting(self, o: Order, take: int, px: int, match: int) -> None:
        if o.owner is not None:
            o.executed += take
            self._owe(o.owner, type="E", user_ref_num=o.urn, quantity=take, price=px,
                      liquidity_flag="A", match_number=match)
        o.shares -= take
        if o.shares == 0:
            self.remove(o)

    def cancel(self, account: int, m: dict[str, Any]) -> None:
        o = self.client(account, m["user_ref_num"])
        if o is None or m["quantity"] >= o.shares:
            return
        dec = o.shares - m["quantity"]
        if m["quantity"] == 0:
            self.itch.append(("D", o.ref))
            self.remove(o)
        else:
            self.itch.append(("X", o.ref, dec))
            o.shares = m["quantity"]
        self._owe(account, type="C", user_ref_num=o.urn, quantity=dec, reason="U")

    def replace(self, account: int, m: dict[str, Any]) -> None:
        o = self.client(account, m["orig_user_ref_num"])
        urn = m["user_ref_num"]
        if o is None or not self._fresh_urn(account, urn):
            return
        reason = self._reason(o.side, o.inst, m["quantity"], m["time_in_force"], m["display"],
                              m["intermarket_sweep_eligibility"], "N")
        j, market = self._index(o.inst, m["price"], o.buy)
        if reason or j is None:
            self.itch.append(("D", o.ref))
            self.remove(o)
            self._owe(account, type="C", user_ref_num=o.urn, quantity=o.shares, reason="Z")
            return
        self.last_urn[account] = urn
        tif = "3" if market else m["time_in_force"]
        new_open = m["quantity"] - o.executed
        ref = self.next_ref
        self.next_ref += 1
        self.remove(o)
        self._owe(account, type="U", orig_user_ref_num=o.urn, user_ref_num=urn, side=o.side,
                  quantity=max(new_open, 0), price=self.price(o.inst, j), time_in_force=tif,
                  order_reference_number=ref, order_state="L" if new_open > 0 else "D",
                  cl_ord_id=m["cl_ord_id"])
        if new_open <= 0:
            self.itch.append(("D", o.ref))
            return
        self._place(account, urn, o.side, o.inst, j, new_open, o.executed, ref, tif, o.ref)

    def mass_cancel(self, account: int, m: dict[str, Any]) -> None:
        urn = m["user_ref_num"]
        if not self._fresh_urn(account, urn):
            return
        self.last_urn[account] = urn
        sym = m["symbol"].strip()
        for o in sorted(self.by_ref.values(), key=lambda o: o.ref):
            if o.owner == account and (not sym or self.symbols[o.inst] == sym):
                self.itch.append(("D", o.ref))
                self._owe(account, type="C", user_ref_num=o.urn, quantity=o.shares, reason="U")
                self.remove(o)
        self._owe(account, type="X", user_ref_num=urn, firm=m["firm"], symbol=m["symbol"])

    def account_query(self, account: int) -> None:
        self._owe(account, type="Q", next_user_ref_num=self.last_urn.get(account, 0) + 1)

    # ------------------------------------------------------------------ the generated flow

    def follow(self, ev: dict[str, Any], inst: int) -> None:
        """Apply one generated ITCH event (as decoded) to the model's books."""
        t = ev["type"]
        if t in "AF":
            j = (ev["price"] - self.lo[inst]) // TICK
            self.rest(Order(ev["ref"], ev["side"] == "B", ev["shares"], j, inst))
            self.next_ref = max(self.next_ref, ev["ref"] + 1)
        elif t in "EC":
            o = self.by_ref[ev["ref"]]
            self._fill_resting(o, ev["shares"], self.price(inst, o.index), ev["match"])
        elif t == "X":
            self.by_ref[ev["ref"]].shares -= ev["shares"]
        elif t == "D":
            self.remove(self.by_ref[ev["ref"]])
        elif t == "U":
            old = self.by_ref[ev["ref"]]
            self.remove(old)
            j = (ev["price"] - self.lo[inst]) // TICK
            self.rest(Order(ev["new_ref"], old.buy, ev["shares"], j, inst))
            self.next_ref = max(self.next_ref, ev["new_ref"] + 1)
        if ev.get("match"):
            self.next_match = max(self.next_match, ev["match"] + 1)
