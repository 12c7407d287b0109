"""Helpers that move control: bpf_tail_call and bpf_loop, as branches in the one function.

bpf_tail_call (VmEngine.tail_call, after kernel/bpf/core.c JMP_TAIL_CALL): the
index is checked against max_entries, then the per-run count against
MAX_TAIL_CALL_CNT (33), then the slot; a taken call is a branch to the first
block of the target program's unit (translate.Unit), keeping registers, stack
and call frames, so an exit in a subprogram returns to its caller as in the
interpreter.  A failed call leaves r0 as it was.

bpf_loop (helpers.loop, VmEngine.call_function): the callback is a function of
the same program, entered like a BPF-to-BPF call whose return site is the loop's
continuation: each iteration pushes nothing new (the frame saved at the call
holds R6-R10, R0-R5 and the loop state), zeroes the callee's stack, sets
R1 = i, R2 = ctx, R3-R5 = 0 and jumps to the callback.  Each invocation has its
own instruction budget (`Translator.base`), as `VmEngine._loop` gives it.  A
function pointer that is not one of the program's own function references goes
through the Python helper (which faults as the interpreter does).
"""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING

import llvmlite.ir as ir

from ...ebpf.opcodes import PseudoSrc
from ...ebpf.semantics import BPF_MAX_LOOPS
from ...elf.model import MapType, RelocKind
from ..config import MAX_TAIL_CALL_CNT
from ..memory import ORIGIN, REGION_SHIFT
from .env import ENV
from .irtypes import I64, c64, join
from .maps import MapHelpers, MapShape, find_element, map_u32
from .translate import (
    ARGS, FRAME_ARGS, FRAME_BASE, FRAME_ENTRY_CALLBACKS, FRAME_ENTRY_COUNT, FRAME_LOOP_CTX, FRAME_LOOP_FUNC, FRAME_LOOP_I,
    FRAME_LOOP_N, TAIL_CALL,
)

if TYPE_CHECKING:
    from .translate import Translator

LOOP = 181  # bpf_loop


def tail_call_emitter(maps: MapHelpers, targets: dict[int, int]):
    """bpf_tail_call for a module whose units run the programs `targets` names
    ({index in the object's program list: unit index})."""

    def op(t: "Translator", b: ir.IRBuilder, insn, shape: MapShape, args: list) -> ir.Value | None:
        if shape.type != MapType.PROG_ARRAY:
            return None  # the Python helper faults: not a prog_array
        fn = b.function
        index = b.and_(args[2], c64(0xFFFFFFFF))
        failed = fn.append_basic_block(f"pc{insn.pc}.tail.failed")
        counted = fn.append_basic_block(f"pc{insn.pc}.tail.counted")
        in_bounds = b.icmp_unsigned("<", index, c64(shape.max_entries))
        under = b.icmp_unsigned("<", b.load(t.tail_calls), c64(MAX_TAIL_CALL_CNT))
        b.cbranch(b.and_(in_bounds, under), counted, failed)
        b.position_at_end(counted)
        b.store(b.add(b.load(t.tail_calls), c64(1)), t.tail_calls)
        present, offset = find_element(t, b, insn, shape, index)
        chosen = fn.append_basic_block(f"pc{insn.pc}.tail.slot")
        b.cbranch(present, chosen, failed)
        b.position_at_end(chosen)
        switch = b.switch(map_u32(b, t.env, shape, offset), failed)
        for program, unit in targets.items():
            switch.add_case(c64(program), t.unit_entries[unit])
        b.position_at_end(failed)
        return t.reg(b, 0)  # a failed tail call leaves r0 as it was

    def emit(t: "Translator", b: ir.IRBuilder, insn, args: list) -> ir.Value | None:
        return maps.dispatch(t, b, insn, TAIL_CALL, args, op, reg=2)

    return emit


