"""Running bpf_conformance programs in the kernel, wrapped as XDP programs.

A conformance program expects r1 = pointer to its `-- mem` bytes and r2 = their
length, and its result is the full 64-bit r0 at exit.  The kernel has no program
type that passes an arbitrary buffer in r1, so the wrapper makes the memory the
packet of an XDP test run and adds:

- a prologue that loads `data`/`data_end` from `xdp_md`, proves `len(mem)` bytes
  are in the packet (so the verifier accepts accesses within the memory, as
  bpf_conformance's own runtime bounds them) and leaves r1 = data, r2 = len
  (r1 = r2 = 0 without memory).  It touches only r1 and r2, so a program that
  reads an uninitialised r3..r9 or r0 is still refused, as it should be;
- an epilogue replacing every `exit` of the main function (not of subprograms):
  it stores the 64-bit r0 and a done-flag into a one-entry array map ("result"),
  because the XDP return value is only 32 bits.

The packet is the memory padded with zeros to the 14-byte minimum of test runs.
Jumps and local calls are re-targeted across the inserted code.  Differences
this causes: r1 is a packet pointer, so pointer arithmetic the verifier forbids
on packet pointers (multiplying, 32-bit ALU...) is refused; memory accesses are
proven against the packet bounds by the verifier, so an out-of-bounds access is
a load-time rejection rather than a run-time error.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..ebpf.insn import Instruction, alu, exit_insn, ld_imm64, renumber
from ..ebpf.opcodes import AluOp, Cls, JmpOp, Mode, Size
from ..elf.model import MapDef, MapType, Program
from .load import KernelRejected, load_program
from .maps import KernelMaps
from .synthetic import map_ref, synthetic_program
from .testrun import MIN_PACKET, test_run

RESULT_MAP = MapDef("result", MapType.ARRAY, 4, 16, 1)
DONE = 0x600D


def _mem(cls: Cls, size: Size, dst: int, src: int = 0, off: int = 0, imm: int = 0) -> Instruction:
    return Instruction(code=cls | Mode.MEM | size, dst=dst, src=src, off=off, imm=imm)


def prologue(mem_len: int) -> list[Instruction]:
    """r1 = packet data (len(mem) bytes proven), r2 = len(mem); only r1/r2 written."""
    if mem_len == 0:
        return [alu(AluOp.MOV, 1, imm=0), alu(AluOp.MOV, 2, imm=0)]
    return [
        _mem(Cls.LDX, Size.W, 2, 1, off=0),  # r2 = ctx->data
        _mem(Cls.LDX, Size.W, 1, 1, off=4),  # r1 = ctx->data_end
        alu(AluOp.ADD, 2, imm=mem_len),
        Instruction(code=Cls.JMP | JmpOp.JGE | 0x08, dst=1, src=2, off=2),  # if data_end >= data+len: go on
        alu(AluOp.MOV, 0, imm=0),
        exit_insn(),
        alu(AluOp.MOV, 1, src=2),
        alu(AluOp.SUB, 1, imm=mem_len),
        alu(AluOp.MOV, 2, imm=mem_len),
    ]


def epilogue() -> list[Instruction]:
    """result = {r0, DONE}; exit with r0 unchanged (its low 32 bits are the retval)."""
    return [
        map_ref(ld_imm64(1, 0), RESULT_MAP.name, offset=0),
        _mem(Cls.STX, Size.DW, 1, 0, off=0),
        _mem(Cls.ST, Size.DW, 1, off=8, imm=DONE),
        exit_insn(),
    ]


def _slots(insns: list[Instruction]) -> int:
    return sum(i.slots for i in insns)


def wrap(body: list[Instruction], mem_len: int) -> list[Instruction]:
    """The conformance program with the prologue in front and exits of main routed to the epilogue."""
    body = renumber([i.copy() for i in body])
    end = _slots(body)
    calls = [i.target for i in body if i.is_local_call]
    main_end = min([end, *calls])
    head, tail = prologue(mem_len), epilogue()
    shift_main, shift_sub = _slots(head), _slots(head) + _slots(tail)

    def moved(pc: int) -> int:
        return pc + (shift_main if pc < main_end else shift_sub)

    store_at = moved(0) + main_end
    out: list[Instruction] = []
    for insn in body:
        new_pc = moved(insn.pc)
        if insn.is_exit and insn.pc < main_end:
            out.append(Instruction(code=Cls.JMP | JmpOp.JA, off=store_at - new_pc - 1))
            continue
        if insn.is_branch or insn.is_local_call:
            delta = moved(insn.target) - new_pc - 1
            if insn.is_local_call or insn.is_gotol:
                insn.imm = delta
            else:
                insn.off = delta
        out.append(insn)
    split = sum(1 for insn in body if insn.pc < main_end)
    return renumber(head + out[:split] + tail + out[split:])


def conformance_program(body: list[Instruction], mem: bytes, name: str = "conformance") -> Program:
    return synthetic_program(wrap(body, len(mem)), [RESULT_MAP], name=name)


@dataclass
class ConformanceOutcome:
    accepted: bool
    result: int | None  # 64-bit r0 at exit (unsigned)
    reason: str = ""  # the kernel's last log line when rejected


def run_conformance(body: list[Instruction], mem: bytes, name: str = "conformance") -> ConformanceOutcome:
    """Load the wrapped program; on acceptance test-run it on `mem` and read r0 back."""
    program = conformance_program(body, mem, name)
    with KernelMaps([RESULT_MAP]) as kmaps:
        try:
            loaded = load_program(program, kmaps.fds())
        except KernelRejected as rejected:
            return ConformanceOutcome(False, None, rejected.reason)
        with loaded:
            test_run(loaded.fd, bytes(mem).ljust(MIN_PACKET, b"\0"))
        value = kmaps["result"].lookup(bytes(4)) or bytes(16)
    r0, done = int.from_bytes(value[:8], "little"), int.from_bytes(value[8:], "little")
    if done != DONE:
        return ConformanceOutcome(True, None, "the program did not reach exit")
    return ConformanceOutcome(True, r0)
