"""The order journal: its record layout, checksums, fsync policies, replay to the same state,
torn tails, damaged records, and a full disk."""

from __future__ import annotations

import os
import zlib

import numpy as np
import pytest

from tickpath.codec.ouch50 import OUT_DTYPE
from tickpath.gateway import journal as Jm
from tickpath.gateway import orders as K
from tickpath.gateway.journal import J, Journal, JournalError, Kind, read_records, recover
from tickpath.gateway.layout import Total, new_orders, new_positions, new_totals


def _state():
    return new_orders(64), new_positions(8), new_totals()


def _day(j, a, n=6):
    """A few orders, accepts, fills, a cancel and a replace: journaled as the session does
    (check, journal, apply). Returns the venue sequence number reached."""
    rec = np.zeros(1, OUT_DTYPE)[0]
    seq = 0

    def venue(t, ur, qty=0, price=0, orig=0, state="L"):
        nonlocal seq
        seq += 1
        rec["type"], rec["user_ref_num"], rec["orig_user_ref_num"] = ord(t), ur, orig
        rec["quantity"], rec["price"], rec["order_state"] = qty, price, ord(state)
        rec["order_reference_number"] = 500 + seq
        assert Jm.journal_venue(j, seq, rec, seq) == 0
        K.apply_outbound(rec, *a, seq)
        a[2][Total.LAST_SEQ] = seq

    refs = []
    for i in range(n):
        ur = K.check_new(*a, i % 4, ord("BS"[i % 2]), 100 + i, 10_000 + i)
        assert Jm.journal_enter(j, ur, i % 4, 0x41, ord("BS"[i % 2]), 100 + i, 10_000 + i,
                                ord("0"), i, i) == 0
        assert K.order_new(*a, i % 4, 0x41, ord("BS"[i % 2]), 100 + i, 10_000 + i, ord("0"),
                           i, i) == ur
        refs.append(ur)
        venue("A", ur, 100 + i, 10_000 + i)
    venue("E", refs[0], 30, 10_000)
    assert Jm.journal_cancel(j, refs[1], 0, 99) == 0
    assert K.cancel_sent(*a, refs[1], 0, 99) == 0
    venue("C", refs[1], 101)
    new = K.check_replace(a[0], a[2], refs[2], 90, 10_050)
    assert Jm.journal_replace(j, refs[2], new, 90, 10_050, 100) == 0
    assert K.replace_sent(*a, refs[2], 90, 10_050, 100) == new
    venue("U", new, 90, 10_050, orig=refs[2])
    ur = int(a[2][Total.NEXT_USER_REF])
    assert Jm.journal_mass_cancel(j, ur, 3, 101) == 0
    assert K.mass_cancel_sent(*a, 3, 101) == ur
    return seq


def test_records_have_the_documented_layout_and_zlib_checksums(tmp_path):
    path = tmp_path / "orders.journal"
    a = _state()
    with Journal(path, "never") as j:
        _day(j.arrays, a)
    raw = path.read_bytes()
    assert len(raw) % Jm.RECORD == 0
    recs = read_records(path)
    for i, r in enumerate(recs):
        chunk = raw[i * Jm.RECORD:(i + 1) * Jm.RECORD]
        assert r["crc"] == zlib.crc32(chunk[4:]) and r["length"] == Jm.RECORD
    enters = recs[recs["kind"] == Kind.ENTER]
    assert list(enters["user_ref"]) == [1, 2, 3, 4, 5, 6]
    assert list(enters["qty"]) == [100, 101, 102, 103, 104, 105]
    venue = recs[recs["kind"] == Kind.VENUE]
    assert list(venue["seq"]) == list(range(1, len(venue) + 1))
    assert bytes(venue["type"]).decode() == "AAAAAAECU"


def test_recovery_rebuilds_the_same_state(tmp_path):
    path = tmp_path / "orders.journal"
    a = _state()
    with Journal(path, "always") as j:
        seq = _day(j.arrays, a)
        assert j.arrays.state[J.SYNCS] == j.arrays.state[J.RECORDS]
    b = _state()
    got = recover(path, *b)
    assert got.last_seq == seq and got.next_user_ref == a[2][Total.NEXT_USER_REF] == 9
    assert got.truncated == 0
    for x, y in zip(a, b, strict=True):
        assert np.array_equal(x, y)


