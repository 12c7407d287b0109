"""The NFP ISA declarations (isa.FORMS): one rule, every checker.

The encoder and the executor's static check must accept and refuse the same
instructions, with the same reason, at every operand field's limit.  The
limits are written here as literal numbers from Linux's nfp_asm.h / nfp_asm.c
(UR_REG_IMM_MAX 0xff, RE_REG_IMM_MAX 0x7f plus the I8 bit on shifts and
ld_field, RE_REG_LM_IDX_MAX 7, the unrestricted LM offset's 4 bits, the 3-bit
command count, CMD_OV_LEN's 5 bits) and /work/shared/nfp-facts.md, not read
from the code under test.  Def/use sets are checked against what each
instruction reads and writes on the card.
"""

from __future__ import annotations

import pytest

from xdptool.nfp.assembler import parse_insn
from xdptool.nfp.encoding import EncodeError, encode
from xdptool.nfp.executor import IsaViolation, check_image
from xdptool.nfp.image import Image
from xdptool.nfp.isa import FORMS, NfpInsn
from xdptool.nfp.registers import VReg

EXIT = NfpInsn("br", op="br", target=0)


def executor_verdict(insn: NfpInsn) -> str | None:
    """The executor's static check on a one-instruction image (4 contexts): None or its reason."""
    try:
        check_image(Image([insn, EXIT], {}, 4, 0, 0, []))
    except IsaViolation as exc:
        return str(exc).split("): ", 1)[1]
    return None


def encoder_verdict(insn: NfpInsn) -> str | None:
    try:
        encode(insn)
    except EncodeError as exc:
        return str(exc)
    return None


# (template, the largest value the field holds)
LIMITS = [
    ("alu[gprA_1, gprB_2, +, {}]", 0xFF),  # unrestricted immediate
    ("alu_shf[gprA_1, gprB_2, OR, {}, <<1]", 0xFF),  # restricted + I8
    ("ld_field[gprA_1, 0001, {}]", 0xFF),  # restricted + I8
    ("mem[read8, $in_0, gprA_1, {}, 1], ctx_swap[sig1]", 0x7F),  # restricted, no I8
    ("br_bset[gprA_1, {}, 3]", 0x7F - 1),  # the bit rides as a rotation by bit + 1, restricted
    ("alu[gprA_1, --, B, *l$index1[{}]]", 15),  # unrestricted LM offset
    ("alu_shf[gprA_1, --, B, *l$index1[{}], <<1]", 7),  # restricted LM offset
    ("alu[gprA_1, --, B, $in_{}]", 0x7F),  # unrestricted transfer register
    ("alu_shf[gprA_1, --, B, $in_{}, <<1]", 31),  # restricted transfer register
    ("alu[gprA_1, --, B, n${}]", 0x7F),  # unrestricted NN
    ("mem[read32, $in_0, gprA_1, gprB_2, {}], ctx_swap[sig1]", 8),  # the 3-bit count
    ("mem[read32, $in_0, gprA_1, gprB_2, {}, indirect_ref], ctx_swap[sig1]", 32),  # CMD_OV_LEN
    ("mem[add, $out_0, gprA_1, gprB_2, {}, 40b_BA], ctx_swap[sig1]", 2),  # mem_xadd: 32 or 64 bits
]


@pytest.mark.parametrize("template, limit", LIMITS)
def test_encoder_and_executor_share_each_field_limit(template, limit):
    inside, outside = parse_insn(template.format(limit)), parse_insn(template.format(limit + 1))
    assert encoder_verdict(inside) is None and executor_verdict(inside) is None
    reason = encoder_verdict(outside)
    assert reason is not None
    assert executor_verdict(outside) == reason


