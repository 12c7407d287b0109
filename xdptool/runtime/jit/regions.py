"""The native mirror of the interpreter's address space: the region table.

The runtime's `AddressSpace` stays the source of truth for which regions exist
(names, buffers, windows, writability); `RegionTable` lays them out as the
words native code indexes (`env.R_*` per region id) and pins each buffer
(a ctypes view keeps a bytearray from being resized, so host addresses stay
valid while native code runs).  mirror.py decides what goes in.
"""

from __future__ import annotations

import ctypes

from .layout import R_HI, R_HOST, R_LO, R_WRITABLE, REGION_WORDS

EMPTY_WINDOW = (1, 0)  # lo > hi: every access fails the range check


def host_address(buf) -> tuple[int, object]:
    """(host address of buf[0], the pinning view) for a bytearray or writable
    memoryview; immutable bytes (never written natively) are copied."""
    if len(buf) == 0:
        return 0, None
    if isinstance(buf, bytes) or (isinstance(buf, memoryview) and buf.readonly):
        view = ctypes.create_string_buffer(bytes(buf), len(buf))
    else:
        view = (ctypes.c_char * len(buf)).from_buffer(buf)
    return ctypes.addressof(view), view


class RegionTable:
    def __init__(self, capacity: int = 64):
        self.words = (ctypes.c_uint64 * 0)()
        self._pins: dict[int, tuple[object, object]] = {}  # rid -> (buffer, view)
        self.grow(capacity)

    def grow(self, capacity: int) -> None:
        words = (ctypes.c_uint64 * (capacity * REGION_WORDS))()
        ctypes.memmove(words, self.words, ctypes.sizeof(self.words))
        for rid in range(len(self.words) // REGION_WORDS, capacity):
            words[rid * REGION_WORDS + R_LO], words[rid * REGION_WORDS + R_HI] = EMPTY_WINDOW
        self.words = words
        self.capacity = capacity

    @property
    def address(self) -> int:
        return ctypes.addressof(self.words)

    def set_window(self, rid: int, lo: int, hi: int) -> None:
        base = rid * REGION_WORDS
        self.words[base + R_LO] = lo & 0xFFFFFFFFFFFFFFFF
        self.words[base + R_HI] = hi & 0xFFFFFFFFFFFFFFFF

    def window(self, rid: int) -> tuple[int, int]:
        base = rid * REGION_WORDS
        return self.words[base + R_LO], self.words[base + R_HI]

    def put(self, rid: int, buf, lo: int, hi: int, writable: bool) -> None:
        pinned = self._pins.get(rid)
        if pinned is None or pinned[0] is not buf:
            address, view = host_address(buf)
            self._pins[rid] = (buf, view)
        else:
            address = ctypes.addressof(pinned[1]) if pinned[1] is not None else 0
        base = rid * REGION_WORDS
        self.words[base + R_HOST] = address
        self.words[base + R_WRITABLE] = int(writable)
        self.set_window(rid, lo, hi)

    def clear(self, rid: int) -> None:
        self._pins.pop(rid, None)
        base = rid * REGION_WORDS
        self.words[base + R_HOST] = 0
        self.words[base + R_WRITABLE] = 0
        self.set_window(rid, *EMPTY_WINDOW)
