"""Soundness of the value domains: every concrete result lies in the abstract result.

Concrete values are drawn inside random abstract values (tnum + bounds), the
operation is applied both ways, and membership is checked; the concrete
semantics (wrapping 64/32-bit arithmetic) is the oracle.
"""

from __future__ import annotations

from hypothesis import given, settings, strategies as st

from xdptool.ebpf.opcodes import AluOp, JmpOp
from xdptool.verifier import branches
from xdptool.verifier.scalar import s32, s64, scalar_alu, sign_extend, truncate
from xdptool.verifier.state import Reg
from xdptool.verifier.tnum import U32, U64, Tnum

u64 = st.integers(0, U64)
interesting = st.one_of(u64, st.integers(0, 300), st.integers(U64 - 300, U64), st.integers(0, U32))


@st.composite
def abstract_with_member(draw):
    """A register covering [lo, hi] (through a refinement) and a value inside it."""
    a, b = sorted((draw(interesting), draw(interesting)))
    x = draw(st.integers(a, b))
    reg = Reg.unknown()
    lo, hi = Reg.const(a), Reg.const(b)
    assert branches.refine(reg, lo, JmpOp.JGE, 64) and branches.refine(reg, hi, JmpOp.JLE, 64)
    if draw(st.booleans()):  # also know some bits: and with a mask that keeps x
        mask = draw(u64) | x
        scalar_alu(reg, AluOp.AND, Reg.const(mask), True)
        x &= mask
    return reg, x


def contains(reg: Reg, x: int) -> bool:
    x &= U64
    return (
        reg.umin <= x <= reg.umax and reg.smin <= s64(x) <= reg.smax
        and reg.u32_min <= x & U32 <= reg.u32_max and reg.s32_min <= s32(x) <= reg.s32_max
        and (x & ~reg.var_off.mask & U64) == reg.var_off.value
    )


def concrete(op: int, a: int, b: int, is64: bool) -> int:
    bits = 64 if is64 else 32
    mask = (1 << bits) - 1
    a, b = a & mask, b & mask
    result = {
        AluOp.ADD: a + b, AluOp.SUB: a - b, AluOp.MUL: a * b, AluOp.AND: a & b, AluOp.OR: a | b, AluOp.XOR: a ^ b,
        AluOp.LSH: a << (b % bits), AluOp.RSH: a >> (b % bits), AluOp.DIV: a // b if b else 0,
        AluOp.MOD: a % b if b else a,
        AluOp.ARSH: (a - (1 << bits) if a >> (bits - 1) else a) >> (b % bits),
    }[op]
    return result & mask


OPS = [AluOp.ADD, AluOp.SUB, AluOp.MUL, AluOp.AND, AluOp.OR, AluOp.XOR, AluOp.LSH, AluOp.RSH, AluOp.ARSH, AluOp.DIV, AluOp.MOD]


@settings(max_examples=400, deadline=None)
@given(abstract_with_member(), abstract_with_member(), st.sampled_from(OPS), st.booleans())
def test_alu_is_sound(dst, src, op, is64):
    (dreg, x), (sreg, y) = dst, src
    if op in (AluOp.LSH, AluOp.RSH, AluOp.ARSH):
        sreg, y = Reg.const(y % (64 if is64 else 32)), y % (64 if is64 else 32)
    assert contains(dreg, x) and contains(sreg, y)
    result = dreg.copy()
    scalar_alu(result, op, sreg, is64)
    assert contains(result, concrete(op, x, y, is64)), (op, x, y)


@settings(max_examples=300, deadline=None)
@given(abstract_with_member(), abstract_with_member(),
       st.sampled_from([JmpOp.JEQ, JmpOp.JNE, JmpOp.JGT, JmpOp.JGE, JmpOp.JLT, JmpOp.JLE, JmpOp.JSGT,
                        JmpOp.JSGE, JmpOp.JSLT, JmpOp.JSLE, JmpOp.JSET]), st.sampled_from([32, 64]))
def test_branch_refinement_is_sound(a, b, op, bits):
    (ra, x), (rb, y) = a, b
    mask = (1 << bits) - 1
    cx, cy = x & mask, y & mask
    sx = cx - (1 << bits) if cx >> (bits - 1) else cx
    sy = cy - (1 << bits) if cy >> (bits - 1) else cy
    holds = {JmpOp.JEQ: cx == cy, JmpOp.JNE: cx != cy, JmpOp.JGT: cx > cy, JmpOp.JGE: cx >= cy, JmpOp.JLT: cx < cy,
             JmpOp.JLE: cx <= cy, JmpOp.JSGT: sx > sy, JmpOp.JSGE: sx >= sy, JmpOp.JSLT: sx < sy, JmpOp.JSLE: sx <= sy,
             JmpOp.JSET: bool(cx & cy)}[op]
    decided = branches.branch_taken(ra, rb, op, bits)
    assert decided is None or decided == holds
    side = op if holds else branches.NEGATE[op]
    ta, tb = ra.copy(), rb.copy()
    assert branches.refine(ta, tb, side, bits), "a feasible branch was declared impossible"
    assert contains(ta, x) and contains(tb, y)


