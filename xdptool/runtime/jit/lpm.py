"""lpm_trie lookups, updates and deletes as native code, over the index LpmTrieMap keeps in its
buffer (maps_misc.lpm_layout): the same hash, probing, slot reuse, counts and version word as
the Python side, so either side may change the map and the other sees it.

Per map, four internal functions are emitted once into the module and called from each call
site (after the site has read the value and the key as the Python helper reads them, faults
included): `find` (an index key's table position or -1), `match` (the longest matching
prefix's slot or -1: the lengths some entry has, longest first, the key's data masked one bit
shorter per step), `update` and `delete` (LpmTrieMap.update/delete: flags, prefixlen,
-EEXIST/-ENOENT/-ENOSPC in the kernel's order (kernel/bpf/lpm_trie.c trie_update_elem,
trie_delete_elem), the key as given kept for dumps).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Callable

import llvmlite.ir as ir

from ..maps_base import BPF_EXIST, BPF_NOEXIST, EEXIST, EINVAL, ENOENT, ENOSPC
from ..maps_misc import LPM_COUNT, LPM_FREE_TOP, LPM_NEXT_UNUSED, LPM_TOMBSTONE, LPM_VERSION, LpmLayout, lpm_layout
from .irtypes import I1, I32, I64, I8P, I64P, c64, join, only_if
from .maps import MapShape, _buffer, _fnv1a, _helper_read, _memcmp, _value_pointer

if TYPE_CHECKING:
    from .translate import Translator

I8 = ir.IntType(8)
LOOKUP, UPDATE, DELETE = 1, 2, 3


def layout(shape: MapShape) -> LpmLayout:
    return lpm_layout(shape.key_size, shape.value_size, shape.max_entries)


def emit(t: "Translator", b: ir.IRBuilder, insn, op: int, shape: MapShape, args: list):
    """r0 of map helper `op` on the lpm_trie `shape` (None: through Python)."""
    buf = _buffer(b, t.env, shape)
    if op == LOOKUP:
        key = _helper_read(t, b, insn, args[1], shape.key_size)
        slot = b.call(_match(t.module, shape), [buf, key])
        return only_if(b, b.icmp_signed(">=", slot, c64(0)), f"pc{insn.pc}.lpm.hit",
                       lambda b: _value_pointer(t, b, insn, shape, slot, b.mul(slot, c64(shape.value_stride))), c64(0))
    if op == UPDATE:  # the value is read first, then the key (helpers.map_update_elem)
        value = _helper_read(t, b, insn, args[2], shape.value_size)
        key = _helper_read(t, b, insn, args[1], shape.key_size)
        return b.call(_update(t.module, shape), [buf, key, value, args[3]])
    if op == DELETE:
        key = _helper_read(t, b, insn, args[1], shape.key_size)
        return b.call(_delete(t.module, shape), [buf, key])
    return None


# -- the functions ------------------------------------------------------------------------------


def _function(module: ir.Module, name: str, ret, params: list, body: Callable) -> ir.Function:
    """The module's internal function `name`, its body built by `body(builder, *params)` once."""
    fn = module.globals.get(name)
    if fn is None:
        fn = ir.Function(module, ir.FunctionType(ret, params), name=name)
        fn.linkage = "internal"
        body(ir.IRBuilder(fn.append_basic_block("entry")), *fn.args)
    return fn


def _word(b: ir.IRBuilder, buf, offset: int):
    return b.bitcast(b.gep(buf, [c64(offset)]), I64P)


def _u32_at(b: ir.IRBuilder, buf, base: int, index):
    """Pointer to u32 number `index` of the array at byte `base`."""
    return b.bitcast(b.gep(buf, [b.add(c64(base), b.mul(index, c64(4)))]), I32.as_pointer())


def _stored_key(b: ir.IRBuilder, buf, lay: LpmLayout, slot, given: bool = False):
    return b.gep(buf, [b.add(c64(lay.keys + (lay.key_stride if given else 0)), b.mul(slot, c64(2 * lay.key_stride)))])


