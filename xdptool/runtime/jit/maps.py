"""Native map helpers over the runtime's own map buffers.

map_lookup_elem, map_update_elem and map_delete_elem are emitted in IR for the
kinds whose storage layout is documented for this purpose (maps_array.py,
maps_hash.py): array and percpu_array (update and lookup; delete is -EINVAL),
hash, percpu_hash, lru_hash, lru_percpu_hash and devmap_hash (lookup, LRU
recency included; update, insert with the kernel's -E2BIG or LRU eviction;
delete), the sparse arrays (prog_array, devmap, cpumap, xskmap: lookup), the
maps of maps (lookup: the inner map's handle) and lpm_trie (lpm.py).
An insert or delete bumps the table's version word, which tells the Python
side (HashMap, LpmTrieMap) to rebuild its key index before it next looks.
Every other map kind goes through the Python helper.  `dispatch` is also how redirect_map and
tail calls (control.py) find their map.

A value pointer is an address in the value's own region, as the interpreter's
`value_pointer` makes it: regions are numbered in first-use order, so native
code numbers them itself (`env.next_region_id`, a per-map id table indexed by
value position) and the engine adopts natively created regions into the
shadow address space whenever Python looks.

Which map a call means is found statically when r1 comes from an ld_imm64 of
a map in the same straight-line run (the common case); otherwise a switch on
the handle's region id picks the map at run time.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import llvmlite.ir as ir

from ...elf.model import MapType, RelocKind
from ...platform.helpers import HELPER_ID
from ...platform.maps import PERCPU_MAP_TYPES
from ..maps_base import BPF_EXIST, BPF_F_LOCK, BPF_NOEXIST, E2BIG, EEXIST, EINVAL, ENOENT
from ..maps_hash import (
    COUNT_OFFSET, DELETED, EMPTY, FNV_OFFSET, FNV_PRIME, HEADER, SLOT_HEADER, TICK_OFFSET, USED, VERSION_OFFSET,
)
from ..memory import ORIGIN, REGION_SHIFT
from .env import ENV, R_HI, R_HOST, R_LO, R_WRITABLE, REGION_WORDS
from .irtypes import I1, I32, I64, I8P, I64P, c64, join
from .layout import (  # noqa: F401 - the shapes' facts, for the IR modules
    GROW_REGIONS, HASH_TYPES, MAP_WORDS, MAX_NATIVE_KEY, QUEUE_TYPES, MapShape, map_shapes,
)

if TYPE_CHECKING:
    from .translate import Translator


LOOKUP, UPDATE, DELETE = 1, 2, 3
LOOKUP_PERCPU = HELPER_ID["map_lookup_percpu_elem"]
ARRAY_TYPES = {MapType.ARRAY, MapType.PERCPU_ARRAY}
_WRITES_DST = {0x00, 0x01, 0x04, 0x07}  # LD, LDX, ALU, ALU64 write their dst register


def neg(err: int) -> ir.Constant:
    return c64(-err)


class MapHelpers:
    """Emitters for helpers 1-3, bound to the shapes of one map store."""

    def __init__(self, shapes: tuple[MapShape, ...]):
        self.shapes = shapes
        self.by_name = {s.name: s for s in shapes}

    def emitters(self) -> dict:
        return {op: self._emitter(op) for op in _OPS}

    def percpu_emitters(self) -> dict:
        """bpf_map_lookup_percpu_elem: per-CPU maps natively (the others: Python)."""
        def op(t, b, insn, shape: MapShape, args: list) -> ir.Value | None:
            if shape.type not in PERCPU_MAP_TYPES:
                return None
            cpu = b.and_(args[2], c64(0xFFFFFFFF))
            fn = b.function
            valid = fn.append_basic_block(f"pc{insn.pc}.percpu.cpu")
            done = fn.append_basic_block(f"pc{insn.pc}.percpu.done")
            key_ptr = args[1]  # the key is read first, as the helper reads it
            _helper_read(t, b, insn, key_ptr, shape.key_size)
            start = b.block
            b.cbranch(b.icmp_unsigned("<", cpu, c64(shape.ncpus)), valid, done)
            b.position_at_end(valid)
            found = _lookup(t, b, insn, shape, args, cpu=cpu)
            end = b.block
            b.branch(done)
            return join(b, done, [(c64(0), start), (found, end)])

        def emit(t, b, insn, args):
            return self.dispatch(t, b, insn, LOOKUP_PERCPU, args, op)

        return {LOOKUP_PERCPU: emit}

    def _emitter(self, op: int):
        def value_op(t, b, insn, shape: MapShape, args: list) -> ir.Value | None:
            if shape.lpm:
                from . import lpm  # (lpm.py builds on this module's pieces)
                return lpm.emit(t, b, insn, op, shape, args)
            if shape.outer:  # programs cannot update or delete (the verifier refuses them)
                return _outer_lookup(t, b, insn, shape, args) if op == LOOKUP else None
            return _OPS[op](t, b, insn, shape, args) if shape.has_values else None  # no values: Python

        def emit(t: "Translator", b: ir.IRBuilder, insn, args: list) -> ir.Value | None:
            return self.dispatch(t, b, insn, op, args, value_op)
        return emit

    # -- which map -------------------------------------------------------------------
    def _static_map(self, t: "Translator", insn, reg: int) -> MapShape | None | bool:
        """The map register `reg` certainly holds at `insn`: found when an ld_imm64 of a
        map sets it earlier in the same straight-line run (False: a map handled in
        Python); None when it may come from elsewhere."""
        position = t.position[insn.pc]
        current = insn.pc
        for prev in reversed(t.insns[max(0, position - 64):position]):
            if current in t.join_points or prev.is_call or prev.is_exit or (prev.is_branch and prev.op == 0):
                return None  # another path may arrive here, or the register was clobbered
            if prev.is_atomic and prev.src == reg:
                return None
            if prev.dst == reg and prev.cls in _WRITES_DST:
                return self._shape_of(prev) if prev.is_ld_imm64 else None
            current = prev.pc
        return None

    def _shape_of(self, ld) -> MapShape | bool:
        reloc = ld.reloc
        if reloc is not None and reloc.kind is RelocKind.MAP:
            return self.by_name.get(reloc.map, False)
        return None

    def dispatch(self, t: "Translator", b: ir.IRBuilder, insn, helper_id: int, args: list, op,
                 reg: int = 1) -> ir.Value | None:
        """r0 of helper `helper_id` whose map is in register `reg`: `op(t, b, insn, shape,
        args)` for each map it may be (None from op: that map through Python), the Python
        helper for any other map or a value that is not a map handle."""
        static = self._static_map(t, insn, reg)
        if static is False or not self.shapes:
            return None
        fallback = b.append_basic_block(f"pc{insn.pc}.map.python")
        done = b.append_basic_block(f"pc{insn.pc}.map.done")
        results: list[tuple[ir.Value, ir.Block]] = []
        handle = args[reg - 1]
        is_handle = b.icmp_unsigned("==", b.and_(handle, c64((1 << REGION_SHIFT) - 1)), c64(ORIGIN))
        rid = b.select(is_handle, b.lshr(handle, c64(REGION_SHIFT)), c64(0))
        candidates = [static] if static is not None else list(self.shapes)
        switch = b.switch(rid, fallback)
        for shape in candidates:
            block = b.append_basic_block(f"pc{insn.pc}.map.{shape.name}")
            switch.add_case(c64(shape.handle_id), block)
            mb = ir.IRBuilder(block)
            value = op(t, mb, insn, shape, args)
            if value is None:  # this op on this kind: Python
                mb.branch(fallback)
                continue
            results.append((value, mb.block))
            mb.branch(done)
        fb = ir.IRBuilder(fallback)
        python = t.helpers.callback(t, fb, insn, c64(helper_id), args)
        results.append((python, fb.block))
        fb.branch(done)
        return join(b, done, results)


# -- pieces ---------------------------------------------------------------------------------


def _map_word(b: ir.IRBuilder, env, shape: MapShape, word: int) -> ir.Value:
    table = b.inttoptr(ENV.load(b, env, "map_table"), I64P)
    return b.load(b.gep(table, [c64(shape.index * MAP_WORDS + word)]))


def _buffer(b: ir.IRBuilder, env, shape: MapShape) -> ir.Value:
    return b.inttoptr(_map_word(b, env, shape, 0), I8P)


def _helper_read(t: "Translator", b: ir.IRBuilder, insn, addr: ir.Value, size: int) -> ir.Value:
    """Host pointer for a helper's read of `size` bytes (checked like AddressSpace.read)."""
    return t.memory.access(t, b, insn, addr, size, write=False, helper=True)


