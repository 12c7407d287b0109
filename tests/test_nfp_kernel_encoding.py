"""Our encoder against a port of the nfp driver's emitters (tests/nfp_kernel_emitters.py), form by form.

Every instruction of the kernel JIT's image of every offloadable example, and
random operands for every form the kernel image uses, must encode to the word
the driver's emitter would produce, and every word of every image (kernel and
what-if) must pass the ustore's validity check (nfp_ustore_check_valid_no_ecc).
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from nfp_kernel_emitters import check_valid_no_ecc, oracle_encode
from xdptool.nfp.encoding import EncodeError, encode
from xdptool.nfp.isa import NfpInsn, Shift
from xdptool.nfp.registers import NONE, Gpr, Imm, Lm, Xfer

# -- the images of the examples -------------------------------------------------------------------------
from test_nfp_programs import NAMES, built  # noqa: E402  (one build per session)


@pytest.mark.parametrize("name", NAMES)
def test_kernel_image_words_are_the_driver_emitters_words(name):
    report = built(name)[2]
    if not report.offloaded:
        pytest.skip(f"{name} is not offloadable")
    forms = set()
    for pc, insn in enumerate(report.kernel.insns):
        word = encode(insn)
        assert word == oracle_encode(insn), (pc, insn)
        assert check_valid_no_ecc(word)
        forms.add(insn.kind)
    assert {"alu", "immed", "br", "nop", "ld_field"} <= forms


@pytest.mark.parametrize("name", NAMES)
def test_what_if_image_words_pass_the_ustore_check(name):
    report = built(name)[2]
    if report.what_if is None:
        pytest.skip(f"{name} has no what-if image")
    assert all(check_valid_no_ecc(encode(insn)) for insn in report.what_if.insns)


# -- random operands, form by form ------------------------------------------------------------------------
def gpr(banks="AB", top=24):
    return st.builds(Gpr, st.sampled_from(list(banks)), st.integers(0, top - 1))


imm8, imm7 = st.builds(Imm, st.integers(0, 0xFF)), st.builds(Imm, st.integers(0, 0x7F))
xin, xout = st.builds(Xfer, st.just("in"), st.integers(0, 15)), st.builds(Xfer, st.just("out"), st.integers(0, 15))
lm15 = st.builds(Lm, st.integers(0, 3), st.integers(0, 15))
lm7 = st.builds(Lm, st.integers(0, 3), st.integers(0, 7))
lm_inc = st.builds(Lm, st.integers(0, 3), st.just(0), st.sampled_from(["++", "--"]))
dst_ur = st.one_of(gpr("AB") | st.builds(Gpr, st.just("AB"), st.integers(0, 23)), xout, lm15, lm_inc, st.just(NONE))
dst_re = st.one_of(gpr("AB", 24) | st.builds(Gpr, st.just("AB"), st.integers(0, 23)), xout, lm7, st.just(NONE))


@st.composite
def source_pair(draw, restricted: bool):
    """Two sources of different classes, as the driver's swreg_to_(un)restricted accepts them."""
    options = [gpr("A"), gpr("B"), xin, (lm7 if restricted else lm15), (imm7 if restricted else imm8)]
    first = draw(st.sampled_from(range(len(options))))
    second = draw(st.sampled_from([k for k in range(len(options)) if k != first]))
    return draw(options[first]), draw(options[second])


@st.composite
def alu_insns(draw):
    a, b = draw(source_pair(False))
    op = draw(st.sampled_from(["B", "+", "~B", "+16", "AND", "~AND", "-carry", "AND~", "+carry", "OR", "-", "XOR"]))
    if op in ("B", "~B"):
        a = NONE
    return NfpInsn("alu", dst=draw(dst_ur), a=a, op=op, b=b)


@st.composite
def shf_insns(draw):
    a, b = draw(source_pair(True))
    kind = draw(st.sampled_from([">>", "<<", ">>dbl", ">>rot"]))
    amount = draw(st.one_of(st.none(), st.integers(1, 31))) if kind != ">>rot" else draw(st.integers(1, 31))
    op = "B" if kind == ">>dbl" else draw(st.sampled_from(["B", "AND", "OR", "ASR"]))
    if op in ("B", "ASR") and kind != ">>dbl":
        a = NONE
    return NfpInsn("alu_shf", dst=draw(dst_re), a=a, op=op, b=b, shift=Shift(kind, amount))


@st.composite
def ld_field_insns(draw):
    dst, src = draw(source_pair(True))
    if isinstance(dst, (Imm, Xfer)):
        dst = draw(gpr("AB"))
        src = draw(st.one_of(gpr("B" if dst.bank == "A" else "A"), imm7, xin))
    if isinstance(dst, Gpr) and draw(st.booleans()) and not (isinstance(src, Gpr)):
        dst = Gpr("AB", dst.index)
    shift = draw(st.one_of(st.none(), st.builds(Shift, st.sampled_from([">>", "<<", ">>rot"]), st.integers(1, 31))))
    return NfpInsn("ld_field", dst=dst, b=src, value=draw(st.integers(1, 15)), shift=shift,
                   width=draw(st.sampled_from(["", "w_clr"])))


