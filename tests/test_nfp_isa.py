"""NFP ISA: assembler, printer and 64-bit encoding round trips over every instruction class.

Oracles: the field masks of Linux's drivers/net/ethernet/netronome/nfp/nfp_asm.h
(written out here as literal numbers, not taken from the code under test), the
driver's own `nop` encoding (an immed with no destination), and decode(encode(x)).
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xdptool.errors import AsmError
from xdptool.nfp.assembler import assemble, parse_insn
from xdptool.nfp.encoding import EncodeError, decode, encode
from xdptool.nfp.isa import FORMS, KINDS, NfpInsn, Shift, constant_insns, form_of, immed_value
from xdptool.nfp.printer import format_insn, format_listing
from xdptool.nfp.registers import NONE, NN, Gpr, Imm, Lm, Xfer

# one line per instruction form; every form of FORMS appears
CORPUS = """
    alu[gprA_3, gprB_4, +, 0x1c]
    alu[gprB_3, gprB_4, -, gprA_1]
    alu[gprA_9, 0xff, +carry, gprB_7]
    alu[gprA_9, gprA_2, -carry, 0]
    alu[gprB_1, gprA_1, AND, gprB_2]
    alu[gprB_1, gprA_1, ~AND, gprB_2]
    alu[gprB_1, gprA_1, AND~, gprB_2]
    alu[gprB_1, gprA_1, OR, gprB_2]
    alu[gprB_1, gprA_1, XOR, gprB_2]
    alu[gprB_1, gprA_1, +16, gprB_2]
    alu[gprB_1, gprA_1, +8, gprB_2]
    alu[gprB_1, gprA_1, B-A, gprB_2]
    alu[*l$index0[3], --, B, gprB_4]
    alu[*l$index2[3], --, ~B, gprA_4]
    alu[gprAB_3, *l$index3[15], XOR, gprA_4]
    alu[--, $in_3, AND~, n$4]
    alu[$out_3, *l$index1++, OR, gprB_4]
    alu[n$5, *l$index1--, OR, gprB_4]
    alu_shf[gprA_1, gprB_2, OR, gprA_3, <<8]
    alu_shf[gprA_1, gprB_2, AND, gprA_3, >>31]
    alu_shf[gprA_1, --, B, gprA_3, >>indirect]
    alu_shf[gprA_1, --, B, gprA_3, <<indirect]
    alu_shf[gprA_1, gprA_2, B, gprB_3, >>dbl7]
    alu_shf[gprB_1, --, ASR, gprA_3, >>31]
    alu_shf[gprB_1, 0xff, AND, gprA_3, >>rot3]
    alu_shf[$out_1, --, B, *l$index1[7], <<1]
    ld_field_w_clr[gprA_1, 0011, gprB_2, >>16]
    ld_field[gprB_1, 1000, 0xcc, <<24]
    ld_field[*l$index1[5], 0100, gprB_2]
    ld_field[gprA_4, 1010, gprB_2, >>rot8]
    immed[gprA_1, ~0x12, <<16]
    immed[gprB_7, 0x1234]
    immed[gprAB_7, 0xffff, <<8]
    immed_w0[gprB_1, 0xffff]
    immed_w1[gprB_1, 0xffff]
    immed_b0[gprA_2, 0x12]
    immed_b1[gprB_2, 0x34]
    immed_b2[gprA_2, ~0x56]
    immed_b3[*l$index0[2], 0xff]
    mul_step[gprA_1, gprB_1, start]
    mul_step[gprB_1, gprA_1, 32x32_step1]
    mul_step[gprA_1, 0x21, 16x16_step2]
    mul_step[gprA_1, gprB_3, 24x8_step1]
    mul_step[gprA_1, --, 32x32_last]
    mul_step[gprB_2, --, 32x32_last2]
    br[8000]
    beq[17], defer[2]
    bne[17], defer[3]
    bmi[1]
    bpl[1]
    bhs[1]
    blo[1]
    bge[4]
    blt[4]
    bgt[4]
    ble[4]
    bvs[4]
    bvc[4]
    br_bset[gprA_1, 5, 3]
    br_bclr[gprB_1, 31, 3], defer[1]
    rtn[gprB_0]
    rtn[gprA_5], defer[2]
    jump[gprA_5, 300]
    jump[gprB_2, 7], defer[1]
    mem[read8, $in_0, gprA_1, 0xe, 2], ctx_swap[sig1]
    mem[read32, $in_4, gprA_1, gprB_2, 8], ctx_swap[sig2], defer[1]
    mem[read32_swap, $in_4, gprA_1, gprB_2, 1], sig_done[sig2]
    mem[write8_swap, $out_2, gprA_3, gprB_1, 8, indirect_ref], sig_done[sig3]
    mem[write32_swap, $out_2, gprA_3, gprB_1, 2], ctx_swap[sig3]
    mem[read32_swap, $in_0, gprA_1, 0x10, 7], ctx_swap[sig1]
    mem[add, $out_2, gprA_4, gprB_5, 2, 40b_BA], ctx_swap[sig1], defer[2]
    mem[add_imm, $out_0, gprA_3, gprB_4, 1, 40b_BA, indirect_ref], sig_done[sig0]
    mem[read_swap_le, $in_0, gprA_3, gprB_4, 1, 40b_AB], ctx_swap[sig1]
    local_csr_wr[ACT_LM_ADDR1, gprA_2]
    local_csr_wr[ACT_LM_ADDR3, gprB_2]
    local_csr_wr[PSEUDO_RND_NUM, 0x5a]
    local_csr_rd[PSEUDO_RND_NUM]
    ctx_arb[sig2]
    ctx_arb[voluntary]
    nop