def _masked_key(b: ir.IRBuilder, shape: MapShape, key, plen):
    """A frame copy of `key` with its prefixlen and its data masked to `plen` bits."""
    masked = b.bitcast(b.alloca(ir.ArrayType(I8, shape.key_size)), I8P)
    b.store(b.trunc(plen, I32), b.bitcast(masked, I32.as_pointer()), align=1)
    for i in range(shape.key_size - 4):
        avail = b.sub(plen, c64(8 * i))
        partial = b.trunc(b.shl(c64(0xFF), b.sub(c64(8), avail)), I8)
        keep = b.select(b.icmp_signed(">=", avail, c64(8)), ir.Constant(I8, 0xFF),
                        b.select(b.icmp_signed("<=", avail, c64(0)), ir.Constant(I8, 0), partial))
        b.store(b.and_(b.load(b.gep(key, [c64(4 + i)])), keep), b.gep(masked, [c64(4 + i)]))
    return masked


def _probe(module: ir.Module, shape: MapShape, free: bool) -> ir.Function:
    """find (free False): the table position holding the index key, -1 when none;
    free_position (free True): the first position from its home an insert may take."""
    lay = layout(shape)

    def body(b: ir.IRBuilder, buf, masked):
        fn = b.function
        mask = lay.capacity - 1
        home = b.and_(_fnv1a(b, masked, shape.key_size), c64(mask))
        entry = b.block
        loop, check, step, missing, go_on, hit = (fn.append_basic_block(n) for n in
                                                  ("loop", "check", "step", "missing", "go_on", "hit"))
        b.branch(loop)
        b.position_at_end(loop)
        n, tries = b.phi(I64), b.phi(I64)
        n.add_incoming(home, entry)
        tries.add_incoming(c64(0), entry)
        value = b.load(_u32_at(b, buf, lay.table, n))
        vacant = b.or_(b.icmp_unsigned("==", value, ir.Constant(I32, 0)),
                       b.icmp_unsigned("==", value, ir.Constant(I32, LPM_TOMBSTONE)))
        if free:
            b.cbranch(vacant, hit, step)
        else:
            exhausted = b.icmp_unsigned(">=", tries, c64(lay.capacity))
            empty = b.icmp_unsigned("==", value, ir.Constant(I32, 0))
            b.cbranch(b.or_(empty, exhausted), missing, go_on)
            b.position_at_end(go_on)
            b.cbranch(vacant, step, check)  # a tombstone: the key may lie further on
            b.position_at_end(check)
            slot = b.sub(b.zext(value, I64), c64(1))
            same = b.call(_memcmp(module), [_stored_key(b, buf, lay, slot), masked, c64(shape.key_size)])
            b.cbranch(b.icmp_signed("==", same, ir.Constant(I32, 0)), hit, step)
        for block in (go_on, check) if free else ():
            ir.IRBuilder(block).unreachable()
        ir.IRBuilder(hit).ret(n)
        b.position_at_end(step)
        n.add_incoming(b.and_(b.add(n, c64(1)), c64(mask)), step)
        tries.add_incoming(b.add(tries, c64(1)), step)
        b.branch(loop)
        b.position_at_end(missing)
        b.ret(c64(-1))

    name = f"lpm_{'free_position' if free else 'find'}.{shape.index}"
    return _function(module, name, I64, [I8P, I8P], body)


def _slot_of(b: ir.IRBuilder, buf, lay: LpmLayout, position):
    return b.sub(b.zext(b.load(_u32_at(b, buf, lay.table, position)), I64), c64(1))


