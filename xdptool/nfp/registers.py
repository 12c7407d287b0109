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
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import AsmError

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