def _value_pointer(t: "Translator", b: ir.IRBuilder, insn, shape: MapShape, position: ir.Value,
                   offset: ir.Value) -> ir.Value:
    """The tagged address of a value's region, numbering the region on first use."""
    env = t.env
    ids = b.inttoptr(_map_word(b, env, shape, 1), I32.as_pointer())
    slot = b.gep(ids, [position])
    known = b.zext(b.load(slot), I64)
    fresh_block = b.append_basic_block(f"pc{insn.pc}.region.new")
    have_block = b.append_basic_block(f"pc{insn.pc}.region.have")
    start = b.block
    b.cbranch(b.icmp_unsigned("!=", known, c64(0)), have_block, fresh_block)

    fb = ir.IRBuilder(fresh_block)
    new_id = ENV.load(fb, env, "next_region_id")
    full = fb.icmp_unsigned(">=", new_id, ENV.load(fb, env, "region_count"))
    with fb.if_then(full, likely=False):
        t.helpers.callback(t, fb, insn, c64(GROW_REGIONS), [c64(0)] * 5)
    ENV.store(fb, env, "next_region_id", fb.add(new_id, c64(1)))
    fb.store(fb.trunc(new_id, I32), slot)
    table = fb.inttoptr(ENV.load(fb, env, "regions"), I64P)
    base = fb.mul(new_id, c64(REGION_WORDS))
    host = fb.add(_map_word(fb, env, shape, 0), offset)
    for word, value in ((R_HOST, host), (R_LO, c64(0)), (R_HI, c64(shape.value_size)),
                        (R_WRITABLE, c64(0 if shape.readonly else 1))):
        fb.store(value, fb.gep(table, [fb.add(base, c64(word))]))
    fresh_end = fb.block
    fb.branch(have_block)

    rid = join(b, have_block, [(known, start), (new_id, fresh_end)])
    return b.or_(b.shl(rid, c64(REGION_SHIFT)), c64(ORIGIN))


