"""bpf_for_each_map_elem as native code: the walk of helpers.for_each_map_elem (Map.each)
over an array's indexes or a hash map's slots in table order, each element's callback
entered as bpf_loop enters its callback (control.py: one frame for the whole walk, a fresh
stack and budget per invocation).

Per element: the key is copied into the caller's depth's key region (VmEngine.for_each_keys,
whose first id is `env.each_key_base`), the value pointer numbered as a lookup numbers it
(maps._value_pointer), then R1 = the map, R2 = the key, R3 = the value, R4 = ctx, R5 = 0.  The
frame keeps the walk's cursor (FRAME_LOOP_I: the next index or slot to look at), the elements
visited (FRAME_LOOP_N), ctx and the callback.  Maps of other kinds (their answer is -ENOTSUP
or a fault), a flags word, or a function pointer that is not one of the program's own go
through the Python helper.
"""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING

import llvmlite.ir as ir

from ...elf.model import MapType
from ...platform.helpers import HELPER_ID
from ..maps_hash import HEADER, SLOT_HEADER, USED
from ..memory import ORIGIN, REGION_SHIFT
from .control import _callback_targets, back_from_callback, begin_invocation, enter_walk, invoke_callback
from .env import ENV, R_HOST, REGION_WORDS
from .irtypes import I1, I32, I64, I8P, I64P, c64, join
from .maps import MapHelpers, MapShape, _hash_value_offset, _map_word, _present, _value_pointer
from .translate import (
    ARGS, FRAME_ARGS, FRAME_LOOP_CTX, FRAME_LOOP_I,
    FRAME_LOOP_N,
)

if TYPE_CHECKING:
    from .translate import Translator

FOR_EACH = HELPER_ID["for_each_map_elem"]
WALKED = frozenset({MapType.ARRAY, MapType.PERCPU_ARRAY, MapType.HASH, MapType.PERCPU_HASH, MapType.LRU_HASH,
                    MapType.LRU_PERCPU_HASH})


def for_each_emitter(maps: MapHelpers):
    def op(t: "Translator", b: ir.IRBuilder, insn, shape: MapShape, args: list) -> ir.Value | None:
        targets = _callback_targets(t)
        if shape.type not in WALKED or shape.lpm or shape.sparse or not targets:
            return None
        return _walk(t, b, insn, shape, args, targets)

    def emit(t: "Translator", b: ir.IRBuilder, insn, args: list) -> ir.Value | None:
        return maps.dispatch(t, b, insn, FOR_EACH, args, op)
    return emit


def _key_host(t: "Translator", b: ir.IRBuilder, depth: ir.Value):
    """Host address of the key region of call depth `depth`."""
    rid = b.add(ENV.load(b, t.env, "each_key_base"), depth)
    table = b.inttoptr(ENV.load(b, t.env, "regions"), I64P)
    return b.inttoptr(b.load(b.gep(table, [b.add(b.mul(rid, c64(REGION_WORDS)), c64(R_HOST))])), I8P)


