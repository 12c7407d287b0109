"""Scalar bounds: a tnum plus signed/unsigned ranges in 64 and 32 bits.

`Bounds` is the numeric part of every register (for pointers it bounds the
variable offset).  The synchronisation between the five views follows the
kernel's reg_bounds_sync() (kernel/bpf/verifier.c: __update_reg_bounds,
__reg_deduce_bounds, __reg_bound_offset); every deduction here is sound on its
own, some of the kernel's more exotic cross-sign deductions are left out.

The ALU transfer functions work on one width at a time (`View`): a 64-bit op
computes its result range on the 64-bit view and, where the low half of the
result depends only on the low halves of the operands, also on the 32-bit view;
a 32-bit op computes on the 32-bit view and zero-extends.
"""

from __future__ import annotations

from typing import NamedTuple

from ..ebpf.opcodes import AluOp
from .tnum import U32, U64, UNKNOWN, Tnum

S64_MIN, S64_MAX = -(1 << 63), (1 << 63) - 1
S32_MIN, S32_MAX = -(1 << 31), (1 << 31) - 1


def s64(v: int) -> int:
    v &= U64
    return v - (1 << 64) if v >> 63 else v


def s32(v: int) -> int:
    v &= U32
    return v - (1 << 32) if v >> 31 else v