def _fnv1a(b: ir.IRBuilder, key: ir.Value, size: int) -> ir.Value:
    h: ir.Value = c64(FNV_OFFSET)
    for i in range(size):
        byte = b.zext(b.load(b.gep(key, [c64(i)])), I64)
        h = b.mul(b.xor(h, byte), c64(FNV_PRIME))
    return h


def _memcmp(module: ir.Module) -> ir.Function:
    fn = module.globals.get("memcmp")
    if fn is None:
        fn = ir.Function(module, ir.FunctionType(I32, [I8P, I8P, I64]), name="memcmp")
    return fn


def _memcpy(b: ir.IRBuilder, module: ir.Module, dst: ir.Value, src: ir.Value, size: int) -> None:
    fn = module.declare_intrinsic("llvm.memcpy", [I8P, I8P, I64])
    b.call(fn, [dst, src, c64(size), ir.Constant(I1, 0)])


def _hash_find(t: "Translator", b: ir.IRBuilder, insn, shape: MapShape, key: ir.Value):
    """Probe the table: (found i1, slot number i64, slot host pointer, home slot)."""
    fn = b.function
    buf = _buffer(b, t.env, shape)
    mask = shape.entries - 1
    home = b.and_(_fnv1a(b, key, shape.key_size), c64(mask))
    entry = b.block
    loop = fn.append_basic_block(f"pc{insn.pc}.probe")
    check_key = fn.append_basic_block(f"pc{insn.pc}.probe.key")
    step = fn.append_basic_block(f"pc{insn.pc}.probe.next")
    out = fn.append_basic_block(f"pc{insn.pc}.probe.done")
    b.branch(loop)

    b.position_at_end(loop)
    n = b.phi(I64)
    tries = b.phi(I64)
    n.add_incoming(home, entry)
    tries.add_incoming(c64(0), entry)
    slot_ptr = b.gep(buf, [b.add(c64(HEADER), b.mul(n, c64(shape.slot_size)))])
    state = b.load(b.bitcast(slot_ptr, I32.as_pointer()))
    is_empty = b.icmp_unsigned("==", state, ir.Constant(I32, EMPTY))
    exhausted = b.icmp_unsigned(">=", tries, c64(shape.entries))
    loop_end = b.block
    b.cbranch(b.or_(is_empty, exhausted), out, check_key)

    b.position_at_end(check_key)
    used = b.icmp_unsigned("==", state, ir.Constant(I32, USED))
    cmp = b.call(_memcmp(t.module), [b.gep(slot_ptr, [c64(SLOT_HEADER)]), key, c64(shape.key_size)])
    match = b.and_(used, b.icmp_signed("==", cmp, ir.Constant(I32, 0)))
    check_end = b.block
    b.cbranch(match, out, step)

    b.position_at_end(step)
    n.add_incoming(b.and_(b.add(n, c64(1)), c64(mask)), step)
    tries.add_incoming(b.add(tries, c64(1)), step)
    b.branch(loop)

    found = join(b, out, [(ir.Constant(I1, 0), loop_end), (ir.Constant(I1, 1), check_end)], I1)
    return found, n, slot_ptr, home


