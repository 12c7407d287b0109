"""The LLVM integer types, constant makers and control-flow join every JIT module builds IR with."""

from __future__ import annotations

import llvmlite.ir as ir

from .layout import M64

I1 = ir.IntType(1)
I8 = ir.IntType(8)
I32 = ir.IntType(32)
I64 = ir.IntType(64)
I8P = I8.as_pointer()
I64P = I64.as_pointer()


def const(ty: ir.IntType, value: int) -> ir.Constant:
    """`value` wrapped to `ty`'s width (eBPF's two's-complement immediates)."""
    return ir.Constant(ty, value & ((1 << ty.width) - 1))


def c64(value: int) -> ir.Constant:
    return ir.Constant(I64, value & M64)


def c32(value: int) -> ir.Constant:
    return ir.Constant(I32, value & 0xFFFFFFFF)


def join(b: ir.IRBuilder, at: ir.Block, incoming, ty: ir.IntType = I64) -> ir.Value:
    """Continue `b` at the block `at`, where paths meet, with the value each path brings:
    a phi of the (value, block it comes from) pairs."""
    b.position_at_end(at)
    phi = b.phi(ty)
    for value, block in incoming:
        phi.add_incoming(value, block)
    return phi


def only_if(b: ir.IRBuilder, condition: ir.Value, name: str, then, otherwise: ir.Value,
            ty: ir.IntType = I64) -> ir.Value:
    """`then(b)`'s value when `condition` holds (its code runs only then), else `otherwise`
    (a value made before): the one the path took."""
    fn = b.function
    taken = fn.append_basic_block(name)
    done = fn.append_basic_block(f"{name}.done")
    start = b.block
    b.cbranch(condition, taken, done)
    b.position_at_end(taken)
    value = then(b)
    end = b.block
    b.branch(done)
    return join(b, done, [(otherwise, start), (value, end)], ty)
