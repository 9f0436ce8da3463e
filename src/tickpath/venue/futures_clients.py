"""Client orders in the futures books: the slot kernels both the generated flow (its
marketable orders fill client orders) and order entry (:mod:`.futures_orders`) use.

A client order is an order of the futures pool beyond the generated flow's region: client
slot ``c`` is ``orders[live.shape[0] + c]``, its owner and OUCH details in ``clients[c]``
(``records.CLIENT_DTYPE``; ``owner`` -1 when free). It is queued in the same price levels as
the generated orders (price-time priority across both) and counted in the side's
``n_bid`` / ``n_ask``, but it is not in the ``live`` list, so the generated flow never picks
it to cancel, cut or move. The client scalars are the equities' (``records.C_*``) plus
``C_STOP``.
"""

from __future__ import annotations

import numpy as np

from ..codec.ouch50.encode_out import encode_order_executed
from .futures_book import kernel, reduce_order, take_off
from .matching import OUT_ENTRY_MAX, out_close, out_open
from .records import C_EXECUTIONS, C_FREE, C_LIVE, C_NOW, N_CSCAL

#: why the last client match stopped early (0: it did not; else an OUCH cancel reason)
C_STOP = N_CSCAL
#: MDP3 messages written for client actions
C_MD_MSGS = N_CSCAL + 1
N_FUT_CSCAL = N_CSCAL + 2
#: outbox bytes one step of the generated flow may need (an Executed per resting fill)
STEP_OUT_ROOM = 20 * OUT_ENTRY_MAX

ADDED, REMOVED = ord("A"), ord("R")  # OUCH Liquidity Flag


@kernel
def out_executed(outbox, cscal, account, urn, qty, price, liquidity, match):
    """Order Executed (OUCH 'E') to ``account``'s order ``urn``."""
    at = out_open(outbox, cscal, account)
    end = encode_order_executed(outbox, at, cscal[C_NOW], np.uint64(urn), qty, price,
                                liquidity, match)
    out_close(outbox, cscal, at, end)


@kernel
def free_slot(clients, cscal, c):
    """Client slot ``c`` back on the free list."""
    cl = clients[c]
    cl["owner"] = -1
    cl["next_free"] = cscal[C_FREE]
    cscal[C_FREE] = c
    cscal[C_LIVE] -= 1


@kernel
def fill_resting(inst, levels, orders, nlv, clients, cscal, outbox, pool, i, o, take, px,
                 trade_id):
    """Resting client order ``o`` filled ``take`` at ``px`` (PRICE9) by trade ``trade_id``:
    Order Executed to its owner, the order reduced, or taken off and its slot freed. Returns
    True when it left the book."""
    c = o - pool
    cl = clients[c]
    out_executed(outbox, cscal, cl["owner"], cl["user_ref_num"], take, px // inst[i]["ouch_px"],
                 ADDED, trade_id)
    cscal[C_EXECUTIONS] += 1
    cl["executed"] += take
    if take == orders[o]["qty"]:
        take_off(inst, levels, orders, nlv, i, o)
        free_slot(clients, cscal, c)
        return True
    reduce_order(levels, orders, i, o, take)
    return False
