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
from .handler import Handler
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
    code, d, imm = row[CODE], row[DST], row[IMM]
    if d == 10:
        return general
    is64 = code & 0x07 == _ALU64
    if not code & _X:
        mov_imm = MovImm.__new__(MovImm)  # (fields set here: a C allocation compiled, no __init__ call)
        mov_imm.checker, mov_imm.d = checker, d
        mov_imm.logging, mov_imm.scratched = bool(checker.log_level), checker.scratched
        mov_imm.value = shared_const_reg(imm if is64 else imm & U32)
        return mov_imm
    if not is64:
        return general
    mov_reg = MovReg.__new__(MovReg)
    _fill(mov_reg, checker, row, general)
    return mov_reg


class FastHandler(Handler):
    """A fast form: the checker, the instruction's registers, what the log needs (only the
    log shows what was touched) and the general handler for the cases it does not cover."""

    __slots__ = ("checker", "d", "s", "logging", "scratched", "general")


def _fill(handler: FastHandler, checker: Checker, row: tuple, general) -> None:
    handler.checker, handler.general = checker, general
    handler.d, handler.s = row[DST], row[SRC]
    handler.logging, handler.scratched = bool(checker.log_level), checker.scratched


def current_regs(checker) -> list:  # checker: Checker (fastpath.pxd; its .state is set while it walks)
    """The registers of the frame the walk is in (compiled: typed slot reads, a C call)."""
    state: State = checker.state
    frame: Frame = state.frames[-1]
    return frame.regs


class MovImm(Handler):
    __slots__ = ("checker", "d", "logging", "scratched", "value")

    def run(self, insn: Instruction):
        if self.logging:
            self.scratched.add(self.d)
        regs: list = current_regs(self.checker)
        regs[self.d] = self.value
        return None


class MovReg(FastHandler):
    __slots__ = ()

    def run(self, insn: Instruction):
        regs: list = current_regs(self.checker)
        src: Reg = regs[self.s]
        t = src.type
        # Stored registers never change, so the general handler's copy can be the source
        # itself: constants, scalars already linked by an id, and pointers.  Unlinked
        # unknown scalars get a new id in both registers, one linked with a delta loses
        # it (general); r0-r9 unset: rejected.
        if (t is _SCALAR and (not src.var_off.mask or src.id) and not src.id & ADD_CONST) or (
                t is not _SCALAR and t is not _NOT_INIT):
            if self.logging:
                self.scratched.add(self.s)
                self.scratched.add(self.d)
            regs[self.d] = src
            return None
        return self.general.run(insn)


def _alu(checker: Checker, row: tuple, general):
    code, row_imm = row[CODE], row[IMM]
    op = code & 0xF0
    is64 = code & 0x07 == _ALU64
    bits, mask = (64, U64) if is64 else (32, U32)
    if not code & _X:
        imm = (row_imm if is64 else row_imm & U32) & mask
        if op in _SHIFTS and imm >= bits:
            return general
        alu_imm = AluImm.__new__(AluImm)
        _fill_alu(alu_imm, checker, row, general)
        alu_imm.imm = imm
        alu_imm.src_imm = shared_const_reg(row_imm if is64 else row_imm & U32)  # what the general handler uses
        return alu_imm
    alu_reg = AluReg.__new__(AluReg)
    _fill_alu(alu_reg, checker, row, general)
    return alu_reg


class AluHandler(FastHandler):
    __slots__ = ("op", "is64", "mask", "fn", "capable")


def _fill_alu(handler: AluHandler, checker: Checker, row: tuple, general) -> None:
    _fill(handler, checker, row, general)
    code = row[CODE]
    handler.op = code & 0xF0
    handler.is64 = code & 0x07 == _ALU64
    handler.mask = U64 if handler.is64 else U32
    handler.fn = CONCRETE[handler.op][0 if handler.is64 else 1]
    handler.capable = checker.privileged


