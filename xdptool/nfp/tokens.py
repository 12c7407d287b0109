"""The NFP's 64-bit instruction words as bit-field tokens (ppci's tokens.py is the model).

Each token is one instruction group's layout: its opcode bits (`opcode` selects
the bits that tell the groups apart, `base` their value and any other fixed
bits) and its named fields, each given by its mask exactly as Linux's
drivers/net/ethernet/netronome/nfp/nfp_asm.h writes it (OP_ALU_*, OP_SHF_*,
OP_LDF_*, OP_IMMED_*, OP_MUL_*, OP_BR_*, OP_BR_BIT_*, OP_BR_ALU_*, OP_CMD_*,
OP_LCSR_*, OP_CARB_*).  `pack` and `unpack` walk the same declaration both
ways; which instruction attribute goes to which field is isa.FORMS' business.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import XdpError

USTORE_VALID = (1 << 46) - 1  # nfp_asm.c nfp_ustore_check_valid_no_ecc: GENMASK(45, 0)


class EncodeError(XdpError):
    """An instruction that has no encoding (illegal operand pair, value out of range)."""


@dataclass(frozen=True)
class Field:
    """A contiguous bit field of the word, given by its mask."""

    mask: int

    @property
    def shift(self) -> int:
        return (self.mask & -self.mask).bit_length() - 1

    @property
    def width(self) -> int:
        return self.mask.bit_count()

    def put(self, word: int, value: int, what: str) -> int:
        if not 0 <= value < (1 << self.width):
            raise EncodeError(f"{what} {value:#x} does not fit {self.width} bits")
        return word | (value << self.shift)

    def get(self, word: int) -> int:
        return (word & self.mask) >> self.shift


class Token:
    """One instruction group's word layout."""

    def __init__(self, name: str, opcode: int, base: int = 0, **masks: int):
        self.name, self.opcode, self.base = name, opcode, base
        self.fields = {field: Field(mask) for field, mask in masks.items()}

    def matches(self, word: int) -> bool:
        return word & self.opcode == self.base & self.opcode

    def pack(self, values: dict[str, int]) -> int:
        word = self.base
        for name, value in values.items():
            word = self.fields[name].put(word, value, name)
        return word

    def unpack(self, word: int) -> dict[str, int]:
        return {name: field.get(word) for name, field in self.fields.items()}

    def __repr__(self) -> str:
        return f"<Token {self.name}>"


# The top bits (39..34) tell the groups apart; alu and shf only by 39..37 (their bit 36 is DST_AB).
ALU = Token("alu", 0x0E000000000, base=0x0A000000000, a=0x000000003FF, b=0x000000FFC00, dst=0x0003FF00000,
            sw=0x00040000000, op=0x00F80000000, dst_ab=0x01000000000, wr_ab=0x20000000000,
            src_lmextn=0x40000000000, dst_lmextn=0x80000000000)
SHF = Token("shf", 0x0E000000000, base=0x08000000000, a=0x000000000FF, sc=0x00000000300, b=0x0000003FC00,
            i8=0x00000040000, sw=0x00000080000, dst=0x0000FF00000, shift=0x001F0000000, op=0x00E00000000,
            dst_ab=0x01000000000, wr_ab=0x20000000000, src_lmextn=0x40000000000, dst_lmextn=0x80000000000)
LDF = Token("ldf", 0x0F800000000, base=0x0C000000000, a=0x000000000FF, sc=0x00000000300, b=0x0000003FC00,
            i8=0x00000040000, sw=0x00000080000, zf=0x00000100000, bmask=0x0000F000000, shift=0x001F0000000,
            wr_ab=0x20000000000, src_lmextn=0x40000000000, dst_lmextn=0x80000000000)
IMMED = Token("immed", 0x0F800000000, base=0x0F000000000, a=0x000000003FF, b=0x000000FFC00, imm=0x0000FF00000,
              width=0x00060000000, inv=0x00080000000, shift=0x00600000000, wr_ab=0x20000000000,
              src_lmextn=0x40000000000, dst_lmextn=0x80000000000)
MUL = Token("mul", 0x0FC00000000, base=0x0F800000000, a=0x000000003FF, b=0x000000FFC00, step=0x00000700000,
            dst_ab=0x00000800000, sw=0x00040000000, type=0x00180000000, wr_ab=0x20000000000,
            src_lmextn=0x40000000000, dst_lmextn=0x80000000000)
BR = Token("br", 0x0F800000000, base=0x0D800000020, mask=0x0000000001F, ev_pip=0x00000000300, css=0x0000003C000,
           defer=0x00000300000, addr_lo=0x007FFC00000, addr_hi=0x10000000000)
BR_BIT = Token("br_bit", 0x0F800000000, base=0x0D000000000, a=0x000000000FF, b=0x0000003FC00, bv=0x00000040000,
               defer=0x00000300000, addr_lo=0x007FFC00000, addr_hi=0x10000000000, src_lmextn=0x40000000000)
BR_ALU = Token("br_alu", 0x0F800000000, base=0x0E800000000, a=0x000000003FF, b=0x000000FFC00, defer=0x00000300000,
               imm_hi=0x0007FC00000, src_lmextn=0x40000000000, dst_lmextn=0x80000000000)
CMD = Token("cmd", 0x08000000000, a=0x000000000FF, ctx=0x00000000300, b=0x0000003FC00, token=0x000000C0000,
            xfer=0x00001F00000, cnt=0x0000E000000, sig=0x000F0000000, tgt=0x07F00000000, indir=0x20000000000,
            mode=0x1C0000000000)
LCSR = Token("lcsr", 0x0FC00000000, base=0x0FC00000000, a=0x000000003FF, b=0x000000FFC00, write=0x00000200000,
             addr=0x001FFC00000, src_lmextn=0x40000000000, dst_lmextn=0x80000000000)
CARB = Token("carb", 0x0F800000000, base=0x0E000000000, sigs=0x0000000FFFF)

TOKENS = (ALU, SHF, LDF, IMMED, MUL, BR, BR_BIT, BR_ALU, CMD, LCSR, CARB)
