"""The bpf_conformance / uBPF assembly syntax: `mnemonic operand, operand`.

    mov32 %r0, 0          ldxw %r0, [%r1+4]       jne %r1, 3, fail
    stw [%r1+2], 0x1234   lock fetch add [%r10-8], %r1     call local func1

Every mnemonic is a row of `MNEMONICS`: the opcode (and fixed `off`/`imm`)
plus the operand slots it takes; one generic filler applies the slots, so a
new mnemonic is a table entry.  Grammar facts follow bpf_conformance's
assembler (github.com/Alan-Jowett/bpf_conformance, src/bpf_assembler.cc):
`xxx32` is the 32-bit ALU/JMP class, `sdiv`/`smod` set off=1, `movsxNNMM`
sign-extends NN bits for the MM-bit class, `call N` is a helper, `call %rN`
is callx (dst=N), `call local L` a pc-relative local call.  Register names
stop at %r10 (the reference assembler also takes %r11-%r15 for its negative
tests; here they are an error at assembly time).
"""

from __future__ import annotations

import re

from ..errors import AsmError
from .insn import Instruction, ld_imm64
from .opcodes import (
    ALU_NAME,
    ATOMIC_NAME,
    JMP_NAME,
    MAY_GOTO,
    AluOp,
    AtomicOp,
    CallSrc,
    Cls,
    JmpOp,
    Mode,
    Size,
    Src,
)
from .asm_operands import Parsed, imm64, number, register_number, set_jump

# -- operand slots ------------------------------------------------------------
# Each slot names how one operand is read and where it goes.
DST, SRC, SRC_OR_IMM, IMM, IMM64 = "dst", "src", "src|imm", "imm", "imm64"
MEM_DST, MEM_SRC = "[dst+off]", "[src+off]"
TARGET_OFF, TARGET_IMM = "target:off", "target:imm"

_REG_RE = re.compile(r"^%r(\d+)$")
_MEM_RE = re.compile(r"^\[(?P<reg>%r\d+)(?:(?P<sign>[+-])(?P<disp>0[xX][0-9a-fA-F]+|\d+))?\]$")

_SIZE_SUFFIX = {"b": Size.B, "h": Size.H, "w": Size.W, "dw": Size.DW}
_ENDIAN = {"le": Cls.ALU | AluOp.END | Src.K, "be": Cls.ALU | AluOp.END | Src.X}
_BSWAP = Cls.ALU64 | AluOp.END | Src.K


def _register(text: str) -> int:
    match = _REG_RE.match(text)
    if not match:
        raise AsmError(f"invalid register {text}")
    return register_number(text, match.group(1))


def _memory(text: str) -> tuple[int, int]:
    match = _MEM_RE.match(text)
    if not match:
        raise AsmError(f"expected a memory operand [%rN+offset], got '{text}'")
    disp = match.group("disp")
    sign = "-" if match.group("sign") == "-" else ""
    off = number(sign + disp, 16, what="offset") if disp else 0
    return _register(match.group("reg")), off


def _fill(parsed: Parsed, slot: str, text: str) -> None:
    insn = parsed.insn
    if slot == DST:
        insn.dst = _register(text)
    elif slot == SRC:
        insn.src = _register(text)
    elif slot == SRC_OR_IMM:
        if text.startswith("%"):
            insn.code |= Src.X
            insn.src = _register(text)
        else:
            insn.imm = number(text, 32)
    elif slot == IMM:
        insn.imm = number(text, 32)
    elif slot == IMM64:
        value = imm64(text)
        parsed.insn = ld_imm64(insn.dst, value)
    elif slot == MEM_DST:
        insn.dst, insn.off = _memory(text)
    elif slot == MEM_SRC:
        insn.src, insn.off = _memory(text)
    else:  # TARGET_OFF / TARGET_IMM
        set_jump(parsed, text, slot.split(":")[1])


# -- the mnemonic table -------------------------------------------------------
# name -> (opcode, fixed fields, operand slots)
Row = tuple[int, dict, tuple[str, ...]]


def _alu_rows() -> dict[str, Row]:
    rows: dict[str, Row] = {}
    widths = {"": Cls.ALU64, "64": Cls.ALU64, "32": Cls.ALU}
    for op, name in ALU_NAME.items():
        if op is AluOp.END:
            continue
        for suffix, cls in widths.items():
            slots = (DST,) if op is AluOp.NEG else (DST, SRC_OR_IMM)
            rows[name + suffix] = (cls | op, {}, slots)
            if op in (AluOp.DIV, AluOp.MOD):
                rows["s" + name + suffix] = (cls | op, {"off": 1}, slots)
    for bits in (8, 16, 32):
        for suffix, cls in (("64", Cls.ALU64), ("32", Cls.ALU)):
            rows[f"movsx{bits}{suffix}"] = (cls | AluOp.MOV | Src.X, {"off": bits}, (DST, SRC))
    for bits in (16, 32, 64):
        for order, code in _ENDIAN.items():
            rows[f"{order}{bits}"] = (code, {"imm": bits}, (DST,))
        rows[f"swap{bits}"] = rows[f"bswap{bits}"] = (_BSWAP, {"imm": bits}, (DST,))
    return rows


