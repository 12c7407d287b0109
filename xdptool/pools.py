"""Sets of flat arrays handed out again once nothing else holds them.

A streamed replay makes the same per-piece arrays over and over: the capture walk's
per-record arrays (replay/scan.py) and the jit's per-packet results (runtime/jit/engine.py).
Fresh ones cost a page fault per 4 KiB they cover: over 1M packets ~3,900 faults (~8 ms)
for the walk's alone, and 3.5-5 ms for the results'.  A pooled set is handed out again
only when CPython's reference count says the pool is its only holder, so a piece or a
result somebody still keeps is never overwritten.  A reused set is not cleared: its users
write every entry they hand on.
"""

import sys
from array import array

HELD_BY_THE_POOL_ONLY = 3  # references to a free set (an array of it): the pool (the set), the loop's name, getrefcount's argument


class ArrayPool:
    """Up to `keep` sets of arrays of the typecodes `codes`, of at most `largest` entries
    each (a larger one-off set is not kept).  Not for sharing between threads: each user
    owns its pool."""

    def __init__(self, codes: tuple[str, ...], keep: int, largest: int):
        self.codes, self.keep, self.largest = codes, keep, largest
        self._sets: list[tuple[array, ...]] = []

    def take(self, count: int) -> tuple[array, ...]:
        """A set of `count` entries per array: a free pooled one, else a new zeroed one."""
        for held in self._sets:
            if len(held[0]) == count and sys.getrefcount(held) == HELD_BY_THE_POOL_ONLY and all(
                    sys.getrefcount(a) == HELD_BY_THE_POOL_ONLY for a in held):  # the set, or any one array
                return held
        # zeroed as array([0]) * count: array(code, bytes(n)) measured ~20x slower
        made = tuple(array(code, [0]) * count for code in self.codes)
        if self.keep and count <= self.largest:
            if len(self._sets) == self.keep:
                self._sets.pop(0)
            self._sets.append(made)
        return made