@settings(max_examples=300, deadline=None)
@given(abstract_with_member(), st.sampled_from([1, 2, 4]), st.sampled_from([8, 16, 32]))
def test_truncate_and_sign_extend_are_sound(a, size, from_bits):
    reg, x = a
    t = reg.copy()
    truncate(t, size)
    assert contains(t, x & ((1 << (size * 8)) - 1))
    sx = reg.copy()
    sign_extend(sx, from_bits, 64)
    low = x & ((1 << from_bits) - 1)
    assert contains(sx, (low - (1 << from_bits) if low >> (from_bits - 1) else low) & U64)


@given(u64, u64, u64, u64)
def test_tnum_add_and_mul_contain_concrete_results(v1, m1, v2, m2):
    a, b = Tnum(v1 & ~m1 & U64, m1), Tnum(v2 & ~m2 & U64, m2)
    x, y = a.value | (m1 & v2), b.value | (m2 & v1)  # members of a and b
    for result, value in ((a.add(b), x + y), (a.sub(b), x - y), (a.mul(b), x * y), (a.and_(b), x & y),
                          (a.or_(b), x | y), (a.xor(b), x ^ y)):
        assert result.contains(Tnum.const(value & U64))


def test_tnum_range_and_printing():
    t = Tnum.range(0, 255)
    assert (t.value, t.mask) == (0, 255) and str(t) == "(0x0; 0xff)"
    assert Tnum.range(16, 31) == Tnum(16, 15)


# -- the fast reg_bounds_sync against its step-by-step definition ------------------------------

def _reference_sync(b) -> None:
    """reg_bounds_sync() written out step by step, as the kernel structures it (the oracle)."""
    from xdptool.verifier.scalar import S64_MAX

    def from_tnum():
        t = b.var_off
        t32 = t.subreg()
        b.s32_min = max(b.s32_min, s32(t32.value | (t32.mask & 0x80000000)))
        b.s32_max = min(b.s32_max, s32(t32.value | (t32.mask & 0x7FFFFFFF)))
        b.u32_min = max(b.u32_min, t32.value)
        b.u32_max = min(b.u32_max, t32.value | t32.mask)
        b.smin = max(b.smin, s64(t.value | (t.mask & (1 << 63))))
        b.smax = min(b.smax, s64(t.value | (t.mask & S64_MAX)))
        b.umin = max(b.umin, t.value)
        b.umax = min(b.umax, t.value | t.mask)

    def narrow32(lo, hi):
        if lo & U32 <= hi & U32:
            b.u32_min, b.u32_max = max(b.u32_min, lo & U32), min(b.u32_max, hi & U32)
        if s32(lo) <= s32(hi):
            b.s32_min, b.s32_max = max(b.s32_min, s32(lo)), min(b.s32_max, s32(hi))

    def consecutive_upper(lo, hi):  # __reg32_deduce_bounds' special case
        lo, hi = lo & U64, hi & U64
        if ((lo >> 32) + 1) & U32 == hi >> 32 and s32(lo) < 0 <= s32(hi):
            b.s32_min, b.s32_max = max(b.s32_min, s32(lo)), min(b.s32_max, s32(hi))

    def deduce():
        if b.umin >> 32 == b.umax >> 32:
            narrow32(b.umin, b.umax)
        if b.smin >> 32 == b.smax >> 32:
            narrow32(b.smin, b.smax)
        consecutive_upper(b.umin, b.umax)
        consecutive_upper(b.smin, b.smax)
        if s32(b.u32_min) <= s32(b.u32_max):
            b.s32_min, b.s32_max = max(b.s32_min, s32(b.u32_min)), min(b.s32_max, s32(b.u32_max))
        if b.s32_min & U32 <= b.s32_max & U32:
            b.u32_min, b.u32_max = max(b.u32_min, b.s32_min & U32), min(b.u32_max, b.s32_max & U32)
        elif b.u32_max < b.s32_min & U32:  # the s32 range crosses the sign boundary
            b.s32_min, b.u32_max = s32(b.u32_min), min(b.u32_max, b.s32_max & U32)
        elif b.s32_max & U32 < b.u32_min:
            b.s32_max, b.u32_min = s32(b.u32_max), max(b.u32_min, b.s32_min & U32)
        if s64(b.umin) <= s64(b.umax):
            b.smin, b.smax = max(b.smin, s64(b.umin)), min(b.smax, s64(b.umax))
        if b.smin & U64 <= b.smax & U64:
            b.umin, b.umax = max(b.umin, b.smin & U64), min(b.umax, b.smax & U64)
        elif b.umax < b.smin & U64:  # the s64 range crosses the sign boundary
            b.smin, b.umax = s64(b.umin), min(b.umax, b.smax & U64)
        elif b.smax & U64 < b.umin:
            b.smax, b.umin = s64(b.umax), max(b.umin, b.smin & U64)
        if b.u32_min <= b.u32_max:
            b.umin = max(b.umin, (b.umin & ~U32) | b.u32_min)
            b.umax = min(b.umax, (b.umax & ~U32) | b.u32_max)
            b.smin = max(b.smin, s64((b.smin & ~U32 & U64) | b.u32_min))
            b.smax = min(b.smax, s64((b.smax & ~U32 & U64) | b.u32_max))

    def bound_offset():
        if b.umin > b.umax or b.u32_min > b.u32_max:
            return
        t64 = b.var_off.intersect(Tnum.range(b.umin, b.umax))
        t32 = t64.subreg().intersect(Tnum.range(b.u32_min, b.u32_max))
        b.var_off = t64.with_subreg(t32)

    from_tnum()
    deduce()
    deduce()
    bound_offset()
    from_tnum()


