"""Checked virtual memory for the interpreter: regions, tagged addresses, faults.

Every object a program can point at (the packet frame, each stack frame, the
context, each map value, a ringbuf reservation, helper scratch) is a `Region`
with its own id.  An address is ``(id << 32) | (ORIGIN + offset)``: the region id
sits in the high bits, and offsets start at ORIGIN = 2**31 so that a pointer
moved a little below its region (negative offsets) keeps its region id and is
reported against the right object.  Resolving an address is one dict lookup and
one range check; no bisecting, no Python object per byte.

Each region has a valid window ``[lo, hi)`` inside its buffer (the packet region
moves its window when adjust_head/tail/meta run) and may be read-only or have a
`reader` hook (the context, whose fields are computed on read).  Violations raise
`MemoryFault`, which engines turn into a `contract.Fault` and an XDP_ABORTED run;
it never escapes to the user.
"""

from __future__ import annotations

import struct
from typing import Callable

ORIGIN = 1 << 31
REGION_SHIFT = 32
OFFSET_MASK = (1 << REGION_SHIFT) - 1
U64 = (1 << 64) - 1

_UNPACK = {n: struct.Struct(f"<{c}").unpack_from for n, c in ((1, "B"), (2, "H"), (4, "I"), (8, "Q"))}
_PACK = {n: struct.Struct(f"<{c}").pack_into for n, c in ((1, "B"), (2, "H"), (4, "I"), (8, "Q"))}
_MASK = {1: 0xFF, 2: 0xFFFF, 4: 0xFFFFFFFF, 8: U64}


class MemoryFault(Exception):
    """A checked access failed; carries what the Fault report needs."""

    def __init__(self, message: str, address: int | None = None, region: str | None = None):
        super().__init__(message)
        self.message = message
        self.address = address
        self.region = region


class Region:
    """A contiguous object in the address space."""

    __slots__ = ("id", "name", "buf", "lo", "hi", "writable", "base", "reader")

    def __init__(self, rid: int, name: str, buf, *, writable: bool = True, lo: int = 0,
                 hi: int | None = None, reader: Callable[[int, int], int] | None = None):
        self.id = rid
        self.name = name
        self.buf = buf
        self.lo = lo
        self.hi = len(buf) if hi is None else hi
        self.writable = writable
        self.base = (rid << REGION_SHIFT) | ORIGIN  # address of buf[0]
        self.reader = reader

    def addr(self, offset: int = 0) -> int:
        return self.base + offset

    def __repr__(self) -> str:
        return f"<Region {self.id} {self.name} [{self.lo}, {self.hi})>"


class AddressSpace:
    """The set of live regions; loads, stores and bulk copies go through it."""

    def __init__(self) -> None:
        self.regions: dict[int, Region] = {}
        self._next_id = 1  # id 0 is never used: small integers and NULL fault
        self._free_ids: list[int] = []  # ids of removed regions, reused (keeps ids small)

    def add(self, name: str, buf, **kw) -> Region:
        if self._free_ids:
            rid = self._free_ids.pop()
        else:
            rid = self._next_id
            self._next_id += 1
        region = Region(rid, name, buf, **kw)
        self.regions[rid] = region
        return region

    def remove(self, region: Region) -> None:
        if self.regions.pop(region.id, None) is not None:
            self._free_ids.append(region.id)

    # -- resolving ---------------------------------------------------------
    def resolve(self, addr: int, size: int, write: bool = False) -> tuple[Region, int]:
        """(region, buffer offset) of an access of `size` bytes, or MemoryFault."""
        region = self.regions.get(addr >> REGION_SHIFT)
        if region is None:
            kind = "write" if write else "read"
            what = "NULL pointer" if addr < 4096 else "unmapped address"
            raise MemoryFault(f"invalid {kind} of {size} bytes at {what} {addr:#x}", addr, None)
        off = (addr & OFFSET_MASK) - ORIGIN
        if off < region.lo or off + size > region.hi:
            raise MemoryFault(self._oob_message(region, off, size, write), addr, region.name)
        if write and not region.writable:
            raise MemoryFault(f"write of {size} bytes into read-only {region.name}", addr, region.name)
        return region, off

    @staticmethod
    def _oob_message(region: Region, off: int, size: int, write: bool) -> str:
        kind = "write" if write else "read"
        rel = off - region.lo
        return (f"out-of-bounds {kind} of {size} bytes at {region.name}{rel:+d} "
                f"({region.name} is {region.hi - region.lo} bytes)")

    def describe(self, addr: int) -> str:
        region = self.regions.get(addr >> REGION_SHIFT)
        if region is None:
            return f"{addr:#x}"
        return f"{region.name}{(addr & OFFSET_MASK) - ORIGIN - region.lo:+d}"

    # -- scalar access -----------------------------------------------------
    def load(self, addr: int, size: int) -> int:
        """Unsigned little-endian load of 1/2/4/8 bytes."""
        region, off = self.resolve(addr, size)
        if region.reader is not None:
            return region.reader(off, size)
        return _UNPACK[size](region.buf, off)[0]

    def store(self, addr: int, size: int, value: int) -> None:
        region, off = self.resolve(addr, size, True)
        _PACK[size](region.buf, off, value & _MASK[size])

    # -- bulk access (helpers) ----------------------------------------------
    def read(self, addr: int, n: int) -> bytes:
        if n == 0:
            return b""
        region, off = self.resolve(addr, n)
        if region.reader is not None:
            raise MemoryFault(f"helper may not read {region.name} as memory", addr, region.name)
        return bytes(region.buf[off:off + n])

    def write(self, addr: int, data: bytes) -> None:
        if not data:
            return
        region, off = self.resolve(addr, len(data), True)
        region.buf[off:off + len(data)] = data

    def _readable(self, addr: int) -> tuple[Region, int] | None:
        region = self.regions.get(addr >> REGION_SHIFT)
        if region is None or region.reader is not None:  # the context is not memory
            return None
        off = (addr & OFFSET_MASK) - ORIGIN
        return (region, off) if region.lo <= off < region.hi else None

    def copy_string_nofault(self, addr: int, limit: int) -> bytes | None:
        """strncpy_from_kernel_nofault with count limit + 1: the bytes before a NUL, at most
        `limit` (a longer string is cut), or None where a byte it reads is not memory."""
        found = self._readable(addr)
        if found is None:
            return None
        region, off = found
        window = bytes(region.buf[off:min(region.hi, off + limit + 1)])
        nul = window.find(b"\0")
        if nul >= 0:
            return window[:nul]
        return window[:limit] if len(window) == limit + 1 else None

    def copy_nofault(self, addr: int, size: int) -> bytes | None:
        """copy_from_kernel_nofault: `size` bytes, or None where they are not all memory."""
        found = self._readable(addr)
        if found is None or found[1] + size > found[0].hi:
            return None
        region, off = found
        return bytes(region.buf[off:off + size])

    def read_cstring(self, addr: int, limit: int) -> bytes:
        """Bytes up to the first NUL within `limit` bytes (fault if the region ends first)."""
        region, off = self.resolve(addr, 1)
        end = min(region.hi, off + limit)
        chunk = bytes(region.buf[off:end])
        nul = chunk.find(b"\0")
        if nul < 0:
            raise MemoryFault(f"string at {region.name}{off - region.lo:+d} is not NUL-terminated",
                              addr, region.name)
        return chunk[:nul]


UNPACK = _UNPACK
PACK = _PACK
MASK = _MASK