def _header_word(b: ir.IRBuilder, env, shape: MapShape, offset: int) -> ir.Value:
    return b.bitcast(b.gep(_buffer(b, env, shape), [c64(offset)]), I64P)


def _add_to(b: ir.IRBuilder, pointer: ir.Value, delta: int) -> None:
    b.store(b.add(b.load(pointer, align=1), c64(delta)), pointer, align=1)


def _slot_pointer(b: ir.IRBuilder, env, shape: MapShape, slot: ir.Value) -> ir.Value:
    return b.gep(_buffer(b, env, shape), [b.add(c64(HEADER), b.mul(slot, c64(shape.slot_size)))])


def _slot_state(b: ir.IRBuilder, slot_ptr: ir.Value) -> ir.Value:
    return b.bitcast(slot_ptr, I32.as_pointer())


def _removed(b: ir.IRBuilder, env, shape: MapShape, slot_ptr: ir.Value) -> None:
    """HashMap.delete on a found slot: a tombstone, one element fewer, a new version."""
    b.store(ir.Constant(I32, DELETED), _slot_state(b, slot_ptr))
    _add_to(b, _header_word(b, env, shape, COUNT_OFFSET), -1)
    _add_to(b, _header_word(b, env, shape, VERSION_OFFSET), 1)


def _evict_lru(t: "Translator", b: ir.IRBuilder, insn, shape: MapShape) -> None:
    """HashMap._evict: delete the element with the oldest stamp (a scan of the slots)."""
    fn = b.function
    env = t.env
    entry = b.block
    loop = fn.append_basic_block(f"pc{insn.pc}.evict")
    body = fn.append_basic_block(f"pc{insn.pc}.evict.slot")
    out = fn.append_basic_block(f"pc{insn.pc}.evict.done")
    b.branch(loop)
    b.position_at_end(loop)
    n = b.phi(I64)
    best = b.phi(I64)
    victim = b.phi(I64)
    n.add_incoming(c64(0), entry)
    best.add_incoming(c64(-1), entry)
    victim.add_incoming(c64(0), entry)
    b.cbranch(b.icmp_unsigned("<", n, c64(shape.entries)), body, out)
    b.position_at_end(body)
    slot_ptr = _slot_pointer(b, env, shape, n)
    used = b.icmp_unsigned("==", b.load(_slot_state(b, slot_ptr)), ir.Constant(I32, USED))
    stamp = b.load(b.bitcast(b.gep(slot_ptr, [c64(8)]), I64P), align=1)
    better = b.and_(used, b.icmp_unsigned("<", stamp, best))
    best.add_incoming(b.select(better, stamp, best), body)
    victim.add_incoming(b.select(better, n, victim), body)
    n.add_incoming(b.add(n, c64(1)), body)
    b.branch(loop)
    b.position_at_end(out)
    _removed(b, env, shape, _slot_pointer(b, env, shape, victim))


