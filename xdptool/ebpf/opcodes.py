"""The eBPF opcode space as data (ISA v4, RFC 9669).

An opcode byte splits into class (low 3 bits) and, per class family, either
operation + source (ALU/JMP) or mode + size (loads/stores).  ISA v4 overloads
the `off` field for a few variants (sdiv/smod, movsx, gotol, sign-extending loads);
`Op` folds those into one semantic value so engines dispatch on a single key
instead of re-deriving the variant (the cilium/ebpf `asm` idea).
"""

from __future__ import annotations

import enum


class Cls(enum.IntEnum):
    LD = 0x00
    LDX = 0x01
    ST = 0x02
    STX = 0x03
    ALU = 0x04
    JMP = 0x05
    JMP32 = 0x06
    ALU64 = 0x07


class Src(enum.IntEnum):
    K = 0x00  # immediate operand
    X = 0x08  # register operand


class Size(enum.IntEnum):
    W = 0x00
    H = 0x08
    B = 0x10
    DW = 0x18

    @property
    def nbytes(self) -> int:
        return SIZE_BYTES[self]


SIZE_BYTES = {Size.W: 4, Size.H: 2, Size.B: 1, Size.DW: 8}
SIZE_BY_BYTES = {v: k for k, v in SIZE_BYTES.items()}


class Mode(enum.IntEnum):
    IMM = 0x00
    ABS = 0x20
    IND = 0x40
    MEM = 0x60
    MEMSX = 0x80
    ATOMIC = 0xC0


class AluOp(enum.IntEnum):
    ADD = 0x00
    SUB = 0x10
    MUL = 0x20
    DIV = 0x30
    OR = 0x40
    AND = 0x50
    LSH = 0x60
    RSH = 0x70
    NEG = 0x80
    MOD = 0x90
    XOR = 0xA0
    MOV = 0xB0
    ARSH = 0xC0
    END = 0xD0


class JmpOp(enum.IntEnum):
    JA = 0x00
    JEQ = 0x10
    JGT = 0x20
    JGE = 0x30
    JSET = 0x40
    JNE = 0x50
    JSGT = 0x60
    JSGE = 0x70
    CALL = 0x80
    EXIT = 0x90
    JLT = 0xA0
    JLE = 0xB0
    JSLT = 0xC0
    JSLE = 0xD0
    JCOND = 0xE0  # BPF_JCOND: a pseudo-jump whose `src` says what decides it (JcondSrc)


class AtomicOp(enum.IntEnum):
    """The `imm` field of an atomic instruction."""

    ADD = 0x00
    OR = 0x40
    AND = 0x50
    XOR = 0xA0
    FETCH = 0x01
    FETCH_ADD = 0x01
    FETCH_OR = 0x41
    FETCH_AND = 0x51
    FETCH_XOR = 0xA1
    XCHG = 0xE1
    CMPXCHG = 0xF1


ATOMIC_OPS = {0x00, 0x40, 0x50, 0xA0, 0x01, 0x41, 0x51, 0xA1, 0xE1, 0xF1}


class PseudoSrc(enum.IntEnum):
    """`src` of ld_imm64: what the 64-bit immediate refers to (uapi bpf.h)."""

    IMM = 0
    MAP_FD = 1
    MAP_VALUE = 2
    BTF_ID = 3
    FUNC = 4
    MAP_IDX = 5
    MAP_IDX_VALUE = 6


class JcondSrc(enum.IntEnum):
    """`src` of a BPF_JCOND jump (uapi bpf.h enum bpf_cond_pseudo_jmp)."""

    MAY_GOTO = 0  # may_goto: taken once the frame's hidden loop budget is spent (semantics.MayGoto)


class CallSrc(enum.IntEnum):
    """`src` of a call instruction."""

    HELPER = 0
    LOCAL = 1  # BPF_PSEUDO_CALL: imm is a pc-relative instruction offset
    KFUNC = 2  # BPF_PSEUDO_KFUNC_CALL: imm is a BTF id


def opclass(code: int) -> Cls:
    return Cls(code & 0x07)


def is_alu(code: int) -> bool:
    return code & 0x07 in (Cls.ALU, Cls.ALU64)


def is_jmp(code: int) -> bool:
    return code & 0x07 in (Cls.JMP, Cls.JMP32)


def is_mem(code: int) -> bool:
    return code & 0x07 in (Cls.LD, Cls.LDX, Cls.ST, Cls.STX)