class AluImm(AluHandler):
    __slots__ = ("imm", "src_imm")

    def run(self, insn: Instruction):
        regs: list = current_regs(self.checker)
        d = self.d
        dst: Reg = regs[d]
        if dst.type is _SCALAR:
            if self.logging:
                self.scratched.add(d)
            if not dst.var_off.mask:
                regs[d] = shared_const_reg(self.fn(dst.var_off.value & self.mask, self.imm))
            else:
                regs[d] = _scalar_result(dst, self.op, self.src_imm, self.is64, False, self.capable)
            return None
        return self.general.run(insn)


class AluReg(AluHandler):
    __slots__ = ()

    def run(self, insn: Instruction):
        regs: list = current_regs(self.checker)
        d, s = self.d, self.s
        dst: Reg = regs[d]
        src: Reg = regs[s]
        if dst.type is _SCALAR and src.type is _SCALAR:
            if self.logging:
                self.scratched.add(s)
                self.scratched.add(d)
            value = None
            if not dst.var_off.mask and not src.var_off.mask:
                value = const_alu(self.op, dst.var_off.value, src.var_off.value, self.is64)
            regs[d] = (shared_const_reg(value) if value is not None
                       else _scalar_result(dst, self.op, src, self.is64, s == d, self.capable))
            return None
        return self.general.run(insn)


def _scalar_result(dst: Reg, op, src: Reg, is64, same_reg, capable) -> Reg:  # types: fastpath.pxd
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
    code, row_imm, pc = row[CODE], row[IMM], row[PC]
    handler = CondJmp.__new__(CondJmp)
    handler.checker, handler.d, handler.s, handler.pc = checker, row[DST], row[SRC], pc
    handler.op = code & 0xF0
    is64 = handler.is64 = code & 0x07 != _JMP32
    handler.bits = 64 if is64 else 32
    uses_reg = handler.uses_reg = bool(code & _X)
    # decode_cond_jmp's fields, from the row
    handler.s_or_none = handler.s if uses_reg else None
    handler.imm_reg = None if uses_reg else shared_const_reg(row_imm if is64 else row_imm & U32)
    handler.fall, handler.target = pc + 1, pc + 1 + row[OFF]
    handler.compare = (JMP64 if is64 else JMP32)[handler.op]
    handler.imm = row_imm & U64 if is64 else row_imm & U32
    handler.noted = False  # noted: the walk's observation that values decided this jump
    handler.logging, handler.scratched = bool(checker.log_level), checker.scratched
    handler.observed = checker.observed  # fixed for the checker's walk: read once
    return handler


class CondJmp(Handler):
    __slots__ = ("checker", "d", "s", "uses_reg", "is64", "op", "bits", "s_or_none", "imm_reg", "imm", "fall", "target",
                 "pc", "compare", "noted", "logging", "scratched", "observed")

    def run(self, insn: Instruction):
        checker: Checker = self.checker
        checker.jmps += 1
        regs: list = current_regs(checker)
        d, s, uses_reg = self.d, self.s, self.uses_reg
        dst: Reg = regs[d]
        src: Reg | None = regs[s] if uses_reg else None
        if dst.type is _SCALAR and not dst.var_off.mask and (
                src is None or (src.type is _SCALAR and not src.var_off.mask)):
            a = dst.var_off.value
            b = src.var_off.value if src is not None else self.imm
            if not self.is64:
                a, b = a & U32, b & U32
            if self.logging:
                self.scratched.add(d)
                if uses_reg:
                    self.scratched.add(s)
            if not self.noted:
                self.observed.value_branch_at(self.pc)
                self.noted = True
            if checker.track is not None:  # backtrack.py: the path's precision
                checker.track.mark_regs(1 << d | (1 << s if uses_reg else 0))
            return self.target if self.compare(a, b) else self.fall
        return checker.cond_jmp_decoded(insn, self.op, self.bits, d, self.s_or_none, self.imm_reg, self.fall,
                                        self.target)
