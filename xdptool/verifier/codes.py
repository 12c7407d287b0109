"""Opcode fields as plain ints, for the verifier's per-instruction code.

The enum members of ebpf.opcodes cost a class-attribute lookup at every use;
these are the same values, looked up once (`code & 0x07`, `code & 0xF0`, ...).
"""

from __future__ import annotations

from ..ebpf.opcodes import LD_IMM64 as _LD_IMM64_ENUM
from ..ebpf.opcodes import MAY_GOTO as _MAY_GOTO
from ..ebpf.opcodes import AluOp, Cls, JmpOp, Mode, Size, Src

LD, LDX, ST, STX = int(Cls.LD), int(Cls.LDX), int(Cls.ST), int(Cls.STX)
ALU, ALU64, JMP, JMP32 = int(Cls.ALU), int(Cls.ALU64), int(Cls.JMP), int(Cls.JMP32)
ALU_CLASSES = frozenset({ALU, ALU64})
JMP_CLASSES = frozenset({JMP, JMP32})
X = int(Src.X)  # the source is a register
OP_JA, OP_CALL, OP_EXIT = int(JmpOp.JA), int(JmpOp.CALL), int(JmpOp.EXIT)
OP_ADD, OP_SUB, OP_MUL, OP_DIV, OP_MOD = (int(AluOp.ADD), int(AluOp.SUB), int(AluOp.MUL), int(AluOp.DIV),
                                          int(AluOp.MOD))
OP_OR, OP_AND, OP_XOR, OP_LSH, OP_RSH, OP_ARSH = (int(AluOp.OR), int(AluOp.AND), int(AluOp.XOR), int(AluOp.LSH),
                                                  int(AluOp.RSH), int(AluOp.ARSH))
OP_NEG, OP_END, OP_MOV = int(AluOp.NEG), int(AluOp.END), int(AluOp.MOV)
OP_JEQ, OP_JNE, OP_JSET = int(JmpOp.JEQ), int(JmpOp.JNE), int(JmpOp.JSET)
OP_JGT, OP_JGE, OP_JLT, OP_JLE = int(JmpOp.JGT), int(JmpOp.JGE), int(JmpOp.JLT), int(JmpOp.JLE)
OP_JSGT, OP_JSGE, OP_JSLT, OP_JSLE = int(JmpOp.JSGT), int(JmpOp.JSGE), int(JmpOp.JSLT), int(JmpOp.JSLE)
CALL, EXIT, GOTOL = JMP | OP_CALL, JMP | OP_EXIT, JMP32 | OP_JA  # whole codes
LD_IMM64 = int(_LD_IMM64_ENUM)
MODE_IND, MODE_MEM, MODE_MEMSX, MODE_ATOMIC = int(Mode.IND), int(Mode.MEM), int(Mode.MEMSX), int(Mode.ATOMIC)
SIZE_DW = int(Size.DW)
ATOMIC_STX = STX | MODE_ATOMIC  # code & 0xE7 of every atomic instruction
# BPF_JCOND with src BPF_MAY_GOTO: `may_goto`, the instruction under cond_break and can_loop
# (Linux 6.9+); the kernel knows it only as JMP|JCOND|K.
OP_JCOND = int(JmpOp.JCOND)
MAY_GOTO = int(_MAY_GOTO)