LD_IMM64 = Cls.LD | Mode.IMM | Size.DW  # 0x18: the only 16-byte instruction
# 0xe5, `may_goto +off` (clang's cond_break and can_loop, Linux 6.9+): JMP class, immediate
# form, src 0, dst and imm 0; the only JCOND encoding defined.
MAY_GOTO = Cls.JMP | JmpOp.JCOND | Src.K

class Alu(enum.Enum):
    """An ALU operation with the ISA v4 variant its `off` field (or class and source, for
    byte swaps) selects folded in: what engines, printers and checkers dispatch on."""

    ADD = "add"
    SUB = "sub"
    MUL = "mul"
    DIV = "div"
    SDIV = "sdiv"
    OR = "or"
    AND = "and"
    LSH = "lsh"
    RSH = "rsh"
    NEG = "neg"
    MOD = "mod"
    SMOD = "smod"
    XOR = "xor"
    MOV = "mov"
    MOVSX8 = "movsx8"
    MOVSX16 = "movsx16"
    MOVSX32 = "movsx32"
    ARSH = "arsh"
    TO_LE = "le"
    TO_BE = "be"
    BSWAP = "bswap"


# (opcode bits 0xf0, off) -> the variant, for ALU and ALU64 with either source; the
# exceptions by class and source are in _alu_variants below.
_ALU_BY_OP_OFF = {
    (AluOp.ADD, 0): Alu.ADD, (AluOp.SUB, 0): Alu.SUB, (AluOp.MUL, 0): Alu.MUL,
    (AluOp.DIV, 0): Alu.DIV, (AluOp.DIV, 1): Alu.SDIV, (AluOp.MOD, 0): Alu.MOD, (AluOp.MOD, 1): Alu.SMOD,
    (AluOp.OR, 0): Alu.OR, (AluOp.AND, 0): Alu.AND, (AluOp.XOR, 0): Alu.XOR,
    (AluOp.LSH, 0): Alu.LSH, (AluOp.RSH, 0): Alu.RSH, (AluOp.ARSH, 0): Alu.ARSH,
    (AluOp.MOV, 0): Alu.MOV, (AluOp.MOV, 8): Alu.MOVSX8, (AluOp.MOV, 16): Alu.MOVSX16, (AluOp.MOV, 32): Alu.MOVSX32,
}
ALU_ENCODING = {variant: op_off for op_off, variant in _ALU_BY_OP_OFF.items()}  # variant -> (op bits, off)
PLAIN_ALU = {int(op): variant for (op, off), variant in _ALU_BY_OP_OFF.items() if off == 0}  # op bits -> variant
MOVSX_BITS = {Alu.MOVSX8: 8, Alu.MOVSX16: 16, Alu.MOVSX32: 32}


def _alu_variants() -> dict[tuple[int, int], Alu]:
    """(opcode byte, off) -> variant, for every ALU/ALU64 encoding ISA v4 defines (RFC 9669 §4.1-4.2)."""
    table: dict[tuple[int, int], Alu] = {}
    for cls in (Cls.ALU, Cls.ALU64):
        for (op, off), variant in _ALU_BY_OP_OFF.items():
            for src in Src:
                if variant in MOVSX_BITS and (src is Src.K or (cls is Cls.ALU and variant is Alu.MOVSX32)):
                    continue  # movsx takes a register; the 32-bit form extends from 8 or 16 bits only
                table[(cls | op | src, off)] = variant
        table[(cls | AluOp.NEG | Src.K, 0)] = Alu.NEG
    table[(Cls.ALU | AluOp.END | Src.K, 0)] = Alu.TO_LE
    table[(Cls.ALU | AluOp.END | Src.X, 0)] = Alu.TO_BE
    table[(Cls.ALU64 | AluOp.END | Src.K, 0)] = Alu.BSWAP
    return table


ALU_VARIANTS = _alu_variants()
# opcode byte -> the `off` values it is defined with (0 for all but div/mod and mov)
ALU_OFFSETS: dict[int, frozenset[int]] = {
    code: frozenset(off for c, off in ALU_VARIANTS if c == code) for code, _ in ALU_VARIANTS}
BYTE_SWAPS = frozenset({Alu.TO_LE, Alu.TO_BE, Alu.BSWAP})

# Byte swap widths allowed in `imm` for the END op.
ENDIAN_WIDTHS = frozenset({16, 32, 64})

# Condition of each conditional jump: (mnemonic in llvm syntax, signed?)
JMP_COND_SYMBOL = {
    JmpOp.JEQ: "==",
    JmpOp.JGT: ">",
    JmpOp.JGE: ">=",
    JmpOp.JSET: "&",
    JmpOp.JNE: "!=",
    JmpOp.JSGT: "s>",
    JmpOp.JSGE: "s>=",
    JmpOp.JLT: "<",
    JmpOp.JLE: "<=",
    JmpOp.JSLT: "s<",
    JmpOp.JSLE: "s<=",
}

