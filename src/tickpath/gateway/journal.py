"""The order journal: an append-only file of fixed-size records, written from compiled code.

Every order, cancel, replace and mass cancel we send is written *before* it is sent
(write-ahead); every sequenced message the venue sends is written with its SoupBinTCP
sequence number before it is applied. Replaying the file through the same order kernels
(:mod:`tickpath.gateway.orders`) rebuilds orders, positions and totals exactly:
``NEXT_USER_REF`` lands beyond every UserRefNum ever written (an id is never sent twice) and
``LAST_SEQ`` is the last venue message applied (the session asks for ``LAST_SEQ + 1``).

Record (128 bytes, little-endian)::

    0      4      6    7    8          16         24       28         32
    +------+------+----+----+----------+----------+--------+----------+
    | crc  | len  |kind|ver | seq      | now_ns   |user_ref| orig_ref |
    | u32  | u16  | u8 | u8 | u64      | i64      | u32    | u32      |
    +------+------+----+----+----------+----------+--------+----------+
    32           40        48       56       64        72          80
    | instrument | symbol  | price  | qty    | trigger | order_ref | match_number |
    | i64        | u64     | i64    | i64    | i64     | u64       | u64          |
    88          96   97   98   99    100      104  105  106       116     128
    | venue ts  |type|side|tif |state| reason |liq |evt | session | zeros |
    | u64       | u8 | u8 | u8 | u8  | i32    | u8 | u8 | 10 x u8 |       |

``crc`` is CRC-32 (zlib's) of bytes 4..128. ``kind``: ENTER, CANCEL (``qty`` = intended size
left), REPLACE (``orig_ref`` the original), MASS_CANCEL (``instrument`` -1 = all),
LOCAL_REJECT (an order whose send failed, ``reason`` = -errno), VENUE (one decoded outbound
OUCH message, ``seq`` its sequence number; options are not kept), SESSION (a login to a
venue session other than the last one journaled: ``session`` its 10-byte name as Login
Accepted gave it, ``seq`` the sequence number it started at). Replayed, a SESSION record
whose name differs from the one before it closes the orders still open (the venue's session
they lived in is over: :func:`tickpath.gateway.orders.session_closed`) and numbers the new
session's messages from 1.

fsync policies (``Policy``), what a written record survives:

* ``ALWAYS``: ``write`` + ``fdatasync`` per record: a process crash and a power loss (once
  ``append`` returned, the record is on the device, as far as the device honours flushes).
* ``INTERVAL``: ``write`` per record, ``fdatasync`` when ``interval`` has passed since the
  last one (checked on every append and on the session's poll): a process crash; a power
  loss may take the records of the last interval.
* ``NEVER``: ``write`` only (the page cache): a process crash (the kernel has the data), not
  a power loss or kernel crash.

A failed write (ENOSPC, EIO, a short write) makes the journal refuse every later append
(``FAILED``): the caller must not send what it could not journal, and nothing is written
after a possibly torn record. Recovery: a torn last record (shorter than 128 bytes, or a bad
checksum in the last record, or a tail of zeroed records) is cut off with a warning; a bad
record anywhere else is a :class:`JournalError` naming its file offset.
"""

from __future__ import annotations

import enum
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

import numpy as np
from numba import njit

from . import orders as K
from .layout import Total
from .syscalls import errno, fdatasync, write, zlib_crc32

RECORD = 128
VERSION = 1


class Kind(enum.IntEnum):
    ENTER = 1
    CANCEL = 2
    REPLACE = 3
    MASS_CANCEL = 4
    LOCAL_REJECT = 5
    VENUE = 6
    SESSION = 7


SESSION_AT, SESSION_LEN = 106, 10  # where a SESSION record keeps the session's name


class Policy(enum.IntEnum):
    ALWAYS = 0
    INTERVAL = 1
    NEVER = 2


class J(enum.IntEnum):
    """Words of the journal's state array."""

    FD = 0
    POLICY = 1
    INTERVAL_NS = 2
    LAST_SYNC_NS = 3
    DIRTY = 4  # records written since the last fdatasync
    RECORDS = 5
    BYTES = 6
    SYNCS = 7
    ERRNO = 8  # of the failure
    FAILED = 9  # 1: a write or sync failed; every later append is refused


N_J = 12

