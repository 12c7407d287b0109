"""pools.ArrayPool: a set of arrays is handed out again only when nothing else holds it."""

from __future__ import annotations

from xdptool.pools import ArrayPool


def test_a_set_let_go_is_handed_out_again_unchanged():
    pool = ArrayPool(("Q", "I"), keep=2, largest=100)
    first = pool.take(10)
    assert [a.typecode for a in first] == ["Q", "I"] and all(len(a) == 10 and not any(a) for a in first)
    first[0][3] = 7
    ids = [id(a) for a in first]
    del first
    again = pool.take(10)
    assert [id(a) for a in again] == ids and again[0][3] == 7  # not cleared: its user writes every entry


def test_a_set_anybody_still_holds_is_never_handed_out():
    pool = ArrayPool(("Q",), keep=3, largest=100)
    held = pool.take(10)
    (just_one_array,) = pool.take(10)  # a second set: the first is still held
    assert just_one_array is not held[0]
    kept = held[0]  # one array of a set is enough to keep the whole set out
    del held
    assert pool.take(10)[0] is not kept
    del just_one_array
    assert pool.take(10)[0] is not kept


def _id_of_first(pool: ArrayPool, count: int) -> int:
    """id of the first array of a set taken and let go at once (not inside an assert: pytest's
    rewritten asserts keep what they evaluate)."""
    return id(pool.take(count)[0])


def test_only_sets_of_the_asked_size_and_within_the_limits_are_kept():
    pool = ArrayPool(("I",), keep=1, largest=64)
    eight = pool.take(8)  # held, so no later array can be given its address
    sixteen = _id_of_first(pool, 16)  # another size: a new set, which replaces the one kept
    again = _id_of_first(pool, 16)
    assert sixteen != id(eight[0]) and again == sixteen
    big = pool.take(1000)  # over `largest`: made, not kept (the set of 16 stays)
    after_big = _id_of_first(pool, 16)
    assert after_big == sixteen and len(big[0]) == 1000
    unpooled = ArrayPool(("I",), keep=0, largest=64)
    first = unpooled.take(8)
    second = unpooled.take(8)
    assert second[0] is not first[0] and len(first[0]) == 8 and not unpooled._sets
