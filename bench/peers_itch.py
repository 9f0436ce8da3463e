"""ITCH 5.0 decode + order-by-order books against two peers, on the same messages, from
memory, in the same run: hftbacktest (Rust core, L3 market-by-order replay) and MeatPy (pure
Python ITCH 5.0 reader and market processors).

    .venv/bin/python bench/peers_itch.py [--messages 8000000] [--symbols 2000] [--runs 3]
                                         [--meatpy-messages 250000]

The simulator's day is written once under out/bench/ (``sim_file`` of bench/replay_itch.py)
and its bytes are read into memory once; every side works from those bytes or from what
tickpath's decoder made of them. Prints a table and writes out/bench/peers_itch.json.

Two virtualenvs, one run. hftbacktest 2.4.4 pins ``numpy<2.3``, so it never enters the
project's virtualenv: this script makes its own on first use, out/bench/hftbacktest-venv
(``python -m venv``, then ``pip install hftbacktest==2.4.4``, one line on standard error while
it installs; pip's output in out/bench/hftbacktest-venv.log), and reuses it while
``import hftbacktest`` works there and gives 2.4.4. When it cannot be made (no network, no package
mirror) the script exits naming the command that failed and the two commands to make it by
hand. tickpath, the decoding and conversion, tickpath's timing and MeatPy stay in this
process, in the project's virtualenv. The hftbacktest rows are handed over as one file per
simulator file, ``sim-<messages>-<symbols>-<seed>.hbt.npz`` beside the day's file (rows
grouped by instrument; written once, reused while its source file, rows format and event flags
match), to bench/peers_hbt_worker.py, which runs under the other virtualenv's python (numpy
and hftbacktest only, no tickpath) for the whole run. It times its backtests itself and
answers over a pipe, in JSON, with the rate and the final books, which are checked here
against tickpath's. The worker is started once and waits, idle, while tickpath runs; runs
alternate as before (tickpath, hftbacktest, the prefix's tickpath, MeatPy), one process
working at a time. Before any row is written, the worker's hftbacktest must report the
version, event flags and row layout :func:`itch_to_hbt` uses.

What is timed (``time.perf_counter``, garbage collector off, compiled code loaded first):

* tickpath: ``ItchHandler(BookStore(max_orders=1 << 22), batch=1 << 14).on_blocks(buf, 0,
  end, final=True)``, construction included: the whole day's bytes for the hftbacktest row,
  the first ``--meatpy-messages`` messages' bytes for the MeatPy row.
* hftbacktest 2.4.4: per instrument, building the ``BacktestAsset`` (the event rows of that
  instrument, ``l3_fifo_queue_model()``, ``no_partial_fill_exchange()``, tick size 1 and lot
  size 1 so prices stay ITCH's integer units exactly) and the
  ``HashMapMarketDepthBacktest``, then a compiled loop calling ``elapse`` with a one-day step
  until it reports the end of the data (one call in practice: the fewest calls, the least
  overhead hftbacktest can have). The times of all instruments are summed; reading the books
  for the checks and ``close()`` happen between the timed intervals. Decoding the ITCH bytes
  and converting them into hftbacktest's rows (:func:`itch_to_hbt`) happen before, untimed,
  and so do writing and reading the rows file: hftbacktest is given its input ready-made, in
  memory, tickpath decodes its own. The timing is done in the worker, in its own process.
  Rate: ITCH messages of the instruments run (every message with their stock locate, book
  message or not) / summed time. hftbacktest keeps two books per instrument by design (the
  local processor's view of the feed and the exchange processor's, which drives the queue
  model); both consume every row.
* MeatPy: its ITCH 5.0 reader over a ``BytesIO`` of the same prefix's bytes (the reader's
  ``_read_messages(file)``, which ``read_file`` uses after opening a path) and one
  ``ITCH50MarketProcessor`` per instrument, created at its stock directory message, each
  message handed to its instrument's processor. Compared with tickpath on the same prefix.

The mapping of ITCH book messages to hftbacktest's L3 event rows (:func:`itch_to_hbt`): every
row carries ``EXCH_EVENT | LOCAL_EVENT`` and the side flag of the order, ``exch_ts ==
local_ts ==`` the ITCH timestamp (no feed latency), ``order_id`` = the order reference,
``px`` = the price in ITCH units (1/10000 dollar).

* A, F (add): ``ADD_ORDER_EVENT``, price and shares.
* D (delete): ``CANCEL_ORDER_EVENT`` (hftbacktest's cancel removes the whole order).
* X (partial cancel): ``MODIFY_ORDER_EVENT`` to the shares left at the same price (a size
  cut at the same price keeps the order's queue place in hftbacktest, as in ITCH);
  ``CANCEL_ORDER_EVENT`` if nothing is left.
* E, C (execution): ``FILL_EVENT`` (the executed shares, at the order's price for E and the
  execution price for C; it drives the queue model and does not change the depth), then
  ``MODIFY_ORDER_EVENT`` to the shares left, or ``CANCEL_ORDER_EVENT`` when the order is
  fully executed. This is how hftbacktest's own market-by-order converters treat a fill: the
  fill row, then the change of the resting order.
* U (replace): ``CANCEL_ORDER_EVENT`` of the old reference, then ``ADD_ORDER_EVENT`` of the
  new reference on the same side at the new price and shares (the new order queues last).
* Other types (trades P/Q, broken trades, directory, NOII, ...) have no book effect and no
  row.

Checks (the run fails loudly on a mismatch): for every instrument, hftbacktest's final best
bid and ask (price and shares) equal tickpath's ``BookStore.best_bid``/``best_ask``; for the
busiest instrument, the whole depth (price and shares of every level; hftbacktest does not
expose order counts per level) equals ``BookStore.depth``; MeatPy's best levels of the busiest
instrument after the prefix equal tickpath's on that prefix.
"""