def _match(module: ir.Module, shape: MapShape) -> ir.Function:
    """LpmTrieMap.lookup_offset: the slot of the longest stored prefix matching the key, -1."""
    lay = layout(shape)
    max_prefixlen = 8 * (shape.key_size - 4)

    def body(b: ir.IRBuilder, buf, key):
        fn = b.function
        plen = b.zext(b.load(b.bitcast(key, I32.as_pointer()), align=1), I64)
        too_long, search = fn.append_basic_block("too_long"), fn.append_basic_block("search")
        b.cbranch(b.icmp_unsigned(">", plen, c64(max_prefixlen)), too_long, search)
        ir.IRBuilder(too_long).ret(c64(-1))
        b.position_at_end(search)
        masked = _masked_key(b, shape, key, plen)
        start = b.block
        length, probe, shorter, hit, none = (fn.append_basic_block(n) for n in
                                             ("length", "probe", "shorter", "hit", "none"))
        b.branch(length)
        b.position_at_end(length)
        bits = b.phi(I64)
        bits.add_incoming(plen, start)
        used = b.load(_u32_at(b, buf, lay.lengths, bits))
        b.cbranch(b.icmp_unsigned("!=", used, ir.Constant(I32, 0)), probe, shorter)
        b.position_at_end(probe)
        b.store(b.trunc(bits, I32), b.bitcast(masked, I32.as_pointer()), align=1)
        position = b.call(_probe(module, shape, free=False), [buf, masked])
        b.cbranch(b.icmp_signed(">=", position, c64(0)), hit, shorter)
        b.position_at_end(hit)
        b.ret(_slot_of(b, buf, lay, position))
        b.position_at_end(shorter)  # drop the last bit of the prefix
        clear_bit = fn.append_basic_block("clear_bit")
        b.cbranch(b.icmp_unsigned("==", bits, c64(0)), none, clear_bit)
        b.position_at_end(clear_bit)
        last = b.sub(bits, c64(1))
        byte = b.gep(masked, [b.add(c64(4), b.lshr(last, c64(3)))])
        bit = b.trunc(b.lshr(c64(0x80), b.and_(last, c64(7))), I8)
        b.store(b.and_(b.load(byte), b.xor(bit, ir.Constant(I8, 0xFF))), byte)
        bits.add_incoming(last, clear_bit)
        b.branch(length)
        b.position_at_end(none)
        b.ret(c64(-1))

    return _function(module, f"lpm_match.{shape.index}", I64, [I8P, I8P], body)


def _add(b: ir.IRBuilder, pointer, delta: int) -> None:
    b.store(b.add(b.load(pointer, align=1), ir.Constant(pointer.type.pointee, delta)), pointer, align=1)


def _memmove(b: ir.IRBuilder, module: ir.Module, dst, src, size: int) -> None:
    fn = module.declare_intrinsic("llvm.memmove", [I8P, I8P, I64])
    b.call(fn, [dst, src, c64(size), ir.Constant(I1, 0)])


def _checked_key(b: ir.IRBuilder, shape: MapShape, key, answer: Callable[[ir.Value], None]):
    """(prefixlen, masked key) of `key`; -EINVAL answered for a prefixlen past the data."""
    plen = b.zext(b.load(b.bitcast(key, I32.as_pointer()), align=1), I64)
    with b.if_then(b.icmp_unsigned(">", plen, c64(8 * (shape.key_size - 4))), likely=False):
        answer(c64(-EINVAL))
    return plen, _masked_key(b, shape, key, plen)


