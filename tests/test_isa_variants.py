"""ISA v4 ALU variants are decoded once (`Instruction.alu`) and every consumer agrees on them.

The expected encodings are transcribed here from RFC 9669 §4.1–4.2 (and the kernel's
check_alu_op), independently of xdptool/ebpf/opcodes.py: sdiv/smod are DIV/MOD with
off = 1, movsx is MOV with a register source and off = 8/16/32 (32 only in ALU64),
byte swaps are END in three forms, every other ALU encoding needs off = 0.
"""

from __future__ import annotations

import random

import pytest

from xdptool.ebpf.disasm import format_insn, is_printable
from xdptool.ebpf.insn import Instruction, renumber
from xdptool.ebpf.opcodes import Alu, AluOp, Cls, JmpOp, Src
from xdptool.ebpf.semantics import ALU32, ALU64
from xdptool.ebpf.validate import InvalidProgram, validate

OFFS = (0, 1, 2, 8, 16, 32, 64, -1)


def rfc_defined(code: int, off: int) -> bool:
    cls, op, src = code & 0x07, code & 0xF0, code & 0x08
    if op == AluOp.END:
        return off == 0 and not (cls == Cls.ALU64 and src)
    if op == AluOp.NEG:
        return off == 0 and not src
    if op in (AluOp.DIV, AluOp.MOD):
        return off in (0, 1)
    if op == AluOp.MOV and src:
        return off in ((0, 8, 16, 32) if cls == Cls.ALU64 else (0, 8, 16))
    return off == 0 and op in {int(o) for o in AluOp}


def alu_encodings():
    for cls in (Cls.ALU, Cls.ALU64):
        for op in range(0, 0x100, 0x10):
            for src in Src:
                for off in OFFS:
                    yield cls | op | src, off


def _validates(insn: Instruction) -> bool:
    try:
        validate(renumber([Instruction(Cls.ALU64 | AluOp.MOV | Src.K, dst=0), insn, Instruction(Cls.JMP | JmpOp.EXIT)]))
        return True
    except InvalidProgram:
        return False


@pytest.mark.parametrize("code, off", list(alu_encodings()))
def test_decoder_printer_and_validator_agree_with_the_rfc(code, off):
    insn = Instruction(code, dst=0, src=1 if code & Src.X else 0, off=off, imm=0 if code & Src.X else 16)
    if code & 0xF0 == AluOp.END:  # the source bit is the byte order; the width is in imm
        insn.src, insn.imm = 0, 16
    if code & 0xF0 == AluOp.NEG:
        insn.imm = 0
    defined = rfc_defined(code, off)
    assert (insn.alu is not None) == defined
    assert is_printable(insn) == defined
    assert _validates(insn) == defined


def test_every_variant_has_a_meaning_at_the_widths_it_is_defined_for():
    """Byte swaps apart, each variant ALU64 defines is in the 64-bit table, and likewise for ALU."""
    for cls, table in ((Cls.ALU64, ALU64), (Cls.ALU, ALU32)):
        defined = {Instruction(c, dst=1, src=2, off=o, imm=16).alu for c, o in alu_encodings()
                   if c & 0x07 == cls and rfc_defined(c, o)}
        assert defined - {Alu.TO_LE, Alu.TO_BE, Alu.BSWAP} == set(table)


@pytest.mark.parametrize("text, variant", [
    ("r1 s/= r2", Alu.SDIV), ("w1 s%= w2", Alu.SMOD), ("r1 = (s8)r2", Alu.MOVSX8),
    ("w1 = (s16)w2", Alu.MOVSX16), ("r1 = (s32)r2", Alu.MOVSX32), ("r1 = bswap32 r1", Alu.BSWAP),
    ("r1 = be16 r1", Alu.TO_BE), ("r1 = le64 r1", Alu.TO_LE),
])
def test_variants_print_and_assemble_back(text, variant):
    from xdptool.ebpf.asm import assemble

    insn = assemble(text)[0]
    assert insn.alu is variant
    assert format_insn(insn) == text


def test_signed_division_truncates_toward_zero_and_modulo_takes_the_dividends_sign():
    """RFC 9669 §4.1 on random operands, written out with Python's integers."""
    rng = random.Random(7)
    for _ in range(2000):
        a, b = rng.getrandbits(64), rng.choice([rng.getrandbits(64), rng.getrandbits(3), 0])
        sa, sb = (a - (1 << 64) if a >> 63 else a), (b - (1 << 64) if b >> 63 else b)
        quotient = 0 if sb == 0 else int(abs(sa) // abs(sb)) * (1 if (sa < 0) == (sb < 0) else -1)
        remainder = sa if sb == 0 else sa - sb * quotient
        assert ALU64[Alu.SDIV](a, b) == quotient % (1 << 64)
        assert ALU64[Alu.SMOD](a, b) == remainder % (1 << 64)