from __future__ import annotations

import argparse
import gc
import io
import json
import os
import platform
import statistics
import subprocess
import sys
import time
import zipfile
from importlib import metadata
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from replay_itch import OUT, sim_file  # noqa: E402
from tickpath.book import BookStore  # noqa: E402
from tickpath.codec.itch50 import EVENT_DTYPE, LENGTHS  # noqa: E402
from tickpath.codec.itch50.decode import OK, OUT_FULL, decode_batch  # noqa: E402
from tickpath.feed.itch import ItchHandler  # noqa: E402

HBT_VERSION = "2.4.4"
HBT_VENV = OUT / "hftbacktest-venv"
WORKER = Path(__file__).resolve().parent / "peers_hbt_worker.py"
ROWS_FORMAT = 1  # of the rows file; raise it when itch_to_hbt's mapping or the layout changes
_A, _F, _E, _C, _X, _D, _U = (ord(c) for c in "AFECXDU")
BOOK_TYPES = np.array([_A, _F, _E, _C, _X, _D, _U], np.uint8)

# hftbacktest 2.4.4's event flags and row layout, written out here because the project's
# virtualenv does not hold hftbacktest; the worker's hello is checked against them before any
# row is made or handed over.
EXCH_EVENT, LOCAL_EVENT, BUY_EVENT, SELL_EVENT = 1 << 31, 1 << 30, 1 << 29, 1 << 28
ADD_ORDER_EVENT, CANCEL_ORDER_EVENT, MODIFY_ORDER_EVENT, FILL_EVENT = 10, 11, 12, 13
HBT_FLAGS = {"EXCH_EVENT": EXCH_EVENT, "LOCAL_EVENT": LOCAL_EVENT, "BUY_EVENT": BUY_EVENT,
             "SELL_EVENT": SELL_EVENT, "ADD_ORDER_EVENT": ADD_ORDER_EVENT,
             "CANCEL_ORDER_EVENT": CANCEL_ORDER_EVENT, "MODIFY_ORDER_EVENT": MODIFY_ORDER_EVENT,
             "FILL_EVENT": FILL_EVENT}
HBT_EVENT = np.dtype([("ev", "<u8"), ("exch_ts", "<i8"), ("local_ts", "<i8"), ("px", "<f8"),
                      ("qty", "<f8"), ("order_id", "<u8"), ("ival", "<i8"), ("fval", "<f8")],
                     align=True)


# -- decoding (untimed) --------------------------------------------------------------------


def decode_day(buf: np.ndarray, batch: int = 1 << 20) -> tuple[np.ndarray, np.ndarray, int]:
    """Decode the whole buffer with tickpath's decoder. Returns the book messages
    (A F E C X D U) as ``EVENT_DTYPE`` records in file order, the number of messages of every
    stock locate (all types), and the number of messages."""
    events = np.zeros(batch, EVENT_DTYPE)
    kept: list[np.ndarray] = []
    per_locate = np.zeros(1 << 16, np.int64)
    p, end, total = 0, buf.shape[0], 0
    while True:
        n, st, p = decode_batch(buf, p, end, LENGTHS, events, 0, 0)
        ev = events[:n]
        per_locate += np.bincount(ev["locate"], minlength=1 << 16)
        kept.append(ev[np.isin(ev["type"], BOOK_TYPES)].copy())
        total += n
        if st == OK:
            return np.concatenate(kept), per_locate, total
        if st != OUT_FULL:
            raise RuntimeError(f"decode stopped with status {st} at offset {p}")