JOURNAL_DTYPE = np.dtype({
    "names": ["crc", "length", "kind", "version", "seq", "now_ns", "user_ref",
              "orig_user_ref", "instrument", "symbol", "price", "qty", "trigger", "order_ref",
              "match_number", "timestamp", "type", "side", "tif", "order_state", "reason",
              "liquidity_flag", "event_code", "session"],
    "formats": ["<u4", "<u2", "u1", "u1", "<u8", "<i8", "<u4", "<u4", "<i8", "<u8", "<i8",
                "<i8", "<i8", "<u8", "<u8", "<u8", "u1", "u1", "u1", "u1", "<i4", "u1", "u1",
                "S10"],
    "offsets": [0, 4, 6, 7, 8, 16, 24, 28, 32, 40, 48, 56, 64, 72, 80, 88, 96, 97, 98, 99,
                100, 104, 105, 106],
    "itemsize": RECORD,
})

# append statuses (0 or a negative errno from write / fdatasync)
OK = 0
FAILED_BEFORE = -100000  # an earlier append failed: the journal refuses everything since


class JournalArrays(NamedTuple):
    """What the compiled appenders take: the state words (``J``) and the record being
    built."""

    state: np.ndarray
    buf: np.ndarray


@njit(cache=True, nogil=True)
def crc32(buf, start, end):
    """CRC-32 (zlib's) of ``buf[start:end]``: zlib's own ``crc32``, called by symbol."""
    return np.uint32(zlib_crc32(0, buf.ctypes.data + start, end - start) & 0xFFFFFFFF)


@njit(cache=True, nogil=True)
def _put(buf, p, v, width):
    v = np.int64(v)  # a uint64 mixed with int64 would be typed float64
    for i in range(width):
        buf[p + i] = (v >> (8 * i)) & 0xFF


@njit(cache=True, nogil=True)
def _get(buf, p, width):
    v = np.uint64(0)
    for i in range(width):
        v |= np.uint64(buf[p + i]) << np.uint64(8 * i)
    return v


@njit(cache=True, nogil=True)
def _get_signed(buf, p, width):
    v = np.int64(_get(buf, p, width))
    if width < 8 and v >= (np.int64(1) << (8 * width - 1)):
        v -= np.int64(1) << (8 * width)
    return v


@njit(cache=True, nogil=True)
def _begin(buf, kind, seq, now_ns, user_ref, orig_user_ref):
    for i in range(RECORD):
        buf[i] = 0
    _put(buf, 4, RECORD, 2)
    buf[6] = kind
    buf[7] = VERSION
    _put(buf, 8, seq, 8)
    _put(buf, 16, now_ns, 8)
    _put(buf, 24, user_ref, 4)
    _put(buf, 28, orig_user_ref, 4)


@njit(cache=True, nogil=True)
def sync_due(j, now_ns):
    """Under INTERVAL, ``fdatasync`` if records wait and the interval has passed. Returns 0,
    or -errno if the sync failed (the journal is then FAILED)."""
    st = j.state
    if st[J.POLICY] != Policy.INTERVAL or st[J.DIRTY] == 0 or st[J.FAILED] != 0:
        return OK
    if now_ns - st[J.LAST_SYNC_NS] < st[J.INTERVAL_NS]:
        return OK
    return _sync(st, now_ns)


@njit(cache=True, nogil=True)
def _sync(st, now_ns):
    if fdatasync(st[J.FD]) != 0:
        st[J.ERRNO] = errno()
        st[J.FAILED] = 1
        return -st[J.ERRNO]
    st[J.SYNCS] += 1
    st[J.DIRTY] = 0
    st[J.LAST_SYNC_NS] = now_ns
    return OK


@njit(cache=True, nogil=True)
def _commit(j, now_ns):
    """Checksum the record in ``j.buf``, write it, sync as the policy says."""
    st, buf = j.state, j.buf
    if st[J.FAILED] != 0:
        return FAILED_BEFORE
    _put(buf, 0, crc32(buf, 4, RECORD), 4)
    done = 0
    while done < RECORD:
        n = write(st[J.FD], buf.ctypes.data + done, RECORD - done)
        if n <= 0:
            e = errno()
            if n < 0 and e == 4:  # EINTR
                continue
            st[J.ERRNO] = e if n < 0 else 28  # a write of 0 bytes: no space
            st[J.FAILED] = 1
            return -st[J.ERRNO]
        done += n
    st[J.RECORDS] += 1
    st[J.BYTES] += RECORD
    st[J.DIRTY] += 1
    if st[J.POLICY] == Policy.ALWAYS:
        return _sync(st, now_ns)
    if st[J.POLICY] == Policy.INTERVAL:
        return sync_due(j, now_ns)
    return OK