def _insert(t: "Translator", b: ir.IRBuilder, insn, shape: MapShape, key: ir.Value, value: ir.Value,
            home: ir.Value) -> None:
    """HashMap._insert and the value writes of a fresh element (other CPUs' copies zeroed)."""
    fn = b.function
    env = t.env
    entry = b.block
    loop = fn.append_basic_block(f"pc{insn.pc}.insert.probe")
    step = fn.append_basic_block(f"pc{insn.pc}.insert.next")
    out = fn.append_basic_block(f"pc{insn.pc}.insert.slot")
    b.branch(loop)
    b.position_at_end(loop)
    n = b.phi(I64)
    n.add_incoming(home, entry)
    slot_ptr = _slot_pointer(b, env, shape, n)
    taken = b.icmp_unsigned("==", b.load(_slot_state(b, slot_ptr)), ir.Constant(I32, USED))
    b.cbranch(taken, step, out)
    b.position_at_end(step)
    n.add_incoming(b.and_(b.add(n, c64(1)), c64(shape.entries - 1)), step)
    b.branch(loop)
    b.position_at_end(out)
    memset = t.module.declare_intrinsic("llvm.memset", [I8P, I64])
    b.call(memset, [slot_ptr, ir.Constant(ir.IntType(8), 0), c64(SLOT_HEADER), ir.Constant(I1, 0)])
    b.store(ir.Constant(I32, USED), _slot_state(b, slot_ptr))
    _memcpy(b, t.module, b.gep(slot_ptr, [c64(SLOT_HEADER)]), key, shape.key_size)
    _add_to(b, _header_word(b, env, shape, COUNT_OFFSET), 1)
    _add_to(b, _header_word(b, env, shape, VERSION_OFFSET), 1)
    values = b.gep(slot_ptr, [c64(SLOT_HEADER + shape.key_stride)])
    for cpu in range(shape.ncpus):
        copy = b.gep(values, [c64(cpu * shape.value_stride)])
        if cpu == shape.cpu:
            _memcpy(b, t.module, copy, value, shape.value_size)
        else:
            b.call(memset, [copy, ir.Constant(ir.IntType(8), 0), c64(shape.value_size), ir.Constant(I1, 0)])
    if shape.lru:
        _lru_touch(b, env, shape, slot_ptr)


def _lru_touch(b: ir.IRBuilder, env, shape: MapShape, slot_ptr: ir.Value) -> None:
    tick_ptr = _header_word(b, env, shape, TICK_OFFSET)
    tick = b.add(b.load(tick_ptr, align=1), c64(1))
    b.store(tick, tick_ptr, align=1)
    b.store(tick, b.bitcast(b.gep(slot_ptr, [c64(8)]), I64P), align=1)


