"""Hash-family maps: hash, percpu_hash, lru_hash, lru_percpu_hash, devmap_hash.

Storage is an open-addressing table with linear probing in one preallocated
bytearray, never resized, so a value pointer stays valid until its element is
deleted.  Layout of `buffer` (little-endian):

    header   0: u64 count   (live elements)
             8: u64 tick    (LRU clock: bumped and stored in a slot on every use)
            16: u64 version (bumped by every insert and delete)
    slot i at HEADER + i * slot_size, i < capacity = next_pow2(max(2 * max_entries, 2)):
        +0   u32 state      0 empty, 1 used, 2 deleted (tombstone)
        +4   u32 reserved
        +8   u64 stamp      LRU: tick of the last lookup/update
        +16  key            key_size bytes, padded to round_up(key_size, 8)
        +16+key_stride      value for cpu c at + c * value_stride (ncpus copies)

Hash: FNV-1a 64 over the key bytes (offset basis 0xcbf29ce484222325, prime
0x100000001b3); home slot = hash & (capacity - 1); probe i, i+1, ... (mod
capacity) until the key or an empty slot; tombstones are skipped by lookups and
reused by inserts.  The bytes are the whole state: a compiled engine looks up,
inserts and deletes in them directly (bumping `tick`/`stamp` for LRU maps and
`version` for inserts and deletes); this class keeps a Python index of
key -> slot beside the table and rebuilds it when `version` is not the one it
last saw.

Kernel semantics (kernel/bpf/hashtab.c): flags > BPF_EXIST -> -EINVAL; NOEXIST on a
present key -> -EEXIST; EXIST on a missing key -> -ENOENT; inserting into a full
map -> -E2BIG, except LRU maps, which evict the least recently used element
(exact LRU here; the kernel's is approximate); delete of a missing key -> -ENOENT.
"""

from __future__ import annotations

from typing import Iterable, Iterator

from ..elf.model import MapDef, MapType
from .config import RuntimeConfig
from .maps_base import BPF_EXIST, BPF_NOEXIST, E2BIG, EEXIST, ENOENT, Map, clear, round8, update_flags_error, zeroed

HEADER = 24
COUNT_OFFSET, TICK_OFFSET, VERSION_OFFSET = 0, 8, 16
SLOT_HEADER = 16
EMPTY, USED, DELETED = 0, 1, 2
FNV_OFFSET = 0xCBF29CE484222325
FNV_PRIME = 0x100000001B3
U64 = (1 << 64) - 1
LRU_TYPES = {MapType.LRU_HASH, MapType.LRU_PERCPU_HASH}


def fnv1a64(data: bytes) -> int:
    h = FNV_OFFSET
    for byte in data:
        h = ((h ^ byte) * FNV_PRIME) & U64
    return h


def next_pow2(n: int) -> int:
    return 1 << max(n - 1, 1).bit_length()