@njit(cache=True, nogil=True)
def journal_enter(j, user_ref, instrument, symbol, side, qty, price, tif, trigger, now_ns):
    """An Enter Order about to be sent. Returns 0 or a negative errno (do not send)."""
    b = j.buf
    _begin(b, Kind.ENTER, 0, now_ns, user_ref, 0)
    _put(b, 32, instrument, 8)
    _put(b, 40, symbol, 8)
    _put(b, 48, price, 8)
    _put(b, 56, qty, 8)
    _put(b, 64, trigger, 8)
    b[97] = side
    b[98] = tif
    return _commit(j, now_ns)


@njit(cache=True, nogil=True)
def journal_cancel(j, user_ref, qty_left, now_ns):
    _begin(j.buf, Kind.CANCEL, 0, now_ns, user_ref, 0)
    _put(j.buf, 56, qty_left, 8)
    return _commit(j, now_ns)


@njit(cache=True, nogil=True)
def journal_replace(j, orig_user_ref, user_ref, qty, price, now_ns):
    _begin(j.buf, Kind.REPLACE, 0, now_ns, user_ref, orig_user_ref)
    _put(j.buf, 48, price, 8)
    _put(j.buf, 56, qty, 8)
    return _commit(j, now_ns)


@njit(cache=True, nogil=True)
def journal_mass_cancel(j, user_ref, instrument, now_ns):
    _begin(j.buf, Kind.MASS_CANCEL, 0, now_ns, user_ref, 0)
    _put(j.buf, 32, instrument, 8)
    return _commit(j, now_ns)


@njit(cache=True, nogil=True)
def journal_local_reject(j, user_ref, reason, now_ns):
    _begin(j.buf, Kind.LOCAL_REJECT, 0, now_ns, user_ref, 0)
    _put(j.buf, 100, reason, 4)
    return _commit(j, now_ns)


@njit(cache=True, nogil=True)
def journal_venue(j, seq, rec, now_ns):
    """A sequenced venue message (one OUT_DTYPE record) about to be applied."""
    b = j.buf
    _begin(b, Kind.VENUE, seq, now_ns, rec["user_ref_num"], rec["orig_user_ref_num"])
    _put(b, 40, rec["symbol"], 8)
    _put(b, 48, rec["price"], 8)
    _put(b, 56, rec["quantity"], 8)
    _put(b, 72, rec["order_reference_number"], 8)
    _put(b, 80, rec["match_number"], 8)
    _put(b, 88, rec["timestamp"], 8)
    b[96] = rec["type"]
    b[97] = rec["side"]
    b[98] = rec["time_in_force"]
    b[99] = rec["order_state"]
    _put(b, 100, rec["reason"], 4)
    b[104] = rec["liquidity_flag"]
    b[105] = rec["event_code"]
    return _commit(j, now_ns)


@njit(cache=True, nogil=True)
def journal_session(j, name, seq, now_ns):
    """A login to a session other than the last journaled: ``name`` its SESSION_LEN bytes
    (uint8), ``seq`` where it started. Written before the session's orders are closed."""
    _begin(j.buf, Kind.SESSION, seq, now_ns, 0, 0)
    for i in range(SESSION_LEN):
        j.buf[SESSION_AT + i] = name[i]
    return _commit(j, now_ns)


@njit(cache=True, nogil=True)
def _same_session(raw, p, q):
    for i in range(SESSION_LEN):
        if raw[p + SESSION_AT + i] != raw[q + SESSION_AT + i]:
            return False
    return True


# replay statuses
REPLAYED = 0
BAD_KIND = 1
MISMATCH = 2  # a send replayed to another result than it had (another table capacity?)


@njit(cache=True, nogil=True)
def first_bad(raw, n):
    """Index of the first of ``n`` records in ``raw`` whose length, version or checksum is
    wrong, or -1."""
    for i in range(n):
        p = i * RECORD
        if (_get(raw, p + 4, 2) != RECORD or raw[p + 7] != VERSION
                or np.uint32(_get(raw, p, 4)) != crc32(raw, p + 4, p + RECORD)):
            return i
    return -1


