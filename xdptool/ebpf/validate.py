"""Program-level ISA rules the kernel enforces before any abstract interpretation.

`validate(insns)` raises `InvalidProgram` (an `XdpError`) naming the slot and the
reason when a program breaks one of:

* every opcode is one ISA v4 defines, every field an opcode does not use is zero
  and every field it does use holds an allowed value (`FIELD_RULES`; after the
  "uses reserved fields" checks in the kernel's kernel/bpf/verifier.c, which
  the bpf_conformance `unused-*` negative cases exercise);
* the second slot of ld_imm64 has zero code/registers/offset;
* jumps land on an instruction of the same subprogram, local calls on an
  instruction; each subprogram ends with exit or ja (kernel: "last insn is not
  an exit or jmp");
* no register is read before it is written on some path, and r10 is never
  written (kernel: "R0 !read_ok", "frame pointer is read only").  The registers
  live at entry are a parameter: r1 and r10 for XDP; the conformance suite's
  harness also passes the memory length in r2.

What needs value tracking (bounds, pointer types, division by a zero immediate,
shift ranges) is the verifier's business, not this module's.

`check_runnable(program)` is the subset every engine needs before it executes a
program (fields and control flow; not register initialisation, which is
path-insensitive here and would refuse programs the kernel accepts).
"""

from __future__ import annotations

from typing import Callable, Iterable, Sequence

from ..errors import DecodeError
from .insn import Instruction
from .opcodes import (
    ALU_OFFSETS, ALU_VARIANTS, ATOMIC_OPS, BYTE_SWAPS, ENDIAN_WIDTHS, JMP_NAME, Alu, AluOp, AtomicOp, CallSrc, Cls, JmpOp, Mode,
    PseudoSrc,
)

XDP_ENTRY_REGS = frozenset({1, 10})
FRAME_POINTER = 10
CALLER_SAVED = frozenset(range(1, 6))
ARG_REGS = CALLER_SAVED


class InvalidProgram(DecodeError):
    """Instructions that decode but break an ISA rule; `slot` says where."""

    def __init__(self, message: str, slot: int | None = None):
        self.slot = slot
        super().__init__(f"slot {slot}: {message}" if slot is not None else message)


# -- per-instruction field rules ------------------------------------------------------
ANY = None
ZERO = frozenset({0})
REG = frozenset(range(FRAME_POINTER + 1))
FIELDS = ("dst", "src", "off", "imm")


def _rules(dst=ZERO, src=ZERO, off=ZERO, imm=ZERO) -> dict:
    return {"dst": dst, "src": src, "off": off, "imm": imm}


_CALL_SRC = frozenset(int(s) for s in CallSrc)
_PSEUDO_SRC = frozenset(int(s) for s in PseudoSrc)

# (name, rules) for the opcode families whose rules do not depend on `op`
FIELD_RULES = {
    "lddw": _rules(dst=REG, src=_PSEUDO_SRC, imm=ANY),
    "ldabs": _rules(imm=ANY),
    "ldind": _rules(src=REG, imm=ANY),
    "ldx": _rules(dst=REG, src=REG, off=ANY),
    "st": _rules(dst=REG, off=ANY, imm=ANY),
    "stx": _rules(dst=REG, src=REG, off=ANY),
    "atomic": _rules(dst=REG, src=REG, off=ANY, imm=frozenset(ATOMIC_OPS)),
    "ja": _rules(off=ANY),
    "may_goto": _rules(off=ANY),  # kernel: "invalid may_goto imm" unless src, dst and imm are 0
    "gotol": _rules(imm=ANY),
    "exit": _rules(),
    "neg": _rules(dst=REG),
    "end": _rules(dst=REG, imm=ENDIAN_WIDTHS),
}


def _alu_rules(insn: Instruction) -> tuple[str, dict]:
    """The rules of an ALU opcode ISA v4 defines (callers check the opcode is valid first)."""
    suffix = "" if insn.cls == Cls.ALU64 else "32"
    base = ALU_VARIANTS[(insn.code, 0)]  # every defined ALU opcode has its off = 0 form
    if base is Alu.NEG:
        return "neg" + suffix, FIELD_RULES["neg"]
    if base in BYTE_SWAPS:
        return base.value, FIELD_RULES["end"]
    off = ALU_OFFSETS[insn.code]
    name = f"{base.value}{suffix}"
    if insn.uses_reg_src:
        return name + " reg", _rules(dst=REG, src=REG, off=off)
    return name + " imm", _rules(dst=REG, off=off, imm=ANY)