class Bounds:
    """var_off + [smin,smax] + [umin,umax] + the same four for the low 32 bits."""

    __slots__ = ("var_off", "smin", "smax", "umin", "umax", "s32_min", "s32_max", "u32_min", "u32_max")

    def set_unknown_bounds(self) -> None:
        self.var_off = UNKNOWN
        self.smin, self.smax, self.umin, self.umax = S64_MIN, S64_MAX, 0, U64
        self.s32_min, self.s32_max, self.u32_min, self.u32_max = S32_MIN, S32_MAX, 0, U32

    def set_const_bounds(self, v: int) -> None:
        v &= U64
        self.var_off = Tnum(v, 0)
        self.smin = self.smax = s64(v)
        self.umin = self.umax = v
        self.s32_min = self.s32_max = s32(v)
        self.u32_min = self.u32_max = v & U32

    def copy_bounds_from(self, other: "Bounds") -> None:
        for name in Bounds.__slots__:
            setattr(self, name, getattr(other, name))

    def bounds_key(self) -> tuple:
        return tuple(getattr(self, name) for name in Bounds.__slots__)

    # -- queries -------------------------------------------------------------------
    @property
    def is_const(self) -> bool:
        return self.var_off.mask == 0

    @property
    def const_value(self) -> int:
        return self.var_off.value

    def is_const32(self) -> bool:
        return self.var_off.mask & U32 == 0

    def is_empty(self) -> bool:
        """Contradictory bounds: no concrete value fits (an infeasible branch)."""
        return (
            self.smin > self.smax
            or self.umin > self.umax
            or self.s32_min > self.s32_max
            or self.u32_min > self.u32_max
            or self.umin > self.var_off.umax
            or self.umax < self.var_off.umin
        )

    def range_within(self, other: "Bounds") -> bool:
        """True when every bound of `other` lies inside ours (kernel range_within)."""
        return (
            self.umin <= other.umin
            and self.umax >= other.umax
            and self.smin <= other.smin
            and self.smax >= other.smax
            and self.u32_min <= other.u32_min
            and self.u32_max >= other.u32_max
            and self.s32_min <= other.s32_min
            and self.s32_max >= other.s32_max
        )

    def upper_known_zero(self) -> bool:
        return self.umax <= U32

    # -- synchronisation ------------------------------------------------------------
    def sync(self) -> None:
        """reg_bounds_sync(): make the five views agree as far as cheaply provable."""
        self._update_from_tnum()
        self._deduce()
        self._deduce()
        self._bound_offset()
        self._update_from_tnum()

    def _update_from_tnum(self) -> None:
        t = self.var_off
        t32 = t.subreg()
        self.s32_min = max(self.s32_min, s32(t32.value | (t32.mask & 0x80000000)))
        self.s32_max = min(self.s32_max, s32(t32.value | (t32.mask & 0x7FFFFFFF)))
        self.u32_min = max(self.u32_min, t32.value)
        self.u32_max = min(self.u32_max, t32.value | t32.mask)
        self.smin = max(self.smin, s64(t.value | (t.mask & (1 << 63))))
        self.smax = min(self.smax, s64(t.value | (t.mask & S64_MAX)))
        self.umin = max(self.umin, t.value)
        self.umax = min(self.umax, t.value | t.mask)

    def _deduce(self) -> None:
        # 32-bit views from the 64-bit ranges when the upper halves agree.
        if self.umin >> 32 == self.umax >> 32:
            self._narrow32(self.umin, self.umax)
        if self.smin >> 32 == self.smax >> 32:
            self._narrow32(self.smin, self.smax)
        # signed <-> unsigned within 32 bits, when no sign boundary is crossed
        if s32(self.u32_min) <= s32(self.u32_max):
            self.s32_min = max(self.s32_min, s32(self.u32_min))
            self.s32_max = min(self.s32_max, s32(self.u32_max))
        if self.s32_min & U32 <= self.s32_max & U32:
            self.u32_min = max(self.u32_min, self.s32_min & U32)
            self.u32_max = min(self.u32_max, self.s32_max & U32)
        # signed <-> unsigned within 64 bits
        if s64(self.umin) <= s64(self.umax):
            self.smin = max(self.smin, s64(self.umin))
            self.smax = min(self.smax, s64(self.umax))
        if self.smin & U64 <= self.smax & U64:
            self.umin = max(self.umin, self.smin & U64)
            self.umax = min(self.umax, self.smax & U64)
        # 64-bit ranges from the 32-bit one (kernel __reg_deduce_mixed_bounds)
        if self.u32_min <= self.u32_max:
            self.umin = max(self.umin, (self.umin & ~U32) | self.u32_min)
            self.umax = min(self.umax, (self.umax & ~U32) | self.u32_max)
            self.smin = max(self.smin, s64((self.smin & ~U32 & U64) | self.u32_min))
            self.smax = min(self.smax, s64((self.smax & ~U32 & U64) | self.u32_max))

    def _narrow32(self, lo: int, hi: int) -> None:
        if lo & U32 <= hi & U32:
            self.u32_min = max(self.u32_min, lo & U32)
            self.u32_max = min(self.u32_max, hi & U32)
        if s32(lo) <= s32(hi):
            self.s32_min = max(self.s32_min, s32(lo))
            self.s32_max = min(self.s32_max, s32(hi))

    def _bound_offset(self) -> None:
        if self.umin > self.umax or self.u32_min > self.u32_max:
            return
        t64 = self.var_off.intersect(Tnum.range(self.umin, self.umax))
        t32 = t64.subreg().intersect(Tnum.range(self.u32_min, self.u32_max))
        self.var_off = t64.with_subreg(t32)

    # -- width views ------------------------------------------------------------------
    def view(self, bits: int) -> "View":
        if bits == 64:
            return View(self.var_off, self.smin, self.smax, self.umin, self.umax)
        return View(self.var_off.subreg(), self.s32_min, self.s32_max, self.u32_min, self.u32_max)

    def set_view64(self, v: "View", v32: "View | None") -> None:
        """Result of a 64-bit op; the 32-bit view is re-derived unless given."""
        self.var_off, self.smin, self.smax, self.umin, self.umax = v
        if v32 is None:
            self.s32_min, self.s32_max, self.u32_min, self.u32_max = S32_MIN, S32_MAX, 0, U32
        else:
            _, self.s32_min, self.s32_max, self.u32_min, self.u32_max = v32
        self.sync()

    def set_view32_zext(self, v: "View") -> None:
        """Result of a 32-bit op: the upper half becomes zero (kernel zext_32_to_64)."""
        self.var_off = v.tnum.subreg()
        _, self.s32_min, self.s32_max, self.u32_min, self.u32_max = v
        self.umin, self.umax = self.u32_min, self.u32_max
        if self.s32_min >= 0:
            self.smin, self.smax = self.s32_min, self.s32_max
        else:
            self.smin, self.smax = 0, U32
        self.sync()