@njit(cache=True, nogil=True)
def replay(raw, n, orders, positions, totals):
    """Apply ``n`` checked records through the order kernels. Returns ``(status, index,
    session)``: REPLAYED, or the status and index of the record that could not be replayed;
    and the index of the last SESSION record (-1: none)."""
    session = -1
    for i in range(n):
        p = i * RECORD
        kind = raw[p + 6]
        now = _get_signed(raw, p + 16, 8)
        ur = np.int64(_get(raw, p + 24, 4))
        orig = np.int64(_get(raw, p + 28, 4))
        inst = _get_signed(raw, p + 32, 8)
        price = _get_signed(raw, p + 48, 8)
        qty = _get_signed(raw, p + 56, 8)
        if kind == Kind.ENTER:
            got = K.order_new(orders, positions, totals, inst, np.int64(_get(raw, p + 40, 8)),
                              raw[p + 97], qty, price, raw[p + 98], _get_signed(raw, p + 64, 8),
                              now)
            if got != ur:
                return MISMATCH, i, session
        elif kind == Kind.CANCEL:
            if K.cancel_sent(orders, positions, totals, ur, qty, now) != K.OK:
                return MISMATCH, i, session
        elif kind == Kind.REPLACE:
            if K.replace_sent(orders, positions, totals, orig, qty, price, now) != ur:
                return MISMATCH, i, session
        elif kind == Kind.MASS_CANCEL:
            if K.mass_cancel_sent(orders, positions, totals, inst, now) != ur:
                return MISMATCH, i, session
        elif kind == Kind.LOCAL_REJECT:
            if K.reject_local(orders, positions, totals, ur, _get_signed(raw, p + 100, 4),
                              now) != K.OK:
                return MISMATCH, i, session
        elif kind == Kind.VENUE:
            K.apply_fields(orders, positions, totals, np.int64(raw[p + 96]), ur, orig, qty,
                           price, np.int64(_get(raw, p + 72, 8)), np.int64(raw[p + 99]),
                           _get_signed(raw, p + 100, 4), now)
            totals[Total.LAST_SEQ] = np.int64(_get(raw, p + 8, 8))
        elif kind == Kind.SESSION:
            if session < 0:  # the first: its messages are numbered from 1 (as connect())
                totals[Total.LAST_SEQ] = 0
            elif not _same_session(raw, session * RECORD, p):
                K.session_closed(orders, positions, totals, now)
            session = i
        else:
            return BAD_KIND, i, session
    return REPLAYED, n, session


class JournalError(RuntimeError):
    """A journal that cannot be written or read: ``path``, ``offset`` (of the bad record,
    or None) and ``reason``."""

    def __init__(self, path: str | os.PathLike, offset: int | None, reason: str) -> None:
        where = f" at offset {offset}" if offset is not None else ""
        super().__init__(f"order journal {path}{where}: {reason}")
        self.path, self.offset, self.reason = str(path), offset, reason


@dataclass(frozen=True)
class Recovery:
    """What :func:`recover` found: records replayed, bytes cut off a torn tail, the next
    UserRefNum, the last venue message applied and the venue session last journaled ("":
    none)."""

    records: int
    truncated: int
    next_user_ref: int
    last_seq: int
    session: str = ""


def append_error(path: str | os.PathLike, status: int) -> JournalError:
    """The error for an append status (< 0)."""
    if status == FAILED_BEFORE:
        return JournalError(path, None, "an earlier write failed; the journal refuses every "
                                        "record since (nothing was sent)")
    e = -status
    return JournalError(path, None, f"write failed: [Errno {e}] {os.strerror(e)} (the "
                                    "record and what it journals were not sent)")


