"""Which helpers run as native code, and the small ones written here.

Native: map_lookup_elem (1), map_update_elem (2), map_delete_elem (3) for the
map kinds maps.py handles; ktime_get_ns (5) and ktime_get_boot_ns (125) on the
deterministic clock, get_prandom_u32 (7) with the same splitmix64 generator,
get_smp_processor_id (8), jiffies64 (118), xdp_get_buff_len (188), and
xdp_adjust_head (44), xdp_adjust_meta (54), xdp_adjust_tail (65) with the
limits of `XdpBuffer` (xdp.py, after net/core/filter.c).  The clock and
generator state lives in the env while native code runs and is handed to the
interpreter's `Services` around every Python call.  Every other helper is the
runtime's Python implementation behind the callback (helpers.py).
"""

from __future__ import annotations

import errno
from typing import TYPE_CHECKING

import llvmlite.ir as ir

from ..config import ETH_HLEN, XDP_FRAME_SIZE
from ..xdp import XDP_META_MAX
from .batch import set_packet_window
from .env import ENV
from .irtypes import I1, I8, I32, I64, I8P, c64
from .maps import MapHelpers, MapShape

if TYPE_CHECKING:
    from .translate import Translator


def _ktime(t: "Translator", b: ir.IRBuilder, insn, args) -> ir.Value:
    env = t.env
    reads = ENV.load(b, env, "clock_reads")
    ENV.store(b, env, "clock_reads", b.add(reads, c64(1)))
    return b.add(ENV.load(b, env, "clock_start"), b.mul(reads, ENV.load(b, env, "clock_step")))


def _prandom(t: "Translator", b: ir.IRBuilder, insn, args) -> ir.Value:
    """splitmix64, the high 32 bits (helpers.Services.prandom_u32)."""
    state = b.add(ENV.load(b, t.env, "prandom_state"), c64(0x9E3779B97F4A7C15))
    ENV.store(b, t.env, "prandom_state", state)
    z = b.mul(b.xor(state, b.lshr(state, c64(30))), c64(0xBF58476D1CE4E5B9))
    z = b.mul(b.xor(z, b.lshr(z, c64(27))), c64(0x94D049BB133111EB))
    return b.lshr(b.xor(z, b.lshr(z, c64(31))), c64(32))


def _env_value(name: str):
    def emit(t: "Translator", b: ir.IRBuilder, insn, args) -> ir.Value:
        return ENV.load(b, t.env, name)
    return emit


def _buff_len(t: "Translator", b: ir.IRBuilder, insn, args) -> ir.Value:
    return b.sub(ENV.load(b, t.env, "pkt_end"), ENV.load(b, t.env, "pkt_data"))


def _packet(b: ir.IRBuilder, env) -> tuple[ir.Value, ir.Value, ir.Value]:
    return ENV.load(b, env, "pkt_meta"), ENV.load(b, env, "pkt_data"), ENV.load(b, env, "pkt_end")


def _frame(b: ir.IRBuilder, env, offset: ir.Value) -> ir.Value:
    return b.gep(b.inttoptr(ENV.load(b, env, "frame"), I8P), [offset])


def _offset_arg(b: ir.IRBuilder, value: ir.Value) -> ir.Value:
    """The helpers take `int offset`: the low 32 bits, sign-extended."""
    return b.sext(b.trunc(value, I32), I64)


def _packet_adjust(check):
    """bpf_xdp_adjust_head/tail/meta: `check(t, b, offset, meta, data, end)` gives the
    helper's result (0 or -errno) and `apply(builder)`, which moves the packet window and
    runs only when that result is 0."""

    def emit(t: "Translator", b: ir.IRBuilder, insn, args) -> ir.Value:
        error, apply = check(t, b, _offset_arg(b, args[1]), *_packet(b, t.env))
        with b.if_then(b.icmp_unsigned("==", error, c64(0))):
            apply(b)
        return error

    return emit


@_packet_adjust
def _adjust_head(t: "Translator", b: ir.IRBuilder, offset: ir.Value, meta: ir.Value, data: ir.Value,
                 end: ir.Value) -> tuple:
    env = t.env
    metalen = b.sub(data, meta)
    new_data = b.add(data, offset)
    invalid = b.or_(b.icmp_signed("<", new_data, b.add(c64(XDP_FRAME_SIZE), metalen)),
                    b.icmp_signed(">", new_data, b.sub(end, c64(ETH_HLEN))))

    def apply(ab: ir.IRBuilder) -> None:
        memmove = t.module.declare_intrinsic("llvm.memmove", [I8P, I8P, I64])
        ab.call(memmove, [_frame(ab, env, b.add(meta, offset)), _frame(ab, env, meta), metalen, ir.Constant(I1, 0)])
        set_packet_window(ab, env, ab.add(meta, offset), new_data, end)
    return b.select(invalid, c64(-errno.EINVAL), c64(0)), apply


@_packet_adjust
def _adjust_tail(t: "Translator", b: ir.IRBuilder, offset: ir.Value, meta: ir.Value, data: ir.Value,
                 end: ir.Value) -> tuple:
    env = t.env
    new_end = b.add(end, offset)
    invalid = b.or_(b.icmp_signed(">", new_end, ENV.load(b, env, "pkt_hard_end")),
                    b.icmp_signed("<", new_end, b.add(data, c64(ETH_HLEN))))

    def apply(ab: ir.IRBuilder) -> None:
        grown = ab.icmp_signed(">", offset, c64(0))
        with ab.if_then(grown):
            memset = t.module.declare_intrinsic("llvm.memset", [I8P, I64])
            ab.call(memset, [_frame(ab, env, end), ir.Constant(I8, 0), offset, ir.Constant(I1, 0)])
        set_packet_window(ab, env, meta, data, new_end)
    return b.select(invalid, c64(-errno.EINVAL), c64(0)), apply


@_packet_adjust
def _adjust_meta(t: "Translator", b: ir.IRBuilder, offset: ir.Value, meta: ir.Value, data: ir.Value,
                 end: ir.Value) -> tuple:
    new_meta = b.add(meta, offset)
    out_of_frame = b.or_(b.icmp_signed("<", new_meta, c64(XDP_FRAME_SIZE)), b.icmp_signed(">", new_meta, data))
    metalen = b.sub(data, new_meta)
    bad_length = b.or_(b.icmp_unsigned("!=", b.and_(metalen, c64(3)), c64(0)),
                       b.icmp_signed(">", metalen, c64(XDP_META_MAX)))
    error = b.select(out_of_frame, c64(-errno.EINVAL), b.select(bad_length, c64(-errno.EACCES), c64(0)))

    def apply(ab: ir.IRBuilder) -> None:
        set_packet_window(ab, t.env, new_meta, data, end)
    return error, apply


SIMPLE_NATIVES = {
    5: _ktime,
    7: _prandom,
    8: _env_value("cpu"),
    44: _adjust_head,
    54: _adjust_meta,
    65: _adjust_tail,
    118: _env_value("jiffies"),
    125: _ktime,
    188: _buff_len,
}


def native_emitters(shapes: tuple[MapShape, ...]) -> dict:
    """{helper id: emitter} for a program whose natively handled maps are `shapes`."""
    return {**SIMPLE_NATIVES, **MapHelpers(shapes).emitters()}
