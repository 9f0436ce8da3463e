"""The compiled outbound OUCH 5.0 encoders round-trip through the plain-Python view
(``message.fields``), the Python encoder (``message.encode``), and the compiled stream decoder
(``decode_stream`` via ``OutboundDecoder``)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from tickpath.codec import ouch50, soupbintcp
from tickpath.codec.ouch50 import encode_out as eo

u32 = st.integers(0, 2**32 - 1)
u64 = st.integers(0, 2**63 - 1)
ts = st.integers(0, 86_400 * 10**9 - 1)
alpha1 = st.sampled_from(b"BSTEYNAL0356DU")
sym = st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ", min_size=1, max_size=8)
clord = st.text("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 ", min_size=0, max_size=14)


def _one(buf: np.ndarray, end: int) -> tuple[bytes, np.void]:
    msg = bytes(buf[:end])
    # through the compiled stream decoder as the client sees it
    dec = ouch50.OutboundDecoder()
    rec, = dec.feed(soupbintcp.sequenced(msg))
    assert rec["length"] == len(msg)
    return msg, rec


def _clord(text: str) -> np.ndarray:
    return ouch50.cl_ord_id_bytes(text)


@settings(max_examples=60, deadline=None)
@given(t=ts, urn=u32, side=alpha1, qty=u32, s=sym, price=u64, tif=alpha1, disp=alpha1,
       ref=u64, cap=alpha1, iso=alpha1, cross=alpha1, state=alpha1, c=clord)
def test_accepted_and_replaced(t, urn, side, qty, s, price, tif, disp, ref, cap, iso, cross,
                               state, c):
    buf = np.zeros(128, np.uint8)
    src = np.concatenate([np.zeros(5, np.uint8), _clord(c)])
    end = eo.encode_order_accepted(buf, 0, t, urn, side, qty, ouch50.symbol_code(s), price,
                                   tif, disp, ref, cap, iso, cross, state, src, 5)
    assert end == eo.ORDER_ACCEPTED_LEN
    msg, rec = _one(buf, end)
    values = dict(timestamp=t, user_ref_num=urn, side=chr(side), quantity=qty,
                  symbol=s.ljust(8), price=price, time_in_force=chr(tif), display=chr(disp),
                  order_reference_number=ref, capacity=chr(cap),
                  intermarket_sweep_eligibility=chr(iso), cross_type=chr(cross),
                  order_state=chr(state), cl_ord_id=c.ljust(14))
    assert ouch50.fields(msg, "outbound") == {"type": "A", **values, "appendage_length": 0,
                                              "options": {}}
    assert ouch50.encode("outbound", "A", **values) == msg
    assert (rec["user_ref_num"], rec["quantity"], rec["price"]) == (urn, qty, price)
    assert rec["order_reference_number"] == ref and rec["symbol"] == ouch50.symbol_code(s)
    assert bytes(rec["cl_ord_id"]) == c.ljust(14).encode()

    end = eo.encode_order_replaced(buf, 0, t, urn ^ 1, urn, side, qty, ouch50.symbol_code(s),
                                   price, tif, disp, ref, cap, iso, cross, state, src, 5)
    assert end == eo.ORDER_REPLACED_LEN
    msg, rec = _one(buf, end)
    assert ouch50.fields(msg, "outbound") == {"type": "U", "orig_user_ref_num": urn ^ 1,
                                              **values, "appendage_length": 0, "options": {}}
    assert rec["orig_user_ref_num"] == urn ^ 1 and rec["user_ref_num"] == urn


@settings(max_examples=60, deadline=None)
@given(t=ts, urn=u32, qty=u32, price=u64, liq=alpha1, match=u64, reason=alpha1,
       app=st.booleans(), code=st.integers(0, 0xFFFF), c=clord, firm=st.text("ABCZ", max_size=4),
       s=sym)
def test_the_short_messages(t, urn, qty, price, liq, match, reason, app, code, c, firm, s):
    buf = np.zeros(64, np.uint8)
    end = eo.encode_order_executed(buf, 0, t, urn, qty, price, liq, match)
    msg, rec = _one(buf, end)
    assert ouch50.fields(msg, "outbound") == {
        "type": "E", "timestamp": t, "user_ref_num": urn, "quantity": qty, "price": price,
        "liquidity_flag": chr(liq), "match_number": match, "appendage_length": 0, "options": {}}
    assert rec["match_number"] == match and rec["liquidity_flag"] == liq

    end = eo.encode_order_canceled(buf, 0, t, urn, qty, reason, app)
    msg, rec = _one(buf, end)
    want = {"type": "C", "timestamp": t, "user_ref_num": urn, "quantity": qty,
            "reason": chr(reason)}
    if app:
        want.update(appendage_length=0, options={})
    assert ouch50.fields(msg, "outbound") == want
    assert rec["reason"] == reason and rec["quantity"] == qty

    end = eo.encode_rejected(buf, 0, t, urn, code, _clord(c), 0)
    msg, rec = _one(buf, end)
    assert ouch50.fields(msg, "outbound") == {
        "type": "J", "timestamp": t, "user_ref_num": urn, "reason": code,
        "cl_ord_id": c.ljust(14), "appendage_length": 0, "options": {}}
    assert rec["reason"] == code

    end = eo.encode_mass_cancel_response(buf, 0, t, urn,
                                         int.from_bytes(firm.ljust(4).encode(), "big"),
                                         ouch50.symbol_code(s))
    msg, rec = _one(buf, end)
    assert ouch50.fields(msg, "outbound") == {
        "type": "X", "timestamp": t, "user_ref_num": urn, "firm": firm.ljust(4),
        "symbol": s.ljust(8), "appendage_length": 0, "options": {}}

    end = eo.encode_system_event(buf, 0, t, ord("S"))
    msg, rec = _one(buf, end)
    assert ouch50.fields(msg, "outbound") == {"type": "S", "timestamp": t, "event_code": "S"}
    assert rec["event_code"] == ord("S")

    end = eo.encode_account_query_response(buf, 0, t, urn)
    msg, rec = _one(buf, end)
    assert ouch50.fields(msg, "outbound")["next_user_ref_num"] == urn

    end = eo.encode_cancel_pending(buf, 0, t, urn)
    msg, rec = _one(buf, end)
    assert ouch50.fields(msg, "outbound") == {"type": "P", "timestamp": t, "user_ref_num": urn,
                                              "appendage_length": 0, "options": {}}
