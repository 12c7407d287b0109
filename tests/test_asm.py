"""The assembler on hand-written text: each syntactic form, labels, and the error messages.

Expected encodings are written out from the ISA (RFC 9669 opcode tables) by hand,
not produced by the code under test.
"""

from __future__ import annotations

import pytest

from xdptool.ebpf.asm import assemble
from xdptool.ebpf.insn import encode
from xdptool.errors import AsmError, XdpError


def hexcode(text: str, **kw) -> str:
    return encode(assemble(text, **kw)).hex()


# (text, expected bytes as hex) — opcode, regs (src<<4|dst), off (LE16), imm (LE32)
LLVM_FORMS = [
    ("r0 += r1", "0f10000000000000"),
    ("w1 = -5", "b4010000fbffffff"),
    ("r1 = *(u32 *)(r2 + 4)", "6121040000000000"),
    ("w1 = *(u32 *)(r2 + 4)", "6121040000000000"),
    ("r1 = *(s8 *)(r2 + 4)", "9121040000000000"),
    ("*(u64 *)(r10 - 8) = r1", "7b1af8ff00000000"),
    ("*(u32 *)(r1 + 8) = 7", "6201080007000000"),
    ("if r1 s> 2 goto +1 <LBB0_7>", "6501010002000000"),
    ("if w1 & w2 goto -2", "4e21feff00000000"),
    ("goto +3", "0500030000000000"),
    ("gotol +300", "060000002c010000"),
    ("call 1", "8500000001000000"),
    ("call -3", "85100000fdffffff"),
    ("callx r2", "8d00000002000000"),
    ("exit", "9500000000000000"),
    ("r1 = 0 ll", "18010000000000000000000000000000"),
    ("r1 = -1 ll", "18010000ffffffff00000000ffffffff"),
    ("r1 = 0x1122334455667788 ll", "1801000088776655" + "0000000044332211"),
    ("ld_pseudo r1, 1, 42", "181100002a0000000000000000000000"),
    ("ld_pseudo\tr1, 2, 0x100000007", "1821000007000000" + "0000000001000000"),
    ("r1 = le16 r1", "d401000010000000"),
    ("r1 = be64 r1", "dc01000040000000"),
    ("r1 = bswap16 r1", "d701000010000000"),
    ("r1 s/= r2", "3f21010000000000"),
    ("r1 s%= 3", "9701010003000000"),
    ("r1 = (s8)r2", "bf21080000000000"),
    ("w1 = (s16)w2", "bc21100000000000"),
    ("w1 = -w1", "8401000000000000"),
    ("r3 s>>= 63", "c70300003f000000"),
    ("lock *(u32 *)(r1 - 8) += r2", "c321f8ff00000000"),
    ("lock *(u64 *)(r1 - 8) |= r2", "db21f8ff40000000"),
    ("r2 = atomic_fetch_add((u64 *)(r1 - 8), r2)", "db21f8ff01000000"),
    ("w2 = atomic_fetch_or((u32 *)(r1 - 8), w2)", "c321f8ff41000000"),
    ("r2 = xchg_64(r1 - 8, r2)", "db21f8ffe1000000"),
    ("w2 = xchg32_32(r1 - 8, w2)", "c321f8ffe1000000"),
    ("r0 = cmpxchg_64(r1 - 8, r0, r2)", "db21f8fff1000000"),
    ("w0 = cmpxchg32_32(r1 - 8, w0, w2)", "c321f8fff1000000"),
    ("r0 = *(u8 *)skb[5]", "3000000005000000"),
    ("r0 = *(u16 *)skb[r2]", "4820000000000000"),
    ("   12:\tr0 += r1", "0f10000000000000"),
    ("   12:\t0f 10 00 00 00 00 00 00\tr0 += r1", "0f10000000000000"),
]

