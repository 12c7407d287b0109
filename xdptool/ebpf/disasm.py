"""The llvm-objdump text form of eBPF.

`format_insn` prints one instruction exactly as `llvm-objdump -d` (LLVM 14) does
for the instructions clang emits.  Where LLVM 14 prints `<unknown>` or hides an
ISA v4 variant (mod, sdiv/smod shown as `/=`, movsx shown as `=`, bswap,
sign-extending loads, gotol, jset, ST with an immediate, 32-bit fetch atomics,
may_goto) it uses the syntax of newer LLVM releases instead, so every valid instruction
has a distinct readable form that the assembler reads back.
`disassemble` prints a whole object section by section, as llvm-objdump does.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Iterator

from .insn import Instruction, s64
from .opcodes import (
    ALU_SYMBOL,
    BYTE_SWAPS,
    ENDIAN_WIDTHS,
    JMP_COND_SYMBOL,
    LD_IMM64,
    MAY_GOTO,
    MOVSX_BITS,
    Alu,
    AtomicOp,
    Cls,
    JcondSrc,
    JmpOp,
    Mode,
    Size,
    VALID_OPCODES,
)

UNKNOWN = "<unknown>"

_SIZE_NAME = {Size.B: "8", Size.H: "16", Size.W: "32", Size.DW: "64"}

# Atomic read-modify-write without fetch: the compound-assignment symbol.
_ATOMIC_RMW = {AtomicOp.ADD: "+=", AtomicOp.OR: "|=", AtomicOp.AND: "&=", AtomicOp.XOR: "^="}
_ATOMIC_FETCH = {
    AtomicOp.FETCH_ADD: "atomic_fetch_add",
    AtomicOp.FETCH_OR: "atomic_fetch_or",
    AtomicOp.FETCH_AND: "atomic_fetch_and",
    AtomicOp.FETCH_XOR: "atomic_fetch_xor",
}


def _mem(base: int, off: int) -> str:
    sign = "-" if off < 0 else "+"
    return f"(r{base} {sign} {abs(off)})"


def _jump(off: int) -> str:
    return f"+{off}" if off >= 0 else str(off)


def _ptr(size: int, signed: bool = False) -> str:
    return f"*({'s' if signed else 'u'}{_SIZE_NAME[Size(size)]} *)"


def format_alu(insn: Instruction) -> str:
    """An ALU instruction as llvm-objdump and the kernel's verifier log both write it."""
    variant = insn.alu
    r = "r" if insn.cls == Cls.ALU64 else "w"
    dst = f"{r}{insn.dst}"
    if variant is Alu.NEG:
        return f"{dst} = -{dst}"
    if variant in BYTE_SWAPS:
        return f"r{insn.dst} = {variant.value}{insn.imm} r{insn.dst}"
    operand = f"{r}{insn.src}" if insn.uses_reg_src else str(insn.imm)
    if variant in MOVSX_BITS:
        return f"{dst} = (s{MOVSX_BITS[variant]}){operand}"
    return f"{dst} {ALU_SYMBOL[variant]} {operand}"


def _format_jmp(insn: Instruction) -> str:
    op = insn.op
    if op == JmpOp.EXIT:
        return "exit"
    if op == JmpOp.CALL:
        return f"call {insn.imm}"
    if op == JmpOp.JA:
        return f"gotol {_jump(insn.imm)}" if insn.cls == Cls.JMP32 else f"goto {_jump(insn.off)}"
    if op == JmpOp.JCOND:  # LLVM 19's BPFInstrInfo.td: JMP_JCOND<BPF_JCOND, "may_goto">, "$BrDst"
        return f"may_goto {_jump(insn.off)}"
    r = "w" if insn.cls == Cls.JMP32 else "r"
    operand = f"{r}{insn.src}" if insn.uses_reg_src else str(insn.imm)
    return f"if {r}{insn.dst} {JMP_COND_SYMBOL[JmpOp(op)]} {operand} goto {_jump(insn.off)}"


def _format_ld(insn: Instruction) -> str:
    if insn.code == LD_IMM64:
        if insn.src == 0:
            return f"r{insn.dst} = {s64(insn.imm64)} ll"
        return f"ld_pseudo\tr{insn.dst}, {insn.src}, {insn.imm & 0xFFFFFFFF}"
    ptr = _ptr(insn.code & 0x18)
    if insn.mode == Mode.ABS:
        return f"r0 = {ptr}skb[{insn.imm}]"
    return f"r0 = {ptr}skb[r{insn.src}]"


def _format_ldx(insn: Instruction) -> str:
    ptr = _ptr(insn.code & 0x18, signed=insn.mode == Mode.MEMSX)
    return f"r{insn.dst} = {ptr}{_mem(insn.src, insn.off)}"


def _format_st(insn: Instruction) -> str:
    return f"{_ptr(insn.code & 0x18)}{_mem(insn.dst, insn.off)} = {insn.imm}"


