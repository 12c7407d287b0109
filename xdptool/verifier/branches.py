"""What a conditional jump teaches about two scalars.

`branch_taken` decides a comparison from the bounds when it can (the kernel's
is_branch_taken: the other side is then not explored); `refine` narrows both
operands under the assumption that the comparison holds (regs_refine_cond_op),
and reports an infeasible assumption (empty bounds) as False.
"""

from __future__ import annotations

from .scalar import Bounds
from .tnum import U32, U64, Tnum
from .codes import OP_JEQ, OP_JGE, OP_JGT, OP_JLE, OP_JLT, OP_JNE, OP_JSET, OP_JSGE, OP_JSGT, OP_JSLE, OP_JSLT

JSET_FALSE = 0x1000  # pseudo op: "a & b == 0", the false side of JSET

NEGATE = {
    OP_JEQ: OP_JNE, OP_JNE: OP_JEQ,
    OP_JGT: OP_JLE, OP_JLE: OP_JGT,
    OP_JGE: OP_JLT, OP_JLT: OP_JGE,
    OP_JSGT: OP_JSLE, OP_JSLE: OP_JSGT,
    OP_JSGE: OP_JSLT, OP_JSLT: OP_JSGE,
    OP_JSET: JSET_FALSE, JSET_FALSE: OP_JSET,
}

# a <op> b  <=>  b <SWAPPED[op]> a
SWAPPED = {
    OP_JEQ: OP_JEQ, OP_JNE: OP_JNE, OP_JSET: OP_JSET, JSET_FALSE: JSET_FALSE,
    OP_JGT: OP_JLT, OP_JLT: OP_JGT, OP_JGE: OP_JLE, OP_JLE: OP_JGE,
    OP_JSGT: OP_JSLT, OP_JSLT: OP_JSGT, OP_JSGE: OP_JSLE, OP_JSLE: OP_JSGE,
}

def branch_taken(a: Bounds, b: Bounds, op, bits) -> bool | None:  # types: branches.pxd
    """True/False when `a op b` is decided by the bounds, None when both ways are possible."""
    if bits == 64:  # the fields of one width, read once (no View objects)
        (av, am), a_smin, a_smax, a_umin, a_umax = a.var_off, a.smin, a.smax, a.umin, a.umax
        (bv, bm), b_smin, b_smax, b_umin, b_umax = b.var_off, b.smin, b.smax, b.umin, b.umax
    else:
        (av, am), a_smin, a_smax, a_umin, a_umax = a.var_off.subreg(), a.s32_min, a.s32_max, a.u32_min, a.u32_max
        (bv, bm), b_smin, b_smax, b_umin, b_umax = b.var_off.subreg(), b.s32_min, b.s32_max, b.u32_min, b.u32_max
    if op == OP_JEQ or op == OP_JNE:
        if not am and not bm:
            equal = av == bv
        elif (a_umin > b_umax or a_umax < b_umin or a_smin > b_smax or a_smax < b_smin
              or (av ^ bv) & ~(am | bm)):
            equal = False
        else:
            return None
        return equal if op == OP_JEQ else not equal
    if op == OP_JSET or op == JSET_FALSE:
        if av & bv:
            result = True
        elif not ((av | am) & (bv | bm)):
            result = False
        else:
            return None
        return result if op == OP_JSET else not result
    if op in _SWAP_FIRST:  # a < b is b > a: swap the operands
        op = SWAPPED[op]
        a_smin, a_smax, a_umin, a_umax, b_smin, b_smax, b_umin, b_umax = (
            b_smin, b_smax, b_umin, b_umax, a_smin, a_smax, a_umin, a_umax)
    if op == OP_JGT or op == OP_JGE:
        lo_a, hi_a, lo_b, hi_b = a_umin, a_umax, b_umin, b_umax
    else:
        lo_a, hi_a, lo_b, hi_b = a_smin, a_smax, b_smin, b_smax
    if op == OP_JGT or op == OP_JSGT:
        if lo_a > hi_b:
            return True
        if hi_a <= lo_b:
            return False
    else:
        if lo_a >= hi_b:
            return True
        if hi_a < lo_b:
            return False
    return None


_SWAP_FIRST = frozenset({OP_JLT, OP_JLE, OP_JSLT, OP_JSLE})