@st.composite
def immed_insns(draw):
    width = draw(st.sampled_from(["", "w0", "w1", "b0", "b1", "b2", "b3"]))
    bits = 16 if width in ("", "w0", "w1") else 8
    shift = Shift("<<", 8 * draw(st.integers(1, 2))) if width == "" and draw(st.booleans()) else None
    return NfpInsn("immed", dst=draw(st.one_of(gpr("AB"), st.builds(Gpr, st.just("AB"), st.integers(0, 23)), xout,
                                               st.just(NONE))),
                   value=draw(st.integers(0, (1 << bits) - 1)), width=width, invert=draw(st.booleans()), shift=shift)


@st.composite
def mul_insns(draw):
    kind = draw(st.sampled_from(["16x16", "32x32"]))
    step = draw(st.sampled_from(["start", "step1", "step2", "last", "last2"]))
    if step in ("last", "last2"):
        return NfpInsn("mul_step", dst=draw(st.one_of(gpr("AB"), st.builds(Gpr, st.just("AB"), st.integers(0, 23)),
                                                      st.just(NONE))), op=f"{kind}_{step}")
    a, b = draw(source_pair(False))
    return NfpInsn("mul_step", a=a, b=b, op="start" if step == "start" else f"{kind}_{step}")


@st.composite
def branch_insns(draw):
    target = draw(st.integers(0, 0x3FFF))
    form = draw(st.sampled_from(["br", "cond", "bit", "rtn"]))
    if form == "br":
        return NfpInsn("br", op="br", target=target, defer=draw(st.integers(0, 2)))
    if form == "cond":
        return NfpInsn("br", op=draw(st.sampled_from(["beq", "bne", "bmi", "bhs", "blo", "bge", "blt"])),
                       target=target, defer=draw(st.integers(0, 3)))
    if form == "bit":
        return NfpInsn("br_bit", op=draw(st.sampled_from(["br_bset", "br_bclr"])), a=draw(gpr()),
                       value=draw(st.integers(0, 31)), target=target, defer=draw(st.integers(0, 3)))
    return NfpInsn("rtn", a=draw(gpr()), defer=draw(st.integers(0, 3)))


@st.composite
def mem_insns(draw):
    op = draw(st.sampled_from(["read8", "write8_swap", "write32_swap", "read32", "read32_le", "read32_swap",
                               "read_le", "read_swap_le", "add", "add_imm"]))
    a = draw(st.one_of(gpr("A"), st.just(NONE)))
    b = draw(st.one_of(gpr("B"), imm7))
    indirect = draw(st.booleans()) and op != "add"
    count = draw(st.integers(1, 2)) if op == "add" else draw(st.integers(1, 32 if indirect else 8))
    sync = draw(st.sampled_from(["ctx_swap", "sig_done"]))
    direction = "in" if op.startswith("read") else "out"
    return NfpInsn("mem", op=op, dst=Xfer(direction, draw(st.integers(0, 15))), a=a, b=b, value=count, sync=sync,
                   sig=0 if sync == "sig_done" else 1, defer=0 if sync == "sig_done" else draw(st.integers(0, 2)),
                   mode=draw(st.sampled_from(["", "40b_BA", "40b_AB"])), indirect=indirect)


@st.composite
def csr_insns(draw):
    csr = draw(st.sampled_from(["ACT_LM_ADDR0", "ACT_LM_ADDR1", "ACT_LM_ADDR2", "ACT_LM_ADDR3", "PSEUDO_RND_NUM"]))
    if draw(st.booleans()):
        return NfpInsn("csr_rd", op=csr)
    return NfpInsn("csr_wr", op=csr, b=draw(st.one_of(gpr(), imm8)))


FORMS = {"alu": alu_insns(), "alu_shf": shf_insns(), "ld_field": ld_field_insns(), "immed": immed_insns(),
         "mul_step": mul_insns(), "branches": branch_insns(), "mem": mem_insns(), "csr": csr_insns(),
         "nop": st.just(NfpInsn("nop"))}


@pytest.mark.parametrize("form", sorted(FORMS))
def test_random_operands_encode_as_the_driver_emitters(form):
    @settings(max_examples=150, deadline=None, derandomize=True, database=None)
    @given(FORMS[form])
    def check(insn):
        try:
            word = encode(insn)
        except EncodeError:  # forms the driver cannot emit either (e.g. a wide immediate in a restricted field)
            with pytest.raises((AssertionError, KeyError)):
                oracle_encode(insn)
            return
        assert word == oracle_encode(insn), insn
        assert check_valid_no_ecc(word)

    check()
