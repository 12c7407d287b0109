"""The concrete meaning of the eBPF ALU, jump and atomic operations, as tables of small
functions: the one definition the interpreter, the verifier's constant paths and the
NFP analysis compute with.

Every function takes operands already reduced to the operation's width (64 or
32 bits, unsigned) and returns the unsigned result in that width, so the 32-bit
forms get their zero-extension for free.  Rules (RFC 9669 §4; Linux
kernel/bpf/core.c): division by zero gives 0, modulo by zero gives the dividend;
shift amounts are masked to width-1; sdiv/smod truncate toward zero (smod takes
the dividend's sign); movsx sign-extends from 8/16/32 bits.  may_goto: see
`MayGoto`.
"""

from __future__ import annotations

from .opcodes import MOVSX_BITS, Alu, AtomicOp, JmpOp

M64 = (1 << 64) - 1
M32 = 0xFFFFFFFF


def sign_extend(value: int, bits: int) -> int:
    """Two's-complement value of the low `bits` bits."""
    value &= (1 << bits) - 1
    return value - (1 << bits) if value >> (bits - 1) else value


def byteswap(value: int, bits: int) -> int:
    n = bits // 8
    return int.from_bytes((value & ((1 << bits) - 1)).to_bytes(n, "little"), "big")


def _alu_table(bits: int) -> dict[Alu, object]:
    """{variant: fn(a, b)} for one width (byte swaps: see `byteswap`)."""
    mask = (1 << bits) - 1
    shift = bits - 1

    def signed(v: int) -> int:
        return v - (1 << bits) if v >> shift else v

    def sdiv(a: int, b: int) -> int:
        if b == 0:
            return 0
        sa, sb = signed(a), signed(b)
        q = abs(sa) // abs(sb)
        return (-q if (sa < 0) != (sb < 0) else q) & mask

    def smod(a: int, b: int) -> int:
        if b == 0:
            return a
        sa, sb = signed(a), signed(b)
        r = abs(sa) % abs(sb)
        return (-r if sa < 0 else r) & mask

    table = {
        Alu.ADD: lambda a, b: (a + b) & mask,
        Alu.SUB: lambda a, b: (a - b) & mask,
        Alu.MUL: lambda a, b: (a * b) & mask,
        Alu.DIV: lambda a, b: a // b if b else 0,
        Alu.SDIV: sdiv,
        Alu.MOD: lambda a, b: a % b if b else a,
        Alu.SMOD: smod,
        Alu.OR: lambda a, b: a | b,
        Alu.AND: lambda a, b: a & b,
        Alu.XOR: lambda a, b: a ^ b,
        Alu.LSH: lambda a, b: (a << (b & shift)) & mask,
        Alu.RSH: lambda a, b: a >> (b & shift),
        Alu.ARSH: lambda a, b: (signed(a) >> (b & shift)) & mask,
        Alu.NEG: lambda a, b: (-a) & mask,
        Alu.MOV: lambda a, b: b,
    }
    for variant, width in MOVSX_BITS.items():
        if width < bits:
            table[variant] = lambda a, b, w=width: sign_extend(b, w) & mask
    return table


ALU64 = _alu_table(64)
ALU32 = _alu_table(32)


def _jmp_table(bits: int) -> dict[int, object]:
    shift = bits - 1

    def s(v: int) -> int:
        return v - (1 << bits) if v >> shift else v

    return {
        JmpOp.JEQ: lambda a, b: a == b,
        JmpOp.JNE: lambda a, b: a != b,
        JmpOp.JGT: lambda a, b: a > b,
        JmpOp.JGE: lambda a, b: a >= b,
        JmpOp.JLT: lambda a, b: a < b,
        JmpOp.JLE: lambda a, b: a <= b,
        JmpOp.JSET: lambda a, b: (a & b) != 0,
        JmpOp.JSGT: lambda a, b: s(a) > s(b),
        JmpOp.JSGE: lambda a, b: s(a) >= s(b),
        JmpOp.JSLT: lambda a, b: s(a) < s(b),
        JmpOp.JSLE: lambda a, b: s(a) <= s(b),
    }


JMP64 = _jmp_table(64)
JMP32 = _jmp_table(32)

# Atomic read-modify-write operations by `imm` without the FETCH bit: fn(old, operand).
ATOMIC_RMW = {
    AtomicOp.ADD: lambda old, v: old + v,
    AtomicOp.OR: lambda old, v: old | v,
    AtomicOp.AND: lambda old, v: old & v,
    AtomicOp.XOR: lambda old, v: old ^ v,
}


# include/linux/bpf.h: the most iterations bpf_loop runs and the budget of a may_goto frame.
BPF_MAX_LOOPS = 8 * 1024 * 1024


class MayGoto:
    """What `may_goto +off` (opcodes.MAY_GOTO) does at run time, after the kernel's rewrite
    of it (kernel/bpf/verifier.c do_misc_fixups, "if (is_may_goto_insn(insn))"): each
    program frame has a hidden u64 below its stack (at fp - stack_depth - 8) that the
    frame's first instruction sets to BPF_MAX_LOOPS (the `BPF_ST_MEM(BPF_DW, BPF_REG_FP,
    -stack_depth, BPF_MAX_LOOPS)` put in front of each subprogram that has a may_goto, so
    again at every call, callback invocation and tail call); a may_goto reads it, jumps
    when it is 0, else takes one from it and falls through.  A loop guarded by one falls
    through BPF_MAX_LOOPS times per frame, then leaves.

    The x86-64 JIT replaces the count since Linux 6.15 (bpf_jit_supports_timed_may_goto):
    batches of BPF_MAX_TIMED_LOOPS (0xffff) that arch_bpf_timed_may_goto refreshes until
    250 ms have passed since the first refresh (kernel/bpf/core.c bpf_check_timed_may_goto),
    a wall-clock budget no replay can reproduce; the engines count BPF_MAX_LOOPS, as the
    kernel does where the JIT has no timed variant.  Only a program whose
    result depends on how many times an exhausted loop ran can tell the two apart."""

    budget = BPF_MAX_LOOPS  # RuntimeConfig.may_goto_budget's default
    timed_batch = 0xFFFF  # BPF_MAX_TIMED_LOOPS, include/linux/bpf.h