class View(NamedTuple):
    """One width's worth of knowledge: tnum (truncated) and the four bounds."""

    tnum: Tnum
    smin: int
    smax: int
    umin: int
    umax: int


def _limits(bits: int) -> tuple[int, int, int]:
    return (1 << bits) - 1, -(1 << (bits - 1)), (1 << (bits - 1)) - 1


def unknown_view(bits: int) -> View:
    umax, smin, smax = _limits(bits)
    return View(Tnum(0, umax), smin, smax, 0, umax)


def const_view(value: int, bits: int) -> View:
    umax, _, _ = _limits(bits)
    v = value & umax
    sv = v - (1 << bits) if v >> (bits - 1) else v
    return View(Tnum(v, 0), sv, sv, v, v)


def _signed_from_unsigned(umin: int, umax: int, bits: int) -> tuple[int, int]:
    _, smin, smax = _limits(bits)
    sign = 1 << (bits - 1)
    if (umin & sign) == (umax & sign):
        lo = umin - (1 << bits) if umin & sign else umin
        hi = umax - (1 << bits) if umax & sign else umax
        return lo, hi
    return smin, smax


def _wrap(lo: int, hi: int, over_lo: bool, over_hi: bool, bits: int) -> tuple[int, int]:
    umax, _, _ = _limits(bits)
    if over_lo == over_hi:
        return lo & umax, hi & umax
    return 0, umax


def _signed(lo: int, hi: int, bits: int) -> tuple[int, int]:
    _, smin, smax = _limits(bits)
    if lo < smin or hi > smax:
        return smin, smax
    return lo, hi


def _add(a: View, b: View, bits: int, t: Tnum) -> View:
    umax_all = (1 << bits) - 1
    lo, hi = a.umin + b.umin, a.umax + b.umax
    ulo, uhi = _wrap(lo, hi, lo > umax_all, hi > umax_all, bits)
    slo, shi = _signed(a.smin + b.smin, a.smax + b.smax, bits)
    return View(t, slo, shi, ulo, uhi)


def _sub(a: View, b: View, bits: int, t: Tnum) -> View:
    lo, hi = a.umin - b.umax, a.umax - b.umin
    ulo, uhi = _wrap(lo, hi, lo < 0, hi < 0, bits)
    slo, shi = _signed(a.smin - b.smax, a.smax - b.smin, bits)
    return View(t, slo, shi, ulo, uhi)


def _mul(a: View, b: View, bits: int, t: Tnum) -> View:
    umax_all, smin_all, smax_all = _limits(bits)
    if a.umax * b.umax <= umax_all:
        ulo, uhi = a.umin * b.umin, a.umax * b.umax
    else:
        ulo, uhi = 0, umax_all
    corners = [x * y for x in (a.smin, a.smax) for y in (b.smin, b.smax)]
    slo, shi = _signed(min(corners), max(corners), bits)
    return View(t, slo, shi, ulo, uhi)


def _and(a: View, b: View, bits: int, t: Tnum) -> View:
    ulo, uhi = t.value, min(a.umax, b.umax)
    return View(t, *_signed_from_unsigned(ulo, uhi, bits), ulo, uhi)


def _or(a: View, b: View, bits: int, t: Tnum) -> View:
    ulo, uhi = max(a.umin, b.umin), t.value | t.mask
    return View(t, *_signed_from_unsigned(ulo, uhi, bits), ulo, uhi)


def _xor(a: View, b: View, bits: int, t: Tnum) -> View:
    ulo, uhi = t.value, t.value | t.mask
    return View(t, *_signed_from_unsigned(ulo, uhi, bits), ulo, uhi)


# op -> (tnum function, range function); the low half of these ops' results
# depends only on the low halves of the operands.
_LOW_HALF_OPS = {
    AluOp.ADD: (Tnum.add, _add),
    AluOp.SUB: (Tnum.sub, _sub),
    AluOp.MUL: (Tnum.mul, _mul),
    AluOp.AND: (Tnum.and_, _and),
    AluOp.OR: (Tnum.or_, _or),
    AluOp.XOR: (Tnum.xor, _xor),
}