def _format_stx(insn: Instruction) -> str:
    size = insn.code & 0x18
    if insn.mode == Mode.MEM:
        return f"{_ptr(size)}{_mem(insn.dst, insn.off)} = r{insn.src}"
    wide = size == Size.DW
    r = "r" if wide else "w"
    op = insn.imm
    loc = _mem(insn.dst, insn.off)
    if op == AtomicOp.ADD:  # LLVM prints the 32-bit form with an r register too
        return f"lock {_ptr(size)}{loc} += r{insn.src}"
    if op in _ATOMIC_RMW:
        return f"lock {_ptr(size)}{loc} {_ATOMIC_RMW[AtomicOp(op)]} {r}{insn.src}"
    if op in _ATOMIC_FETCH:
        width = "u64" if wide else "u32"
        return f"{r}{insn.src} = {_ATOMIC_FETCH[AtomicOp(op)]}(({width} *){loc}, {r}{insn.src})"
    bits = "64" if wide else "32_32"
    inner = loc[1:-1]
    if op == AtomicOp.XCHG:
        return f"{r}{insn.src} = xchg{'_' if wide else ''}{bits}({inner}, {r}{insn.src})"
    return f"{r}0 = cmpxchg{'_' if wide else ''}{bits}({inner}, {r}0, {r}{insn.src})"


_FORMATTERS = {
    Cls.ALU: format_alu,
    Cls.ALU64: format_alu,
    Cls.JMP: _format_jmp,
    Cls.JMP32: _format_jmp,
    Cls.LD: _format_ld,
    Cls.LDX: _format_ldx,
    Cls.ST: _format_st,
    Cls.STX: _format_stx,
}


def is_printable(insn: Instruction) -> bool:
    """Whether the instruction is one ISA v4 defines (else it prints as <unknown>)."""
    if insn.code not in VALID_OPCODES:
        return False
    if insn.is_alu:
        variant = insn.alu
        if variant is None or (variant in BYTE_SWAPS and insn.imm not in ENDIAN_WIDTHS):
            return False
    if insn.is_atomic and insn.imm not in set(AtomicOp):
        return False
    if insn.code == MAY_GOTO and (insn.src, insn.dst, insn.imm) != (JcondSrc.MAY_GOTO, 0, 0):
        return False  # the one JCOND LLVM knows is src 0, no registers, no immediate
    return True


def format_insn(insn: Instruction) -> str:
    if not is_printable(insn):
        return UNKNOWN
    return _FORMATTERS[Cls(insn.cls)](insn)


def raw_bytes(insn: Instruction) -> str:
    return " ".join(f"{b:02x}" for b in insn.encode())


# -- whole objects ------------------------------------------------------------


@dataclass
class Line:
    """One line of disassembly: a symbol header, a source comment or an instruction."""

    kind: str  # "section", "symbol", "source", "insn"
    text: str
    insn: Instruction | None = None


def _label_for(symbols: list, target_byte: int) -> str | None:
    best = None
    for sym in symbols:
        if sym.value <= target_byte and (best is None or sym.value >= best.value):
            best = sym
    if best is None:
        return None
    delta = target_byte - best.value
    return best.name if delta == 0 else f"{best.name}+0x{delta:x}"


def _labelled_symbols(section) -> list:
    return [s for s in section.symbols if s.kind not in ("section", "file")]


def section_lines(section, *, raw: bool = False, source: bool = False) -> Iterator[Line]:
    """The lines llvm-objdump prints for one code section (`elf.model.CodeSection`)."""
    symbols = _labelled_symbols(section)
    by_address: dict[int, list] = {}
    for sym in symbols:
        by_address.setdefault(sym.value, []).append(sym)
    yield Line("section", f"Disassembly of section {section.name}:")
    headers = {address: [_symbol_header(address, sym.name) for sym in syms] for address, syms in by_address.items()}
    yield from _insn_lines(section.insns, headers, symbols, raw=raw, source=source)


def _symbol_header(address: int, name: str) -> str:
    return f"\n{address:016x} <{name}>:"


def _insn_lines(insns, headers: dict[int, list[str]], symbols: list = (), *, raw: bool, source: bool) -> Iterator[Line]:
    """Each instruction's line, after the symbol headers at its byte address and (with
    `source`) the C source line whenever it changes, as llvm-objdump -S prints them."""
    last_line = None
    for insn in insns:
        for text in headers.get(insn.pc * 8, ()):
            yield Line("symbol", text)
        if source and insn.line is not None and insn.line is not last_line:
            if last_line is None or (insn.line.file, insn.line.line) != (last_line.file, last_line.line):
                yield Line("source", f"; {insn.line.source.strip()}")
            last_line = insn.line
        yield Line("insn", format_line(insn, symbols, raw=raw), insn)


def format_line(insn: Instruction, symbols: list = (), *, raw: bool = False) -> str:
    text = format_insn(insn)
    if insn.is_branch and text != UNKNOWN and symbols:
        label = _label_for(symbols, insn.target * 8)
        if label is not None:
            text += f" <{label}>"
    prefix = f"{insn.pc:8d}:\t"
    if raw:
        prefix += raw_bytes(insn) + "\t"
    return prefix + text


def disassemble(obj, *, raw: bool = False, source: bool = False) -> str:
    """Text identical to `llvm-objdump -d [--no-show-raw-insn]` for the object's code."""
    out = [f"\n{obj.path}:\tfile format elf64-bpf\n"]
    for section in obj.code_sections:
        lines = list(section_lines(section, raw=raw, source=source))
        out.append("")
        out.extend(line.text for line in lines)
    return "\n".join(out) + "\n"


def program_lines(program, *, raw: bool = False, source: bool = False) -> Iterator[Line]:
    """The linked program (entry + subprograms), one header per subprogram."""
    headers = {sub.start * 8: [_symbol_header(sub.start * 8, sub.name)] for sub in program.subprograms}
    yield from _insn_lines(program.insns, headers, raw=raw, source=source)


def format_program(insns: Iterable[Instruction]) -> str:
    """Plain listing, one `pc: text` line per instruction (for messages and tests)."""
    return "\n".join(f"{i.pc}: {format_insn(i)}" for i in insns)
