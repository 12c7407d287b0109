"""Array-family maps: array, percpu_array, global data, and the sparse arrays
(prog_array, devmap, cpumap, xskmap) whose slots may be empty.

Layout of `buffer` (little-endian, `stride` = round_up(value_size, 8)):

    value of (cpu, index) at  (cpu * max_entries + index) * stride      cpu < ncpus

Sparse arrays append one presence byte per index after the values, at
`layout["present_offset"] + index` (1 = slot holds a value).  Keys are u32
indices.  Kernel semantics (kernel/bpf/arraymap.c, kernel/bpf/devmap.c,
kernel/bpf/cpumap.c): elements of a plain array always exist and start zeroed,
so BPF_NOEXIST gives -EEXIST and delete gives -EINVAL; an index past the end
gives -E2BIG on update and NULL on lookup.
"""

from __future__ import annotations

from typing import Iterable

from ..elf.model import MapDef, MapType
from .config import RuntimeConfig
from .maps_base import BPF_EXIST, BPF_NOEXIST, E2BIG, EEXIST, EINVAL, Map, clear, u32_key, update_flags_error, zeroed


class ArrayMap(Map):
    kind = "array"

    def __init__(self, mdef: MapDef, config: RuntimeConfig):
        super().__init__(mdef, config)
        self.values_size = self.ncpus * self.max_entries * self.value_stride
        self.buffer = zeroed(self._buffer_size())
        self.layout.update(stride=self.value_stride, entries=self.max_entries, ncpus=self.ncpus,
                           value_size=self.value_size, cpu_stride=self.max_entries * self.value_stride)
        self.clear()

    def _buffer_size(self) -> int:
        return self.values_size

    def offset_of(self, index: int, cpu: int = 0) -> int:
        return (cpu * self.max_entries + index) * self.value_stride

    def present(self, index: int) -> bool:
        return index < self.max_entries

    def find_offset(self, key: bytes, cpu: int = 0) -> int | None:
        index = u32_key(key)
        if not self.present(index):
            return None
        return self.offset_of(index, cpu if self.ncpus > 1 else 0)

    def update(self, key, value, flags=0, cpu=None) -> int:
        error = update_flags_error(flags)
        if error:
            return error
        index = u32_key(self.check_key(key))
        if index >= self.max_entries:
            return -E2BIG
        if flags & BPF_NOEXIST:
            return -EEXIST
        for c, v in enumerate(self.per_cpu_values(value, cpu if self.ncpus > 1 else None)):
            if v is not None:
                self.write_value(self.offset_of(index, c), v)
        return 0

    def delete(self, key) -> int:
        return -EINVAL

    def keys(self) -> Iterable[bytes]:
        return (i.to_bytes(4, "little") for i in range(self.max_entries))

    def clear(self) -> None:
        clear(self.buffer)
        initial = self.mdef.initial
        if initial:
            self.buffer[: len(initial)] = initial


class SparseArrayMap(ArrayMap):
    """An array whose slots start empty (prog_array, devmap, cpumap, xskmap)."""

    kind = "sparse_array"

    def __init__(self, mdef: MapDef, config: RuntimeConfig):
        super().__init__(mdef, config)
        self.layout["present_offset"] = self.values_size
        self.readonly_for_program = True  # dev_map_init_map & co. set BPF_F_RDONLY_PROG

    def _buffer_size(self) -> int:
        return self.values_size + self.max_entries

    def present(self, index: int) -> bool:
        return index < self.max_entries and self.buffer[self.values_size + index] == 1

    def update(self, key, value, flags=0, cpu=None) -> int:
        # dev_map_update_elem / cpu_map_update_elem / bpf_fd_array_map_update_elem:
        # flags > BPF_EXIST -> -EINVAL, index past the end -> -E2BIG, NOEXIST -> -EEXIST.
        if flags > BPF_EXIST:
            return -EINVAL
        index = u32_key(self.check_key(key))
        if index >= self.max_entries:
            return -E2BIG
        if flags == BPF_NOEXIST:
            return -EEXIST
        value = self._checked(value)
        if self.empties_on(value):
            return self.delete(key)
        self.write_value(self.offset_of(index), value)
        self.buffer[self.values_size + index] = 1
        return 0

    def empties_on(self, value: bytes) -> bool:
        """devmap ifindex 0 / cpumap qsize 0 clear the slot (the first u32 of the value)."""
        return self.type in (MapType.DEVMAP, MapType.CPUMAP) and u32_key(value) == 0

    def delete(self, key) -> int:
        index = u32_key(self.check_key(key))
        if index >= self.max_entries:
            return -EINVAL
        self.buffer[self.values_size + index] = 0
        self.write_value(self.offset_of(index), bytes(self.value_size))
        return 0

    def keys(self) -> Iterable[bytes]:
        return (i.to_bytes(4, "little") for i in range(self.max_entries) if self.present(i))

    def clear(self) -> None:
        clear(self.buffer)

    def slot_value(self, index: int) -> int | None:
        """The first u32 of a present slot (ifindex, qsize, prog index, socket), else None."""
        if not self.present(index):
            return None
        return u32_key(self.read_value(self.offset_of(index)))


class ProgArrayMap(SparseArrayMap):
    """prog_array: a slot holds a u32 index into `Object.programs` (the model's "fd").

    Initial slots come from MapDef.extra["values"] ({index: program name} or a
    list of names, as libbpf's `.values` initialisers give them), resolved by
    `MapStore.bind_programs`.
    """

    kind = "prog_array"

    def set_program(self, index: int, program_index: int) -> int:
        return self.update(index.to_bytes(4, "little"), program_index.to_bytes(4, "little")[: self.value_size])