CONFORMANCE_FORMS = [
    ("mov32 %r0, 0", "b400000000000000"),
    ("add %r1, %r2", "0f21000000000000"),
    ("ldxw %r0, [%r1+4]", "6110040000000000"),
    ("stxdw [%r10-8], %r1", "7b1af8ff00000000"),
    ("stw [%r1+2], 0x1234", "6201020034120000"),
    ("stb [%r1], -1", "72010000ffffffff"),
    ("lddw %r0, 0x1122334455667788", "1800000088776655" + "0000000044332211"),
    ("jeq %r1, 0x11, +3", "1501030011000000"),
    ("ja +1", "0500010000000000"),
    ("be16 %r0", "dc00000010000000"),
    ("le32 %r0", "d400000020000000"),
    ("swap64 %r3", "d703000040000000"),
    ("neg32 %r0", "8400000000000000"),
    ("sdiv %r1, -3", "37010100fdffffff"),
    ("smod32 %r1, %r2", "9c21010000000000"),
    ("movsx1664 %r0, %r1", "bf10100000000000"),
    ("ldxsh %r0, [%r1-2]", "8910feff00000000"),
    ("lock add32 [%r10-4], %r1", "c31afcff00000000"),
    ("lock fetch xor [%r10-8], %r3", "db3af8ffa1000000"),
    ("lock xchg [%r10-8], %r1", "db1af8ffe1000000"),
    ("lock cmpxchg32 [%r10-8], %r1", "c31af8fff1000000"),
    ("call 1", "8500000001000000"),
    ("call %r2", "8d02000000000000"),
    ("call runtime 7", "8520000007000000"),
    ("ldabsh 12", "280000000c000000"),
    ("ldindb %r2, 3", "5020000003000000"),
    ("exit # done", "9500000000000000"),
]


@pytest.mark.parametrize("text,expected", LLVM_FORMS, ids=[t for t, _ in LLVM_FORMS])
def test_llvm_form(text, expected):
    assert hexcode(text) == expected
    if not text.lstrip()[:1].isdigit():
        assert hexcode(text, syntax="llvm") == expected


@pytest.mark.parametrize("text,expected", CONFORMANCE_FORMS, ids=[t for t, _ in CONFORMANCE_FORMS])
def test_conformance_form(text, expected):
    assert hexcode(text, syntax="conformance") == expected
    assert hexcode(text) == expected


def test_labels_count_slots_and_ld_imm64_takes_two():
    text = """
        lddw %r0, 1
        ja end          # slot 2 -> slot 5: +2
        lddw %r1, 2
    end:
        exit
    back: jne %r0, 0, end   # slot 6 -> slot 5: -2
        ja32 back       # slot 7 -> slot 6: -2 in imm
        call local back # slot 8 -> slot 6: imm -3, src 1
    """
    insns = assemble(text)
    assert [i.pc for i in insns] == [0, 2, 3, 5, 6, 7, 8]
    assert insns[1].off == 2
    assert insns[4].off == -2
    assert insns[5].imm == -2 and insns[5].off == 0
    assert (insns[6].src, insns[6].imm) == (1, -3)


def test_jump_to_exit_without_label_goes_to_the_first_exit():
    insns = assemble("jne %r0, 0, exit\nmov %r0, 1\nexit\nmov %r0, 2\nexit")
    assert insns[0].off == 1


def test_llvm_labels_and_symbol_headers():
    text = """
0000000000000000 <prog>:
       0:	if r1 == 0 goto LBB0_2
       1:	call sub
LBB0_2:
       2:	exit
sub:
       3:	r0 = 0
       4:	exit
"""
    insns = assemble(text)
    assert insns[0].off == 1
    assert (insns[1].src, insns[1].imm) == (1, 1)


def test_listing_raw_bytes_must_agree_with_the_text():
    assert hexcode("0:\t3f 21 01 00 00 00 00 00\tr1 /= r2") == "3f21010000000000"  # llvm-objdump 14's sdiv
    with pytest.raises(AsmError, match="line 1: the text encodes to 0f 10 .* but the raw bytes are 07 10"):
        assemble("0:\t07 10 00 00 00 00 00 00\tr0 += r1")
    assert hexcode("3:\t3e 21 fe ff 00 00 00 00\t<unknown>") == "3e21feff00000000"
    with pytest.raises(AsmError, match="does not show the raw bytes"):
        assemble("3:\t<unknown>")


