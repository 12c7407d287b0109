"""bpf_map_push_elem, bpf_map_pop_elem and bpf_map_peek_elem on queue and stack maps as native
code, over the ring QueueStackMap keeps in its buffer (maps_misc.py: the oldest element's
slot and the count, then the slots), with the runtime helpers' order: push reads the value,
then checks its flags (-EINVAL), then the room (-E2BIG, or with BPF_EXIST the oldest element
dropped); pop and peek zero the program's buffer and answer -ENOENT when empty, else take the
element (pop) and write it there (a checked write, after the element was taken, as the helper
does)."""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING

import llvmlite.ir as ir

from ...elf.model import MapType
from ...platform.helpers import HELPER_ID
from ..maps_base import BPF_EXIST
from ..maps_misc import QUEUE_HEADER
from .bloom import BLOOM_OPS
from .irtypes import I1, I64, I8P, I64P, c64, join
from .maps import QUEUE_TYPES, MapHelpers, MapShape, _buffer

if TYPE_CHECKING:
    from .translate import Translator

PUSH, POP, PEEK = HELPER_ID["map_push_elem"], HELPER_ID["map_pop_elem"], HELPER_ID["map_peek_elem"]


class Ring:
    """The ring's header words and slot addresses in the map's buffer."""

    def __init__(self, t: "Translator", b: ir.IRBuilder, shape: MapShape):
        self.shape = shape
        self.buffer = _buffer(b, t.env, shape)
        words = b.bitcast(self.buffer, I64P)
        self.oldest_ptr, self.count_ptr = words, b.gep(words, [c64(1)])
        self.oldest, self.count = b.load(self.oldest_ptr), b.load(self.count_ptr)

    def slot(self, b: ir.IRBuilder, n: ir.Value) -> ir.Value:
        """Host pointer to the element n places after the oldest."""
        at = b.urem(b.add(self.oldest, n), c64(self.shape.entries))
        return b.gep(self.buffer, [b.add(c64(QUEUE_HEADER), b.mul(at, c64(self.shape.value_stride)))])


def _memcpy(t, b: ir.IRBuilder, dst: ir.Value, src: ir.Value, size: int) -> None:
    memcpy = t.module.declare_intrinsic("llvm.memcpy", [I8P, I8P, I64])
    b.call(memcpy, [dst, src, c64(size), ir.Constant(I1, 0)])


def _push(t: "Translator", b: ir.IRBuilder, insn, shape: MapShape, args: list) -> ir.Value | None:
    if shape.type not in QUEUE_TYPES:
        return None
    fn = b.function
    value = t.memory.access(t, b, insn, args[1], shape.value_size, write=False, helper=True)
    flags = args[2]
    ring = Ring(t, b, shape)
    full = b.icmp_unsigned(">=", ring.count, c64(shape.entries))
    replace = b.icmp_unsigned("!=", b.and_(flags, c64(BPF_EXIST)), c64(0))
    error = b.select(b.icmp_unsigned("!=", b.and_(flags, c64(~BPF_EXIST)), c64(0)), c64(-errno.EINVAL),
                     b.select(b.and_(full, b.not_(replace)), c64(-errno.E2BIG), c64(0)))
    write = fn.append_basic_block(f"pc{insn.pc}.push.write")
    done = fn.append_basic_block(f"pc{insn.pc}.push.done")
    start = b.block
    b.cbranch(b.icmp_unsigned("==", error, c64(0)), write, done)
    b.position_at_end(write)
    drop = b.zext(full, I64)  # full with BPF_EXIST: the oldest element goes
    oldest = b.urem(b.add(ring.oldest, drop), c64(shape.entries))
    count = b.sub(ring.count, drop)
    b.store(oldest, ring.oldest_ptr)
    ring.oldest = oldest
    _memcpy(t, b, ring.slot(b, count), value, shape.value_size)
    b.store(b.add(count, c64(1)), ring.count_ptr)
    b.branch(done)
    return join(b, done, [(error, start), (c64(0), write)])


def _take(take: bool):
    def op(t: "Translator", b: ir.IRBuilder, insn, shape: MapShape, args: list) -> ir.Value | None:
        if shape.type not in QUEUE_TYPES:
            return None
        fn = b.function
        ring = Ring(t, b, shape)
        found = fn.append_basic_block(f"pc{insn.pc}.take.found")
        empty = fn.append_basic_block(f"pc{insn.pc}.take.empty")
        done = fn.append_basic_block(f"pc{insn.pc}.take.done")
        b.cbranch(b.icmp_unsigned("==", ring.count, c64(0)), empty, found)
        b.position_at_end(found)
        newest = shape.type == MapType.STACK
        element = ring.slot(b, b.sub(ring.count, c64(1)) if newest else c64(0))
        if take:
            b.store(b.sub(ring.count, c64(1)), ring.count_ptr)
            if not newest:
                b.store(b.urem(b.add(ring.oldest, c64(1)), c64(shape.entries)), ring.oldest_ptr)
        target = t.memory.access(t, b, insn, args[1], shape.value_size, write=True, helper=True)
        _memcpy(t, b, target, element, shape.value_size)
        copied = b.block
        b.branch(done)
        b.position_at_end(empty)  # the buffer zeroed, -ENOENT
        target = t.memory.access(t, b, insn, args[1], shape.value_size, write=True, helper=True)
        memset = t.module.declare_intrinsic("llvm.memset", [I8P, I64])
        b.call(memset, [target, ir.Constant(ir.IntType(8), 0), c64(shape.value_size), ir.Constant(I1, 0)])
        zeroed = b.block
        b.branch(done)
        return join(b, done, [(c64(-errno.ENOENT), zeroed), (c64(0), copied)])
    return op


def queue_stack_emitters(maps: MapHelpers) -> dict:
    """push/pop/peek: queues and stacks here, bloom filters' push and peek in bloom.py."""
    ops = {PUSH: _push, POP: _take(True), PEEK: _take(False)}

    def emitter(helper_id: int):
        def op(t, b, insn, shape: MapShape, args: list) -> ir.Value | None:
            bloom = BLOOM_OPS.get(helper_id) if shape.hash_funcs else None
            return (bloom or ops[helper_id])(t, b, insn, shape, args)

        def emit(t, b, insn, args):
            return maps.dispatch(t, b, insn, helper_id, args, op)
        return emit

    return {helper_id: emitter(helper_id) for helper_id in ops}
