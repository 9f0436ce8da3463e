"""Refused messages: with ``errors="raise"`` a ``BookError`` naming the offset and the reason,
and the books exactly as before; with ``errors="skip"`` counted in ``stats()['rejected']`` while
the messages after it still apply."""

from __future__ import annotations

import pytest

from reference.book import RESERVED, ReferenceBook
from reference.harness import (
    STATUS_CODES,
    A,
    C,
    D,
    E,
    F,
    R,
    U,
    X,
    assert_same,
    decode,
    feed,
    frame,
    home_slot,
    new_store,
    refs_homing_at,
    snapshot,
)
from tickpath.book import BookError
from tickpath.book import apply as kernels

# a book with two instruments, both sides, two orders sharing a level
SETUP = [
    R("AAA", 1), R("BBB", 2),
    A(10, "B", 100, 1000), A(11, "B", 50, 1000), A(12, "S", 70, 1010), F(13, "S", 30, 1020),
    A(20, "B", 5, 300, loc=2), A(21, "S", 5, 301, loc=2),
]
REFS = [10, 11, 12, 13, 20, 21, 99, 7, RESERVED]

CASES = {
    "execute unknown ref": (E(99, 1), "UNKNOWN_REF"),
    "execute-with-price unknown ref": (C(99, 1), "UNKNOWN_REF"),
    "cancel unknown ref": (X(99, 1), "UNKNOWN_REF"),
    "delete unknown ref": (D(99), "UNKNOWN_REF"),
    "replace unknown ref": (U(99, 7, 1, 1000), "UNKNOWN_REF"),
    "replace to an existing ref": (U(10, 12, 5, 1001), "DUPLICATE_REF"),
    "replace to itself": (U(10, 10, 5, 1001), "DUPLICATE_REF"),
    "replace to another instrument's ref": (U(10, 20, 5, 1001), "DUPLICATE_REF"),
    "over-execute": (E(11, 51), "OVER_EXECUTE"),
    "over-execute with price": (C(12, 71, price=1010), "OVER_EXECUTE"),
    "over-cancel": (X(13, 31), "OVER_EXECUTE"),
    "bad side": (A(7, "X", 10, 1000), "BAD_SIDE"),
    "bad side lowercase": (F(7, "b", 10, 1000), "BAD_SIDE"),
    "bad side blank": (A(7, " ", 10, 1000), "BAD_SIDE"),
    "duplicate add": (A(10, "B", 1, 999), "DUPLICATE_REF"),
    "duplicate add across instruments": (F(20, "S", 1, 999), "DUPLICATE_REF"),
    "add zero shares": (A(7, "B", 0, 1000), "BAD_SHARES"),
    "execute zero shares": (E(10, 0), "BAD_SHARES"),
    "cancel zero shares": (X(10, 0), "BAD_SHARES"),
    "replace zero shares": (U(10, 7, 0, 1000), "BAD_SHARES"),
    "execute on the wrong locate": (E(10, 1, loc=2), "LOCATE_MISMATCH"),
    "delete on the wrong locate": (D(20, loc=1), "LOCATE_MISMATCH"),
    "replace on the wrong locate": (U(10, 7, 1, 1, loc=3), "LOCATE_MISMATCH"),
    "add the reserved ref": (A(RESERVED, "B", 1, 1), "RESERVED_REF"),
    "replace to the reserved ref": (U(10, RESERVED, 1, 1), "RESERVED_REF"),
}
LATER = [A(30, "S", 9, 1005), E(10, 100), D(13)]  # valid after any one case above


def _loaded(errors: str):
    store = new_store(64, errors=errors)
    ref = ReferenceBook(64)
    used, _ = feed(store, SETUP)
    for t, f in SETUP:
        assert ref.apply(t, **f) is None
    return store, ref, used


@pytest.mark.parametrize("case", list(CASES))
def test_refused_with_raise_names_offset_and_reason(case):
    bad, status = CASES[case]
    store, ref, base = _loaded("raise")
    # in one batch: a good message (applied), the bad one (raises), a good one (not reached)
    good = A(40, "B", 1, 900)
    raw, offsets = frame([good, bad, LATER[0]], base)
    events, n = decode(raw, base)
    with pytest.raises(BookError) as info:
        store.apply(events, n)
    err = info.value
    assert err.status == STATUS_CODES[status]
    assert err.offset == offsets[1]
    assert f"at offset {offsets[1]}" in str(err)
    assert kernels.STATUS_TEXT[err.status] in str(err)
    assert f"{bad[0]!r}" in str(err)
    assert int(err.event["type"]) == ord(bad[0])
    assert ref.apply(good[0], **good[1]) is None
    assert ref.apply(bad[0], **bad[1]) == status  # the reference agrees, and counts it
    assert_same(store, ref, locates=[1, 2, 3], refs=REFS + [30, 40], rejections=False)


@pytest.mark.parametrize("case", list(CASES))
def test_refused_alone_leaves_every_answer_unchanged(case):
    bad, status = CASES[case]
    store, _, base = _loaded("raise")
    before = snapshot(store, REFS)
    stats_before = store.stats()
    with pytest.raises(BookError) as info:
        feed(store, [bad], base)
    assert info.value.status == STATUS_CODES[status]
    assert info.value.offset == base + 2
    assert snapshot(store, REFS) == before  # books, depth, orders, counters, per-instrument
    stats = store.stats()
    assert stats["rejected"] == stats_before["rejected"] + 1
    assert stats["events"] == stats_before["events"] + 1


@pytest.mark.parametrize("case", list(CASES))
def test_refused_with_skip_is_counted_and_later_messages_apply(case):
    bad, status = CASES[case]
    store, ref, base = _loaded("skip")
    msgs = [bad, *LATER]
    reasons = [ref.apply(t, **f) for t, f in msgs]
    assert reasons == [status, None, None, None]
    _, offsets = feed(store, msgs, base)
    assert store.stats()["rejected"] == 1
    assert [e.status for e in store.rejections] == [STATUS_CODES[status]]
    assert store.rejections[0].offset == offsets[0]
    assert_same(store, ref, locates=[1, 2, 3], refs=REFS + [30, 40])


@pytest.mark.parametrize("bad", [
    D(RESERVED, loc=0), E(RESERVED, 1, loc=0), C(RESERVED, 1, loc=0), X(RESERVED, 1, loc=0),
    U(RESERVED, 5, 1, 1, loc=0)], ids=lambda m: m[0])
@pytest.mark.parametrize("stale", [False, True])
def test_reserved_ref_is_unknown_to_execute_cancel_delete_replace(bad, stale):
    """0xFFFFFFFFFFFFFFFF marks an empty hash slot; naming it must never find one. With
    ``stale``, an order homed where that number hashes was deleted first, so the empty slot
    there still holds its old shares, level and locate."""
    store = new_store(64, errors="skip")
    ref = ReferenceBook(64)
    msgs = [A(3, "B", 100, 1000, loc=0), A(4, "S", 100, 1001, loc=0)]
    if stale:
        r = refs_homing_at({home_slot(RESERVED, store.mask)}, store.mask, 10, 1)[0]
        msgs += [A(r, "B", 100, 1000, loc=0), D(r, loc=0)]
    msgs.append(bad)
    for t, f in msgs:
        ref.apply(t, **f)
    assert ref.rejections == ["UNKNOWN_REF"]
    feed(store, msgs)
    assert store.stats()["rejected"] == 1
    assert_same(store, ref, locates=[0], refs=[3, 4, 5, RESERVED])
