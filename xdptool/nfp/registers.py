"""NFP operands: GPRs in banks A and B, transfer registers, LM, NN, immediates.

An instruction's sources come from *classes*: GPR bank A, GPR bank B, transfer
registers, local memory (LM, through one of 4 per-thread LM address pointers),
next-neighbour registers (NN) and immediates.  Two sources of one instruction
must come from different classes (drivers/net/ethernet/netronome/nfp/nfp_asm.c,
swreg_to_unrestricted(): `-EFAULT` when both operands have the same type).

Before register allocation an operand may be a `VReg` (a virtual 32-bit value);
`Phys` pins a value to one GPR (the firmware calling convention's A0/B0).
Text forms follow Netronome's assembler where it has one (`gprA_3`, `$xfer`,
`*l$index0[3]`, `n$3`, `--`); `gprAB_3` is ours for "written to both banks".

An operand field of an instruction word is *unrestricted* (10 bits) or
*restricted* (8 bits: shifts, ld_field, memory commands, bit branches); each
`OperandCode` below says, once, which operands its field can hold, up to which
number, and how they are encoded (nfp_asm.c swreg_to_unrestricted /
swreg_to_restricted):
  unrestricted: GPR n = n (the field, A or B, gives the bank); transfer 0x180|n;
    LM 0x200 | ptr bit0 << 5 | offset, post-inc/dec 0x210 | ptr bit0 << 5 | dec;
    NN 0x280|n; immediate 0x300|v; no destination 0x300.
  restricted: GPR n; transfer 0x80|n; LM 0x50 | ptr bit0 << 3 | offset;
    immediate 0x20 | v[4:0] | v[6:5] << 6 (+ bit 7 in the I8 field where the
    kind has one); no destination 0x20.
LM pointer bit 1 goes to the word's SRC/DST_LMEXTN bit.  A source of "--" is 0.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import ClassVar

from ..errors import AsmError
from .tokens import EncodeError

MASK32 = 0xFFFFFFFF



@dataclass(frozen=True)
class Gpr:
    """A context-relative general-purpose register; bank "A", "B" or "AB" (a destination in both)."""

    bank: str
    index: int

    @property
    def cls(self) -> str:
        return self.bank

    def __str__(self) -> str:
        return f"gpr{self.bank}_{self.index}"


@dataclass(frozen=True)
class VReg:
    """A virtual 32-bit register, before allocation; `hint` names its eBPF origin."""

    id: int
    hint: str = ""

    cls = "vreg"

    def __str__(self) -> str:
        return f"%{self.hint or 'v'}.{self.id}" if self.hint else f"%v{self.id}"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, VReg) and other.id == self.id

    def __hash__(self) -> int:  # equality ignores the hint
        return hash(self.id)


@dataclass(frozen=True)
class Xfer:
    """A transfer register: "in" receives memory reads, "out" feeds memory writes."""

    direction: str
    index: int

    @property
    def cls(self) -> str:
        return "xfer"

    def __str__(self) -> str:
        return f"${self.direction}_{self.index}"


@dataclass(frozen=True)
class Lm:
    """A local-memory word through LM address pointer `ptr` (0..3), `offset` words on
    (or post-increment/decrement with mode "++"/"--")."""

    ptr: int
    offset: int = 0
    mode: str = ""

    cls = "lm"

    def __str__(self) -> str:
        if self.mode:
            return f"*l$index{self.ptr}{self.mode}"
        return f"*l$index{self.ptr}[{self.offset}]"


@dataclass(frozen=True)
class Shift:
    """A shifter setting: kind is "<<", ">>", ">>rot" or ">>dbl" (64-bit funnel of A:B);
    amount None = indirect (the low 5 bits of the previous ALU result)."""

    kind: str
    amount: int | None

    def __str__(self) -> str:
        return f"{self.kind}{'indirect' if self.amount is None else self.amount}"


NO_SHIFT = Shift(">>rot", 0)


@dataclass(frozen=True)
class NN:
    index: int

    cls = "nn"

    def __str__(self) -> str:
        return f"n${self.index}"


@dataclass(frozen=True)
class Imm:
    value: int

    cls = "imm"

    def __str__(self) -> str:
        return hex(self.value) if self.value > 9 else str(self.value)


@dataclass(frozen=True)
class NoneOperand:
    cls = "none"

    def __str__(self) -> str:
        return "--"


NONE = NoneOperand()
Operand = Gpr | VReg | Xfer | Lm | NN | Imm | NoneOperand

_PATTERNS = [
    (re.compile(r"gpr(A|B|AB)_(\d+)$"), lambda m: Gpr(m[1], int(m[2]))),
    (re.compile(r"%v(\d+)$"), lambda m: VReg(int(m[1]))),
    (re.compile(r"%([\w]+)\.(\d+)$"), lambda m: VReg(int(m[2]), m[1])),
    (re.compile(r"\$(in|out)_(\d+)$"), lambda m: Xfer(m[1], int(m[2]))),
    (re.compile(r"\*l\$index([0-3])\[(\d+)\]$"), lambda m: Lm(int(m[1]), int(m[2]))),
    (re.compile(r"\*l\$index([0-3])(\+\+|--)$"), lambda m: Lm(int(m[1]), 0, m[2])),
    (re.compile(r"n\$(\d+)$"), lambda m: NN(int(m[1]))),
    (re.compile(r"(0x[0-9a-fA-F]+|\d+)$"), lambda m: Imm(int(m[1], 0))),
    (re.compile(r"--$"), lambda m: NONE),
]


def parse_operand(text: str, line: int | None = None) -> Operand:
    text = text.strip()
    for pattern, make in _PATTERNS:
        match = pattern.match(text)
        if match:
            return make(match)
    raise AsmError(f"bad operand {text!r}", line)


def is_reg(op: object) -> bool:
    """A GPR, physical or virtual: what liveness and allocation track."""
    return isinstance(op, (Gpr, VReg))


def register_key(reg) -> tuple:
    """A total order on registers: GPRs by bank and index, then virtual ones by id.  The
    allocator breaks ties with it, so its choices never depend on (per-process) hashing."""
    if isinstance(reg, Gpr):
        return (0, reg.bank, reg.index)
    if isinstance(reg, VReg):
        return (1, "", reg.id)
    return (2, str(reg), 0)


def lm_ext(op: Operand) -> int:
    """The LM pointer's bit 1, which travels in the word's LMEXTN bit (0 for other operands)."""
    return (op.ptr >> 1) & 1 if isinstance(op, Lm) else 0


def with_lm_ext(op: Operand, ext: int) -> Operand:
    return Lm(op.ptr | ext << 1, op.offset, op.mode) if isinstance(op, Lm) else op


@dataclass(frozen=True)
class OperandCode:
    """One kind of operand field: what it holds and up to which number.  `problem` is the rule
    the encoder, the executor and the lowering share; `encode`/`decode` assume it holds."""

    name: str
    gpr: int  # highest GPR number
    xfer: int  # highest transfer register
    nn: int | None  # highest NN register (None: not encodable)
    lm: int  # highest LM offset, in words
    lm_modify: bool  # LM post-increment/decrement encodable
    imm: int  # highest immediate
    restricted: ClassVar[bool] = False

    def problem(self, op: Operand, written: bool, regs_per_bank: int | None = None) -> str | None:
        """What makes `op` illegal in this field (as a destination when `written`), or None;
        `regs_per_bank`: the thread's share of a bank, when known."""
        if isinstance(op, Gpr):
            if op.bank == "AB" and not written:
                return f"{op} as a source"
            if regs_per_bank is not None and op.index >= regs_per_bank:
                return f"{op}: a thread has {regs_per_bank} registers per bank"
            if not 0 <= op.index <= self.gpr:
                return f"{op}: out of range ({self.name} operands reach GPR 0-{self.gpr})"
        elif isinstance(op, Imm):
            if not 0 <= op.value <= self.imm:
                return f"immediate {op.value:#x} out of range (exceeds {self.imm:#x})"
        elif isinstance(op, Lm):
            if op.mode and not self.lm_modify:
                return f"{op}: post-modify in a {self.name} operand"
            if not 0 <= op.offset <= self.lm:
                return f"{op}: out of range (LM offset beyond {self.lm} words)"
        elif isinstance(op, NN):
            if self.nn is None:
                return f"{op}: NN registers in a {self.name} operand"
            if not 0 <= op.index <= self.nn:
                return f"{op}: out of range (NN 0-{self.nn})"
        elif isinstance(op, Xfer):
            wanted = "out" if written else "in"
            if op.direction != wanted:
                return f"{op}: a {op.direction} transfer register used as {'destination' if written else 'source'}"
            if not 0 <= op.index <= self.xfer:
                return f"{op}: out of range (transfer registers 0-{self.xfer})"
        elif isinstance(op, VReg):
            return f"virtual register {op} left after allocation (not a physical operand)"
        return None

    def encode(self, op: Operand, written: bool) -> tuple[int, int]:
        """(field bits, I8 bit)"""
        raise NotImplementedError

    def decode(self, bits: int, bank: str, i8: int = 0, written: bool = False) -> Operand:
        raise NotImplementedError

    def holds_imm(self, bits: int) -> bool:
        raise NotImplementedError