EDGES = [0, 1, 2, 255, 256, U32, U32 + 1, U64, U64 - 1, 1 << 63, (1 << 63) - 1, 1 << 31, (1 << 31) - 1]


def test_fast_sync_equals_the_step_by_step_definition():
    """20,000 bounds with no relation to one another: consistent, contradictory, at the edges."""
    import random

    rng = random.Random(1)

    def pick():
        return rng.choice(EDGES) if rng.random() < 0.6 else rng.choice(
            (rng.randrange(512), rng.randrange(1 << 33), rng.randrange(1 << 64)))

    for _ in range(20_000):
        reg = Reg.unknown()
        v, m = pick(), pick()
        reg.var_off = Tnum(v & ~m & U64, m)
        reg.umin, reg.umax = sorted((pick(), pick()))
        reg.smin, reg.smax = sorted((s64(pick()), s64(pick())))
        reg.u32_min, reg.u32_max = sorted((pick() & U32, pick() & U32))
        reg.s32_min, reg.s32_max = sorted((s32(pick()), s32(pick())))
        expected = reg.copy()
        _reference_sync(expected)
        reg.sync()
        assert reg.bounds_key() == expected.bounds_key()


@given(interesting, interesting, st.sampled_from(OPS), st.booleans())
def test_constant_fast_path_is_the_concrete_result(a, b, op, is64):
    if op in (AluOp.LSH, AluOp.RSH, AluOp.ARSH):
        b %= 64 if is64 else 32
    reg = Reg.const(a)
    scalar_alu(reg, op, Reg.const(b), is64)
    if op in (AluOp.DIV, AluOp.MOD):
        assert not reg.is_const  # as the kernel: unknown, even on constants
    else:
        assert reg.is_const and reg.const_value == concrete(op, a, b, is64)
        assert contains(reg, concrete(op, a, b, is64))


def test_sync_of_a_constant_tnum_equals_the_step_by_step_definition():
    """The shortcut for constant tnums (inside every range, or not), against the oracle."""
    import random

    rng = random.Random(2)
    shortcut = 0
    for _ in range(20_000):
        v = rng.choice(EDGES) if rng.random() < 0.5 else rng.randrange(1 << rng.choice((8, 32, 33, 64)))
        v &= U64
        reg = Reg.unknown()
        reg.var_off = Tnum(v, 0)
        widen = lambda: rng.choice((0, 1, 7, 1 << 31, 1 << 40))  # noqa: E731
        reg.umin, reg.umax = max(0, v - widen()), min(U64, v + widen())
        reg.smin, reg.smax = s64(v) - widen(), s64(v) + widen()
        reg.u32_min, reg.u32_max = max(0, (v & U32) - widen()), min(U32, (v & U32) + widen())
        reg.s32_min, reg.s32_max = s32(v) - widen(), s32(v) + widen()
        reg.smin, reg.smax = max(reg.smin, -(1 << 63)), min(reg.smax, (1 << 63) - 1)
        reg.s32_min, reg.s32_max = max(reg.s32_min, -(1 << 31)), min(reg.s32_max, (1 << 31) - 1)
        miss = rng.choice(("umin", "smax", "u32_max", "s32_min")) if rng.random() < 0.3 else None
        if miss:  # one range that leaves the value out
            value = {"umin": v, "smax": s64(v), "u32_max": v & U32, "s32_min": s32(v)}[miss]
            changed = value + 1 if miss.endswith("min") else value - 1
            domain = {"umin": (0, U64), "smax": (-(1 << 63), (1 << 63) - 1), "u32_max": (0, U32),
                      "s32_min": (-(1 << 31), (1 << 31) - 1)}[miss]
            if not domain[0] <= changed <= domain[1]:
                continue  # no value of the domain lies on that side
            setattr(reg, miss, changed)
        expected = reg.copy()
        _reference_sync(expected)
        shortcut += miss is None
        reg.sync()
        assert reg.bounds_key() == expected.bounds_key(), (v, expected.bounds_key())
    assert shortcut > 10_000


