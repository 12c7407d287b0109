"""Which registers hold the context pointer before each instruction of a program, when
it started with r1 = the context, as every packet of the packet loop does.

A 64-bit register move copies it, any other write replaces it, a call scratches r1-r5 and
BPF-to-BPF callees keep r6-r9.  Where paths meet, a register holds the context only if it
does on every path; subprograms (callees, callbacks) start knowing nothing.  This is the
engines' own must-analysis over the instructions, not the verifier's.  It is a hint: a
run through xdp_run may start the program with another r1 (the conformance suite's
memory), so a load it marks checks with one compare that its base is the context before
reading the field without the region check (MemoryModel.load_expected_field).
"""

from __future__ import annotations

from ...ebpf.insn import Instruction
from ...ebpf.opcodes import AluOp, Cls
from ...ebpf.validate import forward_must, register_effects

ENTRY_CTX = frozenset({1})  # r1 at the entry program's first instruction


def _copies(insn: Instruction) -> int | None:
    """The source register of a plain 64-bit register move (`rD = rS`), else None."""
    if insn.cls == Cls.ALU64 and insn.op == AluOp.MOV and insn.uses_reg_src and insn.off == 0:
        return insn.src
    return None


def ctx_registers(insns: list[Instruction]) -> dict[int, frozenset[int]]:
    """pc -> the registers holding the context pointer on every path to it from pc 0
    (instructions reached only through calls are left out: nothing is known there)."""

    def holding_after(insn: Instruction, holding: frozenset[int]) -> frozenset[int]:
        _reads, writes, kills = register_effects(insn)
        out = holding - writes - kills
        source = _copies(insn)
        return out | {insn.dst} if source is not None and source in holding else out

    return forward_must(insns, {insns[0].pc: ENTRY_CTX}, holding_after) if insns else {}