class Unrestricted(OperandCode):
    IMM, XFER, LM, NN = 0x300, 0x180, 0x200, 0x280


    def encode(self, op: Operand, written: bool) -> tuple[int, int]:
        if isinstance(op, Gpr):
            return op.index, 0
        if isinstance(op, Xfer):
            return self.XFER | op.index, 0
        if isinstance(op, NN):
            return self.NN | op.index, 0
        if isinstance(op, Lm):
            if op.mode:
                return self.LM | 0x10 | (op.ptr & 1) << 5 | (op.mode == "--"), 0
            return self.LM | (op.ptr & 1) << 5 | op.offset, 0
        if isinstance(op, Imm):
            return self.IMM | op.value, 0
        if op is NONE:
            return (self.IMM if written else 0), 0
        raise EncodeError(f"{op}: not a physical operand (allocate registers first)")

    def decode(self, bits: int, bank: str, i8: int = 0, written: bool = False) -> Operand:
        if bits < 0x100:
            return Gpr(bank, bits)
        if bits & 0x300 == self.IMM:
            return NONE if written else Imm(bits & 0xFF)
        if bits & 0x200:
            if bits & 0x380 == self.NN:
                return NN(bits & 0x7F)
            ptr = (bits >> 5) & 1
            if bits & 0x10:
                return Lm(ptr, 0, "--" if bits & 1 else "++")
            return Lm(ptr, bits & 0xF)
        if bits & 0x380 == self.XFER:
            return Xfer("out" if written else "in", bits & 0x7F)
        raise EncodeError(f"unknown unrestricted operand {bits:#x}")

    def holds_imm(self, bits: int) -> bool:
        return bits & 0x300 == self.IMM


