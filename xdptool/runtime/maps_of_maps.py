"""array_of_maps and hash_of_maps: maps whose values are other maps of the same store.

A value is the inner map's index in the MapStore (a u32: the model's map fd, as a prog_array's
value is a program's index), set from the object's `.values = { [i] = &inner }` initialisers
or by user space; a program's bpf_map_lookup_elem answers the inner map's handle (what an
ld_imm64 of that map loads), which every map helper then takes, and NULL for an empty slot or
a missing key (kernel/bpf/arraymap.c array_of_map_lookup_elem, hashtab.c
htab_of_map_lookup_elem).  An update naming no map of the store, or a map unlike the outer
map's inner template (bpf_map_meta_equal: type, key and value size, flags, max_entries), is
-EINVAL, as the kernel refuses an incompatible inner map fd.  Programs cannot update or delete
(the verifier refuses them).
"""

from __future__ import annotations

from typing import Sequence

from ..elf.model import MapDef
from .maps_array import SparseArrayMap
from .maps_base import EINVAL, Map, u32_key
from .maps_hash import HashMap

BPF_F_INNER_MAP = 1 << 12  # map_flags: an inner map whose max_entries may differ


class MapsOfMaps(Map):
    """What both kinds share: the store's maps their values index, checked against the template."""

    inner: MapDef | None
    store_maps: Sequence[Map] = ()

    def __init__(self, mdef: MapDef, config):
        super().__init__(mdef, config)  # the storage class after this one in the bases
        self.inner = mdef.inner
        self.readonly_for_program = True

    def update(self, key, value, flags=0, cpu=None) -> int:
        value = value[0] if isinstance(value, list) else value
        if len(value) == self.value_size and not self.compatible(value):
            return -EINVAL
        return super().update(key, value, flags, cpu)

    def bind_store(self, maps: Sequence[Map]) -> None:
        self.store_maps = maps

    def compatible(self, value: bytes) -> bool:
        index = u32_key(value)
        if index >= len(self.store_maps):
            return False
        m, template = self.store_maps[index], self.inner
        if template is None:
            return True
        same_entries = m.max_entries == template.max_entries or template.flags & BPF_F_INNER_MAP
        return (m.type == template.type and m.key_size == template.key_size and m.value_size == template.value_size
                and m.flags == template.flags and bool(same_entries))

    def inner_map(self, key: bytes) -> Map | None:
        """The map a program's lookup of `key` gives, None when there is none."""
        offset = self.find_offset(key)
        if offset is None:
            return None
        return self.store_maps[u32_key(self.read_value(offset))]


class ArrayOfMapsMap(MapsOfMaps, SparseArrayMap):
    kind = "array_of_maps"
    has_values = False


class HashOfMapsMap(MapsOfMaps, HashMap):
    kind = "hash_of_maps"
    has_values = False
