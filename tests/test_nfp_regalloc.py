"""The NFP register allocator on synthetic programs, with the executor catching any mistake.

Each program is virtual-register code; it runs once unallocated (the executor's
virtual mode: no bank rules) and once allocated (every ISA rule enforced), and
both must leave the same bytes in the packet.
"""

from __future__ import annotations

import random

import pytest

from xdptool.errors import XdpError
from xdptool.nfp import abi, firmware
from xdptool.nfp.executor import Executor, IsaViolation
from xdptool.nfp.image import Image, link
from xdptool.nfp.isa import NfpInsn, alu, branch, immed, mov
from xdptool.nfp.regalloc import allocate, source_pairs
from xdptool.nfp.registers import Gpr, Imm, Lm, VReg, Xfer
from xdptool.runtime.maps import MapStore


class Builder:
    def __init__(self):
        self.code: list[NfpInsn] = []
        self.labels: dict[str, int] = {}
        self.ids = iter(range(1, 1 << 20))
        self.base = self.new()
        self.code.append(mov(self.base, Lm(0, 0)))

    def new(self) -> VReg:
        return VReg(next(self.ids))

    def load(self, offset: int) -> VReg:
        v = self.new()
        self.code.append(NfpInsn("mem", op="read32_swap", dst=Xfer("in", 0), a=self.base, b=Imm(offset), value=1,
                                 sync="ctx_swap", sig=1))
        self.code.append(mov(v, Xfer("in", 0)))
        return v

    def store(self, offset: int, v: VReg) -> None:
        self.code.append(mov(Xfer("out", 0), v))
        self.code.append(NfpInsn("mem", op="write8_swap", dst=Xfer("out", 0), a=self.base, b=Imm(offset), value=4,
                                 sync="ctx_swap", sig=1))

    def add(self, a, b) -> VReg:
        v = self.new()
        self.code.append(alu(v, a, "+", b))
        return v

    def finish(self) -> tuple[list[NfpInsn], dict[str, int]]:
        self.code += [mov(firmware.A0, Imm(2)), mov(firmware.B0, Imm(0)),
                      NfpInsn("br", op="br", target="fw.exit", extra_uses=(firmware.A0, firmware.B0),
                              meta={"fw": "exit"})]
        return self.code, self.labels


def run_both(code, labels, packet: bytes, contexts="auto"):
    virtual = Image(link([i.copy() for i in code], dict(labels), firmware.SYMBOLS), dict(labels), 4, 0, 0, [])
    expected, _ = Executor(virtual, MapStore({}), virtual=True).run(packet)
    alloc = allocate(code, labels, contexts)
    image = Image(link(alloc.insns, alloc.labels, firmware.SYMBOLS), alloc.labels, alloc.contexts, 0,
                  alloc.spill_slots, [])
    results = [Executor(image, MapStore({})).run(packet, thread=t)[0] for t in range(image.contexts)]
    for result in results:
        assert result.fault is None
        assert result.packet == expected.packet and result.retval == expected.retval
    return alloc


PACKET = bytes(random.Random(3).randrange(256) for _ in range(128))


def test_triangle_of_sources_needs_a_copy_into_the_other_bank():
    b = Builder()
    x, y, z = b.load(0), b.load(1), b.load(2)
    s1, s2, s3 = b.add(x, y), b.add(y, z), b.add(z, x)  # x-y, y-z, z-x: an odd cycle
    b.store(64, b.add(b.add(s1, s2), s3))
    code, labels = b.finish()
    alloc = run_both(code, labels, PACKET)
    assert alloc.stats["bank_fixups"] >= 1
    assert alloc.contexts == 8


def test_even_cycle_needs_no_copy():
    b = Builder()
    w, x, y, z = (b.load(k) for k in range(4))
    b.store(64, b.add(b.add(b.add(w, x), b.add(y, z)), b.add(b.add(x, y), b.add(z, w))))
    code, labels = b.finish()
    alloc = run_both(code, labels, PACKET)
    assert alloc.stats["bank_fixups"] == 0


def test_every_allocated_instruction_reads_two_banks():
    b = Builder()
    values = [b.load(k) for k in range(6)]
    total = values[0]
    for v in values[1:]:
        total = b.add(total, v)
    b.store(64, total)
    code, labels = b.finish()
    alloc = run_both(code, labels, PACKET)
    for insn in alloc.insns:
        pair = source_pairs(insn)
        if pair and all(isinstance(r, Gpr) for r in pair):
            assert pair[0].bank != pair[1].bank


def wide_sum(b: Builder, count: int) -> None:
    """`count` values loaded (each load swaps context) and all live until they are summed."""
    values = [b.load(k) for k in range(count)]
    total = b.add(values[0], values[1])
    for v in values[2:]:
        total = b.add(total, v)
    b.store(100, total)


def test_pressure_beyond_16_per_bank_takes_4_contexts():
    b = Builder()
    wide_sum(b, 40)
    code, labels = b.finish()
    alloc = run_both(code, labels, PACKET)
    assert alloc.contexts == 4 and alloc.spill_slots == 0
    assert max(alloc.used.values()) > 16