def _callback_targets(t: "Translator") -> list[int]:
    """The pcs of this unit's function references (ld_imm64 of a subprogram)."""
    pcs = set()
    for insn in t.insns:
        if not insn.is_ld_imm64:
            continue
        if insn.reloc is not None and insn.reloc.kind is RelocKind.FUNC:
            pcs.add(insn.reloc.offset)
        elif insn.reloc is None and insn.src == PseudoSrc.FUNC:
            pcs.add(insn.pc + 1 + insn.imm)
    return sorted(pc for pc in pcs if pc in t.blocks)


def enter_walk(t: "Translator", b: ir.IRBuilder, insn, args: list, helper: int, callee: ir.Value,
               targets: list[int], blocks: tuple, incoming: list, count: ir.Value, ctx: ir.Value) -> ir.Value:
    """The entry of a helper that calls a callback over and over (bpf_loop, for_each_map_elem), from
    the block where its arguments were found good: a function pointer of another program, or to
    no callback this module compiled, goes to the Python helper (its result joins `incoming` at
    `done`); ours gets the frame of the whole walk (VmEngine.call_function restores R0-R5 after
    each call) with the loop words set, in `start`, where the builder is left.  Returns the frame's depth."""
    start, python, done, returned = blocks
    func = args[1]
    ours = b.icmp_unsigned("==", b.lshr(func, c64(REGION_SHIFT)), ENV.load(b, t.env, "func_id"))
    dispatch = b.function.append_basic_block(f"pc{insn.pc}.{helper}.func")
    b.cbranch(ours, dispatch, python)
    b.position_at_end(dispatch)
    known = b.switch(callee, python)
    for target in targets:
        known.add_case(c64(target), start)

    pb = ir.IRBuilder(python)
    incoming.append((t.helpers.callback(t, pb, insn, c64(helper), args), pb.block))
    pb.branch(done)

    b.position_at_end(start)
    depth = t.push_frame(b, insn, returned)
    for i, n in enumerate((0, *ARGS)):
        b.store(t.reg(b, n), t.frame_slot(b, depth, FRAME_ARGS + i))
    for word, value in ((FRAME_LOOP_I, c64(0)), (FRAME_LOOP_N, count), (FRAME_LOOP_CTX, ctx),
                        (FRAME_LOOP_FUNC, callee)):
        b.store(value, t.frame_slot(b, depth, word))
    return depth


def invoke_callback(t: "Translator", b: ir.IRBuilder, depth: ir.Value, targets: list[int]) -> None:
    """Enter the walk's callback (its arguments already in R1-R5) at the function its frame holds."""
    t.enter_callee(b, depth)
    entry = b.switch(b.load(t.frame_slot(b, depth, FRAME_LOOP_FUNC)), t.blocks[targets[0]])
    for target in targets[1:]:
        entry.add_case(c64(target), t.blocks[target])


def begin_invocation(t: "Translator", b: ir.IRBuilder, depth: ir.Value) -> None:
    """One invocation of a walk's callback begins: its own budget (the count and callback
    count now, kept in the walk's frame for back_from_callback) and R0 as the frame saved it."""
    count = b.load(t.count)
    b.store(b.load(t.base), t.frame_slot(b, depth, FRAME_BASE))
    b.store(count, t.frame_slot(b, depth, FRAME_ENTRY_COUNT))
    callbacks = b.load(t.callback_count)
    b.store(callbacks, t.frame_slot(b, depth, FRAME_ENTRY_CALLBACKS))
    b.store(b.sub(count, callbacks), t.base)
    t.set_reg(b, 0, b.load(t.frame_slot(b, depth, FRAME_ARGS)))


def back_from_callback(t: "Translator", b: ir.IRBuilder) -> ir.Value:
    """Where a callback returns to its walk: everything since the invocation began (its own and
    nested callbacks' work) is charged to the callbacks' count and kept off the caller's budget.
    Returns the walk frame's depth."""
    depth = b.load(t.depth)
    inside = b.sub(b.load(t.count), b.load(t.frame_slot(b, depth, FRAME_ENTRY_COUNT)))
    b.store(b.add(b.load(t.frame_slot(b, depth, FRAME_ENTRY_CALLBACKS)), inside), t.callback_count)
    b.store(b.add(b.load(t.frame_slot(b, depth, FRAME_BASE)), inside), t.base)
    return depth


