"""What every map kind shares: the `Map` interface, update flags, errno, key helpers.

A map's state lives in `map.buffer` (a preallocated bytearray) whenever the map
has values a program may point at, so that value pointers stay valid for the
whole run and a compiled engine can address the same bytes natively; the exact
byte layout of each kind is in its module docstring and in `map.layout`.

Operations take and return bytes and report errors as the kernel does: a
negative errno (`-errno.ENOENT` ...), never an exception.  Per-CPU maps keep
`ncpus` copies of each value; a program sees the copy of `config.cpu`, user
space sees all of them (a list of bytes in dumps and updates).
"""

from __future__ import annotations

import errno
import mmap
from typing import Any, Iterable, Iterator

from ..elf.model import MapDef, MapType
from ..errors import XdpError
from .config import RuntimeConfig

BPF_ANY, BPF_NOEXIST, BPF_EXIST, BPF_F_LOCK = 0, 1, 2, 4
BPF_F_RDONLY_PROG = 1 << 7  # map_flags: the program may only read the map

ENOENT, EEXIST, E2BIG, EINVAL = errno.ENOENT, errno.EEXIST, errno.E2BIG, errno.EINVAL
ENOSPC, EOPNOTSUPP, EFAULT, EBUSY = errno.ENOSPC, errno.EOPNOTSUPP, errno.EFAULT, errno.EBUSY
ENOTSUPP = 524  # kernel-internal (include/linux/errno.h), returned by some map ops


# Buffers from this size on are anonymous memory mappings: the kernel hands out zeroed
# pages on first touch, so a map costs the memory its used entries touch, not its
# max_entries (a 100M-entry array is a few pages until a program writes to it).
LAZY_BYTES = 1 << 20


def zeroed(size: int):
    """A zero-filled, writable, fixed-size buffer (bytearray, or mmap when large)."""
    if size < LAZY_BYTES:
        return bytearray(size)
    return mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)


def clear(buf) -> None:
    """Zero a buffer from `zeroed` in place (a large one gives its pages back)."""
    if isinstance(buf, mmap.mmap):
        buf.madvise(mmap.MADV_DONTNEED)  # private anonymous pages read back as zeros
    else:
        buf[:] = bytes(len(buf))


def round8(n: int) -> int:
    return (n + 7) & ~7


def u32_key(key: bytes) -> int:
    return int.from_bytes(key[:4], "little")


def update_flags_error(flags: int) -> int:
    """-EINVAL for update flags the maps cannot honour (unknown bits; BPF_F_LOCK, which needs a
    bpf_spin_lock in the value, and the runtime has no BTF for it), else 0."""
    if (flags & ~BPF_F_LOCK) > BPF_EXIST or flags & BPF_F_LOCK:
        return -EINVAL
    return 0


Value = bytes | list[bytes]


def value_to_hex(value: Value) -> str | list[str]:
    """A value as the JSON map state writes it: hex, or a list of hex (one per CPU)."""
    return [v.hex() for v in value] if isinstance(value, list) else value.hex()


def value_from_hex(raw: str | list[str]) -> Value:
    """The inverse of `value_to_hex` (malformed hex raises ValueError)."""
    return [bytes.fromhex(v) for v in raw] if isinstance(raw, list) else bytes.fromhex(raw)


class MapError(XdpError):
    """A user-supplied key or value does not fit the map (wrong size, bad dump)."""