"""


def corpus():
    insns, _ = assemble(CORPUS)
    return insns


def test_corpus_covers_every_form():
    assert {i.kind for i in corpus()} == set(KINDS)
    assert {form_of(i) for i in corpus()} == set(FORMS)


@pytest.mark.parametrize("line", [line.strip() for line in CORPUS.strip().splitlines()])
def test_text_and_binary_round_trip(line):
    insn = parse_insn(line)
    assert format_insn(insn) == line
    word = encode(insn)
    assert word >> 46 == 0, "nfp_ustore_check_valid_no_ecc: GENMASK(45, 0)"
    back = decode(word)
    assert format_insn(back) == line
    assert encode(back) == word


def test_listing_round_trip_with_labels_and_comments():
    text = "start:\n    alu[gprA_1, gprB_2, +, 1]  ; a comment\n    bne[start]\nend:\n"
    insns, labels = assemble(text)
    assert labels == {"start": 0, "end": 2}
    again, labels2 = assemble(format_listing(insns, labels))
    assert [format_insn(i) for i in again] == [format_insn(i) for i in insns] and labels2 == labels
    assert again[0].note == "a comment"


# -- fields where nfp_asm.h puts them ----------------------------------------------------------------
def field(word: int, mask: int) -> int:
    return (word & mask) >> ((mask & -mask).bit_length() - 1)


def test_alu_fields_follow_nfp_asm_h():
    word = encode(parse_insn("alu[gprB_5, gprA_3, -, gprB_4]"))
    assert word & 0x0A000000000 == 0x0A000000000  # OP_ALU_BASE
    assert field(word, 0x00F80000000) == 0x15  # OP_ALU_OP: ALU_OP_SUB
    assert field(word, 0x000000003FF) == 3 and field(word, 0x000000FFC00) == 4  # A_SRC, B_SRC
    assert field(word, 0x0003FF00000) == 5 and field(word, 0x01000000000) == 1  # DST, DST_AB = B
    assert field(word, 0x00040000000) == 0  # no swap
    swapped = encode(parse_insn("alu[gprA_5, gprB_4, -, gprA_3]"))
    assert field(swapped, 0x00040000000) == 1 and field(swapped, 0x000000003FF) == 3


def test_operand_encodings_follow_nfp_asm_c():
    word = encode(parse_insn("alu[--, 0x7b, +, $in_3]"))
    assert field(word, 0x000000003FF) == 0x300 | 0x7B  # UR_REG_IMM_encode
    assert field(word, 0x000000FFC00) == 0x180 | 3  # UR_REG_XFR
    assert field(word, 0x0003FF00000) == 0x300  # UR_REG_NO_DST
    lm = encode(parse_insn("alu[gprA_1, *l$index1[9], +, gprB_1]"))
    assert field(lm, 0x000000003FF) == 0x200 | 0x20 | 9  # UR_REG_LM | LM_IDX | offset
    restricted = encode(parse_insn("alu_shf[gprA_1, 0x65, OR, gprB_2, <<4]"))
    assert field(restricted, 0x000000000FF) == 0x20 | (0x65 & 0x1F) | ((0x65 & 0x60) << 1)  # RE_REG_IMM_encode
    assert field(restricted, 0x001F0000000) == 32 - 4  # left shifts are encoded as 32 - n (bpf/jit.c)


def test_branch_fields_and_driver_nop():
    word = encode(parse_insn("bge[5000], defer[2]"))
    assert word & 0x0F8000C3CE0 == 0x0D800000020  # OP_BR_BASE under OP_BR_BASE_MASK
    assert field(word, 0x0000000001F) == 0x08  # BR_BGE
    assert field(word, 0x00000300000) == 2  # DEFBR
    assert field(word, 0x007FFC00000) | field(word, 0x10000000000) << 13 == 5000
    assert field(word, 0x0000003C000) == 2  # BR_CSS_NONE
    # the driver's nop: immed with both operands UR_REG_IMM and nothing else
    assert encode(NfpInsn("nop")) == 0x0F000000000 | 0x300 | 0x300 << 10


def test_immed_carries_the_high_byte_in_its_own_field():
    word = encode(parse_insn("immed[gprA_2, 0xabcd, <<8]"))
    assert field(word, 0x0000FF00000) == 0xAB and field(word, 0x000000FFC00) == 0x300 | 0xCD
    assert field(word, 0x00600000000) == 1  # IMMED_SHIFT_1B


# -- errors ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("line, message", [
    ("alu[gprA_1, gprA_2, +, gprA_3]", "same bank"),
    ("alu[gprA_1, 1, +, 2]", "same class"),
    ("alu[gprA_1, $in_1, +, $in_2]", "same class"),
    ("alu[gprA_1, gprA_2, +, 0x100]", "out of range"),
    ("alu_shf[gprA_1, --, B, gprB_40, <<1]", "out of range"),
    ("alu_shf[gprA_1, *l$index0[9], OR, gprB_1, <<1]", "out of range"),
    ("mem[read8, $in_0, gprA_1, 0x80, 1], ctx_swap[sig1]", "out of range"),
    ("mem[read32_swap, $in_0, gprA_1, 0, 9], ctx_swap[sig1]", "indirect length"),
    ("br[fw.exit]", "unresolved label"),
])
def test_unencodable_instructions_are_refused(line, message):
    with pytest.raises(EncodeError, match=message):
        encode(parse_insn(line))


@pytest.mark.parametrize("line, message", [
    ("alu[gprA_1, gprB_2, **, 3]", "unknown alu operation"),
    ("frobnicate[gprA_1]", "unknown instruction"),
    ("alu[gprA_1, gprB_2, +]", "takes 4 operands"),
    ("alu[gprQ_1, gprB_2, +, 1]", "bad operand"),
    ("ld_field[gprA_1, 12, gprB_1]", "bad byte mask"),
    ("immed[gprA_1, 0x10000]", "does not fit"),
    ("immed[gprA_1, 1, <<4]", "<<8, <<16 or <<24"),
    ("mem[read8, $in_0, gprA_1, 0, 1]", "ctx_swap"),
    ("alu_shf[gprA_1, --, B, gprA_3, >>40]", "outside 0..31"),
    ("alu[gprA_1, gprB_2, +, 1], frob[1]", "unexpected frob"),
])
def test_bad_assembly_names_the_problem(line, message):
    with pytest.raises(AsmError, match=message):
        parse_insn(line, 7)


def test_assembler_errors_carry_the_line_number():
    with pytest.raises(AsmError, match="line 2"):
        assemble("nop\nbogus[1]\n")


# -- random instructions of every class ----------------------------------------------------------------
regs = st.builds(Gpr, st.sampled_from("AB"), st.integers(0, 15))
imm8 = st.builds(Imm, st.integers(0, 127))


@st.composite
def two_sources(draw):
    a = draw(st.one_of(regs, imm8, st.builds(Lm, st.integers(0, 3), st.integers(0, 7)),
                       st.builds(Xfer, st.just("in"), st.integers(0, 15))))
    b = draw(st.one_of(regs, imm8))
    if a.cls == b.cls or (isinstance(a, Gpr) and isinstance(b, Gpr) and a.bank == b.bank):
        b = Gpr("B" if isinstance(a, Gpr) and a.bank == "A" else "A", draw(st.integers(0, 15)))
        if not isinstance(a, Gpr):
            b = Gpr("B", b.index)
    return a, b


@st.composite
def random_insn(draw):
    kind = draw(st.sampled_from(["alu", "alu_shf", "immed", "br", "mul_step"]))
    dst = draw(regs)
    if kind == "alu":
        a, b = draw(two_sources())
        op = draw(st.sampled_from(["+", "-", "+carry", "-carry", "AND", "OR", "XOR", "~AND", "AND~", "+16", "+8"]))
        return NfpInsn("alu", dst=dst, a=a, op=op, b=b)
    if kind == "alu_shf":
        a, b = draw(two_sources())
        shift = Shift(draw(st.sampled_from(["<<", ">>", ">>rot"])), draw(st.integers(1, 31)))
        return NfpInsn("alu_shf", dst=dst, a=a, op=draw(st.sampled_from(["AND", "OR"])), b=b, shift=shift)
    if kind == "immed":
        width = draw(st.sampled_from(["", "w0", "w1", "b0", "b1", "b2", "b3"]))
        value = draw(st.integers(0, 0xFF if width.startswith("b") else 0xFFFF))
        shift = Shift("<<", draw(st.sampled_from([8, 16]))) if width == "" and draw(st.booleans()) else None
        return NfpInsn("immed", dst=dst, value=value, width=width, invert=draw(st.booleans()), shift=shift)
    if kind == "mul_step":
        a, b = draw(two_sources())
        return NfpInsn("mul_step", a=a, b=b, op=draw(st.sampled_from(["start", "32x32_step1", "16x16_step2"])))
    cond = draw(st.sampled_from(["br", "beq", "bne", "blo", "bhs", "blt", "bge"]))
    return NfpInsn("br", op=cond, target=draw(st.integers(0, 8191)), defer=draw(st.integers(0, 2)))


@settings(max_examples=300, deadline=None)
@given(random_insn())
def test_random_instructions_round_trip(insn):
    text = format_insn(insn)
    word = encode(insn)
    assert format_insn(decode(word)) == text
    assert format_insn(parse_insn(text)) == text


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 0xFFFFFFFF))
def test_constants_load_in_one_or_two_immeds(value):
    insns = constant_insns(Gpr("A", 1), value)
    assert 1 <= len(insns) <= 2
    register = 0
    for insn in insns:
        written, mask = immed_value(insn)
        register = (register & ~mask) | written
    assert register == value
    if value <= 0xFFFF or (~value & 0xFFFFFFFF) <= 0xFFFF:
        assert len(insns) == 1


def test_none_is_not_a_register():
    assert NONE.cls == "none" and NN(3).cls == "nn"
