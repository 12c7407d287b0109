"""The remaining map kinds: lpm_trie, queue, stack, ringbuf, perf_event_array.

lpm_trie values sit in a slot pool in `buffer` (slot i at i * stride, max_entries
slots) so value pointers stay valid; the prefix index follows them in the same buffer
(`lpm_layout`), where the jit's natives look up, insert and delete too.  Keys are
``struct { u32 prefixlen; u8 data[key_size - 4]; }`` (prefixlen host order, data
network order); a lookup returns the longest stored prefix that matches the first
``min(node prefixlen, key prefixlen)`` bits (kernel/bpf/lpm_trie.c).

queue and stack hold copies in a ring (programs never point into them); ringbuf and
perf_event_array hold no state at all: what programs send is captured per run in
`RunResult.events`.
"""


from typing import Iterable, NamedTuple

from ..elf.model import MapDef, MapType
from .config import RuntimeConfig
from .maps_base import (
    BPF_EXIST, BPF_NOEXIST, E2BIG, EEXIST, EINVAL, ENOENT, ENOSPC, Map, MapError, clear, round8, zeroed,
)
from .maps_hash import fnv1a64, next_pow2


def _mask_prefix(data: bytes, bits: int) -> bytes:
    """`data` with every bit past the first `bits` cleared (its length kept)."""
    whole, rest = divmod(bits, 8)
    out = bytearray(data)
    if whole < len(out):
        out[whole] &= (0xFF << (8 - rest)) & 0xFF
        out[whole + 1:] = bytes(len(out) - whole - 1)
    return bytes(out)


class LpmLayout(NamedTuple):
    """Where an lpm_trie's state sits in its buffer (byte offsets; u64/u32 little-endian)."""

    header: int  # u64 count, version, free_top (released slots on the free stack), next_unused
    free: int  # u32 per slot: the free stack (released slots, the last released on top)
    lengths: int  # u32 per prefix length 0..max_prefixlen: how many entries have it
    keys: int  # per slot, 2 * key_stride: the masked key (the index's key), then the key as given
    table: int  # u32 per index position: 0 empty, TOMBSTONE, else slot + 1
    capacity: int  # index positions (a power of two, at least twice max_entries)
    key_stride: int
    size: int


LPM_COUNT, LPM_VERSION, LPM_FREE_TOP, LPM_NEXT_UNUSED = 0, 8, 16, 24  # header words
LPM_TOMBSTONE = 0xFFFFFFFF


def lpm_layout(key_size: int, value_size: int, max_entries: int) -> LpmLayout:
    """The buffer layout of an lpm_trie (LpmTrieMap, and the jit's natives in jit/lpm.py)."""
    key_stride = round8(key_size)
    header = max_entries * round8(value_size)
    free = header + 32
    lengths = round8(free + 4 * max_entries)
    keys = round8(lengths + 4 * (8 * (key_size - 4) + 1))
    table = keys + max_entries * 2 * key_stride
    capacity = next_pow2(max(2 * max_entries, 2))
    return LpmLayout(header, free, lengths, keys, table, capacity, key_stride, table + 4 * capacity)


