"""Kernel map contents <-> the runtime's JSON map state.

The format is the one `xdptool.runtime` MapStore dumps and loads:
`{NAME: [{"key": HEX, "value": HEX | [HEX per CPU]}]}`.  The store keeps
`ncpus` per-CPU copies and the kernel one per possible CPU: the first `ncpus`
kernel copies are the store's, the rest are zero on the way in and must stay
zero on the way out (a run pinned to `config.cpu` touches only its copy).

Maps whose values are kernel object fds (prog_array, map-in-map,
perf_event_array) and maps without keys (ringbuf, queue, stack, bloom filter)
are not transferred: their contents are not bytes user space can restore.
"""

from __future__ import annotations

from typing import Any, Iterable

from ..elf.model import MapType
from ..errors import XdpError
from ..runtime.maps_base import value_from_hex
from .maps import FD_VALUE_TYPES, NOT_ITERABLE_TYPES, KernelMap, KernelMaps, possible_cpus

# Maps whose keys are u32 indices, dumped in index order (the kernel iterates them so).
INDEXED_TYPES = {MapType.ARRAY, MapType.PERCPU_ARRAY, MapType.DEVMAP, MapType.CPUMAP, MapType.XSKMAP}

MapState = dict[str, list[dict[str, Any]]]


def transferable(kmap: KernelMap) -> bool:
    return kmap.type not in FD_VALUE_TYPES and kmap.type not in NOT_ITERABLE_TYPES


def _check_ncpus(ncpus: int) -> None:
    if ncpus > possible_cpus():
        raise XdpError(f"{ncpus} per-CPU copies requested but the kernel has {possible_cpus()} possible CPUs")


def _hex_value(kmap: KernelMap, value: bytes | list[bytes], ncpus: int) -> str | list[str]:
    if not isinstance(value, list):
        return value.hex()
    extra = [v for v in value[ncpus:] if any(v)]
    if extra:
        raise XdpError(f"map {kmap.name!r}: the kernel updated a per-CPU copy beyond the {ncpus} the store keeps")
    return [v.hex() for v in value[:ncpus]]


def dump_map(kmap: KernelMap, ncpus: int = 1) -> list[dict[str, Any]]:
    """One kernel map's entries: arrays by index, every other map by sorted key (as the store dumps)."""
    items = list(kmap.items())
    if kmap.type not in INDEXED_TYPES:
        items.sort(key=lambda item: item[0])
    return [{"key": key.hex(), "value": _hex_value(kmap, value, ncpus)} for key, value in items]


def dump_maps(kmaps: KernelMaps, ncpus: int = 1, names: Iterable[str] | None = None) -> MapState:
    """Every transferable map (or those in `names`) as the runtime's JSON state."""
    _check_ncpus(ncpus)
    wanted = set(names) if names is not None else None
    return {
        kmap.name: dump_map(kmap, ncpus)
        for kmap in kmaps
        if transferable(kmap) and (wanted is None or kmap.name in wanted)
    }


def load_map(kmap: KernelMap, entries: list[dict[str, Any]]) -> None:
    """Replace a kernel map's contents with the entries (read-only maps are left as created)."""
    if kmap.mapdef.readonly:
        return  # frozen .rodata: its contents came from the object at creation
    kmap.clear()
    for entry in entries:
        try:
            key, value = bytes.fromhex(entry["key"]), value_from_hex(entry["value"])
        except (KeyError, TypeError, ValueError) as err:
            raise XdpError(f"map {kmap.name!r}: malformed entry {entry!r} ({err})") from None
        kmap.update(key, value)


def load_maps(kmaps: KernelMaps, state: MapState, ncpus: int = 1) -> None:
    """Write a JSON map state into the kernel maps it names (unknown names are an error)."""
    _check_ncpus(ncpus)
    for name, entries in state.items():
        kmap = kmaps[name]
        if transferable(kmap):
            load_map(kmap, entries)