@pytest.mark.parametrize("line, reason", [
    ("alu_shf[gprA_1, --, B, n$1, <<1]", "NN registers in a restricted operand"),
    ("alu_shf[gprA_1, --, B, *l$index1++, <<1]", "post-modify in a restricted operand"),
    ("alu[gprA_1, gprA_2, +, gprA_3]", "two sources in bank A"),
    ("alu[gprA_1, 1, +, 2]", "two sources of class imm"),
    ("ld_field[gprA_1, 0001, gprA_2]", "two sources in bank A"),  # the destination is the A-field source
    ("mem[read8, $out_0, gprA_1, 0, 1], ctx_swap[sig1]", "out transfer register in a read command"),
    ("mem[write8_swap, $in_0, gprA_1, 0, 1], ctx_swap[sig1]", "in transfer register in a write command"),
    ("mem[read8, $in_0, gprA_1, 0, 1], sig_done[sig1], defer[1]", "sig_done takes no defer slots"),
    ("mem[read8, $in_0, gprA_1, 0, 1], ctx_swap[sig1], defer[3]", "at most 2"),  # ctx 3 means sig_done
    ("alu[gprA_1, gprB_1, +, gprAB_2]", "as a source"),
    ("alu[$in_1, --, B, 1]", "used as destination"),
    ("br_bset[5, 3, 4]", "two sources of class imm"),  # the tested value and the bit share the fields
])
def test_encoder_and_executor_refuse_alike(line, reason):
    insn = parse_insn(line)
    assert reason in encoder_verdict(insn)
    assert reason in executor_verdict(insn)


def test_an_unused_first_source_is_no_source():
    """alu B / ~B and alu_shf B / ASR read only the second source: "--" pairs with anything."""
    for line in ("alu[gprA_1, --, B, 1]", "alu[gprA_1, --, ~B, gprA_2]", "alu_shf[gprA_1, --, ASR, gprA_2, >>3]"):
        assert encoder_verdict(parse_insn(line)) is None and executor_verdict(parse_insn(line)) is None


def test_restricted_operands_are_where_the_facts_say():
    """nfp-facts: restricted fields are those of shifts, ld_field, memory commands and bit branches."""
    restricted = {form.kind for form in FORMS if form.restricted}
    assert restricted == {"alu_shf", "ld_field", "mem", "br_bit"}


V = [VReg(k) for k in range(3)]


@pytest.mark.parametrize("insn, uses, defs", [
    (NfpInsn("alu", dst=V[0], a=V[1], op="+", b=V[2]), [V[1], V[2]], [V[0]]),
    (NfpInsn("ld_field", dst=V[0], b=V[1], value=1), [V[0], V[1]], [V[0]]),  # keeps the other bytes
    (NfpInsn("ld_field", dst=V[0], b=V[1], value=1, width="w_clr"), [V[1]], [V[0]]),  # clears them
    (NfpInsn("immed", dst=V[0], value=1), [], [V[0]]),
    (NfpInsn("immed", dst=V[0], value=1, width="w1"), [V[0]], [V[0]]),  # writes 16 of 32 bits
    (NfpInsn("mul_step", a=V[0], b=V[1], op="start"), [V[0], V[1]], []),
    (NfpInsn("mul_step", dst=V[0], op="32x32_last"), [], [V[0]]),
    (NfpInsn("br_bit", op="br_bset", a=V[0], value=3, target=0), [V[0]], []),
    (NfpInsn("jump", a=V[0], target=0), [V[0]], []),
    (NfpInsn("csr_wr", op="ACT_LM_ADDR2", b=V[0]), [V[0]], []),
    (NfpInsn("mem", op="read32", a=V[0], b=V[1], value=1, sync="ctx_swap"), [V[0], V[1]], []),
])
def test_def_use_sets_follow_the_declarations(insn, uses, defs):
    assert insn.uses() == uses and insn.defs() == defs


def test_every_mnemonic_parses_to_the_form_that_prints_it():
    """Forms sharing a mnemonic (mul_step's steps and last steps, local_csr_wr's immediate and
    register sources) are told apart by what they hold."""
    for line, kind, field in (("mul_step[gprA_1, gprB_2, 16x16_step1]", "mul_step", "a"),
                              ("mul_step[gprA_1, --, 16x16_last]", "mul_step", "dst"),
                              ("local_csr_wr[ACT_LM_ADDR0, 0x40]", "csr_wr", "b"),
                              ("local_csr_wr[ACT_LM_ADDR0, gprB_4]", "csr_wr", "b")):
        insn = parse_insn(line)
        assert insn.kind == kind and str(getattr(insn, field)) == line.split("[", 1)[1].split(",")[
            0 if field in ("a", "dst") else 1].strip(" ]")