# How llvm-objdump (and the kernel's log) writes each two-operand variant: "dst SYMBOL src".
ALU_SYMBOL = {
    Alu.ADD: "+=",
    Alu.SUB: "-=",
    Alu.MUL: "*=",
    Alu.DIV: "/=",
    Alu.SDIV: "s/=",
    Alu.OR: "|=",
    Alu.AND: "&=",
    Alu.LSH: "<<=",
    Alu.RSH: ">>=",
    Alu.MOD: "%=",
    Alu.SMOD: "s%=",
    Alu.XOR: "^=",
    Alu.MOV: "=",
    Alu.ARSH: "s>>=",
}

# Names as the kernel's verifier log and the conformance suite spell them.
ALU_NAME = {
    AluOp.ADD: "add",
    AluOp.SUB: "sub",
    AluOp.MUL: "mul",
    AluOp.DIV: "div",
    AluOp.OR: "or",
    AluOp.AND: "and",
    AluOp.LSH: "lsh",
    AluOp.RSH: "rsh",
    AluOp.NEG: "neg",
    AluOp.MOD: "mod",
    AluOp.XOR: "xor",
    AluOp.MOV: "mov",
    AluOp.ARSH: "arsh",
    AluOp.END: "end",
}

JMP_NAME = {
    JmpOp.JA: "ja",
    JmpOp.JEQ: "jeq",
    JmpOp.JGT: "jgt",
    JmpOp.JGE: "jge",
    JmpOp.JSET: "jset",
    JmpOp.JNE: "jne",
    JmpOp.JSGT: "jsgt",
    JmpOp.JSGE: "jsge",
    JmpOp.CALL: "call",
    JmpOp.EXIT: "exit",
    JmpOp.JLT: "jlt",
    JmpOp.JLE: "jle",
    JmpOp.JSLT: "jslt",
    JmpOp.JSLE: "jsle",
    JmpOp.JCOND: "may_goto",
}

ATOMIC_NAME = {
    AtomicOp.ADD: "add",
    AtomicOp.OR: "or",
    AtomicOp.AND: "and",
    AtomicOp.XOR: "xor",
    AtomicOp.FETCH_ADD: "fetch_add",
    AtomicOp.FETCH_OR: "fetch_or",
    AtomicOp.FETCH_AND: "fetch_and",
    AtomicOp.FETCH_XOR: "fetch_xor",
    AtomicOp.XCHG: "xchg",
    AtomicOp.CMPXCHG: "cmpxchg",
}


def valid_opcodes() -> frozenset[int]:
    """Every opcode byte ISA v4 defines (the `off`/`imm` constraints are checked apart)."""
    codes: set[int] = {LD_IMM64}
    for cls in (Cls.ALU, Cls.ALU64):
        for op in AluOp:
            if op is AluOp.END:
                codes.add(cls | op | Src.K)
                if cls is Cls.ALU:
                    codes.add(cls | op | Src.X)  # to_be (ALU) ; ALU64|END|K is bswap
                continue
            if op is AluOp.NEG:
                codes.add(cls | op | Src.K)
                continue
            codes.update({cls | op | Src.K, cls | op | Src.X})
    for cls in (Cls.JMP, Cls.JMP32):
        for op in JmpOp:
            if op in (JmpOp.CALL, JmpOp.EXIT):
                if cls is Cls.JMP:
                    codes.add(cls | op | Src.K)
                continue
            if op is JmpOp.JA:
                codes.add(cls | op | Src.K)
                continue
            if op is JmpOp.JCOND:
                if cls is Cls.JMP:
                    codes.add(MAY_GOTO)
                continue
            codes.update({cls | op | Src.K, cls | op | Src.X})
    for size in Size:
        codes.add(Cls.LDX | Mode.MEM | size)
        codes.add(Cls.ST | Mode.MEM | size)
        codes.add(Cls.STX | Mode.MEM | size)
        if size is not Size.DW:
            codes.add(Cls.LDX | Mode.MEMSX | size)
            codes.add(Cls.LD | Mode.ABS | size)
            codes.add(Cls.LD | Mode.IND | size)
    for size in (Size.W, Size.DW):
        codes.add(Cls.STX | Mode.ATOMIC | size)
    return frozenset(codes)


VALID_OPCODES = valid_opcodes()
