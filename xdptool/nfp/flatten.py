"""BPF-to-BPF calls, inlined: one flat instruction list per program for the lowering.

Every call site gets its own copy of the callee.  The callee's frame sits in LM
right below its caller's (r10 inside it = the caller's fp - the caller's
frame size, recorded as meta["frame"]), and its r6-r9 are renamed to fresh
register numbers (11, 12, ...), so the caller's r6-r9 survive the call as the
ABI demands without any save/restore; `exit` in a callee becomes a jump to the
instruction after the call.  Jump targets are list indices in meta["target"];
meta["origin"] keeps the original pc for listings and messages.

Frame sizes come from analysis.py run on each subprogram alone (accesses through
its own r10), rounded up to 8 bytes.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..ebpf.opcodes import Cls, JmpOp
from ..elf.model import Program, Subprogram
from ..errors import XdpError
from . import analysis

MAX_STACK = 512
CALLEE_SAVED = (6, 7, 8, 9)


@dataclass
class Flat:
    insns: list  # Instruction copies
    stack_bytes: int  # LM bytes for all frames on the deepest call chain


def _body(program: Program, sub: Subprogram) -> list:
    return [i for i in program.insns if sub.start <= i.pc < sub.end]


def _local_targets(insns: list) -> list:
    index = {insn.pc: k for k, insn in enumerate(insns)}
    out = []
    for insn in insns:
        copy = insn.copy()
        if insn.is_branch:
            if insn.target not in index:
                raise XdpError(f"insn {insn.pc}: jump out of its function")
            copy.meta["target"] = index[insn.target]
        out.append(copy)
    return out


def frame_size(program: Program, sub: Subprogram, is_callee: bool) -> int:
    insns = _local_targets(_body(program, sub))
    for insn in insns:
        if insn.is_local_call:  # a lone function: calls only clobber r0-r5
            insn.meta["opaque_call"] = True
    states = analysis.analyze(insns, analysis.entry_state(0, args=is_callee))
    lowest = min((offset for _, offset, _ in analysis.stack_accesses(insns, states)), default=0)
    return (-lowest + 7) & ~7


def _subprograms(program: Program) -> list[Subprogram]:
    if program.subprograms:
        return program.subprograms
    return [Subprogram(program.name, 0, program.slot_count, program.section)]  # hand-made programs


def flatten(program: Program) -> Flat:
    subprograms = _subprograms(program)
    subs = {sub.start: sub for sub in subprograms}
    sizes = {sub.start: frame_size(program, sub, sub is not subprograms[0]) for sub in subprograms}
    out: list = []
    deepest = 0
    fresh = iter(range(11, 10_000))

    def emit(sub: Subprogram, frame: int, rename: dict[int, int], depth: int) -> list[int]:
        """Append sub's body; returns the indices of its exits (jumps to patch)."""
        nonlocal deepest
        if depth > 8:
            raise XdpError(f"{sub.name}: calls nested deeper than 8 frames")
        size = sizes[sub.start]
        deepest = max(deepest, -frame + size)
        body = _body(program, sub)
        position = {}
        pending: list[tuple[int, int]] = []  # (out index, original target pc)
        exits: list[int] = []
        for insn in body:
            position[insn.pc] = len(out)
            copy = insn.copy()
            copy.dst, copy.src = rename.get(insn.dst, insn.dst), rename.get(insn.src, insn.src)
            copy.meta.update(frame=frame, origin=insn.pc, function=sub.name, rename=rename)
            if insn.is_local_call:
                callee = subs.get(insn.target)
                if callee is None:
                    raise XdpError(f"insn {insn.pc}: call to {insn.target}, not a function start")
                inner = {r: next(fresh) for r in CALLEE_SAVED}
                callee_exits = emit(callee, frame - size, inner, depth + 1)
                for k in callee_exits:
                    out[k].meta["target"] = len(out)
                continue
            if insn.is_exit and depth > 0:
                copy = copy.copy(code=Cls.JMP | JmpOp.JA, off=0, imm=0, dst=0, src=0)
                copy.meta["returns"] = True
                exits.append(len(out))
            elif insn.is_branch:
                pending.append((len(out), insn.target))
            out.append(copy)
        for k, target in pending:
            if target not in position:
                raise XdpError(f"insn {out[k].meta['origin']}: jump out of {sub.name}")
            out[k].meta["target"] = position[target]
        return exits

    emit(subprograms[0], 0, {}, 0)
    for index, insn in enumerate(out):
        insn.pc = index
    if deepest > MAX_STACK:
        raise XdpError(f"stack too large: {deepest} bytes over the call chain (the NFP allows {MAX_STACK})")
    return Flat(out, deepest)
