"""The firmware ABI (xdptool/nfp/abi.py) as the executor enforces it, on hand-written card images.

What the firmware hands the program (the stack in A22 and LM pointer 0, the packet
vector at LM pointer 1), what a helper routine keeps (GPRs 12-22) and what it
leaves poisoned, and how the verdict word in A0 becomes an XDP action.
"""

from __future__ import annotations

import pytest

from xdptool.elf.model import MapDef, MapType
from xdptool.nfp import abi
from xdptool.nfp.assembler import assemble
from xdptool.nfp.executor import Executor
from xdptool.nfp.image import Image, link
from xdptool.runtime.maps import MapStore

ARRAY = {"m": MapDef("m", MapType.ARRAY, 4, 8, 4)}
# write A0 to the packet, then leave with the verdict word for PASS (bits 16 and 20)
OUT = ("alu[$out_0, --, B, gprA_{reg}]\n mem[write8_swap, $out_0, gprA_9, 0, 4], ctx_swap[sig1]\n"
       "immed[gprA_0, 0x11, <<16]\n br[done]\n")


def run(text: str, packet: bytes = bytes(64), maps=None):
    insns, labels = assemble(text)
    link(insns, labels, abi.SYMBOLS, abi.START_OFF)
    image = Image(insns, labels, abi.THREADS, 0, 0, list(maps or {}), allocator="kernel",
                  load_address=abi.START_OFF, abi="card")
    store = MapStore(maps or {})
    return Executor(image, store).run(packet, thread=1)[0]


def word(result, offset: int = 0) -> int:
    return int.from_bytes(result.packet[offset:offset + 4], "little")


def test_entry_state_is_the_stack_in_a22_and_lm_pointer_0():
    text = ("immed[gprB_3, 0x77]\n alu[*l$index0[1], --, B, gprB_3]\n alu[gprA_9, --, B, *l$index1[2]]\n"
            "alu[gprB_4, --, B, gprA_22]\n alu[gprA_5, --, B, *l$index0[1]]\n" + OUT.format(reg=22))
    result = run(text, bytes(range(64)))
    assert result.retval == 2
    assert word(result) == 1024  # thread 1's stack opens its 1 KB of LM (4 contexts)


def test_packet_vector_length_needs_the_intro_mask():
    text = ("alu[gprA_9, --, B, *l$index1[2]]\n immed[gprB_22, 0x3fff]\n"
            "alu[gprA_2, gprB_22, AND, *l$index1[0]]\n" + OUT.format(reg=2))
    assert word(run(text, bytes(60))) == 60


LOOKUP = ("immed[gprA_2, 0]\n alu[gprA_0, --, B, gprA_2]\n immed[gprB_0, back]\n"
          "immed[gprA_6, 0]\n alu[*l$index0[0], --, B, gprA_6]\n")


@pytest.mark.parametrize("reg, survives", [(12, True), (16, True), (19, True), (11, False), (2, False), (23, False)])
def test_a_routine_keeps_gprs_12_to_22_and_poisons_the_rest(reg, survives):
    text = (f"immed[gprA_{reg}, 0x1234]\n" + LOOKUP + " br[fw.map_lookup]\nback:\n"
            "alu[gprA_9, --, B, *l$index1[2]]\n" + OUT.format(reg=reg))
    result = run(text, maps=ARRAY)
    assert word(result) == (0x1234 if survives else abi.POISON)
    assert (reg in abi.PRESERVED) == survives


def test_lookup_returns_r0_in_gprs_0_and_1_of_both_banks():
    text = (LOOKUP + " br[fw.map_lookup]\nback:\n alu[gprA_9, --, B, *l$index1[2]]\n"
            "alu[gprA_3, gprA_0, XOR, gprB_0]\n alu[gprA_4, gprA_1, OR, gprB_1]\n"
            "alu[gprA_5, gprA_3, OR, gprB_1]\n alu[$out_1, --, B, gprA_0]\n"
            "mem[write8_swap, $out_1, gprA_9, 4, 4], ctx_swap[sig1]\n" + OUT.format(reg=5))
    result = run(text, maps=ARRAY)
    assert word(result) == 0  # A0 == B0 and the high word is 0 in both banks
    assert word(result, 4) >= 0x8000_0000  # an EMEM address


@pytest.mark.parametrize("byte, action", [(0x11, 2), (0x22, 1), (0x44, 3), (0x82, 0)])
def test_the_verdict_word_picks_the_xdp_action(byte, action):
    assert run(f"immed[gprA_0, {byte:#x}, <<16]\n br[done]\n").retval == action
    assert abi.xdp_code(byte << abi.VERDICT_SHIFT) == action
