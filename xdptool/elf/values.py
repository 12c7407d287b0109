"""Map keys and values as people read them: through the object's BTF, as bpftool's
`map dump` shows a map with BTF (`BTF.format_value`), plus what the map type says
without BTF: array-like maps are indexed by a u32, and a prog_array slot holds a
program (shown by name).  Used by `maps dump`, `inspect`'s global data, replay's
summary and --maps-out, and the spec runner's failure messages.
"""

from __future__ import annotations

from typing import Any

from ..platform.maps import MapType

# Maps whose key is a u32 index whatever the object declares (the kernel's array maps).
INDEXED_MAPS = {MapType.ARRAY, MapType.PERCPU_ARRAY, MapType.PROG_ARRAY, MapType.DEVMAP, MapType.CPUMAP,
                MapType.XSKMAP, MapType.PERF_EVENT_ARRAY, MapType.CGROUP_ARRAY}


class MapValues:
    """Formats the keys and values of an object's maps; None where nothing is known
    beyond the bytes (a legacy map without BTF), so callers show the hex alone."""

    def __init__(self, obj):
        self.obj = obj
        self.btf = obj.btf
        self.programs = [p.name for p in obj.programs]

    def key(self, map_name: str, key: bytes) -> Any:
        mdef = self.obj.maps.get(map_name)
        if mdef is None:
            return None
        if self.btf is not None and mdef.btf_key_type_id:
            return self.btf.format_value(mdef.btf_key_type_id, key)
        if mdef.type in INDEXED_MAPS and len(key) == 4:
            return int.from_bytes(key, "little")
        return None

    def value(self, map_name: str, value: bytes | list[bytes]) -> Any:
        if isinstance(value, list):  # per-CPU: one value per CPU
            shown = [self.value(map_name, v) for v in value]
            return None if all(v is None for v in shown) else shown
        mdef = self.obj.maps.get(map_name)
        if mdef is None:
            return None
        if mdef.type == MapType.PROG_ARRAY and len(value) == 4:
            index = int.from_bytes(value, "little")
            return self.programs[index] if index < len(self.programs) else index
        if self.btf is not None and mdef.btf_value_type_id:
            return self.btf.format_value(mdef.btf_value_type_id, value)
        return None

    def entry(self, map_name: str, entry: dict) -> dict | None:
        """{"key", "value"} formatted from a hex map-state entry (as MapStore.dump gives),
        or None when neither side can be formatted."""
        key = self.key(map_name, bytes.fromhex(entry["key"]))
        raw = entry["value"]
        value = self.value(map_name, [bytes.fromhex(v) for v in raw] if isinstance(raw, list) else bytes.fromhex(raw))
        if key is None and value is None:
            return None
        return {"key": entry["key"] if key is None else key, "value": raw if value is None else value}

    def state(self, state: dict[str, list[dict]]) -> dict[str, list[dict]]:
        """A map state with "formatted" beside each entry's hex, as `bpftool -j map dump`
        gives it; --maps-in reads such a state back (it reads only key and value)."""
        result = {}
        for name, entries in state.items():
            result[name] = []
            for entry in entries:
                formatted = self.entry(name, entry)
                result[name].append(dict(entry, formatted=formatted) if formatted is not None else dict(entry))
        return result


def render(value: Any) -> str:
    """A formatted value as one line of text: {field: value, ...}, [a, b], strings bare."""
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k}: {render(v)}" for k, v in value.items()) + "}"
    if isinstance(value, list):
        return "[" + ", ".join(render(v) for v in value) + "]"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
