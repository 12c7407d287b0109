"""The llvm-objdump syntax: `r0 += r1`, `if w1 s> 2 goto +1`, `*(u64 *)(r10 - 8) = r1`.

One anchored regular expression per syntactic form (`FORMS`), each with a
builder; operator spellings come from the tables in `opcodes` so printer and
reader cannot drift.  Forms cover everything llvm-objdump 14 prints plus the
spellings of newer LLVM releases that `disasm.format_insn` uses for ISA v4
(`s/=`, `(s8)r2`, `bswap16`, `*(s8 *)`, `gotol`, ST immediates, 32-bit fetch
atomics, `may_goto +N`).  A line reaches here without its slot number, raw bytes, comment and
`<label>` annotation.

Calls: `call N` with N >= 0 is a helper call; a negative N is a local
(pc-relative, src=1) call — llvm-objdump prints both as `call N`, and helper
ids are never negative; `call LABEL` is a local call to a label; `callx rN`
is the register call with N in imm, as LLVM 14 encodes and prints it
(bpf_conformance's `call %rN` puts N in dst instead; the kernel knows neither).  A local call
with a positive offset has no llvm-objdump spelling that tells it from a
helper call: write it `call LABEL` (or in conformance syntax `call local +N`).
"""

from __future__ import annotations

import re
from typing import Callable

from ..errors import AsmError
from .insn import Instruction, ld_imm64
from .opcodes import (
    ALU_ENCODING,
    ALU_SYMBOL,
    JMP_COND_SYMBOL,
    MAY_GOTO,
    SIZE_BY_BYTES,
    AluOp,
    AtomicOp,
    CallSrc,
    Cls,
    JmpOp,
    Mode,
    Size,
    Src,
)
from .asm_operands import NUMBER, IDENT, Parsed, imm64, is_number, number, register_number, set_jump

# -- lexical pieces -------------------------------------------------------------


def _reg(name: str) -> str:
    return rf"(?P<{name}>[rw]\d+)"


def _num(name: str) -> str:
    return rf"(?P<{name}>{NUMBER})"


def _alt(*options: str) -> str:
    """A regex alternation of literal spellings, longest first so `s>=` wins over `s>`."""
    return "|".join(re.escape(o) for o in sorted(options, key=len, reverse=True))


ADDR = rf"r(?P<base>\d+)\s*(?P<sign>[+-])\s*(?P<disp>{NUMBER})"
MEM = rf"\({ADDR}\)"
PTR = r"\*\((?P<sign_ext>[us])(?P<bits>8|16|32|64) \*\)"
TARGET = rf"(?P<target>[+-]?\d+|{IDENT})"

_ALU_BY_SYMBOL: dict[str, tuple[int, int]] = {sym: ALU_ENCODING[variant] for variant, sym in ALU_SYMBOL.items()}
_JMP_BY_SYMBOL = {sym: op for op, sym in JMP_COND_SYMBOL.items()}
_ATOMIC_RMW = {"+=": AtomicOp.ADD, "|=": AtomicOp.OR, "&=": AtomicOp.AND, "^=": AtomicOp.XOR}
_ATOMIC_FETCH = {"add": AtomicOp.FETCH_ADD, "or": AtomicOp.FETCH_OR, "and": AtomicOp.FETCH_AND, "xor": AtomicOp.FETCH_XOR}
_XCHG_WIDTH = {"_64": "64", "32_32": "32"}
_ENDIAN = {
    "le": Cls.ALU | AluOp.END | Src.K,
    "be": Cls.ALU | AluOp.END | Src.X,
    "bswap": Cls.ALU64 | AluOp.END | Src.K,
}


# -- operand helpers --------------------------------------------------------------


def _regno(text: str) -> int:
    return register_number(text, text[1:])


def _wide(text: str) -> bool:
    """r-registers name the 64-bit class, w-registers the 32-bit one."""
    return text[0] == "r"


def _same_width(*regs: str) -> None:
    if len({r[0] for r in regs}) > 1:
        raise AsmError(f"register widths differ: {', '.join(regs)}")


def _mem(g: dict) -> tuple[int, int]:
    base = register_number(f"r{g['base']}", g["base"])
    return base, number(f"{g['sign']}{g['disp']}", 16, what="offset")