def _jmp_rows() -> dict[str, Row]:
    rows: dict[str, Row] = {
        "ja": (Cls.JMP | JmpOp.JA, {}, (TARGET_OFF,)),
        "ja32": (Cls.JMP32 | JmpOp.JA, {}, (TARGET_IMM,)),
        "exit": (Cls.JMP | JmpOp.EXIT, {}, ()),
        "may_goto": (MAY_GOTO, {}, (TARGET_OFF,)),
    }
    for op, name in JMP_NAME.items():
        if op in (JmpOp.JA, JmpOp.CALL, JmpOp.EXIT, JmpOp.JCOND):
            continue
        rows[name] = (Cls.JMP | op, {}, (DST, SRC_OR_IMM, TARGET_OFF))
        rows[name + "32"] = (Cls.JMP32 | op, {}, (DST, SRC_OR_IMM, TARGET_OFF))
    return rows


def _mem_rows() -> dict[str, Row]:
    rows: dict[str, Row] = {"lddw": (Cls.LD | Mode.IMM | Size.DW, {}, (DST, IMM64))}
    for suffix, size in _SIZE_SUFFIX.items():
        rows["ldx" + suffix] = (Cls.LDX | Mode.MEM | size, {}, (DST, MEM_SRC))
        rows["st" + suffix] = (Cls.ST | Mode.MEM | size, {}, (MEM_DST, IMM))
        rows["stx" + suffix] = (Cls.STX | Mode.MEM | size, {}, (MEM_DST, SRC))
        if size is not Size.DW:
            rows["ldxs" + suffix] = (Cls.LDX | Mode.MEMSX | size, {}, (DST, MEM_SRC))
            # uBPF spelling of the legacy packet loads
            rows["ldabs" + suffix] = (Cls.LD | Mode.ABS | size, {}, (IMM,))
            rows["ldind" + suffix] = (Cls.LD | Mode.IND | size, {}, (SRC, IMM))
    return rows


MNEMONICS: dict[str, Row] = {**_alu_rows(), **_jmp_rows(), **_mem_rows()}

# `lock [fetch] OP[32] [%rD+off], %rS`: OP -> atomic imm; `fetch` adds the fetch bit.
ATOMIC_OPS = {name: op for op, name in ATOMIC_NAME.items()}
_FETCHABLE = {AtomicOp.ADD, AtomicOp.OR, AtomicOp.AND, AtomicOp.XOR}

# `call MODE TARGET`: the mode's `src`, and whether TARGET is a jump target.
CALL_MODES = {
    "helper": (CallSrc.HELPER, False),
    "local": (CallSrc.LOCAL, True),
    "runtime": (CallSrc.KFUNC, False),
    "kfunc": (CallSrc.KFUNC, False),
}

KEYWORDS = frozenset(MNEMONICS) | {"lock", "call"}


def _arity(name: str, operands: list[str], expected: int) -> None:
    if len(operands) != expected:
        raise AsmError(f"{name}: expected {expected} operand{'s' if expected != 1 else ''}, got {len(operands)}")


def _lock(operands: list[str]) -> Parsed:
    fetch = bool(operands) and operands[0] == "fetch"
    rest = operands[1:] if fetch else operands
    if len(rest) != 3:
        raise AsmError("invalid number of operands for lock: expected 'lock [fetch] OP [%rN+off], %rM'")
    name, mem, src = rest
    width = Size.W if name.endswith("32") else Size.DW
    op = ATOMIC_OPS.get(name[:-2] if name.endswith("32") else name)
    if op is None:
        raise AsmError(f"unknown atomic operation '{name}'")
    if fetch:
        if op not in _FETCHABLE:
            raise AsmError(f"'fetch' does not apply to atomic {name}")
        op |= AtomicOp.FETCH
    insn = Instruction(code=Cls.STX | Mode.ATOMIC | width, imm=int(op))
    insn.dst, insn.off = _memory(mem)
    insn.src = _register(src)
    return Parsed(insn)


def _call(operands: list[str]) -> Parsed:
    if len(operands) == 1:
        operands = ["helper", *operands]
    _arity("call", operands, 2)
    mode, target = operands
    if mode == "helper" and target.startswith("%"):  # callx: register in dst
        return Parsed(Instruction(code=Cls.JMP | JmpOp.CALL | Src.X, dst=_register(target)))
    if mode not in CALL_MODES:
        raise AsmError(f"invalid call mode '{mode}' (expected helper, local or runtime)")
    src, is_jump = CALL_MODES[mode]
    parsed = Parsed(Instruction(code=Cls.JMP | JmpOp.CALL, src=int(src)))
    if is_jump:
        return set_jump(parsed, target, "imm")
    parsed.insn.imm = number(target, 32)
    return parsed


def split_operands(rest: str) -> list[str]:
    """Operands separated by commas and/or blanks; blanks inside [...] dropped."""
    rest = re.sub(r"\[[^\]]*\]", lambda m: re.sub(r"\s+", "", m.group(0)), rest.strip())
    return [tok for tok in re.split(r"\s*,\s*|\s+", rest) if tok]


def parse(line: str) -> Parsed:
    """One instruction in conformance syntax (comments and labels already gone)."""
    mnemonic, _, rest = line.strip().partition(" ")
    mnemonic = mnemonic.lower()
    operands = split_operands(rest)
    if mnemonic == "lock":
        return _lock(operands)
    if mnemonic == "call":
        return _call(operands)
    row = MNEMONICS.get(mnemonic)
    if row is None:
        raise AsmError(f"unknown mnemonic '{mnemonic}'")
    code, fixed, slots = row
    _arity(mnemonic, operands, len(slots))
    parsed = Parsed(Instruction(code=code, **fixed))
    for slot, text in zip(slots, operands):
        _fill(parsed, slot, text)
    return parsed