def test_pressure_beyond_24_per_bank_spills_to_lm():
    """4 contexts give a thread 32 + 32 registers, of which BPF owns 24 per bank (abi.py)."""
    b = Builder()
    wide_sum(b, 54)
    code, labels = b.finish()
    alloc = run_both(code, labels, PACKET)
    assert alloc.contexts == 4 and alloc.spill_slots > 0


def test_forcing_8_contexts_spills_instead():
    b = Builder()
    wide_sum(b, 36)
    code, labels = b.finish()
    alloc = run_both(code, labels, PACKET, contexts="8")
    assert alloc.contexts == 8 and alloc.spill_slots > 0 and max(alloc.used.values()) <= 16


def test_too_much_pressure_is_a_clear_error():
    b = Builder()
    wide_sum(b, 100)
    code, labels = b.finish()
    with pytest.raises(XdpError, match="register pressure too high"):
        allocate(code, labels, "8")


def test_moves_coalesce_and_loops_keep_values_alive():
    b = Builder()
    counter, total = b.new(), b.new()
    b.code += [immed(counter, 10), immed(total, 0)]
    b.labels["loop"] = len(b.code)
    step = b.load(5)
    copy = b.new()
    b.code += [mov(copy, step), alu(total, total, "+", copy), alu(counter, counter, "-", Imm(1)),
               branch("bne", "loop")]
    b.store(64, total)
    code, labels = b.finish()
    alloc = run_both(code, labels, PACKET)
    assert alloc.stats["coalesced_moves"] >= 1


def call_keeping(declared: bool):
    """A value loaded before a firmware routine and stored after it; the call declares the registers
    the routine clobbers (abi.py) when `declared`."""
    b = Builder()
    kept = b.load(7)
    ret = "after"
    b.code += [mov(firmware.A0, Imm(0)), immed(firmware.B0, 0)]
    b.code[-1].target = ret
    clobbered = tuple(Gpr(bank, n) for n in abi.CLOBBERED if n for bank in "AB") if declared else ()
    b.code.append(NfpInsn("br", op="br", target="fw.adjust_head", extra_uses=(firmware.A0, firmware.B0),
                          extra_defs=(firmware.A0, firmware.B0) + clobbered, meta={"fw": "adjust_head"}))
    b.labels[ret] = len(b.code)
    b.store(64, kept)
    return b.finish()


def test_values_live_across_a_firmware_call_stay_in_the_registers_routines_keep():
    code, labels = call_keeping(declared=True)
    alloc = run_both(code, labels, PACKET)
    call = next(i for i, insn in enumerate(alloc.insns) if insn.meta.get("fw") == "adjust_head")
    kept = [r for r in alloc.insns[call + 1].uses() if isinstance(r, Gpr)]
    assert kept and all(r.index in abi.PRESERVED for r in kept)


def test_the_executor_clobbers_what_a_routine_does_not_keep():
    """Told only about A0/B0, the allocator keeps the value in a low register; the routine's
    clobbering (abi.CLOBBERED) makes reading it fail."""
    code, labels = call_keeping(declared=False)
    with pytest.raises(IsaViolation, match="read before it was written"):
        run_both(code, labels, PACKET)


# -- random programs -----------------------------------------------------------------------------------
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402

OPS = ["+", "-", "AND", "OR", "XOR", "~AND", "AND~", "+16"]


@st.composite
def random_program(draw):
    """Loads, then ALU operations over random earlier values (the same value twice included),
    sometimes a loop, then a store of several results."""
    b = Builder()
    values = [b.load(k) for k in range(draw(st.integers(2, 12)))]
    for _ in range(draw(st.integers(1, 60))):
        kind = draw(st.integers(0, 9))
        x = draw(st.sampled_from(values))
        if kind == 0:
            values.append(b.load(draw(st.integers(0, 63))))
        elif kind == 1:
            v = b.new()
            b.code.append(alu(v, x, draw(st.sampled_from(OPS)), Imm(draw(st.integers(0, 255)))))
            values.append(v)
        else:
            v = b.new()
            b.code.append(alu(v, x, draw(st.sampled_from(OPS)), draw(st.sampled_from(values))))
            values.append(v)
    for k, v in enumerate(draw(st.lists(st.sampled_from(values), min_size=1, max_size=8))):
        b.store(64 + 4 * k, v)
    return b.finish()


@settings(max_examples=60, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(random_program(), st.sampled_from(["auto", "4", "8"]))
def test_random_programs_allocate_correctly(program, contexts):
    code, labels = program
    try:
        run_both(code, labels, PACKET, contexts)
    except XdpError as exc:  # only acceptable failure: more spills than the direct LM slots
        assert "register pressure too high" in str(exc)


def test_one_value_as_both_sources_gets_a_copy():
    b = Builder()
    x = b.load(3)
    b.store(64, b.add(x, x))
    code, labels = b.finish()
    alloc = run_both(code, labels, PACKET)
    assert alloc.stats["bank_fixups"] == 1
