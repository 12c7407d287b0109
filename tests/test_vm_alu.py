"""ALU, jump, load/store and atomic semantics of the reference VM.

Edge cases whose results follow from RFC 9669 (worked out by hand in the table),
then randomized differential tests against the kernel: the same instruction on
random operands must give the kernel's r0 (the kernel runs it wrapped as an XDP
program by xdptool.kernel.conformance).
"""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from xdptool.ebpf.asm import assemble
from xdptool.ebpf.insn import Instruction, alu, exit_insn, ld_imm64
from xdptool.ebpf.opcodes import JMP_COND_SYMBOL, AluOp, AtomicOp, Cls, Mode, Size, Src
from xdptool.runtime.vm import VmFault, run_raw

M64 = (1 << 64) - 1


def conf(text: str, mem: bytes = b"") -> int:
    return run_raw(assemble(text, syntax="conformance"), mem)


EDGES = [
    # division and modulo by zero (RFC 9669 4.1): quotient 0, remainder = dividend
    ("mov %r0, 10\nmov %r1, 0\ndiv %r0, %r1\nexit", 0),
    ("mov %r0, 10\nmov %r1, 0\nmod %r0, %r1\nexit", 10),
    ("lddw %r0, 0xffffffffffffffff\nmov32 %r1, 0\ndiv32 %r0, %r1\nexit", 0),
    ("lddw %r0, 0x100000005\nmov32 %r1, 0\nmod32 %r0, %r1\nexit", 5),  # upper half zeroed
    ("mov %r0, -7\nmov %r1, 0\nsdiv %r0, %r1\nexit", 0),
    ("mov %r0, -7\nmov %r1, 0\nsmod %r0, %r1\nexit", (-7) & M64),
    # signed division truncates toward zero; the remainder takes the dividend's sign
    ("mov %r0, -7\nsdiv %r0, 2\nexit", (-3) & M64),
    ("mov %r0, -7\nsmod %r0, 2\nexit", (-1) & M64),
    ("mov %r0, 7\nsmod %r0, -2\nexit", 1),
    ("lddw %r0, 0x8000000000000000\nsdiv %r0, -1\nexit", 0x8000000000000000),
    ("mov32 %r0, -7\nsdiv32 %r0, 2\nexit", 0xFFFFFFFD),
    # shift amounts are masked to the width
    ("mov %r0, 1\nmov %r1, 65\nlsh %r0, %r1\nexit", 2),
    ("mov32 %r0, 1\nmov32 %r1, 33\nlsh32 %r0, %r1\nexit", 2),
    ("mov %r0, -16\narsh %r0, 2\nexit", (-4) & M64),
    ("mov32 %r0, -16\narsh32 %r0, 2\nexit", 0xFFFFFFFC),
    ("mov %r0, -16\nrsh32 %r0, 2\nexit", 0x3FFFFFFC),
    # 32-bit results are zero-extended; mov32 of a negative immediate too
    ("mov32 %r0, -1\nexit", 0xFFFFFFFF),
    ("mov %r0, -1\nadd32 %r0, 1\nexit", 0),
    ("mov %r0, 1\nneg %r0\nexit", M64),
    ("mov32 %r0, 1\nneg32 %r0\nexit", 0xFFFFFFFF),
    # sign extension
    ("mov %r1, 0x80\nmovsx864 %r0, %r1\nexit", (-128) & M64),
    ("mov %r1, 0x8000\nmovsx1632 %r0, %r1\nexit", 0xFFFF8000),
    ("lddw %r1, 0x80000000\nmovsx3264 %r0, %r1\nexit", 0xFFFFFFFF80000000),
    # byte order
    ("lddw %r0, 0x1122334455667788\nbe16 %r0\nexit", 0x8877),
    ("lddw %r0, 0x1122334455667788\nle32 %r0\nexit", 0x55667788),
    ("lddw %r0, 0x1122334455667788\nbswap64 %r0\nexit", 0x8877665544332211),
    # JMP32 compares the low halves only; signed jumps see the sign bit
    ("lddw %r1, 0x100000000\nmov %r0, 0\njeq32 %r1, 0, +1\nexit\nmov %r0, 1\nexit", 1),
    ("mov %r1, -1\nmov %r0, 0\njsgt %r1, 0, +1\nmov %r0, 1\nexit", 1),
    ("mov %r1, -1\nmov %r0, 0\njgt %r1, 0, +1\nmov %r0, 1\nexit", 0),
    # atomics: 32-bit cmpxchg zero-extends r0; fetch variants return the old value
    ("lddw %r0, 0xffffffff00000005\nstxdw [%r10-8], %r0\nmov %r1, 9\nlock cmpxchg32 [%r10-8], %r1\nexit", 5),
    ("mov %r1, 3\nstxdw [%r10-8], %r1\nmov %r1, 4\nlock fetch add [%r10-8], %r1\nldxdw %r0, [%r10-8]\nlsh %r0, 8\nor %r0, %r1\nexit", 0x703),
    ("mov %r1, 12\nstxdw [%r10-8], %r1\nmov %r1, 10\nlock xchg [%r10-8], %r1\nldxdw %r0, [%r10-8]\nlsh %r0, 8\nor %r0, %r1\nexit", 0x0A0C),
]


@pytest.mark.parametrize("text,expected", EDGES, ids=[e[0].replace("\n", "; ")[:60] for e in EDGES])
def test_edge(text, expected):
    assert conf(text) == expected


