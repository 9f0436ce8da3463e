"""Full tables: ORDERS_FULL and LEVELS_FULL are reported, nothing is half-applied, and adds
succeed again once deletes free room."""

from __future__ import annotations

import pytest

from reference.book import ReferenceBook
from reference.harness import (
    STATUS_CODES,
    A,
    Both,
    D,
    E,
    U,
    X,
    assert_same,
    feed,
    new_store,
    snapshot,
)
from tickpath.book import BookError


@pytest.mark.parametrize("max_orders", [1, 8, 64, 100, 4096])
def test_order_table_full(max_orders):
    b = Both(max_orders=max_orders, locates=(1, 2))
    b.run([A(1000 + i, "B" if i % 2 else "S", 10, 100 + i % 3 + (i % 2) * 50, loc=1 + i % 2)
           for i in range(max_orders)])
    assert b.store.stats()["live_orders"] == max_orders
    assert b.run([A(1, "B", 5, 1), A(2, "S", 5, 500, loc=2)], ok=False) == ["ORDERS_FULL"] * 2
    assert [e.status for e in b.store.rejections] == [STATUS_CODES["ORDERS_FULL"]] * 2
    # a replace keeps the count, so it still works when full; execute/cancel/delete free room
    b.run([U(1000, 1, 7, 99, loc=1)])
    b.run([E(1, 7, loc=1)])
    b.run([A(2, "S", 5, 500, loc=2)])
    assert b.run([A(3, "S", 5, 500, loc=2)], ok=False) == ["ORDERS_FULL"]
    if max_orders > 1:
        b.run([X(1001, 10, loc=2), D(2, loc=2), A(3, "S", 5, 500), A(4, "B", 1, 1)])
    # drain everything, then fill the whole table again
    b.run([D(r, b.ref.orders[r].locate) for r in list(b.ref.orders)])
    b.run([A(5000 + i, "B", 1, 7) for i in range(max_orders)])
    assert b.store.stats()["max_live_orders"] == max_orders


def test_order_table_full_raises_and_changes_nothing():
    store = new_store(8, errors="raise")
    used, _ = feed(store, [A(i, "B", 1, 10 + i) for i in range(8)])
    before = snapshot(store, range(10))
    with pytest.raises(BookError, match=r"at offset \d+: order table full") as info:
        feed(store, [A(99, "S", 1, 50)], used)
    assert info.value.status == STATUS_CODES["ORDERS_FULL"]
    assert info.value.offset == used + 2
    assert snapshot(store, range(10)) == before
    assert store.order(99) is None
    feed(store, [D(3)], used + 100)
    feed(store, [A(99, "S", 1, 50)], used + 200)
    assert store.order(99)["price"] == 50


def test_level_pool_full():
    b = Both(max_orders=64, max_levels=4, locates=(1, 2))
    b.run([A(1, "B", 10, 100), A(2, "S", 10, 101), A(3, "B", 10, 100, loc=2),
           A(4, "S", 10, 200, loc=2)])
    assert b.store.stats()["live_levels"] == 4
    # a fifth price anywhere is refused, on any instrument and side
    assert b.run([A(5, "B", 1, 99), A(6, "S", 1, 300, loc=2), A(7, "B", 1, 1, loc=3)],
                 ok=False) == ["LEVELS_FULL"] * 3
    # replacing the only order of a level gives that level back first, so it may move
    b.run([U(1, 8, 10, 98)])
    # executions at existing levels keep working; emptying a level frees it
    b.run([E(2, 10)])
    b.run([A(9, "S", 1, 105)])
    assert b.run([A(10, "S", 1, 106)], ok=False) == ["LEVELS_FULL"]
    b.run([D(9), A(10, "S", 1, 106)])
    assert b.store.stats()["max_live_levels"] == 4


def test_level_pool_full_raises_and_changes_nothing():
    store = new_store(16, max_levels=2, errors="raise")
    used, _ = feed(store, [A(1, "B", 10, 100), A(2, "S", 10, 101)])
    before = snapshot(store, range(5))
    with pytest.raises(BookError, match="price-level pool full") as info:
        feed(store, [A(3, "B", 1, 99)], used)
    assert info.value.status == STATUS_CODES["LEVELS_FULL"]
    assert snapshot(store, range(5)) == before
    feed(store, [X(1, 10), A(3, "B", 1, 99)], used + 200)
    assert store.order(3)["price"] == 99


def test_full_pool_refuses_replace_whose_level_stays():
    b = Both(max_orders=16, max_levels=2)
    b.run([A(1, "B", 10, 100), A(2, "B", 5, 100), A(3, "S", 5, 101)])
    assert b.run([U(1, 4, 1, 99)], ok=False) == ["LEVELS_FULL"]
    assert b.store.order(1)["shares"] == 10 and b.store.order(4) is None
    b.run([D(2), U(1, 4, 1, 99)])


@pytest.mark.parametrize("errors", ["skip", "raise"])
def test_tables_grow_mid_batch_up_to_the_maximum(errors):
    """A store that starts small grows its order table and level pool between kernel calls,
    resuming at the message that found them full; only at the maximum is anything refused."""
    store = new_store(1000, max_levels=600, errors=errors, initial_orders=1)
    ref = ReferenceBook(1000, 600)
    msgs = []
    for i in range(1000):
        msgs.append(A(1 << 20 | i, "B" if i % 2 else "S", 1 + i % 9, 1000 + (i % 600) * 3,
                      loc=i % 3))
        if i % 7 == 6:
            msgs.append(D(1 << 20 | (i - 3), loc=(i - 3) % 3))
    for t, f in msgs:
        assert ref.apply(t, **f) is None
    used, _ = feed(store, msgs)
    assert_same(store, ref, locates=[0, 1, 2], refs=range(1 << 20, (1 << 20) + 1000),
                rejections=errors == "skip")
    assert store.stats()["rejected"] == 0
    # fill up to exactly max_orders, then one more is refused
    more = [A(5 << 20 | i, "S", 1, 1000, loc=0) for i in range(1000 - len(ref.orders))]
    for t, f in more:
        assert ref.apply(t, **f) is None
    used2, _ = feed(store, more, used)
    assert store.stats()["live_orders"] == 1000
    one_more = A(7, "S", 1, 1000, loc=0)
    assert ref.apply(one_more[0], **one_more[1]) == "ORDERS_FULL"
    if errors == "raise":
        with pytest.raises(BookError, match="order table full"):
            feed(store, [one_more], used + used2)
    else:
        feed(store, [one_more], used + used2)
    assert store.stats()["rejected"] == 1
    assert_same(store, ref, locates=[0, 1, 2], refs=[7], rejections=errors == "skip")


@pytest.mark.parametrize("kw", [{"initial_orders": 0}, {"initial_orders": -4},
                                {"max_levels": -1}, {"max_orders": 0}])
def test_sizes_that_could_never_grow_are_refused(kw):
    """Growth doubles the tables: from none it would never grow, and a refused add would be
    retried for ever."""
    from tickpath.book import BookStore

    with pytest.raises(ValueError, match=next(iter(kw))):
        BookStore(**kw)


def test_a_table_of_one_grows():
    """The smallest start: one order, one level, grown as the day needs."""
    store = new_store(64, initial_orders=1)
    b = Both(max_orders=64, locates=(1,))
    b.store = store
    b.run([A(10 + i, "B", 5, 100 + i) for i in range(20)] + [D(10 + i) for i in range(0, 20, 2)])
    assert store.stats()["live_orders"] == 10 and store.capacity >= 20