def _update(module: ir.Module, shape: MapShape) -> ir.Function:
    lay = layout(shape)

    def body(b: ir.IRBuilder, buf, key, value, flags):
        fn = b.function

        def answer(code):  # return from inside an if_then: the block after it is unreachable
            b.ret(code)
            b.position_at_end(fn.append_basic_block("unreachable"))

        with b.if_then(b.icmp_unsigned(">", flags, c64(BPF_EXIST)), likely=False):
            answer(c64(-EINVAL))
        plen, masked = _checked_key(b, shape, key, answer)
        position = b.call(_probe(module, shape, free=False), [buf, masked])
        present, absent, write = (fn.append_basic_block(n) for n in ("present", "absent", "write"))
        b.cbranch(b.icmp_signed(">=", position, c64(0)), present, absent)

        b.position_at_end(present)
        with b.if_then(b.icmp_unsigned("==", flags, c64(BPF_NOEXIST))):
            answer(c64(-EEXIST))
        old = _slot_of(b, buf, lay, position)
        present_end = b.block
        b.branch(write)

        b.position_at_end(absent)
        with b.if_then(b.icmp_unsigned("==", flags, c64(BPF_EXIST))):
            answer(c64(-ENOENT))
        count = _word(b, buf, lay.header + LPM_COUNT)
        with b.if_then(b.icmp_unsigned(">=", b.load(count, align=1), c64(shape.max_entries))):
            answer(c64(-ENOSPC))
        top = _word(b, buf, lay.header + LPM_FREE_TOP)
        unused = _word(b, buf, lay.header + LPM_NEXT_UNUSED)
        held = b.load(top, align=1)
        released = b.icmp_unsigned("!=", held, c64(0))
        below = b.select(released, b.sub(held, c64(1)), c64(0))
        b.store(below, top, align=1)
        fresh = b.load(unused, align=1)
        b.store(b.select(released, fresh, b.add(fresh, c64(1))), unused, align=1)
        new = b.select(released, b.zext(b.load(_u32_at(b, buf, lay.free, below)), I64), fresh)
        free_position = b.call(_probe(module, shape, free=True), [buf, masked])
        b.store(b.trunc(b.add(new, c64(1)), I32), _u32_at(b, buf, lay.table, free_position))
        _memmove(b, module, _stored_key(b, buf, lay, new), masked, shape.key_size)
        _add(b, _u32_at(b, buf, lay.lengths, plen), 1)
        _add(b, count, 1)
        _add(b, _word(b, buf, lay.header + LPM_VERSION), 1)
        absent_end = b.block
        b.branch(write)

        b.position_at_end(write)  # the key as given, then the value
        slot = join(b, write, [(old, present_end), (new, absent_end)])
        _memmove(b, module, _stored_key(b, buf, lay, slot, given=True), key, shape.key_size)
        _memmove(b, module, b.gep(buf, [b.mul(slot, c64(shape.value_stride))]), value, shape.value_size)
        b.ret(c64(0))

    return _function(module, f"lpm_update.{shape.index}", I64, [I8P, I8P, I8P, I64], body)


def _vacate(b: ir.IRBuilder, buf, lay: LpmLayout, position) -> None:
    """LpmTrieMap._vacate: a tombstone, or empty positions when the next one is empty."""
    fn = b.function
    mask = c64(lay.capacity - 1)
    tombstone = ir.Constant(I32, LPM_TOMBSTONE)
    b.store(tombstone, _u32_at(b, buf, lay.table, position))
    following = b.load(_u32_at(b, buf, lay.table, b.and_(b.add(position, c64(1)), mask)))
    sweep, clear, done = (fn.append_basic_block(n) for n in ("sweep", "clear", "vacated"))
    start = b.block
    b.cbranch(b.icmp_unsigned("==", following, ir.Constant(I32, 0)), sweep, done)
    b.position_at_end(sweep)
    at = b.phi(I64)
    at.add_incoming(position, start)
    entry = _u32_at(b, buf, lay.table, at)
    b.cbranch(b.icmp_unsigned("==", b.load(entry), tombstone), clear, done)
    b.position_at_end(clear)
    b.store(ir.Constant(I32, 0), entry)
    at.add_incoming(b.and_(b.sub(at, c64(1)), mask), clear)
    b.branch(sweep)
    b.position_at_end(done)


def _delete(module: ir.Module, shape: MapShape) -> ir.Function:
    lay = layout(shape)

    def body(b: ir.IRBuilder, buf, key):
        fn = b.function

        def answer(code):
            b.ret(code)
            b.position_at_end(fn.append_basic_block("unreachable"))

        plen, masked = _checked_key(b, shape, key, answer)
        position = b.call(_probe(module, shape, free=False), [buf, masked])
        with b.if_then(b.icmp_signed("<", position, c64(0))):
            answer(c64(-ENOENT))
        slot = _slot_of(b, buf, lay, position)
        _vacate(b, buf, lay, position)
        top = _word(b, buf, lay.header + LPM_FREE_TOP)
        held = b.load(top, align=1)
        b.store(b.trunc(slot, I32), _u32_at(b, buf, lay.free, held))
        b.store(b.add(held, c64(1)), top, align=1)
        _add(b, _u32_at(b, buf, lay.lengths, plen), -1)
        _add(b, _word(b, buf, lay.header + LPM_COUNT), -1)
        _add(b, _word(b, buf, lay.header + LPM_VERSION), 1)
        b.ret(c64(0))

    return _function(module, f"lpm_delete.{shape.index}", I64, [I8P, I8P], body)
