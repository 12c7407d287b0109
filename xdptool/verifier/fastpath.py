"""Specialised handlers for the instructions that dominate loops: work on constants.

`specialise(checker, insn, general)` returns a closure that decodes `insn` once and, when
the registers involved are constant scalars, computes the result concretely
(a constant's abstract result is that constant, so this is exactly what the
general transfer functions would produce, only without building bounds); in
every other case it calls the general handler.  Instructions without a fast
form get the general handler directly.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ..ebpf.insn import Instruction
from ..ebpf.semantics import JMP32, JMP64
from . import codes
from .linked import ADD_CONST, link_after_alu
from .scalar import CONCRETE, const_alu, scalar_alu
from .cfg import CODE, DST, IMM, OFF, PC, SRC
from .state import Frame, Reg, State, shared_const_reg
from .tnum import U32, U64
from .codes import OP_ARSH, OP_LSH, OP_RSH
from .state import T_NOT_INIT, T_SCALAR

if TYPE_CHECKING:  # (a runtime import would be circular: checker.py imports this module; compiled,
    from .checker import Checker  # fastpath.pxd cimports the class, so `checker` is read from its C slots)

_SCALAR, _NOT_INIT = T_SCALAR, T_NOT_INIT
_SHIFTS = (OP_LSH, OP_RSH, OP_ARSH)
# Plain ints (codes.py): compared once per instruction while building the handlers.
_ALU, _ALU64, _JMP, _JMP32, _MOV, _X = codes.ALU, codes.ALU64, codes.JMP, codes.JMP32, codes.OP_MOV, codes.X

# Conditional jumps on two constants (kernel is_branch_taken): the ISA's meaning, per width.
_COMPARE = frozenset(JMP64)


def specialise(checker, insn: Instruction, general, row: tuple):
    """The handler for `insn`: a fast form where one exists, else `general` (the checker's).
    `row` is the instruction's cfg row: its fields as plain ints (C integers compiled), read
    without a dataclass attribute lookup each -- this runs once per instruction per check."""
    code = row[CODE]
    cls, op = code & 0x07, code & 0xF0
    if cls == _ALU or cls == _ALU64:
        if row[OFF]:  # movsx, sdiv/smod: general only
            return general
        if op == _MOV:
            return _mov(checker, row, general)
        if op in CONCRETE:
            return _alu(checker, row, general)
    elif (cls == _JMP or cls == _JMP32) and op in _COMPARE:
        return _cond_jmp(checker, row)
    return general


def _mov(checker: Checker, row: tuple, general):
    code, d, s, imm = row[CODE], row[DST], row[SRC], row[IMM]
    if d == 10:
        return general
    is64 = code & 0x07 == _ALU64
    logging, scratched = bool(checker.log_level), checker.scratched  # (only the log shows what was touched)
    if not code & _X:
        value = shared_const_reg(imm if is64 else imm & U32)

        def mov_imm(insn: Instruction):
            if logging:
                scratched.add(d)
            state: State = checker.state  # typed: slot reads in the compiled build
            frame: Frame = state.frames[-1]
            frame.regs[d] = value

        return mov_imm
    if not is64:
        return general

    def mov_reg(insn: Instruction):
        state: State = checker.state  # typed: slot reads in the compiled build
        frame: Frame = state.frames[-1]
        regs: list = frame.regs
        src: Reg = regs[s]
        t = src.type
        # Stored registers never change, so the general handler's copy can be the source
        # itself: constants, scalars already linked by an id, and pointers.  Unlinked
        # unknown scalars get a new id in both registers, one linked with a delta loses
        # it (general); r0-r9 unset: rejected.
        if (t is _SCALAR and (not src.var_off.mask or src.id) and not src.id & ADD_CONST) or (
                t is not _SCALAR and t is not _NOT_INIT):
            if logging:
                scratched.add(s)
                scratched.add(d)
            regs[d] = src
            return None
        return general(insn)

    return mov_reg


def _alu(checker: Checker, row: tuple, general):
    code, d, s, row_imm = row[CODE], row[DST], row[SRC], row[IMM]
    op = code & 0xF0
    is64 = code & 0x07 == _ALU64
    bits, mask = (64, U64) if is64 else (32, U32)
    fn = CONCRETE[op][0 if is64 else 1]
    shared_const = shared_const_reg
    capable = checker.profile.privileged
    logging, scratched = bool(checker.log_level), checker.scratched
    if not code & _X:
        imm = (row_imm if is64 else row_imm & U32) & mask
        if op in _SHIFTS and imm >= bits:
            return general

        src_imm = shared_const(row_imm if is64 else row_imm & U32)  # what the general handler uses

        def alu_imm(insn: Instruction):
            state: State = checker.state  # typed: slot reads in the compiled build
            frame: Frame = state.frames[-1]
            regs: list = frame.regs
            dst: Reg = regs[d]
            if dst.type is _SCALAR:
                if logging:
                    scratched.add(d)
                if not dst.var_off.mask:
                    regs[d] = shared_const(fn(dst.var_off.value & mask, imm))
                else:
                    regs[d] = _scalar_result(dst, op, src_imm, is64, False, capable)
                return None
            return general(insn)

        return alu_imm

    def alu_reg(insn: Instruction):
        state: State = checker.state  # typed: slot reads in the compiled build
        frame: Frame = state.frames[-1]
        regs: list = frame.regs
        dst: Reg = regs[d]
        src: Reg = regs[s]
        if dst.type is _SCALAR and src.type is _SCALAR:
            if logging:
                scratched.add(s)
                scratched.add(d)
            value = None
            if not dst.var_off.mask and not src.var_off.mask:
                value = const_alu(op, dst.var_off.value, src.var_off.value, is64)
            regs[d] = (shared_const(value) if value is not None
                       else _scalar_result(dst, op, src, is64, s == d, capable))
            return None
        return general(insn)

    return alu_reg


def _scalar_result(dst: Reg, op: int, src: Reg, is64: bool, same_reg: bool, capable: bool) -> Reg:
    """Checker.alu on two scalars: a private copy of dst, the transfer applied, its id
    dropped or kept with a delta (linked.py)."""
    result = dst.copy()
    scalar_alu(result, op, src, is64)
    link_after_alu(result, dst, op, src, is64, same_reg, capable)
    return result


def decode_cond_jmp(insn: Instruction) -> tuple:
    """(op, bits, dst, src or None, immediate as a register or None, fall-through, target)."""
    code = insn.code
    bits = 32 if code & 0x07 == _JMP32 else 64
    uses_reg = code & _X
    imm = None if uses_reg else Reg.shared_const(insn.imm if bits == 64 else insn.imm & U32)
    return (code & 0xF0, bits, insn.dst, insn.src if uses_reg else None, imm, insn.pc + 1,
            insn.pc + 1 + insn.off)


def _cond_jmp(checker: Checker, row: tuple):
    code, d, s, off, row_imm, pc = row[CODE], row[DST], row[SRC], row[OFF], row[IMM], row[PC]
    op = code & 0xF0
    is64 = code & 0x07 != _JMP32
    bits = 64 if is64 else 32
    uses_reg = bool(code & _X)
    # decode_cond_jmp's fields, from the row
    s_or_none = s if uses_reg else None
    imm_reg = None if uses_reg else shared_const_reg(row_imm if is64 else row_imm & U32)
    fall, target = pc + 1, pc + 1 + off
    compare = (JMP64 if is64 else JMP32)[op]
    imm = row_imm & U64 if is64 else row_imm & U32
    noted = False  # noted: the walk's observation that values decided this jump
    logging, scratched = bool(checker.log_level), checker.scratched
    observed = checker.observed  # fixed for the checker's walk: read once

    def cond_jmp(insn: Instruction):
        nonlocal noted
        checker.jmps += 1
        state: State = checker.state  # typed: slot reads in the compiled build
        frame: Frame = state.frames[-1]
        regs: list = frame.regs
        dst: Reg = regs[d]
        src: Reg | None = regs[s] if uses_reg else None
        if dst.type is _SCALAR and not dst.var_off.mask and (
                src is None or (src.type is _SCALAR and not src.var_off.mask)):
            a = dst.var_off.value
            b = src.var_off.value if src is not None else imm
            if not is64:
                a, b = a & U32, b & U32
            if logging:
                scratched.add(d)
                if uses_reg:
                    scratched.add(s)
            if not noted:
                observed.value_branch_at(pc)
                noted = True
            if checker.track is not None:  # backtrack.py: the path's precision
                checker.track.mark_regs(1 << d | (1 << s if uses_reg else 0))
            return target if compare(a, b) else fall
        return checker.cond_jmp_decoded(insn, op, bits, d, s_or_none, imm_reg, fall, target)

    return cond_jmp