class Map:
    """Base of every map kind.  Subclasses fill in the storage."""

    has_values = True  # programs may hold pointers to values (lookup returns one)
    kind = "map"

    def __init__(self, mdef: MapDef, config: RuntimeConfig):
        self.mdef = mdef
        self.name = mdef.name
        self.type = mdef.type
        self.key_size = mdef.key_size
        self.value_size = mdef.value_size
        self.max_entries = mdef.max_entries
        self.flags = mdef.flags
        self.config = config
        self.ncpus = config.ncpus if mdef.is_percpu else 1
        self.value_stride = round8(self.value_size)
        self.readonly_for_program = bool(mdef.readonly or mdef.flags & BPF_F_RDONLY_PROG)
        self.buffer = bytearray(0)
        self.layout: dict[str, Any] = {"kind": self.kind}

    # -- the operations a kind implements --------------------------------------
    def find_offset(self, key: bytes, cpu: int = 0) -> int | None:
        """Byte offset in `buffer` of the value of `key` for `cpu`, or None if absent."""
        raise NotImplementedError

    def lookup_offset(self, key: bytes, cpu: int = 0) -> int | None:
        """A program's lookup: `find_offset` plus its side effects (LRU recency)."""
        return self.find_offset(key, cpu)

    def update(self, key: bytes, value: Value, flags: int = BPF_ANY, cpu: int | None = None) -> int:
        """Insert or replace; `cpu` set = a program's update of that CPU's copy only."""
        raise NotImplementedError

    def delete(self, key: bytes) -> int:
        raise NotImplementedError

    def keys(self) -> Iterable[bytes]:
        """Present keys in dump order."""
        raise NotImplementedError

    def each(self, cpu: int = 0) -> Iterator[tuple[bytes, int]]:
        """(key, value offset for `cpu`) of each element, as bpf_for_each_map_elem walks them:
        looked up as the walk goes (an element deleted before its turn is skipped)."""
        for key in list(self.keys()):
            offset = self.find_offset(key, cpu)
            if offset is not None:
                yield key, offset

    def clear(self) -> None:
        raise NotImplementedError

    # -- shared on top of those ----------------------------------------------------
    def lookup(self, key: bytes) -> Value | None:
        """The value as user space sees it: bytes, or a list per CPU for per-CPU maps."""
        if self.find_offset(key, 0) is None:
            return None
        values = [self.read_value(self.find_offset(key, cpu)) for cpu in range(self.ncpus)]
        return values if self.mdef.is_percpu else values[0]

    def read_value(self, offset: int) -> bytes:
        return bytes(self.buffer[offset:offset + self.value_size])

    def write_value(self, offset: int, value: bytes) -> None:
        self.buffer[offset:offset + self.value_size] = value

    def per_cpu_values(self, value: Value, cpu: int | None) -> list[bytes | None]:
        """Normalise an update's value to one entry per CPU (None = leave that copy as is)."""
        if isinstance(value, (list, tuple)):
            if len(value) != self.ncpus:
                raise MapError(f"map {self.name}: {len(value)} per-CPU values for {self.ncpus} CPUs")
            return [self._checked(v) for v in value]
        value = self._checked(value)
        if cpu is None:
            return [value] * self.ncpus
        return [value if c == cpu else None for c in range(self.ncpus)]

    def _checked(self, value: bytes) -> bytes:
        value = bytes(value)
        if len(value) != self.value_size:
            raise MapError(f"map {self.name}: value of {len(value)} bytes, value_size is {self.value_size}")
        return value

    def check_key(self, key: bytes) -> bytes:
        key = bytes(key)
        if len(key) != self.key_size:
            raise MapError(f"map {self.name}: key of {len(key)} bytes, key_size is {self.key_size}")
        return key

    # -- dump/load ---------------------------------------------------------------
    def dump(self) -> list[dict[str, Any]]:
        out = []
        for key in self.keys():
            value = self.lookup(key)
            out.append({"key": key.hex(), "value": value_to_hex(value)})
        return out

    def load(self, entries: list[dict[str, Any]]) -> None:
        """Replace the contents with a dump's entries."""
        self.clear()
        for entry in entries:
            value = value_from_hex(entry["value"])
            err = self.update(bytes.fromhex(entry["key"]), value, BPF_ANY)
            if err:
                raise MapError(f"map {self.name}: cannot load key {entry['key']}: errno {-err}")

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name} {self.type.kernel_name}>"


# Map types the runtime does not create: what they would need.
MISSING_MAP_MODELS = {
    MapType.USER_RINGBUF: "records written by user space, which a replay has no way to give yet",
}


def new_map_type_error(mdef: MapDef) -> str:
    needs = MISSING_MAP_MODELS.get(mdef.type)
    return (f"map {mdef.name}: map type {mdef.type.kernel_name} is not supported by the runtime"
            + (f": it needs {needs}" if needs else ""))


MAP_TYPE_NAMES = {t: t.kernel_name for t in MapType}