class LpmTrieMap(Map):
    """The entries are an index in the buffer (`lpm_layout`), which the jit's natives read and
    change too: each entry's key masked to its prefixlen (``u32 prefixlen`` then the masked data)
    hashed with FNV-1a 64 into an open-addressing table of slot numbers (linear probing,
    tombstones reused by inserts, as maps_hash); per prefix length a count, so a lookup tries
    only the lengths some entry has, longest first.  A slot holds the value and the key as last
    given (the kernel keeps the updater's unmasked data: what a dump shows); released slots are
    reused last released first (then the never used ones in order).  Python keeps a dict of the
    index, rebuilt when the version word moved."""

    kind = "lpm_trie"

    def __init__(self, mdef: MapDef, config: RuntimeConfig):
        super().__init__(mdef, config)
        if self.key_size <= 4:
            raise MapError(f"map {self.name}: lpm_trie key_size must exceed 4 (u32 prefixlen + data)")
        self.data_size = self.key_size - 4
        self.max_prefixlen = 8 * self.data_size
        self.shape = lpm_layout(self.key_size, self.value_size, self.max_entries)
        self.buffer = zeroed(self.shape.size)
        self._header = memoryview(self.buffer)[self.shape.header:self.shape.header + 32].cast("Q")
        self._lengths = memoryview(self.buffer)[self.shape.lengths:self.shape.lengths + 4 * (self.max_prefixlen + 1)]\
            .cast("I")
        self._index: dict[bytes, int] = {}  # masked key -> slot, as of version _version
        self._version = 0
        self.layout.update(stride=self.value_stride, entries=self.max_entries, hash="fnv1a64",
                           **self.shape._asdict())

    # -- the index ---------------------------------------------------------------------
    def _masked(self, key: bytes) -> tuple[int, bytes]:
        """(prefixlen, the index's key: prefixlen and the data masked to it)."""
        plen = int.from_bytes(key[:4], "little")
        return plen, key[:4] + _mask_prefix(key[4:4 + self.data_size], plen)

    def _key_at(self, slot: int, given: bool = False) -> bytes:
        at = self.shape.keys + slot * 2 * self.shape.key_stride + (self.shape.key_stride if given else 0)
        return bytes(self.buffer[at:at + self.key_size])

    def _entry(self, position: int) -> int:
        at = self.shape.table + 4 * position
        return int.from_bytes(self.buffer[at:at + 4], "little")

    def _set_entry(self, position: int, entry: int) -> None:
        at = self.shape.table + 4 * position
        self.buffer[at:at + 4] = entry.to_bytes(4, "little")

    @property
    def index(self) -> dict[bytes, int]:
        """masked key -> slot, rebuilt from the table when native code changed it."""
        if self._header[LPM_VERSION // 8] != self._version:
            self._index = {}
            for position in range(self.shape.capacity):
                entry = self._entry(position)
                if entry and entry != LPM_TOMBSTONE:
                    self._index[self._key_at(entry - 1)] = entry - 1
            self._version = self._header[LPM_VERSION // 8]
        return self._index

    def _position(self, masked: bytes, free: bool) -> int:
        """The table position holding `masked` (free: the first position an insert may take)."""
        mask = self.shape.capacity - 1
        n = fnv1a64(masked) & mask
        for _ in range(self.shape.capacity):
            entry = self._entry(n)
            if free and entry in (0, LPM_TOMBSTONE) or not free and entry not in (0, LPM_TOMBSTONE) \
                    and self._key_at(entry - 1) == masked:
                return n
            n = (n + 1) & mask
        raise AssertionError("lpm_trie index has no such position")  # entries <= max_entries < capacity

    def _vacate(self, position: int) -> None:
        """A tombstone at `position`; when the next position is empty, it and the tombstones
        just before it become empty instead (no probe needs them: each would stop at the empty
        one), so a trie that keeps changing does not fill up with tombstones."""
        mask = self.shape.capacity - 1
        self._set_entry(position, LPM_TOMBSTONE)
        if self._entry((position + 1) & mask) == 0:
            while self._entry(position) == LPM_TOMBSTONE:
                self._set_entry(position, 0)
                position = (position - 1) & mask

    def _changed(self, delta: int) -> None:
        header = self._header
        header[LPM_COUNT // 8] += delta
        self._version = header[LPM_VERSION // 8] = (header[LPM_VERSION // 8] + 1) & ((1 << 64) - 1)

    def _take_slot(self) -> int:
        header = self._header
        if header[LPM_FREE_TOP // 8]:
            header[LPM_FREE_TOP // 8] -= 1
            at = self.shape.free + 4 * header[LPM_FREE_TOP // 8]
            return int.from_bytes(self.buffer[at:at + 4], "little")
        header[LPM_NEXT_UNUSED // 8] += 1
        return header[LPM_NEXT_UNUSED // 8] - 1

    def _release_slot(self, slot: int) -> None:
        header = self._header
        at = self.shape.free + 4 * header[LPM_FREE_TOP // 8]
        self.buffer[at:at + 4] = slot.to_bytes(4, "little")
        header[LPM_FREE_TOP // 8] += 1

    # -- operations --------------------------------------------------------------------
    def find_offset(self, key: bytes, cpu: int = 0) -> int | None:
        """Exact-key lookup (user space); programs get `lookup_offset`, the longest match."""
        plen, masked = self._masked(bytes(key))
        slot = self.index.get(masked) if plen <= self.max_prefixlen else None
        return None if slot is None else slot * self.value_stride

    def lookup_offset(self, key: bytes, cpu: int = 0) -> int | None:
        plen, masked = self._masked(bytes(key))
        if plen > self.max_prefixlen:
            return None
        index, lengths, data = self.index, self._lengths, masked[4:]
        for bits in range(plen, -1, -1):
            if lengths[bits]:
                slot = index.get(bits.to_bytes(4, "little") + _mask_prefix(data, bits))
                if slot is not None:
                    return slot * self.value_stride
        return None

    def update(self, key, value, flags=0, cpu=None) -> int:
        if flags > BPF_EXIST:
            return -EINVAL
        key = self.check_key(key)
        plen, masked = self._masked(key)
        if plen > self.max_prefixlen:
            return -EINVAL
        value = self._checked(value if not isinstance(value, list) else value[0])
        slot = self.index.get(masked)
        if slot is not None and flags == BPF_NOEXIST:
            return -EEXIST
        if slot is None and flags == BPF_EXIST:
            return -ENOENT
        if slot is None:
            if self._header[LPM_COUNT // 8] >= self.max_entries:
                return -ENOSPC
            slot = self._take_slot()
            self._set_entry(self._position(masked, free=True), slot + 1)
            at = self.shape.keys + slot * 2 * self.shape.key_stride
            self.buffer[at:at + self.key_size] = masked
            self._lengths[plen] += 1
            self._index[masked] = slot
            self._changed(1)
        at = self.shape.keys + slot * 2 * self.shape.key_stride + self.shape.key_stride
        self.buffer[at:at + self.key_size] = key  # the key as given replaces the stored one, as the kernel's node
        self.write_value(slot * self.value_stride, value)
        return 0

    def delete(self, key) -> int:
        plen, masked = self._masked(self.check_key(key))
        if plen > self.max_prefixlen:
            return -EINVAL
        slot = self.index.pop(masked, None)
        if slot is None:
            return -ENOENT
        self._vacate(self._position(masked, free=False))
        self._release_slot(slot)
        self._lengths[plen] -= 1
        self._changed(-1)
        return 0

    def keys(self) -> Iterable[bytes]:
        return sorted(self._key_at(slot, given=True) for slot in self.index.values())

    def clear(self) -> None:
        clear(self.buffer)
        self._index = {}
        self._version = 0


QUEUE_HEADER = 16  # queue/stack buffer: u64 slot of the oldest element, u64 element count


class QueueStackMap(Map):
    """queue (FIFO) and stack (LIFO); push with BPF_EXIST overwrites the oldest when full
    (kernel/bpf/queue_stack_maps.c).  The elements are a ring in `buffer` (the jit reads and
    writes it too): after QUEUE_HEADER bytes (the oldest element's slot, the count), slot i
    at QUEUE_HEADER + i * value_stride, max_entries slots; the newest is count - 1 slots after
    the oldest."""

    kind = "queue_stack"
    has_values = False

    def __init__(self, mdef: MapDef, config: RuntimeConfig):
        super().__init__(mdef, config)
        self.lifo = mdef.type == MapType.STACK
        self.buffer = zeroed(QUEUE_HEADER + self.max_entries * self.value_stride)
        self.layout.update(header=QUEUE_HEADER, stride=self.value_stride, entries=self.max_entries)

    # the ring's state
    def _state(self) -> tuple[int, int]:
        return int.from_bytes(self.buffer[0:8], "little"), int.from_bytes(self.buffer[8:16], "little")

    def _set_state(self, oldest: int, count: int) -> None:
        self.buffer[0:16] = oldest.to_bytes(8, "little") + count.to_bytes(8, "little")

    def _slot(self, n: int) -> bytes:
        """The element n places after the oldest."""
        oldest, _ = self._state()
        at = QUEUE_HEADER + (oldest + n) % self.max_entries * self.value_stride
        return bytes(self.buffer[at:at + self.value_size])

    @property
    def items(self) -> list[bytes]:
        """The elements, oldest first."""
        return [self._slot(n) for n in range(self._state()[1])]

    def push(self, value: bytes, flags: int = 0) -> int:
        if flags & ~BPF_EXIST:
            return -EINVAL
        value = self._checked(value)
        oldest, count = self._state()
        if count >= self.max_entries:
            if not flags & BPF_EXIST:
                return -E2BIG
            oldest, count = (oldest + 1) % self.max_entries, count - 1  # the oldest element, for queue and stack alike
        self.write_value(QUEUE_HEADER + (oldest + count) % self.max_entries * self.value_stride, value)
        self._set_state(oldest, count + 1)
        return 0

    def peek(self) -> bytes | None:
        _, count = self._state()
        if not count:
            return None
        return self._slot(count - 1 if self.lifo else 0)

    def pop(self) -> bytes | None:
        value = self.peek()
        if value is not None:
            oldest, count = self._state()
            self._set_state(oldest if self.lifo else (oldest + 1) % self.max_entries, count - 1)
        return value

    # the generic interface: update = push, lookup = peek (as bpf(2) does)
    def find_offset(self, key, cpu=0):
        return None

    def lookup(self, key: bytes = b""):
        return self.peek()

    def update(self, key, value, flags=0, cpu=None) -> int:
        return self.push(value if not isinstance(value, list) else value[0], flags)

    def delete(self, key) -> int:
        return -EINVAL

    def dump(self):
        return [{"key": "", "value": item.hex()} for item in self.items]

    def keys(self):
        return []

    def clear(self) -> None:
        clear(self.buffer)


class EventMap(Map):
    """ringbuf and perf_event_array: no stored state; output is captured per run."""

    kind = "events"
    has_values = False

    def find_offset(self, key, cpu=0):
        return None

    def update(self, key, value, flags=0, cpu=None) -> int:
        return -EINVAL

    def delete(self, key) -> int:
        return -EINVAL

    def keys(self):
        return []

    def clear(self) -> None:
        pass

    @property
    def ring_size(self) -> int:
        return self.max_entries

    @property
    def perf_slots(self) -> int:
        """perf_event_array slots (libbpf sizes max_entries 0 to the CPU count)."""
        return self.max_entries or self.config.ncpus
