"""The remaining map kinds: lpm_trie, queue, stack, ringbuf, perf_event_array.

lpm_trie values sit in a slot pool in `buffer` (slot i at i * stride, max_entries
slots) so value pointers stay valid; the prefix index is a Python dict.  Keys are
``struct { u32 prefixlen; u8 data[key_size - 4]; }`` (prefixlen host order, data
network order); a lookup returns the longest stored prefix that matches the first
``min(node prefixlen, key prefixlen)`` bits (kernel/bpf/lpm_trie.c).

queue and stack hold copies in a ring (programs never point into them); ringbuf and
perf_event_array hold no state at all: what programs send is captured per run in
`RunResult.events`.
"""

from __future__ import annotations

from typing import Iterable

from ..elf.model import MapDef, MapType
from .config import RuntimeConfig
from .maps_base import BPF_EXIST, BPF_NOEXIST, E2BIG, EEXIST, EINVAL, ENOENT, ENOSPC, Map, MapError, clear, zeroed


def _mask_prefix(data: bytes, bits: int) -> bytes:
    whole, rest = divmod(bits, 8)
    out = bytearray(data[:whole])
    if rest:
        out.append(data[whole] & (0xFF << (8 - rest)) & 0xFF)
    return bytes(out)


class LpmTrieMap(Map):
    kind = "lpm_trie"

    def __init__(self, mdef: MapDef, config: RuntimeConfig):
        super().__init__(mdef, config)
        if self.key_size <= 4:
            raise MapError(f"map {self.name}: lpm_trie key_size must exceed 4 (u32 prefixlen + data)")
        self.data_size = self.key_size - 4
        self.max_prefixlen = 8 * self.data_size
        self.buffer = zeroed(self.max_entries * self.value_stride)
        self.entries: dict[tuple[int, bytes], tuple[int, bytes]] = {}  # (plen, prefix) -> (slot, key)
        self.free: list[int] = []
        self.version = 0  # bumped by every change: the jit's prefix index (native_index) is rebuilt
        self.layout.update(stride=self.value_stride, entries=self.max_entries)
        self.clear()

    def _split(self, key: bytes) -> tuple[int, bytes]:
        return int.from_bytes(key[:4], "little"), bytes(key[4:4 + self.data_size])

    def find_offset(self, key: bytes, cpu: int = 0) -> int | None:
        """Exact-key lookup (user space); programs get `lookup_offset`, the longest match."""
        plen, data = self._split(key)
        hit = self.entries.get((plen, _mask_prefix(data, plen)))
        return None if hit is None else hit[0] * self.value_stride

    def lookup_offset(self, key: bytes, cpu: int = 0) -> int | None:
        plen, data = self._split(key)
        if plen > self.max_prefixlen:
            return None
        for bits in range(plen, -1, -1):
            hit = self.entries.get((bits, _mask_prefix(data, bits)))
            if hit is not None:
                return hit[0] * self.value_stride
        return None

    def native_index(self) -> bytearray:
        """The prefixes as the jit's lookup reads them (little-endian u64 words): the number
        of prefix lengths; per length, longest first: its bits, its prefix count, the byte
        offset of its records; then the records, each the prefix's data masked and
        zero-padded to `index_record - 8` bytes, then its slot, sorted bytewise per length
        (a binary search with memcmp finds one)."""
        by_length: dict[int, list[tuple[bytes, int]]] = {}
        pad = self.index_record - 8
        for (plen, prefix), (slot, _) in self.entries.items():
            by_length.setdefault(plen, []).append((prefix.ljust(pad, b"\0"), slot))
        lengths = sorted(by_length, reverse=True)
        out = bytearray(8 + 24 * len(lengths))
        out[0:8] = len(lengths).to_bytes(8, "little")
        for n, plen in enumerate(lengths):
            records = sorted(by_length[plen])
            out[8 + 24 * n:32 + 24 * n] = b"".join(v.to_bytes(8, "little") for v in (plen, len(records), len(out)))
            for data, slot in records:
                out += data + slot.to_bytes(8, "little")
        return out

    @property
    def index_record(self) -> int:
        return (self.data_size + 7) // 8 * 8 + 8

    def update(self, key, value, flags=0, cpu=None) -> int:
        self.version += 1
        if flags > BPF_EXIST:
            return -EINVAL
        key = self.check_key(key)
        plen, data = self._split(key)
        if plen > self.max_prefixlen:
            return -EINVAL
        value = self._checked(value if not isinstance(value, list) else value[0])
        ident = (plen, _mask_prefix(data, plen))
        hit = self.entries.get(ident)
        if hit is not None and flags == BPF_NOEXIST:
            return -EEXIST
        if hit is None and flags == BPF_EXIST:
            return -ENOENT
        if hit is None:
            if not self.free:
                return -ENOSPC
            slot = self.free.pop()
        else:
            slot = hit[0]
        self.entries[ident] = (slot, key)
        self.write_value(slot * self.value_stride, value)
        return 0

    def delete(self, key) -> int:
        self.version += 1
        plen, data = self._split(self.check_key(key))
        if plen > self.max_prefixlen:
            return -EINVAL
        hit = self.entries.pop((plen, _mask_prefix(data, plen)), None)
        if hit is None:
            return -ENOENT
        self.free.append(hit[0])
        return 0

    def keys(self) -> Iterable[bytes]:
        return sorted(key for _, key in self.entries.values())

    def clear(self) -> None:
        self.version += 1
        clear(self.buffer)
        self.entries.clear()
        self.free = list(range(self.max_entries - 1, -1, -1))


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