class HashMap(Map):
    kind = "hash"

    def __init__(self, mdef: MapDef, config: RuntimeConfig):
        super().__init__(mdef, config)
        self.lru = mdef.type in LRU_TYPES
        self.key_stride = round8(self.key_size)
        self.slot_size = SLOT_HEADER + self.key_stride + self.ncpus * self.value_stride
        self.capacity = next_pow2(max(2 * self.max_entries, 2))
        self.buffer = zeroed(HEADER + self.capacity * self.slot_size)
        self._header = memoryview(self.buffer)[:HEADER].cast("Q")
        self._index: dict[bytes, int] = {}  # key -> slot number, as of version _version
        self._version = 0
        self.layout.update(
            header=HEADER, slot_size=self.slot_size, capacity=self.capacity, key_offset=SLOT_HEADER,
            key_size=self.key_size, value_offset=SLOT_HEADER + self.key_stride, value_stride=self.value_stride,
            ncpus=self.ncpus, hash="fnv1a64", states={"empty": EMPTY, "used": USED, "deleted": DELETED},
            count_offset=COUNT_OFFSET, tick_offset=TICK_OFFSET, version_offset=VERSION_OFFSET, stamp_offset=8,
            lru=self.lru,
        )

    @property
    def index(self) -> dict[bytes, int]:
        """key -> slot, rebuilt from the table when someone else inserted or deleted."""
        if self._header[2] != self._version:
            self._index = {}
            states = self.buffer[HEADER:HEADER + self.capacity * self.slot_size:self.slot_size]  # byte 0 of each slot
            n = states.find(USED)
            while n >= 0:
                base = self._slot(n) + SLOT_HEADER
                self._index[bytes(self.buffer[base:base + self.key_size])] = n
                n = states.find(USED, n + 1)
            self._version = self._header[2]
        return self._index

    def _changed(self) -> None:
        """After an insert or delete here: the count, and a version this index has seen."""
        self._header[COUNT_OFFSET // 8] = len(self._index)
        self._version = self._header[2] = (self._header[2] + 1) & U64

    # -- slots ---------------------------------------------------------------------
    def _slot(self, n: int) -> int:
        return HEADER + n * self.slot_size

    def value_offset(self, slot: int, cpu: int = 0) -> int:
        return self._slot(slot) + SLOT_HEADER + self.key_stride + cpu * self.value_stride

    def touch(self, slot: int) -> None:
        """LRU: stamp the slot with the next tick."""
        tick = (self._header[TICK_OFFSET // 8] + 1) & U64
        self._header[TICK_OFFSET // 8] = tick
        base = self._slot(slot)
        self.buffer[base + 8:base + 16] = tick.to_bytes(8, "little")

    def _stamp(self, slot: int) -> int:
        base = self._slot(slot)
        return int.from_bytes(self.buffer[base + 8:base + 16], "little")

    def _free_slot_for(self, key: bytes) -> int:
        mask = self.capacity - 1
        n = fnv1a64(key) & mask
        for _ in range(self.capacity):
            if self.buffer[self._slot(n)] != USED:
                return n
            n = (n + 1) & mask
        raise AssertionError("hash table has no free slot")  # count <= max_entries < capacity

    # -- operations -------------------------------------------------------------
    def find_offset(self, key: bytes, cpu: int = 0) -> int | None:
        slot = self.index.get(bytes(key))
        if slot is None:
            return None
        return self.value_offset(slot, cpu if self.ncpus > 1 else 0)

    def lookup_offset(self, key: bytes, cpu: int = 0) -> int | None:
        slot = self.index.get(bytes(key))
        if slot is None:
            return None
        if self.lru:
            self.touch(slot)
        return self.value_offset(slot, cpu if self.ncpus > 1 else 0)

    def update(self, key, value, flags=0, cpu=None) -> int:
        error = update_flags_error(flags)
        if error:
            return error
        key = self.check_key(key)
        values = self.per_cpu_values(value, cpu if self.ncpus > 1 else None)
        slot = self.index.get(key)
        if slot is not None and flags & BPF_NOEXIST:
            return -EEXIST
        if slot is None and flags & BPF_EXIST:
            return -ENOENT
        if slot is None:
            if len(self.index) >= self.max_entries:
                if not self.lru:
                    return -E2BIG
                self._evict()
            slot = self._insert(key)
            fresh = True
        else:
            fresh = False
        for c, v in enumerate(values):
            if v is not None:
                self.write_value(self.value_offset(slot, c), v)
            elif fresh:  # a new per-CPU element: the other CPUs' copies start zeroed
                self.write_value(self.value_offset(slot, c), bytes(self.value_size))
        if self.lru:
            self.touch(slot)
        return 0

    def _insert(self, key: bytes) -> int:
        slot = self._free_slot_for(key)
        base = self._slot(slot)
        self.buffer[base:base + SLOT_HEADER] = bytes(SLOT_HEADER)
        self.buffer[base] = USED
        self.buffer[base + SLOT_HEADER:base + SLOT_HEADER + self.key_size] = key
        self.index[key] = slot
        self._changed()
        return slot

    def _evict(self) -> None:
        victim = min(self.index.items(), key=lambda kv: self._stamp(kv[1]))[0]
        self.delete(victim)

    def delete(self, key) -> int:
        slot = self.index.pop(bytes(key), None)
        if slot is None:
            return -ENOENT
        self.buffer[self._slot(slot)] = DELETED
        self._changed()
        return 0

    def keys(self) -> Iterable[bytes]:
        return sorted(self.index)

    def each(self, cpu: int = 0) -> Iterator[tuple[bytes, int]]:
        """The elements in table order, each slot read when the walk reaches it (as the kernel
        walks its buckets): an element a callback inserts into a later slot is visited, one it
        deletes before its turn is not (jit/foreach.py walks the same slots)."""
        buf, copy = self.buffer, cpu if self.ncpus > 1 else 0
        for slot in range(self.capacity):
            at = self._slot(slot)
            if int.from_bytes(buf[at:at + 4], "little") == USED:
                key_at = at + SLOT_HEADER
                yield bytes(buf[key_at:key_at + self.key_size]), self.value_offset(slot, copy)

    def lru_order(self) -> list[bytes]:
        """Keys from least to most recently used (what eviction will pick first)."""
        return sorted(self.index, key=lambda k: self._stamp(self.index[k]))

    def clear(self) -> None:
        clear(self.buffer)
        self._index = {}
        self._version = 0
