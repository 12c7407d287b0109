"""The NFP executor: instruction semantics against Python references, and the ISA rules it enforces.

Programs are written in NFP assembly; results leave through the packet (a
`mem[write8_swap]` into the CTM frame) and the verdict (the firmware's exit routine),
so the tests observe only what the card would.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from xdptool.nfp import firmware
from xdptool.nfp.assembler import assemble
from xdptool.nfp.executor import Executor, IsaViolation
from xdptool.nfp.image import Image, link
from xdptool.runtime.maps import MapStore

M32 = 0xFFFFFFFF
PASS, DROP = 2, 1
EXIT = "immed[gprB_0, 0]\n br[fw.exit]\n"


def load32(reg: str, value: int) -> str:
    return f"immed[{reg}, {value & 0xFFFF:#x}]\n immed_w1[{reg}, {value >> 16:#x}]\n"


def store_result(reg: str, offset: int = 0) -> str:
    """Write `reg` (4 bytes, little-endian) at packet offset `offset`."""
    other = "gprB_15" if reg.startswith("gprA") or reg.startswith("*") else "gprA_15"
    return (f"alu[{other}, --, B, *l$index0[0]]\n alu[$out_0, --, B, {reg}]\n"
            f" mem[write8_swap, $out_0, {other}, {offset}, 4], ctx_swap[sig1]\n")


def run(text: str, packet: bytes = bytes(64), contexts: int = 8, thread: int = 0, stack: int = 0):
    insns, labels = assemble(text)
    link(insns, labels, firmware.SYMBOLS)
    image = Image(insns, labels, contexts, stack, 0, [])
    result, stats = Executor(image, MapStore({})).run(packet, thread=thread)
    return result, stats


def result_word(text: str, offset: int = 0) -> int:
    result, _ = run(text + store_result("gprA_2", offset) + "immed[gprA_0, 2]\n" + EXIT)
    return int.from_bytes(result.packet[offset:offset + 4], "little")


u32 = st.integers(0, M32)

REFERENCE = {
    "+": lambda a, b: a + b, "-": lambda a, b: a - b, "AND": lambda a, b: a & b, "OR": lambda a, b: a | b,
    "XOR": lambda a, b: a ^ b, "~AND": lambda a, b: ~a & b, "AND~": lambda a, b: a & ~b,
    "B": lambda a, b: b, "~B": lambda a, b: ~b, "+16": lambda a, b: (a + b) & 0xFFFF,
    "+8": lambda a, b: (a & 0xFF) + b, "B-A": lambda a, b: b - a,
}


@settings(max_examples=40, deadline=None)
@given(u32, u32, st.sampled_from(sorted(REFERENCE)))
def test_alu_operations(a, b, op):
    first = "--" if op in ("B", "~B") else "gprA_1"
    text = load32("gprA_1", a) + load32("gprB_1", b) + f"alu[gprA_2, {first}, {op}, gprB_1]\n"
    assert result_word(text) == REFERENCE[op](a, b) & M32


@settings(max_examples=40, deadline=None)
@given(st.integers(0, (1 << 64) - 1), st.integers(0, (1 << 64) - 1), st.booleans())
def test_carry_chains_make_64_bit_add_and_sub(x, y, subtract):
    lo, hi = ("-", "-carry") if subtract else ("+", "+carry")
    text = (load32("gprA_1", x & M32) + load32("gprB_1", y & M32) + load32("gprA_3", x >> 32)
            + load32("gprB_3", y >> 32) + f"alu[gprA_2, gprA_1, {lo}, gprB_1]\n alu[gprA_4, gprA_3, {hi}, gprB_3]\n"
            + store_result("gprA_2", 0) + store_result("gprA_4", 4) + "immed[gprA_0, 2]\n" + EXIT)
    result, _ = run(text)
    expected = (x - y if subtract else x + y) & ((1 << 64) - 1)
    assert int.from_bytes(result.packet[:8], "little") == expected


def signed(v: int) -> int:
    return v - (1 << 32) if v >> 31 else v


CONDITIONS = {
    "beq": lambda a, b: a == b, "bne": lambda a, b: a != b, "bhs": lambda a, b: a >= b, "blo": lambda a, b: a < b,
    "bge": lambda a, b: signed(a) >= signed(b), "blt": lambda a, b: signed(a) < signed(b),
    "bgt": lambda a, b: signed(a) > signed(b), "ble": lambda a, b: signed(a) <= signed(b),
    "bmi": lambda a, b: (a - b) & 0x80000000 != 0, "bpl": lambda a, b: (a - b) & 0x80000000 == 0,
}


@settings(max_examples=60, deadline=None)
@given(st.one_of(u32, st.sampled_from([0, 1, 0x7FFFFFFF, 0x80000000, M32])),
       st.one_of(u32, st.sampled_from([0, 1, 0x7FFFFFFF, 0x80000000, M32])), st.sampled_from(sorted(CONDITIONS)))
def test_branches_after_subtract(a, b, cond):
    text = (load32("gprA_1", a) + load32("gprB_1", b) + f"alu[--, gprA_1, -, gprB_1]\n {cond}[taken]\n"
            "immed[gprA_0, 2]\n" + EXIT + "taken:\n immed[gprA_0, 1]\n" + EXIT)
    result, _ = run(text)
    assert result.retval == (DROP if CONDITIONS[cond](a, b) else PASS)


SHIFTS = {
    "<<": lambda v, n, hi: (v << n) & M32,
    ">>": lambda v, n, hi: v >> n,
    ">>rot": lambda v, n, hi: ((v >> n) | (v << (32 - n))) & M32,
    ">>dbl": lambda v, n, hi: (((hi << 32) | v) >> n) & M32,
}


@settings(max_examples=60, deadline=None)
@given(u32, u32, st.integers(1, 31), st.sampled_from(sorted(SHIFTS)), st.booleans())
def test_shifts_direct_and_indirect(value, high, n, kind, indirect):
    a = "gprA_3" if kind == ">>dbl" else "--"
    if indirect and kind in ("<<", ">>"):
        text = (load32("gprB_1", value) + load32("gprA_3", high) + f"immed[gprA_5, {n + 32 * 5}]\n"
                f"alu[--, --, B, gprA_5]\n alu_shf[gprA_2, {a}, B, gprB_1, {kind}indirect]\n")
    else:
        text = load32("gprB_1", value) + load32("gprA_3", high) + f"alu_shf[gprA_2, {a}, B, gprB_1, {kind}{n}]\n"
    assert result_word(text) == SHIFTS[kind](value, n, high)


@settings(max_examples=30, deadline=None)
@given(u32, st.integers(1, 31))
def test_asr_takes_its_fill_bit_from_the_previous_alu_result(value, n):
    text = load32("gprB_1", value) + f"alu[--, --, B, gprB_1]\n alu_shf[gprA_2, --, ASR, gprB_1, >>{n}]\n"
    assert result_word(text) == (signed(value) >> n) & M32


@settings(max_examples=30, deadline=None)
@given(u32, u32, st.integers(0, 15), st.sampled_from([0, 8, 16, 24]), st.booleans())
def test_ld_field(old, src, mask, shift, clear):
    name = "ld_field_w_clr" if clear else "ld_field"
    shift_text = f", <<{shift}" if shift else ""
    text = load32("gprA_2", old) + load32("gprB_1", src) + f"{name}[gprA_2, {mask:04b}, gprB_1{shift_text}]\n"
    bytes_mask = sum(0xFF << (8 * k) for k in range(4) if mask >> k & 1)
    expected = ((0 if clear else old) & ~bytes_mask | ((src << shift) & M32) & bytes_mask) & M32
    assert result_word(text) == expected


@settings(max_examples=30, deadline=None)
@given(u32, u32)
def test_mul_step_32x32_gives_both_halves(a, b):
    steps = "".join(f"mul_step[gprA_1, gprB_1, 32x32_step{k}]\n" for k in range(1, 5))
    text = (load32("gprA_1", a) + load32("gprB_1", b) + "mul_step[gprA_1, gprB_1, start]\n" + steps
            + "mul_step[gprA_2, --, 32x32_last]\n mul_step[gprA_4, --, 32x32_last2]\n"
            + store_result("gprA_2", 0) + store_result("gprA_4", 4) + "immed[gprA_0, 2]\n" + EXIT)
    result, _ = run(text)
    assert int.from_bytes(result.packet[:8], "little") == a * b


def test_memory_reads_words_in_both_byte_orders_and_bytes():
    packet = bytes(range(64))
    text = ("alu[gprB_1, --, B, *l$index0[0]]\n mem[read32, $in_0, gprB_1, 4, 1], ctx_swap[sig1]\n"
            "alu[gprA_2, --, B, $in_0]\n mem[read32_swap, $in_0, gprB_1, 4, 1], ctx_swap[sig1]\n"
            "alu[gprA_3, --, B, $in_0]\n mem[read8, $in_0, gprB_1, 9, 3], ctx_swap[sig1]\n alu[gprA_4, --, B, $in_0]\n"
            + store_result("gprA_2", 20) + store_result("gprA_3", 24) + store_result("gprA_4", 28)
            + "immed[gprA_0, 2]\n" + EXIT)
    result, stats = run(text, packet)
    assert result.packet[20:24] == bytes([7, 6, 5, 4])  # read32: big-endian word, stored little-endian
    assert result.packet[24:28] == bytes([4, 5, 6, 7])
    assert result.packet[28:32] == bytes([0, 11, 10, 9])  # read8: 3 bytes big-endian, zero-filled
    assert stats.mem == {"ctm": 6} and stats.swaps == 6


def test_jump_tables_and_returns():
    text = ("immed[gprA_1, 2]\n jump[gprA_1, table]\ntable:\n immed[gprA_0, 0]\n immed[gprA_0, 1]\n"
            " immed[gprA_0, 3]\n immed[gprB_2, back]\n rtn[gprB_2]\n immed[gprA_0, 1]\nback:\n" + EXIT)
    result, _ = run(text)
    assert result.retval == 3


def test_exit_maps_return_codes_above_tx_to_aborted():
    for code, verdict in ((0, 0), (3, 3), (4, 0), (99, 0)):
        result, _ = run(f"immed[gprA_0, {code}]\n" + EXIT)
        assert result.retval == verdict


def test_threads_use_their_own_registers_and_lm():
    text = "immed[gprA_2, 0x55]\n" + store_result("gprA_2") + "immed[gprA_0, 2]\n" + EXIT
    for thread in range(8):
        result, _ = run(text, thread=thread)
        assert result.packet[0] == 0x55


# -- the rules -----------------------------------------------------------------------------------------------
@pytest.mark.parametrize("body, message", [
    ("alu[gprA_1, gprA_2, +, gprA_3]\n", "two sources in bank A"),
    ("immed[gprB_2, 1]\n immed[gprB_3, 1]\n alu[gprA_1, gprB_2, +, gprB_3]\n", "two sources in bank B"),
    ("alu[gprA_1, 1, +, 2]\n", "two sources of class imm"),
    ("alu[gprA_1, *l$index0[1], +, *l$index0[2]]\n", "two sources of class lm"),
    ("alu_shf[gprA_1, --, B, gprB_20, <<1]\n", "16 registers per bank"),
    ("alu[gprA_1, --, B, 0x100]\n", "exceeds 0xff"),
    ("immed[gprB_1, 0]\n mem[read8, $in_0, gprB_1, 0x80, 1], ctx_swap[sig1]\n", "exceeds 0x7f"),
    ("alu_shf[gprA_1, --, B, *l$index0[9], <<1]\n", "LM offset beyond 7"),
    ("alu[gprA_1, --, B, *l$index0[16]]\n", "LM offset beyond 15"),
    ("alu[gprA_1, gprB_1, +, gprAB_2]\n", "as a source"),
    ("br[next], defer[1]\n br[next]\nnext:\n", "in a defer slot"),
    ("beq[next], defer[4]\n nop\n nop\n nop\n nop\nnext:\n", "4 defer slots"),
    ("local_csr_rd[PSEUDO_RND_NUM]\n nop\n", "followed by immed"),
    ("alu[$in_1, --, B, 1]\n", "destination"),
])
def test_static_rules(body, message):
    with pytest.raises(IsaViolation, match=message):
        run(body + "immed[gprA_0, 2]\n" + EXIT)


RUN_TIME_RULES = [  # tests/test_nfp_native.py holds the native code to the same
    ("alu[gprA_1, --, B, gprB_3]\n", "gprB_3 read before it was written"),
    ("alu[gprA_1, --, B, $in_2]\n", "before a memory read filled it"),
    ("immed[gprA_1, 0x40]\n local_csr_wr[ACT_LM_ADDR2, gprA_1]\n alu[gprB_1, --, B, *l$index2[0]]\n",
     "within 3 cycles"),
    ("alu[gprB_1, --, B, *l$index3[0]]\n", "before LM pointer 3 was set"),
    ("immed[gprA_1, 0x800]\n local_csr_wr[ACT_LM_ADDR2, gprA_1]\n nop\n nop\n nop\n"
     " alu[gprB_1, --, B, *l$index2[0]]\n", "outside thread 0's area"),
    ("alu[gprB_1, --, B, *l$index0[0]]\n mem[read8, $in_0, gprB_1, 0, 1], ctx_swap[sig1]\n"
     " alu_shf[gprA_1, --, ASR, gprB_1, >>3]\n", "ASR without a previous ALU result"),
    ("alu[gprB_1, --, B, *l$index0[0]]\n mem[read8, $in_0, gprB_1, 0, 1], ctx_swap[sig1]\n"
     " alu_shf[gprA_1, --, B, gprB_1, >>indirect]\n", "indirect shift without"),
    ("immed[gprA_1, 1]\n immed[gprB_1, 1]\n mul_step[gprA_1, gprB_1, start]\n"
     " mul_step[gprA_1, gprB_1, 32x32_step2]\n", "out of order"),
    ("immed[gprA_1, 1]\n immed[gprB_1, 1]\n mul_step[gprA_1, gprB_1, start]\n nop\n", "interrupted"),
    ("alu[gprB_1, --, B, *l$index0[0]]\n mem[read8, $in_0, gprB_1, 0, 4], sig_done[sig2]\n"
     " alu[gprA_1, --, B, $in_0]\n", "before sig2 arrived"),
]


@pytest.mark.parametrize("body, message", RUN_TIME_RULES)
def test_run_time_rules(body, message):
    with pytest.raises(IsaViolation, match=message):
        run(body + "immed[gprA_0, 2]\n" + EXIT)


def test_lm_pointers_drop_the_low_address_bits():
    """jit.c mem_op_stack writes unaligned addresses and relies on the CSR discarding bits 1:0."""
    text = ("immed[gprA_1, 0x23]\n local_csr_wr[ACT_LM_ADDR2, gprA_1]\n nop\n nop\n nop\n"
            "immed[gprB_3, 0x77]\n alu[*l$index2[0], --, B, gprB_3]\n alu[gprA_2, --, B, *l$index0[8]]\n"
            + store_result("gprA_2") + "immed[gprA_0, 2]\n" + EXIT)
    result, _ = run(text)
    assert result.packet[0] == 0x77


def test_signal_wait_makes_transfer_registers_readable():
    text = ("alu[gprB_1, --, B, *l$index0[0]]\n mem[read32_swap, $in_0, gprB_1, 0, 1], sig_done[sig2]\n"
            "ctx_arb[sig2]\n alu[gprA_2, --, B, $in_0]\n" + store_result("gprA_2", 8) + "immed[gprA_0, 2]\n" + EXIT)
    result, _ = run(text, bytes(range(64)))
    assert result.packet[8:12] == bytes([0, 1, 2, 3])


def test_memory_outside_ctm_and_emem_faults_the_packet():
    result, _ = run("immed[gprB_1, 0x40]\n mem[read8, $in_0, gprB_1, 0, 4], ctx_swap[sig1]\n immed[gprA_0, 2]\n" + EXIT)
    assert result.verdict == "XDP_ABORTED" and "outside CTM and EMEM" in result.fault.message


def test_image_needing_more_lm_than_its_contexts_leave_is_refused():
    with pytest.raises(IsaViolation, match="B of LM per thread"):
        run("immed[gprA_0, 2]\n" + EXIT, contexts=8, stack=512)