# (text, syntax, message fragment)
ERRORS = [
    ("foo %r1", "auto", "line 1: unknown mnemonic 'foo'"),
    ("mov %r11, 1", "auto", "invalid register %r11"),
    ("r11 = 1", "auto", "invalid register r11"),
    ("mov r1, 1", "conformance", "invalid register r1"),
    ("mov32 %r0, 4294967296", "auto", "immediate 4294967296 out of range for 32 bits"),
    ("mov32 %r0, -2147483649", "auto", "immediate -2147483649 out of range for 32 bits"),
    ("w1 = 2147483648", "auto", "immediate 2147483648 out of range for 32 bits"),
    ("r1 = 18446744073709551616 ll", "auto", "out of range for 64 bits"),
    ("exit\nja NOT_A_LABEL", "auto", "line 2: undefined label NOT_A_LABEL"),
    ("add %r1, %r2, %r3", "auto", "add: expected 2 operands, got 3"),
    ("exit 1", "auto", "exit: expected 0 operands, got 1"),
    ("ja +32768", "auto", "offset +32768 out of range for 16 bits"),
    ("ldxw %r0, [%r1+40000]", "auto", "offset 40000 out of range for 16 bits"),
    ("w1 += r2", "auto", "register widths differ: w1, r2"),
    ("r1 = le16 r2", "auto", "byte swap must name one register twice"),
    ("r1 = = 3", "auto", "cannot parse 'r1 = = 3'"),
    ("add %r1, %r2", "llvm", "cannot parse 'add %r1, %r2'"),
    ("r1 += 1", "conformance", "unknown mnemonic 'r1'"),
    ("x:\nx:\nexit", "auto", "line 2: duplicate label 'x' (first defined on line 1)"),
    ("lock fetch xchg [%r10-8], %r1", "auto", "'fetch' does not apply"),
    ("lock nand [%r10-8], %r1", "auto", "unknown atomic operation 'nand'"),
    ("call bogus 1", "auto", "invalid call mode 'bogus'"),
    ("jeq %r1, 1, @x", "auto", "invalid jump target '@x'"),
    ("mov %r1, 1x", "auto", "invalid number '1x'"),
    ("r2 = atomic_fetch_add((u64 *)(r1 - 8), r3)", "auto", "return into its source register"),
    ("r1 = *(s64 *)(r2 + 0)", "auto", "no sign-extending 64-bit load"),
    ("r3 = *(u8 *)skb[1]", "auto", "always write r0"),
]


@pytest.mark.parametrize("text,syntax,fragment", ERRORS, ids=[e[2][:40] for e in ERRORS])
def test_error_names_line_and_reason(text, syntax, fragment):
    with pytest.raises(AsmError) as info:
        assemble(text, syntax=syntax)
    message = str(info.value)
    assert fragment in message
    assert message.startswith("line ") and info.value.line is not None
    assert "\n" not in message


def test_far_label_does_not_fit_a_16_bit_offset():
    text = "ja far\n" + "mov %r0, 0\n" * 40000 + "far:\nexit"
    with pytest.raises(AsmError, match="line 1: offset to label far: 40000 out of range for 16 bits"):
        assemble(text)
    insns = assemble(text.replace("ja far", "ja32 far"))
    assert insns[0].imm == 40000


def test_first_line_numbers_errors_and_bad_syntax_name():
    with pytest.raises(AsmError, match="^line 12: unknown mnemonic"):
        assemble("\n\nnope", first_line=10)
    with pytest.raises(XdpError, match="unknown assembly syntax 'intel'"):
        assemble("exit", syntax="intel")


def test_two_sections_in_one_listing_are_refused():
    listing = "Disassembly of section xdp:\n0:\texit\nDisassembly of section .text:\n0:\texit\n"
    with pytest.raises(AsmError, match="line 3: .*more than one section"):
        assemble(listing)