def prefix_end(buf: np.ndarray, messages: int) -> tuple[int, int]:
    """Byte offset just past the first ``messages`` messages (or the end), and how many
    messages that is."""
    events = np.zeros(messages, EVENT_DTYPE)
    n, st, p = decode_batch(buf, 0, buf.shape[0], LENGTHS, events, 0, 0)
    if st not in (OK, OUT_FULL):
        raise RuntimeError(f"decode stopped with status {st} at offset {p}")
    return int(p), int(n)


# -- ITCH events -> hftbacktest L3 rows (untimed) --------------------------------------------


def itch_to_hbt(ev: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """hftbacktest L3 event rows (``hftbacktest.types.event_dtype``) for the ITCH book
    messages among ``ev`` (``EVENT_DTYPE`` records in feed order), mapped as the module's
    docstring says; returns the rows in feed order and the stock locate of each row.

    Messages that refer to an order (E C X D U) are joined to the message that created it
    (A/F by ``ref``, U by ``new_ref``) by sorting the references; a replaced order's side is
    followed back to its add by pointer jumping; shares left after each E/C/X are the order's
    shares minus the running sum of its executions and cancels. Vectorized numpy. Raises
    ``ValueError`` on a reference created twice, a reference to an order never created (or
    created later), or more shares taken than the order had."""
    ev = ev[np.isin(ev["type"], BOOK_TYPES)]
    t = ev["type"]
    n = ev.shape[0]
    idx = np.arange(n)
    is_add = (t == _A) | (t == _F)
    is_u = t == _U
    refers = ~is_add  # E C X D U name an order already on the book

    # the orders created, by A/F (ref) and by U (new_ref), and the message creating each
    creators = np.flatnonzero(is_add | is_u)
    created = np.where(is_add[creators], ev["ref"][creators], ev["new_ref"][creators])
    order = np.argsort(created, kind="stable")
    sorted_refs = created[order]
    dup = np.flatnonzero(sorted_refs[1:] == sorted_refs[:-1])
    if dup.size:
        raise ValueError(f"order reference {int(sorted_refs[dup[0]])} is created twice")
    origin = idx.copy()  # the message that created the order each message is about
    ri = np.flatnonzero(refers)
    pos = np.searchsorted(sorted_refs, ev["ref"][ri])
    pos_ok = np.minimum(pos, max(sorted_refs.shape[0] - 1, 0))
    found = (pos < sorted_refs.shape[0]) & (sorted_refs[pos_ok] == ev["ref"][ri])
    if sorted_refs.shape[0]:
        origin[ri] = creators[order[pos_ok]]
    bad = ri[~found | (origin[ri] >= ri)]
    if bad.size:
        i = int(bad[0])
        raise ValueError(f"{chr(t[i])!r} at offset {int(ev['offset'][i])} names order "
                         f"{int(ev['ref'][i])}, which no earlier message created")

    # side: an add's own; a replacement's is the side of the order it replaced, followed back
    root = idx.copy()
    root[is_u] = origin[is_u]
    while True:
        nxt = root[root]
        if np.array_equal(nxt, root):
            break
        root = nxt
    side = ev["side"][root]  # the side of the order each creating message made
    o_side = side[origin]  # the side of the order each message is about
    o_price = ev["price"][origin]  # its price (an add's price, a replacement's new price)
    o_shares = ev["shares"][origin].astype(np.int64)

    # shares left after each execution or partial cancel: running sum per order
    left = np.zeros(n, np.int64)
    cut = np.flatnonzero((t == _E) | (t == _C) | (t == _X))
    if cut.size:
        s = np.argsort(origin[cut], kind="stable")  # grouped by order, feed order inside
        c = cut[s]
        key = origin[c]
        taken = np.cumsum(ev["shares"][c].astype(np.int64))
        first = np.r_[True, key[1:] != key[:-1]]
        before = np.where(first, taken - ev["shares"][c].astype(np.int64), 0)
        before = np.maximum.accumulate(before)  # taken before each order's first cut
        left[c] = o_shares[c] - (taken - before)
        over = c[left[c] < 0]
        if over.size:
            i = int(over[0])
            raise ValueError(f"{chr(t[i])!r} at offset {int(ev['offset'][i])} takes more "
                             f"shares than order {int(ev['ref'][i])} has")

    two = (t == _E) | (t == _C) | is_u  # messages that make two rows
    count = 1 + two.astype(np.int64)
    start = np.cumsum(count) - count
    rows = np.zeros(int(count.sum()), HBT_EVENT)
    flags = np.uint64(EXCH_EVENT | LOCAL_EVENT)
    side_flag = np.where(o_side == ord("B"), np.uint64(BUY_EVENT), np.uint64(SELL_EVENT))
    ts = ev["timestamp"].astype(np.int64)
    gone = np.uint64(CANCEL_ORDER_EVENT)
    rest = np.where(left > 0, np.uint64(MODIFY_ORDER_EVENT), gone)

    # first row of each message
    kind = np.select(
        [is_add, t == _D, t == _X, (t == _E) | (t == _C), is_u],
        [np.uint64(ADD_ORDER_EVENT), gone, rest, np.uint64(FILL_EVENT), gone])
    px = np.where(is_add, ev["price"], o_price)
    px = np.where(t == _C, ev["price"], px)  # C: the execution price (the fill row only)
    qty = np.select([is_add, t == _X, (t == _E) | (t == _C)],
                    [ev["shares"], left, ev["shares"]], 0)
    first_rows = rows[start]
    first_rows["ev"] = kind | flags | side_flag
    first_rows["px"] = px
    first_rows["qty"] = qty
    first_rows["order_id"] = ev["ref"]
    first_rows["exch_ts"] = ts
    first_rows["local_ts"] = ts
    rows[start] = first_rows

    # second row: after a fill the order's change; after a replace's cancel the new order
    j = np.flatnonzero(two)
    u = is_u[j]
    second = np.zeros(j.shape[0], HBT_EVENT)
    second["ev"] = np.where(u, np.uint64(ADD_ORDER_EVENT), rest[j]) | flags | side_flag[j]
    second["px"] = np.where(u, ev["price"][j], o_price[j])
    second["qty"] = np.where(u, ev["shares"][j], left[j])
    second["order_id"] = np.where(u, ev["new_ref"][j], ev["ref"][j])
    second["exch_ts"] = ts[j]
    second["local_ts"] = ts[j]
    rows[start[j] + 1] = second
    return rows, np.repeat(ev["locate"], count)


# -- the rows file: written once per simulator file, read by the worker ----------------------


def rows_file(path: Path, buf: np.ndarray) -> tuple[Path, dict, np.ndarray, np.ndarray]:
    """The hftbacktest rows of the simulator file ``path`` (whose bytes are ``buf``), as one
    uncompressed ``.npz`` beside it (``<stem>.hbt.npz``): ``rows`` (``HBT_EVENT``, grouped by
    instrument in stock locate order, feed order inside), ``locates``, ``starts`` (one more
    than ``locates``: where each instrument's rows begin, then the end), ``itch_messages`` (the
    ITCH messages of each instrument, every type) and ``meta`` (JSON). Made by decoding
    ``buf`` with tickpath and :func:`itch_to_hbt`, written under a temporary name and renamed;
    reused while its meta names the same source file (name, size, modification time), rows
    format and event flags. Returns the file, its meta, ``locates`` and ``itch_messages``."""
    target = path.with_name(path.stem + ".hbt.npz")
    st = path.stat()
    want = {"format": ROWS_FORMAT, "source": path.name, "source_bytes": st.st_size,
            "source_mtime_ns": st.st_mtime_ns, "flags": HBT_FLAGS}
    try:
        with np.load(target, allow_pickle=False) as f:
            meta = json.loads(str(f["meta"]))
            if all(meta.get(k) == v for k, v in want.items()):
                return target, meta | {"reused": True}, f["locates"], f["itch_messages"]
    except (OSError, ValueError, KeyError, zipfile.BadZipFile):
        pass  # absent or unreadable: made anew below

    t0 = time.perf_counter()
    book_events, per_locate, total = decode_day(buf)
    rows, row_locate = itch_to_hbt(book_events)
    del book_events
    perm = np.argsort(row_locate, kind="stable")
    rows, row_locate = rows[perm], row_locate[perm].astype(np.int64)
    locates, first = np.unique(row_locate, return_index=True)
    starts = np.r_[first, row_locate.shape[0]].astype(np.int64)
    itch_messages = per_locate[locates]
    meta = want | {"messages": total, "rows": int(rows.shape[0]), "instruments": len(locates)}
    tmp = target.with_name(target.name + ".part")
    with open(tmp, "wb") as fh:
        np.savez(fh, rows=rows, locates=locates, starts=starts, itch_messages=itch_messages,
                 meta=np.array(json.dumps(meta)))
    os.replace(tmp, target)
    print(f"decoded {total:,} messages and wrote {rows.shape[0]:,} hftbacktest rows for "
          f"{len(locates)} instruments to {target} in {time.perf_counter() - t0:.1f} s "
          "(untimed)", file=sys.stderr)
    return target, meta | {"reused": False}, locates, itch_messages


# -- the three sides ---------------------------------------------------------------------------


def tickpath_books(buf: np.ndarray, end: int) -> ItchHandler:
    handler = ItchHandler(BookStore(max_orders=1 << 22), batch=1 << 14)
    handler.on_blocks(buf, 0, end, final=True)
    return handler


def timed_tickpath(buf: np.ndarray, end: int) -> tuple[float, ItchHandler]:
    gc.collect()
    gc.disable()
    try:
        t0 = time.perf_counter()
        handler = tickpath_books(buf, end)
        return time.perf_counter() - t0, handler
    finally:
        gc.enable()


def _hbt_env() -> dict[str, str]:
    # the other virtualenv's python must not see the project's sources or interpreter home
    return {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME")}


def _hbt_version(python: Path) -> str | None:
    if not python.exists():
        return None
    r = subprocess.run([str(python), "-c", "import hftbacktest; print(hftbacktest.__version__)"],
                       capture_output=True, text=True, env=_hbt_env())
    return r.stdout.strip() if r.returncode == 0 else None


def hbt_python() -> tuple[Path, float | None]:
    """The python of hftbacktest's own virtualenv (``HBT_VENV``), kept apart because
    hftbacktest 2.4.4 pins ``numpy<2.3``. Reused when ``import hftbacktest`` works there and
    gives ``HBT_VERSION``; otherwise made anew (``python -m venv --clear``, then ``pip install
    hftbacktest==2.4.4`` from the package index pip is set up for), pip's output in
    ``hftbacktest-venv.log`` beside it. Returns the python and the seconds the making took
    (None when reused). Exits with the failed command, its output's end and the commands to
    make the virtualenv by hand when it cannot be made."""
    python = python_of(HBT_VENV)
    if _hbt_version(python) == HBT_VERSION:
        return python, None
    OUT.mkdir(parents=True, exist_ok=True)
    log = OUT / "hftbacktest-venv.log"
    print(f"making hftbacktest's virtualenv {HBT_VENV} (pip install hftbacktest=={HBT_VERSION}"
          f", output in {log.name}) ...", end=" ", file=sys.stderr, flush=True)
    t0 = time.perf_counter()
    steps = [[sys.executable, "-m", "venv", "--clear", str(HBT_VENV)],
             [str(python), "-m", "pip", "install", f"hftbacktest=={HBT_VERSION}"]]
    with open(log, "w") as fh:
        for cmd in steps:
            fh.write("$ " + " ".join(cmd) + "\n")
            fh.flush()
            rc = subprocess.run(cmd, stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                env=_hbt_env()).returncode
            if rc != 0:
                print("failed", file=sys.stderr)
                raise SystemExit(_venv_failed(" ".join(cmd), f"exited with code {rc}", log))
    made = time.perf_counter() - t0
    got = _hbt_version(python)
    if got != HBT_VERSION:
        print("failed", file=sys.stderr)
        raise SystemExit(_venv_failed(f"{python} -c 'import hftbacktest'",
                                      f"gave {got!r} after the install", log))
    print(f"done in {made:.0f} s", file=sys.stderr)
    return python, made


def _venv_failed(cmd: str, what: str, log: Path) -> str:
    tail = "".join(f"    {line}" for line in log.read_text().splitlines(True)[-12:])
    return (f"could not make hftbacktest's virtualenv: `{cmd}` {what}.\n"
            f"The end of its output ({log}):\n{tail}"
            f"hftbacktest=={HBT_VERSION} comes from the package index pip is set up for; "
            "without network or mirror it cannot be installed. To make the virtualenv by "
            f"hand:\n    {sys.executable} -m venv --clear {HBT_VENV}\n"
            f"    {python_of(HBT_VENV)} -m pip install hftbacktest=={HBT_VERSION}\n"
            "then run this again: it uses the virtualenv when `import hftbacktest` works there.")


def python_of(venv: Path) -> Path:
    return venv / "bin" / "python"


class HbtWorker:
    """bench/peers_hbt_worker.py running under hftbacktest's virtualenv's python, spoken to
    in JSON lines (its docstring gives the requests). A failed request or a worker that
    exits ends the benchmark with its message."""

    def __init__(self, python: Path) -> None:
        self.proc = subprocess.Popen([str(python), str(WORKER)], stdin=subprocess.PIPE,
                                     stdout=subprocess.PIPE, text=True, env=_hbt_env())
        self.hello: dict = self._answer()["hello"]

    def ask(self, cmd: str, **kw) -> dict:
        assert self.proc.stdin is not None
        self.proc.stdin.write(json.dumps({"cmd": cmd, **kw}) + "\n")
        self.proc.stdin.flush()
        return self._answer()

    def _answer(self) -> dict:
        assert self.proc.stdout is not None
        line = self.proc.stdout.readline()
        if not line:
            raise SystemExit(f"hftbacktest's worker ({WORKER.name}) exited with code "
                             f"{self.proc.wait()} (its messages above)")
        ans = json.loads(line)
        if "error" in ans:
            raise SystemExit(f"hftbacktest's worker failed: {ans['error']}\n{ans['traceback']}")
        return ans

    def close(self) -> None:
        if self.proc.poll() is None:
            try:
                self.proc.stdin.close()  # end of input: the worker exits
                self.proc.wait(timeout=60)
            except (OSError, subprocess.TimeoutExpired):
                self.proc.kill()
                self.proc.wait()

    def __enter__(self) -> HbtWorker:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def check_hello(hello: dict) -> None:
    """The worker's hftbacktest is the version, and has the flags and row layout, that
    :func:`itch_to_hbt` writes."""
    fields = [[n, HBT_EVENT.fields[n][0].str, HBT_EVENT.fields[n][1]] for n in HBT_EVENT.names]
    if hello["hftbacktest"] != HBT_VERSION:
        raise SystemExit(f"hftbacktest's virtualenv holds hftbacktest {hello['hftbacktest']}, "
                         f"not {HBT_VERSION}: remove {HBT_VENV} to have it made again")
    if hello["flags"] != HBT_FLAGS or hello["event_dtype"] != fields \
            or hello["itemsize"] != HBT_EVENT.itemsize:
        raise SystemExit(f"hftbacktest's event flags or row layout differ from the ones the "
                         f"rows are written with: {hello['flags']} {hello['event_dtype']}")


def meatpy_books(data: bytes) -> tuple[int, dict]:
    """MeatPy's ITCH 5.0 reader over the bytes in memory, one ITCH50MarketProcessor per
    instrument; returns the messages read and the processors by stock locate."""
    import datetime

    from meatpy.itch50.itch50_market_processor import ITCH50MarketProcessor
    from meatpy.itch50.itch50_message_reader import ITCH50MessageReader

    day = datetime.datetime(2024, 1, 2)
    procs: dict[int, ITCH50MarketProcessor] = {}
    n = 0
    for msg in ITCH50MessageReader()._read_messages(io.BytesIO(data)):
        n += 1
        if msg.type == b"R":
            procs[msg.stock_locate] = ITCH50MarketProcessor(msg.stock, day)
        proc = procs.get(getattr(msg, "stock_locate", -1))
        if proc is not None:
            proc.process_message(msg)
    return n, procs


def construct_time() -> float:
    """Seconds to build the handler and its books alone (inside every tickpath time)."""
    gc.collect()
    t0 = time.perf_counter()
    handler = ItchHandler(BookStore(max_orders=1 << 22), batch=1 << 14)
    s = time.perf_counter() - t0
    del handler
    return s


def timed_meatpy(data: bytes) -> tuple[float, int, dict]:
    gc.collect()
    gc.disable()
    try:
        t0 = time.perf_counter()
        n, procs = meatpy_books(data)
        return time.perf_counter() - t0, n, procs
    finally:
        gc.enable()


# -- checks ------------------------------------------------------------------------------------


def _top(level: tuple[int, int, int] | None) -> tuple[int, int] | None:
    return None if level is None else (level[0], level[1])


def _pair(level: list[int] | None) -> tuple[int, int] | None:
    return None if level is None else (level[0], level[1])


def check_hbt(books: BookStore, bbo: dict[str, list], depth: dict, detail: int) -> None:
    """hftbacktest's final books, as the worker answered them (``bbo`` by stock locate,
    ``depth`` of ``detail``), against tickpath's: exits on the first difference."""
    for key, (b, a) in bbo.items():
        loc, bid, ask = int(key), _pair(b), _pair(a)
        want = (_top(books.best_bid(loc)), _top(books.best_ask(loc)))
        if (bid, ask) != want:
            raise SystemExit(f"MISMATCH stock locate {loc}: hftbacktest best bid/ask {bid} / "
                             f"{ask}, tickpath {want[0]} / {want[1]}")
    full = books.depth(detail)
    want = {"bids": [list(lv[:2]) for lv in full["bids"]],
            "asks": [list(lv[:2]) for lv in full["asks"]]}
    if depth != want:
        raise SystemExit(f"MISMATCH depth of stock locate {detail}: hftbacktest {depth}, "
                         f"tickpath {want}")


def _meatpy_top(levels) -> tuple[int, int, int] | None:
    if not levels:
        return None
    lv = levels[0]
    return int(lv.price), int(lv.volume), len(lv.orders)


def check_meatpy(books: BookStore, procs: dict, loc: int) -> tuple:
    lob = procs[loc].current_lob
    got = (None, None) if lob is None else (_meatpy_top(lob.get_bid_levels(1)),
                                            _meatpy_top(lob.get_ask_levels(1)))
    want = books.bbo(loc)
    if got != want:
        raise SystemExit(f"MISMATCH MeatPy best bid/ask of stock locate {loc} after the prefix: "
                         f"{got}, tickpath {want}")
    return want


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--messages", type=int, default=8_000_000)
    ap.add_argument("--symbols", type=int, default=2000)
    ap.add_argument("--seed", type=int, default=1)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--meatpy-messages", type=int, default=250_000)
    args = ap.parse_args()
    python, venv_made_s = hbt_python()  # first: a machine that cannot make it stops at once
    with HbtWorker(python) as worker:
        check_hello(worker.hello)
        run(args, worker, venv_made_s)


def run(args: argparse.Namespace, worker: HbtWorker, venv_made_s: float | None) -> None:
    path = sim_file(args.messages, args.symbols, args.seed)
    buf = np.fromfile(path, np.uint8)  # read once; every side works from memory
    end = buf.shape[0]

    # untimed: decode, convert, group per instrument into the rows file (or reuse it)
    rows_path, meta, locs, itch = rows_file(path, buf)
    if meta["reused"]:
        print(f"reused {rows_path} ({meta['rows']:,} hftbacktest rows, {meta['instruments']} "
              "instruments)", file=sys.stderr)
    total = int(meta["messages"])
    inst_msgs = int(itch.sum())
    busiest = int(locs[np.argmax(itch)])
    loaded = worker.ask("load", path=str(rows_path), detail=busiest)
    if (loaded["instruments"], loaded["itch_messages"]) != (len(locs), inst_msgs):
        raise SystemExit(f"hftbacktest's worker read {loaded} from {rows_path}, expected "
                         f"{len(locs)} instruments and {inst_msgs} ITCH messages")
    p_end, p_msgs = prefix_end(buf, args.meatpy_messages)
    p_bytes = buf[:p_end].tobytes()

    # compiled code loaded before any timer: tickpath's kernels here, hftbacktest's loop in
    # the worker (its load request ran a few rows)
    tickpath_books(buf, prefix_end(buf, 2000)[0])

    tp, hb, tp_pre, mp, build = [], [], [], [], []
    for i in range(args.runs):
        s, handler = timed_tickpath(buf, end)
        if handler.messages != total:
            raise SystemExit(f"tickpath applied {handler.messages} messages, decoded {total}")
        tp.append(total / s)
        hr = worker.ask("run")  # the worker times itself; this process waits meanwhile
        check_hbt(handler.books, hr["bbo"], hr["depth"], busiest)
        hb.append(hr["msgs_per_s"])
        del handler
        s, pre = timed_tickpath(buf, p_end)
        tp_pre.append(p_msgs / s)
        s, n, procs = timed_meatpy(p_bytes)
        if n != p_msgs:
            raise SystemExit(f"MeatPy read {n} messages of the prefix's {p_msgs}")
        top = check_meatpy(pre.books, procs, busiest)
        mp.append(p_msgs / s)
        del pre, procs
        build.append(construct_time())
        print(f"run {i + 1}: tickpath {tp[-1] / 1e6:.2f} M/s, hftbacktest {hb[-1] / 1e6:.2f} "
              f"M/s; prefix: tickpath {tp_pre[-1] / 1e6:.2f} M/s, MeatPy "
              f"{mp[-1] / 1e6:.4f} M/s", file=sys.stderr)

    med = statistics.median
    result = {
        "date": time.strftime("%Y-%m-%d"),
        "machine": f"{platform.node()} {platform.machine()} {os.cpu_count()} cpus, "
                   f"Python {platform.python_version()}",
        "file": {"path": str(path), "messages": total, "symbols": args.symbols,
                 "seed": args.seed, "bytes": int(end)},
        "runs": args.runs,
        "hftbacktest_version": worker.hello["hftbacktest"],
        "hftbacktest_env": {"venv": str(HBT_VENV), "python": worker.hello["python"],
                            "numpy": worker.hello["numpy"], "made_s": venv_made_s,
                            "rows_file": str(rows_path), "rows_file_reused": meta["reused"]},
        "meatpy_version": metadata.version("meatpy"),
        "timed": {
            "tickpath": "ItchHandler(BookStore(max_orders=1 << 22), batch=1 << 14).on_blocks("
                        "buf, 0, end, final=True) on the bytes in memory: decode + L3 books, "
                        "construction included",
            "hftbacktest": "per instrument: BacktestAsset (L3 FIFO queue model, no partial "
                           "fill exchange) + HashMapMarketDepthBacktest built, elapse(1 day) "
                           "in a compiled loop to the end of the data; summed over the "
                           "instruments, in its own process and virtualenv "
                           "(bench/peers_hbt_worker.py). Its input rows were decoded (by "
                           "tickpath), converted and read from the rows file beforehand, "
                           "untimed",
            "meatpy": "ITCH50MessageReader over a BytesIO of the prefix + one "
                      "ITCH50MarketProcessor per instrument",
        },
        "hftbacktest_row": {
            "instruments": len(locs),
            "itch_messages": inst_msgs,
            "hbt_rows": int(meta["rows"]),
            "tickpath_msgs_per_s": med(tp),
            "hftbacktest_msgs_per_s": med(hb),
            "ratio": med(tp) / med(hb),
            "checked": f"best bid/ask of all {len(locs)} instruments, whole depth of "
                       f"stock locate {busiest}",
        },
        "meatpy_row": {
            "prefix_messages": p_msgs,
            "prefix_bytes": p_end,
            "tickpath_msgs_per_s": med(tp_pre),
            "meatpy_msgs_per_s": med(mp),
            "ratio": med(tp_pre) / med(mp),
            "checked": f"best bid/ask (price, shares, orders) of stock locate {busiest} "
                       f"after the prefix: {top}",
            "tickpath_construction_s": med(build),
            "note": "tickpath's time includes building the handler and its books "
                    "(tickpath_construction_s, timed apart), a large share of a short prefix",
        },
        "per_run": {"tickpath": tp, "hftbacktest": hb, "tickpath_prefix": tp_pre,
                    "meatpy": mp},
    }
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "peers_itch.json").write_text(json.dumps(result, indent=2))

    print(f"\n{total:,} messages, {args.symbols} instruments, median of {args.runs} runs, "
          "all from memory")
    print(f"{'':44}{'M msg/s':>10}{'tickpath x':>12}")
    print(f"{'tickpath decode + L3 books (whole day)':44}{med(tp) / 1e6:>10.2f}")
    print(f"{'hftbacktest ' + worker.hello['hftbacktest'] + ' L3 replay (decoded rows)':44}"
          f"{med(hb) / 1e6:>10.2f}{result['hftbacktest_row']['ratio']:>12.1f}")
    print(f"{f'tickpath, first {p_msgs:,} messages':44}{med(tp_pre) / 1e6:>10.2f}")
    print(f"{'MeatPy reader + processors, same prefix':44}{med(mp) / 1e6:>10.4f}"
          f"{result['meatpy_row']['ratio']:>12.0f}")
    print(f"hftbacktest: {len(locs)} instruments, {inst_msgs:,} of their ITCH messages "
          "(rate counts these), its rows decoded and converted beforehand (untimed).")
    print(f"MeatPy is compared with tickpath on the same first {p_msgs:,} messages, not the "
          f"whole day; tickpath's time includes building its books ({med(build) * 1e3:.0f} ms).")
    print(f"checked: best bid/ask of every instrument and the whole depth of stock locate "
          f"{busiest} (hftbacktest), best bid/ask of {busiest} after the prefix (MeatPy)")


if __name__ == "__main__":
    main()
