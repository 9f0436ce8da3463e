"""A plain-Python receiver of the futures venue's MDP 3.0 stream, for tests.

Packets are decoded with the project's pure-Python SBE decoder
(:func:`tickpath.codec.mdp3.packet.decode_packet`), then applied to dict books the way CME
specifies them, asserting every rule on the way: a New at level k pushes the levels below
down and the 11th falls off, a Change or Delete names a level holding that price, an order
entry of template 46 refers to an entry of its message and takes its price and side, an
order entry of template 47 lies below the top 10, every fill of a trade takes the oldest
orders at its price, RptSeq runs 1, 2, 3 ... per instrument, and after every message the
depth book equals the top ten levels aggregated from the orders.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from tickpath.codec.mdp3 import schema_v13 as S
from tickpath.codec.mdp3.packet import decode_packet

DEPTH = 10
SIDE = {"Bid": 0, "Offer": 1}


def decode_day(packets: list[tuple[int, bytes]]) -> list[tuple[int, dict[str, Any]]]:
    """Every packet decoded: ``(kind, {"msg_seq_num", "sending_time", "messages", ...})``;
    refuses unknown templates and other schemas."""
    out = []
    for kind, payload in packets:
        d = decode_packet(S, payload)
        assert not d["unknown"] and not d["foreign"], d
        out.append((kind, d))
    return out


class Model:
    """Depth-10 books, order books and RptSeq per SecurityID, from incremental messages."""

    def __init__(self) -> None:
        self.depth: dict[int, tuple[list, list]] = defaultdict(lambda: ([], []))
        self.orders: dict[int, list] = {}  # OrderID -> [sid, side, price, qty, priority]
        self.agg: dict[tuple[int, int], dict[int, list[int]]] = defaultdict(dict)
        self.rpt: dict[int, int] = defaultdict(int)
        self.trades = 0
        self.fills = 0

    # -- orders ---------------------------------------------------------------------

    def _level(self, sid: int, side: int, px: int, dq: int, dn: int) -> None:
        lv = self.agg[sid, side]
        q = lv.setdefault(px, [0, 0])
        q[0] += dq
        q[1] += dn
        assert q[0] >= 0 and q[1] >= 0
        if q[1] == 0:
            assert q[0] == 0
            del lv[px]

    def order(self, action: str, oid: int, sid: int, side: int, px: int, qty: int,
              prio: int) -> None:
        if action == "New":
            assert oid not in self.orders, f"order {oid} is already live"
            assert qty > 0
            self.orders[oid] = [sid, side, px, qty, prio]
            self._level(sid, side, px, qty, 1)
            return
        o = self.orders.get(oid)
        assert o is not None, f"order {oid} is not live"
        assert o[:3] == [sid, side, px], f"order {oid} is {o[:3]}, the entry says {sid, side, px}"
        assert prio == o[4], "an order keeps its priority until it moves"
        if action in ("Update", "Change"):
            assert 0 < qty < o[3], "an update cuts the quantity"
            self._level(sid, side, px, qty - o[3], 0)
            o[3] = qty
        else:
            assert action == "Delete", action
            self._level(sid, side, px, -o[3], -1)
            del self.orders[oid]

    def top(self, sid: int, side: int) -> list[list[int]]:
        lv = self.agg[sid, side]
        prices = sorted(lv, reverse=side == 0)[:DEPTH]
        return [[p, lv[p][0], lv[p][1]] for p in prices]

    def resting(self, sid: int) -> list[dict[str, int]]:
        """The instrument's orders in book order (bids best first, then offers)."""
        mine = [(oid, o) for oid, o in self.orders.items() if o[0] == sid]
        mine.sort(key=lambda t: (t[1][1], -t[1][2] if t[1][1] == 0 else t[1][2], t[1][4]))
        return [{"order_id": oid, "priority": o[4], "price": o[2], "qty": o[3], "side": o[1]}
                for oid, o in mine]

    # -- messages -------------------------------------------------------------------

    def _rpt(self, e: dict[str, Any]) -> None:
        sid = e["SecurityID"]
        assert e["RptSeq"] == self.rpt[sid] + 1, (sid, e["RptSeq"], self.rpt[sid])
        self.rpt[sid] = e["RptSeq"]

    def book46(self, m: dict[str, Any]) -> None:
        entries = m["NoMDEntries"]
        assert entries, "a book message with no entry"
        touched = set()
        for e in entries:
            self._rpt(e)
            sid, side = e["SecurityID"], SIDE[e["MDEntryType"]]
            touched.add(sid)
            lv = self.depth[sid][side]
            k = e["MDPriceLevel"] - 1
            px = e["MDEntryPx"].mantissa
            act = e["MDUpdateAction"]
            assert 0 <= k < DEPTH
            if act == "New":
                assert k <= len(lv), f"New at level {k + 1} leaves a hole ({len(lv)} levels)"
                assert e["MDEntrySize"] > 0 and e["NumberOfOrders"] > 0
                lv.insert(k, [px, e["MDEntrySize"], e["NumberOfOrders"]])
                del lv[DEPTH:]
            elif act == "Change":
                assert k < len(lv) and lv[k][0] == px
                lv[k][1:] = [e["MDEntrySize"], e["NumberOfOrders"]]
            else:
                assert act == "Delete", act
                assert k < len(lv) and lv[k][0] == px
                del lv[k]
        for oe in m["NoOrderIDEntries"]:
            e = entries[oe["ReferenceID"] - 1]
            self.order(oe["OrderUpdateAction"], oe["OrderID"], e["SecurityID"],
                       SIDE[e["MDEntryType"]], e["MDEntryPx"].mantissa, oe["MDDisplayQty"],
                       oe["MDOrderPriority"])
        self._consistent(touched)

    def order_book47(self, m: dict[str, Any]) -> None:
        touched = set()
        for e in m["NoMDEntries"]:
            sid, side, px = e["SecurityID"], SIDE[e["MDEntryType"]], e["MDEntryPx"].mantissa
            touched.add(sid)
            lv = self.depth[sid][side]
            # an order entry alone is one below the published top 10
            assert len(lv) == DEPTH and (px < lv[-1][0] if side == 0 else px > lv[-1][0]), \
                f"template 47 for a price inside the top 10 ({px})"
            self.order(e["MDUpdateAction"], e["OrderID"], sid, side, px, e["MDDisplayQty"],
                       e["MDOrderPriority"])
        self._consistent(touched)

    def trade48(self, m: dict[str, Any]) -> None:
        fills = m["NoOrderIDEntries"]
        k = 0
        for e in m["NoMDEntries"]:
            self._rpt(e)
            self.trades += 1
            sid, px, size = e["SecurityID"], e["MDEntryPx"].mantissa, e["MDEntrySize"]
            n = e["NumberOfOrders"]
            mine = fills[k:k + n]
            k += n
            assert mine[0]["LastQty"] == size, "the aggressor's fill is the trade's size"
            resting = mine[1:]
            assert sum(f["LastQty"] for f in resting) == size
            passive = 1 if e["AggressorSide"] == "Buy" else 0
            queue = sorted((o[4], oid) for oid, o in self.orders.items()
                           if o[0] == sid and o[1] == passive and o[2] == px)
            oldest = [oid for _, oid in queue[:len(resting)]]
            assert [f["OrderID"] for f in resting] == oldest, "fills take the oldest orders"
            for f in resting[:-1]:
                assert f["LastQty"] == self.orders[f["OrderID"]][3], "all but the last fill whole"
            self.fills += len(resting)
        assert k == len(fills)

    def _consistent(self, sids) -> None:
        for sid in sids:
            for side in (0, 1):
                assert self.depth[sid][side] == self.top(sid, side), \
                    f"security {sid} side {side}: depth book != top of the order book"

    def apply(self, d: dict[str, Any]) -> None:
        """An incremental packet."""
        for m in d["messages"]:
            t = m["header"]["templateId"]
            if t == 46:
                self.book46(m)
            elif t == 47:
                self.order_book47(m)
            elif t == 48:
                self.trade48(m)
            else:
                assert t in (30, 54), t

    def books(self, specs) -> list[dict[str, Any]]:
        return [{"security_id": s.security_id, "symbol": s.symbol,
                 "bids": self.depth[s.security_id][0], "asks": self.depth[s.security_id][1]}
                for s in specs]