def _jmp_rules(insn: Instruction) -> tuple[str, dict]:
    op = insn.op
    if op == JmpOp.JA:
        return ("gotol", FIELD_RULES["gotol"]) if insn.cls == Cls.JMP32 else ("ja", FIELD_RULES["ja"])
    if op == JmpOp.EXIT:
        return "exit", FIELD_RULES["exit"]
    if op == JmpOp.JCOND:
        return "may_goto", FIELD_RULES["may_goto"]
    if op == JmpOp.CALL:  # kfunc calls keep a BTF fd index in `off`
        return "call", _rules(src=_CALL_SRC, off=ANY if insn.src == CallSrc.KFUNC else ZERO, imm=ANY)
    name = JMP_NAME[JmpOp(op)] + ("32" if insn.cls == Cls.JMP32 else "")
    if insn.uses_reg_src:
        return name + " reg", _rules(dst=REG, src=REG, off=ANY)
    return name + " imm", _rules(dst=REG, off=ANY, imm=ANY)


def _family(insn: Instruction) -> str:
    cls = insn.cls
    if cls == Cls.LD:
        return {Mode.IMM: "lddw", Mode.ABS: "ldabs", Mode.IND: "ldind"}[Mode(insn.mode)]
    if cls == Cls.STX:
        return "atomic" if insn.mode == Mode.ATOMIC else "stx"
    return {Cls.LDX: "ldx", Cls.ST: "st"}[Cls(cls)]


def rules_for(insn: Instruction) -> tuple[str, dict]:
    """(a short name, {field: allowed values or ANY}) for a valid opcode."""
    if insn.is_alu:
        return _alu_rules(insn)
    if insn.is_jmp:
        return _jmp_rules(insn)
    family = _family(insn)
    return family, FIELD_RULES[family]


def check_fields(insn: Instruction) -> None:
    if not insn.is_valid_opcode:
        raise InvalidProgram(f"unknown opcode 0x{insn.code:02x}", insn.pc)
    name, rules = rules_for(insn)
    for field in FIELDS:
        allowed, value = rules[field], getattr(insn, field)
        if allowed is ANY or value in allowed:
            continue
        if allowed == ZERO:
            reason = f"reserved field {field} must be 0, got {value}"
        elif allowed is REG:
            reason = f"{field} register r{value} does not exist"
        else:
            reason = f"field {field} must be one of {', '.join(map(str, sorted(allowed)))}, got {value}"
        raise InvalidProgram(f"{name}: {reason}", insn.pc)
    if insn.is_ld_imm64 and insn.ext != b"\0\0\0\0":
        raise InvalidProgram("lddw: the second slot's code, registers and offset must be 0", insn.pc)


# -- control flow ----------------------------------------------------------------------


def _subprogram_starts(insns: Sequence[Instruction], starts_at: set[int]) -> list[int]:
    entries = {0}
    for insn in insns:
        if insn.is_local_call:
            if insn.target not in starts_at:
                raise InvalidProgram(f"local call to slot {insn.target}, which starts no instruction", insn.pc)
            entries.add(insn.target)
    return sorted(entries)


def check_control_flow(insns: Sequence[Instruction]) -> list[tuple[int, int]]:
    """Check jumps and subprogram ends; returns the subprograms as (first, end) slots."""
    starts_at = {insn.pc for insn in insns}
    end = insns[-1].pc + insns[-1].slots
    entries = _subprogram_starts(insns, starts_at)
    bounds = list(zip(entries, entries[1:] + [end]))
    index = 0  # insns are in slot order: walk them once, subprogram by subprogram
    for first, stop in bounds:
        last = None
        while index < len(insns) and insns[index].pc < stop:
            insn = last = insns[index]
            index += 1
            if not insn.is_branch:
                continue
            if not first <= insn.target < stop:
                raise InvalidProgram(
                    f"jump to slot {insn.target} leaves its (sub)program (slots {first}-{stop - 1})", insn.pc
                )
            if insn.target not in starts_at:
                raise InvalidProgram(f"jump to slot {insn.target}, the middle of ld_imm64", insn.pc)
        if not (last.is_exit or (last.is_branch and last.op == JmpOp.JA)):
            raise InvalidProgram("the last instruction of a (sub)program must be exit or ja", last.pc)
    return bounds


# -- register initialisation ------------------------------------------------------------


