"""JIT vs reference interpreter on hand-written programs: every ALU/jump edge,
random ALU programs (hypothesis), faults, the instruction budget, refused helpers.

The oracle is always the interpreter (xdptool.runtime.vm) run on the same
instructions; expected values are never taken from the JIT itself.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings, strategies as st

from xdptool.ebpf.asm import assemble
from xdptool.ebpf.insn import Instruction, alu, exit_insn, ld_imm64, renumber
from xdptool.ebpf.opcodes import JMP_COND_SYMBOL, AluOp, Cls, JmpOp, Src
from xdptool.elf.model import Program, ProgType
from xdptool.errors import XdpError
from xdptool.runtime import vm
from xdptool.runtime.config import RuntimeConfig
from xdptool.runtime.contract import XdpContext
from xdptool.runtime.jit import JitEngine, run_raw
from xdptool.runtime.maps import MapStore

M64 = (1 << 64) - 1
EDGE_VALUES = [0, 1, 2, 7, 31, 32, 63, 64, 0x7F, 0x80, 0xFFFF, 0x8000_0000, 0x7FFF_FFFF, 0xFFFF_FFFF,
               0x1_0000_0000, 0x8000_0000_0000_0000, 0x7FFF_FFFF_FFFF_FFFF, M64, M64 - 1, 0x1234_5678_9ABC_DEF0]


def program(text_or_insns, name="p") -> Program:
    insns = assemble(text_or_insns) if isinstance(text_or_insns, str) else renumber(list(text_or_insns))
    return Program(name=name, section="xdp", type=ProgType.XDP, type_name="xdp", insns=insns,
                   subprograms=[], license="GPL")


def agree_with_vm(text: str, packets=None, *, faults: bool | None = None) -> None:
    """The jit's results (run and run_batch) equal the vm's on `packets`; with `faults` every
    vm run was meant to fault (True) or to run to its end (False)."""
    outcomes = both(program(text), PACKETS if packets is None else packets)
    if faults is not None:
        assert all((result[4] is not None) == faults for result in outcomes[0]), \
            "the program was meant to fault" if faults else "the program was meant to run to its end"
    assert outcomes[1] == outcomes[0]
    assert outcomes[2] == outcomes[0]


def observable(result):
    fault = result.fault
    return (result.verdict, result.retval, result.packet, result.redirect,
            None if fault is None else (fault.insn, fault.message, fault.address, fault.region),
            result.trace_printk, result.events, result.insns_executed)


def both(prog: Program, packets, config=None, ctx=None):
    """Observable results of VM and JIT (run and run_batch) on the same packets."""
    outcomes = []
    for engine_class in (vm.VmEngine, JitEngine):
        cfg = config or RuntimeConfig()
        engine = engine_class(prog, MapStore({}, cfg), cfg)
        outcomes.append([observable(engine.run(p, ctx)) for p in packets])
        if engine_class is JitEngine:
            fresh = engine_class(prog, MapStore({}, cfg), cfg)
            outcomes.append([observable(r) for r in fresh.run_batch(packets, ctx)])
    return outcomes


def raw_outcome(run, insns, mem=b""):
    try:
        return run(insns, mem)
    except vm.VmFault as exc:
        return ("fault", exc.fault.insn, exc.fault.message)


def fold_registers() -> list[Instruction]:
    """r0 = a hash of r0..r9 (so every register's final value shows in the result)."""
    out = []
    for reg in range(1, 10):
        out.append(alu(AluOp.MUL, 0, imm=0x01000193))
        out.append(alu(AluOp.XOR, 0, src=reg))
    return out


# -- every ALU operation on edge values ------------------------------------------------------

ALU_CASES = [(op, off) for op in AluOp if op not in (AluOp.END, AluOp.NEG, AluOp.MOV)
             for off in ((0, 1) if op in (AluOp.DIV, AluOp.MOD) else (0,))]
ALU_CASES += [(AluOp.NEG, 0), (AluOp.MOV, 0), (AluOp.MOV, 8), (AluOp.MOV, 16), (AluOp.MOV, 32)]


@pytest.mark.parametrize("is64", [True, False], ids=["alu64", "alu32"])
@pytest.mark.parametrize("op,off", ALU_CASES, ids=lambda v: getattr(v, "name", str(v)))
def test_alu_edges_match_vm(op, off, is64):
    if op is AluOp.MOV and off == 32 and not is64:
        pytest.skip("movsx32 exists only in ALU64 (see test_invalid_instructions_fault_like_vm)")
    insns = []
    for a in EDGE_VALUES[::3]:
        for b in EDGE_VALUES[1::3]:
            insns += [ld_imm64(1, a), ld_imm64(2, b), alu(op, 1, src=2, is64=is64, off=off),
                      alu(AluOp.MUL, 0, imm=31), alu(AluOp.ADD, 0, src=1)]
            if op not in (AluOp.MOV, AluOp.NEG) or off == 0:
                insns += [ld_imm64(1, a), alu(op, 1, imm=b & 0xFFFFFFFF if b < 1 << 31 else -1, is64=is64, off=off)
                          if not (op is AluOp.MOV and off) else alu(AluOp.MOV, 1, src=2, is64=is64, off=off),
                          alu(AluOp.XOR, 0, src=1)]
    insns = renumber(insns + [exit_insn()])
    assert raw_outcome(run_raw, insns) == raw_outcome(vm.run_raw, insns)


@pytest.mark.parametrize("bits", [16, 32, 64])
@pytest.mark.parametrize("code", [Cls.ALU | AluOp.END | Src.K, Cls.ALU | AluOp.END | Src.X,
                                  Cls.ALU64 | AluOp.END | Src.K], ids=["le", "be", "bswap"])
def test_byte_swaps_match_vm(code, bits):
    insns = renumber([ld_imm64(0, 0x1122_3344_5566_7788), Instruction(code=code, dst=0, imm=bits), exit_insn()])
    assert raw_outcome(run_raw, insns) == raw_outcome(vm.run_raw, insns)


JUMPS = list(JMP_COND_SYMBOL)  # the conditional jumps


@pytest.mark.parametrize("cls", [Cls.JMP, Cls.JMP32], ids=["jmp", "jmp32"])
@pytest.mark.parametrize("op", JUMPS, ids=lambda o: o.name)
def test_conditional_jumps_match_vm(op, cls):
    insns = []
    for a in EDGE_VALUES[::2]:
        for b in EDGE_VALUES[1::2]:
            insns += [ld_imm64(1, a), ld_imm64(2, b), alu(AluOp.LSH, 0, imm=1),
                      Instruction(code=cls | op | Src.X, dst=1, src=2, off=1), alu(AluOp.OR, 0, imm=1)]
            insns += [alu(AluOp.LSH, 0, imm=1), Instruction(code=cls | op | Src.K, dst=1, imm=-2, off=1),
                      alu(AluOp.OR, 0, imm=1)]
    insns = renumber(insns + [exit_insn()])
    assert raw_outcome(run_raw, insns) == raw_outcome(vm.run_raw, insns)


INVALID = {
    "alu32 movsx32": Instruction(code=Cls.ALU | AluOp.MOV | Src.X, dst=0, src=1, off=32),
    "movsx from an immediate": Instruction(code=Cls.ALU64 | AluOp.MOV | Src.K, dst=0, imm=1, off=8),
    "alu op 0xe0": Instruction(code=Cls.ALU64 | 0xE0, dst=0, imm=1),
    "div with off 2": Instruction(code=Cls.ALU64 | AluOp.DIV | Src.K, dst=0, imm=3, off=2),
    "byte swap of 8 bits": Instruction(code=Cls.ALU | AluOp.END | Src.K, dst=0, imm=8),
    "jump op 0xe0": Instruction(code=Cls.JMP | 0xE0 | Src.K, dst=0, imm=1, off=0),
    "atomic op 0x02": Instruction(code=Cls.STX | 0xC0 | 0x18, dst=10, src=1, off=-8, imm=0x02),
    "atomic of a byte": Instruction(code=Cls.STX | 0xC0 | 0x10, dst=10, src=1, off=-8, imm=0),
    "ld_abs": Instruction(code=Cls.LD | 0x20 | 0x00, imm=0),
    "store mode 0xa0": Instruction(code=Cls.STX | 0xA0 | 0x18, dst=10, src=1, off=-8),
    "jump out of the program": Instruction(code=Cls.JMP | JmpOp.JA, off=100),
}


@pytest.mark.parametrize("name", list(INVALID))
def test_invalid_instructions_fault_like_vm(name):
    insns = renumber([alu(AluOp.MOV, 0, imm=5), alu(AluOp.MOV, 1, imm=9), INVALID[name].copy(), exit_insn()])
    vm_outcome = raw_outcome(vm.run_raw, insns)
    assert vm_outcome[0] == "fault"
    assert raw_outcome(run_raw, insns) == vm_outcome


# -- random ALU programs ------------------------------------------------------------------------

_ops = st.sampled_from(ALU_CASES)
_values = st.one_of(st.sampled_from(EDGE_VALUES), st.integers(0, M64))


@st.composite
def alu_programs(draw):
    insns = [ld_imm64(r, draw(_values)) for r in range(10)]
    for _ in range(draw(st.integers(1, 24))):
        op, off = draw(_ops)
        is64 = draw(st.booleans())
        dst, src = draw(st.integers(0, 9)), draw(st.integers(0, 9))
        if op is AluOp.MOV and off:
            if off == 32 and not is64:
                is64 = True
            insns.append(alu(op, dst, src=src, is64=is64, off=off))
        elif draw(st.booleans()):
            insns.append(alu(op, dst, src=src, is64=is64, off=off))
        else:
            insns.append(alu(op, dst, imm=draw(st.integers(-(1 << 31), (1 << 31) - 1)), is64=is64, off=off))
        if draw(st.integers(0, 5)) == 0:  # a forward conditional jump over the next instruction
            jop = draw(st.sampled_from(JUMPS))
            insns.append(Instruction(code=draw(st.sampled_from([Cls.JMP, Cls.JMP32])) | jop | Src.X,
                                     dst=draw(st.integers(0, 9)), src=draw(st.integers(0, 9)), off=1))
            insns.append(alu(AluOp.ADD, draw(st.integers(0, 9)), imm=draw(st.integers(-5, 5))))
    return renumber(insns + fold_registers() + [exit_insn()])


@settings(max_examples=60, deadline=None)
@given(alu_programs())
def test_random_alu_programs_match_vm(insns):
    assert raw_outcome(run_raw, insns) == raw_outcome(vm.run_raw, insns)


# -- memory, faults, context ------------------------------------------------------------------

PACKETS = [bytes(range(64)), bytes(14), bytes(range(200)) * 3]

FAULTING_PROGRAMS = {
    "read one past data_end": """
        r2 = *(u32 *)(r1 + 0)
        r3 = *(u32 *)(r1 + 4)
        r3 -= r2
        r2 += r3
        r0 = *(u8 *)(r2 + 0)
        exit""",
    "read before data_meta": """
        r2 = *(u32 *)(r1 + 0)
        r0 = *(u8 *)(r2 - 1)
        exit""",
    "write into ctx": """
        r2 = 7
        *(u32 *)(r1 + 12) = r2
        r0 = 2
        exit""",
    "ctx read of 8 bytes": """
        r0 = *(u64 *)(r1 + 0)
        exit""",
    "ctx read past the end": """
        r0 = *(u32 *)(r1 + 24)
        exit""",
    "atomic on ctx": """
        r2 = 1
        lock *(u32 *)(r1 + 12) += r2
        r0 = 2
        exit""",
    "stack above r10": """
        r0 = *(u64 *)(r10 + 0)
        exit""",
    "stack below the frame": """
        *(u8 *)(r10 - 513) = 1
        r0 = 2
        exit""",
    "null pointer": """
        r2 = 0
        r0 = *(u32 *)(r2 + 16)
        exit""",
    "unmapped address": """
        r2 = 0x7fff00000000 ll
        *(u64 *)(r2 + 0) = 1
        r0 = 2
        exit""",
    "fall off the end": """
        r0 = 2""",
}


@pytest.mark.parametrize("name", list(FAULTING_PROGRAMS))
def test_faults_match_vm(name):
    agree_with_vm(FAULTING_PROGRAMS[name], faults=True)


def test_a_fault_stops_one_packet_and_the_batch_goes_on():
    # faults exactly on packets shorter than 20 bytes: reads byte 19
    prog = program("""
        r2 = *(u32 *)(r1 + 0)
        r0 = *(u8 *)(r2 + 19)
        r0 = 2
        exit""")
    packets = [bytes(64), bytes(15), bytes(20), bytes(19), bytes(100)]
    vm_results, jit_run, jit_batch = both(prog, packets)
    assert jit_batch == jit_run == vm_results
    assert [r[0] for r in jit_batch] == ["XDP_PASS", "XDP_ABORTED", "XDP_PASS", "XDP_ABORTED", "XDP_PASS"]


def test_context_fields_and_packet_writes_match_vm():
    prog = program("""
        r2 = *(u32 *)(r1 + 0)
        r3 = *(u32 *)(r1 + 4)
        r4 = *(u32 *)(r1 + 12)
        r5 = *(u32 *)(r1 + 16)
        r6 = *(u32 *)(r1 + 8)
        r0 = r3
        r0 -= r2
        r0 += r4
        r0 += r5
        r6 -= r2
        r0 += r6
        *(u8 *)(r2 + 0) = r4
        *(u16 *)(r2 + 2) = r5
        w7 = 0xdeadbeef
        *(u32 *)(r2 + 4) = r7
        r8 = *(s8 *)(r2 + 4)
        r0 ^= r8
        exit""")
    ctx = XdpContext(ingress_ifindex=7, rx_queue_index=3)
    vm_results, jit_run, jit_batch = both(prog, PACKETS, ctx=ctx)
    assert jit_run == vm_results
    assert jit_batch == vm_results


def test_adjust_helpers_match_vm():
    # adjust_head by r6, adjust_meta by -8, adjust_tail by r7 (from the first packet bytes)
    prog = program("""
        r9 = r1
        r2 = *(u32 *)(r1 + 0)
        r3 = *(u32 *)(r1 + 4)
        r4 = r2
        r4 += 2
        if r4 > r3 goto +20
        r6 = *(s8 *)(r2 + 0)
        r7 = *(s8 *)(r2 + 1)
        r7 *= 16
        r1 = r9
        r2 = r6
        call 44
        r8 = r0
        r1 = r9
        r2 = -8
        call 54
        r8 <<= 8
        r8 |= r0
        r1 = r9
        r2 = r7
        call 65
        r8 <<= 8
        r0 |= r8
        r2 = *(u32 *)(r1 + 0)
        exit""")
    packets = [bytes([d & 0xFF, t & 0xFF]) + bytes(range(60)) for d in (0, 4, -14, -216, -300, 60)
               for t in (0, 2, -3, 100, -60)]
    vm_results, jit_run, jit_batch = both(prog, packets)
    assert jit_run == vm_results
    assert jit_batch == vm_results


@pytest.mark.parametrize("limit", [5, 17, 18, 100])
def test_instruction_budget_matches_vm(limit):
    prog = program("""
        r0 = 0
        r1 = 3
    loop:
        call sub
        r1 += -1
        if r1 != 0 goto loop
        r2 = 0
    spin:
        r2 += 1
        if r2 < 1000 goto spin
        exit
    sub:
        r0 += 1
        exit""")
    config = RuntimeConfig(max_insns=limit)
    vm_results, jit_run, jit_batch = both(prog, [bytes(20)], config=config)
    assert jit_run == vm_results
    assert jit_batch == vm_results


def test_local_calls_preserve_registers_and_zero_frames():
    prog = program("""
        r6 = 6
        r7 = 7
        *(u64 *)(r10 - 8) = r6
        call local f
        r0 += r6
        r0 += r7
        r1 = *(u64 *)(r10 - 8)
        r0 += r1
        exit
    f:
        r0 = *(u64 *)(r10 - 8)
        r6 = 100
        *(u64 *)(r10 - 16) = r6
        call local g
        exit
    g:
        r1 = *(u64 *)(r10 - 16)
        r0 += r1
        exit""")
    assert any(insn.is_local_call for insn in prog.insns)
    vm_results, jit_run, jit_batch = both(prog, [bytes(20)])
    assert jit_run == vm_results == jit_batch


def test_deep_recursion_faults_like_vm():
    prog = program("""
        call -1
        exit""")
    assert prog.insns[0].is_local_call
    vm_results, jit_run, jit_batch = both(prog, [bytes(20)])
    assert vm_results[0][4] is not None
    assert jit_run == vm_results == jit_batch


def test_unimplemented_helper_is_refused_with_the_vm_message():
    prog = program("""
        call 13
        exit""")
    with pytest.raises(XdpError) as vm_error:
        vm.VmEngine(prog, MapStore({}))
    with pytest.raises(XdpError) as jit_error:
        JitEngine(prog, MapStore({}))
    assert str(jit_error.value) == str(vm_error.value)
    assert "clone_redirect#13" in str(jit_error.value)


def test_native_code_is_compiled_once_per_program():
    prog = program("r0 = 2\nexit")
    first = JitEngine(prog, MapStore({}))
    second = JitEngine(prog, MapStore({}))
    assert first.native is second.native