def _walk(t, b: ir.IRBuilder, insn, shape: MapShape, args: list, targets: list[int]):
    fn = b.function
    env, pc = t.env, insn.pc
    name = f"pc{pc}.each.{shape.name}"
    func, ctx, flags = args[1], args[2], args[3]
    done = fn.append_basic_block(f"{name}.done")
    checked = fn.append_basic_block(f"{name}.flags_ok")
    python = fn.append_basic_block(f"{name}.python")
    start = fn.append_basic_block(f"{name}.start")
    seek = fn.append_basic_block(f"{name}.seek")
    found = fn.append_basic_block(f"{name}.found")
    returned = fn.append_basic_block(f"{name}.returned")
    finish = fn.append_basic_block(f"{name}.finish")
    incoming: list = [(c64(-errno.EINVAL), b.block)]
    b.cbranch(b.icmp_unsigned("!=", flags, c64(0)), done, checked)

    b.position_at_end(checked)
    callee = b.sub(b.and_(func, c64((1 << REGION_SHIFT) - 1)), c64(ORIGIN))
    depth = enter_walk(t, b, insn, args, FOR_EACH, callee, targets, (start, python, done, returned), incoming,
                       c64(0), ctx)
    b.branch(seek)

    # the next element from the cursor on (Map.each), or the end of the walk
    b.position_at_end(seek)
    depth = b.load(t.depth)
    cursor = b.load(t.frame_slot(b, depth, FRAME_LOOP_I))
    limit = c64(shape.entries)
    if shape.is_hash:
        scan = fn.append_basic_block(f"{name}.slot")
        head = b.block
        b.branch(scan)
        b.position_at_end(scan)
        slot = b.phi(I64)
        slot.add_incoming(cursor, head)
        inside = b.icmp_unsigned("<", slot, limit)
        safe = b.select(inside, slot, c64(0))
        buffer = b.inttoptr(_map_word(b, env, shape, 0), I8P)
        slot_ptr = b.gep(buffer, [b.add(c64(HEADER), b.mul(safe, c64(shape.slot_size)))])
        used = b.icmp_unsigned("==", b.load(b.bitcast(slot_ptr, I32.as_pointer()), align=1), ir.Constant(I32, USED))
        step = fn.append_basic_block(f"{name}.next_slot")
        b.cbranch(b.and_(inside, used), found, step)
        sb = ir.IRBuilder(step)
        slot.add_incoming(sb.add(slot, c64(1)), step)
        sb.cbranch(inside, scan, finish)
        position = slot
    else:
        b.cbranch(_present(b, env, shape, cursor), found, finish)
        position = cursor

    # its key into the key region, its value pointer, then the callback
    b.position_at_end(found)
    index = position
    b.store(b.add(index, c64(1)), t.frame_slot(b, depth, FRAME_LOOP_I))
    n_slot = t.frame_slot(b, depth, FRAME_LOOP_N)
    b.store(b.add(b.load(n_slot), c64(1)), n_slot)
    key = _key_host(t, b, depth)
    copy = c64(shape.cpu)
    if shape.is_hash:
        memcpy = t.module.declare_intrinsic("llvm.memcpy", [I8P, I8P, I64])
        b.call(memcpy, [key, b.gep(slot_ptr, [c64(SLOT_HEADER)]), c64(shape.key_size), ir.Constant(I1, 0)])
        value_at = b.add(b.mul(index, c64(shape.ncpus)), copy)
        offset = b.add(_hash_value_offset(b, shape, index, cpu=0), b.mul(copy, c64(shape.value_stride)))
    else:
        b.store(b.trunc(index, I32), b.bitcast(key, I32.as_pointer()), align=1)
        value_at = b.add(index, b.mul(copy, c64(shape.entries)))
        offset = b.mul(value_at, c64(shape.value_stride))
    value = _value_pointer(t, b, insn, shape, value_at, offset)  # pyright: ignore[reportArgumentType]
    key_addr = b.or_(b.shl(b.add(ENV.load(b, env, "each_key_base"), depth), c64(REGION_SHIFT)), c64(ORIGIN))

    # one invocation: its own budget, a fresh stack (control.emit_loop)
    begin_invocation(t, b, depth)
    t.set_reg(b, 1, b.load(t.frame_slot(b, depth, FRAME_ARGS + 1)))  # the map, as the program gave it
    t.set_reg(b, 2, key_addr)
    t.set_reg(b, 3, value)
    t.set_reg(b, 4, b.load(t.frame_slot(b, depth, FRAME_LOOP_CTX)))
    t.set_reg(b, 5, c64(0))
    invoke_callback(t, b, depth, targets)

    b.position_at_end(returned)
    depth = back_from_callback(t, b)
    b.cbranch(b.icmp_unsigned("!=", t.reg(b, 0), c64(0)), finish, seek)

    b.position_at_end(finish)
    depth = b.load(t.depth)
    visited = b.load(t.frame_slot(b, depth, FRAME_LOOP_N))
    for i, n in enumerate(ARGS):
        t.set_reg(b, n, b.load(t.frame_slot(b, depth, FRAME_ARGS + 1 + i)))
    incoming.append((visited, b.block))
    b.branch(done)
    return join(b, done, incoming)

