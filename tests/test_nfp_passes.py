"""The passes around allocation: merged memory reads, defer slots, dead-code elimination, verifier facts."""

from __future__ import annotations

import random

from test_nfp_lower import program, same_outcome
from xdptool.nfp.assembler import assemble as nfp_assemble
from xdptool.nfp.engine import NfpEngine
from xdptool.nfp.isa import NfpInsn, alu, immed
from xdptool.nfp.liveness import eliminate_dead_code
from xdptool.nfp.printer import format_insn
from xdptool.nfp.registers import NONE, VReg
from xdptool.nfp.schedule import fill_defer_slots
from xdptool.runtime.maps import MapStore
from xdptool.runtime.vm import VmEngine

LOADS = """
    r2 = *(u32 *)(r1 + 0)
    r3 = *(u32 *)(r1 + 4)
    r4 = r2
    r4 += 40
    if r4 > r3 goto short
    r5 = *(u8 *)(r2 + 12)
    r6 = *(u16 *)(r2 + 13)
    r7 = *(u32 *)(r2 + 15)
    r8 = *(u64 *)(r2 + 20)
    r9 = *(u16 *)(r2 + 30)
    r5 += r6
    r5 += r7
    r5 += r8
    r5 += r9
    *(u64 *)(r2 + 0) = r5
    r0 = 2
    exit
short:
    r0 = 1
    exit
"""


def test_loads_through_one_pointer_become_one_read():
    prog = program(LOADS)
    nfp = NfpEngine(prog, MapStore({}), allocator="xdptool")
    reads = [i for i in nfp.image.insns if i.kind == "mem" and i.op == "read32_swap"]
    assert len(reads) == 1 and reads[0].value == (32 - 12) // 4 and nfp.image.stats["merged_loads"] == 4
    vm = VmEngine(prog, MapStore({}))
    rng = random.Random(9)
    for _ in range(100):
        same_outcome(vm, nfp, bytes(rng.randrange(256) for _ in range(rng.choice([20, 40, 64]))))
    assert nfp.last_stats.mem.get("ctm", 0) <= 2  # the merged read and the store


def test_unconditional_branches_take_up_to_two_instructions_along():
    insns, labels = nfp_assemble("""
        immed[gprA_1, 1]
        immed[gprA_2, 2]
        immed[gprA_3, 3]
        br[out]
    out:
        nop
    """)
    out, labels = fill_defer_slots(insns, labels)
    assert [format_insn(i) for i in out] == ["immed[gprA_1, 0x1]", "br[out], defer[2]", "immed[gprA_2, 0x2]",
                                             "immed[gprA_3, 0x3]", "nop"]
    assert labels == {"out": 4}


def test_defer_slots_do_not_swallow_a_label_or_a_condition():
    insns, labels = nfp_assemble("""
        immed[gprA_1, 1]
    here:
        immed[gprA_2, 2]
        br[here]
        alu[--, gprA_1, -, gprB_1]
        beq[here]
    """)
    out, _ = fill_defer_slots(insns, labels)
    assert out[1].kind == "br" and out[1].defer == 1  # only the labelled instruction goes along
    assert out[-1].kind == "br" and out[-1].defer == 0  # conditional branches keep theirs empty


def test_dead_code_elimination_keeps_condition_codes_and_drops_unread_values():
    a, b, dead = VReg(1), VReg(2), VReg(3)
    code = [immed(a, 1), immed(b, 2), immed(dead, 3), alu(NONE, a, "-", b), NfpInsn("br", op="beq", target="x"),
            NfpInsn("br", op="br", target="fw.exit", meta={"fw": "exit"})]
    out, _ = eliminate_dead_code(code, {"x": 5})
    assert [i.dst for i in out if i.kind == "immed"] == [a, b]


def test_verifier_facts_narrow_a_shift_to_one_half():
    text = """
    r2 = *(u32 *)(r1 + 0)
    r3 = *(u32 *)(r1 + 4)
    r4 = r2
    r4 += 2
    if r4 > r3 goto short
    r5 = *(u8 *)(r2 + 0)
    r5 <<= 8
    r6 = *(u8 *)(r2 + 1)
    r5 |= r6
    *(u16 *)(r2 + 0) = r5
short:
    r0 = 2
    exit
    """
    nfp = NfpEngine(program(text), MapStore({}), allocator="xdptool")
    funnel = [i for i in nfp.image.insns if i.kind == "alu_shf" and i.shift and i.shift.kind == ">>dbl"]
    assert not funnel, "the verifier proves r5 < 2^32, so no 64-bit shift is needed"


def test_a_branch_does_not_take_another_branch_s_defer_slot():
    insns, labels = nfp_assemble("""
        immed[gprA_1, 1]
        immed[gprA_2, 2]
        br[out]
        br[out]
    out:
        nop
    """)
    out, _ = fill_defer_slots(insns, labels)
    assert [i.kind for i in out] == ["br", "immed", "immed", "br", "nop"] and out[3].defer == 0