def _get(reg: Bounds, bits) -> tuple:  # types: branches.pxd
    """(smin, smax, umin, umax) of one width."""
    if bits == 64:
        return reg.smin, reg.smax, reg.umin, reg.umax
    return reg.s32_min, reg.s32_max, reg.u32_min, reg.u32_max


def _put(reg: Bounds, bits, smin, smax, umin, umax) -> None:  # types: branches.pxd
    if bits == 64:
        reg.smin, reg.smax, reg.umin, reg.umax = smin, smax, umin, umax
    else:
        reg.s32_min, reg.s32_max, reg.u32_min, reg.u32_max = smin, smax, umin, umax


def refine(a: Bounds, b: Bounds, op, bits) -> bool:  # types: branches.pxd
    """Narrow a and b assuming `a op b`; False when that assumption is impossible.
    a and b may be one register (a comparison with itself): every step reads afresh."""
    if op in _SWAP_FIRST:
        a, b, op = b, a, SWAPPED[op]
    if op == OP_JEQ:
        a_smin, a_smax, a_umin, a_umax = _get(a, bits)
        b_smin, b_smax, b_umin, b_umax = _get(b, bits)
        smin, smax, umin, umax = max(a_smin, b_smin), min(a_smax, b_smax), max(a_umin, b_umin), min(a_umax, b_umax)
        _put(a, bits, smin, smax, umin, umax)
        _put(b, bits, smin, smax, umin, umax)
        if bits == 64:
            a.var_off = b.var_off = a.var_off.intersect(b.var_off)
        else:
            sub = a.var_off.subreg().intersect(b.var_off.subreg())
            a.var_off = a.var_off.with_subreg(sub)
            b.var_off = b.var_off.with_subreg(sub)
    elif op == OP_JNE:
        for x, y in ((a, b), (b, a)):
            c, mask = y.var_off if bits == 64 else y.var_off.subreg()
            if mask:
                continue
            sc = _get(y, bits)[0]
            smin, smax, umin, umax = _get(x, bits)
            if umin == c:
                umin = c + 1
            if umax == c:
                umax = c - 1
            if smin == sc:
                smin = sc + 1
            if smax == sc:
                smax = sc - 1
            _put(x, bits, smin, smax, umin, umax)
    elif op in (OP_JSET, JSET_FALSE):
        x, y = (a, b) if b.view(bits).tnum.is_const else (b, a)
        cview = y.view(bits).tnum
        if cview.is_const:
            _refine_jset(x, cview.value, op == OP_JSET, bits)
    elif op in (OP_JGT, OP_JGE):  # a > b: a's lower bound above b's, b's upper bound below a's
        strict = 1 if op == OP_JGT else 0
        smin, smax, umin, umax = _get(a, bits)
        _put(a, bits, smin, smax, max(umin, _get(b, bits)[2] + strict), umax)
        smin, smax, umin, umax = _get(b, bits)
        _put(b, bits, smin, smax, umin, min(umax, _get(a, bits)[3] - strict))
    elif op in (OP_JSGT, OP_JSGE):
        strict = 1 if op == OP_JSGT else 0
        smin, smax, umin, umax = _get(a, bits)
        _put(a, bits, max(smin, _get(b, bits)[0] + strict), smax, umin, umax)
        smin, smax, umin, umax = _get(b, bits)
        _put(b, bits, smin, min(smax, _get(a, bits)[1] - strict), umin, umax)
    for reg in (a, b):
        if reg.is_empty():
            return False
        reg.sync()
        if reg.is_empty():
            return False
    return True


def _refine_jset(reg: Bounds, c: int, is_set: bool, bits: int) -> None:
    width = U64 if bits == 64 else U32
    if is_set:
        if c and not c & (c - 1):  # a single bit: it must be set
            change = Tnum.const(c)
            reg.var_off = reg.var_off.or_(change) if bits == 64 else reg.var_off.with_subreg(reg.var_off.subreg().or_(change))
        return
    keep = Tnum.const(~c & width)
    if bits == 64:
        reg.var_off = reg.var_off.and_(keep)
    else:
        reg.var_off = reg.var_off.with_subreg(reg.var_off.subreg().and_(keep))