class Restricted(OperandCode):
    IMM, XFER, LM = 0x20, 0x80, 0x50
    restricted: ClassVar[bool] = True

    def encode(self, op: Operand, written: bool) -> tuple[int, int]:
        if isinstance(op, Gpr):
            return op.index, 0
        if isinstance(op, Xfer):
            return self.XFER | op.index, 0
        if isinstance(op, Lm):
            return self.LM | (op.ptr & 1) << 3 | op.offset, 0
        if isinstance(op, Imm):
            v = op.value
            return self.IMM | (v & 0x1F) | ((v & 0x60) << 1), v >> 7
        if op is NONE:
            return (self.IMM if written else 0), 0
        raise EncodeError(f"{op}: not allowed in a restricted operand")

    def decode(self, bits: int, bank: str, i8: int = 0, written: bool = False) -> Operand:
        if bits & self.IMM:
            return NONE if written else Imm((bits & 0x1F) | ((bits >> 1) & 0x60) | (i8 << 7))
        if bits & self.XFER:
            return Xfer("out" if written else "in", bits & 0x1F)
        if bits & 0xF0 == self.LM:
            return Lm((bits >> 3) & 1, bits & 7)
        if bits < 0x20:
            return Gpr(bank, bits)
        raise EncodeError(f"unknown restricted operand {bits:#x}")

    def holds_imm(self, bits: int) -> bool:
        return bool(bits & self.IMM)


# nfp_asm.h: UR_REG_IMM_MAX 0xff, RE_REG_IMM_MAX 0x7f (+1 bit, I8, on shifts and ld_field), RE_REG_LM_IDX_MAX 7
UNRESTRICTED = Unrestricted("unrestricted", gpr=0x7F, xfer=0x7F, nn=0x7F, lm=15, lm_modify=True, imm=0xFF)
RESTRICTED = Restricted("restricted", gpr=31, xfer=31, nn=None, lm=7, lm_modify=False, imm=0x7F)
RESTRICTED_I8 = Restricted("restricted", gpr=31, xfer=31, nn=None, lm=7, lm_modify=False, imm=0xFF)