def _size(bits: str) -> int:
    return SIZE_BY_BYTES[int(bits) // 8]


def _reg_or_imm(insn: Instruction, g: dict) -> None:
    if g.get("src"):
        insn.code |= Src.X
        insn.src = _regno(g["src"])
    else:
        insn.imm = number(g["imm"], 32)


# -- builders: groupdict -> Parsed ----------------------------------------------------


def _alu(g: dict) -> Parsed:
    op, off = _ALU_BY_SYMBOL[g["op"]]
    if g.get("src"):
        _same_width(g["dst"], g["src"])
    insn = Instruction(code=(Cls.ALU64 if _wide(g["dst"]) else Cls.ALU) | op, dst=_regno(g["dst"]), off=off)
    _reg_or_imm(insn, g)
    return Parsed(insn)


def _neg(g: dict) -> Parsed:
    if g["dst"] != g["src"]:
        raise AsmError(f"negation must name one register twice, got {g['dst']} and {g['src']}")
    return Parsed(Instruction(code=(Cls.ALU64 if _wide(g["dst"]) else Cls.ALU) | AluOp.NEG, dst=_regno(g["dst"])))


def _movsx(g: dict) -> Parsed:
    _same_width(g["dst"], g["src"])
    cls = Cls.ALU64 if _wide(g["dst"]) else Cls.ALU
    code = cls | AluOp.MOV | Src.X
    return Parsed(Instruction(code=code, dst=_regno(g["dst"]), src=_regno(g["src"]), off=int(g["bits"])))


def _endian(g: dict) -> Parsed:
    if g["dst"] != g["src"]:
        raise AsmError(f"byte swap must name one register twice, got {g['dst']} and {g['src']}")
    return Parsed(Instruction(code=_ENDIAN[g["order"]], dst=_regno(g["dst"]), imm=int(g["bits"])))


def _lddw(g: dict) -> Parsed:
    return Parsed(ld_imm64(_regno(g["dst"]), imm64(g["imm"])))


def _ld_pseudo(g: dict) -> Parsed:
    pseudo = int(g["pseudo"])
    if pseudo > 15:
        raise AsmError(f"ld_pseudo source {pseudo} does not fit 4 bits")
    return Parsed(ld_imm64(_regno(g["dst"]), imm64(g["imm"]), pseudo))


def _ldx(g: dict) -> Parsed:
    mode = Mode.MEMSX if g["sign_ext"] == "s" else Mode.MEM
    if mode is Mode.MEMSX and g["bits"] == "64":
        raise AsmError("there is no sign-extending 64-bit load (*(s64 *))")
    src, off = _mem(g)
    return Parsed(Instruction(code=Cls.LDX | mode | _size(g["bits"]), dst=_regno(g["dst"]), src=src, off=off))


def _unsigned_ptr(g: dict) -> None:
    if g["sign_ext"] != "u":
        raise AsmError(f"stores take an unsigned pointer type, got s{g['bits']}")


def _st(g: dict) -> Parsed:
    _unsigned_ptr(g)
    dst, off = _mem(g)
    insn = Instruction(code=Cls.ST | Mode.MEM | _size(g["bits"]), dst=dst, off=off)
    if g.get("src"):
        insn.code = Cls.STX | Mode.MEM | _size(g["bits"])
        insn.src = _regno(g["src"])
    else:
        insn.imm = number(g["imm"], 32)
    return Parsed(insn)


def _ld_packet(g: dict) -> Parsed:
    if g["dst"] != "r0":
        raise AsmError(f"legacy packet loads always write r0, not {g['dst']}")
    if g["bits"] == "64":
        raise AsmError("legacy packet loads have no 64-bit form")
    insn = Instruction(code=Cls.LD | Mode.ABS | _size(g["bits"]))
    if is_number(g["where"]):
        insn.imm = number(g["where"], 32)
    else:
        insn.code = Cls.LD | Mode.IND | _size(g["bits"])
        insn.src = _regno(g["where"])
    return Parsed(insn)


def _atomic(g: dict, op: int) -> Parsed:
    bits = g["bits"]
    if bits not in ("32", "64"):
        raise AsmError(f"atomic operations are 32 or 64 bits wide, got {bits}")
    dst, off = _mem(g)
    code = Cls.STX | Mode.ATOMIC | (Size.DW if bits == "64" else Size.W)
    return Parsed(Instruction(code=code, dst=dst, src=_regno(g["src"]), off=off, imm=int(op)))


def _atomic_rmw(g: dict) -> Parsed:
    _unsigned_ptr(g)
    return _atomic(g, _ATOMIC_RMW[g["op"]])


def _fetch_result(g: dict) -> None:
    if g["result"][1:] != g["src"][1:]:
        raise AsmError(f"atomic fetch must return into its source register {g['src']}, not {g['result']}")


def _atomic_fetch(g: dict) -> Parsed:
    _fetch_result(g)
    return _atomic(g, _ATOMIC_FETCH[g["op"]])


def _xchg(g: dict) -> Parsed:
    _fetch_result(g)
    return _atomic({**g, "bits": _XCHG_WIDTH[g["width"]]}, AtomicOp.XCHG)


def _cmpxchg(g: dict) -> Parsed:
    for reg in (g["result"], g["expected"]):
        if reg[1:] != "0":
            raise AsmError(f"cmpxchg compares and returns r0, not {reg}")
    return _atomic({**g, "bits": _XCHG_WIDTH[g["width"]]}, AtomicOp.CMPXCHG)


def _jcond(g: dict) -> Parsed:
    if g.get("src"):
        _same_width(g["dst"], g["src"])
    cls = Cls.JMP if _wide(g["dst"]) else Cls.JMP32
    insn = Instruction(code=cls | _JMP_BY_SYMBOL[g["cond"]], dst=_regno(g["dst"]))
    _reg_or_imm(insn, g)
    return set_jump(Parsed(insn), g["target"], "off")


def _goto(g: dict) -> Parsed:
    if g["kind"] == "gotol":
        return set_jump(Parsed(Instruction(code=Cls.JMP32 | JmpOp.JA)), g["target"], "imm")
    return set_jump(Parsed(Instruction(code=Cls.JMP | JmpOp.JA)), g["target"], "off")


def _may_goto(g: dict) -> Parsed:
    return set_jump(Parsed(Instruction(code=MAY_GOTO)), g["target"], "off")


def _call(g: dict) -> Parsed:
    target = g["target"]
    insn = Instruction(code=Cls.JMP | JmpOp.CALL)
    if not is_number(target) or target.startswith("-"):
        insn.src = CallSrc.LOCAL
        return set_jump(Parsed(insn), target, "imm")
    insn.imm = number(target, 32)
    return Parsed(insn)


def _callx(g: dict) -> Parsed:
    return Parsed(Instruction(code=Cls.JMP | JmpOp.CALL | Src.X, imm=_regno(g["dst"])))


def _exit(g: dict) -> Parsed:
    return Parsed(Instruction(code=Cls.JMP | JmpOp.EXIT))


# -- the forms ------------------------------------------------------------------------

_SRC_OR_IMM = rf"(?:{_reg('src')}|{_num('imm')})"

FORMS: list[tuple[str, Callable[[dict], Parsed]]] = [
    (rf"{_reg('dst')} = {_num('imm')} ll", _lddw),
    (rf"ld_pseudo {_reg('dst')}, ?(?P<pseudo>\d+), ?{_num('imm')}", _ld_pseudo),
    (rf"{_reg('dst')} = -{_reg('src')}", _neg),
    (rf"{_reg('dst')} = \(s(?P<bits>8|16|32)\) ?{_reg('src')}", _movsx),
    (rf"{_reg('dst')} = (?P<order>le|be|bswap)(?P<bits>16|32|64) {_reg('src')}", _endian),
    (rf"{_reg('dst')} = {PTR} ?skb\[(?P<where>{NUMBER}|[rw]\d+)\]", _ld_packet),
    (rf"{_reg('dst')} = {PTR} ?{MEM}", _ldx),
    (rf"{PTR} ?{MEM} = {_SRC_OR_IMM}", _st),
    (rf"lock {PTR} ?{MEM} (?P<op>{_alt(*_ATOMIC_RMW)}) {_reg('src')}", _atomic_rmw),
    (
        rf"{_reg('result')} = atomic_fetch_(?P<op>add|or|and|xor)\(\(u(?P<bits>\d+) \*\) ?{MEM}, {_reg('src')}\)",
        _atomic_fetch,
    ),
    (rf"{_reg('result')} = xchg(?P<width>_64|32_32)\({ADDR}, {_reg('src')}\)", _xchg),
    (
        rf"{_reg('result')} = cmpxchg(?P<width>_64|32_32)\({ADDR}, {_reg('expected')}, {_reg('src')}\)",
        _cmpxchg,
    ),
    (rf"{_reg('dst')} (?P<op>{_alt(*_ALU_BY_SYMBOL)}) {_SRC_OR_IMM}", _alu),
    (rf"if {_reg('dst')} (?P<cond>{_alt(*_JMP_BY_SYMBOL)}) {_SRC_OR_IMM} goto {TARGET}", _jcond),
    (rf"(?P<kind>goto|gotol) {TARGET}", _goto),
    (rf"may_goto {TARGET}", _may_goto),
    (rf"call {TARGET}", _call),
    (rf"callx {_reg('dst')}", _callx),
    (r"exit", _exit),
]

_COMPILED = [(re.compile(pattern), build) for pattern, build in FORMS]


def parse(line: str) -> Parsed | None:
    """One instruction in llvm syntax, or None when no form matches the line."""
    text = " ".join(line.split())
    for pattern, build in _COMPILED:
        match = pattern.fullmatch(text)
        if match:
            return build(match.groupdict())
    return None