def test_session_records_close_the_orders_of_an_earlier_session_on_replay(tmp_path):
    """A SESSION record keeps the venue session's name; replay closes the open orders when
    the name changes (canceled, reason 'T'), not when the same session is journaled again,
    and the next session's messages are numbered from 1."""
    path = tmp_path / "orders.journal"
    a = _state()
    with Journal(path, "never") as j:
        assert Jm.journal_session(j.arrays, Jm.session_field("DAY1"), 1, 0) == 0
        seq = _day(j.arrays, a)
        assert Jm.journal_session(j.arrays, Jm.session_field("DAY1"), seq + 1, 1) == 0
    b = _state()
    got = recover(path, *b)
    assert got.session == "DAY1" and got.last_seq == seq
    open_before = int(b[2][Total.OPEN_ORDERS])
    assert open_before > 0
    for x, y in zip(a, b, strict=True):
        assert np.array_equal(x, y)
    with Journal(path, "never") as j:
        assert Jm.journal_session(j.arrays, Jm.session_field("DAY2"), 1, 2) == 0
    recs = read_records(path)
    assert list(recs["session"][recs["kind"] == Kind.SESSION]) == [b"      DAY1"] * 2 + [
        b"      DAY2"]
    c = _state()
    got = recover(path, *c)
    assert got.session == "DAY2" and got.last_seq == 0
    orders, positions, totals = c
    assert totals[Total.OPEN_ORDERS] == 0 and totals[Total.OPEN_NOTIONAL] == 0
    assert (positions["open_head"] == -1).all() and not positions["open_buy"].any()
    closed = orders[(orders["reason"] == K.SESSION_EXPIRED)]
    assert len(closed) >= open_before
    assert (closed["state"] == 5).all() and not closed["leaves"].any()
    assert np.array_equal(positions["position"], b[1]["position"])  # fills stay booked
    assert totals[Total.NEXT_USER_REF] == b[2][Total.NEXT_USER_REF]
    with pytest.raises(ValueError, match="1..10 ASCII"):
        Jm.session_field("ELEVEN_CHAR")


def test_a_torn_last_record_is_truncated_with_a_warning(tmp_path):
    path = tmp_path / "orders.journal"
    a = _state()
    with Journal(path, "never") as j:
        _day(j.arrays, a)
    size = path.stat().st_size
    with open(path, "r+b") as f:
        f.truncate(size - 50)  # a crash mid-write of the last record (the mass cancel)
    b = _state()
    with pytest.warns(RuntimeWarning, match=f"torn tail of {Jm.RECORD - 50} bytes at offset "
                                            f"{size - Jm.RECORD}"):
        got = recover(path, *b)
    assert path.stat().st_size == size - Jm.RECORD
    assert got.records == size // Jm.RECORD - 1
    assert got.next_user_ref == 8  # the mass cancel's user_ref was never written: free again
    # a full-size last record with garbage (power loss) is torn too
    with open(path, "ab") as f:
        f.write(b"\x00" * Jm.RECORD)
    with pytest.warns(RuntimeWarning, match="torn tail"):
        recover(path, *_state())


def test_a_bad_record_before_the_end_names_its_offset(tmp_path):
    path = tmp_path / "orders.journal"
    with Journal(path, "never") as j:
        _day(j.arrays, _state())
    data = bytearray(path.read_bytes())
    data[3 * Jm.RECORD + 60] ^= 0x01
    path.write_bytes(bytes(data))
    with pytest.raises(JournalError, match=f"at offset {3 * Jm.RECORD}: bad record"):
        recover(path, *_state())


def test_a_full_disk_is_an_error_and_the_journal_refuses_after_it():
    a = _state()
    with Journal("/dev/full", "always") as j:
        ur = K.check_new(*a, 1, ord("B"), 10, 100)
        status = Jm.journal_enter(j.arrays, ur, 1, 0, ord("B"), 10, 100, 0, 0, 0)
        assert status == -28  # ENOSPC
        assert j.failed
        assert "No space left on device" in str(Jm.append_error(j.path, status))
        assert Jm.journal_cancel(j.arrays, ur, 0, 0) == Jm.FAILED_BEFORE
        assert j.arrays.state[J.RECORDS] == 0


def test_interval_policy_syncs_at_most_every_interval(tmp_path):
    a = _state()
    with Journal(tmp_path / "j", "interval", interval_ms=1.0) as j:
        st = j.arrays.state
        for t in range(10):  # ten records within 0.9 ms: one sync (the first: none before)
            ur = K.check_new(*a, 1, ord("B"), 10, 100)
            assert Jm.journal_enter(j.arrays, ur, 1, 0, ord("B"), 10, 100, 0, 0,
                                    1_000_000 + t * 100_000) == 0
            K.order_new(*a, 1, 0, ord("B"), 10, 100, 0, 0, 0)
        assert st[J.SYNCS] == 1 and st[J.DIRTY] == 9
        assert Jm.sync_due(j.arrays, 1_500_000) == 0 and st[J.SYNCS] == 1
        assert Jm.sync_due(j.arrays, 2_000_000) == 0 and st[J.SYNCS] == 2
        assert st[J.DIRTY] == 0


def test_never_policy_writes_without_syncing(tmp_path):
    with Journal(tmp_path / "j", "never") as j:
        _day(j.arrays, _state())
        assert j.arrays.state[J.SYNCS] == 0 and j.arrays.state[J.RECORDS] > 0
    assert os.path.getsize(tmp_path / "j") == j.arrays.state[J.BYTES]


def test_unknown_policy_is_refused(tmp_path):
    with pytest.raises(ValueError, match="always, interval, never"):
        Journal(tmp_path / "j", "sometimes")


def test_the_first_session_record_numbers_its_messages_from_one_on_replay_too(tmp_path):
    """A journal whose venue messages came before any SESSION record (an earlier version's),
    then a login journaled as SESSION: as the live login did, replay asks the new session
    for its messages from 1, not from the old numbers."""
    path = tmp_path / "orders.journal"
    a = _state()
    with Journal(path, "never") as j:
        seq = _day(j.arrays, a)
        assert Jm.journal_session(j.arrays, Jm.session_field("DAY2"), 1, 5) == 0
    assert seq > 0
    got = recover(path, *_state())
    assert got.session == "DAY2" and got.last_seq == 0