def test_plain_view_equals_the_view_definitions():
    """_plain_view (C integers when compiled) against _binary_view on views of both widths:
    at the edges, where adds and subtracts overflow, and at random."""
    import random

    from xdptool.verifier.scalar import View, _binary_view, _plain_view
    from xdptool.verifier.codes import OP_ADD, OP_AND, OP_OR, OP_SUB, OP_XOR

    rng = random.Random(3)
    for bits in (32, 64):
        top = (1 << bits) - 1
        edges = [e & top for e in EDGES] + [top >> 1, (top >> 1) + 1]

        def pick():
            return rng.choice(edges) if rng.random() < 0.6 else rng.randrange(top + 1)

        def signed(v):
            return v - (1 << bits) if v >> (bits - 1) else v

        def view():
            v, m = pick(), pick()
            return View(Tnum(v & ~m & top, m), *sorted((signed(pick()), signed(pick()))), *sorted((pick(), pick())))

        for _ in range(6_000):
            a, b, op = view(), view(), rng.choice((OP_ADD, OP_SUB, OP_AND, OP_OR, OP_XOR))
            expected = _binary_view(op, a, b, bits)
            high = 0 if bits == 64 else rng.randrange(1 << 32) << 32  # a whole tnum: only the low half counts
            got = _plain_view(op, bits, a.tnum.value | high, a.tnum.mask | high, *a[1:], *b.tnum, *b[1:])
            assert got == (*expected.tnum, *expected[1:]), (op, bits, a, b)


def test_plain_shift_equals_the_view_definition():
    """_plain_shift (C integers when compiled) against _shift_view, every amount, both widths."""
    import random

    from xdptool.verifier.scalar import View, _plain_shift, _shift_view
    from xdptool.verifier.codes import OP_ARSH, OP_LSH, OP_RSH

    rng = random.Random(4)
    for bits in (32, 64):
        top = (1 << bits) - 1
        edges = [e & top for e in EDGES] + [top >> 1, (top >> 1) + 1]

        def pick():
            return rng.choice(edges) if rng.random() < 0.6 else rng.randrange(top + 1) >> rng.randrange(bits)

        def signed(v):
            return v - (1 << bits) if v >> (bits - 1) else v

        for _ in range(6_000):
            v, m = pick(), pick()
            a = View(Tnum(v & ~m & top, m), *sorted((signed(pick()), signed(pick()))), *sorted((pick(), pick())))
            op, k = rng.choice((OP_LSH, OP_RSH, OP_ARSH)), rng.randrange(bits)
            expected = _shift_view(op, a, k, bits)
            assert _plain_shift(op, bits, k, *a.tnum, *a[1:]) == (*expected.tnum, *expected[1:]), (op, bits, k, a)


def test_copy_bounds_from_copies_every_field():
    source = Reg.unknown()
    source.var_off, source.smin, source.smax, source.umin, source.umax = Tnum(4, 3), -5, 9, 2, 70
    source.s32_min, source.s32_max, source.u32_min, source.u32_max = -3, 8, 1, 60
    target = Reg.const(0)
    target.copy_bounds_from(source)
    assert target.bounds_key() == source.bounds_key()


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.sampled_from(EDGES + [-1, -(1 << 31), -(1 << 63), 1 << 64, (1 << 32) + (1 << 31)]),
                 st.integers(-(1 << 70), 1 << 70)))
def test_a_constant_register_holds_its_value_in_every_view(v):
    """Reg.const (set_const_bounds, which shares one int among the views equal to the value)
    against the definition: the 64-bit pattern, and its signed and 32-bit readings."""
    reg, u = Reg.const(v), v & U64
    views = (reg.var_off, reg.smin, reg.smax, reg.umin, reg.umax, reg.s32_min, reg.s32_max, reg.u32_min, reg.u32_max)
    assert views == (Tnum(u, 0), s64(u), s64(u), u, u, s32(u), s32(u), u & U32, u & U32)
    assert all(type(view) is int for view in views[1:])


def test_is_pointer_type_agrees_with_every_register_type():
    """state.is_pointer_type (two identity comparisons, for the compiled walk) answers what each
    RegType member says of itself; a new non-pointer type would make it wrong."""
    from xdptool.verifier.state import RegType, is_pointer_type

    assert [t for t in RegType if is_pointer_type(t) != t.is_pointer] == []
    assert not is_pointer_type(RegType.SCALAR) and is_pointer_type(RegType.PKT)
