"""Keeping the shadow interpreter's address space and the native region table equal.

Regions come into being on both sides: Python creates them (the fixed ones at
engine creation, helper scratch, value regions of maps handled in Python) and
native code creates value regions of natively handled maps (maps.py).  Both
draw ids from one counter — `AddressSpace._next_id` in Python,
`env.next_region_id` while native code runs — so ids stay in the
interpreter's first-use order.  `RegionMirror` hands the counter back and forth
and copies each side's new regions to the other, incrementally (programs that
touch many map values must not pay per region per sync).
"""

from __future__ import annotations

import ctypes
from typing import Callable

from ..maps_base import zeroed
from ..memory import Region
from .layout import MAP_WORDS, R_HOST, REGION_WORDS, MapShape
from .regions import RegionTable, host_address

GROWTH = 1024


class RegionMirror:
    def __init__(self, shadow, env, shapes: tuple[MapShape, ...]):
        self.shadow = shadow
        self.space = shadow.mem
        self.env = env
        self.table = RegionTable(max(64, self.space._next_id + GROWTH))
        self.shapes = shapes = tuple(s for s in shapes if not s.events)  # event maps have no values
        self.maps = {s.name: shadow.maps[s.name] for s in shapes}
        self._pins = [host_address(self.maps[s.name].buffer) for s in shapes]
        # region id per value position, 0 = not numbered yet (lazily zeroed: a huge map
        # costs only the pages of the positions a program touches)
        id_buffers = [zeroed(4 * max(1, s.positions)) for s in shapes]
        self._id_pins = [host_address(buf) for buf in id_buffers]
        self.ids = {s.name: memoryview(buf).cast("I") for s, buf in zip(shapes, id_buffers)}
        rows = max((s.index for s in shapes), default=-1) + 1
        self.map_table = (ctypes.c_uint64 * max(1, rows * MAP_WORDS))()
        self._bases: list[tuple[int, int, MapShape]] = []
        for shape, (address, _view) in zip(shapes, self._pins):
            self.map_table[shape.index * MAP_WORDS] = address
            self.map_table[shape.index * MAP_WORDS + 1] = self._id_pins[len(self._bases)][0]
            self._bases.append((address, address + len(self.maps[shape.name].buffer), shape))
        self._synced_next = 0  # ids below this are mirrored (or known removed)
        self._transient: dict[int, object] = {}  # mirrored regions Python may remove (scratch), by id
        self.before_python: Callable[[], None] | None = None  # called first by to_python
        self._value_count = 0
        env.map_table = ctypes.addressof(self.map_table)
        self.to_native(force=True)

    # -- Python -> native ------------------------------------------------------------------
    def to_native(self, force: bool = False) -> None:
        """Mirror regions Python created or removed since the last call; hand over the counter."""
        space, table = self.space, self.table
        top = space._next_id
        if top + GROWTH // 2 > table.capacity:
            table.grow(max(top + GROWTH, 2 * table.capacity))
        if force:
            self._synced_next = 0
        for rid, region in list(self._transient.items()):  # (a freed id is reused for a later region)
            if space.regions.get(rid) is not region:
                table.clear(rid)
                del self._transient[rid]
        values = self.shadow._value_regions
        for rid in range(self._synced_next, top):
            region = space.regions.get(rid)
            if region is None:
                continue
            table.put(rid, region.buf, region.lo, region.hi, region.writable)
            if rid in self.shadow._scratch:
                self._transient[rid] = region
        for rid, region in self.shadow._scratch.items():  # scratch regions under reused ids
            if self._transient.get(rid) is not region:
                table.put(rid, region.buf, region.lo, region.hi, region.writable)
                self._transient[rid] = region
        packet = self.shadow.packet_region
        table.put(packet.id, packet.buf, packet.lo, packet.hi, packet.writable)
        if len(values) != self._value_count:
            for (name, offset), region in list(values.items())[self._value_count:]:
                self._note_value(name, offset, region.id)
            self._value_count = len(values)
        self._synced_next = top
        self.env.regions = table.address
        self.env.region_count = table.capacity
        self.env.next_region_id = top

    def _note_value(self, name: str, offset: int, rid: int) -> None:
        shape = next((s for s in self.shapes if s.name == name), None)
        if shape is None:
            return
        position = self._position(shape, offset)
        if position is not None:
            self.ids[name][position] = rid

    @staticmethod
    def _position(shape: MapShape, offset: int) -> int | None:
        if not shape.is_hash:
            position, rest = divmod(offset, shape.value_stride)
            return position if rest == 0 else None
        return next((p for p in _candidates(shape, offset) if shape.offset_of_position(p) == offset), None)

    # -- native -> Python -------------------------------------------------------------------
    def to_python(self) -> None:
        """Adopt the value regions native code created; take the counter back."""
        if self.before_python is not None:  # the engine's own adoptions (ring buffer records)
            self.before_python()
        space, words = self.space, self.table.words
        top = self.env.next_region_id
        for rid in range(space._next_id, top):
            host = words[rid * REGION_WORDS + R_HOST]
            for start, end, shape in self._bases:
                if start <= host < end:
                    offset = host - start
                    m = self.maps[shape.name]
                    region = Region(rid, f"map {m.name} value", memoryview(m.buffer)[offset:offset + m.value_size],
                                    writable=not m.readonly_for_program)
                    space.regions[rid] = region
                    self.shadow._value_regions[(m.name, offset)] = region
                    break
        if top > space._next_id:
            space._next_id = top
            self._synced_next = top
            self._value_count = len(self.shadow._value_regions)

    def host_of(self, rid: int) -> int:
        return self.table.words[rid * REGION_WORDS + R_HOST]

    def grow(self) -> None:
        """The callback native code makes when the table is full."""
        self.table.grow(2 * self.table.capacity)
        self.env.regions = self.table.address
        self.env.region_count = self.table.capacity


def _candidates(shape: MapShape, offset: int):
    from ..maps_hash import HEADER, SLOT_HEADER

    slot, rest = divmod(offset - HEADER - SLOT_HEADER - shape.key_stride, shape.slot_size)
    cpu, extra = divmod(rest, shape.value_stride)
    if extra == 0 and 0 <= cpu < shape.ncpus:
        yield slot * shape.ncpus + cpu