def _binary_view(op: int, a: View, b: View, bits: int) -> View:
    tnum_fn, range_fn = _LOW_HALF_OPS[op]
    return range_fn(a, b, bits, tnum_fn(a.tnum, b.tnum).cast(bits // 8))


def _shift_view(op: int, a: View, k: int, bits: int) -> View:
    umax_all, smin_all, smax_all = _limits(bits)
    if op == AluOp.LSH:
        t = a.tnum.lshift(k).cast(bits // 8)
        if a.umax << k > umax_all:
            return View(t, smin_all, smax_all, 0, umax_all)
        return View(t, smin_all, smax_all, a.umin << k, a.umax << k)
    if op == AluOp.RSH:
        return View(a.tnum.rshift(k), smin_all, smax_all, a.umin >> k, a.umax >> k)
    t = a.tnum.arshift(k, bits)
    return View(t, a.smin >> k, a.smax >> k, 0, umax_all)


def scalar_alu(dst: Bounds, op: int, src: Bounds, is64: bool) -> None:
    """dst = dst <op> src on scalars (adjust_scalar_min_max_vals)."""
    bits = 64 if is64 else 32
    if op in _LOW_HALF_OPS:
        result = _binary_view(op, dst.view(bits), src.view(bits), bits)
        if is64:
            low = _binary_view(op, dst.view(32), src.view(32), 32)
            dst.set_view64(result, low)
        else:
            dst.set_view32_zext(result)
        return
    shift_known = op in (AluOp.LSH, AluOp.RSH, AluOp.ARSH) and src.is_const and src.const_value < bits
    if shift_known:
        result = _shift_view(op, dst.view(bits), src.const_value, bits)
    else:  # div, mod, shifts by unknown amounts: nothing is known (as in the kernel)
        result = unknown_view(bits)
    if is64:
        dst.set_view64(result, None)
    else:
        dst.set_view32_zext(result)


def scalar_neg(dst: Bounds, is64: bool) -> None:
    bits = 64 if is64 else 32
    result = _binary_view(AluOp.SUB, const_view(0, bits), dst.view(bits), bits)
    if is64:
        low = _binary_view(AluOp.SUB, const_view(0, 32), dst.view(32), 32)
        dst.set_view64(result, low)
    else:
        dst.set_view32_zext(result)


def truncate(dst: Bounds, size: int) -> None:
    """Zero-extend the low `size` bytes (narrow loads, to_le, 32-bit moves)."""
    if size >= 8:
        return
    bits = size * 8
    if size == 4:
        dst.set_view32_zext(dst.view(32))
        return
    mask = (1 << bits) - 1
    v = dst.view(64)
    if v.umax <= mask:
        result = View(v.tnum.cast(size), max(0, v.smin), min(mask, v.smax), v.umin, v.umax)
    else:
        result = View(v.tnum.cast(size), 0, mask, 0, mask)
    dst.set_view64(result, None)


def sign_extend(dst: Bounds, from_bits: int, to_bits: int) -> None:
    """Sign-extend the low `from_bits` to `to_bits` (movsx, ldsx); 32-bit results zero-extend."""
    low_max = (1 << (from_bits - 1)) - 1
    if dst.is_const:
        value = _sext(dst.const_value, from_bits)
        dst.set_const_bounds(value if to_bits == 64 else value & U32)
        return
    if dst.umax <= low_max:  # small non-negative values are unchanged
        return
    umax_all, _, _ = _limits(to_bits)
    result = View(Tnum(0, umax_all), -(low_max + 1), low_max, 0, umax_all)
    if to_bits == 64:
        dst.set_view64(result, None)
    else:
        dst.set_view32_zext(result)


def _sext(v: int, bits: int) -> int:
    v &= (1 << bits) - 1
    return v - (1 << bits) if v >> (bits - 1) else v
