"""Kernel maps: create them from `MapDef`s, read, write and iterate them.

What each map type needs at creation follows libbpf (tools/lib/bpf/libbpf.c,
`bpf_object__create_map` and friends):

- lpm_trie must be created with BPF_F_NO_PREALLOC;
- array/hash-of-maps need an inner map fd as template, created from `MapDef.inner`
  and closed right after;
- ringbuf, queue and stack have no key (key_size 0); perf_event_array with
  max_entries 0 gets one slot per possible CPU;
- global data (.data/.bss/.rodata) are single-entry arrays whose value is the
  section; their initial contents are written after creation and .rodata is then
  frozen (BPF_F_RDONLY_PROG + BPF_MAP_FREEZE), so the verifier treats it as constant.

Per-CPU maps (percpu_array, percpu_hash, lru_percpu_hash) read and write one value
per *possible* CPU (/sys/devices/system/cpu/possible), each rounded up to 8 bytes
(kernel/bpf/syscall.c `bpf_map_value_size`).
"""

from __future__ import annotations

import ctypes
import functools
from dataclasses import dataclass, field
from typing import Iterator

from ..elf.model import MapDef, MapType
from ..errors import XdpError
from .syscall import (
    BPF_ANY,
    BPF_F_NO_PREALLOC,
    BPF_F_RDONLY_PROG,
    BpfError,
    Cmd,
    MapCreateAttr,
    MapElemAttr,
    bpf,
    buffer_address,
    close_fd,
    obj_name,
)

POSSIBLE_CPUS_FILE = "/sys/devices/system/cpu/possible"
PAGE_SIZE = 4096


def parse_cpu_list(text: str) -> list[int]:
    """"0-3,5" -> [0, 1, 2, 3, 5] (the kernel's cpulist format)."""
    cpus: list[int] = []
    for part in text.strip().split(","):
        if not part:
            continue
        first, _, last = part.partition("-")
        cpus.extend(range(int(first), int(last or first) + 1))
    return cpus


@functools.cache
def possible_cpus() -> int:
    """How many values a per-CPU map holds per key on this machine."""
    with open(POSSIBLE_CPUS_FILE) as f:
        return len(parse_cpu_list(f.read()))


def round8(n: int) -> int:
    return (n + 7) & ~7


# Map types without a key (the kernel insists on key_size 0).
KEYLESS_TYPES = {MapType.RINGBUF, MapType.USER_RINGBUF, MapType.QUEUE, MapType.STACK, MapType.BLOOM_FILTER}
MAP_IN_MAP_TYPES = {MapType.ARRAY_OF_MAPS, MapType.HASH_OF_MAPS}
# Types whose values are kernel object fds on write and ids on read: not dumpable as bytes.
FD_VALUE_TYPES = MAP_IN_MAP_TYPES | {MapType.PROG_ARRAY, MapType.PERF_EVENT_ARRAY}
# Types that cannot be iterated with GET_NEXT_KEY (no keys, or event streams).
NOT_ITERABLE_TYPES = KEYLESS_TYPES | {MapType.PERF_EVENT_ARRAY}
REQUIRED_FLAGS = {MapType.LPM_TRIE: BPF_F_NO_PREALLOC}