def _hash_value_offset(b: ir.IRBuilder, shape: MapShape, slot: ir.Value, cpu: int | None = None) -> ir.Value:
    cpu = shape.cpu if cpu is None else cpu
    return b.add(c64(HEADER + SLOT_HEADER + shape.key_stride + cpu * shape.value_stride),
                 b.mul(slot, c64(shape.slot_size)))


def _array_index(t, b, insn, shape, key_addr):
    key = _helper_read(t, b, insn, key_addr, shape.key_size)
    return b.zext(b.load(b.bitcast(key, I32.as_pointer()), align=1), I64)


def _present(b: ir.IRBuilder, env, shape: MapShape, index: ir.Value) -> ir.Value:
    """Whether array index `index` holds an element (sparse arrays: its presence byte)."""
    inside = b.icmp_unsigned("<", index, c64(shape.entries))
    if not shape.sparse:
        return inside
    safe = b.select(inside, index, c64(0))
    flag = b.load(b.gep(_buffer(b, env, shape), [b.add(c64(shape.present_offset), safe)]))
    return b.and_(inside, b.icmp_unsigned("==", flag, ir.Constant(ir.IntType(8), 1)))


def _select_on(b: ir.IRBuilder, cases: list[tuple[ir.Value, ir.Value]], default: ir.Value) -> ir.Value:
    """First value whose condition holds (conditions checked in order)."""
    result = default
    for cond, value in reversed(cases):
        result = b.select(cond, value, result)
    return result


def find_element(t: "Translator", b: ir.IRBuilder, insn, shape: MapShape, key: ir.Value):
    """Map.find_offset for a u32 key held in a register (redirect_map, tail calls): (present
    i1, byte offset of the CPU-0 value in the buffer)."""
    if not shape.is_hash:
        return _present(b, t.env, shape, key), b.mul(key, c64(shape.value_stride))
    if shape.key_size > 8:  # redirect_map's key is 8 bytes at most: never a match
        return ir.Constant(I1, 0), c64(0)
    b.store(key, t.key_slot)  # the key as bytes, as redirect_map hands it to find_offset
    found, n, _ptr, _home = _hash_find(t, b, insn, shape, b.bitcast(t.key_slot, I8P))
    return found, _hash_value_offset(b, shape, n, cpu=0)


def map_u32(b: ir.IRBuilder, env, shape: MapShape, offset: ir.Value) -> ir.Value:
    """The u32 at byte `offset` of the map's buffer, zero-extended."""
    pointer = b.bitcast(b.gep(_buffer(b, env, shape), [offset]), I32.as_pointer())
    return b.zext(b.load(pointer, align=1), I64)


# -- the operations --------------------------------------------------------------------


def _lookup(t: "Translator", b: ir.IRBuilder, insn, shape: MapShape, args: list,
            cpu: ir.Value | None = None) -> ir.Value:
    """The value pointer of the key at args[1] for the program's CPU, or for `cpu` (a per-CPU
    map's, bpf_map_lookup_percpu_elem); 0 when absent."""
    fn = b.function
    copy = c64(shape.cpu) if cpu is None else cpu
    hit = fn.append_basic_block(f"pc{insn.pc}.lookup.hit")
    done = fn.append_basic_block(f"pc{insn.pc}.lookup.done")
    if shape.is_hash:
        key = _helper_read(t, b, insn, args[1], shape.key_size)
        found, slot, slot_ptr, _home = _hash_find(t, b, insn, shape, key)
        miss_block = b.block
        b.cbranch(found, hit, done)
        b.position_at_end(hit)
        if shape.lru:
            _lru_touch(b, t.env, shape, slot_ptr)
        position = b.add(b.mul(slot, c64(shape.ncpus)), copy)
        offset = b.add(_hash_value_offset(b, shape, slot, cpu=0), b.mul(copy, c64(shape.value_stride)))
    else:
        index = _array_index(t, b, insn, shape, args[1])
        miss_block = b.block
        b.cbranch(_present(b, t.env, shape, index), hit, done)
        b.position_at_end(hit)
        position = b.add(index, b.mul(copy, c64(shape.entries)))
        offset = b.mul(position, c64(shape.value_stride))
    pointer = _value_pointer(t, b, insn, shape, position, offset)
    hit_end = b.block
    b.branch(done)
    return join(b, done, [(c64(0), miss_block), (pointer, hit_end)])


