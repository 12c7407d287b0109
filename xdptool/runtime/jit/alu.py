"""eBPF ALU and jump semantics as LLVM IR, one table entry per operation.

Everything LLVM leaves undefined is guarded here, because eBPF defines it
(RFC 9669 §4.1): division by zero gives 0, modulo by zero leaves the dividend,
INT_MIN s/ -1 wraps to INT_MIN and INT_MIN s% -1 is 0 (LLVM's sdiv/srem trap or
are poison there), shift amounts are masked to the operand width.  Operands
arrive already truncated to the operation width (i32 for ALU, i64 for ALU64).
"""

from __future__ import annotations

from typing import Callable

import llvmlite.ir as ir

from ...ebpf.opcodes import MOVSX_BITS, Alu, JmpOp
from .irtypes import const

Builder = ir.IRBuilder
Value = ir.Value


def _divmod_guarded(b: Builder, dst: Value, src: Value, op: str) -> Value:
    """udiv/urem/sdiv/srem with eBPF's results where LLVM's are undefined."""
    ty = dst.type
    zero = const(ty, 0)
    is_zero = b.icmp_unsigned("==", src, zero)
    if op in ("sdiv", "srem"):
        minus_one = const(ty, -1)
        is_minus_one = b.icmp_unsigned("==", src, minus_one)
        # Divide by 1 instead of 0 or -1; the selects below pick the defined result.
        safe = b.select(b.or_(is_zero, is_minus_one), const(ty, 1), src)
        raw = b.sdiv(dst, safe) if op == "sdiv" else b.srem(dst, safe)
        on_minus_one = b.neg(dst) if op == "sdiv" else zero
        raw = b.select(is_minus_one, on_minus_one, raw)
    else:
        safe = b.select(is_zero, const(ty, 1), src)
        raw = b.udiv(dst, safe) if op == "udiv" else b.urem(dst, safe)
    on_zero = zero if op in ("udiv", "sdiv") else dst
    return b.select(is_zero, on_zero, raw)


def _shift(kind: str) -> Callable[[Builder, Value, Value], Value]:
    def emit(b: Builder, dst: Value, src: Value) -> Value:
        amount = b.and_(src, const(dst.type, dst.type.width - 1))
        return getattr(b, kind)(dst, amount)

    return emit


# (op, signed variant) -> emitter(builder, dst, src) -> result of the same width.
def _movsx(bits: int) -> Callable[[Builder, Value, Value], Value]:
    return lambda b, d, s: sign_extend_from(b, s, bits, s.type.width)


# Every two-operand ALU variant (byte swaps apart: see byte_swap/truncate_to).
BINARY: dict[Alu, Callable[[Builder, Value, Value], Value]] = {
    Alu.ADD: lambda b, d, s: b.add(d, s),
    Alu.SUB: lambda b, d, s: b.sub(d, s),
    Alu.MUL: lambda b, d, s: b.mul(d, s),
    Alu.DIV: lambda b, d, s: _divmod_guarded(b, d, s, "udiv"),
    Alu.SDIV: lambda b, d, s: _divmod_guarded(b, d, s, "sdiv"),
    Alu.MOD: lambda b, d, s: _divmod_guarded(b, d, s, "urem"),
    Alu.SMOD: lambda b, d, s: _divmod_guarded(b, d, s, "srem"),
    Alu.OR: lambda b, d, s: b.or_(d, s),
    Alu.AND: lambda b, d, s: b.and_(d, s),
    Alu.XOR: lambda b, d, s: b.xor(d, s),
    Alu.LSH: _shift("shl"),
    Alu.RSH: _shift("lshr"),
    Alu.ARSH: _shift("ashr"),
    Alu.MOV: lambda b, d, s: s,
    Alu.NEG: lambda b, d, s: b.neg(d),
    **{variant: _movsx(bits) for variant, bits in MOVSX_BITS.items()},
}


def sign_extend_from(b: Builder, value: Value, bits: int, width: int) -> Value:
    """movsx: sign-extend the low `bits` of `value` to `width` bits."""
    narrow = b.trunc(value, ir.IntType(bits))
    return b.sext(narrow, ir.IntType(width))


def byte_swap(b: Builder, module: ir.Module, value64: Value, bits: int) -> Value:
    """bswap of the low `bits` bits, zero-extended to i64."""
    narrow = ir.IntType(bits)
    truncated = b.trunc(value64, narrow) if bits < 64 else value64
    fn = module.declare_intrinsic("llvm.bswap", [narrow])
    swapped = b.call(fn, [truncated])
    return b.zext(swapped, ir.IntType(64)) if bits < 64 else swapped


def truncate_to(b: Builder, value64: Value, bits: int) -> Value:
    """le16/le32 on a little-endian host: keep the low bits, zero-extended."""
    if bits == 64:
        return value64
    return b.zext(b.trunc(value64, ir.IntType(bits)), ir.IntType(64))


# Conditional jumps: op -> icmp predicate (None: jset, a bit test).
JUMP_PREDICATE: dict[JmpOp, tuple[str, bool] | None] = {
    JmpOp.JEQ: ("==", False),
    JmpOp.JNE: ("!=", False),
    JmpOp.JGT: (">", False),
    JmpOp.JGE: (">=", False),
    JmpOp.JLT: ("<", False),
    JmpOp.JLE: ("<=", False),
    JmpOp.JSGT: (">", True),
    JmpOp.JSGE: (">=", True),
    JmpOp.JSLT: ("<", True),
    JmpOp.JSLE: ("<=", True),
    JmpOp.JSET: None,
}


def compare(b: Builder, op: JmpOp, dst: Value, src: Value) -> Value:
    predicate = JUMP_PREDICATE[op]
    if predicate is None:
        return b.icmp_unsigned("!=", b.and_(dst, src), const(dst.type, 0))
    symbol, signed = predicate
    return (b.icmp_signed if signed else b.icmp_unsigned)(symbol, dst, src)