def ringbuf_size(size: int) -> int:
    """A ring buffer's max_entries as libbpf passes it (adjust_ringbuf_sz): the kernel wants a
    power-of-2 multiple of the page size, so a size that is not one is rounded up to the
    smallest that holds it; 0 stays 0 (and is refused)."""
    if size == 0 or (size % PAGE_SIZE == 0 and (size // PAGE_SIZE) & (size // PAGE_SIZE - 1) == 0):
        return size
    pages = 1
    while pages * PAGE_SIZE <= size:
        pages <<= 1
    return pages * PAGE_SIZE


def _create_attr(mapdef: MapDef) -> MapCreateAttr:
    """The MAP_CREATE attributes libbpf would pass for this definition."""
    key_size, value_size, max_entries = mapdef.key_size, mapdef.value_size, mapdef.max_entries
    flags = mapdef.flags | REQUIRED_FLAGS.get(mapdef.type, 0)
    if mapdef.type in KEYLESS_TYPES:
        key_size = 0
    if mapdef.type in (MapType.RINGBUF, MapType.USER_RINGBUF):
        value_size = 0
        max_entries = ringbuf_size(max_entries)
    if mapdef.type == MapType.PERF_EVENT_ARRAY:
        key_size, value_size = 4, 4
        max_entries = max_entries or possible_cpus()
    if mapdef.is_global_data and mapdef.readonly:
        flags |= BPF_F_RDONLY_PROG
    return MapCreateAttr(
        map_type=int(mapdef.type),
        key_size=key_size,
        value_size=value_size,
        max_entries=max_entries,
        map_flags=flags,
        numa_node=mapdef.numa_node,
        map_name=obj_name(mapdef.name),
        map_extra=int(mapdef.extra.get("map_extra", 0)),
    )


@dataclass
class KernelMap:
    """One kernel map and the definition it came from; closes its fd on close()."""

    mapdef: MapDef
    fd: int
    key_size: int
    value_size: int
    closed: bool = field(default=False, repr=False)

    @classmethod
    def create(cls, mapdef: MapDef, btf_fd: int | None = None) -> "KernelMap":
        """Create the map; with `btf_fd` (the object's BTF) and the definition's BTF key/value
        types it is created with them, and retried without if the kernel refuses (as libbpf's
        bpf_object__create_map does): maps whose values hold a bpf_spin_lock, a timer or a
        kptr, and local storage maps, exist only with BTF."""
        attr = _create_attr(mapdef)
        if btf_fd is not None and (mapdef.btf_key_type_id or mapdef.btf_value_type_id):
            attr.btf_fd, attr.btf_key_type_id, attr.btf_value_type_id = (
                btf_fd, mapdef.btf_key_type_id, mapdef.btf_value_type_id)
            try:
                return cls._create(mapdef, attr)
            except BpfError:
                attr.btf_fd = attr.btf_key_type_id = attr.btf_value_type_id = 0
        return cls._create(mapdef, attr)

    @classmethod
    def _create(cls, mapdef: MapDef, attr: MapCreateAttr) -> "KernelMap":
        inner_fd = None
        if mapdef.type in MAP_IN_MAP_TYPES:
            if mapdef.inner is None:
                raise XdpError(f"map {mapdef.name!r}: {mapdef.type_name} needs an inner map definition")
            inner_fd = cls.create(mapdef.inner).fd
            attr.inner_map_fd = inner_fd
        try:
            fd = bpf(Cmd.MAP_CREATE, attr, f"map {mapdef.name!r} ({mapdef.type_name})")
        finally:
            if inner_fd is not None:
                close_fd(inner_fd)
        kmap = cls(mapdef, fd, attr.key_size, attr.value_size)
        try:
            if mapdef.is_global_data:
                kmap.update(b"\0\0\0\0", bytes(mapdef.initial).ljust(attr.value_size, b"\0"))
                if mapdef.readonly:
                    kmap.freeze()
        except BaseException:
            kmap.close()
            raise
        return kmap

    # -- sizes ------------------------------------------------------------
    @property
    def type(self) -> MapType:
        return self.mapdef.type

    @property
    def name(self) -> str:
        return self.mapdef.name

    @property
    def percpu(self) -> bool:
        return self.mapdef.is_percpu

    @property
    def value_buffer_size(self) -> int:
        """Bytes the kernel reads/writes for one value (all CPUs for per-CPU maps)."""
        if self.percpu:
            return round8(self.value_size) * possible_cpus()
        return self.value_size

    # -- element operations -------------------------------------------------
    def _check_key(self, key: bytes) -> bytes:
        if len(key) != self.key_size:
            raise XdpError(f"map {self.name!r}: key must be {self.key_size} bytes, got {len(key)}")
        return key

    def _elem(self, key: bytes | None, value_addr: int = 0, flags: int = 0) -> tuple[MapElemAttr, ctypes.Array | None]:
        keybuf = ctypes.create_string_buffer(key, len(key)) if key else None
        attr = MapElemAttr(map_fd=self.fd, key=buffer_address(keybuf), value=value_addr, flags=flags)
        return attr, keybuf

    def lookup_raw(self, key: bytes) -> bytes | None:
        """The value bytes (all CPUs concatenated for per-CPU maps), None if absent."""
        self._check_key(key)
        out = ctypes.create_string_buffer(self.value_buffer_size)
        attr, _keybuf = self._elem(key, ctypes.addressof(out))
        try:
            bpf(Cmd.MAP_LOOKUP_ELEM, attr, f"map {self.name!r}")
        except BpfError as err:
            if err.errno == 2:  # ENOENT
                return None
            raise
        return out.raw

    def lookup(self, key: bytes) -> bytes | list[bytes] | None:
        """One value, or for per-CPU maps one value per possible CPU."""
        raw = self.lookup_raw(key)
        if raw is None or not self.percpu:
            return raw
        return self.split_percpu(raw)

    def split_percpu(self, raw: bytes) -> list[bytes]:
        stride = round8(self.value_size)
        return [raw[i : i + self.value_size] for i in range(0, len(raw), stride)]

    def join_percpu(self, values: list[bytes]) -> bytes:
        """Per-CPU values (missing CPUs are zero) in the kernel's padded layout."""
        ncpu = possible_cpus()
        if len(values) > ncpu:
            raise XdpError(f"map {self.name!r}: {len(values)} per-CPU values but the kernel has {ncpu} possible CPUs")
        stride = round8(self.value_size)
        padded = [self._check_value(v).ljust(stride, b"\0") for v in values]
        padded += [bytes(stride)] * (ncpu - len(values))
        return b"".join(padded)

    def _check_value(self, value: bytes) -> bytes:
        if len(value) != self.value_size:
            raise XdpError(f"map {self.name!r}: value must be {self.value_size} bytes, got {len(value)}")
        return value

    def update(self, key: bytes, value: bytes | list[bytes] | int, flags: int = BPF_ANY) -> None:
        """Write one element; per-CPU maps take a list (one value per CPU) or one value for CPU 0."""
        self._check_key(key)
        if isinstance(value, int):  # fd-valued maps: prog array, map-in-map
            value = value.to_bytes(4, "little")
        if self.percpu:
            raw = self.join_percpu(value if isinstance(value, list) else [value])
        else:
            raw = self._check_value(value)
        valbuf = ctypes.create_string_buffer(raw, len(raw))
        attr, _keybuf = self._elem(key, ctypes.addressof(valbuf), flags)
        bpf(Cmd.MAP_UPDATE_ELEM, attr, f"map {self.name!r}")

    def delete(self, key: bytes) -> bool:
        """Remove a key; False if it was not there (or the map type has no delete)."""
        attr, _keybuf = self._elem(self._check_key(key))
        try:
            bpf(Cmd.MAP_DELETE_ELEM, attr, f"map {self.name!r}")
        except BpfError as err:
            if err.errno in (2, 22):  # ENOENT; EINVAL: arrays cannot delete
                return False
            raise
        return True

    def keys(self) -> Iterator[bytes]:
        """Every key, in the kernel's iteration order."""
        if self.type in NOT_ITERABLE_TYPES:
            return
        key: bytes | None = None
        while True:
            nxt = ctypes.create_string_buffer(self.key_size)
            attr, _keybuf = self._elem(key, ctypes.addressof(nxt))
            try:
                bpf(Cmd.MAP_GET_NEXT_KEY, attr, f"map {self.name!r}")
            except BpfError as err:
                if err.errno == 2:  # ENOENT: no more keys
                    return
                raise
            key = nxt.raw
            yield key

    def items(self) -> Iterator[tuple[bytes, bytes | list[bytes]]]:
        for key in list(self.keys()):
            value = self.lookup(key)
            if value is not None:  # deleted between next_key and lookup
                yield key, value

    def clear(self) -> None:
        """Empty a hash-like map, or zero every slot of an array."""
        if self.type in NOT_ITERABLE_TYPES or self.type in FD_VALUE_TYPES:
            return
        for key in list(self.keys()):
            if not self.delete(key):
                zero = [bytes(self.value_size)] if self.percpu else bytes(self.value_size)
                self.update(key, zero)

    def freeze(self) -> None:
        bpf(Cmd.MAP_FREEZE, MapElemAttr(map_fd=self.fd), f"map {self.name!r}")

    def close(self) -> None:
        if not self.closed:
            close_fd(self.fd)
            self.closed = True


class KernelMaps:
    """The kernel maps of one object, by name; a context manager that closes them all."""

    def __init__(self, mapdefs: dict[str, MapDef] | list[MapDef], obj=None):
        """`obj`: the elf Object the definitions come from; with it, maps are created with its
        BTF as libbpf creates them (an object whose BTF the kernel refuses gets maps without)."""
        defs = list(mapdefs.values()) if isinstance(mapdefs, dict) else list(mapdefs)
        self.maps: dict[str, KernelMap] = {}
        btf_fd = None
        if obj is not None and obj.btf is not None and any(d.btf_key_type_id or d.btf_value_type_id for d in defs):
            from .btf import load_object_btf

            try:
                btf_fd = load_object_btf(obj)
            except XdpError:
                btf_fd = None
        try:
            for mapdef in defs:
                self.maps[mapdef.name] = KernelMap.create(mapdef, btf_fd)
        except BaseException:
            self.close()
            raise
        finally:
            if btf_fd is not None:
                close_fd(btf_fd)  # each map holds its own reference

    def __getitem__(self, name: str) -> KernelMap:
        try:
            return self.maps[name]
        except KeyError:
            raise XdpError(f"no map named {name!r}; have {', '.join(self.maps) or 'none'}") from None

    def __contains__(self, name: str) -> bool:
        return name in self.maps

    def __iter__(self) -> Iterator[KernelMap]:
        return iter(self.maps.values())

    def fds(self) -> dict[str, int]:
        return {name: m.fd for name, m in self.maps.items()}

    def close(self) -> None:
        for kmap in self.maps.values():
            kmap.close()

    def __enter__(self) -> "KernelMaps":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