def register_effects(insn: Instruction) -> tuple[set[int], set[int], frozenset[int]]:
    """(registers read, registers written, registers left uninitialised)."""
    cls, op = insn.cls, insn.op
    if insn.is_alu:
        # a byte swap's source bit is its byte order, not a register (kernel: check_alu_op BPF_END)
        reads = {insn.src} if insn.uses_reg_src and insn.alu not in BYTE_SWAPS else set()
        if op != AluOp.MOV:
            reads.add(insn.dst)
        return reads, {insn.dst}, frozenset()
    if insn.is_jmp:
        if op == JmpOp.EXIT:
            return {0}, set(), frozenset()
        if op == JmpOp.CALL:
            return ({insn.dst} if insn.uses_reg_src else set()), {0}, CALLER_SAVED
        if op in (JmpOp.JA, JmpOp.JCOND):
            return set(), set(), frozenset()
        return ({insn.dst, insn.src} if insn.uses_reg_src else {insn.dst}), set(), frozenset()
    if cls == Cls.LD:
        if insn.is_ld_imm64:
            return set(), {insn.dst}, frozenset()
        reads = {6, insn.src} if insn.mode == Mode.IND else {6}  # skb pointer in r6
        return reads, {0}, CALLER_SAVED
    if cls == Cls.LDX:
        return {insn.src}, {insn.dst}, frozenset()
    if cls == Cls.ST:
        return {insn.dst}, set(), frozenset()
    if insn.mode != Mode.ATOMIC:
        return {insn.dst, insn.src}, set(), frozenset()
    if insn.imm == AtomicOp.CMPXCHG:
        return {insn.dst, insn.src, 0}, {0}, frozenset()
    return {insn.dst, insn.src}, ({insn.src} if insn.imm & AtomicOp.FETCH else set()), frozenset()


def forward_must(insns: Sequence[Instruction], starts: dict[int, frozenset[int]],
                 transfer: Callable[[Instruction, frozenset[int]], frozenset[int]]) -> dict[int, frozenset[int]]:
    """A forward must-analysis over sets of registers: pc -> the registers a property holds
    for on every path to pc from `starts` (pc -> the set there), `transfer(insn, before)`
    giving the set after an instruction (it may raise); where paths meet, the sets intersect.
    Instructions no path reaches are left out."""
    by_pc = {insn.pc: insn for insn in insns}
    state = dict(starts)
    work = list(starts)
    while work:
        pc = work.pop()
        insn = by_pc[pc]
        out = transfer(insn, state[pc])
        for succ in insn.successors:
            if succ not in by_pc:
                continue  # calls fall through past the end only in broken programs
            merged = state[succ] & out if succ in state else out
            if merged != state.get(succ):
                state[succ] = merged
                work.append(succ)
    return state


def check_initialised(insns: Sequence[Instruction], bounds, entry_regs: Iterable[int]) -> None:
    """Forward must-be-written analysis; subprograms start with r1-r5 and r10 set."""

    def written(insn: Instruction, live: frozenset[int]) -> frozenset[int]:
        reads, writes, kills = register_effects(insn)
        unset = sorted(reads - live)
        if unset:
            raise InvalidProgram(f"r{unset[0]} is read before it is written (kernel: R{unset[0]} !read_ok)", insn.pc)
        if FRAME_POINTER in writes:
            raise InvalidProgram("r10 is the read-only frame pointer", insn.pc)
        return (live - kills) | writes

    starts = {first: frozenset(entry_regs) if first == 0 else ARG_REGS | {FRAME_POINTER} for first, _ in bounds}
    forward_must(insns, starts, written)


def validate(insns: Sequence[Instruction], *, entry_regs: Iterable[int] = XDP_ENTRY_REGS) -> None:
    """Raise `InvalidProgram` for the first broken rule (see the module doc).

    `pc` of each instruction must be its slot index, as `decode` and `assemble` set it.
    """
    if not insns:
        raise InvalidProgram("the program has no instructions")
    for insn in insns:
        check_fields(insn)
    bounds = check_control_flow(insns)
    check_initialised(insns, bounds, entry_regs)


RUNNABLE = "_xdptool_runnable"  # set in a Program's __dict__ once it passed check_runnable


def check_runnable(program) -> None:
    """Raise `InvalidProgram` naming the program unless every instruction has a known
    opcode, fields in range (registers r0-r10, a defined mode) and jumps that land on an
    instruction of its subprogram.  The engines call this before compiling; the result
    is remembered on the Program, so an object is checked once however many engines run it."""
    if program.__dict__.get(RUNNABLE):
        return
    try:
        if not program.insns:
            raise InvalidProgram("the program has no instructions")
        for insn in program.insns:
            check_fields(insn)
        check_control_flow(program.insns)
    except InvalidProgram as exc:
        raise InvalidProgram(f"{program.name}: {exc}") from None
    program.__dict__[RUNNABLE] = True
