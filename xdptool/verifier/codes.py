"""Opcode fields as plain ints, for the verifier's per-instruction code.

The enum members of ebpf.opcodes cost a class-attribute lookup at every use;
these are the same values, looked up once (`code & 0x07`, `code & 0xF0`, ...).
"""

from __future__ import annotations

from ..ebpf.opcodes import LD_IMM64 as _LD_IMM64_ENUM
from ..ebpf.opcodes import AluOp, Cls, JmpOp, Mode, Src

LD, LDX, ST, STX = int(Cls.LD), int(Cls.LDX), int(Cls.ST), int(Cls.STX)
ALU, ALU64, JMP, JMP32 = int(Cls.ALU), int(Cls.ALU64), int(Cls.JMP), int(Cls.JMP32)
ALU_CLASSES = frozenset({ALU, ALU64})
JMP_CLASSES = frozenset({JMP, JMP32})
X = int(Src.X)  # the source is a register
MOV = int(AluOp.MOV)
OP_JA, OP_CALL, OP_EXIT = int(JmpOp.JA), int(JmpOp.CALL), int(JmpOp.EXIT)
CALL, EXIT, GOTOL = JMP | OP_CALL, JMP | OP_EXIT, JMP32 | OP_JA  # whole codes
LD_IMM64 = int(_LD_IMM64_ENUM)
MODE_IND, MODE_ATOMIC = int(Mode.IND), int(Mode.ATOMIC)
ATOMIC_STX = STX | MODE_ATOMIC  # code & 0xE7 of every atomic instruction
