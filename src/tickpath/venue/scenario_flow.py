"""The scenario venue's two days in step: one compiled call that runs the equity engine
(``matching.generate``, its ITCH written for the live feed) and the futures flow
(``futures_flow.run``, its MDP 3.0 written into the live packet stream) alternately over a
grid of session-clock points, so the index future's fair value is always read from the
equity books as the published ITCH leaves them.

Both engines stop before a step whose clock would pass a limit and draw that step again
once the limit allows it (``records.SC_LIMIT``, ``futures_records.S_CLOCK_LIMIT``), so the
grid decides nothing about either stream: the equities run up to the next grid point, then
the futures, which read the basket from the equity state then (never running the equity
engine themselves: ``FuturesSimulator(drive_equities=False)``), then the grid moves on by
``sync[SY_STEP]`` ns. A futures step at clock t therefore sees every equity step up to the
first grid point at or after t, and none after it; the grid is fixed in session time, so
the two streams are the same whatever the call sizes, the pacing or the wall clock.

The call returns to its owner (``venue.scenario``) after ``most`` equity messages (whole
steps), or early when either side is short of room (the ITCH buffer, either client outbox,
the MDP3 packet buffer: the owner sends, drains and calls again) or the equity day is spent.
"""

from __future__ import annotations

import numpy as np

from .futures_flow import run
from .futures_records import S_CLOCK_LIMIT, S_HELD, S_PHASE
from .matching import generate, kernel
from .records import SC_HELD, SC_LIMIT

#: ``sync`` (int64): the next grid point (session clock, ns since midnight) and the step.
SY_NEXT = 0
SY_STEP = 1
N_SY = 2

#: the futures flow's message cap per call: none (the grid and the buffers bound it). Passed
#: as np.int64: a constant is typed as a literal, and ``run`` (compiled for the int64 its
#: Python owner passes) would be compiled again for it
_NO_CAP = 1 << 62


@kernel
def advance(eq_inst, eq_levels, eq_orders, eq_live, eq_cdf, eq_params, eq_mpids, eq_scal,
            eq_rng, eq_counts, eq_events, eq_clients, eq_cscal, eq_outbox, scenario, itch,
            most,
            inst, levels, orders, live, nlv, pub, pub_n, cdf, params, scal, fl, rng, md, oe,
            ops, trades, fills, stg, tcount, trace, names, defs, def_len, last_update,
            r_inst, r_levels, r_orders, r_live, r_cdf, r_params, r_mpids, r_scal, r_rng,
            r_counts, r_events, r_buf, basket, weights,
            buf, bounds, kinds, counts, pw, max_payload, loop_bytes, loop_packets, clients,
            cscal, outbox, sync):
    """Run both days from where they stand: equity steps (length-prefixed ITCH blocks into
    ``itch`` from offset 0) up to the next grid point, then futures steps (into the packet
    stream ``buf``/``bounds``/``kinds``/``counts``/``pw``) up to the same point, then the
    next grid point, until about ``most`` equity messages are written or a side is short of
    room. ``eq_*`` and ``scenario``: the equity engine as ``matching.generate`` takes it;
    the futures' arguments as ``futures_flow.run`` takes them, ``r_*`` being the equity
    state the futures read (its scalar array a still one, so they never run it). Returns
    ``(ITCH bytes, equity messages, futures messages)``."""
    p = 0
    eq_written = 0
    fut_written = 0
    while True:
        scenario[SC_LIMIT] = sync[SY_NEXT]
        p, k = generate(eq_inst, eq_levels, eq_orders, eq_live, eq_cdf, eq_params, eq_mpids,
                        eq_scal, eq_rng, eq_counts, eq_events, itch, p, most - eq_written,
                        eq_clients, eq_cscal, eq_outbox, scenario)
        eq_written += k
        if scenario[SC_HELD] == 0:
            break  # `most` reached, no room, or the equity day is spent
        if scal[S_PHASE] != 3:
            scal[S_CLOCK_LIMIT] = sync[SY_NEXT]
            fut_written += run(inst, levels, orders, live, nlv, pub, pub_n, cdf, params, scal,
                               fl, rng, md, oe, ops, trades, fills, stg, tcount, trace, names,
                               defs, def_len, last_update, r_inst, r_levels, r_orders, r_live,
                               r_cdf, r_params, r_mpids, r_scal, r_rng, r_counts, r_events,
                               r_buf, basket, weights, buf, bounds, kinds, counts, pw,
                               max_payload, np.int64(_NO_CAP), loop_bytes, loop_packets,
                               clients, cscal, outbox)
            if scal[S_HELD] == 0 and scal[S_PHASE] != 3:
                break  # the packet stream or the futures outbox is full: the owner drains it
        sync[SY_NEXT] += sync[SY_STEP]
    return p, eq_written, fut_written


def new_sync(first: int, step: int) -> np.ndarray:
    """The grid state: first point ``first`` (session clock), then every ``step`` ns."""
    if step < 1:
        raise ValueError(f"the grid step must be at least 1 ns, got {step}")
    sync = np.zeros(N_SY, np.int64)
    sync[SY_NEXT] = first
    sync[SY_STEP] = step
    return sync
