"""`MapStore`: the live maps of one object, shared by the engines that run it.

`MapStore(object.maps, config)` creates one `Map` per MapDef (global data
sections included, as 1-entry arrays with their initial contents) from the kind
table below; it behaves as a read-only {name: Map} mapping, and dumps/loads
the whole state as JSON-ready data:

    {NAME: [{"key": HEX, "value": HEX or [HEX per CPU]}, ...]}

with hex of the bytes as stored, hash keys sorted, so two dumps compare with ==.
Storage layouts per kind: maps_array.py, maps_hash.py, maps_misc.py, maps_bloom.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Iterator

from ..elf.model import MapDef, MapType
from ..errors import XdpError
from .config import RuntimeConfig
from .maps_array import ArrayMap, ProgArrayMap, SparseArrayMap
from .maps_bloom import BloomFilterMap
from .maps_base import BPF_ANY, BPF_EXIST, BPF_NOEXIST, Map, MapError, new_map_type_error  # noqa: F401 (re-exported)
from .maps_hash import HashMap
from .maps_misc import EventMap, LpmTrieMap, QueueStackMap
from .maps_of_maps import ArrayOfMapsMap, HashOfMapsMap, MapsOfMaps

MAP_KINDS: dict[MapType, type[Map]] = {
    MapType.ARRAY: ArrayMap,
    MapType.PERCPU_ARRAY: ArrayMap,
    MapType.HASH: HashMap,
    MapType.PERCPU_HASH: HashMap,
    MapType.LRU_HASH: HashMap,
    MapType.LRU_PERCPU_HASH: HashMap,
    MapType.DEVMAP_HASH: HashMap,
    MapType.LPM_TRIE: LpmTrieMap,
    MapType.PROG_ARRAY: ProgArrayMap,
    MapType.DEVMAP: SparseArrayMap,
    MapType.CPUMAP: SparseArrayMap,
    MapType.XSKMAP: SparseArrayMap,
    MapType.QUEUE: QueueStackMap,
    MapType.STACK: QueueStackMap,
    MapType.RINGBUF: EventMap,
    MapType.PERF_EVENT_ARRAY: EventMap,
    MapType.BLOOM_FILTER: BloomFilterMap,
    MapType.ARRAY_OF_MAPS: ArrayOfMapsMap,
    MapType.HASH_OF_MAPS: HashOfMapsMap,
}


# Maps are preallocated (as the kernel's are by default), large ones as lazily zeroed
# memory (maps_base.zeroed: only the pages a program touches cost memory); a map whose
# entries would need more address space than this is refused, as is one the system
# cannot reserve.
MAX_MAP_BYTES = 8 << 30


def create_map(mdef: MapDef, config: RuntimeConfig) -> Map:
    kind = MAP_KINDS.get(mdef.type)
    if kind is None:
        raise XdpError(new_map_type_error(mdef))
    ncpus = config.ncpus if mdef.is_percpu else 1
    needed = mdef.max_entries * (mdef.key_size + mdef.value_size) * ncpus
    if needed > MAX_MAP_BYTES:
        raise XdpError(f"map {mdef.name}: {mdef.max_entries} entries of {mdef.key_size}+{mdef.value_size} bytes "
                       f"need {needed >> 20} MiB; the emulated maps hold at most {MAX_MAP_BYTES >> 20} MiB each")
    try:
        return kind(mdef, config)
    except (MemoryError, OSError) as exc:
        raise XdpError(f"map {mdef.name}: {mdef.max_entries} entries of {mdef.key_size}+{mdef.value_size} bytes "
                       f"cannot be reserved ({getattr(exc, 'strerror', None) or 'out of memory'})") from None


class MapStore(Mapping):
    """{name: Map} for one object, in declaration order; `index` numbers them like an fd array."""

    def __init__(self, mapdefs: Mapping[str, MapDef] | None = None, config: RuntimeConfig | None = None):
        self.config = config or RuntimeConfig()
        self._maps: dict[str, Map] = {name: create_map(mdef, self.config) for name, mdef in (mapdefs or {}).items()}
        self.by_index: list[Map] = list(self._maps.values())
        for m in self.by_index:
            if isinstance(m, MapsOfMaps):
                m.bind_store(self.by_index)
                self._fill_inner_maps(m)

    @classmethod
    def for_object(cls, obj, config: RuntimeConfig | None = None) -> "MapStore":
        store = cls(obj.maps, config)
        store.bind_programs([p.name for p in obj.programs])
        return store

    def _fill_inner_maps(self, m: Map) -> None:
        """A map of maps' slots from its MapDef.extra["values"] initialisers (map names)."""
        values = m.mdef.extra.get("values") or {}
        items = values.items() if isinstance(values, dict) else enumerate(values)
        for index, name in items:
            if name is None:
                continue
            if name not in self._maps:
                raise XdpError(f"map {m.name}: slot {index} names unknown map {name!r}")
            inner = self.index_of(name).to_bytes(4, "little")
            if m.update(int(index).to_bytes(m.key_size, "little"), inner.ljust(m.value_size, b"\0")):
                raise XdpError(f"map {m.name}: slot {index}: map {name!r} does not match its inner map definition")

    def bind_programs(self, program_names: list[str]) -> None:
        """Fill prog_array slots from their MapDef.extra["values"] initialisers."""
        for m in self._maps.values():
            if not isinstance(m, ProgArrayMap):
                continue
            values = m.mdef.extra.get("values") or {}
            items = values.items() if isinstance(values, dict) else enumerate(values)
            for index, prog_name in items:
                if prog_name is None:
                    continue
                if prog_name not in program_names:
                    raise XdpError(f"map {m.name}: slot {index} names unknown program {prog_name!r}")
                m.set_program(int(index), program_names.index(prog_name))

    # -- Mapping -----------------------------------------------------------------
    def __getitem__(self, name: str) -> Map:
        try:
            return self._maps[name]
        except KeyError:
            have = ", ".join(self._maps) or "none"
            raise XdpError(f"no map named {name!r} (maps: {have})") from None

    def __iter__(self) -> Iterator[str]:
        return iter(self._maps)

    def __len__(self) -> int:
        return len(self._maps)

    def index_of(self, name: str) -> int:
        return list(self._maps).index(name)

    # -- state ---------------------------------------------------------------------
    def dump(self) -> dict[str, list[dict[str, Any]]]:
        return {name: m.dump() for name, m in self._maps.items()}

    def load(self, state: Mapping[str, list[dict[str, Any]]]) -> None:
        """Replace the named maps' contents (maps not named keep theirs)."""
        for name, entries in state.items():
            try:
                self[name].load(entries)
            except (KeyError, TypeError, ValueError) as exc:
                raise MapError(f"map {name}: malformed state ({exc})") from None

    def reset(self) -> None:
        for m in self._maps.values():
            m.clear()