def _outer_lookup(t: "Translator", b: ir.IRBuilder, insn, shape: MapShape, args: list) -> ir.Value:
    """A map of maps' lookup (helpers.map_lookup_elem, MapsOfMaps.inner_map): the element's u32
    is the inner map's store index, the answer that map's handle (what an ld_imm64 of it loads);
    0 for an empty slot or a missing key."""
    fn = b.function
    hit = fn.append_basic_block(f"pc{insn.pc}.outer.hit")
    done = fn.append_basic_block(f"pc{insn.pc}.outer.done")
    offset: Any
    if shape.is_hash:
        key = _helper_read(t, b, insn, args[1], shape.key_size)
        found, slot, _slot_ptr, _home = _hash_find(t, b, insn, shape, key)
        offset = _hash_value_offset(b, shape, slot, cpu=0)
    else:
        index = _array_index(t, b, insn, shape, args[1])
        found = _present(b, t.env, shape, index)
        offset = b.mul(index, c64(shape.value_stride))
    miss = b.block
    b.cbranch(found, hit, done)
    b.position_at_end(hit)
    inner = map_u32(b, t.env, shape, offset)
    ids = ir.Constant(ir.ArrayType(I64, len(shape.inner_handles)), [c64(i) for i in shape.inner_handles])
    table: Any = ir.GlobalVariable(t.module, ids.type, name=t.module.get_unique_name(f"inner_handles.{shape.name}"))
    table.global_constant, table.initializer, table.linkage = True, ids, "private"
    known = b.icmp_unsigned("<", inner, c64(len(shape.inner_handles)))  # (updates check it: MapsOfMaps.compatible)
    rid = b.load(b.gep(table, [c64(0), b.select(known, inner, c64(0))]))
    handle = b.select(known, b.or_(b.shl(rid, c64(REGION_SHIFT)), c64(ORIGIN)), c64(0))
    hit_end = b.block
    b.branch(done)
    return join(b, done, [(c64(0), miss), (handle, hit_end)])


