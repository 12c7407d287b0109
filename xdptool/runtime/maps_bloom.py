"""The bloom filter map (kernel/bpf/bloom_filter.c), bit for bit.

A bloom filter holds no elements, only a bit array in `buffer` (bit h is bit h % 8 of byte
h // 8, as the kernel's test_bit/set_bit on little-endian words): a push sets, for each of
nr_hash_funcs hash functions i (map_extra's low 4 bits, 5 when 0), bit jhash(value, seed + i)
& bitset_mask; a peek answers 0 when all of them are set, else -ENOENT.  The hash is jhash2
over the value's u32s when value_size is a multiple of 4, else jhash over its bytes
(include/linux/jhash.h).  The bit array has max_entries * nr_hash_funcs * 7 / 5 bits rounded up
to a power of two (at least 64), or 2^32 when that passes 2^31.

The seed: the kernel's is random unless the map has BPF_F_ZERO_SEED; the runtime's is always
0, so with BPF_F_ZERO_SEED its answers (false positives included) are the kernel's, and
without it they differ from a kernel run only in which values are false positives, as two
kernel runs do.  User space pushes with an update (any key) and peeks with a lookup, as
bpf(2) does; the map's state (dump/load) is its bit array.
"""

from __future__ import annotations

from ..elf.model import MapDef
from .config import RuntimeConfig
from .maps_base import EINVAL, ENOENT, EOPNOTSUPP, BPF_ANY, Map, MapError, clear, zeroed

U32 = 0xFFFFFFFF
JHASH_INITVAL = 0xDEADBEEF
DEFAULT_HASH_FUNCS = 5
BPF_F_ZERO_SEED = 1 << 6


def _rol32(x: int, k: int) -> int:
    return ((x << k) | (x >> (32 - k))) & U32


def _mix(a: int, b: int, c: int) -> tuple[int, int, int]:
    """__jhash_mix."""
    for shift_a, shift_b, shift_c in ((4, 6, 8), (16, 19, 4)):
        a = (a - c) & U32; a ^= _rol32(c, shift_a); c = (c + b) & U32  # noqa: E702
        b = (b - a) & U32; b ^= _rol32(a, shift_b); a = (a + c) & U32  # noqa: E702
        c = (c - b) & U32; c ^= _rol32(b, shift_c); b = (b + a) & U32  # noqa: E702
    return a, b, c


_FINAL = ((14, "c", "b"), (11, "a", "c"), (25, "b", "a"), (16, "c", "b"), (4, "a", "c"), (14, "b", "a"),
          (24, "c", "b"))


def _final(a: int, b: int, c: int) -> int:
    """__jhash_final: its c."""
    state = {"a": a, "b": b, "c": c}
    for shift, target, source in _FINAL:  # target ^= source; target -= rol32(source, shift)
        state[target] = ((state[target] ^ state[source]) - _rol32(state[source], shift)) & U32
    return state["c"]


def _jhash_words(words: list[int], start: int) -> int:
    """The shared body of jhash and jhash2 over 32-bit words (the last block zero-padded)."""
    a = b = c = start & U32
    while len(words) > 3:
        a, b, c = _mix((a + words[0]) & U32, (b + words[1]) & U32, (c + words[2]) & U32)
        words = words[3:]
    if not words:
        return c
    words = words + [0] * (3 - len(words))
    return _final((a + words[0]) & U32, (b + words[1]) & U32, (c + words[2]) & U32)


def jhash2(data: bytes, initval: int) -> int:
    words = [int.from_bytes(data[i:i + 4], "little") for i in range(0, len(data), 4)]
    return _jhash_words(words, JHASH_INITVAL + (len(words) << 2) + initval)


def jhash(data: bytes, initval: int) -> int:
    """The byte form: all but the last (1-12 byte) block as words, the rest little-endian
    and zero-padded, as its switch adds them; an empty key is the initial value."""
    start = JHASH_INITVAL + len(data) + initval
    full = max(0, (len(data) - 1) // 12) * 12
    tail = data[full:].ljust(12, b"\0") if len(data) > full else b""
    words = [int.from_bytes((data[:full] + tail)[i:i + 4], "little") for i in range(0, full + len(tail), 4)]
    return _jhash_words(words, start)


def bitset_shape(max_entries: int, nr_hash_funcs: int) -> tuple[int, int]:
    """(bitset_mask, bytes) as bloom_map_alloc computes them."""
    nr_bits = max_entries * nr_hash_funcs
    if nr_bits > U32 or (nr_bits // 5) * 7 > U32 or (nr_bits // 5) * 7 > 1 << 31:
        return U32, (U32 + 7) // 8  # BITS_TO_BYTES(U32_MAX), 8-aligned already
    nr_bits = (nr_bits // 5) * 7
    nr_bits = 64 if nr_bits <= 64 else 1 << (nr_bits - 1).bit_length()
    return nr_bits - 1, nr_bits // 8


class BloomFilterMap(Map):
    kind = "bloom_filter"
    has_values = False

    def __init__(self, mdef: MapDef, config: RuntimeConfig):
        super().__init__(mdef, config)
        extra = int(mdef.extra.get("map_extra", 0))
        if self.value_size == 0 or self.max_entries == 0 or extra & ~0xF:
            raise MapError(f"map {self.name}: a bloom filter needs a value size, max_entries and at most 15 "
                           f"hash functions in map_extra (the kernel refuses it: -EINVAL)")
        self.nr_hash_funcs = extra or DEFAULT_HASH_FUNCS
        self.bitset_mask, size = bitset_shape(self.max_entries, self.nr_hash_funcs)
        self.words = self.value_size // 4 if self.value_size % 4 == 0 else 0  # aligned_u32_count
        self.seed = 0
        self.buffer = zeroed(size)
        self.layout.update(mask=self.bitset_mask, hash_funcs=self.nr_hash_funcs, words=self.words)

    def bits(self, value: bytes) -> list[int]:
        """The bit each hash function picks for `value`."""
        value = self._checked(value)
        digest = jhash2 if self.words else jhash
        return [digest(value, (self.seed + i) & U32) & self.bitset_mask for i in range(self.nr_hash_funcs)]

    def push(self, value: bytes, flags: int = BPF_ANY) -> int:
        if flags != BPF_ANY:
            return -EINVAL
        for bit in self.bits(value):
            self.buffer[bit >> 3] |= 1 << (bit & 7)
        return 0

    def peek_value(self, value: bytes) -> int:
        """0 when `value` may have been pushed, -ENOENT when it certainly was not."""
        return 0 if all(self.buffer[bit >> 3] >> (bit & 7) & 1 for bit in self.bits(value)) else -ENOENT

    # the generic interface, as bpf(2) has it: update pushes, lookup peeks (with the value)
    def find_offset(self, key, cpu=0):
        return None

    def update(self, key, value, flags=BPF_ANY, cpu=None) -> int:
        return self.push(value if not isinstance(value, list) else value[0], flags)

    def delete(self, key) -> int:
        return -EOPNOTSUPP

    def keys(self):
        return []

    def dump(self):
        return [{"key": "", "value": bytes(self.buffer).hex()}] if any(self.buffer) else []

    def load(self, entries) -> None:
        """A dump's bit array (none: empty)."""
        self.clear()
        for entry in entries:
            bits = bytes.fromhex(entry["value"])
            if len(bits) != len(self.buffer):
                raise MapError(f"map {self.name}: a bloom filter's state is its {len(self.buffer)}-byte bit array, "
                               f"got {len(bits)} bytes")
            self.buffer[:] = bits

    def clear(self) -> None:
        clear(self.buffer)
