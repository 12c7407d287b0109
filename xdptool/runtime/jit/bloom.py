"""bpf_map_push_elem and bpf_map_peek_elem on bloom filters as native code: runtime/maps_bloom.py
over the bit array in the map's buffer, with the helpers' order (the value read, then push's
flags: -EINVAL for any but BPF_ANY).  The hash is one IR function per value size, jhash2 over the
value's u32s when its size is a multiple of 4, else jhash over its bytes, unrolled as
maps_bloom._jhash_words runs them (a 3-word block mixed while more than 3 words remain, the
last block finished)."""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING

import llvmlite.ir as ir

from ...platform.helpers import HELPER_ID
from ..maps_base import BPF_ANY
from ..maps_bloom import JHASH_INITVAL
from .irtypes import I8, I32, I64, I8P, c64, join
from .maps import MapShape, _buffer

if TYPE_CHECKING:
    from .translate import Translator


def _c32(value: int):
    return ir.Constant(I32, value & 0xFFFFFFFF)


def _rol(b: ir.IRBuilder, x, k: int):
    return b.or_(b.shl(x, _c32(k)), b.lshr(x, _c32(32 - k)))


def _mix(b: ir.IRBuilder, a, bb, c):
    """maps_bloom._mix."""
    for shift_a, shift_b, shift_c in ((4, 6, 8), (16, 19, 4)):
        a = b.xor(b.sub(a, c), _rol(b, c, shift_a)); c = b.add(c, bb)  # noqa: E702
        bb = b.xor(b.sub(bb, a), _rol(b, a, shift_b)); a = b.add(a, c)  # noqa: E702
        c = b.xor(b.sub(c, bb), _rol(b, bb, shift_c)); bb = b.add(bb, a)  # noqa: E702
    return a, bb, c


def _final(b: ir.IRBuilder, a, bb, c):
    """maps_bloom._final: its c."""
    state = {"a": a, "b": bb, "c": c}
    for shift, target, source in (("14", "c", "b"), ("11", "a", "c"), ("25", "b", "a"), ("16", "c", "b"),
                                  ("4", "a", "c"), ("14", "b", "a"), ("24", "c", "b")):
        state[target] = b.sub(b.xor(state[target], state[source]), _rol(b, state[source], int(shift)))
    return state["c"]


def _jhash_fn(module: ir.Module, size: int) -> ir.Function:
    """i32 xdp_jhash_<size>(i8* value, i32 initval): maps_bloom.jhash2 (size a multiple of 4)
    or jhash of `size` bytes; defined once per size."""
    name = f"xdp_jhash_{size}"
    fn = module.globals.get(name)
    if fn is not None:
        return fn
    fn = ir.Function(module, ir.FunctionType(I32, [I8P, I32]), name=name)
    fn.linkage = "internal"
    data, initval = fn.args
    b = ir.IRBuilder(fn.append_basic_block("entry"))

    def word(at: int):
        return b.load(b.bitcast(b.gep(data, [c64(at)]), I32.as_pointer()), align=1)

    def padded_word(at: int):  # bytes past the value are 0 (jhash's last block)
        value = _c32(0)
        for k in range(min(4, size - at)):
            value = b.or_(value, b.shl(b.zext(b.load(b.gep(data, [c64(at + k)])), I32), _c32(8 * k)))
        return value

    if size % 4 == 0:
        words = [word(4 * i) for i in range(size // 4)]
        start = b.add(initval, _c32(JHASH_INITVAL + size))  # (length << 2) + initval: length in words
    else:
        full = max(0, (size - 1) // 12) * 12
        words = [word(4 * i) for i in range(full // 4)] + [padded_word(full + 4 * i) for i in range(3)]
        start = b.add(initval, _c32(JHASH_INITVAL + size))
    a = bb = c = start
    while len(words) > 3:
        a, bb, c = _mix(b, b.add(a, words[0]), b.add(bb, words[1]), b.add(c, words[2]))
        words = words[3:]
    if words:
        words = words + [_c32(0)] * (3 - len(words))
        c = _final(b, b.add(a, words[0]), b.add(bb, words[1]), b.add(c, words[2]))
    b.ret(c)
    return fn


def _bits(t: "Translator", b: ir.IRBuilder, shape: MapShape, value: ir.Value):
    """(byte pointer, bit mask) in the bit array of each hash function's bit for `value`."""
    jhash = _jhash_fn(t.module, shape.value_size)
    bitset = _buffer(b, t.env, shape)
    for i in range(shape.hash_funcs):  # seed 0 + i (BloomFilterMap.seed)
        bit = b.zext(b.and_(b.call(jhash, [value, _c32(i)]), _c32(shape.bloom_mask)), I64)
        yield b.gep(bitset, [b.lshr(bit, c64(3))]), b.trunc(b.shl(c64(1), b.and_(bit, c64(7))), I8)


def _push(t: "Translator", b: ir.IRBuilder, insn, shape: MapShape, args: list) -> ir.Value | None:
    if not shape.hash_funcs:
        return None
    value = t.memory.access(t, b, insn, args[1], shape.value_size, write=False, helper=True)
    fn = b.function
    set_bits = fn.append_basic_block(f"pc{insn.pc}.bloom.push")
    done = fn.append_basic_block(f"pc{insn.pc}.bloom.pushed")
    start = b.block
    b.cbranch(b.icmp_unsigned("==", args[2], c64(BPF_ANY)), set_bits, done)
    b.position_at_end(set_bits)
    for byte, mask in _bits(t, b, shape, value):
        b.store(b.or_(b.load(byte), mask), byte)
    b.branch(done)
    return join(b, done, [(c64(-errno.EINVAL), start), (c64(0), set_bits)])


def _peek(t: "Translator", b: ir.IRBuilder, insn, shape: MapShape, args: list) -> ir.Value | None:
    if not shape.hash_funcs:
        return None
    value = t.memory.access(t, b, insn, args[1], shape.value_size, write=False, helper=True)
    present = ir.Constant(ir.IntType(1), 1)
    for byte, mask in _bits(t, b, shape, value):
        present = b.and_(present, b.icmp_unsigned("!=", b.and_(b.load(byte), mask), ir.Constant(I8, 0)))
    return b.select(present, c64(0), c64(-errno.ENOENT))


BLOOM_OPS = {HELPER_ID["map_push_elem"]: _push, HELPER_ID["map_peek_elem"]: _peek}