def _update(t: "Translator", b: ir.IRBuilder, insn, shape: MapShape, args: list) -> ir.Value | None:
    if shape.sparse:
        return None  # programs cannot update devmaps, cpumaps or prog arrays (the verifier says no)
    fn = b.function
    flags = args[3]
    # map_update_elem reads the value, then the key (helpers.map_update_elem)
    value = _helper_read(t, b, insn, args[2], shape.value_size)
    bad_flags = b.icmp_unsigned(">", b.and_(flags, c64(~BPF_F_LOCK)), c64(BPF_EXIST))
    bad_flags = b.or_(bad_flags, b.icmp_unsigned("!=", b.and_(flags, c64(BPF_F_LOCK)), c64(0)))
    if not shape.is_hash:
        index = _array_index(t, b, insn, shape, args[1])
        write = fn.append_basic_block(f"pc{insn.pc}.update.write")
        done = fn.append_basic_block(f"pc{insn.pc}.update.done")
        too_big = b.icmp_unsigned(">=", index, c64(shape.entries))
        noexist = b.icmp_unsigned("!=", b.and_(flags, c64(BPF_NOEXIST)), c64(0))
        error = _select_on(b, [(bad_flags, neg(EINVAL)), (too_big, neg(E2BIG)), (noexist, neg(EEXIST))], c64(0))
        start = b.block
        b.cbranch(b.icmp_unsigned("==", error, c64(0)), write, done)
        b.position_at_end(write)
        offset = b.mul(b.add(index, c64(shape.cpu * shape.entries)), c64(shape.value_stride))
        _memcpy(b, t.module, b.gep(_buffer(b, t.env, shape), [offset]), value, shape.value_size)
        b.branch(done)
        return join(b, done, [(error, start), (c64(0), write)])
    key = _helper_read(t, b, insn, args[1], shape.key_size)
    checked = fn.append_basic_block(f"pc{insn.pc}.update.flags_ok")
    answer = fn.append_basic_block(f"pc{insn.pc}.update.answer")
    absent = fn.append_basic_block(f"pc{insn.pc}.update.absent")
    overwrite = fn.append_basic_block(f"pc{insn.pc}.update.overwrite")
    room = fn.append_basic_block(f"pc{insn.pc}.update.room")
    insert = fn.append_basic_block(f"pc{insn.pc}.update.insert")
    done = fn.append_basic_block(f"pc{insn.pc}.update.done")
    start = b.block
    b.cbranch(bad_flags, done, checked)
    b.position_at_end(checked)
    found, slot, slot_ptr, home = _hash_find(t, b, insn, shape, key)
    b.cbranch(found, answer, absent)
    # present: NOEXIST -> -EEXIST, else overwrite this CPU's copy
    b.position_at_end(answer)
    noexist = b.icmp_unsigned("!=", b.and_(flags, c64(BPF_NOEXIST)), c64(0))
    answer_end = b.block
    b.cbranch(noexist, done, overwrite)
    b.position_at_end(overwrite)
    _memcpy(b, t.module, b.gep(_buffer(b, t.env, shape), [_hash_value_offset(b, shape, slot)]), value,
            shape.value_size)
    if shape.lru:
        _lru_touch(b, t.env, shape, slot_ptr)
    overwrite_end = b.block
    b.branch(done)
    # absent: EXIST -> -ENOENT; full -> -E2BIG (LRU: evict first); else insert
    b.position_at_end(absent)
    exist = b.icmp_unsigned("!=", b.and_(flags, c64(BPF_EXIST)), c64(0))
    absent_end = b.block
    b.cbranch(exist, done, room)
    b.position_at_end(room)
    full = b.icmp_unsigned(">=", b.load(_header_word(b, t.env, shape, COUNT_OFFSET), align=1),
                           c64(shape.max_entries))
    room_end = b.block
    incoming = [(neg(EINVAL), start), (neg(EEXIST), answer_end), (c64(0), overwrite_end), (neg(ENOENT), absent_end)]
    if shape.lru:
        evict = fn.append_basic_block(f"pc{insn.pc}.update.evict")
        b.cbranch(full, evict, insert)
        eb = ir.IRBuilder(evict)
        _evict_lru(t, eb, insn, shape)
        eb.branch(insert)
    else:
        b.cbranch(full, done, insert)
        incoming.append((neg(E2BIG), room_end))
    ib = ir.IRBuilder(insert)
    _insert(t, ib, insn, shape, key, value, home)
    incoming.append((c64(0), ib.block))
    ib.branch(done)
    return join(b, done, incoming)


def _delete(t: "Translator", b: ir.IRBuilder, insn, shape: MapShape, args: list) -> ir.Value | None:
    if shape.sparse:
        return None
    if not shape.is_hash:
        _array_index(t, b, insn, shape, args[1])  # the key is read (and checked) first
        return neg(EINVAL)
    fn = b.function
    key = _helper_read(t, b, insn, args[1], shape.key_size)
    found, _slot, slot_ptr, _home = _hash_find(t, b, insn, shape, key)
    remove = fn.append_basic_block(f"pc{insn.pc}.delete.found")
    done = fn.append_basic_block(f"pc{insn.pc}.delete.done")
    miss = b.block
    b.cbranch(found, remove, done)
    rb = ir.IRBuilder(remove)
    _removed(rb, t.env, shape, slot_ptr)
    rb.branch(done)
    return join(b, done, [(neg(ENOENT), miss), (c64(0), remove)])


_OPS = {LOOKUP: _lookup, UPDATE: _update, DELETE: _delete}