def test_sign_extending_loads():
    mem = bytes([0x80, 0xFF, 0x00, 0x80, 0x01, 0x02, 0x03, 0x84])
    assert conf("ldxsb %r0, [%r1]\nexit", mem) == (-128) & M64
    assert conf("ldxsh %r0, [%r1+2]\nexit", mem) == (-32768) & M64
    assert conf("ldxsw %r0, [%r1+4]\nexit", mem) == 0xFFFFFFFF84030201
    assert conf("ldxw %r0, [%r1+4]\nexit", mem) == 0x84030201


def test_memory_fault_in_raw_mode_raises_with_pc():
    with pytest.raises(VmFault) as info:
        conf("mov %r0, 0\nldxb %r0, [%r1+4]\nexit", b"\x01\x02\x03\x04")
    assert info.value.fault.insn == 1
    assert "out-of-bounds read of 1 bytes at mem+4" in info.value.fault.message


def test_runaway_loop_is_a_fault():
    from xdptool.runtime.config import RuntimeConfig

    with pytest.raises(VmFault, match="more than 1000 instructions"):
        run_raw(assemble("mov %r0, 0\nja -1\nexit", syntax="conformance"), b"", RuntimeConfig(max_insns=1000))


# -- differential against the kernel -------------------------------------------------

def kernel_or_skip():
    from xdptool.kernel.probe import kernel_unavailable_reason

    reason = kernel_unavailable_reason()
    if reason:
        pytest.skip(f"kernel: {reason}")
    from xdptool.kernel.conformance import run_conformance

    return run_conformance


VALUES = st.sampled_from([0, 1, 2, 7, 31, 32, 63, 64, 0x7FFFFFFF, 0x80000000, 0xFFFFFFFF, 1 << 63, M64, M64 - 6]) | st.integers(0, M64)
IMMS = st.sampled_from([0, 1, -1, 2, -7, 31, 63, 0x7FFFFFFF, -0x80000000]) | st.integers(-(1 << 31), (1 << 31) - 1)
ALU_OPS = [(op, 0) for op in AluOp if op not in (AluOp.END, AluOp.NEG)] + [
    (AluOp.DIV, 1), (AluOp.MOD, 1), (AluOp.MOV, 8), (AluOp.MOV, 16), (AluOp.MOV, 32)]


def _both(run_conformance, body: list[Instruction]) -> tuple[int | None, int]:
    """(kernel r0 or None if it refuses, VM r0); each side gets its own copy of the body."""
    outcome = run_conformance([i.copy() for i in body], b"")
    assert outcome.accepted or outcome.reason, "kernel refused without a reason"
    return (outcome.result if outcome.accepted else None), run_raw([i.copy() for i in body], b"")


@pytest.mark.kernel
@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(op=st.sampled_from(ALU_OPS), is64=st.booleans(), reg=st.booleans(), a=VALUES, b=VALUES, imm=IMMS)
def test_alu_matches_kernel(op, is64, reg, a, b, imm):
    run_conformance = kernel_or_skip()
    code, off = op
    if off in (32,) and not is64 or (code == AluOp.MOV and off and not reg):
        return  # movsx32 needs ALU64; movsx takes a register source
    insn = alu(code, 0, src=1 if reg else None, imm=0 if reg else imm, is64=is64, off=off)
    body = [ld_imm64(0, a), ld_imm64(1, b), insn, exit_insn()]
    kernel, ours = _both(run_conformance, body)
    if kernel is not None:
        assert ours == kernel


@pytest.mark.kernel
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(op=st.sampled_from(list(JMP_COND_SYMBOL)),  # the conditional jumps
       is64=st.booleans(), reg=st.booleans(), a=VALUES, b=VALUES, imm=IMMS)
def test_jump_matches_kernel(op, is64, reg, a, b, imm):
    run_conformance = kernel_or_skip()
    cls = Cls.JMP if is64 else Cls.JMP32
    jump = Instruction(code=cls | op | (Src.X if reg else Src.K), dst=1, src=2 if reg else 0, off=1,
                       imm=0 if reg else imm)
    body = [ld_imm64(1, a), ld_imm64(2, b), alu(AluOp.MOV, 0, imm=0), jump, exit_insn(),
            alu(AluOp.MOV, 0, imm=1), exit_insn()]
    kernel, ours = _both(run_conformance, body)
    assert kernel is not None
    assert ours == kernel


ATOMICS = [AtomicOp.ADD, AtomicOp.OR, AtomicOp.AND, AtomicOp.XOR, AtomicOp.FETCH_ADD, AtomicOp.FETCH_OR,
           AtomicOp.FETCH_AND, AtomicOp.FETCH_XOR, AtomicOp.XCHG, AtomicOp.CMPXCHG]


@pytest.mark.kernel
@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(op=st.sampled_from(ATOMICS), is64=st.booleans(), old=VALUES, operand=VALUES, r0=VALUES, equal=st.booleans())
def test_atomic_matches_kernel(op, is64, old, operand, r0, equal):
    """r0 = mem ^ rotated(r1) ^ r0 after the atomic, so every output is compared."""
    run_conformance = kernel_or_skip()
    size = Size.DW if is64 else Size.W
    if equal:
        r0 = old
    body = [
        ld_imm64(2, old), Instruction(code=Cls.STX | Mode.MEM | Size.DW, dst=10, src=2, off=-8),
        ld_imm64(1, operand), ld_imm64(0, r0),
        Instruction(code=Cls.STX | Mode.ATOMIC | size, dst=10, src=1, off=-8, imm=op),
        Instruction(code=Cls.LDX | Mode.MEM | Size.DW, dst=3, src=10, off=-8),
        alu(AluOp.XOR, 0, src=3), alu(AluOp.LSH, 1, imm=13), alu(AluOp.XOR, 0, src=1), exit_insn(),
    ]
    kernel, ours = _both(run_conformance, body)
    assert kernel is not None
    assert ours == kernel
