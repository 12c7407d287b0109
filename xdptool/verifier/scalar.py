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

from .tnum import U32, U64, UNKNOWN, Tnum
from ..ebpf.opcodes import PLAIN_ALU
from ..ebpf.semantics import ALU32, ALU64
from .codes import OP_ADD, OP_AND, OP_ARSH, OP_LSH, OP_MUL, OP_OR, OP_RSH, OP_SUB, OP_XOR

S64_MIN, S64_MAX = -(1 << 63), (1 << 63) - 1
S32_MIN, S32_MAX = -(1 << 31), (1 << 31) - 1


_SYNC_CACHE: dict[tuple, tuple] = {}
_ALU_CACHE: dict[tuple, tuple] = {}
_CACHE_LIMIT = 1 << 16
_TWO64 = 1 << 64
_new_tuple = tuple.__new__
# Constants of _sync, C integers when compiled (scalar.pxd): Cython reads a literal over 31 bits as a Python int.
_SIGN64, _SMAX64, _ALL64 = 0x8000000000000000, 0x7FFFFFFFFFFFFFFF, 0xFFFFFFFFFFFFFFFF
_M32, _B31, _B32 = 0xFFFFFFFF, 0x80000000, 0x100000000
_HIGH32 = U64 & ~U32


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

    def set_const_bounds(self, v) -> None:  # types: scalar.pxd
        """Compiled, on C integers (scalar.pxd); the signed views as in _sync: (u ^ 2**63) - 2**63.
        The views equal to the value share one Python int (`boxed`): compiled, each C integer
        stored in an object field is a new allocation, and constants are made on every step."""
        u = v & _ALL64  # (v may be negative or wider: masked as a Python int)
        boxed = u
        self.var_off = _new_tuple(Tnum, (boxed, 0))  # Tnum(v, 0) without the Python-level __new__
        self.umin = self.umax = boxed
        if u >> 63:
            signed = (u ^ _SIGN64) - _SIGN64
            self.smin = self.smax = signed
        else:
            self.smin = self.smax = boxed
        if u <= 0x7FFFFFFF:  # every 32-bit view is the value too
            self.s32_min = self.s32_max = self.u32_min = self.u32_max = boxed
            return
        low = u & _M32
        boxed = low
        self.u32_min = self.u32_max = boxed
        if low >> 31:
            signed = (low ^ _B31) - _B31
            self.s32_min = self.s32_max = signed
        else:
            self.s32_min = self.s32_max = boxed

    def copy_bounds_from(self, other: "Bounds") -> None:
        self.var_off, self.smin, self.smax, self.umin, self.umax = other.var_off, other.smin, other.smax, other.umin, other.umax
        self.s32_min, self.s32_max, self.u32_min, self.u32_max = other.s32_min, other.s32_max, other.u32_min, other.u32_max

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

    def is_empty(self):  # -> bool (scalar.pxd)
        """Contradictory bounds: no concrete value fits (an infeasible branch)."""
        tv, tm = self.var_off
        return (
            self.smin > self.smax
            or self.umin > self.umax
            or self.s32_min > self.s32_max
            or self.u32_min > self.u32_max
            or self.umin > tv | tm
            or self.umax < tv
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
    def sync(self):  # (scalar.pxd)
        """reg_bounds_sync(): make the five views agree as far as cheaply provable.

        Memoised: a verification meets the same few dozen bounds thousands of
        times (paths and loop iterations repeat the same arithmetic).  A constant
        tnum inside all four ranges needs no deduction: every view is the value.
        """
        tv, tm = self.var_off
        if not tm:
            sv = tv - _TWO64 if tv >> 63 else tv
            low = tv & U32
            slow = low - 0x100000000 if low >> 31 else low
            if (self.umin <= tv <= self.umax and self.smin <= sv <= self.smax
                    and self.u32_min <= low <= self.u32_max and self.s32_min <= slow <= self.s32_max):
                self.smin = self.smax = sv
                self.umin = self.umax = tv
                self.s32_min = self.s32_max = slow
                self.u32_min = self.u32_max = low
                return
        key = (self.var_off, self.smin, self.smax, self.umin, self.umax,
               self.s32_min, self.s32_max, self.u32_min, self.u32_max)
        cache = _SYNC_CACHE  # (compiled: a typed dict, its get() a C call, scalar.pxd)
        out = cache.get(key)
        if out is None:
            if len(cache) > _CACHE_LIMIT:
                cache.clear()
            out = cache[key] = _sync(self.var_off, self.smin, self.smax, self.umin, self.umax,
                                           self.s32_min, self.s32_max, self.u32_min, self.u32_max)
        (self.var_off, self.smin, self.smax, self.umin, self.umax,
         self.s32_min, self.s32_max, self.u32_min, self.u32_max) = out

    # -- width views ------------------------------------------------------------------
    def view(self, bits: int) -> "View":
        if bits == 64:
            return _new_tuple(View, (self.var_off, self.smin, self.smax, self.umin, self.umax))
        return _new_tuple(View, (self.var_off.subreg(), self.s32_min, self.s32_max, self.u32_min, self.u32_max))

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


def _sync(var_off, smin, smax, umin, umax, s32_min, s32_max, u32_min, u32_max) -> tuple:
    """reg_bounds_sync() in one pass over locals: bounds from the tnum, the 32/64 and
    signed/unsigned deductions twice, the tnum from the bounds, and the bounds from
    the tnum once more.  The step-by-step form is the oracle in tests/test_verifier_domains.py.

    Compiled, the locals are C integers (scalar.pxd): unsigned 64-bit for the tnum and
    the unsigned range, signed 64-bit for the rest.  Every expression is written to give
    the same value with Python's unbounded integers and with C's wrapping ones: a bit
    pattern u becomes signed as (u ^ 2**63) - 2**63 and a signed s becomes its pattern
    as (s + 2**63) ^ 2**63 (exact in Python, modulo 2**64 in C); a mask of n low bits is
    (one << n) - 1 with an unsigned one.
    """
    tv, tm = var_off
    one = 1
    for rnd in range(4):
        if rnd != 1 and rnd != 2:  # bounds from the tnum (before and after the deductions)
            v32, m32 = tv & _M32, tm & _M32
            x32 = v32 | (m32 & _B31)
            x32 = x32 - _B32 if x32 >> 31 else x32
            if x32 > s32_min:
                s32_min = x32
            x32 = v32 | (m32 & 0x7FFFFFFF)
            x32 = x32 - _B32 if x32 >> 31 else x32
            if x32 < s32_max:
                s32_max = x32
            if v32 > u32_min:
                u32_min = v32
            x32 = v32 | m32
            if x32 < u32_max:
                u32_max = x32
            xs = ((tv | (tm & _SIGN64)) ^ _SIGN64) - _SIGN64
            if xs > smin:
                smin = xs
            xs = ((tv | (tm & _SMAX64)) ^ _SIGN64) - _SIGN64
            if xs < smax:
                smax = xs
            if tv > umin:
                umin = tv
            xu = tv | tm
            if xu < umax:
                umax = xu
            if rnd == 3:
                break
            continue
        # __reg_deduce_bounds: 32-bit views from 64-bit ranges whose upper halves agree
        for pair in range(2):
            if pair == 0:
                lo, hi = umin, umax
            else:
                lo, hi = (smin + _SIGN64) ^ _SIGN64, (smax + _SIGN64) ^ _SIGN64
            if lo >> 32 != hi >> 32:
                # upper halves two consecutive numbers, lower halves from negative to not:
                # still one s32 range (the kernel's special case)
                lo32, hi32 = lo & _M32, hi & _M32  # (signed locals when compiled: compared with s32 bounds)
                if ((lo >> 32) + 1) & _M32 == (hi >> 32) & _M32 and lo32 >> 31 and not hi32 >> 31:
                    slo = lo32 - _B32
                    if slo > s32_min:
                        s32_min = slo
                    if hi32 < s32_max:
                        s32_max = hi32
                continue
            lo32, hi32 = lo & _M32, hi & _M32
            if lo32 <= hi32:
                if lo32 > u32_min:
                    u32_min = lo32
                if hi32 < u32_max:
                    u32_max = hi32
            slo = lo32 - _B32 if lo32 >> 31 else lo32
            shi = hi32 - _B32 if hi32 >> 31 else hi32
            if slo <= shi:
                if slo > s32_min:
                    s32_min = slo
                if shi < s32_max:
                    s32_max = shi
        # signed <-> unsigned within 32 bits, when no sign boundary is crossed
        slo = u32_min - _B32 if u32_min >> 31 else u32_min
        shi = u32_max - _B32 if u32_max >> 31 else u32_max
        if slo <= shi:
            if slo > s32_min:
                s32_min = slo
            if shi < s32_max:
                s32_max = shi
        lo32, hi32 = s32_min & _M32, s32_max & _M32
        if lo32 <= hi32:
            if lo32 > u32_min:
                u32_min = lo32
            if hi32 < u32_max:
                u32_max = hi32
        elif u32_max < lo32:  # the s32 range crosses the sign: the u32 one meets only its non-negative part
            s32_min = u32_min - _B32 if u32_min >> 31 else u32_min
            if hi32 < u32_max:
                u32_max = hi32
        elif hi32 < u32_min:  # ... only its negative part
            s32_max = u32_max - _B32 if u32_max >> 31 else u32_max
            if lo32 > u32_min:
                u32_min = lo32
        # signed <-> unsigned within 64 bits
        xs, ys = (umin ^ _SIGN64) - _SIGN64, (umax ^ _SIGN64) - _SIGN64
        if xs <= ys:
            if xs > smin:
                smin = xs
            if ys < smax:
                smax = ys
        lo, hi = (smin + _SIGN64) ^ _SIGN64, (smax + _SIGN64) ^ _SIGN64
        if lo <= hi:
            if lo > umin:
                umin = lo
            if hi < umax:
                umax = hi
        elif umax < lo:  # the s64 range crosses the sign: the u64 one meets only its non-negative part
            smin = (umin ^ _SIGN64) - _SIGN64
            if hi < umax:
                umax = hi
        elif hi < umin:  # ... only its negative part
            smax = (umax ^ _SIGN64) - _SIGN64
            if lo > umin:
                umin = lo
        # 64-bit ranges from the 32-bit one (kernel __reg_deduce_mixed_bounds)
        if u32_min <= u32_max:
            xu = (umin & _HIGH32) | u32_min
            if xu > umin:
                umin = xu
            xu = (umax & _HIGH32) | u32_max
            if xu < umax:
                umax = xu
            xs = (((((smin + _SIGN64) ^ _SIGN64) & _HIGH32) | u32_min) ^ _SIGN64) - _SIGN64
            if xs > smin:
                smin = xs
            xs = (((((smax + _SIGN64) ^ _SIGN64) & _HIGH32) | u32_max) ^ _SIGN64) - _SIGN64
            if xs < smax:
                smax = xs
        if rnd == 2 and umin <= umax and u32_min <= u32_max:
            # __reg_bound_offset: var_off &= tnum_range(umin, umax), and the same in 32 bits
            bits = _bit_length(umin ^ umax)
            if bits <= 63:
                delta = (one << bits) - 1
                xu, yu = tv | (umin & ~delta), tm & delta
                tv, tm = xu & ~yu, yu
            delta = (one << _bit_length(u32_min ^ u32_max)) - 1
            xu, yu = (tv & _M32) | (u32_min & ~delta & _M32), tm & delta & _M32
            xu &= ~yu
            tv, tm = (tv & _HIGH32) | xu, (tm & _HIGH32) | yu
    return _new_tuple(Tnum, (tv, tm)), smin, smax, umin, umax, s32_min, s32_max, u32_min, u32_max


def _bit_length(x):  # types: scalar.pxd
    """x.bit_length() for 0 <= x < 2**64, in steps that compile to C (int methods do not)."""
    n = 0
    for step in (32, 16, 8, 4, 2, 1):
        if x >> step:
            x >>= step
            n += step
    return n + x


def clear_caches() -> None:  # types: scalar.pxd
    """Forget memoised results (each verification starts cold, so timings stay honest)."""
    sync_cache, alu_cache = _SYNC_CACHE, _ALU_CACHE  # (compiled: typed dicts, their clear() C calls)
    sync_cache.clear()
    alu_cache.clear()


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
    return _new_tuple(View, (_new_tuple(Tnum, (0, umax)), smin, smax, 0, umax))


def const_view(value: int, bits: int) -> View:
    umax, _, _ = _limits(bits)
    v = value & umax
    sv = v - (1 << bits) if v >> (bits - 1) else v
    return _new_tuple(View, (_new_tuple(Tnum, (v, 0)), sv, sv, v, v))


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
    return _new_tuple(View, (t, slo, shi, ulo, uhi))


def _sub(a: View, b: View, bits: int, t: Tnum) -> View:
    lo, hi = a.umin - b.umax, a.umax - b.umin
    ulo, uhi = _wrap(lo, hi, lo < 0, hi < 0, bits)
    slo, shi = _signed(a.smin - b.smax, a.smax - b.smin, bits)
    return _new_tuple(View, (t, slo, shi, ulo, uhi))


def _mul(a: View, b: View, bits: int, t: Tnum) -> View:
    umax_all, smin_all, smax_all = _limits(bits)
    if a.umax * b.umax <= umax_all:
        ulo, uhi = a.umin * b.umin, a.umax * b.umax
    else:
        ulo, uhi = 0, umax_all
    corners = [x * y for x in (a.smin, a.smax) for y in (b.smin, b.smax)]
    slo, shi = _signed(min(corners), max(corners), bits)
    return _new_tuple(View, (t, slo, shi, ulo, uhi))


def _and(a: View, b: View, bits: int, t: Tnum) -> View:
    ulo, uhi = t.value, min(a.umax, b.umax)
    return _new_tuple(View, (t, *_signed_from_unsigned(ulo, uhi, bits), ulo, uhi))


def _or(a: View, b: View, bits: int, t: Tnum) -> View:
    ulo, uhi = max(a.umin, b.umin), t.value | t.mask
    return _new_tuple(View, (t, *_signed_from_unsigned(ulo, uhi, bits), ulo, uhi))


def _xor(a: View, b: View, bits: int, t: Tnum) -> View:
    ulo, uhi = t.value, t.value | t.mask
    return _new_tuple(View, (t, *_signed_from_unsigned(ulo, uhi, bits), ulo, uhi))


# op -> (tnum function, range function); the low half of these ops' results
# depends only on the low halves of the operands.
_LOW_HALF_OPS = {
    OP_ADD: (Tnum.add, _add),
    OP_SUB: (Tnum.sub, _sub),
    OP_MUL: (Tnum.mul, _mul),
    OP_AND: (Tnum.and_, _and),
    OP_OR: (Tnum.or_, _or),
    OP_XOR: (Tnum.xor, _xor),
}


def _binary_view(op: int, a: View, b: View, bits: int) -> View:
    tnum_fn, range_fn = _LOW_HALF_OPS[op]
    return range_fn(a, b, bits, tnum_fn(a.tnum, b.tnum).cast(bits // 8))


def _shift_view(op: int, a: View, k: int, bits: int) -> View:
    umax_all, smin_all, smax_all = _limits(bits)
    if op == OP_LSH:
        t = a.tnum.lshift(k).cast(bits // 8)
        if a.umax << k > umax_all:
            return _new_tuple(View, (t, smin_all, smax_all, 0, umax_all))
        return _new_tuple(View, (t, smin_all, smax_all, a.umin << k, a.umax << k))
    if op == OP_RSH:
        return _new_tuple(View, (a.tnum.rshift(k), smin_all, smax_all, a.umin >> k, a.umax >> k))
    t = a.tnum.arshift(k, bits)
    return _new_tuple(View, (t, a.smin >> k, a.smax >> k, 0, umax_all))


# The ops whose abstract result on two constants is that constant (the tnum and both
# ranges collapse to it): opcode bits -> (64-bit, 32-bit) concrete meaning, from
# ebpf/semantics.py; operands already truncated to the width, shifts below it.
CONCRETE = {op: (ALU64[PLAIN_ALU[op]], ALU32[PLAIN_ALU[op]])
            for op in (OP_ADD, OP_SUB, OP_MUL, OP_AND, OP_OR, OP_XOR, OP_LSH, OP_RSH, OP_ARSH)}


_SHIFTS = frozenset({OP_LSH, OP_RSH, OP_ARSH})


def const_alu(op, a, b, is64) -> int | None:  # types: scalar.pxd
    """dst <op> src on two constants, or None when the abstract result is not that constant."""
    concrete = CONCRETE  # (compiled: a typed dict, scalar.pxd)
    fns = concrete.get(op)
    bits = 64 if is64 else 32
    if fns is None or (op in _SHIFTS and b >= bits):
        return None  # div/mod and over-wide shifts: unknown, as in the kernel
    mask = U64 if is64 else U32
    return fns[0 if is64 else 1](a & mask, b & mask)


def scalar_alu(dst: Bounds, op, src: Bounds, is64) -> None:  # types: scalar.pxd
    """dst = dst <op> src on scalars (adjust_scalar_min_max_vals); memoised like sync()."""
    if not dst.var_off.mask and not src.var_off.mask:
        value = const_alu(op, dst.var_off.value, src.var_off.value, is64)
        if value is not None:
            dst.set_const_bounds(value)
            return
    key = (op, is64, dst.var_off, dst.smin, dst.smax, dst.umin, dst.umax, dst.s32_min, dst.s32_max, dst.u32_min,
           dst.u32_max, src.var_off, src.smin, src.smax, src.umin, src.umax, src.s32_min, src.s32_max,
           src.u32_min, src.u32_max)
    cache = _ALU_CACHE  # (compiled: a typed dict, scalar.pxd)
    out = cache.get(key)
    if out is None:
        _scalar_alu(dst, op, src, is64)
        if len(cache) > _CACHE_LIMIT:
            cache.clear()
        cache[key] = (dst.var_off, dst.smin, dst.smax, dst.umin, dst.umax,
                           dst.s32_min, dst.s32_max, dst.u32_min, dst.u32_max)
        return
    (dst.var_off, dst.smin, dst.smax, dst.umin, dst.umax,
     dst.s32_min, dst.s32_max, dst.u32_min, dst.u32_max) = out


_PLAIN_OPS = frozenset({OP_ADD, OP_SUB, OP_AND, OP_OR, OP_XOR})  # what _plain_view computes


def _plain_view(op, bits, av, am, asmin, asmax, aumin, aumax, bv, bm, bsmin, bsmax, bumin, bumax) -> tuple:
    """_binary_view(op, a, b, bits) for add, sub, and, or and xor, on the fields of the two
    views (the tnums may be given whole: only their low `bits` are read), as (tnum value,
    tnum mask, smin, smax, umin, umax).  The same definitions
    (tnum.py, _add ... _xor), written to be exact both with Python integers and with the
    wrapping C integers they are compiled to (scalar.pxd): overflow is tested without
    overflowing, and bit patterns are masked to the width before they are read as signed.
    tests/test_verifier_domains.py checks it against _binary_view.
    """
    umax_all = _ALL64 >> (64 - bits)
    sign = _SIGN64 >> (64 - bits)
    smax_all = sign - 1
    smin_all = -smax_all - 1
    av, am, bv, bm = av & umax_all, am & umax_all, bv & umax_all, bm & umax_all  # the tnums' low halves for 32
    if op == OP_ADD or op == OP_SUB:
        if op == OP_ADD:
            x = (am + bm) & _ALL64
            v = (av + bv) & _ALL64
            y = (x + v) & _ALL64  # sigma (tnum add)
            mu = (y ^ v) | am | bm
            over_lo, over_hi = aumin > umax_all - bumin, aumax > umax_all - bumax
            ulo, uhi = (aumin + bumin) & umax_all, (aumax + bumax) & umax_all
            slo, shi = asmin + bsmin, asmax + bsmax
            signed_over = (_add_overflows(asmin, bsmin, smin_all, smax_all)
                           or _add_overflows(asmax, bsmax, smin_all, smax_all))
        else:
            v = (av - bv) & _ALL64
            x = (v + am) & _ALL64  # alpha (tnum sub)
            y = (v - bm) & _ALL64  # beta
            mu = (x ^ y) | am | bm
            over_lo, over_hi = aumin < bumax, aumax < bumin
            ulo, uhi = (aumin - bumax) & umax_all, (aumax - bumin) & umax_all
            slo, shi = asmin - bsmax, asmax - bsmin
            signed_over = (_sub_overflows(asmin, bsmax, smin_all, smax_all)
                           or _sub_overflows(asmax, bsmin, smin_all, smax_all))
        tv, tm = v & ~mu & umax_all, mu & umax_all
        if over_lo != over_hi:
            ulo, uhi = 0, umax_all
        if signed_over:
            slo, shi = smin_all, smax_all
        return tv, tm, slo, shi, ulo, uhi
    if op == OP_AND:
        v = av & bv
        tv, tm = v & umax_all, (av | am) & (bv | bm) & ~v & umax_all
        ulo, uhi = tv, min(aumax, bumax)
    elif op == OP_OR:
        v = av | bv
        tv, tm = v & umax_all, (am | bm) & ~v & umax_all
        ulo, uhi = max(aumin, bumin), tv | tm
    else:  # xor
        mu = am | bm
        tv, tm = (av ^ bv) & ~mu & umax_all, mu & umax_all
        ulo, uhi = tv, tv | tm
    if (ulo & sign) == (uhi & sign):  # _signed_from_unsigned
        slo, shi = (ulo ^ sign) - sign, (uhi ^ sign) - sign
    else:
        slo, shi = smin_all, smax_all
    return tv, tm, slo, shi, ulo, uhi


def _add_overflows(x, y, lo, hi):  # types: scalar.pxd
    """x + y leaves [lo, hi] (x, y inside it), found without computing x + y."""
    return (y < 0 and x < lo - y) or (y > 0 and x > hi - y)


def _plain_shift(op, bits, k, av, am, asmin, asmax, aumin, aumax) -> tuple:
    """_shift_view(op, a, k, bits) on the fields of the view (0 <= k < bits), as _plain_view
    returns them and written the same way (exact with Python and with C integers)."""
    umax_all = _ALL64 >> (64 - bits)
    sign = _SIGN64 >> (64 - bits)
    smax_all = sign - 1
    smin_all = -smax_all - 1
    if op == OP_LSH:
        tv, tm = (av << k) & umax_all, (am << k) & umax_all
        if aumax > umax_all >> k:  # aumax << k overflows
            return tv, tm, smin_all, smax_all, 0, umax_all
        return tv, tm, smin_all, smax_all, aumin << k, aumax << k
    if op == OP_RSH:
        return av >> k, am >> k, smin_all, smax_all, aumin >> k, aumax >> k
    sv, sm = (av ^ sign) - sign, (am ^ sign) - sign  # arsh: the bit patterns as signed, shifted
    return (sv >> k) & umax_all, (sm >> k) & umax_all, asmin >> k, asmax >> k, 0, umax_all


def _sub_overflows(x, y, lo, hi):  # types: scalar.pxd
    """x - y leaves [lo, hi] (x, y inside it), found without computing x - y."""
    return (y > 0 and x < lo + y) or (y < 0 and x > hi + y)


def _scalar_alu(dst: Bounds, op, src: Bounds, is64) -> None:  # types: scalar.pxd
    bits = 64 if is64 else 32
    # (a Tnum is unpacked, not indexed: compiled, indexing a tuple subclass goes through
    # CPython's generic sq_item slot, a Python-level __getitem__ call each)
    if op in _PLAIN_OPS:
        dv, dm = dst.var_off
        sv, sm = src.var_off
        low = _plain_view(op, 32, dv, dm, dst.s32_min, dst.s32_max, dst.u32_min, dst.u32_max,
                          sv, sm, src.s32_min, src.s32_max, src.u32_min, src.u32_max)
        if is64:
            tv, tm, dst.smin, dst.smax, dst.umin, dst.umax = _plain_view(
                op, 64, dv, dm, dst.smin, dst.smax, dst.umin, dst.umax,
                sv, sm, src.smin, src.smax, src.umin, src.umax)
            dst.var_off = _new_tuple(Tnum, (tv, tm))
            _, _, dst.s32_min, dst.s32_max, dst.u32_min, dst.u32_max = low
            dst.sync()
        else:
            dst.set_view32_zext(_new_tuple(View, (_new_tuple(Tnum, (low[0], low[1])), low[2], low[3], low[4], low[5])))
        return
    if op in _LOW_HALF_OPS:
        result = _binary_view(op, dst.view(bits), src.view(bits), bits)
        if is64:
            low = _binary_view(op, dst.view(32), src.view(32), 32)
            dst.set_view64(result, low)
        else:
            dst.set_view32_zext(result)
        return
    shift_known = op in (OP_LSH, OP_RSH, OP_ARSH) and src.is_const and src.const_value < bits
    if shift_known:
        dv, dm = dst.var_off
        if is64:
            fields = _plain_shift(op, 64, src.const_value, dv, dm, dst.smin, dst.smax, dst.umin, dst.umax)
        else:
            fields = _plain_shift(op, 32, src.const_value, dv & U32, dm & U32, dst.s32_min, dst.s32_max,
                                  dst.u32_min, dst.u32_max)
        result = _new_tuple(View, (_new_tuple(Tnum, (fields[0], fields[1])), fields[2], fields[3], fields[4], fields[5]))
    else:  # div, mod, shifts by unknown amounts: nothing is known (as in the kernel)
        result = unknown_view(bits)
    if is64:
        dst.set_view64(result, None)
    else:
        dst.set_view32_zext(result)


def scalar_neg(dst: Bounds, is64: bool) -> None:
    bits = 64 if is64 else 32
    result = _binary_view(OP_SUB, const_view(0, bits), dst.view(bits), bits)
    if is64:
        low = _binary_view(OP_SUB, const_view(0, 32), dst.view(32), 32)
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
        result = _new_tuple(View, (v.tnum.cast(size), max(0, v.smin), min(mask, v.smax), v.umin, v.umax))
    else:
        result = _new_tuple(View, (v.tnum.cast(size), 0, mask, 0, mask))
    dst.set_view64(result, None)


def sign_extend(dst: Bounds, from_bits: int, to_bits: int) -> None:
    """Sign-extend the low `from_bits` to `to_bits` (movsx, ldsx) as the kernel does:
    coerce_reg_to_size_sx for 64-bit results, coerce_subreg_to_size_sx then zext_32_to_64
    for 32-bit ones.  A signed range whose bits above `from_bits` agree maps to the range
    of its ends' extensions when those share a sign; any other becomes the full range of
    the narrow type (the tnum is rebuilt from the range either way)."""
    half = 1 << (from_bits - 1)
    if dst.is_const:
        value = _sext(dst.const_value, from_bits)
        dst.set_const_bounds(value if to_bits == 64 else value & U32)
        return
    if to_bits == 64:
        lo, hi, mask = dst.smin, dst.smax, U64
    else:
        lo, hi, mask = dst.s32_min, dst.s32_max, U32
    same_top = (lo & mask) >> from_bits == (hi & mask) >> from_bits
    a, b = _sext(lo, from_bits), _sext(hi, from_bits)
    lo, hi = min(a, b), max(a, b)
    exact = same_top and (lo >= 0) == (hi >= 0)
    if exact:
        tnum = Tnum.range(lo & U64, hi & U64)
        ulo, uhi = lo & mask, hi & mask
    else:  # set_sext64/32_default_val
        lo, hi, tnum = -half, half - 1, UNKNOWN
        ulo, uhi = 0, mask
    if to_bits == 64:
        dst.var_off, dst.smin, dst.smax, dst.s32_min, dst.s32_max = tnum, lo, hi, lo, hi
        dst.umin, dst.umax = ulo, uhi
        dst.u32_min, dst.u32_max = (lo & U32, hi & U32) if exact else (0, U32)
    else:
        dst.set_view32_zext(_new_tuple(View, (tnum, lo, hi, ulo, uhi)))


def _sext(v: int, bits: int) -> int:
    v &= (1 << bits) - 1
    return v - (1 << bits) if v >> (bits - 1) else v