def emit_loop(t: "Translator", b: ir.IRBuilder, insn, args: list) -> ir.Value | None:
    targets = _callback_targets(t)
    if not targets:
        return None
    fn = b.function
    nr, func, ctx, flags = args[0], args[1], args[2], args[3]
    nr = b.and_(nr, c64(0xFFFFFFFF))  # the count is a u32 (helpers.loop)
    pc = b.sub(b.and_(func, c64((1 << REGION_SHIFT) - 1)), c64(ORIGIN))
    done = fn.append_basic_block(f"pc{insn.pc}.loop.done")
    checked = fn.append_basic_block(f"pc{insn.pc}.loop.args_ok")
    python = fn.append_basic_block(f"pc{insn.pc}.loop.python")
    start = fn.append_basic_block(f"pc{insn.pc}.loop.start")
    invoke = fn.append_basic_block(f"pc{insn.pc}.loop.invoke")
    returned = fn.append_basic_block(f"pc{insn.pc}.loop.returned")
    again = fn.append_basic_block(f"pc{insn.pc}.loop.again")
    finish = fn.append_basic_block(f"pc{insn.pc}.loop.finish")
    incoming = []

    # helpers.loop: flags, then the count; nothing runs for nr_loops == 0
    error = b.select(b.icmp_unsigned("!=", flags, c64(0)), c64(-errno.EINVAL),
                     b.select(b.icmp_unsigned(">", nr, c64(BPF_MAX_LOOPS)), c64(-errno.E2BIG), c64(0)))
    stop_early = b.or_(b.icmp_unsigned("!=", error, c64(0)), b.icmp_unsigned("==", nr, c64(0)))
    incoming.append((error, b.block))  # error, or 0 loops run
    b.cbranch(stop_early, done, checked)

    b.position_at_end(checked)
    depth = enter_walk(t, b, insn, args, LOOP, pc, targets, (start, python, done, returned), incoming, nr, ctx)
    b.branch(invoke)

    # one invocation: its own budget, a fresh stack, R1 = i, R2 = ctx
    b.position_at_end(invoke)
    depth = b.load(t.depth)
    begin_invocation(t, b, depth)
    t.set_reg(b, 1, b.load(t.frame_slot(b, depth, FRAME_LOOP_I)))
    t.set_reg(b, 2, b.load(t.frame_slot(b, depth, FRAME_LOOP_CTX)))
    for n in (3, 4, 5):
        t.set_reg(b, n, c64(0))
    invoke_callback(t, b, depth, targets)

    # back from the callback (its exit popped the frame: R6-R10 restored, depth as before)
    b.position_at_end(returned)
    depth = back_from_callback(t, b)
    i_slot = t.frame_slot(b, depth, FRAME_LOOP_I)
    ran = b.add(b.load(i_slot), c64(1))
    b.store(ran, i_slot)
    stop = b.icmp_unsigned("!=", t.reg(b, 0), c64(0))
    returned_end = b.block
    b.cbranch(stop, finish, again)
    b.position_at_end(again)
    total = b.load(t.frame_slot(b, depth, FRAME_LOOP_N))
    again_end = b.block
    b.cbranch(b.icmp_unsigned("<", ran, total), invoke, finish)

    result = join(b, finish, [(ran, returned_end), (total, again_end)])
    depth = b.load(t.depth)
    for i, n in enumerate(ARGS):
        t.set_reg(b, n, b.load(t.frame_slot(b, depth, FRAME_ARGS + 1 + i)))
    incoming.append((result, b.block))
    b.branch(done)
    return join(b, done, incoming, I64)
