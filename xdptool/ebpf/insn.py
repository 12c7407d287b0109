"""`Instruction`: one logical eBPF instruction, with decode and encode.

A logical instruction is 8 bytes, except ld_imm64 which spans two slots (16
bytes); offsets in jumps count slots, so programs keep both views: the list index
and the slot (`pc`).  Decoding is lenient (any 8 bytes decode; the verifier
rejects what the kernel would), and encoding gives back the exact input bytes.
"""

from __future__ import annotations

import struct
from typing import Any, Iterable, Iterator

from ..errors import DecodeError
from .opcodes import (
    ALU_VARIANTS,
    LD_IMM64,
    MAY_GOTO,
    MOVSX_BITS,
    SIZE_BYTES,
    VALID_OPCODES,
    Alu,
    AluOp,
    Cls,
    JmpOp,
    Mode,
    Size,
    Src,
)

_SLOT = struct.Struct("<BBhi")
SLOT_SIZE = 8


def s32(v: int) -> int:
    v &= 0xFFFFFFFF
    return v - (1 << 32) if v & 0x80000000 else v


def s64(v: int) -> int:
    v &= 0xFFFFFFFFFFFFFFFF
    return v - (1 << 64) if v & (1 << 63) else v


class Instruction:
    """A decoded instruction; `pc` is its slot index within its program.  Compared by
    identity.  (A plain class with slots, not a dataclass: one compiles its methods at every start.)"""

    __slots__ = ("code", "dst", "src", "off", "imm", "imm_hi", "ext", "pc", "line", "reloc", "meta")

    def __init__(self, code: int, dst: int = 0, src: int = 0, off: int = 0, imm: int = 0, imm_hi: int = 0,
                 ext: bytes = b"\0\0\0\0", pc: int = 0, line: Any = None, reloc: Any = None,
                 meta: dict | None = None) -> None:
        self.code, self.dst, self.src, self.off, self.imm = code, dst, src, off, imm
        self.imm_hi = imm_hi  # ld_imm64 only: `imm` of the second slot
        self.ext = ext  # ld_imm64 only: code/regs/off of the second slot (reserved)
        self.pc = pc
        # Metadata attached by the loader (not part of the encoding):
        self.line = line  # elf.model.LineInfo of the C line this instruction came from
        self.reloc = reloc  # elf.model.Reloc: the symbol this instruction refers to
        self.meta = {} if meta is None else meta

    # -- fields ------------------------------------------------------------
    @property
    def cls(self) -> int:
        return self.code & 0x07

    @property
    def slots(self) -> int:
        return 2 if self.code == LD_IMM64 else 1

    @property
    def is_ld_imm64(self) -> bool:
        return self.code == LD_IMM64

    @property
    def imm64(self) -> int:
        """The 64-bit immediate of ld_imm64, as an unsigned value."""
        return (self.imm & 0xFFFFFFFF) | ((self.imm_hi & 0xFFFFFFFF) << 32)

    @property
    def op(self) -> int:
        """ALU or JMP operation bits (0xf0)."""
        return self.code & 0xF0

    @property
    def uses_reg_src(self) -> bool:
        return bool(self.code & Src.X)

    @property
    def mode(self) -> int:
        return self.code & 0xE0

    @property
    def size_bytes(self) -> int:
        return SIZE_BYTES[Size(self.code & 0x18)]

    @property
    def is_alu(self) -> bool:
        return self.cls in (Cls.ALU, Cls.ALU64)

    @property
    def is_jmp(self) -> bool:
        return self.cls in (Cls.JMP, Cls.JMP32)

    @property
    def is_exit(self) -> bool:
        return self.code == Cls.JMP | JmpOp.EXIT

    @property
    def is_call(self) -> bool:
        return self.code == Cls.JMP | JmpOp.CALL

    @property
    def is_helper_call(self) -> bool:
        return self.is_call and self.src == 0

    @property
    def is_local_call(self) -> bool:
        return self.is_call and self.src == 1

    @property
    def is_kfunc_call(self) -> bool:
        return self.is_call and self.src == 2

    @property
    def is_may_goto(self) -> bool:
        """may_goto (BPF_JCOND, src BPF_MAY_GOTO): a branch taken once its frame's loop budget is spent."""
        return self.code == MAY_GOTO and self.src == 0

    @property
    def is_branch(self) -> bool:
        """A jump with a target (ja, gotol, conditional, may_goto), not call/exit."""
        return self.is_jmp and self.op not in (JmpOp.CALL, JmpOp.EXIT)

    @property
    def is_gotol(self) -> bool:
        return self.code == Cls.JMP32 | JmpOp.JA

    @property
    def jump_offset(self) -> int:
        """Slots to skip for a branch (gotol keeps it in imm)."""
        return self.imm if self.is_gotol else self.off

    @property
    def target(self) -> int:
        """Slot index a branch goes to (or a local call enters)."""
        if self.is_local_call:
            return self.pc + 1 + self.imm
        return self.pc + 1 + self.jump_offset

    @property
    def successors(self) -> tuple[int, ...]:
        """The slots control may reach next (a local call's callee is not among them: it returns);
        a may_goto has two, as a conditional jump: on (budget left) and its target (spent)."""
        if self.is_exit:
            return ()
        nxt = self.pc + self.slots
        if self.is_branch:
            return (self.target,) if self.op == JmpOp.JA else (nxt, self.target)
        return (nxt,)

    @property
    def is_valid_opcode(self) -> bool:
        return self.code in VALID_OPCODES

    @property
    def alu(self) -> Alu | None:
        """The ALU operation with its ISA v4 variant; None for other classes and undefined encodings."""
        return ALU_VARIANTS.get((self.code, self.off))

    @property
    def is_signed_divmod(self) -> bool:
        return self.alu in (Alu.SDIV, Alu.SMOD)

    @property
    def is_movsx(self) -> bool:
        return self.alu in MOVSX_BITS

    @property
    def is_load(self) -> bool:
        return self.cls == Cls.LDX and self.mode in (Mode.MEM, Mode.MEMSX)

    @property
    def is_store(self) -> bool:
        return self.cls in (Cls.ST, Cls.STX) and self.mode == Mode.MEM

    @property
    def is_atomic(self) -> bool:
        return self.cls == Cls.STX and self.mode == Mode.ATOMIC

    # -- encoding ------------------------------------------------------------
    def encode(self) -> bytes:
        head = _SLOT.pack(self.code, (self.src << 4) | self.dst, self.off, s32(self.imm))
        if self.code != LD_IMM64:
            return head
        return head + self.ext + struct.pack("<i", s32(self.imm_hi))

    def copy(self, **changes: Any) -> "Instruction":
        fields = {
            name: getattr(self, name)
            for name in ("code", "dst", "src", "off", "imm", "imm_hi", "ext", "pc", "line", "reloc")
        }
        fields["meta"] = dict(self.meta)
        fields.update(changes)
        return Instruction(**fields)

    def __repr__(self) -> str:
        from .disasm import format_insn

        return f"<Instruction {self.pc}: {format_insn(self)}>"

    def same_encoding(self, other: "Instruction") -> bool:
        return self.encode() == other.encode()