class Journal:
    """The order journal file, open for appending, and the arrays its compiled appenders
    take (:attr:`arrays`). ``policy``: "always", "interval" (``interval_ms``) or "never"."""

    def __init__(self, path: str | os.PathLike, policy: str = "always",
                 interval_ms: float = 5.0) -> None:
        try:
            self.policy = Policy[policy.upper()]
        except KeyError:
            raise ValueError(f"journal fsync policy {policy!r}: one of always, interval, "
                             "never") from None
        self.path = Path(path)
        flags = os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC
        if self.path.exists() and not self.path.is_file():
            flags = os.O_WRONLY | os.O_CLOEXEC  # a device (/dev/full in tests)
        else:
            flags |= os.O_CREAT
        self.fd = os.open(self.path, flags, 0o644)
        st = np.zeros(N_J, np.int64)
        st[J.FD] = self.fd
        st[J.POLICY] = self.policy
        st[J.INTERVAL_NS] = int(interval_ms * 1e6)
        self.arrays = JournalArrays(st, np.zeros(RECORD, np.uint8))

    @property
    def failed(self) -> bool:
        return bool(self.arrays.state[J.FAILED])

    def sync(self) -> None:
        """fdatasync now (any policy)."""
        if _sync(self.arrays.state, 0) != OK:
            raise append_error(self.path, -int(self.arrays.state[J.ERRNO]))

    def close(self) -> None:
        if self.fd >= 0:
            if self.policy != Policy.NEVER and not self.failed and self.path.is_file():
                os.fdatasync(self.fd)
            os.close(self.fd)
            self.fd = -1

    def __enter__(self) -> Journal:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def read_records(path: str | os.PathLike) -> np.ndarray:
    """The journal's whole records as JOURNAL_DTYPE (no checks; a torn tail is left out)."""
    raw = Path(path).read_bytes()
    return np.frombuffer(raw[:len(raw) - len(raw) % RECORD], JOURNAL_DTYPE).copy()


def _session_name(raw: np.ndarray, index: int) -> str:
    if index < 0:
        return ""
    p = index * RECORD + SESSION_AT
    return bytes(raw[p:p + SESSION_LEN]).decode("ascii", "replace").strip()


def session_field(name: str) -> np.ndarray:
    """A session name as a SESSION record keeps it: SESSION_LEN ASCII bytes, left-padded with
    spaces as SoupBinTCP sends it."""
    b = name.strip().encode("ascii")
    if not b or len(b) > SESSION_LEN:
        raise ValueError(f"session name {name!r}: 1..{SESSION_LEN} ASCII characters")
    return np.frombuffer(b.rjust(SESSION_LEN), np.uint8).copy()


def check(path: str | os.PathLike) -> tuple[np.ndarray, int, int]:
    """Read and check the journal at ``path`` without changing it: ``(raw, records, torn)``,
    the file's bytes, the whole good records and the bytes of a torn tail after them (a
    short last record, a bad last record, or zeroed records). Any other bad record raises
    :class:`JournalError` naming its offset. A missing file is an empty journal."""
    path = Path(path)
    if not path.exists():
        return np.frombuffer(b"", np.uint8), 0, 0
    data = path.read_bytes()
    n = len(data) // RECORD
    raw = np.frombuffer(data, np.uint8)
    cut = len(data) - n * RECORD
    bad = int(first_bad(raw, n))
    if bad >= 0:
        tail = raw[bad * RECORD:n * RECORD]
        if bad == n - 1 or not tail[RECORD:].any():
            cut += (n - bad) * RECORD
            n = bad
        else:
            raise JournalError(path, bad * RECORD, "bad record (length, version or checksum) "
                                                   "with good records after it: the journal is "
                                                   "damaged, not torn")
    return raw, n, cut


def recover(path: str | os.PathLike, orders: np.ndarray, positions: np.ndarray,
            totals: np.ndarray) -> Recovery:
    """Rebuild ``orders``/``positions``/``totals`` (fresh, as ``layout.new_*`` make them,
    with the capacity the journal was written with) from the journal at ``path``. A torn tail
    is truncated in the file, with a warning; any other bad record raises
    :class:`JournalError` naming its offset (:func:`check`). A missing file is an empty
    journal."""
    path = Path(path)
    raw, n, cut = check(path)
    if cut:
        warnings.warn(f"order journal {path}: torn tail of {cut} bytes at offset "
                      f"{n * RECORD} (a crash mid-write) truncated", RuntimeWarning,
                      stacklevel=2)
        with open(path, "r+b") as f:
            f.truncate(n * RECORD)
            os.fsync(f.fileno())
    status, at, session = replay(raw, n, orders, positions, totals)
    if status != REPLAYED:
        what = "unknown record kind" if status == BAD_KIND else (
            "a send that replays to another result than it had (was the order table's "
            "capacity the same?)")
        raise JournalError(path, int(at) * RECORD, what)
    return Recovery(n, cut, int(totals[Total.NEXT_USER_REF]), int(totals[Total.LAST_SEQ]),
                    _session_name(raw, int(session)))