def decode_one(data: bytes, offset: int = 0, pc: int = 0) -> Instruction:
    code, regs, off, imm = _SLOT.unpack_from(data, offset)
    insn = Instruction(code=code, dst=regs & 0x0F, src=regs >> 4, off=off, imm=imm, pc=pc)
    if code == LD_IMM64:
        if offset + 16 > len(data):
            raise DecodeError(f"ld_imm64 at slot {pc} is missing its second half")
        insn.ext = bytes(data[offset + 8 : offset + 12])
        insn.imm_hi = struct.unpack_from("<i", data, offset + 12)[0]
    return insn


def iter_decode(data: bytes) -> Iterator[Instruction]:
    if len(data) % SLOT_SIZE:
        raise DecodeError(f"code size {len(data)} is not a multiple of {SLOT_SIZE}")
    offset = 0
    while offset < len(data):
        insn = decode_one(data, offset, offset // SLOT_SIZE)
        yield insn
        offset += SLOT_SIZE * insn.slots


def decode(data: bytes) -> list[Instruction]:
    """Decode a code section into logical instructions (pc = slot index)."""
    return list(iter_decode(data))


def encode(insns: Iterable[Instruction]) -> bytes:
    return b"".join(i.encode() for i in insns)


def renumber(insns: list[Instruction]) -> list[Instruction]:
    """Assign slot indices (`pc`) in order; returns the list for chaining."""
    pc = 0
    for insn in insns:
        insn.pc = pc
        pc += insn.slots
    return insns


def slot_index(insns: list[Instruction]) -> dict[int, int]:
    """Map slot (pc) -> list index."""
    return {insn.pc: i for i, insn in enumerate(insns)}


# -- small constructors, used by the assembler and tests ----------------------


def alu(op: AluOp, dst: int, *, src: int | None = None, imm: int = 0, is64: bool = True, off: int = 0) -> Instruction:
    cls = Cls.ALU64 if is64 else Cls.ALU
    source = Src.X if src is not None else Src.K
    return Instruction(code=cls | op | source, dst=dst, src=src or 0, imm=imm, off=off)


def ld_imm64(dst: int, value: int, pseudo: int = 0) -> Instruction:
    value &= 0xFFFFFFFFFFFFFFFF
    return Instruction(code=LD_IMM64, dst=dst, src=pseudo, imm=s32(value), imm_hi=s32(value >> 32))


def exit_insn() -> Instruction:
    return Instruction(code=Cls.JMP | JmpOp.EXIT)
